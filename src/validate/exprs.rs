//! Field types and rules as polars expressions.
//!
//! Stage 1 turns each raw text column into a *text* (stripped when the type or `trim` asks) and a
//! *typed* value (null when missing or when the text does not parse). Stage 2 turns each rule
//! into a boolean mask that is true exactly where the rule fails; a missing value fails only
//! `required`.
//!
//! The expressions are built per chunk from the [`Shape`] the source saw in each column, so
//! that the common case — no padded and no blank value in a column — costs no string copy at
//! all: stripping and nulling strings is what dominates otherwise.

use polars::prelude::{DataType, Expr, NULL, StrptimeOptions, TimeUnit, coalesce, col, lit, when};

use super::dates::{Format, Memo, Temporal};
use super::length::Length;
use super::messages::RuleKind;
use super::words::Words;
use crate::issue::{Code, Severity};
use crate::plan::{Bound, DECIMAL_PRECISION, Field, FieldType};
use crate::source::CellKind;

pub fn clean_name(fi: usize) -> String {
    format!("\u{1}s{fi}")
}

pub fn key_name(fi: usize) -> String {
    format!("\u{1}k{fi}")
}

/// A mask: true where it fails, false where it holds or has nothing to check.
pub fn failed(e: Expr) -> Expr {
    e.fill_null(lit(false))
}

pub use crate::source::ColumnShape as Shape;

/// Whether the field's text is the stripped value.
fn strips(f: &Field) -> bool {
    f.trim || f.ty.strips_space()
}

/// Stage 1: the text and the typed value of field `fi`, from its raw column. `kind` is the
/// field's [`CellKind`] column when the source has typed cells: a typed cell is read as what it
/// is (a date cell is a date whatever its display format), an error cell has no text (it fails
/// only the [`RuleKind::CellError`] rule).
pub fn text_and_typed(
    raw: Expr,
    f: &Field,
    shape: Shape,
    kind: Option<Expr>,
    memo: &Memo,
) -> (Expr, Expr) {
    let text = if shape.padded && strips(f) {
        raw.str().strip_chars(lit(NULL))
    } else {
        raw
    };
    let text = match &kind {
        Some(k) => when(is_kind(k.clone(), CellKind::Error))
            .then(lit(NULL).cast(DataType::String))
            .otherwise(text),
        None => text,
    };
    let missing = is_missing(text.clone(), f, shape);
    let nulled = || {
        if shape.blank {
            when(missing.clone())
                .then(lit(NULL).cast(DataType::String))
                .otherwise(text.clone())
        } else {
            text.clone()
        }
    };
    let typed = match &f.ty {
        FieldType::String => nulled(),
        FieldType::Email | FieldType::Url | FieldType::Uuid => {
            // A value failing its type as a warning is kept, as null; as an error the row is
            // rejected, so the (costly) nulling is skipped.
            if f.type_severity == Severity::Warning {
                let valid = has_shape(text.clone(), &f.ty);
                match valid {
                    Some(valid) => when(valid)
                        .then(nulled())
                        .otherwise(lit(NULL).cast(DataType::String)),
                    None => nulled(),
                }
            } else {
                nulled()
            }
        }
        ty => {
            let declared = parse(text.clone(), ty, memo);
            match kind {
                Some(k) => cell_parse(text.clone(), ty)
                    .into_iter()
                    .rev()
                    .fold(declared, |rest, (cell, expr)| {
                        when(is_kind(k.clone(), cell)).then(expr).otherwise(rest)
                    }),
                None => declared,
            }
        }
    };
    (text, typed)
}

fn is_kind(kind: Expr, cell: CellKind) -> Expr {
    kind.eq(lit(cell as u32))
}

