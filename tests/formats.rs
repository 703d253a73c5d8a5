//! Target formats and values: CSV options, JSON and NDJSON nesting and types, canonical CSV
//! values, exact decimals, passthrough columns.

use crate::util::{Job, report_target};

#[test]
fn decimal_cents_are_exact() {
    let p = Job::new()
        .mapping(
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
        .input(
            "data.csv",
            "sku;price\nA;0,29\nB;19,99\nC;0,57\nD;1,15\nE;4,35\nF;1234567,89\nG;13\nH;\n",
        );
    let res = p.run("run");
    assert_eq!(res.code, 0, "{}", res.stderr);
    assert_eq!(
        p.read("out/prices.csv"),
        "sku,price_cents,price\nA,29,0.29\nB,1999,19.99\nC,57,0.57\nD,115,1.15\nE,435,4.35\nF,123456789,1234567.89\nG,1300,13.00\nH,,\n"
    );
}

#[test]
fn csv_options_delimiter_quotes_crlf_bom() {
    let p = Job::new()
        .mapping(
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
        .input("data.csv", "a,b\n1,x y\n2,\n3,\"p;q\"\n");
    let res = p.run("run");
    assert_eq!(res.code, 0, "{}", res.stderr);
    let full = p.bytes("out/full.csv");
    assert_eq!(&full[..3], &[0xEF, 0xBB, 0xBF]);
    assert_eq!(
        String::from_utf8(full[3..].to_vec()).unwrap(),
        "\"a\";\"b\"\r\n\"1\";\"x y\"\r\n\"2\";\"\"\r\n\"3\";\"p;q\"\r\n"
    );
    assert_eq!(p.read("out/bare.csv"), "1,x y\n2,\n3,p;q\n");
    assert_eq!(
        p.read("out/nonnum.csv"),
        "\"a\",\"b\"\n1,\"x y\"\n3,\"p;q\"\n"
    );
    assert_eq!(p.read("out/tabs.tsv"), "a\tb\n1\tx y\n2\t\n3\tp;q\n");
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
    let p = Job::new()
        .mapping(TYPED_MAPPING)
        .input("data.csv", TYPED_DATA);
    let res = p.run("run");
    assert_eq!(res.code, 0, "{}", res.stderr);
    let first = r#"{"item":{"id":1,"price":13.00,"ratio":12.5,"day":"2024-01-31"},"ok":true,"note":"say \"hi\""}"#;
    let second = r#"{"item":{"id":2,"price":0.50,"ratio":null,"day":null},"ok":false,"note":null}"#;
    assert_eq!(
        p.read("out/api.json"),
        format!("[\n{first},\n{second}\n]\n")
    );
    assert_eq!(p.read("out/lines.ndjson"), format!("{first}\n{second}\n"));
    // Parsed back, the types hold.
    let v: serde_json::Value = serde_json::from_str(&p.read("out/api.json")).unwrap();
    assert_eq!(v[0]["item"]["id"], 1);
    assert_eq!(v[0]["ok"], true);
    assert!(v[1]["item"]["day"].is_null());
    // An empty JSON target is an empty array.
    assert_eq!(p.read("out/none.json"), "[]\n");
}

#[test]
fn csv_values_are_canonical() {
    let p = Job::new()
        .mapping(TYPED_MAPPING)
        .input("data.csv", TYPED_DATA);
    assert_eq!(p.run("run").code, 0);
    assert_eq!(
        p.read("out/flat.csv"),
        "id,price,ratio,ok,day,note\n1,13.00,12.5,true,2024-01-31,\"say \"\"hi\"\"\"\n2,0.50,,false,,\n"
    );
}

#[test]
fn passthrough_keeps_every_field_and_replaces_or_adds_columns() {
    let p = Job::new()
        .mapping(
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
        .input(
            "data.csv",
            "note,SKU,brand,Qty\nhello,AB-1,Acme,007\n,AB-2,Acme,3\n",
        );
    let res = p.run("run");
    assert_eq!(res.code, 0, "{}", res.stderr);
    // Every field in the input's order (declared fields typed, where their column is), then
    // the enriched fields.
    assert_eq!(
        p.read("out/all.csv"),
        "note,sku,brand,qty,brand_id,tag\nhello,ab-1,Acme,7,B1,new\n,ab-2,Acme,3,B1,new\n"
    );
    assert_eq!(
        p.read("out/plain.csv"),
        "note,sku,brand,qty,brand_id\nhello,AB-1,Acme,7,B1\n,AB-2,Acme,3,B1\n"
    );
}

#[test]
fn a_source_without_structure_passes_every_column_through() {
    let p = Job::new().mapping(
        "[source]\npath = \"data.csv\"\n[targets.all]\npath = \"all.ndjson\"\n[targets.copy]\npath = \"copy.csv\"\n",
    )
    .input("data.csv", "a,b,c\n1,,x\n,y,\n,,\n");
    let res = p.run("run");
    assert_eq!(res.code, 0, "{}", res.stderr);
    assert_eq!(
        p.read("out/all.ndjson"),
        "{\"a\":\"1\",\"b\":null,\"c\":\"x\"}\n{\"a\":null,\"b\":\"y\",\"c\":null}\n"
    );
    assert_eq!(p.read("out/copy.csv"), "a,b,c\n1,,x\n,y,\n");
    let r = p.report();
    assert_eq!(r["rows"]["skipped"], 1);
    assert_eq!(r["rows"]["accepted"], 2);
}
