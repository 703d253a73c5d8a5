//! Binds a plan to the input's header: the fields a row carries from source to targets.
//!
//! A row's fields are the declared fields (typed), then the input's other columns (text, by
//! header name), then the fields added by `enrich`. Without a structure every column is an
//! optional text field. Names the plan could not resolve alone (deferred) are checked here, and
//! every `when` and target column is type-checked against the row — all problems at once, as
//! diagnostics on the mapping file. `rowferry check` binds without a header: it checks what the
//! mapping alone can tell.

use std::collections::HashSet;

use polars::prelude::{DataFrame, DataType, IntoLazy, Series};

use super::compile::polars_message;
use super::diagnostic::Diagnostic;
use super::{Plan, SqlExpr};

/// Where a row field comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowOrigin {
    /// A declared field (index into the structure).
    Field(usize),
    /// An input column no field declares (index into the header).
    Column(usize),
    /// Added by enrich step `step`, its `add`-th field.
    Enriched { step: usize, add: usize },
}

/// One field of the row handed to routing and targets.
#[derive(Debug, Clone, PartialEq)]
pub struct RowField {
    pub name: String,
    pub dtype: DataType,
    pub origin: RowOrigin,
}

/// The row's fields, in order.
#[derive(Debug, Clone, Default)]
pub struct Binding {
    pub row: Vec<RowField>,
    /// Each row field's column in the input's header (`None` for an enriched field, and for
    /// every field when there is no header: `check`).
    pub positions: Vec<Option<usize>>,
}

impl Binding {
    pub fn index(&self, name: &str) -> Option<usize> {
        self.row.iter().position(|f| f.name == name)
    }

    /// The row's fields in the input's order — declared fields where their column is, the
    /// enriched ones last —: a passthrough target's columns.
    pub fn in_input_order(&self) -> Vec<&RowField> {
        let mut order: Vec<usize> = (0..self.row.len()).collect();
        order.sort_by_key(|&i| {
            self.positions
                .get(i)
                .copied()
                .flatten()
                .unwrap_or(usize::MAX)
        });
        order.into_iter().map(|i| &self.row[i]).collect()
    }
}

/// The index of the header column a field reads: the exact name, else the one name equal to it
/// once surrounding white space is ignored (exports often pad their headers).
pub fn find_column(header: &[String], name: &str) -> Option<usize> {
    if let Some(i) = header.iter().position(|h| h == name) {
        return Some(i);
    }
    let mut trimmed = header
        .iter()
        .enumerate()
        .filter(|(_, h)| h.trim() == name.trim());
    match (trimmed.next(), trimmed.next()) {
        (Some((i, _)), None) => Some(i),
        _ => None,
    }
}

/// Binds `plan` to an input `header` (or, for `check`, to none).
pub fn bind(plan: &Plan, header: Option<&[String]>) -> Result<Binding, Vec<Diagnostic>> {
    let mut errs = Vec::new();
    let mut row: Vec<RowField> = Vec::new();
    if let Some(s) = &plan.structure {
        for (fi, f) in s.fields.iter().enumerate() {
            if let Some(header) = header
                && find_column(header, &f.column).is_none()
            {
                errs.push(missing_column(plan, f, header));
            }
            row.push(RowField {
                name: f.name.clone(),
                dtype: f.ty.dtype(),
                origin: RowOrigin::Field(fi),
            });
        }
    }
    if let Some(header) = header {
        let claimed: HashSet<usize> = plan
            .structure
            .iter()
            .flat_map(|s| s.fields.iter())
            .filter_map(|f| find_column(header, &f.column))
            .collect();
        // Names taken so far, so that a wide header (100,000 columns) binds in linear time.
        let mut taken: HashSet<String> = row.iter().map(|f| f.name.clone()).collect();
        // A `rejects.csv` fed back ends with `_row`, `_line`, `_errors`: the report keeps them,
        // the targets do not get them.
        let width = if header.ends_with(&super::REJECT_COLUMNS.map(String::from)) {
            header.len() - 3
        } else {
            header.len()
        };
        for (ci, h) in header.iter().enumerate().take(width) {
            if claimed.contains(&ci) {
                continue;
            }
            let base = match h.trim() {
                "" => format!("column_{}", ci + 1),
                t => t.to_string(),
            };
            // A repeated header name gets a number, so no column is hidden.
            let mut name = base.clone();
            let mut n = 2;
            while taken.contains(&name) {
                name = format!("{base} ({n})");
                n += 1;
            }
            taken.insert(name.clone());
            row.push(RowField {
                name,
                dtype: DataType::String,
                origin: RowOrigin::Column(ci),
            });
        }
    }
    for (step, e) in plan.enrich.iter().enumerate() {
        for (add, (name, _)) in e.adds.iter().enumerate() {
            row.push(RowField {
                name: name.clone(),
                dtype: DataType::String,
                origin: RowOrigin::Enriched { step, add },
            });
        }
    }
    let names: Vec<&str> = row.iter().map(|f| f.name.as_str()).collect();
    let unresolved: Vec<&str> = plan
        .deferred
        .iter()
        .filter(|(name, _)| !names.contains(&name.as_str()))
        .map(|(name, _)| name.as_str())
        .collect();
    if let Some(header) = header {
        for (name, span) in plan
            .deferred
            .iter()
            .filter(|(n, _)| unresolved.contains(&n.as_str()))
        {
            let expression = plan.mapping.text.get(span.clone()).unwrap_or_default();
            let mut d = Diagnostic::at(
                span.clone(),
                format!(
                    "`{name}` is neither a field nor a column of `{}`",
                    plan.source.path.display()
                ),
            )
            .label("unknown name")
            .suggest(name, names.iter().copied());
            if compared_to(expression, name) {
                d = d.help_if_none(format!(
                    "did you mean `'{name}'`? In SQL a text value is in single quotes; a bare word is a field or a column"
                ));
            }
            errs.push(d.help_if_none(format!(
                "the row's fields are: {}; the input's columns: {}",
                names.join(", "),
                header.join(", ")
            )));
        }
    }
    if errs.is_empty() {
        type_check(plan, &row, &unresolved, &mut errs);
    }
    if errs.is_empty() {
        let positions = row
            .iter()
            .map(|f| match (&f.origin, header, &plan.structure) {
                (RowOrigin::Column(ci), _, _) => Some(*ci),
                (RowOrigin::Field(fi), Some(header), Some(s)) => s
                    .fields
                    .get(*fi)
                    .and_then(|f| find_column(header, &f.column)),
                _ => None,
            })
            .collect();
        Ok(Binding { row, positions })
    } else {
        Err(errs)
    }
}

