//! `[targets.NAME]` (`mappings/README.md` §12), the part common to every format: the path
//! template and its overlaps with other targets, `batch_size`, `when`, `columns`. The format
//! table and what one format reads (CSV dialect, text forms, XLSX sheet, JSON envelope,
//! `group_by` and nesting) are in [`super::formats`].

use std::ops::Range;
use std::path::Path;

use indexmap::IndexMap;
use toml::Spanned;

use super::{Compiler, Names, parse_sql};
use crate::plan::diagnostic::Diagnostic;
use crate::plan::raw::{RawColumn, RawTarget};
use crate::plan::{ColumnFormat, Format, PathPart, PathTemplate, SqlExpr, Target};

/// A target's `columns`, compiled.
struct TargetColumns {
    columns: Vec<(String, SqlExpr)>,
    column_formats: Vec<(String, ColumnFormat)>,
    /// Where each column is written, for the checks of its name.
    spans: IndexMap<String, Range<usize>>,
}

impl Compiler {
    pub(super) fn targets(
        &mut self,
        raw: &IndexMap<String, Spanned<RawTarget>>,
        names: &mut Names,
        base: &Path,
    ) -> Vec<Target> {
        let mut out: Vec<Target> = Vec::new();
        for (name, t) in raw {
            let span = t.span();
            let t = t.get_ref();
            let before = self.errs.len();
            // A server's table has no path: its place in problems is the target's.
            let on_server = t
                .format
                .as_ref()
                .and_then(|f| super::formats::format_named(f.get_ref()))
                == Some(Format::Postgres);
            // An existing SQLite database outside the output folder has no path either.
            let in_database = t.database.is_some() && t.path.is_none();
            let no_path = Spanned::new(span.clone(), String::new());
            // An HTTP target's files are its requests' bodies, in the outbox by default.
            let on_api = Self::is_http(t);
            let body = if on_api { self.http_body(t) } else { None };
            let outbox = Spanned::new(span.clone(), Self::http_path(name, body));
            let path = match &t.path {
                _ if on_server || in_database => &no_path,
                Some(path) => path,
                None if on_api => &outbox,
                None => {
                    self.err(
                        Diagnostic::at(span.clone(), format!("target `{name}` has no `path`"))
                            .label("no path")
                            .help("add e.g. path = \"catalog/products.csv\" (relative to the output folder)"),
                    );
                    continue;
                }
            };
            let template = match on_server || in_database {
                true => Some(PathTemplate {
                    text: String::new(),
                    parts: Vec::new(),
                }),
                false => self.path_template(path, names),
            };
            let format = match (on_api, in_database) {
                (true, _) => body,
                (false, true) => t
                    .format
                    .is_none()
                    .then_some(Format::Sqlite)
                    .or_else(|| self.format(t, path)),
                (false, false) => self.format(t, path),
            };
            if !on_server && !in_database {
                self.target_overlap(&out, template.as_ref(), path, name, format);
            }
            let batch_size = match on_api {
                true => self.http_batch(t, template.as_ref(), path, name),
                false => self.batch_size(t, template.as_ref(), path),
            };
            let delivery = self.http(t, name, span.clone());
            let when = t
                .when
                .as_ref()
                .and_then(|w| self.sql(w, &format!("`when` of target `{name}`"), names));
            let TargetColumns {
                columns,
                column_formats,
                spans,
            } = self.target_columns(t, name, format, names);
            let group_by = self.group_by(t, name, format, names);
            if matches!(format, Some(Format::Json | Format::Ndjson)) {
                self.nesting(&spans, !group_by.is_empty());
            } else {
                self.no_arrays(&spans);
            }
            let csv = self.csv_options(t, format);
            let text = self.text_options(t, format);
            let sheet = self.target_sheet(t, name, format);
            let envelope = self.envelope(t, format);
            let table = self.table_load(
                t,
                (name, base),
                format,
                (template.as_ref(), path),
                &spans,
                &out,
            );
            if self.errs.len() > before {
                continue;
            }
            let (Some(path), Some(format), Some(csv)) = (template, format, csv) else {
                continue;
            };
            out.push(Target {
                name: name.clone(),
                path,
                format,
                when,
                passthrough: t.passthrough.unwrap_or(false) || t.columns.is_empty(),
                columns,
                batch_size,
                csv,
                text,
                column_formats,
                sheet,
                group_by,
                envelope,
                table,
                delivery,
                span,
            });
        }
        out
    }

