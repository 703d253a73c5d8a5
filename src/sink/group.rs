//! Grouping the rows of a grouped target (`group_by`): every row of one key handed back
//! together, wherever the key's rows sit in the input, in bounded memory.
//!
//! [`Grouper`] owns the rows of one grouped target between the moment they are projected and the
//! moment they are encoded. It knows nothing of formats, files of the target or path templates:
//! it takes rows as text and gives back [`Group`]s, in the order each key first appeared in the
//! input, with the rows of a group in input order. Same input, same groups: the output does not
//! depend on the budget, on hashing or on how often rows were spilled.
//!
//! Memory:
//!
//! - Each distinct key is kept once, encoded, in a [`KeyIndex`] with a hash-table slot and its
//!   ordinal (its rank of first appearance, the index's id): about 20 bytes plus the key's text
//!   per distinct key, for the whole run. This is the part that grows with the input (200,000
//!   keys of 10 bytes: about 6 MB); it is not counted in the budget.
//! - Rows are buffered, encoded back to back, up to `budget_bytes` (their encoded bytes plus 24
//!   bytes per row). Past the budget the buffer is sorted by (key ordinal, input position) and
//!   written as a sorted *run* file in the spill folder. [`Grouper::finish`] merges the runs and
//!   what is still in memory, so one group at a time is materialised; more than 64 runs are first
//!   merged into fewer, so the merge holds at most 64 read buffers of 32 KiB.
//! - **A group is materialised whole when it is emitted**: the rows of one key must fit in
//!   memory, whatever the budget.
//!
//! Run files are removed as soon as they are merged, and when a [`Grouper`] or [`Groups`] is
//! dropped early (a failed run). Without a spill no file, and no spill folder, is created.
//!
//! A run file is `rfgroup1`, then the row width as a varint, then its groups by ascending key
//! ordinal: the ordinal's increase from the previous group (from 0 for the first) and the row
//! count as varints (LEB128), then the rows; then `0 0` (a group of no rows) marks its end, so
//! a file cut short is told from a complete one. A row is its values in column order, each a varint
//! `0` for null or `n + 1` followed by the `n` bytes of its UTF-8 text, so null and the empty
//! string stay distinct. Keys are not written: the in-memory key table gives them back by ordinal.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::keys::{KeyIndex, KeyList};

/// The first bytes of a run file.
const MAGIC: &[u8; 8] = b"rfgroup1";
/// Most run files read at once; more are merged into fewer first.
const FAN_IN: usize = 64;
const READ_BUFFER: usize = 32 * 1024;
const WRITE_BUFFER: usize = 64 * 1024;

/// One key's rows, in input order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub key: Vec<Option<String>>,
    pub rows: Vec<Vec<Option<String>>>,
}

/// Buffers the rows of one grouped target and gives them back grouped by key.
pub struct Grouper {
    spill_dir: PathBuf,
    budget: usize,
    width: usize,
    fan_in: usize,
    /// Every distinct key seen, encoded; its id is its ordinal.
    keys: KeyIndex,
    buffer: Buffer,
    /// Encoded key of the row being pushed.
    scratch: Vec<u8>,
    /// Sorted runs written so far, oldest first.
    runs: Vec<TempRun>,
}

impl Grouper {
    /// How many run files have been written so far.
    #[cfg(test)]
    pub fn spilled_runs(&self) -> usize {
        self.runs.len()
    }

    /// A grouper for rows of `width` values, buffering up to about `budget_bytes` of rows before
    /// it spills them into `spill_dir` (created on the first spill).
    pub fn new(spill_dir: PathBuf, budget_bytes: usize, width: usize) -> Self {
        Grouper {
            spill_dir,
            budget: budget_bytes,
            width,
            fan_in: FAN_IN,
            keys: KeyIndex::new(),
            buffer: Buffer::default(),
            scratch: Vec::new(),
            runs: Vec::new(),
        }
    }

