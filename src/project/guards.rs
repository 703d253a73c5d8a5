//! The checks of a value's text against the file it goes to — where a row is rejected for a
//! target: `formula-risk` in CSV (and its escape), `unencodable` for a character the CSV
//! encoding lacks, a delimiter or quote under `quote_style = "never"`, or text too long for an
//! XLSX cell.

use polars::prelude::{NewChunkedArray, StringChunked};

use super::limits::{XLSX_CELL_CHARS, unencodable};
use super::text::{Kind, TextColumn};
use crate::issue::{Code, Issue, Severity};
use crate::plan::{Format, FormulaGuard, QuoteStyle, Target};

/// A finding at projected row `i`: `(i, code, severity, value, message)`.
pub(super) type Report<'a> = dyn FnMut(usize, Code, Severity, &str, String) + 'a;

/// Whether any check reads the values of `t`'s columns under `guard`.
pub(super) fn checks_values(t: &Target, guard: FormulaGuard) -> bool {
    match t.format {
        Format::Json | Format::Ndjson | Format::Sqlite | Format::Postgres => false,
        Format::Xlsx => true,
        Format::Csv | Format::Tsv => {
            guard != FormulaGuard::Off
                || t.csv.quote_style == QuoteStyle::Never
                || t.csv.transcodes()
        }
    }
}

/// Checks one column of target `t`, reporting each finding. Returns the column rewritten when
/// `escape` changed values. Typed values (numbers, dates, booleans) go only where no check
/// reads them.
pub(super) fn check_column(
    t: &Target,
    guard: FormulaGuard,
    is_text: bool,
    column: &TextColumn,
    report: &mut Report,
) -> Option<StringChunked> {
    let text = column.values.as_text()?;
    match t.format {
        Format::Xlsx if column.kind == Kind::Text => {
            xlsx_cells(t, text, report);
            None
        }
        Format::Xlsx | Format::Json | Format::Ndjson | Format::Sqlite | Format::Postgres => None,
        Format::Csv | Format::Tsv => {
            let guard = if is_text { guard } else { FormulaGuard::Off };
            csv_values(t, guard, text, report)
        }
    }
}

/// Text too long for an XLSX cell (Excel counts UTF-16 code units).
fn xlsx_cells(t: &Target, text: &StringChunked, report: &mut Report) {
    for (i, v) in text.iter().enumerate() {
        if let Some(v) = v
            && v.len() > XLSX_CELL_CHARS
            && v.encode_utf16().count() > XLSX_CELL_CHARS
        {
            report(
                i,
                Code::Unencodable,
                Severity::Error,
                v,
                format!(
                    "target `{}`: {} characters do not fit an XLSX cell (at most {XLSX_CELL_CHARS}); shorten the value, e.g. columns.X = \"left(x, 32000)\", or write a CSV target",
                    t.name,
                    v.encode_utf16().count()
                ),
            );
        }
    }
}

/// A CSV value's checks: a delimiter, quote or line break under `quote_style = "never"`, a
/// character the encoding lacks, text that starts like a formula. Returns the column rewritten
/// when `escape` changed values.
fn csv_values(
    t: &Target,
    guard: FormulaGuard,
    text: &StringChunked,
    report: &mut Report,
) -> Option<StringChunked> {
    let csv = &t.csv;
    let never = csv.quote_style == QuoteStyle::Never;
    let transcodes = csv.transcodes();
    if guard == FormulaGuard::Off && !never && !transcodes {
        return None;
    }
    let mut escaped: Option<Vec<Option<String>>> = None;
    // Only the formula guard: the rows whose first byte may start a formula.
    let suspects: Box<dyn Iterator<Item = (usize, Option<&str>)>> = if !never && !transcodes {
        Box::new(formula_suspects(text).into_iter().map(|i| (i, text.get(i))))
    } else {
        Box::new(text.iter().enumerate())
    };
    for (i, v) in suspects {
        let Some(v) = v else { continue };
        if never {
            unquotable(t, i, v, report);
        }
        if transcodes && let Some(c) = unencodable(v, csv.encoding) {
            report(
                i,
                Code::Unencodable,
                Severity::Error,
                v,
                format!(
                    "target `{}`: `{c}` (U+{:04X}) cannot be written in {}; replace it in a column expression (e.g. replace(x, '{c}', '?')) or write the target in utf-8",
                    t.name,
                    c as u32,
                    csv.encoding.name()
                ),
            );
        }
        if guard != FormulaGuard::Off && formula_risk(v) {
            report(
                i,
                Code::FormulaRisk,
                Severity::Warning,
                v,
                formula_message(t, guard),
            );
            if guard == FormulaGuard::Escape {
                let all = escaped
                    .get_or_insert_with(|| text.iter().map(|v| v.map(str::to_string)).collect());
                all[i] = Some(format!("'{v}"));
            }
        }
    }
    escaped.map(|values| StringChunked::from_iter_options(text.name().clone(), values.into_iter()))
}

/// A delimiter, quote or line break in a value of a `quote_style = "never"` target.
fn unquotable(t: &Target, i: usize, v: &str, report: &mut Report) {
    let Some(b) = v
        .bytes()
        .find(|b| *b == t.csv.delimiter || matches!(b, b'"' | b'\n' | b'\r'))
    else {
        return;
    };
    let what = match b {
        b'"' => "a quote".to_string(),
        b'\n' | b'\r' => "a line break".to_string(),
        d => format!("the delimiter `{}`", char::from(d).escape_default()),
    };
    report(
        i,
        Code::Unencodable,
        Severity::Error,
        v,
        format!(
            "target `{}`: the value holds {what}, which `quote_style = \"never\"` cannot write; change the value in a column expression, or let the target quote (quote_style = \"necessary\")",
            t.name
        ),
    );
}

