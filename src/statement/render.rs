//! Page layout: a shaded header band with the piivault mark and the title, the
//! customer's name and generation time, a label/value table that flows over as many
//! pages as it needs, and "Page X of N" on every page.

use printpdf::{
    BuiltinFont, Color, Line, LinePoint, Mm, Op, PaintMode, PdfDocument, PdfFontHandle, PdfPage,
    PdfSaveOptions, Point, Polygon, PolygonRing, Pt, Rgb, TextItem, TextMatrix, WindingOrder,
};

use super::{Statement, StatementError};

pub(super) const PAGE_WIDTH: f32 = 210.0;
pub(super) const PAGE_HEIGHT: f32 = 297.0;
pub(super) const MARGIN: f32 = 18.0;
const ROW_HEIGHT: f32 = 7.5;
const LINE_HEIGHT: f32 = 4.6;
/// Characters per wrapped line in the value column (Helvetica 10 pt, 120 mm).
const VALUE_WRAP: usize = 62;
const TABLE_TOP_FIRST: f32 = 222.0;
const TABLE_TOP_NEXT: f32 = 250.0;
const TABLE_BOTTOM: f32 = 30.0;
const VALUE_X: f32 = 72.0;

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

/// A row of the details table once values are wrapped.
struct Row<'a> {
    label: &'a str,
    lines: Vec<String>,
}

impl Row<'_> {
    fn height(&self) -> f32 {
        ROW_HEIGHT + LINE_HEIGHT * (self.lines.len().saturating_sub(1)) as f32
    }
}

/// Renders the statement as an unencrypted PDF (to be passed to `protect`).
pub fn render(statement: &Statement) -> Result<Vec<u8>, StatementError> {
    let rows: Vec<Row<'_>> = statement
        .details
        .iter()
        .map(|(label, value)| Row {
            label,
            lines: wrap(value, VALUE_WRAP),
        })
        .collect();
    let pages = paginate(&rows);
    let total = pages.len();
    let generated = statement
        .generated_at
        .format("%d %b %Y, %H:%M UTC")
        .to_string();

    let pdf_pages = pages
        .iter()
        .enumerate()
        .map(|(index, page_rows)| {
            let mut ops = Vec::new();
            let first = index == 0;
            header(&mut ops, statement, &generated, first);
            let mut y = if first {
                TABLE_TOP_FIRST
            } else {
                TABLE_TOP_NEXT
            };
            table_heading(&mut ops, y + 6.0);
            for row in *page_rows {
                text(
                    &mut ops,
                    MARGIN + 2.0,
                    y,
                    BuiltinFont::HelveticaBold,
                    10.0,
                    muted(),
                    row.label,
                );
                for (line_index, line) in row.lines.iter().enumerate() {
                    let line_y = y - LINE_HEIGHT * line_index as f32;
                    text(
                        &mut ops,
                        VALUE_X,
                        line_y,
                        BuiltinFont::Helvetica,
                        10.0,
                        ink(),
                        line,
                    );
                }
                let bottom = y - row.height() + 4.2;
                rule(&mut ops, bottom, 0.3, rgb(0.85, 0.86, 0.88));
                y -= row.height();
            }
            footer(&mut ops, index + 1, total);
            PdfPage::new(Mm(PAGE_WIDTH), Mm(PAGE_HEIGHT), ops)
        })
        .collect();

    let mut document = PdfDocument::new(&statement.title);
    let mut warnings = Vec::new();
    let options = PdfSaveOptions {
        // The encryption step rewrites every object anyway; no need to compress twice.
        optimize: true,
        ..PdfSaveOptions::default()
    };
    Ok(document.with_pages(pdf_pages).save(&options, &mut warnings))
}

