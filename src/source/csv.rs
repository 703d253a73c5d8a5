//! CSV exports as legacy systems write them: the source for `.csv`, `.tsv` and `.txt` files.
//!
//! What the file is read by — its encoding, dialect, header line and column names — is
//! decided once when it is opened, by `detect::csv` (with [`decode`](super::decode) and
//! [`sniff`](super::sniff)); [`records`](super::records) cuts the text into records with
//! their lines. This module turns records into rows: it numbers rows the way a spreadsheet
//! shows them (the header is row `header_row`, every line above it and every blank line is a
//! row, counted as skipped, a record with a quoted line break is one row), and rejects what is
//! not a row — a wrong field count (`ragged-row`), bytes that are not text in the file's
//! encoding or a NUL byte (`bad-encoding`), a quote that never closes or text after a closing
//! quote (`bad-quoting`), an unquoted value past `max_field_bytes` (`field-too-long`) — with
//! its raw fields, reading on. It reads a file, or a pipe once ([`CsvSource::from_reader`]).
//!
//! A chunk's columns point into the text its records were read from
//! ([`views`](super::views)): a value is copied only when `csv_core` had to assemble it.
//! Well-formed records read in place are taken a run at a time: the run's span is checked as
//! UTF-8 once and each record's text is cut from it. Any other record is taken on its own, after
//! the run before it, so rows and rejects stay in file order.

use std::fs::File;
use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use polars::prelude::DataFrame;

use super::decode::Text;
use super::detect;
use super::records::{Event, Record, Records, Unclosed};
use super::views::{TextColumns, TooLarge};
use super::{
    Chunk, ColumnShape, Fingerprint, ReadOptions, SourceError, SourceInfo, SourceReject,
    column_name,
};
use crate::issue::{Code, Issue, Severity};
use crate::plan::SourcePlan;

/// The text a chunk may hold before it ends, whatever its row count: it bounds the memory of
/// a chunk of very wide rows, and keeps every offset into the chunk's text 32-bit.
const BLOCK_BYTES: usize = 256 << 20;

/// How many records read in place wait, at most, to be checked as UTF-8 together: one check
/// of their span (about 30 KB of text) instead of one per record.
const DEFER_RECORDS: usize = 256;

/// A well-formed record read in place, kept until its text is checked: where it is in the
/// block, where its fields end (a range of the kept ends), and its row and line.
struct Deferred {
    at: usize,
    len: usize,
    ends: std::ops::Range<usize>,
    row: u64,
    line: u64,
}

/// What a chunk has taken so far: its columns and, per row, its place; the rows rejected.
struct Pushed {
    columns: TextColumns,
    shapes: Vec<ColumnShape>,
    rows: Vec<u64>,
    lines: Vec<u64>,
    rejects: Vec<SourceReject>,
}

impl Pushed {
    fn new(ncols: usize, max_rows: usize) -> Self {
        Pushed {
            columns: TextColumns::new(ncols, max_rows),
            shapes: vec![ColumnShape::default(); ncols],
            rows: Vec::new(),
            lines: Vec::new(),
            rejects: Vec::new(),
        }
    }

    /// Row `row` on `line`, read in place at `at` in the block: `text` split at `ends`.
    fn in_place(
        &mut self,
        text: &str,
        ends: &[usize],
        at: usize,
        row: u64,
        line: u64,
    ) -> Result<(), TooLarge> {
        let shapes = &mut self.shapes;
        self.columns
            .push_line(text, ends, at, |i, value| shapes[i].see(value))?;
        self.rows.push(row);
        self.lines.push(line);
        Ok(())
    }

    /// Row `row` on `line`, assembled by `csv_core`: `text` is `rec`'s fields end to end.
    fn copied(&mut self, text: &str, rec: Record<'_>, row: u64, line: u64) -> Result<(), TooLarge> {
        for (i, shape) in self.shapes.iter_mut().enumerate() {
            let value = &text[rec.range(i)];
            shape.see(value);
            self.columns.push_copied(i, value)?;
        }
        self.rows.push(row);
        self.lines.push(line);
        Ok(())
    }
}

