//! Independent pieces of work on several threads, results in input order.
//!
//! # Where the time goes, and why this shape
//!
//! A dry run is mostly waiting on the kernel: per archive a directory listing and an
//! `lstat` of `METADATA`, per pointer a small read (the inventory); per installed dist an
//! `lstat` and sometimes two small reads (venv matching); per file of a dead archive an
//! `lstat` (the candidate walk, which counts the bytes). Each of those is independent of the others,
//! touches no shared state, and is cheap (microseconds), so the only thing that pays is
//! running many of them at once: on a warm page cache that is CPU time in the kernel, and
//! it scales with cores; on a cold one, several requests in flight keep the disk busy.
//!
//! So each stage first lists its work (archive directories, venvs, candidates), then
//! [`map`] hands the items to `threads` scoped threads through one atomic counter (an item
//! is taken when a thread is free, so a 50,000-file archive does not hold up the rest),
//! and gives the results back **in input order**. The stage then folds them in exactly as
//! the single-threaded code did: evidence, warnings and the report come out the same,
//! byte for byte, on 1 thread or 64, which the tests check.
//!
//! Why not a crate: scoped threads and an atomic counter are all this needs, the work
//! items are coarse (one archive, one venv), and nothing here nests. A work-stealing pool
//! (rayon) would add four crates to a tool that runs from git hooks, for no gain at this
//! grain. The one walk whose items are too uneven for this, the candidates' (one archive
//! can hold 20,000 files), splits by directory instead, on `walk::run`'s work stack
//! (`measure`).

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicUsize, Ordering};

/// How many threads the parallel stages use (`--threads`); at least one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Threads(NonZeroUsize);

impl Threads {
    /// One per core, as the OS reports them (one if it cannot say).
    pub fn all_cores() -> Self {
        Self(std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN))
    }

    /// Exactly `n` threads.
    pub fn new(n: NonZeroUsize) -> Self {
        Self(n)
    }

    /// The count.
    pub fn get(self) -> usize {
        self.0.get()
    }
}

impl Default for Threads {
    fn default() -> Self {
        Self::all_cores()
    }
}

/// `f` of every item, on up to `threads` threads, in the order of `items`.
pub(crate) fn map<T: Sync, R: Send>(
    threads: Threads,
    items: &[T],
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    map_with(threads, items, || (), |(), item| f(item))
}

/// Like [`map`], with per-thread state made by `init` (a cache each thread fills on its
/// own, so that no lock is taken per item).
pub(crate) fn map_with<T: Sync, R: Send, S>(
    threads: Threads,
    items: &[T],
    init: impl Fn() -> S + Sync,
    f: impl Fn(&mut S, &T) -> R + Sync,
) -> Vec<R> {
    let workers = threads.get().min(items.len());
    if workers <= 1 {
        let mut state = init();
        return items.iter().map(|item| f(&mut state, item)).collect();
    }
    let next = AtomicUsize::new(0);
    let work = || {
        let mut state = init();
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(item) = items.get(i) else {
                return done;
            };
            done.push((i, f(&mut state, item)));
        }
    };
    let mut slots: Vec<Option<R>> = std::iter::repeat_with(|| None).take(items.len()).collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers).map(|_| scope.spawn(work)).collect();
        for handle in handles {
            // A panic in a worker is a bug; carry it on in this thread, as if sequential.
            let done = handle
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            for (i, result) in done {
                slots[i] = Some(result);
            }
        }
    });
    // Every index below `items.len()` was taken by exactly one worker, which returned it.
    slots.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_back_in_input_order_on_any_number_of_threads() {
        let items: Vec<u64> = (0..1000).collect();
        // Uneven work, so that threads finish out of order.
        let slow_square = |n: &u64| {
            if n.is_multiple_of(7) {
                std::thread::sleep(std::time::Duration::from_micros(200));
            }
            n * n
        };
        let expected: Vec<u64> = items.iter().map(|n| n * n).collect();
        for n in [1, 2, 3, 8, 2000] {
            let threads = Threads::new(NonZeroUsize::new(n).unwrap());
            assert_eq!(map(threads, &items, slow_square), expected, "{n} threads");
        }
        assert!(map(Threads::all_cores(), &[] as &[u64], slow_square).is_empty());
    }

    #[test]
    fn each_thread_has_its_own_state() {
        let items = vec![1u32; 100];
        let threads = Threads::new(NonZeroUsize::new(4).unwrap());
        // The state counts items per thread; every count is that thread's own.
        let counts = map_with(
            threads,
            &items,
            || 0u32,
            |seen, _| {
                *seen += 1;
                *seen
            },
        );
        assert_eq!(counts.len(), 100);
        assert!(counts.iter().all(|c| (1..=100).contains(c)));
    }
}
