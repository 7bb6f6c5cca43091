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
