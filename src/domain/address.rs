//! A postal address.

use super::{has_control_chars, Invalid};

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
    fn addresses() {
        assert!(Address::parse("Kenyatta Ave 1, Nairobi").is_ok());
        assert!(Address::parse(&"x".repeat(201)).is_err());
    }
}
