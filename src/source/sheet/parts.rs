//! Zip bombs: before calamine opens a zipped workbook, [`check_parts`] bounds what it will
//! unpack — parts read whole by `max_part_bytes`, any one value (a stretch between two `<`)
//! by 8 × `max_field_bytes` — and names where an oversized value is. Must not know cells or
//! rows.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use super::SheetFormat;
use super::feed::contained;
use crate::plan::VALUE_BYTES_PER_FIELD_BYTE;
use crate::source::SourceError;

/// Checks, before calamine opens it, that no part of a zipped workbook unpacks past what it
/// can hold in memory. calamine reads each part through the zip crate, which stops a part at
/// the size its entry declares (it counts while unpacking), so the declared sizes bound what
/// it reads:
///
/// - a part read whole (shared strings, styles, the workbook, relationships; for xlsb and ods
///   the sheets too) may declare at most `max_part_bytes`;
/// - in an XML part that declares more than a value may take, the longest stretch between two
///   `<` (a text or a tag, which the XML parser holds whole) is measured by unpacking it:
///   past [`VALUE_BYTES_PER_FIELD_BYTE`] times `max_field_bytes`, the workbook is refused.
///   Shorter values over `max_field_bytes` are read, and their rows rejected
///   (`field-too-long`).
///
/// A file that is not a readable zip archive passes: opening it reports why.
pub(super) fn check_parts(
    path: &Path,
    format: SheetFormat,
    max_field_bytes: u64,
    max_part_bytes: u64,
) -> Result<(), SourceError> {
    contained(|| check_parts_with(path, format, max_field_bytes, max_part_bytes)).unwrap_or_else(
        || {
            Err(SourceError::ReaderFailed {
                path: path.to_path_buf(),
                format: format.as_str(),
            })
        },
    )
}

fn check_parts_with(
    path: &Path,
    format: SheetFormat,
    max_field_bytes: u64,
    max_part_bytes: u64,
) -> Result<(), SourceError> {
    let file = File::open(path).map_err(|source| SourceError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    let Ok(mut zip) = zip::ZipArchive::new(BufReader::new(file)) else {
        return Ok(());
    };
    let value_limit = max_field_bytes
        .saturating_mul(VALUE_BYTES_PER_FIELD_BYTE)
        .saturating_add(SCAN_BUFFER as u64);
    for i in 0..zip.len() {
        let (name, size) = match zip.by_index_raw(i) {
            Ok(entry) if !entry.is_dir() => match entry.name() {
                Ok(name) => (name.into_owned(), entry.size()),
                Err(_) => continue,
            },
            _ => continue,
        };
        let kind = part_kind(&name, format);
        if kind == PartKind::Whole && size > max_part_bytes {
            return Err(SourceError::PartTooLarge {
                path: path.to_path_buf(),
                part: name.into(),
                size,
                limit: max_part_bytes,
            });
        }
        if kind == PartKind::Unread || size <= value_limit || !is_xml(&name) {
            continue;
        }
        let Ok(entry) = zip.by_index(i) else {
            continue;
        };
        if let Some(at) = stretch_past(entry, value_limit) {
            let place = match zip.by_index(i) {
                Ok(entry) => place_in_part(entry, at),
                Err(_) => String::new(),
            };
            return Err(SourceError::ValueTooLarge {
                path: path.to_path_buf(),
                part: name.into(),
                place: place.into(),
                limit: value_limit,
            });
        }
    }
    Ok(())
}

/// How calamine reads a part of a zipped workbook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PartKind {
    /// Loaded into memory whole.
    Whole,
    /// Streamed (xlsx and xlsm worksheets, and parts read only if asked for).
    Streamed,
    /// Never read: pictures, embedded objects, macros, printer settings.
    Unread,
}

fn part_kind(name: &str, format: SheetFormat) -> PartKind {
    let lower = name.to_ascii_lowercase();
    let file = lower.rsplit('/').next().unwrap_or(&lower);
    let unread = [
        "media/",
        "embeddings/",
        "printersettings/",
        "thumbnails/",
        "pictures/",
    ]
    .iter()
    .any(|d| lower.contains(d))
        || file == "vbaproject.bin";
    if unread {
        return PartKind::Unread;
    }
    let whole = match format {
        SheetFormat::Xlsx | SheetFormat::Xlsm | SheetFormat::Xls => {
            lower.ends_with(".rels")
                || matches!(file, "sharedstrings.xml" | "styles.xml" | "workbook.xml")
                || file.starts_with("theme")
        }
        // xlsb sheets are loaded whole, as are ods sheets (all of them, in content.xml).
        SheetFormat::Xlsb | SheetFormat::Ods => {
            lower.ends_with(".rels") || lower.ends_with(".bin") || lower.ends_with(".xml")
        }
    };
    if whole {
        PartKind::Whole
    } else {
        PartKind::Streamed
    }
}

