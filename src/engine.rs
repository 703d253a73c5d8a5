//! What a failure of the polars engine on a chunk means to the user: a value that an expression
//! of the mapping cannot compute (a strict `CAST` past its type's range), which the mapping can
//! avoid, or a bug of rowferry's, to report.

use polars::prelude::PolarsError;

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
