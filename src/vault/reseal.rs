//! The reseal job: rewrites values sealed in an older format (v1: sealed under the
//! data key itself, without the format byte or a transaction's time and currency in the
//! associated data) to the current one (v2, docs/formats.md), while instances serve.
//!
//! It walks `users`, then `transactions`, in id order ([`walk`]), selecting only rows
//! that still hold an older value (they sort before the current format byte), opens
//! each such value in its own format and seals it again. A row is written only where
//! it still holds the bytes the job read, so running the job twice, two at once, or
//! next to serving instances is safe, and an interrupted job resumes by running it
//! again. Values already current are written back unchanged: the job never re-seals
//! them. Data keys and blind indexes are untouched (the rewrap job moves wrapped keys
//! to the current format together with the active master key version).

use std::collections::HashMap;

use super::key_jobs::{walk, JobOptions, JobReport};
use super::{ledger, users, Vault, VaultError};
use crate::crypto::{DataKey, SealedField};
use crate::db::transactions as transaction_rows;
use crate::db::users as user_rows;
use crate::db::DbConnection;
use crate::id::UserId;

/// The first byte of the current format: older values sort before it.
const CURRENT: [u8; 1] = [SealedField::CURRENT_FORMAT];

/// Rows still holding an older format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ResealPending {
    pub users: u64,
    pub transactions: u64,
}

impl ResealPending {
    pub fn total(self) -> u64 {
        self.users + self.transactions
    }
}

impl Vault {
    /// How many users and transactions still hold a value in an older format.
    pub fn reseal_pending(&self) -> Result<ResealPending, VaultError> {
        crate::db::run(&self.core.pool, |main| {
            let count = |rows: i64| u64::try_from(rows).unwrap_or(0);
            Ok::<_, VaultError>(ResealPending {
                users: count(user_rows::count_sealed_before(main, &CURRENT)?),
                transactions: count(transaction_rows::count_sealed_before(main, &CURRENT)?),
            })
        })
    }

    /// Reseals every user, then every transaction, still holding a value in an older
    /// format; `options.max_rows` counts rows of both tables. A token that stops
    /// answering ends the job with an error (run it again once it is back); a row whose
    /// key is gone or whose value does not open is skipped and logged by id.
    pub fn reseal_to_current_format(
        &self,
        options: JobOptions,
        progress: &mut dyn FnMut(u64),
    ) -> Result<JobReport, VaultError> {
        let core = &self.core;
        crate::db::run(&core.pool, |main| {
            let users = walk(
                main,
                options,
                |main, after, limit| {
                    Ok(user_rows::batch_sealed_before(
                        main, &CURRENT, after, limit,
                    )?)
                },
                |row| row.id,
                |main, batch, report| {
                    let keys = self.batch_keys(main, batch.iter().map(|row| row.id))?;
                    let mut resealed = Vec::with_capacity(batch.len());
                    for row in batch {
                        let id = row.id;
                        let Some(key) = keys.get(&id) else {
                            report.skipped += 1;
                            continue;
                        };
                        let old_email = row.email.clone();
                        match users::reseal_row(key, row) {
                            Ok(row) => resealed.push((old_email, row)),
                            Err(error) => {
                                tracing::warn!(user_id = %id, %error, "user not resealed");
                                report.skipped += 1;
                            }
                        }
                    }
                    report.written += user_rows::write_resealed(main, &resealed)? as u64;
                    Ok(())
                },
                progress,
            )?;
            let options = JobOptions {
                max_rows: options
                    .max_rows
                    .map(|max| max.saturating_sub(users.processed)),
                ..options
            };
            let transactions = walk(
                main,
                options,
                |main, after, limit| {
                    Ok(transaction_rows::batch_sealed_before(
                        main, &CURRENT, after, limit,
                    )?)
                },
                |row| row.id,
                |main, batch, report| {
                    let keys = self.batch_keys(main, batch.iter().map(|row| row.user_id))?;
                    let mut resealed = Vec::with_capacity(batch.len());
                    for row in batch {
                        let id = row.id;
                        let Some(key) = keys.get(&row.user_id) else {
                            report.skipped += 1;
                            continue;
                        };
                        let old_amount = row.amount.clone();
                        match ledger::reseal_row(key, row) {
                            Ok(row) => resealed.push((old_amount, row)),
                            Err(error) => {
                                tracing::warn!(transaction_id = %id, %error, "transaction not resealed");
                                report.skipped += 1;
                            }
                        }
                    }
                    report.written += transaction_rows::write_resealed(main, &resealed)? as u64;
                    Ok(())
                },
                progress,
            )?;
            Ok(JobReport {
                processed: users.processed + transactions.processed,
                written: users.written + transactions.written,
                skipped: users.skipped + transactions.skipped,
            })
        })
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
