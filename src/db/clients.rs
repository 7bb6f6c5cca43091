//! API clients and their bearer-token hashes.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::api_clients;
use super::{DbConnection, DbError};
use crate::id::ClientId;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = api_clients)]
pub struct ClientRow {
    pub id: ClientId,
    pub name: String,
    pub token_hash: Vec<u8>,
    pub scopes: String,
    pub created_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
    #[diesel(embed)]
    pub limits: LimitColumns,
}

/// A client's quota as stored (`access::quota`); the database refuses values below 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = api_clients)]
pub struct LimitColumns {
    pub rate_per_second: i32,
    pub burst: i32,
    pub max_concurrent: i32,
}

/// What a request needs to know of the client holding its token.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = api_clients)]
pub struct CallerRow {
    pub id: ClientId,
    pub name: String,
    pub scopes: String,
    #[diesel(embed)]
    pub limits: LimitColumns,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = api_clients)]
pub struct NewClientRow<'a> {
    pub id: ClientId,
    pub name: &'a str,
    pub token_hash: Vec<u8>,
    pub scopes: String,
    pub created_at: NaiveDateTime,
    #[diesel(embed)]
    pub limits: LimitColumns,
}

pub fn insert(connection: &mut DbConnection, client: &NewClientRow<'_>) -> Result<(), DbError> {
    diesel::insert_into(api_clients::table)
        .values(client)
        .execute(connection)?;
    Ok(())
}

/// The active (not revoked) clients holding any of these token hashes, each with the
/// hash it holds: one query for the tokens of many requests.
pub fn find_active_by_token_hashes(
    connection: &mut DbConnection,
    token_hashes: &[&[u8]],
) -> Result<Vec<(Vec<u8>, CallerRow)>, DbError> {
    api_clients::table
        .filter(api_clients::token_hash.eq_any(token_hashes))
        .filter(api_clients::revoked_at.is_null())
        .select((api_clients::token_hash, CallerRow::as_select()))
        .load(connection)
        .map_err(DbError::from)
}

pub fn find_by_name(
    connection: &mut DbConnection,
    name: &str,
) -> Result<Option<ClientRow>, DbError> {
    api_clients::table
        .filter(api_clients::name.eq(name))
        .select(ClientRow::as_select())
        .first(connection)
        .optional()
        .map_err(DbError::from)
}

pub fn list(connection: &mut DbConnection) -> Result<Vec<ClientRow>, DbError> {
    api_clients::table
        .order(api_clients::created_at.asc())
        .select(ClientRow::as_select())
        .load(connection)
        .map_err(DbError::from)
}

/// Marks the named client revoked; returns whether an active client had that name.
pub fn revoke(
    connection: &mut DbConnection,
    name: &str,
    at: NaiveDateTime,
) -> Result<bool, DbError> {
    let updated = diesel::update(
        api_clients::table
            .filter(api_clients::name.eq(name))
            .filter(api_clients::revoked_at.is_null()),
    )
    .set(api_clients::revoked_at.eq(Some(at)))
    .execute(connection)?;
    Ok(updated > 0)
}

/// Sets the named client's limits; returns whether a client had that name.
pub fn set_limits(
    connection: &mut DbConnection,
    name: &str,
    limits: &LimitColumns,
) -> Result<bool, DbError> {
    let updated = diesel::update(api_clients::table.filter(api_clients::name.eq(name)))
        .set(limits)
        .execute(connection)?;
    Ok(updated > 0)
}

/// Replaces a client's token hash (used to keep the dev token stable across restarts).
pub fn set_token_hash(
    connection: &mut DbConnection,
    name: &str,
    token_hash: &[u8],
) -> Result<(), DbError> {
    diesel::update(api_clients::table.filter(api_clients::name.eq(name)))
        .set((
            api_clients::token_hash.eq(token_hash),
            api_clients::revoked_at.eq(None::<NaiveDateTime>),
        ))
        .execute(connection)?;
    Ok(())
}
