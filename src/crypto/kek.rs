//! Key-encryption keys: what wraps a data key. A master key version is AES-256-GCM
//! under a 256-bit key, wherever those bytes are held: in this process (a
//! [`SecretKey`] read from the key file) or inside a PKCS#11 token that performs the
//! cipher and never lets them out (`keys::token`). The wrapped-key format
//! (`data_key.rs`) is the same for both: only who runs AES-GCM differs.

use zeroize::Zeroizing;

use super::aead::{self, NONCE_LEN};
use super::{CryptoError, SecretKey};

/// Where a key's bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Custody {
    /// In this process's memory (the key file or an environment variable).
    Process,
    /// Inside a token (HSM); piivault holds a handle, never the bytes.
    Token,
}

/// AES-256-GCM under one key, wherever it is held.
pub trait KeyEncryptionKey: Send + Sync {
    /// `ciphertext ‖ tag(16)` of `plaintext` under `nonce`, authenticating `aad`.
    fn encrypt(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError>;

    /// The inverse of [`encrypt`](Self::encrypt): `Unauthentic` when the tag does not
    /// verify, `Unavailable` when the holder cannot be reached.
    fn decrypt(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError>;

    fn custody(&self) -> Custody;
}

impl KeyEncryptionKey for SecretKey {
    fn encrypt(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        aead::encrypt(self, nonce, aad, plaintext)
    }

    fn decrypt(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        aead::decrypt(self, nonce, aad, ciphertext)
    }

    fn custody(&self) -> Custody {
        Custody::Process
    }
}
