//! The keys already seen by one `unique` rule: the only state of validation that grows with the
//! input, so it is kept compact and probed cache-friendly.
//!
//! Each key is one record in its partition's arena: the low half of its hash and the row it was
//! first seen on (4 bytes each), its length (one byte below 128) and its bytes. The partition's
//! table ([`Table`], open addressing) holds one 8-byte slot per key: the low half of its hash and
//! the record's offset. Growing a table refiles slots without reading a record, and a probe
//! reads a record only when all 32 bits of the hash match. Arenas are cut in 16 KiB blocks, so
//! that they grow without moving (a moved arena leaves a hole the allocator does not give back)
//! and waste at most a block's tail.
//!
//! Each key costs 9 bytes of record beyond its own bytes, plus its table's slots: 8 bytes at a
//! load between 3/8 and 3/4, so 20 to 30 bytes in all (three million 11-byte keys: about 95 MB).
//! A table at most half full probes faster (the key set's time on a million keys −13 %), but
//! takes 25 to 41 bytes a key: peak RSS 188 → 223 MB on three million rows, for 1 % of a run.
//! A table of 4-byte offsets with hashbrown's control bytes took 17–20 bytes a key, but every
//! probe whose 7-bit tag matched read a record, a cache miss, and growing read every record.
//!
//! Limits are kept exact rather than assumed away: a first row from `u32::MAX` up is kept in a
//! side map, and a key whose record fits in no block (over 16 KiB), or that comes once its
//! partition's arena holds the 4 GiB a 32-bit offset reaches (about a terabyte of keys in all),
//! is kept whole in a plain map, larger and slower but exact.
//!
//! A chunk's keys are probed partition by partition (256 partitions on middle bits of the
//! hash). The slots a partition's keys will be probed from are loaded first, all at once
//! ([`Table::touch`]): their cache misses overlap instead of stalling each probe in turn.
//!
//! It does not share `crate::keys::KeyIndex` (the arena key index of lookups and grouped
//! targets): that index spends an 8-byte offset, a 4-byte id and hashbrown's control byte on each
//! key and rereads keys to grow, while this is the one structure of a run that grows with the
//! input, so it keeps its 9–12 bytes of record a key.

use std::collections::HashMap;
use std::hash::BuildHasher;

const PARTITIONS: usize = 256;

/// A set of keys, each remembered with the row it was first seen on.
///
/// Arenas are cut in blocks of 16 KiB: an arena grows without moving (moving leaves holes that
/// the allocator does not give back) and wastes at most a block's tail. 2^18 blocks make the
/// 4 GiB that a 32-bit offset reaches.
pub type KeySet = Keys<14, { 1 << 18 }>;

/// What the first block of a partition starts with, for partitions with few keys.
const FIRST_BLOCK: usize = 256;

/// A record: the low half of the key's hash (4 bytes), its first row (4 bytes, little-endian),
/// the key's length (LEB128 varint: one byte below 128) and the key's bytes.
const HEAD: usize = 8;

/// A first row that does not fit in a record's four bytes: the record holds this, and the row
/// is in [`Part::big_rows`].
const BIG_ROW: u32 = u32::MAX;

/// One partition: keys whose hash falls in it.
#[derive(Default)]
struct Part {
    /// The offset of each key's record (its block number, then its place in the block), filed
    /// with the low half of the key's hash.
    table: Table,
    /// Records back to back. A record never straddles two blocks; blocks are full-sized but
    /// the first one, which starts small and grows.
    blocks: Vec<Vec<u8>>,
    /// The first row of each record holding [`BIG_ROW`], by offset.
    big_rows: HashMap<u32, u64>,
    /// Keys whose record would not fit in a block, and all further keys once the arena is full,
    /// with their first row.
    beyond: HashMap<Box<[u8]>, u64>,
}

/// The record at `off`, to the end of its block.
#[inline]
fn record<const BITS: u32>(blocks: &[Vec<u8>], off: u32) -> &[u8] {
    let off = off as usize;
    match blocks.get(off >> BITS) {
        Some(block) => block.get(off & ((1 << BITS) - 1)..).unwrap_or_default(),
        None => &[],
    }
}

/// The four-byte field at `at` of the record at `off`.
#[inline]
fn field<const BITS: u32>(blocks: &[Vec<u8>], off: u32, at: usize) -> u32 {
    let off = off as usize;
    let from = (off & ((1 << BITS) - 1)) + at;
    match blocks.get(off >> BITS).and_then(|b| b.get(from..from + 4)) {
        Some(&[a, b, c, d]) => u32::from_le_bytes([a, b, c, d]),
        _ => 0,
    }
}

