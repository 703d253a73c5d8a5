//! `[lookups.NAME]` (`mappings/README.md` §10): reference tables read beside the input — their
//! file, key and reading options.

use std::path::Path;

use indexmap::IndexMap;
use toml::Spanned;

use super::Compiler;
use crate::plan::diagnostic::Diagnostic;
use crate::plan::raw::RawLookup;
use crate::plan::{DatabaseRead, Format, Lookup, SourcePlan};

impl Compiler {
    pub(super) fn lookups(
        &mut self,
        raw: &IndexMap<String, Spanned<RawLookup>>,
        base: &Path,
    ) -> Vec<Lookup> {
        let mut out = Vec::new();
        for (name, l) in raw {
            let span = l.span();
            let l = l.get_ref();
            let path = match &l.path {
                Some(p) => Some(base.join(p.get_ref())),
                None => {
                    self.err(
                        Diagnostic::at(span.clone(), format!("lookup `{name}` has no `path`"))
                            .label("no file")
                            .help("add e.g. path = \"../samples/shop/brands.csv\" (relative to the mapping file)"),
                    );
                    None
                }
            };
            let key = match &l.key {
                Some(k) => self.string_list(k, "key"),
                None => {
                    self.err(
                        Diagnostic::at(span.clone(), format!("lookup `{name}` has no `key`"))
                            .label("no key")
                            .help("name the column rows are matched on: key = \"name\", or several: key = [\"region\", \"sku\"]"),
                    );
                    None
                }
            };
            let delimiter = l
                .delimiter
                .as_ref()
                .and_then(|d| self.byte_char(d, "delimiter"));
            let encoding = l.encoding.as_ref().and_then(|e| self.encoding(e));
            let sheet = l.sheet.as_ref().and_then(|v| self.sheet(v));
            let range = l.range.as_ref().and_then(|r| self.range(r));
            let database = path.as_ref().and_then(|p| self.database_read(name, l, p));
            if let (Some(path), Some(key)) = (path, key) {
                // A lookup's header is its first row (of its range): no title-block detection.
                let header_row = Some(range.map_or(1, |r| u64::from(r.first_row)));
                out.push(Lookup {
                    name: name.clone(),
                    key,
                    ignore_case: l.ignore_case.unwrap_or(false),
                    trim: l.trim.unwrap_or(false),
                    source: SourcePlan {
                        delimiter,
                        encoding,
                        sheet,
                        range,
                        header_row,
                        header: Some(true),
                        ..SourcePlan::detect(path)
                    },
                    database,
                    span,
                });
            }
        }
        out
    }

    /// A lookup in a SQLite database (its path ends in .db, .sqlite or .sqlite3): its `table`
    /// or its `query`, one of them; the options of CSV and workbook lookups do not apply.
    fn database_read(&mut self, name: &str, l: &RawLookup, path: &Path) -> Option<DatabaseRead> {
        let is_database = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| super::formats::format_named(e) == Some(Format::Sqlite));
        let given = [
            ("table", l.table.as_ref().map(|v| v.span())),
            ("query", l.query.as_ref().map(|v| v.span())),
        ];
        if !is_database {
            self.refuse_keys(
                &given,
                |key| format!("`{key}` applies to lookups in a SQLite database"),
                "not a database",
                Some("a database lookup's path ends in .db, .sqlite or .sqlite3"),
            );
            return None;
        }
        let file_only = [
            ("delimiter", l.delimiter.as_ref().map(|v| v.span())),
            ("encoding", l.encoding.as_ref().map(|v| v.span())),
            ("sheet", l.sheet.as_ref().map(|v| v.span())),
            ("range", l.range.as_ref().map(|v| v.span())),
        ];
        self.refuse_keys(
            &file_only,
            |key| format!("`{key}` does not apply to a lookup in a SQLite database"),
            "not used by databases",
            None,
        );
        match (&l.table, &l.query) {
            (Some(t), None) if !t.get_ref().trim().is_empty() => {
                Some(DatabaseRead::Table(t.get_ref().clone()))
            }
            (None, Some(q)) if !q.get_ref().trim().is_empty() => {
                Some(DatabaseRead::Query(q.get_ref().clone()))
            }
            (Some(_), Some(q)) => {
                self.err(
                    Diagnostic::at(q.span(), format!("lookup `{name}` has both a `table` and a `query`"))
                        .label("one or the other")
                        .help("keep `table` to read a whole table, or `query` to read the rows of a SELECT"),
                );
                None
            }
            (t, q) => {
                let span = t
                    .as_ref()
                    .map(|t| t.span())
                    .or(q.as_ref().map(|q| q.span()))
                    .or(l.path.as_ref().map(|p| p.span()))
                    .unwrap_or_default();
                self.err(
                    Diagnostic::at(span, format!("lookup `{name}` reads a SQLite database: name its `table` or its `query`"))
                        .label("which rows?")
                        .help("add e.g. table = \"brands\", or query = \"SELECT name, id FROM brands WHERE active\""),
                );
                None
            }
        }
    }
}
