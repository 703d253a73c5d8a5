//! Lookups and `[[enrich]]`: keys (one column or several, ignoring case and spaces), misses
//! (`lookup-miss`, `on_miss`), chained steps and lookup problems — on real runs.

use crate::util::{Job, at};

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
    let p = Job::new()
        .mapping(BRANDS_MAPPING.replace(
            "OPTIONS",
            "ignore_case = true\ntrim = true\ndelimiter = \";\"",
        ))
        .file("brands.csv", "name;id\nAcme;A1\n  Globex ;G2\nInitech;I3\n")
        .input(
            "data.csv",
            "sku,Brand\n1,ACME\n2, globex\n3,\"initech  \"\n4,acme\n",
        );
    let res = p.run("run");
    assert_eq!(res.code, 0, "{}", res.stderr);
    assert_eq!(
        p.read("out/t.csv"),
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
    let p = Job::new()
        .mapping(BRANDS_MAPPING.replace("OPTIONS", ""))
        .file("brands.csv", "name,id\nAcme,A1\nGlobex,G2\n")
        .input("data.csv", "sku,Brand\n1,Acme\n2,ACME\n3,Globex\n4, Acme\n");
    let res = p.run("run");
    assert_eq!(res.code, 1, "{}", res.stderr);
    assert_eq!(p.read("out/t.csv"), "sku,brand_id\n1,A1\n3,G2\n");
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
    let rejects = p.rejects();
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
    let p = Job::new()
        .mapping(
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
        .input("data.csv", "Region,Sku\nEU,A\nUS,A\nUS,B\n,A\nEU,B\n");
    let res = p.run("run");
    assert_eq!(res.code, 1, "{}", res.stderr);
    // A null key part is not looked up: the row passes with null added fields.
    assert_eq!(
        p.read("out/t.csv"),
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
    let p = Job::new()
        .mapping(
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
        .input("data.csv", "color,size\nRed,S\nBlue,XL\nRed,\n");
    let res = p.run("run");
    assert_eq!(res.code, 0, "{}", res.stderr);
    assert_eq!(
        p.read("out/t.ndjson"),
        concat!(
            r#"{"color":"Red","size":"S","code":"R","label":"Small","rank":"1"}"#,
            "\n",
            r#"{"color":"Blue","size":"XL","code":null,"label":"Unknown","rank":"99"}"#,
            "\n",
            r#"{"color":"Red","size":null,"code":"R","label":"Unknown","rank":"99"}"#,
            "\n",
        )
    );
    assert!(p.errors().is_empty());
}

#[test]
fn enrich_steps_chain() {
    let p = Job::new()
        .mapping(
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
        .input("data.csv", "sku,brand\n1,Acme\n2,Globex\n");
    let res = p.run("run");
    assert_eq!(res.code, 1, "{}", res.stderr);
    assert_eq!(p.read("out/t.csv"), "sku,brand_id,owner\n1,A1,Ann\n");
    let errors = p.errors();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["field"], "brand_id");
    assert_eq!(errors[0]["value"], "G2");
    assert_eq!(errors[0]["code"], "lookup-miss");
}

#[test]
fn duplicate_lookup_key_stops_the_run() {
    let p = Job::new()
        .mapping(BRANDS_MAPPING.replace("OPTIONS", "ignore_case = true"))
        .file("brands.csv", "name,id\nAcme,A1\nGlobex,G2\nACME,A3\n")
        .input("data.csv", "sku,Brand\n1,Acme\n");
    let res = p.run("run");
    assert_eq!(res.code, 2);
    assert!(res.stderr.contains("lookup `brands`"), "{}", res.stderr);
    assert!(res.stderr.contains("rows 2 and 4"), "{}", res.stderr);
    assert!(!p.exists("out/t.csv"));
    // Case-sensitive, the same file has no duplicate.
    let res = p.run_with("run", &["--set", "lookups.brands.ignore_case=false"]);
    assert_eq!(res.code, 0, "{}", res.stderr);
    assert_eq!(p.read("out/t.csv"), "sku,brand_id\n1,A1\n");
}

#[test]
fn a_missing_lookup_column_is_a_diagnostic() {
    let mapping = BRANDS_MAPPING
        .replace("OPTIONS", "")
        .replace("brand_id = \"id\"", "brand_id = \"ident\"");
    let p = Job::new()
        .mapping(&mapping)
        .file("brands.csv", "name,id\nAcme,A1\n")
        .input("data.csv", "sku,Brand\n1,Acme\n");
    let res = p.run("run");
    assert_eq!(res.code, 2);
    assert!(
        res.stderr.contains("lookup `brands` has no column `ident`"),
        "{}",
        res.stderr
    );
    assert!(res.stderr.contains("did you mean `id`?"), "{}", res.stderr);
    assert!(res.stderr.contains("mapping.toml:"), "{}", res.stderr);
    assert!(!p.exists("out"));

    // A key column the lookup file lacks.
    let mapping = BRANDS_MAPPING
        .replace("OPTIONS", "")
        .replace("key = \"name\"", "key = \"nmae\"")
        .replace("brand = \"name\"", "brand = \"nmae\"");
    p.write("mapping.toml", &mapping);
    let res = p.run("run");
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

#[test]
fn a_multi_column_key_ignoring_case_and_spaces_with_defaults_on_a_miss() {
    let p = Job::new()
        .mapping(
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
        .input("data.csv", "Region,Sku\neu,A-1 \nUS , a-1\nUS,B-2\n");
    let res = p.run("run");
    assert_eq!(res.code, 0, "{}", res.stderr);
    // Each key part is matched without regard to case or surrounding spaces, on both sides; a
    // miss takes every declared default; a present but empty lookup value stays null.
    assert_eq!(
        p.read("out/t.csv"),
        "Region,Sku,price,tier\neu,A-1 ,1,gold\nUS , a-1,3,\nUS,B-2,0,none\n"
    );
    assert!(p.errors().is_empty());
}

const EXISTS_MAPPING: &str = r#"[source]
path = "data.csv"
delimiter = ","
structure = "s"

[structures.s.fields]
sku = {}
brand = { column = "Brand", exists_in = "brands" SEVERITY }

[lookups.brands]
path = "brands.csv"
key = "name"
ignore_case = true

[targets.t]
path = "t.csv"
"#;

#[test]
fn exists_in_rejects_a_value_missing_from_the_lookup_with_the_key_as_written() {
    let job = Job::new()
        .mapping(EXISTS_MAPPING.replace("SEVERITY", ""))
        .file("brands.csv", "name,id\nLacoste,L1\nAcme,A1\n")
        .input("data.csv", "sku,Brand\n1,ACME\n2,Lacost\n3,\n");
    let res = job.run("run");
    assert_eq!(res.code, 1, "{}", res.stderr);
    assert_eq!(
        res.error_codes(),
        vec![(3, "brand".to_string(), "not-in-lookup".to_string())]
    );
    let errors = res.errors();
    assert_eq!(errors[0]["column"], "Brand");
    assert_eq!(errors[0]["value"], "Lacost");
    assert!(
        errors[0]["message"].contains("did you mean `Lacoste`?"),
        "the suggestion as the lookup writes it: {}",
        errors[0]["message"]
    );
    // Nothing is added: the target has the input's columns only; an empty value is not checked.
    assert_eq!(job.read("out/t.csv"), "sku,brand\n1,ACME\n3,\n");
    // As a warning, the row is kept.
    let job = Job::new()
        .mapping(EXISTS_MAPPING.replace("SEVERITY", ", severity = { exists_in = \"warning\" }"))
        .file("brands.csv", "name,id\nLacoste,L1\n")
        .input("data.csv", "sku,Brand\n1,Nike\n");
    let res = job.run("run");
    assert_eq!(res.code, 0, "{}", res.stderr);
    assert_eq!(
        res.warning_codes(),
        vec![(2, "brand".to_string(), "not-in-lookup".to_string())]
    );
}

#[test]
fn exists_in_names_an_unknown_lookup_at_check() {
    let res = Job::new()
        .mapping(
            EXISTS_MAPPING
                .replace("SEVERITY", "")
                .replace("exists_in = \"brands\"", "exists_in = \"brand\""),
        )
        .file("brands.csv", "name,id\n")
        .input("data.csv", "sku,Brand\n")
        .run("check");
    assert_eq!(res.code, 2);
    assert!(
        res.stderr.contains("there is no lookup `brand`") && res.stderr.contains("brands"),
        "{}",
        res.stderr
    );
}

#[test]
fn a_null_key_takes_the_default_of_on_miss_default() {
    let job = Job::new()
        .mapping(BRANDS_MAPPING.replace("OPTIONS", "").replace(
            "add = { brand_id = \"id\" }",
            "add = { brand_id = \"id\" }\non_miss = \"default\"\ndefault = { brand_id = \"B00\" }",
        ))
        .file("brands.csv", "name,id\nAcme,A1\n")
        .input("data.csv", "sku,Brand\n1,Acme\n2,\n3,Nope\n");
    let res = job.run("run");
    assert_eq!(res.code, 0, "{}", res.stderr);
    assert_eq!(job.read("out/t.csv"), "sku,brand_id\n1,A1\n2,B00\n3,B00\n");
}
