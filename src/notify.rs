//! `[notify]`: the business team told how a run ended — one `POST` of JSON to a webhook
//! (Slack's incoming webhooks, or anything that takes the same body) once `run`, and when the
//! mapping asks `validate` too, has ended.
//!
//! What this module owns: reading the mapping's `[notify]` before the run ([`Notice::prepare`]),
//! deciding whether an ending posts (`on`), and the payload ([`payload`]): a Slack `text` — the
//! conservation equation, rows per target, the top issue codes, the outcome, where the report
//! is — and the same as structured fields under `rowferry`. Sending is
//! [`crate::deliver::notify`]'s.
//!
//! A notification never changes a run: it is sent after the outputs and the report are
//! committed, and a failure to send is a [`NotifyError`] the command line prints as a warning
//! on stderr — not in `report.json`, which is committed before the notification is sent. The
//! webhook's URL is its secret (Slack's path is a token): it is shown only by its origin.
//!
//! It sits beside the command line, after the pipeline: a run that fails with an error has no
//! result to hand over, only its error, and that ending must post too.
//!
//! Must not know: stages, formats, rows; the pipeline's insides (it reads what a run returns).

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::deliver::{self, DeliverError};
use crate::pipeline::{Job, Outcome, RunError, RunOptions, RunResult};
use crate::plan::{self, NotifyOn};
use crate::report::RunReport;

/// Issue codes named in a notification, the most frequent first.
const TOP_CODES: usize = 5;

/// The longest error sentence a notification quotes, in characters.
const MAX_REASON_CHARS: usize = 300;

/// The notification a run will send, read from its mapping before the run starts.
#[derive(Debug)]
pub struct Notice {
    settings: plan::Notify,
    command: &'static str,
    mapping_name: String,
}

/// A notification the webhook took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// The webhook's origin (`https://hooks.slack.com/…`): its path is never shown.
    pub shown: String,
    /// The webhook's `2xx` status.
    pub status: u16,
}

impl std::fmt::Display for Sent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "  notified {} ({})", self.shown, self.status)
    }
}

/// A notification that was not sent. It never fails the run: the command line prints it as a
/// warning and the exit code stays the run's.
#[derive(Debug, thiserror::Error)]
#[error(
    "the `[notify]` webhook was not told how the run ended: {reason}. The run's outputs and exit \
     code are unchanged"
)]
pub struct NotifyError {
    /// Why, on one line; the webhook shown only by its origin.
    reason: String,
}

/// How a run ended, as a notification tells it.
#[derive(Debug, Clone, Copy)]
pub enum Ending<'a> {
    /// The run completed, or a threshold stopped it, or it wrote no row: it has a report.
    Completed(&'a RunResult),
    /// The run failed with an error: nothing was written.
    Failed(&'a RunError),
}

impl<'a> Ending<'a> {
    pub fn of(result: &'a Result<RunResult, RunError>) -> Self {
        match result {
            Ok(done) => Ending::Completed(done),
            Err(e) => Ending::Failed(e),
        }
    }

    /// `clean`, `rejects`, `stopped`, `nothing-written` or `failed`.
    fn outcome(self) -> &'static str {
        match self {
            Ending::Completed(done) => match done.outcome {
                Outcome::Clean => "clean",
                Outcome::Rejected => "rejects",
                Outcome::Stopped => "stopped",
                Outcome::NothingWritten => "nothing-written",
            },
            Ending::Failed(_) => "failed",
        }
    }

    /// The run failed (an error, no row written) or a threshold stopped it.
    fn is_failure(self) -> bool {
        match self {
            Ending::Completed(done) => {
                matches!(done.outcome, Outcome::Stopped | Outcome::NothingWritten)
            }
            Ending::Failed(_) => true,
        }
    }

    fn rejected(self) -> u64 {
        match self {
            Ending::Completed(done) => done.report.rows.rejected,
            Ending::Failed(_) => 0,
        }
    }
}

