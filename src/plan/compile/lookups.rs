//! `[lookups.NAME]` (`mappings/README.md` §10): reference tables read beside the input — where
//! their rows come from, their key and their reading options.
//!
//! A lookup reads a file (`path`: CSV, a workbook or a SQLite database) or a server (`url`:
//! `postgresql://…` for PostgreSQL, `https://…` for an HTTP API). Each kind reads its own keys;
//! a key given to a kind that does not read it is a problem, never silently ignored. A server's
//! URL and an API's header values are secrets: no problem repeats them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use indexmap::IndexMap;
use toml::Spanned;

use super::Compiler;
use super::formats::masked_url;
use crate::plan::diagnostic::Diagnostic;
use crate::plan::raw::RawLookup;
use crate::plan::{ApiRead, DatabaseRead, Format, Lookup, LookupRead, Secret, Server, SourcePlan};

/// An API lookup's `timeout` when none is given (as an HTTP target's).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Headers rowferry sets itself, or that a `GET` without a body has no use for.
const OWN_HEADERS: [&str; 4] = [
    "content-type",
    "content-length",
    "idempotency-key",
    "transfer-encoding",
];

/// Where a lookup's rows come from, as `path` or `url` says.
enum Kind<'a> {
    /// A file, its path joined onto the mapping's folder.
    File(PathBuf, &'a Spanned<String>),
    Postgres(&'a Spanned<String>),
    Api(&'a Spanned<String>),
}

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
            let read = match self.lookup_kind(name, l, base, &span) {
                Some(Kind::File(path, p)) => self.file_read(name, l, path, p),
                Some(Kind::Postgres(url)) => self
                    .postgres_read(name, l, url)
                    .map(|read| (SourcePlan::detect(PathBuf::new()), read)),
                Some(Kind::Api(url)) => self
                    .api_read(name, l, url)
                    .map(|read| (SourcePlan::detect(PathBuf::new()), read)),
                None => None,
            };
            if let (Some((source, read)), Some(key)) = (read, key) {
                out.push(Lookup {
                    name: name.clone(),
                    key,
                    ignore_case: l.ignore_case.unwrap_or(false),
                    trim: l.trim.unwrap_or(false),
                    source,
                    read,
                    span,
                });
            }
        }
        out
    }

    /// `path` or `url`, one of them; a `url`'s scheme tells a PostgreSQL server from an API.
    fn lookup_kind<'a>(
        &mut self,
        name: &str,
        l: &'a RawLookup,
        base: &Path,
        span: &std::ops::Range<usize>,
    ) -> Option<Kind<'a>> {
        match (&l.path, &l.url) {
            (Some(p), None) => Some(Kind::File(base.join(p.get_ref()), p)),
            (None, Some(url)) => {
                let lower = url.get_ref().trim_start().to_ascii_lowercase();
                if lower.starts_with("postgresql://") || lower.starts_with("postgres://") {
                    Some(Kind::Postgres(url))
                } else if lower.starts_with("https://") || lower.starts_with("http://") {
                    Some(Kind::Api(url))
                } else {
                    self.err(
                        Diagnostic::at(
                            url.span(),
                            format!("`url` of lookup `{name}` names neither a PostgreSQL server nor an HTTP API"),
                        )
                        .label("unknown kind of server")
                        .help("start it with postgresql:// (a PostgreSQL server, with a `query`) or https:// (an API answering JSON records); a file is `path`"),
                    );
                    None
                }
            }
            (Some(_), Some(url)) => {
                self.err(
                    Diagnostic::at(
                        url.span(),
                        format!("lookup `{name}` has both a `path` and a `url`"),
                    )
                    .label("one or the other")
                    .help("a lookup reads a file (`path`) or a server (`url`): keep one"),
                );
                None
            }
            (None, None) => {
                self.err(
                    Diagnostic::at(span.clone(), format!("lookup `{name}` has no `path` nor `url`"))
                        .label("no rows")
                        .help("add e.g. path = \"../samples/shop/brands.csv\" (relative to the mapping file), or url = \"${DATABASE_URL}\" with a `query`, or url = \"https://…\" for an API"),
                );
                None
            }
        }
    }

    /// A CSV, workbook or SQLite lookup: how its file is read.
    fn file_read(
        &mut self,
        name: &str,
        l: &RawLookup,
        path: PathBuf,
        given: &Spanned<String>,
    ) -> Option<(SourcePlan, LookupRead)> {
        self.refuse_keys(
            &api_keys(l),
            |key| format!("`{key}` applies to lookups read from an API (`url = \"https://…\"`)"),
            "not used by files",
            None,
        );
        let is_database = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| super::formats::format_named(e) == Some(Format::Sqlite));
        let read = if is_database {
            self.refuse_keys(
                &file_keys(l),
                |key| format!("`{key}` does not apply to a lookup in a SQLite database"),
                "not used by databases",
                None,
            );
            LookupRead::Sqlite(self.database_read(name, l, "a SQLite database", given.span())?)
        } else {
            self.refuse_keys(
                &database_keys(l),
                |key| format!("`{key}` applies to lookups in a SQLite database or on a PostgreSQL server"),
                "not a database",
                Some("a SQLite lookup's path ends in .db, .sqlite or .sqlite3; a PostgreSQL lookup has a `url`"),
            );
            LookupRead::File
        };
        let delimiter = l
            .delimiter
            .as_ref()
            .and_then(|d| self.byte_char(d, "delimiter"));
        let encoding = l.encoding.as_ref().and_then(|e| self.encoding(e));
        let sheet = l.sheet.as_ref().and_then(|v| self.sheet(v));
        let range = l.range.as_ref().and_then(|r| self.range(r));
        // A lookup's header is its first row (of its range): no title-block detection.
        let header_row = Some(range.map_or(1, |r| u64::from(r.first_row)));
        let source = SourcePlan {
            delimiter,
            encoding,
            sheet,
            range,
            header_row,
            header: Some(true),
            ..SourcePlan::detect(path)
        };
        Some((source, read))
    }

    /// A lookup on a PostgreSQL server: its URL (a secret, shown without its password) and its
    /// `query` or `table`.
    fn postgres_read(
        &mut self,
        name: &str,
        l: &RawLookup,
        url: &Spanned<String>,
    ) -> Option<LookupRead> {
        let not_here =
            |key: &str| format!("`{key}` does not apply to a lookup on a PostgreSQL server");
        self.refuse_keys(
            &file_keys(l),
            not_here,
            "not used by PostgreSQL",
            Some("a PostgreSQL lookup's rows are those of its `query` (or `table`), every value as text"),
        );
        self.refuse_keys(
            &api_keys(l),
            not_here,
            "not used by PostgreSQL",
            Some("`records`, `headers` and `timeout` are for lookups read from an API (`url = \"https://…\"`)"),
        );
        let server = match masked_url(url.get_ref()) {
            Ok(shown) => Some(Server {
                url: Secret::new(url.get_ref().clone()),
                shown,
            }),
            Err(why) => {
                self.err(
                    Diagnostic::at(url.span(), format!("`url` of lookup `{name}` is not a PostgreSQL connection URL: {why}"))
                        .label("not a connection URL")
                        .help("write postgresql://user:password@host:5432/database (the password is never shown)"),
                );
                None
            }
        };
        let read = self.database_read(name, l, "PostgreSQL", url.span());
        if let Some(DatabaseRead::Table(table)) = &read
            && let Some(reason) = postgres_table_problem(table)
        {
            let span = l.table.as_ref().map_or(url.span(), |t| t.span());
            self.err(
                Diagnostic::at(span, format!("`{table}` cannot be a table name: {reason}"))
                    .label("invalid table name")
                    .help("write table = \"brands\" or table = \"reference.brands\" (names are quoted: write them as the database spells them)"),
            );
            return None;
        }
        Some(LookupRead::Postgres {
            server: server?,
            read: read?,
        })
    }

    /// A lookup read from an HTTP API: its URL, `records`, `headers` and `timeout`.
    fn api_read(&mut self, name: &str, l: &RawLookup, url: &Spanned<String>) -> Option<LookupRead> {
        self.refuse_keys(
            &file_keys(l),
            |key| format!("`{key}` does not apply to a lookup read from an API"),
            "not used by APIs",
            Some("an API's records are JSON: each record's fields are the lookup's columns"),
        );
        self.refuse_keys(
            &database_keys(l),
            |key| format!("`{key}` applies to lookups in a database, not to one read from an API"),
            "not used by APIs",
            Some("an API lookup's rows are the records its URL answers; `records` points at them in each page"),
        );
        let url_ok = match crate::deliver::check_url(url.get_ref()) {
            Ok(()) => true,
            Err(why) => {
                self.err(
                    Diagnostic::at(url.span(), format!("`url` of lookup `{name}` cannot be read: {why}"))
                        .label("not a usable URL")
                        .help("write e.g. url = \"https://api.example.com/v1/brands\" (percent-encode spaces)"),
                );
                false
            }
        };
        let records = match &l.records {
            Some(p) if !(p.get_ref().is_empty() || p.get_ref().starts_with('/')) => {
                self.err(
                    Diagnostic::at(
                        p.span(),
                        format!("`records` of lookup `{name}` is not a JSON pointer"),
                    )
                    .label("no leading `/`")
                    .help(format!(
                        "a JSON pointer starts with `/`: records = \"/{}\"",
                        p.get_ref().replace('.', "/")
                    )),
                );
                None
            }
            Some(p) => Some(Some(p.get_ref().clone())),
            None => Some(None),
        };
        let headers = self.api_headers(name, l);
        let timeout = match &l.timeout {
            Some(t) => self.duration(t),
            None => Some(DEFAULT_TIMEOUT),
        };
        if !url_ok {
            return None;
        }
        Some(LookupRead::Api(ApiRead {
            url: Secret::new(url.get_ref().clone()),
            shown: crate::deliver::mask_url(url.get_ref()),
            records: records?,
            headers: headers?,
            timeout: timeout?,
        }))
    }

    /// `headers`: valid names, each once and none of rowferry's own; values that can be sent.
    /// A value is never repeated in a problem: it is a secret.
    fn api_headers(&mut self, name: &str, l: &RawLookup) -> Option<Vec<(String, Secret)>> {
        let Some(headers) = &l.headers else {
            return Some(Vec::new());
        };
        let mut out: Vec<(String, Secret)> = Vec::new();
        let mut ok = true;
        for (header, value) in headers.get_ref() {
            let problem = if ureq::http::HeaderName::from_bytes(header.as_bytes()).is_err() {
                Some(format!(
                    "`{}` is not a header name (letters, digits and `-`)",
                    header.escape_debug()
                ))
            } else if OWN_HEADERS.contains(&header.to_ascii_lowercase().as_str()) {
                Some(format!(
                    "rowferry sends a lookup's request without a body: leave `{header}` out"
                ))
            } else if out.iter().any(|(h, _)| h.eq_ignore_ascii_case(header)) {
                Some(format!(
                    "the header `{header}` is given twice (header names ignore case)"
                ))
            } else if ureq::http::HeaderValue::from_str(value.get_ref()).is_err() {
                Some(format!(
                    "the value of the header `{header}` cannot be sent (a line break or another control character?); its value is not shown"
                ))
            } else {
                None
            };
            match problem {
                Some(problem) => {
                    ok = false;
                    self.err(
                        Diagnostic::at(value.span(), format!("lookup `{name}`: {problem}"))
                            .label("not a header")
                            .help(
                                "write e.g. headers = { Authorization = \"Bearer ${API_TOKEN}\" }",
                            ),
                    );
                }
                None => out.push((header.clone(), Secret::new(value.get_ref().clone()))),
            }
        }
        ok.then_some(out)
    }

    /// A database lookup's `table` or its `query`, one of them, not blank.
    fn database_read(
        &mut self,
        name: &str,
        l: &RawLookup,
        what: &str,
        fallback: std::ops::Range<usize>,
    ) -> Option<DatabaseRead> {
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
                    .unwrap_or(fallback);
                self.err(
                    Diagnostic::at(span, format!("lookup `{name}` reads {what}: name its `table` or its `query`"))
                        .label("which rows?")
                        .help("add e.g. query = \"SELECT name, id FROM brands WHERE active\", or table = \"brands\""),
                );
                None
            }
        }
    }
}

