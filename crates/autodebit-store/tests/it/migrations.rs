//! Migrations and connection settings.

use autodebit_store::{Keyring, OpenError, SqlStore, StoreOptions};

use crate::support::*;

#[tokio::test]
async fn migrations_apply_once_and_settings_are_explicit() {
    for db in backends().await {
        let name = db.name();
        assert!(
            db.store.migrate().await.unwrap().is_empty(),
            "{name}: already applied on open"
        );
        let d = db.store.diagnostics().await.unwrap();
        assert_eq!(d.migrations, vec![1], "{name}");
        match db.name() {
            "sqlite" => {
                assert_eq!(d.journal_mode.as_deref(), Some("wal"));
                assert_eq!(d.synchronous.as_deref(), Some("full"));
                assert_eq!(d.integrity.as_deref(), Some("ok"));
            }
            _ => assert!(d.server_version.is_some()),
        }
        // Opening again (another replica, a restart) changes nothing.
        let again = db.reopen(&db.keys).await;
        assert!(again.migrate().await.unwrap().is_empty());
        again.close().await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn without_migrations_an_unmigrated_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("new.db").display());
    let keys = || Keyring::parse(&Keyring::generate_entry(1).unwrap()).unwrap();
    let err = SqlStore::open(StoreOptions::new(url.clone()).migrate(false), keys())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, OpenError::Migrate(m) if m.contains("autodebit migrate")),
        "{err}"
    );
    let store = SqlStore::open(StoreOptions::new(url.clone()), keys())
        .await
        .unwrap();
    store.close().await;
    SqlStore::open(StoreOptions::new(url).migrate(false), keys())
        .await
        .expect("a migrated database opens without migrating");
}

#[tokio::test]
async fn bad_urls_say_what_is_wrong() {
    let keys = || Keyring::parse(&Keyring::generate_entry(1).unwrap()).unwrap();
    let err = SqlStore::open(StoreOptions::new("mysql://x"), keys())
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("must start with sqlite: or postgres:"),
        "{err}"
    );
    let err = SqlStore::open(
        StoreOptions::new("postgres://u:hunter2@127.0.0.1:5432/x").schema("no-dashes; drop"),
        keys(),
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string().contains("letters, digits and underscores"),
        "{err}"
    );
    let err = SqlStore::open(StoreOptions::new("sqlite::memory:"), keys())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("name a file"), "{err}");
    let options = StoreOptions::new("postgres://u:hunter2@127.0.0.1:5432/x");
    assert!(!format!("{options:?}").contains("hunter2"));
}