/// Splits rows into pages; the first page has less room below the customer block.
fn paginate<'a, 'b>(rows: &'b [Row<'a>]) -> Vec<&'b [Row<'a>]> {
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

/// Greedy word wrap by character count; long words are cut.
fn wrap(value: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in value.split_whitespace() {
        let mut word: Vec<char> = word.chars().collect();
        while word.len() > width {
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            lines.push(word.drain(..width).collect());
        }
        let word: String = word.into_iter().collect();
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&word);
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

pub(super) fn text(
    ops: &mut Vec<Op>,
    x: f32,
    y: f32,
    font: BuiltinFont,
    size: f32,
    color: Color,
    content: &str,
) {
    ops.extend([
        Op::StartTextSection,
        Op::SetTextMatrix {
            matrix: TextMatrix::Translate(Mm(x).into(), Mm(y).into()),
        },
        Op::SetFont {
            font: PdfFontHandle::Builtin(font),
            size: Pt(size),
        },
        Op::SetFillColor { col: color },
        Op::ShowText {
            items: vec![TextItem::Text(content.to_owned())],
        },
        Op::EndTextSection,
    ]);
}

fn point(x: f32, y: f32) -> LinePoint {
    LinePoint {
        p: Point::new(Mm(x), Mm(y)),
        bezier: false,
    }
}

pub(super) fn filled(ops: &mut Vec<Op>, color: Color, points: &[(f32, f32)]) {
    ops.push(Op::SetFillColor { col: color });
    ops.push(Op::DrawPolygon {
        polygon: Polygon {
            rings: vec![PolygonRing {
                points: points.iter().map(|&(x, y)| point(x, y)).collect(),
            }],
            mode: PaintMode::Fill,
            winding_order: WindingOrder::NonZero,
        },
    });
}

pub(super) fn rule(ops: &mut Vec<Op>, y: f32, thickness: f32, color: Color) {
    ops.extend([
        Op::SetOutlineColor { col: color },
        Op::SetOutlineThickness { pt: Pt(thickness) },
        Op::DrawLine {
            line: Line {
                points: vec![point(MARGIN, y), point(PAGE_WIDTH - MARGIN, y)],
                is_closed: false,
            },
        },
    ]);
}

/// The piivault mark: a shield with a keyhole, drawn as vector shapes.
pub(super) fn logo(ops: &mut Vec<Op>, x: f32, y: f32) {
    let white = rgb(1.0, 1.0, 1.0);
    filled(
        ops,
        white.clone(),
        &[
            (x, y + 14.0),
            (x + 12.0, y + 14.0),
            (x + 12.0, y + 6.0),
            (x + 6.0, y),
            (x, y + 6.0),
        ],
    );
    filled(
        ops,
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

fn header(ops: &mut Vec<Op>, statement: &Statement, generated: &str, first: bool) {
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
        rgb(0.8, 0.9, 0.87),
        "Personal data, kept sealed",
    );
    text(
        ops,
        120.0,
        band_bottom + 17.5,
        BuiltinFont::HelveticaBold,
        16.0,
        white.clone(),
        &statement.title,
    );
    text(
        ops,
        120.0,
        band_bottom + 11.5,
        BuiltinFont::Helvetica,
        8.0,
        rgb(0.8, 0.9, 0.87),
        &format!("Ref. {}", statement.reference),
    );
    if first {
        text(
            ops,
            MARGIN,
            248.0,
            BuiltinFont::Helvetica,
            9.0,
            muted(),
            "Prepared for",
        );
        text(
            ops,
            MARGIN,
            240.0,
            BuiltinFont::HelveticaBold,
            16.0,
            ink(),
            &statement.customer_name,
        );
        text(
            ops,
            120.0,
            248.0,
            BuiltinFont::Helvetica,
            9.0,
            muted(),
            "Generated",
        );
        text(
            ops,
            120.0,
            240.5,
            BuiltinFont::Helvetica,
            11.0,
            ink(),
            generated,
        );
    }
}

fn table_heading(ops: &mut Vec<Op>, y: f32) {
    filled(
        ops,
        rgb(0.93, 0.95, 0.94),
        &[
            (MARGIN, y + 5.0),
            (PAGE_WIDTH - MARGIN, y + 5.0),
            (PAGE_WIDTH - MARGIN, y - 2.5),
            (MARGIN, y - 2.5),
        ],
    );
    text(
        ops,
        MARGIN + 2.0,
        y,
        BuiltinFont::HelveticaBold,
        9.0,
        brand(),
        "DETAIL",
    );
    text(
        ops,
        VALUE_X,
        y,
        BuiltinFont::HelveticaBold,
        9.0,
        brand(),
        "VALUE",
    );
}

fn footer(ops: &mut Vec<Op>, page: usize, total: usize) {
    rule(ops, 20.0, 0.5, rgb(0.75, 0.77, 0.8));
    text(
        ops,
        MARGIN,
        14.0,
        BuiltinFont::Helvetica,
        8.0,
        muted(),
        "Confidential - generated by piivault for the named customer only.",
    );
    text(
        ops,
        PAGE_WIDTH - MARGIN - 22.0,
        14.0,
        BuiltinFont::Helvetica,
        8.0,
        muted(),
        &format!("Page {page} of {total}"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_words_and_cuts_long_ones() {
        assert_eq!(wrap("a b c", 3), vec!["a b", "c"]);
        assert_eq!(wrap("abcdefgh", 3), vec!["abc", "def", "gh"]);
        assert_eq!(wrap("", 10), vec![String::new()]);
    }
}
