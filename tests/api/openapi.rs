//! The OpenAPI document: it describes exactly the routes the server mounts, it is a
//! valid OpenAPI 3.1 document (openapi-spec-validator), docs/http.md names every path
//! in it, its page is served under the console's CSP, and an independent tool
//! (schemathesis) finds the running server true to it on both databases: no 5xx,
//! every status, header, media type and body as documented, 405 with `Allow` for
//! undocumented methods, invalid data and missing credentials refused, created
//! resources there (an upload, then the GET and DELETE of that file) and deleted ones
//! gone.

use std::collections::BTreeSet;
use std::process::Command;

use serde_json::{json, Value};
use uuid::Uuid;

use crate::on_both_backends;
use crate::support::{new_user_payload, unique_email, TestApp};

/// Generated cases per operation and phase: enough to walk every parameter, status and
/// media type the document names, small enough for CI (about 30 s per backend).
const EXAMPLES_PER_OPERATION: u32 = 20;

fn document() -> Value {
    serde_json::from_str(piivault::routes::openapi_document()).unwrap()
}

fn documented_operations(document: &Value) -> BTreeSet<(String, String)> {
    let mut operations = BTreeSet::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            operations.insert((method.to_ascii_uppercase(), path.clone()));
        }
    }
    operations
}

#[test]
fn the_document_describes_exactly_the_mounted_routes() {
    let mounted: BTreeSet<(String, String)> = piivault::routes::operations(true)
        .into_iter()
        .map(|(method, path)| (method.as_str().to_owned(), path.to_owned()))
        .collect();
    let documented = documented_operations(&document());
    let undocumented: Vec<_> = mounted.difference(&documented).collect();
    let unmounted: Vec<_> = documented.difference(&mounted).collect();
    assert!(
        undocumented.is_empty() && unmounted.is_empty(),
        "mounted but not in assets/docs/openapi.json: {undocumented:?}; documented but not mounted: {unmounted:?}"
    );
}

#[test]
fn every_operation_names_its_scope_and_its_error_shape() {
    let document = document();
    for (method, path) in documented_operations(&document) {
        let operation = &document["paths"][&path][method.to_ascii_lowercase()];
        let case = format!("{method} {path}");
        let security = operation["security"].as_array().expect(&case);
        match operation.get("x-scope") {
            Some(scope) => {
                assert_eq!(security, &vec![json!({"bearer": [scope]})], "{case}");
                assert!(scope
                    .as_str()
                    .unwrap()
                    .parse::<piivault::access::Scope>()
                    .is_ok());
                for status in ["401", "403"] {
                    assert!(
                        operation["responses"].get(status).is_some(),
                        "{case} {status}"
                    );
                }
            }
            None => assert!(security.is_empty(), "{case}: public"),
        }
        for status in ["422", "429", "500", "503"] {
            assert!(
                operation["responses"].get(status).is_some(),
                "{case} {status}"
            );
        }
        if let Some(body) = operation.get("requestBody") {
            let jwe = body["content"].get("application/jose").is_some();
            assert_eq!(
                jwe,
                body.get("x-jwe-payload").is_some(),
                "{case}: JWE payload schema"
            );
        }
    }
}

#[test]
fn http_md_names_every_documented_path() {
    let prose =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/http.md")).unwrap();
    for (method, path) in documented_operations(&document()) {
        assert!(
            prose.contains(&format!("`{method} {path}`"))
                || prose.contains(&format!("{method} {path}"))
                || prose.contains(&format!("`{path}`")),
            "docs/http.md does not name {method} {path}"
        );
    }
}

#[test]
fn openapi_spec_validator_accepts_the_served_document() {
    let app = TestApp::spawn(crate::support::Backend::Sqlite);
    let served = app.get_as("/openapi.json", None);
    assert_eq!(served.status, 200);
    assert_eq!(served.content_type, "application/json");
    let path = app.dir().join("openapi.json");
    std::fs::write(&path, &served.body).unwrap();
    let output = Command::new("openapi-spec-validator")
        .arg(&path)
        .output()
        .expect("openapi-spec-validator is missing: install it (scripts/install-test-deps)");
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    // The validator reads the version it is told: make sure it checked 3.1.
    assert_eq!(
        serde_json::from_slice::<Value>(&served.body).unwrap()["openapi"],
        "3.1.0"
    );
}

#[test]
fn the_reference_page_is_served_under_the_console_csp() {
    let app = TestApp::spawn(crate::support::Backend::Sqlite);
    let admin = app.get_as("/admin", None);
    for path in ["/docs", "/docs/docs.js", "/docs/docs.css"] {
        let page = app.get_as(path, None);
        assert_eq!(page.status, 200, "{path}");
        for header in [
            "Content-Security-Policy",
            "X-Content-Type-Options",
            "X-Frame-Options",
        ] {
            assert_eq!(page.header(header), admin.header(header), "{path} {header}");
        }
    }
    let html = String::from_utf8(app.get_as("/docs", None).body).unwrap();
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no CDN"
    );
    assert!(!html.contains("<script>"), "no inline script");
}

