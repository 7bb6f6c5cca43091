//! Per-user data keys (DEK) and their wrapped form.
//!
//! ```text
//! WrappedDataKey = 0x01 ‖ kek_version(u32 BE) ‖ nonce(12) ‖ AES-256-GCM(KEK_v, nonce, DEK, aad) ‖ tag(16)
//! aad            = "piivault/v1/dek/" ‖ user uuid (hyphenated, lower case)
//! ```
//! Only the wrapped form is ever stored; destroying it crypto-shreds the user.

use uuid::Uuid;

use super::{aead, CryptoError, SecretKey};

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
}

/// A data key sealed under one version of the master key, as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct WrappedDataKey(Vec<u8>);

impl WrappedDataKey {
    pub(super) fn wrap(
        kek: &SecretKey,
        kek_version: u32,
        user_id: Uuid,
        data_key: &DataKey,
    ) -> Result<Self, CryptoError> {
        aead::seal(
            kek,
            &header(kek_version),
            &aad(user_id),
            data_key.0.expose(),
        )
        .map(Self)
    }

    #[cfg(test)]
    pub(super) fn wrap_with_nonce(
        kek: &SecretKey,
        kek_version: u32,
        user_id: Uuid,
        data_key: &DataKey,
        nonce: [u8; aead::NONCE_LEN],
    ) -> Result<Self, CryptoError> {
        aead::seal_with_nonce(
            kek,
            &header(kek_version),
            nonce,
            &aad(user_id),
            data_key.0.expose(),
        )
        .map(Self)
    }

    pub(super) fn unwrap(&self, kek: &SecretKey, user_id: Uuid) -> Result<DataKey, CryptoError> {
        let key = aead::open(kek, HEADER_LEN, &aad(user_id), &self.0)?;
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
