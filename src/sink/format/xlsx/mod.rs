//! XLSX targets: a spill file per workbook, then one streaming build into typed cells.
//!
//! Files: `spill.rs` (the spill format), `cells.rs` (what a value becomes in a sheet),
//! `sheets.rs` (sheet names); the build is here.
//!
//! `xlsx` owns the bytes of a workbook target and nothing else: which rows reach it, its path,
//! and when it is finished are the sink's business. A workbook cannot be reopened to append rows,
//! yet the sink closes files and reopens them in append mode to keep at most N open. So rows are
//! first appended to a *spill* file ([`Spill`]), a compact binary log that holds no state outside
//! its bytes: any boundary between two records is a valid place to close it and reopen it with
//! `OpenOptions::append`. When the target is finished, [`build`] reads the spill twice — once to
//! size the columns and count the rows, once to write them — into a workbook written in
//! rust_xlsxwriter's constant memory mode, so memory stays flat whatever the row count.
//!
//! Cells keep their type, and no value is altered silently:
//!
//! - `Number` is a number cell when Excel holds it exactly: at most 15 significant digits, finite
//!   and within Excel's range. Anything else (`12345678901234567`, `0.1234567890123456`, `NaN`)
//!   is written as a text cell with the canonical text unchanged.
//! - `Date` and `DateTime` are date cells (`yyyy-mm-dd`, `yyyy-mm-dd hh:mm:ss`; milliseconds
//!   are kept in the value). What Excel cannot hold is a text cell: a date before 1900-01-01 or
//!   after 9999-12-31, a time finer than the millisecond (`10:00:00.123456`).
//! - `Boolean` is a boolean cell; `Text` is always a string cell, never a formula (`=1+1` stays
//!   the text `=1+1`); a null is no cell. An empty text is no cell either: XLSX has no empty
//!   string cell.
//!
//! The header row is bold, frozen and carries an autofilter over the data. A sheet never
//! truncates: past [`XlsxOptions::max_rows`] rows (header included), rows continue on
//! `"{sheet} (2)"`, `"{sheet} (3)"`… with the same header. Two builds of the same spill give
//! byte-identical files (the document's creation date is fixed).

use std::fs::File;
use std::io::{self, BufReader, Write};
use std::path::{Path, PathBuf};

use rust_xlsxwriter::{
    DocProperties, ExcelDateTime, Format, Workbook, Worksheet, XlsxError as WriterError,
};

use crate::project::text::Kind;

mod cells;
mod sheets;
mod spill;

use super::{Encode, Tree};
use cells::{SheetCell, cell, display_chars, utf16_len};
pub use sheets::sheet_name_problem;
use sheets::sheet_names;
pub use spill::{Spill, SpillReader, SpillRecord};

/// Rows in an Excel sheet, header included.
pub const MAX_SHEET_ROWS: u32 = 1_048_576;
/// Columns in an Excel sheet.
pub const MAX_COLUMNS: usize = 16_384;
/// Characters (UTF-16 code units, as Excel counts) in one cell: checked, with the row
/// rejected, by the projection.
pub use crate::project::limits::XLSX_CELL_CHARS as MAX_CELL_CHARS;
/// Characters (UTF-16 code units) in a sheet name.
const MAX_SHEET_NAME: usize = 31;

/// Column widths, in Excel character units.
const MIN_WIDTH: f64 = 6.0;
const MAX_WIDTH: f64 = 60.0;

const DATE_FORMAT: &str = "yyyy-mm-dd";
const DATETIME_FORMAT: &str = "yyyy-mm-dd hh:mm:ss";

/// How a workbook target is laid out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XlsxOptions {
    /// The first sheet's name; later sheets are `"{sheet} (2)"`, `"{sheet} (3)"`… A name longer
    /// than Excel's 31 characters is shortened (see [`XlsxWritten::sheets`]).
    pub sheet: String,
    /// Per column, an Excel number format (`"0.00"`, `"dd/mm/yyyy"`) that replaces the default
    /// one of its number and date cells. Missing entries mean the default.
    pub formats: Vec<Option<String>>,
    /// Rows per sheet, header included: 2 to 1,048,576.
    pub max_rows: u32,
}

impl Default for XlsxOptions {
    fn default() -> Self {
        XlsxOptions {
            sheet: "Sheet1".into(),
            formats: Vec::new(),
            max_rows: MAX_SHEET_ROWS,
        }
    }
}

/// What [`build`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XlsxWritten {
    /// Data rows, headers excluded.
    pub rows: u64,
    /// The sheets' names, in order.
    pub sheets: Vec<String>,
}

