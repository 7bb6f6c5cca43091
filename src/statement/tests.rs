//! Rendered and protected statements, opened by independent readers (qpdf, poppler).

use std::process::Command;

use super::*;

fn statement(rows: usize) -> Statement {
    let mut details = vec![
        ("Email".to_owned(), "jack.sparrow@piratebay.com".to_owned()),
        ("Address".to_owned(), "Kenyatta Avenue 1, Nairobi, a long address that must wrap onto a second line because it does not fit".to_owned()),
    ];
    details.extend((0..rows).map(|n| (format!("Item {n}"), format!("value {n}"))));
    Statement {
        title: "Customer Statement".to_owned(),
        customer_name: "Jack Sparrow".to_owned(),
        generated_at: chrono::Utc::now(),
        reference: "ref-123".to_owned(),
        details,
    }
}

fn tool(name: &str) -> Command {
    assert!(
        Command::new(name).arg("--version").output().is_ok(),
        "`{name}` is missing: install qpdf and poppler-utils (scripts/install-test-deps)"
    );
    Command::new(name)
}

fn write(bytes: &[u8]) -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), bytes).unwrap();
    file
}

fn text_of(file: &tempfile::NamedTempFile, password: &str) -> Option<String> {
    let output = tool("pdftotext")
        .args(["-layout", "-upw", password])
        .arg(file.path())
        .arg("-")
        .output()
        .unwrap();
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

#[test]
fn protected_statement_is_aes256_r6_and_opens_only_with_the_password() {
    let started = std::time::Instant::now();
    let pdf = protect(
        &render(&statement(3)).unwrap(),
        "12345678",
        &random_owner_password().unwrap(),
    )
    .unwrap();
    eprintln!("render + protect took {:?}", started.elapsed());
    assert!(pdf.starts_with(b"%PDF-2.0"));
    let file = write(&pdf);
    let encryption = tool("qpdf")
        .args(["--show-encryption", "--password=12345678"])
        .arg(file.path())
        .output()
        .unwrap();
    let encryption = String::from_utf8_lossy(&encryption.stdout);
    assert!(encryption.contains("R = 6"), "{encryption}");
    assert!(encryption.contains("AESv3"), "{encryption}");
    let check = tool("qpdf")
        .args(["--check", "--password=12345678"])
        .arg(file.path())
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );

    let text = text_of(&file, "12345678").expect("opens with the user password");
    for expected in [
        "Jack Sparrow",
        "jack.sparrow@piratebay.com",
        "Page 1 of 1",
        "Customer Statement",
        "a second line because",
    ] {
        assert!(text.contains(expected), "{expected:?} in {text}");
    }
    assert!(
        text_of(&file, "wrong").is_none(),
        "a wrong password is refused"
    );
    assert!(text_of(&file, "").is_none(), "no password is refused");
}

#[test]
fn long_statements_flow_over_pages_with_page_x_of_n() {
    let pdf = protect(&render(&statement(80)).unwrap(), "pw", "owner").unwrap();
    let file = write(&pdf);
    let text = text_of(&file, "pw").unwrap();
    let pages = text.matches("Page ").count();
    assert!(pages >= 3, "{pages} pages");
    for page in 1..=pages {
        assert!(
            text.contains(&format!("Page {page} of {pages}")),
            "page {page} of {pages}"
        );
    }
    for n in [0, 40, 79] {
        assert!(text.contains(&format!("value {n}")), "row {n} present");
    }
}
