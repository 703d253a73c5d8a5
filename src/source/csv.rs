//! CSV reading with the `csv` crate: dialect, title block, BOM, provenance, structural rejects.
//!
//! Records are read into one reused `ByteRecord` and appended to one string builder per column,
//! so a chunk costs a few allocations per column, not one per cell. Row numbers count every
//! record and every blank line the way a spreadsheet shows them (the header is row
//! `header_row`); a record with a quoted newline is one row spanning several lines.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use polars::prelude::{Column, DataFrame, IntoColumn, StringChunkedBuilder};
use sha2::{Digest, Sha256};

use super::{
    Batch, ColumnShape, Fingerprint, ProgressUnit, ReadOptions, SourceError, SourceInfo,
    SourceReject, column_name,
};
use crate::issue::{Code, Issue, Severity};
use crate::plan::SourcePlan;

/// Counts and hashes every byte read from the file, for progress and the report's checksum.
struct Tracked<R> {
    inner: R,
    hasher: Sha256,
    bytes: Arc<AtomicU64>,
    /// The last byte read, to know whether the file ends with a line break.
    last: Option<u8>,
}

impl<R: Read> Read for Tracked<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes.fetch_add(n as u64, Ordering::Relaxed);
        if n > 0 {
            self.last = Some(buf[n - 1]);
        }
        Ok(n)
    }
}

/// An open CSV export, positioned after its header.
pub struct CsvSource {
    reader: csv::Reader<BufReader<Tracked<File>>>,
    info: SourceInfo,
    record: csv::ByteRecord,
    /// Lines consumed before the csv reader started (the title block).
    line_offset: u64,
    /// Bytes consumed before the csv reader started (BOM and title block).
    byte_offset: u64,
    /// Lines end with a lone `\r`: the csv reader counts no lines, so every record is on line 1.
    cr_only: bool,
    /// Spreadsheet row number of the last row read.
    row: u64,
    data_rows: u64,
    limit: Option<u64>,
    done: bool,
    bytes: Arc<AtomicU64>,
}

