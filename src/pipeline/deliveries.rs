//! HTTP targets after the commit: their batch files, committed with the run's other outputs,
//! sent to each target's API by `crate::deliver`; what became of each batch written to
//! `_report/deliveries.csv`; and the rows of a batch still refused after its retries rejected
//! as `delivery-failed`, read again from the input so that they can be fixed and fed back like
//! any reject (`rejects.csv`, `errors.csv`, `report.json` amended).
//!
//! Nothing is sent before the run has passed its thresholds and committed its files: a run
//! stopped at row 900,000 sends nothing. The journal (`OUT/.rowferry-deliveries`) records each
//! acknowledged batch by its `Idempotency-Key` (derived from the target, the file and its
//! content), so `run --resume` after a kill or an outage sends exactly the batches still
//! `pending`, and a run that writes the same batches again sends none of them twice.

use std::collections::HashMap;
use std::path::Path;

use polars::prelude::DataFrame;

use crate::deliver::{self, Delivery, Endpoint, Journal, Method, Outgoing, Verdict};
use crate::issue::{Code, Issue, Severity};
use crate::plan::{Format, Http, Plan, REPORT_DIR};
use crate::report::deliveries::{self as lines, ACKNOWLEDGED, BatchLine, PENDING, REFUSED};
use crate::report::{ReportError, ReportWriter};
use crate::sink::TargetReport;
use crate::source::{ReadOptions, Source};
use crate::validate::Validated;

use super::RunError;

/// The journal of acknowledged batches, in the output folder (a name the protocol owns).
const JOURNAL: &str = ".rowferry-deliveries";

/// Issues of refused batches shown in the summary.
const EXAMPLES: usize = 12;

/// The batch files of the run's HTTP targets, every one pending.
pub(super) fn planned(plan: &Plan, targets: &[TargetReport]) -> Vec<BatchLine> {
    let mut out = Vec::new();
    for t in plan.targets.iter().filter(|t| t.delivery.is_some()) {
        let Some(report) = targets.iter().find(|r| r.name == t.name) else {
            continue;
        };
        for (k, f) in report.files.iter().enumerate() {
            // A grouped batch holds its groups' rows, group after group.
            let mut rows = f.input_rows.clone();
            rows.sort_unstable();
            out.push(BatchLine {
                target: t.name.clone(),
                batch: k as u64 + 1,
                file: f.path.clone(),
                rows: f.rows,
                first_row: rows.first().copied(),
                last_row: rows.last().copied(),
                row_ranges: lines::ranges(&rows),
                idempotency_key: deliver::idempotency_key(
                    &format!("{}\0{}", t.name, f.path),
                    f.sha256.as_bytes(),
                ),
                status: PENDING.into(),
                http_status: None,
                attempts: 0,
                milliseconds: 0,
                response_excerpt: String::new(),
            });
        }
    }
    out
}

/// Writes the pending batches into the staging folder's report: committed (and in the
/// manifest) with the batch files.
pub(super) fn stage(staging: &Path, batches: &[BatchLine]) -> Result<(), ReportError> {
    let dir = staging.join(REPORT_DIR);
    lines::write(&dir, &dir.join(".deliveries.csv.tmp"), batches)
}

/// What a delivery did.
pub struct Sent {
    /// Every batch, as `deliveries.csv` now says.
    pub batches: Vec<BatchLine>,
    /// Rows newly rejected as `delivery-failed`, per target.
    pub refused: Vec<(String, u64)>,
    /// The first of their issues, for the summary's examples.
    pub examples: Vec<Issue>,
}

impl Sent {
    /// The summary's lines: per target, its batches and what became of them.
    pub fn summary(&self, plan: &Plan) -> String {
        let mut s = String::new();
        for t in plan.targets.iter().filter(|t| t.delivery.is_some()) {
            let mine: Vec<&BatchLine> =
                self.batches.iter().filter(|b| b.target == t.name).collect();
            let count = |status: &str| mine.iter().filter(|b| b.status == status).count();
            let rows = |status: &str| -> u64 {
                mine.iter()
                    .filter(|b| b.status == status)
                    .map(|b| b.rows)
                    .sum()
            };
            let shown = t.delivery.as_ref().map_or("", |h| h.shown.as_str());
            s.push_str(&format!(
                "  sent     {:<14} {} batches to {shown}: {} acknowledged ({} rows)",
                t.name,
                mine.len(),
                count(ACKNOWLEDGED),
                rows(ACKNOWLEDGED)
            ));
            if count(REFUSED) > 0 {
                s.push_str(&format!(
                    ", {} refused ({} rows delivery-failed)",
                    count(REFUSED),
                    rows(REFUSED)
                ));
            }
            if count(PENDING) > 0 {
                s.push_str(&format!(", {} pending", count(PENDING)));
            }
            s.push('\n');
        }
        s
    }
}

