//! A transaction statement on A4, written while its rows arrive: a header band with
//! the piivault mark and "Statement", the customer block (name, masked phone, period,
//! request date, currency), a summary (opening balance, paid in, withdrawn, closing
//! balance), and the detail table — Receipt No., Completion Time, Details, Paid In,
//! Withdrawn, Balance — over as many pages as it needs, with "Page X of N" on each.
//!
//! Nothing of the summary is known when page 1 is drawn (the opening balance is read
//! after the document has started, so its first bytes leave at once): the four sums
//! and the page count are deferred text (`writer.rs`), filled in by
//! [`StatementWriter::finish`].

use std::io::Write;
use std::sync::Arc;

use super::fonts::{FontLibrary, BOLD, REGULAR};
use super::layout::{
    label, logo, page_of, paragraph, style, Column, Flow, PageFrame, TableStyle, BRAND, INK,
    MARGIN, MUTED, PAGE_HEIGHT, PAGE_WIDTH, PALE, RULE, SHADE, WHITE,
};
use super::writer::{Align, Canvas, DeferredText, Document};
use super::{PdfError, StatementHeader};
use crate::domain::Transaction;

const BODY_SIZE: f32 = 7.0;
const LEADING: f32 = 3.3;
const TABLE_BOTTOM: f32 = 22.0;
const TABLE_TOP_NEXT: f32 = 255.0;
const CELL_PAD: f32 = 1.2;

const COLUMNS: [Column; 6] = [
    column(MARGIN, 26.0, Align::Left),
    column(MARGIN + 26.0, 30.0, Align::Left),
    column(MARGIN + 56.0, 58.0, Align::Left),
    column(MARGIN + 114.0, 24.0, Align::Right),
    column(MARGIN + 138.0, 24.0, Align::Right),
    column(MARGIN + 162.0, 24.0, Align::Right),
];
const TITLES: [&str; 6] = [
    "Receipt No.",
    "Completion Time",
    "Details",
    "Paid In",
    "Withdrawn",
    "Balance",
];

const fn column(left: f32, width: f32, align: Align) -> Column {
    Column { left, width, align }
}

/// What every page shows around the table.
struct Frame {
    header: StatementHeader,
    total_pages: DeferredText,
    /// Opening balance, paid in, withdrawn, closing balance.
    sums: [DeferredText; 4],
}

/// A statement being written: [`start`](Self::start), [`add`](Self::add) each
/// transaction oldest first, [`finish`](Self::finish).
pub struct StatementWriter<W: Write> {
    flow: Flow<W>,
    frame: Frame,
    opening: i128,
    balance: i128,
    paid_in: i128,
    withdrawn: i128,
    rows: usize,
}

impl<W: Write> StatementWriter<W> {
    /// Writes the document's start to `out`; the PDF opens with `password`.
    pub fn start(
        out: W,
        password: &str,
        fonts: Arc<FontLibrary>,
        header: StatementHeader,
    ) -> Result<Self, PdfError> {
        let mut document = Document::start(out, password, fonts)?;
        let total_pages = document.defer();
        let sums = [
            document.defer(),
            document.defer(),
            document.defer(),
            document.defer(),
        ];
        let mut frame = Frame {
            header,
            total_pages,
            sums,
        };
        let table = TableStyle {
            columns: &COLUMNS,
            text: style(REGULAR, BODY_SIZE, INK),
            leading: LEADING,
            padding: CELL_PAD,
            row_gap: 1.6,
            bottom: TABLE_BOTTOM,
        };
        let flow = Flow::new(document, table, &mut frame);
        Ok(Self {
            flow,
            frame,
            opening: 0,
            balance: 0,
            paid_in: 0,
            withdrawn: 0,
            rows: 0,
        })
    }

    /// The balance before the period (minor units): set before the first row.
    pub fn opening(&mut self, balance: i128) {
        self.opening = balance;
        self.balance = balance;
    }

