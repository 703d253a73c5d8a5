//! The command line: argument parsing, dispatch, and the mapping of outcomes to exit codes.
//!
//! Exit codes (README): `0` every row accepted, `1` the run completed but rows were rejected
//! (warnings alone do not count), `2` nothing was done (a mapping error, an unreadable input, a
//! threshold exceeded, an I/O failure). Data and summaries go to stdout, errors to stderr.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{FromArgMatches, Parser, Subcommand};

mod examples;
mod tools;

pub use examples::command;

use crate::notify::Notice;
use crate::pipeline::{self, Job, Outcome, RunOptions};
use crate::plan;
use crate::report;
use crate::style;

#[derive(Debug, Parser)]
#[command(
    name = "rowferry",
    version,
    about = "One-shot data migrations and CSV transformation from one declarative mapping file",
    long_about = None
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Colour the output: `auto` when writing to a terminal and `NO_COLOR` is unset or empty.
    #[arg(long, global = true, value_enum, value_name = "WHEN", default_value_t = style::ColorChoice::Auto)]
    pub color: style::ColorChoice,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read, validate, enrich and route every row, and write every target atomically.
    Run {
        /// The mapping file (TOML).
        mapping: PathBuf,
        /// Do everything but write targets: the same as `validate`.
        #[arg(long)]
        dry_run: bool,
        /// Send the HTTP batches a killed or interrupted run left pending, and nothing else
        /// (the input is read again only for the rows of a batch the API refuses).
        #[arg(long, conflicts_with_all = ["dry_run", "json"])]
        resume: bool,
        #[command(flatten)]
        args: RunArgs,
    },
    /// Check a mapping file alone: keys, names, types, patterns and SQL. Reads no data.
    Check {
        /// The mapping file (TOML).
        mapping: PathBuf,
        /// Override a mapping value, e.g. `--set lookups.brands.path=brands.csv` (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_set)]
        sets: Vec<plan::SetArg>,
    },
    /// Dry run: every stage of `run`, but only the report (`_report/`) is written.
    Validate {
        /// The mapping file (TOML).
        mapping: PathBuf,
        #[command(flatten)]
        args: RunArgs,
    },
    /// Write a mapping for an export: its dialect, one typed field per column, a target.
    ///
    /// Reads the whole file once, in bounded memory: each field gets the narrowest type every
    /// value fits, `required`, `unique` and `enum` where the values say so, and a comment with
    /// the evidence. The mapping passes `check` and `validate` as it is.
    Infer {
        /// The export: a CSV (any dialect and encoding) or a workbook.
        file: PathBuf,
        /// The worksheet to read (a workbook's first by default).
        #[arg(long)]
        sheet: Option<String>,
        /// Write the mapping to this file (refused if it exists, unless --force) instead of
        /// standard output.
        #[arg(long, value_name = "MAPPING")]
        out: Option<PathBuf>,
        /// Overwrite the --out file.
        #[arg(long)]
        force: bool,
        /// No progress bar.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Show each target's first rows, and the first rejects; writes nothing.
    ///
    /// What each target will receive, after validation, enrichment and routing, as aligned
    /// tables, with the counts so far and the first rejects with their reasons.
    Preview {
        /// The mapping file (TOML).
        mapping: PathBuf,
        /// Rows shown per target.
        #[arg(long, default_value_t = 10, value_name = "N")]
        rows: usize,
        #[command(flatten)]
        args: RunArgs,
    },
    /// Print the JSON Schema of the mapping format, for editors that check TOML (Taplo).
    Schema {
        /// Write it to this file instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Print a shell's completion script for rowferry (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Read this file instead of `[source] path` (`-` for standard input; a pipe or FIFO is
    /// read once, as it arrives; a workbook must be a file).
    #[arg(long, value_name = "FILE")]
    pub input: Option<PathBuf>,
    /// The output folder [default: out/<mapping file stem>].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Read only the first N data rows.
    #[arg(long, value_name = "N")]
    pub limit: Option<u64>,
    /// No progress bar and no summary.
    #[arg(long, short)]
    pub quiet: bool,
    /// Print the summary as JSON on stdout (for CI): `outcome`, `exit_code`, `report_dir`
    /// and `report`, the whole `report.json`; `{"outcome": "failed", "error": …}` when the run
    /// stops with an error. Printed with `--quiet` too.
    #[arg(long)]
    pub json: bool,
    /// Override a mapping value, e.g. `--set lookups.brands.path=brands.csv` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_set)]
    pub sets: Vec<plan::SetArg>,
}

fn parse_set(arg: &str) -> Result<plan::SetArg, String> {
    plan::overrides::parse_set(arg)
}

impl RunArgs {
    /// What the pipeline is asked (`--json` is the command line's own).
    fn options(&self) -> RunOptions {
        RunOptions {
            input: self.input.clone(),
            out: self.out.clone(),
            limit: self.limit,
            quiet: self.quiet,
            sets: self.sets.clone(),
        }
    }
}

pub const EXIT_OK: u8 = 0;
pub const EXIT_REJECTED: u8 = 1;
pub const EXIT_FAILED: u8 = 2;

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    // clap writes help and usage errors before `--color` is parsed: it is read ahead for them.
    let color = match examples::color_ahead(std::env::args_os()) {
        Some(style::ColorChoice::Always) => clap::ColorChoice::Always,
        Some(style::ColorChoice::Never) => clap::ColorChoice::Never,
        Some(style::ColorChoice::Auto) | None => clap::ColorChoice::Auto,
    };
    let parsed = examples::command()
        .color(color)
        .try_get_matches()
        .and_then(|matches| Cli::from_arg_matches(&matches));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_FAILED } else { EXIT_OK };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    style::set_choice(cli.color);
    ExitCode::from(run(cli))
}

