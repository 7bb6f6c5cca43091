//! The file vault: each user's files, sealed under a key derived from that user's data
//! key and streamed in 64 KiB segments between the caller and the object store, so a
//! 2 GB file needs no more memory than a 2 KB one and no plaintext byte touches a disk.
//!
//! `records` seals and opens the rows (name and content type are sealed fields),
//! `upload` streams a body into a new object, `download` opens an object for reading.
//! The byte format and the store are `crate::files`.

mod download;
pub(super) mod records;
mod upload;

use chrono::NaiveDateTime;
use serde::Serialize;

pub use download::Download;
pub use upload::Incoming;

pub use crate::files::RangeRequest;

use super::audit::{Action, RequestId, Subject};
use super::{Vault, VaultError};
use crate::access::{Caller, Claim};
use crate::id::{FileId, UserId};

/// A stored file's metadata, opened. Its `Debug` prints only the id: the name is
/// personal data.
#[derive(Clone, Serialize)]
pub struct FileInfo {
    pub id: FileId,
    pub name: String,
    pub content_type: String,
    pub size: u64,
    #[serde(serialize_with = "crate::time::serialize_rfc3339")]
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

impl Vault {
    /// The largest file an upload may carry, in plaintext bytes.
    pub fn max_file_bytes(&self) -> u64 {
        self.core.max_file_bytes
    }

    /// GET /users/{id}/files: the user's files, oldest first. File names are personal
    /// data: listing them is an audited read.
    pub async fn list_files(
        &self,
        claim: Claim,
        request: RequestId,
        user: UserId,
    ) -> Result<Vec<FileInfo>, VaultError> {
        self.audited(
            claim,
            request,
            Action::FileList,
            move |core, connection, _| {
                let files = records::list(core, connection, user)?.ok_or(VaultError::NotFound)?;
                Ok((files, Subject::User(user)))
            },
        )
        .await
    }

    /// GET /users/{id}/files/{file_id}: the file (or the part `range` names), verified
    /// as far as the first batch of segments before anything is returned, and the
    /// download audited before a byte of it is.
    pub async fn open_file(
        &self,
        caller: Caller,
        request: RequestId,
        user: UserId,
        file: FileId,
        range: Option<&str>,
    ) -> Result<Download, VaultError> {
        let download = download::open(self, user, file, range).await?;
        self.record(&caller, &request, Action::FileDownload, Subject::User(user))
            .await?;
        Ok(download)
    }

    /// DELETE /users/{id}/files/{file_id}: the row goes first, then the object (a
    /// failure to delete it is logged, not returned: without its row it is unreachable).
    pub async fn delete_file(
        &self,
        claim: Claim,
        user: UserId,
        file: FileId,
    ) -> Result<(), VaultError> {
        let object = self
            .as_client(claim, move |_, connection, _| {
                Ok(crate::db::files::delete(connection, user, file)?)
            })
            .await?
            .ok_or(VaultError::NotFound)?;
        self.core.files.delete_quietly(&[object]).await;
        Ok(())
    }
}
