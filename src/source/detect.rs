//! Input detection: what the export is and how to read it, decided once when it is opened.
//!
//! One function per input kind returns one [`Detection`] — the format, the encoding and what
//! told it, the dialect (delimiter, quote) and whether it was sniffed, the header row (the
//! rows above it, a title block, counted as skipped: `lines_above_header`) and the column
//! names — which the readers read by and [`SourceInfo`] (what the report shows) is made of:
//!
//! - [`format`]: a declared `format`, else a file's first bytes, else its extension, tell CSV
//!   from the workbook formats ([`refuse_workbook_stream`] for a pipe);
//! - [`csv`]: the encoding ([`decode`](super::decode)), the dialect and the header line
//!   ([`sniff`](super::sniff)), then the title block skipped and the header record read;
//! - [`workbook`]: the workbook opened, its sheet chosen and its header row found
//!   ([`sheet`](super::sheet)).
//!
//! Readers read; detection decides. Must not know rows past the header, types or rules.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use super::decode::{self, Text, Tracked};
use super::records::{Dialect, Event, Record, Records};
use super::sheet::{self, SheetFormat, SheetRows};
use super::sniff;
use super::{ProgressUnit, SourceError, SourceInfo, name_columns};
use crate::plan::{InputFormat, SourcePlan};

/// What is known of an input once it is open, before any row is read.
#[derive(Debug, Clone)]
pub(super) struct Detection {
    pub format: Format,
    pub encoding: EncodingFound,
    pub dialect: DialectFound,
    pub header: HeaderFound,
    /// Workbooks: the sheet read.
    pub sheet: Option<String>,
    /// The columns' names in file order (`column_1`, `column_2`… without a header).
    pub columns: Vec<String>,
}

/// The input's format: CSV text, or a workbook read through calamine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Format {
    Csv,
    Workbook(SheetFormat),
}

/// The encoding read with, and what told it.
#[derive(Debug, Clone)]
pub(super) struct EncodingFound {
    /// The WHATWG name (`UTF-8`, `windows-1252`, `UTF-16LE`…); `binary` for workbooks.
    pub name: &'static str,
    /// Told from the content, not declared.
    pub detected: bool,
    /// What the detection went by, when it was not plain (bytes that are not UTF-8).
    pub evidence: Option<String>,
    pub bom: bool,
}

/// The delimiter and quote, each declared or sniffed.
#[derive(Debug, Clone, Copy)]
pub(super) struct DialectFound {
    pub delimiter: u8,
    pub delimiter_sniffed: bool,
    pub quote: u8,
    pub quote_sniffed: bool,
}

/// Where the header is, and what lies above it.
#[derive(Debug, Clone)]
pub(super) struct HeaderFound {
    /// The input has a header record (declared or told); without one the columns are
    /// `column_1`, `column_2`…
    pub present: bool,
    /// The line (CSV) or sheet row (workbook) of the header record; without one, of the first
    /// record.
    pub line: u64,
    /// Not declared: found below a title block, or the first line.
    pub detected: bool,
    /// The rows above the header (or first record), counted as skipped by the first chunk.
    pub lines_above_header: u64,
    /// The lines above the header, each with its text (workbooks: the rows that hold
    /// something).
    pub above: Vec<(u64, String)>,
    /// CSV: the header ends with a delimiter, so one empty field past the last column is not
    /// a value.
    pub trailing_delimiter: bool,
}

impl Detection {
    /// What the report shows of the input: this detection, with the file's size and the
    /// expected total of the progress counter.
    pub(super) fn info(&self, path: PathBuf, size: u64, progress_total: u64) -> SourceInfo {
        let workbook = matches!(self.format, Format::Workbook(_));
        SourceInfo {
            path,
            format: self.format.as_str(),
            encoding: self.encoding.name,
            encoding_detected: self.encoding.detected,
            encoding_evidence: self.encoding.evidence.clone(),
            bom: self.encoding.bom,
            delimiter: self.dialect.delimiter,
            delimiter_sniffed: self.dialect.delimiter_sniffed,
            quote: self.dialect.quote,
            quote_sniffed: self.dialect.quote_sniffed,
            header_row: self.header.line,
            header_row_detected: self.header.detected,
            has_header: self.header.present,
            sheet: self.sheet.clone(),
            header: self.columns.clone(),
            progress_unit: if workbook {
                ProgressUnit::Rows
            } else {
                ProgressUnit::Bytes
            },
            progress_total,
            size,
            typed: workbook,
            above_header: self.header.above.clone(),
            stream: false,
        }
    }
}

