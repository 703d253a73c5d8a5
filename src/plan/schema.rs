//! The JSON Schema of the mapping format (`rowferry schema`), generated from the raw structs the
//! mapping is read into ([`super::raw`]), so it cannot drift from what the loader accepts.
//!
//! The raw structs keep `toml::Spanned` wrappers and a few `toml::Value`s that the compile step
//! reads in more than one shape; their fields name, with `#[schemars(with = …)]`, the types
//! below, which describe what the TOML holds (a `Spanned<T>` is just `T`). Every table sets
//! `additionalProperties: false`, as the loader reports unknown keys ([`super::keys`]). Doc
//! comments on the raw structs become the descriptions editors show.
//! Must not know: anything but the raw structs.

use schemars::JsonSchema;
use serde_json::Value;

use super::raw::RawMapping;

/// The mapping format's JSON Schema, as pretty-printed JSON ending with a newline.
pub fn json() -> String {
    // Draft 7 and no `null` for an omitted key: what Taplo's checker reads, and what TOML
    // holds (it has no null).
    let settings = schemars::generate::SchemaSettings::draft07();
    let mut schema = settings
        .into_generator()
        .into_root_schema_for::<RawMapping>()
        .to_value();
    without_null(&mut schema);
    if let Some(root) = schema.as_object_mut() {
        root.insert("title".into(), "rowferry mapping".into());
    }
    let mut text = serde_json::to_string_pretty(&schema)
        .unwrap_or_else(|e| unreachable!("a schema is plain JSON: {e}"));
    text.push('\n');
    text
}

/// Removes the `null` schemars allows for an `Option` (a TOML key is present or absent, never
/// null): from `type` lists and `anyOf` alternatives, collapsing what is left.
fn without_null(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            if let Some(Value::Array(types)) = map.get_mut("type") {
                types.retain(|t| t != "null");
                if let [only] = types.as_slice() {
                    let only = only.clone();
                    map.insert("type".into(), only);
                }
            }
            if let Some(Value::Array(options)) = map.get_mut("anyOf") {
                options.retain(|o| o.get("type").is_none_or(|t| t != "null"));
                if let [Value::Object(only)] = options.as_slice() {
                    let only = only.clone();
                    map.remove("anyOf");
                    if only.contains_key("$ref") {
                        // Draft 7 ignores the keys beside a `$ref`: the description stays
                        // beside an `allOf` of it, as schemars writes it.
                        map.insert("allOf".into(), Value::Array(vec![Value::Object(only)]));
                    } else {
                        for (k, v) in only {
                            map.entry(k).or_insert(v);
                        }
                    }
                }
            }
            map.values_mut().for_each(without_null);
        }
        Value::Array(items) => items.iter_mut().for_each(without_null),
        _ => {}
    }
}

/// A sheet, by name or 1-based index.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code, reason = "a shape for the schema only")]
pub enum SheetRef {
    Name(String),
    Index(i64),
}

/// A value a field is compared with: text, a number, a boolean, or a date.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code, reason = "a shape for the schema only")]
pub enum Scalar {
    Text(String),
    Integer(i64),
    Number(f64),
    Boolean(bool),
}

/// One value, or a list of them.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code, reason = "a shape for the schema only")]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

/// `"error"` or `"warning"` for every rule of the field, or a table by rule:
/// `{ type = "warning", pattern = "warning" }`.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code, reason = "a shape for the schema only")]
pub enum Severity {
    All(SeverityWord),
    ByRule(indexmap::IndexMap<String, SeverityWord>),
}

/// How serious a broken rule is.
#[derive(JsonSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code, reason = "a shape for the schema only")]
pub enum SeverityWord {
    Error,
    Warning,
}
