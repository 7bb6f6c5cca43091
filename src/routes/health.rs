//! Liveness and readiness probes (no authentication).

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::error::ApiError;
use crate::startup::AppState;

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// 200 when the database answers a query, else 503 `unavailable`.
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    web::block(move || {
        crate::db::run(&state.pool, |connection| {
            diesel::connection::SimpleConnection::batch_execute(connection, "SELECT 1")
                .map_err(crate::db::DbError::from)
        })
    })
    .await??;
    Ok(HttpResponse::Ok().json(json!({"status": "ready"})))
}
