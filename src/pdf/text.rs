//! Text to glyphs: every string a document shows becomes lines of positioned glyphs
//! here. A paragraph is resolved with the Unicode bidi algorithm (UAX #9), each run
//! of one direction and one face is shaped with rustybuzz (HarfBuzz's shaping: Arabic
//! joining, Indic conjuncts and reordering, mark positioning), and the result is
//! broken into lines no wider than asked — at spaces, around CJK ideographs, and
//! inside a word only when the word alone is wider than the line, between clusters —
//! then reordered for display line by line. Nothing is ever cut off.
//!
//! Printable ASCII in a face that has all of it is set from tables made by shaping
//! every pair of ASCII characters once (`fonts.rs`): glyph, advance and pair kerning,
//! the same result as shaping the string (a test checks this), at a fraction of the
//! cost. Strings with a pair that shaping changes in any other way (a ligature, a
//! contextual form) are shaped.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use unicode_bidi::ParagraphBidiInfo;
use unicode_script::{Script, UnicodeScript as _};

use super::fonts::{FaceId, FontLibrary, REGULAR};

/// One glyph as drawn; lengths in thousandths of an em.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Glyph {
    pub face: FaceId,
    pub id: u16,
    pub advance: f32,
    /// The font's own advance for the glyph (what the PDF `/W` array says);
    /// `advance` differs from it by kerning or shaping.
    pub natural: f32,
    pub x_offset: f32,
    pub y_offset: f32,
    /// Byte offset of the glyph's cluster in the paragraph.
    pub cluster: u32,
}

/// A line ready to draw: glyphs left to right, and the text they show in logical
/// order (what a reader extracts).
#[derive(Debug, Clone)]
pub struct Line {
    pub glyphs: Vec<Glyph>,
    /// Thousandths of an em.
    pub width: f32,
    pub text: String,
    /// Where `text` starts in the paragraph (glyph clusters count from there).
    pub start: u32,
    /// Glyphs and characters correspond one to one, left to right: the font's
    /// ToUnicode map alone gives the text back. Otherwise the line carries its text
    /// as `/ActualText` — unless it holds right-to-left text (`mixed_direction`).
    pub plain: bool,
    /// Some of the line runs right to left. Readers turn right-to-left text drawn in
    /// visual order back into logical order themselves (poppler reverses even an
    /// `/ActualText`), so such a line relies on ToUnicode, cluster by cluster.
    pub mixed_direction: bool,
    /// The paragraph reads right to left (its first strong character is RTL): such
    /// text is aligned to the right of its cell.
    pub rtl: bool,
}

/// A paragraph shaped in logical order, before it is broken into lines.
struct Shaped<'t> {
    text: &'t str,
    /// Runs of one level and one face, in logical order; each run's glyphs in visual
    /// order (reversed for right-to-left runs, as the shaper returns them).
    runs: Vec<(Range<usize>, bool, Vec<Glyph>)>,
    bidi: Option<ParagraphBidiInfo<'t>>,
    /// The advance of the glyphs of the cluster starting at each byte.
    advance_at: Vec<f32>,
    /// Byte offsets where a cluster starts (a line may break there as a last resort).
    cluster_start: Vec<bool>,
}

/// Shaped cells kept for reuse (statements repeat their details, exports their
/// cities): a few hundred kilobytes at most, dropped whole when full.
const RECENT: usize = 2048;

/// Shapes and breaks text for one document; counts characters no font has.
pub struct Typesetter {
    library: Arc<FontLibrary>,
    /// Recently shaped text: (face, width, text) → its lines and missing glyphs.
    recent: HashMap<(FaceId, u32, String), (Vec<Line>, usize)>,
    /// Characters drawn as the missing-glyph box so far.
    pub missing: usize,
}

impl Typesetter {
    pub fn new(library: Arc<FontLibrary>) -> Self {
        Self {
            library,
            recent: HashMap::new(),
            missing: 0,
        }
    }

