//! A PDF written front to back into any `io::Write`, encrypted object by object as it
//! goes (AES-256, security handler revision 6, `security.rs`), so a document of any
//! length needs memory for one page, not for the document.
//!
//! Objects are serialised with `pdf-writer`; this module adds what a streaming,
//! encrypted file needs around them: the byte offset of each object as it leaves
//! (the cross-reference table at the end lists them), flate compression and
//! encryption of every stream and string, and objects referred to before they exist —
//! the page tree, the shared resources, the fonts (subset at the end, once every
//! glyph is known) and "deferred" text (page totals, sums) that pages draw as form
//! XObjects whose content is only written when the figures are known.
//!
//! Text is drawn as glyph ids (CIDs of `Identity-H` Type 0 fonts); each face's
//! glyphs are renumbered densely as they are first used, which is also the
//! numbering of the subset embedded at the end. Lines whose glyphs do not map one to
//! one onto their characters (shaped, right-to-left) carry their logical text as
//! `/ActualText`, so text extraction gives back what was written.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write;

use pdf_writer::types::{CidFontType, FontFlags, SystemInfo};
use pdf_writer::{Chunk, Filter, Finish as _, Name, Rect, Ref, Str};
use rustybuzz::ttf_parser;
use subsetter::GlyphRemapper;
use zeroize::Zeroizing;

use super::content::ContentStream;
use super::fonts::{FaceId, FontLibrary};
use super::sealing::{PageSealer, Sealer};
use super::security::{self, EncryptDictionary, Encryptor, Salts};
use super::text::{Line, Typesetter};
use super::PdfError;

/// Points per millimetre: layouts think in millimetres, PDF in points.
pub const PT_PER_MM: f32 = 72.0 / 25.4;

/// An sRGB colour, each channel 0–1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rgb(pub f32, pub f32, pub f32);

/// How text looks: face, size in points, colour.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TextStyle {
    pub face: FaceId,
    pub size: f32,
    pub color: Rgb,
}

/// Which way a line sits against its x position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// A face used by the document: its resource name, its glyphs renumbered in order of
/// first use, and the text each new glyph stands for.
struct UsedFace {
    remapper: GlyphRemapper,
    /// The subset number of each glyph id already used, plus one (0: not yet used):
    /// a flat table, as every glyph drawn passes here.
    numbered: Vec<u16>,
    to_unicode: BTreeMap<u16, String>,
    /// Whether `to_unicode` has the CID (a flat table, for the same reason).
    has_text: Vec<bool>,
}

/// Text drawn now whose content is written at the end: a form XObject.
struct Deferred {
    reference: Ref,
    content: Option<Vec<u8>>,
}

/// A document being written to `out`.
pub struct Document<W: Write> {
    out: W,
    position: u64,
    /// The byte offset of each object (`offsets[n]` for object `n`; 0: not yet written).
    offsets: Vec<u64>,
    /// Compresses and encrypts the streams other than page contents...
    sealer: Sealer,
    /// ...which are sealed on a second thread.
    page_sealer: PageSealer,
    encrypt: EncryptDictionary,
    id: [u8; 16],
    pages: Ref,
    resources: Ref,
    page_refs: Vec<Ref>,
    /// Indexed by [`FaceId`].
    faces: Vec<Option<UsedFace>>,
    deferred: Vec<Deferred>,
    pub typesetter: Typesetter,
}

