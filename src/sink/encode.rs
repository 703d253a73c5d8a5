//! Values as text, and the CSV, TSV, JSON and NDJSON encoders.
//!
//! Every output value is first turned into its canonical text, a whole column at a time: ISO
//! dates (`2024-01-31`, `2024-01-31T10:00:00`), `.` as decimal point, decimals exact at their
//! scale (the default scale drops trailing zeros: `12.5`, not `12.500000`), booleans `true` and
//! `false`. JSON keeps the types: numbers and booleans bare, text quoted, null as `null`; a dotted
//! column name (`product.price.amount`) nests objects. For a CSV or JSON target, integers,
//! decimals, dates and booleans may instead stay typed ([`typed`]): the encoder writes the same
//! text straight from the values ([`Encoder::record_cells`]). The CSV and JSON encoders hand their
//! records to the file in blocks.
//!
//! A JSON record may also gather the rows of one group (see [`Tree`] and [`Encoder::group`]):
//! `lines[].sku` columns become an array with one item per row. A JSON file's records may sit
//! under an envelope key (`{"records":[…]}`, see [`Encoder::with_envelope`]).

use std::io::{self, Write};

use polars::prelude::{Column, DataType, PolarsResult, StringChunked, StringChunkedBuilder};

use super::cells::{Cell, Cells, Values};
use super::csv_out::CsvWriter;
use super::transcode::Transcode;
use super::xlsx::Spill;
use crate::plan::{CsvOptions, DEFAULT_DECIMAL_SCALE, Format};

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

/// One output column: its canonical text, or typed values whose canonical text the writer
/// writes straight into the file (see [`Values`]).
pub struct TextColumn {
    pub kind: Kind,
    pub values: Values,
}

/// `days` since 1970-01-01 as `YYYY-MM-DD`, as [`super::cells::date`] writes it (callers cache
/// the text per column).
fn iso_date(days: i32, out: &mut String) {
    let mut bytes = Vec::with_capacity(16);
    super::cells::date(days, &mut bytes);
    out.push_str(&String::from_utf8_lossy(&bytes));
}

/// `c` as `n` values: a literal (one value) is repeated.
pub fn broadcast(c: &Column, n: usize) -> Column {
    if c.len() == n || n == 0 {
        c.clone()
    } else {
        c.new_from_index(0, n)
    }
}

/// The canonical text of a column of `n` values.
pub fn text(c: &Column, n: usize) -> PolarsResult<TextColumn> {
    let c = broadcast(c, n);
    let s = c.as_materialized_series();
    let name = s.name().clone();
    let (kind, text) = match s.dtype() {
        DataType::String => (Kind::Text, s.str()?.clone()),
        DataType::Boolean => (
            Kind::Boolean,
            build(name, s.bool()?.iter(), |v, out| {
                out.push_str(if v { "true" } else { "false" })
            }),
        ),
        DataType::Date => {
            // Dates repeat: each distinct day is formatted once per column (a small cache).
            let mut cache = vec![(i32::MIN, String::new()); 1024];
            let days = s.date()?.physical();
            let text = build(name, days.iter(), |d, out| {
                let slot = &mut cache[d.rem_euclid(1024) as usize];
                if slot.0 != d {
                    slot.1.clear();
                    iso_date(d, &mut slot.1);
                    slot.0 = d;
                }
                out.push_str(&slot.1);
            });
            (Kind::Date, text)
        }
        DataType::Datetime(_, _) => (
            Kind::DateTime,
            s.datetime()?.to_string("%Y-%m-%dT%H:%M:%S%.f")?,
        ),
        DataType::Decimal(_, scale) => {
            let (scale, trim) = (*scale, *scale == DEFAULT_DECIMAL_SCALE as usize);
            let values = s.decimal()?.physical().iter();
            (
                Kind::Number,
                build(name, values, |v, out| decimal_text(v, scale, trim, out)),
            )
        }
        DataType::Int64 => (Kind::Number, integers(name, s.i64()?.iter())),
        DataType::Int32 => (Kind::Number, integers(name, s.i32()?.iter())),
        DataType::UInt32 => (Kind::Number, integers(name, s.u32()?.iter())),
        DataType::UInt64 => (Kind::Number, integers(name, s.u64()?.iter())),
        d if d.is_primitive_numeric() => (Kind::Number, s.cast(&DataType::String)?.str()?.clone()),
        DataType::Null => (Kind::Text, s.cast(&DataType::String)?.str()?.clone()),
        _ => (Kind::Text, s.cast(&DataType::String)?.str()?.clone()),
    };
    Ok(TextColumn {
        kind,
        values: Values::Text(text),
    })
}

/// A column of `n` values for a CSV or JSON target: integers, decimals, dates and booleans stay
/// typed (their text, the same as [`text`] gives, is written when the row is); the rest is text.
pub fn typed(c: &Column, n: usize) -> PolarsResult<TextColumn> {
    let c = broadcast(c, n);
    let s = c.as_materialized_series();
    let (kind, values) = match s.dtype() {
        DataType::Boolean => (Kind::Boolean, Values::Bool(s.bool()?.clone())),
        DataType::Date => (Kind::Date, Values::Date(s.date()?.physical().clone())),
        DataType::Decimal(_, scale) => (
            Kind::Number,
            Values::Decimal {
                values: s.decimal()?.physical().clone(),
                scale: *scale,
                trim: *scale == DEFAULT_DECIMAL_SCALE as usize,
            },
        ),
        DataType::Int64 => (Kind::Number, Values::Int(s.i64()?.clone())),
        DataType::Int32 | DataType::UInt32 => (
            Kind::Number,
            Values::Int(s.cast(&DataType::Int64)?.i64()?.clone()),
        ),
        _ => return text(&c, n),
    };
    Ok(TextColumn { kind, values })
}

