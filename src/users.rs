//! The user vault: a validated [`NewUser`] becomes sealed rows under a fresh data
//! key, and sealed rows become a [`UserRecord`] again. Every personal field is sealed
//! with its table, column and row id as associated data (DESIGN.md). Deleting a user
//! destroys its data key (crypto-shredding); exact look-ups by email, phone or
//! national id go through the blind indexes under every live index key version.

use std::fmt;

use chrono::NaiveDateTime;
use serde::Serialize;
use uuid::Uuid;

use crate::crypto::{CryptoError, DataKey, FieldContext, SealedField, WrappedDataKey};
use crate::db::users::{self, IndexedColumn, NewDataKeyRow, NewUserRow, UserRow};
use crate::db::{data_keys, version_column, DbConnection, DbError};
use crate::domain::{Email, NationalId, NewUser, Phone};
use crate::keys::{KeyMaterial, LiveKeys};
use crate::keystore::DataKeyStore;

pub use crate::db::users::Order;

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

impl crate::db::WorkError for VaultError {
    fn may_be_connection_failure(&self) -> bool {
        match self {
            Self::Db(error) => error.may_be_connection_failure(),
            Self::EmailTaken | Self::Crypto(_) => false,
        }
    }
}

/// A new user sealed under a fresh data key, ready to insert: the row, the wrapped
/// key, and the email's index under every other live index version (checked for
/// duplicates during a blind-index rotation).
pub struct SealedUser {
    pub id: Uuid,
    pub created_at: NaiveDateTime,
    pub row: NewUserRow,
    pub key: NewDataKeyRow,
    pub email_indexes_elsewhere: Vec<Vec<u8>>,
}

/// Seals `user` under a fresh data key wrapped by the active master key: the one way
/// a new user becomes rows (POST /users and `piivault seed` both come through here).
pub fn seal_new(keys: &KeyMaterial, user: &NewUser) -> Result<SealedUser, CryptoError> {
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
    let index_version = keys.blind_index.active_version();
    let email_indexes_elsewhere: Vec<Vec<u8>> = keys
        .blind_index
        .index_all("email", &user.email.normalized())
        .into_iter()
        .filter(|(version, _)| *version != index_version)
        .map(|(_, index)| index.0.to_vec())
        .collect();
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
        index_version: version_column(index_version),
    };
    let key = NewDataKeyRow {
        user_id: id.as_bytes().to_vec(),
        kek_version: version_column(keys.master.active_version()),
        wrapped_key: wrapped.as_bytes().to_vec(),
        created_at: now,
    };
    Ok(SealedUser {
        id,
        created_at: now,
        row,
        key,
        email_indexes_elsewhere,
    })
}

/// Seals and stores a new user with a fresh data key. With keys in the main
/// database, one transaction writes both; with a separate key store the wrapped key
/// is written first and deleted again if the user row is refused.
pub fn register(
    connection: &mut DbConnection,
    store: &DataKeyStore,
    keys: &KeyMaterial,
    user: &NewUser,
) -> Result<Registered, VaultError> {
    let SealedUser {
        id,
        created_at: now,
        row,
        key: key_row,
        email_indexes_elsewhere,
    } = seal_new(keys, user)?;
    let conflict = |error| match error {
        DbError::Conflict => VaultError::EmailTaken,
        other => VaultError::Db(other),
    };
    match store.connection()? {
        None => users::insert(connection, &row, Some(&key_row), &email_indexes_elsewhere)
            .map_err(conflict)?,
        Some(mut key_connection) => {
            data_keys::insert(&mut key_connection, &key_row)?;
            if let Err(error) = users::insert(connection, &row, None, &email_indexes_elsewhere) {
                // Best effort: a key left behind opens nothing (no row was written).
                if let Err(cleanup) = data_keys::delete(&mut key_connection, id) {
                    tracing::warn!(%id, error = %cleanup, "could not remove the data key of a refused user");
                }
                return Err(conflict(error));
            }
        }
    }
    Ok(Registered {
        id,
        created_at: now,
    })
}

/// Loads and opens a user, or `None` when there is no such user.
/// A user whose key was destroyed but whose rows remain (a shred interrupted between
/// the two databases) is `None` too: nothing of it can be opened.
pub fn fetch(
    connection: &mut DbConnection,
    store: &DataKeyStore,
    keys: &LiveKeys,
    id: Uuid,
) -> Result<Option<UserRecord>, VaultError> {
    let found = match store.connection()? {
        None => users::find_with_key(connection, id)?,
        Some(mut key_connection) => match users::find(connection, id)? {
            None => None,
            Some(row) => data_keys::find(&mut key_connection, id)?.map(|wrapped| (row, wrapped)),
        },
    };
    found
        .map(|(row, wrapped)| open_with_key(keys, id, &row, wrapped))
        .transpose()
}