    pub fn library(&self) -> &Arc<FontLibrary> {
        &self.library
    }

    /// `text` set in `primary` on one line, however long.
    pub fn line(&mut self, text: &str, primary: FaceId) -> Line {
        self.lines(text, primary, f32::INFINITY)
            .into_iter()
            .next()
            .unwrap_or_else(|| empty_line(false))
    }

    /// `text` set in `primary` and broken into lines at most `width` thousandths of
    /// an em wide (a single cluster wider than that gets a line of its own). Always
    /// at least one line; control characters are drawn as spaces.
    pub fn lines(&mut self, text: &str, primary: FaceId, width: f32) -> Vec<Line> {
        let face = self.library.face(primary);
        if face.sets_ascii(text) {
            return self.ascii_lines(text, primary, width);
        }
        let key = (primary, width.to_bits(), text.to_owned());
        if let Some((lines, missing)) = self.recent.get(&key) {
            self.missing += missing;
            return lines.clone();
        }
        let missing_before = self.missing;
        let lines = self.shape_lines(text, primary, width);
        if self.recent.len() >= RECENT {
            self.recent.clear();
        }
        self.recent
            .insert(key, (lines.clone(), self.missing - missing_before));
        lines
    }

    fn shape_lines(&mut self, text: &str, primary: FaceId, width: f32) -> Vec<Line> {
        let cleaned: String = text
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        let shaped = self.shape(&cleaned, primary);
        let breaks = break_points(&shaped);
        let space = whitespace_bytes(&cleaned);
        let measure = Measure {
            advance_at: &shaped.advance_at,
            space: &space,
            cluster_start: &shaped.cluster_start,
            breaks: &breaks,
        };
        let mut lines: Vec<Line> = fit(&measure, width)
            .into_iter()
            .map(|range| shaped.line(range))
            .collect();
        if lines.is_empty() {
            lines.push(empty_line(shaped.is_rtl()));
        }
        lines
    }

    fn ascii_lines(&self, text: &str, primary: FaceId, width: f32) -> Vec<Line> {
        let face = self.library.face(primary);
        let bytes = text.as_bytes();
        // Printable ASCII (`sets_ascii`): one byte, one character, one glyph.
        let mut glyphs: Vec<Glyph> = Vec::with_capacity(bytes.len());
        for (at, &byte) in bytes.iter().enumerate() {
            let c = char::from(byte);
            let (id, natural) = face.ascii(c).unwrap_or((0, 0.0));
            let kerning = bytes
                .get(at + 1)
                .map_or(0.0, |&next| face.ascii_kerning(c, char::from(next)));
            glyphs.push(Glyph {
                face: primary,
                id,
                advance: natural + kerning,
                natural,
                x_offset: 0.0,
                y_offset: 0.0,
                cluster: u32::try_from(at).unwrap_or(u32::MAX),
            });
        }
        let total: f32 = glyphs.iter().map(|glyph| glyph.advance).sum();
        let trimmed = bytes.first() != Some(&b' ') && bytes.last() != Some(&b' ');
        if total <= width && trimmed {
            // Most cells: one line, nothing to break (no copies made).
            return vec![Line {
                width: total,
                glyphs,
                text: text.to_owned(),
                start: 0,
                plain: true,
                mixed_direction: false,
                rtl: false,
            }];
        }
        let advance_at: Vec<f32> = glyphs.iter().map(|glyph| glyph.advance).collect();
        let breaks: Vec<usize> = (1..bytes.len())
            .filter(|&at| {
                let before = char::from(bytes[at - 1]);
                (before == ' ' || WORD_BREAKS.contains(&before)) && bytes[at] != b' '
            })
            .chain(std::iter::once(bytes.len()))
            .collect();
        let every = vec![true; bytes.len() + 1];
        let space: Vec<bool> = bytes.iter().map(|&byte| byte == b' ').collect();
        let measure = Measure {
            advance_at: &advance_at,
            space: &space,
            cluster_start: &every,
            breaks: &breaks,
        };
        let mut lines: Vec<Line> = fit(&measure, width)
            .into_iter()
            .map(|range| {
                let slice = &glyphs[range.clone()];
                Line {
                    width: slice.iter().map(|glyph| glyph.advance).sum(),
                    glyphs: slice.to_vec(),
                    start: u32::try_from(range.start).unwrap_or(0),
                    text: text[range].to_owned(),
                    plain: true,
                    mixed_direction: false,
                    rtl: false,
                }
            })
            .collect();
        if lines.is_empty() {
            lines.push(empty_line(false));
        }
        lines
    }

