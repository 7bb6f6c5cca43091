//! Per-file keys and the STREAM cipher they drive.
//!
//! ```text
//! FileKey = HKDF-SHA256(ikm = DEK, salt = 32 random bytes, info = "piivault/v1/file/" ‖ file uuid)
//! segment nonce = nonce_prefix(7) ‖ BE32(segment index) ‖ last_flag(1)      (STREAM BE32)
//! ```
//! Every file gets its own key, so the 96-bit STREAM nonces (a random 7-byte prefix and a
//! counter) never repeat under one key, and the info string binds the key to the file id:
//! an object copied under another file's row derives a different key and fails to open.

use aead_stream::{NewStream, StreamBE32};
use aes_gcm::{Aes256Gcm, KeyInit};
use hkdf::Hkdf;
use sha2::Sha256;
use uuid::Uuid;
use zeroize::Zeroizing;

use super::{CryptoError, DataKey, SecretKey};

pub const FILE_SALT_LEN: usize = 32;
pub const NONCE_PREFIX_LEN: usize = 7;

/// The STREAM primitive a sealed file is written and read with.
pub type FileStream = StreamBE32<Aes256Gcm>;

/// One file's 256-bit key, derived from its owner's data key. Zeroized on drop.
#[derive(Debug)]
pub struct FileKey(SecretKey);

impl FileKey {
    pub fn derive(data_key: &DataKey, salt: &[u8; FILE_SALT_LEN], file_id: Uuid) -> Self {
        let info = format!("piivault/v1/file/{}", file_id.hyphenated());
        let mut okm = Zeroizing::new([0u8; SecretKey::LEN]);
        Hkdf::<Sha256>::new(Some(salt), data_key.secret().expose())
            .expand(info.as_bytes(), okm.as_mut_slice())
            .unwrap_or_else(|_| {
                unreachable!("32 bytes is far below HKDF-SHA256's 8160-byte limit")
            });
        Self(SecretKey::from_bytes(*okm))
    }

    /// The STREAM cipher for this key and a file's nonce prefix.
    pub fn stream(&self, nonce_prefix: &[u8; NONCE_PREFIX_LEN]) -> FileStream {
        // Borrowed, not copied into a `Key`: the cipher's own copy is wiped on drop.
        let cipher = Aes256Gcm::new(self.0.expose().into());
        StreamBE32::from_aead(cipher, &(*nonce_prefix).into())
    }

    #[cfg(test)]
    pub(crate) fn expose(&self) -> &[u8; 32] {
        self.0.expose()
    }
}

/// Fresh random salt and nonce prefix for a new file.
pub fn new_file_randomness() -> Result<([u8; FILE_SALT_LEN], [u8; NONCE_PREFIX_LEN]), CryptoError> {
    Ok((
        super::random_bytes::<FILE_SALT_LEN>()?,
        super::random_bytes::<NONCE_PREFIX_LEN>()?,
    ))
}
