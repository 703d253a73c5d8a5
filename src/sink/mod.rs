//! The sink stage: projects each target's columns and writes its files.
//!
//! `sink` owns output formats and files. Per chunk, each target takes the rows routed to it,
//! evaluates its `columns` (SQL expressions, vectorised) and turns every value into its
//! canonical text — ISO dates, `.` decimal point, exact decimals — once per column. Rows are then
//! written in input order to the file their path template names: `{field}` makes one file per
//! distinct value (sanitised into a safe file name that cannot leave the target's folder),
//! `{batch}` rolls a file every `batch_size` records. At most `[run] max_open_files` files are
//! open at once; the least recently used is closed and reopened for appending when needed. Every
//! file is hashed as it is written. Files go to a staging folder (see [`staging`]) and are moved
//! into place only when the whole run succeeds.

mod encode;
mod group;
pub mod staging;

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use polars::prelude::{BooleanChunked, DataFrame, Expr, IntoLazy, PolarsError, StringChunked, col};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::plan::{Binding, PathPart, Plan, Target};
use encode::{Encoder, Kind, TextColumn};

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
        "target `{target}` failed on the chunk starting at row {row}: {source}; this is a bug in rowferry, please report it with the mapping"
    )]
    Engine {
        target: String,
        row: u64,
        #[source]
        source: PolarsError,
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
    pub rows: u64,
    pub bytes: u64,
    pub sha256: String,
}

/// A file being written: bytes are hashed as the buffer in front of it flushes them, in large
/// blocks.
struct Hashed {
    file: File,
    hasher: Sha256,
    bytes: u64,
}

impl Write for Hashed {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hasher.update(&buf[..n]);
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
    /// Its `{batch}` number (1-based).
    batch: u64,
    rows: u64,
    /// Open writer, if the file is open now.
    encoder: Option<Encoder<Out>>,
    /// Hash and size so far while the file is closed.
    hasher: Sha256,
    bytes: u64,
    created: bool,
    last_used: u64,
}

/// Rows written so far to one partition (one distinct tuple of `{field}` values).
struct Partition {
    rows: u64,
    /// The file rows currently go to.
    file: Option<usize>,
    /// Added to its file names when another value sanitises to the same name; decided once,
    /// so every batch of a value is named alike.
    suffix: Option<String>,
}

