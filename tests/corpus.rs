//! Conformance on the public corpus in `../shared/corpus/` (see its README).

use std::path::{Path, PathBuf};

use rowferry::issue::Code;
use rowferry::plan::{HeaderNames, SheetRef, SourcePlan};
use rowferry::source::{ReadOptions, Source, SourceInfo, SourceReject, column_name};

use crate::util::{Project, repo};

/// The corpus, or `None` outside CI when it is absent (the test says it skipped). Under CI
/// (`CI` set) a missing corpus fails the test: conformance must never pass unseen.
fn corpus() -> Option<PathBuf> {
    let dir = repo().join("../shared/corpus");
    if dir.is_dir() {
        Some(dir)
    } else if std::env::var_os("CI").is_some() {
        panic!(
            "../shared/corpus is absent ({}), and CI is set: the conformance tests need it",
            dir.display()
        );
    } else {
        eprintln!("SKIPPED: ../shared/corpus is absent; conformance tests need it");
        None
    }
}

/// Reads a whole CSV with rowferry's source into header-keyed records.
fn read_all(path: PathBuf) -> Vec<serde_json::Map<String, serde_json::Value>> {
    let plan = SourcePlan {
        delimiter: Some(b','),
        quote: Some(b'"'),
        header_row: Some(1),
        header: Some(true),
        ..SourcePlan::detect(path)
    };
    let mut source = Source::open(&plan, &ReadOptions::default()).unwrap();
    let header = source.info().header.clone();
    let mut out = Vec::new();
    while let Some(chunk) = source.next_chunk(3).unwrap() {
        assert!(chunk.rejects.is_empty(), "{:?}", chunk.rejects);
        for i in 0..chunk.rows.len() {
            let mut rec = serde_json::Map::new();
            for (c, h) in header.iter().enumerate() {
                let col = chunk.frame.column(&column_name(c)).unwrap().str().unwrap();
                rec.insert(h.clone(), col.get(i).unwrap_or("").into());
            }
            out.push(rec);
        }
    }
    out
}

#[test]
fn csv_spectrum_reads_to_its_expected_json() {
    let Some(corpus) = corpus() else { return };
    let dir = corpus.join("csv-spectrum");
    let mut n = 0;
    for entry in std::fs::read_dir(dir.join("csvs")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let json: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join(format!("json/{name}.json"))).unwrap(),
        )
        .unwrap();
        // One case (location_coordinates) holds its single record as an object, not an array.
        let expected: Vec<serde_json::Map<String, serde_json::Value>> = match json {
            serde_json::Value::Array(items) => items
                .into_iter()
                .map(|v| v.as_object().cloned().unwrap())
                .collect(),
            serde_json::Value::Object(o) => vec![o],
            other => panic!("{name}: unexpected JSON {other}"),
        };
        let mut got = read_all(path.clone());
        if name == "location_coordinates" {
            // The expected JSON of this case disagrees with its own CSV on one value: the CSV
            // holds `2095257564` where the JSON says `1234567890` (the fixture was edited on one
            // side only). The reader is right to return what the file holds.
            assert_eq!(got[0]["Contact Phone Number"], "2095257564");
            got[0].insert("Contact Phone Number".into(), "1234567890".into());
        }
        assert_eq!(got, expected, "{name}");
        n += 1;
    }
    assert_eq!(n, 12, "csv-spectrum has 12 cases");
}

/// Everything a source reads from a file, with every option left to detection but those set.
struct Read {
    info: SourceInfo,
    /// `(row, line, values)` of every accepted row.
    rows: Vec<(u64, u64, Vec<String>)>,
    rejects: Vec<SourceReject>,
    skipped: u64,
}

fn read(plan: SourcePlan) -> Read {
    let mut source = Source::open(&plan, &ReadOptions::default())
        .unwrap_or_else(|e| panic!("{}: {e}", plan.path.display()));
    let info = source.info().clone();
    let mut out = Read {
        info,
        rows: Vec::new(),
        rejects: Vec::new(),
        skipped: 0,
    };
    while let Some(chunk) = source.next_chunk(2).expect("the file reads to its end") {
        for i in 0..chunk.rows.len() {
            let values = (0..out.info.header.len())
                .map(|c| {
                    let column = chunk
                        .frame
                        .column(&column_name(c))
                        .expect("a source column");
                    column.str().expect("text").get(i).unwrap_or("").to_string()
                })
                .collect();
            out.rows.push((chunk.rows[i], chunk.lines[i], values));
        }
        out.rejects.extend(chunk.rejects);
        out.skipped += chunk.skipped;
    }
    out
}

