//! POST /encrypt-data (only with `serve --dev`): encrypts a plain JSON body to the
//! server's own key, so a Postman user can produce a JWE without JOSE tooling.

use actix_web::{web, HttpRequest, HttpResponse};

use super::body::read_json;
use crate::access::{authorise, BearerToken, Scope};
use crate::error::ApiError;
use crate::startup::AppState;

pub async fn encrypt_data(
    token: BearerToken,
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    authorise(&state, token, Scope::UsersWrite).await?;
    let value = read_json(&request, payload, state.max_body_bytes, state.body_timeout).await?;
    let jwe = web::block(move || {
        let plaintext =
            serde_json::to_vec(&value).map_err(|error| ApiError::Internal(error.into()))?;
        state
            .keys
            .current()
            .jwe
            .encrypt_flattened(&plaintext)
            .map_err(|error| ApiError::Internal(anyhow::anyhow!("encrypting: {error}")))
    })
    .await??;
    Ok(HttpResponse::Ok()
        .content_type("application/jose+json")
        .body(jwe))
}
