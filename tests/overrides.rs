//! `${VAR}` in the mapping (with `:-default`) and `--set key=value` on the command line, echoed
//! in the report.

use crate::util::{Job, at};

#[test]
fn environment_variables_and_defaults() {
    let p = Job::new().mapping(
        "[source]\npath = \"${RF_TEST_DIR}/data.csv\"\ndelimiter = \"${RF_TEST_DELIM:-;}\"\n\n[targets.t]\npath = \"${RF_TEST_NAME:-default}.csv\"\nwhen = \"k <> '${RF_TEST_SKIP}'\"\n",
    )
    .file("in/data.csv", "k;v\na;1\nb;2\n");
    let res = p.output(
        p.command("run")
            .env("RF_TEST_DIR", "in")
            .env("RF_TEST_SKIP", "b")
            .env_remove("RF_TEST_DELIM")
            .env_remove("RF_TEST_NAME"),
    );
    assert_eq!(res.code, 0, "{}", res.stderr);
    assert_eq!(p.read("out/default.csv"), "k,v\na,1\n");
    let r = p.report();
    assert_eq!(
        r["overrides"]["variables"],
        serde_json::json!({
            "RF_TEST_DIR": "in",
            "RF_TEST_DELIM": ";",
            "RF_TEST_NAME": "default",
            "RF_TEST_SKIP": "b"
        })
    );
    assert_eq!(r["overrides"]["sets"], serde_json::json!([]));

    // A set variable wins over the default.
    let res = p.output(
        p.command("run")
            .env("RF_TEST_DIR", "in")
            .env("RF_TEST_SKIP", "a")
            .env("RF_TEST_NAME", "named")
            .env_remove("RF_TEST_DELIM"),
    );
    assert_eq!(res.code, 0, "{}", res.stderr);
    assert_eq!(p.read("out/named.csv"), "k,v\nb,2\n");
    assert!(!p.exists("out/default.csv"));
}

#[test]
fn an_unset_variable_is_a_diagnostic() {
    let mapping =
        "[source]\npath = \"data.csv\"\n\n[targets.t]\npath = \"${RF_TEST_MISSING}.csv\"\n";
    let p = Job::new()
        .mapping(mapping)
        .input("data.csv", "k\na\n")
        .env_remove("RF_TEST_MISSING");
    let res = p.run("run");
    assert_eq!(res.code, 2);
    assert!(
        res.stderr
            .contains("environment variable `RF_TEST_MISSING` is not set"),
        "{}",
        res.stderr
    );
    assert!(
        res.stderr.contains(&at(mapping, "\"${RF_TEST_MISSING}")),
        "{}",
        res.stderr
    );
    assert!(res.stderr.contains("${RF_TEST_MISSING:-"), "{}", res.stderr);
    assert!(!p.exists("out"));
}

#[test]
fn set_overrides_a_lookup_path_and_a_threshold() {
    let p = Job::new()
        .mapping_at(
            "m/mapping.toml",
            r#"[source]
path = "data.csv"

[lookups.brands]
path = "brands.csv"
key = "name"

[[enrich]]
lookup = "brands"
match = { brand = "name" }
add = { brand_id = "id" }

[targets.t]
path = "t.csv"
columns.sku = "sku"
columns.brand_id = "brand_id"

[run]
max_errors = 0
"#,
        )
        .file("m/data.csv", "sku,brand\n1,Acme\n2,Nope\n")
        .file("m/brands.csv", "name,id\nAcme,M1\n")
        .file("other/brands.csv", "name,id\nAcme,O1\nNope,O2\nThird,O3\n");
    // As written: one miss exceeds max_errors = 0.
    let res = p.run("run");
    assert_eq!(res.code, 2, "{}", res.stderr);
    assert_eq!(p.report()["status"], "stopped");

    // The lookup path given on the command line is relative to the working directory.
    let res = p.run_with("run", &["--set", "lookups.brands.path=other/brands.csv"]);
    assert_eq!(res.code, 0, "{}", res.stderr);
    assert_eq!(p.read("out/t.csv"), "sku,brand_id\n1,O1\n2,O2\n");
    let r = p.report();
    assert_eq!(r["lookups"][0]["rows"], 3);
    assert!(
        r["lookups"][0]["path"]
            .as_str()
            .unwrap()
            .ends_with("other/brands.csv")
    );
    assert_eq!(
        r["overrides"]["sets"],
        serde_json::json!(["lookups.brands.path=other/brands.csv"])
    );

    // Raising the threshold lets the run complete with its reject.
    let res = p.run_with("run", &["--set", "run.max_errors=5"]);
    assert_eq!(res.code, 1, "{}", res.stderr);
    assert_eq!(p.read("out/t.csv"), "sku,brand_id\n1,M1\n");
    let r = p.report();
    assert_eq!(r["status"], "completed");
    assert_eq!(
        r["overrides"]["sets"],
        serde_json::json!(["run.max_errors=5"])
    );

    // Both at once, echoed in order.
    let res = p.run_with(
        "run",
        &[
            "--set",
            "run.max_errors=5",
            "--set",
            "lookups.brands.path=other/brands.csv",
        ],
    );
    assert_eq!(res.code, 0, "{}", res.stderr);
    assert_eq!(
        p.report()["overrides"]["sets"],
        serde_json::json!(["run.max_errors=5", "lookups.brands.path=other/brands.csv"])
    );
}
