//! The sink stage: projects each target's columns and writes its files.
//!
//! `sink` owns output formats and files. Per chunk, each target takes the rows routed to it,
//! evaluates its `columns` (SQL expressions, vectorised) and turns every value into its
//! canonical text — ISO dates, `.` decimal point, exact decimals — once per column; numbers,
//! dates and booleans bound for a CSV or JSON target stay typed and their text is written
//! straight into the file's buffer (see `cells`). Rows are then written in input order to the file their path template names: `{field}` makes one file per
//! distinct value (sanitised into a safe file name that cannot leave the target's folder),
//! `{batch}` rolls a file every `batch_size` records. At most `[run] max_open_files` files are
//! open at once; the least recently used is closed and reopened for appending when needed. Every
//! file is hashed as it is written. Files go to a staging folder (see [`crate::commit`]) and are moved
//! into place only when the whole run succeeds.

mod cells;
mod csv_out;
mod encode;
mod group;
pub mod project;
mod swar;
mod transcode;
pub mod xlsx;

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use polars::prelude::{PolarsError, StringChunked};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::plan::{Binding, Format, PathPart, Plan, Target};

/// The staging folder's subfolder for spill files; removed before the outputs are committed.
const SPILL: &str = ".rowferry-spill";
use cells::{Cells, TextArray};
use encode::{Encoder, Kind, TextColumn};
use group::Grouper;
pub use project::{Projected, Projector};

/// A target file could not be written.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error(
        "cannot write `{path}`: {source}; check that the output folder is writable and the disk is not full"
    )]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "target `{target}` failed on the chunk starting at row {row}: {source}; {}", crate::broken_rows::advice(.source)
    )]
    Engine {
        target: String,
        row: u64,
        #[source]
        source: PolarsError,
    },
    #[error("target `{target}`: {source}")]
    Xlsx {
        target: String,
        #[source]
        source: Box<xlsx::XlsxError>,
    },
    #[error(
        "column `{column}` of target `{target}` cannot be written with its format: {message}; a `format` applies to dates and date-times, `decimal_separator` to numbers with a fraction"
    )]
    Format {
        target: String,
        column: String,
        message: String,
    },
}

/// What a target wrote, for the report.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TargetReport {
    pub name: String,
    pub path: String,
    pub format: String,
    pub rows: u64,
    pub files: Vec<FileReport>,
}

/// One written file.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FileReport {
    /// Relative to the output folder, with `/` separators.
    pub path: String,
    /// Input rows written to the file.
    pub rows: u64,
    /// Records in the file: its rows, or its groups for a grouped JSON target.
    pub records: u64,
    pub bytes: u64,
    pub sha256: String,
    /// XLSX: the workbook's sheets (more than one when rows overflowed a sheet).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sheets: Vec<String>,
}

/// A file being written: bytes are hashed as the buffer in front of it flushes them, in large
/// blocks.
struct Hashed {
    file: File,
    hasher: Sha256,
    bytes: u64,
    /// False for an XLSX spill: the workbook built from it is hashed instead.
    hashing: bool,
}

