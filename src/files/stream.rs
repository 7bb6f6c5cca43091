//! The sealed-file format and the streaming seal/open of it, in memory only.
//!
//! ```text
//! SealedFile = header ‖ segment_0 ‖ … ‖ segment_{n-1}
//! header     = 0x01 ‖ salt(32) ‖ nonce_prefix(7)                                  (40 bytes)
//! segment_i  = AES-256-GCM(FileKey, nonce_prefix ‖ BE32(i) ‖ last(1), plaintext_i, aad = header) ‖ tag(16)
//! plaintext_i: 64 KiB each, the last one 0..=64 KiB;  n = max(1, ceil(size / 64 KiB))
//! FileKey    = HKDF-SHA256(DEK, salt, "piivault/v1/file/" ‖ file uuid)              (crypto::FileKey)
//! ```
//! STREAM's counter makes reordering fail, its last-segment flag makes truncation at a
//! segment border fail, the header as associated data makes a swapped header fail, and
//! the file id in the key derivation makes an object moved under another row fail. The
//! expected object length follows from the size in the row, so an extended or truncated
//! object is refused before a single segment is read.
//!
//! Segments are sealed and opened in batches of [`BATCH_SEGMENTS`] (1 MiB) in buffers
//! reused for the whole transfer, so memory per transfer is a few MiB whatever the
//! file size.

use std::ops::Range;
use std::sync::Arc;

use aead_stream::StreamPrimitive as _;
use aes_gcm::aead::Buffer;
use uuid::Uuid;

use crate::crypto::{
    new_file_randomness, CryptoError, DataKey, FileKey, FileStream, FILE_SALT_LEN, NONCE_PREFIX_LEN,
};

const FORMAT_V1: u8 = 0x01;
pub const SEGMENT_LEN: usize = 64 * 1024;
pub const TAG_LEN: usize = 16;
pub const SEALED_SEGMENT_LEN: usize = SEGMENT_LEN + TAG_LEN;
pub const HEADER_LEN: usize = 1 + FILE_SALT_LEN + NONCE_PREFIX_LEN;
/// Segments sealed or opened per step (1 MiB of plaintext): large enough that handing
/// a step to the blocking pool costs nothing measurable, small enough to keep memory low.
pub const BATCH_SEGMENTS: u64 = 16;
const SEGMENT_LEN_U64: u64 = SEGMENT_LEN as u64;

/// Why a stored file could not be opened. Coarse on purpose: it names the kind of
/// failure and where, never any content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntegrityError {
    #[error("the sealed file header is malformed or of an unknown version")]
    Header,
    #[error("the sealed object has {actual} bytes where {expected} were expected")]
    Length { expected: u64, actual: u64 },
    #[error("segment {0} does not authenticate")]
    Segment(u64),
}

/// The random per-file values stored in the clear at the start of the object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    salt: [u8; FILE_SALT_LEN],
    nonce_prefix: [u8; NONCE_PREFIX_LEN],
}

impl Header {
    pub fn generate() -> Result<Self, CryptoError> {
        let (salt, nonce_prefix) = new_file_randomness()?;
        Ok(Self { salt, nonce_prefix })
    }

    #[cfg(test)]
    pub(crate) fn from_parts(
        salt: [u8; FILE_SALT_LEN],
        nonce_prefix: [u8; NONCE_PREFIX_LEN],
    ) -> Self {
        Self { salt, nonce_prefix }
    }

    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut bytes = [0u8; HEADER_LEN];
        bytes[0] = FORMAT_V1;
        bytes[1..=FILE_SALT_LEN].copy_from_slice(&self.salt);
        bytes[1 + FILE_SALT_LEN..].copy_from_slice(&self.nonce_prefix);
        bytes
    }

    pub fn parse(bytes: &[u8]) -> Result<Self, IntegrityError> {
        if bytes.len() != HEADER_LEN || bytes[0] != FORMAT_V1 {
            return Err(IntegrityError::Header);
        }
        let salt = bytes[1..=FILE_SALT_LEN]
            .try_into()
            .map_err(|_| IntegrityError::Header)?;
        let nonce_prefix = bytes[1 + FILE_SALT_LEN..]
            .try_into()
            .map_err(|_| IntegrityError::Header)?;
        Ok(Self { salt, nonce_prefix })
    }

    fn stream(&self, data_key: &DataKey, file_id: Uuid) -> FileStream {
        FileKey::derive(data_key, &self.salt, file_id).stream(&self.nonce_prefix)
    }
}

/// How many segments a file of `size` plaintext bytes has.
pub fn segment_count(size: u64) -> u64 {
    size.div_ceil(SEGMENT_LEN_U64).max(1)
}

/// The object's length for a file of `size` plaintext bytes.
pub fn sealed_len(size: u64) -> u64 {
    HEADER_LEN as u64 + size + segment_count(size) * TAG_LEN as u64
}