fn values(read: &Read) -> Vec<Vec<&str>> {
    read.rows
        .iter()
        .map(|(_, _, v)| v.iter().map(String::as_str).collect())
        .collect()
}

#[test]
fn csvkit_encodings_are_detected_and_decoded() {
    let Some(corpus) = corpus() else { return };
    let dir = corpus.join("encodings");
    for (file, encoding, bom) in [
        ("csvkit--test_utf16_little.csv", "UTF-16LE", true),
        ("csvkit--test_utf16_big.csv", "UTF-16BE", true),
    ] {
        let got = read(SourcePlan::detect(dir.join(file)));
        assert_eq!(got.info.encoding, encoding, "{file}");
        assert!(got.info.encoding_detected, "{file}");
        assert_eq!(got.info.bom, bom, "{file}");
        assert_eq!(got.info.header, ["a", "b", "c"], "{file}");
        assert_eq!(
            values(&got),
            [["1", "2", "3"], ["4", "5", "\u{2a4}"]],
            "{file}"
        );
    }
    // ISO-8859-1 text is read as windows-1252, its WHATWG superset.
    let latin1 = read(SourcePlan::detect(dir.join("csvkit--test_latin1.csv")));
    assert_eq!(latin1.info.encoding, "windows-1252");
    assert_eq!(values(&latin1), [["1", "2", "3"], ["4", "5", "\u{a9}"]]);
    let utf8 = read(SourcePlan::detect(dir.join("csvkit--test_utf8.csv")));
    let bom = read(SourcePlan::detect(dir.join("csvkit--test_utf8_bom.csv")));
    assert_eq!((utf8.info.encoding, utf8.info.bom), ("UTF-8", false));
    assert_eq!((bom.info.encoding, bom.info.bom), ("UTF-8", true));
    assert_eq!(bom.info.header, ["foo", "bar", "baz"]);
    assert_eq!(values(&utf8), values(&bom));
    assert_eq!(values(&utf8)[1], ["4", "5", "\u{2a4}"]);
}

#[test]
fn a_latin1_export_reads_as_its_ascii_twin_but_for_its_accents() {
    let Some(corpus) = corpus() else { return };
    let latin1 = read(SourcePlan::detect(
        corpus.join("encodings/rust-csv--uspop-latin1.csv"),
    ));
    let ascii = read(SourcePlan::detect(corpus.join("csv/rust-csv/uspop.csv")));
    assert_eq!(latin1.info.encoding, "windows-1252");
    assert_eq!(latin1.rows.len(), 100);
    let differ: Vec<(&str, &str)> = latin1
        .rows
        .iter()
        .zip(&ascii.rows)
        .filter(|(l, a)| l.2 != a.2)
        .map(|(l, a)| (l.2[0].as_str(), a.2[0].as_str()))
        .collect();
    assert_eq!(differ, [("\u{d5}akman", "Oakman")]);
}

#[test]
fn frictionless_invalid_table_gives_its_structural_issues() {
    let Some(corpus) = corpus() else { return };
    let path = corpus.join("csv/frictionless/invalid.csv");
    // Blank label in column 3, duplicate label in column 4: refused by default.
    let err = Source::open(&SourcePlan::detect(path.clone()), &ReadOptions::default())
        .err()
        .expect("a blank and a repeated header name stop the run")
        .to_string();
    assert!(err.contains("no name for column 3"), "{err}");
    assert!(err.contains("`name` (columns 2, 4)"), "{err}");
    let got = read(SourcePlan {
        header_names: HeaderNames::Rename,
        ..SourcePlan::detect(path)
    });
    assert_eq!(got.info.header, ["id", "name", "column_3", "name_2"]);
    // Missing cells at rows 2 and 3, the blank row 4, an extra cell at row 5.
    let rejects: Vec<(u64, Code, &str)> = got
        .rejects
        .iter()
        .map(|r| (r.issue.row, r.issue.code, r.issue.value.as_str()))
        .collect();
    assert_eq!(
        rejects,
        [
            (2, Code::RaggedRow, "1,english"),
            (3, Code::RaggedRow, "1,english"),
            (5, Code::RaggedRow, "2,german,1,2,3"),
        ]
    );
    assert_eq!(got.skipped, 1);
    assert!(got.rows.is_empty());
}

