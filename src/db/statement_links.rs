//! Statement download links: the hash of the link's secret, the period and password
//! policy it was made for, the sealed code or password, and when it stops working: at
//! its expiry, or once its downloads are used up.

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
    /// Downloads still allowed; `None`: any number until it expires.
    pub downloads_left: Option<i32>,
}

pub fn insert(connection: &mut DbConnection, row: &StatementLinkRow) -> Result<(), DbError> {
    diesel::insert_into(statement_links::table)
        .values(row)
        .execute(connection)?;
    Ok(())
}

/// The link whose secret hashes to `token_hash`, unless it expired before `now` or
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
