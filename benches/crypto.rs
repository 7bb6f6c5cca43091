//! Micro-benchmarks of the per-request cryptography: JWE decryption per algorithm,
//! the two ways a JWE is refused (a kid nobody has: the live keys are read again; a
//! known kid with a wrong tag: the RSA step runs), data-key unwrap and its subkey
//! derivation, field seal/open in format v2 and v1, blind index, the metadata key's
//! token digest and client-row MAC check (what every token check adds), and a
//! statement render + encrypt.
//! `cargo bench --bench crypto`; figures go to BENCHMARKS.md.

// A benchmark, like a test, may panic on the unexpected: that is how it fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use criterion::{criterion_group, criterion_main, Criterion};
use piivault::access::client_mac::{self, SealedClient};
use piivault::access::ApiToken;
use piivault::crypto::{
    random_bytes, BlindIndexKey, DataKey, FieldContext, MasterKeyRing, MetadataKey, SealedField,
    SecretKey,
};
use piivault::db::clients::{CallerRow, LimitColumns};
use piivault::domain::{Currency, Period, Transaction};
use piivault::id::ClientId;
use piivault::jose::{generate_p256_pem, generate_rsa_pem, JweKeyRing, JweSerialization};
use piivault::keys::{KeyPlaces, LiveKeys};
use piivault::pdf::{FontLibrary, StatementHeader, StatementWriter};
use uuid::Uuid;

const PAYLOAD: &str = r#"{"first_name":"Jack","last_name":"Sparrow","email":"jack.sparrow@piratebay.com","phone":"+254712345678","national_id":"12345678","date_of_birth":"1990-04-01","address":"Kenyatta Ave 1, Nairobi"}"#;

fn jwe(c: &mut Criterion) {
    let rsa = generate_rsa_pem(2048).unwrap();
    let ec = generate_p256_pem().unwrap();
    let ring = JweKeyRing::from_pems(&[&rsa, &ec]).unwrap();
    for alg in ["RSA-OAEP-256", "RSA-OAEP", "ECDH-ES+A256KW"] {
        let token = ring.encrypt_compact(PAYLOAD.as_bytes(), alg).unwrap();
        c.bench_function(&format!("jwe decrypt {alg} (2048 / P-256)"), |b| {
            b.iter(|| {
                ring.decrypt(black_box(token.as_bytes()), JweSerialization::Compact)
                    .unwrap()
            });
        });
    }
}

/// A compact JWE with its protected header's `kid` replaced.
fn with_kid(token: &str, kid: &str) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    let (header, rest) = token.split_once('.').unwrap();
    let mut header: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
    header["kid"] = kid.into();
    format!("{}.{rest}", URL_SAFE_NO_PAD.encode(header.to_string()))
}

fn jwe_refusals(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let places = KeyPlaces::key_files(dir.path());
    piivault::keys::init(&places).unwrap();
    let live = LiveKeys::load(places).unwrap();
    let token = live
        .current()
        .jwe
        .encrypt_compact(PAYLOAD.as_bytes(), "RSA-OAEP-256")
        .unwrap();
    let unknown = with_kid(&token, "a-kid-nobody-has");
    let (front, tag) = token.rsplit_once('.').unwrap();
    let bad_tag = format!(
        "{front}.{}{}",
        if tag.starts_with('A') { 'B' } else { 'A' },
        &tag[1..]
    );
    c.bench_function("jwe refused: unknown kid (keys dir read again)", |b| {
        b.iter(|| {
            live.decrypt_jwe(black_box(unknown.as_bytes()), JweSerialization::Compact)
                .unwrap_err()
        });
    });
    c.bench_function(
        "jwe refused: known kid, wrong tag (RSA-OAEP-256 2048)",
        |b| {
            b.iter(|| {
                live.decrypt_jwe(black_box(bad_tag.as_bytes()), JweSerialization::Compact)
                    .unwrap_err()
            });
        },
    );
}

