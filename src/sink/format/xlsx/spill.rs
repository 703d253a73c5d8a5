//! The spill format: an XLSX target's rows, appended while the run writes and read back twice
//! when the workbook is built.

use std::io::{self, BufRead, Read, Write};
use std::ops::Range;

use super::SpillError;
use crate::project::text::Kind;

// A spill file is a sequence of records and nothing else (no header, no footer, no index), so
// appending after any record continues a valid file. One record:
//
//   varint(number of values) then, per value:
//     0x00                                   null
//     tag, varint(byte length), UTF-8 bytes  tag: 1 text, 2 number, 3 boolean, 4 date, 5 datetime
//
// varint is unsigned LEB128 (7 bits per byte, low bits first, high bit set on all but the last).

const NULL: u8 = 0;

fn tag(kind: Kind) -> u8 {
    match kind {
        Kind::Text => 1,
        Kind::Number => 2,
        Kind::Boolean => 3,
        Kind::Date => 4,
        Kind::DateTime => 5,
    }
}

fn kind_of(tag: u8) -> Option<Kind> {
    Some(match tag {
        1 => Kind::Text,
        2 => Kind::Number,
        3 => Kind::Boolean,
        4 => Kind::Date,
        5 => Kind::DateTime,
        _ => return None,
    })
}

/// Appends rows to a spill file. It keeps no state outside the bytes it wrote: closing it after
/// any [`Spill::record`] and reopening the file for appending continues the same spill.
pub struct Spill<W: Write> {
    out: W,
    /// Scratch for one record, so each record reaches `out` in one write.
    buf: Vec<u8>,
}

impl<W: Write> Spill<W> {
    pub fn new(out: W) -> Self {
        Spill {
            out,
            buf: Vec::with_capacity(256),
        }
    }

    /// Appends one row: `values[i]` is the canonical text of a value of kind `kinds[i]`.
    pub fn record(&mut self, values: &[Option<&str>], kinds: &[Kind]) -> io::Result<()> {
        if values.len() != kinds.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} values for {} kinds", values.len(), kinds.len()),
            ));
        }
        self.buf.clear();
        crate::varint::put(&mut self.buf, values.len() as u64);
        for (v, &k) in values.iter().zip(kinds) {
            match v {
                None => self.buf.push(NULL),
                Some(v) => {
                    self.buf.push(tag(k));
                    crate::varint::put(&mut self.buf, v.len() as u64);
                    self.buf.extend_from_slice(v.as_bytes());
                }
            }
        }
        self.out.write_all(&self.buf)
    }

    pub fn get_mut(&mut self) -> &mut W {
        &mut self.out
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

/// One record read back from a spill; reused from record to record.
#[derive(Debug, Default)]
pub struct SpillRecord {
    text: String,
    cells: Vec<Option<(Kind, Range<usize>)>>,
}

impl SpillRecord {
    pub fn len(&self) -> usize {
        self.cells.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }

    /// Value `i` and its kind; `None` for a null (or past the end).
    pub fn get(&self, i: usize) -> Option<(Kind, &str)> {
        let (kind, range) = self.cells.get(i)?.as_ref()?;
        Some((*kind, self.text.get(range.clone()).unwrap_or("")))
    }
}

/// Reads a spill file record by record.
pub struct SpillReader<R: BufRead> {
    input: R,
    /// Records read so far.
    records: u64,
    bytes: Vec<u8>,
}

impl<R: BufRead> SpillReader<R> {
    pub fn new(input: R) -> Self {
        SpillReader {
            input,
            records: 0,
            bytes: Vec::new(),
        }
    }

    /// Reads the next record into `record`; false at the end of the file.
    pub fn read(&mut self, record: &mut SpillRecord) -> Result<bool, SpillError> {
        let n = match self.varint(true)? {
            None => return Ok(false),
            Some(n) => n,
        };
        self.records += 1;
        let at = self.records;
        let damaged = move |reason| SpillError::Damaged { record: at, reason };
        record.cells.clear();
        let mut bytes = std::mem::take(&mut self.bytes);
        bytes.clear();
        let mut result = Ok(());
        for _ in 0..n {
            let Some(t) = self.byte()? else {
                result = Err(damaged("it ends in the middle"));
                break;
            };
            if t == NULL {
                record.cells.push(None);
                continue;
            }
            let Some(kind) = kind_of(t) else {
                result = Err(damaged("unknown value tag"));
                break;
            };
            let Some(len) = self.varint(false)? else {
                result = Err(damaged("it ends in the middle"));
                break;
            };
            let start = bytes.len();
            // Not `resize` then `read_exact`: a damaged length must not allocate gigabytes.
            (&mut self.input).take(len).read_to_end(&mut bytes)?;
            if (bytes.len() - start) as u64 != len {
                result = Err(damaged("it ends in the middle"));
                break;
            }
            record.cells.push(Some((kind, start..bytes.len())));
        }
        result?;
        let text = match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(_) => return Err(damaged("a value is not UTF-8")),
        };
        if record
            .cells
            .iter()
            .flatten()
            .any(|(_, r)| !text.is_char_boundary(r.start) || !text.is_char_boundary(r.end))
        {
            return Err(damaged("a value is not UTF-8"));
        }
        self.bytes = std::mem::take(&mut record.text).into_bytes();
        record.text = text;
        Ok(true)
    }

    /// Records read so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    fn byte(&mut self) -> io::Result<Option<u8>> {
        let buf = self.input.fill_buf()?;
        let Some(&b) = buf.first() else {
            return Ok(None);
        };
        self.input.consume(1);
        Ok(Some(b))
    }

    /// A varint; `None` at the end of the file when `at_start` (between records). A truncated
    /// or overlong varint is damage.
    fn varint(&mut self, at_start: bool) -> Result<Option<u64>, SpillError> {
        let record = self.records + u64::from(at_start);
        match crate::varint::read_stream(|| self.byte()) {
            Ok(None) if !at_start => Err(SpillError::Damaged {
                record,
                reason: "it ends in the middle",
            }),
            Ok(v) => Ok(v),
            Err(crate::varint::StreamError::Truncated) => Err(SpillError::Damaged {
                record,
                reason: "it ends in the middle",
            }),
            Err(crate::varint::StreamError::TooLong) => Err(SpillError::Damaged {
                record,
                reason: "a length is too long",
            }),
            Err(crate::varint::StreamError::Io(e)) => Err(e.into()),
        }
    }
}
