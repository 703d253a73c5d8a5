//! CSV and TSV records as bytes, with the quoting rules of the `csv` crate's writer.
//!
//! A target writes millions of short fields, most of which need no quote; this writer decides
//! per field with a scan eight bytes at a time and copies the field once, into a buffer that
//! goes to the file (or its transcoder) in blocks of many records. Typed values (numbers, dates,
//! booleans) are written into that buffer directly when their text cannot need quotes. The output is byte for byte what
//! `csv::Writer` writes with the same options (tested below): a field is quoted when the style
//! asks (`necessary`: it holds the delimiter, a quote, CR or LF), quotes are doubled, and a
//! record made of one empty field is written `""` so that it is not read as an empty line.

use std::io::{self, Write};

use crate::plan::QuoteStyle;

/// Writes CSV records to `out`.
pub struct CsvWriter<W: Write> {
    out: W,
    /// Records not yet handed to `out`: they go in blocks of [`BLOCK`] bytes or more.
    buf: Vec<u8>,
    /// Where the record being written starts in `buf`.
    start: usize,
    /// Bytes that make a field need quotes.
    special: [bool; 256],
    style: QuoteStyle,
    delimiter: u8,
    crlf: bool,
    /// Whether the text of a typed value (digits, signs, `.`, `:`, letters) is written as it is:
    /// the style quotes only what needs it, and such text cannot hold the delimiter.
    typed_plain: bool,
    scratch: Vec<u8>,
}

/// Records are handed to the file (or its transcoder) in blocks of at least this many bytes.
const BLOCK: usize = 64 * 1024;

impl<W: Write> CsvWriter<W> {
    pub fn new(out: W, delimiter: u8, style: QuoteStyle, crlf: bool) -> Self {
        let mut special = [false; 256];
        for b in [delimiter, b'"', b'\r', b'\n'] {
            special[usize::from(b)] = true;
        }
        let typed_plain = matches!(style, QuoteStyle::Necessary | QuoteStyle::Never)
            && !(delimiter.is_ascii_alphanumeric() || b"+-.:\"".contains(&delimiter));
        CsvWriter {
            out,
            buf: Vec::with_capacity(BLOCK + 4096),
            start: 0,
            special,
            style,
            delimiter,
            crlf,
            typed_plain,
            scratch: Vec::new(),
        }
    }

