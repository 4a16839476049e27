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
pub fn map<T, R, F>(items: &[T], f: F) -> Result<Vec<R>>
where
    T: Sync,
    R: Send,
    F: Fn(&T) -> Result<R> + Sync,
{
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .clamp(1, MAX_THREADS);
    if threads == 1 || items.len() < 2 {
        return items.iter().map(&f).collect();
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
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(MigrateError::Panicked {
                        what: "a thread of a file batch",
                        detail: "no detail".into(),
                    })
                })
            })
            .collect()
    });
    let mut out = Vec::with_capacity(items.len());
    for part in parts {
        out.extend(part?);
    }
    Ok(out)
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
    fn empty_and_single_batches_need_no_thread() {
        let none: Vec<u32> = Vec::new();
        assert!(map(&none, |i| Ok(*i)).unwrap().is_empty());
        assert_eq!(map(&[7u32], |i| Ok(*i + 1)).unwrap(), vec![8]);
    }
}
