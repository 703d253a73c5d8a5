//! Spreadsheet reading with calamine: xlsx, xlsm, xlsb, xls and ods workbooks.
//!
//! This module owns everything between a workbook file and a [`Batch`]: telling a workbook
//! from its first bytes, choosing the sheet, limiting the cells to `range`, finding the header
//! (declared, below a title block, or the first row holding a value), and turning each cell
//! into its *canonical text* and [`CellKind`] (see `CellKind`: `12`, `0.29`, `true`,
//! `2024-03-01`, `2024-03-01 10:30:00`, `10:30:00`, `#N/A`). Display formats never leak into
//! the text: a date shown as `01/03/24` reads `2024-03-01`, a number shown as `29%` reads
//! `0.29`. Types and rules are not its business: the validate stage reads the kinds.
//!
//! XLSX and XLSM sheets are streamed cell by cell on a reader thread (calamine's cell reader
//! borrows the workbook, so the thread owns both), so memory holds a few hundred rows plus the
//! workbook's shared strings. The other formats only offer the whole used range, which is
//! loaded once and converted a chunk at a time.
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
//! text in all ([`CellLimits`]). An ods sheet calamine may have cut (it keeps 1,048,576 rows
//! and 16,384 columns) is [`SourceError::SheetCutOff`].
//!
//! Zip bombs: before calamine opens a zipped workbook, [`check_parts`] bounds what it will
//! unpack: parts read whole by `max_part_bytes`, any one value by 8 × `max_field_bytes`.
//!
//! Broken files: calamine reports most damage as errors, which become [`SourceError::Corrupt`];
//! on some crafted files it panics instead (indexing past its buffers). Every call into it runs
//! under [`contained`], so such a panic is [`SourceError::ReaderFailed`] naming the file, with
//! no panic message printed.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use calamine::{
    Data, DataRef, ExcelDateTime, Ods, OdsError, Reader, SheetType, SheetVisible, Sheets, Xls,
    XlsError, Xlsb, XlsbError, Xlsx, XlsxError,
};
use polars::prelude::{Column, DataFrame, IntoColumn, StringChunkedBuilder, UInt32Chunked};

use super::{
    Batch, CellKind, ColumnShape, Fingerprint, ProgressUnit, ReadOptions, SourceError, SourceInfo,
    SourceReject, column_name, kind_column_name,
};
use crate::issue::{Code, Issue, Severity};
use crate::plan::{
    CellRange, HeaderNames, InputFormat, SheetRef, SourcePlan, VALUE_BYTES_PER_FIELD_BYTE,
};

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

    fn from_extension(path: &Path) -> Option<SheetFormat> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        Some(match ext.as_str() {
            "xlsx" => SheetFormat::Xlsx,
            "xlsm" => SheetFormat::Xlsm,
            "xlsb" => SheetFormat::Xlsb,
            "xls" => SheetFormat::Xls,
            "ods" => SheetFormat::Ods,
            _ => return None,
        })
    }
}

pub(super) const ZIP_MAGIC: &[u8] = b"PK\x03\x04";
pub(super) const CFB_MAGIC: &[u8] = b"\xD0\xCF\x11\xE0";

/// Which reader `plan.path` needs: `None` for CSV, else the workbook format.
///
/// A declared `format` comes first. Otherwise the content decides: a zip archive is an
/// xlsx/xlsm/xlsb/ods workbook (which one by the extension, else by the archive's entries), an
/// OLE compound file is an xls workbook (or an encrypted xlsx, told when opening it), anything
/// else is CSV — unless the extension names a workbook, in which case opening it reports why it
/// is not one.
pub fn detect(plan: &SourcePlan) -> Result<Option<SheetFormat>, SourceError> {
    if plan.format == Some(InputFormat::Csv) {
        return Ok(None);
    }
    let path = &plan.path;
    let mut file = File::open(path).map_err(|source| SourceError::Open {
        path: path.clone(),
        source,
    })?;
    let mut head = [0u8; 8];
    let n = read_up_to(&mut file, &mut head).map_err(|e| read_error(path, e))?;
    let head = &head[..n];
    let by_extension = SheetFormat::from_extension(path);
    if head.starts_with(ZIP_MAGIC) {
        return Ok(Some(match by_extension {
            Some(f @ (SheetFormat::Xlsx | SheetFormat::Xlsm | SheetFormat::Xlsb)) => f,
            Some(SheetFormat::Ods) => SheetFormat::Ods,
            _ => zip_kind(&mut file).map_err(|e| read_error(path, e))?,
        }));
    }
    if head.starts_with(CFB_MAGIC) {
        return Ok(Some(SheetFormat::Xls));
    }
    if plan.format == Some(InputFormat::Spreadsheet) {
        return Ok(Some(by_extension.unwrap_or(SheetFormat::Xlsx)));
    }
    Ok(by_extension)
}

