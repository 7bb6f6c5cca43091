//! The Postman collection, run by newman against a started server.

use std::process::Command;

use crate::on_both_backends;
use crate::support::TestApp;

on_both_backends!(postman_collection_runs_green, |backend| {
    let app = TestApp::spawn(backend);
    let collection = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/postman/piivault.postman_collection.json"
    );
    let output = Command::new("newman")
        .args(["run", collection, "--bail", "--env-var"])
        .arg(format!("baseUrl={}", app.base_url))
        .arg("--env-var")
        .arg(format!("token={}", app.token))
        .output();
    let output = output.expect("newman is missing: install it (scripts/install-test-deps)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "newman failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("assertions"),
        "newman printed its summary: {stdout}"
    );
});
