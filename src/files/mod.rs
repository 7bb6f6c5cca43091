//! The file vault: each user's files, sealed under a key derived from that user's data
//! key and streamed in 64 KiB segments between the HTTP body and the object store, so a
//! 2 GB file needs no more memory than a 2 KB one and no plaintext byte touches a disk.
//!
//! `stream` owns the byte format (pure, in memory), `store` the object storage,
//! `records` the database rows with their sealed name and content type, and `upload` /
//! `download` put them together for the routes.

pub mod download;
pub mod records;
pub mod store;
pub mod stream;
pub mod upload;

use chrono::NaiveDateTime;
use serde::Serialize;
use uuid::Uuid;

pub use download::{Download, RangeRequest};
pub use store::{FileStore, StoreLocation};
pub use stream::IntegrityError;

use crate::users::VaultError;

/// Largest accepted file unless configured otherwise: 1 GiB.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 1 << 30;

#[derive(Debug, Clone)]
pub struct FileSettings {
    /// Largest accepted file (plaintext bytes); larger uploads get 413 and leave nothing.
    pub max_file_bytes: u64,
    pub location: StoreLocation,
}

impl Default for FileSettings {
    fn default() -> Self {
        Self {
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            location: StoreLocation::DataDir,
        }
    }
}

/// A stored file's metadata, opened. Its `Debug` prints only the id: the name is
/// personal data.
#[derive(Clone, Serialize)]
pub struct FileInfo {
    pub id: Uuid,
    pub name: String,
    pub content_type: String,
    pub size: u64,
    #[serde(serialize_with = "serialize_time")]
    pub created_at: NaiveDateTime,
}

impl std::fmt::Debug for FileInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileInfo")
            .field("id", &self.id)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

fn serialize_time<S: serde::Serializer>(at: &NaiveDateTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::time::rfc3339(*at))
}

/// What can go wrong storing or serving a file. Display texts carry ids and kinds of
/// failure only, never a name or content.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("no such user or file")]
    NotFound,
    #[error("file larger than the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("the request body ended early or failed")]
    BodyAborted,
    #[error("requested range not satisfiable for a file of {size} bytes")]
    RangeNotSatisfiable { size: u64 },
    #[error("file {file_id} failed its integrity check: {error}")]
    Integrity {
        file_id: Uuid,
        error: IntegrityError,
    },
    #[error("object store: {0}")]
    Store(#[from] object_store::Error),
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error("blocking worker pool is gone")]
    Blocking,
}

impl From<actix_web::error::BlockingError> for FileError {
    fn from(_: actix_web::error::BlockingError) -> Self {
        Self::Blocking
    }
}

impl crate::db::WorkError for FileError {
    fn may_be_connection_failure(&self) -> bool {
        // Only a vault error comes from the database; the rest are the request's, the
        // object store's or the thread pool's.
        match self {
            Self::Vault(error) => error.may_be_connection_failure(),
            Self::NotFound
            | Self::TooLarge { .. }
            | Self::BodyAborted
            | Self::RangeNotSatisfiable { .. }
            | Self::Integrity { .. }
            | Self::Store(_)
            | Self::Blocking => false,
        }
    }
}

impl From<crate::db::DbError> for FileError {
    fn from(error: crate::db::DbError) -> Self {
        Self::Vault(error.into())
    }
}

impl From<crate::crypto::CryptoError> for FileError {
    fn from(error: crate::crypto::CryptoError) -> Self {
        Self::Vault(error.into())
    }
}
