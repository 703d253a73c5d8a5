//! `[structures.NAME] table_schema = "schema.json"`: a Frictionless Table Schema's fields taken
//! as the structure's, as if they were written in the mapping — so that `validate` finds the
//! errors frictionless finds on the same file.
//!
//! Read: `fields` (`name`, `type`, `format`, `constraints`: `required`, `unique`, `minimum`,
//! `maximum`, `minLength`, `maxLength`, `pattern` — matched against the whole value, as the spec
//! says —, `enum`), `trueValues`/`falseValues`, `decimalChar`/`groupChar`, `bareNumber`,
//! `primaryKey` (its fields required, and unique together), `missingValues` (only `""`, what
//! rowferry reads as missing). Anything else the spec has and rowferry does not do is a
//! mapping error naming it, never ignored: other types (`time`, `year`, `object`, `geopoint`…),
//! other missing values, `foreignKeys`, a date `format` of `any`, YAML schemas.

use std::path::Path;

use indexmap::IndexMap;
use serde_json::Value;
use toml::Spanned;

use super::Compiler;
use crate::plan::diagnostic::Diagnostic;
use crate::plan::raw::RawField;

/// A schema's fields and keys, spanned at the mapping's `table_schema` value.
#[derive(Default)]
pub(super) struct Imported {
    pub(super) fields: IndexMap<String, Spanned<RawField>>,
    pub(super) unique: Vec<Spanned<Vec<Spanned<String>>>>,
}

