//! The sink's first half: each target's columns as text, and the checks a value must pass to
//! be written.
//!
//! [`Projector`] runs on the compute thread, before a chunk is reported, because what it finds
//! changes the report: per target it evaluates the `columns` expressions over the rows routed
//! there (vectorised), turns every value into its text — canonical, or as the target's
//! `date_format`, `datetime_format` and `decimal_separator` say — and then checks each value
//! against the file it goes to:
//!
//! - `unencodable` (an error: the row is rejected, and written to no target): a character the
//!   CSV target's `encoding` does not have; a delimiter, quote or line break in a value of a
//!   `quote_style = "never"` target; text longer than an XLSX cell holds (32,767 characters); a
//!   column its expression cannot compute for the row (`CAST(price * 100 AS INTEGER)` past the
//!   range of an INTEGER). Such rows are found by halving the chunk's rows until each failing
//!   one is alone, only when the target's query fails; a dry run evaluates the columns no check
//!   reads for this alone, so that it rejects what a run would.
//! - `formula-risk` (a warning): text in a CSV target that starts with `=`, `+`, `-`, `@`, a tab
//!   or a carriage return, which a spreadsheet may run as a formula. `[run] formula_guard`
//!   decides: `warn` writes it unchanged, `escape` writes it with a leading `'`, `off` says
//!   nothing. Numbers and phone numbers (`-12.5`, `+33 6 12 34 56 78`) call nothing and are not
//!   reported.
//!
//! A dry run (`validate`) projects only the columns a check reads. When each of them is a field
//! as it stands or a text literal, it is checked over the whole chunk in place, and only what is
//! found on the rows the target takes is kept: no filtered copy and no query per target and
//! chunk (a third of the main thread's time on the shipped mapping).
//!
//! A run hands each target its columns: over every row of the chunk, with the rows it takes,
//! when each column is a field as it stands, a literal, or a price in cents
//! (`CAST(price * 100 AS INTEGER)`, computed here exactly as polars computes it) — no filtered
//! copy, no query; else through one query that filters the chunk and evaluates the expressions.
//!
//! The writer threads ([`super::Sinks`]) then only write the text they are handed. Numbers, dates
//! and booleans in their canonical text, which no check reads, are handed typed to a CSV or JSON
//! target (not grouped): the writer writes their text straight into the file's buffer (see
//! `sink/cells.rs`).

use polars::chunked_array::cast::CastOptions;
use polars::prelude::{
    BooleanChunked, ChunkFilter, ChunkFull, Column, DataFrame, DataType, DataTypeExpr, Expr,
    Int32Chunked, Int64Chunked, IntoColumn, IntoLazy, LiteralValue, NewChunkedArray, Operator,
    PolarsError, StringChunked, UnknownKind, col,
};
use polars_arrow::array::{Array, PrimitiveArray};

use super::SinkError;
use super::cells::Values;
use super::encode::{self, Kind, TextColumn};
use super::transcode;
use crate::issue::{Code, Issue, Severity};
use crate::plan::{Binding, Format, FormulaGuard, Plan, QuoteStyle, Target};

use super::xlsx::MAX_CELL_CHARS as XLSX_CELL_CHARS;

/// How one output column's values become text.
#[derive(Debug, Clone, Default)]
struct ColumnText {
    date: Option<String>,
    datetime: Option<String>,
    decimal: Option<char>,
}

/// One target's projection.
struct Projection {
    target: Target,
    /// Output columns, then `{field}` partition fields, then `group_by` fields.
    exprs: Vec<Expr>,
    names: Vec<String>,
    texts: Vec<ColumnText>,
    parts: usize,
    groups: usize,
    /// Dry runs: the output columns a check reads.
    checked: std::sync::OnceLock<Vec<usize>>,
}

/// The rows of one chunk that one target takes, as text.
pub struct TargetRows {
    pub columns: Vec<TextColumn>,
    /// The `{field}` values of each row, one column per placeholder.
    pub partition: Vec<StringChunked>,
    /// The `group_by` values of each row.
    pub group: Vec<StringChunked>,
    /// The rows taken, in order, when the columns hold every row of the chunk (a target whose
    /// columns are fields as they stand or literals, which need no filtered copy); `None` when
    /// the columns hold only the rows taken.
    pub at: Option<Vec<usize>>,
    /// How many rows are taken.
    pub len: usize,
}

impl TargetRows {
    /// The rows of the columns to write, in order.
    pub fn rows(&self) -> Vec<usize> {
        match &self.at {
            Some(at) => at.clone(),
            None => (0..self.len).collect(),
        }
    }
}

/// A chunk, projected for every target (`None`: the target takes no row of it, or the run is
/// dry).
pub struct Projected {
    pub targets: Vec<Option<TargetRows>>,
    /// The rows each target takes, after the checks.
    pub rows: Vec<u64>,
}

/// What the checks found in a chunk.
#[derive(Debug, Default)]
pub struct Checked {
    /// Rows rejected by a check (they were accepted and routed before).
    pub rejected: u64,
}

