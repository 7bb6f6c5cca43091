//! The quota check at the door (`access::quota`): a handler argument that admits its
//! request, at the cost its route names, before any other work, or refuses it with
//! 429 `rate_limited` and `Retry-After`. The permit it holds is released when the
//! response's body has been sent, streamed bodies included ([`Quota::hold`]).
//!
//! The refusal is the handler's first error, so no later argument's error (a 422 for
//! a query, say) can answer instead. What the quota says about *when* to send it is
//! done by [`settle_quota`], the middleware around every route: a delayed refusal
//! (`Refusal::delay`) waits, and a small body is first read to its end, so that the
//! connection stays open (an unread body makes the server close it, and a client over
//! its quota would then cost the service a new connection per refused request). The
//! same middleware charges every `invalid_jwe` to its client's failure budget.

use std::future::{ready, Future, Ready};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::{Payload, Service, ServiceRequest, ServiceResponse};
use actix_web::rt::time::{sleep_until, timeout, Instant};
use actix_web::web::{Bytes, Data};
use actix_web::{FromRequest, HttpMessage as _, HttpRequest, HttpResponse};
use futures_util::StreamExt as _;

use super::error::ApiError;
use super::AppState;
use crate::access::Permit;

/// Largest body read to its end before a refusal is sent (a JWE of one person is far
/// smaller); a larger one is left unread and its connection closed.
const DRAINED_BODY_LIMIT: usize = 64 * 1024;

/// A request admitted at `COST` units (`access::quota::cost`). List it first among a
/// handler's arguments. A request without a well-formed token passes here and is
/// refused by its `BearerToken`. `DECRYPTS` marks the routes whose body is a JWE
/// ([`JweQuota`]): they are also refused while the client's failure budget is spent.
pub struct Quota<const COST: u32, const DECRYPTS: bool = false> {
    permit: Option<Permit>,
}

/// The quota of a route that decrypts a JWE body.
pub type JweQuota<const COST: u32> = Quota<COST, true>;

impl<const COST: u32, const DECRYPTS: bool> FromRequest for Quota<COST, DECRYPTS> {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let token = super::extract::presented(request);
        let (Some(token), Some(state)) = (token, request.app_data::<Data<AppState>>()) else {
            return ready(Ok(Self { permit: None }));
        };
        let refusal = match state.vault.admit(&token, COST, DECRYPTS) {
            Ok(permit) => {
                if permit.reserved_jwe_failure() {
                    request.extensions_mut().insert(ReservedJweFailure);
                }
                return ready(Ok(Self {
                    permit: Some(permit),
                }));
            }
            Err(refusal) => refusal,
        };
        if refusal.delay.is_zero() {
            // Once per `Retry-After`: a client that ignores it is not logged at the
            // rate it sends (the metrics count every refusal).
            tracing::warn!(
                client_id = %refusal.client,
                route = request.match_pattern().as_deref().unwrap_or("(unmatched)"),
                limit = refusal.limit.as_str(),
                retry_after_secs = refusal.retry_after_secs,
                "client over its quota; request refused"
            );
        }
        let now = Instant::now();
        let small_body = super::body::declared_length(request)
            .is_some_and(|length| length > 0 && length <= DRAINED_BODY_LIMIT);
        if small_body || !refusal.delay.is_zero() {
            request.extensions_mut().insert(LateRefusal {
                send_at: now + refusal.delay,
                body: small_body.then(|| (payload.take(), state.body_timeout)),
            });
        }
        ready(Err(ApiError::RateLimited {
            retry_after_secs: refusal.retry_after_secs,
        }))
    }
}

/// Marks a request whose admission reserved a failure from its client's budget.
struct ReservedJweFailure;

/// What a refusal waits for before it is sent: a time, and a body to read to its end
/// within the time a body may take (left unread after it: its connection closes).
struct LateRefusal {
    send_at: Instant,
    body: Option<(Payload, Duration)>,
}

impl LateRefusal {
    async fn wait(self) {
        if let Some((mut body, time_allowed)) = self.body {
            let read_to_end = async { while let Some(Ok(_)) = body.next().await {} };
            let _ = timeout(time_allowed, read_to_end).await;
        }
        sleep_until(self.send_at).await;
    }
}

/// The middleware body (`App::wrap_fn`) that settles what the quota decided once the
/// handler has answered: an `invalid_jwe` is charged to its client's failure budget
/// or the failure its admission reserved given back, and a refusal is sent when
/// [`Quota`] said to.
pub fn settle_quota<S>(
    request: ServiceRequest,
    service: &S,
) -> impl Future<Output = Result<ServiceResponse, actix_web::Error>>
where
    S: Service<ServiceRequest, Response = ServiceResponse, Error = actix_web::Error>,
{
    let response = service.call(request);
    async move {
        let response = response.await?;
        let request = response.request();
        let failed_jwe = response
            .response()
            .error()
            .and_then(actix_web::Error::as_error::<ApiError>)
            .is_some_and(|error| matches!(error, ApiError::InvalidJwe(_)));
        let reserved = request
            .extensions_mut()
            .remove::<ReservedJweFailure>()
            .is_some();
        if reserved || failed_jwe {
            let token = super::extract::presented(request);
            if let (Some(token), Some(state)) = (token, request.app_data::<Data<AppState>>()) {
                state.vault.settle_jwe(&token, reserved, failed_jwe);
            }
        }
        let late = request.extensions_mut().remove::<LateRefusal>();
        if let Some(late) = late {
            late.wait().await;
        }
        Ok(response)
    }
}

impl<const COST: u32, const DECRYPTS: bool> Quota<COST, DECRYPTS> {
    /// `response`, keeping the request counted in flight until its body is sent.
    pub fn hold(self, response: HttpResponse) -> HttpResponse {
        let Some(permit) = self.permit else {
            return response;
        };
        response
            .map_body(|_, body| HeldBody {
                body,
                _permit: permit,
            })
            .map_into_boxed_body()
    }
}

/// A response body that holds a permit until it is dropped (sent, or abandoned).
struct HeldBody {
    body: BoxBody,
    _permit: Permit,
}

impl MessageBody for HeldBody {
    type Error = <BoxBody as MessageBody>::Error;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_next(cx)
    }
}