    /// Adds one row: `key` is its group key (partition values included), `values` its output
    /// columns as text.
    pub fn push(&mut self, key: &[Option<&str>], values: &[Option<&str>]) -> io::Result<()> {
        if values.len() != self.width {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "a row with {} values was given to a grouped target of {} columns; this is a \
                     bug in rowferry, please report it with the mapping",
                    values.len(),
                    self.width
                ),
            ));
        }
        self.scratch.clear();
        for k in key {
            put_value(&mut self.scratch, *k);
        }
        let (ordinal, _) = self.keys.insert(&self.scratch).map_err(|_| {
            io::Error::other(
                "a grouped target has more than 4 billion distinct keys; group by fewer columns \
                 or split the input",
            )
        })?;
        let bytes: usize = values.iter().map(|v| value_len(*v)).sum();
        let full = self.buffer.used() + bytes + SLOT_BYTES > self.budget;
        if full && !self.buffer.slots.is_empty() {
            self.spill()?;
        }
        self.buffer.push(ordinal, values, bytes, self.budget);
        Ok(())
    }

    /// Sorts the buffer and writes it as a run file.
    fn spill(&mut self) -> io::Result<()> {
        self.buffer.sort();
        let run = TempRun::create(&self.spill_dir)?;
        let path = run.0.clone();
        // Kept before it is written, so a failed write still removes it.
        self.runs.push(run);
        let mut w = RunWriter::new(&path, self.width)?;
        let data = &self.buffer.data;
        for same in self.buffer.slots.chunk_by(|a, b| a.ordinal == b.ordinal) {
            w.group(same[0].ordinal, same.len())?;
            for s in same {
                w.bytes(&data[s.start..s.end])?;
            }
        }
        w.finish()?;
        self.buffer.clear();
        Ok(())
    }

    /// Ends the input: the groups, in order of first appearance of their key.
    pub fn finish(mut self) -> io::Result<Groups> {
        self.buffer.sort();
        let mut runs = std::mem::take(&mut self.runs);
        let in_memory = usize::from(!self.buffer.slots.is_empty());
        let fan_in = self.fan_in.max(2);
        // Fewer, longer runs until one merge can read them all: consecutive runs merged in
        // order keep input order among equal keys.
        while runs.len() + in_memory > fan_in {
            let mut merged = Vec::with_capacity(runs.len().div_ceil(fan_in));
            let mut rest = runs.into_iter();
            loop {
                let chunk: Vec<TempRun> = rest.by_ref().take(fan_in).collect();
                match chunk.len() {
                    0 => break,
                    1 => merged.extend(chunk),
                    _ => merged.push(merge_runs(chunk, &self.spill_dir, self.width)?),
                }
            }
            runs = merged;
        }
        let mut sources = Vec::with_capacity(runs.len() + 1);
        for run in runs {
            sources.push(Source::open(run, self.width)?);
        }
        if in_memory == 1 {
            let buffer = std::mem::take(&mut self.buffer);
            sources.push(Source::Memory {
                data: buffer.data,
                slots: buffer.slots,
                pos: 0,
                pending: 0,
            });
        }
        // Only ordinal → key is asked from now on.
        let keys = std::mem::take(&mut self.keys).into_keys();
        Ok(Groups {
            keys,
            merge: Merge::new(sources)?,
            width: self.width,
            done: false,
        })
    }
}

/// The groups of a finished [`Grouper`], one materialised at a time.
pub struct Groups {
    keys: KeyList,
    merge: Merge,
    width: usize,
    done: bool,
}

