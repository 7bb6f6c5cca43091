//! API clients: their bearer-token digests and the MAC over the columns that decide
//! access (`access::client_mac`). A row without a valid MAC is refused where it is
//! read; the queries here only carry it.

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
    /// `None`: written before the metadata key existed, not yet sealed.
    pub mac: Option<Vec<u8>>,
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
    pub token_hash: Vec<u8>,
    pub scopes: String,
    #[diesel(embed)]
    pub limits: LimitColumns,
    pub mac: Option<Vec<u8>>,
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
    pub mac: Vec<u8>,
}

pub fn insert(connection: &mut DbConnection, client: &NewClientRow<'_>) -> Result<(), DbError> {
    diesel::insert_into(api_clients::table)
        .values(client)
        .execute(connection)?;
    Ok(())
}

/// The active (not revoked) clients holding any of these token digests: one query
/// for the tokens of many requests.
pub fn find_active_by_token_hashes(
    connection: &mut DbConnection,
    token_hashes: &[&[u8]],
) -> Result<Vec<CallerRow>, DbError> {
    api_clients::table
        .filter(api_clients::token_hash.eq_any(token_hashes))
        .filter(api_clients::revoked_at.is_null())
        .select(CallerRow::as_select())
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

/// Rewrites one client's sealed columns, only if its MAC is still `previous` (no
/// other writer changed the row since it was read). Returns whether it did.
pub fn reseal(
    connection: &mut DbConnection,
    id: ClientId,
    previous: Option<&[u8]>,
    change: &ClientChange<'_>,
) -> Result<bool, DbError> {
    let row = api_clients::table.filter(api_clients::id.eq(id));
    let updated = match previous {
        Some(previous) => diesel::update(row.filter(api_clients::mac.eq(previous)))
            .set(change)
            .execute(connection)?,
        None => diesel::update(row.filter(api_clients::mac.is_null()))
            .set(change)
            .execute(connection)?,
    };
    Ok(updated > 0)
}

/// The sealed columns of a client as rewritten by [`reseal`], with their new MAC.
#[derive(Debug, AsChangeset)]
#[diesel(table_name = api_clients, treat_none_as_null = true)]
pub struct ClientChange<'a> {
    pub token_hash: &'a [u8],
    pub scopes: &'a str,
    pub revoked_at: Option<NaiveDateTime>,
    pub rate_per_second: i32,
    pub burst: i32,
    pub max_concurrent: i32,
    pub mac: &'a [u8],
}

/// How many clients are not yet sealed.
pub fn count_unsealed(connection: &mut DbConnection) -> Result<i64, DbError> {
    api_clients::table
        .filter(api_clients::mac.is_null())
        .count()
        .get_result(connection)
        .map_err(DbError::from)
}

/// Up to `limit` clients not yet sealed (written before the metadata key), by id.
pub fn unsealed(connection: &mut DbConnection, limit: i64) -> Result<Vec<ClientRow>, DbError> {
    api_clients::table
        .filter(api_clients::mac.is_null())
        .order(api_clients::id.asc())
        .limit(limit)
        .select(ClientRow::as_select())
        .load(connection)
        .map_err(DbError::from)
}