    /// A target whose files could be another's (or a folder of another's) is a problem.
    fn target_overlap(
        &mut self,
        out: &[Target],
        template: Option<&PathTemplate>,
        path: &Spanned<String>,
        name: &str,
        format: Option<Format>,
    ) {
        // Several SQLite targets may load tables of one database file.
        let shared_database = |o: &Target| {
            format == Some(Format::Sqlite) && o.database_file() == Some(path.get_ref().as_str())
        };
        if let Some((other, other_path, how)) = template.and_then(|tp| {
            let files = out.iter().filter(|o| o.server().is_none());
            files.filter(|o| !shared_database(o)).find_map(|o| {
                crate::plan::paths::overlap(&o.path, tp)
                    .map(|how| (o.name.clone(), o.path.text.clone(), how))
            })
        }) {
            use crate::plan::paths::Overlap;
            let (msg, label) = match how {
                Overlap::SameFile if other_path == path.get_ref().as_str() => (
                    format!("targets `{other}` and `{name}` write the same path"),
                    "already written",
                ),
                Overlap::SameFile => (
                    format!(
                        "targets `{other}` (`{other_path}`) and `{name}` could write the same file: one would overwrite the other's rows"
                    ),
                    "could be the same file",
                ),
                Overlap::FileIsFolder => (
                    format!(
                        "a file of target `{other}` (`{other_path}`) could be a folder target `{name}` writes into"
                    ),
                    "folder could be a file",
                ),
                Overlap::FolderIsFile => (
                    format!(
                        "a file of target `{name}` could be a folder target `{other}` (`{other_path}`) writes into"
                    ),
                    "file could be a folder",
                ),
            };
            self.err(
                Diagnostic::at(path.span(), msg)
                    .label(label)
                    .help("give each target a folder or a file-name prefix of its own, e.g. \"stock/{warehouse}.csv\" and \"stock-summary/all.csv\""),
            );
        }
    }

    /// An HTTP target's `batch_size`: records per request, 1,000 by default; its path numbers
    /// its files with `{batch}`.
    fn http_batch(
        &mut self,
        t: &RawTarget,
        template: Option<&PathTemplate>,
        path: &Spanned<String>,
        name: &str,
    ) -> Option<u64> {
        if template.is_some_and(|tp| !tp.has_batch()) {
            self.err(
                Diagnostic::at(path.span(), format!("the path of HTTP target `{name}` must hold `{{batch}}`: each file is one request"))
                    .label("no {batch} in the path")
                    .help(format!("e.g. path = \"{}\", or leave `path` out", with_batch(path.get_ref()))),
            );
        }
        match &t.batch_size {
            Some(b) if *b.get_ref() >= 1 => Some(*b.get_ref() as u64),
            Some(b) => {
                self.err(
                    Diagnostic::at(b.span(), "`batch_size` must be 1 or more").label("too small"),
                );
                None
            }
            None => Some(super::formats::DEFAULT_BATCH),
        }
    }

    /// `batch_size`, which needs `{batch}` in the path (and the other way round).
    fn batch_size(
        &mut self,
        t: &RawTarget,
        template: Option<&PathTemplate>,
        path: &Spanned<String>,
    ) -> Option<u64> {
        let batch_size = match &t.batch_size {
            Some(b) if *b.get_ref() >= 1 => Some(*b.get_ref() as u64),
            Some(b) => {
                self.err(
                    Diagnostic::at(b.span(), "`batch_size` must be 1 or more").label("too small"),
                );
                None
            }
            None => None,
        };
        if let Some(tp) = template {
            match (&t.batch_size, tp.has_batch()) {
                (Some(b), false) => self.err(
                    Diagnostic::at(
                        b.span(),
                        "`batch_size` rolls the target into numbered files: put `{batch}` in its path",
                    )
                    .label("no {batch} in the path")
                    .help(format!("e.g. path = \"{}\"", with_batch(&tp.text))),
                ),
                (None, true) => self.err(
                    Diagnostic::at(path.span(), "`{batch}` numbers files rolled by `batch_size`, which is not set")
                        .label("no batch_size")
                        .help("add e.g. batch_size = 500"),
                ),
                _ => {}
            }
        }
        batch_size
    }