impl Iterator for Groups {
    type Item = io::Result<Group>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let width = self.width;
        let mut rows = Vec::new();
        let next = self
            .merge
            .next(|source| source.read_rows(width, &mut rows))
            .and_then(|ordinal| ordinal.map(|o| decode_key(&self.keys, o)).transpose());
        match next {
            Ok(Some(key)) => Some(Ok(Group { key, rows })),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// Rows waiting in memory: their encoded values back to back, and one slot per row.
#[derive(Default)]
struct Buffer {
    data: Vec<u8>,
    slots: Vec<Slot>,
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    start: usize,
    end: usize,
    ordinal: u32,
}

const SLOT_BYTES: usize = size_of::<Slot>();

impl Buffer {
    fn used(&self) -> usize {
        self.data.len() + self.slots.len() * SLOT_BYTES
    }

    fn push(&mut self, ordinal: u32, values: &[Option<&str>], bytes: usize, budget: usize) {
        // Capacity doubles as usual, but not past what the budget allows.
        let room = budget.saturating_sub(self.slots.len() * SLOT_BYTES);
        reserve_within(&mut self.data, bytes, room);
        let room = budget.saturating_sub(self.data.len() + bytes) / SLOT_BYTES;
        reserve_within(&mut self.slots, 1, room);
        let start = self.data.len();
        for v in values {
            put_value(&mut self.data, *v);
        }
        self.slots.push(Slot {
            start,
            end: self.data.len(),
            ordinal,
        });
    }

    /// By key ordinal, then input position (rows are appended in input order).
    fn sort(&mut self) {
        self.slots.sort_unstable_by_key(|s| (s.ordinal, s.start));
    }

    fn clear(&mut self) {
        self.data.clear();
        self.slots.clear();
    }
}

/// Makes room for `additional` more items, growing by doubling but to at most `limit` items
/// (or exactly what is needed, if that is more).
fn reserve_within<T>(v: &mut Vec<T>, additional: usize, limit: usize) {
    let need = v.len() + additional;
    if need > v.capacity() {
        let target = v.capacity().saturating_mul(2).max(16).min(limit).max(need);
        v.reserve_exact(target - v.len());
    }
}

/// The key of ordinal `i`, decoded.
fn decode_key(keys: &KeyList, i: u32) -> io::Result<Vec<Option<String>>> {
    let mut r = keys
        .get(i)
        .ok_or_else(|| damaged(None, "a key ordinal that was never given"))?;
    let mut key = Vec::new();
    while !r.is_empty() {
        key.push(read_value(&mut r)?);
    }
    Ok(key)
}

/// A run file, removed when dropped.
struct TempRun(PathBuf);

impl TempRun {
    /// A new, empty file with a name no other run (of this or another grouper) has.
    fn create(dir: &Path) -> io::Result<Self> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        fs::create_dir_all(dir).map_err(|e| cannot("create the spill folder", dir, e))?;
        loop {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let path = dir.join(format!("group-{}-{n}.run", std::process::id()));
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(_) => return Ok(TempRun(path)),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(cannot("create the spill file", &path, e)),
            }
        }
    }
}

impl Drop for TempRun {
    fn drop(&mut self) {
        // Best effort: a leftover spill file is harmless, and drop cannot report.
        let _ = fs::remove_file(&self.0);
    }
}

/// Writes one run file.
struct RunWriter<'a> {
    path: &'a Path,
    out: BufWriter<File>,
    last: u32,
}

impl<'a> RunWriter<'a> {
    fn new(path: &'a Path, width: usize) -> io::Result<Self> {
        let file = OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(path)
            .map_err(|e| cannot("open the spill file", path, e))?;
        let mut w = RunWriter {
            path,
            out: BufWriter::with_capacity(WRITE_BUFFER, file),
            last: 0,
        };
        let mut head = MAGIC.to_vec();
        crate::varint::put(&mut head, width as u64);
        w.bytes(&head)?;
        Ok(w)
    }

    fn group(&mut self, ordinal: u32, rows: usize) -> io::Result<()> {
        let delta = ordinal
            .checked_sub(self.last)
            .ok_or_else(|| damaged(Some(self.path), "groups out of order"))?;
        let mut head = Vec::with_capacity(10);
        crate::varint::put(&mut head, u64::from(delta));
        crate::varint::put(&mut head, rows as u64);
        self.last = ordinal;
        self.bytes(&head)
    }

