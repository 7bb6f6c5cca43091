//! Page layout of a transaction statement on A4: a header band with the piivault mark
//! and "Statement", the customer block (name, masked phone, period, request date), a
//! summary (opening balance, paid in, withdrawn, closing balance) and the detail table
//! flowing over as many pages as it needs, with "Page X of N" on every page.
//!
//! The table is laid out here, not by printpdf: rows are measured with the embedded
//! font's advance widths (so amounts right-align and details wrap at the column edge),
//! split into pages first, and then every page's text goes into one text section that
//! switches font and colour only when they change. That keeps 10,000 rows fast.

use printpdf::{
    Color, Line, LinePoint, Mm, Op, PaintMode, PdfDocument, PdfFontHandle, PdfPage, PdfSaveOptions,
    Point, Polygon, PolygonRing, Pt, Rgb, TextItem, TextMatrix, WindingOrder,
};

use super::fonts::{fonts, Face, FaceMetrics, Fonts, UsedChars};
use super::{PdfError, Statement};

pub(super) const PAGE_WIDTH: f32 = 210.0;
pub(super) const PAGE_HEIGHT: f32 = 297.0;
pub(super) const MARGIN: f32 = 12.0;
/// Points to millimetres.
const PT: f32 = 25.4 / 72.0;

const BODY_SIZE: f32 = 7.0;
const LINE_HEIGHT: f32 = 3.3;
const ROW_PADDING: f32 = 1.6;
const TABLE_BOTTOM: f32 = 22.0;
/// Where the detail table's rows start on the first and on later pages.
const TABLE_TOP_FIRST: f32 = 180.0;
const TABLE_TOP_NEXT: f32 = 255.0;

/// Detail table columns: title, left edge, width, right-aligned.
const COLUMNS: [(&str, f32, f32, bool); 6] = [
    ("Receipt No.", MARGIN, 26.0, false),
    ("Completion Time", MARGIN + 26.0, 30.0, false),
    ("Details", MARGIN + 56.0, 58.0, false),
    ("Paid In", MARGIN + 114.0, 24.0, true),
    ("Withdrawn", MARGIN + 138.0, 24.0, true),
    ("Balance", MARGIN + 162.0, 24.0, true),
];
const CELL_PAD: f32 = 1.2;

pub(super) fn rgb(r: f32, g: f32, b: f32) -> Color {
    Color::Rgb(Rgb::new(r, g, b, None))
}

pub(super) fn brand() -> Color {
    rgb(0.07, 0.33, 0.29)
}

pub(super) fn ink() -> Color {
    rgb(0.12, 0.12, 0.14)
}

pub(super) fn muted() -> Color {
    rgb(0.42, 0.44, 0.47)
}

pub(super) fn white() -> Color {
    rgb(1.0, 1.0, 1.0)
}

pub(super) fn pale() -> Color {
    rgb(0.8, 0.9, 0.87)
}

/// One piece of text to place: position is its left baseline, or right edge when
/// `right_aligned`.
struct Text {
    x: f32,
    y: f32,
    face: Face,
    size: f32,
    color: Color,
    content: String,
}

/// One page's drawing: shapes first, then all text in one section.
pub(super) struct Canvas<'f> {
    fonts: &'f Fonts,
    shapes: Vec<Op>,
    texts: Vec<Text>,
}

impl<'f> Canvas<'f> {
    pub(super) fn new(fonts: &'f Fonts) -> Self {
        Self {
            fonts,
            shapes: Vec::new(),
            texts: Vec::new(),
        }
    }

    pub(super) fn text(
        &mut self,
        x: f32,
        y: f32,
        face: Face,
        size: f32,
        color: Color,
        content: &str,
    ) {
        self.texts.push(Text {
            x,
            y,
            face,
            size,
            color,
            content: content.to_owned(),
        });
    }

    /// Text whose right edge is at `right`.
    fn text_right(
        &mut self,
        right: f32,
        y: f32,
        face: Face,
        size: f32,
        color: Color,
        content: &str,
    ) {
        let width = self.fonts.metrics(face).width_mm(content, size);
        self.text(right - width, y, face, size, color, content);
    }

    pub(super) fn rectangle(
        &mut self,
        color: Color,
        (left, bottom, right, top): (f32, f32, f32, f32),
    ) {
        self.polygon(
            color,
            &[(left, top), (right, top), (right, bottom), (left, bottom)],
        );
    }