/// How a typed cell's canonical text (see [`CellKind`]) reads as type `ty`, per cell kind; a
/// kind not listed is read like text, with the declared format.
fn cell_parse(c: Expr, ty: &FieldType) -> Vec<(CellKind, Expr)> {
    let iso_date = || c.clone().str().to_date(strptime("%Y-%m-%d"));
    let micros = DataType::Datetime(TimeUnit::Microseconds, None);
    match ty {
        FieldType::Integer { .. } => vec![(
            CellKind::Number,
            c.map(
                super::parse::integer_column(None),
                super::parse::output(DataType::Int64),
            ),
        )],
        FieldType::Number { .. } => vec![(CellKind::Number, c.cast(DataType::Float64))],
        FieldType::Decimal { scale, .. } => vec![(
            CellKind::Number,
            c.map(
                super::parse::decimal_column('.', None, *scale),
                super::parse::output(DataType::Decimal(DECIMAL_PRECISION, *scale as usize)),
            ),
        )],
        FieldType::Boolean { .. } => vec![(CellKind::Boolean, c.eq(lit("true")))],
        FieldType::Date { .. } => vec![
            (CellKind::Date, iso_date()),
            // A date-time cell is a date only at midnight: a time of day would be lost.
            (
                CellKind::DateTime,
                when(c.clone().str().ends_with(lit(" 00:00:00")))
                    .then(
                        c.clone()
                            .str()
                            .slice(lit(0), lit(10))
                            .str()
                            .to_date(strptime("%Y-%m-%d")),
                    )
                    .otherwise(lit(NULL).cast(DataType::Date)),
            ),
        ],
        FieldType::Datetime { .. } => vec![
            (CellKind::Date, iso_date().cast(micros)),
            (
                CellKind::DateTime,
                c.clone().str().to_datetime(
                    Some(TimeUnit::Microseconds),
                    None,
                    strptime("%Y-%m-%d %H:%M:%S%.f"),
                    lit("raise"),
                ),
            ),
        ],
        FieldType::String | FieldType::Email | FieldType::Url | FieldType::Uuid => Vec::new(),
    }
}

/// A missing value: empty or only white space, whatever the type.
fn is_missing(text: Expr, f: &Field, shape: Shape) -> Expr {
    if !shape.blank {
        lit(false)
    } else if shape.padded && !strips(f) {
        text.str()
            .strip_chars(lit(NULL))
            .str()
            .len_bytes()
            .eq(lit(0u32))
    } else {
        text.str().len_bytes().eq(lit(0u32))
    }
}

/// Whether each value of a text type has the type's shape (see [`super::shapes`]), null where
/// the value is null; `None` for other types.
fn has_shape(c: Expr, ty: &FieldType) -> Option<Expr> {
    super::shapes::check(ty).map(|check| {
        c.map(
            super::shapes::column(check),
            super::parse::output(DataType::Boolean),
        )
    })
}

/// Parses clean text into the field's type; null where it does not parse.
///
/// `memo` keeps what a date kernel read from one chunk to the next (see [`Memo`]).
pub(super) fn parse(c: Expr, ty: &FieldType, memo: &Memo) -> Expr {
    match ty {
        FieldType::String | FieldType::Email | FieldType::Url | FieldType::Uuid => c,
        FieldType::Integer { thousands } => c.map(
            super::parse::integer_column(*thousands),
            super::parse::output(DataType::Int64),
        ),
        FieldType::Number { decimal, thousands } => {
            let valid = c
                .clone()
                .str()
                .contains(lit(number_regex(*thousands, Some((*decimal, None)))), true);
            let c = with_point(without(c, *thousands), *decimal);
            when(valid)
                .then(c.cast(DataType::Float64))
                .otherwise(lit(NULL).cast(DataType::Float64))
        }
        FieldType::Decimal {
            scale,
            decimal,
            thousands,
        } => c.map(
            super::parse::decimal_column(*decimal, *thousands, *scale),
            super::parse::output(DataType::Decimal(DECIMAL_PRECISION, *scale as usize)),
        ),
        FieldType::Boolean {
            true_values,
            false_values,
        } => c.map(
            super::words::boolean_column(Words::new(true_values), Words::new(false_values)),
            super::parse::output(DataType::Boolean),
        ),
        FieldType::Date { formats } => temporal(c, formats, Temporal::Date, memo),
        FieldType::Datetime { formats } => temporal(c, formats, Temporal::Datetime, memo),
    }
}

