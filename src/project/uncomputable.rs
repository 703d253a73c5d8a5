//! Rows a column cannot be computed for (an integer past its type's range): found by halving
//! the rows until each failing one is alone, and rejected as `unencodable` with polars' reason.

use polars::prelude::{BooleanChunked, DataFrame, Expr, IntoColumn, IntoLazy, col};

use crate::plan::Target;

/// The rows among `at` for which one of the output columns `cols` (indices into `exprs`) cannot
/// be computed, each with the first such column and polars' reason (see
/// [`crate::broken_rows::failing`]).
pub(super) fn failing_rows(
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
pub(super) fn uncomputable_message(target: &Target, name: &str, reason: &str) -> String {
    let expression = target
        .columns
        .iter()
        .find(|(n, _)| n == name)
        .map_or(name, |(_, sql)| sql.text.as_str());
    format!(
        "target `{}`: column `{name}` = `{expression}` cannot be computed for this row ({reason}); \
         correct the value, or give the column a type that holds it (BIGINT, DOUBLE)",
        target.name
    )
}

/// The rows of `row` that `mask` selects, through `exprs`. The filter runs after the
/// projection has been pushed down, so it copies only the columns the expressions read — not
/// every field of the row.
pub(super) fn select_where(
    row: &DataFrame,
    mask: &BooleanChunked,
    exprs: Vec<Expr>,
) -> polars::prelude::PolarsResult<DataFrame> {
    const MASK: &str = "\u{1}mask";
    let mut frame = row.clone();
    frame.with_column(mask.clone().with_name(MASK.into()).into_column())?;
    frame.lazy().filter(col(MASK)).select(exprs).collect()
}