impl<W: Write> Document<W> {
    /// Starts a document that `user_password` opens; the owner password is random
    /// (256 bits) and known to nobody. Writes the header at once.
    pub fn start(
        out: W,
        user_password: &str,
        library: std::sync::Arc<FontLibrary>,
    ) -> Result<Self, PdfError> {
        let user = security::password_bytes(user_password).map_err(|_| PdfError::Password)?;
        let mut owner = Zeroizing::new([0u8; 32]);
        getrandom::fill(owner.as_mut()).map_err(|_| PdfError::Random)?;
        let mut file_key = Zeroizing::new([0u8; 32]);
        getrandom::fill(file_key.as_mut()).map_err(|_| PdfError::Random)?;
        let encrypt =
            EncryptDictionary::compute(&file_key, &user, owner.as_ref(), &Salts::random()?);
        let mut id = [0u8; 16];
        getrandom::fill(&mut id).map_err(|_| PdfError::Random)?;
        let encryptor = std::sync::Arc::new(Encryptor::new(file_key));
        let mut document = Self {
            out,
            position: 0,
            offsets: vec![0],
            page_sealer: PageSealer::start(std::sync::Arc::clone(&encryptor))?,
            sealer: Sealer::new(encryptor),
            encrypt,
            id,
            pages: Ref::new(1),
            resources: Ref::new(2),
            page_refs: Vec::new(),
            faces: Vec::new(),
            deferred: Vec::new(),
            typesetter: Typesetter::new(library),
        };
        document.offsets.resize(3, 0);
        // The second line's high bytes mark the file as binary (ISO 32000-2 §7.5.2).
        document.emit(b"%PDF-2.0\n%\xE2\xE3\xCF\xD3\n")?;
        // The first bytes leave now, before any row is read: the client sees the
        // document begin at once, and a failure from here on is a cut transfer.
        document.out.flush().map_err(|_| PdfError::Write)?;
        Ok(document)
    }

    fn emit(&mut self, bytes: &[u8]) -> Result<(), PdfError> {
        self.out.write_all(bytes).map_err(|_| PdfError::Write)?;
        self.position += bytes.len() as u64;
        Ok(())
    }

    /// A new object number, to write later.
    pub fn reserve(&mut self) -> Ref {
        let next = i32::try_from(self.offsets.len()).unwrap_or(i32::MAX);
        self.offsets.push(0);
        Ref::new(next)
    }

    /// Writes a chunk holding exactly the one object `reference`.
    fn write_object(&mut self, reference: Ref, chunk: &Chunk) -> Result<(), PdfError> {
        let slot = usize::try_from(reference.get()).map_err(|_| PdfError::Write)?;
        if let Some(offset) = self.offsets.get_mut(slot) {
            *offset = self.position;
        }
        self.emit(chunk.as_bytes())
    }

    /// Compresses (unless already compressed) and encrypts stream data.
    fn seal_stream(&mut self, data: &[u8], compress: bool) -> Result<Vec<u8>, PdfError> {
        self.sealer.seal(data, compress)
    }

    /// Writes page contents the sealing thread has finished.
    fn write_sealed(&mut self, sealed: Vec<(Ref, Vec<u8>)>) -> Result<(), PdfError> {
        for (reference, data) in sealed {
            let mut chunk = Chunk::new();
            chunk.stream(reference, &data).filter(Filter::FlateDecode);
            self.write_object(reference, &chunk)?;
        }
        Ok(())
    }

    /// A string, encrypted.
    fn seal_string(&self, text: &[u8]) -> Result<Vec<u8>, PdfError> {
        self.sealer.seal_string(text)
    }

    /// Adds an A4 page with this content (see [`Canvas`]).
    /// The page object is written at once; its content follows when the sealing
    /// thread has compressed and encrypted it (objects may come in any order: the
    /// cross-reference table says where each is).
    pub fn add_page(&mut self, canvas: Canvas) -> Result<(), PdfError> {
        let content_ref = self.reserve();
        let page_ref = self.reserve();
        let mut chunk = Chunk::new();
        let mut page = chunk.page(page_ref);
        page.parent(self.pages)
            .media_box(Rect::new(0.0, 0.0, A4.0, A4.1))
            .contents(content_ref);
        page.pair(Name(b"Resources"), self.resources);
        page.finish();
        self.write_object(page_ref, &chunk)?;
        self.page_refs.push(page_ref);
        let sealed = self
            .page_sealer
            .push(content_ref, canvas.content.finish())?;
        self.write_sealed(sealed)
    }

    /// Pages written so far.
    pub fn page_count(&self) -> usize {
        self.page_refs.len()
    }

    /// Reserves text to be filled in by [`fill_deferred`](Self::fill_deferred); a page
    /// draws it with [`Canvas::deferred`].
    pub fn defer(&mut self) -> DeferredText {
        let reference = self.reserve();
        self.deferred.push(Deferred {
            reference,
            content: None,
        });
        DeferredText(self.deferred.len() - 1)
    }

