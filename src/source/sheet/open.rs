//! Opening a workbook with calamine: the reader its format needs (an OLE file is an xls or
//! an encrypted xlsx), the container checks first ([`check_parts`]), the sheet chosen and its
//! rows opened as a [`SheetRows`], and calamine's damage reported in words
//! ([`SourceError::Corrupt`], [`SourceError::Encrypted`], [`SourceError::TextNamedAsWorkbook`],
//! an ods sheet calamine may have cut: [`SourceError::SheetCutOff`]). Every call into calamine
//! runs under [`contained`]. Must not know headers, cells' text or rows' rejects.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use calamine::{
    Data, Ods, OdsError, Reader, Sheets, Xls, XlsError, Xlsb, XlsbError, Xlsx, XlsxError,
};

use super::SheetFormat;
use super::feed::{RangeFeed, RowFeed, SheetRows, XlsxFeed, contained};
use super::parts::check_parts;
use super::row::CellLimits;
use super::select::{Window, check_header_in_range, choose_sheet, column_letters};
use crate::plan::SourcePlan;
use crate::source::SourceError;
use crate::source::detect::{CFB_MAGIC, ZIP_MAGIC, read_error, read_up_to};

/// Opens the workbook, checks its container, chooses the sheet and opens its rows through the
/// window `range` lets through; with the last used (row, column) if known, both 0-based.
pub(in crate::source) fn open_sheet(
    plan: &SourcePlan,
    format: SheetFormat,
) -> Result<(SheetRows, Option<(u32, u32)>), SourceError> {
    let path = &plan.path;
    if format != SheetFormat::Xls {
        check_parts(path, format, plan.max_field_bytes, plan.max_part_bytes)?;
    }
    let book = open_book(path, format)?;
    let sheets = book.sheets_metadata().to_vec();
    let sheet = choose_sheet(path, &sheets, plan.sheet.as_ref())?;
    let limits = CellLimits::new(plan.max_field_bytes);
    let (feed, used) = feed(book, path, format, &sheet, limits)?;
    check_header_in_range(plan)?;
    let window = Window::of(plan.range.as_ref());
    Ok((
        SheetRows::new(path.clone(), format, sheet, feed, window),
        used,
    ))
}

/// Opens the workbook with the reader its format needs, a panic inside calamine contained.
fn open_book(path: &Path, format: SheetFormat) -> Result<Sheets<BufReader<File>>, SourceError> {
    contained(|| open_book_with(path, format)).unwrap_or_else(|| {
        Err(SourceError::ReaderFailed {
            path: path.to_path_buf(),
            format: format.as_str(),
        })
    })
}

/// Opens the workbook with the reader its format needs. An OLE compound file is either an xls
/// workbook or an encrypted xlsx (an `EncryptedPackage` stream), which calamine's xlsx reader
/// recognises.
fn open_book_with(
    path: &Path,
    format: SheetFormat,
) -> Result<Sheets<BufReader<File>>, SourceError> {
    let file = |path: &Path| {
        File::open(path)
            .map(BufReader::new)
            .map_err(|source| SourceError::Open {
                path: path.to_path_buf(),
                source,
            })
    };
    let mut head = [0u8; 8];
    let n = read_up_to(
        &mut File::open(path).map_err(|source| SourceError::Open {
            path: path.to_path_buf(),
            source,
        })?,
        &mut head,
    )
    .map_err(|e| read_error(path, e))?;
    let head = &head[..n];
    let corrupt = |reason: String| SourceError::Corrupt {
        path: path.to_path_buf(),
        format: format.as_str(),
        reason,
    };
    if head.starts_with(CFB_MAGIC) {
        if let Err(XlsxError::Password) = Xlsx::new(file(path)?) {
            return Err(SourceError::Encrypted {
                path: path.to_path_buf(),
            });
        }
        return Xls::new(file(path)?).map(Sheets::Xls).map_err(|e| match e {
            XlsError::Password => SourceError::Encrypted {
                path: path.to_path_buf(),
            },
            e => corrupt(format!("{e}")),
        });
    }
    if !head.starts_with(ZIP_MAGIC) {
        return Err(not_a_workbook(path, format, head));
    }
    match format {
        SheetFormat::Xlsx | SheetFormat::Xlsm | SheetFormat::Xls => Xlsx::new(file(path)?)
            .map(Sheets::Xlsx)
            .map_err(|e| match e {
                XlsxError::Password => SourceError::Encrypted {
                    path: path.to_path_buf(),
                },
                e => corrupt(xlsx_reason(&e)),
            }),
        SheetFormat::Xlsb => Xlsb::new(file(path)?)
            .map(Sheets::Xlsb)
            .map_err(|e| match e {
                XlsbError::Password => SourceError::Encrypted {
                    path: path.to_path_buf(),
                },
                e => corrupt(format!("{e}")),
            }),
        SheetFormat::Ods => Ods::new(file(path)?).map(Sheets::Ods).map_err(|e| match e {
            OdsError::Password => SourceError::Encrypted {
                path: path.to_path_buf(),
            },
            e => corrupt(format!("{e}")),
        }),
    }
}

