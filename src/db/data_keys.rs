//! Wrapped data keys on their own, wherever they live (the main database or a
//! separate key store): single-key reads and writes for the split path, and the
//! batches the master-key rewrap job works through.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{Array, Binary, Integer};

use super::schema::data_keys;
use super::users::NewDataKeyRow;
use super::{wrap_floor, DbConnection, DbError};
use crate::id::UserId;

/// A stored wrapped key with what the rewrap job needs to know about it.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = data_keys)]
pub struct DataKeyRow {
    pub user_id: UserId,
    pub kek_version: i32,
    pub wrapped_key: Vec<u8>,
    pub created_at: NaiveDateTime,
}

/// A key the rewrap job wrapped again: written only if the row is still under
/// `old_version` (another job or a shred may have got there first).
#[derive(Debug)]
pub struct Rewrapped {
    pub user_id: UserId,
    pub old_version: i32,
    pub wrapped_key: Vec<u8>,
}

/// Inserts many keys (registrations with a separate key store, seeding, importing) in
/// one write transaction that first checks them against the master key floor
/// (`wrap_floor`): multi-row statements on PostgreSQL (batch inserts do not compile
/// through `MultiConnection`), single inserts on SQLite.
pub fn insert_many(
    connection: &mut DbConnection,
    keys: &[NewDataKeyRow],
) -> Result<usize, DbError> {
    super::write_transaction(connection, |connection| {
        wrap_floor::check_wraps(connection, keys.iter().map(|key| key.kek_version))?;
        insert_many_unchecked(connection, keys)
    })
}

fn insert_many_unchecked(
    connection: &mut DbConnection,
    keys: &[NewDataKeyRow],
) -> Result<usize, DbError> {
    match connection {
        DbConnection::Postgres(connection) => {
            let mut written = 0;
            for chunk in keys.chunks(1000) {
                written += diesel::insert_into(data_keys::table)
                    .values(chunk)
                    .execute(connection)?;
            }
            Ok(written)
        }
        DbConnection::Sqlite(connection) => {
            let mut written = 0;
            for key in keys {
                written += diesel::insert_into(data_keys::table)
                    .values(key)
                    .execute(connection)?;
            }
            Ok(written)
        }
    }
}

pub fn find(connection: &mut DbConnection, user_id: UserId) -> Result<Option<Vec<u8>>, DbError> {
    data_keys::table
        .filter(data_keys::user_id.eq(user_id))
        .select(data_keys::wrapped_key)
        .first(connection)
        .optional()
        .map_err(DbError::from)
}

/// `(user_id, wrapped_key)` as stored.
pub type StoredKey = (UserId, Vec<u8>);

/// The wrapped keys of several users.
pub fn find_many(
    connection: &mut DbConnection,
    user_ids: &[UserId],
) -> Result<Vec<StoredKey>, DbError> {
    data_keys::table
        .filter(data_keys::user_id.eq_any(user_ids))
        .select((data_keys::user_id, data_keys::wrapped_key))
        .load(connection)
        .map_err(DbError::from)
}

/// Destroys a user's wrapped key. Returns whether there was one.
pub fn delete(connection: &mut DbConnection, user_id: UserId) -> Result<bool, DbError> {
    let deleted = diesel::delete(data_keys::table.filter(data_keys::user_id.eq(user_id)))
        .execute(connection)?;
    Ok(deleted > 0)
}

/// How many keys each master key version wraps, ascending by version.
pub fn count_by_version(connection: &mut DbConnection) -> Result<Vec<(i32, i64)>, DbError> {
    data_keys::table
        .group_by(data_keys::kek_version)
        .select((data_keys::kek_version, diesel::dsl::count_star()))
        .order_by(data_keys::kek_version)
        .load(connection)
        .map_err(DbError::from)
}

/// The next `limit` keys after `after` (by user id) not wrapped under `version`.
pub fn batch_not_under(
    connection: &mut DbConnection,
    version: i32,
    after: Option<UserId>,
    limit: i64,
) -> Result<Vec<DataKeyRow>, DbError> {
    let mut query = data_keys::table
        .filter(data_keys::kek_version.ne(version))
        .select(DataKeyRow::as_select())
        .order_by(data_keys::user_id)
        .limit(limit)
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(data_keys::user_id.gt(after));
    }
    query.load(connection).map_err(DbError::from)
}

/// Writes a batch of rewrapped keys, each only where the row still holds the old
/// version (optimistic: a concurrent job or a shred wins), in one write transaction
/// that first checks `new_version` against the master key floor (`wrap_floor`).
/// Returns how many were written. PostgreSQL gets one statement for the batch;
/// SQLite, in-process, single updates.
pub fn write_rewrapped(
    connection: &mut DbConnection,
    new_version: i32,
    batch: &[Rewrapped],
) -> Result<usize, DbError> {
    if batch.is_empty() {
        return Ok(0);
    }
    super::write_transaction(connection, |connection| {
        wrap_floor::check_wraps(connection, [new_version])?;
        write_rewrapped_unchecked(connection, new_version, batch)
    })
}

fn write_rewrapped_unchecked(
    connection: &mut DbConnection,
    new_version: i32,
    batch: &[Rewrapped],
) -> Result<usize, DbError> {
    match connection {
        DbConnection::Postgres(connection) => {
            let ids: Vec<UserId> = batch.iter().map(|key| key.user_id).collect();
            let wrapped: Vec<&[u8]> = batch.iter().map(|key| key.wrapped_key.as_slice()).collect();
            let old: Vec<i32> = batch.iter().map(|key| key.old_version).collect();
            diesel::sql_query(
                "UPDATE data_keys AS d SET wrapped_key = v.wrapped_key, kek_version = $1 \
                 FROM unnest($2::bytea[], $3::bytea[], $4::int4[]) AS v(user_id, wrapped_key, old_version) \
                 WHERE d.user_id = v.user_id AND d.kek_version = v.old_version",
            )
            .bind::<Integer, _>(new_version)
            .bind::<Array<Binary>, _>(ids)
            .bind::<Array<Binary>, _>(wrapped)
            .bind::<Array<Integer>, _>(old)
            .execute(connection)
            .map_err(DbError::from)
        }
        DbConnection::Sqlite(connection) => {
            let mut written = 0;
            for key in batch {
                written += diesel::update(
                    data_keys::table
                        .filter(data_keys::user_id.eq(key.user_id))
                        .filter(data_keys::kek_version.eq(key.old_version)),
                )
                .set((
                    data_keys::kek_version.eq(new_version),
                    data_keys::wrapped_key.eq(&key.wrapped_key),
                ))
                .execute(connection)?;
            }
            Ok(written)
        }
    }
}