/// Whether a record holds `key`.
#[inline]
fn holds(record: &[u8], key: &[u8]) -> bool {
    match record.get(HEAD) {
        Some(&len) if len < 0x80 => {
            usize::from(len) == key.len() && record.get(HEAD + 1..HEAD + 1 + key.len()) == Some(key)
        }
        Some(_) => {
            let rest = record.get(HEAD..).unwrap_or_default();
            let (len, n) = crate::varint::read(rest);
            len == key.len() as u64 && rest.get(n..n + key.len()) == Some(key)
        }
        None => false,
    }
}

/// An open-addressing table of records, probed linearly. A slot holds the low half of the key's
/// hash above the record's offset, so that growing never reads an arena and a probe reads a
/// record only when all 32 bits of the hash match (about once in four billion for another key),
/// and the slot a key is filed in is known before the probe: [`Table::touch`] loads it ahead.
#[derive(Default)]
struct Table {
    slots: Vec<u64>,
    len: usize,
}

/// An empty slot: a record's offset is never `u32::MAX`, a record taking more than one byte.
const EMPTY: u64 = u64::MAX;

/// What a probe found: the record's offset, or the slot to file the key in.
enum Probe {
    Found(u32),
    Vacant(usize),
}

impl Table {
    /// The slot a key whose hash has low half `half` is probed from.
    #[inline]
    fn home(&self, half: u32) -> usize {
        // Fibonacci hashing: the top bits of the product depend on all 32 bits of `half`.
        let bits = self.slots.len().trailing_zeros();
        if bits == 0 {
            return 0;
        }
        (u64::from(half).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - bits)) as usize
    }

    /// Loads the slot `half` is probed from, so that its cache line is on its way when the
    /// probe comes: the loads of a run of keys overlap instead of waiting one after the other.
    #[inline]
    fn touch(&self, half: u32) -> u64 {
        self.slots.get(self.home(half)).copied().unwrap_or(0)
    }

    /// Finds the record of `key`, using `holds` to compare a record with it.
    #[inline]
    fn probe(&self, half: u32, holds: impl Fn(u32) -> bool) -> Probe {
        let mask = self.slots.len().wrapping_sub(1);
        let mut at = self.home(half);
        // The table is never full, so a probe always meets an empty slot.
        while let Some(&slot) = self.slots.get(at) {
            if slot == EMPTY {
                return Probe::Vacant(at);
            }
            if (slot >> 32) as u32 == half && holds(slot as u32) {
                return Probe::Found(slot as u32);
            }
            at = (at + 1) & mask;
        }
        Probe::Vacant(usize::MAX)
    }

    /// Whether one more key needs a bigger table (at most three quarters of the slots used).
    #[inline]
    fn full(&self) -> bool {
        (self.len + 1) * 4 > self.slots.len() * 3
    }

    /// Doubles the table (16 slots at first), filing every record again from its slot alone.
    fn grow(&mut self) {
        let size = (self.slots.len() * 2).max(16);
        let old = std::mem::replace(&mut self.slots, vec![EMPTY; size]);
        let mask = size - 1;
        for slot in old.into_iter().filter(|&s| s != EMPTY) {
            let mut at = self.home((slot >> 32) as u32);
            while self.slots.get(at).is_some_and(|&s| s != EMPTY) {
                at = (at + 1) & mask;
            }
            if let Some(free) = self.slots.get_mut(at) {
                *free = slot;
            }
        }
    }

    /// Files the record at `off` in slot `at`, which [`Table::probe`] found vacant.
    #[inline]
    fn insert(&mut self, at: usize, half: u32, off: u32) {
        if let Some(slot) = self.slots.get_mut(at) {
            *slot = (u64::from(half) << 32) | u64::from(off);
            self.len += 1;
        }
    }
}

