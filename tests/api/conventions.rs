//! The HTTP conventions a load balancer, a proxy or a generated client relies on:
//! HEAD on every GET route, 405 with `Allow` for a known path and 404 for an unknown
//! one, the JSON error body on the framework's own errors, compressed bodies refused,
//! what the connection layer answers without a body, and a JWKS whose keys libraries
//! can use for every algorithm the server accepts.

use std::io::{Read as _, Write as _};
use std::time::Duration;

use josekit::jwe::{JweHeader, ECDH_ES_A256KW, RSA_OAEP, RSA_OAEP_256};
use josekit::jwk::Jwk;
use piivault::routes::operations;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::on_both_backends;
use crate::support::{new_user_payload, unique_email, Reply, TestApp};

/// Real values for every path parameter: a user with a file and a statement link.
struct Fixture {
    user: Uuid,
    file: String,
    token: String,
}

fn fixture(app: &TestApp) -> Fixture {
    let user = app.register(&new_user_payload(&unique_email()));
    let upload = app.post_as(
        &format!("/users/{user}/files?name=a.txt"),
        Some(&app.token),
        "text/plain",
        b"hello",
    );
    assert_eq!(upload.status, 201);
    let link = app.post_json(
        &format!("/users/{user}/statements"),
        &json!({"password": "national_id"}),
    );
    assert_eq!(link.status, 201);
    let url = link.json()["download_url"].as_str().unwrap().to_owned();
    Fixture {
        user,
        file: upload.json()["id"].as_str().unwrap().to_owned(),
        token: url.rsplit('/').next().unwrap().to_owned(),
    }
}

impl Fixture {
    fn path(&self, pattern: &str) -> String {
        pattern
            .replace("{id}", &self.user.to_string())
            .replace("{file_id}", &self.file)
            .replace("{token}", &self.token)
    }
}

fn send(app: &TestApp, method: &str, path: &str) -> Reply {
    let request = app.request(method, path, Some(&app.token));
    Reply::of(if matches!(method, "POST" | "PUT" | "PATCH") {
        request
            .set("Content-Type", "application/json")
            .send_bytes(b"{}")
    } else {
        request.call()
    })
}

on_both_backends!(head_answers_every_get_route_like_get, |backend| {
    let app = TestApp::spawn(backend);
    let fixture = fixture(&app);
    let gets: Vec<&str> = operations(true)
        .into_iter()
        .filter(|(method, _)| method.as_str() == "GET")
        .map(|(_, path)| path)
        .collect();
    assert!(gets.len() > 20, "{gets:?}");
    for pattern in gets {
        let path = fixture.path(pattern);
        let get = send(&app, "GET", &path);
        let head = send(&app, "HEAD", &path);
        assert_eq!(get.status, 200, "GET {pattern}");
        assert_eq!(head.status, get.status, "HEAD {pattern}");
        assert!(head.body.is_empty(), "HEAD {pattern} has no body");
        assert_eq!(
            head.header("Content-Type"),
            get.header("Content-Type"),
            "HEAD {pattern}"
        );
    }
});

on_both_backends!(
    a_wrong_method_is_405_with_allow_and_an_unknown_path_404,
    |backend| {
        let app = TestApp::spawn(backend);
        let fixture = fixture(&app);
        let mut by_path: Vec<(&str, Vec<String>)> = Vec::new();
        for (method, path) in operations(true) {
            let method = method.as_str().to_owned();
            match by_path.iter_mut().find(|(known, _)| *known == path) {
                Some((_, methods)) => methods.push(method),
                None => by_path.push((path, vec![method])),
            }
        }
        for (pattern, mut allowed) in by_path {
            if allowed.iter().any(|method| method == "GET") {
                allowed.push("HEAD".to_owned());
            }
            let path = fixture.path(pattern);
            for method in ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] {
                if allowed.iter().any(|allowed| allowed == method) {
                    continue;
                }
                let reply = send(&app, method, &path);
                assert_eq!(reply.status, 405, "{method} {pattern}");
                let mut listed: Vec<String> = reply
                    .header("Allow")
                    .unwrap_or_else(|| panic!("{method} {pattern}: Allow"))
                    .split(',')
                    .map(|method| method.trim().to_owned())
                    .collect();
                listed.sort_unstable();
                let mut expected = allowed.clone();
                expected.sort_unstable();
                assert_eq!(listed, expected, "{method} {pattern}: Allow");
                if method != "HEAD" {
                    reply.assert_error(405, "method_not_allowed", &format!("{method} {pattern}"));
                }
            }
        }
        for method in ["GET", "POST", "DELETE", "PUT"] {
            send(&app, method, "/no/such/path").assert_error(404, "not_found", method);
            send(&app, method, &format!("/users/{}/nothing", fixture.user)).assert_error(
                404,
                "not_found",
                method,
            );
        }
    }
);