impl Format {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Workbook(f) => f.as_str(),
        }
    }
}

/// How a zip archive starts: xlsx, xlsm, xlsb and ods workbooks.
pub(super) const ZIP_MAGIC: &[u8] = b"PK\x03\x04";
/// How an OLE compound file starts: xls workbooks, and encrypted xlsx ones.
pub(super) const CFB_MAGIC: &[u8] = b"\xD0\xCF\x11\xE0";

/// Which reader `plan.path` needs: `None` for CSV, else the workbook format.
///
/// A declared `format` comes first. Otherwise the content decides: a zip archive is an
/// xlsx/xlsm/xlsb/ods workbook (which one by the extension, else by the archive's entries), an
/// OLE compound file is an xls workbook (or an encrypted xlsx, told when opening it), anything
/// else is CSV — unless the extension names a workbook, in which case opening it reports why it
/// is not one.
pub(super) fn format(plan: &SourcePlan) -> Result<Option<SheetFormat>, SourceError> {
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
    let by_extension = from_extension(path);
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

/// Reads the first bytes of `file` into `buf`, as many as it holds (fewer for a short file).
pub(super) fn read_up_to(file: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
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

/// A failed read of a file opened as a whole (no line to name).
pub(super) fn read_error(path: &Path, e: std::io::Error) -> SourceError {
    read_error_at(path, e, 0)
}

/// The workbook format a file's extension names, if any.
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

/// A pipe, a FIFO or standard input, told from its first bytes `head`: a workbook (or one
/// declared) cannot be read from it, since a workbook is read by jumping around in it.
pub(super) fn refuse_workbook_stream(plan: &SourcePlan, head: &[u8]) -> Result<(), SourceError> {
    let workbook = head.starts_with(ZIP_MAGIC) || head.starts_with(CFB_MAGIC);
    if workbook || plan.format == Some(InputFormat::Spreadsheet) {
        return Err(SourceError::WorkbookStream {
            path: plan.path.clone(),
        });
    }
    Ok(())
}

/// Where a CSV reader starts: the records of the text, positioned after the header.
pub(super) struct CsvStart {
    pub records: Records<Text>,
    /// A file without a header: the event of its first record (still in `records`), the first
    /// row to take.
    pub first: Option<Event>,
    /// Bytes read so far, for a progress bar.
    pub bytes: Arc<AtomicU64>,
}

/// Detects a CSV input read from `input` (a file, or a pipe read once: everything is told from
/// what is read, nothing is read twice): its encoding from the first bytes, its dialect and
/// header line from the head of the text; then skips the title block and reads the header.
pub(super) fn csv(
    plan: &SourcePlan,
    input: Box<dyn Read + Send>,
) -> Result<(Detection, CsvStart), SourceError> {
    let path = &plan.path;
    let mut tracked = Tracked::new(input);
    let bytes = tracked.counter();
    let (prefix, complete) = tracked
        .read_prefix()
        .map_err(|e| read_error_at(path, e, 1))?;
    let encoding = decode::choose(plan.encoding, &prefix, complete);
    let (text, start) = Text::new(tracked, encoding.clone(), prefix, complete);

    // Only the head is read with this one; the sniffed dialect replaces it below.
    let provisional = Dialect {
        delimiter: plan.delimiter.unwrap_or(b','),
        quote: plan.quote.unwrap_or(b'"'),
        escape: plan.escape,
        comment: plan.comment,
        newline: b'\n',
    };
    let mut records = Records::new(text, start, provisional, plan.max_field_bytes);
    let (head, head_complete) = records
        .head(sniff::HEAD_BYTES)
        .map_err(|e| read_error_at(path, e, 1))?;
    let dialect = sniff_dialect(plan, head, head_complete);
    let samples = sniff::samples(head, head_complete, dialect);
    let sample_text = sample_lines(&samples, dialect.delimiter);
    let (header_row, has_header) = header_line(plan, samples);
    records.set_dialect(dialect);
    let (first, line) = skip_to_header(&mut records, plan, header_row, has_header, dialect)?;
    let (columns, trailing) = if has_header {
        header_names(records.record(), plan, line, encoding.encoding.name())?
    } else {
        let width = records.record().len();
        ((1..=width).map(|i| format!("column_{i}")).collect(), false)
    };
    let detection = Detection {
        format: Format::Csv,
        encoding: EncodingFound {
            name: encoding.encoding.name(),
            detected: encoding.detected,
            evidence: encoding.evidence,
            bom: encoding.bom > 0,
        },
        dialect: DialectFound {
            delimiter: dialect.delimiter,
            delimiter_sniffed: plan.delimiter.is_none(),
            quote: dialect.quote,
            quote_sniffed: plan.quote.is_none(),
        },
        header: HeaderFound {
            present: has_header,
            line,
            detected: plan.header_row.is_none(),
            lines_above_header: line - 1,
            above: lines_above(line, &sample_text),
            trailing_delimiter: trailing,
        },
        sheet: None,
        columns,
    };
    let first = (!has_header).then_some(first);
    Ok((
        detection,
        CsvStart {
            records,
            first,
            bytes,
        },
    ))
}

/// The records of the head as lines of text (their fields joined by the delimiter), with
/// the line each starts on.
fn sample_lines(samples: &[sniff::Sample], delimiter: u8) -> Vec<(u64, String)> {
    samples
        .iter()
        .map(|s| (s.line, s.fields.join(&char::from(delimiter).to_string())))
        .collect()
}

/// Every line above the header `line` is a row skipped, with its text when it had one.
fn lines_above(line: u64, sample_text: &[(u64, String)]) -> Vec<(u64, String)> {
    (1..line)
        .map(|l| {
            let text = sample_text
                .iter()
                .find(|(at, _)| *at == l)
                .map(|(_, t)| t.clone())
                .unwrap_or_default();
            (l, text)
        })
        .collect()
}

/// A failed read near `line`.
fn read_error_at(path: &Path, e: std::io::Error, line: u64) -> SourceError {
    SourceError::Read {
        path: path.to_path_buf(),
        line,
        message: e.to_string(),
    }
}

/// The dialect: declared values, else sniffed from the head of the text.
fn sniff_dialect(plan: &SourcePlan, head: &[u8], complete: bool) -> Dialect {
    let newline = sniff::newline(head);
    let quote = plan
        .quote
        .unwrap_or_else(|| sniff::quote(head, newline, plan.delimiter));
    let dialect = Dialect {
        delimiter: plan.delimiter.unwrap_or(b','),
        quote,
        escape: plan.escape,
        comment: plan.comment,
        newline,
    };
    match plan.delimiter {
        Some(_) => dialect,
        None => Dialect {
            delimiter: sniff::delimiter(head, complete, dialect),
            ..dialect
        },
    }
}

/// The line of the header (declared, else below a title block, else 1), and whether there is
/// a header at all (declared, else told from the records from that line on).
fn header_line(plan: &SourcePlan, samples: Vec<sniff::Sample>) -> (u64, bool) {
    let header_row = match plan.header_row {
        Some(row) => row,
        None => sniff::header_line(&samples, &plan.expected_columns).unwrap_or(1),
    };
    let has_header = match plan.header {
        Some(declared) => declared,
        None => {
            let from_header: Vec<sniff::Sample> = samples
                .into_iter()
                .filter(|s| s.line >= header_row)
                .collect();
            !sniff::first_record_is_data(&from_header, &plan.expected_columns)
        }
    };
    (header_row, has_header)
}

/// Skips the title block (whole physical lines above `header_row`, whatever they hold) and
/// the blank and comment lines after it; returns the event of the header record (or of the
/// first record, without a header) and its line.
fn skip_to_header(
    records: &mut Records<Text>,
    plan: &SourcePlan,
    header_row: u64,
    has_header: bool,
    dialect: Dialect,
) -> Result<(Event, u64), SourceError> {
    let path = &plan.path;
    let no_header = || SourceError::NoHeader {
        path: path.clone(),
        header_row,
    };
    while records.lines_read() + 1 < header_row {
        if !records
            .skip_line()
            .map_err(|e| read_error_at(path, e, records.lines_read()))?
        {
            return Err(no_header());
        }
    }
    // Blank and comment lines between the title block and the header are rows above it.
    loop {
        match records
            .next()
            .map_err(|e| read_error_at(path, e, records.lines_read()))?
        {
            Event::Skipped { .. } => {}
            Event::End => return Err(no_header()),
            Event::Unclosed { line, .. } if has_header && !records.runaway_quoted() => {
                return Err(SourceError::HeaderTooLong {
                    path: path.clone(),
                    line,
                    max: plan.max_field_bytes,
                    delimiter: char::from(dialect.delimiter).escape_default().to_string(),
                });
            }
            Event::Unclosed { line, .. } if has_header => {
                return Err(SourceError::HeaderQuote {
                    path: path.clone(),
                    line,
                });
            }
            // The first row of a file without a header is rejected like any other.
            event @ (Event::Record { line, .. } | Event::Unclosed { line, .. }) => {
                return Ok((event, line));
            }
        }
    }
}

/// The header record's names, under the `header_names` policy, and whether it ends with a
/// delimiter: a blank last name (every line ends with a delimiter) is not a column.
fn header_names(
    rec: Record<'_>,
    plan: &SourcePlan,
    line: u64,
    encoding: &'static str,
) -> Result<(Vec<String>, bool), SourceError> {
    let path = &plan.path;
    let text = std::str::from_utf8(rec.bytes)
        .ok()
        .filter(|_| memchr::memchr(0, rec.bytes).is_none())
        .ok_or_else(|| SourceError::HeaderEncoding {
            path: path.clone(),
            line,
            encoding,
        })?;
    let mut raw: Vec<String> = (0..rec.len())
        .map(|i| text[rec.range(i)].to_string())
        .collect();
    let trailing = raw.len() > 1 && raw.last().is_some_and(|name| name.trim().is_empty());
    if trailing {
        raw.pop();
    }
    name_columns(raw, plan.header_names, path, &format!("line {line}"))
        .map(|names| (names, trailing))
}

/// Where a workbook reader starts: the sheet's rows, positioned after the header (the rows
/// read ahead below it pending), and where its table lies.
pub(super) struct WorkbookStart {
    pub rows: SheetRows,
    /// The last used (row, column) of the sheet if known, both 0-based.
    pub used: Option<(u32, u32)>,
    /// The sheet column (0-based) of the first column.
    pub first_col: u32,
}

/// Detects a workbook input: opens it (its container checked first), chooses the sheet and
/// finds the header row and the columns.
pub(super) fn workbook(
    plan: &SourcePlan,
    format: SheetFormat,
) -> Result<(Detection, WorkbookStart), SourceError> {
    let (mut rows, used) = sheet::open_sheet(plan, format)?;
    let found = sheet::find_header(&mut rows, plan, used)?;
    let detection = Detection {
        format: Format::Workbook(format),
        encoding: EncodingFound {
            name: "binary",
            detected: false,
            evidence: None,
            bom: false,
        },
        dialect: DialectFound {
            delimiter: b',',
            delimiter_sniffed: false,
            quote: b'"',
            quote_sniffed: false,
        },
        header: found.header,
        sheet: Some(rows.sheet.clone()),
        columns: found.columns,
    };
    Ok((
        detection,
        WorkbookStart {
            rows,
            used,
            first_col: found.first_col,
        },
    ))
}
