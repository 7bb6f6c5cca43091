//! The all-users export on A4, written while people arrive: the piivault header band
//! with the title and "N people - generated …", a table of Name, Age, Address, Phone
//! and Email over as many pages as it needs, and "Page X of N". Every value is shown
//! whole: cells wrap (an email without spaces breaks after `@`, `.` or `-`, or between
//! any two characters when it must), and a row is as tall as its tallest cell.

use std::io::Write;
use std::sync::Arc;

use super::fonts::{FontLibrary, BOLD, REGULAR};
use super::layout::{
    label, logo, page_of, style, Column, Flow, PageFrame, TableStyle, BRAND, INK, MARGIN, MUTED,
    PAGE_HEIGHT, PAGE_WIDTH, PALE, RULE, SHADE, WHITE,
};
use super::writer::{Align, Canvas, DeferredText, Document};
use super::PdfError;

/// One person's line in the export, already opened by the caller; wiped when dropped.
#[derive(Clone, zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
pub struct RosterRow {
    pub name: String,
    pub age: Option<u32>,
    pub address: String,
    pub phone: String,
    pub email: String,
}

const FONT_SIZE: f32 = 7.5;
const TABLE_TOP: f32 = 249.0;
const TABLE_BOTTOM: f32 = 22.0;
const CELL_PAD: f32 = 0.8;

const COLUMNS: [Column; 5] = [
    column(MARGIN, 38.0, Align::Left),
    column(MARGIN + 38.0, 10.0, Align::Left),
    column(MARGIN + 48.0, 50.0, Align::Left),
    column(MARGIN + 98.0, 27.0, Align::Left),
    column(MARGIN + 125.0, 61.0, Align::Left),
];
const TITLES: [&str; 5] = ["NAME", "AGE", "ADDRESS", "PHONE", "EMAIL"];

const fn column(left: f32, width: f32, align: Align) -> Column {
    Column { left, width, align }
}

struct Frame {
    title: String,
    /// "N people - generated …": the count is known at the end.
    summary: DeferredText,
    total_pages: DeferredText,
}

/// An export being written: [`start`](Self::start), [`add`](Self::add) each person,
/// [`finish`](Self::finish).
pub struct RosterWriter<W: Write> {
    flow: Flow<W>,
    frame: Frame,
    generated_at: chrono::DateTime<chrono::Utc>,
    people: usize,
}

impl<W: Write> RosterWriter<W> {
    pub fn start(
        out: W,
        password: &str,
        fonts: Arc<FontLibrary>,
        title: &str,
        generated_at: chrono::DateTime<chrono::Utc>,
    ) -> Result<Self, PdfError> {
        let mut document = Document::start(out, password, fonts)?;
        let mut frame = Frame {
            title: title.to_owned(),
            summary: document.defer(),
            total_pages: document.defer(),
        };
        let table = TableStyle {
            columns: &COLUMNS,
            text: style(REGULAR, FONT_SIZE, INK),
            leading: 3.4,
            padding: CELL_PAD,
            row_gap: 1.8,
            bottom: TABLE_BOTTOM,
        };
        let flow = Flow::new(document, table, &mut frame);
        Ok(Self {
            flow,
            frame,
            generated_at,
            people: 0,
        })
    }

    pub fn add(&mut self, row: &RosterRow) -> Result<(), PdfError> {
        let age = row.age.map(|age| age.to_string()).unwrap_or_default();
        self.flow.row(
            &[&row.name, &age, &row.address, &row.phone, &row.email],
            &mut self.frame,
        )?;
        self.people += 1;
        Ok(())
    }

    /// Writes the last page, the count and the page total; returns the writer and
    /// how many characters were drawn as the missing-glyph box.
    pub fn finish(self) -> Result<(W, usize), PdfError> {
        let mut document = self.flow.finish()?;
        let summary = format!(
            "{} people - generated {}",
            self.people,
            self.generated_at.format("%d %b %Y, %H:%M UTC")
        );
        document.fill_deferred(
            self.frame.summary,
            &summary,
            style(REGULAR, 8.0, PALE),
            Align::Left,
        );
        let pages = document.page_count().to_string();
        document.fill_deferred(
            self.frame.total_pages,
            &pages,
            style(REGULAR, 8.0, MUTED),
            Align::Left,
        );
        let missing = document.typesetter.missing;
        Ok((document.finish()?, missing))
    }
}

impl<W: Write> PageFrame<W> for Frame {
    fn frame(&mut self, document: &mut Document<W>, canvas: &mut Canvas, number: usize) -> f32 {
        let band_bottom = PAGE_HEIGHT - 34.0;
        canvas.fill_rect(BRAND, (0.0, band_bottom, PAGE_WIDTH, PAGE_HEIGHT));
        logo(canvas, MARGIN, band_bottom + 10.0);
        let left = MARGIN + 16.0;
        label(
            document,
            canvas,
            (left, band_bottom + 17.5),
            style(BOLD, 18.0, WHITE),
            Align::Left,
            "piivault",
        );
        label(
            document,
            canvas,
            (left, band_bottom + 11.5),
            style(REGULAR, 9.0, PALE),
            Align::Left,
            "Personal data, kept sealed",
        );
        label(
            document,
            canvas,
            (110.0, band_bottom + 17.5),
            style(BOLD, 16.0, WHITE),
            Align::Left,
            &self.title,
        );
        canvas.deferred(self.summary, 110.0, band_bottom + 11.5);

        let heading = TABLE_TOP + 2.0;
        canvas.fill_rect(
            SHADE,
            (MARGIN, heading - 2.0, PAGE_WIDTH - MARGIN, heading + 4.5),
        );
        for (title, column) in TITLES.into_iter().zip(COLUMNS) {
            label(
                document,
                canvas,
                (column.left + CELL_PAD, heading),
                style(BOLD, 8.0, BRAND),
                Align::Left,
                title,
            );
        }

        canvas.rule((MARGIN, PAGE_WIDTH - MARGIN), 18.0, 0.5, RULE);
        // The page number sits at the left margin: its total is written at the end,
        // so nothing may have to end where the total does.
        page_of(document, canvas, (MARGIN, 12.0), number, self.total_pages);
        label(
            document,
            canvas,
            (PAGE_WIDTH - MARGIN, 12.0),
            style(REGULAR, 8.0, MUTED),
            Align::Right,
            "Confidential - personal data export for authorised operators only.",
        );
        TABLE_TOP - 2.5
    }
}
