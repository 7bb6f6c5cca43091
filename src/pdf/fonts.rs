//! The fonts documents are set in, and which one draws each character.
//!
//! Compiled into the binary (`assets/fonts`, licences beside them): DejaVu Sans and
//! DejaVu Sans Bold, the default (Latin, Greek, Cyrillic, Hebrew, Armenian, Georgian
//! and more), and Noto Sans Arabic, Noto Sans Devanagari and Noto Sans Thai, preferred
//! for their scripts. Characters none of these has come from the operator's fonts
//! (`--fonts-dir`) and then the system's font directories (`/usr/share/fonts`, …),
//! e.g. Noto Sans CJK for Chinese, Japanese and Korean: at start-up every such font's
//! character map is read once into one table of "the first font that has this
//! character", so a look-up later is a hash probe, and a font's file is read for good
//! only when a document first uses it. A character no font has is drawn as DejaVu's
//! missing-glyph box.
//!
//! One [`FontLibrary`] serves every document of the process; its faces live as long
//! as the process (a face, once used, stays loaded).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex, PoisonError, RwLock};

use rustybuzz::ttf_parser;

use unicode_script::{Script, UnicodeScript as _};

use super::PdfError;

const DEJAVU: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
const DEJAVU_BOLD: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans-Bold.ttf");
const NOTO_ARABIC: &[u8] = include_bytes!("../../assets/fonts/NotoSansArabic-Regular.ttf");
const NOTO_DEVANAGARI: &[u8] = include_bytes!("../../assets/fonts/NotoSansDevanagari-Regular.ttf");
const NOTO_THAI: &[u8] = include_bytes!("../../assets/fonts/NotoSansThai-Regular.ttf");

/// Which face of the library: an index into its list of loaded faces.
pub type FaceId = u16;

pub const REGULAR: FaceId = 0;
/// How many faces are compiled in.
const BUNDLED: usize = 5;
pub const BOLD: FaceId = 1;

/// Scripts whose bundled Noto face is preferred over DejaVu (which has some of these
/// letters, without the shaping of a font made for the script).
const PREFERRED: [(Script, FaceId); 3] = [
    (Script::Arabic, 2),
    (Script::Devanagari, 3),
    (Script::Thai, 4),
];

/// The printable ASCII characters, drawn without shaping (see `text.rs`).
pub const ASCII: std::ops::RangeInclusive<char> = ' '..='~';

/// One loaded face: its data, a shaper over it, and what a PDF font needs of it.
pub struct Face {
    /// The PostScript name (`BaseFont`, after a subset tag).
    pub postscript_name: String,
    pub data: &'static [u8],
    pub index: u32,
    pub shaper: rustybuzz::Face<'static>,
    pub units_per_em: f32,
    /// CFF outlines (embedded as CIDFontType0) rather than TrueType (CIDFontType2).
    pub cff: bool,
    /// In thousandths of an em, as PDF font metrics are.
    pub ascent: f32,
    pub descent: f32,
    pub cap_height: f32,
    pub bbox: [f32; 4],
    /// Glyph and advance (thousandths of an em) of each printable ASCII character,
    /// `None` when the face lacks it.
    ascii: [Option<(u16, f32)>; 95],
    /// For a face that sets ASCII without shaping: the kerning of each pair of
    /// printable ASCII characters (`[first * 95 + second]`, thousandths of an em), and
    /// whether shaping the pair does anything else (then strings with it are shaped).
    pairs: Option<AsciiPairs>,
}

/// What shaping does to each pair of printable ASCII characters in one face.
struct AsciiPairs {
    kerning: Vec<f32>,
    shaped: Vec<bool>,
}

fn ascii_index(c: char) -> Option<usize> {
    let index = usize::try_from(u32::from(c).checked_sub(0x20)?).ok()?;
    (index < 95).then_some(index)
}

