//! A person's first or last name.

use super::{has_control_chars, Invalid};

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_in_any_script_within_limits() {
        assert!(PersonName::parse("Zoë Ωmega 李").is_ok());
        assert!(PersonName::parse("   ").is_err());
        assert!(PersonName::parse("a\u{0}b").is_err());
        assert!(PersonName::parse(&"x".repeat(101)).is_err());
    }
}
