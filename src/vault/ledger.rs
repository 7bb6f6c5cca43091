//! The ledger: a user's transactions sealed under their data key. It records validated
//! [`NewTransaction`]s idempotently (a reference seen before with the same content
//! answers with the existing id; with other content it is a conflict), lists them by
//! period, and gathers what a statement needs (opening balance and rows).
//!
//! Sealed columns use the AAD of `transactions.<column>` in the row, bound (format v2)
//! to the row's clear `occurred_at` and `currency` ([`ClearColumns`]; docs/formats.md),
//! so that a row whose time or currency was edited in the database refuses to open; the
//! amount is sealed as its decimal count of minor units. The reference's index is keyed by a key
//! derived from the user's data key, so the same receipt number under two users does
//! not link them and rotating the blind-index key does not change it.

use std::collections::HashMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, NaiveDateTime};
use serde_json::{Map, Value};

use super::audit::{Action, RequestId, Subject};
use super::payload::{decrypt_object, JweBody};
use super::{Core, Vault, VaultError};
use crate::access::Claim;
use crate::crypto::{CryptoError, DataKey, FieldContext, SealedField};
use crate::db::transactions::{self as rows, After, NewTransactionRow, ResealRow, TransactionRow};
use crate::db::{DbConnection, DbError};
use crate::domain::{Currency, FieldErrors, NewTransaction, Period, Reference, Transaction};
use crate::id::{TransactionId, UserId};

const TABLE: &str = "transactions";
const REFERENCE_INDEX: &str = "transactions.reference";

/// The outcome for one posted transaction.
#[derive(Debug, Clone, Copy)]
pub struct Recorded {
    pub id: TransactionId,
    pub created_at: NaiveDateTime,
    /// False when the reference was already recorded with the same content.
    pub created: bool,
}

/// One page of a listing and where the next one starts.
pub struct Listing {
    pub transactions: Vec<Transaction>,
    pub next: Option<TransactionCursor>,
}

/// A position in a listing: the last row's `(occurred_at, id)`, written as 8 bytes of
/// microseconds since the epoch (big-endian) and the 16-byte id, in base64url. It names
/// a position, not personal data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionCursor(After);

impl TransactionCursor {
    pub fn encode(&self) -> String {
        let mut bytes = self
            .0
            .occurred_at
            .and_utc()
            .timestamp_micros()
            .to_be_bytes()
            .to_vec();
        bytes.extend_from_slice(self.0.id.uuid().as_bytes());
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// A cursor this service wrote; anything else (forged, truncated, a time no
    /// transaction can have) is `None`.
    pub fn parse(raw: &str) -> Option<Self> {
        let bytes = URL_SAFE_NO_PAD.decode(raw).ok()?;
        if bytes.len() != 24 {
            return None;
        }
        let (micros, id) = bytes.split_at(8);
        let micros = i64::from_be_bytes(micros.try_into().ok()?);
        let occurred_at = DateTime::from_timestamp_micros(micros)?.naive_utc();
        // PostgreSQL would refuse a timestamp beyond its range with an error, not an
        // empty page.
        if !crate::domain::TRANSACTION_YEARS.contains(&chrono::Datelike::year(&occurred_at)) {
            return None;
        }
        let id = TransactionId::from(uuid::Uuid::from_slice(id).ok()?);
        Some(Self(After { occurred_at, id }))
    }
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

/// The clear columns of a transaction row that its sealed values are bound to (format
/// v2), spelled as the associated data spells them: a payment cannot be moved to
/// another period or currency unnoticed.
pub(crate) struct ClearColumns {
    occurred_at: String,
    currency: String,
}

impl ClearColumns {
    pub(crate) fn of(occurred_at: NaiveDateTime, currency: &str) -> Self {
        Self {
            occurred_at: crate::time::rfc3339(occurred_at),
            currency: currency.to_owned(),
        }
    }

    pub(crate) fn pairs(&self) -> [(&str, &str); 2] {
        [
            ("occurred_at", &self.occurred_at),
            ("currency", &self.currency),
        ]
    }
}

/// Where a transaction's sealed value belongs: table, column, row, and the row's clear
/// columns (`ClearColumns::pairs`).
pub(crate) fn context<'a>(
    column: &'a str,
    row_id: TransactionId,
    bound: &'a [(&'a str, &'a str)],
) -> FieldContext<'a> {
    FieldContext::new(TABLE, column, row_id.uuid()).bound_to(bound)
}