impl Notice {
    /// The mapping's `[notify]`, when it posts after this `job`. The mapping is planned here
    /// as the run will plan it (same `--input`, `--set` and environment); a mapping that does
    /// not plan gives nothing — the run stops on it and says why, and without a plan there is
    /// no webhook to tell. Keys are never substituted, so a mapping whose text does not name
    /// `notify` (nor a `--set` key) has no `[notify]`, and is not planned twice.
    pub fn prepare(mapping: &Path, options: &RunOptions, job: Job) -> Option<Notice> {
        let text = std::fs::read_to_string(mapping).ok()?;
        let set_here = options
            .sets
            .iter()
            .any(|s| s.key.first().is_some_and(|k| k == "notify"));
        if !text.contains("notify") && !set_here {
            return None;
        }
        let plan = plan::parse(mapping, &text, options.input.as_deref(), &options.sets).ok()?;
        let settings = plan.notify?;
        let (posts, command) = match job {
            Job::Run => (settings.run, "run"),
            Job::Validate => (settings.validate, "validate"),
        };
        posts.then_some(Notice {
            settings,
            command,
            mapping_name: plan.name,
        })
    }

    /// Whether `on` asks for this ending.
    pub fn wants(&self, ending: Ending<'_>) -> bool {
        match self.settings.on {
            NotifyOn::Always => true,
            NotifyOn::Failure => ending.is_failure(),
            NotifyOn::Rejects => ending.is_failure() || ending.rejected() > 0,
        }
    }

    /// Posts how the run ended when `on` asks for it: `Ok(None)` when it does not.
    /// `exit_code` is the one the run exits with.
    pub fn send(
        &self,
        result: &Result<RunResult, RunError>,
        exit_code: u8,
    ) -> Result<Option<Sent>, NotifyError> {
        let ending = Ending::of(result);
        if !self.wants(ending) {
            return Ok(None);
        }
        let body = payload(ending, self.command, &self.mapping_name, exit_code);
        match deliver::notify(&self.settings.url, &body, self.settings.timeout) {
            Ok(status) => Ok(Some(Sent {
                shown: deliver::origin(&self.settings.url),
                status,
            })),
            Err(e) => Err(NotifyError { reason: reason(&e) }),
        }
    }
}

/// What `check` says of `[notify]` (it posts nothing): where to (the webhook's origin), when,
/// after which commands.
pub fn describe(settings: &plan::Notify) -> String {
    let commands = match (settings.run, settings.validate) {
        (true, true) => "`run` or `validate`",
        (false, true) => "`validate`",
        _ => "`run`",
    };
    let when = match settings.on {
        NotifyOn::Always => format!("after every {commands}"),
        NotifyOn::Failure => format!("when a {commands} fails or is stopped"),
        NotifyOn::Rejects => format!("when a {commands} fails, is stopped or rejects rows"),
    };
    let ms = settings.timeout.as_millis();
    let timeout = if ms.is_multiple_of(1000) {
        format!("{} s", ms / 1000)
    } else {
        format!("{ms} ms")
    };
    format!(
        "  notify     {} {when} (timeout {timeout})",
        deliver::origin(&settings.url)
    )
}

/// Why a notification failed, on one line, starting lower-case, without its final stop.
fn reason(e: &DeliverError) -> String {
    let text = match e {
        DeliverError::Endpoint { url, problem } => {
            format!("`{url}` cannot be used: {problem}; fix `[notify] url`")
        }
        other => other.to_string(),
    };
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let text = text.trim_end_matches('.');
    let mut chars = text.chars();
    match chars.next() {
        Some(first) if first.is_ascii_uppercase() && !text.starts_with("HTTP") => {
            format!("{}{}", first.to_ascii_lowercase(), chars.as_str())
        }
        _ => text.to_string(),
    }
}

