//! What a failure of the polars engine on a chunk means to the user: a value that an expression
//! of the mapping cannot compute (a strict `CAST` past its type's range), which the mapping can
//! avoid, or a bug of rowferry's, to report. Where an expression fails on some rows only, the
//! stages reject those rows, saying why, and go on with the others ([`around_broken_rows`]);
//! [`advice`] finishes the message of a failure no row explains.

use polars::prelude::{DataFrame, Expr, IntoLazy, PolarsError};

/// The second half of an engine error's message: what to do about it.
pub fn advice(error: &PolarsError) -> &'static str {
    let text = error.to_string();
    if text.contains("conversion from") && text.contains("failed") {
        "a value of the data does not fit the type an expression of the mapping casts it to; \
         cast to a wider type (BIGINT, DOUBLE), or use TRY_CAST(…) to get null instead"
    } else {
        "this is a bug in rowferry, please report it with the mapping"
    }
}

/// Boolean `expr` over `frame`, when it cannot be evaluated for some rows (a strict `CAST` past
/// its range): those rows, each with polars' reason, in order, and the value of `expr` on every
/// row (false on those). Found by halving the rows until each failing one is alone, so a few
/// queries per such row. `None` when no row alone explains the failure: not the data's.
pub fn around_broken_rows(frame: &DataFrame, expr: &Expr) -> Option<Broken> {
    let n = frame.height();
    let over = |rows: std::ops::Range<usize>| {
        frame
            .slice(rows.start as i64, rows.len())
            .lazy()
            .select([expr.clone()])
            .collect()
    };
    let broken: Vec<(usize, String)> = failing(n, |rows| over(rows).err())
        .into_iter()
        .map(|(i, error)| (i, error.to_string()))
        .collect();
    if broken.is_empty() {
        return None;
    }
    let mut values = vec![false; n];
    let mut start = 0;
    for end in broken.iter().map(|b| b.0).chain([n]) {
        if end > start {
            let part = over(start..end).ok()?;
            let column = part.columns().first()?;
            let column = column.bool().ok()?;
            // A literal predicate is one value for every row.
            let len = end - start;
            for i in 0..len {
                let v = if column.len() == len {
                    column.get(i)
                } else {
                    column.get(0)
                };
                values[start + i] = v.unwrap_or(false);
            }
        }
        start = end + 1;
    }
    Some(Broken {
        rows: broken,
        values,
    })
}

/// The indices in `0..n` that `fails` rejects alone, each with its error, in order: `fails`
/// is asked about halves of a failing range until each failing index is alone, so a few calls
/// per such index, and one when none fails.
pub fn failing(
    n: usize,
    fails: impl Fn(std::ops::Range<usize>) -> Option<PolarsError>,
) -> Vec<(usize, PolarsError)> {
    let mut found = Vec::new();
    let mut pending = Vec::new();
    pending.push(0..n);
    while let Some(rows) = pending.pop() {
        if rows.is_empty() {
            continue;
        }
        let Some(error) = fails(rows.clone()) else {
            continue;
        };
        if rows.len() == 1 {
            found.push((rows.start, error));
            continue;
        }
        let mid = rows.start + rows.len() / 2;
        // Lower indices first: issues come in row order.
        pending.push(mid..rows.end);
        pending.push(rows.start..mid);
    }
    found
}

/// What [`around_broken_rows`] found.
pub struct Broken {
    /// The rows the expression cannot be evaluated for, with polars' reason, in order.
    pub rows: Vec<(usize, String)>,
    /// The expression's value on every row, false on those.
    pub values: Vec<bool>,
}

#[cfg(test)]
mod tests {
    use polars::prelude::{DataFrame, IntoLazy, PolarsError};

    use super::advice;

    #[test]
    fn a_cast_past_its_range_is_the_data_not_a_bug() {
        let frame = DataFrame::empty_with_height(1);
        let error = frame
            .lazy()
            .select([polars::sql::sql_expr("CAST(3000000000 AS INTEGER)").expect("parses")])
            .collect()
            .expect_err("3,000,000,000 is no INTEGER");
        assert!(advice(&error).contains("TRY_CAST"), "{error}");
        let bug = PolarsError::ComputeError("something else".into());
        assert!(advice(&bug).contains("bug"));
    }
}