/// Output column names and their expressions: every field first for a passthrough target.
///
/// Integer arithmetic in the expressions is checked: a value past its type's range fails the
/// row's column instead of wrapping (see [`crate::plan::checked_arithmetic`]).
pub fn output_columns(t: &Target, binding: &Binding) -> (Vec<String>, Vec<Expr>) {
    let schema = crate::plan::typed_schema(
        binding
            .row
            .iter()
            .map(|f| (f.name.as_str(), f.dtype.clone())),
    );
    let checked =
        |sql: &crate::plan::SqlExpr| crate::plan::checked_arithmetic(sql.expr.clone(), &schema);
    let mut exprs = Vec::new();
    let mut names: Vec<String> = Vec::new();
    if t.passthrough {
        for f in &binding.row {
            let replaced = t.columns.iter().find(|(n, _)| n == &f.name);
            exprs.push(match replaced {
                Some((_, sql)) => checked(sql),
                None => col(f.name.as_str()),
            });
            names.push(f.name.clone());
        }
    }
    for (name, sql) in &t.columns {
        if names.contains(name) {
            continue;
        }
        exprs.push(checked(sql));
        names.push(name.clone());
    }
    (names, exprs)
}

/// The header a CSV or TSV target writes: its column names, each that starts like a formula
/// (`=HYPERLINK(…)` as a column of the input, passed through) written with a leading `'` under
/// `formula_guard = "escape"`, and a `formula-risk` warning on the header row for each unless
/// the guard is off.
pub fn csv_header(
    t: &Target,
    names: &[String],
    guard: FormulaGuard,
    header_row: u64,
) -> (Vec<String>, Vec<Issue>) {
    if !matches!(t.format, Format::Csv | Format::Tsv) || guard == FormulaGuard::Off {
        return (names.to_vec(), Vec::new());
    }
    let mut issues = Vec::new();
    let header = names
        .iter()
        .map(|n| {
            if !formula_risk(n) {
                return n.clone();
            }
            let (written, how) = match guard {
                FormulaGuard::Escape => (format!("'{n}"), "written with a leading `'`"),
                _ => (
                    n.clone(),
                    "written unchanged (set [run] formula_guard = \"escape\" to neutralise it)",
                ),
            };
            issues.push(Issue {
                row: header_row,
                line: header_row,
                code: Code::FormulaRisk,
                severity: Severity::Warning,
                field: n.clone(),
                column: n.clone(),
                value: n.clone(),
                message: format!(
                    "target `{}`: the column name starts like a formula, which a spreadsheet may run when the file is opened; {how}",
                    t.name
                ),
            });
            written
        })
        .collect();
    (header, issues)
}

/// Projects and checks every target's rows, chunk by chunk.
pub struct Projector {
    targets: Vec<Projection>,
    guard: FormulaGuard,
    /// `validate`: nothing is written, so only what the checks read is projected.
    dry_run: bool,
}

impl Projector {
    pub fn new(plan: &Plan, binding: &Binding, dry_run: bool) -> Self {
        let targets = plan
            .targets
            .iter()
            .map(|t| {
                let (names, exprs) = output_columns(t, binding);
                let texts = names
                    .iter()
                    .map(|n| {
                        let cf = t.column_format(n);
                        let format = cf.and_then(|c| c.format.clone());
                        ColumnText {
                            date: format.clone().or_else(|| t.text.date_format.clone()),
                            datetime: format.or_else(|| t.text.datetime_format.clone()),
                            decimal: cf
                                .and_then(|c| c.decimal_separator)
                                .or(t.text.decimal_separator),
                        }
                    })
                    .collect();
                let mut all: Vec<Expr> = exprs
                    .into_iter()
                    .enumerate()
                    .map(|(i, e)| e.alias(format!("\u{1}o{i}")))
                    .collect();
                let fields: Vec<&str> = t.path.fields().collect();
                all.extend(
                    fields
                        .iter()
                        .enumerate()
                        .map(|(k, f)| col(*f).alias(format!("\u{1}p{k}"))),
                );
                all.extend(
                    t.group_by
                        .iter()
                        .enumerate()
                        .map(|(k, f)| col(f.as_str()).alias(format!("\u{1}g{k}"))),
                );
                Projection {
                    target: t.clone(),
                    exprs: all,
                    names,
                    texts,
                    parts: fields.len(),
                    groups: t.group_by.len(),
                    checked: std::sync::OnceLock::new(),
                }
            })
            .collect();
        Projector {
            targets,
            guard: plan.run.formula_guard,
            dry_run,
        }
    }

