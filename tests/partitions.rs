//! Target paths that name many files: `{field}` partitions (safe, distinct, short names, under
//! few open files) and `{batch}` numbered files.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use crate::util::{Job, check_report_files, names, read_csv, report_target, targets_only};

// ---------------------------------------------------------------------------------------------
// Partitions
// ---------------------------------------------------------------------------------------------

#[test]
fn partition_values_become_safe_distinct_file_names() {
    let p = Job::new().mapping(
        "[source]\npath = \"data.csv\"\n[targets.parts]\npath = \"parts/{v}.csv\"\ncolumns.v = \"v\"\ncolumns.i = \"i\"\n",
    )
    .input(
        "data.csv",
        "v,i\n../x,1\na/b,2\na_b,3\n.hidden,4\n,5\nLyon,6\nLYON,7\na/b,8\n_empty,9\n..,10\n\"q?:*<>|\"\"\\\",11\n",
    );
    let res = p.run("run");
    assert_eq!(res.code, 0, "{}", res.stderr);
    let out = p.out_dir();
    let all = p.tree();
    // Nothing outside `parts/` but the report.
    for name in all.keys() {
        assert!(
            name.starts_with("parts/") || name.starts_with("_report/"),
            "{name} is outside the target folder"
        );
        if let Some(file) = name.strip_prefix("parts/") {
            assert!(!file.contains('/'), "{name} is in a sub-folder");
        }
    }
    assert!(!p.path().join("x.csv").exists());
    assert!(!out.join("x.csv").exists());
    let parts: BTreeMap<String, String> = all
        .iter()
        .filter(|(k, _)| k.starts_with("parts/"))
        .map(|(k, v)| {
            (
                k["parts/".len()..].to_string(),
                String::from_utf8(v.clone()).unwrap(),
            )
        })
        .collect();
    // Each file holds the rows of one value, and every row is somewhere.
    let mut by_value: BTreeMap<String, (String, String)> = BTreeMap::new();
    let mut seen = Vec::new();
    for (name, content) in &parts {
        let rows = read_csv(&out.join("parts").join(name), b',');
        let values: BTreeSet<&String> = rows.iter().map(|r| &r["v"]).collect();
        assert_eq!(values.len(), 1, "{name} mixes values: {content}");
        let v = values.into_iter().next().unwrap().clone();
        assert!(
            by_value
                .insert(v.clone(), (name.clone(), content.clone()))
                .is_none(),
            "value `{v}` is in two files"
        );
        seen.extend(rows.iter().map(|r| r["i"].parse::<u32>().unwrap()));
    }
    seen.sort_unstable();
    assert_eq!(seen, (1..=11).collect::<Vec<_>>());
    assert_eq!(parts.len(), 10);
    let file = |v: &str| by_value[v].0.clone();
    assert_eq!(file("../x"), "_._x.csv");
    assert_eq!(file("a/b"), "a_b.csv");
    assert_eq!(by_value["a/b"].1, "v,i\na/b,2\na/b,8\n");
    assert_eq!(file(".hidden"), "_hidden.csv");
    assert_eq!(file(""), "_empty.csv");
    assert_eq!(file("Lyon"), "Lyon.csv");
    assert_eq!(file("q?:*<>|\"\\"), "q________.csv");
    // The later of two colliding values gets a `~<8 hex>` suffix.
    let suffixed = |name: &str, stem: &str| {
        let rest = name
            .strip_prefix(&format!("{stem}~"))
            .and_then(|r| r.strip_suffix(".csv"))
            .unwrap_or_else(|| panic!("{name} is not {stem}~<hex>.csv"));
        assert_eq!(rest.len(), 8, "{name}");
        assert!(rest.bytes().all(|b| b.is_ascii_hexdigit()), "{name}");
    };
    suffixed(&file("a_b"), "a_b");
    suffixed(&file("LYON"), "LYON");
    suffixed(&file("_empty"), "_empty");
    assert!(!file("..").contains(".."), "{}", file(".."));
    assert!(!file("..").starts_with('.'), "{}", file(".."));
    check_report_files(out);
}

#[test]
fn long_partition_values_are_cut_and_still_distinct() {
    let p = Job::new()
        .mapping(
            "[source]\npath = \"data.csv\"\n[targets.t]\npath = \"t/{g}.csv\"\ncolumns.i = \"i\"\n",
        )
        .input(
            "data.csv",
            format!(
                "g,i\n{a}1,1\n{a}2,2\n{e},3\n",
                a = "x".repeat(300),
                e = "é".repeat(200)
            ),
        );
    let res = p.run("run");
    assert_eq!(res.code, 0, "{}", res.stderr);
    let files = targets_only(&p.tree());
    assert_eq!(files.len(), 3, "{:?}", names(&files));
    let mut contents: Vec<String> = files
        .iter()
        .map(|(k, v)| {
            assert!(k.len() < 200, "{k} is too long a name");
            String::from_utf8(v.clone()).unwrap()
        })
        .collect();
    contents.sort();
    assert_eq!(contents, vec!["i\n1\n", "i\n2\n", "i\n3\n"]);
}

