//! Inputs and mappings built to break rowferry: values never wrap, nothing recurses without
//! bound, and a bad mapping is a diagnostic, never a crash.

use crate::util::Job;

#[test]
fn integer_arithmetic_past_its_range_rejects_the_row_instead_of_wrapping() {
    let p = Job::new()
        .mapping(
            r#"[source]
path = "data.csv"
structure = "s"

[structures.s.fields]
id = {}
qty = { type = "integer" }

[[structures.s.checks]]
name = "no_wrap"
rule = "qty - 9000000000000000000 < qty"

[targets.t]
path = "t.csv"
columns.id = "id"
columns.double = "qty * 2"
columns.more = "CAST(qty AS BIGINT) * 3 + 1"
"#,
        )
        .file(
            "data.csv",
            "id,qty\na,21\nb,4611686018427387904\nc,3074457345618258604\nd,-1000000000000000000\n",
        );
    for command in ["run", "validate"] {
        let r = p.exec(&[command, "mapping.toml", "--out", "out", "--quiet"]);
        assert_eq!(r.code, 1, "{command}: {}", r.stderr);
        let codes = p.error_codes();
        // b doubles past i64, c's `* 3 + 1` passes it (the columns), d's subtraction too (the check).
        assert_eq!(
            codes,
            [
                (3, "double".to_string(), "unencodable".to_string()),
                (4, "more".to_string(), "unencodable".to_string()),
                (5, "".to_string(), "check-failed".to_string()),
            ],
            "{command}: {:?}",
            p.errors()
        );
    }
    assert_eq!(p.read("out/t.csv"), "id,double,more\na,42,64\n");
    // A `when` that would wrap does not route the row anywhere: it is rejected, saying why.
    p.write("data.csv", "id,qty\na,21\ne,2305843009213693952\n");
    let r = p.exec(&[
        "run",
        "mapping.toml",
        "--out",
        "out",
        "--quiet",
        "--set",
        "targets.t.when=qty * 4 > 0",
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(
        p.error_codes(),
        [(3, "".to_string(), "unrouted".to_string())]
    );
    assert_eq!(p.read("out/t.csv"), "id,double,more\na,42,64\n");
}

#[test]
fn a_column_nested_past_the_limit_is_a_plan_error() {
    let p = Job::new();
    let deep = vec!["a"; 40_000].join(".");
    p.write(
        "mapping.toml",
        format!(
            "[source]\npath = \"data.csv\"\n\n[targets.t]\npath = \"t.json\"\ncolumns.\"{deep}\" = \"x\"\n"
        ),
    )
    .write("data.csv", "x\n1\n");
    for args in [
        &["check", "mapping.toml"][..],
        &["run", "mapping.toml", "-q"],
    ] {
        let r = p.exec(args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains("levels deep"), "{args:?}: {}", r.stderr);
    }
    // 32 levels are a JSON import's business.
    let ok = vec!["a"; 32].join(".");
    p.write(
        "mapping.toml",
        format!(
            "[source]\npath = \"data.csv\"\n\n[targets.t]\npath = \"t.json\"\ncolumns.\"{ok}\" = \"x\"\n"
        ),
    );
    let r = p.exec(&["run", "mapping.toml", "-q", "--out", "out"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(p.read("out/t.json").contains(&"{\"a\":".repeat(32)));
}

#[test]
fn an_expression_the_sql_engine_panics_on_is_a_diagnostic() {
    let p = Job::new();
    for (rule, column) in [
        ("day + INTERVAL 'rday' > day", "day"),
        ("day IS NOT NULL", "day - INTERVAL '3 fortnights'"),
    ] {
        p.write(
            "mapping.toml",
            format!(
                "[source]\npath = \"data.csv\"\nstructure = \"s\"\n\n[structures.s.fields]\nday = {{ type = \"date\" }}\n\n[[structures.s.checks]]\nname = \"c\"\nrule = \"{rule}\"\n\n[targets.t]\npath = \"t.csv\"\ncolumns.d = \"{column}\"\n"
            ),
        )
        .write("data.csv", "day\n2024-01-31\n");
        for args in [
            &["check", "mapping.toml"][..],
            &["run", "mapping.toml", "-q"],
        ] {
            let r = p.exec(args);
            assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
            assert!(
                r.stderr.contains("is not a valid SQL expression")
                    && r.stderr.contains("cannot read it")
                    && !r.stderr.contains("panicked"),
                "{args:?}: {}",
                r.stderr
            );
        }
    }
}

#[test]
fn a_header_cell_that_starts_like_a_formula_is_reported_and_escaped_on_request() {
    let p = Job::new()
        .mapping("[source]\npath = \"data.csv\"\n\n[targets.t]\npath = \"t.csv\"\n")
        .file("data.csv", "id,=HYPERLINK(\"http://x\")\n1,2\n");
    for command in ["validate", "run"] {
        let r = p.exec(&[command, "mapping.toml", "--out", "out", "-q"]);
        assert_eq!(r.code, 0, "{command}: {}", r.stderr);
        assert_eq!(
            p.warning_codes(),
            [(
                1,
                "=HYPERLINK(\"http://x\")".to_string(),
                "formula-risk".to_string()
            )],
            "{command}"
        );
    }
    assert_eq!(
        p.read("out/t.csv"),
        "id,\"=HYPERLINK(\"\"http://x\"\")\"\n1,2\n"
    );
    let r = p.exec(&[
        "run",
        "mapping.toml",
        "--out",
        "out",
        "-q",
        "--set",
        "run.formula_guard=escape",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        p.read("out/t.csv"),
        "id,\"'=HYPERLINK(\"\"http://x\"\")\"\n1,2\n"
    );
}

#[test]
fn a_header_of_a_hundred_thousand_columns_is_read_whole() {
    // Naming, binding and laying out the columns went through every earlier column for each
    // one: 78 s for this file. Now each is one look-up.
    let n = 100_000;
    let header: Vec<String> = (0..n).map(|i| format!("c{}", i % 99_990)).collect();
    let row: Vec<String> = (0..n).map(|i| i.to_string()).collect();
    let p = Job::new().mapping(
        "[source]\npath = \"data.csv\"\nheader_names = \"rename\"\n\n[targets.t]\npath = \"t.csv\"\n",
    )
    .file(
        "data.csv",
        format!("{}\n{}\n", header.join(","), row.join(",")),
    );
    let r = p.exec(&["run", "mapping.toml", "--out", "out", "-q"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let columns = p.report()["input"]["columns"].as_array().unwrap().len();
    assert_eq!(columns, n);
    let written = p.read("out/t.csv");
    let mut lines = written.lines();
    let names: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(names.len(), n);
    // The ten repeated names get a suffix; no column is lost.
    assert_eq!(names[99_990], "c0_2");
    assert_eq!(lines.next().unwrap().split(',').count(), n);
}

#[test]
fn an_expression_nested_past_the_limit_is_refused_before_the_sql_parser_backtracks() {
    // Unclosed, twenty levels took the SQL parser ten seconds, each level twice the last.
    let p = Job::new();
    let deep = "SUBSTR(s, 2, ".repeat(40) + "s";
    p.write(
        "mapping.toml",
        format!(
            "[source]\npath = \"data.csv\"\n\n[targets.t]\npath = \"t.csv\"\ncolumns.v = \"{deep}\"\n"
        ),
    );
    let r = p.run("check");
    assert_eq!(r.code, 2, "{}", r.stdout);
    assert!(
        r.stderr.contains("nests parentheses 40 deep"),
        "{}",
        r.stderr
    );
    // Twelve closed levels are fine.
    let ok = "SUBSTR(".repeat(12) + "s" + &", 1, 9)".repeat(12);
    p.write(
        "mapping.toml",
        format!(
            "[source]\npath = \"data.csv\"\n\n[targets.t]\npath = \"t.csv\"\ncolumns.v = \"{ok}\"\n"
        ),
    )
    .write("data.csv", "s\nabcdefghij\n");
    let r = p.exec(&["run", "mapping.toml", "--out", "out", "-q"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(p.read("out/t.csv"), "v\nabcdefghi\n");
}
