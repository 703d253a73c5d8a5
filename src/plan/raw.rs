//! The mapping file exactly as the user wrote it (the "low" arguments, in ripgrep's terms).
//!
//! These structs mirror the TOML one to one and keep every span, so that [`super::compile`] can
//! point at the offending text. They hold no defaults and resolve no names: that is the job of
//! the compile step. Map keys are plain strings (`serde_ignored` tracks paths by string keys);
//! diagnostics about an entry point at its value. Unknown keys are not silently dropped: the loader collects every key serde
//! ignores and reports it as an error (see [`super::keys`]).

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;

use super::schema;
use toml::Spanned;

/// A whole mapping file.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct RawMapping {
    /// A human name for the migration, shown in the summary and the report.
    pub name: Option<String>,
    /// Free text for the reader of the mapping.
    pub description: Option<String>,
    /// Where the rows come from.
    #[schemars(with = "Option<RawSource>")]
    pub source: Option<Spanned<RawSource>>,
    /// Data structures, by name, in declaration order.
    #[serde(default)]
    #[schemars(with = "IndexMap<String, RawStructure>")]
    pub structures: IndexMap<String, Spanned<RawStructure>>,
    /// Reference tables, by name, loaded once and read-only.
    #[serde(default)]
    #[schemars(with = "IndexMap<String, RawLookup>")]
    pub lookups: IndexMap<String, Spanned<RawLookup>>,
    /// Enrichment steps, applied in order.
    #[serde(default)]
    #[schemars(with = "Vec<RawEnrich>")]
    pub enrich: Vec<Spanned<RawEnrich>>,
    /// Output files, by name, in declaration order.
    #[serde(default)]
    #[schemars(with = "IndexMap<String, RawTarget>")]
    pub targets: IndexMap<String, Spanned<RawTarget>>,
    /// Thresholds and policies for the run.
    #[schemars(with = "Option<RawRun>")]
    pub run: Option<Spanned<RawRun>>,
    /// A webhook told how the run ended.
    #[schemars(with = "Option<RawNotify>")]
    pub notify: Option<Spanned<RawNotify>>,
}

/// `[source]`: the export to read.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct RawSource {
    /// Path of the export, relative to the mapping file. `--input` overrides it.
    #[schemars(with = "Option<String>")]
    pub path: Option<Spanned<String>>,
    /// One character; `\t` for tabs. Default: sniffed from the header line.
    #[schemars(with = "Option<String>")]
    pub delimiter: Option<Spanned<String>>,
    /// The quote character. Default `"`.
    #[schemars(with = "Option<String>")]
    pub quote: Option<Spanned<String>>,
    /// An escape character used instead of doubled quotes, e.g. `\`. Default: none.
    #[schemars(with = "Option<String>")]
    pub escape: Option<Spanned<String>>,
    /// Lines starting with this character are skipped (counted as skipped rows).
    #[schemars(with = "Option<String>")]
    pub comment: Option<Spanned<String>>,
    /// The text encoding, any WHATWG label (`windows-1252`, `latin1`, `utf-16le`…). Default:
    /// detected from the BOM and the bytes.
    #[schemars(with = "Option<String>")]
    pub encoding: Option<Spanned<String>>,
    /// The 1-based line (CSV) or sheet row (spreadsheet) of the header record, for exports with
    /// a title block above it. Default: detected.
    #[schemars(with = "Option<i64>")]
    pub header_row: Option<Spanned<i64>>,
    /// Whether the first record is a header. Default: sniffed.
    #[schemars(with = "Option<bool>")]
    pub header: Option<Spanned<bool>>,
    /// `strict` (default: blank or repeated header names stop the run) or `rename`.
    #[schemars(with = "Option<String>")]
    pub header_names: Option<Spanned<String>>,
    /// `csv` or `xlsx`/`xlsm`/`xlsb`/`xls`/`ods`. Default: from the file's content and name.
    #[schemars(with = "Option<String>")]
    pub format: Option<Spanned<String>>,
    /// Spreadsheets: the sheet, by name or 1-based index. Default: the first visible sheet.
    #[schemars(with = "Option<schema::SheetRef>")]
    pub sheet: Option<Spanned<toml::Value>>,
    /// Spreadsheets: the cells to read, e.g. `A5:F15` or `A3:K` (to the last row).
    #[schemars(with = "Option<String>")]
    pub range: Option<Spanned<String>>,
    /// The longest field accepted (CSV: a longer one is a runaway quote; workbooks: a longer
    /// cell rejects its row). Default 1 MiB.
    #[schemars(with = "Option<i64>")]
    pub max_field_bytes: Option<Spanned<i64>>,
    /// Workbooks: the most bytes a part read whole (shared strings, an xlsb or ods sheet) may
    /// unpack to. Default 1 GiB.
    #[schemars(with = "Option<i64>")]
    pub max_part_bytes: Option<Spanned<i64>>,
    /// The data structure the rows must satisfy. Without it every column is an optional string.
    #[schemars(with = "Option<String>")]
    pub structure: Option<Spanned<String>>,
}