    /// Resolves directions, picks a face per character and shapes each run.
    fn shape<'t>(&mut self, text: &'t str, primary: FaceId) -> Shaped<'t> {
        let bidi = ParagraphBidiInfo::new(text, None);
        let rtl_text = bidi.has_rtl();
        // A face per character; `None`: no font has it. Characters of no particular
        // script (spaces, digits, punctuation, marks) stay in the face of the text
        // around them when it has them, so runs are not cut at every space.
        let mut faces: Vec<(usize, Option<FaceId>)> = Vec::with_capacity(text.len());
        let mut previous: Option<FaceId> = None;
        for (at, c) in text.char_indices() {
            let neutral = matches!(c.script(), Script::Common | Script::Inherited);
            let face = match previous {
                Some(face) if neutral && self.library.face(face).has(c) => Some(face),
                _ => self.library.face_for(c, primary),
            };
            faces.push((at, face));
            if face.is_some() {
                previous = face;
            }
        }
        let level_at = |at: usize| bidi.levels.get(at).is_some_and(unicode_bidi::Level::is_rtl);
        let mut runs = Vec::new();
        let mut start = 0;
        for index in 0..faces.len() {
            let (at, face) = faces[index];
            let end = faces.get(index + 1).map_or(text.len(), |&(next, _)| next);
            let next_differs = faces.get(index + 1).is_none_or(|&(next, next_face)| {
                next_face != face || level_at(next) != level_at(at)
            });
            if next_differs {
                let range = start..end;
                let rtl = level_at(start);
                let glyphs = self.shape_run(text, range.clone(), rtl, face);
                runs.push((range, rtl, glyphs));
                start = end;
            }
        }
        let mut advance_at = vec![0.0; text.len()];
        let mut cluster_start = vec![false; text.len() + 1];
        cluster_start[text.len()] = true;
        for glyph in runs.iter().flat_map(|(_, _, glyphs)| glyphs) {
            if let Some(slot) = advance_at.get_mut(glyph.cluster as usize) {
                *slot += glyph.advance;
            }
            if let Some(slot) = cluster_start.get_mut(glyph.cluster as usize) {
                *slot = true;
            }
        }
        Shaped {
            text,
            runs,
            bidi: rtl_text.then_some(bidi),
            advance_at,
            cluster_start,
        }
    }

    fn shape_run(
        &mut self,
        text: &str,
        range: Range<usize>,
        rtl: bool,
        face: Option<FaceId>,
    ) -> Vec<Glyph> {
        let offset = u32::try_from(range.start).unwrap_or(u32::MAX);
        let Some(face_id) = face else {
            // No font has these characters: one missing-glyph box each.
            let face = self.library.face(REGULAR);
            let mut glyphs: Vec<Glyph> = text[range.clone()]
                .char_indices()
                .map(|(at, _)| Glyph {
                    face: REGULAR,
                    id: 0,
                    advance: face.advance(0),
                    natural: face.advance(0),
                    x_offset: 0.0,
                    y_offset: 0.0,
                    cluster: offset + u32::try_from(at).unwrap_or(0),
                })
                .collect();
            self.missing += glyphs.len();
            if rtl {
                glyphs.reverse();
            }
            return glyphs;
        };
        let face = self.library.face(face_id);
        // A fresh buffer: a reused one keeps the previous run's script, which then
        // shapes (and orders) this run wrongly.
        let mut buffer = rustybuzz::UnicodeBuffer::new();
        buffer.push_str(&text[range]);
        buffer.set_direction(if rtl {
            rustybuzz::Direction::RightToLeft
        } else {
            rustybuzz::Direction::LeftToRight
        });
        buffer.guess_segment_properties();
        let output = rustybuzz::shape(&face.shaper, &[], buffer);
        let scale = 1000.0 / face.units_per_em;
        let glyphs = output
            .glyph_infos()
            .iter()
            .zip(output.glyph_positions())
            .map(|(info, position)| {
                // Glyph ids are 16-bit in every OpenType font.
                let id = u16::try_from(info.glyph_id).unwrap_or(0);
                if id == 0 {
                    self.missing += 1;
                }
                #[allow(clippy::cast_precision_loss)]
                Glyph {
                    face: face_id,
                    id,
                    advance: position.x_advance as f32 * scale,
                    natural: face.advance(id),
                    x_offset: position.x_offset as f32 * scale,
                    y_offset: position.y_offset as f32 * scale,
                    cluster: offset + info.cluster,
                }
            })
            .collect();
        glyphs
    }
}

