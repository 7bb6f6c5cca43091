//! Blind indexes of a user's fields: the one place that says which fields are indexed,
//! under which label, and how a look-up searches every live index key version. The
//! keyed hash itself is `crypto::blind_index`.
//!
//! ```text
//! index(field) = HMAC-SHA256(blind-index key vN, label ‖ ":" ‖ normalized value)
//! labels: "email", "phone", "national_id"
//! ```

use super::users::ExactLookup;
use crate::crypto::{BlindIndexKeyRing, CryptoError};
use crate::db::users::IndexedColumn;
use crate::domain::{Email, NationalId, Phone};

/// A blind-indexed field of a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IndexedField {
    Email,
    Phone,
    NationalId,
}

impl IndexedField {
    /// The label the index input starts with (part of the format: never change it).
    fn label(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Phone => "phone",
            Self::NationalId => "national_id",
        }
    }

    fn column(self) -> IndexedColumn {
        match self {
            Self::Email => IndexedColumn::Email,
            Self::Phone => IndexedColumn::Phone,
            Self::NationalId => IndexedColumn::NationalId,
        }
    }
}

/// The columns whose indexes may be truncated, each to `bits`: phone and national id,
/// whose values are few enough to enumerate. Never email: its full index is what
/// makes an email unique.
pub fn truncatable(bits: u16) -> Vec<(&'static str, u16)> {
    [IndexedField::Phone, IndexedField::NationalId]
        .into_iter()
        .map(|field| (field.label(), bits))
        .collect()
}

/// A user's index values under one key version, as the `users` row stores them.
#[derive(Debug)]
pub struct UserIndexes {
    pub email: Vec<u8>,
    pub phone: Option<Vec<u8>>,
    pub national_id: Option<Vec<u8>>,
}

impl UserIndexes {
    /// The indexes of these values under key version `version`.
    pub fn compute(
        ring: &BlindIndexKeyRing,
        version: u32,
        email: &Email,
        phone: Option<&Phone>,
        national_id: Option<&NationalId>,
    ) -> Result<Self, CryptoError> {
        let index = |field: IndexedField, normalized: &str| {
            ring.index_with(version, field.label(), normalized)
                .map(|index| index.0)
        };
        Ok(Self {
            email: index(IndexedField::Email, &email.normalized())?,
            phone: phone
                .map(|phone| index(IndexedField::Phone, &phone.normalized()))
                .transpose()?,
            national_id: national_id
                .map(|national_id| index(IndexedField::NationalId, &national_id.normalized()))
                .transpose()?,
        })
    }
}

/// The email's index under every live version other than `except`: what a new user's
/// email must not match while a rotation is under way (the unique constraint only
/// sees one version).
pub fn email_under_other_versions(
    ring: &BlindIndexKeyRing,
    email: &Email,
    except: u32,
) -> Vec<Vec<u8>> {
    ring.index_all(IndexedField::Email.label(), &email.normalized())
        .into_iter()
        .filter(|(version, _)| *version != except)
        .map(|(_, index)| index.0)
        .collect()
}

/// The column an exact look-up searches and the value's index under every live
/// version, so a user is found whether or not a rotation has reached it yet.
pub fn lookup(ring: &BlindIndexKeyRing, lookup: &ExactLookup) -> (IndexedColumn, Vec<Vec<u8>>) {
    let (field, normalized) = match lookup {
        ExactLookup::Email(email) => (IndexedField::Email, email.normalized()),
        ExactLookup::Phone(phone) => (IndexedField::Phone, phone.normalized()),
        ExactLookup::NationalId(national_id) => {
            (IndexedField::NationalId, national_id.normalized())
        }
    };
    let values = ring
        .index_all(field.label(), &normalized)
        .into_iter()
        .map(|(_, index)| index.0)
        .collect();
    (field.column(), values)
}
