//! `[structures.NAME] table_schema = "schema.json"`: a Frictionless Table Schema's fields and
//! constraints validate a file with the errors frictionless reports on it (the same rows and
//! fields, checked by hand against `frictionless validate` 5); what rowferry does not support is
//! a mapping error.

use crate::util::Job;

const SCHEMA: &str = r#"{
  "fields": [
    {"name": "id", "type": "integer"},
    {"name": "name", "type": "string", "constraints": {"minLength": 2}},
    {"name": "email", "type": "string", "format": "email"},
    {"name": "price", "type": "number", "decimalChar": ",", "constraints": {"minimum": 0}},
    {"name": "active", "type": "boolean", "trueValues": ["oui"], "falseValues": ["non"]},
    {"name": "created", "type": "date", "format": "%d/%m/%Y"},
    {"name": "code", "type": "string", "constraints": {"pattern": "[A-Z]{3}"}},
    {"name": "status", "type": "string", "constraints": {"enum": ["new", "done"]}}
  ],
  "primaryKey": "id"
}"#;

const DATA: &str = r#"id,name,email,price,active,created,code,status
1,Ada,ada@example.com,"12,50",oui,31/01/2024,ABC,new
2,B,bob@example.com,"3,00",non,01/02/2024,DEF,done
3,Cy,not-an-email,"-1,00",oui,15/03/2024,ABCD,new
1,Dee,dee@example.com,"1,00",yes,31/02/2024,GHI,old
,Eve,eve@example.com,"2,00",oui,01/01/2024,JKL,new
"#;

fn job(schema: &str) -> Job {
    Job::new()
        .mapping(
            "[source]\npath = \"data.csv\"\nstructure = \"s\"\n\n[structures.s]\ntable_schema = \"schema.json\"\n\n[run]\nmax_error_rate = 1\n",
        )
        .file("schema.json", schema)
        .input("data.csv", DATA)
}

#[test]
fn a_table_schema_finds_the_errors_frictionless_finds() {
    let res = job(SCHEMA).run("validate");
    assert_eq!(res.code, 1, "{}", res.stderr);
    let mut found: Vec<(u64, String, String)> = res.error_codes();
    found.sort();
    assert_eq!(
        found,
        vec![
            (3, "name".into(), "length-out-of-range".into()),
            (4, "code".into(), "pattern-mismatch".into()),
            (4, "email".into(), "type-mismatch".into()),
            (4, "price".into(), "out-of-range".into()),
            (5, "active".into(), "type-mismatch".into()),
            (5, "created".into(), "type-mismatch".into()),
            (5, "id".into(), "duplicate-key".into()),
            (5, "status".into(), "enum-mismatch".into()),
            (6, "id".into(), "required-missing".into()),
        ],
        "a pattern matches the whole value (ABCD fails [A-Z]{{3}}); the primary key is required and unique"
    );
}

#[test]
fn what_the_spec_has_and_rowferry_does_not_is_a_mapping_error() {
    let unsupported = SCHEMA
        .replace(r#""type": "boolean""#, r#""type": "year""#)
        .replace(
            r#""primaryKey": "id""#,
            r#""primaryKey": "id", "missingValues": ["", "NA"]"#,
        );
    let res = job(&unsupported).run("check");
    assert_eq!(res.code, 2);
    for expected in [
        "field `active`: type `year` is not supported",
        "`missingValues` [\"\",\"NA\"] is not supported",
    ] {
        assert!(res.stderr.contains(expected), "{expected}: {}", res.stderr);
    }
    let res = job("{\"fields\": [").run("check");
    assert_eq!(res.code, 2);
    assert!(res.stderr.contains("is not JSON"), "{}", res.stderr);
}
