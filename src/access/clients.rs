//! Creating, listing, limiting and revoking API clients (the `piivault clients`
//! commands).

use serde::Serialize;

use super::{ApiToken, ClientLimits, Scope};
use crate::db::clients::{self, NewClientRow};
use crate::db::{DbConnection, DbError};
use crate::id::ClientId;

/// A client just created: the only moment its token is known.
#[derive(Debug, Serialize)]
pub struct CreatedClient {
    pub id: ClientId,
    pub name: String,
    pub scopes: Vec<String>,
    pub limits: ClientLimits,
    pub token: String,
}

/// A client as listed: never its token.
#[derive(Debug, Serialize)]
pub struct ClientSummary {
    pub id: ClientId,
    pub name: String,
    pub scopes: Vec<String>,
    pub created_at: String,
    pub revoked_at: Option<String>,
    pub limits: ClientLimits,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("a client named `{0}` already exists")]
    NameTaken(String),
    #[error("a client name must be 1 to 64 letters, digits, `-`, `_` or `.`")]
    InvalidName,
    #[error("at least one scope is required")]
    NoScopes,
    #[error("every limit must be a whole number from 1 to {}", ClientLimits::MAX)]
    InvalidLimits,
    #[error("no client named `{0}`")]
    NoSuchClient(String),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Crypto(#[from] crate::crypto::CryptoError),
}

pub fn create(
    connection: &mut DbConnection,
    name: &str,
    scopes: &[Scope],
    limits: ClientLimits,
) -> Result<CreatedClient, ClientError> {
    let valid_name = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if !valid_name {
        return Err(ClientError::InvalidName);
    }
    if scopes.is_empty() {
        return Err(ClientError::NoScopes);
    }
    let stored_limits = limits.to_stored().ok_or(ClientError::InvalidLimits)?;
    let token = ApiToken::generate()?;
    let id = ClientId::generate();
    let row = NewClientRow {
        id,
        name,
        token_hash: token.hash().to_vec(),
        scopes: Scope::join(scopes),
        created_at: crate::time::now(),
        limits: stored_limits,
    };
    clients::insert(connection, &row).map_err(|error| match error {
        DbError::Conflict => ClientError::NameTaken(name.to_owned()),
        other => ClientError::Db(other),
    })?;
    Ok(CreatedClient {
        id,
        name: name.to_owned(),
        scopes: scopes.iter().map(|s| s.as_str().to_owned()).collect(),
        limits,
        token: token.reveal().to_owned(),
    })
}

pub fn list(connection: &mut DbConnection) -> Result<Vec<ClientSummary>, DbError> {
    Ok(clients::list(connection)?
        .into_iter()
        .map(|row| ClientSummary {
            id: row.id,
            name: row.name,
            scopes: row.scopes.split(',').map(str::to_owned).collect(),
            created_at: crate::time::rfc3339(row.created_at),
            revoked_at: row.revoked_at.map(crate::time::rfc3339),
            limits: ClientLimits::from_stored(row.limits),
        })
        .collect())
}

/// Changes the named client's limits: each `Some` replaces the stored value. Running
/// instances apply them within [`super::quota::LIMITS_TTL`]. Returns the limits now
/// stored.
pub fn set_limits(
    connection: &mut DbConnection,
    name: &str,
    change: &LimitChange,
) -> Result<ClientLimits, ClientError> {
    let row = clients::find_by_name(connection, name)?
        .ok_or_else(|| ClientError::NoSuchClient(name.to_owned()))?;
    let old = ClientLimits::from_stored(row.limits);
    let new = ClientLimits {
        rate_per_second: change.rate_per_second.unwrap_or(old.rate_per_second),
        burst: change.burst.unwrap_or(old.burst),
        max_concurrent: change.max_concurrent.unwrap_or(old.max_concurrent),
    };
    let stored = new.to_stored().ok_or(ClientError::InvalidLimits)?;
    if !clients::set_limits(connection, name, &stored)? {
        return Err(ClientError::NoSuchClient(name.to_owned()));
    }
    Ok(new)
}

/// Which limits to change (`None`: keep the stored one).
#[derive(Debug, Clone, Copy, Default)]
pub struct LimitChange {
    pub rate_per_second: Option<u32>,
    pub burst: Option<u32>,
    pub max_concurrent: Option<u32>,
}

/// Returns whether an active client with that name existed.
pub fn revoke(connection: &mut DbConnection, name: &str) -> Result<bool, DbError> {
    clients::revoke(connection, name, crate::time::now())
}

/// Makes sure a client `name` with every scope exists and accepts `token` (used by
/// `serve --dev`, whose token is kept in the data dir so it survives restarts).
pub fn ensure_with_token(
    connection: &mut DbConnection,
    name: &str,
    token: &ApiToken,
) -> Result<(), ClientError> {
    match clients::find_by_name(connection, name)? {
        Some(_) => clients::set_token_hash(connection, name, &token.hash())?,
        None => clients::insert(
            connection,
            &NewClientRow {
                id: ClientId::generate(),
                name,
                token_hash: token.hash().to_vec(),
                scopes: Scope::join(&Scope::ALL),
                created_at: crate::time::now(),
                limits: ClientLimits::DEFAULT
                    .to_stored()
                    .ok_or(ClientError::InvalidLimits)?,
            },
        )?,
    }
    Ok(())
}
