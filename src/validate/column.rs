//! Plumbing shared by the hand-written kernels: a per-value test run over a text column.

use polars::prelude::{BooleanChunked, Column, IntoColumn, NewChunkedArray, PolarsResult};

/// `test` on every value of text column `c`, null where the value is null. A column without
/// nulls, the common case, is built from the bits alone, without a validity mask.
pub fn test_text(c: &Column, mut test: impl FnMut(&str) -> bool) -> PolarsResult<Column> {
    let ca = c.str()?;
    let name = c.name().clone();
    let out = if ca.null_count() == 0 {
        let mut bits: Vec<bool> = Vec::with_capacity(ca.len());
        for arr in ca.downcast_iter() {
            bits.extend(arr.values_iter().map(&mut test));
        }
        BooleanChunked::from_slice(name, &bits)
    } else {
        let mut out: Vec<Option<bool>> = Vec::with_capacity(ca.len());
        for arr in ca.downcast_iter() {
            out.extend(arr.iter().map(|v| v.map(&mut test)));
        }
        let out: BooleanChunked = out.into_iter().collect();
        out.with_name(name)
    };
    Ok(out.into_column())
}
