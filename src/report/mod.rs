//! The report stage: accounts for every row and writes what a user needs to fix the rest.
//!
//! `report` owns the run's outputs about itself — `_report/rejects.csv` (rejected rows as read,
//! plus `_row`, `_line`, `_errors`, so it can be fixed and fed back), `_report/errors.csv` (one
//! line per issue), `_report/report.json` (the machine-readable run), `_report/report.html` (the
//! same run for a person, `html.rs`) and the terminal summary.
//! Files are streamed chunk by chunk into a staging folder and moved into place only at the end,
//! so a run that dies leaves the previous report untouched. Memory stays bounded: only counters
//! and a few examples per code are kept.

pub mod deliveries;
pub mod html;
mod summary;

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::issue::{Code, Issue, Severity};
use crate::plan::REJECT_COLUMNS;
use crate::source::{Chunk, column_name};
use crate::validate::Validated;

pub use summary::render as render_summary;
pub use summary::{json as json_summary, json_error as json_error_summary};

/// Examples kept per issue code for the terminal summary.
const EXAMPLES_PER_CODE: usize = 3;

pub use crate::plan::REPORT_DIR;

/// A report file could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(
        "cannot write `{path}`: {source}; check that the output folder is writable and the disk is not full"
    )]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Counters and examples gathered while the run goes.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    pub rows_read: u64,
    pub skipped: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub errors: u64,
    pub warnings: u64,
    /// (errors, warnings) per code.
    pub by_code: BTreeMap<Code, (u64, u64)>,
    /// Issues per field and code.
    pub by_field: BTreeMap<String, BTreeMap<Code, u64>>,
    pub examples: Vec<Issue>,
    /// The last row number seen.
    pub last_row: u64,
    /// Whether rows are routed to targets (the mapping declares some).
    pub routing: bool,
    /// Accepted rows taken by at least one target.
    pub routed: u64,
    /// Accepted rows no target takes.
    pub unrouted: u64,
}

impl Tally {
    fn count(&mut self, issue: &Issue) {
        let entry = self.by_code.entry(issue.code).or_default();
        match issue.severity {
            Severity::Error => {
                self.errors += 1;
                entry.0 += 1;
            }
            Severity::Warning => {
                self.warnings += 1;
                entry.1 += 1;
            }
        }
        let field = if issue.field.is_empty() {
            "(row)".to_string()
        } else {
            issue.field.clone()
        };
        *self
            .by_field
            .entry(field)
            .or_default()
            .entry(issue.code)
            .or_default() += 1;
        if self
            .examples
            .iter()
            .filter(|e| e.code == issue.code)
            .count()
            < EXAMPLES_PER_CODE
        {
            self.examples.push(issue.clone());
        }
    }

    /// rows read = skipped + accepted + rejected, and, when rows are routed,
    /// accepted = routed + unrouted.
    pub fn conserved(&self) -> bool {
        self.rows_read == self.skipped + self.accepted + self.rejected
            && (!self.routing || self.accepted == self.routed + self.unrouted)
    }

    pub fn equation(&self) -> String {
        format!(
            "{} read = {} skipped + {} accepted + {} rejected",
            self.rows_read, self.skipped, self.accepted, self.rejected
        )
    }

    /// The routing half of the conservation equation, when there are targets.
    pub fn routing_equation(&self) -> Option<String> {
        self.routing.then(|| {
            format!(
                "{} accepted = {} routed to a target + {} unrouted",
                self.accepted, self.routed, self.unrouted
            )
        })
    }
}

/// Streams `rejects.csv` and `errors.csv` into the run's staging folder.
pub struct ReportWriter {
    staging: PathBuf,
    errors: csv::Writer<BufWriter<File>>,
    rejects: csv::Writer<BufWriter<File>>,
    width: usize,
    /// The input is a `rejects.csv` fed back: its last three columns are [`REJECT_COLUMNS`].
    refed: bool,
    delimiter: u8,
    pub tally: Tally,
}

