//! GET /audit (admin): the audit log, newest first, filtered by subject user, client
//! and time, paged with the `next` cursor.

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, NaiveDateTime};
use serde_json::json;
use uuid::Uuid;

use super::body::query_params;
use crate::access::{authorised, BearerToken, Scope};
use crate::audit::{self, AuditQuery};
use crate::domain::FieldErrors;
use crate::error::ApiError;
use crate::startup::AppState;

const DEFAULT_LIMIT: u32 = 100;
const MAX_LIMIT: u32 = 1000;

/// `user`, `client` (ids), `since`, `until` (RFC 3339), `before` (the `next` cursor),
/// `limit` (1-1000, default 100). Anything else is a 422 naming the parameter.
fn parse(request: &HttpRequest) -> Result<AuditQuery, ApiError> {
    let params = query_params(
        request,
        &["user", "client", "before", "since", "until", "limit"],
    )?;
    let mut errors = FieldErrors::new();
    let mut query = AuditQuery {
        limit: DEFAULT_LIMIT,
        ..AuditQuery::default()
    };
    let id = |value: &str| Uuid::try_parse(value).ok();
    let time = |value: &str| {
        DateTime::parse_from_rfc3339(value)
            .ok()
            .map(|at| at.naive_utc())
    };
    for (name, value) in params {
        let ok = match name.as_str() {
            "user" => id(&value).map(|v| query.user = Some(v)),
            "client" => id(&value).map(|v| query.client = Some(v)),
            "before" => id(&value).map(|v| query.before = Some(v)),
            "since" => time(&value).map(|v: NaiveDateTime| query.since = Some(v)),
            "until" => time(&value).map(|v: NaiveDateTime| query.until = Some(v)),
            // `limit`: query_params let no other name through.
            _ => value
                .parse::<u32>()
                .ok()
                .filter(|limit| (1..=MAX_LIMIT).contains(limit))
                .map(|v| query.limit = v),
        };
        if ok.is_none() {
            let what = match name.as_str() {
                "since" | "until" => "must be an RFC 3339 time",
                "limit" => "must be a whole number from 1 to 1000",
                _ => "must be a UUID",
            };
            errors.insert(name, what.to_owned());
        }
    }
    if errors.is_empty() {
        Ok(query)
    } else {
        Err(ApiError::Validation(errors))
    }
}

pub async fn list(
    token: BearerToken,
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let query = parse(&request)?;
    let limit = query.limit as usize;
    let entries = authorised(&state, token, Scope::Admin, move |_, connection, _| {
        Ok(audit::find(connection, &query)?)
    })
    .await?;
    let next = (entries.len() == limit)
        .then(|| entries.last().map(|entry| entry.id))
        .flatten();
    Ok(HttpResponse::Ok().json(json!({"entries": entries, "next": next})))
}