    fn bytes(&mut self, b: &[u8]) -> io::Result<()> {
        self.out
            .write_all(b)
            .map_err(|e| cannot("write the spill file", self.path, e))
    }

    fn finish(mut self) -> io::Result<()> {
        self.bytes(&[0, 0])?;
        self.out
            .into_inner()
            .map_err(|e| cannot("write the spill file", self.path, e.into_error()))
            .map(drop)
    }
}

/// Merges consecutive runs into one, in the same format.
fn merge_runs(runs: Vec<TempRun>, dir: &Path, width: usize) -> io::Result<TempRun> {
    let out = TempRun::create(dir)?;
    let mut w = RunWriter::new(&out.0, width)?;
    let sources = runs
        .into_iter()
        .map(|r| Source::open(r, width))
        .collect::<io::Result<Vec<_>>>()?;
    let mut merge = Merge::new(sources)?;
    loop {
        // The rows of one key from several runs, copied without decoding them.
        let mut count = 0usize;
        let mut rows = Vec::new();
        let next = merge.next(|s| {
            count += s.pending();
            s.copy_rows(width, &mut rows)
        })?;
        let Some(ordinal) = next else { break };
        w.group(ordinal, count)?;
        w.bytes(&rows)?;
    }
    w.finish()?;
    Ok(out)
}

/// Sorted groups from several sources, the smallest ordinal first; among sources holding the
/// same ordinal, the earlier source (earlier rows of the input) first.
struct Merge {
    sources: Vec<Source>,
    heap: BinaryHeap<Reverse<(u32, usize)>>,
}

impl Merge {
    fn new(mut sources: Vec<Source>) -> io::Result<Self> {
        let mut heap = BinaryHeap::with_capacity(sources.len());
        for (i, s) in sources.iter_mut().enumerate() {
            if let Some(o) = s.next_group()? {
                heap.push(Reverse((o, i)));
            }
        }
        Ok(Merge { sources, heap })
    }

    /// Hands each source holding the next ordinal to `take`, which consumes its pending rows,
    /// in source order. `None` once every source is exhausted.
    fn next(
        &mut self,
        mut take: impl FnMut(&mut Source) -> io::Result<()>,
    ) -> io::Result<Option<u32>> {
        let Some(Reverse((ordinal, first))) = self.heap.pop() else {
            return Ok(None);
        };
        let mut i = first;
        loop {
            let source = &mut self.sources[i];
            take(source)?;
            match source.next_group()? {
                Some(o) => self.heap.push(Reverse((o, i))),
                // Exhausted: its file goes now, not at the end of the merge.
                None => *source = Source::Done,
            }
            match self.heap.peek() {
                Some(&Reverse((o, j))) if o == ordinal => {
                    self.heap.pop();
                    i = j;
                }
                _ => return Ok(Some(ordinal)),
            }
        }
    }
}

/// Where sorted groups are read from.
enum Source {
    Run {
        // Declared before `run`: the file is closed before it is removed.
        reader: BufReader<File>,
        run: TempRun,
        ordinal: u32,
        pending: u64,
    },
    Memory {
        data: Vec<u8>,
        slots: Vec<Slot>,
        pos: usize,
        pending: u64,
    },
    Done,
}

impl Source {
    fn open(run: TempRun, width: usize) -> io::Result<Self> {
        let file = File::open(&run.0).map_err(|e| cannot("read the spill file", &run.0, e))?;
        let mut reader = BufReader::with_capacity(READ_BUFFER, file);
        let mut magic = [0u8; 8];
        let head = reader
            .read_exact(&mut magic)
            .and_then(|_| read_varint(&mut reader)?.ok_or_else(eof));
        match head {
            Ok(w) if &magic == MAGIC && w == width as u64 => {}
            Ok(_) => return Err(damaged(Some(&run.0), "an unexpected header")),
            Err(e) => return Err(damaged(Some(&run.0), &e.to_string())),
        }
        Ok(Source::Run {
            reader,
            run,
            ordinal: 0,
            pending: 0,
        })
    }

