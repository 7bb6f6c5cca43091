//! `/users` and the Flask-compatible `/register-user` and `/get-user/{id}`.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;
use uuid::Uuid;

use super::body::{decrypted_object, parse_id, query_params, query_value, read_jwe};
use crate::access::{authorise, authorised, BearerToken, Caller, Scope};
use crate::audit::{self, Action, Subject};
use crate::db::{self, audited_read, DbConnection};
use crate::domain::{Email, FieldErrors, NationalId, NewUser, Phone};
use crate::error::ApiError;
use crate::keystore::DataKeyStore;
use crate::request_id::RequestId;
use crate::startup::AppState;
use crate::users::{self as vault, ExactLookup, Order, Registered, UserRecord, VaultError};

impl From<VaultError> for ApiError {
    fn from(error: VaultError) -> Self {
        match error {
            VaultError::EmailTaken => {
                Self::Conflict("A user with this email is already registered.")
            }
            VaultError::Db(error) => error.into(),
            VaultError::Crypto(error) => Self::Internal(error.into()),
        }
    }
}

/// POST /users: 201 `{"id","created_at"}`.
pub async fn create(
    token: BearerToken,
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let registered = register(token, &request, payload, &state).await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/users/{}", registered.id)))
        .json(
            json!({"id": registered.id, "created_at": crate::time::rfc3339(registered.created_at)}),
        ))
}

/// POST /register-user: as POST /users, answered like the original Flask service.
pub async fn register_compat(
    token: BearerToken,
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let registered = register(token, &request, payload, &state).await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/users/{}", registered.id)))
        .json(json!({"status": "success", "id": registered.id})))
}

/// Once the token holds `users:write`: reads the JWE body, decrypts and validates it,
/// and stores the user.
async fn register(
    token: BearerToken,
    request: &HttpRequest,
    payload: web::Payload,
    state: &web::Data<AppState>,
) -> Result<Registered, ApiError> {
    authorise(state, token, Scope::UsersWrite).await?;
    let (body, serialization) =
        read_jwe(request, payload, state.max_body_bytes, state.body_timeout).await?;
    let state = state.clone();
    web::block(move || {
        let object = decrypted_object(&state.keys, &body, serialization)?;
        let new_user = NewUser::parse(&object).map_err(ApiError::Validation)?;
        let keys = state.keys.current();
        crate::db::run(&state.pool, |connection| {
            Ok(vault::register(
                connection,
                &state.data_keys,
                &keys,
                &new_user,
            )?)
        })
    })
    .await?
}

/// GET /users/{id} and GET /get-user/{id}: the user object. The read is audited.
pub async fn get(
    token: BearerToken,
    request_id: RequestId,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    let user = web::block(move || {
        db::run(&state.pool, |connection| {
            read_audited(&state, connection, &token, &request_id, id)
        })
    })
    .await??;
    Ok(HttpResponse::Ok().json(user))
}

/// Checks the token and its scope, reads the user and records the read in the audit
/// log. On PostgreSQL with keys in the main database that is one statement and one
/// round trip (`db::audited_read`); elsewhere the same steps run one by one.
fn read_audited(
    state: &AppState,
    connection: &mut DbConnection,
    token: &BearerToken,
    request_id: &RequestId,
    id: Uuid,
) -> Result<UserRecord, ApiError> {
    let scope = Scope::UsersRead;
    match (connection, &state.data_keys) {
        (DbConnection::Postgres(connection), DataKeyStore::Main) => {
            let read = audited_read::read_user(
                connection,
                &token.hash(),
                scope.as_str(),
                id.as_bytes(),
                &audit::stamp(request_id, Action::UserRead),
            )?
            .ok_or(ApiError::Unauthorized)?;
            if !read.allowed {
                return Err(ApiError::Forbidden(scope.as_str()));
            }
            let (row, wrapped_key) = read.user.ok_or(ApiError::NotFound)?;
            Ok(vault::open_with_key(&state.keys, id, &row, wrapped_key)?)
        }
        (connection, _) => {
            let caller = Caller::authorise(connection, token, scope)?;
            let user = vault::fetch(connection, &state.data_keys, &state.keys, id)?
                .ok_or(ApiError::NotFound)?;
            audit::record(
                connection,
                &caller,
                request_id,
                Action::UserRead,
                Subject::User(id),
            )?;
            Ok(user)
        }
    }
}

