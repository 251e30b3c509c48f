//! Tokens at rest: no plaintext in a dump, ciphertexts bound to their row, key rotation.

use ams_protocol::AccessToken;
use autodebit_domain::model::{AttemptId, AuthorizationId, Body, InboxEntry};
use autodebit_domain::ports::{Store, StoreError};
use autodebit_store::Keyring;

use crate::support::*;

/// Distinctive secrets, so a dump search cannot match anything else.
const ACCESS: &str = "ACCESSTOKEN7f3a9c2e5b";
const CODE: &str = "AUTHCODE1e8d4b6a0f";
const STRAY: &str = "STRAYTOKEN5c1b7e9d3a";
const RETIRED: &str = "RETIREDTOKEN0a2f6c8e4d";

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

const HOOK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// A buyer's certificate number in a `declare` body (personal data, sealed like a token).
const CERTIFICATE: &str = "110101199001011234";
/// A secondary merchant's registration number in a `registration` body (sealed like a token).
const REGISTRATION_NO: &str = "REGNO91310000MA1FL8XQ3K";

async fn store_secrets(store: &autodebit_store::SqlStore) {
    let mut auth = authorization("auth-1", ACCESS);
    auth.pending_auth_code = Some(ams_protocol::AuthCode::new(CODE));
    auth.stray_token = Some(AccessToken::new(STRAY));
    let mut tx = store.begin().await.unwrap();
    tx.insert_authorization(&auth).await.unwrap();
    tx.retire_access_token(&auth.id, &AccessToken::new(RETIRED))
        .await
        .unwrap();
    tx.insert_order(&order("order-1", "auth-1")).await.unwrap();
    tx.insert_attempt(&attempt("attempt-1", "order-1", "prid-1", ACCESS))
        .await
        .unwrap();
    tx.insert_refund(&refund("refund-1", "order-1", "rrid-1"))
        .await
        .unwrap();
    tx.inbox_insert(&InboxEntry {
        dedup_key: "notifyAuthorization:AUTHCODE_CREATED:state-auth-1".into(),
        path: "/alipay/notify/authorization".into(),
        headers: vec![],
        body: Body::new(format!(
            r#"{{"authCode":"{CODE}","accessToken":"{ACCESS}"}}"#
        )),
        received_at: T0,
    })
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn a_dump_holds_no_plaintext_token() {
    for db in backends().await {
        let name = db.name();
        store_secrets(&db.store).await;
        let dump = db.dump().await;
        assert!(
            contains(&dump, "prid-1"),
            "{name}: the dump is readable (sanity)"
        );
        for secret in [ACCESS, CODE, STRAY, RETIRED, &format!("refresh-{ACCESS}")] {
            assert!(!contains(&dump, secret), "{name}: {secret} in the dump");
        }
        // And the store still reads them back (the retired token: finds its authorization).
        let mut tx = db.store.begin().await.unwrap();
        let auth = tx
            .authorization_by_access_token(&AccessToken::new(ACCESS))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(auth.pending_auth_code.unwrap().expose_secret(), CODE);
        assert_eq!(auth.stray_token.unwrap().expose_secret(), STRAY);
        let retired = tx
            .authorization_by_access_token(&AccessToken::new(RETIRED))
            .await
            .unwrap();
        assert_eq!(retired.map(|a| a.id), Some(AuthorizationId::new("auth-1")));
        let attempt = tx
            .attempt(&AttemptId::new("attempt-1"))
            .await
            .unwrap()
            .unwrap();
        assert!(attempt.request_body.expose().contains(ACCESS));
        drop(tx);
        assert!(
            db.store.inbox().await.unwrap()[0]
                .body
                .expose()
                .contains(CODE)
        );
        db.cleanup().await;
    }
}

#[tokio::test]
async fn a_ciphertext_moved_to_another_row_does_not_decrypt() {
    for db in backends().await {
        let name = db.name();
        store_secrets(&db.store).await;
        let mut tx = db.store.begin().await.unwrap();
        tx.insert_authorization(&authorization("auth-2", "OTHERTOKEN"))
            .await
            .unwrap();
        tx.insert_authorization(&authorization("auth-3", "THIRDTOKEN"))
            .await
            .unwrap();
        tx.commit().await.unwrap();
        // Someone with write access to the database copies auth-1's token onto auth-2, and its
        // access token into auth-3's stray token column.
        db.raw_sql(
            "UPDATE authorizations SET access_token = \
             (SELECT access_token FROM authorizations WHERE id = 'auth-1') WHERE id = 'auth-2'; \
             UPDATE authorizations SET stray_token = \
             (SELECT access_token FROM authorizations WHERE id = 'auth-1') WHERE id = 'auth-3'",
        );
        let mut tx = db.store.begin().await.unwrap();
        let err = tx
            .authorization(&AuthorizationId::new("auth-2"))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::Corrupt(m) if m.contains("authorizations.access_token of auth-2")),
            "{name}: {err}"
        );
        assert!(!err.to_string().contains(ACCESS));
        let err = tx
            .authorization(&AuthorizationId::new("auth-3"))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::Corrupt(m) if m.contains("authorizations.stray_token of auth-3")),
            "{name}: {err}"
        );
        // The row it came from is untouched.
        assert!(
            tx.authorization(&AuthorizationId::new("auth-1"))
                .await
                .unwrap()
                .is_some()
        );
        drop(tx);
        db.cleanup().await;
    }
}

