//! Work on many files shared out over the machine's cores: a batch of
//! rewrites is staged, put in place and kept in the backup a chunk per
//! thread. One place decides how many threads and what a panic becomes.

use crate::error::{MigrateError, Result};

/// Threads a batch uses at most: file work is mostly the kernel's, and
/// more threads than this only contend for the same folders.
const MAX_THREADS: usize = 4;

/// `f` of every item, in the items' order, worked out on up to
/// [`MAX_THREADS`] threads, each taking a run of items in order and
/// stopping at its first error. An error fails the whole; the items other
/// threads had done by then stay done (every caller's work is one the
/// journal can undo item by item). A batch too small to share is done
/// here, on this thread.
///
/// This thread only waits for the others. Measured on the bench's
/// 10,000-model adoption: a caller that took the first run itself made
/// it slower (0.71 to 0.76 s against 0.62 to 0.63 s), the new thread
/// waiting for the core the caller kept; threads started once and kept
/// for every batch made no difference that rose above the noise.
pub fn map<T, R, F>(items: &[T], f: F) -> Result<Vec<R>>
where
    T: Sync,
    R: Send,
    F: Fn(&T) -> Result<R> + Sync,
{
    let threads = threads();
    if threads == 1 || items.len() < 2 {
        // A panic here is the batch's error, as in any other thread.
        return std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            items.iter().map(&f).collect()
        }))
        .unwrap_or_else(|_| Err(panicked()));
    }
    let chunk = items.len().div_ceil(threads);
    let f = &f;
    let parts: Vec<Result<Vec<R>>> = std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| s.spawn(move || part.iter().map(f).collect::<Result<Vec<R>>>()))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(panicked())))
            .collect()
    });
    let mut out = Vec::with_capacity(items.len());
    for part in parts {
        out.extend(part?);
    }
    Ok(out)
}

/// How many threads a batch is shared out over: the cores this process
/// may run on (asked once), at most [`MAX_THREADS`].
fn threads() -> usize {
    static THREADS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *THREADS.get_or_init(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
            .clamp(1, MAX_THREADS)
    })
}

fn panicked() -> MigrateError {
    MigrateError::Panicked {
        what: "a thread of a file batch",
        detail: "no detail".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_back_in_the_items_order() {
        let items: Vec<u32> = (0..1000).collect();
        let out = map(&items, |i| Ok(i * 2)).unwrap();
        assert_eq!(out, items.iter().map(|i| i * 2).collect::<Vec<_>>());
    }

    #[test]
    fn an_error_of_any_item_is_the_batch_error() {
        let items: Vec<u32> = (0..1000).collect();
        let err = map(&items, |i| {
            if *i == 977 {
                Err(MigrateError::Refused(format!("item {i}")))
            } else {
                Ok(())
            }
        })
        .unwrap_err();
        assert!(err.to_string().contains("item 977"), "{err}");
    }

    #[test]
    fn a_panic_in_any_run_is_the_batch_error() {
        let items: Vec<u32> = (0..1000).collect();
        // The first run, the last, a batch of one (done here alone).
        for (items, at) in [(&items[..], 3), (&items[..], 997), (&items[5..6], 5)] {
            let err = map(items, |i| {
                if *i == at {
                    panic!("item {i}");
                }
                Ok(())
            })
            .unwrap_err();
            assert!(matches!(err, MigrateError::Panicked { .. }), "{err}");
        }
    }

    #[test]
    fn empty_and_single_batches_need_no_thread() {
        let none: Vec<u32> = Vec::new();
        assert!(map(&none, |i| Ok(*i)).unwrap().is_empty());
        assert_eq!(map(&[7u32], |i| Ok(*i + 1)).unwrap(), vec![8]);
    }
}
