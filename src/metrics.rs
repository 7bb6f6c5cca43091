//! What an instance counts for Prometheus (`GET /metrics`, scope `metrics`): one
//! registry per running instance, updated by the HTTP layer (requests), the vault
//! (blocking work, JWE refusals, documents, file bytes, keys) and the database pool
//! (check-out waits). It knows nothing of HTTP or the database: callers hand it plain
//! numbers and names, and [`Metrics::render`] writes the text exposition format.
//!
//! No label ever carries personal data, a token, a kid, an id or a raw path: routes
//! are their patterns (`/users/{id}`), JWE refusals a reason class, files a direction.
//!
//! Adding a metric: a field here, registered in [`Metrics::new`], and a method that
//! says what happened in the caller's words (`jwe_refused`, `file_bytes_in`). The
//! per-client quotas count their own refusals (`access::quota`); they are copied into
//! `piivault_http_rate_limited_total` at scrape time, like the pool's state.

use std::time::Duration;

use prometheus::{
    Encoder as _, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::access::quota::{Limit, RefusalCounts};

/// Latency buckets in seconds: a cached GET is around a millisecond, a statement of
/// thousands of rows or a large file takes seconds.
const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The classes a JWE refusal is counted under (`JweError` kinds; never the kid, the
/// token or anything decrypted).
pub const JWE_REASONS: [&str; 4] = [
    "malformed",
    "unsupported",
    "unknown_key",
    "decryption_failed",
];

/// One instance's metrics. Cheap to update from any thread.
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    in_flight: IntGauge,
    pool_connections: IntGaugeVec,
    pool_max: IntGauge,
    pool_wait: Histogram,
    pool_timeouts: IntCounter,
    blocking_queued: IntGauge,
    blocking_running: IntGauge,
    decryptions_waiting: IntGauge,
    jwe_refused: IntCounterVec,
    rate_limited: IntCounterVec,
    master_key_versions: IntGauge,
    master_key_active: IntGauge,
    data_keys: IntGaugeVec,
    rewrap_pending: IntGauge,
    rendering: IntGaugeVec,
    rendered: IntCounterVec,
    file_bytes: IntCounterVec,
}

/// Builds and registers one metric; a name clash is a bug in this file, caught by its
/// tests, so the registry's error is not carried further.
fn register<M: prometheus::core::Collector + Clone + 'static>(
    registry: &Registry,
    metric: prometheus::Result<M>,
) -> M {
    match metric.and_then(|metric| registry.register(Box::new(metric.clone())).map(|()| metric)) {
        Ok(metric) => metric,
        // Names and labels are constants of this file; its tests build it once.
        Err(error) => unreachable!("metric definition: {error}"),
    }
}

fn counters(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    register(registry, IntCounterVec::new(Opts::new(name, help), labels))
}

fn gauges(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    register(registry, IntGaugeVec::new(Opts::new(name, help), labels))
}

