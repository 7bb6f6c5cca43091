//! The ledger: a user's transactions sealed under their data key. It records
//! validated [`NewTransaction`]s idempotently (a reference seen before with the same
//! content answers with the existing id; with other content it is a conflict), lists
//! them by period, and gathers what a statement needs (opening balance and rows).
//!
//! Sealed columns use AAD `piivault/v1/transactions.<column>/<row uuid>`; the amount is
//! sealed as its decimal count of minor units. The reference's index is keyed by a key
//! derived from the user's data key, so the same receipt number under two users does
//! not link them and rotating the blind-index key does not change it.

use std::collections::HashMap;
use std::fmt;

use chrono::NaiveDateTime;
use uuid::Uuid;

use crate::crypto::{CryptoError, DataKey, FieldContext, SealedField};
use crate::db::transactions::{self, After, NewTransactionRow, TransactionRow};
use crate::db::{DbConnection, DbError};
use crate::domain::{Currency, NewTransaction, Period, Reference};
use crate::keys::LiveKeys;
use crate::keystore::DataKeyStore;
use crate::users::{self, VaultError};

const TABLE: &str = "transactions";
const REFERENCE_INDEX: &str = "transactions.reference";

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("no such user")]
    UnknownUser,
    #[error("a reference was already recorded with other content")]
    ReferenceConflict,
    #[error("the period holds more than {0} transactions")]
    TooManyRows(usize),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("sealing or opening failed: {0}")]
    Crypto(#[from] CryptoError),
}

impl From<diesel::result::Error> for LedgerError {
    fn from(error: diesel::result::Error) -> Self {
        Self::Db(error.into())
    }
}

impl From<VaultError> for LedgerError {
    fn from(error: VaultError) -> Self {
        match error {
            VaultError::Db(error) => Self::Db(error),
            VaultError::Crypto(error) => Self::Crypto(error),
            VaultError::EmailTaken => Self::Db(DbError::Conflict),
        }
    }
}

/// The outcome for one posted transaction.
#[derive(Debug, Clone, Copy)]
pub struct Recorded {
    pub id: Uuid,
    pub created_at: NaiveDateTime,
    /// False when the reference was already recorded with the same content.
    pub created: bool,
}

/// A transaction, opened. Its `Debug` prints only the id: this is personal data.
#[derive(Clone)]
pub struct Transaction {
    pub id: Uuid,
    pub reference: String,
    pub occurred_at: NaiveDateTime,
    pub details: String,
    /// Minor units of `currency`; negative when money left the account.
    pub amount: i64,
    pub currency: Currency,
}

impl fmt::Debug for Transaction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transaction")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// What a statement shows for one period and currency.
pub struct PeriodActivity {
    /// The sum of every earlier transaction in the currency.
    pub opening_balance: i128,
    pub transactions: Vec<Transaction>,
}

/// What identifies a transaction's content for the idempotency check.
#[derive(PartialEq, Eq)]
struct Content {
    occurred_at: NaiveDateTime,
    details: String,
    amount: i64,
    currency: String,
}

impl Content {
    fn of(transaction: &NewTransaction) -> Self {
        Self {
            occurred_at: transaction.occurred_at,
            details: transaction.details.clone(),
            amount: transaction.amount,
            currency: transaction.currency.code().to_owned(),
        }
    }
}

fn context(column: &str, row_id: Uuid) -> FieldContext<'_> {
    FieldContext {
        table: TABLE,
        column,
        row_id,
    }
}

/// The reference's index, keyed by a key derived from the user's data key: unique
/// per user, unlinkable across users, and untouched by blind-index rotation (a
/// replayed reference must be recognised whatever keys were rotated in between).
fn reference_index(data_key: &DataKey, reference: &Reference) -> Vec<u8> {
    data_key
        .user_index_key(REFERENCE_INDEX)
        .index(REFERENCE_INDEX, reference.as_str())
        .0
        .to_vec()
}

fn data_key(
    connection: &mut DbConnection,
    store: &DataKeyStore,
    keys: &LiveKeys,
    user_id: Uuid,
) -> Result<DataKey, LedgerError> {
    users::data_key(connection, store, keys, user_id)?.ok_or(LedgerError::UnknownUser)
}

/// Records transactions all or nothing, in one database transaction. Returns one
/// outcome per input, in order.
pub fn record(
    connection: &mut DbConnection,
    store: &DataKeyStore,
    keys: &LiveKeys,
    user_id: Uuid,
    items: &[NewTransaction],
) -> Result<Vec<Recorded>, LedgerError> {
    let data_key = data_key(connection, store, keys, user_id)?;
    let indexes: Vec<Vec<u8>> = items
        .iter()
        .map(|item| reference_index(&data_key, &item.reference))
        .collect();
    match record_once(connection, &data_key, user_id, items, &indexes) {
        // Another request recorded one of these references between our look-up and our
        // insert: look again, now that its row is visible.
        Err(LedgerError::Db(DbError::Conflict)) => {
            record_once(connection, &data_key, user_id, items, &indexes)
        }
        other => other,
    }
}

/// Seals a new transaction of `user_id` as a row: the one way a transaction becomes
/// rows (the API's `record` and `piivault seed` both come through here).
pub fn seal_new(
    data_key: &DataKey,
    user_id: Uuid,
    item: &NewTransaction,
    now: NaiveDateTime,
) -> Result<NewTransactionRow, CryptoError> {
    let id = Uuid::now_v7();
    let seal = |column: &str, value: &str| {
        SealedField::seal(data_key, context(column, id), value).map(SealedField::into_bytes)
    };
    Ok(NewTransactionRow {
        id: id.as_bytes().to_vec(),
        user_id: user_id.as_bytes().to_vec(),
        reference_index: reference_index(data_key, &item.reference),
        occurred_at: item.occurred_at,
        currency: item.currency.code().to_owned(),
        reference: seal("reference", item.reference.as_str())?,
        details: seal("details", &item.details)?,
        amount: seal("amount", &item.amount.to_string())?,
        created_at: now,
    })
}

