//! Target file formats: one file per format, behind [`Encode`].
//!
//! A format turns records into the bytes of one file: [`csv`] (CSV and TSV), [`json`] (JSON and
//! NDJSON), [`xlsx`] (workbooks, built at the end from a spill of their records); database
//! targets are the load stage's (`src/load/`). Which rows
//! reach a file, its path and when it is opened, closed or finished are the sink's business
//! ([`super::Sinks`]); the values arrive as text or typed cells from the projection
//! ([`crate::project`]), which has already rejected what a format cannot hold.
//!
//! Adding a file format is adding its file here and one arm in [`encoder`] (and its name in
//! [`crate::plan::Format`], where the mapping's checks of its options live).

pub mod csv;
mod csv_writer;
pub mod json;
mod swar;
mod transcode;
pub mod xlsx;

use std::io::{self, Write};

pub use json::Tree;

use crate::plan::{CsvOptions, Format};
use crate::project::cells::{Cell, Cells};
use crate::project::text::Kind;

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

/// What the sink asks of a target file's format.
///
/// `tree` is the shape of nested records ([`Tree`]); formats without nesting ignore it.
pub trait Encode<W: Write> {
    /// Starts a new file: a CSV header, a JSON array's `[` inside its envelope.
    fn start(&mut self, names: &[String]) -> io::Result<()>;

    /// Continues a file reopened for appending, which already holds `records` records.
    fn resume(&mut self, _records: u64) {}

    /// Writes one record from its values' text. In JSON it is a group of one row: each array
    /// column gives one item, or none when the item's values are all null.
    fn record(&mut self, values: &[Option<&str>], kinds: &[Kind], tree: &Tree) -> io::Result<()>;

    /// Writes row `i` of `cells` as one record, byte for byte what [`record`](Self::record)
    /// writes from its text; a format may write typed values straight from the columns.
    fn record_cells(
        &mut self,
        cells: &[Cells],
        i: usize,
        kinds: &[Kind],
        tree: &Tree,
    ) -> io::Result<()> {
        record_as_text(self, cells, i, kinds, tree)
    }

    /// Writes one record for a group of rows (one key's rows, in order). Record-level values
    /// come from the first row; each array of the tree gets one item per row, except rows
    /// whose item values are all null (a key with no lines: `"lines":[]`). A group of no rows
    /// writes nothing. A format without records of records writes the rows, one record each.
    fn group(
        &mut self,
        rows: &[Vec<Option<String>>],
        kinds: &[Kind],
        tree: &Tree,
    ) -> io::Result<()>;

    /// Ends the file (a JSON array's `]`, and its envelope).
    fn finish(&mut self) -> io::Result<()> {
        Ok(())
    }

    /// Flushes and gives the writer back.
    fn into_inner(self: Box<Self>) -> io::Result<W>;
}

/// The encoder of `format` over `out`; `fresh` for a new file (a CSV byte order mark goes
/// first). `options` apply to CSV and TSV; `envelope` to JSON. The one place a format is
/// registered.
pub fn encoder<W: Write + Send + 'static>(
    format: Format,
    options: &CsvOptions,
    envelope: Option<&str>,
    out: W,
    fresh: bool,
) -> io::Result<Box<dyn Encode<W> + Send>> {
    Ok(match format {
        Format::Csv | Format::Tsv => Box::new(csv::Csv::new(options.clone(), out, fresh)?),
        Format::Json => Box::new(json::Records::json(out, envelope)),
        Format::Ndjson => Box::new(json::Records::ndjson(out)),
        Format::Xlsx => Box::new(xlsx::Xlsx::new(out)),
        Format::Sqlite | Format::Postgres => {
            return Err(io::Error::other(
                "a database target loads a table, not a stream of records",
            ));
        }
    })
}

/// Whether `format`'s records go to a spill file first, built into the target's file when it
/// is finished ([`xlsx::build`]).
pub fn built_from_spill(format: Format) -> bool {
    format == Format::Xlsx
}

/// Writes row `i` of `cells` through its text: the way of formats that write no typed value
/// straight from a column.
pub fn record_as_text<W: Write, E: Encode<W> + ?Sized>(
    encoder: &mut E,
    cells: &[Cells],
    i: usize,
    kinds: &[Kind],
    tree: &Tree,
) -> io::Result<()> {
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

/// Records are handed to the file in blocks of at least this many bytes.
pub(crate) const BLOCK: usize = 64 * 1024;

/// Hands the buffered records to `out` once they make a block.
#[inline]
pub(crate) fn hand_on<W: Write>(out: &mut W, buf: &mut Vec<u8>) -> io::Result<()> {
    if buf.len() >= BLOCK {
        out.write_all(buf)?;
        buf.clear();
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::plan::DEFAULT_DECIMAL_SCALE;
    use crate::project::text::TextColumn;
    use polars::prelude::{IntoColumn, NamedFrom, Series, StringChunked};

    /// CSV options with every default: UTF-8, `,`, quotes when needed, a header.
    pub(crate) fn utf8_csv() -> CsvOptions {
        CsvOptions {
            delimiter: b',',
            quote_style: crate::plan::QuoteStyle::Necessary,
            crlf: false,
            bom: false,
            header: true,
            encoding: encoding_rs::UTF_8,
            null: String::new(),
        }
    }

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
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
            .map(|c| crate::project::text::typed(c, n).expect("typed"))
            .collect();
        let texts = all
            .iter()
            .map(|c| crate::project::text::text(c, n).expect("text"))
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
                let mut ours = encoder(format, &options, None, Vec::new(), true).expect("ours");
                let mut theirs = encoder(format, &options, None, Vec::new(), true).expect("theirs");
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

    fn text_of(e: Box<dyn Encode<Vec<u8>>>) -> String {
        String::from_utf8(e.into_inner().expect("inner")).expect("utf-8")
    }
}