#[tokio::test]
async fn keys_rotate_and_old_rows_are_re_encrypted() {
    for db in backends().await {
        let name = db.name();
        store_secrets(&db.store).await;
        // A webhook endpoint's signing secret and a kept API answer that shows it, both sealed.
        let endpoint = autodebit_store::EndpointRecord {
            id: "we_1".into(),
            url: "https://hooks.example/a".into(),
            description: String::new(),
            source: autodebit_store::EndpointSource::Api,
            secrets: vec![autodebit_store::StoredSecret {
                secret: HOOK_SECRET.into(),
                expires_at: None,
            }],
            state: autodebit_store::EndpointState::Enabled,
            disabled_reason: None,
            failing_since: None,
            created_at: 1,
            updated_at: 1,
        };
        db.store.create_endpoint(&endpoint).await.unwrap();
        // A customs declaration, whose body holds the buyer's certificate number.
        let declaration = autodebit_domain::model::Declaration {
            id: autodebit_domain::model::DeclarationId::new("cd_1"),
            order_id: autodebit_domain::model::OrderId::new("order-1"),
            declaration_request_id: autodebit_domain::model::DeclarationRequestId::new("D1"),
            request_body: Body::new(format!(
                r#"{{"buyerCertificate":{{"certificateNo":"{CERTIFICATE}"}}}}"#
            )),
            amount: ams_protocol::Amount::new(ams_protocol::Currency::USD, 100),
            customs_code: "ZONGSHU".into(),
            state: autodebit_domain::lifecycle::declaration::DeclarationState::Requested,
            result_code: None,
            result_message: None,
            accepted: None,
            record: None,
            sends: 0,
            inquiries: 0,
            last_sent_at: None,
            round_started_at: 1,
            version: 0,
            created_at: 1,
            updated_at: 1,
        };
        let mut tx = db.store.begin().await.unwrap();
        tx.insert_declaration(&declaration).await.unwrap();
        tx.commit().await.unwrap();
        assert!(
            !db.raw_sql("SELECT request_body FROM customs_declarations")
                .contains(CERTIFICATE),
            "{name}: the declare body is sealed at rest"
        );
        // A secondary merchant's registration, whose body holds its registration number.
        let registration = autodebit_domain::model::Registration {
            id: autodebit_domain::model::RegistrationId::new("smr_1"),
            reference_merchant_id: "shop_1".into(),
            registration_request_id: autodebit_domain::model::RegistrationRequestId::new("R1"),
            request_body: Body::new(format!(
                r#"{{"merchantInfo":{{"registrationDetail":{{"registrationNo":"{REGISTRATION_NO}"}}}}}}"#
            )),
            state: autodebit_domain::lifecycle::registration::RegistrationState::Requested,
            result_code: None,
            result_message: None,
            review: None,
            wallets: Vec::new(),
            sends: 0,
            inquiries: 0,
            round_started_at: 1,
            version: 0,
            created_at: 1,
            updated_at: 1,
        };
        let mut tx = db.store.begin().await.unwrap();
        tx.insert_registration(&registration).await.unwrap();
        tx.commit().await.unwrap();
        assert!(
            !db.raw_sql("SELECT request_body FROM secondary_merchant_registrations")
                .contains(REGISTRATION_NO),
            "{name}: the registration body is sealed at rest"
        );
        db.store
            .begin_api_request("k-1", "fp", 1, 1_000)
            .await
            .unwrap();
        let answer = format!(r#"{{"secret":"{HOOK_SECRET}"}}"#);
        assert!(
            db.store
                .finish_api_request("k-1", "fp", 201, &answer)
                .await
                .unwrap()
        );
        assert!(
            !db.raw_sql(
                "SELECT secrets FROM webhook_endpoints UNION ALL SELECT body FROM api_requests"
            )
            .contains(HOOK_SECRET),
            "{name}: sealed at rest"
        );
        let old = db.keys.clone();
        let new = Keyring::generate_entry(2).unwrap();
        // The ciphertexts as stored under the old key.
        let sealed_before: Vec<String> = db
            .raw_sql(
                "SELECT access_token FROM authorizations UNION ALL \
                 SELECT refresh_token FROM authorizations UNION ALL \
                 SELECT pending_auth_code FROM authorizations UNION ALL \
                 SELECT stray_token FROM authorizations UNION ALL \
                 SELECT request_body FROM payment_attempts UNION ALL SELECT body FROM inbox \
                 UNION ALL SELECT request_body FROM customs_declarations \
                 UNION ALL SELECT request_body FROM secondary_merchant_registrations",
            )
            .lines()
            .map(str::to_owned)
            .collect();
        assert_eq!(sealed_before.len(), 8, "{name}: {sealed_before:?}");
        assert!(sealed_before.iter().all(|c| c.starts_with("v1.")));
        let rotated = db.reopen(&format!("{new},{old}")).await;
        assert_eq!(rotated.rows_on_old_keys().await.unwrap(), 8, "{name}");

        // Before re-encryption: old rows read, and the token lookup finds them by the old index.
        let mut tx = rotated.begin().await.unwrap();
        for token in [ACCESS, RETIRED] {
            assert!(
                tx.authorization_by_access_token(&AccessToken::new(token))
                    .await
                    .unwrap()
                    .is_some(),
                "{name}: {token}"
            );
        }
        // A new row is written with the new key.
        tx.insert_authorization(&authorization("auth-2", "NEWTOKEN"))
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(rotated.rows_on_old_keys().await.unwrap(), 8);

        let done = rotated.reencrypt(2).await.unwrap();
        assert_eq!(
            (
                done.authorizations,
                done.attempts,
                done.refunds,
                done.declarations,
                done.registrations,
                done.inbox,
                done.webhook_endpoints,
                done.api_requests
            ),
            (1, 1, 1, 1, 1, 1, 1, 1),
            "{name}"
        );
        assert_eq!(rotated.rows_on_old_keys().await.unwrap(), 0, "{name}");
        assert_eq!(
            rotated.reencrypt(2).await.unwrap().total(),
            0,
            "nothing left"
        );
        if name == "sqlite" {
            // Rebuilt and checkpointed: the old ciphertexts are gone from the files, so a leaked
            // old key opens nothing in a later copy of them.
            let dump = db.dump().await;
            for sealed in &sealed_before {
                let body = sealed.split_once('.').unwrap().1;
                assert!(
                    !contains(&dump, body),
                    "sqlite: an old ciphertext is still on disk"
                );
            }
        }

        // The old key can go: everything reads with the new one alone.
        let only_new = db.reopen(&new).await;
        let mut tx = only_new.begin().await.unwrap();
        let auth = tx
            .authorization_by_access_token(&AccessToken::new(ACCESS))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(auth.pending_auth_code.unwrap().expose_secret(), CODE);
        assert_eq!(auth.stray_token.unwrap().expose_secret(), STRAY);
        assert!(
            tx.attempt(&AttemptId::new("attempt-1"))
                .await
                .unwrap()
                .unwrap()
                .request_body
                .expose()
                .contains(ACCESS)
        );
        // A retired token is only its blind index under the key of its day: with that key gone
        // it names nothing any more (documented in `reencrypt`).
        assert_eq!(
            tx.authorization_by_access_token(&AccessToken::new(RETIRED))
                .await
                .unwrap(),
            None,
            "{name}"
        );
        assert!(
            tx.declaration(&autodebit_domain::model::DeclarationId::new("cd_1"))
                .await
                .unwrap()
                .unwrap()
                .request_body
                .expose()
                .contains(CERTIFICATE),
            "{name}: the declaration reads with the new key alone"
        );
        assert!(
            tx.registration(&autodebit_domain::model::RegistrationId::new("smr_1"))
                .await
                .unwrap()
                .unwrap()
                .request_body
                .expose()
                .contains(REGISTRATION_NO),
            "{name}: the registration reads with the new key alone"
        );
        drop(tx);
        assert_eq!(only_new.inbox().await.unwrap().len(), 1);
        let kept = only_new.endpoint("we_1").await.unwrap().unwrap();
        assert_eq!(kept.secrets[0].secret, HOOK_SECRET, "{name}");
        assert!(
            !format!("{kept:?}").contains(HOOK_SECRET),
            "Debug hides the secret"
        );
        match only_new
            .begin_api_request("k-1", "fp", 2, 1_000)
            .await
            .unwrap()
        {
            autodebit_store::ApiRequestStart::Replay { status, body } => {
                assert_eq!((status, body), (201, answer.clone()), "{name}");
            }
            other => panic!("{name}: {other:?}"),
        }
        // Without the key a row was sealed with, reading it is an error naming the version.
        let stranger = db.reopen(&Keyring::generate_entry(3).unwrap()).await;
        let mut tx = stranger.begin().await.unwrap();
        let err = tx
            .authorization(&AuthorizationId::new("auth-1"))
            .await
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("key version 2, which is not configured"),
            "{err}"
        );
        drop(tx);
        for s in [rotated, only_new, stranger] {
            s.close().await;
        }
        db.cleanup().await;
    }
}
