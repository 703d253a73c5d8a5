//! A workbook cell as text: each calamine value turned into its canonical text and
//! [`CellKind`] — numbers without exponent or trailing zero (`12`, `0.29`), booleans as `true`
//! and `false`, date serials and ISO cells as `2024-03-01`, `2024-03-01 10:30:00`, `10:30:00`
//! (what a cell's number format shows decides which: [`time_class`]), errors as `#N/A`.
//! Display formats never leak into the text. Must not know rows, sheets or limits.

use std::fmt::Write as _;

use calamine::{Data, DataRef, ExcelDateTime};

use crate::source::CellKind;

/// A cell value, whichever calamine type it came in.
pub(super) enum Value<'a> {
    Empty,
    Text(&'a str),
    Int(i64),
    Float(f64),
    Bool(bool),
    Serial(ExcelDateTime),
    IsoDateTime(&'a str),
    IsoDuration(&'a str),
    Error(&'a calamine::CellErrorType),
}

impl<'a> Value<'a> {
    pub(super) fn from_ref(v: &'a DataRef<'_>) -> Self {
        match v {
            DataRef::Int(i) => Value::Int(*i),
            DataRef::Float(f) => Value::Float(*f),
            DataRef::String(s) => Value::Text(s),
            DataRef::SharedString(s) => Value::Text(s),
            DataRef::Bool(b) => Value::Bool(*b),
            DataRef::DateTime(d) => Value::Serial(*d),
            DataRef::DateTimeIso(s) => Value::IsoDateTime(s),
            DataRef::DurationIso(s) => Value::IsoDuration(s),
            DataRef::Error(e) => Value::Error(e),
            DataRef::Empty => Value::Empty,
        }
    }

    pub(super) fn from_data(v: &'a Data) -> Self {
        match v {
            Data::Int(i) => Value::Int(*i),
            Data::Float(f) => Value::Float(*f),
            Data::String(s) => Value::Text(s),
            Data::Bool(b) => Value::Bool(*b),
            Data::DateTime(d) => Value::Serial(*d),
            Data::DateTimeIso(s) => Value::IsoDateTime(s),
            Data::DurationIso(s) => Value::IsoDuration(s),
            Data::Error(e) => Value::Error(e),
            Data::Empty => Value::Empty,
        }
    }
}

/// What a date-formatted cell's number format shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeClass {
    /// A date without a time of day (`dd/mm/yyyy`).
    Date,
    /// Date and time (`yyyy-mm-dd hh:mm`).
    DateTime,
    /// A time of day or an elapsed time without a date (`hh:mm`, `[h]:mm:ss`).
    Time,
    /// Not known (no format, or a format that shows neither).
    Unknown,
}

/// Classifies a number format code by the date and time parts its first section shows.
/// Quoted text, escaped characters and bracketed modifiers (`[Red]`, `[$-409]`) are not parts;
/// elapsed-time brackets (`[h]`, `[mm]`) are. `m` alone is a month, next to `h` or `s` a minute.
pub fn time_class(code: &str) -> TimeClass {
    let mut date = false;
    let mut time = false;
    let mut month_or_minute = false;
    let mut chars = code.chars().peekable();
    while let Some(c) = chars.next() {
        match c.to_ascii_lowercase() {
            ';' => break,
            '"' => {
                for q in chars.by_ref() {
                    if q == '"' {
                        break;
                    }
                }
            }
            '\\' | '_' | '*' => {
                chars.next();
            }
            '[' => {
                let mut inner = String::new();
                for b in chars.by_ref() {
                    if b == ']' {
                        break;
                    }
                    inner.push(b.to_ascii_lowercase());
                }
                if !inner.is_empty() && inner.chars().all(|b| matches!(b, 'h' | 'm' | 's')) {
                    time = true;
                }
            }
            'd' | 'y' => date = true,
            'h' | 's' => time = true,
            'm' => month_or_minute = true,
            'a' => {
                // AM/PM or A/P
                if matches!(chars.peek(), Some('m' | 'M' | '/')) {
                    time = true;
                    chars.next();
                }
            }
            _ => {}
        }
    }
    if month_or_minute && !time {
        date = true;
    }
    match (date, time) {
        (true, true) => TimeClass::DateTime,
        (true, false) => TimeClass::Date,
        (false, true) => TimeClass::Time,
        (false, false) => TimeClass::Unknown,
    }
}

/// Writes the canonical text of `value` to `out` and returns its kind; `None` (and nothing
/// written) for an empty cell.
pub(super) fn canonical(value: Value<'_>, class: TimeClass, out: &mut String) -> Option<CellKind> {
    Some(match value {
        Value::Empty => return None,
        Value::Text(s) => {
            if s.is_empty() {
                return None;
            }
            out.push_str(s);
            CellKind::Text
        }
        Value::Int(i) => {
            let _ = write!(out, "{i}");
            CellKind::Number
        }
        Value::Float(f) => {
            number_text(f, out);
            CellKind::Number
        }
        Value::Bool(b) => {
            out.push_str(if b { "true" } else { "false" });
            CellKind::Boolean
        }
        Value::Error(e) => {
            let _ = write!(out, "{e}");
            CellKind::Error
        }
        Value::Serial(d) => serial_text(d, class, out),
        Value::IsoDateTime(s) => iso_datetime_text(s, out),
        Value::IsoDuration(s) => iso_duration_text(s, out),
    })
}

/// `12` for integral values, else the shortest text that reads back as the same double; Rust's
/// `Display` for `f64` never writes an exponent.
///
/// A spreadsheet keeps 15 significant digits: a formula's `0.1 + 0.2` is stored as
/// `0.30000000000000004` but shown (and meant) as `0.3`. So a value is first rounded to 15
/// significant digits, which leaves every typed-in value as it was (`0.29` stays `0.29`).
fn number_text(f: f64, out: &mut String) {
    if f == 0.0 {
        // Also -0.0, which a spreadsheet shows as 0.
        out.push('0');
        return;
    }
    let shown: f64 = format!("{f:.14e}").parse().unwrap_or(f);
    let _ = write!(out, "{shown}");
}

/// Serials Excel can show as dates: 1900-01-01 (or 1904-01-01) to 9999-12-31.
const MAX_SERIAL: f64 = 2_958_466.0;

/// A date-formatted number: a date, a date and time, a time of day or a duration.
fn serial_text(d: ExcelDateTime, class: TimeClass, out: &mut String) -> CellKind {
    let v = d.as_f64();
    if d.is_duration() {
        duration_text(v * 86_400.0, out);
        return CellKind::Time;
    }
    if !(0.0..MAX_SERIAL).contains(&v) {
        // Excel shows ##### for these: keep the number rather than invent a date.
        number_text(v, out);
        return CellKind::Number;
    }
    let (y, mo, day, h, mi, s, ms) = d.to_ymd_hms_milli();
    let midnight = h == 0 && mi == 0 && s == 0 && ms == 0;
    let kind = match class {
        TimeClass::Date if midnight => CellKind::Date,
        TimeClass::Time if v < 1.0 => CellKind::Time,
        TimeClass::Unknown if midnight && v >= 1.0 => CellKind::Date,
        TimeClass::Unknown if v < 1.0 && !midnight => CellKind::Time,
        // A time format on a value with a date, or a date format on a value with a time:
        // the value is kept whole rather than cut to what the format shows.
        _ => CellKind::DateTime,
    };
    if kind != CellKind::Time {
        let _ = write!(out, "{y:04}-{mo:02}-{day:02}");
    }
    if kind == CellKind::DateTime {
        out.push(' ');
    }
    if kind != CellKind::Date {
        let _ = write!(out, "{h:02}:{mi:02}:{s:02}");
        if ms != 0 {
            let _ = write!(out, ".{ms:03}");
        }
    }
    kind
}

/// Elapsed time as `HH:MM:SS` (hours past 24 as they are), `.fff` when there are milliseconds.
fn duration_text(seconds: f64, out: &mut String) {
    let total_ms = (seconds * 1000.0).round();
    if total_ms < 0.0 {
        out.push('-');
    }
    let total_ms = total_ms.abs() as u64;
    let (h, rest) = (total_ms / 3_600_000, total_ms % 3_600_000);
    let (m, rest) = (rest / 60_000, rest % 60_000);
    let (s, ms) = (rest / 1000, rest % 1000);
    let _ = write!(out, "{h:02}:{m:02}:{s:02}");
    if ms != 0 {
        let _ = write!(out, ".{ms:03}");
    }
}

/// ISO 8601 dates of ods cells (and xlsx `t="d"` cells): `2024-03-01` is a date,
/// `2024-03-01T10:30:00` a date and time; anything else stays text as written.
fn iso_datetime_text(s: &str, out: &mut String) -> CellKind {
    use chrono::{NaiveDate, NaiveTime, Timelike};
    let (date, time) = match s.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None if s.contains(':') => ("", Some(s)),
        None => (s, None),
    };
    let date = if date.is_empty() {
        None
    } else {
        match NaiveDate::parse_from_str(date, "%Y-%m-%d") {
            Ok(d) => Some(d),
            Err(_) => {
                out.push_str(s);
                return CellKind::Text;
            }
        }
    };
    let time = match time {
        None => None,
        Some(t) => {
            let t = t.trim_end_matches('Z');
            match NaiveTime::parse_from_str(t, "%H:%M:%S%.f")
                .or_else(|_| NaiveTime::parse_from_str(t, "%H:%M"))
            {
                Ok(t) => Some(t),
                Err(_) => {
                    out.push_str(s);
                    return CellKind::Text;
                }
            }
        }
    };
    if let Some(d) = date {
        let _ = write!(out, "{}", d.format("%Y-%m-%d"));
    }
    if date.is_some() && time.is_some() {
        out.push(' ');
    }
    if let Some(t) = time {
        let _ = write!(out, "{}", t.format("%H:%M:%S"));
        let ms = t.nanosecond() / 1_000_000;
        if ms != 0 {
            let _ = write!(out, ".{ms:03}");
        }
    }
    match (date, time) {
        (Some(_), Some(_)) => CellKind::DateTime,
        (Some(_), None) => CellKind::Date,
        _ => CellKind::Time,
    }
}

/// ISO 8601 durations of ods time cells (`PT10H30M00S`, `P1DT2H`) as `HH:MM:SS`; anything
/// else stays text as written.
fn iso_duration_text(s: &str, out: &mut String) -> CellKind {
    fn seconds(s: &str) -> Option<f64> {
        let (negative, s) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let s = s.strip_prefix('P')?;
        let mut total = 0.0;
        let mut in_time = false;
        let mut number = String::new();
        for c in s.chars() {
            match c {
                'T' => in_time = true,
                '0'..='9' | '.' | ',' => number.push(if c == ',' { '.' } else { c }),
                unit => {
                    let n: f64 = number.parse().ok()?;
                    number.clear();
                    total += n * match (unit, in_time) {
                        ('D', false) => 86_400.0,
                        ('H', true) => 3_600.0,
                        ('M', true) => 60.0,
                        ('S', true) => 1.0,
                        _ => return None,
                    };
                }
            }
        }
        if !number.is_empty() {
            return None;
        }
        Some(if negative { -total } else { total })
    }
    match seconds(s) {
        Some(secs) => {
            duration_text(secs, out);
            CellKind::Time
        }
        None => {
            out.push_str(s);
            CellKind::Text
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(value: Value<'_>, class: TimeClass) -> (String, Option<CellKind>) {
        let mut out = String::new();
        let kind = canonical(value, class, &mut out);
        (out, kind)
    }

    fn serial(v: f64, class: TimeClass) -> (String, Option<CellKind>) {
        let d = ExcelDateTime::new(v, calamine::ExcelDateTimeType::DateTime, false);
        text(Value::Serial(d), class)
    }

    #[test]
    fn numbers_read_without_exponent_or_trailing_zero() {
        assert_eq!(
            text(Value::Float(12.0), TimeClass::Unknown).0,
            "12",
            "integral floats lose `.0`"
        );
        assert_eq!(text(Value::Float(0.29), TimeClass::Unknown).0, "0.29");
        assert_eq!(
            text(Value::Float(0.1 + 0.2), TimeClass::Unknown).0,
            "0.3",
            "15 significant digits, as a spreadsheet shows it"
        );
        assert_eq!(
            text(Value::Float(123456.789012345), TimeClass::Unknown).0,
            "123456.789012345"
        );
        assert_eq!(
            text(Value::Float(1234567890123456789.0), TimeClass::Unknown).0,
            "1234567890123460000"
        );
        assert_eq!(text(Value::Float(-0.0), TimeClass::Unknown).0, "0");
        assert_eq!(
            text(Value::Float(1e21), TimeClass::Unknown).0,
            "1000000000000000000000"
        );
        assert_eq!(
            text(Value::Float(1.5e-7), TimeClass::Unknown).0,
            "0.00000015"
        );
        assert_eq!(
            text(Value::Int(-42), TimeClass::Unknown),
            ("-42".into(), Some(CellKind::Number))
        );
    }

    #[test]
    fn date_serials_follow_the_format_class() {
        // 45352 = 2024-03-01 in the 1900 system.
        assert_eq!(
            serial(45352.0, TimeClass::Date),
            ("2024-03-01".into(), Some(CellKind::Date))
        );
        assert_eq!(
            serial(45352.4375, TimeClass::DateTime),
            ("2024-03-01 10:30:00".into(), Some(CellKind::DateTime))
        );
        assert_eq!(
            serial(45352.0, TimeClass::DateTime),
            ("2024-03-01 00:00:00".into(), Some(CellKind::DateTime)),
            "a format showing a time keeps midnight"
        );
        assert_eq!(
            serial(45352.4375, TimeClass::Date),
            ("2024-03-01 10:30:00".into(), Some(CellKind::DateTime)),
            "a date format does not cut the time off a value"
        );
        assert_eq!(
            serial(0.4375, TimeClass::Time),
            ("10:30:00".into(), Some(CellKind::Time))
        );
        assert_eq!(
            serial(45352.5000115741, TimeClass::DateTime).0,
            "2024-03-01 12:00:01"
        );
        assert_eq!(
            serial(-1.0, TimeClass::Date),
            ("-1".into(), Some(CellKind::Number)),
            "no date before the epoch"
        );
        let d1904 = ExcelDateTime::new(0.0, calamine::ExcelDateTimeType::DateTime, true);
        assert_eq!(text(Value::Serial(d1904), TimeClass::Date).0, "1904-01-01");
        let elapsed = ExcelDateTime::new(1.5, calamine::ExcelDateTimeType::TimeDelta, false);
        assert_eq!(
            text(Value::Serial(elapsed), TimeClass::Time),
            ("36:00:00".into(), Some(CellKind::Time))
        );
    }

    #[test]
    fn format_codes_classify_by_what_they_show() {
        assert_eq!(time_class("dd/mm/yyyy"), TimeClass::Date);
        assert_eq!(time_class("mmm-yy"), TimeClass::Date);
        assert_eq!(time_class("mmmm"), TimeClass::Date);
        assert_eq!(time_class("yyyy-mm-dd hh:mm:ss"), TimeClass::DateTime);
        assert_eq!(time_class("m/d/yy h:mm"), TimeClass::DateTime);
        assert_eq!(time_class("h:mm AM/PM"), TimeClass::Time);
        assert_eq!(time_class("mm:ss"), TimeClass::Time);
        assert_eq!(time_class("[h]:mm:ss"), TimeClass::Time);
        assert_eq!(time_class("[$-409]d-mmm-yy;@"), TimeClass::Date);
        assert_eq!(time_class("[Red]\"day \"d"), TimeClass::Date);
        assert_eq!(time_class("\"hours\" 0"), TimeClass::Unknown);
        assert_eq!(time_class("General"), TimeClass::Unknown);
    }

    #[test]
    fn iso_cells_of_ods_read_as_dates_and_times() {
        let iso = |s| text(Value::IsoDateTime(s), TimeClass::Unknown);
        assert_eq!(
            iso("2024-03-01"),
            ("2024-03-01".into(), Some(CellKind::Date))
        );
        assert_eq!(
            iso("2024-03-01T10:30:00"),
            ("2024-03-01 10:30:00".into(), Some(CellKind::DateTime))
        );
        assert_eq!(iso("2024-03-01T10:30:00.250").0, "2024-03-01 10:30:00.250");
        assert_eq!(iso("soon"), ("soon".into(), Some(CellKind::Text)));
        let dur = |s| text(Value::IsoDuration(s), TimeClass::Unknown);
        assert_eq!(
            dur("PT10H30M00S"),
            ("10:30:00".into(), Some(CellKind::Time))
        );
        assert_eq!(dur("P1DT2H").0, "26:00:00");
        assert_eq!(dur("PT1.5S").0, "00:00:01.500");
        assert_eq!(dur("later"), ("later".into(), Some(CellKind::Text)));
    }

    #[test]
    fn errors_booleans_and_empty_cells() {
        assert_eq!(
            text(
                Value::Error(&calamine::CellErrorType::NA),
                TimeClass::Unknown
            ),
            ("#N/A".into(), Some(CellKind::Error))
        );
        assert_eq!(
            text(Value::Bool(true), TimeClass::Unknown),
            ("true".into(), Some(CellKind::Boolean))
        );
        assert_eq!(text(Value::Empty, TimeClass::Unknown).1, None);
        assert_eq!(text(Value::Text(""), TimeClass::Unknown).1, None);
        assert_eq!(
            text(Value::Text("007"), TimeClass::Unknown),
            ("007".into(), Some(CellKind::Text))
        );
    }
}