    /// The content of deferred text: `text` in `face` at `size` points, aligned against
    /// the point where pages draw it.
    pub fn fill_deferred(
        &mut self,
        deferred: DeferredText,
        text: &str,
        style: TextStyle,
        align: Align,
    ) {
        let line = self.typesetter.line(text, style.face);
        let mut canvas = Canvas::new();
        canvas.text(self, &line, (0.0, 0.0), style, align);
        if let Some(slot) = self.deferred.get_mut(deferred.0) {
            slot.content = Some(canvas.content.finish());
        }
    }

    /// The glyph's number in the embedded subset of its face. The first use of a
    /// glyph in a line without `/ActualText` records the text it stands for (`text` is
    /// asked only then): a glyph that shaping made from several characters (`e` and a
    /// combining diaeresis drawn as `ë`) must not teach ToUnicode that every `ë`
    /// is two characters.
    fn glyph(&mut self, face: FaceId, glyph: u16, text: Option<&dyn Fn() -> String>) -> u16 {
        let slot = usize::from(face);
        if self.faces.len() <= slot {
            self.faces.resize_with(slot + 1, || None);
        }
        let used = self.faces[slot].get_or_insert_with(|| UsedFace {
            remapper: GlyphRemapper::new(),
            numbered: Vec::new(),
            to_unicode: BTreeMap::new(),
            has_text: Vec::new(),
        });
        let index = usize::from(glyph);
        let cid = match used.numbered.get(index) {
            Some(&numbered) if numbered != 0 => numbered - 1,
            _ => {
                let cid = used.remapper.remap(glyph);
                if used.numbered.len() <= index {
                    used.numbered.resize(index + 1, 0);
                }
                used.numbered[index] = cid.saturating_add(1);
                cid
            }
        };
        let slot = usize::from(cid);
        if let Some(text) = text {
            if !used.has_text.get(slot).copied().unwrap_or(false) {
                let text = text();
                if !text.is_empty() {
                    used.to_unicode.insert(cid, text);
                    if used.has_text.len() <= slot {
                        used.has_text.resize(slot + 1, false);
                    }
                    used.has_text[slot] = true;
                }
            }
        }
        cid
    }

    /// Writes everything that was deferred (text, fonts, the page tree, the catalog,
    /// the encryption dictionary) and the cross-reference table; returns the writer.
    pub fn finish(mut self) -> Result<W, PdfError> {
        let sealed = self.page_sealer.drain()?;
        self.write_sealed(sealed)?;
        for index in 0..self.deferred.len() {
            let reference = self.deferred[index].reference;
            let content = self.deferred[index].content.take().unwrap_or_default();
            let data = self.seal_stream(&content, true)?;
            let mut chunk = Chunk::new();
            let mut form = chunk.form_xobject(reference, &data);
            form.filter(Filter::FlateDecode);
            form.bbox(Rect::new(-600.0, -200.0, 600.0, 200.0));
            form.pair(Name(b"Resources"), self.resources);
            form.finish();
            self.write_object(reference, &chunk)?;
        }
        let mut font_refs = Vec::new();
        let faces = std::mem::take(&mut self.faces);
        for (face, used) in faces.into_iter().enumerate() {
            let (Some(used), Ok(face)) = (used, FaceId::try_from(face)) else {
                continue;
            };
            let reference = self.write_font(face, &used)?;
            font_refs.push((face, reference));
        }

        let mut chunk = Chunk::new();
        let mut resources = chunk
            .indirect(self.resources)
            .start::<pdf_writer::writers::Resources>();
        let mut fonts = resources.fonts();
        for (face, reference) in &font_refs {
            fonts.pair(Name(font_name(*face).as_bytes()), *reference);
        }
        fonts.finish();
        let mut forms = resources.x_objects();
        for (index, deferred) in self.deferred.iter().enumerate() {
            forms.pair(Name(form_name(index).as_bytes()), deferred.reference);
        }
        forms.finish();
        resources.finish();
        self.write_object(self.resources, &chunk)?;

        let mut chunk = Chunk::new();
        let count = i32::try_from(self.page_refs.len()).unwrap_or(i32::MAX);
        chunk
            .pages(self.pages)
            .kids(self.page_refs.iter().copied())
            .count(count);
        self.write_object(self.pages, &chunk)?;

        let catalog = self.reserve();
        let mut chunk = Chunk::new();
        chunk
            .indirect(catalog)
            .start::<pdf_writer::writers::Catalog>()
            .pages(self.pages);
        self.write_object(catalog, &chunk)?;

        let info = self.reserve();
        let producer = self.seal_string(b"piivault")?;
        let date = self.seal_string(
            chrono::Utc::now()
                .format("D:%Y%m%d%H%M%SZ")
                .to_string()
                .as_bytes(),
        )?;
        let mut chunk = Chunk::new();
        let mut dict = chunk.indirect(info).dict();
        dict.pair(Name(b"Producer"), Str(&producer));
        dict.pair(Name(b"CreationDate"), Str(&date));
        dict.finish();
        self.write_object(info, &chunk)?;

        let encrypt = self.reserve();
        let mut chunk = Chunk::new();
        self.write_encrypt_dictionary(&mut chunk, encrypt);
        self.write_object(encrypt, &chunk)?;

        // The cross-reference table and trailer (ISO 32000-2 §7.5.4, §7.5.5): plain
        // text, 20 bytes per object.
        let xref = self.position;
        let mut table = String::with_capacity(self.offsets.len() * 20 + 256);
        let _ = write!(
            table,
            "xref\n0 {}\n0000000000 65535 f\r\n",
            self.offsets.len()
        );
        for offset in &self.offsets[1..] {
            let _ = write!(table, "{offset:010} 00000 n\r\n");
        }
        let id = self.id.iter().fold(String::new(), |mut hex, byte| {
            let _ = write!(hex, "{byte:02X}");
            hex
        });
        let _ = write!(
            table,
            "trailer\n<< /Size {} /Root {} 0 R /Info {} 0 R /Encrypt {} 0 R /ID [<{id}> <{id}>] >>\nstartxref\n{xref}\n%%EOF\n",
            self.offsets.len(),
            catalog.get(),
            info.get(),
            encrypt.get(),
        );
        self.emit(table.as_bytes())?;
        self.out.flush().map_err(|_| PdfError::Write)?;
        Ok(self.out)
    }