impl Face {
    fn parse(data: &'static [u8], index: u32) -> Option<Self> {
        let shaper = rustybuzz::Face::from_slice(data, index)?;
        let units_per_em = u16::try_from(shaper.units_per_em())
            .map_or(1000.0, f32::from)
            .max(1.0);
        let scale = 1000.0 / units_per_em;
        let tag = |name: &[u8; 4]| {
            shaper
                .raw_face()
                .table(ttf_parser::Tag::from_bytes(name))
                .is_some()
        };
        let cff = tag(b"CFF ");
        if !cff && !tag(b"glyf") {
            return None;
        }
        // The first record that decodes: a font may list a Macintosh-encoded record
        // (which ttf-parser does not decode) before its Unicode one.
        let postscript_name = shaper
            .names()
            .into_iter()
            .filter(|name| name.name_id == ttf_parser::name_id::POST_SCRIPT_NAME)
            .find_map(|name| name.to_string())
            .unwrap_or_else(|| "Font".to_owned())
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect();
        let mut ascii = [None; 95];
        for (slot, c) in ascii.iter_mut().zip(ASCII) {
            *slot = shaper.glyph_index(c).map(|glyph| {
                let advance = shaper.glyph_hor_advance(glyph).unwrap_or(0);
                (glyph.0, f32::from(advance) * scale)
            });
        }
        let bbox = shaper.global_bounding_box();
        Some(Self {
            postscript_name,
            data,
            index,
            units_per_em,
            cff,
            ascent: f32::from(shaper.ascender()) * scale,
            descent: f32::from(shaper.descender()) * scale,
            cap_height: f32::from(shaper.capital_height().unwrap_or(shaper.ascender())) * scale,
            bbox: [
                f32::from(bbox.x_min) * scale,
                f32::from(bbox.y_min) * scale,
                f32::from(bbox.x_max) * scale,
                f32::from(bbox.y_max) * scale,
            ],
            ascii,
            pairs: None,
            shaper,
        })
    }

    /// Shapes every pair of printable ASCII characters once and keeps what shaping
    /// does to them: done for the faces text is set in (DejaVu), at start-up.
    fn learn_ascii_pairs(&mut self) {
        if !self.covers_ascii() {
            return;
        }
        let scale = 1000.0 / self.units_per_em;
        let mut kerning = vec![0.0; 95 * 95];
        let mut shaped = vec![false; 95 * 95];
        for (first_index, first) in ASCII.enumerate() {
            for (second_index, second) in ASCII.enumerate() {
                let slot = first_index * 95 + second_index;
                let mut buffer = rustybuzz::UnicodeBuffer::new();
                buffer.push_str(&format!("{first}{second}"));
                buffer.guess_segment_properties();
                let output = rustybuzz::shape(&self.shaper, &[], buffer);
                let infos = output.glyph_infos();
                let positions = output.glyph_positions();
                let expected = [self.ascii(first), self.ascii(second)];
                let same_glyphs = infos.len() == 2
                    && infos.iter().zip(expected).all(|(info, wanted)| {
                        wanted.is_some_and(|(glyph, _)| u32::from(glyph) == info.glyph_id)
                    });
                let plain_second = positions.get(1).is_some_and(|position| {
                    position.x_offset == 0
                        && position.y_offset == 0
                        && expected[1].is_some_and(|(_, advance)| {
                            (position.x_advance as f32 * scale - advance).abs() < 0.001
                        })
                });
                let first_position = positions.first();
                if !same_glyphs
                    || !plain_second
                    || first_position.is_none_or(|p| p.x_offset != 0 || p.y_offset != 0)
                {
                    shaped[slot] = true;
                    continue;
                }
                let natural = expected[0].map_or(0.0, |(_, advance)| advance);
                kerning[slot] = first_position
                    .map_or(0.0, |position| position.x_advance as f32 * scale - natural);
            }
        }
        self.pairs = Some(AsciiPairs { kerning, shaped });
    }

    /// Whether `text` can be set from the ASCII tables: printable ASCII only, and no
    /// pair of it that shaping would change beyond kerning.
    pub fn sets_ascii(&self, text: &str) -> bool {
        let Some(pairs) = &self.pairs else {
            return false;
        };
        let bytes = text.as_bytes();
        if !bytes.iter().all(|&byte| (0x20..0x7F).contains(&byte)) {
            return false;
        }
        bytes.windows(2).all(|pair| {
            let slot = usize::from(pair[0] - 0x20) * 95 + usize::from(pair[1] - 0x20);
            !pairs.shaped[slot]
        })
    }