    fn polygon(&mut self, color: Color, points: &[(f32, f32)]) {
        self.shapes.push(Op::SetFillColor { col: color });
        self.shapes.push(Op::DrawPolygon {
            polygon: Polygon {
                rings: vec![PolygonRing {
                    points: points.iter().map(|&(x, y)| point(x, y)).collect(),
                }],
                mode: PaintMode::Fill,
                winding_order: WindingOrder::NonZero,
            },
        });
    }

    pub(super) fn rule(&mut self, y: f32, thickness: f32, color: Color) {
        self.rule_style(thickness, color);
        self.line(y);
    }

    fn rule_style(&mut self, thickness: f32, color: Color) {
        self.shapes.extend([
            Op::SetOutlineColor { col: color },
            Op::SetOutlineThickness { pt: Pt(thickness) },
        ]);
    }

    /// A rule across the page in the current outline style.
    fn line(&mut self, y: f32) {
        self.shapes.push(Op::DrawLine {
            line: Line {
                points: vec![point(MARGIN, y), point(PAGE_WIDTH - MARGIN, y)],
                is_closed: false,
            },
        });
    }

    fn into_ops(self, font_ids: &[printpdf::FontId; 2]) -> Vec<Op> {
        let mut ops = self.shapes;
        ops.reserve(self.texts.len() * 3 + 2);
        ops.push(Op::StartTextSection);
        let mut current: Option<(Face, f32)> = None;
        let mut current_color: Option<Color> = None;
        for text in self.texts {
            if current != Some((text.face, text.size)) {
                ops.push(Op::SetFont {
                    font: PdfFontHandle::External(font_ids[text.face as usize].clone()),
                    size: Pt(text.size),
                });
                current = Some((text.face, text.size));
            }
            if current_color.as_ref() != Some(&text.color) {
                ops.push(Op::SetFillColor {
                    col: text.color.clone(),
                });
                current_color = Some(text.color);
            }
            ops.push(Op::SetTextMatrix {
                matrix: TextMatrix::Translate(Mm(text.x).into(), Mm(text.y).into()),
            });
            ops.push(Op::ShowText {
                items: vec![TextItem::Text(text.content)],
            });
        }
        ops.push(Op::EndTextSection);
        ops
    }
}

fn point(x: f32, y: f32) -> LinePoint {
    LinePoint {
        p: Point::new(Mm(x), Mm(y)),
        bezier: false,
    }
}

/// A detail-table row once its cells are formatted and wrapped.
struct Row {
    receipt: Vec<String>,
    time: String,
    details: Vec<String>,
    paid_in: String,
    withdrawn: String,
    balance: String,
}

impl Row {
    fn lines(&self) -> usize {
        self.receipt.len().max(self.details.len()).max(1)
    }

    fn height(&self) -> f32 {
        LINE_HEIGHT * self.lines() as f32 + ROW_PADDING
    }
}

/// Totals over the period, in minor units.
struct Summary {
    opening: i128,
    paid_in: i128,
    withdrawn: i128,
    closing: i128,
}

fn rows_and_summary(statement: &Statement, fonts: &Fonts) -> (Vec<Row>, Summary) {
    let regular = fonts.metrics(Face::Regular);
    let currency = statement.currency;
    let mut balance = statement.opening_balance;
    let mut paid_in: i128 = 0;
    let mut withdrawn: i128 = 0;
    let receipt_width = COLUMNS[0].2 - 2.0 * CELL_PAD;
    let details_width = COLUMNS[2].2 - 2.0 * CELL_PAD;
    let rows = statement
        .transactions
        .iter()
        .map(|transaction| {
            let amount = i128::from(transaction.amount);
            balance += amount;
            let (paid, taken) = if amount >= 0 {
                paid_in += amount;
                (currency.grouped(amount), String::new())
            } else {
                withdrawn -= amount;
                (String::new(), currency.grouped(-amount))
            };
            Row {
                receipt: regular.wrap(&transaction.reference, BODY_SIZE, receipt_width),
                time: transaction
                    .occurred_at
                    .format("%Y-%m-%d %H:%M:%S")
                    .to_string(),
                details: regular.wrap(&transaction.details, BODY_SIZE, details_width),
                paid_in: paid,
                withdrawn: taken,
                balance: currency.grouped(balance),
            }
        })
        .collect();
    let summary = Summary {
        opening: statement.opening_balance,
        paid_in,
        withdrawn,
        closing: balance,
    };
    (rows, summary)
}

