//! The metrics' own cost per request: what `routes::observe` adds to every request
//! (the in-flight gauge up and down, one labelled counter, one labelled histogram
//! observation), and a scrape's rendering. Compare with a request's time at the
//! measured throughput (BENCHMARKS.md).

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use piivault::metrics::Metrics;

fn per_request(c: &mut Criterion) {
    let metrics = Metrics::new();
    // Series as a running instance has them: a few dozen routes and statuses.
    for route in [
        "/users",
        "/users/{id}",
        "/users/{id}/files",
        "/healthz",
        "/audit",
    ] {
        for status in [200, 201, 400, 401, 404, 422] {
            metrics.request_answered(route, "GET", status, Duration::from_millis(1));
        }
    }
    c.bench_function("metrics: one request observed", |b| {
        b.iter(|| {
            let in_flight = metrics.request_started();
            metrics.request_answered("/users/{id}", "GET", 200, Duration::from_micros(900));
            drop(in_flight);
        });
    });
    c.bench_function("metrics: one scrape rendered", |b| {
        b.iter(|| metrics.render());
    });
}

criterion_group!(benches, per_request);
criterion_main!(benches);
