//! Master keys in a PKCS#11 token (the test run's SoftHSM2): the objects as an
//! independent client (OpenSC's pkcs11-tool) sees them, no master key material at
//! rest or in the logs, a migration from the key file to the token (and back) while
//! requests are served, the data key cache across instances, and clear errors when
//! the token cannot be used.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use base64::Engine as _;
use piivault::config::MasterKeyProvider;
use piivault::crypto::{CryptoError, MasterKeyRing, SecretKey, WrappedDataKey};
use piivault::db::data_keys;
use piivault::keys::token::PIN_ENV;
use piivault::vault::key_jobs::{JobOptions, VersionUse};
use serde_json::json;
use uuid::Uuid;

use crate::support::softhsm::{self, TOKEN_LABEL};
use crate::support::{
    new_user_payload, piivault, postgres, unique_email, wait_for, Backend, Provider, Setup, TestApp,
};

const PKCS11_POSTGRES: Setup = Setup {
    backend: Backend::Postgres,
    provider: Provider::Pkcs11,
};

fn label_prefix(app: &TestApp) -> String {
    app.master_keys
        .pkcs11
        .as_ref()
        .unwrap()
        .label_prefix
        .clone()
}

/// `(version, held by, rows)` of every master key version.
fn master_versions(app: &TestApp) -> Vec<(u32, Option<MasterKeyProvider>, i64)> {
    app.vault
        .key_status()
        .unwrap()
        .master
        .iter()
        .map(
            |VersionUse {
                 version,
                 held_by,
                 rows,
                 ..
             }| (*version, *held_by, *rows),
        )
        .collect()
}

/// The paragraph pkcs11-tool prints for the object labelled `label`, if any.
fn object_listing(listing: &str, label: &str) -> Option<String> {
    listing
        .split("\n\n")
        .chain(listing.split("Secret Key Object"))
        .find(|block| {
            block
                .lines()
                .any(|line| line.trim() == format!("label:      {label}"))
        })
        .map(str::to_owned)
}

#[test]
fn master_keys_are_sensitive_never_extractable_objects_of_the_token() {
    let app = TestApp::spawn(PKCS11_POSTGRES);
    let id = app.register(&new_user_payload(&unique_email()));
    assert_eq!(app.vault.rotate_master().unwrap(), 2);
    let prefix = label_prefix(&app);
    assert!(
        !app.keys_dir.join("master-keys").exists(),
        "no master-keys file with the pkcs11 provider"
    );

    let listing = softhsm::token().list_objects();
    for version in [1, 2] {
        let label = format!("{prefix}-master-v{version}");
        let object = object_listing(&listing, &label)
            .unwrap_or_else(|| panic!("{label} not listed:\n{listing}"));
        assert!(object.contains("AES length 32"), "{object}");
        assert!(object.contains("Usage:      encrypt, decrypt"), "{object}");
        let access = object
            .lines()
            .find(|line| line.trim().starts_with("Access:"))
            .unwrap_or_else(|| panic!("no access line: {object}"));
        for wanted in ["sensitive", "always sensitive", "never extractable"] {
            assert!(access.contains(wanted), "{label}: {access}");
        }
        assert!(
            !access
                .replace("never extractable", "")
                .contains("extractable"),
            "{label}: {access}"
        );
        // Asking the token for the key's value is refused.
        let read = std::process::Command::new("pkcs11-tool")
            .arg("--module")
            .arg(&softhsm::token().module)
            .args([
                "--token-label",
                TOKEN_LABEL,
                "--login",
                "--pin",
                softhsm::PIN,
            ])
            .args(["--read-object", "--type", "secrkey", "--label", &label])
            .output()
            .unwrap();
        assert!(
            !read.status.success() || read.stdout.is_empty(),
            "{label} was read out of the token"
        );
    }
    // The service still opens what it wrapped under v1 and writes under v2.
    assert_eq!(app.get(&format!("/users/{id}")).status, 200);
    app.wait_for_key_reload();
    let newer = app.register(&new_user_payload(&unique_email()));
    let wrapped = data_keys::find(&mut app.key_connection(), newer.into())
        .unwrap()
        .unwrap();
    let wrapped = WrappedDataKey::from_bytes(wrapped);
    assert_eq!(wrapped.kek_version().unwrap(), 2);
    // A key bound to another user, or tampered with, is refused by the token as
    // unauthentic (a 500), not as a token that is unavailable (a 503).
    let keys = app.fresh_keys();
    assert_eq!(
        keys.master.unwrap(Uuid::new_v4(), &wrapped).unwrap_err(),
        CryptoError::Unauthentic
    );
    let mut tampered = wrapped.as_bytes().to_vec();
    *tampered.last_mut().unwrap() ^= 1;
    assert_eq!(
        keys.master
            .unwrap(newer, &WrappedDataKey::from_bytes(tampered))
            .unwrap_err(),
        CryptoError::Unauthentic
    );
    keys.master.unwrap(newer, &wrapped).unwrap();
}

