//! Per-client quotas, enforced in memory before a request does any work: a token
//! bucket per client (a rate in cost units per second and a burst) and a cap on the
//! client's requests in flight. A request over either is refused before its token is
//! checked, its body looked at or anything recorded.
//!
//! The limits live with the client in the database (`api_clients`), but reading them
//! there would already be work. So [`Quotas`] learns each client's limits from the
//! vault's token check (which reads the client row anyway), keyed by the token's
//! stored hash, and decides the next requests of that token from memory. A token it
//! has not seen yet is let through: its check teaches the limits. Limits learned more
//! than [`LIMITS_TTL`] ago are re-learned: the next request of that token is let
//! through once to be checked, so a changed limit applies within seconds without a
//! restart, even to a client that is being refused.
//!
//! A refused client is told when to try again (`Retry-After`). A request of its
//! token that arrives before then and is refused again is answered only when its
//! bucket would have admitted it, or when that `Retry-After` has passed if sooner
//! ([`Refusal::delay`], at most [`MAX_DELAY`]): a client that ignores `Retry-After`
//! gets tens of refusals per connection and second instead of making the service
//! answer as many as it can send. Requests sent before the first refusal reached the
//! client (its other workers') are delayed alike. Delayed refusals of one client are
//! sent one admission apart (the time its bucket takes to refill one such request),
//! not all when the bucket first could admit one: the client's connections then come
//! back one at a time, each finding room, instead of all together, one admitted and
//! the others refused again.
//!
//! Failed JWE decryptions have a budget of their own, whatever the client's quota:
//! [`JWE_FAILURES_PER_SECOND`] with bursts of [`JWE_FAILURE_BURST`]. A request that
//! would decrypt a JWE reserves one failure from it when admitted, and is refused
//! while the budget holds less than one ([`Limit::JweFailures`]), before any
//! decryption; the reservation is given back unless the JWE failed
//! ([`Quotas::settle_jwe`]). So decryptions in flight count against the budget too,
//! however many connections sent them, and a client sending JWEs nobody can open
//! (unknown kids, a decryption oracle being probed) gets that many decryption
//! attempts a second, spread evenly, even one trusted with a quota out of reach. An
//! integrator whose JWEs decrypt never comes near the budget unless it has more than
//! [`JWE_FAILURE_BURST`] of them in flight at once.
//!
//! Each instance keeps its own buckets. With several instances behind a load
//! balancer, each enforces `1/instances` of every limit (rounded up; `--instances`),
//! so the sum over instances approximates the client's limit when its requests are
//! spread evenly.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::db::clients::LimitColumns;
use crate::id::ClientId;

/// What a request costs, in units of a plain request: work that keeps a core busy for
/// longer costs more, so a client's rate limit bounds its CPU, not only its count.
pub mod cost {
    /// A read, a listing, a delete, a file download (bounded by the concurrency cap).
    pub const REQUEST: u32 = 1;
    /// A JWE body decrypted (one RSA or ECDH private-key operation).
    pub const DECRYPT: u32 = 5;
    /// A statement PDF rendered and encrypted, or a file upload sealed.
    pub const HEAVY: u32 = 10;
    /// A transaction batch (a JWE of up to 1,000 sealed transactions).
    pub const BATCH: u32 = 20;
    /// The all-users export (every user opened, one PDF).
    pub const EXPORT: u32 = 100;
}

/// How long learned limits are trusted before the next request re-learns them.
pub const LIMITS_TTL: Duration = Duration::from_secs(2);

/// Longest a refusal is delayed before it is sent (see the module's documentation).
pub const MAX_DELAY: Duration = Duration::from_secs(1);

/// Failed JWE decryptions per second a client's budget refills (see the module's
/// documentation).
pub const JWE_FAILURES_PER_SECOND: u32 = 100;

/// Failed JWE decryptions a client may have at once before its JWEs are refused.
pub const JWE_FAILURE_BURST: u32 = 200;

/// Most tokens remembered at once; far more than there are clients.
const MAX_ENTRIES: usize = 10_000;

