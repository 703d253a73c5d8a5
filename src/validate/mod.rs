//! The validate stage: types each declared field and applies its rules, chunk by chunk.
//!
//! `validate` owns the meaning of the data structure and nothing about files: it receives raw
//! text columns from the source and returns, per chunk, the typed fields, the issues found and
//! which rows are rejected. All per-value work is compiled once into polars expressions (see
//! [`exprs`]): parsing and every rule produce boolean masks over the whole chunk; Rust code only
//! walks the rows a mask flags. The one piece of state that crosses chunks is the set of keys
//! already seen by each `unique` rule — the only memory that grows with the input.

mod exprs;
mod messages;
mod unique;

use std::collections::HashMap;
use std::sync::Arc;

use polars::prelude::{
    BooleanChunked, Column, DataFrame, Expr, IntoLazy, PolarsError, StringChunked, col,
};

use crate::issue::{Code, Issue, Severity};
use crate::plan::{FieldType, Structure};
use crate::source::{Batch, column_name};

/// An internal failure of the engine, not of the data.
#[derive(Debug, thiserror::Error)]
pub enum ValidateError {
    #[error(
        "the validation engine failed on the chunk starting at row {row}: {source}; this is a bug in rowferry, please report it with the mapping"
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
    header: Vec<String>,
    stage1: Vec<Expr>,
    stage2: Vec<Expr>,
    rules: Vec<Rule>,
    uniques: Vec<UniqueState>,
}

impl Validator {
    /// Compiles the expressions for `structure` against a source `header`. Every declared column
    /// must be in the header (the pipeline checks that first, with a diagnostic).
    pub fn new(structure: Option<Arc<Structure>>, header: &[String]) -> Self {
        let mut v = Validator {
            structure: structure.clone(),
            field_col: Vec::new(),
            header: header.to_vec(),
            stage1: Vec::new(),
            stage2: Vec::new(),
            rules: Vec::new(),
            uniques: Vec::new(),
        };
        let Some(s) = structure else { return v };
        for (fi, f) in s.fields.iter().enumerate() {
            let ci = crate::source::find_column(header, &f.column).unwrap_or(0);
            v.field_col.push(ci);
            let raw = col(column_name(ci));
            let (clean, typed) = exprs::clean_and_type(raw, f);
            v.stage1.push(clean.alias(exprs::clean_name(fi)));
            v.stage1.push(typed.alias(f.name.as_str()));
            v.field_rules(fi);
        }
        for (ci, check) in s.checks.iter().enumerate() {
            let name = format!("\u{1}c{ci}");
            v.stage2
                .push(exprs::failed(check.expr.clone().not()).alias(name.as_str()));
            v.rules.push(Rule {
                mask: name,
                code: Code::CheckFailed,
                severity: check.severity,
                field: check.field,
                kind: messages::RuleKind::Check(ci),
            });
        }
        for (ki, key) in s.unique.iter().enumerate() {
            for &fi in &key.fields {
                let f = &s.fields[fi];
                let key_expr = match f.ty {
                    FieldType::String | FieldType::Email | FieldType::Url | FieldType::Uuid => {
                        col(exprs::clean_name(fi))
                    }
                    _ => col(f.name.as_str()).cast(polars::prelude::DataType::String),
                };
                let name = exprs::key_name(fi);
                if !v.stage2.iter().any(|e| expr_name(e) == Some(name.as_str())) {
                    v.stage2.push(key_expr.alias(name.as_str()));
                }
            }
            v.uniques.push(UniqueState {
                key: ki,
                seen: unique::KeySet::default(),
            });
        }
        v
    }

    fn field_rules(&mut self, fi: usize) {
        let Some(s) = self.structure.clone() else {
            return;
        };
        let f = &s.fields[fi];
        for (code, severity, kind, mask) in exprs::field_masks(fi, f) {
            let name = format!("\u{1}m{}", self.rules.len());
            self.stage2.push(mask.alias(name.as_str()));
            self.rules.push(Rule {
                mask: name,
                code,
                severity,
                field: Some(fi),
                kind,
            });
        }
    }