fn run(cli: Cli) -> u8 {
    match cli.command {
        Command::Check { mapping, sets } => match plan::load(&mapping, None, &sets) {
            Ok(plan) => match plan::bind(&plan, None).and_then(|_| missing_lookups(&plan)) {
                Ok(()) => {
                    say(&format!("{}\n", describe(&plan)));
                    EXIT_OK
                }
                Err(items) => {
                    complain(&plan.mapping.diagnostics(items).render(style::stderr()));
                    EXIT_FAILED
                }
            },
            Err(e) => {
                complain(&plan_error_text(&e));
                EXIT_FAILED
            }
        },
        Command::Validate { mapping, args } => execute(&mapping, args, Job::Validate),
        Command::Infer {
            file,
            sheet,
            out,
            force,
            quiet,
        } => infer(&file, sheet.as_deref(), out.as_deref(), force, quiet),
        Command::Preview {
            mapping,
            rows,
            args,
        } => {
            let options = args.options();
            match pipeline::preview(&mapping, &options, rows) {
                Ok(text) => {
                    say(&text);
                    EXIT_OK
                }
                Err(e) => {
                    complain(&error_text(&e.to_string()));
                    EXIT_FAILED
                }
            }
        }
        Command::Schema { out } => tools::schema(out.as_deref()),
        Command::Completions { shell } => {
            say(&tools::completions(shell));
            EXIT_OK
        }
        Command::Run {
            mapping,
            dry_run,
            resume,
            args,
        } => match resume {
            true => resume_delivery(&mapping, args),
            false => execute(
                &mapping,
                args,
                if dry_run { Job::Validate } else { Job::Run },
            ),
        },
    }
}

fn execute(mapping: &std::path::Path, args: RunArgs, job: Job) -> u8 {
    let options = args.options();
    let notice = Notice::prepare(mapping, &options, job);
    let result = match job {
        Job::Run => pipeline::run(mapping, &options),
        Job::Validate => pipeline::validate(mapping, &options),
    };
    let code = exit_code(&result, options.quiet || args.json);
    if args.json {
        say(&json_summary(&result, code));
    }
    // After everything is committed and said: a notification never changes the exit code.
    match notice.map(|n| n.send(&result, code)) {
        // stdout holds only the JSON with `--json`.
        Some(Ok(Some(sent))) if args.json => complain(&sent.to_string()),
        Some(Ok(Some(sent))) if !options.quiet => say(&format!("{sent}\n")),
        Some(Err(e)) => complain(&format!("warning: {e}")),
        _ => {}
    }
    code
}