/// A token not seen for this long is forgotten (when room is needed).
const IDLE_EXPIRY: Duration = Duration::from_secs(600);

/// A client's limits, as stored with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ClientLimits {
    /// Cost units the bucket refills per second.
    pub rate_per_second: u32,
    /// Cost units the bucket holds: how far a client may run ahead of its rate.
    pub burst: u32,
    /// Requests of the client in flight at once.
    pub max_concurrent: u32,
}

impl ClientLimits {
    /// A new client's limits unless given others (also the migration's defaults for
    /// clients that existed before limits did): 100 plain requests or 20 JWE bodies a
    /// second, bursts of twice that, 16 requests at once.
    pub const DEFAULT: Self = Self {
        rate_per_second: 100,
        burst: 200,
        max_concurrent: 16,
    };

    /// Largest value of each limit (they are stored as 32-bit integers).
    pub const MAX: u32 = i32::MAX as u32;

    /// Limits as the database stores them (32-bit integers of at least 1).
    pub fn from_stored(stored: LimitColumns) -> Self {
        let limit = |value: i32| u32::try_from(value).unwrap_or(1);
        Self {
            rate_per_second: limit(stored.rate_per_second),
            burst: limit(stored.burst),
            max_concurrent: limit(stored.max_concurrent),
        }
        .at_least_one()
    }

    /// The limits as the database stores them; `None` when one is 0 or above
    /// [`Self::MAX`].
    pub fn to_stored(self) -> Option<LimitColumns> {
        let limit = |value: u32| i32::try_from(value).ok().filter(|value| *value >= 1);
        Some(LimitColumns {
            rate_per_second: limit(self.rate_per_second)?,
            burst: limit(self.burst)?,
            max_concurrent: limit(self.max_concurrent)?,
        })
    }

    /// `Self` with every zero replaced: the database refuses them, but a limit read
    /// from elsewhere must never divide by zero or refuse everything.
    fn at_least_one(self) -> Self {
        Self {
            rate_per_second: self.rate_per_second.max(1),
            burst: self.burst.max(1),
            max_concurrent: self.max_concurrent.max(1),
        }
    }

    /// This instance's share of the limits when `instances` share them (rounded up).
    fn share(self, instances: u32) -> Self {
        let part = |limit: u32| limit.div_ceil(instances.max(1)).max(1);
        Self {
            rate_per_second: part(self.rate_per_second),
            burst: part(self.burst),
            max_concurrent: part(self.max_concurrent),
        }
    }
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// The client's bucket holds less than the request costs.
    Rate,
    /// The client has its maximum of requests in flight.
    Concurrency,
    /// The request would decrypt a JWE, and the client's failure budget is spent.
    JweFailures,
}

impl Limit {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rate => "rate",
            Self::Concurrency => "concurrency",
            Self::JweFailures => "jwe_failures",
        }
    }
}

/// A refused request: whose, which limit, and when to try again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    pub client: ClientId,
    pub limit: Limit,
    /// Whole seconds, at least 1 (the `Retry-After` value).
    pub retry_after_secs: u64,
    /// How long to delay the refusal before sending it: zero when the client was not
    /// waiting for an earlier `Retry-After`; else until the request could have been
    /// admitted or that wait is over, whichever is sooner, at most [`MAX_DELAY`].
    pub delay: Duration,
}

/// Refusals so far, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RefusalCounts {
    pub rate: u64,
    pub concurrency: u64,
    pub jwe_failures: u64,
}

/// The quotas of every client this instance has seen. Cheap to share.
#[derive(Debug)]
pub struct Quotas {
    instances: u32,
    entries: Mutex<HashMap<[u8; 32], Entry>>,
    refused_rate: AtomicU64,
    refused_concurrency: AtomicU64,
    refused_jwe_failures: AtomicU64,
}

