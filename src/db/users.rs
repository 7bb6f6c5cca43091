//! User rows: sealed personal fields, blind indexes (with the key version they were
//! computed under) and, when keys share the main database, the user's wrapped data key.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{data_keys, users};
use super::{DbConnection, DbError};
use crate::id::UserId;

/// A stored user, every personal value still sealed.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: UserId,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub first_name: Vec<u8>,
    pub last_name: Vec<u8>,
    pub email: Vec<u8>,
    pub phone: Option<Vec<u8>>,
    pub national_id: Option<Vec<u8>>,
    pub date_of_birth: Option<Vec<u8>>,
    pub address: Option<Vec<u8>>,
}

/// A new user as inserted: sealed fields plus the blind indexes that find it.
#[derive(Debug, Insertable)]
#[diesel(table_name = users)]
pub struct NewUserRow {
    pub id: UserId,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub email_index: Vec<u8>,
    pub phone_index: Option<Vec<u8>>,
    pub national_id_index: Option<Vec<u8>>,
    pub first_name: Vec<u8>,
    pub last_name: Vec<u8>,
    pub email: Vec<u8>,
    pub phone: Option<Vec<u8>>,
    pub national_id: Option<Vec<u8>>,
    pub date_of_birth: Option<Vec<u8>>,
    pub address: Option<Vec<u8>>,
    pub index_version: i32,
}

/// What the blind-index job reads to recompute a user's indexes.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct IndexSourceRow {
    pub id: UserId,
    pub index_version: i32,
    pub email: Vec<u8>,
    pub phone: Option<Vec<u8>>,
    pub national_id: Option<Vec<u8>>,
}

/// A user's indexes recomputed under another key version.
#[derive(Debug)]
pub struct Reindexed {
    pub id: UserId,
    pub old_version: i32,
    pub email_index: Vec<u8>,
    pub phone_index: Option<Vec<u8>>,
    pub national_id_index: Option<Vec<u8>>,
}

/// The blind-indexed columns an exact look-up can search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexedColumn {
    Email,
    Phone,
    NationalId,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = data_keys)]
pub struct NewDataKeyRow {
    pub user_id: UserId,
    pub kek_version: i32,
    pub wrapped_key: Vec<u8>,
    pub created_at: NaiveDateTime,
}

/// Inserts a user and, when keys share this database, its wrapped data key, in one
/// transaction: both or neither. A duplicate email is [`DbError::Conflict`]: under the
/// same index version the unique constraint says so; `email_indexes_elsewhere` (the
/// email's index under every other live version, during a blind-index rotation) is
/// checked in the same transaction.
pub fn insert(
    connection: &mut DbConnection,
    user: &NewUserRow,
    data_key: Option<&NewDataKeyRow>,
    email_indexes_elsewhere: &[Vec<u8>],
) -> Result<(), DbError> {
    connection.transaction(|connection| {
        // Write first, check after: on SQLite a transaction that reads before it
        // writes cannot wait for the write lock (it fails at once with "database is
        // locked" while another writer is busy); one that starts by writing waits.
        diesel::insert_into(users::table)
            .values(user)
            .execute(connection)?;
        if !email_indexes_elsewhere.is_empty() {
            let taken: i64 = users::table
                .filter(users::email_index.eq_any(email_indexes_elsewhere))
                .count()
                .get_result(connection)?;
            if taken > 0 {
                return Err(DbError::Conflict);
            }
        }
        if let Some(data_key) = data_key {
            diesel::insert_into(data_keys::table)
                .values(data_key)
                .execute(connection)?;
        }
        Ok::<_, DbError>(())
    })
}

/// A user's row without its key (keys in a separate store), or `None`.
pub fn find(connection: &mut DbConnection, id: UserId) -> Result<Option<UserRow>, DbError> {
    users::table
        .filter(users::id.eq(id))
        .select(UserRow::as_select())
        .first(connection)
        .optional()
        .map_err(DbError::from)
}