fn gauge(registry: &Registry, name: &str, help: &str) -> IntGauge {
    register(registry, IntGauge::new(name, help))
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    // One registration per metric: a list to read down, not logic to split up.
    #[allow(clippy::too_many_lines)]
    pub fn new() -> Self {
        let r = &Registry::new();
        let metrics = Self {
            requests: counters(
                r,
                "piivault_http_requests_total",
                "HTTP requests answered, by route pattern, method and status.",
                &["route", "method", "status"],
            ),
            latency: register(
                r,
                HistogramVec::new(
                    HistogramOpts::new(
                        "piivault_http_request_duration_seconds",
                        "Time from a request's arrival to its response head, by route pattern and method.",
                    )
                    .buckets(LATENCY_BUCKETS.to_vec()),
                    &["route", "method"],
                ),
            ),
            in_flight: gauge(
                r,
                "piivault_http_requests_in_flight",
                "HTTP requests being handled now (until their response head).",
            ),
            pool_connections: gauges(
                r,
                "piivault_db_pool_connections",
                "Open connections of the main database pool, idle or in use.",
                &["state"],
            ),
            pool_max: gauge(
                r,
                "piivault_db_pool_max_connections",
                "The main pool's size limit (--db-pool-size).",
            ),
            pool_wait: register(
                r,
                Histogram::with_opts(
                    HistogramOpts::new(
                        "piivault_db_pool_wait_seconds",
                        "Time a unit of work waited for a database connection.",
                    )
                    .buckets(LATENCY_BUCKETS.to_vec()),
                ),
            ),
            pool_timeouts: register(
                r,
                IntCounter::new(
                    "piivault_db_pool_timeouts_total",
                    "Waits for a database connection that gave up (503 unavailable).",
                ),
            ),
            blocking_queued: gauge(
                r,
                "piivault_blocking_tasks_queued",
                "Database and CPU-heavy tasks waiting for a blocking thread.",
            ),
            blocking_running: gauge(
                r,
                "piivault_blocking_tasks_running",
                "Database and CPU-heavy tasks running on a blocking thread.",
            ),
            decryptions_waiting: gauge(
                r,
                "piivault_jwe_decryptions_waiting",
                "JWE bodies waiting for a decryption slot (two per core).",
            ),
            jwe_refused: counters(
                r,
                "piivault_jwe_refused_total",
                "JWE bodies refused (400 invalid_jwe), by reason class.",
                &["reason"],
            ),
            rate_limited: counters(
                r,
                "piivault_http_rate_limited_total",
                "Requests refused with 429 because their client was over its quota, by the limit it was over (rate, concurrency or jwe_failures).",
                &["limit"],
            ),
            master_key_versions: gauge(
                r,
                "piivault_master_key_versions",
                "Master key versions this instance has loaded.",
            ),
            master_key_active: gauge(
                r,
                "piivault_master_key_active_version",
                "The master key version new data keys are wrapped under.",
            ),
            data_keys: gauges(
                r,
                "piivault_data_keys",
                "Wrapped data keys, by the master key version wrapping them.",
                &["master_version"],
            ),
            rewrap_pending: gauge(
                r,
                "piivault_rewrap_pending_data_keys",
                "Data keys not yet under the active master key version (0: no rewrap left).",
            ),
            rendering: gauges(
                r,
                "piivault_documents_rendering",
                "PDF documents being rendered and encrypted now, by kind.",
                &["kind"],
            ),
            rendered: counters(
                r,
                "piivault_documents_rendered_total",
                "PDF documents rendered and encrypted, by kind.",
                &["kind"],
            ),
            file_bytes: counters(
                r,
                "piivault_file_bytes_total",
                "Plaintext file bytes received (in) and sent (out).",
                &["direction"],
            ),
            registry: r.clone(),
        };
        // Series that exist from the start, so a dashboard sees zeros, not gaps.
        for reason in JWE_REASONS {
            metrics.jwe_refused.with_label_values(&[reason]);
        }
        for limit in [Limit::Rate, Limit::Concurrency, Limit::JweFailures] {
            metrics.rate_limited.with_label_values(&[limit.as_str()]);
        }
        for direction in ["in", "out"] {
            metrics.file_bytes.with_label_values(&[direction]);
        }
        for kind in DocumentKind::ALL {
            metrics.rendering.with_label_values(&[kind.as_str()]);
            metrics.rendered.with_label_values(&[kind.as_str()]);
        }
        metrics
    }

    /// A request arrived; it counts as in flight until the guard is dropped.
    pub fn request_started(&self) -> InFlight {
        InFlight::new(&self.in_flight)
    }

    /// A request was answered. `route` is the matched pattern (or `(unmatched)`).
    pub fn request_answered(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        self.requests
            .with_label_values(&[route, method, status_label(status)])
            .inc();
        self.latency
            .with_label_values(&[route, method])
            .observe(elapsed.as_secs_f64());
    }

    /// A unit of work was handed to the blocking threads; it counts as queued until
    /// [`Queued::start`], then as running until that guard is dropped.
    pub fn blocking_queued(&self) -> Queued {
        Queued {
            queued: InFlight::new(&self.blocking_queued),
            running: self.blocking_running.clone(),
        }
    }

    /// A JWE body waits for a decryption slot until the guard is dropped.
    pub fn decryption_waiting(&self) -> InFlight {
        InFlight::new(&self.decryptions_waiting)
    }

    /// A JWE body was refused; `reason` is one of [`JWE_REASONS`].
    pub fn jwe_refused(&self, reason: &'static str) {
        self.jwe_refused.with_label_values(&[reason]).inc();
    }

    /// A document is being rendered until the guard is dropped.
    pub fn rendering(&self, kind: DocumentKind) -> InFlight {
        self.rendered.with_label_values(&[kind.as_str()]).inc();
        InFlight::new(&self.rendering.with_label_values(&[kind.as_str()]))
    }

    pub fn file_bytes_in(&self, bytes: u64) {
        self.file_bytes.with_label_values(&["in"]).inc_by(bytes);
    }

    pub fn file_bytes_out(&self, bytes: u64) {
        self.file_bytes.with_label_values(&["out"]).inc_by(bytes);
    }

    /// A wait for a database connection ended, with one or after `elapsed`.
    pub fn pool_waited(&self, elapsed: Duration) {
        self.pool_wait.observe(elapsed.as_secs_f64());
    }

    /// A wait for a database connection gave up.
    pub fn pool_timed_out(&self) {
        self.pool_timeouts.inc();
    }

    /// The pool as it is now (read at scrape time).
    pub fn set_pool(&self, state: PoolState) {
        self.pool_connections
            .with_label_values(&["idle"])
            .set(i64::from(state.idle));
        self.pool_connections
            .with_label_values(&["in_use"])
            .set(i64::from(state.open.saturating_sub(state.idle)));
        self.pool_max.set(i64::from(state.max));
    }

    /// Quota refusals since the start, by limit (read at scrape time).
    pub fn set_rate_limited(&self, refused: &RefusalCounts) {
        for (limit, total) in [
            (Limit::Rate, refused.rate),
            (Limit::Concurrency, refused.concurrency),
            (Limit::JweFailures, refused.jwe_failures),
        ] {
            let limit = limit.as_str();
            let counter = self.rate_limited.with_label_values(&[limit]);
            counter.inc_by(total.saturating_sub(counter.get()));
        }
    }

    /// The master keys and the data keys under each version (read at scrape time).
    pub fn set_keys(&self, keys: &KeyUse) {
        self.master_key_versions
            .set(i64::try_from(keys.loaded_versions).unwrap_or(i64::MAX));
        self.master_key_active.set(i64::from(keys.active_version));
        self.data_keys.reset();
        let mut pending = 0;
        for (version, count) in &keys.data_keys_by_version {
            self.data_keys
                .with_label_values(&[&version.to_string()])
                .set(*count);
            if *version != keys.active_version {
                pending += count;
            }
        }
        self.rewrap_pending.set(pending);
    }

    /// Every metric in the Prometheus text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let mut text = Vec::new();
        // Writing to a Vec fails only on a metric the encoder cannot represent, which
        // the types above never produce; what was written is still returned.
        if let Err(error) = TextEncoder::new().encode(&self.registry.gather(), &mut text) {
            tracing::error!(%error, "encoding metrics");
        }
        String::from_utf8_lossy(&text).into_owned()
    }
}