/// The body posted: Slack's `text`, and the same as fields under `rowferry`.
pub fn payload(ending: Ending<'_>, command: &str, mapping_name: &str, exit_code: u8) -> Value {
    let outcome = ending.outcome();
    let mut fields = json!({
        "version": env!("CARGO_PKG_VERSION"),
        "command": command,
        "mapping": mapping_name,
        "outcome": outcome,
        "exit_code": exit_code,
        "reason": Value::Null,
        "rows": Value::Null,
        "conservation": Value::Null,
        "targets": [],
        "issues": [],
        "report": Value::Null,
    });
    let mut lines = Vec::new();
    match ending {
        Ending::Completed(done) => {
            let report = &done.report;
            let written = command == "run" && !ending.is_failure();
            let top = top_codes(report);
            let report_dir = shown_dir(&done.report_dir);
            lines.push(format!(
                "*rowferry {command}* `{}`: {}",
                escape(mapping_name),
                escape(&headline(done, written && !report.targets.is_empty()))
            ));
            lines.push(format!("Rows: {}", report.conservation.equation));
            if let Some(routing) = &report.conservation.routing {
                lines.push(format!("Routing: {routing}"));
            }
            if !report.targets.is_empty() {
                let list: Vec<String> = report
                    .targets
                    .iter()
                    .map(|t| format!("`{}` {} {}", escape(&t.name), t.rows, rows_word(t.rows)))
                    .collect();
                lines.push(format!(
                    "Targets{}: {}",
                    if written { "" } else { " (not written)" },
                    list.join(", ")
                ));
            }
            lines.push(issues_line(report, &top));
            lines.push(format!("Report: {}", escape(&report_dir)));
            let rows = &report.rows;
            fields["reason"] = report.stop_reason.clone().map_or(Value::Null, Value::from);
            fields["rows"] = json!({
                "read": rows.read,
                "skipped": rows.skipped,
                "accepted": rows.accepted,
                "rejected": rows.rejected,
                "routed": rows.routed,
                "unrouted": rows.unrouted,
            });
            fields["conservation"] = json!({
                "equation": report.conservation.equation,
                "routing": report.conservation.routing,
                "holds": report.conservation.holds,
            });
            fields["targets"] = report
                .targets
                .iter()
                .map(|t| json!({ "name": t.name, "rows": t.rows, "written": written }))
                .collect();
            fields["issues"] = top
                .iter()
                .map(|(code, errors, warnings)| {
                    json!({ "code": code, "errors": errors, "warnings": warnings })
                })
                .collect();
            fields["report"] = Value::from(report_dir);
        }
        Ending::Failed(e) => {
            let sentence = first_sentence(&e.to_string());
            lines.push(format!(
                "*rowferry {command}* `{}`: failed: {}",
                escape(mapping_name),
                escape(&sentence)
            ));
            lines.push(
                "Nothing was written: the previous targets and report are as they were.".into(),
            );
            fields["reason"] = Value::from(sentence);
        }
    }
    json!({ "text": lines.join("\n"), "rowferry": fields })
}

/// The first line of the text: how the run ended; `written`: targets were written.
fn headline(done: &RunResult, written: bool) -> String {
    let r = &done.report;
    match done.outcome {
        Outcome::Clean if written => "clean: every row accepted and written".into(),
        Outcome::Clean => "clean: every row accepted".into(),
        Outcome::Rejected => format!(
            "completed with rejects: {} {} rejected{}",
            r.rows.rejected,
            rows_word(r.rows.rejected),
            if written { ", the rest written" } else { "" }
        ),
        Outcome::Stopped => format!(
            "stopped by a threshold: {}; no target was written",
            r.stop_reason
                .as_deref()
                .unwrap_or("a threshold was exceeded")
        ),
        Outcome::NothingWritten => {
            "failed: no row was written to any target (rejected or unrouted rows); the previous \
             targets are as they were"
                .into()
        }
    }
}

