//! The all-users export layout: the piivault header band, a table of Name, Age,
//! Address, Phone and Email over as many A4 pages as it needs, and "Page X of N".
//! Built for hundreds of thousands of rows: each page opens one text section and
//! sets the font once, so a cell costs two drawing operations, and values are cut to
//! their column (one line per person) rather than wrapped.

use printpdf::{BuiltinFont, Mm, Op, PdfDocument, PdfFontHandle, PdfPage, PdfSaveOptions, Pt};
use printpdf::{TextItem, TextMatrix};

use super::render::{
    brand, filled, ink, logo, muted, rgb, rule, text, MARGIN, PAGE_HEIGHT, PAGE_WIDTH,
};
use super::StatementError;

/// One person's line in the export, already opened by the caller.
#[derive(Clone)]
pub struct RosterRow {
    pub name: String,
    pub age: Option<u32>,
    pub address: String,
    pub phone: String,
    pub email: String,
}

/// Everything the export shows.
pub struct Roster {
    pub title: String,
    pub generated_at: chrono::DateTime<chrono::Utc>,
    pub rows: Vec<RosterRow>,
}

const FONT_SIZE: f32 = 7.5;
const ROW_HEIGHT: f32 = 5.2;
const TABLE_TOP: f32 = 244.0;
/// Column left edges (mm) and the characters that fit (Helvetica 7.5 pt, average
/// glyph width ≈ 1.45 mm; cut values end in "...").
const COLUMNS: [(&str, f32, usize); 5] = [
    ("NAME", MARGIN + 1.5, 24),
    ("AGE", MARGIN + 39.0, 4),
    ("ADDRESS", MARGIN + 49.0, 34),
    ("PHONE", MARGIN + 100.0, 17),
    ("EMAIL", MARGIN + 127.0, 31),
];

/// How many people fit on a page: 41 rows of 5.2 mm down from 244 mm end at 36 mm,
/// clear of the footer rule at 18 mm.
pub const ROWS_PER_PAGE: usize = 41;

/// Renders the export as an unencrypted PDF (to be passed to `protect`, in memory).
pub fn render_roster(roster: &Roster) -> Result<Vec<u8>, StatementError> {
    let total = roster.rows.len().div_ceil(ROWS_PER_PAGE).max(1);
    let generated = roster
        .generated_at
        .format("%d %b %Y, %H:%M UTC")
        .to_string();
    let summary = format!("{} people - generated {generated}", roster.rows.len());
    let mut pages = Vec::with_capacity(total);
    let mut chunks = roster.rows.chunks(ROWS_PER_PAGE);
    for number in 1..=total {
        let rows = chunks.next().unwrap_or_default();
        let mut ops = Vec::with_capacity(16 + rows.len() * 12);
        band(&mut ops, &roster.title, &summary);
        heading(&mut ops, TABLE_TOP + 6.0);
        body(&mut ops, rows);
        footer(&mut ops, number, total);
        pages.push(PdfPage::new(Mm(PAGE_WIDTH), Mm(PAGE_HEIGHT), ops));
    }
    let mut document = PdfDocument::new(&roster.title);
    let mut warnings = Vec::new();
    let options = PdfSaveOptions {
        optimize: true,
        ..PdfSaveOptions::default()
    };
    Ok(document.with_pages(pages).save(&options, &mut warnings))
}

fn band(ops: &mut Vec<Op>, title: &str, summary: &str) {
    let band_bottom = PAGE_HEIGHT - 34.0;
    filled(
        ops,
        brand(),
        &[
            (0.0, PAGE_HEIGHT),
            (PAGE_WIDTH, PAGE_HEIGHT),
            (PAGE_WIDTH, band_bottom),
            (0.0, band_bottom),
        ],
    );
    logo(ops, MARGIN, band_bottom + 10.0);
    let white = rgb(1.0, 1.0, 1.0);
    let pale = rgb(0.8, 0.9, 0.87);
    text(
        ops,
        MARGIN + 16.0,
        band_bottom + 17.5,
        BuiltinFont::HelveticaBold,
        18.0,
        white.clone(),
        "piivault",
    );
    text(
        ops,
        MARGIN + 16.0,
        band_bottom + 11.5,
        BuiltinFont::Helvetica,
        9.0,
        pale.clone(),
        "Personal data, kept sealed",
    );
    text(
        ops,
        110.0,
        band_bottom + 17.5,
        BuiltinFont::HelveticaBold,
        16.0,
        white,
        title,
    );
    text(
        ops,
        110.0,
        band_bottom + 11.5,
        BuiltinFont::Helvetica,
        8.0,
        pale,
        summary,
    );
}

