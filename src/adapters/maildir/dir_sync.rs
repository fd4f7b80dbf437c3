//! Group fsync of one directory: deliveries that renamed a message into `new/` at about the
//! same time share one `fsync` of the directory instead of one each.
//!
//! A caller takes a ticket after its rename; it returns once a sync that *started after* its
//! ticket was taken has finished, so that sync covers its rename. While one sync runs, later
//! callers wait and the first of them to find none running starts the next one for all of them.
//! A failed sync fails only its own caller; the others start a sync of their own, and each gets
//! that sync's outcome.

use std::io;
use std::sync::{Condvar, Mutex, PoisonError};

/// Shares the syncs of one directory between the threads that wait for them.
#[derive(Debug, Default)]
pub(super) struct GroupSync {
    state: Mutex<State>,
    finished: Condvar,
}

#[derive(Debug, Default)]
struct State {
    /// Tickets handed out so far.
    taken: u64,
    /// Every ticket up to this one is covered by a finished sync.
    covered: u64,
    syncing: bool,
}

impl GroupSync {
    /// Returns once a sync that started after this call has made the caller's earlier
    /// changes to the directory durable. `sync` syncs the directory; every caller passes the
    /// same one, and whichever caller runs the next sync runs its own.
    pub(super) fn sync_after_change(&self, sync: impl Fn() -> io::Result<()>) -> io::Result<()> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.taken += 1;
        let ticket = state.taken;
        loop {
            if state.covered >= ticket {
                return Ok(());
            }
            if !state.syncing {
                state.syncing = true;
                let covers = state.taken;
                drop(state);
                let result = sync();
                state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
                state.syncing = false;
                if result.is_ok() {
                    state.covered = state.covered.max(covers);
                }
                self.finished.notify_all();
                result?;
                continue;
            }
            state = self
                .finished
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
    use std::sync::{Arc, Barrier};
    use std::time::Duration;

    /// A logical clock, so "started after" needs no wall time.
    #[derive(Default)]
    struct Log {
        clock: AtomicU64,
        /// (started, finished) of every sync.
        syncs: Mutex<Vec<(u64, u64)>>,
    }

    impl Log {
        fn tick(&self) -> u64 {
            self.clock.fetch_add(1, Ordering::SeqCst)
        }
    }

    #[test]
    fn concurrent_callers_share_syncs_and_each_waits_for_one_started_after_it() {
        const CALLERS: usize = 8;
        let log = Arc::new(Log::default());
        let group = Arc::new(GroupSync::default());
        let barrier = Arc::new(Barrier::new(CALLERS));
        let callers: Vec<_> = (0..CALLERS)
            .map(|_| {
                let (group, log, barrier) = (group.clone(), log.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    let called = log.tick();
                    let sync = || {
                        let started = log.tick();
                        std::thread::sleep(Duration::from_millis(20));
                        let finished = log.tick();
                        log.syncs.lock().unwrap().push((started, finished));
                        Ok(())
                    };
                    group.sync_after_change(sync).expect("synced");
                    (called, log.tick())
                })
            })
            .collect();
        let calls: Vec<(u64, u64)> = callers.into_iter().map(|c| c.join().unwrap()).collect();
        let syncs = log.syncs.lock().unwrap().clone();
        for (called, returned) in calls {
            assert!(
                syncs
                    .iter()
                    .any(|&(started, finished)| started > called && finished < returned),
                "a call at {called} returned at {returned} without a sync started after it: {syncs:?}"
            );
        }
        assert!(
            syncs.len() < CALLERS,
            "{CALLERS} callers at once took {} syncs",
            syncs.len()
        );
    }

    #[test]
    fn a_failed_sync_fails_its_caller_and_the_next_caller_syncs_again() {
        let attempts = AtomicUsize::new(0);
        let sync = || {
            if attempts.fetch_add(1, Ordering::SeqCst) == 0 {
                Err(io::Error::other("disk on fire"))
            } else {
                Ok(())
            }
        };
        let group = GroupSync::default();
        let error = group
            .sync_after_change(sync)
            .expect_err("the first sync fails");
        assert_eq!(error.to_string(), "disk on fire");
        group
            .sync_after_change(sync)
            .expect("the second sync works");
        assert_eq!(attempts.load(Ordering::SeqCst), 2);
    }
}
