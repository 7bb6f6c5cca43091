//! Statements: a period of a user's transactions in one currency, with the opening
//! balance, as an AES-256 encrypted PDF (`pdf`) written while the rows are read
//! (`documents.rs` streams it). Rendered from the stored transactions when asked for,
//! so nothing lives in process memory and any instance serves any link.
//! `GET /users/{id}/statement` opens with the national id; links
//! (`statement_links.rs`) choose their password policy.

use std::sync::Arc;

use zeroize::Zeroizing;

use super::audit::{self, Action, RequestId, Subject};
use super::documents::{ChannelWriter, DocumentStream, Written};
use super::users::UserRecord;
use super::{Core, Vault, VaultError};
use crate::access::Claim;
use crate::db::DbConnection;
use crate::domain::{Currency, Period};
use crate::id::UserId;
use crate::metrics::DocumentKind;
use crate::pdf::{self, StatementHeader, StatementWriter};

/// The most transactions one statement holds. Memory does not grow with the count
/// (BENCHMARKS.md); the cap bounds how long one download keeps a slot.
pub const MAX_STATEMENT_ROWS: u64 = 5_000_000;

pub(crate) const NO_NATIONAL_ID: &str =
    "This user has no national id, which the statement password needs; add one first.";

/// Which statement: the period and the currency.
#[derive(Debug, Clone, Copy)]
pub struct StatementRequest {
    pub period: Period,
    pub currency: Currency,
}

/// Today in UTC: a period's default end.
pub(crate) fn today() -> chrono::NaiveDate {
    chrono::Utc::now().date_naive()
}

impl Vault {
    /// GET /users/{id}/statement: the user's statement for the period, opened with
    /// their national id; audited before its first byte.
    pub async fn statement(
        &self,
        claim: Claim,
        request: RequestId,
        user: UserId,
        wanted: StatementRequest,
    ) -> Result<DocumentStream, VaultError> {
        self.stream_document(DocumentKind::Statement, move |core, ready, sink| {
            crate::db::run(&core.pool, |connection| {
                let caller = claim.check(connection, &core.keys.current().metadata)?;
                let person = core.fetch(connection, user)?.ok_or(VaultError::NotFound)?;
                let password = Zeroizing::new(
                    person
                        .national_id
                        .clone()
                        .ok_or(VaultError::Conflict(NO_NATIONAL_ID))?,
                );
                check_size(connection, user, wanted)?;
                audit::record(
                    connection,
                    &caller,
                    &request,
                    Action::StatementDownload,
                    Subject::User(user),
                )?;
                ready.go(format!("statement-{user}.pdf"));
                let reference = uuid::Uuid::new_v4().to_string();
                core.write_statement(connection, &person, wanted, reference, &password, sink)
            })
        })
        .await
    }
}

/// More than [`MAX_STATEMENT_ROWS`] in the period is a validation failure of `to`.
pub(crate) fn check_size(
    connection: &mut DbConnection,
    user: UserId,
    wanted: StatementRequest,
) -> Result<(), VaultError> {
    if Core::more_in_period_than(
        connection,
        user,
        wanted.period,
        wanted.currency,
        MAX_STATEMENT_ROWS,
    )? {
        return Err(VaultError::invalid(
            "to",
            "the period holds too many transactions for one statement; choose a shorter one",
        ));
    }
    Ok(())
}

impl Core {
    /// Writes one statement into `sink`: the document starts at once, then the
    /// opening balance and the period's rows are read and opened a batch at a time.
    /// `reference` is shown small in the header, so support can find the document.
    pub(crate) fn write_statement(
        &self,
        connection: &mut DbConnection,
        person: &UserRecord,
        wanted: StatementRequest,
        reference: String,
        password: &str,
        sink: &mut ChannelWriter,
    ) -> Result<Written, VaultError> {
        let data_key = self.ledger_key(connection, person.id)?;
        let header = StatementHeader {
            customer_name: person.full_name(),
            masked_phone: person.phone.as_deref().map(pdf::mask_phone),
            period: wanted.period,
            currency: wanted.currency,
            requested_at: chrono::Utc::now(),
            reference,
        };
        let mut writer = StatementWriter::start(sink, password, Arc::clone(&self.fonts), header)?;
        writer.opening(Core::opening_balance(
            connection,
            &data_key,
            person.id,
            wanted.period,
            wanted.currency,
        )?);
        // The rows are read and opened on a second thread while the writer lays out
        // the previous batch: a large statement uses both cores. A failure on either
        // side stops the other (a closed channel), and the document is only finished
        // when every row arrived.
        let key = (person.id, (wanted.period, wanted.currency));
        std::thread::scope(|scope| {
            let (batches, arriving) = std::sync::mpsc::sync_channel(2);
            let reader = std::thread::Builder::new()
                .name("statement-reader".to_owned())
                .spawn_scoped(scope, move || {
                    Core::each_batch(connection, &data_key, key.0, key.1, |batch| {
                        batches.send(batch).map_err(|_| {
                            VaultError::Internal(anyhow::anyhow!("the statement writer stopped"))
                        })
                    })
                })
                .map_err(VaultError::internal)?;
            let written = arriving.iter().try_for_each(|batch| {
                batch
                    .iter()
                    .try_for_each(|transaction| writer.add(transaction))
            });
            drop(arriving);
            let read = reader.join().unwrap_or_else(|_| {
                Err(VaultError::Internal(anyhow::anyhow!(
                    "the statement reader panicked"
                )))
            });
            written.map_err(VaultError::from)?;
            read
        })?;
        let (_, missing) = writer.finish()?;
        Ok(missing)
    }
}