/// Every 32-byte window of `blob`, and of every base64 or hex run in it decoded, as a
/// candidate master key.
fn candidate_keys(blob: &[u8]) -> Vec<[u8; 32]> {
    let mut decoded = vec![blob.to_vec()];
    let text = String::from_utf8_lossy(blob);
    for run in text.split(|c: char| !(c.is_ascii_alphanumeric() || "+/=-_".contains(c))) {
        let run = run.trim_end_matches('=');
        for engine in [
            base64::engine::general_purpose::STANDARD_NO_PAD,
            base64::engine::general_purpose::URL_SAFE_NO_PAD,
        ] {
            if let Ok(bytes) = engine.decode(run) {
                decoded.push(bytes);
            }
        }
        if run.len() >= 64 && run.len() % 2 == 0 && run.bytes().all(|b| b.is_ascii_hexdigit()) {
            decoded.push(
                (0..run.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&run[i..i + 2], 16).unwrap())
                    .collect(),
            );
        }
    }
    decoded
        .iter()
        .filter(|bytes| bytes.len() >= 32)
        .flat_map(|bytes| bytes.windows(32).map(|w| <[u8; 32]>::try_from(w).unwrap()))
        .collect()
}

/// Whether any candidate in `blob` unwraps `wrapped` (the data key of `user`): that is
/// what master key material is.
fn holds_master_key(blob: &[u8], user: Uuid, wrapped: &WrappedDataKey) -> bool {
    let version = wrapped.kek_version().unwrap();
    candidate_keys(blob).into_iter().any(|candidate| {
        MasterKeyRing::of_secret_keys([(version, SecretKey::from_bytes(candidate))])
            .unwrap()
            .unwrap(user, wrapped)
            .is_ok()
    })
}

fn files_under(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files_under(&path));
        } else {
            found.push((path.display().to_string(), std::fs::read(&path).unwrap()));
        }
    }
    found
}