/// A text column from `values`: `write` appends each present value's text to a reused buffer.
fn build<T>(
    name: polars::prelude::PlSmallStr,
    values: impl ExactSizeIterator<Item = Option<T>>,
    mut write: impl FnMut(T, &mut String),
) -> StringChunked {
    let mut text = StringChunkedBuilder::new(name, values.len());
    let mut buf = String::with_capacity(48);
    for v in values {
        match v {
            Some(v) => {
                buf.clear();
                write(v, &mut buf);
                text.append_value(&buf);
            }
            None => text.append_null(),
        }
    }
    text.finish()
}

fn integers<T: itoa::Integer>(
    name: polars::prelude::PlSmallStr,
    values: impl ExactSizeIterator<Item = Option<T>>,
) -> StringChunked {
    let mut digits = itoa::Buffer::new();
    build(name, values, |v, out| out.push_str(digits.format(v)))
}

/// A decimal's text from its unscaled value, as polars writes it (`-0.50` at scale 2); `trim`
/// drops trailing fraction zeros and a bare point (`12.5`, `29`).
fn decimal_text(v: i128, scale: usize, trim: bool, out: &mut String) {
    let mut digits = itoa::Buffer::new();
    let d = digits.format(v.unsigned_abs());
    if v < 0 {
        out.push('-');
    }
    if scale == 0 {
        out.push_str(d);
        return;
    }
    let whole = d.len().saturating_sub(scale);
    if whole == 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', scale - d.len()));
    } else {
        out.push_str(&d[..whole]);
        out.push('.');
    }
    out.push_str(&d[whole..]);
    if trim {
        let kept = out.trim_end_matches('0').len();
        out.truncate(kept);
        if out.ends_with('.') {
            out.pop();
        }
    }
}

/// The shape of JSON records, from the column names.
///
/// A dotted name (`product.price.amount`) nests objects. A name with one `[]` segment is an
/// array column: `lines[].sku` puts `sku` in each item of the array `lines`, and the path may go
/// on inside the item (`lines[].price.amount`) or start deeper (`order.lines[].qty`). A record
/// may have several arrays. Keys come in the order of the first column that names them. A name
/// that cannot be placed is kept flat, as one key: an empty part (`a..b`), a name where a value
/// already is (`a` then `a.b`, `lines` then `lines[].sku`), more than one `[]` segment, `[]` not
/// closing a segment, or an array with no item path (`tags[]`).
#[derive(Debug, Default)]
pub struct Tree {
    nodes: Vec<Node>,
    /// A tree without arrays, compiled: a record is each slot's literal JSON (braces, commas,
    /// escaped keys) followed by its column's value, then `tail`.
    flat: Option<Flat>,
}

#[derive(Debug, Default)]
struct Flat {
    slots: Vec<(Vec<u8>, usize)>,
    tail: Vec<u8>,
}

impl Flat {
    /// `None` when the tree has an array.
    fn new(nodes: &[Node]) -> Option<Flat> {
        fn walk(nodes: &[Node], pending: &mut Vec<u8>, slots: &mut Vec<(Vec<u8>, usize)>) -> bool {
            pending.push(b'{');
            for (i, node) in nodes.iter().enumerate() {
                if i > 0 {
                    pending.push(b',');
                }
                // Writing to a Vec cannot fail.
                let _ = string(pending, node.key());
                pending.push(b':');
                match node {
                    Node::Leaf { col, .. } => slots.push((std::mem::take(pending), *col)),
                    Node::Object { children, .. } => {
                        if !walk(children, pending, slots) {
                            return false;
                        }
                    }
                    Node::Array { .. } => return false,
                }
            }
            pending.push(b'}');
            true
        }
        let mut tail = Vec::new();
        let mut slots = Vec::new();
        walk(nodes, &mut tail, &mut slots).then_some(Flat { slots, tail })
    }

    fn write<W: Write, R: Row>(&self, out: &mut W, row: &R, kinds: &[Kind]) -> io::Result<()> {
        for (literal, col) in &self.slots {
            out.write_all(literal)?;
            value(
                out,
                row.cell(*col),
                kinds.get(*col).copied().unwrap_or(Kind::Text),
            )?;
        }
        out.write_all(&self.tail)
    }
}

impl Flat {
    /// [`Flat::write`] for row `i` of `cells`.
    #[inline]
    fn write_cells(&self, out: &mut Vec<u8>, cells: &[Cells], i: usize, kinds: &[Kind]) {
        for (literal, col) in &self.slots {
            out.extend_from_slice(literal);
            let kind = kinds.get(*col).copied().unwrap_or(Kind::Text);
            match cells.get(*col) {
                None => out.extend_from_slice(b"null"),
                // Writing to a Vec cannot fail.
                Some(Cells::Text(a)) => {
                    let _ = value(out, a.get(i), kind);
                }
                Some(typed) => {
                    let quoted = matches!(kind, Kind::Text | Kind::Date | Kind::DateTime);
                    let start = out.len();
                    if quoted {
                        out.push(b'"');
                    }
                    if typed.text(i, out).is_none() {
                        out.truncate(start);
                        out.extend_from_slice(b"null");
                    } else if quoted {
                        out.push(b'"');
                    }
                }
            }
        }
        out.extend_from_slice(&self.tail);
    }
}

#[derive(Debug)]
enum Node {
    Leaf {
        key: String,
        col: usize,
    },
    Object {
        key: String,
        children: Vec<Node>,
    },
    /// One item per row of a group: an object of `items`.
    Array {
        key: String,
        items: Vec<Node>,
    },
}

