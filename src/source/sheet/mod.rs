//! Spreadsheet reading with calamine: xlsx, xlsm, xlsb, xls and ods workbooks.
//!
//! [`SheetSource`] reads the rows below a workbook's header into [`Chunk`]s, each cell as its
//! *canonical text* and [`CellKind`] (`12`, `0.29`, `true`, `2024-03-01`,
//! `2024-03-01 10:30:00`, `10:30:00`, `#N/A`). Types and rules are not its business: the
//! validate stage reads the kinds. Its parts:
//!
//! - `open`: the workbook opened with the reader its format needs, calamine's damage in words;
//!   `parts`: the container checks before that (zip bombs);
//! - `select`: which sheet, which cells (`range`); `header`: the header row and the columns'
//!   names, which `detect` decides with;
//! - `feed`: rows streamed (xlsx, on a reader thread) or loaded (other formats), through the
//!   `range` window;
//! - `cells`: a cell's canonical text; `row`: a row as read, its size limits and its rejects.
//!
//! Provenance: a frame row's row number and line are both its sheet row (1-based, as a
//! spreadsheet shows it). Rows between the header and the last row holding a value that hold
//! nothing (no cell, or only empty and blank-text cells) are counted as skipped. A spreadsheet
//! has no ragged rows, but a row can hold a value outside the header's columns (when `range`
//! does not bound the columns): that row is rejected as `ragged-row` with all its values, so
//! nothing is dropped silently. Cells outside a declared `range` are not read at all.
//!
//! Nothing is lost silently. A row an xlsx gives twice (two `<row r="4">`) or with its cells
//! out of order is rejected as `malformed-row` with every value, in file order; a row numbered
//! below the one before it stops the run. A cell longer than `max_field_bytes` keeps only an
//! excerpt and rejects its row as `field-too-long`, as does a row whose cells hold too much
//! text in all. An ods sheet calamine may have cut (it keeps 1,048,576 rows and 16,384
//! columns) is [`SourceError::SheetCutOff`].
//!
//! Broken files: calamine reports most damage as errors, which become [`SourceError::Corrupt`];
//! on some crafted files it panics instead (indexing past its buffers). Every call into it runs
//! contained, so such a panic is [`SourceError::ReaderFailed`] naming the file, with no panic
//! message printed.

mod cells;
mod feed;
mod header;
mod open;
mod parts;
mod row;
mod select;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use polars::prelude::{Column, DataFrame, IntoColumn, StringChunkedBuilder, UInt32Chunked};

pub use cells::{TimeClass, time_class};
pub(super) use feed::SheetRows;
pub(super) use header::find_header;
pub(super) use open::open_sheet;
pub use select::{column_letters, range_text};

use super::detect::{self, WorkbookStart};
use super::{
    CHUNK_ROWS, CellKind, Chunk, ColumnShape, Fingerprint, ReadOptions, SourceError, SourceInfo,
    SourceReject, column_name, fingerprint, kind_column_name,
};
use crate::plan::SourcePlan;
use row::RawRow;
use select::Window;

/// The workbook formats calamine reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SheetFormat {
    Xlsx,
    /// An xlsx with macros: read like xlsx, reported as xlsm.
    Xlsm,
    Xlsb,
    Xls,
    Ods,
}

impl SheetFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            SheetFormat::Xlsx => "xlsx",
            SheetFormat::Xlsm => "xlsm",
            SheetFormat::Xlsb => "xlsb",
            SheetFormat::Xls => "xls",
            SheetFormat::Ods => "ods",
        }
    }
}

/// An open sheet, positioned after its header.
pub struct SheetSource {
    info: SourceInfo,
    /// The sheet's rows through the `range` window, the rows read ahead first.
    rows: SheetRows,
    /// The cells read: 0-based inclusive bounds (columns outside them are not read).
    window: Window,
    /// The header's columns, 0-based inclusive.
    first_col: u32,
    last_col: u32,
    /// The first sheet row (0-based) not yet accounted for: below the header, then below the
    /// last row read.
    next_row: u32,
    /// Rows above the header (or first record) not yet counted: the first chunk counts them
    /// as skipped.
    above: u64,
    /// The first row (0-based) of the data, for the progress counter.
    data_start: u32,
    data_rows: u64,
    limit: Option<u64>,
    done: bool,
    rows_read: Arc<AtomicU64>,
    max_field_bytes: u64,
}

impl SheetSource {
    /// Opens the workbook, picks the sheet, reads up to the header and names the columns
    /// (`detect::workbook`).
    pub fn open(
        plan: &SourcePlan,
        options: &ReadOptions,
        format: SheetFormat,
    ) -> Result<Self, SourceError> {
        let size = std::fs::metadata(&plan.path)
            .map_err(|source| SourceError::Open {
                path: plan.path.clone(),
                source,
            })?
            .len();
        let (detection, start) = detect::workbook(plan, format)?;
        let WorkbookStart {
            rows,
            used,
            first_col,
        } = start;
        let window = rows.window;
        let header = &detection.header;
        // The data starts right below the header row, or on the first record without one
        // (0-based; `header.line` is the 1-based sheet row of a u32 row).
        let first = (header.line - 1) as u32;
        let data_start = if header.present { first + 1 } else { first };
        let last = if window.last_row != u32::MAX {
            Some(window.last_row)
        } else {
            used.map(|(r, _)| r)
        };
        let progress_total = last.map_or(0, |l| u64::from((l + 1).saturating_sub(data_start)));
        Ok(SheetSource {
            info: detection.info(plan.path.clone(), size, progress_total),
            rows,
            window,
            first_col,
            last_col: first_col + detection.columns.len() as u32 - 1,
            next_row: data_start,
            above: header.lines_above_header,
            data_start,
            data_rows: 0,
            limit: options.limit,
            done: false,
            rows_read: Arc::new(AtomicU64::new(0)),
            max_field_bytes: plan.max_field_bytes,
        })
    }

