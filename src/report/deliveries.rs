//! HTTP deliveries in the report: `_report/deliveries.csv`, one line per batch file of an HTTP
//! target (its rows, its `Idempotency-Key`, what became of it), and the run's report amended
//! when a refused batch's rows become `delivery-failed` rejects after the commit.
//!
//! `deliveries.csv` is written with every batch `pending` into the staging folder, so it is
//! committed (and listed in the manifest) with the batch files; each delivery — the run's, then
//! any `--resume` — rewrites it whole (written beside, then renamed over).

use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::ReportError;

/// The file in `_report/`.
pub const FILE: &str = "deliveries.csv";

/// What became of a batch.
pub const PENDING: &str = "pending";
pub const ACKNOWLEDGED: &str = "acknowledged";
pub const REFUSED: &str = "refused";

/// One batch file of an HTTP target: a line of `deliveries.csv`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchLine {
    pub target: String,
    /// 1-based, in the order the target's files were written.
    pub batch: u64,
    /// Relative to the output folder.
    pub file: String,
    pub rows: u64,
    pub first_row: Option<u64>,
    pub last_row: Option<u64>,
    /// The input rows in the batch, as ranges: `2-501 503 505-900`.
    pub row_ranges: String,
    pub idempotency_key: String,
    /// `pending`, `acknowledged` or `refused`.
    pub status: String,
    pub http_status: Option<u16>,
    pub attempts: u32,
    pub milliseconds: u64,
    /// The start of the server's last answer, or why there was none.
    pub response_excerpt: String,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ReportError + '_ {
    move |source| ReportError::Write {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `lines` as `dir/deliveries.csv`: into a staging folder's report, or over the committed
/// one (written beside it in `tmp`, then renamed, so it is whole or as it was).
pub fn write(dir: &Path, tmp: &Path, lines: &[BatchLine]) -> Result<(), ReportError> {
    let path = dir.join(FILE);
    let mut w = csv::Writer::from_path(tmp).map_err(|e| ReportError::Write {
        path: tmp.to_path_buf(),
        source: e.into(),
    })?;
    for line in lines {
        w.serialize(line).map_err(|e| ReportError::Write {
            path: tmp.to_path_buf(),
            source: e.into(),
        })?;
    }
    let file = w.into_inner().map_err(|e| ReportError::Write {
        path: tmp.to_path_buf(),
        source: e.into_error(),
    })?;
    file.sync_all().map_err(io(tmp))?;
    fs::rename(tmp, &path).map_err(io(&path))
}

/// The batches of `dir/deliveries.csv`.
pub fn read(dir: &Path) -> Result<Vec<BatchLine>, ReportError> {
    let path = dir.join(FILE);
    let mut r = csv::Reader::from_path(&path).map_err(|e| ReportError::Write {
        path: path.clone(),
        source: e.into(),
    })?;
    r.deserialize()
        .collect::<Result<Vec<BatchLine>, _>>()
        .map_err(|e| ReportError::Write {
            path: path.clone(),
            source: std::io::Error::other(e.to_string()),
        })
}

/// Row numbers as ranges: `[2, 3, 4, 7]` → `2-4 7`.
pub fn ranges(rows: &[u64]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < rows.len() {
        let start = rows[i];
        let mut end = start;
        while i + 1 < rows.len() && rows[i + 1] == end + 1 {
            i += 1;
            end = rows[i];
        }
        if !out.is_empty() {
            out.push(' ');
        }
        match start == end {
            true => out.push_str(&start.to_string()),
            false => out.push_str(&format!("{start}-{end}")),
        }
        i += 1;
    }
    out
}

/// The row numbers [`ranges`] wrote; `None` when the text is not such ranges.
pub fn parse_ranges(text: &str) -> Option<Vec<u64>> {
    let mut rows = Vec::new();
    for part in text.split_whitespace() {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u64, u64) = (a.parse().ok()?, b.parse().ok()?);
                if b < a || b - a > 100_000_000 {
                    return None;
                }
                rows.extend(a..=b);
            }
            None => rows.push(part.parse().ok()?),
        }
    }
    Some(rows)
}

/// Appends the records of `from`'s `errors.csv` and `rejects.csv` (a report written for rows
/// rejected after the commit) to those of the report folder `to`, their headers left out.
pub fn append(from: &Path, to: &Path) -> Result<(), ReportError> {
    for name in ["errors.csv", "rejects.csv"] {
        let source = from.join(name);
        let target = to.join(name);
        let mut reader = csv::Reader::from_path(&source).map_err(|e| ReportError::Write {
            path: source.clone(),
            source: e.into(),
        })?;
        // The header record is the same; it may span lines when a column name holds one.
        reader.headers().map_err(|e| ReportError::Write {
            path: source.clone(),
            source: e.into(),
        })?;
        let start = reader.position().byte();
        let mut file = fs::File::open(&source).map_err(io(&source))?;
        file.seek(SeekFrom::Start(start)).map_err(io(&source))?;
        let mut records = Vec::new();
        file.read_to_end(&mut records).map_err(io(&source))?;
        if records.is_empty() {
            continue;
        }
        let mut out = fs::OpenOptions::new()
            .append(true)
            .open(&target)
            .map_err(io(&target))?;
        out.write_all(&records).map_err(io(&target))?;
        out.sync_all().map_err(io(&target))?;
    }
    Ok(())
}

