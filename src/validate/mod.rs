//! The validate stage: types each declared field and applies its rules, chunk by chunk.
//!
//! `validate` owns the meaning of the data structure and nothing about files: it receives raw
//! text columns from the source and returns, per chunk, the typed fields, the issues found and
//! which rows are rejected. All per-value work is compiled once into polars expressions (see
//! [`exprs`]): parsing and every rule produce boolean masks over the whole chunk; Rust code only
//! walks the rows a mask flags. The hottest per-value work runs inside those expressions as
//! hand-written kernels, each giving exactly what the polars expression it replaces gives
//! (proved against it in `kernel_tests`): numbers ([`parse`]), dates ([`dates`]), words of
//! `enum` and boolean fields ([`words`]), the text types' shapes ([`shapes`]), simple patterns
//! ([`pattern`]) and lengths ([`length`]). The one piece of state that crosses chunks is the set
//! of keys already seen by each `unique` rule — the only memory that grows with the input.
//!
//! A `check` is the user's own expression and may fail on a value (a strict `CAST` past its
//! type's range): the rows it cannot be evaluated for are found and rejected as `check-failed`,
//! saying why, and the check is applied to the chunk's other rows (see
//! [`crate::broken_rows::around_broken_rows`]).

mod column;
mod dates;
mod exprs;
#[cfg(test)]
mod kernel_tests;
mod length;
mod messages;
mod parse;
mod pattern;
mod shapes;
mod unique;
mod words;

use std::sync::Arc;

use polars::prelude::{
    BooleanChunked, Column, DataFrame, Expr, IntoLazy, IntoSeries, NewChunkedArray, PolarsError,
    StringChunked, col,
};

use crate::issue::{Code, Issue, Severity};
use crate::plan::{FieldType, Structure};
use crate::source::{Chunk, column_name, kind_column_name};

/// A failure of the engine on a chunk: a value an expression cannot compute, or a bug.
#[derive(Debug, thiserror::Error)]
pub enum ValidateError {
    #[error(
        "validating the chunk starting at row {row} failed: {source}; {}", crate::broken_rows::advice(.source)
    )]
    Engine {
        row: u64,
        #[source]
        source: PolarsError,
    },
}

/// The outcome of validating one chunk.
#[derive(Debug)]
pub struct Validated {
    /// Every issue of the chunk, in row order (rule order within a row).
    pub issues: Vec<Issue>,
    /// Per frame row: rejected (an issue of severity error).
    pub rejected: Vec<bool>,
    /// The typed fields, one column per declared field, named after it.
    pub typed: DataFrame,
}

impl Validated {
    /// Marks every frame row with an issue of severity error as rejected; called again after
    /// each later stage adds issues. `rows` are the chunk's row numbers, in order.
    pub fn reject_errored(&mut self, rows: &[u64]) {
        for issue in self.issues.iter().filter(|i| i.severity == Severity::Error) {
            if let Ok(i) = rows.binary_search(&issue.row) {
                self.rejected[i] = true;
            }
        }
    }
}

/// One mask-producing rule, compiled.
struct Rule {
    mask: String,
    code: Code,
    severity: Severity,
    /// The field it reports on (index into the structure), if any.
    field: Option<usize>,
    kind: messages::RuleKind,
}

struct UniqueState {
    key: usize,
    seen: unique::KeySet,
}

/// Validates chunks against one structure (or passes every row when there is none).
pub struct Validator {
    structure: Option<Arc<Structure>>,
    /// Source column index of each field.
    field_col: Vec<usize>,
    /// The source has typed cells: each column comes with its `#i:kind` column.
    typed_cells: bool,
    rules: Vec<Rule>,
    uniques: Vec<UniqueState>,
    /// Per field, what its date kernel has read so far: a chunk's expressions are built anew,
    /// and the same dates come back chunk after chunk.
    memos: Vec<dates::Memo>,
}

impl Validator {
    /// Prepares validation of `structure` against a source `header`. Every declared column must
    /// be in the header (the pipeline checks that first, with a diagnostic). `typed_cells`: the
    /// source is a spreadsheet whose chunks carry cell kinds ([`crate::source::CellKind`]).
    pub fn new(structure: Option<Arc<Structure>>, header: &[String], typed_cells: bool) -> Self {
        let mut v = Validator {
            structure: structure.clone(),
            field_col: Vec::new(),
            typed_cells,
            rules: Vec::new(),
            uniques: Vec::new(),
            memos: Vec::new(),
        };
        let Some(s) = structure else { return v };
        v.memos = s.fields.iter().map(|_| dates::Memo::default()).collect();
        for (fi, f) in s.fields.iter().enumerate() {
            v.field_col
                .push(crate::plan::find_column(header, &f.column).unwrap_or(0));
            // The rules of a field do not depend on the shape of a chunk, only their masks do.
            let cell_kind = v.kind(fi);
            for (code, severity, kind, _) in
                exprs::field_masks(fi, f, exprs::Shape::default(), cell_kind)
            {
                v.rules.push(Rule {
                    mask: format!("\u{1}m{}", v.rules.len()),
                    code,
                    severity,
                    field: Some(fi),
                    kind,
                });
            }
        }
        for (ci, check) in s.checks.iter().enumerate() {
            v.rules.push(Rule {
                mask: format!("\u{1}m{}", v.rules.len()),
                code: Code::CheckFailed,
                severity: check.severity,
                field: check.field,
                kind: messages::RuleKind::Check(ci),
            });
        }
        v.uniques = (0..s.unique.len())
            .map(|key| UniqueState {
                key,
                seen: unique::KeySet::default(),
            })
            .collect();
        v
    }