fn heading(ops: &mut Vec<Op>, y: f32) {
    filled(
        ops,
        rgb(0.93, 0.95, 0.94),
        &[
            (MARGIN, y + 4.5),
            (PAGE_WIDTH - MARGIN, y + 4.5),
            (PAGE_WIDTH - MARGIN, y - 2.0),
            (MARGIN, y - 2.0),
        ],
    );
    for (label, x, _) in COLUMNS {
        text(ops, x, y, BuiltinFont::HelveticaBold, 8.0, brand(), label);
    }
}

/// The people of one page: one text section, one font and colour, then for each
/// cell a position and its text.
fn body(ops: &mut Vec<Op>, rows: &[RosterRow]) {
    ops.extend([
        Op::StartTextSection,
        Op::SetFont {
            font: PdfFontHandle::Builtin(BuiltinFont::Helvetica),
            size: Pt(FONT_SIZE),
        },
        Op::SetFillColor { col: ink() },
    ]);
    for (index, row) in rows.iter().enumerate() {
        let y = TABLE_TOP - ROW_HEIGHT * index as f32;
        let age = row.age.map(|age| age.to_string()).unwrap_or_default();
        let cells = [&row.name, &age, &row.address, &row.phone, &row.email];
        for ((_, x, width), value) in COLUMNS.iter().zip(cells) {
            if value.is_empty() {
                continue;
            }
            ops.extend([
                Op::SetTextMatrix {
                    matrix: TextMatrix::Translate(Mm(*x).into(), Mm(y).into()),
                },
                Op::ShowText {
                    items: vec![TextItem::Text(fit(value, *width))],
                },
            ]);
        }
    }
    ops.push(Op::EndTextSection);
    // Light rules every five rows guide the eye without a line per row.
    for index in (5..rows.len()).step_by(5) {
        let y = TABLE_TOP - ROW_HEIGHT * index as f32 + ROW_HEIGHT - 1.6;
        rule(ops, y, 0.2, rgb(0.85, 0.86, 0.88));
    }
}

fn footer(ops: &mut Vec<Op>, page: usize, total: usize) {
    rule(ops, 18.0, 0.5, rgb(0.75, 0.77, 0.8));
    text(
        ops,
        MARGIN,
        12.0,
        BuiltinFont::Helvetica,
        8.0,
        muted(),
        "Confidential - personal data export for authorised operators only.",
    );
    text(
        ops,
        PAGE_WIDTH - MARGIN - 28.0,
        12.0,
        BuiltinFont::Helvetica,
        8.0,
        muted(),
        &format!("Page {page} of {total}"),
    );
}

/// `value` cut to `width` characters, ending in "..." when cut.
fn fit(value: &str, width: usize) -> String {
    if value.chars().count() <= width {
        value.to_owned()
    } else {
        let mut cut: String = value.chars().take(width.saturating_sub(3)).collect();
        cut.push_str("...");
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_long_values_to_their_column() {
        assert_eq!(fit("Nairobi", 10), "Nairobi");
        assert_eq!(fit("Kenyatta Avenue", 10), "Kenyatt...");
        assert_eq!(fit("Kenyatta Avenue", 10).chars().count(), 10);
    }

    #[test]
    fn pages_count_every_row() {
        let row = RosterRow {
            name: "Jack Sparrow".to_owned(),
            age: Some(36),
            address: "Kenyatta Ave 1, Nairobi".to_owned(),
            phone: "+254712345678".to_owned(),
            email: "jack@example.com".to_owned(),
        };
        let roster = Roster {
            title: "All users".to_owned(),
            generated_at: chrono::Utc::now(),
            rows: vec![row; ROWS_PER_PAGE * 2 + 1],
        };
        let pdf = render_roster(&roster).unwrap();
        let document = lopdf::Document::load_mem(&pdf).unwrap();
        assert_eq!(document.get_pages().len(), 3);
    }
}
