//! Values as text: every output value's canonical text, a whole column at a time.
//!
//! ISO dates (`2024-01-31`, `2024-01-31T10:00:00`), `.` as decimal point, decimals exact at
//! their scale (the default scale drops trailing zeros: `12.5`, not `12.500000`), booleans
//! `true` and `false`. For a CSV or JSON target, integers, decimals, dates and booleans may
//! instead stay typed ([`typed`]): the writer writes the same text straight from the values
//! (see [`super::cells`]). [`Kind`] says what a column's text stands for, so that JSON writes
//! numbers bare and XLSX writes typed cells.

use polars::prelude::{
    Column, DataType, NewChunkedArray, PolarsError, PolarsResult, StringChunked,
    StringChunkedBuilder,
};

use super::cells::Values;
use crate::plan::DEFAULT_DECIMAL_SCALE;

/// What a column's canonical text stands for: JSON writes numbers and booleans bare and the
/// rest quoted; XLSX writes a typed cell for each kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Number,
    Boolean,
    /// `2024-01-31`.
    Date,
    /// `2024-01-31T10:00:00`, with a fraction of a second when there is one.
    DateTime,
}

/// One output column: its canonical text, or typed values whose canonical text the writer
/// writes straight into the file (see [`Values`]).
pub struct TextColumn {
    pub kind: Kind,
    pub values: Values,
}

/// `days` since 1970-01-01 as `YYYY-MM-DD`, as [`super::cells::date`] writes it (callers cache
/// the text per column).
fn iso_date(days: i32, out: &mut String) {
    let mut bytes = Vec::with_capacity(16);
    super::cells::date(days, &mut bytes);
    out.push_str(&String::from_utf8_lossy(&bytes));
}

/// `c` as `n` values: a literal (one value) is repeated.
pub fn broadcast(c: &Column, n: usize) -> Column {
    if c.len() == n || n == 0 {
        c.clone()
    } else {
        c.new_from_index(0, n)
    }
}

/// The canonical text of a column of `n` values.
pub fn text(c: &Column, n: usize) -> PolarsResult<TextColumn> {
    let c = broadcast(c, n);
    let s = c.as_materialized_series();
    let name = s.name().clone();
    let (kind, text) = match s.dtype() {
        DataType::String => (Kind::Text, s.str()?.clone()),
        DataType::Boolean => (
            Kind::Boolean,
            build(name, s.bool()?.iter(), |v, out| {
                out.push_str(if v { "true" } else { "false" })
            }),
        ),
        DataType::Date => {
            // Dates repeat: each distinct day is formatted once per column (a small cache).
            let mut cache = vec![(i32::MIN, String::new()); 1024];
            let days = s.date()?.physical();
            let text = build(name, days.iter(), |d, out| {
                let slot = &mut cache[d.rem_euclid(1024) as usize];
                if slot.0 != d {
                    slot.1.clear();
                    iso_date(d, &mut slot.1);
                    slot.0 = d;
                }
                out.push_str(&slot.1);
            });
            (Kind::Date, text)
        }
        DataType::Datetime(_, _) => (
            Kind::DateTime,
            s.datetime()?.to_string("%Y-%m-%dT%H:%M:%S%.f")?,
        ),
        DataType::Decimal(_, scale) => {
            let (scale, trim) = (*scale, *scale == DEFAULT_DECIMAL_SCALE as usize);
            let values = s.decimal()?.physical().iter();
            (
                Kind::Number,
                build(name, values, |v, out| decimal_text(v, scale, trim, out)),
            )
        }
        DataType::Int64 => (Kind::Number, integers(name, s.i64()?.iter())),
        DataType::Int32 => (Kind::Number, integers(name, s.i32()?.iter())),
        DataType::UInt32 => (Kind::Number, integers(name, s.u32()?.iter())),
        DataType::UInt64 => (Kind::Number, integers(name, s.u64()?.iter())),
        d if d.is_primitive_numeric() => (Kind::Number, s.cast(&DataType::String)?.str()?.clone()),
        DataType::Null => (Kind::Text, s.cast(&DataType::String)?.str()?.clone()),
        _ => (Kind::Text, s.cast(&DataType::String)?.str()?.clone()),
    };
    Ok(TextColumn {
        kind,
        values: Values::Text(text),
    })
}