    fn write_encrypt_dictionary(&self, chunk: &mut Chunk, reference: Ref) {
        let mut dict = chunk.indirect(reference).dict();
        dict.pair(Name(b"Filter"), Name(b"Standard"));
        dict.pair(Name(b"V"), 5);
        dict.pair(Name(b"R"), 6);
        dict.pair(Name(b"Length"), 256);
        let mut filters = dict.insert(Name(b"CF")).dict();
        let mut standard = filters.insert(Name(b"StdCF")).dict();
        standard.pair(Name(b"CFM"), Name(b"AESV3"));
        standard.pair(Name(b"AuthEvent"), Name(b"DocOpen"));
        standard.pair(Name(b"Length"), 32);
        standard.finish();
        filters.finish();
        dict.pair(Name(b"StmF"), Name(b"StdCF"));
        dict.pair(Name(b"StrF"), Name(b"StdCF"));
        dict.pair(Name(b"O"), Str(&self.encrypt.o));
        dict.pair(Name(b"U"), Str(&self.encrypt.u));
        dict.pair(Name(b"OE"), Str(&self.encrypt.oe));
        dict.pair(Name(b"UE"), Str(&self.encrypt.ue));
        dict.pair(Name(b"P"), security::PERMISSIONS);
        dict.pair(Name(b"Perms"), Str(&self.encrypt.perms));
        dict.pair(Name(b"EncryptMetadata"), true);
        dict.finish();
    }

