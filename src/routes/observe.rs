//! What every request leaves behind: one log line (request id, method, route pattern,
//! status, latency, client id) and its count and latency in the metrics. Never the
//! path (it holds ids and download tokens), the query, a header value or a body.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use actix_web::dev::{Service, ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::{web, HttpMessage as _};

use super::{request_id, AppState};
use crate::access::CallerNote;

/// The route label of a request no route matched.
const UNMATCHED: &str = "(unmatched)";

/// The middleware body (`App::wrap_fn`), outermost: it sees every response.
pub fn request<S>(
    request: ServiceRequest,
    service: &S,
) -> impl Future<Output = Result<ServiceResponse, actix_web::Error>>
where
    S: Service<ServiceRequest, Response = ServiceResponse, Error = actix_web::Error>,
{
    let started = Instant::now();
    let method = method_label(request.method());
    // The route's pattern, not the path: paths carry ids and download tokens.
    let route = request
        .match_pattern()
        .unwrap_or_else(|| UNMATCHED.to_owned());
    let metrics = request
        .app_data::<web::Data<AppState>>()
        .map(|state| Arc::clone(state.vault.metrics()));
    let in_flight = metrics.as_ref().map(|metrics| metrics.request_started());
    let note = CallerNote::default();
    request.extensions_mut().insert(note.clone());
    let response = service.call(request);
    async move {
        let response = response.await?;
        let elapsed = started.elapsed();
        drop(in_flight);
        let status = response.status().as_u16();
        if let Some(metrics) = &metrics {
            metrics.request_answered(&route, method, status, elapsed);
        }
        let request_id = response
            .headers()
            .get(request_id::HEADER)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default();
        let client_id = note.client_id().map(|id| id.to_string());
        tracing::info!(
            request_id,
            method,
            route,
            status,
            elapsed_ms = elapsed.as_secs_f64() * 1000.0,
            client_id = client_id.as_deref().unwrap_or("-"),
            "request"
        );
        Ok(response)
    }
}

/// A method as a label: the standard ones by name, anything else as `other`, so a
/// client cannot make up series (or log lines) with invented method names.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}