    /// Adds the next transaction (in the statement's currency).
    pub fn add(&mut self, transaction: &Transaction) -> Result<(), PdfError> {
        let currency = self.frame.header.currency;
        let amount = i128::from(transaction.amount);
        self.balance += amount;
        let (paid, taken) = if amount >= 0 {
            self.paid_in += amount;
            (currency.grouped(amount), String::new())
        } else {
            self.withdrawn -= amount;
            (String::new(), currency.grouped(-amount))
        };
        let time = completion_time(transaction.occurred_at);
        let balance = currency.grouped(self.balance);
        self.flow.row(
            &[
                &transaction.reference,
                &time,
                &transaction.details,
                &paid,
                &taken,
                &balance,
            ],
            &mut self.frame,
        )?;
        self.rows += 1;
        Ok(())
    }

    /// Writes the last page, the sums and the page count; returns the writer and how
    /// many characters were drawn as the missing-glyph box.
    pub fn finish(mut self) -> Result<(W, usize), PdfError> {
        if self.rows == 0 {
            let (document, canvas, top) = self.flow.canvas();
            label(
                document,
                canvas,
                (MARGIN + CELL_PAD, top - LEADING),
                style(REGULAR, 9.0, MUTED),
                Align::Left,
                "No transactions in this period.",
            );
        }
        let mut document = self.flow.finish()?;
        let currency = self.frame.header.currency;
        let figures = [self.opening, self.paid_in, self.withdrawn, self.balance];
        for (deferred, value) in self.frame.sums.into_iter().zip(figures) {
            document.fill_deferred(
                deferred,
                &currency.grouped(value),
                style(REGULAR, 10.0, INK),
                Align::Right,
            );
        }
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

/// `YYYY-MM-DD HH:MM:SS`, written directly: once per row, where chrono's `format`
/// would parse its pattern each time.
fn completion_time(at: chrono::NaiveDateTime) -> String {
    use chrono::{Datelike as _, Timelike as _};
    use std::fmt::Write as _;
    let mut text = String::with_capacity(19);
    let _ = write!(
        text,
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        at.year(),
        at.month(),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    );
    text
}

impl<W: Write> PageFrame<W> for Frame {
    fn frame(&mut self, document: &mut Document<W>, canvas: &mut Canvas, number: usize) -> f32 {
        header_band(document, canvas, &self.header);
        footer(document, canvas, number, self.total_pages);
        let top = if number == 1 {
            let below = customer_block(document, canvas, &self.header);
            summary_block(document, canvas, &self.sums, below)
        } else {
            TABLE_TOP_NEXT
        };
        table_heading(document, canvas, top);
        top
    }
}

fn header_band<W: Write>(
    document: &mut Document<W>,
    canvas: &mut Canvas,
    header: &StatementHeader,
) {
    let bottom = PAGE_HEIGHT - 28.0;
    canvas.fill_rect(BRAND, (0.0, bottom, PAGE_WIDTH, PAGE_HEIGHT));
    logo(canvas, MARGIN, bottom + 7.0);
    let left = MARGIN + 16.0;
    let right = PAGE_WIDTH - MARGIN;
    label(
        document,
        canvas,
        (left, bottom + 14.5),
        style(BOLD, 18.0, WHITE),
        Align::Left,
        "piivault",
    );
    label(
        document,
        canvas,
        (left, bottom + 9.0),
        style(REGULAR, 8.0, PALE),
        Align::Left,
        "Personal data, kept sealed",
    );
    label(
        document,
        canvas,
        (right, bottom + 14.5),
        style(BOLD, 20.0, WHITE),
        Align::Right,
        "Statement",
    );
    label(
        document,
        canvas,
        (right, bottom + 9.0),
        style(REGULAR, 7.0, PALE),
        Align::Right,
        &format!("Ref. {}", header.reference),
    );
}

/// The customer block; returns the y below it. The name wraps (any length shows
/// whole) and pushes what follows down.
fn customer_block<W: Write>(
    document: &mut Document<W>,
    canvas: &mut Canvas,
    header: &StatementHeader,
) -> f32 {
    let lines = [
        ("Customer Name:", header.customer_name.clone()),
        (
            "Mobile Number:",
            header
                .masked_phone
                .clone()
                .unwrap_or_else(|| "-".to_owned()),
        ),
        (
            "Statement Period:",
            format!(
                "{} - {}",
                header.period.from.format("%d %b %Y"),
                header.period.to.format("%d %b %Y")
            ),
        ),
        (
            "Request Date:",
            header
                .requested_at
                .format("%d %b %Y, %H:%M UTC")
                .to_string(),
        ),
        ("Currency:", header.currency.code().to_owned()),
    ];
    let value_left = MARGIN + 38.0;
    let mut y = 254.0;
    for (name, value) in lines {
        label(
            document,
            canvas,
            (MARGIN, y),
            style(BOLD, 9.0, MUTED),
            Align::Left,
            name,
        );
        let count = paragraph(
            document,
            canvas,
            (value_left, y, PAGE_WIDTH - MARGIN - value_left),
            style(REGULAR, 10.0, INK),
            4.6,
            &value,
        );
        y -= 6.0 + 4.6 * (count.max(1) - 1) as f32;
    }
    y
}

/// The summary under the customer block (`top`); returns where the table starts.
fn summary_block<W: Write>(
    document: &mut Document<W>,
    canvas: &mut Canvas,
    sums: &[DeferredText; 4],
    top: f32,
) -> f32 {
    // 224 is where the block ends for a one-line name: the summary then sits where
    // it always did.
    let shift = (top - 224.0).min(0.0);
    let y = |at: f32| at + shift;
    label(
        document,
        canvas,
        (MARGIN, y(218.0)),
        style(BOLD, 10.0, BRAND),
        Align::Left,
        "SUMMARY",
    );
    canvas.fill_rect(SHADE, (MARGIN, y(207.5), PAGE_WIDTH - MARGIN, y(214.5)));
    let titles = [
        "Opening Balance",
        "Total Paid In",
        "Total Withdrawn",
        "Closing Balance",
    ];
    let width = (PAGE_WIDTH - 2.0 * MARGIN) / 4.0;
    for (index, (title, sum)) in titles.into_iter().zip(sums).enumerate() {
        let right = MARGIN + width * (index as f32 + 1.0) - 2.0;
        label(
            document,
            canvas,
            (right, y(210.0)),
            style(BOLD, 8.0, BRAND),
            Align::Right,
            title,
        );
        canvas.deferred(*sum, right, y(201.0));
    }
    canvas.rule((MARGIN, PAGE_WIDTH - MARGIN), y(197.0), 0.4, RULE);
    label(
        document,
        canvas,
        (MARGIN, y(190.0)),
        style(BOLD, 10.0, BRAND),
        Align::Left,
        "DETAILED STATEMENT",
    );
    y(180.0)
}

fn table_heading<W: Write>(document: &mut Document<W>, canvas: &mut Canvas, top: f32) {
    canvas.fill_rect(BRAND, (MARGIN, top + 1.0, PAGE_WIDTH - MARGIN, top + 6.5));
    for (title, column) in TITLES.into_iter().zip(COLUMNS) {
        let (x, align) = match column.align {
            Align::Right => (column.left + column.width - CELL_PAD, Align::Right),
            Align::Left => (column.left + CELL_PAD, Align::Left),
        };
        label(
            document,
            canvas,
            (x, top + 2.6),
            style(BOLD, 7.5, WHITE),
            align,
            title,
        );
    }
}

/// "Page X of N": N is the same deferred text on every page, drawn after "of ".
fn footer<W: Write>(
    document: &mut Document<W>,
    canvas: &mut Canvas,
    page: usize,
    total: DeferredText,
) {
    canvas.rule((MARGIN, PAGE_WIDTH - MARGIN), 16.0, 0.5, RULE);
    // The page number sits at the left margin: its total is written at the end, so
    // nothing may have to end where the total does.
    page_of(document, canvas, (MARGIN, 11.0), page, total);
    label(
        document,
        canvas,
        (PAGE_WIDTH - MARGIN, 11.0),
        style(REGULAR, 7.0, MUTED),
        Align::Right,
        "Confidential - generated by piivault for the named customer only.",
    );
}
