//! Finding a sheet's header row: declared (`header_row`), else among the first rows holding a
//! value the one holding most of the names the mapping expects (below a title block), else the
//! first row holding a value. The header's filled cells (or a declared `range`) fix the
//! columns, named under the `header_names` policy; without a header the columns are
//! `column_1`, `column_2`… as wide as the sheet. The rows above it are what
//! [`detect`](crate::source::detect) reports as skipped. Must not know how a data row is read.

use super::feed::SheetRows;
use super::row::{RawCell, RawRow, cell_list};
use super::select::{column_letters, range_text};
use crate::plan::SourcePlan;
use crate::source::detect::HeaderFound;
use crate::source::{CellKind, SourceError, most_expected_names, name_columns};

/// The header row, when not declared, is looked for among this many rows holding a value.
const HEADER_SEARCH_ROWS: usize = 50;

/// Where a sheet's table is: its header, its columns' names, and the sheet column (0-based)
/// of its first column.
pub(in crate::source) struct SheetHeader {
    pub(in crate::source) header: HeaderFound,
    pub(in crate::source) columns: Vec<String>,
    pub(in crate::source) first_col: u32,
}

/// Finds the header row (or the first record, without a header) and names the columns,
/// leaving the rows read ahead below it in `rows.pending` (the first record first, without
/// a header).
pub(in crate::source) fn find_header(
    rows: &mut SheetRows,
    plan: &SourcePlan,
    used: Option<(u32, u32)>,
) -> Result<SheetHeader, SourceError> {
    let present = plan.header != Some(false);
    let (chosen, above) = match plan.header_row {
        Some(h) if present => declared_row(rows, h)?,
        _ => searched_row(rows, plan, used, present)?,
    };
    let first = chosen.row;
    let (columns, first_col) = if present {
        take_header(rows, chosen, plan)?
    } else {
        no_header(rows, chosen, used)
    };
    Ok(SheetHeader {
        header: HeaderFound {
            present,
            line: u64::from(first) + 1,
            detected: plan.header_row.is_none(),
            // Every sheet row from the window's first to the header (or first record) is a
            // row skipped, as a title block of a CSV file is.
            lines_above_header: u64::from(first.saturating_sub(rows.window.first_row)),
            above: above
                .iter()
                .map(|row| {
                    let text: Vec<&str> = row.cells.iter().map(|c| row.value(c)).collect();
                    (u64::from(row.row) + 1, text.join(", "))
                })
                .collect(),
            trailing_delimiter: false,
        },
        columns,
        first_col,
    })
}

/// The declared header row `h`, with the rows above it that hold something.
fn declared_row(rows: &mut SheetRows, h: u64) -> Result<(RawRow, Vec<RawRow>), SourceError> {
    let mut above: Vec<RawRow> = Vec::new();
    let target = u32::try_from(h - 1).unwrap_or(u32::MAX);
    let chosen = loop {
        match rows.next_row()? {
            Some(row) if row.row < target => above.push(row),
            Some(row) if row.row == target => break Some(row),
            Some(row) => {
                rows.pending.push_back(row);
                break None;
            }
            None => break None,
        }
    };
    let chosen = chosen.ok_or_else(|| SourceError::EmptySheet {
        path: rows.path.clone(),
        sheet: rows.sheet.clone(),
        place: format!(" at sheet row {h} (`header_row`)"),
    })?;
    Ok((chosen, above))
}

/// The header (or first record) among the first rows holding a value, with the rows above
/// it; the rows below it are read again as data.
fn searched_row(
    rows: &mut SheetRows,
    plan: &SourcePlan,
    used: Option<(u32, u32)>,
    present: bool,
) -> Result<(RawRow, Vec<RawRow>), SourceError> {
    let mut ahead: Vec<RawRow> = Vec::new();
    while ahead.len() < HEADER_SEARCH_ROWS {
        match rows.next_row()? {
            Some(row) => ahead.push(row),
            None => break,
        }
    }
    if ahead.is_empty() {
        return Err(nothing_to_read(rows, plan, used));
    }
    let at = if present && plan.header_row.is_none() {
        header_among(rows, &ahead, &plan.expected_columns)
    } else {
        0
    };
    let mut rest = ahead.split_off(at);
    let chosen = rest.remove(0);
    rows.pending.extend(rest);
    Ok((chosen, ahead))
}

