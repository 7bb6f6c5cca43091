//! The user vault: a validated [`NewUser`] becomes sealed rows under a fresh data
//! key, and sealed rows become a [`UserRecord`] again. Every personal field is sealed
//! with its table, column and row id as associated data (DESIGN.md).

use std::fmt;

use chrono::NaiveDateTime;
use serde::Serialize;
use uuid::Uuid;

use crate::crypto::{CryptoError, DataKey, FieldContext, SealedField, WrappedDataKey};
use crate::db::users::{self, NewDataKeyRow, NewUserRow, UserRow};
use crate::db::{DbConnection, DbError};
use crate::domain::NewUser;
use crate::keys::KeyMaterial;

const TABLE: &str = "users";

/// A user, opened. Its `Debug` prints only the id: this value is personal data.
#[derive(Clone, Serialize)]
pub struct UserRecord {
    pub id: Uuid,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub phone: Option<String>,
    pub national_id: Option<String>,
    pub date_of_birth: Option<String>,
    pub address: Option<String>,
    #[serde(serialize_with = "serialize_time")]
    pub created_at: NaiveDateTime,
    #[serde(serialize_with = "serialize_time")]
    pub updated_at: NaiveDateTime,
}

impl fmt::Debug for UserRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserRecord")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl UserRecord {
    pub fn full_name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name)
    }
}

fn serialize_time<S: serde::Serializer>(at: &NaiveDateTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::time::rfc3339(*at))
}

#[derive(Debug)]
pub struct Registered {
    pub id: Uuid,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("a user with this email is already registered")]
    EmailTaken,
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("sealing or opening failed: {0}")]
    Crypto(#[from] CryptoError),
}

/// Seals and stores a new user with a fresh data key, in one transaction.
pub fn register(
    connection: &mut DbConnection,
    keys: &KeyMaterial,
    user: &NewUser,
) -> Result<Registered, VaultError> {
    let id = Uuid::now_v7();
    let now = crate::time::now();
    let data_key = DataKey::generate()?;
    let wrapped = keys.master.wrap(id, &data_key)?;
    let seal = |column: &str, value: &str| -> Result<Vec<u8>, CryptoError> {
        let context = FieldContext {
            table: TABLE,
            column,
            row_id: id,
        };
        SealedField::seal(&data_key, context, value).map(SealedField::into_bytes)
    };
    let index =
        |column: &str, normalized: String| keys.blind_index.index(column, &normalized).0.to_vec();
    let row = NewUserRow {
        id: id.as_bytes().to_vec(),
        created_at: now,
        updated_at: now,
        email_index: index("email", user.email.normalized()),
        phone_index: user
            .phone
            .as_ref()
            .map(|phone| index("phone", phone.normalized())),
        national_id_index: user
            .national_id
            .as_ref()
            .map(|national_id| index("national_id", national_id.normalized())),
        first_name: seal("first_name", user.first_name.as_str())?,
        last_name: seal("last_name", user.last_name.as_str())?,
        email: seal("email", user.email.as_str())?,
        phone: user
            .phone
            .as_ref()
            .map(|v| seal("phone", v.as_str()))
            .transpose()?,
        national_id: user
            .national_id
            .as_ref()
            .map(|v| seal("national_id", v.as_str()))
            .transpose()?,
        date_of_birth: user
            .date_of_birth
            .map(|v| seal("date_of_birth", &v.to_iso()))
            .transpose()?,
        address: user
            .address
            .as_ref()
            .map(|v| seal("address", v.as_str()))
            .transpose()?,
    };
    let key_row = NewDataKeyRow {
        user_id: id.as_bytes().to_vec(),
        kek_version: i32::try_from(keys.master.active_version()).unwrap_or(i32::MAX),
        wrapped_key: wrapped.as_bytes().to_vec(),
        created_at: now,
    };
    users::insert(connection, &row, &key_row).map_err(|error| match error {
        DbError::Conflict => VaultError::EmailTaken,
        other => VaultError::Db(other),
    })?;
    Ok(Registered {
        id,
        created_at: now,
    })
}

/// Loads and opens a user, or `None` when there is no such user.
pub fn fetch(
    connection: &mut DbConnection,
    keys: &KeyMaterial,
    id: Uuid,
) -> Result<Option<UserRecord>, VaultError> {
    let Some((row, wrapped)) = users::find_with_key(connection, id)? else {
        return Ok(None);
    };
    let data_key = keys
        .master
        .unwrap(id, &WrappedDataKey::from_bytes(wrapped))?;
    open(&row, id, &data_key).map(Some)
}

fn open(row: &UserRow, id: Uuid, data_key: &DataKey) -> Result<UserRecord, VaultError> {
    let open = |column: &str, sealed: &[u8]| -> Result<String, CryptoError> {
        let context = FieldContext {
            table: TABLE,
            column,
            row_id: id,
        };
        SealedField::from_bytes(sealed.to_vec()).open(data_key, context)
    };
    let open_optional = |column: &str, sealed: &Option<Vec<u8>>| {
        sealed
            .as_deref()
            .map(|sealed| open(column, sealed))
            .transpose()
    };
    Ok(UserRecord {
        id,
        first_name: open("first_name", &row.first_name)?,
        last_name: open("last_name", &row.last_name)?,
        email: open("email", &row.email)?,
        phone: open_optional("phone", &row.phone)?,
        national_id: open_optional("national_id", &row.national_id)?,
        date_of_birth: open_optional("date_of_birth", &row.date_of_birth)?,
        address: open_optional("address", &row.address)?,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

/// A user's data key, unwrapped, or `None` when there is no such user. Used by
/// everything else sealed under it (the user's files).
pub fn data_key(
    connection: &mut DbConnection,
    keys: &KeyMaterial,
    id: Uuid,
) -> Result<Option<DataKey>, VaultError> {
    let Some(wrapped) = users::find_key(connection, id)? else {
        return Ok(None);
    };
    Ok(Some(
        keys.master
            .unwrap(id, &WrappedDataKey::from_bytes(wrapped))?,
    ))
}

/// Destroys a user's data key, file rows and user row (crypto-shredding). Returns the
/// object names of the user's files, which the caller removes from the object store,
/// or `None` when there was no such user.
pub fn delete(connection: &mut DbConnection, id: Uuid) -> Result<Option<Vec<String>>, VaultError> {
    Ok(users::delete(connection, id)?)
}