/// The object bytes holding segments `segments` of a file of `size` plaintext bytes.
pub fn sealed_range(size: u64, segments: Range<u64>) -> Range<u64> {
    let start = HEADER_LEN as u64 + segments.start * SEALED_SEGMENT_LEN as u64;
    let end = (HEADER_LEN as u64 + segments.end * SEALED_SEGMENT_LEN as u64).min(sealed_len(size));
    start..end
}

/// A view of the tail of a vector as an AEAD buffer, so each segment is sealed or
/// opened in place right where it sits in the batch (no copy, no allocation).
struct Tail<'a> {
    vec: &'a mut Vec<u8>,
    start: usize,
}

impl AsRef<[u8]> for Tail<'_> {
    fn as_ref(&self) -> &[u8] {
        &self.vec[self.start..]
    }
}

impl AsMut<[u8]> for Tail<'_> {
    fn as_mut(&mut self) -> &mut [u8] {
        &mut self.vec[self.start..]
    }
}

impl Buffer for Tail<'_> {
    fn extend_from_slice(&mut self, other: &[u8]) -> aes_gcm::aead::Result<()> {
        self.vec.extend_from_slice(other);
        Ok(())
    }

    fn truncate(&mut self, len: usize) {
        self.vec.truncate(self.start + len);
    }
}

fn position(segment: u64) -> Result<u32, CryptoError> {
    u32::try_from(segment).map_err(|_| CryptoError::Malformed)
}

/// Seals a file as its plaintext arrives. Plaintext is held back until more follows
/// (or the end is known), because only the last segment carries the last flag.
/// Complete batches leave as [`SealJob`]s that own their buffers, so one can be sealed
/// on the blocking pool while the next one arrives; a finished job's buffers come back
/// through [`recycle`](Self::recycle), so an upload cycles two sets of buffers.
pub struct Sealer {
    stream: Arc<FileStream>,
    header: [u8; HEADER_LEN],
    next_segment: u64,
    plaintext_len: u64,
    pending: Vec<u8>,
    spare: Option<(Vec<u8>, Vec<u8>)>,
}

/// Consecutive segments to seal, with the buffers to do it in.
pub struct SealJob {
    stream: Arc<FileStream>,
    header: [u8; HEADER_LEN],
    first_segment: u64,
    ends: bool,
    plaintext: Vec<u8>,
    sealed: Vec<u8>,
}

const BATCH_LEN: usize = 16 * SEGMENT_LEN;
const _: () = assert!(BATCH_LEN as u64 == BATCH_SEGMENTS * SEGMENT_LEN_U64);

impl Sealer {
    pub fn new(data_key: &DataKey, file_id: Uuid, header: &Header) -> Self {
        Self {
            stream: Arc::new(header.stream(data_key, file_id)),
            header: header.to_bytes(),
            next_segment: 0,
            plaintext_len: 0,
            pending: Vec::with_capacity(BATCH_LEN + 2 * SEGMENT_LEN),
            spare: None,
        }
    }

    /// The bytes the object starts with.
    pub fn header(&self) -> &[u8; HEADER_LEN] {
        &self.header
    }

    /// Plaintext bytes received so far.
    pub fn plaintext_len(&self) -> u64 {
        self.plaintext_len
    }

    pub fn push(&mut self, plaintext: &[u8]) {
        self.plaintext_len += plaintext.len() as u64;
        // Grow only by what is needed: doubling would keep twice a batch for the
        // rest of the upload.
        self.pending.reserve_exact(plaintext.len());
        self.pending.extend_from_slice(plaintext);
    }

    /// Whether a full batch is waiting (and at least one byte after it, so none of it
    /// can be the last segment).
    pub fn batch_ready(&self) -> bool {
        self.pending.len() > BATCH_LEN
    }

    /// Every complete segment that is known not to be the last.
    pub fn take_ready(&mut self) -> SealJob {
        let complete = self.pending.len().saturating_sub(1) / SEGMENT_LEN;
        self.take(complete, false)
    }

    /// Everything left, the final segment with the last flag (an empty file is one
    /// empty last segment).
    pub fn take_last(&mut self) -> SealJob {
        let segments = self.pending.len().div_ceil(SEGMENT_LEN).max(1);
        self.take(segments, true)
    }

    /// Gives a finished job's buffers back for the next batch.
    pub fn recycle(&mut self, job: SealJob) {
        self.spare = Some((job.plaintext, job.sealed));
    }

