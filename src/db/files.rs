//! File rows: where a user's sealed file lives, its plaintext size, and its sealed name
//! and content type. The content itself is never in the database.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};

use super::schema::files;
use super::{DbConnection, DbError};
use crate::id::{FileId, UserId};

/// A stored file's row, name and content type still sealed.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = files)]
pub struct FileRow {
    pub id: FileId,
    pub user_id: UserId,
    pub object_name: String,
    pub size: i64,
    pub name: Vec<u8>,
    pub content_type: Vec<u8>,
    pub created_at: NaiveDateTime,
}

/// Inserts a file row. `Ok(false)` when the owner no longer exists (deleted while the
/// upload was streaming), so the caller can remove the object it just wrote.
pub fn insert(connection: &mut DbConnection, row: &FileRow) -> Result<bool, DbError> {
    match diesel::insert_into(files::table)
        .values(row)
        .execute(connection)
    {
        Ok(_) => Ok(true),
        Err(DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _)) => Ok(false),
        Err(error) => Err(error.into()),
    }
}

/// A user's files, oldest first.
pub fn list_for_user(
    connection: &mut DbConnection,
    user_id: UserId,
) -> Result<Vec<FileRow>, DbError> {
    files::table
        .filter(files::user_id.eq(user_id))
        .order((files::created_at.asc(), files::id.asc()))
        .select(FileRow::as_select())
        .load(connection)
        .map_err(DbError::from)
}

/// One file, only if it belongs to this user.
pub fn find(
    connection: &mut DbConnection,
    user_id: UserId,
    file_id: FileId,
) -> Result<Option<FileRow>, DbError> {
    files::table
        .filter(files::id.eq(file_id))
        .filter(files::user_id.eq(user_id))
        .select(FileRow::as_select())
        .first(connection)
        .optional()
        .map_err(DbError::from)
}

/// Deletes one of a user's files; returns its object name if it existed.
pub fn delete(
    connection: &mut DbConnection,
    user_id: UserId,
    file_id: FileId,
) -> Result<Option<String>, DbError> {
    super::write_transaction(connection, |connection| {
        let Some(row) = find(connection, user_id, file_id)? else {
            return Ok(None);
        };
        diesel::delete(files::table.filter(files::id.eq(row.id))).execute(connection)?;
        Ok::<_, DbError>(Some(row.object_name))
    })
}

/// Deletes every file row of a user (inside the caller's transaction) and returns the
/// object names, so the objects can be removed once the rows are gone.
pub fn delete_all_for_user(
    connection: &mut DbConnection,
    user_id: UserId,
) -> Result<Vec<String>, DbError> {
    let names = files::table
        .filter(files::user_id.eq(user_id))
        .select(files::object_name)
        .load::<String>(connection)?;
    diesel::delete(files::table.filter(files::user_id.eq(user_id))).execute(connection)?;
    Ok(names)
}

/// Rows with a sealed column whose stored bytes sort before `current` (the first byte
/// of the format values are sealed in now: every older format sorts before it): what
/// the reseal job has left to do.
fn sealed_before(
    current: &[u8],
) -> Box<
    dyn BoxableExpression<
        files::table,
        super::connection::MultiBackend,
        SqlType = diesel::sql_types::Bool,
    >,
> {
    Box::new(
        files::name
            .lt(current.to_vec())
            .or(files::content_type.lt(current.to_vec())),
    )
}

/// Up to `limit` files after `after`, in id order, with a sealed column older than
/// `current` ([`sealed_before`]).
pub fn batch_sealed_before(
    connection: &mut DbConnection,
    current: &[u8],
    after: Option<FileId>,
    limit: i64,
) -> Result<Vec<FileRow>, DbError> {
    let mut query = files::table
        .filter(sealed_before(current))
        .select(FileRow::as_select())
        .order_by(files::id)
        .limit(limit)
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(files::id.gt(after));
    }
    query.load(connection).map_err(DbError::from)
}

/// How many files have a sealed column older than `current` ([`sealed_before`]).
pub fn count_sealed_before(connection: &mut DbConnection, current: &[u8]) -> Result<i64, DbError> {
    files::table
        .filter(sealed_before(current))
        .count()
        .get_result(connection)
        .map_err(DbError::from)
}

/// Writes resealed metadata, each row only where its name still holds the bytes the
/// job read (rows are never edited in place otherwise, so two jobs at once write each
/// row once). Returns how many rows were written.
pub fn write_resealed(
    connection: &mut DbConnection,
    batch: &[(Vec<u8>, FileRow)],
) -> Result<usize, DbError> {
    connection.transaction(|connection| {
        let mut written = 0;
        for (old_name, row) in batch {
            written += diesel::update(
                files::table
                    .filter(files::id.eq(row.id))
                    .filter(files::name.eq(old_name)),
            )
            .set((
                files::name.eq(&row.name),
                files::content_type.eq(&row.content_type),
            ))
            .execute(connection)?;
        }
        Ok::<_, DbError>(written)
    })
}
