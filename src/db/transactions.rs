//! Transaction rows: sealed reference, details and amount, the reference's blind index
//! (unique per user) and the clear `occurred_at` and `currency` that periods select on.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::transactions;
use super::{DbConnection, DbError};
use crate::id::{TransactionId, UserId};

/// A stored transaction, its personal values still sealed.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = transactions)]
pub struct TransactionRow {
    pub id: TransactionId,
    pub reference_index: Vec<u8>,
    pub occurred_at: NaiveDateTime,
    pub currency: String,
    pub reference: Vec<u8>,
    pub details: Vec<u8>,
    pub amount: Vec<u8>,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = transactions)]
#[diesel(treat_none_as_default_value = false)] // as `COPY` needs
pub struct NewTransactionRow {
    pub id: TransactionId,
    pub user_id: UserId,
    pub reference_index: Vec<u8>,
    pub occurred_at: NaiveDateTime,
    pub currency: String,
    pub reference: Vec<u8>,
    pub details: Vec<u8>,
    pub amount: Vec<u8>,
    pub created_at: NaiveDateTime,
}

/// A position in a listing ordered by `(occurred_at, id)`: the last row already seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct After {
    pub occurred_at: NaiveDateTime,
    pub id: TransactionId,
}

/// The user's transactions whose reference has one of these blind indexes.
pub fn find_by_reference_indexes(
    connection: &mut DbConnection,
    user_id: UserId,
    indexes: &[Vec<u8>],
) -> Result<Vec<TransactionRow>, DbError> {
    transactions::table
        .filter(transactions::user_id.eq(user_id))
        .filter(transactions::reference_index.eq_any(indexes))
        .select(TransactionRow::as_select())
        .load(connection)
        .map_err(DbError::from)
}

/// Inserts rows; a reference already recorded for the user is [`DbError::Conflict`].
/// Callers wrap this in their transaction.
pub fn insert(connection: &mut DbConnection, rows: &[NewTransactionRow]) -> Result<(), DbError> {
    // Multi-row inserts do not compile through MultiConnection, so each backend gets
    // its own (same) statement. Chunks keep every statement well under both bind limits.
    for chunk in rows.chunks(500) {
        let insert = diesel::insert_into(transactions::table).values(chunk);
        match connection {
            DbConnection::Postgres(connection) => insert.execute(connection)?,
            DbConnection::Sqlite(connection) => insert.execute(connection)?,
        };
    }
    Ok(())
}

/// Inserts many rows for seeding and imports, inside the caller's transaction: binary
/// `COPY` on PostgreSQL, [`insert`]'s statements on SQLite. A reference already
/// recorded for the user fails the batch.
pub fn insert_many(
    connection: &mut DbConnection,
    rows: &[NewTransactionRow],
) -> Result<(), DbError> {
    match connection {
        DbConnection::Postgres(connection) if !rows.is_empty() => {
            diesel::copy_from(transactions::table)
                .from_insertable(rows)
                .execute(connection)?;
            Ok(())
        }
        DbConnection::Postgres(_) => Ok(()),
        DbConnection::Sqlite(_) => insert(connection, rows),
    }
}

/// At most `limit` of the user's transactions in `currency` (any when `None`) with
/// `start <= occurred_at < end`, after `after`, in `(occurred_at, id)` order.
pub fn list(
    connection: &mut DbConnection,
    user_id: UserId,
    (start, end): (NaiveDateTime, NaiveDateTime),
    currency: Option<&str>,
    after: Option<&After>,
    limit: i64,
) -> Result<Vec<TransactionRow>, DbError> {
    let mut query = transactions::table
        .filter(transactions::user_id.eq(user_id))
        .filter(transactions::occurred_at.ge(start))
        .filter(transactions::occurred_at.lt(end))
        .select(TransactionRow::as_select())
        .order((transactions::occurred_at.asc(), transactions::id.asc()))
        .limit(limit)
        .into_boxed();
    if let Some(currency) = currency {
        query = query.filter(transactions::currency.eq(currency.to_owned()));
    }
    if let Some(after) = after {
        query = query.filter(
            transactions::occurred_at
                .gt(after.occurred_at)
                .or(transactions::occurred_at
                    .eq(after.occurred_at)
                    .and(transactions::id.gt(after.id))),
        );
    }
    query.load(connection).map_err(DbError::from)
}

/// A row id with its sealed amount.
pub type SealedAmount = (TransactionId, Vec<u8>);

/// The sealed amounts (with their row ids) of the user's transactions in `currency`
/// before `before`: what the opening balance adds up.
pub fn amounts_before(
    connection: &mut DbConnection,
    user_id: UserId,
    currency: &str,
    before: NaiveDateTime,
) -> Result<Vec<SealedAmount>, DbError> {
    transactions::table
        .filter(transactions::user_id.eq(user_id))
        .filter(transactions::currency.eq(currency))
        .filter(transactions::occurred_at.lt(before))
        .select((transactions::id, transactions::amount))
        .load(connection)
        .map_err(DbError::from)
}
