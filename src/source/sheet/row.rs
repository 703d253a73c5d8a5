//! A sheet row as read, and what is not a row: [`RawRow`] holds a row's cells with their
//! canonical text, kept within the size limits ([`CellLimits`]: a cell past `max_field_bytes`
//! or a row past 64 times that keeps an excerpt), and marked when the file gives it twice or
//! its cells out of order. The rejects built here — `malformed-row`, `field-too-long`, and
//! `ragged-row` for a value outside the header's columns — carry every value, so nothing is
//! dropped silently. Must not know how rows are read from the workbook.

use super::SheetSource;
use super::cells::{TimeClass, Value, canonical};
use super::select::column_letters;
use crate::issue::{Code, Issue, Severity};
use crate::source::{CellKind, SourceReject};

/// One sheet row as read: the cells that hold something, with their canonical text packed in
/// one string (one allocation per row, not per cell).
#[derive(Debug)]
pub(super) struct RawRow {
    /// 0-based sheet row.
    pub(super) row: u32,
    pub(super) cells: Vec<RawCell>,
    pub(super) text: String,
    pub(super) limits: CellLimits,
    /// The first cell kept only as an excerpt, for being longer than `max_field_bytes` or for
    /// taking the row's text past its limit: its column and its length in bytes. The row is
    /// rejected (`field-too-long`).
    pub(super) oversize: Option<(u32, u64)>,
    /// A cell came at or before the column of the cell before it: the row is given twice in
    /// the file, or its cells are out of order. The row is rejected (`malformed-row`).
    pub(super) malformed: bool,
}

/// How much text a row keeps, from `max_field_bytes`.
#[derive(Debug, Clone, Copy)]
pub(super) struct CellLimits {
    /// A cell's text.
    pub(super) cell: usize,
    /// All of a row's text: [`ROW_BYTES_PER_FIELD_BYTE`] cells at the limit. Without it a few
    /// long shared strings used in every cell of a row would unpack into gigabytes.
    pub(super) row: usize,
}

/// A row's cells may hold this many times `max_field_bytes` of text in all.
const ROW_BYTES_PER_FIELD_BYTE: u64 = 64;

/// What is kept of a cell over the limit, for the rejected row: its first bytes.
const EXCERPT_BYTES: usize = 100;