    /// Projects the rows each mask selects and checks them. Rows a check rejects are marked in
    /// `rejected`, get their issues in `issues`, and are left out of every target.
    pub fn project(
        &self,
        row: &DataFrame,
        masks: &[BooleanChunked],
        (rows, lines): (&[u64], &[u64]),
        rejected: &mut [bool],
        issues: &mut Vec<Issue>,
    ) -> Result<(Projected, Checked), SinkError> {
        let first_row = rows.first().copied().unwrap_or(0);
        let mut out = Vec::with_capacity(masks.len());
        let mut rejects: Vec<bool> = vec![false; row.height()];
        let mut positions: Vec<Vec<usize>> = Vec::with_capacity(masks.len());
        for (p, mask) in self.targets.iter().zip(masks) {
            if !mask.any() {
                out.push(None);
                positions.push(Vec::new());
                continue;
            }
            let engine = |source| SinkError::Engine {
                target: p.target.name.clone(),
                row: first_row,
                source,
            };
            let mut at = crate::mask::true_positions(mask);
            // A dry run projects only the columns a check reads.
            let cols_wanted: Vec<usize> = if self.dry_run {
                self.checked_columns(p, row).map_err(engine)?
            } else {
                (0..p.names.len()).collect()
            };
            // A row whose value a column cannot be computed for (an integer past its type's
            // range) is rejected: in a run when the target's query fails on it, in a dry run by
            // evaluating the columns no check reads as well, so that it rejects what a run would.
            let mut uncomputable = |cols: &[usize], at: &mut Vec<usize>| {
                let failing = failing_rows(row, at, &p.exprs, cols);
                for &(r, ci, ref reason) in &failing {
                    rejects[r] = true;
                    issues.push(Issue {
                        row: rows[r],
                        line: lines[r],
                        code: Code::Unencodable,
                        severity: Severity::Error,
                        field: p.names[ci].clone(),
                        column: String::new(),
                        value: String::new(),
                        message: uncomputable_message(p, ci, reason),
                    });
                }
                at.retain(|r| !failing.iter().any(|f| f.0 == *r));
                !failing.is_empty()
            };
            if self.dry_run {
                let unchecked: Vec<usize> = (0..p.names.len())
                    .filter(|i| !cols_wanted.contains(i))
                    .filter(|&i| !plain(&p.exprs[i]))
                    .filter(|&i| in_place(&p.exprs[i], row, mask).is_none())
                    .collect();
                let exprs: Vec<Expr> = unchecked.iter().map(|&i| p.exprs[i].clone()).collect();
                if !exprs.is_empty() && select_where(row, mask, exprs).is_err() {
                    uncomputable(&unchecked, &mut at);
                }
            }
            // The rows the target still takes, when some were rejected above.
            let reduced = (at.len() != mask.sum().unwrap_or(0) as usize)
                .then(|| crate::mask::from_positions(row.height(), &at));
            let mask = reduced.as_ref().unwrap_or(mask);
            if cols_wanted.is_empty() && self.dry_run {
                out.push(None);
                positions.push(at);
                continue;
            }
            let width = cols_wanted.len();
            // Columns that are fields as they stand (or text literals) are taken over every row
            // of the chunk, without a filtered copy: a dry run checks them at once and keeps what
            // it finds on the rows the target takes; a run hands the writer the rows to write.
            let in_place: Option<Vec<Column>> = if self.dry_run {
                cols_wanted
                    .iter()
                    .map(|&i| in_place(&p.exprs[i], row, mask))
                    .collect()
            } else {
                p.exprs.iter().map(|e| in_place(e, row, mask)).collect()
            };
            let (cols, n, filtered) = match in_place {
                Some(cols) => (cols, row.height(), false),
                None => {
                    let mut exprs: Vec<Expr> =
                        cols_wanted.iter().map(|&i| p.exprs[i].clone()).collect();
                    if !self.dry_run {
                        exprs.extend_from_slice(&p.exprs[p.names.len()..]);
                    }
                    let projected = match select_where(row, mask, exprs.clone()) {
                        Ok(projected) => projected,
                        // Rows a column cannot be computed for are rejected, and the others
                        // projected without them; a failure no row explains is a bug.
                        Err(error) => {
                            if !uncomputable(&cols_wanted, &mut at) {
                                return Err(engine(error));
                            }
                            let kept = crate::mask::from_positions(row.height(), &at);
                            select_where(row, &kept, exprs).map_err(engine)?
                        }
                    };
                    (projected.columns().to_vec(), projected.height(), true)
                }
            };
            // The row of the chunk a projected value is on, if the target takes it.
            let to_row = |i: usize| match filtered {
                true => at.get(i).copied(),
                false => (mask.get(i) == Some(true)).then_some(i),
            };
            // Numbers, dates and booleans in their canonical text stay typed for the writer,
            // unless a check reads every value's text or the rows are gathered into groups.
            let typed = matches!(
                p.target.format,
                Format::Csv | Format::Tsv | Format::Json | Format::Ndjson
            ) && p.target.group_by.is_empty()
                && p.target.csv.quote_style != QuoteStyle::Never
                && !p.target.csv.transcodes();
            let mut columns = Vec::with_capacity(width);
            for (c, &ci) in cols[..width].iter().zip(&cols_wanted) {
                let is_text = c.dtype() == &DataType::String;
                let mut tc = if p.target.format == Format::Xlsx {
                    encode::text(c, n).map_err(engine)?
                } else {
                    formatted(c, n, &p.texts[ci], typed).map_err(|e| SinkError::Format {
                        target: p.target.name.clone(),
                        column: p.names[ci].clone(),
                        message: e,
                    })?
                };
                let mut flag = |r: usize, issue: Issue| {
                    if issue.severity == Severity::Error {
                        rejects[r] = true;
                    }
                    issues.push(issue);
                };
                let issue = |r: usize, code, severity, value: &str, message: String| Issue {
                    row: rows[r],
                    line: lines[r],
                    code,
                    severity,
                    field: p.names[ci].clone(),
                    column: String::new(),
                    value: value.to_string(),
                    message,
                };
                if let Some(escaped) = self.check(p, is_text, &tc, &mut |i, code, sev, v, m| {
                    if let Some(r) = to_row(i) {
                        flag(r, issue(r, code, sev, v, m))
                    }
                }) {
                    tc.values = Values::Text(escaped);
                }
                columns.push(tc);
            }
            if self.dry_run {
                out.push(None);
                positions.push(at);
                continue;
            }
            let keys = |range: std::ops::Range<usize>| -> Result<Vec<StringChunked>, SinkError> {
                cols[range]
                    .iter()
                    .map(|c| {
                        encode::text(c, n)
                            .map(|t| t.values.to_text())
                            .map_err(engine)
                    })
                    .collect()
            };
            let partition = keys(width..width + p.parts)?;
            let group = keys(width + p.parts..width + p.parts + p.groups)?;
            let (taken, len) = match filtered {
                true => (None, n),
                false => (Some(at.clone()), at.len()),
            };
            out.push(Some(TargetRows {
                columns,
                partition,
                group,
                at: taken,
                len,
            }));
            positions.push(at);
        }
        let mut checked = Checked::default();
        if rejects.contains(&true) {
            for (i, r) in rejects.iter().enumerate() {
                if *r && !rejected[i] {
                    rejected[i] = true;
                    checked.rejected += 1;
                }
            }
            // A rejected row goes to no target: drop it from every projection.
            for (slot, at) in out.iter_mut().zip(&positions) {
                let Some(t) = slot else { continue };
                if let Some(taken) = &mut t.at {
                    taken.retain(|i| !rejects[*i]);
                    t.len = taken.len();
                    if t.len == 0 {
                        *slot = None;
                    }
                    continue;
                }
                let keep: Vec<bool> = at.iter().map(|i| !rejects[*i]).collect();
                if keep.iter().all(|k| *k) {
                    continue;
                }
                let keep = BooleanChunked::from_slice("keep".into(), &keep);
                let engine = |source| SinkError::Engine {
                    target: String::new(),
                    row: first_row,
                    source,
                };
                for c in &mut t.columns {
                    c.values = c.values.filter(&keep).map_err(engine)?;
                }
                for c in t.partition.iter_mut().chain(t.group.iter_mut()) {
                    *c = c.filter(&keep).map_err(engine)?;
                }
                t.len = keep.sum().unwrap_or(0) as usize;
                if t.len == 0 {
                    *slot = None;
                }
            }
        }
        let rows_taken = positions
            .iter()
            .map(|at| at.iter().filter(|i| !rejects[**i]).count() as u64)
            .collect();
        Ok((
            Projected {
                targets: out,
                rows: rows_taken,
            },
            checked,
        ))
    }

