//! Database targets: SQLite (a database file, one table per target) and PostgreSQL (a table on
//! a server). `table` (default: the target's name; `schema.table` on PostgreSQL), `mode =
//! "insert" | "upsert"` (and `"truncate"` on PostgreSQL) and `key` (the output columns that
//! identify a row; an upsert needs one). Several targets may load tables of one database file or
//! server; a SQLite target's path names one file, without `{field}` or `{batch}`. A PostgreSQL
//! target has no path: `url` names its server (its password is never shown: see
//! [`masked_url`]), and `create = true` creates a missing table.

use std::ops::Range;

use indexmap::IndexMap;
use toml::Spanned;

use super::super::Compiler;
use crate::plan::diagnostic::Diagnostic;
use crate::plan::raw::RawTarget;
use crate::plan::{Format, LoadMode, PathTemplate, Secret, Server, TableLoad, Target};

impl Compiler {
    /// A database target's table; for another format, each database key given is a problem.
    pub(in crate::plan::compile) fn table_load(
        &mut self,
        t: &RawTarget,
        (name, base): (&str, &std::path::Path),
        format: Option<Format>,
        (template, path): (Option<&PathTemplate>, &Spanned<String>),
        columns: &IndexMap<String, Range<usize>>,
        out: &[Target],
    ) -> Option<TableLoad> {
        if !format.is_some_and(Format::is_database) {
            if format.is_some() {
                self.database_only(t);
            }
            return None;
        }
        let postgres = format == Some(Format::Postgres);
        let server = match postgres {
            true => Some(self.server(t, name, path.span())?),
            false => {
                self.postgres_only(t);
                None
            }
        };
        let database = self.existing_database(t, name, postgres, base);
        if !postgres
            && database.is_none()
            && template.is_some_and(|tp| tp.fields().count() > 0 || tp.has_batch())
        {
            self.err(
                Diagnostic::at(
                    path.span(),
                    format!("the path of SQLite target `{name}` names one database file: it cannot hold `{{…}}`"),
                )
                .label("one file per database")
                .help("split rows into tables instead: one target per table, each with its own `when`"),
            );
        }
        let table = self.table_name(t, name, path.span(), postgres)?;
        let same_database = |o: &Target| match (&server, o.server()) {
            (Some(a), Some(b)) => a.url == b.url,
            (None, None) => match (&database, o.existing_database()) {
                (Some(a), Some(b)) => a == b,
                (None, None) => o.database_file() == Some(path.get_ref().as_str()),
                _ => false,
            },
            _ => false,
        };
        if let Some(other) = out.iter().find(|o| {
            same_database(o)
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
                        other.location()
                    ),
                )
                .label("table already loaded")
                .help("give each target a `table` of its own"),
            );
        }
        let mode = self.load_mode(t, postgres);
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
        let create = t.create.as_ref().is_some_and(|c| *c.get_ref());
        Some(TableLoad {
            table,
            mode,
            key,
            server,
            database,
            create,
        })
    }

    /// A SQLite target's `database`: an existing file outside the output folder, relative to
    /// the mapping (checked when the run starts: it must exist then).
    fn existing_database(
        &mut self,
        t: &RawTarget,
        name: &str,
        postgres: bool,
        base: &std::path::Path,
    ) -> Option<std::path::PathBuf> {
        let d = t.database.as_ref()?;
        if postgres {
            self.err(
                Diagnostic::at(d.span(), "`database` applies to SQLite targets")
                    .label("not used by PostgreSQL")
                    .help("a PostgreSQL target's database is in its `url`"),
            );
            return None;
        }
        if let Some(p) = &t.path {
            self.err(
                Diagnostic::at(p.span(), format!("target `{name}` has both `path` and `database`"))
                    .label("one or the other")
                    .help("`path` builds a database in the output folder; `database` writes an existing one in place"),
            );
            return None;
        }
        if d.get_ref().trim().is_empty() {
            self.err(Diagnostic::at(d.span(), "`database` cannot be empty").label("no file"));
            return None;
        }
        Some(base.join(d.get_ref()))
    }

    /// A PostgreSQL target's `url`: required, a connection URL. The value is never shown, in a
    /// problem neither: it usually holds a password.
    fn server(&mut self, t: &RawTarget, name: &str, span: Range<usize>) -> Option<Server> {
        if let Some(p) = &t.path {
            self.err(
                Diagnostic::at(
                    p.span(),
                    format!("PostgreSQL target `{name}` has no `path`"),
                )
                .label("not used by PostgreSQL")
                .help("its rows go to `table` on the server `url` names; remove `path`"),
            );
        }
        let Some(url) = &t.url else {
            self.err(
                Diagnostic::at(span, format!("PostgreSQL target `{name}` has no `url`"))
                    .label("no server")
                    .help("add url = \"${DATABASE_URL}\" and set DATABASE_URL=postgresql://user:password@host:5432/database"),
            );
            return None;
        };
        match masked_url(url.get_ref()) {
            Ok(shown) => Some(Server {
                url: Secret::new(url.get_ref().clone()),
                shown,
            }),
            Err(why) => {
                self.err(
                    Diagnostic::at(url.span(), format!("`url` of target `{name}` is not a PostgreSQL connection URL: {why}"))
                        .label("not a connection URL")
                        .help("write postgresql://user:password@host:5432/database (the password is never shown)"),
                );
                None
            }
        }
    }

    /// The keys only PostgreSQL targets read, given to a SQLite target.
    fn postgres_only(&mut self, t: &RawTarget) {
        // An existing SQLite database may have its tables created too.
        let create = t.create.as_ref().filter(|_| t.database.is_none());
        let spans = [
            ("url", t.url.as_ref().map(|v| v.span())),
            ("create", create.map(|v| v.span())),
        ];
        self.refuse_keys(
            &spans,
            |key| format!("`{key}` applies to PostgreSQL targets only"),
            "not used by SQLite",
            Some("a SQLite target creates its tables in its own file, at `path`"),
        );
    }

    /// The keys only database targets read, given to a target of another format.
    fn database_only(&mut self, t: &RawTarget) {
        let spans = [
            ("table", t.table.as_ref().map(|v| v.span())),
            ("mode", t.mode.as_ref().map(|v| v.span())),
            ("key", t.key.as_ref().map(|v| v.span())),
            // An HTTP target's `url` is its API's.
            (
                "url",
                t.url
                    .as_ref()
                    .filter(|_| !Self::is_http(t))
                    .map(|v| v.span()),
            ),
            ("create", t.create.as_ref().map(|v| v.span())),
            ("database", t.database.as_ref().map(|v| v.span())),
        ];
        self.refuse_keys(
            &spans,
            |key| format!("`{key}` applies to database targets only"),
            "not used by this format",
            Some("a database target's path ends in .db, .sqlite or .sqlite3, or it sets format = \"sqlite\" or \"postgres\""),
        );
    }

    /// `table`, by default the target's name (a problem with it is shown at `path`).
    fn table_name(
        &mut self,
        t: &RawTarget,
        name: &str,
        path: Range<usize>,
        postgres: bool,
    ) -> Option<String> {
        let (table, span) = match &t.table {
            Some(s) => (s.get_ref().clone(), s.span()),
            None => (name.to_string(), path),
        };
        let problem = if table.trim().is_empty() {
            Some("it is blank")
        } else if !postgres && table.to_ascii_lowercase().starts_with("sqlite_") {
            Some("names starting with `sqlite_` are SQLite's own")
        } else if table.contains('\0') {
            Some("it holds a NUL character")
        } else if postgres && table.split('.').count() > 2 {
            Some("a PostgreSQL table is `table` or `schema.table`")
        } else if postgres && table.split('.').any(|part| part.trim().is_empty()) {
            Some("a part of it is blank")
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

    /// `mode`: `insert` (default), `upsert`, or on PostgreSQL `truncate`.
    fn load_mode(&mut self, t: &RawTarget, postgres: bool) -> Option<LoadMode> {
        let Some(m) = &t.mode else {
            return Some(LoadMode::Insert);
        };
        match m.get_ref().as_str() {
            "insert" => Some(LoadMode::Insert),
            "upsert" => Some(LoadMode::Upsert),
            "truncate" if postgres => Some(LoadMode::Truncate),
            other => {
                let modes: &[&str] = match postgres {
                    true => &["insert", "truncate", "upsert"],
                    false => &["insert", "upsert"],
                };
                let message = match (postgres, other) {
                    (false, "truncate") => "a SQLite target's table is created by each run: `truncate` applies to PostgreSQL tables".to_string(),
                    (true, _) => format!("`mode` is `insert`, `truncate` or `upsert`, not `{other}`"),
                    (false, _) => format!("`mode` is `insert` or `upsert`, not `{other}`"),
                };
                self.err(
                    Diagnostic::at(m.span(), message)
                        .label("unknown mode")
                        .suggest(other, modes.iter().copied()),
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

/// `url` as it may be shown: `postgresql://user:***@host:port/database`, the password masked.
/// `Err` says what is wrong with it, without repeating it.
pub fn masked_url(url: &str) -> Result<String, String> {
    let config: postgres::Config = url.parse().map_err(|e: postgres::Error| {
        // The parser's words name an option, never its value.
        let text = e.to_string();
        match std::error::Error::source(&e) {
            Some(cause) => format!("{text}: {cause}"),
            None => text,
        }
    })?;
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .zip(config.get_ports().iter().chain(std::iter::repeat(&5432)))
        .map(|(h, port)| {
            let host = match h {
                postgres::config::Host::Tcp(h) if h.contains(':') => format!("[{h}]"),
                postgres::config::Host::Tcp(h) => h.clone(),
                postgres::config::Host::Unix(p) => p.display().to_string(),
            };
            format!("{host}:{port}")
        })
        .collect();
    if hosts.is_empty() {
        return Err("it names no host".into());
    }
    let user = config.get_user().unwrap_or_default();
    let password = if config.get_password().is_some() {
        ":***"
    } else {
        ""
    };
    let at = if user.is_empty() && password.is_empty() {
        String::new()
    } else {
        format!("{user}{password}@")
    };
    let database = config.get_dbname().unwrap_or(user);
    Ok(format!("postgresql://{at}{}/{database}", hosts.join(",")))
}

#[cfg(test)]
mod tests {
    use super::masked_url;

    #[test]
    fn a_url_is_shown_without_its_password() {
        let shown = masked_url("postgresql://app:s3cret@db.example.com:6543/shop").expect("a URL");
        assert_eq!(shown, "postgresql://app:***@db.example.com:6543/shop");
        assert!(!shown.contains("s3cret"));
        let kv = masked_url("host=127.0.0.1 port=5433 user=rowferry password=hunter2 dbname=x")
            .expect("a URL");
        assert_eq!(kv, "postgresql://rowferry:***@127.0.0.1:5433/x");
        assert_eq!(
            masked_url("postgres://127.0.0.1/postgres").expect("a URL"),
            "postgresql://127.0.0.1:5432/postgres"
        );
    }

    #[test]
    fn a_bad_url_is_explained_without_repeating_it() {
        let why = masked_url("postgresql://app:s3cret@host:notaport/db").expect_err("not a URL");
        assert!(!why.contains("s3cret"), "{why}");
        let why = masked_url("postgresql://app:s3cret@/db").expect_err("not a URL");
        assert!(!why.contains("s3cret"), "{why}");
    }
}
