//! Sealed fields: one personal value encrypted under its owner's data key.
//!
//! ```text
//! SealedField_v2 = 0x02 ‖ nonce(12) ‖ AES-256-GCM(FieldKey, nonce, value, aad_v2) ‖ tag(16)
//! aad_v2         = 0x02 ‖ "piivault/v2/" ‖ table ‖ "." ‖ column ‖ "/" ‖ row uuid ‖ *( LF ‖ name ‖ "=" ‖ value )
//! SealedField_v1 = 0x01 ‖ nonce(12) ‖ AES-256-GCM(DEK, nonce, value, aad_v1) ‖ tag(16)      (read only)
//! aad_v1         = "piivault/v1/" ‖ table ‖ "." ‖ column ‖ "/" ‖ row uuid
//! ```
//! The row uuid is hyphenated and lower case; FieldKey is derived from the data key
//! (`data_key.rs`). The AAD pins a value to its row and column, so that copied anywhere
//! else it fails to open. In v2 it also starts with the format byte (a value cannot be
//! passed off as another format) and ends with the row's clear columns the value
//! belongs with (its [`FieldContext::bound`] pairs, e.g. a transaction's time and
//! currency), so that editing those columns makes the value refuse to open. New values
//! are sealed as v2; v1 values still open (without bound columns, which v1 never had).

use uuid::Uuid;
use zeroize::Zeroizing;

use super::{aead, CryptoError, DataKey, SecretKey};

/// The sealed-field formats: v1 is read only.
const FORMAT_V1: u8 = 0x01;
const FORMAT_V2: u8 = 0x02;

/// Where a sealed value belongs; it becomes the associated data.
#[derive(Debug, Clone, Copy)]
pub struct FieldContext<'a> {
    pub table: &'a str,
    pub column: &'a str,
    pub row_id: Uuid,
    /// Clear columns of the same row the value is bound to, as `(name, canonical text)`
    /// (format v2; neither may contain a line feed).
    pub bound: &'a [(&'a str, &'a str)],
}

impl<'a> FieldContext<'a> {
    /// A value of `table.column` in the row `row_id`, bound to nothing else.
    pub fn new(table: &'a str, column: &'a str, row_id: Uuid) -> Self {
        Self {
            table,
            column,
            row_id,
            bound: &[],
        }
    }

    /// The same place, also bound to these clear columns of the row.
    #[must_use]
    pub fn bound_to(self, bound: &'a [(&'a str, &'a str)]) -> Self {
        Self { bound, ..self }
    }

    fn aad(&self, format: u8) -> Result<Vec<u8>, CryptoError> {
        // Written into one buffer: a statement opens three values per row.
        let bound: usize = self
            .bound
            .iter()
            .map(|(name, value)| name.len() + value.len() + 2)
            .sum();
        let mut aad = Vec::with_capacity(
            16 + self.table.len() + self.column.len() + uuid::fmt::Hyphenated::LENGTH + bound,
        );
        if format == FORMAT_V1 {
            aad.extend_from_slice(b"piivault/v1/");
        } else {
            aad.push(FORMAT_V2);
            aad.extend_from_slice(b"piivault/v2/");
        }
        aad.extend_from_slice(self.table.as_bytes());
        aad.push(b'.');
        aad.extend_from_slice(self.column.as_bytes());
        aad.push(b'/');
        let mut id = [0u8; uuid::fmt::Hyphenated::LENGTH];
        aad.extend_from_slice(self.row_id.hyphenated().encode_lower(&mut id).as_bytes());
        if format == FORMAT_V1 {
            return Ok(aad);
        }
        for (name, value) in self.bound {
            if name.contains('\n') || value.contains('\n') {
                return Err(CryptoError::Malformed);
            }
            aad.push(b'\n');
            aad.extend_from_slice(name.as_bytes());
            aad.push(b'=');
            aad.extend_from_slice(value.as_bytes());
        }
        Ok(aad)
    }
}

/// The stored bytes of one sealed value.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedField(Vec<u8>);

impl SealedField {
    /// Seals `value` in the current format (v2).
    pub fn seal(
        key: &DataKey,
        context: FieldContext<'_>,
        value: &str,
    ) -> Result<Self, CryptoError> {
        aead::seal(
            key.field_key(),
            &[FORMAT_V2],
            &context.aad(FORMAT_V2)?,
            value.as_bytes(),
        )
        .map(Self)
    }

    /// [`seal`](Self::seal) in a chosen format with a chosen nonce: only the
    /// known-answer tests write v1 or choose nonces.
    #[cfg(test)]
    pub(crate) fn seal_with_nonce(
        key: &DataKey,
        format: u8,
        context: FieldContext<'_>,
        value: &str,
        nonce: [u8; aead::NONCE_LEN],
    ) -> Result<Self, CryptoError> {
        aead::seal_with_nonce(
            cipher_key(key, format)?,
            &[format],
            nonce,
            &context.aad(format)?,
            value.as_bytes(),
        )
        .map(Self)
    }

    /// Opens a value of either format. `context.bound` counts for v2 values only.
    pub fn open(&self, key: &DataKey, context: FieldContext<'_>) -> Result<String, CryptoError> {
        Self::open_bytes(&self.0, key, context)
    }

