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
//!
//! A version may keep fewer bits of some columns (CipherSweet's truncated indexes):
//! `bits: <version> <column>=<n> …` in the ring's text keeps the first `n` bits of
//! those columns' indexes (the first `ceil(n / 8)` bytes, the bits past `n` zeroed).
//! Chosen from the expected population, a truncated value is shared by several
//! people, so a value alone (or a guessed value's index, with the key) no longer
//! names one person; a look-up then finds candidates that the caller filters by
//! opening them. Every instance reads the widths from the same key file as the keys,
//! so all agree.

use std::collections::BTreeMap;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::versioned::VersionedKeys;
use super::{CryptoError, SecretKey};

#[derive(Debug, Clone)]
pub struct BlindIndexKey(SecretKey);

/// The stored index value: 32 bytes, or fewer for a truncated index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlindIndex(pub Vec<u8>);

impl BlindIndex {
    /// The first `bits` bits: `ceil(bits / 8)` bytes, the bits past `bits` zeroed.
    fn truncated(mut self, bits: u16) -> Self {
        let bits = usize::from(bits);
        if bits < self.0.len() * 8 {
            self.0.truncate(bits.div_ceil(8));
            let spare = self.0.len() * 8 - bits;
            if let Some(last) = self.0.last_mut() {
                *last &= 0xff << spare;
            }
        }
        self
    }
}

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
        BlindIndex(mac.finalize().into_bytes().to_vec())
    }
}

/// The fewest bits a truncated index keeps: below this a look-up opens a sixteenth of
/// all users.
pub const MIN_INDEX_BITS: u16 = 4;
/// A full index: HMAC-SHA256's 256 bits.
pub const FULL_INDEX_BITS: u16 = 256;

/// The bits a truncated index keeps for an expected population: about four people
/// share each value (`floor(log2(population)) - 2`), at least [`MIN_INDEX_BITS`].
#[must_use]
pub fn bits_for_population(population: u64) -> u16 {
    let log2 = u16::try_from(population.max(1).ilog2()).unwrap_or(FULL_INDEX_BITS);
    log2.saturating_sub(2)
        .clamp(MIN_INDEX_BITS, FULL_INDEX_BITS)
}

/// Every live blind-index key by version, and the columns each version truncates;
/// new rows are indexed under the active one.
#[derive(Debug, Clone)]
pub struct BlindIndexKeyRing {
    keys: VersionedKeys,
    /// Per version, the columns it keeps fewer than 256 bits of.
    truncated: BTreeMap<u32, BTreeMap<String, u16>>,
}

impl BlindIndexKeyRing {
    pub fn new(keys: VersionedKeys) -> Self {
        Self {
            keys,
            truncated: BTreeMap::new(),
        }
    }

    /// Parses the key-file / environment form (a bare key is version 1): the
    /// [`VersionedKeys`] form and `bits:` lines (module docs).
    pub fn parse(text: &str) -> Result<Self, CryptoError> {
        let mut truncated: BTreeMap<u32, BTreeMap<String, u16>> = BTreeMap::new();
        let mut keys = zeroize::Zeroizing::new(String::with_capacity(text.len()));
        for line in text.split(['\n', ',']).map(str::trim) {
            let Some(widths) = line.strip_prefix("bits:") else {
                keys.push_str(line);
                keys.push('\n');
                continue;
            };
            let mut words = widths.split_whitespace();
            let version = words
                .next()
                .and_then(|version| version.parse::<u32>().ok())
                .ok_or(CryptoError::InvalidKey(
                    "a bits line starts with its version",
                ))?;
            for word in words {
                let (column, bits) = word
                    .split_once('=')
                    .and_then(|(column, bits)| Some((column, bits.parse::<u16>().ok()?)))
                    .filter(|(_, bits)| (MIN_INDEX_BITS..FULL_INDEX_BITS).contains(bits))
                    .ok_or(CryptoError::InvalidKey(
                        "a bits line names column=bits, from 4 to 255 bits",
                    ))?;
                truncated
                    .entry(version)
                    .or_default()
                    .insert(column.to_owned(), bits);
            }
        }
        let keys = VersionedKeys::parse(&keys)?;
        if truncated.keys().any(|version| keys.key(*version).is_err()) {
            return Err(CryptoError::InvalidKey(
                "a bits line names a version with no key",
            ));
        }
        Ok(Self { keys, truncated })
    }

