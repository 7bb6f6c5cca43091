//! Transactions over HTTP: idempotent posting, batches all or nothing, paginated
//! listing, and the bad-input table (each case with the status and code docs/http.md gives).

use serde_json::{json, Value};
use uuid::Uuid;

use crate::on_both_backends;
use crate::support::{new_user_payload, unique_email, TestApp};

/// A bad-input case: name, path, payload, status, code, field named in `fields`.
type Case<'a> = (&'a str, String, Value, u16, &'a str, Option<&'a str>);

pub fn transaction(reference: &str, occurred_at: &str, details: &str, amount: &str) -> Value {
    json!({"reference": reference, "occurred_at": occurred_at, "details": details,
           "amount": amount})
}

on_both_backends!(a_reference_is_idempotent_per_user, |backend| {
    let app = TestApp::spawn(backend);
    let user = app.register(&new_user_payload(&unique_email()));
    let path = format!("/users/{user}/transactions");
    let payment = transaction(
        "QFT3XYZ12A",
        "2026-11-01T09:30:00+03:00",
        "Paid to Mama Mboga",
        "-1250.00",
    );
    let first = app.post_jwe(&path, &payment);
    assert_eq!(
        first.status,
        201,
        "{}",
        String::from_utf8_lossy(&first.body)
    );
    let id = first.json()["id"].as_str().unwrap().to_owned();

    let again = app.post_jwe(&path, &payment);
    assert_eq!(again.status, 200, "same reference, same content");
    assert_eq!(again.json()["id"], id.as_str(), "the existing id");

    let mut changed = payment.clone();
    changed["amount"] = json!("-1250.01");
    app.post_jwe(&path, &changed)
        .assert_error(409, "conflict", "same reference, other content");

    // Another user may use the same receipt number.
    let other = app.register(&new_user_payload(&unique_email()));
    let reply = app.post_jwe(&format!("/users/{other}/transactions"), &payment);
    assert_eq!(reply.status, 201, "references are unique per user only");
    assert_ne!(reply.json()["id"], id.as_str());

    let listing = app.get(&format!("{path}?from=2026-11-01&to=2026-11-30"));
    assert_eq!(listing.status, 200);
    let body = listing.json();
    let items = body["transactions"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{body}");
    assert_eq!(items[0]["id"], id.as_str());
    assert_eq!(items[0]["reference"], "QFT3XYZ12A");
    assert_eq!(items[0]["amount"], "-1250.00");
    assert_eq!(items[0]["currency"], "KES");
    assert_eq!(items[0]["details"], "Paid to Mama Mboga");
    assert_eq!(items[0]["occurred_at"], "2026-11-01T06:30:00.000000Z");
    assert_eq!(body["next"], Value::Null);

    // Rotating every key the service has must not make a replay look new: that would
    // record the same payment twice.
    piivault::keys::rotate::rotate_blind_index(&app.keys_dir, &[]).unwrap();
    app.vault.rotate_master().unwrap();
    app.wait_for_key_reload();
    let after_rotation = app.post_jwe(&path, &payment);
    assert_eq!(after_rotation.status, 200, "replay after key rotation");
    assert_eq!(after_rotation.json()["id"], id.as_str());
});

on_both_backends!(
    batches_are_all_or_nothing_and_listing_pages_through,
    |backend| {
        let app = TestApp::spawn(backend);
        let user = app.register(&new_user_payload(&unique_email()));
        let batch = |items: Vec<Value>| {
            app.post_jwe(
                &format!("/users/{user}/transactions/batch"),
                &json!({ "transactions": items }),
            )
        };
        let items: Vec<Value> = (1..=5)
            .map(|n| {
                transaction(
                    &format!("R{n}"),
                    &format!("2026-11-0{n}T10:00:00Z"),
                    &format!("payment {n}"),
                    "100.00",
                )
            })
            .collect();
        let reply = batch(items.clone());
        assert_eq!(
            reply.status,
            201,
            "{}",
            String::from_utf8_lossy(&reply.body)
        );
        let body = reply.json();
        assert_eq!(body["created"], 5);
        assert_eq!(body["ids"].as_array().unwrap().len(), 5);

        let again = batch(items.clone());
        assert_eq!(again.status, 200, "every reference already recorded");
        assert_eq!(again.json()["existing"], 5);
        assert_eq!(again.json()["ids"], body["ids"]);

        // One conflicting item sinks the whole batch: R6 must not be stored.
        let mut conflicting = items[0].clone();
        conflicting["details"] = json!("something else");
        let fresh = transaction("R6", "2026-11-06T10:00:00Z", "payment 6", "100.00");
        batch(vec![fresh, conflicting]).assert_error(409, "conflict", "batch with a conflict");

        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..10 {
            let mut path =
                format!("/users/{user}/transactions?from=2026-11-01&to=2026-11-30&limit=2");
            if let Some(cursor) = &cursor {
                path = format!("{path}&cursor={cursor}");
            }
            let page = app.get(&path);
            assert_eq!(page.status, 200, "{}", String::from_utf8_lossy(&page.body));
            let page = page.json();
            for item in page["transactions"].as_array().unwrap() {
                seen.push(item["reference"].as_str().unwrap().to_owned());
            }
            match page["next"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        assert_eq!(seen, ["R1", "R2", "R3", "R4", "R5"], "in order, R6 absent");

        let empty = app.get(&format!(
            "/users/{user}/transactions?from=2026-10-01&to=2026-10-31"
        ));
        assert_eq!(empty.json()["transactions"], json!([]));
        // The widest period there is finds them too (SQLite once sorted its end, in
        // the year 10000, before everything).
        let everything = app.get(&format!(
            "/users/{user}/transactions?from=0000-01-01&to=9999-12-31"
        ));
        assert_eq!(
            everything.json()["transactions"].as_array().unwrap().len(),
            5,
            "{}",
            everything.json()
        );
    }
);

on_both_backends!(
    bad_transaction_input_gets_the_documented_errors,
    |backend| {
        let app = TestApp::spawn(backend);
        let user = app.register(&new_user_payload(&unique_email()));
        let one = format!("/users/{user}/transactions");
        let batch = format!("/users/{user}/transactions/batch");
        let good = transaction("R1", "2026-11-01T10:00:00Z", "payment", "100.00");
        let with = |field: &str, value: Value| {
            let mut changed = good.clone();
            changed[field] = value;
            changed
        };
        let cases: Vec<Case<'_>> = vec![
            (
                "too many decimals",
                one.clone(),
                with("amount", json!("1.234")),
                422,
                "validation_failed",
                Some("amount"),
            ),
            (
                "amount not a number",
                one.clone(),
                with("amount", json!("twelve")),
                422,
                "validation_failed",
                Some("amount"),
            ),
            (
                "amount as a JSON number",
                one.clone(),
                with("amount", json!(12.5)),
                422,
                "validation_failed",
                Some("amount"),
            ),
            (
                "decimals in a currency without minor units",
                one.clone(),
                with("currency", json!("UGX")),
                422,
                "validation_failed",
                Some("amount"),
            ),
            (
                "unknown currency",
                one.clone(),
                with("currency", json!("XYZ")),
                422,
                "validation_failed",
                Some("currency"),
            ),
            (
                "invalid timestamp",
                one.clone(),
                with("occurred_at", json!("2026-13-01")),
                422,
                "validation_failed",
                Some("occurred_at"),
            ),
            (
                "unknown field",
                one.clone(),
                with("colour", json!("red")),
                422,
                "validation_failed",
                Some("(unknown)"),
            ),
            (
                "missing reference",
                one.clone(),
                json!({"occurred_at":"2026-11-01T10:00:00Z","details":"x","amount":"1.00"}),
                422,
                "validation_failed",
                Some("reference"),
            ),
            (
                "batch of 1,001",
                batch.clone(),
                json!({ "transactions": vec![good.clone(); 1001] }),
                422,
                "validation_failed",
                Some("transactions"),
            ),
            (
                "batch item invalid",
                batch.clone(),
                json!({ "transactions": [good.clone(), with("amount", json!("1.2.3"))] }),
                422,
                "validation_failed",
                Some("transactions[1].amount"),
            ),
            (
                "batch not an array",
                batch.clone(),
                json!({ "transactions": {} }),
                422,
                "validation_failed",
                Some("transactions"),
            ),
            (
                "unknown user",
                format!("/users/{}/transactions", Uuid::new_v4()),
                good.clone(),
                404,
                "not_found",
                None,
            ),
            (
                "unknown user, batch",
                format!("/users/{}/transactions/batch", Uuid::new_v4()),
                json!({ "transactions": [good.clone()] }),
                404,
                "not_found",
                None,
            ),
            (
                "bad path id",
                "/users/nope/transactions".to_owned(),
                good.clone(),
                400,
                "invalid_id",
                None,
            ),
        ];
        for (case, path, payload, status, code, field) in cases {
            let reply = app.post_jwe(&path, &payload);
            reply.assert_error(status, code, case);
            if let Some(field) = field {
                assert!(
                    reply.json()["fields"][field].is_string(),
                    "{case}: fields.{field} in {}",
                    reply.json()
                );
            }
        }
        // Nothing above was stored.
        let listing = app.get(&format!("{one}?from=2026-11-01&to=2026-11-30"));
        assert_eq!(listing.json()["transactions"], json!([]));

        for (case, query, field) in [
            ("from after to", "from=2026-11-30&to=2026-11-01", "from"),
            ("invalid from", "from=2026-02-30&to=2026-03-01", "from"),
            ("invalid to", "from=2026-02-01&to=tomorrow", "to"),
            ("limit 0", "limit=0", "limit"),
            ("limit too big", "limit=100000", "limit"),
            ("bad cursor", "cursor=abc", "cursor"),
            ("unknown parameter", "colour=red", "(unknown)"),
        ] {
            let reply = app.get(&format!("{one}?{query}"));
            reply.assert_error(422, "validation_failed", case);
            assert!(reply.json()["fields"][field].is_string(), "{case}");
        }
        app.get(&format!("/users/{}/transactions", Uuid::new_v4()))
            .assert_error(404, "not_found", "listing for an unknown user");

        // Scopes: reading needs users:read, writing users:write.
        let reader = app.create_client("reader", &[piivault::access::Scope::UsersRead]);
        let reply = app.post_as(
            &one,
            Some(&reader),
            "application/jose",
            app.jwe(&good).as_bytes(),
        );
        reply.assert_error(403, "forbidden", "posting without users:write");
        let writer = app.create_client("writer", &[piivault::access::Scope::UsersWrite]);
        app.get_as(&one, Some(&writer)).assert_error(
            403,
            "forbidden",
            "listing without users:read",
        );
    }
);

on_both_backends!(
    concurrent_posts_of_one_reference_record_it_once,
    |backend| {
        let app = TestApp::spawn_with(backend, |settings| settings.workers = Some(4));
        let user = app.register(&new_user_payload(&unique_email()));
        let path = format!("/users/{user}/transactions/batch");
        // Each request: the shared reference plus one of its own.
        let bodies: Vec<String> = (0..8)
            .map(|n| {
                app.jwe(&json!({ "transactions": [
                    transaction("SHARED", "2026-11-01T10:00:00Z", "same for all", "100.00"),
                    transaction(&format!("OWN{n}"), "2026-11-02T10:00:00Z", "own", "1.00"),
                ]}))
            })
            .collect();
        let replies: Vec<(u16, Value)> = std::thread::scope(|scope| {
            let handles: Vec<_> = bodies
                .iter()
                .map(|body| {
                    let (app, path) = (&app, &path);
                    scope.spawn(move || {
                        let reply = app.post_as(
                            path,
                            Some(&app.token),
                            "application/jose",
                            body.as_bytes(),
                        );
                        (reply.status, reply.json())
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|handle| handle.join().unwrap())
                .collect()
        });
        for (status, body) in &replies {
            assert_eq!(*status, 201, "every request recorded its own item: {body}");
        }
        let shared_ids: std::collections::HashSet<&str> = replies
            .iter()
            .map(|(_, body)| body["ids"][0].as_str().unwrap())
            .collect();
        assert_eq!(shared_ids.len(), 1, "one id for the shared reference");
        let listing = app.get(&format!(
            "/users/{user}/transactions?from=2026-11-01&to=2026-11-30"
        ));
        assert_eq!(
            listing.json()["transactions"].as_array().unwrap().len(),
            9,
            "the shared reference once, eight own ones"
        );
    }
);
