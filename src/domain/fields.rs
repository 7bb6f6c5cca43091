//! One newtype per personal field. Each has a private value, a `parse` that is the only
//! constructor from wire data, and (where it is looked up) a `normalized` form that
//! feeds the blind index.

use chrono::{Datelike, NaiveDate, Utc};

/// A validation failure: a sentence for the client, never containing the input.
pub type Invalid = &'static str;

pub(super) fn has_control_chars(value: &str) -> bool {
    value.chars().any(char::is_control)
}

/// A first or last name: 1–100 characters, any script, no control characters.
#[derive(Clone, PartialEq, Eq)]
pub struct PersonName(String);

impl PersonName {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let value = raw.trim();
        if value.is_empty() {
            return Err("must not be empty");
        }
        if value.chars().count() > 100 {
            return Err("must be at most 100 characters");
        }
        if has_control_chars(value) {
            return Err("must not contain control characters");
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An email address: a pragmatic subset of RFC 5321 (what real mail systems accept).
/// Stored as given; looked up case-insensitively.
#[derive(Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        const MESSAGE: Invalid = "must be an email address like name@example.com";
        let value = raw.trim();
        if value.len() > 254 {
            return Err("must be at most 254 characters");
        }
        let (local, domain) = value.rsplit_once('@').ok_or(MESSAGE)?;
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        if local_ok && domain_ok {
            Ok(Self(value.to_owned()))
        } else {
            Err(MESSAGE)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Canonical form for the blind index.
    pub fn normalized(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

/// A phone number in E.164 form: `+`, country code, subscriber number; 8–15 digits.
#[derive(Clone, PartialEq, Eq)]
pub struct Phone(String);

impl Phone {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let value = raw.trim();
        let digits = value
            .strip_prefix('+')
            .ok_or("must be in E.164 format, e.g. +254712345678")?;
        let valid = (8..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0');
        if valid {
            Ok(Self(value.to_owned()))
        } else {
            Err("must be in E.164 format, e.g. +254712345678")
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn normalized(&self) -> String {
        self.0.clone()
    }
}

/// A national identity number: 4–20 ASCII letters and digits. It doubles as the
/// statement password, so it is kept to characters every PDF reader can type.
#[derive(Clone, PartialEq, Eq)]
pub struct NationalId(String);

impl NationalId {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let value = raw.trim();
        let valid =
            (4..=20).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_alphanumeric());
        if valid {
            Ok(Self(value.to_owned()))
        } else {
            Err("must be 4 to 20 letters and digits")
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn normalized(&self) -> String {
        self.0.to_ascii_uppercase()
    }
}

/// A date of birth: `YYYY-MM-DD`, not in the future, not before 1900.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct DateOfBirth(NaiveDate);

impl DateOfBirth {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let date = NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d")
            .map_err(|_| "must be a date in the form YYYY-MM-DD")?;
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

/// A postal address: 1–200 characters, no control characters.
#[derive(Clone, PartialEq, Eq)]
pub struct Address(String);

impl Address {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let value = raw.trim();
        if value.is_empty() {
            return Err("must not be empty");
        }
        if value.chars().count() > 200 {
            return Err("must be at most 200 characters");
        }
        if has_control_chars(value) {
            return Err("must not contain control characters");
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        for good in ["jack.sparrow@piratebay.com", "a+b@x.co", "  X@Y.ORG "] {
            assert!(Email::parse(good).is_ok(), "{good} should parse");
        }
        for bad in [
            "",
            "jack",
            "@x.com",
            "a@",
            "a@b",
            "a@@b.com",
            "a b@c.com",
            "a@-b.com",
            ".a@b.com",
            "a..b@c.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be refused");
        }
        assert_eq!(
            Email::parse("Jack@PirateBay.com").unwrap().normalized(),
            "jack@piratebay.com"
        );
    }

    #[test]
    fn phones() {
        assert!(Phone::parse("+254712345678").is_ok());
        for bad in [
            "254712345678",
            "+0712345678",
            "+2547",
            "+25471234567890123",
            "+2547123x5678",
            "",
        ] {
            assert!(Phone::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn national_ids_dates_names_addresses() {
        assert_eq!(NationalId::parse("ab1234").unwrap().normalized(), "AB1234");
        for bad in ["123", "12 345", "12345678901234567890X", "12-34"] {
            assert!(NationalId::parse(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(DateOfBirth::parse("1990-04-01").is_ok());
        for bad in ["1990-13-01", "01/04/1990", "1899-12-31", "2999-01-01"] {
            assert!(
                DateOfBirth::parse(bad).is_err(),
                "{bad:?} should be refused"
            );
        }
        assert!(PersonName::parse("Zoë Ωmega 李").is_ok());
        assert!(PersonName::parse("   ").is_err());
        assert!(PersonName::parse("a\u{0}b").is_err());
        assert!(PersonName::parse(&"x".repeat(101)).is_err());
        assert!(Address::parse("Kenyatta Ave 1, Nairobi").is_ok());
        assert!(Address::parse(&"x".repeat(201)).is_err());
    }

    #[test]
    fn errors_never_repeat_the_input() {
        let secret = "secret-value-123@@";
        for message in [
            Email::parse(secret).err(),
            Phone::parse(secret).err(),
            NationalId::parse(secret).err(),
            DateOfBirth::parse(secret).err(),
        ] {
            assert!(!message.unwrap().contains("secret"));
        }
    }
}
