//! Key lifecycle over the real server: master-key rotation while clients keep
//! registering and reading, an interrupted rewrap resumed, retirement refused while a
//! version is in use, JWKS overlap and retired kids, blind-index rotation with
//! look-ups before, during and after, and crypto-shredding with a separate key store.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use diesel::prelude::*;
use piivault::crypto::{FieldContext, SealedField, WrappedDataKey};
use piivault::db::data_keys;
use piivault::db::schema::{data_keys as keys_table, users};
use piivault::db::users::UserRow;
use piivault::keys::{rotate, KeyMaterial};
use piivault::vault::key_jobs::{JobOptions, JobReport, KeyStatus, VersionUse};
use serde_json::Value;
use uuid::Uuid;

use crate::support::{new_user_payload, unique_email, wait_for, TestApp};
use crate::{on_backends_and_providers, on_both_backends};

fn rewrap(app: &TestApp, options: JobOptions) -> JobReport {
    app.vault.rewrap_data_keys(options, &mut |_| {}).unwrap()
}

fn reindex(app: &TestApp, options: JobOptions) -> JobReport {
    app.vault.reindex_users(options, &mut |_| {}).unwrap()
}

fn status(app: &TestApp) -> KeyStatus {
    app.vault.key_status().unwrap()
}

/// `(version, rows)` for every version that has rows or a key.
fn rows(uses: &[VersionUse]) -> Vec<(u32, i64)> {
    uses.iter().map(|use_| (use_.version, use_.rows)).collect()
}

fn limited(max_rows: u64) -> JobOptions {
    JobOptions {
        batch_size: 3,
        max_rows: Some(max_rows),
    }
}

