//! Which sheet and which cells are read: the sheet `sheet` names or numbers (else the first
//! visible worksheet, with "did you mean" for a misspelt name), the [`Window`] of cells a
//! declared `range` lets through (a `header_row` outside it refused), and cell references
//! written as the user writes them (`A5:F15`, `AA`). Must not know cells' values.

use std::fmt::Write as _;
use std::path::Path;

use calamine::{SheetType, SheetVisible};

use crate::plan::{CellRange, SheetRef, SourcePlan};
use crate::source::SourceError;

/// The part of the sheet `range` lets through, 0-based inclusive.
#[derive(Debug, Clone, Copy)]
pub(super) struct Window {
    pub(super) first_row: u32,
    pub(super) last_row: u32,
    pub(super) first_col: u32,
    pub(super) last_col: u32,
    /// A `range` is declared: its first column is the first column, header or not.
    pub(super) declared: bool,
    /// The columns are bounded by `range`, not by the header.
    pub(super) cols_declared: bool,
}

impl Window {
    pub(super) fn of(range: Option<&CellRange>) -> Self {
        match range {
            None => Window {
                first_row: 0,
                last_row: u32::MAX,
                first_col: 0,
                last_col: u32::MAX,
                declared: false,
                cols_declared: false,
            },
            Some(r) => Window {
                first_row: r.first_row.saturating_sub(1),
                last_row: r.last_row.map_or(u32::MAX, |l| l.saturating_sub(1)),
                first_col: r.first_col.saturating_sub(1),
                last_col: r.last_col.map_or(u32::MAX, |l| l.saturating_sub(1)),
                declared: true,
                cols_declared: r.last_col.is_some(),
            },
        }
    }
}

/// The sheet named or numbered by `sheet`, else the first visible worksheet.
pub(super) fn choose_sheet(
    path: &Path,
    sheets: &[calamine::Sheet],
    sheet: Option<&SheetRef>,
) -> Result<String, SourceError> {
    let list = || {
        sheets
            .iter()
            .map(|s| format!("`{}`", s.name))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match sheet {
        Some(SheetRef::Name(name)) => {
            if sheets.iter().any(|s| &s.name == name) {
                return Ok(name.clone());
            }
            let suggestion = sheets
                .iter()
                .map(|s| {
                    (
                        strsim::jaro_winkler(&s.name.to_lowercase(), &name.to_lowercase()),
                        s,
                    )
                })
                .filter(|(score, _)| *score >= 0.8)
                .max_by(|a, b| a.0.total_cmp(&b.0))
                .map(|(_, s)| format!(" (did you mean `{}`?)", s.name))
                .unwrap_or_default();
            Err(SourceError::UnknownSheet {
                path: path.to_path_buf(),
                name: name.as_str().into(),
                suggestion: suggestion.into(),
                sheets: list().into(),
            })
        }
        Some(SheetRef::Index(i)) => match i.checked_sub(1).and_then(|i| sheets.get(i)) {
            Some(s) => Ok(s.name.clone()),
            None => Err(SourceError::SheetIndex {
                path: path.to_path_buf(),
                index: *i,
                count: sheets.len(),
                sheets: list(),
            }),
        },
        None => sheets
            .iter()
            .find(|s| s.visible == SheetVisible::Visible && s.typ == SheetType::WorkSheet)
            .or_else(|| sheets.iter().find(|s| s.typ == SheetType::WorkSheet))
            .map(|s| s.name.clone())
            .ok_or_else(|| SourceError::NoWorksheet {
                path: path.to_path_buf(),
                sheets: if sheets.is_empty() {
                    "no sheet at all".into()
                } else {
                    format!("only {}", list())
                },
            }),
    }
}

/// A declared `header_row` must be one of a declared `range`'s rows.
pub(super) fn check_header_in_range(plan: &SourcePlan) -> Result<(), SourceError> {
    if let (Some(r), Some(h)) = (&plan.range, plan.header_row)
        && (h < u64::from(r.first_row) || r.last_row.is_some_and(|l| h > u64::from(l)))
    {
        return Err(SourceError::HeaderOutsideRange {
            path: plan.path.clone(),
            header_row: h,
            range: range_text(r),
        });
    }
    Ok(())
}

/// `A5:F15`, `A3:K`, `B2` as the user wrote them (1-based).
pub fn range_text(r: &CellRange) -> String {
    let mut s = format!("{}{}", column_letters(r.first_col), r.first_row);
    if r.last_row.is_some() || r.last_col.is_some() {
        s.push(':');
        if let Some(c) = r.last_col {
            s.push_str(&column_letters(c));
        }
        if let Some(row) = r.last_row {
            let _ = write!(s, "{row}");
        }
    }
    s
}

/// Column letters of 1-based column `n`: 1 → A, 27 → AA.
pub fn column_letters(mut n: u32) -> String {
    let mut letters = Vec::new();
    while n > 0 {
        let rem = (n - 1) % 26;
        letters.push(b'A' + rem as u8);
        n = (n - 1) / 26;
    }
    letters.reverse();
    String::from_utf8(letters).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_columns_print_as_written() {
        assert_eq!(column_letters(1), "A");
        assert_eq!(column_letters(26), "Z");
        assert_eq!(column_letters(27), "AA");
        assert_eq!(column_letters(16384), "XFD");
        for r in ["A5:F15", "A3:K", "B2", "C1:D"] {
            let parsed = CellRange::parse(r).expect("a range");
            assert_eq!(range_text(&parsed), r);
        }
    }
}
