//! The master key floor: the lowest master key version a data key may be wrapped
//! under when it is stored, one row in the database that holds `data_keys`, and when
//! each master key version was made.
//!
//! Every transaction that stores a wrapped key (a seeded batch, a rewrap) first reads
//! the floor with [`check_wraps`] and is refused when a key is below it (a
//! registration reads it in the statement that stores it, `db::users`); [`raise`]
//! moves the floor up (a rotation, a rewrap); a retirement reads it with
//! [`lock_for_retirement`] before it counts the keys still under the version.
//!
//! Why this cannot race: on PostgreSQL a wrap takes a transaction-scoped advisory
//! lock on the floor in shared mode, then reads the floor with a snapshot taken after
//! the lock, and holds the lock until it commits; a raise and a retirement take the
//! same lock exclusively. So a raise waits for every wrap that read the old floor to
//! commit, and a wrap that starts later waits for the raise to commit, then reads
//! the new floor. Both steps are the database function `piivault_wrap_floor()` (a
//! migration of `2026-11-29`), one round trip: a VOLATILE function takes a fresh
//! snapshot for each statement it runs, so under READ COMMITTED its read after the
//! lock sees what a statement of its own after the lock would. Once a raise has
//! committed no key below it can be stored, and every key stored below it before is
//! committed, so a retirement that counts them after the raise sees them all (its
//! exclusive lock also waits for any wrap in flight). An advisory lock, not `FOR
//! SHARE` on the row: a row lock writes the locker into the row, a WAL record per
//! registration batch that cost POST /users about a quarter of its rate
//! (BENCHMARKS.md); an advisory lock lives in shared memory only.
//! SQLite runs one writer at a time (`BEGIN IMMEDIATE`), so the read of the floor and
//! the insert that follows are never interleaved with a raise or a retirement.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{data_keys, master_key_floor, master_key_versions};
use super::{DbConnection, DbError};

/// The one row's key.
const ROW: i32 = 1;

/// The floor as stored now, outside any lock (for a report).
pub fn read(connection: &mut DbConnection) -> Result<i32, DbError> {
    master_key_floor::table
        .filter(master_key_floor::id.eq(ROW))
        .select(master_key_floor::min_wrap_version)
        .first(connection)
        .map_err(DbError::from)
}

/// The advisory lock's key: "piivault" in ASCII, a number no other lock of this
/// database uses. `piivault_wrap_floor()` takes the same key (its migration spells it
/// in decimal).
const FLOOR_LOCK: i64 = 0x7069_6976_6175_6c74;

/// The database function (PostgreSQL) that takes the floor's lock shared until the
/// transaction ends and then returns the floor: how a wrap reads it.
pub(super) const WRAP_FLOOR_FUNCTION: &str = "piivault_wrap_floor()";

/// Inside the caller's write transaction, takes the floor's lock exclusively until
/// the transaction ends (PostgreSQL; SQLite's write transaction already excludes every
/// other writer).
fn hold_exclusive(connection: &mut DbConnection) -> Result<(), DbError> {
    if let DbConnection::Postgres(connection) = connection {
        diesel::sql_query(format!("SELECT pg_advisory_xact_lock({FLOOR_LOCK})"))
            .execute(connection)?;
    }
    Ok(())
}

/// The floor as a wrap reads it: on PostgreSQL locked (shared) until the transaction
/// ends, in one statement ([`WRAP_FLOOR_FUNCTION`]).
fn read_for_wrap(connection: &mut DbConnection) -> Result<i32, DbError> {
    #[derive(QueryableByName)]
    struct Floor {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        floor: i32,
    }
    match connection {
        DbConnection::Postgres(connection) => {
            let query = format!("SELECT {WRAP_FLOOR_FUNCTION} AS floor");
            let read: Floor = diesel::sql_query(query).get_result(connection)?;
            Ok(read.floor)
        }
        DbConnection::Sqlite(_) => read(connection),
    }
}

/// Inside the caller's write transaction, before it stores keys wrapped under
/// `versions`: refuses with [`DbError::BelowWrapFloor`] when any is below the floor.
/// The floor stays locked (shared) until the transaction ends.
pub fn check_wraps(
    connection: &mut DbConnection,
    versions: impl IntoIterator<Item = i32>,
) -> Result<(), DbError> {
    let floor = read_for_wrap(connection)?;
    match versions.into_iter().min() {
        Some(lowest) if lowest < floor => Err(DbError::BelowWrapFloor { floor }),
        _ => Ok(()),
    }
}

/// Inside the caller's write transaction: the floor, locked against every wrap until
/// the transaction ends, for a retirement about to count what a version still wraps.
pub fn lock_for_retirement(connection: &mut DbConnection) -> Result<i32, DbError> {
    // The read is a statement of its own, so (on PostgreSQL) its snapshot is taken
    // after the lock.
    hold_exclusive(connection)?;
    read(connection)
}

/// Raises the floor to `version` (never lowers it). Returns the floor now.
pub fn raise(connection: &mut DbConnection, version: i32) -> Result<i32, DbError> {
    super::write_transaction(connection, |connection| {
        hold_exclusive(connection)?;
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