    /// Writes one record.
    pub fn record<'a>(&mut self, fields: impl IntoIterator<Item = &'a [u8]>) -> io::Result<()> {
        self.begin();
        for (i, field) in fields.into_iter().enumerate() {
            if i > 0 {
                self.delimit();
            }
            self.field(field);
        }
        self.end()
    }

    /// Starts a record written field by field: [`field`](Self::field) or
    /// [`field_with`](Self::field_with) for each, [`delimit`](Self::delimit) between them, then
    /// [`end`](Self::end).
    #[inline]
    pub fn begin(&mut self) {
        self.start = self.buf.len();
    }

    #[inline]
    pub fn delimit(&mut self) {
        self.buf.push(self.delimiter);
    }

    /// Ends the record; a block of records is handed on once it is large enough.
    #[inline]
    pub fn end(&mut self) -> io::Result<()> {
        if self.buf.len() == self.start {
            self.buf.extend_from_slice(b"\"\"");
        }
        if self.crlf {
            self.buf.push(b'\r');
        }
        self.buf.push(b'\n');
        if self.buf.len() >= BLOCK {
            self.out.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    /// Writes a field whose text `write` appends to the buffer it is given: a typed value,
    /// whose text holds no byte that needs quotes under a `necessary` or `never` style. When
    /// `write` returns false (a null, nothing appended), `null` is written instead.
    #[inline]
    pub fn field_with(&mut self, write: impl FnOnce(&mut Vec<u8>) -> bool, null: &[u8]) {
        if self.typed_plain {
            if !write(&mut self.buf) {
                self.field(null);
            }
            return;
        }
        let mut text = std::mem::take(&mut self.scratch);
        text.clear();
        if write(&mut text) {
            self.field(&text);
        } else {
            self.field(null);
        }
        self.scratch = text;
    }

    #[inline]
    pub fn field(&mut self, field: &[u8]) {
        let quoted = match self.style {
            QuoteStyle::Always => true,
            QuoteStyle::Never => false,
            QuoteStyle::NonNumeric => non_numeric(field),
            QuoteStyle::Necessary => self.needs_quotes(field),
        };
        if !quoted {
            self.buf.extend_from_slice(field);
            return;
        }
        self.buf.push(b'"');
        let mut rest = field;
        while let Some(at) = memchr::memchr(b'"', rest) {
            self.buf.extend_from_slice(&rest[..=at]);
            self.buf.push(b'"');
            rest = &rest[at + 1..];
        }
        self.buf.extend_from_slice(rest);
        self.buf.push(b'"');
    }

    /// Whether `field` holds a special byte: a word with none of the delimiter, a quote or a
    /// byte below 0x0E (CR, LF and a few more) is passed over.
    #[inline]
    fn needs_quotes(&self, field: &[u8]) -> bool {
        use super::swar::{any, below, has};
        any(
            field,
            |x| has(x, self.delimiter) | has(x, b'"') | below(x, 0x0E),
            |b| self.special[usize::from(b)],
        )
    }

    /// Flushes and gives the writer back.
    pub fn into_inner(mut self) -> io::Result<W> {
        self.out.write_all(&self.buf)?;
        self.buf.clear();
        self.out.flush()?;
        Ok(self.out)
    }
}

/// `non_numeric` quoting leaves alone what reads as a number, as `csv` decides it.
fn non_numeric(field: &[u8]) -> bool {
    match std::str::from_utf8(field) {
        Ok(s) => s.parse::<f64>().is_err() && s.parse::<i128>().is_err(),
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ours(records: &[Vec<String>], delimiter: u8, style: QuoteStyle, crlf: bool) -> Vec<u8> {
        let mut w = CsvWriter::new(Vec::new(), delimiter, style, crlf);
        for r in records {
            w.record(r.iter().map(|f| f.as_bytes())).expect("write");
        }
        w.into_inner().expect("flush")
    }

    fn theirs(records: &[Vec<String>], delimiter: u8, style: QuoteStyle, crlf: bool) -> Vec<u8> {
        let mut w = csv::WriterBuilder::new()
            .delimiter(delimiter)
            .quote_style(match style {
                QuoteStyle::Necessary => csv::QuoteStyle::Necessary,
                QuoteStyle::Always => csv::QuoteStyle::Always,
                QuoteStyle::NonNumeric => csv::QuoteStyle::NonNumeric,
                QuoteStyle::Never => csv::QuoteStyle::Never,
            })
            .terminator(if crlf {
                csv::Terminator::CRLF
            } else {
                csv::Terminator::Any(b'\n')
            })
            .flexible(true)
            .from_writer(Vec::new());
        for r in records {
            w.write_record(r).expect("write");
        }
        w.into_inner().expect("flush")
    }

    #[test]
    fn writes_what_the_csv_crate_writes() {
        let records: Vec<Vec<String>> = [
            vec!["a", "b c", "d;e"],
            vec!["say \"hi\"", "", "x\ny"],
            vec![""],
            vec!["", ""],
            vec!["12", "-0.5", "1e3", "NaN", "x"],
            vec!["cr\r", " lead", "tab\there", "é,ü"],
            vec![
                "a longer field, with a comma",
                "sixteen bytes ok",
                "0123456789abcdef\n",
            ],
            vec![
                "semi;colon in the middle of it",
                "no special byte in here at all",
            ],
        ]
        .iter()
        .map(|r| r.iter().map(|f| f.to_string()).collect())
        .collect();
        for delimiter in [b',', b';', b'\t', b'|'] {
            for style in [
                QuoteStyle::Necessary,
                QuoteStyle::Always,
                QuoteStyle::NonNumeric,
                QuoteStyle::Never,
            ] {
                for crlf in [false, true] {
                    assert_eq!(
                        String::from_utf8_lossy(&ours(&records, delimiter, style, crlf)),
                        String::from_utf8_lossy(&theirs(&records, delimiter, style, crlf)),
                        "{} {style:?} crlf={crlf}",
                        char::from(delimiter)
                    );
                }
            }
        }
    }

    proptest! {
        #[test]
        fn any_records_match_the_csv_crate(
            records in proptest::collection::vec(
                proptest::collection::vec("[a-c0-9 ,;\"\t\r\n.é-]{0,20}", 1..5),
                0..6,
            ),
            delimiter in prop_oneof![Just(b','), Just(b';'), Just(b'\t')],
            style in prop_oneof![
                Just(QuoteStyle::Necessary),
                Just(QuoteStyle::Always),
                Just(QuoteStyle::NonNumeric),
                Just(QuoteStyle::Never),
            ],
            crlf in any::<bool>(),
        ) {
            prop_assert_eq!(
                ours(&records, delimiter, style, crlf),
                theirs(&records, delimiter, style, crlf)
            );
        }
    }
}