on_both_backends!(framework_errors_carry_the_json_body, |backend| {
    let app = TestApp::spawn(backend);
    // Path segments that do not decode to text.
    app.get("/users/%FF%FE")
        .assert_error(400, "invalid_id", "undecodable user id");
    app.get_as("/statements/download/%FF%FE", None)
        .assert_error(404, "not_found", "undecodable link token");
    app.get("/users/%FF/files/%FE")
        .assert_error(400, "invalid_id", "undecodable file path");
});

/// Users whose email is `email` (an exact search).
fn users_with_email(app: &TestApp, email: &str) -> u64 {
    let reply = app.get(&format!(
        "/users?email={}",
        crate::support::encode_query(email)
    ));
    assert_eq!(reply.status, 200);
    reply.json()["total"].as_u64().unwrap()
}

on_both_backends!(a_compressed_body_is_refused_with_415, |backend| {
    let app = TestApp::spawn(backend);
    let email = unique_email();
    let jwe = app.jwe(&new_user_payload(&email));
    for coding in ["gzip", "deflate", "br", "identity, gzip", "x-unknown"] {
        let reply = TestApp::send(
            app.request("POST", "/users", Some(&app.token))
                .set("Content-Type", "application/jose")
                .set("Content-Encoding", coding),
            Some(jwe.as_bytes()),
        );
        reply.assert_error(415, "unsupported_encoding", coding);
        assert_eq!(
            reply.header("Accept-Encoding"),
            Some("identity"),
            "{coding}"
        );
    }
    assert_eq!(users_with_email(&app, &email), 0, "nothing was written");
    // A file upload: no object either.
    let user = app.register(&new_user_payload(&unique_email()));
    let upload = TestApp::send(
        app.request(
            "POST",
            &format!("/users/{user}/files?name=a.txt"),
            Some(&app.token),
        )
        .set("Content-Type", "text/plain")
        .set("Content-Encoding", "gzip"),
        Some(b"\x1f\x8b not really"),
    );
    upload.assert_error(415, "unsupported_encoding", "upload");
    assert_eq!(
        std::fs::read_dir(app.data_dir.join("files"))
            .unwrap()
            .count(),
        0,
        "no object"
    );
    // `identity` is no coding at all.
    let plain = TestApp::send(
        app.request("POST", "/users", Some(&app.token))
            .set("Content-Type", "application/jose")
            .set("Content-Encoding", "identity"),
        Some(jwe.as_bytes()),
    );
    assert_eq!(
        plain.status,
        201,
        "{}",
        String::from_utf8_lossy(&plain.body)
    );
    assert_eq!(users_with_email(&app, &email), 1);
});

/// What the connection layer (actix-http) answers before any route or middleware
/// runs: a status and no body, then it closes the connection. README lists these.
#[test]
fn connection_level_errors_have_a_status_but_no_body() {
    let app = TestApp::spawn(crate::support::Backend::Sqlite);
    let address = app.base_url.trim_start_matches("http://").to_owned();
    let raw = |request: &[u8]| -> String {
        let mut socket = std::net::TcpStream::connect(&address).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        // The server may answer and close before it has read everything.
        let _ = socket.write_all(request);
        let mut answer = Vec::new();
        let _ = socket.read_to_end(&mut answer);
        String::from_utf8_lossy(&answer).into_owned()
    };
    let long_url = format!(
        "GET /{} HTTP/1.1\r\nHost: x\r\n\r\n",
        "a".repeat(100 * 1024)
    );
    let big_header = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(1024 * 1024)
    );
    let cases: [(&str, &[u8], &str); 4] = [
        (
            "two Content-Lengths",
            b"POST /users HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
            "HTTP/1.1 400 ",
        ),
        ("a 100 KB URL", long_url.as_bytes(), "HTTP/1.1 400 "),
        (
            "a 1 MB header",
            big_header.as_bytes(),
            "HTTP/1.1 431 ",
        ),
        ("a request line that is not HTTP", b"\x00\x01nonsense\r\n\r\n", "HTTP/1.1 400 "),
    ];
    for (case, request, status) in cases {
        let answer = raw(request);
        assert!(answer.starts_with(status), "{case}: {answer:.200}");
        assert!(
            answer
                .to_ascii_lowercase()
                .contains("content-length: 0\r\n"),
            "{case}: {answer:.200}"
        );
    }
    assert_eq!(app.get_as("/healthz", None).status, 200, "still serving");
}

