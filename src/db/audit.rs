//! Audit records as stored: who read personal data, what, whose and when. The table
//! is append-only (database triggers refuse UPDATE and DELETE); the rows never hold
//! personal values, only ids, a client name chosen by the operator and counts.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::audit_log;
use super::{DbConnection, DbError};
use crate::id::{AuditId, ClientId, UserId};

/// A record as stored, and as GET /audit and `piivault audit tail` show it (nothing in
/// it is personal data).
#[derive(Debug, Clone, Queryable, Selectable, Insertable, serde::Serialize)]
#[diesel(table_name = audit_log)]
pub struct AuditRow {
    pub id: AuditId,
    #[serde(serialize_with = "crate::time::serialize_rfc3339")]
    pub at: NaiveDateTime,
    pub request_id: String,
    pub client_id: ClientId,
    pub client_name: String,
    pub action: String,
    pub subject_user_id: Option<UserId>,
    pub users_read: i64,
}

/// What a record says besides who read and whose data: its id (UUIDv7), when, under
/// which request id, and the action's stored name.
#[derive(Debug)]
pub struct AuditStamp {
    pub id: AuditId,
    pub at: NaiveDateTime,
    pub request_id: String,
    pub action: &'static str,
}

impl AuditStamp {
    /// The whole record: the stamp, the reading client, and whose data it read (one
    /// user, or `users_read` of them).
    pub fn into_row(
        self,
        client_id: ClientId,
        client_name: String,
        subject_user_id: Option<UserId>,
        users_read: i64,
    ) -> AuditRow {
        AuditRow {
            id: self.id,
            at: self.at,
            request_id: self.request_id,
            client_id,
            client_name,
            action: self.action.to_owned(),
            subject_user_id,
            users_read,
        }
    }
}

/// Which records a query wants; every filter is optional. Newest first; `before` is
/// the id of the last record of the previous page (ids are UUIDv7, time-ordered).
#[derive(Debug, Default)]
pub struct AuditFilter {
    pub subject_user_id: Option<UserId>,
    pub client_id: Option<ClientId>,
    pub since: Option<NaiveDateTime>,
    pub until: Option<NaiveDateTime>,
    pub before: Option<AuditId>,
    pub limit: i64,
}

/// Appends records in one transaction: one multi-row statement on PostgreSQL (batch
/// inserts do not compile through `MultiConnection`), single inserts on SQLite (which
/// has no round trip to save).
pub fn insert_many(connection: &mut DbConnection, rows: &[AuditRow]) -> Result<(), DbError> {
    match connection {
        DbConnection::Postgres(connection) => {
            // One statement is one implicit transaction: no BEGIN and COMMIT to send.
            diesel::insert_into(audit_log::table)
                .values(rows)
                .execute(connection)?;
        }
        DbConnection::Sqlite(_) => super::write_transaction(connection, |connection| {
            for row in rows {
                diesel::insert_into(audit_log::table)
                    .values(row)
                    .execute(connection)?;
            }
            Ok::<_, DbError>(())
        })?,
    }
    Ok(())
}

/// Appends one record, in whatever transaction `connection` is in.
pub fn insert(connection: &mut DbConnection, row: &AuditRow) -> Result<(), DbError> {
    diesel::insert_into(audit_log::table)
        .values(row)
        .execute(connection)?;
    Ok(())
}

/// Records matching `filter`, newest first.
pub fn find(connection: &mut DbConnection, filter: &AuditFilter) -> Result<Vec<AuditRow>, DbError> {
    let mut query = audit_log::table
        .select(AuditRow::as_select())
        .order_by(audit_log::id.desc())
        .limit(filter.limit)
        .into_boxed();
    if let Some(subject) = &filter.subject_user_id {
        query = query.filter(audit_log::subject_user_id.eq(*subject));
    }
    if let Some(client) = &filter.client_id {
        query = query.filter(audit_log::client_id.eq(*client));
    }
    if let Some(since) = filter.since {
        query = query.filter(audit_log::at.ge(since));
    }
    if let Some(until) = filter.until {
        query = query.filter(audit_log::at.lt(until));
    }
    if let Some(before) = &filter.before {
        query = query.filter(audit_log::id.lt(*before));
    }
    query.load(connection).map_err(DbError::from)
}