    /// The cell-kind column of field `fi`, for typed sources.
    fn kind(&self, fi: usize) -> Option<Expr> {
        self.typed_cells.then(|| {
            col(kind_column_name(
                self.field_col.get(fi).copied().unwrap_or(0),
            ))
        })
    }

    /// The expressions for one chunk: stage 1 (text and typed value of each field) and stage 2
    /// (one mask per rule, in rule order, then the key columns of `unique` rules).
    fn expressions(&self, s: &Structure, chunk: &Chunk) -> (Vec<Expr>, Vec<Expr>) {
        let all = exprs::Shape {
            padded: true,
            blank: true,
        };
        let shape = |fi: usize| chunk.shapes.get(self.field_col[fi]).copied().unwrap_or(all);
        let mut stage1 = Vec::new();
        let mut masks = Vec::new();
        for (fi, f) in s.fields.iter().enumerate() {
            let raw = col(column_name(self.field_col[fi]));
            let memo = self.memos.get(fi).cloned().unwrap_or_default();
            let (text, typed) = exprs::text_and_typed(raw, f, shape(fi), self.kind(fi), &memo);
            stage1.push(text.alias(exprs::clean_name(fi)));
            stage1.push(typed.alias(f.name.as_str()));
            masks.extend(
                exprs::field_masks(fi, f, shape(fi), self.kind(fi))
                    .into_iter()
                    .map(|m| m.3),
            );
        }
        masks.extend(s.checks.iter().map(|c| exprs::failed(c.expr.clone().not())));
        let mut stage2: Vec<Expr> = masks
            .into_iter()
            .zip(&self.rules)
            .map(|(mask, rule)| mask.alias(rule.mask.as_str()))
            .collect();
        let mut keyed = Vec::new();
        for key in &s.unique {
            for &fi in &key.fields {
                if keyed.contains(&fi) {
                    continue;
                }
                keyed.push(fi);
                let f = &s.fields[fi];
                // Text types key on their text; others on their typed value (`01` = `1`).
                let key_expr = match f.ty {
                    FieldType::String | FieldType::Email | FieldType::Url | FieldType::Uuid => {
                        col(f.name.as_str())
                    }
                    _ => col(f.name.as_str()).cast(polars::prelude::DataType::String),
                };
                stage2.push(key_expr.alias(exprs::key_name(fi)));
            }
        }
        (stage1, stage2)
    }

    /// Validates one chunk.
    pub fn validate(&mut self, chunk: &Chunk) -> Result<Validated, ValidateError> {
        let n = chunk.rows.len();
        let Some(structure) = self.structure.clone() else {
            return Ok(Validated {
                issues: Vec::new(),
                rejected: vec![false; n],
                typed: DataFrame::empty(),
            });
        };
        let engine = |source| ValidateError::Engine {
            row: chunk.rows.first().copied().unwrap_or(0),
            source,
        };
        let (stage1, stage2) = self.expressions(&structure, chunk);
        let mut issues: Vec<Issue> = Vec::new();
        let out = match chunk
            .frame
            .clone()
            .lazy()
            .with_columns(stage1.clone())
            .with_columns(stage2.clone())
            .collect()
        {
            Ok(out) => out,
            Err(error) => self
                .around_broken_checks(&structure, chunk, stage1, stage2, &mut issues)
                .ok_or_else(|| engine(error))?,
        };

        let raw: Vec<&StringChunked> = self
            .field_col
            .iter()
            .map(|&ci| chunk.frame.column(&column_name(ci)).and_then(|c| c.str()))
            .collect::<Result<_, _>>()
            .map_err(engine)?;
        for rule in &self.rules {
            let mask: &BooleanChunked = out
                .column(&rule.mask)
                .and_then(|c| c.bool())
                .map_err(engine)?;
            if !mask.any() {
                continue;
            }
            for i in crate::mask::true_positions(mask) {
                let value = rule.field.and_then(|fi| raw[fi].get(i)).unwrap_or("");
                let field = rule.field.map(|fi| &structure.fields[fi]);
                issues.push(Issue {
                    row: chunk.rows[i],
                    line: chunk.lines[i],
                    code: rule.code,
                    severity: rule.severity,
                    field: field.map(|f| f.name.clone()).unwrap_or_default(),
                    column: field.map(|f| f.column.clone()).unwrap_or_default(),
                    value: value.to_string(),
                    message: messages::message(&rule.kind, &structure, field, value),
                });
            }
        }
        self.check_unique(&structure, &out, &raw, chunk, &mut issues)
            .map_err(engine)?;
        // Row order, then the order rules are declared in.
        issues.sort_by_key(|i| i.row);

        let typed_cols: Vec<Column> = structure
            .fields
            .iter()
            .filter_map(|f| out.column(&f.name).ok().cloned())
            .collect();
        let typed = DataFrame::new(n, typed_cols).map_err(engine)?;
        let mut validated = Validated {
            issues,
            rejected: vec![false; n],
            typed,
        };
        validated.reject_errored(&chunk.rows);
        Ok(validated)
    }

