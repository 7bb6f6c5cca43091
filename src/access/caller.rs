//! The authenticated caller of a request, extracted from `Authorization: Bearer`.

use std::future::Future;
use std::pin::Pin;

use actix_web::{web, FromRequest, HttpRequest};
use uuid::Uuid;

use super::{ApiToken, Scope};
use crate::db::clients;
use crate::error::ApiError;
use crate::startup::AppState;

/// An API client whose token was valid and not revoked.
#[derive(Debug, Clone)]
pub struct Caller {
    pub client_id: Uuid,
    pub name: String,
    scopes: Vec<Scope>,
}

impl Caller {
    /// The one check every handler makes after extracting the caller.
    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        if self.scopes.contains(&scope) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(scope.as_str()))
        }
    }
}

fn bearer_token(request: &HttpRequest) -> Option<ApiToken> {
    let header = request.headers().get("Authorization")?.to_str().ok()?;
    let (scheme, token) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    ApiToken::parse(token.trim())
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(request: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let token = bearer_token(request);
        let state = request.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let token = token.ok_or(ApiError::Unauthorized)?;
            let state = state.ok_or_else(|| ApiError::Internal(anyhow::anyhow!("no app state")))?;
            let hash = token.hash();
            let row = web::block(move || {
                let mut connection = state.pool.get()?;
                clients::find_active_by_token_hash(&mut connection, &hash)
            })
            .await??
            .ok_or(ApiError::Unauthorized)?;
            Ok(Caller {
                client_id: Uuid::from_slice(&row.id).unwrap_or_default(),
                name: row.name,
                scopes: Scope::parse_list(&row.scopes).unwrap_or_default(),
            })
        })
    }
}
