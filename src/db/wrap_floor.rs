//! The master key floor: the lowest master key version a data key may be wrapped
//! under when it is stored, one row in the database that holds `data_keys`, and when
//! each master key version was made.
//!
//! Every transaction that stores a wrapped key (a registration, a seeded batch, a
//! rewrap) first reads the floor with [`check_wraps`] and is refused when a key is
//! below it; [`raise`] moves the floor up (a rotation, a rewrap); a retirement reads it
//! with [`lock_for_retirement`] before it counts the keys still under the version.
//!
//! Why this cannot race: on PostgreSQL the wrap reads the row `FOR SHARE` and holds
//! that lock until it commits; raising the floor updates the row, so it waits for
//! every wrap that read the old floor to commit, and every wrap that starts later
//! waits for the raise and reads the new floor. Once a raise has committed no key
//! below it can be stored, and every key stored below it before is committed, so a
//! retirement that counts them after the raise sees them all (it takes the row
//! `FOR UPDATE` too, so a wrap that read the floor is committed before it counts).
//! SQLite runs one writer at a time (`BEGIN IMMEDIATE`), so the read of the floor and
//! the insert that follows are never interleaved with a raise or a retirement.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::Integer;

use super::schema::{data_keys, master_key_floor, master_key_versions};
use super::{DbConnection, DbError};

/// The one row's key.
const ROW: i32 = 1;

#[derive(QueryableByName)]
struct FloorRow {
    #[diesel(sql_type = Integer)]
    min_wrap_version: i32,
}

/// The floor as stored now, outside any lock (for a report).
pub fn read(connection: &mut DbConnection) -> Result<i32, DbError> {
    master_key_floor::table
        .filter(master_key_floor::id.eq(ROW))
        .select(master_key_floor::min_wrap_version)
        .first(connection)
        .map_err(DbError::from)
}

/// Reads the floor inside the caller's write transaction, locked so that no raise or
/// retirement passes it until that transaction ends (`FOR SHARE` or `FOR UPDATE` on
/// PostgreSQL; SQLite's write transaction already excludes every other writer).
fn read_locked(connection: &mut DbConnection, lock: &str) -> Result<i32, DbError> {
    match connection {
        DbConnection::Postgres(connection) => diesel::sql_query(format!(
            "SELECT min_wrap_version FROM master_key_floor WHERE id = 1 {lock}"
        ))
        .get_result::<FloorRow>(connection)
        .map(|row| row.min_wrap_version)
        .map_err(DbError::from),
        DbConnection::Sqlite(_) => read(connection),
    }
}

/// Inside the caller's write transaction, before it stores keys wrapped under
/// `versions`: refuses with [`DbError::BelowWrapFloor`] when any is below the floor.
/// The floor stays share-locked until the transaction ends.
pub fn check_wraps(
    connection: &mut DbConnection,
    versions: impl IntoIterator<Item = i32>,
) -> Result<(), DbError> {
    let floor = read_locked(connection, "FOR SHARE")?;
    match versions.into_iter().min() {
        Some(lowest) if lowest < floor => Err(DbError::BelowWrapFloor { floor }),
        _ => Ok(()),
    }
}

/// Inside the caller's write transaction: the floor, locked against every wrap until
/// the transaction ends, for a retirement about to count what a version still wraps.
pub fn lock_for_retirement(connection: &mut DbConnection) -> Result<i32, DbError> {
    read_locked(connection, "FOR UPDATE")
}

/// Raises the floor to `version` (never lowers it). Returns the floor now.
pub fn raise(connection: &mut DbConnection, version: i32) -> Result<i32, DbError> {
    super::write_transaction(connection, |connection| {
        diesel::update(
            master_key_floor::table
                .filter(master_key_floor::id.eq(ROW))
                .filter(master_key_floor::min_wrap_version.lt(version)),
        )
        .set((
            master_key_floor::min_wrap_version.eq(version),
            master_key_floor::raised_at.eq(crate::time::now()),
        ))
        .execute(connection)?;
        read(connection)
    })
}

/// Records that master key `version` was made at `at` (kept when already recorded).
pub fn record_version(
    connection: &mut DbConnection,
    version: i32,
    at: NaiveDateTime,
) -> Result<(), DbError> {
    let recorded = master_key_versions::table
        .filter(master_key_versions::version.eq(version))
        .count()
        .get_result::<i64>(connection)?;
    if recorded == 0 {
        diesel::insert_into(master_key_versions::table)
            .values((
                master_key_versions::version.eq(version),
                master_key_versions::created_at.eq(at),
            ))
            .execute(connection)?;
    }
    Ok(())
}

/// Since when master key `version` has existed, as far as the database knows: when
/// it was made, if that was recorded, else when the oldest data key it wraps was made
/// (`None` when neither is known).
pub fn version_since(
    connection: &mut DbConnection,
    version: i32,
) -> Result<Option<VersionSince>, DbError> {
    let created = master_key_versions::table
        .filter(master_key_versions::version.eq(version))
        .select(master_key_versions::created_at)
        .first::<NaiveDateTime>(connection)
        .optional()?;
    if let Some(at) = created {
        return Ok(Some(VersionSince::Created(at)));
    }
    let oldest = data_keys::table
        .filter(data_keys::kek_version.eq(version))
        .select(diesel::dsl::min(data_keys::created_at))
        .first::<Option<NaiveDateTime>>(connection)?;
    Ok(oldest.map(VersionSince::OldestDataKey))
}

/// Where the age of a master key version comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionSince {
    /// Recorded when the version was made.
    Created(NaiveDateTime),
    /// Not recorded (made by `keys init`, or before versions were recorded): the
    /// oldest data key it wraps.
    OldestDataKey(NaiveDateTime),
}
