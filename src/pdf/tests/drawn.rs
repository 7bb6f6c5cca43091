//! What the pages of a written PDF draw, read back from the file as an independent
//! reader would, without any of the writer's code: qpdf opens the file with its
//! password and hands over every object decrypted and every stream decoded (its JSON
//! view, version 2); this module follows the page tree, reads each page's content
//! stream operator by operator (ISO 32000-2 §7.8.2, §9.4) and places each glyph the
//! text operators show. It reads what a page draws itself, not form XObjects (the
//! writer draws only page totals and sums through those), and only `Identity-H`
//! Type 0 fonts, the only fonts the writer makes; anything else it meets fails the
//! test rather than being misread.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::Value;

use super::tool;

/// A glyph shown by a text operator.
#[derive(Debug, Clone, PartialEq)]
pub struct ShownGlyph {
    /// The font's indirect reference (`"20 0 R"`), a key of [`Drawn::fonts`].
    pub font: String,
    /// The font size in points.
    pub size: f64,
    /// The glyph's code: its CID (`Identity-H`), for a TrueType font its glyph id in
    /// the embedded program (the `CIDToGIDMap` is the identity).
    pub code: u16,
    /// The glyph's origin on the page, in points.
    pub x: f64,
    pub y: f64,
}

/// A Type 0 font as embedded in the file.
pub struct EmbeddedFont {
    /// The TrueType program (`FontFile2`), decoded; `None` for a CFF one (whose
    /// glyphs this reader does not look up).
    pub program: Option<Vec<u8>>,
    /// Each code's advance from the CIDFont's `/W` (thousandths of an em).
    widths: BTreeMap<u16, f64>,
    default_width: f64,
}

impl EmbeddedFont {
    /// The advance a reader moves the pen by after `code` (thousandths of an em).
    pub fn width(&self, code: u16) -> f64 {
        self.widths
            .get(&code)
            .copied()
            .unwrap_or(self.default_width)
    }
}

/// Everything the pages draw as text.
pub struct Drawn {
    /// The fonts the pages use, by indirect reference.
    pub fonts: BTreeMap<String, EmbeddedFont>,
    /// Each text object (`BT` … `ET`) that shows glyphs, page by page, in the order
    /// drawn.
    pub texts: Vec<Vec<ShownGlyph>>,
}

/// Reads the text `pdf` draws, opening it with `password`.
pub fn read(pdf: &[u8], password: &str) -> Drawn {
    let objects = Objects::read(pdf, password);
    let mut drawn = Drawn {
        fonts: BTreeMap::new(),
        texts: Vec::new(),
    };
    let root = objects.resolve(&objects.trailer()["/Root"]);
    for page in objects.pages(&root["/Pages"]) {
        let resources = objects.resolve(&page["/Resources"]);
        let fonts = objects.resolve(&resources["/Font"]);
        let mut names = BTreeMap::new();
        for (name, reference) in fonts.as_object().into_iter().flatten() {
            let reference = reference.as_str().unwrap().to_owned();
            if !drawn.fonts.contains_key(&reference) {
                let font = objects.type0_font(&reference);
                drawn.fonts.insert(reference.clone(), font);
            }
            names.insert(name.clone(), reference);
        }
        let contents = match &page["/Contents"] {
            Value::Array(parts) => parts.clone(),
            single => vec![single.clone()],
        };
        let content: Vec<u8> = contents
            .iter()
            .flat_map(|part| {
                let mut bytes = objects.stream_data(part);
                bytes.push(b'\n');
                bytes
            })
            .collect();
        place_glyphs(&content, &names, &drawn.fonts, &mut drawn.texts);
    }
    drawn
}

/// The file's objects as qpdf gives them (`"obj:12 0 R"` → `{"value": …}` or
/// `{"stream": {"dict": …, "data": base64}}`).
struct Objects(serde_json::Map<String, Value>);

impl Objects {
    fn read(pdf: &[u8], password: &str) -> Self {
        let file = super::write(pdf);
        let output = tool("qpdf")
            .arg(format!("--password={password}"))
            .args([
                "--json=2",
                "--json-key=qpdf",
                "--json-stream-data=inline",
                "--decode-level=generalized",
            ])
            .arg(file.path())
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "qpdf could not read the file: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let json: Value = serde_json::from_slice(&output.stdout).unwrap();
        Self(json["qpdf"][1].as_object().unwrap().clone())
    }

    fn trailer(&self) -> &Value {
        &self.0["trailer"]["value"]
    }

    /// `value`, or the object (a stream's dictionary) it refers to.
    fn resolve<'a>(&'a self, value: &'a Value) -> &'a Value {
        match value.as_str().filter(|text| text.ends_with(" R")) {
            Some(reference) => {
                let object = &self.0[&format!("obj:{reference}")];
                object
                    .get("value")
                    .unwrap_or_else(|| &object["stream"]["dict"])
            }
            None => value,
        }
    }