#[test]
fn colliding_values_keep_their_names_in_every_batch() {
    // `Lyon` and `LYON` differ only by case: `LYON`, seen later, is suffixed, in every batch
    // file, even when a batch of `LYON` is created before the same batch of `Lyon`.
    let p = Job::new().mapping(
        "[source]\npath = \"data.csv\"\n[targets.t]\npath = \"t/{g}-{batch}.csv\"\nbatch_size = 2\nwhen = \"g <> 'f'\"\ncolumns.i = \"i\"\n",
    );
    // Filler rows push the last `Lyon` into a second chunk (chunks are 65,536 rows).
    let mut data = String::from("g,i\nLyon,1\nLyon,2\nLYON,3\nLYON,4\nLYON,5\n");
    for i in 6..70_006 {
        data.push_str(&format!("f,{i}\n"));
    }
    data.push_str("Lyon,70006\n");
    p.write("data.csv", data);
    let res = p.run("run");
    assert_eq!(res.code, 0, "{}", res.stderr);
    let files: BTreeMap<String, String> = targets_only(&p.tree())
        .into_iter()
        .map(|(k, v)| (k, String::from_utf8(v).unwrap()))
        .collect();
    assert_eq!(files.len(), 4, "{:?}", files.keys());
    assert_eq!(
        files.get("t/Lyon-0001.csv").map(String::as_str),
        Some("i\n1\n2\n"),
        "{files:?}"
    );
    assert_eq!(
        files.get("t/Lyon-0002.csv").map(String::as_str),
        Some("i\n70006\n"),
        "{files:?}"
    );
    let suffixed: Vec<(&String, &String)> = files
        .iter()
        .filter(|(k, _)| k.starts_with("t/LYON~"))
        .collect();
    assert_eq!(
        suffixed.len(),
        2,
        "both LYON batches are suffixed: {files:?}"
    );
    let tag = &suffixed[0].0["t/LYON~".len().."t/LYON~".len() + 8];
    assert_eq!(suffixed[0].0, &format!("t/LYON~{tag}-0001.csv"));
    assert_eq!(suffixed[0].1, "i\n3\n4\n");
    assert_eq!(suffixed[1].0, &format!("t/LYON~{tag}-0002.csv"));
    assert_eq!(suffixed[1].1, "i\n5\n");
}

#[test]
fn one_open_file_at_a_time_with_typed_and_enriched_partitions() {
    let p = Job::new()
        .mapping(
            r#"[source]
path = "data.csv"
structure = "s"

[structures.s.fields]
day = { type = "date", format = "%d/%m/%Y" }
brand = {}

[lookups.b]
path = "b.csv"
key = "name"

[[enrich]]
lookup = "b"
match = { brand = "name" }
add = { country = "country" }

[targets.a]
path = "a.csv"
bom = true

[targets.j]
path = "j.json"
columns.d = "day"

[targets.p]
path = "p/{country}/{day}.csv"
when = "country = 'FR'"
columns.brand = "brand"

[run]
max_open_files = 1
"#,
        )
        .file("b.csv", "name,country\nAcme,FR\nGlob,DE\n")
        .input(
            "data.csv",
            "day,brand\n31/01/2024,Acme\n01/02/2024,Glob\n01/02/2024,Acme\n31/01/2024,Acme\n",
        );
    let res = p.run("run");
    assert_eq!(res.code, 0, "{}", res.stderr);
    let a = p.bytes("out/a.csv");
    assert_eq!(
        a,
        "\u{feff}day,brand,country\n2024-01-31,Acme,FR\n2024-02-01,Glob,DE\n2024-02-01,Acme,FR\n2024-01-31,Acme,FR\n".as_bytes()
    );
    assert_eq!(
        p.read("out/j.json"),
        "[\n{\"d\":\"2024-01-31\"},\n{\"d\":\"2024-02-01\"},\n{\"d\":\"2024-02-01\"},\n{\"d\":\"2024-01-31\"}\n]\n"
    );
    assert_eq!(p.read("out/p/FR/2024-01-31.csv"), "brand\nAcme\nAcme\n");
    assert_eq!(p.read("out/p/FR/2024-02-01.csv"), "brand\nAcme\n");
    assert!(!p.exists("out/p/DE"));
    check_report_files(p.out_dir());
}

/// `k,i`: `values` partitions × `per` rows each, interleaved (`p0,0`, `p1,0`, … `p0,1`, …).
fn interleaved(values: usize, per: usize) -> String {
    let mut s = String::from("k,i\n");
    for r in 0..per {
        for k in 0..values {
            s.push_str(&format!("p{k},{r}\n"));
        }
    }
    s
}