impl ReportWriter {
    /// Creates `_report/` in the `staging` folder and the two CSV files with their headers.
    /// `rejects.csv` uses the source's `header` and `delimiter`, so it can be fed back.
    pub fn create(staging: &Path, header: &[String], delimiter: u8) -> Result<Self, ReportError> {
        let staging = staging.to_path_buf();
        let report = staging.join(REPORT_DIR);
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| ReportError::Write { path, source }
        };
        fs::create_dir_all(&report).map_err(io(&report))?;
        let open =
            |name: &str, delimiter: u8| -> Result<csv::Writer<BufWriter<File>>, ReportError> {
                let path = report.join(name);
                let file = File::create(&path).map_err(io(&path))?;
                Ok(csv::WriterBuilder::new()
                    .delimiter(delimiter)
                    .flexible(true)
                    .from_writer(BufWriter::with_capacity(256 * 1024, file)))
            };
        let mut errors = open("errors.csv", b',')?;
        let mut rejects = open("rejects.csv", delimiter)?;
        let w = |writer: &mut csv::Writer<BufWriter<File>>, name: &str, row: &[&str]| {
            writer
                .write_record(row)
                .map_err(|e| csv_io(e, &report.join(name)))
        };
        w(
            &mut errors,
            "errors.csv",
            &[
                "row", "line", "stage", "code", "field", "column", "value", "message", "severity",
            ],
        )?;
        // A `rejects.csv` fed back already ends with `_row`, `_line`, `_errors`: it keeps that
        // one set, so it can be fixed and fed back again, as often as needed.
        let refed = header.ends_with(&REJECT_COLUMNS.map(String::from));
        let mut rejects_header: Vec<&str> = header.iter().map(String::as_str).collect();
        if !refed {
            rejects_header.extend(REJECT_COLUMNS);
        }
        w(&mut rejects, "rejects.csv", &rejects_header)?;
        Ok(ReportWriter {
            staging,
            errors,
            rejects,
            width: header.len(),
            refed,
            delimiter,
            tally: Tally::default(),
        })
    }

    /// Writes issues that belong to no chunk (the header row's), before the first chunk, and
    /// counts them. They reject no row.
    pub fn write_issues(&mut self, issues: &[Issue]) -> Result<(), ReportError> {
        let path = self.staging.join(REPORT_DIR).join("errors.csv");
        for issue in issues {
            self.tally.count(issue);
            self.write_issue(issue, &path)?;
        }
        Ok(())
    }

    fn write_issue(&mut self, issue: &Issue, path: &Path) -> Result<(), ReportError> {
        let (row, line) = (issue.row.to_string(), issue.line.to_string());
        let (value, message) = (visible(&issue.value), visible(&issue.message));
        self.errors
            .write_record([
                row.as_str(),
                line.as_str(),
                issue.code.stage().as_str(),
                issue.code.as_str(),
                issue.field.as_str(),
                issue.column.as_str(),
                &value,
                &message,
                issue.severity.as_str(),
            ])
            .map_err(|e| csv_io(e, path))
    }

    /// Writes the issues and rejected rows of one chunk, in row order, and counts them.
    pub fn write_chunk(&mut self, chunk: &Chunk, validated: &Validated) -> Result<(), ReportError> {
        let t = &mut self.tally;
        t.rows_read += chunk.rows_read();
        t.skipped += chunk.skipped;
        let frame_rejected = validated.rejected.iter().filter(|r| **r).count() as u64;
        t.rejected += frame_rejected + chunk.rejects.len() as u64;
        t.accepted += chunk.rows.len() as u64 - frame_rejected;
        t.last_row = t.last_row.max(chunk.rows.last().copied().unwrap_or(0));
        if let Some(r) = chunk.rejects.last() {
            t.last_row = t.last_row.max(r.issue.row);
        }

        // errors.csv: every issue, source and validation merged by row.
        let mut all: Vec<&Issue> = validated
            .issues
            .iter()
            .chain(chunk.rejects.iter().map(|r| &r.issue))
            .collect();
        all.sort_by_key(|i| i.row);
        let path = self.staging.join(REPORT_DIR).join("errors.csv");
        for issue in all {
            self.tally.count(issue);
            self.write_issue(issue, &path)?;
        }

        // rejects.csv: rejected rows as read, merged by row.
        let mut entries: Vec<(u64, Entry)> = validated
            .rejected
            .iter()
            .enumerate()
            .filter(|(_, r)| **r)
            .map(|(i, _)| (chunk.rows[i], Entry::Frame(i)))
            .chain(
                chunk
                    .rejects
                    .iter()
                    .enumerate()
                    .map(|(k, r)| (r.issue.row, Entry::Source(k))),
            )
            .collect();
        if entries.is_empty() {
            return Ok(());
        }
        entries.sort_by_key(|(row, _)| *row);
        let path = self.staging.join(REPORT_DIR).join("rejects.csv");
        let columns: Vec<_> = (0..self.width)
            .map(|i| {
                chunk
                    .frame
                    .column(&column_name(i))
                    .and_then(|c| c.str().cloned())
            })
            .collect::<Result<_, _>>()
            .map_err(|e| ReportError::Write {
                path: path.clone(),
                source: std::io::Error::other(e.to_string()),
            })?;
        // `_errors` of each rejected frame row, built in one pass over the (row-ordered) issues.
        let mut summaries: std::collections::HashMap<u64, Vec<&Issue>> = Default::default();
        for issue in validated
            .issues
            .iter()
            .filter(|i| i.severity == Severity::Error)
        {
            summaries.entry(issue.row).or_default().push(issue);
        }
        let mut record: Vec<String> = Vec::with_capacity(self.width + 3);
        for (row, entry) in entries {
            record.clear();
            let line;
            let summary;
            match entry {
                Entry::Frame(i) => {
                    record.extend(columns.iter().map(|c| c.get(i).unwrap_or("").to_string()));
                    line = chunk.lines[i];
                    summary = error_summary(summaries.get(&row).into_iter().flatten().copied());
                }
                Entry::Source(k) => {
                    let r = &chunk.rejects[k];
                    record.extend(fit(&r.fields, self.width, self.delimiter));
                    line = r.issue.line;
                    summary = error_summary(std::iter::once(&r.issue));
                }
            }
            if self.refed {
                // The row's place in the original export stays; its errors are this run's.
                let n = record.len();
                for (k, now) in [(n - 3, row), (n - 2, line)] {
                    if record[k].trim().is_empty() {
                        record[k] = now.to_string();
                    }
                }
                record[n - 1] = summary;
            } else {
                record.push(row.to_string());
                record.push(line.to_string());
                record.push(summary);
            }
            self.rejects
                .write_record(&record)
                .map_err(|e| csv_io(e, &path))?;
        }
        Ok(())
    }

    /// Flushes the CSV files, and writes no `report.json`: rows rejected after the run (a
    /// refused delivery), appended to the run's files by [`deliveries::append`].
    pub fn close(mut self) -> Result<(), ReportError> {
        let dir = self.staging.join(REPORT_DIR);
        let io = |path: PathBuf| move |source| ReportError::Write { path, source };
        self.errors.flush().map_err(io(dir.join("errors.csv")))?;
        self.rejects.flush().map_err(io(dir.join("rejects.csv")))
    }

    /// Flushes the CSV files and writes `report.json`, in the staging folder.
    pub fn finish(mut self, report: &RunReport) -> Result<(), ReportError> {
        let dir = self.staging.join(REPORT_DIR);
        let io = |path: PathBuf| move |source| ReportError::Write { path, source };
        self.errors.flush().map_err(io(dir.join("errors.csv")))?;
        self.rejects.flush().map_err(io(dir.join("rejects.csv")))?;
        drop(self.errors);
        drop(self.rejects);
        let json_path = dir.join("report.json");
        let mut json = serde_json::to_vec_pretty(report).map_err(|e| ReportError::Write {
            path: json_path.clone(),
            source: std::io::Error::other(e),
        })?;
        json.push(b'\n');
        fs::write(&json_path, json).map_err(io(json_path.clone()))?;
        let value = serde_json::to_value(report).map_err(|e| ReportError::Write {
            path: json_path.clone(),
            source: std::io::Error::other(e),
        })?;
        html::write(&dir, &value, &dir.join("report.html.tmp"))
    }
}

