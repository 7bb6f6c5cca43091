//! The quota check at the door (`access::quota`): a handler argument that admits its
//! request, at the cost its route names, before any other work, or refuses it with
//! 429 `rate_limited` and `Retry-After`. The permit it holds is released when the
//! response's body has been sent, streamed bodies included ([`Quota::hold`]).
//!
//! A refusal is sent after what the quota says to hold it back (`Refusal::hold`), and
//! after the request's body has been read to its end when it is small, so that the
//! connection stays open: an unread body makes the server close it, and a client
//! over its quota would then cost the service a new connection per refused request.

use std::future::{ready, Future, Ready};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::rt::time::{sleep_until, timeout, Instant};
use actix_web::web::{Bytes, Data};
use actix_web::{FromRequest, HttpRequest, HttpResponse};
use futures_util::future::{Either, LocalBoxFuture};
use futures_util::StreamExt as _;

use super::error::ApiError;
use super::AppState;
use crate::access::{Permit, Refusal};

/// Largest body read to its end before a refusal is sent (a JWE of one person is far
/// smaller); a larger one is left unread and its connection closed.
const DRAINED_BODY_LIMIT: u64 = 64 * 1024;

/// Longest a refused request's body is waited for.
const DRAIN_TIME: Duration = Duration::from_secs(2);

/// A request admitted at `COST` units (`access::quota::cost`). List it first among a
/// handler's arguments, so a refused request is not read any further. A request
/// without a well-formed token passes here and is refused by its `BearerToken`.
pub struct Quota<const COST: u32> {
    permit: Option<Permit>,
}

impl<const COST: u32> FromRequest for Quota<COST> {
    type Error = ApiError;
    type Future =
        Either<Ready<Result<Self, ApiError>>, LocalBoxFuture<'static, Result<Self, ApiError>>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let token = super::extract::presented(request);
        let (Some(token), Some(state)) = (token, request.app_data::<Data<AppState>>()) else {
            return Either::Left(ready(Ok(Self { permit: None })));
        };
        match state.vault.admit(&token, COST) {
            Ok(permit) => Either::Left(ready(Ok(Self {
                permit: Some(permit),
            }))),
            Err(refusal) => {
                if refusal.hold.is_zero() {
                    // Once per `Retry-After`: a client that ignores it is not logged
                    // at the rate it sends (the metrics count every refusal).
                    tracing::warn!(
                        client_id = %refusal.client,
                        route = request.match_pattern().as_deref().unwrap_or("(unmatched)"),
                        limit = refusal.limit.as_str(),
                        retry_after_secs = refusal.retry_after_secs,
                        "client over its quota; request refused"
                    );
                }
                let small = declared_length(request).is_some_and(|n| n <= DRAINED_BODY_LIMIT);
                let body = small.then(|| payload.take());
                Either::Right(Box::pin(refuse(refusal, body)))
            }
        }
    }
}

/// The refusal of a request, sent once `body` (if given) has been read and the
/// refusal's hold has passed.
fn refuse<T>(
    refusal: Refusal,
    body: Option<Payload>,
) -> impl Future<Output = Result<T, ApiError>> + 'static {
    let now = Instant::now();
    async move {
        if let Some(mut body) = body {
            let read_to_end = async { while let Some(Ok(_)) = body.next().await {} };
            // A body that does not arrive in time is left: its connection closes.
            let _ = timeout(DRAIN_TIME, read_to_end).await;
        }
        sleep_until(now + refusal.hold).await;
        Err(ApiError::RateLimited {
            retry_after_secs: refusal.retry_after_secs,
        })
    }
}

/// The request's `Content-Length` (0 when it has no body and says nothing), or `None`
/// when the body's length is not declared (chunked).
fn declared_length(request: &HttpRequest) -> Option<u64> {
    let headers = request.headers();
    match headers.get(header::CONTENT_LENGTH) {
        Some(length) => length.to_str().ok()?.parse().ok(),
        None if headers.contains_key(header::TRANSFER_ENCODING) => None,
        None => Some(0),
    }
}

impl<const COST: u32> Quota<COST> {
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
