//! Drives the stages for one run: plan → source → validate → enrich → route → sink → report.
//!
//! The source runs on its own thread and hands chunks over a small bounded channel to the
//! validating thread, which hands each chunk with its verdict on to this one: reading the chunk
//! after next, validating the next and enriching, routing and reporting the current one overlap,
//! while memory stays bounded to a few chunks. Targets are written on writer threads of their
//! own: with more than one core the targets are shared among writers (each target belongs to
//! one writer, so its rows stay in input order), and a target whose columns are fields as they
//! stand is handed the whole chunk with the rows it takes, not a filtered copy. This module owns
//! the run's policy — thresholds, the conservation check, the commit of outputs, the exit
//! outcome — and nothing about formats or rules.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::commit::{Mode, Staging, StagingError};
use crate::enrich::{EnrichError, Enricher};
use crate::plan::{self, Diagnostics, Plan, PlanError, SetArg};
use crate::report::{self, ReportError, ReportWriter, RunReport};
use crate::route::{RouteError, Router};
use crate::sink::project::TargetRows;
use crate::sink::{self, Projected, Projector, SinkError, Sinks, TargetReport};
use crate::source::{self, Batch, CHUNK_ROWS, Fingerprint, ReadOptions, Source, SourceError};
use crate::validate::{ValidateError, Validated, Validator};

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
    /// `--set KEY=VALUE` overrides of mapping values.
    pub sets: Vec<SetArg>,
}

/// Why a run did not complete.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The mapping does not fit the input (a missing column, an unknown name).
    #[error("{0}")]
    Unbound(Box<Diagnostics>),
    #[error(transparent)]
    Validate(#[from] ValidateError),
    #[error(transparent)]
    Enrich(#[from] EnrichError),
    #[error(transparent)]
    Route(#[from] RouteError),
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error(transparent)]
    Staging(#[from] StagingError),
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error(
        "rows are unaccounted for: {0}. This is a bug in rowferry; nothing was written, please report it"
    )]
    Conservation(String),
    #[error(
        "rowferry failed while {stage} ({message}); nothing was written. This is a bug in rowferry or a library it uses: please report it with the mapping and, if you can, the rows"
    )]
    Internal {
        stage: &'static str,
        message: String,
    },
}

/// How a completed run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every row was accepted (and, for `run`, written or counted as unrouted).
    Clean,
    /// Some rows were rejected; the report says which.
    Rejected,
    /// A threshold stopped the run; the report covers the rows read until then.
    Stopped,
    /// `run` completed but wrote no row to any target.
    NothingWritten,
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

/// What the validating thread hands on: a chunk with its verdict, or the end of the input.
enum Checked {
    Batch(Batch, Validated),
    Done(Fingerprint),
    Failed(RunError),
}

/// Which job a run does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    /// Every stage, targets written.
    Run,
    /// Every stage, only the report written.
    Validate,
}

/// `rowferry validate`: every stage, writing only the report.
pub fn validate(mapping: &Path, options: &RunOptions) -> Result<RunResult, RunError> {
    execute(mapping, options, Job::Validate)
}

/// `rowferry run`: every stage, writing the targets and the report atomically.
pub fn run(mapping: &Path, options: &RunOptions) -> Result<RunResult, RunError> {
    execute(mapping, options, Job::Run)
}

