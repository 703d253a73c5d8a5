//! An arena key index: a set of byte-string keys, each given a dense id (`0, 1, 2, …` in order of
//! first insertion) and stored once.
//!
//! [`KeyIndex`] owns the keys and the hash table that finds them: the keys back to back in one
//! arena, the offset where each one starts, and a [`hashbrown::HashTable`] of ids hashed with a
//! fixed hasher (`foldhash`, fixed seed: the same key hashes the same in every run). It knows
//! nothing of what a key means: the caller encodes its key into bytes (a lookup's normalised
//! key, a group's encoded values) and keeps what an id stands for (a lookup row, a group
//! ordinal). Once no key is looked up any more, [`KeyIndex::into_keys`] drops the table and
//! keeps the id → key list ([`KeyList`]).
//!
//! Memory per key: its bytes, an 8-byte offset, and the table's 4-byte id plus a control byte
//! (at hashbrown's load of 7/8 at most). Used by `enrich` (lookup keys) and `sink::group`
//! (group keys); `validate::unique` keeps its own, more compact set (see its module doc).

use std::fmt;
use std::hash::BuildHasher;

use foldhash::fast::FixedState;
use hashbrown::HashTable;
use hashbrown::hash_table::Entry;

/// The index already holds `u32::MAX + 1` keys: a new key would have no id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TooManyKeys;

impl fmt::Display for TooManyKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("more than 4 billion distinct keys")
    }
}

/// Keys by id, back to back in one arena (what [`KeyIndex`] keeps once nothing is looked up).
#[derive(Debug, Clone)]
pub(crate) struct KeyList {
    arena: Vec<u8>,
    /// Where each key starts in `arena`, then where the last one ends: key `i` is
    /// `arena[offsets[i]..offsets[i + 1]]`, so `offsets` holds one more entry than there are keys.
    offsets: Vec<usize>,
}

impl Default for KeyList {
    fn default() -> Self {
        KeyList {
            arena: Vec::new(),
            offsets: vec![0],
        }
    }
}

impl KeyList {
    /// How many keys there are.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    /// The bytes of key `id`, `None` for an id never given.
    #[inline]
    pub(crate) fn get(&self, id: u32) -> Option<&[u8]> {
        let i = id as usize;
        let (&start, &end) = (self.offsets.get(i)?, self.offsets.get(i + 1)?);
        self.arena.get(start..end)
    }

    /// Every key, in id order (the order of first insertion).
    pub(crate) fn iter(&self) -> impl Iterator<Item = &[u8]> {
        self.offsets.windows(2).map(|w| &self.arena[w[0]..w[1]])
    }

    /// The bytes of key `id`, an id the index gave (the table holds no other).
    #[inline]
    fn known(&self, id: u32) -> &[u8] {
        let i = id as usize;
        &self.arena[self.offsets[i]..self.offsets[i + 1]]
    }

    /// Appends `key` as the next id.
    #[inline]
    fn push(&mut self, key: &[u8]) {
        self.arena.extend_from_slice(key);
        self.offsets.push(self.arena.len());
    }
}

/// A set of byte-string keys, each with its dense id, found through a hash table.
#[derive(Default)]
pub(crate) struct KeyIndex {
    keys: KeyList,
    /// The id of every key, filed by the hash of its bytes.
    table: HashTable<u32>,
    hasher: FixedState,
}

impl KeyIndex {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// The hash of a key's bytes (the slice, length included, through the fixed hasher).
    #[inline]
    fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The id of `key`, if it was inserted.
    #[inline]
    pub(crate) fn find(&self, key: &[u8]) -> Option<u32> {
        let keys = &self.keys;
        self.table
            .find(self.hash(key), |&id| keys.known(id) == key)
            .copied()
    }

    /// The id of `key`, and whether it is new: a key seen before keeps the id it was first
    /// given; a new key gets the next id (the number of keys before it). One hash per call.
    #[inline]
    pub(crate) fn insert(&mut self, key: &[u8]) -> Result<(u32, bool), TooManyKeys> {
        let KeyIndex {
            keys,
            table,
            hasher,
        } = self;
        let entry = table.entry(
            hasher.hash_one(key),
            |&id| keys.known(id) == key,
            |&id| hasher.hash_one(keys.known(id)),
        );
        match entry {
            Entry::Occupied(e) => Ok((*e.get(), false)),
            Entry::Vacant(e) => {
                let id = u32::try_from(keys.len()).map_err(|_| TooManyKeys)?;
                e.insert(id);
                keys.push(key);
                Ok((id, true))
            }
        }
    }