impl Compiler {
    /// The fields and keys of the Table Schema at `path` (relative to `base`); `None` when it
    /// cannot be used (the problems are reported).
    pub(super) fn table_schema(&mut self, path: &Spanned<String>, base: &Path) -> Option<Imported> {
        let span = path.span();
        let file = base.join(path.get_ref());
        let problem = |what: String| {
            Diagnostic::at(
                span.clone(),
                format!("Table Schema `{}`: {what}", file.display()),
            )
            .label("table_schema")
        };
        let is_yaml = file
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"));
        if is_yaml {
            self.err(problem("YAML schemas are not read yet".into()).help(
                "convert it to JSON (e.g. `python -c 'import sys,yaml,json; json.dump(yaml.safe_load(sys.stdin), sys.stdout)' < schema.yaml > schema.json`)",
            ));
            return None;
        }
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) => {
                self.err(
                    problem(format!("cannot be read: {e}"))
                        .help("check the path, relative to the mapping file"),
                );
                return None;
            }
        };
        let schema: Value = match serde_json::from_str(&text) {
            Ok(v) => v,
            Err(e) => {
                self.err(problem(format!("is not JSON: {e}")));
                return None;
            }
        };
        let before = self.errs.len();
        let mut out = Imported::default();
        if let Some(missing) = schema.get("missingValues") {
            let only_empty = missing
                .as_array()
                .is_some_and(|a| a.iter().all(|v| v == ""));
            if !only_empty {
                self.err(problem(format!("`missingValues` {missing} is not supported: rowferry reads only an empty value as missing")).help("turn those values into empty ones, or remove `missingValues`"));
            }
        }
        if schema.get("foreignKeys").is_some() {
            self.err(problem("`foreignKeys` is not supported".into()).help(
                "declare the referenced table as a lookup and give the field `exists_in = \"LOOKUP\"`",
            ));
        }
        let Some(fields) = schema.get("fields").and_then(Value::as_array) else {
            self.err(problem("it has no `fields` list".into()));
            return None;
        };
        for (i, f) in fields.iter().enumerate() {
            let Some(name) = f.get("name").and_then(Value::as_str) else {
                self.err(problem(format!("field {} has no `name`", i + 1)));
                continue;
            };
            match self.schema_field(name, f, &span) {
                Ok(raw) => {
                    out.fields
                        .insert(name.to_string(), Spanned::new(span.clone(), raw));
                }
                Err(why) => self.err(problem(format!("field `{name}`: {why}"))),
            }
        }
        let key: Vec<String> = match schema.get("primaryKey") {
            Some(Value::String(k)) => vec![k.clone()],
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect(),
            _ => Vec::new(),
        };
        for k in &key {
            match out.fields.get_mut(k) {
                Some(f) => f.get_mut().required = Some(true),
                None => self.err(problem(format!(
                    "`primaryKey` names `{k}`, which is not one of its fields"
                ))),
            }
        }
        if !key.is_empty() {
            let key = key
                .into_iter()
                .map(|k| Spanned::new(span.clone(), k))
                .collect();
            out.unique.push(Spanned::new(span.clone(), key));
        }
        (self.errs.len() == before).then_some(out)
    }

    /// One Table Schema field as the mapping's field it stands for.
    fn schema_field(
        &mut self,
        name: &str,
        f: &Value,
        span: &std::ops::Range<usize>,
    ) -> Result<RawField, String> {
        let text = |v: &str| Some(Spanned::new(span.clone(), v.to_string()));
        let mut raw = RawField {
            column: text(name),
            ..RawField::default()
        };
        let ty = f.get("type").and_then(Value::as_str).unwrap_or("string");
        let format = f.get("format").and_then(Value::as_str).unwrap_or("default");
        let our_type = match (ty, format) {
            ("string", "default") | ("any", _) => "string",
            ("string", "email") => "email",
            ("string", "uri") => "url",
            ("string", "uuid") => "uuid",
            ("string", other) => return Err(format!("string format `{other}` is not supported")),
            ("integer", _) => "integer",
            ("number", _) => "number",
            ("boolean", _) => "boolean",
            ("date", _) => "date",
            ("datetime", _) => "datetime",
            (other, _) => {
                return Err(format!(
                    "type `{other}` is not supported (rowferry reads string, integer, number, boolean, date, datetime)"
                ));
            }
        };
        raw.ty = text(our_type);
        if matches!(ty, "date" | "datetime") {
            let pattern = match (ty, format) {
                (_, "any") => {
                    return Err(
                        "date format `any` is not supported: give the pattern, e.g. `%d/%m/%Y`"
                            .into(),
                    );
                }
                ("date", "default") => "%Y-%m-%d".to_string(),
                ("datetime", "default") => "%Y-%m-%dT%H:%M:%SZ".to_string(),
                (_, p) => p.to_string(),
            };
            raw.format = Some(Spanned::new(span.clone(), toml::Value::String(pattern)));
        }
        if ty == "number" || ty == "integer" {
            if f.get("bareNumber").and_then(Value::as_bool) == Some(false) {
                return Err(
                    "`bareNumber: false` (numbers with currency signs or %) is not supported"
                        .into(),
                );
            }
            if let Some(d) = f.get("decimalChar").and_then(Value::as_str) {
                raw.decimal_separator = text(d);
            }
            if let Some(g) = f.get("groupChar").and_then(Value::as_str) {
                raw.thousands_separator = text(g);
            }
            if ty == "integer" {
                raw.decimal_separator = None;
            }
        }
        if ty == "boolean" {
            // The spec's defaults, which are not rowferry's (no `yes`/`no`).
            let words = |key: &str, default: [&str; 4]| -> Vec<String> {
                match f.get(key).and_then(Value::as_array) {
                    Some(a) => a
                        .iter()
                        .filter_map(|v| v.as_str().map(String::from))
                        .collect(),
                    None => default.iter().map(|s| s.to_string()).collect(),
                }
            };
            let spanned_words = |w: Vec<String>| Some(Spanned::new(span.clone(), w));
            raw.true_values = spanned_words(words("trueValues", ["true", "True", "TRUE", "1"]));
            raw.false_values =
                spanned_words(words("falseValues", ["false", "False", "FALSE", "0"]));
        }
        let Some(constraints) = f.get("constraints") else {
            return Ok(raw);
        };
        let Some(constraints) = constraints.as_object() else {
            return Err("`constraints` is not an object".into());
        };
        for (key, v) in constraints {
            match key.as_str() {
                "required" => raw.required = v.as_bool(),
                "unique" => raw.unique = v.as_bool(),
                "minimum" | "maximum" => {
                    let bound = json_to_toml(v)
                        .ok_or_else(|| format!("`{key}` {v} is not a number or a date"))?;
                    let bound = Some(Spanned::new(span.clone(), bound));
                    match key.as_str() {
                        "minimum" => raw.min = bound,
                        _ => raw.max = bound,
                    }
                }
                "minLength" | "maxLength" => {
                    let n = v
                        .as_i64()
                        .ok_or_else(|| format!("`{key}` {v} is not a whole number"))?;
                    let n = Some(Spanned::new(span.clone(), n));
                    match key.as_str() {
                        "minLength" => raw.min_length = n,
                        _ => raw.max_length = n,
                    }
                }
                // The spec matches a pattern against the whole value.
                "pattern" => {
                    let p = v
                        .as_str()
                        .ok_or_else(|| "`pattern` is not a string".to_string())?;
                    raw.pattern = text(&format!("^(?:{p})$"));
                }
                "enum" => {
                    let values = v
                        .as_array()
                        .ok_or_else(|| "`enum` is not a list".to_string())?;
                    let values: Option<Vec<toml::Value>> =
                        values.iter().map(json_to_toml).collect();
                    let values = values.ok_or_else(|| {
                        "`enum` holds a value that is not text, a number or a boolean".to_string()
                    })?;
                    raw.enum_values = Some(Spanned::new(span.clone(), values));
                }
                other => return Err(format!("constraint `{other}` is not supported")),
            }
        }
        Ok(raw)
    }
}

/// A JSON scalar as the TOML value a mapping would hold.
fn json_to_toml(v: &Value) -> Option<toml::Value> {
    Some(match v {
        Value::String(s) => toml::Value::String(s.clone()),
        Value::Bool(b) => toml::Value::Boolean(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => toml::Value::Integer(i),
            None => toml::Value::Float(n.as_f64()?),
        },
        _ => return None,
    })
}
