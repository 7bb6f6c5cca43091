//! Documents as independent readers see them: qpdf's structural check and its view of
//! the encryption, poppler's text extraction (logical order), mupdf opening them.

use std::path::Path;
use std::process::Command;

use chrono::{NaiveDate, NaiveDateTime};
use rustybuzz::ttf_parser;

use super::*;
use crate::domain::Transaction;

mod drawn;

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

/// A glyph as HarfBuzz's own `hb-shape` sets it: its id in the font and where it
/// goes, in font units.
#[derive(serde::Deserialize)]
struct Shaped {
    #[serde(rename = "g")]
    id: u16,
    #[serde(rename = "dx")]
    x_offset: f64,
    #[serde(rename = "dy")]
    y_offset: f64,
    #[serde(rename = "ax")]
    advance: f64,
}

/// The glyphs `hb-shape` sets for `text` in `font`, left to right.
fn hb_shape(font: &Path, text: &str) -> Vec<Shaped> {
    let output = tool("hb-shape")
        .args(["--output-format=json", "--no-glyph-names", "--no-clusters"])
        .arg(font)
        .arg(text)
        .output()
        .unwrap();
    assert!(output.status.success(), "hb-shape failed");
    serde_json::from_slice(&output.stdout).unwrap()
}

/// A glyph's outline, segment by segment, as ttf-parser reads it from a font program.
#[derive(Debug, Default, PartialEq)]
struct Outline(Vec<(char, [f32; 6])>);

impl ttf_parser::OutlineBuilder for Outline {
    fn move_to(&mut self, x: f32, y: f32) {
        self.0.push(('M', [x, y, 0.0, 0.0, 0.0, 0.0]));
    }
    fn line_to(&mut self, x: f32, y: f32) {
        self.0.push(('L', [x, y, 0.0, 0.0, 0.0, 0.0]));
    }
    fn quad_to(&mut self, x1: f32, y1: f32, x: f32, y: f32) {
        self.0.push(('Q', [x1, y1, x, y, 0.0, 0.0]));
    }
    fn curve_to(&mut self, x1: f32, y1: f32, x2: f32, y2: f32, x: f32, y: f32) {
        self.0.push(('C', [x1, y1, x2, y2, x, y]));
    }
    fn close(&mut self) {
        self.0.push(('Z', [0.0; 6]));
    }
}

/// A glyph as it looks on the page: its outline (`None`: nothing to draw, as for a
/// space), its advance and its origin from the line's first glyph's, in thousandths
/// of an em.
#[derive(Debug)]
struct Looks {
    outline: Option<Outline>,
    advance: f64,
    origin: (f64, f64),
}

fn outline(face: &ttf_parser::Face, glyph: u16) -> Option<Outline> {
    let mut outline = Outline::default();
    face.outline_glyph(ttf_parser::GlyphId(glyph), &mut outline)
        .map(|_| outline)
}

/// Origins from rounding: the writer places glyphs to 1/100 point (1.4 thousandths
/// of an em at 7 points) and writes adjustments in whole thousandths of an em.
const ORIGIN_TOLERANCE: f64 = 2.0;

fn looks_alike(drawn: &[Looks], shaped: &[Looks]) -> bool {
    drawn.len() == shaped.len()
        && drawn.iter().zip(shaped).all(|(drawn, shaped)| {
            drawn.outline == shaped.outline
                && (drawn.advance - shaped.advance).abs() < 0.01
                && (drawn.origin.0 - shaped.origin.0).abs() <= ORIGIN_TOLERANCE
                && (drawn.origin.1 - shaped.origin.1).abs() <= ORIGIN_TOLERANCE
        })
}

