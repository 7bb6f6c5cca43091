//! The bearer token a request presents (`Authorization: Bearer <token>`), as a handler
//! argument. No database work: a missing or malformed token is refused at once; the
//! vault checks a well-formed one against the clients when the handler asks it to act.

use std::future::{ready, Ready};

use actix_web::{FromRequest, HttpMessage as _, HttpRequest};

use super::error::ApiError;
use crate::access::{BearerToken, CallerNote};

impl FromRequest for BearerToken {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let token = presented(request)
            // The request log names the client once the vault has checked the token.
            .map(|token| match request.extensions().get::<CallerNote>() {
                Some(note) => token.noted_in(note),
                None => token,
            });
        ready(token.ok_or(ApiError::Unauthorized))
    }
}

/// The well-formed bearer token of the request's `Authorization` header, if any.
pub(super) fn presented(request: &HttpRequest) -> Option<BearerToken> {
    request
        .headers()
        .get("Authorization")
        .and_then(|value| value.to_str().ok())
        .and_then(BearerToken::from_authorization)
}