impl CellLimits {
    pub(super) fn new(max_field_bytes: u64) -> Self {
        // Cell offsets are u32: a row's text stays below 2 GiB.
        let cell = max_field_bytes.min(1 << 30);
        CellLimits {
            cell: cell as usize,
            row: cell.saturating_mul(ROW_BYTES_PER_FIELD_BYTE).min(1 << 30) as usize,
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub(super) struct RawCell {
    /// 0-based sheet column.
    pub(super) col: u32,
    pub(super) kind: CellKind,
    pub(super) start: u32,
    pub(super) end: u32,
}

impl RawRow {
    pub(super) fn new(row: u32, limits: CellLimits) -> Self {
        RawRow {
            row,
            cells: Vec::new(),
            text: String::new(),
            limits,
            oversize: None,
            malformed: false,
        }
    }

    pub(super) fn value(&self, cell: &RawCell) -> &str {
        &self.text[cell.start as usize..cell.end as usize]
    }

    /// Adds a cell; empty cells are not kept. A cell over the limits keeps an excerpt and
    /// marks the row `oversize`; a cell at or before the previous cell's column marks it
    /// `malformed`.
    pub(super) fn push(&mut self, col: u32, value: Value<'_>, class: TimeClass) {
        let start = self.text.len();
        let Some(kind) = canonical(value, class, &mut self.text) else {
            return;
        };
        let len = self.text.len() - start;
        if len > self.limits.cell || self.text.len() > self.limits.row {
            self.oversize.get_or_insert((col, len as u64));
            let mut cut = start + len.min(EXCERPT_BYTES);
            while !self.text.is_char_boundary(cut) {
                cut -= 1;
            }
            self.text.truncate(cut);
            self.text.push('…');
        }
        if self.cells.last().is_some_and(|last| col <= last.col) {
            self.malformed = true;
        }
        self.cells.push(RawCell {
            col,
            kind,
            start: start as u32,
            end: self.text.len() as u32,
        });
    }

    /// Whether a cell in columns `from..=to` holds something other than blank text.
    pub(super) fn holds_value(&self, from: u32, to: u32) -> bool {
        self.cells.iter().any(|c| {
            c.col >= from
                && c.col <= to
                && (c.kind != CellKind::Text || !self.value(c).trim().is_empty())
        })
    }
}

impl SheetSource {
    /// A row given twice in the file, or with its cells out of order: rejected with every
    /// value, in file order, rather than one copy of a cell chosen over another.
    pub(super) fn malformed(&self, row: &RawRow) -> SourceReject {
        let n = row.row + 1;
        SourceReject {
            fields: row.cells.iter().map(|c| row.value(c).to_string()).collect(),
            issue: Issue {
                row: u64::from(n),
                line: u64::from(n),
                code: Code::MalformedRow,
                severity: Severity::Error,
                field: String::new(),
                column: String::new(),
                value: cell_list(row),
                message: format!(
                    "sheet row {n} is given more than once in the workbook, or its cells are out of order (a malformed file): the row is rejected with every value in file order, as no copy of a cell can be told right; fix the row in the workbook (saving it in Excel or LibreOffice writes each row once)"
                ),
            },
        }
    }

    /// A row with a cell longer than `max_field_bytes` (kept as an excerpt), or whose cells
    /// hold too much text in all.
    pub(super) fn oversized(&self, row: &RawRow, col: u32, len: u64) -> SourceReject {
        let n = row.row + 1;
        let at = format!("{}{n}", column_letters(col + 1));
        let message = if len as usize > row.limits.cell {
            format!(
                "cell {at} holds {len} bytes of text, more than `max_field_bytes` ({} bytes): the row is rejected, that value cut to its first {EXCERPT_BYTES} bytes here. Raise `max_field_bytes` in `[source]` if such values are genuine",
                self.max_field_bytes
            )
        } else {
            format!(
                "the row's cells hold more than {} bytes of text in all ({ROW_BYTES_PER_FIELD_BYTE} times `max_field_bytes`), passed at cell {at}: the row is rejected, its values from there on cut to their first {EXCERPT_BYTES} bytes here. Raise `max_field_bytes` in `[source]` if such rows are genuine",
                row.limits.row
            )
        };
        let mut fields = vec![String::new(); self.info.header.len()];
        let mut extras = Vec::new();
        for c in &row.cells {
            if c.col >= self.first_col && c.col <= self.last_col {
                fields[(c.col - self.first_col) as usize] = row.value(c).to_string();
            } else if c.col >= self.window.first_col && c.col <= self.window.last_col {
                extras.push(row.value(c).to_string());
            }
        }
        fields.extend(extras);
        let value = row
            .cells
            .iter()
            .find(|c| c.col == col)
            .map(|c| row.value(c).to_string())
            .unwrap_or_default();
        SourceReject {
            fields,
            issue: Issue {
                row: u64::from(n),
                line: u64::from(n),
                code: Code::FieldTooLong,
                severity: Severity::Error,
                field: String::new(),
                column: self.column_of(col),
                value,
                message,
            },
        }
    }

    /// A row holding a value outside the header's columns (possible only when `range` does
    /// not bound them): rejected as `ragged-row` with every value it holds.
    pub(super) fn outside_columns(&self, row: &RawRow) -> Option<SourceReject> {
        let outside: Vec<&RawCell> = row
            .cells
            .iter()
            .filter(|c| c.col < self.first_col || c.col > self.last_col)
            .filter(|c| c.col >= self.window.first_col && c.col <= self.window.last_col)
            .collect();
        if outside.is_empty() {
            return None;
        }
        let ncols = self.info.header.len();
        let mut fields = vec![String::new(); ncols];
        for c in &row.cells {
            if c.col >= self.first_col && c.col <= self.last_col {
                fields[(c.col - self.first_col) as usize] = row.value(c).to_string();
            }
        }
        let extras: Vec<String> = outside.iter().map(|c| cell_with_value(row, c)).collect();
        fields.extend(outside.iter().map(|c| row.value(c).to_string()));
        let span = format!(
            "{} to {}",
            column_letters(self.first_col + 1),
            column_letters(self.last_col + 1)
        );
        Some(SourceReject {
            fields,
            issue: Issue {
                row: u64::from(row.row) + 1,
                line: u64::from(row.row) + 1,
                code: Code::RaggedRow,
                severity: Severity::Error,
                field: String::new(),
                column: String::new(),
                value: extras.join(", "),
                message: format!(
                    "the row holds {} outside the header's columns ({span}); give that column a header name, or set `range` in `[source]` to the columns to read",
                    if outside.len() == 1 {
                        "a value"
                    } else {
                        "values"
                    }
                ),
            },
        })
    }
}

/// `A4=1, B4=x, A4=2`: a row's cells in file order, for an issue's value.
pub(super) fn cell_list(row: &RawRow) -> String {
    row.cells
        .iter()
        .map(|c| cell_with_value(row, c))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `B4=x`: a cell by its reference, with its value.
fn cell_with_value(row: &RawRow, c: &RawCell) -> String {
    format!(
        "{}{}={}",
        column_letters(c.col + 1),
        row.row + 1,
        row.value(c)
    )
}
