//! Drives the stages for one run: plan → source → validate → report.
//!
//! The source runs on its own thread and hands chunks over a small bounded channel, so reading
//! and parsing the next chunk overlaps validating the current one while memory stays bounded to
//! a few chunks. This module owns the run's policy — thresholds, the conservation check, exit
//! outcome — and nothing about formats or rules.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::plan::{self, Diagnostic, Diagnostics, Plan, PlanError};
use crate::report::{self, ReportError, ReportWriter, RunReport};
use crate::source::csv::{CsvSource, ReadOptions};
use crate::source::{self, Batch, CHUNK_ROWS, Fingerprint, SourceError};
use crate::validate::{ValidateError, Validator};

/// What the command line asks of a run.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Replaces `[source] path`.
    pub input: Option<PathBuf>,
    /// The output folder; default `out/<mapping file stem>`.
    pub out: Option<PathBuf>,
    /// Read only the first N data rows.
    pub limit: Option<u64>,
    /// No progress bar and no summary.
    pub quiet: bool,
}

/// Why a run did not complete.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("{0}")]
    MissingColumns(Box<Diagnostics>),
    #[error(transparent)]
    Validate(#[from] ValidateError),
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error(
        "rows are unaccounted for: {0}. This is a bug in rowferry; nothing was written, please report it"
    )]
    Conservation(String),
}

/// How a completed run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every row was accepted.
    Clean,
    /// Some rows were rejected; the report says which.
    Rejected,
    /// A threshold stopped the run; the report covers the rows read until then.
    Stopped,
}

/// The result of a run: its outcome, the report and where it was written.
#[derive(Debug)]
pub struct RunResult {
    pub outcome: Outcome,
    pub report: RunReport,
    pub report_dir: PathBuf,
    pub summary: String,
}

enum Message {
    Batch(Batch),
    Done(Fingerprint),
    Failed(SourceError),
}

/// `rowferry validate`: every stage, writing only the report.
pub fn validate(mapping: &Path, options: &RunOptions) -> Result<RunResult, RunError> {
    let started = Instant::now();
    let started_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let plan = plan::load(mapping, options.input.as_deref())?;
    let plan_ms = started.elapsed().as_millis() as u64;

    let source = CsvSource::open(
        &plan.source,
        &ReadOptions {
            limit: options.limit,
        },
    )?;
    let info = source.info().clone();
    check_columns(&plan, &info.header, &info.path)?;

    let out_dir = options
        .out
        .clone()
        .unwrap_or_else(|| default_out_dir(&plan.mapping.path));
    let mut writer = ReportWriter::create(&out_dir, &info.header, info.delimiter)?;
    let mut validator = Validator::new(plan.structure.clone(), &info.header);

    let progress = progress_bar(info.size, options.quiet);
    let bytes = source.bytes_read();
    let run_started = Instant::now();
    let (tx, rx) = mpsc::sync_channel::<Message>(2);
    let reader = std::thread::Builder::new()
        .name("rowferry-read".into())
        .spawn(move || read_all(source, tx))
        .map_err(|e| SourceError::Read {
            path: info.path.clone(),
            line: 0,
            message: format!("cannot start the reader thread: {e}"),
        })?;

    let mut fingerprint = None;
    let mut stop_reason = None;
    for message in rx.iter() {
        match message {
            Message::Batch(batch) => {
                let validated = validator.validate(&batch)?;
                writer.write_chunk(&batch, &validated)?;
                let t = &writer.tally;
                progress.set_position(bytes.load(std::sync::atomic::Ordering::Relaxed));
                progress.set_message(format!("{} rows · {} rejected", t.rows_read, t.rejected));
                if let Some(reason) = threshold(&plan, t, false) {
                    stop_reason = Some(reason);
                    break;
                }
            }
            Message::Done(f) => fingerprint = Some(f),
            Message::Failed(e) => return Err(e.into()),
        }
    }
    drop(rx);
    // A stopped run leaves the reader blocked on a closed channel: it ends on its own.
    let _ = reader.join();
    progress.finish_and_clear();
    if stop_reason.is_none() {
        stop_reason = threshold(&plan, &writer.tally, true);
    }
    let fingerprint = match fingerprint {
        Some(f) => f,
        None => source::fingerprint(&info.path)?,
    };
    let tally = writer.tally.clone();
    if !tally.conserved() {
        return Err(RunError::Conservation(tally.equation()));
    }

    let report_dir = out_dir.join(report::REPORT_DIR);
    let report = RunReport {
        tool: report::ToolInfo {
            name: "rowferry".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        command: "validate".into(),
        status: if stop_reason.is_some() {
            "stopped"
        } else {
            "completed"
        }
        .into(),
        stop_reason: stop_reason.clone(),
        started_at,
        mapping: report::MappingInfo {
            name: plan.name.clone(),
            path: plan.mapping.path.display().to_string(),
            sha256: plan.mapping.sha256.clone(),
            structure: plan.structure.as_ref().map(|s| s.name.clone()),
        },
        input: report::InputInfo {
            path: info.path.display().to_string(),
            sha256: Some(fingerprint.sha256),
            bytes: fingerprint.bytes,
            format: info.format.into(),
            encoding: info.encoding.into(),
            bom: info.bom,
            delimiter: char::from(info.delimiter).to_string(),
            delimiter_sniffed: info.delimiter_sniffed,
            header_row: plan.source.header_row,
            columns: info.header.clone(),
        },
        rows: report::RowCounts {
            read: tally.rows_read,
            skipped: tally.skipped,
            accepted: tally.accepted,
            rejected: tally.rejected,
        },
        conservation: report::Conservation {
            equation: tally.equation(),
            holds: tally.conserved(),
        },
        issues: report::IssueCounts::from_tally(&tally),
        outputs: [
            ("rejects", "rejects.csv"),
            ("errors", "errors.csv"),
            ("report", "report.json"),
        ]
        .into_iter()
        .map(|(k, f)| (k.to_string(), report_dir.join(f).display().to_string()))
        .collect(),
        durations_ms: report::Durations {
            plan: plan_ms,
            run: run_started.elapsed().as_millis() as u64,
            total: started.elapsed().as_millis() as u64,
        },
        resources: report::Resources::now(),
    };
    let report_dir = writer.commit(&report)?;
    let summary = report::render_summary(&report, &tally, &report_dir);
    let outcome = if stop_reason.is_some() {
        Outcome::Stopped
    } else if tally.rejected > 0 {
        Outcome::Rejected
    } else {
        Outcome::Clean
    };
    Ok(RunResult {
        outcome,
        report,
        report_dir,
        summary,
    })
}

fn read_all(mut source: CsvSource, tx: mpsc::SyncSender<Message>) {
    loop {
        match source.next_batch(CHUNK_ROWS) {
            Ok(Some(batch)) => {
                if tx.send(Message::Batch(batch)).is_err() {
                    return;
                }
            }
            Ok(None) => break,
            Err(e) => {
                let _ = tx.send(Message::Failed(e));
                return;
            }
        }
    }
    let _ = tx.send(match source.finish() {
        Ok(f) => Message::Done(f),
        Err(e) => Message::Failed(e),
    });
}

/// `out/<mapping file stem>`.
pub fn default_out_dir(mapping: &Path) -> PathBuf {
    let stem = mapping
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "rowferry".into());
    PathBuf::from("out").join(stem)
}

