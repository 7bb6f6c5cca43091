//! `/users` and the Flask-compatible `/register-user` and `/get-user/{id}`.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::body::{parse_id, read_jwe};
use crate::access::{authorise, authorised, BearerToken, Scope};
use crate::domain::NewUser;
use crate::error::ApiError;
use crate::jose::JweError;
use crate::startup::AppState;
use crate::users::{self as vault, Registered, VaultError};

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
    let (body, serialization) = read_jwe(request, payload, state.max_body_bytes).await?;
    let state = state.clone();
    web::block(move || {
        // A kid published moments ago by another instance: reload once and retry.
        let plaintext = state
            .keys
            .with_fresh(
                |keys| keys.jwe.decrypt(&body, serialization),
                |error| matches!(error, JweError::UnknownKey),
            )
            .map_err(ApiError::InvalidJwe)?;
        let value: Value = serde_json::from_slice(&plaintext)
            .map_err(|_| ApiError::InvalidJson("the decrypted payload is not valid JSON"))?;
        let object = value
            .as_object()
            .ok_or(ApiError::InvalidJson("the payload must be a JSON object"))?;
        let new_user = NewUser::parse(object).map_err(ApiError::Validation)?;
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

/// GET /users/{id} and GET /get-user/{id}: the user object.
pub async fn get(
    token: BearerToken,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    let user = authorised(
        &state,
        token,
        Scope::UsersRead,
        move |state, connection, _| {
            Ok(vault::fetch_fresh(
                connection,
                &state.data_keys,
                &state.keys,
                id,
            )?)
        },
    )
    .await?
    .ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(user))
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
