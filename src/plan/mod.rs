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
pub mod schema;

mod arith;
mod bind;
mod compile;
mod paths;

pub use arith::{checked as checked_arithmetic, schema as typed_schema};
pub use bind::{Binding, RowField, RowOrigin, bind, find_column};
pub use compile::{hex, parse_sql, sheet_name_problem};

/// The folder, under the output folder, that holds the report: no target may write there.
pub const REPORT_DIR: &str = "_report";

/// The columns `rejects.csv` adds to the input's: where each row was, and why it was rejected.
/// An input that ends with them is a `rejects.csv` fed back.
pub const REJECT_COLUMNS: [&str; 3] = ["_row", "_line", "_errors"];

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
    #[error(
        "`{}` is a data file, not a mapping: rowferry reads a data file through a mapping (a TOML file) that says what it holds and where its rows go. Let rowferry write one from the file — `rowferry infer {} --out mapping.toml` —, check its guesses, then run `rowferry run mapping.toml`", .0.display(), .0.display()
    )]
    DataFile(PathBuf),
}

/// Reads and compiles the mapping at `path`. `input` replaces `[source] path` (the `--input`
/// flag), resolved against the working directory rather than the mapping file.
/// `sets` are the `--set KEY=VALUE` overrides; `${VAR}` in values reads the environment.
pub fn load(path: &Path, input: Option<&Path>, sets: &[SetArg]) -> Result<Plan, PlanError> {
    let data_file = || PlanError::DataFile(path.to_path_buf());
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData && is_data_file(path) => {
            return Err(data_file());
        }
        Err(source) => {
            return Err(PlanError::Read {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    match parse(path, &text, input, sets) {
        // A mapping that does not parse, named like an export: the export itself was given.
        Err(PlanError::Invalid(_))
            if is_data_file(path) && toml::from_str::<toml::Table>(&text).is_err() =>
        {
            Err(data_file())
        }
        other => other,
    }
}

/// Whether `path` is named like an export rowferry reads (a CSV, a workbook), not a mapping.
fn is_data_file(path: &Path) -> bool {
    const DATA: [&str; 10] = [
        "csv", "tsv", "tab", "txt", "xlsx", "xlsm", "xlsb", "xls", "ods", "psv",
    ];
    path.extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .is_some_and(|e| DATA.contains(&e.as_str()))
}

/// Compiles a mapping from its text, as [`load`] does from its file: `path` names it in
/// diagnostics, and its relative paths are relative to `path`'s folder.
pub fn parse(
    path: &Path,
    text: &str,
    input: Option<&Path>,
    sets: &[SetArg],
) -> Result<Plan, PlanError> {
    compile::compile(path, text, input, sets).map_err(|d| PlanError::Invalid(Box::new(d)))
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
    /// `[notify]`: the webhook told how the run ended, if any.
    pub notify: Option<Notify>,
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

/// How to read the export (or a lookup table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcePlan {
    pub path: PathBuf,
    /// `None`: told from the file's content, then its extension.
    pub format: Option<InputFormat>,
    /// `None`: sniffed from the first lines.
    pub delimiter: Option<u8>,
    /// `None`: sniffed from the first lines (`"` when nothing tells).
    pub quote: Option<u8>,
    pub escape: Option<u8>,
    pub comment: Option<u8>,
    /// `None`: detected (BOM, valid UTF-8, else a statistical guess among legacy encodings).
    pub encoding: Option<&'static encoding_rs::Encoding>,
    /// 1-based line (CSV) or sheet row (spreadsheet) of the header record. `None`: detected
    /// (the first line or row, unless a title block sits above the header).
    pub header_row: Option<u64>,
    /// Whether the first record is a header. `None`: sniffed.
    pub header: Option<bool>,
    pub header_names: HeaderNames,
    /// Spreadsheets: which sheet. `None`: the first visible one.
    pub sheet: Option<SheetRef>,
    /// Spreadsheets: the cells to read. `None`: the sheet's used cells.
    pub range: Option<CellRange>,
    /// The longest field accepted. CSV: a longer one is a runaway quote (`bad-quoting`).
    /// Workbooks: a longer cell rejects its row (`field-too-long`), and a value whose XML text
    /// passes [`VALUE_BYTES_PER_FIELD_BYTE`] times this stops the run before it is unpacked.
    pub max_field_bytes: u64,
    /// Workbooks: the most bytes a part of the workbook that is read whole into memory (the
    /// shared strings, an xlsb sheet, an ods `content.xml`) may unpack to.
    pub max_part_bytes: u64,
    /// Header names the mapping expects (the declared fields' columns), a hint for finding
    /// the header below a title block. Empty when nothing is declared.
    pub expected_columns: Vec<String>,
}

/// The default of `max_field_bytes`: 1 MiB.
pub const DEFAULT_MAX_FIELD_BYTES: u64 = 1 << 20;

/// The default of `max_part_bytes`: 1 GiB.
pub const DEFAULT_MAX_PART_BYTES: u64 = 1 << 30;

/// A workbook value's XML text (escaped: `&quot;` is six bytes for one) may be this many times
/// `max_field_bytes` before the workbook is refused rather than read.
pub const VALUE_BYTES_PER_FIELD_BYTE: u64 = 8;

impl SourcePlan {
    /// Reading `path` with every option left to detection.
    pub fn detect(path: PathBuf) -> Self {
        SourcePlan {
            path,
            format: None,
            delimiter: None,
            quote: None,
            escape: None,
            comment: None,
            encoding: None,
            header_row: None,
            header: None,
            header_names: HeaderNames::Strict,
            sheet: None,
            range: None,
            max_field_bytes: DEFAULT_MAX_FIELD_BYTES,
            max_part_bytes: DEFAULT_MAX_PART_BYTES,
            expected_columns: Vec::new(),
        }
    }
}

/// The format of an input file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputFormat {
    Csv,
    /// Any workbook calamine reads: xlsx, xlsm, xlsb, xls, ods.
    Spreadsheet,
}

/// `header_names`: what a blank or repeated header name does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderNames {
    /// Stops the run, naming the columns (the default).
    Strict,
    /// A blank name becomes `column_N` (N its 1-based position), a repeated one `name_2`, `name_3`…
    Rename,
}

/// `sheet`: by name or by 1-based position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SheetRef {
    Name(String),
    /// 1-based, in workbook order (hidden sheets count).
    Index(usize),
}