impl Write for Hashed {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        if self.hashing {
            self.hasher.update(&buf[..n]);
        }
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

type Out = BufWriter<Hashed>;

struct FileState {
    rel: PathBuf,
    /// XLSX: the spill file rows are appended to until the workbook is built.
    spill: Option<PathBuf>,
    /// XLSX: the sheets of the built workbook.
    sheets: Vec<String>,
    /// Its `{batch}` number (1-based).
    batch: u64,
    /// Input rows written to it.
    rows: u64,
    /// Records written to it: rows, or groups in a grouped JSON target.
    records: u64,
    /// Open writer, if the file is open now.
    encoder: Option<Encoder<Out>>,
    /// Hash and size so far while the file is closed.
    hasher: Sha256,
    bytes: u64,
    created: bool,
    last_used: u64,
}

/// Records written so far to one partition (one distinct tuple of `{field}` values).
struct Partition {
    /// Records: rows, or groups in a grouped target; `batch_size` counts them.
    rows: u64,
    /// The file rows currently go to.
    file: Option<usize>,
    /// Added to its file names when another value sanitises to the same name; decided once,
    /// so every batch of a value is named alike.
    suffix: Option<String>,
}

struct TargetSink {
    /// The target's place in the mapping: spill files are named after it.
    index: usize,
    target: Target,
    names: Vec<String>,
    /// What a CSV file's header says: `names`, formula-like ones escaped when the guard says so.
    header: Vec<String>,
    parts: usize,
    tree: encode::Tree,
    files: Vec<FileState>,
    partitions: HashMap<Vec<Option<String>>, Partition>,
    /// Lower-cased relative paths in use, to keep distinct values in distinct files even on
    /// case-insensitive file systems.
    used: HashMap<String, Vec<Option<String>>>,
    rows: u64,
    /// A grouped JSON target's rows, gathered until the end of the run.
    grouper: Option<Grouper>,
    /// The JSON kind of each column, known from the first chunk.
    kinds: Option<Vec<Kind>>,
}

/// Writes every target of a run.
pub struct Sinks {
    root: PathBuf,
    targets: Vec<TargetSink>,
    max_open: usize,
    open: usize,
    tick: u64,
}

impl Sinks {
    /// Prepares the targets of `share` (all of them, for one writer), writing under `root` (the
    /// staging folder).
    pub fn new(
        plan: &Plan,
        binding: &Binding,
        root: &Path,
        share: &Share,
    ) -> Result<Self, SinkError> {
        let mut targets = Vec::new();
        let grouped = plan
            .targets
            .iter()
            .filter(|t| !t.group_by.is_empty())
            .count();
        for &ti in &share.targets {
            let Some(t) = plan.targets.get(ti) else {
                continue;
            };
            let (names, _) = project::output_columns(t, binding);
            let (header, _) = project::csv_header(t, &names, plan.run.formula_guard, 0);
            let tree = encode::Tree::new(&names);
            // The run's grouping memory is shared between its grouped targets.
            let grouper = (!t.group_by.is_empty()).then(|| {
                Grouper::new(
                    root.join(SPILL).join(format!("group-{ti}")),
                    plan.run.group_memory / grouped.max(1),
                    names.len(),
                )
            });
            targets.push(TargetSink {
                index: ti,
                grouper,
                kinds: None,
                target: t.clone(),
                parts: t.path.fields().count(),
                names,
                header,
                tree,
                files: Vec::new(),
                partitions: HashMap::new(),
                used: HashMap::new(),
                rows: 0,
            });
        }
        let mut sinks = Sinks {
            root: root.to_path_buf(),
            targets,
            max_open: share.max_open.max(1),
            open: 0,
            tick: 0,
        };
        // A target with one file has it even when no row goes there: an empty CSV with its
        // header tells a downstream service "nothing today", a missing file does not.
        for ti in 0..sinks.targets.len() {
            if sinks.targets[ti].parts == 0 && sinks.targets[ti].target.batch_size.is_none() {
                sinks.file_for(ti, &[], 1)?;
            }
        }
        Ok(sinks)
    }

    /// Writes a projected chunk: each of this writer's targets' rows (in the order of its
    /// share), in input order.
    pub fn write(&mut self, rows: Vec<Option<project::TargetRows>>) -> Result<(), SinkError> {
        for (ti, rows) in rows.into_iter().enumerate() {
            let Some(rows) = rows else { continue };
            if self.targets[ti].grouper.is_some() {
                self.gather(ti, &rows)?;
            } else {
                self.write_rows(ti, &rows.columns, &rows.partition, rows.rows())?;
            }
        }
        Ok(())
    }

    /// A grouped target keeps its rows until the end of the run: a key's rows may be anywhere.
    fn gather(&mut self, ti: usize, rows: &project::TargetRows) -> Result<(), SinkError> {
        let t = &mut self.targets[ti];
        let spill_err = |source| SinkError::Write {
            path: self.root.join(SPILL),
            source,
        };
        if t.kinds.is_none() {
            t.kinds = Some(rows.columns.iter().map(|c| c.kind).collect());
        }
        let arrays: Vec<TextArray> = rows
            .columns
            .iter()
            .map(|c| TextArray::from_text(&c.values.to_text()))
            .collect();
        let keys: Vec<TextArray> = rows
            .partition
            .iter()
            .chain(&rows.group)
            .map(TextArray::from_text)
            .collect();
        let Some(grouper) = t.grouper.as_mut() else {
            return Ok(());
        };
        let mut key: Vec<Option<&str>> = Vec::with_capacity(keys.len());
        let mut values: Vec<Option<&str>> = Vec::with_capacity(arrays.len());
        for i in rows.rows() {
            key.clear();
            key.extend(keys.iter().map(|k| k.get(i)));
            values.clear();
            values.extend(arrays.iter().map(|a| a.get(i)));
            grouper.push(&key, &values).map_err(spill_err)?;
        }
        t.rows += rows.len as u64;
        Ok(())
    }