/// Opens one sealed column of a transaction row; a value that does not open is logged
/// by row and column (never by content) before the error goes up.
pub(crate) fn open_column(
    data_key: &DataKey,
    row_id: TransactionId,
    bound: &[(&str, &str)],
    column: &str,
    sealed: &[u8],
) -> Result<String, CryptoError> {
    SealedField::open_bytes(sealed, data_key, context(column, row_id, bound))
        .inspect_err(|error| {
            tracing::error!(transaction_id = %row_id, column, %error, "a stored transaction does not open");
        })
}

/// The reference's index, keyed by a key derived from the user's data key: unique per
/// user, unlinkable across users, and untouched by blind-index rotation (a replayed
/// reference must be recognised whatever keys were rotated in between).
fn reference_index(data_key: &DataKey, reference: &Reference) -> Vec<u8> {
    data_key
        .user_index_key(REFERENCE_INDEX)
        .index(REFERENCE_INDEX, reference.as_str())
        .0
}

/// Seals a new transaction of `user` as a row: the one way a transaction becomes rows
/// (the API and `piivault seed` both come through here).
pub fn seal_new(
    data_key: &DataKey,
    user: UserId,
    item: &NewTransaction,
    now: NaiveDateTime,
) -> Result<NewTransactionRow, CryptoError> {
    let id = TransactionId::generate();
    let clear = ClearColumns::of(item.occurred_at, item.currency.code());
    let bound = clear.pairs();
    let seal = |column: &str, value: &str| {
        SealedField::seal(data_key, context(column, id, &bound), value).map(SealedField::into_bytes)
    };
    Ok(NewTransactionRow {
        id,
        user_id: user,
        reference_index: reference_index(data_key, &item.reference),
        occurred_at: item.occurred_at,
        currency: item.currency.code().to_owned(),
        reference: seal("reference", item.reference.as_str())?,
        details: seal("details", &item.details)?,
        amount: seal("amount", &item.amount.to_string())?,
        created_at: now,
    })
}

fn open(row: &TransactionRow, data_key: &DataKey) -> Result<Transaction, CryptoError> {
    let clear = ClearColumns::of(row.occurred_at, &row.currency);
    let bound = clear.pairs();
    let open = |column: &str, sealed: &[u8]| open_column(data_key, row.id, &bound, column, sealed);
    Ok(Transaction {
        id: row.id,
        reference: open("reference", &row.reference)?,
        occurred_at: row.occurred_at,
        details: open("details", &row.details)?,
        amount: parse_sealed_amount(&open("amount", &row.amount)?)?,
        currency: Currency::parse(&row.currency).map_err(|_| CryptoError::Malformed)?,
    })
}

/// A transaction row with every sealed column in the current format, bound to the
/// row's clear columns (the reseal job); each older value must open first.
pub(crate) fn reseal_row(data_key: &DataKey, row: ResealRow) -> Result<ResealRow, CryptoError> {
    let ResealRow {
        id,
        user_id,
        occurred_at,
        currency,
        reference,
        details,
        amount,
    } = row;
    let clear = ClearColumns::of(occurred_at, &currency);
    let bound = clear.pairs();
    let reseal = |column: &str, sealed: Vec<u8>| {
        SealedField::from_bytes(sealed)
            .into_current_format(data_key, context(column, id, &bound))
            .map(SealedField::into_bytes)
    };
    Ok(ResealRow {
        reference: reseal("reference", reference)?,
        details: reseal("details", details)?,
        amount: reseal("amount", amount)?,
        id,
        user_id,
        occurred_at,
        currency,
    })
}

fn parse_sealed_amount(text: &str) -> Result<i64, CryptoError> {
    text.parse().map_err(|_| CryptoError::Malformed)
}

/// How a decrypted body becomes transactions: one, or a batch.
type ParseTransactions = fn(&Map<String, Value>) -> Result<Vec<NewTransaction>, FieldErrors>;

impl Vault {
    /// POST /users/{id}/transactions: one transaction from a JWE body.
    pub async fn record_transaction(
        &self,
        user: UserId,
        body: JweBody,
    ) -> Result<Recorded, VaultError> {
        let recorded = self
            .record_jwe(user, body, |object| {
                NewTransaction::parse(object).map(|item| vec![item])
            })
            .await?;
        recorded
            .first()
            .copied()
            .ok_or_else(|| VaultError::Internal(anyhow::anyhow!("no outcome for one transaction")))
    }

    /// POST /users/{id}/transactions/batch: up to 1,000 transactions, all or nothing;
    /// one outcome per item, in order.
    pub async fn record_transaction_batch(
        &self,
        user: UserId,
        body: JweBody,
    ) -> Result<Vec<Recorded>, VaultError> {
        self.record_jwe(user, body, NewTransaction::parse_batch)
            .await
    }

