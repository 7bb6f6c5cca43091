//! The fuzzers' entry points: each feeds bytes from outside to one decoder and checks
//! what must hold for any input — no panic, and where a format has an encoder, that
//! what decodes encodes back to the same bytes. `fuzz/` drives them coverage-guided
//! with libFuzzer (`fuzz/README.md`); the unit tests below replay the corpus kept
//! there, so every input a fuzzer ever kept (and every finding) runs in `cargo test`.
//!
//! Compiled for tests and with the `fuzzing` feature only.

// A target reports a finding by panicking: that is what a fuzzer watches for.
#![allow(clippy::missing_panics_doc)]

use std::sync::{Arc, OnceLock};

use chrono::{Datelike as _, NaiveDate};
use uuid::Uuid;

use crate::crypto::{
    DataKey, FieldContext, KeyEncryptionKey, MasterKeyRing, SealedField, SecretKey, WrappedDataKey,
};
use crate::domain::{
    ascii_fallback, parse_iso_date, Currency, DateOfBirth, FileName, MediaType, NewTransaction,
    NewUser, Period,
};
use crate::files::stream::{sealed_len, Header, Opener, Sealer, HEADER_LEN, SEGMENT_LEN};
use crate::files::RangeRequest;
use crate::id::{AuditId, Id as _, UserId};
use crate::jose::{JweKeyRing, JweSerialization};
use crate::vault::{LinkToken, TransactionCursor};

/// A fuzz target: takes any bytes, panics on a finding.
pub type Target = fn(&[u8]);

/// Every target, by the name of its corpus directory (`fuzz/corpus/<name>`).
pub const TARGETS: [(&str, Target); 11] = [
    ("jwe_compact", jwe_compact),
    ("jwe_json", jwe_json),
    ("json_payload", json_payload),
    ("sealed_field", sealed_field),
    ("wrapped_key", wrapped_key),
    ("stream_segments", stream_segments),
    ("range", range),
    ("file_name", file_name),
    ("money", money),
    ("dates", dates),
    ("cursors", cursors),
];

/// The target named `name`.
pub fn target(name: &str) -> Option<Target> {
    TARGETS
        .iter()
        .find(|(target, _)| *target == name)
        .map(|(_, run)| *run)
}

/// The fuzzers' JWE keys, so that inputs kept in the corpus decrypt in every run and
/// the payload parsers behind them are reached. Made here, never stored: a P-256 key
/// whose private scalar is SHA-256 of [`FUZZ_P256_LABEL`] (`fuzz/make_seeds.py`
/// derives the same key to encrypt its seeds to), and a fresh RSA key, so RSA inputs
/// exercise the profile and key look-up but do not decrypt.
fn jwe_ring() -> &'static JweKeyRing {
    static RING: OnceLock<JweKeyRing> = OnceLock::new();
    RING.get_or_init(|| {
        let keys = fixed_p256_pem().and_then(|p256| {
            let rsa = crate::jose::generate_rsa_pem(2048).ok()?;
            JweKeyRing::from_pems(&[&rsa, &p256]).ok()
        });
        match keys {
            Some(ring) => ring,
            None => panic!("the fuzzers' JWE keys could not be made"),
        }
    })
}

/// The label whose SHA-256 is the fuzzers' P-256 private scalar.
const FUZZ_P256_LABEL: &[u8] = b"piivault fuzz p256";

/// The fuzzers' P-256 key as PKCS#8 PEM: a key that protects nothing, the same on
/// every machine.
fn fixed_p256_pem() -> Option<String> {
    use openssl::bn::{BigNum, BigNumContext};
    use openssl::ec::{EcGroup, EcKey, EcPoint};
    use openssl::nid::Nid;
    use openssl::pkey::PKey;
    use sha2::{Digest as _, Sha256};

    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).ok()?;
    let scalar = BigNum::from_slice(&Sha256::digest(FUZZ_P256_LABEL)).ok()?;
    let mut context = BigNumContext::new().ok()?;
    let mut public = EcPoint::new(&group).ok()?;
    public.mul_generator2(&group, &scalar, &mut context).ok()?;
    let key = EcKey::from_private_components(&group, &scalar, &public).ok()?;
    let pem = PKey::from_ec_key(key)
        .ok()?
        .private_key_to_pem_pkcs8()
        .ok()?;
    String::from_utf8(pem).ok()
}

/// A decrypted payload goes where a request's would: strict JSON, then the new-user
/// and transaction rules.
fn payload(plaintext: &[u8]) {
    if let Ok(serde_json::Value::Object(object)) = crate::json::parse(plaintext) {
        let _ = NewUser::parse(&object);
        let _ = NewTransaction::parse(&object);
        let _ = NewTransaction::parse_batch(&object);
    }
}

/// A compact JWE body (`application/jose`).
pub fn jwe_compact(data: &[u8]) {
    if let Ok(plaintext) = jwe_ring().decrypt(data, JweSerialization::Compact) {
        payload(&plaintext);
    }
}