/// Makes room for a record of `len` bytes: its offset and the block to append it to, or `None`
/// when it fits in no block or the arena is full.
#[inline]
fn room<const BITS: u32, const MAX_BLOCKS: usize>(
    blocks: &mut Vec<Vec<u8>>,
    len: usize,
) -> Option<(u32, &mut Vec<u8>)> {
    let size = 1usize << BITS;
    let count = blocks.len();
    let number = match blocks.last_mut() {
        Some(last) if last.len() + len <= size => {
            // Only the first block is ever short of room here: it doubles up to a full block.
            if last.capacity() - last.len() < len {
                let want = (last.capacity() * 2).clamp(last.len() + len, size);
                last.reserve_exact(want - last.len());
            }
            count - 1
        }
        _ if len > size || count >= MAX_BLOCKS => return None,
        last => {
            let capacity = match last {
                None => FIRST_BLOCK.clamp(len, size),
                Some(_) => size,
            };
            blocks.push(Vec::with_capacity(capacity));
            count
        }
    };
    let block = blocks.get_mut(number)?;
    let off = u32::try_from((number << BITS) | block.len()).ok()?;
    Some((off, block))
}

impl Part {
    /// The row `key` was first seen on, or `None` after recording `row` as its first.
    #[inline]
    fn first_row<const BITS: u32, const MAX_BLOCKS: usize>(
        &mut self,
        hash: u64,
        key: &[u8],
        row: u64,
    ) -> Option<u64> {
        let Part {
            table,
            blocks,
            big_rows,
            beyond,
        } = self;
        let half = hash as u32;
        if table.full() {
            table.grow();
        }
        match table.probe(half, |off| holds(record::<BITS>(blocks, off), key)) {
            Probe::Found(off) => Some(match field::<BITS>(blocks, off, 4) {
                BIG_ROW => big_rows.get(&off).copied().unwrap_or(u64::from(BIG_ROW)),
                first => u64::from(first),
            }),
            Probe::Vacant(at) => {
                if !beyond.is_empty()
                    && let Some(&first) = beyond.get(key)
                {
                    return Some(first);
                }
                let short = key.len() < 0x80;
                let len_bytes = if short {
                    1
                } else {
                    crate::varint::len(key.len() as u64)
                };
                let Some((off, block)) =
                    room::<BITS, MAX_BLOCKS>(blocks, HEAD + len_bytes + key.len())
                else {
                    beyond.insert(key.into(), row);
                    return None;
                };
                let small = if row < u64::from(BIG_ROW) {
                    row as u32
                } else {
                    big_rows.insert(off, row);
                    BIG_ROW
                };
                let [h0, h1, h2, h3] = half.to_le_bytes();
                let [r0, r1, r2, r3] = small.to_le_bytes();
                if short {
                    let n = key.len() as u8;
                    block.extend_from_slice(&[h0, h1, h2, h3, r0, r1, r2, r3, n]);
                } else {
                    block.extend_from_slice(&[h0, h1, h2, h3, r0, r1, r2, r3]);
                    crate::varint::put(block, key.len() as u64);
                }
                block.extend_from_slice(key);
                table.insert(at, half, off);
                None
            }
        }
    }
}

/// A key of a chunk on its way to its partition.
#[derive(Clone, Copy, Default)]
struct Entry<'a> {
    /// Its position in the chunk's keys.
    i: usize,
    hash: u64,
    key: &'a [u8],
    /// The row it is on.
    row: u64,
}

/// [`KeySet`] with another cut of arenas: blocks of `1 << BITS` bytes, at most `MAX_BLOCKS` of
/// them per partition (tests use small ones).
pub struct Keys<const BITS: u32, const MAX_BLOCKS: usize> {
    parts: Vec<Part>,
    hasher: foldhash::fast::RandomState,
}

impl<const BITS: u32, const MAX_BLOCKS: usize> Default for Keys<BITS, MAX_BLOCKS> {
    fn default() -> Self {
        Keys {
            parts: (0..PARTITIONS).map(|_| Part::default()).collect(),
            hasher: Default::default(),
        }
    }
}