fn read_up_to(file: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Tells the workbook in a zip archive from its entry names, which the central directory at
/// the end of the archive lists (an ods also starts with its `mimetype` entry).
fn zip_kind(file: &mut File) -> std::io::Result<SheetFormat> {
    let len = file.seek(SeekFrom::End(0))?;
    let tail = len.min(64 * 1024);
    file.seek(SeekFrom::Start(len - tail))?;
    let mut buf = Vec::with_capacity(tail as usize);
    file.take(tail).read_to_end(&mut buf)?;
    let has = |needle: &[u8]| buf.windows(needle.len()).any(|w| w == needle);
    Ok(if has(b"xl/workbook.bin") {
        SheetFormat::Xlsb
    } else if has(b"xl/vbaProject.bin") {
        SheetFormat::Xlsm
    } else if !has(b"xl/") && has(b"content.xml") {
        SheetFormat::Ods
    } else {
        SheetFormat::Xlsx
    })
}

fn read_error(path: &Path, e: std::io::Error) -> SourceError {
    SourceError::Read {
        path: path.to_path_buf(),
        line: 0,
        message: e.to_string(),
    }
}

/// One sheet row as read: the cells that hold something, with their canonical text packed in
/// one string (one allocation per row, not per cell).
#[derive(Debug)]
struct RawRow {
    /// 0-based sheet row.
    row: u32,
    cells: Vec<RawCell>,
    text: String,
    limits: CellLimits,
    /// The first cell kept only as an excerpt, for being longer than `max_field_bytes` or for
    /// taking the row's text past its limit: its column and its length in bytes. The row is
    /// rejected (`field-too-long`).
    oversize: Option<(u32, u64)>,
    /// A cell came at or before the column of the cell before it: the row is given twice in
    /// the file, or its cells are out of order. The row is rejected (`malformed-row`).
    malformed: bool,
}

/// How much text a row keeps, from `max_field_bytes`.
#[derive(Debug, Clone, Copy)]
struct CellLimits {
    /// A cell's text.
    cell: usize,
    /// All of a row's text: [`ROW_BYTES_PER_FIELD_BYTE`] cells at the limit. Without it a few
    /// long shared strings used in every cell of a row would unpack into gigabytes.
    row: usize,
}

/// A row's cells may hold this many times `max_field_bytes` of text in all.
const ROW_BYTES_PER_FIELD_BYTE: u64 = 64;

/// What is kept of a cell over the limit, for the rejected row: its first bytes.
const EXCERPT_BYTES: usize = 100;

impl CellLimits {
    fn new(max_field_bytes: u64) -> Self {
        // Cell offsets are u32: a row's text stays below 2 GiB.
        let cell = max_field_bytes.min(1 << 30);
        CellLimits {
            cell: cell as usize,
            row: cell.saturating_mul(ROW_BYTES_PER_FIELD_BYTE).min(1 << 30) as usize,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct RawCell {
    /// 0-based sheet column.
    col: u32,
    kind: CellKind,
    start: u32,
    end: u32,
}

impl RawRow {
    fn new(row: u32, limits: CellLimits) -> Self {
        RawRow {
            row,
            cells: Vec::new(),
            text: String::new(),
            limits,
            oversize: None,
            malformed: false,
        }
    }

    fn value(&self, cell: &RawCell) -> &str {
        &self.text[cell.start as usize..cell.end as usize]
    }

    /// Adds a cell; empty cells are not kept. A cell over the limits keeps an excerpt and
    /// marks the row `oversize`; a cell at or before the previous cell's column marks it
    /// `malformed`.
    fn push(&mut self, col: u32, value: Value<'_>, class: TimeClass) {
        let start = self.text.len();
        let Some(kind) = canonical(value, class, &mut self.text) else {
            return;
        };
        let len = self.text.len() - start;
        if len > self.limits.cell || self.text.len() > self.limits.row {
            self.oversize.get_or_insert((col, len as u64));
            let mut cut = start + len.min(EXCERPT_BYTES);
            while !self.text.is_char_boundary(cut) {
                cut -= 1;
            }
            self.text.truncate(cut);
            self.text.push('…');
        }
        if self.cells.last().is_some_and(|last| col <= last.col) {
            self.malformed = true;
        }
        self.cells.push(RawCell {
            col,
            kind,
            start: start as u32,
            end: self.text.len() as u32,
        });
    }

    /// Whether a cell in columns `from..=to` holds something other than blank text.
    fn holds_value(&self, from: u32, to: u32) -> bool {
        self.cells.iter().any(|c| {
            c.col >= from
                && c.col <= to
                && (c.kind != CellKind::Text || !self.value(c).trim().is_empty())
        })
    }
}

/// Where rows come from: a streaming reader thread (xlsx) or a loaded range (other formats).
trait RowFeed: Send {
    /// The next row holding at least one cell, in sheet order.
    fn next_row(&mut self) -> Result<Option<RawRow>, FeedError>;
}

/// Why a feed stopped.
#[derive(Debug)]
enum FeedError {
    /// The sheet is malformed; the reason fits after "is not a readable xlsx workbook: ".
    Corrupt(String),
    /// calamine panicked on the file's structure.
    ReaderFailed,
}

/// Runs `f`, a call into calamine, with a panic inside it contained: `None` then. calamine
/// indexes past the end of its buffers on some crafted files (its OLE and BIFF parsers); such
/// a file is a broken workbook, not a crash (see [`crate::panics`]). Needs unwinding panics (no
/// `panic = "abort"`).
fn contained<T>(f: impl FnOnce() -> T) -> Option<T> {
    crate::panics::contain(f).ok()
}

/// Rows of an xlsx sheet, read on a thread that owns the workbook.
struct XlsxFeed {
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
    fn spawn(
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
struct RangeFeed {
    range: calamine::Range<Data>,
    next: usize,
    limits: CellLimits,
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

/// A cell value, whichever calamine type it came in.
enum Value<'a> {
    Empty,
    Text(&'a str),
    Int(i64),
    Float(f64),
    Bool(bool),
    Serial(ExcelDateTime),
    IsoDateTime(&'a str),
    IsoDuration(&'a str),
    Error(&'a calamine::CellErrorType),
}

impl<'a> Value<'a> {
    fn from_ref(v: &'a DataRef<'_>) -> Self {
        match v {
            DataRef::Int(i) => Value::Int(*i),
            DataRef::Float(f) => Value::Float(*f),
            DataRef::String(s) => Value::Text(s),
            DataRef::SharedString(s) => Value::Text(s),
            DataRef::Bool(b) => Value::Bool(*b),
            DataRef::DateTime(d) => Value::Serial(*d),
            DataRef::DateTimeIso(s) => Value::IsoDateTime(s),
            DataRef::DurationIso(s) => Value::IsoDuration(s),
            DataRef::Error(e) => Value::Error(e),
            DataRef::Empty => Value::Empty,
        }
    }

    fn from_data(v: &'a Data) -> Self {
        match v {
            Data::Int(i) => Value::Int(*i),
            Data::Float(f) => Value::Float(*f),
            Data::String(s) => Value::Text(s),
            Data::Bool(b) => Value::Bool(*b),
            Data::DateTime(d) => Value::Serial(*d),
            Data::DateTimeIso(s) => Value::IsoDateTime(s),
            Data::DurationIso(s) => Value::IsoDuration(s),
            Data::Error(e) => Value::Error(e),
            Data::Empty => Value::Empty,
        }
    }
}

/// What a date-formatted cell's number format shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeClass {
    /// A date without a time of day (`dd/mm/yyyy`).
    Date,
    /// Date and time (`yyyy-mm-dd hh:mm`).
    DateTime,
    /// A time of day or an elapsed time without a date (`hh:mm`, `[h]:mm:ss`).
    Time,
    /// Not known (no format, or a format that shows neither).
    Unknown,
}

/// Classifies a number format code by the date and time parts its first section shows.
/// Quoted text, escaped characters and bracketed modifiers (`[Red]`, `[$-409]`) are not parts;
/// elapsed-time brackets (`[h]`, `[mm]`) are. `m` alone is a month, next to `h` or `s` a minute.
pub fn time_class(code: &str) -> TimeClass {
    let mut date = false;
    let mut time = false;
    let mut month_or_minute = false;
    let mut chars = code.chars().peekable();
    while let Some(c) = chars.next() {
        match c.to_ascii_lowercase() {
            ';' => break,
            '"' => {
                for q in chars.by_ref() {
                    if q == '"' {
                        break;
                    }
                }
            }
            '\\' | '_' | '*' => {
                chars.next();
            }
            '[' => {
                let mut inner = String::new();
                for b in chars.by_ref() {
                    if b == ']' {
                        break;
                    }
                    inner.push(b.to_ascii_lowercase());
                }
                if !inner.is_empty() && inner.chars().all(|b| matches!(b, 'h' | 'm' | 's')) {
                    time = true;
                }
            }
            'd' | 'y' => date = true,
            'h' | 's' => time = true,
            'm' => month_or_minute = true,
            'a' => {
                // AM/PM or A/P
                if matches!(chars.peek(), Some('m' | 'M' | '/')) {
                    time = true;
                    chars.next();
                }
            }
            _ => {}
        }
    }
    if month_or_minute && !time {
        date = true;
    }
    match (date, time) {
        (true, true) => TimeClass::DateTime,
        (true, false) => TimeClass::Date,
        (false, true) => TimeClass::Time,
        (false, false) => TimeClass::Unknown,
    }
}

/// Writes the canonical text of `value` to `out` and returns its kind; `None` (and nothing
/// written) for an empty cell.
fn canonical(value: Value<'_>, class: TimeClass, out: &mut String) -> Option<CellKind> {
    Some(match value {
        Value::Empty => return None,
        Value::Text(s) => {
            if s.is_empty() {
                return None;
            }
            out.push_str(s);
            CellKind::Text
        }
        Value::Int(i) => {
            let _ = write!(out, "{i}");
            CellKind::Number
        }
        Value::Float(f) => {
            number_text(f, out);
            CellKind::Number
        }
        Value::Bool(b) => {
            out.push_str(if b { "true" } else { "false" });
            CellKind::Boolean
        }
        Value::Error(e) => {
            let _ = write!(out, "{e}");
            CellKind::Error
        }
        Value::Serial(d) => serial_text(d, class, out),
        Value::IsoDateTime(s) => iso_datetime_text(s, out),
        Value::IsoDuration(s) => iso_duration_text(s, out),
    })
}

/// `12` for integral values, else the shortest text that reads back as the same double; Rust's
/// `Display` for `f64` never writes an exponent.
///
/// A spreadsheet keeps 15 significant digits: a formula's `0.1 + 0.2` is stored as
/// `0.30000000000000004` but shown (and meant) as `0.3`. So a value is first rounded to 15
/// significant digits, which leaves every typed-in value as it was (`0.29` stays `0.29`).
fn number_text(f: f64, out: &mut String) {
    if f == 0.0 {
        // Also -0.0, which a spreadsheet shows as 0.
        out.push('0');
        return;
    }
    let shown: f64 = format!("{f:.14e}").parse().unwrap_or(f);
    let _ = write!(out, "{shown}");
}

/// Serials Excel can show as dates: 1900-01-01 (or 1904-01-01) to 9999-12-31.
const MAX_SERIAL: f64 = 2_958_466.0;

/// A date-formatted number: a date, a date and time, a time of day or a duration.
fn serial_text(d: ExcelDateTime, class: TimeClass, out: &mut String) -> CellKind {
    let v = d.as_f64();
    if d.is_duration() {
        duration_text(v * 86_400.0, out);
        return CellKind::Time;
    }
    if !(0.0..MAX_SERIAL).contains(&v) {
        // Excel shows ##### for these: keep the number rather than invent a date.
        number_text(v, out);
        return CellKind::Number;
    }
    let (y, mo, day, h, mi, s, ms) = d.to_ymd_hms_milli();
    let midnight = h == 0 && mi == 0 && s == 0 && ms == 0;
    let kind = match class {
        TimeClass::Date if midnight => CellKind::Date,
        TimeClass::Time if v < 1.0 => CellKind::Time,
        TimeClass::Unknown if midnight && v >= 1.0 => CellKind::Date,
        TimeClass::Unknown if v < 1.0 && !midnight => CellKind::Time,
        // A time format on a value with a date, or a date format on a value with a time:
        // the value is kept whole rather than cut to what the format shows.
        _ => CellKind::DateTime,
    };
    if kind != CellKind::Time {
        let _ = write!(out, "{y:04}-{mo:02}-{day:02}");
    }
    if kind == CellKind::DateTime {
        out.push(' ');
    }
    if kind != CellKind::Date {
        let _ = write!(out, "{h:02}:{mi:02}:{s:02}");
        if ms != 0 {
            let _ = write!(out, ".{ms:03}");
        }
    }
    kind
}

/// Elapsed time as `HH:MM:SS` (hours past 24 as they are), `.fff` when there are milliseconds.
fn duration_text(seconds: f64, out: &mut String) {
    let total_ms = (seconds * 1000.0).round();
    if total_ms < 0.0 {
        out.push('-');
    }
    let total_ms = total_ms.abs() as u64;
    let (h, rest) = (total_ms / 3_600_000, total_ms % 3_600_000);
    let (m, rest) = (rest / 60_000, rest % 60_000);
    let (s, ms) = (rest / 1000, rest % 1000);
    let _ = write!(out, "{h:02}:{m:02}:{s:02}");
    if ms != 0 {
        let _ = write!(out, ".{ms:03}");
    }
}

/// ISO 8601 dates of ods cells (and xlsx `t="d"` cells): `2024-03-01` is a date,
/// `2024-03-01T10:30:00` a date and time; anything else stays text as written.
fn iso_datetime_text(s: &str, out: &mut String) -> CellKind {
    use chrono::{NaiveDate, NaiveTime, Timelike};
    let (date, time) = match s.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None if s.contains(':') => ("", Some(s)),
        None => (s, None),
    };
    let date = if date.is_empty() {
        None
    } else {
        match NaiveDate::parse_from_str(date, "%Y-%m-%d") {
            Ok(d) => Some(d),
            Err(_) => {
                out.push_str(s);
                return CellKind::Text;
            }
        }
    };
    let time = match time {
        None => None,
        Some(t) => {
            let t = t.trim_end_matches('Z');
            match NaiveTime::parse_from_str(t, "%H:%M:%S%.f")
                .or_else(|_| NaiveTime::parse_from_str(t, "%H:%M"))
            {
                Ok(t) => Some(t),
                Err(_) => {
                    out.push_str(s);
                    return CellKind::Text;
                }
            }
        }
    };
    if let Some(d) = date {
        let _ = write!(out, "{}", d.format("%Y-%m-%d"));
    }
    if date.is_some() && time.is_some() {
        out.push(' ');
    }
    if let Some(t) = time {
        let _ = write!(out, "{}", t.format("%H:%M:%S"));
        let ms = t.nanosecond() / 1_000_000;
        if ms != 0 {
            let _ = write!(out, ".{ms:03}");
        }
    }
    match (date, time) {
        (Some(_), Some(_)) => CellKind::DateTime,
        (Some(_), None) => CellKind::Date,
        _ => CellKind::Time,
    }
}

/// ISO 8601 durations of ods time cells (`PT10H30M00S`, `P1DT2H`) as `HH:MM:SS`; anything
/// else stays text as written.
fn iso_duration_text(s: &str, out: &mut String) -> CellKind {
    fn seconds(s: &str) -> Option<f64> {
        let (negative, s) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let s = s.strip_prefix('P')?;
        let mut total = 0.0;
        let mut in_time = false;
        let mut number = String::new();
        for c in s.chars() {
            match c {
                'T' => in_time = true,
                '0'..='9' | '.' | ',' => number.push(if c == ',' { '.' } else { c }),
                unit => {
                    let n: f64 = number.parse().ok()?;
                    number.clear();
                    total += n * match (unit, in_time) {
                        ('D', false) => 86_400.0,
                        ('H', true) => 3_600.0,
                        ('M', true) => 60.0,
                        ('S', true) => 1.0,
                        _ => return None,
                    };
                }
            }
        }
        if !number.is_empty() {
            return None;
        }
        Some(if negative { -total } else { total })
    }
    match seconds(s) {
        Some(secs) => {
            duration_text(secs, out);
            CellKind::Time
        }
        None => {
            out.push_str(s);
            CellKind::Text
        }
    }
}

/// The header row, when not declared, is looked for among this many rows holding a value.
const HEADER_SEARCH_ROWS: usize = 50;

/// An open sheet, positioned after its header.
pub struct SheetSource {
    info: SourceInfo,
    feed: Box<dyn RowFeed>,
    /// Rows read ahead while looking for the header, to be read as data first.
    pending: VecDeque<RawRow>,
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
    /// A row below the range was read: the feed is not read any further.
    past_range: bool,
    done: bool,
    rows_read: Arc<AtomicU64>,
    max_field_bytes: u64,
}

/// The part of the sheet `range` lets through, 0-based inclusive.
#[derive(Debug, Clone, Copy)]
struct Window {
    first_row: u32,
    last_row: u32,
    first_col: u32,
    last_col: u32,
    /// A `range` is declared: its first column is the first column, header or not.
    declared: bool,
    /// The columns are bounded by `range`, not by the header.
    cols_declared: bool,
}

impl Window {
    fn of(range: Option<&CellRange>) -> Self {
        match range {
            None => Window {
                first_row: 0,
                last_row: u32::MAX,
                first_col: 0,
                last_col: u32::MAX,
                declared: false,
                cols_declared: false,
            },
            Some(r) => Window {
                first_row: r.first_row.saturating_sub(1),
                last_row: r.last_row.map_or(u32::MAX, |l| l.saturating_sub(1)),
                first_col: r.first_col.saturating_sub(1),
                last_col: r.last_col.map_or(u32::MAX, |l| l.saturating_sub(1)),
                declared: true,
                cols_declared: r.last_col.is_some(),
            },
        }
    }
}

impl SheetSource {
    /// Opens the workbook, picks the sheet, reads up to the header and names the columns.
    pub fn open(
        plan: &SourcePlan,
        options: &ReadOptions,
        format: SheetFormat,
    ) -> Result<Self, SourceError> {
        let path = plan.path.clone();
        let size = std::fs::metadata(&path)
            .map_err(|source| SourceError::Open {
                path: path.clone(),
                source,
            })?
            .len();
        if format != SheetFormat::Xls {
            check_parts(&path, format, plan.max_field_bytes, plan.max_part_bytes)?;
        }
        let book = open_book(&path, format)?;
        let sheets = book.sheets_metadata().to_vec();
        let sheet = choose_sheet(&path, &sheets, plan.sheet.as_ref())?;
        let limits = CellLimits::new(plan.max_field_bytes);
        let (feed, used) = feed(book, &path, format, &sheet, limits)?;
        let window = Window::of(plan.range.as_ref());
        if let (Some(r), Some(h)) = (&plan.range, plan.header_row)
            && (h < u64::from(r.first_row) || r.last_row.is_some_and(|l| h > u64::from(l)))
        {
            return Err(SourceError::HeaderOutsideRange {
                path,
                header_row: h,
                range: range_text(r),
            });
        }
        let mut source = SheetSource {
            info: SourceInfo {
                path,
                format: format.as_str(),
                encoding: "binary",
                encoding_detected: false,
                encoding_evidence: None,
                bom: false,
                delimiter: b',',
                delimiter_sniffed: false,
                quote: b'"',
                quote_sniffed: false,
                header_row: 0,
                header_row_detected: plan.header_row.is_none(),
                has_header: plan.header != Some(false),
                sheet: Some(sheet),
                header: Vec::new(),
                progress_unit: ProgressUnit::Rows,
                progress_total: 0,
                size,
                typed: true,
                above_header: Vec::new(),
                stream: false,
            },
            feed,
            pending: VecDeque::new(),
            window,
            first_col: window.first_col,
            last_col: window.last_col,
            next_row: 0,
            above: 0,
            data_start: 0,
            data_rows: 0,
            limit: options.limit,
            past_range: false,
            done: false,
            rows_read: Arc::new(AtomicU64::new(0)),
            max_field_bytes: plan.max_field_bytes,
        };
        source.find_header(plan, used)?;
        let last = if window.last_row != u32::MAX {
            Some(window.last_row)
        } else {
            used.map(|(r, _)| r)
        };
        source.info.progress_total =
            last.map_or(0, |l| u64::from((l + 1).saturating_sub(source.data_start)));
        Ok(source)
    }

    /// The next row holding a value inside the window, read-ahead rows first. Rows past the
    /// window's last row end the sheet.
    fn next_row(&mut self) -> Result<Option<RawRow>, SourceError> {
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
            path: self.info.path.clone(),
            format: self.info.format,
        }
    }

    fn corrupt(&self, reason: String) -> SourceError {
        SourceError::Corrupt {
            path: self.info.path.clone(),
            format: self.info.format,
            reason,
        }
    }

    /// Finds the header row (or the first record, without a header), sets the columns, and
    /// leaves the rows read ahead below it in `pending`.
    fn find_header(
        &mut self,
        plan: &SourcePlan,
        used: Option<(u32, u32)>,
    ) -> Result<(), SourceError> {
        let mut ahead: Vec<RawRow> = Vec::new();
        // Rows above the header that hold something: skipped, and shown with their text.
        let mut above: Vec<RawRow> = Vec::new();
        let chosen = match plan.header_row {
            Some(h) if self.info.has_header => {
                let target = u32::try_from(h - 1).unwrap_or(u32::MAX);
                loop {
                    match self.next_row()? {
                        Some(row) if row.row < target => above.push(row),
                        Some(row) if row.row == target => break Some(row),
                        Some(row) => {
                            self.pending.push_back(row);
                            break None;
                        }
                        None => break None,
                    }
                }
                .ok_or_else(|| SourceError::EmptySheet {
                    path: self.info.path.clone(),
                    sheet: self.sheet_name(),
                    place: format!(" at sheet row {h} (`header_row`)"),
                })?
            }
            _ => {
                while ahead.len() < HEADER_SEARCH_ROWS {
                    match self.next_row()? {
                        Some(row) => ahead.push(row),
                        None => break,
                    }
                }
                if ahead.is_empty() {
                    return Err(self.nothing_to_read(plan, used));
                }
                let at = if self.info.has_header && plan.header_row.is_none() {
                    self.header_among(&ahead, &plan.expected_columns)
                } else {
                    0
                };
                let mut rest = ahead.split_off(at);
                let chosen = rest.remove(0);
                self.pending.extend(rest);
                above = ahead;
                chosen
            }
        };
        let first = chosen.row;
        if self.info.has_header {
            self.take_header(chosen, plan.header_names)?;
        } else {
            self.no_header(chosen, used)?;
        }
        // Every sheet row from the window's first to the header (or first record) is a row
        // skipped, as a title block of a CSV file is.
        self.above = u64::from(first.saturating_sub(self.window.first_row));
        self.info.above_header = above
            .iter()
            .map(|row| {
                let text: Vec<&str> = row.cells.iter().map(|c| row.value(c)).collect();
                (u64::from(row.row) + 1, text.join(", "))
            })
            .collect();
        Ok(())
    }

    /// The header among the first rows: the first holding the most expected names (every one,
    /// ideally), else the first row.
    fn header_among(&self, rows: &[RawRow], expected: &[String]) -> usize {
        if expected.is_empty() {
            return 0;
        }
        let window = &self.window;
        let names = rows.iter().map(|row| {
            row.cells
                .iter()
                .filter(|c| c.col >= window.first_col && c.col <= window.last_col)
                .map(|c| row.value(c))
                .collect()
        });
        super::most_expected_names(names, expected).map_or(0, |(i, _)| i)
    }

    fn take_header(&mut self, row: RawRow, policy: HeaderNames) -> Result<(), SourceError> {
        let n = row.row + 1;
        if row.malformed {
            return Err(self.corrupt(format!(
                "sheet `{}` gives its header row {n} more than once, or its cells out of order ({})",
                self.sheet_name(),
                cell_list(&row)
            )));
        }
        if let Some((col, len)) = row.oversize {
            return Err(self.corrupt(format!(
                "the header row {n} of sheet `{}` holds {len} bytes in cell {}{n}, more than `max_field_bytes` ({} bytes) allows",
                self.sheet_name(),
                column_letters(col + 1),
                self.max_field_bytes
            )));
        }
        let inside: Vec<&RawCell> = row
            .cells
            .iter()
            .filter(|c| c.col >= self.window.first_col && c.col <= self.window.last_col)
            .filter(|c| c.kind != CellKind::Text || !row.value(c).trim().is_empty())
            .collect();
        let (Some(first), Some(last)) = (inside.first(), inside.last()) else {
            return Err(SourceError::EmptySheet {
                path: self.info.path.clone(),
                sheet: self.sheet_name(),
                place: format!(" at sheet row {}", row.row + 1),
            });
        };
        // A declared range fixes the columns; otherwise the header's filled cells do, so a
        // table placed at B2 needs no range.
        self.first_col = if self.window.declared {
            self.window.first_col
        } else {
            first.col
        };
        self.last_col = if self.window.cols_declared {
            self.window.last_col
        } else {
            last.col
        };
        let mut raw = vec![String::new(); (self.last_col - self.first_col + 1) as usize];
        for c in &row.cells {
            if c.col >= self.first_col && c.col <= self.last_col {
                raw[(c.col - self.first_col) as usize] = row.value(c).to_string();
            }
        }
        let place = format!("sheet `{}` row {}", self.sheet_name(), row.row + 1);
        self.info.header = super::name_columns(raw, policy, &self.info.path, &place)?;
        self.info.header_row = u64::from(row.row) + 1;
        self.next_row = row.row + 1;
        self.data_start = self.next_row;
        Ok(())
    }

    /// Without a header: columns from the window's first column to its last, or to the last
    /// column the sheet (or the rows read ahead) uses; the first record is read as data.
    fn no_header(&mut self, first: RawRow, used: Option<(u32, u32)>) -> Result<(), SourceError> {
        self.first_col = self.window.first_col;
        self.last_col = if self.window.cols_declared {
            self.window.last_col
        } else {
            let seen = std::iter::once(&first)
                .chain(self.pending.iter())
                .flat_map(|r| r.cells.iter().map(|c| c.col))
                .max()
                .unwrap_or(self.first_col);
            used.map_or(seen, |(_, c)| c.max(seen)).max(self.first_col)
        };
        let width = (self.last_col - self.first_col + 1) as usize;
        self.info.header = (1..=width).map(|i| format!("column_{i}")).collect();
        self.info.header_row = u64::from(first.row) + 1;
        self.next_row = first.row;
        self.data_start = first.row;
        self.pending.push_front(first);
        Ok(())
    }

    /// The error for a sheet (or range) where no row holds a value.
    fn nothing_to_read(&self, plan: &SourcePlan, used: Option<(u32, u32)>) -> SourceError {
        match &plan.range {
            Some(r) => SourceError::RangeOutside {
                path: self.info.path.clone(),
                sheet: self.sheet_name().into(),
                range: range_text(r).into(),
                used: match used {
                    Some((row, col)) => {
                        format!(" (its cells end at {}{})", column_letters(col + 1), row + 1).into()
                    }
                    None => "".into(),
                },
            },
            None => SourceError::EmptySheet {
                path: self.info.path.clone(),
                sheet: self.sheet_name(),
                place: String::new(),
            },
        }
    }

    fn sheet_name(&self) -> String {
        self.info.sheet.clone().unwrap_or_default()
    }

    pub fn info(&self) -> &SourceInfo {
        &self.info
    }

    /// A counter of sheet rows read so far (below the header), for a progress bar.
    pub fn rows_read(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.rows_read)
    }

    /// Reads up to `max_rows` rows; `None` at the end of the sheet (or of `--limit`).
    pub fn next_batch(&mut self, max_rows: usize) -> Result<Option<Batch>, SourceError> {
        if self.done {
            return Ok(None);
        }
        let ncols = self.info.header.len();
        let mut chunk = Chunk::new(ncols, max_rows.min(super::CHUNK_ROWS));
        chunk.skipped += std::mem::take(&mut self.above);
        while chunk.taken < max_rows && chunk.bytes < CHUNK_BYTES {
            if self.limit.is_some_and(|l| self.data_rows >= l) {
                self.done = true;
                break;
            }
            let Some(row) = self.next_row()? else {
                self.done = true;
                break;
            };
            // Rows between the last one read and this one hold nothing: blank rows.
            chunk.skipped += u64::from(row.row.saturating_sub(self.next_row));
            self.next_row = row.row + 1;
            self.rows_read.store(
                u64::from(self.next_row - self.data_start),
                Ordering::Relaxed,
            );
            chunk.taken += 1;
            chunk.bytes += row.text.len();
            self.data_rows += 1;
            if row.malformed {
                chunk.rejects.push(self.malformed(&row));
                continue;
            }
            if let Some((col, len)) = row.oversize {
                chunk.rejects.push(self.oversized(&row, col, len));
                continue;
            }
            if let Some(reject) = self.outside_columns(&row) {
                chunk.rejects.push(reject);
                continue;
            }
            chunk.push(&row, self.first_col);
        }
        if chunk.taken == 0 && chunk.skipped == 0 {
            return Ok(None);
        }
        chunk.finish(&self.info.path).map(Some)
    }

    /// The column name of 0-based sheet column `col`, if it is one of the header's.
    fn column_of(&self, col: u32) -> String {
        if col >= self.first_col && col <= self.last_col {
            self.info.header[(col - self.first_col) as usize].clone()
        } else {
            String::new()
        }
    }

    /// A row given twice in the file, or with its cells out of order: rejected with every
    /// value, in file order, rather than one copy of a cell chosen over another.
    fn malformed(&self, row: &RawRow) -> SourceReject {
        let n = row.row + 1;
        SourceReject {
            fields: row.cells.iter().map(|c| row.value(c).to_string()).collect(),
            issue: Issue {
                row: u64::from(n),
                line: u64::from(n),
                code: Code::MalformedRow,
                severity: Severity::Error,
                field: String::new(),
                column: String::new(),
                value: cell_list(row),
                message: format!(
                    "sheet row {n} is given more than once in the workbook, or its cells are out of order (a malformed file): the row is rejected with every value in file order, as no copy of a cell can be told right; fix the row in the workbook (saving it in Excel or LibreOffice writes each row once)"
                ),
            },
        }
    }

    /// A row with a cell longer than `max_field_bytes` (kept as an excerpt), or whose cells
    /// hold too much text in all.
    fn oversized(&self, row: &RawRow, col: u32, len: u64) -> SourceReject {
        let n = row.row + 1;
        let at = format!("{}{n}", column_letters(col + 1));
        let message = if len as usize > row.limits.cell {
            format!(
                "cell {at} holds {len} bytes of text, more than `max_field_bytes` ({} bytes): the row is rejected, that value cut to its first {EXCERPT_BYTES} bytes here. Raise `max_field_bytes` in `[source]` if such values are genuine",
                self.max_field_bytes
            )
        } else {
            format!(
                "the row's cells hold more than {} bytes of text in all ({ROW_BYTES_PER_FIELD_BYTE} times `max_field_bytes`), passed at cell {at}: the row is rejected, its values from there on cut to their first {EXCERPT_BYTES} bytes here. Raise `max_field_bytes` in `[source]` if such rows are genuine",
                row.limits.row
            )
        };
        let mut fields = vec![String::new(); self.info.header.len()];
        let mut extras = Vec::new();
        for c in &row.cells {
            if c.col >= self.first_col && c.col <= self.last_col {
                fields[(c.col - self.first_col) as usize] = row.value(c).to_string();
            } else if c.col >= self.window.first_col && c.col <= self.window.last_col {
                extras.push(row.value(c).to_string());
            }
        }
        fields.extend(extras);
        let value = row
            .cells
            .iter()
            .find(|c| c.col == col)
            .map(|c| row.value(c).to_string())
            .unwrap_or_default();
        SourceReject {
            fields,
            issue: Issue {
                row: u64::from(n),
                line: u64::from(n),
                code: Code::FieldTooLong,
                severity: Severity::Error,
                field: String::new(),
                column: self.column_of(col),
                value,
                message,
            },
        }
    }

    /// A row holding a value outside the header's columns (possible only when `range` does
    /// not bound them): rejected as `ragged-row` with every value it holds.
    fn outside_columns(&self, row: &RawRow) -> Option<SourceReject> {
        let outside: Vec<&RawCell> = row
            .cells
            .iter()
            .filter(|c| c.col < self.first_col || c.col > self.last_col)
            .filter(|c| c.col >= self.window.first_col && c.col <= self.window.last_col)
            .collect();
        if outside.is_empty() {
            return None;
        }
        let ncols = self.info.header.len();
        let mut fields = vec![String::new(); ncols];
        for c in &row.cells {
            if c.col >= self.first_col && c.col <= self.last_col {
                fields[(c.col - self.first_col) as usize] = row.value(c).to_string();
            }
        }
        let extras: Vec<String> = outside.iter().map(|c| cell_with_value(row, c)).collect();
        fields.extend(outside.iter().map(|c| row.value(c).to_string()));
        let span = format!(
            "{} to {}",
            column_letters(self.first_col + 1),
            column_letters(self.last_col + 1)
        );
        Some(SourceReject {
            fields,
            issue: Issue {
                row: u64::from(row.row) + 1,
                line: u64::from(row.row) + 1,
                code: Code::RaggedRow,
                severity: Severity::Error,
                field: String::new(),
                column: String::new(),
                value: extras.join(", "),
                message: format!(
                    "the row holds {} outside the header's columns ({span}); give that column a header name, or set `range` in `[source]` to the columns to read",
                    if outside.len() == 1 {
                        "a value"
                    } else {
                        "values"
                    }
                ),
            },
        })
    }

    /// The file's checksum and size (the workbook is read whole by calamine anyway, so the
    /// file is hashed in one pass at the end).
    pub fn finish(self) -> Result<Fingerprint, SourceError> {
        let path = self.info.path.clone();
        drop(self);
        super::fingerprint(&path)
    }
}

/// Text a chunk holds at most: with long cells (many uses of a long shared string), it ends
/// before [`super::CHUNK_ROWS`] rows.
const CHUNK_BYTES: usize = 64 << 20;

/// `A4=1, B4=x, A4=2`: a row's cells in file order, for an issue's value.
fn cell_list(row: &RawRow) -> String {
    row.cells
        .iter()
        .map(|c| cell_with_value(row, c))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `B4=x`: a cell by its reference, with its value.
fn cell_with_value(row: &RawRow, c: &RawCell) -> String {
    format!(
        "{}{}={}",
        column_letters(c.col + 1),
        row.row + 1,
        row.value(c)
    )
}

/// One chunk being built: a text and a kind column per source column.
struct Chunk {
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

impl Chunk {
    fn new(ncols: usize, capacity: usize) -> Self {
        Chunk {
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

    fn finish(self, path: &Path) -> Result<Batch, SourceError> {
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
        Ok(Batch {
            frame,
            lines: self.rows.clone(),
            rows: self.rows,
            rejects: self.rejects,
            skipped: self.skipped,
            shapes: self.shapes,
        })
    }
}

/// Opens the workbook with the reader its format needs, a panic inside calamine contained.
fn open_book(path: &Path, format: SheetFormat) -> Result<Sheets<BufReader<File>>, SourceError> {
    contained(|| open_book_with(path, format)).unwrap_or_else(|| {
        Err(SourceError::ReaderFailed {
            path: path.to_path_buf(),
            format: format.as_str(),
        })
    })
}

/// Opens the workbook with the reader its format needs. An OLE compound file is either an xls
/// workbook or an encrypted xlsx (an `EncryptedPackage` stream), which calamine's xlsx reader
/// recognises.
fn open_book_with(
    path: &Path,
    format: SheetFormat,
) -> Result<Sheets<BufReader<File>>, SourceError> {
    let file = |path: &Path| {
        File::open(path)
            .map(BufReader::new)
            .map_err(|source| SourceError::Open {
                path: path.to_path_buf(),
                source,
            })
    };
    let mut head = [0u8; 8];
    let n = read_up_to(
        &mut File::open(path).map_err(|source| SourceError::Open {
            path: path.to_path_buf(),
            source,
        })?,
        &mut head,
    )
    .map_err(|e| read_error(path, e))?;
    let head = &head[..n];
    let corrupt = |reason: String| SourceError::Corrupt {
        path: path.to_path_buf(),
        format: format.as_str(),
        reason,
    };
    if head.starts_with(CFB_MAGIC) {
        if let Err(XlsxError::Password) = Xlsx::new(file(path)?) {
            return Err(SourceError::Encrypted {
                path: path.to_path_buf(),
            });
        }
        return Xls::new(file(path)?).map(Sheets::Xls).map_err(|e| match e {
            XlsError::Password => SourceError::Encrypted {
                path: path.to_path_buf(),
            },
            e => corrupt(format!("{e}")),
        });
    }
    if !head.starts_with(ZIP_MAGIC) {
        return Err(not_a_workbook(path, format, head));
    }
    match format {
        SheetFormat::Xlsx | SheetFormat::Xlsm | SheetFormat::Xls => Xlsx::new(file(path)?)
            .map(Sheets::Xlsx)
            .map_err(|e| match e {
                XlsxError::Password => SourceError::Encrypted {
                    path: path.to_path_buf(),
                },
                e => corrupt(xlsx_reason(&e)),
            }),
        SheetFormat::Xlsb => Xlsb::new(file(path)?)
            .map(Sheets::Xlsb)
            .map_err(|e| match e {
                XlsbError::Password => SourceError::Encrypted {
                    path: path.to_path_buf(),
                },
                e => corrupt(format!("{e}")),
            }),
        SheetFormat::Ods => Ods::new(file(path)?).map(Sheets::Ods).map_err(|e| match e {
            OdsError::Password => SourceError::Encrypted {
                path: path.to_path_buf(),
            },
            e => corrupt(format!("{e}")),
        }),
    }
}

/// A file named (or declared) as a workbook that does not start like one.
fn not_a_workbook(path: &Path, format: SheetFormat, head: &[u8]) -> SourceError {
    let text = !head.is_empty() && head.iter().all(|&b| b >= 0x09 && b != 0x7F);
    if text {
        return SourceError::TextNamedAsWorkbook {
            path: path.to_path_buf(),
            format: format.as_str(),
        };
    }
    SourceError::Corrupt {
        path: path.to_path_buf(),
        format: format.as_str(),
        reason: if head.is_empty() {
            "the file is empty".into()
        } else {
            "it is not a zip archive, as xlsx, xlsm, xlsb and ods workbooks are, nor an OLE file as xls workbooks are".into()
        },
    }
}

/// calamine's xlsx errors, in words that fit after "is not a readable xlsx workbook: ".
fn xlsx_reason(e: &XlsxError) -> String {
    match e {
        XlsxError::Zip(z) => format!("its zip archive is damaged or truncated ({z})"),
        XlsxError::FileNotFound(f) => {
            format!("it is a zip archive without the workbook part `{f}`")
        }
        XlsxError::Xml(x) => format!("its XML is malformed ({x})"),
        XlsxError::XmlEof(what) => format!("its XML ends inside `{what}`"),
        other => other.to_string(),
    }
}

/// The sheet named or numbered by `sheet`, else the first visible worksheet.
fn choose_sheet(
    path: &Path,
    sheets: &[calamine::Sheet],
    sheet: Option<&SheetRef>,
) -> Result<String, SourceError> {
    let list = || {
        sheets
            .iter()
            .map(|s| format!("`{}`", s.name))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match sheet {
        Some(SheetRef::Name(name)) => {
            if sheets.iter().any(|s| &s.name == name) {
                return Ok(name.clone());
            }
            let suggestion = sheets
                .iter()
                .map(|s| {
                    (
                        strsim::jaro_winkler(&s.name.to_lowercase(), &name.to_lowercase()),
                        s,
                    )
                })
                .filter(|(score, _)| *score >= 0.8)
                .max_by(|a, b| a.0.total_cmp(&b.0))
                .map(|(_, s)| format!(" (did you mean `{}`?)", s.name))
                .unwrap_or_default();
            Err(SourceError::UnknownSheet {
                path: path.to_path_buf(),
                name: name.as_str().into(),
                suggestion: suggestion.into(),
                sheets: list().into(),
            })
        }
        Some(SheetRef::Index(i)) => match i.checked_sub(1).and_then(|i| sheets.get(i)) {
            Some(s) => Ok(s.name.clone()),
            None => Err(SourceError::SheetIndex {
                path: path.to_path_buf(),
                index: *i,
                count: sheets.len(),
                sheets: list(),
            }),
        },
        None => sheets
            .iter()
            .find(|s| s.visible == SheetVisible::Visible && s.typ == SheetType::WorkSheet)
            .or_else(|| sheets.iter().find(|s| s.typ == SheetType::WorkSheet))
            .map(|s| s.name.clone())
            .ok_or_else(|| SourceError::NoWorksheet {
                path: path.to_path_buf(),
                sheets: if sheets.is_empty() {
                    "no sheet at all".into()
                } else {
                    format!("only {}", list())
                },
            }),
    }
}

/// The rows of `sheet` and the last used (row, column) if known, both 0-based.
type Opened = (Box<dyn RowFeed>, Option<(u32, u32)>);

/// Opens the rows of `sheet`, a panic inside calamine contained.
fn feed(
    book: Sheets<BufReader<File>>,
    path: &Path,
    format: SheetFormat,
    sheet: &str,
    limits: CellLimits,
) -> Result<Opened, SourceError> {
    contained(|| feed_with(book, path, format, sheet, limits)).unwrap_or_else(|| {
        Err(SourceError::ReaderFailed {
            path: path.to_path_buf(),
            format: format.as_str(),
        })
    })
}

fn feed_with(
    book: Sheets<BufReader<File>>,
    path: &Path,
    format: SheetFormat,
    sheet: &str,
    limits: CellLimits,
) -> Result<Opened, SourceError> {
    let corrupt = |reason: String| SourceError::Corrupt {
        path: path.to_path_buf(),
        format: format.as_str(),
        reason,
    };
    let not_a_worksheet = || SourceError::NotAWorksheet {
        path: path.to_path_buf(),
        sheet: sheet.to_string(),
    };
    match book {
        Sheets::Xlsx(mut x) => {
            // Opened once here to report a missing or broken sheet before reading starts, and
            // for the used range the sheet declares; the thread opens it again to stream it.
            let used = match x.worksheet_cells_reader(sheet) {
                Ok(cells) => {
                    let d = cells.dimensions();
                    (d != calamine::Dimensions::default()).then_some(d.end)
                }
                Err(XlsxError::NotAWorksheet(_)) => return Err(not_a_worksheet()),
                Err(e) => return Err(corrupt(xlsx_reason(&e))),
            };
            let feed = XlsxFeed::spawn(x, sheet.to_string(), limits).map_err(corrupt)?;
            Ok((Box::new(feed), used))
        }
        mut other => {
            let range = other
                .worksheet_range(sheet)
                .map_err(|e| corrupt(e.to_string()))?;
            if let Some(reason) = cut_off(&range, format) {
                return Err(SourceError::SheetCutOff {
                    path: path.to_path_buf(),
                    sheet: sheet.to_string(),
                    reason,
                });
            }
            let used = range.end();
            Ok((
                Box::new(RangeFeed {
                    range,
                    next: 0,
                    limits,
                }),
                used,
            ))
        }
    }
}

/// Checks, before calamine opens it, that no part of a zipped workbook unpacks past what it
/// can hold in memory. calamine reads each part through the zip crate, which stops a part at
/// the size its entry declares (it counts while unpacking), so the declared sizes bound what
/// it reads:
///
/// - a part read whole (shared strings, styles, the workbook, relationships; for xlsb and ods
///   the sheets too) may declare at most `max_part_bytes`;
/// - in an XML part that declares more than a value may take, the longest stretch between two
///   `<` (a text or a tag, which the XML parser holds whole) is measured by unpacking it:
///   past [`VALUE_BYTES_PER_FIELD_BYTE`] times `max_field_bytes`, the workbook is refused.
///   Shorter values over `max_field_bytes` are read, and their rows rejected
///   (`field-too-long`).
///
/// A file that is not a readable zip archive passes: opening it reports why.
fn check_parts(
    path: &Path,
    format: SheetFormat,
    max_field_bytes: u64,
    max_part_bytes: u64,
) -> Result<(), SourceError> {
    contained(|| check_parts_with(path, format, max_field_bytes, max_part_bytes)).unwrap_or_else(
        || {
            Err(SourceError::ReaderFailed {
                path: path.to_path_buf(),
                format: format.as_str(),
            })
        },
    )
}

fn check_parts_with(
    path: &Path,
    format: SheetFormat,
    max_field_bytes: u64,
    max_part_bytes: u64,
) -> Result<(), SourceError> {
    let file = File::open(path).map_err(|source| SourceError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    let Ok(mut zip) = zip::ZipArchive::new(BufReader::new(file)) else {
        return Ok(());
    };
    let value_limit = max_field_bytes
        .saturating_mul(VALUE_BYTES_PER_FIELD_BYTE)
        .saturating_add(SCAN_BUFFER as u64);
    for i in 0..zip.len() {
        let (name, size) = match zip.by_index_raw(i) {
            Ok(entry) if !entry.is_dir() => match entry.name() {
                Ok(name) => (name.into_owned(), entry.size()),
                Err(_) => continue,
            },
            _ => continue,
        };
        let kind = part_kind(&name, format);
        if kind == PartKind::Whole && size > max_part_bytes {
            return Err(SourceError::PartTooLarge {
                path: path.to_path_buf(),
                part: name.into(),
                size,
                limit: max_part_bytes,
            });
        }
        if kind == PartKind::Unread || size <= value_limit || !is_xml(&name) {
            continue;
        }
        let Ok(entry) = zip.by_index(i) else {
            continue;
        };
        if let Some(at) = stretch_past(entry, value_limit) {
            let place = match zip.by_index(i) {
                Ok(entry) => place_in_part(entry, at),
                Err(_) => String::new(),
            };
            return Err(SourceError::ValueTooLarge {
                path: path.to_path_buf(),
                part: name.into(),
                place: place.into(),
                limit: value_limit,
            });
        }
    }
    Ok(())
}

/// How calamine reads a part of a zipped workbook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PartKind {
    /// Loaded into memory whole.
    Whole,
    /// Streamed (xlsx and xlsm worksheets, and parts read only if asked for).
    Streamed,
    /// Never read: pictures, embedded objects, macros, printer settings.
    Unread,
}

fn part_kind(name: &str, format: SheetFormat) -> PartKind {
    let lower = name.to_ascii_lowercase();
    let file = lower.rsplit('/').next().unwrap_or(&lower);
    let unread = [
        "media/",
        "embeddings/",
        "printersettings/",
        "thumbnails/",
        "pictures/",
    ]
    .iter()
    .any(|d| lower.contains(d))
        || file == "vbaproject.bin";
    if unread {
        return PartKind::Unread;
    }
    let whole = match format {
        SheetFormat::Xlsx | SheetFormat::Xlsm | SheetFormat::Xls => {
            lower.ends_with(".rels")
                || matches!(file, "sharedstrings.xml" | "styles.xml" | "workbook.xml")
                || file.starts_with("theme")
        }
        // xlsb sheets are loaded whole, as are ods sheets (all of them, in content.xml).
        SheetFormat::Xlsb | SheetFormat::Ods => {
            lower.ends_with(".rels") || lower.ends_with(".bin") || lower.ends_with(".xml")
        }
    };
    if whole {
        PartKind::Whole
    } else {
        PartKind::Streamed
    }
}

fn is_xml(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.ends_with(".xml") || lower.ends_with(".rels")
}

/// Unpacks an XML part and finds the first stretch between two `<` longer than `limit`: the
/// offset where it starts, else `None`. An unpacking error ends the search: opening the part
/// later reports it.
///
/// Fast (the part is unpacked once more, and this should cost little beside that): a read
/// of at most [`SCAN_BUFFER`] bytes, shorter than `limit`, cannot hold a whole stretch, so
/// only stretches across reads count, from the last `<` of the reads before to the first of
/// this one: two searches per read, each stopping at the first `<` from its end.
fn stretch_past(mut part: impl Read, limit: u64) -> Option<u64> {
    let mut buf = vec![0u8; SCAN_BUFFER];
    let mut offset: u64 = 0;
    // Just past the last `<` seen (0 at the start of the part).
    let mut since: u64 = 0;
    loop {
        let n = match part.read(&mut buf) {
            Ok(0) | Err(_) => return None,
            Ok(n) => n,
        };
        let chunk = &buf[..n];
        match memchr::memchr(b'<', chunk) {
            Some(first) => {
                if offset + first as u64 - since > limit {
                    return Some(since);
                }
                let last = memchr::memrchr(b'<', chunk).unwrap_or(first);
                since = offset + last as u64 + 1;
            }
            None if offset + n as u64 - since > limit => return Some(since),
            None => {}
        }
        offset += n as u64;
    }
}

/// What [`stretch_past`] reads at once; a value limit is always longer.
const SCAN_BUFFER: usize = 64 << 10;

/// Where offset `at` of an unpacked XML part is: `near cell B7` (the last cell tag before it),
/// `in shared string 3`, else `at byte N of the unpacked part`. Slow; for the error only.
fn place_in_part(mut part: impl Read, at: u64) -> String {
    let mut buf = vec![0u8; SCAN_BUFFER];
    let mut offset: u64 = 0;
    let mut cell: Option<String> = None;
    let mut strings: u64 = 0;
    while offset < at {
        let n = match part.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let chunk = &buf[..n.min((at - offset).min(n as u64) as usize)];
        for lt in memchr::memchr_iter(b'<', chunk) {
            let tag = &buf[lt + 1..n.min(lt + 33)];
            if let Some(rest) = tag.strip_prefix(b"c ") {
                cell = cell_ref(rest);
            } else if tag.starts_with(b"si>") || tag.starts_with(b"si ") {
                strings += 1;
            }
        }
        offset += n as u64;
    }
    match cell {
        Some(c) => format!(" near cell {c}"),
        None if strings > 0 => format!(" in shared string {strings}"),
        None => format!(" at byte {at} of the unpacked part"),
    }
}

/// The `r="B7"` of a cell tag's first bytes.
fn cell_ref(attrs: &[u8]) -> Option<String> {
    let at = memchr::memmem::find(attrs, b"r=\"")? + 3;
    let rest = &attrs[at..];
    let end = memchr::memchr(b'"', rest)?;
    std::str::from_utf8(&rest[..end]).ok().map(str::to_string)
}

/// The most rows and columns calamine's ods reader keeps of a sheet: it drops what lies past
/// them without an error (a sheet of LibreOffice's "huge sheets" can hold more).
const ODS_MAX_ROWS: u32 = 1_048_576;
const ODS_MAX_COLUMNS: u32 = 16_384;

/// Why a loaded range may have lost rows or columns, if it may have: it holds fewer rows than
/// it spans (rows the reader counted but did not keep), or, for ods, it reaches the last row
/// or column the reader keeps, past which it drops cells silently. xls and xlsb sheets cannot
/// go past those limits: their formats end there.
fn cut_off(range: &calamine::Range<Data>, format: SheetFormat) -> Option<String> {
    let (height, _) = range.get_size();
    let held = range.rows().count();
    if held < height {
        return Some(format!(
            "spans {height} rows but the {} reader kept only {held} of them",
            format.as_str()
        ));
    }
    let (last_row, last_col) = range.end()?;
    if format != SheetFormat::Ods {
        return None;
    }
    if last_row + 1 >= ODS_MAX_ROWS {
        return Some(format!(
            "reaches row {ODS_MAX_ROWS}, the last row the ods reader keeps (it drops any row past it)"
        ));
    }
    if last_col + 1 >= ODS_MAX_COLUMNS {
        return Some(format!(
            "reaches column {} ({ODS_MAX_COLUMNS}), the last column the ods reader keeps (it drops any column past it)",
            column_letters(ODS_MAX_COLUMNS)
        ));
    }
    None
}

/// `A5:F15`, `A3:K`, `B2` as the user wrote them (1-based).
pub fn range_text(r: &CellRange) -> String {
    let mut s = format!("{}{}", column_letters(r.first_col), r.first_row);
    if r.last_row.is_some() || r.last_col.is_some() {
        s.push(':');
        if let Some(c) = r.last_col {
            s.push_str(&column_letters(c));
        }
        if let Some(row) = r.last_row {
            let _ = write!(s, "{row}");
        }
    }
    s
}

/// Column letters of 1-based column `n`: 1 → A, 27 → AA.
pub fn column_letters(mut n: u32) -> String {
    let mut letters = Vec::new();
    while n > 0 {
        let rem = (n - 1) % 26;
        letters.push(b'A' + rem as u8);
        n = (n - 1) / 26;
    }
    letters.reverse();
    String::from_utf8(letters).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(value: Value<'_>, class: TimeClass) -> (String, Option<CellKind>) {
        let mut out = String::new();
        let kind = canonical(value, class, &mut out);
        (out, kind)
    }

    fn serial(v: f64, class: TimeClass) -> (String, Option<CellKind>) {
        let d = ExcelDateTime::new(v, calamine::ExcelDateTimeType::DateTime, false);
        text(Value::Serial(d), class)
    }

    #[test]
    fn numbers_read_without_exponent_or_trailing_zero() {
        assert_eq!(
            text(Value::Float(12.0), TimeClass::Unknown).0,
            "12",
            "integral floats lose `.0`"
        );
        assert_eq!(text(Value::Float(0.29), TimeClass::Unknown).0, "0.29");
        assert_eq!(
            text(Value::Float(0.1 + 0.2), TimeClass::Unknown).0,
            "0.3",
            "15 significant digits, as a spreadsheet shows it"
        );
        assert_eq!(
            text(Value::Float(123456.789012345), TimeClass::Unknown).0,
            "123456.789012345"
        );
        assert_eq!(
            text(Value::Float(1234567890123456789.0), TimeClass::Unknown).0,
            "1234567890123460000"
        );
        assert_eq!(text(Value::Float(-0.0), TimeClass::Unknown).0, "0");
        assert_eq!(
            text(Value::Float(1e21), TimeClass::Unknown).0,
            "1000000000000000000000"
        );
        assert_eq!(
            text(Value::Float(1.5e-7), TimeClass::Unknown).0,
            "0.00000015"
        );
        assert_eq!(
            text(Value::Int(-42), TimeClass::Unknown),
            ("-42".into(), Some(CellKind::Number))
        );
    }

    #[test]
    fn date_serials_follow_the_format_class() {
        // 45352 = 2024-03-01 in the 1900 system.
        assert_eq!(
            serial(45352.0, TimeClass::Date),
            ("2024-03-01".into(), Some(CellKind::Date))
        );
        assert_eq!(
            serial(45352.4375, TimeClass::DateTime),
            ("2024-03-01 10:30:00".into(), Some(CellKind::DateTime))
        );
        assert_eq!(
            serial(45352.0, TimeClass::DateTime),
            ("2024-03-01 00:00:00".into(), Some(CellKind::DateTime)),
            "a format showing a time keeps midnight"
        );
        assert_eq!(
            serial(45352.4375, TimeClass::Date),
            ("2024-03-01 10:30:00".into(), Some(CellKind::DateTime)),
            "a date format does not cut the time off a value"
        );
        assert_eq!(
            serial(0.4375, TimeClass::Time),
            ("10:30:00".into(), Some(CellKind::Time))
        );
        assert_eq!(
            serial(45352.5000115741, TimeClass::DateTime).0,
            "2024-03-01 12:00:01"
        );
        assert_eq!(
            serial(-1.0, TimeClass::Date),
            ("-1".into(), Some(CellKind::Number)),
            "no date before the epoch"
        );
        let d1904 = ExcelDateTime::new(0.0, calamine::ExcelDateTimeType::DateTime, true);
        assert_eq!(text(Value::Serial(d1904), TimeClass::Date).0, "1904-01-01");
        let elapsed = ExcelDateTime::new(1.5, calamine::ExcelDateTimeType::TimeDelta, false);
        assert_eq!(
            text(Value::Serial(elapsed), TimeClass::Time),
            ("36:00:00".into(), Some(CellKind::Time))
        );
    }

    #[test]
    fn format_codes_classify_by_what_they_show() {
        assert_eq!(time_class("dd/mm/yyyy"), TimeClass::Date);
        assert_eq!(time_class("mmm-yy"), TimeClass::Date);
        assert_eq!(time_class("mmmm"), TimeClass::Date);
        assert_eq!(time_class("yyyy-mm-dd hh:mm:ss"), TimeClass::DateTime);
        assert_eq!(time_class("m/d/yy h:mm"), TimeClass::DateTime);
        assert_eq!(time_class("h:mm AM/PM"), TimeClass::Time);
        assert_eq!(time_class("mm:ss"), TimeClass::Time);
        assert_eq!(time_class("[h]:mm:ss"), TimeClass::Time);
        assert_eq!(time_class("[$-409]d-mmm-yy;@"), TimeClass::Date);
        assert_eq!(time_class("[Red]\"day \"d"), TimeClass::Date);
        assert_eq!(time_class("\"hours\" 0"), TimeClass::Unknown);
        assert_eq!(time_class("General"), TimeClass::Unknown);
    }

    #[test]
    fn iso_cells_of_ods_read_as_dates_and_times() {
        let iso = |s| text(Value::IsoDateTime(s), TimeClass::Unknown);
        assert_eq!(
            iso("2024-03-01"),
            ("2024-03-01".into(), Some(CellKind::Date))
        );
        assert_eq!(
            iso("2024-03-01T10:30:00"),
            ("2024-03-01 10:30:00".into(), Some(CellKind::DateTime))
        );
        assert_eq!(iso("2024-03-01T10:30:00.250").0, "2024-03-01 10:30:00.250");
        assert_eq!(iso("soon"), ("soon".into(), Some(CellKind::Text)));
        let dur = |s| text(Value::IsoDuration(s), TimeClass::Unknown);
        assert_eq!(
            dur("PT10H30M00S"),
            ("10:30:00".into(), Some(CellKind::Time))
        );
        assert_eq!(dur("P1DT2H").0, "26:00:00");
        assert_eq!(dur("PT1.5S").0, "00:00:01.500");
        assert_eq!(dur("later"), ("later".into(), Some(CellKind::Text)));
    }

    #[test]
    fn errors_booleans_and_empty_cells() {
        assert_eq!(
            text(
                Value::Error(&calamine::CellErrorType::NA),
                TimeClass::Unknown
            ),
            ("#N/A".into(), Some(CellKind::Error))
        );
        assert_eq!(
            text(Value::Bool(true), TimeClass::Unknown),
            ("true".into(), Some(CellKind::Boolean))
        );
        assert_eq!(text(Value::Empty, TimeClass::Unknown).1, None);
        assert_eq!(text(Value::Text(""), TimeClass::Unknown).1, None);
        assert_eq!(
            text(Value::Text("007"), TimeClass::Unknown),
            ("007".into(), Some(CellKind::Text))
        );
    }

    #[test]
    fn value_limit_stretches_are_found_across_reads() {
        let limit = SCAN_BUFFER as u64 + 100;
        let long = format!("<a>{}</a>", "x".repeat(SCAN_BUFFER + 200));
        assert_eq!(stretch_past(long.as_bytes(), limit), Some(1));
        let at_end = format!("<a/>{}", " ".repeat(SCAN_BUFFER + 200));
        assert_eq!(stretch_past(at_end.as_bytes(), limit), Some(1));
        let fine: String = (0..50_000)
            .map(|i| format!("<c r=\"A{i}\"><v>{i}</v></c>"))
            .collect();
        assert_eq!(stretch_past(fine.as_bytes(), limit), None);
        let just_under = format!("<a>{}</a>", "x".repeat(limit as usize - 2));
        assert_eq!(stretch_past(just_under.as_bytes(), limit), None);
        let cells = format!(
            r#"<row><c r="A1"><v>1</v></c><c r="B1" t="inlineStr"><is><t>{}"#,
            "x".repeat(10)
        );
        assert_eq!(
            place_in_part(cells.as_bytes(), cells.len() as u64 - 5),
            " near cell B1"
        );
        let strings = "<sst><si><t>a</t></si><si><t>bbbb";
        assert_eq!(place_in_part(strings.as_bytes(), 30), " in shared string 2");
    }

    #[test]
    fn ranges_and_columns_print_as_written() {
        assert_eq!(column_letters(1), "A");
        assert_eq!(column_letters(26), "Z");
        assert_eq!(column_letters(27), "AA");
        assert_eq!(column_letters(16384), "XFD");
        for r in ["A5:F15", "A3:K", "B2", "C1:D"] {
            let parsed = CellRange::parse(r).expect("a range");
            assert_eq!(range_text(&parsed), r);
        }
    }
}
