//! GET /metrics: only for the `metrics` scope, valid for Prometheus' own checker
//! (`promtool check metrics`), and its counters move with the work they count, with
//! no id, path or personal value in any label.

use std::io::Write as _;
use std::process::{Command, Stdio};

use piivault::access::Scope;
use serde_json::json;

use crate::on_both_backends;
use crate::support::{new_user_payload, unique_email, TestApp};

fn scrape(app: &TestApp, token: &str) -> String {
    let reply = app.get_as("/metrics", Some(token));
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    assert_eq!(reply.content_type, piivault::metrics::CONTENT_TYPE);
    String::from_utf8(reply.body).unwrap()
}

/// The value of one series (`name{labels}` exactly as exposed), 0 when absent.
fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0.0, |value| value.trim().parse().unwrap())
}

/// Prometheus' own parser and linter, `promtool check metrics`, on `text`.
pub fn promtool_check(text: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool is missing: install it (scripts/install-test-deps)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "promtool check metrics: {}{}\n{text}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

on_both_backends!(metrics_need_their_scope_and_pass_promtool, |backend| {
    let app = TestApp::spawn(backend);
    app.get_as("/metrics", None)
        .assert_error(401, "unauthorized", "no token");
    let reader = app.create_client("reader", &[Scope::UsersRead]);
    app.get_as("/metrics", Some(&reader)).assert_error(
        403,
        "forbidden",
        "without the metrics scope",
    );
    let prometheus = app.create_client("prometheus", &[Scope::Metrics]);
    // Some traffic first, so every family has series.
    let user = app.register(&new_user_payload(&unique_email()));
    assert_eq!(app.get(&format!("/users/{user}")).status, 200);
    let text = scrape(&app, &prometheus);
    for family in [
        "piivault_http_requests_total",
        "piivault_http_request_duration_seconds",
        "piivault_http_requests_in_flight",
        "piivault_db_pool_connections",
        "piivault_db_pool_max_connections",
        "piivault_db_pool_wait_seconds",
        "piivault_db_pool_timeouts_total",
        "piivault_blocking_tasks_queued",
        "piivault_blocking_tasks_running",
        "piivault_jwe_decryptions_waiting",
        "piivault_jwe_refused_total",
        "piivault_master_key_versions",
        "piivault_master_key_active_version",
        "piivault_data_keys",
        "piivault_rewrap_pending_data_keys",
        "piivault_documents_rendering",
        "piivault_documents_rendered_total",
        "piivault_file_bytes_total",
    ] {
        assert!(text.contains(&format!("# TYPE {family} ")), "{family}");
    }
    promtool_check(&text);
});

on_both_backends!(counters_move_with_the_work_they_count, |backend| {
    let app = TestApp::spawn(backend);
    let prometheus = app.create_client("prometheus", &[Scope::Metrics]);
    let before = scrape(&app, &prometheus);

    let email = unique_email();
    let user = app.register(&new_user_payload(&email));
    for _ in 0..2 {
        assert_eq!(app.get(&format!("/users/{user}")).status, 200);
    }
    let refused = app.post_as("/users", Some(&app.token), "application/jose", b"a.b.c");
    refused.assert_error(400, "invalid_jwe", "malformed JWE");
    let data = vec![7u8; 100_000];
    let upload = app.post_as(
        &format!("/users/{user}/files?name=a.bin"),
        Some(&app.token),
        "application/octet-stream",
        &data,
    );
    assert_eq!(upload.status, 201);
    let file = upload.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(app.get(&format!("/users/{user}/files/{file}")).body, data);
    assert_eq!(app.get(&format!("/users/{user}/statement")).status, 200);
    app.post_json(&format!("/users/{user}/statements"), &json!({}))
        .assert_error(422, "validation_failed", "a counted refusal");

    let after = scrape(&app, &prometheus);
    let moved = |series: &str| value(&after, series) - value(&before, series);
    let cases = [
        (
            r#"piivault_http_requests_total{method="GET",route="/users/{id}",status="200"}"#,
            2.0,
        ),
        (
            r#"piivault_http_requests_total{method="POST",route="/users",status="201"}"#,
            1.0,
        ),
        (
            r#"piivault_http_requests_total{method="POST",route="/users",status="400"}"#,
            1.0,
        ),
        (
            r#"piivault_http_requests_total{method="POST",route="/users/{id}/statements",status="422"}"#,
            1.0,
        ),
        (
            r#"piivault_http_request_duration_seconds_count{method="GET",route="/users/{id}"}"#,
            2.0,
        ),
        (r#"piivault_jwe_refused_total{reason="malformed"}"#, 1.0),
        (
            r#"piivault_jwe_refused_total{reason="decryption_failed"}"#,
            0.0,
        ),
        (r#"piivault_file_bytes_total{direction="in"}"#, 100_000.0),
        (r#"piivault_file_bytes_total{direction="out"}"#, 100_000.0),
        (
            r#"piivault_documents_rendered_total{kind="statement"}"#,
            1.0,
        ),
    ];
    for (series, delta) in cases {
        assert!(
            (moved(series) - delta).abs() < f64::EPSILON,
            "{series}: moved {} instead of {delta}",
            moved(series)
        );
    }
    // Gauges as they are now: the scrape itself is the one request in flight and the
    // one blocking task; one data key under master key version 1, nothing to rewrap.
    for (series, expected) in [
        ("piivault_http_requests_in_flight", 1.0),
        ("piivault_blocking_tasks_running", 1.0),
        ("piivault_blocking_tasks_queued", 0.0),
        ("piivault_jwe_decryptions_waiting", 0.0),
        (r#"piivault_documents_rendering{kind="statement"}"#, 0.0),
        ("piivault_db_pool_max_connections", 4.0),
        (r#"piivault_data_keys{master_version="1"}"#, 1.0),
        ("piivault_master_key_active_version", 1.0),
        ("piivault_rewrap_pending_data_keys", 0.0),
    ] {
        assert!(
            (value(&after, series) - expected).abs() < f64::EPSILON,
            "{series}: {} instead of {expected}",
            value(&after, series)
        );
    }
    assert!(value(&after, "piivault_db_pool_wait_seconds_count") > 0.0);
    // Labels carry patterns and classes only.
    for leak in [user.to_string(), file, email, "Sparrow".to_owned()] {
        assert!(!after.contains(&leak), "{leak} in the metrics");
    }
});

// A master key rotation shows as a second version and, until the rewrap, as data
// keys pending under the old one.
on_both_backends!(key_versions_and_rewrap_progress, |backend| {
    let app = TestApp::spawn(backend);
    let prometheus = app.create_client("prometheus", &[Scope::Metrics]);
    for _ in 0..3 {
        app.register(&new_user_payload(&unique_email()));
    }
    app.cli_ok(&["keys", "rotate-master", "--no-rewrap"]);
    app.wait_for_key_reload();
    let rotated = scrape(&app, &prometheus);
    assert!((value(&rotated, "piivault_master_key_versions") - 2.0).abs() < f64::EPSILON);
    assert!((value(&rotated, "piivault_master_key_active_version") - 2.0).abs() < f64::EPSILON);
    assert!((value(&rotated, "piivault_rewrap_pending_data_keys") - 3.0).abs() < f64::EPSILON);
    app.cli_ok(&["keys", "rewrap"]);
    let rewrapped = scrape(&app, &prometheus);
    assert!(value(&rewrapped, "piivault_rewrap_pending_data_keys").abs() < f64::EPSILON);
    assert!(
        (value(&rewrapped, r#"piivault_data_keys{master_version="2"}"#) - 3.0).abs() < f64::EPSILON
    );
});
