//! Per-user data keys (DEK), the subkeys derived from them, and their wrapped form.
//!
//! ```text
//! WrappedDataKey_v2 = 0x02 ‖ BE32(kek_version) ‖ nonce(12) ‖ AES-256-GCM(KEK_v, nonce, DEK, aad_v2) ‖ tag(16)
//! aad_v2            = 0x02 ‖ BE32(kek_version) ‖ "piivault/v2/dek/" ‖ user uuid (hyphenated, lower case)
//! WrappedDataKey_v1 = 0x01 ‖ BE32(kek_version) ‖ nonce(12) ‖ AES-256-GCM(KEK_v, nonce, DEK, aad_v1) ‖ tag(16)
//! aad_v1            = "piivault/v1/dek/" ‖ user uuid                    (read only)
//! ```
//! Only the wrapped form is ever stored; destroying it crypto-shreds the user. New keys
//! are wrapped as v2, whose associated data starts with the 5-byte header, so neither
//! the format byte nor the master key version can be changed without the tag failing.
//! v1 keys still unwrap; a key the rewrap or migration job moves to another master
//! version is written as v2. The bytes are the same
//! whichever [`KeyEncryptionKey`] holds KEK_v (the key file or a PKCS#11 token): the
//! nonce and the associated data are chosen here, the holder only runs AES-GCM.
//!
//! The data key is never used as a cipher key itself in format v2: each purpose has a
//! key derived from it.
//! ```text
//! FieldKey              = HKDF-SHA256(IKM = DEK, salt = none, info = "piivault/v2/subkey/field", L = 32)
//! UserIndexKey(purpose) = HMAC-SHA256(DEK, "piivault/v1/derive/" ‖ purpose)
//! FileKey               = HKDF-SHA256(IKM = DEK, salt, info = "piivault/v1/file/" ‖ file uuid)   (file_key.rs)
//! ```
//! FieldKey seals fields in format v2 (`field.rs`); format v1 fields were sealed under
//! the DEK itself. The user index key keys the user's own look-up indexes (a
//! transaction reference seen before): it changes neither with master-key nor with
//! blind-index rotation and is shredded with the user.

use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use uuid::Uuid;
use zeroize::Zeroizing;

use super::aead::{self, NONCE_LEN};
use super::{BlindIndexKey, CryptoError, KeyEncryptionKey, SecretKey};

/// The wrapped-key formats: v1 is read only.
const FORMAT_V1: u8 = 0x01;
const FORMAT_V2: u8 = 0x02;
const HEADER_LEN: usize = 5;
const FIELD_KEY_INFO: &[u8] = b"piivault/v2/subkey/field";

/// A user's 256-bit data key, in the clear, with the field-sealing key derived from it:
/// lives only in memory while in use, and both are wiped when it is dropped.
#[derive(Debug, Clone)]
pub struct DataKey {
    root: SecretKey,
    field: SecretKey,
}

impl DataKey {
    pub fn generate() -> Result<Self, CryptoError> {
        SecretKey::generate().map(Self::from_secret)
    }

    pub fn from_secret(root: SecretKey) -> Self {
        let mut field = Zeroizing::new([0u8; SecretKey::LEN]);
        Hkdf::<Sha256>::new(None, root.expose())
            .expand(FIELD_KEY_INFO, field.as_mut())
            .unwrap_or_else(|_| {
                unreachable!("32 bytes is far below HKDF-SHA256's 8160-byte limit")
            });
        Self {
            field: SecretKey::from_bytes(*field),
            root,
        }
    }

    /// The data key itself: key material for derivations (and for format v1 fields).
    pub(super) fn secret(&self) -> &SecretKey {
        &self.root
    }

    /// The key format v2 fields are sealed under.
    pub(super) fn field_key(&self) -> &SecretKey {
        &self.field
    }

    /// The key of one of this user's own indexes (`purpose` names it, e.g.
    /// `transactions.reference`).
    pub fn user_index_key(&self, purpose: &str) -> BlindIndexKey {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.root.expose())
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
        mac.update(b"piivault/v1/derive/");
        mac.update(purpose.as_bytes());
        let derived = Zeroizing::new(<[u8; SecretKey::LEN]>::from(mac.finalize().into_bytes()));
        BlindIndexKey::new(SecretKey::from_bytes(*derived))
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

