//! The `csv_core` path: every record that is not read in place — quoted, on several lines, or
//! cut short — goes through `csv_core` into one reused output buffer, with the lines it spans,
//! a quote that never closes given back as its first line's fields.

use std::io::Read;

use csv_core::ReadRecordResult;

use super::quotes::{Last, QuoteScan};
use super::{Dialect, Event, Records, Unclosed};

impl<R: Read> Records<R> {
    pub(super) fn read_record(&mut self, line: u64) -> std::io::Result<Event> {
        self.in_place = None;
        self.nout = 0;
        self.nends = 0;
        // Offsets from `pos`, which stays at the record's start while it is assembled.
        let mut fed = 0;
        let mut first_end = None;
        let mut lines = 0;
        loop {
            let (chunk, ends_line, lone) = self.line_end(fed);
            let ahead = &self.buf[self.pos + fed..self.len];
            if chunk == 0 && lone.is_none() {
                let was_empty = ahead.is_empty();
                if self.fill()? || !was_empty {
                    // More text, or the end of the file tells what the `\r`s ahead are.
                    continue;
                }
                return Ok(self.end_of_file(line, fed, lines, first_end));
            }
            let start = self.pos + fed;
            let mut done = self.feed(start..start + chunk);
            fed += chunk;
            if let Some(crs) = lone {
                // A lone `\r` outside quotes ends the line, and the record with it.
                if !done {
                    done = feed(
                        &mut self.core,
                        b"\n",
                        &mut self.out,
                        &mut self.ends,
                        &mut self.nout,
                        &mut self.nends,
                    );
                }
                fed += crs;
            }
            if ends_line {
                lines += 1;
                first_end.get_or_insert(fed);
            }
            if done {
                if lone.is_none() {
                    let end = self.pos + fed - 1;
                    self.drop_line_break_crs(end);
                }
                return Ok(self.complete(line, fed, lines, first_end));
            }
            if self.field_so_far() > self.max_field {
                return Ok(self.runaway(line, first_end, Unclosed::TooLong));
            }
        }
    }

    /// Where the physical line ahead of the `fed` bytes of the record being read ends: how
    /// many bytes to feed, whether that ends the line, and, for a line that a lone run of `\r`s
    /// ends outside quotes, how many `\r`s follow the bytes to feed (they are consumed, not
    /// fed). A run of `\r`s at the end of the text read so far is left ahead until more text
    /// (or the end of the file) tells what it is. Whether a lone `\r` is inside quotes is told
    /// by scanning the record from its start, only when one is met.
    pub(super) fn line_end(&self, fed: usize) -> (usize, bool, Option<usize>) {
        let ahead = &self.buf[self.pos + fed..self.len];
        let newline = self.dialect.newline;
        if newline != b'\n' {
            return match memchr::memchr(newline, ahead) {
                Some(i) => (i + 1, true, None),
                None => (ahead.len(), false, None),
            };
        }
        let mut from = 0;
        loop {
            let Some(i) = memchr::memchr2(b'\n', b'\r', &ahead[from..]) else {
                return (ahead.len(), false, None);
            };
            let at = from + i;
            if ahead[at] == b'\n' {
                return (at + 1, true, None);
            }
            let crs = ahead[at..].iter().take_while(|&&b| b == b'\r').count();
            match ahead.get(at + crs) {
                // CR LF, or CR CR LF: the `\n` ends the line.
                Some(b'\n') => from = at + crs,
                None if !self.eof => return (at, false, None),
                _ if QuoteScan::default()
                    .over(&self.buf[self.pos..self.pos + fed + at], self.dialect)
                    .quoted() =>
                {
                    from = at + crs
                }
                _ => return (at, true, Some(crs)),
            }
        }
    }

    /// The file ended inside a record: either its last line has no line break, or a quote is
    /// still open. A line break fed after it tells which.
    pub(super) fn end_of_file(
        &mut self,
        line: u64,
        fed: usize,
        lines: u64,
        first_end: Option<usize>,
    ) -> Event {
        let newline = [self.dialect.newline];
        if !feed(
            &mut self.core,
            &newline,
            &mut self.out,
            &mut self.ends,
            &mut self.nout,
            &mut self.nends,
        ) {
            return self.runaway(line, first_end, Unclosed::AtEnd);
        }
        self.drop_line_break_crs(self.pos + fed);
        // The record ended here, so its last line has no line break (after one, the record
        // would have ended there): that line counts too.
        self.complete(line, fed, lines + 1, first_end.or(Some(fed)))
    }

    pub(super) fn complete(
        &mut self,
        line: u64,
        fed: usize,
        lines: u64,
        first_end: Option<usize>,
    ) -> Event {
        if self.nout > self.max_field && self.longest_field() > self.max_field {
            return self.runaway(line, first_end, Unclosed::TooLong);
        }
        self.last = Some(Last {
            start: self.pos,
            first_end: first_end.unwrap_or(fed),
            end: self.pos + fed,
            line,
        });
        self.pos += fed;
        self.line += lines;
        Event::Record { line, lines }
    }

