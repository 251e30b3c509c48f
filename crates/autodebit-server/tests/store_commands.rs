//! `autodebit migrate`, `autodebit reencrypt` and `autodebit keys token-key` on a SQLite file.

use assert_cmd::Command;

fn autodebit() -> Command {
    let mut command = Command::cargo_bin("autodebit").expect("binary built");
    command
        .env_remove("AUTODEBIT_DATABASE_URL")
        .env_remove("AUTODEBIT_TOKEN_KEYS");
    command
}

fn run(command: &mut Command) -> (i32, String, String) {
    let out = command.output().expect("ran");
    (
        out.status.code().expect("exit code"),
        String::from_utf8(out.stdout).expect("utf-8"),
        String::from_utf8(out.stderr).expect("utf-8"),
    )
}

#[test]
fn migrate_applies_once_and_reports_the_settings() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("a.db").display());
    let (code, out, err) = run(autodebit().args(["migrate", "--database", &url]));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("applied migrations [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]"),
        "{out}"
    );
    assert!(out.contains("journal_mode=wal, synchronous=full"), "{out}");
    let (code, out, _) = run(autodebit()
        .args(["migrate"])
        .env("AUTODEBIT_DATABASE_URL", &url));
    assert_eq!(code, 0);
    assert!(
        out.contains("up to date: migrations [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]"),
        "{out}"
    );
    // With no database named, the embedded default in the working directory.
    let (code, _, err) = run(autodebit().arg("migrate").current_dir(dir.path()));
    assert_eq!(code, 0, "{err}");
    assert!(dir.path().join("autodebit.db").exists());
}

#[test]
fn migrate_refuses_a_bad_url_with_exit_code_2() {
    let (code, _, err) = run(autodebit().args(["migrate", "--database", "mysql://x/y"]));
    assert_eq!(code, 2);
    assert!(
        err.contains("must start with sqlite: or postgres:"),
        "{err}"
    );
}

#[test]
fn reencrypt_needs_keys_and_reports_what_it_did() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("a.db").display());
    let (code, _, err) = run(autodebit().args(["reencrypt", "--database", &url]));
    assert_eq!(code, 2);
    assert!(
        err.contains("no token keys: set AUTODEBIT_TOKEN_KEYS"),
        "{err}"
    );

    let (code, key, _) = run(autodebit().args(["keys", "token-key", "--key-version", "7"]));
    assert_eq!(code, 0);
    let key = key.trim().to_owned();
    assert!(key.starts_with("7:"), "{key}");
    let (code, out, err) = run(autodebit()
        .args(["reencrypt", "--database", &url])
        .env("AUTODEBIT_TOKEN_KEYS", &key));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("re-encrypted with key version 7: 0 authorizations"),
        "{out}"
    );
    assert!(out.contains("0 rows left on other keys"), "{out}");
    assert!(
        out.contains("0 secondary merchant registrations, 0 inbox entries"),
        "{out}"
    );
    assert!(
        !out.contains(&key[2..]) && !err.contains(&key[2..]),
        "the key is never printed"
    );

    let file = dir.path().join("keys");
    std::fs::write(&file, "7:not-base64!").unwrap();
    let (code, _, err) = run(autodebit().args([
        "reencrypt",
        "--database",
        &url,
        "--token-keys-file",
        file.to_str().unwrap(),
    ]));
    assert_eq!(code, 2);
    assert!(err.contains("entry 1 (version 7) is not base64"), "{err}");
}

#[test]
fn migrate_works_on_postgresql_in_its_own_schema() {
    let Some(url) = std::env::var("AUTODEBIT_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
    else {
        eprintln!("AUTODEBIT_TEST_DATABASE_URL is not set: PostgreSQL not tested");
        return;
    };
    let schema = format!("autodebit_cli_{}", std::process::id());
    let (code, out, err) =
        run(autodebit().args(["migrate", "--database", &url, "--schema", &schema]));
    let (again, out_again, _) =
        run(autodebit().args(["migrate", "--database", &url, "--schema", &schema]));
    let _ = std::process::Command::new("psql")
        .args(["--no-psqlrc", "-q", "--dbname", &url, "-c"])
        .arg(format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .output();
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("applied migrations [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]")
            && out.contains("Postgres"),
        "{out}"
    );
    assert_eq!(again, 0);
    assert!(out_again.contains("up to date"), "{out_again}");
}
