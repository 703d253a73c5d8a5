//! Values as text, and the CSV, TSV, JSON and NDJSON encoders.
//!
//! Every output value is first turned into its canonical text, a whole column at a time: ISO
//! dates (`2024-01-31`, `2024-01-31T10:00:00`), `.` as decimal point, decimals exact at their
//! scale (the default scale drops trailing zeros: `12.5`, not `12.500000`), booleans `true` and
//! `false`. JSON keeps the types: numbers and booleans bare, text quoted, null as `null`; a dotted
//! column name (`product.price.amount`) nests objects.

use std::io::{self, Write};

use polars::prelude::{ChunkApply, Column, DataType, PolarsResult, StringChunked};

use super::transcode::Transcode;
use super::xlsx::Spill;
use crate::plan::{CsvOptions, DEFAULT_DECIMAL_SCALE, Format, QuoteStyle};

/// What a column's canonical text stands for: JSON writes numbers and booleans bare and the
/// rest quoted; XLSX writes a typed cell for each kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Number,
    Boolean,
    /// `2024-01-31`.
    Date,
    /// `2024-01-31T10:00:00`, with a fraction of a second when there is one.
    DateTime,
}

/// One output column as canonical text.
pub struct TextColumn {
    pub kind: Kind,
    pub text: StringChunked,
}

/// A text column as one contiguous array, for fast access by row.
pub struct TextArray(StringChunked);

impl TextArray {
    pub fn new(c: &TextColumn) -> Self {
        TextArray(c.text.rechunk().into_owned())
    }

    #[inline]
    pub fn get(&self, i: usize) -> Option<&str> {
        self.0.get(i)
    }
}

/// `days` since 1970-01-01 as `YYYY-MM-DD` (the civil-from-days algorithm), without going
/// through a format string for every value.
fn iso_date(days: i32, out: &mut String) {
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    use std::fmt::Write;
    // As chrono writes years outside 0..=9999: signed, at least four digits.
    let _ = if (0..=9999).contains(&y) {
        write!(out, "{y:04}-{m:02}-{d:02}")
    } else if y < 0 {
        write!(out, "-{:04}-{m:02}-{d:02}", -y)
    } else {
        write!(out, "+{y}-{m:02}-{d:02}")
    };
}

/// The canonical text of a column of `n` values.
pub fn text(c: &Column, n: usize) -> PolarsResult<TextColumn> {
    let c = if c.len() == n || n == 0 {
        c.clone()
    } else {
        c.new_from_index(0, n)
    };
    let s = c.as_materialized_series();
    let (kind, text) = match s.dtype() {
        DataType::String => (Kind::Text, s.str()?.clone()),
        DataType::Boolean => (Kind::Boolean, s.cast(&DataType::String)?.str()?.clone()),
        DataType::Date => {
            let days = s.date()?.physical();
            let mut buf = String::with_capacity(10);
            let text: StringChunked = days
                .iter()
                .map(|d| {
                    d.map(|d| {
                        buf.clear();
                        iso_date(d, &mut buf);
                        buf.clone()
                    })
                })
                .collect();
            (Kind::Date, text)
        }
        DataType::Datetime(_, _) => (
            Kind::DateTime,
            s.datetime()?.to_string("%Y-%m-%dT%H:%M:%S%.f")?,
        ),
        DataType::Decimal(_, scale) => {
            let text = s.cast(&DataType::String)?.str()?.clone();
            let text = if *scale == DEFAULT_DECIMAL_SCALE as usize {
                text.apply_values(|v| std::borrow::Cow::Owned(trim_zeros(v).to_string()))
            } else {
                text
            };
            (Kind::Number, text)
        }
        d if d.is_primitive_numeric() => (Kind::Number, s.cast(&DataType::String)?.str()?.clone()),
        DataType::Null => (Kind::Text, s.cast(&DataType::String)?.str()?.clone()),
        _ => (Kind::Text, s.cast(&DataType::String)?.str()?.clone()),
    };
    Ok(TextColumn { kind, text })
}

