//! Creating, listing, limiting and revoking API clients (the `piivault clients`
//! commands), and sealing the rows of older versions (`piivault keys
//! seal-metadata`). Every write seals the row anew (`client_mac`); a change to a row
//! that fails its MAC is refused, so that the service never seals what a database
//! writer forged.

use serde::Serialize;

use super::client_mac::{self, SealedClient};
use super::{token, ApiToken, ClientLimits, Scope};
use crate::crypto::MetadataKey;
use crate::db::clients::{self, ClientChange, ClientRow, NewClientRow};
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
    /// Whether the row carries its MAC: `false` for a row edited or forged in the
    /// database, or written by an older version and not yet sealed. Its token is
    /// refused.
    pub authentic: bool,
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
    #[error("the row of client `{0}` fails its MAC (edited or forged in the database, or never sealed): it is left as it is; revoke it and create a new client")]
    Unauthentic(String),
    #[error("client `{0}` was changed by someone else meanwhile; try again")]
    ChangedMeanwhile(String),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Crypto(#[from] crate::crypto::CryptoError),
}

pub fn create(
    connection: &mut DbConnection,
    key: &MetadataKey,
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
    let row = new_row(key, name, &token, scopes, stored_limits);
    let id = row.id;
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

/// A new client's row, sealed.
fn new_row<'a>(
    key: &MetadataKey,
    name: &'a str,
    token: &ApiToken,
    scopes: &[Scope],
    limits: clients::LimitColumns,
) -> NewClientRow<'a> {
    let id = ClientId::generate();
    let token_hash = token.digest(key);
    let scopes = Scope::join(scopes);
    let mac = SealedClient {
        id,
        name,
        token_hash: &token_hash,
        scopes: &scopes,
        revoked: false,
        limits,
    }
    .mac(key);
    NewClientRow {
        id,
        name,
        token_hash: token_hash.to_vec(),
        scopes,
        created_at: crate::time::now(),
        limits,
        mac: mac.to_vec(),
    }
}