/// A workbook target could not be written.
#[derive(Debug, thiserror::Error)]
pub enum XlsxError {
    #[error(
        "cannot read the spill file `{path}`: {source}; check that the staging folder is readable and was not cleaned during the run"
    )]
    Spill {
        path: PathBuf,
        #[source]
        source: SpillError,
    },
    #[error(
        "record {record} of the spill file `{path}` has {found} values for {expected} columns; this is a bug in rowferry, please report it with the mapping"
    )]
    Width {
        path: PathBuf,
        record: u64,
        found: usize,
        expected: usize,
    },
    #[error(
        "data row {row} of `{path}` has {chars} characters in column `{column}`, more than the 32,767 an Excel cell holds; reject or shorten such values before they reach an XLSX target, or write the target as CSV"
    )]
    TextTooLong {
        path: PathBuf,
        row: u64,
        column: String,
        chars: usize,
    },
    #[error(
        "the sheet name `{name}` is not allowed in Excel: {reason}; choose another sheet name for the target"
    )]
    SheetName { name: String, reason: &'static str },
    #[error(
        "{max_rows} rows per sheet is out of range: a sheet holds a header and at least one row, and at most 1,048,576 rows"
    )]
    MaxRows { max_rows: u32 },
    #[error(
        "the target has {columns} columns, more than the 16,384 an Excel sheet holds; split it into several targets"
    )]
    TooManyColumns { columns: usize },
    #[error(
        "cannot write `{path}`: {source}; check that the output folder is writable and the disk is not full"
    )]
    Write {
        path: PathBuf,
        #[source]
        source: WriterError,
    },
}

