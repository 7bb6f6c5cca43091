//! Retiring a master key version without a race, and what shredding reaches: an
//! instance that has not reloaded its keys after a rotation cannot wrap a new data key
//! under the old version (it reloads, or is refused with 503); a retirement is
//! refused until the master key floor is past the version; and a backup taken before
//! a deletion no longer opens once the version that wrapped it is retired.

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use diesel::connection::SimpleConnection as _;
use piivault::config::PoolSettings;
use piivault::crypto::{CryptoError, DataKey, WrappedDataKey};
use piivault::db::users::NewDataKeyRow;
use piivault::db::{self, data_keys, wrap_floor, DbConnection, DbError};
use piivault::keys::{rotate, KeyMaterial};
use serde_json::Value;
use uuid::Uuid;

use crate::on_both_backends;
use diesel::RunQueryDsl as _;

use crate::support::{new_user_payload, postgres, unique_email, wait_for, Backend, TestApp};

/// The master key rows as `keys status --json` reports them: `(version, rows)`.
fn master_rows(status: &Value) -> Vec<(u64, u64)> {
    status["master"]
        .as_array()
        .unwrap()
        .iter()
        .map(|use_| {
            (
                use_["version"].as_u64().unwrap(),
                use_["rows"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn status(app: &TestApp) -> Value {
    serde_json::from_str(&app.cli_ok(&["keys", "status", "--json"])).unwrap()
}

/// A copy of the keys dir as it is now: what an instance whose key files were never
/// updated still runs with.
fn copy_keys_dir(app: &TestApp, name: &str) -> std::path::PathBuf {
    let copy = app.dir().join(name);
    std::fs::create_dir_all(&copy).unwrap();
    for entry in std::fs::read_dir(&app.keys_dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, copy.join(path.file_name().unwrap())).unwrap();
        }
    }
    copy
}

on_both_backends!(
    a_stale_instance_cannot_wrap_under_a_version_being_retired,
    |backend| {
        let app = TestApp::spawn(backend);
        let old_keys = copy_keys_dir(&app, "keys-never-updated");
        // Reloads its keys only when it misses one: it has not seen the rotation.
        let stale = app.another_instance(|settings| {
            settings.key_reload_interval = Duration::from_secs(3600);
        });
        // Its key files are never updated: it cannot get past version 1 at all.
        let outdated = app.another_instance(|settings| {
            settings.key_reload_interval = Duration::from_secs(3600);
            settings.keys_dir.clone_from(&old_keys);
        });
        let before = app.register(&new_user_payload(&unique_email()));
        assert_eq!(status(&app)["master_floor"], 1);

        let rotated = app.cli_ok(&["keys", "rotate-master"]);
        assert!(rotated.contains("version 2 is now active"), "{rotated}");
        assert_eq!(status(&app)["master_floor"], 2);
        assert_eq!(
            stale.vault.keys().current().master.active_version(),
            1,
            "the second instance has not reloaded"
        );

        // Registered through the instance that still holds version 1 as active: the
        // commit refuses its key, it reloads once and wraps under version 2.
        let through_stale = stale.register(&new_user_payload(&unique_email()));
        assert_eq!(stale.vault.keys().current().master.active_version(), 2);
        assert_eq!(
            master_rows(&status(&app)),
            vec![(1, 0), (2, 2)],
            "nothing new is wrapped under version 1"
        );

        // The instance that cannot reload is refused, and writes nothing.
        let reply = outdated.post_user(&new_user_payload(&unique_email()));
        reply.assert_error(503, "master_key_outdated", "keys older than the floor");
        assert_eq!(master_rows(&status(&app)), vec![(1, 0), (2, 2)]);

        app.cli_ok(&["keys", "rewrap"]);
        app.cli_ok(&["keys", "retire-master", "--version", "1"]);
        app.wait_for_key_reload();
        for id in [before, through_stale] {
            for instance in [&app, &stale] {
                assert_eq!(
                    instance.get(&format!("/users/{id}")).status,
                    200,
                    "{id} after retiring version 1"
                );
            }
        }
        let oldest = &status(&app)["oldest_live_master"];
        assert_eq!(oldest["version"], 2);
        assert_eq!(oldest["since_source"], "created");
        assert!(oldest["age_seconds"].as_i64().unwrap() >= 0);
    }
);

on_both_backends!(retirement_waits_for_the_floor, |backend| {
    let app = TestApp::spawn(backend);
    let id = app.register(&new_user_payload(&unique_email()));
    let text = app.cli_ok(&["keys", "status"]);
    assert!(text.contains("floor: v1"), "{text}");
    assert!(
        text.contains("oldest version in use: v1") && text.contains("its oldest data key"),
        "{text}"
    );
    let oldest = &status(&app)["oldest_live_master"];
    assert_eq!(
        oldest["since_source"], "oldest_data_key",
        "made by keys init"
    );

    // Rotated where the database is not told (as in a secret manager): the floor
    // stays, so version 1 may still be wrapped somewhere and is not retired.
    assert_eq!(rotate::rotate_master(app.vault.keys().places()).unwrap(), 2);
    let refused = app.cli_refused(&["keys", "retire-master", "--version", "1"]);
    assert!(refused.contains("floor is 1"), "{refused}");
    // The rewrap raises it to the version it wraps under.
    app.cli_ok(&["keys", "rewrap"]);
    assert_eq!(status(&app)["master_floor"], 2);
    app.cli_ok(&["keys", "retire-master", "--version", "1"]);
    app.wait_for_key_reload();
    assert_eq!(app.get(&format!("/users/{id}")).status, 200);
});

/// A backup of the database holding the data keys, as of now; returns a URL the
/// backup is restored at. PostgreSQL: `pg_dump` restored into a new database; SQLite:
/// a copy of the file (`VACUUM INTO`, consistent while the server writes).
fn back_up(app: &TestApp, dir: &Path) -> String {
    match app.backend {
        Backend::Postgres => {
            let dump = dir.join("backup.sql");
            let output = std::process::Command::new("pg_dump")
                .args([app.database_url.as_str(), "--no-owner", "-f"])
                .arg(&dump)
                .output()
                .unwrap();
            assert!(
                output.status.success(),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
            let restored = postgres::database_url();
            let output = std::process::Command::new("psql")
                .args([restored.as_str(), "-q", "-v", "ON_ERROR_STOP=1", "-f"])
                .arg(&dump)
                .output()
                .unwrap();
            assert!(
                output.status.success(),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
            restored
        }
        Backend::Sqlite => {
            let copy = dir.join("backup.sqlite3");
            app.connection()
                .batch_execute(&format!("VACUUM INTO '{}'", copy.display()))
                .unwrap();
            copy.to_string_lossy().into_owned()
        }
    }
}

on_both_backends!(
    a_backup_from_before_a_deletion_stops_opening_once_its_version_is_retired,
    |backend| {
        let app = TestApp::spawn(backend);
        let deleted = app.register(&new_user_payload(&unique_email()));
        let kept = app.register(&new_user_payload(&unique_email()));
        let backup_dir = tempfile::tempdir().unwrap();
        let backup_url = back_up(&app, backup_dir.path());
        let keys_then = app.fresh_keys();

        assert_eq!(app.delete(&format!("/users/{deleted}")).status, 204);
        app.cli_ok(&["keys", "rotate-master"]);
        app.cli_ok(&["keys", "rewrap"]);
        app.cli_ok(&["keys", "retire-master", "--version", "1"]);
        app.wait_for_key_reload();
        assert_eq!(app.get(&format!("/users/{kept}")).status, 200);
        assert_eq!(app.get(&format!("/users/{deleted}")).status, 404);

        let restored = db::pool(&backup_url, &PoolSettings::single());
        let stored_key = |id: Uuid| {
            let wrapped = data_keys::find(&mut restored.get().unwrap(), id.into())
                .unwrap()
                .expect("the backup holds the key");
            WrappedDataKey::from_bytes(wrapped)
        };
        let keys_now: KeyMaterial = app.fresh_keys();
        for id in [deleted, kept] {
            let wrapped = stored_key(id);
            // The backup really holds a key that opened the user...
            keys_then.master.unwrap(id, &wrapped).unwrap();
            // ...and the keys there are now do not open it.
            assert_eq!(
                keys_now.master.unwrap(id, &wrapped).unwrap_err(),
                CryptoError::UnknownKeyVersion(1),
                "{id} in the backup"
            );
        }
        // The operator's view of the restored backup says so too.
        let output = crate::support::piivault(backup_dir.path())
            .args(["keys", "status", "--json", "--keys-dir"])
            .arg(&app.keys_dir)
            .args(["--database-url", &backup_url])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let status: Value = serde_json::from_slice(&output.stdout).unwrap();
        let v1 = &status["master"][0];
        assert_eq!(
            (v1["version"].as_u64(), v1["rows"].as_u64(), &v1["loaded"]),
            (Some(1), Some(2), &Value::Bool(false)),
            "{status}"
        );
    }
);

/// Whether a PostgreSQL backend is waiting for a lock on the floor row (the raise of
/// a rotation queued behind a wrap that holds it).
fn floor_lock_awaited(app: &TestApp) -> bool {
    count_in_key_database(
        app,
        "SELECT count(*) AS count FROM pg_stat_activity \
         WHERE wait_event_type = 'Lock' AND wait_event = 'advisory'",
    ) > 0
}

/// The `count` a query returns on the PostgreSQL database holding `data_keys`.
fn count_in_key_database(app: &TestApp, query: &str) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        count: i64,
    }
    let mut connection = app.key_connection();
    let DbConnection::Postgres(connection) = &mut **connection else {
        unreachable!("PostgreSQL only")
    };
    diesel::sql_query(query)
        .get_result::<Count>(connection)
        .unwrap()
        .count
}

on_both_backends!(a_rotation_waits_for_a_wrap_that_is_committing, |backend| {
    // Keys in a store of their own: a key row needs no user row, so the test can hold
    // a wrap's transaction open between its floor check and its commit.
    let dir = tempfile::tempdir().unwrap();
    let keystore_url = TestApp::new_database_url(backend, dir.path(), "keystore.sqlite3");
    let app = TestApp::spawn_with(backend, |settings| {
        settings.keystore_url = Some(keystore_url.clone());
    });
    let user = Uuid::now_v7();
    let data_key = DataKey::generate().unwrap();
    let key_under_v1 = NewDataKeyRow {
        user_id: user.into(),
        kek_version: 1,
        wrapped_key: app
            .keys
            .master
            .wrap(user, &data_key)
            .unwrap()
            .as_bytes()
            .to_vec(),
        created_at: piivault::time::now(),
    };
    let (checked, is_checked) = mpsc::channel();
    let (commit, wait_for_commit) = mpsc::channel::<()>();
    let mut wrap_connection = app.key_connection();
    // `commit` moves into the scope: should the test fail inside it, the sender drops
    // and the wrap rolls back instead of waiting for ever.
    let app = &app;
    std::thread::scope(move |scope| {
        let wrap = scope.spawn(move || {
            db::write_transaction(&mut wrap_connection, |connection| {
                wrap_floor::check_wraps(connection, [1])?;
                data_keys::insert_many(connection, &[key_under_v1])?;
                checked.send(()).unwrap();
                wait_for_commit.recv().unwrap();
                Ok::<_, DbError>(())
            })
        });
        is_checked.recv().unwrap();
        let rotation = scope.spawn(|| app.vault.rotate_master().unwrap());
        if backend == Backend::Postgres {
            wait_for("the rotation to wait for the wrap's lock", || {
                floor_lock_awaited(app)
            });
            assert!(!rotation.is_finished(), "the floor was raised past a wrap");
        }
        commit.send(()).unwrap();
        wrap.join().unwrap().unwrap();
        assert_eq!(rotation.join().unwrap(), 2);
    });
    // The wrap committed before the raise, so the retirement counts it.
    let refused = app.cli_refused(&["keys", "retire-master", "--version", "1"]);
    assert!(refused.contains("still wraps 1"), "{refused}");
    // A wrap that starts after the raise is refused, and writes nothing.
    let mut connection = app.key_connection();
    let late = db::write_transaction(&mut connection, |connection| {
        wrap_floor::check_wraps(connection, [1])
    });
    assert!(
        matches!(late, Err(DbError::BelowWrapFloor { floor: 2 })),
        "{late:?}"
    );
    app.cli_ok(&["keys", "rewrap"]);
    app.cli_ok(&["keys", "retire-master", "--version", "1"]);
    let stored = WrappedDataKey::from_bytes(
        data_keys::find(&mut connection, user.into())
            .unwrap()
            .unwrap(),
    );
    assert_eq!(stored.kek_version().unwrap(), 2);
    assert!(
        app.fresh_keys().master.unwrap(user, &stored).is_ok(),
        "the key wrapped during the rotation still opens after the retirement"
    );
});

/// Reading the floor for a wrap (`piivault_wrap_floor()`) takes its lock shared until
/// the transaction ends, in the main database and in a separate key store alike (each
/// has the function from its own migrations). PostgreSQL only: SQLite has one writer
/// at a time and no such lock.
#[test]
fn reading_the_floor_for_a_wrap_holds_its_lock_until_the_transaction_ends() {
    for separate_store in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let keystore_url = TestApp::new_database_url(Backend::Postgres, dir.path(), "keystore");
        let app = TestApp::spawn_with(Backend::Postgres, |settings| {
            if separate_store {
                settings.keystore_url = Some(keystore_url.clone());
            }
        });
        let mut wrap = app.key_connection();
        let held_while_open = db::write_transaction(&mut wrap, |connection| {
            wrap_floor::check_wraps(connection, [1])?;
            Ok::<_, DbError>(floor_locks_held(&app))
        })
        .unwrap();
        assert_eq!(held_while_open, 1, "separate store: {separate_store}");
        assert_eq!(
            floor_locks_held(&app),
            0,
            "separate store: {separate_store}"
        );
    }
}

/// How many shared advisory locks are held in the database holding `data_keys`.
fn floor_locks_held(app: &TestApp) -> i64 {
    count_in_key_database(
        app,
        "SELECT count(*) AS count FROM pg_locks \
         WHERE locktype = 'advisory' AND mode = 'ShareLock' AND granted \
           AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    )
}
