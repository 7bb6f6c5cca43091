//! Answers to JWEs that fail to decrypt, held back once their client is beyond its
//! failure budget (`access::quota`): the answer itself, 400 `invalid_jwe`, does not
//! change, only when it is sent. Every kind of failure counts and is held alike, so
//! the hold says nothing about why a JWE failed.

use std::future::Future;

use actix_web::dev::{Service, ServiceRequest, ServiceResponse};
use actix_web::web;

use super::error::ApiError;
use super::AppState;

/// The middleware body (`App::wrap_fn`).
pub fn hold<S>(
    request: ServiceRequest,
    service: &S,
) -> impl Future<Output = Result<ServiceResponse, actix_web::Error>>
where
    S: Service<ServiceRequest, Response = ServiceResponse, Error = actix_web::Error>,
{
    let response = service.call(request);
    async move {
        let response = response.await?;
        let failed_jwe = response
            .response()
            .error()
            .and_then(actix_web::Error::as_error::<ApiError>)
            .is_some_and(|error| matches!(error, ApiError::InvalidJwe(_)));
        if !failed_jwe {
            return Ok(response);
        }
        let request = response.request();
        let held = super::extract::presented(request).and_then(|token| {
            let state = request.app_data::<web::Data<AppState>>()?;
            state.vault.jwe_failed(&token)
        });
        if let Some(held) = held {
            if held.first {
                tracing::warn!(
                    client_id = %held.client,
                    "client's JWEs keep failing to decrypt; its failures are answered late"
                );
            }
            actix_web::rt::time::sleep(held.hold).await;
        }
        Ok(response)
    }
}
