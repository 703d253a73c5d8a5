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
//!
//! `execute` shows the run's flow; the threads and their channels are in `threads.rs`, the
//! stages a chunk goes through on this thread in `stages.rs`, the `[run]` thresholds in
//! `thresholds.rs` and the progress bar in `progress.rs`.

mod deliveries;
mod loading;
mod preview;
mod progress;
mod stages;
mod threads;
mod thresholds;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::commit::{Mode, PendingCommit, Staging, StagingError};
use crate::enrich::{EnrichError, Enricher};
use crate::load::{LoadError, Loader};
use crate::plan::{self, Binding, Diagnostics, Plan, PlanError, SetArg};
use crate::project::{self, Projector};
use crate::report::{self, ReportError, ReportWriter, RunParts, RunReport, Tally};
use crate::route::{RouteError, Router};
use crate::sink::{SinkError, TargetReport};
use crate::source::{self, ReadOptions, Source, SourceError, SourceInfo};
use crate::validate::{ValidateError, Validated, Validator};

use loading::Loading;
pub use preview::preview;
use progress::Progress;
use stages::Stages;
use threads::{InputRead, Upstream, Writers};

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
    Project(#[from] crate::project::ProjectError),
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error(
        "{0}; the run's outputs are committed and the batches not yet acknowledged stay pending in `_report/deliveries.csv`: fix this, then send them with `rowferry run MAPPING --resume`"
    )]
    Deliver(#[from] crate::deliver::DeliverError),
    #[error(
        "there is nothing to resume in `{}`: no run sent HTTP batches there (`_report/deliveries.csv` is missing); run the mapping without --resume",
        .0.display()
    )]
    NothingToResume(PathBuf),
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

/// What `run --resume` did.
#[derive(Debug)]
pub struct Resumed {
    /// The deliveries' lines of the summary.
    pub summary: String,
    /// Whether a batch was refused (its rows are `delivery-failed` rejects).
    pub refused: bool,
}

/// `rowferry run --resume`: sends the HTTP batches the last run into the output folder left
/// pending (a kill, an outage), under the folder's lock; reads nothing else.
pub fn resume(mapping: &Path, options: &RunOptions) -> Result<Resumed, RunError> {
    let plan = plan::load(mapping, options.input.as_deref(), &options.sets)?;
    let out_dir = (options.out.clone()).unwrap_or_else(|| default_out_dir(&plan.mapping.path));
    // The lock for the folder; a commit a kill interrupted is finished first.
    let staging =
        Staging::begin_resolving(&out_dir, Mode::Entries, &reads(&plan), &resolver(&plan))?;
    let listed = out_dir
        .join(report::REPORT_DIR)
        .join(report::deliveries::FILE);
    if !listed.exists() {
        return Err(RunError::NothingToResume(out_dir));
    }
    let sent = deliveries::send(&plan, &out_dir, options.quiet)?;
    drop(staging);
    Ok(Resumed {
        summary: sent.summary(&plan),
        refused: sent
            .batches
            .iter()
            .any(|b| b.status == report::deliveries::REFUSED),
    })
}

/// `rowferry run`: every stage, writing the targets and the report atomically.
pub fn run(mapping: &Path, options: &RunOptions) -> Result<RunResult, RunError> {
    execute(mapping, options, Job::Run)
}