    /// Writes a grouped target's records, in the order their keys first appeared.
    fn emit_groups(&mut self, ti: usize) -> Result<(), SinkError> {
        let Some(grouper) = self.targets[ti].grouper.take() else {
            return Ok(());
        };
        let spill_dir = self.root.join(SPILL);
        let spill_err = |source| SinkError::Write {
            path: spill_dir.clone(),
            source,
        };
        let kinds = self.targets[ti].kinds.clone().unwrap_or_default();
        let parts = self.targets[ti].parts;
        for group in grouper.finish().map_err(spill_err)? {
            let group = group.map_err(spill_err)?;
            let partition = &group.key[..parts];
            let (fi, _) = self.current_file(ti, partition)?;
            self.touch(ti, fi)?;
            let path = self.write_path(ti, fi);
            let t = &mut self.targets[ti];
            let file = &mut t.files[fi];
            let encoder = file.encoder.as_mut().ok_or_else(|| SinkError::Write {
                path: path.clone(),
                source: std::io::Error::other("the file is not open"),
            })?;
            encoder
                .group(&group.rows, &kinds, &t.tree)
                .map_err(|source| SinkError::Write { path, source })?;
            file.rows += group.rows.len() as u64;
            file.records += 1;
            if let Some(p) = t.partitions.get_mut(partition) {
                p.rows += 1;
            }
        }
        Ok(())
    }

    fn write_rows(
        &mut self,
        ti: usize,
        columns: &[TextColumn],
        keys: &[StringChunked],
        rows: Vec<usize>,
    ) -> Result<(), SinkError> {
        // Group rows by partition, keeping input order within each: each file is opened once
        // per chunk, however the partitions interleave.
        let mut groups: Vec<(Vec<Option<String>>, Vec<usize>)> = Vec::new();
        if keys.is_empty() {
            groups.push((Vec::new(), rows));
        } else {
            // Keys borrow the chunk's text; only a partition seen for the first time is copied.
            let keys: Vec<TextArray> = keys.iter().map(TextArray::from_text).collect();
            let mut index: HashMap<Vec<Option<&str>>, usize, foldhash::fast::RandomState> =
                HashMap::default();
            let mut key: Vec<Option<&str>> = Vec::with_capacity(keys.len());
            for i in rows {
                key.clear();
                key.extend(keys.iter().map(|k| k.get(i)));
                let g = match index.get(key.as_slice()) {
                    Some(&g) => g,
                    None => {
                        let owned = key.iter().map(|v| v.map(str::to_string)).collect();
                        groups.push((owned, Vec::new()));
                        index.insert(key.clone(), groups.len() - 1);
                        groups.len() - 1
                    }
                };
                groups[g].1.push(i);
            }
        }
        let cells: Vec<Cells> = columns.iter().map(|c| Cells::new(&c.values)).collect();
        let kinds: Vec<Kind> = columns.iter().map(|c| c.kind).collect();
        for (key, rows) in groups {
            let mut rest: &[usize] = &rows;
            while !rest.is_empty() {
                let (fi, room) = self.current_file(ti, &key)?;
                let take = room.min(rest.len());
                self.touch(ti, fi)?;
                let t = &mut self.targets[ti];
                let file = &mut t.files[fi];
                let path = self.root.join(&file.rel);
                let encoder = file.encoder.as_mut().ok_or_else(|| SinkError::Write {
                    path: path.clone(),
                    source: std::io::Error::other("the file is not open"),
                })?;
                for &i in &rest[..take] {
                    encoder
                        .record_cells(&cells, i, &kinds, &t.tree)
                        .map_err(|source| SinkError::Write {
                            path: path.clone(),
                            source,
                        })?;
                }
                file.rows += take as u64;
                file.records += take as u64;
                t.rows += take as u64;
                if let Some(p) = t.partitions.get_mut(&key) {
                    p.rows += take as u64;
                }
                rest = &rest[take..];
            }
        }
        Ok(())
    }

