//! The source stage: reads the export into chunks of raw text columns, with provenance.
//!
//! `source` owns file formats, dialects and encodings, and nothing about types or rules: every
//! value leaves it as the text that was in the file. Each row keeps its provenance — the
//! spreadsheet row number and the physical line where the record starts — so every later issue
//! can point back at it. A structurally broken record (wrong number of fields, bytes that are not
//! text) becomes a [`SourceReject`] with its raw fields, and reading goes on. Blank rows are
//! skipped and counted.

pub mod csv;
mod decode;
mod detect;
mod records;
pub mod sheet;
mod sniff;
mod views;

use std::collections::HashSet;
use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use polars::prelude::DataFrame;

use crate::issue::Issue;
use crate::plan::{HeaderNames, SourcePlan};

/// Options the command line adds to the plan's source.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// Stop after this many data rows (blank rows not counted).
    pub limit: Option<u64>,
}

/// An open input, positioned after its header: the one entry point later stages use.
#[expect(
    clippy::large_enum_variant,
    reason = "one Source per input, opened once and moved once: its size does not matter"
)]
pub enum Source {
    Csv(csv::CsvSource),
    Sheet(sheet::SheetSource),
}

impl Source {
    /// Opens `plan.path` with the reader its format needs: the declared `format`, else the
    /// file's first bytes, else its extension (`detect::format`). Each reader detects the
    /// rest once, on opening (`detect::csv`, `detect::workbook`).
    pub fn open(plan: &SourcePlan, options: &ReadOptions) -> Result<Self, SourceError> {
        if let Some(stream) = open_stream(&plan.path)? {
            return Self::from_stream(plan, options, stream);
        }
        match detect::format(plan)? {
            None => Ok(Source::Csv(csv::CsvSource::open(plan, options)?)),
            Some(format) => Ok(Source::Sheet(sheet::SheetSource::open(
                plan, options, format,
            )?)),
        }
    }

    /// A pipe, a FIFO or standard input, read once: its format is told from its first bytes,
    /// which the CSV reader then reads again from memory.
    fn from_stream(
        plan: &SourcePlan,
        options: &ReadOptions,
        mut stream: Box<dyn Read + Send>,
    ) -> Result<Self, SourceError> {
        let mut head = Vec::with_capacity(8);
        (&mut stream)
            .take(8)
            .read_to_end(&mut head)
            .map_err(|e| SourceError::Read {
                path: plan.path.clone(),
                line: 1,
                message: e.to_string(),
            })?;
        detect::refuse_workbook_stream(plan, &head)?;
        let input = Box::new(std::io::Cursor::new(head).chain(stream));
        let mut source = csv::CsvSource::from_reader(plan, options, input, 0)?;
        source.set_stream();
        Ok(Source::Csv(source))
    }

    pub fn info(&self) -> &SourceInfo {
        match self {
            Source::Csv(s) => s.info(),
            Source::Sheet(s) => s.info(),
        }
    }

    /// Progress so far, in [`SourceInfo::progress_unit`]s, for a progress bar on another
    /// thread.
    pub fn progress(&self) -> Arc<AtomicU64> {
        match self {
            Source::Csv(s) => s.bytes_read(),
            Source::Sheet(s) => s.rows_read(),
        }
    }

    /// Reads up to `max_rows` rows; `None` at the end of the input (or of `--limit`).
    pub fn next_chunk(&mut self, max_rows: usize) -> Result<Option<Chunk>, SourceError> {
        match self {
            Source::Csv(s) => s.next_chunk(max_rows),
            Source::Sheet(s) => s.next_chunk(max_rows),
        }
    }

    /// The checksum and size of the bytes a CSV source has read so far, reading no more (a
    /// run stopped early on a pipe); `None` for a workbook.
    pub fn read_so_far(self) -> Option<Fingerprint> {
        match self {
            Source::Csv(s) => Some(s.read_so_far()),
            Source::Sheet(_) => None,
        }
    }

    /// Reads whatever is left of the file and returns its checksum and size.
    pub fn finish(self) -> Result<Fingerprint, SourceError> {
        match self {
            Source::Csv(s) => s.finish(),
            Source::Sheet(s) => s.finish(),
        }
    }
}

/// Rows per chunk: large enough for vectorised work, small enough to bound memory and for a
/// chunk's columns of views to stay in cache while they are built (16k rows cost the same
/// instructions as 32k, with a quarter less memory in flight).
pub const CHUNK_ROWS: usize = 16 * 1024;

