//! What a value becomes in a sheet: a typed cell when Excel holds it exactly, else its text;
//! and how wide it shows, to size the columns.

use rust_xlsxwriter::ExcelDateTime;

use super::{DATE_FORMAT, DATETIME_FORMAT, MAX_CELL_CHARS};
use crate::project::text::Kind;

/// What a value becomes in the sheet.
pub(super) enum SheetCell<'a> {
    Text(&'a str),
    Number(f64),
    Boolean(bool),
    Date(ExcelDateTime),
    DateTime(ExcelDateTime),
}

pub(super) fn cell(kind: Kind, v: &str) -> SheetCell<'_> {
    let typed = match kind {
        Kind::Text => None,
        Kind::Number => number(v).map(SheetCell::Number),
        Kind::Boolean => match v {
            "true" => Some(SheetCell::Boolean(true)),
            "false" => Some(SheetCell::Boolean(false)),
            _ => None,
        },
        Kind::Date => date(v).map(SheetCell::Date),
        Kind::DateTime => datetime(v).map(SheetCell::DateTime),
    };
    typed.unwrap_or(SheetCell::Text(v))
}

/// A number Excel holds exactly: plain decimal syntax (`-12.5`, `3e-7`), at most 15 significant
/// digits (Excel's precision: such a decimal survives the trip through a double), finite and
/// within Excel's range. Otherwise `None`, and the value is written as text.
pub(super) fn number(v: &str) -> Option<f64> {
    let b = v.as_bytes();
    let mut i = usize::from(matches!(b.first(), Some(b'-' | b'+')));
    let mut digits = 0;
    let mut significant: Option<(usize, usize)> = None; // first and last non-zero digit
    let mut seen_point = false;
    while let Some(&c) = b.get(i) {
        match c {
            b'0'..=b'9' => {
                if c != b'0' {
                    let first = significant.map_or(digits, |(f, _)| f);
                    significant = Some((first, digits));
                }
                digits += 1;
            }
            b'.' if !seen_point => seen_point = true,
            b'e' | b'E' => break,
            _ => return None,
        }
        i += 1;
    }
    if digits == 0 {
        return None;
    }
    if let Some(rest) = b.get(i + 1..) {
        // An exponent: an optional sign and at least one digit.
        let rest = rest
            .strip_prefix(b"-")
            .or(rest.strip_prefix(b"+"))
            .unwrap_or(rest);
        if rest.is_empty() || !rest.iter().all(u8::is_ascii_digit) {
            return None;
        }
    }
    if significant.is_some_and(|(first, last)| last - first + 1 > 15) {
        return None;
    }
    let x: f64 = v.parse().ok()?;
    // Excel's largest number, and its smallest normal one.
    let ok = x == 0.0
        || (x.is_finite() && (2.2250738585072014e-308..=9.99999999999999e307).contains(&x.abs()));
    ok.then_some(x)
}

/// `2024-01-31` → its parts, checked against the calendar.
fn ymd(v: &str) -> Option<(u16, u8, u8)> {
    let b = v.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let y: u16 = digits(&b[0..4])?;
    let m: u8 = digits(&b[5..7])?;
    let d: u8 = digits(&b[8..10])?;
    chrono::NaiveDate::from_ymd_opt(i32::from(y), u32::from(m), u32::from(d))?;
    (1900..=9999).contains(&y).then_some((y, m, d))
}

fn digits<T: std::str::FromStr>(b: &[u8]) -> Option<T> {
    if !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(b).ok()?.parse().ok()
}

pub(super) fn date(v: &str) -> Option<ExcelDateTime> {
    let (y, m, d) = ymd(v)?;
    ExcelDateTime::from_ymd(y, m, d).ok()
}

/// `2024-01-31T10:00:00`, with an optional fraction of a second.
pub(super) fn datetime(v: &str) -> Option<ExcelDateTime> {
    let (day, time) = v.split_at_checked(10)?;
    let (y, m, d) = ymd(day)?;
    let time = time.strip_prefix('T')?.as_bytes();
    if time.len() < 8 || time[2] != b':' || time[5] != b':' {
        return None;
    }
    let h: u16 = digits(&time[0..2])?;
    let min: u8 = digits(&time[3..5])?;
    let s: u8 = digits(&time[6..8])?;
    if h > 23 || min > 59 || s > 59 {
        return None;
    }
    // Excel keeps milliseconds: a finer fraction would be rounded, so it stays text.
    let fraction = match &time[8..] {
        [] => &[][..],
        [b'.', rest @ ..] if !rest.is_empty() && rest.iter().all(u8::is_ascii_digit) => rest,
        _ => return None,
    };
    let fraction = trim_trailing_zeros(fraction);
    if fraction.len() > 3 {
        return None;
    }
    let mut sec = f64::from(s);
    if !fraction.is_empty() {
        // Parsed as one decimal (`59.999`), not summed: no binary rounding above 59.999.
        sec = format!("{s}.{}", std::str::from_utf8(fraction).ok()?)
            .parse()
            .ok()?;
    }
    ExcelDateTime::from_ymd(y, m, d)
        .ok()?
        .and_hms(h, min, sec)
        .ok()
}

fn trim_trailing_zeros(mut b: &[u8]) -> &[u8] {
    while let [rest @ .., b'0'] = b {
        b = rest;
    }
    b
}

/// Characters a value shows as, for its column's width.
pub(super) fn display_chars(kind: Kind, v: &str, format: Option<&str>, known: usize) -> usize {
    match (cell(kind, v), format) {
        (SheetCell::Date(_) | SheetCell::DateTime(_), Some(f)) => f.chars().count(),
        (SheetCell::Date(_), None) => DATE_FORMAT.len(),
        (SheetCell::DateTime(_), None) => DATETIME_FORMAT.len(),
        (SheetCell::Boolean(_), _) => 5,
        // Characters never outnumber bytes: a value no longer than the widest so far is skipped.
        _ if v.len() <= known => known,
        _ => v.lines().map(|l| l.chars().count()).max().unwrap_or(0),
    }
}

pub(super) fn utf16_len(v: &str) -> usize {
    // UTF-16 code units never outnumber UTF-8 bytes.
    if v.len() <= MAX_CELL_CHARS {
        v.len()
    } else {
        v.encode_utf16().count()
    }
}