    /// A used face as a Type 0 font over its subset; returns the font's reference.
    fn write_font(&mut self, face_id: FaceId, used: &UsedFace) -> Result<Ref, PdfError> {
        let face = self.typesetter.library().face(face_id);
        let subset =
            subsetter::subset(face.data, face.index, &used.remapper).map_err(|_| PdfError::Font)?;
        let (program, subtype): (Vec<u8>, Option<&[u8]>) = if face.cff {
            // The bare CFF table, as FontFile3 /CIDFontType0C (every reader has it).
            let raw = ttf_parser::RawFace::parse(&subset, 0).map_err(|_| PdfError::Font)?;
            let cff = raw
                .table(ttf_parser::Tag::from_bytes(b"CFF "))
                .ok_or(PdfError::Font)?;
            (cff.to_vec(), Some(b"CIDFontType0C"))
        } else {
            (subset, None)
        };
        // A subset's name starts with six letters naming the subset (ISO 32000-2 §9.9.2).
        let tag: String = {
            let mut hash: u32 = 2_166_136_261;
            for (old, new) in used.remapper.remapped_gids().enumerate() {
                hash = (hash ^ u32::from(new) ^ (u32::try_from(old).unwrap_or(0) << 16))
                    .wrapping_mul(16_777_619);
            }
            (0..6)
                .map(|i| char::from(b'A' + u8::try_from((hash >> (i * 5)) % 26).unwrap_or(0)))
                .collect()
        };
        let base_font = format!("{tag}+{}", face.postscript_name);

        let type0 = self.reserve();
        let cid_font = self.reserve();
        let descriptor = self.reserve();
        let file = self.reserve();
        let cmap_ref = self.reserve();
        self.write_font_file(file, &program, subtype)?;
        self.write_to_unicode(cmap_ref, used)?;

        let mut chunk = Chunk::new();
        chunk
            .font_descriptor(descriptor)
            .name(Name(base_font.as_bytes()))
            .flags(FontFlags::SYMBOLIC)
            .bbox(Rect::new(
                face.bbox[0],
                face.bbox[1],
                face.bbox[2],
                face.bbox[3],
            ))
            .italic_angle(0.0)
            .ascent(face.ascent)
            .descent(face.descent)
            .cap_height(face.cap_height)
            .stem_v(80.0)
            .font_file_by_kind(file, face.cff);
        self.write_object(descriptor, &chunk)?;

        // Strings in an encrypted document are encrypted too, these as well
        // (ISO 32000-2 §7.6.2): a reader decrypts every string outside the
        // encryption dictionary.
        let registry = self.seal_string(b"Adobe")?;
        let ordering = self.seal_string(b"Identity")?;
        let mut chunk = Chunk::new();
        let mut cid = chunk.cid_font(cid_font);
        cid.subtype(if face.cff {
            CidFontType::Type0
        } else {
            CidFontType::Type2
        })
        .base_font(Name(base_font.as_bytes()))
        .system_info(SystemInfo {
            registry: Str(&registry),
            ordering: Str(&ordering),
            supplement: 0,
        })
        .font_descriptor(descriptor)
        .default_width(0.0);
        if !face.cff {
            cid.cid_to_gid_map_predefined(Name(b"Identity"));
        }
        let mut widths = cid.widths();
        for (new, old) in used.remapper.remapped_gids().enumerate() {
            let new = u16::try_from(new).unwrap_or(u16::MAX);
            widths.consecutive(new, [face.advance(old)]);
        }
        widths.finish();
        cid.finish();
        self.write_object(cid_font, &chunk)?;

        let mut chunk = Chunk::new();
        chunk
            .type0_font(type0)
            .base_font(Name(base_font.as_bytes()))
            .encoding_predefined(Name(b"Identity-H"))
            .descendant_font(cid_font)
            .to_unicode(cmap_ref);
        self.write_object(type0, &chunk)?;
        Ok(type0)
    }
}

impl<W: Write> Document<W> {
    /// The font program (the subset), compressed and encrypted.
    fn write_font_file(
        &mut self,
        file: Ref,
        program: &[u8],
        subtype: Option<&[u8]>,
    ) -> Result<(), PdfError> {
        let data = self.seal_stream(program, true)?;
        let mut chunk = Chunk::new();
        let mut stream = chunk.stream(file, &data);
        stream.filter(Filter::FlateDecode);
        match subtype {
            Some(subtype) => {
                stream.pair(Name(b"Subtype"), Name(subtype));
            }
            None => {
                stream.pair(
                    Name(b"Length1"),
                    i32::try_from(program.len()).unwrap_or(i32::MAX),
                );
            }
        }
        stream.finish();
        self.write_object(file, &chunk)
    }

    /// The text each glyph stands for, as a ToUnicode CMap.
    fn write_to_unicode(&mut self, reference: Ref, used: &UsedFace) -> Result<(), PdfError> {
        let mut cmap = pdf_writer::types::UnicodeCmap::new(
            Name(b"Custom"),
            SystemInfo {
                registry: Str(b"Adobe"),
                ordering: Str(b"Identity"),
                supplement: 0,
            },
        );
        for (cid, text) in &used.to_unicode {
            cmap.pair_with_multiple(*cid, text.chars());
        }
        let data = self.seal_stream(&cmap.finish(), true)?;
        let mut chunk = Chunk::new();
        chunk.stream(reference, &data).filter(Filter::FlateDecode);
        self.write_object(reference, &chunk)
    }
}

