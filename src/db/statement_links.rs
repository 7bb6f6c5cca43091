//! Statement download links: the hash of the link's secret, the period and password
//! policy it was made for, the sealed code or password, and when it stops working.

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
}

pub fn insert(connection: &mut DbConnection, row: &StatementLinkRow) -> Result<(), DbError> {
    diesel::insert_into(statement_links::table)
        .values(row)
        .execute(connection)?;
    Ok(())
}

/// The link whose secret hashes to `token_hash`, unless it expired before `now`.
pub fn find_live(
    connection: &mut DbConnection,
    token_hash: &[u8],
    now: NaiveDateTime,
) -> Result<Option<StatementLinkRow>, DbError> {
    statement_links::table
        .filter(statement_links::token_hash.eq(token_hash))
        .filter(statement_links::expires_at.gt(now))
        .select(StatementLinkRow::as_select())
        .first(connection)
        .optional()
        .map_err(DbError::from)
}

/// Removes links that expired before `now`; their sealed secrets go with them.
pub fn delete_expired(connection: &mut DbConnection, now: NaiveDateTime) -> Result<usize, DbError> {
    diesel::delete(statement_links::table.filter(statement_links::expires_at.le(now)))
        .execute(connection)
        .map_err(DbError::from)
}
