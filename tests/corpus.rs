//! Conformance on the public corpus in `../shared/corpus/` (see its README).

use std::path::PathBuf;

use rowferry::issue::Code;
use rowferry::plan::{HeaderNames, SourcePlan};
use rowferry::source::{ReadOptions, Source, SourceInfo, SourceReject, column_name};

use crate::util::{Project, repo};

fn corpus() -> Option<PathBuf> {
    let dir = repo().join("../shared/corpus");
    if dir.is_dir() {
        Some(dir)
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
    while let Some(batch) = source.next_batch(3).unwrap() {
        assert!(batch.rejects.is_empty(), "{:?}", batch.rejects);
        for i in 0..batch.rows.len() {
            let mut rec = serde_json::Map::new();
            for (c, h) in header.iter().enumerate() {
                let col = batch.frame.column(&column_name(c)).unwrap().str().unwrap();
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
    while let Some(batch) = source.next_batch(2).expect("the file reads to its end") {
        for i in 0..batch.rows.len() {
            let values = (0..out.info.header.len())
                .map(|c| {
                    let column = batch
                        .frame
                        .column(&column_name(c))
                        .expect("a source column");
                    column.str().expect("text").get(i).unwrap_or("").to_string()
                })
                .collect();
            out.rows.push((batch.rows[i], batch.lines[i], values));
        }
        out.rejects.extend(batch.rejects);
        out.skipped += batch.skipped;
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
