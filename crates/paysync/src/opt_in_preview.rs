//! `paysync opt-in-preview --sync S [--email E]`: the opt-in email exactly as a person would get
//! it (headers and body, with a working confirmation link), without sending anything.

use anyhow::{Context, bail};
use paysync_core::config::Config;
use paysync_core::object::normalise_email;
use paysync_engine::opt_in::{LinkKey, claims_for, confirm_url, message};

use crate::load;

#[derive(clap::Args)]
pub struct Args {
    /// The sync whose opt-in email to show.
    #[arg(long)]
    sync: String,
    /// Whose (their name comes from Stripe); a sample person when absent.
    #[arg(long)]
    email: Option<String>,
}

pub async fn run(config: Config, args: Args) -> anyhow::Result<()> {
    let Some(sync) = config.syncs.iter().find(|s| s.name == args.sync) else {
        bail!("no sync is named {:?}", args.sync);
    };
    let Some(opt_in) = &sync.opt_in else {
        bail!(
            "sync {:?} sends no opt-in email (no [syncs.opt_in])",
            sync.name
        );
    };
    let (public_url, secret) = (
        config
            .server
            .public_url
            .as_deref()
            .context("server.public_url is not set")?,
        config
            .secret_key
            .as_ref()
            .context("PAYSYNC_MASTER_KEY is not set")?,
    );
    let (email, name) = match &args.email {
        None => (
            "ann.example@example.com".to_owned(),
            Some("Ann Example".to_owned()),
        ),
        Some(raw) => {
            let email =
                normalise_email(raw).with_context(|| format!("{raw:?} is not an email address"))?;
            let store = load::open_store(&config).await?;
            let person = store
                .person(&sync.account, &format!("email:{email}"))
                .await?;
            let name = paysync_engine::reconcile::profile_of(&person).identity.name;
            (email, name)
        }
    };
    let claims = claims_for(sync, opt_in, &email, paysync_engine::now_ms());
    let url = confirm_url(public_url, &LinkKey::derive(secret), &claims);
    let message = message(opt_in, &email, name.as_deref(), &url)?;
    print!("{}", String::from_utf8_lossy(&message.formatted()));
    println!();
    Ok(())
}
