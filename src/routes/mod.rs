//! The HTTP layer: one file per resource, and the only place (with `startup`) that
//! knows actix. Every handler reads the same way: parse the request → name the scope
//! it needs → one vault call → the response. The vault does the work off the async
//! workers; `error` maps what it says to a status and a stable code.

mod admin;
mod audit;
mod body;
mod dev;
pub mod error;
mod export;
mod extract;
mod files;
mod health;
mod jwks;
mod quota;
pub mod request_id;
mod statement;
mod transactions;
mod users;

use std::time::Duration;

use actix_web::web;

use crate::vault::Vault;
use error::ApiError;

/// What every handler shares.
pub struct AppState {
    pub vault: Vault,
    /// Body limit of JSON and JWE requests.
    pub max_body_bytes: usize,
    /// Body limit of transaction batches (up to 1,000 in one JWE).
    pub max_batch_body_bytes: usize,
    /// How long a request body may take (JSON and JWE bodies: all of it; file uploads:
    /// any pause between chunks).
    pub body_timeout: Duration,
}

/// Mounts every route; `/encrypt-data` only exists in dev mode.
pub fn configure(config: &mut web::ServiceConfig, dev: bool) {
    config
        .route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/.well-known/jwks.json", web::get().to(jwks::jwks))
        .route("/users", web::post().to(users::create))
        .route("/users", web::get().to(users::list))
        .route("/exports/users", web::post().to(export::users))
        .route("/audit", web::get().to(audit::list))
        .route("/users/{id}", web::get().to(users::get))
        .route("/users/{id}", web::delete().to(users::delete))
        .route("/users/{id}/statement", web::get().to(statement::download))
        .route(
            "/users/{id}/statements",
            web::post().to(statement::create_link),
        )
        .route(
            "/statements/download/{token}",
            web::get().to(statement::download_link),
        )
        .route(
            "/users/{id}/transactions",
            web::post().to(transactions::create),
        )
        .route(
            "/users/{id}/transactions",
            web::get().to(transactions::list),
        )
        .route(
            "/users/{id}/transactions/batch",
            web::post().to(transactions::create_batch),
        )
        .route("/users/{id}/files", web::post().to(files::create))
        .route("/users/{id}/files", web::get().to(files::list))
        .route(
            "/users/{id}/files/{file_id}",
            web::get().to(files::download),
        )
        .route(
            "/users/{id}/files/{file_id}",
            web::delete().to(files::delete),
        )
        .route("/register-user", web::post().to(users::register_compat))
        .route("/get-user/{id}", web::get().to(users::get))
        .configure(admin::configure);
    if dev {
        config.route("/encrypt-data", web::post().to(dev::encrypt_data));
    }
}

/// Any path or method we do not serve.
pub async fn not_found() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::NotFound)
}
