//! The vault's one error: what an operation can end with, in terms a caller can act
//! on. `routes::error` maps it to a status and a stable code; the command line prints
//! it. Display texts carry ids and kinds of failure only, never personal data.

use crate::access::{AccessError, Scope};
use crate::crypto::CryptoError;
use crate::db::DbError;
use crate::domain::FieldErrors;
use crate::files::IntegrityError;
use crate::id::FileId;
use crate::jose::JweError;

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("missing, unknown or revoked bearer token")]
    Unauthorized,
    #[error("token lacks scope {0}")]
    Forbidden(Scope),
    #[error("not found")]
    NotFound,
    /// The sentence says what conflicts; it names no value.
    #[error("conflict: {0}")]
    Conflict(&'static str),
    #[error("invalid JWE: {0}")]
    InvalidJwe(#[source] JweError),
    #[error("invalid JSON: {0}")]
    InvalidJson(&'static str),
    #[error("validation failed")]
    Validation(FieldErrors),
    #[error("file larger than the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("the request body ended early or failed")]
    BodyAborted,
    #[error("requested range not satisfiable for a file of {size} bytes")]
    RangeNotSatisfiable { size: u64 },
    #[error("file {file_id} failed its integrity check: {error}")]
    Integrity {
        file_id: FileId,
        error: IntegrityError,
    },
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The PKCS#11 token holding the master keys did not answer.
    #[error("the key token is unavailable")]
    TokenUnavailable,
    /// This instance's active master key version is below the floor in the database
    /// (`db::wrap_floor`), even after reloading its keys: it will not wrap a new data
    /// key under a version that is being retired.
    #[error("the active master key version is below the floor (version {floor})")]
    MasterKeyOutdated { floor: i32 },
    /// The object store did not answer (an unreachable bucket, a failing disk).
    #[error("file store unavailable: {0}")]
    StoreUnavailable(String),
    /// The instance is shutting down and its drain timeout ran out mid-operation.
    #[error("cut off by the shutdown")]
    ShuttingDown,
    #[error("sealing or opening failed: {0}")]
    Crypto(CryptoError),
    #[error("internal error: {0:#}")]
    Internal(#[from] anyhow::Error),
}

impl VaultError {
    /// A validation failure of one field.
    pub fn invalid(field: &str, problem: &str) -> Self {
        Self::Validation(FieldErrors::from([(field.to_owned(), problem.to_owned())]))
    }

    /// A failure that is a bug or an outage, not the caller's doing.
    pub fn internal(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Internal(anyhow::Error::new(error))
    }

    /// This failure as each of several requests that shared the work gets it: an
    /// outage or an outdated master key as it is, anything else as an internal error.
    #[must_use]
    pub fn shared_copy(&self) -> Self {
        match self {
            Self::Unavailable(cause) => Self::Unavailable(cause.clone()),
            Self::MasterKeyOutdated { floor } => Self::MasterKeyOutdated { floor: *floor },
            other => Self::Internal(anyhow::anyhow!("the shared work failed: {other}")),
        }
    }
}

impl From<CryptoError> for VaultError {
    fn from(error: CryptoError) -> Self {
        match error {
            CryptoError::Unavailable => Self::TokenUnavailable,
            other => Self::Crypto(other),
        }
    }
}

impl From<DbError> for VaultError {
    fn from(error: DbError) -> Self {
        match error {
            DbError::Unavailable(cause) => Self::Unavailable(cause),
            DbError::Conflict => Self::Conflict("A record with this unique value already exists."),
            // The user (or other parent) was deleted while this operation ran.
            DbError::MissingReference => Self::NotFound,
            DbError::BelowWrapFloor { floor } => Self::MasterKeyOutdated { floor },
            DbError::Query(error) => Self::internal(error),
        }
    }
}

impl From<diesel::result::Error> for VaultError {
    fn from(error: diesel::result::Error) -> Self {
        DbError::from(error).into()
    }
}

impl From<AccessError> for VaultError {
    fn from(error: AccessError) -> Self {
        match error {
            AccessError::Unauthorized => Self::Unauthorized,
            AccessError::Forbidden(scope) => Self::Forbidden(scope),
            AccessError::Db(error) => error.into(),
        }
    }
}

impl From<object_store::Error> for VaultError {
    fn from(error: object_store::Error) -> Self {
        match error {
            // What a store says when its requests fail (S3: connection refused, 5xx,
            // timeouts after the retries; local: an I/O error): nothing was written.
            object_store::Error::Generic { .. } => Self::StoreUnavailable(error.to_string()),
            error => Self::internal(error),
        }
    }
}

impl From<crate::pdf::PdfError> for VaultError {
    fn from(error: crate::pdf::PdfError) -> Self {
        Self::internal(error)
    }
}

impl crate::db::WorkError for VaultError {
    fn may_be_connection_failure(&self) -> bool {
        matches!(self, Self::Unavailable(_) | Self::Internal(_))
    }
}