impl CsvSource {
    /// Opens `plan.path`, skips the title block and the BOM, and reads the header.
    pub fn open(plan: &SourcePlan, options: &ReadOptions) -> Result<Self, SourceError> {
        let path = plan.path.clone();
        let header_row = plan.header_row.unwrap_or(1);
        let quote = plan.quote.unwrap_or(b'"');
        let file = File::open(&path).map_err(|source| SourceError::Open {
            path: path.clone(),
            source,
        })?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        let bytes = Arc::new(AtomicU64::new(0));
        let tracked = Tracked {
            inner: file,
            hasher: Sha256::new(),
            bytes: Arc::clone(&bytes),
            last: None,
        };
        let mut buf = BufReader::with_capacity(256 * 1024, tracked);
        let read_err = |e: std::io::Error, line: u64| SourceError::Read {
            path: path.clone(),
            line,
            message: e.to_string(),
        };

        let bom = {
            let head = buf.fill_buf().map_err(|e| read_err(e, 1))?;
            head.starts_with(b"\xEF\xBB\xBF")
        };
        let mut byte_offset = 0;
        if bom {
            buf.consume(3);
            byte_offset += 3;
        }
        // The title block: whole physical lines above the header.
        let mut line_offset = 0;
        let mut scratch = Vec::new();
        while line_offset + 1 < header_row {
            scratch.clear();
            let n = buf
                .read_until(b'\n', &mut scratch)
                .map_err(|e| read_err(e, line_offset + 1))?;
            if n == 0 {
                return Err(SourceError::NoHeader { path, header_row });
            }
            line_offset += 1;
            byte_offset += n as u64;
        }
        let head = buf.fill_buf().map_err(|e| read_err(e, line_offset + 1))?;
        let (delimiter, sniffed) = match plan.delimiter {
            Some(d) => (d, false),
            None => (sniff_delimiter(head, quote), true),
        };
        // Records end at `\n` (a `\r` before it is dropped from the last field), so that the
        // csv reader consumes each record's line break with it and line numbers stay exact.
        // Files whose lines end with a lone `\r` keep the reader's default terminator.
        let cr_only = cr_only(head);
        let terminator = if cr_only {
            csv::Terminator::CRLF
        } else {
            csv::Terminator::Any(b'\n')
        };

        let reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .delimiter(delimiter)
            .quote(quote)
            .escape(plan.escape)
            .double_quote(plan.escape.is_none())
            .comment(plan.comment)
            .terminator(terminator)
            .buffer_capacity(256 * 1024)
            .from_reader(buf);
        let mut source = CsvSource {
            reader,
            info: SourceInfo {
                path,
                format: "csv",
                encoding: "UTF-8",
                encoding_detected: plan.encoding.is_none(),
                bom,
                delimiter,
                delimiter_sniffed: sniffed,
                quote,
                quote_sniffed: false,
                header_row,
                header_row_detected: plan.header_row.is_none(),
                has_header: true,
                sheet: None,
                header: Vec::new(),
                progress_unit: ProgressUnit::Bytes,
                progress_total: size,
                size,
                typed: false,
            },
            record: csv::ByteRecord::new(),
            line_offset,
            byte_offset,
            cr_only,
            row: 0,
            data_rows: 0,
            limit: options.limit,
            done: false,
            bytes,
        };
        let (header_line, blank) = match source.next_record()? {
            Next::Record { line, blank_before } => (line, blank_before),
            Next::End { .. } => {
                return Err(SourceError::NoHeader {
                    path: source.info.path,
                    header_row,
                });
            }
        };
        // Blank lines between the title block and the header are rows too.
        source.row = header_row + blank;
        let path = source.info.path.clone();
        let record = &source.record;
        let header_text =
            std::str::from_utf8(record.as_slice()).map_err(|_| SourceError::HeaderEncoding {
                path: path.clone(),
                line: header_line,
            })?;
        let raw: Vec<String> = (0..record.len())
            .map(|i| field(record, header_text, i).to_string())
            .collect();
        let header = super::name_columns(
            raw,
            plan.header_names,
            &path,
            &format!("line {header_line}"),
        )?;
        source.info.header = header;
        Ok(source)
    }

    /// Reads the next record, telling on which line it starts and how many blank lines (or
    /// comment lines) the csv reader passed over before it.
    ///
    /// The csv reader stamps a record with the position *before* any blank line it skipped, so
    /// the start line is worked out backwards from the position after the record: minus the
    /// line breaks inside it, minus its own line break (absent only at the very end of a file
    /// that does not end with one).
    fn next_record(&mut self) -> Result<Next, SourceError> {
        let before = self.reader.position().line();
        let got = self
            .reader
            .read_byte_record(&mut self.record)
            .map_err(|e| csv_error(&self.info.path, e, self.line_offset))?;
        let after = self.reader.position().clone();
        if !got {
            return Ok(Next::End {
                blank_before: after.line() - before,
            });
        }
        // The common case: the record and its line break took one line, nothing was skipped
        // (at the very end of the file that line may also be a blank line before an
        // unterminated last record, so the end is worked out below).
        let consumed = after.line() - before;
        let at_end = after.byte() + self.byte_offset >= self.info.size;
        if self.cr_only || consumed == 0 || (consumed == 1 && !at_end) {
            return Ok(Next::Record {
                line: before + self.line_offset,
                blank_before: 0,
            });
        }
        let ends_with_break = self.reader.get_ref().get_ref().last == Some(b'\n');
        let terminator = u64::from(!at_end || ends_with_break);
        let start = after
            .line()
            .saturating_sub(newlines(&self.record) + terminator)
            .max(before);
        Ok(Next::Record {
            line: start + self.line_offset,
            blank_before: start - before,
        })
    }

    pub fn info(&self) -> &SourceInfo {
        &self.info
    }