    /// The file the next row of partition `key` goes to, and how many rows it still takes.
    fn current_file(
        &mut self,
        ti: usize,
        key: &[Option<String>],
    ) -> Result<(usize, usize), SinkError> {
        let (rows, file) = match self.targets[ti].partitions.get(key) {
            Some(p) => (p.rows, p.file),
            None => (0, None),
        };
        let Some(b) = self.targets[ti].target.batch_size else {
            let fi = match file {
                Some(fi) => fi,
                None => self.file_for(ti, key, 1)?,
            };
            return Ok((fi, usize::MAX));
        };
        let batch = rows / b + 1;
        let room = (b - rows % b) as usize;
        if let Some(fi) = file {
            if self.targets[ti].files[fi].batch == batch {
                return Ok((fi, room));
            }
            // The previous batch file is complete.
            self.finish_file(ti, fi)?;
        }
        Ok((self.file_for(ti, key, batch)?, room))
    }

    /// Creates the file of partition `key`, batch `batch` (1-based), and makes it current.
    fn file_for(
        &mut self,
        ti: usize,
        key: &[Option<String>],
        batch: u64,
    ) -> Result<usize, SinkError> {
        let t = &mut self.targets[ti];
        if !t.partitions.contains_key(key) {
            // The first time a value is seen: does its name (batch aside) clash with another's?
            let mut suffix = None;
            let stem = fold(&render(&t.target, key, 0, None));
            if t.used
                .get(&stem)
                .is_some_and(|owner| owner.as_slice() != key)
            {
                let tag = disambiguator(key);
                t.used
                    .insert(fold(&render(&t.target, key, 0, Some(&tag))), key.to_vec());
                suffix = Some(tag);
            } else {
                t.used.insert(stem, key.to_vec());
            }
            t.partitions.insert(
                key.to_vec(),
                Partition {
                    rows: 0,
                    file: None,
                    suffix,
                },
            );
        }
        let suffix = t.partitions.get(key).and_then(|p| p.suffix.clone());
        let rel = render(&t.target, key, batch, suffix.as_deref());
        let fi = t.files.len();
        let spill = (t.target.format == Format::Xlsx).then(|| {
            self.root
                .join(SPILL)
                .join(format!("{}-{}.spill", t.index, t.files.len()))
        });
        t.files.push(FileState {
            rel,
            spill,
            sheets: Vec::new(),
            batch,
            rows: 0,
            records: 0,
            encoder: None,
            hasher: Sha256::new(),
            bytes: 0,
            created: false,
            last_used: 0,
        });
        if let Some(p) = t.partitions.get_mut(key) {
            p.file = Some(fi);
        }
        self.touch(ti, fi)?;
        Ok(fi)
    }

    /// Opens file `fi` of target `ti` if needed (closing the least recently used one when the
    /// cap is reached) and marks it used.
    fn touch(&mut self, ti: usize, fi: usize) -> Result<(), SinkError> {
        self.tick += 1;
        let tick = self.tick;
        if self.targets[ti].files[fi].encoder.is_some() {
            self.targets[ti].files[fi].last_used = tick;
            return Ok(());
        }
        while self.open >= self.max_open {
            if !self.close_lru()? {
                break;
            }
        }
        let path = self.write_path(ti, fi);
        let file = loop {
            match self.open_file(ti, fi, &path) {
                Ok(f) => break f,
                // Out of file descriptors: close one and lower the cap for the rest of the run.
                Err(e) if matches!(e.raw_os_error(), Some(23 | 24)) && self.open > 0 => {
                    self.max_open = self.open.max(2) - 1;
                    self.close_lru()?;
                }
                Err(source) => return Err(SinkError::Write { path, source }),
            }
        };
        let t = &mut self.targets[ti];
        let format = t.target.format;
        let csv = t.target.csv.clone();
        let f = &mut t.files[fi];
        // CSV and JSON encoders hand on their records in blocks larger than this buffer, which
        // then go to the file as they are, without being copied again.
        let capacity = if format == Format::Xlsx {
            256 * 1024
        } else {
            8 * 1024
        };
        let out = BufWriter::with_capacity(
            capacity,
            Hashed {
                file,
                hasher: std::mem::take(&mut f.hasher),
                bytes: f.bytes,
                hashing: f.spill.is_none(),
            },
        );
        let fresh = !f.created;
        let envelope = t.target.envelope.as_ref().map(|e| e.join("."));
        let mut encoder = Encoder::new(format, csv, out, fresh)
            .map_err(|source| SinkError::Write {
                path: path.clone(),
                source,
            })?
            .with_envelope(envelope.as_deref());
        if fresh {
            f.created = true;
            encoder
                .start(&t.header)
                .map_err(|source| SinkError::Write {
                    path: path.clone(),
                    source,
                })?;
        } else {
            encoder.resume(f.records);
        }
        f.encoder = Some(encoder);
        f.last_used = tick;
        self.open += 1;
        Ok(())
    }