/// `[structures.NAME]`: a declared data structure.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct RawStructure {
    /// Free text for the reader of the mapping.
    pub description: Option<String>,
    /// Fields, by name, in declaration order.
    #[serde(default)]
    #[schemars(with = "IndexMap<String, RawField>")]
    pub fields: IndexMap<String, Spanned<RawField>>,
    /// Cross-field rules.
    #[serde(default)]
    #[schemars(with = "Vec<RawCheck>")]
    pub checks: Vec<Spanned<RawCheck>>,
    /// Keys over several fields: `unique = [["order_id", "line_no"]]`.
    #[serde(default)]
    #[schemars(with = "Vec<Vec<String>>")]
    pub unique: Vec<Spanned<Vec<Spanned<String>>>>,
    /// A Frictionless Table Schema (JSON) whose fields, types and constraints the structure
    /// takes (relative to the mapping file); `fields` declared here are added or replace its.
    #[schemars(with = "Option<String>")]
    pub table_schema: Option<Spanned<String>>,
}

/// `[structures.NAME.fields] FIELD = { ... }`: one declared field.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct RawField {
    /// The source header, when it differs from the field name.
    #[schemars(with = "Option<String>")]
    pub column: Option<Spanned<String>>,
    /// string, integer, decimal, number, boolean, date, datetime, email, url, uuid.
    #[serde(rename = "type")]
    #[schemars(with = "Option<String>")]
    pub ty: Option<Spanned<String>>,
    /// Free text for the reader of the mapping.
    pub description: Option<String>,
    /// An empty value is an error (`required-missing`).
    pub required: Option<bool>,
    /// No two rows may have the same value (`duplicate-key`).
    pub unique: Option<bool>,
    /// Strip surrounding white space before any rule (typed fields are always stripped).
    pub trim: Option<bool>,
    /// A regular expression the text must contain a match of (anchor it with `^…$`).
    #[schemars(with = "Option<String>")]
    pub pattern: Option<Spanned<String>>,
    /// The allowed values.
    #[serde(rename = "enum")]
    #[schemars(with = "Option<Vec<schema::Scalar>>")]
    pub enum_values: Option<Spanned<Vec<toml::Value>>>,
    /// Compare `enum` values without regard to case.
    pub ignore_case: Option<bool>,
    /// Inclusive lower bound on the typed value (integer, decimal, number, date, datetime).
    #[schemars(with = "Option<schema::Scalar>")]
    pub min: Option<Spanned<toml::Value>>,
    /// Inclusive upper bound on the typed value (integer, decimal, number, date, datetime).
    #[schemars(with = "Option<schema::Scalar>")]
    pub max: Option<Spanned<toml::Value>>,
    /// The fewest characters (not bytes) of the clean text.
    #[schemars(with = "Option<i64>")]
    pub min_length: Option<Spanned<i64>>,
    /// The most characters (not bytes) of the clean text.
    #[schemars(with = "Option<i64>")]
    pub max_length: Option<Spanned<i64>>,
    /// chrono format(s) for `date` and `datetime`: a string or a list tried in order.
    #[schemars(with = "Option<schema::OneOrMany>")]
    pub format: Option<Spanned<toml::Value>>,
    /// For `decimal` and `number`: `.` (default) or `,`.
    #[schemars(with = "Option<String>")]
    pub decimal_separator: Option<Spanned<String>>,
    /// For `integer`, `decimal` and `number`: a grouping character removed before parsing.
    #[schemars(with = "Option<String>")]
    pub thousands_separator: Option<Spanned<String>>,
    /// For `decimal`: the number of decimal places kept exactly (default 6).
    #[schemars(with = "Option<i64>")]
    pub scale: Option<Spanned<i64>>,
    /// For `boolean`: the words read as true (case-insensitive).
    #[schemars(with = "Option<Vec<String>>")]
    pub true_values: Option<Spanned<Vec<String>>>,
    /// For `boolean`: the words read as false (case-insensitive).
    #[schemars(with = "Option<Vec<String>>")]
    pub false_values: Option<Spanned<Vec<String>>>,
    /// `"warning"` for every rule of the field, or a table by rule:
    /// `{ type = "warning", pattern = "warning" }`.
    #[schemars(with = "Option<schema::Severity>")]
    pub severity: Option<Spanned<toml::Value>>,
    /// A lookup the value must be a key of (a foreign key): a value missing from it is
    /// `not-in-lookup`.
    #[schemars(with = "Option<String>")]
    pub exists_in: Option<Spanned<String>>,
}