/// `range = "A5:F15"`: 1-based, inclusive. An open end (`A3:K`, `A3`) reads to the sheet's last
/// used row or column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CellRange {
    pub first_row: u32,
    pub first_col: u32,
    pub last_row: Option<u32>,
    pub last_col: Option<u32>,
}

impl CellRange {
    /// Parses `A5:F15`, `A3:K`, `B2`, `A:F`; `None` when it is not a range.
    pub fn parse(text: &str) -> Option<CellRange> {
        fn cell(s: &str) -> Option<(Option<u32>, Option<u32>)> {
            let s = s.trim();
            let split = s.find(|c: char| c.is_ascii_digit()).unwrap_or(s.len());
            let (letters, digits) = s.split_at(split);
            if !letters.chars().all(|c| c.is_ascii_alphabetic()) || letters.len() > 3 {
                return None;
            }
            let col = if letters.is_empty() {
                None
            } else {
                Some(letters.chars().try_fold(0u32, |acc, c| {
                    Some(acc * 26 + (c.to_ascii_uppercase() as u32 - 'A' as u32 + 1))
                })?)
            };
            let row = if digits.is_empty() {
                None
            } else {
                match digits.parse::<u32>() {
                    Ok(r) if r >= 1 => Some(r),
                    _ => return None,
                }
            };
            if col.is_none() && row.is_none() {
                return None;
            }
            Some((row, col))
        }
        let (start, end) = match text.split_once(':') {
            Some((a, b)) => (cell(a)?, Some(cell(b)?)),
            None => (cell(text)?, None),
        };
        let range = CellRange {
            first_row: start.0.unwrap_or(1),
            first_col: start.1.unwrap_or(1),
            last_row: end.and_then(|e| e.0),
            last_col: end.and_then(|e| e.1),
        };
        if range.last_row.is_some_and(|r| r < range.first_row)
            || range.last_col.is_some_and(|c| c < range.first_col)
        {
            return None;
        }
        Some(range)
    }
}