    async fn record_jwe(
        &self,
        user: UserId,
        body: JweBody,
        parse: ParseTransactions,
    ) -> Result<Vec<Recorded>, VaultError> {
        let slot = self.decryption_slot().await?;
        self.blocking(move |core| {
            let object = decrypt_object(core, &body, slot)?;
            let items = parse(&object).map_err(VaultError::Validation)?;
            crate::db::run(&core.pool, |connection| {
                core.record(connection, user, &items)
            })
        })
        .await
    }

    /// GET /users/{id}/transactions: up to `limit` of the user's transactions in the
    /// period after `after`, oldest first; audited.
    pub async fn list_transactions(
        &self,
        claim: Claim,
        request: RequestId,
        user: UserId,
        period: Period,
        after: Option<TransactionCursor>,
        limit: usize,
    ) -> Result<Listing, VaultError> {
        self.audited(
            claim,
            request,
            Action::TransactionsRead,
            move |core, connection, _| {
                let listing = core.list(connection, user, period, after.as_ref(), limit)?;
                Ok((listing, Subject::User(user)))
            },
        )
        .await
    }
}

impl Core {
    fn user_key(&self, connection: &mut DbConnection, user: UserId) -> Result<DataKey, VaultError> {
        self.data_key(connection, user)?.ok_or(VaultError::NotFound)
    }

    /// Records transactions all or nothing, in one database transaction.
    fn record(
        &self,
        connection: &mut DbConnection,
        user: UserId,
        items: &[NewTransaction],
    ) -> Result<Vec<Recorded>, VaultError> {
        let data_key = self.user_key(connection, user)?;
        let indexes: Vec<Vec<u8>> = items
            .iter()
            .map(|item| reference_index(&data_key, &item.reference))
            .collect();
        match record_once(connection, &data_key, user, items, &indexes) {
            // Another request recorded one of these references between our look-up and
            // our insert: look again, now that its row is visible.
            Err(RecordError::Db(DbError::Conflict)) => {
                record_once(connection, &data_key, user, items, &indexes)
            }
            other => other,
        }
        .map_err(|error| match error {
            RecordError::ReferenceConflict => VaultError::Conflict(
                "A transaction with this reference is already recorded with other content.",
            ),
            RecordError::Db(error) => error.into(),
            RecordError::Crypto(error) => error.into(),
        })
    }

    fn list(
        &self,
        connection: &mut DbConnection,
        user: UserId,
        period: Period,
        after: Option<&TransactionCursor>,
        limit: usize,
    ) -> Result<Listing, VaultError> {
        let data_key = self.user_key(connection, user)?;
        let fetch = i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX);
        let found = rows::list(
            connection,
            user,
            (period.start(), period.end_exclusive()),
            None,
            after.map(|cursor| &cursor.0),
            fetch,
        )?;
        let more = found.len() > limit;
        let transactions = found
            .iter()
            .take(limit)
            .map(|row| open(row, &data_key))
            .collect::<Result<Vec<_>, _>>()?;
        let next = more.then(|| transactions.last()).flatten().map(|last| {
            TransactionCursor(After {
                occurred_at: last.occurred_at,
                id: last.id,
            })
        });
        Ok(Listing { transactions, next })
    }

    /// The user's data key (the user must exist).
    pub(crate) fn ledger_key(
        &self,
        connection: &mut DbConnection,
        user: UserId,
    ) -> Result<DataKey, VaultError> {
        self.user_key(connection, user)
    }

    /// Whether a statement of this period and currency would hold more than `limit`
    /// transactions. The user's rows of the period in every currency are counted
    /// first: that count reads only the `(user_id, occurred_at, id)` index, where
    /// counting one currency reads every row (0.6 s for a million, all of it before a
    /// statement's first byte). Only a count over `limit` is checked per currency.
    pub(crate) fn more_in_period_than(
        connection: &mut DbConnection,
        user: UserId,
        period: Period,
        currency: Currency,
        limit: u64,
    ) -> Result<bool, VaultError> {
        let range = (period.start(), period.end_exclusive());
        let over = |count: i64| u64::try_from(count).unwrap_or(0) > limit;
        if !over(rows::count(connection, user, range, None)?) {
            return Ok(false);
        }
        Ok(over(rows::count(
            connection,
            user,
            range,
            Some(currency.code()),
        )?))
    }

    /// The sum of every transaction in `currency` before the period, read and opened
    /// a batch at a time.
    pub(crate) fn opening_balance(
        connection: &mut DbConnection,
        data_key: &DataKey,
        user: UserId,
        period: Period,
        currency: Currency,
    ) -> Result<i128, VaultError> {
        let mut balance: i128 = 0;
        let mut after: Option<After> = None;
        loop {
            let batch = rows::amounts_before(
                connection,
                user,
                currency.code(),
                period.start(),
                after.as_ref(),
                READ_BATCH,
            )?;
            for (id, occurred_at, sealed) in &batch {
                let clear = ClearColumns::of(*occurred_at, currency.code());
                let text = open_column(data_key, *id, &clear.pairs(), "amount", sealed)?;
                balance += i128::from(parse_sealed_amount(&text)?);
            }
            match batch.last() {
                Some((id, occurred_at, _)) if batch.len() == READ_BATCH_LEN => {
                    after = Some(After {
                        occurred_at: *occurred_at,
                        id: *id,
                    });
                }
                _ => return Ok(balance),
            }
        }
    }

    /// Hands the period's transactions in `currency` to `each`, oldest first, a batch
    /// at a time, each read and opened (memory stays at one batch whatever the period
    /// holds).
    pub(crate) fn each_batch(
        connection: &mut DbConnection,
        data_key: &DataKey,
        user: UserId,
        (period, currency): (Period, Currency),
        mut each: impl FnMut(Vec<Transaction>) -> Result<(), VaultError>,
    ) -> Result<(), VaultError> {
        let mut after: Option<After> = None;
        loop {
            let batch = rows::list(
                connection,
                user,
                (period.start(), period.end_exclusive()),
                Some(currency.code()),
                after.as_ref(),
                READ_BATCH,
            )?;
            let next = match batch.last() {
                Some(last) if batch.len() == READ_BATCH_LEN => Some(After {
                    occurred_at: last.occurred_at,
                    id: last.id,
                }),
                _ => None,
            };
            let opened = batch
                .iter()
                .map(|row| open(row, data_key))
                .collect::<Result<Vec<_>, _>>()?;
            each(opened)?;
            match next {
                Some(next) => after = Some(next),
                None => return Ok(()),
            }
        }
    }
}