/// Splits rows into pages; the first page has less room below the header blocks.
/// Always at least one (possibly empty) page.
fn paginate(rows: &[Row]) -> Vec<&[Row]> {
    let mut pages = Vec::new();
    let mut start = 0;
    let mut room = TABLE_TOP_FIRST - TABLE_BOTTOM;
    let mut used = 0.0;
    for (index, row) in rows.iter().enumerate() {
        if used + row.height() > room && index > start {
            pages.push(&rows[start..index]);
            start = index;
            used = 0.0;
            room = TABLE_TOP_NEXT - TABLE_BOTTOM;
        }
        used += row.height();
    }
    pages.push(&rows[start..]);
    pages
}

/// Renders the statement as an unencrypted PDF (to be passed to `encrypt`).
pub fn render_statement(statement: &Statement) -> Result<Vec<u8>, PdfError> {
    let fonts = fonts()?;
    let (rows, summary) = rows_and_summary(statement, fonts);
    let pages = paginate(&rows);
    let total = pages.len();

    let canvases: Vec<Canvas<'_>> = pages
        .iter()
        .enumerate()
        .map(|(index, page_rows)| {
            let mut canvas = Canvas::new(fonts);
            let first = index == 0;
            header_band(&mut canvas, statement);
            let top = if first {
                customer_block(&mut canvas, statement);
                summary_block(&mut canvas, statement, &summary);
                TABLE_TOP_FIRST
            } else {
                TABLE_TOP_NEXT
            };
            table_heading(&mut canvas, top);
            if rows.is_empty() {
                canvas.text(
                    MARGIN + CELL_PAD,
                    top - LINE_HEIGHT,
                    Face::Regular,
                    9.0,
                    muted(),
                    "No transactions in this period.",
                );
            }
            table_rows(&mut canvas, top, page_rows);
            footer(&mut canvas, index + 1, total);
            canvas
        })
        .collect();
    drop(rows);

    assemble("Statement", fonts, canvases)
}

/// The finished, unencrypted PDF of these pages: the embedded fonts are subset to the
/// characters the pages use.
pub(super) fn assemble(
    title: &str,
    fonts: &Fonts,
    canvases: Vec<Canvas<'_>>,
) -> Result<Vec<u8>, PdfError> {
    let mut used = [UsedChars::new(), UsedChars::new()];
    for text in canvases.iter().flat_map(|canvas| &canvas.texts) {
        used[text.face as usize].add(&text.content);
    }
    let mut document = PdfDocument::new(title);
    let font_ids = [
        document.add_font(&fonts.subset(Face::Regular, &used[0])?),
        document.add_font(&fonts.subset(Face::Bold, &used[1])?),
    ];
    let pdf_pages = canvases
        .into_iter()
        .map(|canvas| PdfPage::new(Mm(PAGE_WIDTH), Mm(PAGE_HEIGHT), canvas.into_ops(&font_ids)))
        .collect();

    let mut warnings = Vec::new();
    let options = PdfSaveOptions {
        // `encrypt` compresses the streams at a fast level; printpdf's own pass uses
        // level 9, which was half of a 10,000-row statement's time.
        optimize: false,
        subset_fonts: true,
        ..PdfSaveOptions::default()
    };
    Ok(document.with_pages(pdf_pages).save(&options, &mut warnings))
}

/// The piivault mark: a shield with a keyhole, drawn as vector shapes.
pub(super) fn logo(canvas: &mut Canvas, x: f32, y: f32) {
    canvas.polygon(
        white(),
        &[
            (x, y + 14.0),
            (x + 12.0, y + 14.0),
            (x + 12.0, y + 6.0),
            (x + 6.0, y),
            (x, y + 6.0),
        ],
    );
    canvas.polygon(
        brand(),
        &[
            (x + 4.6, y + 10.8),
            (x + 7.4, y + 10.8),
            (x + 7.4, y + 8.2),
            (x + 6.6, y + 7.6),
            (x + 7.0, y + 4.0),
            (x + 5.0, y + 4.0),
            (x + 5.4, y + 7.6),
            (x + 4.6, y + 8.2),
        ],
    );
}