/// `12.500000` → `12.5`, `29.000000` → `29`.
fn trim_zeros(v: &str) -> &str {
    if !v.contains('.') {
        return v;
    }
    let t = v.trim_end_matches('0');
    t.strip_suffix('.').unwrap_or(t)
}

/// Nested JSON objects from dotted column names.
#[derive(Debug, Default)]
pub struct Tree {
    nodes: Vec<Node>,
}

#[derive(Debug)]
enum Node {
    Leaf { key: String, col: usize },
    Object { key: String, children: Vec<Node> },
}

impl Tree {
    pub fn new(names: &[String]) -> Self {
        let mut nodes: Vec<Node> = Vec::new();
        for (col, name) in names.iter().enumerate() {
            let parts: Vec<&str> = name.split('.').collect();
            if parts.iter().any(|p| p.is_empty()) || !insert(&mut nodes, &parts, col) {
                // Not nestable (an empty part, or a value where an object is): kept flat.
                nodes.push(Node::Leaf {
                    key: name.clone(),
                    col,
                });
            }
        }
        Tree { nodes }
    }
}

fn insert(nodes: &mut Vec<Node>, parts: &[&str], col: usize) -> bool {
    let Some((first, rest)) = parts.split_first() else {
        return false;
    };
    let existing = nodes.iter_mut().find(|n| match n {
        Node::Leaf { key, .. } | Node::Object { key, .. } => key == first,
    });
    match (existing, rest.is_empty()) {
        (None, true) => {
            nodes.push(Node::Leaf {
                key: first.to_string(),
                col,
            });
            true
        }
        (None, false) => {
            let mut children = Vec::new();
            let ok = insert(&mut children, rest, col);
            nodes.push(Node::Object {
                key: first.to_string(),
                children,
            });
            ok
        }
        (Some(Node::Object { children, .. }), false) => insert(children, rest, col),
        _ => false,
    }
}

/// A target file's encoder.
pub enum Encoder<W: Write> {
    Csv {
        writer: Box<csv::Writer<Transcode<W>>>,
        options: CsvOptions,
    },
    Json {
        out: W,
        records: u64,
    },
    Ndjson {
        out: W,
    },
    /// An XLSX target's rows, appended to its spill file (the workbook is built at the end).
    Xlsx(Spill<W>),
}

impl<W: Write> Encoder<W> {
    /// An encoder over `out`; `fresh` for a new file (a CSV byte order mark goes first).
    pub fn new(format: Format, options: CsvOptions, out: W, fresh: bool) -> io::Result<Self> {
        Ok(match format {
            Format::Csv | Format::Tsv => {
                let mut out = Transcode::new(out, options.encoding);
                if fresh && options.bom {
                    out.write_all("\u{feff}".as_bytes())?;
                }
                let writer = csv::WriterBuilder::new()
                    .delimiter(options.delimiter)
                    .quote_style(match options.quote_style {
                        QuoteStyle::Necessary => csv::QuoteStyle::Necessary,
                        QuoteStyle::Always => csv::QuoteStyle::Always,
                        QuoteStyle::NonNumeric => csv::QuoteStyle::NonNumeric,
                        QuoteStyle::Never => csv::QuoteStyle::Never,
                    })
                    .terminator(if options.crlf {
                        csv::Terminator::CRLF
                    } else {
                        csv::Terminator::Any(b'\n')
                    })
                    .has_headers(false)
                    .buffer_capacity(64 * 1024)
                    .from_writer(out);
                Encoder::Csv {
                    writer: Box::new(writer),
                    options,
                }
            }
            Format::Json => Encoder::Json { out, records: 0 },
            Format::Ndjson => Encoder::Ndjson { out },
            Format::Xlsx => Encoder::Xlsx(Spill::new(out)),
        })
    }

    /// Starts a new file: the header (CSV) or the array's `[` (JSON).
    pub fn start(&mut self, names: &[String]) -> io::Result<()> {
        match self {
            Encoder::Csv { writer, options } => {
                if options.header {
                    writer.write_record(names).map_err(csv_error)?;
                }
                Ok(())
            }
            Encoder::Json { out, .. } => out.write_all(b"["),
            Encoder::Ndjson { .. } | Encoder::Xlsx(_) => Ok(()),
        }
    }

