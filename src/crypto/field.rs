//! Sealed fields: one personal value encrypted under its owner's data key.
//!
//! ```text
//! SealedField = 0x01 ‖ nonce(12) ‖ AES-256-GCM(DEK, nonce, value, aad) ‖ tag(16)
//! aad         = "piivault/v1/" ‖ table ‖ "." ‖ column ‖ "/" ‖ row uuid (hyphenated, lower case)
//! ```
//! The AAD pins a value to its row and column: copied anywhere else it fails to open.

use uuid::Uuid;

use super::{aead, CryptoError, DataKey};

const FORMAT_V1: u8 = 0x01;

/// Where a sealed value belongs; it becomes the associated data.
#[derive(Debug, Clone, Copy)]
pub struct FieldContext<'a> {
    pub table: &'a str,
    pub column: &'a str,
    pub row_id: Uuid,
}

impl FieldContext<'_> {
    fn aad(&self) -> String {
        format!(
            "piivault/v1/{}.{}/{}",
            self.table,
            self.column,
            self.row_id.hyphenated()
        )
    }
}

/// The stored bytes of one sealed value.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedField(Vec<u8>);

impl SealedField {
    pub fn seal(
        key: &DataKey,
        context: FieldContext<'_>,
        value: &str,
    ) -> Result<Self, CryptoError> {
        aead::seal(
            key.secret(),
            &[FORMAT_V1],
            context.aad().as_bytes(),
            value.as_bytes(),
        )
        .map(Self)
    }

    #[cfg(test)]
    pub(crate) fn seal_with_nonce(
        key: &DataKey,
        context: FieldContext<'_>,
        value: &str,
        nonce: [u8; aead::NONCE_LEN],
    ) -> Result<Self, CryptoError> {
        aead::seal_with_nonce(
            key.secret(),
            &[FORMAT_V1],
            nonce,
            context.aad().as_bytes(),
            value.as_bytes(),
        )
        .map(Self)
    }

    pub fn open(&self, key: &DataKey, context: FieldContext<'_>) -> Result<String, CryptoError> {
        if self.0.first() != Some(&FORMAT_V1) {
            return Err(CryptoError::Malformed);
        }
        let mut plaintext = aead::open(key.secret(), 1, context.aad().as_bytes(), &self.0)?;
        // The bytes move into the string (no second copy); if they are not UTF-8 they
        // come back in the error and are wiped there.
        String::from_utf8(std::mem::take(&mut *plaintext)).map_err(|error| {
            zeroize::Zeroize::zeroize(&mut error.into_bytes());
            CryptoError::Malformed
        })
    }

    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }
}

impl std::fmt::Debug for SealedField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SealedField({} bytes)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::SecretKey;

    fn key() -> DataKey {
        DataKey::from_secret(SecretKey::from_bytes([7; 32]))
    }

    fn context(column: &str) -> FieldContext<'_> {
        FieldContext {
            table: "users",
            column,
            row_id: Uuid::from_u128(0x0193_0000_0000_7000_8000_0000_0000_0001),
        }
    }

    #[test]
    fn round_trip() {
        let sealed = SealedField::seal(&key(), context("email"), "jack@example.com").unwrap();
        assert_eq!(
            sealed.open(&key(), context("email")).unwrap(),
            "jack@example.com"
        );
    }

    #[test]
    fn two_seals_of_one_value_differ() {
        let a = SealedField::seal(&key(), context("email"), "same").unwrap();
        let b = SealedField::seal(&key(), context("email"), "same").unwrap();
        assert_ne!(a, b, "a fresh nonce per seal");
    }

    #[test]
    fn tampering_is_detected() {
        let sealed = SealedField::seal(&key(), context("email"), "jack@example.com").unwrap();
        let bytes = sealed.as_bytes().to_vec();
        for index in 0..bytes.len() {
            let mut flipped = bytes.clone();
            flipped[index] ^= 0x01;
            let result = SealedField::from_bytes(flipped).open(&key(), context("email"));
            assert!(result.is_err(), "bit flip at byte {index} went unnoticed");
        }
        for length in 0..bytes.len() {
            let truncated = SealedField::from_bytes(bytes[..length].to_vec());
            assert!(
                truncated.open(&key(), context("email")).is_err(),
                "truncated to {length}"
            );
        }
    }

    #[test]
    fn a_value_moved_to_another_column_or_row_does_not_open() {
        let sealed = SealedField::seal(&key(), context("email"), "jack@example.com").unwrap();
        assert_eq!(
            sealed.open(&key(), context("phone")),
            Err(CryptoError::Unauthentic),
            "other column"
        );
        let other_row = FieldContext {
            row_id: Uuid::from_u128(2),
            ..context("email")
        };
        assert_eq!(
            sealed.open(&key(), other_row),
            Err(CryptoError::Unauthentic),
            "other row"
        );
        let other_table = FieldContext {
            table: "transactions",
            ..context("email")
        };
        assert_eq!(
            sealed.open(&key(), other_table),
            Err(CryptoError::Unauthentic),
            "other table"
        );
    }

    #[test]
    fn another_users_key_does_not_open() {
        let sealed = SealedField::seal(&key(), context("email"), "jack@example.com").unwrap();
        let other = DataKey::from_secret(SecretKey::from_bytes([8; 32]));
        assert_eq!(
            sealed.open(&other, context("email")),
            Err(CryptoError::Unauthentic)
        );
    }
}
