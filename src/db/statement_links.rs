//! Statement download links: the keyed digest of the link's secret, the period and
//! password policy it was made for, the sealed code or password, and when it stops
//! working: at its expiry, or once its downloads are used up; with the MAC over the
//! columns that decide what it hands out (`vault::statement_links`), checked by the
//! vault wherever a link is opened.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::statement_links;
use super::{DbConnection, DbError};
use crate::id::{LinkId, UserId};

#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = statement_links)]
pub struct StatementLinkRow {
    pub id: LinkId,
    pub user_id: UserId,
    pub token_hash: Vec<u8>,
    pub period_from: String,
    pub period_to: String,
    pub currency: String,
    pub policy: String,
    pub secret: Option<Vec<u8>>,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    /// Downloads still allowed; `None`: any number until it expires. Not sealed: it
    /// changes with every download.
    pub downloads_left: Option<i32>,
    /// The downloads the link was made with (sealed); `None`: any number.
    pub max_downloads: Option<i32>,
    /// `None`: written before the metadata key existed, not yet sealed.
    pub mac: Option<Vec<u8>>,
}

pub fn insert(connection: &mut DbConnection, row: &StatementLinkRow) -> Result<(), DbError> {
    diesel::insert_into(statement_links::table)
        .values(row)
        .execute(connection)?;
    Ok(())
}

/// The link whose secret has the digest `token_hash`, unless it expired before `now` or
/// its downloads are used up.
pub fn find_live(
    connection: &mut DbConnection,
    token_hash: &[u8],
    now: NaiveDateTime,
) -> Result<Option<StatementLinkRow>, DbError> {
    statement_links::table
        .filter(statement_links::token_hash.eq(token_hash))
        .filter(statement_links::expires_at.gt(now))
        .filter(
            statement_links::downloads_left
                .is_null()
                .or(statement_links::downloads_left.gt(0)),
        )
        .select(StatementLinkRow::as_select())
        .first(connection)
        .optional()
        .map_err(DbError::from)
}

/// Takes one download from a limited link: one conditional `UPDATE`, so of two
/// downloads racing for the last one, the database lets exactly one through (the
/// other's row no longer matches `downloads_left > 0`). `false`: none was left.
pub fn take_download(connection: &mut DbConnection, link: LinkId) -> Result<bool, DbError> {
    let taken = diesel::update(
        statement_links::table
            .filter(statement_links::id.eq(link))
            .filter(statement_links::downloads_left.gt(0)),
    )
    .set(statement_links::downloads_left.eq(statement_links::downloads_left - 1))
    .execute(connection)?;
    Ok(taken == 1)
}

/// How many links are not yet sealed.
pub fn count_unsealed(connection: &mut DbConnection) -> Result<i64, DbError> {
    statement_links::table
        .filter(statement_links::mac.is_null())
        .count()
        .get_result(connection)
        .map_err(DbError::from)
}

/// Up to `limit` links not yet sealed (written before the metadata key), by id.
pub fn unsealed(
    connection: &mut DbConnection,
    limit: i64,
) -> Result<Vec<StatementLinkRow>, DbError> {
    statement_links::table
        .filter(statement_links::mac.is_null())
        .order(statement_links::id.asc())
        .limit(limit)
        .select(StatementLinkRow::as_select())
        .load(connection)
        .map_err(DbError::from)
}

/// Gives an unsealed link its keyed token digest and its MAC, unless it was sealed
/// meanwhile. Returns whether it did.
pub fn seal(
    connection: &mut DbConnection,
    link: LinkId,
    token_hash: &[u8],
    mac: &[u8],
) -> Result<bool, DbError> {
    let sealed = diesel::update(
        statement_links::table
            .filter(statement_links::id.eq(link))
            .filter(statement_links::mac.is_null()),
    )
    .set((
        statement_links::token_hash.eq(token_hash),
        statement_links::mac.eq(mac),
    ))
    .execute(connection)?;
    Ok(sealed == 1)
}

/// Removes links that expired before `now` or whose downloads are used up; their
/// sealed secrets go with them.
pub fn delete_expired(connection: &mut DbConnection, now: NaiveDateTime) -> Result<usize, DbError> {
    diesel::delete(
        statement_links::table.filter(
            statement_links::expires_at
                .le(now)
                .or(statement_links::downloads_left.eq(0)),
        ),
    )
    .execute(connection)
    .map_err(DbError::from)
}