    /// The output columns of `p` that a check reads: text (numbers, dates and booleans are
    /// written in ASCII, except when a target formats them), and only in targets that check.
    /// Decided once, from the output schema of the first chunk.
    fn checked_columns(
        &self,
        p: &Projection,
        row: &DataFrame,
    ) -> polars::prelude::PolarsResult<Vec<usize>> {
        if let Some(c) = p.checked.get() {
            return Ok(c.clone());
        }
        let t = &p.target;
        let checks = match t.format {
            Format::Json | Format::Ndjson => false,
            Format::Xlsx => true,
            Format::Csv | Format::Tsv => {
                self.guard != FormulaGuard::Off
                    || t.csv.quote_style == QuoteStyle::Never
                    || t.csv.transcodes()
            }
        };
        let mut wanted = Vec::new();
        if checks {
            let schema = row
                .clone()
                .lazy()
                .select(&p.exprs[..p.names.len()])
                .collect_schema()?;
            for (i, dtype) in schema.iter_values().enumerate() {
                let formatted = p.texts[i].date.is_some()
                    || p.texts[i].datetime.is_some()
                    || p.texts[i].decimal.is_some();
                if dtype == &DataType::String
                    || dtype == &DataType::Null
                    || (formatted && t.format != Format::Xlsx)
                {
                    wanted.push(i);
                }
            }
        }
        let _ = p.checked.set(wanted.clone());
        Ok(wanted)
    }

    /// Checks one column of one target; `report(i, code, severity, value, message)` for each
    /// finding at projected row `i`. Returns the column rewritten when `escape` changed values.
    fn check(
        &self,
        p: &Projection,
        is_text: bool,
        column: &TextColumn,
        report: &mut dyn FnMut(usize, Code, Severity, &str, String),
    ) -> Option<StringChunked> {
        let t = &p.target;
        // Typed values (numbers, dates, booleans) go only where no check reads them.
        let text = column.values.as_text()?;
        match t.format {
            Format::Xlsx => {
                if column.kind != Kind::Text {
                    return None;
                }
                for (i, v) in text.iter().enumerate() {
                    // Excel counts UTF-16 code units.
                    if let Some(v) = v
                        && v.len() > XLSX_CELL_CHARS
                        && v.encode_utf16().count() > XLSX_CELL_CHARS
                    {
                        report(
                            i,
                            Code::Unencodable,
                            Severity::Error,
                            v,
                            format!(
                                "target `{}`: {} characters do not fit an XLSX cell (at most {XLSX_CELL_CHARS}); shorten the value, e.g. columns.X = \"left(x, 32000)\", or write a CSV target",
                                t.name,
                                v.encode_utf16().count()
                            ),
                        );
                    }
                }
                None
            }
            Format::Json | Format::Ndjson => None,
            Format::Csv | Format::Tsv => {
                let csv = &t.csv;
                let guard = if is_text {
                    self.guard
                } else {
                    FormulaGuard::Off
                };
                let never = csv.quote_style == QuoteStyle::Never;
                let transcodes = csv.transcodes();
                if guard == FormulaGuard::Off && !never && !transcodes {
                    return None;
                }
                let mut escaped: Option<Vec<Option<String>>> = None;
                // Only the formula guard: the rows whose first byte may start a formula.
                let suspects: Box<dyn Iterator<Item = (usize, Option<&str>)>> =
                    if !never && !transcodes {
                        Box::new(formula_suspects(text).into_iter().map(|i| (i, text.get(i))))
                    } else {
                        Box::new(text.iter().enumerate())
                    };
                for (i, v) in suspects {
                    let Some(v) = v else { continue };
                    if never
                        && let Some(b) = v
                            .bytes()
                            .find(|b| *b == csv.delimiter || matches!(b, b'"' | b'\n' | b'\r'))
                    {
                        let what = match b {
                            b'"' => "a quote".to_string(),
                            b'\n' | b'\r' => "a line break".to_string(),
                            d => format!("the delimiter `{}`", char::from(d).escape_default()),
                        };
                        report(
                            i,
                            Code::Unencodable,
                            Severity::Error,
                            v,
                            format!(
                                "target `{}`: the value holds {what}, which `quote_style = \"never\"` cannot write; change the value in a column expression, or let the target quote (quote_style = \"necessary\")",
                                t.name
                            ),
                        );
                    }
                    if transcodes && let Some(c) = transcode::unencodable(v, csv.encoding) {
                        report(
                            i,
                            Code::Unencodable,
                            Severity::Error,
                            v,
                            format!(
                                "target `{}`: `{c}` (U+{:04X}) cannot be written in {}; replace it in a column expression (e.g. replace(x, '{c}', '?')) or write the target in utf-8",
                                t.name,
                                c as u32,
                                csv.encoding.name()
                            ),
                        );
                    }
                    if guard != FormulaGuard::Off && formula_risk(v) {
                        let message = match guard {
                            FormulaGuard::Escape => format!(
                                "target `{}`: the value starts like a formula; written with a leading `'` (formula_guard = \"escape\")",
                                t.name
                            ),
                            _ => format!(
                                "target `{}`: the value starts like a formula, which a spreadsheet may run when the file is opened; written unchanged (set [run] formula_guard = \"escape\" to neutralise it)",
                                t.name
                            ),
                        };
                        report(i, Code::FormulaRisk, Severity::Warning, v, message);
                        if guard == FormulaGuard::Escape {
                            let all = escaped.get_or_insert_with(|| {
                                text.iter().map(|v| v.map(str::to_string)).collect()
                            });
                            all[i] = Some(format!("'{v}"));
                        }
                    }
                }
                escaped.map(|values| {
                    StringChunked::from_iter_options(text.name().clone(), values.into_iter())
                })
            }
        }
    }
}

