//! Merchants' agent tokens (Alipay's ISV authorization notification): sealed at rest, the newest
//! authorisation kept whatever the order of arrival, one per merchant, re-encrypted on rotation.

use ams_protocol::AgentToken;
use autodebit_store::{AgentTokenRecord, Keyring};

use crate::support::{T0, backends};

const TOKEN_A: &str = "AGENTaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const TOKEN_B: &str = "AGENTbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

fn record(token: &str, auth_time: i64) -> AgentTokenRecord {
    AgentTokenRecord {
        auth_client_id: "SANDBOX_AUTH_1".into(),
        token: AgentToken::new(token),
        auth_time,
        expires_at: None,
        received_at: T0 + 5,
    }
}

#[tokio::test]
async fn an_agent_token_is_sealed_at_rest_and_reads_back() {
    for db in backends().await {
        let name = db.name();
        assert_eq!(db.store.agent_token().await.unwrap(), None, "{name}");
        let mut kept = record(TOKEN_A, T0);
        kept.expires_at = Some("2030-01-01T00:00:00Z".into());
        assert!(db.store.record_agent_token(&kept).await.unwrap(), "{name}");
        assert_eq!(
            db.store.agent_token().await.unwrap().as_ref(),
            Some(&kept),
            "{name}"
        );
        let raw = db.raw_sql("SELECT token FROM agent_tokens");
        assert!(!raw.contains(TOKEN_A), "{name}: the token is sealed: {raw}");
        assert!(raw.starts_with("v1."), "{name}: {raw}");
        assert!(
            !format!("{:?}", db.store.agent_token().await.unwrap()).contains(TOKEN_A),
            "{name}: Debug redacts the token"
        );
        // Sealed to its row: moved to another merchant's row, it does not open.
        let other = db.store.for_merchant("other").unwrap();
        db.raw_sql(&format!(
            "INSERT INTO agent_tokens (merchant_id, auth_client_id, token, key_version, \
             auth_time, expires_at, received_at) VALUES ('other', 'X', '{}', 1, 1, NULL, 1)",
            raw.trim()
        ));
        assert!(other.agent_token().await.is_err(), "{name}");
        db.cleanup().await;
    }
}

#[tokio::test]
async fn an_older_authorisation_arriving_late_does_not_replace_the_newer() {
    for db in backends().await {
        let name = db.name();
        assert!(
            db.store
                .record_agent_token(&record(TOKEN_B, T0 + 1_000))
                .await
                .unwrap()
        );
        // The first authorisation's notification, retried, arrives after the second's.
        assert!(
            !db.store
                .record_agent_token(&record(TOKEN_A, T0))
                .await
                .unwrap(),
            "{name}: not replaced"
        );
        let kept = db.store.agent_token().await.unwrap().unwrap();
        assert_eq!(kept.token.expose_secret(), TOKEN_B, "{name}");
        assert_eq!(kept.auth_time, T0 + 1_000, "{name}");
        // The same notification again (equal authTime) replaces it with itself.
        assert!(
            db.store
                .record_agent_token(&record(TOKEN_B, T0 + 1_000))
                .await
                .unwrap(),
            "{name}"
        );
        // A newer one replaces it.
        assert!(
            db.store
                .record_agent_token(&record(TOKEN_A, T0 + 2_000))
                .await
                .unwrap()
        );
        assert_eq!(
            db.store
                .agent_token()
                .await
                .unwrap()
                .unwrap()
                .token
                .expose_secret(),
            TOKEN_A,
            "{name}"
        );
        // One row per merchant: another merchant has none.
        let other = db.store.for_merchant("other").unwrap();
        assert_eq!(other.agent_token().await.unwrap(), None, "{name}");
        db.cleanup().await;
    }
}

#[tokio::test]
async fn agent_tokens_are_re_encrypted_with_the_current_key() {
    for db in backends().await {
        let name = db.name();
        db.store
            .record_agent_token(&record(TOKEN_A, T0))
            .await
            .unwrap();
        let before = db.raw_sql("SELECT token FROM agent_tokens");
        let new = Keyring::generate_entry(2).unwrap();
        let rotated = db.reopen(&format!("{new},{}", db.keys)).await;
        assert_eq!(rotated.rows_on_old_keys().await.unwrap(), 1, "{name}");
        let done = rotated.reencrypt(10).await.unwrap();
        assert_eq!((done.agent_tokens, done.total()), (1, 1), "{name}");
        assert_eq!(rotated.rows_on_old_keys().await.unwrap(), 0, "{name}");
        let after = db.raw_sql("SELECT token FROM agent_tokens");
        assert!(
            after.starts_with("v2.") && after != before,
            "{name}: {after}"
        );
        let only_new = db.reopen(&new).await;
        assert_eq!(
            only_new
                .agent_token()
                .await
                .unwrap()
                .unwrap()
                .token
                .expose_secret(),
            TOKEN_A,
            "{name}"
        );
        db.cleanup().await;
    }
}
