//! POST /exports/users (admin): every user in one AES-256 (R6) encrypted PDF that
//! opens with the password the operator sent inside a JWE body. The document is built
//! and encrypted in memory, never written to disk, and sent with its length.

use actix_web::http::header::{ContentDisposition, DispositionParam, DispositionType};
use actix_web::{web, HttpRequest, HttpResponse};

use super::body::{read_jwe, NoQuery};
use super::error::ApiError;
use super::{no_store, AppState};
use crate::access::{BearerToken, Scope};
use crate::vault::RequestId;

pub async fn users(
    token: BearerToken,
    request_id: RequestId,
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    _: NoQuery,
) -> Result<HttpResponse, ApiError> {
    let caller = state.vault.authorise(token.for_scope(Scope::Admin)).await?;
    let body = read_jwe(&request, payload, state.max_body_bytes, state.body_timeout).await?;
    let pdf = state.vault.export_users(caller, request_id, body).await?;
    Ok(HttpResponse::Ok()
        .content_type("application/pdf")
        .insert_header(no_store())
        .insert_header(ContentDisposition {
            disposition: DispositionType::Attachment,
            parameters: vec![DispositionParam::Filename(format!(
                "users-{}.pdf",
                chrono::Utc::now().format("%Y%m%d-%H%M%S")
            ))],
        })
        .body(pdf))
}
