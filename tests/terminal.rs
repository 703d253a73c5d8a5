//! What a person sees on the terminal, snapshotted with `insta` (`tests/snapshots/`): one test
//! per diagnostic family — plan diagnostics of `rowferry check`, source errors, errors that stop
//! a run — and the summaries of `run` and `validate`. Paths, timings and dates are redacted
//! (`util/clean.rs`). A changed message fails here: review it with `cargo insta review`, or
//! accept it with `INSTA_UPDATE=always cargo test --test tests terminal` and read the diff.

use crate::util::{Job, Outcome, snapshots};

/// Snapshots `res.screen()` (exit code, stdout, stderr; cleaned) under the test's name.
macro_rules! assert_screen {
    ($res:expr) => {{
        let screen = $res.screen();
        snapshots().bind(|| insta::assert_snapshot!(screen));
    }};
}

/// `rowferry check mapping.toml` on `mapping`.
fn check(mapping: &str) -> Outcome {
    Job::new().mapping(mapping).run("check")
}

// ---------------------------------------------------------------------------------------------
// Plan diagnostics (`rowferry check`)
// ---------------------------------------------------------------------------------------------

#[test]
fn check_toml_syntax_error() {
    let res = check("[source]\npath = \"a.csv\n");
    assert_eq!(res.code, 2);
    assert_screen!(res);
}

#[test]
fn check_unknown_key_with_a_suggestion() {
    let res = check("[source]\npath = \"a.csv\"\ndelimter = \";\"\n");
    assert_eq!(res.code, 2);
    assert!(
        res.stderr.contains("did you mean `delimiter`?"),
        "{}",
        res.stderr
    );
    assert_screen!(res);
}

#[test]
fn check_wrong_value_type() {
    let res = check(
        "[source]\npath = \"a.csv\"\nstructure = \"s\"\n[structures.s.fields]\na = { type = \"integer\", required = \"yes\" }\n",
    );
    assert_eq!(res.code, 2);
    assert_screen!(res);
}

#[test]
fn check_rule_not_applicable_to_a_type() {
    let res = check(
        "[source]\npath = \"a.csv\"\nstructure = \"s\"\n[structures.s.fields]\nqty = { type = \"string\", min = 3 }\n",
    );
    assert_eq!(res.code, 2);
    assert!(
        res.stderr.contains("`min` does not apply to `qty`"),
        "{}",
        res.stderr
    );
    assert_screen!(res);
}

#[test]
fn check_broken_sql_expression() {
    let res = check(
        "[source]\npath = \"a.csv\"\nstructure = \"s\"\n[structures.s.fields]\nprice = { type = \"decimal\" }\n\n[[structures.s.checks]]\nname = \"broken\"\nrule = \"price >>> 1\"\n",
    );
    assert_eq!(res.code, 2);
    assert!(
        res.stderr
            .contains("check `broken` is not a valid SQL expression"),
        "{}",
        res.stderr
    );
    assert_screen!(res);
}

#[test]
fn check_conflicting_target_paths() {
    let res = check(
        "[source]\npath = \"data.csv\"\n\n[targets.a]\npath = \"p/Lyon.csv\"\n\n[targets.b]\npath = \"p/{g}.csv\"\n",
    );
    assert_eq!(res.code, 2);
    assert!(
        res.stderr.contains("could write the same file"),
        "{}",
        res.stderr
    );
    assert_screen!(res);
}

#[test]
fn run_missing_lookup_file() {
    let res = Job::new()
        .mapping(
            "[source]\npath = \"data.csv\"\n\n[lookups.brands]\npath = \"brands.csv\"\nkey = \"name\"\n\n[[enrich]]\nlookup = \"brands\"\nmatch = { brand = \"name\" }\nadd = { brand_id = \"id\" }\n\n[targets.t]\npath = \"t.csv\"\n",
        )
        .input("data.csv", "sku,brand\n1,Acme\n")
        .run("run");
    assert_eq!(res.code, 2);
    assert_screen!(res);
}

#[test]
fn check_date_format_without_percent() {
    let res = check(
        "[source]\npath = \"a.csv\"\nstructure = \"s\"\n[structures.s.fields]\nday = { type = \"date\", format = \"dd/mm/yyyy\" }\n",
    );
    assert_eq!(res.code, 2);
    assert_screen!(res);
}

