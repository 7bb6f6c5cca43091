//! The all-users export layout: the piivault header band, a table of Name, Age,
//! Address, Phone and Email over as many A4 pages as it needs, and "Page X of N".
//! It draws on the statement's canvas (same embedded fonts, so names in any script
//! the font covers come out right) and is built for hundreds of thousands of rows:
//! values are cut to their column (one line per person) rather than wrapped, and a
//! page's text shares one text section.

use super::fonts::{fonts, Face};
use super::statement::{
    assemble, brand, ink, logo, muted, pale, rgb, white, Canvas, MARGIN, PAGE_HEIGHT, PAGE_WIDTH,
};
use super::PdfError;

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
/// Column left edges (mm) and the characters that fit (7.5 pt, average glyph width
/// about 1.45 mm; cut values end in "...").
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

/// Renders the export as an unencrypted PDF (to be passed to `encrypt`, in memory).
pub fn render_roster(roster: &Roster) -> Result<Vec<u8>, PdfError> {
    let fonts = fonts()?;
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
        let mut canvas = Canvas::new(fonts);
        band(&mut canvas, &roster.title, &summary);
        heading(&mut canvas, TABLE_TOP + 6.0);
        body(&mut canvas, rows);
        footer(&mut canvas, number, total);
        pages.push(canvas);
    }
    assemble(&roster.title, fonts, pages)
}

fn band(canvas: &mut Canvas, title: &str, summary: &str) {
    let band_bottom = PAGE_HEIGHT - 34.0;
    canvas.rectangle(brand(), (0.0, band_bottom, PAGE_WIDTH, PAGE_HEIGHT));
    logo(canvas, MARGIN, band_bottom + 10.0);
    let left = MARGIN + 16.0;
    canvas.text(
        left,
        band_bottom + 17.5,
        Face::Bold,
        18.0,
        white(),
        "piivault",
    );
    canvas.text(
        left,
        band_bottom + 11.5,
        Face::Regular,
        9.0,
        pale(),
        "Personal data, kept sealed",
    );
    canvas.text(110.0, band_bottom + 17.5, Face::Bold, 16.0, white(), title);
    canvas.text(
        110.0,
        band_bottom + 11.5,
        Face::Regular,
        8.0,
        pale(),
        summary,
    );
}

fn heading(canvas: &mut Canvas, y: f32) {
    canvas.rectangle(
        rgb(0.93, 0.95, 0.94),
        (MARGIN, y - 2.0, PAGE_WIDTH - MARGIN, y + 4.5),
    );
    for (label, x, _) in COLUMNS {
        canvas.text(x, y, Face::Bold, 8.0, brand(), label);
    }
}

/// The people of one page, one line each.
fn body(canvas: &mut Canvas, rows: &[RosterRow]) {
    for (index, row) in rows.iter().enumerate() {
        let y = TABLE_TOP - ROW_HEIGHT * index as f32;
        let age = row.age.map(|age| age.to_string()).unwrap_or_default();
        let cells = [&row.name, &age, &row.address, &row.phone, &row.email];
        for ((_, x, width), value) in COLUMNS.iter().zip(cells) {
            if !value.is_empty() {
                canvas.text(*x, y, Face::Regular, FONT_SIZE, ink(), &fit(value, *width));
            }
        }
    }
    // Light rules every five rows guide the eye without a line per row.
    for index in (5..rows.len()).step_by(5) {
        let y = TABLE_TOP - ROW_HEIGHT * index as f32 + ROW_HEIGHT - 1.6;
        canvas.rule(y, 0.2, rgb(0.85, 0.86, 0.88));
    }
}

fn footer(canvas: &mut Canvas, page: usize, total: usize) {
    canvas.rule(18.0, 0.5, rgb(0.75, 0.77, 0.8));
    canvas.text(
        MARGIN,
        12.0,
        Face::Regular,
        8.0,
        muted(),
        "Confidential - personal data export for authorised operators only.",
    );
    canvas.text(
        PAGE_WIDTH - MARGIN - 28.0,
        12.0,
        Face::Regular,
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