/// Thresholds that stop a run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunPolicy {
    pub max_errors: Option<u64>,
    pub max_error_rate: Option<f64>,
    pub min_rows: u64,
    pub unrouted: Unrouted,
    pub max_open_files: usize,
    pub formula_guard: FormulaGuard,
    /// Bytes of grouped rows held in memory before they spill to disk.
    pub group_memory: usize,
}

/// `[notify]`: one `POST` to a webhook when a run ends.
///
/// The URL's path is often its secret (Slack's `/services/T…/B…/…` is a token): it is never
/// shown, not even by `Debug`, nor written to a file.
#[derive(Clone, PartialEq, Eq)]
pub struct Notify {
    pub url: String,
    pub on: NotifyOn,
    /// `run` posts (`commands`).
    pub run: bool,
    /// `validate` and `run --dry-run` post (`commands`).
    pub validate: bool,
    /// How long to wait for the webhook (each step: connect, send, answer).
    pub timeout: std::time::Duration,
}

impl std::fmt::Debug for Notify {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notify")
            .field("url", &"***")
            .field("on", &self.on)
            .field("run", &self.run)
            .field("validate", &self.validate)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// `[notify] on`: which endings post.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifyOn {
    /// Every ending.
    Always,
    /// A run that failed (an error, or no row written) or that a threshold stopped.
    Failure,
    /// A failure, or a completed run with rejected rows.
    Rejects,
}

/// `[run] formula_guard`: text in CSV targets that a spreadsheet would run as a formula.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormulaGuard {
    /// A `formula-risk` warning; the value is written as it is.
    Warn,
    /// The value is written with a leading `'`, and a `formula-risk` warning says so.
    Escape,
    /// Nothing.
    Off,
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
    /// Key columns, in order.
    pub key: Vec<String>,
    pub ignore_case: bool,
    pub trim: bool,
    /// How the table's file is read (its header is row 1 unless a range says otherwise). A
    /// remote lookup has no file: its path is empty.
    pub source: SourcePlan,
    /// Where the rows come from: the file at `source`, or a database or an API.
    pub read: LookupRead,
    /// Where the lookup is declared.
    pub span: Range<usize>,
}

impl Lookup {
    /// Whether the lookup is read from a server (PostgreSQL, an HTTP API) rather than a file.
    pub fn is_remote(&self) -> bool {
        matches!(self.read, LookupRead::Postgres { .. } | LookupRead::Api(_))
    }

    /// Where the rows come from, as the terminal and the report show it: the file, or the
    /// server's URL with no password nor token.
    pub fn location(&self) -> String {
        match &self.read {
            LookupRead::File | LookupRead::Sqlite(_) => self.source.path.display().to_string(),
            LookupRead::Postgres { server, .. } => server.shown.clone(),
            LookupRead::Api(api) => api.shown.clone(),
        }
    }
}

/// Where a lookup's rows are read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupRead {
    /// A CSV file or a workbook, read as `source` says.
    File,
    /// A table or query of the SQLite database at `source.path`.
    Sqlite(DatabaseRead),
    /// A table or query on a PostgreSQL server, read in a read-only transaction.
    Postgres { server: Server, read: DatabaseRead },
    /// The records of an HTTP API.
    Api(ApiRead),
}

/// What a lookup reads of a database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseRead {
    /// Every row of a table (PostgreSQL: `schema.table` names a schema).
    Table(String),
    /// The rows of a query.
    Query(String),
}