/// An output column over every row of `row`, when it is a field as it stands (`col(x)`, maybe
/// renamed), a text literal, or a decimal field times an integer cast to an integer (see
/// [`scaled_integer`]): what gives every row `mask` takes the value the target's query would.
fn in_place(e: &Expr, row: &DataFrame, mask: &BooleanChunked) -> Option<Column> {
    match e {
        Expr::Alias(inner, _) => in_place(inner, row, mask),
        Expr::Column(name) => row.column(name).ok().cloned(),
        Expr::Literal(value) => value
            .extract_str()
            .map(|text| StringChunked::full("literal".into(), text, row.height()).into_column()),
        Expr::Cast { .. } => scaled_integer(e, row, mask),
        _ => None,
    }
}

/// Whether `e` is a field as it stands or a literal (maybe renamed): what every row can compute.
fn plain(e: &Expr) -> bool {
    match e {
        Expr::Alias(inner, _) => plain(inner),
        Expr::Column(_) | Expr::Literal(_) => true,
        _ => false,
    }
}

/// `CAST(price * 100 AS INTEGER)` (or `BIGINT`, or `100 * price`) over a decimal field: a price
/// in cents, computed over the whole chunk without a query, exactly as polars computes it (the
/// product, then rounded to the nearest integer, half to even). `None`, for the query to evaluate and
/// report, when a row `mask` takes would not fit the integer type or 38 digits; a row it does
/// not take is left null.
fn scaled_integer(e: &Expr, row: &DataFrame, mask: &BooleanChunked) -> Option<Column> {
    let Expr::Cast {
        expr,
        dtype: DataTypeExpr::Literal(to),
        options: CastOptions::Strict,
    } = e
    else {
        return None;
    };
    let Expr::BinaryExpr {
        left,
        op: Operator::Multiply,
        right,
    } = expr.as_ref()
    else {
        return None;
    };
    // An integer as SQL writes it (polars infers its type from the other operand).
    let int = |e: &Expr| match e {
        Expr::Literal(lit @ LiteralValue::Dyn(_)) => match lit.get_datatype() {
            DataType::Unknown(UnknownKind::Int(k)) => Some(k),
            _ => None,
        },
        _ => None,
    };
    let (name, factor) = match (left.as_ref(), right.as_ref()) {
        (Expr::Column(name), k) | (k, Expr::Column(name)) => (name, int(k)?),
        _ => return None,
    };
    let (min, max) = match to {
        DataType::Int32 => (i128::from(i32::MIN), i128::from(i32::MAX)),
        DataType::Int64 => (i128::from(i64::MIN), i128::from(i64::MAX)),
        _ => return None,
    };
    let column = row.column(name).ok()?;
    let DataType::Decimal(_, scale) = column.dtype() else {
        return None;
    };
    let unit = 10i128.checked_pow(u32::try_from(*scale).ok()?)?;
    let limit = 10u128.pow(crate::plan::DECIMAL_PRECISION as u32);
    // v × factor / unit = v × m / d: cents at scale 2 are v × 1, with nothing to divide.
    let (m, d) = {
        let (mut a, mut b) = (factor.unsigned_abs(), unit.unsigned_abs());
        while b != 0 {
            (a, b) = (b, a % b);
        }
        let g = i128::try_from(a.max(1)).ok()?;
        (factor / g, unit / g)
    };
    let (m64, d64) = (i64::try_from(m).ok()?, i64::try_from(d).ok()?);
    let g = factor.checked_div(m).unwrap_or(1);
    let whole = |v: i128| -> Option<i128> {
        // Most values: 64-bit arithmetic (an i128 division is several times slower).
        let w = match i64::try_from(v).ok().and_then(|v| v.checked_mul(m64)) {
            Some(p) if (i128::from(p) * g).unsigned_abs() < limit => match d64 {
                1 => i128::from(p),
                _ => i128::from(nearest(p, d64)),
            },
            _ => v
                .checked_mul(factor)
                .filter(|p| p.unsigned_abs() < limit)
                .map(|p| nearest(p, unit))?,
        };
        (min..=max).contains(&w).then_some(w)
    };
    // Below this magnitude a value needs one 64-bit multiplication and no check: the product
    // fits the integer type, and it is far from 38 digits.
    let quick = match d64 == 1 && g.unsigned_abs() < 10u128.pow(18) {
        true => max.unsigned_abs() / m.unsigned_abs().max(1),
        false => 0,
    };
    let decimals = column.decimal().ok()?.physical().rechunk();
    let mut values: Vec<i64> = Vec::with_capacity(row.height());
    let mut nulls = Vec::new();
    for array in decimals.downcast_iter() {
        for (k, &v) in array.values().iter().enumerate() {
            if v.unsigned_abs() <= quick {
                values.push(v as i64 * m64);
                continue;
            }
            match whole(v) {
                Some(w) => values.push(w as i64),
                None if array.is_valid(k) && mask.get(values.len()) == Some(true) => return None,
                None => {
                    nulls.push(values.len());
                    values.push(0);
                }
            }
        }
    }
    // The field's nulls, and the rows the target does not take whose value would not fit.
    let mut validity = decimals
        .downcast_iter()
        .next()
        .and_then(|a| a.validity().cloned());
    if !nulls.is_empty() {
        let mut valid = match validity {
            Some(v) => v.make_mut(),
            None => polars_arrow::bitmap::MutableBitmap::from_len_set(values.len()),
        };
        for i in nulls {
            valid.set(i, false);
        }
        validity = Some(valid.into());
    }
    let name = column.name().clone();
    Some(match to {
        DataType::Int32 => {
            let narrow = values.into_iter().map(|v| v as i32).collect();
            let array = PrimitiveArray::<i32>::from_vec(narrow).with_validity(validity);
            Int32Chunked::with_chunk(name, array).into_column()
        }
        _ => {
            let array = PrimitiveArray::<i64>::from_vec(values).with_validity(validity);
            Int64Chunked::with_chunk(name, array).into_column()
        }
    })
}

