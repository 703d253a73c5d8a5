//! `rowferry preview MAPPING [--rows N]`: what each target will receive — its first rows as an
//! aligned table, after validation, enrichment, routing and the target's own checks — with the
//! counts so far and the first rejects with their reasons. The same stages as a run, reading
//! only as far as every target has its rows (or the input ends); nothing is written, no
//! database is connected to, nothing is sent.

use std::fmt::Write as _;
use std::path::Path;

use crate::issue::{Issue, Severity};
use crate::plan::{self, Plan};
use crate::project::cells::Cells;
use crate::project::{self, Projector, TargetRows};
use crate::route::Router;
use crate::source::{ReadOptions, Source};
use crate::validate::Validator;

use super::stages::Stages;
use super::threads::Upstream;
use super::{RunError, RunOptions, bind};

/// At most this many rows are read to fill the tables: a target that takes rows rarely shows
/// what it got by then.
const MAX_READ: u64 = 1_000_000;
/// A cell is cut past this many characters.
const CELL: usize = 32;
/// Rejects shown.
const REJECTS: usize = 10;

/// Each target's first `rows` rows, the counts so far and the first rejects, as text.
pub fn preview(mapping: &Path, options: &RunOptions, rows: usize) -> Result<String, RunError> {
    let plan = plan::load(mapping, options.input.as_deref(), &options.sets)?;
    let read_options = ReadOptions {
        limit: Some(options.limit.unwrap_or(MAX_READ)),
    };
    let source = Source::open(&plan.source, &read_options)?;
    let info = source.info().clone();
    let (binding, enricher) = bind(&plan, &info)?;
    let stages = Stages::new(
        enricher,
        Router::new(&plan),
        Projector::new(&plan, &binding, false),
    );
    let validator = Validator::new(plan.structure.clone(), &info.header, info.typed);
    let mut upstream = Upstream::start(source, validator)?;
    let names: Vec<Vec<String>> = plan
        .targets
        .iter()
        .map(|t| project::output_columns(t, &binding).0)
        .collect();
    let mut tables: Vec<Vec<Vec<String>>> = vec![Vec::new(); plan.targets.len()];
    let mut taken = vec![0u64; plan.targets.len()];
    let (mut read, mut rejected) = (0u64, 0u64);
    let mut rejects: Vec<Issue> = Vec::new();
    let mut stopped_early = false;
    while let Some((chunk, mut validated)) = upstream.next()? {
        let passed = stages.through(&chunk, &mut validated)?;
        read += chunk.rows_read();
        rejected +=
            validated.rejected.iter().filter(|r| **r).count() as u64 + chunk.rejects.len() as u64;
        let errors = validated
            .issues
            .iter()
            .chain(chunk.rejects.iter().map(|r| &r.issue))
            .filter(|i| i.severity == Severity::Error);
        rejects.extend(errors.take(REJECTS.saturating_sub(rejects.len())).cloned());
        for (ti, t) in passed.projected.targets.iter().enumerate() {
            taken[ti] += passed.projected.rows[ti];
            if let Some(t) = t {
                keep(&mut tables[ti], t, rows);
            }
        }
        if tables.iter().all(|t| t.len() >= rows) {
            stopped_early = true;
            break;
        }
    }
    let _ = upstream.join(true);
    Ok(render(
        &plan,
        (&names, &tables, &taken),
        (read, rejected, stopped_early),
        &rejects,
    ))
}

/// Adds `t`'s rows as text to `table`, up to `rows` rows.
fn keep(table: &mut Vec<Vec<String>>, t: &TargetRows, rows: usize) {
    let cells: Vec<Cells> = t.columns.iter().map(|c| Cells::new(&c.values)).collect();
    for i in t.rows() {
        if table.len() >= rows {
            return;
        }
        table.push(cells.iter().map(|c| c.string(i)).collect());
    }
}

/// Per target: its column names, its rows kept, and how many rows it took.
type Targets<'a> = (&'a [Vec<String>], &'a [Vec<Vec<String>>], &'a [u64]);

/// The preview as the terminal shows it.
fn render(
    plan: &Plan,
    (names, tables, taken): Targets<'_>,
    (read, rejected, stopped_early): (u64, u64, bool),
    rejects: &[Issue],
) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "rowferry preview · {} ({})",
        plan.name,
        plan.mapping.path.display()
    );
    let _ = writeln!(
        s,
        "  {read} rows read{}: {} accepted, {rejected} rejected",
        if stopped_early {
            " (enough for every target)"
        } else {
            ""
        },
        read.saturating_sub(rejected)
    );
    for (ti, t) in plan.targets.iter().enumerate() {
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "  {} → {} ({}): {} rows so far",
            t.name,
            t.location(),
            t.format_name(),
            taken[ti]
        );
        let _ = write!(s, "{}", table(&names[ti], &tables[ti]));
    }
    if !rejects.is_empty() {
        let _ = writeln!(s);
        let _ = writeln!(s, "  first rejects");
        for e in rejects {
            let field = if e.field.is_empty() { "-" } else { &e.field };
            let _ = writeln!(
                s,
                "    row {:<6} {:<16} {:<20} {}",
                e.row,
                field,
                e.code.as_str(),
                e.message
            );
        }
    }
    s
}

/// An aligned table of `rows` under `header`, each cell on one line and cut past [`CELL`]
/// characters.
fn table(header: &[String], rows: &[Vec<String>]) -> String {
    let shown = |v: &str| -> String {
        let one_line: String = v
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        match one_line.chars().count() > CELL {
            true => one_line.chars().take(CELL - 1).chain(['…']).collect(),
            false => one_line,
        }
    };
    let cells: Vec<Vec<String>> = std::iter::once(header.to_vec())
        .chain(rows.iter().cloned())
        .map(|r| r.iter().map(|v| shown(v)).collect())
        .collect();
    let mut widths = vec![0; header.len()];
    for r in &cells {
        for (w, v) in widths.iter_mut().zip(r) {
            *w = (*w).max(v.chars().count());
        }
    }
    let mut s = String::new();
    for (k, r) in cells.iter().enumerate() {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(v, w)| format!("{v}{}", " ".repeat(w - v.chars().count())))
            .collect();
        let _ = writeln!(s, "    {}", line.join(" │ ").trim_end());
        if k == 0 {
            let rule: Vec<String> = widths.iter().map(|w| "─".repeat(*w)).collect();
            let _ = writeln!(s, "    {}", rule.join("─┼─"));
        }
    }
    if rows.is_empty() {
        let _ = writeln!(s, "    (no row yet)");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::table;

    #[test]
    fn tables_are_aligned_and_long_values_cut() {
        let header = vec!["sku".to_string(), "title".to_string()];
        let rows = vec![
            vec!["A1".to_string(), "Short".to_string()],
            vec!["A22".to_string(), "x".repeat(40)],
        ];
        let t = table(&header, &rows);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "    sku │ title");
        assert!(lines[1].starts_with("    ────┼─"));
        assert_eq!(lines[2], "    A1  │ Short");
        assert!(lines[3].ends_with('…'));
        assert_eq!(lines[3].chars().count(), 4 + 3 + 3 + 32);
    }
}
