//! Who is calling: the bearer token a request presents, and the API client it belongs
//! to once checked against the database.
//!
//! A request's token becomes a [`Claim`] (the token and the scope the operation
//! needs; no database work). The vault checks a claim on the same connection and in
//! the same trip as the work itself, so a protected read costs one connection
//! check-out; an operation that reads a body first checks the claim on its own, so a
//! caller without the scope is refused before its body is read.

use super::{ApiToken, Scope};
use crate::db::clients::{self, CallerRow};
use crate::db::{DbConnection, DbError};
use crate::id::ClientId;

/// A well-formed bearer token, not yet checked against the database.
#[derive(Debug)]
pub struct BearerToken(ApiToken);

impl BearerToken {
    /// The token of an `Authorization` header value (`Bearer <token>`, the scheme in
    /// any case); `None` when the value is not one.
    pub fn from_authorization(header: &str) -> Option<Self> {
        let (scheme, token) = header.trim().split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        ApiToken::parse(token.trim()).map(Self)
    }

    /// The hash the token is stored under.
    pub fn hash(&self) -> [u8; 32] {
        self.0.hash()
    }

    /// This token presented for an operation that needs `scope`.
    pub fn for_scope(self, scope: Scope) -> Claim {
        Claim { token: self, scope }
    }
}

/// A bearer token presented for an operation that needs `scope`, not yet checked.
#[derive(Debug)]
pub struct Claim {
    pub token: BearerToken,
    pub scope: Scope,
}

impl Claim {
    /// The active client holding the token, if it holds the scope.
    pub fn check(&self, connection: &mut DbConnection) -> Result<Caller, AccessError> {
        let mut checked = Self::check_many(connection, &[self])?;
        checked.pop().unwrap_or(Err(AccessError::Unauthorized))
    }

    /// Checks the claims of many requests with one query: for each, in order, the
    /// client holding its token if that client holds its scope. A database error
    /// fails them all.
    pub fn check_many(
        connection: &mut DbConnection,
        claims: &[&Claim],
    ) -> Result<Vec<Result<Caller, AccessError>>, DbError> {
        let hashes: Vec<[u8; 32]> = claims.iter().map(|claim| claim.token.hash()).collect();
        let wanted: Vec<&[u8]> = hashes.iter().map(<[u8; 32]>::as_slice).collect();
        let found = clients::find_active_by_token_hashes(connection, &wanted)?;
        Ok(claims
            .iter()
            .zip(&hashes)
            .map(|(claim, hash)| {
                let (_, row) = found
                    .iter()
                    .find(|(holds, _)| holds.as_slice() == hash.as_slice())
                    .ok_or(AccessError::Unauthorized)?;
                let caller = Caller::from(row.clone());
                if caller.scopes.contains(&claim.scope) {
                    Ok(caller)
                } else {
                    Err(AccessError::Forbidden(claim.scope))
                }
            })
            .collect())
    }
}

/// An API client whose token was valid, not revoked, and held the scope asked for.
#[derive(Debug, Clone)]
pub struct Caller {
    pub client_id: ClientId,
    pub name: String,
    scopes: Vec<Scope>,
}

impl From<CallerRow> for Caller {
    fn from(row: CallerRow) -> Self {
        Caller {
            client_id: row.id,
            name: row.name,
            scopes: Scope::granted_by(&row.scopes),
        }
    }
}

/// Why a claim was refused.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error("missing, unknown or revoked bearer token")]
    Unauthorized,
    #[error("token lacks scope {0}")]
    Forbidden(Scope),
    #[error(transparent)]
    Db(#[from] DbError),
}