fn is_xml(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.ends_with(".xml") || lower.ends_with(".rels")
}

/// Unpacks an XML part and finds the first stretch between two `<` longer than `limit`: the
/// offset where it starts, else `None`. An unpacking error ends the search: opening the part
/// later reports it.
///
/// Fast (the part is unpacked once more, and this should cost little beside that): a read
/// of at most [`SCAN_BUFFER`] bytes, shorter than `limit`, cannot hold a whole stretch, so
/// only stretches across reads count, from the last `<` of the reads before to the first of
/// this one: two searches per read, each stopping at the first `<` from its end.
fn stretch_past(mut part: impl Read, limit: u64) -> Option<u64> {
    let mut buf = vec![0u8; SCAN_BUFFER];
    let mut offset: u64 = 0;
    // Just past the last `<` seen (0 at the start of the part).
    let mut since: u64 = 0;
    loop {
        let n = match part.read(&mut buf) {
            Ok(0) | Err(_) => return None,
            Ok(n) => n,
        };
        let chunk = &buf[..n];
        match memchr::memchr(b'<', chunk) {
            Some(first) => {
                if offset + first as u64 - since > limit {
                    return Some(since);
                }
                let last = memchr::memrchr(b'<', chunk).unwrap_or(first);
                since = offset + last as u64 + 1;
            }
            None if offset + n as u64 - since > limit => return Some(since),
            None => {}
        }
        offset += n as u64;
    }
}

/// What [`stretch_past`] reads at once; a value limit is always longer.
const SCAN_BUFFER: usize = 64 << 10;

/// Where offset `at` of an unpacked XML part is: `near cell B7` (the last cell tag before it),
/// `in shared string 3`, else `at byte N of the unpacked part`. Slow; for the error only.
fn place_in_part(mut part: impl Read, at: u64) -> String {
    let mut buf = vec![0u8; SCAN_BUFFER];
    let mut offset: u64 = 0;
    let mut cell: Option<String> = None;
    let mut strings: u64 = 0;
    while offset < at {
        let n = match part.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let chunk = &buf[..n.min((at - offset).min(n as u64) as usize)];
        for lt in memchr::memchr_iter(b'<', chunk) {
            let tag = &buf[lt + 1..n.min(lt + 33)];
            if let Some(rest) = tag.strip_prefix(b"c ") {
                cell = cell_ref(rest);
            } else if tag.starts_with(b"si>") || tag.starts_with(b"si ") {
                strings += 1;
            }
        }
        offset += n as u64;
    }
    match cell {
        Some(c) => format!(" near cell {c}"),
        None if strings > 0 => format!(" in shared string {strings}"),
        None => format!(" at byte {at} of the unpacked part"),
    }
}

/// The `r="B7"` of a cell tag's first bytes.
fn cell_ref(attrs: &[u8]) -> Option<String> {
    let at = memchr::memmem::find(attrs, b"r=\"")? + 3;
    let rest = &attrs[at..];
    let end = memchr::memchr(b'"', rest)?;
    std::str::from_utf8(&rest[..end]).ok().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_limit_stretches_are_found_across_reads() {
        let limit = SCAN_BUFFER as u64 + 100;
        let long = format!("<a>{}</a>", "x".repeat(SCAN_BUFFER + 200));
        assert_eq!(stretch_past(long.as_bytes(), limit), Some(1));
        let at_end = format!("<a/>{}", " ".repeat(SCAN_BUFFER + 200));
        assert_eq!(stretch_past(at_end.as_bytes(), limit), Some(1));
        let fine: String = (0..50_000)
            .map(|i| format!("<c r=\"A{i}\"><v>{i}</v></c>"))
            .collect();
        assert_eq!(stretch_past(fine.as_bytes(), limit), None);
        let just_under = format!("<a>{}</a>", "x".repeat(limit as usize - 2));
        assert_eq!(stretch_past(just_under.as_bytes(), limit), None);
        let cells = format!(
            r#"<row><c r="A1"><v>1</v></c><c r="B1" t="inlineStr"><is><t>{}"#,
            "x".repeat(10)
        );
        assert_eq!(
            place_in_part(cells.as_bytes(), cells.len() as u64 - 5),
            " near cell B1"
        );
        let strings = "<sst><si><t>a</t></si><si><t>bbbb";
        assert_eq!(place_in_part(strings.as_bytes(), 30), " in shared string 2");
    }
}