    /// A stream's data, decoded.
    fn stream_data(&self, reference: &Value) -> Vec<u8> {
        let reference = reference.as_str().unwrap();
        let data = self.0[&format!("obj:{reference}")]["stream"]["data"]
            .as_str()
            .unwrap_or_else(|| panic!("{reference} is not a stream qpdf could decode"));
        base64::engine::general_purpose::STANDARD
            .decode(data)
            .unwrap()
    }

    /// The page objects under a page tree node, in page order.
    fn pages<'a>(&'a self, node: &'a Value) -> Vec<&'a Value> {
        let node = self.resolve(node);
        if node["/Type"] == "/Page" {
            return vec![node];
        }
        node["/Kids"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|kid| self.pages(kid))
            .collect()
    }

    /// A Type 0 font: its TrueType program and its widths.
    fn type0_font(&self, reference: &str) -> EmbeddedFont {
        let reference_value = Value::from(reference);
        let font = self.resolve(&reference_value);
        assert_eq!(font["/Subtype"], "/Type0", "{reference}: a Type 0 font");
        assert_eq!(
            font["/Encoding"], "/Identity-H",
            "{reference}: 2-byte codes"
        );
        let cid_font = self.resolve(&font["/DescendantFonts"][0]);
        let descriptor = self.resolve(&cid_font["/FontDescriptor"]);
        let program = (cid_font["/Subtype"] == "/CIDFontType2").then(|| {
            assert_eq!(
                cid_font["/CIDToGIDMap"], "/Identity",
                "{reference}: codes are glyph ids"
            );
            self.stream_data(&descriptor["/FontFile2"])
        });
        let mut widths = BTreeMap::new();
        let mut entries = cid_font["/W"].as_array().into_iter().flatten();
        // `c [w1 w2 …]`: consecutive codes from c; `c_first c_last w`: one width for
        // a range (ISO 32000-2 §9.7.4.3).
        while let Some(first) = entries.next() {
            let first = code_of(first);
            match entries.next().unwrap() {
                Value::Array(list) => {
                    for (code, width) in (first..).zip(list) {
                        widths.insert(code, width.as_f64().unwrap());
                    }
                }
                last => {
                    let width = entries.next().unwrap().as_f64().unwrap();
                    for code in first..=code_of(last) {
                        widths.insert(code, width);
                    }
                }
            }
        }
        EmbeddedFont {
            program,
            widths,
            default_width: cid_font["/DW"].as_f64().unwrap_or(1000.0),
        }
    }
}

fn code_of(value: &Value) -> u16 {
    u16::try_from(value.as_u64().unwrap()).unwrap()
}

/// An operand of a content stream operator.
#[derive(Debug, Clone, PartialEq)]
enum Operand {
    Number(f64),
    Name(String),
    /// A string's bytes (the writer writes glyph codes as hex strings).
    Bytes(Vec<u8>),
    Array(Vec<Operand>),
    /// A dictionary, `true`, `false` or `null`: nothing text placement reads.
    Other,
}

/// Places the glyphs of one page's content stream, appending each text object that
/// shows any to `texts`. The text state it follows is the writer's subset of PDF:
/// `BT`, `Td`, `Tf`, `Tj`, `TJ`, `ET`, with the page's own coordinates (no `cm` in
/// force around text); an operator that would move or hide glyphs otherwise fails
/// the test.
fn place_glyphs(
    content: &[u8],
    names: &BTreeMap<String, String>,
    fonts: &BTreeMap<String, EmbeddedFont>,
    texts: &mut Vec<Vec<ShownGlyph>>,
) {
    // Whether a `cm` is in force, the font (part of the graphics state: it outlives
    // a text object), and the states `q` saved.
    let mut transformed = false;
    let mut font: Option<(&str, f64)> = None;
    let mut saved = Vec::new();
    // The text line matrix's origin and the pen's distance from it (only
    // translations: ISO 32000-2 §9.4.2).
    let mut line = (0.0f64, 0.0f64);
    let mut pen = 0.0f64;
    let mut text: Vec<ShownGlyph> = Vec::new();
    for (operator, operands) in operations(content) {
        match (operator.as_str(), operands.as_slice()) {
            ("q", []) => saved.push((transformed, font)),
            ("Q", []) => (transformed, font) = saved.pop().unwrap(),
            ("cm", _) => transformed = true,
            ("BT", []) => {
                assert!(!transformed, "text drawn under a transformation");
                line = (0.0, 0.0);
                pen = 0.0;
            }
            ("Tf", [Operand::Name(name), Operand::Number(size)]) => {
                let reference = names
                    .get(&format!("/{name}"))
                    .unwrap_or_else(|| panic!("font /{name} is not in the page's resources"));
                font = Some((reference, *size));
            }
            ("Td", [Operand::Number(x), Operand::Number(y)]) => {
                line = (line.0 + x, line.1 + y);
                pen = 0.0;
            }
            ("Tj", [Operand::Bytes(codes)]) => {
                show(codes, font, fonts, line, &mut pen, &mut text);
            }
            ("TJ", [Operand::Array(parts)]) => {
                for part in parts {
                    match part {
                        Operand::Bytes(codes) => {
                            show(codes, font, fonts, line, &mut pen, &mut text);
                        }
                        // Thousandths of an em, subtracted from the pen.
                        Operand::Number(adjustment) => {
                            pen -= adjustment / 1000.0 * font.map_or(0.0, |(_, size)| size);
                        }
                        other => panic!("{other:?} in a TJ array"),
                    }
                }
            }
            ("ET", []) if !text.is_empty() => texts.push(std::mem::take(&mut text)),
            (
                "Tm" | "T*" | "TD" | "'" | "\"" | "Tc" | "Tw" | "Tz" | "TL" | "Ts" | "Tr" | "Tj"
                | "TJ" | "Tf" | "Td",
                _,
            ) => panic!("this reader does not follow `{operator}` {operands:?}"),
            _ => {}
        }
    }
}