    /// Where file `fi`'s bytes go while rows are written: the file, or an XLSX target's spill.
    fn write_path(&self, ti: usize, fi: usize) -> PathBuf {
        let f = &self.targets[ti].files[fi];
        match &f.spill {
            Some(spill) => spill.clone(),
            None => self.root.join(&f.rel),
        }
    }

    fn open_file(&self, ti: usize, fi: usize, path: &Path) -> std::io::Result<File> {
        if self.targets[ti].files[fi].created {
            OpenOptions::new().append(true).open(path)
        } else {
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent)?;
            }
            File::create(path)
        }
    }

    /// Closes the least recently used open file. False when none is open.
    fn close_lru(&mut self) -> Result<bool, SinkError> {
        let mut best: Option<(u64, usize, usize)> = None;
        for (ti, t) in self.targets.iter().enumerate() {
            for (fi, f) in t.files.iter().enumerate() {
                if f.encoder.is_some() && best.is_none_or(|(u, _, _)| f.last_used < u) {
                    best = Some((f.last_used, ti, fi));
                }
            }
        }
        let Some((_, ti, fi)) = best else {
            return Ok(false);
        };
        self.close(ti, fi)?;
        Ok(true)
    }

    fn close(&mut self, ti: usize, fi: usize) -> Result<(), SinkError> {
        let path = self.write_path(ti, fi);
        let f = &mut self.targets[ti].files[fi];
        if let Some(encoder) = f.encoder.take() {
            let out = encoder.into_inner().map_err(|source| SinkError::Write {
                path: path.clone(),
                source,
            })?;
            let out = out.into_inner().map_err(|e| SinkError::Write {
                path,
                source: e.into_error(),
            })?;
            f.hasher = out.hasher;
            f.bytes = out.bytes;
            self.open -= 1;
        }
        Ok(())
    }

    /// Writes the end of file `fi` (a JSON array's `]`) and closes it; an XLSX target's
    /// workbook is built from its spill now.
    fn finish_file(&mut self, ti: usize, fi: usize) -> Result<(), SinkError> {
        self.touch(ti, fi)?;
        let path = self.write_path(ti, fi);
        if let Some(encoder) = self.targets[ti].files[fi].encoder.as_mut() {
            encoder
                .finish()
                .map_err(|source| SinkError::Write { path, source })?;
        }
        self.close(ti, fi)?;
        let t = &mut self.targets[ti];
        let f = &mut t.files[fi];
        if let Some(spill) = f.spill.take() {
            let out = self.root.join(&f.rel);
            if let Some(parent) = out.parent() {
                fs::create_dir_all(parent).map_err(|source| SinkError::Write {
                    path: out.clone(),
                    source,
                })?;
            }
            let options = xlsx::XlsxOptions {
                sheet: t.target.sheet.clone(),
                formats: t
                    .names
                    .iter()
                    .map(|n| t.target.column_format(n).and_then(|c| c.format.clone()))
                    .collect(),
                ..xlsx::XlsxOptions::default()
            };
            let written = xlsx::build(&spill, &out, &t.names, &options).map_err(|source| {
                SinkError::Xlsx {
                    target: t.target.name.clone(),
                    source: Box::new(source),
                }
            })?;
            f.sheets = written.sheets;
            let (hasher, bytes) = hash_file(&out)?;
            f.hasher = hasher;
            f.bytes = bytes;
            fs::remove_file(&spill).map_err(|source| SinkError::Write {
                path: spill.clone(),
                source,
            })?;
        }
        Ok(())
    }

    /// Finishes every file and says what each target wrote.
    pub fn finish(mut self) -> Result<Vec<TargetReport>, SinkError> {
        for ti in 0..self.targets.len() {
            self.emit_groups(ti)?;
            // A batched target with no partition and no row still has its first (empty) file.
            if self.targets[ti].parts == 0 && self.targets[ti].files.is_empty() {
                self.file_for(ti, &[], 1)?;
            }
            let mut current: Vec<usize> = self.targets[ti]
                .partitions
                .values()
                .filter_map(|p| p.file)
                .collect();
            current.sort_unstable();
            for fi in current {
                self.finish_file(ti, fi)?;
            }
        }
        Ok(self
            .targets
            .into_iter()
            .map(|t| TargetReport {
                name: t.target.name.clone(),
                path: t.target.path.text.clone(),
                format: t.target.format.name().to_string(),
                rows: t.rows,
                files: t
                    .files
                    .into_iter()
                    .map(|f| FileReport {
                        path: slash(&f.rel),
                        rows: f.rows,
                        records: f.records,
                        bytes: f.bytes,
                        sha256: crate::plan::hex(&f.hasher.finalize()),
                        sheets: f.sheets,
                    })
                    .collect(),
            })
            .collect())
    }
}