/// A spill file could not be read back.
#[derive(Debug, thiserror::Error)]
pub enum SpillError {
    #[error(transparent)]
    Io(#[from] io::Error),
    #[error("record {record} is damaged ({reason})")]
    Damaged { record: u64, reason: &'static str },
}

/// An XLSX target's file while rows are written: its spill (see [`build`]).
pub struct Xlsx<W: Write>(Spill<W>);

impl<W: Write> Xlsx<W> {
    pub fn new(out: W) -> Self {
        Xlsx(Spill::new(out))
    }
}

impl<W: Write> Encode<W> for Xlsx<W> {
    fn start(&mut self, _names: &[String]) -> io::Result<()> {
        Ok(())
    }

    fn record(&mut self, values: &[Option<&str>], kinds: &[Kind], _: &Tree) -> io::Result<()> {
        self.0.record(values, kinds)
    }

    fn group(&mut self, rows: &[Vec<Option<String>>], kinds: &[Kind], _: &Tree) -> io::Result<()> {
        let mut values = Vec::with_capacity(kinds.len());
        for row in rows {
            values.clear();
            values.extend((0..kinds.len()).map(|c| row.get(c).and_then(Option::as_deref)));
            self.0.record(&values, kinds)?;
        }
        Ok(())
    }

    fn into_inner(self: Box<Self>) -> io::Result<W> {
        Ok(self.0.into_inner())
    }
}

/// Builds target `t`'s workbook at `out` from its spill: its sheet, its columns' number
/// formats.
pub fn build_target(
    spill: &Path,
    out: &Path,
    names: &[String],
    t: &crate::plan::Target,
) -> Result<XlsxWritten, XlsxError> {
    let options = XlsxOptions {
        sheet: t.sheet.clone(),
        formats: names
            .iter()
            .map(|n| t.column_format(n).and_then(|c| c.format.clone()))
            .collect(),
        ..XlsxOptions::default()
    };
    build(spill, out, names, &options)
}

/// What the first pass over a spill learns.
struct Survey {
    rows: u64,
    /// Widest value per column, in characters.
    chars: Vec<usize>,
}

fn open(spill: &Path) -> Result<SpillReader<BufReader<File>>, XlsxError> {
    let file = File::open(spill).map_err(|e| XlsxError::Spill {
        path: spill.to_path_buf(),
        source: e.into(),
    })?;
    Ok(SpillReader::new(BufReader::with_capacity(256 * 1024, file)))
}

/// Reads the whole spill once: counts rows, measures columns, and finds what cannot be written
/// before anything is.
fn survey(
    spill: &Path,
    out: &Path,
    names: &[String],
    formats: &[Option<&str>],
) -> Result<Survey, XlsxError> {
    let mut reader = open(spill)?;
    let mut record = SpillRecord::default();
    let mut chars = vec![0; names.len()];
    let spill_error = |source| XlsxError::Spill {
        path: spill.to_path_buf(),
        source,
    };
    while reader.read(&mut record).map_err(spill_error)? {
        let row = reader.records();
        if record.len() != names.len() {
            return Err(XlsxError::Width {
                path: spill.to_path_buf(),
                record: row,
                found: record.len(),
                expected: names.len(),
            });
        }
        for (c, widest) in chars.iter_mut().enumerate() {
            let Some((kind, v)) = record.get(c) else {
                continue;
            };
            let units = utf16_len(v);
            if units > MAX_CELL_CHARS {
                return Err(XlsxError::TextTooLong {
                    path: out.to_path_buf(),
                    row,
                    column: names[c].clone(),
                    chars: units,
                });
            }
            *widest = (*widest).max(display_chars(kind, v, formats[c], *widest));
        }
    }
    Ok(Survey {
        rows: reader.records(),
        chars,
    })
}

/// Per column, the formats of its typed cells.
struct ColumnFormats {
    number: Option<Format>,
    date: Format,
    datetime: Format,
}

/// Writes the workbook `out` from the rows in `spill`, under the header `names`.
///
/// Nothing is written when a row cannot be (a text over 32,767 characters, a spill that does not
/// match `names`): the first pass finds it and returns the error.
pub fn build(
    spill: &Path,
    out: &Path,
    names: &[String],
    options: &XlsxOptions,
) -> Result<XlsxWritten, XlsxError> {
    if let Some(reason) = sheet_name_problem(&options.sheet) {
        return Err(XlsxError::SheetName {
            name: options.sheet.clone(),
            reason,
        });
    }
    if !(2..=MAX_SHEET_ROWS).contains(&options.max_rows) {
        return Err(XlsxError::MaxRows {
            max_rows: options.max_rows,
        });
    }
    if names.len() > MAX_COLUMNS {
        return Err(XlsxError::TooManyColumns {
            columns: names.len(),
        });
    }
    let formats: Vec<Option<&str>> = (0..names.len())
        .map(|c| options.formats.get(c).and_then(|f| f.as_deref()))
        .collect();
    let survey = survey(spill, out, names, &formats)?;

    let per_sheet = u64::from(options.max_rows - 1);
    let sheets = sheet_names(&options.sheet, survey.rows.div_ceil(per_sheet).max(1));
    let widths: Vec<f64> = names
        .iter()
        .zip(&survey.chars)
        .map(|(name, &chars)| {
            // The header's filter button takes about two characters.
            let header = name.chars().count() + 3;
            (header.max(chars + 1) as f64).clamp(MIN_WIDTH, MAX_WIDTH)
        })
        .collect();
    let columns: Vec<ColumnFormats> = formats
        .iter()
        .map(|f| ColumnFormats {
            number: f.map(|f| Format::new().set_num_format(f)),
            date: Format::new().set_num_format(f.unwrap_or(DATE_FORMAT)),
            datetime: Format::new().set_num_format(f.unwrap_or(DATETIME_FORMAT)),
        })
        .collect();
    let bold = Format::new().set_bold();

    let write_error = |source| XlsxError::Write {
        path: out.to_path_buf(),
        source,
    };
    let mut workbook = Workbook::new();
    // A fixed creation date: the same rows give the same bytes.
    let created = ExcelDateTime::from_ymd(2000, 1, 1).map_err(write_error)?;
    workbook.set_properties(&DocProperties::new().set_creation_datetime(&created));
    // The sheets' rows wait in temporary files until the save: next to the output rather than
    // in the system's temp folder, which may live in memory.
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        workbook.set_tempdir(dir).map_err(write_error)?;
    }

    let mut reader = open(spill)?;
    let mut record = SpillRecord::default();
    let mut left = survey.rows;
    for name in &sheets {
        let rows = left.min(per_sheet);
        left -= rows;
        let sheet = workbook
            .add_worksheet_with_constant_memory()
            .map_err(write_error)?;
        start_sheet(sheet, name, names, &widths, &bold, rows).map_err(write_error)?;
        for r in 1..=rows as u32 {
            if !reader
                .read(&mut record)
                .map_err(|source| XlsxError::Spill {
                    path: spill.to_path_buf(),
                    source,
                })?
            {
                return Err(XlsxError::Spill {
                    path: spill.to_path_buf(),
                    source: SpillError::Damaged {
                        record: reader.records() + 1,
                        reason: "the file changed while the workbook was written",
                    },
                });
            }
            write_row(sheet, r, &record, &columns).map_err(write_error)?;
        }
    }
    workbook.save(out).map_err(write_error)?;
    Ok(XlsxWritten {
        rows: survey.rows,
        sheets,
    })
}

/// Names a new sheet and writes its header: bold, frozen, with an autofilter over `rows` rows.
fn start_sheet(
    sheet: &mut Worksheet,
    name: &str,
    names: &[String],
    widths: &[f64],
    bold: &Format,
    rows: u64,
) -> Result<(), WriterError> {
    sheet.set_name(name)?;
    // Constant memory mode writes rows in order: the widths go first.
    for (c, &w) in widths.iter().enumerate() {
        sheet.set_column_width(c as u16, w)?;
    }
    for (c, n) in names.iter().enumerate() {
        sheet.write_string_with_format(0, c as u16, n, bold)?;
    }
    sheet.set_freeze_panes(1, 0)?;
    if !names.is_empty() {
        sheet.autofilter(0, 0, rows as u32, (names.len() - 1) as u16)?;
    }
    Ok(())
}

fn write_row(
    sheet: &mut Worksheet,
    r: u32,
    record: &SpillRecord,
    columns: &[ColumnFormats],
) -> Result<(), WriterError> {
    for (c, f) in columns.iter().enumerate() {
        let Some((kind, v)) = record.get(c) else {
            continue;
        };
        let col = c as u16;
        match cell(kind, v) {
            // A string cell, never a formula, whatever the text starts with.
            SheetCell::Text(v) => sheet.write_string(r, col, v)?,
            SheetCell::Number(x) => match &f.number {
                Some(format) => sheet.write_number_with_format(r, col, x, format)?,
                None => sheet.write_number(r, col, x)?,
            },
            SheetCell::Boolean(b) => sheet.write_boolean(r, col, b)?,
            SheetCell::Date(d) => sheet.write_datetime_with_format(r, col, &d, &f.date)?,
            SheetCell::DateTime(d) => sheet.write_datetime_with_format(r, col, &d, &f.datetime)?,
        };
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::sheets::shorten;
    use super::*;
    use calamine::{Data, Reader, Xlsx, open_workbook};
    use std::fs::OpenOptions;
    use std::io::BufWriter;
    use std::io::Read;

    type Row<'a> = Vec<Option<&'a str>>;

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    fn spill(path: &Path, rows: &[Row], kinds: &[Kind]) {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .expect("spill file");
        let mut spill = Spill::new(BufWriter::new(file));
        for row in rows {
            spill.record(row, kinds).expect("record");
        }
        spill.into_inner().flush().expect("flush");
    }

    /// Spills `rows` and builds `out.xlsx` from them in a fresh temp dir.
    fn build_rows(
        dir: &Path,
        header: &[&str],
        rows: &[Row],
        kinds: &[Kind],
        options: &XlsxOptions,
    ) -> (PathBuf, Result<XlsxWritten, XlsxError>) {
        let s = dir.join("rows.spill");
        spill(&s, rows, kinds);
        let out = dir.join("out.xlsx");
        let written = build(&s, &out, &names(header), options);
        (out, written)
    }

    fn sheet(path: &Path, name: &str) -> calamine::Range<Data> {
        let mut wb: Xlsx<_> = open_workbook(path).expect("open workbook");
        wb.worksheet_range(name).expect("sheet")
    }

    fn at(range: &calamine::Range<Data>, row: u32, col: u32) -> Data {
        range.get_value((row, col)).cloned().unwrap_or(Data::Empty)
    }

    fn part(path: &Path, name: &str) -> String {
        let mut zip = zip::ZipArchive::new(File::open(path).expect("xlsx")).expect("zip");
        let mut s = String::new();
        zip.by_name(name)
            .expect("part")
            .read_to_string(&mut s)
            .expect("utf-8");
        s
    }

    /// An Excel serial day number, for dates after 1900-03-01.
    fn serial(y: i32, m: u32, d: u32) -> f64 {
        let epoch = chrono::NaiveDate::from_ymd_opt(1899, 12, 30).expect("epoch");
        let day = chrono::NaiveDate::from_ymd_opt(y, m, d).expect("date");
        (day - epoch).num_days() as f64
    }

    fn serial_of(d: &Data) -> f64 {
        match d {
            Data::DateTime(d) => d.as_f64(),
            other => panic!("not a date cell: {other:?}"),
        }
    }

    fn opts(sheet: &str, max_rows: u32) -> XlsxOptions {
        XlsxOptions {
            sheet: sheet.into(),
            max_rows,
            ..XlsxOptions::default()
        }
    }

    const KINDS: [Kind; 5] = [
        Kind::Text,
        Kind::Number,
        Kind::Boolean,
        Kind::Date,
        Kind::DateTime,
    ];

    #[test]
    fn each_kind_becomes_its_cell_type() {
        let dir = tempfile::tempdir().expect("tempdir");
        let rows = vec![
            vec![
                Some("hello"),
                Some("12.5"),
                Some("true"),
                Some("2024-01-31"),
                Some("2024-01-31T10:00:00"),
            ],
            vec![
                Some("  padded\tline\nnext "),
                Some("-3"),
                Some("false"),
                Some("1900-03-01"),
                Some("2024-01-31T10:00:00.250"),
            ],
            vec![None, None, None, None, None],
            vec![
                Some("été 東京 _x0041_"),
                Some("1e3"),
                Some("yes"),
                Some("9999-12-31"),
                Some("1999-12-31T23:59:59.999000"),
            ],
        ];
        let (out, written) = build_rows(
            dir.path(),
            &["text", "number", "flag", "day", "at"],
            &rows,
            &KINDS,
            &opts("Data", MAX_SHEET_ROWS),
        );
        let written = written.expect("build");
        assert_eq!(written.rows, 4);
        assert_eq!(written.sheets, ["Data"]);
        let r = sheet(&out, "Data");
        assert_eq!(at(&r, 0, 0), Data::String("text".into()));
        assert_eq!(at(&r, 0, 4), Data::String("at".into()));

        assert_eq!(at(&r, 1, 0), Data::String("hello".into()));
        assert_eq!(at(&r, 1, 1), Data::Float(12.5));
        assert_eq!(at(&r, 1, 2), Data::Bool(true));
        assert_eq!(serial_of(&at(&r, 1, 3)), serial(2024, 1, 31));
        assert_eq!(serial_of(&at(&r, 1, 4)), serial(2024, 1, 31) + 10.0 / 24.0);

        assert_eq!(at(&r, 2, 0), Data::String("  padded\tline\nnext ".into()));
        assert_eq!(at(&r, 2, 1), Data::Float(-3.0));
        assert_eq!(at(&r, 2, 2), Data::Bool(false));
        assert_eq!(serial_of(&at(&r, 2, 3)), 61.0);
        let fraction = serial_of(&at(&r, 2, 4)) - serial(2024, 1, 31) - 10.0 / 24.0;
        assert!((fraction * 86_400.0 - 0.25).abs() < 1e-4, "{fraction}");

        for c in 0..5 {
            assert_eq!(at(&r, 3, c), Data::Empty, "null in column {c}");
        }

        assert_eq!(at(&r, 4, 0), Data::String("été 東京 _x0041_".into()));
        assert_eq!(at(&r, 4, 1), Data::Float(1000.0));
        // Not a boolean's canonical text: kept as written.
        assert_eq!(at(&r, 4, 2), Data::String("yes".into()));
        assert_eq!(serial_of(&at(&r, 4, 3)), serial(9999, 12, 31));
        let t = serial_of(&at(&r, 4, 4)) - serial(1999, 12, 31);
        assert!(((1.0 - t) * 86_400.0 - 0.001).abs() < 1e-5, "{t}");
    }

    #[test]
    fn formula_like_text_stays_text() {
        let dir = tempfile::tempdir().expect("tempdir");
        let values = [
            "=1+1",
            "@SUM(A1)",
            "+cmd|' /C calc'!A0",
            "-2+3",
            "=HYPERLINK(\"x\")",
        ];
        let rows: Vec<Row> = values.iter().map(|v| vec![Some(*v)]).collect();
        let (out, written) = build_rows(dir.path(), &["f"], &rows, &[Kind::Text], &opts("S", 100));
        written.expect("build");
        let r = sheet(&out, "S");
        for (i, v) in values.iter().enumerate() {
            assert_eq!(at(&r, i as u32 + 1, 0), Data::String(v.to_string()));
        }
        let xml = part(&out, "xl/worksheets/sheet1.xml");
        assert!(!xml.contains("<f>"), "a formula was written: {xml}");
    }

    #[test]
    fn values_excel_cannot_hold_are_text() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cases: [(&str, Kind, Option<f64>); 17] = [
            ("123456789012345", Kind::Number, Some(123_456_789_012_345.0)),
            ("1234567890123456", Kind::Number, None),
            ("12345678901234567890", Kind::Number, None),
            ("0.1234567890123456", Kind::Number, None),
            (
                "-0.000000000000123456789012345",
                Kind::Number,
                Some(-1.234_567_890_123_45e-13),
            ),
            ("1.50000000000000000000", Kind::Number, Some(1.5)),
            ("12300000000000000000", Kind::Number, Some(1.23e19)),
            ("NaN", Kind::Number, None),
            ("inf", Kind::Number, None),
            ("1e400", Kind::Number, None),
            ("12,5", Kind::Number, None),
            ("1899-12-31", Kind::Date, None),
            ("+10000-01-01", Kind::Date, None),
            ("2023-02-29T00:00:00", Kind::DateTime, None),
            ("2024-01-31T10:00:00.123456", Kind::DateTime, None),
            ("2024-01-31T24:00:00", Kind::DateTime, None),
            ("2024-01-31 10:00:00", Kind::DateTime, None),
        ];
        let rows: Vec<Row> = cases.iter().map(|(v, _, _)| vec![Some(*v)]).collect();
        for (i, (v, kind, number)) in cases.iter().enumerate() {
            let sub = dir.path().join(i.to_string());
            std::fs::create_dir(&sub).expect("dir");
            let (out, written) = build_rows(&sub, &["v"], &rows[i..=i], &[*kind], &opts("S", 100));
            written.expect("build");
            let got = at(&sheet(&out, "S"), 1, 0);
            match number {
                Some(x) => assert_eq!(got, Data::Float(*x), "{v}"),
                None => assert_eq!(got, Data::String(v.to_string()), "{v}"),
            }
        }
    }

    #[test]
    fn header_is_bold_frozen_filtered_and_columns_sized() {
        let dir = tempfile::tempdir().expect("tempdir");
        let long = "x".repeat(100);
        let rows = vec![
            vec![
                Some("ab"),
                Some(long.as_str()),
                Some("2024-01-31"),
                Some("2024-01-31T10:00:00"),
            ],
            vec![Some("abc"), None, None, None],
            vec![Some("a"), None, None, Some("2024-01-31T10:00:00.5")],
        ];
        let kinds = [Kind::Text, Kind::Text, Kind::Date, Kind::DateTime];
        let (out, written) = build_rows(
            dir.path(),
            &["id", "note", "day", "at"],
            &rows,
            &kinds,
            &opts("S", 100),
        );
        written.expect("build");
        let xml = part(&out, "xl/worksheets/sheet1.xml");
        assert!(
            xml.contains(
                "<pane ySplit=\"1\" topLeftCell=\"A2\" activePane=\"bottomLeft\" state=\"frozen\"/>"
            ),
            "{xml}"
        );
        assert!(xml.contains("<autoFilter ref=\"A1:D4\"/>"), "{xml}");
        let cols: Vec<f64> = xml
            .split("<col ")
            .skip(1)
            .map(|c| {
                let w = c.split("width=\"").nth(1).expect("width");
                w[..w.find('"').expect("quote")].parse().expect("number")
            })
            .collect();
        assert_eq!(cols.len(), 4, "{xml}");
        // Short values: the minimum; a long text: the maximum; dates and datetimes in between.
        assert!((6.0..7.0).contains(&cols[0]), "{cols:?}");
        assert!((60.0..61.0).contains(&cols[1]), "{cols:?}");
        assert!((11.0..12.0).contains(&cols[2]), "{cols:?}");
        assert!((20.0..21.0).contains(&cols[3]), "{cols:?}");
        let styles = part(&out, "xl/styles.xml");
        assert!(styles.contains("<b/>"), "{styles}");
        assert!(styles.contains("formatCode=\"yyyy-mm-dd\""), "{styles}");
        assert!(
            styles.contains("formatCode=\"yyyy-mm-dd hh:mm:ss\""),
            "{styles}"
        );
        // The header cells use the bold style: the only cells of row 1, all with one style.
        let row1 = &xml[xml.find("<row r=\"1\"").expect("row 1")..];
        let row1 = &row1[..row1.find("</row>").expect("end of row 1")];
        assert_eq!(row1.matches(" s=\"").count(), 4, "{row1}");
    }

    #[test]
    fn a_column_format_replaces_the_default() {
        let dir = tempfile::tempdir().expect("tempdir");
        let rows = vec![vec![Some("12.5"), Some("2024-01-31"), Some("7")]];
        let kinds = [Kind::Number, Kind::Date, Kind::Number];
        let options = XlsxOptions {
            sheet: "S".into(),
            formats: vec![Some("0.00".into()), Some("dd/mm/yyyy".into())],
            max_rows: 100,
        };
        let (out, written) = build_rows(dir.path(), &["p", "d", "n"], &rows, &kinds, &options);
        written.expect("build");
        let r = sheet(&out, "S");
        assert_eq!(at(&r, 1, 0), Data::Float(12.5));
        assert_eq!(serial_of(&at(&r, 1, 1)), serial(2024, 1, 31));
        assert_eq!(at(&r, 1, 2), Data::Float(7.0));
        let styles = part(&out, "xl/styles.xml");
        assert!(styles.contains("formatCode=\"0.00\""), "{styles}");
        assert!(styles.contains("formatCode=\"dd/mm/yyyy\""), "{styles}");
        assert!(!styles.contains("formatCode=\"yyyy-mm-dd\""), "{styles}");
    }

    #[test]
    fn a_full_sheet_continues_on_the_next() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ids: Vec<String> = (1..=12).map(|i| i.to_string()).collect();
        let rows: Vec<Row> = ids
            .iter()
            .map(|i| vec![Some(i.as_str()), Some("x")])
            .collect();
        let kinds = [Kind::Number, Kind::Text];
        let (out, written) = build_rows(dir.path(), &["id", "v"], &rows, &kinds, &opts("Name", 5));
        let written = written.expect("build");
        assert_eq!(written.rows, 12);
        assert_eq!(written.sheets, ["Name", "Name (2)", "Name (3)"]);
        let mut wb: Xlsx<_> = open_workbook(&out).expect("open");
        assert_eq!(wb.sheet_names(), ["Name", "Name (2)", "Name (3)"]);
        let mut seen = Vec::new();
        for (s, name) in written.sheets.iter().enumerate() {
            let r = wb.worksheet_range(name).expect("sheet");
            assert_eq!(r.height(), 5, "{name}");
            assert_eq!(at(&r, 0, 0), Data::String("id".into()));
            assert_eq!(at(&r, 0, 1), Data::String("v".into()));
            for row in 1..5 {
                match at(&r, row, 0) {
                    Data::Float(x) => seen.push(x as u32),
                    other => panic!("{other:?}"),
                }
            }
            let xml = part(&out, &format!("xl/worksheets/sheet{}.xml", s + 1));
            assert!(xml.contains("<autoFilter ref=\"A1:B5\"/>"), "{xml}");
            assert!(xml.contains("ySplit=\"1\""), "{xml}");
            assert!(xml.contains("<col "), "{xml}");
        }
        assert_eq!(seen, (1..=12).collect::<Vec<u32>>());

        // One more row opens a fourth sheet, with only that row.
        let dir = tempfile::tempdir().expect("tempdir");
        let mut rows = rows;
        rows.push(vec![Some("13"), None]);
        let (out, written) = build_rows(dir.path(), &["id", "v"], &rows, &kinds, &opts("Name", 5));
        assert_eq!(written.expect("build").sheets.len(), 4);
        let r = sheet(&out, "Name (4)");
        assert_eq!(r.height(), 2);
        assert_eq!(at(&r, 1, 0), Data::Float(13.0));
    }