on_both_backends!(
    every_published_jwk_encrypts_with_its_own_algorithm,
    |backend| {
        let app = TestApp::spawn(backend);
        let jwks = app.get_as("/.well-known/jwks.json", None).json();
        let keys = jwks["keys"].as_array().unwrap();
        let rsa: Vec<&Value> = keys.iter().filter(|key| key["kty"] == "RSA").collect();
        let algs: Vec<&str> = rsa.iter().map(|key| key["alg"].as_str().unwrap()).collect();
        assert_eq!(
            algs,
            ["RSA-OAEP-256", "RSA-OAEP"],
            "one entry per algorithm"
        );
        assert_eq!(rsa[0]["kid"], rsa[1]["kid"], "the same key");
        assert_eq!(rsa[0]["n"], rsa[1]["n"], "the same key");
        for key in keys {
            // josekit refuses a JWK for any algorithm but its `alg`: each entry must be
            // usable exactly as published.
            let jwk = Jwk::from_bytes(key.to_string().as_bytes()).unwrap();
            let alg = key["alg"].as_str().unwrap();
            let encrypter: Box<dyn josekit::jwe::JweEncrypter> = match alg {
                "RSA-OAEP-256" => Box::new(RSA_OAEP_256.encrypter_from_jwk(&jwk).unwrap()),
                "RSA-OAEP" => Box::new(RSA_OAEP.encrypter_from_jwk(&jwk).unwrap()),
                "ECDH-ES+A256KW" => Box::new(ECDH_ES_A256KW.encrypter_from_jwk(&jwk).unwrap()),
                other => panic!("unexpected alg {other}"),
            };
            let mut header = JweHeader::new();
            header.set_content_encryption("A256GCM");
            header.set_key_id(key["kid"].as_str().unwrap());
            let payload = new_user_payload(&unique_email());
            let jwe = josekit::jwe::serialize_compact(
                payload.to_string().as_bytes(),
                &header,
                encrypter.as_ref(),
            )
            .unwrap();
            let reply = app.post_as(
                "/users",
                Some(&app.token),
                "application/jose",
                jwe.as_bytes(),
            );
            assert_eq!(
                reply.status,
                201,
                "{alg}: {}",
                String::from_utf8_lossy(&reply.body)
            );
        }
        // The other way round is refused by the library, as the JWK says.
        let jwk = Jwk::from_bytes(rsa[0].to_string().as_bytes()).unwrap();
        assert!(RSA_OAEP.encrypter_from_jwk(&jwk).is_err());
    }
);

on_both_backends!(
    answers_with_personal_data_are_never_stored_by_caches,
    |backend| {
        let app = TestApp::spawn(backend);
        let fixture = fixture(&app);
        app.post_transactions(
        fixture.user,
        &[json!({"reference":"R1","occurred_at":"2026-01-02T03:04:05Z","details":"Paid","amount":"-10.00"})],
    );
        let mut replies: Vec<(String, Reply)> = [
            "/users/{id}",
            "/get-user/{id}",
            "/users",
            "/users/{id}/transactions?from=2026-01-01&to=2026-01-31",
            "/users/{id}/files",
            "/users/{id}/files/{file_id}",
            "/users/{id}/statement?from=2026-01-01&to=2026-01-31",
            "/statements/download/{token}",
        ]
        .into_iter()
        .map(|pattern| (pattern.to_owned(), app.get(&fixture.path(pattern))))
        .collect();
        let ranged = app
            .request(
                "GET",
                &fixture.path("/users/{id}/files/{file_id}"),
                Some(&app.token),
            )
            .set("Range", "bytes=0-1");
        replies.push(("a file range".to_owned(), TestApp::send(ranged, None)));
        replies.push((
            "/exports/users".to_owned(),
            app.post_jwe("/exports/users", &json!({})),
        ));
        replies.push((
            "/users/{id}/statements".to_owned(),
            app.post_json(
                &fixture.path("/users/{id}/statements"),
                &json!({"password": "national_id"}),
            ),
        ));
        for (case, reply) in replies {
            assert!(
                (200..300).contains(&reply.status),
                "{case}: {}",
                reply.status
            );
            assert_eq!(reply.header("Cache-Control"), Some("no-store"), "{case}");
        }
    }
);

on_both_backends!(every_location_names_a_resource_a_get_serves, |backend| {
    let app = TestApp::spawn(backend);
    let created_user = app.post_user(&new_user_payload(&unique_email()));
    let user = created_user.json()["id"].as_str().unwrap().to_owned();
    let created = [
        created_user,
        app.post_as(
            &format!("/users/{user}/files?name=a.txt"),
            Some(&app.token),
            "text/plain",
            b"hello",
        ),
        app.post_jwe(
            &format!("/users/{user}/transactions"),
            &json!({"reference":"R1","occurred_at":"2026-01-02T03:04:05Z","details":"Paid","amount":"-10.00"}),
        ),
    ];
    let mut located = 0;
    for reply in created {
        assert_eq!(reply.status, 201);
        if let Some(location) = reply.header("Location") {
            assert_eq!(app.get(location).status, 200, "Location: {location}");
            located += 1;
        }
    }
    assert_eq!(located, 2, "a user and a file name where they are served");
});