#[derive(Debug)]
struct Entry {
    client: ClientId,
    /// This instance's share of the client's limits.
    limits: ClientLimits,
    learned_at: Instant,
    /// When a request was let through to re-learn stale limits (it may never reach a
    /// check: another is let through a TTL later).
    relearning_since: Option<Instant>,
    /// Cost units, refilled at the client's rate up to its burst.
    bucket: Bucket,
    /// Failed JWE decryptions the client may still have, less those reserved by its
    /// decryptions in flight, refilled at [`JWE_FAILURES_PER_SECOND`] up to
    /// [`JWE_FAILURE_BURST`]; below one, its JWEs are refused.
    jwe_failures: Bucket,
    in_flight: u32,
    last_seen: Instant,
    /// When the `Retry-After` of the client's last undelayed refusal ends.
    told_to_wait_until: Option<Instant>,
    /// When the latest delayed refusal that was given a turn of its own is sent.
    last_turn: Option<Instant>,
}

/// A token bucket: the units it held at `filled_at`.
#[derive(Debug)]
struct Bucket {
    units: f64,
    filled_at: Instant,
}

impl Bucket {
    fn full(capacity: u32, now: Instant) -> Self {
        Self {
            units: f64::from(capacity),
            filled_at: now,
        }
    }

    fn refill(&mut self, now: Instant, per_second: u32, capacity: u32) {
        let elapsed = now.saturating_duration_since(self.filled_at).as_secs_f64();
        let refilled = self.units + elapsed * f64::from(per_second);
        self.units = refilled.min(f64::from(capacity));
        self.filled_at = now;
    }
}

impl Entry {
    /// Takes one failure from the budget for a JWE about to be decrypted.
    fn reserve_jwe_failure(&mut self, now: Instant) {
        let budget = &mut self.jwe_failures;
        budget.refill(now, JWE_FAILURES_PER_SECOND, JWE_FAILURE_BURST);
        budget.units -= 1.0;
    }

    fn refill(&mut self, now: Instant) {
        let ClientLimits {
            rate_per_second,
            burst,
            ..
        } = self.limits;
        self.bucket.refill(now, rate_per_second, burst);
    }

    /// A refusal for `limit` of a request that could be admitted in `ready_in`, when
    /// requests are admitted `spacing` apart; delayed when it arrived before the end
    /// of the `Retry-After` the client was given last. Its `Retry-After` counts from
    /// when it is sent.
    fn refuse(
        &mut self,
        now: Instant,
        limit: Limit,
        ready_in: Duration,
        spacing: Duration,
    ) -> Refusal {
        let (until_sent, ready_in) = match self.told_to_wait_until {
            Some(until) if until > now => {
                // Its turn: when it could be admitted, and one admission after the
                // turn of the refusal delayed before it.
                let turn = match self.last_turn {
                    Some(last) => (now + ready_in).max(last + spacing),
                    None => now + ready_in,
                };
                let latest = (until - now).min(MAX_DELAY);
                if turn - now <= latest {
                    self.last_turn = Some(turn);
                }
                let ready_in = turn - now;
                (ready_in.min(latest), ready_in)
            }
            _ => (Duration::ZERO, ready_in),
        };
        // Whole seconds, at least one: what `Retry-After` can say.
        let wait_after_sent = ready_in.saturating_sub(until_sent);
        let retry_after_secs =
            (wait_after_sent.as_secs() + u64::from(wait_after_sent.subsec_nanos() > 0)).max(1);
        if until_sent.is_zero() {
            self.told_to_wait_until = Some(now + Duration::from_secs(retry_after_secs));
        }
        Refusal {
            client: self.client,
            limit,
            retry_after_secs,
            delay: until_sent,
        }
    }
}

impl Quotas {
    /// Quotas for an instance that is one of `instances` sharing the clients' limits.
    pub fn new(instances: u32) -> Arc<Self> {
        Arc::new(Self {
            instances: instances.max(1),
            entries: Mutex::new(HashMap::new()),
            refused_rate: AtomicU64::new(0),
            refused_concurrency: AtomicU64::new(0),
            refused_jwe_failures: AtomicU64::new(0),
        })
    }

