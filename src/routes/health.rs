//! Liveness and readiness probes (no authentication).

use actix_web::{web, HttpResponse};
use serde_json::json;

use super::body::NoQuery;
use super::error::ApiError;
use super::AppState;

pub async fn healthz(_: NoQuery) -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// 200 when the database answers a query, else 503 `unavailable`.
pub async fn readyz(state: web::Data<AppState>, _: NoQuery) -> Result<HttpResponse, ApiError> {
    state.vault.ping().await?;
    Ok(HttpResponse::Ok().json(json!({"status": "ready"})))
}