#[test]
fn csvkit_cr_only_line_endings_and_nul_bytes() {
    let Some(corpus) = corpus() else { return };
    let dir = corpus.join("csv/csvkit");
    let mac = read(SourcePlan::detect(dir.join("mac_newlines.csv")));
    assert_eq!(mac.info.header, ["a", "b", "c"]);
    assert_eq!(
        mac.rows,
        [
            (2, 2, vec!["1".into(), "2".into(), "3".into()]),
            (
                3,
                3,
                vec!["Once upon\ra time".into(), "5".into(), "6".into()]
            ),
        ]
    );
    let nul = read(SourcePlan::detect(dir.join("null_byte.csv")));
    assert!(nul.rows.is_empty());
    let issue = &nul.rejects[0].issue;
    assert_eq!(
        (issue.row, issue.code, issue.column.as_str()),
        (2, Code::BadEncoding, "a")
    );
    assert_eq!(nul.rejects[0].fields, ["\0", "2", "3"]);
    // A header with every kind of line break inside its quotes (three `\n`) is one record on
    // lines 1–4.
    let newline = read(SourcePlan::detect(dir.join("test_header_newline.csv")));
    assert_eq!(newline.info.header[1..], ["b", "c"]);
    assert_eq!(
        newline.rows,
        [(2, 5, vec!["d".into(), "e".into(), "f".into()])]
    );
}

#[test]
fn frictionless_rows_before_the_header_are_a_title_block() {
    let Some(corpus) = corpus() else { return };
    let got = read(SourcePlan::detect(
        corpus.join("csv/frictionless/skip-rows-before-headers.csv"),
    ));
    assert_eq!(
        (got.info.header_row, got.info.header_row_detected),
        (2, true)
    );
    assert_eq!(got.info.header, ["id", "name"]);
    assert_eq!(got.rows[0], (3, 3, vec!["1".into(), "english".into()]));
}

#[test]
fn csvkit_ragged_rows_through_the_command_line() {
    let Some(corpus) = corpus() else { return };
    let p = Project::new();
    p.file(
        "mapping.toml",
        format!(
            "[source]\npath = {:?}\n",
            corpus.join("csv/csvkit/bad.csv").display().to_string()
        ),
    );
    let run = p.validate();
    assert_eq!(run.code, 1, "{}", run.stderr);
    let errors: Vec<(String, String, String)> = p
        .errors()
        .into_iter()
        .map(|e| (e["row"].clone(), e["code"].clone(), e["value"].clone()))
        .collect();
    assert_eq!(
        errors,
        [
            (
                "2".into(),
                "ragged-row".into(),
                "1,27,,I'm too long!".into()
            ),
            ("3".into(), "ragged-row".into(), ",I'm too short!".into()),
        ]
    );
    assert_eq!(p.report()["rows"]["accepted"], 1);
}

/// A sheet's rows as cell texts, read without a header: every row holding a value, without its
/// trailing empty cells (xlsx2csv pads rows to the sheet's width; an empty cell is no value).
fn sheet_rows(path: &Path, sheet: Option<SheetRef>) -> Vec<Vec<String>> {
    let plan = SourcePlan {
        header: Some(false),
        sheet,
        ..SourcePlan::detect(path.to_path_buf())
    };
    let mut source = Source::open(&plan, &ReadOptions::default())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(source.info().typed);
    let width = source.info().header.len();
    let mut rows = Vec::new();
    while let Some(chunk) = source.next_chunk(5).expect("a chunk") {
        assert!(chunk.rejects.is_empty(), "{:?}", chunk.rejects);
        for i in 0..chunk.rows.len() {
            let row: Vec<String> = (0..width)
                .map(|c| {
                    let col = chunk.frame.column(&column_name(c)).expect("column");
                    col.str().expect("text").get(i).unwrap_or("").to_string()
                })
                .collect();
            rows.push(trimmed(row));
        }
    }
    rows
}

