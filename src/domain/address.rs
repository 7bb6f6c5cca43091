//! A postal address.

use super::{free_text, Invalid};

/// A postal address: 1–200 characters, no control characters.
#[derive(Clone, PartialEq, Eq)]
pub struct Address(String);

impl Address {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        free_text(raw, 200, "must be at most 200 characters").map(Self)
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
