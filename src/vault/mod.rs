//! The vault: what piivault does, one method per operation. It owns the database pool,
//! the store of wrapped data keys, the live keys and the file store; the HTTP routes
//! and the command line are its two callers, and neither reaches past it into those.
//!
//! Operations a request makes are `async`: each runs its database calls and CPU-heavy
//! steps (RSA, sealing, PDFs) on the runtime's blocking threads, never on the async
//! workers, usually in one trip (check the caller's claim and do the work on one
//! pooled connection). What must be committed before the answer (the audit record of
//! a read, a new user) is committed together with the same work of concurrent
//! requests, by committer threads of its own (`group_commit.rs`). The long jobs of
//! the command line (key rewrap, reindex, seeding) are plain blocking methods for the
//! CLI's own thread.
//!
//! | area | file |
//! |---|---|
//! | where wrapped data keys live, and unwrapping them | `data_keys.rs` |
//! | checking a claim on its own (before a body is read), many together | `claims.rs` |
//! | users: sealing, opening, listing, search, shredding | `users.rs` |
//! | registering users (POST /users), committed together | `registrations.rs` |
//! | reading one user (GET /users/{id}), audited, committed together | `user_reads.rs` |
//! | committing the work of concurrent requests in one transaction | `group_commit.rs` |
//! | blind indexes of a user's fields | `indexes.rs` |
//! | the audit log | `audit.rs` |
//! | transactions | `ledger.rs` |
//! | statements (the PDF now) and statement links | `statements.rs`, `statement_links.rs` |
//! | the all-users export | `export.rs` |
//! | documents streamed while written, and how many at once | `documents.rs` |
//! | files | `files/` |
//! | key rotation jobs, retirement checks, status | `key_jobs.rs` |
//! | sealing client and link rows of older versions under the metadata key | `metadata.rs` |
//! | what `GET /metrics` reports, gathered at scrape time | `metrics.rs` |

pub mod audit;
mod claims;
mod data_keys;
mod documents;
mod error;
mod export;
mod files;
mod group_commit;
pub mod indexes;
pub mod key_jobs;
pub mod ledger;
mod metadata;
mod metrics;
mod payload;
mod priority;
mod registrations;
pub mod reseal;
mod statement_links;
mod statements;
mod user_reads;
pub mod users;

use std::future::Future;
use std::sync::Arc;

use anyhow::Context as _;

pub use audit::{AuditEntry, AuditQuery, RequestId};
pub use claims::FirstCheck;
pub use data_keys::{DataKeyCache, DataKeyStore};
pub use documents::DocumentStream;
pub use error::VaultError;
pub use export::Export;
pub use files::{Download, FileInfo, Incoming, RangeRequest};
pub use ledger::{Listing, Recorded, TransactionCursor};
pub use metadata::{SealReport, Unsealed};
pub use payload::JweBody;
pub use statement_links::{
    CreatedLink, LinkRequest, LinkToken, MaxDownloads, PasswordPolicy, DOWNLOAD_PATH,
    MUST_BE_A_DOWNLOAD_COUNT,
};
pub use statements::{StatementRequest, MAX_STATEMENT_ROWS};
pub use users::{ExactLookup, Order, Registered, UserPage, UserQuery, UserRecord};

use self::audit::AuditRecords;
use self::claims::{ClaimChecks, RecentCallers};
use self::group_commit::GroupCommit;
use self::registrations::Registrations;
use self::user_reads::UserReads;
use crate::access::{BearerToken, Caller, Claim, Permit, Quotas, Refusal};
use crate::config::{PoolSettings, Settings};
use crate::db::{self, DbConnection, DbPool};
use crate::files::FileStore;
use crate::keys::{KeyPlaces, LiveKeys};
use crate::metrics::Metrics;
use crate::pdf::FontLibrary;

/// The service. Cheap to clone: clones share one [`Core`].
#[derive(Clone)]
pub struct Vault {
    core: Arc<Core>,
}