/// A NUL byte, which a spreadsheet or a text tool would cut the line at, written as `\0` in
/// `errors.csv` (the value is shown, not fed back; `rejects.csv` keeps the bytes as read).
fn visible(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains('\0') {
        text.replace('\0', "\\0").into()
    } else {
        text.into()
    }
}

enum Entry {
    Frame(usize),
    Source(usize),
}

/// The fields of a structurally broken record laid out under the header: missing fields are
/// empty; extra fields are kept in the last column, joined by the delimiter they were split on,
/// so nothing is lost.
fn fit(fields: &[String], width: usize, delimiter: u8) -> Vec<String> {
    let mut out: Vec<String> = fields.iter().take(width).cloned().collect();
    if fields.len() > width && width > 0 {
        out[width - 1] = fields[width - 1..].join(&char::from(delimiter).to_string());
    }
    out.resize(width, String::new());
    out
}

/// `_errors`: the error codes of a row, with their fields.
fn error_summary<'a>(issues: impl Iterator<Item = &'a Issue>) -> String {
    let parts: Vec<String> = issues
        .filter(|i| i.severity == Severity::Error)
        .map(|i| {
            if i.field.is_empty() {
                i.code.as_str().to_string()
            } else {
                format!("{}: {}", i.field, i.code)
            }
        })
        .collect();
    parts.join("; ")
}

