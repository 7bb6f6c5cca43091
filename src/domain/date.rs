//! Calendar dates as the API writes them: `YYYY-MM-DD`, exactly ten ASCII characters.
//! chrono's `%Y` alone also reads a sign and more or fewer digits (`-001-01-01`,
//! `+10000-01-01`, `2026-1-1`); here the shape is checked byte by byte first, so a date
//! has one spelling and its year is always 0000–9999.

use chrono::NaiveDate;

/// A `YYYY-MM-DD` date that exists in the calendar; `None` for anything else.
pub fn parse_iso_date(raw: &str) -> Option<NaiveDate> {
    let bytes = raw.as_bytes();
    let shaped = bytes.len() == 10
        && bytes.iter().enumerate().all(|(index, byte)| match index {
            4 | 7 => *byte == b'-',
            _ => byte.is_ascii_digit(),
        });
    if !shaped {
        return None;
    }
    let number = |range: std::ops::Range<usize>| raw.get(range)?.parse::<u32>().ok();
    let year = i32::try_from(number(0..4)?).ok()?;
    NaiveDate::from_ymd_opt(year, number(5..7)?, number(8..10)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_ten_character_form_of_a_real_day() {
        assert_eq!(
            parse_iso_date("2026-02-28"),
            NaiveDate::from_ymd_opt(2026, 2, 28)
        );
        assert_eq!(
            parse_iso_date("0000-01-01"),
            NaiveDate::from_ymd_opt(0, 1, 1)
        );
        for bad in [
            "-001-01-01",
            "+001-01-01",
            "+10000-01-01",
            "2026-1-1",
            "2026-02-30",
            "2026-13-01",
            "2026-00-10",
            "26-11-01",
            " 2026-11-01",
            "2026-11-01 ",
            "2026/11/01",
            "2026-11-01T00:00",
            "２０２６-11-01",
            "",
        ] {
            assert_eq!(parse_iso_date(bad), None, "{bad:?}");
        }
    }
}