struct TargetSink {
    target: Target,
    /// Projection: output columns, then partition fields.
    exprs: Vec<Expr>,
    names: Vec<String>,
    parts: usize,
    tree: encode::Tree,
    files: Vec<FileState>,
    partitions: HashMap<Vec<Option<String>>, Partition>,
    /// Lower-cased relative paths in use, to keep distinct values in distinct files even on
    /// case-insensitive file systems.
    used: HashMap<String, Vec<Option<String>>>,
    rows: u64,
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
    /// Prepares the targets of `plan`, writing under `root` (the staging folder).
    pub fn new(plan: &Plan, binding: &Binding, root: &Path) -> Result<Self, SinkError> {
        let mut targets = Vec::new();
        for t in &plan.targets {
            let mut exprs = Vec::new();
            let mut names: Vec<String> = Vec::new();
            if t.passthrough {
                for f in &binding.row {
                    let replaced = t.columns.iter().find(|(n, _)| n == &f.name);
                    exprs.push(match replaced {
                        Some((_, sql)) => sql.expr.clone(),
                        None => col(f.name.as_str()),
                    });
                    names.push(f.name.clone());
                }
            }
            for (name, sql) in &t.columns {
                if names.contains(name) {
                    continue;
                }
                exprs.push(sql.expr.clone());
                names.push(name.clone());
            }
            let exprs: Vec<Expr> = exprs
                .into_iter()
                .enumerate()
                .map(|(i, e)| e.alias(format!("\u{1}o{i}")))
                .collect();
            let fields: Vec<&str> = t.path.fields().collect();
            let mut all = exprs;
            all.extend(
                fields
                    .iter()
                    .enumerate()
                    .map(|(k, f)| col(*f).alias(format!("\u{1}p{k}"))),
            );
            let tree = encode::Tree::new(&names);
            targets.push(TargetSink {
                target: t.clone(),
                exprs: all,
                parts: fields.len(),
                names,
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
            max_open: plan.run.max_open_files.max(1),
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

    /// Writes the rows of `row` each target's mask selects. `first_row` names the chunk in
    /// errors.
    pub fn write(
        &mut self,
        row: &DataFrame,
        masks: &[BooleanChunked],
        first_row: u64,
    ) -> Result<(), SinkError> {
        for (ti, mask) in masks.iter().enumerate() {
            if !mask.any() {
                continue;
            }
            let name = self.targets[ti].target.name.clone();
            let engine = |source| SinkError::Engine {
                target: name.clone(),
                row: first_row,
                source,
            };
            let sub = row.filter(mask).map_err(engine)?;
            let projected = sub
                .lazy()
                .select(self.targets[ti].exprs.clone())
                .collect()
                .map_err(engine)?;
            let t = &self.targets[ti];
            let n = projected.height();
            let width = t.names.len();
            let columns: Vec<TextColumn> = projected.columns()[..width]
                .iter()
                .map(|c| encode::text(c, n))
                .collect::<Result<_, _>>()
                .map_err(engine)?;
            let keys: Vec<StringChunked> = projected.columns()[width..]
                .iter()
                .map(|c| encode::text(c, n).map(|t| t.text))
                .collect::<Result<_, _>>()
                .map_err(engine)?;
            self.write_rows(ti, &columns, &keys, n)?;
        }
        Ok(())
    }

    fn write_rows(
        &mut self,
        ti: usize,
        columns: &[TextColumn],
        keys: &[StringChunked],
        n: usize,
    ) -> Result<(), SinkError> {
        // Group rows by partition, keeping input order within each: each file is opened once
        // per chunk, however the partitions interleave.
        let mut groups: Vec<(Vec<Option<String>>, Vec<usize>)> = Vec::new();
        if keys.is_empty() {
            groups.push((Vec::new(), (0..n).collect()));
        } else {
            // Keys borrow the chunk's text; only a partition seen for the first time is copied.
            let mut index: HashMap<Vec<Option<&str>>, usize> = HashMap::new();
            let mut iters: Vec<_> = keys.iter().map(|k| k.iter()).collect();
            let mut key: Vec<Option<&str>> = Vec::with_capacity(keys.len());
            for i in 0..n {
                key.clear();
                key.extend(iters.iter_mut().map(|it| it.next().flatten()));
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
        let arrays: Vec<encode::TextArray> = columns.iter().map(encode::TextArray::new).collect();
        let kinds: Vec<Kind> = columns.iter().map(|c| c.kind).collect();
        let mut values: Vec<Option<&str>> = Vec::with_capacity(arrays.len());
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
                    values.clear();
                    values.extend(arrays.iter().map(|a| a.get(i)));
                    encoder.record(&values, &kinds, &t.tree).map_err(|source| {
                        SinkError::Write {
                            path: path.clone(),
                            source,
                        }
                    })?;
                }
                file.rows += take as u64;
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
        t.files.push(FileState {
            rel,
            batch,
            rows: 0,
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
        let path = self.root.join(&self.targets[ti].files[fi].rel);
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
        let csv = t.target.csv;
        let f = &mut t.files[fi];
        let out = BufWriter::with_capacity(
            256 * 1024,
            Hashed {
                file,
                hasher: std::mem::take(&mut f.hasher),
                bytes: f.bytes,
            },
        );
        let fresh = !f.created;
        let mut encoder =
            Encoder::new(format, csv, out, fresh).map_err(|source| SinkError::Write {
                path: path.clone(),
                source,
            })?;
        if fresh {
            f.created = true;
            encoder.start(&t.names).map_err(|source| SinkError::Write {
                path: path.clone(),
                source,
            })?;
        } else {
            encoder.resume(f.rows);
        }
        f.encoder = Some(encoder);
        f.last_used = tick;
        self.open += 1;
        Ok(())
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
        let path = self.root.join(&self.targets[ti].files[fi].rel);
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

    /// Writes the end of file `fi` (a JSON array's `]`) and closes it.
    fn finish_file(&mut self, ti: usize, fi: usize) -> Result<(), SinkError> {
        self.touch(ti, fi)?;
        let path = self.root.join(&self.targets[ti].files[fi].rel);
        if let Some(encoder) = self.targets[ti].files[fi].encoder.as_mut() {
            encoder
                .finish()
                .map_err(|source| SinkError::Write { path, source })?;
        }
        self.close(ti, fi)
    }

    /// Finishes every file and says what each target wrote.
    pub fn finish(mut self) -> Result<Vec<TargetReport>, SinkError> {
        for ti in 0..self.targets.len() {
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
                        bytes: f.bytes,
                        sha256: crate::plan::hex(&f.hasher.finalize()),
                    })
                    .collect(),
            })
            .collect())
    }
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
    PathBuf::from(s)
}

/// A partition value as one safe file-name component: no separators, no `.`/`..`, no control
/// or reserved characters, no leading dot (hidden file), bounded length. An empty or null value
/// is `_empty`.
pub fn sanitise(value: Option<&str>) -> String {
    let v = value.unwrap_or("").trim();
    if v.is_empty() {
        return "_empty".into();
    }
    let mut out: String = v
        .chars()
        .map(|c| match c {
            '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|' => '_',
            c if c.is_control() => '_',
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
