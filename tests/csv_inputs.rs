//! CSV inputs as legacy systems export them: encodings, dialects, title blocks, headers or not,
//! and structurally broken records read row by row.

use rowferry::plan::SourcePlan;
use rowferry::source::{ReadOptions, Source};
use sha2::{Digest, Sha256};

use crate::util::{Job, repo, rowferry};

/// `(row, line, code, field, column, value)` of every issue, from `_report/errors.csv`.
type Issue = (u64, u64, String, String, String, String);

/// `rowferry validate mappings/crm-contacts.toml --input samples/crm/FILE` into a fresh folder.
fn validate_crm(input: &str, extra: &[&str]) -> (tempfile::TempDir, serde_json::Value, Vec<Issue>) {
    let out = tempfile::tempdir().expect("a temporary folder");
    let out_dir = out.path().display().to_string();
    let mut args = vec![
        "validate",
        "mappings/crm-contacts.toml",
        "--input",
        input,
        "--out",
        &out_dir,
        "--quiet",
    ];
    args.extend(extra);
    let run = rowferry(&repo(), &args);
    assert_eq!(run.code, 1, "{input}: {}", run.stderr);
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.path().join("_report/report.json")).expect("report.json"),
    )
    .expect("report.json is JSON");
    let issues = crate::util::read_csv(&out.path().join("_report/errors.csv"), b',')
        .into_iter()
        .map(|e| {
            (
                e["row"].parse().expect("a row number"),
                e["line"].parse().expect("a line number"),
                e["code"].clone(),
                e["field"].clone(),
                e["column"].clone(),
                e["value"].clone(),
            )
        })
        .collect();
    (out, report, issues)
}

#[test]
fn crm_exports_in_windows_1252_and_utf16_give_the_issues_of_the_utf8_export() {
    let (_plain_out, plain, expected) = validate_crm("samples/crm/contacts.csv", &[]);
    assert_eq!(plain["input"]["encoding"], "UTF-8");
    assert!(
        expected.iter().any(|i| i.2 == "ragged-row") && expected.len() > 10,
        "{expected:?}"
    );
    for (input, encoding, delimiter, header_row, bom) in [
        (
            "samples/crm/contacts-1252.csv",
            "windows-1252",
            ";",
            3,
            false,
        ),
        ("samples/crm/contacts-utf16.csv", "UTF-16LE", "\t", 1, true),
    ] {
        let (_out, report, issues) = validate_crm(input, &[]);
        let i = &report["input"];
        assert_eq!(i["encoding"], encoding, "{input}");
        assert_eq!(i["encoding_detected"], true, "{input}");
        assert_eq!(i["bom"], bom, "{input}");
        assert_eq!(i["delimiter"], delimiter, "{input}");
        assert_eq!(i["delimiter_sniffed"], true, "{input}");
        assert_eq!(i["header_row"], header_row, "{input}");
        assert_eq!(i["header_row_detected"], true, "{input}");
        assert_eq!(i["has_header"], true, "{input}");
        // The same rows, plus the lines of the title block, skipped; the same issues, rows and
        // lines shifted by the title block; a ragged row's value is its fields joined by the
        // file's own delimiter.
        let offset = header_row - 1;
        for count in ["accepted", "rejected", "routed", "unrouted"] {
            assert_eq!(
                report["rows"][count], plain["rows"][count],
                "{input} {count}"
            );
        }
        for count in ["read", "skipped"] {
            assert_eq!(
                report["rows"][count].as_u64().unwrap(),
                plain["rows"][count].as_u64().unwrap() + offset,
                "{input} {count}"
            );
        }
        assert_eq!(
            report["input"]["lines_above_header"]
                .as_array()
                .map(Vec::len)
                .unwrap_or(0),
            offset as usize,
            "{input}"
        );
        let shifted: Vec<Issue> = issues
            .into_iter()
            .map(|(row, line, code, field, column, value)| {
                let value = if code == "ragged-row" {
                    value.replace(delimiter, ",")
                } else {
                    value
                };
                (row - offset, line - offset, code, field, column, value)
            })
            .collect();
        assert_eq!(shifted, expected, "{input}");
        // The checksum is the file's, not the decoded text's.
        let bytes = std::fs::read(repo().join(input)).expect("the sample");
        assert_eq!(
            i["sha256"],
            rowferry::plan::hex(&Sha256::digest(&bytes)),
            "{input}"
        );
        assert_eq!(i["bytes"], bytes.len(), "{input}");
    }
}