    /// Moves to the next group: its ordinal, with its rows pending.
    fn next_group(&mut self) -> io::Result<Option<u32>> {
        match self {
            Source::Run {
                reader,
                run,
                ordinal,
                pending,
            } => {
                let read = |reader: &mut BufReader<File>| -> io::Result<Option<(u64, u64)>> {
                    let Some(delta) = read_varint(reader)? else {
                        return Ok(None);
                    };
                    let rows = read_varint(reader)?.ok_or_else(eof)?;
                    Ok(Some((delta, rows)))
                };
                match read(reader).map_err(|e| damaged(Some(&run.0), &e.to_string()))? {
                    None => Err(damaged(Some(&run.0), "it ends early")),
                    Some((0, 0)) => Ok(None),
                    Some((_, 0)) => Err(damaged(Some(&run.0), "a group of no rows")),
                    Some((delta, rows)) => {
                        *ordinal = u32::try_from(u64::from(*ordinal) + delta)
                            .map_err(|_| damaged(Some(&run.0), "a key ordinal out of range"))?;
                        *pending = rows;
                        Ok(Some(*ordinal))
                    }
                }
            }
            Source::Memory {
                slots,
                pos,
                pending,
                ..
            } => {
                let Some(first) = slots.get(*pos) else {
                    return Ok(None);
                };
                let n = slots[*pos..]
                    .iter()
                    .take_while(|s| s.ordinal == first.ordinal)
                    .count();
                *pending = n as u64;
                Ok(Some(first.ordinal))
            }
            Source::Done => Ok(None),
        }
    }

    fn pending(&self) -> usize {
        match self {
            Source::Run { pending, .. } | Source::Memory { pending, .. } => *pending as usize,
            Source::Done => 0,
        }
    }

    /// Decodes the pending rows of the current group into `out`.
    fn read_rows(&mut self, width: usize, out: &mut Vec<Vec<Option<String>>>) -> io::Result<()> {
        match self {
            Source::Run {
                reader,
                run,
                pending,
                ..
            } => {
                for _ in 0..*pending {
                    let row = (0..width)
                        .map(|_| read_value(reader))
                        .collect::<io::Result<_>>()
                        .map_err(|e| damaged(Some(&run.0), &e.to_string()))?;
                    out.push(row);
                }
                *pending = 0;
            }
            Source::Memory {
                data,
                slots,
                pos,
                pending,
            } => {
                let end = *pos + *pending as usize;
                for s in &slots[*pos..end] {
                    let mut r = &data[s.start..s.end];
                    let row = (0..width)
                        .map(|_| read_value(&mut r))
                        .collect::<io::Result<_>>()
                        .map_err(|e| damaged(None, &e.to_string()))?;
                    out.push(row);
                }
                *pos = end;
                *pending = 0;
            }
            Source::Done => {}
        }
        Ok(())
    }

    /// Copies the pending rows of the current group, still encoded, to `out` (run files only:
    /// only runs are merged into runs).
    fn copy_rows(&mut self, width: usize, out: &mut Vec<u8>) -> io::Result<()> {
        if let Source::Run {
            reader,
            run,
            pending,
            ..
        } = self
        {
            for _ in 0..*pending * width as u64 {
                copy_value(reader, out).map_err(|e| damaged(Some(&run.0), &e.to_string()))?;
            }
            *pending = 0;
        }
        Ok(())
    }
}

fn put_value(out: &mut Vec<u8>, v: Option<&str>) {
    match v {
        None => crate::varint::put(out, 0),
        Some(s) => {
            crate::varint::put(out, s.len() as u64 + 1);
            out.extend_from_slice(s.as_bytes());
        }
    }
}

fn value_len(v: Option<&str>) -> usize {
    match v {
        None => 1,
        Some(s) => crate::varint::len(s.len() as u64 + 1) + s.len(),
    }
}