/// A chunk of rows as read.
#[derive(Debug)]
pub struct Chunk {
    /// One string column per source column, named `#0`, `#1`, … in header order. Holds only
    /// well-formed rows. A typed source ([`SourceInfo::typed`]) adds, per column, a `UInt32`
    /// column `#0:kind`, … telling what each cell held ([`CellKind`]); its text is then the
    /// cell's canonical text.
    pub frame: DataFrame,
    /// Spreadsheet row number of each frame row.
    pub rows: Vec<u64>,
    /// Physical line where each frame row starts.
    pub lines: Vec<u64>,
    /// Structurally broken records in this chunk, in file order.
    pub rejects: Vec<SourceReject>,
    /// Blank (or comment) rows skipped in this chunk.
    pub skipped: u64,
    /// What each column's values look like in this chunk.
    pub shapes: Vec<ColumnShape>,
}

/// What the values of one column of one chunk look like, so later stages skip work that cannot
/// matter (stripping a column where nothing is padded).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ColumnShape {
    /// Some value has white space around it.
    pub padded: bool,
    /// Some value is empty or only white space.
    pub blank: bool,
}

impl ColumnShape {
    /// Takes one value into account.
    #[inline]
    pub fn see(&mut self, value: &str) {
        // The common case decided from the two end bytes: ASCII and not white space means
        // neither padded nor blank. Anything else takes Unicode's notion of white space.
        let bytes = value.as_bytes();
        if let (Some(&first), Some(&last)) = (bytes.first(), bytes.last())
            && first.is_ascii_graphic()
            && last.is_ascii_graphic()
        {
            return;
        }
        let trimmed = value.trim();
        if trimmed.len() != value.len() {
            self.padded = true;
        }
        if trimmed.is_empty() {
            self.blank = true;
        }
    }
}

impl Chunk {
    /// Rows read in this chunk: well-formed, rejected and skipped.
    pub fn rows_read(&self) -> u64 {
        self.rows.len() as u64 + self.rejects.len() as u64 + self.skipped
    }
}

/// The internal name of source column `i` in a [`Chunk`] frame.
pub fn column_name(i: usize) -> String {
    format!("#{i}")
}

/// The internal name of the [`CellKind`] column of source column `i` (typed sources only).
pub fn kind_column_name(i: usize) -> String {
    format!("#{i}:kind")
}

/// What a spreadsheet cell held, and so how its canonical text reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum CellKind {
    /// Text (or an empty cell: empty text), read as written.
    Text = 0,
    /// A number: `12` (no `.0` for integral values), `0.29` (the shortest text that reads back
    /// as the same double), never an exponent.
    Number = 1,
    /// `true` or `false`.
    Boolean = 2,
    /// A date: `2024-03-01`.
    Date = 3,
    /// A date and time: `2024-03-01 10:30:00`, with `.fff` when there are fractions of a
    /// second.
    DateTime = 4,
    /// A time of day or a duration: `10:30:00`.
    Time = 5,
    /// An error value: `#N/A`, `#DIV/0!`, `#REF!`…
    Error = 6,
}

/// Header names as the rest of the run sees them, under the `header_names` policy: `Strict`
/// refuses blank and repeated names (naming them and where they are), `Rename` calls a blank
/// name `column_N` (N its 1-based position) and a repeated one `name_2`, `name_3`…
/// `place` says where the header is (`line 3`, `sheet row 5`) for the error.
pub fn name_columns(
    raw: Vec<String>,
    policy: HeaderNames,
    path: &std::path::Path,
    place: &str,
) -> Result<Vec<String>, SourceError> {
    let blank: Vec<usize> = (0..raw.len())
        .filter(|&i| raw[i].trim().is_empty())
        .collect();
    // Sets, not scans: a header of 100,000 columns is named in linear time.
    let mut seen: HashSet<&str> = HashSet::with_capacity(raw.len());
    let mut repeated: Vec<&str> = Vec::new();
    let mut reported: HashSet<&str> = HashSet::new();
    for name in &raw {
        if !name.trim().is_empty() && !seen.insert(name) && reported.insert(name) {
            repeated.push(name);
        }
    }
    if blank.is_empty() && repeated.is_empty() {
        return Ok(raw);
    }
    if policy == HeaderNames::Strict {
        let mut problems = Vec::new();
        if !blank.is_empty() {
            let list: Vec<String> = blank.iter().map(|i| (i + 1).to_string()).collect();
            problems.push(format!(
                "has no name for column{} {}",
                if blank.len() == 1 { "" } else { "s" },
                list.join(", ")
            ));
        }
        if !repeated.is_empty() {
            let list: Vec<String> = repeated
                .iter()
                .map(|name| {
                    let at: Vec<String> = (0..raw.len())
                        .filter(|&i| &raw[i] == name)
                        .map(|i| (i + 1).to_string())
                        .collect();
                    format!("`{name}` (columns {})", at.join(", "))
                })
                .collect();
            problems.push(format!("names {} more than once", list.join(", ")));
        }
        return Err(SourceError::BadHeader {
            path: path.to_path_buf(),
            place: place.to_string(),
            problems: problems.join(" and "),
        });
    }
    let mut names: Vec<String> = Vec::with_capacity(raw.len());
    let mut taken: HashSet<String> = HashSet::with_capacity(raw.len());
    for (i, name) in raw.iter().enumerate() {
        let base = if name.trim().is_empty() {
            format!("column_{}", i + 1)
        } else {
            name.clone()
        };
        let mut candidate = base.clone();
        let mut n = 1;
        while taken.contains(&candidate)
            || (candidate != *name && seen.contains(candidate.as_str()))
        {
            n += 1;
            candidate = format!("{base}_{n}");
        }
        taken.insert(candidate.clone());
        names.push(candidate);
    }
    Ok(names)
}