    pub fn info(&self) -> &SourceInfo {
        &self.info
    }

    /// A counter of sheet rows read so far (below the header), for a progress bar.
    pub fn rows_read(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.rows_read)
    }

    /// Reads up to `max_rows` rows; `None` at the end of the sheet (or of `--limit`).
    pub fn next_chunk(&mut self, max_rows: usize) -> Result<Option<Chunk>, SourceError> {
        if self.done {
            return Ok(None);
        }
        let ncols = self.info.header.len();
        let mut gathered = TypedRows::new(ncols, max_rows.min(CHUNK_ROWS));
        gathered.skipped += std::mem::take(&mut self.above);
        while gathered.taken < max_rows && gathered.bytes < CHUNK_BYTES {
            if self.limit.is_some_and(|l| self.data_rows >= l) {
                self.done = true;
                break;
            }
            let Some(row) = self.rows.next_row()? else {
                self.done = true;
                break;
            };
            // Rows between the last one read and this one hold nothing: blank rows.
            gathered.skipped += u64::from(row.row.saturating_sub(self.next_row));
            self.next_row = row.row + 1;
            self.rows_read.store(
                u64::from(self.next_row - self.data_start),
                Ordering::Relaxed,
            );
            gathered.taken += 1;
            gathered.bytes += row.text.len();
            self.data_rows += 1;
            if row.malformed {
                gathered.rejects.push(self.malformed(&row));
                continue;
            }
            if let Some((col, len)) = row.oversize {
                gathered.rejects.push(self.oversized(&row, col, len));
                continue;
            }
            if let Some(reject) = self.outside_columns(&row) {
                gathered.rejects.push(reject);
                continue;
            }
            gathered.push(&row, self.first_col);
        }
        if gathered.taken == 0 && gathered.skipped == 0 {
            return Ok(None);
        }
        gathered.finish(&self.info.path).map(Some)
    }

    /// The column name of 0-based sheet column `col`, if it is one of the header's.
    fn column_of(&self, col: u32) -> String {
        if col >= self.first_col && col <= self.last_col {
            self.info.header[(col - self.first_col) as usize].clone()
        } else {
            String::new()
        }
    }

    /// The file's checksum and size (the workbook is read whole by calamine anyway, so the
    /// file is hashed in one pass at the end).
    pub fn finish(self) -> Result<Fingerprint, SourceError> {
        let path = self.info.path.clone();
        drop(self);
        fingerprint(&path)
    }
}

/// Text a chunk holds at most: with long cells (many uses of a long shared string), it ends
/// before [`super::CHUNK_ROWS`] rows.
const CHUNK_BYTES: usize = 64 << 20;

/// The rows being gathered into the next [`Chunk`]: a text and a kind column per source
/// column, with the rows' numbers, the rejects and the rows skipped.
struct TypedRows {
    texts: Vec<StringChunkedBuilder>,
    kinds: Vec<Vec<u32>>,
    shapes: Vec<ColumnShape>,
    rows: Vec<u64>,
    rejects: Vec<SourceReject>,
    skipped: u64,
    taken: usize,
    /// Text of the rows taken.
    bytes: usize,
}

impl TypedRows {
    fn new(ncols: usize, capacity: usize) -> Self {
        TypedRows {
            texts: (0..ncols)
                .map(|i| StringChunkedBuilder::new(column_name(i).into(), capacity))
                .collect(),
            kinds: (0..ncols).map(|_| Vec::with_capacity(capacity)).collect(),
            shapes: vec![ColumnShape::default(); ncols],
            rows: Vec::new(),
            rejects: Vec::new(),
            skipped: 0,
            taken: 0,
            bytes: 0,
        }
    }

    /// Appends a row whose cells all lie within `first_col..first_col + ncols` (or outside the
    /// window, which is not read); missing cells are empty text.
    fn push(&mut self, row: &RawRow, first_col: u32) {
        let ncols = self.texts.len();
        let mut cells = row
            .cells
            .iter()
            .filter(|c| c.col >= first_col && ((c.col - first_col) as usize) < ncols)
            .peekable();
        for i in 0..ncols {
            let col = first_col + i as u32;
            // Cells come in column order; a repeated cell (a broken file) keeps the last.
            let mut here = None;
            while let Some(c) = cells.next_if(|c| c.col <= col) {
                if c.col == col {
                    here = Some(c);
                }
            }
            let (text, kind) = here.map_or(("", CellKind::Text), |c| (row.value(c), c.kind));
            self.shapes[i].see(text);
            self.texts[i].append_value(text);
            self.kinds[i].push(kind as u32);
        }
        self.rows.push(u64::from(row.row) + 1);
    }

    fn finish(self, path: &Path) -> Result<Chunk, SourceError> {
        let n = self.rows.len();
        let mut columns: Vec<Column> = Vec::with_capacity(self.texts.len() * 2);
        for b in self.texts {
            columns.push(b.finish().into_column());
        }
        for (i, k) in self.kinds.into_iter().enumerate() {
            columns.push(UInt32Chunked::from_vec(kind_column_name(i).into(), k).into_column());
        }
        let frame = DataFrame::new(n, columns).map_err(|e| SourceError::Read {
            path: path.to_path_buf(),
            line: self.rows.last().copied().unwrap_or(0),
            message: e.to_string(),
        })?;
        Ok(Chunk {
            frame,
            lines: self.rows.clone(),
            rows: self.rows,
            rejects: self.rejects,
            skipped: self.skipped,
            shapes: self.shapes,
        })
    }
}
