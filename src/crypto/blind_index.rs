//! Blind indexes: a keyed hash of a normalized value, so that exact look-ups (and a
//! unique constraint on email) work without storing the value.
//!
//! ```text
//! BlindIndex = HMAC-SHA256(index key, column ‖ ":" ‖ normalized value)   (32 bytes)
//! ```
//! The index key is separate from the master key: leaking one does not weaken the other.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::SecretKey;

#[derive(Debug, Clone)]
pub struct BlindIndexKey(SecretKey);

/// The stored 32-byte index value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlindIndex(pub [u8; 32]);

impl BlindIndexKey {
    pub fn new(secret: SecretKey) -> Self {
        Self(secret)
    }

    /// `normalized` must already be in the column's canonical form (the domain types
    /// provide it), so that equal values always index equally.
    pub fn index(&self, column: &str, normalized: &str) -> BlindIndex {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.0.expose())
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
        mac.update(column.as_bytes());
        mac.update(b":");
        mac.update(normalized.as_bytes());
        BlindIndex(mac.finalize().into_bytes().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_value_same_index_other_column_other_index() {
        let key = BlindIndexKey::new(SecretKey::from_bytes([3; 32]));
        assert_eq!(key.index("email", "a@b.co"), key.index("email", "a@b.co"));
        assert_ne!(key.index("email", "a@b.co"), key.index("phone", "a@b.co"));
        let other = BlindIndexKey::new(SecretKey::from_bytes([4; 32]));
        assert_ne!(key.index("email", "a@b.co"), other.index("email", "a@b.co"));
    }
}