    /// [`open`](Self::open) on stored bytes as they are (no copy made first).
    pub fn open_bytes(
        sealed: &[u8],
        key: &DataKey,
        context: FieldContext<'_>,
    ) -> Result<String, CryptoError> {
        let format = *sealed.first().ok_or(CryptoError::Malformed)?;
        let mut plaintext = aead::open(cipher_key(key, format)?, 1, &context.aad(format)?, sealed)?;
        // The bytes move into the string (no second copy); if they are not UTF-8 they
        // come back in the error and are wiped there.
        String::from_utf8(std::mem::take(&mut *plaintext)).map_err(|error| {
            zeroize::Zeroize::zeroize(&mut error.into_bytes());
            CryptoError::Malformed
        })
    }

    /// This value in the current format (the reseal job): itself when it already is,
    /// else opened and sealed again, after it authenticated in its own format.
    pub fn into_current_format(
        self,
        key: &DataKey,
        context: FieldContext<'_>,
    ) -> Result<Self, CryptoError> {
        if self.is_current_format() {
            return Ok(self);
        }
        let value = Zeroizing::new(self.open(key, context)?);
        Self::seal(key, context, &value)
    }

    /// The first byte of every value sealed now: stored values of older formats sort
    /// before it, which is how the database finds what the reseal job has left.
    pub const CURRENT_FORMAT: u8 = FORMAT_V2;

    /// Whether this is in the format new values are sealed in (v2).
    pub fn is_current_format(&self) -> bool {
        self.0.first() == Some(&FORMAT_V2)
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

/// The AES key of a format: the data key itself in v1, its field subkey in v2.
fn cipher_key(key: &DataKey, format: u8) -> Result<&SecretKey, CryptoError> {
    match format {
        FORMAT_V1 => Ok(key.secret()),
        FORMAT_V2 => Ok(key.field_key()),
        _ => Err(CryptoError::Malformed),
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

    fn key() -> DataKey {
        DataKey::from_secret(SecretKey::from_bytes([7; 32]))
    }

    fn context(column: &str) -> FieldContext<'_> {
        FieldContext::new(
            "users",
            column,
            Uuid::from_u128(0x0193_0000_0000_7000_8000_0000_0000_0001),
        )
    }

    #[test]
    fn round_trip() {
        let sealed = SealedField::seal(&key(), context("email"), "jack@example.com").unwrap();
        assert!(sealed.is_current_format());
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
    fn bound_columns_must_be_unchanged() {
        let bound = [
            ("occurred_at", "2026-11-01T06:30:00.000000Z"),
            ("currency", "KES"),
        ];
        let place = context("amount").bound_to(&bound);
        let sealed = SealedField::seal(&key(), place, "-125000").unwrap();
        assert_eq!(sealed.open(&key(), place).unwrap(), "-125000");
        for edited in [
            [
                ("occurred_at", "2026-12-01T06:30:00.000000Z"),
                ("currency", "KES"),
            ],
            [
                ("occurred_at", "2026-11-01T06:30:00.000000Z"),
                ("currency", "USD"),
            ],
        ] {
            assert_eq!(
                sealed.open(&key(), place.bound_to(&edited)),
                Err(CryptoError::Unauthentic),
                "{edited:?}"
            );
        }
        assert_eq!(
            sealed.open(&key(), context("amount")),
            Err(CryptoError::Unauthentic),
            "unbound"
        );
        let line_feed = [("currency", "KES\nx")];
        assert_eq!(
            SealedField::seal(&key(), context("amount").bound_to(&line_feed), "1"),
            Err(CryptoError::Malformed)
        );
    }

    #[test]
    fn v1_values_open_and_reseal_as_v2() {
        let v1 = SealedField::seal_with_nonce(
            &key(),
            FORMAT_V1,
            context("email"),
            "jack@example.com",
            [0; 12],
        )
        .unwrap();
        assert!(!v1.is_current_format());
        assert_eq!(
            v1.open(&key(), context("email")).unwrap(),
            "jack@example.com"
        );
        let bound = [("currency", "KES")];
        // v1 had no bound columns: they do not count when opening it...
        assert!(v1.open(&key(), context("email").bound_to(&bound)).is_ok());
        // ...and the v2 value resealed from it is bound to them.
        let v2 = v1
            .into_current_format(&key(), context("email").bound_to(&bound))
            .unwrap();
        assert!(v2.is_current_format());
        assert!(v2.open(&key(), context("email")).is_err());
        assert_eq!(
            v2.open(&key(), context("email").bound_to(&bound)).unwrap(),
            "jack@example.com"
        );
    }

    #[test]
    fn a_format_byte_changed_does_not_open() {
        let sealed = SealedField::seal(&key(), context("email"), "jack@example.com").unwrap();
        for format in [0x00, FORMAT_V1, 0x03] {
            let mut relabelled = sealed.as_bytes().to_vec();
            relabelled[0] = format;
            assert!(SealedField::from_bytes(relabelled)
                .open(&key(), context("email"))
                .is_err());
        }
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