    /// Admits a request of the token hashed `token_hash` that costs `cost` units (and
    /// decrypts a JWE when `decrypts`), or refuses it. A request costing more than the
    /// client's burst needs a full bucket. The permit counts the request as in flight
    /// until it is dropped.
    pub fn admit(
        self: &Arc<Self>,
        token_hash: [u8; 32],
        cost: u32,
        decrypts: bool,
    ) -> Result<Permit, Refusal> {
        self.admit_at(token_hash, cost, decrypts, Instant::now())
    }

    fn admit_at(
        self: &Arc<Self>,
        token_hash: [u8; 32],
        cost: u32,
        decrypts: bool,
        now: Instant,
    ) -> Result<Permit, Refusal> {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(entry) = entries.get_mut(&token_hash) else {
            return Ok(Permit::untracked());
        };
        entry.last_seen = now;
        let older_than_ttl = |at: Instant| now.saturating_duration_since(at) >= LIMITS_TTL;
        if older_than_ttl(entry.learned_at) && entry.relearning_since.is_none_or(older_than_ttl) {
            // Let one request through to be checked; its check brings the limits.
            entry.relearning_since = Some(now);
            entry.refill(now);
            entry.bucket.units = (entry.bucket.units - f64::from(cost)).max(0.0);
            if decrypts {
                entry.reserve_jwe_failure(now);
            }
            entry.in_flight += 1;
            return Ok(self.permit(token_hash, decrypts));
        }
        if entry.in_flight >= entry.limits.max_concurrent {
            self.refused_concurrency.fetch_add(1, Ordering::Relaxed);
            // When a request in flight ends is unknown: a second, as `Retry-After` says,
            // and no turns for delayed refusals (nothing to space them by).
            return Err(entry.refuse(now, Limit::Concurrency, MAX_DELAY, Duration::ZERO));
        }
        entry.refill(now);
        let needed = f64::from(cost.min(entry.limits.burst));
        if entry.bucket.units < needed {
            self.refused_rate.fetch_add(1, Ordering::Relaxed);
            let rate = f64::from(entry.limits.rate_per_second);
            let ready_in = Duration::from_secs_f64((needed - entry.bucket.units) / rate);
            let spacing = Duration::from_secs_f64(needed / rate);
            return Err(entry.refuse(now, Limit::Rate, ready_in, spacing));
        }
        if decrypts {
            let budget = &mut entry.jwe_failures;
            budget.refill(now, JWE_FAILURES_PER_SECOND, JWE_FAILURE_BURST);
            if budget.units < 1.0 {
                self.refused_jwe_failures.fetch_add(1, Ordering::Relaxed);
                let rate = f64::from(JWE_FAILURES_PER_SECOND);
                let ready_in = Duration::from_secs_f64((1.0 - budget.units) / rate);
                let spacing = Duration::from_secs_f64(1.0 / rate);
                return Err(entry.refuse(now, Limit::JweFailures, ready_in, spacing));
            }
            entry.reserve_jwe_failure(now);
        }
        entry.bucket.units -= needed;
        entry.in_flight += 1;
        Ok(self.permit(token_hash, decrypts))
    }

