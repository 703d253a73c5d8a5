//! The plan: a mapping file turned into an immutable, fully checked description of the run.
//!
//! `plan` owns everything about the mapping file: reading it, reporting every problem in it at
//! once with `file:line:col` (see [`diagnostic`]), resolving every name and compiling every SQL
//! expression. It touches no data: `rowferry check` stops here. Later stages receive a [`Plan`]
//! and never look at the TOML again.

pub mod diagnostic;
pub mod keys;
pub mod overrides;
pub mod raw;

mod bind;
mod compile;
mod flow;

pub use bind::{Binding, RowField, RowOrigin, bind};
pub use compile::hex;

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use polars::prelude::{DataType, Expr, TimeUnit};

use crate::issue::Severity;
pub use diagnostic::{Diagnostic, Diagnostics};
pub use overrides::{Applied, SetArg};

/// Why a mapping could not be planned.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("cannot read the mapping file `{path}`: {source}; check the path and its permissions")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(Box<Diagnostics>),
}

/// Reads and compiles the mapping at `path`. `input` replaces `[source] path` (the `--input`
/// flag), resolved against the working directory rather than the mapping file.
/// `sets` are the `--set KEY=VALUE` overrides; `${VAR}` in values reads the environment.
pub fn load(path: &Path, input: Option<&Path>, sets: &[SetArg]) -> Result<Plan, PlanError> {
    let text = std::fs::read_to_string(path).map_err(|source| PlanError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    compile::compile(path, &text, input, sets).map_err(|d| PlanError::Invalid(Box::new(d)))
}

/// Everything a run needs, checked.
#[derive(Debug, Clone)]
pub struct Plan {
    pub mapping: MappingFile,
    /// The mapping's `name`, or its file stem.
    pub name: String,
    pub source: SourcePlan,
    /// The structure rows must satisfy; `None` reads every column as an optional string.
    pub structure: Option<Arc<Structure>>,
    pub lookups: Vec<Lookup>,
    pub enrich: Vec<Enrich>,
    pub targets: Vec<Target>,
    pub run: RunPolicy,
    /// Names used by `match`, `when`, `columns` and path templates that are neither declared
    /// fields nor enriched ones: they must be columns of the input, checked when its header is
    /// read (see [`bind`]).
    pub deferred: Vec<(String, Range<usize>)>,
    /// `${VAR}` values and `--set` overrides applied to the mapping.
    pub overrides: Applied,
}

/// The mapping file itself, kept for diagnostics found later (a missing column) and the report.
#[derive(Debug, Clone)]
pub struct MappingFile {
    pub path: PathBuf,
    pub text: String,
    pub sha256: String,
}

impl MappingFile {
    /// A diagnostic set about this mapping file.
    pub fn diagnostics(&self, items: Vec<Diagnostic>) -> Diagnostics {
        Diagnostics::new(&self.path, &self.text, items)
    }
}

/// How to read the export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcePlan {
    pub path: PathBuf,
    /// `None`: sniffed from the header line.
    pub delimiter: Option<u8>,
    pub quote: u8,
    pub escape: Option<u8>,
    pub comment: Option<u8>,
    /// 1-based line of the header record.
    pub header_row: u64,
}

/// Thresholds that stop a run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunPolicy {
    pub max_errors: Option<u64>,
    pub max_error_rate: Option<f64>,
    pub min_rows: u64,
    pub unrouted: Unrouted,
    pub max_open_files: usize,
}

/// `[run] unrouted`: what happens to an accepted row that no target takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unrouted {
    /// Counted in the report.
    Count,
    /// Counted, and an `unrouted` warning per row in `errors.csv`.
    Warn,
    /// Rejected with an `unrouted` error.
    Reject,
}

/// `[lookups.NAME]`: a reference table, loaded once.
#[derive(Debug, Clone)]
pub struct Lookup {
    pub name: String,
    pub path: PathBuf,
    /// Key columns, in order.
    pub key: Vec<String>,
    pub ignore_case: bool,
    pub trim: bool,
    pub delimiter: Option<u8>,
    /// Where the lookup is declared.
    pub span: Range<usize>,
}

/// `[[enrich]]`: fields added from a lookup.
#[derive(Debug, Clone)]
pub struct Enrich {
    /// Index into `Plan::lookups`.
    pub lookup: usize,
    /// The row field matched against each key column, in the lookup's key order.
    pub matches: Vec<String>,
    /// New field ← lookup column.
    pub adds: Vec<(String, String)>,
    pub on_miss: OnMiss,
    /// Where `match` is written, for issues and diagnostics.
    pub span: Range<usize>,
}

/// `on_miss`: what a row whose key is not in the lookup gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OnMiss {
    /// A `lookup-miss` error: the row is rejected.
    Reject,
    /// The added fields are null.
    Null,
    /// The added fields take these values (one per `add`, in order).
    Default(Vec<String>),
}

/// `[targets.NAME]`: one output.
#[derive(Debug, Clone)]
pub struct Target {
    pub name: String,
    pub path: PathTemplate,
    pub format: Format,
    pub when: Option<SqlExpr>,
    pub columns: Vec<(String, SqlExpr)>,
    pub passthrough: bool,
    pub batch_size: Option<u64>,
    pub csv: CsvOptions,
    pub span: Range<usize>,
}