    #[test]
    fn sheet_names_fit_excel() {
        let long = "Commandes clients de la région Île-de-France";
        let got = sheet_names(long, 12);
        assert_eq!(got[0], "Commandes clients de la région");
        assert_eq!(got[1], "Commandes clients de la rég (2)");
        assert_eq!(got[11], "Commandes clients de la ré (12)");
        assert!(got.iter().all(|n| n.encode_utf16().count() <= 31));
        // A name that already ends like a continuation does not collide with one.
        let tricky = format!("{} (2)", "x".repeat(27));
        let got = sheet_names(&tricky, 3);
        assert_eq!(got[0], tricky);
        assert_eq!(got[1], format!("{} (3)", "x".repeat(27)));
        assert_eq!(got[2], format!("{} (4)", "x".repeat(27)));
        // No trailing apostrophe or space once shortened.
        assert_eq!(shorten("abc ' def", 5), "abc");

        assert!(sheet_name_problem("Data").is_none());
        assert!(sheet_name_problem(&"x".repeat(40)).is_none());
        for bad in ["", " ", "a/b", "a[1]", "'quoted'", "History", "a\u{7}"] {
            assert!(sheet_name_problem(bad).is_some(), "{bad:?}");
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let (_, written) = build_rows(dir.path(), &["a"], &[], &[Kind::Text], &opts("a:b", 10));
        assert!(
            matches!(written, Err(XlsxError::SheetName { .. })),
            "{written:?}"
        );
    }

    #[test]
    fn an_empty_target_still_has_its_header() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (out, written) = build_rows(
            dir.path(),
            &["sku", "qty"],
            &[],
            &[Kind::Text, Kind::Number],
            &opts("Stock", 10),
        );
        let written = written.expect("build");
        assert_eq!(
            written,
            XlsxWritten {
                rows: 0,
                sheets: vec!["Stock".into()]
            }
        );
        let r = sheet(&out, "Stock");
        assert_eq!(r.height(), 1);
        assert_eq!(at(&r, 0, 1), Data::String("qty".into()));
        let xml = part(&out, "xl/worksheets/sheet1.xml");
        assert!(xml.contains("<autoFilter ref=\"A1:B1\"/>"), "{xml}");
    }