impl Shaped<'_> {
    fn is_rtl(&self) -> bool {
        self.bidi
            .as_ref()
            .is_some_and(|bidi| bidi.paragraph_level.is_rtl())
    }

    /// The glyphs of the bytes `range`, left to right.
    fn line(&self, range: Range<usize>) -> Line {
        let mut glyphs: Vec<Glyph> = Vec::new();
        let mut take = |run: &[Glyph], wanted: &Range<usize>| {
            glyphs.extend(
                run.iter()
                    .filter(|glyph| wanted.contains(&(glyph.cluster as usize))),
            );
        };
        match &self.bidi {
            None => {
                for (_, _, run) in &self.runs {
                    take(run, &range);
                }
            }
            Some(bidi) => {
                let (levels, visual_runs) = bidi.visual_runs(range.clone());
                for visual in visual_runs {
                    let wanted = visual.start.max(range.start)..visual.end.min(range.end);
                    let overlapping = self
                        .runs
                        .iter()
                        .filter(|(run, _, _)| run.start < wanted.end && wanted.start < run.end);
                    if levels
                        .get(visual.start)
                        .is_some_and(unicode_bidi::Level::is_rtl)
                    {
                        overlapping.rev().for_each(|(_, _, run)| take(run, &wanted));
                    } else {
                        overlapping.for_each(|(_, _, run)| take(run, &wanted));
                    }
                }
            }
        }
        let text = &self.text[range.clone()];
        let plain = self.bidi.is_none()
            && glyphs.len() == text.chars().count()
            && glyphs
                .iter()
                .zip(text.char_indices())
                .all(|(glyph, (at, _))| glyph.cluster as usize == range.start + at);
        Line {
            width: glyphs.iter().map(|glyph| glyph.advance).sum(),
            glyphs,
            text: text.to_owned(),
            start: u32::try_from(range.start).unwrap_or(0),
            plain,
            mixed_direction: self.bidi.is_some(),
            rtl: self.is_rtl(),
        }
    }
}

fn empty_line(rtl: bool) -> Line {
    Line {
        glyphs: Vec::new(),
        width: 0.0,
        text: String::new(),
        start: 0,
        plain: true,
        mixed_direction: rtl,
        rtl,
    }
}

