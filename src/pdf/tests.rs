//! Rendered and protected statements, opened by independent readers (qpdf, poppler).

use std::process::Command;

use chrono::{NaiveDate, NaiveDateTime};

use super::encrypt::encrypt_with_owner;
use super::*;

fn at(text: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").unwrap()
}

fn transaction(n: usize, amount: i64) -> Transaction {
    Transaction {
        id: crate::id::TransactionId::generate(),
        reference: format!("QFT{n:07}"),
        occurred_at: at("2026-11-01 08:00:00")
            + chrono::Duration::minutes(i64::try_from(n).unwrap()),
        details: format!("Payment number {n} to Mama Mboga"),
        amount,
        currency: Currency::KES,
    }
}

fn statement(name: &str, transactions: Vec<Transaction>) -> Statement {
    Statement {
        customer_name: name.to_owned(),
        masked_phone: Some(mask_phone("+254712345678")),
        period: Period {
            from: NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(),
            to: NaiveDate::from_ymd_opt(2026, 11, 30).unwrap(),
        },
        currency: Currency::KES,
        requested_at: chrono::Utc::now(),
        reference: "ref-123".to_owned(),
        opening_balance: 100_000,
        transactions,
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
fn masks_all_but_the_ends_of_a_phone_number() {
    assert_eq!(mask_phone("+254712345678"), "+2547*****678");
    assert_eq!(mask_phone("12345"), "*****");
}

#[test]
fn protected_statement_is_aes256_r6_with_summary_and_balances() {
    let transactions = vec![
        transaction(1, 250_000),
        transaction(2, -125_050),
        transaction(3, 100_000_000),
    ];
    let started = std::time::Instant::now();
    let pdf = encrypt_with_owner(
        &render_statement(&statement("Jack Sparrow", transactions)).unwrap(),
        "12345678",
        "a random owner password",
    )
    .unwrap();
    eprintln!("render + encrypt took {:?}", started.elapsed());
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
    // Opening 1,000.00; +2,500.00; -1,250.50; +1,000,000.00.
    for expected in [
        "Jack Sparrow",
        "+2547*****678",
        "01 Nov 2026 - 30 Nov 2026",
        "Statement",
        "Page 1 of 1",
        "QFT0000002",
        "Payment number 2 to Mama Mboga",
        "1,000.00",
        "1,002,500.00",
        "1,250.50",
        "1,002,249.50",
        "3,500.00",
        "1,250.50",
    ] {
        assert!(text.contains(expected), "{expected:?} in {text}");
    }
    let closing = text.lines().find(|line| line.contains("1,002,249.50"));
    assert!(closing.is_some(), "closing balance present");
    assert!(
        text_of(&file, "wrong").is_none(),
        "a wrong password is refused"
    );
    assert!(text_of(&file, "").is_none(), "no password is refused");
}

#[test]
fn names_and_details_in_other_scripts_come_out_as_themselves() {
    let mut transactions = vec![transaction(1, 5_000)];
    transactions[0].details = "Оплата за хлеб · πληρωμή · ქართული".to_owned();
    let pdf = render_statement(&statement("Дмитрий Σωκράτης Zoë", transactions)).unwrap();
    assert!(
        pdf.len() < 200_000,
        "the fonts are subset, not embedded whole ({} bytes)",
        pdf.len()
    );
    let file = write(&encrypt_with_owner(&pdf, "pw", "owner").unwrap());
    let text = text_of(&file, "pw").unwrap();
    assert!(text.contains("Дмитрий Σωκράτης Zoë"), "{text}");
    assert!(text.contains("Оплата за хлеб"), "{text}");
    assert!(text.contains("πληρωμή"), "{text}");
    assert!(!text.contains('?'), "no character fell back to `?`: {text}");
}

#[test]
fn long_statements_flow_over_pages_with_page_x_of_n_and_a_running_balance() {
    let rows = 300;
    let transactions: Vec<Transaction> = (0..rows).map(|n| transaction(n, 100)).collect();
    let pdf = encrypt_with_owner(
        &render_statement(&statement("Jack", transactions)).unwrap(),
        "pw",
        "owner",
    )
    .unwrap();
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
    for n in [0, 150, 299] {
        assert!(text.contains(&format!("QFT{n:07}")), "row {n} present");
    }
    // Opening 1,000.00 plus 300 × 1.00.
    assert!(text.contains("1,300.00"), "closing balance");
    assert!(text.contains("Receipt No."), "column headings");
}

#[test]
fn an_empty_period_is_a_valid_statement_that_says_so() {
    let pdf = encrypt_with_owner(
        &render_statement(&statement("Jack", Vec::new())).unwrap(),
        "pw",
        "o",
    )
    .unwrap();
    let text = text_of(&write(&pdf), "pw").unwrap();
    assert!(text.contains("No transactions in this period."), "{text}");
    assert!(text.contains("Page 1 of 1"));
}

#[test]
fn readers_compare_the_prepared_password_cut_to_127_bytes() {
    use super::encrypt::reader_password_bytes;
    let bytes = |password: &str| reader_password_bytes(password).unwrap().to_vec();
    assert_eq!(bytes("12345678"), b"12345678");
    assert_eq!(bytes(&"A".repeat(128)), "A".repeat(127).as_bytes());
    // 64 × é is 128 bytes: the cut falls inside the 64th é, and its first byte stays.
    let mut cut = "é".repeat(63).into_bytes();
    cut.push(0xC3);
    assert_eq!(bytes(&"é".repeat(64)), cut);
    assert_eq!(bytes(&"é".repeat(128)), cut);
    assert_eq!(bytes(&"é".repeat(63)), "é".repeat(63).as_bytes());
    // SASLprep: NFKC composes, a non-ASCII space is a space, a soft hyphen vanishes.
    assert_eq!(bytes("e\u{301}"), "é".as_bytes());
    assert_eq!(bytes("a\u{A0}b"), b"a b");
    assert_eq!(bytes("a\u{AD}b"), b"ab");
    assert!(reader_password_bytes("a\u{7}b").is_err());
}

/// Whether libpoppler opens `file` with exactly these password bytes
/// (`tests/tools/poppler_open.py`: poppler's command-line tools cut passwords to 32
/// bytes).
fn poppler_opens(file: &tempfile::NamedTempFile, password: &[u8]) -> bool {
    use std::io::Write as _;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tools/poppler_open.py");
    let mut child = tool("python3")
        .arg(script)
        .arg(file.path())
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(password).unwrap();
    let status = child.wait().unwrap();
    assert!(
        status.code().is_some(),
        "libpoppler died (is libpoppler-glib8 installed? scripts/install-test-deps)"
    );
    status.success()
}

#[test]
fn passwords_longer_than_127_bytes_open_in_qpdf_lopdf_and_poppler() {
    use super::encrypt::reader_password_bytes;
    let pdf = render_statement(&statement("Jack", Vec::new())).unwrap();
    for password in [
        "A".repeat(128),
        "é".repeat(64),
        "é".repeat(128),
        "A".repeat(127),
        "é".repeat(63),
    ] {
        let file = write(&encrypt_with_owner(&pdf, &password, "owner").unwrap());
        let case = format!("{} bytes", password.len());
        let check = tool("qpdf")
            .arg(format!("--password={password}"))
            .arg("--check")
            .arg(file.path())
            .output()
            .unwrap();
        assert!(check.status.success(), "qpdf, the password sent, {case}");
        assert!(
            lopdf::Document::load_with_password(file.path(), &password).is_ok(),
            "lopdf, the password sent, {case}"
        );
        // libpoppler is handed what it compares (it aborts on more than 127 bytes).
        let compared = reader_password_bytes(&password).unwrap();
        assert!(poppler_opens(&file, &compared), "poppler, {case}");
        assert!(
            !poppler_opens(&file, &compared[..compared.len() - 1]),
            "poppler, one byte short, {case}"
        );
    }
}