/// An API lookup: its records are read with `GET`, page after page (`Link: rel="next"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiRead {
    /// The first page's URL: a secret, as it may hold a token.
    pub url: Secret,
    /// The URL with its secrets masked: what the terminal and the report show.
    pub shown: String,
    /// A JSON pointer to the array of records in each page (`/data/items`).
    pub records: Option<String>,
    /// Sent with every request; the values are secrets (tokens, keys).
    pub headers: Vec<(String, Secret)>,
    /// The longest wait at any step of a request.
    pub timeout: std::time::Duration,
}

/// An SQL identifier, quoted: whatever the name holds, it is one name (`"` doubled).
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
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
    /// A field's `exists_in` rule rather than an `[[enrich]]` step: nothing is added, and a
    /// miss is `not-in-lookup` with this severity.
    pub existence: Option<Severity>,
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
    /// How values become text (CSV, JSON): dates, date-times, decimals.
    pub text: TextOptions,
    /// Per output column: how it is written (`columns.X = { value, format, ... }`).
    pub column_formats: Vec<(String, ColumnFormat)>,
    /// XLSX: the worksheet's name.
    pub sheet: String,
    /// JSON/NDJSON: the fields whose values make one record each.
    pub group_by: Vec<String>,
    /// JSON: the object path wrapping the array of records.
    pub envelope: Option<Vec<String>>,
    /// Databases: the table rows are loaded into, and how.
    pub table: Option<TableLoad>,
    /// HTTP: the import API its batch files are sent to once the run has committed them.
    pub delivery: Option<Http>,
    pub span: Range<usize>,
}

/// A database target's table: where its rows are loaded, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableLoad {
    /// The table's name; for PostgreSQL, `schema.table` names a schema.
    pub table: String,
    pub mode: LoadMode,
    /// The output columns that identify a row: the table's primary key.
    pub key: Vec<String>,
    /// PostgreSQL: the server the table is on.
    pub server: Option<Server>,
    /// SQLite: an existing database outside the output folder (`database`), written in place
    /// in one transaction; `None` for a database built in the output folder (`path`).
    pub database: Option<PathBuf>,
    /// PostgreSQL: create the table from the plan's types when it does not exist.
    pub create: bool,
}

/// How rows go into a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadMode {
    /// Every row is a new row; a key seen twice is refused by the database.
    Insert,
    /// The table is emptied first, in the run's transaction (PostgreSQL).
    Truncate,
    /// A row whose key is already in the table replaces it: the last row of a key wins.
    Upsert,
}

/// An HTTP import API: where a target's batch files are sent, and how.
#[derive(Debug, Clone, PartialEq)]
pub struct Http {
    pub url: Secret,
    /// The URL with its secrets masked: what the terminal and the report show.
    pub shown: String,
    /// `POST`, `PUT` or `PATCH`.
    pub method: String,
    /// Header names and their values (secrets).
    pub headers: Vec<(String, Secret)>,
    pub timeout: std::time::Duration,
    pub max_retries: u32,
    pub rate_limit: Option<f64>,
    pub concurrency: usize,
}

/// A database server a run loads tables into: its connection URL, a secret, and how the URL is
/// shown (its password masked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    pub url: Secret,
    /// The URL without its password: what the terminal and the report show.
    pub shown: String,
}

/// A value that must never be printed nor written: it shows as `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Secret(value)
    }

    /// The value itself, for the one place that needs it (a connection).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// Target-wide text forms; a column's [`ColumnFormat`] overrides them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TextOptions {
    /// strftime; `None` is ISO `2024-01-31`.
    pub date_format: Option<String>,
    /// strftime; `None` is ISO `2024-01-31T10:00:00`.
    pub datetime_format: Option<String>,
    /// `None` is `.`.
    pub decimal_separator: Option<char>,
}

/// How one output column is written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ColumnFormat {
    /// Dates and date-times: strftime (CSV, JSON) or an Excel number format (XLSX).
    pub format: Option<String>,
    pub decimal_separator: Option<char>,
}

impl Target {
    /// A database target's file (its path: one file, without placeholders); `None` for a
    /// target of files. Targets with the same file load tables of one database.
    pub fn database_file(&self) -> Option<&str> {
        (self.format == Format::Sqlite && self.existing_database().is_none())
            .then_some(self.path.text.as_str())
    }

