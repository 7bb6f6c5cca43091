//! Micro-benchmark of the sealed-file format alone (no HTTP, no storage): sealing and
//! opening 16 MiB in the service's 1 MiB batches, the figure to set against the
//! Flask-Encryptor functions (223 MB/s encrypting, 382 MB/s decrypting on this machine).
//! `cargo bench --bench files`; figures go to BENCHMARKS.md.

// A benchmark whose setup fails should stop loudly, as a test does.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use piivault::crypto::DataKey;
use piivault::files::stream::{sealed_range, Header, Opener, Sealer, BATCH_SEGMENTS, HEADER_LEN};
use uuid::Uuid;

const SIZE: usize = 16 * 1024 * 1024;
const CHUNK: usize = 64 * 1024;

fn seal(data_key: &DataKey, file_id: Uuid, header: &Header, plaintext: &[u8]) -> Vec<u8> {
    let mut sealer = Sealer::new(data_key, file_id, header);
    let mut object = Vec::with_capacity(plaintext.len() + plaintext.len() / 4096 + 64);
    object.extend_from_slice(sealer.header());
    for chunk in plaintext.chunks(CHUNK) {
        sealer.push(chunk);
        if sealer.batch_ready() {
            let mut job = sealer.take_ready();
            job.run().unwrap();
            object.extend_from_slice(job.sealed());
            sealer.recycle(job);
        }
    }
    let mut last = sealer.take_last();
    last.run().unwrap();
    object.extend_from_slice(last.sealed());
    object
}

fn file_stream(c: &mut Criterion) {
    let data_key = DataKey::generate().unwrap();
    let file_id = Uuid::new_v4();
    let header = Header::generate().unwrap();
    let plaintext = vec![0x5a_u8; SIZE];
    let object = seal(&data_key, file_id, &header, &plaintext);
    let size = SIZE as u64;
    let segments = size.div_ceil(64 * 1024);

    let mut group = c.benchmark_group("file_stream_16MiB");
    group.throughput(Throughput::Bytes(size));
    group.sample_size(20);
    group.bench_function("seal", |b| {
        b.iter(|| seal(&data_key, file_id, &header, black_box(&plaintext)));
    });
    let opener = Opener::new(&data_key, file_id, &object[..HEADER_LEN], size).unwrap();
    let mut batch = Vec::new();
    group.bench_function("open", |b| {
        b.iter(|| {
            let mut first = 0;
            while first < segments {
                let end = (first + BATCH_SEGMENTS).min(segments);
                let range = sealed_range(size, first..end);
                batch.clear();
                batch.extend_from_slice(
                    &object[usize::try_from(range.start).unwrap()
                        ..usize::try_from(range.end).unwrap()],
                );
                black_box(opener.open_in_place(first, &mut batch).unwrap());
                first = end;
            }
        });
    });
    group.finish();
}

criterion_group!(benches, file_stream);
criterion_main!(benches);
