//! `rowferry run`: lookups and enrichment, routing, target formats, partitions, batches,
//! atomic outputs, overrides and plan diagnostics — the real binary on real files.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::util::{Project, Run, read_csv, repo, rowferry};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_rowferry")
}

/// `rowferry run mapping.toml --out out --quiet EXTRA…` in the project folder.
fn run(p: &Project, extra: &[&str]) -> Run {
    let mut args = vec!["run", "mapping.toml", "--out", "out", "--quiet"];
    args.extend_from_slice(extra);
    p.run(&args)
}

/// `rowferry ARGS` in `cwd`, with `vars` set and `unset` removed from the environment.
fn rowferry_env(cwd: &Path, args: &[&str], vars: &[(&str, &str)], unset: &[&str]) -> Run {
    let mut cmd = Command::new(bin());
    cmd.args(args).current_dir(cwd);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    for k in unset {
        cmd.env_remove(k);
    }
    let out = cmd.output().expect("the rowferry binary runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Every file under `dir`, by path relative to it (with `/`), with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(base, &path, out);
            } else {
                let rel = path
                    .strip_prefix(base)
                    .unwrap()
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join("/");
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    if dir.is_dir() {
        walk(dir, dir, &mut out);
    }
    // The folder's lock and manifest are rowferry's bookkeeping, not outputs.
    out.retain(|name, _| name != ".rowferry-lock" && name != ".rowferry-manifest");
    out
}

/// The files of a snapshot outside `_report/`.
fn targets_only(s: &BTreeMap<String, Vec<u8>>) -> BTreeMap<String, Vec<u8>> {
    s.iter()
        .filter(|(k, _)| !k.starts_with("_report/"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn names(s: &BTreeMap<String, Vec<u8>>) -> Vec<&str> {
    s.keys().map(String::as_str).collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `mapping.toml:LINE:COL` of the first occurrence of `needle` in `text` (1-based).
fn at(text: &str, needle: &str) -> String {
    let offset = text
        .find(needle)
        .unwrap_or_else(|| panic!("`{needle}` is not in the mapping"));
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = offset - before.rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
    format!("mapping.toml:{line}:{col}")
}

fn text(p: &Project, name: &str) -> String {
    p.read(name)
}

fn report_target<'a>(r: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    r["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no target `{name}` in the report"))
}

/// Every file listed in report.json's targets matches the file on disk: size, sha256, rows
/// (CSV with header, JSON arrays); and every file outside `_report` is listed.
fn check_report_files(out: &Path) {
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("_report/report.json")).unwrap())
            .unwrap();
    let mut listed = BTreeSet::new();
    for t in r["targets"].as_array().unwrap() {
        let mut total = 0;
        for f in t["files"].as_array().unwrap() {
            let rel = f["path"].as_str().unwrap();
            let bytes = std::fs::read(out.join(rel)).unwrap();
            assert_eq!(f["bytes"], bytes.len() as u64, "{rel}");
            assert_eq!(f["sha256"], sha256_hex(&bytes), "{rel}");
            total += f["rows"].as_u64().unwrap();
            assert!(listed.insert(rel.to_string()), "{rel} listed twice");
        }
        assert_eq!(t["rows"], total, "target {}", t["name"]);
    }
    let on_disk: BTreeSet<String> = targets_only(&snapshot(out)).into_keys().collect();
    assert_eq!(listed, on_disk);
}

/// `12,5` / `13,00` / `7` → cents, exactly.
fn cents(text: &str) -> i64 {
    let t = text.trim();
    let (whole, frac) = t.split_once(',').unwrap_or((t, ""));
    let neg = whole.starts_with('-');
    let whole: i64 = whole.trim_start_matches(['-', '+']).parse().unwrap();
    let frac: i64 = match frac.len() {
        0 => 0,
        1 => frac.parse::<i64>().unwrap() * 10,
        2 => frac.parse().unwrap(),
        _ => panic!("`{text}` has more than 2 decimals"),
    };
    let v = whole * 100 + frac;
    if neg { -v } else { v }
}

// ---------------------------------------------------------------------------------------------
// 1. The shipped shop example
// ---------------------------------------------------------------------------------------------

/// Runs the shop example into `out` (absolute), from the repository root.
fn run_shop(out: &Path) -> Run {
    run_shop_with(out, &[])
}

/// [`run_shop`] with more arguments.
fn run_shop_with(out: &Path, extra: &[&str]) -> Run {
    let mut args = vec![
        "run",
        "mappings/shop-products.toml",
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ];
    args.extend_from_slice(extra);
    rowferry(&repo(), &args)
}

/// A snapshot without `report.json`, which differs from run to run (times, paths).
fn without_report(mut s: BTreeMap<String, Vec<u8>>) -> BTreeMap<String, Vec<u8>> {
    s.remove("_report/report.json");
    s
}

/// The source records of `samples/shop/products.csv`, by SKU (the first record with it: a later
/// one is a `duplicate-key` reject).
fn shop_source() -> BTreeMap<String, csv::StringRecord> {
    let mut r = csv::ReaderBuilder::new()
        .delimiter(b';')
        .flexible(true)
        .from_path(repo().join("samples/shop/products.csv"))
        .unwrap();
    let mut by_sku = BTreeMap::new();
    for rec in r.records() {
        let rec = rec.unwrap();
        by_sku.entry(rec[0].to_string()).or_insert(rec);
    }
    by_sku
}

#[test]
fn shop_example_writes_catalog_pricing_stock_and_api() {
    let p = Project::new();
    let out = p.path().join("out");
    let res = run_shop(&out);
    assert_eq!(res.code, 1, "{}", res.stderr);
    let r = p.report();
    assert_eq!(r["command"], "run");
    assert_eq!(r["status"], "completed");
    assert_eq!(r["rows"]["accepted"], 282);
    assert_eq!(r["conservation"]["holds"], true);
    assert_eq!(
        r["rows"]["routed"].as_u64().unwrap() + r["rows"]["unrouted"].as_u64().unwrap(),
        282
    );
    let lookups: Vec<(String, u64)> = r["lookups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["name"].as_str().unwrap().to_string(),
                l["rows"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        lookups,
        vec![("brands".to_string(), 11), ("colors".to_string(), 8)]
    );

    let source = shop_source();
    // catalog: every accepted row, in input order.
    let catalog = read_csv(&out.join("catalog/products.csv"), b',');
    assert_eq!(catalog.len(), 282);
    assert_eq!(
        text(&p, "out/catalog/products.csv").lines().next(),
        Some("id,title,brand_id,color,created,active")
    );
    let brands: BTreeMap<String, String> = read_csv(&repo().join("samples/shop/brands.csv"), b';')
        .into_iter()
        .map(|b| (b["name"].to_lowercase(), b["id"].clone()))
        .collect();
    let ids: Vec<String> = catalog.iter().map(|c| c["id"].clone()).collect();
    for c in &catalog {
        let src = &source[&c["id"]];
        assert_eq!(
            c["brand_id"],
            brands[&src[2].trim().to_lowercase()],
            "{c:?}"
        );
        let created = &c["created"];
        assert!(
            created.is_empty() || {
                let b = created.as_bytes();
                b.len() == 10 && b[4] == b'-' && b[7] == b'-'
            },
            "ISO date: {created}"
        );
        assert!(
            ["true", "false", ""].contains(&c["active"].as_str()),
            "{c:?}"
        );
    }
    assert_eq!(
        ids.iter().collect::<BTreeSet<_>>().len(),
        282,
        "ids are unique"
    );

    // stock: one file per warehouse, only rows with stock > 0, in input order.
    let mut expected: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for id in &ids {
        let src = &source[id];
        let stock = src[6].trim();
        if !stock.is_empty() && stock.parse::<i64>().unwrap() > 0 {
            expected
                .entry(src[7].to_string())
                .or_default()
                .push((id.clone(), stock.parse::<i64>().unwrap().to_string()));
        }
    }
    let files: BTreeSet<String> = std::fs::read_dir(out.join("stock"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let wanted: BTreeSet<String> = expected.keys().map(|w| format!("{w}.csv")).collect();
    assert_eq!(files, wanted);
    assert_eq!(files.len(), 4);
    for (w, rows) in &expected {
        let got: Vec<(String, String)> = read_csv(&out.join(format!("stock/{w}.csv")), b';')
            .into_iter()
            .map(|r| (r["sku"].clone(), r["qty"].clone()))
            .collect();
        assert_eq!(&got, rows, "stock/{w}.csv");
    }
    assert_eq!(
        report_target(&r, "stock")["rows"],
        expected.values().map(Vec::len).sum::<usize>() as u64
    );

    // pricing: active rows only, exact cents.
    let mut expected = Vec::new();
    for id in &ids {
        let src = &source[id];
        if src[10].trim().eq_ignore_ascii_case("oui") {
            let sale = src[5].trim();
            expected.push(vec![
                id.clone(),
                cents(&src[4]).to_string(),
                if sale.is_empty() {
                    String::new()
                } else {
                    cents(sale).to_string()
                },
                "EUR".to_string(),
            ]);
        }
    }
    let pricing: Vec<Vec<String>> = read_csv(&out.join("pricing/prices.csv"), b',')
        .into_iter()
        .map(|r| {
            vec![
                r["sku"].clone(),
                r["price_cents"].clone(),
                r["sale_price_cents"].clone(),
                r["currency"].clone(),
            ]
        })
        .collect();
    assert_eq!(pricing, expected);

    // api: JSON arrays of 100 records, nested, ISO dates, in input order.
    let api = ["0001", "0002", "0003"];
    let mut skus = Vec::new();
    for (i, b) in api.iter().enumerate() {
        let raw = text(&p, &format!("out/api/products-{b}.json"));
        let v: serde_json::Value = serde_json::from_str(&raw).expect("a JSON document");
        let records = v.as_array().expect("a JSON array");
        assert_eq!(records.len(), if i < 2 { 100 } else { 82 });
        assert!(raw.starts_with("[\n{") && raw.ends_with("}\n]\n"));
        assert_eq!(raw.lines().count(), records.len() + 2, "one record a line");
        for rec in records {
            let product = &rec["product"];
            skus.push(product["sku"].as_str().unwrap().to_string());
            assert!(product["price"]["amount"].is_number(), "{rec}");
            assert_eq!(product["price"]["currency"], "EUR");
            assert!(product["active"].is_boolean() || product["active"].is_null());
            let created = product["created"].as_str().unwrap_or("2000-01-01");
            assert!(
                created.len() == 10 && created.as_bytes()[4] == b'-',
                "{created}"
            );
        }
    }
    assert_eq!(skus, ids);
    assert!(
        text(&p, "out/api/products-0001.json")
            .contains(r#"{"product":{"sku":"TSH-8602","title":"T-shirt manches courtes en coton bio","brand_id":"BR-003","price":{"amount":13.00,"currency":"EUR"},"created":"2025-01-31","active":true}}"#)
    );
    assert!(!out.join("api/products-0004.json").exists());
    check_report_files(&out);
}

#[test]
fn shop_example_second_run_is_byte_identical() {
    let p = Project::new();
    let out = p.path().join("out");
    assert_eq!(run_shop(&out).code, 1);
    let first = snapshot(&out);
    let first_report = p.report();
    assert_eq!(run_shop(&out).code, 1);
    let second = snapshot(&out);
    assert_eq!(names(&first), names(&second));
    assert_eq!(without_report(first), without_report(second));
    // Every file's hash in the report is the hash of the file, and both runs agree.
    assert_eq!(first_report["targets"], p.report()["targets"]);
    check_report_files(&out);
    assert!(!out.join(".rowferry-staging").exists());
}

/// Targets shared among several writer threads (the default with more than one core) are
/// written exactly as one writer writes them: a cap of three open files leaves one writer.
#[test]
fn targets_written_by_several_writers_match_one_writer() {
    let p = Project::new();
    let one = p.path().join("one");
    let many = p.path().join("many");
    // Small batches, so that the JSON target rolls many files while the others are written.
    let batches = ["--set", "targets.api.batch_size=7"];
    let r = run_shop_with(
        &one,
        &[&batches[..], &["--set", "run.max_open_files=3"]].concat(),
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    let r = run_shop_with(&many, &batches);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let (a, b) = (
        without_report(snapshot(&one)),
        without_report(snapshot(&many)),
    );
    assert!(
        a.keys().filter(|k| k.starts_with("api/")).count() > 30,
        "{:?}",
        a.keys()
    );
    assert_eq!(names(&a), names(&b));
    assert_eq!(a, b);
    let report = |dir: &Path| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(dir.join("_report/report.json")).unwrap()).unwrap()
    };
    assert_eq!(report(&one)["targets"], report(&many)["targets"]);
    check_report_files(&one);
    check_report_files(&many);
}

/// The report says what the run cost: peak memory and CPU time, which cannot exceed what the
/// cores had in the time the run took (ticks of 10 ms aside).
#[test]
fn the_report_says_what_the_run_cost() {
    let p = Project::new();
    let out = p.path().join("out");
    assert_eq!(run_shop(&out).code, 1);
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
    let p = Project::new();
    let mapping = "[source]\npath = \"data.csv\"\n[targets.a]\npath = \"a.csv\"\n[targets.b]\npath = \"b.csv\"\nwhen = \"k = 'x'\"\n";
    p.file("mapping.toml", mapping)
        .file("data.csv", "k,v\nx,1\ny,2\n");
    assert_eq!(run(&p, &[]).code, 0);
    let before = p.report();
    p.file("data.csv", "k,v\nx,1\ny,3\n");
    assert_eq!(run(&p, &[]).code, 0);
    let after = p.report();
    let sha = |r: &serde_json::Value, t: &str| report_target(r, t)["files"][0]["sha256"].clone();
    assert_ne!(sha(&before, "a"), sha(&after, "a"), "a.csv changed");
    assert_eq!(sha(&before, "b"), sha(&after, "b"), "b.csv did not");
    assert_eq!(
        sha(&after, "a"),
        sha256_hex(&std::fs::read(p.path().join("out/a.csv")).unwrap())
    );
    check_report_files(&p.path().join("out"));
}

#[test]
fn decimal_cents_are_exact() {
    let p = Project::new();
    p.file(
        "mapping.toml",
        r#"[source]
path = "data.csv"
delimiter = ";"
structure = "s"

[structures.s.fields]
sku = {}
price = { type = "decimal", scale = 2, decimal_separator = "," }

[targets.pricing]
path = "prices.csv"
columns.sku = "sku"
columns.price_cents = "CAST(price * 100 AS INTEGER)"
columns.price = "price"
"#,
    )
    .file(
        "data.csv",
        "sku;price\nA;0,29\nB;19,99\nC;0,57\nD;1,15\nE;4,35\nF;1234567,89\nG;13\nH;\n",
    );
    let res = run(&p, &[]);
    assert_eq!(res.code, 0, "{}", res.stderr);
    assert_eq!(
        text(&p, "out/prices.csv"),
        "sku,price_cents,price\nA,29,0.29\nB,1999,19.99\nC,57,0.57\nD,115,1.15\nE,435,4.35\nF,123456789,1234567.89\nG,1300,13.00\nH,,\n"
    );
}

// ---------------------------------------------------------------------------------------------
// 2. Lookups and enrichment
// ---------------------------------------------------------------------------------------------

const BRANDS_MAPPING: &str = r#"[source]
path = "data.csv"
delimiter = ","
structure = "s"

[structures.s.fields]
sku = {}
brand = { column = "Brand" }

[lookups.brands]
path = "brands.csv"
key = "name"
OPTIONS

[[enrich]]
lookup = "brands"
match = { brand = "name" }
add = { brand_id = "id" }

[targets.t]
path = "t.csv"
columns.sku = "sku"
columns.brand_id = "brand_id"
"#;

#[test]
fn lookup_matches_ignoring_case_and_surrounding_spaces() {
    let p = Project::new();
    p.file(
        "mapping.toml",
        BRANDS_MAPPING.replace(
            "OPTIONS",
            "ignore_case = true\ntrim = true\ndelimiter = \";\"",
        ),
    )
    .file("brands.csv", "name;id\nAcme;A1\n  Globex ;G2\nInitech;I3\n")
    .file(
        "data.csv",
        "sku,Brand\n1,ACME\n2, globex\n3,\"initech  \"\n4,acme\n",
    );
    let res = run(&p, &[]);
    assert_eq!(res.code, 0, "{}", res.stderr);
    assert_eq!(
        text(&p, "out/t.csv"),
        "sku,brand_id\n1,A1\n2,G2\n3,I3\n4,A1\n"
    );
    let r = p.report();
    assert_eq!(r["lookups"][0]["name"], "brands");
    assert_eq!(r["lookups"][0]["rows"], 3);
    assert!(
        r["lookups"][0]["path"]
            .as_str()
            .unwrap()
            .ends_with("brands.csv")
    );
}

#[test]
fn lookup_miss_rejects_the_row_by_default() {
    let p = Project::new();
    p.file("mapping.toml", BRANDS_MAPPING.replace("OPTIONS", ""))
        .file("brands.csv", "name,id\nAcme,A1\nGlobex,G2\n")
        .file("data.csv", "sku,Brand\n1,Acme\n2,ACME\n3,Globex\n4, Acme\n");
    let res = run(&p, &[]);
    assert_eq!(res.code, 1, "{}", res.stderr);
    assert_eq!(text(&p, "out/t.csv"), "sku,brand_id\n1,A1\n3,G2\n");
    let errors = p.errors();
    assert_eq!(errors.len(), 2, "{errors:?}");
    let e = &errors[0];
    assert_eq!(e["row"], "3");
    assert_eq!(e["stage"], "enrich");
    assert_eq!(e["code"], "lookup-miss");
    assert_eq!(e["field"], "brand");
    assert_eq!(e["column"], "Brand");
    assert_eq!(e["value"], "ACME");
    assert_eq!(e["severity"], "error");
    assert!(
        e["message"].contains("`ACME` is not in lookup `brands`"),
        "{}",
        e["message"]
    );
    assert!(
        e["message"].contains("did you mean `Acme`?"),
        "{}",
        e["message"]
    );
    assert_eq!(errors[1]["row"], "5");
    assert_eq!(errors[1]["value"], " Acme");
    let rejects = read_csv(&p.path().join("out/_report/rejects.csv"), b',');
    let rows: Vec<(&str, &str, &str)> = rejects
        .iter()
        .map(|r| (r["sku"].as_str(), r["Brand"].as_str(), r["_row"].as_str()))
        .collect();
    assert_eq!(rows, vec![("2", "ACME", "3"), ("4", " Acme", "5")]);
    assert!(rejects[0]["_errors"].contains("lookup-miss"), "{rejects:?}");
    let r = p.report();
    assert_eq!(r["rows"]["rejected"], 2);
    assert_eq!(r["rows"]["accepted"], 2);
    assert_eq!(r["issues"]["by_code"]["lookup-miss"]["errors"], 2);
}

#[test]
fn lookup_with_a_multi_column_key() {
    let p = Project::new();
    p.file(
        "mapping.toml",
        r#"[source]
path = "data.csv"
structure = "s"

[structures.s.fields]
reg = { column = "Region" }
code = { column = "Sku" }

[lookups.prices]
path = "prices.csv"
key = ["region", "sku"]

[[enrich]]
lookup = "prices"
match = { reg = "region", code = "sku" }
add = { price = "price", note = "note" }

[targets.t]
path = "t.csv"
"#,
    )
    .file(
        "prices.csv",
        "region,sku,price,note\nEU,A,1,\nEU,B,2,b\nUS,A,3,c\n",
    )
    .file("data.csv", "Region,Sku\nEU,A\nUS,A\nUS,B\n,A\nEU,B\n");
    let res = run(&p, &[]);
    assert_eq!(res.code, 1, "{}", res.stderr);
    // A null key part is not looked up: the row passes with null added fields.
    assert_eq!(
        text(&p, "out/t.csv"),
        "reg,code,price,note\nEU,A,1,\nUS,A,3,c\n,A,,\nEU,B,2,b\n"
    );
    let errors = p.errors();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["row"], "4");
    assert_eq!(errors[0]["code"], "lookup-miss");
    assert_eq!(errors[0]["field"], "reg");
    assert_eq!(errors[0]["value"], "US | B");
    assert!(
        errors[0]["message"].contains("`US` + `B` is not in lookup `prices`"),
        "{}",
        errors[0]["message"]
    );
}

#[test]
fn on_miss_null_and_default() {
    let p = Project::new();
    p.file(
        "mapping.toml",
        r#"[source]
path = "data.csv"

[lookups.colors]
path = "colors.csv"
key = "name"

[lookups.sizes]
path = "sizes.csv"
key = "size"

[[enrich]]
lookup = "colors"
match = { color = "name" }
add = { code = "code" }
on_miss = "null"

[[enrich]]
lookup = "sizes"
match = { size = "size" }
add = { label = "label", rank = "rank" }
on_miss = "default"
default = { label = "Unknown", rank = "99" }

[targets.t]
path = "t.ndjson"
"#,
    )
    .file("colors.csv", "name,code\nRed,R\n")
    .file("sizes.csv", "size,label,rank\nS,Small,1\n")
    .file("data.csv", "color,size\nRed,S\nBlue,XL\nRed,\n");
    let res = run(&p, &[]);
    assert_eq!(res.code, 0, "{}", res.stderr);
    assert_eq!(
        text(&p, "out/t.ndjson"),
        concat!(
            r#"{"color":"Red","size":"S","code":"R","label":"Small","rank":"1"}"#,
            "\n",
            r#"{"color":"Blue","size":"XL","code":null,"label":"Unknown","rank":"99"}"#,
            "\n",
            r#"{"color":"Red","size":null,"code":"R","label":null,"rank":null}"#,
            "\n",
        )
    );
    assert!(p.errors().is_empty());
}

#[test]
fn enrich_steps_chain() {
    let p = Project::new();
    p.file(
        "mapping.toml",
        r#"[source]
path = "data.csv"

[lookups.brands]
path = "brands.csv"
key = "name"

[lookups.owners]
path = "owners.csv"
key = "brand"

[[enrich]]
lookup = "brands"
match = { brand = "name" }
add = { brand_id = "id" }

[[enrich]]
lookup = "owners"
match = { brand_id = "brand" }
add = { owner = "owner" }

[targets.t]
path = "t.csv"
columns.sku = "sku"
columns.brand_id = "brand_id"
columns.owner = "owner"
"#,
    )
    .file("brands.csv", "name,id\nAcme,A1\nGlobex,G2\n")
    .file("owners.csv", "brand,owner\nA1,Ann\n")
    .file("data.csv", "sku,brand\n1,Acme\n2,Globex\n");
    let res = run(&p, &[]);
    assert_eq!(res.code, 1, "{}", res.stderr);
    assert_eq!(text(&p, "out/t.csv"), "sku,brand_id,owner\n1,A1,Ann\n");
    let errors = p.errors();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["field"], "brand_id");
    assert_eq!(errors[0]["value"], "G2");
    assert_eq!(errors[0]["code"], "lookup-miss");
}

#[test]
fn duplicate_lookup_key_stops_the_run() {
    let p = Project::new();
    p.file(
        "mapping.toml",
        BRANDS_MAPPING.replace("OPTIONS", "ignore_case = true"),
    )
    .file("brands.csv", "name,id\nAcme,A1\nGlobex,G2\nACME,A3\n")
    .file("data.csv", "sku,Brand\n1,Acme\n");
    let res = run(&p, &[]);
    assert_eq!(res.code, 2);
    assert!(res.stderr.contains("lookup `brands`"), "{}", res.stderr);
    assert!(res.stderr.contains("rows 2 and 4"), "{}", res.stderr);
    assert!(!p.path().join("out/t.csv").exists());
    // Case-sensitive, the same file has no duplicate.
    let res = run(&p, &["--set", "lookups.brands.ignore_case=false"]);
    assert_eq!(res.code, 0, "{}", res.stderr);
    assert_eq!(text(&p, "out/t.csv"), "sku,brand_id\n1,A1\n");
}

#[test]
fn a_missing_lookup_column_is_a_diagnostic() {
    let p = Project::new();
    let mapping = BRANDS_MAPPING
        .replace("OPTIONS", "")
        .replace("brand_id = \"id\"", "brand_id = \"ident\"");
    p.file("mapping.toml", &mapping)
        .file("brands.csv", "name,id\nAcme,A1\n")
        .file("data.csv", "sku,Brand\n1,Acme\n");
    let res = run(&p, &[]);
    assert_eq!(res.code, 2);
    assert!(
        res.stderr.contains("lookup `brands` has no column `ident`"),
        "{}",
        res.stderr
    );
    assert!(res.stderr.contains("did you mean `id`?"), "{}", res.stderr);
    assert!(res.stderr.contains("mapping.toml:"), "{}", res.stderr);
    assert!(!p.path().join("out").exists());

    // A key column the lookup file lacks.
    let mapping = BRANDS_MAPPING
        .replace("OPTIONS", "")
        .replace("key = \"name\"", "key = \"nmae\"")
        .replace("brand = \"name\"", "brand = \"nmae\"");
    p.file("mapping.toml", &mapping);
    let res = run(&p, &[]);
    assert_eq!(res.code, 2);
    assert!(
        res.stderr.contains("lookup `brands` has no column `nmae`"),
        "{}",
        res.stderr
    );
    assert!(
        res.stderr.contains("did you mean `name`?"),
        "{}",
        res.stderr
    );
    assert!(
        res.stderr.contains(&at(&mapping, "[lookups.brands]")),
        "{}",
        res.stderr
    );
}

// ---------------------------------------------------------------------------------------------
// 3. Routing
// ---------------------------------------------------------------------------------------------

fn routing_mapping(unrouted: &str) -> String {
    format!(
        r#"[source]
path = "data.csv"
structure = "s"

[structures.s.fields]
n = {{ type = "integer" }}
name = {{}}

[targets.big]
path = "big.csv"
when = "n > 1"
columns.name = "name"

[targets.small]
path = "small.csv"
when = "n < 3"
columns.name = "name"

[run]
unrouted = "{unrouted}"
"#
    )
}

const ROUTING_DATA: &str = "n,name\n1,a\n2,b\n3,c\n,d\n";

#[test]
fn rows_fan_out_and_a_null_when_does_not_take_them() {
    let p = Project::new();
    p.file("mapping.toml", routing_mapping("count"))
        .file("data.csv", ROUTING_DATA);
    let res = run(&p, &[]);
    assert_eq!(res.code, 0, "{}", res.stderr);
    assert_eq!(text(&p, "out/big.csv"), "name\nb\nc\n");
    assert_eq!(text(&p, "out/small.csv"), "name\na\nb\n");
    let r = p.report();
    assert_eq!(r["rows"]["accepted"], 4);
    assert_eq!(r["rows"]["routed"], 3);
    assert_eq!(r["rows"]["unrouted"], 1);
    assert_eq!(r["conservation"]["holds"], true);
    assert_eq!(
        r["conservation"]["routing"],
        "4 accepted = 3 routed to a target + 1 unrouted"
    );
    assert_eq!(report_target(&r, "big")["rows"], 2);
    assert_eq!(report_target(&r, "small")["rows"], 2);
    assert!(p.errors().is_empty(), "count writes no issue");
}

#[test]
fn unrouted_warn_keeps_the_row_with_a_warning() {
    let p = Project::new();
    p.file("mapping.toml", routing_mapping("warn"))
        .file("data.csv", ROUTING_DATA);
    let res = run(&p, &[]);
    assert_eq!(res.code, 0, "{}", res.stderr);
    let r = p.report();
    assert_eq!(r["rows"]["accepted"], 4);
    assert_eq!(r["rows"]["rejected"], 0);
    assert_eq!(r["rows"]["routed"], 3);
    assert_eq!(r["rows"]["unrouted"], 1);
    assert_eq!(r["conservation"]["holds"], true);
    let errors = p.errors();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["row"], "5");
    assert_eq!(errors[0]["stage"], "route");
    assert_eq!(errors[0]["code"], "unrouted");
    assert_eq!(errors[0]["severity"], "warning");
}

#[test]
fn unrouted_reject_rejects_the_row() {
    let p = Project::new();
    p.file("mapping.toml", routing_mapping("reject"))
        .file("data.csv", ROUTING_DATA);
    let res = run(&p, &[]);
    assert_eq!(res.code, 1, "{}", res.stderr);
    let r = p.report();
    assert_eq!(r["rows"]["read"], 4);
    assert_eq!(r["rows"]["accepted"], 3);
    assert_eq!(r["rows"]["rejected"], 1);
    assert_eq!(r["rows"]["routed"], 3);
    assert_eq!(r["rows"]["unrouted"], 0);
    assert_eq!(r["conservation"]["holds"], true);
    let errors = p.errors();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["stage"], "route");
    assert_eq!(errors[0]["code"], "unrouted");
    assert_eq!(errors[0]["severity"], "error");
    let rejects = read_csv(&p.path().join("out/_report/rejects.csv"), b',');
    assert_eq!(rejects.len(), 1);
    assert_eq!(rejects[0]["name"], "d");
    assert_eq!(rejects[0]["_row"], "5");
    assert_eq!(text(&p, "out/big.csv"), "name\nb\nc\n");
}

#[test]
fn nothing_routed_anywhere_exits_2() {
    let p = Project::new();
    p.file(
        "mapping.toml",
        routing_mapping("count")
            .replace("n > 1", "n > 100")
            .replace("n < 3", "n < 0"),
    )
    .file("data.csv", ROUTING_DATA);
    let res = run(&p, &[]);
    assert_eq!(res.code, 2, "{}", res.stderr);
    assert!(res.stderr.contains("no row was written"), "{}", res.stderr);
    let r = p.report();
    assert_eq!(r["rows"]["unrouted"], 4);
    // Nothing written is a failed run: only the report is committed, no (empty) target.
    assert!(!p.path().join("out/big.csv").exists());
    assert!(!p.path().join("out/small.csv").exists());
}

// ---------------------------------------------------------------------------------------------
// 4. Formats
// ---------------------------------------------------------------------------------------------

#[test]
fn csv_options_delimiter_quotes_crlf_bom() {
    let p = Project::new();
    p.file(
        "mapping.toml",
        r#"[source]
path = "data.csv"

[targets.full]
path = "full.csv"
delimiter = ";"
quote_style = "always"
line_ending = "crlf"
bom = true

[targets.bare]
path = "bare.csv"
header = false

[targets.nonnum]
path = "nonnum.csv"
quote_style = "non_numeric"
when = "b IS NOT NULL"

[targets.tabs]
path = "tabs.tsv"
"#,
    )
    .file("data.csv", "a,b\n1,x y\n2,\n3,\"p;q\"\n");
    let res = run(&p, &[]);
    assert_eq!(res.code, 0, "{}", res.stderr);
    let full = std::fs::read(p.path().join("out/full.csv")).unwrap();
    assert_eq!(&full[..3], &[0xEF, 0xBB, 0xBF]);
    assert_eq!(
        String::from_utf8(full[3..].to_vec()).unwrap(),
        "\"a\";\"b\"\r\n\"1\";\"x y\"\r\n\"2\";\"\"\r\n\"3\";\"p;q\"\r\n"
    );
    assert_eq!(text(&p, "out/bare.csv"), "1,x y\n2,\n3,p;q\n");
    assert_eq!(
        text(&p, "out/nonnum.csv"),
        "\"a\",\"b\"\n1,\"x y\"\n3,\"p;q\"\n"
    );
    assert_eq!(text(&p, "out/tabs.tsv"), "a\tb\n1\tx y\n2\t\n3\tp;q\n");
    let r = p.report();
    assert_eq!(report_target(&r, "tabs")["format"], "tsv");
    assert_eq!(report_target(&r, "full")["format"], "csv");
}

const TYPED_MAPPING: &str = r#"[source]
path = "data.csv"
structure = "s"

[structures.s.fields]
id = { type = "integer" }
price = { type = "decimal", scale = 2 }
ratio = { type = "decimal" }
ok = { type = "boolean" }
day = { type = "date", format = "%d/%m/%Y" }
note = {}

[targets.api]
path = "api.json"
columns."item.id" = "id"
columns."item.price" = "price"
columns."item.ratio" = "ratio"
columns.ok = "ok"
columns."item.day" = "day"
columns.note = "note"

[targets.lines]
path = "lines.ndjson"
columns."item.id" = "id"
columns."item.price" = "price"
columns."item.ratio" = "ratio"
columns.ok = "ok"
columns."item.day" = "day"
columns.note = "note"

[targets.flat]
path = "flat.csv"

[targets.none]
path = "none.json"
when = "id > 100"
"#;

const TYPED_DATA: &str =
    "id,price,ratio,ok,day,note\n1,13,12.50,yes,31/01/2024,\"say \"\"hi\"\"\"\n2,0.5,,no,,\n";

#[test]
fn json_nests_dotted_names_and_keeps_types() {
    let p = Project::new();
    p.file("mapping.toml", TYPED_MAPPING)
        .file("data.csv", TYPED_DATA);
    let res = run(&p, &[]);
    assert_eq!(res.code, 0, "{}", res.stderr);
    let first = r#"{"item":{"id":1,"price":13.00,"ratio":12.5,"day":"2024-01-31"},"ok":true,"note":"say \"hi\""}"#;
    let second = r#"{"item":{"id":2,"price":0.50,"ratio":null,"day":null},"ok":false,"note":null}"#;
    assert_eq!(
        text(&p, "out/api.json"),
        format!("[\n{first},\n{second}\n]\n")
    );
    assert_eq!(text(&p, "out/lines.ndjson"), format!("{first}\n{second}\n"));
    // Parsed back, the types hold.
    let v: serde_json::Value = serde_json::from_str(&text(&p, "out/api.json")).unwrap();
    assert_eq!(v[0]["item"]["id"], 1);
    assert_eq!(v[0]["ok"], true);
    assert!(v[1]["item"]["day"].is_null());
    // An empty JSON target is an empty array.
    assert_eq!(text(&p, "out/none.json"), "[]\n");
}

#[test]
fn csv_values_are_canonical() {
    let p = Project::new();
    p.file("mapping.toml", TYPED_MAPPING)
        .file("data.csv", TYPED_DATA);
    assert_eq!(run(&p, &[]).code, 0);
    assert_eq!(
        text(&p, "out/flat.csv"),
        "id,price,ratio,ok,day,note\n1,13.00,12.5,true,2024-01-31,\"say \"\"hi\"\"\"\n2,0.50,,false,,\n"
    );
}

#[test]
fn passthrough_keeps_every_field_and_replaces_or_adds_columns() {
    let p = Project::new();
    p.file(
        "mapping.toml",
        r#"[source]
path = "data.csv"
structure = "s"

[structures.s.fields]
sku = { column = "SKU" }
qty = { column = "Qty", type = "integer" }

[lookups.brands]
path = "brands.csv"
key = "name"

[[enrich]]
lookup = "brands"
match = { brand = "name" }
add = { brand_id = "id" }

[targets.all]
path = "all.csv"
passthrough = true
columns.sku = "lower(sku)"
columns.tag = "'new'"

[targets.plain]
path = "plain.csv"
"#,
    )
    .file("brands.csv", "name,id\nAcme,B1\n")
    .file(
        "data.csv",
        "note,SKU,brand,Qty\nhello,AB-1,Acme,007\n,AB-2,Acme,3\n",
    );
    let res = run(&p, &[]);
    assert_eq!(res.code, 0, "{}", res.stderr);
    // Declared fields (typed), then the other input columns, then enriched fields.
    assert_eq!(
        text(&p, "out/all.csv"),
        "sku,qty,note,brand,brand_id,tag\nab-1,7,hello,Acme,B1,new\nab-2,3,,Acme,B1,new\n"
    );
    assert_eq!(
        text(&p, "out/plain.csv"),
        "sku,qty,note,brand,brand_id\nAB-1,7,hello,Acme,B1\nAB-2,3,,Acme,B1\n"
    );
}

#[test]
fn a_source_without_structure_passes_every_column_through() {
    let p = Project::new();
    p.file(
        "mapping.toml",
        "[source]\npath = \"data.csv\"\n[targets.all]\npath = \"all.ndjson\"\n[targets.copy]\npath = \"copy.csv\"\n",
    )
    .file("data.csv", "a,b,c\n1,,x\n,y,\n,,\n");
    let res = run(&p, &[]);
    assert_eq!(res.code, 0, "{}", res.stderr);
    assert_eq!(
        text(&p, "out/all.ndjson"),
        "{\"a\":\"1\",\"b\":null,\"c\":\"x\"}\n{\"a\":null,\"b\":\"y\",\"c\":null}\n"
    );
    assert_eq!(text(&p, "out/copy.csv"), "a,b,c\n1,,x\n,y,\n");
    let r = p.report();
    assert_eq!(r["rows"]["skipped"], 1);
    assert_eq!(r["rows"]["accepted"], 2);
}

// ---------------------------------------------------------------------------------------------
// 5. Partitions
// ---------------------------------------------------------------------------------------------

#[test]
fn partition_values_become_safe_distinct_file_names() {
    let p = Project::new();
    p.file(
        "mapping.toml",
        "[source]\npath = \"data.csv\"\n[targets.parts]\npath = \"parts/{v}.csv\"\ncolumns.v = \"v\"\ncolumns.i = \"i\"\n",
    )
    .file(
        "data.csv",
        "v,i\n../x,1\na/b,2\na_b,3\n.hidden,4\n,5\nLyon,6\nLYON,7\na/b,8\n_empty,9\n..,10\n\"q?:*<>|\"\"\\\",11\n",
    );
    let res = run(&p, &[]);
    assert_eq!(res.code, 0, "{}", res.stderr);
    let out = p.path().join("out");
    let all = snapshot(&out);
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
    check_report_files(&out);
}

#[test]
fn long_partition_values_are_cut_and_still_distinct() {
    let p = Project::new();
    p.file(
        "mapping.toml",
        "[source]\npath = \"data.csv\"\n[targets.t]\npath = \"t/{g}.csv\"\ncolumns.i = \"i\"\n",
    )
    .file(
        "data.csv",
        format!(
            "g,i\n{a}1,1\n{a}2,2\n{e},3\n",
            a = "x".repeat(300),
            e = "é".repeat(200)
        ),
    );
    let res = run(&p, &[]);
    assert_eq!(res.code, 0, "{}", res.stderr);
    let files = targets_only(&snapshot(&p.path().join("out")));
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
    let p = Project::new();
    p.file(
        "mapping.toml",
        "[source]\npath = \"data.csv\"\n[targets.t]\npath = \"t/{g}-{batch}.csv\"\nbatch_size = 2\nwhen = \"g <> 'f'\"\ncolumns.i = \"i\"\n",
    );
    // Filler rows push the last `Lyon` into a second chunk (chunks are 65,536 rows).
    let mut data = String::from("g,i\nLyon,1\nLyon,2\nLYON,3\nLYON,4\nLYON,5\n");
    for i in 6..70_006 {
        data.push_str(&format!("f,{i}\n"));
    }
    data.push_str("Lyon,70006\n");
    p.file("data.csv", data);
    let res = run(&p, &[]);
    assert_eq!(res.code, 0, "{}", res.stderr);
    let files: BTreeMap<String, String> = targets_only(&snapshot(&p.path().join("out")))
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
    let p = Project::new();
    p.file(
        "mapping.toml",
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
    .file(
        "data.csv",
        "day,brand\n31/01/2024,Acme\n01/02/2024,Glob\n01/02/2024,Acme\n31/01/2024,Acme\n",
    );
    let res = run(&p, &[]);
    assert_eq!(res.code, 0, "{}", res.stderr);
    let a = std::fs::read(p.path().join("out/a.csv")).unwrap();
    assert_eq!(
        a,
        "\u{feff}day,brand,country\n2024-01-31,Acme,FR\n2024-02-01,Glob,DE\n2024-02-01,Acme,FR\n2024-01-31,Acme,FR\n".as_bytes()
    );
    assert_eq!(
        text(&p, "out/j.json"),
        "[\n{\"d\":\"2024-01-31\"},\n{\"d\":\"2024-02-01\"},\n{\"d\":\"2024-02-01\"},\n{\"d\":\"2024-01-31\"}\n]\n"
    );
    assert_eq!(text(&p, "out/p/FR/2024-01-31.csv"), "brand\nAcme\nAcme\n");
    assert_eq!(text(&p, "out/p/FR/2024-02-01.csv"), "brand\nAcme\n");
    assert!(!p.path().join("out/p/DE").exists());
    check_report_files(&p.path().join("out"));
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
    let p = Project::new();
    p.file(
        "mapping.toml",
        "[source]\npath = \"data.csv\"\n[targets.c]\npath = \"csv/{k}.csv\"\n[targets.j]\npath = \"json/{k}.json\"\n[run]\nmax_open_files = 8\n",
    )
    // 3000 × 25 = 75,000 rows: two chunks, so every file is closed and reopened for appending.
    .file("data.csv", interleaved(3000, 25));
    let res = run(&p, &[]);
    assert_eq!(res.code, 0, "{}", res.stderr);
    let out = p.path().join("out");
    check_partitions(&out, 3000, 25, true);
    let r = p.report();
    assert_eq!(
        report_target(&r, "c")["files"].as_array().unwrap().len(),
        3000
    );
    assert_eq!(report_target(&r, "j")["rows"], 75_000);
    check_report_files(&out);
}

#[test]
fn partitions_survive_a_low_os_file_limit() {
    let p = Project::new();
    p.file(
        "mapping.toml",
        "[source]\npath = \"data.csv\"\n[targets.c]\npath = \"csv/{k}.csv\"\n",
    )
    .file("data.csv", interleaved(3000, 2));
    // Default max_open_files (64) is above what the OS allows here: the sink must adapt.
    let out = Command::new("sh")
        .arg("-c")
        .arg("ulimit -n 40 && exec \"$0\" run mapping.toml --out out --quiet")
        .arg(bin())
        .current_dir(p.path())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    check_partitions(&p.path().join("out"), 3000, 2, false);
    check_report_files(&p.path().join("out"));
}

// ---------------------------------------------------------------------------------------------
// 6. Batches
// ---------------------------------------------------------------------------------------------

#[test]
fn batch_size_rolls_numbered_files() {
    let p = Project::new();
    p.file(
        "mapping.toml",
        "[source]\npath = \"data.csv\"\n[targets.j]\npath = \"j/part-{batch}.json\"\nbatch_size = 2\n[targets.c]\npath = \"c/part-{batch}.csv\"\nbatch_size = 2\n",
    )
    .file("data.csv", "n\n1\n2\n3\n4\n5\n");
    let res = run(&p, &[]);
    assert_eq!(res.code, 0, "{}", res.stderr);
    assert_eq!(
        text(&p, "out/j/part-0001.json"),
        "[\n{\"n\":\"1\"},\n{\"n\":\"2\"}\n]\n"
    );
    assert_eq!(
        text(&p, "out/j/part-0002.json"),
        "[\n{\"n\":\"3\"},\n{\"n\":\"4\"}\n]\n"
    );
    assert_eq!(text(&p, "out/j/part-0003.json"), "[\n{\"n\":\"5\"}\n]\n");
    assert_eq!(text(&p, "out/c/part-0001.csv"), "n\n1\n2\n");
    assert_eq!(text(&p, "out/c/part-0002.csv"), "n\n3\n4\n");
    assert_eq!(text(&p, "out/c/part-0003.csv"), "n\n5\n");
    let all = targets_only(&snapshot(&p.path().join("out")));
    assert_eq!(all.len(), 6, "{:?}", names(&all));
    let r = p.report();
    let rows: Vec<u64> = report_target(&r, "j")["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rows"].as_u64().unwrap())
        .collect();
    assert_eq!(rows, vec![2, 2, 1]);
    check_report_files(&p.path().join("out"));
}

#[test]
fn batches_within_partitions() {
    let p = Project::new();
    p.file(
        "mapping.toml",
        "[source]\npath = \"data.csv\"\n[targets.r]\npath = \"r/{g}/part-{batch}.csv\"\nbatch_size = 2\ncolumns.i = \"i\"\n",
    )
    .file("data.csv", "g,i\nA,1\nA,2\nB,3\nA,4\nA,5\nB,6\nA,7\n");
    let res = run(&p, &[]);
    assert_eq!(res.code, 0, "{}", res.stderr);
    let all = targets_only(&snapshot(&p.path().join("out")));
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
    check_report_files(&p.path().join("out"));
}

// ---------------------------------------------------------------------------------------------
// 7. Atomic outputs
// ---------------------------------------------------------------------------------------------

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
    let p = Project::new();
    p.file("mapping.toml", ATOMIC_MAPPING)
        .file("data.csv", "g,n\nA,1\nB,2\n");
    assert_eq!(run(&p, &[]).code, 0);
    let out = p.path().join("out");
    let before = targets_only(&snapshot(&out));
    assert_eq!(names(&before), vec!["all.json", "t/A.csv", "t/B.csv"]);

    p.file("data.csv", "g,n\nC,1\nA,x\nA,y\nA,z\nD,4\n");
    let res = run(&p, &[]);
    assert_eq!(res.code, 2, "{}", res.stderr);
    assert!(res.stderr.contains("max_errors = 1"), "{}", res.stderr);
    assert_eq!(targets_only(&snapshot(&out)), before, "targets untouched");
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
    let p = Project::new();
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
    p.file("mapping.toml", mapping)
        .file("data.csv", rows(false));
    let r = run(&p, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = p.path().join("out");
    let before = targets_only(&snapshot(&out));
    assert_eq!(
        names(&before),
        vec![
            "all/all.csv".to_string(),
            format!("p/a-{tail}.csv"),
            format!("p/b-{tail}.csv"),
            format!("p/c-{tail}.csv")
        ]
    );

    p.file("data.csv", rows(true));
    let r = run(&p, &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!("p/{}-", "x".repeat(100))) && r.stderr.contains("cannot write"),
        "{}",
        r.stderr
    );
    // A failed run leaves nothing behind: no staging folder, the previous targets as they were.
    let after = targets_only(&snapshot(&out));
    assert_eq!(names(&after), names(&before));
    assert!(after == before, "the previous targets are byte-identical");
    assert!(!out.join(".rowferry-staging").exists());
    p.file("data.csv", "id,name\n1,a\n");
    let r = run(&p, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(text(&p, &format!("out/p/a-{tail}.csv")), "id,name\n1,a\n");
}

#[test]
fn a_later_run_removes_stale_files() {
    let p = Project::new();
    p.file("mapping.toml", ATOMIC_MAPPING)
        .file("data.csv", "g,n\nA,1\nB,2\n");
    assert_eq!(run(&p, &[]).code, 0);
    p.file("data.csv", "g,n\nA,3\n");
    assert_eq!(run(&p, &[]).code, 0);
    let all = snapshot(&p.path().join("out"));
    assert_eq!(
        names(&targets_only(&all)),
        vec!["all.json", "t/A.csv"],
        "t/B.csv is gone"
    );
    assert_eq!(text(&p, "out/t/A.csv"), "g,n\nA,3\n");
    assert!(!p.path().join("out/t/B.csv").exists());
}

#[test]
fn a_run_that_writes_nothing_keeps_the_previous_targets() {
    // Exit 2 ("no row was written to any target") is a failed run: like a stopped run, it must
    // not replace the previous good outputs with empty files.
    let p = Project::new();
    p.file(
        "mapping.toml",
        ATOMIC_MAPPING.replace("max_errors = 1", "max_errors = 100"),
    )
    .file("data.csv", "g,n\nA,1\nB,2\n");
    assert_eq!(run(&p, &[]).code, 0);
    let out = p.path().join("out");
    let before = targets_only(&snapshot(&out));
    p.file("data.csv", "g,n\nA,x\nB,y\n");
    let res = run(&p, &[]);
    assert_eq!(res.code, 2, "{}", res.stderr);
    assert!(res.stderr.contains("no row was written"), "{}", res.stderr);
    assert_eq!(
        p.report()["rows"]["rejected"],
        2,
        "the report is this run's"
    );
    assert_eq!(
        targets_only(&snapshot(&out)),
        before,
        "the previous targets are byte-identical"
    );
}

#[test]
fn limit_reads_only_the_first_rows() {
    let p = Project::new();
    p.file("mapping.toml", ATOMIC_MAPPING)
        .file("data.csv", "g,n\nA,1\nB,2\nA,3\n");
    let res = run(&p, &["--limit", "2"]);
    assert_eq!(res.code, 0, "{}", res.stderr);
    assert_eq!(
        names(&targets_only(&snapshot(&p.path().join("out")))),
        vec!["all.json", "t/A.csv", "t/B.csv"]
    );
    assert_eq!(text(&p, "out/t/A.csv"), "g,n\nA,1\n");
    assert_eq!(p.report()["rows"]["read"], 2);
}

#[test]
fn a_killed_run_leaves_the_previous_outputs() {
    let p = Project::new();
    p.file("mapping.toml", ATOMIC_MAPPING)
        .file("data.csv", "g,n\nA,1\nB,2\n");
    assert_eq!(run(&p, &[]).code, 0);
    let out = p.path().join("out");
    let before = snapshot(&out);

    let mut big = String::from("g,n\n");
    for i in 0..400_000 {
        big.push_str(&format!("{},{i}\n", ["A", "B", "C", "D", "E"][i % 5]));
    }
    p.file("big.csv", big);
    let mut child = Command::new(bin())
        .args([
            "run",
            "mapping.toml",
            "--out",
            "out",
            "--quiet",
            "--input",
            "big.csv",
        ])
        .current_dir(p.path())
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
    let mut after = snapshot(&out);
    after.retain(|k, _| !k.starts_with(".rowferry-"));
    assert_eq!(names(&after), names(&before));
    assert_eq!(after, before, "the previous outputs are byte-identical");

    // The next run cleans up and replaces everything.
    p.file("data.csv", "g,n\nB,7\n");
    let res = run(&p, &[]);
    assert_eq!(res.code, 0, "{}", res.stderr);
    assert!(!staging.exists());
    assert!(!out.join(".rowferry-previous").exists());
    assert!(!out.join(".rowferry-commit").exists());
    assert_eq!(
        names(&targets_only(&snapshot(&out))),
        vec!["all.json", "t/B.csv"]
    );
    assert_eq!(text(&p, "out/t/B.csv"), "g,n\nB,7\n");
    assert_eq!(p.report()["rows"]["read"], 1);
}

#[test]
fn an_output_folder_with_other_files_keeps_them() {
    let p = Project::new();
    p.file("mapping.toml", ATOMIC_MAPPING)
        .file("data.csv", "g,n\nA,1\n")
        .file("out/precious.txt", "keep me");
    let res = run(&p, &[]);
    assert_eq!(res.code, 0, "{}", res.stderr);
    assert_eq!(
        names(&snapshot(&p.path().join("out"))),
        vec![
            "_report/errors.csv",
            "_report/rejects.csv",
            "_report/report.json",
            "all.json",
            "precious.txt",
            "t/A.csv"
        ]
    );
    assert_eq!(text(&p, "out/precious.txt"), "keep me");
    assert!(!p.path().join("out/.rowferry-staging").exists());
    // An existing empty folder is fine.
    std::fs::create_dir_all(p.path().join("empty")).unwrap();
    let res = p.run(&["run", "mapping.toml", "--out", "empty", "--quiet"]);
    assert_eq!(res.code, 0, "{}", res.stderr);
    assert_eq!(text(&p, "empty/t/A.csv"), "g,n\nA,1\n");
}

// ---------------------------------------------------------------------------------------------
// 8. validate and --dry-run
// ---------------------------------------------------------------------------------------------

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
        let p = Project::new();
        p.file("mapping.toml", routing_mapping("count"))
            .file("data.csv", ROUTING_DATA);
        let res = p.run(&args);
        assert_eq!(res.code, 0, "{args:?}: {}", res.stderr);
        assert_eq!(
            names(&snapshot(&p.path().join("out"))),
            vec![
                "_report/errors.csv",
                "_report/rejects.csv",
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
    let p = Project::new();
    p.file("mapping.toml", routing_mapping("count"))
        .file("data.csv", ROUTING_DATA);
    assert_eq!(run(&p, &[]).code, 0);
    let before = targets_only(&snapshot(&p.path().join("out")));
    p.file("data.csv", "n,name\n1,z\n");
    assert_eq!(p.validate().code, 0);
    assert_eq!(targets_only(&snapshot(&p.path().join("out"))), before);
    assert_eq!(p.report()["rows"]["read"], 1);
}

// ---------------------------------------------------------------------------------------------
// 9. ${VAR} and --set
// ---------------------------------------------------------------------------------------------

#[test]
fn environment_variables_and_defaults() {
    let p = Project::new();
    p.file(
        "mapping.toml",
        "[source]\npath = \"${RF_TEST_DIR}/data.csv\"\ndelimiter = \"${RF_TEST_DELIM:-;}\"\n\n[targets.t]\npath = \"${RF_TEST_NAME:-default}.csv\"\nwhen = \"k <> '${RF_TEST_SKIP}'\"\n",
    )
    .file("in/data.csv", "k;v\na;1\nb;2\n");
    let res = rowferry_env(
        p.path(),
        &["run", "mapping.toml", "--out", "out", "--quiet"],
        &[("RF_TEST_DIR", "in"), ("RF_TEST_SKIP", "b")],
        &["RF_TEST_DELIM", "RF_TEST_NAME"],
    );
    assert_eq!(res.code, 0, "{}", res.stderr);
    assert_eq!(text(&p, "out/default.csv"), "k,v\na,1\n");
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
    let res = rowferry_env(
        p.path(),
        &["run", "mapping.toml", "--out", "out", "--quiet"],
        &[
            ("RF_TEST_DIR", "in"),
            ("RF_TEST_SKIP", "a"),
            ("RF_TEST_NAME", "named"),
        ],
        &["RF_TEST_DELIM"],
    );
    assert_eq!(res.code, 0, "{}", res.stderr);
    assert_eq!(text(&p, "out/named.csv"), "k,v\nb,2\n");
    assert!(!p.path().join("out/default.csv").exists());
}

#[test]
fn an_unset_variable_is_a_diagnostic() {
    let p = Project::new();
    let mapping =
        "[source]\npath = \"data.csv\"\n\n[targets.t]\npath = \"${RF_TEST_MISSING}.csv\"\n";
    p.file("mapping.toml", mapping).file("data.csv", "k\na\n");
    let res = rowferry_env(
        p.path(),
        &["run", "mapping.toml", "--out", "out", "--quiet"],
        &[],
        &["RF_TEST_MISSING"],
    );
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
    assert!(!p.path().join("out").exists());
}

#[test]
fn set_overrides_a_lookup_path_and_a_threshold() {
    let p = Project::new();
    p.file(
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
    let res = p.run(&["run", "m/mapping.toml", "--out", "out", "--quiet"]);
    assert_eq!(res.code, 2, "{}", res.stderr);
    assert_eq!(p.report()["status"], "stopped");

    // The lookup path given on the command line is relative to the working directory.
    let res = p.run(&[
        "run",
        "m/mapping.toml",
        "--out",
        "out",
        "--quiet",
        "--set",
        "lookups.brands.path=other/brands.csv",
    ]);
    assert_eq!(res.code, 0, "{}", res.stderr);
    assert_eq!(text(&p, "out/t.csv"), "sku,brand_id\n1,O1\n2,O2\n");
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
    let res = p.run(&[
        "run",
        "m/mapping.toml",
        "--out",
        "out",
        "--quiet",
        "--set",
        "run.max_errors=5",
    ]);
    assert_eq!(res.code, 1, "{}", res.stderr);
    assert_eq!(text(&p, "out/t.csv"), "sku,brand_id\n1,M1\n");
    let r = p.report();
    assert_eq!(r["status"], "completed");
    assert_eq!(
        r["overrides"]["sets"],
        serde_json::json!(["run.max_errors=5"])
    );

    // Both at once, echoed in order.
    let res = p.run(&[
        "run",
        "m/mapping.toml",
        "--out",
        "out",
        "--quiet",
        "--set",
        "run.max_errors=5",
        "--set",
        "lookups.brands.path=other/brands.csv",
    ]);
    assert_eq!(res.code, 0, "{}", res.stderr);
    assert_eq!(
        p.report()["overrides"]["sets"],
        serde_json::json!(["run.max_errors=5", "lookups.brands.path=other/brands.csv"])
    );
}

// ---------------------------------------------------------------------------------------------
// 10. Plan diagnostics
// ---------------------------------------------------------------------------------------------

#[test]
fn unknown_names_are_reported_with_their_place_and_a_suggestion() {
    let p = Project::new();
    let mapping = r#"[source]
path = "data.csv"
delimiter = ","
structure = "s"

[structures.s.fields]
stock = { type = "integer" }
warehouse = {}

[lookups.w]
path = "w.csv"
key = "name"

[[enrich]]
lookup = "w"
match = { warehous = "name" }
add = { city = "city" }

[targets.t]
path = "t/{wharehouse}.csv"
when = "stok > 0"
columns.qty = "stocks"
columns.c = "citty"
columns.x = "extra"
"#;
    p.file("mapping.toml", mapping)
        .file("w.csv", "name,city\nA,Lyon\n")
        .file("data.csv", "stock,warehouse,extra\n1,A,e\n");
    let res = run(&p, &[]);
    assert_eq!(res.code, 2);
    for (name, suggestion, place) in [
        ("warehous", "warehouse", "\"name\" }"),
        ("wharehouse", "warehouse", "\"t/{wharehouse}.csv\""),
        ("stok", "stock", "\"stok > 0\""),
        ("stocks", "stock", "\"stocks\""),
        ("citty", "city", "\"citty\""),
    ] {
        assert!(
            res.stderr
                .contains(&format!("`{name}` is neither a field nor a column")),
            "{name}: {}",
            res.stderr
        );
        assert!(
            res.stderr
                .contains(&format!("did you mean `{suggestion}`?")),
            "{name}: {}",
            res.stderr
        );
        assert!(
            res.stderr.contains(&at(mapping, place)),
            "{name} at {}: {}",
            at(mapping, place),
            res.stderr
        );
    }
    // `extra` is an input column: not an error.
    assert!(!res.stderr.contains("`extra`"), "{}", res.stderr);
    assert!(res.stderr.contains("has 5 problems"), "{}", res.stderr);
    assert!(!p.path().join("out").exists());

    // `check` cannot know the input's columns: it accepts and notes them.
    let res = p.run(&["check", "mapping.toml"]);
    assert_eq!(res.code, 0, "{}", res.stderr);
    let note = res
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("note"))
        .unwrap_or_else(|| panic!("no note line: {}", res.stdout));
    for name in ["warehous", "wharehouse", "stok", "stocks", "citty", "extra"] {
        assert!(note.contains(&format!("`{name}`")), "{name}: {note}");
    }
}

#[test]
fn target_problems_are_all_reported_at_once() {
    let p = Project::new();
    let mapping = r#"[source]
path = "data.csv"

[targets.a]
path = "a.csv"
batch_size = 10

[targets.b]
path = "b-{batch}.csv"

[targets.c]
path = "../c.csv"

[targets.d]
path = "d.xml"

[targets.e]
path = "e.out"
format = "jsn"

[targets.f]
path = "f.json"
columns.a = "k"
columns."a.b" = "k"

[targets.g]
path = "g/../../g.csv"
"#;
    p.file("mapping.toml", mapping).file("data.csv", "k\n1\n");
    let expected = [
        (
            "`batch_size` rolls the target into numbered files: put `{batch}` in its path",
            "10\n",
        ),
        (
            "`{batch}` numbers files rolled by `batch_size`, which is not set",
            "\"b-{batch}.csv\"",
        ),
        (
            "target path `../c.csv` has an empty, `.` or `..` folder",
            "\"../c.csv\"",
        ),
        (
            "cannot tell the format of `d.xml` from its extension",
            "\"d.xml\"",
        ),
        ("`jsn` is not a target format", "\"jsn\""),
        (
            "column `a` is a value, but `a.b` makes it an object",
            "\"k\"\ncolumns.\"a.b\"",
        ),
        (
            "target path `g/../../g.csv` has an empty, `.` or `..` folder",
            "\"g/../../g.csv\"",
        ),
    ];
    for cmd in ["run", "check"] {
        let res = if cmd == "run" {
            run(&p, &[])
        } else {
            p.run(&["check", "mapping.toml"])
        };
        assert_eq!(res.code, 2, "{cmd}");
        for (message, place) in expected {
            assert!(
                res.stderr.contains(message),
                "{cmd} `{message}`: {}",
                res.stderr
            );
            assert!(
                res.stderr.contains(&at(mapping, place)),
                "{cmd} `{message}` at {}: {}",
                at(mapping, place),
                res.stderr
            );
        }
        assert!(
            res.stderr.contains("e.g. path = \"a-{batch}.csv\""),
            "{}",
            res.stderr
        );
        assert!(
            res.stderr.contains("did you mean `json`?"),
            "{}",
            res.stderr
        );
        assert!(
            res.stderr.contains("has 7 problems"),
            "{cmd}: {}",
            res.stderr
        );
    }
    assert!(!p.path().join("out").exists());
}

#[test]
fn a_multi_column_key_ignoring_case_and_spaces_with_defaults_on_a_miss() {
    let p = Project::new();
    p.file(
        "mapping.toml",
        r#"[source]
path = "data.csv"

[lookups.prices]
path = "prices.csv"
key = ["region", "sku"]
ignore_case = true
trim = true

[[enrich]]
lookup = "prices"
match = { Region = "region", Sku = "sku" }
add = { price = "price", tier = "tier" }
on_miss = "default"
default = { price = "0", tier = "none" }

[targets.t]
path = "t.csv"
"#,
    )
    .file(
        "prices.csv",
        "region,sku,price,tier\n Eu ,a-1,1,gold\nUS,A-1,3,\n",
    )
    .file("data.csv", "Region,Sku\neu,A-1 \nUS , a-1\nUS,B-2\n");
    let res = run(&p, &[]);
    assert_eq!(res.code, 0, "{}", res.stderr);
    // Each key part is matched without regard to case or surrounding spaces, on both sides; a
    // miss takes every declared default; a present but empty lookup value stays null.
    assert_eq!(
        text(&p, "out/t.csv"),
        "Region,Sku,price,tier\neu,A-1 ,1,gold\nUS , a-1,3,\nUS,B-2,0,none\n"
    );
    assert!(p.errors().is_empty());
}