/// Shows a string of 2-byte codes in the current font from the pen, moving it by
/// each glyph's width (no character or word spacing: the writer sets none).
fn show(
    codes: &[u8],
    font: Option<(&str, f64)>,
    fonts: &BTreeMap<String, EmbeddedFont>,
    (x, y): (f64, f64),
    pen: &mut f64,
    text: &mut Vec<ShownGlyph>,
) {
    let (reference, size) = font.expect("a font is set before text is shown");
    assert_eq!(codes.len() % 2, 0, "Identity-H codes are two bytes");
    for pair in codes.chunks(2) {
        let code = u16::from_be_bytes([pair[0], pair[1]]);
        text.push(ShownGlyph {
            font: reference.to_owned(),
            size,
            code,
            x: x + *pen,
            y,
        });
        *pen += fonts[reference].width(code) / 1000.0 * size;
    }
}

/// The operators of a content stream with their operands (ISO 32000-2 §7.8.2; the
/// lexical rules of §7.2 and §7.3).
fn operations(content: &[u8]) -> Vec<(String, Vec<Operand>)> {
    let delimiter = |byte: u8| b"()<>[]{}/%".contains(&byte);
    let regular = |byte: u8| !byte.is_ascii_whitespace() && byte != 0 && !delimiter(byte);
    let mut operations = Vec::new();
    // The operands so far, and an open array or dictionary on top of them.
    let mut nested: Vec<Vec<Operand>> = vec![Vec::new()];
    let mut at = 0;
    while at < content.len() {
        let byte = content[at];
        if byte.is_ascii_whitespace() || byte == 0 {
            at += 1;
        } else if byte == b'%' {
            while at < content.len() && content[at] != b'\n' && content[at] != b'\r' {
                at += 1;
            }
        } else if content[at..].starts_with(b"<<") || byte == b'[' {
            nested.push(Vec::new());
            at += if byte == b'[' { 1 } else { 2 };
        } else if content[at..].starts_with(b">>") || byte == b']' {
            let items = nested.pop().unwrap();
            let value = if byte == b']' {
                Operand::Array(items)
            } else {
                Operand::Other
            };
            nested.last_mut().unwrap().push(value);
            at += if byte == b']' { 1 } else { 2 };
        } else if byte == b'<' {
            let end = at + content[at..].iter().position(|&b| b == b'>').unwrap();
            let mut digits: Vec<u8> = content[at + 1..end]
                .iter()
                .copied()
                .filter(u8::is_ascii_hexdigit)
                .collect();
            if digits.len() % 2 == 1 {
                digits.push(b'0');
            }
            let bytes = digits
                .chunks(2)
                .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
                .collect();
            nested.last_mut().unwrap().push(Operand::Bytes(bytes));
            at = end + 1;
        } else if byte == b'(' {
            panic!("a literal string: the writer writes glyph codes in hex");
        } else {
            let start = at + usize::from(byte == b'/');
            at = start;
            while at < content.len() && regular(content[at]) {
                at += 1;
            }
            let token = std::str::from_utf8(&content[start..at]).unwrap();
            assert!(at > start || byte == b'/', "unexpected byte {byte:#04x}");
            let depth = nested.len();
            let operands = nested.last_mut().unwrap();
            if byte == b'/' {
                operands.push(Operand::Name(token.to_owned()));
            } else if let Ok(number) = token.parse::<f64>() {
                operands.push(Operand::Number(number));
            } else if matches!(token, "true" | "false" | "null") {
                operands.push(Operand::Other);
            } else {
                assert_eq!(depth, 1, "operator `{token}` inside an array");
                operations.push((token.to_owned(), std::mem::take(operands)));
            }
        }
    }
    operations
}
