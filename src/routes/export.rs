//! POST /exports/users (admin): every user in one AES-256 (R6) encrypted PDF that
//! opens with the password the operator sent inside a JWE body, or with one the
//! service made and shows once in the `Piivault-Export-Password` header. The document
//! is streamed (chunked) while it is written, never held whole or written to disk.

use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};

use super::body::{read_jwe, NoQuery};
use super::error::ApiError;
use super::quota::JweQuota;
use super::AppState;
use crate::access::quota::cost;
use crate::access::{BearerToken, Scope};
use crate::vault::{RequestId, VaultError};

/// The header that carries a password the service made (shown once: the response
/// is `no-store` like every document).
pub const MADE_PASSWORD_HEADER: &str = "piivault-export-password";

pub async fn users(
    quota: JweQuota<{ cost::EXPORT }>,
    token: BearerToken,
    request_id: RequestId,
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    _: NoQuery,
) -> Result<HttpResponse, ApiError> {
    let caller = state.vault.authorise(token.for_scope(Scope::Admin)).await?;
    let body = read_jwe(&request, payload, state.max_body_bytes, state.body_timeout).await?;
    let export = state.vault.export_users(caller, request_id, body).await?;
    let mut response = super::statement::pdf_response(export.document);
    if let Some(password) = export.made_password {
        response.headers_mut().insert(
            HeaderName::from_static(MADE_PASSWORD_HEADER),
            HeaderValue::from_str(&password).map_err(VaultError::internal)?,
        );
    }
    Ok(quota.hold(response))
}
