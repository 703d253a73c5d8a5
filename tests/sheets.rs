//! Spreadsheet inputs: typed cells and their canonical text, sheet choice, ranges, title
//! blocks, provenance, lookups from workbooks, and broken workbooks.

mod writer;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rowferry::plan::{CellRange, SheetRef, SourcePlan};
use rowferry::source::{
    CellKind, ProgressUnit, ReadOptions, Source, column_name, kind_column_name,
};
use writer::{Book, Cell, Sheet, serial, text};

use crate::util::{Job, read_csv, repo, rowferry};

/// Every row a source gives, by sheet row: the cells' canonical text and kind, or the raw
/// fields of a rejected row (kind `None`).
#[derive(Debug, Default)]
struct Read {
    header: Vec<String>,
    rows: BTreeMap<u64, Vec<(String, Option<CellKind>)>>,
    rejects: BTreeMap<u64, Vec<String>>,
    skipped: u64,
    read: u64,
}

fn read(plan: &SourcePlan) -> Read {
    read_with(plan, &ReadOptions::default())
}

fn read_with(plan: &SourcePlan, options: &ReadOptions) -> Read {
    let mut source = Source::open(plan, options).expect("the source opens");
    let typed = source.info().typed;
    let mut out = Read {
        header: source.info().header.clone(),
        ..Read::default()
    };
    // A small chunk size, so rows cross chunk boundaries.
    while let Some(chunk) = source.next_chunk(7).expect("a chunk") {
        out.skipped += chunk.skipped;
        out.read += chunk.rows_read();
        assert_eq!(chunk.rows, chunk.lines, "a sheet row is its own line");
        for (i, row) in chunk.rows.iter().enumerate() {
            let cells = (0..out.header.len())
                .map(|c| {
                    let text = chunk
                        .frame
                        .column(&column_name(c))
                        .expect("text column")
                        .str()
                        .expect("a string column")
                        .get(i)
                        .unwrap_or("")
                        .to_string();
                    let kind = typed.then(|| {
                        let k = chunk
                            .frame
                            .column(&kind_column_name(c))
                            .expect("kind column")
                            .u32()
                            .expect("a UInt32 kind column")
                            .get(i)
                            .expect("a kind for every cell");
                        kind_of(k)
                    });
                    (text, kind)
                })
                .collect();
            out.rows.insert(*row, cells);
        }
        for r in chunk.rejects {
            out.rejects.insert(r.issue.row, r.fields);
        }
    }
    source.finish().expect("the source finishes");
    out
}

fn kind_of(k: u32) -> CellKind {
    use CellKind::*;
    [Text, Number, Boolean, Date, DateTime, Time, Error]
        .into_iter()
        .find(|kind| *kind as u32 == k)
        .unwrap_or_else(|| panic!("unknown cell kind {k}"))
}

fn contacts_xlsx() -> PathBuf {
    repo().join("samples/crm/contacts.xlsx")
}

#[test]
fn contacts_workbook_holds_the_csv_rows_as_typed_cells() {
    let xlsx = read(&SourcePlan::detect(contacts_xlsx()));
    let csv = read(&SourcePlan::detect(repo().join("samples/crm/contacts.csv")));
    assert_eq!(xlsx.header, csv.header);
    let col = |name: &str| {
        xlsx.header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("column {name}"))
    };
    let (revenue, created, activity, opt_in) = (
        col("Annual Revenue"),
        col("Created At"),
        col("Last Activity"),
        col("Opt-in"),
    );
    // 160 data rows and the blank row 82, on the same rows as in the CSV.
    assert_eq!(xlsx.read, 161);
    assert_eq!(xlsx.skipped, 1);
    assert_eq!(
        xlsx.rows.len(),
        160,
        "the CSV's short row 122 is a whole row here"
    );
    assert!(xlsx.rejects.is_empty());
    assert!(!xlsx.rows.contains_key(&82));
    assert_eq!(xlsx.rows.keys().next(), Some(&2));
    assert_eq!(xlsx.rows.keys().last(), Some(&162));
    assert_eq!(csv.rejects.keys().collect::<Vec<_>>(), [&122]);

    for (row, cells) in &xlsx.rows {
        let Some(expected) = csv.rows.get(row) else {
            assert_eq!(*row, 122);
            assert_eq!(cells[opt_in], (String::new(), Some(CellKind::Text)));
            continue;
        };
        for (c, (value, kind)) in cells.iter().enumerate() {
            let want = &expected[c].0;
            let kind = kind.expect("typed");
            if c == revenue && kind == CellKind::Number {
                // A number cell reads as its shortest text: `730000`, not the CSV's
                // `730000.00`; the value is the same.
                let (a, b): (f64, f64) = (
                    value.parse().expect("a number"),
                    want.parse().expect("a number"),
                );
                assert_eq!(a, b, "row {row}");
                assert!(!value.ends_with(".00"), "row {row}: {value}");
            } else {
                // Date-time and date cells read as ISO text whatever their display format
                // (Last Activity shows dd/mm/yyyy), so they equal the CSV's ISO text.
                assert_eq!(value, want, "row {row}, column {}", xlsx.header[c]);
            }
            let expected_kind = match c {
                _ if value.is_empty() => CellKind::Text,
                c if c == revenue && *row != 64 => CellKind::Number,
                c if c == created && *row != 93 => CellKind::DateTime,
                c if c == activity => CellKind::Date,
                _ => CellKind::Text,
            };
            assert_eq!(kind, expected_kind, "row {row}, column {}", xlsx.header[c]);
        }
    }
    // The cells the CSV's defects became.
    assert_eq!(
        xlsx.rows[&64][revenue],
        ("1,250,000.00".into(), Some(CellKind::Text))
    );
    assert_eq!(
        xlsx.rows[&93][created],
        ("17/04/2023".into(), Some(CellKind::Text))
    );
    assert_eq!(
        xlsx.rows[&110][revenue],
        ("-48000".into(), Some(CellKind::Number))
    );
    assert_eq!(
        xlsx.rows[&2][activity],
        ("2023-07-29".into(), Some(CellKind::Date))
    );
}