    /// Continues a file reopened for appending, which already holds `records` records.
    pub fn resume(&mut self, records: u64) {
        if let Encoder::Json { records: r, .. } = self {
            *r = records;
        }
    }

    /// Writes one record.
    pub fn record(
        &mut self,
        values: &[Option<&str>],
        kinds: &[Kind],
        tree: &Tree,
    ) -> io::Result<()> {
        match self {
            Encoder::Csv { writer, options } => {
                for v in values {
                    writer
                        .write_field(v.unwrap_or(&options.null))
                        .map_err(csv_error)?;
                }
                writer.write_record(None::<&[u8]>).map_err(csv_error)
            }
            Encoder::Json { out, records } => {
                out.write_all(if *records == 0 { b"\n" } else { b",\n" })?;
                *records += 1;
                object(out, &tree.nodes, values, kinds)
            }
            Encoder::Ndjson { out } => {
                object(out, &tree.nodes, values, kinds)?;
                out.write_all(b"\n")
            }
            Encoder::Xlsx(spill) => spill.record(values, kinds),
        }
    }

    /// Ends the file (a JSON array's `]`).
    pub fn finish(&mut self) -> io::Result<()> {
        match self {
            Encoder::Json { out, records } => {
                out.write_all(if *records == 0 { b"]\n" } else { b"\n]\n" })
            }
            _ => Ok(()),
        }
    }

    /// Flushes and gives the writer back.
    pub fn into_inner(self) -> io::Result<W> {
        match self {
            Encoder::Csv { writer, .. } => writer
                .into_inner()
                .map_err(|e| e.into_error())?
                .into_inner(),
            Encoder::Json { out, .. } | Encoder::Ndjson { out } => Ok(out),
            Encoder::Xlsx(spill) => Ok(spill.into_inner()),
        }
    }
}

fn object<W: Write>(
    out: &mut W,
    nodes: &[Node],
    values: &[Option<&str>],
    kinds: &[Kind],
) -> io::Result<()> {
    out.write_all(b"{")?;
    for (i, node) in nodes.iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        match node {
            Node::Leaf { key, col } => {
                string(out, key)?;
                out.write_all(b":")?;
                value(out, values[*col], kinds[*col])?;
            }
            Node::Object { key, children } => {
                string(out, key)?;
                out.write_all(b":")?;
                object(out, children, values, kinds)?;
            }
        }
    }
    out.write_all(b"}")
}

fn value<W: Write>(out: &mut W, v: Option<&str>, kind: Kind) -> io::Result<()> {
    match (v, kind) {
        (None, _) => out.write_all(b"null"),
        (Some(v), Kind::Number) => {
            // JSON has no NaN or infinity.
            if v.bytes()
                .all(|b| b.is_ascii_digit() || b"-+.eE".contains(&b))
                && !v.is_empty()
            {
                out.write_all(v.as_bytes())
            } else {
                out.write_all(b"null")
            }
        }
        (Some(v), Kind::Boolean) => out.write_all(v.as_bytes()),
        (Some(v), Kind::Text | Kind::Date | Kind::DateTime) => string(out, v),
    }
}

fn string<W: Write>(out: &mut W, s: &str) -> io::Result<()> {
    serde_json::to_writer(&mut *out, s).map_err(io::Error::other)
}

fn csv_error(e: csv::Error) -> io::Error {
    match e.into_kind() {
        csv::ErrorKind::Io(e) => e,
        other => io::Error::other(format!("{other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_dates_match_chrono() {
        let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch");
        for days in (-800_000..800_000)
            .step_by(997)
            .chain([0, -1, 59, 60, 11_016, 19_782])
        {
            let mut s = String::new();
            iso_date(days, &mut s);
            let expected = epoch + chrono::Duration::days(days as i64);
            assert_eq!(s, expected.format("%Y-%m-%d").to_string(), "{days}");
        }
    }
}
