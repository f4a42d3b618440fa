//! Constant Contact's rotating refresh token kept, encrypted, in the store: it survives a restart,
//! and the database never holds it in clear text.

use std::sync::Arc;

use paysync_core::config::{DestinationConfig, DestinationKind};
use paysync_emulators::constant_contact::{ConstantContactConfig, serve_constant_contact};
use paysync_engine::connect::connector;
use paysync_engine::token_store::StoredTokens;
use paysync_store::{SecretKey, SqliteStore, Store};
use secrecy::{ExposeSecret, SecretString};

const KEY: &str = "8f3c0d2a9b7e6f5a4c3b2a1908f7e6d5c4b3a29180f7e6d5c4b3a2918070605a";

async fn open(path: &std::path::Path, key: &str) -> Arc<dyn Store> {
    let store = SqliteStore::open(path, 1_000).await.expect("store");
    Arc::new(store.with_secret_key(SecretKey::from_hex(key).expect("key")))
}

#[tokio::test]
async fn a_rotated_refresh_token_survives_a_restart_sealed() {
    let emu = serve_constant_contact(ConstantContactConfig::default())
        .await
        .expect("emulator");
    let seed = emu.emulator.issue_token();
    let seed_refresh = seed.refresh_token.clone().expect("refresh token");
    let cfg = DestinationConfig {
        name: "cc".into(),
        kind: DestinationKind::ConstantContact {
            api_base: Some(format!("{}/v3", emu.url())),
            authorize_url: Some(format!("{}/oauth2/default/v1/authorize", emu.url())),
            token_url: Some(format!("{}/oauth2/default/v1/token", emu.url())),
            client_id: "paysync-cc-client".into(),
            client_secret: Some(SecretString::from("paysync-cc-secret".to_owned())),
            redirect_uri: "http://127.0.0.1/callback".into(),
            refresh_token: Some(SecretString::from(seed_refresh.clone())),
            default_list: None,
        },
        rate_limit_per_sec: None,
        webhook_secret: None,
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("paysync.db");

    // First run: the configured refresh token seeds the store; the first call rotates it.
    let store = open(&db, KEY).await;
    let first = connector(&cfg, Arc::new(StoredTokens::new(store.clone(), "cc")), None)
        .await
        .expect("connector");
    first.lists().await.expect("lists with the seeded token");
    let rotated = store
        .get_secret("destination.cc.oauth")
        .await
        .expect("read")
        .expect("a stored pair");
    assert!(
        !rotated.expose_secret().contains(&seed_refresh),
        "the stored pair is the rotated one"
    );
    drop((first, store));

    // Second run: the configured (now spent) token is ignored; the kept one works.
    let store = open(&db, KEY).await;
    let second = connector(&cfg, Arc::new(StoredTokens::new(store.clone(), "cc")), None)
        .await
        .expect("connector after restart");
    second.lists().await.expect("lists with the kept token");
    drop((second, store));

    // The database file holds neither token in clear text.
    let bytes = std::fs::read(&db).expect("database file");
    let kept: serde_json::Value =
        serde_json::from_str(rotated.expose_secret()).expect("sealed json");
    for secret in [
        seed_refresh.as_str(),
        kept["refresh_token"].as_str().expect("refresh"),
        kept["access_token"].as_str().expect("access"),
    ] {
        assert!(!secret.is_empty());
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "a token is in the database in clear text"
        );
    }

    // Another key cannot read the pair, and says so without revealing it; forgetting it (as
    // `paysync demo` does for a fresh emulator) needs no key.
    let wrong = open(&db, &KEY.replace('8', "9")).await;
    let err = wrong
        .get_secret("destination.cc.oauth")
        .await
        .expect_err("the wrong key is refused")
        .to_string();
    assert!(err.contains("does not decrypt"), "{err}");
    StoredTokens::new(wrong.clone(), "cc")
        .forget()
        .await
        .expect("forget");
    assert!(
        wrong
            .get_secret("destination.cc.oauth")
            .await
            .expect("read")
            .is_none()
    );
}