/// `--json`: the run's summary (or its error) as JSON.
fn json_summary(result: &Result<pipeline::RunResult, pipeline::RunError>, code: u8) -> String {
    match result {
        Ok(r) => {
            let outcome = match r.outcome {
                Outcome::Clean => "clean",
                Outcome::Rejected => "rejected",
                Outcome::Stopped => "stopped",
                Outcome::NothingWritten => "nothing-written",
            };
            report::json_summary(&r.report, outcome, code, &r.report_dir)
        }
        Err(e) => report::json_error_summary(&e.to_string(), code),
    }
}

/// Says how the run ended (the summary on stdout unless `quiet`, an error on stderr) and
/// returns its exit code.
fn exit_code(result: &Result<pipeline::RunResult, pipeline::RunError>, quiet: bool) -> u8 {
    match result {
        Ok(result) => {
            if !quiet {
                say(&result.summary);
            }
            match result.outcome {
                Outcome::Clean => EXIT_OK,
                Outcome::Rejected => EXIT_REJECTED,
                Outcome::NothingWritten => {
                    complain(
                        "error: no row was written to any target; the report says why (rejected or unrouted rows)",
                    );
                    EXIT_FAILED
                }
                Outcome::Stopped => {
                    complain(&format!(
                        "error: the run was stopped: {}; no target was written and the report covers the rows read until then",
                        result
                            .report
                            .stop_reason
                            .as_deref()
                            .unwrap_or("a threshold was exceeded")
                    ));
                    EXIT_FAILED
                }
            }
        }
        Err(e) => {
            complain(&run_error_text(e));
            EXIT_FAILED
        }
    }
}

/// `infer`: the mapping printed, or written to `out` (never over a file, unless `force`).
fn infer(
    file: &std::path::Path,
    sheet: Option<&str>,
    out: Option<&std::path::Path>,
    force: bool,
    quiet: bool,
) -> u8 {
    if let Some(out) = out
        && out.exists()
        && !force
    {
        complain(&format!(
            "error: `{}` exists; rowferry does not overwrite a file it was not asked to: choose another --out, or add --force",
            out.display()
        ));
        return EXIT_FAILED;
    }
    let dir = match out.and_then(|o| o.parent()) {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    // The mapping names the export relative to where it will be.
    if let Err(e) = std::fs::create_dir_all(&dir) {
        complain(&format!("error: cannot create `{}`: {e}", dir.display()));
        return EXIT_FAILED;
    }
    let mapping = match crate::infer::infer(file, sheet, &dir, quiet) {
        Ok(m) => m,
        Err(e) => {
            complain(&error_text(&e.to_string()));
            return EXIT_FAILED;
        }
    };
    match out {
        None => {
            say(&mapping);
            EXIT_OK
        }
        // Without --force, a file that appeared while the export was read is not clobbered
        // either: the file is created only if it does not exist.
        Some(out) => match write_new(out, &mapping, force) {
            Ok(()) => {
                complain(&format!("wrote {}", out.display()));
                EXIT_OK
            }
            Err(e) => {
                complain(&format!("error: cannot write `{}`: {e}", out.display()));
                EXIT_FAILED
            }
        },
    }
}

/// `text` written to `path`, created new unless `replace`.
fn write_new(path: &std::path::Path, text: &str, replace: bool) -> std::io::Result<()> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .create_new(!replace)
        .truncate(true)
        .open(path)?;
    file.write_all(text.as_bytes())
}

/// `run --resume`: the pending HTTP batches of the output folder sent, and nothing else.
fn resume_delivery(mapping: &std::path::Path, args: RunArgs) -> u8 {
    let options = args.options();
    match pipeline::resume(mapping, &options) {
        Ok(resumed) => {
            if !options.quiet {
                say(&resumed.summary);
            }
            if resumed.refused {
                EXIT_REJECTED
            } else {
                EXIT_OK
            }
        }
        Err(e) => {
            complain(&run_error_text(&e));
            EXIT_FAILED
        }
    }
}

