//! Serving a file: the object's length and the first batch of segments are checked
//! before any response header exists, so a damaged file becomes an error response, not
//! wrong bytes. Later batches are opened as the client reads; one that fails to
//! authenticate ends the body early (the connection is closed short of its
//! `Content-Length`), and the failure is logged with the file id and segment only.
//!
//! A `Range` request reads only the segments it needs: a segment's position is part of
//! its nonce, so seeking is arithmetic, not decryption of what comes before.

use std::sync::Arc;

use actix_web::web;
use bytes::{Bytes, BytesMut};
use futures_util::stream::{self, LocalBoxStream};
use futures_util::{StreamExt as _, TryStreamExt as _};
use uuid::Uuid;

use super::stream::{sealed_len, sealed_range, Opener, BATCH_SEGMENTS, HEADER_LEN, SEGMENT_LEN};
use super::{records, FileError, FileInfo, FileStore, IntegrityError};
use crate::startup::AppState;

const SEGMENT_LEN_U64: u64 = SEGMENT_LEN as u64;

/// The part of a file a request asks for (RFC 9110 §14): one byte range, or all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeRequest {
    Full,
    /// Inclusive byte positions, already clamped to the file.
    Part {
        start: u64,
        end: u64,
    },
}

impl RangeRequest {
    /// Reads a `Range` header against a file of `size` bytes. Anything this server does
    /// not serve as a range (other units, several ranges, malformed syntax) is ignored,
    /// as RFC 9110 allows, and the whole file is sent; a well-formed range that starts
    /// past the end is `RangeNotSatisfiable` (416).
    pub fn parse(header: Option<&str>, size: u64) -> Result<Self, FileError> {
        let Some(spec) = header.and_then(|value| value.trim().strip_prefix("bytes=")) else {
            return Ok(Self::Full);
        };
        let Some((first, last)) = spec.trim().split_once('-') else {
            return Ok(Self::Full);
        };
        if spec.contains(',') {
            return Ok(Self::Full);
        }
        let number = |text: &str| -> Option<u64> {
            (!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
                .then(|| text.parse().ok())
                .flatten()
        };
        let unsatisfiable = Err(FileError::RangeNotSatisfiable { size });
        match (number(first.trim()), last.trim()) {
            // bytes=-N: the last N bytes.
            (None, suffix) if first.trim().is_empty() => match number(suffix) {
                Some(0) => unsatisfiable,
                Some(_) if size == 0 => unsatisfiable,
                Some(length) => Ok(Self::Part {
                    start: size.saturating_sub(length),
                    end: size - 1,
                }),
                None => Ok(Self::Full),
            },
            (Some(start), _) if start >= size => {
                // Malformed ends are ignored before judging satisfiability.
                if last.trim().is_empty() || number(last.trim()).is_some_and(|end| end >= start) {
                    unsatisfiable
                } else {
                    Ok(Self::Full)
                }
            }
            (Some(start), "") => Ok(Self::Part {
                start,
                end: size - 1,
            }),
            (Some(start), end) => match number(end) {
                Some(end) if end >= start => Ok(Self::Part {
                    start,
                    end: end.min(size - 1),
                }),
                _ => Ok(Self::Full),
            },
            (None, _) => Ok(Self::Full),
        }
    }
}

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
    state: &web::Data<AppState>,
    user_id: Uuid,
    file_id: Uuid,
    range_header: Option<&str>,
) -> Result<Download, FileError> {
    let found = {
        let state = state.clone();
        web::block(move || {
            crate::db::run(&state.pool, |connection| {
                Ok::<_, FileError>(records::find(
                    connection,
                    &state.data_keys,
                    &state.keys,
                    user_id,
                    file_id,
                )?)
            })
        })
        .await??
    };
    let (info, data_key, object) = found.ok_or(FileError::NotFound)?;
    let range = RangeRequest::parse(range_header, info.size)?;
    let integrity = |error| FileError::Integrity { file_id, error };

    let expected = sealed_len(info.size);
    let actual = state.files.len(&object).await?;
    if actual != expected {
        return Err(integrity(IntegrityError::Length { expected, actual }));
    }
    let header = state.files.read(&object, 0..HEADER_LEN as u64).await?;
    let opener = Opener::new(&data_key, file_id, &header, info.size).map_err(integrity)?;

    let (start, len) = match range {
        RangeRequest::Full => (0, info.size),
        RangeRequest::Part { start, end } => (start, end - start + 1),
    };
    let first_segment = start / SEGMENT_LEN_U64;
    let end_segment = (start + len).saturating_sub(1) / SEGMENT_LEN_U64 + 1;
    let reader = Arc::new(Reader {
        store: state.files.clone(),
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
    .map_err(move |error: FileError| {
        tracing::error!(%file_id, %error, "aborting a file download after its headers were sent");
        std::io::Error::other("the stored file could not be read")
    });
    Ok(Download {
        info,
        range,
        len,
        body: stream::once(async move { Ok(first) })
            .chain(rest)
            .boxed_local(),
    })
}

/// Batches opened ahead of the one being sent: overlaps storage reads and decryption
/// with the socket, at 1 MiB of memory each.
const READ_AHEAD: usize = 2;

/// Reads and opens a file's segments a batch at a time, trimmed to the range.
struct Reader {
    store: FileStore,
    object: String,
    opener: Arc<Opener>,
    file_id: Uuid,
    size: u64,
    /// The requested plaintext bytes, `start..end`.
    start: u64,
    end: u64,
    /// One past the last segment the range needs.
    end_segment: u64,
}

impl Reader {
    /// The requested bytes within the batch of segments starting at `first`.
    async fn read(&self, first: u64) -> Result<Bytes, FileError> {
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
        let (buffer, plaintext_len) = web::block(move || {
            opener
                .open_in_place(first, &mut buffer)
                .map(|len| (buffer, len))
                .map_err(|error| FileError::Integrity { file_id, error })
        })
        .await??;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(header: &str, size: u64) -> Result<RangeRequest, u64> {
        RangeRequest::parse(Some(header), size).map_err(|error| match error {
            FileError::RangeNotSatisfiable { size } => size,
            other => panic!("{other}"),
        })
    }

    #[test]
    fn ranges() {
        use RangeRequest::{Full, Part};
        let cases = [
            ("bytes=0-0", 10, Ok(Part { start: 0, end: 0 })),
            ("bytes=2-5", 10, Ok(Part { start: 2, end: 5 })),
            ("bytes=2-", 10, Ok(Part { start: 2, end: 9 })),
            ("bytes=5-100", 10, Ok(Part { start: 5, end: 9 })),
            ("bytes=-3", 10, Ok(Part { start: 7, end: 9 })),
            ("bytes=-30", 10, Ok(Part { start: 0, end: 9 })),
            ("bytes=10-", 10, Err(10)),
            ("bytes=10-12", 10, Err(10)),
            ("bytes=-0", 10, Err(10)),
            ("bytes=0-", 0, Err(0)),
            ("bytes=-1", 0, Err(0)),
            ("bytes=5-2", 10, Ok(Full)),
            ("bytes=0-1,4-5", 10, Ok(Full)),
            ("items=0-1", 10, Ok(Full)),
            ("bytes=a-b", 10, Ok(Full)),
            ("bytes=+1-2", 10, Ok(Full)),
            ("bytes=", 10, Ok(Full)),
        ];
        for (header, size, expected) in cases {
            assert_eq!(parse(header, size), expected, "{header} of {size}");
        }
        assert_eq!(RangeRequest::parse(None, 10).unwrap(), Full);
    }
}