    /// Records the limits of the client holding the token hashed `token_hash`, as its
    /// check just read them.
    pub fn learn(&self, token_hash: [u8; 32], client: ClientId, limits: ClientLimits) {
        let limits = limits.at_least_one().share(self.instances);
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = entries.get_mut(&token_hash) {
            entry.refill(now);
            entry.client = client;
            entry.limits = limits;
            entry.bucket.units = entry.bucket.units.min(f64::from(limits.burst));
            entry.learned_at = now;
            entry.relearning_since = None;
            return;
        }
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, entry| {
                entry.in_flight > 0 || now.saturating_duration_since(entry.last_seen) < IDLE_EXPIRY
            });
            if entries.len() >= MAX_ENTRIES {
                return;
            }
        }
        entries.insert(
            token_hash,
            Entry {
                client,
                limits,
                learned_at: now,
                relearning_since: None,
                bucket: Bucket::full(limits.burst, now),
                jwe_failures: Bucket::full(JWE_FAILURE_BURST, now),
                in_flight: 0,
                last_seen: now,
                told_to_wait_until: None,
                last_turn: None,
            },
        );
    }

    /// Settles the failure budget of the token hashed `token_hash` once a request that
    /// had a JWE to decrypt has been answered: the failure its permit reserved
    /// ([`Permit::reserved_jwe_failure`]) is given back unless the JWE `failed`. A
    /// failure without a reservation (a token not known when its request was admitted)
    /// is charged as far as the budget goes.
    pub fn settle_jwe(&self, token_hash: [u8; 32], reserved: bool, failed: bool) {
        self.settle_jwe_at(token_hash, reserved, failed, Instant::now());
    }

    fn settle_jwe_at(&self, token_hash: [u8; 32], reserved: bool, failed: bool, now: Instant) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(entry) = entries.get_mut(&token_hash) else {
            return;
        };
        let budget = &mut entry.jwe_failures;
        budget.refill(now, JWE_FAILURES_PER_SECOND, JWE_FAILURE_BURST);
        match (reserved, failed) {
            (true, false) => budget.units = (budget.units + 1.0).min(f64::from(JWE_FAILURE_BURST)),
            (false, true) => budget.units = (budget.units - 1.0).max(0.0),
            (true, true) | (false, false) => {}
        }
    }

    /// How many requests were refused so far, by limit.
    pub fn refusals(&self) -> RefusalCounts {
        RefusalCounts {
            rate: self.refused_rate.load(Ordering::Relaxed),
            concurrency: self.refused_concurrency.load(Ordering::Relaxed),
            jwe_failures: self.refused_jwe_failures.load(Ordering::Relaxed),
        }
    }

    fn permit(self: &Arc<Self>, token_hash: [u8; 32], reserved_jwe_failure: bool) -> Permit {
        Permit {
            held: Some((Arc::downgrade(self), token_hash)),
            reserved_jwe_failure,
        }
    }

    fn release(&self, token_hash: &[u8; 32]) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = entries.get_mut(token_hash) {
            entry.in_flight = entry.in_flight.saturating_sub(1);
        }
    }
}

/// A request admitted by [`Quotas::admit`]: it counts as in flight for its client
/// until this is dropped (hold it until the response has been sent).
#[derive(Debug)]
pub struct Permit {
    held: Option<(std::sync::Weak<Quotas>, [u8; 32])>,
    reserved_jwe_failure: bool,
}

impl Permit {
    /// A permit for a token not known yet: nothing to count.
    fn untracked() -> Self {
        Self {
            held: None,
            reserved_jwe_failure: false,
        }
    }

