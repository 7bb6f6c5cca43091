//! What statements and the export share: the page geometry and colours, the
//! piivault mark, and [`Flow`], a table that runs over as many pages as its rows
//! need. A row is as tall as its tallest cell (cells wrap, never cut); a row that does
//! not fit the rest of a page starts the next one, and a row taller than a whole page
//! is split line by line across pages.

use std::io::Write;

use super::fonts::FaceId;
use super::text::Line;
use super::writer::{Align, Canvas, DeferredText, Document, Rgb, TextStyle, PT_PER_MM};
use super::PdfError;

pub const PAGE_WIDTH: f32 = 210.0;
pub const PAGE_HEIGHT: f32 = 297.0;
pub const MARGIN: f32 = 12.0;

pub const BRAND: Rgb = Rgb(0.07, 0.33, 0.29);
pub const INK: Rgb = Rgb(0.12, 0.12, 0.14);
pub const MUTED: Rgb = Rgb(0.42, 0.44, 0.47);
pub const WHITE: Rgb = Rgb(1.0, 1.0, 1.0);
pub const PALE: Rgb = Rgb(0.8, 0.9, 0.87);
pub const SHADE: Rgb = Rgb(0.93, 0.95, 0.94);
pub const RULE: Rgb = Rgb(0.75, 0.77, 0.8);
pub const FAINT: Rgb = Rgb(0.86, 0.87, 0.89);

/// A width in millimetres at `size` points, in thousandths of an em (what the
/// typesetter measures in).
pub fn em_width(millimetres: f32, size: f32) -> f32 {
    millimetres * PT_PER_MM / size * 1000.0
}

/// A line's width in millimetres at `size` points.
pub fn mm_width(line: &Line, size: f32) -> f32 {
    line.width * size / 1000.0 / PT_PER_MM
}