// ---------------------------------------------------------------------------------------------
// Source errors
// ---------------------------------------------------------------------------------------------

const TEXT_MAPPING: &str = "[source]\npath = \"data.csv\"\n";

#[test]
fn source_missing_input_file() {
    let res = Job::new().mapping(TEXT_MAPPING).run("validate");
    assert_eq!(res.code, 2);
    assert_screen!(res);
}

#[test]
fn source_undecodable_header() {
    let res = Job::new()
        .mapping("[source]\npath = \"data.csv\"\nencoding = \"utf-8\"\n")
        .input("data.csv", b"na\xefve,b\n1,2\n")
        .run("validate");
    assert_eq!(res.code, 2);
    assert_screen!(res);
}

#[test]
fn source_malformed_workbook() {
    let res = Job::new()
        .mapping("[source]\npath = \"data.xlsx\"\n")
        .input("data.xlsx", b"PK\x03\x04 this is not a workbook at all")
        .run("validate");
    assert_eq!(res.code, 2);
    assert_screen!(res);
}

#[test]
fn source_header_too_long() {
    let res = Job::new()
        .mapping("[source]\npath = \"data.csv\"\nmax_field_bytes = 64\n")
        .input("data.csv", format!("{}\n1\n", "x".repeat(200)))
        .run("validate");
    assert_eq!(res.code, 2);
    assert_screen!(res);
}

// ---------------------------------------------------------------------------------------------
// Errors that stop a run
// ---------------------------------------------------------------------------------------------

const STOPPING_MAPPING: &str = "[source]\npath = \"data.csv\"\nstructure = \"s\"\n\n[structures.s.fields]\ng = {}\nn = { type = \"integer\" }\n\n[targets.t]\npath = \"t/{g}.csv\"\n\n[run]\nmax_errors = 1\n";

#[test]
fn run_threshold_exceeded() {
    let res = Job::new()
        .mapping(STOPPING_MAPPING)
        .input("data.csv", "g,n\nA,1\nA,x\nB,y\n")
        .run("run");
    assert_eq!(res.code, 2);
    assert!(res.stderr.contains("max_errors = 1"), "{}", res.stderr);
    assert_screen!(res);
}

#[test]
fn run_output_file_in_the_way() {
    let res = Job::new()
        .mapping(STOPPING_MAPPING)
        .input("data.csv", "g,n\nA,1\n")
        .file("out/t/A.csv", "not rowferry's")
        .run("run");
    assert_eq!(res.code, 2);
    assert!(res.stderr.contains("is in the way"), "{}", res.stderr);
    assert_screen!(res);
}

#[test]
fn run_output_folder_locked() {
    let job = Job::new()
        .mapping(STOPPING_MAPPING)
        .input("data.csv", "g,n\nA,1\n");
    std::fs::create_dir_all(job.out_dir()).unwrap();
    let lock = std::fs::File::create(job.out_dir().join(".rowferry-lock")).unwrap();
    lock.lock().unwrap();
    let res = job.run("run");
    drop(lock);
    assert_eq!(res.code, 2);
    assert_screen!(res);
}

// ---------------------------------------------------------------------------------------------
// Summaries
// ---------------------------------------------------------------------------------------------

#[test]
fn summary_of_a_successful_run() {
    let res = Job::new()
        .mapping(
            "[source]\npath = \"data.csv\"\nstructure = \"s\"\n\n[structures.s.fields]\ng = {}\nn = { type = \"integer\" }\n\n[targets.t]\npath = \"t/{g}.csv\"\n\n[targets.big]\npath = \"big.json\"\nwhen = \"n > 1\"\n",
        )
        .input("data.csv", "g,n\nA,1\nB,2\nA,3\n")
        .loud()
        .run("run");
    assert_eq!(res.code, 0, "{}", res.stderr);
    assert_screen!(res);
}

#[test]
fn summary_of_a_validate_with_rejects() {
    let res = Job::shipped("mappings/shop-products.toml")
        .loud()
        .run("validate");
    assert_eq!(res.code, 1, "{}", res.stderr);
    assert_screen!(res);
}
