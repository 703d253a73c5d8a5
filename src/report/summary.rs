//! The terminal summary: the same counts as `report.json`, laid out for a person.

use std::fmt::Write;
use std::path::Path;

use super::{RunReport, Tally};
use crate::style::{Paint, paint};

/// Renders the summary printed on stdout at the end of a run.
/// Its marks and counts are coloured when stdout is (`--color`, `NO_COLOR`: [`crate::style`]).
pub fn render(report: &RunReport, tally: &Tally, report_dir: &Path) -> String {
    let on = crate::style::stdout();
    let mut s = String::new();
    let _ = writeln!(
        s,
        "rowferry {} · {} ({})",
        report.command, report.mapping.name, report.mapping.path
    );
    let i = &report.input;
    let _ = writeln!(s, "  input    {} · {}", i.path, input_dialect(i));
    if let Some(evidence) = &i.encoding_evidence {
        let _ = writeln!(s, "           encoding {}: {evidence}", i.encoding);
    }
    if let (Some(first), Some(last)) = (i.lines_above_header.first(), i.lines_above_header.last()) {
        const SHOWN: usize = 3;
        let texts: Vec<String> = i
            .lines_above_header
            .iter()
            .filter(|l| !l.text.trim().is_empty())
            .take(SHOWN)
            .map(|l| format!("`{}`", l.text.chars().take(60).collect::<String>()))
            .collect();
        let span = if first.line == last.line {
            format!("line {}", first.line)
        } else {
            format!("lines {}–{}", first.line, last.line)
        };
        let _ = writeln!(
            s,
            "           {span} above the header skipped{}{}",
            if texts.is_empty() { "" } else { ": " },
            texts.join(", ")
        );
    }
    if let Some(structure) = &report.mapping.structure {
        let _ = writeln!(s, "  checked  against structure `{structure}`");
    } else {
        let _ = writeln!(
            s,
            "  checked  no structure: every column read as optional text"
        );
    }
    let _ = writeln!(s);
    let mark = if report.conservation.holds {
        paint("✓ every row accounted for", Paint::Good, on)
    } else {
        paint("✗ ROWS UNACCOUNTED FOR", Paint::Bad, on)
    };
    let _ = writeln!(s, "  rows     {}  {mark}", report.conservation.equation);
    if let Some(routing) = &report.conservation.routing {
        let _ = writeln!(s, "           {routing}");
    }
    if tally.errors + tally.warnings == 0 {
        let _ = writeln!(s, "  issues   {}", paint("none", Paint::Good, on));
    } else {
        let errors = format!("{} error{}", tally.errors, plural(tally.errors));
        let warnings = format!("{} warning{}", tally.warnings, plural(tally.warnings));
        let _ = writeln!(
            s,
            "  issues   {}, {}",
            if tally.errors > 0 {
                paint(&errors, Paint::Bad, on)
            } else {
                errors
            },
            if tally.warnings > 0 {
                paint(&warnings, Paint::Warn, on)
            } else {
                warnings
            }
        );
        let _ = writeln!(s);
        let _ = writeln!(s, "  {:<24}{:>8}{:>10}", "by code", "errors", "warnings");
        for (code, (e, w)) in &tally.by_code {
            let _ = writeln!(s, "    {:<22}{:>8}{:>10}", code.as_str(), e, w);
        }
        let _ = writeln!(s);
        let _ = writeln!(s, "  by field");
        for (field, codes) in &tally.by_field {
            let list: Vec<String> = codes.iter().map(|(c, n)| format!("{c} {n}")).collect();
            let _ = writeln!(s, "    {:<22}{}", field, list.join(", "));
        }
        let _ = writeln!(s);
        let _ = writeln!(s, "  examples");
        let mut examples = tally.examples.clone();
        examples.sort_by_key(|e| (e.row, e.code));
        for e in examples.iter().take(12) {
            let field = if e.field.is_empty() {
                "-"
            } else {
                e.field.as_str()
            };
            let _ = writeln!(
                s,
                "    row {:<6} line {:<6} {:<16} {:<20} {}",
                e.row,
                e.line,
                field,
                e.code.as_str(),
                e.message
            );
        }
        let shown = examples.len().min(12) as u64;
        let issues = tally.errors + tally.warnings;
        if issues > shown {
            let _ = writeln!(
                s,
                "    … and {} more, every one in {}",
                issues - shown,
                report_dir.join("errors.csv").display()
            );
        }
    }
    let _ = writeln!(s);
    if !report.targets.is_empty() {
        let written = report.command == "run" && report.stop_reason.is_none();
        let _ = writeln!(
            s,
            "  {:<24}{:>10}{:>8}  path",
            if written {
                "targets"
            } else {
                "targets (not written)"
            },
            "rows",
            "files",
        );
        for t in &report.targets {
            let _ = writeln!(
                s,
                "    {:<22}{:>10}{:>8}  {}{}",
                t.name,
                t.rows,
                if written {
                    t.files.len().to_string()
                } else {
                    "-".into()
                },
                t.path,
                t.table
                    .as_ref()
                    .map(|table| format!(" · table {table}"))
                    .unwrap_or_default()
                    + &match t.refused {
                        Some(n) if n > 0 => format!(" · {n} refused (load-failed)"),
                        _ => String::new(),
                    }
            );
        }
        let _ = writeln!(s);
    }
    if let Some(reason) = &report.stop_reason {
        let _ = writeln!(s, "  stopped  {}", paint(reason, Paint::Bad, on));
    }
    let _ = writeln!(
        s,
        "  report   {}/  rejects.csv · errors.csv · report.json · report.html",
        report_dir.display()
    );
    s
}