/// Dates and date-times: the first format that reads the text wins. Formats the hand-written
/// parser takes (see [`super::dates`]) run there, the others with polars' `strptime`.
pub(super) fn temporal(c: Expr, formats: &[String], kind: Temporal, memo: &Memo) -> Expr {
    let compiled: Vec<Option<Format>> = formats.iter().map(|f| Format::new(f, kind)).collect();
    let kernel = |c: Expr, formats: Vec<Format>, memo: Memo| {
        c.map(
            super::dates::column(formats, kind, memo),
            super::parse::output(super::dates::dtype(kind)),
        )
    };
    if compiled.iter().all(Option::is_some) {
        return kernel(c, compiled.into_iter().flatten().collect(), memo.clone());
    }
    let attempts = formats
        .iter()
        .zip(compiled)
        .map(|(f, k)| match k {
            // One kernel per format here: each reads with its own memo, made for the chunk.
            Some(k) => kernel(c.clone(), vec![k], Memo::default()),
            None => polars_temporal(c.clone(), f, kind),
        })
        .collect();
    first_of(attempts)
}

/// One format read by polars: the text must have the format's shape, then `strptime` reads it.
pub(super) fn polars_temporal(c: Expr, format: &str, kind: Temporal) -> Expr {
    match kind {
        Temporal::Date => shaped(c, format, DataType::Date, |c| {
            c.str().to_date(strptime(format))
        }),
        Temporal::Datetime => {
            let dtype = DataType::Datetime(TimeUnit::Microseconds, None);
            shaped(c, format, dtype, |c| {
                c.str().to_datetime(
                    Some(TimeUnit::Microseconds),
                    None,
                    strptime(format),
                    lit("raise"),
                )
            })
        }
    }
}

/// The text of a valid number: an optional sign, digits (grouped by threes when `thousands` is
/// declared, e.g. `1 234 567`), then for fractional types the declared decimal separator and
/// fraction digits — at most `scale` of them for decimals; numbers also take an exponent.
pub fn number_regex(thousands: Option<char>, fraction: Option<(char, Option<u32>)>) -> String {
    let int = match thousands {
        Some(t) => {
            let t = regex::escape(&t.to_string());
            format!(r"([0-9]{{1,3}}({t}[0-9]{{3}})+|[0-9]+)")
        }
        None => r"[0-9]+".to_string(),
    };
    let body = match fraction {
        None => int,
        Some((decimal, places)) => {
            let d = regex::escape(&decimal.to_string());
            let digits = match places {
                Some(0) => return format!(r"^[+-]?{int}$"),
                Some(s) => format!(r"[0-9]{{1,{s}}}"),
                None => r"[0-9]+".to_string(),
            };
            let exponent = if places.is_none() {
                r"([eE][+-]?[0-9]+)?"
            } else {
                ""
            };
            format!(r"({int}({d}{digits})?|{d}{digits}){exponent}")
        }
    };
    format!(r"^[+-]?{body}$")
}

/// A date parse that also requires the text to have the format's shape: chrono alone takes
/// `1/3/24` for `%d/%m/%Y` (year 24), which an export never means.
fn shaped(c: Expr, format: &str, dtype: DataType, parse: impl FnOnce(Expr) -> Expr) -> Expr {
    let valid = c.clone().str().contains(lit(format_regex(format)), true);
    when(valid).then(parse(c)).otherwise(lit(NULL).cast(dtype))
}