impl Node {
    fn key(&self) -> &str {
        match self {
            Node::Leaf { key, .. } | Node::Object { key, .. } | Node::Array { key, .. } => key,
        }
    }
}

impl Tree {
    /// One record for a group of rows (not empty); see [`Encoder::group`].
    fn write<W: Write, R: Row>(&self, out: &mut W, rows: &[R], kinds: &[Kind]) -> io::Result<()> {
        match (&self.flat, rows.first()) {
            (Some(flat), Some(row)) => flat.write(out, row, kinds),
            _ => object(out, &self.nodes, rows, kinds),
        }
    }

    pub fn new(names: &[String]) -> Self {
        let mut nodes: Vec<Node> = Vec::new();
        let mut placed = Placed::new();
        for (col, name) in names.iter().enumerate() {
            let parts: Vec<&str> = name.split('.').collect();
            if !placeable(&parts) || !insert(&mut nodes, &parts, col, "", &mut placed) {
                // Kept under its whole name; a later column of that name is not looked up
                // here, as before.
                nodes.push(Node::Leaf {
                    key: name.clone(),
                    col,
                });
            }
        }
        let flat = Flat::new(&nodes);
        Tree { nodes, flat }
    }

    /// Whether some column is an array column (`lines[].sku`): records of such a tree gather
    /// the rows of a group.
    #[cfg(test)]
    pub fn has_arrays(&self) -> bool {
        fn any(nodes: &[Node]) -> bool {
            nodes.iter().any(|n| match n {
                Node::Leaf { .. } => false,
                Node::Object { children, .. } => any(children),
                Node::Array { .. } => true,
            })
        }
        any(&self.nodes)
    }
}

/// No empty part, and at most one `[]`, closing a non-empty part that is not the last.
fn placeable(parts: &[&str]) -> bool {
    let mut arrays = 0;
    for (i, p) in parts.iter().enumerate() {
        if p.is_empty() {
            return false;
        }
        if p.contains("[]") {
            let ok = p
                .strip_suffix("[]")
                .is_some_and(|k| !k.is_empty() && !k.contains("[]"));
            if !ok || i + 1 == parts.len() {
                return false;
            }
            arrays += 1;
        }
    }
    arrays <= 1
}

/// Where each node placed so far stands among its siblings, by its path: a key is found in
/// one look-up, so a header of 100,000 columns builds its tree in linear time.
type Placed = std::collections::HashMap<String, usize>;

/// Places column `col` at `parts` under the node at `path`; false, with nothing changed, when
/// something else is there.
fn insert(
    nodes: &mut Vec<Node>,
    parts: &[&str],
    col: usize,
    path: &str,
    placed: &mut Placed,
) -> bool {
    let Some((first, rest)) = parts.split_first() else {
        return false;
    };
    let key = first.strip_suffix("[]").unwrap_or(first);
    let here = format!("{path}\u{1}{key}");
    let existing = placed.get(&here).and_then(|&i| nodes.get_mut(i));
    if first.ends_with("[]") {
        return match existing {
            Some(Node::Array { items, .. }) => insert(items, rest, col, &here, placed),
            Some(_) => false,
            None => {
                let mut items = Vec::new();
                let ok = insert(&mut items, rest, col, &here, placed);
                placed.insert(here, nodes.len());
                nodes.push(Node::Array {
                    key: key.to_string(),
                    items,
                });
                ok
            }
        };
    }
    match (existing, rest.is_empty()) {
        (None, true) => {
            placed.insert(here, nodes.len());
            nodes.push(Node::Leaf {
                key: first.to_string(),
                col,
            });
            true
        }
        (None, false) => {
            let mut children = Vec::new();
            let ok = insert(&mut children, rest, col, &here, placed);
            placed.insert(here, nodes.len());
            nodes.push(Node::Object {
                key: first.to_string(),
                children,
            });
            ok
        }
        (Some(Node::Object { children, .. }), false) => insert(children, rest, col, &here, placed),
        _ => false,
    }
}

/// One row of values as text, by column.
pub trait Row {
    fn cell(&self, col: usize) -> Option<&str>;
}

impl<S: AsRef<str>> Row for [Option<S>] {
    #[inline]
    fn cell(&self, col: usize) -> Option<&str> {
        self.get(col)?.as_ref().map(AsRef::as_ref)
    }
}

impl<S: AsRef<str>> Row for Vec<Option<S>> {
    #[inline]
    fn cell(&self, col: usize) -> Option<&str> {
        self.as_slice().cell(col)
    }
}

impl<T: Row + ?Sized> Row for &T {
    #[inline]
    fn cell(&self, col: usize) -> Option<&str> {
        (**self).cell(col)
    }
}