    /// Validates one chunk.
    pub fn validate(&mut self, batch: &Batch) -> Result<Validated, ValidateError> {
        let n = batch.rows.len();
        let Some(structure) = self.structure.clone() else {
            return Ok(Validated {
                issues: Vec::new(),
                rejected: vec![false; n],
                typed: DataFrame::empty(),
            });
        };
        let engine = |source| ValidateError::Engine {
            row: batch.rows.first().copied().unwrap_or(0),
            source,
        };
        let out = batch
            .frame
            .clone()
            .lazy()
            .select(self.stage1.clone())
            .with_columns(self.stage2.clone())
            .collect()
            .map_err(engine)?;

        let raw: Vec<&StringChunked> = self
            .field_col
            .iter()
            .map(|&ci| batch.frame.column(&column_name(ci)).and_then(|c| c.str()))
            .collect::<Result<_, _>>()
            .map_err(engine)?;
        let mut issues: Vec<Issue> = Vec::new();
        for rule in &self.rules {
            let mask: &BooleanChunked = out
                .column(&rule.mask)
                .and_then(|c| c.bool())
                .map_err(engine)?;
            if !mask.any() {
                continue;
            }
            for (i, flagged) in mask.iter().enumerate() {
                if flagged != Some(true) {
                    continue;
                }
                let value = rule.field.and_then(|fi| raw[fi].get(i)).unwrap_or("");
                let field = rule.field.map(|fi| &structure.fields[fi]);
                issues.push(Issue {
                    row: batch.rows[i],
                    line: batch.lines[i],
                    code: rule.code,
                    severity: rule.severity,
                    field: field.map(|f| f.name.clone()).unwrap_or_default(),
                    column: field.map(|f| f.column.clone()).unwrap_or_default(),
                    value: value.to_string(),
                    message: messages::message(&rule.kind, &structure, field, value),
                });
            }
        }
        self.check_unique(&structure, &out, &raw, batch, &mut issues)
            .map_err(engine)?;
        // Row order, then the order rules are declared in.
        issues.sort_by_key(|i| i.row);

        let mut rejected = vec![false; n];
        let mut index: HashMap<u64, usize> = HashMap::new();
        if issues.iter().any(|i| i.severity == Severity::Error) {
            index = batch
                .rows
                .iter()
                .enumerate()
                .map(|(i, r)| (*r, i))
                .collect();
        }
        for issue in issues.iter().filter(|i| i.severity == Severity::Error) {
            if let Some(&i) = index.get(&issue.row) {
                rejected[i] = true;
            }
        }
        let typed_cols: Vec<Column> = structure
            .fields
            .iter()
            .filter_map(|f| out.column(&f.name).ok().cloned())
            .collect();
        let typed = DataFrame::new(n, typed_cols).map_err(engine)?;
        Ok(Validated {
            issues,
            rejected,
            typed,
        })
    }

    /// First occurrence wins: later rows with the same key get `duplicate-key`.
    fn check_unique(
        &mut self,
        structure: &Structure,
        out: &DataFrame,
        raw: &[&StringChunked],
        batch: &Batch,
        issues: &mut Vec<Issue>,
    ) -> Result<(), PolarsError> {
        for state in &mut self.uniques {
            let key = &structure.unique[state.key];
            let cols: Vec<&StringChunked> = key
                .fields
                .iter()
                .map(|&fi| out.column(&exprs::key_name(fi)).and_then(|c| c.str()))
                .collect::<Result<_, _>>()?;
            let mut buf = String::new();
            'rows: for i in 0..batch.rows.len() {
                buf.clear();
                for (k, c) in cols.iter().enumerate() {
                    // A key with a missing part is not a key (SQL semantics); `required` covers it.
                    let Some(part) = c.get(i) else { continue 'rows };
                    if k > 0 {
                        buf.push('\u{1f}');
                    }
                    buf.push_str(part);
                }
                let row = batch.rows[i];
                let Some(first) = state.seen.first_row(buf.as_bytes(), row) else {
                    continue;
                };
                let fields: Vec<&crate::plan::Field> =
                    key.fields.iter().map(|&fi| &structure.fields[fi]).collect();
                let values: Vec<&str> = key
                    .fields
                    .iter()
                    .map(|&fi| raw[fi].get(i).unwrap_or(""))
                    .collect();
                issues.push(Issue {
                    row,
                    line: batch.lines[i],
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

    /// The header this validator was built for.
    pub fn header(&self) -> &[String] {
        &self.header
    }
}

fn expr_name(e: &Expr) -> Option<&str> {
    match e {
        Expr::Alias(_, name) => Some(name.as_str()),
        _ => None,
    }
}
