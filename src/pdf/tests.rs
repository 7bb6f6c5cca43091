//! Documents as independent readers see them: qpdf's structural check and its view of
//! the encryption, poppler's text extraction (logical order), mupdf opening them.

use std::process::Command;

use chrono::{NaiveDate, NaiveDateTime};

use super::*;
use crate::domain::Transaction;

/// Names and details in every script the documents must render.
pub(crate) const SCRIPTS: [&str; 12] = [
    "Zoë Ærøskøbing",
    "Zoe\u{0308} Ae\u{0301}lia",
    "Дмитрий Иванов",
    "Σωκράτης Παπαδόπουλος",
    "محمد عبد الله",
    "דוד כהן",
    "अमित कुमार",
    "王小明",
    "山田太郎",
    "김민준",
    "สมชาย ใจดี",
    "Jack Sparrow",
];

fn at(text: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").unwrap()
}

fn transaction(n: usize, amount: i64, details: &str) -> Transaction {
    Transaction {
        id: crate::id::TransactionId::generate(),
        reference: format!("QFT{n:07}"),
        occurred_at: at("2026-11-01 08:00:00")
            + chrono::Duration::minutes(i64::try_from(n).unwrap()),
        details: details.to_owned(),
        amount,
        currency: Currency::KES,
    }
}

fn header(name: &str) -> StatementHeader {
    StatementHeader {
        customer_name: name.to_owned(),
        masked_phone: Some(mask_phone("+254712345678")),
        period: Period {
            from: NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(),
            to: NaiveDate::from_ymd_opt(2026, 11, 30).unwrap(),
        },
        currency: Currency::KES,
        requested_at: chrono::Utc::now(),
        reference: "ref-123".to_owned(),
    }
}

pub(crate) fn statement(
    name: &str,
    password: &str,
    transactions: &[Transaction],
) -> (Vec<u8>, usize) {
    let fonts = FontLibrary::shared(None).unwrap();
    let mut writer = StatementWriter::start(Vec::new(), password, fonts, header(name)).unwrap();
    writer.opening(100_000);
    for transaction in transactions {
        writer.add(transaction).unwrap();
    }
    writer.finish().unwrap()
}

fn tool(name: &str) -> Command {
    assert!(
        Command::new(name).arg("--version").output().is_ok()
            || Command::new(name).arg("-v").output().is_ok(),
        "`{name}` is missing: run scripts/install-test-deps"
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

fn qpdf_check(file: &tempfile::NamedTempFile, password: &str) -> (bool, String) {
    let output = tool("qpdf")
        .arg(format!("--password={password}"))
        .arg("--check")
        .arg(file.path())
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr),
    )
}

#[test]
fn masks_all_but_the_ends_of_a_phone_number() {
    assert_eq!(mask_phone("+254712345678"), "+2547*****678");
    assert_eq!(mask_phone("12345"), "*****");
}

