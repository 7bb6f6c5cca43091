//! Users: a validated [`NewUser`] becomes sealed rows under a fresh data key, and
//! sealed rows become a [`UserRecord`] again. Every personal field is sealed with its
//! table, column and row id as associated data (docs/formats.md). Reads are audited;
//! deleting a user destroys its data key (crypto-shredding); exact look-ups go
//! through the blind indexes (`indexes.rs`).

use std::fmt;

use chrono::NaiveDateTime;
use serde::Serialize;

use super::audit::{Action, RequestId, Subject};
use super::data_keys::{with_live_keys, DataKeyStore};
use super::indexes::{self, UserIndexes};
use super::{Core, Vault, VaultError};
use crate::access::Claim;
use crate::crypto::{CryptoError, DataKey, FieldContext, SealedField, WrappedDataKey};
use crate::db::transactions::{self as transaction_rows, NewTransactionRow};
use crate::db::users::{self as rows, NewDataKeyRow, NewUserRow, UserRow};
use crate::db::{data_keys as key_rows, version_column, DbConnection};
use crate::domain::{Address, DateOfBirth, Email, NationalId, NewUser, Phone};
use crate::id::UserId;
use crate::keys::KeyMaterial;

pub use crate::db::users::Order;

const TABLE: &str = "users";

/// A user, opened. Its `Debug` prints only the id: this value is personal data, wiped
/// from memory when dropped.
#[derive(Clone, Serialize, zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
pub struct UserRecord {
    #[zeroize(skip)]
    pub id: UserId,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub phone: Option<String>,
    pub national_id: Option<String>,
    pub date_of_birth: Option<String>,
    pub address: Option<String>,
    #[serde(serialize_with = "crate::time::serialize_rfc3339")]
    #[zeroize(skip)]
    pub created_at: NaiveDateTime,
    #[serde(serialize_with = "crate::time::serialize_rfc3339")]
    #[zeroize(skip)]
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

#[derive(Debug)]
pub struct Registered {
    pub id: UserId,
    pub created_at: NaiveDateTime,
}

/// An exact look-up by a blind-indexed value. Its `Debug` names the field only: the
/// value is personal data.
pub enum ExactLookup {
    Email(Email),
    Phone(Phone),
    NationalId(NationalId),
}

impl fmt::Debug for ExactLookup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let field = match self {
            Self::Email(_) => "email",
            Self::Phone(_) => "phone",
            Self::NationalId(_) => "national_id",
        };
        write!(f, "ExactLookup({field})")
    }
}

impl ExactLookup {
    /// Whether `user` (opened) holds the value looked up. A truncated blind index
    /// finds candidates that share the index value; this keeps the one(s) that share
    /// the value itself (as its domain type normalizes it).
    fn matches(&self, user: &UserRecord) -> bool {
        match self {
            Self::Email(email) => Email::parse(&user.email)
                .is_ok_and(|stored| stored.normalized() == email.normalized()),
            Self::Phone(phone) => user.phone.as_deref().is_some_and(|stored| {
                Phone::parse(stored).is_ok_and(|stored| stored.normalized() == phone.normalized())
            }),
            Self::NationalId(national_id) => user.national_id.as_deref().is_some_and(|stored| {
                NationalId::parse(stored)
                    .is_ok_and(|stored| stored.normalized() == national_id.normalized())
            }),
        }
    }
}

/// What GET /users asks for: a keyset page, or the users matching one exact value.
#[derive(Debug)]
pub struct UserQuery {
    pub order: Order,
    /// The `next` cursor of the previous page.
    pub after: Option<UserId>,
    pub limit: u32,
    pub search: Option<ExactLookup>,
}

/// A page of opened users, how many users there are (or how many match a search),
/// and the cursor of the next page (`None` on the last, and for a search).
#[derive(Debug)]
pub struct UserPage {
    pub users: Vec<UserRecord>,
    pub total: i64,
    pub next: Option<UserId>,
}

