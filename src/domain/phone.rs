//! A phone number (E.164).

use super::Invalid;

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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn errors_never_repeat_the_input() {
        assert!(!Phone::parse("secret-value-123@@")
            .err()
            .unwrap()
            .contains("secret"));
    }
}