    /// A counter of bytes read so far, for a progress bar on another thread.
    pub fn bytes_read(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.bytes)
    }

    /// Reads up to `max_rows` rows; `None` at the end of the input (or of `--limit`).
    pub fn next_batch(&mut self, max_rows: usize) -> Result<Option<Batch>, SourceError> {
        if self.done {
            return Ok(None);
        }
        let ncols = self.info.header.len();
        let mut builders: Vec<StringChunkedBuilder> = (0..ncols)
            .map(|i| StringChunkedBuilder::new(column_name(i).into(), max_rows))
            .collect();
        let mut rows = Vec::new();
        let mut lines = Vec::new();
        let mut rejects = Vec::new();
        let mut skipped = 0u64;
        let mut taken = 0usize;
        let mut shapes = vec![ColumnShape::default(); ncols];
        while taken < max_rows {
            if self.limit.is_some_and(|l| self.data_rows >= l) {
                self.done = true;
                break;
            }
            let (line, blank) = match self.next_record()? {
                Next::Record { line, blank_before } => (line, blank_before),
                Next::End { blank_before } => {
                    // Blank lines at the very end are blank rows too.
                    skipped += blank_before;
                    self.row += blank_before;
                    self.done = true;
                    break;
                }
            };
            skipped += blank;
            self.row += blank + 1;
            let rec = &self.record;
            if rec.as_slice().iter().all(u8::is_ascii_whitespace) {
                skipped += 1;
                continue;
            }
            taken += 1;
            self.data_rows += 1;
            let text = match std::str::from_utf8(rec.as_slice()) {
                Ok(text) => text,
                Err(_) => {
                    rejects.push(self.bad_encoding(line));
                    continue;
                }
            };
            if rec.len() != ncols {
                rejects.push(self.ragged(text, line));
                continue;
            }
            for (i, (b, shape)) in builders.iter_mut().zip(shapes.iter_mut()).enumerate() {
                let value = field(rec, text, i);
                shape.see(value);
                b.append_value(value);
            }
            rows.push(self.row);
            lines.push(line);
        }
        if taken == 0 && skipped == 0 {
            return Ok(None);
        }
        let columns: Vec<Column> = builders
            .into_iter()
            .map(|b| b.finish().into_column())
            .collect();
        let frame = DataFrame::new(rows.len(), columns).map_err(|e| SourceError::Read {
            path: self.info.path.clone(),
            line: lines.last().copied().unwrap_or(0),
            message: e.to_string(),
        })?;
        Ok(Some(Batch {
            frame,
            rows,
            lines,
            rejects,
            skipped,
            shapes,
        }))
    }

    /// Reads whatever is left of the file and returns its checksum and size.
    pub fn finish(self) -> Result<Fingerprint, SourceError> {
        let path = self.info.path;
        let mut tracked = self.reader.into_inner().into_inner();
        // What the buffers held was hashed when it was read; hash the rest of the file too.
        std::io::copy(&mut tracked, &mut std::io::sink()).map_err(|e| SourceError::Read {
            path: path.clone(),
            line: 0,
            message: e.to_string(),
        })?;
        Ok(Fingerprint {
            sha256: crate::plan::hex(&tracked.hasher.finalize()),
            bytes: tracked.bytes.load(Ordering::Relaxed),
        })
    }

    fn ragged(&self, text: &str, line: u64) -> SourceReject {
        let rec = &self.record;
        let fields: Vec<String> = (0..rec.len())
            .map(|i| field(rec, text, i).to_string())
            .collect();
        let ncols = self.info.header.len();
        let value = fields.join(&char::from(self.info.delimiter).to_string());
        let message = format!(
            "the record has {} field{} but the header has {ncols}; a delimiter inside an unquoted value is the usual cause",
            fields.len(),
            if fields.len() == 1 { "" } else { "s" }
        );
        SourceReject {
            fields,
            issue: Issue {
                row: self.row,
                line,
                code: Code::RaggedRow,
                severity: Severity::Error,
                field: String::new(),
                column: String::new(),
                value,
                message,
            },
        }
    }

    fn bad_encoding(&self, line: u64) -> SourceReject {
        let rec = &self.record;
        let mut fields: Vec<String> = rec
            .iter()
            .map(|f| String::from_utf8_lossy(f).into_owned())
            .collect();
        if let Some(last) = fields.last_mut()
            && last.ends_with('\r')
        {
            last.pop();
        }
        let bad = rec
            .iter()
            .position(|f| std::str::from_utf8(f).is_err())
            .unwrap_or(0);
        let column = self.info.header.get(bad).cloned().unwrap_or_default();
        SourceReject {
            issue: Issue {
                row: self.row,
                line,
                code: Code::BadEncoding,
                severity: Severity::Error,
                field: String::new(),
                column: column.clone(),
                value: fields.get(bad).cloned().unwrap_or_default(),
                message: format!(
                    "column `{column}` holds bytes that are not valid UTF-8; this version reads UTF-8 only, so convert the file (e.g. `iconv -f windows-1252 -t utf-8`)"
                ),
            },
            fields,
        }
    }
}