/// A new user sealed under a fresh data key, ready to insert: the row, the wrapped
/// key, and the email's index under every other live index version (checked for
/// duplicates during a blind-index rotation).
pub struct SealedUser {
    pub id: UserId,
    pub created_at: NaiveDateTime,
    pub row: NewUserRow,
    pub key: NewDataKeyRow,
    pub email_indexes_elsewhere: Vec<Vec<u8>>,
}

fn context(column: &str, id: UserId) -> FieldContext<'_> {
    FieldContext::new(TABLE, column, id.uuid())
}

/// Seals `user` under a fresh data key wrapped by the active master key: the one way a
/// new user becomes rows (POST /users and `piivault seed` both come through here).
/// Returns the data key too, for whatever else is sealed for the user at once.
pub fn seal_new(keys: &KeyMaterial, user: &NewUser) -> Result<(SealedUser, DataKey), CryptoError> {
    let id = UserId::generate();
    let now = crate::time::now();
    let data_key = DataKey::generate()?;
    let wrapped = keys.master.wrap(id.uuid(), &data_key)?;
    let seal = |column: &str, value: &str| -> Result<Vec<u8>, CryptoError> {
        SealedField::seal(&data_key, context(column, id), value).map(SealedField::into_bytes)
    };
    let seal_optional =
        |column: &str, value: Option<&str>| value.map(|value| seal(column, value)).transpose();
    let index_version = keys.blind_index.active_version();
    let indexes = UserIndexes::compute(
        &keys.blind_index,
        index_version,
        &user.email,
        user.phone.as_ref(),
        user.national_id.as_ref(),
    )?;
    let row = NewUserRow {
        id,
        created_at: now,
        updated_at: now,
        email_index: indexes.email,
        phone_index: indexes.phone,
        national_id_index: indexes.national_id,
        first_name: seal("first_name", user.first_name.as_str())?,
        last_name: seal("last_name", user.last_name.as_str())?,
        email: seal("email", user.email.as_str())?,
        phone: seal_optional("phone", user.phone.as_ref().map(Phone::as_str))?,
        national_id: seal_optional(
            "national_id",
            user.national_id.as_ref().map(NationalId::as_str),
        )?,
        date_of_birth: seal_optional(
            "date_of_birth",
            user.date_of_birth.map(DateOfBirth::to_iso).as_deref(),
        )?,
        address: seal_optional("address", user.address.as_ref().map(Address::as_str))?,
        index_version: version_column(index_version),
    };
    let key = NewDataKeyRow {
        user_id: id,
        kek_version: version_column(keys.master.active_version()),
        wrapped_key: wrapped.as_bytes().to_vec(),
        created_at: now,
    };
    let sealed = SealedUser {
        id,
        created_at: now,
        row,
        key,
        email_indexes_elsewhere: indexes::email_under_other_versions(
            &keys.blind_index,
            &user.email,
            index_version,
        ),
    };
    Ok((sealed, data_key))
}

/// Opens one sealed column of a user row; a value that does not open is logged by
/// user and column (never by content) before the error goes up.
pub(crate) fn open_field(
    data_key: &DataKey,
    id: UserId,
    column: &str,
    sealed: &[u8],
) -> Result<String, CryptoError> {
    SealedField::from_bytes(sealed.to_vec())
        .open(data_key, context(column, id))
        .inspect_err(|error| {
            tracing::error!(user_id = %id, column, %error, "a stored user value does not open");
        })
}

/// A user row with every sealed column in the current format (the reseal job); each
/// older value must open first.
pub(crate) fn reseal_row(data_key: &DataKey, row: UserRow) -> Result<UserRow, CryptoError> {
    let id = row.id;
    let reseal = |column: &str, sealed: Vec<u8>| {
        SealedField::from_bytes(sealed)
            .into_current_format(data_key, context(column, id))
            .map(SealedField::into_bytes)
    };
    let reseal_optional = |column: &str, sealed: Option<Vec<u8>>| {
        sealed.map(|sealed| reseal(column, sealed)).transpose()
    };
    Ok(UserRow {
        first_name: reseal("first_name", row.first_name)?,
        last_name: reseal("last_name", row.last_name)?,
        email: reseal("email", row.email)?,
        phone: reseal_optional("phone", row.phone)?,
        national_id: reseal_optional("national_id", row.national_id)?,
        date_of_birth: reseal_optional("date_of_birth", row.date_of_birth)?,
        address: reseal_optional("address", row.address)?,
        ..row
    })
}

