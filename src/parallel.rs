//! Splitting CPU-bound work over the machine's cores with scoped threads (no thread pool to keep alive): used where
//! one pass over 50,000 items is on the operator's critical path, such as a warm start.

/// Apply `f` to contiguous chunks of `items`, one chunk per core, and return the results in order.
pub fn map_chunks<T: Sync, R: Send>(items: &[T], f: impl Fn(&[T]) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(8);
    // Below a few thousand items a thread costs more than it saves.
    if threads < 2 || items.len() < 4_096 {
        return vec![f(items)];
    }
    let size = items.len().div_ceil(threads);
    std::thread::scope(|s| {
        let f = &f;
        let handles: Vec<_> = items.chunks(size).map(|c| s.spawn(move || f(c))).collect();
        handles
            .into_iter()
            .map(|h| match h.join() {
                Ok(r) => r,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn results_keep_their_order() {
        let items: Vec<u32> = (0..10_000).collect();
        let sums = super::map_chunks(&items, |c| c.iter().map(|&x| x as u64).sum::<u64>());
        assert_eq!(sums.iter().sum::<u64>(), (0..10_000u64).sum::<u64>());
        let firsts: Vec<u32> = super::map_chunks(&items, |c| c[0]);
        assert!(firsts.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(super::map_chunks(&items[..10], |c| c.len()), vec![10]);
    }
}