/// Field `i` of a record whose bytes are valid UTF-8 `text`; the last field loses the `\r` of a
/// CRLF line break.
fn field<'a>(record: &csv::ByteRecord, text: &'a str, i: usize) -> &'a str {
    let value = record.range(i).map_or("", |r| &text[r]);
    if i + 1 == record.len() {
        value.strip_suffix('\r').unwrap_or(value)
    } else {
        value
    }
}

/// Whether the first line break in `head` is a lone `\r` (classic Mac line endings).
fn cr_only(head: &[u8]) -> bool {
    match head.iter().position(|&b| b == b'\r' || b == b'\n') {
        Some(i) => head[i] == b'\r' && head.get(i + 1) != Some(&b'\n') && i + 1 < head.len(),
        None => false,
    }
}

enum Next {
    Record { line: u64, blank_before: u64 },
    End { blank_before: u64 },
}

fn newlines(record: &csv::ByteRecord) -> u64 {
    record.as_slice().iter().filter(|&&b| b == b'\n').count() as u64
}

fn csv_error(path: &Path, e: csv::Error, line_offset: u64) -> SourceError {
    let line = e.position().map_or(0, |p| p.line() + line_offset);
    let message = match e.kind() {
        csv::ErrorKind::Io(io) => io.to_string(),
        _ => e.to_string(),
    };
    SourceError::Read {
        path: PathBuf::from(path),
        line,
        message,
    }
}

/// Picks the delimiter from the first line: the candidate seen most often outside quotes.
pub fn sniff_delimiter(head: &[u8], quote: u8) -> u8 {
    const CANDIDATES: [u8; 4] = [b',', b';', b'\t', b'|'];
    let mut counts = [0usize; 4];
    let mut in_quotes = false;
    for &b in head {
        if b == quote {
            in_quotes = !in_quotes;
        } else if !in_quotes {
            if b == b'\n' {
                break;
            }
            if let Some(i) = CANDIDATES.iter().position(|&c| c == b) {
                counts[i] += 1;
            }
        }
    }
    let best = (0..CANDIDATES.len()).max_by_key(|&i| (counts[i], std::cmp::Reverse(i)));
    match best {
        Some(i) if counts[i] > 0 => CANDIDATES[i],
        _ => b',',
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_the_most_frequent_delimiter_outside_quotes() {
        assert_eq!(sniff_delimiter(b"a;b;c\n1,2;3", b'"'), b';');
        assert_eq!(sniff_delimiter(b"\"a;b\",c,d\n", b'"'), b',');
        assert_eq!(sniff_delimiter(b"a\tb\tc", b'"'), b'\t');
        assert_eq!(sniff_delimiter(b"single", b'"'), b',');
    }
}