/// Whether `name` stands in `expression` as the value a comparison tests against
/// (`country = FR`, `x <> FR`, `x IN (FR, DE)`), where a text value in quotes was meant.
fn compared_to(expression: &str, name: &str) -> bool {
    let upper = expression.to_ascii_uppercase();
    let wanted = name.to_ascii_uppercase();
    let mut from = 0;
    while let Some(at) = upper[from..].find(&wanted).map(|i| i + from) {
        let end = at + wanted.len();
        let whole_word = !upper[..at].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
            && !upper[end..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_');
        let before = upper[..at].trim_end();
        if whole_word
            && (before.ends_with(['=', '<', '>', '(', ','])
                || before.ends_with(" IN")
                || before.ends_with(" LIKE"))
        {
            return true;
        }
        from = end;
    }
    false
}

fn missing_column(plan: &Plan, f: &super::Field, header: &[String]) -> Diagnostic {
    let d = Diagnostic::at(
        f.span.clone(),
        format!(
            "column `{}` of field `{}` is not in the header of `{}`",
            f.column,
            f.name,
            plan.source.path.display()
        ),
    )
    .label("no such column");
    let suggested = d
        .clone()
        .suggest(&f.column, header.iter().map(String::as_str));
    if suggested.help.is_some() {
        suggested
    } else {
        d.help(format!(
            "the header has: {}; set `column = \"…\"` on the field",
            header.join(", ")
        ))
    }
}

/// Every `when` must give true or false and every target column must evaluate, on the row's
/// types. Expressions naming a field not resolved yet (no header) are left for the run.
fn type_check(plan: &Plan, row: &[RowField], unresolved: &[&str], errs: &mut Vec<Diagnostic>) {
    let columns = row
        .iter()
        .map(|f| Series::new_empty(f.name.as_str().into(), &f.dtype).into())
        .collect();
    let Ok(empty) = DataFrame::new(0, columns) else {
        return;
    };
    let evaluate = |sql: &SqlExpr| -> Option<Result<DataType, String>> {
        let roots = sql.expr.clone().meta().root_names();
        if roots.iter().any(|r| unresolved.contains(&r.as_str())) {
            return None;
        }
        let typed = crate::panics::contain(|| {
            empty
                .clone()
                .lazy()
                .select([sql.expr.clone().alias("value")])
                .collect()
        });
        Some(match typed {
            Ok(result) => result.map_err(|e| polars_message(&e)).and_then(|df| {
                df.columns()
                    .first()
                    .map(|c| c.dtype().clone())
                    .ok_or_else(|| "no value".to_string())
            }),
            Err(panic) => Err(format!("the SQL engine cannot evaluate it: {panic}")),
        })
    };
    for t in &plan.targets {
        if let Some(w) = &t.when {
            match evaluate(w) {
                Some(Ok(DataType::Boolean)) | None => {}
                Some(Ok(other)) => errs.push(
                    Diagnostic::at(
                        w.span.clone(),
                        format!(
                            "`when` of target `{}` gives a `{other}`, not true or false",
                            t.name
                        ),
                    )
                    .label("not a predicate")
                    .help("write a condition, e.g. `stock > 0`"),
                ),
                Some(Err(e)) => errs.push(
                    Diagnostic::at(
                        w.span.clone(),
                        format!(
                            "`when` of target `{}` cannot be evaluated on the row's types",
                            t.name
                        ),
                    )
                    .label("type error")
                    .help(e),
                ),
            }
        }
        for (name, sql) in &t.columns {
            if let Some(Err(e)) = evaluate(sql) {
                errs.push(
                    Diagnostic::at(
                        sql.span.clone(),
                        format!(
                            "column `{name}` of target `{}` cannot be evaluated on the row's types",
                            t.name
                        ),
                    )
                    .label("type error")
                    .help(e),
                );
            }
        }
    }
}

#[cfg(test)]
mod quoting_tests {
    use super::compared_to;

    #[test]
    fn a_bare_word_compared_to_is_taken_for_a_missing_quote() {
        assert!(compared_to("country = FR", "FR"));
        assert!(compared_to("country IN (FR, DE)", "DE"));
        assert!(compared_to("status <> active", "active"));
        assert!(!compared_to("contry = 'FR'", "contry"));
        assert!(!compared_to("FRANCE = 1", "FR"));
    }
}
