//! HTTP routes, one file per resource. Every handler reads the same way:
//! parse → authorise → do the work off the async workers (`web::block`) → map errors.

mod admin;
mod audit;
mod body;
mod dev;
mod export;
mod files;
mod health;
mod jwks;
mod statement;
mod transactions;
mod users;

use actix_web::web;

use crate::error::ApiError;

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
