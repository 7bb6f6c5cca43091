//! The audit log: every read of personal data leaves one append-only record of who
//! read (the API client), what (the [`Action`]), whose (the subject user, when the
//! read is about one user, else how many users it returned), when, and under which
//! request id. Records never hold the data itself.
//!
//! Routes call [`record`] on the connection they read with, before they answer: if
//! the record cannot be written, the read fails too (nothing is handed out unlogged).
//! Reads to hook in as they land: file downloads (`Action::FileDownload`) and
//! transaction reads (`Action::TransactionsRead`).

use chrono::NaiveDateTime;
use serde::Serialize;
use uuid::Uuid;

use crate::access::Caller;
use crate::db::audit::{self as rows, AuditFilter, AuditRow, AuditStamp};
use crate::db::{DbConnection, DbError};
use crate::request_id::RequestId;

/// What kind of read happened. The names are stable: they are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// GET /users/{id}, GET /get-user/{id}
    UserRead,
    /// GET /users (a page or a search)
    UsersList,
    /// GET /users/{id}/statement
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
    User(Uuid),
    /// Several users' data (a list page, a search, an export): how many.
    Users(usize),
}

/// Appends one record. Call it on the connection the read used, before answering.
pub fn record(
    connection: &mut DbConnection,
    caller: &Caller,
    request: &RequestId,
    action: Action,
    subject: Subject,
) -> Result<(), DbError> {
    let (subject_user_id, users_read) = match subject {
        Subject::User(id) => (Some(id.as_bytes().to_vec()), 1),
        Subject::Users(count) => (None, i64::try_from(count).unwrap_or(i64::MAX)),
    };
    let row = stamp(request, action).into_row(
        caller.client_id.as_bytes().to_vec(),
        caller.name.clone(),
        subject_user_id,
        users_read,
    );
    rows::insert(connection, &row)
}

/// A new record's id, time, request id and action, for a statement that writes the
/// record itself (`db::audited_read`).
pub fn stamp(request: &RequestId, action: Action) -> AuditStamp {
    AuditStamp {
        id: Uuid::now_v7().as_bytes().to_vec(),
        at: crate::time::now(),
        request_id: request.as_str().to_owned(),
        action: action.as_str(),
    }
}

/// An audit record as GET /audit and `piivault audit tail` show it.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    pub id: Uuid,
    #[serde(serialize_with = "serialize_time")]
    pub at: NaiveDateTime,
    pub request_id: String,
    pub client_id: Uuid,
    pub client_name: String,
    pub action: String,
    pub subject_user_id: Option<Uuid>,
    pub users_read: i64,
}

fn serialize_time<S: serde::Serializer>(at: &NaiveDateTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::time::rfc3339(*at))
}

impl From<AuditRow> for AuditEntry {
    fn from(row: AuditRow) -> Self {
        let uuid = |bytes: &[u8]| Uuid::from_slice(bytes).unwrap_or_default();
        Self {
            id: uuid(&row.id),
            at: row.at,
            request_id: row.request_id,
            client_id: uuid(&row.client_id),
            client_name: row.client_name,
            action: row.action,
            subject_user_id: row.subject_user_id.as_deref().map(uuid),
            users_read: row.users_read,
        }
    }
}

/// Which records to return; see [`AuditFilter`].
#[derive(Debug, Default, Clone)]
pub struct AuditQuery {
    pub user: Option<Uuid>,
    pub client: Option<Uuid>,
    pub since: Option<NaiveDateTime>,
    pub until: Option<NaiveDateTime>,
    pub before: Option<Uuid>,
    pub limit: u32,
}

/// Records matching `query`, newest first.
pub fn find(connection: &mut DbConnection, query: &AuditQuery) -> Result<Vec<AuditEntry>, DbError> {
    let bytes = |id: Option<Uuid>| id.map(|id| id.as_bytes().to_vec());
    let filter = AuditFilter {
        subject_user_id: bytes(query.user),
        client_id: bytes(query.client),
        since: query.since,
        until: query.until,
        before: bytes(query.before),
        limit: i64::from(query.limit),
    };
    Ok(rows::find(connection, &filter)?
        .into_iter()
        .map(AuditEntry::from)
        .collect())
}