/// Real ids for the path parameters of the examples, coverage and fuzzing phases, so
/// schemathesis reaches the routes' logic and not only their 404s: a user with a file
/// and a statement link, and a second user and file for the deletes.
///
/// Not for the stateful phase: schemathesis applies these values after it follows a
/// link, over the link's, and counts them as taken from the link. A `deleteFile` pinned
/// to a file the fuzzing phase already deleted then answers 404 right after an upload,
/// and `ensure_resource_availability` reports the uploaded file as gone (ST302).
fn schemathesis_config(app: &TestApp, user: Uuid, token: &str) -> String {
    let victim = app.register(&new_user_payload(&unique_email()));
    let file = |name: &str| {
        let reply = app.post_as(
            &format!("/users/{user}/files?name={name}"),
            Some(&app.token),
            "text/plain",
            b"hello",
        );
        assert_eq!(reply.status, 201);
        reply.json()["id"].as_str().unwrap().to_owned()
    };
    let (kept, deleted) = (file("kept.txt"), file("deleted.txt"));
    format!(
        r#"[parameters]
"path.id" = "{user}"
"path.file_id" = "{kept}"
"path.token" = "{token}"

[[operations]]
include-operation-id = "deleteUser"
parameters = {{ "path.id" = "{victim}" }}

[[operations]]
include-operation-id = "deleteFile"
parameters = {{ "path.file_id" = "{deleted}" }}
"#
    )
}

/// The stateful phase's config: the user every upload and transaction goes to (no link
/// can give one: `POST /users` takes a JWE no generator writes), its own user to
/// delete, and no file id: the file routes get theirs from the upload's answer.
fn stateful_config(app: &TestApp, user: Uuid, token: &str) -> String {
    let victim = app.register(&new_user_payload(&unique_email()));
    format!(
        r#"[parameters]
"path.id" = "{user}"
"path.token" = "{token}"

[[operations]]
include-operation-id = "deleteUser"
parameters = {{ "path.id" = "{victim}" }}
"#
    )
}

/// A statement download link of `user`'s, with a transaction in its period.
fn statement_token(app: &TestApp, user: Uuid) -> String {
    app.post_transactions(
        user,
        &[json!({"reference":"R1","occurred_at":"2026-01-02T03:04:05Z","details":"Paid","amount":"-10.00"})],
    );
    let link = app.post_json(
        &format!("/users/{user}/statements"),
        &json!({"password": "national_id"}),
    );
    let url = link.json()["download_url"].as_str().unwrap().to_owned();
    url.rsplit('/').next().unwrap().to_owned()
}

/// Runs schemathesis's `phases` against `app` with `config`; its output if it passed.
fn schemathesis(app: &TestApp, config: &str, phases: &str) -> String {
    let path = app.dir().join(format!("schemathesis-{phases}.toml"));
    std::fs::write(&path, config).unwrap();
    let output = Command::new("st")
        .arg("--config-file")
        .arg(&path)
        .arg("run")
        .arg(app.url("/openapi.json"))
        .args(["--header", &format!("Authorization: Bearer {}", app.token)])
        .args(["--phases", phases])
        // Every check but one: `positive_data_acceptance` expects every request the
        // document allows to succeed, and no schema can say "a JWE encrypted to this
        // server's key", "`from` not after `to`" or "at most one search".
        .args([
            "--checks",
            "all",
            "--exclude-checks",
            "positive_data_acceptance",
        ])
        .args(["--max-examples", &EXAMPLES_PER_OPERATION.to_string()])
        // One worker: CPython 3.11's ast module (which hypothesis uses to describe
        // its strategies) is not thread-safe, and two workers crash it at times.
        .args(["--seed", "1", "--workers", "1", "--no-color"])
        .args(["--report", "junit", "--report-dir"])
        .arg(app.dir().join(format!("schemathesis-report-{phases}")))
        .current_dir(app.dir())
        .output()
        .expect("schemathesis (st) is missing: install it (scripts/install-test-deps)");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "schemathesis ({phases}) found the server untrue to its document:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

on_both_backends!(
    schemathesis_finds_the_server_true_to_the_document,
    |backend| {
        let app = TestApp::spawn(backend);
        let user = app.register(&new_user_payload(&unique_email()));
        let token = statement_token(&app, user);
        let stdout = schemathesis(
            &app,
            &schemathesis_config(&app, user, &token),
            "examples,coverage,fuzzing",
        );
        // Every operation schemathesis read from the document was exercised.
        let count = |label: &str| {
            stdout
                .lines()
                .find_map(|line| Some(line.trim().strip_prefix(label)?.trim().to_owned()))
                .unwrap_or_else(|| panic!("no {label} line:\n{stdout}"))
        };
        let selected = count("Selected:");
        let tested = count("Tested:");
        let (chosen, total) = selected.split_once('/').unwrap();
        assert!(
            chosen == total && tested == total && total.parse::<usize>().unwrap() > 30,
            "every operation tested ({selected} selected, {tested} tested):\n{stdout}"
        );
        // Links between operations (an upload, then the GET and DELETE of that file):
        // a resource just created must be there (`ensure_resource_availability`).
        schemathesis(&app, &stateful_config(&app, user, &token), "stateful");
    }
);