/// What every operation works with.
pub(crate) struct Core {
    pool: DbPool,
    /// Where wrapped data keys live (the main database unless `--keystore-url`).
    data_keys: DataKeyStore,
    /// The keys as of the last reload; an operation takes `keys.current()` once.
    keys: Arc<LiveKeys>,
    /// Data keys a token unwrapped lately (`data_keys.rs`).
    data_key_cache: Arc<DataKeyCache>,
    /// Sealed file objects (local directory or S3-compatible bucket).
    files: FileStore,
    /// How long a statement download link works.
    statement_link_ttl: chrono::Duration,
    /// Largest accepted file upload, in plaintext bytes.
    max_file_bytes: u64,
    /// The faces documents are set in (bundled, `--fonts-dir`, the system's).
    fonts: Arc<FontLibrary>,
    /// One permit per document being written (`--max-concurrent-documents`).
    documents: Arc<tokio::sync::Semaphore>,
    /// One permit per JWE being decrypted: two per core (`payload.rs`).
    decryptions: Arc<tokio::sync::Semaphore>,
    /// This instance's counters, shared with the HTTP layer.
    metrics: Arc<Metrics>,
    /// Turns `true` when a shutdown's drain timeout ran out: uploads still streaming
    /// stop and clean up after themselves.
    cut_off: tokio::sync::watch::Sender<bool>,
    /// Every client's quota as last learned from its token check.
    quotas: Arc<Quotas>,
    /// Claims checked on their own (before a body is read), many a query.
    claims: GroupCommit<ClaimChecks>,
    /// Callers whose claims passed a check in the last second (`claims.rs`).
    recent_callers: Arc<RecentCallers>,
    /// Audit records of reads, committed many a transaction.
    audit: GroupCommit<AuditRecords>,
    /// GET /users/{id}: reads and their audit records, many a transaction.
    user_reads: GroupCommit<UserReads>,
    /// POST /users: new users, many a transaction.
    registrations: GroupCommit<Registrations>,
}

impl Core {
    /// Checks `claim` on `connection` and records the limits its client has now.
    fn check(&self, claim: &Claim, connection: &mut DbConnection) -> Result<Caller, VaultError> {
        let caller = claim.check(connection, &self.keys.current().metadata)?;
        self.quotas
            .learn(claim.token.hash(), caller.client_id, caller.limits);
        Ok(caller)
    }
}

/// Committer threads per kind of group-committed work. One: while it waits for its
/// commit to reach the disk, the next requests gather into the next batch. A second
/// committer per kind made smaller batches and twice the thread wake-ups, and on two
/// cores cost more than it overlapped (POST /users 0.56–0.65 of the RSA ceiling with
/// two, 0.72–0.75 with one; BENCHMARKS.md, issue 16).
const COMMITTERS: usize = 1;

/// The kinds of group-committed work: token checks, audit records, user reads and
/// registrations.
const COMMITTER_KINDS: usize = 4;

impl Vault {
    /// Loads the keys (opening the token, when one is configured), brings the database
    /// (and a separate key store) up to date and opens the file store. Fails, and
    /// nothing is served, when a key or the token is missing or a database cannot be
    /// migrated.
    pub fn open(settings: &Settings) -> anyhow::Result<Self> {
        let places = KeyPlaces::open(&settings.keys_dir, &settings.master_keys)?;
        let keys = Arc::new(LiveKeys::load(places)?);
        db::run_migrations(&settings.database_url).context("preparing the database")?;
        let metrics = Arc::new(Metrics::new());
        let pool = db::pool_observed(
            &settings.database_url,
            &settings.pool,
            Box::new(metrics::PoolEvents(Arc::clone(&metrics))),
        );
        let data_keys = DataKeyStore::open(settings)?;
        let files = FileStore::open(&settings.files, &settings.data_dir)
            .context("opening the file store")?;
        let fonts = FontLibrary::shared(settings.fonts_dir.as_deref())
            .context("loading the fonts documents are set in")?;
        let quotas = Quotas::new(settings.instances);
        let data_key_cache = DataKeyCache::new(settings.data_key_cache);
        // One connection for each committer thread: none ever waits for one.
        let committer_pool = db::committer_pool(
            &settings.database_url,
            &PoolSettings {
                max_connections: u32::try_from(COMMITTER_KINDS * COMMITTERS)?,
                ..settings.pool.clone()
            },
            Box::new(metrics::PoolEvents(Arc::clone(&metrics))),
        );
        let committers = |what: &str| format!("starting the {what} committers");
        let recent_callers = Arc::new(RecentCallers::default());
        let claim_checks = ClaimChecks {
            quotas: Arc::clone(&quotas),
            keys: Arc::clone(&keys),
            recent: Arc::clone(&recent_callers),
        };
        let claims = GroupCommit::start(claim_checks.clone(), &committer_pool, COMMITTERS)
            .with_context(|| committers("claim check"))?;
        let audit = GroupCommit::start(AuditRecords, &committer_pool, COMMITTERS)
            .with_context(|| committers("audit record"))?;
        let user_reads = GroupCommit::start(
            UserReads {
                keys: Arc::clone(&keys),
                data_keys: data_keys.clone(),
                data_key_cache: Arc::clone(&data_key_cache),
                quotas: Arc::clone(&quotas),
            },
            &committer_pool,
            COMMITTERS,
        )
        .with_context(|| committers("user read"))?;
        let registrations = GroupCommit::start(
            Registrations::new(data_keys.clone(), claim_checks),
            &committer_pool,
            COMMITTERS,
        )
        .with_context(|| committers("registration"))?;
        let vault = Self {
            core: Arc::new(Core {
                pool,
                data_keys,
                keys,
                data_key_cache,
                files,
                statement_link_ttl: chrono::Duration::from_std(settings.statement_link_ttl)
                    .context("the statement link lifetime is out of range")?,
                max_file_bytes: settings.files.max_file_bytes,
                fonts,
                documents: documents::document_slots(settings.max_concurrent_documents),
                decryptions: payload::decryption_slots(),
                metrics,
                cut_off: tokio::sync::watch::Sender::new(false),
                quotas,
                claims,
                recent_callers,
                audit,
                user_reads,
                registrations,
            }),
        };
        vault.warn_if_unsealed();
        Ok(vault)
    }

