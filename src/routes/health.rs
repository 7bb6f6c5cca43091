//! Liveness and readiness probes (no authentication).

use std::sync::atomic::Ordering;

use actix_web::{web, HttpResponse};
use serde_json::json;

use super::body::NoQuery;
use super::error::ApiError;
use super::AppState;

pub async fn healthz(_: NoQuery) -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// 200 when the database answers a query, else 503 `unavailable`; 503 at once and
/// for good once the instance is shutting down (SIGTERM), so a load balancer stops
/// sending it requests while the ones it has drain.
pub async fn readyz(state: web::Data<AppState>, _: NoQuery) -> Result<HttpResponse, ApiError> {
    if state.draining.load(Ordering::SeqCst) {
        return Err(ApiError::ShuttingDown);
    }
    state.vault.ping().await?;
    Ok(HttpResponse::Ok().json(json!({"status": "ready"})))
}
