//! Group commit: units of work from concurrent requests that each need a commit (the
//! audit record of a read, a new user) are gathered and written together, in one
//! database transaction, by committer threads of their own. A request's answer waits
//! for the commit of the transaction that holds its unit, so nothing is answered
//! before it is durable; a transaction that fails fails exactly the units it held,
//! each with the error.
//!
//! Why: with fsync on, every commit waits for the database to flush its log to disk,
//! and each transaction costs the database a statement, a commit record and a round
//! trip whatever it writes. One transaction for the requests that arrived while the
//! previous one committed pays that once for all of them (BENCHMARKS.md).
//!
//! There is no timer: a free committer takes whatever is waiting, so under light load
//! a batch is one unit and nothing waits for company, and under load batches grow to
//! what arrived during the previous commit. Committers are threads of their own, not
//! the runtime's blocking threads: a request waiting for its commit holds no thread,
//! and RSA or PDF work never queues behind a disk flush.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use super::VaultError;
use crate::db::{self, DbConnection, DbPool};

/// The most units one transaction holds: bounds a transaction's size and how long a
/// batch that fails takes, far above what a pool's worth of concurrent requests fills.
const MAX_UNITS: usize = 512;

/// One kind of work that can be committed many units at a time.
pub(crate) trait Batch: Send + Sync + 'static {
    type Unit: Send + 'static;
    type Outcome: Send + 'static;

    /// The committer threads' name (as `ps`, `top` and `perf` show it).
    const THREAD_NAME: &'static str;

    /// Writes `units` in one transaction on `connection` and commits it; returns one
    /// outcome per unit, in order, only once committed. An error fails every unit.
    fn commit(
        &self,
        connection: &mut DbConnection,
        units: Vec<Self::Unit>,
    ) -> Result<Vec<Self::Outcome>, VaultError>;
}

/// The queue of one kind of work and its committers. Dropping it lets the committers
/// finish what is queued, and waits for them to stop.
pub(crate) struct GroupCommit<B: Batch> {
    shared: Arc<Shared<B>>,
    committers: Vec<JoinHandle<()>>,
}

struct Shared<B: Batch> {
    queue: Mutex<Queue<B>>,
    /// Signalled when a unit is queued, and when the queue closes.
    ready: Condvar,
}

struct Queue<B: Batch> {
    waiting: Vec<Waiting<B>>,
    closed: bool,
}

/// Where the outcome of a unit goes.
pub(crate) type Answer<B> = oneshot::Sender<Result<<B as Batch>::Outcome, VaultError>>;

/// A queued unit and where its outcome goes.
struct Waiting<B: Batch> {
    unit: B::Unit,
    answer: Answer<B>,
}

impl<B: Batch> GroupCommit<B> {
    /// Starts `committers` threads that commit `batch`'s work on connections of `pool`
    /// (one connection per transaction; the service gives the committers a pool of
    /// their own, `db::committer_pool`).
    pub fn start(batch: B, pool: &DbPool, committers: usize) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                waiting: Vec::new(),
                closed: false,
            }),
            ready: Condvar::new(),
        });
        let batch = Arc::new(batch);
        let committers = (0..committers.max(1))
            .map(|number| {
                let shared = Arc::clone(&shared);
                let batch = Arc::clone(&batch);
                let pool = pool.clone();
                std::thread::Builder::new()
                    .name(format!("{}-{number}", B::THREAD_NAME))
                    .spawn(move || commit_until_closed(&shared, batch.as_ref(), &pool))
            })
            .collect::<std::io::Result<_>>()?;
        Ok(Self { shared, committers })
    }

    /// Queues `unit` and waits until the transaction holding it has committed; its
    /// outcome then, or the error that failed that transaction.
    pub async fn commit(&self, unit: B::Unit) -> Result<B::Outcome, VaultError> {
        let (answer, outcome) = oneshot::channel();
        self.submit(unit, answer);
        outcome.await.map_err(|_| stopped())?
    }

    /// Queues `unit`; `answer` gets its outcome once the transaction holding it has
    /// committed, or the error that failed that transaction. For a unit prepared on
    /// another thread than the one waiting for it: the preparing thread queues it, and
    /// the waiting one is woken once, by the outcome.
    pub fn submit(&self, unit: B::Unit, answer: Answer<B>) {
        {
            let mut queue = lock(&self.shared.queue);
            if !queue.closed {
                queue.waiting.push(Waiting { unit, answer });
                drop(queue);
                self.shared.ready.notify_one();
                return;
            }
        }
        let _ = answer.send(Err(stopped()));
    }
}