#[test]
fn crm_ragged_export_is_read_row_by_row() {
    let (_out, report, issues) = validate_crm(
        "samples/crm/contacts-ragged.csv",
        &["--set", "run.max_error_rate=1"],
    );
    let source: Vec<(u64, &str, &str)> = issues
        .iter()
        .filter(|i| ["ragged-row", "bad-quoting", "bad-encoding"].contains(&i.2.as_str()))
        .map(|i| (i.0, i.2.as_str(), i.4.as_str()))
        .collect();
    assert_eq!(
        source,
        [
            (5, "ragged-row", ""),
            (7, "ragged-row", ""),
            // One empty field too many, and the header does not end with a delimiter: it may
            // be an unquoted delimiter inside a value, so it is not silently dropped.
            (9, "ragged-row", ""),
            (13, "bad-quoting", "Company"),
            (20, "bad-encoding", "First Name"),
            (25, "bad-quoting", "Company"),
        ]
    );
    // Every line is a row: the lines a misplaced quote held together are read on their own.
    assert_eq!(report["rows"]["read"], 29);
    assert_eq!(report["rows"]["skipped"], 0);
    assert_eq!(report["rows"]["rejected"], 9);
    let bad = &issues[issues.iter().position(|i| i.0 == 13).expect("row 13")];
    assert_eq!(
        bad.5,
        "Maple Street Bakery Co.,ACC-5370,Oliver Bennett,opportunity,2021-06-18 11:42:04,,155000.00,yes",
        "the value is the rest of the line where the quote opens"
    );
}

/// A project reading `data.csv` with these `[source]` lines, under a structure with these
/// fields (none: every column as optional text).
fn project(source: &str, fields: &str, data: &[u8]) -> Job {
    let mut mapping = format!("[source]\npath = \"data.csv\"\n{source}\n");
    if !fields.is_empty() {
        mapping.push_str(&format!(
            "structure = \"s\"\n\n[structures.s.fields]\n{fields}\n"
        ));
    }
    let p = Job::new();
    p.write("mapping.toml", mapping).write("data.csv", data);
    p
}

#[test]
fn doubled_carriage_returns_end_lines_without_blank_rows() {
    let p = project(
        "",
        "a = {}\nb = { type = \"integer\" }",
        b"a,b\r\r\nx,1\r\r\ny,z\r\r\n",
    );
    assert_eq!(p.run("validate").code, 1);
    let errs = p.errors();
    assert_eq!(errs.len(), 1);
    assert_eq!(
        (errs[0]["row"].as_str(), errs[0]["value"].as_str()),
        ("3", "z")
    );
    assert_eq!(p.report()["rows"]["skipped"], 0);
}

#[test]
fn a_delimiter_at_the_end_of_every_line_adds_no_column() {
    let p = project(
        "",
        "a = {}\nb = { type = \"integer\" }",
        b"a,b,\n1,2,\nx,3\n4,5,6\n",
    );
    assert_eq!(p.run("validate").code, 1);
    let r = p.report();
    assert_eq!(r["input"]["columns"], serde_json::json!(["a", "b"]));
    assert_eq!(r["rows"]["accepted"], 2);
    assert_eq!(
        p.error_codes(),
        vec![(4, String::new(), "ragged-row".to_string())],
        "an extra field is accepted only when empty"
    );
}