/// `[[structures.NAME.checks]]`: a cross-field rule.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct RawCheck {
    /// The check's name (default `check N`), shown in the default message.
    #[schemars(with = "Option<String>")]
    pub name: Option<Spanned<String>>,
    /// A SQL predicate over typed fields; the row passes when it is true or null.
    #[schemars(with = "Option<String>")]
    pub rule: Option<Spanned<String>>,
    /// The field the issue is reported on.
    #[schemars(with = "Option<String>")]
    pub field: Option<Spanned<String>>,
    /// The message written to `errors.csv` when the rule is false.
    pub message: Option<String>,
    /// `error` (default: the row is rejected) or `warning`.
    #[schemars(with = "Option<String>")]
    pub severity: Option<Spanned<String>>,
}

/// `[run]`: thresholds.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct RawRun {
    /// Stop the run (exit 2) once more rows than this are rejected.
    #[schemars(with = "Option<i64>")]
    pub max_errors: Option<Spanned<i64>>,
    /// Stop once this share of rows is rejected (checked after `min_rows` rows and at the end).
    #[schemars(with = "Option<f64>")]
    pub max_error_rate: Option<Spanned<f64>>,
    /// Rows read before `max_error_rate` is checked during the run (default 1000).
    #[schemars(with = "Option<i64>")]
    pub min_rows: Option<Spanned<i64>>,
    /// What happens to an accepted row no target takes: `count` (default), `warn`, `reject`.
    #[schemars(with = "Option<String>")]
    pub unrouted: Option<Spanned<String>>,
    /// The most output files kept open at once (default 64); others are reopened as needed.
    #[schemars(with = "Option<i64>")]
    pub max_open_files: Option<Spanned<i64>>,
    /// Text cells starting with `= + - @` tab or CR in CSV targets: `warn` (default), `escape`
    /// or `off`.
    #[schemars(with = "Option<String>")]
    pub formula_guard: Option<Spanned<String>>,
    /// Memory for the rows of grouped JSON targets before they spill to disk, in MiB (256).
    #[schemars(with = "Option<i64>")]
    pub group_memory_mb: Option<Spanned<i64>>,
}

