//! Byte ranges of a file (RFC 9110 §14): which part of a file a `Range` header asks
//! for, read against the file's size. Pure arithmetic; serving the range is the
//! vault's.

/// A well-formed range that starts past the end of the file (416).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unsatisfiable;

/// The part of a file a request asks for (RFC 9110 §14): one byte range, or all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeRequest {
    Full,
    /// Inclusive byte positions, already clamped to the file.
    Part {
        start: u64,
        end: u64,
    },
}

impl RangeRequest {
    /// Reads a `Range` header against a file of `size` bytes. Anything this server does
    /// not serve as a range (other units, several ranges, malformed syntax) is ignored,
    /// as RFC 9110 allows, and the whole file is sent; a well-formed range that starts
    /// past the end is `RangeNotSatisfiable` (416).
    pub fn parse(header: Option<&str>, size: u64) -> Result<Self, Unsatisfiable> {
        let Some(spec) = header.and_then(|value| value.trim().strip_prefix("bytes=")) else {
            return Ok(Self::Full);
        };
        let Some((first, last)) = spec.trim().split_once('-') else {
            return Ok(Self::Full);
        };
        if spec.contains(',') {
            return Ok(Self::Full);
        }
        let number = |text: &str| -> Option<u64> {
            (!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
                .then(|| text.parse().ok())
                .flatten()
        };
        let unsatisfiable = Err(Unsatisfiable);
        match (number(first.trim()), last.trim()) {
            // bytes=-N: the last N bytes.
            (None, suffix) if first.trim().is_empty() => match number(suffix) {
                Some(0) => unsatisfiable,
                Some(_) if size == 0 => unsatisfiable,
                Some(length) => Ok(Self::Part {
                    start: size.saturating_sub(length),
                    end: size - 1,
                }),
                None => Ok(Self::Full),
            },
            (Some(start), _) if start >= size => {
                // Malformed ends are ignored before judging satisfiability.
                if last.trim().is_empty() || number(last.trim()).is_some_and(|end| end >= start) {
                    unsatisfiable
                } else {
                    Ok(Self::Full)
                }
            }
            (Some(start), "") => Ok(Self::Part {
                start,
                end: size - 1,
            }),
            (Some(start), end) => match number(end) {
                Some(end) if end >= start => Ok(Self::Part {
                    start,
                    end: end.min(size - 1),
                }),
                _ => Ok(Self::Full),
            },
            (None, _) => Ok(Self::Full),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(header: &str, size: u64) -> Result<RangeRequest, u64> {
        RangeRequest::parse(Some(header), size).map_err(|Unsatisfiable| size)
    }

    #[test]
    fn ranges() {
        use RangeRequest::{Full, Part};
        let cases = [
            ("bytes=0-0", 10, Ok(Part { start: 0, end: 0 })),
            ("bytes=2-5", 10, Ok(Part { start: 2, end: 5 })),
            ("bytes=2-", 10, Ok(Part { start: 2, end: 9 })),
            ("bytes=5-100", 10, Ok(Part { start: 5, end: 9 })),
            ("bytes=-3", 10, Ok(Part { start: 7, end: 9 })),
            ("bytes=-30", 10, Ok(Part { start: 0, end: 9 })),
            ("bytes=10-", 10, Err(10)),
            ("bytes=10-12", 10, Err(10)),
            ("bytes=-0", 10, Err(10)),
            ("bytes=0-", 0, Err(0)),
            ("bytes=-1", 0, Err(0)),
            ("bytes=5-2", 10, Ok(Full)),
            ("bytes=0-1,4-5", 10, Ok(Full)),
            ("items=0-1", 10, Ok(Full)),
            ("bytes=a-b", 10, Ok(Full)),
            ("bytes=+1-2", 10, Ok(Full)),
            ("bytes=", 10, Ok(Full)),
        ];
        for (header, size, expected) in cases {
            assert_eq!(parse(header, size), expected, "{header} of {size}");
        }
        assert_eq!(RangeRequest::parse(None, 10).unwrap(), Full);
    }
}