    /// `columns`: each output column's SQL expression and, for `{ value, … }`, its format.
    fn target_columns(
        &mut self,
        t: &RawTarget,
        name: &str,
        format: Option<Format>,
        names: &mut Names,
    ) -> TargetColumns {
        let mut columns = Vec::new();
        let mut column_formats = Vec::new();
        let mut spans: IndexMap<String, Range<usize>> = IndexMap::new();
        for (cname, raw) in &t.columns {
            if cname.is_empty() {
                self.err(Diagnostic::at(raw.span(), "a column name cannot be empty"));
                continue;
            }
            let sql = match raw.get_ref() {
                RawColumn::Expr(text) => Spanned::new(raw.span(), text.clone()),
                RawColumn::Spec(spec) => {
                    let Some(value) = &spec.value else {
                        self.err(
                            Diagnostic::at(
                                raw.span(),
                                format!("column `{cname}` of target `{name}` has no `value`"),
                            )
                            .label("no value")
                            .help(format!(
                                "write e.g. columns.{cname} = {{ value = \"{cname}\", format = \"%d/%m/%Y\" }}"
                            )),
                        );
                        continue;
                    };
                    let cf = self.column_format(spec, format);
                    if cf != ColumnFormat::default() {
                        column_formats.push((cname.clone(), cf));
                    }
                    value.clone()
                }
            };
            spans.insert(cname.clone(), sql.span());
            if let Some(e) = self.sql(&sql, &format!("column `{cname}` of target `{name}`"), names)
            {
                columns.push((cname.clone(), e));
            }
        }
        TargetColumns {
            columns,
            column_formats,
            spans,
        }
    }

    fn sql(&mut self, text: &Spanned<String>, what: &str, names: &mut Names) -> Option<SqlExpr> {
        match parse_sql(text.get_ref()) {
            Ok(expr) => {
                for root in expr.clone().meta().root_names() {
                    names.resolve(root.as_str(), text.span());
                }
                Some(SqlExpr {
                    text: text.get_ref().clone(),
                    expr,
                    span: text.span(),
                })
            }
            Err(e) => {
                self.err(
                    Diagnostic::at(text.span(), format!("{what} is not a valid SQL expression"))
                        .label("invalid SQL")
                        .help(e),
                );
                None
            }
        }
    }

    fn path_template(&mut self, path: &Spanned<String>, names: &mut Names) -> Option<PathTemplate> {
        let text = path.get_ref();
        let bad = |c: &mut Compiler, msg: String, help: &str| {
            c.err(
                Diagnostic::at(path.span(), msg)
                    .label("bad path")
                    .help(help.to_string()),
            );
            None
        };
        if text.is_empty() {
            return bad(
                self,
                "a target path cannot be empty".into(),
                "write e.g. \"catalog/products.csv\"",
            );
        }
        if Path::new(text).is_absolute() || text.starts_with('/') || text.starts_with('\\') {
            return bad(
                self,
                format!(
                    "target path `{text}` is absolute; targets are written under the output folder"
                ),
                "write a path relative to the output folder (set with --out)",
            );
        }
        let mut parts = Vec::new();
        let mut rest = text.as_str();
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(PathPart::Text(rest[..open].to_string()));
            }
            let Some(close) = rest[open..].find('}') else {
                return bad(
                    self,
                    format!("target path `{text}` has a `{{` without its `}}`"),
                    "write {field} or {batch}",
                );
            };
            let name = &rest[open + 1..open + close];
            if name.is_empty() {
                return bad(
                    self,
                    format!("target path `{text}` has an empty `{{}}`"),
                    "write {field} or {batch}",
                );
            }
            if name == "batch" {
                parts.push(PathPart::Batch);
            } else {
                names.resolve(name, path.span());
                parts.push(PathPart::Field(name.to_string()));
            }
            rest = &rest[open + close + 1..];
        }
        if rest.contains('}') {
            return bad(
                self,
                format!("target path `{text}` has a `}}` without its `{{`"),
                "write {field} or {batch}",
            );
        }
        if !rest.is_empty() {
            parts.push(PathPart::Text(rest.to_string()));
        }
        // Literal parts may hold folders, but never climb out of the output folder.
        let literal: String = parts
            .iter()
            .map(|p| match p {
                PathPart::Text(t) => t.as_str(),
                _ => "x",
            })
            .collect();
        if literal
            .split(['/', '\\'])
            .any(|c| c == ".." || c == "." || c.is_empty())
        {
            return bad(
                self,
                format!("target path `{text}` has an empty, `.` or `..` folder"),
                "targets stay under the output folder: write e.g. \"stock/{warehouse}.csv\"",
            );
        }
        let template = PathTemplate {
            text: text.clone(),
            parts,
        };
        if let Some(why) = crate::plan::paths::reserved(&template) {
            return bad(
                self,
                format!("target path `{text}` cannot be used: {why}"),
                "choose another path under the output folder",
            );
        }
        Some(template)
    }
}

/// `api/products.json` → `api/products-{batch}.json`.
fn with_batch(path: &str) -> String {
    match path.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() && !ext.contains('/') => {
            format!("{stem}-{{batch}}.{ext}")
        }
        _ => format!("{path}-{{batch}}"),
    }
}