fn execute(mapping: &Path, options: &RunOptions, job: Job) -> Result<RunResult, RunError> {
    let mut clock = Clock::start();
    let plan = plan::load(mapping, options.input.as_deref(), &options.sets)?;
    clock.planned();
    let read_options = ReadOptions {
        limit: options.limit,
    };
    let source = Source::open(&plan.source, &read_options)?;
    let info = source.info().clone();
    let (binding, enricher) = bind(&plan, &info)?;
    let router = Router::new(&plan);
    let out_dir = (options.out.clone()).unwrap_or_else(|| default_out_dir(&plan.mapping.path));
    let writes_targets = job == Job::Run && !plan.targets.is_empty();
    let staging = Staging::begin_resolving(
        &out_dir,
        staging_mode(writes_targets),
        &reads(&plan),
        &resolver(&plan),
    )?;
    let mut report = open_report(&plan, &binding, &info, staging.dir())?;
    let loader = match writes_targets {
        true => Loader::start(&plan, &binding, staging.dir())?,
        false => Loader::check(&plan, &binding).map(|()| None)?,
    };
    let writers = Writers::start(&plan, &binding, staging.dir(), writes_targets)?;
    let projector = Projector::new(&plan, &binding, !writes_targets);
    let stages = Stages::new(enricher, router, projector);
    let validator = Validator::new(plan.structure.clone(), &info.header, info.typed);
    let progress = Progress::new(&info, options.quiet, source.progress());
    clock.running();
    let mut upstream = Upstream::start(source, validator)?;

    let mut per_target = vec![0u64; plan.targets.len()];
    let (mut stop_reason, mut writer_stopped) = (None, false);
    // With tables to load, a chunk waits here for its databases' verdict while the next one is
    // computed (see `loading.rs`).
    let loading = loader.map(Loading::start).transpose()?;
    let mut waiting: VecDeque<(source::Chunk, Validated, stages::Passed)> = VecDeque::new();
    'chunks: loop {
        let incoming = upstream.next()?;
        let ended = incoming.is_none();
        if let Some((chunk, mut validated)) = incoming {
            let mut passed = stages.through(&chunk, &mut validated)?;
            if let Some(l) = &loading {
                l.submit(&mut passed.projected, (&chunk.rows, &chunk.lines))?;
            }
            waiting.push_back((chunk, validated, passed));
        }
        let lag = usize::from(loading.is_some() && !ended);
        while waiting.len() > lag {
            let Some((chunk, mut validated, mut passed)) = waiting.pop_front() else {
                break;
            };
            if let Some(l) = &loading {
                let done = l.receive()?;
                passed.projected = done.projected;
                refuse(done.refused, &chunk, &mut validated, &mut passed)?;
            }
            count_rows(&mut per_target, &passed.projected.rows);
            number_rows(&plan, &chunk.rows, &mut passed.projected);
            if !writers.hand(passed.projected) {
                writer_stopped = true; // the writer's error is reported when it is joined
                break 'chunks;
            }
            report.write_chunk(&chunk, &validated)?;
            report.tally.routed += passed.routed;
            report.tally.unrouted += passed.unrouted;
            progress.show(&report.tally);
            stop_reason = thresholds::exceeded(&plan, &report.tally, false);
            if stop_reason.is_some() {
                break 'chunks;
            }
        }
        if ended {
            break;
        }
    }
    let mut loader = loading.map(Loading::finish).transpose()?;
    let input_read = upstream.join(stop_reason.is_some() || writer_stopped)?;
    progress.finish();
    let written = writers.join(plan.targets.len(), staging.dir())?;
    if let Some(loader) = &mut loader {
        loader.finish_files()?;
    }
    let written = written.map(|files| loaded_too(files, loader.as_ref(), &plan));
    let stop_reason = stop_reason.or_else(|| thresholds::exceeded(&plan, &report.tally, true));
    let (sha256, bytes) = input_checksum(input_read, &info, progress.read())?;
    let tally = report.tally.clone();
    check_conservation(&tally)?;

    // A stopped run writes its report but no target: the previous targets stay as they were.
    // Nothing written is a failed run too: the previous targets stay as they were.
    let nothing_written =
        writes_targets && stop_reason.is_none() && per_target.iter().all(|n| *n == 0);
    let commits_targets = stop_reason.is_none() && !nothing_written;
    let (targets, staging) = settle(&plan, staging, written, &per_target, commits_targets)?;
    let report_dir = out_dir.join(report::REPORT_DIR);
    let run_report = RunReport::assemble(RunParts {
        command: job.command(),
        stop_reason,
        started_at: clock.started_at.clone(),
        plan: &plan,
        input: (&info, sha256, bytes),
        tally: &tally,
        lookups: stages.enricher.lookup_rows(),
        targets,
        report_dir: &report_dir,
        durations_ms: clock.durations(),
    });
    // HTTP targets' batches: listed (pending) in the report, sent once everything is committed.
    let batches = match commits_targets {
        true => deliveries::planned(&plan, &run_report.targets),
        false => Vec::new(),
    };
    if !batches.is_empty() {
        deliveries::stage(staging.dir(), &batches)?;
    }
    report.finish(&run_report)?;
    // The databases commit once the output folder's journal is written (see `commit_with`).
    match loader.filter(|_| commits_targets) {
        Some(mut loader) => {
            let pending = loader
                .transactions()?
                .into_iter()
                .map(|(server, transaction)| PendingCommit {
                    server,
                    transaction,
                })
                .collect();
            staging.commit_with(pending, || loader.commit().map_err(|e| e.to_string()))?
        }
        None => staging.commit()?,
    }
    let (mut run_report, mut tally, mut sent) = (run_report, tally, String::new());
    if !batches.is_empty() {
        let delivered = deliveries::send(&plan, &out_dir, options.quiet)?;
        sent = delivered.summary(&plan);
        run_report.delivered(&mut tally, &delivered.refused, delivered.examples);
    }
    let mut summary = report::render_summary(&run_report, &tally, &report_dir);
    // What was sent goes above where the report is.
    let at = summary
        .rfind("\n  report ")
        .map_or(summary.len(), |i| i + 1);
    summary.insert_str(at, &sent);
    Ok(RunResult {
        outcome: Outcome::of(&run_report, nothing_written, &tally),
        summary,
        report: run_report,
        report_dir,
    })
}