/// `[notify]`: one `POST` to a webhook (Slack's incoming webhooks) when a run ends.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct RawNotify {
    /// The webhook's URL, usually `${SLACK_WEBHOOK_URL}`: its path is its secret.
    #[schemars(with = "Option<String>")]
    pub url: Option<Spanned<String>>,
    /// When to post: `always` (default), `failure` (the run failed or a threshold stopped it)
    /// or `rejects` (a failure, or any rejected row).
    #[schemars(with = "Option<String>")]
    pub on: Option<Spanned<String>>,
    /// The commands that post: `["run"]` (default), `["run", "validate"]`.
    #[schemars(with = "Option<schema::OneOrMany>")]
    pub commands: Option<Spanned<toml::Value>>,
    /// How long to wait for the webhook: `"10s"` (default), `"500ms"`, `"1m"`.
    #[schemars(with = "Option<String>")]
    pub timeout: Option<Spanned<String>>,
}

/// `[lookups.NAME]`: a reference table.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct RawLookup {
    /// Free text for the reader of the mapping.
    pub description: Option<String>,
    /// The table's file, relative to the mapping file: CSV with a header record, a workbook or
    /// a SQLite database.
    #[schemars(with = "Option<String>")]
    pub path: Option<Spanned<String>>,
    /// Instead of `path`, a server: `postgresql://…` (PostgreSQL) or `https://…` (an HTTP API).
    #[schemars(with = "Option<String>")]
    pub url: Option<Spanned<String>>,
    /// The key column, or several: `key = ["Region", "Sku"]`.
    #[schemars(with = "Option<schema::OneOrMany>")]
    pub key: Option<Spanned<toml::Value>>,
    /// Match keys without regard to case.
    pub ignore_case: Option<bool>,
    /// Match keys without surrounding white space.
    pub trim: Option<bool>,
    /// One character; default: sniffed from the header line.
    #[schemars(with = "Option<String>")]
    pub delimiter: Option<Spanned<String>>,
    /// The text encoding (WHATWG label). Default: detected.
    #[schemars(with = "Option<String>")]
    pub encoding: Option<Spanned<String>>,
    /// Spreadsheets: the sheet, by name or 1-based index. Default: the first visible sheet.
    #[schemars(with = "Option<schema::SheetRef>")]
    pub sheet: Option<Spanned<toml::Value>>,
    /// Spreadsheets: the cells to read, e.g. `A1:C200`.
    #[schemars(with = "Option<String>")]
    pub range: Option<Spanned<String>>,
    /// Databases (SQLite, PostgreSQL): the table to read.
    #[schemars(with = "Option<String>")]
    pub table: Option<Spanned<String>>,
    /// Databases (SQLite, PostgreSQL): the query whose rows are the lookup's rows.
    #[schemars(with = "Option<String>")]
    pub query: Option<Spanned<String>>,
    /// APIs: a JSON pointer to the array of records in each page, e.g. `/data/items`.
    #[schemars(with = "Option<String>")]
    pub records: Option<Spanned<String>>,
    /// APIs: headers sent with every request, e.g. `{ Authorization = "Bearer ${TOKEN}" }`.
    /// Their values are secrets: never shown.
    #[schemars(with = "Option<IndexMap<String, String>>")]
    pub headers: Option<Spanned<IndexMap<String, Spanned<String>>>>,
    /// APIs: the longest wait at any step of a request, e.g. `"30s"` (the default).
    #[schemars(with = "Option<String>")]
    pub timeout: Option<Spanned<String>>,
}