fn execute(mapping: &Path, options: &RunOptions, job: Job) -> Result<RunResult, RunError> {
    let started = Instant::now();
    let started_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let plan = plan::load(mapping, options.input.as_deref(), &options.sets)?;
    let plan_ms = started.elapsed().as_millis() as u64;

    let source = Source::open(
        &plan.source,
        &ReadOptions {
            limit: options.limit,
        },
    )?;
    let info = source.info().clone();
    let binding = plan::bind(&plan, Some(&info.header))
        .map_err(|items| RunError::Unbound(Box::new(plan.mapping.diagnostics(items))))?;
    let enricher = Enricher::new(&plan, &binding).map_err(|e| match e {
        EnrichError::Columns(items) => RunError::Unbound(Box::new(plan.mapping.diagnostics(items))),
        other => other.into(),
    })?;
    let router = Router::new(&plan);

    let out_dir = options
        .out
        .clone()
        .unwrap_or_else(|| default_out_dir(&plan.mapping.path));
    let writes_targets = job == Job::Run && !plan.targets.is_empty();
    // What the run reads: a commit never replaces it.
    let reads: Vec<PathBuf> = std::iter::once(plan.source.path.clone())
        .chain(plan.lookups.iter().map(|l| l.source.path.clone()))
        .chain(std::iter::once(plan.mapping.path.clone()))
        .collect();
    let staging = Staging::begin(
        &out_dir,
        if writes_targets {
            Mode::Replace
        } else {
            Mode::Entries
        },
        &reads,
    )?;
    let mut writer = ReportWriter::create(staging.dir(), &info.header, info.delimiter)?;
    writer.tally.routing = !plan.targets.is_empty();
    // A column name a spreadsheet would run as a formula, in a dry run too.
    for t in &plan.targets {
        let (names, _) = crate::sink::project::output_columns(t, &binding);
        let (_, risks) = crate::sink::project::csv_header(
            t,
            &names,
            plan.run.formula_guard,
            info.header_row.max(1),
        );
        writer.write_issues(&risks)?;
    }
    // Targets are written on threads of their own, overlapping the next chunk's validation;
    // with more than one core, targets are shared among writers (see `sink::shares`).
    let writers = if writes_targets {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let mut writers = Vec::new();
        for share in sink::shares(&plan, &binding, cores.min(MAX_WRITERS)) {
            let mut sinks = Sinks::new(&plan, &binding, staging.dir(), &share)?;
            let (tx, rx) = mpsc::sync_channel::<Vec<Option<TargetRows>>>(2);
            let handle = std::thread::Builder::new()
                .name("rowferry-write".into())
                .spawn(move || -> Result<Vec<TargetReport>, SinkError> {
                    for rows in rx {
                        sinks.write(rows)?;
                    }
                    sinks.finish()
                })
                .map_err(|e| SinkError::Write {
                    path: staging.dir().to_path_buf(),
                    source: e,
                })?;
            writers.push(TargetWriter { share, tx, handle });
        }
        writers
    } else {
        Vec::new()
    };
    let projector = Projector::new(&plan, &binding, !writes_targets);
    let mut per_target = vec![0u64; plan.targets.len()];
    let validator = Validator::new(plan.structure.clone(), &info.header, info.typed);

    let progress = progress_bar(&info, options.quiet);
    let bytes = source.progress();
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
    // Chunks are validated on a thread of their own, so the next chunk's rules are evaluated
    // while this thread enriches, routes and reports the current one.
    let (checked_tx, checked_rx) = mpsc::sync_channel::<Checked>(1);
    let checker = std::thread::Builder::new()
        .name("rowferry-check".into())
        .spawn(move || check_all(validator, rx, checked_tx))
        .map_err(|e| SourceError::Read {
            path: info.path.clone(),
            line: 0,
            message: format!("cannot start the validating thread: {e}"),
        })?;

    let mut fingerprint = None;
    let mut stop_reason = None;
    let mut writer_stopped = false;
    for message in checked_rx.iter() {
        match message {
            Checked::Batch(batch, mut validated) => {
                let stages = crate::panics::contain(|| -> Result<_, RunError> {
                    let row = enricher.rows(&batch, &validated.typed, &mut validated.issues)?;
                    validated.reject_errored(&batch.rows);
                    let routed = router.route(
                        &row,
                        &batch,
                        &mut validated.rejected,
                        &mut validated.issues,
                    )?;
                    // Every value is checked against its target, in a dry run too.
                    let (projected, checked) = projector.project(
                        &row,
                        &routed.masks,
                        (&batch.rows, &batch.lines),
                        &mut validated.rejected,
                        &mut validated.issues,
                    )?;
                    Ok((routed, projected, checked))
                })
                .map_err(|message| RunError::Internal {
                    stage: "enriching, routing and projecting rows",
                    message,
                })?;
                let (routed, projected, checked) = stages?;
                // Row order, then stage order within a row.
                validated.issues.sort_by_key(|i| i.row);
                for (n, taken) in per_target.iter_mut().zip(&projected.rows) {
                    *n += taken;
                }
                if !writers.is_empty() && !hand_to_writers(&writers, projected) {
                    // A writer stopped on an error: it is reported below.
                    writer_stopped = true;
                    break;
                }
                writer.write_chunk(&batch, &validated)?;
                writer.tally.routed += routed.routed - checked.rejected;
                writer.tally.unrouted += routed.unrouted;
                let t = &writer.tally;
                progress.set_position(bytes.load(std::sync::atomic::Ordering::Relaxed));
                progress.set_message(format!("{} rows · {} rejected", t.rows_read, t.rejected));
                if let Some(reason) = threshold(&plan, t, false) {
                    stop_reason = Some(reason);
                    break;
                }
            }
            Checked::Done(f) => fingerprint = Some(f),
            Checked::Failed(e) => return Err(e),
        }
    }
    drop(checked_rx);
    // A stopped run leaves the other threads blocked on a closed channel: they end on their own.
    let checker_ended = checker.join();
    let reader_ended = reader.join();
    // The input is read to its end, a threshold stopped the run, or a writer failed (reported
    // below): anything else would be rows lost without a word.
    if fingerprint.is_none() && stop_reason.is_none() && !writer_stopped {
        let stage = if reader_ended.is_err() {
            "reading the input"
        } else if checker_ended.is_err() {
            "validating rows"
        } else {
            "handing rows between stages"
        };
        return Err(RunError::Internal {
            stage,
            message: "the stage stopped before the end of the input".into(),
        });
    }
    progress.finish_and_clear();
    let written = if writers.is_empty() {
        None
    } else {
        let mut reports: Vec<Option<TargetReport>> = vec![None; plan.targets.len()];
        let mut failed = None;
        for TargetWriter { share, tx, handle } in writers {
            drop(tx);
            let result = handle.join().unwrap_or_else(|_| {
                Err(SinkError::Write {
                    path: staging.dir().to_path_buf(),
                    source: std::io::Error::other("a writer thread panicked"),
                })
            });
            match result {
                Ok(written) => {
                    for (ti, report) in share.targets.into_iter().zip(written) {
                        reports[ti] = Some(report);
                    }
                }
                Err(e) => {
                    failed.get_or_insert(e);
                }
            }
        }
        if let Some(e) = failed {
            return Err(e.into());
        }
        sink::remove_spill(staging.dir())?;
        Some(reports.into_iter().flatten().collect::<Vec<_>>())
    };
    if stop_reason.is_none() {
        stop_reason = threshold(&plan, &writer.tally, true);
    }
    // A run stopped early reads the rest of a file for its checksum; a pipe cannot be read
    // again, so its checksum is that of the bytes it read.
    let (input_sha256, input_bytes) = match fingerprint {
        Some(f) => (Some(f.sha256), f.bytes),
        None if info.stream => match reader_ended.as_ref().ok().and_then(Option::as_ref) {
            Some(f) => (Some(f.sha256.clone()), f.bytes),
            None => (None, bytes.load(std::sync::atomic::Ordering::Relaxed)),
        },
        None => {
            let f = source::fingerprint(&info.path)?;
            (Some(f.sha256), f.bytes)
        }
    };
    let tally = writer.tally.clone();
    if !tally.conserved() {
        return Err(RunError::Conservation(format!(
            "{}{}",
            tally.equation(),
            tally
                .routing_equation()
                .map(|r| format!("; {r}"))
                .unwrap_or_default()
        )));
    }
    // A stopped run writes its report but no target: the previous targets stay as they were.
    // Nothing written is a failed run too: the previous targets stay as they were.
    let nothing_written =
        writes_targets && stop_reason.is_none() && per_target.iter().all(|n| *n == 0);
    let targets: Vec<TargetReport> = match (written, &stop_reason) {
        (Some(written), None) if !nothing_written => written,
        _ => plan
            .targets
            .iter()
            .zip(&per_target)
            .map(|(t, n)| TargetReport {
                name: t.name.clone(),
                path: t.path.text.clone(),
                format: t.format.name().to_string(),
                rows: *n,
                files: Vec::new(),
            })
            .collect(),
    };
    let staging = if (stop_reason.is_some() || nothing_written) && writes_targets {
        // Keep only the report, so the commit replaces nothing else.
        staging.keep_only(report::REPORT_DIR, Mode::Entries)?
    } else {
        staging
    };

    let report_dir = out_dir.join(report::REPORT_DIR);
    let command = match job {
        Job::Run => "run",
        Job::Validate => "validate",
    };
    let report = RunReport {
        tool: report::ToolInfo::this(),
        command: command.into(),
        status: if stop_reason.is_some() {
            "stopped"
        } else {
            "completed"
        }
        .into(),
        stop_reason: stop_reason.clone(),
        started_at,
        mapping: report::MappingInfo::of(&plan),
        input: report::InputInfo::of(&info, input_sha256, input_bytes),
        overrides: plan.overrides.clone(),
        rows: report::RowCounts::of(&tally),
        conservation: report::Conservation::of(&tally),
        issues: report::IssueCounts::from_tally(&tally),
        lookups: enricher
            .lookup_rows()
            .into_iter()
            .map(|(name, path, rows)| report::LookupInfo { name, path, rows })
            .collect(),
        targets,
        outputs: report::outputs(&report_dir),
        durations_ms: report::Durations {
            plan: plan_ms,
            run: run_started.elapsed().as_millis() as u64,
            total: started.elapsed().as_millis() as u64,
        },
        resources: report::Resources::now(),
    };
    writer.finish(&report)?;
    staging.commit()?;
    let summary = report::render_summary(&report, &tally, &report_dir);
    let outcome = if stop_reason.is_some() {
        Outcome::Stopped
    } else if nothing_written {
        Outcome::NothingWritten
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

/// Reads every chunk and hands it on. When the run stops first (the receiver is gone), a pipe,
/// which cannot be read again for its checksum, gives the checksum of what it read.
fn read_all(mut source: Source, tx: mpsc::SyncSender<Message>) -> Option<Fingerprint> {
    let path = source.info().path.clone();
    loop {
        let next = crate::panics::contain(|| source.next_batch(CHUNK_ROWS)).unwrap_or_else(|e| {
            Err(SourceError::Read {
                path: path.clone(),
                line: 0,
                message: format!("the reader failed on this input: {e}"),
            })
        });
        match next {
            Ok(Some(batch)) => {
                if tx.send(Message::Batch(batch)).is_err() {
                    return if source.info().stream {
                        source.read_so_far()
                    } else {
                        None
                    };
                }
            }
            Ok(None) => break,
            Err(e) => {
                let _ = tx.send(Message::Failed(e));
                return None;
            }
        }
    }
    let _ = tx.send(match source.finish() {
        Ok(f) => Message::Done(f),
        Err(e) => Message::Failed(e),
    });
    None
}

/// At most this many writer threads: beyond it, the targets' files are not what holds a run up.
const MAX_WRITERS: usize = 4;

/// A thread writing the files of its share of the targets.
struct TargetWriter {
    share: sink::Share,
    tx: mpsc::SyncSender<Vec<Option<TargetRows>>>,
    handle: std::thread::JoinHandle<Result<Vec<TargetReport>, SinkError>>,
}

/// Hands each writer the rows of the targets it owns. False when a writer has stopped (on an
/// error, reported when it is joined).
fn hand_to_writers(writers: &[TargetWriter], projected: Projected) -> bool {
    let mut rows = projected.targets;
    for w in writers {
        let mine = w
            .share
            .targets
            .iter()
            .map(|&ti| rows.get_mut(ti).and_then(Option::take))
            .collect();
        if w.tx.send(mine).is_err() {
            return false;
        }
    }
    true
}

/// Validates every chunk the reader sends, in order, and hands each on with its verdict.
fn check_all(mut validator: Validator, rx: mpsc::Receiver<Message>, tx: mpsc::SyncSender<Checked>) {
    for message in rx {
        let checked = match message {
            Message::Batch(batch) => match crate::panics::contain(|| validator.validate(&batch)) {
                Ok(Ok(validated)) => Checked::Batch(batch, validated),
                Ok(Err(e)) => Checked::Failed(e.into()),
                Err(message) => Checked::Failed(RunError::Internal {
                    stage: "validating rows",
                    message,
                }),
            },
            Message::Done(f) => Checked::Done(f),
            Message::Failed(e) => Checked::Failed(e.into()),
        };
        let last = !matches!(checked, Checked::Batch(..));
        if tx.send(checked).is_err() || last {
            return;
        }
    }
}

/// `out/<mapping file stem>`.
pub fn default_out_dir(mapping: &Path) -> PathBuf {
    let stem = mapping
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "rowferry".into());
    PathBuf::from("out").join(stem)
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

fn progress_bar(info: &source::SourceInfo, quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar =
        ProgressBar::with_draw_target(Some(info.progress_total), ProgressDrawTarget::stderr());
    let template = match info.progress_unit {
        source::ProgressUnit::Bytes => {
            "{spinner} {bar:20} {bytes}/{total_bytes} ({bytes_per_sec}, {eta}) {wide_msg}"
        }
        source::ProgressUnit::Rows => {
            "{spinner} {bar:20} {human_pos}/{human_len} rows ({per_sec}, {eta}) {wide_msg}"
        }
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar
}
