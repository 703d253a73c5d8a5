//! `report.json` as a record of the run: what it cost, and the hash of every file it wrote.

use crate::util::{Job, check_report_files, report_target, sha256_hex};

/// The report says what the run cost: peak memory and CPU time, which cannot exceed what the
/// cores had in the time the run took (ticks of 10 ms aside).
#[test]
fn the_report_says_what_the_run_cost() {
    let p = Job::shipped("mappings/shop-products.toml");
    assert_eq!(p.run("run").code, 1);
    let report = p.report();
    let resources = &report["resources"];
    if !cfg!(target_os = "linux") {
        return;
    }
    assert!(
        resources["peak_rss_bytes"].as_u64().unwrap() > 1 << 20,
        "{resources}"
    );
    let user = resources["cpu_user_ms"].as_u64().expect("user CPU time");
    let system = resources["cpu_system_ms"]
        .as_u64()
        .expect("system CPU time");
    let total = report["durations_ms"]["total"].as_u64().unwrap();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get() as u64);
    assert!(
        user + system <= (total + 20) * cores + 20,
        "{user} + {system} ms of CPU in {total} ms on {cores} cores"
    );
}

#[test]
fn a_changed_file_changes_its_hash_in_the_report() {
    let mapping = "[source]\npath = \"data.csv\"\n[targets.a]\npath = \"a.csv\"\n[targets.b]\npath = \"b.csv\"\nwhen = \"k = 'x'\"\n";
    let p = Job::new()
        .mapping(mapping)
        .input("data.csv", "k,v\nx,1\ny,2\n");
    assert_eq!(p.run("run").code, 0);
    let before = p.report();
    p.write("data.csv", "k,v\nx,1\ny,3\n");
    assert_eq!(p.run("run").code, 0);
    let after = p.report();
    let sha = |r: &serde_json::Value, t: &str| report_target(r, t)["files"][0]["sha256"].clone();
    assert_ne!(sha(&before, "a"), sha(&after, "a"), "a.csv changed");
    assert_eq!(sha(&before, "b"), sha(&after, "b"), "b.csv did not");
    assert_eq!(sha(&after, "a"), sha256_hex(&p.bytes("out/a.csv")));
    check_report_files(p.out_dir());
}