const DEFAULT_PAGE: u32 = 50;
const MAX_PAGE: u32 = 200;

/// What GET /users was asked for (no `Debug`: a search value is personal data).
struct ListQuery {
    order: Order,
    after: Option<Uuid>,
    limit: u32,
    search: Option<Search>,
}

/// An exact search value, already a valid domain value.
enum Search {
    Email(Email),
    Phone(Phone),
    NationalId(NationalId),
}

impl ListQuery {
    /// `limit` (1-200, default 50), `order` (`newest`, the default, or `oldest`),
    /// `after` (the `next` cursor of the previous page), and at most one of `email`,
    /// `phone`, `national_id`. Anything else is a 422.
    fn parse(request: &HttpRequest) -> Result<Self, ApiError> {
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
            |raw| Uuid::try_parse(raw).ok(),
        );
        let mut search = None;
        for name in SEARCHES {
            let Some(raw) = params.get(name) else {
                continue;
            };
            let parsed = match name {
                "email" => Email::parse(raw).map(Search::Email),
                "phone" => Phone::parse(raw).map(Search::Phone),
                _ => NationalId::parse(raw).map(Search::NationalId), // the third of SEARCHES
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
        Ok(Self {
            order: order.unwrap_or(Order::NewestFirst),
            after,
            limit: limit.unwrap_or(DEFAULT_PAGE),
            search,
        })
    }
}

/// GET /users (admin): a keyset page of users, opened, with the total count and the
/// cursor of the next page; or the users exactly matching one email, phone or
/// national id, found through the blind indexes (nothing else is opened).
pub async fn list(
    token: BearerToken,
    request_id: RequestId,
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let query = ListQuery::parse(&request)?;
    let (users, total, next) = authorised(
        &state,
        token,
        Scope::Admin,
        move |state, connection, caller| {
            let found = vault::with_live_keys(&state.keys, |keys| match &query.search {
                None => {
                    let page = vault::page(
                        connection,
                        &state.data_keys,
                        keys,
                        query.order,
                        query.after,
                        query.limit,
                    )?;
                    let total = vault::count(connection)?;
                    Ok((page.users, total, page.next))
                }
                Some(search) => {
                    let lookup = match search {
                        Search::Email(email) => ExactLookup::Email(email),
                        Search::Phone(phone) => ExactLookup::Phone(phone),
                        Search::NationalId(id) => ExactLookup::NationalId(id),
                    };
                    let mut ids = vault::find_ids(connection, keys, lookup)?;
                    let total = i64::try_from(ids.len()).unwrap_or(i64::MAX);
                    if query.order == Order::NewestFirst {
                        ids.reverse();
                    }
                    ids.truncate(query.limit as usize);
                    let mut users = vault::fetch_many(connection, &state.data_keys, keys, &ids)?;
                    if query.order == Order::NewestFirst {
                        users.reverse();
                    }
                    Ok((users, total, None))
                }
            })?;
            audit::record(
                connection,
                caller,
                &request_id,
                Action::UsersList,
                Subject::Users(found.0.len()),
            )?;
            Ok(found)
        },
    )
    .await?;
    Ok(HttpResponse::Ok()
        .insert_header(actix_web::http::header::CacheControl(vec![
            actix_web::http::header::CacheDirective::NoStore,
        ]))
        .json(json!({"users": users, "total": total, "next": next})))
}

/// DELETE /users/{id}: 204; the data key goes with the rows (crypto-shredding), and the
/// user's file objects are removed after them (a failure there is logged, not returned:
/// without the key those bytes can never be opened).
pub async fn delete(
    token: BearerToken,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    let objects = authorised(
        &state,
        token,
        Scope::UsersWrite,
        move |state, connection, _| Ok(vault::delete(connection, &state.data_keys, id)?),
    )
    .await?
    .ok_or(ApiError::NotFound)?;
    state.files.delete_quietly(&objects).await;
    Ok(HttpResponse::NoContent().finish())
}
