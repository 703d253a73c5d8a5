//! Hand-written parsers for the numeric types, run as polars column functions.
//!
//! Parsing numbers is the hottest per-value work of validation. One pass over the text that
//! checks the shape (sign, digits grouped by the declared thousands separator, the declared
//! decimal separator, at most `scale` places) and builds the value at once replaces a regex, a
//! string replacement (which copies every value) and a cast.

use polars::prelude::{
    Column, DataType, Field, Int64Type, Int128Type, IntoColumn, PolarsResult, Schema,
};

use crate::plan::DECIMAL_PRECISION;

/// Digits of the integer part, grouped by threes when `thousands` is set; returns the value
/// and the rest of the text. `None` when the shape is wrong or the value overflows.
fn integer_part(text: &str, thousands: Option<char>) -> Option<(i128, &str)> {
    let digits = |s: &str| s.bytes().take_while(u8::is_ascii_digit).count();
    let mut rest = text;
    let first = digits(rest);
    let mut value: i128 = 0;
    let push = |run: &str, value: &mut i128| -> Option<()> {
        *value = push_digits(*value, run.as_bytes())?;
        Some(())
    };
    push(&rest[..first], &mut value)?;
    rest = &rest[first..];
    if let Some(t) = thousands
        && rest.starts_with(t)
    {
        if !(1..=3).contains(&first) {
            return None;
        }
        while let Some(after) = rest.strip_prefix(t) {
            if digits(after) != 3 {
                return None;
            }
            push(&after[..3], &mut value)?;
            rest = &after[3..];
        }
    }
    if first == 0 {
        // No integer digits: only valid before a fraction (`,5`), checked by the caller.
        return Some((0, rest)).filter(|_| !rest.is_empty());
    }
    Some((value, rest))
}

/// Powers of ten, `10^0` to `10^38`.
const POW10: [i128; 39] = {
    let mut p = [1i128; 39];
    let mut i = 1;
    while i < p.len() {
        p[i] = p[i - 1] * 10;
        i += 1;
    }
    p
};

/// `value` followed by the ASCII `digits`; `None` when the number overflows. The digits are
/// read 18 at a time into a `u64`: a number only grows as digits are added, so checking the
/// overflow per run is checking it per digit.
fn push_digits(mut value: i128, digits: &[u8]) -> Option<i128> {
    let read = |run: &[u8]| run.iter().fold(0u64, |n, b| n * 10 + u64::from(b - b'0'));
    if value == 0 && digits.len() <= 18 {
        return Some(i128::from(read(digits)));
    }
    for run in digits.chunks(18) {
        let n = read(run);
        value = if value == 0 {
            i128::from(n)
        } else {
            value
                .checked_mul(POW10[run.len()])?
                .checked_add(i128::from(n))?
        };
    }
    Some(value)
}

fn sign(text: &str) -> (i128, &str) {
    match text.as_bytes().first() {
        Some(b'-') => (-1, &text[1..]),
        Some(b'+') => (1, &text[1..]),
        _ => (1, text),
    }
}

/// The common case of [`integer`] and [`decimal`] in one pass over the bytes: an optional sign,
/// then digits with at most one `separator` (an ASCII decimal separator; `0xff`, never in UTF-8
/// text, for integers), at most 18 digits with the `scale` places padded. Its answer is theirs;
/// any other byte (a thousands separator, a second separator) or a longer number is left to
/// them (`None`).
#[inline]
fn quick(text: &[u8], separator: u8, scale: u32) -> Option<Option<i128>> {
    let (negative, body) = match text {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, text),
    };
    // No integer digit (``, `,5`) is left to the full parsers.
    if !body.first().is_some_and(u8::is_ascii_digit) || body.len() > 19 {
        return None;
    }
    let mut value = 0u64;
    let mut point = None;
    for (i, &b) in body.iter().enumerate() {
        let digit = b.wrapping_sub(b'0');
        if digit < 10 {
            value = value * 10 + u64::from(digit);
        } else if b == separator && point.is_none() {
            point = Some(i);
        } else {
            return None;
        }
    }
    let places = point.map_or(0, |p| body.len() - p - 1);
    let digits = body.len() - usize::from(point.is_some()) - places;
    if digits + scale as usize > 18 {
        return None;
    }
    // A separator needs a digit after it, and at most `scale` of them.
    if point.is_some() && (places == 0 || places > scale as usize) {
        return Some(None);
    }
    let value = i128::from(value) * POW10[scale as usize - places];
    Some(Some(if negative { -value } else { value }))
}

/// An integer: optional sign, digits (grouped by threes with `thousands`).
pub fn integer(text: &str, thousands: Option<char>) -> Option<i64> {
    if let Some(decided) = quick(text.as_bytes(), 0xff, 0) {
        return decided.and_then(|v| i64::try_from(v).ok());
    }
    let (sign, body) = sign(text);
    if body.is_empty() || !body.as_bytes()[0].is_ascii_digit() {
        return None;
    }
    let (value, rest) = integer_part(body, thousands)?;
    if !rest.is_empty() {
        return None;
    }
    i64::try_from(sign * value).ok()
}