/// Sends every batch of `out` still pending, records what became of each, and rejects the rows
/// of the batches refused. `progress` is told of each batch as it is done.
pub fn send(plan: &Plan, out: &Path, quiet: bool) -> Result<Sent, RunError> {
    let report_dir = out.join(REPORT_DIR);
    let mut batches = lines::read(&report_dir)?;
    let mut journal = Journal::open(&out.join(JOURNAL))?;
    let mut refused_now: Vec<usize> = Vec::new();
    for t in &plan.targets {
        let Some(http) = &t.delivery else { continue };
        let pending: Vec<usize> = (0..batches.len())
            .filter(|&i| batches[i].target == t.name && batches[i].status == PENDING)
            .collect();
        if pending.is_empty() {
            continue;
        }
        let outgoing = pending
            .iter()
            .map(|&i| Outgoing {
                id: batches[i].batch,
                key: batches[i].idempotency_key.clone(),
                body: out.join(&batches[i].file),
                rows: batches[i].rows,
            })
            .collect();
        let total = pending.len();
        let mut done = 0;
        let mut progress = |d: &Delivery| {
            done += 1;
            if !quiet {
                eprintln!(
                    "  {}  batch {} ({done} of {total}): {}",
                    t.name,
                    d.id,
                    words(d)
                );
            }
        };
        let results = deliver::deliver(
            &endpoint(http, t.format),
            outgoing,
            &mut journal,
            &mut progress,
        )?;
        for (&i, d) in pending.iter().zip(results) {
            let b = &mut batches[i];
            b.attempts = d.attempts;
            b.milliseconds = d.millis;
            b.response_excerpt = d.excerpt.clone();
            match &d.verdict {
                Verdict::Acknowledged { status } => {
                    b.status = ACKNOWLEDGED.into();
                    b.http_status = Some(*status);
                }
                Verdict::AlreadyAcknowledged => {
                    b.status = ACKNOWLEDGED.into();
                    b.http_status = journal.entry(&b.idempotency_key).map(|e| e.status);
                    b.response_excerpt = "acknowledged before: not sent again".into();
                }
                Verdict::Refused { status, reason } => {
                    b.status = REFUSED.into();
                    b.http_status = *status;
                    if b.response_excerpt.is_empty() {
                        b.response_excerpt = reason.clone();
                    }
                    refused_now.push(i);
                }
            }
        }
        lines::write(&report_dir, &lines::temporary(out, "deliveries"), &batches)?;
    }
    let mut refused: Vec<(String, u64)> = Vec::new();
    for &i in &refused_now {
        let b = &batches[i];
        match refused.iter_mut().find(|(name, _)| *name == b.target) {
            Some((_, n)) => *n += b.rows,
            None => refused.push((b.target.clone(), b.rows)),
        }
    }
    let examples = match refused_now.is_empty() {
        true => Vec::new(),
        false => reject(plan, out, &batches, &refused_now)?,
    };
    lines::amend_json(
        &report_dir,
        &lines::temporary(out, "report"),
        &lines::Amendment {
            refused: &refused,
            deliveries: section(plan, &batches),
        },
    )?;
    Ok(Sent {
        batches,
        refused,
        examples,
    })
}

/// A batch's outcome in a few words.
fn words(d: &Delivery) -> String {
    let attempts = match d.attempts {
        1 => "1 attempt".to_string(),
        n => format!("{n} attempts"),
    };
    match &d.verdict {
        Verdict::Acknowledged { status } => format!("{status} ({attempts}, {} ms)", d.millis),
        Verdict::AlreadyAcknowledged => "acknowledged before: not sent again".into(),
        Verdict::Refused { reason, .. } => format!("refused after {attempts}: {reason}"),
    }
}

