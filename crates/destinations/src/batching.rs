//! Splitting bulk requests by the vendor's item and byte limits, and grouping items that must
//! travel in separate requests (e.g. Constant Contact imports apply one set of lists to every
//! contact of a request).
//!
//! Everything works on item indices, so outcomes map back to the caller's items.

use std::collections::BTreeMap;

use serde::Serialize;

/// One bulk endpoint's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLimits {
    pub max_items: usize,
    /// Largest request body in bytes, envelope included.
    pub max_bytes: usize,
}

/// Chunks of item indices, and the items too big to travel even alone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Split {
    pub chunks: Vec<Vec<usize>>,
    pub oversized: Vec<usize>,
}

/// Splits `indices` (in order) into chunks of at most `max_items` whose bodies stay within
/// `max_bytes`: `envelope` bytes of fixed JSON around the array, each item's `size`, and one
/// comma between items.
pub fn split(
    indices: &[usize],
    size: impl Fn(usize) -> usize,
    envelope: usize,
    limits: BatchLimits,
) -> Split {
    let mut out = Split::default();
    let mut chunk: Vec<usize> = Vec::new();
    let mut bytes = envelope;
    for &i in indices {
        let item = size(i);
        if envelope + item > limits.max_bytes {
            out.oversized.push(i);
            continue;
        }
        let separator = usize::from(!chunk.is_empty());
        if !chunk.is_empty()
            && (chunk.len() >= limits.max_items || bytes + separator + item > limits.max_bytes)
        {
            out.chunks.push(std::mem::take(&mut chunk));
            bytes = envelope;
        }
        bytes += usize::from(!chunk.is_empty()) + item;
        chunk.push(i);
    }
    if !chunk.is_empty() {
        out.chunks.push(chunk);
    }
    out
}

/// The JSON size of each value (a value that cannot be encoded counts as infinitely large, so it
/// ends up in [`Split::oversized`]).
pub fn json_sizes<T: Serialize>(values: &[T]) -> Vec<usize> {
    values
        .iter()
        .map(|v| serde_json::to_vec(v).map_or(usize::MAX / 2, |b| b.len()))
        .collect()
}

/// Groups indices by a key, keeping each group's indices in input order.
pub fn group_by<K: Ord>(
    indices: impl IntoIterator<Item = usize>,
    key: impl Fn(usize) -> K,
) -> BTreeMap<K, Vec<usize>> {
    let mut groups: BTreeMap<K, Vec<usize>> = BTreeMap::new();
    for i in indices {
        groups.entry(key(i)).or_default().push(i);
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn splits_by_count() {
        let idx: Vec<usize> = (0..7).collect();
        let s = split(
            &idx,
            |_| 10,
            2,
            BatchLimits {
                max_items: 3,
                max_bytes: 1_000,
            },
        );
        assert_eq!(s.chunks, vec![vec![0, 1, 2], vec![3, 4, 5], vec![6]]);
        assert!(s.oversized.is_empty());
    }

    #[test]
    fn splits_by_bytes_counting_envelope_and_commas() {
        // envelope 10 + 3 items of 30 + 2 commas = 102 > 100: the third goes to the next chunk.
        let idx: Vec<usize> = (0..3).collect();
        let s = split(
            &idx,
            |_| 30,
            10,
            BatchLimits {
                max_items: 100,
                max_bytes: 100,
            },
        );
        assert_eq!(s.chunks, vec![vec![0, 1], vec![2]]);
        // Exactly at the limit fits: 10 + 30 + 1 + 30 + 1 + 28 = 100.
        let sizes = [30, 30, 28];
        let s = split(
            &idx,
            |i| sizes[i],
            10,
            BatchLimits {
                max_items: 100,
                max_bytes: 100,
            },
        );
        assert_eq!(s.chunks, vec![vec![0, 1, 2]]);
    }

    #[test]
    fn oversized_items_are_set_aside() {
        let sizes = [10, 500, 10];
        let s = split(
            &[0, 1, 2],
            |i| sizes[i],
            5,
            BatchLimits {
                max_items: 10,
                max_bytes: 100,
            },
        );
        assert_eq!(s.chunks, vec![vec![0, 2]]);
        assert_eq!(s.oversized, vec![1]);
    }

    #[test]
    fn groups_keep_order() {
        let keys = ["b", "a", "b", "a"];
        let g = group_by(0..4, |i| keys[i]);
        assert_eq!(g["a"], vec![1, 3]);
        assert_eq!(g["b"], vec![0, 2]);
    }

    proptest! {
        /// Every item lands exactly once, order is kept, and every chunk honours both limits.
        #[test]
        fn chunks_respect_limits(
            sizes in proptest::collection::vec(1usize..400, 0..200),
            max_items in 1usize..20,
            max_bytes in 50usize..2_000,
            envelope in 0usize..40,
        ) {
            let idx: Vec<usize> = (0..sizes.len()).collect();
            let limits = BatchLimits { max_items, max_bytes };
            let s = split(&idx, |i| sizes[i], envelope, limits);
            let mut seen: Vec<usize> = s.chunks.iter().flatten().copied().chain(s.oversized.iter().copied()).collect();
            seen.sort_unstable();
            prop_assert_eq!(seen, idx.clone());
            let flat: Vec<usize> = s.chunks.iter().flatten().copied().collect();
            prop_assert!(flat.windows(2).all(|w| w[0] < w[1]));
            for c in &s.chunks {
                prop_assert!(!c.is_empty() && c.len() <= max_items);
                let body = envelope + c.iter().map(|&i| sizes[i]).sum::<usize>() + c.len() - 1;
                prop_assert!(body <= max_bytes, "{} > {}", body, max_bytes);
            }
            for &o in &s.oversized {
                prop_assert!(envelope + sizes[o] > max_bytes);
            }
        }
    }
}