/// Where a line may end: after a run of spaces; before and after a CJK ideograph or
/// kana (such text has no spaces between words); after `@`, `.`, `-` or `/` inside a
/// word (emails, web addresses, long numbers). The end of the text is always one.
fn break_points(shaped: &Shaped<'_>) -> Vec<usize> {
    let text = shaped.text;
    let mut breaks = Vec::new();
    let mut previous: Option<char> = None;
    for (at, c) in text.char_indices() {
        if let Some(before) = previous {
            let after_space =
                (before.is_whitespace() || WORD_BREAKS.contains(&before)) && !c.is_whitespace();
            let ideographic = (is_ideographic(before) || is_ideographic(c)) && !c.is_whitespace();
            if (after_space || ideographic) && shaped.cluster_start[at] {
                breaks.push(at);
            }
        }
        previous = Some(c);
    }
    breaks.push(text.len());
    breaks
}

/// Characters after which a word may break.
const WORD_BREAKS: [char; 4] = ['@', '.', '-', '/'];

fn is_ideographic(c: char) -> bool {
    matches!(
        c.script(),
        Script::Han | Script::Hiragana | Script::Katakana | Script::Bopomofo
    )
}

/// What line breaking needs to know of a paragraph, per byte offset.
struct Measure<'a> {
    /// The advance of the cluster starting at each byte (0 inside clusters).
    advance_at: &'a [f32],
    /// Bytes of whitespace characters: not counted at the end of a line, and
    /// dropped at its start.
    space: &'a [bool],
    /// Offsets where a cluster starts (one past the end included).
    cluster_start: &'a [bool],
    /// Offsets where a line may end, ascending, the text's end last.
    breaks: &'a [usize],
}

/// Greedy line breaking: each line takes the longest stretch up to a break point
/// that fits in `width` (trailing spaces do not count and are left out); when not
/// even the first break point fits, the line ends at the last cluster boundary that
/// fits, and holds at least one cluster. Returns byte ranges, none empty.
fn fit(measure: &Measure<'_>, width: f32) -> Vec<Range<usize>> {
    let len = measure.advance_at.len();
    let mut lines = Vec::new();
    let mut start = 0;
    loop {
        while start < len && measure.space[start] {
            start += 1;
        }
        if start >= len {
            return lines;
        }
        let mut next_break = measure.breaks.partition_point(|&at| at <= start);
        let (mut used, mut trailing) = (0.0_f32, 0.0_f32);
        let (mut break_fit, mut cluster_fit) = (None, None);
        let mut at = start;
        while at < len {
            let advance = measure.advance_at[at];
            trailing = if measure.space[at] {
                trailing + advance
            } else {
                0.0
            };
            used += advance;
            at += 1;
            if used - trailing > width {
                break;
            }
            if measure.cluster_start[at] {
                cluster_fit = Some(at);
            }
            if measure.breaks.get(next_break) == Some(&at) {
                break_fit = Some(at);
                next_break += 1;
            }
        }
        let end = break_fit
            .or(cluster_fit)
            .unwrap_or_else(|| next_cluster(measure.cluster_start, start));
        let mut trimmed = end;
        while trimmed > start && measure.space[trimmed - 1] {
            trimmed -= 1;
        }
        if trimmed > start {
            lines.push(start..trimmed);
        }
        start = end;
    }
}

fn next_cluster(cluster_start: &[bool], from: usize) -> usize {
    (from + 1..cluster_start.len())
        .find(|&at| cluster_start[at])
        .unwrap_or(cluster_start.len().saturating_sub(1))
}