#[test]
fn contacts_workbook_reports_what_it_is() {
    let source = Source::open(
        &SourcePlan::detect(contacts_xlsx()),
        &ReadOptions::default(),
    )
    .expect("opens");
    let info = source.info();
    assert_eq!(info.format, "xlsx");
    assert_eq!(info.encoding, "binary");
    assert!(info.typed);
    assert_eq!(info.sheet.as_deref(), Some("Contacts"));
    assert_eq!(info.header_row, 1);
    assert_eq!(info.progress_unit, ProgressUnit::Rows);
    assert_eq!(info.progress_total, 161, "rows below the header");
}

/// The CRM mapping validates the workbook as it validates the CSV: the same rows, the same
/// issues, except the CSV's short row (a `ragged-row` there, an empty Opt-in here).
#[test]
fn crm_mapping_validates_the_workbook_like_the_csv() {
    let csv_out = tempfile::tempdir().expect("temp dir");
    let xlsx_out = tempfile::tempdir().expect("temp dir");
    let run = |input: &str, out: &Path| {
        rowferry(
            &repo(),
            &[
                "validate",
                "mappings/crm-contacts.toml",
                "--input",
                input,
                "--out",
                out.to_str().expect("utf-8 path"),
                "--quiet",
            ],
        )
    };
    let from_csv = run("samples/crm/contacts.csv", csv_out.path());
    let from_xlsx = run("samples/crm/contacts.xlsx", xlsx_out.path());
    assert_eq!(from_csv.code, 1, "{}", from_csv.stderr);
    assert_eq!(from_xlsx.code, 1, "{}", from_xlsx.stderr);
    let report = |dir: &Path| -> serde_json::Value {
        serde_json::from_str(
            &std::fs::read_to_string(dir.join("_report/report.json")).expect("report.json"),
        )
        .expect("JSON")
    };
    let (rc, rx) = (report(csv_out.path()), report(xlsx_out.path()));
    assert_eq!(rx["input"]["format"], "xlsx");
    assert_eq!(rx["input"]["sheet"], "Contacts");
    assert_eq!(rx["rows"]["read"], rc["rows"]["read"]);
    assert_eq!(rx["rows"]["read"], 161);
    assert_eq!(rx["rows"]["skipped"], 1);
    assert_eq!(rx["rows"]["accepted"], rc["rows"]["accepted"]);
    assert_eq!(rx["rows"]["rejected"], rc["rows"]["rejected"]);
    let issues = |dir: &Path| -> Vec<(String, String, String)> {
        read_csv(&dir.join("_report/errors.csv"), b',')
            .into_iter()
            .map(|e| (e["row"].clone(), e["field"].clone(), e["code"].clone()))
            .collect()
    };
    let mut want = issues(csv_out.path());
    let ragged = ("122".to_string(), String::new(), "ragged-row".to_string());
    assert!(want.contains(&ragged), "{want:?}");
    want.retain(|i| *i != ragged);
    want.push(("122".into(), "opt_in".into(), "required-missing".into()));
    want.sort();
    let mut got = issues(xlsx_out.path());
    got.sort();
    assert_eq!(got, want);
}

/// A workbook in `dir` named `name`.
fn workbook(dir: &Path, name: &str, book: Book) -> PathBuf {
    let path = dir.join(name);
    book.write(&path);
    path
}

fn plan(path: PathBuf) -> SourcePlan {
    SourcePlan::detect(path)
}

fn texts(r: &Read, row: u64) -> Vec<&str> {
    r.rows
        .get(&row)
        .unwrap_or_else(|| panic!("row {row} in {:?}", r.rows.keys()))
        .iter()
        .map(|c| c.0.as_str())
        .collect()
}

fn kinds(r: &Read, row: u64) -> Vec<CellKind> {
    r.rows[&row].iter().map(|c| c.1.expect("typed")).collect()
}

#[test]
fn every_cell_type_reads_as_its_canonical_text_and_kind() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = workbook(
        dir.path(),
        "types.xlsx",
        Book::new(vec![
            Sheet::new("Types")
                .row(
                    1,
                    1,
                    [
                        "text", "int", "float", "bool", "date", "datetime", "time", "pct", "err",
                        "formula",
                    ]
                    .map(text)
                    .to_vec(),
                )
                .row(
                    2,
                    1,
                    vec![
                        text("007"),
                        Cell::Number(12.0),
                        Cell::Number(0.1 + 0.2),
                        Cell::Bool(true),
                        Cell::Date(serial(2024, 3, 1, 0, 0, 0)),
                        Cell::DateTime(serial(2024, 3, 1, 10, 30, 0)),
                        Cell::Time(serial(1899, 12, 30, 9, 5, 0)),
                        Cell::Percent(0.29),
                        Cell::Error("#N/A"),
                        Cell::Formula("1+1", 2.0),
                    ],
                )
                .row(
                    3,
                    1,
                    vec![
                        text(""),
                        Cell::Number(-1.5),
                        Cell::Number(1e21),
                        Cell::Bool(false),
                        // A date format on a value with a time keeps the time.
                        Cell::Date(serial(2024, 3, 1, 12, 0, 0)),
                        // A date-time format on midnight keeps the time.
                        Cell::DateTime(serial(2024, 3, 1, 0, 0, 0)),
                        Cell::Time(0.0),
                        Cell::Percent(1.0),
                        Cell::Error("#DIV/0!"),
                        Cell::Error("#REF!"),
                    ],
                ),
        ]),
    );
    let r = read(&plan(path));
    use CellKind::*;
    assert_eq!(
        texts(&r, 2),
        [
            "007",
            "12",
            "0.3", // 0.1 + 0.2, at a spreadsheet's 15 significant digits
            "true",
            "2024-03-01",
            "2024-03-01 10:30:00",
            "09:05:00",
            "0.29",
            "#N/A",
            "2"
        ]
    );
    assert_eq!(
        kinds(&r, 2),
        [
            Text, Number, Number, Boolean, Date, DateTime, Time, Number, Error, Number
        ]
    );
    assert_eq!(
        texts(&r, 3),
        [
            "",
            "-1.5",
            "1000000000000000000000",
            "false",
            "2024-03-01 12:00:00",
            "2024-03-01 00:00:00",
            "00:00:00",
            "1",
            "#DIV/0!",
            "#REF!"
        ]
    );
    assert_eq!(
        kinds(&r, 3),
        [
            Text, Number, Number, Boolean, DateTime, DateTime, Time, Number, Error, Error
        ]
    );
}

