//! The HTTP layer: one file per resource, and the only place (with `startup`) that
//! knows actix. Every handler reads the same way: parse the request → name the scope
//! it needs → one vault call → the response. The vault does the work off the async
//! workers; `error` maps what it says to a status and a stable code.
//!
//! [`endpoints`] is the one list of routes: the server is mounted from it (`HEAD` with
//! every `GET`, 405 with `Allow` for other methods) and the tests hold the OpenAPI
//! document (`docs`) to it. `observe` logs and counts every request.

mod admin;
mod audit;
mod body;
mod dev;
mod docs;
pub mod error;
mod export;
mod extract;
mod files;
mod health;
mod jwks;
mod metrics;
pub mod observe;
mod quota;
pub mod request_id;
mod statement;
mod transactions;
mod users;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::header::{CacheControl, CacheDirective};
use actix_web::http::Method;
use actix_web::{guard, web, HttpResponse, Route};

use crate::config::PublicUrl;
use crate::vault::Vault;
pub use body::refuse_content_coding;
pub use docs::openapi_document;
use error::ApiError;
pub use quota::settle_quota;

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
    /// Set on SIGTERM: `/readyz` answers 503 from then on while requests drain.
    pub draining: Arc<AtomicBool>,
    /// Where clients reach the service: links are built from it, never from the
    /// request's `Host` or forwarding headers, which a client chooses.
    pub public_url: PublicUrl,
}

/// `Cache-Control: no-store`: on every answer that carries personal data (a user, a
/// listing, a file, a statement, the export) or a secret, so no cache between the
/// vault and its client keeps a copy.
pub(super) fn no_store() -> CacheControl {
    CacheControl(vec![CacheDirective::NoStore])
}

/// One operation: its method, its path pattern and its handler.
struct Endpoint {
    method: Method,
    path: &'static str,
    route: Route,
}

fn endpoint(method: Method, path: &'static str, route: Route) -> Endpoint {
    Endpoint {
        method,
        path,
        route,
    }
}

/// Every operation the service answers, in matching order; `/encrypt-data` only in dev
/// mode. The one list both the server ([`configure`]) and the API description
/// ([`operations`]) are made from.
fn endpoints(dev: bool) -> Vec<Endpoint> {
    use Method as M;
    let mut list = vec![
        endpoint(M::GET, "/healthz", web::to(health::healthz)),
        endpoint(M::GET, "/readyz", web::to(health::readyz)),
        endpoint(M::GET, "/metrics", web::to(metrics::scrape)),
        endpoint(M::GET, "/.well-known/jwks.json", web::to(jwks::jwks)),
        endpoint(M::POST, "/users", web::to(users::create)),
        endpoint(M::GET, "/users", web::to(users::list)),
        endpoint(M::POST, "/exports/users", web::to(export::users)),
        endpoint(M::GET, "/audit", web::to(audit::list)),
        endpoint(M::GET, "/users/{id}", web::to(users::get)),
        endpoint(M::DELETE, "/users/{id}", web::to(users::delete)),
        endpoint(
            M::GET,
            "/users/{id}/statement",
            web::to(statement::download),
        ),
        endpoint(
            M::POST,
            "/users/{id}/statements",
            web::to(statement::create_link),
        ),
        endpoint(
            M::GET,
            "/statements/download/{token}",
            web::to(statement::download_link),
        ),
        endpoint(
            M::POST,
            "/users/{id}/transactions",
            web::to(transactions::create),
        ),
        endpoint(
            M::GET,
            "/users/{id}/transactions",
            web::to(transactions::list),
        ),
        endpoint(
            M::POST,
            "/users/{id}/transactions/batch",
            web::to(transactions::create_batch),
        ),
        endpoint(M::POST, "/users/{id}/files", web::to(files::create)),
        endpoint(M::GET, "/users/{id}/files", web::to(files::list)),
        endpoint(
            M::GET,
            "/users/{id}/files/{file_id}",
            web::to(files::download),
        ),
        endpoint(
            M::DELETE,
            "/users/{id}/files/{file_id}",
            web::to(files::delete),
        ),
        endpoint(M::POST, "/register-user", web::to(users::register_compat)),
        endpoint(M::GET, "/get-user/{id}", web::to(users::get)),
    ];
    list.extend(
        admin::pages()
            .into_iter()
            .chain(docs::pages())
            .map(|(path, route)| endpoint(M::GET, path, route)),
    );
    if dev {
        list.push(endpoint(
            M::POST,
            "/encrypt-data",
            web::to(dev::encrypt_data),
        ));
    }
    list
}

/// Every (method, path pattern) the service answers, `HEAD` aside (every `GET` takes
/// it too): what the OpenAPI document must describe.
pub fn operations(dev: bool) -> Vec<(Method, &'static str)> {
    endpoints(dev)
        .into_iter()
        .map(|endpoint| (endpoint.method, endpoint.path))
        .collect()
}

/// Mounts every route, one resource per path: a `GET` answers `HEAD` too, and a
/// method the path does not take is 405 with `Allow` (an unknown path stays 404).
pub fn configure(config: &mut web::ServiceConfig, dev: bool) {
    let mut paths: Vec<(&'static str, Vec<(Method, Route)>)> = Vec::new();
    for Endpoint {
        method,
        path,
        route,
    } in endpoints(dev)
    {
        match paths.iter_mut().find(|(known, _)| *known == path) {
            Some((_, routes)) => routes.push((method, route)),
            None => paths.push((path, vec![(method, route)])),
        }
    }
    for (path, routes) in paths {
        let mut allowed: Vec<&str> = routes.iter().map(|(method, _)| method.as_str()).collect();
        if allowed.contains(&"GET") {
            allowed.push("HEAD");
        }
        let allow = allowed.join(", ");
        let mut resource = web::resource(path).default_service(web::to(move || {
            let allow = allow.clone();
            async move { Err::<HttpResponse, _>(ApiError::MethodNotAllowed { allow }) }
        }));
        for (method, route) in routes {
            resource = resource.route(if method == Method::GET {
                route.guard(guard::Any(guard::Get()).or(guard::Head()))
            } else {
                route.method(method)
            });
        }
        config.service(resource);
    }
    // The framework's own extractor errors get the JSON error body too. Handlers read
    // paths as text and parse queries and bodies themselves, so today these only
    // guard a handler added later: a path that cannot be read names nothing, a query
    // or JSON body is refused as its kind.
    config
        .app_data(web::PathConfig::default().error_handler(|_, _| ApiError::NotFound.into()))
        .app_data(web::QueryConfig::default().error_handler(|_, _| {
            ApiError::Validation(crate::domain::FieldErrors::from([(
                "query".to_owned(),
                "is not a valid query string".to_owned(),
            )]))
            .into()
        }))
        .app_data(
            web::JsonConfig::default()
                .error_handler(|_, _| ApiError::InvalidJson("not valid JSON").into()),
        );
}

/// Any path we do not serve.
pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound)
}