/// A varint; `None` at the very end of the input.
fn read_varint<R: Read>(r: &mut R) -> io::Result<Option<u64>> {
    let next = || -> io::Result<Option<u8>> {
        let mut b = [0u8];
        loop {
            match r.read(&mut b) {
                Ok(0) => return Ok(None),
                Ok(_) => return Ok(Some(b[0])),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    };
    crate::varint::read_stream(next).map_err(|e| match e {
        crate::varint::StreamError::Truncated => eof(),
        crate::varint::StreamError::TooLong => {
            io::Error::new(io::ErrorKind::InvalidData, "a varint too long")
        }
        crate::varint::StreamError::Io(e) => e,
    })
}

fn read_value<R: Read>(r: &mut R) -> io::Result<Option<String>> {
    let tag = read_varint(r)?.ok_or_else(eof)?;
    if tag == 0 {
        return Ok(None);
    }
    let len = tag - 1;
    let mut bytes = Vec::new();
    // `take` rather than a buffer of `len` bytes: a damaged length cannot ask for all memory.
    r.take(len).read_to_end(&mut bytes)?;
    if bytes.len() as u64 != len {
        return Err(eof());
    }
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "text that is not UTF-8"))
}

fn copy_value<R: Read>(r: &mut R, out: &mut Vec<u8>) -> io::Result<()> {
    let tag = read_varint(r)?.ok_or_else(eof)?;
    crate::varint::put(out, tag);
    if tag > 0 {
        let len = tag - 1;
        if r.take(len).read_to_end(out)? as u64 != len {
            return Err(eof());
        }
    }
    Ok(())
}

fn eof() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "it ends early")
}

fn cannot(what: &str, path: &Path, e: io::Error) -> io::Error {
    io::Error::new(
        e.kind(),
        format!(
            "cannot {what} `{}`: {e}; check that the folder is writable and the disk is not full",
            path.display()
        ),
    )
}