/// `Issues: none`, or the top codes with their counts.
fn issues_line(report: &RunReport, top: &[(String, u64, u64)]) -> String {
    if top.is_empty() {
        return "Issues: none".into();
    }
    let list: Vec<String> = top
        .iter()
        .map(|(code, errors, warnings)| {
            let mut counts = Vec::new();
            if *errors > 0 {
                counts.push(format!("{errors} error{}", plural(*errors)));
            }
            if *warnings > 0 {
                counts.push(format!("{warnings} warning{}", plural(*warnings)));
            }
            format!("`{code}` {}", counts.join(" + "))
        })
        .collect();
    let more = report.issues.by_code.len().saturating_sub(top.len());
    format!(
        "Top issues: {}{}",
        list.join(", "),
        if more > 0 {
            format!(" and {more} more code{}", plural(more as u64))
        } else {
            String::new()
        }
    )
}

/// The most frequent issue codes: (code, errors, warnings), by count, then by name.
fn top_codes(report: &RunReport) -> Vec<(String, u64, u64)> {
    let mut codes: Vec<(String, u64, u64)> = report
        .issues
        .by_code
        .iter()
        .map(|(code, c)| (code.clone(), c.errors, c.warnings))
        .collect();
    codes.sort_by(|a, b| (b.1 + b.2).cmp(&(a.1 + a.2)).then_with(|| a.0.cmp(&b.0)));
    codes.truncate(TOP_CODES);
    codes
}

/// The report folder as a path a reader can open: absolute (the run's `--out` may be
/// relative to where it ran).
fn shown_dir(dir: &Path) -> String {
    std::path::absolute(dir)
        .unwrap_or_else(|_| PathBuf::from(dir))
        .display()
        .to_string()
}

/// The first sentence of an error's message: its first line without the `error:` prefix, up
/// to the first full stop outside backquotes, at most [`MAX_REASON_CHARS`] characters.
pub fn first_sentence(message: &str) -> String {
    let line = message
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    let line = line.strip_prefix("error:").map_or(line, str::trim_start);
    let mut quoted = false;
    let mut end = line.len();
    for (i, c) in line.char_indices() {
        match c {
            '`' => quoted = !quoted,
            '.' if !quoted
                && line[i + 1..].starts_with(' ')
                && !["e.g", "i.e", "etc"].iter().any(|a| line[..i].ends_with(a)) =>
            {
                end = i + 1;
                break;
            }
            _ => {}
        }
    }
    let sentence = &line[..end];
    if sentence.chars().count() <= MAX_REASON_CHARS {
        return sentence.to_string();
    }
    let cut: String = sentence.chars().take(MAX_REASON_CHARS - 1).collect();
    format!("{cut}…")
}

/// Text as Slack reads it: `&`, `<` and `>` are its markup.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn rows_word(n: u64) -> &'static str {
    if n == 1 { "row" } else { "rows" }
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_sentences() {
        assert_eq!(
            first_sentence("cannot read the input `a.csv`: No such file. Check the path."),
            "cannot read the input `a.csv`: No such file."
        );
        assert_eq!(
            first_sentence("error: column `x. y` is missing, e.g. in `when`. Add it"),
            "column `x. y` is missing, e.g. in `when`."
        );
        assert_eq!(
            first_sentence("\nerror: a mapping problem\n --> m.toml:1:1\n"),
            "a mapping problem"
        );
        let long = "x".repeat(400);
        assert_eq!(first_sentence(&long).chars().count(), MAX_REASON_CHARS);
    }

    #[test]
    fn slack_markup_is_escaped() {
        assert_eq!(escape("a <b> & c"), "a &lt;b&gt; &amp; c");
    }

    #[test]
    fn a_failure_reason_is_one_line_without_the_path() {
        let e = DeliverError::Status {
            url: deliver::origin("https://hooks.example/services/T/B/secret"),
            status: 500,
            excerpt: "oops".into(),
        };
        let r = reason(&e);
        assert_eq!(r, "`https://hooks.example/…` answered 500: oops");
        let e = DeliverError::Request {
            url: "http://127.0.0.1:9/…".into(),
            reason: "the connection\nwas refused".into(),
        };
        assert_eq!(
            reason(&e),
            "the request to `http://127.0.0.1:9/…` failed: the connection was refused"
        );
    }
}