/// `[[enrich]]`: adds fields from a lookup.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct RawEnrich {
    /// Free text for the reader of the mapping.
    pub description: Option<String>,
    /// The lookup's name.
    #[schemars(with = "Option<String>")]
    pub lookup: Option<Spanned<String>>,
    /// Row field → lookup key column.
    #[serde(rename = "match")]
    #[schemars(with = "Option<IndexMap<String, String>>")]
    pub match_: Option<Spanned<IndexMap<String, Spanned<String>>>>,
    /// New field → lookup column.
    #[schemars(with = "Option<IndexMap<String, String>>")]
    pub add: Option<Spanned<IndexMap<String, Spanned<String>>>>,
    /// `reject` (default), `null` or `default`.
    #[schemars(with = "Option<String>")]
    pub on_miss: Option<Spanned<String>>,
    /// New field → value, for `on_miss = "default"`.
    #[schemars(with = "Option<IndexMap<String, String>>")]
    pub default: Option<Spanned<IndexMap<String, Spanned<String>>>>,
}

/// `[targets.NAME]`: an output.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct RawTarget {
    /// Free text for the reader of the mapping.
    pub description: Option<String>,
    /// Relative to the output folder; `{field}` partitions, `{batch}` numbers rolled files.
    #[schemars(with = "Option<String>")]
    pub path: Option<Spanned<String>>,
    /// `csv`, `tsv`, `json`, `ndjson`, `xlsx`, `sqlite` or `postgres`; default: from the
    /// extension.
    #[schemars(with = "Option<String>")]
    pub format: Option<Spanned<String>>,
    /// A SQL predicate: the rows this target takes (default: every accepted row).
    #[schemars(with = "Option<String>")]
    pub when: Option<Spanned<String>>,
    /// Output column → SQL expression over the row's fields, in order; or a table with the
    /// expression as `value` and how to write it (`format`, `decimal_separator`).
    #[serde(default)]
    #[schemars(with = "IndexMap<String, RawColumn>")]
    pub columns: IndexMap<String, Spanned<RawColumn>>,
    /// Write every field first; `columns` then add or replace some.
    pub passthrough: Option<bool>,
    /// Records per file; needs `{batch}` in the path.
    #[schemars(with = "Option<i64>")]
    pub batch_size: Option<Spanned<i64>>,
    /// CSV: one character (default `,`; TSV: tab).
    #[schemars(with = "Option<String>")]
    pub delimiter: Option<Spanned<String>>,
    /// CSV: `necessary` (default), `always`, `non_numeric` or `never`.
    #[schemars(with = "Option<String>")]
    pub quote_style: Option<Spanned<String>>,
    /// CSV: `lf` (default) or `crlf`.
    #[schemars(with = "Option<String>")]
    pub line_ending: Option<Spanned<String>>,
    /// CSV: start the file with a UTF-8 byte order mark (default false).
    pub bom: Option<bool>,
    /// CSV: write the header record (default true).
    pub header: Option<bool>,
    /// CSV: the text encoding (a WHATWG label: `windows-1252`, `latin1`, `utf-16le`…).
    #[schemars(with = "Option<String>")]
    pub encoding: Option<Spanned<String>>,
    /// CSV: the text of a null value (default: an empty field).
    #[schemars(with = "Option<String>")]
    pub null: Option<Spanned<String>>,
    /// CSV and JSON: how dates are written (strftime, e.g. `%d/%m/%Y`; default ISO).
    #[schemars(with = "Option<String>")]
    pub date_format: Option<Spanned<String>>,
    /// CSV and JSON: how date-times are written (default `%Y-%m-%dT%H:%M:%S`).
    #[schemars(with = "Option<String>")]
    pub datetime_format: Option<Spanned<String>>,
    /// CSV: the decimal separator of numbers with a fraction (default `.`).
    #[schemars(with = "Option<String>")]
    pub decimal_separator: Option<Spanned<String>>,
    /// XLSX: the worksheet's name (default: the target's name).
    #[schemars(with = "Option<String>")]
    pub sheet: Option<Spanned<String>>,
    /// JSON and NDJSON: one record per distinct value of these fields, gathering the rows into
    /// `name[].x` arrays.
    #[schemars(with = "Option<Vec<String>>")]
    pub group_by: Option<Spanned<Vec<Spanned<String>>>>,
    /// JSON: wrap the array of records in an object, e.g. `records` → `{"records": [...]}`.
    #[schemars(with = "Option<String>")]
    pub envelope: Option<Spanned<String>>,
    /// Databases: the table rows are loaded into (default: the target's name).
    #[schemars(with = "Option<String>")]
    pub table: Option<Spanned<String>>,
    /// Databases: `insert` (default) or `upsert` (needs `key`).
    #[schemars(with = "Option<String>")]
    pub mode: Option<Spanned<String>>,
    /// Databases: the output columns that identify a row (the table's primary key).
    #[schemars(with = "Option<Vec<String>>")]
    pub key: Option<Spanned<Vec<Spanned<String>>>>,
    /// SQLite: an existing database outside the output folder (relative to the mapping file),
    /// loaded in one transaction committed at the run's commit point, instead of `path`.
    #[schemars(with = "Option<String>")]
    pub database: Option<Spanned<String>>,
    /// PostgreSQL: the server's connection URL (`postgresql://user:password@host:port/db`),
    /// usually `${DATABASE_URL}`.
    #[schemars(with = "Option<String>")]
    pub url: Option<Spanned<String>>,
    /// PostgreSQL: create the table from the plan's types when it does not exist.
    #[schemars(with = "Option<bool>")]
    pub create: Option<Spanned<bool>>,
    /// HTTP: `POST` (default), `PUT` or `PATCH`.
    #[schemars(with = "Option<String>")]
    pub method: Option<Spanned<String>>,
    /// HTTP: headers sent with every request; values may use `${VAR}` and are never shown.
    #[schemars(with = "Option<IndexMap<String, String>>")]
    pub headers: Option<Spanned<IndexMap<String, Spanned<String>>>>,
    /// HTTP: `json` (default: the JSON target's array) or `ndjson` (one record per line).
    #[schemars(with = "Option<String>")]
    pub body: Option<Spanned<String>>,
    /// HTTP: the longest wait at any step of a request, e.g. `"30s"`, `"500ms"`, `"2m"`.
    #[schemars(with = "Option<String>")]
    pub timeout: Option<Spanned<String>>,
    /// HTTP: retries after the first attempt (default 5).
    #[schemars(with = "Option<i64>")]
    pub max_retries: Option<Spanned<i64>>,
    /// HTTP: requests per second at most.
    #[schemars(with = "Option<f64>")]
    pub rate_limit: Option<Spanned<f64>>,
    /// HTTP: requests in flight at once (default 1).
    #[schemars(with = "Option<i64>")]
    pub concurrency: Option<Spanned<i64>>,
}

/// One output column: an SQL expression, or a table with the expression and how to write it.
#[derive(Debug, JsonSchema)]
#[schemars(untagged)]
pub enum RawColumn {
    Expr(String),
    Spec(RawColumnSpec),
}

/// `columns.NAME = { value = "...", format = "..." }`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct RawColumnSpec {
    /// The SQL expression.
    #[schemars(with = "Option<String>")]
    pub value: Option<Spanned<String>>,
    /// Dates: a strftime pattern (CSV, JSON) or an Excel number format (XLSX).
    #[schemars(with = "Option<String>")]
    pub format: Option<Spanned<String>>,
    /// Numbers with a fraction (CSV, JSON): the decimal separator.
    #[schemars(with = "Option<String>")]
    pub decimal_separator: Option<Spanned<String>>,
}

impl<'de> Deserialize<'de> for RawColumn {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = RawColumn;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a SQL expression, or a table with `value` and `format`")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawColumn, E> {
                Ok(RawColumn::Expr(v.to_string()))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<RawColumn, E> {
                Ok(RawColumn::Expr(v))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<RawColumn, A::Error> {
                RawColumnSpec::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(RawColumn::Spec)
            }
        }
        d.deserialize_any(V)
    }
}