/// A target file's encoder.
pub enum Encoder<W: Write> {
    Csv {
        writer: Box<CsvWriter<Transcode<W>>>,
        options: CsvOptions,
    },
    Json {
        out: W,
        /// Records not yet handed to `out`: they go in blocks (see [`BLOCK`]).
        buf: Vec<u8>,
        records: u64,
        /// The keys the records array sits under (`data.items`: `{"data":{"items":[…]}}`);
        /// empty for a bare array.
        envelope: Vec<String>,
    },
    Ndjson {
        out: W,
        buf: Vec<u8>,
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
                let writer =
                    CsvWriter::new(out, options.delimiter, options.quote_style, options.crlf);
                Encoder::Csv {
                    writer: Box::new(writer),
                    options,
                }
            }
            Format::Json => Encoder::Json {
                out,
                buf: Vec::with_capacity(BLOCK + 4096),
                records: 0,
                envelope: Vec::new(),
            },
            Format::Ndjson => Encoder::Ndjson {
                out,
                buf: Vec::with_capacity(BLOCK + 4096),
            },
            Format::Xlsx => Encoder::Xlsx(Spill::new(out)),
        })
    }

    /// Puts a JSON file's records under `path` (`records`, or dotted: `data.items`) instead of
    /// writing a bare array; each part is one key. Other formats ignore it. Set it before
    /// [`start`](Self::start), and again on an encoder reopened to append to such a file.
    pub fn with_envelope(mut self, path: Option<&str>) -> Self {
        if let Encoder::Json { envelope, .. } = &mut self {
            *envelope = path
                .map(|p| p.split('.').map(str::to_string).collect())
                .unwrap_or_default();
        }
        self
    }

    /// Starts a new file: the header (CSV) or the array's `[` (JSON), inside its envelope.
    pub fn start(&mut self, names: &[String]) -> io::Result<()> {
        match self {
            Encoder::Csv { writer, options } => {
                if options.header {
                    writer.record(names.iter().map(|n| n.as_bytes()))?;
                }
                Ok(())
            }
            Encoder::Json { buf, envelope, .. } => {
                for key in envelope.iter() {
                    buf.push(b'{');
                    string(buf, key)?;
                    buf.push(b':');
                }
                buf.push(b'[');
                Ok(())
            }
            Encoder::Ndjson { .. } | Encoder::Xlsx(_) => Ok(()),
        }
    }

    /// Continues a file reopened for appending, which already holds `records` records.
    pub fn resume(&mut self, records: u64) {
        if let Encoder::Json { records: r, .. } = self {
            *r = records;
        }
    }

    /// Writes one record. In JSON it is a group of one row: each array column gives one item,
    /// or none when the item's values are all null.
    pub fn record(
        &mut self,
        values: &[Option<&str>],
        kinds: &[Kind],
        tree: &Tree,
    ) -> io::Result<()> {
        match self {
            Encoder::Csv { writer, options } => {
                let null = options.null.as_bytes();
                writer.record(values.iter().map(|v| v.map_or(null, str::as_bytes)))
            }
            Encoder::Xlsx(spill) => spill.record(values, kinds),
            _ => self.group(std::slice::from_ref(&values), kinds, tree),
        }
    }

    /// Writes row `i` of `cells` as one record, as [`record`](Self::record) writes its text:
    /// CSV records and JSON records without arrays are written straight from the columns,
    /// typed values included; other records go through their text.
    pub fn record_cells(
        &mut self,
        cells: &[Cells],
        i: usize,
        kinds: &[Kind],
        tree: &Tree,
    ) -> io::Result<()> {
        match (self, &tree.flat) {
            (Encoder::Csv { writer, options }, _) => {
                let null = options.null.as_bytes();
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
            (
                Encoder::Json {
                    out, buf, records, ..
                },
                Some(flat),
            ) => {
                if *records > 0 {
                    buf.push(b',');
                }
                buf.push(b'\n');
                *records += 1;
                flat.write_cells(buf, cells, i, kinds);
                hand_on(out, buf)
            }
            (Encoder::Ndjson { out, buf }, Some(flat)) => {
                flat.write_cells(buf, cells, i, kinds);
                buf.push(b'\n');
                hand_on(out, buf)
            }
            (encoder, _) => {
                let mut text = Vec::new();
                let mut spans = Vec::with_capacity(cells.len());
                for cell in cells {
                    let start = text.len();
                    spans.push(match cell.text(i, &mut text) {
                        None => None,
                        Some(Cell::Text(v)) => Some(Ok(v)),
                        Some(Cell::Written) => Some(Err(start..text.len())),
                    });
                }
                let text = std::str::from_utf8(&text).map_err(io::Error::other)?;
                let values: Vec<Option<&str>> = spans
                    .into_iter()
                    .map(|s| s.map(|s| s.unwrap_or_else(|r| text.get(r).unwrap_or_default())))
                    .collect();
                encoder.record(&values, kinds, tree)
            }
        }
    }

    /// Writes one record for a group of rows (one key's rows, in order). Record-level values
    /// come from the first row; each array of the tree gets one item per row, except rows whose
    /// item values are all null (a key with no lines: `"lines":[]`). A group of no rows writes
    /// nothing. CSV has no records of records: it writes the group's rows, one line each.
    pub fn group<R: Row>(&mut self, rows: &[R], kinds: &[Kind], tree: &Tree) -> io::Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        match self {
            Encoder::Csv { writer, options } => {
                let null = options.null.as_bytes();
                for row in rows {
                    writer.record(
                        (0..kinds.len()).map(|col| row.cell(col).map_or(null, str::as_bytes)),
                    )?;
                }
                Ok(())
            }
            Encoder::Json {
                out, buf, records, ..
            } => {
                buf.extend_from_slice(if *records == 0 { b"\n" } else { b",\n" });
                *records += 1;
                tree.write(buf, rows, kinds)?;
                hand_on(out, buf)
            }
            Encoder::Ndjson { out, buf } => {
                tree.write(buf, rows, kinds)?;
                buf.push(b'\n');
                hand_on(out, buf)
            }
            Encoder::Xlsx(spill) => {
                let mut values = Vec::with_capacity(kinds.len());
                for row in rows {
                    values.clear();
                    values.extend((0..kinds.len()).map(|c| row.cell(c)));
                    spill.record(&values, kinds)?;
                }
                Ok(())
            }
        }
    }

    /// Ends the file (a JSON array's `]`, and its envelope).
    pub fn finish(&mut self) -> io::Result<()> {
        match self {
            Encoder::Json {
                buf,
                records,
                envelope,
                ..
            } => {
                buf.extend_from_slice(if *records == 0 { b"]" } else { b"\n]" });
                for _ in envelope.iter() {
                    buf.push(b'}');
                }
                buf.push(b'\n');
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Flushes and gives the writer back.
    pub fn into_inner(self) -> io::Result<W> {
        match self {
            Encoder::Csv { writer, .. } => writer.into_inner()?.into_inner(),
            Encoder::Json { mut out, buf, .. } | Encoder::Ndjson { mut out, buf } => {
                out.write_all(&buf)?;
                Ok(out)
            }
            Encoder::Xlsx(spill) => Ok(spill.into_inner()),
        }
    }
}

/// Records are handed to the file in blocks of at least this many bytes.
const BLOCK: usize = 64 * 1024;

/// Hands the buffered records to `out` once they make a block.
#[inline]
fn hand_on<W: Write>(out: &mut W, buf: &mut Vec<u8>) -> io::Result<()> {
    if buf.len() >= BLOCK {
        out.write_all(buf)?;
        buf.clear();
    }
    Ok(())
}

/// The object of `nodes` for a group of `rows` (not empty): leaves from the first row, one
/// array item per row.
fn object<W: Write, R: Row>(
    out: &mut W,
    nodes: &[Node],
    rows: &[R],
    kinds: &[Kind],
) -> io::Result<()> {
    out.write_all(b"{")?;
    for (i, node) in nodes.iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        string(out, node.key())?;
        out.write_all(b":")?;
        match node {
            Node::Leaf { col, .. } => {
                let v = rows.first().and_then(|r| r.cell(*col));
                value(out, v, kinds.get(*col).copied().unwrap_or(Kind::Text))?;
            }
            Node::Object { children, .. } => object(out, children, rows, kinds)?,
            Node::Array { items, .. } => {
                out.write_all(b"[")?;
                let mut first = true;
                for row in rows {
                    if all_null(items, row) {
                        continue;
                    }
                    if !first {
                        out.write_all(b",")?;
                    }
                    first = false;
                    object(out, items, std::slice::from_ref(row), kinds)?;
                }
                out.write_all(b"]")?;
            }
        }
    }
    out.write_all(b"}")
}

/// Whether every value under `nodes` is null in `row`.
fn all_null<R: Row>(nodes: &[Node], row: &R) -> bool {
    nodes.iter().all(|n| match n {
        Node::Leaf { col, .. } => row.cell(*col).is_none(),
        Node::Object { children, .. } => all_null(children, row),
        Node::Array { items, .. } => all_null(items, row),
    })
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
    // Most text needs no escape: JSON escapes only control characters, `"` and `\`.
    if !json_escapes(s.as_bytes()) {
        out.write_all(b"\"")?;
        out.write_all(s.as_bytes())?;
        return out.write_all(b"\"");
    }
    serde_json::to_writer(&mut *out, s).map_err(io::Error::other)
}

/// Whether `s` has a byte JSON escapes (below 0x20, `"`, `\`).
#[inline]
fn json_escapes(s: &[u8]) -> bool {
    use super::swar::{any, below, has};
    any(
        s,
        |x| below(x, 0x20) | has(x, b'"') | has(x, b'\\'),
        |b| b < 0x20 || b == b'"' || b == b'\\',
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use polars::prelude::{IntoColumn, NamedFrom, Series};

    #[test]
    fn json_escapes_finds_every_byte_to_escape() {
        for b in 0u8..=255 {
            let escaped = b < 0x20 || b == b'"' || b == b'\\';
            for at in [0usize, 3, 7, 8, 13, 15, 16, 20] {
                let mut s = vec![b'a'; 21];
                s[at] = b;
                assert_eq!(json_escapes(&s), escaped, "byte {b:#x} at {at}");
            }
        }
        assert!(!json_escapes("Écharpe en laine – 100 % 🧣".as_bytes()));
        assert!(!json_escapes(b""));
    }

    /// Typed decimals are written as `decimal_text` writes them, whether their unscaled value fits
    /// 64 bits or not.
    #[test]
    fn typed_decimals_are_written_as_their_text_on_both_sides_of_64_bits() {
        let big = i128::from(u64::MAX);
        for v in [
            0,
            1,
            -1,
            5,
            -50,
            1234,
            big - 1,
            big,
            big + 1,
            -big,
            -big - 1,
            i128::MAX,
            i128::MIN + 1,
            i128::MIN,
        ] {
            for scale in [0, 1, 2, 6, 19, 20, 38] {
                for trim in [false, true] {
                    let mut reference = String::new();
                    decimal_text(v, scale, trim, &mut reference);
                    let mut typed = Vec::new();
                    super::super::cells::decimal(v, scale, trim, &mut typed);
                    assert_eq!(
                        String::from_utf8_lossy(&typed),
                        reference,
                        "{v} at scale {scale}, trim {trim}"
                    );
                }
            }
        }
    }

    /// The hand-written texts are polars' own casts (decimals at the default scale without
    /// trailing zeros).
    #[test]
    fn number_and_boolean_texts_match_polars_casts() {
        let cast = |s: &Series| -> Vec<Option<String>> {
            let t = s.cast(&DataType::String).expect("cast");
            t.str()
                .expect("str")
                .iter()
                .map(|v| v.map(str::to_string))
                .collect()
        };
        let ours = |s: &Series| -> Vec<Option<String>> {
            let t = super::text(&s.clone().into_column(), s.len()).expect("text");
            t.values
                .to_text()
                .iter()
                .map(|v| v.map(str::to_string))
                .collect()
        };
        let ints = Series::new(
            "i".into(),
            [
                Some(0i64),
                Some(-1),
                None,
                Some(i64::MIN),
                Some(i64::MAX),
                Some(1234),
            ],
        );
        assert_eq!(ours(&ints), cast(&ints));
        let bools = Series::new("b".into(), [Some(true), None, Some(false)]);
        assert_eq!(ours(&bools), cast(&bools));
        let texts = [
            "0",
            "-0.5",
            "0.05",
            "-12.34",
            "123456789.99",
            "-0.01",
            "7",
            "1e3",
        ];
        for scale in [0usize, 2, DEFAULT_DECIMAL_SCALE as usize, 9] {
            let dec = Series::new("d".into(), texts.map(Some).to_vec())
                .cast(&DataType::Decimal(crate::plan::DECIMAL_PRECISION, scale))
                .expect("decimal");
            let mut expected = cast(&dec);
            if scale == DEFAULT_DECIMAL_SCALE as usize {
                for v in expected.iter_mut().flatten() {
                    if v.contains('.') {
                        let t = v.trim_end_matches('0');
                        *v = t.strip_suffix('.').unwrap_or(t).to_string();
                    }
                }
            }
            assert_eq!(ours(&dec), expected, "scale {scale}");
        }
    }

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

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    fn encoder(format: Format, out: Vec<u8>, fresh: bool) -> Encoder<Vec<u8>> {
        let options = CsvOptions {
            delimiter: b',',
            quote_style: crate::plan::QuoteStyle::Necessary,
            crlf: false,
            bom: false,
            header: true,
            encoding: encoding_rs::UTF_8,
            null: String::new(),
        };
        Encoder::new(format, options, out, fresh).expect("encoder")
    }

    fn text(e: Encoder<Vec<u8>>) -> String {
        String::from_utf8(e.into_inner().expect("inner")).expect("utf-8")
    }

    fn row(values: &[Option<&str>]) -> Vec<Option<String>> {
        values.iter().map(|v| v.map(str::to_string)).collect()
    }

    /// An order with record-level fields nested two deep, two arrays, an array item nesting an
    /// object, and an item column placed after a record-level one.
    fn order() -> (Tree, Vec<Kind>) {
        use Kind::*;
        let tree = Tree::new(&names(&[
            "order.id",
            "order.customer.name",
            "total",
            "lines[].sku",
            "lines[].price.amount",
            "lines[].price.currency",
            "payments[].amount",
            "paid",
            "lines[].qty",
        ]));
        let kinds = vec![
            Text, Text, Number, Text, Number, Text, Number, Boolean, Number,
        ];
        (tree, kinds)
    }

    type Rows = Vec<Vec<Option<String>>>;

    /// Two orders: `A1` with two lines and two payments over three rows, `B2` with none.
    fn order_rows() -> (Rows, Rows) {
        let a = vec![
            row(&[
                Some("A1"),
                Some("Ann \"A\""),
                Some("12.5"),
                Some("S1"),
                Some("3.5"),
                Some("EUR"),
                None,
                Some("true"),
                Some("2"),
            ]),
            // Record-level values of later rows are not read.
            row(&[
                Some("A1"),
                Some("Bob"),
                Some("99"),
                Some("S2"),
                None,
                None,
                Some("12.5"),
                Some("false"),
                Some("1"),
            ]),
            // No line on this row: no item in `lines`, but a payment.
            row(&[
                Some("A1"),
                Some("Ann"),
                Some("12.5"),
                None,
                None,
                None,
                Some("7"),
                Some("true"),
                None,
            ]),
        ];
        let b = vec![row(&[
            Some("B2"),
            None,
            Some("NaN"),
            None,
            None,
            None,
            None,
            None,
            None,
        ])];
        (a, b)
    }

    const ORDER_A: &str = concat!(
        r#"{"order":{"id":"A1","customer":{"name":"Ann \"A\""}},"total":12.5,"#,
        r#""lines":[{"sku":"S1","price":{"amount":3.5,"currency":"EUR"},"qty":2},"#,
        r#"{"sku":"S2","price":{"amount":null,"currency":null},"qty":1}],"#,
        r#""payments":[{"amount":12.5},{"amount":7}],"paid":true}"#
    );
    const ORDER_B: &str = concat!(
        r#"{"order":{"id":"B2","customer":{"name":null}},"total":null,"#,
        r#""lines":[],"payments":[],"paid":null}"#
    );

    #[test]
    fn a_group_is_one_json_record_with_its_rows_as_array_items() {
        let (tree, kinds) = order();
        assert!(tree.has_arrays());
        let (a, b) = order_rows();
        let mut e = encoder(Format::Json, Vec::new(), true);
        e.start(&[]).expect("start");
        e.group(&a, &kinds, &tree).expect("a");
        e.group(&b, &kinds, &tree).expect("b");
        e.group::<Vec<Option<String>>>(&[], &kinds, &tree)
            .expect("empty");
        e.finish().expect("finish");
        assert_eq!(text(e), format!("[\n{ORDER_A},\n{ORDER_B}\n]\n"));

        let mut e = encoder(Format::Ndjson, Vec::new(), true);
        e.start(&[]).expect("start");
        e.group(&a, &kinds, &tree).expect("a");
        // Borrowed rows work as well as owned ones.
        let borrowed: Vec<Vec<Option<&str>>> = b
            .iter()
            .map(|r| r.iter().map(|v| v.as_deref()).collect())
            .collect();
        e.group(&borrowed, &kinds, &tree).expect("b");
        e.finish().expect("finish");
        assert_eq!(text(e), format!("{ORDER_A}\n{ORDER_B}\n"));
    }

    #[test]
    fn a_single_record_with_arrays_is_a_group_of_one_row() {
        let (tree, kinds) = order();
        let (a, _) = order_rows();
        let values: Vec<Option<&str>> = a[2].iter().map(|v| v.as_deref()).collect();
        let mut e = encoder(Format::Ndjson, Vec::new(), true);
        e.record(&values, &kinds, &tree).expect("record");
        assert_eq!(
            text(e),
            concat!(
                r#"{"order":{"id":"A1","customer":{"name":"Ann"}},"total":12.5,"lines":[],"#,
                r#""payments":[{"amount":7}],"paid":true}"#,
                "\n"
            )
        );
    }

    #[test]
    fn arrays_nest_under_objects_and_unplaceable_names_stay_flat() {
        let tree = Tree::new(&names(&[
            "order.id",
            "order.lines[].qty",
            "a[].b[].c",
            "tags[]",
            "x",
            "x[].y",
            "order.lines[].unit",
            "m[]n.o",
            "[].p",
        ]));
        assert!(tree.has_arrays());
        let rows = vec![
            row(&[
                Some("1"),
                Some("2"),
                Some("c"),
                Some("t"),
                Some("x"),
                Some("y"),
                Some("kg"),
                Some("n"),
                Some("p"),
            ]),
            row(&[
                Some("9"),
                Some("3"),
                None,
                None,
                None,
                None,
                None,
                None,
                None,
            ]),
        ];
        let kinds = vec![Kind::Number; 9];
        let mut e = encoder(Format::Ndjson, Vec::new(), true);
        e.group(&rows, &kinds, &tree).expect("group");
        assert_eq!(
            text(e),
            concat!(
                r#"{"order":{"id":1,"lines":[{"qty":2,"unit":null},{"qty":3,"unit":null}]},"#,
                r#""a[].b[].c":null,"tags[]":null,"x":null,"x[].y":null,"m[]n.o":null,"[].p":null}"#,
                "\n"
            )
        );
        assert!(!Tree::new(&names(&["a", "b.c", "tags[]"])).has_arrays());
    }

    fn envelope_file(
        envelope: Option<&str>,
        records: usize,
        reopen_after: Option<usize>,
    ) -> String {
        let tree = Tree::new(&names(&["id", "name"]));
        let kinds = [Kind::Number, Kind::Text];
        let values = [[Some("1"), Some("a")], [Some("2"), None]];
        let mut e = encoder(Format::Json, Vec::new(), true).with_envelope(envelope);
        e.start(&[]).expect("start");
        for (i, v) in values.iter().take(records).enumerate() {
            if reopen_after == Some(i) {
                // Closed, then reopened to append, as when the open-file cap is reached.
                let out = e.into_inner().expect("inner");
                e = encoder(Format::Json, out, false).with_envelope(envelope);
                e.resume(i as u64);
            }
            e.record(v, &kinds, &tree).expect("record");
        }
        if reopen_after == Some(records) {
            let out = e.into_inner().expect("inner");
            e = encoder(Format::Json, out, false).with_envelope(envelope);
            e.resume(records as u64);
        }
        e.finish().expect("finish");
        text(e)
    }

    #[test]
    fn envelopes_wrap_the_records_array() {
        let r1 = r#"{"id":1,"name":"a"}"#;
        let r2 = r#"{"id":2,"name":null}"#;
        let cases: [(Option<&str>, [String; 3]); 3] = [
            (
                None,
                [
                    "[]\n".into(),
                    format!("[\n{r1}\n]\n"),
                    format!("[\n{r1},\n{r2}\n]\n"),
                ],
            ),
            (
                Some("records"),
                [
                    "{\"records\":[]}\n".into(),
                    format!("{{\"records\":[\n{r1}\n]}}\n"),
                    format!("{{\"records\":[\n{r1},\n{r2}\n]}}\n"),
                ],
            ),
            (
                Some("data.items"),
                [
                    "{\"data\":{\"items\":[]}}\n".into(),
                    format!("{{\"data\":{{\"items\":[\n{r1}\n]}}}}\n"),
                    format!("{{\"data\":{{\"items\":[\n{r1},\n{r2}\n]}}}}\n"),
                ],
            ),
        ];
        for (envelope, expected) in &cases {
            for (records, want) in expected.iter().enumerate() {
                let got = envelope_file(*envelope, records, None);
                assert_eq!(&got, want, "{envelope:?}, {records} records");
                serde_json::from_str::<serde_json::Value>(&got).expect("valid JSON");
                for reopen in 0..=records {
                    assert_eq!(
                        &envelope_file(*envelope, records, Some(reopen)),
                        want,
                        "{envelope:?}, {records} records, reopened after {reopen}"
                    );
                }
            }
        }
        // NDJSON has no envelope.
        let mut e = encoder(Format::Ndjson, Vec::new(), true).with_envelope(Some("records"));
        e.start(&[]).expect("start");
        e.finish().expect("finish");
        assert_eq!(text(e), "");
    }

    /// Columns of every kind, typed (as a CSV or JSON target gets them) and as text (as the
    /// encoders were handed them before), with a text column in two chunks.
    fn mixed_columns(
        ints: &[Option<i64>],
        decimals: &[Option<i64>],
        scale: usize,
        dates: &[Option<i32>],
        bools: &[Option<bool>],
        texts: &[Option<String>],
    ) -> (Vec<TextColumn>, Vec<TextColumn>) {
        use polars::prelude::{
            ChunkedArray, Int32Chunked, Int128Type, IntoSeries, NewChunkedArray,
        };
        let n = ints.len();
        let ints = Series::new("i".into(), ints.to_vec()).into_column();
        let narrow = Series::new(
            "n".into(),
            decimals
                .iter()
                .map(|v| v.map(|v| v as i32))
                .collect::<Vec<_>>(),
        )
        .into_column();
        let decimals = ChunkedArray::<Int128Type>::from_iter_options(
            "d".into(),
            decimals.iter().map(|v| v.map(i128::from)),
        )
        .into_decimal(crate::plan::DECIMAL_PRECISION, scale)
        .expect("decimal")
        .into_series()
        .into_column();
        let dates = Int32Chunked::from_iter_options("t".into(), dates.iter().copied())
            .into_date()
            .into_series()
            .into_column();
        let bools = Series::new("b".into(), bools.to_vec()).into_column();
        let half = texts.len() / 2;
        let mut text = StringChunked::from_iter_options(
            "s".into(),
            texts[..half].iter().map(|v| v.as_deref()),
        );
        text.append(&StringChunked::from_iter_options(
            "s".into(),
            texts[half..].iter().map(|v| v.as_deref()),
        ))
        .expect("append");
        let text = text.into_series().into_column();
        let all = [&ints, &text, &decimals, &dates, &narrow, &bools];
        let typed = all
            .iter()
            .map(|c| super::typed(c, n).expect("typed"))
            .collect();
        let texts = all
            .iter()
            .map(|c| super::text(c, n).expect("text"))
            .collect();
        (typed, texts)
    }

    /// Integers, unscaled decimals and their scale, days, booleans and texts, one per row.
    type Mixed = (
        Vec<Option<i64>>,
        Vec<Option<i64>>,
        usize,
        Vec<Option<i32>>,
        Vec<Option<bool>>,
        Vec<Option<String>>,
    );

    fn mixed_strategy() -> impl Strategy<Value = Mixed> {
        (0usize..12).prop_flat_map(|n| {
            (
                proptest::collection::vec(proptest::option::of(any::<i64>()), n),
                proptest::collection::vec(
                    proptest::option::of(prop_oneof![-1_000_000i64..1_000_000, any::<i64>()]),
                    n,
                ),
                prop_oneof![
                    Just(0usize),
                    Just(2),
                    Just(DEFAULT_DECIMAL_SCALE as usize),
                    Just(20)
                ],
                proptest::collection::vec(
                    proptest::option::of(prop_oneof![-800_000i32..800_000, any::<i32>()]),
                    n,
                ),
                proptest::collection::vec(proptest::option::of(any::<bool>()), n),
                proptest::collection::vec(
                    proptest::option::of("[a-c0-9 ,;\"\t\r\n.é\\\\=-]{0,20}"),
                    n,
                ),
            )
        })
    }

    use proptest::prelude::*;

    proptest! {
        /// Typed values give the text `text` gives, and records written from typed columns are
        /// byte for byte the records written from their text, in every format and CSV style.
        #[test]
        fn typed_records_match_records_of_their_text(
            (ints, decimals, scale, dates, bools, texts) in mixed_strategy(),
            delimiter in prop_oneof![Just(b','), Just(b';'), Just(b'\t'), Just(b'.'), Just(b'1')],
            style in prop_oneof![
                Just(crate::plan::QuoteStyle::Necessary),
                Just(crate::plan::QuoteStyle::Always),
                Just(crate::plan::QuoteStyle::NonNumeric),
                Just(crate::plan::QuoteStyle::Never),
            ],
            null in prop_oneof![Just(String::new()), Just("NULL".to_string()), Just("a,b".to_string())],
            nested in any::<bool>(),
            arrays in any::<bool>(),
        ) {
            let (typed, text) = mixed_columns(&ints, &decimals, scale, &dates, &bools, &texts);
            for (t, x) in typed.iter().zip(&text) {
                prop_assert_eq!(t.kind, x.kind);
                let a: Vec<Option<String>> =
                    t.values.to_text().iter().map(|v| v.map(str::to_string)).collect();
                let b: Vec<Option<String>> =
                    x.values.to_text().iter().map(|v| v.map(str::to_string)).collect();
                prop_assert_eq!(a, b);
            }
            let kinds: Vec<Kind> = typed.iter().map(|c| c.kind).collect();
            let names = if arrays {
                names(&["o.id", "lines[].s", "o.d", "t", "lines[].n", "b"])
            } else if nested {
                names(&["o.id", "s", "o.p.d", "t", "o.p.n", "b"])
            } else {
                names(&["id", "s", "d", "t", "n", "b"])
            };
            let tree = Tree::new(&names);
            let cells: Vec<Cells> = typed.iter().map(|c| Cells::new(&c.values)).collect();
            let arrays: Vec<Vec<Option<String>>> = text
                .iter()
                .map(|c| c.values.to_text().iter().map(|v| v.map(str::to_string)).collect())
                .collect();
            for format in [Format::Csv, Format::Json, Format::Ndjson] {
                let options = CsvOptions {
                    delimiter,
                    quote_style: style,
                    crlf: false,
                    bom: false,
                    header: true,
                    encoding: encoding_rs::UTF_8,
                    null: null.clone(),
                };
                let mut ours = Encoder::new(format, options.clone(), Vec::new(), true).expect("ours");
                let mut theirs = Encoder::new(format, options, Vec::new(), true).expect("theirs");
                ours.start(&names).expect("start");
                theirs.start(&names).expect("start");
                for i in 0..ints.len() {
                    ours.record_cells(&cells, i, &kinds, &tree).expect("cells");
                    let values: Vec<Option<&str>> =
                        arrays.iter().map(|a| a[i].as_deref()).collect();
                    theirs.record(&values, &kinds, &tree).expect("values");
                }
                ours.finish().expect("finish");
                theirs.finish().expect("finish");
                prop_assert_eq!(text_of(ours), text_of(theirs), "{:?}", format);
            }
        }
    }

    fn text_of(e: Encoder<Vec<u8>>) -> String {
        String::from_utf8(e.into_inner().expect("inner")).expect("utf-8")
    }
}
