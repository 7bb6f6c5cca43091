//! A national identity number (also what opens a statement).

use super::Invalid;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn national_ids() {
        assert_eq!(NationalId::parse("ab1234").unwrap().normalized(), "AB1234");
        for bad in ["123", "12 345", "12345678901234567890X", "12-34"] {
            assert!(NationalId::parse(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(!NationalId::parse("secret-value-123@@")
            .err()
            .unwrap()
            .contains("secret"));
    }
}
