//! Blind indexes: a keyed hash of a normalized value, so that exact look-ups (and a
//! unique constraint on email) work without storing the value.
//!
//! ```text
//! BlindIndex = HMAC-SHA256(index key, column ‖ ":" ‖ normalized value)   (32 bytes)
//! ```
//! The index key is separate from the master key: leaking one does not weaken the other.
//! Index keys are versioned like the master key so they can be rotated: a row records
//! the version its indexes were computed under, and a look-up during a rotation asks
//! for the value under every live version.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::versioned::VersionedKeys;
use super::{CryptoError, SecretKey};

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

/// Every live blind-index key by version; new rows are indexed under the active one.
#[derive(Debug, Clone)]
pub struct BlindIndexKeyRing {
    keys: VersionedKeys,
}

impl BlindIndexKeyRing {
    pub fn new(keys: VersionedKeys) -> Self {
        Self { keys }
    }

    /// Parses the key-file / environment form (a bare key is version 1).
    pub fn parse(text: &str) -> Result<Self, CryptoError> {
        VersionedKeys::parse(text).map(Self::new)
    }

    pub fn versioned(&self) -> &VersionedKeys {
        &self.keys
    }

    pub fn into_versioned(self) -> VersionedKeys {
        self.keys
    }

    pub fn active_version(&self) -> u32 {
        self.keys.active_version()
    }

    /// The index under one version.
    pub fn index_with(
        &self,
        version: u32,
        column: &str,
        normalized: &str,
    ) -> Result<BlindIndex, CryptoError> {
        let key = BlindIndexKey::new(self.keys.key(version)?.clone());
        Ok(key.index(column, normalized))
    }

    /// The index under the active version, as new rows store it.
    pub fn index(&self, column: &str, normalized: &str) -> BlindIndex {
        self.index_with(self.active_version(), column, normalized)
            .unwrap_or_else(|_| unreachable!("the active version always has a key"))
    }

    /// The index under every live version: what a look-up must search for while a
    /// rotation is under way.
    pub fn index_all(&self, column: &str, normalized: &str) -> Vec<(u32, BlindIndex)> {
        self.keys
            .versions()
            .filter_map(|version| {
                self.index_with(version, column, normalized)
                    .ok()
                    .map(|index| (version, index))
            })
            .collect()
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

    #[test]
    fn ring_indexes_under_active_and_every_live_version() {
        let mut keys = VersionedKeys::new([(1, SecretKey::from_bytes([3; 32]))]).unwrap();
        keys.rotate().unwrap();
        let ring = BlindIndexKeyRing::new(keys);
        let v1 = BlindIndexKey::new(SecretKey::from_bytes([3; 32])).index("email", "a@b.co");
        let all = ring.index_all("email", "a@b.co");
        assert_eq!(all.len(), 2);
        assert_eq!(all[0], (1, v1.clone()));
        assert_eq!(all[1].0, 2);
        assert_eq!(ring.index("email", "a@b.co"), all[1].1);
        assert_ne!(all[1].1, v1);
    }
}
