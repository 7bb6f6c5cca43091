//! What a client says about an uploaded file: its name and media type. Both are kept
//! exactly as given (sealed) and handed back; neither is ever used as a path.

use super::Invalid;

/// A file name as the client gave it: 1–255 characters, any script, no control
/// characters (they would not survive a `Content-Disposition` header intact).
/// `../../etc/passwd` or `con.txt` are fine: this is a label, not a path.
#[derive(Clone, PartialEq, Eq)]
pub struct FileName(String);

impl FileName {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        if raw.is_empty() {
            return Err("must not be empty");
        }
        if raw.chars().count() > 255 {
            return Err("must be at most 255 characters");
        }
        if raw.chars().any(char::is_control) {
            return Err("must not contain control characters");
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// The longest [`ascii_fallback`], in characters.
const FALLBACK_MAX_CHARS: usize = 100;

/// A safe ASCII stand-in for a stored file name, for the `filename` parameter of a
/// download's `Content-Disposition` (the exact name goes in `filename*`, which current
/// clients prefer). Old clients may use `filename` as a path, so it keeps only the last
/// path component of the name, only letters, digits, `-`, `_`, `.` and spaces (anything
/// else becomes `_`), no leading or trailing dots or spaces, and at most 100
/// characters; `download` when nothing is left. `../../etc/passwd` becomes `passwd`.
pub fn ascii_fallback(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let safe: String = last
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_. ".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let trimmed = safe.trim_matches(['.', ' ']);
    let short: String = trimmed.chars().take(FALLBACK_MAX_CHARS).collect();
    let short = short.trim_end_matches(['.', ' ']);
    if short.is_empty() {
        "download".to_owned()
    } else {
        short.to_owned()
    }
}

/// A media type such as `application/pdf` or `text/plain; charset=utf-8`, as the
/// client declared it; at most 255 bytes of visible ASCII so it is a valid header.
#[derive(Clone, PartialEq, Eq)]
pub struct MediaType(String);

impl MediaType {
    pub const DEFAULT: &'static str = "application/octet-stream";

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        const MESSAGE: Invalid = "must be a media type like application/pdf";
        let value = raw.trim();
        if value.len() > 255 || !value.bytes().all(|b| b == b' ' || b.is_ascii_graphic()) {
            return Err(MESSAGE);
        }
        let parsed: mime::Mime = value.parse().map_err(|_| MESSAGE)?;
        if parsed.type_() == mime::STAR || parsed.subtype() == mime::STAR {
            return Err(MESSAGE);
        }
        Ok(Self(value.to_owned()))
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_labels_kept_as_given() {
        for name in [
            "../../etc/passwd",
            "con.txt",
            "résumé 📄.pdf",
            " spaced ",
            "a\"b\\c",
        ] {
            assert_eq!(FileName::parse(name).unwrap().as_str(), name);
        }
        for (name, case) in [("", "empty"), ("a\nb", "newline"), ("a\0b", "nul")] {
            assert!(FileName::parse(name).is_err(), "{case}");
        }
        assert!(FileName::parse(&"é".repeat(255)).is_ok());
        assert!(FileName::parse(&"é".repeat(256)).is_err());
    }

    #[test]
    fn the_ascii_fallback_is_a_plain_file_name() {
        for (name, fallback) in [
            ("payslip.pdf", "payslip.pdf"),
            ("../../etc/passwd", "passwd"),
            ("..\\..\\boot.ini", "boot.ini"),
            ("dir/", "download"),
            ("..", "download"),
            (".htaccess", "htaccess"),
            ("résumé 📄.pdf", "r_sum_ _.pdf"),
            ("a\"b;c.txt", "a_b_c.txt"),
            ("report. ", "report"),
        ] {
            assert_eq!(ascii_fallback(name), fallback, "{name:?}");
        }
        let long = ascii_fallback(&format!("{}.pdf", "x".repeat(300)));
        assert_eq!(long, "x".repeat(100));
    }

    #[test]
    fn media_types_must_be_concrete() {
        for value in [
            "application/pdf",
            "text/plain; charset=utf-8",
            "image/svg+xml",
        ] {
            assert!(MediaType::parse(value).is_ok(), "{value}");
        }
        for value in [
            "",
            "pdf",
            "*/*",
            "text/*",
            "text/plain\r\nX-Evil: 1",
            "téxt/plain",
        ] {
            assert!(MediaType::parse(value).is_err(), "{value:?}");
        }
    }
}