/// A compiled SQL expression and where it was written.
#[derive(Debug, Clone)]
pub struct SqlExpr {
    pub text: String,
    pub expr: Expr,
    pub span: Range<usize>,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Tsv,
    Json,
    Ndjson,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Tsv => "tsv",
            Format::Json => "json",
            Format::Ndjson => "ndjson",
        }
    }
}

/// CSV and TSV writing options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CsvOptions {
    pub delimiter: u8,
    pub quote_style: QuoteStyle,
    pub crlf: bool,
    pub bom: bool,
    pub header: bool,
}

/// When a CSV field is quoted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuoteStyle {
    Necessary,
    Always,
    NonNumeric,
    Never,
}

/// A target path: literal text, `{field}` and `{batch}` placeholders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathTemplate {
    pub text: String,
    pub parts: Vec<PathPart>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathPart {
    Text(String),
    Field(String),
    Batch,
}

impl PathTemplate {
    /// The fields the path is partitioned by, in order.
    pub fn fields(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            PathPart::Field(f) => Some(f.as_str()),
            _ => None,
        })
    }

    pub fn has_batch(&self) -> bool {
        self.parts.contains(&PathPart::Batch)
    }
}

/// A declared data structure.
#[derive(Debug, Clone)]
pub struct Structure {
    pub name: String,
    pub fields: Vec<Field>,
    pub checks: Vec<Check>,
    pub unique: Vec<UniqueKey>,
}

impl Structure {
    pub fn field_index(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.name == name)
    }
}

/// A declared field and its rules.
#[derive(Debug, Clone)]
pub struct Field {
    pub name: String,
    /// The source header it reads.
    pub column: String,
    /// Where the field (or its `column`) is declared, for diagnostics about the header.
    pub span: Range<usize>,
    pub ty: FieldType,
    pub trim: bool,
    pub type_severity: Severity,
    pub required: Option<Severity>,
    pub pattern: Option<(String, Severity)>,
    pub enum_rule: Option<EnumRule>,
    pub min: Option<Bound>,
    pub max: Option<Bound>,
    pub range_severity: Severity,
    pub min_length: Option<u64>,
    pub max_length: Option<u64>,
    pub length_severity: Severity,
}

/// `enum = [...]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnumRule {
    pub values: Vec<String>,
    pub ignore_case: bool,
    pub severity: Severity,
}

/// A `min` or `max`, as canonical text the field's type parses (`12.5`, `2024-01-31`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bound {
    pub canonical: String,
    /// As the user wrote it, for messages.
    pub shown: String,
}

/// The declared types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldType {
    String,
    Integer {
        thousands: Option<char>,
    },
    Decimal {
        scale: u32,
        decimal: char,
        thousands: Option<char>,
    },
    Number {
        decimal: char,
        thousands: Option<char>,
    },
    Boolean {
        true_values: Vec<String>,
        false_values: Vec<String>,
    },
    Date {
        formats: Vec<String>,
    },
    Datetime {
        formats: Vec<String>,
    },
    Email,
    Url,
    Uuid,
}

pub const TYPE_NAMES: [&str; 10] = [
    "string", "integer", "decimal", "number", "boolean", "date", "datetime", "email", "url", "uuid",
];

/// Decimal places kept when a `decimal` field does not declare `scale`.
pub const DEFAULT_DECIMAL_SCALE: u32 = 6;

/// Precision of every decimal column: the largest polars allows.
pub const DECIMAL_PRECISION: usize = 38;

impl FieldType {
    pub fn name(&self) -> &'static str {
        match self {
            FieldType::String => "string",
            FieldType::Integer { .. } => "integer",
            FieldType::Decimal { .. } => "decimal",
            FieldType::Number { .. } => "number",
            FieldType::Boolean { .. } => "boolean",
            FieldType::Date { .. } => "date",
            FieldType::Datetime { .. } => "datetime",
            FieldType::Email => "email",
            FieldType::Url => "url",
            FieldType::Uuid => "uuid",
        }
    }

    /// The polars type a valid value is held in.
    pub fn dtype(&self) -> DataType {
        match self {
            FieldType::String | FieldType::Email | FieldType::Url | FieldType::Uuid => {
                DataType::String
            }
            FieldType::Integer { .. } => DataType::Int64,
            FieldType::Decimal { scale, .. } => {
                DataType::Decimal(DECIMAL_PRECISION, *scale as usize)
            }
            FieldType::Number { .. } => DataType::Float64,
            FieldType::Boolean { .. } => DataType::Boolean,
            FieldType::Date { .. } => DataType::Date,
            FieldType::Datetime { .. } => DataType::Datetime(TimeUnit::Microseconds, None),
        }
    }

    /// Whether `min`/`max` apply (ordered types).
    pub fn is_ordered(&self) -> bool {
        matches!(
            self,
            FieldType::Integer { .. }
                | FieldType::Decimal { .. }
                | FieldType::Number { .. }
                | FieldType::Date { .. }
                | FieldType::Datetime { .. }
        )
    }

    /// Whether surrounding white space is always stripped before parsing.
    pub fn strips_space(&self) -> bool {
        !matches!(self, FieldType::String)
    }
}

/// A cross-field rule, compiled.
#[derive(Debug, Clone)]
pub struct Check {
    pub name: String,
    pub rule: String,
    pub expr: Expr,
    /// Index of the field the issue is reported on.
    pub field: Option<usize>,
    pub message: String,
    pub severity: Severity,
}

/// A `unique` key over one or more fields (indexes into `Structure::fields`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UniqueKey {
    pub fields: Vec<usize>,
    pub severity: Severity,
}
