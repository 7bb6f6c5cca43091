//! User rows: sealed personal fields, blind indexes and the user's wrapped data key.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use uuid::Uuid;

use super::schema::{data_keys, users};
use super::{DbConnection, DbError};

/// A stored user, every personal value still sealed.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: Vec<u8>,
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
    pub id: Vec<u8>,
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
}

#[derive(Debug, Insertable)]
#[diesel(table_name = data_keys)]
pub struct NewDataKeyRow {
    pub user_id: Vec<u8>,
    pub kek_version: i32,
    pub wrapped_key: Vec<u8>,
    pub created_at: NaiveDateTime,
}

/// Inserts a user and its wrapped data key in one transaction: both or neither.
/// A duplicate email (same blind index) is [`DbError::Conflict`].
pub fn insert(
    connection: &mut DbConnection,
    user: &NewUserRow,
    data_key: &NewDataKeyRow,
) -> Result<(), DbError> {
    connection.transaction(|connection| {
        diesel::insert_into(users::table)
            .values(user)
            .execute(connection)?;
        diesel::insert_into(data_keys::table)
            .values(data_key)
            .execute(connection)?;
        Ok::<_, DbError>(())
    })
}

/// A user's row with its wrapped data key, or `None`.
pub fn find_with_key(
    connection: &mut DbConnection,
    id: Uuid,
) -> Result<Option<(UserRow, Vec<u8>)>, DbError> {
    users::table
        .inner_join(data_keys::table)
        .filter(users::id.eq(id.as_bytes().as_slice()))
        .select((UserRow::as_select(), data_keys::wrapped_key))
        .first(connection)
        .optional()
        .map_err(DbError::from)
}

/// A user's wrapped data key alone, or `None` when there is no such user.
pub fn find_key(connection: &mut DbConnection, id: Uuid) -> Result<Option<Vec<u8>>, DbError> {
    data_keys::table
        .filter(data_keys::user_id.eq(id.as_bytes().as_slice()))
        .select(data_keys::wrapped_key)
        .first(connection)
        .optional()
        .map_err(DbError::from)
}

/// Deletes a user's data key, file rows and user row in one transaction. Returns the
/// object names of the user's files (for the caller to remove from the object store),
/// or `None` when there was no such user. The key goes first: from then on nothing
/// sealed under it can be opened, objects included.
pub fn delete(connection: &mut DbConnection, id: Uuid) -> Result<Option<Vec<String>>, DbError> {
    let id = id.as_bytes().to_vec();
    connection.transaction(|connection| {
        diesel::delete(data_keys::table.filter(data_keys::user_id.eq(&id))).execute(connection)?;
        let objects = super::files::delete_all_for_user(connection, &id)?;
        let deleted = diesel::delete(users::table.filter(users::id.eq(&id))).execute(connection)?;
        Ok::<_, DbError>((deleted > 0).then_some(objects))
    })
}