fn csv_io(e: csv::Error, path: &Path) -> ReportError {
    let source = match e.into_kind() {
        csv::ErrorKind::Io(io) => io,
        other => std::io::Error::other(format!("{other:?}")),
    };
    ReportError::Write {
        path: path.to_path_buf(),
        source,
    }
}

/// `report.json`: the run, for machines.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub tool: ToolInfo,
    pub command: String,
    /// `completed`, or `aborted` when a threshold stopped the run.
    pub status: String,
    pub stop_reason: Option<String>,
    pub started_at: String,
    pub mapping: MappingInfo,
    pub input: InputInfo,
    /// `--set` overrides and `${VAR}` values applied to the mapping.
    pub overrides: crate::plan::overrides::Applied,
    pub rows: RowCounts,
    pub conservation: Conservation,
    pub issues: IssueCounts,
    /// Lookups loaded: name, file and rows.
    pub lookups: Vec<LookupInfo>,
    /// Per target: rows, and (for `run`) each file written with its checksum.
    pub targets: Vec<crate::sink::TargetReport>,
    pub outputs: BTreeMap<String, String>,
    pub durations_ms: Durations,
    pub resources: Resources,
}

/// The parts of a run that `report.json` is assembled from.
pub struct RunParts<'a> {
    /// `run` or `validate`.
    pub command: &'static str,
    /// Why a threshold stopped the run, if one did.
    pub stop_reason: Option<String>,
    pub started_at: String,
    pub plan: &'a crate::plan::Plan,
    /// The input as opened, its checksum (none for a pipe a stopped run did not read to its
    /// end) and its size.
    pub input: (&'a crate::source::SourceInfo, Option<String>, u64),
    pub tally: &'a Tally,
    /// Lookups loaded: name, file and rows.
    pub lookups: Vec<(String, String, u64)>,
    pub targets: Vec<crate::sink::TargetReport>,
    /// Where the report's files end up.
    pub report_dir: &'a Path,
    pub durations_ms: Durations,
}

impl RunReport {
    /// The run's report, from its parts; the machine's resources are measured now.
    pub fn assemble(parts: RunParts<'_>) -> Self {
        let RunParts {
            command,
            stop_reason,
            started_at,
            plan,
            input: (info, sha256, bytes),
            tally,
            lookups,
            targets,
            report_dir,
            durations_ms,
        } = parts;
        RunReport {
            tool: ToolInfo::this(),
            command: command.into(),
            status: if stop_reason.is_some() {
                "stopped"
            } else {
                "completed"
            }
            .into(),
            stop_reason,
            started_at,
            mapping: MappingInfo::of(plan),
            input: InputInfo::of(info, sha256, bytes),
            overrides: plan.overrides.clone(),
            rows: RowCounts::of(tally),
            conservation: Conservation::of(tally),
            issues: IssueCounts::from_tally(tally),
            lookups: lookups
                .into_iter()
                .map(|(name, path, rows)| LookupInfo { name, path, rows })
                .collect(),
            targets,
            outputs: outputs(report_dir),
            durations_ms,
            resources: Resources::now(),
        }
    }
}

impl RunReport {
    /// The report once a delivery has rejected `refused` rows per target (`delivery-failed`,
    /// after the commit): counts moved from accepted to rejected, `tally` too, as
    /// [`deliveries::amend_json`] amends the committed `report.json`.
    pub fn delivered(
        &mut self,
        tally: &mut Tally,
        refused: &[(String, u64)],
        examples: Vec<Issue>,
    ) {
        let n: u64 = refused.iter().map(|(_, n)| n).sum();
        if n == 0 {
            return;
        }
        tally.examples.extend(examples);
        tally.accepted = tally.accepted.saturating_sub(n);
        tally.routed = tally.routed.saturating_sub(n);
        tally.rejected += n;
        tally.errors += n;
        tally.by_code.entry(Code::DeliveryFailed).or_default().0 += n;
        *tally
            .by_field
            .entry("(row)".into())
            .or_default()
            .entry(Code::DeliveryFailed)
            .or_default() += n;
        self.rows = RowCounts::of(tally);
        self.conservation = Conservation::of(tally);
        self.issues = IssueCounts::from_tally(tally);
        for t in &mut self.targets {
            if let Some((_, k)) = refused.iter().find(|(name, _)| *name == t.name) {
                t.rows = t.rows.saturating_sub(*k);
            }
        }
    }
}