#[test]
fn a_file_without_header_names_its_columns_by_position() {
    let p = project(
        "header = false",
        "column_1 = { type = \"integer\" }\ncolumn_2 = {}",
        b"1,a\nx,b\n",
    );
    assert_eq!(p.run("validate").code, 1);
    assert_eq!(
        p.error_codes(),
        vec![(2, "column_1".to_string(), "type-mismatch".to_string())]
    );
    let r = p.report();
    assert_eq!(r["input"]["has_header"], false);
    assert_eq!(r["rows"]["read"], 2, "the first line is data, row 1");
}

#[test]
fn a_header_is_assumed_unless_the_first_record_is_clearly_data() {
    let numbers = project("", "", b"1,2024-03-12,3.5\n2,2024-03-13,4\n3,2024-03-14,\n");
    assert_eq!(numbers.run("validate").code, 0);
    let r = numbers.report();
    assert_eq!(r["input"]["has_header"], false);
    assert_eq!(
        r["input"]["columns"],
        serde_json::json!(["column_1", "column_2", "column_3"])
    );
    assert_eq!(r["rows"]["accepted"], 3);
    let named = project("", "", b"id,day\n1,2024-03-12\n");
    assert_eq!(named.run("validate").code, 0);
    assert_eq!(named.report()["input"]["has_header"], true);
}

#[test]
fn a_title_block_is_found_with_or_without_a_structure() {
    let data = b"Stock au 12/03/2024\n\nsku;qty\nA-1;4\nA-2;x\n";
    let with = project("", "sku = {}\nqty = { type = \"integer\" }", data);
    assert_eq!(with.run("validate").code, 1);
    assert_eq!(
        with.error_codes(),
        vec![(5, "qty".to_string(), "type-mismatch".to_string())]
    );
    let without = project("", "", data);
    assert_eq!(without.run("validate").code, 0);
    for r in [with.report(), without.report()] {
        assert_eq!(r["input"]["header_row"], 3);
        assert_eq!(r["input"]["header_row_detected"], true);
        assert_eq!(r["input"]["delimiter"], ";");
        // The title line and the blank line under it are rows too, skipped with their text.
        assert_eq!(r["rows"]["read"], 4);
        assert_eq!(r["rows"]["skipped"], 2);
        assert_eq!(
            r["input"]["lines_above_header"],
            serde_json::json!([
                {"line": 1, "text": "Stock au 12/03/2024"},
                {"line": 2, "text": ""}
            ])
        );
    }
}

#[test]
fn single_quotes_are_sniffed_when_they_enclose_fields() {
    let p = project("", "a = {}\nb = {}", b"a;b\n'x;y';1\n'z';2\n");
    assert_eq!(p.run("validate").code, 0);
    let r = p.report();
    assert_eq!(r["input"]["quote"], "'");
    assert_eq!(r["input"]["quote_sniffed"], true);
    assert_eq!(r["input"]["delimiter"], ";");
    assert_eq!(r["rows"]["accepted"], 2);
}

fn utf16le(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

#[test]
fn utf16_without_bom_is_detected_and_undecodable_units_reject_their_row() {
    let mut data = utf16le("name,n\nJos\u{e9},1\n");
    // An unpaired surrogate in the second row's name.
    data.extend(utf16le("A"));
    data.extend([0x00, 0xD8]);
    data.extend(utf16le(",2\nZo\u{eb},3\n"));
    let p = project("", "name = {}\nn = { type = \"integer\" }", &data);
    assert_eq!(p.run("validate").code, 1);
    let r = p.report();
    assert_eq!(r["input"]["encoding"], "UTF-16LE");
    assert_eq!(r["input"]["bom"], false);
    assert_eq!(r["rows"]["accepted"], 2);
    let errs = p.errors();
    assert_eq!(errs.len(), 1);
    assert_eq!(
        (
            errs[0]["row"].as_str(),
            errs[0]["code"].as_str(),
            errs[0]["column"].as_str()
        ),
        ("3", "bad-encoding", "name")
    );
    assert!(
        errs[0]["message"].contains("not valid UTF-16LE"),
        "{}",
        errs[0]["message"]
    );
}

#[test]
fn a_legacy_byte_past_the_detection_prefix_rejects_its_row_only() {
    // More than the 1 MiB that detection reads, all ASCII: the file is taken for UTF-8.
    let mut data = b"id,name\n".to_vec();
    let mut n = 0;
    while data.len() < 1_100_000 {
        n += 1;
        data.extend(format!("{n},name {n}\n").as_bytes());
    }
    data.extend(b"x,caf\xe9\nlast,ok\n");
    let p = project("", "id = {}\nname = {}", &data);
    assert_eq!(p.run("validate").code, 1);
    let r = p.report();
    assert_eq!(r["input"]["encoding"], "UTF-8");
    assert_eq!(r["input"]["encoding_detected"], true);
    assert_eq!(r["rows"]["accepted"], n + 1);
    let errs = p.errors();
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0]["code"], "bad-encoding");
    assert_eq!(errs[0]["column"], "name");
    assert_eq!(errs[0]["row"], (n + 2).to_string());
}

