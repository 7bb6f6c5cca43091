//! POST /exports/users (admin): every user in one AES-256 (R6) encrypted PDF that
//! opens with the password the operator sent inside a JWE body. The document is
//! streamed (chunked) while it is written, never held whole or written to disk.

use actix_web::{web, HttpRequest, HttpResponse};

use super::body::{read_jwe, NoQuery};
use super::error::ApiError;
use super::quota::Quota;
use super::AppState;
use crate::access::quota::cost;
use crate::access::{BearerToken, Scope};
use crate::vault::RequestId;

pub async fn users(
    quota: Quota<{ cost::EXPORT }>,
    token: BearerToken,
    request_id: RequestId,
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    _: NoQuery,
) -> Result<HttpResponse, ApiError> {
    let caller = state.vault.authorise(token.for_scope(Scope::Admin)).await?;
    let body = read_jwe(&request, payload, state.max_body_bytes, state.body_timeout).await?;
    let document = state.vault.export_users(caller, request_id, body).await?;
    Ok(quota.hold(super::statement::pdf_response(document)))
}
