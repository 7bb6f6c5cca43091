//! The blocking threads run below the threads that many requests wait on. Under load
//! the two cores are shared by work of two kinds: long CPU-bound steps that one
//! request waits on (an RSA decryption, sealing, a PDF page, a file segment), on the
//! blocking threads; and short steps that gate many requests at once (an HTTP worker
//! parsing and answering, a committer whose one transaction holds a batch of them,
//! and PostgreSQL's backend running it). At equal priority a short step woken while
//! the long ones run waits its turn behind them, and so does every request it gates:
//! that wait was the tail of POST /users (BENCHMARKS.md, issue 16). At nice
//! [`BLOCKING_NICE`] the blocking threads yield the core to the short steps as they
//! wake and still get all the time those leave, which is most of it.
//!
//! A thread may raise its own nice value but not lower it back without privilege, so
//! a blocking thread is lowered once, the first time it runs a task, for good; on
//! Linux the nice value is a thread's own (elsewhere it would be the process's, and
//! nothing is changed).

use std::cell::Cell;

/// The nice value of the blocking threads (the HTTP workers and committers keep 0).
pub const BLOCKING_NICE: i32 = 5;

thread_local! {
    static LOWERED: Cell<bool> = const { Cell::new(false) };
}

/// Lowers the calling blocking thread to [`BLOCKING_NICE`] (unless it already runs
/// lower: a service started with `nice`), once.
pub fn lower_blocking_thread() {
    LOWERED.with(|lowered| {
        if lowered.replace(true) {
            return;
        }
        #[cfg(target_os = "linux")]
        {
            use rustix::process::{getpriority_process, setpriority_process};
            let lowering = getpriority_process(None).and_then(|nice| {
                if nice < BLOCKING_NICE {
                    setpriority_process(None, BLOCKING_NICE)
                } else {
                    Ok(())
                }
            });
            if let Err(error) = lowering {
                tracing::debug!(%error, "could not lower a blocking thread's priority");
            }
        }
    });
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn a_blocking_thread_is_lowered_once_and_others_are_not() {
        let before = rustix::process::getpriority_process(None).unwrap();
        let lowered = std::thread::spawn(|| {
            lower_blocking_thread();
            lower_blocking_thread();
            rustix::process::getpriority_process(None).unwrap()
        })
        .join()
        .unwrap();
        assert_eq!(lowered, before.max(BLOCKING_NICE));
        assert_eq!(rustix::process::getpriority_process(None).unwrap(), before);
    }
}
