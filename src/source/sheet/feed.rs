//! Where a sheet's rows come from. XLSX and XLSM sheets are streamed cell by cell on a
//! reader thread ([`XlsxFeed`]: calamine's cell reader borrows the workbook, so the thread owns
//! both), so memory holds a few hundred rows plus the workbook's shared strings; the other
//! formats only offer the whole used range, loaded once and converted a row at a time
//! ([`RangeFeed`]). [`SheetRows`] reads either through the `range` window, rows read ahead
//! first. Every call into calamine runs under [`contained`]. Must not know headers or rejects.

use std::collections::VecDeque;
use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use calamine::{Data, Xlsx};

use super::SheetFormat;
use super::cells::{TimeClass, Value, time_class};
use super::open::xlsx_reason;
use super::row::{CellLimits, RawRow};
use super::select::Window;
use crate::source::SourceError;

/// Where rows come from: a streaming reader thread (xlsx) or a loaded range (other formats).
pub(super) trait RowFeed: Send {
    /// The next row holding at least one cell, in sheet order.
    fn next_row(&mut self) -> Result<Option<RawRow>, FeedError>;
}

/// Why a feed stopped.
#[derive(Debug)]
pub(super) enum FeedError {
    /// The sheet is malformed; the reason fits after "is not a readable xlsx workbook: ".
    Corrupt(String),
    /// calamine panicked on the file's structure.
    ReaderFailed,
}

/// Runs `f`, a call into calamine, with a panic inside it contained: `None` then. calamine
/// indexes past the end of its buffers on some crafted files (its OLE and BIFF parsers); such
/// a file is a broken workbook, not a crash (see [`crate::panics`]). Needs unwinding panics (no
/// `panic = "abort"`).
pub(super) fn contained<T>(f: impl FnOnce() -> T) -> Option<T> {
    crate::panics::contain(f).ok()
}

/// Rows of an xlsx sheet, read on a thread that owns the workbook.
pub(super) struct XlsxFeed {
    rx: Option<Receiver<Result<Vec<RawRow>, FeedError>>>,
    thread: Option<JoinHandle<()>>,
    current: std::vec::IntoIter<RawRow>,
}

/// Rows handed over the channel at once: enough to amortise the hand-over, few enough to keep
/// memory small.
const ROWS_PER_MESSAGE: usize = 256;

/// A message is also handed over once its rows hold this much text (long cells).
const BYTES_PER_MESSAGE: usize = 4 << 20;

impl XlsxFeed {
    pub(super) fn spawn(
        mut book: Xlsx<BufReader<File>>,
        sheet: String,
        limits: CellLimits,
    ) -> Result<Self, String> {
        let (tx, rx) = sync_channel(4);
        let thread = std::thread::Builder::new()
            .name("rowferry-sheet".into())
            .spawn(move || {
                let error = match contained(|| stream_xlsx(&mut book, &sheet, limits, &tx)) {
                    Some(Ok(())) => return,
                    Some(Err(reason)) => FeedError::Corrupt(reason),
                    None => FeedError::ReaderFailed,
                };
                // The receiver may be gone (a `--limit` run): nothing to tell then.
                let _ = tx.send(Err(error));
            })
            .map_err(|e| format!("cannot start the sheet reader thread: {e}"))?;
        Ok(XlsxFeed {
            rx: Some(rx),
            thread: Some(thread),
            current: Vec::new().into_iter(),
        })
    }
}

impl RowFeed for XlsxFeed {
    fn next_row(&mut self) -> Result<Option<RawRow>, FeedError> {
        loop {
            if let Some(row) = self.current.next() {
                return Ok(Some(row));
            }
            let Some(rx) = &self.rx else { return Ok(None) };
            match rx.recv() {
                Ok(Ok(rows)) => self.current = rows.into_iter(),
                Ok(Err(e)) => return Err(e),
                Err(_) => {
                    // The thread is done. Panics inside calamine are contained on the thread;
                    // any other is still a broken file, not a crash.
                    self.rx = None;
                    if let Some(t) = self.thread.take()
                        && t.join().is_err()
                    {
                        return Err(FeedError::ReaderFailed);
                    }
                    return Ok(None);
                }
            }
        }
    }
}

