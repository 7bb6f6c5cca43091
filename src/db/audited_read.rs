//! GET /users/{id} on PostgreSQL in one round trip. One statement finds the client
//! holding the token (with its quota, for `access::quota`), reads the user with its wrapped data key when the client holds
//! the scope, and appends the audit record when (and only when) the user was read.
//! As three statements the same read measured about 6,100 req/s on the benchmark
//! machine; the round trips, not the work, were the cost (BENCHMARKS.md).
//!
//! Data-modifying CTEs are PostgreSQL's; SQLite runs the same steps one by one
//! (`routes::users::read_audited`). Keys kept in a separate store cannot be joined,
//! so that layout takes the step-by-step path on PostgreSQL too.
//!
//! The statement is a fixed text with bind parameters, so diesel prepares it once per
//! connection and caches it by its type, like its own DSL queries.

use chrono::NaiveDateTime;
use diesel::pg::{Pg, PgConnection};
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{Binary, Bool, Integer, Nullable, Text, Timestamp, Untyped};

use super::audit::AuditStamp;
use super::clients::LimitColumns;
use super::users::UserRow;
use super::DbError;
use crate::id::{ClientId, UserId};

/// What the statement found, `None` when no active client holds the token: the
/// client (its id and quota), whether it holds the scope and, when it does and the
/// user exists, the user's row with its wrapped data key. The audit record exists
/// exactly when `user` is `Some`.
#[derive(Debug)]
pub struct AuditedRead {
    pub client_id: ClientId,
    pub limits: LimitColumns,
    pub allowed: bool,
    pub user: Option<(UserRow, Vec<u8>)>,
}

/// Runs the read for the client holding `token_hash`, which needs `scope` to read user
/// `user_id`. The statement alone decides whether the scope is held (and so whether
/// the read happens and is recorded); it reads `api_clients.scopes` as
/// `Scope::granted_by` does: comma-separated names, each trimmed, unknown ones
/// ignored.
pub fn read_user(
    connection: &mut PgConnection,
    token_hash: &[u8],
    scope: &str,
    user_id: UserId,
    stamp: &AuditStamp,
) -> Result<Option<AuditedRead>, DbError> {
    let statement = ReadUserStatement {
        token_hash,
        scope,
        user_id,
        stamp,
    };
    let Some(row) = statement.get_result::<ReadRow>(connection).optional()? else {
        return Ok(None);
    };
    Ok(Some(row.into_read()))
}

struct ReadUserStatement<'a> {
    token_hash: &'a [u8],
    scope: &'a str,
    user_id: UserId,
    stamp: &'a AuditStamp,
}

impl QueryId for ReadUserStatement<'_> {
    type QueryId = ReadUserStatement<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl Query for ReadUserStatement<'_> {
    type SqlType = Untyped;
}

impl RunQueryDsl<PgConnection> for ReadUserStatement<'_> {}

impl QueryFragment<Pg> for ReadUserStatement<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(
            "WITH caller AS ( \
               SELECT id, name, rate_per_second, burst, max_concurrent, ",
        );
        out.push_bind_param::<Text, _>(self.scope)?;
        out.push_sql(
            " IN (SELECT btrim(granted) FROM unnest(string_to_array(scopes, ',')) AS granted) \
                      AS allowed \
               FROM api_clients \
               WHERE token_hash = ",
        );
        out.push_bind_param::<Binary, _>(self.token_hash)?;
        out.push_sql(
            " AND revoked_at IS NULL \
             ), found AS ( \
               SELECT u.id, u.created_at, u.updated_at, u.first_name, u.last_name, u.email, \
                      u.phone, u.national_id, u.date_of_birth, u.address, k.wrapped_key \
               FROM users u JOIN data_keys k ON k.user_id = u.id \
               WHERE u.id = ",
        );
        out.push_bind_param::<Binary, _>(&self.user_id)?;
        out.push_sql(
            " AND EXISTS (SELECT 1 FROM caller WHERE caller.allowed) \
             ), recorded AS ( \
               INSERT INTO audit_log (id, at, request_id, client_id, client_name, action, \
                                      subject_user_id, users_read) \
               SELECT ",
        );
        out.push_bind_param::<Binary, _>(&self.stamp.id)?;
        out.push_sql(", ");
        out.push_bind_param::<Timestamp, _>(&self.stamp.at)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&self.stamp.request_id)?;
        out.push_sql(", caller.id, caller.name, ");
        out.push_bind_param::<Text, _>(self.stamp.action)?;
        out.push_sql(
            ", found.id, 1 FROM caller, found \
             ) \
             SELECT caller.id AS client_id, caller.rate_per_second, caller.burst, \
                    caller.max_concurrent, caller.allowed, found.* \
             FROM caller LEFT JOIN found ON true",
        );
        Ok(())
    }
}

/// One result row: whether the client holds the scope, then the user's columns (all
/// null when not read).
#[derive(QueryableByName)]
struct ReadRow {
    #[diesel(sql_type = Binary)]
    client_id: ClientId,
    #[diesel(sql_type = Integer)]
    rate_per_second: i32,
    #[diesel(sql_type = Integer)]
    burst: i32,
    #[diesel(sql_type = Integer)]
    max_concurrent: i32,
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
        AuditedRead {
            client_id: self.client_id,
            limits: LimitColumns {
                rate_per_second: self.rate_per_second,
                burst: self.burst,
                max_concurrent: self.max_concurrent,
            },
            allowed: self.allowed,
            user: user(),
        }
    }
}
