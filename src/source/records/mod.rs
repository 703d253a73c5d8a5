//! Records out of CSV text, each with the physical lines it comes from.
//!
//! This module owns the CSV syntax: it cuts the text into physical lines (`\n`, or a lone `\r`
//! for classic Mac files) and feeds them to `csv_core` until a record ends, so it always knows
//! the line where a record starts and how many it spans. Blank and comment lines are told
//! apart before the parser sees them. A quote that never closes — the field outgrows
//! `max_field_bytes`, or the file ends inside it — does not swallow the rest of the file: the
//! record is given back as the fields of its first line, and reading goes on at the next line.
//! It knows nothing of headers, encodings or rows: the text is bytes that should be UTF-8.
//!
//! The text is read into one buffer that keeps the record being assembled (so it can be read
//! again from its second line). A record on one line without a quote — most records of most
//! exports — is read in place: its fields are where they are in that buffer, cut at the
//! delimiters, and `csv_core` never sees them. Any other record goes through `csv_core` into
//! one reused output buffer. No allocation per record either way.
//!
//! Once [`Records::pin`] is called the buffer is never compacted: a chunk of rows keeps its
//! text where it was read, and [`Records::take_block`] hands the text read so far over as
//! one block, for columns whose values point into it.
//!
//! Files: `in_place.rs` (the fast path and its 64-byte classifier), `parsed.rs` (the `csv_core`
//! path), `quotes.rs` (the quoting of a record); the buffer, lines and events are here.

mod in_place;
mod parsed;
mod quotes;

use std::io::Read;

use in_place::Marks;
use parsed::parser;
use quotes::{Last, QuoteScan};

/// The least free room asked of the text source at each read.
const MIN_READ: usize = 64 * 1024;

/// The most asked of the text source at one read, so that the text read ahead of a chunk's
/// last record stays small.
const MAX_READ: usize = 256 * 1024;

/// How the text is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Dialect {
    pub delimiter: u8,
    pub quote: u8,
    pub escape: Option<u8>,
    pub comment: Option<u8>,
    /// `\n` (LF and CRLF files: a `\r` before it is dropped) or `\r` (CR-only files).
    pub newline: u8,
}

/// What the next line or lines of the file hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Event {
    /// A record, in [`Records::record`], starting on `line` and spanning `lines` lines.
    Record {
        line: u64,
        lines: u64,
    },
    /// A blank line, or a comment line.
    Skipped {
        line: u64,
    },
    /// A quote opened on `line` never closes: [`Records::record`] holds the fields of that
    /// line alone, and reading goes on at the next line.
    Unclosed {
        line: u64,
        cause: Unclosed,
    },
    End,
}

/// Why a quote is taken for a runaway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Unclosed {
    /// A field outgrew `max_field_bytes`.
    TooLong,
    /// The file ends inside the quote.
    AtEnd,
}

/// A record's fields: either the bytes of all fields end to end (a record `csv_core` read), or
/// the record's line itself, its fields separated by one delimiter byte (a record read in
/// place); and where each field ends.
#[derive(Debug, Clone, Copy)]
pub(super) struct Record<'a> {
    pub bytes: &'a [u8],
    ends: &'a [usize],
    /// For a record read in place, where [`Record::bytes`] starts in the text buffer (the
    /// block [`Records::take_block`] hands over); its fields are one delimiter byte apart.
    pub offset: Option<usize>,
}

impl<'a> Record<'a> {
    /// The record read in place at `at` in `block`, `len` bytes long, its fields ending at
    /// `ends`: the record [`Records::record`] gave, rebuilt from what was kept of it.
    pub fn in_place(block: &'a [u8], at: usize, len: usize, ends: &'a [usize]) -> Record<'a> {
        Record {
            bytes: block.get(at..at + len).unwrap_or_default(),
            ends,
            offset: Some(at),
        }
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Field `i` as a range of [`Record::bytes`].
    pub fn range(&self, i: usize) -> std::ops::Range<usize> {
        let start = if i == 0 {
            0
        } else {
            // A line read in place keeps the delimiter between two fields.
            self.ends[i - 1] + usize::from(self.offset.is_some())
        };
        start..self.ends[i]
    }

