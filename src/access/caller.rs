//! Who is calling: the `Authorization: Bearer` token a request presents, and the API
//! client it belongs to once checked against the database.
//!
//! Handlers extract a [`BearerToken`] (no database work; a missing or malformed token
//! is refused at once) and run their work through [`authorised`], which checks the
//! token and its scope on the same pooled connection and in the same trip off the async
//! workers as the work itself: one connection check-out and one thread hop per request.
//! Handlers that read a body call [`authorise`] first, so that a caller without the
//! scope is refused before its body is read or looked at.

use std::future::{ready, Ready};

use actix_web::{web, FromRequest, HttpRequest};
use uuid::Uuid;

use super::{ApiToken, Scope};
use crate::db::clients::{self, CallerRow};
use crate::db::{self, DbConnection};
use crate::error::ApiError;
use crate::startup::AppState;

/// A well-formed bearer token, not yet checked against the database.
#[derive(Debug)]
pub struct BearerToken(ApiToken);

impl BearerToken {
    /// The hash the token is stored under.
    pub fn hash(&self) -> [u8; 32] {
        self.0.hash()
    }

    fn from_headers(request: &HttpRequest) -> Option<Self> {
        let header = request.headers().get("Authorization")?.to_str().ok()?;
        let (scheme, token) = header.trim().split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        ApiToken::parse(token.trim()).map(Self)
    }
}

impl FromRequest for BearerToken {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        ready(Self::from_headers(request).ok_or(ApiError::Unauthorized))
    }
}

/// An API client whose token was valid and not revoked.
#[derive(Debug, Clone)]
pub struct Caller {
    pub client_id: Uuid,
    pub name: String,
    scopes: Vec<Scope>,
}

impl Caller {
    /// The client holding `token`, or `unauthorized` for an unknown or revoked one.
    pub fn authenticate(
        connection: &mut DbConnection,
        token: &BearerToken,
    ) -> Result<Self, ApiError> {
        let row = clients::find_active_by_token_hash(connection, &token.hash())?
            .ok_or(ApiError::Unauthorized)?;
        Ok(Caller::from(row))
    }

    /// [`Caller::authenticate`], then [`Caller::require`] `scope`.
    pub fn authorise(
        connection: &mut DbConnection,
        token: &BearerToken,
        scope: Scope,
    ) -> Result<Self, ApiError> {
        let caller = Self::authenticate(connection, token)?;
        caller.require(scope)?;
        Ok(caller)
    }

    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        if self.scopes.contains(&scope) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(scope.as_str()))
        }
    }
}

impl From<CallerRow> for Caller {
    fn from(row: CallerRow) -> Self {
        Caller {
            client_id: Uuid::from_slice(&row.id).unwrap_or_default(),
            name: row.name,
            scopes: Scope::granted_by(&row.scopes),
        }
    }
}

/// Runs `work` off the async workers on one pooled connection, after checking that
/// `token` belongs to an active client holding `scope`.
pub async fn authorised<T, F>(
    state: &web::Data<AppState>,
    token: BearerToken,
    scope: Scope,
    work: F,
) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&AppState, &mut DbConnection, &Caller) -> Result<T, ApiError> + Send + 'static,
{
    let state = state.clone();
    web::block(move || {
        db::run(&state.pool, |connection| {
            let caller = Caller::authorise(connection, &token, scope)?;
            work(&state, connection, &caller)
        })
    })
    .await?
}

/// Checks that `token` belongs to an active client holding `scope`.
pub async fn authorise(
    state: &web::Data<AppState>,
    token: BearerToken,
    scope: Scope,
) -> Result<Caller, ApiError> {
    authorised(state, token, scope, |_, _, caller| Ok(caller.clone())).await
}
