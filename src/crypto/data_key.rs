//! Per-user data keys (DEK) and their wrapped form.
//!
//! ```text
//! WrappedDataKey = 0x01 ‖ kek_version(u32 BE) ‖ nonce(12) ‖ AES-256-GCM(KEK_v, nonce, DEK, aad) ‖ tag(16)
//! aad            = "piivault/v1/dek/" ‖ user uuid (hyphenated, lower case)
//! ```
//! Only the wrapped form is ever stored; destroying it crypto-shreds the user. The
//! bytes are the same whichever [`KeyEncryptionKey`] holds KEK_v (the key file or a
//! PKCS#11 token): the nonce is chosen here, the holder only runs AES-GCM.
//!
//! A data key also keys the user's own look-up indexes (a transaction reference seen
//! before), through a derived key that changes neither with master-key nor with
//! blind-index rotation and is shredded with the user:
//! ```text
//! UserIndexKey(purpose) = HMAC-SHA256(DEK, "piivault/v1/derive/" ‖ purpose)
//! ```

use hmac::{Hmac, Mac};
use sha2::Sha256;
use uuid::Uuid;

use super::aead::{self, NONCE_LEN};
use super::{BlindIndexKey, CryptoError, KeyEncryptionKey, SecretKey};

const FORMAT_V1: u8 = 0x01;
const HEADER_LEN: usize = 5;

/// A user's 256-bit data key, in the clear: lives only in memory while in use.
#[derive(Debug, Clone)]
pub struct DataKey(SecretKey);

impl DataKey {
    pub fn generate() -> Result<Self, CryptoError> {
        SecretKey::generate().map(Self)
    }

    pub fn from_secret(secret: SecretKey) -> Self {
        Self(secret)
    }

    pub(super) fn secret(&self) -> &SecretKey {
        &self.0
    }

    /// The key of one of this user's own indexes (`purpose` names it, e.g.
    /// `transactions.reference`).
    pub fn user_index_key(&self, purpose: &str) -> BlindIndexKey {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.0.expose())
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
        mac.update(b"piivault/v1/derive/");
        mac.update(purpose.as_bytes());
        BlindIndexKey::new(SecretKey::from_bytes(mac.finalize().into_bytes().into()))
    }
}

#[cfg(test)]
mod user_index_tests {
    use super::*;

    #[test]
    fn user_index_key_matches_an_independent_hmac() {
        // Expected value computed with Python's hmac module from the formula above.
        let mut bytes = [0u8; 32];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::try_from(i).unwrap();
        }
        let key = DataKey::from_secret(SecretKey::from_bytes(bytes))
            .user_index_key("transactions.reference");
        let index = key.index("transactions.reference", "ABC123");
        let expected = "75ad48afd740b981534ad7f77cb8250a5238c8fa47fe85aa37990cfc50828620";
        let expected: Vec<u8> = (0..expected.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&expected[i..i + 2], 16).unwrap())
            .collect();
        assert_eq!(index.0.as_slice(), expected.as_slice());
        let other = DataKey::generate()
            .unwrap()
            .user_index_key("transactions.reference");
        assert_ne!(other.index("transactions.reference", "ABC123"), index);
    }
}

/// A data key sealed under one version of the master key, as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct WrappedDataKey(Vec<u8>);

impl WrappedDataKey {
    pub(super) fn wrap(
        kek: &dyn KeyEncryptionKey,
        kek_version: u32,
        user_id: Uuid,
        data_key: &DataKey,
    ) -> Result<Self, CryptoError> {
        Self::wrap_with_nonce(
            kek,
            kek_version,
            user_id,
            data_key,
            super::random_bytes::<NONCE_LEN>()?,
        )
    }

    /// [`wrap`](Self::wrap) with a chosen nonce: only the known-answer tests choose.
    pub(super) fn wrap_with_nonce(
        kek: &dyn KeyEncryptionKey,
        kek_version: u32,
        user_id: Uuid,
        data_key: &DataKey,
        nonce: [u8; NONCE_LEN],
    ) -> Result<Self, CryptoError> {
        let sealed = kek.encrypt(&nonce, &aad(user_id), data_key.0.expose())?;
        let mut bytes = Vec::with_capacity(HEADER_LEN + NONCE_LEN + sealed.len());
        bytes.extend_from_slice(&header(kek_version));
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&sealed);
        Ok(Self(bytes))
    }

    pub(super) fn unwrap(
        &self,
        kek: &dyn KeyEncryptionKey,
        user_id: Uuid,
    ) -> Result<DataKey, CryptoError> {
        let body = self.0.get(HEADER_LEN..).ok_or(CryptoError::Malformed)?;
        let (nonce, ciphertext) = aead::split_nonce(body)?;
        let key = kek.decrypt(nonce, &aad(user_id), ciphertext)?;
        SecretKey::from_slice(&key).map(DataKey)
    }

    /// The master key version this was wrapped under.
    pub fn kek_version(&self) -> Result<u32, CryptoError> {
        match self.0.as_slice() {
            [FORMAT_V1, a, b, c, d, ..] => Ok(u32::from_be_bytes([*a, *b, *c, *d])),
            _ => Err(CryptoError::Malformed),
        }
    }

    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for WrappedDataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "WrappedDataKey(kek_version={:?})",
            self.kek_version().ok()
        )
    }
}

fn header(kek_version: u32) -> [u8; HEADER_LEN] {
    let v = kek_version.to_be_bytes();
    [FORMAT_V1, v[0], v[1], v[2], v[3]]
}

fn aad(user_id: Uuid) -> Vec<u8> {
    format!("piivault/v1/dek/{}", user_id.hyphenated()).into_bytes()
}
