//! The target formats as the mapping names them (`mappings/README.md` §12): the format table
//! (`format`, or told from the path's extension), and one file per format with the keys only
//! it reads and their checks — `csv.rs` (the CSV/TSV dialect and encoding), `json.rs` (the
//! envelope, `group_by` and the nesting of column names), `xlsx.rs` (the sheet name),
//! `database.rs` (the table, `mode` and `key` of a SQLite or PostgreSQL target, the server's
//! `url`), and
//! `text.rs` (the text forms of dates and decimals, which XLSX writes as number formats). An
//! option given to a format that does not read it is a problem.
//!
//! A new target format is a name in [`Format`], a row in [`FORMATS`], its keys' checks in a
//! file here, and its writer in `src/sink/format/`.

mod csv;
mod database;
mod http;
mod json;
mod text;
mod xlsx;

use std::path::Path;

use toml::Spanned;

use super::Compiler;
use crate::plan::Format;
use crate::plan::diagnostic::Diagnostic;
use crate::plan::raw::RawTarget;

pub(super) use database::masked_url;
pub use http::DEFAULT_BATCH;
pub use xlsx::sheet_name_problem;

/// Every target format and its names, its own first: what `format` accepts and the path
/// extensions that choose it (in any case).
const FORMATS: [(Format, &[&str]); 7] = [
    (Format::Csv, &["csv"]),
    (Format::Tsv, &["tsv", "tab"]),
    (Format::Json, &["json"]),
    (Format::Ndjson, &["ndjson", "jsonl"]),
    (Format::Xlsx, &["xlsx"]),
    (Format::Sqlite, &["sqlite", "db", "sqlite3"]),
    (Format::Postgres, &["postgres", "postgresql"]),
];

impl Compiler {
    pub(super) fn format(&mut self, t: &RawTarget, path: &Spanned<String>) -> Option<Format> {
        let primary: Vec<&str> = FORMATS.iter().map(|(_, names)| names[0]).collect();
        if let Some(f) = &t.format {
            let found = format_named(f.get_ref());
            if found.is_none() {
                let d = Diagnostic::at(
                    f.span(),
                    format!("`{}` is not a target format", f.get_ref()),
                )
                .label("unknown format")
                .suggest(f.get_ref(), primary.iter().copied())
                .help_if_none(format!("the formats are: {}", primary.join(", ")));
                self.err(d);
            }
            return found;
        }
        let ext = Path::new(path.get_ref())
            .extension()
            .map(|e| e.to_string_lossy().into_owned())
            .unwrap_or_default();
        // A server's table has no path to tell it by.
        let found = format_named(&ext).filter(|f| *f != Format::Postgres);
        if found.is_none() {
            self.err(
                Diagnostic::at(
                    path.span(),
                    format!(
                        "cannot tell the format of `{}` from its extension",
                        path.get_ref()
                    ),
                )
                .label("unknown extension")
                .help(format!(
                    "end the path with {}, or set `format`",
                    // The last format, PostgreSQL, is a server: no file, no extension.
                    extensions(&primary[..primary.len() - 1])
                )),
            );
        }
        found
    }
}

/// The format a `format` value or a path extension names, in any case.
pub(in crate::plan::compile) fn format_named(name: &str) -> Option<Format> {
    let name = name.to_ascii_lowercase();
    FORMATS
        .iter()
        .find(|(_, names)| names.contains(&name.as_str()))
        .map(|(f, _)| *f)
}

/// `.csv, .tsv, .json, .ndjson or .xlsx`.
fn extensions(names: &[&str]) -> String {
    let dotted: Vec<String> = names.iter().map(|n| format!(".{n}")).collect();
    match dotted.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}