    /// The live keys: the server keeps them fresh (`LiveKeys::watch`) and serves the
    /// public JWKS from them.
    pub fn keys(&self) -> &Arc<LiveKeys> {
        &self.core.keys
    }

    /// The cache of data keys a token unwrapped.
    pub fn data_key_cache(&self) -> &DataKeyCache {
        &self.core.data_key_cache
    }

    /// This instance's metrics: the HTTP layer counts requests in them.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.core.metrics
    }

    /// The end of a shutdown's drain: uploads still streaming are stopped, their
    /// objects removed and no row written (they answer 503 `unavailable`).
    pub fn cut_off_uploads(&self) {
        self.core.cut_off.send_replace(true);
    }

    /// Admits a request presenting `token` that costs `cost` units and decrypts a JWE
    /// when `decrypts` (`access::quota`), or refuses it because its client is over its
    /// quota. In memory, no database: call it before anything else, and hold the
    /// permit until the response is sent.
    pub fn admit(&self, token: &BearerToken, cost: u32, decrypts: bool) -> Result<Permit, Refusal> {
        self.core.quotas.admit(token.hash(), cost, decrypts)
    }

    /// Settles the failure budget of the client presenting `token` once a request of it
    /// that had a JWE to decrypt is answered: whether its permit reserved a failure,
    /// and whether the JWE failed (`access::quota`).
    pub fn settle_jwe(&self, token: &BearerToken, reserved: bool, failed: bool) {
        self.core.quotas.settle_jwe(token.hash(), reserved, failed);
    }

    /// Whether the database answers (readiness).
    pub async fn ping(&self) -> Result<(), VaultError> {
        self.with_connection(|_, connection| {
            diesel::connection::SimpleConnection::batch_execute(connection, "SELECT 1")
                .map_err(|error| VaultError::from(db::DbError::from(error)))
        })
        .await
    }

    /// Runs `work` on a blocking thread. It starts at once (not when the future is
    /// first polled), so a caller can let it run while it does something else. It runs
    /// in the caller's span, so what it logs names the request it works for.
    fn blocking<T, F>(&self, work: F) -> impl Future<Output = Result<T, VaultError>> + 'static
    where
        T: Send + 'static,
        F: FnOnce(&Core) -> Result<T, VaultError> + Send + 'static,
    {
        let core = Arc::clone(&self.core);
        let queued = core.metrics.blocking_queued();
        let span = tracing::Span::current();
        let task = tokio::task::spawn_blocking(move || {
            priority::lower_blocking_thread();
            let _running = queued.start();
            span.in_scope(|| work(&core))
        });
        async move {
            task.await
                .map_err(|_| VaultError::Internal(anyhow::anyhow!("a blocking task failed")))?
        }
    }

    /// Runs `work` on one pooled connection, on a blocking thread.
    fn with_connection<T, F>(
        &self,
        work: F,
    ) -> impl Future<Output = Result<T, VaultError>> + 'static
    where
        T: Send + 'static,
        F: FnOnce(&Core, &mut DbConnection) -> Result<T, VaultError> + Send + 'static,
    {
        self.blocking(move |core| db::run(&core.pool, |connection| work(core, connection)))
    }

    /// Runs `work` for the client `claim` names, after checking the claim on the same
    /// connection (one check-out, one trip). The check teaches the quotas the client's
    /// current limits.
    fn as_client<T, F>(
        &self,
        claim: Claim,
        work: F,
    ) -> impl Future<Output = Result<T, VaultError>> + 'static
    where
        T: Send + 'static,
        F: FnOnce(&Core, &mut DbConnection, &Caller) -> Result<T, VaultError> + Send + 'static,
    {
        self.with_connection(move |core, connection| {
            let caller = core.check(&claim, connection)?;
            work(core, connection, &caller)
        })
    }
}
