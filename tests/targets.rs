//! Target files as downstream systems read them: legacy CSV dialects and encodings, formula-like
//! text, values a target cannot hold, hostile partition values — byte-exact, on real runs.

use std::collections::BTreeMap;
use std::path::Path;

use crate::util::{Job, Outcome};

fn run(p: &Job, extra: &[&str]) -> Outcome {
    p.run_with("run", extra)
}

fn bytes(p: &Job, name: &str) -> Vec<u8> {
    p.bytes(name)
}

const CUSTOMERS: &str = "id,name,city,joined,balance,active\n\
1,Zoë Dupré,Besançon,2024-01-31,1234.5,true\n\
2,Ōno Tarō,Kyōto,2023-12-01,-7.25,false\n\
3,\"Smith; Jones\",Leeds,,0,true\n";

fn customers(target: &str) -> Job {
    typed_project(
        CUSTOMERS,
        r#"id      = { type = "integer" }
name    = { type = "string" }
city    = { type = "string" }
joined  = { type = "date" }
balance = { type = "decimal", scale = 2 }
active  = { type = "boolean" }"#,
        &format!("{target}\n"),
    )
}

/// A project over `data.csv` holding `data`, checked against structure `c` of `fields`, whose
/// mapping ends with `rest`.
fn typed_project(data: &str, fields: &str, rest: &str) -> Job {
    Job::new().input("data.csv", data).mapping(format!(
        r#"[source]
path = "data.csv"
structure = "c"

[structures.c.fields]
{fields}

{rest}"#
    ))
}

#[test]
fn a_windows_1252_semicolon_csv_for_a_legacy_importer() {
    let p = customers(
        r#"[targets.legacy]
path = "legacy.csv"
encoding = "windows-1252"
delimiter = ";"
line_ending = "crlf"
date_format = "%d/%m/%Y"
decimal_separator = ","
null = "NULL"
columns.id = "id"
columns.name = "name"
columns.city = "city"
columns.joined = "joined"
columns.balance = "balance"
"#,
    );
    let r = run(&p, &[]);
    // Ōno Tarō / Kyōto cannot be written in Windows-1252: the row is rejected, not mangled.
    assert_eq!(r.code, 1, "{}", r.stderr);
    let expected: &[u8] = b"id;name;city;joined;balance\r\n\
1;Zo\xeb Dupr\xe9;Besan\xe7on;31/01/2024;1234,50\r\n\
3;\"Smith; Jones\";Leeds;NULL;0,00\r\n";
    assert_eq!(
        bytes(&p, "out/legacy.csv"),
        expected,
        "{}",
        String::from_utf8_lossy(&bytes(&p, "out/legacy.csv"))
    );
    let errors = p.errors();
    let unencodable: Vec<_> = errors
        .iter()
        .filter(|e| e["code"] == "unencodable")
        .collect();
    assert_eq!(unencodable.len(), 2, "{errors:?}");
    assert_eq!(unencodable[0]["row"], "3");
    assert_eq!(unencodable[0]["stage"], "sink");
    assert_eq!(unencodable[0]["field"], "name");
    assert_eq!(unencodable[0]["value"], "Ōno Tarō");
    assert!(
        unencodable[0]["message"].contains("`Ō` (U+014C) cannot be written in windows-1252"),
        "{}",
        unencodable[0]["message"]
    );
    assert_eq!(unencodable[1]["field"], "city");
    // The rejected row is in rejects.csv exactly as read, and the counts hold.
    let rejects = p.read("out/_report/rejects.csv");
    assert!(
        rejects.contains("2,Ōno Tarō,Kyōto,2023-12-01,-7.25,false"),
        "{rejects}"
    );
    let report = p.report();
    assert_eq!(report["rows"]["read"], 3);
    assert_eq!(report["rows"]["accepted"], 2);
    assert_eq!(report["rows"]["rejected"], 1);
    assert_eq!(report["rows"]["routed"], 2);
    assert_eq!(report["conservation"]["holds"], true);
}