/// Opens a user row with its wrapped data key (read together with the row).
pub fn open_with_key(
    keys: &LiveKeys,
    id: Uuid,
    row: &UserRow,
    wrapped: Vec<u8>,
) -> Result<UserRecord, VaultError> {
    let data_key = unwrap_data_key(keys, id, &WrappedDataKey::from_bytes(wrapped))?;
    open(row, id, &data_key)
}

/// Unwraps a user's data key with the live master keys. A key wrapped under a master
/// key version this instance has not loaded yet (rotated moments ago elsewhere) makes
/// it reload its keys once and try again; only the unwrap is repeated, never a read.
fn unwrap_data_key(
    keys: &LiveKeys,
    id: Uuid,
    wrapped: &WrappedDataKey,
) -> Result<DataKey, VaultError> {
    with_live_keys(keys, |keys| Ok(keys.master.unwrap(id, wrapped)?))
}

/// A user's data key, unwrapped, from wherever wrapped keys live; `None` when the
/// user has none (never registered, or shredded). For other sealed data of the user
/// (files, transactions), which must use this rather than read `data_keys` itself.
pub fn data_key(
    connection: &mut DbConnection,
    store: &DataKeyStore,
    keys: &LiveKeys,
    id: Uuid,
) -> Result<Option<DataKey>, VaultError> {
    let wrapped = match store.connection()? {
        None => data_keys::find(connection, id)?,
        Some(mut key_connection) => data_keys::find(&mut key_connection, id)?,
    };
    let Some(wrapped) = wrapped.map(WrappedDataKey::from_bytes) else {
        return Ok(None);
    };
    unwrap_data_key(keys, id, &wrapped).map(Some)
}

/// Opens one sealed column of a user row.
pub(crate) fn open_field(
    data_key: &DataKey,
    id: Uuid,
    column: &str,
    sealed: &[u8],
) -> Result<String, CryptoError> {
    let context = FieldContext {
        table: TABLE,
        column,
        row_id: id,
    };
    SealedField::from_bytes(sealed.to_vec()).open(data_key, context)
}

/// Runs `work` with the service's live keys: a data key wrapped under a master key
/// version this instance has not loaded yet (rotated moments ago elsewhere) makes it
/// reload its keys once and try again.
pub fn with_live_keys<T>(
    keys: &LiveKeys,
    work: impl FnMut(&KeyMaterial) -> Result<T, VaultError>,
) -> Result<T, VaultError> {
    keys.with_fresh(work, |error| {
        matches!(error, VaultError::Crypto(CryptoError::UnknownKeyVersion(_)))
    })
}

/// Stores many sealed users at once (seeding, imports): one transaction for the
/// batch. With a separate key store the keys are written there first; a key left
/// behind by a refused batch opens nothing.
pub fn store_many(
    connection: &mut DbConnection,
    store: &DataKeyStore,
    sealed: Vec<SealedUser>,
) -> Result<usize, VaultError> {
    let (rows, keys): (Vec<NewUserRow>, Vec<NewDataKeyRow>) =
        sealed.into_iter().map(|user| (user.row, user.key)).unzip();
    let written = match store.connection()? {
        None => users::insert_many(connection, &rows, Some(&keys))?,
        Some(mut key_connection) => {
            data_keys::insert_many(&mut key_connection, &keys)?;
            users::insert_many(connection, &rows, None)?
        }
    };
    Ok(written)
}

/// A page of opened users and the cursor of the next page (`None` on the last).
#[derive(Debug)]
pub struct UserPage {
    pub users: Vec<UserRecord>,
    pub next: Option<Uuid>,
}

/// One keyset page of users, opened, in `order` after the user `after`. Users whose
/// key is gone (a shred interrupted between two databases) are left out, but still
/// move the cursor.
pub fn page(
    connection: &mut DbConnection,
    store: &DataKeyStore,
    keys: &KeyMaterial,
    order: Order,
    after: Option<Uuid>,
    limit: u32,
) -> Result<UserPage, VaultError> {
    let rows = users::page(
        connection,
        order,
        after.as_ref().map(|id| id.as_bytes().as_slice()),
        i64::from(limit),
    )?;
    let next = if rows.len() == limit as usize {
        rows.last().and_then(|row| Uuid::from_slice(&row.id).ok())
    } else {
        None
    };
    Ok(UserPage {
        users: open_rows(connection, store, keys, rows)?,
        next,
    })
}

