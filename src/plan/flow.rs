//! Compiles where rows go: `[lookups]`, `[[enrich]]` and `[targets]`.
//!
//! Like the rest of the compile step, every problem becomes a diagnostic and compilation carries
//! on. Names are resolved against the declared fields and the fields added by earlier `enrich`
//! steps; any other name may be a column of the input, which only its header can tell, so it is
//! recorded as *deferred* and resolved by [`super::bind`] when the run starts.

use std::ops::Range;
use std::path::Path;

use indexmap::IndexMap;
use toml::Spanned;

use super::compile::{Compiler, polars_message};
use super::diagnostic::Diagnostic;
use super::raw::{RawEnrich, RawLookup, RawTarget};
use super::{
    CsvOptions, Enrich, Format, Lookup, OnMiss, PathPart, PathTemplate, QuoteStyle, SourcePlan,
    SqlExpr, Target,
};

/// Names a row has at plan time, and the ones left to the input header.
pub(super) struct Names {
    pub known: Vec<String>,
    pub deferred: Vec<(String, Range<usize>)>,
}

impl Names {
    fn resolve(&mut self, name: &str, span: Range<usize>) {
        if !self.known.iter().any(|k| k == name) && !self.deferred.iter().any(|(d, _)| d == name) {
            self.deferred.push((name.to_string(), span));
        }
    }
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
                    span,
                });
            }
        }
        out
    }

    /// A string or a non-empty list of distinct strings.
    fn string_list(&mut self, v: &Spanned<toml::Value>, key: &str) -> Option<Vec<String>> {
        let items: Option<Vec<String>> = match v.get_ref() {
            toml::Value::String(s) => Some(vec![s.clone()]),
            toml::Value::Array(a) if !a.is_empty() => {
                a.iter().map(|x| x.as_str().map(str::to_string)).collect()
            }
            _ => None,
        };
        match items {
            Some(items) if !items.iter().any(String::is_empty) => {
                for (i, item) in items.iter().enumerate() {
                    if items[..i].contains(item) {
                        self.err(
                            Diagnostic::at(v.span(), format!("`{key}` names `{item}` twice"))
                                .label("repeated"),
                        );
                        return None;
                    }
                }
                Some(items)
            }
            _ => {
                self.err(
                    Diagnostic::at(
                        v.span(),
                        format!("`{key}` must be a column name or a list of column names"),
                    )
                    .label("not a column name")
                    .help(format!(
                        "write {key} = \"name\" or {key} = [\"region\", \"sku\"]"
                    )),
                );
                None
            }
        }
    }

    pub(super) fn enrich(
        &mut self,
        raw: &[Spanned<RawEnrich>],
        lookups: &[Lookup],
        names: &mut Names,
    ) -> Vec<Enrich> {
        let mut out = Vec::new();
        for (i, e) in raw.iter().enumerate() {
            let span = e.span();
            let e = e.get_ref();
            let what = format!("enrich step {}", i + 1);
            let lookup = match &e.lookup {
                Some(l) => match lookups.iter().position(|x| &x.name == l.get_ref()) {
                    Some(li) => Some(li),
                    None => {
                        self.err(
                            Diagnostic::at(
                                l.span(),
                                format!("there is no lookup `{}`", l.get_ref()),
                            )
                            .label("unknown lookup")
                            .suggest(l.get_ref(), lookups.iter().map(|x| x.name.as_str()))
                            .help_if_none(if lookups.is_empty() {
                                "declare it in a `[lookups.NAME]` table".to_string()
                            } else {
                                format!(
                                    "the lookups are: {}",
                                    lookups
                                        .iter()
                                        .map(|x| x.name.as_str())
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                )
                            }),
                        );
                        None
                    }
                },
                None => {
                    self.err(
                        Diagnostic::at(span.clone(), format!("{what} names no `lookup`"))
                            .label("no lookup")
                            .help("add e.g. lookup = \"brands\""),
                    );
                    None
                }
            };
            let (Some(li), Some(m), Some(add)) = (lookup, &e.match_, &e.add) else {
                if lookup.is_some() {
                    self.err(
                        Diagnostic::at(
                            span.clone(),
                            format!("{what} needs both `match` and `add`"),
                        )
                        .label("incomplete")
                        .help("e.g. match = { brand = \"name\" } and add = { brand_id = \"id\" }"),
                    );
                }
                continue;
            };
            let l = &lookups[li];
            // `match`: row field → key column; every key column exactly once.
            let mut matches: Vec<Option<String>> = vec![None; l.key.len()];
            let mut ok = true;
            for (field, column) in m.get_ref() {
                match l.key.iter().position(|k| k == column.get_ref()) {
                    Some(ki) => {
                        names.resolve(field, column.span());
                        matches[ki] = Some(field.clone());
                    }
                    None => {
                        ok = false;
                        self.err(
                            Diagnostic::at(
                                column.span(),
                                format!(
                                    "`{}` is not a key column of lookup `{}` (its key is {})",
                                    column.get_ref(),
                                    l.name,
                                    quoted_list(&l.key)
                                ),
                            )
                            .label("not a key column")
                            .suggest(column.get_ref(), l.key.iter().map(String::as_str)),
                        );
                    }
                }
            }
            let missing: Vec<String> = l
                .key
                .iter()
                .zip(&matches)
                .filter(|(_, m)| m.is_none())
                .map(|(k, _)| k.clone())
                .collect();
            if ok && !missing.is_empty() {
                ok = false;
                self.err(
                    Diagnostic::at(
                        m.span(),
                        format!(
                            "`match` must give a row field for every key column of lookup `{}`; {} missing",
                            l.name,
                            quoted_list(&missing)
                        ),
                    )
                    .label("incomplete key"),
                );
            }
            let mut adds = Vec::new();
            for (field, column) in add.get_ref() {
                if names.known.contains(field) {
                    ok = false;
                    self.err(
                        Diagnostic::at(
                            column.span(),
                            format!("`{field}` is already a field; an enrich step adds new fields"),
                        )
                        .label("name taken")
                        .help(format!("pick another name, e.g. `{field}_id`")),
                    );
                    continue;
                }
                adds.push((field.clone(), column.get_ref().clone()));
            }
            if adds.is_empty() && ok {
                ok = false;
                self.err(
                    Diagnostic::at(add.span(), format!("{what} adds no field")).label("empty"),
                );
            }
            let on_miss = self.on_miss(e, &adds);
            if let (true, Some(on_miss)) = (ok, on_miss) {
                names.known.extend(adds.iter().map(|(f, _)| f.clone()));
                out.push(Enrich {
                    lookup: li,
                    matches: matches.into_iter().flatten().collect(),
                    adds,
                    on_miss,
                    span: m.span(),
                });
            }
        }
        out
    }

    fn on_miss(&mut self, e: &RawEnrich, adds: &[(String, String)]) -> Option<OnMiss> {
        let word = e.on_miss.as_ref();
        let policy = match word.map(|w| w.get_ref().as_str()) {
            None | Some("reject") => OnMiss::Reject,
            Some("null") => OnMiss::Null,
            Some("default") => {
                let Some(defaults) = &e.default else {
                    self.err(
                        Diagnostic::at(
                            word.map(|w| w.span()).unwrap_or_default(),
                            "`on_miss = \"default\"` needs a `default` value for each added field",
                        )
                        .label("no default given")
                        .help(format!(
                            "add default = {{ {} }}",
                            adds.iter()
                                .map(|(f, _)| format!("{f} = \"…\""))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )),
                    );
                    return None;
                };
                let mut values = Vec::new();
                for (field, _) in adds {
                    match defaults.get_ref().get(field) {
                        Some(v) => values.push(v.get_ref().clone()),
                        None => {
                            self.err(
                                Diagnostic::at(
                                    defaults.span(),
                                    format!(
                                        "`default` gives no value for the added field `{field}`"
                                    ),
                                )
                                .label("incomplete"),
                            );
                            return None;
                        }
                    }
                }
                for (field, v) in defaults.get_ref() {
                    if !adds.iter().any(|(f, _)| f == field) {
                        self.err(
                            Diagnostic::at(
                                v.span(),
                                format!("`{field}` is not a field this step adds"),
                            )
                            .label("not added")
                            .suggest(field, adds.iter().map(|(f, _)| f.as_str())),
                        );
                        return None;
                    }
                }
                OnMiss::Default(values)
            }
            Some(other) => {
                let w = word?;
                self.err(
                    Diagnostic::at(
                        w.span(),
                        format!("`on_miss` is `reject`, `null` or `default`, not `{other}`"),
                    )
                    .label("unknown policy")
                    .suggest(other, ["reject", "null", "default"]),
                );
                return None;
            }
        };
        if e.default.is_some() && !matches!(policy, OnMiss::Default(_)) {
            self.err(
                Diagnostic::at(
                    e.default.as_ref().map(|d| d.span()).unwrap_or_default(),
                    "`default` is used only with `on_miss = \"default\"`",
                )
                .label("never used")
                .help("add on_miss = \"default\", or remove `default`"),
            );
            return None;
        }
        Some(policy)
    }

    pub(super) fn targets(
        &mut self,
        raw: &IndexMap<String, Spanned<RawTarget>>,
        names: &mut Names,
    ) -> Vec<Target> {
        let mut out: Vec<Target> = Vec::new();
        for (name, t) in raw {
            let span = t.span();
            let t = t.get_ref();
            let before = self.errs.len();
            let Some(path) = &t.path else {
                self.err(
                    Diagnostic::at(span.clone(), format!("target `{name}` has no `path`"))
                        .label("no path")
                        .help("add e.g. path = \"catalog/products.csv\" (relative to the output folder)"),
                );
                continue;
            };
            let template = self.path_template(path, names);
            let format = self.format(t, path);
            if let Some(other) = template.as_ref().and_then(|tp| {
                out.iter()
                    .find(|o| o.path.text == tp.text)
                    .map(|o| o.name.clone())
            }) {
                self.err(
                    Diagnostic::at(
                        path.span(),
                        format!("targets `{other}` and `{name}` write the same path"),
                    )
                    .label("already written"),
                );
            }
            let batch_size = match &t.batch_size {
                Some(b) if *b.get_ref() >= 1 => Some(*b.get_ref() as u64),
                Some(b) => {
                    self.err(
                        Diagnostic::at(b.span(), "`batch_size` must be 1 or more")
                            .label("too small"),
                    );
                    None
                }
                None => None,
            };
            if let Some(tp) = &template {
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
            let when = t
                .when
                .as_ref()
                .and_then(|w| self.sql(w, &format!("`when` of target `{name}`"), names));
            let mut columns = Vec::new();
            for (cname, sql) in &t.columns {
                if cname.is_empty() {
                    self.err(Diagnostic::at(sql.span(), "a column name cannot be empty"));
                    continue;
                }
                if let Some(e) =
                    self.sql(sql, &format!("column `{cname}` of target `{name}`"), names)
                {
                    columns.push((cname.clone(), e));
                }
            }
            if matches!(format, Some(Format::Json | Format::Ndjson)) {
                self.nesting(&t.columns);
            }
            let csv = self.csv_options(t, format);
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
                span,
            });
        }
        out
    }

    fn sql(&mut self, text: &Spanned<String>, what: &str, names: &mut Names) -> Option<SqlExpr> {
        match polars::sql::sql_expr(text.get_ref()) {
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
                        .help(polars_message(&e)),
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
        Some(PathTemplate {
            text: text.clone(),
            parts,
        })
    }

    fn format(&mut self, t: &RawTarget, path: &Spanned<String>) -> Option<Format> {
        let parse = |s: &str| match s.to_ascii_lowercase().as_str() {
            "csv" => Some(Format::Csv),
            "tsv" | "tab" => Some(Format::Tsv),
            "json" => Some(Format::Json),
            "ndjson" | "jsonl" => Some(Format::Ndjson),
            _ => None,
        };
        const NAMES: [&str; 4] = ["csv", "tsv", "json", "ndjson"];
        if let Some(f) = &t.format {
            let found = parse(f.get_ref());
            if found.is_none() {
                let d = Diagnostic::at(
                    f.span(),
                    format!("`{}` is not a target format", f.get_ref()),
                )
                .label("unknown format");
                let d = if f.get_ref().eq_ignore_ascii_case("xlsx") {
                    d.help("XLSX targets are not supported yet; write csv, tsv, json or ndjson")
                } else {
                    d.suggest(f.get_ref(), NAMES)
                        .help_if_none(format!("the formats are: {}", NAMES.join(", ")))
                };
                self.err(d);
            }
            return found;
        }
        let ext = Path::new(path.get_ref())
            .extension()
            .map(|e| e.to_string_lossy().into_owned())
            .unwrap_or_default();
        let found = parse(&ext);
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
                .help("end the path with .csv, .tsv, .json or .ndjson, or set `format`"),
            );
        }
        found
    }

    fn csv_options(&mut self, t: &RawTarget, format: Option<Format>) -> Option<CsvOptions> {
        let is_csv = matches!(format, Some(Format::Csv | Format::Tsv));
        let csv_only = [
            ("delimiter", t.delimiter.as_ref().map(|d| d.span())),
            ("quote_style", t.quote_style.as_ref().map(|d| d.span())),
            ("line_ending", t.line_ending.as_ref().map(|d| d.span())),
        ];
        if !is_csv && format.is_some() {
            for (key, span) in csv_only {
                if let Some(span) = span {
                    self.err(
                        Diagnostic::at(
                            span,
                            format!("`{key}` applies to CSV and TSV targets only"),
                        )
                        .label("not used by this format"),
                    );
                }
            }
        }
        let delimiter = match (&t.delimiter, format) {
            (Some(d), _) => self.byte_char(d, "delimiter")?,
            (None, Some(Format::Tsv)) => b'\t',
            _ => b',',
        };
        let quote_style = match t.quote_style.as_ref().map(|q| (q, q.get_ref().as_str())) {
            None | Some((_, "necessary")) => QuoteStyle::Necessary,
            Some((_, "always")) => QuoteStyle::Always,
            Some((_, "non_numeric")) => QuoteStyle::NonNumeric,
            Some((_, "never")) => QuoteStyle::Never,
            Some((q, other)) => {
                const STYLES: [&str; 4] = ["necessary", "always", "non_numeric", "never"];
                self.err(
                    Diagnostic::at(
                        q.span(),
                        format!(
                            "`quote_style` is one of {}, not `{other}`",
                            STYLES.join(", ")
                        ),
                    )
                    .label("unknown style")
                    .suggest(other, STYLES),
                );
                return None;
            }
        };
        let crlf = match t
            .line_ending
            .as_ref()
            .map(|l| (l, l.get_ref().to_ascii_lowercase()))
        {
            None => false,
            Some((_, l)) if l == "lf" || l == "\n" => false,
            Some((_, l)) if l == "crlf" || l == "\r\n" => true,
            Some((l, _)) => {
                self.err(
                    Diagnostic::at(
                        l.span(),
                        format!("`line_ending` is `lf` or `crlf`, not `{}`", l.get_ref()),
                    )
                    .label("unknown line ending"),
                );
                return None;
            }
        };
        Some(CsvOptions {
            delimiter,
            quote_style,
            crlf,
            bom: t.bom.unwrap_or(false),
            header: t.header.unwrap_or(true),
        })
    }

    /// Dotted JSON column names build nested objects: `a.b` and `a` cannot both be values.
    fn nesting(&mut self, columns: &IndexMap<String, Spanned<String>>) {
        let names: Vec<&String> = columns.keys().collect();
        for (name, sql) in columns {
            if name.split('.').any(str::is_empty) {
                self.err(
                    Diagnostic::at(
                        sql.span(),
                        format!("column `{name}` has an empty part between dots"),
                    )
                    .label("bad nested name"),
                );
                continue;
            }
            if let Some(child) = names.iter().find(|n| n.starts_with(&format!("{name}."))) {
                self.err(
                    Diagnostic::at(
                        sql.span(),
                        format!("column `{name}` is a value, but `{child}` makes it an object"),
                    )
                    .label("value and object at once")
                    .help(format!("rename `{name}`, e.g. to `{name}.value`")),
                );
            }
        }
    }
}

fn quoted_list(items: &[String]) -> String {
    items
        .iter()
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ")
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