    /// Where each field ends in [`Record::bytes`].
    pub fn ends(&self) -> &'a [usize] {
        self.ends
    }

    /// Whether every field is empty or white space (a line of delimiters is blank too).
    pub fn is_blank(&self) -> bool {
        self.iter().all(|f| f.iter().all(u8::is_ascii_whitespace))
    }

    pub fn get(&self, i: usize) -> &'a [u8] {
        &self.bytes[self.range(i)]
    }

    pub fn iter(&self) -> impl Iterator<Item = &'a [u8]> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }
}

/// Records read from a stream of text.
pub(super) struct Records<R> {
    text: R,
    /// `buf[pos..len]` is text not yet consumed; the record being assembled starts at `pos`.
    buf: Vec<u8>,
    pos: usize,
    len: usize,
    eof: bool,
    core: csv_core::Reader,
    dialect: Dialect,
    max_field: usize,
    /// The current record's fields: `out[..nout]`, ends `ends[..nends]`.
    out: Vec<u8>,
    ends: Vec<usize>,
    nout: usize,
    nends: usize,
    /// Physical lines consumed so far.
    line: u64,
    last: Option<Last>,
    /// The first line of a runaway record was too long to hold: the rest of it is skipped.
    skip_line: bool,
    /// The first line of the last runaway record holds a quote: a quote left open, rather than
    /// a value too long without one.
    runaway_quoted: bool,
    /// The current record was read in place: `buf[at..at + len]`, its field ends in `ends`.
    in_place: Option<(usize, usize)>,
    /// Records without a quote are read in place (off only to test against `csv_core`).
    fast: bool,
    /// The buffer is not compacted: the text read since the last block stays where it is.
    pinned: bool,
    /// The bytes the fast path stops at, in the block of text it looked at last: a line
    /// usually ends in the block where the next one starts, which is not classified again.
    marks: Marks,
}

impl<R: Read> Records<R> {
    /// Records from `text`, whose first bytes (`start`) have already been read.
    pub fn new(text: R, start: Vec<u8>, dialect: Dialect, max_field: u64) -> Self {
        let len = start.len();
        let mut buf = start;
        buf.resize(buf.len().max(4 * MIN_READ), 0);
        Records {
            text,
            buf,
            pos: 0,
            len,
            eof: false,
            core: parser(dialect),
            dialect,
            max_field: usize::try_from(max_field).unwrap_or(usize::MAX),
            out: vec![0; 4096],
            ends: vec![0; 64],
            nout: 0,
            nends: 0,
            line: 0,
            last: None,
            skip_line: false,
            runaway_quoted: false,
            in_place: None,
            fast: true,
            pinned: false,
            marks: Marks::default(),
        }
    }

    /// From here on the text stays where it is read, until [`Records::take_block`] takes it.
    pub fn pin(&mut self) {
        self.pinned = true;
    }

    /// Bytes of text consumed since the last block was taken (or since the start).
    pub fn block_len(&self) -> usize {
        self.pos
    }

    /// The text consumed so far in this block: records read in place are at their offsets in it.
    pub fn block(&self) -> &[u8] {
        self.buf.get(..self.pos).unwrap_or_default()
    }

    /// Hands over the text consumed so far (`[..block_len()]`): the offsets of records read in
    /// place are offsets in it. The text read ahead moves to a new buffer sized for a block
    /// like this one.
    pub fn take_block(&mut self) -> Vec<u8> {
        let ahead = self.len - self.pos;
        let size = (self.pos + self.pos / 16 + MAX_READ).max(ahead + 4 * MIN_READ);
        let mut next = vec![0; size];
        next[..ahead].copy_from_slice(&self.buf[self.pos..self.len]);
        let mut block = std::mem::replace(&mut self.buf, next);
        block.truncate(self.pos);
        self.len = ahead;
        self.pos = 0;
        self.last = None;
        self.in_place = None;
        self.marks = Marks::default();
        block
    }

