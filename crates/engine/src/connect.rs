//! From the configuration to running parts: a connector per `[[destinations]]` entry, and a
//! [`SyncPlan`] per `[[syncs]]` entry once the destination has the lists and fields it names.

use std::collections::BTreeMap;
use std::sync::Arc;

use paysync_core::config::{DestinationConfig, DestinationKind, SyncConfig};
use paysync_destinations::activecampaign::{ActiveCampaign, ActiveCampaignConfig, DeepDataConfig};
use paysync_destinations::constant_contact::{
    ConstantContact, ConstantContactConfig, MemoryTokenStore, OAuthClientConfig, TokenPair,
    TokenStore,
};
use paysync_destinations::mailchimp::{Mailchimp, MailchimpConfig};
use paysync_destinations::{Destination, DestinationError, FieldSpec, ListId};
use secrecy::SecretString;

use crate::reconcile::SyncPlan;

/// The connector of one destination. Constant Contact keeps its rotating tokens in
/// `token_store`; a refresh token from the configuration seeds an empty store.
/// The connector of a destination. `shared`: the store through which this process shares the
/// destination's request rate and simultaneous connections with other workers (PostgreSQL), if
/// it does.
pub async fn connector(
    cfg: &DestinationConfig,
    token_store: Arc<dyn TokenStore>,
    shared: Option<Arc<dyn paysync_store::Store>>,
) -> Result<Arc<dyn Destination>, DestinationError> {
    build(cfg, token_store, |http| {
        if let Some(store) = &shared
            && (http.requests_per_second > 0 || http.max_concurrency > 0)
        {
            http.shared = Some(Arc::new(crate::shared_limits::StoreLimits::new(
                store.clone(),
                &cfg.name,
                http.requests_per_second,
                http.max_concurrency,
                http.timeout,
            )));
        }
    })
    .await
}

/// How long a credentials check may take.
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Checks that the destination answers and takes the credentials (it lists its lists), at once:
/// no retries, a short timeout, so that someone entering them waits seconds, not minutes.
pub async fn probe(cfg: &DestinationConfig) -> Result<(), DestinationError> {
    let quick = |http: &mut paysync_destinations::http::HttpSettings| {
        http.retry.max_retries = 0;
        http.timeout = PROBE_TIMEOUT;
    };
    let connector = build(cfg, Arc::new(MemoryTokenStore::new(None)), quick).await?;
    connector.lists().await.map(drop)
}

/// `tune` adjusts the connector's HTTP settings after the configuration's.
async fn build(
    cfg: &DestinationConfig,
    token_store: Arc<dyn TokenStore>,
    tune: impl Fn(&mut paysync_destinations::http::HttpSettings),
) -> Result<Arc<dyn Destination>, DestinationError> {
    let connector: Arc<dyn Destination> = match &cfg.kind {
        DestinationKind::ConstantContact {
            api_base,
            authorize_url,
            token_url,
            client_id,
            client_secret,
            redirect_uri,
            refresh_token,
            default_list,
        } => {
            if let Some(refresh) = refresh_token
                && token_store.load().await?.is_none()
            {
                // An access token that is already expired: the first call refreshes it.
                token_store
                    .save(&TokenPair {
                        access_token: SecretString::from(String::new()),
                        refresh_token: refresh.clone(),
                        expires_at_ms: 0,
                    })
                    .await?;
            }
            let oauth =
                OAuthClientConfig::new(client_id, client_secret.clone(), redirect_uri.clone())
                    .with_urls(authorize_url.as_deref(), token_url.as_deref());
            let mut c = ConstantContactConfig::new(oauth, token_store);
            c.http.metrics_label = cfg.name.clone();
            if let Some(base) = api_base {
                c.api_base = base.clone();
            }
            if let Some(name) = default_list {
                // The connector takes the list's id; a first connector (sharing the token
                // store) finds or creates it.
                let probe = ConstantContact::new(c.clone())?;
                let list = probe.ensure_lists(std::slice::from_ref(name)).await?;
                c.default_list = list.into_iter().next().map(|l| l.id);
            }
            if let Some(rate) = cfg.rate_limit_per_sec {
                c.http.requests_per_second = rate;
            }
            tune(&mut c.http);
            Arc::new(ConstantContact::new(c)?)
        }
        DestinationKind::ActiveCampaign {
            api_url,
            api_token,
            deep_data,
        } => {
            let mut c = ActiveCampaignConfig::new(api_url.clone(), api_token.clone());
            c.http.metrics_label = cfg.name.clone();
            if *deep_data {
                c.deep_data = Some(DeepDataConfig {
                    service: "paysync".into(),
                    externalid: cfg.name.clone(),
                    name: "Stripe (paysync)".into(),
                    logo_url: "https://stripe.com/favicon.ico".into(),
                    link_url: "https://dashboard.stripe.com".into(),
                });
            }
            if let Some(rate) = cfg.rate_limit_per_sec {
                c.http.requests_per_second = rate;
            }
            tune(&mut c.http);
            Arc::new(ActiveCampaign::new(c)?)
        }
        DestinationKind::Mailchimp {
            api_key,
            list_id,
            api_base,
        } => {
            let mut c = MailchimpConfig::new(api_key.clone(), ListId(list_id.clone()));
            c.http.metrics_label = cfg.name.clone();
            c.api_base = api_base.clone();
            if let Some(rate) = cfg.rate_limit_per_sec {
                c.http.requests_per_second = rate;
            }
            tune(&mut c.http);
            Arc::new(Mailchimp::new(c)?)
        }
    };
    Ok(connector)
}

/// Makes sure the destination has the sync's lists and custom fields (creating what is missing
/// where the vendor allows it) and returns the plan with the lists' ids.
pub async fn prepare(
    sync: &SyncConfig,
    connector: &dyn Destination,
) -> Result<SyncPlan, DestinationError> {
    let names: Vec<String> = sync.rules.list_names().into_iter().collect();
    let lists = if names.is_empty() {
        BTreeMap::new()
    } else {
        connector
            .ensure_lists(&names)
            .await?
            .into_iter()
            .map(|l| (l.name, l.id))
            .collect()
    };
    let fields: Vec<FieldSpec> = sync
        .rules
        .field_keys()
        .into_iter()
        .map(|key| FieldSpec {
            label: key.clone(),
            key,
        })
        .collect();
    if !fields.is_empty() {
        connector.ensure_fields(&fields).await?;
    }
    Ok(SyncPlan {
        config: sync.clone(),
        lists,
    })
}

/// The cursor where `serve` records a sync's list ids.
pub fn lists_cursor(sync: &str) -> String {
    format!("sync.{sync}.lists")
}

/// A sync's plan without contacting its destination: the list ids `serve` recorded; a list the
/// destination does not have yet stands for itself, as `new:<name>`.
pub async fn offline_plan(
    store: &dyn paysync_store::Store,
    sync: &SyncConfig,
) -> Result<SyncPlan, paysync_store::StoreError> {
    let known: BTreeMap<String, ListId> = store
        .cursor(&sync.account, &lists_cursor(&sync.name))
        .await?
        .and_then(|c| serde_json::from_str(&c.value).ok())
        .unwrap_or_default();
    let lists = sync
        .rules
        .list_names()
        .into_iter()
        .map(|name| {
            let id = known
                .get(&name)
                .cloned()
                .unwrap_or_else(|| ListId(format!("new:{name}")));
            (name, id)
        })
        .collect();
    Ok(SyncPlan {
        config: sync.clone(),
        lists,
    })
}
