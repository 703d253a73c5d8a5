//! Columns computed over the whole chunk without a query: a field as it stands, a text
//! literal, or a price in cents (`CAST(price * 100 AS INTEGER)`, computed exactly as polars
//! computes it). Property-tested against polars below.

use polars::chunked_array::cast::CastOptions;
use polars::prelude::{
    BooleanChunked, ChunkFull, Column, DataFrame, DataType, DataTypeExpr, Expr, Int32Chunked,
    Int64Chunked, IntoColumn, LiteralValue, Operator, StringChunked, UnknownKind,
};
use polars_arrow::array::{Array, PrimitiveArray};

/// An output column over every row of `row`, when it is a field as it stands (`col(x)`, maybe
/// renamed), a text literal, or a decimal field times an integer cast to an integer (see
/// [`scaled_integer`]): what gives every row `mask` takes the value the target's query would.
pub(super) fn in_place(e: &Expr, row: &DataFrame, mask: &BooleanChunked) -> Option<Column> {
    match e {
        Expr::Alias(inner, _) => in_place(inner, row, mask),
        Expr::Column(name) => row.column(name).ok().cloned(),
        Expr::Literal(value) => value
            .extract_str()
            .map(|text| StringChunked::full("literal".into(), text, row.height()).into_column()),
        Expr::Cast { .. } => scaled_integer(e, row, mask),
        _ => None,
    }
}

/// Whether `e` is a field as it stands or a literal (maybe renamed): what every row can compute.
pub(super) fn plain(e: &Expr) -> bool {
    match e {
        Expr::Alias(inner, _) => plain(inner),
        Expr::Column(_) | Expr::Literal(_) => true,
        _ => false,
    }
}

/// `CAST(price * 100 AS INTEGER)` (or `BIGINT`, or `100 * price`) over a decimal field: a price
/// in cents, computed over the whole chunk without a query, exactly as polars computes it (the
/// product, then rounded to the nearest integer, half to even). `None`, for the query to evaluate and
/// report, when a row `mask` takes would not fit the integer type or 38 digits; a row it does
/// not take is left null.
fn scaled_integer(e: &Expr, row: &DataFrame, mask: &BooleanChunked) -> Option<Column> {
    let Expr::Cast {
        expr,
        dtype: DataTypeExpr::Literal(to),
        options: CastOptions::Strict,
    } = e
    else {
        return None;
    };
    let Expr::BinaryExpr {
        left,
        op: Operator::Multiply,
        right,
    } = expr.as_ref()
    else {
        return None;
    };
    // An integer as SQL writes it (polars infers its type from the other operand).
    let int = |e: &Expr| match e {
        Expr::Literal(lit @ LiteralValue::Dyn(_)) => match lit.get_datatype() {
            DataType::Unknown(UnknownKind::Int(k)) => Some(k),
            _ => None,
        },
        _ => None,
    };
    let (name, factor) = match (left.as_ref(), right.as_ref()) {
        (Expr::Column(name), k) | (k, Expr::Column(name)) => (name, int(k)?),
        _ => return None,
    };
    let (min, max) = match to {
        DataType::Int32 => (i128::from(i32::MIN), i128::from(i32::MAX)),
        DataType::Int64 => (i128::from(i64::MIN), i128::from(i64::MAX)),
        _ => return None,
    };
    let column = row.column(name).ok()?;
    let DataType::Decimal(_, scale) = column.dtype() else {
        return None;
    };
    let unit = 10i128.checked_pow(u32::try_from(*scale).ok()?)?;
    let limit = 10u128.pow(crate::plan::DECIMAL_PRECISION as u32);
    // v × factor / unit = v × m / d: cents at scale 2 are v × 1, with nothing to divide.
    let (m, d) = {
        let (mut a, mut b) = (factor.unsigned_abs(), unit.unsigned_abs());
        while b != 0 {
            (a, b) = (b, a % b);
        }
        let g = i128::try_from(a.max(1)).ok()?;
        (factor / g, unit / g)
    };
    let (m64, d64) = (i64::try_from(m).ok()?, i64::try_from(d).ok()?);
    let g = factor.checked_div(m).unwrap_or(1);
    let whole = |v: i128| -> Option<i128> {
        // Most values: 64-bit arithmetic (an i128 division is several times slower).
        let w = match i64::try_from(v).ok().and_then(|v| v.checked_mul(m64)) {
            Some(p) if (i128::from(p) * g).unsigned_abs() < limit => match d64 {
                1 => i128::from(p),
                _ => i128::from(nearest(p, d64)),
            },
            _ => v
                .checked_mul(factor)
                .filter(|p| p.unsigned_abs() < limit)
                .map(|p| nearest(p, unit))?,
        };
        (min..=max).contains(&w).then_some(w)
    };
    // Below this magnitude a value needs one 64-bit multiplication and no check: the product
    // fits the integer type, and it is far from 38 digits.
    let quick = match d64 == 1 && g.unsigned_abs() < 10u128.pow(18) {
        true => max.unsigned_abs() / m.unsigned_abs().max(1),
        false => 0,
    };
    let decimals = column.decimal().ok()?.physical().rechunk();
    let mut values: Vec<i64> = Vec::with_capacity(row.height());
    let mut nulls = Vec::new();
    for array in decimals.downcast_iter() {
        for (k, &v) in array.values().iter().enumerate() {
            if v.unsigned_abs() <= quick {
                values.push(v as i64 * m64);
                continue;
            }
            match whole(v) {
                Some(w) => values.push(w as i64),
                None if array.is_valid(k) && mask.get(values.len()) == Some(true) => return None,
                None => {
                    nulls.push(values.len());
                    values.push(0);
                }
            }
        }
    }
    // The field's nulls, and the rows the target does not take whose value would not fit.
    let mut validity = decimals
        .downcast_iter()
        .next()
        .and_then(|a| a.validity().cloned());
    if !nulls.is_empty() {
        let mut valid = match validity {
            Some(v) => v.make_mut(),
            None => polars_arrow::bitmap::MutableBitmap::from_len_set(values.len()),
        };
        for i in nulls {
            valid.set(i, false);
        }
        validity = Some(valid.into());
    }
    let name = column.name().clone();
    Some(match to {
        DataType::Int32 => {
            let narrow = values.into_iter().map(|v| v as i32).collect();
            let array = PrimitiveArray::<i32>::from_vec(narrow).with_validity(validity);
            Int32Chunked::with_chunk(name, array).into_column()
        }
        _ => {
            let array = PrimitiveArray::<i64>::from_vec(values).with_validity(validity);
            Int64Chunked::with_chunk(name, array).into_column()
        }
    })
}

