//! The quota check at the door (`access::quota`): a handler argument that admits its
//! request, at the cost its route names, before any other work, or refuses it with
//! 429 `rate_limited` and `Retry-After`. The permit it holds is released when the
//! response's body has been sent, streamed bodies included ([`Quota::hold`]).

use std::future::{ready, Ready};
use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::web::{Bytes, Data};
use actix_web::{FromRequest, HttpRequest, HttpResponse};

use super::error::ApiError;
use super::AppState;
use crate::access::Permit;

/// A request admitted at `COST` units (`access::quota::cost`). List it first among a
/// handler's arguments, so a refused request is not read any further. A request
/// without a well-formed token passes here and is refused by its `BearerToken`.
pub struct Quota<const COST: u32> {
    permit: Option<Permit>,
}

impl<const COST: u32> FromRequest for Quota<COST> {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let token = super::extract::presented(request);
        let (Some(token), Some(state)) = (token, request.app_data::<Data<AppState>>()) else {
            return ready(Ok(Self { permit: None }));
        };
        ready(match state.vault.admit(&token, COST) {
            Ok(permit) => Ok(Self {
                permit: Some(permit),
            }),
            Err(refusal) => {
                tracing::warn!(
                    client_id = %refusal.client,
                    route = request.match_pattern().as_deref().unwrap_or("(unmatched)"),
                    limit = refusal.limit.as_str(),
                    "client over its quota; request refused"
                );
                Err(ApiError::RateLimited {
                    retry_after_secs: refusal.retry_after_secs,
                })
            }
        })
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
