//! A statement or listing period: two `YYYY-MM-DD` dates, both included, in UTC.
//! Without dates it is the last 30 days up to today, so `GET /users/{id}/statement`
//! with no query keeps answering.

use chrono::{Days, NaiveDate, NaiveDateTime, NaiveTime};

use super::{parse_iso_date, transaction, FieldErrors};

/// How far back the default period reaches (today included).
const DEFAULT_DAYS: u64 = 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl Period {
    /// Parses the optional `from` and `to`; problems are reported per field.
    pub fn parse(
        from: Option<&str>,
        to: Option<&str>,
        today: NaiveDate,
    ) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::new();
        let mut date = |name: &str, raw: Option<&str>| {
            let raw = raw?;
            let parsed = parse_iso_date(raw);
            if parsed.is_none() {
                errors.insert(
                    name.to_owned(),
                    "must be a date in the form YYYY-MM-DD".to_owned(),
                );
            }
            parsed
        };
        let from_date = date("from", from);
        let to_date = date("to", to);
        if !errors.is_empty() {
            return Err(errors);
        }
        let to = to_date.unwrap_or(today);
        let from = from_date.unwrap_or_else(|| {
            to.checked_sub_days(Days::new(DEFAULT_DAYS - 1))
                .unwrap_or(to)
        });
        if from > to {
            errors.insert("from".to_owned(), "must not be after `to`".to_owned());
            return Err(errors);
        }
        Ok(Self { from, to })
    }

    /// The first instant inside the period, as a query bound: never before the first
    /// year a transaction can have.
    pub fn start(self) -> NaiveDateTime {
        self.from.max(first_day()).and_time(NaiveTime::MIN)
    }

    /// The first instant after the period, as a query bound: never after the last year
    /// a transaction can have. (A period ending 9999-12-31 would otherwise end in the
    /// year 10000, which SQLite's text timestamps sort before every other year.)
    pub fn end_exclusive(self) -> NaiveDateTime {
        self.to
            .min(last_day())
            .checked_add_days(Days::new(1))
            .unwrap_or(self.to)
            .and_time(NaiveTime::MIN)
    }
}

fn first_day() -> NaiveDate {
    NaiveDate::from_ymd_opt(*transaction::YEARS.start(), 1, 1).unwrap_or(NaiveDate::MIN)
}

fn last_day() -> NaiveDate {
    NaiveDate::from_ymd_opt(*transaction::YEARS.end(), 12, 31).unwrap_or(NaiveDate::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn dates_are_inclusive_and_default_to_the_last_30_days() {
        let today = day("2026-11-25");
        let period = Period::parse(Some("2026-11-01"), Some("2026-11-30"), today).unwrap();
        assert_eq!(period.start().to_string(), "2026-11-01 00:00:00");
        assert_eq!(period.end_exclusive().to_string(), "2026-12-01 00:00:00");
        let default = Period::parse(None, None, today).unwrap();
        assert_eq!((default.from, default.to), (day("2026-10-27"), today));
        let one_day = Period::parse(Some("2026-11-25"), Some("2026-11-25"), today).unwrap();
        assert_eq!(one_day.from, one_day.to);
    }

    #[test]
    fn query_bounds_stay_within_the_years_transactions_can_have() {
        let today = day("2026-11-25");
        let everything = Period::parse(Some("0000-01-01"), Some("9999-12-31"), today).unwrap();
        assert_eq!(everything.to, day("9999-12-31"), "shown as asked");
        assert_eq!(everything.start().to_string(), "1970-01-01 00:00:00");
        assert_eq!(
            everything.end_exclusive().to_string(),
            "3000-01-01 00:00:00"
        );
    }

    #[test]
    fn bad_periods_are_refused_per_field() {
        let today = day("2026-11-25");
        let errors = Period::parse(Some("2026-11-30"), Some("2026-11-01"), today).unwrap_err();
        assert!(errors["from"].contains("after"));
        for bad in [
            "2026-02-30",
            "26-11-01",
            "2026-1-1",
            "yesterday",
            "2026-11-01T00:00",
            "-001-01-01",
            "+10000-01-01",
        ] {
            let errors = Period::parse(Some(bad), None, today).unwrap_err();
            assert!(errors.contains_key("from"), "{bad}");
        }
        assert!(Period::parse(None, Some("x"), today)
            .unwrap_err()
            .contains_key("to"));
    }
}
