//! The output folder: a user's files are never touched, one run at a time, and a commit that
//! neither a kill nor a full disk can split.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::{Project, Run};

/// Files by relative path, with their bytes.
type Files = BTreeMap<String, Vec<u8>>;

/// Every file under `dir`, by `/`-separated relative path; the folder's own bookkeeping
/// (`.rowferry-*` at the top) is left out unless `all`.
fn files(dir: &Path, all: bool) -> BTreeMap<String, Vec<u8>> {
    fn walk(base: &Path, dir: &Path, all: bool, out: &mut BTreeMap<String, Vec<u8>>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let rel: Vec<String> = path
                .strip_prefix(base)
                .unwrap()
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if !all && rel[0].starts_with(".rowferry-") {
                continue;
            }
            if path.is_dir() {
                walk(base, &path, all, out);
            } else {
                out.insert(rel.join("/"), std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, all, &mut out);
    out
}

/// What two runs must agree on: every file but `report.json` and `report.html` (which have
/// times), whose row counts must agree.
fn outputs(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut f = files(dir, false);
    f.remove("_report/report.html");
    if let Some(json) = f.get_mut("_report/report.json") {
        let v: serde_json::Value = serde_json::from_slice(json).unwrap();
        *json = v["rows"].to_string().into_bytes();
    }
    f
}

const MAPPING: &str = r#"[source]
path = "data.csv"
structure = "s"

[structures.s.fields]
g = {}
n = { type = "integer" }

[targets.parts]
path = "t/{g}.csv"

[targets.all]
path = "all.json"
"#;

fn run(p: &Project, out: &str) -> Run {
    p.run(&["run", "mapping.toml", "--out", out, "--quiet"])
}

#[test]
fn a_users_files_survive_validate_then_run_into_the_same_folder() {
    let p = Project::new();
    p.file("mapping.toml", MAPPING.replace("data.csv", "data/in.csv"))
        .file("data/in.csv", "g,n\nA,1\nB,2\n")
        .file("NOTES.txt", "my notes");
    let before = files(p.path(), true);
    let v = p.run(&["validate", "mapping.toml", "--out", ".", "--quiet"]);
    assert_eq!(v.code, 0, "{}", v.stderr);
    let r = p.run(&["run", "mapping.toml", "--out", ".", "--quiet"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let after = files(p.path(), true);
    for (name, bytes) in &before {
        assert_eq!(after.get(name), Some(bytes), "{name} is untouched");
    }
    assert_eq!(p.read("t/A.csv"), "g,n\nA,1\n");
    // A later run replaces what rowferry wrote, and only that: B's file goes, the notes stay.
    p.file("data/in.csv", "g,n\nA,3\n");
    let r = p.run(&["run", "mapping.toml", "--out", ".", "--quiet"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!p.path().join("t/B.csv").exists());
    assert_eq!(p.read("NOTES.txt"), "my notes");
    assert_eq!(
        std::fs::read(p.path().join("mapping.toml")).unwrap(),
        before["mapping.toml"]
    );
}

#[test]
fn a_file_in_the_way_of_an_output_is_never_overwritten() {
    let p = Project::new();
    p.file("mapping.toml", MAPPING)
        .file("data.csv", "g,n\nA,1\nB,2\n")
        .file("out/t/B.csv", "someone else's")
        .file("out/t/keep.txt", "mine");
    let r = run(&p, "out");
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("t/B.csv") && r.stderr.contains("rowferry did not write it"),
        "{}",
        r.stderr
    );
    assert_eq!(p.read("out/t/B.csv"), "someone else's");
    assert!(!p.path().join("out/t/A.csv").exists(), "nothing moved");
    assert!(!p.path().join("out/.rowferry-staging").exists());
    // Out of the way, the run writes beside the user's file and leaves it.
    std::fs::remove_file(p.path().join("out/t/B.csv")).unwrap();
    let r = run(&p, "out");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(p.read("out/t/keep.txt"), "mine");
    p.file("data.csv", "g,n\nC,1\n");
    assert_eq!(run(&p, "out").code, 0);
    assert_eq!(p.read("out/t/keep.txt"), "mine", "its folder stays too");
    assert_eq!(
        files(&p.path().join("out"), false)
            .into_keys()
            .filter(|k| !k.starts_with("_report/"))
            .collect::<Vec<_>>(),
        ["all.json", "t/C.csv", "t/keep.txt"]
    );
}

#[test]
fn an_input_the_commit_would_replace_stops_the_run() {
    let p = Project::new();
    p.file("mapping.toml", MAPPING)
        .file("data.csv", "g,n\nA,1\nB,x\n");
    assert_eq!(run(&p, "out").code, 1);
    let rejects = p.read("out/_report/rejects.csv");
    // Feeding the rejects back into the same folder would replace them while they are read.
    let r = p.run(&[
        "run",
        "mapping.toml",
        "--input",
        "out/_report/rejects.csv",
        "--out",
        "out",
        "--quiet",
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("is read by this run"), "{}", r.stderr);
    assert_eq!(p.read("out/_report/rejects.csv"), rejects);
}

#[test]
fn a_second_run_into_a_locked_folder_is_refused_naming_the_holder() {
    let p = Project::new();
    let mut big = String::from("g,n\n");
    for i in 0..300_000 {
        big.push_str(&format!("{},{i}\n", ["A", "B", "C"][i % 3]));
    }
    p.file("mapping.toml", MAPPING).file("data.csv", big);
    let mut first = Command::new(env!("CARGO_BIN_EXE_rowferry"))
        .args(["run", "mapping.toml", "--out", "out", "--quiet"])
        .current_dir(p.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let staging = p.path().join("out/.rowferry-staging");
    let start = Instant::now();
    while !staging.exists() {
        assert!(
            first.try_wait().unwrap().is_none(),
            "the first run ended early"
        );
        assert!(start.elapsed() < Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(2));
    }
    let second = p.run(&[
        "run",
        "mapping.toml",
        "--out",
        "out",
        "--quiet",
        "--limit",
        "20000",
    ]);
    let still_running = first.try_wait().unwrap().is_none();
    assert!(still_running, "the first run was still running");
    assert_eq!(second.code, 2, "{}", second.stderr);
    assert!(
        second.stderr.contains("in use by another rowferry run")
            && second.stderr.contains(&format!("process {}", first.id())),
        "{}",
        second.stderr
    );
    assert!(first.wait().unwrap().success());
    // The folder is the first run's, whole: its report describes its files.
    let report: serde_json::Value =
        serde_json::from_str(&p.read("out/_report/report.json")).unwrap();
    assert_eq!(report["rows"]["read"], 300_000);
    assert_eq!(p.read("out/t/A.csv").lines().count(), 100_001);
}

/// The previous outputs (`data.csv` v1), and what a run over v2 commits.
fn commit_fixture() -> (Project, Files, Files) {
    let p = Project::new();
    p.file("mapping.toml", MAPPING)
        .file("v1.csv", "g,n\nA,1\nB,2\nC,x\n")
        .file("v2.csv", "g,n\nA,5\nD,6\nE,y\n");
    let r = p.run(&[
        "run",
        "mapping.toml",
        "--input",
        "v2.csv",
        "--out",
        "new",
        "-q",
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let new = outputs(&p.path().join("new"));
    let r = p.run(&[
        "run",
        "mapping.toml",
        "--input",
        "v1.csv",
        "--out",
        "old",
        "-q",
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let old = outputs(&p.path().join("old"));
    assert_ne!(old, new);
    (p, old, new)
}

/// Copies a folder, bookkeeping included.
fn copy(from: &Path, to: &Path) {
    let _ = std::fs::remove_dir_all(to);
    for (name, bytes) in files(from, true) {
        let path = to.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
}

/// Nothing of a commit is left in `out` after the run that ended at `step`.
fn no_leftovers(out: &Path, step: u32) {
    for leftover in [
        ".rowferry-staging",
        ".rowferry-previous",
        ".rowferry-commit",
    ] {
        assert!(!out.join(leftover).exists(), "step {step}: {leftover}");
    }
}

fn faulty_run(p: &Project, out: &str, fault: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_rowferry"))
        .args([
            "run",
            "mapping.toml",
            "--input",
            "v2.csv",
            "--out",
            out,
            "-q",
        ])
        .env("ROWFERRY_FAULT", fault)
        .current_dir(p.path())
        .output()
        .unwrap()
}

#[test]
fn a_kill_at_any_step_of_the_commit_leaves_the_old_outputs_or_a_journal_that_finishes_the_new() {
    let (p, old, new) = commit_fixture();
    let mut killed = 0;
    for step in 1..200 {
        let out = p.path().join("k");
        copy(&p.path().join("old"), &out);
        let res = faulty_run(&p, "k", &format!("commit:{step}:kill"));
        if res.status.code().is_some() {
            // Past the last step: the run completed as usual.
            assert_eq!(res.status.code(), Some(1));
            assert_eq!(outputs(&out), new);
            break;
        }
        killed += 1;
        let journal = out.join(".rowferry-commit").exists();
        if journal {
            // The next start finishes the commit: exactly once, and a second recovery is a
            // no-op.
            rowferry::commit::recover(&out).unwrap();
            assert_eq!(outputs(&out), new, "step {step}: finished");
            rowferry::commit::recover(&out).unwrap();
            assert_eq!(outputs(&out), new, "step {step}: again");
        } else {
            let now = outputs(&out);
            assert!(
                now == old || now == new,
                "step {step}: old or new, never a mix"
            );
        }
        // Whatever the kill left, the next run starts from it and commits its own outputs.
        let r = p.run(&[
            "run",
            "mapping.toml",
            "--input",
            "v2.csv",
            "--out",
            "k",
            "-q",
        ]);
        assert_eq!(r.code, 1, "step {step}: {}", r.stderr);
        assert_eq!(outputs(&out), new, "step {step}: next run");
        no_leftovers(&out, step);
    }
    assert!(killed >= 8, "the commit has its steps: {killed}");
}

#[test]
fn a_full_disk_at_any_step_of_the_commit_leaves_the_previous_outputs() {
    let (p, old, new) = commit_fixture();
    let mut failed = 0;
    for step in 1..200 {
        let out = p.path().join("f");
        copy(&p.path().join("old"), &out);
        let res = faulty_run(&p, "f", &format!("commit:{step}:enospc"));
        let stderr = String::from_utf8_lossy(&res.stderr);
        if res.status.code() == Some(1) {
            assert_eq!(outputs(&out), new);
            break;
        }
        failed += 1;
        assert_eq!(res.status.code(), Some(2), "step {step}: {stderr}");
        assert!(
            stderr.contains("No space left on device") || stderr.contains("os error 28"),
            "step {step}: {stderr}"
        );
        assert_eq!(outputs(&out), old, "step {step}: the previous outputs");
        no_leftovers(&out, step);
    }
    assert!(failed >= 8, "the commit has its steps: {failed}");
}

#[test]
fn a_journal_rowferry_did_not_write_is_never_acted_on() {
    let p = Project::new();
    p.file("mapping.toml", MAPPING)
        .file("data.csv", "g,n\nA,1\n")
        .file("victim/keep.txt", "keep");
    assert_eq!(run(&p, "out").code, 0);
    let victim = p.path().join("victim");
    let forged = [
        format!("replace\n{}\n", victim.display()),
        "rowferry commit 1\n{\"old\":[\"../victim/keep.txt\"],\"new\":[],\"manifest\":{\"files\":[],\"dirs\":[]}}\nsha256 0\n".to_string(),
    ];
    for text in forged {
        p.file("out/.rowferry-commit", &text);
        let r = p.run(&["validate", "mapping.toml", "--out", "out", "--quiet"]);
        assert_eq!(r.code, 2, "{}", r.stderr);
        assert!(
            r.stderr.contains("not a file rowferry can trust"),
            "{}",
            r.stderr
        );
        assert_eq!(p.read("victim/keep.txt"), "keep");
        assert_eq!(p.read("out/t/A.csv"), "g,n\nA,1\n");
    }
}

#[test]
fn target_paths_that_could_collide_are_refused() {
    let cases = [
        ("_report/rejects.csv", "x.csv", "`_report/` is where"),
        (".rowferry-commit", "x.csv", "rowferry's own bookkeeping"),
        (
            ".rowferry-previous/x.csv",
            "y.csv",
            "rowferry's own bookkeeping",
        ),
        ("p/Lyon.csv", "p/{g}.csv", "could write the same file"),
        ("p/{g}.csv", "p/{n}.csv", "could write the same file"),
        ("p/x.csv", "p/x.csv/{g}.csv", "could be a folder"),
    ];
    for (a, b, says) in cases {
        let p = Project::new();
        p.file(
            "mapping.toml",
            format!(
                "[source]\npath = \"data.csv\"\n\n[targets.a]\npath = \"{a}\"\n\n[targets.b]\npath = \"{b}\"\n"
            ),
        )
        .file("data.csv", "g,n\nLyon,1\n");
        let r = p.run(&["check", "mapping.toml"]);
        assert_eq!(r.code, 2, "{a} / {b}: {}", r.stdout);
        assert!(r.stderr.contains(says), "{a} / {b}: {}", r.stderr);
    }
}

#[test]
fn a_partition_value_never_names_the_report_folder() {
    let p = Project::new();
    p.file(
        "mapping.toml",
        "[source]\npath = \"data.csv\"\n\n[targets.t]\npath = \"{g}/rejects.csv\"\n",
    )
    .file("data.csv", "g,n\n_report,1\nok,2\n");
    let r = run(&p, "out");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(p.read("out/__report/rejects.csv"), "g,n\n_report,1\n");
    assert!(p.read("out/_report/rejects.csv").starts_with("g,n,_row"));
}

#[test]
fn a_closed_stdout_is_not_a_crash() {
    let p = Project::new();
    p.file("mapping.toml", MAPPING)
        .file("data.csv", "g,n\nA,1\nB,x\n");
    let mut child = Command::new(env!("CARGO_BIN_EXE_rowferry"))
        .args(["run", "mapping.toml", "--out", "out"])
        .current_dir(p.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(p.read("out/t/A.csv"), "g,n\nA,1\n");
}

#[test]
fn a_failed_run_leaves_no_staging_folder_and_a_dangling_out_says_so() {
    let p = Project::new();
    p.file("mapping.toml", MAPPING)
        .file("data.csv", "g,n\nA,1\n")
        .file("out/t/A.csv", "in the way");
    assert_eq!(run(&p, "out").code, 2);
    assert!(!p.path().join("out/.rowferry-staging").exists());
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(p.path().join("nowhere"), p.path().join("link")).unwrap();
        let r = run(&p, "link");
        assert_eq!(r.code, 2);
        assert!(
            r.stderr
                .contains("is a link to a folder that does not exist"),
            "{}",
            r.stderr
        );
        assert!(!p.path().join("nowhere").exists());
    }
}

#[test]
fn a_target_path_set_on_the_command_line_is_relative_to_the_output_folder() {
    let p = Project::new();
    p.file("mapping.toml", MAPPING)
        .file("data.csv", "g,n\nA,1\n");
    let r = p.run(&[
        "run",
        "mapping.toml",
        "--out",
        "out",
        "-q",
        "--set",
        "targets.all.path=other.json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(p.path().join("out/other.json").exists());
    assert!(!p.path().join("out/all.json").exists());
}

#[test]
fn rejects_fed_back_again_and_again_keep_one_set_of_row_columns() {
    let p = Project::new();
    p.file("mapping.toml", MAPPING)
        .file("data.csv", "g,n\nA,1\nB,x\nC,2\nD,y\n");
    assert_eq!(run(&p, "out").code, 1);
    // The user fixes B and feeds the file back; D is still wrong, then fed back as it is.
    let fixed = p.read("out/_report/rejects.csv").replace("B,x,", "B,3,");
    p.file("fixed.csv", fixed);
    let mut input = "fixed.csv".to_string();
    for (retry, code, rows) in [
        ("r1", 1, vec!["5"]),
        ("r2", 2, vec!["5"]),
        ("r3", 2, vec!["5"]),
    ] {
        let r = p.run(&[
            "run",
            "mapping.toml",
            "--input",
            &input,
            "--out",
            retry,
            "-q",
        ]);
        assert_eq!(r.code, code, "{retry}: {}", r.stderr);
        let path = p.path().join(retry).join("_report/rejects.csv");
        let header = p.read(&format!("{retry}/_report/rejects.csv"));
        assert_eq!(
            header.lines().next(),
            Some("g,n,_row,_line,_errors"),
            "{retry}"
        );
        let found = crate::util::read_csv(&path, b',');
        // The rows keep their place in the original export.
        assert_eq!(
            found.iter().map(|r| r["_row"].as_str()).collect::<Vec<_>>(),
            rows,
            "{retry}"
        );
        assert!(found[0]["_errors"].contains("type-mismatch"), "{retry}");
        input = format!("{retry}/_report/rejects.csv");
    }
    assert_eq!(p.read("r1/t/B.csv"), "g,n\nB,3\n");
}

#[test]
fn date_formats_without_codes_and_missing_lookups_fail_check() {
    let p = Project::new();
    p.file(
        "mapping.toml",
        "[source]\npath = \"data.csv\"\nstructure = \"s\"\n\n[structures.s.fields]\nd = { type = \"date\", format = \"dd/mm/yyyy\" }\n",
    );
    let r = p.run(&["check", "mapping.toml"]);
    assert_eq!(r.code, 2, "{}", r.stdout);
    assert!(
        r.stderr.contains("matches no date") && r.stderr.contains("%d/%m/%Y"),
        "{}",
        r.stderr
    );
    p.file(
        "mapping.toml",
        "[source]\npath = \"data.csv\"\n\n[lookups.l]\npath = \"missing.csv\"\nkey = \"k\"\n\n[[enrich]]\nlookup = \"l\"\nmatch = { g = \"k\" }\nadd = { v = \"v\" }\n",
    );
    let r = p.run(&["check", "mapping.toml"]);
    assert_eq!(r.code, 2, "{}", r.stdout);
    assert!(
        r.stderr.contains("lookup `l` reads") && r.stderr.contains("does not exist"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_nul_byte_is_visible_in_errors_csv() {
    let p = Project::new();
    p.file("mapping.toml", MAPPING)
        .file("data.csv", b"g,n\nA,1\nB,\x002\n".as_slice());
    assert_eq!(run(&p, "out").code, 1);
    let errors = std::fs::read(p.path().join("out/_report/errors.csv")).unwrap();
    assert!(!errors.contains(&0), "{}", String::from_utf8_lossy(&errors));
}