/// What the run cost the machine.
#[derive(Debug, Clone, Serialize)]
pub struct Resources {
    /// Peak resident memory of the process (Linux only; `null` elsewhere).
    pub peak_rss_bytes: Option<u64>,
    /// CPU time of all the process's threads so far, in the process (`user`) and in the
    /// kernel on its behalf (`system`: reading, writing and creating files), to the hundredth
    /// of a second (Linux only; `null` elsewhere). Beside `durations_ms.total` it tells how
    /// well the cores were used, and whether the file system took a share.
    pub cpu_user_ms: Option<u64>,
    pub cpu_system_ms: Option<u64>,
}

impl Resources {
    pub fn now() -> Self {
        let cpu = cpu_times();
        Resources {
            peak_rss_bytes: peak_rss(),
            cpu_user_ms: cpu.map(|(user, _)| user),
            cpu_system_ms: cpu.map(|(_, system)| system),
        }
    }
}

/// The process's user and system CPU time in milliseconds, from `/proc/self/stat` (fields 14
/// and 15, in clock ticks of 1/100 s: Linux's `USER_HZ` is 100 on every architecture).
fn cpu_times() -> Option<(u64, u64)> {
    let stat = fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    let mut fields = rest.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some((user * 10, system * 10))
}

/// The process's peak resident set size, from `/proc/self/status` (`VmHWM`).
fn peak_rss() -> Option<u64> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[derive(Debug, Clone, Serialize)]
pub struct ToolInfo {
    pub name: String,
    pub version: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct MappingInfo {
    pub name: String,
    pub path: String,
    pub sha256: String,
    pub structure: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct InputInfo {
    pub path: String,
    pub sha256: Option<String>,
    pub bytes: u64,
    pub format: String,
    /// The encoding's WHATWG name; `binary` for spreadsheets.
    pub encoding: String,
    /// The encoding was detected, not declared.
    pub encoding_detected: bool,
    /// What the detection went by, when it was not plain (bytes that are not UTF-8).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding_evidence: Option<String>,
    pub bom: bool,
    /// CSV only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delimiter: Option<String>,
    pub delimiter_sniffed: bool,
    /// CSV only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quote: Option<String>,
    pub quote_sniffed: bool,
    /// Spreadsheets only: the sheet read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sheet: Option<String>,
    pub header_row: u64,
    pub header_row_detected: bool,
    /// The input has a header record; without one columns are `column_1`, `column_2`…
    pub has_header: bool,
    pub columns: Vec<String>,
    /// Lines above a detected header (a title block), skipped, with their text.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lines_above_header: Vec<LineAbove>,
}

/// A line above the header: counted as a skipped row.
#[derive(Debug, Clone, Serialize)]
pub struct LineAbove {
    pub line: u64,
    pub text: String,
}

impl ToolInfo {
    /// This build of rowferry.
    pub fn this() -> Self {
        ToolInfo {
            name: "rowferry".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        }
    }
}

impl MappingInfo {
    pub fn of(plan: &crate::plan::Plan) -> Self {
        MappingInfo {
            name: plan.name.clone(),
            path: plan.mapping.path.display().to_string(),
            sha256: plan.mapping.sha256.clone(),
            structure: plan.structure.as_ref().map(|s| s.name.clone()),
        }
    }
}

impl InputInfo {
    /// What was learnt of the input while opening it, and its checksum and size once read
    /// (no checksum for a pipe a stopped run did not read to its end).
    pub fn of(info: &crate::source::SourceInfo, sha256: Option<String>, bytes: u64) -> Self {
        InputInfo {
            path: info.path.display().to_string(),
            sha256,
            bytes,
            format: info.format.into(),
            encoding: info.encoding.into(),
            encoding_detected: info.encoding_detected,
            encoding_evidence: info.encoding_evidence.clone(),
            bom: info.bom,
            delimiter: (!info.typed).then(|| char::from(info.delimiter).to_string()),
            delimiter_sniffed: info.delimiter_sniffed,
            quote: (!info.typed).then(|| char::from(info.quote).to_string()),
            quote_sniffed: info.quote_sniffed,
            sheet: info.sheet.clone(),
            header_row: info.header_row,
            header_row_detected: info.header_row_detected,
            has_header: info.has_header,
            columns: info.header.clone(),
            lines_above_header: info
                .above_header
                .iter()
                .map(|(line, text)| LineAbove {
                    line: *line,
                    text: text.clone(),
                })
                .collect(),
        }
    }
}

impl RowCounts {
    pub fn of(t: &Tally) -> Self {
        RowCounts {
            read: t.rows_read,
            skipped: t.skipped,
            accepted: t.accepted,
            rejected: t.rejected,
            routed: t.routed,
            unrouted: t.unrouted,
        }
    }
}

impl Conservation {
    pub fn of(t: &Tally) -> Self {
        Conservation {
            equation: t.equation(),
            routing: t.routing_equation(),
            holds: t.conserved(),
        }
    }
}

/// Where the report's files are, by name.
pub fn outputs(report_dir: &Path) -> BTreeMap<String, String> {
    [
        ("rejects", "rejects.csv"),
        ("errors", "errors.csv"),
        ("report", "report.json"),
        ("html", "report.html"),
    ]
    .into_iter()
    .map(|(k, f)| (k.to_string(), report_dir.join(f).display().to_string()))
    .collect()
}

#[derive(Debug, Clone, Serialize)]
pub struct RowCounts {
    pub read: u64,
    /// Blank (or comment) rows, and lines above a detected header.
    pub skipped: u64,
    pub accepted: u64,
    pub rejected: u64,
    /// Accepted rows taken by at least one target.
    pub routed: u64,
    /// Accepted rows no target takes.
    pub unrouted: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct LookupInfo {
    pub name: String,
    /// Where its rows were read: its file, or its server's URL masked (no password, no token).
    pub path: String,
    pub rows: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Conservation {
    pub equation: String,
    /// accepted = routed + unrouted, when the mapping has targets.
    pub routing: Option<String>,
    pub holds: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct IssueCounts {
    pub errors: u64,
    pub warnings: u64,
    pub by_code: BTreeMap<String, CodeCount>,
    pub by_field: BTreeMap<String, BTreeMap<String, u64>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CodeCount {
    pub errors: u64,
    pub warnings: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Durations {
    pub plan: u64,
    pub run: u64,
    pub total: u64,
}

impl IssueCounts {
    pub fn from_tally(t: &Tally) -> Self {
        IssueCounts {
            errors: t.errors,
            warnings: t.warnings,
            by_code: t
                .by_code
                .iter()
                .map(|(c, (e, w))| {
                    (
                        c.as_str().to_string(),
                        CodeCount {
                            errors: *e,
                            warnings: *w,
                        },
                    )
                })
                .collect(),
            by_field: t
                .by_field
                .iter()
                .map(|(f, m)| {
                    (
                        f.clone(),
                        m.iter()
                            .map(|(c, n)| (c.as_str().to_string(), *n))
                            .collect(),
                    )
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn cpu_time_counts_the_work_done() {
        let (user, system) = cpu_times().expect("/proc/self/stat is read on Linux");
        let started = std::time::Instant::now();
        let mut x = 0u64;
        // Work until the counter has moved by five ticks (at most a few seconds on a busy machine).
        while cpu_times().is_some_and(|(u, s)| u + s < user + system + 50) {
            for i in 0..100_000u64 {
                x = x.wrapping_mul(31).wrapping_add(std::hint::black_box(i));
            }
            assert!(
                started.elapsed().as_secs() < 30,
                "the CPU time does not move"
            );
        }
        std::hint::black_box(x);
        let (after, _) = cpu_times().expect("read again");
        assert!(after >= user, "user time never goes back");
    }

    #[test]
    fn fit_pads_short_and_keeps_extra_fields() {
        let f = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(fit(&f(&["a"]), 3, b';'), f(&["a", "", ""]));
        assert_eq!(
            fit(&f(&["a", "b", "c", "d"]), 3, b';'),
            f(&["a", "b", "c;d"])
        );
    }
}