/// A file named (or declared) as a workbook that does not start like one.
fn not_a_workbook(path: &Path, format: SheetFormat, head: &[u8]) -> SourceError {
    let text = !head.is_empty() && head.iter().all(|&b| b >= 0x09 && b != 0x7F);
    if text {
        return SourceError::TextNamedAsWorkbook {
            path: path.to_path_buf(),
            format: format.as_str(),
        };
    }
    SourceError::Corrupt {
        path: path.to_path_buf(),
        format: format.as_str(),
        reason: if head.is_empty() {
            "the file is empty".into()
        } else {
            "it is not a zip archive, as xlsx, xlsm, xlsb and ods workbooks are, nor an OLE file as xls workbooks are".into()
        },
    }
}

/// calamine's xlsx errors, in words that fit after "is not a readable xlsx workbook: ".
pub(super) fn xlsx_reason(e: &XlsxError) -> String {
    match e {
        XlsxError::Zip(z) => format!("its zip archive is damaged or truncated ({z})"),
        XlsxError::FileNotFound(f) => {
            format!("it is a zip archive without the workbook part `{f}`")
        }
        XlsxError::Xml(x) => format!("its XML is malformed ({x})"),
        XlsxError::XmlEof(what) => format!("its XML ends inside `{what}`"),
        other => other.to_string(),
    }
}

/// The rows of `sheet` and the last used (row, column) if known, both 0-based.
type Opened = (Box<dyn RowFeed>, Option<(u32, u32)>);

/// Opens the rows of `sheet`, a panic inside calamine contained.
fn feed(
    book: Sheets<BufReader<File>>,
    path: &Path,
    format: SheetFormat,
    sheet: &str,
    limits: CellLimits,
) -> Result<Opened, SourceError> {
    contained(|| feed_with(book, path, format, sheet, limits)).unwrap_or_else(|| {
        Err(SourceError::ReaderFailed {
            path: path.to_path_buf(),
            format: format.as_str(),
        })
    })
}

fn feed_with(
    book: Sheets<BufReader<File>>,
    path: &Path,
    format: SheetFormat,
    sheet: &str,
    limits: CellLimits,
) -> Result<Opened, SourceError> {
    let corrupt = |reason: String| SourceError::Corrupt {
        path: path.to_path_buf(),
        format: format.as_str(),
        reason,
    };
    let not_a_worksheet = || SourceError::NotAWorksheet {
        path: path.to_path_buf(),
        sheet: sheet.to_string(),
    };
    match book {
        Sheets::Xlsx(mut x) => {
            // Opened once here to report a missing or broken sheet before reading starts, and
            // for the used range the sheet declares; the thread opens it again to stream it.
            let used = match x.worksheet_cells_reader(sheet) {
                Ok(cells) => {
                    let d = cells.dimensions();
                    (d != calamine::Dimensions::default()).then_some(d.end)
                }
                Err(XlsxError::NotAWorksheet(_)) => return Err(not_a_worksheet()),
                Err(e) => return Err(corrupt(xlsx_reason(&e))),
            };
            let feed = XlsxFeed::spawn(x, sheet.to_string(), limits).map_err(corrupt)?;
            Ok((Box::new(feed), used))
        }
        mut other => {
            let range = other
                .worksheet_range(sheet)
                .map_err(|e| corrupt(e.to_string()))?;
            if let Some(reason) = cut_off(&range, format) {
                return Err(SourceError::SheetCutOff {
                    path: path.to_path_buf(),
                    sheet: sheet.to_string(),
                    reason,
                });
            }
            let used = range.end();
            Ok((
                Box::new(RangeFeed {
                    range,
                    next: 0,
                    limits,
                }),
                used,
            ))
        }
    }
}

/// The most rows and columns calamine's ods reader keeps of a sheet: it drops what lies past
/// them without an error (a sheet of LibreOffice's "huge sheets" can hold more).
const ODS_MAX_ROWS: u32 = 1_048_576;
const ODS_MAX_COLUMNS: u32 = 16_384;

/// Why a loaded range may have lost rows or columns, if it may have: it holds fewer rows than
/// it spans (rows the reader counted but did not keep), or, for ods, it reaches the last row
/// or column the reader keeps, past which it drops cells silently. xls and xlsb sheets cannot
/// go past those limits: their formats end there.
fn cut_off(range: &calamine::Range<Data>, format: SheetFormat) -> Option<String> {
    let (height, _) = range.get_size();
    let held = range.rows().count();
    if held < height {
        return Some(format!(
            "spans {height} rows but the {} reader kept only {held} of them",
            format.as_str()
        ));
    }
    let (last_row, last_col) = range.end()?;
    if format != SheetFormat::Ods {
        return None;
    }
    if last_row + 1 >= ODS_MAX_ROWS {
        return Some(format!(
            "reaches row {ODS_MAX_ROWS}, the last row the ods reader keeps (it drops any row past it)"
        ));
    }
    if last_col + 1 >= ODS_MAX_COLUMNS {
        return Some(format!(
            "reaches column {} ({ODS_MAX_COLUMNS}), the last column the ods reader keeps (it drops any column past it)",
            column_letters(ODS_MAX_COLUMNS)
        ));
    }
    None
}