/// Writes to stdout. A closed stdout (`rowferry run m.toml | head -1`) is not an error of the
/// run: the outputs are committed and the exit code still says how it went.
fn say(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// Writes a line to stderr; a closed stderr is ignored like a closed stdout.
fn complain(text: &str) {
    use std::io::Write;
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{text}");
}

/// Rendered diagnostics already start with `error`; plain errors get the prefix.
fn error_text(message: &str) -> String {
    if message.starts_with("error") {
        message.to_string()
    } else {
        format!(
            "{}: {message}",
            style::paint("error", style::Paint::Bad, style::stderr())
        )
    }
}

/// A mapping's problems rendered for stderr (coloured when it is: [`style`]).
fn plan_error_text(e: &plan::PlanError) -> String {
    match e {
        plan::PlanError::Invalid(d) => d.render(style::stderr()),
        other => error_text(&other.to_string()),
    }
}

fn run_error_text(e: &pipeline::RunError) -> String {
    match e {
        pipeline::RunError::Plan(e) => plan_error_text(e),
        pipeline::RunError::Unbound(d) => d.render(style::stderr()),
        other => error_text(&other.to_string()),
    }
}

/// A lookup whose file is missing makes a mapping that cannot run, though `check` reads no
/// data: say so where the lookup is declared. A lookup on a server is not checked: `check`
/// connects to nothing.
fn missing_lookups(plan: &plan::Plan) -> Result<(), Vec<plan::Diagnostic>> {
    let missing: Vec<plan::Diagnostic> = plan
        .lookups
        .iter()
        .filter(|l| !l.is_remote() && !l.source.path.exists())
        .map(|l| {
            plan::Diagnostic::at(
                l.span.clone(),
                format!(
                    "lookup `{}` reads `{}`, which does not exist",
                    l.name,
                    l.source.path.display()
                ),
            )
            .label("file not found")
            .help("a path in the mapping is relative to the mapping file; one given with --set to the working directory")
        })
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(missing)
    }
}

/// What `check` prints for a valid mapping.
fn describe(plan: &plan::Plan) -> String {
    let mut lines = vec![format!(
        "ok: mapping `{}` ({}) is valid",
        plan.name,
        plan.mapping.path.display()
    )];
    lines.push(format!("  source     {}", plan.source.path.display()));
    match &plan.structure {
        Some(s) => {
            let required = s.fields.iter().filter(|f| f.required.is_some()).count();
            lines.push(format!(
                "  structure  `{}`: {} field{} ({} required), {} check{}, {} unique key{}",
                s.name,
                s.fields.len(),
                if s.fields.len() == 1 { "" } else { "s" },
                required,
                s.checks.len(),
                if s.checks.len() == 1 { "" } else { "s" },
                s.unique.len(),
                if s.unique.len() == 1 { "" } else { "s" },
            ));
        }
        None => lines.push("  structure  none: every column is read as optional text".into()),
    }
    for l in &plan.lookups {
        lines.push(format!(
            "  lookup     `{}`: {} (key {})",
            l.name,
            l.location(),
            l.key.join(" + ")
        ));
    }
    for e in &plan.enrich {
        lines.push(format!(
            "  enrich     {} → {} from `{}`",
            e.matches.join(" + "),
            e.adds
                .iter()
                .map(|(f, _)| f.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            plan.lookups[e.lookup].name
        ));
    }
    for t in &plan.targets {
        lines.push(format!(
            "  target     `{}`: {} ({}){}{}{}",
            t.name,
            t.location(),
            t.format_name(),
            t.table
                .as_ref()
                .map(|l| format!(", table {}", l.table))
                .unwrap_or_default(),
            t.delivery
                .as_ref()
                .map(|h| format!(", files sent with {} to {}", h.method, h.shown))
                .unwrap_or_default(),
            t.when
                .as_ref()
                .map(|w| format!(" when {}", w.text))
                .unwrap_or_default()
        ));
    }
    if let Some(notify) = &plan.notify {
        lines.push(crate::notify::describe(notify));
    }
    if !plan.deferred.is_empty() {
        let names: Vec<String> = plan
            .deferred
            .iter()
            .map(|(n, _)| format!("`{n}`"))
            .collect();
        lines.push(format!(
            "  note       {} {} not declared: {} must be input column{}, checked when a run reads the header",
            names.join(", "),
            if names.len() == 1 { "is" } else { "are" },
            if names.len() == 1 { "it" } else { "they" },
            if names.len() == 1 { "" } else { "s" },
        ));
    }
    lines.join("\n")
}
