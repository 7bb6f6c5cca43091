//! The master key ring (KEK): versioned 256-bit keys that wrap every data key. New
//! data keys are wrapped under the active version (the highest unless the ring names
//! another); any loaded version unwraps. It never touches the database.

use uuid::Uuid;

use super::versioned::VersionedKeys;
use super::{CryptoError, DataKey, SecretKey, WrappedDataKey};

#[derive(Debug, Clone)]
pub struct MasterKeyRing {
    keys: VersionedKeys,
}

impl MasterKeyRing {
    /// A ring from `(version, key)` pairs; versions start at 1 and must be unique.
    pub fn new(keys: impl IntoIterator<Item = (u32, SecretKey)>) -> Result<Self, CryptoError> {
        VersionedKeys::new(keys).map(|keys| Self { keys })
    }

    /// Parses the key-file / environment form (see [`VersionedKeys`]).
    pub fn parse(text: &str) -> Result<Self, CryptoError> {
        VersionedKeys::parse(text).map(|keys| Self { keys })
    }

    /// The form [`parse`](Self::parse) reads.
    pub fn to_text(&self) -> zeroize::Zeroizing<String> {
        self.keys.to_text()
    }

    /// The version that wraps new data keys.
    pub fn active_version(&self) -> u32 {
        self.keys.active_version()
    }

    /// Every version that can still unwrap, ascending.
    pub fn versions(&self) -> impl Iterator<Item = u32> + '_ {
        self.keys.versions()
    }

    pub fn retired_versions(&self) -> impl Iterator<Item = u32> + '_ {
        self.keys.retired_versions()
    }

    /// Adds a new active version; returns its number.
    pub fn rotate(&mut self) -> Result<u32, CryptoError> {
        self.keys.rotate()
    }

    /// Destroys a version's key (never the active one).
    pub fn retire(&mut self, version: u32) -> Result<(), CryptoError> {
        self.keys.retire(version)
    }

    /// Wraps a user's data key under the active master key.
    pub fn wrap(&self, user_id: Uuid, data_key: &DataKey) -> Result<WrappedDataKey, CryptoError> {
        let version = self.active_version();
        WrappedDataKey::wrap(self.keys.key(version)?, version, user_id, data_key)
    }

    pub fn unwrap(&self, user_id: Uuid, wrapped: &WrappedDataKey) -> Result<DataKey, CryptoError> {
        let kek = self.keys.key(wrapped.kek_version()?)?;
        wrapped.unwrap(kek, user_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring() -> MasterKeyRing {
        MasterKeyRing::new([
            (1, SecretKey::from_bytes([1; 32])),
            (2, SecretKey::from_bytes([2; 32])),
        ])
        .unwrap()
    }

    #[test]
    fn wraps_under_the_highest_version_and_unwraps() {
        let user = Uuid::new_v4();
        let dek = DataKey::generate().unwrap();
        let wrapped = ring().wrap(user, &dek).unwrap();
        assert_eq!(wrapped.kek_version().unwrap(), 2);
        let unwrapped = ring().unwrap(user, &wrapped).unwrap();
        assert_eq!(unwrapped.secret().expose(), dek.secret().expose());
    }

    #[test]
    fn a_key_wrapped_for_another_user_does_not_unwrap() {
        let dek = DataKey::generate().unwrap();
        let wrapped = ring().wrap(Uuid::new_v4(), &dek).unwrap();
        assert_eq!(
            ring().unwrap(Uuid::new_v4(), &wrapped).unwrap_err(),
            CryptoError::Unauthentic
        );
    }

    #[test]
    fn wrong_or_missing_key_version_is_refused() {
        let user = Uuid::new_v4();
        let wrapped = ring().wrap(user, &DataKey::generate().unwrap()).unwrap();
        let only_v1 = MasterKeyRing::new([(1, SecretKey::from_bytes([1; 32]))]).unwrap();
        assert_eq!(
            only_v1.unwrap(user, &wrapped).unwrap_err(),
            CryptoError::UnknownKeyVersion(2)
        );

        // The version bytes say 1, but the key was wrapped under 2.
        let mut bytes = wrapped.as_bytes().to_vec();
        bytes[1..5].copy_from_slice(&1u32.to_be_bytes());
        let relabelled = WrappedDataKey::from_bytes(bytes);
        assert_eq!(
            ring().unwrap(user, &relabelled).unwrap_err(),
            CryptoError::Unauthentic
        );
    }

    #[test]
    fn every_bit_flip_and_truncation_is_detected() {
        let user = Uuid::new_v4();
        let wrapped = ring().wrap(user, &DataKey::generate().unwrap()).unwrap();
        let bytes = wrapped.as_bytes();
        assert_eq!(bytes.len(), 1 + 4 + 12 + 32 + 16);
        for index in 0..bytes.len() {
            let mut flipped = bytes.to_vec();
            flipped[index] ^= 0x80;
            assert!(
                ring()
                    .unwrap(user, &WrappedDataKey::from_bytes(flipped))
                    .is_err(),
                "byte {index}"
            );
        }
        for length in 0..bytes.len() {
            let truncated = WrappedDataKey::from_bytes(bytes[..length].to_vec());
            assert!(ring().unwrap(user, &truncated).is_err(), "length {length}");
        }
    }

    #[test]
    fn parses_the_key_file_form() {
        let text = ring().to_text();
        let parsed = MasterKeyRing::parse(&format!("# comment\n{}", text.as_str())).unwrap();
        assert_eq!(parsed.versions().collect::<Vec<_>>(), vec![1, 2]);
        assert!(MasterKeyRing::parse("").is_err());
        assert!(MasterKeyRing::parse("0:AAAA").is_err());
        assert!(MasterKeyRing::parse("x:AAAA").is_err());
        let duplicate = format!(
            "1:{}\n1:{}",
            SecretKey::from_bytes([1; 32]).to_base64().as_str(),
            SecretKey::from_bytes([2; 32]).to_base64().as_str()
        );
        assert!(MasterKeyRing::parse(&duplicate).is_err());
    }
}