    /// A quote that never closes: the record is its first line alone.
    pub(super) fn runaway(
        &mut self,
        line: u64,
        first_end: Option<usize>,
        cause: Unclosed,
    ) -> Event {
        self.core.reset();
        self.take_first_line(first_end);
        Event::Unclosed { line, cause }
    }

    /// Parses the first line of the record at `pos` on its own into the fields, and moves on
    /// to the next line. `first_end` is where that line ends, if it is in the buffer; if not
    /// (a line longer than the buffer), what the buffer holds of it is parsed and the rest is
    /// skipped.
    pub(super) fn take_first_line(&mut self, first_end: Option<usize>) {
        let end = match first_end {
            Some(end) => self.pos + end,
            None => self.len,
        };
        let mut body = self.pos..end;
        while body.end > body.start && matches!(self.buf[body.end - 1], b'\n' | b'\r') {
            body.end -= 1;
        }
        self.runaway_quoted = memchr::memchr(self.dialect.quote, &self.buf[body.clone()]).is_some();
        self.in_place = None;
        self.nout = 0;
        self.nends = 0;
        let mut core = parser(self.dialect);
        feed(
            &mut core,
            &self.buf[body],
            &mut self.out,
            &mut self.ends,
            &mut self.nout,
            &mut self.nends,
        );
        // The end of the input closes the open field.
        feed(
            &mut core,
            &[],
            &mut self.out,
            &mut self.ends,
            &mut self.nout,
            &mut self.nends,
        );
        self.pos = end;
        self.line += 1;
        self.skip_line = first_end.is_none() && !self.eof;
        self.core.reset();
    }

    /// Feeds `buf[range]` to the parser; true when a record ended.
    pub(super) fn feed(&mut self, range: std::ops::Range<usize>) -> bool {
        feed(
            &mut self.core,
            &self.buf[range],
            &mut self.out,
            &mut self.ends,
            &mut self.nout,
            &mut self.nends,
        )
    }

    /// Drops the `\r`s of a CRLF (or `\r\r\n`) line break from the last field: the parser,
    /// whose terminator is `\n`, kept them as text. `newline_at` is where the `\n` is (or the
    /// end of the file).
    pub(super) fn drop_line_break_crs(&mut self, newline_at: usize) {
        if self.dialect.newline != b'\n' || self.nends == 0 {
            return;
        }
        let crs = self.buf[self.pos..newline_at]
            .iter()
            .rev()
            .take_while(|&&b| b == b'\r')
            .count();
        let last_start = if self.nends > 1 {
            self.ends[self.nends - 2]
        } else {
            0
        };
        let crs = crs.min(self.ends[self.nends - 1] - last_start);
        self.ends[self.nends - 1] -= crs;
        self.nout -= crs;
    }

    /// Length of the field being assembled.
    pub(super) fn field_so_far(&self) -> usize {
        let start = if self.nends == 0 {
            0
        } else {
            self.ends[self.nends - 1]
        };
        self.nout - start
    }

    pub(super) fn longest_field(&self) -> usize {
        let record = self.record();
        (0..record.len())
            .map(|i| record.range(i).len())
            .max()
            .unwrap_or(0)
    }
}

/// The parser for a dialect. Its terminator is the line break byte alone: a `\r` before a
/// `\n` is removed afterwards, so that a `\r` inside a quoted value is kept.
pub(super) fn parser(d: Dialect) -> csv_core::Reader {
    csv_core::ReaderBuilder::new()
        .delimiter(d.delimiter)
        .quote(d.quote)
        .escape(d.escape)
        .double_quote(d.escape.is_none())
        .terminator(csv_core::Terminator::Any(d.newline))
        .build()
}

/// Feeds `input` to `core`, growing the output buffers as needed; true when a record ended.
pub(super) fn feed(
    core: &mut csv_core::Reader,
    mut input: &[u8],
    out: &mut Vec<u8>,
    ends: &mut Vec<usize>,
    nout: &mut usize,
    nends: &mut usize,
) -> bool {
    loop {
        let (result, read, written, ended) =
            core.read_record(input, &mut out[*nout..], &mut ends[*nends..]);
        input = &input[read..];
        *nout += written;
        *nends += ended;
        match result {
            ReadRecordResult::Record => return true,
            ReadRecordResult::OutputFull => out.resize(out.len() * 2, 0),
            ReadRecordResult::OutputEndsFull => ends.resize(ends.len() * 2, 0),
            ReadRecordResult::InputEmpty | ReadRecordResult::End => return false,
        }
    }
}