#[test]
fn dates_follow_the_1904_system_when_the_workbook_uses_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut book = Book::new(vec![
        Sheet::new("S")
            .row(1, 1, vec![text("day")])
            .row(2, 1, vec![Cell::Date(0.0)])
            .row(3, 1, vec![Cell::Date(43_889.0)]),
    ]);
    book.date1904 = true;
    let r = read(&plan(workbook(dir.path(), "mac.xlsx", book)));
    assert_eq!(texts(&r, 2), ["1904-01-01"]);
    // 43889 days after 1904-01-01 (1462 days later than in the 1900 system).
    assert_eq!(texts(&r, 3), ["2024-02-29"]);
}

fn three_sheets(dir: &Path) -> PathBuf {
    workbook(
        dir,
        "sheets.xlsx",
        Book::new(vec![
            Sheet::new("Notes")
                .hidden()
                .row(1, 1, vec![text("hidden"), text("notes")]),
            Sheet::new("Orders")
                .row(1, 1, vec![text("order")])
                .row(2, 1, vec![Cell::Number(1.0)]),
            Sheet::new("Customers")
                .row(1, 1, vec![text("customer")])
                .row(2, 1, vec![text("Ada")]),
        ]),
    )
}

#[test]
fn sheets_are_chosen_by_name_by_position_or_the_first_visible_one() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = three_sheets(dir.path());
    let by = |sheet: Option<SheetRef>| {
        let r = read(&SourcePlan {
            sheet,
            ..plan(path.clone())
        });
        (r.header.clone(), texts(&r, 2).join(","))
    };
    assert_eq!(
        by(None),
        (vec!["order".to_string()], "1".into()),
        "hidden sheets are passed over"
    );
    assert_eq!(
        by(Some(SheetRef::Name("Customers".into()))),
        (vec!["customer".to_string()], "Ada".into())
    );
    assert_eq!(
        by(Some(SheetRef::Index(3))),
        (vec!["customer".to_string()], "Ada".into())
    );
    let hidden = Source::open(
        &SourcePlan {
            sheet: Some(SheetRef::Index(1)),
            ..plan(path.clone())
        },
        &ReadOptions::default(),
    )
    .expect("a hidden sheet read by position");
    assert_eq!(hidden.info().sheet.as_deref(), Some("Notes"));
}

#[test]
fn an_unknown_sheet_is_an_error_listing_the_sheets() {
    let p = Job::new();
    three_sheets(p.path());
    p.write(
        "mapping.toml",
        "[source]\npath = \"sheets.xlsx\"\nsheet = \"Customer\"\n",
    );
    let run = p.run("validate");
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("sheets.xlsx"), "{}", run.stderr);
    assert!(
        run.stderr.contains("no sheet named `Customer`"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("did you mean `Customers`?"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("`Notes`, `Orders`, `Customers`"),
        "{}",
        run.stderr
    );

    p.write(
        "mapping.toml",
        "[source]\npath = \"sheets.xlsx\"\nsheet = 4\n",
    );
    let run = p.run("validate");
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("has 3 sheet(s)"), "{}", run.stderr);
    assert!(run.stderr.contains("no sheet 4"), "{}", run.stderr);
}

/// A report laid out for people: a title block, the table at B4, notes to its right.
fn report_sheet(dir: &Path) -> PathBuf {
    workbook(
        dir,
        "report.xlsx",
        Book::new(vec![
            Sheet::new("Report")
                .row(1, 1, vec![text("Orders export — March 2024")])
                .row(2, 1, vec![text("Shop: Lyon")])
                .row(4, 2, vec![text("order"), text("qty"), text("day")])
                .row(
                    5,
                    2,
                    vec![
                        text("A-1"),
                        Cell::Number(3.0),
                        Cell::Date(serial(2024, 3, 1, 0, 0, 0)),
                    ],
                )
                .row(
                    6,
                    2,
                    vec![
                        text("A-2"),
                        Cell::Number(5.0),
                        Cell::Date(serial(2024, 3, 2, 0, 0, 0)),
                    ],
                )
                .row(8, 2, vec![text("A-3"), Cell::Number(0.0)])
                .row(
                    9,
                    2,
                    vec![text("A-4"), Cell::Number(1.0), text(""), text("call back")],
                )
                .row(10, 2, vec![text("Total"), Cell::Formula("SUM(C5:C9)", 9.0)]),
        ]),
    )
}

#[test]
fn a_title_block_is_passed_over_when_the_mapping_names_its_columns() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = report_sheet(dir.path());
    let r = read(&SourcePlan {
        expected_columns: vec!["order".into(), "qty".into()],
        ..plan(path.clone())
    });
    assert_eq!(r.header, ["order", "qty", "day"], "the table starts at B4");
    assert_eq!(texts(&r, 5), ["A-1", "3", "2024-03-01"]);
    assert_eq!(texts(&r, 8), ["A-3", "0", ""]);
    // Rows 1 to 3 (the title block) and row 7 are skipped; row 9 holds a note right of the
    // table: a ragged row, kept whole.
    assert_eq!(r.skipped, 4);
    assert_eq!(r.rejects[&9], ["A-4", "1", "", "call back"]);
    assert_eq!(texts(&r, 10), ["Total", "9", ""]);
    assert_eq!(r.read, 9, "rows 1 to 3 and 5 to 10");

    // Declared, the header row needs no detection.
    let declared = read(&SourcePlan {
        header_row: Some(4),
        ..plan(path.clone())
    });
    assert_eq!(declared.header, r.header);
    assert_eq!(declared.rows.keys().collect::<Vec<_>>(), [&5, &6, &8, &10]);

    // Without either, the first row holding a value is the header.
    let first = read(&plan(path));
    assert_eq!(first.header, ["Orders export — March 2024"]);
}