/// The targets one writer thread owns, in mapping order, and how many files it may keep open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Share {
    pub targets: Vec<usize>,
    pub max_open: usize,
}

/// Splits the targets of `plan` among at most `writers` writer threads, so that the files of
/// different targets are encoded, hashed and written in parallel. Each target belongs to one
/// writer for the whole run, so its rows stay in input order. Targets are balanced by their
/// output columns (JSON twice: keys are written too; XLSX eight times: cells go through a spill
/// file and a workbook), and `[run] max_open_files` is divided so that the writers together never
/// hold more: a writer without `{field}` partitions needs one open file per target, the rest go
/// to the writers that have partitions. Below two files per writer, one writer does it all.
pub fn shares(plan: &Plan, binding: &Binding, writers: usize) -> Vec<Share> {
    let cap = plan.run.max_open_files.max(1);
    let n = writers.min(plan.targets.len()).min(cap / 2).max(1);
    if n == 1 {
        return vec![Share {
            targets: (0..plan.targets.len()).collect(),
            max_open: cap,
        }];
    }
    let weight: Vec<usize> = plan
        .targets
        .iter()
        .map(|t| {
            let columns = project::output_columns(t, binding).0.len().max(1);
            columns
                * match t.format {
                    Format::Csv | Format::Tsv => 1,
                    Format::Json | Format::Ndjson => 2,
                    Format::Xlsx => 8,
                }
        })
        .collect();
    let mut order: Vec<usize> = (0..plan.targets.len()).collect();
    // Heaviest first, each to the least loaded writer; ties by mapping order.
    order.sort_by_key(|&ti| std::cmp::Reverse(weight[ti]));
    let mut load = vec![0usize; n];
    let mut owned: Vec<Vec<usize>> = vec![Vec::new(); n];
    for ti in order {
        let k = (0..n).min_by_key(|&k| (load[k], k)).unwrap_or(0);
        load[k] += weight[ti];
        owned[k].push(ti);
    }
    owned.retain(|o| !o.is_empty());
    for o in &mut owned {
        o.sort_unstable();
    }
    let partitioned: Vec<bool> = owned
        .iter()
        .map(|o| {
            o.iter()
                .any(|&ti| plan.targets[ti].path.fields().count() > 0)
        })
        .collect();
    let even = cap / owned.len();
    let mut max_open: Vec<usize> = owned
        .iter()
        .zip(&partitioned)
        .map(|(o, &p)| if p { 0 } else { o.len().min(even) })
        .collect();
    let mut rest = cap - max_open.iter().sum::<usize>();
    let mut left = partitioned.iter().filter(|p| **p).count();
    for (open, &p) in max_open.iter_mut().zip(&partitioned) {
        if p {
            *open = rest / left;
            rest -= *open;
            left -= 1;
        }
    }
    owned
        .into_iter()
        .zip(max_open)
        .map(|(targets, max_open)| Share {
            targets,
            max_open: max_open.max(1),
        })
        .collect()
}