/// A regex for the shape of a chrono format: numeric directives become digit runs of their
/// width (`%Y` four digits), other directives any text, literal characters themselves.
pub fn format_regex(format: &str) -> String {
    let mut re = String::from("^");
    let mut chars = format.chars().peekable();
    while let Some(ch) = chars.next() {
        if ch != '%' {
            re.push_str(&regex::escape(&ch.to_string()));
            continue;
        }
        let mut spec = String::new();
        while let Some(&next) = chars.peek() {
            chars.next();
            spec.push(next);
            if !matches!(next, '-' | '_' | '0' | '.' | ':' | '#' | '3' | '6' | '9') {
                break;
            }
        }
        let part = match spec.trim_start_matches(['-', '_', '0']) {
            "Y" => r"[+-]?[0-9]{4}",
            "C" | "y" | "g" => r"[0-9]{2}",
            "G" => r"[0-9]{4}",
            "m" | "d" | "H" | "I" | "M" | "S" | "U" | "W" | "V" | "u" | "w" => r"[0-9]{1,2}",
            "e" | "k" | "l" => r"\s?[0-9]{1,2}",
            "j" => r"[0-9]{1,3}",
            "F" => r"[+-]?[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}",
            "T" => r"[0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}",
            "R" => r"[0-9]{1,2}:[0-9]{1,2}",
            "%" => "%",
            "n" | "t" => r"\s",
            _ => ".*?",
        };
        re.push_str(part);
    }
    re.push('$');
    re
}

pub(super) fn first_of(mut attempts: Vec<Expr>) -> Expr {
    if attempts.len() == 1 {
        attempts.remove(0)
    } else {
        coalesce(&attempts)
    }
}

fn strptime(format: &str) -> StrptimeOptions {
    StrptimeOptions {
        format: Some(format.into()),
        strict: false,
        exact: true,
        cache: true,
    }
}

fn without(c: Expr, thousands: Option<char>) -> Expr {
    match thousands {
        Some(t) => c.str().replace_all(lit(t.to_string()), lit(""), true),
        None => c,
    }
}

fn with_point(c: Expr, decimal: char) -> Expr {
    if decimal == '.' {
        c
    } else {
        c.str()
            .replace_all(lit(decimal.to_string()), lit("."), true)
    }
}

/// A bound as a literal of the field's type, parsed from its canonical text.
fn bound(b: &Bound, ty: &FieldType) -> Expr {
    let text = lit(b.canonical.as_str());
    match ty {
        FieldType::Integer { .. } => text.cast(DataType::Int64),
        FieldType::Number { .. } => text.cast(DataType::Float64),
        FieldType::Decimal { scale, .. } => {
            text.cast(DataType::Decimal(DECIMAL_PRECISION, *scale as usize))
        }
        FieldType::Date { .. } => text.str().to_date(strptime("%Y-%m-%d")),
        FieldType::Datetime { .. } => text.str().to_datetime(
            Some(TimeUnit::Microseconds),
            None,
            strptime("%Y-%m-%dT%H:%M:%S%.f"),
            lit("raise"),
        ),
        _ => text,
    }
}

/// Whether each value fails a length rule (null where the value is null).
fn length(c: Expr, rule: Length) -> Expr {
    c.map(
        super::length::column(rule),
        super::parse::output(DataType::Boolean),
    )
}