/// What the commit replaces: everything the previous runs wrote when this one writes targets,
/// only the report otherwise.
fn staging_mode(writes_targets: bool) -> Mode {
    if writes_targets {
        Mode::Replace
    } else {
        Mode::Entries
    }
}

/// Rejects the rows of the chunk its databases refused, like rows a projection check rejects:
/// `load-failed`, and written to no target.
fn refuse(
    refused: crate::load::Refused,
    chunk: &source::Chunk,
    validated: &mut Validated,
    passed: &mut stages::Passed,
) -> Result<(), RunError> {
    if refused.is_empty() {
        return Ok(());
    }
    let mut rejects = vec![false; chunk.rows.len()];
    for (pos, _) in &refused {
        rejects[*pos] = true;
    }
    let first_row = chunk.rows.first().copied().unwrap_or_default();
    let left_out = passed
        .projected
        .leave_out(&rejects, &mut validated.rejected, first_row)?;
    passed.routed -= left_out.rejected;
    validated
        .issues
        .extend(refused.into_iter().map(|(_, issue)| issue));
    validated.issues.sort_by_key(|i| i.row);
    Ok(())
}

/// Gives the rows of each target sent to an API their input row numbers (`rows`, the chunk's):
/// a refused request's rows are rejected by number after the commit.
fn number_rows(plan: &Plan, rows: &[u64], projected: &mut project::Projected) {
    for (ti, t) in plan.targets.iter().enumerate() {
        if t.delivery.is_none() {
            continue;
        }
        let positions = &projected.positions[ti];
        if let Some(taken) = projected.targets[ti].as_mut() {
            taken.input_rows = Some(match taken.at {
                // The columns hold every row of the chunk.
                Some(_) => rows.to_vec(),
                None => positions.iter().map(|&p| rows[p]).collect(),
            });
        }
    }
}

/// Each target's report: a file target's from its writer, a table's from the loader.
fn loaded_too(
    files: Vec<Option<TargetReport>>,
    loader: Option<&Loader>,
    plan: &Plan,
) -> Vec<TargetReport> {
    let loaded = loader.map(|l| l.loaded(plan)).unwrap_or_default();
    files
        .into_iter()
        .zip(&plan.targets)
        .enumerate()
        .filter_map(|(ti, (f, t))| {
            f.or_else(|| {
                let l = loaded.get(ti).cloned().flatten()?;
                Some(TargetReport {
                    name: t.name.clone(),
                    path: t.location(),
                    format: t.format_name().to_string(),
                    table: Some(l.table.clone()),
                    rows: l.rows,
                    refused: Some(l.refused),
                    files: l
                        .file
                        .map(|(rel, bytes, sha256)| crate::sink::FileReport {
                            path: crate::sink::partition::slash(&rel),
                            rows: l.rows,
                            records: l.rows,
                            bytes,
                            sha256,
                            sheets: Vec::new(),
                            table: Some(l.table),
                            input_rows: Vec::new(),
                        })
                        .into_iter()
                        .collect(),
                })
            })
        })
        .collect()
}

/// Adds the rows each target took from a chunk.
fn count_rows(per_target: &mut [u64], taken: &[u64]) {
    for (n, taken) in per_target.iter_mut().zip(taken) {
        *n += taken;
    }
}

/// The plan bound to the input's header, and its lookups loaded: a missing column or an
/// unknown name is a diagnostic against the mapping.
fn bind(plan: &Plan, info: &SourceInfo) -> Result<(Binding, Enricher), RunError> {
    let unbound = |items| RunError::Unbound(Box::new(plan.mapping.diagnostics(items)));
    let binding = plan::bind(plan, Some(&info.header)).map_err(unbound)?;
    let enricher = Enricher::new(plan, &binding).map_err(|e| match e {
        EnrichError::Columns(items) => unbound(items),
        other => other.into(),
    })?;
    Ok((binding, enricher))
}

/// How a commit a kill interrupted while its tables committed is told: the server of the
/// plan the journal names is asked whether the transaction committed.
fn resolver(plan: &Plan) -> impl Fn(&PendingCommit) -> Result<bool, String> + '_ {
    |p: &PendingCommit| {
        let server = plan
            .targets
            .iter()
            .filter_map(|t| t.server())
            .find(|s| s.shown == p.server)
            .ok_or_else(|| "the mapping no longer names that server".to_string())?;
        crate::load::committed(server, &p.transaction)
    }
}

/// What the run reads: a commit never replaces it.
fn reads(plan: &Plan) -> Vec<PathBuf> {
    std::iter::once(plan.source.path.clone())
        .chain(plan.lookups.iter().map(|l| l.source.path.clone()))
        .chain(std::iter::once(plan.mapping.path.clone()))
        .collect()
}