/// How `http`'s batch files (of `format`) are sent.
fn endpoint(http: &Http, format: Format) -> Endpoint {
    let mut e = Endpoint::new(http.url.expose());
    e.method = match http.method.as_str() {
        "PUT" => Method::Put,
        "PATCH" => Method::Patch,
        _ => Method::Post,
    };
    e.headers = http
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), v.expose().to_string()))
        .collect();
    e.content_type = match format {
        Format::Ndjson => "application/x-ndjson".into(),
        _ => "application/json".into(),
    };
    e.timeout = http.timeout;
    e.max_retries = http.max_retries;
    e.rate_limit = http.rate_limit;
    e.concurrency = http.concurrency;
    e
}

/// `report.json`'s `deliveries`: per target, its URL (secrets masked) and its batches.
fn section(plan: &Plan, batches: &[BatchLine]) -> serde_json::Value {
    let targets: Vec<serde_json::Value> = plan
        .targets
        .iter()
        .filter_map(|t| {
            let http = t.delivery.as_ref()?;
            let mine: Vec<&BatchLine> = batches.iter().filter(|b| b.target == t.name).collect();
            let count = |s: &str| mine.iter().filter(|b| b.status == s).count();
            let rows =
                |s: &str| -> u64 { mine.iter().filter(|b| b.status == s).map(|b| b.rows).sum() };
            Some(serde_json::json!({
                "target": t.name,
                "url": http.shown,
                "method": http.method,
                "batches": mine.len(),
                "acknowledged": count(ACKNOWLEDGED),
                "refused": count(REFUSED),
                "pending": count(PENDING),
                "rows_delivered": rows(ACKNOWLEDGED),
                "rows_refused": rows(REFUSED),
                "retries": mine.iter().map(|b| b.attempts.saturating_sub(1) as u64).sum::<u64>(),
            }))
        })
        .collect();
    serde_json::Value::Array(targets)
}

/// Rejects the rows of the batches at `refused` as `delivery-failed`: the input is read again
/// for them, and they are appended to the report's `rejects.csv` and `errors.csv`. Returns the
/// first issues, as examples.
fn reject(
    plan: &Plan,
    out: &Path,
    batches: &[BatchLine],
    refused: &[usize],
) -> Result<Vec<Issue>, RunError> {
    let mut why: HashMap<u64, (String, String)> = HashMap::new();
    for &i in refused {
        let b = &batches[i];
        let status = b.http_status.map(|s| s.to_string()).unwrap_or_default();
        let url = plan
            .targets
            .iter()
            .find(|t| t.name == b.target)
            .and_then(|t| t.delivery.as_ref())
            .map_or("", |h| h.shown.as_str());
        let message = format!(
            "the API at {url} refused batch {} of target `{}` ({}) after {} attempt(s){}: {}",
            b.batch,
            b.target,
            b.file,
            b.attempts,
            match &b.http_status {
                Some(s) => format!(", status {s}"),
                None => String::new(),
            },
            b.response_excerpt
        );
        for row in lines::parse_ranges(&b.row_ranges).unwrap_or_default() {
            why.insert(row, (status.clone(), message.clone()));
        }
    }
    let mut source = Source::open(&plan.source, &ReadOptions { limit: None })?;
    let info = source.info().clone();
    let scratch = out.join(".rowferry-rejected");
    if scratch.exists() {
        let _ = std::fs::remove_dir_all(&scratch);
    }
    std::fs::create_dir_all(&scratch).map_err(|source| ReportError::Write {
        path: scratch.clone(),
        source,
    })?;
    let mut writer = ReportWriter::create(&scratch, &info.header, info.delimiter)?;
    let mut examples = Vec::new();
    while let Some(mut chunk) = source.next_chunk(crate::source::CHUNK_ROWS)? {
        chunk.rejects.clear();
        let mut rejected = vec![false; chunk.rows.len()];
        let mut issues = Vec::new();
        for (i, row) in chunk.rows.iter().enumerate() {
            let Some((status, message)) = why.get(row) else {
                continue;
            };
            rejected[i] = true;
            issues.push(Issue {
                row: *row,
                line: chunk.lines[i],
                code: Code::DeliveryFailed,
                severity: Severity::Error,
                field: String::new(),
                column: String::new(),
                value: status.clone(),
                message: message.clone(),
            });
        }
        if issues.is_empty() {
            continue;
        }
        let room = EXAMPLES.saturating_sub(examples.len());
        examples.extend(issues.iter().take(room).cloned());
        let validated = Validated {
            issues,
            rejected,
            typed: DataFrame::empty(),
        };
        writer.write_chunk(&chunk, &validated)?;
    }
    writer.close()?;
    lines::append(&scratch.join(REPORT_DIR), &out.join(REPORT_DIR))?;
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(examples)
}