impl<const BITS: u32, const MAX_BLOCKS: usize> Keys<BITS, MAX_BLOCKS> {
    /// Checks one chunk's keys in row order (`None`: no key on that row). Returns, for each
    /// key seen before (earlier in the chunk or in an earlier chunk), its position in `keys` and
    /// the row it was first seen on, in position order.
    pub fn check(&mut self, keys: &[Option<&[u8]>], rows: &[u64]) -> Vec<(usize, u64)> {
        // The keys are copied back to back first, in row order: the probes below take them in
        // partition order, and read them from this one small buffer instead of from wherever
        // each value lies.
        let mut copied = Vec::with_capacity(keys.iter().flatten().map(|k| k.len()).sum());
        let spans: Vec<(usize, usize)> = keys
            .iter()
            .enumerate()
            .filter_map(|(i, k)| {
                k.map(|k| {
                    copied.extend_from_slice(k);
                    (i, k.len())
                })
            })
            .collect();
        let mut at = 0;
        let hashed: Vec<Entry> = spans
            .iter()
            .map(|&(i, len)| {
                let key = copied.get(at..at + len).unwrap_or_default();
                at += len;
                Entry {
                    i,
                    hash: self.hasher.hash_one(key),
                    key,
                    row: rows.get(i).copied().unwrap_or_default(),
                }
            })
            .collect();
        // A stable counting sort by partition keeps row order within each partition, so the
        // first occurrence inside a chunk is still the earliest row.
        let part_of = |hash: u64| ((hash >> 32) as usize) % PARTITIONS;
        let mut starts = [0usize; PARTITIONS + 1];
        for e in &hashed {
            starts[part_of(e.hash) + 1] += 1;
        }
        for p in 0..PARTITIONS {
            starts[p + 1] += starts[p];
        }
        let bounds = starts;
        let mut order: Vec<Entry> = vec![Entry::default(); hashed.len()];
        for e in &hashed {
            let slot = &mut starts[part_of(e.hash)];
            order[*slot] = *e;
            *slot += 1;
        }
        let mut seen = Vec::new();
        for (p, part) in self.parts.iter_mut().enumerate() {
            let run = order.get(bounds[p]..bounds[p + 1]).unwrap_or_default();
            if run.is_empty() {
                continue;
            }
            // The run's slots are loaded first, independently of each other: their cache
            // misses overlap, and the probes below find the lines in cache.
            if part.table.full() {
                part.table.grow();
            }
            let touched = run
                .iter()
                .fold(0u64, |acc, e| acc ^ part.table.touch(e.hash as u32));
            std::hint::black_box(touched);
            for e in run {
                if let Some(first) = part.first_row::<BITS, MAX_BLOCKS>(e.hash, e.key, e.row) {
                    seen.push((e.i, first));
                }
            }
        }
        seen.sort_unstable_by_key(|&(i, _)| i);
        seen
    }
}

#[cfg(test)]
mod tests {
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

    #[test]
    fn keys_whose_hashes_share_a_half_are_told_apart() {
        // The same hash for every key: each probe meets the other keys' slots first, and the
        // table grows while they sit in a single run of slots.
        let mut part = Part::default();
        for i in 0..100u64 {
            let key = format!("key {i}");
            assert_eq!(part.first_row::<14, 4>(7, key.as_bytes(), i), None);
        }
        for i in (0..100u64).rev() {
            let key = format!("key {i}");
            assert_eq!(part.first_row::<14, 4>(7, key.as_bytes(), 1000), Some(i));
        }
        assert_eq!(part.first_row::<14, 4>(7, b"another", 5), None);
        assert_eq!(part.table.len, 101);
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
            // Long keys, some repeated: lengths of one and two varint bytes, a key that fills
            // most of a real block and one too long for any.
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

    /// One chunk: each row's key (if any) and row number.
    type Chunk = Vec<(Option<Vec<u8>>, u64)>;

    /// Feeds `chunks` to a fresh set and to the oracle, chunk by chunk.
    fn agrees<const BITS: u32, const MAX_BLOCKS: usize>(
        chunks: &[Chunk],
    ) -> Result<(), TestCaseError> {
        let mut set = Keys::<BITS, MAX_BLOCKS>::default();
        let mut map = HashMap::new();
        for chunk in chunks {
            let keys: Vec<Option<Vec<u8>>> = chunk.iter().map(|(k, _)| k.clone()).collect();
            let rows: Vec<u64> = chunk.iter().map(|&(_, r)| r).collect();
            let borrowed: Vec<Option<&[u8]>> = keys.iter().map(|k| k.as_deref()).collect();
            prop_assert_eq!(set.check(&borrowed, &rows), oracle(&mut map, &keys, &rows));
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn check_matches_a_plain_map(
            chunks in proptest::collection::vec(
                proptest::collection::vec((key(), row()), 0..600),
                1..6,
            ),
            cut in 0..5,
        ) {
            // Besides the real cut, small blocks and few of them: records at block ends, long
            // keys that fit in no block, partitions whose arena is full.
            match cut {
                0 => agrees::<14, { 1 << 18 }>(&chunks)?,
                1 => agrees::<4, 2>(&chunks)?,
                2 => agrees::<5, 1>(&chunks)?,
                3 => agrees::<6, 3>(&chunks)?,
                _ => agrees::<8, { usize::MAX }>(&chunks)?,
            }
        }
    }
}