    /// The bytes of key `id`, `None` for an id never given.
    #[cfg(test)]
    pub(crate) fn get(&self, id: u32) -> Option<&[u8]> {
        self.keys.get(id)
    }

    /// How many keys there are.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    /// Every key, in id order (the order of first insertion).
    pub(crate) fn iter(&self) -> impl Iterator<Item = &[u8]> {
        self.keys.iter()
    }

    /// Bytes held on the heap: the arena, the offsets and the table (capacities, not lengths).
    #[cfg(test)]
    pub(crate) fn memory_bytes(&self) -> usize {
        self.keys.arena.capacity()
            + self.keys.offsets.capacity() * size_of::<usize>()
            + self.table.allocation_size()
    }

    /// The keys by id, without the table (for when no key is looked up any more).
    pub(crate) fn into_keys(self) -> KeyList {
        self.keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    #[test]
    fn ids_are_dense_in_order_of_first_insertion() {
        let mut index = KeyIndex::new();
        assert_eq!(index.len(), 0);
        assert_eq!(index.find(b""), None);
        assert_eq!(index.insert(b"b"), Ok((0, true)));
        assert_eq!(index.insert(b""), Ok((1, true)));
        assert_eq!(index.insert(b"b"), Ok((0, false)));
        assert_eq!(index.insert(b"ab"), Ok((2, true)));
        assert_eq!(index.find(b""), Some(1));
        assert_eq!(index.find(b"a"), None);
        assert_eq!(index.get(1), Some(&b""[..]));
        assert_eq!(index.get(3), None);
        assert_eq!(index.iter().collect::<Vec<_>>(), [&b"b"[..], b"", b"ab"]);
        let keys = index.into_keys();
        assert_eq!(keys.len(), 3);
        assert_eq!(keys.get(2), Some(&b"ab"[..]));
        assert_eq!(keys.get(u32::MAX), None);
    }

    #[test]
    fn memory_is_the_keys_bytes_and_a_few_dozen_bytes_a_key() {
        let mut index = KeyIndex::new();
        let n = 100_000u32;
        for i in 0..n {
            index.insert(format!("key-{i:06}").as_bytes()).expect("id");
        }
        assert_eq!(index.len(), n as usize);
        // 10 bytes of key, 8 of offset, 5 of table at full load; capacities at most double each.
        let per_key = index.memory_bytes() / n as usize;
        assert!((23..=46).contains(&per_key), "{per_key} bytes a key");
    }

    fn key() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            prop::collection::vec(0u8..3, 0..3),
            prop::collection::vec(any::<u8>(), 0..40),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn behaves_as_a_map_of_keys_to_their_first_insertion_rank(
            ops in prop::collection::vec((any::<bool>(), key()), 0..300),
        ) {
            let mut index = KeyIndex::new();
            let mut reference: HashMap<Vec<u8>, u32> = HashMap::new();
            let mut order: Vec<Vec<u8>> = Vec::new();
            for (insert, k) in &ops {
                if *insert {
                    let next = reference.len() as u32;
                    let want_new = !reference.contains_key(k);
                    let want = *reference.entry(k.clone()).or_insert(next);
                    if want_new {
                        order.push(k.clone());
                    }
                    prop_assert_eq!(index.insert(k), Ok((want, want_new)));
                } else {
                    prop_assert_eq!(index.find(k), reference.get(k).copied());
                }
                prop_assert_eq!(index.len(), reference.len());
            }
            for (k, &id) in &reference {
                prop_assert_eq!(index.get(id), Some(k.as_slice()));
                prop_assert_eq!(index.find(k), Some(id));
            }
            prop_assert_eq!(index.get(reference.len() as u32), None);
            prop_assert!(index.iter().eq(order.iter().map(Vec::as_slice)));
            let keys = index.into_keys();
            prop_assert!(keys.iter().eq(order.iter().map(Vec::as_slice)));
            for (id, k) in order.iter().enumerate() {
                prop_assert_eq!(keys.get(id as u32), Some(k.as_slice()));
            }
        }
    }
}