/// Among the first rows of a file (each given as its values), the first one holding the most
/// of the header names the mapping `expected` (compared without surrounding white space), with
/// how many it holds; `None` for no rows. The header-row search of every format.
pub(crate) fn most_expected_names<'a>(
    rows: impl IntoIterator<Item = Vec<&'a str>>,
    expected: &[String],
) -> Option<(usize, usize)> {
    let mut best: Option<(usize, usize)> = None;
    for (i, names) in rows.into_iter().enumerate() {
        let found = expected
            .iter()
            .filter(|e| names.iter().any(|n| n.trim() == e.trim()))
            .count();
        if best.is_none_or(|(_, most)| found > most) {
            best = Some((i, found));
        }
    }
    best
}

/// A record the source could not turn into a row.
#[derive(Debug, Clone)]
pub struct SourceReject {
    /// The fields as read (lossily decoded), for `rejects.csv`.
    pub fields: Vec<String>,
    pub issue: Issue,
}

/// What was learnt about the input while opening it: its detection (`detect::Detection`, made
/// once at open), its size and what its progress counts. What the report shows of the input.
#[derive(Debug, Clone)]
pub struct SourceInfo {
    pub path: PathBuf,
    /// `csv`, `xlsx`, `xlsm`, `xlsb`, `xls` or `ods`.
    pub format: &'static str,
    /// The encoding's WHATWG name (`UTF-8`, `windows-1252`, `UTF-16LE`…); `binary` for
    /// spreadsheets.
    pub encoding: &'static str,
    /// The encoding was detected, not declared.
    pub encoding_detected: bool,
    /// What the detection went by, when it was not plain (bytes that are not UTF-8).
    pub encoding_evidence: Option<String>,
    pub bom: bool,
    pub delimiter: u8,
    pub delimiter_sniffed: bool,
    pub quote: u8,
    pub quote_sniffed: bool,
    /// The line (CSV) or sheet row (spreadsheet) of the header record; for a file without
    /// one, the line or row of the first record.
    pub header_row: u64,
    /// The header row was detected (below a title block, or the first line), not declared.
    pub header_row_detected: bool,
    /// The file has a header record (declared or sniffed); without one columns are named
    /// `column_1`, `column_2`…
    pub has_header: bool,
    /// Spreadsheets: the sheet read.
    pub sheet: Option<String>,
    /// Header names in file order.
    pub header: Vec<String>,
    /// What a progress counter counts and its expected total ([`Source::progress`]).
    pub progress_unit: ProgressUnit,
    pub progress_total: u64,
    /// File size in bytes.
    pub size: u64,
    /// Frames carry `#i:kind` columns ([`CellKind`]): the values are typed cells.
    pub typed: bool,
    /// Lines above a detected header (a title block), each with its text: skipped rows,
    /// counted in the first chunk.
    pub above_header: Vec<(u64, String)>,
    /// Read from a pipe, a FIFO or standard input: it cannot be read again (a run stopped
    /// early has no checksum of the whole input).
    pub stream: bool,
}

/// What [`Source::progress`] counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressUnit {
    Bytes,
    Rows,
}

/// The input's fingerprint, known once it has been read to the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    pub sha256: String,
    pub bytes: u64,
}