#[test]
fn a_range_limits_the_cells_read() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = report_sheet(dir.path());
    let r = read(&SourcePlan {
        range: CellRange::parse("B4:C8"),
        ..plan(path.clone())
    });
    assert_eq!(r.header, ["order", "qty"]);
    assert_eq!(r.rows.keys().collect::<Vec<_>>(), [&5, &6, &8]);
    assert_eq!(texts(&r, 6), ["A-2", "5"]);
    assert!(r.rejects.is_empty(), "cells outside the range are not read");

    // An open end reads to the last used row and column.
    let open = read(&SourcePlan {
        range: CellRange::parse("B6:E"),
        header: Some(false),
        ..plan(path.clone())
    });
    assert_eq!(
        open.header,
        ["column_1", "column_2", "column_3", "column_4"]
    );
    assert_eq!(texts(&open, 6), ["A-2", "5", "2024-03-02", ""]);
    assert_eq!(texts(&open, 9), ["A-4", "1", "", "call back"]);
}

#[test]
fn a_range_outside_the_sheet_is_an_error() {
    let p = Job::new();
    report_sheet(p.path());
    p.write(
        "mapping.toml",
        "[source]\npath = \"report.xlsx\"\nrange = \"A20:F30\"\n",
    );
    let run = p.run("validate");
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("report.xlsx"), "{}", run.stderr);
    assert!(run.stderr.contains("range `A20:F30`"), "{}", run.stderr);
    assert!(run.stderr.contains("holds no value"), "{}", run.stderr);
}

#[test]
fn rows_and_issues_carry_sheet_row_numbers() {
    let p = Job::new();
    report_sheet(p.path());
    p.write(
        "mapping.toml",
        "[source]\npath = \"report.xlsx\"\nstructure = \"s\"\n\n[structures.s.fields]\norder = { pattern = '^A-\\d+$' }\nqty = { type = \"integer\", min = 1 }\nday = {}\n",
    );
    let run = p.run("validate");
    assert_eq!(run.code, 1, "{}", run.stderr);
    let mut got = p.error_codes();
    got.sort();
    assert_eq!(
        got,
        [
            (8, "qty".to_string(), "out-of-range".to_string()),
            (9, String::new(), "ragged-row".to_string()),
            (10, "order".to_string(), "pattern-mismatch".to_string()),
        ]
    );
    let r = p.report();
    assert_eq!(r["input"]["header_row"], 4);
    // The title block (rows 1 to 3) and the blank row 7 are skipped rows.
    assert_eq!(r["rows"]["read"], 9);
    assert_eq!(r["rows"]["skipped"], 4);
    assert!(
        r["input"]["lines_above_header"][0]["text"]
            .as_str()
            .is_some_and(|t| !t.is_empty()),
        "{:#}",
        r["input"]
    );
    let rejects = read_csv(&p.path().join("out/_report/rejects.csv"), b',');
    let ragged = rejects
        .iter()
        .find(|r| r["_row"] == "9")
        .expect("row 9 rejected");
    assert_eq!(ragged["order"], "A-4");
    assert!(ragged["day"].contains("call back"), "{ragged:?}");
}

#[test]
fn a_limit_stops_the_streaming_reader_early() {
    let r = read_with(
        &SourcePlan::detect(contacts_xlsx()),
        &ReadOptions { limit: Some(10) },
    );
    assert_eq!(r.rows.len(), 10);
    assert_eq!(r.rows.keys().last(), Some(&11));
}

#[test]
fn a_lookup_reads_a_workbook() {
    let p = Job::new();
    workbook(
        p.path(),
        "brands.xlsx",
        Book::new(vec![
            Sheet::new("Brands")
                .row(1, 1, vec![text("name"), text("id")])
                .row(2, 1, vec![text("Acme"), Cell::Number(7.0)])
                .row(3, 1, vec![text("Globex"), text("B02")]),
        ]),
    );
    p.write("data.csv", "sku,brand\nS1,acme\nS2,Globex\nS3,Initech\n")
        .write(
            "mapping.toml",
            r#"
[source]
path = "data.csv"
structure = "s"

[structures.s.fields]
sku = {}
brand = {}

[lookups.brands]
path = "brands.xlsx"
key = "name"
ignore_case = true

[[enrich]]
lookup = "brands"
match = { brand = "name" }
add = { brand_id = "id" }

[targets.out]
path = "out.csv"
"#,
        );
    let run = p.exec(&["run", "mapping.toml", "--out", "out", "--quiet"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let out = read_csv(&p.path().join("out/out.csv"), b',');
    let ids: Vec<(&str, &str)> = out
        .iter()
        .map(|r| (r["sku"].as_str(), r["brand_id"].as_str()))
        .collect();
    assert_eq!(ids, [("S1", "7"), ("S2", "B02")]);
    assert_eq!(
        p.error_codes(),
        [(4, "brand".to_string(), "lookup-miss".to_string())]
    );
}

#[test]
fn a_workbook_is_told_by_its_content_not_its_name() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = workbook(
        dir.path(),
        "export.csv",
        Book::new(vec![Sheet::new("S").row(1, 1, vec![text("a")]).row(
            2,
            1,
            vec![Cell::Number(1.5)],
        )]),
    );
    let r = read(&plan(path));
    assert_eq!(r.header, ["a"]);
    assert_eq!(r.rows[&2], [("1.5".to_string(), Some(CellKind::Number))]);
}

/// Runs `validate` on `file` (written into the project as `name`) and returns stderr, checking
/// the run stopped with exit 2 and named the file.
fn broken(name: &str, file: &[u8]) -> String {
    let p = Job::new();
    p.write(name, file)
        .write("mapping.toml", format!("[source]\npath = \"{name}\"\n"));
    let run = p.run("validate");
    assert_eq!(run.code, 2, "{name}: {}", run.stderr);
    assert!(run.stderr.contains(name), "{}", run.stderr);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    run.stderr
}

#[test]
fn a_truncated_workbook_is_an_error() {
    let bytes = std::fs::read(contacts_xlsx()).expect("contacts.xlsx");
    let err = broken("cut.xlsx", &bytes[..bytes.len() / 2]);
    assert!(err.contains("not a readable xlsx workbook"), "{err}");
    assert!(err.contains("save it again"), "{err}");
}

#[test]
fn a_zip_that_is_not_a_workbook_is_an_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("notes.zip");
    {
        use std::io::Write;
        let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).expect("create"));
        zip.start_file("notes.txt", zip::write::SimpleFileOptions::default())
            .expect("entry");
        zip.write_all(b"not a workbook").expect("write");
        zip.finish().expect("finish");
    }
    let err = broken("notes.xlsx", &std::fs::read(&path).expect("zip bytes"));
    assert!(err.contains("not a readable xlsx workbook"), "{err}");
}