    fn take(&mut self, segments: usize, ends: bool) -> SealJob {
        let cut = (segments * SEGMENT_LEN).min(self.pending.len());
        let (mut next, sealed) = self.spare.take().unwrap_or_else(|| {
            (
                Vec::with_capacity(BATCH_LEN + 2 * SEGMENT_LEN),
                Vec::with_capacity(BATCH_LEN + 16 * TAG_LEN),
            )
        });
        // The job takes the pending buffer; the few bytes after the cut move over.
        next.clear();
        next.extend_from_slice(&self.pending[cut..]);
        let mut plaintext = std::mem::replace(&mut self.pending, next);
        plaintext.truncate(cut);
        let job = SealJob {
            stream: Arc::clone(&self.stream),
            header: self.header,
            first_segment: self.next_segment,
            ends,
            plaintext,
            sealed,
        };
        self.next_segment += segments as u64;
        job
    }
}

impl SealJob {
    /// Seals the job's segments (CPU work: run it off the async workers).
    pub fn run(&mut self) -> Result<(), CryptoError> {
        self.sealed.clear();
        let segments = self.plaintext.len().div_ceil(SEGMENT_LEN).max(1);
        self.sealed
            .reserve_exact(self.plaintext.len() + segments * TAG_LEN);
        for index in 0..segments {
            let from = index * SEGMENT_LEN;
            let to = (from + SEGMENT_LEN).min(self.plaintext.len());
            let last = self.ends && index + 1 == segments;
            let start = self.sealed.len();
            self.sealed.extend_from_slice(&self.plaintext[from..to]);
            let mut tail = Tail {
                vec: &mut self.sealed,
                start,
            };
            self.stream
                .encrypt_in_place(
                    position(self.first_segment + index as u64)?,
                    last,
                    &self.header,
                    &mut tail,
                )
                .map_err(|_| CryptoError::Malformed)?;
        }
        Ok(())
    }

    /// The sealed segments, once [`run`](Self::run) succeeded.
    pub fn sealed(&self) -> &[u8] {
        &self.sealed
    }
}

/// Opens segments of one stored file, in any order or range (each segment's position
/// is part of its nonce, so a seek is just a different starting index).
pub struct Opener {
    stream: FileStream,
    header: [u8; HEADER_LEN],
    size: u64,
}

impl Opener {
    /// `header` is the object's first [`HEADER_LEN`] bytes, `size` the plaintext size
    /// recorded when the file was stored.
    pub fn new(
        data_key: &DataKey,
        file_id: Uuid,
        header: &[u8],
        size: u64,
    ) -> Result<Self, IntegrityError> {
        let parsed = Header::parse(header)?;
        Ok(Self {
            stream: parsed.stream(data_key, file_id),
            header: parsed.to_bytes(),
            size,
        })
    }

    /// Opens `sealed`, the object bytes of segments `first..`, in place: on success
    /// their plaintext is the first `n` bytes of the buffer and `n` is returned (no
    /// allocation, one move per segment to close the gaps the tags leave). On failure
    /// the buffer holds nothing usable.
    pub fn open_in_place(&self, first: u64, sealed: &mut [u8]) -> Result<usize, IntegrityError> {
        let count = segment_count(self.size);
        if sealed.is_empty() {
            return Err(IntegrityError::Segment(first));
        }
        let mut written = 0;
        let mut offset = 0;
        let mut segment = first;
        while offset < sealed.len() {
            let chunk = (sealed.len() - offset).min(SEALED_SEGMENT_LEN);
            let last = segment + 1 == count;
            let expected = if last {
                usize::try_from(self.size - (count - 1) * SEGMENT_LEN_U64).unwrap_or(0) + TAG_LEN
            } else {
                SEALED_SEGMENT_LEN
            };
            if segment >= count || chunk != expected {
                return Err(IntegrityError::Segment(segment));
            }
            let mut view = SliceBuffer {
                bytes: &mut sealed[offset..offset + expected],
                len: expected,
            };
            position(segment)
                .ok()
                .and_then(|at| {
                    self.stream
                        .decrypt_in_place(at, last, &self.header, &mut view)
                        .ok()
                })
                .ok_or(IntegrityError::Segment(segment))?;
            let plaintext = view.len;
            sealed.copy_within(offset..offset + plaintext, written);
            written += plaintext;
            offset += expected;
            segment += 1;
        }
        Ok(written)
    }
}

/// A fixed slice as an AEAD buffer: decryption only shortens it (drops the tag).
struct SliceBuffer<'a> {
    bytes: &'a mut [u8],
    len: usize,
}

impl AsRef<[u8]> for SliceBuffer<'_> {
    fn as_ref(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl AsMut<[u8]> for SliceBuffer<'_> {
    fn as_mut(&mut self) -> &mut [u8] {
        &mut self.bytes[..self.len]
    }
}

impl Buffer for SliceBuffer<'_> {
    fn extend_from_slice(&mut self, _: &[u8]) -> aes_gcm::aead::Result<()> {
        Err(aes_gcm::aead::Error)
    }

    fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }
}

#[cfg(test)]
mod tests;
