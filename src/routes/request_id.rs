//! A request id for every request: a sane incoming `X-Request-Id` (a load balancer's)
//! is kept, anything else is replaced by a fresh one. Handlers read it with the
//! [`RequestId`] extractor (the audit log records it) and every response carries it
//! back in `X-Request-Id`, so an operator can match a client's report to the log.
//! The request runs inside a `request` span holding the id, so every line logged
//! while it is served (and by the vault's blocking work for it) names it too.

use std::future::{ready, Ready};

use actix_web::dev::{Service, ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{FromRequest, HttpMessage as _, HttpRequest};
use tracing::Instrument as _;

use super::error::ApiError;
use crate::vault::RequestId;

pub const HEADER: &str = "x-request-id";

/// The incoming id when it is one we can log and echo safely, else a new one.
fn of(request: &ServiceRequest) -> RequestId {
    request
        .headers()
        .get(HEADER)
        .and_then(|value| value.to_str().ok())
        .and_then(RequestId::parse)
        .unwrap_or_else(RequestId::generate)
}

/// The middleware body (`App::wrap_fn`): tags the request, then the response.
pub fn tag<S>(
    request: ServiceRequest,
    service: &S,
) -> impl std::future::Future<Output = Result<ServiceResponse, actix_web::Error>>
where
    S: Service<ServiceRequest, Response = ServiceResponse, Error = actix_web::Error>,
{
    let id = of(&request);
    request.extensions_mut().insert(id.clone());
    let span = tracing::info_span!("request", request_id = id.as_str());
    let response = span.in_scope(|| service.call(request));
    let tagged = async move {
        let mut response = response.await?;
        if let Ok(value) = HeaderValue::from_str(id.as_str()) {
            response
                .headers_mut()
                .insert(HeaderName::from_static(HEADER), value);
        }
        Ok(response)
    };
    tagged.instrument(span)
}

impl FromRequest for RequestId {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        // Without the middleware (a handler mounted elsewhere) there is still an id.
        let id = request
            .extensions()
            .get::<Self>()
            .cloned()
            .unwrap_or_else(RequestId::generate);
        ready(Ok(id))
    }
}