fn formula_message(t: &Target, guard: FormulaGuard) -> String {
    match guard {
        FormulaGuard::Escape => format!(
            "target `{}`: the value starts like a formula; written with a leading `'` (formula_guard = \"escape\")",
            t.name
        ),
        _ => format!(
            "target `{}`: the value starts like a formula, which a spreadsheet may run when the file is opened; written unchanged (set [run] formula_guard = \"escape\" to neutralise it)",
            t.name
        ),
    }
}

/// The header a CSV or TSV target writes: its column names, each that starts like a formula
/// (`=HYPERLINK(…)` as a column of the input, passed through) written with a leading `'` under
/// `formula_guard = "escape"`, and a `formula-risk` warning on the header row for each unless
/// the guard is off.
pub fn csv_header(
    t: &Target,
    names: &[String],
    guard: FormulaGuard,
    header_row: u64,
) -> (Vec<String>, Vec<Issue>) {
    if !matches!(t.format, Format::Csv | Format::Tsv) || guard == FormulaGuard::Off {
        return (names.to_vec(), Vec::new());
    }
    let mut issues = Vec::new();
    let header = names
        .iter()
        .map(|n| {
            if !formula_risk(n) {
                return n.clone();
            }
            let (written, how) = match guard {
                FormulaGuard::Escape => (format!("'{n}"), "written with a leading `'`"),
                _ => (
                    n.clone(),
                    "written unchanged (set [run] formula_guard = \"escape\" to neutralise it)",
                ),
            };
            issues.push(Issue {
                row: header_row,
                line: header_row,
                code: Code::FormulaRisk,
                severity: Severity::Warning,
                field: n.clone(),
                column: n.clone(),
                value: n.clone(),
                message: format!(
                    "target `{}`: the column name starts like a formula, which a spreadsheet may run when the file is opened; {how}",
                    t.name
                ),
            });
            written
        })
        .collect();
    (header, issues)
}

/// The positions of `text` whose first byte may start a formula (see [`formula_risk`]), read
/// from the first bytes every string view keeps inline: the text itself is not touched.
pub(super) fn formula_suspects(text: &StringChunked) -> Vec<usize> {
    let mut found = Vec::new();
    let mut offset = 0;
    for array in text.downcast_iter() {
        for (i, view) in array.views().iter().enumerate() {
            // The prefix holds the first bytes in little-endian order: its low byte is the first.
            let first = view.prefix.to_le_bytes()[0];
            if view.length > 0 && matches!(first, b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r' | 0xEF)
            {
                found.push(offset + i);
            }
        }
        offset += array.len();
    }
    found
}

/// Whether text would start a formula in a spreadsheet: `=`, `+`, `-`, `@`, a tab or a carriage
/// return first (or their full-width forms), unless the whole value is a plain number.
pub fn formula_risk(v: &str) -> bool {
    let Some(first) = v.chars().next() else {
        return false;
    };
    if !matches!(
        first,
        '=' | '+' | '-' | '@' | '\t' | '\r' | '＝' | '＋' | '－' | '＠'
    ) {
        return false;
    }
    !plain_number(v)
}

/// Numbers and phone numbers (`-12`, `-0,5`, `+33 6 12 34 56 78`, `+1 (555) 010-9999`): a
/// sign, digits, spaces and `. , ( ) / -` only. A spreadsheet may read them as a sum, but they can
/// call nothing.
fn plain_number(v: &str) -> bool {
    v.bytes().any(|b| b.is_ascii_digit())
        && v.bytes()
            .all(|b| b.is_ascii_digit() || b" +-.,()/".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_suspects_are_every_value_that_may_start_a_formula() {
        let values = [
            Some("=1+1"),
            None,
            Some("abc"),
            Some(""),
            Some("-12"),
            Some("＝1"),
            Some("a much longer value that is not kept inline"),
            Some("@SUM(A1:A2) in a much longer value, kept in a buffer"),
            Some("\tx"),
        ];
        let text = StringChunked::from_iter_options("t".into(), values.into_iter());
        assert_eq!(formula_suspects(&text), vec![0, 4, 5, 7, 8]);
        let mut two = text.clone();
        two.append(&text).expect("append");
        assert_eq!(two.chunks().len(), 2);
        assert_eq!(
            formula_suspects(&two),
            vec![0, 4, 5, 7, 8, 9, 13, 14, 16, 17]
        );
        // Every value formula_risk flags is a suspect.
        for (i, v) in values.iter().enumerate() {
            if v.is_some_and(formula_risk) {
                assert!(formula_suspects(&text).contains(&i), "{v:?}");
            }
        }
    }

    #[test]
    fn formula_risk_spares_plain_numbers() {
        for risky in [
            "=1+1",
            "=HYPERLINK(\"http://x\")",
            "+A1",
            "-2+3+cmd|' /C calc'!A0",
            "@SUM(A1:A2)",
            "\tx",
            "\rx",
            "＝1",
            "-",
            "+",
            "-A1",
            "+1 (555) CALL",
        ] {
            assert!(formula_risk(risky), "{risky:?}");
        }
        for safe in [
            "",
            "abc",
            "a=b",
            "-12",
            "+33612345678",
            "-0.5",
            "-1,25",
            "12",
            " =1",
            "+33 6 12 34 56 78",
            "+1 (555) 010-9999",
        ] {
            assert!(!formula_risk(safe), "{safe:?}");
        }
    }
}