#[test]
fn statement_is_aes256_r6_and_passes_qpdf_check() {
    let transactions = vec![
        transaction(1, 250_000, "Salary"),
        transaction(2, -125_050, "Paid to Mama Mboga"),
        transaction(3, 100_000_000, "Deposit"),
    ];
    let (pdf, missing) = statement("Jack Sparrow", "12345678", &transactions);
    assert_eq!(missing, 0);
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
    let (ok, report) = qpdf_check(&file, "12345678");
    assert!(ok, "{report}");
    let text = text_of(&file, "12345678").expect("opens with the user password");
    for expected in [
        "Jack Sparrow",
        "+2547*****678",
        "01 Nov 2026 - 30 Nov 2026",
        "Page 1 of 1",
        "QFT0000002",
        "Paid to Mama Mboga",
        "1,000.00",
        "3,500.00",
        "1,250.50",
        "2,249.50",
        "1,000,000.00",
        "1,002,249.50",
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
fn every_script_comes_back_in_logical_order() {
    let transactions: Vec<Transaction> = SCRIPTS
        .iter()
        .enumerate()
        .map(|(n, name)| transaction(n, 100, &format!("Paid to {name}")))
        .collect();
    for name in SCRIPTS {
        let (pdf, missing) = statement(name, "pw", &transactions);
        assert_eq!(missing, 0, "every character has a font");
        let file = write(&pdf);
        let (ok, report) = qpdf_check(&file, "pw");
        assert!(ok, "{report}");
        let text = text_of(&file, "pw").unwrap();
        for expected in SCRIPTS {
            assert!(text.contains(expected), "{expected:?} in {text}");
        }
        assert!(text.contains(name));
    }
}

#[test]
fn long_statements_flow_over_pages_with_page_x_of_n_and_a_running_balance() {
    let transactions: Vec<Transaction> = (0..300).map(|n| transaction(n, 100, "Airtime")).collect();
    let (pdf, _) = statement("Jack", "pw", &transactions);
    let file = write(&pdf);
    let text = text_of(&file, "pw").unwrap();
    let pages = text.matches("Page ").count();
    assert!(pages >= 3, "{pages} pages");
    for page in 1..=pages {
        assert!(
            text.contains(&format!("Page {page} of {pages}")),
            "page {page} of {pages}: {text}"
        );
    }
    for n in [0, 150, 299] {
        assert!(text.contains(&format!("QFT{n:07}")), "row {n} present");
    }
    assert!(text.contains("1,300.00"), "closing balance");
}

/// A cell taller than a whole page (the API caps details at 300 characters; the
/// writer takes any length) is split line by line across pages: every word of it is
/// on some page, none is cut.
#[test]
fn a_cell_longer_than_a_page_splits_across_pages_whole() {
    let words: Vec<String> = (0..1500).map(|n| format!("part{n:04}")).collect();
    let transactions = vec![
        transaction(1, 100, "Before"),
        transaction(2, 200, &words.join(" ")),
        transaction(3, 300, "After"),
    ];
    let (pdf, _) = statement("Jack", "pw", &transactions);
    let file = write(&pdf);
    let (ok, report) = qpdf_check(&file, "pw");
    assert!(ok, "{report}");
    let text = text_of(&file, "pw").unwrap();
    let pages = text.matches("Page ").count();
    assert!(pages >= 3, "the cell runs over {pages} pages");
    for word in &words {
        assert_eq!(text.matches(word.as_str()).count(), 1, "{word} once");
    }
    assert!(text.contains("QFT0000003") && text.contains("After"));
    assert!(text.contains(&format!("Page {pages} of {pages}")));
}

#[test]
fn an_empty_period_is_a_valid_statement_that_says_so() {
    let (pdf, _) = statement("Jack", "pw", &[]);
    let text = text_of(&write(&pdf), "pw").unwrap();
    assert!(text.contains("No transactions in this period."), "{text}");
    assert!(text.contains("Page 1 of 1"));
}

#[test]
fn every_string_outside_the_encryption_dictionary_is_encrypted() {
    // A string written in the clear in an encrypted file is decrypted by readers
    // anyway, into nothing: qpdf shows the fonts' `/CIDSystemInfo` as `()` then.
    let (pdf, _) = statement("Jack Sparrow", "pw", &[transaction(1, 5_000, "Salary")]);
    let file = write(&pdf);
    let decrypted = tempfile::NamedTempFile::new().unwrap();
    let output = tool("qpdf")
        .args([
            "--password=pw",
            "--decrypt",
            "--qdf",
            "--object-streams=disable",
        ])
        .arg(file.path())
        .arg(decrypted.path())
        .output()
        .unwrap();
    assert!(output.status.success(), "qpdf --decrypt failed");
    let plain = String::from_utf8_lossy(&std::fs::read(decrypted.path()).unwrap()).into_owned();
    assert!(
        !plain.contains("/Registry ()") && !plain.contains("/Ordering ()"),
        "a string was written in the clear"
    );
    assert!(plain.contains("/Registry (Adobe)\n") && plain.contains("/Ordering (Identity)\n"));
    assert!(plain.contains("/Producer (piivault)"));
}

/// The glyphs HarfBuzz's own `hb-shape` draws for `text` in a bundled font, left to
/// right.
fn hb_shape(font: &str, text: &str) -> Vec<u16> {
    let path = format!("{}/assets/fonts/{font}", env!("CARGO_MANIFEST_DIR"));
    let output = tool("hb-shape")
        .args(["--no-glyph-names", "--no-positions", "--no-clusters"])
        .arg(&path)
        .arg(text)
        .output()
        .unwrap();
    assert!(output.status.success(), "hb-shape failed");
    String::from_utf8(output.stdout)
        .unwrap()
        .trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .split('|')
        .map(|glyph| glyph.parse().unwrap())
        .collect()
}

#[test]
fn arabic_and_devanagari_glyphs_are_what_harfbuzz_draws() {
    let library = FontLibrary::shared(None).unwrap();
    let mut typesetter = text::Typesetter::new(library);
    for (font, samples) in [
        (
            "NotoSansArabic-Regular.ttf",
            ["محمد عبد الله", "فاطمة الزهراء", "لا إله", "مُحَمَّد"],
        ),
        (
            "NotoSansDevanagari-Regular.ttf",
            ["अमित कुमार", "क्षत्रिय", "श्रीमती प्रिया", "हिन्दी"],
        ),
    ] {
        for text in samples {
            let line = typesetter.line(text, fonts::REGULAR);
            let drawn: Vec<u16> = line.glyphs.iter().map(|glyph| glyph.id).collect();
            assert!(
                line.glyphs
                    .iter()
                    .all(|glyph| glyph.face == line.glyphs[0].face),
                "{text}: one face"
            );
            assert_eq!(drawn, hb_shape(font, text), "{text} in {font}");
        }
    }
}

#[test]
fn page_one_with_arabic_and_chinese_renders_in_poppler() {
    let transactions = vec![
        transaction(1, 250_000, "Paid to 王小明 (Wang Xiaoming)"),
        transaction(2, -125_050, "تحويل إلى فاطمة الزهراء"),
        transaction(3, -9_900, "Paid to 山田太郎 for 寿司"),
        transaction(4, 5_000, "अमित कुमार को भुगतान"),
    ];
    let (pdf, missing) = statement("محمد عبد الله 王小明", "pw", &transactions);
    assert_eq!(missing, 0);
    let file = write(&pdf);
    // Left in target/ to be looked at (as the admin console's screenshot is).
    let png = format!(
        "{}/target/statement-arabic-chinese",
        env!("CARGO_MANIFEST_DIR")
    );
    let output = tool("pdftoppm")
        .args([
            "-png",
            "-r",
            "110",
            "-f",
            "1",
            "-l",
            "1",
            "-singlefile",
            "-upw",
            "pw",
        ])
        .arg(file.path())
        .arg(&png)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let bytes = std::fs::read(format!("{png}.png")).unwrap();
    assert!(
        bytes.starts_with(b"\x89PNG") && bytes.len() > 20_000,
        "a drawn page"
    );
}