#[test]
fn an_ole_file_that_is_not_a_workbook_is_an_error() {
    let mut bytes = b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1".to_vec();
    bytes.resize(512, 0);
    let err = broken("old.xls", &bytes);
    assert!(err.contains("not a readable xls workbook"), "{err}");
}

#[test]
fn an_encrypted_workbook_is_an_error_saying_to_save_an_unprotected_copy() {
    let err = broken("secret.xlsx", &encrypted_package());
    assert!(err.contains("password-protected"), "{err}");
    assert!(err.contains("save an unprotected copy"), "{err}");
}

#[test]
fn empty_and_text_files_named_as_workbooks_are_errors() {
    let err = broken("empty.xlsx", b"");
    assert!(err.contains("the file is empty"), "{err}");
    let err = broken("export.xls", b"id\tname\n1\tAda\n");
    assert!(err.contains("holds text"), "{err}");
    assert!(err.contains("format = \"csv\""), "{err}");
}

#[test]
fn an_empty_sheet_is_an_error() {
    let p = Job::new();
    workbook(p.path(), "empty.xlsx", Book::new(vec![Sheet::new("Blank")]));
    p.write("mapping.toml", "[source]\npath = \"empty.xlsx\"\n");
    let run = p.run("validate");
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("sheet `Blank` of"), "{}", run.stderr);
    assert!(run.stderr.contains("empty.xlsx"), "{}", run.stderr);
    assert!(run.stderr.contains("holds no header"), "{}", run.stderr);
}

/// What Office writes for a password-protected xlsx: an OLE compound file (not a zip) holding
/// an `EncryptedPackage` stream. This one has the container's structure (header, one FAT
/// sector, one directory sector) and no real cipher text, which is all a reader looks at to
/// tell the file is encrypted.
fn encrypted_package() -> Vec<u8> {
    const END_OF_CHAIN: u32 = 0xFFFF_FFFE;
    const FREE: u32 = 0xFFFF_FFFF;
    let mut header = vec![0u8; 512];
    header[..8].copy_from_slice(b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1");
    let put16 = |b: &mut [u8], at: usize, v: u16| b[at..at + 2].copy_from_slice(&v.to_le_bytes());
    let put32 = |b: &mut [u8], at: usize, v: u32| b[at..at + 4].copy_from_slice(&v.to_le_bytes());
    put16(&mut header, 24, 0x003E); // minor version
    put16(&mut header, 26, 3); // major version 3: 512-byte sectors
    put16(&mut header, 28, 0xFFFE); // little-endian
    put16(&mut header, 30, 9); // sector shift
    put16(&mut header, 32, 6); // mini sector shift
    put32(&mut header, 44, 1); // one FAT sector
    put32(&mut header, 48, 1); // the directory starts at sector 1
    put32(&mut header, 56, 4096); // mini stream cutoff
    put32(&mut header, 60, END_OF_CHAIN); // no mini FAT
    put32(&mut header, 68, END_OF_CHAIN); // no DIFAT sector
    put32(&mut header, 76, 0); // the FAT is sector 0
    for i in 1..109 {
        put32(&mut header, 76 + 4 * i, FREE);
    }
    let mut fat = vec![0u8; 512];
    put32(&mut fat, 0, 0xFFFF_FFFD); // sector 0: the FAT itself
    put32(&mut fat, 4, END_OF_CHAIN); // sector 1: the directory
    for i in 2..128 {
        put32(&mut fat, 4 * i, FREE);
    }
    let entry = |name: &str, kind: u8, child: u32| {
        let mut e = vec![0u8; 128];
        let utf16: Vec<u8> = name
            .encode_utf16()
            .chain([0])
            .flat_map(u16::to_le_bytes)
            .collect();
        e[..utf16.len()].copy_from_slice(&utf16);
        put16(&mut e, 64, utf16.len() as u16);
        e[66] = kind;
        e[67] = 1; // black
        put32(&mut e, 68, FREE); // left sibling
        put32(&mut e, 72, FREE); // right sibling
        put32(&mut e, 76, child);
        put32(&mut e, 116, END_OF_CHAIN); // start sector
        e
    };
    let mut dir = Vec::new();
    dir.extend(entry("Root Entry", 5, 1));
    dir.extend(entry("EncryptedPackage", 2, FREE));
    dir.resize(512, 0);
    [header, fat, dir].concat()
}

/// A minimal OpenDocument spreadsheet: the three parts a reader needs.
fn ods(path: &Path, rows: &str) {
    use std::io::Write;
    let file = std::fs::File::create(path).expect("create the ods");
    let mut zip = zip::ZipWriter::new(file);
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    zip.start_file("mimetype", stored).expect("mimetype");
    zip.write_all(b"application/vnd.oasis.opendocument.spreadsheet")
        .expect("mimetype");
    zip.start_file("META-INF/manifest.xml", stored)
        .expect("manifest");
    zip.write_all(
        br#"<?xml version="1.0" encoding="UTF-8"?>
<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">
 <manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>
 <manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>
</manifest:manifest>"#,
    )
    .expect("manifest");
    let deflated = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    zip.start_file("content.xml", deflated).expect("content");
    let content = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">
<office:body><office:spreadsheet><table:table table:name="Stock">{rows}</table:table></office:spreadsheet></office:body>
</office:document-content>"#
    );
    zip.write_all(content.as_bytes()).expect("content");
    zip.finish().expect("close the ods");
}

