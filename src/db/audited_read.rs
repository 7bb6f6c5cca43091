//! GET /users/{id} on PostgreSQL: the reads of many requests in one statement. For
//! each request the statement finds the client holding its token (with its quota,
//! for `access::quota`), reads the user
//! with its wrapped data key when that client holds the scope, and appends the audit
//! record when (and only when) the user was read. The client's row comes back whole,
//! with its MAC: the statement cannot check a MAC, so the vault does, and refuses
//! the read of a forged or edited row after the statement (its audit record then
//! stands for a refused attempt, naming the forged client). One statement is one implicit
//! transaction: its rows come back only once every record in it is committed, and a
//! failed commit fails the statement, so no read it holds is answered unrecorded.
//!
//! The vault's group committer (`vault::group_commit`) hands it the requests that
//! arrived while the previous statement ran: one round trip, one commit and one log
//! flush for all of them, where one request a statement paid each of those per read
//! (BENCHMARKS.md).
//!
//! Data-modifying CTEs are PostgreSQL's; SQLite runs the same steps one by one in one
//! transaction (`vault::user_reads`). Keys kept in a separate store cannot be joined,
//! so that layout takes the step-by-step path on PostgreSQL too.
//!
//! The statement is a fixed text with array parameters, so diesel prepares it once
//! per connection and caches it by its type, like its own DSL queries.

use chrono::NaiveDateTime;
use diesel::pg::{Pg, PgConnection};
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{Array, Binary, Bool, Integer, Nullable, Text, Timestamp, Untyped};

use super::audit::AuditStamp;
use super::clients::{CallerRow, LimitColumns};
use super::users::UserRow;
use super::DbError;
use crate::id::{AuditId, ClientId, UserId};

/// One request's read: the digest of the token it presented, the scope the read needs,
/// the user it reads and the audit record to write if it does.
#[derive(Debug)]
pub struct ReadRequest<'a> {
    pub token_hash: [u8; 32],
    pub scope: &'a str,
    pub user_id: UserId,
    pub stamp: &'a AuditStamp,
}

/// What the statement found for one request.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // mostly `Read`, built once per request and moved on
pub enum AuditedRead {
    /// No active client holds the token.
    UnknownToken,
    /// The client does not hold the scope.
    Forbidden(CallerRow),
    /// No such user (or none with a key): nothing read, nothing recorded.
    NoUser(CallerRow),
    /// The user's row and wrapped data key; the audit record is in the same commit.
    Read(CallerRow, UserRow, Vec<u8>),
}

impl AuditedRead {
    /// The row of the active client holding the token, when one does.
    pub fn holder(&self) -> Option<&CallerRow> {
        match self {
            Self::UnknownToken => None,
            Self::Forbidden(holder) | Self::NoUser(holder) | Self::Read(holder, ..) => Some(holder),
        }
    }
}

/// Runs the reads of `requests` in one statement; one outcome per request, in order.
/// The statement alone decides whether each scope is held (and so whether the read
/// happens and is recorded); it reads `api_clients.scopes` as `Scope::granted_by`
/// does: comma-separated names, each trimmed, unknown ones ignored.
pub fn read_users(
    connection: &mut PgConnection,
    requests: &[ReadRequest<'_>],
) -> Result<Vec<AuditedRead>, DbError> {
    let statement = ReadUsersStatement {
        token_hashes: requests.iter().map(|r| r.token_hash.as_slice()).collect(),
        scopes: requests.iter().map(|r| r.scope).collect(),
        user_ids: requests.iter().map(|r| r.user_id).collect(),
        audit_ids: requests.iter().map(|r| r.stamp.id).collect(),
        ats: requests.iter().map(|r| r.stamp.at).collect(),
        request_ids: requests
            .iter()
            .map(|r| r.stamp.request_id.as_str())
            .collect(),
        actions: requests.iter().map(|r| r.stamp.action).collect(),
    };
    let rows = statement.load::<ReadRow>(connection)?;
    Ok(rows.into_iter().map(ReadRow::into_read).collect())
}

/// The requests as columns: PostgreSQL unnests the arrays back into rows.
struct ReadUsersStatement<'a> {
    token_hashes: Vec<&'a [u8]>,
    scopes: Vec<&'a str>,
    user_ids: Vec<UserId>,
    audit_ids: Vec<AuditId>,
    ats: Vec<NaiveDateTime>,
    request_ids: Vec<&'a str>,
    actions: Vec<&'a str>,
}

impl QueryId for ReadUsersStatement<'_> {
    type QueryId = ReadUsersStatement<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl Query for ReadUsersStatement<'_> {
    type SqlType = Untyped;
}

impl RunQueryDsl<PgConnection> for ReadUsersStatement<'_> {}

