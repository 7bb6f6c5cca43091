//! A page's content stream: the few drawing operators statements and the export use
//! (ISO 32000-2 §8 and §9, summarised in its Annex A), written straight into bytes.
//!
//! Objects and dictionaries are written with `pdf-writer`; its content builder is
//! general, and a million-row statement spends a quarter of its time in it (every
//! number through a float formatter, every glyph string escaped byte by byte). Here
//! numbers are written to 1/100 of a unit from integers, and glyph strings as hex
//! (two bytes per glyph of an `Identity-H` font), which also makes the stream shorter
//! to compress. What the bytes mean is checked by `qpdf --check` and three PDF
//! readers in the tests.

/// Lengths are written to 1/100 of their unit (a point: 4 µm on paper).
const HUNDREDTHS: f64 = 100.0;

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Operators written into a byte buffer: each operand followed by a space, each
/// operator by a newline.
#[derive(Default)]
pub struct ContentStream {
    bytes: Vec<u8>,
}

impl ContentStream {
    pub fn new() -> Self {
        Self {
            bytes: Vec::with_capacity(16 * 1024),
        }
    }

    pub fn finish(self) -> Vec<u8> {
        self.bytes
    }

    /// A number to 1/100, without trailing zeros (`12`, `12.5`, `-0.25`).
    fn number(&mut self, value: f32) {
        // Page coordinates and colours: far inside i64 (a non-finite value becomes 0).
        #[allow(clippy::cast_possible_truncation)]
        let hundredths = (f64::from(value) * HUNDREDTHS).round() as i64;
        if hundredths < 0 {
            self.bytes.push(b'-');
        }
        let magnitude = hundredths.unsigned_abs();
        self.integer(magnitude / 100);
        let fraction = magnitude % 100;
        if fraction != 0 {
            self.bytes.push(b'.');
            self.digit(fraction / 10);
            if fraction % 10 != 0 {
                self.digit(fraction % 10);
            }
        }
        self.bytes.push(b' ');
    }

    fn integer(&mut self, mut value: u64) {
        let mut digits = [0u8; 20];
        let mut start = digits.len();
        loop {
            start -= 1;
            digits[start] = b'0' + u8::try_from(value % 10).unwrap_or(0);
            value /= 10;
            if value == 0 {
                break;
            }
        }
        self.bytes.extend_from_slice(&digits[start..]);
    }

    fn digit(&mut self, value: u64) {
        self.bytes
            .push(b'0' + u8::try_from(value % 10).unwrap_or(0));
    }

    fn operator(&mut self, name: &[u8]) {
        self.bytes.extend_from_slice(name);
        self.bytes.push(b'\n');
    }

    /// `/name `: a resource name of ours (ASCII letters and digits, nothing to
    /// escape).
    fn name(&mut self, name: &str) {
        self.bytes.push(b'/');
        self.bytes.extend_from_slice(name.as_bytes());
        self.bytes.push(b' ');
    }

    fn hex_string(&mut self, bytes: &[u8]) {
        self.bytes.push(b'<');
        for &byte in bytes {
            self.bytes.push(HEX[usize::from(byte >> 4)]);
            self.bytes.push(HEX[usize::from(byte & 0x0F)]);
        }
        self.bytes.push(b'>');
    }

    /// `r g b rg`: the fill colour.
    pub fn set_fill_rgb(&mut self, red: f32, green: f32, blue: f32) {
        self.number(red);
        self.number(green);
        self.number(blue);
        self.operator(b"rg");
    }

    /// `r g b RG`: the stroke colour.
    pub fn set_stroke_rgb(&mut self, red: f32, green: f32, blue: f32) {
        self.number(red);
        self.number(green);
        self.number(blue);
        self.operator(b"RG");
    }

    /// `w w`: the line width.
    pub fn set_line_width(&mut self, width: f32) {
        self.number(width);
        self.operator(b"w");
    }

    /// `x y w h re`: a rectangle path.
    pub fn rect(&mut self, x: f32, y: f32, width: f32, height: f32) {
        for value in [x, y, width, height] {
            self.number(value);
        }
        self.operator(b"re");
    }

    /// `x y m`: starts a subpath.
    pub fn move_to(&mut self, x: f32, y: f32) {
        self.number(x);
        self.number(y);
        self.operator(b"m");
    }

    /// `x y l`: a straight segment.
    pub fn line_to(&mut self, x: f32, y: f32) {
        self.number(x);
        self.number(y);
        self.operator(b"l");
    }

    /// `h`: closes the subpath.
    pub fn close_path(&mut self) {
        self.operator(b"h");
    }

    /// `f`: fills the path (non-zero winding).
    pub fn fill_nonzero(&mut self) {
        self.operator(b"f");
    }

    /// `S`: strokes the path.
    pub fn stroke(&mut self) {
        self.operator(b"S");
    }

    /// `q`: saves the graphics state.
    pub fn save_state(&mut self) {
        self.operator(b"q");
    }

    /// `Q`: restores it.
    pub fn restore_state(&mut self) {
        self.operator(b"Q");
    }

