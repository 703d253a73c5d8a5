//! SQLite targets: a database file, one table per target. `table` (default: the target's
//! name), `mode = "insert" | "upsert"` and `key` (the output columns that identify a row; an
//! upsert needs one). Several targets may load tables of one database file; a database target's
//! path names one file, without `{field}` or `{batch}`.

use std::ops::Range;

use indexmap::IndexMap;
use toml::Spanned;

use super::super::Compiler;
use crate::plan::diagnostic::Diagnostic;
use crate::plan::raw::RawTarget;
use crate::plan::{Format, LoadMode, PathTemplate, TableLoad, Target};

impl Compiler {
    /// A database target's table; for another format, each database key given is a problem.
    pub(in crate::plan::compile) fn table_load(
        &mut self,
        t: &RawTarget,
        name: &str,
        format: Option<Format>,
        (template, path): (Option<&PathTemplate>, &Spanned<String>),
        columns: &IndexMap<String, Range<usize>>,
        out: &[Target],
    ) -> Option<TableLoad> {
        if format != Some(Format::Sqlite) {
            if format.is_some() {
                self.database_only(t);
            }
            return None;
        }
        if template.is_some_and(|tp| tp.fields().count() > 0 || tp.has_batch()) {
            self.err(
                Diagnostic::at(
                    path.span(),
                    format!("the path of SQLite target `{name}` names one database file: it cannot hold `{{…}}`"),
                )
                .label("one file per database")
                .help("split rows into tables instead: one target per table, each with its own `when`"),
            );
        }
        let table = self.table_name(t, name, path.span())?;
        if let Some(other) = out.iter().find(|o| {
            o.database_file() == Some(path.get_ref().as_str())
                && o.table
                    .as_ref()
                    .is_some_and(|l| l.table.eq_ignore_ascii_case(&table))
        }) {
            self.err(
                Diagnostic::at(
                    t.table.as_ref().map_or(path.span(), |s| s.span()),
                    format!(
                        "targets `{}` and `{name}` load the same table `{table}` of `{}`",
                        other.name,
                        path.get_ref()
                    ),
                )
                .label("table already loaded")
                .help("give each target a `table` of its own"),
            );
        }
        let mode = self.load_mode(t);
        let key = self.table_key(t, name, columns, t.passthrough.unwrap_or(false));
        let (mode, key) = (mode?, key?);
        if mode == LoadMode::Upsert && key.is_empty() {
            let span = t.mode.as_ref().map_or(path.span(), |m| m.span());
            self.err(
                Diagnostic::at(
                    span,
                    format!("`mode = \"upsert\"` of target `{name}` needs a `key`"),
                )
                .label("no key to match rows on")
                .help("add e.g. key = [\"sku\"]: a row whose key is already loaded replaces it"),
            );
            return None;
        }
        Some(TableLoad { table, mode, key })
    }

    /// The keys only database targets read, given to a target of another format.
    fn database_only(&mut self, t: &RawTarget) {
        let spans = [
            ("table", t.table.as_ref().map(|v| v.span())),
            ("mode", t.mode.as_ref().map(|v| v.span())),
            ("key", t.key.as_ref().map(|v| v.span())),
        ];
        self.refuse_keys(
            &spans,
            |key| format!("`{key}` applies to database targets only"),
            "not used by this format",
            Some("a database target's path ends in .db, .sqlite or .sqlite3, or it sets format = \"sqlite\""),
        );
    }

    /// `table`, by default the target's name (a problem with it is shown at `path`).
    fn table_name(&mut self, t: &RawTarget, name: &str, path: Range<usize>) -> Option<String> {
        let (table, span) = match &t.table {
            Some(s) => (s.get_ref().clone(), s.span()),
            None => (name.to_string(), path),
        };
        let problem = if table.trim().is_empty() {
            Some("it is blank")
        } else if table.to_ascii_lowercase().starts_with("sqlite_") {
            Some("names starting with `sqlite_` are SQLite's own")
        } else if table.contains('\0') {
            Some("it holds a NUL character")
        } else {
            None
        };
        let Some(reason) = problem else {
            return Some(table);
        };
        self.err(
            Diagnostic::at(span, format!("`{table}` cannot be a table name: {reason}"))
                .label("invalid table name")
                .help("write e.g. table = \"products\""),
        );
        None
    }

    /// `mode`: `insert` (default) or `upsert`.
    fn load_mode(&mut self, t: &RawTarget) -> Option<LoadMode> {
        let Some(m) = &t.mode else {
            return Some(LoadMode::Insert);
        };
        match m.get_ref().as_str() {
            "insert" => Some(LoadMode::Insert),
            "upsert" => Some(LoadMode::Upsert),
            other => {
                const MODES: [&str; 2] = ["insert", "upsert"];
                self.err(
                    Diagnostic::at(
                        m.span(),
                        format!("`mode` is `insert` or `upsert`, not `{other}`"),
                    )
                    .label("unknown mode")
                    .suggest(other, MODES),
                );
                None
            }
        }
    }

    /// `key`: output columns, each once. A passthrough target's columns are known only from the
    /// input's header: its key is checked when the run starts.
    fn table_key(
        &mut self,
        t: &RawTarget,
        name: &str,
        columns: &IndexMap<String, Range<usize>>,
        passthrough: bool,
    ) -> Option<Vec<String>> {
        let Some(k) = &t.key else {
            return Some(Vec::new());
        };
        let mut key: Vec<String> = Vec::new();
        let mut ok = true;
        for c in k.get_ref() {
            let column = c.get_ref();
            if key.contains(column) {
                self.err(
                    Diagnostic::at(c.span(), format!("`{column}` is listed twice"))
                        .label("listed twice"),
                );
                ok = false;
            } else if !passthrough && !columns.is_empty() && !columns.contains_key(column) {
                self.err(
                    Diagnostic::at(
                        c.span(),
                        format!("`{column}` is not a column of target `{name}`"),
                    )
                    .label("unknown column")
                    .suggest(column, columns.keys().map(String::as_str)),
                );
                ok = false;
            }
            key.push(column.clone());
        }
        if key.is_empty() {
            self.err(
                Diagnostic::at(k.span(), format!("`key` of target `{name}` is empty"))
                    .label("no column")
                    .help("list the columns that identify a row, e.g. key = [\"sku\"], or remove `key`"),
            );
            ok = false;
        }
        ok.then_some(key)
    }
}