/// The report's files, started in `staging`, with the issues of the targets' headers: a column
/// name a spreadsheet would run as a formula, in a dry run too.
fn open_report(
    plan: &Plan,
    binding: &Binding,
    info: &SourceInfo,
    staging: &Path,
) -> Result<ReportWriter, ReportError> {
    let mut writer = ReportWriter::create(staging, &info.header, info.delimiter)?;
    writer.tally.routing = !plan.targets.is_empty();
    for t in &plan.targets {
        let (names, _) = project::output_columns(t, binding);
        let (_, risks) =
            project::csv_header(t, &names, plan.run.formula_guard, info.header_row.max(1));
        writer.write_issues(&risks)?;
    }
    Ok(writer)
}

/// The input's checksum and size. A run stopped early reads the rest of a file for its
/// checksum; a pipe cannot be read again, so its checksum is that of the bytes it read (none
/// when it cannot tell: then its size is the `bytes_read` counted).
fn input_checksum(
    read: InputRead,
    info: &SourceInfo,
    bytes_read: u64,
) -> Result<(Option<String>, u64), SourceError> {
    Ok(match read {
        InputRead::ToEnd(f) => (Some(f.sha256), f.bytes),
        InputRead::Stopped { pipe_read } if info.stream => match pipe_read {
            Some(f) => (Some(f.sha256), f.bytes),
            None => (None, bytes_read),
        },
        InputRead::Stopped { .. } => {
            let f = source::fingerprint(&info.path)?;
            (Some(f.sha256), f.bytes)
        }
    })
}

/// Conservation: every row read is skipped, accepted or rejected, and every accepted row
/// routed or not, checked before anything is committed.
fn check_conservation(tally: &Tally) -> Result<(), RunError> {
    if tally.conserved() {
        return Ok(());
    }
    Err(RunError::Conservation(format!(
        "{}{}",
        tally.equation(),
        tally
            .routing_equation()
            .map(|r| format!("; {r}"))
            .unwrap_or_default()
    )))
}

/// What the commit takes: the targets `written`, when the run commits them; otherwise each
/// target with the rows it took and no file, and, when the run wrote targets, a staging folder
/// that keeps only the report, so the commit replaces nothing else.
fn settle(
    plan: &Plan,
    staging: Staging,
    written: Option<Vec<TargetReport>>,
    per_target: &[u64],
    commits_targets: bool,
) -> Result<(Vec<TargetReport>, Staging), StagingError> {
    Ok(match written {
        Some(written) if commits_targets => (written, staging),
        Some(_) => (
            counted_targets(plan, per_target),
            staging.keep_only(report::REPORT_DIR, Mode::Entries)?,
        ),
        None => (counted_targets(plan, per_target), staging),
    })
}

/// Each target with the rows it took and no file: the targets of a run that commits none.
fn counted_targets(plan: &Plan, per_target: &[u64]) -> Vec<TargetReport> {
    plan.targets
        .iter()
        .zip(per_target)
        .map(|(t, n)| TargetReport {
            name: t.name.clone(),
            path: t.location(),
            format: t.format_name().to_string(),
            table: t.table.as_ref().map(|l| l.table.clone()),
            rows: *n,
            refused: None,
            files: Vec::new(),
        })
        .collect()
}

impl Outcome {
    fn of(report: &RunReport, nothing_written: bool, tally: &Tally) -> Self {
        if report.stop_reason.is_some() {
            Outcome::Stopped
        } else if nothing_written {
            Outcome::NothingWritten
        } else if tally.rejected > 0 {
            Outcome::Rejected
        } else {
            Outcome::Clean
        }
    }
}

impl Job {
    /// The command's name, as `report.json` gives it.
    fn command(self) -> &'static str {
        match self {
            Job::Run => "run",
            Job::Validate => "validate",
        }
    }
}

/// When the run started, and how long planning and running took.
struct Clock {
    started: Instant,
    started_at: String,
    plan_ms: u64,
    run_started: Instant,
}

impl Clock {
    fn start() -> Self {
        let started = Instant::now();
        Clock {
            started,
            started_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            plan_ms: 0,
            run_started: started,
        }
    }

    /// The plan is loaded.
    fn planned(&mut self) {
        self.plan_ms = self.started.elapsed().as_millis() as u64;
    }

    /// The first chunk is about to be read.
    fn running(&mut self) {
        self.run_started = Instant::now();
    }

    fn durations(&self) -> report::Durations {
        report::Durations {
            plan: self.plan_ms,
            run: self.run_started.elapsed().as_millis() as u64,
            total: self.started.elapsed().as_millis() as u64,
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