fn record_once(
    connection: &mut DbConnection,
    data_key: &DataKey,
    user_id: Uuid,
    items: &[NewTransaction],
    indexes: &[Vec<u8>],
) -> Result<Vec<Recorded>, LedgerError> {
    crate::db::write_transaction(connection, |connection| {
        let mut known: HashMap<Vec<u8>, (Recorded, Content)> = HashMap::new();
        for row in transactions::find_by_reference_indexes(connection, user_id, indexes)? {
            let opened = open(&row, data_key)?;
            let recorded = Recorded {
                id: opened.id,
                created_at: row.created_at,
                created: false,
            };
            let content = Content {
                occurred_at: opened.occurred_at,
                details: opened.details,
                amount: opened.amount,
                currency: row.currency,
            };
            known.insert(row.reference_index, (recorded, content));
        }
        let now = crate::time::now();
        let mut outcomes = Vec::with_capacity(items.len());
        let mut rows = Vec::new();
        for (item, index) in items.iter().zip(indexes) {
            let content = Content::of(item);
            if let Some((recorded, existing)) = known.get(index) {
                if *existing != content {
                    return Err(LedgerError::ReferenceConflict);
                }
                outcomes.push(Recorded {
                    created: false,
                    ..*recorded
                });
                continue;
            }
            let row = seal_new(data_key, user_id, item, now)?;
            let id = Uuid::from_slice(&row.id).map_err(|_| CryptoError::Malformed)?;
            rows.push(row);
            let recorded = Recorded {
                id,
                created_at: now,
                created: true,
            };
            outcomes.push(recorded);
            known.insert(index.clone(), (recorded, content));
        }
        transactions::insert(connection, &rows)?;
        Ok(outcomes)
    })
}

fn open(row: &TransactionRow, data_key: &DataKey) -> Result<Transaction, LedgerError> {
    let id = Uuid::from_slice(&row.id).map_err(|_| CryptoError::Malformed)?;
    let open = |column: &str, sealed: &[u8]| {
        SealedField::from_bytes(sealed.to_vec()).open(data_key, context(column, id))
    };
    Ok(Transaction {
        id,
        reference: open("reference", &row.reference)?,
        occurred_at: row.occurred_at,
        details: open("details", &row.details)?,
        amount: parse_sealed_amount(&open("amount", &row.amount)?)?,
        currency: Currency::parse(&row.currency).map_err(|_| CryptoError::Malformed)?,
    })
}

fn parse_sealed_amount(text: &str) -> Result<i64, CryptoError> {
    text.parse().map_err(|_| CryptoError::Malformed)
}

/// One page of a listing and where the next one starts.
pub struct Listing {
    pub transactions: Vec<Transaction>,
    pub next: Option<After>,
}

/// Up to `limit` of the user's transactions in the period, after `after`.
pub fn list(
    connection: &mut DbConnection,
    store: &DataKeyStore,
    keys: &LiveKeys,
    user_id: Uuid,
    period: Period,
    after: Option<&After>,
    limit: usize,
) -> Result<Listing, LedgerError> {
    let data_key = data_key(connection, store, keys, user_id)?;
    let fetch = i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX);
    let rows = transactions::list(
        connection,
        user_id,
        (period.start(), period.end_exclusive()),
        None,
        after,
        fetch,
    )?;
    let more = rows.len() > limit;
    let transactions = rows
        .iter()
        .take(limit)
        .map(|row| open(row, &data_key))
        .collect::<Result<Vec<_>, _>>()?;
    let next = more
        .then(|| transactions.last())
        .flatten()
        .map(|last| After {
            occurred_at: last.occurred_at,
            id: last.id.as_bytes().to_vec(),
        });
    Ok(Listing { transactions, next })
}

/// The opening balance and the transactions of one period in one currency, for a
/// statement. More than `max_rows` transactions is [`LedgerError::TooManyRows`].
pub fn activity(
    connection: &mut DbConnection,
    store: &DataKeyStore,
    keys: &LiveKeys,
    user_id: Uuid,
    period: Period,
    currency: Currency,
    max_rows: usize,
) -> Result<PeriodActivity, LedgerError> {
    let data_key = data_key(connection, store, keys, user_id)?;
    let mut opening_balance: i128 = 0;
    for (id, sealed) in
        transactions::amounts_before(connection, user_id, currency.code(), period.start())?
    {
        let id = Uuid::from_slice(&id).map_err(|_| CryptoError::Malformed)?;
        let text = SealedField::from_bytes(sealed).open(&data_key, context("amount", id))?;
        opening_balance += i128::from(parse_sealed_amount(&text)?);
    }
    let fetch = i64::try_from(max_rows.saturating_add(1)).unwrap_or(i64::MAX);
    let rows = transactions::list(
        connection,
        user_id,
        (period.start(), period.end_exclusive()),
        Some(currency.code()),
        None,
        fetch,
    )?;
    if rows.len() > max_rows {
        return Err(LedgerError::TooManyRows(max_rows));
    }
    let transactions = rows
        .iter()
        .map(|row| open(row, &data_key))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(PeriodActivity {
        opening_balance,
        transactions,
    })
}
