//! GET /metrics: the Prometheus text exposition of this instance, for clients holding
//! the `metrics` scope (give Prometheus a client with that scope alone).

use actix_web::{web, HttpResponse};

use super::body::NoQuery;
use super::error::ApiError;
use super::{no_store, AppState};
use crate::access::{BearerToken, Scope};

pub async fn scrape(
    token: BearerToken,
    state: web::Data<AppState>,
    _: NoQuery,
) -> Result<HttpResponse, ApiError> {
    let text = state
        .vault
        .metrics_text(token.for_scope(Scope::Metrics))
        .await?;
    Ok(HttpResponse::Ok()
        .content_type(crate::metrics::CONTENT_TYPE)
        .insert_header(no_store())
        .body(text))
}