/// `x / unit` rounded to the nearest integer, half to even: how polars casts a decimal to an
/// integer.
fn nearest<T>(x: T, unit: T) -> T
where
    T: Copy
        + PartialOrd
        + std::ops::Div<Output = T>
        + std::ops::Rem<Output = T>
        + std::ops::Add<Output = T>
        + std::ops::Sub<Output = T>
        + From<i8>,
{
    let (q, r) = (x / unit, x % unit);
    let zero = T::from(0);
    let abs = |v: T| if v < zero { zero - v } else { v };
    // Compared with what is left to the next integer, not doubled: no overflow near 10^38.
    let (r, rest) = (abs(r), abs(unit) - abs(r));
    let away = r > rest || (r == rest && q % T::from(2) != zero);
    match (away, x < zero) {
        (false, _) => q,
        (true, false) => q + T::from(1),
        (true, true) => q - T::from(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use polars::prelude::{IntoLazy, NewChunkedArray};

    /// What polars gives for `sql` over `values` at `scale`: the column, or that it fails.
    fn by_polars(sql: &str, values: &[Option<i128>], scale: usize) -> Option<Vec<Option<i64>>> {
        let frame = decimal_frame(values, scale);
        let e = polars::sql::sql_expr(sql).expect("the expression parses");
        let out = frame.lazy().select([e]).collect().ok()?;
        let c = out.columns().first()?.cast(&DataType::Int64).ok()?;
        Some(c.i64().ok()?.iter().collect())
    }

    fn decimal_frame(values: &[Option<i128>], scale: usize) -> DataFrame {
        use polars::prelude::{Int128Chunked, NewChunkedArray};
        let price = Int128Chunked::from_iter_options("price".into(), values.iter().copied())
            .into_decimal(crate::plan::DECIMAL_PRECISION, scale)
            .expect("a decimal column");
        DataFrame::new(values.len(), vec![price.into_column()]).expect("a frame")
    }

    fn natively(sql: &str, values: &[Option<i128>], scale: usize) -> Option<Vec<Option<i64>>> {
        let frame = decimal_frame(values, scale);
        let e = polars::sql::sql_expr(sql).expect("the expression parses");
        let all = BooleanChunked::full("mask".into(), true, values.len());
        let c = in_place(&e, &frame, &all)?.cast(&DataType::Int64).ok()?;
        Some(c.i64().ok()?.iter().collect())
    }

    #[test]
    fn cents_are_what_the_query_gives() {
        // 0,29 × 100 = 29 exactly; a fraction of a cent is rounded to the nearest, half to even,
        // on both sides of zero, as in the query; 21,474,836.48 € in cents does not fit an
        // INTEGER, and the query says so.
        let values = [
            Some(29),
            Some(-1999),
            Some(-5),
            Some(5),
            Some(15),
            Some(-25),
            None,
            Some(12_345_678),
            Some(0),
        ];
        for sql in [
            "CAST(price * 100 AS INTEGER)",
            "CAST(100 * price AS BIGINT)",
            "CAST(price * 1000 AS INTEGER)",
            "CAST(price * 0 AS INTEGER)",
            "CAST(price * -7 AS BIGINT)",
        ] {
            for scale in [0, 1, 2, 3] {
                // Both fail where a product does not fit (12,345,678 × 1000 as an INTEGER).
                let theirs = by_polars(sql, &values, scale);
                assert_eq!(
                    natively(sql, &values, scale),
                    theirs,
                    "{sql} at scale {scale}"
                );
            }
        }
        // Past 64 bits: 10^12 + ½ (half to even), 10^12 + 1 + ½, a product of 38 digits.
        let wide = [
            Some(10i128.pow(30) + 5 * 10i128.pow(17)),
            Some(10i128.pow(30) + 15 * 10i128.pow(17)),
            Some(-(10i128.pow(30) + 5 * 10i128.pow(17))),
        ];
        let sql = "CAST(price * 100 AS BIGINT)";
        let expected = vec![
            Some(1_000_000_000_000),
            Some(1_000_000_000_002),
            Some(-1_000_000_000_000),
        ];
        assert_eq!(by_polars(sql, &wide, 20), Some(expected.clone()));
        assert_eq!(natively(sql, &wide, 20), Some(expected));
        assert_eq!(by_polars(sql, &[Some(10i128.pow(37))], 20), None);
        assert_eq!(natively(sql, &[Some(10i128.pow(37))], 20), None);
        let big = [Some(2_147_483_648)];
        assert_eq!(by_polars("CAST(price * 100 AS INTEGER)", &big, 2), None);
        assert_eq!(natively("CAST(price * 100 AS INTEGER)", &big, 2), None);
        assert!(natively("CAST(price * 100 AS BIGINT)", &big, 2).is_some());
        // A row the target does not take is not written: it may not fit.
        let frame = decimal_frame(&[Some(2_147_483_648), Some(29), None], 2);
        let e = polars::sql::sql_expr("CAST(price * 100 AS INTEGER)").expect("parses");
        let taken = BooleanChunked::from_slice("mask".into(), &[false, true, true]);
        let cents = in_place(&e, &frame, &taken).expect("computed in place");
        let cents: Vec<Option<i32>> = cents.i32().expect("integers").iter().collect();
        assert_eq!(cents, [None, Some(29), None]);
        // Not a field times an integer: left to the query.
        for sql in [
            "CAST(price * 1.5 AS INTEGER)",
            "CAST(price + 100 AS INTEGER)",
            "CAST(price * 100 AS DOUBLE)",
            "TRY_CAST(price * 100 AS INTEGER)",
        ] {
            assert_eq!(natively(sql, &values, 2), None, "{sql}");
        }
    }

    proptest::proptest! {
        #[test]
        fn scaled_integers_match_polars(
            values in proptest::collection::vec(
                proptest::option::of(proptest::prop_oneof![
                    -10_000_000_000_000i128..10_000_000_000_000,
                    // Past 64 bits, and near the 38 digits a decimal holds.
                    -10i128.pow(37)..10i128.pow(37),
                ]),
                1..40,
            ),
            scale in proptest::prop_oneof![0usize..6, 6usize..38],
            factor in proptest::prop_oneof![
                proptest::strategy::Just(100i64), proptest::strategy::Just(1),
                proptest::strategy::Just(-1000), -1_000_000i64..1_000_000],
            bigint in proptest::bool::ANY,
        ) {
            let to = if bigint { "BIGINT" } else { "INTEGER" };
            let sql = format!("CAST(price * {factor} AS {to})");
            let theirs = by_polars(&sql, &values, scale);
            let ours = natively(&sql, &values, scale);
            // Where the native kernel answers, it answers what polars does; where polars
            // fails, the kernel hands the chunk to the query.
            if ours.is_some() || theirs.is_none() {
                proptest::prop_assert_eq!(ours, theirs);
            }
        }
    }
}