on_backends_and_providers!(rotations_while_clients_register_and_read, |setup| {
    let app = Arc::new(TestApp::spawn(setup));
    let stop = Arc::new(AtomicBool::new(false));
    // Rounds of register-and-read the client has finished.
    let rounds = Arc::new(AtomicUsize::new(0));
    let client = {
        let app = Arc::clone(&app);
        let stop = Arc::clone(&stop);
        let rounds = Arc::clone(&rounds);
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
                // The newest user and one from the start: both must open.
                for id in [ids[ids.len() - 1], ids[ids.len() / 2], ids[0]] {
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
    };
    // Some users exist under the first keys before anything rotates.
    let rounds_after = |at_least: usize| {
        let rounds = Arc::clone(&rounds);
        move || rounds.load(Ordering::SeqCst) >= at_least
    };
    wait_for("the client's first rounds", rounds_after(5));
    assert_eq!(app.vault.rotate_master().unwrap(), 2);
    // Rewrap at once, before the server's next reload: the server must open keys
    // wrapped under a version it has not loaded yet.
    let first = rewrap(
        &app,
        JobOptions {
            batch_size: 2,
            max_rows: None,
        },
    );
    assert!(
        first.written > 0,
        "users registered before the rotation were rewrapped"
    );
    // The other keys too, under the same load.
    rotate::rotate_jwe(&app.keys_dir, rotate::JweKind::Rsa).unwrap();
    assert_eq!(rotate::rotate_blind_index(&app.keys_dir, &[]).unwrap(), 2);
    assert!(reindex(&app, JobOptions::default()).written > 0);
    // The client keeps going while the server picks the new keys up, and after.
    app.wait_for_key_reload();
    wait_for(
        "the client's rounds after the reload",
        rounds_after(rounds.load(Ordering::SeqCst) + 5),
    );
    stop.store(true, Ordering::SeqCst);
    let (ids, failures) = client.join().unwrap();
    assert!(
        failures.is_empty(),
        "requests failed during the rotation: {failures:#?}"
    );
    assert!(
        ids.len() >= 5,
        "the client kept working ({} users)",
        ids.len()
    );

    // Users a not-yet-reloaded server wrapped under version 1 after the first pass.
    rewrap(&app, JobOptions::default());
    assert_eq!(
        rows(&status(&app).master),
        vec![(1, 0), (2, i64::try_from(ids.len()).unwrap())]
    );
    app.vault.retire_master(1).unwrap();
    reindex(&app, JobOptions::default());
    app.vault.retire_blind_index(1).unwrap();
    app.wait_for_key_reload();
    for id in &ids {
        assert_eq!(
            app.get(&format!("/users/{id}")).status,
            200,
            "user {id} after retiring v1"
        );
    }
    let id = app.register(&new_user_payload(&unique_email()));
    assert_eq!(app.get(&format!("/users/{id}")).status, 200);
});

on_backends_and_providers!(
    interrupted_rewrap_resumes_and_retire_is_refused_meanwhile,
    |setup| {
        let app = TestApp::spawn(setup);
        let ids: Vec<Uuid> = (0..10)
            .map(|_| app.register(&new_user_payload(&unique_email())))
            .collect();
        app.vault.rotate_master().unwrap();

        let half = rewrap(&app, limited(4));
        assert_eq!((half.processed, half.written), (4, 4));
        assert_eq!(rows(&status(&app).master), vec![(1, 6), (2, 4)]);
        let refused = app.vault.retire_master(1).unwrap_err().to_string();
        assert!(refused.contains("still wraps 6"), "{refused}");
        assert!(
            app.vault.retire_master(2).is_err(),
            "the active version is never retired"
        );
        app.wait_for_key_reload();
        for id in &ids {
            assert_eq!(
                app.get(&format!("/users/{id}")).status,
                200,
                "half-way: {id}"
            );
        }

        let rest = rewrap(&app, JobOptions::default());
        assert_eq!(rest.written, 6, "the rerun does only what is left");
        assert_eq!(
            rewrap(&app, JobOptions::default()).written,
            0,
            "nothing left"
        );
        assert_eq!(rows(&status(&app).master), vec![(1, 0), (2, 10)]);
        // Every stored key says version 2 in its bytes too.
        let keys = app.fresh_keys();
        for id in &ids {
            let wrapped = data_keys::find(&mut app.key_connection(), (*id).into())
                .unwrap()
                .unwrap();
            let wrapped = WrappedDataKey::from_bytes(wrapped);
            assert_eq!(wrapped.kek_version().unwrap(), 2);
            keys.master.unwrap(*id, &wrapped).unwrap();
        }
        app.vault.retire_master(1).unwrap();
        assert_eq!(
            app.fresh_keys().master.versions().collect::<Vec<_>>(),
            vec![2]
        );
        app.wait_for_key_reload();
        for id in &ids {
            assert_eq!(
                app.get(&format!("/users/{id}")).status,
                200,
                "after retire: {id}"
            );
        }
    }
);

fn kid_of_compact(token: &str) -> String {
    use base64::Engine as _;
    let header = token.split('.').next().unwrap();
    let header: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .unwrap(),
    )
    .unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

/// The distinct kids a JWKS names (an RSA key is listed once per algorithm).
fn kids_of(jwks: &Value) -> Vec<String> {
    let mut kids: Vec<String> = Vec::new();
    for key in jwks["keys"].as_array().unwrap() {
        let kid = key["kid"].as_str().unwrap().to_owned();
        if !kids.contains(&kid) {
            kids.push(kid);
        }
    }
    kids
}

fn jwks_kids(app: &TestApp) -> Vec<String> {
    kids_of(&app.get_as("/.well-known/jwks.json", None).json())
}

fn post_jwe(app: &TestApp, keys: &KeyMaterial) -> (String, crate::support::Reply) {
    let payload = new_user_payload(&unique_email());
    let token = keys
        .jwe
        .encrypt_compact(payload.to_string().as_bytes(), "RSA-OAEP-256")
        .unwrap();
    let reply = app.post_as(
        "/users",
        Some(&app.token),
        "application/jose",
        token.as_bytes(),
    );
    (kid_of_compact(&token), reply)
}

on_both_backends!(
    jwe_rotation_overlaps_then_the_retired_kid_is_refused,
    |backend| {
        let app = TestApp::spawn(backend);
        let old_keys = app.fresh_keys();
        let old_kids = jwks_kids(&app);
        assert_eq!(old_kids.len(), 2);

        let added = rotate::rotate_jwe(&app.keys_dir, rotate::JweKind::Rsa).unwrap();
        wait_for("the new kid in the JWKS", || {
            jwks_kids(&app).contains(&added.kid)
        });
        let during = jwks_kids(&app);
        assert_eq!(during.len(), 3, "old and new keys are both served");
        assert!(old_kids.iter().all(|kid| during.contains(kid)));

        // Both the old and the new kid decrypt during the overlap.
        let (old_kid, reply) = post_jwe(&app, &old_keys);
        assert_eq!(reply.status, 201, "old kid during the overlap");
        let new_keys = app.fresh_keys();
        let (new_kid, reply) = post_jwe(&app, &new_keys);
        assert_eq!(new_kid, added.kid, "the client encrypted to the new key");
        assert_eq!(reply.status, 201, "new kid");

        rotate::retire_jwe(&app.keys_dir, &old_kid).unwrap();
        wait_for("the retired kid to leave the JWKS", || {
            !jwks_kids(&app).contains(&old_kid)
        });
        let (kid, reply) = post_jwe(&app, &old_keys);
        assert_eq!(kid, old_kid);
        reply.assert_error(400, "invalid_jwe", "a token naming a retired kid");
        let (_, reply) = post_jwe(&app, &new_keys);
        assert_eq!(reply.status, 201, "the new kid after the retirement");
    }
);

/// The ids an exact search (`GET /users?<field>=<value>`) finds, oldest first.
fn lookup(app: &TestApp, field: &str, value: &str) -> Vec<Uuid> {
    let reply = app.get(&format!(
        "/users?order=oldest&{field}={}",
        crate::support::encode_query(value)
    ));
    assert_eq!(reply.status, 200, "search by {field}");
    reply.json()["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|user| Uuid::parse_str(user["id"].as_str().unwrap()).unwrap())
        .collect()
}

on_both_backends!(
    blind_index_rotation_keeps_lookups_and_duplicates_working,
    |backend| {
        let app = TestApp::spawn(backend);
        let person = |n: usize| {
            let mut payload = new_user_payload(&format!(
                "Person.{n}.{}@Example.org",
                Uuid::new_v4().simple()
            ));
            payload["phone"] = Value::from(format!("+2547000000{n:02}"));
            payload["national_id"] = Value::from(format!("ID{n:06}"));
            payload
        };
        let people: Vec<Value> = (0..5).map(person).collect();
        let ids: Vec<Uuid> = people.iter().map(|p| app.register(p)).collect();
        let check_all = |app: &TestApp, people: &[Value], ids: &[Uuid], when: &str| {
            for (payload, id) in people.iter().zip(ids) {
                // Look-ups normalize like registration: case of the email does not matter.
                let email = payload["email"].as_str().unwrap().to_uppercase();
                assert_eq!(lookup(app, "email", &email), vec![*id], "{when}: email");
                let phone = payload["phone"].as_str().unwrap();
                assert_eq!(lookup(app, "phone", phone), vec![*id], "{when}: phone");
                let national_id = payload["national_id"].as_str().unwrap().to_lowercase();
                assert_eq!(
                    lookup(app, "national_id", &national_id),
                    vec![*id],
                    "{when}: national id"
                );
                let duplicate = app.post_user(payload);
                duplicate.assert_error(409, "conflict", &format!("{when}: duplicate email"));
            }
            assert!(
                lookup(app, "email", "nobody@example.org").is_empty(),
                "{when}: no false hit"
            );
        };
        check_all(&app, &people, &ids, "before");

        assert_eq!(rotate::rotate_blind_index(&app.keys_dir, &[]).unwrap(), 2);
        app.wait_for_key_reload();
        // Registered under version 2 while everyone else is still under version 1.
        let mut people = people;
        let mut ids = ids;
        people.push(person(5));
        ids.push(app.register(&people[5]));
        assert_eq!(rows(&status(&app).blind_index), vec![(1, 5), (2, 1)]);
        check_all(&app, &people, &ids, "rotated, not reindexed");

        let half = reindex(&app, limited(3));
        assert_eq!(half.written, 3);
        assert_eq!(rows(&status(&app).blind_index), vec![(1, 2), (2, 4)]);
        let refused = app.vault.retire_blind_index(1).unwrap_err().to_string();
        assert!(refused.contains("still indexes 2"), "{refused}");
        check_all(&app, &people, &ids, "half reindexed");

        assert_eq!(reindex(&app, JobOptions::default()).written, 2);
        app.vault.retire_blind_index(1).unwrap();
        app.wait_for_key_reload();
        assert_eq!(rows(&status(&app).blind_index), vec![(2, 6)]);
        check_all(&app, &people, &ids, "after retiring v1");
        for id in &ids {
            assert_eq!(app.get(&format!("/users/{id}")).status, 200);
        }
    }
);

on_backends_and_providers!(
    shredded_user_opens_from_no_copy_with_any_remaining_key,
    |setup| {
        let dir = tempfile::tempdir().unwrap();
        let keystore_url = TestApp::new_database_url(setup.backend, dir.path(), "keystore.sqlite3");
        let app = TestApp::spawn_with(setup, |settings| {
            settings.keystore_url = Some(keystore_url.clone());
        });
        let victim = app.register(&new_user_payload(&unique_email()));
        let others: Vec<Uuid> = (0..3)
            .map(|_| app.register(&new_user_payload(&unique_email())))
            .collect();
        // A master rotation in between: remaining keys sit under two versions.
        app.vault.rotate_master().unwrap();
        let survivor = app.register(&new_user_payload(&unique_email()));

        // The data database holds no key at all: its backups cannot open anything.
        let keys_in_main: i64 = keys_table::table
            .count()
            .get_result(&mut **app.connection())
            .unwrap();
        assert_eq!(keys_in_main, 0, "no data key in the data database");

        // The copy of the data (and of a file object) taken before the delete.
        let copy: UserRow = users::table
            .filter(users::id.eq(victim.as_bytes().to_vec()))
            .select(UserRow::as_select())
            .first(&mut **app.connection())
            .unwrap();
        assert_eq!(app.get(&format!("/users/{victim}")).status, 200);

        assert_eq!(app.delete(&format!("/users/{victim}")).status, 204);
        app.get(&format!("/users/{victim}"))
            .assert_error(404, "not_found", "shredded user");
        assert!(data_keys::find(&mut app.key_connection(), victim.into())
            .unwrap()
            .is_none());
        assert!(
            data_keys::find(&mut app.key_connection(), survivor.into())
                .unwrap()
                .is_some(),
            "the survivor keeps its key"
        );

        // Every key that remains, under every master version, opens nothing of the copy.
        let keys = app.fresh_keys();
        let remaining: Vec<(Vec<u8>, Vec<u8>)> = keys_table::table
            .select((keys_table::user_id, keys_table::wrapped_key))
            .load(&mut **app.key_connection())
            .unwrap();
        assert_eq!(remaining.len(), 4);
        let sealed = [
            ("first_name", copy.first_name.clone()),
            ("last_name", copy.last_name.clone()),
            ("email", copy.email.clone()),
            ("phone", copy.phone.clone().unwrap()),
            ("national_id", copy.national_id.clone().unwrap()),
            ("address", copy.address.clone().unwrap()),
        ];
        let mut attempts = 0;
        for (owner, wrapped) in &remaining {
            let owner = Uuid::from_slice(owner).unwrap();
            let wrapped = WrappedDataKey::from_bytes(wrapped.clone());
            // Bound to the victim's id instead of its owner's, the key does not unwrap.
            assert!(keys.master.unwrap(victim, &wrapped).is_err());
            let data_key = keys.master.unwrap(owner, &wrapped).unwrap();
            for (column, bytes) in &sealed {
                attempts += 1;
                let context = FieldContext::new("users", column, victim);
                assert!(
                    SealedField::from_bytes(bytes.clone())
                        .open(&data_key, context)
                        .is_err(),
                    "{column} of the shredded user opened with {owner}'s key"
                );
            }
        }
        assert_eq!(attempts, 4 * sealed.len());
        // The copy's own bytes are intact: what protects them is the missing key.
        assert!(SealedField::from_bytes(copy.email.clone()).as_bytes().len() > 28);

        for id in others.iter().chain([&survivor]) {
            assert_eq!(
                app.get(&format!("/users/{id}")).status,
                200,
                "others stay readable"
            );
        }
        // A second delete: nothing left.
        app.delete(&format!("/users/{victim}"))
            .assert_error(404, "not_found", "second delete");
        // The split path keeps the duplicate check and cleans up the refused user's key.
        let payload = new_user_payload(&unique_email());
        app.register(&payload);
        app.post_user(&payload)
            .assert_error(409, "conflict", "duplicate with a key store");
        let keys_now: i64 = keys_table::table
            .count()
            .get_result(&mut **app.key_connection())
            .unwrap();
        assert_eq!(keys_now, 5, "the refused registration left no key behind");
    }
);

on_backends_and_providers!(keys_and_users_commands, |setup| {
    let dir = tempfile::tempdir().unwrap();
    let keystore_url = TestApp::new_database_url(setup.backend, dir.path(), "keystore.sqlite3");
    let app = TestApp::spawn_with(setup, |settings| {
        settings.keystore_url = Some(keystore_url.clone());
    });
    let emails: Vec<String> = (0..3).map(|_| unique_email()).collect();
    let ids: Vec<Uuid> = emails
        .iter()
        .map(|email| app.register(&new_user_payload(email)))
        .collect();

    let rotated = app.cli_ok(&["keys", "rotate-master", "--max-rows", "1"]);
    assert!(rotated.contains("version 2 is now active"), "{rotated}");
    assert!(
        rotated.contains("1 written") && rotated.contains("2 left"),
        "{rotated}"
    );
    let status: Value = serde_json::from_str(&app.cli_ok(&["keys", "status", "--json"])).unwrap();
    assert_eq!(status["master"][0]["rows"], 2);
    assert_eq!(status["master"][1]["rows"], 1);
    assert_eq!(status["master"][1]["active"], true);
    assert_eq!(status["jwe_kids"].as_array().unwrap().len(), 2);
    let refused = app.cli_refused(&["keys", "retire-master", "--version", "1"]);
    assert!(refused.contains("still wraps 2"), "{refused}");
    assert!(app.cli_ok(&["keys", "rewrap"]).contains("2 written"));
    app.cli_ok(&["keys", "retire-master", "--version", "1"]);
    let text = app.cli_ok(&["keys", "status"]);
    assert!(text.contains("retired: v1"), "{text}");

    // Reindexing reads the data keys from the separate store.
    let reindexed = app.cli_ok(&["keys", "rotate-blind-index"]);
    assert!(
        reindexed.contains("3 written") && reindexed.contains("0 left"),
        "{reindexed}"
    );
    app.cli_ok(&["keys", "retire-blind-index", "--version", "1"]);
    app.wait_for_key_reload();
    for (email, id) in emails.iter().zip(&ids) {
        assert_eq!(lookup(&app, "email", email), vec![*id]);
    }

    let jwks: Value = serde_json::from_str(&app.cli_ok(&["keys", "export-public"])).unwrap();
    assert_eq!(kids_of(&jwks).len(), 2);
    assert!(jwks["keys"][0].get("d").is_none(), "public halves only");
    let added = app.cli_ok(&["keys", "rotate-jwe", "--kind", "p256"]);
    let jwks: Value = serde_json::from_str(&app.cli_ok(&["keys", "export-public"])).unwrap();
    assert_eq!(kids_of(&jwks).len(), 3, "{added}");
    let old_kid = jwks["keys"][0]["kid"].as_str().unwrap().to_owned();
    app.cli_ok(&["keys", "retire-jwe", "--kid", &old_kid]);
    assert!(!app.cli_ok(&["keys", "export-public"]).contains(&old_kid));

    let shredded = ids[0].to_string();
    app.cli_ok(&["users", "shred", &shredded]);
    app.get(&format!("/users/{shredded}"))
        .assert_error(404, "not_found", "shredded by the CLI");
    assert!(app
        .cli_refused(&["users", "shred", &shredded])
        .contains("no user"));
    assert!(app
        .cli_refused(&["users", "shred", "not-a-uuid"])
        .contains("not a UUID"));
    app.wait_for_key_reload();
    for id in &ids[1..] {
        assert_eq!(app.get(&format!("/users/{id}")).status, 200);
    }
});

on_backends_and_providers!(two_rewrap_jobs_at_once_write_each_key_once, |setup| {
    let app = Arc::new(TestApp::spawn(setup));
    let ids: Vec<Uuid> = (0..12)
        .map(|_| app.register(&new_user_payload(&unique_email())))
        .collect();
    app.vault.rotate_master().unwrap();
    let jobs: Vec<_> = (0..2)
        .map(|_| {
            let app = Arc::clone(&app);
            std::thread::spawn(move || {
                rewrap(
                    &app,
                    JobOptions {
                        batch_size: 2,
                        max_rows: None,
                    },
                )
            })
        })
        .collect();
    let written: u64 = jobs
        .into_iter()
        .map(|job| job.join().unwrap().written)
        .sum();
    assert_eq!(written, 12, "every key written by exactly one of the jobs");
    assert_eq!(rows(&status(&app).master), vec![(1, 0), (2, 12)]);
    for id in &ids {
        assert_eq!(app.get(&format!("/users/{id}")).status, 200);
    }
});

#[test]
fn sighup_reloads_keys_at_once() {
    // No interval reload within the test's lifetime: only the signal can do it.
    let app = TestApp::spawn_with(crate::support::Backend::Sqlite, |settings| {
        settings.key_reload_interval = Duration::from_secs(3600);
    });
    let added = rotate::rotate_jwe(&app.keys_dir, rotate::JweKind::P256).unwrap();
    assert!(!jwks_kids(&app).contains(&added.kid), "not reloaded yet");
    let status = std::process::Command::new("kill")
        .args(["-HUP", &std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    wait_for("SIGHUP to publish the new kid", || {
        jwks_kids(&app).contains(&added.kid)
    });
}

/// A user row's (phone, national id, email) indexes as stored.
type StoredIndexes = (Option<Vec<u8>>, Option<Vec<u8>>, Vec<u8>);

on_both_backends!(
    truncated_phone_and_national_id_indexes_find_the_person_and_no_one_else,
    |backend| {
        let app = TestApp::spawn(backend);
        // 16 users expected: 4 bits, 16 index values for 17 people below, so at
        // least two share a phone index and two a national-id index.
        let rotated = app.cli_ok(&["keys", "rotate-blind-index", "--population", "16"]);
        assert!(
            rotated.contains("phone indexes of version 2 keep 4 bits"),
            "{rotated}"
        );
        app.wait_for_key_reload();
        let people: Vec<(String, String, String, Uuid)> = (0..17)
            .map(|number| {
                let email = unique_email();
                let phone = format!("+2547{:08}", 10_000_000 + number * 7919);
                let national_id = format!("{}", 30_000_000 + number * 104_729);
                let mut payload = new_user_payload(&email);
                payload["phone"] = phone.clone().into();
                payload["national_id"] = national_id.clone().into();
                let id = app.register(&payload);
                (email, phone, national_id, id)
            })
            .collect();

        let stored: Vec<StoredIndexes> = users::table
            .select((
                users::phone_index,
                users::national_id_index,
                users::email_index,
            ))
            .load(&mut **app.connection())
            .unwrap();
        let mut phones: Vec<Vec<u8>> = Vec::new();
        for (phone, national_id, email) in stored {
            let (phone, national_id) = (phone.unwrap(), national_id.unwrap());
            assert_eq!((phone.len(), national_id.len()), (1, 1), "4 bits: one byte");
            assert_eq!(phone[0] & 0x0f, 0, "the bits past 4 are zero");
            assert_eq!(email.len(), 32, "email keeps its full index");
            phones.push(phone);
        }
        phones.sort();
        phones.dedup();
        assert!(phones.len() < 17, "some people share a phone index value");

        for (email, phone, national_id, id) in &people {
            assert_eq!(lookup(&app, "phone", phone), vec![*id], "by phone");
            assert_eq!(lookup(&app, "national_id", national_id), vec![*id], "by id");
            assert_eq!(lookup(&app, "email", email), vec![*id], "by email");
        }
        // The audit counts the users returned, not the candidates opened.
        let audit = app.get("/audit?limit=1").json();
        assert_eq!(audit["entries"][0]["users_read"], 1, "{audit}");
        // An email stays unique: its index is whole.
        app.post_user(&new_user_payload(&people[0].0)).assert_error(
            409,
            "conflict",
            "duplicate email",
        );
    }
);
