//! Storing a file: the body streams through the [`Sealer`] into an object under a random
//! name; the row is written only once the object is complete, so a failed, aborted,
//! oversized or shutdown-interrupted upload leaves neither object nor row behind.

use bytes::Bytes;
use futures_util::{Stream, StreamExt as _};

use super::records::{self, StoredFile};
use super::FileInfo;
use crate::domain::{FileName, MediaType};
use crate::files::stream::{Header, SealJob, Sealer};
use crate::files::{FileStore, Upload};
use crate::id::{FileId, UserId};
use crate::vault::{Vault, VaultError};

/// What the client said about the file it is sending.
pub struct Incoming {
    pub user: UserId,
    pub name: FileName,
    pub content_type: MediaType,
}

impl Vault {
    /// POST /users/{id}/files: seals `body` into the store and records it. The owner's
    /// key is looked up before a byte of the body is read (no such user: `NotFound`);
    /// at most `max_file_bytes` plaintext bytes are accepted; the sealing runs on the
    /// blocking threads one 1 MiB batch at a time while the next batch is read. An
    /// error in `body` (the caller's: an aborted body, a refused form) ends the upload
    /// with that error, and nothing is stored.
    pub async fn store_file<S>(&self, incoming: Incoming, body: S) -> Result<FileInfo, VaultError>
    where
        S: Stream<Item = Result<Bytes, VaultError>> + Unpin,
    {
        let user = incoming.user;
        let data_key = self
            .with_connection(move |core, connection| core.data_key(connection, user))
            .await?
            .ok_or(VaultError::NotFound)?;
        let file = FileId::generate();
        let object_name = FileStore::new_object_name();
        let sealer = Sealer::new(&data_key, file.uuid(), &Header::generate()?);
        let store = &self.core.files;
        let mut upload = store.start_upload(&object_name).await?;
        let size = match self
            .stream_into(&mut upload, sealer, body, self.core.max_file_bytes)
            .await
        {
            Ok(size) => size,
            Err(error) => {
                if let Err(abort) = upload.abort().await {
                    tracing::warn!(object = %object_name, error = %abort, "could not abort a failed upload");
                }
                return Err(error);
            }
        };
        upload.finish().await?;
        self.core.metrics.file_bytes_in(size);

        let stored = StoredFile {
            user,
            file,
            object_name: object_name.clone(),
            size,
            name: incoming.name.into_string(),
            content_type: incoming.content_type.into_string(),
        };
        let recorded = self
            .with_connection(move |_, connection| records::insert(connection, &data_key, stored))
            .await;
        match recorded {
            Ok(Some(info)) => Ok(info),
            // The owner was deleted while the body streamed in, or the row could not be
            // written: the object must not outlive the attempt.
            Ok(None) => {
                store.delete_quietly(&[object_name]).await;
                Err(VaultError::NotFound)
            }
            Err(error) => {
                store.delete_quietly(&[object_name]).await;
                Err(error)
            }
        }
    }

    async fn stream_into<S>(
        &self,
        upload: &mut Upload,
        mut sealer: Sealer,
        mut body: S,
        limit: u64,
    ) -> Result<u64, VaultError>
    where
        S: Stream<Item = Result<Bytes, VaultError>> + Unpin,
    {
        upload.write(sealer.header()).await?;
        let mut cut_off = self.core.cut_off.subscribe();
        // One batch is sealed on a blocking thread while the next one is read.
        let mut in_flight = None;
        while let Some(chunk) = next_or_cut_off(&mut body, &mut cut_off).await? {
            let chunk = chunk?;
            if sealer.plaintext_len() + chunk.len() as u64 > limit {
                return Err(VaultError::TooLarge { limit });
            }
            sealer.push(&chunk);
            if sealer.batch_ready() {
                if let Some(sealing) = in_flight.take() {
                    let job: SealJob = sealing.await?;
                    upload.write(job.sealed()).await?;
                    sealer.recycle(job);
                }
                in_flight = Some(self.seal(sealer.take_ready()));
            }
        }
        if let Some(sealing) = in_flight.take() {
            let job = sealing.await?;
            upload.write(job.sealed()).await?;
            sealer.recycle(job);
        }
        let last = self.seal(sealer.take_last()).await?;
        upload.write(last.sealed()).await?;
        Ok(sealer.plaintext_len())
    }

    /// Seals one batch on a blocking thread (started at once, awaited later).
    fn seal(
        &self,
        mut job: SealJob,
    ) -> impl std::future::Future<Output = Result<SealJob, VaultError>> {
        self.blocking(move |_| {
            job.run()?;
            Ok(job)
        })
    }
}

/// The body's next chunk, unless the instance's drain timeout runs out first.
async fn next_or_cut_off<S: Stream + Unpin>(
    body: &mut S,
    cut_off: &mut tokio::sync::watch::Receiver<bool>,
) -> Result<Option<S::Item>, VaultError> {
    let cut = async {
        // A closed channel (the vault is going away) cuts nothing off.
        if cut_off.wait_for(|cut| *cut).await.is_err() {
            futures_util::future::pending::<()>().await;
        }
    };
    match futures_util::future::select(body.next(), std::pin::pin!(cut)).await {
        futures_util::future::Either::Left((chunk, _)) => Ok(chunk),
        futures_util::future::Either::Right(_) => Err(VaultError::ShuttingDown),
    }
}