    #[test]
    fn the_field_key_is_not_the_data_key() {
        let key = DataKey::generate().unwrap();
        assert_ne!(key.field_key().expose(), key.secret().expose());
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
        let header = header(FORMAT_V2, kek_version);
        let sealed = kek.encrypt(&nonce, &aad(header, user_id), data_key.root.expose())?;
        let mut bytes = Vec::with_capacity(HEADER_LEN + NONCE_LEN + sealed.len());
        bytes.extend_from_slice(&header);
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&sealed);
        Ok(Self(bytes))
    }

    pub(super) fn unwrap(
        &self,
        kek: &dyn KeyEncryptionKey,
        user_id: Uuid,
    ) -> Result<DataKey, CryptoError> {
        let header: [u8; HEADER_LEN] = self
            .0
            .get(..HEADER_LEN)
            .and_then(|header| header.try_into().ok())
            .ok_or(CryptoError::Malformed)?;
        if ![FORMAT_V1, FORMAT_V2].contains(&header[0]) {
            return Err(CryptoError::Malformed);
        }
        let (nonce, ciphertext) = aead::split_nonce(&self.0[HEADER_LEN..])?;
        let key = kek.decrypt(nonce, &aad(header, user_id), ciphertext)?;
        SecretKey::from_slice(&key).map(DataKey::from_secret)
    }

    /// The master key version this was wrapped under.
    pub fn kek_version(&self) -> Result<u32, CryptoError> {
        match self.0.as_slice() {
            [FORMAT_V1 | FORMAT_V2, a, b, c, d, ..] => Ok(u32::from_be_bytes([*a, *b, *c, *d])),
            _ => Err(CryptoError::Malformed),
        }
    }

    /// Whether this is in the format new keys are wrapped in (v2); the rewrap job
    /// moves the others.
    pub fn is_current_format(&self) -> bool {
        self.0.first() == Some(&FORMAT_V2)
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
            "WrappedDataKey(format={:?}, kek_version={:?})",
            self.0.first(),
            self.kek_version().ok()
        )
    }
}

fn header(format: u8, kek_version: u32) -> [u8; HEADER_LEN] {
    let v = kek_version.to_be_bytes();
    [format, v[0], v[1], v[2], v[3]]
}

/// The associated data of a wrapped key with this header: v2 authenticates the header
/// itself, v1 only the user.
fn aad(header: [u8; HEADER_LEN], user_id: Uuid) -> Vec<u8> {
    let user = user_id.hyphenated().to_string();
    if header[0] == FORMAT_V1 {
        return format!("piivault/v1/dek/{user}").into_bytes();
    }
    let mut aad = header.to_vec();
    aad.extend_from_slice(b"piivault/v2/dek/");
    aad.extend_from_slice(user.as_bytes());
    aad
}

#[cfg(test)]
mod wrap_tests {
    use std::sync::Mutex;

    use super::*;

    /// A key-encryption key that records the associated data it is given, as a token
    /// would receive it.
    struct Recording {
        key: SecretKey,
        aads: Mutex<Vec<Vec<u8>>>,
    }

    impl KeyEncryptionKey for Recording {
        fn encrypt(
            &self,
            nonce: &[u8; NONCE_LEN],
            aad: &[u8],
            plaintext: &[u8],
        ) -> Result<Vec<u8>, CryptoError> {
            self.aads.lock().unwrap().push(aad.to_vec());
            self.key.encrypt(nonce, aad, plaintext)
        }

        fn decrypt(
            &self,
            nonce: &[u8; NONCE_LEN],
            aad: &[u8],
            ciphertext: &[u8],
        ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
            self.aads.lock().unwrap().push(aad.to_vec());
            self.key.decrypt(nonce, aad, ciphertext)
        }

        fn custody(&self) -> super::super::Custody {
            super::super::Custody::Token
        }
    }

    #[test]
    fn any_holder_of_the_kek_is_given_the_header_as_associated_data() {
        let holder = Recording {
            key: SecretKey::from_bytes([5; 32]),
            aads: Mutex::new(Vec::new()),
        };
        let user = Uuid::from_u128(0x0193_a5b0_7e1c_7000_8000_0000_0000_abcd);
        let dek = DataKey::generate().unwrap();
        let wrapped = WrappedDataKey::wrap(&holder, 7, user, &dek).unwrap();
        let unwrapped = wrapped.unwrap(&holder, user).unwrap();
        assert_eq!(unwrapped.secret().expose(), dek.secret().expose());
        let mut expected = vec![0x02, 0, 0, 0, 7];
        expected.extend_from_slice(b"piivault/v2/dek/0193a5b0-7e1c-7000-8000-00000000abcd");
        assert_eq!(
            *holder.aads.lock().unwrap(),
            vec![expected.clone(), expected]
        );
        // The software key computes the very same bytes.
        let software = WrappedDataKey::wrap_with_nonce(
            &SecretKey::from_bytes([5; 32]),
            7,
            user,
            &dek,
            wrapped.as_bytes()[5..17].try_into().unwrap(),
        )
        .unwrap();
        assert_eq!(software, wrapped);
    }
}
