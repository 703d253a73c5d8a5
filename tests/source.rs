//! The CSV source: dialects, title blocks, provenance, blank and broken rows.

use crate::util::Job;

fn project(source_extra: &str, fields: &str, csv: &[u8]) -> Job {
    Job::new()
        .mapping(format!("[source]\npath = \"data.csv\"\nstructure = \"s\"\n{source_extra}\n[structures.s.fields]\n{fields}\n"))
        .input("data.csv", csv)
}

#[test]
fn rows_and_lines_follow_spreadsheet_numbering() {
    // Title block of 2 lines, header on line 3, a quoted newline, a blank line, a row of empty fields.
    let p = project(
        "header_row = 3\ndelimiter = \";\"",
        "a = { type = \"integer\" }\nb = {}",
        b"Export du 12/03/2024\nBoutique\na;b\n1;\"two\nlines\"\nx;y\n\n3;z\n;\nq;w\n",
    );
    let run = p.run("validate");
    assert_eq!(run.code, 1, "{}", run.stderr);
    let errs = p.errors();
    let at: Vec<(&str, &str, &str)> = errs
        .iter()
        .map(|e| (e["row"].as_str(), e["line"].as_str(), e["value"].as_str()))
        .collect();
    // x is on row 5 (after the 2-line record on row 4) but line 6; q is row 9, line 10.
    assert_eq!(at, vec![("5", "6", "x"), ("9", "10", "q")]);
    let r = p.report();
    // The two title lines are rows too, skipped.
    assert_eq!(r["rows"]["read"], 8);
    assert_eq!(r["rows"]["skipped"], 4);
    assert_eq!(r["rows"]["accepted"], 2);
    assert_eq!(r["rows"]["rejected"], 2);
}

#[test]
fn ragged_rows_are_rejected_with_their_raw_fields_and_reading_goes_on() {
    let p = project(
        "",
        "a = {}\nb = {}\nc = {}",
        b"a,b,c\n1,2,3\n4,5\n6,7,8,9\n10,11,12\n",
    );
    let run = p.run("validate");
    assert_eq!(run.code, 1, "{}", run.stderr);
    let errs = p.errors();
    assert_eq!(errs.len(), 2);
    assert_eq!(errs[0]["code"], "ragged-row");
    assert_eq!(errs[0]["row"], "3");
    assert_eq!(errs[0]["value"], "4,5");
    assert_eq!(errs[1]["row"], "4");
    let rejects = p.rejects();
    assert_eq!(rejects.len(), 2);
    assert_eq!(rejects[0]["a"], "4");
    assert_eq!(rejects[0]["b"], "5");
    assert_eq!(rejects[0]["c"], "");
    assert_eq!(
        rejects[1]["c"], "8,9",
        "extra fields are kept in the last column"
    );
    assert_eq!(rejects[1]["_errors"], "ragged-row");
    assert_eq!(p.report()["rows"]["accepted"], 2);
}

#[test]
fn utf8_bom_is_stripped_and_reported() {
    let p = project(
        "",
        "nom = { required = true }",
        "\u{feff}nom,x\nÉlodie,1\n".as_bytes(),
    );
    let run = p.run("validate");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let r = p.report();
    assert_eq!(r["input"]["bom"], true);
    assert_eq!(r["input"]["encoding"], "UTF-8");
    assert_eq!(r["rows"]["accepted"], 1);
}

#[test]
fn delimiter_is_sniffed_when_not_declared() {
    let p = project("", "a = {}\nb = { type = \"integer\" }", b"a|b\nx|1\ny|z\n");
    let run = p.run("validate");
    assert_eq!(run.code, 1, "{}", run.stderr);
    let r = p.report();
    assert_eq!(r["input"]["delimiter"], "|");
    assert_eq!(r["input"]["delimiter_sniffed"], true);
    assert_eq!(
        p.error_codes(),
        vec![(3, "b".to_string(), "type-mismatch".to_string())]
    );
}

#[test]
fn custom_quote_escape_and_comment() {
    let p = project(
        "delimiter = \";\"\nquote = \"'\"\nescape = \"\\\\\"\ncomment = \"#\"",
        "a = {}\nb = { type = \"integer\" }",
        b"a;b\n# a comment\n'x;\\'y';1\n'z';w\n",
    );
    let run = p.run("validate");
    assert_eq!(run.code, 1, "{}", run.stderr);
    let errs = p.errors();
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0]["row"], "4");
    assert_eq!(errs[0]["value"], "w");
    assert_eq!(
        p.report()["rows"]["skipped"],
        1,
        "the comment line is skipped"
    );
}

#[test]
fn invalid_utf8_rejects_the_row_only() {
    // Declared UTF-8: a Latin-1 byte is not decoded by a guess.
    let p = project(
        "encoding = \"utf-8\"",
        "a = {}\nb = {}",
        b"a,b\nok,1\ncaf\xe9,2\nfin,3\n",
    );
    let run = p.run("validate");
    assert_eq!(run.code, 1, "{}", run.stderr);
    let errs = p.errors();
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0]["code"], "bad-encoding");
    assert_eq!(errs[0]["row"], "3");
    assert_eq!(errs[0]["column"], "a");
    assert_eq!(p.report()["rows"]["accepted"], 2);
}

