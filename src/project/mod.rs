//! The projection stage: each target's columns as text, and the checks a value must pass to be
//! written — where a row is rejected for a target (`unencodable`, `formula-risk`).
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
//! The writer threads (the sink stage) then only write the text they are handed. Numbers,
//! dates and booleans in their canonical text, which no check reads, are handed typed to a CSV
//! or JSON target (not grouped): the writer writes their text straight into the file's buffer
//! (see [`cells`]).
//!
//! Files: `text.rs` (values as text, the target's date and decimal forms), `cells.rs` (columns
//! as the writer reads them), `guards.rs` (the checks of a value against its target's file),
//! `limits.rs` (what a file can hold), `in_place.rs` (columns computed without a query, cents
//! included), `uncomputable.rs` (rows a column cannot be computed for).

pub mod cells;
mod guards;
mod in_place;
pub mod limits;
pub mod text;
mod uncomputable;

use polars::prelude::{
    BooleanChunked, ChunkFilter, Column, DataFrame, DataType, Expr, IntoLazy, NewChunkedArray,
    PolarsError, StringChunked, col,
};

use crate::issue::{Code, Issue, Severity};
use crate::plan::{Binding, Format, FormulaGuard, Plan, QuoteStyle, Target};
use cells::Values;
pub use guards::{csv_header, formula_risk};
use in_place::{in_place, plain};
use text::{ColumnText, TextColumn};
use uncomputable::{failing_rows, select_where, uncomputable_message};

/// A target's columns could not be computed for a chunk: a failure no row explains.
#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    #[error(
        "target `{target}` failed on the chunk starting at row {row}: {source}; {}", crate::broken_rows::advice(.source)
    )]
    Engine {
        target: String,
        row: u64,
        #[source]
        source: PolarsError,
    },
    #[error(
        "column `{column}` of target `{target}` cannot be written with its format: {message}; a `format` applies to dates and date-times, `decimal_separator` to numbers with a fraction"
    )]
    Format {
        target: String,
        column: String,
        message: String,
    },
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
    /// The input row number of each of the columns' rows (by the index [`rows`](Self::rows)
    /// gives), for a target whose files are sent to an API: a refused request names its rows.
    /// Set by the pipeline; `None` otherwise.
    pub input_rows: Option<Vec<u64>>,
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
#[derive(Default)]
pub struct Projected {
    pub targets: Vec<Option<TargetRows>>,
    /// The rows each target takes, after the checks.
    pub rows: Vec<u64>,
    /// The rows each target takes, by position in the chunk, in the order of its columns' rows.
    pub positions: Vec<Vec<usize>>,
}

impl Projected {
    /// Leaves the rows `rejects` marks (by position in the chunk) out of every target, as a
    /// check of the projection does: a later stage (a database refusing a row) rejects rows
    /// the same way. They are marked in `rejected` too; `first_row` is the chunk's first row,
    /// for an error's message.
    pub fn leave_out(
        &mut self,
        rejects: &[bool],
        rejected: &mut [bool],
        first_row: u64,
    ) -> Result<Rejections, ProjectError> {
        let checked = leave_out(
            rejects,
            rejected,
            &mut self.targets,
            &self.positions,
            first_row,
        )?;
        for (at, n) in self.positions.iter_mut().zip(&mut self.rows) {
            at.retain(|i| !rejects[*i]);
            *n = at.len() as u64;
        }
        Ok(checked)
    }
}