/// The exposition format's media type.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Statuses as labels without allocating for the common ones.
fn status_label(status: u16) -> &'static str {
    match status {
        200 => "200",
        201 => "201",
        204 => "204",
        206 => "206",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        405 => "405",
        409 => "409",
        413 => "413",
        415 => "415",
        416 => "416",
        422 => "422",
        429 => "429",
        500 => "500",
        503 => "503",
        _ => match status / 100 {
            1 => "1xx",
            2 => "2xx",
            3 => "3xx",
            4 => "4xx",
            _ => "5xx",
        },
    }
}

/// The kinds of PDF the service renders.
#[derive(Debug, Clone, Copy)]
pub enum DocumentKind {
    Statement,
    UserExport,
}

impl DocumentKind {
    const ALL: [Self; 2] = [Self::Statement, Self::UserExport];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Statement => "statement",
            Self::UserExport => "user_export",
        }
    }
}

/// The database pool's occupancy.
#[derive(Debug, Clone, Copy)]
pub struct PoolState {
    pub open: u32,
    pub idle: u32,
    pub max: u32,
}

/// Master key versions and the data keys each wraps.
#[derive(Debug, Clone, Default)]
pub struct KeyUse {
    pub loaded_versions: usize,
    pub active_version: u32,
    pub data_keys_by_version: Vec<(u32, i64)>,
}

/// Counts one thing as in progress until dropped.
pub struct InFlight(IntGauge);

impl InFlight {
    fn new(gauge: &IntGauge) -> Self {
        gauge.inc();
        Self(gauge.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// A blocking task waiting for a thread.
pub struct Queued {
    queued: InFlight,
    running: IntGauge,
}

impl Queued {
    /// The task got its thread: no longer queued, running until the guard is dropped.
    pub fn start(self) -> InFlight {
        drop(self.queued);
        InFlight::new(&self.running)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_family_and_moves() {
        let metrics = Metrics::new();
        metrics.request_answered("/users/{id}", "GET", 200, Duration::from_millis(3));
        metrics.jwe_refused("unknown_key");
        metrics.file_bytes_in(10);
        let queued = metrics.blocking_queued();
        let running = queued.start();
        let text = metrics.render();
        for needle in [
            r#"piivault_http_requests_total{method="GET",route="/users/{id}",status="200"} 1"#,
            r#"piivault_jwe_refused_total{reason="unknown_key"} 1"#,
            r#"piivault_jwe_refused_total{reason="malformed"} 0"#,
            r#"piivault_file_bytes_total{direction="in"} 10"#,
            "piivault_blocking_tasks_running 1",
            "piivault_blocking_tasks_queued 0",
            "# TYPE piivault_http_request_duration_seconds histogram",
        ] {
            assert!(text.contains(needle), "{needle} in\n{text}");
        }
        drop(running);
        assert!(metrics
            .render()
            .contains("piivault_blocking_tasks_running 0"));
    }

    #[test]
    fn rewrap_progress_counts_keys_outside_the_active_version() {
        let metrics = Metrics::new();
        metrics.set_keys(&KeyUse {
            loaded_versions: 2,
            active_version: 2,
            data_keys_by_version: vec![(1, 7), (2, 3)],
        });
        let text = metrics.render();
        assert!(
            text.contains("piivault_rewrap_pending_data_keys 7"),
            "{text}"
        );
        assert!(text.contains(r#"piivault_data_keys{master_version="2"} 3"#));
    }
}