pub fn list(
    connection: &mut DbConnection,
    key: &MetadataKey,
) -> Result<Vec<ClientSummary>, DbError> {
    Ok(clients::list(connection)?
        .into_iter()
        .map(|row| ClientSummary {
            authentic: client_mac::row_is_authentic(key, &row),
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
    key: &MetadataKey,
    name: &str,
    change: &LimitChange,
) -> Result<ClientLimits, ClientError> {
    let row = authentic_row(connection, key, name)?;
    let old = ClientLimits::from_stored(row.limits);
    let new = ClientLimits {
        rate_per_second: change.rate_per_second.unwrap_or(old.rate_per_second),
        burst: change.burst.unwrap_or(old.burst),
        max_concurrent: change.max_concurrent.unwrap_or(old.max_concurrent),
    };
    let stored = new.to_stored().ok_or(ClientError::InvalidLimits)?;
    reseal(
        connection,
        key,
        &row,
        SealedClient {
            limits: stored,
            ..SealedClient::from(&row)
        },
        row.revoked_at,
    )?;
    Ok(new)
}

/// The named client's row, which must carry its MAC.
fn authentic_row(
    connection: &mut DbConnection,
    key: &MetadataKey,
    name: &str,
) -> Result<ClientRow, ClientError> {
    let row = clients::find_by_name(connection, name)?
        .ok_or_else(|| ClientError::NoSuchClient(name.to_owned()))?;
    if !client_mac::row_is_authentic(key, &row) {
        return Err(ClientError::Unauthentic(name.to_owned()));
    }
    Ok(row)
}

/// Writes `sealed` (and `revoked_at`) over `row` with its new MAC, unless the row
/// changed since it was read.
fn reseal(
    connection: &mut DbConnection,
    key: &MetadataKey,
    row: &ClientRow,
    sealed: SealedClient<'_>,
    revoked_at: Option<chrono::NaiveDateTime>,
) -> Result<(), ClientError> {
    let mac = sealed.mac(key);
    let change = ClientChange {
        token_hash: sealed.token_hash,
        scopes: sealed.scopes,
        revoked_at,
        rate_per_second: sealed.limits.rate_per_second,
        burst: sealed.limits.burst,
        max_concurrent: sealed.limits.max_concurrent,
        mac: &mac,
    };
    if clients::reseal(connection, row.id, row.mac.as_deref(), &change)? {
        Ok(())
    } else {
        Err(ClientError::ChangedMeanwhile(row.name.clone()))
    }
}

/// Which limits to change (`None`: keep the stored one).
#[derive(Debug, Clone, Copy, Default)]
pub struct LimitChange {
    pub rate_per_second: Option<u32>,
    pub burst: Option<u32>,
    pub max_concurrent: Option<u32>,
}

/// Revokes the named client; returns whether an active client with that name
/// existed. A row that fails its MAC is revoked all the same (sealed as revoked,
/// which gives its token nothing).
pub fn revoke(
    connection: &mut DbConnection,
    key: &MetadataKey,
    name: &str,
) -> Result<bool, ClientError> {
    let Some(row) = clients::find_by_name(connection, name)? else {
        return Ok(false);
    };
    if row.revoked_at.is_some() && client_mac::row_is_authentic(key, &row) {
        return Ok(false);
    }
    reseal(
        connection,
        key,
        &row,
        SealedClient {
            revoked: true,
            ..SealedClient::from(&row)
        },
        Some(row.revoked_at.unwrap_or_else(crate::time::now)),
    )?;
    Ok(true)
}

/// Seals up to `limit` client rows written before the metadata key existed: their
/// SHA-256 token hash becomes the keyed digest of that hash (so their tokens keep
/// working) and they get their MAC. Each row is rewritten only if it is still
/// unsealed, so running this twice, or twice at once, is safe.
pub fn seal_unsealed(
    connection: &mut DbConnection,
    key: &MetadataKey,
    limit: i64,
) -> Result<Sealed, ClientError> {
    let rows = clients::unsealed(connection, limit)?;
    let mut done = Sealed {
        looked_at: rows.len(),
        sealed: 0,
    };
    for row in &rows {
        let Ok(sha256) = <[u8; 32]>::try_from(row.token_hash.as_slice()) else {
            tracing::warn!(client = %row.id, "an unsealed api_clients row has no SHA-256 token hash: left as it is");
            continue;
        };
        let token_hash = token::stored_digest(key, &sha256);
        let sealed = SealedClient {
            token_hash: &token_hash,
            ..SealedClient::from(row)
        };
        match reseal(connection, key, row, sealed, row.revoked_at) {
            Ok(()) => done.sealed += 1,
            // A concurrent run sealed it.
            Err(ClientError::ChangedMeanwhile(_)) => {}
            Err(other) => return Err(other),
        }
    }
    Ok(done)
}

/// What one batch of sealing did.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sealed {
    pub looked_at: usize,
    pub sealed: usize,
}

/// Makes sure a client `name` with every scope exists and accepts `token` (used by
/// `serve --dev`, whose token is kept in the data dir so it survives restarts).
/// Every scope and the default limits: the dev client's row is rewritten whole, so
/// that nothing an earlier run (or a database edit) left in it is sealed anew.
pub fn ensure_with_token(
    connection: &mut DbConnection,
    key: &MetadataKey,
    name: &str,
    token: &ApiToken,
) -> Result<(), ClientError> {
    let limits = ClientLimits::DEFAULT
        .to_stored()
        .ok_or(ClientError::InvalidLimits)?;
    match clients::find_by_name(connection, name)? {
        Some(row) => {
            let token_hash = token.digest(key);
            let scopes = Scope::join(&Scope::ALL);
            let sealed = SealedClient {
                id: row.id,
                name,
                token_hash: &token_hash,
                scopes: &scopes,
                revoked: false,
                limits,
            };
            reseal(connection, key, &row, sealed, None)?;
        }
        None => clients::insert(connection, &new_row(key, name, token, &Scope::ALL, limits))?,
    }
    Ok(())
}
