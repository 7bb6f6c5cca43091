//! Micro-benchmarks of the per-request cryptography: JWE decryption per algorithm,
//! data-key unwrap, field seal/open, blind index, and a statement render + protect.
//! `cargo bench --bench crypto`; figures go to BENCHMARKS.md.

// A benchmark whose setup fails should stop loudly, as a test does.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use piivault::crypto::{
    BlindIndexKey, DataKey, FieldContext, MasterKeyRing, SealedField, SecretKey,
};
use piivault::jose::{generate_p256_pem, generate_rsa_pem, JweKeyRing, JweSerialization};
use piivault::statement::{protect, render, Statement};
use uuid::Uuid;

const PAYLOAD: &str = r#"{"first_name":"Jack","last_name":"Sparrow","email":"jack.sparrow@piratebay.com","phone":"+254712345678","national_id":"12345678","date_of_birth":"1990-04-01","address":"Kenyatta Ave 1, Nairobi"}"#;

fn jwe(c: &mut Criterion) {
    let rsa = generate_rsa_pem(2048).unwrap();
    let ec = generate_p256_pem().unwrap();
    let ring = JweKeyRing::from_pems(&[&rsa, &ec]).unwrap();
    for alg in ["RSA-OAEP-256", "ECDH-ES+A256KW"] {
        let token = ring.encrypt_compact(PAYLOAD.as_bytes(), alg).unwrap();
        c.bench_function(&format!("jwe decrypt {alg} (2048 / P-256)"), |b| {
            b.iter(|| {
                ring.decrypt(black_box(token.as_bytes()), JweSerialization::Compact)
                    .unwrap()
            });
        });
    }
}

fn fields(c: &mut Criterion) {
    let ring = MasterKeyRing::new([(1, SecretKey::generate().unwrap())]).unwrap();
    let user = Uuid::new_v4();
    let dek = DataKey::generate().unwrap();
    let wrapped = ring.wrap(user, &dek).unwrap();
    c.bench_function("data key unwrap", |b| {
        b.iter(|| ring.unwrap(user, black_box(&wrapped)).unwrap());
    });
    let context = FieldContext {
        table: "users",
        column: "email",
        row_id: user,
    };
    c.bench_function("field seal (26 bytes)", |b| {
        b.iter(|| {
            SealedField::seal(&dek, context, black_box("jack.sparrow@piratebay.com")).unwrap()
        });
    });
    let sealed = SealedField::seal(&dek, context, "jack.sparrow@piratebay.com").unwrap();
    c.bench_function("field open (26 bytes)", |b| {
        b.iter(|| black_box(&sealed).open(&dek, context).unwrap());
    });
    let index = BlindIndexKey::new(SecretKey::generate().unwrap());
    c.bench_function("blind index", |b| {
        b.iter(|| index.index("email", black_box("jack.sparrow@piratebay.com")));
    });
}

fn statements(c: &mut Criterion) {
    let statement = Statement {
        title: "Customer Statement".to_owned(),
        customer_name: "Jack Sparrow".to_owned(),
        generated_at: chrono::Utc::now(),
        reference: Uuid::new_v4().to_string(),
        details: vec![("Email".to_owned(), "jack.sparrow@piratebay.com".to_owned()); 8],
    };
    c.bench_function("statement render + protect (1 page)", |b| {
        b.iter(|| protect(&render(black_box(&statement)).unwrap(), "12345678", "owner").unwrap());
    });
}

criterion_group!(benches, jwe, fields, statements);
criterion_main!(benches);