/// A JSON-serialized JWE body (`application/jose+json`), flattened or general.
pub fn jwe_json(data: &[u8]) {
    if let Ok(plaintext) = jwe_ring().decrypt(data, JweSerialization::Json) {
        payload(&plaintext);
    }
}

/// A request's JSON (a decrypted payload, a statement-link body).
pub fn json_payload(data: &[u8]) {
    payload(data);
}

fn data_key() -> DataKey {
    DataKey::from_secret(SecretKey::from_bytes([0x5a; 32]))
}

const ROW: Uuid = Uuid::from_u128(0x0192_0000_7000_8000_0000_0000_0000_0001);

/// A stored sealed field: hostile bytes never open (they cannot carry a valid tag)
/// and never panic.
pub fn sealed_field(data: &[u8]) {
    let context = FieldContext::new("users", "email", ROW);
    let opened = SealedField::from_bytes(data.to_vec()).open(&data_key(), context);
    assert!(opened.is_err(), "hostile bytes opened as a sealed field");
}

/// A stored wrapped data key: its version is read, and unwrapping fails cleanly.
pub fn wrapped_key(data: &[u8]) {
    let key: Arc<dyn KeyEncryptionKey> = Arc::new(SecretKey::from_bytes([0x33; 32]));
    let Ok(ring) = MasterKeyRing::new([(1, key)], None, []) else {
        return;
    };
    let wrapped = WrappedDataKey::from_bytes(data.to_vec());
    let _ = wrapped.kek_version();
    assert!(
        ring.unwrap(ROW, &wrapped).is_err(),
        "hostile bytes unwrapped as a data key"
    );
}

/// Opens `object` as a stored file of `size` bytes the way a download does (length
/// first, then every segment).
fn open_object(key: &DataKey, object: &mut [u8], size: u64) -> Option<Vec<u8>> {
    if object.len() as u64 != sealed_len(size) {
        return None;
    }
    let (header, segments) = object.split_at_mut(HEADER_LEN);
    let opener = Opener::new(key, ROW, header, size).ok()?;
    let plaintext_len = opener.open_in_place(0, segments).ok()?;
    Some(segments[..plaintext_len].to_vec())
}

/// The STREAM segment decoder. The input is read two ways: as hostile object bytes
/// (never open, never panic), and as a recipe — a plaintext size, the chunks it
/// arrives in, and a byte to flip or a length to cut — for a file sealed here, which
/// must open to its plaintext untouched and must not open once flipped or cut.
pub fn stream_segments(data: &[u8]) {
    let key = data_key();
    if let [high, low, first, object @ ..] = data {
        let size = u64::from(u16::from_be_bytes([*high, *low]));
        if object.len() > HEADER_LEN {
            let (header, sealed) = object.split_at(HEADER_LEN);
            if let Ok(opener) = Opener::new(&key, ROW, header, size) {
                let mut sealed = sealed.to_vec();
                let opened = opener.open_in_place(u64::from(*first % 8), &mut sealed);
                assert!(opened.is_err(), "hostile segments opened");
            }
        }
    }

    let [a, b, c, chunk, at_a, at_b, at_c, cut, ..] = data else {
        return;
    };
    // Up to three segments (whole segments only when `a` says so, as sealing them is
    // the slow part), so borders and the last-segment flag are reached.
    let whole_segments = if *a >= 128 { usize::from(*a % 3) } else { 0 };
    let size = whole_segments * SEGMENT_LEN + usize::from(u16::from_be_bytes([*b, *c]));
    let plaintext: Vec<u8> = (0..size)
        .map(|i| u8::try_from(i % 251).unwrap_or(0))
        .collect();
    let Ok(header) = Header::parse(&[&[1u8][..], &[0x11; HEADER_LEN - 1]].concat()) else {
        return;
    };
    let mut sealer = Sealer::new(&key, ROW, &header);
    let mut object = sealer.header().to_vec();
    for piece in plaintext.chunks(usize::from(*chunk).max(1) * 997) {
        sealer.push(piece);
        if sealer.batch_ready() {
            let mut job = sealer.take_ready();
            if job.run().is_err() {
                return;
            }
            object.extend_from_slice(job.sealed());
            sealer.recycle(job);
        }
    }
    let mut last = sealer.take_last();
    if last.run().is_err() {
        return;
    }
    object.extend_from_slice(last.sealed());
    let Ok(size) = u64::try_from(size) else {
        return;
    };
    assert_eq!(
        open_object(&key, &mut object.clone(), size).as_deref(),
        Some(plaintext.as_slice()),
        "a sealed file did not open to its plaintext"
    );
    let at = usize::from_be_bytes([0, 0, 0, 0, 0, *at_a, *at_b, *at_c]) % object.len();
    let mut flipped = object.clone();
    flipped[at] ^= 1 << (cut % 8);
    assert!(
        open_object(&key, &mut flipped, size).is_none(),
        "a file with byte {at} flipped opened"
    );
    let mut cut_short = object[..at].to_vec();
    assert!(
        open_object(&key, &mut cut_short, size).is_none(),
        "a file cut to {at} bytes opened"
    );
}