    fn many_rows(n: usize) -> Vec<[String; 5]> {
        (0..n)
            .map(|i| {
                [
                    format!("row {i}"),
                    format!("{}.{}", i * 7, i % 100),
                    (i % 2 == 0).to_string(),
                    format!("2024-{:02}-{:02}", i % 12 + 1, i % 28 + 1),
                    format!("2024-01-01T{:02}:{:02}:00", i % 24, i % 60),
                ]
            })
            .collect()
    }

    #[test]
    fn a_spill_reopened_for_appending_gives_the_same_workbook() {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = many_rows(50);
        let rows: Vec<Row> = data
            .iter()
            .map(|r| r.iter().map(|v| Some(v.as_str())).collect())
            .collect();
        let header = names(&["t", "n", "b", "d", "dt"]);
        let options = opts("Data", 20);

        let once = dir.path().join("once.spill");
        spill(&once, &rows, &KINDS);
        // Closed and reopened (append mode) after records 1, 17 and 18.
        let pieces = dir.path().join("pieces.spill");
        for range in [0..1, 1..17, 17..18, 18..50] {
            spill(&pieces, &rows[range], &KINDS);
        }
        assert_eq!(
            std::fs::read(&once).expect("once"),
            std::fs::read(&pieces).expect("pieces")
        );

        let a = dir.path().join("a.xlsx");
        let b = dir.path().join("b.xlsx");
        let wa = build(&once, &a, &header, &options).expect("build a");
        let wb = build(&pieces, &b, &header, &options).expect("build b");
        assert_eq!(wa, wb);
        assert_eq!(wa.rows, 50);
        assert_eq!(std::fs::read(&a).expect("a"), std::fs::read(&b).expect("b"));
        let r = sheet(&b, "Data (3)");
        assert_eq!(at(&r, 12, 0), Data::String("row 49".into()));
    }

