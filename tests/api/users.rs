//! The main path: register, read back, delete; compatibility routes; JWKS.

use piivault::config::PublicUrl;
use serde_json::{json, Value};

use crate::support::{new_user_payload, unique_email, TestApp};
use crate::{on_backends_and_providers, on_both_backends};

on_backends_and_providers!(register_read_and_delete, |setup| {
    let app = TestApp::spawn(setup);
    let email = unique_email();
    let reply = app.post_user(&new_user_payload(&email));
    assert_eq!(
        reply.status,
        201,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let created = reply.json();
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(created["created_at"].as_str().unwrap().ends_with('Z'));

    let user = app.get(&format!("/users/{id}")).json();
    let expected = new_user_payload(&email);
    for field in [
        "first_name",
        "last_name",
        "email",
        "phone",
        "national_id",
        "date_of_birth",
        "address",
    ] {
        assert_eq!(user[field], expected[field], "field {field}");
    }
    assert_eq!(user["id"], id.as_str());
    assert_eq!(user["created_at"], created["created_at"]);
    assert!(user["updated_at"].is_string());

    assert_eq!(
        app.get(&format!("/get-user/{id}")).json(),
        user,
        "compat route"
    );

    assert_eq!(app.delete(&format!("/users/{id}")).status, 204);
    app.get(&format!("/users/{id}"))
        .assert_error(404, "not_found", "after delete");
    app.delete(&format!("/users/{id}"))
        .assert_error(404, "not_found", "second delete");
    // The email is free again once the user is gone.
    assert_eq!(app.post_user(&new_user_payload(&email)).status, 201);
});

on_backends_and_providers!(optional_fields_may_be_absent, |setup| {
    let app = TestApp::spawn(setup);
    let email = unique_email();
    let id = app.register(&json!({"first_name":"Zoë","last_name":"Ωmega","email":email}));
    let user = app.get(&format!("/users/{id}")).json();
    assert_eq!(user["first_name"], "Zoë");
    assert_eq!(user["last_name"], "Ωmega");
    assert_eq!(user["phone"], Value::Null);
    assert_eq!(user["national_id"], Value::Null);
});

on_both_backends!(
    register_user_compat_accepts_every_serialization,
    |backend| {
        let app = TestApp::spawn(backend);
        let payload = new_user_payload(&unique_email());
        let flattened = app
            .keys
            .jwe
            .encrypt_flattened(payload.to_string().as_bytes())
            .unwrap();
        let reply = app.post_as(
            "/register-user",
            Some(&app.token),
            "application/jose+json",
            flattened.as_bytes(),
        );
        assert_eq!(
            reply.status,
            201,
            "{}",
            String::from_utf8_lossy(&reply.body)
        );
        let body = reply.json();
        assert_eq!(body["status"], "success");
        let id = body["id"].as_str().unwrap();
        assert_eq!(
            app.get(&format!("/get-user/{id}")).json()["email"],
            payload["email"]
        );

        for alg in ["RSA-OAEP-256", "RSA-OAEP", "ECDH-ES+A256KW"] {
            let payload = new_user_payload(&unique_email());
            let token = app
                .keys
                .jwe
                .encrypt_compact(payload.to_string().as_bytes(), alg)
                .unwrap();
            let reply = app.post_as(
                "/users",
                Some(&app.token),
                "application/jose",
                token.as_bytes(),
            );
            assert_eq!(
                reply.status,
                201,
                "{alg}: {}",
                String::from_utf8_lossy(&reply.body)
            );
        }
        // application/json is accepted for the JSON serialization too (docs/http.md).
        let payload = new_user_payload(&unique_email());
        let flattened = app
            .keys
            .jwe
            .encrypt_flattened(payload.to_string().as_bytes())
            .unwrap();
        assert_eq!(
            app.post_as(
                "/users",
                Some(&app.token),
                "application/json",
                flattened.as_bytes()
            )
            .status,
            201
        );
    }
);

on_both_backends!(encrypt_data_round_trips_in_dev_mode, |backend| {
    let app = TestApp::spawn(backend);
    let payload = new_user_payload(&unique_email());
    let reply = app.post_as(
        "/encrypt-data",
        Some(&app.token),
        "application/json",
        payload.to_string().as_bytes(),
    );
    assert_eq!(reply.status, 200);
    let jwe = reply.json();
    assert!(
        jwe["protected"].is_string() && jwe["ciphertext"].is_string(),
        "flattened JSON JWE"
    );
    let reply = app.post_as(
        "/register-user",
        Some(&app.token),
        "application/jose+json",
        &reply.body,
    );
    assert_eq!(reply.status, 201);
});

on_both_backends!(encrypt_data_does_not_exist_in_production, |backend| {
    let app = TestApp::spawn_with(backend, |settings| {
        settings.dev = false;
        settings.public_url = Some(PublicUrl::parse("https://vault.example").unwrap());
    });
    let reply = app.post_as("/encrypt-data", Some(&app.token), "application/json", b"{}");
    reply.assert_error(404, "not_found", "/encrypt-data without --dev");
});

on_both_backends!(jwks_serves_public_keys_only, |backend| {
    let app = TestApp::spawn(backend);
    let reply = app.get_as("/.well-known/jwks.json", None);
    assert_eq!(reply.status, 200);
    let jwks = reply.json();
    let keys = jwks["keys"].as_array().unwrap();
    // The RSA key once per algorithm it accepts, the P-256 key once.
    assert_eq!(keys.len(), 3);
    for key in keys {
        assert_eq!(key["use"], "enc");
        assert!(key["kid"].is_string() && key["alg"].is_string());
        for private in ["d", "p", "q", "dp", "dq", "qi"] {
            assert!(
                key.get(private).is_none(),
                "private member {private} leaked"
            );
        }
    }
    let algs: Vec<&str> = keys.iter().map(|k| k["alg"].as_str().unwrap()).collect();
    assert_eq!(algs, ["ECDH-ES+A256KW", "RSA-OAEP-256", "RSA-OAEP"]);
});

on_both_backends!(health_and_readiness, |backend| {
    let app = TestApp::spawn(backend);
    let health = app.get_as("/healthz", None);
    assert_eq!(
        (health.status, health.json()),
        (200, json!({"status":"ok"}))
    );
    assert_eq!(app.get_as("/readyz", None).status, 200);
});

on_backends_and_providers!(concurrent_registrations_all_land, |setup| {
    let app = std::sync::Arc::new(TestApp::spawn(setup));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let app = app.clone();
            std::thread::spawn(move || {
                (0..5)
                    .map(|_| app.register(&new_user_payload(&unique_email())))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let ids: Vec<_> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    assert_eq!(ids.len(), 40);
    for id in ids {
        assert_eq!(app.get(&format!("/users/{id}")).status, 200);
    }
});