#[test]
fn a_runaway_quote_is_rejected_and_the_next_lines_are_read() {
    let p = project(
        "max_field_bytes = 64",
        "a = {}\nb = {}",
        format!(
            "a,b\n1,\"never closed\n{}2,two\n3,\"q\"\n",
            "3,filler\n".repeat(10)
        )
        .as_bytes(),
    );
    assert_eq!(p.run("validate").code, 1);
    let errs = p.errors();
    assert_eq!(errs.len(), 1);
    assert_eq!(
        (
            errs[0]["row"].as_str(),
            errs[0]["line"].as_str(),
            errs[0]["code"].as_str(),
            errs[0]["column"].as_str(),
            errs[0]["value"].as_str()
        ),
        ("2", "2", "bad-quoting", "b", "never closed")
    );
    assert!(
        errs[0]["message"].contains("max_field_bytes"),
        "{}",
        errs[0]["message"]
    );
    let r = p.report();
    assert_eq!(r["rows"]["read"], 13);
    assert_eq!(r["rows"]["accepted"], 12);
}

#[test]
fn the_progress_counter_counts_the_file_bytes() {
    let p = Job::new();
    let mut data = vec![0xFF, 0xFE];
    data.extend(utf16le("a\tb\n"));
    data.extend(utf16le(&"\u{e9}t\u{e9}\t1\n".repeat(5000)));
    p.write("data.csv", &data);
    let plan = SourcePlan::detect(p.path().join("data.csv"));
    let mut source = Source::open(&plan, &ReadOptions::default()).expect("opens");
    let progress = source.progress();
    let mut rows = 0;
    while let Some(chunk) = source.next_chunk(1000).expect("reads") {
        rows += chunk.rows.len();
    }
    assert_eq!(rows, 5000);
    let fingerprint = source.finish().expect("the rest of the file");
    assert_eq!(fingerprint.bytes, data.len() as u64);
    assert_eq!(
        progress.load(std::sync::atomic::Ordering::Relaxed),
        data.len() as u64
    );
    assert_eq!(
        fingerprint.sha256,
        rowferry::plan::hex(&Sha256::digest(&data))
    );
}

#[test]
fn an_empty_extra_field_is_dropped_only_when_the_header_ends_with_a_delimiter() {
    // Without a trailing delimiter on the header, `Cable, 2 m` holds an unquoted delimiter:
    // dropping the empty last field would shift ` 2 m` into city and `Lyon` into note.
    let p = project(
        "delimiter = \",\"",
        "",
        b"id,product,city,note\n1,\"Cable, 2 m\",Lyon,\n2,Cable, 2 m,Lyon,\n",
    );
    assert_eq!(p.run("validate").code, 1);
    assert_eq!(
        p.error_codes(),
        [(3, String::new(), "ragged-row".to_string())]
    );
    // A header that ends with a delimiter says every line may: the empty field is no value.
    let p = project(
        "delimiter = \",\"",
        "",
        b"id,product,city,note,\n1,Cable,Lyon,,\n2,Plug,Paris,x\n",
    );
    assert_eq!(p.run("validate").code, 0, "{:?}", p.errors());
}
