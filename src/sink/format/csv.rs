//! CSV and TSV targets: one record per row, in the target's dialect and encoding.
//!
//! The header is the column names (formula-like ones escaped when the guard says so, see
//! [`crate::project::csv_header`]); a null is the target's `null` text. Typed values (numbers,
//! dates, booleans) are written straight from their columns into the record. Quoting is
//! [`super::csv_writer`]'s; encodings other than UTF-8 are [`super::transcode`]'s.

use std::io::{self, Write};

use super::csv_writer::CsvWriter;
use super::transcode::Transcode;
use super::{Encode, Tree};
use crate::plan::CsvOptions;
use crate::project::cells::Cells;
use crate::project::text::Kind;

/// A CSV or TSV target's file.
pub struct Csv<W: Write> {
    writer: Box<CsvWriter<Transcode<W>>>,
    options: CsvOptions,
}

impl<W: Write> Csv<W> {
    /// An encoder over `out`; `fresh` for a new file (the byte order mark, if any, goes first).
    pub fn new(options: CsvOptions, out: W, fresh: bool) -> io::Result<Self> {
        let mut out = Transcode::new(out, options.encoding);
        if fresh && options.bom {
            out.write_all("\u{feff}".as_bytes())?;
        }
        let writer = CsvWriter::new(out, options.delimiter, options.quote_style, options.crlf);
        Ok(Csv {
            writer: Box::new(writer),
            options,
        })
    }
}

impl<W: Write> Encode<W> for Csv<W> {
    /// The header, when the target has one.
    fn start(&mut self, names: &[String]) -> io::Result<()> {
        if self.options.header {
            self.writer.record(names.iter().map(|n| n.as_bytes()))?;
        }
        Ok(())
    }

    fn record(&mut self, values: &[Option<&str>], _: &[Kind], _: &Tree) -> io::Result<()> {
        let null = self.options.null.as_bytes();
        self.writer
            .record(values.iter().map(|v| v.map_or(null, str::as_bytes)))
    }

    fn record_cells(&mut self, cells: &[Cells], i: usize, _: &[Kind], _: &Tree) -> io::Result<()> {
        let null = self.options.null.as_bytes();
        let writer = &mut self.writer;
        writer.begin();
        for (c, cell) in cells.iter().enumerate() {
            if c > 0 {
                writer.delimit();
            }
            match cell {
                Cells::Text(a) => writer.field(a.get(i).map_or(null, str::as_bytes)),
                typed => writer.field_with(|buf| typed.text(i, buf).is_some(), null),
            }
        }
        writer.end()
    }

    /// CSV has no records of records: a group's rows are written one line each.
    fn group(&mut self, rows: &[Vec<Option<String>>], kinds: &[Kind], _: &Tree) -> io::Result<()> {
        let null = self.options.null.as_bytes();
        for row in rows {
            self.writer.record((0..kinds.len()).map(|col| {
                row.get(col)
                    .and_then(Option::as_deref)
                    .map_or(null, str::as_bytes)
            }))?;
        }
        Ok(())
    }

    fn into_inner(self: Box<Self>) -> io::Result<W> {
        self.writer.into_inner()?.into_inner()
    }
}
