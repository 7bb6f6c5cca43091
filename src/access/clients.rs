//! Creating, listing and revoking API clients (the `piivault clients` commands).

use serde::Serialize;

use super::{ApiToken, Scope};
use crate::db::clients::{self, NewClientRow};
use crate::db::{DbConnection, DbError};
use crate::id::ClientId;

/// A client just created: the only moment its token is known.
#[derive(Debug, Serialize)]
pub struct CreatedClient {
    pub id: ClientId,
    pub name: String,
    pub scopes: Vec<String>,
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
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("a client named `{0}` already exists")]
    NameTaken(String),
    #[error("a client name must be 1 to 64 letters, digits, `-`, `_` or `.`")]
    InvalidName,
    #[error("at least one scope is required")]
    NoScopes,
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Crypto(#[from] crate::crypto::CryptoError),
}

pub fn create(
    connection: &mut DbConnection,
    name: &str,
    scopes: &[Scope],
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
    let token = ApiToken::generate()?;
    let id = ClientId::generate();
    let row = NewClientRow {
        id,
        name,
        token_hash: token.hash().to_vec(),
        scopes: Scope::join(scopes),
        created_at: crate::time::now(),
    };
    clients::insert(connection, &row).map_err(|error| match error {
        DbError::Conflict => ClientError::NameTaken(name.to_owned()),
        other => ClientError::Db(other),
    })?;
    Ok(CreatedClient {
        id,
        name: name.to_owned(),
        scopes: scopes.iter().map(|s| s.as_str().to_owned()).collect(),
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
        })
        .collect())
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
            },
        )?,
    }
    Ok(())
}