    /// `x y cm`: moves the origin (a translation only).
    pub fn translate(&mut self, x: f32, y: f32) {
        self.bytes.extend_from_slice(b"1 0 0 1 ");
        self.number(x);
        self.number(y);
        self.operator(b"cm");
    }

    /// `/name Do`: paints a form XObject.
    pub fn x_object(&mut self, name: &str) {
        self.name(name);
        self.operator(b"Do");
    }

    /// `BT`: begins a text object (text matrix and line matrix at the origin).
    pub fn begin_text(&mut self) {
        self.operator(b"BT");
    }

    /// `ET`: ends it.
    pub fn end_text(&mut self) {
        self.operator(b"ET");
    }

    /// `/font size Tf`.
    pub fn set_font(&mut self, font: &str, size: f32) {
        self.name(font);
        self.number(size);
        self.operator(b"Tf");
    }

    /// `x y Td`: moves to the start of the next line, `(x, y)` from the current one.
    pub fn next_line(&mut self, x: f32, y: f32) {
        self.number(x);
        self.number(y);
        self.operator(b"Td");
    }

    /// `<glyphs> Tj`: shows one string of 2-byte glyph codes.
    pub fn show(&mut self, glyphs: &[u8]) {
        self.hex_string(glyphs);
        self.operator(b" Tj");
    }

    /// `[<glyphs> adjustment <glyphs> …] TJ`: strings of glyph codes with
    /// adjustments between them (thousandths of an em, subtracted from the pen).
    pub fn show_positioned(&mut self) -> Positioned<'_> {
        self.bytes.push(b'[');
        Positioned { content: self }
    }

    /// `/Span <</ActualText (…)>> BDC`: what the marked glyphs stand for, as a
    /// UTF-16BE text string with its byte order mark (ISO 32000-2 §14.9.4).
    pub fn begin_actual_text(&mut self, text: &str) {
        self.bytes.extend_from_slice(b"/Span <</ActualText <FEFF");
        for unit in text.encode_utf16() {
            let [high, low] = unit.to_be_bytes();
            for byte in [high, low] {
                self.bytes.push(HEX[usize::from(byte >> 4)]);
                self.bytes.push(HEX[usize::from(byte & 0x0F)]);
            }
        }
        self.bytes.extend_from_slice(b">>> ");
        self.operator(b"BDC");
    }

    /// `EMC`: ends the marked content.
    pub fn end_marked_content(&mut self) {
        self.operator(b"EMC");
    }
}

/// The array of a `TJ` being written.
pub struct Positioned<'a> {
    content: &'a mut ContentStream,
}

impl Positioned<'_> {
    pub fn glyphs(&mut self, glyphs: &[u8]) {
        self.content.hex_string(glyphs);
    }

    /// Thousandths of an em, written as a whole number.
    pub fn adjust(&mut self, amount: f32) {
        // A kerning or shaping difference: a few hundred at most.
        #[allow(clippy::cast_possible_truncation)]
        let whole = amount.round() as i64;
        self.content.bytes.push(b' ');
        if whole < 0 {
            self.content.bytes.push(b'-');
        }
        self.content.integer(whole.unsigned_abs());
        self.content.bytes.push(b' ');
    }

    pub fn finish(self) {
        self.content.operator(b"] TJ");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(content: ContentStream) -> String {
        String::from_utf8(content.finish()).unwrap_or_default()
    }

    #[test]
    fn numbers_are_written_to_a_hundredth_without_trailing_zeros() {
        let mut content = ContentStream::new();
        content.rect(0.0, 12.5, -0.25, 595.275_6);
        content.set_line_width(1e9);
        content.set_fill_rgb(0.07, 0.001, 1.0);
        assert_eq!(
            text(content),
            "0 12.5 -0.25 595.28 re\n1000000000 w\n0.07 0 1 rg\n"
        );
    }

    #[test]
    fn text_is_written_as_hex_glyph_codes_with_whole_adjustments() {
        let mut content = ContentStream::new();
        content.begin_actual_text("ab\u{1F600}");
        content.begin_text();
        content.set_font("F0", 7.0);
        content.next_line(37.42, -9.35);
        let mut shown = content.show_positioned();
        shown.glyphs(&[0x00, 0x41, 0x12, 0xAB]);
        shown.adjust(-17.6);
        shown.glyphs(&[0x00, 0x01]);
        shown.finish();
        content.show(&[0xFF, 0x00]);
        content.end_text();
        content.end_marked_content();
        assert_eq!(
            text(content),
            "/Span <</ActualText <FEFF00610062D83DDE00>>> BDC\nBT\n/F0 7 Tf\n37.42 -9.35 Td\n\
             [<004112AB> -18 <0001>] TJ\n<FF00> Tj\nET\nEMC\n"
        );
    }

    #[test]
    fn forms_are_placed_by_translation() {
        let mut content = ContentStream::new();
        content.save_state();
        content.translate(516.02, 31.18);
        content.x_object("X0");
        content.restore_state();
        assert_eq!(text(content), "q\n1 0 0 1 516.02 31.18 cm\n/X0 Do\nQ\n");
    }
}