    /// The kerning between two printable ASCII characters (after [`sets_ascii`](Self::sets_ascii)).
    pub fn ascii_kerning(&self, first: char, second: char) -> f32 {
        match (&self.pairs, ascii_index(first), ascii_index(second)) {
            (Some(pairs), Some(first), Some(second)) => pairs.kerning[first * 95 + second],
            _ => 0.0,
        }
    }

    pub fn has(&self, c: char) -> bool {
        self.shaper.glyph_index(c).is_some()
    }

    /// The glyph and advance of a printable ASCII character.
    pub fn ascii(&self, c: char) -> Option<(u16, f32)> {
        self.ascii.get(ascii_index(c)?).copied().flatten()
    }

    /// Whether every printable ASCII character is in this face.
    pub fn covers_ascii(&self) -> bool {
        self.ascii.iter().all(Option::is_some)
    }

    /// A glyph's advance in thousandths of an em (what the PDF `/W` array says).
    pub fn advance(&self, glyph: u16) -> f32 {
        let units = self
            .shaper
            .glyph_hor_advance(ttf_parser::GlyphId(glyph))
            .unwrap_or(0);
        f32::from(units) * 1000.0 / self.units_per_em
    }
}

/// A font found on disk: where it is and which face of the file.
#[derive(Clone)]
struct OnDisk {
    path: PathBuf,
    index: u32,
}

/// Every face documents may use, and which one draws a character.
pub struct FontLibrary {
    /// The bundled faces: [`FaceId`]s `0..BUNDLED`.
    bundled: [&'static Face; BUNDLED],
    /// Faces loaded from disk since: [`FaceId`]s from `BUNDLED` on.
    discovered: RwLock<Vec<&'static Face>>,
    /// Fonts from `--fonts-dir` and the system: for each character none of the
    /// bundled faces has, the first of them (in preference order) that has it.
    coverage: HashMap<char, u32>,
    on_disk: Vec<OnDisk>,
    /// Which on-disk fonts are loaded, and as which face.
    loaded: Mutex<HashMap<u32, Option<FaceId>>>,
}

impl FontLibrary {
    /// The bundled faces, then the faces of `fonts_dir` (if any) and of the system's
    /// font directories. Fails only when a bundled face does not parse.
    fn load(fonts_dir: Option<&Path>) -> Result<Self, PdfError> {
        let mut bundled = Vec::with_capacity(BUNDLED);
        for (id, data) in [DEJAVU, DEJAVU_BOLD, NOTO_ARABIC, NOTO_DEVANAGARI, NOTO_THAI]
            .into_iter()
            .enumerate()
        {
            let mut face = Face::parse(data, 0).ok_or(PdfError::Font)?;
            if id == usize::from(REGULAR) || id == usize::from(BOLD) {
                face.learn_ascii_pairs();
            }
            bundled.push(&*Box::leak(Box::new(face)));
        }
        let bundled: [&'static Face; BUNDLED] = bundled.try_into().map_err(|_| PdfError::Font)?;
        let (coverage, on_disk) = index_on_disk(&bundled, fonts_dir);
        Ok(Self {
            bundled,
            discovered: RwLock::new(Vec::new()),
            coverage,
            on_disk,
            loaded: Mutex::new(HashMap::new()),
        })
    }

    /// The library for this `--fonts-dir`, loaded on first use and kept for the
    /// process (every vault of a process with the same directory shares it).
    pub fn shared(fonts_dir: Option<&Path>) -> Result<Arc<Self>, PdfError> {
        static LIBRARIES: LazyLock<Mutex<HashMap<Option<PathBuf>, Arc<FontLibrary>>>> =
            LazyLock::new(|| Mutex::new(HashMap::new()));
        let mut libraries = LIBRARIES.lock().unwrap_or_else(PoisonError::into_inner);
        let key = fonts_dir.map(Path::to_path_buf);
        if let Some(library) = libraries.get(&key) {
            return Ok(Arc::clone(library));
        }
        let library = Arc::new(Self::load(fonts_dir)?);
        libraries.insert(key, Arc::clone(&library));
        Ok(library)
    }

    /// A loaded face (ids come from [`face_for`](Self::face_for); an unknown one, which
    /// that never returns, reads as the default face).
    pub fn face(&self, id: FaceId) -> &'static Face {
        let id = usize::from(id);
        if let Some(face) = self.bundled.get(id) {
            return face;
        }
        let discovered = self
            .discovered
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        discovered
            .get(id - BUNDLED)
            .copied()
            .unwrap_or(self.bundled[0])
    }