fn fields(c: &mut Criterion) {
    let ring = MasterKeyRing::of_secret_keys([(1, SecretKey::generate().unwrap())]).unwrap();
    let user = Uuid::new_v4();
    let dek = DataKey::generate().unwrap();
    let wrapped = ring.wrap(user, &dek).unwrap();
    c.bench_function("data key unwrap", |b| {
        b.iter(|| ring.unwrap(user, black_box(&wrapped)).unwrap());
    });
    // The data key's subkeys are derived when it is made or unwrapped (above, and
    // cached with keys a token unwrapped): this is that derivation alone.
    let dek_bytes: [u8; 32] = random_bytes().unwrap();
    c.bench_function("data key subkey derivation (HKDF-SHA256)", |b| {
        b.iter(|| DataKey::from_secret(SecretKey::from_bytes(black_box(dek_bytes))));
    });
    let context = FieldContext::new("users", "email", user);
    let value = "jack.sparrow@piratebay.com";
    c.bench_function("field seal v2 (26 bytes)", |b| {
        b.iter(|| SealedField::seal(&dek, context, black_box(value)).unwrap());
    });
    let sealed = SealedField::seal(&dek, context, value).unwrap();
    c.bench_function("field open v2 (26 bytes)", |b| {
        b.iter(|| black_box(&sealed).open(&dek, context).unwrap());
    });
    // A transaction's value: its AAD also carries the row's time and currency.
    let bound = [
        ("occurred_at", "2026-11-01T06:30:00.000000Z"),
        ("currency", "KES"),
    ];
    let amount = FieldContext::new("transactions", "amount", user).bound_to(&bound);
    let sealed_amount = SealedField::seal(&dek, amount, "-125000").unwrap();
    c.bench_function("field open v2, transaction amount (bound)", |b| {
        b.iter(|| black_box(&sealed_amount).open(&dek, amount).unwrap());
    });
    // v1, as it was written before v2: AES-256-GCM under the data key itself, sealed
    // here with aes-gcm directly (the service no longer writes it), opened by the
    // service's own code.
    let dek_v1: [u8; 32] = random_bytes().unwrap();
    let v1_key = DataKey::from_secret(SecretKey::from_bytes(dek_v1));
    let v1_aad = format!("piivault/v1/users.email/{}", user.hyphenated());
    let seal_v1 = || {
        let nonce: [u8; 12] = random_bytes().unwrap();
        let sealed = Aes256Gcm::new(&dek_v1.into())
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: black_box(value).as_bytes(),
                    aad: v1_aad.as_bytes(),
                },
            )
            .unwrap();
        [&[0x01][..], &nonce, &sealed].concat()
    };
    c.bench_function("field seal v1 layout (26 bytes, aes-gcm directly)", |b| {
        b.iter(seal_v1);
    });
    let sealed_v1 = SealedField::from_bytes(seal_v1());
    c.bench_function("field open v1 (26 bytes)", |b| {
        b.iter(|| black_box(&sealed_v1).open(&v1_key, context).unwrap());
    });
    let index = BlindIndexKey::new(SecretKey::generate().unwrap());
    c.bench_function("blind index", |b| {
        b.iter(|| index.index("email", black_box("jack.sparrow@piratebay.com")));
    });
}

fn statements(c: &mut Criterion) {
    let day = chrono::NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
    let header = StatementHeader {
        customer_name: "Jack Sparrow".to_owned(),
        masked_phone: Some("+2547*****678".to_owned()),
        period: Period { from: day, to: day },
        currency: Currency::KES,
        requested_at: chrono::Utc::now(),
        reference: Uuid::new_v4().to_string(),
    };
    let transactions: Vec<Transaction> = (0..8)
        .map(|n| Transaction {
            id: piivault::id::TransactionId::generate(),
            reference: format!("QFT{n:07}"),
            occurred_at: day.and_hms_opt(9, n, 0).unwrap(),
            details: "Customer Transfer to Mama Mboga".to_owned(),
            amount: -125_000,
            currency: Currency::KES,
        })
        .collect();
    let fonts = FontLibrary::shared(None).unwrap();
    c.bench_function("statement write + encrypt (1 page, 8 rows)", |b| {
        b.iter(|| {
            let mut writer = StatementWriter::start(
                Vec::new(),
                "12345678",
                std::sync::Arc::clone(&fonts),
                black_box(header.clone()),
            )
            .unwrap();
            for transaction in &transactions {
                writer.add(transaction).unwrap();
            }
            writer.finish().unwrap()
        });
    });
}

/// What the metadata key adds to each token check: the token's keyed digest (the
/// SHA-256 it needs was computed before, for the quotas) and the client row's MAC.
fn metadata(c: &mut Criterion) {
    let key = MetadataKey::new(SecretKey::generate().unwrap());
    let token = ApiToken::generate().unwrap();
    let sha256 = token.hash();
    c.bench_function("metadata: token digest", |b| {
        b.iter(|| piivault::access::ApiToken::digest(black_box(&token), &key));
    });
    c.bench_function("metadata: sha-256 of the token (for comparison)", |b| {
        b.iter(|| black_box(&token).hash());
    });
    let token_hash = key.token_digest("piivault/v1/api_clients.token_hash", &sha256);
    let mut row = CallerRow {
        id: ClientId::generate(),
        name: "billing-service".to_owned(),
        token_hash: token_hash.to_vec(),
        scopes: "users:write,users:read,statements".to_owned(),
        limits: LimitColumns {
            rate_per_second: 100,
            burst: 200,
            max_concurrent: 16,
        },
        mac: None,
    };
    row.mac = Some(SealedClient::from(&row).mac(&key).to_vec());
    c.bench_function("metadata: client row MAC check", |b| {
        b.iter(|| assert!(client_mac::authentic(&key, black_box(&row))));
    });
}

criterion_group!(benches, jwe, jwe_refusals, fields, metadata, statements);
criterion_main!(benches);