/// Every declared column must be in the header: all missing ones are reported at once, each
/// pointing at its field in the mapping.
fn check_columns(plan: &Plan, header: &[String], input: &Path) -> Result<(), RunError> {
    let Some(structure) = &plan.structure else {
        return Ok(());
    };
    let items: Vec<Diagnostic> = structure
        .fields
        .iter()
        .filter(|f| source::find_column(header, &f.column).is_none())
        .map(|f| {
            let d = Diagnostic::at(
                f.span.clone(),
                format!(
                    "column `{}` of field `{}` is not in the header of `{}`",
                    f.column,
                    f.name,
                    input.display()
                ),
            )
            .label("no such column");
            let suggested = d
                .clone()
                .suggest(&f.column, header.iter().map(String::as_str));
            if suggested.help.is_some() {
                suggested
            } else {
                d.help(format!(
                    "the header has: {}; set `column = \"…\"` on the field",
                    header.join(", ")
                ))
            }
        })
        .collect();
    if items.is_empty() {
        Ok(())
    } else {
        Err(RunError::MissingColumns(Box::new(
            plan.mapping.diagnostics(items),
        )))
    }
}

/// Whether a `[run]` threshold is exceeded. During the run the rate is checked only once
/// `min_rows` rows have been read; at the end it is always checked.
fn threshold(plan: &Plan, t: &report::Tally, at_end: bool) -> Option<String> {
    if let Some(max) = plan.run.max_errors
        && t.rejected > max
    {
        return Some(format!(
            "{} rejected rows exceed `max_errors = {max}` (stopped after row {})",
            t.rejected, t.last_row
        ));
    }
    if let Some(rate) = plan.run.max_error_rate {
        let data = t.rows_read - t.skipped;
        if data > 0 && (at_end || t.rows_read >= plan.run.min_rows) {
            let share = t.rejected as f64 / data as f64;
            if share > rate {
                return Some(format!(
                    "{:.1} % of rows rejected ({} of {data}) exceeds `max_error_rate = {rate}` (stopped after row {})",
                    share * 100.0,
                    t.rejected,
                    t.last_row
                ));
            }
        }
    }
    None
}

fn progress_bar(size: u64, quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(size), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} {bar:20} {bytes}/{total_bytes} ({bytes_per_sec}, {eta}) {wide_msg}",
    ) {
        bar.set_style(style);
    }
    bar
}