/// A decimal as an integer count of `10^-scale`: optional sign, integer digits (grouped with
/// `thousands`), then `decimal` and 1 to `scale` digits. At most 38 significant digits.
pub fn decimal(text: &str, decimal: char, thousands: Option<char>, scale: u32) -> Option<i128> {
    if let Ok(separator) = u8::try_from(decimal)
        && thousands != Some(decimal)
        && let Some(decided) = quick(text.as_bytes(), separator, scale)
    {
        return decided;
    }
    let (sign, body) = sign(text);
    let starts_with_digit = body.as_bytes().first().is_some_and(u8::is_ascii_digit);
    let (int, rest) = if starts_with_digit {
        integer_part(body, thousands)?
    } else {
        (0, body)
    };
    let frac_text = match rest.strip_prefix(decimal) {
        Some(f) => f,
        None if rest.is_empty() && starts_with_digit => "",
        None => return None,
    };
    let places = frac_text.len();
    if (!rest.is_empty() && places == 0)
        || places > scale as usize
        || !frac_text.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let unit = *POW10.get(scale as usize)?;
    // Below 2^63 times at most 10^18, the product fits: no costly checked `i128` product.
    let mut value = if int <= i128::from(i64::MAX) && unit <= POW10[18] {
        int * unit
    } else {
        int.checked_mul(unit)?
    };
    let mut frac: i128 = 0;
    for b in frac_text.bytes() {
        frac = frac * 10 + i128::from(b - b'0');
    }
    value = value.checked_add(frac * POW10[scale as usize - places])?;
    (value < POW10[DECIMAL_PRECISION]).then_some(sign * value)
}

/// `expr.map(...)` arguments: the column function parsing integers.
pub fn integer_column(thousands: Option<char>) -> impl Fn(Column) -> PolarsResult<Column> {
    move |c: Column| {
        Ok(super::column::parse_text::<Int64Type>(&c, |v| integer(v, thousands))?.into_column())
    }
}

/// `expr.map(...)` arguments: the column function parsing decimals of `scale`.
pub fn decimal_column(
    decimal_sep: char,
    thousands: Option<char>,
    scale: u32,
) -> impl Fn(Column) -> PolarsResult<Column> {
    move |c: Column| {
        Ok(super::column::parse_text::<Int128Type>(&c, |v| {
            decimal(v, decimal_sep, thousands, scale)
        })?
        .into_decimal_unchecked(DECIMAL_PRECISION, scale as usize)
        .into_column())
    }
}

