//! `rowferry schema`: the mapping format's JSON Schema. Every shipped mapping satisfies it, a
//! mapping with an unknown key or a value of the wrong type does not, and the copy committed in
//! `mappings/` for editors is the command's output.
//!
//! The check is a small validator of the draft-7 subset the schema uses (`$ref`, `type`,
//! `properties`, `additionalProperties`, `required`, `items`, `anyOf`/`oneOf`/`allOf`, `enum`,
//! `const`), so no schema crate is built for it.

use serde_json::Value;

use crate::util::{repo, rowferry};

fn schema() -> Value {
    let run = rowferry(&repo(), &["schema"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    serde_json::from_str(&run.stdout).expect("the schema is JSON")
}

/// A TOML document as the JSON an editor's checker sees (dates as their text).
fn to_json(value: toml::Value) -> Value {
    match value {
        toml::Value::String(s) => Value::String(s),
        toml::Value::Integer(i) => Value::from(i),
        toml::Value::Float(f) => Value::from(f),
        toml::Value::Boolean(b) => Value::Bool(b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(a) => Value::Array(a.into_iter().map(to_json).collect()),
        toml::Value::Table(t) => {
            Value::Object(t.into_iter().map(|(k, v)| (k, to_json(v))).collect())
        }
    }
}

fn parse(text: &str) -> Value {
    to_json(toml::Value::Table(
        text.parse::<toml::Table>().expect("the mapping is TOML"),
    ))
}

/// Every place where `value` breaks `schema`, as `path: what`.
fn problems(root: &Value, schema: &Value, value: &Value, path: &str) -> Vec<String> {
    let mut out = Vec::new();
    let Some(schema) = schema.as_object() else {
        if schema == &Value::Bool(false) {
            out.push(format!("{path}: not allowed"));
        }
        return out;
    };
    if let Some(Value::String(r)) = schema.get("$ref") {
        let name = r
            .strip_prefix("#/definitions/")
            .expect("a local definition");
        out.extend(problems(root, &root["definitions"][name], value, path));
    }
    if let Some(ty) = schema.get("type") {
        let types: Vec<&str> = match ty {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => panic!("unexpected type {ty}"),
        };
        let ok = types.iter().any(|t| match *t {
            "string" => value.is_string(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "boolean" => value.is_boolean(),
            "array" => value.is_array(),
            "object" => value.is_object(),
            "null" => value.is_null(),
            other => panic!("unexpected type {other}"),
        });
        if !ok {
            out.push(format!("{path}: expected {types:?}, found {value}"));
            return out;
        }
    }
    if let Some(Value::Array(allowed)) = schema.get("enum")
        && !allowed.contains(value)
    {
        out.push(format!("{path}: {value} is not one of {allowed:?}"));
    }
    if let Some(c) = schema.get("const")
        && c != value
    {
        out.push(format!("{path}: {value} is not {c}"));
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(Value::Array(options)) = schema.get(key) {
            let fits = options
                .iter()
                .filter(|o| problems(root, o, value, path).is_empty())
                .count();
            if fits == 0 || (key == "oneOf" && fits > 1) {
                out.push(format!("{path}: {value} fits {fits} of the {key} options"));
            }
        }
    }
    if let Some(Value::Array(all)) = schema.get("allOf") {
        for s in all {
            out.extend(problems(root, s, value, path));
        }
    }
    if let Value::Object(map) = value {
        let properties = schema.get("properties").and_then(Value::as_object);
        for (k, v) in map {
            let at = format!("{path}.{k}");
            match properties.and_then(|p| p.get(k)) {
                Some(s) => out.extend(problems(root, s, v, &at)),
                None => match schema.get("additionalProperties") {
                    Some(Value::Bool(false)) => out.push(format!("{at}: unknown key")),
                    Some(s @ Value::Object(_)) => out.extend(problems(root, s, v, &at)),
                    _ => {}
                },
            }
        }
        for r in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let r = r.as_str().expect("a key");
            if !map.contains_key(r) {
                out.push(format!("{path}: `{r}` is required"));
            }
        }
    }
    if let (Value::Array(items), Some(s)) = (value, schema.get("items")) {
        for (i, v) in items.iter().enumerate() {
            out.extend(problems(root, s, v, &format!("{path}[{i}]")));
        }
    }
    out
}

#[test]
fn every_shipped_mapping_satisfies_the_schema() {
    let schema = schema();
    let mut seen = 0;
    for entry in std::fs::read_dir(repo().join("mappings")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let mapping = parse(&std::fs::read_to_string(&path).unwrap());
            let found = problems(&schema, &schema, &mapping, "$");
            assert!(found.is_empty(), "{}: {found:#?}", path.display());
            seen += 1;
        }
    }
    assert!(seen >= 3, "the shipped mappings were found");
}

#[test]
fn an_unknown_key_or_a_wrong_type_breaks_the_schema() {
    let schema = schema();
    let check = |text: &str| problems(&schema, &schema, &parse(text), "$");
    let good = "[source]\npath = \"a.csv\"\nheader_row = 3\n[structures.s.fields]\nid = { type = \"integer\", required = true, severity = { type = \"warning\" } }\n[targets.t]\npath = \"t.csv\"\ncolumns = { id = \"id\", day = { value = \"d\", format = \"%d\" } }\n";
    assert_eq!(check(good), Vec::<String>::new());

    let typo = check("[source]\npath = \"a.csv\"\ndelimter = \";\"\n");
    assert_eq!(typo, ["$.source.delimter: unknown key"]);
    let deep = check(
        "[targets.t]\npath = \"t.csv\"\ncolumns = { day = { value = \"d\", fromat = \"%d\" } }\n",
    );
    assert!(deep.iter().any(|p| p.contains("fits 0")), "{deep:?}");
    let top = check("nmae = \"x\"\n");
    assert_eq!(top, ["$.nmae: unknown key"]);

    let wrong = check("[structures.s.fields]\nid = { required = \"yes\" }\n");
    assert_eq!(wrong.len(), 1, "{wrong:?}");
    assert!(
        wrong[0].starts_with("$.structures.s.fields.id.required: expected [\"boolean\"]"),
        "{wrong:?}"
    );
    let severity = check("[structures.s.fields]\nid = { severity = \"fatal\" }\n");
    assert!(!severity.is_empty());
    let row = check("[source]\nheader_row = \"3\"\n");
    assert!(
        row[0].starts_with("$.source.header_row: expected"),
        "{row:?}"
    );
}

#[test]
fn the_schema_has_descriptions_for_editors() {
    let schema = schema();
    assert_eq!(schema["title"], "rowferry mapping");
    let source = &schema["definitions"]["RawSource"];
    assert_eq!(source["additionalProperties"], false);
    assert!(
        source["properties"]["delimiter"]["description"]
            .as_str()
            .unwrap()
            .contains("`\\t` for tabs")
    );
}

#[test]
fn the_committed_schema_is_the_commands_output() {
    let committed =
        std::fs::read_to_string(repo().join("mappings/rowferry.schema.json")).unwrap_or_default();
    let run = rowferry(&repo(), &["schema"]);
    assert!(
        committed == run.stdout,
        "mappings/rowferry.schema.json is stale: run `rowferry schema --out mappings/rowferry.schema.json`"
    );
}

#[test]
fn schema_out_writes_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let run = rowferry(dir.path(), &["schema", "--out", "m.schema.json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "");
    let written = std::fs::read_to_string(dir.path().join("m.schema.json")).unwrap();
    assert_eq!(written, rowferry(dir.path(), &["schema"]).stdout);
    let failed = rowferry(dir.path(), &["schema", "--out", "no/such/folder/s.json"]);
    assert_eq!(failed.code, 2);
    assert!(
        failed.stderr.contains("no/such/folder/s.json"),
        "{}",
        failed.stderr
    );
}
