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

use super::compile::Compiler;
use super::diagnostic::Diagnostic;
use super::raw::{RawColumn, RawColumnSpec, RawEnrich, RawLookup, RawTarget};
use super::{
    ColumnFormat, CsvOptions, Enrich, Format, Lookup, OnMiss, PathPart, PathTemplate, QuoteStyle,
    SourcePlan, SqlExpr, Target, TextOptions,
};

/// Names a row has at plan time, and the ones left to the input header.
pub(super) struct Names {
    pub known: Vec<String>,
    pub deferred: Vec<(String, Range<usize>)>,
}

/// The deepest a dotted column name may nest JSON objects: deeper is no import format, and the
/// writers must not recurse without bound.
const MAX_NESTING: usize = 32;
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
            if let Some((other, other_path, how)) = template.as_ref().and_then(|tp| {
                out.iter().find_map(|o| {
                    super::paths::overlap(&o.path, tp)
                        .map(|how| (o.name.clone(), o.path.text.clone(), how))
                })
            }) {
                use super::paths::Overlap;
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
                if let Some(e) =
                    self.sql(&sql, &format!("column `{cname}` of target `{name}`"), names)
                {
                    columns.push((cname.clone(), e));
                }
            }
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
                span,
            });
        }
        out
    }

    fn sql(&mut self, text: &Spanned<String>, what: &str, names: &mut Names) -> Option<SqlExpr> {
        match super::compile::parse_sql(text.get_ref()) {
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
        if let Some(why) = super::paths::reserved(&template) {
            return bad(
                self,
                format!("target path `{text}` cannot be used: {why}"),
                "choose another path under the output folder",
            );
        }
        Some(template)
    }

    fn format(&mut self, t: &RawTarget, path: &Spanned<String>) -> Option<Format> {
        let parse = |s: &str| match s.to_ascii_lowercase().as_str() {
            "csv" => Some(Format::Csv),
            "tsv" | "tab" => Some(Format::Tsv),
            "json" => Some(Format::Json),
            "ndjson" | "jsonl" => Some(Format::Ndjson),
            "xlsx" => Some(Format::Xlsx),
            _ => None,
        };
        const NAMES: [&str; 5] = ["csv", "tsv", "json", "ndjson", "xlsx"];
        if let Some(f) = &t.format {
            let found = parse(f.get_ref());
            if found.is_none() {
                let d = Diagnostic::at(
                    f.span(),
                    format!("`{}` is not a target format", f.get_ref()),
                )
                .label("unknown format")
                .suggest(f.get_ref(), NAMES)
                .help_if_none(format!("the formats are: {}", NAMES.join(", ")));
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
                .help("end the path with .csv, .tsv, .json, .ndjson or .xlsx, or set `format`"),
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
            ("encoding", t.encoding.as_ref().map(|d| d.span())),
            ("null", t.null.as_ref().map(|d| d.span())),
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
        let encoding = match &t.encoding {
            Some(e) => {
                let found = self.encoding(e)?;
                // encoding_rs writes UTF-8 for the replacement and x-user-defined labels.
                if found.output_encoding() != found
                    && found != encoding_rs::UTF_16LE
                    && found != encoding_rs::UTF_16BE
                {
                    self.err(
                        Diagnostic::at(
                            e.span(),
                            format!("`{}` can be read but not written", e.get_ref()),
                        )
                        .label("not writable")
                        .help("write e.g. `utf-8`, `windows-1252`, `iso-8859-15` or `utf-16le`"),
                    );
                    return None;
                }
                found
            }
            None => encoding_rs::UTF_8,
        };
        let utf16 = encoding == encoding_rs::UTF_16LE || encoding == encoding_rs::UTF_16BE;
        let bom = match t.bom {
            Some(true) if encoding != encoding_rs::UTF_8 && !utf16 => {
                self.err(
                    Diagnostic::at(
                        t.encoding.as_ref().map(|e| e.span()).unwrap_or_default(),
                        format!(
                            "`bom = true` needs a Unicode encoding; `{}` has no byte order mark",
                            encoding.name()
                        ),
                    )
                    .label("no byte order mark in this encoding")
                    .help("remove `bom`, or write `utf-8` or `utf-16le`"),
                );
                return None;
            }
            Some(b) => b,
            // Excel reads UTF-16 only with its byte order mark.
            None => utf16,
        };
        let null = t
            .null
            .as_ref()
            .map(|n| n.get_ref().clone())
            .unwrap_or_default();
        if null.contains(['\n', '\r']) || null.as_bytes().contains(&delimiter) {
            if let Some(n) = &t.null {
                self.err(
                    Diagnostic::at(n.span(), "`null` cannot hold a line break or the delimiter")
                        .label("not writable as a field")
                        .help("write e.g. null = \"NULL\" or null = \"\\\\N\""),
                );
            }
            return None;
        }
        Some(CsvOptions {
            delimiter,
            quote_style,
            crlf,
            bom,
            header: t.header.unwrap_or(true),
            encoding,
            null,
        })
    }

    /// `columns.X = { value, format, decimal_separator }`.
    fn column_format(&mut self, spec: &RawColumnSpec, format: Option<Format>) -> ColumnFormat {
        let mut cf = ColumnFormat::default();
        if let Some(f) = &spec.format {
            if format == Some(Format::Xlsx) {
                if f.get_ref().trim().is_empty() {
                    self.err(Diagnostic::at(f.span(), "`format` cannot be empty"));
                }
                cf.format = Some(f.get_ref().clone());
            } else {
                cf.format = self.strftime(f);
            }
        }
        if let Some(d) = &spec.decimal_separator {
            if format == Some(Format::Xlsx) {
                self.err(
                    Diagnostic::at(
                        d.span(),
                        "XLSX cells hold numbers: their separator is the reader's setting",
                    )
                    .label("not used by XLSX")
                    .help("give a number format instead, e.g. format = \"#,##0.00\""),
                );
            } else {
                cf.decimal_separator = self.decimal_separator(d);
            }
        }
        cf
    }

    /// Target-wide `date_format`, `datetime_format` and `decimal_separator`.
    fn text_options(&mut self, t: &RawTarget, format: Option<Format>) -> TextOptions {
        let mut o = TextOptions::default();
        for (key, v) in [
            ("date_format", &t.date_format),
            ("datetime_format", &t.datetime_format),
            ("decimal_separator", &t.decimal_separator),
        ] {
            let Some(v) = v else { continue };
            if format == Some(Format::Xlsx) {
                self.err(
                    Diagnostic::at(v.span(), format!("`{key}` applies to CSV and JSON targets"))
                        .label("not used by XLSX")
                        .help("XLSX targets write typed cells; give a column an Excel number format with columns.X = { value = \"x\", format = \"dd/mm/yyyy\" }"),
                );
                continue;
            }
            match key {
                "date_format" => o.date_format = self.strftime(v),
                "datetime_format" => o.datetime_format = self.strftime(v),
                _ => o.decimal_separator = self.decimal_separator(v),
            }
        }
        o
    }

    fn strftime(&mut self, f: &Spanned<String>) -> Option<String> {
        use chrono::format::{Item, StrftimeItems};
        let text = f.get_ref();
        if text.is_empty() || StrftimeItems::new(text).any(|i| matches!(i, Item::Error)) {
            self.err(
                Diagnostic::at(f.span(), format!("`{text}` is not a date format"))
                    .label("invalid format")
                    .help("use strftime codes, e.g. \"%d/%m/%Y\" or \"%Y-%m-%d %H:%M\""),
            );
            return None;
        }
        // Without a single code every date would be written as the same text: an Excel format
        // (`dd/mm/yyyy`, meant for XLSX columns) would silently replace every value.
        if !StrftimeItems::new(text).any(|i| matches!(i, Item::Numeric(..) | Item::Fixed(_))) {
            self.err(
                Diagnostic::at(f.span(), format!("`{text}` has no strftime code: every date would be written as this same text"))
                    .label("no %-code")
                    .help("use strftime codes, e.g. \"%d/%m/%Y\"; Excel formats such as \"dd/mm/yyyy\" are for XLSX columns"),
            );
            return None;
        }
        Some(text.clone())
    }

    fn decimal_separator(&mut self, d: &Spanned<String>) -> Option<char> {
        let mut chars = d.get_ref().chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) if !c.is_ascii_digit() && c != '-' && c != '+' && !c.is_control() => {
                Some(c)
            }
            _ => {
                self.err(
                    Diagnostic::at(
                        d.span(),
                        format!(
                            "`decimal_separator` must be one character other than a digit or sign, not `{}`",
                            d.get_ref()
                        ),
                    )
                    .label("one character expected")
                    .help("write \",\" for a decimal comma"),
                );
                None
            }
        }
    }

    /// XLSX: the worksheet's name (Excel's rules), by default the target's.
    fn target_sheet(&mut self, t: &RawTarget, name: &str, format: Option<Format>) -> String {
        let Some(s) = &t.sheet else {
            return sheet_name(name);
        };
        if format.is_some() && format != Some(Format::Xlsx) {
            self.err(
                Diagnostic::at(s.span(), "`sheet` applies to XLSX targets only")
                    .label("not used by this format"),
            );
            return String::new();
        }
        let v = s.get_ref();
        // A declared name is never shortened behind the user's back: longer than Excel's 31
        // characters is an error here, while the workbook writer shortens only default names.
        let problem = crate::sink::xlsx::sheet_name_problem(v)
            .or((v.encode_utf16().count() > 31).then_some("it is longer than 31 characters"));
        if let Some(reason) = problem {
            self.err(
                Diagnostic::at(s.span(), format!("`{v}` is not a valid Excel sheet name: {reason}"))
                    .label("invalid sheet name")
                    .help("a sheet name has 1 to 31 characters, none of [ ] : * ? / \\, does not start or end with ' and is not `History`"),
            );
        }
        v.clone()
    }

    /// JSON and NDJSON: `group_by` fields.
    fn group_by(
        &mut self,
        t: &RawTarget,
        name: &str,
        format: Option<Format>,
        names: &mut Names,
    ) -> Vec<String> {
        let Some(g) = &t.group_by else {
            return Vec::new();
        };
        if format.is_some() && !matches!(format, Some(Format::Json | Format::Ndjson)) {
            self.err(
                Diagnostic::at(
                    g.span(),
                    "`group_by` applies to JSON and NDJSON targets only",
                )
                .label("not used by this format")
                .help("group rows into one record per key in a .json or .ndjson target"),
            );
            return Vec::new();
        }
        if g.get_ref().is_empty() {
            self.err(
                Diagnostic::at(g.span(), format!("`group_by` of target `{name}` is empty"))
                    .label("no field")
                    .help("write e.g. group_by = [\"order_id\"]"),
            );
        }
        let mut out: Vec<String> = Vec::new();
        for f in g.get_ref() {
            if out.contains(f.get_ref()) {
                self.err(
                    Diagnostic::at(f.span(), format!("`{}` is listed twice", f.get_ref()))
                        .label("repeated"),
                );
                continue;
            }
            names.resolve(f.get_ref(), f.span());
            out.push(f.get_ref().clone());
        }
        out
    }

    /// JSON: `envelope = "records"` or `"data.items"`.
    fn envelope(&mut self, t: &RawTarget, format: Option<Format>) -> Option<Vec<String>> {
        let e = t.envelope.as_ref()?;
        if format.is_some() && format != Some(Format::Json) {
            self.err(
                Diagnostic::at(e.span(), "`envelope` applies to JSON targets only")
                    .label("not used by this format")
                    .help("NDJSON has one record per line and no wrapper; write a .json target"),
            );
            return None;
        }
        let parts: Vec<String> = e.get_ref().split('.').map(str::to_string).collect();
        if parts.iter().any(|p| p.is_empty()) {
            self.err(
                Diagnostic::at(e.span(), format!("`{}` is not an object path", e.get_ref()))
                    .label("empty part")
                    .help("write e.g. envelope = \"records\" or \"data.items\""),
            );
            return None;
        }
        Some(parts)
    }

    /// `name[].x` columns gather a group's rows: they need `group_by` in a JSON target.
    fn no_arrays(&mut self, columns: &IndexMap<String, Range<usize>>) {
        for (name, span) in columns {
            if name.contains("[]") {
                self.err(
                    Diagnostic::at(
                        span.clone(),
                        format!(
                            "column `{name}` is an array item, which only grouped JSON targets have"
                        ),
                    )
                    .label("array column")
                    .help("write a .json or .ndjson target with group_by = [\"...\"]"),
                );
            }
        }
    }

    /// Dotted JSON column names build nested objects: `a.b` and `a` cannot both be values.
    /// `name[].x` columns (grouped targets only) are the items of array `name`.
    /// Dotted column names nest JSON objects, at most [`MAX_NESTING`] levels deep.
    fn nesting(&mut self, columns: &IndexMap<String, Range<usize>>, grouped: bool) {
        let names: Vec<&String> = columns.keys().collect();
        for (name, span) in columns {
            let depth = name.split('.').count();
            if depth > MAX_NESTING {
                self.err(
                    Diagnostic::at(
                        span.clone(),
                        format!(
                            "column `{}…` nests {depth} levels deep; JSON targets nest at most {MAX_NESTING}",
                            name.chars().take(40).collect::<String>()
                        ),
                    )
                    .label("too deep")
                    .help("use fewer dots in the column name (each dot opens a JSON object)"),
                );
                continue;
            }
            if name.contains("[]") {
                let ok = match name.split_once("[]") {
                    Some((array, item)) => {
                        !array.is_empty()
                            && !array.split('.').any(str::is_empty)
                            && item.strip_prefix('.').is_some_and(|i| {
                                !i.is_empty()
                                    && !i.contains("[]")
                                    && !i.split('.').any(str::is_empty)
                            })
                    }
                    None => false,
                };
                if !ok {
                    self.err(
                        Diagnostic::at(span.clone(), format!("column `{name}` is not an array item"))
                            .label("bad array column")
                            .help("write `array[].field`, e.g. `lines[].sku` or `lines[].price.amount` (one level of arrays)"),
                    );
                } else if let Some(clash) = name.split_once("[]").and_then(|(array, _)| {
                    names.iter().find(|n| {
                        !n.contains("[]")
                            && (n.as_str() == array || n.starts_with(&format!("{array}.")))
                    })
                }) {
                    self.err(
                        Diagnostic::at(span.clone(), format!("column `{name}` makes `{}` an array, but `{clash}` is a value there", name.split_once("[]").map(|(a, _)| a).unwrap_or_default()))
                            .label("array and value at once")
                            .help("rename one of the two columns"),
                    );
                } else if !grouped {
                    self.err(
                        Diagnostic::at(
                            span.clone(),
                            format!("column `{name}` gathers a group's rows, but the target has no `group_by`"),
                        )
                        .label("array column without group_by")
                        .help("add e.g. group_by = [\"order_id\"]"),
                    );
                }
                continue;
            }
            if name.split('.').any(str::is_empty) {
                self.err(
                    Diagnostic::at(
                        span.clone(),
                        format!("column `{name}` has an empty part between dots"),
                    )
                    .label("bad nested name"),
                );
                continue;
            }
            if let Some(child) = names.iter().find(|n| n.starts_with(&format!("{name}."))) {
                self.err(
                    Diagnostic::at(
                        span.clone(),
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

/// A target's name as a default sheet name: Excel's forbidden characters replaced, 31 at most.
fn sheet_name(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| if "[]:*?/\\".contains(c) { '_' } else { c })
        .take(31)
        .collect();
    let s = s.trim_matches('\'').to_string();
    if s.is_empty() || s.eq_ignore_ascii_case("history") {
        "Sheet1".into()
    } else {
        s
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
