//! Integer arithmetic that never wraps.
//!
//! polars adds, subtracts and multiplies 64-bit integers modulo 2⁶⁴: `qty * 2` with
//! `qty = 4611686018427387904` gives `-9223372036854775808`, silently. Every such operation in a
//! mapping's expressions is rewritten to compute in 128 bits, where the product or sum of two
//! 64-bit integers is exact, and to cast the result back to its type strictly: a value past the
//! type's range is then an error for that row — the same failure a strict `CAST` past its range
//! gives — which the stages already turn into a rejected row (`unencodable` for a target column,
//! `check-failed` for a check) instead of a wrong value. Decimals are exact already; floats do
//! not wrap.

use polars::prelude::{DataType, Expr, Field, Operator, Schema};

/// `expr` with every integer `+`, `-` and `*` checked, given the types of the columns it reads.
/// Parts whose type cannot be told from `schema` are left as they are.
pub fn checked(expr: Expr, schema: &Schema) -> Expr {
    let original = expr.clone();
    crate::panics::contain(|| rewrite(expr, schema)).unwrap_or(original)
}

fn rewrite(expr: Expr, schema: &Schema) -> Expr {
    expr.map_expr(|e| match &e {
        Expr::BinaryExpr { left, op, right }
            if matches!(op, Operator::Plus | Operator::Minus | Operator::Multiply) =>
        {
            match e.to_field(schema).map(|f| f.dtype().clone()) {
                Ok(dtype) if narrow_integer(&dtype) => {
                    let wide = |side: &Expr| side.clone().cast(DataType::Int128);
                    let exact = Expr::BinaryExpr {
                        left: wide(left).into(),
                        op: *op,
                        right: wide(right).into(),
                    };
                    exact.strict_cast(dtype)
                }
                _ => e,
            }
        }
        _ => e,
    })
}

/// A schema from column names and types.
pub fn schema<'a>(fields: impl IntoIterator<Item = (&'a str, DataType)>) -> Schema {
    fields
        .into_iter()
        .map(|(name, dtype)| Field::new(name.into(), dtype))
        .collect()
}

/// Integer types whose sums and products are exact in 128 bits.
fn narrow_integer(dtype: &DataType) -> bool {
    matches!(
        dtype,
        DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
    )
}

#[cfg(test)]
mod tests {
    use polars::prelude::{DataFrame, IntoLazy, NamedFrom, Series, col};

    use super::*;

    fn eval(sql: &str, qty: &[i64]) -> polars::prelude::PolarsResult<Vec<Option<i64>>> {
        let expr = polars::sql::sql_expr(sql).expect("valid SQL");
        let schema = schema([("qty", DataType::Int64), ("name", DataType::String)]);
        let expr = checked(expr, &schema);
        let n = qty.len();
        let df = DataFrame::new(
            n,
            vec![
                Series::new("qty".into(), qty).into(),
                Series::new("name".into(), vec!["x"; n]).into(),
            ],
        )?;
        let out = df.lazy().select([expr.alias("v")]).collect()?;
        let v = out.column("v")?.cast(&DataType::Int64)?;
        Ok(v.i64()?.iter().collect())
    }

    #[test]
    fn integer_arithmetic_is_exact_or_fails() {
        assert_eq!(
            eval("qty * 2", &[21, -4]).expect("fits"),
            [Some(42), Some(-8)]
        );
        assert_eq!(
            eval("qty + qty - 1", &[i64::MAX / 2]).expect("fits"),
            [Some(i64::MAX - 2)]
        );
        // Wrapped, these would be i64::MIN and a small number.
        assert!(eval("qty * 2", &[4_611_686_018_427_387_904]).is_err());
        assert!(eval("qty + 1", &[i64::MAX]).is_err());
        assert!(eval("qty - 1", &[i64::MIN]).is_err());
        assert!(eval("qty * qty * qty", &[3_000_000]).is_err());
        // Cancelling overflow is still an overflow of the intermediate: refused, not guessed.
        assert!(eval("qty * 4 - qty * 4", &[i64::MAX]).is_err());
        // Other types and operations are as polars computes them.
        assert_eq!(eval("qty / 2", &[9]).expect("float"), [Some(4)]);
        assert_eq!(eval("LENGTH(name)", &[1]).expect("text"), [Some(1)]);
    }

    #[test]
    fn columns_of_unknown_type_are_left_alone() {
        let e = checked(col("other") * col("other"), &schema([]));
        assert_eq!(e, col("other") * col("other"));
    }
}