/// Glyphs as `id@x,y` (origins in thousandths of an em), for a failure's message.
fn placed<'a>(glyphs: impl Iterator<Item = (u16, &'a Looks)>) -> String {
    glyphs
        .map(|(id, looks)| format!("{id}@{:.0},{:.0}", looks.origin.0, looks.origin.1))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The name a font program gives itself (its PostScript name).
fn postscript_name(face: &ttf_parser::Face) -> Option<String> {
    face.names()
        .into_iter()
        .filter(|name| name.name_id == ttf_parser::name_id::POST_SCRIPT_NAME)
        .find_map(|name| name.to_string())
}

/// Arabic (joining, ligatures, marks placed by GPOS) and Devanagari (conjuncts,
/// reordered vowel signs) in a statement are drawn as HarfBuzz's `hb-shape` sets
/// them: the same glyphs of the same font, in the same order, at the same places.
///
/// The page is read back from the written file as another reader would (`drawn.rs`:
/// qpdf decrypts it and decodes its streams, a small content-stream reader places the
/// glyphs `Tj` and `TJ` show). The font is recognised by the name its embedded
/// program gives itself. Codes in the file number the glyphs of the embedded subset,
/// not the font's, so each drawn glyph is compared with HarfBuzz's by what it looks
/// like, independently of how the writer renumbers: its outline in the embedded
/// program (ttf-parser) must be the outline of HarfBuzz's glyph in the font file
/// under assets/fonts/, its width in the font's `/W` that glyph's advance in `hmtx`,
/// and its origin HarfBuzz's (offsets and advances) within rounding.
#[test]
fn arabic_and_devanagari_glyphs_are_what_harfbuzz_draws() {
    let arabic = ["محمد عبد الله", "فاطمة الزهراء", "لا إله", "مُحَمَّد"];
    let devanagari = ["अमित कुमार", "क्षत्रिय", "श्रीमती प्रिया", "हिन्दी"];
    // The first Arabic sample is the name; each other sample is a row's details.
    let transactions: Vec<Transaction> = arabic[1..]
        .iter()
        .chain(&devanagari)
        .enumerate()
        .map(|(n, details)| transaction(n, 100, details))
        .collect();
    let (pdf, missing) = statement(arabic[0], "pw", &transactions);
    assert_eq!(missing, 0);
    let drawn = drawn::read(&pdf, "pw");
    for (file, samples) in [
        ("NotoSansArabic-Regular.ttf", &arabic),
        ("NotoSansDevanagari-Regular.ttf", &devanagari),
    ] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("assets/fonts")
            .join(file);
        let data = std::fs::read(&path).unwrap();
        let original = ttf_parser::Face::parse(&data, 0).unwrap();
        let per_mille = 1000.0 / f64::from(original.units_per_em());
        let name = postscript_name(&original).unwrap();
        let embedded: Vec<&String> = drawn
            .fonts
            .iter()
            .filter(|(_, font)| {
                font.program
                    .as_deref()
                    .and_then(|program| ttf_parser::Face::parse(program, 0).ok())
                    .and_then(|face| postscript_name(&face))
                    .is_some_and(|embedded| embedded == name)
            })
            .map(|(reference, _)| reference)
            .collect();
        assert_eq!(embedded.len(), 1, "{file} is embedded once");
        let font = &drawn.fonts[embedded[0]];
        let subset = ttf_parser::Face::parse(font.program.as_deref().unwrap(), 0).unwrap();
        let lines: Vec<&Vec<drawn::ShownGlyph>> = drawn
            .texts
            .iter()
            .filter(|text| text.iter().any(|glyph| &glyph.font == embedded[0]))
            .collect();
        assert_eq!(lines.len(), samples.len(), "one line in {file} per sample");
        let looks: Vec<Vec<Looks>> = lines
            .iter()
            .map(|line| {
                assert!(
                    line.iter().all(|glyph| &glyph.font == embedded[0]),
                    "a line drawn partly in {file}"
                );
                line.iter()
                    .map(|glyph| Looks {
                        outline: outline(&subset, glyph.code),
                        advance: font.width(glyph.code),
                        origin: (
                            (glyph.x - line[0].x) * 1000.0 / glyph.size,
                            (glyph.y - line[0].y) * 1000.0 / glyph.size,
                        ),
                    })
                    .collect()
            })
            .collect();
        for text in *samples {
            let shaped = hb_shape(&path, text);
            let mut pen = 0.0;
            let expected: Vec<Looks> = shaped
                .iter()
                .map(|glyph| {
                    let origin = (pen + glyph.x_offset, glyph.y_offset);
                    pen += glyph.advance;
                    let advance = original
                        .glyph_hor_advance(ttf_parser::GlyphId(glyph.id))
                        .unwrap();
                    Looks {
                        outline: outline(&original, glyph.id),
                        advance: f64::from(advance) * per_mille,
                        origin: (
                            (origin.0 - shaped[0].x_offset) * per_mille,
                            (origin.1 - shaped[0].y_offset) * per_mille,
                        ),
                    }
                })
                .collect();
            assert!(
                looks.iter().any(|drawn| looks_alike(drawn, &expected)),
                "{text} in {file}: HarfBuzz sets {}; the page draws (in subset codes) {:?}",
                placed(shaped.iter().map(|glyph| glyph.id).zip(&expected)),
                lines
                    .iter()
                    .zip(&looks)
                    .map(|(line, looks)| placed(line.iter().map(|glyph| glyph.code).zip(looks)))
                    .collect::<Vec<_>>()
            );
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