/// The header among the first rows: the first holding the most expected names (every one,
/// ideally), else the first row.
fn header_among(rows: &SheetRows, ahead: &[RawRow], expected: &[String]) -> usize {
    if expected.is_empty() {
        return 0;
    }
    let window = &rows.window;
    let names = ahead.iter().map(|row| {
        row.cells
            .iter()
            .filter(|c| c.col >= window.first_col && c.col <= window.last_col)
            .map(|c| row.value(c))
            .collect()
    });
    most_expected_names(names, expected).map_or(0, |(i, _)| i)
}

/// The header's names and the sheet column of the first one.
fn take_header(
    rows: &SheetRows,
    row: RawRow,
    plan: &SourcePlan,
) -> Result<(Vec<String>, u32), SourceError> {
    let n = row.row + 1;
    if row.malformed {
        return Err(rows.corrupt(format!(
            "sheet `{}` gives its header row {n} more than once, or its cells out of order ({})",
            rows.sheet,
            cell_list(&row)
        )));
    }
    if let Some((col, len)) = row.oversize {
        return Err(rows.corrupt(format!(
            "the header row {n} of sheet `{}` holds {len} bytes in cell {}{n}, more than `max_field_bytes` ({} bytes) allows",
            rows.sheet,
            column_letters(col + 1),
            plan.max_field_bytes
        )));
    }
    let window = &rows.window;
    let inside: Vec<&RawCell> = row
        .cells
        .iter()
        .filter(|c| c.col >= window.first_col && c.col <= window.last_col)
        .filter(|c| c.kind != CellKind::Text || !row.value(c).trim().is_empty())
        .collect();
    let (Some(first), Some(last)) = (inside.first(), inside.last()) else {
        return Err(SourceError::EmptySheet {
            path: rows.path.clone(),
            sheet: rows.sheet.clone(),
            place: format!(" at sheet row {}", row.row + 1),
        });
    };
    // A declared range fixes the columns; otherwise the header's filled cells do, so a
    // table placed at B2 needs no range.
    let first_col = if window.declared {
        window.first_col
    } else {
        first.col
    };
    let last_col = if window.cols_declared {
        window.last_col
    } else {
        last.col
    };
    let mut raw = vec![String::new(); (last_col - first_col + 1) as usize];
    for c in &row.cells {
        if c.col >= first_col && c.col <= last_col {
            raw[(c.col - first_col) as usize] = row.value(c).to_string();
        }
    }
    let place = format!("sheet `{}` row {}", rows.sheet, row.row + 1);
    let names = name_columns(raw, plan.header_names, &rows.path, &place)?;
    Ok((names, first_col))
}

/// Without a header: columns from the window's first column to its last, or to the last
/// column the sheet (or the rows read ahead) uses; the first record is read as data.
fn no_header(rows: &mut SheetRows, first: RawRow, used: Option<(u32, u32)>) -> (Vec<String>, u32) {
    let window = rows.window;
    let first_col = window.first_col;
    let last_col = if window.cols_declared {
        window.last_col
    } else {
        let seen = std::iter::once(&first)
            .chain(rows.pending.iter())
            .flat_map(|r| r.cells.iter().map(|c| c.col))
            .max()
            .unwrap_or(first_col);
        used.map_or(seen, |(_, c)| c.max(seen)).max(first_col)
    };
    let width = (last_col - first_col + 1) as usize;
    rows.pending.push_front(first);
    (
        (1..=width).map(|i| format!("column_{i}")).collect(),
        first_col,
    )
}

/// The error for a sheet (or range) where no row holds a value.
fn nothing_to_read(rows: &SheetRows, plan: &SourcePlan, used: Option<(u32, u32)>) -> SourceError {
    match &plan.range {
        Some(r) => SourceError::RangeOutside {
            path: rows.path.clone(),
            sheet: rows.sheet.as_str().into(),
            range: range_text(r).into(),
            used: match used {
                Some((row, col)) => {
                    format!(" (its cells end at {}{})", column_letters(col + 1), row + 1).into()
                }
                None => "".into(),
            },
        },
        None => SourceError::EmptySheet {
            path: rows.path.clone(),
            sheet: rows.sheet.clone(),
            place: String::new(),
        },
    }
}
