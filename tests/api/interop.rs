//! An independent JOSE implementation (Python jwcrypto) encrypts to our published
//! JWKS; the server must accept every algorithm and serialization we advertise.

use std::process::Command;

use crate::on_both_backends;
use crate::support::{new_user_payload, unique_email, TestApp};

on_both_backends!(jwcrypto_tokens_are_accepted, |backend| {
    let app = TestApp::spawn(backend);
    let dir = tempfile::tempdir().unwrap();
    let jwks_path = dir.path().join("jwks.json");
    std::fs::write(&jwks_path, &app.get_as("/.well-known/jwks.json", None).body).unwrap();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/interop/jwcrypto_encrypt.py"
    );
    for alg in ["RSA-OAEP-256", "RSA-OAEP", "ECDH-ES+A256KW"] {
        for (serialization, content_type) in [
            ("compact", "application/jose"),
            ("flattened", "application/jose+json"),
            ("general", "application/jose+json"),
        ] {
            let payload = new_user_payload(&unique_email());
            let plaintext_path = dir.path().join("payload.json");
            std::fs::write(&plaintext_path, payload.to_string()).unwrap();
            let output = Command::new("python3")
                .arg(script)
                .arg(&jwks_path)
                .args([alg, serialization])
                .arg(&plaintext_path)
                .output()
                .expect("python3 runs");
            assert!(
                output.status.success(),
                "jwcrypto failed (install it: scripts/install-test-deps): {}",
                String::from_utf8_lossy(&output.stderr)
            );
            let reply = app.post_as(
                "/users",
                Some(&app.token),
                content_type,
                output.stdout.trim_ascii(),
            );
            assert_eq!(
                reply.status,
                201,
                "{alg} {serialization}: {}",
                String::from_utf8_lossy(&reply.body)
            );
            let id = reply.json()["id"].as_str().unwrap().to_owned();
            assert_eq!(
                app.get(&format!("/users/{id}")).json()["email"],
                payload["email"]
            );
        }
    }
});
