//! File rows as the vault sees them: the name and content type are sealed fields of the
//! `files` row (AAD binds table, column and file id), opened with the owner's data key.

use super::FileInfo;
use crate::crypto::{CryptoError, DataKey, FieldContext, SealedField};
use crate::db::files::{self as rows, FileRow};
use crate::db::DbConnection;
use crate::id::{FileId, UserId};
use crate::vault::{Core, VaultError};

const TABLE: &str = "files";

fn context(column: &str, file: FileId) -> FieldContext<'_> {
    FieldContext::new(TABLE, column, file.uuid())
}

/// A file whose object has been written completely, ready to be recorded.
pub struct StoredFile {
    pub user: UserId,
    pub file: FileId,
    pub object_name: String,
    pub size: u64,
    pub name: String,
    pub content_type: String,
}

/// Seals the metadata and inserts the row. `None` when the user was deleted meanwhile.
pub fn insert(
    connection: &mut DbConnection,
    data_key: &DataKey,
    stored: StoredFile,
) -> Result<Option<FileInfo>, VaultError> {
    let seal = |column: &str, value: &str| -> Result<Vec<u8>, CryptoError> {
        SealedField::seal(data_key, context(column, stored.file), value)
            .map(SealedField::into_bytes)
    };
    let created_at = crate::time::now();
    let row = FileRow {
        id: stored.file,
        user_id: stored.user,
        object_name: stored.object_name,
        size: i64::try_from(stored.size).map_err(|_| CryptoError::Malformed)?,
        name: seal("name", &stored.name)?,
        content_type: seal("content_type", &stored.content_type)?,
        created_at,
    };
    if !rows::insert(connection, &row)? {
        return Ok(None);
    }
    Ok(Some(FileInfo {
        id: stored.file,
        name: stored.name,
        content_type: stored.content_type,
        size: stored.size,
        created_at,
    }))
}

/// A file row with its name and content type in the current format (the reseal job);
/// each older value must open first.
pub(crate) fn reseal_row(data_key: &DataKey, row: FileRow) -> Result<FileRow, CryptoError> {
    let id = row.id;
    let reseal = |column: &str, sealed: Vec<u8>| {
        SealedField::from_bytes(sealed)
            .into_current_format(data_key, context(column, id))
            .map(SealedField::into_bytes)
    };
    Ok(FileRow {
        name: reseal("name", row.name)?,
        content_type: reseal("content_type", row.content_type)?,
        ..row
    })
}

/// Opens a row's metadata.
fn open(row: &FileRow, data_key: &DataKey) -> Result<FileInfo, VaultError> {
    let open = |column: &str, sealed: &[u8]| {
        SealedField::from_bytes(sealed.to_vec()).open(data_key, context(column, row.id))
    };
    Ok(FileInfo {
        id: row.id,
        name: open("name", &row.name)?,
        content_type: open("content_type", &row.content_type)?,
        size: u64::try_from(row.size).map_err(|_| CryptoError::Malformed)?,
        created_at: row.created_at,
    })
}

/// A user's files, opened; `None` when there is no such user.
pub fn list(
    core: &Core,
    connection: &mut DbConnection,
    user: UserId,
) -> Result<Option<Vec<FileInfo>>, VaultError> {
    let Some(data_key) = core.data_key(connection, user)? else {
        return Ok(None);
    };
    rows::list_for_user(connection, user)?
        .iter()
        .map(|row| open(row, &data_key))
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// One of a user's files with what serving it needs: metadata, data key, object name.
pub fn find(
    core: &Core,
    connection: &mut DbConnection,
    user: UserId,
    file: FileId,
) -> Result<Option<(FileInfo, DataKey, String)>, VaultError> {
    let Some(row) = rows::find(connection, user, file)? else {
        return Ok(None);
    };
    let Some(data_key) = core.data_key(connection, user)? else {
        return Ok(None);
    };
    let info = open(&row, &data_key)?;
    Ok(Some((info, data_key, row.object_name)))
}
