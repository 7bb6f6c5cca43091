//! The sealed-file format: known answers from an independent implementation
//! (`tests/vectors/crypto/generate.py`), round trips at the segment borders, and every
//! tamper case the format promises to catch.

use serde_json::Value;
use sha2::{Digest as _, Sha256};

use super::*;
use crate::crypto::SecretKey;

const VECTORS: &str = include_str!("../../../tests/vectors/crypto/vectors.json");

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

fn pattern(size: usize) -> Vec<u8> {
    (0..size).map(|i| u8::try_from(i % 251).unwrap()).collect()
}

fn random(size: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; size];
    getrandom::fill(&mut bytes).unwrap();
    bytes
}

/// Seals `plaintext` fed in `chunk`-sized pieces, the way an upload arrives.
fn seal(
    data_key: &DataKey,
    file_id: Uuid,
    header: &Header,
    plaintext: &[u8],
    chunk: usize,
) -> Vec<u8> {
    let mut sealer = Sealer::new(data_key, file_id, header);
    let mut object = sealer.header().to_vec();
    for piece in plaintext.chunks(chunk.max(1)) {
        sealer.push(piece);
        if sealer.batch_ready() {
            let mut job = sealer.take_ready();
            job.run().unwrap();
            object.extend_from_slice(job.sealed());
            sealer.recycle(job);
        }
    }
    assert_eq!(sealer.plaintext_len(), plaintext.len() as u64);
    let mut last = sealer.take_last();
    last.run().unwrap();
    object.extend_from_slice(last.sealed());
    object
}

/// Opens a whole object the way a download does: length check, header, batches.
fn open(
    data_key: &DataKey,
    file_id: Uuid,
    object: &[u8],
    size: u64,
) -> Result<Vec<u8>, IntegrityError> {
    if object.len() as u64 != sealed_len(size) {
        return Err(IntegrityError::Length {
            expected: sealed_len(size),
            actual: object.len() as u64,
        });
    }
    let opener = Opener::new(data_key, file_id, &object[..HEADER_LEN], size)?;
    let mut out = Vec::new();
    let count = segment_count(size);
    let mut first = 0;
    while first < count {
        let end = (first + BATCH_SEGMENTS).min(count);
        let range = sealed_range(size, first..end);
        let range = usize::try_from(range.start).unwrap()..usize::try_from(range.end).unwrap();
        let mut batch = object[range].to_vec();
        let n = opener.open_in_place(first, &mut batch)?;
        out.extend_from_slice(&batch[..n]);
        first = end;
    }
    Ok(out)
}

fn fixture() -> (DataKey, Uuid, Header) {
    (
        DataKey::generate().unwrap(),
        Uuid::new_v4(),
        Header::generate().unwrap(),
    )
}

#[test]
fn sealed_files_match_the_vectors() {
    let v: Value = serde_json::from_str(VECTORS).unwrap();
    let data_key =
        DataKey::from_secret(SecretKey::from_slice(&hex(v["data_key"].as_str().unwrap())).unwrap());
    let files = &v["sealed_files"];
    let header = Header::from_parts(
        hex(files["salt"].as_str().unwrap()).try_into().unwrap(),
        hex(files["nonce_prefix"].as_str().unwrap())
            .try_into()
            .unwrap(),
    );
    let file_id = Uuid::parse_str(files["file_id"].as_str().unwrap()).unwrap();
    for case in files["cases"].as_array().unwrap() {
        let size = usize::try_from(case["size"].as_u64().unwrap()).unwrap();
        let plaintext = pattern(size);
        let object = seal(&data_key, file_id, &header, &plaintext, 4096);
        assert_eq!(
            object.len() as u64,
            case["sealed_len"].as_u64().unwrap(),
            "length {size}"
        );
        assert_eq!(
            object.len() as u64,
            sealed_len(size as u64),
            "sealed_len {size}"
        );
        let digest: String = Sha256::digest(&object)
            .iter()
            .fold(String::new(), |mut text, b| {
                use std::fmt::Write as _;
                let _ = write!(text, "{b:02x}");
                text
            });
        assert_eq!(
            digest,
            case["sealed_sha256"].as_str().unwrap(),
            "seal {size}"
        );
        if let Some(sealed) = case["sealed"].as_str() {
            assert_eq!(object, hex(sealed), "bytes {size}");
        }
        assert_eq!(
            open(&data_key, file_id, &object, size as u64).unwrap(),
            plaintext,
            "open {size}"
        );
    }
}

#[test]
fn round_trips_at_every_segment_border_and_chunking() {
    let (data_key, file_id, header) = fixture();
    let s = SEGMENT_LEN;
    let batch = usize::try_from(BATCH_SEGMENTS).unwrap() * s;
    for size in [
        0,
        1,
        s - 1,
        s,
        s + 1,
        2 * s,
        batch - 1,
        batch,
        batch + 1,
        batch + s,
        2 * batch + 7,
    ] {
        let plaintext = random(size);
        for chunk in [1000, s, 3 * s + 5, size.max(1)] {
            let object = seal(&data_key, file_id, &header, &plaintext, chunk);
            assert_eq!(
                object.len() as u64,
                sealed_len(size as u64),
                "size {size} chunk {chunk}"
            );
            assert_eq!(
                open(&data_key, file_id, &object, size as u64).unwrap(),
                plaintext,
                "size {size} chunk {chunk}"
            );
        }
    }
}

