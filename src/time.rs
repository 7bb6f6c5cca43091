//! Timestamps: stored as UTC `NaiveDateTime` (a portable column type), shown as RFC 3339.

use chrono::{NaiveDateTime, SecondsFormat, Timelike as _, Utc};

/// Now, truncated to microseconds: what both databases store, so a value read back
/// equals the value written.
pub fn now() -> NaiveDateTime {
    truncate_to_micros(Utc::now().naive_utc())
}

pub fn rfc3339(at: NaiveDateTime) -> String {
    at.and_utc().to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// A timestamp truncated to microseconds, the precision both databases keep.
pub fn truncate_to_micros(at: NaiveDateTime) -> NaiveDateTime {
    at.with_nanosecond(at.and_utc().timestamp_subsec_micros() * 1000)
        .unwrap_or(at)
}

/// Serde's `serialize_with` for a stored time: the RFC 3339 form above.
pub fn serialize_rfc3339<S: serde::Serializer>(
    at: &NaiveDateTime,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&rfc3339(*at))
}
