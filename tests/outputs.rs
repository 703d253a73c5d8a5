//! The output folder across runs: a stopped, failed, killed or empty run keeps the previous
//! targets; a later run removes stale files; other files in the folder are kept.

use std::time::{Duration, Instant};

use crate::util::{Job, names, targets_only};

const ATOMIC_MAPPING: &str = r#"[source]
path = "data.csv"
structure = "s"

[structures.s.fields]
g = {}
n = { type = "integer" }

[targets.parts]
path = "t/{g}.csv"

[targets.all]
path = "all.json"

[run]
max_errors = 1
"#;

#[test]
fn a_stopped_run_keeps_the_previous_targets() {
    let p = Job::new()
        .mapping(ATOMIC_MAPPING)
        .input("data.csv", "g,n\nA,1\nB,2\n");
    assert_eq!(p.run("run").code, 0);
    let out = p.out_dir();
    let before = targets_only(&p.tree());
    assert_eq!(names(&before), vec!["all.json", "t/A.csv", "t/B.csv"]);

    p.write("data.csv", "g,n\nC,1\nA,x\nA,y\nA,z\nD,4\n");
    let res = p.run("run");
    assert_eq!(res.code, 2, "{}", res.stderr);
    assert!(res.stderr.contains("max_errors = 1"), "{}", res.stderr);
    assert_eq!(targets_only(&p.tree()), before, "targets untouched");
    assert!(!out.join(".rowferry-staging").exists());
    // The report is this run's.
    let r = p.report();
    assert_eq!(r["status"], "stopped");
    assert_eq!(r["command"], "run");
    assert!(
        r["targets"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["files"].as_array().unwrap().is_empty())
    );
    let errors = p.errors();
    assert_eq!(errors[0]["value"], "x");
}

/// A writer that fails half-way through the input (here: a partition value whose file name the
/// file system refuses as too long) fails the run with the file named, while the other writer
/// thread was still writing its target: nothing is replaced, and nothing waits forever.
#[test]
fn a_writer_failing_mid_run_keeps_the_previous_targets() {
    let tail = "n".repeat(160);
    let mapping = format!(
        r#"[source]
path = "data.csv"

[targets.by_name]
path = "p/{{name}}-{tail}.csv"

[targets.all]
path = "all/all.csv"
"#
    );
    let rows = |bad: bool| {
        let mut text = String::from("id,name\n");
        for i in 0..40_000 {
            let name = if bad && i == 30_000 {
                "x".repeat(100)
            } else {
                ["a", "b", "c"][i % 3].to_string()
            };
            text.push_str(&format!("{i},{name}\n"));
        }
        text
    };
    let p = Job::new().mapping(mapping).input("data.csv", rows(false));
    let r = p.run("run");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = p.out_dir();
    let before = targets_only(&p.tree());
    assert_eq!(
        names(&before),
        vec![
            "all/all.csv".to_string(),
            format!("p/a-{tail}.csv"),
            format!("p/b-{tail}.csv"),
            format!("p/c-{tail}.csv")
        ]
    );

    p.write("data.csv", rows(true));
    let r = p.run("run");
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!("p/{}-", "x".repeat(100))) && r.stderr.contains("cannot write"),
        "{}",
        r.stderr
    );
    // A failed run leaves nothing behind: no staging folder, the previous targets as they were.
    let after = targets_only(&p.tree());
    assert_eq!(names(&after), names(&before));
    assert!(after == before, "the previous targets are byte-identical");
    assert!(!out.join(".rowferry-staging").exists());
    p.write("data.csv", "id,name\n1,a\n");
    let r = p.run("run");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(p.read(&format!("out/p/a-{tail}.csv")), "id,name\n1,a\n");
}

#[test]
fn a_later_run_removes_stale_files() {
    let p = Job::new()
        .mapping(ATOMIC_MAPPING)
        .input("data.csv", "g,n\nA,1\nB,2\n");
    assert_eq!(p.run("run").code, 0);
    p.write("data.csv", "g,n\nA,3\n");
    assert_eq!(p.run("run").code, 0);
    let all = p.tree();
    assert_eq!(
        names(&targets_only(&all)),
        vec!["all.json", "t/A.csv"],
        "t/B.csv is gone"
    );
    assert_eq!(p.read("out/t/A.csv"), "g,n\nA,3\n");
    assert!(!p.exists("out/t/B.csv"));
}