#[test]
fn a_row_rejected_for_one_target_goes_to_no_target() {
    let p = customers(
        r#"[targets.legacy]
path = "legacy.csv"
encoding = "latin1"
columns.name = "name"

[targets.all]
path = "all.csv"
columns.id = "id"
"#,
    );
    let r = run(&p, &[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(p.read("out/all.csv"), "id\n1\n3\n");
    let report = p.report();
    let rows: Vec<_> = report["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["rows"].as_u64().unwrap())
        .collect();
    assert_eq!(rows, [2, 2]);
    // A dry run projects only what its checks read, and counts the same rows per target.
    let r = p.run("validate");
    assert_eq!(r.code, 1, "{}", r.stderr);
    let dry = p.report();
    for t in 0..2 {
        assert_eq!(dry["targets"][t]["rows"], report["targets"][t]["rows"]);
    }
    assert_eq!(dry["rows"], report["rows"]);
}

/// A value a column cannot be computed for (cents past `INTEGER`'s range) rejects its row, as
/// `unencodable`, in a run and in a dry run alike, by the native cents kernel and by a query;
/// the other rows are written. The text column fails on the same row: the dry run, which
/// checks that one's text, must not stumble on the row it has already rejected.
#[test]
fn a_value_a_column_cannot_compute_rejects_its_row() {
    for cents in [
        "CAST(balance * 100 AS INTEGER)",
        "CAST(balance * 100 + 0 AS INTEGER)",
    ] {
        let p = balances(
            "id,balance\n1,12.5\n2,30000000\n3,-7.25\n4,\n",
            &format!(
                r#"[targets.cents]
path = "cents.csv"
columns.id = "id"
columns.cents = "{cents}"
columns.label = "CAST({cents} AS VARCHAR)"
"#
            ),
        );
        let r = run(&p, &[]);
        assert_eq!(r.code, 1, "{cents}: {}", r.stderr);
        assert_eq!(
            p.read("out/cents.csv"),
            "id,cents,label\n1,1250,1250\n3,-725,-725\n4,,\n",
            "{cents}"
        );
        assert_eq!(
            p.error_codes(),
            [(3, "cents".to_string(), "unencodable".to_string())],
            "{cents}"
        );
        let message = &p.errors()[0]["message"];
        assert!(
            message.contains(cents) && message.contains("BIGINT"),
            "{message}"
        );
        let report = p.report();
        assert_eq!(report["rows"]["rejected"], 1, "{cents}");
        assert_eq!(report["conservation"]["holds"], true);
        // The dry run rejects what the run rejects, though no check reads the column.
        let r = p.run("validate");
        assert_eq!(r.code, 1, "{cents}: {}", r.stderr);
        assert_eq!(
            p.error_codes(),
            [(3, "cents".to_string(), "unencodable".to_string())],
            "{cents}"
        );
        assert_eq!(p.report()["rows"], report["rows"], "{cents}");
    }
}

/// A project over `data` (`id,balance`, typed integer and decimal), whose mapping ends with
/// `rest`.
fn balances(data: &str, rest: &str) -> Job {
    typed_project(
        data,
        r#"id      = { type = "integer" }
balance = { type = "decimal", scale = 2 }"#,
        rest,
    )
}

/// [`balances`] with check `check` and a target `all` taking `when`.
fn cents_rules(check: &str, when: &str) -> Job {
    balances(
        "id,balance\n1,12.5\n2,30000000\n3,7\n",
        &format!(
            r#"[[structures.c.checks]]
name = "positive"
rule = "{check}"
field = "balance"

[targets.all]
path = "all.csv"
when = "{when}"
columns.id = "id"
"#
        ),
    )
}

/// A check that cannot be evaluated for a row (a strict `CAST` past its range) rejects that row
/// as `check-failed`, saying why, in a run and in a dry run; the others are checked and written.
#[test]
fn a_check_a_value_breaks_rejects_its_row() {
    let p = cents_rules("CAST(balance * 100 AS INTEGER) > 1000", "true");
    let r = run(&p, &[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(p.read("out/all.csv"), "id\n1\n");
    assert_eq!(
        p.error_codes(),
        [
            (3, "balance".to_string(), "check-failed".to_string()),
            (4, "balance".to_string(), "check-failed".to_string())
        ]
    );
    let errors = p.errors();
    assert!(
        errors[0]["message"].contains("cannot be evaluated")
            && errors[0]["message"].contains("TRY_CAST"),
        "{}",
        errors[0]["message"]
    );
    assert!(!errors[1]["message"].contains("cannot be evaluated"));
    let report = p.report();
    assert_eq!(report["rows"]["rejected"], 2);
    let r = p.run("validate");
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(p.report()["rows"], report["rows"]);
}

/// A `when` that cannot be evaluated for a row rejects that row (where it goes cannot be told),
/// saying why, in a run and in a dry run; the others are routed and written.
#[test]
fn a_when_a_value_breaks_rejects_its_row() {
    let p = cents_rules("balance > 0", "CAST(balance * 100 AS INTEGER) > -1000");
    let r = run(&p, &[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(p.read("out/all.csv"), "id\n1\n3\n");
    assert_eq!(
        p.error_codes(),
        [(3, String::new(), "unrouted".to_string())]
    );
    let message = &p.errors()[0]["message"];
    assert!(
        message.contains("`when` of target `all`") && message.contains("TRY_CAST"),
        "{message}"
    );
    let report = p.report();
    assert_eq!(report["rows"]["rejected"], 1);
    assert_eq!(report["conservation"]["holds"], true);
    let r = p.run("validate");
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(p.report()["rows"], report["rows"]);
}

#[test]
fn validate_finds_unencodable_values_without_writing() {
    let p = customers(
        r#"[targets.legacy]
path = "legacy.csv"
encoding = "windows-1252"
"#,
    );
    let r = p.run("validate");
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(!p.path().join("out/legacy.csv").exists());
    assert_eq!(
        p.error_codes(),
        [
            (3, "name".to_string(), "unencodable".to_string()),
            (3, "city".to_string(), "unencodable".to_string())
        ]
    );
}

#[test]
fn utf16_with_bom_for_excel() {
    let p = customers(
        r#"[targets.excel]
path = "excel.tsv"
encoding = "utf-16le"
columns.name = "name"
"#,
    );
    let r = run(&p, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut expected = vec![0xFF, 0xFE];
    for unit in "name\nZoë Dupré\nŌno Tarō\nSmith; Jones\n".encode_utf16() {
        expected.extend_from_slice(&unit.to_le_bytes());
    }
    assert_eq!(bytes(&p, "out/excel.tsv"), expected);
}

#[test]
fn quote_styles_bom_and_header_byte_exact() {
    let cases = [
        (
            "quote_style = \"always\"",
            "\"id\",\"name\"\n\"1\",\"Zoë Dupré\"\n\"2\",\"Ōno Tarō\"\n\"3\",\"Smith; Jones\"\n",
        ),
        (
            "quote_style = \"non_numeric\"",
            "\"id\",\"name\"\n1,\"Zoë Dupré\"\n2,\"Ōno Tarō\"\n3,\"Smith; Jones\"\n",
        ),
        (
            "delimiter = \";\"",
            "id;name\n1;Zoë Dupré\n2;Ōno Tarō\n3;\"Smith; Jones\"\n",
        ),
        (
            "header = false\nline_ending = \"crlf\"",
            "1,Zoë Dupré\r\n2,Ōno Tarō\r\n3,Smith; Jones\r\n",
        ),
        (
            "bom = true",
            "\u{feff}id,name\n1,Zoë Dupré\n2,Ōno Tarō\n3,Smith; Jones\n",
        ),
    ];
    for (options, expected) in cases {
        let p = customers(&format!(
            "[targets.t]\npath = \"t.csv\"\n{options}\ncolumns.id = \"id\"\ncolumns.name = \"name\"\n"
        ));
        let r = run(&p, &[]);
        assert_eq!(r.code, 0, "{options}: {}", r.stderr);
        assert_eq!(p.read("out/t.csv"), expected, "{options}");
    }
}

#[test]
fn quote_style_never_rejects_a_value_it_cannot_write() {
    let p = customers(
        r#"[targets.t]
path = "t.csv"
delimiter = ";"
quote_style = "never"
columns.id = "id"
columns.name = "name"
"#,
    );
    let r = run(&p, &[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(p.read("out/t.csv"), "id;name\n1;Zoë Dupré\n2;Ōno Tarō\n");
    let errors = p.errors();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["code"], "unencodable");
    assert_eq!(errors[0]["row"], "4");
    assert!(
        errors[0]["message"].contains("the delimiter `;`"),
        "{}",
        errors[0]["message"]
    );
}

#[test]
fn per_column_formats_override_the_target() {
    let p = customers(
        r#"[targets.t]
path = "t.csv"
date_format = "%Y%m%d"
columns.id = "id"
columns.joined = { value = "joined", format = "%d.%m.%Y" }
columns.joined_raw = "joined"
columns.balance = { value = "balance", decimal_separator = "," }
columns.half = "CAST(balance AS DOUBLE) / 2"
"#,
    );
    let r = run(&p, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        p.read("out/t.csv"),
        "id,joined,joined_raw,balance,half\n\
1,31.01.2024,20240131,\"1234,50\",617.25\n\
2,01.12.2023,20231201,\"-7,25\",-3.625\n\
3,,,\"0,00\",0.0\n"
    );
}

#[test]
fn json_dates_follow_the_target_format_and_decimal_commas_are_text() {
    let p = customers(
        r#"[targets.t]
path = "t.ndjson"
date_format = "%d/%m/%Y"
columns.id = "id"
columns.joined = "joined"
columns.balance = { value = "balance", decimal_separator = "," }
"#,
    );
    let r = run(&p, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        p.read("out/t.ndjson"),
        "{\"id\":1,\"joined\":\"31/01/2024\",\"balance\":\"1234,50\"}\n\
{\"id\":2,\"joined\":\"01/12/2023\",\"balance\":\"-7,25\"}\n\
{\"id\":3,\"joined\":null,\"balance\":\"0,00\"}\n"
    );
}

fn formula_project(guard: &str) -> Job {
    Job::new()
        .input(
        "data.csv",
        "id,note,phone\n\
1,=HYPERLINK(\"http://evil\"),+33 6 12 34 56 78\n\
2,plain,+44 20 7946 0000\n\
3,@SUM(A1:A9),-12\n\
4,-2+3+cmd|' /C calc'!A0,\n",
    )
    .mapping(
        format!(
            "{guard}\n[source]\npath = \"data.csv\"\n\n[targets.csv]\npath = \"out.csv\"\n\n[targets.json]\npath = \"out.json\"\n"
        ),
    )
}

#[test]
fn formula_guard_warns_by_default_and_writes_the_value_unchanged() {
    let p = formula_project("");
    let r = run(&p, &[]);
    assert_eq!(
        r.code, 0,
        "warnings do not change the exit code: {}",
        r.stderr
    );
    assert_eq!(
        p.warning_codes(),
        [
            (2, "note".to_string(), "formula-risk".to_string()),
            (4, "note".to_string(), "formula-risk".to_string()),
            (5, "note".to_string(), "formula-risk".to_string()),
        ],
        "one per value in the CSV target, none for JSON or phone numbers"
    );
    let csv = p.read("out/out.csv");
    assert!(
        csv.contains("1,\"=HYPERLINK(\"\"http://evil\"\")\""),
        "{csv}"
    );
    assert!(csv.contains("\n3,@SUM(A1:A9),-12\n"), "{csv}");
    let report = p.report();
    assert_eq!(report["issues"]["by_code"]["formula-risk"]["warnings"], 3);
}

#[test]
fn formula_guard_escape_and_off() {
    let p = formula_project("[run]\nformula_guard = \"escape\"\n");
    let r = run(&p, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        p.read("out/out.csv"),
        "id,note,phone\n\
1,\"'=HYPERLINK(\"\"http://evil\"\")\",+33 6 12 34 56 78\n\
2,plain,+44 20 7946 0000\n\
3,'@SUM(A1:A9),-12\n\
4,'-2+3+cmd|' /C calc'!A0,\n"
    );
    // JSON is not a spreadsheet: never escaped.
    assert!(p.read("out/out.json").contains("\"note\":\"@SUM(A1:A9)\""));
    assert_eq!(p.warning_codes().len(), 3);

    let p = formula_project("[run]\nformula_guard = \"off\"\n");
    let r = run(&p, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(p.warning_codes().is_empty());
    assert!(p.read("out/out.csv").contains("\n3,@SUM(A1:A9),-12\n"));
}

#[test]
fn a_dry_run_warns_of_the_formulas_a_run_would_write_and_no_other() {
    // `late` and `some` take only some rows; `late` reads `note` as it is and through an
    // expression, `some` as it is and a literal: the dry run must find what the run finds,
    // target by target and row by row.
    let p = Job::new().input(
        "data.csv",
        "id,note\n\
1,=HYPERLINK(\"http://evil\")\n\
2,plain\n\
3,@SUM(A1:A9)\n\
4,-2+3+cmd|' /C calc'!A0\n\
5,+plain text\n",
    )
    .file(
        "mapping.toml",
        "[source]\npath = \"data.csv\"\n\n\
[targets.all]\npath = \"all.csv\"\ncolumns.id = \"id\"\ncolumns.note = \"note\"\n\n\
[targets.late]\npath = \"late.csv\"\nwhen = \"id = '3' OR id = '4'\"\n\
columns.text = \"note\"\ncolumns.loud = \"upper(note)\"\n\n\
[targets.some]\npath = \"some.csv\"\nwhen = \"id = '1' OR id = '5'\"\ncolumns.memo = \"note\"\ncolumns.tag = \"'=1+1'\"\n",
    );
    let r = run(&p, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let ran = p.warning_codes();
    let mut fields: Vec<(u64, String)> = ran.iter().map(|(r, f, _)| (*r, f.clone())).collect();
    fields.sort();
    let want: Vec<(u64, String)> = [
        (2, "memo"),
        (2, "note"),
        (2, "tag"),
        (4, "loud"),
        (4, "note"),
        (4, "text"),
        (5, "loud"),
        (5, "note"),
        (5, "text"),
        (6, "memo"),
        (6, "note"),
        (6, "tag"),
    ]
    .iter()
    .map(|(r, f)| (*r, f.to_string()))
    .collect();
    assert_eq!(fields, want);

    let dry = p.run("validate");
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert_eq!(p.warning_codes(), ran, "validate finds what run finds");
}

#[test]
fn target_option_mistakes_are_plan_errors() {
    let cases = [
        (
            "path = \"a.json\"\nencoding = \"latin1\"",
            "applies to CSV and TSV targets only",
        ),
        (
            "path = \"a.csv\"\nencoding = \"klingon\"",
            "is not an encoding label",
        ),
        (
            "path = \"a.csv\"\nencoding = \"windows-1252\"\nbom = true",
            "needs a Unicode encoding",
        ),
        (
            "path = \"a.csv\"\ndate_format = \"%Q\"",
            "is not a date format",
        ),
        (
            "path = \"a.csv\"\ndate_format = \"dd/mm/yyyy\"",
            "has no strftime code",
        ),
        (
            "path = \"a.json\"\ncolumns.x = { value = \"joined\", format = \"yyyy-mm-dd\" }",
            "has no strftime code",
        ),
        (
            "path = \"a.csv\"\ndecimal_separator = \"12\"",
            "must be one character",
        ),
        (
            "path = \"a.csv\"\ncolumns.x = { format = \"%d\" }",
            "has no `value`",
        ),
        (
            "path = \"a.csv\"\ncolumns.x = { value = \"id\", fromat = \"%d\" }",
            "did you mean `format`",
        ),
        (
            "path = \"a.csv\"\nnull = \"a;b\"\ndelimiter = \";\"",
            "cannot hold a line break or the delimiter",
        ),
        (
            "path = \"a.csv\"\ncolumns.\"lines[].x\" = \"id\"",
            "only grouped JSON targets have",
        ),
    ];
    for (target, expected) in cases {
        let p = customers(&format!("[targets.t]\n{target}\n"));
        let r = p.run("check");
        assert_eq!(r.code, 2, "{target}: {}", r.stdout);
        let all = format!("{}{}", r.stdout, r.stderr);
        assert!(all.contains(expected), "{target}: {all}");
    }
    let p = customers("[run]\nformula_guard = \"warm\"\n[targets.t]\npath = \"a.csv\"\n");
    let r = p.run("check");
    assert_eq!(r.code, 2);
    assert!(format!("{}{}", r.stdout, r.stderr).contains("did you mean `warn`"));
}

/// Hostile region names: separators, dot-dot, device names, control characters, empty values,
/// case collisions — every file stays under its folder, every value gets its own file, and no
/// row is lost, with thousands of partitions under a low open-file limit.
#[test]
fn hostile_partition_values_under_a_low_open_file_limit() {
    let hostile = [
        "../../etc",
        "a/b",
        "a\\b",
        "CON",
        "nul.txt",
        "COM1",
        "tab\there",
        "",
        "Nord",
        "NORD",
        "nord",
        ".hidden",
        "..",
        "x:y",
    ];
    let mut data = String::from("id,region\n");
    let mut id = 0;
    for round in 0..3 {
        for h in hostile {
            id += 1;
            let v = h.replace('"', "\"\"");
            data.push_str(&format!("{id},\"{v}\"\n"));
        }
        // Thousands of ordinary regions, interleaved, so files are closed and reopened.
        for k in 0..1000 {
            id += 1;
            data.push_str(&format!("{id},r{:04}\n", (k * 7 + round) % 1000));
        }
    }
    let p = Job::new().input("data.csv", &data).mapping(
        "[source]\npath = \"data.csv\"\n\n[targets.by_region]\npath = \"regions/{region}.csv\"\ncolumns.id = \"id\"\n",
    );
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -n 256 && exec '{}' run mapping.toml --out out --quiet",
            env!("CARGO_BIN_EXE_rowferry")
        ))
        .current_dir(p.path())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let regions = p.path().join("out/regions");
    let mut files: BTreeMap<String, String> = BTreeMap::new();
    for e in std::fs::read_dir(&regions).unwrap() {
        let e = e.unwrap();
        assert!(
            e.file_type().unwrap().is_file(),
            "{:?} is not a file",
            e.path()
        );
        files.insert(
            e.file_name().to_string_lossy().into_owned(),
            std::fs::read_to_string(e.path()).unwrap(),
        );
    }
    // Nothing escaped the target folder.
    let under_out: Vec<_> = std::fs::read_dir(p.path().join("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| !name.starts_with(".rowferry-"))
        .collect();
    let mut under_out = under_out;
    under_out.sort();
    assert_eq!(under_out, ["_report", "regions"]);
    assert!(!p.path().join("etc").exists());
    // 1000 ordinary regions + one file per distinct hostile value ("" and "  " alike are empty).
    assert_eq!(files.len(), 1000 + hostile.len(), "{:?}", files.keys());
    let lower: std::collections::BTreeSet<String> =
        files.keys().map(|k| k.to_lowercase()).collect();
    assert_eq!(lower.len(), files.len(), "names differ by more than case");
    for name in files.keys() {
        assert!(!name.starts_with('.'), "{name}");
        assert!(
            !name.chars().any(|c| c.is_control() || "/\\:".contains(c)),
            "{name}"
        );
        let stem = name.split('.').next().unwrap().to_uppercase();
        assert!(!["CON", "NUL", "COM1"].contains(&stem.as_str()), "{name}");
    }
    // Every row is written exactly once.
    let mut ids: Vec<u64> = files
        .values()
        .flat_map(|t| t.lines().skip(1).map(|l| l.parse::<u64>().unwrap()))
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, (1..=id).collect::<Vec<u64>>());
    // Each hostile value's rows are together, in input order.
    assert_eq!(files["_CON.csv"], "id\n4\n1018\n2032\n");
    let report = p.report();
    assert_eq!(report["rows"]["routed"], id);
    let listed: u64 = report["targets"][0]["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rows"].as_u64().unwrap())
        .sum();
    assert_eq!(listed, id);
    assert!(Path::new(&p.path().join("out/regions/_empty.csv")).is_file());
}