fn trimmed(mut row: Vec<String>) -> Vec<String> {
    while row.last().is_some_and(String::is_empty) {
        row.pop();
    }
    row
}

/// Expected CSV text as rows, without blank rows (rowferry skips and counts them) and without
/// trailing empty fields.
fn csv_rows(text: &str) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes())
        .records()
        .map(|r| trimmed(r.expect("a record").iter().map(str::to_string).collect()))
        .filter(|r| !r.is_empty())
        .collect()
}

/// xlsx2csv's output of several sheets (`-a`): one block per sheet after a line
/// `-------- N - name`.
fn sheet_blocks(text: &str, marker: &str) -> Vec<String> {
    let mut blocks: Vec<String> = Vec::new();
    for line in text.split_inclusive('\n') {
        if line.starts_with(marker) {
            blocks.push(String::new());
        } else if let Some(b) = blocks.last_mut() {
            b.push_str(line);
        }
    }
    blocks
}

/// A value where rowferry's canonical text rightly differs from what the other tool printed.
struct Differs {
    row: usize,
    col: usize,
    theirs: &'static str,
    ours: &'static str,
}

/// Asserts `ours` equals `theirs` once each listed difference is checked (their value is what
/// the list says) and replaced by ours.
fn assert_matches(
    case: &str,
    ours: &[Vec<String>],
    mut theirs: Vec<Vec<String>>,
    diffs: &[Differs],
) {
    for d in diffs {
        let cell = theirs
            .get_mut(d.row)
            .and_then(|r| r.get_mut(d.col))
            .unwrap_or_else(|| panic!("{case}: no cell ({}, {})", d.row, d.col));
        assert_eq!(
            cell, d.theirs,
            "{case}: their value at ({}, {})",
            d.row, d.col
        );
        *cell = d.ours.to_string();
    }
    assert_eq!(ours, theirs, "{case}");
}

fn differs(row: usize, col: usize, theirs: &'static str, ours: &'static str) -> Differs {
    Differs {
        row,
        col,
        theirs,
        ours,
    }
}

