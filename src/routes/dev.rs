//! POST /encrypt-data (only with `serve --dev`): encrypts a plain JSON body to the
//! server's own key, so a Postman user can produce a JWE without JOSE tooling.

use actix_web::{web, HttpRequest, HttpResponse};

use super::body::{read_json, NoQuery};
use super::error::ApiError;
use super::quota::Quota;
use super::AppState;
use crate::access::quota::cost;
use crate::access::{BearerToken, Scope};

pub async fn encrypt_data(
    quota: Quota<{ cost::REQUEST }>,
    token: BearerToken,
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    _: NoQuery,
) -> Result<HttpResponse, ApiError> {
    state
        .vault
        .authorise(token.for_scope(Scope::UsersWrite))
        .await?;
    let value = read_json(&request, payload, state.max_body_bytes, state.body_timeout).await?;
    let jwe = state.vault.encrypt_to_self(value).await?;
    Ok(quota.hold(
        HttpResponse::Ok()
            .content_type("application/jose+json")
            .body(jwe),
    ))
}
