//! Storing a file: the request body streams through the [`Sealer`] into an object
//! under a random name; the row is written only once the object is complete, so a
//! failed, aborted or oversized upload leaves neither object nor row behind.

use actix_web::web;
use bytes::Bytes;
use futures_util::{Stream, StreamExt as _};
use uuid::Uuid;

use super::records::{self, StoredFile};
use super::store::Upload;
use super::stream::{Header, SealJob, Sealer};
use super::{FileError, FileInfo, FileStore};
use crate::crypto::DataKey;
use crate::domain::{FileName, MediaType};
use crate::startup::AppState;

/// What the client said about the file it is sending.
pub struct Incoming {
    pub user_id: Uuid,
    pub name: FileName,
    pub content_type: MediaType,
}

/// The owner's data key, or `NotFound`: looked up before a byte of the body is read.
pub async fn owner_key(state: &web::Data<AppState>, user_id: Uuid) -> Result<DataKey, FileError> {
    let state = state.clone();
    web::block(move || {
        crate::db::run(&state.pool, |connection| {
            Ok::<_, FileError>(crate::users::data_key(
                connection,
                &state.data_keys,
                &state.keys,
                user_id,
            )?)
        })
    })
    .await??
    .ok_or(FileError::NotFound)
}

/// Seals `body` into the store and records it. At most `limit` plaintext bytes are
/// accepted; the sealing runs on the blocking pool one 1 MiB batch at a time.
pub async fn store<S, E>(
    state: &web::Data<AppState>,
    data_key: DataKey,
    incoming: Incoming,
    body: S,
) -> Result<FileInfo, FileError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
{
    let file_id = Uuid::now_v7();
    let object_name = FileStore::new_object_name();
    let sealer = Sealer::new(&data_key, file_id, &Header::generate()?);
    let mut upload = state.files.start_upload(&object_name).await?;
    let size = match stream_into(&mut upload, sealer, body, state.max_file_bytes).await {
        Ok(size) => size,
        Err(error) => {
            if let Err(abort) = upload.abort().await {
                tracing::warn!(object = %object_name, error = %abort, "could not abort a failed upload");
            }
            return Err(error);
        }
    };
    upload.finish().await?;

    let stored = StoredFile {
        user_id: incoming.user_id,
        file_id,
        object_name: object_name.clone(),
        size,
        name: incoming.name.into_string(),
        content_type: incoming.content_type.into_string(),
    };
    let recorded = {
        let state = state.clone();
        web::block(move || {
            crate::db::run(&state.pool, |connection| {
                Ok::<_, FileError>(records::insert(connection, &data_key, stored)?)
            })
        })
        .await
        .map_err(FileError::from)
        .and_then(|result| result)
    };
    match recorded {
        Ok(Some(info)) => Ok(info),
        // The owner was deleted while the body streamed in, or the row could not be
        // written: the object must not outlive the attempt.
        Ok(None) => {
            state.files.delete_quietly(&[object_name]).await;
            Err(FileError::NotFound)
        }
        Err(error) => {
            state.files.delete_quietly(&[object_name]).await;
            Err(error)
        }
    }
}

async fn stream_into<S, E>(
    upload: &mut Upload,
    mut sealer: Sealer,
    mut body: S,
    limit: u64,
) -> Result<u64, FileError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
{
    upload.write(sealer.header()).await?;
    // One batch is sealed on the blocking pool while the next one is read.
    let mut in_flight = None;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|_| FileError::BodyAborted)?;
        if sealer.plaintext_len() + chunk.len() as u64 > limit {
            return Err(FileError::TooLarge { limit });
        }
        sealer.push(&chunk);
        if sealer.batch_ready() {
            if let Some(sealing) = in_flight.take() {
                let job: SealJob = sealing.await??;
                upload.write(job.sealed()).await?;
                sealer.recycle(job);
            }
            let mut job = sealer.take_ready();
            in_flight = Some(web::block(move || job.run().map(|()| job)));
        }
    }
    if let Some(sealing) = in_flight.take() {
        let job = sealing.await??;
        upload.write(job.sealed()).await?;
        sealer.recycle(job);
    }
    let mut last = sealer.take_last();
    let last = web::block(move || last.run().map(|()| last)).await??;
    upload.write(last.sealed()).await?;
    Ok(sealer.plaintext_len())
}
