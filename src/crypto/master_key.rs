//! The master key ring (KEK): numbered versions that wrap every data key. New data
//! keys are wrapped under the active version; any loaded version unwraps. A version
//! is a [`KeyEncryptionKey`]: its bytes may be in this process (the key file) or in a
//! token that never lets them out, and one ring may hold both while data keys move
//! from one to the other. It never touches the database.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use uuid::Uuid;

use super::{
    CryptoError, Custody, DataKey, KeyEncryptionKey, SecretKey, VersionedKeys, WrappedDataKey,
};

#[derive(Clone)]
pub struct MasterKeyRing {
    keys: BTreeMap<u32, Arc<dyn KeyEncryptionKey>>,
    active: u32,
    retired: BTreeSet<u32>,
}

impl std::fmt::Debug for MasterKeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let versions: Vec<(u32, Custody)> = self
            .keys
            .iter()
            .map(|(version, key)| (*version, key.custody()))
            .collect();
        f.debug_struct("MasterKeyRing")
            .field("versions", &versions)
            .field("active", &self.active)
            .field("retired", &self.retired)
            .finish()
    }
}

impl MasterKeyRing {
    /// A ring of `(version, key)` pairs: versions start at 1 and appear once; `active`
    /// must be one of them (the highest when `None`); `retired` numbers have no key.
    pub fn new(
        keys: impl IntoIterator<Item = (u32, Arc<dyn KeyEncryptionKey>)>,
        active: Option<u32>,
        retired: impl IntoIterator<Item = u32>,
    ) -> Result<Self, CryptoError> {
        let mut map = BTreeMap::new();
        for (version, key) in keys {
            if version == 0 {
                return Err(CryptoError::InvalidKey("key versions start at 1"));
            }
            if map.insert(version, key).is_some() {
                return Err(CryptoError::InvalidKey("a key version appears twice"));
            }
        }
        let retired: BTreeSet<u32> = retired.into_iter().collect();
        let highest = map
            .keys()
            .next_back()
            .copied()
            .ok_or(CryptoError::InvalidKey("the key ring is empty"))?;
        let active = active.unwrap_or(highest);
        if !map.contains_key(&active) {
            return Err(CryptoError::InvalidKey(
                "the active version has no key in the ring",
            ));
        }
        if map.keys().any(|version| retired.contains(version)) {
            return Err(CryptoError::InvalidKey(
                "a retired version still has a key in the ring",
            ));
        }
        Ok(Self {
            keys: map,
            active,
            retired,
        })
    }

    /// The ring of a key file or environment variable: every key in this process.
    pub fn in_memory(keys: &VersionedKeys) -> Self {
        Self {
            keys: keys
                .versions()
                .filter_map(|version| {
                    let key: Arc<dyn KeyEncryptionKey> = Arc::new(keys.key(version).ok()?.clone());
                    Some((version, key))
                })
                .collect(),
            active: keys.active_version(),
            retired: keys.retired_versions().collect(),
        }
    }

    /// A ring of in-memory keys, the highest active (tests and benchmarks).
    pub fn of_secret_keys(
        keys: impl IntoIterator<Item = (u32, SecretKey)>,
    ) -> Result<Self, CryptoError> {
        Self::new(
            keys.into_iter()
                .map(|(version, key)| (version, Arc::new(key) as Arc<dyn KeyEncryptionKey>)),
            None,
            [],
        )
    }

    /// The version that wraps new data keys.
    pub fn active_version(&self) -> u32 {
        self.active
    }

    /// Every version that can still unwrap, ascending.
    pub fn versions(&self) -> impl Iterator<Item = u32> + '_ {
        self.keys.keys().copied()
    }

    pub fn retired_versions(&self) -> impl Iterator<Item = u32> + '_ {
        self.retired.iter().copied()
    }

    /// Where version `version` is held, if it is loaded.
    pub fn custody(&self, version: u32) -> Option<Custody> {
        self.keys.get(&version).map(|key| key.custody())
    }

    /// Wraps a user's data key under the active master key.
    pub fn wrap(&self, user_id: Uuid, data_key: &DataKey) -> Result<WrappedDataKey, CryptoError> {
        self.wrap_under(self.active, user_id, data_key)
    }

    /// Wraps a user's data key under `version` (a migration's target, which need not
    /// be active yet).
    pub fn wrap_under(
        &self,
        version: u32,
        user_id: Uuid,
        data_key: &DataKey,
    ) -> Result<WrappedDataKey, CryptoError> {
        WrappedDataKey::wrap(self.key(version)?.as_ref(), version, user_id, data_key)
    }

    pub fn unwrap(&self, user_id: Uuid, wrapped: &WrappedDataKey) -> Result<DataKey, CryptoError> {
        let kek = self.key(wrapped.kek_version()?)?;
        wrapped.unwrap(kek.as_ref(), user_id)
    }

    fn key(&self, version: u32) -> Result<&Arc<dyn KeyEncryptionKey>, CryptoError> {
        self.keys
            .get(&version)
            .ok_or(CryptoError::UnknownKeyVersion(version))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring() -> MasterKeyRing {
        MasterKeyRing::of_secret_keys([
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
        let only_v1 = MasterKeyRing::of_secret_keys([(1, SecretKey::from_bytes([1; 32]))]).unwrap();
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
    fn wraps_under_a_chosen_version_and_refuses_bad_rings() {
        let user = Uuid::new_v4();
        let dek = DataKey::generate().unwrap();
        let wrapped = ring().wrap_under(1, user, &dek).unwrap();
        assert_eq!(wrapped.kek_version().unwrap(), 1);
        ring().unwrap(user, &wrapped).unwrap();
        assert_eq!(
            ring().wrap_under(3, user, &dek).unwrap_err(),
            CryptoError::UnknownKeyVersion(3)
        );
        let key = |byte| Arc::new(SecretKey::from_bytes([byte; 32])) as Arc<dyn KeyEncryptionKey>;
        assert!(MasterKeyRing::new([], None, []).is_err(), "empty");
        assert!(
            MasterKeyRing::new([(0, key(1))], None, []).is_err(),
            "version 0"
        );
        assert!(MasterKeyRing::new([(1, key(1)), (1, key(2))], None, []).is_err());
        assert!(
            MasterKeyRing::new([(1, key(1))], Some(2), []).is_err(),
            "active"
        );
        assert!(
            MasterKeyRing::new([(1, key(1))], None, [1]).is_err(),
            "retired"
        );
        let named = MasterKeyRing::new([(1, key(1)), (2, key(2))], Some(1), [3]).unwrap();
        assert_eq!(named.active_version(), 1);
        assert_eq!(named.retired_versions().collect::<Vec<_>>(), vec![3]);
        assert_eq!(named.custody(2), Some(Custody::Process));
        assert_eq!(named.custody(3), None);
    }

    #[test]
    fn reads_the_key_file_form() {
        let text = "# comment\nactive: 1\nretired: 3\n1:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\n2:AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=";
        let from_file = MasterKeyRing::in_memory(&VersionedKeys::parse(text).unwrap());
        assert_eq!(from_file.versions().collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(from_file.active_version(), 1);
        assert_eq!(from_file.retired_versions().collect::<Vec<_>>(), vec![3]);
        let user = Uuid::new_v4();
        let wrapped = ring()
            .wrap_under(2, user, &DataKey::generate().unwrap())
            .unwrap();
        from_file.unwrap(user, &wrapped).unwrap();
    }
}