fn header_band(canvas: &mut Canvas, statement: &Statement) {
    let bottom = PAGE_HEIGHT - 28.0;
    canvas.rectangle(brand(), (0.0, bottom, PAGE_WIDTH, PAGE_HEIGHT));
    logo(canvas, MARGIN, bottom + 7.0);
    canvas.text(
        MARGIN + 16.0,
        bottom + 14.5,
        Face::Bold,
        18.0,
        white(),
        "piivault",
    );
    canvas.text(
        MARGIN + 16.0,
        bottom + 9.0,
        Face::Regular,
        8.0,
        pale(),
        "Personal data, kept sealed",
    );
    let right = PAGE_WIDTH - MARGIN;
    canvas.text_right(right, bottom + 14.5, Face::Bold, 20.0, white(), "Statement");
    canvas.text_right(
        right,
        bottom + 9.0,
        Face::Regular,
        7.0,
        pale(),
        &format!("Ref. {}", statement.reference),
    );
}

fn customer_block(canvas: &mut Canvas, statement: &Statement) {
    let lines = [
        ("Customer Name:", statement.customer_name.clone()),
        (
            "Mobile Number:",
            statement
                .masked_phone
                .clone()
                .unwrap_or_else(|| "-".to_owned()),
        ),
        (
            "Statement Period:",
            format!(
                "{} - {}",
                statement.period.from.format("%d %b %Y"),
                statement.period.to.format("%d %b %Y")
            ),
        ),
        (
            "Request Date:",
            statement
                .requested_at
                .format("%d %b %Y, %H:%M UTC")
                .to_string(),
        ),
        ("Currency:", statement.currency.code().to_owned()),
    ];
    let mut y = 254.0;
    for (label, value) in lines {
        canvas.text(MARGIN, y, Face::Bold, 9.0, muted(), label);
        canvas.text(MARGIN + 38.0, y, Face::Regular, 10.0, ink(), &value);
        y -= 6.0;
    }
}

fn summary_block(canvas: &mut Canvas, statement: &Statement, summary: &Summary) {
    let currency = statement.currency;
    canvas.text(MARGIN, 218.0, Face::Bold, 10.0, brand(), "SUMMARY");
    canvas.rectangle(
        rgb(0.93, 0.95, 0.94),
        (MARGIN, 207.5, PAGE_WIDTH - MARGIN, 214.5),
    );
    let cells = [
        ("Opening Balance", summary.opening),
        ("Total Paid In", summary.paid_in),
        ("Total Withdrawn", summary.withdrawn),
        ("Closing Balance", summary.closing),
    ];
    let width = (PAGE_WIDTH - 2.0 * MARGIN) / 4.0;
    for (index, (label, value)) in cells.into_iter().enumerate() {
        let right = MARGIN + width * (index as f32 + 1.0) - 2.0;
        canvas.text_right(right, 210.0, Face::Bold, 8.0, brand(), label);
        canvas.text_right(
            right,
            201.0,
            Face::Regular,
            10.0,
            ink(),
            &currency.grouped(value),
        );
    }
    canvas.rule(197.0, 0.4, rgb(0.75, 0.77, 0.8));
    canvas.text(
        MARGIN,
        190.0,
        Face::Bold,
        10.0,
        brand(),
        "DETAILED STATEMENT",
    );
}

fn table_heading(canvas: &mut Canvas, top: f32) {
    canvas.rectangle(brand(), (MARGIN, top + 1.0, PAGE_WIDTH - MARGIN, top + 6.5));
    for (title, left, width, right_aligned) in COLUMNS {
        if right_aligned {
            canvas.text_right(
                left + width - CELL_PAD,
                top + 2.6,
                Face::Bold,
                7.5,
                white(),
                title,
            );
        } else {
            canvas.text(left + CELL_PAD, top + 2.6, Face::Bold, 7.5, white(), title);
        }
    }
}