fn whitespace_bytes(text: &str) -> Vec<bool> {
    let mut space = vec![false; text.len()];
    for (at, c) in text.char_indices() {
        if c.is_whitespace() {
            space[at..at + c.len_utf8()].fill(true);
        }
    }
    space
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pdf::fonts::BOLD;

    #[allow(clippy::cast_possible_truncation)]
    fn hundredths(value: f32) -> i32 {
        (value * 100.0).round() as i32
    }

    fn typesetter() -> Typesetter {
        Typesetter::new(FontLibrary::shared(None).unwrap())
    }

    #[test]
    fn ascii_from_tables_equals_shaping() {
        let mut typesetter = typesetter();
        // Leading spaces are dropped from a line, so the sample starts after the space.
        let every: String = ('!'..='~').collect();
        for face in [REGULAR, BOLD] {
            for text in [
                "AVAST Ye! To: Tom, P.O. Box 7; \"quoted\" {x} [y] |z| ~w~",
                "2026-11-01 08:00:00 1,002,249.50 QFT0000001X",
                "Pay Bill Online to 888880 - KPLC PREPAID Acc. 37192837465",
                every.as_str(),
            ] {
                if !typesetter.library.face(face).sets_ascii(text) {
                    continue;
                }
                let fast = typesetter.ascii_lines(text, face, f32::INFINITY);
                let shaped = typesetter.shape(text, face);
                let glyphs: Vec<(u16, i32)> = shaped
                    .runs
                    .iter()
                    .flat_map(|(_, _, glyphs)| glyphs)
                    .map(|glyph| (glyph.id, hundredths(glyph.advance)))
                    .collect();
                let table: Vec<(u16, i32)> = fast[0]
                    .glyphs
                    .iter()
                    .map(|glyph| (glyph.id, hundredths(glyph.advance)))
                    .collect();
                assert_eq!(table, glyphs, "{text:?} in face {face}");
            }
        }
        assert!(typesetter
            .library
            .face(REGULAR)
            .sets_ascii("Jack Sparrow 1,000.00"));
    }

    #[test]
    fn lines_wrap_at_spaces_then_inside_words_and_lose_nothing() {
        let mut typesetter = typesetter();
        let text = "Paid to Mama Mboga for vegetables and fruit";
        let lines = typesetter.lines(text, REGULAR, 10_000.0);
        assert!(lines.len() > 1, "{lines:?}");
        assert!(lines.iter().all(|line| line.width <= 10_000.0));
        let joined: Vec<&str> = lines.iter().map(|line| line.text.as_str()).collect();
        assert_eq!(joined.join(" "), text);
        let long = "X".repeat(200);
        let cut = typesetter.lines(&long, REGULAR, 3000.0);
        assert!(cut.len() > 3);
        assert_eq!(
            cut.iter()
                .map(|line| line.text.as_str())
                .collect::<String>(),
            long
        );
        let email = "wanjiru.a597363af4.someone.with.a.long.name@example.co.ke";
        let lines = typesetter.lines(email, REGULAR, 9000.0);
        assert!(lines.len() > 1);
        assert_eq!(
            lines
                .iter()
                .map(|line| line.text.as_str())
                .collect::<String>(),
            email
        );
        assert!(
            lines[0].text.ends_with('.') || lines[0].text.ends_with('@'),
            "{lines:?}"
        );
        assert_eq!(typesetter.lines("", REGULAR, 100.0).len(), 1);
    }

    #[test]
    fn right_to_left_runs_are_drawn_in_visual_order() {
        let mut typesetter = typesetter();
        for text in ["Paid to דוד כהן", "Paid to محمد عبد الله"] {
            let line = typesetter.line(text, REGULAR);
            let clusters: Vec<u32> = line.glyphs.iter().map(|glyph| glyph.cluster).collect();
            let latin = &clusters[..8];
            assert!(
                latin.windows(2).all(|pair| pair[0] < pair[1]),
                "{text}: {clusters:?}"
            );
            let hebrew_or_arabic = &clusters[8..];
            assert!(
                hebrew_or_arabic.windows(2).all(|pair| pair[0] >= pair[1]),
                "{text}: right to left, drawn last letter first: {clusters:?}"
            );
            assert!(line.mixed_direction && !line.rtl);
        }
        let line = typesetter.line("محمد", REGULAR);
        assert!(line.rtl, "an Arabic paragraph reads right to left");
    }

    #[test]
    fn characters_no_font_has_are_counted() {
        let mut typesetter = typesetter();
        typesetter.line("a\u{F0000}\u{F0001}b", REGULAR);
        assert_eq!(typesetter.missing, 2);
    }
}
