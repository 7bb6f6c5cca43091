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

/// Rows after `after` in `(occurred_at, id)` order. The plain lower bound on
/// `occurred_at` comes first so the database walks the `(user_id, occurred_at, id)`
/// index from the position instead of filtering every earlier row: without it, each
/// batch of a million-row statement rescanned the rows before it.
fn after_position(
    after: &After,
) -> Box<
    dyn BoxableExpression<
        transactions::table,
        super::connection::MultiBackend,
        SqlType = diesel::sql_types::Bool,
    >,
> {
    Box::new(
        transactions::occurred_at.ge(after.occurred_at).and(
            transactions::occurred_at
                .gt(after.occurred_at)
                .or(transactions::id.gt(after.id)),
        ),
    )
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
        query = query.filter(after_position(after));
    }
    query.load(connection).map_err(DbError::from)
}

/// How many of the user's transactions (in `currency`, or in any) have
/// `start <= occurred_at < end`.
pub fn count(
    connection: &mut DbConnection,
    user_id: UserId,
    (start, end): (NaiveDateTime, NaiveDateTime),
    currency: Option<&str>,
) -> Result<i64, DbError> {
    let mut query = transactions::table
        .filter(transactions::user_id.eq(user_id))
        .filter(transactions::occurred_at.ge(start))
        .filter(transactions::occurred_at.lt(end))
        .into_boxed();
    if let Some(currency) = currency {
        query = query.filter(transactions::currency.eq(currency.to_owned()));
    }
    query.count().get_result(connection).map_err(DbError::from)
}

/// A row's position and its sealed amount.
pub type SealedAmount = (TransactionId, NaiveDateTime, Vec<u8>);

/// Up to `limit` sealed amounts of the user's transactions in `currency` before
/// `before`, after `after`, in `(occurred_at, id)` order: what the opening balance adds
/// up, a batch at a time.
pub fn amounts_before(
    connection: &mut DbConnection,
    user_id: UserId,
    currency: &str,
    before: NaiveDateTime,
    after: Option<&After>,
    limit: i64,
) -> Result<Vec<SealedAmount>, DbError> {
    let mut query = transactions::table
        .filter(transactions::user_id.eq(user_id))
        .filter(transactions::currency.eq(currency.to_owned()))
        .filter(transactions::occurred_at.lt(before))
        .select((
            transactions::id,
            transactions::occurred_at,
            transactions::amount,
        ))
        .order((transactions::occurred_at.asc(), transactions::id.asc()))
        .limit(limit)
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(after_position(after));
    }
    query.load(connection).map_err(DbError::from)
}

/// A transaction row as the reseal job reads it: whose it is, what its sealed values
/// are bound to, and the sealed values.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = transactions)]
pub struct ResealRow {
    pub id: TransactionId,
    pub user_id: UserId,
    pub occurred_at: NaiveDateTime,
    pub currency: String,
    pub reference: Vec<u8>,
    pub details: Vec<u8>,
    pub amount: Vec<u8>,
}

/// Rows with a sealed column whose stored bytes sort before `current` (the first byte
/// of the format values are sealed in now: every older format sorts before it): what
/// the reseal job has left to do.
fn sealed_before(
    current: &[u8],
) -> Box<
    dyn BoxableExpression<
        transactions::table,
        super::connection::MultiBackend,
        SqlType = diesel::sql_types::Bool,
    >,
> {
    let older = || current.to_vec();
    Box::new(
        transactions::reference
            .lt(older())
            .or(transactions::details.lt(older()))
            .or(transactions::amount.lt(older())),
    )
}

/// Up to `limit` transactions after `after`, in id order, with a sealed column older than
/// `current` ([`sealed_before`]).
pub fn batch_sealed_before(
    connection: &mut DbConnection,
    current: &[u8],
    after: Option<TransactionId>,
    limit: i64,
) -> Result<Vec<ResealRow>, DbError> {
    let mut query = transactions::table
        .filter(sealed_before(current))
        .select(ResealRow::as_select())
        .order_by(transactions::id)
        .limit(limit)
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(transactions::id.gt(after));
    }
    query.load(connection).map_err(DbError::from)
}

/// How many transactions have a sealed column older than `current` ([`sealed_before`]).
pub fn count_sealed_before(connection: &mut DbConnection, current: &[u8]) -> Result<i64, DbError> {
    transactions::table
        .filter(sealed_before(current))
        .count()
        .get_result(connection)
        .map_err(DbError::from)
}

/// Writes resealed values, each row only where its amount still holds the bytes the
/// job read (rows are never edited in place otherwise, so two jobs at once write each
/// row once). Returns how many rows were written.
pub fn write_resealed(
    connection: &mut DbConnection,
    batch: &[(Vec<u8>, ResealRow)],
) -> Result<usize, DbError> {
    connection.transaction(|connection| {
        let mut written = 0;
        for (old_amount, row) in batch {
            written += diesel::update(
                transactions::table
                    .filter(transactions::id.eq(row.id))
                    .filter(transactions::amount.eq(old_amount)),
            )
            .set((
                transactions::reference.eq(&row.reference),
                transactions::details.eq(&row.details),
                transactions::amount.eq(&row.amount),
            ))
            .execute(connection)?;
        }
        Ok::<_, DbError>(written)
    })
}
