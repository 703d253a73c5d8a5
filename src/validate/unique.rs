//! The keys already seen by one `unique` rule: the only state of validation that grows with the
//! input, so it is kept compact and probed cache-friendly.
//!
//! Key bytes live back to back in an arena; a hash table holds only an index per key, and each
//! key's hash is kept so that growing a table never hashes a key again. For a million 12-byte
//! keys that is about 50 MB, against well over 100 MB for a `HashMap<Box<str>, u64>`.
//!
//! A chunk's keys are probed partition by partition (256 partitions on middle bits of the
//! hash): a million keys in one table means two cache misses per probe, while one partition's
//! table stays small enough to be cached while the chunk's keys for it are probed.

use std::hash::BuildHasher;

use hashbrown::HashTable;
use hashbrown::hash_table::Entry;

const PARTITIONS: usize = 256;

/// One partition: keys whose hash falls in it.
#[derive(Default)]
struct Part {
    table: HashTable<u32>,
    arena: Vec<u8>,
    /// End offset in `arena` of each key (key `i` starts where key `i - 1` ends).
    ends: Vec<usize>,
    hashes: Vec<u64>,
    rows: Vec<u64>,
}

impl Part {
    fn first_row(&mut self, hash: u64, key: &[u8], row: u64) -> Option<u64> {
        let Part {
            table,
            arena,
            ends,
            hashes,
            rows,
        } = self;
        let bytes = |i: u32| {
            let i = i as usize;
            &arena[if i == 0 { 0 } else { ends[i - 1] }..ends[i]]
        };
        let known = &*hashes;
        // One probe: find the key or the slot for it.
        match table.entry(hash, |&i| bytes(i) == key, |&j| known[j as usize]) {
            Entry::Occupied(e) => Some(rows[*e.get() as usize]),
            Entry::Vacant(e) => {
                // Over 4 billion keys in one partition would not fit in memory anyway.
                e.insert(u32::try_from(ends.len()).unwrap_or(u32::MAX));
                arena.extend_from_slice(key);
                ends.push(arena.len());
                hashes.push(hash);
                rows.push(row);
                None
            }
        }
    }
}

/// A set of keys, each remembered with the row it was first seen on.
pub struct KeySet {
    parts: Vec<Part>,
    hasher: foldhash::fast::RandomState,
}

impl Default for KeySet {
    fn default() -> Self {
        KeySet {
            parts: (0..PARTITIONS).map(|_| Part::default()).collect(),
            hasher: Default::default(),
        }
    }
}