#[test]
fn an_ods_workbook_reads_typed_cells_by_its_content() {
    let dir = tempfile::tempdir().expect("temp dir");
    // Named .dat: the content, not the name, says it is an OpenDocument spreadsheet.
    let path = dir.path().join("stock.dat");
    let text = |s: &str| {
        format!(
            r#"<table:table-cell office:value-type="string"><text:p>{s}</text:p></table:table-cell>"#
        )
    };
    let float = |v: &str| {
        format!(
            r#"<table:table-cell office:value-type="float" office:value="{v}"><text:p>{v}</text:p></table:table-cell>"#
        )
    };
    let date = |v: &str| {
        format!(
            r#"<table:table-cell office:value-type="date" office:date-value="{v}"><text:p>shown otherwise</text:p></table:table-cell>"#
        )
    };
    let boolean = |v: &str| {
        format!(
            r#"<table:table-cell office:value-type="boolean" office:boolean-value="{v}"><text:p>{v}</text:p></table:table-cell>"#
        )
    };
    let row = |cells: Vec<String>| format!("<table:table-row>{}</table:table-row>", cells.concat());
    let rows = [
        row(vec![
            text("sku"),
            text("qty"),
            text("price"),
            text("since"),
            text("at"),
            text("active"),
        ]),
        row(vec![
            text("007"),
            float("12"),
            float("0.29"),
            date("2024-03-01"),
            date("2024-03-01T10:30:00"),
            boolean("true"),
        ]),
        row(vec![]),
        row(vec![
            text("A-1"),
            float("-3.5"),
            float("1250000"),
            date("1999-12-31"),
            date("2000-01-01T00:00:00"),
            boolean("false"),
        ]),
    ]
    .concat();
    ods(&path, &rows);
    let source = Source::open(&plan(path.clone()), &ReadOptions::default()).expect("opens");
    assert_eq!(source.info().format, "ods");
    assert_eq!(source.info().sheet.as_deref(), Some("Stock"));
    assert!(source.info().typed);
    source.finish().expect("finishes");
    let r = read(&plan(path));
    assert_eq!(r.header, ["sku", "qty", "price", "since", "at", "active"]);
    assert_eq!(
        texts(&r, 2),
        [
            "007",
            "12",
            "0.29",
            "2024-03-01",
            "2024-03-01 10:30:00",
            "true"
        ]
    );
    use CellKind::*;
    assert_eq!(
        kinds(&r, 2),
        [Text, Number, Number, Date, DateTime, Boolean]
    );
    assert_eq!(
        texts(&r, 4),
        [
            "A-1",
            "-3.5",
            "1250000",
            "1999-12-31",
            "2000-01-01 00:00:00",
            "false"
        ]
    );
    assert_eq!((r.read, r.skipped), (3, 1), "the empty row 3 is skipped");
}