/// A user's row with its wrapped data key, or `None`.
pub fn find_with_key(
    connection: &mut DbConnection,
    id: UserId,
) -> Result<Option<(UserRow, Vec<u8>)>, DbError> {
    users::table
        .inner_join(data_keys::table)
        .filter(users::id.eq(id))
        .select((UserRow::as_select(), data_keys::wrapped_key))
        .first(connection)
        .optional()
        .map_err(DbError::from)
}

/// Deletes a user's data key, file rows and user row in one transaction. Returns the
/// object names of the user's files (for the caller to remove from the object store),
/// or `None` when there was no such user. The key goes first: from then on nothing
/// sealed under it can be opened, objects included.
pub fn delete(connection: &mut DbConnection, id: UserId) -> Result<Option<Vec<String>>, DbError> {
    super::write_transaction(connection, |connection| {
        lock_against_new_children(connection, id)?;
        diesel::delete(data_keys::table.filter(data_keys::user_id.eq(id))).execute(connection)?;
        delete_rows_of(connection, id)
    })
}

/// Deletes a user's file rows and user row only (its key lives, or lived, in a
/// separate store); returns the object names as [`delete`] does.
pub fn delete_rows(
    connection: &mut DbConnection,
    id: UserId,
) -> Result<Option<Vec<String>>, DbError> {
    super::write_transaction(connection, |connection| {
        lock_against_new_children(connection, id)?;
        delete_rows_of(connection, id)
    })
}

/// Locks the user's row for the rest of the deleting transaction, so that a file row
/// (or other child row) inserted concurrently either committed before, and is deleted
/// and reported with the rest, or waits and then fails its foreign-key check. Without
/// it, on PostgreSQL a file row committed between the delete of the user's files and
/// the delete of the user vanished by `ON DELETE CASCADE`, its object never reported,
/// and so never removed. SQLite needs no lock: its writers take turns.
fn lock_against_new_children(connection: &mut DbConnection, id: UserId) -> Result<(), DbError> {
    if let DbConnection::Postgres(connection) = connection {
        users::table
            .filter(users::id.eq(id))
            .select(users::id)
            .for_update()
            .load::<UserId>(connection)?;
    }
    Ok(())
}

fn delete_rows_of(
    connection: &mut DbConnection,
    id: UserId,
) -> Result<Option<Vec<String>>, DbError> {
    let objects = super::files::delete_all_for_user(connection, id)?;
    let deleted = diesel::delete(users::table.filter(users::id.eq(id))).execute(connection)?;
    Ok((deleted > 0).then_some(objects))
}

/// Ids of the users whose `column` index is one of `values` (a value per live
/// index version), oldest first.
pub fn ids_by_index(
    connection: &mut DbConnection,
    column: IndexedColumn,
    values: &[Vec<u8>],
) -> Result<Vec<UserId>, DbError> {
    let query = users::table.select(users::id).order_by(users::id);
    match column {
        IndexedColumn::Email => query
            .filter(users::email_index.eq_any(values))
            .load(connection),
        IndexedColumn::Phone => query
            .filter(users::phone_index.eq_any(values))
            .load(connection),
        IndexedColumn::NationalId => query
            .filter(users::national_id_index.eq_any(values))
            .load(connection),
    }
    .map_err(DbError::from)
}

/// How many users are indexed under each blind-index version, ascending.
pub fn count_by_index_version(connection: &mut DbConnection) -> Result<Vec<(i32, i64)>, DbError> {
    users::table
        .group_by(users::index_version)
        .select((users::index_version, diesel::dsl::count_star()))
        .order_by(users::index_version)
        .load(connection)
        .map_err(DbError::from)
}

/// The next `limit` users after `after` (by id) not indexed under `version`.
pub fn batch_not_indexed_under(
    connection: &mut DbConnection,
    version: i32,
    after: Option<UserId>,
    limit: i64,
) -> Result<Vec<IndexSourceRow>, DbError> {
    let mut query = users::table
        .filter(users::index_version.ne(version))
        .select(IndexSourceRow::as_select())
        .order_by(users::id)
        .limit(limit)
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(users::id.gt(after));
    }
    query.load(connection).map_err(DbError::from)
}