    /// A chunk on which a `check` cannot be evaluated for some rows (a strict `CAST` past its
    /// type's range): each such row gets a `check-failed` issue saying why, and the check's
    /// mask is computed over the other rows. The chunk's columns, or `None` when no check
    /// explains the failure (the caller reports the engine's error).
    fn around_broken_checks(
        &self,
        structure: &Structure,
        chunk: &Chunk,
        stage1: Vec<Expr>,
        mut stage2: Vec<Expr>,
        issues: &mut Vec<Issue>,
    ) -> Option<DataFrame> {
        let typed = chunk
            .frame
            .clone()
            .lazy()
            .with_columns(stage1)
            .collect()
            .ok()?;
        let mut broken = false;
        for (k, rule) in self.rules.iter().enumerate() {
            let messages::RuleKind::Check(ci) = rule.kind else {
                continue;
            };
            let (Some(expr), Some(check)) = (stage2.get(k).cloned(), structure.checks.get(ci))
            else {
                continue;
            };
            if typed
                .clone()
                .lazy()
                .select([expr.clone()])
                .collect()
                .is_ok()
            {
                continue;
            }
            let crate::broken_rows::Broken {
                rows: failing,
                values: mask,
            } = crate::broken_rows::around_broken_rows(&typed, &expr)?;
            broken = true;
            let column = BooleanChunked::from_slice(rule.mask.as_str().into(), &mask);
            stage2[k] = polars::prelude::lit(column.into_series()).alias(rule.mask.as_str());
            let field = check.field.map(|fi| &structure.fields[fi]);
            for (i, reason) in failing {
                issues.push(Issue {
                    row: chunk.rows[i],
                    line: chunk.lines[i],
                    code: Code::CheckFailed,
                    severity: check.severity,
                    field: field.map(|f| f.name.clone()).unwrap_or_default(),
                    column: field.map(|f| f.column.clone()).unwrap_or_default(),
                    value: String::new(),
                    message: format!(
                        "the check `{}` cannot be evaluated for this row ({reason}); cast to a \
                         wider type (BIGINT, DOUBLE) in its rule, or use TRY_CAST(…)",
                        check.name
                    ),
                });
            }
        }
        if !broken {
            return None;
        }
        typed.lazy().with_columns(stage2).collect().ok()
    }

    /// First occurrence wins: later rows with the same key get `duplicate-key`.
    fn check_unique(
        &mut self,
        structure: &Structure,
        out: &DataFrame,
        raw: &[&StringChunked],
        chunk: &Chunk,
        issues: &mut Vec<Issue>,
    ) -> Result<(), PolarsError> {
        for state in &mut self.uniques {
            let key = &structure.unique[state.key];
            let cols: Vec<&StringChunked> = key
                .fields
                .iter()
                .map(|&fi| out.column(&exprs::key_name(fi)).and_then(|c| c.str()))
                .collect::<Result<_, _>>()?;
            // The key of each row: one field's text as is, several joined by U+001F. A key with
            // a missing part is not a key (SQL semantics); `required` covers it.
            let n = chunk.rows.len();
            let joined: Vec<Option<String>> = if cols.len() > 1 {
                let mut parts: Vec<_> = cols.iter().map(|c| c.iter()).collect();
                (0..n)
                    .map(|_| {
                        let values: Vec<Option<&str>> =
                            parts.iter_mut().map(|p| p.next().flatten()).collect();
                        values
                            .into_iter()
                            .collect::<Option<Vec<&str>>>()
                            .map(|v| v.join("\u{1f}"))
                    })
                    .collect()
            } else {
                Vec::new()
            };
            let keys: Vec<Option<&[u8]>> = match cols.as_slice() {
                [single] => single.iter().map(|k| k.map(str::as_bytes)).collect(),
                _ => joined
                    .iter()
                    .map(|k| k.as_deref().map(str::as_bytes))
                    .collect(),
            };
            for (i, first) in state.seen.check(&keys, &chunk.rows) {
                let row = chunk.rows[i];
                let fields: Vec<&crate::plan::Field> =
                    key.fields.iter().map(|&fi| &structure.fields[fi]).collect();
                let values: Vec<&str> = key
                    .fields
                    .iter()
                    .map(|&fi| raw[fi].get(i).unwrap_or(""))
                    .collect();
                issues.push(Issue {
                    row,
                    line: chunk.lines[i],
                    code: Code::DuplicateKey,
                    severity: key.severity,
                    field: fields[0].name.clone(),
                    column: fields[0].column.clone(),
                    value: values.join(" | "),
                    message: messages::duplicate(&fields, &values, first),
                });
            }
        }
        Ok(())
    }
}