#[test]
fn a_range_opens_from_any_segment() {
    let (data_key, file_id, header) = fixture();
    let size = 5 * SEGMENT_LEN + 123;
    let plaintext = random(size);
    let object = seal(&data_key, file_id, &header, &plaintext, 10_000);
    let opener = Opener::new(&data_key, file_id, &object[..HEADER_LEN], size as u64).unwrap();
    for (first, end) in [(0, 1), (2, 3), (3, 6), (5, 6)] {
        let range = sealed_range(size as u64, first..end);
        let mut out = object
            [usize::try_from(range.start).unwrap()..usize::try_from(range.end).unwrap()]
            .to_vec();
        let n = opener.open_in_place(first, &mut out).unwrap();
        out.truncate(n);
        let start = usize::try_from(first).unwrap() * SEGMENT_LEN;
        let stop = (usize::try_from(end).unwrap() * SEGMENT_LEN).min(size);
        assert_eq!(out, plaintext[start..stop], "segments {first}..{end}");
    }
}

#[test]
fn every_tamper_case_fails_and_never_returns_wrong_bytes() {
    let (data_key, file_id, header) = fixture();
    let size = 3 * SEGMENT_LEN + 100;
    let plaintext = random(size);
    let object = seal(&data_key, file_id, &header, &plaintext, 7_000);
    let n = size as u64;
    assert_eq!(open(&data_key, file_id, &object, n).unwrap(), plaintext);

    // A flipped bit anywhere: header, first segment, tag, last segment.
    for index in [
        0,
        1,
        HEADER_LEN - 1,
        HEADER_LEN,
        HEADER_LEN + 100,
        HEADER_LEN + SEALED_SEGMENT_LEN - 1,
        HEADER_LEN + 2 * SEALED_SEGMENT_LEN + 5,
        object.len() - 1,
    ] {
        let mut flipped = object.clone();
        flipped[index] ^= 0x04;
        assert!(
            open(&data_key, file_id, &flipped, n).is_err(),
            "flip at {index}"
        );
    }
    // Truncated at a segment border, and with the size in the row lowered to match:
    // the segment that is now last was not sealed as last.
    let border = HEADER_LEN + 2 * SEALED_SEGMENT_LEN;
    assert!(matches!(
        open(&data_key, file_id, &object[..border], n),
        Err(IntegrityError::Length { .. })
    ));
    assert_eq!(
        open(
            &data_key,
            file_id,
            &object[..border],
            2 * SEGMENT_LEN as u64
        ),
        Err(IntegrityError::Segment(1)),
        "truncated at a border"
    );
    assert!(
        open(&data_key, file_id, &object[..object.len() - 1], n).is_err(),
        "one byte short"
    );
    // Extended: a byte, or a whole extra segment.
    let mut extended = object.clone();
    extended.push(0);
    assert!(
        open(&data_key, file_id, &extended, n).is_err(),
        "one byte more"
    );
    let mut extra = object.clone();
    extra.extend_from_slice(&object[HEADER_LEN..HEADER_LEN + SEALED_SEGMENT_LEN]);
    assert!(
        open(&data_key, file_id, &extra, n + SEGMENT_LEN as u64).is_err(),
        "extra segment"
    );
    // Two segments swapped.
    let mut reordered = object.clone();
    let (a, b) = (HEADER_LEN, HEADER_LEN + SEALED_SEGMENT_LEN);
    let first: Vec<u8> = object[a..b].to_vec();
    reordered[a..b].copy_from_slice(&object[b..b + SEALED_SEGMENT_LEN]);
    reordered[b..b + SEALED_SEGMENT_LEN].copy_from_slice(&first);
    assert_eq!(
        open(&data_key, file_id, &reordered, n),
        Err(IntegrityError::Segment(0)),
        "reordered"
    );
    // The header of another file (same user, same size).
    let other = seal(
        &data_key,
        Uuid::new_v4(),
        &Header::generate().unwrap(),
        &plaintext,
        9_000,
    );
    let mut swapped = object.clone();
    swapped[..HEADER_LEN].copy_from_slice(&other[..HEADER_LEN]);
    assert_eq!(
        open(&data_key, file_id, &swapped, n),
        Err(IntegrityError::Segment(0)),
        "foreign header"
    );
    // The whole object under another file id, or another user's key.
    assert!(
        open(&data_key, Uuid::new_v4(), &object, n).is_err(),
        "other file id"
    );
    assert!(
        open(&DataKey::generate().unwrap(), file_id, &object, n).is_err(),
        "other data key"
    );
    // An unknown format version.
    let mut version = object.clone();
    version[0] = 0x02;
    assert_eq!(
        open(&data_key, file_id, &version, n),
        Err(IntegrityError::Header),
        "version"
    );
}

#[test]
fn buffers_stay_at_two_batches_whatever_the_size() {
    let (data_key, file_id, header) = fixture();
    let mut sealer = Sealer::new(&data_key, file_id, &header);
    let chunk = vec![7u8; 100_000];
    let mut stored = 0usize;
    let limit = BATCH_LEN + 2 * SEGMENT_LEN + chunk.len();
    for _ in 0..200 {
        sealer.push(&chunk);
        if sealer.batch_ready() {
            let mut job = sealer.take_ready();
            job.run().unwrap();
            stored += job.sealed().len();
            assert!(job.plaintext.capacity() <= limit);
            assert!(job.sealed.capacity() <= limit);
            sealer.recycle(job);
        }
        assert!(sealer.pending.capacity() <= limit);
    }
    let mut last = sealer.take_last();
    last.run().unwrap();
    stored += last.sealed().len();
    assert_eq!(stored as u64 + HEADER_LEN as u64, sealed_len(20_000_000));
}
