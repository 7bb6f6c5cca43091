//! The reseal job: rewrites values sealed in an older format (v1: sealed under the
//! data key itself, without the format byte or a transaction's time and currency in the
//! associated data) to the current one (v2, docs/formats.md), while instances serve.
//!
//! It walks `users`, then `transactions`, then `files`, in id order ([`walk`]),
//! selecting only rows that still hold an older value (they sort before the current
//! format byte), opens each such value in its own format and seals it again. A row is
//! written only where it still holds the bytes the job read, so running the job twice,
//! two at once, or next to serving instances is safe, and an interrupted job resumes
//! by running it again. Values already current are written back unchanged: the job
//! never re-seals them. Data keys and blind indexes are untouched (the rewrap job
//! moves wrapped keys to the current format together with the active master key
//! version).

use std::collections::HashMap;

use super::files::records as file_records;
use super::key_jobs::{walk, JobOptions, JobReport};
use super::{ledger, users, Vault, VaultError};
use crate::crypto::{CryptoError, DataKey, SealedField};
use crate::db::files as file_rows;
use crate::db::transactions as transaction_rows;
use crate::db::users as user_rows;
use crate::db::{DbConnection, DbError};
use crate::id::UserId;

/// The first byte of the current format: older values sort before it.
const CURRENT: [u8; 1] = [SealedField::CURRENT_FORMAT];

/// Rows still holding an older format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ResealPending {
    pub users: u64,
    pub transactions: u64,
    pub files: u64,
}

impl ResealPending {
    pub fn total(self) -> u64 {
        self.users + self.transactions + self.files
    }
}

/// Reads up to `limit` rows after a cursor that hold a value sorting before the given
/// format byte.
type NextBatch<Row, Id> =
    fn(&mut DbConnection, &[u8], Option<Id>, i64) -> Result<Vec<Row>, DbError>;

/// Writes resealed rows, each where its guard column still holds the bytes read.
type WriteResealed<Row> = fn(&mut DbConnection, &[(Vec<u8>, Row)]) -> Result<usize, DbError>;

/// How the job reads, rewrites and writes one table's rows.
struct Table<Row, Id> {
    /// Named in the log line of a row that is skipped.
    what: &'static str,
    next_batch: NextBatch<Row, Id>,
    id_of: fn(&Row) -> Id,
    owner_of: fn(&Row) -> UserId,
    /// The sealed column whose old bytes guard the write.
    guard_of: fn(&Row) -> Vec<u8>,
    reseal: fn(&DataKey, Row) -> Result<Row, CryptoError>,
    write: WriteResealed<Row>,
}

impl Vault {
    /// How many users, transactions and files still hold a value in an older format.
    pub fn reseal_pending(&self) -> Result<ResealPending, VaultError> {
        crate::db::run(&self.core.pool, |main| {
            let count = |rows: i64| u64::try_from(rows).unwrap_or(0);
            Ok::<_, VaultError>(ResealPending {
                users: count(user_rows::count_sealed_before(main, &CURRENT)?),
                transactions: count(transaction_rows::count_sealed_before(main, &CURRENT)?),
                files: count(file_rows::count_sealed_before(main, &CURRENT)?),
            })
        })
    }

    /// Reseals every user, then every transaction, then every file row still holding
    /// a value in an older format; `options.max_rows` counts rows of all three. A token
    /// that stops answering ends the job with an error (run it again once it is back);
    /// a row whose key is gone or whose value does not open is skipped and logged by
    /// id.
    pub fn reseal_to_current_format(
        &self,
        options: JobOptions,
        progress: &mut dyn FnMut(u64),
    ) -> Result<JobReport, VaultError> {
        crate::db::run(&self.core.pool, |main| {
            let mut total = JobReport::default();
            let mut add = |report: JobReport| {
                total.processed += report.processed;
                total.written += report.written;
                total.skipped += report.skipped;
                total.processed
            };
            let left = |done: u64| JobOptions {
                max_rows: options.max_rows.map(|max| max.saturating_sub(done)),
                ..options
            };
            let users = Table {
                what: "user",
                next_batch: user_rows::batch_sealed_before,
                id_of: |row| row.id,
                owner_of: |row| row.id,
                guard_of: |row| row.email.clone(),
                reseal: users::reseal_row,
                write: user_rows::write_resealed,
            };
            let done = add(self.reseal_table(main, &users, options, progress)?);
            let transactions = Table {
                what: "transaction",
                next_batch: transaction_rows::batch_sealed_before,
                id_of: |row| row.id,
                owner_of: |row| row.user_id,
                guard_of: |row| row.amount.clone(),
                reseal: ledger::reseal_row,
                write: transaction_rows::write_resealed,
            };
            let done = add(self.reseal_table(main, &transactions, left(done), progress)?);
            let files = Table {
                what: "file",
                next_batch: file_rows::batch_sealed_before,
                id_of: |row| row.id,
                owner_of: |row| row.user_id,
                guard_of: |row| row.name.clone(),
                reseal: file_records::reseal_row,
                write: file_rows::write_resealed,
            };
            add(self.reseal_table(main, &files, left(done), progress)?);
            Ok(total)
        })
    }

    /// One table's part of the job.
    fn reseal_table<Row, Id: Copy + std::fmt::Display>(
        &self,
        main: &mut DbConnection,
        table: &Table<Row, Id>,
        options: JobOptions,
        progress: &mut dyn FnMut(u64),
    ) -> Result<JobReport, VaultError> {
        walk(
            main,
            options,
            |main, after, limit| Ok((table.next_batch)(main, &CURRENT, after, limit)?),
            table.id_of,
            |main, batch, report| {
                let keys = self.batch_keys(main, batch.iter().map(table.owner_of))?;
                let mut resealed = Vec::with_capacity(batch.len());
                for row in batch {
                    let id = (table.id_of)(&row);
                    let Some(key) = keys.get(&(table.owner_of)(&row)) else {
                        report.skipped += 1;
                        continue;
                    };
                    let guard = (table.guard_of)(&row);
                    match (table.reseal)(key, row) {
                        Ok(row) => resealed.push((guard, row)),
                        Err(error) => {
                            tracing::warn!(what = table.what, %id, %error, "row not resealed");
                            report.skipped += 1;
                        }
                    }
                }
                report.written += (table.write)(main, &resealed)? as u64;
                Ok(())
            },
            progress,
        )
    }

    /// The data keys of a batch's users, unwrapped once each. A user whose key is gone
    /// (shredded) or does not unwrap is left out (logged: its rows are skipped); a
    /// token that does not answer ends the job.
    fn batch_keys(
        &self,
        main: &mut DbConnection,
        users: impl Iterator<Item = UserId>,
    ) -> Result<HashMap<UserId, DataKey>, VaultError> {
        let mut ids: Vec<UserId> = users.collect();
        ids.sort_unstable();
        ids.dedup();
        let mut keys = HashMap::with_capacity(ids.len());
        for (id, wrapped) in self.core.wrapped_keys(main, &ids)? {
            match self.core.unwrap_data_key(id, &wrapped) {
                Ok(key) => {
                    keys.insert(id, key);
                }
                Err(VaultError::TokenUnavailable) => return Err(VaultError::TokenUnavailable),
                Err(error) => tracing::warn!(user_id = %id, %error, "data key does not unwrap"),
            }
        }
        Ok(keys)
    }
}
