//! `rowferry validate` as a whole: outputs, exit codes, thresholds, options.

use crate::route::{ROUTING_DATA, routing_mapping};
use crate::util::{Job, mapping, names, read_csv, report_target, targets_only};

#[test]
fn a_clean_file_exits_zero_and_writes_only_the_report() {
    let p = Job::new()
        .mapping(mapping("a = { type = \"integer\" }"))
        .file("data.csv", "a\n1\n2\n");
    let run = p.run("validate");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let mut written: Vec<String> = walk(p.out_dir());
    written.retain(|name| !name.starts_with(".rowferry-"));
    written.sort();
    assert_eq!(
        written,
        vec![
            "_report/errors.csv",
            "_report/rejects.csv",
            "_report/report.html",
            "_report/report.json"
        ]
    );
    let r = p.report();
    assert_eq!(r["status"], "completed");
    assert_eq!(r["rows"]["read"], 2);
    assert_eq!(r["conservation"]["holds"], true);
    assert_eq!(r["tool"]["name"], "rowferry");
    assert_eq!(r["input"]["sha256"].as_str().map(str::len), Some(64));
    assert_eq!(r["mapping"]["sha256"].as_str().map(str::len), Some(64));
}

fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            for sub in walk(&path) {
                out.push(format!(
                    "{}/{sub}",
                    path.file_name().unwrap().to_string_lossy()
                ));
            }
        } else {
            out.push(path.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    out
}

#[test]
fn the_summary_prints_the_conservation_equation_and_codes() {
    let p = Job::new()
        .mapping(mapping("a = { type = \"integer\" }"))
        .file("data.csv", "a\n1\nx\n\n2\n");
    let run = p.exec(&["validate", "mapping.toml", "--out", "out"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stdout
            .contains("4 read = 1 skipped + 2 accepted + 1 rejected"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("type-mismatch"), "{}", run.stdout);
    assert!(run.stdout.contains("row 3"), "{}", run.stdout);
}

#[test]
fn max_errors_stops_the_run_with_exit_2_and_still_reports() {
    let mut csv = String::from("a\n");
    for i in 0..50 {
        csv.push_str(if i % 2 == 0 { "x\n" } else { "1\n" });
    }
    let p = Job::new()
        .mapping(format!(
            "{}\n[run]\nmax_errors = 10\n",
            mapping("a = { type = \"integer\" }")
        ))
        .input("data.csv", csv);
    let run = p.run("validate");
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("max_errors = 10"), "{}", run.stderr);
    let r = p.report();
    assert_eq!(r["status"], "stopped");
}

#[test]
fn max_error_rate_is_checked_at_the_end() {
    let p = Job::new()
        .mapping(format!(
            "{}\n[run]\nmax_error_rate = 0.2\n",
            mapping("a = { type = \"integer\" }")
        ))
        .file("data.csv", "a\n1\nx\n2\n3\n");
    assert_eq!(p.run("validate").code, 2, "25 % > 20 %");
    p.write(
        "mapping.toml",
        format!(
            "{}\n[run]\nmax_error_rate = 0.3\n",
            mapping("a = { type = \"integer\" }")
        ),
    );
    assert_eq!(p.run("validate").code, 1, "25 % <= 30 %");
}

#[test]
fn input_and_limit_options() {
    let p = Job::new()
        .mapping(mapping("a = { type = \"integer\" }"))
        .file("data.csv", "a\nx\n")
        .file("other.csv", "a\n1\n2\nx\n");
    let run = p.exec(&[
        "validate",
        "mapping.toml",
        "--out",
        "out",
        "--quiet",
        "--input",
        "other.csv",
        "--limit",
        "2",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.is_empty(),
        "--quiet prints nothing: {}",
        run.stdout
    );
    let r = p.report();
    assert_eq!(r["rows"]["read"], 2);
    assert!(r["input"]["path"].as_str().unwrap().ends_with("other.csv"));
}

#[test]
fn missing_input_is_a_clear_error() {
    let p = Job::new().mapping(mapping("a = {}"));
    let run = p.run("validate");
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("cannot open the input"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("data.csv"), "{}", run.stderr);
}

#[test]
fn a_source_without_structure_accepts_every_row() {
    let p = Job::new()
        .mapping("[source]\npath = \"data.csv\"\n")
        .file("data.csv", "a,b\n1,2\n,\n3,\n");
    let run = p.run("validate");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let r = p.report();
    assert_eq!(r["rows"]["accepted"], 2);
    assert_eq!(r["rows"]["skipped"], 1);
}

#[test]
fn rejects_csv_can_be_fed_back_as_the_source() {
    let p = Job::new().mapping(
        "[source]\npath = \"data.csv\"\ndelimiter = \";\"\nstructure = \"s\"\n[structures.s.fields]\nn = { column = \"Nombre\", type = \"integer\" }\n",
    )
    .file("data.csv", "Nombre;Note\n1;a\nx;b\n3;c\n");
    assert_eq!(p.run("validate").code, 1);
    let rejects = read_csv(&p.path().join("out/_report/rejects.csv"), b';');
    assert_eq!(rejects.len(), 1);
    assert_eq!(rejects[0]["Nombre"], "x");
    assert_eq!(rejects[0]["Note"], "b");
    // Fixed and fed back with the same mapping, it passes.
    let fixed = p.read("out/_report/rejects.csv").replace("x;b", "2;b");
    p.write("fixed.csv", fixed);
    let run = p.exec(&[
        "validate",
        "mapping.toml",
        "--out",
        "out2",
        "--quiet",
        "--input",
        "fixed.csv",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
}

#[test]
fn a_second_run_replaces_the_report() {
    let p = Job::new()
        .mapping(mapping("a = { type = \"integer\" }"))
        .file("data.csv", "a\nx\n");
    assert_eq!(p.run("validate").code, 1);
    p.write("data.csv", "a\n1\n");
    assert_eq!(p.run("validate").code, 0);
    assert_eq!(p.errors().len(), 0);
    assert!(!p.path().join("out/.rowferry-staging").exists());
}

#[test]
fn validate_and_dry_run_write_only_the_report() {
    for args in [
        vec!["validate", "mapping.toml", "--out", "out", "--quiet"],
        vec![
            "run",
            "mapping.toml",
            "--out",
            "out",
            "--quiet",
            "--dry-run",
        ],
    ] {
        let p = Job::new()
            .mapping(routing_mapping("count"))
            .file("data.csv", ROUTING_DATA);
        let res = p.exec(&args);
        assert_eq!(res.code, 0, "{args:?}: {}", res.stderr);
        assert_eq!(
            names(&p.tree()),
            vec![
                "_report/errors.csv",
                "_report/rejects.csv",
                "_report/report.html",
                "_report/report.json"
            ],
            "{args:?}"
        );
        let r = p.report();
        assert_eq!(r["command"], "validate", "{args:?}");
        assert_eq!(r["rows"]["routed"], 3);
        assert_eq!(r["rows"]["unrouted"], 1);
        for (name, rows) in [("big", 2), ("small", 2)] {
            let t = report_target(&r, name);
            assert_eq!(t["rows"], rows, "{args:?} {name}");
            assert_eq!(t["files"], serde_json::json!([]), "{args:?} {name}");
        }
    }
}

#[test]
fn validate_after_run_keeps_the_targets() {
    let p = Job::new()
        .mapping(routing_mapping("count"))
        .file("data.csv", ROUTING_DATA);
    assert_eq!(p.run("run").code, 0);
    let before = targets_only(&p.tree());
    p.write("data.csv", "n,name\n1,z\n");
    assert_eq!(p.run("validate").code, 0);
    assert_eq!(targets_only(&p.tree()), before);
    assert_eq!(p.report()["rows"]["read"], 1);
}