/// A user's row and wrapped data key, or `None` when there is no such user or its key
/// is gone (a shred interrupted between the two databases): nothing of it can be
/// opened.
pub(crate) fn find_sealed(
    data_keys: &DataKeyStore,
    connection: &mut DbConnection,
    id: UserId,
) -> Result<Option<(UserRow, Vec<u8>)>, VaultError> {
    Ok(match data_keys.connection()? {
        None => rows::find_with_key(connection, id)?,
        Some(mut keys) => match rows::find(connection, id)? {
            None => None,
            Some(row) => key_rows::find(&mut keys, id)?.map(|wrapped| (row, wrapped)),
        },
    })
}

/// Opens a user row with its data key.
pub(crate) fn open(row: &UserRow, data_key: &DataKey) -> Result<UserRecord, VaultError> {
    let id = row.id;
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

impl Vault {
    /// GET /users: a keyset page of users, or the users matching one exact value (only
    /// they are opened); audited with the number of users read.
    pub async fn list_users(
        &self,
        claim: Claim,
        request: RequestId,
        query: UserQuery,
    ) -> Result<UserPage, VaultError> {
        self.audited(
            claim,
            request,
            Action::UsersList,
            move |core, connection, _| {
                let page = with_live_keys(&core.keys, |keys| core.page(connection, keys, &query))?;
                let read = Subject::Users(page.users.len());
                Ok((page, read))
            },
        )
        .await
    }

    /// DELETE /users/{id}: crypto-shreds the user (see [`Vault::shred`]).
    pub async fn delete_user(&self, claim: Claim, id: UserId) -> Result<(), VaultError> {
        let objects = self
            .as_client(claim, move |core, connection, _| {
                core.delete_rows(connection, id)
            })
            .await?
            .ok_or(VaultError::NotFound)?;
        self.core.files.delete_quietly(&objects).await;
        Ok(())
    }

    /// Destroys a user's data key, file rows and user row, then its file objects (an
    /// object that cannot be deleted is logged and left: without the key it can never
    /// be opened). Returns how many files the user had, or `None` when there was no
    /// such user. For the operator (`piivault users shred`); the API's DELETE checks
    /// its caller first.
    pub async fn shred(&self, id: UserId) -> Result<Option<usize>, VaultError> {
        let Some(objects) = self
            .with_connection(move |core, connection| core.delete_rows(connection, id))
            .await?
        else {
            return Ok(None);
        };
        self.core.files.delete_quietly(&objects).await;
        Ok(Some(objects.len()))
    }

    /// Stores a batch of sealed users and their sealed transactions (seeding,
    /// imports) in one transaction of the main database: all or nothing. With a
    /// separate key store the keys are written there first; a key left behind by a
    /// refused batch opens nothing. Blocking: for the command line.
    pub fn store_sealed_batch(
        &self,
        users: Vec<SealedUser>,
        transactions: &[NewTransactionRow],
    ) -> Result<usize, VaultError> {
        let (rows, keys): (Vec<NewUserRow>, Vec<NewDataKeyRow>) =
            users.into_iter().map(|user| (user.row, user.key)).unzip();
        let keys_here = match self.core.data_keys.connection()? {
            None => Some(keys.as_slice()),
            Some(mut separate) => {
                key_rows::insert_many(&mut separate, &keys)?;
                None
            }
        };
        crate::db::run(&self.core.pool, |connection| {
            crate::db::write_transaction(connection, |connection| {
                if let Some(keys) = keys_here {
                    crate::db::wrap_floor::check_wraps(
                        connection,
                        keys.iter().map(|key| key.kek_version),
                    )?;
                }
                let written = rows::insert_many(connection, &rows, keys_here)?;
                transaction_rows::insert_many(connection, transactions)?;
                Ok::<_, VaultError>(written)
            })
        })
    }
}

impl Core {
    /// Loads and opens a user, or `None` when there is no such user. A user whose key
    /// was destroyed but whose rows remain (a shred interrupted between the two
    /// databases) is `None` too: nothing of it can be opened.
    pub(crate) fn fetch(
        &self,
        connection: &mut DbConnection,
        id: UserId,
    ) -> Result<Option<UserRecord>, VaultError> {
        find_sealed(&self.data_keys, connection, id)?
            .map(|(row, wrapped)| {
                let data_key = self.unwrap_data_key(id, &WrappedDataKey::from_bytes(wrapped))?;
                open(&row, &data_key)
            })
            .transpose()
    }

    /// One page of users, or the users matching the search.
    fn page(
        &self,
        connection: &mut DbConnection,
        keys: &KeyMaterial,
        query: &UserQuery,
    ) -> Result<UserPage, VaultError> {
        let Some(search) = &query.search else {
            let (users, next) =
                self.keyset_page(connection, keys, query.order, query.after, query.limit)?;
            let total = rows::count(connection)?;
            return Ok(UserPage { users, total, next });
        };
        // Every candidate the index finds is opened, and only those holding the value
        // are kept: with a truncated index (phone, national id) several people share
        // an index value; with a full one the candidates are the matches.
        let (column, values) = indexes::lookup(&keys.blind_index, search);
        let candidates = rows::ids_by_index(connection, column, &values)?;
        let found = rows::by_ids(connection, &candidates)?;
        let mut users: Vec<UserRecord> = self
            .open_rows(connection, keys, found)?
            .into_iter()
            .filter(|user| search.matches(user))
            .collect();
        users.sort_by_key(|user| user.id);
        let total = i64::try_from(users.len()).unwrap_or(i64::MAX);
        if query.order == Order::NewestFirst {
            users.reverse();
        }
        users.truncate(query.limit as usize);
        Ok(UserPage {
            users,
            total,
            next: None,
        })
    }

    /// One keyset page of users, opened, in `order` after the user `after`, and the
    /// cursor of the next page (`None` on the last). Users whose key is gone (a shred
    /// interrupted between two databases) are left out, but still move the cursor.
    pub(crate) fn keyset_page(
        &self,
        connection: &mut DbConnection,
        keys: &KeyMaterial,
        order: Order,
        after: Option<UserId>,
        limit: u32,
    ) -> Result<(Vec<UserRecord>, Option<UserId>), VaultError> {
        let found = rows::page(connection, order, after, i64::from(limit))?;
        let next = if found.len() == limit as usize {
            found.last().map(|row| row.id)
        } else {
            None
        };
        Ok((self.open_rows(connection, keys, found)?, next))
    }

    /// Opens rows with their keys, fetched in one query from wherever keys live.
    fn open_rows(
        &self,
        connection: &mut DbConnection,
        keys: &KeyMaterial,
        found: Vec<UserRow>,
    ) -> Result<Vec<UserRecord>, VaultError> {
        let ids: Vec<UserId> = found.iter().map(|row| row.id).collect();
        let wrapped = self.wrapped_keys(connection, &ids)?;
        let mut opened = Vec::with_capacity(found.len());
        for row in found {
            let Some(wrapped) = wrapped.get(&row.id) else {
                continue;
            };
            let data_key = self.unwrap_with(keys, row.id, wrapped)?;
            opened.push(open(&row, &data_key)?);
        }
        Ok(opened)
    }

    /// Destroys a user's data key, file rows and user row; returns the object names of
    /// the user's files, or `None` when there was no such user. The key goes first:
    /// once it is gone nothing sealed under it opens, in this database, in any copy of
    /// it or in the object store, even if deleting the rows then fails (running the
    /// shred again removes them).
    fn delete_rows(
        &self,
        connection: &mut DbConnection,
        id: UserId,
    ) -> Result<Option<Vec<String>>, VaultError> {
        self.forget_data_key(id);
        match self.data_keys.connection()? {
            None => Ok(rows::delete(connection, id)?),
            Some(mut keys) => {
                let had_key = key_rows::delete(&mut keys, id)?;
                let objects = rows::delete_rows(connection, id)?;
                Ok(objects.or_else(|| had_key.then(Vec::new)))
            }
        }
    }
}