/// An OLE compound file (the container of xls workbooks) holding one `Workbook` stream: header,
/// one FAT sector, one directory sector, then the stream in 512-byte sectors (padded with zero
/// bytes to 4096, so it lives in the FAT's sectors rather than the mini stream). `header` may
/// change the header before it is written, to craft a broken container.
fn ole_workbook(stream: &[u8], header_edit: impl FnOnce(&mut [u8])) -> Vec<u8> {
    const END_OF_CHAIN: u32 = 0xFFFF_FFFE;
    const FREE: u32 = 0xFFFF_FFFF;
    let put16 = |b: &mut [u8], at: usize, v: u16| b[at..at + 2].copy_from_slice(&v.to_le_bytes());
    let put32 = |b: &mut [u8], at: usize, v: u32| b[at..at + 4].copy_from_slice(&v.to_le_bytes());
    let mut data = stream.to_vec();
    data.resize(data.len().max(4096).div_ceil(512) * 512, 0);
    let sectors = (data.len() / 512) as u32;
    let mut header = vec![0u8; 512];
    header[..8].copy_from_slice(b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1");
    put16(&mut header, 24, 0x003E); // minor version
    put16(&mut header, 26, 3); // major version 3: 512-byte sectors
    put16(&mut header, 28, 0xFFFE); // little-endian
    put16(&mut header, 30, 9); // sector shift
    put16(&mut header, 32, 6); // mini sector shift
    put32(&mut header, 44, 1); // one FAT sector
    put32(&mut header, 48, 1); // the directory starts at sector 1
    put32(&mut header, 56, 4096); // mini stream cutoff
    put32(&mut header, 60, END_OF_CHAIN); // no mini FAT
    put32(&mut header, 68, END_OF_CHAIN); // no DIFAT sector
    put32(&mut header, 76, 0); // the FAT is sector 0
    for i in 1..109 {
        put32(&mut header, 76 + 4 * i, FREE);
    }
    header_edit(&mut header);
    let mut fat = vec![0u8; 512];
    put32(&mut fat, 0, 0xFFFF_FFFD); // sector 0: the FAT itself
    put32(&mut fat, 4, END_OF_CHAIN); // sector 1: the directory
    for i in 2..128u32 {
        let next = match i {
            i if i < 2 + sectors - 1 => i + 1,
            i if i == 2 + sectors - 1 => END_OF_CHAIN,
            _ => FREE,
        };
        put32(&mut fat, 4 * i as usize, next);
    }
    let entry = |name: &str, kind: u8, child: u32, start: u32, len: u32| {
        let mut e = vec![0u8; 128];
        let utf16: Vec<u8> = name
            .encode_utf16()
            .chain([0])
            .flat_map(u16::to_le_bytes)
            .collect();
        e[..utf16.len()].copy_from_slice(&utf16);
        put16(&mut e, 64, utf16.len() as u16);
        e[66] = kind;
        e[67] = 1; // black
        put32(&mut e, 68, FREE); // left sibling
        put32(&mut e, 72, FREE); // right sibling
        put32(&mut e, 76, child);
        put32(&mut e, 116, start);
        put32(&mut e, 120, len);
        e
    };
    let mut dir = Vec::new();
    dir.extend(entry("Root Entry", 5, 1, END_OF_CHAIN, 0));
    dir.extend(entry("Workbook", 2, FREE, 2, data.len() as u32));
    dir.resize(512, 0);
    [header, fat, dir, data].concat()
}

/// Crafted OLE files on which calamine's own parsers index out of bounds (its FAT lookup, its
/// sector reader, its BIFF `ExternSheet` record): each is a clear error naming the file, exit
/// 2, no panic message — as `.xls` and as a misnamed `.xlsx`.
#[test]
fn reader_panic_on_crafted_ole_files_is_a_clear_error() {
    // An ExternSheet record (0x0017) too short for its count field.
    let short_record = ole_workbook(&[0x17, 0x00, 0x00, 0x00], |_| {});
    // No FAT sector listed: the directory chain is looked up in an empty FAT.
    let no_fat = ole_workbook(&[0x0A, 0x00, 0x00, 0x00], |h| {
        h[76..80].copy_from_slice(&0xFFFF_FFFFu32.to_le_bytes());
    });
    // The FAT said to be in a sector past the end of the file.
    let fat_past_end = ole_workbook(&[0x0A, 0x00, 0x00, 0x00], |h| {
        h[76..80].copy_from_slice(&11u32.to_le_bytes());
    });
    for (what, bytes) in [
        ("short record", &short_record),
        ("no FAT", &no_fat),
        ("FAT past the end", &fat_past_end),
    ] {
        for name in ["crafted.xls", "crafted.xlsx"] {
            let err = broken(name, bytes);
            assert!(
                err.contains("is not a readable workbook (the xls reader failed on its structure)"),
                "{what}, {name}: {err}"
            );
            assert!(err.contains("export the sheet as CSV"), "{what}: {err}");
            assert!(!err.contains("panic"), "{what}: {err}");
        }
    }
}

/// calamine's ods reader keeps 1,048,576 rows and 16,384 columns of a sheet and drops the rest
/// without an error; a sheet it may have cut is an error naming the sheet, never a silent
/// truncation. LibreOffice's filler (empty rows and columns repeated to the sheet's end) is
/// not data, and such a sheet reads.
#[test]
fn sheet_cap_of_a_reader_is_an_error_not_a_truncation() {
    let text = |s: &str| {
        format!(
            r#"<table:table-cell office:value-type="string"><text:p>{s}</text:p></table:table-cell>"#
        )
    };
    let number =
        |v: u32| format!(r#"<table:table-cell office:value-type="float" office:value="{v}"/>"#);
    let header = format!("<table:table-row>{}</table:table-row>", text("n"));
    let empty_rows = |n: u32| {
        format!(
            r#"<table:table-row table:number-rows-repeated="{n}"><table:table-cell/></table:table-row>"#
        )
    };
    let cases = [
        (
            "a data row repeated past the last row",
            format!(
                r#"{header}<table:table-row table:number-rows-repeated="1100000">{}</table:table-row>"#,
                number(1)
            ),
            "reaches row 1048576",
        ),
        (
            "rows written one by one past the last row",
            format!(
                "{header}{}{}",
                empty_rows(1_048_570),
                (0..10)
                    .map(|i| format!("<table:table-row>{}</table:table-row>", number(i)))
                    .collect::<String>()
            ),
            "spans 1048581 rows but the ods reader kept only 1048576 of them",
        ),
        (
            "a row past the last column",
            format!(
                r#"{header}<table:table-row><table:table-cell table:number-columns-repeated="20000" office:value-type="float" office:value="1"/></table:table-row>"#
            ),
            "reaches column XFD (16384)",
        ),
    ];
    for (what, rows, reason) in cases {
        let p = Job::new();
        ods(&p.path().join("big.ods"), &rows);
        p.write("mapping.toml", "[source]\npath = \"big.ods\"\n");
        let run = p.run("validate");
        assert_eq!(run.code, 2, "{what}: {}", run.stderr);
        assert!(
            run.stderr.contains("sheet `Stock` of") && run.stderr.contains("big.ods"),
            "{what}: {}",
            run.stderr
        );
        assert!(run.stderr.contains(reason), "{what}: {}", run.stderr);
        assert!(
            run.stderr.contains("export it as CSV"),
            "{what}: {}",
            run.stderr
        );
    }

    // Three rows, then LibreOffice's filler to the sheet's last row and column.
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("filler.ods");
    let filler_cells = r#"<table:table-cell table:number-columns-repeated="16383"/>"#;
    let rows = format!(
        "<table:table-row>{}{filler_cells}</table:table-row><table:table-row>{}{filler_cells}</table:table-row><table:table-row>{}{filler_cells}</table:table-row>{}",
        text("n"),
        number(1),
        number(2),
        empty_rows(1_048_573)
    );
    ods(&path, &rows);
    let r = read(&plan(path));
    assert_eq!((r.rows.len(), r.read), (2, 2));
    assert_eq!(texts(&r, 3), ["2"]);
}

/// Validates the workbook `name` of project `p` with `[source]` extra lines; returns the run.
fn validate_book(p: &Job, name: &str, book: Book, source: &str) -> crate::util::Outcome {
    workbook(p.path(), name, book);
    p.write(
        "mapping.toml",
        format!("[source]\npath = \"{name}\"\n{source}\n"),
    );
    p.run("validate")
}

/// A row given twice in an xlsx (two `<row r="3">`), or with its cells out of order, is
/// rejected as `malformed-row` with every value in file order — never one copy silently kept.
/// Rows numbered out of order, a row given again further down, or a header given twice stop
/// the run naming the sheet and the rows.
#[test]
fn malformed_row_given_twice_or_out_of_order_is_never_lost() {
    let p = Job::new();
    let mut sheet = Sheet::new("S")
        .row(1, 1, vec![text("id"), text("name")])
        .row(2, 1, vec![Cell::Number(1.0), text("a")])
        .row(3, 1, vec![Cell::Number(2.0), text("b")])
        .row(3, 1, vec![Cell::Number(3.0), text("c")]);
    // Row 4: B4 written before A4.
    sheet
        .rows
        .push((4, vec![(2, text("d")), (1, Cell::Number(4.0))]));
    // Row 5 given in two `<row>` elements holding different cells: nothing repeats.
    let sheet = sheet
        .row(5, 1, vec![Cell::Number(5.0)])
        .row(5, 2, vec![text("e")])
        .row(6, 1, vec![Cell::Number(6.0), text("f")]);
    let run = validate_book(&p, "twice.xlsx", Book::new(vec![sheet]), "");
    assert_eq!(run.code, 1, "{}", run.stderr);
    let errors = p.errors();
    let got: Vec<(&str, &str, &str)> = errors
        .iter()
        .map(|e| (e["row"].as_str(), e["code"].as_str(), e["value"].as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("3", "malformed-row", "A3=2, B3=b, A3=3, B3=c"),
            ("4", "malformed-row", "B4=d, A4=4")
        ]
    );
    assert!(
        errors[0]["message"].contains("given more than once"),
        "{errors:?}"
    );
    let rejects = read_csv(&p.path().join("out/_report/rejects.csv"), b',');
    assert_eq!(rejects.len(), 2);
    let report = p.report();
    assert_eq!(report["rows"]["read"], 5);
    assert_eq!(report["rows"]["accepted"], 3);
    assert_eq!(report["rows"]["rejected"], 2);

    // Rows going back: a row out of order, a row given again after others, a header twice.
    let back = |rows: &[(u32, f64)], header_twice: bool| {
        let mut s = Sheet::new("S").row(1, 1, vec![text("id")]);
        if header_twice {
            s = s.row(1, 1, vec![text("key")]);
        }
        for (r, v) in rows {
            s = s.row(*r, 1, vec![Cell::Number(*v)]);
        }
        Book::new(vec![s])
    };
    for (what, book, says) in [
        (
            "out of order",
            back(&[(2, 1.0), (4, 2.0), (3, 3.0)], false),
            "gives row 3 after row 4",
        ),
        (
            "again further down",
            back(&[(2, 1.0), (3, 2.0), (2, 3.0)], false),
            "gives row 2 after row 3",
        ),
        (
            "header twice",
            back(&[(2, 1.0)], true),
            "gives its header row 1 more than once",
        ),
    ] {
        let p = Job::new();
        let run = validate_book(&p, "back.xlsx", book, "");
        assert_eq!(run.code, 2, "{what}: {}", run.stderr);
        assert!(run.stderr.contains("sheet `S`"), "{what}: {}", run.stderr);
        assert!(run.stderr.contains(says), "{what}: {}", run.stderr);
    }
}

/// Cells longer than `max_field_bytes` reject their row as `field-too-long` (the value cut to
/// an excerpt), like a CSV field over the limit; so does a row whose cells hold too much text
/// in all (a long shared string used in every cell). Values far past it (8 times), and parts
/// read whole that unpack past `max_part_bytes`, stop the run before anything is unpacked into
/// memory. The bombs are built here, small on disk, with small limits.
#[test]
fn field_too_long_and_unpacking_bombs_are_bounded() {
    let limits = "max_field_bytes = 1000\nmax_part_bytes = 200000";
    let rows = |cells: Vec<(Cell, Cell)>| {
        let mut s = Sheet::new("S").row(1, 1, vec![text("id"), text("note")]);
        for (i, (a, b)) in cells.into_iter().enumerate() {
            s = s.row(i as u32 + 2, 1, vec![a, b]);
        }
        Book::new(vec![s])
    };

    // Long cells, shared and inline, under the 8× limit: their rows are rejected.
    let p = Job::new();
    let book = rows(vec![
        (Cell::Number(1.0), text("fine")),
        (Cell::Number(2.0), text(&"é".repeat(1500))),
        (Cell::Number(3.0), Cell::Inline("x".repeat(5000))),
        (Cell::Number(4.0), text("fine too")),
    ]);
    let run = validate_book(&p, "long.xlsx", book, limits);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let errors = p.errors();
    let got: Vec<(&str, &str, &str)> = errors
        .iter()
        .map(|e| (e["row"].as_str(), e["code"].as_str(), e["column"].as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("3", "field-too-long", "note"),
            ("4", "field-too-long", "note")
        ]
    );
    assert!(
        errors[0]["message"].contains("cell B3 holds 3000 bytes"),
        "{errors:?}"
    );
    assert!(
        errors[0]["message"].contains("max_field_bytes"),
        "{errors:?}"
    );
    assert!(errors[1]["value"].len() < 200, "an excerpt, not the value");
    assert_eq!(p.report()["rows"]["accepted"], 2);

    // A 900-byte shared string in 100 cells of one row: 90,000 bytes, past 64 × 1000.
    let p = Job::new();
    let wide: Vec<Cell> = (0..100).map(|_| text(&"w".repeat(900))).collect();
    let header: Vec<Cell> = (0..100).map(|i| text(&format!("c{i}"))).collect();
    let book = Book::new(vec![Sheet::new("S").row(1, 1, header).row(2, 1, wide).row(
        3,
        1,
        vec![text("ok")],
    )]);
    let run = validate_book(&p, "wide.xlsx", book, limits);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let errors = p.errors();
    assert_eq!(
        (errors[0]["row"].as_str(), errors[0]["code"].as_str()),
        ("2", "field-too-long")
    );
    assert!(errors[0]["message"].contains("in all"), "{errors:?}");

    // Bombs: values far past the limit, in the shared strings, in a cell, as white space, in an
    // ods; a part read whole past `max_part_bytes`.
    let bomb = "A".repeat(2_000_000);
    let spaces = " ".repeat(2_000_000);
    let many: Vec<(Cell, Cell)> = (0..500)
        .map(|i| (Cell::Number(f64::from(i)), text(&format!("{i:0>500}"))))
        .collect();
    let field = "max_field_bytes = 1000";
    for (what, book, source, says) in [
        (
            "shared string",
            rows(vec![(Cell::Number(1.0), text(&bomb))]),
            field,
            "in shared string 3 (part `xl/sharedStrings.xml`)",
        ),
        (
            "inline cell",
            rows(vec![(Cell::Number(1.0), Cell::Inline(bomb.clone()))]),
            field,
            "near cell B2 (part `xl/worksheets/sheet1.xml`)",
        ),
        (
            "white space",
            rows(vec![(Cell::Number(1.0), Cell::Inline(spaces.clone()))]),
            field,
            "near cell B2",
        ),
        (
            "shared strings in all",
            rows(many),
            limits,
            "unpacks to 268743 bytes (`xl/sharedStrings.xml`), more than `max_part_bytes` (200000 bytes)",
        ),
    ] {
        let p = Job::new();
        let run = validate_book(&p, "bomb.xlsx", book, source);
        assert_eq!(run.code, 2, "{what}: {}", run.stderr);
        assert!(run.stderr.contains("bomb.xlsx"), "{what}: {}", run.stderr);
        assert!(run.stderr.contains(says), "{what}: {}", run.stderr);
        let size = std::fs::metadata(p.path().join("bomb.xlsx"))
            .expect("size")
            .len();
        assert!(size < 100_000, "{what}: small on disk ({size} bytes)");
    }
    let p = Job::new();
    ods(
        &p.path().join("bomb.ods"),
        &format!(
            r#"<table:table-row><table:table-cell office:value-type="string"><text:p>{bomb}</text:p></table:table-cell></table:table-row>"#
        ),
    );
    p.write(
        "mapping.toml",
        format!("[source]\npath = \"bomb.ods\"\n{field}\n"),
    );
    let run = p.run("validate");
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("part `content.xml`"), "{}", run.stderr);
}