/// Every mask of one field, in a fixed order: cell error (typed sources), required, type,
/// pattern, enum, range, length. `kind` is the field's [`CellKind`] column, if any.
pub fn field_masks(
    fi: usize,
    f: &Field,
    shape: Shape,
    kind: Option<Expr>,
) -> Vec<(Code, Severity, RuleKind, Expr)> {
    let c = || col(clean_name(fi));
    let typed = || col(f.name.as_str());
    let missing = || is_missing(c(), f, shape);
    let present = || missing().not();
    let mut out = Vec::new();
    if let Some(k) = kind {
        out.push((
            Code::TypeMismatch,
            Severity::Error,
            RuleKind::CellError,
            failed(is_kind(k, CellKind::Error)),
        ));
    }
    if let Some(sev) = f.required {
        out.push((Code::RequiredMissing, sev, RuleKind::Required, missing()));
    }
    match has_shape(c(), &f.ty) {
        Some(valid) => out.push((
            Code::TypeMismatch,
            f.type_severity,
            RuleKind::Type,
            failed(present().and(valid.not())),
        )),
        None if f.ty != FieldType::String => out.push((
            Code::TypeMismatch,
            f.type_severity,
            RuleKind::Type,
            present().and(typed().is_null()),
        )),
        None => {}
    }
    if let Some((pattern, sev)) = &f.pattern {
        let matches = match super::pattern::Pattern::new(pattern) {
            Some(p) => c().map(
                super::pattern::column(p),
                super::parse::output(DataType::Boolean),
            ),
            None => c().str().contains(lit(pattern.as_str()), true),
        };
        let mismatch = matches.not();
        out.push((
            Code::PatternMismatch,
            *sev,
            RuleKind::Pattern,
            failed(present().and(mismatch)),
        ));
    }
    if let Some(rule) = &f.enum_rule {
        let values = if rule.ignore_case {
            rule.values.iter().map(|v| v.to_lowercase()).collect()
        } else {
            rule.values.clone()
        };
        let outside = c().map(
            super::words::outside_column(Words::new(&values), rule.ignore_case),
            super::parse::output(DataType::Boolean),
        );
        out.push((
            Code::EnumMismatch,
            rule.severity,
            RuleKind::Enum,
            failed(present().and(outside)),
        ));
    }
    if let Some(min) = &f.min {
        let below = typed().lt(bound(min, &f.ty));
        out.push((
            Code::OutOfRange,
            f.range_severity,
            RuleKind::Min,
            failed(below),
        ));
    }
    if let Some(max) = &f.max {
        let above = typed().gt(bound(max, &f.ty));
        out.push((
            Code::OutOfRange,
            f.range_severity,
            RuleKind::Max,
            failed(above),
        ));
    }
    if let Some(n) = f.min_length {
        let short = length(c(), Length::Least(n as u32));
        out.push((
            Code::LengthOutOfRange,
            f.length_severity,
            RuleKind::MinLength,
            failed(present().and(short)),
        ));
    }
    if let Some(n) = f.max_length {
        let long = length(c(), Length::Most(n as u32));
        out.push((
            Code::LengthOutOfRange,
            f.length_severity,
            RuleKind::MaxLength,
            failed(present().and(long)),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_regex_requires_four_digit_years() {
        let re = |f| regex::Regex::new(&format_regex(f)).unwrap_or_else(|e| panic!("{e}"));
        assert!(re("%d/%m/%Y").is_match("1/3/2024"));
        assert!(re("%d/%m/%Y").is_match("01/03/2024"));
        assert!(!re("%d/%m/%Y").is_match("1/3/24"));
        assert!(re("%Y-%m-%dT%H:%M:%S%.f").is_match("2024-03-01T10:20:30.123"));
        assert!(re("%Y-%m-%dT%H:%M:%S%.f").is_match("2024-03-01T10:20:30"));
        assert!(re("%d %B %Y").is_match("1 mars 2024"));
    }

    #[test]
    fn number_regex_checks_separators_grouping_and_places() {
        let re = |t, f| regex::Regex::new(&number_regex(t, f)).unwrap_or_else(|e| panic!("{e}"));
        let decimal = re(None, Some(('.', Some(2))));
        assert!(decimal.is_match("12.50"));
        assert!(decimal.is_match("-0.5"));
        assert!(decimal.is_match("7"));
        assert!(!decimal.is_match("12.505"));
        assert!(!decimal.is_match("12.5.0"));
        assert!(!decimal.is_match("1e5"));
        let french = re(Some(' '), Some((',', Some(2))));
        assert!(french.is_match("1 234 567,89"));
        assert!(french.is_match("1234,5"));
        assert!(
            !french.is_match("12.50"),
            "a point is not the declared decimal separator"
        );
        assert!(!french.is_match("1 23,00"), "groups are three digits");
        let integer = re(Some(','), None);
        assert!(integer.is_match("1,234"));
        assert!(!integer.is_match("1,2,3"));
        let number = re(None, Some(('.', None)));
        assert!(number.is_match("2e-3"));
        assert!(!number.is_match("NaN"));
    }
}
