//! A date of birth.

use chrono::{Datelike, NaiveDate, Utc};

use super::{parse_iso_date, Invalid};

/// A date of birth: `YYYY-MM-DD`, not in the future, not before 1900.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct DateOfBirth(NaiveDate);

impl DateOfBirth {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let date = parse_iso_date(raw.trim()).ok_or("must be a date in the form YYYY-MM-DD")?;
        if date > Utc::now().date_naive() {
            return Err("must not be in the future");
        }
        if date.year() < 1900 {
            return Err("must not be before 1900");
        }
        Ok(Self(date))
    }

    pub fn date(self) -> NaiveDate {
        self.0
    }

    pub fn to_iso(self) -> String {
        self.0.format("%Y-%m-%d").to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_of_birth() {
        assert!(DateOfBirth::parse("1990-04-01").is_ok());
        for bad in [
            "1990-13-01",
            "01/04/1990",
            "1899-12-31",
            "2999-01-01",
            "1990-4-1",
        ] {
            assert!(
                DateOfBirth::parse(bad).is_err(),
                "{bad:?} should be refused"
            );
        }
        assert!(!DateOfBirth::parse("secret-value-123@@")
            .err()
            .unwrap()
            .contains("secret"));
    }
}
