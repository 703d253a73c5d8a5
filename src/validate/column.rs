//! Plumbing shared by the hand-written kernels: a per-value function run over a text column,
//! its results written straight into the buffers of the column it makes (no iterator of
//! `Option`s collected value by value).

use polars::prelude::{
    BooleanChunked, ChunkedArray, Column, IntoColumn, PolarsNumericType, PolarsResult,
    StringChunked,
};
use polars_arrow::array::{Array, BooleanArray};
use polars_arrow::bitmap::BitmapBuilder;
use polars_arrow::datatypes::ArrowDataType;

/// Runs `each` on every value of `ca`, in order, with `None` for a null.
#[inline]
fn for_each_value<'a>(ca: &'a StringChunked, mut each: impl FnMut(Option<&'a str>)) {
    for arr in ca.downcast_iter() {
        if arr.null_count() == 0 {
            arr.values_iter().for_each(|v| each(Some(v)));
        } else {
            arr.iter().for_each(&mut each);
        }
    }
}

/// `test` on every value of text column `c`, null where the value is null. A column without
/// nulls, the common case, has no validity mask.
pub fn test_text(c: &Column, mut test: impl FnMut(&str) -> bool) -> PolarsResult<Column> {
    let ca = c.str()?;
    let mut bits = BitmapBuilder::with_capacity(ca.len());
    let mut valid = BitmapBuilder::with_capacity(ca.len());
    for_each_value(ca, |v| {
        valid.push(v.is_some());
        bits.push(v.is_some_and(&mut test));
    });
    let arr = BooleanArray::new(
        ArrowDataType::Boolean,
        bits.freeze(),
        valid.into_opt_validity(),
    );
    Ok(BooleanChunked::with_chunk(c.name().clone(), arr).into_column())
}

/// `parse` on every value of text column `c`: a column of `T`, null where the value is null or
/// does not parse.
pub fn parse_text<T: PolarsNumericType>(
    c: &Column,
    mut parse: impl FnMut(&str) -> Option<T::Native>,
) -> PolarsResult<ChunkedArray<T>> {
    let ca = c.str()?;
    let mut values = Vec::with_capacity(ca.len());
    let mut valid = BitmapBuilder::with_capacity(ca.len());
    for_each_value(ca, |v| {
        let parsed = v.and_then(&mut parse);
        valid.push(parsed.is_some());
        values.push(parsed.unwrap_or_default());
    });
    Ok(ChunkedArray::from_vec_validity(
        c.name().clone(),
        values,
        valid.into_opt_validity(),
    ))
}