/// What a delivery changed, for `report.json`.
pub struct Amendment<'a> {
    /// Rows newly rejected as `delivery-failed`, per target name.
    pub refused: &'a [(String, u64)],
    /// The `deliveries` section, as it now stands.
    pub deliveries: serde_json::Value,
}

/// Amends `report.json` in the report folder `dir`: rows a refused batch held move from
/// accepted (and routed) to rejected, with their `delivery-failed` issues; each target's rows
/// lose them; `deliveries` says what became of every batch. Written beside (`tmp`), then renamed.
pub fn amend_json(dir: &Path, tmp: &Path, amendment: &Amendment) -> Result<(), ReportError> {
    let path = dir.join("report.json");
    let text = fs::read(&path).map_err(io(&path))?;
    let bad = |e: serde_json::Error| ReportError::Write {
        path: path.clone(),
        source: std::io::Error::other(e.to_string()),
    };
    let mut report: serde_json::Value = serde_json::from_slice(&text).map_err(bad)?;
    let n: u64 = amendment.refused.iter().map(|(_, n)| n).sum();
    if n > 0 {
        let rows = &mut report["rows"];
        let add = |v: &mut serde_json::Value, by: i64| {
            let now = v.as_u64().unwrap_or(0) as i64;
            *v = serde_json::Value::from((now + by).max(0));
        };
        add(&mut rows["accepted"], -(n as i64));
        add(&mut rows["rejected"], n as i64);
        add(&mut rows["routed"], -(n as i64));
        let number = |v: &serde_json::Value| v.as_u64().unwrap_or(0);
        let (read, skipped, accepted, rejected, routed, unrouted) = (
            number(&rows["read"]),
            number(&rows["skipped"]),
            number(&rows["accepted"]),
            number(&rows["rejected"]),
            number(&rows["routed"]),
            number(&rows["unrouted"]),
        );
        report["conservation"]["equation"] =
            format!("{read} read = {skipped} skipped + {accepted} accepted + {rejected} rejected")
                .into();
        report["conservation"]["routing"] =
            format!("{accepted} accepted = {routed} routed to a target + {unrouted} unrouted")
                .into();
        report["conservation"]["holds"] =
            (read == skipped + accepted + rejected && accepted == routed + unrouted).into();
        let issues = &mut report["issues"];
        add(&mut issues["errors"], n as i64);
        let code = crate::issue::Code::DeliveryFailed.as_str();
        add(&mut issues["by_code"][code]["errors"], n as i64);
        if issues["by_code"][code]["warnings"].is_null() {
            issues["by_code"][code]["warnings"] = 0.into();
        }
        add(&mut issues["by_field"]["(row)"][code], n as i64);
        if let Some(targets) = report["targets"].as_array_mut() {
            for t in targets {
                if let Some((_, k)) = amendment
                    .refused
                    .iter()
                    .find(|(name, _)| t["name"] == **name)
                {
                    add(&mut t["rows"], -(*k as i64));
                }
            }
        }
    }
    report["deliveries"] = amendment.deliveries.clone();
    let mut json = serde_json::to_vec_pretty(&report).map_err(bad)?;
    json.push(b'\n');
    let mut file = fs::File::create(tmp).map_err(io(tmp))?;
    file.write_all(&json).map_err(io(tmp))?;
    file.sync_all().map_err(io(tmp))?;
    fs::rename(tmp, &path).map_err(io(&path))?;
    // The page shows what `report.json` now says; `tmp` is free again once renamed.
    super::html::write(dir, &report, tmp)
}

/// A temporary name beside the output folder's files, one the commit protocol owns.
pub fn temporary(out: &Path, name: &str) -> PathBuf {
    out.join(format!(".rowferry-{name}.tmp"))
}

#[cfg(test)]
mod tests {
    use super::{parse_ranges, ranges};

    #[test]
    fn row_ranges_round_trip() {
        for rows in [vec![], vec![2], vec![2, 3, 4, 7], vec![5, 7, 9, 10, 11, 20]] {
            let text = ranges(&rows);
            assert_eq!(parse_ranges(&text), Some(rows.clone()), "{text}");
        }
        assert_eq!(ranges(&[2, 3, 4, 7]), "2-4 7");
        assert_eq!(parse_ranges("4-2"), None);
        assert_eq!(parse_ranges("x"), None);
    }
}