/// The rows among `at` for which one of the output columns `cols` (indices into `exprs`) cannot
/// be computed, each with the first such column and polars' reason (see
/// [`crate::broken_rows::failing`]).
fn failing_rows(
    row: &DataFrame,
    at: &[usize],
    exprs: &[Expr],
    cols: &[usize],
) -> Vec<(usize, usize, String)> {
    let wanted: Vec<Expr> = cols.iter().filter_map(|&i| exprs.get(i).cloned()).collect();
    let fails = |rows: &[usize], exprs: Vec<Expr>| {
        let mask = crate::mask::from_positions(row.height(), rows);
        select_where(row, &mask, exprs).err()
    };
    crate::broken_rows::failing(at.len(), |k| fails(&at[k], wanted.clone()))
        .into_iter()
        .filter_map(|(k, _)| {
            let r = at[k];
            // Which column: the first one that fails alone.
            cols.iter().find_map(|&ci| {
                let error = fails(&[r], vec![exprs.get(ci)?.clone()])?;
                Some((r, ci, error.to_string()))
            })
        })
        .collect()
}

/// Why column `ci` of target `p` cannot be written for a row, and what to do about it.
fn uncomputable_message(p: &Projection, ci: usize, reason: &str) -> String {
    let name = &p.names[ci];
    let expression = p
        .target
        .columns
        .iter()
        .find(|(n, _)| n == name)
        .map_or(name.as_str(), |(_, sql)| sql.text.as_str());
    format!(
        "target `{}`: column `{name}` = `{expression}` cannot be computed for this row ({reason}); \
         correct the value, or give the column a type that holds it (BIGINT, DOUBLE)",
        p.target.name
    )
}

/// The rows of `row` that `mask` selects, through `exprs`. The filter runs after the
/// projection has been pushed down, so it copies only the columns the expressions read — not
/// every field of the row.
fn select_where(
    row: &DataFrame,
    mask: &BooleanChunked,
    exprs: Vec<Expr>,
) -> polars::prelude::PolarsResult<DataFrame> {
    const MASK: &str = "\u{1}mask";
    let mut frame = row.clone();
    frame.with_column(mask.clone().with_name(MASK.into()).into_column())?;
    frame.lazy().filter(col(MASK)).select(exprs).collect()
}

/// `x / unit` rounded to the nearest integer, half to even: how polars casts a decimal to an
/// integer.
fn nearest<T>(x: T, unit: T) -> T
where
    T: Copy
        + PartialOrd
        + std::ops::Div<Output = T>
        + std::ops::Rem<Output = T>
        + std::ops::Add<Output = T>
        + std::ops::Sub<Output = T>
        + From<i8>,
{
    let (q, r) = (x / unit, x % unit);
    let zero = T::from(0);
    let abs = |v: T| if v < zero { zero - v } else { v };
    // Compared with what is left to the next integer, not doubled: no overflow near 10^38.
    let (r, rest) = (abs(r), abs(unit) - abs(r));
    let away = r > rest || (r == rest && q % T::from(2) != zero);
    match (away, x < zero) {
        (false, _) => q,
        (true, false) => q + T::from(1),
        (true, true) => q - T::from(1),
    }
}