fn check_partitions(out: &Path, values: usize, per: usize, json: bool) {
    let csv_dir = out.join("csv");
    let n = std::fs::read_dir(&csv_dir).unwrap().count();
    assert_eq!(n, values);
    for k in 0..values {
        let mut expected = String::from("k,i\n");
        for r in 0..per {
            expected.push_str(&format!("p{k},{r}\n"));
        }
        let got = std::fs::read_to_string(csv_dir.join(format!("p{k}.csv"))).unwrap();
        assert_eq!(got, expected, "csv/p{k}.csv");
        if json {
            let raw = std::fs::read_to_string(out.join(format!("json/p{k}.json"))).unwrap();
            let mut expected = String::from("[");
            for r in 0..per {
                expected.push_str(if r == 0 { "\n" } else { ",\n" });
                expected.push_str(&format!("{{\"k\":\"p{k}\",\"i\":\"{r}\"}}"));
            }
            expected.push_str("\n]\n");
            assert_eq!(raw, expected, "json/p{k}.json");
        }
    }
}

#[test]
fn thousands_of_partitions_with_few_open_files() {
    let p = Job::new().mapping(
        "[source]\npath = \"data.csv\"\n[targets.c]\npath = \"csv/{k}.csv\"\n[targets.j]\npath = \"json/{k}.json\"\n[run]\nmax_open_files = 8\n",
    )
    // 3000 × 25 = 75,000 rows: two chunks, so every file is closed and reopened for appending.
    .input("data.csv", interleaved(3000, 25));
    let res = p.run("run");
    assert_eq!(res.code, 0, "{}", res.stderr);
    let out = p.out_dir();
    check_partitions(out, 3000, 25, true);
    let r = p.report();
    assert_eq!(
        report_target(&r, "c")["files"].as_array().unwrap().len(),
        3000
    );
    assert_eq!(report_target(&r, "j")["rows"], 75_000);
    check_report_files(out);
}

#[test]
fn partitions_survive_a_low_os_file_limit() {
    let p = Job::new()
        .mapping("[source]\npath = \"data.csv\"\n[targets.c]\npath = \"csv/{k}.csv\"\n")
        .input("data.csv", interleaved(3000, 2));
    // Default max_open_files (64) is above what the OS allows here: the sink must adapt.
    let out = Command::new("sh")
        .arg("-c")
        .arg("ulimit -n 40 && exec \"$0\" run mapping.toml --out out --quiet")
        .arg(env!("CARGO_BIN_EXE_rowferry"))
        .current_dir(p.path())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    check_partitions(p.out_dir(), 3000, 2, false);
    check_report_files(p.out_dir());
}

// ---------------------------------------------------------------------------------------------
// Batches
// ---------------------------------------------------------------------------------------------

#[test]
fn batch_size_rolls_numbered_files() {
    let p = Job::new().mapping(
        "[source]\npath = \"data.csv\"\n[targets.j]\npath = \"j/part-{batch}.json\"\nbatch_size = 2\n[targets.c]\npath = \"c/part-{batch}.csv\"\nbatch_size = 2\n",
    )
    .input("data.csv", "n\n1\n2\n3\n4\n5\n");
    let res = p.run("run");
    assert_eq!(res.code, 0, "{}", res.stderr);
    assert_eq!(
        p.read("out/j/part-0001.json"),
        "[\n{\"n\":\"1\"},\n{\"n\":\"2\"}\n]\n"
    );
    assert_eq!(
        p.read("out/j/part-0002.json"),
        "[\n{\"n\":\"3\"},\n{\"n\":\"4\"}\n]\n"
    );
    assert_eq!(p.read("out/j/part-0003.json"), "[\n{\"n\":\"5\"}\n]\n");
    assert_eq!(p.read("out/c/part-0001.csv"), "n\n1\n2\n");
    assert_eq!(p.read("out/c/part-0002.csv"), "n\n3\n4\n");
    assert_eq!(p.read("out/c/part-0003.csv"), "n\n5\n");
    let all = targets_only(&p.tree());
    assert_eq!(all.len(), 6, "{:?}", names(&all));
    let r = p.report();
    let rows: Vec<u64> = report_target(&r, "j")["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rows"].as_u64().unwrap())
        .collect();
    assert_eq!(rows, vec![2, 2, 1]);
    check_report_files(p.out_dir());
}

#[test]
fn batches_within_partitions() {
    let p = Job::new().mapping(
        "[source]\npath = \"data.csv\"\n[targets.r]\npath = \"r/{g}/part-{batch}.csv\"\nbatch_size = 2\ncolumns.i = \"i\"\n",
    )
    .input("data.csv", "g,i\nA,1\nA,2\nB,3\nA,4\nA,5\nB,6\nA,7\n");
    let res = p.run("run");
    assert_eq!(res.code, 0, "{}", res.stderr);
    let all = targets_only(&p.tree());
    let got: BTreeMap<&str, String> = all
        .iter()
        .map(|(k, v)| (k.as_str(), String::from_utf8(v.clone()).unwrap()))
        .collect();
    let expected: BTreeMap<&str, String> = [
        ("r/A/part-0001.csv", "i\n1\n2\n"),
        ("r/A/part-0002.csv", "i\n4\n5\n"),
        ("r/A/part-0003.csv", "i\n7\n"),
        ("r/B/part-0001.csv", "i\n3\n6\n"),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.to_string()))
    .collect();
    assert_eq!(got, expected);
    check_report_files(p.out_dir());
}