impl QueryFragment<Pg> for ReadUsersStatement<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("WITH request AS (SELECT * FROM unnest(");
        out.push_bind_param::<Array<Binary>, _>(&self.token_hashes)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.scopes)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Binary>, _>(&self.user_ids)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Binary>, _>(&self.audit_ids)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Timestamp>, _>(&self.ats)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.request_ids)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.actions)?;
        out.push_sql(
            ") WITH ORDINALITY \
                 AS r(token_hash, scope, user_id, audit_id, at, request_id, action, n) \
             ), caller AS ( \
               SELECT r.n, c.id, c.name, c.token_hash, c.scopes, c.mac, \
                      c.rate_per_second, c.burst, c.max_concurrent, \
                      r.scope IN (SELECT btrim(granted) \
                                  FROM unnest(string_to_array(c.scopes, ',')) AS granted) \
                        AS allowed \
               FROM request r \
               JOIN api_clients c ON c.token_hash = r.token_hash AND c.revoked_at IS NULL \
             ), found AS ( \
               SELECT caller.n, u.id, u.created_at, u.updated_at, u.first_name, \
                      u.last_name, u.email, u.phone, u.national_id, u.date_of_birth, \
                      u.address, k.wrapped_key \
               FROM caller \
               JOIN request r ON r.n = caller.n \
               JOIN users u ON u.id = r.user_id \
               JOIN data_keys k ON k.user_id = u.id \
               WHERE caller.allowed \
             ), recorded AS ( \
               INSERT INTO audit_log (id, at, request_id, client_id, client_name, action, \
                                      subject_user_id, users_read) \
               SELECT r.audit_id, r.at, r.request_id, caller.id, caller.name, r.action, \
                      found.id, 1 \
               FROM found \
               JOIN request r ON r.n = found.n \
               JOIN caller ON caller.n = found.n \
             ) \
             SELECT caller.id AS client_id, caller.name AS client_name, \
                    caller.token_hash AS client_token_hash, \
                    caller.scopes AS client_scopes, caller.mac AS client_mac, \
                    caller.rate_per_second, caller.burst, \
                    caller.max_concurrent, coalesce(caller.allowed, false) AS allowed, \
                    found.id, found.created_at, found.updated_at, found.first_name, \
                    found.last_name, found.email, found.phone, found.national_id, \
                    found.date_of_birth, found.address, found.wrapped_key \
             FROM request r \
             LEFT JOIN caller ON caller.n = r.n \
             LEFT JOIN found ON found.n = r.n \
             ORDER BY r.n",
        );
        Ok(())
    }
}

/// One result row, in the requests' order: the client holding its token, its sealed
/// columns and MAC (null when none does) and whether that client holds the scope, then the
/// user's columns (all null when not read).
#[derive(QueryableByName)]
struct ReadRow {
    #[diesel(sql_type = Nullable<Binary>)]
    client_id: Option<ClientId>,
    #[diesel(sql_type = Nullable<Text>)]
    client_name: Option<String>,
    #[diesel(sql_type = Nullable<Binary>)]
    client_token_hash: Option<Vec<u8>>,
    #[diesel(sql_type = Nullable<Text>)]
    client_scopes: Option<String>,
    #[diesel(sql_type = Nullable<Binary>)]
    client_mac: Option<Vec<u8>>,
    #[diesel(sql_type = Nullable<Integer>)]
    rate_per_second: Option<i32>,
    #[diesel(sql_type = Nullable<Integer>)]
    burst: Option<i32>,
    #[diesel(sql_type = Nullable<Integer>)]
    max_concurrent: Option<i32>,
    #[diesel(sql_type = Bool)]
    allowed: bool,
    #[diesel(sql_type = Nullable<Binary>)]
    id: Option<UserId>,
    #[diesel(sql_type = Nullable<Timestamp>)]
    created_at: Option<NaiveDateTime>,
    #[diesel(sql_type = Nullable<Timestamp>)]
    updated_at: Option<NaiveDateTime>,
    #[diesel(sql_type = Nullable<Binary>)]
    first_name: Option<Vec<u8>>,
    #[diesel(sql_type = Nullable<Binary>)]
    last_name: Option<Vec<u8>>,
    #[diesel(sql_type = Nullable<Binary>)]
    email: Option<Vec<u8>>,
    #[diesel(sql_type = Nullable<Binary>)]
    phone: Option<Vec<u8>>,
    #[diesel(sql_type = Nullable<Binary>)]
    national_id: Option<Vec<u8>>,
    #[diesel(sql_type = Nullable<Binary>)]
    date_of_birth: Option<Vec<u8>>,
    #[diesel(sql_type = Nullable<Binary>)]
    address: Option<Vec<u8>>,
    #[diesel(sql_type = Nullable<Binary>)]
    wrapped_key: Option<Vec<u8>>,
}

impl ReadRow {
    fn into_read(self) -> AuditedRead {
        let holder = || {
            Some(CallerRow {
                id: self.client_id?,
                name: self.client_name.clone()?,
                token_hash: self.client_token_hash.clone()?,
                scopes: self.client_scopes.clone()?,
                limits: LimitColumns {
                    rate_per_second: self.rate_per_second?,
                    burst: self.burst?,
                    max_concurrent: self.max_concurrent?,
                },
                mac: self.client_mac.clone(),
            })
        };
        let Some(holder) = holder() else {
            return AuditedRead::UnknownToken;
        };
        if !self.allowed {
            return AuditedRead::Forbidden(holder);
        }
        // The user's NOT NULL columns are all there, or none is (no user was read).
        let user = || {
            let row = UserRow {
                id: self.id?,
                created_at: self.created_at?,
                updated_at: self.updated_at?,
                first_name: self.first_name?,
                last_name: self.last_name?,
                email: self.email?,
                phone: self.phone,
                national_id: self.national_id,
                date_of_birth: self.date_of_birth,
                address: self.address,
            };
            Some((row, self.wrapped_key?))
        };
        match user() {
            Some((row, wrapped)) => AuditedRead::Read(holder, row, wrapped),
            None => AuditedRead::NoUser(holder),
        }
    }
}