/// An open CSV export, positioned after its header.
pub struct CsvSource {
    records: Records<Text>,
    info: SourceInfo,
    max_field_bytes: u64,
    /// The header ends with a delimiter: one empty field past the last column is not a value.
    trailing: bool,
    /// Spreadsheet row number of the last row read.
    row: u64,
    /// A file without a header: the event of its first record (still in `records`), the first
    /// row to take.
    pending: Option<Event>,
    data_rows: u64,
    limit: Option<u64>,
    done: bool,
    bytes: Arc<AtomicU64>,
    /// Rows above the header (or the first row, without one) not yet counted: the first chunk
    /// counts them as skipped.
    above: u64,
}

impl CsvSource {
    /// Opens `plan.path`, tells its encoding and dialect, skips the title block and reads the
    /// header.
    pub fn open(plan: &SourcePlan, options: &ReadOptions) -> Result<Self, SourceError> {
        let file = File::open(&plan.path).map_err(|source| SourceError::Open {
            path: plan.path.clone(),
            source,
        })?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        Self::from_reader(plan, options, Box::new(file), size)
    }

    /// Reads the CSV text of `input` (a file, or a pipe read once: everything is told from what
    /// is read, nothing is read twice), `size` bytes long if known (0 otherwise). What it is
    /// read by is decided once here (`detect::csv`).
    pub fn from_reader(
        plan: &SourcePlan,
        options: &ReadOptions,
        input: Box<dyn Read + Send>,
        size: u64,
    ) -> Result<Self, SourceError> {
        let (detection, start) = detect::csv(plan, input)?;
        let header = &detection.header;
        let first_row = if header.present {
            header.line
        } else {
            header.line - 1
        };
        Ok(CsvSource {
            records: start.records,
            info: detection.info(plan.path.clone(), size, size),
            max_field_bytes: plan.max_field_bytes,
            trailing: header.trailing_delimiter,
            row: first_row,
            above: header.lines_above_header,
            pending: start.first,
            data_rows: 0,
            limit: options.limit,
            done: false,
            bytes: start.bytes,
        })
    }

    /// The input is a pipe, read once.
    pub(super) fn set_stream(&mut self) {
        self.info.stream = true;
    }

    pub fn info(&self) -> &SourceInfo {
        &self.info
    }

