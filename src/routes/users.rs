//! `/users` and the Flask-compatible `/register-user` and `/get-user/{id}`.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use super::body::{parse_id, query_params, query_value, read_jwe, NoQuery};
use super::error::ApiError;
use super::quota::{JweQuota, Quota};
use super::{no_store, AppState};
use crate::access::quota::cost;
use crate::access::{BearerToken, Scope};
use crate::domain::{Email, FieldErrors, NationalId, Phone};
use crate::id::{Id as _, UserId};
use crate::vault::{ExactLookup, FirstCheck, Order, Registered, RequestId, UserQuery};

/// POST /users: 201 `{"id","created_at"}`.
pub async fn create(
    quota: JweQuota<{ cost::DECRYPT }>,
    token: BearerToken,
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    _: NoQuery,
) -> Result<HttpResponse, ApiError> {
    let registered = register(token, &request, payload, &state).await?;
    Ok(quota.hold(
        HttpResponse::Created()
            .insert_header(("Location", format!("/users/{}", registered.id)))
            .json(
                json!({"id": registered.id, "created_at": crate::time::rfc3339(registered.created_at)}),
            ),
    ))
}

/// POST /register-user: as POST /users, answered like the original Flask service.
pub async fn register_compat(
    quota: JweQuota<{ cost::DECRYPT }>,
    token: BearerToken,
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    _: NoQuery,
) -> Result<HttpResponse, ApiError> {
    let registered = register(token, &request, payload, &state).await?;
    Ok(quota.hold(
        HttpResponse::Created()
            .insert_header(("Location", format!("/users/{}", registered.id)))
            .json(json!({"status": "success", "id": registered.id})),
    ))
}

/// Once the token holds `users:write`: reads the JWE body and registers its user.
async fn register(
    token: BearerToken,
    request: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
) -> Result<Registered, ApiError> {
    let claim = token.for_scope(Scope::UsersWrite);
    let (caller, first_check) = state.vault.authorise_registration(&claim).await?;
    let registered = async {
        let body = read_jwe(request, payload, state.max_body_bytes, state.body_timeout).await?;
        Ok::<_, ApiError>(state.vault.register(claim.clone(), caller, body).await?)
    };
    match registered.await {
        // A recalled check may be a second old: the token is checked again before
        // any other refusal is sent, so that a revoked caller gets 401 as always.
        Err(error) if first_check == FirstCheck::Recalled && !error.is_access_refusal() => {
            state.vault.authorise(claim).await?;
            Err(error)
        }
        registered => registered,
    }
}

/// GET /users/{id} and GET /get-user/{id}: the user object. The read is audited.
pub async fn get(
    quota: Quota<{ cost::REQUEST }>,
    token: BearerToken,
    request_id: RequestId,
    id: web::Path<String>,
    state: web::Data<AppState>,
    _: NoQuery,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    let user = state
        .vault
        .read_user(token.for_scope(Scope::UsersRead), request_id, id)
        .await?;
    Ok(quota.hold(HttpResponse::Ok().insert_header(no_store()).json(user)))
}

const DEFAULT_PAGE: u32 = 50;
const MAX_PAGE: u32 = 200;

/// GET /users's query: `limit` (1-200, default 50), `order` (`newest`, the default, or
/// `oldest`), `after` (the `next` cursor of the previous page), and at most one of
/// `email`, `phone`, `national_id`. Anything else is a 422.
fn parse_list_query(request: &HttpRequest) -> Result<UserQuery, ApiError> {
    const SEARCHES: [&str; 3] = ["email", "phone", "national_id"];
    let params = query_params(
        request,
        &["limit", "order", "after", "email", "phone", "national_id"],
    )?;
    let mut errors = FieldErrors::new();
    let limit = query_value(
        &params,
        &mut errors,
        "limit",
        "must be a whole number from 1 to 200",
        |raw| {
            raw.parse()
                .ok()
                .filter(|limit| (1..=MAX_PAGE).contains(limit))
        },
    );
    let order = query_value(
        &params,
        &mut errors,
        "order",
        "must be `newest` or `oldest`",
        |raw| match raw {
            "newest" => Some(Order::NewestFirst),
            "oldest" => Some(Order::OldestFirst),
            _ => None,
        },
    );
    let after = query_value(
        &params,
        &mut errors,
        "after",
        "must be the `next` cursor of a previous page",
        UserId::parse,
    );
    let mut search = None;
    for name in SEARCHES {
        let Some(raw) = params.get(name) else {
            continue;
        };
        let parsed = match name {
            "email" => Email::parse(raw).map(ExactLookup::Email),
            "phone" => Phone::parse(raw).map(ExactLookup::Phone),
            _ => NationalId::parse(raw).map(ExactLookup::NationalId), // the third of SEARCHES
        };
        match parsed {
            Ok(parsed) => search = Some(parsed),
            Err(message) => {
                errors.insert(name.to_owned(), message.to_owned());
            }
        }
    }
    if SEARCHES
        .iter()
        .filter(|name| params.contains_key(**name))
        .count()
        > 1
    {
        errors.insert(
            "search".to_owned(),
            "give at most one of email, phone, national_id".to_owned(),
        );
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    Ok(UserQuery {
        order: order.unwrap_or(Order::NewestFirst),
        after,
        limit: limit.unwrap_or(DEFAULT_PAGE),
        search,
    })
}

/// GET /users (admin): a keyset page of users, opened, with the total count and the
/// cursor of the next page; or the users exactly matching one email, phone or
/// national id, found through the blind indexes (nothing else is opened).
pub async fn list(
    quota: Quota<{ cost::REQUEST }>,
    token: BearerToken,
    request_id: RequestId,
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let query = parse_list_query(&request)?;
    let page = state
        .vault
        .list_users(token.for_scope(Scope::Admin), request_id, query)
        .await?;
    Ok(quota.hold(
        HttpResponse::Ok()
            .insert_header(no_store())
            .json(json!({"users": page.users, "total": page.total, "next": page.next})),
    ))
}

/// DELETE /users/{id}: 204; the data key goes with the rows (crypto-shredding), and the
/// user's file objects are removed after them.
pub async fn delete(
    quota: Quota<{ cost::REQUEST }>,
    token: BearerToken,
    id: web::Path<String>,
    state: web::Data<AppState>,
    _: NoQuery,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    state
        .vault
        .delete_user(token.for_scope(Scope::UsersWrite), id)
        .await?;
    Ok(quota.hold(HttpResponse::NoContent().finish()))
}