/// The reader thread: every cell of `sheet`, grouped by row, sent in messages of
/// [`ROWS_PER_MESSAGE`] rows (or [`BYTES_PER_MESSAGE`] of text). Stops quietly when the
/// receiver hangs up.
///
/// Cells come in file order. A cell of the row being read at or before the previous cell's
/// column (the row given twice, or its cells out of order) joins the row, which is then
/// rejected whole; a row numbered below the row before it stops the reading, since the rows
/// between were already counted.
fn stream_xlsx(
    book: &mut Xlsx<BufReader<File>>,
    sheet: &str,
    limits: CellLimits,
    tx: &SyncSender<Result<Vec<RawRow>, FeedError>>,
) -> Result<(), String> {
    let mut cells = book
        .worksheet_cells_reader(sheet)
        .map_err(|e| xlsx_reason(&e))?;
    let classes: Vec<TimeClass> = cells
        .styles()
        .iter()
        .map(|s| {
            s.number_format
                .as_ref()
                .map_or(TimeClass::Unknown, |f| time_class(&f.format_code))
        })
        .collect();
    let mut batch: Vec<RawRow> = Vec::with_capacity(ROWS_PER_MESSAGE);
    let mut batch_bytes = 0;
    let mut current: Option<RawRow> = None;
    while let Some((cell, style)) = cells
        .next_cell_with_style_id()
        .map_err(|e| xlsx_reason(&e))?
    {
        let (r, c) = cell.get_position();
        if current.as_ref().is_none_or(|cur| cur.row != r) {
            if let Some(done) = current.take() {
                if r < done.row {
                    return Err(format!(
                        "sheet `{sheet}` gives row {} after row {} (its rows are out of order, or a row is given twice)",
                        r + 1,
                        done.row + 1
                    ));
                }
                if !done.cells.is_empty() {
                    batch_bytes += done.text.len();
                    batch.push(done);
                }
                if batch.len() >= ROWS_PER_MESSAGE || batch_bytes >= BYTES_PER_MESSAGE {
                    batch_bytes = 0;
                    if tx.send(Ok(std::mem::take(&mut batch))).is_err() {
                        return Ok(());
                    }
                }
            }
            current = Some(RawRow::new(r, limits));
        }
        let class = classes.get(style).copied().unwrap_or(TimeClass::Unknown);
        if let Some(row) = current.as_mut() {
            row.push(c, Value::from_ref(cell.get_value()), class);
        }
    }
    if let Some(done) = current.take()
        && !done.cells.is_empty()
    {
        batch.push(done);
    }
    if !batch.is_empty() {
        let _ = tx.send(Ok(batch));
    }
    Ok(())
}

/// Rows of a sheet loaded whole (xls, xlsb, ods), converted one row at a time.
pub(super) struct RangeFeed {
    pub(super) range: calamine::Range<Data>,
    pub(super) next: usize,
    pub(super) limits: CellLimits,
}

impl RowFeed for RangeFeed {
    fn next_row(&mut self) -> Result<Option<RawRow>, FeedError> {
        let Some((r0, c0)) = self.range.start() else {
            return Ok(None);
        };
        let (height, width) = self.range.get_size();
        while self.next < height {
            let i = self.next;
            self.next += 1;
            let mut row = RawRow::new(r0 + i as u32, self.limits);
            for j in 0..width {
                if let Some(v) = self.range.get((i, j)) {
                    row.push(c0 + j as u32, Value::from_data(v), TimeClass::Unknown);
                }
            }
            if !row.cells.is_empty() {
                return Ok(Some(row));
            }
        }
        Ok(None)
    }
}

/// The rows of the sheet read, inside the window `range` lets through: a feed, and the rows
/// read ahead while looking for the header, read again first.
pub(in crate::source) struct SheetRows {
    pub(super) path: PathBuf,
    pub(super) format: SheetFormat,
    /// The sheet's name.
    pub(in crate::source) sheet: String,
    feed: Box<dyn RowFeed>,
    /// Rows read ahead while looking for the header, to be read as data first.
    pub(super) pending: VecDeque<RawRow>,
    /// The cells read: 0-based inclusive bounds (columns outside them are not read).
    pub(super) window: Window,
    /// A row below the range was read: the feed is not read any further.
    past_range: bool,
}

impl SheetRows {
    pub(super) fn new(
        path: PathBuf,
        format: SheetFormat,
        sheet: String,
        feed: Box<dyn RowFeed>,
        window: Window,
    ) -> Self {
        SheetRows {
            path,
            format,
            sheet,
            feed,
            pending: VecDeque::new(),
            window,
            past_range: false,
        }
    }

    /// The next row holding a value inside the window, read-ahead rows first. Rows past the
    /// window's last row end the sheet.
    pub(super) fn next_row(&mut self) -> Result<Option<RawRow>, SourceError> {
        loop {
            let row = match self.pending.pop_front() {
                Some(row) => row,
                None if self.past_range => return Ok(None),
                None => match self.feed.next_row() {
                    Ok(Some(row)) => row,
                    Ok(None) => return Ok(None),
                    Err(FeedError::Corrupt(reason)) => return Err(self.corrupt(reason)),
                    Err(FeedError::ReaderFailed) => return Err(self.reader_failed()),
                },
            };
            if row.row > self.window.last_row {
                // Rows come in order: nothing after this one is in the range either.
                self.past_range = true;
                self.pending.clear();
                return Ok(None);
            }
            if row.row < self.window.first_row
                || !row.holds_value(self.window.first_col, self.window.last_col)
            {
                continue;
            }
            return Ok(Some(row));
        }
    }

    fn reader_failed(&self) -> SourceError {
        SourceError::ReaderFailed {
            path: self.path.clone(),
            format: self.format.as_str(),
        }
    }

    pub(super) fn corrupt(&self, reason: String) -> SourceError {
        SourceError::Corrupt {
            path: self.path.clone(),
            format: self.format.as_str(),
            reason,
        }
    }
}