    #[test]
    fn builds_are_byte_identical() {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = many_rows(30);
        let rows: Vec<Row> = data
            .iter()
            .map(|r| r.iter().map(|v| Some(v.as_str())).collect())
            .collect();
        let s = dir.path().join("rows.spill");
        spill(&s, &rows, &KINDS);
        let header = names(&["t", "n", "b", "d", "dt"]);
        let options = XlsxOptions {
            sheet: "Data".into(),
            formats: vec![None, Some("0.00".into())],
            max_rows: 10,
        };
        let a = dir.path().join("a.xlsx");
        let b = dir.path().join("b.xlsx");
        build(&s, &a, &header, &options).expect("build a");
        build(&s, &b, &header, &options).expect("build b");
        assert_eq!(std::fs::read(&a).expect("a"), std::fs::read(&b).expect("b"));
        // Not the current time, which would change from one second to the next.
        let core = part(&a, "docProps/core.xml");
        assert!(
            core.contains(">2000-01-01T00:00:00Z</dcterms:created>"),
            "{core}"
        );
    }

    #[test]
    fn a_text_too_long_for_a_cell_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let long = "y".repeat(40_000);
        let at_limit = "é".repeat(MAX_CELL_CHARS);
        let rows = vec![
            vec![Some("a"), Some(at_limit.as_str())],
            vec![Some("b"), Some(long.as_str())],
        ];
        let (out, written) = build_rows(
            dir.path(),
            &["k", "note"],
            &rows,
            &[Kind::Text, Kind::Text],
            &opts("S", 10),
        );
        match written {
            Err(XlsxError::TextTooLong {
                row, column, chars, ..
            }) => {
                assert_eq!((row, column.as_str(), chars), (2, "note", 40_000));
            }
            other => panic!("{other:?}"),
        }
        assert!(!out.exists());
        // Excel counts UTF-16 code units: one emoji is two.
        let emoji = "😀".repeat(MAX_CELL_CHARS / 2 + 1);
        let dir = tempfile::tempdir().expect("tempdir");
        let (_, written) = build_rows(
            dir.path(),
            &["e"],
            &[vec![Some(emoji.as_str())]],
            &[Kind::Text],
            &opts("S", 10),
        );
        assert!(
            matches!(written, Err(XlsxError::TextTooLong { chars: 32_768, .. })),
            "{written:?}"
        );
    }

    #[test]
    fn bad_options_and_spills_are_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let rows = vec![vec![Some("a")]];
        let (_, written) = build_rows(dir.path(), &["a"], &rows, &[Kind::Text], &opts("S", 1));
        assert!(
            matches!(written, Err(XlsxError::MaxRows { max_rows: 1 })),
            "{written:?}"
        );

        let s = dir.path().join("rows.spill");
        let out = dir.path().join("w.xlsx");
        let written = build(&s, &out, &names(&["a", "b"]), &opts("S", 10));
        assert!(
            matches!(
                written,
                Err(XlsxError::Width {
                    record: 1,
                    found: 1,
                    expected: 2,
                    ..
                })
            ),
            "{written:?}"
        );

        let missing = build(
            &dir.path().join("none"),
            &out,
            &names(&["a"]),
            &opts("S", 10),
        );
        assert!(
            matches!(missing, Err(XlsxError::Spill { .. })),
            "{missing:?}"
        );

        // Cut in the middle of the second record.
        let mut bytes = std::fs::read(&s).expect("spill");
        bytes.extend_from_slice(&[1, 1, 5, b'a']);
        std::fs::write(&s, &bytes).expect("write");
        let cut = build(&s, &out, &names(&["a"]), &opts("S", 10));
        match cut {
            Err(XlsxError::Spill {
                source: SpillError::Damaged { record: 2, .. },
                ..
            }) => {}
            other => panic!("{other:?}"),
        }
        assert!(cut_message(&s, &out).contains("record 2"));
    }

    fn cut_message(s: &Path, out: &Path) -> String {
        match build(s, out, &names(&["a"]), &opts("S", 10)) {
            Err(e) => e.to_string(),
            Ok(w) => panic!("{w:?}"),
        }
    }

    #[test]
    fn spill_records_read_back_as_written() {
        let long = "z".repeat(300);
        let rows: Vec<(Row, Vec<Kind>)> = vec![
            (
                vec![Some(""), None, Some("é😀")],
                vec![Kind::Text, Kind::Number, Kind::Text],
            ),
            (vec![], vec![]),
            (vec![Some(long.as_str())], vec![Kind::DateTime]),
        ];
        let mut spill = Spill::new(Vec::new());
        for (values, kinds) in &rows {
            spill.record(values, kinds).expect("record");
        }
        assert!(spill.record(&[None], &[]).is_err());
        let bytes = spill.into_inner();
        let mut reader = SpillReader::new(bytes.as_slice());
        let mut record = SpillRecord::default();
        for (values, kinds) in &rows {
            assert!(reader.read(&mut record).expect("read"));
            assert_eq!(record.len(), values.len());
            for (i, v) in values.iter().enumerate() {
                assert_eq!(record.get(i), v.map(|v| (kinds[i], v)));
            }
        }
        assert!(!reader.read(&mut record).expect("end"));

        // Damage: an unknown tag, a value that is not UTF-8, a runaway length.
        for bad in [
            &[1u8, 9, 0][..],
            &[1, 1, 1, 0xff],
            &[
                1, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
            ],
        ] {
            let mut reader = SpillReader::new(bad);
            assert!(
                matches!(
                    reader.read(&mut record),
                    Err(SpillError::Damaged { record: 1, .. })
                ),
                "{bad:?}"
            );
        }
    }
}