fn table_rows(canvas: &mut Canvas, top: f32, rows: &[Row]) {
    // One style for every separator on the page: fewer operators for long tables.
    canvas.rule_style(0.25, rgb(0.86, 0.87, 0.89));
    let mut y = top - LINE_HEIGHT;
    for row in rows {
        let cell = |column: usize| COLUMNS[column].1 + CELL_PAD;
        let right = |column: usize| COLUMNS[column].1 + COLUMNS[column].2 - CELL_PAD;
        for (line, text) in row.receipt.iter().enumerate() {
            let line_y = y - LINE_HEIGHT * line as f32;
            canvas.text(cell(0), line_y, Face::Regular, BODY_SIZE, ink(), text);
        }
        canvas.text(cell(1), y, Face::Regular, BODY_SIZE, ink(), &row.time);
        for (line, text) in row.details.iter().enumerate() {
            let line_y = y - LINE_HEIGHT * line as f32;
            canvas.text(cell(2), line_y, Face::Regular, BODY_SIZE, ink(), text);
        }
        for (column, amount) in [(3, &row.paid_in), (4, &row.withdrawn), (5, &row.balance)] {
            if !amount.is_empty() {
                canvas.text_right(right(column), y, Face::Regular, BODY_SIZE, ink(), amount);
            }
        }
        let bottom = y - row.height() + LINE_HEIGHT;
        canvas.line(bottom - 0.6);
        y -= row.height();
    }
}

fn footer(canvas: &mut Canvas, page: usize, total: usize) {
    canvas.rule(16.0, 0.5, rgb(0.75, 0.77, 0.8));
    canvas.text(
        MARGIN,
        11.0,
        Face::Regular,
        7.0,
        muted(),
        "Confidential - generated by piivault for the named customer only.",
    );
    canvas.text_right(
        PAGE_WIDTH - MARGIN,
        11.0,
        Face::Regular,
        8.0,
        muted(),
        &format!("Page {page} of {total}"),
    );
}

impl FaceMetrics {
    /// The advance width of `text` at `size` points, in millimetres.
    pub fn width_mm(&self, text: &str, size: f32) -> f32 {
        let units: u32 = text.chars().map(|c| u32::from(self.advance(c))).sum();
        units as f32 / f32::from(self.units_per_em) * size * PT
    }

    /// Greedy word wrap at `width` millimetres; a word longer than a line is cut.
    pub fn wrap(&self, text: &str, size: f32, width: f32) -> Vec<String> {
        let scale = f32::from(self.units_per_em) / (size * PT);
        // Widths are a few hundred mm at most: the product is small and positive.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let limit = (width * scale).max(0.0) as u32;
        let space = u32::from(self.advance(' '));
        let mut lines = Vec::new();
        let mut line = String::new();
        let mut used: u32 = 0;
        for word in text.split_whitespace() {
            let word_width: u32 = word.chars().map(|c| u32::from(self.advance(c))).sum();
            if !line.is_empty() && used + space + word_width <= limit {
                line.push(' ');
                line.push_str(word);
                used += space + word_width;
                continue;
            }
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
                used = 0;
            }
            for c in word.chars() {
                let advance = u32::from(self.advance(c));
                if used + advance > limit && !line.is_empty() {
                    lines.push(std::mem::take(&mut line));
                    used = 0;
                }
                line.push(c);
                used += advance;
            }
        }
        if !line.is_empty() || lines.is_empty() {
            lines.push(line);
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_at_the_measured_width_and_cuts_long_words() {
        let metrics = fonts().unwrap().metrics(Face::Regular);
        let lines = metrics.wrap("Paid to Mama Mboga for vegetables and fruit", 7.0, 25.0);
        assert!(lines.len() > 1, "{lines:?}");
        for line in &lines {
            assert!(metrics.width_mm(line, 7.0) <= 25.0, "{line:?} fits");
        }
        assert_eq!(
            lines.join(" "),
            "Paid to Mama Mboga for vegetables and fruit"
        );
        let long = "X".repeat(200);
        let cut = metrics.wrap(&long, 7.0, 20.0);
        assert!(cut.len() > 3);
        assert_eq!(cut.concat(), long);
        assert_eq!(metrics.wrap("", 7.0, 20.0), vec![String::new()]);
    }

    #[test]
    fn wider_text_measures_wider() {
        let metrics = fonts().unwrap().metrics(Face::Regular);
        assert!(metrics.width_mm("1,000.00", 7.0) > metrics.width_mm("1.00", 7.0));
        assert!(metrics.width_mm("Σωκράτης", 7.0) > 0.0);
    }
}