#[test]
fn a_run_that_writes_nothing_keeps_the_previous_targets() {
    // Exit 2 ("no row was written to any target") is a failed run: like a stopped run, it must
    // not replace the previous good outputs with empty files.
    let p = Job::new()
        .mapping(ATOMIC_MAPPING.replace("max_errors = 1", "max_errors = 100"))
        .input("data.csv", "g,n\nA,1\nB,2\n");
    assert_eq!(p.run("run").code, 0);
    let before = targets_only(&p.tree());
    p.write("data.csv", "g,n\nA,x\nB,y\n");
    let res = p.run("run");
    assert_eq!(res.code, 2, "{}", res.stderr);
    assert!(res.stderr.contains("no row was written"), "{}", res.stderr);
    assert_eq!(
        p.report()["rows"]["rejected"],
        2,
        "the report is this run's"
    );
    assert_eq!(
        targets_only(&p.tree()),
        before,
        "the previous targets are byte-identical"
    );
}

#[test]
fn limit_reads_only_the_first_rows() {
    let p = Job::new()
        .mapping(ATOMIC_MAPPING)
        .input("data.csv", "g,n\nA,1\nB,2\nA,3\n");
    let res = p.run_with("run", &["--limit", "2"]);
    assert_eq!(res.code, 0, "{}", res.stderr);
    assert_eq!(
        names(&targets_only(&p.tree())),
        vec!["all.json", "t/A.csv", "t/B.csv"]
    );
    assert_eq!(p.read("out/t/A.csv"), "g,n\nA,1\n");
    assert_eq!(p.report()["rows"]["read"], 2);
}

#[test]
fn a_killed_run_leaves_the_previous_outputs() {
    let p = Job::new()
        .mapping(ATOMIC_MAPPING)
        .input("data.csv", "g,n\nA,1\nB,2\n");
    assert_eq!(p.run("run").code, 0);
    let out = p.out_dir();
    let before = p.tree();

    let mut big = String::from("g,n\n");
    for i in 0..400_000 {
        big.push_str(&format!("{},{i}\n", ["A", "B", "C", "D", "E"][i % 5]));
    }
    p.write("big.csv", big);
    let mut child = p
        .command("run")
        .args(["--input", "big.csv"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let staging = out.join(".rowferry-staging");
    let start = Instant::now();
    while !staging.exists() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before its staging folder was seen"
        );
        assert!(start.elapsed() < Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(child.try_wait().unwrap().is_none(), "still running");
    child.kill().unwrap();
    child.wait().unwrap();
    let mut after = p.tree();
    after.retain(|k, _| !k.starts_with(".rowferry-"));
    assert_eq!(names(&after), names(&before));
    assert_eq!(after, before, "the previous outputs are byte-identical");

    // The next run cleans up and replaces everything.
    p.write("data.csv", "g,n\nB,7\n");
    let res = p.run("run");
    assert_eq!(res.code, 0, "{}", res.stderr);
    assert!(!staging.exists());
    assert!(!out.join(".rowferry-previous").exists());
    assert!(!out.join(".rowferry-commit").exists());
    assert_eq!(names(&targets_only(&p.tree())), vec!["all.json", "t/B.csv"]);
    assert_eq!(p.read("out/t/B.csv"), "g,n\nB,7\n");
    assert_eq!(p.report()["rows"]["read"], 1);
}

#[test]
fn an_output_folder_with_other_files_keeps_them() {
    let p = Job::new()
        .mapping(ATOMIC_MAPPING)
        .input("data.csv", "g,n\nA,1\n")
        .file("out/precious.txt", "keep me");
    let res = p.run("run");
    assert_eq!(res.code, 0, "{}", res.stderr);
    assert_eq!(
        names(&p.tree()),
        vec![
            "_report/errors.csv",
            "_report/rejects.csv",
            "_report/report.html",
            "_report/report.json",
            "all.json",
            "precious.txt",
            "t/A.csv"
        ]
    );
    assert_eq!(p.read("out/precious.txt"), "keep me");
    assert!(!p.exists("out/.rowferry-staging"));
    // An existing empty folder is fine.
    std::fs::create_dir_all(p.path().join("empty")).unwrap();
    let res = p.exec(&["run", "mapping.toml", "--out", "empty", "--quiet"]);
    assert_eq!(res.code, 0, "{}", res.stderr);
    assert_eq!(p.read("empty/t/A.csv"), "g,n\nA,1\n");
}