    /// The form [`parse`](Self::parse) reads.
    pub fn to_text(&self) -> zeroize::Zeroizing<String> {
        let mut text = self.keys.to_text();
        for (version, columns) in &self.truncated {
            text.push_str("bits: ");
            text.push_str(&version.to_string());
            for (column, bits) in columns {
                text.push(' ');
                text.push_str(column);
                text.push('=');
                text.push_str(&bits.to_string());
            }
            text.push('\n');
        }
        text
    }

    pub fn versioned(&self) -> &VersionedKeys {
        &self.keys
    }

    /// Adds a fresh key under the next unused version, active, keeping `truncated`
    /// (column, bits) of its indexes. Returns the version.
    pub fn rotate(&mut self, truncated: &[(&str, u16)]) -> Result<u32, CryptoError> {
        let version = self.keys.rotate()?;
        if !truncated.is_empty() {
            self.truncated.insert(
                version,
                truncated
                    .iter()
                    .map(|(column, bits)| ((*column).to_owned(), *bits))
                    .collect(),
            );
        }
        Ok(version)
    }

    /// Destroys the key of `version` (never the active one) and its widths.
    pub fn retire(&mut self, version: u32) -> Result<(), CryptoError> {
        self.keys.retire(version)?;
        self.truncated.remove(&version);
        Ok(())
    }

    /// How many bits of `column` version `version` keeps.
    pub fn bits(&self, version: u32, column: &str) -> u16 {
        self.truncated
            .get(&version)
            .and_then(|columns| columns.get(column))
            .copied()
            .unwrap_or(FULL_INDEX_BITS)
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
        Ok(key
            .index(column, normalized)
            .truncated(self.bits(version, column)))
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

    #[test]
    fn a_version_may_truncate_columns_and_the_text_keeps_it() {
        let key = SecretKey::from_bytes([3; 32]).to_base64().to_string();
        let ring = BlindIndexKeyRing::parse(&format!("1:{key}\nbits: 1 phone=12")).unwrap();
        let full =
            BlindIndexKey::new(SecretKey::from_bytes([3; 32])).index("phone", "+254700000001");
        let short = ring.index("phone", "+254700000001");
        assert_eq!(short.0.len(), 2);
        assert_eq!(short.0[0], full.0[0]);
        assert_eq!(short.0[1], full.0[1] & 0xf0);
        assert_eq!(
            ring.index("email", "a@b.co").0.len(),
            32,
            "email is never cut"
        );
        let again = BlindIndexKeyRing::parse(&ring.to_text()).unwrap();
        assert_eq!(again.bits(1, "phone"), 12);

        let mut rotated = again.clone();
        let version = rotated.rotate(&[("national_id", 18)]).unwrap();
        assert_eq!(
            (
                version,
                rotated.bits(2, "national_id"),
                rotated.bits(2, "phone")
            ),
            (2, 18, 256)
        );
        rotated.retire(1).unwrap();
        assert!(!rotated.to_text().contains("bits: 1"));
        for bad in [
            format!("1:{key}\nbits: 2 phone=12"),
            format!("1:{key}\nbits: 1 phone=3"),
            format!("1:{key}\nbits: phone=12"),
        ] {
            assert!(BlindIndexKeyRing::parse(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bits_follow_the_population() {
        assert_eq!(bits_for_population(16), 4);
        assert_eq!(bits_for_population(1_000_000), 17);
        assert_eq!(bits_for_population(0), 4);
    }
}