/// A `Range` header against a file size: what it grants lies inside the file.
pub fn range(data: &[u8]) {
    let Some((size, header)) = data.split_first_chunk::<8>() else {
        return;
    };
    let size = u64::from_be_bytes(*size) >> (size[0] % 64);
    let Ok(header) = std::str::from_utf8(header) else {
        return;
    };
    if let Ok(RangeRequest::Part { start, end }) = RangeRequest::parse(Some(header), size) {
        assert!(
            start <= end && end < size,
            "{header:?} of {size}: {start}-{end}"
        );
    }
}

/// A multipart file name and media type: a name that parses has a safe ASCII stand-in.
pub fn file_name(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = MediaType::parse(text);
    if FileName::parse(text).is_ok() {
        let fallback = ascii_fallback(text);
        assert!(
            !fallback.is_empty()
                && fallback.len() <= 100
                && fallback
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_. ".contains(&b))
                && !fallback.starts_with('.'),
            "{text:?} fell back to {fallback:?}"
        );
    }
}

/// A currency code and an amount: an amount that parses writes back to the same value.
pub fn money(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (code, amount) = text.split_at(text.char_indices().nth(3).map_or(text.len(), |(at, _)| at));
    let currency = Currency::parse(code).unwrap_or(Currency::KES);
    if let Ok(minor) = currency.parse_amount(amount) {
        let written = currency.plain(i128::from(minor));
        assert_eq!(
            currency.parse_amount(&written),
            Ok(minor),
            "{amount:?} in {} wrote as {written:?}",
            currency.code()
        );
    }
}

/// Dates and periods: a date that parses is written back the same, a period never
/// ends before it starts, and its query bounds stay within the years a transaction
/// can have (a period wholly outside them gives bounds that select nothing).
pub fn dates(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(date) = parse_iso_date(text) {
        assert_eq!(date.format("%Y-%m-%d").to_string(), text);
    }
    let _ = DateOfBirth::parse(text);
    let (from, to) = text.split_once('/').unwrap_or((text, ""));
    let today = NaiveDate::from_ymd_opt(2026, 11, 29).unwrap_or_default();
    let from = (!from.is_empty()).then_some(from);
    let to = (!to.is_empty()).then_some(to);
    if let Ok(period) = Period::parse(from, to, today) {
        assert!(period.from <= period.to);
        let years = crate::domain::TRANSACTION_YEARS;
        assert!(period.start().year() >= *years.start());
        assert!(period.end_exclusive().year() <= *years.end() + 1);
    }
}

/// Cursors and tokens from URLs: a transaction cursor, the user and audit cursors
/// (ids), a statement link token. Each that parses is written back the same.
pub fn cursors(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(cursor) = TransactionCursor::parse(text) {
        assert_eq!(
            cursor.encode(),
            text,
            "a transaction cursor has one spelling"
        );
    }
    if let Some(user) = UserId::parse(text) {
        assert_eq!(user.to_string(), text, "a user cursor has one spelling");
    }
    if let Some(audit) = AuditId::parse(text) {
        assert_eq!(audit.to_string(), text, "an audit cursor has one spelling");
    }
    if let Some(token) = LinkToken::parse(text) {
        assert_eq!(token.reveal(), text);
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn corpus(name: &str) -> Vec<(PathBuf, Vec<u8>)> {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/corpus")
            .join(name);
        let mut inputs: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|error| panic!("{}: {error}", dir.display()))
            .map(|entry| entry.unwrap().path())
            .map(|path| {
                let bytes = std::fs::read(&path).unwrap();
                (path, bytes)
            })
            .collect();
        inputs.sort();
        inputs
    }

    /// The key made here is the one `fuzz/make_seeds.py` encrypts its seeds to, so the
    /// fuzzers reach the payload parsers behind decryption.
    #[test]
    fn the_seed_jwes_decrypt_with_the_fuzzers_key() {
        for (name, serialization) in [
            ("jwe_compact", JweSerialization::Compact),
            ("jwe_json", JweSerialization::Json),
        ] {
            let opened = corpus(name)
                .iter()
                .filter(|(_, input)| jwe_ring().decrypt(input, serialization).is_ok())
                .count();
            assert!(opened > 0, "no JWE in fuzz/corpus/{name} decrypts");
        }
    }

    /// Every input the fuzzers kept, findings included, still holds.
    #[test]
    fn the_corpus_replays_clean() {
        for (name, run) in TARGETS {
            let inputs = corpus(name);
            assert!(!inputs.is_empty(), "fuzz/corpus/{name} is empty");
            for (path, input) in inputs {
                let outcome = std::panic::catch_unwind(|| run(&input));
                assert!(outcome.is_ok(), "{name}: {} fails", path.display());
            }
        }
    }
}