/// A column of `n` values for a CSV or JSON target: integers, decimals, dates and booleans stay
/// typed (their text, the same as [`text`] gives, is written when the row is); the rest is text.
pub fn typed(c: &Column, n: usize) -> PolarsResult<TextColumn> {
    let c = broadcast(c, n);
    let s = c.as_materialized_series();
    let (kind, values) = match s.dtype() {
        DataType::Boolean => (Kind::Boolean, Values::Bool(s.bool()?.clone())),
        DataType::Date => (Kind::Date, Values::Date(s.date()?.physical().clone())),
        DataType::Decimal(_, scale) => (
            Kind::Number,
            Values::Decimal {
                values: s.decimal()?.physical().clone(),
                scale: *scale,
                trim: *scale == DEFAULT_DECIMAL_SCALE as usize,
            },
        ),
        DataType::Int64 => (Kind::Number, Values::Int(s.i64()?.clone())),
        DataType::Int32 | DataType::UInt32 => (
            Kind::Number,
            Values::Int(s.cast(&DataType::Int64)?.i64()?.clone()),
        ),
        _ => return text(&c, n),
    };
    Ok(TextColumn { kind, values })
}

/// A text column from `values`: `write` appends each present value's text to a reused buffer.
fn build<T>(
    name: polars::prelude::PlSmallStr,
    values: impl ExactSizeIterator<Item = Option<T>>,
    mut write: impl FnMut(T, &mut String),
) -> StringChunked {
    let mut text = StringChunkedBuilder::new(name, values.len());
    let mut buf = String::with_capacity(48);
    for v in values {
        match v {
            Some(v) => {
                buf.clear();
                write(v, &mut buf);
                text.append_value(&buf);
            }
            None => text.append_null(),
        }
    }
    text.finish()
}

fn integers<T: itoa::Integer>(
    name: polars::prelude::PlSmallStr,
    values: impl ExactSizeIterator<Item = Option<T>>,
) -> StringChunked {
    let mut digits = itoa::Buffer::new();
    build(name, values, |v, out| out.push_str(digits.format(v)))
}

/// A decimal's text from its unscaled value, as polars writes it (`-0.50` at scale 2); `trim`
/// drops trailing fraction zeros and a bare point (`12.5`, `29`).
fn decimal_text(v: i128, scale: usize, trim: bool, out: &mut String) {
    let mut digits = itoa::Buffer::new();
    let d = digits.format(v.unsigned_abs());
    if v < 0 {
        out.push('-');
    }
    if scale == 0 {
        out.push_str(d);
        return;
    }
    let whole = d.len().saturating_sub(scale);
    if whole == 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', scale - d.len()));
    } else {
        out.push_str(&d[..whole]);
        out.push('.');
    }
    out.push_str(&d[whole..]);
    if trim {
        let kept = out.trim_end_matches('0').len();
        out.truncate(kept);
        if out.ends_with('.') {
            out.pop();
        }
    }
}

/// How one output column's values become text.
#[derive(Debug, Clone, Default)]
pub struct ColumnText {
    pub date: Option<String>,
    pub datetime: Option<String>,
    pub decimal: Option<char>,
}