/// The rows of a chunk the checks of the projection rejected.
#[derive(Debug, Default)]
pub struct Rejections {
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
        // Every field, in the input's order: a passthrough target keeps the file's shape.
        for f in binding.in_input_order() {
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

/// Output expressions named by their place: two columns may compute the same field.
fn aliased(exprs: Vec<Expr>) -> Vec<Expr> {
    exprs
        .into_iter()
        .enumerate()
        .map(|(i, e)| e.alias(format!("\u{1}o{i}")))
        .collect()
}

/// The types of a target's output columns, from the plan: its expressions over the row's
/// fields, without any data.
pub fn output_types(t: &Target, binding: &Binding) -> polars::prelude::PolarsResult<Vec<DataType>> {
    let exprs = aliased(output_columns(t, binding).1);
    let empty: Vec<Column> = binding
        .row
        .iter()
        .map(|f| Column::new_empty(f.name.as_str().into(), &f.dtype))
        .collect();
    let schema = DataFrame::new(0, empty)?
        .lazy()
        .select(exprs)
        .collect_schema()?;
    Ok(schema.iter_values().cloned().collect())
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
                let mut all = aliased(exprs);
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
    ) -> Result<(Projected, Rejections), ProjectError> {
        let mut pass = Pass {
            row,
            rows,
            lines,
            first_row: rows.first().copied().unwrap_or(0),
            rejects: vec![false; row.height()],
            issues,
        };
        let mut out = Vec::with_capacity(masks.len());
        let mut positions: Vec<Vec<usize>> = Vec::with_capacity(masks.len());
        for (p, mask) in self.targets.iter().zip(masks) {
            let (taken, at) = match mask.any() {
                true => self.target(p, mask, &mut pass)?,
                false => (None, Vec::new()),
            };
            out.push(taken);
            positions.push(at);
        }
        let checked = leave_out(
            &pass.rejects,
            rejected,
            &mut out,
            &positions,
            pass.first_row,
        )?;
        for at in &mut positions {
            at.retain(|i| !pass.rejects[*i]);
        }
        let rows_taken = positions.iter().map(|at| at.len() as u64).collect();
        Ok((
            Projected {
                targets: out,
                rows: rows_taken,
                positions,
            },
            checked,
        ))
    }

    /// Target `p`'s rows of the chunk (those `mask` selects), computed and checked, and the
    /// positions it takes (rows rejected by another target's checks are left out later).
    fn target(
        &self,
        p: &Projection,
        mask: &BooleanChunked,
        pass: &mut Pass,
    ) -> Result<(Option<TargetRows>, Vec<usize>), ProjectError> {
        let first_row = pass.first_row;
        let engine = |source| ProjectError::Engine {
            target: p.target.name.clone(),
            row: first_row,
            source,
        };
        let row = pass.row;
        let mut at = crate::mask::true_positions(mask);
        // A dry run projects only the columns a check reads.
        let wanted: Vec<usize> = if self.dry_run {
            self.checked_columns(p, row).map_err(engine)?
        } else {
            (0..p.names.len()).collect()
        };
        if self.dry_run {
            self.uncomputable_unchecked(p, mask, &wanted, &mut at, pass);
        }
        // The rows the target still takes, when some were rejected above.
        let reduced = (at.len() != mask.sum().unwrap_or(0) as usize)
            .then(|| crate::mask::from_positions(row.height(), &at));
        let mask = reduced.as_ref().unwrap_or(mask);
        if wanted.is_empty() && self.dry_run {
            return Ok((None, at));
        }
        let (cols, n, filtered) = self.evaluate(p, mask, &wanted, &mut at, pass)?;
        // The row of the chunk a projected value is on, if the target takes it.
        let to_row = |i: usize| match filtered {
            true => at.get(i).copied(),
            false => (mask.get(i) == Some(true)).then_some(i),
        };
        let width = wanted.len();
        let columns = self.texts(p, &cols[..width], &wanted, n, &to_row, pass)?;
        if self.dry_run {
            return Ok((None, at));
        }
        let keys = |range: std::ops::Range<usize>| -> Result<Vec<StringChunked>, ProjectError> {
            cols[range]
                .iter()
                .map(|c| text::text(c, n).map(|t| t.values.to_text()).map_err(engine))
                .collect()
        };
        let partition = keys(width..width + p.parts)?;
        let group = keys(width + p.parts..width + p.parts + p.groups)?;
        let (taken, len) = match filtered {
            true => (None, n),
            false => (Some(at.clone()), at.len()),
        };
        let rows = TargetRows {
            columns,
            partition,
            group,
            at: taken,
            len,
            input_rows: None,
        };
        Ok((Some(rows), at))
    }

    /// Rejects the rows among `at` for which one of the columns `cols` cannot be computed (an
    /// integer past its type's range), and takes them out of `at`. False when there is none.
    fn reject_uncomputable(
        p: &Projection,
        cols: &[usize],
        at: &mut Vec<usize>,
        pass: &mut Pass,
    ) -> bool {
        let failing = failing_rows(pass.row, at, &p.exprs, cols);
        for &(r, ci, ref reason) in &failing {
            pass.rejects[r] = true;
            pass.issues.push(Issue {
                row: pass.rows[r],
                line: pass.lines[r],
                code: Code::Unencodable,
                severity: Severity::Error,
                field: p.names[ci].clone(),
                column: String::new(),
                value: String::new(),
                message: uncomputable_message(&p.target, &p.names[ci], reason),
            });
        }
        at.retain(|r| !failing.iter().any(|f| f.0 == *r));
        !failing.is_empty()
    }

    /// A dry run evaluates the columns no check reads as well, so that it rejects the rows a
    /// run would reject when the target's query fails on them.
    fn uncomputable_unchecked(
        &self,
        p: &Projection,
        mask: &BooleanChunked,
        wanted: &[usize],
        at: &mut Vec<usize>,
        pass: &mut Pass,
    ) {
        let row = pass.row;
        let unchecked: Vec<usize> = (0..p.names.len())
            .filter(|i| !wanted.contains(i))
            .filter(|&i| !plain(&p.exprs[i]))
            .filter(|&i| in_place(&p.exprs[i], row, mask).is_none())
            .collect();
        let exprs: Vec<Expr> = unchecked.iter().map(|&i| p.exprs[i].clone()).collect();
        if !exprs.is_empty() && select_where(row, mask, exprs).is_err() {
            Self::reject_uncomputable(p, &unchecked, at, pass);
        }
    }

    /// The `wanted` columns (then, in a run, the partition and group keys) over the rows `mask`
    /// takes: `(columns, their length, whether they hold only the rows taken)`.
    ///
    /// Columns that are fields as they stand (or text literals) are taken over every row of the
    /// chunk, without a filtered copy: a dry run checks them at once and keeps what it finds on
    /// the rows the target takes; a run hands the writer the rows to write. Otherwise one query
    /// filters the chunk and evaluates the expressions; rows a column cannot be computed for
    /// are rejected and the others projected without them; a failure no row explains is a bug.
    fn evaluate(
        &self,
        p: &Projection,
        mask: &BooleanChunked,
        wanted: &[usize],
        at: &mut Vec<usize>,
        pass: &mut Pass,
    ) -> Result<(Vec<Column>, usize, bool), ProjectError> {
        let row = pass.row;
        let in_place: Option<Vec<Column>> = if self.dry_run {
            wanted
                .iter()
                .map(|&i| in_place(&p.exprs[i], row, mask))
                .collect()
        } else {
            p.exprs.iter().map(|e| in_place(e, row, mask)).collect()
        };
        if let Some(cols) = in_place {
            return Ok((cols, row.height(), false));
        }
        let first_row = pass.first_row;
        let engine = |source| ProjectError::Engine {
            target: p.target.name.clone(),
            row: first_row,
            source,
        };
        let mut exprs: Vec<Expr> = wanted.iter().map(|&i| p.exprs[i].clone()).collect();
        if !self.dry_run {
            exprs.extend_from_slice(&p.exprs[p.names.len()..]);
        }
        let projected = match select_where(row, mask, exprs.clone()) {
            Ok(projected) => projected,
            Err(error) => {
                if !Self::reject_uncomputable(p, wanted, at, pass) {
                    return Err(engine(error));
                }
                let kept = crate::mask::from_positions(row.height(), at);
                select_where(row, &kept, exprs).map_err(engine)?
            }
        };
        Ok((projected.columns().to_vec(), projected.height(), true))
    }

    /// The text of each of `cols` (the `wanted` output columns), checked against the target's
    /// file; a finding on a row the target takes (`to_row`) becomes an issue, and an error
    /// rejects the row. Numbers, dates and booleans in their canonical text stay typed for the
    /// writer, unless a check reads every value's text or the rows are gathered into groups.
    fn texts(
        &self,
        p: &Projection,
        cols: &[Column],
        wanted: &[usize],
        n: usize,
        to_row: &dyn Fn(usize) -> Option<usize>,
        pass: &mut Pass,
    ) -> Result<Vec<TextColumn>, ProjectError> {
        let t = &p.target;
        let typed = matches!(
            t.format,
            Format::Csv
                | Format::Tsv
                | Format::Json
                | Format::Ndjson
                | Format::Sqlite
                | Format::Postgres
        ) && t.group_by.is_empty()
            && t.csv.quote_style != QuoteStyle::Never
            && !t.csv.transcodes();
        let mut columns = Vec::with_capacity(wanted.len());
        for (c, &ci) in cols.iter().zip(wanted) {
            let is_text = c.dtype() == &DataType::String;
            let mut tc = if t.format == Format::Xlsx {
                text::text(c, n).map_err(|source| ProjectError::Engine {
                    target: t.name.clone(),
                    row: pass.first_row,
                    source,
                })?
            } else {
                text::formatted(c, n, &p.texts[ci], typed).map_err(|e| ProjectError::Format {
                    target: t.name.clone(),
                    column: p.names[ci].clone(),
                    message: e,
                })?
            };
            let escaped = guards::check_column(
                t,
                self.guard,
                is_text,
                &tc,
                &mut |i, code, severity, v, message| {
                    let Some(r) = to_row(i) else { return };
                    if severity == Severity::Error {
                        pass.rejects[r] = true;
                    }
                    pass.issues.push(Issue {
                        row: pass.rows[r],
                        line: pass.lines[r],
                        code,
                        severity,
                        field: p.names[ci].clone(),
                        column: String::new(),
                        value: v.to_string(),
                        message,
                    });
                },
            );
            if let Some(escaped) = escaped {
                tc.values = Values::Text(escaped);
            }
            columns.push(tc);
        }
        Ok(columns)
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
        let mut wanted = Vec::new();
        if guards::checks_values(t, self.guard) {
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
}

/// One chunk as the targets are projected: its rows, and what the checks found so far.
struct Pass<'a> {
    row: &'a DataFrame,
    /// Each row's number and line in the input.
    rows: &'a [u64],
    lines: &'a [u64],
    first_row: u64,
    /// Rows a check rejected, by position in the chunk.
    rejects: Vec<bool>,
    issues: &'a mut Vec<Issue>,
}

/// Leaves the rows a check rejected out of every target (a rejected row goes to no target),
/// and marks them in `rejected`.
fn leave_out(
    rejects: &[bool],
    rejected: &mut [bool],
    out: &mut [Option<TargetRows>],
    positions: &[Vec<usize>],
    first_row: u64,
) -> Result<Rejections, ProjectError> {
    let mut checked = Rejections::default();
    if !rejects.contains(&true) {
        return Ok(checked);
    }
    for (i, r) in rejects.iter().enumerate() {
        if *r && !rejected[i] {
            rejected[i] = true;
            checked.rejected += 1;
        }
    }
    let engine = |source| ProjectError::Engine {
        target: String::new(),
        row: first_row,
        source,
    };
    for (slot, at) in out.iter_mut().zip(positions) {
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
    Ok(checked)
}
