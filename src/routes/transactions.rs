//! `/users/{id}/transactions`: post one (idempotent by reference), post a batch of up to
//! 1,000 all or nothing, and list a period page by page.

use actix_web::{web, HttpRequest, HttpResponse};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::DateTime;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::body::{decrypted_object, parse_id, query_params, read_jwe};
use crate::access::{authorise, authorised, BearerToken, Scope};
use crate::audit::{self, Action, Subject};
use crate::db::transactions::After;
use crate::domain::{FieldErrors, NewTransaction, Period};
use crate::error::ApiError;
use crate::ledger::{self, LedgerError, Recorded, Transaction};
use crate::request_id::RequestId;
use crate::startup::AppState;

/// Listing page size when the client does not choose, and the most it may choose.
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1_000;

impl From<LedgerError> for ApiError {
    fn from(error: LedgerError) -> Self {
        match error {
            LedgerError::UnknownUser => Self::NotFound,
            LedgerError::ReferenceConflict => Self::Conflict(
                "A transaction with this reference is already recorded with other content.",
            ),
            LedgerError::TooManyRows(_) => Self::Validation(FieldErrors::from([(
                "to".to_owned(),
                "the period holds too many transactions for one statement; choose a shorter one"
                    .to_owned(),
            )])),
            LedgerError::Db(error) => error.into(),
            LedgerError::Crypto(error) => Self::Internal(error.into()),
        }
    }
}

/// Decrypts a JWE body into a JSON object (any failure is the API.md code for it).
async fn jwe_object(
    request: &HttpRequest,
    payload: web::Payload,
    state: &web::Data<AppState>,
    limit: usize,
) -> Result<Map<String, Value>, ApiError> {
    let (body, serialization) = read_jwe(request, payload, limit, state.body_timeout).await?;
    let state = state.clone();
    web::block(move || decrypted_object(&state.keys, &body, serialization)).await?
}

async fn record(
    state: web::Data<AppState>,
    user_id: Uuid,
    items: Vec<NewTransaction>,
) -> Result<Vec<Recorded>, ApiError> {
    web::block(move || {
        crate::db::run(&state.pool, |connection| {
            Ok(ledger::record(
                connection,
                &state.data_keys,
                &state.keys,
                user_id,
                &items,
            )?)
        })
    })
    .await?
}

/// POST /users/{id}/transactions: 201 `{"id","created_at"}`, or 200 with the existing
/// id when the reference was already recorded with the same content.
pub async fn create(
    token: BearerToken,
    id: web::Path<String>,
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let user_id = parse_id(&id)?;
    authorise(&state, token, Scope::UsersWrite).await?;
    let object = jwe_object(&request, payload, &state, state.max_body_bytes).await?;
    let item = NewTransaction::parse(&object).map_err(ApiError::Validation)?;
    let recorded = record(state, user_id, vec![item]).await?;
    let outcome = recorded
        .first()
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("no outcome for one transaction")))?;
    let body = json!({"id": outcome.id, "created_at": crate::time::rfc3339(outcome.created_at)});
    let mut response = if outcome.created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    Ok(response
        .insert_header((
            "Location",
            format!("/users/{user_id}/transactions/{}", outcome.id),
        ))
        .json(body))
}

/// POST /users/{id}/transactions/batch: `{"transactions":[...]}` with up to 1,000 items,
/// all or nothing. 201 `{"ids":[...],"created":n,"existing":m}` (200 when all existed).
pub async fn create_batch(
    token: BearerToken,
    id: web::Path<String>,
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let user_id = parse_id(&id)?;
    authorise(&state, token, Scope::UsersWrite).await?;
    let object = jwe_object(&request, payload, &state, state.max_batch_body_bytes).await?;
    let items = NewTransaction::parse_batch(&object).map_err(ApiError::Validation)?;
    let recorded = record(state, user_id, items).await?;
    let created = recorded.iter().filter(|outcome| outcome.created).count();
    let ids: Vec<Uuid> = recorded.iter().map(|outcome| outcome.id).collect();
    let mut response = if created > 0 {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    Ok(response.json(json!({
        "ids": ids,
        "created": created,
        "existing": recorded.len() - created,
    })))
}

/// GET /users/{id}/transactions?from=&to=&limit=&cursor=: oldest first;
/// `next` is the cursor of the following page, or null on the last one.
pub async fn list(
    token: BearerToken,
    request_id: RequestId,
    id: web::Path<String>,
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let user_id = parse_id(&id)?;
    let query = query_params(&request, &["from", "to", "limit", "cursor"])?;
    let (period, limit, after) = {
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
        let after = match query.get("cursor").map(|raw| decode_cursor(raw)) {
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
        match (period, limit) {
            (Some(period), Some(limit)) if errors.is_empty() => (period, limit, after),
            _ => return Err(ApiError::Validation(errors)),
        }
    };
    let listing = authorised(
        &state,
        token,
        Scope::UsersRead,
        move |state, connection, caller| {
            let listing = ledger::list(
                connection,
                &state.data_keys,
                &state.keys,
                user_id,
                period,
                after.as_ref(),
                limit,
            )?;
            audit::record(
                connection,
                caller,
                &request_id,
                Action::TransactionsRead,
                Subject::User(user_id),
            )?;
            Ok(listing)
        },
    )
    .await?;
    let transactions: Vec<Value> = listing.transactions.iter().map(transaction_json).collect();
    Ok(HttpResponse::Ok().json(json!({
        "from": period.from.to_string(),
        "to": period.to.to_string(),
        "transactions": transactions,
        "next": listing.next.as_ref().map(encode_cursor),
    })))
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

/// A cursor is the last row's `(occurred_at, id)`: 8 bytes of microseconds since the
/// epoch and the 16-byte id, base64url. It names a position, not personal data.
fn encode_cursor(after: &After) -> String {
    let mut bytes = after
        .occurred_at
        .and_utc()
        .timestamp_micros()
        .to_be_bytes()
        .to_vec();
    bytes.extend_from_slice(&after.id);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn decode_cursor(raw: &str) -> Option<After> {
    let bytes = URL_SAFE_NO_PAD.decode(raw).ok()?;
    if bytes.len() != 24 {
        return None;
    }
    let (micros, id) = bytes.split_at(8);
    let micros = i64::from_be_bytes(micros.try_into().ok()?);
    let occurred_at = DateTime::from_timestamp_micros(micros)?.naive_utc();
    // Only times a transaction can have: anything else is forged, and PostgreSQL
    // would refuse a timestamp beyond its range with an error, not an empty page.
    if !(1970..=2999).contains(&chrono::Datelike::year(&occurred_at)) {
        return None;
    }
    Some(After {
        occurred_at,
        id: id.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let after = After {
            occurred_at: crate::time::now(),
            id: Uuid::now_v7().as_bytes().to_vec(),
        };
        assert_eq!(decode_cursor(&encode_cursor(&after)), Some(after));
        for bad in ["", "abc", "!!!!", &URL_SAFE_NO_PAD.encode([0u8; 23])] {
            assert_eq!(decode_cursor(bad), None, "{bad:?}");
        }
        // A well-formed cursor from the year -10000: PostgreSQL cannot hold it.
        let ancient = chrono::NaiveDate::from_ymd_opt(-10_000, 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap();
        let forged = encode_cursor(&After {
            occurred_at: ancient,
            id: Uuid::now_v7().as_bytes().to_vec(),
        });
        assert_eq!(decode_cursor(&forged), None);
    }
}
