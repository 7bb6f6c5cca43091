//! GET /audit (admin): the audit log, newest first, filtered by subject user, client
//! and time, paged with the `next` cursor.

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::DateTime;
use serde_json::json;

use super::body::{query_params, query_value};
use super::error::ApiError;
use super::quota::Quota;
use super::AppState;
use crate::access::quota::cost;
use crate::access::{BearerToken, Scope};
use crate::domain::FieldErrors;
use crate::id::{AuditId, ClientId, Id, UserId};
use crate::vault::AuditQuery;

const DEFAULT_LIMIT: u32 = 100;
const MAX_LIMIT: u32 = 1000;
const LIMIT_RULE: &str = "must be a whole number from 1 to 1000";

/// `user`, `client` (ids), `since`, `until` (RFC 3339), `before` (the `next` cursor),
/// `limit` (1-1000, default 100). Anything else is a 422.
fn parse(request: &HttpRequest) -> Result<AuditQuery, ApiError> {
    const UUID: &str = "must be an id as piivault writes them (a lowercase hyphenated UUID)";
    const TIME: &str = "must be an RFC 3339 time";
    let params = query_params(
        request,
        &["user", "client", "before", "since", "until", "limit"],
    )?;
    let mut errors = FieldErrors::new();
    let time = |raw: &str| {
        DateTime::parse_from_rfc3339(raw)
            .ok()
            .map(|at| at.naive_utc())
    };
    let limit = |raw: &str| {
        raw.parse::<u32>()
            .ok()
            .filter(|limit| (1..=MAX_LIMIT).contains(limit))
    };
    let query = AuditQuery {
        user: query_value(&params, &mut errors, "user", UUID, UserId::parse),
        client: query_value(&params, &mut errors, "client", UUID, ClientId::parse),
        before: query_value(&params, &mut errors, "before", UUID, AuditId::parse),
        since: query_value(&params, &mut errors, "since", TIME, time),
        until: query_value(&params, &mut errors, "until", TIME, time),
        limit: query_value(&params, &mut errors, "limit", LIMIT_RULE, limit)
            .unwrap_or(DEFAULT_LIMIT),
    };
    if errors.is_empty() {
        Ok(query)
    } else {
        Err(ApiError::Validation(errors))
    }
}

pub async fn list(
    quota: Quota<{ cost::REQUEST }>,
    token: BearerToken,
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let query = parse(&request)?;
    let limit = query.limit as usize;
    let entries = state
        .vault
        .audit_log(token.for_scope(Scope::Admin), query)
        .await?;
    let next = (entries.len() == limit)
        .then(|| entries.last().map(|entry| entry.id))
        .flatten();
    Ok(quota.hold(HttpResponse::Ok().json(json!({"entries": entries, "next": next}))))
}