/// A column's text for a CSV or JSON target, with the target's date and decimal forms.
///
/// With `keep_typed`, values written in their canonical text stay typed (see [`typed`]).
pub fn formatted(
    c: &Column,
    n: usize,
    how: &ColumnText,
    keep_typed: bool,
) -> Result<TextColumn, String> {
    let err = |e: PolarsError| e.to_string();
    let c = broadcast(c, n);
    let s = c.as_materialized_series();
    let dated = match (s.dtype(), &how.date, &how.datetime) {
        (DataType::Date, Some(fmt), _) => Some(s.date().and_then(|d| d.to_string(fmt))),
        (DataType::Datetime(_, _), _, Some(fmt)) => {
            Some(s.datetime().and_then(|d| d.to_string(fmt)))
        }
        _ => None,
    };
    if let Some(text) = dated {
        return Ok(TextColumn {
            kind: Kind::Text,
            values: Values::Text(text.map_err(err)?),
        });
    }
    let fraction = s.dtype().is_float() || matches!(s.dtype(), DataType::Decimal(_, _));
    let sep = how.decimal.filter(|d| *d != '.' && fraction);
    if keep_typed && sep.is_none() {
        return typed(&c, n).map_err(err);
    }
    let mut t = text(&c, n).map_err(err)?;
    if let Some(sep) = sep {
        let mut buf = [0u8; 4];
        let sep: &str = sep.encode_utf8(&mut buf);
        let text = t.values.to_text();
        t.values = Values::Text(StringChunked::from_iter_options(
            text.name().clone(),
            text.iter().map(|v| v.map(|v| v.replacen('.', sep, 1))),
        ));
        // Not a JSON number any more: written as text.
        t.kind = Kind::Text;
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use polars::prelude::{IntoColumn, NamedFrom, Series};

    #[test]
    fn typed_decimals_are_written_as_their_text_on_both_sides_of_64_bits() {
        let big = i128::from(u64::MAX);
        for v in [
            0,
            1,
            -1,
            5,
            -50,
            1234,
            big - 1,
            big,
            big + 1,
            -big,
            -big - 1,
            i128::MAX,
            i128::MIN + 1,
            i128::MIN,
        ] {
            for scale in [0, 1, 2, 6, 19, 20, 38] {
                for trim in [false, true] {
                    let mut reference = String::new();
                    decimal_text(v, scale, trim, &mut reference);
                    let mut typed = Vec::new();
                    super::super::cells::decimal(v, scale, trim, &mut typed);
                    assert_eq!(
                        String::from_utf8_lossy(&typed),
                        reference,
                        "{v} at scale {scale}, trim {trim}"
                    );
                }
            }
        }
    }

    /// The hand-written texts are polars' own casts (decimals at the default scale without
    /// trailing zeros).
    #[test]
    fn number_and_boolean_texts_match_polars_casts() {
        let cast = |s: &Series| -> Vec<Option<String>> {
            let t = s.cast(&DataType::String).expect("cast");
            t.str()
                .expect("str")
                .iter()
                .map(|v| v.map(str::to_string))
                .collect()
        };
        let ours = |s: &Series| -> Vec<Option<String>> {
            let t = super::text(&s.clone().into_column(), s.len()).expect("text");
            t.values
                .to_text()
                .iter()
                .map(|v| v.map(str::to_string))
                .collect()
        };
        let ints = Series::new(
            "i".into(),
            [
                Some(0i64),
                Some(-1),
                None,
                Some(i64::MIN),
                Some(i64::MAX),
                Some(1234),
            ],
        );
        assert_eq!(ours(&ints), cast(&ints));
        let bools = Series::new("b".into(), [Some(true), None, Some(false)]);
        assert_eq!(ours(&bools), cast(&bools));
        let texts = [
            "0",
            "-0.5",
            "0.05",
            "-12.34",
            "123456789.99",
            "-0.01",
            "7",
            "1e3",
        ];
        for scale in [0usize, 2, DEFAULT_DECIMAL_SCALE as usize, 9] {
            let dec = Series::new("d".into(), texts.map(Some).to_vec())
                .cast(&DataType::Decimal(crate::plan::DECIMAL_PRECISION, scale))
                .expect("decimal");
            let mut expected = cast(&dec);
            if scale == DEFAULT_DECIMAL_SCALE as usize {
                for v in expected.iter_mut().flatten() {
                    if v.contains('.') {
                        let t = v.trim_end_matches('0');
                        *v = t.strip_suffix('.').unwrap_or(t).to_string();
                    }
                }
            }
            assert_eq!(ours(&dec), expected, "scale {scale}");
        }
    }

    #[test]
    fn iso_dates_match_chrono() {
        let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch");
        for days in (-800_000..800_000)
            .step_by(997)
            .chain([0, -1, 59, 60, 11_016, 19_782])
        {
            let mut s = String::new();
            iso_date(days, &mut s);
            let expected = epoch + chrono::Duration::days(days as i64);
            assert_eq!(s, expected.format("%Y-%m-%d").to_string(), "{days}");
        }
    }
}
