//! `/users/{id}/transactions`: post one (idempotent by reference), post a batch of up to
//! 1,000 all or nothing, and list a period page by page.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::body::{parse_id, query_params, read_jwe, NoQuery};
use super::error::ApiError;
use super::quota::{JweQuota, Quota};
use super::{no_store, AppState};
use crate::access::quota::cost;
use crate::access::{BearerToken, Scope};
use crate::domain::{FieldErrors, Period, Transaction};
use crate::id::UserId;
use crate::vault::{RequestId, TransactionCursor};

/// Listing page size when the client does not choose, and the most it may choose.
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1_000;

/// POST /users/{id}/transactions: 201 `{"id","created_at"}`, or 200 with the existing
/// id when the reference was already recorded with the same content. No `Location`:
/// no route serves one transaction (the listing does, by period).
pub async fn create(
    quota: JweQuota<{ cost::DECRYPT }>,
    token: BearerToken,
    id: web::Path<String>,
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    _: NoQuery,
) -> Result<HttpResponse, ApiError> {
    let user: UserId = parse_id(&id)?;
    state
        .vault
        .authorise(token.for_scope(Scope::UsersWrite))
        .await?;
    let body = read_jwe(&request, payload, state.max_body_bytes, state.body_timeout).await?;
    let outcome = state.vault.record_transaction(user, body).await?;
    let mut response = if outcome.created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    Ok(quota.hold(
        response.json(
            json!({"id": outcome.id, "created_at": crate::time::rfc3339(outcome.created_at)}),
        ),
    ))
}

/// POST /users/{id}/transactions/batch: `{"transactions":[...]}` with up to 1,000 items,
/// all or nothing. 201 `{"ids":[...],"created":n,"existing":m}` (200 when all existed).
pub async fn create_batch(
    quota: JweQuota<{ cost::BATCH }>,
    token: BearerToken,
    id: web::Path<String>,
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    _: NoQuery,
) -> Result<HttpResponse, ApiError> {
    let user = parse_id(&id)?;
    state
        .vault
        .authorise(token.for_scope(Scope::UsersWrite))
        .await?;
    let body = read_jwe(
        &request,
        payload,
        state.max_batch_body_bytes,
        state.body_timeout,
    )
    .await?;
    let recorded = state.vault.record_transaction_batch(user, body).await?;
    let created = recorded.iter().filter(|outcome| outcome.created).count();
    let ids: Vec<_> = recorded.iter().map(|outcome| outcome.id).collect();
    let mut response = if created > 0 {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    Ok(quota.hold(response.json(json!({
        "ids": ids,
        "created": created,
        "existing": recorded.len() - created,
    }))))
}

/// GET /users/{id}/transactions?from=&to=&limit=&cursor=: oldest first;
/// `next` is the cursor of the following page, or null on the last one.
pub async fn list(
    quota: Quota<{ cost::REQUEST }>,
    token: BearerToken,
    request_id: RequestId,
    id: web::Path<String>,
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let user = parse_id(&id)?;
    let query = query_params(&request, &["from", "to", "limit", "cursor"])?;
    let mut errors = FieldErrors::new();
    let period = Period::parse(
        query.get("from").map(String::as_str),
        query.get("to").map(String::as_str),
        chrono::Utc::now().date_naive(),
    )
    .map_err(|period_errors| errors.extend(period_errors))
    .ok();
    let limit = match query.get("limit") {
        None => Some(DEFAULT_LIMIT),
        Some(raw) => match raw.parse::<usize>() {
            Ok(limit) if (1..=MAX_LIMIT).contains(&limit) => Some(limit),
            _ => {
                errors.insert(
                    "limit".to_owned(),
                    format!("must be a whole number from 1 to {MAX_LIMIT}"),
                );
                None
            }
        },
    };
    let after = match query.get("cursor").map(|raw| TransactionCursor::parse(raw)) {
        None => None,
        Some(Some(after)) => Some(after),
        Some(None) => {
            errors.insert(
                "cursor".to_owned(),
                "must be a `next` value from an earlier page".to_owned(),
            );
            None
        }
    };
    let (Some(period), Some(limit)) = (period, limit) else {
        return Err(ApiError::Validation(errors));
    };
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let listing = state
        .vault
        .list_transactions(
            token.for_scope(Scope::UsersRead),
            request_id,
            user,
            period,
            after,
            limit,
        )
        .await?;
    let transactions: Vec<Value> = listing.transactions.iter().map(transaction_json).collect();
    Ok(
        quota.hold(HttpResponse::Ok().insert_header(no_store()).json(json!({
            "from": period.from.to_string(),
            "to": period.to.to_string(),
            "transactions": transactions,
            "next": listing.next.as_ref().map(TransactionCursor::encode),
        }))),
    )
}

fn transaction_json(transaction: &Transaction) -> Value {
    json!({
        "id": transaction.id,
        "reference": transaction.reference,
        "occurred_at": crate::time::rfc3339(transaction.occurred_at),
        "details": transaction.details,
        "amount": transaction.currency.plain(transaction.amount.into()),
        "currency": transaction.currency.code(),
    })
}