/// The output field of a column function producing `dtype`.
pub fn output(dtype: DataType) -> impl Fn(&Schema, &Field) -> PolarsResult<Field> {
    move |_: &Schema, f: &Field| Ok(Field::new(f.name().clone(), dtype.clone()))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The parsers as they were, digit by digit with checked `i128` arithmetic: the oracle of
    /// the faster ones.
    mod reference {
        use crate::plan::DECIMAL_PRECISION;

        /// Digits of the integer part, grouped by threes when `thousands` is set; returns the value
        /// and the rest of the text. `None` when the shape is wrong or the value overflows.
        fn integer_part(text: &str, thousands: Option<char>) -> Option<(i128, &str)> {
            let digits = |s: &str| s.bytes().take_while(u8::is_ascii_digit).count();
            let mut rest = text;
            let first = digits(rest);
            let mut value: i128 = 0;
            let push = |run: &str, value: &mut i128| -> Option<()> {
                for b in run.bytes() {
                    *value = value.checked_mul(10)?.checked_add(i128::from(b - b'0'))?;
                }
                Some(())
            };
            push(&rest[..first], &mut value)?;
            rest = &rest[first..];
            if let Some(t) = thousands
                && rest.starts_with(t)
            {
                if !(1..=3).contains(&first) {
                    return None;
                }
                while let Some(after) = rest.strip_prefix(t) {
                    if digits(after) != 3 {
                        return None;
                    }
                    push(&after[..3], &mut value)?;
                    rest = &after[3..];
                }
            }
            if first == 0 {
                // No integer digits: only valid before a fraction (`,5`), checked by the caller.
                return Some((0, rest)).filter(|_| !rest.is_empty());
            }
            Some((value, rest))
        }

        fn sign(text: &str) -> (i128, &str) {
            match text.as_bytes().first() {
                Some(b'-') => (-1, &text[1..]),
                Some(b'+') => (1, &text[1..]),
                _ => (1, text),
            }
        }

        /// An integer: optional sign, digits (grouped by threes with `thousands`).
        pub fn integer(text: &str, thousands: Option<char>) -> Option<i64> {
            let (sign, body) = sign(text);
            if body.is_empty() || !body.as_bytes()[0].is_ascii_digit() {
                return None;
            }
            let (value, rest) = integer_part(body, thousands)?;
            if !rest.is_empty() {
                return None;
            }
            i64::try_from(sign * value).ok()
        }

        /// A decimal as an integer count of `10^-scale`: optional sign, integer digits (grouped with
        /// `thousands`), then `decimal` and 1 to `scale` digits. At most 38 significant digits.
        pub fn decimal(
            text: &str,
            decimal: char,
            thousands: Option<char>,
            scale: u32,
        ) -> Option<i128> {
            let (sign, body) = sign(text);
            let starts_with_digit = body.as_bytes().first().is_some_and(u8::is_ascii_digit);
            let (int, rest) = if starts_with_digit {
                integer_part(body, thousands)?
            } else {
                (0, body)
            };
            let frac_text = match rest.strip_prefix(decimal) {
                Some(f) => f,
                None if rest.is_empty() && starts_with_digit => "",
                None => return None,
            };
            let places = frac_text.len();
            if (!rest.is_empty() && places == 0)
                || places > scale as usize
                || !frac_text.bytes().all(|b| b.is_ascii_digit())
            {
                return None;
            }
            let mut value = int.checked_mul(10i128.checked_pow(scale)?)?;
            let mut frac: i128 = 0;
            for b in frac_text.bytes() {
                frac = frac * 10 + i128::from(b - b'0');
            }
            value = value.checked_add(frac * 10i128.pow(scale - places as u32))?;
            let limit = 10i128.pow(DECIMAL_PRECISION as u32);
            (value < limit).then_some(sign * value)
        }
    }

    fn number_text() -> impl Strategy<Value = String> {
        let piece = prop::sample::select(vec![
            "0",
            "7",
            "12",
            "345",
            "000",
            "999",
            "-",
            "+",
            ".",
            ",",
            " ",
            "\u{202f}",
            "1234567",
            "99999999999999999999",
            "170141183460469231731687303715884105727",
            "e",
            "x",
        ]);
        prop::collection::vec(piece, 0..8).prop_map(|v| v.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn parsers_agree_with_the_digit_by_digit_ones(
            text in number_text(),
            thousands in prop::sample::select(vec![None, Some(','), Some(' '), Some('.'), Some('\u{202f}')]),
            decimal_sep in prop::sample::select(vec!['.', ',']),
            scale in 0u32..=40,
        ) {
            prop_assert_eq!(integer(&text, thousands), reference::integer(&text, thousands));
            if thousands != Some(decimal_sep) {
                prop_assert_eq!(
                    decimal(&text, decimal_sep, thousands, scale),
                    reference::decimal(&text, decimal_sep, thousands, scale)
                );
            }
        }
    }

    #[test]
    fn integers() {
        assert_eq!(integer("12", None), Some(12));
        assert_eq!(integer("-3", None), Some(-3));
        assert_eq!(integer("+4", None), Some(4));
        assert_eq!(integer("007", None), Some(7));
        for bad in ["", "-", "1e3", "3,5", "0x10", "1.0", "abc", " 7", "1 000"] {
            assert_eq!(integer(bad, None), None, "{bad}");
        }
        assert_eq!(integer("1 234 567", Some(' ')), Some(1_234_567));
        assert_eq!(integer("1234567", Some(' ')), Some(1_234_567));
        assert_eq!(integer("1,2,3", Some(',')), None);
        assert_eq!(integer("1234,567", Some(',')), None);
        assert_eq!(integer("1\u{202f}234", Some('\u{202f}')), Some(1234));
        assert_eq!(integer("9223372036854775807", None), Some(i64::MAX));
        assert_eq!(integer("9223372036854775808", None), None);
    }

    #[test]
    fn decimals() {
        let d = |s| decimal(s, ',', Some(' '), 2);
        assert_eq!(d("0,29"), Some(29));
        assert_eq!(d("12"), Some(1200));
        assert_eq!(d("7,5"), Some(750));
        assert_eq!(d("-4,00"), Some(-400));
        assert_eq!(d(",5"), Some(50));
        assert_eq!(d("1 234,50"), Some(123_450));
        for bad in [
            "", "12,505", "12,5,0", "12.50", "1 23,00", "12,", ",", "-", "1e5", "abc",
        ] {
            assert_eq!(d(bad), None, "{bad}");
        }
        assert_eq!(decimal("12.50", '.', None, 2), Some(1250));
        assert_eq!(decimal("3", '.', None, 0), Some(3));
        assert_eq!(decimal("3.0", '.', None, 0), None);
        assert_eq!(
            decimal(&"9".repeat(37), '.', None, 2),
            None,
            "over 38 digits"
        );
    }
}
