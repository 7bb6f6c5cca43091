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