/// Rows read per round trip when a statement walks a period.
const READ_BATCH: i64 = 1000;
const READ_BATCH_LEN: usize = 1000;

/// Why one attempt at recording failed.
enum RecordError {
    ReferenceConflict,
    Db(DbError),
    Crypto(CryptoError),
}

impl From<DbError> for RecordError {
    fn from(error: DbError) -> Self {
        Self::Db(error)
    }
}

impl From<diesel::result::Error> for RecordError {
    fn from(error: diesel::result::Error) -> Self {
        Self::Db(error.into())
    }
}

impl From<CryptoError> for RecordError {
    fn from(error: CryptoError) -> Self {
        Self::Crypto(error)
    }
}

fn record_once(
    connection: &mut DbConnection,
    data_key: &DataKey,
    user: UserId,
    items: &[NewTransaction],
    indexes: &[Vec<u8>],
) -> Result<Vec<Recorded>, RecordError> {
    crate::db::write_transaction(connection, |connection| {
        let mut known: HashMap<Vec<u8>, (Recorded, Content)> = HashMap::new();
        for row in rows::find_by_reference_indexes(connection, user, indexes)? {
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
        let mut new_rows = Vec::new();
        for (item, index) in items.iter().zip(indexes) {
            let content = Content::of(item);
            if let Some((recorded, existing)) = known.get(index) {
                if *existing != content {
                    return Err(RecordError::ReferenceConflict);
                }
                outcomes.push(Recorded {
                    created: false,
                    ..*recorded
                });
                continue;
            }
            let row = seal_new(data_key, user, item, now)?;
            let recorded = Recorded {
                id: row.id,
                created_at: now,
                created: true,
            };
            new_rows.push(row);
            outcomes.push(recorded);
            known.insert(index.clone(), (recorded, content));
        }
        rows::insert(connection, &new_rows)?;
        Ok(outcomes)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let cursor = TransactionCursor(After {
            occurred_at: crate::time::now(),
            id: TransactionId::generate(),
        });
        assert_eq!(TransactionCursor::parse(&cursor.encode()), Some(cursor));
        for bad in ["", "abc", "!!!!", &URL_SAFE_NO_PAD.encode([0u8; 23])] {
            assert_eq!(TransactionCursor::parse(bad), None, "{bad:?}");
        }
        // A well-formed cursor from the year -10000: PostgreSQL cannot hold it.
        let ancient = chrono::NaiveDate::from_ymd_opt(-10_000, 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap();
        let forged = TransactionCursor(After {
            occurred_at: ancient,
            id: TransactionId::generate(),
        });
        assert_eq!(TransactionCursor::parse(&forged.encode()), None);
    }
}
