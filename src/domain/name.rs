//! A person's first or last name.

use super::{free_text, Invalid};

/// A first or last name: 1–100 characters, any script, no control characters.
#[derive(Clone, PartialEq, Eq)]
pub struct PersonName(String);

impl PersonName {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        free_text(raw, 100, "must be at most 100 characters").map(Self)
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