/// The piivault mark: a shield with a keyhole, drawn as vector shapes.
pub fn logo(canvas: &mut Canvas, x: f32, y: f32) {
    canvas.fill_polygon(
        WHITE,
        &[
            (x, y + 14.0),
            (x + 12.0, y + 14.0),
            (x + 12.0, y + 6.0),
            (x + 6.0, y),
            (x, y + 6.0),
        ],
    );
    canvas.fill_polygon(
        BRAND,
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

/// Draws `text` on one line (labels, headings: never wrapped).
pub fn label<W: Write>(
    document: &mut Document<W>,
    canvas: &mut Canvas,
    at: (f32, f32),
    style: TextStyle,
    align: Align,
    text: &str,
) {
    let line = document.typesetter.line(text, style.face);
    canvas.text(document, &line, at, style, align);
}

/// A style in one expression.
pub const fn style(face: FaceId, size: f32, color: Rgb) -> TextStyle {
    TextStyle { face, size, color }
}

/// Draws `text` wrapped to `width` millimetres from `(x, y)` down, `leading` apart;
/// returns how many lines it took.
pub fn paragraph<W: Write>(
    document: &mut Document<W>,
    canvas: &mut Canvas,
    (x, y, width): (f32, f32, f32),
    style: TextStyle,
    leading: f32,
    text: &str,
) -> usize {
    let lines = document
        .typesetter
        .lines(text, style.face, em_width(width, style.size));
    for (index, line) in lines.iter().enumerate() {
        let baseline = y - leading * index as f32;
        let (x, align) = if line.rtl {
            (x + width, Align::Right)
        } else {
            (x, Align::Left)
        };
        canvas.text(document, line, (x, baseline), style, align);
    }
    lines.len()
}

/// "Page X of N" from `(x, y)`, 8 pt: N is deferred text (the same on every page),
/// drawn one space after "of".
pub fn page_of<W: Write>(
    document: &mut Document<W>,
    canvas: &mut Canvas,
    (x, y): (f32, f32),
    page: usize,
    total: DeferredText,
) {
    let text_style = style(super::fonts::REGULAR, 8.0, MUTED);
    let line = document
        .typesetter
        .line(&format!("Page {page} of"), text_style.face);
    canvas.text(document, &line, (x, y), text_style, Align::Left);
    let space = document.typesetter.line("o o", text_style.face);
    let space = mm_width(&space, 8.0)
        - 2.0 * mm_width(&document.typesetter.line("o", text_style.face), 8.0);
    canvas.deferred(total, x + mm_width(&line, 8.0) + space, y);
}

/// One table column: left edge and width in millimetres, and how its text sits.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub left: f32,
    pub width: f32,
    pub align: Align,
}

/// How a table's rows look.
pub struct TableStyle {
    pub columns: &'static [Column],
    pub text: TextStyle,
    /// Baseline to baseline, millimetres.
    pub leading: f32,
    /// Space between a cell's text and its column's edges.
    pub padding: f32,
    /// Space after each row, with a faint rule in its middle.
    pub row_gap: f32,
    /// Where rows stop at the bottom of a page.
    pub bottom: f32,
}

/// Draws the fixed parts of a new page and says where its table rows start.
pub trait PageFrame<W: Write> {
    /// Draws page `number` (from 1) around the table; returns the y of the table's
    /// first row top.
    fn frame(&mut self, document: &mut Document<W>, canvas: &mut Canvas, number: usize) -> f32;
}

/// A table flowing over pages as rows are added, each page written out as soon as it
/// is full.
pub struct Flow<W: Write> {
    pub document: Document<W>,
    style: TableStyle,
    canvas: Canvas,
    /// The top of the free space on the current page.
    cursor: f32,
    /// Where the table starts on the current page.
    top: f32,
    rows_on_page: usize,
}

impl<W: Write> Flow<W> {
    pub fn new(
        mut document: Document<W>,
        style: TableStyle,
        frame: &mut impl PageFrame<W>,
    ) -> Self {
        let mut canvas = Canvas::new();
        let top = frame.frame(&mut document, &mut canvas, 1);
        Self {
            document,
            style,
            canvas,
            cursor: top,
            top,
            rows_on_page: 0,
        }
    }

    /// The current page's canvas (to draw something in the table's place).
    pub fn canvas(&mut self) -> (&mut Document<W>, &mut Canvas, f32) {
        (&mut self.document, &mut self.canvas, self.cursor)
    }

    fn next_page(&mut self, frame: &mut impl PageFrame<W>) -> Result<(), PdfError> {
        let full = std::mem::take(&mut self.canvas);
        self.document.add_page(full)?;
        let number = self.document.page_count() + 1;
        self.top = frame.frame(&mut self.document, &mut self.canvas, number);
        self.cursor = self.top;
        self.rows_on_page = 0;
        Ok(())
    }

    /// Adds a row: one text per column.
    pub fn row(&mut self, cells: &[&str], frame: &mut impl PageFrame<W>) -> Result<(), PdfError> {
        let style = &self.style;
        let mut lines: Vec<Vec<Line>> = Vec::with_capacity(cells.len());
        for (column, text) in style.columns.iter().zip(cells) {
            let width = em_width(column.width - 2.0 * style.padding, style.text.size);
            lines.push(if text.is_empty() {
                Vec::new()
            } else {
                self.document.typesetter.lines(text, style.text.face, width)
            });
        }
        let count = lines.iter().map(Vec::len).max().unwrap_or(0).max(1);
        let leading = self.style.leading;
        let height = leading * count as f32 + self.style.row_gap;
        let page_room = self.top - self.style.bottom;
        if self.cursor - height < self.style.bottom && self.rows_on_page > 0 && height <= page_room
        {
            self.next_page(frame)?;
        }
        // Cell by cell (a cell's lines follow each other in the content, so a reader
        // extracting in content order gets each value whole), as many lines as fit on
        // this page, the rest on the next.
        let mut index = 0;
        while index < count {
            if self.cursor - leading < self.style.bottom {
                self.next_page(frame)?;
            }
            let room = ((self.cursor - self.style.bottom) / leading).floor();
            // `room` is a small positive count of lines.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let fit = (room.max(1.0) as usize).min(count - index);
            for (column, cell) in self.style.columns.iter().zip(&lines) {
                for (offset, line) in cell.iter().skip(index).take(fit).enumerate() {
                    // The baseline sits a quarter of the leading above the slot's bottom.
                    let baseline = self.cursor - leading * (offset as f32 + 0.75);
                    let (x, align) = match (column.align, line.rtl) {
                        (Align::Right, _) | (Align::Left, true) => (
                            column.left + column.width - self.style.padding,
                            Align::Right,
                        ),
                        (Align::Left, false) => (column.left + self.style.padding, Align::Left),
                    };
                    self.canvas.text(
                        &mut self.document,
                        line,
                        (x, baseline),
                        self.style.text,
                        align,
                    );
                }
            }
            self.cursor -= leading * fit as f32;
            index += fit;
        }
        let (left, right) = self
            .style
            .columns
            .first()
            .zip(self.style.columns.last())
            .map_or((MARGIN, PAGE_WIDTH - MARGIN), |(first, last)| {
                (first.left, last.left + last.width)
            });
        self.canvas.rule(
            (left, right),
            self.cursor - self.style.row_gap / 2.0,
            0.25,
            FAINT,
        );
        self.cursor -= self.style.row_gap;
        self.rows_on_page += 1;
        Ok(())
    }

    /// Writes the last page; the document stays open for what is deferred.
    pub fn finish(mut self) -> Result<Document<W>, PdfError> {
        let last = std::mem::take(&mut self.canvas);
        self.document.add_page(last)?;
        Ok(self.document)
    }
}