fn pg_dump(database_url: &str) -> Vec<u8> {
    let bindir = std::process::Command::new("pg_config")
        .arg("--bindir")
        .output()
        .unwrap();
    let bindir = String::from_utf8(bindir.stdout).unwrap();
    let output = std::process::Command::new(std::path::Path::new(bindir.trim()).join("pg_dump"))
        .arg(database_url)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "pg_dump: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

#[test]
fn no_master_key_material_in_the_keys_dir_the_database_a_dump_or_the_logs() {
    // The scan finds a master key where there is one: in a file provider's keys dir.
    let control = TestApp::spawn(Backend::Sqlite);
    let id = control.register(&new_user_payload(&unique_email()));
    let wrapped = data_keys::find(&mut control.key_connection(), id.into())
        .unwrap()
        .unwrap();
    let wrapped = WrappedDataKey::from_bytes(wrapped);
    let found = files_under(&control.keys_dir)
        .iter()
        .any(|(_, bytes)| holds_master_key(bytes, id, &wrapped));
    assert!(found, "the scan found the file provider's master key");

    // The real binary with its keys in the token, on PostgreSQL, logging everything.
    let dir = tempfile::tempdir().unwrap();
    let database_url = postgres::database_url();
    let token = softhsm::token();
    let prefix = format!("t{}", Uuid::new_v4().simple());
    let (mut running, base, dev_token) = crate::binary::quick_start(dir.path(), |command| {
        command
            .env("DATABASE_URL", &database_url)
            .env("PIIVAULT_MASTER_KEY_PROVIDER", "pkcs11")
            .env("PIIVAULT_PKCS11_MODULE", &token.module)
            .env("PIIVAULT_PKCS11_TOKEN", TOKEN_LABEL)
            .env("PIIVAULT_PKCS11_LABEL_PREFIX", &prefix)
            .env(PIN_ENV, softhsm::PIN);
    });
    let call = |method: &str, path: &str, content_type: &str, body: Option<&[u8]>| {
        let request = ureq::request(method, &format!("{base}{path}"))
            .set("Authorization", &format!("Bearer {dev_token}"))
            .set("Content-Type", content_type);
        TestApp::send(request, body)
    };
    let mut users = Vec::new();
    for _ in 0..3 {
        let jwe = call(
            "POST",
            "/encrypt-data",
            "application/json",
            Some(new_user_payload(&unique_email()).to_string().as_bytes()),
        );
        let created = call("POST", "/users", "application/jose+json", Some(&jwe.body));
        assert_eq!(created.status, 201);
        let id = Uuid::parse_str(created.json()["id"].as_str().unwrap()).unwrap();
        assert_eq!(call("GET", &format!("/users/{id}"), "", None).status, 200);
        users.push(id);
    }
    let logs = running.stop();
    assert!(
        !dir.path().join("keys/master-keys").exists(),
        "no master-keys file with the pkcs11 provider"
    );
    let mut connection =
        piivault::db::pool(&database_url, &piivault::config::PoolSettings::single())
            .get()
            .unwrap();
    let user = users[0];
    let wrapped = WrappedDataKey::from_bytes(
        data_keys::find(&mut connection, user.into())
            .unwrap()
            .unwrap(),
    );
    let mut places: Vec<(String, Vec<u8>)> = files_under(&dir.path().join("keys"));
    places.push(("pg_dump".to_owned(), pg_dump(&database_url)));
    places.push(("logs".to_owned(), logs.join("\n").into_bytes()));
    assert!(logs.len() > 5, "the server logged: {logs:?}");
    for (place, bytes) in &places {
        assert!(
            !holds_master_key(bytes, user, &wrapped),
            "master key material in {place}"
        );
        assert!(
            !String::from_utf8_lossy(bytes).contains(softhsm::PIN),
            "the PIN in {place}"
        );
    }
}

/// A user with two transactions and a file; returns its id and the file's bytes and id.
fn populated_user(app: &TestApp) -> (Uuid, String, Vec<u8>) {
    let id = app.register(&new_user_payload(&unique_email()));
    app.post_transactions(
        id,
        &[
            json!({"reference":format!("R{}", Uuid::new_v4().simple()),"occurred_at":"2026-11-01T09:30:00+03:00","details":"Paid in","amount":"500.00"}),
            json!({"reference":format!("R{}", Uuid::new_v4().simple()),"occurred_at":"2026-11-02T09:30:00+03:00","details":"Paid out","amount":"-120.50"}),
        ],
    );
    let content: Vec<u8> = (0..70_000u32)
        .map(|i| u8::try_from(i % 251).unwrap())
        .collect();
    let reply = app.post_as(
        &format!("/users/{id}/files?name=payslip.bin"),
        Some(&app.token),
        "application/octet-stream",
        &content,
    );
    assert_eq!(
        reply.status,
        201,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let file = reply.json()["id"].as_str().unwrap().to_owned();
    (id, file, content)
}

/// Everything of the user opens on `app`: the user, its transactions, its statement
/// and its file.
fn assert_opens(app: &TestApp, (id, file, content): &(Uuid, String, Vec<u8>), when: &str) {
    let user = app.get(&format!("/users/{id}"));
    assert_eq!(
        user.status,
        200,
        "{when}: user {id}: {}",
        String::from_utf8_lossy(&user.body)
    );
    let listed = app.get(&format!(
        "/users/{id}/transactions?from=2026-10-01&to=2026-12-31"
    ));
    assert_eq!(listed.status, 200, "{when}: transactions");
    assert_eq!(
        listed.json()["transactions"].as_array().unwrap().len(),
        2,
        "{when}"
    );
    let statement = app.get(&format!(
        "/users/{id}/statement?from=2026-10-01&to=2026-12-31"
    ));
    assert_eq!(statement.status, 200, "{when}: statement");
    let download = app.get(&format!("/users/{id}/files/{file}"));
    assert_eq!(download.status, 200, "{when}: file");
    assert!(download.body == *content, "{when}: file content");
}

/// A client registering and reading users on `app` until told to stop; returns the
/// users it registered and every failure it met.
fn client(
    app: Arc<TestApp>,
    stop: Arc<AtomicBool>,
    rounds: Arc<AtomicUsize>,
) -> std::thread::JoinHandle<(Vec<Uuid>, Vec<String>)> {
    std::thread::spawn(move || {
        let mut ids = Vec::new();
        let mut failures = Vec::new();
        while !stop.load(Ordering::SeqCst) {
            let reply = app.post_user(&new_user_payload(&unique_email()));
            if reply.status != 201 {
                failures.push(format!(
                    "POST {}: {}",
                    reply.status,
                    String::from_utf8_lossy(&reply.body)
                ));
                continue;
            }
            ids.push(Uuid::parse_str(reply.json()["id"].as_str().unwrap()).unwrap());
            for id in [ids[ids.len() - 1], ids[0]] {
                let reply = app.get(&format!("/users/{id}"));
                if reply.status != 200 {
                    failures.push(format!(
                        "GET {id} {}: {}",
                        reply.status,
                        String::from_utf8_lossy(&reply.body)
                    ));
                }
            }
            rounds.fetch_add(1, Ordering::SeqCst);
        }
        (ids, failures)
    })
}

#[test]
fn a_populated_database_moves_from_the_key_file_to_the_token_and_back_while_serving() {
    // Populated under the key file's version 1.
    let first = TestApp::spawn(Backend::Postgres);
    let people: Vec<_> = (0..8).map(|_| populated_user(&first)).collect();
    // A rolling restart with the token as the provider: the key file is still there,
    // and until the token holds a version new users are still wrapped under v1.
    let served = Arc::new(first.another_instance(|settings| {
        settings.master_keys = softhsm::master_key_settings();
        settings.data_dir.clone_from(&first.data_dir);
    }));
    // (`first` keeps running: its directory holds the keys dir every instance shares.)
    assert_eq!(served.fresh_keys().master.active_version(), 1);
    assert_opens(&served, &people[0], "before the migration");

    let stop = Arc::new(AtomicBool::new(false));
    let rounds = Arc::new(AtomicUsize::new(0));
    let clients = client(Arc::clone(&served), Arc::clone(&stop), Arc::clone(&rounds));
    let at_least = |count: usize| {
        let rounds = Arc::clone(&rounds);
        move || rounds.load(Ordering::SeqCst) >= count
    };
    wait_for("the client's first rounds", at_least(3));
    let options = JobOptions {
        batch_size: 4,
        max_rows: None,
    };
    let (target, first_pass) = served
        .vault
        .migrate_master(MasterKeyProvider::Pkcs11, options, &mut |_| {})
        .unwrap();
    assert_eq!(
        target, 2,
        "the token's first version comes after the file's"
    );
    assert!(first_pass.written >= 8, "{first_pass:?}");
    // Users registered before the server loaded v2 are moved by a second pass.
    served.wait_for_key_reload();
    wait_for(
        "the client's rounds after the reload",
        at_least(rounds.load(Ordering::SeqCst) + 3),
    );
    stop.store(true, Ordering::SeqCst);
    let (registered, failures) = clients.join().unwrap();
    assert!(
        failures.is_empty(),
        "requests failed during the migration: {failures:#?}"
    );
    let (again, _) = served
        .vault
        .migrate_master(MasterKeyProvider::Pkcs11, options, &mut |_| {})
        .unwrap();
    assert_eq!(again, 2, "a second run resumes the same migration");
    let total = i64::try_from(people.len() + registered.len()).unwrap();
    assert_eq!(
        master_versions(&served),
        vec![
            (1, Some(MasterKeyProvider::File), 0),
            (2, Some(MasterKeyProvider::Pkcs11), total)
        ]
    );

    // The key file goes; everything still opens, here and on a fresh instance.
    std::fs::remove_file(served.keys_dir.join("master-keys")).unwrap();
    served.wait_for_key_reload();
    assert_eq!(
        served.fresh_keys().master.versions().collect::<Vec<_>>(),
        vec![2]
    );
    let fresh = served.another_instance(|settings| {
        settings.data_dir.clone_from(&first.data_dir);
    });
    for app in [&*served, &fresh] {
        for person in &people {
            assert_opens(app, person, "after the key file was deleted");
        }
        for id in &registered {
            assert_eq!(app.get(&format!("/users/{id}")).status, 200, "{id}");
        }
    }
    drop(fresh);

    and_back_to_the_key_file(&served, &first.data_dir, &people, total);
    drop(served);
}

/// The second half of the migration test: from the token back to the key file, and
/// the token's version retired (its object destroyed).
fn and_back_to_the_key_file(
    served: &TestApp,
    data_dir: &std::path::Path,
    people: &[(Uuid, String, Vec<u8>)],
    total: i64,
) {
    let options = JobOptions {
        batch_size: 4,
        max_rows: None,
    };
    // And back: the key file provider again, the token still configured.
    let back = served.another_instance(|settings| {
        settings.master_keys.provider = MasterKeyProvider::File;
        settings.data_dir = data_dir.to_path_buf();
    });
    let (target, _) = back
        .vault
        .migrate_master(MasterKeyProvider::File, options, &mut |_| {})
        .unwrap();
    assert_eq!(target, 3);
    assert!(back.keys_dir.join("master-keys").exists());
    back.wait_for_key_reload();
    assert_eq!(
        master_versions(&back),
        vec![
            (2, Some(MasterKeyProvider::Pkcs11), 0),
            (3, Some(MasterKeyProvider::File), total)
        ]
    );
    // Retiring v2 destroys its token object.
    let label = format!("{}-master-v2", label_prefix(&back));
    assert!(object_listing(&softhsm::token().list_objects(), &label).is_some());
    back.vault.retire_master(2).unwrap();
    assert!(
        object_listing(&softhsm::token().list_objects(), &label).is_none(),
        "{label} still in the token"
    );
    assert_eq!(back.vault.key_status().unwrap().master_retired, vec![2]);
    back.wait_for_key_reload();
    for person in people {
        assert_opens(&back, person, "back under the key file");
    }
}

#[test]
fn a_shred_on_one_instance_is_final_on_another_that_cached_the_key() {
    let one = TestApp::spawn(PKCS11_POSTGRES);
    let other = one.another_instance(|settings| {
        settings.data_key_cache.ttl = std::time::Duration::from_secs(5);
    });
    let id = one.register(&new_user_payload(&unique_email()));
    assert_eq!(other.get(&format!("/users/{id}")).status, 200);
    assert_eq!(
        other.vault.data_key_cache().len(),
        1,
        "cached on the other instance"
    );
    assert_eq!(one.delete(&format!("/users/{id}")).status, 204);
    // At once: every read fetches the wrapped key first, and it is gone.
    other
        .get(&format!("/users/{id}"))
        .assert_error(404, "not_found", "shredded elsewhere");
    // And out of the other instance's memory within its time to live.
    wait_for("the cached key to expire", || {
        other.vault.data_key_cache().is_empty()
    });
    // The instance that shredded dropped its own copy at once.
    let kept = one.register(&new_user_payload(&unique_email()));
    assert_eq!(one.get(&format!("/users/{kept}")).status, 200);
    assert_eq!(one.vault.data_key_cache().len(), 1);
    assert_eq!(one.delete(&format!("/users/{kept}")).status, 204);
    assert!(
        one.vault.data_key_cache().is_empty(),
        "evicted by the shred"
    );
}

/// A start-up case: its name, the environment, what the error says.
type StartCase<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str);

fn status_with(configure: impl FnOnce(&mut std::process::Command)) -> String {
    let dir = tempfile::tempdir().unwrap();
    let mut command = piivault(dir.path());
    command.args(["keys", "status", "--master-key-provider", "pkcs11"]);
    configure(&mut command);
    let output = command.output().unwrap();
    assert!(!output.status.success(), "should be refused");
    String::from_utf8(output.stderr).unwrap()
}

#[test]
fn a_token_that_cannot_be_used_is_a_clear_start_up_error() {
    let token = softhsm::token();
    let module = token.module.display().to_string();
    let cases: [StartCase; 5] = [
        (
            "no token settings",
            vec![],
            "needs --pkcs11-module and --pkcs11-token",
        ),
        (
            "no such library",
            vec![
                ("PIIVAULT_PKCS11_MODULE", "/nonexistent/libpkcs11.so"),
                ("PIIVAULT_PKCS11_TOKEN", TOKEN_LABEL),
                (PIN_ENV, softhsm::PIN),
            ],
            "loading the PKCS#11 module /nonexistent/libpkcs11.so",
        ),
        (
            "no such token",
            vec![
                ("PIIVAULT_PKCS11_MODULE", &module),
                ("PIIVAULT_PKCS11_TOKEN", "not-there"),
                (PIN_ENV, softhsm::PIN),
            ],
            "no PKCS#11 token labelled `not-there`",
        ),
        (
            "a wrong PIN",
            vec![
                ("PIIVAULT_PKCS11_MODULE", &module),
                ("PIIVAULT_PKCS11_TOKEN", softhsm::PIN_TOKEN_LABEL),
                (PIN_ENV, "0000"),
            ],
            "refused the PIN",
        ),
        (
            "no PIN",
            vec![
                ("PIIVAULT_PKCS11_MODULE", &module),
                ("PIIVAULT_PKCS11_TOKEN", TOKEN_LABEL),
            ],
            "PIIVAULT_PKCS11_PIN is not set",
        ),
    ];
    for (case, variables, expected) in cases {
        let stderr = status_with(|command| {
            for (name, value) in &variables {
                command.env(name, value);
            }
        });
        assert!(stderr.contains(expected), "{case}: {stderr}");
        assert!(!stderr.contains("0000"), "{case}: the PIN was printed");
    }
}

#[test]
fn a_token_that_goes_away_while_serving_gives_503_and_the_service_recovers() {
    let hsm = softhsm::token();
    let app = TestApp::spawn_with(PKCS11_POSTGRES, |settings| {
        let pkcs11 = settings.master_keys.pkcs11.as_mut().unwrap();
        pkcs11.token_label = softhsm::OUTAGE_TOKEN_LABEL.to_owned();
        // Every read goes to the token.
        settings.data_key_cache.capacity = 0;
    });
    let id = app.register(&new_user_payload(&unique_email()));
    assert_eq!(app.get(&format!("/users/{id}")).status, 200);

    // The key's object disappears from the token. (SoftHSM2 cannot take a whole
    // token away and give it back to a running process: it never reads a token whose
    // directory vanished again. Its key object's file can go, and come back under
    // another name, which SoftHSM2 reads as an object it has not seen.)
    let away = tempfile::tempdir().unwrap();
    let objects = hsm.key_object_files();
    assert!(!objects.is_empty(), "the outage token holds the master key");
    for object in &objects {
        std::fs::rename(object, away.path().join(object.file_name().unwrap())).unwrap();
    }
    app.get(&format!("/users/{id}"))
        .assert_error(503, "unavailable", "read without the token");
    let jwe = app.jwe(&new_user_payload(&unique_email()));
    app.post_as(
        "/users",
        Some(&app.token),
        "application/jose",
        jwe.as_bytes(),
    )
    .assert_error(503, "unavailable", "register without the token");
    assert_eq!(
        app.get_as("/readyz", None).status,
        200,
        "the database is fine"
    );

    // It comes back: the next requests find the key again.
    for object in &objects {
        let returned = object.with_file_name(format!("{}.object", Uuid::new_v4()));
        std::fs::rename(away.path().join(object.file_name().unwrap()), returned).unwrap();
    }
    hsm.touch_outage_token();
    wait_for("reads to work again", || {
        app.get(&format!("/users/{id}")).status == 200
    });
    let reply = app.post_as(
        "/users",
        Some(&app.token),
        "application/jose",
        jwe.as_bytes(),
    );
    assert_eq!(
        reply.status, 201,
        "the refused registration can be sent again"
    );
}

#[test]
fn keys_init_with_the_pkcs11_provider_makes_v1_in_the_token_once() {
    let dir = tempfile::tempdir().unwrap();
    let token = softhsm::token();
    let prefix = format!("t{}", Uuid::new_v4().simple());
    let init = || {
        let output = piivault(dir.path())
            .args(["keys", "init", "--master-key-provider", "pkcs11"])
            .arg("--pkcs11-module")
            .arg(&token.module)
            .args([
                "--pkcs11-token",
                TOKEN_LABEL,
                "--pkcs11-label-prefix",
                &prefix,
            ])
            .env(PIN_ENV, softhsm::PIN)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    let first = init();
    assert!(
        first.contains(&format!("created token object {prefix}-master-v1")),
        "{first}"
    );
    assert!(first.contains("blind-index-key"), "{first}");
    assert!(
        !dir.path().join("keys/master-keys").exists(),
        "no master-keys file"
    );
    assert!(
        init().contains("all keys already present"),
        "a second init makes nothing"
    );
    assert!(object_listing(&token.list_objects(), &format!("{prefix}-master-v1")).is_some());
}