#[test]
fn bad_bytes_among_many_rows_reject_exactly_their_rows() {
    // Rows read in place are checked as UTF-8 a run at a time: a bad byte must still reject its
    // own row only, wherever it falls in a run, next to ragged and quoted rows.
    let mut data = b"a,b\n".to_vec();
    for i in 1..=600u32 {
        let line: Vec<u8> = match i {
            2 => b"caf\xe9,2".to_vec(),
            299 => b"x\x00y,299".to_vec(),
            300 => b"a,b,c".to_vec(),
            301 => b"\"q,uoted\",301".to_vec(),
            598 => b"\xff,598".to_vec(),
            _ => format!("v{i},{i}").into_bytes(),
        };
        data.extend_from_slice(&line);
        data.push(b'\n');
    }
    let p = project("encoding = \"utf-8\"", "a = {}\nb = {}", &data);
    let run = p.run("validate");
    assert_eq!(run.code, 1, "{}", run.stderr);
    let found: Vec<(String, String)> = p
        .errors()
        .iter()
        .map(|e| (e["row"].clone(), e["code"].clone()))
        .collect();
    let want = [
        ("3", "bad-encoding"),
        ("300", "bad-encoding"),
        ("301", "ragged-row"),
        ("599", "bad-encoding"),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(r, c)| (r.to_string(), c.to_string()))
        .collect();
    assert_eq!(found, want);
    assert_eq!(p.report()["rows"]["accepted"], 596);
    let rejects = p.read("out/_report/rejects.csv");
    assert_eq!(rejects.lines().count(), 1 + 4, "{rejects}");
}

#[test]
fn extra_columns_are_kept_and_rejects_keep_original_values() {
    let p = project(
        "",
        "n = { type = \"integer\" }",
        b"n,comment\n\" 1\",ok\n\"2,0\",\"text, with comma\"\n",
    );
    let run = p.run("validate");
    assert_eq!(run.code, 1, "{}", run.stderr);
    let rejects = p.rejects();
    assert_eq!(rejects.len(), 1);
    assert_eq!(rejects[0]["n"], "2,0");
    assert_eq!(rejects[0]["comment"], "text, with comma");
    assert_eq!(rejects[0]["_row"], "3");
    assert_eq!(rejects[0]["_line"], "3");
    assert_eq!(rejects[0]["_errors"], "n: type-mismatch");
}

#[test]
fn crlf_line_endings() {
    let p = project(
        "",
        "a = { type = \"integer\" }",
        b"a\r\n1\r\nx\r\n\r\n2\r\n",
    );
    let run = p.run("validate");
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(
        p.error_codes(),
        vec![(3, "a".to_string(), "type-mismatch".to_string())]
    );
    let r = p.report();
    assert_eq!(r["rows"]["read"], 4);
    assert_eq!(r["rows"]["skipped"], 1);
}

#[test]
fn empty_file_is_a_clear_error() {
    let p = project("", "a = {}", b"");
    let run = p.run("validate");
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("no header record"), "{}", run.stderr);
    assert!(run.stderr.contains("data.csv"), "{}", run.stderr);
}

#[test]
fn duplicate_header_names_are_refused() {
    let p = project("", "a = {}", b"a,b,a\n1,2,3\n");
    let run = p.run("validate");
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("(line 1) names `a` (columns 1, 3) more than once"),
        "{}",
        run.stderr
    );
    let p = project(
        "header_names = \"rename\"",
        "a = {}\na_2 = { type = \"integer\" }",
        b"a,b,a\n1,2,x\n",
    );
    let run = p.run("validate");
    assert_eq!(run.code, 1, "{}", run.stderr);
    let errors = p.read("out/_report/errors.csv");
    assert!(errors.contains("type-mismatch,a_2,a_2,x"), "{errors}");
}

#[test]
fn padded_header_names_match_their_fields() {
    let p = project(
        "",
        "sku = { required = true }\nqty = { type = \"integer\" }",
        b" sku ,qty \nA,1\n,2\n",
    );
    let run = p.run("validate");
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(
        p.error_codes(),
        vec![(3, "sku".to_string(), "required-missing".to_string())]
    );
    let errs = p.errors();
    assert_eq!(
        errs[0]["column"], "sku",
        "the declared column name is reported"
    );
}

#[test]
fn trailing_blank_lines_are_blank_rows() {
    let p = project("", "a = {}", b"a\n1\n\n\n");
    assert_eq!(p.run("validate").code, 0);
    let r = p.report();
    assert_eq!(r["rows"]["read"], 3);
    assert_eq!(r["rows"]["skipped"], 2);
}

#[test]
fn a_last_record_without_line_break_keeps_its_numbers() {
    let p = project("", "a = { type = \"integer\" }", b"a\n1\n\nx");
    assert_eq!(p.run("validate").code, 1);
    let errs = p.errors();
    assert_eq!(
        (errs[0]["row"].as_str(), errs[0]["line"].as_str()),
        ("4", "4")
    );
}