/// The positions of `text` whose first byte may start a formula (see [`formula_risk`]), read
/// from the first bytes every string view keeps inline: the text itself is not touched.
fn formula_suspects(text: &StringChunked) -> Vec<usize> {
    let mut found = Vec::new();
    let mut offset = 0;
    for array in text.downcast_iter() {
        for (i, view) in array.views().iter().enumerate() {
            // The prefix holds the first bytes in little-endian order: its low byte is the first.
            let first = view.prefix.to_le_bytes()[0];
            if view.length > 0 && matches!(first, b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r' | 0xEF)
            {
                found.push(offset + i);
            }
        }
        offset += array.len();
    }
    found
}

/// Whether text would start a formula in a spreadsheet: `=`, `+`, `-`, `@`, a tab or a carriage
/// return first (or their full-width forms), unless the whole value is a plain number.
pub fn formula_risk(v: &str) -> bool {
    let Some(first) = v.chars().next() else {
        return false;
    };
    if !matches!(
        first,
        '=' | '+' | '-' | '@' | '\t' | '\r' | '＝' | '＋' | '－' | '＠'
    ) {
        return false;
    }
    !plain_number(v)
}

/// Numbers and phone numbers (`-12`, `-0,5`, `+33 6 12 34 56 78`, `+1 (555) 010-9999`): a
/// sign, digits, spaces and `. , ( ) / -` only. A spreadsheet may read them as a sum, but they can
/// call nothing.
fn plain_number(v: &str) -> bool {
    v.bytes().any(|b| b.is_ascii_digit())
        && v.bytes()
            .all(|b| b.is_ascii_digit() || b" +-.,()/".contains(&b))
}

/// A column's text for a CSV or JSON target, with the target's date and decimal forms.
///
/// With `typed`, values written in their canonical text stay typed (see [`encode::typed`]).
fn formatted(c: &Column, n: usize, how: &ColumnText, typed: bool) -> Result<TextColumn, String> {
    let err = |e: PolarsError| e.to_string();
    let c = encode::broadcast(c, n);
    let s = c.as_materialized_series();
    let dated = match (s.dtype(), &how.date, &how.datetime) {
        (DataType::Date, Some(fmt), _) => Some(s.date().and_then(|d| d.to_string(fmt))),
        (DataType::Datetime(_, _), _, Some(fmt)) => {
            Some(s.datetime().and_then(|d| d.to_string(fmt)))
        }
        _ => None,
    };
    if let Some(text) = dated {
        return Ok(TextColumn {
            kind: Kind::Text,
            values: Values::Text(text.map_err(err)?),
        });
    }
    let fraction = s.dtype().is_float() || matches!(s.dtype(), DataType::Decimal(_, _));
    let sep = how.decimal.filter(|d| *d != '.' && fraction);
    if typed && sep.is_none() {
        return encode::typed(&c, n).map_err(err);
    }
    let mut t = encode::text(&c, n).map_err(err)?;
    if let Some(sep) = sep {
        let mut buf = [0u8; 4];
        let sep: &str = sep.encode_utf8(&mut buf);
        let text = t.values.to_text();
        t.values = Values::Text(StringChunked::from_iter_options(
            text.name().clone(),
            text.iter().map(|v| v.map(|v| v.replacen('.', sep, 1))),
        ));
        // Not a JSON number any more: written as text.
        t.kind = Kind::Text;
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_suspects_are_every_value_that_may_start_a_formula() {
        let values = [
            Some("=1+1"),
            None,
            Some("abc"),
            Some(""),
            Some("-12"),
            Some("＝1"),
            Some("a much longer value that is not kept inline"),
            Some("@SUM(A1:A2) in a much longer value, kept in a buffer"),
            Some("\tx"),
        ];
        let text = StringChunked::from_iter_options("t".into(), values.into_iter());
        assert_eq!(formula_suspects(&text), vec![0, 4, 5, 7, 8]);
        let mut two = text.clone();
        two.append(&text).expect("append");
        assert_eq!(two.chunks().len(), 2);
        assert_eq!(
            formula_suspects(&two),
            vec![0, 4, 5, 7, 8, 9, 13, 14, 16, 17]
        );
        // Every value formula_risk flags is a suspect.
        for (i, v) in values.iter().enumerate() {
            if v.is_some_and(formula_risk) {
                assert!(formula_suspects(&text).contains(&i), "{v:?}");
            }
        }
    }

    #[test]
    fn formula_risk_spares_plain_numbers() {
        for risky in [
            "=1+1",
            "=HYPERLINK(\"http://x\")",
            "+A1",
            "-2+3+cmd|' /C calc'!A0",
            "@SUM(A1:A2)",
            "\tx",
            "\rx",
            "＝1",
            "-",
            "+",
            "-A1",
            "+1 (555) CALL",
        ] {
            assert!(formula_risk(risky), "{risky:?}");
        }
        for safe in [
            "",
            "abc",
            "a=b",
            "-12",
            "+33612345678",
            "-0.5",
            "-1,25",
            "12",
            " =1",
            "+33 6 12 34 56 78",
            "+1 (555) 010-9999",
        ] {
            assert!(!formula_risk(safe), "{safe:?}");
        }
    }

    /// What polars gives for `sql` over `values` at `scale`: the column, or that it fails.
    fn by_polars(sql: &str, values: &[Option<i128>], scale: usize) -> Option<Vec<Option<i64>>> {
        let frame = decimal_frame(values, scale);
        let e = polars::sql::sql_expr(sql).expect("the expression parses");
        let out = frame.lazy().select([e]).collect().ok()?;
        let c = out.columns().first()?.cast(&DataType::Int64).ok()?;
        Some(c.i64().ok()?.iter().collect())
    }

    fn decimal_frame(values: &[Option<i128>], scale: usize) -> DataFrame {
        use polars::prelude::{Int128Chunked, NewChunkedArray};
        let price = Int128Chunked::from_iter_options("price".into(), values.iter().copied())
            .into_decimal(crate::plan::DECIMAL_PRECISION, scale)
            .expect("a decimal column");
        DataFrame::new(values.len(), vec![price.into_column()]).expect("a frame")
    }

    fn natively(sql: &str, values: &[Option<i128>], scale: usize) -> Option<Vec<Option<i64>>> {
        let frame = decimal_frame(values, scale);
        let e = polars::sql::sql_expr(sql).expect("the expression parses");
        let all = BooleanChunked::full("mask".into(), true, values.len());
        let c = in_place(&e, &frame, &all)?.cast(&DataType::Int64).ok()?;
        Some(c.i64().ok()?.iter().collect())
    }

    #[test]
    fn cents_are_what_the_query_gives() {
        // 0,29 × 100 = 29 exactly; a fraction of a cent is rounded to the nearest, half to even,
        // on both sides of zero, as in the query; 21,474,836.48 € in cents does not fit an
        // INTEGER, and the query says so.
        let values = [
            Some(29),
            Some(-1999),
            Some(-5),
            Some(5),
            Some(15),
            Some(-25),
            None,
            Some(12_345_678),
            Some(0),
        ];
        for sql in [
            "CAST(price * 100 AS INTEGER)",
            "CAST(100 * price AS BIGINT)",
            "CAST(price * 1000 AS INTEGER)",
            "CAST(price * 0 AS INTEGER)",
            "CAST(price * -7 AS BIGINT)",
        ] {
            for scale in [0, 1, 2, 3] {
                // Both fail where a product does not fit (12,345,678 × 1000 as an INTEGER).
                let theirs = by_polars(sql, &values, scale);
                assert_eq!(
                    natively(sql, &values, scale),
                    theirs,
                    "{sql} at scale {scale}"
                );
            }
        }
        // Past 64 bits: 10^12 + ½ (half to even), 10^12 + 1 + ½, a product of 38 digits.
        let wide = [
            Some(10i128.pow(30) + 5 * 10i128.pow(17)),
            Some(10i128.pow(30) + 15 * 10i128.pow(17)),
            Some(-(10i128.pow(30) + 5 * 10i128.pow(17))),
        ];
        let sql = "CAST(price * 100 AS BIGINT)";
        let expected = vec![
            Some(1_000_000_000_000),
            Some(1_000_000_000_002),
            Some(-1_000_000_000_000),
        ];
        assert_eq!(by_polars(sql, &wide, 20), Some(expected.clone()));
        assert_eq!(natively(sql, &wide, 20), Some(expected));
        assert_eq!(by_polars(sql, &[Some(10i128.pow(37))], 20), None);
        assert_eq!(natively(sql, &[Some(10i128.pow(37))], 20), None);
        let big = [Some(2_147_483_648)];
        assert_eq!(by_polars("CAST(price * 100 AS INTEGER)", &big, 2), None);
        assert_eq!(natively("CAST(price * 100 AS INTEGER)", &big, 2), None);
        assert!(natively("CAST(price * 100 AS BIGINT)", &big, 2).is_some());
        // A row the target does not take is not written: it may not fit.
        let frame = decimal_frame(&[Some(2_147_483_648), Some(29), None], 2);
        let e = polars::sql::sql_expr("CAST(price * 100 AS INTEGER)").expect("parses");
        let taken = BooleanChunked::from_slice("mask".into(), &[false, true, true]);
        let cents = in_place(&e, &frame, &taken).expect("computed in place");
        let cents: Vec<Option<i32>> = cents.i32().expect("integers").iter().collect();
        assert_eq!(cents, [None, Some(29), None]);
        // Not a field times an integer: left to the query.
        for sql in [
            "CAST(price * 1.5 AS INTEGER)",
            "CAST(price + 100 AS INTEGER)",
            "CAST(price * 100 AS DOUBLE)",
            "TRY_CAST(price * 100 AS INTEGER)",
        ] {
            assert_eq!(natively(sql, &values, 2), None, "{sql}");
        }
    }

    proptest::proptest! {
        #[test]
        fn scaled_integers_match_polars(
            values in proptest::collection::vec(
                proptest::option::of(proptest::prop_oneof![
                    -10_000_000_000_000i128..10_000_000_000_000,
                    // Past 64 bits, and near the 38 digits a decimal holds.
                    -10i128.pow(37)..10i128.pow(37),
                ]),
                1..40,
            ),
            scale in proptest::prop_oneof![0usize..6, 6usize..38],
            factor in proptest::prop_oneof![
                proptest::strategy::Just(100i64), proptest::strategy::Just(1),
                proptest::strategy::Just(-1000), -1_000_000i64..1_000_000],
            bigint in proptest::bool::ANY,
        ) {
            let to = if bigint { "BIGINT" } else { "INTEGER" };
            let sql = format!("CAST(price * {factor} AS {to})");
            let theirs = by_polars(&sql, &values, scale);
            let ours = natively(&sql, &values, scale);
            // Where the native kernel answers, it answers what polars does; where polars
            // fails, the kernel hands the chunk to the query.
            if ours.is_some() || theirs.is_none() {
                proptest::prop_assert_eq!(ours, theirs);
            }
        }
    }
}