#[test]
fn xlsx2csv_workbooks_read_to_their_expected_csv() {
    let Some(corpus) = corpus() else { return };
    let dir = corpus.join("xlsx/xlsx2csv");
    let read = |case: &str| {
        std::fs::read_to_string(dir.join(format!("{case}.csv"))).expect("a corpus file")
    };
    let book = |case: &str| {
        let x = dir.join(format!("{case}.xlsx"));
        if x.exists() {
            x
        } else {
            dir.join(format!("{case}.xlsm"))
        }
    };
    let mut n = 0;
    let mut check = |case: &str, diffs: &[Differs]| {
        assert_matches(
            case,
            &sheet_rows(&book(case), None),
            csv_rows(&read(case)),
            diffs,
        );
        n += 1;
    };
    // Same text, cell for cell (blank rows aside).
    for case in [
        "empty_row",
        "last-column-empty",
        "skip_empty_lines",
        "twolettercolumns",
        "xlsx2csv-test-file",
        "namespace",
        "utf8",
        "no_cell_ids",
        "input-weird",
    ] {
        check(case, &[]);
    }
    // A 1904-system workbook, printed by xlsx2csv with `--dateformat=%Y-%m-%d %H:%M:%S`, the
    // canonical form of a date-time cell.
    check("datetime", &[]);
    // xlsx2csv prints what the display format shows; rowferry reads the value: ISO dates
    // (d-mmm-yy, yy-mm-dd formats) and `false` for a boolean cell.
    check(
        "junk-small",
        &[
            differs(0, 0, "29-Mar-1940", "1940-03-29"),
            differs(0, 1, "25-Jul-2008", "2008-07-25"),
            differs(0, 2, "08-07-25", "2008-07-25"),
            differs(0, 3, "08-Apr-2009", "2009-04-08"),
            differs(0, 5, "FALSE", "false"),
        ],
    );
    // `-e` escapes the newline and tab inside the cell; rowferry keeps the text as it is.
    check(
        "escape",
        &[
            differs(0, 4, "Hello\\nWorld\\t!", "Hello\nWorld\t!"),
            differs(0, 5, "FALSE", "false"),
        ],
    );
    // `0.00000` and `0%` formats: the values are 0.103, 0.01234…, not their display.
    check(
        "float",
        &[
            differs(0, 0, "0.10300", "0.103"),
            differs(1, 0, "0.27600", "0.276"),
            differs(2, 0, "0.10300", "0.103"),
            differs(3, 0, "0.27600", "0.276"),
        ],
    );
    check(
        "percentage",
        &[
            differs(0, 0, "1.23%", "0.01234"),
            differs(1, 0, "50%", "0.5"),
            differs(2, 0, "1%", "0.005"),
            differs(3, 0, "0.01%", "0.00005"),
        ],
    );
    // Rounded by the display format in xlsx2csv; the stored doubles here. The date is a text
    // cell, so it stays as written.
    check(
        "float2",
        &[
            differs(0, 4, "0.003", "0.00261493408061246"),
            differs(0, 7, "20.41", "20.4100614385744"),
        ],
    );
    // `hh:mm` shows no seconds, but the values have them; the date-time column is printed by
    // xlsx2csv through a format full of quoted separators.
    check(
        "timeformat",
        &[
            differs(
                0,
                0,
                "03\"-\"08\"-\"2017\" \"14:35:00",
                "2017-08-03 14:35:00",
            ),
            differs(0, 1, "14:40", "14:40:30"),
            differs(
                1,
                0,
                "03\"-\"08\"-\"2017\" \"00:00:00",
                "2017-08-03 00:00:00",
            ),
            differs(1, 1, "11:30", "11:30:00"),
            differs(
                2,
                0,
                "03\"-\"08\"-\"2017\" \"15:40:00",
                "2017-08-03 15:40:00",
            ),
            differs(2, 1, "00:01", "00:01:59"),
        ],
    );
    // A rich-text cell of runs `Regular ` and `Bold`: calamine drops the space at the end of a
    // run written without `xml:space="preserve"` (as LibreOffice wrote it). A reader
    // limitation, asserted so a calamine upgrade that fixes it shows up here.
    check(
        "formatted_inline_string",
        &[differs(0, 0, "Regular Bold", "RegularBold")],
    );
    // `--hyperlinks` wraps each cell in its link; the cell's value is the text.
    for case in ["hyperlinks", "hyperlinks_continous"] {
        let unlinked: Vec<Vec<String>> = csv_rows(&read(case))
            .into_iter()
            .map(|r| r.into_iter().map(|v| unlink(&v)).collect())
            .collect();
        assert_matches(case, &sheet_rows(&book(case), None), unlinked, &[]);
        n += 1;
    }
    // `-a`: every sheet, in workbook order.
    for case in ["sheets", "sheets_order"] {
        let blocks = sheet_blocks(&read(case), "-------- ");
        assert!(blocks.len() >= 2, "{case}");
        for (i, block) in blocks.iter().enumerate() {
            let ours = sheet_rows(&book(case), Some(SheetRef::Index(i + 1)));
            assert_matches(
                &format!("{case} sheet {}", i + 1),
                &ours,
                csv_rows(block),
                &[],
            );
        }
        n += 1;
    }
    // `--all --sheetdelimiter=! --delimiter=\t --lineterminator=\r`.
    let text = read("variousdelim").replace('\r', "\n").replace('\t', ",");
    let blocks = sheet_blocks(&text, "! ");
    assert_eq!(blocks.len(), 2);
    for (i, block) in blocks.iter().enumerate() {
        let ours = sheet_rows(&book("variousdelim"), Some(SheetRef::Index(i + 1)));
        assert_matches("variousdelim", &ours, csv_rows(block), &[]);
    }
    n += 1;
    let cases = std::fs::read_dir(&dir)
        .expect("the corpus folder lists")
        .filter(|e| {
            let name = e.as_ref().expect("a folder entry").file_name();
            let name = name.to_string_lossy();
            name.ends_with(".xlsx") || name.ends_with(".xlsm")
        })
        .count();
    assert_eq!(n, cases, "every xlsx2csv workbook is checked");
}

