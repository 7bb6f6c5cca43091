//! Statements: a period of a user's transactions in one currency, with the opening
//! balance, as an AES-256 encrypted PDF (`pdf`). Rendered from the stored transactions
//! when asked for, so nothing lives in process memory and any instance serves any
//! link. `GET /users/{id}/statement` opens with the national id; links
//! (`statement_links.rs`) choose their password policy.

use zeroize::Zeroizing;

use super::audit::{Action, RequestId, Subject};
use super::users::UserRecord;
use super::{Core, Vault, VaultError};
use crate::access::Claim;
use crate::db::DbConnection;
use crate::domain::{Currency, Period};
use crate::id::UserId;
use crate::pdf::{self, Statement};

/// The most transactions one statement renders (a 100,000-row PDF takes seconds and
/// hundreds of MB; see BENCHMARKS.md). Longer periods must be split.
pub const MAX_STATEMENT_ROWS: usize = 100_000;

pub(crate) const NO_NATIONAL_ID: &str =
    "This user has no national id, which the statement password needs; add one first.";

/// Which statement: the period and the currency.
#[derive(Debug, Clone, Copy)]
pub struct StatementRequest {
    pub period: Period,
    pub currency: Currency,
}

/// An encrypted statement and the name to offer it under.
pub struct StatementPdf {
    pub bytes: Vec<u8>,
    pub file_name: String,
}

/// A statement's content, read and opened, and the name of its file.
pub(crate) struct Loaded {
    statement: Statement,
    file_name: String,
}

/// Today in UTC: a period's default end.
pub(crate) fn today() -> chrono::NaiveDate {
    chrono::Utc::now().date_naive()
}

impl Vault {
    /// GET /users/{id}/statement: the user's statement for the period, opened with
    /// their national id; audited.
    pub async fn statement(
        &self,
        claim: Claim,
        request: RequestId,
        user: UserId,
        wanted: StatementRequest,
    ) -> Result<StatementPdf, VaultError> {
        let (loaded, password) = self
            .audited(
                claim,
                request,
                Action::StatementDownload,
                move |core, connection, _| {
                    let person = core.fetch(connection, user)?.ok_or(VaultError::NotFound)?;
                    let password = Zeroizing::new(
                        person
                            .national_id
                            .clone()
                            .ok_or(VaultError::Conflict(NO_NATIONAL_ID))?,
                    );
                    let reference = uuid::Uuid::new_v4().to_string();
                    let statement = core.load_statement(connection, &person, wanted, reference)?;
                    let file_name = format!("statement-{user}.pdf");
                    let loaded = Loaded {
                        statement,
                        file_name,
                    };
                    Ok(((loaded, password), Subject::User(user)))
                },
            )
            .await?;
        self.render_statement(loaded, password).await
    }

    /// Renders and encrypts a statement: CPU work, on a blocking thread after the
    /// database connection went back to the pool.
    pub(crate) async fn render_statement(
        &self,
        loaded: Loaded,
        password: Zeroizing<String>,
    ) -> Result<StatementPdf, VaultError> {
        self.blocking(move |_| {
            let Loaded {
                statement,
                file_name,
            } = loaded;
            let document = pdf::render_statement(&statement)?;
            drop(statement);
            Ok(StatementPdf {
                bytes: pdf::encrypt(&document, &password)?,
                file_name,
            })
        })
        .await
    }
}

impl Loaded {
    pub(crate) fn new(statement: Statement, file_name: String) -> Self {
        Self {
            statement,
            file_name,
        }
    }
}

impl Core {
    /// Gathers one statement's content from the database. `reference` is shown small
    /// in the header, so support can find the document.
    pub(crate) fn load_statement(
        &self,
        connection: &mut DbConnection,
        person: &UserRecord,
        wanted: StatementRequest,
        reference: String,
    ) -> Result<Statement, VaultError> {
        let activity = self.activity(
            connection,
            person.id,
            wanted.period,
            wanted.currency,
            MAX_STATEMENT_ROWS,
        )?;
        Ok(Statement {
            customer_name: person.full_name(),
            masked_phone: person.phone.as_deref().map(pdf::mask_phone),
            period: wanted.period,
            currency: wanted.currency,
            requested_at: chrono::Utc::now(),
            reference,
            opening_balance: activity.opening_balance,
            transactions: activity.transactions,
        })
    }
}
