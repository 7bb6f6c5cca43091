//! Who is calling: the bearer token a request presents, and the API client it belongs
//! to once checked against the database.
//!
//! A request's token becomes a [`Claim`] (the token and the scope the operation
//! needs; no database work). The vault checks a claim on the same connection and in
//! the same trip as the work itself, so a protected read costs one connection
//! check-out; an operation that reads a body first checks the claim on its own, so a
//! caller without the scope is refused before its body is read.

use std::sync::{Arc, OnceLock};

use super::{client_mac, ApiToken, ClientLimits, Scope};
use crate::crypto::MetadataKey;
use crate::db::clients::{self, CallerRow};
use crate::db::users::CheckedClient;
use crate::db::{DbConnection, DbError};
use crate::id::ClientId;

/// A well-formed bearer token, not yet checked against the database.
#[derive(Debug, Clone)]
pub struct BearerToken(ApiToken, CallerNote);

/// Where a checked claim notes which client it belonged to, so the request's log line
/// can name the client (its id, never its token) after the response.
#[derive(Debug, Clone, Default)]
pub struct CallerNote(Arc<OnceLock<ClientId>>);

impl CallerNote {
    /// The client a claim of this request was checked against, if one was.
    pub fn client_id(&self) -> Option<ClientId> {
        self.0.get().copied()
    }
}

impl BearerToken {
    /// The token of an `Authorization` header value (`Bearer <token>`, the scheme in
    /// any case); `None` when the value is not one.
    pub fn from_authorization(header: &str) -> Option<Self> {
        let (scheme, token) = header.trim().split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        ApiToken::parse(token.trim()).map(|token| Self(token, CallerNote::default()))
    }

    /// The token, noting in `note` the client it turns out to belong to.
    #[must_use]
    pub fn noted_in(self, note: &CallerNote) -> Self {
        Self(self.0, note.clone())
    }

    /// The token's SHA-256: what this instance keys its quotas by.
    pub fn hash(&self) -> [u8; 32] {
        self.0.hash()
    }

    /// The digest the token is stored under.
    pub fn digest(&self, key: &MetadataKey) -> [u8; 32] {
        self.0.digest(key)
    }

    /// This token presented for an operation that needs `scope`.
    pub fn for_scope(self, scope: Scope) -> Claim {
        Claim { token: self, scope }
    }
}

/// A bearer token presented for an operation that needs `scope`, not yet checked.
#[derive(Debug, Clone)]
pub struct Claim {
    pub token: BearerToken,
    pub scope: Scope,
}

impl Claim {
    /// The active client holding the token, if it holds the scope.
    pub fn check(
        &self,
        connection: &mut DbConnection,
        key: &MetadataKey,
    ) -> Result<Caller, AccessError> {
        let mut checked = Self::check_many(connection, key, &[self])?;
        checked.pop().unwrap_or(Err(AccessError::Unauthorized))
    }

    /// Checks the claims of many requests with one query: for each, in order, the
    /// client holding its token if that client holds its scope and its row carries
    /// its MAC (`client_mac`). A database error fails them all. Each claim notes the
    /// client its token belongs to.
    pub fn check_many(
        connection: &mut DbConnection,
        key: &MetadataKey,
        claims: &[&Claim],
    ) -> Result<Vec<Result<Caller, AccessError>>, DbError> {
        let digests: Vec<[u8; 32]> = claims.iter().map(|claim| claim.token.digest(key)).collect();
        let wanted: Vec<&[u8]> = digests.iter().map(<[u8; 32]>::as_slice).collect();
        let found = clients::find_active_by_token_hashes(connection, &wanted)?;
        Ok(claims
            .iter()
            .zip(&digests)
            .map(|(claim, digest)| {
                let row = found
                    .iter()
                    .find(|row| row.token_hash.as_slice() == digest.as_slice())
                    .filter(|row| client_mac::authentic(key, row))
                    .ok_or(AccessError::Unauthorized)?;
                let caller = Caller::from(row.clone());
                claim.note_client(caller.client_id);
                if caller.holds(claim.scope) {
                    Ok(caller)
                } else {
                    Err(AccessError::Forbidden(claim.scope))
                }
            })
            .collect())
    }

    /// Notes the client this claim's token turned out to belong to, for the request's
    /// log line. Set once per request; a second check of the same token names the
    /// same client.
    pub fn note_client(&self, client: ClientId) {
        let _ = self.token.1 .0.set(client);
    }
}

/// An API client whose token was valid, not revoked, and held the scope asked for.
#[derive(Debug, Clone)]
pub struct Caller {
    pub client_id: ClientId,
    pub name: String,
    scopes: Vec<Scope>,
    /// The client's quota as stored (what the request's token check read).
    pub limits: ClientLimits,
    /// The row's token digest and MAC, as checked: a registration is stored only if
    /// the row still has them (`db::users::CheckedClient`).
    token_hash: Vec<u8>,
    mac: Vec<u8>,
}

impl Caller {
    /// Whether the client held `scope` when it was checked.
    pub fn holds(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }

    /// The client row as it was checked.
    pub fn checked_row(&self) -> CheckedClient<'_> {
        CheckedClient {
            token_hash: &self.token_hash,
            mac: &self.mac,
        }
    }
}

impl From<CallerRow> for Caller {
    fn from(row: CallerRow) -> Self {
        Caller {
            client_id: row.id,
            name: row.name,
            scopes: Scope::granted_by(&row.scopes),
            limits: ClientLimits::from_stored(row.limits),
            token_hash: row.token_hash,
            // Only rows whose MAC verified become callers: never empty here.
            mac: row.mac.unwrap_or_default(),
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