    /// A SQLite target's existing database outside the output folder (`database`).
    pub fn existing_database(&self) -> Option<&Path> {
        self.table.as_ref().and_then(|t| t.database.as_deref())
    }

    /// Whether the load stage writes the target (a table on a server or in an existing
    /// database file), not a writer thread.
    pub fn is_loaded(&self) -> bool {
        self.table.is_some()
    }

    /// A PostgreSQL target's server; `None` for a target written into the output folder.
    pub fn server(&self) -> Option<&Server> {
        self.table.as_ref().and_then(|t| t.server.as_ref())
    }

    /// Where the target's rows go, as the terminal and the report show it: its path, or its
    /// server's URL without the password.
    pub fn location(&self) -> String {
        match (self.server(), self.existing_database()) {
            (Some(s), _) => s.shown.clone(),
            (None, Some(db)) => db.display().to_string(),
            (None, None) => self.path.text.clone(),
        }
    }

    /// The format's name as the mapping gives it: `http` for a target sent to an API (its
    /// files are JSON or NDJSON).
    pub fn format_name(&self) -> &'static str {
        match self.delivery {
            Some(_) => "http",
            None => self.format.name(),
        }
    }

    /// The format declared for output column `name`, if any.
    pub fn column_format(&self, name: &str) -> Option<&ColumnFormat> {
        self.column_formats
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, f)| f)
    }
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
    Xlsx,
    /// A SQLite database file: one table per target.
    Sqlite,
    /// A table on a PostgreSQL server, loaded in the run's transaction.
    Postgres,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Tsv => "tsv",
            Format::Json => "json",
            Format::Ndjson => "ndjson",
            Format::Xlsx => "xlsx",
            Format::Sqlite => "sqlite",
            Format::Postgres => "postgres",
        }
    }

    /// A database: rows go into typed tables, not into text.
    pub fn is_database(self) -> bool {
        matches!(self, Format::Sqlite | Format::Postgres)
    }
}

/// CSV and TSV writing options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvOptions {
    pub delimiter: u8,
    pub quote_style: QuoteStyle,
    pub crlf: bool,
    pub bom: bool,
    pub header: bool,
    /// The file's encoding: UTF-8, UTF-16 (LE/BE) or a single- or multi-byte legacy encoding.
    pub encoding: &'static encoding_rs::Encoding,
    /// The text of a null value.
    pub null: String,
}

impl CsvOptions {
    /// Whether text must be transcoded from UTF-8.
    pub fn transcodes(&self) -> bool {
        self.encoding != encoding_rs::UTF_8
    }
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
    /// `exists_in`: the lookup the value must be a key of, where it is written, and the
    /// severity of a miss (`not-in-lookup`).
    pub exists_in: Option<(String, Range<usize>, Severity)>,
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

#[cfg(test)]
mod tests {
    use super::CellRange;

    fn r(
        first_row: u32,
        first_col: u32,
        last_row: Option<u32>,
        last_col: Option<u32>,
    ) -> CellRange {
        CellRange {
            first_row,
            first_col,
            last_row,
            last_col,
        }
    }

    #[test]
    fn cell_ranges_parse_with_open_ends() {
        assert_eq!(CellRange::parse("A5:F15"), Some(r(5, 1, Some(15), Some(6))));
        assert_eq!(CellRange::parse("a3:k"), Some(r(3, 1, None, Some(11))));
        assert_eq!(CellRange::parse("B2"), Some(r(2, 2, None, None)));
        assert_eq!(CellRange::parse("A:F"), Some(r(1, 1, None, Some(6))));
        assert_eq!(
            CellRange::parse("AA10:AB20"),
            Some(r(10, 27, Some(20), Some(28)))
        );
        for bad in [
            "", ":", "5A", "A0", "F15:A5", "A5:A4", "ABCD1", "A1:B2:C3", "A-1",
        ] {
            assert_eq!(CellRange::parse(bad), None, "{bad}");
        }
    }
}
