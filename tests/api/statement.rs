//! The statement PDF, checked by independent readers: qpdf and poppler's pdftotext.

use std::process::Command;

use serde_json::json;

use crate::on_both_backends;
use crate::support::{new_user_payload, unique_email, TestApp};

fn tool(name: &str) -> Command {
    let probe = Command::new(name).arg("--version").output();
    assert!(
        probe.is_ok(),
        "`{name}` is missing: install qpdf and poppler-utils (scripts/install-test-deps)"
    );
    Command::new(name)
}

on_both_backends!(
    statement_is_an_aes256_pdf_that_opens_with_the_national_id,
    |backend| {
        let app = TestApp::spawn(backend);
        let id = app.register(&new_user_payload(&unique_email()));
        let reply = app.get(&format!("/users/{id}/statement"));
        assert_eq!(
            reply.status,
            200,
            "{}",
            String::from_utf8_lossy(&reply.body)
        );
        assert_eq!(reply.content_type, "application/pdf");
        assert!(reply.body.starts_with(b"%PDF-2.0"), "PDF 2.0 header");

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("statement.pdf");
        std::fs::write(&path, &reply.body).unwrap();

        let encryption = tool("qpdf")
            .args(["--show-encryption", "--password=12345678"])
            .arg(&path)
            .output()
            .unwrap();
        let encryption = String::from_utf8_lossy(&encryption.stdout);
        assert!(encryption.contains("R = 6"), "qpdf: {encryption}");
        assert!(encryption.contains("AESv3"), "qpdf: {encryption}");

        let text = tool("pdftotext")
            .args(["-upw", "12345678"])
            .arg(&path)
            .arg("-")
            .output()
            .unwrap();
        assert!(text.status.success());
        let text = String::from_utf8_lossy(&text.stdout);
        assert!(text.contains("Jack Sparrow"), "name in text: {text}");
        assert!(text.contains("Page 1 of 1"), "footer: {text}");

        for wrong in ["87654321", "", "12345678 "] {
            let refused = tool("pdftotext")
                .args(["-upw", wrong])
                .arg(&path)
                .arg("-")
                .output()
                .unwrap();
            assert!(
                !refused.status.success(),
                "pdftotext opened it with {wrong:?}"
            );
        }
        let refused = tool("qpdf")
            .args(["--password=wrong", "--check"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            !refused.status.success(),
            "qpdf opened it with a wrong password"
        );
    }
);

on_both_backends!(statement_without_national_id_is_a_clear_409, |backend| {
    let app = TestApp::spawn(backend);
    let id = app.register(&json!({"first_name":"No","last_name":"Id","email":unique_email()}));
    let reply = app.get(&format!("/users/{id}/statement"));
    reply.assert_error(409, "conflict", "no national id");
    assert!(reply.json()["message"]
        .as_str()
        .unwrap()
        .contains("national id"));
    app.get(&format!("/users/{}/statement", uuid::Uuid::new_v4()))
        .assert_error(404, "not_found", "unknown user");
});