trait FontFileByKind {
    fn font_file_by_kind(&mut self, file: Ref, cff: bool) -> &mut Self;
}

impl FontFileByKind for pdf_writer::writers::FontDescriptor<'_> {
    fn font_file_by_kind(&mut self, file: Ref, cff: bool) -> &mut Self {
        if cff {
            self.font_file3(file)
        } else {
            self.font_file2(file)
        }
    }
}

/// A4 in points.
pub const A4: (f32, f32) = (595.276, 841.89);

fn font_name(face: FaceId) -> String {
    format!("F{face}")
}

fn form_name(index: usize) -> String {
    format!("X{index}")
}

/// Text whose content is known only at the end of the document (a handle).
#[derive(Debug, Clone, Copy)]
pub struct DeferredText(usize);

/// One page's drawing operations, in millimetres from the bottom left corner.
///
/// A statement page is hundreds of cells in one colour and one font: the canvas
/// remembers what the graphics state holds (ISO 32000-2 §8.4, colour, line width and
/// the text font persist across text objects) and writes an operator only when it
/// changes a value. Positions are written to 1/100 point (about 4 µm), which keeps
/// the numbers short.
pub struct Canvas {
    content: ContentStream,
    state: GraphicsState,
}

/// What the content stream has set so far (`None`: not yet set on this page).
#[derive(Default)]
struct GraphicsState {
    fill: Option<Rgb>,
    stroke: Option<Rgb>,
    line_width: Option<f32>,
    font: Option<(FaceId, f32)>,
}

impl Default for Canvas {
    fn default() -> Self {
        Self::new()
    }
}

impl Canvas {
    pub fn new() -> Self {
        Self {
            content: ContentStream::new(),
            state: GraphicsState::default(),
        }
    }

    fn set_fill(&mut self, color: Rgb) {
        if self.state.fill != Some(color) {
            self.content.set_fill_rgb(color.0, color.1, color.2);
            self.state.fill = Some(color);
        }
    }

    fn set_stroke(&mut self, color: Rgb, width: f32) {
        if self.state.stroke != Some(color) {
            self.content.set_stroke_rgb(color.0, color.1, color.2);
            self.state.stroke = Some(color);
        }
        if self.state.line_width != Some(width) {
            self.content.set_line_width(width);
            self.state.line_width = Some(width);
        }
    }

    /// Selects `face` at `size` points (inside a text object).
    fn set_font(&mut self, face: FaceId, size: f32) {
        if self.state.font != Some((face, size)) {
            self.content.set_font(&font_name(face), size);
            self.state.font = Some((face, size));
        }
    }

    pub fn fill_rect(&mut self, color: Rgb, (left, bottom, right, top): (f32, f32, f32, f32)) {
        self.set_fill(color);
        self.content.rect(
            to_points(left),
            to_points(bottom),
            to_points(right - left),
            to_points(top - bottom),
        );
        self.content.fill_nonzero();
    }

    pub fn fill_polygon(&mut self, color: Rgb, points: &[(f32, f32)]) {
        self.set_fill(color);
        for (index, &(x, y)) in points.iter().enumerate() {
            if index == 0 {
                self.content.move_to(to_points(x), to_points(y));
            } else {
                self.content.line_to(to_points(x), to_points(y));
            }
        }
        self.content.close_path();
        self.content.fill_nonzero();
    }

    /// A horizontal rule from `left` to `right` at `y`.
    pub fn rule(&mut self, (left, right): (f32, f32), y: f32, thickness: f32, color: Rgb) {
        self.set_stroke(color, thickness);
        let y = to_points(y);
        self.content.move_to(to_points(left), y);
        self.content.line_to(to_points(right), y);
        self.content.stroke();
    }

    /// Draws deferred text with its alignment point at `(x, y)`.
    pub fn deferred(&mut self, text: DeferredText, x: f32, y: f32) {
        self.content.save_state();
        self.content.translate(to_points(x), to_points(y));
        self.content.x_object(&form_name(text.0));
        self.content.restore_state();
    }