fn damaged(path: Option<&Path>, what: &str) -> io::Error {
    let file = match path {
        Some(p) => format!("the spill file `{}`", p.display()),
        None => "grouped rows in memory".to_string(),
    };
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!(
            "{file} could not be read back ({what}); was the spill folder changed while rowferry \
             ran? If not, this is a bug in rowferry, please report it"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    type Row = (Vec<Option<String>>, Vec<Option<String>>);

    fn s(v: &str) -> Option<String> {
        Some(v.to_string())
    }

    fn borrow(v: &[Option<String>]) -> Vec<Option<&str>> {
        v.iter().map(|x| x.as_deref()).collect()
    }

    fn group_all(dir: &Path, budget: usize, width: usize, rows: &[Row]) -> (Vec<Group>, usize) {
        let mut g = Grouper::new(dir.to_path_buf(), budget, width);
        for (k, v) in rows {
            g.push(&borrow(k), &borrow(v)).expect("push");
        }
        let runs = g.spilled_runs();
        let groups = g
            .finish()
            .expect("finish")
            .collect::<io::Result<Vec<_>>>()
            .expect("groups");
        (groups, runs)
    }

    /// Grouping the obvious way, all in memory.
    fn naive(rows: &[Row]) -> Vec<Group> {
        let mut groups: Vec<Group> = Vec::new();
        for (k, v) in rows {
            match groups.iter_mut().find(|g| &g.key == k) {
                Some(g) => g.rows.push(v.clone()),
                None => groups.push(Group {
                    key: k.clone(),
                    rows: vec![v.clone()],
                }),
            }
        }
        groups
    }

    fn files_in(dir: &Path) -> Vec<PathBuf> {
        match fs::read_dir(dir) {
            Ok(entries) => entries.map(|e| e.expect("entry").path()).collect(),
            Err(_) => Vec::new(),
        }
    }

    #[test]
    fn keys_come_out_in_order_of_first_appearance_with_rows_in_input_order() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let spill = tmp.path().join("spill");
        let rows: Vec<Row> = [("A", "1"), ("B", "2"), ("A", "3"), ("C", "4"), ("B", "5")]
            .iter()
            .map(|(k, v)| (vec![s(k)], vec![s(v), None]))
            .collect();
        let (groups, runs) = group_all(&spill, usize::MAX, 2, &rows);
        assert_eq!(runs, 0);
        let got: Vec<(String, Vec<String>)> = groups
            .iter()
            .map(|g| {
                (
                    g.key[0].clone().expect("key"),
                    g.rows
                        .iter()
                        .map(|r| r[0].clone().expect("value"))
                        .collect(),
                )
            })
            .collect();
        let want = |k: &str, v: &[&str]| (k.to_string(), v.iter().map(|x| x.to_string()).collect());
        assert_eq!(
            got,
            vec![
                want("A", &["1", "3"]),
                want("B", &["2", "5"]),
                want("C", &["4"])
            ]
        );
        assert!(groups.iter().all(|g| g.rows.iter().all(|r| r[1].is_none())));
        // No spill: not even the folder.
        assert!(!spill.exists());
    }

    #[test]
    fn null_and_empty_key_parts_are_distinct_keys_and_values() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let rows: Vec<Row> = vec![
            (vec![None, s("x")], vec![s("1")]),
            (vec![s(""), s("x")], vec![s("")]),
            (vec![s("x"), None], vec![None]),
            (vec![None, s("x")], vec![s("2")]),
            (vec![None, None], vec![s("3")]),
            (vec![s("x"), None], vec![s("4")]),
        ];
        for budget in [usize::MAX, 0] {
            let (groups, _) = group_all(tmp.path(), budget, 1, &rows);
            assert_eq!(groups, naive(&rows), "budget {budget}");
            assert_eq!(groups.len(), 4);
            assert_eq!(groups[1].rows, vec![vec![s("")]]);
            assert_eq!(groups[2].rows, vec![vec![None], vec![s("4")]]);
        }
    }

    /// 2,000 rows over 300 keys, some values long, some non-ASCII.
    fn many_rows() -> Vec<Row> {
        (0..2000u64)
            .map(|i| {
                let k = (i * 7919) % 300;
                let key = vec![
                    s(&format!("order-{k}")),
                    if k % 5 == 0 { None } else { s("eu") },
                ];
                let long = "é".repeat((i % 40) as usize);
                (key, vec![s(&i.to_string()), s(&long), None, s("")])
            })
            .collect()
    }

    #[test]
    fn spilling_gives_the_same_groups_as_memory_and_removes_its_files() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let spill = tmp.path().join("spill");
        let rows = many_rows();
        let (unlimited, runs) = group_all(&spill, usize::MAX, 4, &rows);
        assert_eq!(runs, 0);
        assert_eq!(unlimited.len(), 300);
        assert_eq!(unlimited, naive(&rows));
        let (spilled, runs) = group_all(&spill, 1024, 4, &rows);
        // More runs than one merge reads: some are merged into fewer first.
        assert!(runs > FAN_IN, "{runs} runs");
        assert_eq!(spilled, unlimited);
        assert!(spill.is_dir());
        assert_eq!(files_in(&spill), Vec::<PathBuf>::new());
    }

    #[test]
    fn runs_merged_in_several_passes_keep_input_order() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let rows = many_rows();
        let mut g = Grouper::new(tmp.path().to_path_buf(), 2048, 4);
        g.fan_in = 3;
        for (k, v) in &rows {
            g.push(&borrow(k), &borrow(v)).expect("push");
        }
        assert!(g.spilled_runs() > 9);
        let groups = g
            .finish()
            .expect("finish")
            .collect::<io::Result<Vec<_>>>()
            .expect("groups");
        assert_eq!(groups, naive(&rows));
        assert_eq!(files_in(tmp.path()), Vec::<PathBuf>::new());
    }

    #[test]
    fn dropping_early_removes_run_files() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let rows = many_rows();
        let mut g = Grouper::new(tmp.path().to_path_buf(), 4096, 4);
        for (k, v) in &rows[..500] {
            g.push(&borrow(k), &borrow(v)).expect("push");
        }
        assert!(!files_in(tmp.path()).is_empty());
        drop(g);
        assert_eq!(files_in(tmp.path()), Vec::<PathBuf>::new());

        let mut g = Grouper::new(tmp.path().to_path_buf(), 4096, 4);
        for (k, v) in &rows {
            g.push(&borrow(k), &borrow(v)).expect("push");
        }
        let mut groups = g.finish().expect("finish");
        groups.next().expect("a group").expect("read");
        assert!(!files_in(tmp.path()).is_empty());
        drop(groups);
        assert_eq!(files_in(tmp.path()), Vec::<PathBuf>::new());
    }

    #[test]
    fn a_run_file_cut_anywhere_is_an_error_not_a_panic() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let rows: Vec<Row> = many_rows().into_iter().take(12).collect();
        // Spills once, cuts the run file to `cut` bytes, then merges: the groups read, and the
        // run's full length.
        let spill_one = |cut: usize| -> (io::Result<Vec<Group>>, usize) {
            // 12 rows of 30 to 52 bytes (slot included): one run, the last rows in memory.
            let mut g = Grouper::new(tmp.path().to_path_buf(), 300, 4);
            for (k, v) in &rows {
                g.push(&borrow(k), &borrow(v)).expect("push");
            }
            assert_eq!(g.spilled_runs(), 1);
            let run = files_in(tmp.path()).pop().expect("a run file");
            let bytes = fs::read(&run).expect("read");
            fs::write(&run, &bytes[..cut.min(bytes.len())]).expect("truncate");
            (g.finish().and_then(|groups| groups.collect()), bytes.len())
        };
        let (whole, len) = spill_one(usize::MAX);
        assert_eq!(whole.expect("whole"), naive(&rows));
        assert!(len > 100, "{len}");
        for cut in 0..len {
            match spill_one(cut).0 {
                Ok(groups) => panic!("cut at {cut}: read as {} groups", groups.len()),
                Err(e) => {
                    assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}");
                    assert!(e.to_string().contains("could not be read back"), "{e}");
                }
            }
        }
        assert_eq!(files_in(tmp.path()), Vec::<PathBuf>::new());
    }

    #[test]
    fn a_row_of_the_wrong_width_is_an_error() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut g = Grouper::new(tmp.path().to_path_buf(), 1024, 2);
        let e = g.push(&[Some("k")], &[Some("v")]).expect_err("width");
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn varints_round_trip() {
        for v in [
            0,
            1,
            127,
            128,
            300,
            16_383,
            16_384,
            u32::MAX as u64,
            u64::MAX,
        ] {
            let mut b = Vec::new();
            crate::varint::put(&mut b, v);
            assert_eq!(b.len(), crate::varint::len(v), "{v}");
            assert_eq!(read_varint(&mut b.as_slice()).expect("read"), Some(v));
        }
    }

    fn cell() -> impl Strategy<Value = Option<String>> {
        prop_oneof![
            Just(None),
            "[ab]{0,2}".prop_map(Some),
            "[a-zé]{3,20}".prop_map(Some)
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn grouping_matches_a_naive_grouping(
            rows in prop::collection::vec(
                (prop::collection::vec(cell(), 2), prop::collection::vec(cell(), 3)),
                0..150,
            ),
            budget in prop_oneof![Just(0usize), 64usize..600, Just(usize::MAX)],
        ) {
            let tmp = tempfile::tempdir().expect("tempdir");
            let (groups, _) = group_all(tmp.path(), budget, 3, &rows);
            prop_assert_eq!(groups, naive(&rows));
            prop_assert!(files_in(tmp.path()).is_empty());
        }
    }
}