/// `--json`: what `run` and `validate` print instead of the summary, for CI. `report` is
/// `report.json` whole; around it how the run ended (`outcome`: `clean`, `rejected`,
/// `stopped`, `nothing-written`), its `exit_code` and where the report folder is.
pub fn json(report: &RunReport, outcome: &str, exit_code: u8, report_dir: &Path) -> String {
    let value = serde_json::json!({
        "outcome": outcome,
        "exit_code": exit_code,
        "report_dir": report_dir.display().to_string(),
        "report": report,
    });
    let mut text = serde_json::to_string_pretty(&value)
        .unwrap_or_else(|e| format!("{{\"error\": \"the summary is not JSON: {e}\"}}"));
    text.push('\n');
    text
}

/// `--json` when the run stopped with an error: the error's plain text, exit code 2.
pub fn json_error(message: &str, exit_code: u8) -> String {
    let value = serde_json::json!({
        "outcome": "failed",
        "exit_code": exit_code,
        "error": message,
    });
    format!("{value}\n")
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// `csv, windows-1252 (detected), delimiter ';' (sniffed), header row 3 (detected)`.
fn input_dialect(i: &super::InputInfo) -> String {
    let detected = |yes: bool| if yes { " (detected)" } else { "" };
    let mut parts = vec![i.format.clone()];
    if let Some(sheet) = &i.sheet {
        parts.push(format!("sheet `{sheet}`"));
    } else {
        parts.push(format!(
            "{}{}{}",
            i.encoding,
            if i.bom { " with BOM" } else { "" },
            detected(i.encoding_detected)
        ));
    }
    if let Some(d) = &i.delimiter {
        let d = match d.as_str() {
            "\t" => "tab".to_string(),
            d => format!("'{d}'"),
        };
        let sniffed = if i.delimiter_sniffed {
            " (sniffed)"
        } else {
            ""
        };
        parts.push(format!("delimiter {d}{sniffed}"));
    }
    if i.has_header {
        parts.push(format!(
            "header row {}{}",
            i.header_row,
            detected(i.header_row_detected && i.header_row != 1)
        ));
    } else {
        parts.push("no header row".to_string());
    }
    parts.join(", ")
}