/// Removes the spill folder once every writer has finished.
pub fn remove_spill(root: &Path) -> Result<(), SinkError> {
    let spill = root.join(SPILL);
    if spill.exists() {
        fs::remove_dir_all(&spill).map_err(|source| SinkError::Write {
            path: spill.clone(),
            source,
        })?;
    }
    Ok(())
}

/// The SHA-256 and size of a finished file, read back from disk.
fn hash_file(path: &Path) -> Result<(Sha256, u64), SinkError> {
    let err = |source| SinkError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::open(path).map_err(err)?;
    let mut hasher = Sha256::new();
    let bytes = std::io::copy(&mut file, &mut hasher).map_err(err)?;
    Ok((hasher, bytes))
}

/// The relative path of a target file.
fn render(t: &Target, key: &[Option<String>], batch: u64, suffix: Option<&str>) -> PathBuf {
    let mut s = String::new();
    let mut k = 0;
    for part in &t.path.parts {
        match part {
            PathPart::Text(text) => s.push_str(text),
            PathPart::Field(_) => {
                s.push_str(&sanitise(key.get(k).and_then(|v| v.as_deref())));
                if let Some(suffix) = suffix {
                    s.push('~');
                    s.push_str(suffix);
                }
                k += 1;
            }
            PathPart::Batch => s.push_str(&format!("{batch:04}")),
        }
    }
    // A value never names the report's folder (`{region}/x.csv` with region `_report`).
    let first = s.split(['/', '\\']).next().unwrap_or("");
    if first.eq_ignore_ascii_case(crate::report::REPORT_DIR) {
        s.insert(0, '_');
    }
    PathBuf::from(s)
}

/// A partition value as one safe file-name component: no separators, no `.`/`..`, no control
/// or reserved characters, no leading dot (hidden file), no Windows device name (`CON`, `nul.txt`,
/// `COM1` → `_CON`…), bounded length. An empty or null value is `_empty`.
pub fn sanitise(value: Option<&str>) -> String {
    let v = value.unwrap_or("").trim();
    if v.is_empty() {
        return "_empty".into();
    }
    let mut out: String = v
        .chars()
        .map(|c| match c {
            '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|' => '_',
            c if c.is_control() || invisible(c) => '_',
            c => c,
        })
        .collect();
    if out.starts_with('.') {
        out.replace_range(0..1, "_");
    }
    if out.ends_with('.') || out.ends_with(' ') {
        out.pop();
        out.push('_');
    }
    // Windows device names, with or without an extension, name no file there.
    let stem = out
        .split('.')
        .next()
        .unwrap_or("")
        .trim_end()
        .to_ascii_uppercase();
    let reserved = matches!(
        stem.as_str(),
        "CON" | "PRN" | "AUX" | "NUL" | "CONIN$" | "CONOUT$"
    ) || stem
        .strip_prefix("COM")
        .or_else(|| stem.strip_prefix("LPT"))
        .is_some_and(|n| {
            let mut n = n.chars();
            // Windows reserves the superscript digits too (`COM¹`).
            n.next()
                .is_some_and(|d| d.is_ascii_digit() || matches!(d, '¹' | '²' | '³'))
                && n.next().is_none()
        });
    if reserved {
        out.insert(0, '_');
    }
    const MAX: usize = 100;
    if out.len() > MAX {
        let mut end = MAX;
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
    }
    out
}

/// Characters that change how a name is shown without showing themselves: bidirectional
/// overrides (`U+202E` makes `gpj.exe` read `exe.jpg`), zero-width characters, the soft hyphen
/// and other format characters.
fn invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{061C}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{2028}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{E0000}'..='\u{E007F}'
    )
}

/// A short, stable tag that tells apart values that sanitise to the same name.
fn disambiguator(key: &[Option<String>]) -> String {
    let mut h = Sha256::new();
    for v in key {
        h.update(v.as_deref().unwrap_or("\u{0}").as_bytes());
        h.update([0x1f]);
    }
    crate::plan::hex(&h.finalize()[..4])
}

fn fold(p: &Path) -> String {
    slash(p).to_lowercase()
}