    /// The face that draws `c` in text set in `primary` (regular or bold): the
    /// bundled face made for its script, else `primary`, else the other bundled faces,
    /// else the first operator or system font that has it. `None`: no font has it.
    pub fn face_for(&self, c: char, primary: FaceId) -> Option<FaceId> {
        let script = c.script();
        if let Some(&(_, id)) = PREFERRED.iter().find(|(s, _)| *s == script) {
            if self.face(id).has(c) {
                return Some(id);
            }
        }
        if self.face(primary).has(c) {
            return Some(primary);
        }
        for (_, id) in PREFERRED {
            if self.face(id).has(c) {
                return Some(id);
            }
        }
        if primary != REGULAR && self.face(REGULAR).has(c) {
            return Some(REGULAR);
        }
        let position = *self.coverage.get(&c)?;
        self.load_on_disk(position)
    }

    fn load_on_disk(&self, position: u32) -> Option<FaceId> {
        let mut loaded = self.loaded.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(id) = loaded.get(&position) {
            return *id;
        }
        let id = self.read_on_disk(position);
        if id.is_none() {
            tracing::warn!(font = position, "a font file could not be loaded");
        }
        loaded.insert(position, id);
        id
    }

    fn read_on_disk(&self, position: u32) -> Option<FaceId> {
        let font = self.on_disk.get(usize::try_from(position).ok()?)?;
        let data: &'static [u8] = Box::leak(std::fs::read(&font.path).ok()?.into_boxed_slice());
        let face: &'static Face = Box::leak(Box::new(Face::parse(data, font.index)?));
        let mut discovered = self
            .discovered
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let id = FaceId::try_from(BUNDLED + discovered.len()).ok()?;
        discovered.push(face);
        Some(id)
    }
}

/// The fonts of `fonts_dir` (first) and of the system's font directories, in
/// preference order, and for each character no bundled face has, the position in that
/// list of the first font that has it. Only the character maps are read.
fn index_on_disk(
    bundled: &[&'static Face; BUNDLED],
    fonts_dir: Option<&Path>,
) -> (HashMap<char, u32>, Vec<OnDisk>) {
    let mut database = fontdb::Database::new();
    let operator_faces = fonts_dir.map_or(0, |dir| {
        database.load_fonts_dir(dir);
        database.len()
    });
    database.load_system_fonts();
    let mut candidates: Vec<(bool, fontdb::FaceInfo)> = database
        .faces()
        .enumerate()
        .map(|(position, info)| (position < operator_faces, info.clone()))
        .collect();
    // The operator's fonts first; then regular upright sans-serif faces before
    // bold, italic or serif ones; then by file, so the choice is stable.
    candidates.sort_by_key(|(operator, info)| {
        let family = info.families.first().map(|(name, _)| name.clone());
        let sans = family.as_deref().is_some_and(|name| name.contains("Sans"));
        let mono = family.as_deref().is_some_and(|name| name.contains("Mono"));
        (
            !operator,
            info.weight != fontdb::Weight::NORMAL || info.style != fontdb::Style::Normal,
            !sans || mono,
            source_path(&info.source),
            info.index,
        )
    });
    let mut coverage = HashMap::new();
    let mut on_disk: Vec<OnDisk> = Vec::new();
    // Characters already drawn by a bundled face or an earlier font on disk: a
    // bit per Unicode scalar value, so the scan below costs a bit test per
    // character of each font's map.
    let mut taken = vec![0u64; 0x11_0000 / 64];
    let mut take = |code: u32| -> bool {
        let (word, bit) = ((code / 64) as usize, 1u64 << (code % 64));
        match taken.get_mut(word) {
            Some(slot) if *slot & bit == 0 => {
                *slot |= bit;
                true
            }
            _ => false,
        }
    };
    for face in bundled {
        if let Some(cmap) = face.shaper.tables().cmap {
            for subtable in cmap
                .subtables
                .into_iter()
                .filter(ttf_parser::cmap::Subtable::is_unicode)
            {
                subtable.codepoints(|code| {
                    take(code);
                });
            }
        }
    }
    for (_, info) in candidates {
        let Some(path) = source_path(&info.source) else {
            continue;
        };
        let Some(cmap_bytes) = read_cmap(&path, info.index) else {
            continue;
        };
        let Some(cmap) = ttf_parser::cmap::Table::parse(&cmap_bytes) else {
            continue;
        };
        let position = u32::try_from(on_disk.len()).unwrap_or(u32::MAX);
        let mut added = false;
        for subtable in cmap
            .subtables
            .into_iter()
            .filter(ttf_parser::cmap::Subtable::is_unicode)
        {
            subtable.codepoints(|code| {
                if take(code) {
                    if let Some(c) = char::from_u32(code) {
                        coverage.insert(c, position);
                        added = true;
                    }
                }
            });
        }
        if added {
            on_disk.push(OnDisk {
                path,
                index: info.index,
            });
        }
    }
    (coverage, on_disk)
}

/// The `cmap` table of face `index` of a font file, read alone (a collection of CJK
/// faces is some 20 MB; its character maps are a few hundred KB), if the face has
/// outlines a PDF can embed (`glyf` or `CFF `).
fn read_cmap(path: &Path, index: u32) -> Option<Vec<u8>> {
    use std::io::{Read as _, Seek as _, SeekFrom};
    let mut file = std::fs::File::open(path).ok()?;
    let mut read_at = |offset: u64, length: usize| -> Option<Vec<u8>> {
        let mut bytes = vec![0u8; length];
        file.seek(SeekFrom::Start(offset)).ok()?;
        file.read_exact(&mut bytes).ok()?;
        Some(bytes)
    };
    let be32 = |bytes: &[u8], at: usize| -> Option<u32> {
        Some(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
    };
    // A collection (`ttcf`) lists where each face's table directory starts.
    let head = read_at(0, 12)?;
    let directory = if head.get(..4)? == b"ttcf" {
        let slot = 12 + 4 * u64::from(index);
        u64::from(be32(&read_at(slot, 4)?, 0)?)
    } else {
        0
    };
    let header = read_at(directory, 12)?;
    let tables = usize::from(u16::from_be_bytes(header.get(4..6)?.try_into().ok()?));
    let records = read_at(directory + 12, 16 * tables)?;
    let mut cmap = None;
    let mut outlines = false;
    for record in records.chunks_exact(16) {
        match record.get(..4)? {
            b"glyf" | b"CFF " => outlines = true,
            b"cmap" => cmap = Some((be32(record, 8)?, be32(record, 12)?)),
            _ => {}
        }
    }
    let (offset, length) = cmap.filter(|_| outlines)?;
    read_at(u64::from(offset), usize::try_from(length).ok()?)
}

fn source_path(source: &fontdb::Source) -> Option<PathBuf> {
    match source {
        fontdb::Source::File(path) | fontdb::Source::SharedFile(path, _) => Some(path.clone()),
        fontdb::Source::Binary(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_script_finds_its_face() {
        let library = FontLibrary::shared(None).unwrap();
        assert_eq!(library.face_for('A', REGULAR), Some(REGULAR));
        assert_eq!(library.face_for('A', BOLD), Some(BOLD));
        assert_eq!(library.face_for('ж', REGULAR), Some(REGULAR));
        assert_eq!(library.face_for('ש', REGULAR), Some(REGULAR), "Hebrew");
        assert_eq!(library.face_for('م', REGULAR), Some(2), "Arabic");
        assert_eq!(library.face_for('म', BOLD), Some(3), "Devanagari");
        assert_eq!(library.face_for('ก', REGULAR), Some(4), "Thai");
        assert!(library.face(REGULAR).covers_ascii());
        assert!(library.face(BOLD).covers_ascii());
        // A private-use character: no font has it.
        assert_eq!(library.face_for('\u{F0000}', REGULAR), None);
    }

    #[test]
    fn faces_are_named_by_their_postscript_names() {
        let library = FontLibrary::shared(None).unwrap();
        assert_eq!(library.face(REGULAR).postscript_name, "DejaVuSans");
        assert_eq!(library.face(BOLD).postscript_name, "DejaVuSansBold");
        assert_eq!(library.face(2).postscript_name, "NotoSansArabicRegular");
    }
}