    /// A counter of bytes read so far, for a progress bar on another thread.
    pub fn bytes_read(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.bytes)
    }

    /// Reads up to `max_rows` rows; `None` at the end of the input (or of `--limit`). A chunk
    /// also ends once its text passes [`BLOCK_BYTES`].
    pub fn next_chunk(&mut self, max_rows: usize) -> Result<Option<Chunk>, SourceError> {
        if self.done {
            return Ok(None);
        }
        self.records.pin();
        let ncols = self.info.header.len();
        let mut pushed = Pushed::new(ncols, max_rows);
        let mut deferred: Vec<Deferred> = Vec::with_capacity(DEFER_RECORDS);
        let mut deferred_ends: Vec<usize> = Vec::new();
        let mut skipped = std::mem::take(&mut self.above);
        let mut taken = 0usize;
        while taken < max_rows
            && self.records.block_len() + pushed.columns.copied_len() < BLOCK_BYTES
        {
            if self.limit.is_some_and(|l| self.data_rows >= l) {
                self.done = true;
                break;
            }
            let event = self.next_event()?;
            let (line, spans) = match event {
                Event::End => {
                    self.done = true;
                    break;
                }
                Event::Skipped { .. } => {
                    self.row += 1;
                    skipped += 1;
                    continue;
                }
                Event::Unclosed { line, cause } => {
                    self.row += 1;
                    taken += 1;
                    self.data_rows += 1;
                    self.flush(&mut deferred, &mut deferred_ends, &mut pushed)?;
                    pushed.rejects.push(self.unclosed(line, cause));
                    continue;
                }
                Event::Record { line, lines } => (line, lines),
            };
            self.row += 1;
            let rec = self.records.record();
            if rec.is_blank() {
                skipped += 1;
                continue;
            }
            taken += 1;
            self.data_rows += 1;
            // When the header ends with a delimiter, so may every line: the empty field it adds is
            // not a value. Otherwise one field too many is a ragged row, even an empty one: an
            // unquoted delimiter inside a value would shift the values after it.
            let fits = rec.len() == ncols
                || (self.trailing && rec.len() == ncols + 1 && rec.get(ncols).is_empty());
            let merged = spans > 1 && !(fits && self.records.last_well_quoted());
            // The common record, read in place and well-formed, waits for the next flush: its
            // text is checked as UTF-8 with its neighbours', in one pass over their span.
            if let (Some(at), true, false) = (rec.offset, fits, merged) {
                deferred.push(Deferred {
                    at,
                    len: rec.bytes.len(),
                    ends: deferred_ends.len()..deferred_ends.len() + rec.len(),
                    row: self.row,
                    line,
                });
                deferred_ends.extend_from_slice(rec.ends());
                if deferred.len() == DEFER_RECORDS {
                    self.flush(&mut deferred, &mut deferred_ends, &mut pushed)?;
                }
                continue;
            }
            // Anything else is taken in file order, after the records before it.
            self.flush(&mut deferred, &mut deferred_ends, &mut pushed)?;
            let rec = self.records.record();
            // A record the parser read has its fields end to end, without the delimiters: the
            // bytes may be UTF-8 together while a field alone is not (`\xC3` and `\xA0` in two
            // fields make `à`), so each field must end on a character boundary too.
            let Some(text) = as_text(rec.bytes).filter(|text| {
                rec.offset.is_some() || (0..rec.len()).all(|i| text.get(rec.range(i)).is_some())
            }) else {
                pushed.rejects.push(self.bad_encoding(rec, line));
                continue;
            };
            // Text right after a closing quote on one line (`1,"f"g,h`), which a parser
            // would join to the value (`fg`): the value is not what the file meant.
            if spans == 1
                && rec.offset.is_none()
                && let Some(field) = self.records.last_misquoted_field()
            {
                pushed.rejects.push(self.text_after_quote(line, field));
                continue;
            }
            if merged {
                // Lines that only a misplaced quote held together: each is read again on its
                // own.
                let width = (!fits).then_some(rec.len());
                self.records.reread_after_first_line();
                pushed.rejects.push(self.merged(line, spans, width));
                continue;
            }
            if !fits {
                pushed.rejects.push(self.ragged(rec, text, line));
                continue;
            }
            let result = match rec.offset {
                Some(at) => pushed.in_place(text, rec.ends(), at, self.row, line),
                None => pushed.copied(text, rec, self.row, line),
            };
            result.map_err(|TooLarge| self.too_large(line))?;
        }
        self.flush(&mut deferred, &mut deferred_ends, &mut pushed)?;
        if taken == 0 && skipped == 0 {
            return Ok(None);
        }
        self.chunk_of(pushed, skipped).map(Some)
    }

    /// The next event of the file: a file without a header's first record first.
    fn next_event(&mut self) -> Result<Event, SourceError> {
        match self.pending.take() {
            Some(first) => Ok(first),
            None => self.records.next().map_err(|e| SourceError::Read {
                path: self.info.path.clone(),
                line: self.records.lines_read(),
                message: e.to_string(),
            }),
        }
    }

    /// The chunk of the rows taken, their columns made of the block of text they were read
    /// from.
    fn chunk_of(&mut self, pushed: Pushed, skipped: u64) -> Result<Chunk, SourceError> {
        let Pushed {
            columns,
            shapes,
            rows,
            lines,
            rejects,
        } = pushed;
        let block = self.records.take_block();
        let read_error = |message: String| SourceError::Read {
            path: self.info.path.clone(),
            line: lines.last().copied().unwrap_or(0),
            message,
        };
        let columns = columns.finish(block, column_name).map_err(read_error)?;
        let frame = DataFrame::new(rows.len(), columns).map_err(|e| read_error(e.to_string()))?;
        Ok(Chunk {
            frame,
            rows,
            lines,
            rejects,
            skipped,
            shapes,
        })
    }

    /// Takes the deferred records into the chunk, in order. Their span is checked as UTF-8
    /// without NUL bytes at once, and each record's text is cut from it; when the span fails,
    /// each record is checked alone, and those that fail are rejected as `bad-encoding`.
    fn flush(
        &self,
        deferred: &mut Vec<Deferred>,
        ends: &mut Vec<usize>,
        pushed: &mut Pushed,
    ) -> Result<(), SourceError> {
        let (Some(first), Some(last)) = (deferred.first(), deferred.last()) else {
            return Ok(());
        };
        let block = self.records.block();
        let from = first.at;
        let span = block.get(from..last.at + last.len).unwrap_or_default();
        let checked = as_text(span);
        for d in deferred.iter() {
            let record_ends = ends.get(d.ends.clone()).unwrap_or_default();
            let text = checked
                .and_then(|text| text.get(d.at - from..d.at - from + d.len))
                .or_else(|| as_text(block.get(d.at..d.at + d.len)?));
            let Some(text) = text else {
                let rec = Record::in_place(block, d.at, d.len, record_ends);
                let mut reject = self.bad_encoding(rec, d.line);
                // The reader has moved on: the row is the deferred record's.
                reject.issue.row = d.row;
                pushed.rejects.push(reject);
                continue;
            };
            pushed
                .in_place(text, record_ends, d.at, d.row, d.line)
                .map_err(|TooLarge| self.too_large(d.line))?;
        }
        deferred.clear();
        ends.clear();
        Ok(())
    }

    /// A record too large for a chunk's 32-bit offsets.
    fn too_large(&self, line: u64) -> SourceError {
        SourceError::Read {
            path: self.info.path.clone(),
            line,
            message: "the record holds more than 4 GiB of text, more than a row can hold; split the file or fix its quoting".into(),
        }
    }

    /// The checksum and size of the bytes read so far, reading no more.
    pub fn read_so_far(self) -> Fingerprint {
        let (sha256, bytes) = self.records.into_inner().so_far();
        Fingerprint { sha256, bytes }
    }

    /// Reads whatever is left of the file and returns its checksum and size.
    pub fn finish(self) -> Result<Fingerprint, SourceError> {
        let path = self.info.path;
        let (sha256, bytes) =
            self.records
                .into_inner()
                .finish()
                .map_err(|e| SourceError::Read {
                    path,
                    line: 0,
                    message: e.to_string(),
                })?;
        Ok(Fingerprint { sha256, bytes })
    }

    fn reject(&self, fields: Vec<String>, issue: RowIssue) -> SourceReject {
        SourceReject {
            fields,
            issue: Issue {
                row: self.row,
                line: issue.line,
                code: issue.code,
                severity: Severity::Error,
                field: String::new(),
                column: issue.column,
                value: issue.value,
                message: issue.message,
            },
        }
    }

    fn column(&self, i: usize) -> String {
        self.info.header.get(i).cloned().unwrap_or_default()
    }

    fn ragged(&self, rec: Record<'_>, text: &str, line: u64) -> SourceReject {
        let fields: Vec<String> = (0..rec.len())
            .map(|i| text[rec.range(i)].to_string())
            .collect();
        let ncols = self.info.header.len();
        let value = fields.join(&char::from(self.info.delimiter).to_string());
        let message = format!(
            "the record has {} field{} but the header has {ncols}; a delimiter inside an unquoted value is the usual cause",
            fields.len(),
            if fields.len() == 1 { "" } else { "s" }
        );
        self.reject(
            fields,
            RowIssue {
                line,
                code: Code::RaggedRow,
                column: String::new(),
                value,
                message,
            },
        )
    }

    fn bad_encoding(&self, rec: Record<'_>, line: u64) -> SourceReject {
        let fields = lossy_fields(rec);
        let nul = |f: &[u8]| memchr::memchr(0, f).is_some();
        let bad = rec
            .iter()
            .position(|f| std::str::from_utf8(f).is_err() || nul(f))
            .unwrap_or(0);
        let column = self.column(bad);
        let encoding = self.info.encoding;
        let message = if rec.iter().nth(bad).is_some_and(nul) {
            format!(
                "column `{column}` holds a NUL byte, which is not text; remove it from the file (a file full of NUL bytes is UTF-16: declare `encoding = \"utf-16le\"` or `\"utf-16be\"` in `[source]`)"
            )
        } else {
            let how = if self.info.encoding_detected {
                "detected"
            } else {
                "declared"
            };
            format!(
                "column `{column}` holds bytes that are not valid {encoding} (the {how} encoding); declare the file's encoding in `[source]`, e.g. `encoding = \"windows-1252\"`, or convert the file"
            )
        };
        self.reject(
            fields.clone(),
            RowIssue {
                line,
                code: Code::BadEncoding,
                value: fields.get(bad).cloned().unwrap_or_default(),
                column,
                message,
            },
        )
    }

    /// A quote that never closes; the record holds the fields of its first line.
    fn unclosed(&self, line: u64, cause: Unclosed) -> SourceReject {
        if cause == Unclosed::TooLong && !self.records.runaway_quoted() {
            // No quote on the line: a value really that long, not a quote left open.
            let (fields, column, value) = self.open_quote();
            let message = format!(
                "a value in column `{column}` on line {line} is longer than `max_field_bytes` ({} bytes), with no quote in it. The record is rejected and reading goes on at line {}; raise `max_field_bytes` in `[source]` if the value really is that long",
                self.max_field_bytes,
                line + 1
            );
            return self.reject(
                fields,
                RowIssue {
                    line,
                    code: Code::FieldTooLong,
                    column,
                    value,
                    message,
                },
            );
        }
        self.bad_quoting(line, |column| match cause {
            Unclosed::TooLong => format!(
                "a value that starts in column `{column}` on line {line} grows past `max_field_bytes` ({} bytes): a quote is probably not closed. The record is rejected with its first line and reading goes on at line {}; close the quote, or raise `max_field_bytes` in `[source]` if the value really is that long",
                self.max_field_bytes,
                line + 1
            ),
            Unclosed::AtEnd => format!(
                "the quote opened in column `{column}` on line {line} is never closed: it would take the rest of the file. The record is rejected with its first line and reading goes on at line {}; close the quote in the file",
                line + 1
            ),
        })
    }

    /// A record held together over several lines by a quote that did not close where it
    /// should have: the record has the wrong field count (`width`), or text follows the quote
    /// that closed it. Its first line is the rejected row.
    fn merged(&self, line: u64, spans: u64, width: Option<usize>) -> SourceReject {
        let sign = match width {
            Some(width) => format!(
                "making a record of {width} fields where the header has {}",
                self.info.header.len()
            ),
            None => "right before more text".to_string(),
        };
        self.bad_quoting(line, |column| {
            format!(
                "the quote opened in column `{column}` on line {line} only closes {} line{} later, {sign}: it is probably not closed where it should be. The record is rejected with its first line and the lines after it are read as rows of their own; close the quote in the file",
                spans - 1,
                if spans == 2 { "" } else { "s" },
            )
        })
    }

    /// A record on one line with text right after the quote that closes field `field`.
    fn text_after_quote(&self, line: u64, field: usize) -> SourceReject {
        let fields = lossy_fields(self.records.record());
        let column = self.column(field);
        let value = fields.get(field).cloned().unwrap_or_default();
        let message = format!(
            "the quoted value in column `{column}` on line {line} is followed by more text before the next delimiter; put the whole value in quotes and double each quote inside it"
        );
        self.reject(
            fields,
            RowIssue {
                line,
                code: Code::BadQuoting,
                column,
                value,
                message,
            },
        )
    }

    /// A `bad-quoting` reject of the current record's first line; `message` is told the column
    /// where the quote opens.
    fn bad_quoting(&self, line: u64, message: impl FnOnce(&str) -> String) -> SourceReject {
        let (fields, column, value) = self.open_quote();
        let message = message(&column);
        self.reject(
            fields,
            RowIssue {
                line,
                code: Code::BadQuoting,
                column,
                value,
                message,
            },
        )
    }

    /// The fields of a runaway record's first line, the column where its quote opens (the last
    /// one on that line) and the value there, shortened for the report.
    fn open_quote(&self) -> (Vec<String>, String, String) {
        const SHOWN: usize = 200;
        let fields = lossy_fields(self.records.record());
        let at = fields.len().saturating_sub(1);
        let column = self.column(at);
        let mut value = fields.get(at).cloned().unwrap_or_default();
        if value.len() > SHOWN {
            let mut cut = SHOWN;
            while !value.is_char_boundary(cut) {
                cut -= 1;
            }
            value.truncate(cut);
            value.push('…');
        }
        (fields, column, value)
    }
}

/// What a source reject says, besides its row.
struct RowIssue {
    line: u64,
    code: Code,
    column: String,
    value: String,
    message: String,
}

/// `bytes` as text: valid UTF-8 without a NUL byte, else `None` (`bad-encoding`).
fn as_text(bytes: &[u8]) -> Option<&str> {
    simdutf8::basic::from_utf8(bytes)
        .ok()
        .filter(|_| memchr::memchr(0, bytes).is_none())
}

fn lossy_fields(rec: Record<'_>) -> Vec<String> {
    rec.iter()
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .collect()
}