/// Writes recomputed indexes, each only where the row is still under its old
/// version. Returns how many rows were written.
pub fn write_reindexed(
    connection: &mut DbConnection,
    new_version: i32,
    batch: &[Reindexed],
) -> Result<usize, DbError> {
    connection.transaction(|connection| {
        let mut written = 0;
        for row in batch {
            written += diesel::update(
                users::table
                    .filter(users::id.eq(row.id))
                    .filter(users::index_version.eq(row.old_version)),
            )
            .set((
                users::index_version.eq(new_version),
                users::email_index.eq(&row.email_index),
                users::phone_index.eq(&row.phone_index),
                users::national_id_index.eq(&row.national_id_index),
            ))
            .execute(connection)?;
        }
        Ok::<_, DbError>(written)
    })
}

/// Inserts many sealed users (and, when keys share this database, their keys) in
/// one transaction: multi-row statements on PostgreSQL (batch inserts do not compile
/// through `MultiConnection`), single inserts on SQLite (which has no per-statement
/// round trip to save). For seeding and imports; a duplicate email fails the batch.
pub fn insert_many(
    connection: &mut DbConnection,
    new_users: &[NewUserRow],
    keys: Option<&[NewDataKeyRow]>,
) -> Result<usize, DbError> {
    // Bind parameters per statement stay far under PostgreSQL's 65,535 (14 a row).
    const CHUNK: usize = 1000;
    match connection {
        DbConnection::Postgres(connection) => connection.transaction(|connection| {
            let mut written = 0;
            for chunk in new_users.chunks(CHUNK) {
                written += diesel::insert_into(users::table)
                    .values(chunk)
                    .execute(connection)?;
            }
            for chunk in keys.unwrap_or_default().chunks(CHUNK) {
                diesel::insert_into(data_keys::table)
                    .values(chunk)
                    .execute(connection)?;
            }
            Ok::<_, DbError>(written)
        }),
        DbConnection::Sqlite(connection) => connection.transaction(|connection| {
            let mut written = 0;
            for user in new_users {
                written += diesel::insert_into(users::table)
                    .values(user)
                    .execute(connection)?;
            }
            for key in keys.unwrap_or_default() {
                diesel::insert_into(data_keys::table)
                    .values(key)
                    .execute(connection)?;
            }
            Ok::<_, DbError>(written)
        }),
    }
}

/// Newest or oldest first: by id, which is a UUIDv7 and so orders by creation time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    NewestFirst,
    OldestFirst,
}

/// One keyset page: the `limit` users after the user `after` in `order`. Uses the
/// primary key index whatever the table size (no OFFSET).
pub fn page(
    connection: &mut DbConnection,
    order: Order,
    after: Option<UserId>,
    limit: i64,
) -> Result<Vec<UserRow>, DbError> {
    let mut query = users::table
        .select(UserRow::as_select())
        .limit(limit)
        .into_boxed();
    query = match order {
        Order::NewestFirst => query.order_by(users::id.desc()),
        Order::OldestFirst => query.order_by(users::id.asc()),
    };
    if let Some(after) = after {
        query = match order {
            Order::NewestFirst => query.filter(users::id.lt(after)),
            Order::OldestFirst => query.filter(users::id.gt(after)),
        };
    }
    query.load(connection).map_err(DbError::from)
}

/// The rows of these users (found by a look-up), in id order.
pub fn by_ids(connection: &mut DbConnection, ids: &[UserId]) -> Result<Vec<UserRow>, DbError> {
    users::table
        .filter(users::id.eq_any(ids))
        .select(UserRow::as_select())
        .order_by(users::id)
        .load(connection)
        .map_err(DbError::from)
}

/// How many users there are.
pub fn count(connection: &mut DbConnection) -> Result<i64, DbError> {
    users::table
        .count()
        .get_result(connection)
        .map_err(DbError::from)
}