/// Waits for the committers, so that what they hold (the batch, and with it the key
/// ring) is dropped before the owner goes on. Without the wait, a command that returns
/// from `main` races its committers' last drops against the process's exit handlers:
/// a PKCS#11 module torn down by its own exit handler while a committer closes the
/// token's sessions crashes the process (SoftHSM does, at random).
impl<B: Batch> Drop for GroupCommit<B> {
    fn drop(&mut self) {
        lock(&self.shared.queue).closed = true;
        self.shared.ready.notify_all();
        let current = std::thread::current().id();
        for committer in self.committers.drain(..) {
            // A committer that holds the last owner cannot wait for itself.
            if committer.thread().id() != current {
                let _ = committer.join();
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A committer that panicked left the queue itself consistent (it only pushes and
    // drains), so a poisoned lock is still a usable one.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn stopped() -> VaultError {
    VaultError::Internal(anyhow::anyhow!("the committer stopped"))
}

/// A committer: takes what waits, commits it, answers each unit; until the queue is
/// closed and empty.
fn commit_until_closed<B: Batch>(shared: &Shared<B>, batch: &B, pool: &DbPool) {
    loop {
        let taken: Vec<Waiting<B>> = {
            let mut queue = lock(&shared.queue);
            while queue.waiting.is_empty() && !queue.closed {
                queue = shared
                    .ready
                    .wait(queue)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            if queue.waiting.is_empty() {
                return;
            }
            let count = queue.waiting.len().min(MAX_UNITS);
            queue.waiting.drain(..count).collect()
        };
        let (units, answers): (Vec<B::Unit>, Vec<_>) = taken
            .into_iter()
            .map(|waiting| (waiting.unit, waiting.answer))
            .unzip();
        let count = units.len();
        let outcomes = db::run(pool, |connection| batch.commit(connection, units));
        match outcomes {
            Ok(outcomes) if outcomes.len() == count => {
                for (answer, outcome) in answers.into_iter().zip(outcomes) {
                    // A request that went away does not want its outcome; its unit
                    // is committed all the same.
                    let _ = answer.send(Ok(outcome));
                }
            }
            Ok(outcomes) => {
                let error = VaultError::Internal(anyhow::anyhow!(
                    "{} outcomes for {count} units",
                    outcomes.len()
                ));
                fail_all(answers, &error);
            }
            Err(error) => fail_all(answers, &error),
        }
    }
}

/// Gives every unit of a failed transaction the error (each its own copy).
fn fail_all<T>(answers: Vec<oneshot::Sender<Result<T, VaultError>>>, error: &VaultError) {
    tracing::warn!(units = answers.len(), %error, "a group commit failed");
    for answer in answers {
        let _ = answer.send(Err(error.shared_copy()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PoolSettings;

    /// Commits nothing: doubles each number, fails a transaction holding 13, and
    /// remembers which units each transaction held.
    struct Doubling {
        transactions: Arc<Mutex<Vec<Vec<u32>>>>,
    }

    impl Batch for Doubling {
        type Unit = u32;
        type Outcome = u32;
        const THREAD_NAME: &'static str = "test-committer";

        fn commit(&self, _: &mut DbConnection, units: Vec<u32>) -> Result<Vec<u32>, VaultError> {
            lock(&self.transactions).push(units.clone());
            // Long enough for the others to queue up behind this transaction.
            std::thread::sleep(std::time::Duration::from_millis(20));
            if units.contains(&13) {
                return Err(VaultError::Unavailable("thirteen".to_owned()));
            }
            Ok(units.into_iter().map(|n| n * 2).collect())
        }
    }

    /// 40 units committed concurrently through one committer; the transactions it ran.
    fn commit_forty() -> (Vec<Result<u32, VaultError>>, Vec<Vec<u32>>) {
        let dir = tempfile::tempdir().unwrap();
        let url = dir
            .path()
            .join("test.sqlite3")
            .to_string_lossy()
            .into_owned();
        let pool = db::pool(&url, &PoolSettings::default());
        let transactions = Arc::new(Mutex::new(Vec::new()));
        let batch = Doubling {
            transactions: Arc::clone(&transactions),
        };
        let group = GroupCommit::start(batch, &pool, 1).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let outcomes = runtime.block_on(async {
            let first = group.commit(0);
            let rest = async {
                // Once the committer is busy with 0, the others queue up behind it.
                while lock(&transactions).is_empty() {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                futures_util::future::join_all((1..40).map(|n| group.commit(n))).await
            };
            let (first, rest) = futures_util::future::join(first, rest).await;
            std::iter::once(first).chain(rest).collect::<Vec<_>>()
        });
        drop(group);
        let held = lock(&transactions).clone();
        (outcomes, held)
    }

    #[test]
    fn concurrent_units_share_transactions_and_a_failed_one_fails_exactly_its_units() {
        let (outcomes, transactions) = commit_forty();
        assert!(
            transactions.len() < 40,
            "40 units in {} transactions",
            transactions.len()
        );
        let mut held: Vec<u32> = transactions.iter().flatten().copied().collect();
        held.sort_unstable();
        assert_eq!(
            held,
            (0..40).collect::<Vec<_>>(),
            "each unit in one transaction"
        );
        let failed: &Vec<u32> = transactions
            .iter()
            .find(|units| units.contains(&13))
            .unwrap();
        for (n, outcome) in (0..40).zip(outcomes) {
            if failed.contains(&n) {
                assert!(
                    matches!(outcome, Err(VaultError::Unavailable(_))),
                    "{n} shared the failed transaction"
                );
            } else {
                assert_eq!(outcome.unwrap(), n * 2, "{n} committed elsewhere");
            }
        }
        assert!(failed.len() < 40, "other transactions committed");
    }
}