    /// Whether admitting the request reserved a failure from its client's budget, to
    /// be given back by [`Quotas::settle_jwe`] unless its JWE fails.
    pub fn reserved_jwe_failure(&self) -> bool {
        self.reserved_jwe_failure
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some((quotas, token_hash)) = self.held.take() {
            if let Some(quotas) = quotas.upgrade() {
                quotas.release(&token_hash);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: [u8; 32] = [7; 32];

    fn limits(rate_per_second: u32, burst: u32, max_concurrent: u32) -> ClientLimits {
        ClientLimits {
            rate_per_second,
            burst,
            max_concurrent,
        }
    }

    /// Quotas whose client (burst 10, `rate_per_second`) sent two JWEs and was refused a
    /// third, told to wait a second, all at the returned instant.
    fn told_after_two_jwes(rate_per_second: u32) -> (Arc<Quotas>, Instant) {
        let quotas = Quotas::new(1);
        quotas.learn(
            TOKEN,
            ClientId::generate(),
            limits(rate_per_second, 10, 100),
        );
        let start = Instant::now();
        for _ in 0..2 {
            drop(quotas.admit_at(TOKEN, cost::DECRYPT, true, start).unwrap());
        }
        let told = quotas
            .admit_at(TOKEN, cost::DECRYPT, true, start)
            .unwrap_err();
        assert_eq!((told.retry_after_secs, told.delay), (1, Duration::ZERO));
        (quotas, start)
    }

    #[test]
    fn an_unknown_token_is_let_through_to_be_checked() {
        let quotas = Quotas::new(1);
        for _ in 0..100 {
            drop(quotas.admit(TOKEN, cost::EXPORT, false).unwrap());
        }
        assert_eq!(quotas.refusals(), RefusalCounts::default());
    }

    #[test]
    fn the_bucket_allows_the_burst_then_refuses_with_a_retry_time() {
        let quotas = Quotas::new(1);
        let client = ClientId::generate();
        quotas.learn(TOKEN, client, limits(1, 10, 100));
        for _ in 0..2 {
            drop(quotas.admit(TOKEN, cost::DECRYPT, true).unwrap());
        }
        let refusal = quotas.admit(TOKEN, cost::REQUEST, false).unwrap_err();
        assert_eq!(refusal.client, client);
        assert_eq!(refusal.limit, Limit::Rate);
        assert!(refusal.retry_after_secs >= 1);
        // Another token (another client) has a bucket of its own.
        quotas.learn([8; 32], ClientId::generate(), limits(1, 10, 100));
        assert!(quotas.admit([8; 32], cost::DECRYPT, true).is_ok());
        assert_eq!(quotas.refusals().rate, 1);
    }

    #[test]
    fn a_cost_above_the_burst_needs_a_full_bucket() {
        let quotas = Quotas::new(1);
        quotas.learn(TOKEN, ClientId::generate(), limits(1, 5, 100));
        drop(quotas.admit(TOKEN, cost::EXPORT, false).unwrap());
        let refusal = quotas.admit(TOKEN, cost::REQUEST, false).unwrap_err();
        assert_eq!(refusal.limit, Limit::Rate);
    }

    #[test]
    fn in_flight_requests_are_capped_until_their_permits_drop() {
        let quotas = Quotas::new(1);
        quotas.learn(TOKEN, ClientId::generate(), limits(1000, 1000, 2));
        let first = quotas.admit(TOKEN, cost::REQUEST, false).unwrap();
        let second = quotas.admit(TOKEN, cost::REQUEST, false).unwrap();
        let refusal = quotas.admit(TOKEN, cost::REQUEST, false).unwrap_err();
        assert_eq!(refusal.limit, Limit::Concurrency);
        assert_eq!(refusal.retry_after_secs, 1);
        drop(first);
        let third = quotas.admit(TOKEN, cost::REQUEST, false).unwrap();
        drop((second, third));
        assert_eq!(quotas.refusals().concurrency, 1);
    }

    #[test]
    fn a_client_that_ignores_retry_after_has_its_refusals_delayed_until_then() {
        let quotas = Quotas::new(1);
        quotas.learn(TOKEN, ClientId::generate(), limits(1, 1, 100));
        let start = Instant::now();
        let at = |millis| start + Duration::from_millis(millis);
        drop(quotas.admit_at(TOKEN, cost::REQUEST, false, at(0)).unwrap());
        let told = quotas
            .admit_at(TOKEN, cost::REQUEST, false, at(0))
            .unwrap_err();
        assert_eq!((told.retry_after_secs, told.delay), (1, Duration::ZERO));
        // Sent again before the second is over: delayed for the rest of it.
        let early = quotas
            .admit_at(TOKEN, cost::DECRYPT, true, at(300))
            .unwrap_err();
        assert_eq!(early.delay, Duration::from_millis(700));
        assert_eq!(early.limit, Limit::Rate);
        // After it, the bucket admits again, and the next refusal is told, not delayed.
        drop(
            quotas
                .admit_at(TOKEN, cost::REQUEST, false, at(1_001))
                .unwrap(),
        );
        let told_again = quotas
            .admit_at(TOKEN, cost::REQUEST, false, at(1_001))
            .unwrap_err();
        assert_eq!(told_again.delay, Duration::ZERO);
        assert_eq!(
            quotas.refusals().rate,
            3,
            "delayed refusals are counted too"
        );
    }

    #[test]
    fn a_delayed_refusal_is_sent_when_the_bucket_would_admit_it_if_sooner() {
        let (quotas, start) = told_after_two_jwes(10);
        let at = |millis| start + Duration::from_millis(millis);
        // A tenth of a second on the bucket holds 1 of the 5 units: 0.4 s to go, sooner
        // than the 0.9 s left of the second it was told.
        let held = quotas
            .admit_at(TOKEN, cost::DECRYPT, true, at(100))
            .unwrap_err();
        let delay_ms = held.delay.as_secs_f64() * 1_000.0;
        assert!((399.0..=401.0).contains(&delay_ms), "{delay_ms} ms");
    }

    #[test]
    fn a_refusal_is_delayed_at_most_max_delay() {
        let quotas = Quotas::new(1);
        quotas.learn(TOKEN, ClientId::generate(), limits(1, 100, 100));
        let start = Instant::now();
        drop(quotas.admit_at(TOKEN, cost::EXPORT, true, start).unwrap());
        let told = quotas
            .admit_at(TOKEN, cost::REQUEST, false, start)
            .unwrap_err();
        assert_eq!(told.retry_after_secs, 1);
        let ms = Duration::from_millis(1);
        let big = quotas
            .admit_at(TOKEN, cost::EXPORT, true, start + ms)
            .unwrap_err();
        assert_eq!(
            big.delay,
            Duration::from_millis(999),
            "what is left of the second"
        );
        // Its Retry-After counts from when it is sent: 99.999 s to go, less the delay.
        assert_eq!(big.retry_after_secs, 99);
        // That refusal was delayed, so it did not reset the wait: a little over a second
        // on, the next refusal is told (98.9 s); one right after it is delayed the most.
        let later = start + Duration::from_millis(1_100);
        assert_eq!(
            quotas
                .admit_at(TOKEN, cost::EXPORT, true, later)
                .unwrap_err()
                .delay,
            Duration::ZERO
        );
        let held = quotas
            .admit_at(TOKEN, cost::EXPORT, true, later + ms)
            .unwrap_err();
        assert_eq!(held.delay, MAX_DELAY);
    }

    #[test]
    fn a_client_at_its_concurrency_cap_is_delayed_the_same_way() {
        let quotas = Quotas::new(1);
        quotas.learn(TOKEN, ClientId::generate(), limits(1000, 1000, 1));
        let start = Instant::now();
        let _in_flight = quotas.admit_at(TOKEN, cost::REQUEST, false, start).unwrap();
        let told = quotas
            .admit_at(TOKEN, cost::REQUEST, false, start)
            .unwrap_err();
        assert_eq!(
            (told.limit, told.delay),
            (Limit::Concurrency, Duration::ZERO)
        );
        let held = quotas
            .admit_at(
                TOKEN,
                cost::REQUEST,
                false,
                start + Duration::from_millis(250),
            )
            .unwrap_err();
        assert_eq!(held.delay, Duration::from_millis(750));
    }

    #[test]
    fn delayed_refusals_of_one_client_are_sent_one_admission_apart() {
        let (quotas, start) = told_after_two_jwes(100);
        let at = |millis| start + Duration::from_millis(millis);
        // 10 ms on, the bucket holds 1 of the 5 units a JWE costs: the first is sent
        // when it holds 5, each next one 5 units (50 ms) later, until the end of the
        // second it was told: those left are sent then.
        let delays: Vec<_> = (0..22)
            .map(|_| {
                let refusal = quotas.admit_at(TOKEN, cost::DECRYPT, true, at(10));
                refusal.unwrap_err().delay.as_millis()
            })
            .collect();
        let turns = (0..20).map(|turn| 40 + 50 * turn);
        let expected: Vec<_> = turns.chain([990, 990]).collect();
        assert_eq!(delays, expected);
    }

    #[test]
    fn jwes_are_refused_while_the_failure_budget_is_spent_whatever_the_quota() {
        let quotas = Quotas::new(1);
        let unlimited = ClientLimits::MAX;
        let limits = limits(unlimited, unlimited, unlimited);
        quotas.learn(TOKEN, ClientId::generate(), limits);
        let start = Instant::now();
        let at = |millis| start + Duration::from_millis(millis);
        let admit = |decrypts, millis| quotas.admit_at(TOKEN, cost::DECRYPT, decrypts, at(millis));
        for _ in 0..JWE_FAILURE_BURST {
            let permit = admit(true, 0).unwrap();
            assert!(permit.reserved_jwe_failure());
            quotas.settle_jwe_at(TOKEN, true, true, at(0));
        }
        let told = admit(true, 0).unwrap_err();
        assert_eq!(told.limit, Limit::JweFailures);
        assert_eq!((told.retry_after_secs, told.delay), (1, Duration::ZERO));
        // A request that decrypts nothing is not the budget's business.
        let plain = admit(false, 0).unwrap();
        assert!(!plain.reserved_jwe_failure());
        // 5 ms on, half a failure has refilled: the first delayed refusal is sent when
        // there is one, each next one a failure (10 ms) later.
        let delays: Vec<_> = (0..3).map(|_| admit(true, 5).unwrap_err().delay).collect();
        assert_eq!(delays, [5, 15, 25].map(Duration::from_millis));
        assert_eq!(quotas.refusals().jwe_failures, 4);
        // A token not known yet has no budget to charge.
        quotas.settle_jwe_at([9; 32], false, true, at(0));
        assert!(quotas.admit_at([9; 32], cost::DECRYPT, true, at(0)).is_ok());
    }

    #[test]
    fn decryptions_in_flight_hold_the_failure_budget_until_they_succeed() {
        let quotas = Quotas::new(1);
        let unlimited = ClientLimits::MAX;
        quotas.learn(
            TOKEN,
            ClientId::generate(),
            limits(unlimited, unlimited, unlimited),
        );
        let start = Instant::now();
        let in_flight: Vec<_> = (0..JWE_FAILURE_BURST)
            .map(|_| quotas.admit_at(TOKEN, cost::DECRYPT, true, start).unwrap())
            .collect();
        let refusal = quotas
            .admit_at(TOKEN, cost::DECRYPT, true, start)
            .unwrap_err();
        assert_eq!(refusal.limit, Limit::JweFailures);
        // One of them decrypted: its reservation comes back, and the next is admitted.
        quotas.settle_jwe_at(TOKEN, true, false, start);
        assert!(quotas.admit_at(TOKEN, cost::DECRYPT, true, start).is_ok());
        assert!(quotas.admit_at(TOKEN, cost::DECRYPT, true, start).is_err());
        // Given back, the budget never holds more than its burst.
        for _ in 0..2 * JWE_FAILURE_BURST {
            quotas.settle_jwe_at(TOKEN, true, false, start);
        }
        for _ in 0..JWE_FAILURE_BURST {
            quotas.settle_jwe_at(TOKEN, false, true, start);
        }
        assert!(quotas.admit_at(TOKEN, cost::DECRYPT, true, start).is_err());
        drop(in_flight);
    }

    #[test]
    fn learned_limits_replace_the_old_ones() {
        let quotas = Quotas::new(1);
        let client = ClientId::generate();
        quotas.learn(TOKEN, client, limits(1, 1, 100));
        drop(quotas.admit(TOKEN, cost::REQUEST, false).unwrap());
        assert!(quotas.admit(TOKEN, cost::REQUEST, false).is_err());
        quotas.learn(TOKEN, client, limits(1000, 1000, 100));
        // The bucket keeps what it held, and refills at the new rate from now on.
        std::thread::sleep(Duration::from_millis(20));
        assert!(quotas.admit(TOKEN, cost::DECRYPT, true).is_ok());
    }

    #[test]
    fn instances_share_the_limits() {
        assert_eq!(
            limits(100, 200, 16).share(3),
            limits(34, 67, 6),
            "rounded up"
        );
        assert_eq!(limits(1, 1, 1).share(4), limits(1, 1, 1), "never zero");
        assert_eq!(limits(0, 0, 0).at_least_one(), limits(1, 1, 1));
    }
}