impl KeySet {
    /// Checks one chunk's keys in row order (`None`: no key on that row). Returns, for each
    /// key seen before (earlier in the chunk or in an earlier chunk), its position in `keys` and
    /// the row it was first seen on, in position order.
    pub fn check(&mut self, keys: &[Option<&[u8]>], rows: &[u64]) -> Vec<(usize, u64)> {
        let hashed: Vec<(usize, u64)> = keys
            .iter()
            .enumerate()
            .filter_map(|(i, k)| k.map(|k| (i, self.hasher.hash_one(k))))
            .collect();
        // A stable counting sort by partition keeps row order within each partition, so the
        // first occurrence inside a chunk is still the earliest row.
        let part_of = |hash: u64| ((hash >> 32) as usize) % PARTITIONS;
        let mut starts = [0usize; PARTITIONS + 1];
        for &(_, h) in &hashed {
            starts[part_of(h) + 1] += 1;
        }
        for p in 0..PARTITIONS {
            starts[p + 1] += starts[p];
        }
        let mut order = vec![(0usize, 0u64); hashed.len()];
        for &(i, h) in &hashed {
            let slot = &mut starts[part_of(h)];
            order[*slot] = (i, h);
            *slot += 1;
        }
        let mut seen = Vec::new();
        for (i, h) in order {
            let key = keys[i].unwrap_or_default();
            if let Some(first) = self.parts[part_of(h)].first_row(h, key, rows[i]) {
                seen.push((i, first));
            }
        }
        seen.sort_unstable_by_key(|&(i, _)| i);
        seen
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use proptest::prelude::*;

    #[test]
    fn remembers_the_first_row_of_each_key_across_chunks() {
        let mut set = KeySet::default();
        let keys: Vec<Option<&[u8]>> = vec![Some(b"A"), Some(b"B"), None, Some(b""), Some(b"A")];
        assert_eq!(set.check(&keys, &[2, 3, 4, 5, 6]), vec![(4, 2)]);
        let keys: Vec<Option<&[u8]>> = vec![Some(b""), Some(b"C"), Some(b"B"), Some(b"C")];
        assert_eq!(
            set.check(&keys, &[7, 8, 9, 10]),
            vec![(0, 5), (2, 3), (3, 8)]
        );
        let many: Vec<String> = (0..10_000).map(|i| format!("k{i}")).collect();
        let keys: Vec<Option<&[u8]>> = many.iter().map(|k| Some(k.as_bytes())).collect();
        let rows: Vec<u64> = (100..10_100).collect();
        assert!(set.check(&keys, &rows).is_empty());
        let again: Vec<Option<&[u8]>> = vec![Some(b"k9999"), Some(b"k0")];
        assert_eq!(set.check(&again, &[1, 2]), vec![(0, 10_099), (1, 100)]);
    }

    /// What `check` must answer: every key in order against a plain map.
    fn oracle(
        map: &mut HashMap<Vec<u8>, u64>,
        keys: &[Option<Vec<u8>>],
        rows: &[u64],
    ) -> Vec<(usize, u64)> {
        let mut seen = Vec::new();
        for (i, (key, &row)) in keys.iter().zip(rows).enumerate() {
            if let Some(key) = key {
                match map.get(key) {
                    Some(&first) => seen.push((i, first)),
                    None => {
                        map.insert(key.clone(), row);
                    }
                }
            }
        }
        seen
    }

    fn key() -> impl Strategy<Value = Option<Vec<u8>>> {
        prop_oneof![
            2 => Just(None),
            // Few distinct short keys, the empty one among them: many repeats.
            8 => proptest::collection::vec(0u8..3, 0..4).prop_map(Some),
            // Enough distinct keys for several in each partition, so that tables grow.
            8 => (0u16..3000).prop_map(|i| Some(format!("k{i}").into_bytes())),
            // Long keys, some repeated.
            1 => proptest::collection::vec(any::<u8>(), 100..300).prop_map(Some),
            1 => (0u8..3, prop_oneof![Just(127), Just(128), Just(250), Just(16_000), Just(16_400)])
                .prop_map(|(b, n): (u8, usize)| {
                    Some((0..n).map(|i| b.wrapping_add(i as u8)).collect())
                }),
        ]
    }

    fn row() -> impl Strategy<Value = u64> {
        let edge = u64::from(u32::MAX);
        prop_oneof![
            0u64..100_000,
            (edge - 3)..=(edge + 3),
            any::<u64>(),
            Just(u64::MAX),
        ]
    }

    proptest! {
        #[test]
        fn check_matches_a_plain_map(
            chunks in proptest::collection::vec(
                proptest::collection::vec((key(), row()), 0..600),
                1..6,
            ),
        ) {
            let mut set = KeySet::default();
            let mut map = HashMap::new();
            for chunk in &chunks {
                let keys: Vec<Option<Vec<u8>>> = chunk.iter().map(|(k, _)| k.clone()).collect();
                let rows: Vec<u64> = chunk.iter().map(|&(_, r)| r).collect();
                let borrowed: Vec<Option<&[u8]>> = keys.iter().map(|k| k.as_deref()).collect();
                prop_assert_eq!(set.check(&borrowed, &rows), oracle(&mut map, &keys, &rows));
            }
        }
    }
}
