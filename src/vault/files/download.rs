//! Serving a file: the object's length and the first batch of segments are checked
//! before any response header exists, so a damaged file becomes an error response, not
//! wrong bytes. Later batches are opened as the client reads; one that fails to
//! authenticate ends the body early (the connection is closed short of its
//! `Content-Length`), and the failure is logged with the file id and segment only.
//!
//! A `Range` request reads only the segments it needs: a segment's position is part of
//! its nonce, so seeking is arithmetic, not decryption of what comes before.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures_util::stream::{self, LocalBoxStream};
use futures_util::{StreamExt as _, TryStreamExt as _};

use super::{records, FileInfo, RangeRequest};
use crate::files::stream::{
    sealed_len, sealed_range, Opener, BATCH_SEGMENTS, HEADER_LEN, SEGMENT_LEN,
};
use crate::files::{FileStore, IntegrityError, Unsatisfiable};
use crate::id::{FileId, UserId};
use crate::vault::{Vault, VaultError};

const SEGMENT_LEN_U64: u64 = SEGMENT_LEN as u64;

/// A verified start of a file's plaintext and the rest of it as a stream.
pub struct Download {
    pub info: FileInfo,
    pub range: RangeRequest,
    /// Bytes the body will carry.
    pub len: u64,
    pub body: LocalBoxStream<'static, Result<Bytes, std::io::Error>>,
}

/// Opens one of a user's files for reading, honouring a `Range` header.
pub async fn open(
    vault: &Vault,
    user: UserId,
    file_id: FileId,
    range_header: Option<&str>,
) -> Result<Download, VaultError> {
    let (info, data_key, object) = vault
        .with_connection(move |core, connection| records::find(core, connection, user, file_id))
        .await?
        .ok_or(VaultError::NotFound)?;
    let size = info.size;
    let range = RangeRequest::parse(range_header, size)
        .map_err(|Unsatisfiable| VaultError::RangeNotSatisfiable { size })?;
    let integrity = |error| VaultError::Integrity { file_id, error };

    let store = &vault.core.files;
    let expected = sealed_len(info.size);
    let actual = store.len(&object).await?;
    if actual != expected {
        return Err(integrity(IntegrityError::Length { expected, actual }));
    }
    let header = store.read(&object, 0..HEADER_LEN as u64).await?;
    let opener = Opener::new(&data_key, file_id.uuid(), &header, info.size).map_err(integrity)?;

    let (start, len) = match range {
        RangeRequest::Full => (0, info.size),
        RangeRequest::Part { start, end } => (start, end - start + 1),
    };
    let first_segment = start / SEGMENT_LEN_U64;
    let end_segment = (start + len).saturating_sub(1) / SEGMENT_LEN_U64 + 1;
    let reader = Arc::new(Reader {
        vault: vault.clone(),
        store: store.clone(),
        object,
        opener: Arc::new(opener),
        file_id,
        size: info.size,
        start,
        end: start + len,
        end_segment,
    });
    // The first batch is opened now: a file that fails here is refused before any
    // status line or header goes out.
    let first = reader.read(first_segment).await?;
    let rest = stream::iter(
        (first_segment + BATCH_SEGMENTS..end_segment)
            .step_by(usize::try_from(BATCH_SEGMENTS).unwrap_or(16)),
    )
    .map(move |batch| {
        let reader = Arc::clone(&reader);
        async move { reader.read(batch).await }
    })
    // Read and open the next batches while the current one is on the wire.
    .buffered(READ_AHEAD)
    .map_err(move |error: VaultError| {
        tracing::error!(%file_id, %error, "aborting a file download after its headers were sent");
        std::io::Error::other("the stored file could not be read")
    });
    let metrics = Arc::clone(&vault.core.metrics);
    Ok(Download {
        info,
        range,
        len,
        body: stream::once(async move { Ok(first) })
            .chain(rest)
            .inspect_ok(move |sent| metrics.file_bytes_out(sent.len() as u64))
            .boxed_local(),
    })
}

/// Batches opened ahead of the one being sent: overlaps storage reads and decryption
/// with the socket, at 1 MiB of memory each.
const READ_AHEAD: usize = 2;

/// Reads and opens a file's segments a batch at a time, trimmed to the range.
struct Reader {
    vault: Vault,
    store: FileStore,
    object: String,
    opener: Arc<Opener>,
    file_id: FileId,
    size: u64,
    /// The requested plaintext bytes, `start..end`.
    start: u64,
    end: u64,
    /// One past the last segment the range needs.
    end_segment: u64,
}

impl Reader {
    /// The requested bytes within the batch of segments starting at `first`.
    async fn read(&self, first: u64) -> Result<Bytes, VaultError> {
        let end = (first + BATCH_SEGMENTS).min(self.end_segment);
        let sealed = self
            .store
            .read(&self.object, sealed_range(self.size, first..end))
            .await?;
        // Opened in the buffer it was read into (a copy only if the store shares it).
        let mut buffer = sealed
            .try_into_mut()
            .unwrap_or_else(|shared| BytesMut::from(&shared[..]));
        let opener = Arc::clone(&self.opener);
        let file_id = self.file_id;
        let (buffer, plaintext_len) = self
            .vault
            .blocking(move |_| {
                opener
                    .open_in_place(first, &mut buffer)
                    .map(|len| (buffer, len))
                    .map_err(|error| VaultError::Integrity { file_id, error })
            })
            .await?;
        let plaintext = buffer.freeze();
        let batch_start = first * SEGMENT_LEN_U64;
        let batch_end = batch_start + plaintext_len as u64;
        let from = self.start.max(batch_start) - batch_start;
        let to = self.end.min(batch_end).max(batch_start) - batch_start;
        let (from, to) = (
            usize::try_from(from).unwrap_or(0),
            usize::try_from(to).unwrap_or(0),
        );
        Ok(plaintext.slice(from..to.max(from)))
    }
}
