//! Work items on every core: how the bench writes a million small files in minutes.
//!
//! Creating a file costs tens of microseconds of kernel time on the VMs this runs on, so
//! the writers spread the work over every core: each thread takes the next item from a
//! shared atomic counter, so a few large items (callers put them first) do not leave one
//! thread working alone at the end.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use anyhow::{Result, anyhow};

/// Runs `work` on every item, on every core; the first error stops the others early.
pub(super) fn parallel<T: Sync>(items: &[T], work: impl Fn(&T) -> Result<()> + Sync) -> Result<()> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (next, failed) = (AtomicUsize::new(0), AtomicBool::new(false));
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| -> Result<()> {
                    while !failed.load(Ordering::Relaxed) {
                        let Some(item) = items.get(next.fetch_add(1, Ordering::Relaxed)) else {
                            break;
                        };
                        if let Err(err) = work(item) {
                            failed.store(true, Ordering::Relaxed);
                            return Err(err);
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        workers.into_iter().try_for_each(|worker| {
            worker
                .join()
                .map_err(|_| anyhow!("a writer thread panicked"))?
        })
    })
}
