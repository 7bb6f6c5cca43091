//! The embedded fonts: DejaVu Sans and DejaVu Sans Bold (Bitstream Vera licence, see
//! `assets/fonts/LICENSE`), compiled into the binary so that nothing is needed at run
//! time. They cover Latin, Greek, Cyrillic, Armenian, Georgian, Hebrew and more, so
//! names and details in those scripts render as themselves. printpdf subsets them on
//! save: a statement carries only the glyphs it uses.
//!
//! Parsed once per process; each face also keeps a flat table of advance widths for
//! the Basic Multilingual Plane, so measuring text for layout is an array look-up.

use std::sync::LazyLock;

use allsorts::binary::read::ReadScope;
use allsorts::font_data::FontData;
use allsorts::subset::{subset, CmapTarget, SubsetProfile};
use printpdf::ParsedFont;

use super::PdfError;

const REGULAR: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
const BOLD: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans-Bold.ttf");

/// Which of the two embedded faces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Face {
    Regular = 0,
    Bold = 1,
}

/// Advance widths of one face, in font units.
pub struct FaceMetrics {
    pub units_per_em: u16,
    /// Indexed by code point for U+0000..U+FFFF; other characters use `fallback`.
    advances: Vec<u16>,
    /// The advance of the missing-glyph box.
    fallback: u16,
}

impl FaceMetrics {
    fn of(font: &ParsedFont) -> Self {
        let fallback = font.get_glyph_width(0).unwrap_or(font.units_per_em / 2);
        let mut advances = vec![fallback; 0x1_0000];
        for (&codepoint, &glyph) in &font.codepoint_to_glyph {
            if let (Ok(index), Some(width)) =
                (usize::try_from(codepoint), font.get_glyph_width(glyph))
            {
                if let Some(slot) = advances.get_mut(index) {
                    *slot = width;
                }
            }
        }
        Self {
            units_per_em: font.units_per_em.max(1),
            advances,
            fallback,
        }
    }

    pub fn advance(&self, c: char) -> u16 {
        self.advances
            .get(c as usize)
            .copied()
            .unwrap_or(self.fallback)
    }
}

pub struct Fonts {
    parsed: [ParsedFont; 2],
    metrics: [FaceMetrics; 2],
}

/// Which characters a document uses, per face: a bit per Unicode scalar value.
pub struct UsedChars(Vec<u64>);

impl UsedChars {
    pub fn new() -> Self {
        Self(vec![0; 0x11_0000 / 64])
    }

    pub fn add(&mut self, text: &str) {
        for c in text.chars() {
            let index = c as usize;
            if let Some(word) = self.0.get_mut(index / 64) {
                *word |= 1 << (index % 64);
            }
        }
    }

    fn chars(&self) -> impl Iterator<Item = char> + '_ {
        self.0.iter().enumerate().flat_map(|(word_index, word)| {
            (0..64)
                .filter(move |bit| word & (1 << bit) != 0)
                .filter_map(move |bit| u32::try_from(word_index * 64 + bit).ok())
                .filter_map(char::from_u32)
        })
    }
}

impl Fonts {
    /// The face cut down to the glyphs of `used` (plus the missing-glyph box), parsed,
    /// with every used character mapped to its renumbered glyph. This is what gets
    /// embedded: a statement carries a few kilobytes of font, not 750 KB.
    pub fn subset(&self, face: Face, used: &UsedChars) -> Result<ParsedFont, PdfError> {
        let full = &self.parsed[face as usize];
        let mut wanted: Vec<(char, u16)> = used
            .chars()
            .filter_map(|c| {
                full.lookup_glyph_index(u32::from(c))
                    .map(|glyph| (c, glyph))
            })
            .filter(|&(_, glyph)| glyph != 0)
            .collect();
        wanted.sort_by_key(|&(_, glyph)| glyph);
        // Glyph 0 first, no duplicates: what the subsetter requires. A glyph's new id
        // is its position in this list.
        let mut glyphs: Vec<u16> = vec![0];
        for &(_, glyph) in &wanted {
            if glyphs.last() != Some(&glyph) {
                glyphs.push(glyph);
            }
        }
        let source = match face {
            Face::Regular => REGULAR,
            Face::Bold => BOLD,
        };
        let file = ReadScope::new(source)
            .read::<FontData<'_>>()
            .map_err(|_| PdfError::Font)?;
        let provider = file.table_provider(0).map_err(|_| PdfError::Font)?;
        let bytes = subset(&provider, &glyphs, &SubsetProfile::Pdf, CmapTarget::Unicode)
            .map_err(|_| PdfError::Font)?;
        let mut font = ParsedFont::from_bytes(&bytes, 0, &mut Vec::new()).ok_or(PdfError::Font)?;
        for (c, glyph) in wanted {
            if let Ok(new_id) = glyphs.binary_search(&glyph) {
                let new_id = u16::try_from(new_id).map_err(|_| PdfError::Font)?;
                font.set_codepoint_mapping(u32::from(c), new_id);
            }
        }
        Ok(font)
    }

    pub fn metrics(&self, face: Face) -> &FaceMetrics {
        &self.metrics[face as usize]
    }
}

static FONTS: LazyLock<Option<Fonts>> = LazyLock::new(|| {
    let regular = ParsedFont::from_bytes(REGULAR, 0, &mut Vec::new())?;
    let bold = ParsedFont::from_bytes(BOLD, 0, &mut Vec::new())?;
    let metrics = [FaceMetrics::of(&regular), FaceMetrics::of(&bold)];
    Some(Fonts {
        parsed: [regular, bold],
        metrics,
    })
});

/// The embedded fonts, parsed on first use.
pub fn fonts() -> Result<&'static Fonts, PdfError> {
    FONTS.as_ref().ok_or(PdfError::Font)
}