fn slash(p: &Path) -> String {
    p.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::{Share, sanitise, shares};

    /// The shares of the targets of a mapping whose source has columns `id`, `name`, `city`.
    fn shares_of(targets: &str, max_open: usize, writers: usize) -> Vec<Share> {
        let dir = tempfile::tempdir().expect("temp dir");
        let mapping = dir.path().join("m.toml");
        std::fs::write(
            &mapping,
            format!(
                "[source]\npath = \"in.csv\"\n\n[run]\nmax_open_files = {max_open}\n\n{targets}"
            ),
        )
        .expect("write the mapping");
        let plan = crate::plan::load(&mapping, None, &[]).expect("a valid mapping");
        let header = ["id", "name", "city"].map(String::from);
        let binding = crate::plan::bind(&plan, Some(&header)).expect("bound");
        shares(&plan, &binding, writers)
    }

    const FOUR: &str = r#"
[targets.all]
path = "all.csv"

[targets.ids]
path = "ids.csv"
columns.id = "id"

[targets.by_city]
path = "cities/{city}.csv"
columns.id = "id"

[targets.api]
path = "api/{batch}.json"
batch_size = 10
columns."a.id" = "id"
columns."a.name" = "name"
"#;

    #[test]
    fn targets_are_shared_among_writers_within_the_open_file_cap() {
        let split = shares_of(FOUR, 64, 2);
        assert_eq!(split.len(), 2, "{split:?}");
        let mut owned: Vec<usize> = split.iter().flat_map(|s| s.targets.clone()).collect();
        owned.sort_unstable();
        assert_eq!(
            owned,
            [0, 1, 2, 3],
            "each target belongs to exactly one writer"
        );
        for s in &split {
            assert!(s.targets.is_sorted(), "{s:?}");
        }
        // Heaviest first to the least loaded writer: the JSON target (two columns written with
        // their keys, 4), then `all` (three columns), `ids` beside it, `by_city` on the tie.
        assert_eq!(split[0].targets, [2, 3], "{split:?}");
        assert_eq!(split[1].targets, [0, 1], "{split:?}");
        // A writer without partitions keeps a file per target open; the writer with the
        // partitioned target gets every other file.
        assert_eq!(split[1].max_open, 2, "{split:?}");
        assert_eq!(split[0].max_open, 62, "{split:?}");
        // Never more writers than targets, or than half the cap; one writer keeps the cap.
        assert_eq!(shares_of(FOUR, 64, 8).len(), 4);
        for (cap, writers) in [(3, 2), (64, 1)] {
            assert_eq!(
                shares_of(FOUR, cap, writers),
                [Share {
                    targets: vec![0, 1, 2, 3],
                    max_open: cap
                }]
            );
        }
        for cap in 4..40 {
            let split = shares_of(FOUR, cap, 4);
            let open: usize = split.iter().map(|s| s.max_open).sum();
            assert!(open <= cap, "cap {cap}: {split:?}");
            assert!(
                split.iter().all(|s| s.max_open >= 1),
                "cap {cap}: {split:?}"
            );
        }
    }

    #[test]
    fn partition_values_become_safe_names() {
        let cases = [
            (None, "_empty"),
            (Some(""), "_empty"),
            (Some("  "), "_empty"),
            (Some(".."), "__"),
            (Some("."), "_"),
            (Some("../etc/passwd"), "_._etc_passwd"),
            (Some("a/b\\c"), "a_b_c"),
            (Some("C:"), "C_"),
            (Some(".hidden"), "_hidden"),
            (Some("tab\there"), "tab_here"),
            (Some("line\nbreak\u{0}"), "line_break_"),
            (Some("CON"), "_CON"),
            (Some("nul.txt"), "_nul.txt"),
            (Some("Com1"), "_Com1"),
            (Some("LPT9.csv"), "_LPT9.csv"),
            (Some("COM¹"), "_COM¹"),
            (Some("lpt³.txt"), "_lpt³.txt"),
            (Some("COM10"), "COM10"),
            (Some("invoice\u{202E}fdp.exe"), "invoice_fdp.exe"),
            (Some("a\u{200B}b"), "a_b"),
            (Some("COMPANY"), "COMPANY"),
            (Some("Nord-Est"), "Nord-Est"),
            (Some("trailing."), "trailing_"),
            (Some("Île-de-France"), "Île-de-France"),
        ];
        for (value, expected) in cases {
            assert_eq!(sanitise(value), expected, "{value:?}");
        }
        let long = "é".repeat(80);
        let s = sanitise(Some(&long));
        assert!(s.len() <= 100 && s.chars().all(|c| c == 'é'));
    }
}