/// These users, opened, in id order (unknown ids are left out).
pub fn fetch_many(
    connection: &mut DbConnection,
    store: &DataKeyStore,
    keys: &KeyMaterial,
    ids: &[Uuid],
) -> Result<Vec<UserRecord>, VaultError> {
    let ids: Vec<Vec<u8>> = ids.iter().map(|id| id.as_bytes().to_vec()).collect();
    let rows = users::by_ids(connection, &ids)?;
    open_rows(connection, store, keys, rows)
}

/// How many users the vault holds.
pub fn count(connection: &mut DbConnection) -> Result<i64, VaultError> {
    Ok(users::count(connection)?)
}

/// Opens rows with their keys, fetched in one query from wherever keys live.
fn open_rows(
    connection: &mut DbConnection,
    store: &DataKeyStore,
    keys: &KeyMaterial,
    rows: Vec<UserRow>,
) -> Result<Vec<UserRecord>, VaultError> {
    let ids: Vec<Vec<u8>> = rows.iter().map(|row| row.id.clone()).collect();
    let wrapped: std::collections::HashMap<Vec<u8>, Vec<u8>> = match store.connection()? {
        None => data_keys::find_many(connection, &ids)?,
        Some(mut key_connection) => data_keys::find_many(&mut key_connection, &ids)?,
    }
    .into_iter()
    .collect();
    let mut opened = Vec::with_capacity(rows.len());
    for row in rows {
        let (Ok(id), Some(wrapped)) = (Uuid::from_slice(&row.id), wrapped.get(&row.id)) else {
            continue;
        };
        let data_key = keys
            .master
            .unwrap(id, &WrappedDataKey::from_bytes(wrapped.clone()))?;
        opened.push(open(&row, id, &data_key)?);
    }
    Ok(opened)
}

fn open(row: &UserRow, id: Uuid, data_key: &DataKey) -> Result<UserRecord, VaultError> {
    let open = |column: &str, sealed: &[u8]| open_field(data_key, id, column, sealed);
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

/// Destroys a user's data key, file rows and user row (crypto-shredding): DELETE
/// /users/{id} and `piivault users shred`. Returns the object names of the user's
/// files, which the caller removes from the object store, or `None` when there was no
/// such user. The key goes first: once it is gone nothing sealed under it opens, in
/// this database, in any copy of it or in the object store, even if deleting the rows
/// then fails (running the shred again removes them).
pub fn delete(
    connection: &mut DbConnection,
    store: &DataKeyStore,
    id: Uuid,
) -> Result<Option<Vec<String>>, VaultError> {
    match store.connection()? {
        None => Ok(users::delete(connection, id)?),
        Some(mut key_connection) => {
            let had_key = data_keys::delete(&mut key_connection, id)?;
            let objects = users::delete_rows(connection, id)?;
            Ok(objects.or_else(|| had_key.then(Vec::new)))
        }
    }
}

/// An exact look-up by a blind-indexed value. Its `Debug` names the column only:
/// the value is personal data.
#[derive(Clone, Copy)]
pub enum ExactLookup<'a> {
    Email(&'a Email),
    Phone(&'a Phone),
    NationalId(&'a NationalId),
}

impl fmt::Debug for ExactLookup<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let column = match self {
            Self::Email(_) => "email",
            Self::Phone(_) => "phone",
            Self::NationalId(_) => "national_id",
        };
        write!(f, "ExactLookup({column})")
    }
}

/// The ids of the users with exactly this email, phone or national id, oldest
/// first. The value is indexed under every live blind-index key version, so users
/// are found whether or not a rotation has reached them yet.
pub fn find_ids(
    connection: &mut DbConnection,
    keys: &KeyMaterial,
    lookup: ExactLookup<'_>,
) -> Result<Vec<Uuid>, VaultError> {
    let (column, name, normalized) = match lookup {
        ExactLookup::Email(email) => (IndexedColumn::Email, "email", email.normalized()),
        ExactLookup::Phone(phone) => (IndexedColumn::Phone, "phone", phone.normalized()),
        ExactLookup::NationalId(national_id) => (
            IndexedColumn::NationalId,
            "national_id",
            national_id.normalized(),
        ),
    };
    let values: Vec<Vec<u8>> = keys
        .blind_index
        .index_all(name, &normalized)
        .into_iter()
        .map(|(_, index)| index.0.to_vec())
        .collect();
    Ok(users::ids_by_index(connection, column, &values)?
        .into_iter()
        .filter_map(|id| Uuid::from_slice(&id).ok())
        .collect())
}