    /// Reads with another dialect from here on (after sniffing it from [`Records::head`]).
    pub fn set_dialect(&mut self, dialect: Dialect) {
        self.dialect = dialect;
        self.core = parser(dialect);
        self.marks = Marks::default();
    }

    /// The text ahead, at least `want` bytes unless the file is shorter, and whether it runs
    /// to the end of the file.
    pub fn head(&mut self, want: usize) -> std::io::Result<(&[u8], bool)> {
        while self.len - self.pos < want && self.fill()? {}
        Ok((&self.buf[self.pos..self.len], self.eof))
    }

    /// Physical lines consumed so far.
    pub fn lines_read(&self) -> u64 {
        self.line
    }

    /// Hands back the text source (to read the rest of the file for its checksum).
    pub fn into_inner(self) -> R {
        self.text
    }

    /// The fields of the last [`Event::Record`] or [`Event::Unclosed`].
    pub fn record(&self) -> Record<'_> {
        match self.in_place {
            Some((at, len)) => Record {
                bytes: &self.buf[at..at + len],
                ends: &self.ends[..self.nends],
                offset: Some(at),
            },
            None => Record {
                bytes: &self.out[..self.nout],
                ends: &self.ends[..self.nends],
                offset: None,
            },
        }
    }

    /// Skips one physical line whatever it holds (a title line); false at the end of the file.
    pub fn skip_line(&mut self) -> std::io::Result<bool> {
        if self.pos == self.len && !self.fill()? {
            return Ok(false);
        }
        self.discard_line()?;
        self.line += 1;
        Ok(true)
    }

    /// Reads the next record, blank line or comment line.
    pub fn next(&mut self) -> std::io::Result<Event> {
        self.last = None;
        if self.skip_line {
            // The rest of a line already counted.
            self.skip_line = false;
            self.discard_line()?;
        }
        if self.pos == self.len && !self.fill()? {
            return Ok(Event::End);
        }
        let line = self.line + 1;
        if Some(self.buf[self.pos]) == self.dialect.comment || self.blank_line()? {
            self.discard_line()?;
            self.line += 1;
            return Ok(Event::Skipped { line });
        }
        if self.fast
            && let Some(event) = self.read_in_place(line)?
        {
            return Ok(event);
        }
        self.read_record(line)
    }

    /// Takes the last record back and reads on from its second line: [`Records::record`] then
    /// holds the fields of its first line. For a record that spans lines only because a quote
    /// was not closed where it should have been.
    pub fn reread_after_first_line(&mut self) {
        if let Some(last) = self.last.take() {
            self.pos = last.start;
            self.line = last.line - 1;
            self.take_first_line(Some(last.first_end));
        }
    }

    /// Whether the first line of the last runaway record ([`Event::Unclosed`]) holds a quote.
    pub fn runaway_quoted(&self) -> bool {
        self.runaway_quoted
    }

    /// Whether every quote of the last record closes right before a delimiter or the end of
    /// the record, as it should. A quote left open by mistake usually closes at the next quote
    /// of the file, which opens a value on some later line and so stands before text.
    pub fn last_well_quoted(&self) -> bool {
        self.last_misquoted_field().is_none()
    }

    /// The first field of the last record whose closing quote stands before more text
    /// (`1,"f"g,h`: field 1), if one does.
    pub fn last_misquoted_field(&self) -> Option<usize> {
        let last = self.last?;
        let d = self.dialect;
        let mut scan = QuoteScan::default();
        let mut field = 0;
        for &b in &self.buf[last.start..last.end] {
            if b == d.delimiter && !scan.quoted() {
                field += 1;
            }
            if scan.step(b, d) {
                return Some(field);
            }
        }
        None
    }

    /// Whether the line ahead holds nothing but its line break (`\r`s before a `\n` included,
    /// or a lone `\r`, itself a line break).
    fn blank_line(&mut self) -> std::io::Result<bool> {
        let newline = self.dialect.newline;
        loop {
            let ahead = &self.buf[self.pos..self.len];
            match ahead.iter().position(|&b| b != b'\r' || newline == b'\r') {
                Some(i) => return Ok(ahead[i] == newline || i > 0),
                // Only `\r`s so far: what follows them tells.
                None if self.fill()? => {}
                None => return Ok(true),
            }
        }
    }

    /// Consumes the rest of the current physical line, however long (without counting it): up
    /// to its `\n`, or a run of `\r`s that no `\n` follows (a lone CR ends a line too).
    fn discard_line(&mut self) -> std::io::Result<()> {
        loop {
            let ahead = &self.buf[self.pos..self.len];
            let found = if self.dialect.newline == b'\n' {
                memchr::memchr2(b'\n', b'\r', ahead)
            } else {
                memchr::memchr(self.dialect.newline, ahead)
            };
            match found {
                Some(i) if ahead[i] == self.dialect.newline => {
                    self.pos += i + 1;
                    return Ok(());
                }
                Some(i) => {
                    let crs = ahead[i..].iter().take_while(|&&b| b == b'\r').count();
                    match ahead.get(i + crs) {
                        Some(b'\n') => self.pos += i + crs + 1,
                        Some(_) => self.pos += i + crs,
                        // The run reaches the end of what was read: what follows tells.
                        None => {
                            self.pos += i;
                            if !self.fill()? {
                                self.pos = self.len;
                                return Ok(());
                            }
                            continue;
                        }
                    }
                    return Ok(());
                }
                None => {
                    self.pos = self.len;
                    if !self.fill()? {
                        return Ok(());
                    }
                }
            }
        }
    }

    /// Reads more text, keeping `buf[pos..len]` (moved to the front); false at the end of the
    /// file.
    fn fill(&mut self) -> std::io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        // The text moves or grows: what the fast path saw of it is stale.
        self.marks = Marks::default();
        if self.pos > 0 && !self.pinned {
            self.buf.copy_within(self.pos..self.len, 0);
            self.len -= self.pos;
            // The last record is gone from the buffer: it cannot be read again.
            self.last = None;
            self.pos = 0;
        }
        if self.buf.len() - self.len < MIN_READ {
            let grown = (self.buf.len() * 2).max(self.len + MIN_READ);
            self.buf.resize(grown, 0);
        }
        let room = self.buf.len().min(self.len + MAX_READ);
        loop {
            match self.text.read(&mut self.buf[self.len..room]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(n) => {
                    self.len += n;
                    return Ok(true);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CSV: Dialect = Dialect {
        delimiter: b',',
        quote: b'"',
        escape: None,
        comment: Some(b'#'),
        newline: b'\n',
    };

    /// Every event with its fields, as text.
    fn events(text: &[u8], dialect: Dialect, max_field: u64) -> Vec<(Event, Vec<String>)> {
        let mut records = Records::new(text, Vec::new(), dialect, max_field);
        let mut out = Vec::new();
        loop {
            let event = records.next().expect("reading from memory");
            if event == Event::End {
                return out;
            }
            let fields = match event {
                Event::Record { .. } | Event::Unclosed { .. } => records
                    .record()
                    .iter()
                    .map(|f| String::from_utf8_lossy(f).into_owned())
                    .collect(),
                _ => Vec::new(),
            };
            out.push((event, fields));
        }
    }

    fn record(line: u64, lines: u64, fields: &[&str]) -> (Event, Vec<String>) {
        (
            Event::Record { line, lines },
            fields.iter().map(|f| f.to_string()).collect(),
        )
    }

    fn skipped(line: u64) -> (Event, Vec<String>) {
        (Event::Skipped { line }, Vec::new())
    }

    #[test]
    fn lines_blank_lines_comments_and_line_breaks() {
        let got = events(
            b"a,b\r\r\n\r\n# note\n\"x\r\ny\",2\r\n,\nlast,\"q\"",
            CSV,
            1 << 20,
        );
        assert_eq!(
            got,
            vec![
                record(1, 1, &["a", "b"]),
                skipped(2),
                skipped(3),
                record(4, 2, &["x\r\ny", "2"]),
                record(6, 1, &["", ""]),
                record(7, 1, &["last", "q"]),
            ]
        );
    }

    #[test]
    fn classic_mac_line_breaks() {
        let cr = Dialect {
            newline: b'\r',
            ..CSV
        };
        let got = events(b"a,b\r1,\"x\ry\"\r\r2,3\r", cr, 1 << 20);
        assert_eq!(
            got,
            vec![
                record(1, 1, &["a", "b"]),
                record(2, 2, &["1", "x\ry"]),
                skipped(4),
                record(5, 1, &["2", "3"]),
            ]
        );
    }

    #[test]
    fn a_quote_open_at_the_end_of_the_file_is_a_runaway_of_one_line() {
        let got = events(b"a,b\n1,\"open\n2,3\n4,5\n", CSV, 1 << 20);
        assert_eq!(
            got,
            vec![
                record(1, 1, &["a", "b"]),
                (
                    Event::Unclosed {
                        line: 2,
                        cause: Unclosed::AtEnd
                    },
                    vec!["1".into(), "open".into()]
                ),
                record(3, 1, &["2", "3"]),
                record(4, 1, &["4", "5"]),
            ]
        );
    }

    #[test]
    fn a_field_past_the_limit_is_a_runaway_and_reading_resumes_on_the_next_line() {
        let got = events(b"1,\"abc\n2,3\n4,\"x\"\"\n5,6\n", CSV, 8);
        assert_eq!(
            got[0],
            (
                Event::Unclosed {
                    line: 1,
                    cause: Unclosed::TooLong
                },
                vec!["1".into(), "abc".into()]
            )
        );
        assert_eq!(got[1], record(2, 1, &["2", "3"]));
        // Line 3 opens a quote too, and it runs to the end of the file.
        assert_eq!(
            got[2].0,
            Event::Unclosed {
                line: 3,
                cause: Unclosed::AtEnd
            }
        );
        assert_eq!(got[3], record(4, 1, &["5", "6"]));
        // One line longer than the buffer, with no line break for a long way.
        let mut long = b"1,\"".to_vec();
        long.extend(std::iter::repeat_n(b'x', 600 * 1024));
        long.extend(b"\n2,3\n");
        let got = events(&long, CSV, 1000);
        assert!(matches!(got[0].0, Event::Unclosed { line: 1, .. }));
        assert_eq!(got[1..], [record(2, 1, &["2", "3"])]);
    }

    #[test]
    fn a_record_read_again_from_its_second_line() {
        let mut records = Records::new(&b"1,\"a\n2,b\"\n3,c\n"[..], Vec::new(), CSV, 1 << 20);
        assert_eq!(
            records.next().expect("in memory"),
            Event::Record { line: 1, lines: 2 }
        );
        records.reread_after_first_line();
        let first: Vec<&[u8]> = records.record().iter().collect();
        assert_eq!(first, [&b"1"[..], b"a"]);
        assert_eq!(
            records.next().expect("in memory"),
            Event::Record { line: 2, lines: 1 }
        );
        assert_eq!(records.record().get(1), b"b\"");
        assert_eq!(
            records.next().expect("in memory"),
            Event::Record { line: 3, lines: 1 }
        );
    }

    #[test]
    fn a_quote_that_closes_before_text_is_misplaced() {
        let well = |text: &[u8]| {
            let mut records = Records::new(text, Vec::new(), CSV, 1 << 20);
            records.next().expect("in memory");
            records.last_well_quoted()
        };
        assert!(well(b"1,\"a\nb\",\"c\"\"d\"\r\n"));
        assert!(well(b"1,\"a\nb\"\n"));
        assert!(!well(b"1,\"open\n2,\"Les \"\"Bons\"\"\",x\n"));
    }

    /// Every event, its fields, the record's bytes as `Records::record` gives them, and the
    /// lines read after it; pinned or not, the fast path on or off.
    fn trace(text: &[u8], dialect: Dialect, max_field: u64, fast: bool, pin: bool) -> Vec<String> {
        trace_read(text, dialect, max_field, fast, pin)
    }

    /// Text handed over a few bytes at a time, `pieces` long in turn: lines and blocks of the
    /// fast path are cut by the reads anywhere.
    struct Trickle<'a> {
        text: &'a [u8],
        pieces: Vec<usize>,
        read: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let piece = self.pieces[self.read % self.pieces.len()];
            self.read += 1;
            let n = piece.min(buf.len()).min(self.text.len());
            buf[..n].copy_from_slice(&self.text[..n]);
            self.text = &self.text[n..];
            Ok(n)
        }
    }

    fn trace_read(
        text: impl Read,
        dialect: Dialect,
        max_field: u64,
        fast: bool,
        pin: bool,
    ) -> Vec<String> {
        let mut records = Records::new(text, Vec::new(), dialect, max_field);
        records.fast = fast;
        let mut out = Vec::new();
        loop {
            if pin {
                records.pin();
            }
            let event = records.next().expect("reading from memory");
            let rec = records.record();
            let fields: Vec<&[u8]> = match event {
                Event::Record { .. } | Event::Unclosed { .. } => rec.iter().collect(),
                _ => Vec::new(),
            };
            out.push(format!(
                "{event:?} {fields:?} blank={} lines={}",
                !fields.is_empty() && rec.is_blank(),
                records.lines_read()
            ));
            // A record read in place is where it says in the block.
            if let (true, Some(at)) = (pin, rec.offset) {
                let bytes = rec.bytes.to_vec();
                let block = records.take_block();
                assert_eq!(&block[at..at + bytes.len()], &bytes[..]);
            }
            if event == Event::End {
                return out;
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        /// Records read in place are the records `csv_core` reads, event for event, line for
        /// line, whatever the text.
        #[test]
        fn in_place_reading_is_csv_core_reading(
            text in proptest::collection::vec(
                proptest::sample::select(b"ab ,;\"\r\n#\t\\\xC3\xA9\0".to_vec()), 0..80),
            delimiter in proptest::sample::select(vec![b',', b';', b'\t']),
            cr in proptest::bool::ANY,
            comment in proptest::bool::ANY,
            escape in proptest::bool::ANY,
            max_field in proptest::sample::select(vec![3u64, 8, 1 << 20]),
            pin in proptest::bool::ANY,
        ) {
            let dialect = Dialect {
                delimiter,
                quote: b'"',
                escape: escape.then_some(b'\\'),
                comment: comment.then_some(b'#'),
                newline: if cr { b'\r' } else { b'\n' },
            };
            let csv_core = trace(&text, dialect, max_field, false, false);
            let in_place = trace(&text, dialect, max_field, true, pin);
            proptest::prop_assert_eq!(in_place, csv_core);
        }

        /// The same over longer lines, many blocks long, with the text read a few bytes at a
        /// time: a read may end anywhere in a line or a block.
        #[test]
        fn in_place_reading_is_csv_core_reading_across_reads(
            text in proptest::collection::vec(
                proptest::sample::select(b"aaaaaaaaaabbbbbbbb ,,,;;\"\r\n\n\n#\t\xC3\xA9\0".to_vec()),
                0..600),
            delimiter in proptest::sample::select(vec![b',', b';']),
            cr in proptest::bool::ANY,
            max_field in proptest::sample::select(vec![8u64, 70, 130, 1 << 20]),
            pin in proptest::bool::ANY,
            pieces in proptest::collection::vec(1usize..150, 1..4),
        ) {
            let dialect = Dialect {
                delimiter,
                quote: b'"',
                escape: None,
                comment: Some(b'#'),
                newline: if cr { b'\r' } else { b'\n' },
            };
            let trickle = |pieces: &[usize]| Trickle { text: &text, pieces: pieces.to_vec(), read: 0 };
            // A runaway line longer than the text read so far is cut where the read ended,
            // whichever way it is read: both read alike.
            let csv_core = trace_read(trickle(&pieces), dialect, max_field, false, false);
            let in_place = trace_read(trickle(&pieces), dialect, max_field, true, pin);
            proptest::prop_assert_eq!(in_place, csv_core);
        }
    }
}