/// Why the input could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(
        "cannot open the input `{path}`: {source}; check the path (a path written in the mapping is relative to the mapping file, one given with --input or --set to the working directory)"
    )]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read the input `{path}` near line {line}: {message}")]
    Read {
        path: PathBuf,
        line: u64,
        message: String,
    },
    #[error(
        "the input `{path}` has no header record at line {header_row}; it is empty or shorter than that. Check `header_row` in `[source]`"
    )]
    NoHeader { path: PathBuf, header_row: u64 },
    #[error(
        "the input `{path}` is a workbook arriving through a pipe; a workbook is read by jumping around in it, so save it to a file and pass that with --input"
    )]
    WorkbookStream { path: PathBuf },
    #[error(
        "the header of `{path}` (line {line}) is not valid {encoding} text; declare the file's encoding in `[source]`, e.g. `encoding = \"windows-1252\"` (or `\"utf-16le\"` when it is full of NUL bytes)"
    )]
    HeaderEncoding {
        path: PathBuf,
        line: u64,
        encoding: &'static str,
    },
    #[error(
        "the header of `{path}` ({place}) {problems}; name every column in the file, or set `header_names = \"rename\"` in `[source]` (a blank name becomes `column_N`, a repeat `name_2`) and map fields to those names with `column`"
    )]
    BadHeader {
        path: PathBuf,
        place: String,
        problems: String,
    },
    #[error(
        "the header of `{path}` (line {line}) opens a quote that never closes; close it in the file, or set `header_row` in `[source]` to the header's line if line {line} is not the header"
    )]
    HeaderQuote { path: PathBuf, line: u64 },
    #[error(
        "the header of `{path}` (line {line}) holds a name longer than `max_field_bytes` ({max} bytes) with no quote in it: the file is probably not a CSV with this delimiter (`{delimiter}`). Declare `delimiter` (and `encoding`) in `[source]`, or raise `max_field_bytes` if the header really is that long"
    )]
    HeaderTooLong {
        path: PathBuf,
        line: u64,
        max: u64,
        delimiter: String,
    },
    #[error(
        "`{path}` is a password-protected (encrypted) workbook, which cannot be read without its password; open it in Excel or LibreOffice, remove the password (Excel: File > Info > Protect Workbook > Encrypt with Password, cleared) and save an unprotected copy, then read that copy"
    )]
    Encrypted { path: PathBuf },
    #[error(
        "`{path}` is not a readable {format} workbook: {reason}. The file may be truncated or damaged: open it in Excel or LibreOffice and save it again, or export the sheet as CSV"
    )]
    Corrupt {
        path: PathBuf,
        format: &'static str,
        reason: String,
    },
    #[error(
        "`{path}` is not a readable workbook (the {format} reader failed on its structure); re-save it from a spreadsheet (Excel, LibreOffice) or export the sheet as CSV"
    )]
    ReaderFailed { path: PathBuf, format: &'static str },
    #[error(
        "`{path}` is named or declared as a workbook ({format}) but holds text; if it is a CSV export, set `format = \"csv\"` in `[source]` (or rename the file)"
    )]
    TextNamedAsWorkbook { path: PathBuf, format: &'static str },
    #[error("`{path}` has no worksheet to read ({sheets}); check that it is the right file")]
    NoWorksheet { path: PathBuf, sheets: String },
    #[error(
        "`{path}` has no sheet named `{name}`{suggestion}; its sheets are {sheets}. Set `sheet` in `[source]` to one of these names, or to a 1-based position"
    )]
    UnknownSheet {
        path: PathBuf,
        // Boxed strings keep `SourceError` (which other errors embed) small.
        name: Box<str>,
        suggestion: Box<str>,
        sheets: Box<str>,
    },
    #[error(
        "`{path}` has {count} sheet(s) ({sheets}), so there is no sheet {index}; set `sheet` in `[source]` to a position from 1 to {count}, or to a name"
    )]
    SheetIndex {
        path: PathBuf,
        index: usize,
        count: usize,
        sheets: String,
    },
    #[error(
        "sheet `{sheet}` of `{path}` is not a worksheet (a chart or macro sheet holds no table); set `sheet` in `[source]` to the sheet holding the table"
    )]
    NotAWorksheet { path: PathBuf, sheet: String },
    #[error(
        "sheet `{sheet}` of `{path}` holds no header{place}: the sheet is empty there; check `sheet`, `range` and `header_row` in `[source]`"
    )]
    EmptySheet {
        path: PathBuf,
        sheet: String,
        place: String,
    },
    #[error(
        "`{path}` holds a part that unpacks to {size} bytes (`{part}`), more than `max_part_bytes` ({limit} bytes) allows for a part read whole into memory; if the workbook is genuine, raise `max_part_bytes` in `[source]`, else export the sheet as CSV"
    )]
    PartTooLarge {
        path: PathBuf,
        part: Box<str>,
        size: u64,
        limit: u64,
    },
    #[error(
        "`{path}` holds a value or tag of more than {limit} bytes{place} (part `{part}`), too long to read (8 times `max_field_bytes`); if such values are genuine, raise `max_field_bytes` in `[source]`, else remove the value from the workbook or export the sheet as CSV"
    )]
    ValueTooLarge {
        path: PathBuf,
        part: Box<str>,
        place: Box<str>,
        limit: u64,
    },
    #[error(
        "sheet `{sheet}` of `{path}` {reason}: rows or columns would be lost, so nothing is read. Split the sheet into smaller sheets and read each, or export it as CSV"
    )]
    SheetCutOff {
        path: PathBuf,
        sheet: String,
        reason: String,
    },
    #[error(
        "range `{range}` of sheet `{sheet}` in `{path}` holds no value{used}; set `range` in `[source]` to the cells that hold the table"
    )]
    RangeOutside {
        path: PathBuf,
        sheet: Box<str>,
        range: Box<str>,
        used: Box<str>,
    },
    #[error(
        "`header_row = {header_row}` is outside `range = \"{range}\"` in `{path}`; the header must be one of the range's rows: change `header_row` or `range` in `[source]`"
    )]
    HeaderOutsideRange {
        path: PathBuf,
        header_row: u64,
        range: String,
    },
}