/// The keys only CSV and workbook lookups read, as given.
fn file_keys(l: &RawLookup) -> [(&'static str, Option<std::ops::Range<usize>>); 4] {
    [
        ("delimiter", l.delimiter.as_ref().map(|v| v.span())),
        ("encoding", l.encoding.as_ref().map(|v| v.span())),
        ("sheet", l.sheet.as_ref().map(|v| v.span())),
        ("range", l.range.as_ref().map(|v| v.span())),
    ]
}

/// The keys only database lookups (SQLite, PostgreSQL) read, as given.
fn database_keys(l: &RawLookup) -> [(&'static str, Option<std::ops::Range<usize>>); 2] {
    [
        ("table", l.table.as_ref().map(|v| v.span())),
        ("query", l.query.as_ref().map(|v| v.span())),
    ]
}

/// The keys only API lookups read, as given.
fn api_keys(l: &RawLookup) -> [(&'static str, Option<std::ops::Range<usize>>); 3] {
    [
        ("records", l.records.as_ref().map(|v| v.span())),
        ("headers", l.headers.as_ref().map(|v| v.span())),
        ("timeout", l.timeout.as_ref().map(|v| v.span())),
    ]
}

/// What is wrong with a PostgreSQL lookup's `table` (`table` or `schema.table`), if anything.
fn postgres_table_problem(table: &str) -> Option<&'static str> {
    if table.contains('\0') {
        Some("it holds a NUL character")
    } else if table.split('.').count() > 2 {
        Some("a PostgreSQL table is `table` or `schema.table`")
    } else if table.split('.').any(|part| part.trim().is_empty()) {
        Some("a part of it is blank")
    } else {
        None
    }
}

#[cfg(test)]
#[expect(
    clippy::unwrap_used,
    reason = "tests: an unexpected value fails the test"
)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use crate::plan::{DatabaseRead, LookupRead, Plan, PlanError};

    const HEAD: &str = "[source]\npath = \"data.csv\"\n\n";

    fn plan(lookup: &str) -> Result<Plan, String> {
        let text = format!("{HEAD}[lookups.ref]\nkey = \"id\"\n{lookup}\n");
        crate::plan::parse(Path::new("/m/mapping.toml"), &text, None, &[]).map_err(|e| match e {
            PlanError::Invalid(d) => d
                .items
                .iter()
                .map(|i| i.message.clone())
                .collect::<Vec<_>>()
                .join("\n"),
            other => other.to_string(),
        })
    }

    #[test]
    fn a_url_tells_a_postgresql_lookup_from_an_api_lookup() {
        let p = plan("url = \"postgresql://app:s3cret@db.example.com/shop\"\nquery = \"SELECT id, name FROM brands\"").unwrap();
        let LookupRead::Postgres { server, read } = &p.lookups[0].read else {
            panic!("{:?}", p.lookups[0].read)
        };
        assert_eq!(
            server.shown,
            "postgresql://app:***@db.example.com:5432/shop"
        );
        assert_eq!(
            read,
            &DatabaseRead::Query("SELECT id, name FROM brands".into())
        );
        assert!(p.lookups[0].is_remote());
        assert!(
            !format!("{:?}", p.lookups).contains("s3cret"),
            "Debug shows no password"
        );

        let p = plan(
            "url = \"https://api.example.com/brands\"\nrecords = \"/data\"\ntimeout = \"5s\"\nheaders = { Authorization = \"Bearer t0ken\" }",
        )
        .unwrap();
        let LookupRead::Api(api) = &p.lookups[0].read else {
            panic!("{:?}", p.lookups[0].read)
        };
        assert_eq!(api.records.as_deref(), Some("/data"));
        assert_eq!(api.timeout, Duration::from_secs(5));
        assert_eq!(api.headers[0].0, "Authorization");
        assert_eq!(api.headers[0].1.expose(), "Bearer t0ken");
        assert!(
            !format!("{:?}", p.lookups).contains("t0ken"),
            "Debug shows no header value"
        );

        let p = plan("url = \"https://ann:pw123@api.example.com/b?api_key=k3y&page=1\"").unwrap();
        assert_eq!(
            p.lookups[0].location(),
            "https://ann:***@api.example.com/b?api_key=***&page=1"
        );
        assert!(
            !format!("{:?}", p.lookups).contains("k3y"),
            "Debug shows no token"
        );

        let p = plan("url = \"http://127.0.0.1:8080/x\"").unwrap();
        let LookupRead::Api(api) = &p.lookups[0].read else {
            panic!()
        };
        assert_eq!(api.timeout, Duration::from_secs(30));
        assert_eq!(
            p.lookups[0].source.path,
            Path::new(""),
            "no file to protect or read"
        );
    }

    #[test]
    fn keys_of_another_kind_of_lookup_are_refused() {
        let pg = "url = \"postgresql://db/x\"\nquery = \"SELECT 1 AS id\"\n";
        let e = plan(&format!(
            "{pg}records = \"/data\"\nheaders = {{ A = \"b\" }}\ntimeout = \"1s\""
        ))
        .unwrap_err();
        for key in ["records", "headers", "timeout"] {
            assert!(
                e.contains(&format!(
                    "`{key}` does not apply to a lookup on a PostgreSQL server"
                )),
                "{e}"
            );
        }
        let e = plan(&format!("{pg}sheet = 1\ndelimiter = \";\"")).unwrap_err();
        assert!(
            e.contains("`sheet` does not apply to a lookup on a PostgreSQL server"),
            "{e}"
        );
        assert!(e.contains("`delimiter` does not apply"), "{e}");

        let api = "url = \"https://api.example.com/b\"\n";
        let e = plan(&format!("{api}query = \"SELECT 1\"\ntable = \"t\"")).unwrap_err();
        assert!(
            e.contains("`query` applies to lookups in a database, not to one read from an API"),
            "{e}"
        );
        assert!(
            e.contains("`table` applies to lookups in a database"),
            "{e}"
        );
        let e = plan(&format!("{api}encoding = \"latin1\"\nrange = \"A1:B2\"")).unwrap_err();
        assert!(
            e.contains("`encoding` does not apply to a lookup read from an API"),
            "{e}"
        );
        assert!(
            e.contains("`range` does not apply to a lookup read from an API"),
            "{e}"
        );

        let e = plan("path = \"ref.csv\"\nrecords = \"/a\"\nheaders = { A = \"b\" }").unwrap_err();
        assert!(
            e.contains("`records` applies to lookups read from an API"),
            "{e}"
        );
        assert!(
            e.contains("`headers` applies to lookups read from an API"),
            "{e}"
        );
        let e = plan("path = \"ref.db\"\ntable = \"t\"\ntimeout = \"1s\"").unwrap_err();
        assert!(
            e.contains("`timeout` applies to lookups read from an API"),
            "{e}"
        );
        let e = plan("path = \"ref.csv\"\nquery = \"SELECT 1\"").unwrap_err();
        assert!(
            e.contains("`query` applies to lookups in a SQLite database or on a PostgreSQL server"),
            "{e}"
        );
    }

    #[test]
    fn a_lookup_reads_a_file_or_a_server() {
        let e = plan("path = \"ref.csv\"\nurl = \"https://api.example.com/b\"").unwrap_err();
        assert!(
            e.contains("lookup `ref` has both a `path` and a `url`"),
            "{e}"
        );
        let e = plan("").unwrap_err();
        assert!(e.contains("lookup `ref` has no `path` nor `url`"), "{e}");
        let e = plan("url = \"ftp://u:pw123@host/x\"").unwrap_err();
        assert!(
            e.contains("names neither a PostgreSQL server nor an HTTP API"),
            "{e}"
        );
        assert!(!e.contains("pw123"), "{e}");
    }

    #[test]
    fn a_postgresql_lookup_needs_rows_and_a_usable_url() {
        let e = plan("url = \"postgresql://u:pw123@db/x\"").unwrap_err();
        assert!(
            e.contains("lookup `ref` reads PostgreSQL: name its `table` or its `query`"),
            "{e}"
        );
        let e =
            plan("url = \"postgresql://u:pw123@db:notaport/x\"\nquery = \"SELECT 1\"").unwrap_err();
        assert!(e.contains("is not a PostgreSQL connection URL"), "{e}");
        assert!(!e.contains("pw123"), "{e}");
        let e = plan("url = \"postgresql://db/x\"\ntable = \"a.b.c\"").unwrap_err();
        assert!(
            e.contains("a PostgreSQL table is `table` or `schema.table`"),
            "{e}"
        );
        let p = plan("url = \"postgresql://db/x\"\ntable = \"ref.Brands\"").unwrap();
        let LookupRead::Postgres { read, .. } = &p.lookups[0].read else {
            panic!()
        };
        assert_eq!(read, &DatabaseRead::Table("ref.Brands".into()));
    }

    #[test]
    fn an_api_lookup_checks_its_url_pointer_headers_and_timeout() {
        let api = "url = \"https://api.example.com/b\"\n";
        let e = plan(&format!("{api}records = \"data.items\"")).unwrap_err();
        assert!(
            e.contains("`records` of lookup `ref` is not a JSON pointer"),
            "{e}"
        );
        let e = plan(&format!(
            "{api}headers = {{ \"Bad Name\" = \"x\", Content-Type = \"text/csv\", X-Key = \"line\\nbreak-s3cret\" }}"
        ))
        .unwrap_err();
        assert!(e.contains("`Bad Name` is not a header name"), "{e}");
        assert!(e.contains("leave `Content-Type` out"), "{e}");
        assert!(
            e.contains("the value of the header `X-Key` cannot be sent"),
            "{e}"
        );
        assert!(!e.contains("s3cret"), "{e}");
        // `timeout` reads as an HTTP target's does.
        for timeout in ["0s", "2h", "soon"] {
            let e = plan(&format!("{api}timeout = \"{timeout}\"")).unwrap_err();
            assert!(e.contains(&format!("`{timeout}` is not a duration")), "{e}");
        }
        let p = plan(&format!("{api}timeout = \"1.5s\"")).unwrap();
        let LookupRead::Api(read) = &p.lookups[0].read else {
            panic!()
        };
        assert_eq!(read.timeout, Duration::from_millis(1500));
        let e = plan("url = \"https://:tok3n@/x\"").unwrap_err();
        assert!(e.contains("the URL has no host"), "{e}");
        assert!(!e.contains("tok3n"), "{e}");
        let e = plan("url = \"https://api.example.com/a b\"").unwrap_err();
        assert!(e.contains("the URL is not valid"), "{e}");
    }
}