    /// Draws a line of glyphs with its baseline at `y`, its left end (or right end,
    /// for [`Align::Right`]) at `x`, in millimetres.
    pub fn text<W: Write>(
        &mut self,
        document: &mut Document<W>,
        line: &Line,
        (x, y): (f32, f32),
        TextStyle { size, color, .. }: TextStyle,
        align: Align,
    ) {
        if line.glyphs.is_empty() {
            return;
        }
        let scale = size / 1000.0;
        let mut pen = match align {
            Align::Left => x * PT_PER_MM,
            Align::Right => x * PT_PER_MM - line.width * scale,
        };
        let baseline = y * PT_PER_MM;
        let actual_text = !line.plain && !line.mixed_direction;
        if actual_text {
            self.content.begin_actual_text(&line.text);
        }
        self.content.begin_text();
        self.set_fill(color);
        // Where the text line matrix is: `Td` moves from there (ISO 32000-2 §9.4.2);
        // each text object starts at the origin.
        let mut line_start = (0.0, 0.0);
        let mut move_to = |content: &mut ContentStream, (x, y): (f32, f32)| {
            let (x, y) = (round_point(x), round_point(y));
            content.next_line(round_point(x - line_start.0), round_point(y - line_start.1));
            line_start = (x, y);
        };
        let mut index = 0;
        while index < line.glyphs.len() {
            let face = line.glyphs[index].face;
            self.set_font(face, size);
            // A stretch of glyphs of one face without offsets goes in one TJ; a glyph
            // with an offset (a positioned mark) is placed on its own.
            let glyph = line.glyphs[index];
            if glyph.x_offset != 0.0 || glyph.y_offset != 0.0 {
                let text = || cluster_text(line, glyph.cluster);
                let cid = document.glyph(
                    face,
                    glyph.id,
                    (!actual_text).then_some(&text as &dyn Fn() -> String),
                );
                move_to(
                    &mut self.content,
                    (
                        pen + glyph.x_offset * scale,
                        baseline + glyph.y_offset * scale,
                    ),
                );
                self.content.show(&cid.to_be_bytes());
                pen += glyph.advance * scale;
                index += 1;
                continue;
            }
            move_to(&mut self.content, (pen, baseline));
            let mut shown = self.content.show_positioned();
            // Glyphs go out as one string until an advance differs from the font's
            // (kerning, shaping): then the string ends and the difference follows.
            let mut run: Vec<u8> = Vec::with_capacity(2 * line.glyphs.len());
            while index < line.glyphs.len() {
                let glyph = line.glyphs[index];
                if glyph.face != face || glyph.x_offset != 0.0 || glyph.y_offset != 0.0 {
                    break;
                }
                let text = || cluster_text(line, glyph.cluster);
                let cid = document.glyph(
                    face,
                    glyph.id,
                    (!actual_text).then_some(&text as &dyn Fn() -> String),
                );
                run.extend_from_slice(&cid.to_be_bytes());
                if (glyph.natural - glyph.advance).abs() > 0.01 {
                    shown.glyphs(&run);
                    run.clear();
                    shown.adjust(glyph.natural - glyph.advance);
                }
                pen += glyph.advance * scale;
                index += 1;
            }
            if !run.is_empty() {
                shown.glyphs(&run);
            }
            shown.finish();
        }
        self.content.end_text();
        if actual_text {
            self.content.end_marked_content();
        }
    }
}

/// Millimetres to points (the content stream writes them to 1/100 point).
fn to_points(millimetres: f32) -> f32 {
    millimetres * PT_PER_MM
}

/// A position to 1/100 point, as the content stream writes it: text placed with
/// relative `Td` moves tracks where the reader's pen really is, so moves do not
/// drift.
fn round_point(value: f32) -> f32 {
    (value * 100.0).round() / 100.0
}

/// The text of the cluster starting at byte `cluster` of the paragraph: what the
/// first glyph of the cluster stands for in `/ToUnicode` (asked once per glyph).
fn cluster_text(line: &Line, cluster: u32) -> String {
    let from = cluster.saturating_sub(line.start) as usize;
    let to = line
        .glyphs
        .iter()
        .map(|glyph| glyph.cluster.saturating_sub(line.start) as usize)
        .filter(|&start| start > from)
        .min()
        .unwrap_or(line.text.len());
    line.text.get(from..to).unwrap_or_default().to_owned()
}