/// Standard input (`-`) or a file that is not a regular one (a pipe, a FIFO, a device): such
/// an input can be read once only. `None` for a regular file.
fn open_stream(path: &std::path::Path) -> Result<Option<Box<dyn Read + Send>>, SourceError> {
    if path.as_os_str() == "-" {
        return Ok(Some(Box::new(std::io::stdin())));
    }
    match std::fs::metadata(path) {
        Ok(m) if !m.is_file() && !m.is_dir() => {
            let file = std::fs::File::open(path).map_err(|source| SourceError::Open {
                path: path.to_path_buf(),
                source,
            })?;
            Ok(Some(Box::new(file)))
        }
        _ => Ok(None),
    }
}

/// Checksum and size of a whole file, for runs that stopped before reading it to the end.
pub fn fingerprint(path: &std::path::Path) -> Result<Fingerprint, SourceError> {
    use sha2::{Digest, Sha256};
    let mut file = std::fs::File::open(path).map_err(|source| SourceError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    let mut hasher = Sha256::new();
    let bytes = std::io::copy(&mut file, &mut hasher).map_err(|e| SourceError::Read {
        path: path.to_path_buf(),
        line: 0,
        message: e.to_string(),
    })?;
    Ok(Fingerprint {
        sha256: crate::plan::hex(&hasher.finalize()),
        bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(raw: &[&str], policy: HeaderNames) -> Result<Vec<String>, String> {
        name_columns(
            raw.iter().map(|s| s.to_string()).collect(),
            policy,
            std::path::Path::new("in.csv"),
            "line 1",
        )
        .map_err(|e| e.to_string())
    }

    #[test]
    fn shapes_see_padding_and_blanks_in_any_script() {
        let shape = |values: &[&str]| {
            let mut s = ColumnShape::default();
            values.iter().for_each(|v| s.see(v));
            (s.padded, s.blank)
        };
        assert_eq!(shape(&["a", "bc", "é", "x y"]), (false, false));
        assert_eq!(shape(&["a", ""]), (false, true));
        assert_eq!(shape(&["a", " b"]), (true, false));
        assert_eq!(shape(&["b\t"]), (true, false));
        assert_eq!(shape(&["\u{a0}b"]), (true, false));
        assert_eq!(shape(&["b\u{3000}"]), (true, false));
        assert_eq!(shape(&["  "]), (true, true));
    }

    #[test]
    fn strict_headers_name_every_blank_and_repeated_column() {
        let err =
            names(&["a", "", "b", "a", " ", "b"], HeaderNames::Strict).expect_err("strict refuses");
        assert!(err.contains("no name for columns 2, 5"), "{err}");
        assert!(
            err.contains("`a` (columns 1, 4), `b` (columns 3, 6)"),
            "{err}"
        );
        assert!(err.contains("header_names = \"rename\""), "{err}");
        assert_eq!(
            names(&["a", "b"], HeaderNames::Strict).expect("clean header"),
            ["a", "b"]
        );
    }

    #[test]
    fn renamed_headers_are_unique() {
        assert_eq!(
            names(&["a", "", "a", "a_2", "", "column_2"], HeaderNames::Rename)
                .expect("rename never fails"),
            ["a", "column_2_2", "a_3", "a_2", "column_5", "column_2"]
        );
    }
}