/// `<a href='…'>text</a>` → `text`.
fn unlink(v: &str) -> String {
    match (v.find("'>"), v.strip_suffix("</a>")) {
        (Some(i), Some(_)) if v.starts_with("<a href=") => v[i + 2..v.len() - 4].to_string(),
        _ => v.to_string(),
    }
}

/// csvkit's `in2csv` prints booleans as `True`/`False` and date-times with a `T`; rowferry's
/// canonical text is `true`/`false` and a space. csvkit also names the blank header of column
/// H `h` (after its letter); rowferry reads the blank cell as it is (the header policy names
/// it later).
fn csvkit_text(v: &str) -> String {
    match v {
        "True" => "true".into(),
        "False" => "false".into(),
        "h" => String::new(),
        v if v.len() == 19 && v.as_bytes()[10] == b'T' => v.replacen('T', " ", 1),
        v => v.to_string(),
    }
}

#[test]
fn csvkit_workbooks_in_the_1904_system_read_to_their_expected_csv() {
    let Some(corpus) = corpus() else { return };
    let dir = corpus.join("xlsx/csvkit");
    let expected: Vec<Vec<String>> = csv_rows(
        &std::fs::read_to_string(corpus.join("csv/csvkit/testxlsx_converted.csv"))
            .expect("a corpus file"),
    )
    .into_iter()
    .map(|r| trimmed(r.iter().map(|v| csvkit_text(v)).collect()))
    .collect();
    // Mac Excel workbooks in the 1904 date system: 1971-01-01 is serial 24472 there.
    let test = sheet_rows(&dir.join("test.xlsx"), None);
    assert_eq!(test[1][1], "1971-01-01");
    assert_eq!(test[1][5], "1971-01-01 04:14:00");
    assert_eq!(test, expected, "test.xlsx");
    // csvkit reads the `data` sheet of sheets.xlsx to the same file (the first sheet, `not
    // this one`, is empty).
    let data = sheet_rows(
        &dir.join("sheets.xlsx"),
        Some(SheetRef::Name("data".into())),
    );
    assert_eq!(data, expected, "sheets.xlsx, sheet data");
    let by_index = sheet_rows(&dir.join("sheets.xlsx"), Some(SheetRef::Index(3)));
    assert_eq!(
        by_index,
        [vec!["a", "b", "c"], vec!["1", "2", "3"]],
        "sheet ʤ"
    );
}

#[test]
fn csvkit_sheets_expected_csv_holds_the_data_sheet_rows_with_a_time_column() {
    let Some(corpus) = corpus() else { return };
    // sheetsxlsx_converted.csv lists the `data` sheet's rows in another order, with an extra
    // `time` column (the time of day of `datetime`) and midnight date-times printed as dates:
    // csvkit's output of a variant of the workbook. Every value it shares with the sheet
    // agrees, column by column, once formats are aligned.
    let expected = csv_rows(
        &std::fs::read_to_string(corpus.join("csv/csvkit/sheetsxlsx_converted.csv"))
            .expect("a corpus file"),
    );
    let ours = sheet_rows(
        &corpus.join("xlsx/csvkit/sheets.xlsx"),
        Some(SheetRef::Name("data".into())),
    );
    let header = &ours[0];
    let their_header = &expected[0];
    let mut compared = 0;
    for theirs in &expected[1..] {
        let mine = ours
            .iter()
            .find(|r| r.first() == theirs.first())
            .unwrap_or_else(|| panic!("row {:?} is in the sheet", theirs.first()));
        // text, date, integer, boolean, float, datetime: the columns both have.
        for (c, name) in header.iter().enumerate().take(6) {
            let tc = their_header
                .iter()
                .position(|h| h == name)
                .unwrap_or_else(|| panic!("their header has {name}"));
            let mut want = csvkit_text(theirs.get(tc).map_or("", String::as_str));
            if name == "datetime" && want.len() == 10 {
                want.push_str(" 00:00:00");
            }
            let got = mine.get(c).map_or("", String::as_str);
            assert_eq!(got, want, "{name} of {:?}", theirs.first());
            compared += 1;
        }
    }
    assert_eq!(compared, 5 * 6, "five rows, six shared columns");
}
