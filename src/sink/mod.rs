//! The sink stage: writes each target's files.
//!
//! `sink` owns output files; [`format`] owns their bytes, one file per format. Per chunk, each
//! target gets its rows from the projection ([`crate::project`]) as text or typed cells, already
//! checked. Rows are written in input order to the file their path template names (see
//! [`partition`]): `{field}` makes one file per
//! distinct value (sanitised into a safe file name that cannot leave the target's folder),
//! `{batch}` rolls a file every `batch_size` records. At most `[run] max_open_files` files are
//! open at once; the least recently used is closed and reopened for appending when needed. Every
//! file is hashed as it is written. Files go to a staging folder (see [`crate::commit`]) and are moved
//! into place only when the whole run succeeds.

mod files;
pub mod format;
mod group;
pub mod partition;
mod shares;

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use polars::prelude::StringChunked;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::plan::{Binding, Plan, Target};

/// The staging folder's subfolder for spill files; removed before the outputs are committed.
const SPILL: &str = ".rowferry-spill";
use crate::project;
use crate::project::cells::{Cells, TextArray};
use crate::project::text::{Kind, TextColumn};
use files::FileState;
use format::Tree;
use group::Grouper;
pub use partition::sanitise;
use partition::{disambiguator, fold, render, slash};
pub use shares::{Share, shares};

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
    #[error("target `{target}`: {source}")]
    Xlsx {
        target: String,
        #[source]
        source: Box<format::xlsx::XlsxError>,
    },
}

/// What a target wrote, for the report.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TargetReport {
    pub name: String,
    pub path: String,
    pub format: String,
    /// A database target's table.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    pub rows: u64,
    /// A table on a database server: the rows it refused (`load-failed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<u64>,
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
    /// A database target's table.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    /// The input row numbers written to it, in order: kept for a target sent to an API (a
    /// refused request rejects them), empty otherwise; not in `report.json`.
    #[serde(skip)]
    pub input_rows: Vec<u64>,
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
    tree: Tree,
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
            let tree = Tree::new(&names);
            // The run's grouping memory is shared between its grouped targets.
            let grouper = (!t.group_by.is_empty()).then(|| {
                Grouper::new(
                    root.join(SPILL).join(format!("group-{ti}")),
                    plan.run.group_memory / grouped.max(1),
                    // A target sent to an API keeps each row's input number, last.
                    names.len() + usize::from(t.delivery.is_some()),
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
            let t = &sinks.targets[ti];
            if t.parts == 0 && t.target.batch_size.is_none() {
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
                let input = rows.input_rows.as_deref();
                self.write_rows(ti, (&rows.columns, input), &rows.partition, rows.rows())?;
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
        let mut values: Vec<Option<&str>> = Vec::with_capacity(arrays.len() + 1);
        let numbers: Option<Vec<String>> = rows
            .input_rows
            .as_ref()
            .map(|n| n.iter().map(u64::to_string).collect());
        for i in rows.rows() {
            key.clear();
            key.extend(keys.iter().map(|k| k.get(i)));
            values.clear();
            values.extend(arrays.iter().map(|a| a.get(i)));
            if let Some(numbers) = &numbers {
                values.push(numbers.get(i).map(String::as_str));
            }
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
        let numbered = self.targets[ti].target.delivery.is_some();
        for group in grouper.finish().map_err(spill_err)? {
            let mut group = group.map_err(spill_err)?;
            // A target sent to an API: each row's input number, last, is the file's, not a value.
            let numbers: Vec<u64> = match numbered {
                true => group
                    .rows
                    .iter_mut()
                    .filter_map(|r| r.pop().flatten().and_then(|n| n.parse().ok()))
                    .collect(),
                false => Vec::new(),
            };
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
            file.input_rows.extend(numbers);
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
        (columns, input): (&[TextColumn], Option<&[u64]>),
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
                if let Some(input) = input {
                    let numbers = rest[..take].iter().filter_map(|&i| input.get(i).copied());
                    file.input_rows.extend(numbers);
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
        let spill = format::built_from_spill(t.target.format).then(|| {
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
            input_rows: Vec::new(),
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
                format: t.target.format_name().to_string(),
                table: None,
                rows: t.rows,
                refused: None,
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
                        table: None,
                        input_rows: f.input_rows,
                    })
                    .collect(),
            })
            .collect())
    }
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
