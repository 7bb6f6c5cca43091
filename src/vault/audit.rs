//! The audit log: every read of personal data leaves one append-only record of who
//! read (the API client), what (the [`Action`]), whose (the subject user, when the read
//! is about one user, else how many users it returned), when, and under which request
//! id. Records never hold the data itself.
//!
//! A record is committed before its read is answered: if it cannot be, the read fails
//! too (nothing is handed out unlogged). Records of concurrent reads are committed
//! together (`group_commit.rs`): an operation reads, then [`Vault::record`] queues its
//! record and waits for the commit of the transaction holding it. GET /users/{id}
//! commits its records with its reads (`user_reads.rs`), with a [`stamp`] made here.
//! A document (statement, export) writes its record with [`record`] on the
//! connection that then streams it, committed before its first byte.

use chrono::NaiveDateTime;

use super::group_commit::Batch;
use super::{Core, Vault, VaultError};
use crate::access::{Caller, Claim};
use crate::db::audit::{self as rows, AuditFilter, AuditRow, AuditStamp};
use crate::db::{DbConnection, DbError};
use crate::id::{AuditId, ClientId, UserId};

/// What kind of read happened. The names are stable: they are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// GET /users/{id}, GET /get-user/{id}
    UserRead,
    /// GET /users (a page or a search)
    UsersList,
    /// GET /users/{id}/statement, and POST /users/{id}/statements (a link hands the
    /// statement to whoever holds it)
    StatementDownload,
    /// POST /exports/users
    UsersExport,
    /// GET /users/{id}/files/{file_id}
    FileDownload,
    /// GET /users/{id}/files (the names of a user's files)
    FileList,
    /// GET /users/{id}/transactions
    TransactionsRead,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UserRead => "user.read",
            Self::UsersList => "users.list",
            Self::StatementDownload => "statement.download",
            Self::UsersExport => "users.export",
            Self::FileDownload => "file.download",
            Self::FileList => "files.list",
            Self::TransactionsRead => "transactions.read",
        }
    }
}

/// Whose data was read.
#[derive(Debug, Clone, Copy)]
pub enum Subject {
    /// One user's data.
    User(UserId),
    /// Several users' data (a list page, a search, an export): how many.
    Users(usize),
}

/// The id a request is known by in logs and audit records: letters, digits, `-`, `_`
/// and `.`, at most 64 characters (a load balancer's, or one made here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(String);

impl RequestId {
    const MAX_LEN: usize = 64;

    /// An incoming id, when it is one that can be logged and echoed safely.
    pub fn parse(value: &str) -> Option<Self> {
        let sane = (1..=Self::MAX_LEN).contains(&value.len())
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        sane.then(|| Self(value.to_owned()))
    }

    /// A new id (a random UUID).
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Appends one record on `connection` and commits it with whatever the connection
/// commits next: for documents, which write their record on the connection that then
/// streams them, before the first byte. Other reads queue theirs with
/// [`Vault::record`], which commits many together.
pub fn record(
    connection: &mut DbConnection,
    caller: &Caller,
    request: &RequestId,
    action: Action,
    subject: Subject,
) -> Result<(), DbError> {
    rows::insert(connection, &row(caller, request, action, subject))
}

/// The record of a read `caller` made of `subject`.
fn row(caller: &Caller, request: &RequestId, action: Action, subject: Subject) -> AuditRow {
    let (subject_user_id, users_read) = match subject {
        Subject::User(id) => (Some(id), 1),
        Subject::Users(count) => (None, i64::try_from(count).unwrap_or(i64::MAX)),
    };
    stamp(request, action).into_row(
        caller.client_id,
        caller.name.clone(),
        subject_user_id,
        users_read,
    )
}

/// A new record's id, time, request id and action.
pub fn stamp(request: &RequestId, action: Action) -> AuditStamp {
    AuditStamp {
        id: AuditId::generate(),
        at: crate::time::now(),
        request_id: request.as_str().to_owned(),
        action: action.as_str(),
    }
}

/// An audit record as GET /audit and `piivault audit tail` show it: the row itself.
pub type AuditEntry = AuditRow;

/// Which records to return; every filter is optional. Newest first; `before` is the id
/// of the last record of the previous page (ids are UUIDv7, time-ordered).
#[derive(Debug, Default, Clone)]
pub struct AuditQuery {
    pub user: Option<UserId>,
    pub client: Option<ClientId>,
    pub since: Option<NaiveDateTime>,
    pub until: Option<NaiveDateTime>,
    pub before: Option<AuditId>,
    pub limit: u32,
}

/// Records matching `query`, newest first.
pub fn find(connection: &mut DbConnection, query: &AuditQuery) -> Result<Vec<AuditEntry>, DbError> {
    let filter = AuditFilter {
        subject_user_id: query.user,
        client_id: query.client,
        since: query.since,
        until: query.until,
        before: query.before,
        limit: i64::from(query.limit),
    };
    rows::find(connection, &filter)
}

/// Records of reads, committed many a transaction.
pub(crate) struct AuditRecords;

impl Batch for AuditRecords {
    type Unit = AuditRow;
    type Outcome = ();
    const THREAD_NAME: &'static str = "commit-audit";

    fn commit(
        &self,
        connection: &mut DbConnection,
        records: Vec<AuditRow>,
    ) -> Result<Vec<()>, VaultError> {
        rows::insert_many(connection, &records)?;
        Ok(vec![(); records.len()])
    }
}

impl Vault {
    /// Appends the record of a read `caller` made and waits until it is committed:
    /// call it after the read and before answering. If the record cannot be
    /// committed the read must fail.
    pub(crate) async fn record(
        &self,
        caller: &Caller,
        request: &RequestId,
        action: Action,
        subject: Subject,
    ) -> Result<(), VaultError> {
        self.core
            .audit
            .commit(row(caller, request, action, subject))
            .await
    }

    /// Runs a read for the client `claim` names (`work` returns what it read and
    /// whose data that is), then commits its record; returns what was read only once
    /// the record is committed.
    pub(crate) async fn audited<T, F>(
        &self,
        claim: Claim,
        request: RequestId,
        action: Action,
        work: F,
    ) -> Result<T, VaultError>
    where
        T: Send + 'static,
        F: FnOnce(&Core, &mut DbConnection, &Caller) -> Result<(T, Subject), VaultError>
            + Send
            + 'static,
    {
        let (read, subject, caller) = self
            .as_client(claim, move |core, connection, caller| {
                let (read, subject) = work(core, connection, caller)?;
                Ok((read, subject, caller.clone()))
            })
            .await?;
        self.record(&caller, &request, action, subject).await?;
        Ok(read)
    }

    /// GET /audit: records matching `query`, newest first.
    pub async fn audit_log(
        &self,
        claim: Claim,
        query: AuditQuery,
    ) -> Result<Vec<AuditEntry>, VaultError> {
        self.as_client(claim, move |_, connection, _| Ok(find(connection, &query)?))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::RequestId;

    #[test]
    fn request_ids_keep_only_short_plain_values() {
        assert!(RequestId::parse("abc-123_X.y").is_some());
        assert!(RequestId::parse(&"a".repeat(64)).is_some());
        for bad in ["", "a b", "a\nb", "<script>", "é", &"a".repeat(65)] {
            assert!(RequestId::parse(bad).is_none(), "{bad:?}");
        }
    }
}
