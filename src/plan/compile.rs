//! Raw mapping → [`Plan`]: defaults, name resolution, regexes and SQL, all problems at once.
//!
//! Every check here pushes a [`Diagnostic`] and carries on, so one run of `rowferry check`
//! lists every problem of a mapping. Only a TOML syntax error stops early, since nothing after it
//! can be read.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use polars::prelude::{DataFrame, IntoLazy, Series};
use sha2::{Digest, Sha256};
use toml::Spanned;

use super::diagnostic::Diagnostic;
use super::flow::Names;
use super::keys;
use super::overrides::SetArg;
use super::raw::{RawCheck, RawField, RawMapping, RawRun, RawSource, RawStructure};
use super::{
    Bound, CellRange, Check, DEFAULT_MAX_FIELD_BYTES, DEFAULT_MAX_PART_BYTES, Diagnostics,
    EnumRule, Field, FieldType, FormulaGuard, HeaderNames, InputFormat, MappingFile, Plan,
    RunPolicy, SheetRef, SourcePlan, Structure, TYPE_NAMES, UniqueKey, Unrouted,
};
use crate::issue::Severity;

const DEFAULT_MIN_ROWS: u64 = 1000;
const DEFAULT_MAX_OPEN_FILES: usize = 64;
const DEFAULT_GROUP_MEMORY_MB: usize = 128;
use super::DEFAULT_DECIMAL_SCALE;
const MAX_DECIMAL_SCALE: i64 = 18;
const RULE_NAMES: [&str; 7] = [
    "type", "required", "unique", "pattern", "enum", "range", "length",
];

pub(super) fn compile(
    path: &Path,
    text: &str,
    input: Option<&Path>,
    sets: &[SetArg],
) -> Result<Plan, Diagnostics> {
    let fail = |items: Vec<Diagnostic>| Diagnostics::new(path, text, items);

    // Syntax first: nothing else can be read from a file that does not parse.
    let mut doc = toml::de::DeTable::parse(text).map_err(|e| fail(vec![toml_error(&e)]))?;
    let cwd = std::env::current_dir().unwrap_or_default();
    let (overrides, mut errs) =
        super::overrides::apply(&mut doc, &|name| std::env::var(name).ok(), sets, &cwd);

    let mut ignored: Vec<Vec<keys::Segment>> = Vec::new();
    let raw: Result<RawMapping, toml::de::Error> =
        serde_ignored::deserialize(toml::de::Deserializer::from(doc.clone()), |p| {
            ignored.push(keys::segments(&p))
        });
    for path in &ignored {
        errs.push(keys::unknown_key(&doc, path));
    }
    let raw = match raw {
        Ok(raw) => raw,
        Err(e) => {
            errs.push(toml_error(&e));
            return Err(fail(errs));
        }
    };

    let base = path.parent().unwrap_or(Path::new("")).to_path_buf();
    let mut c = Compiler { errs };
    let structure = c.structure_ref(&raw);
    let source = c.source(raw.source.as_ref(), &base, input);
    let run = c.run(raw.run.as_ref().map(|r| r.get_ref()));
    let mut names = Names {
        known: match &structure {
            Some(Some(s)) => s.fields.iter().map(|f| f.name.clone()).collect(),
            _ => Vec::new(),
        },
        deferred: Vec::new(),
    };
    let lookups = c.lookups(&raw.lookups, &base);
    let enrich = c.enrich(&raw.enrich, &lookups, &mut names);
    let targets = c.targets(&raw.targets, &mut names);
    if !c.errs.is_empty() {
        return Err(fail(c.errs));
    }
    let (Some(mut source), Some(structure)) = (source, structure) else {
        return Err(fail(vec![Diagnostic::new(
            None,
            "the mapping could not be compiled",
        )]));
    };
    if let Some(s) = &structure {
        source.expected_columns = s.fields.iter().map(|f| f.column.clone()).collect();
    }

    let name = raw.name.clone().unwrap_or_else(|| {
        path.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    });
    Ok(Plan {
        mapping: MappingFile {
            path: path.to_path_buf(),
            text: text.to_string(),
            sha256: hex(&Sha256::digest(text.as_bytes())),
        },
        name,
        source,
        structure: structure.map(Arc::new),
        lookups,
        enrich,
        targets,
        run,
        deferred: names.deferred,
        overrides,
    })
}

/// Lower-case hexadecimal of a digest.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

fn toml_error(e: &toml::de::Error) -> Diagnostic {
    let message = e.message().trim().to_string();
    let message = if message.is_empty() {
        "the mapping is not valid TOML".to_string()
    } else {
        message
    };
    Diagnostic::new(e.span(), message)
}

pub(super) struct Compiler {
    pub(super) errs: Vec<Diagnostic>,
}

impl Compiler {
    pub(super) fn err(&mut self, d: Diagnostic) {
        self.errs.push(d);
    }

    /// Resolves `[source] structure` and compiles that structure. `Some(None)`: no structure.
    fn structure_ref(&mut self, raw: &RawMapping) -> Option<Option<Structure>> {
        let wanted = raw
            .source
            .as_ref()
            .and_then(|s| s.get_ref().structure.as_ref());
        let names: Vec<&str> = raw.structures.keys().map(String::as_str).collect();
        let Some(wanted) = wanted else {
            if let Some((first, s)) = raw.structures.first() {
                self.err(
                    Diagnostic::at(
                        s.span(),
                        format!(
                            "structure `{first}` is declared but `[source] structure` does not name it, so no row would be checked"
                        ),
                    )
                    .label("never used")
                    .help(format!("add `structure = \"{first}\"` to `[source]`")),
                );
                return None;
            }
            return Some(None);
        };
        // Every structure is compiled, so problems in one not used yet are reported too.
        let mut chosen = None;
        let mut found = false;
        for (name, s) in &raw.structures {
            let compiled = self.structure(name, s.get_ref());
            if name == wanted.get_ref() {
                found = true;
                chosen = compiled;
            }
        }
        if !found {
            self.err(
                Diagnostic::at(
                    wanted.span(),
                    format!("there is no structure named `{}`", wanted.get_ref()),
                )
                .label("unknown structure")
                .suggest(wanted.get_ref(), names.iter().copied())
                .help_if_none(format!(
                    "declare it as `[structures.{}.fields]`",
                    wanted.get_ref()
                )),
            );
            return None;
        }
        chosen.map(Some)
    }

    fn source(
        &mut self,
        raw: Option<&Spanned<RawSource>>,
        base: &Path,
        input: Option<&Path>,
    ) -> Option<SourcePlan> {
        let span = raw.map(|r| r.span());
        let empty = RawSource::default();
        let s = raw.map(|r| r.get_ref()).unwrap_or(&empty);
        let path: Option<PathBuf> = match (input, &s.path) {
            (Some(input), _) => Some(input.to_path_buf()),
            (None, Some(p)) => Some(base.join(p.get_ref())),
            (None, None) => {
                self.err(
                    Diagnostic::new(span.clone(), "the mapping names no input file")
                        .help("set `path` in `[source]` (relative to the mapping file), or pass `--input FILE`"),
                );
                None
            }
        };
        let delimiter = s
            .delimiter
            .as_ref()
            .and_then(|d| self.byte_char(d, "delimiter"));
        let quote = s.quote.as_ref().and_then(|q| self.byte_char(q, "quote"));
        let escape = s.escape.as_ref().and_then(|e| self.byte_char(e, "escape"));
        let comment = s
            .comment
            .as_ref()
            .and_then(|c| self.byte_char(c, "comment"));
        let encoding = s.encoding.as_ref().and_then(|e| self.encoding(e));
        let header_row = match &s.header_row {
            Some(h) if *h.get_ref() >= 1 => Some(*h.get_ref() as u64),
            Some(h) => {
                self.err(
                    Diagnostic::at(
                        h.span(),
                        "`header_row` must be 1 or more (the line of the header record)",
                    )
                    .label("not a line number"),
                );
                None
            }
            None => None,
        };
        let header_names = match &s.header_names {
            None => HeaderNames::Strict,
            Some(h) => match h.get_ref().as_str() {
                "strict" => HeaderNames::Strict,
                "rename" => HeaderNames::Rename,
                other => {
                    self.err(
                        Diagnostic::at(
                            h.span(),
                            format!("`header_names` is `strict` or `rename`, not `{other}`"),
                        )
                        .label("unknown policy")
                        .suggest(other, ["strict", "rename"]),
                    );
                    HeaderNames::Strict
                }
            },
        };
        let format = s.format.as_ref().and_then(|f| match f.get_ref().as_str() {
            "csv" | "tsv" | "txt" => Some(InputFormat::Csv),
            "xlsx" | "xlsm" | "xlsb" | "xls" | "ods" => Some(InputFormat::Spreadsheet),
            other => {
                self.err(
                    Diagnostic::at(f.span(), format!("unknown input format `{other}`"))
                        .label("unknown format")
                        .suggest(other, ["csv", "tsv", "xlsx", "xlsm", "xlsb", "xls", "ods"])
                        .help_if_none(
                            "the formats are csv, tsv, xlsx, xlsm, xlsb, xls and ods; leave `format` out to tell it from the file",
                        ),
                );
                None
            }
        });
        let sheet = s.sheet.as_ref().and_then(|v| self.sheet(v));
        let range = s.range.as_ref().and_then(|r| self.range(r));
        let max_field_bytes = match &s.max_field_bytes {
            None => DEFAULT_MAX_FIELD_BYTES,
            Some(m) if *m.get_ref() >= 1 => *m.get_ref() as u64,
            Some(m) => {
                self.err(
                    Diagnostic::at(m.span(), "`max_field_bytes` must be 1 or more")
                        .label("not a size"),
                );
                DEFAULT_MAX_FIELD_BYTES
            }
        };
        let max_part_bytes = match &s.max_part_bytes {
            None => DEFAULT_MAX_PART_BYTES,
            Some(m) if *m.get_ref() >= 1 => *m.get_ref() as u64,
            Some(m) => {
                self.err(
                    Diagnostic::at(m.span(), "`max_part_bytes` must be 1 or more")
                        .label("not a size"),
                );
                DEFAULT_MAX_PART_BYTES
            }
        };
        if let (Some(d), Some(q)) = (delimiter, quote)
            && d == q
        {
            self.err(Diagnostic::new(
                span.clone(),
                "`delimiter` and `quote` must be different characters",
            ));
        }
        Some(SourcePlan {
            path: path?,
            format,
            delimiter,
            quote,
            escape,
            comment,
            encoding,
            header_row,
            header: s.header.as_ref().map(|h| *h.get_ref()),
            header_names,
            sheet,
            range,
            max_field_bytes,
            max_part_bytes,
            expected_columns: Vec::new(),
        })
    }

    /// `encoding = "…"`: any WHATWG label.
    pub(super) fn encoding(
        &mut self,
        e: &Spanned<String>,
    ) -> Option<&'static encoding_rs::Encoding> {
        let label = e.get_ref();
        let found = encoding_rs::Encoding::for_label_no_replacement(label.trim().as_bytes());
        if found.is_none() {
            self.err(
                Diagnostic::at(e.span(), format!("`{label}` is not an encoding label"))
                    .label("unknown encoding")
                    .suggest(
                        label,
                        [
                            "utf-8",
                            "windows-1252",
                            "iso-8859-1",
                            "iso-8859-15",
                            "utf-16le",
                            "utf-16be",
                            "macintosh",
                            "ibm866",
                            "shift_jis",
                        ],
                    )
                    .help_if_none(
                        "use a WHATWG label such as `utf-8`, `windows-1252`, `latin1` or `utf-16le`, or leave `encoding` out to detect it",
                    ),
            );
        }
        found
    }

    /// `sheet = "Products"` or `sheet = 2`.
    pub(super) fn sheet(&mut self, v: &Spanned<toml::Value>) -> Option<SheetRef> {
        match v.get_ref() {
            toml::Value::String(s) if !s.is_empty() => Some(SheetRef::Name(s.clone())),
            toml::Value::Integer(i) if *i >= 1 => Some(SheetRef::Index(*i as usize)),
            _ => {
                self.err(
                    Diagnostic::at(v.span(), "`sheet` is a sheet name or a 1-based position")
                        .label("not a sheet")
                        .help("write sheet = \"Products\" or sheet = 2"),
                );
                None
            }
        }
    }

    /// `range = "A5:F15"`.
    pub(super) fn range(&mut self, r: &Spanned<String>) -> Option<CellRange> {
        let parsed = CellRange::parse(r.get_ref());
        if parsed.is_none() {
            self.err(
                Diagnostic::at(r.span(), format!("`{}` is not a cell range", r.get_ref()))
                    .label("not a range")
                    .help("write the top-left and bottom-right cells, e.g. range = \"A5:F15\"; leave the end row out to read to the last row: \"A3:K\""),
            );
        }
        parsed
    }

    /// A single ASCII character option (`"\t"` and `"tab"` mean a tab).
    pub(super) fn byte_char(&mut self, v: &Spanned<String>, key: &str) -> Option<u8> {
        let s = v.get_ref();
        let c = match s.as_str() {
            "tab" | "\\t" => "\t",
            other => other,
        };
        match c.as_bytes() {
            [b] if b.is_ascii() && *b != b'\n' && *b != b'\r' => Some(*b),
            _ => {
                self.err(
                    Diagnostic::at(
                        v.span(),
                        format!("`{key}` must be one ASCII character, not `{s}`"),
                    )
                    .label("one character expected")
                    .help("write e.g. \";\", \",\", \"|\" or \"\\t\" for a tab"),
                );
                None
            }
        }
    }

    fn run(&mut self, raw: Option<&RawRun>) -> RunPolicy {
        let mut policy = RunPolicy {
            max_errors: None,
            max_error_rate: None,
            min_rows: DEFAULT_MIN_ROWS,
            unrouted: Unrouted::Count,
            max_open_files: DEFAULT_MAX_OPEN_FILES,
            formula_guard: FormulaGuard::Warn,
            group_memory: DEFAULT_GROUP_MEMORY_MB << 20,
        };
        let Some(raw) = raw else { return policy };
        if let Some(g) = &raw.formula_guard {
            match g.get_ref().as_str() {
                "warn" => policy.formula_guard = FormulaGuard::Warn,
                "escape" => policy.formula_guard = FormulaGuard::Escape,
                "off" => policy.formula_guard = FormulaGuard::Off,
                other => self.err(
                    Diagnostic::at(
                        g.span(),
                        format!("`formula_guard` is `warn`, `escape` or `off`, not `{other}`"),
                    )
                    .label("unknown policy")
                    .suggest(other, ["warn", "escape", "off"]),
                ),
            }
        }
        if let Some(m) = &raw.group_memory_mb {
            match usize::try_from(*m.get_ref()) {
                Ok(v) if (1..=1 << 20).contains(&v) => policy.group_memory = v << 20,
                _ => self.err(
                    Diagnostic::at(m.span(), "`group_memory_mb` must be between 1 and 1048576")
                        .label("out of range"),
                ),
            }
        }
        if let Some(u) = &raw.unrouted {
            match u.get_ref().as_str() {
                "count" => policy.unrouted = Unrouted::Count,
                "warn" => policy.unrouted = Unrouted::Warn,
                "reject" => policy.unrouted = Unrouted::Reject,
                other => self.err(
                    Diagnostic::at(
                        u.span(),
                        format!("`unrouted` is `count`, `warn` or `reject`, not `{other}`"),
                    )
                    .label("unknown policy")
                    .suggest(other, ["count", "warn", "reject"]),
                ),
            }
        }
        if let Some(m) = &raw.max_open_files {
            match usize::try_from(*m.get_ref()) {
                Ok(v) if v >= 1 => policy.max_open_files = v,
                _ => self.err(
                    Diagnostic::at(m.span(), "`max_open_files` must be 1 or more")
                        .label("too small"),
                ),
            }
        }
        if let Some(m) = &raw.max_errors {
            match u64::try_from(*m.get_ref()) {
                Ok(v) => policy.max_errors = Some(v),
                Err(_) => self.err(
                    Diagnostic::at(m.span(), "`max_errors` must be 0 or more").label("negative"),
                ),
            }
        }
        if let Some(r) = &raw.max_error_rate {
            let v = *r.get_ref();
            if (0.0..=1.0).contains(&v) {
                policy.max_error_rate = Some(v);
            } else {
                self.err(
                    Diagnostic::at(
                        r.span(),
                        "`max_error_rate` is a share of rows between 0 and 1",
                    )
                    .label("out of range")
                    .help("write 0.05 for 5 %"),
                );
            }
        }
        if let Some(m) = &raw.min_rows {
            match u64::try_from(*m.get_ref()) {
                Ok(v) if v >= 1 => policy.min_rows = v,
                _ => self.err(
                    Diagnostic::at(m.span(), "`min_rows` must be 1 or more").label("too small"),
                ),
            }
        }
        policy
    }

    fn structure(&mut self, name: &str, raw: &RawStructure) -> Option<Structure> {
        let before = self.errs.len();
        let mut fields = Vec::new();
        let mut unique = Vec::new();
        for (fname, f) in &raw.fields {
            if let Some((field, is_unique)) = self.field(fname, f) {
                if let Some(sev) = is_unique {
                    unique.push(UniqueKey {
                        fields: vec![fields.len()],
                        severity: sev,
                    });
                }
                fields.push(field);
            }
        }
        if raw.fields.is_empty() {
            self.err(Diagnostic::new(
                None,
                format!("structure `{name}` declares no field; add `[structures.{name}.fields]`"),
            ));
        }
        let field_names: Vec<&str> = raw.fields.keys().map(String::as_str).collect();
        for key in &raw.unique {
            let mut idx = Vec::new();
            for f in key.get_ref() {
                match field_names.iter().position(|n| *n == f.get_ref()) {
                    Some(i) => idx.push(i),
                    None => self.unknown_field(f, &field_names, name),
                }
            }
            if key.get_ref().is_empty() {
                self.err(
                    Diagnostic::at(key.span(), "a `unique` key needs at least one field")
                        .label("empty key"),
                );
            } else if idx.len() == key.get_ref().len() {
                unique.push(UniqueKey {
                    fields: idx,
                    severity: Severity::Error,
                });
            }
        }
        let mut structure = Structure {
            name: name.to_string(),
            fields,
            checks: Vec::new(),
            unique,
        };
        for (i, check) in raw.checks.iter().enumerate() {
            if let Some(c) = self.check(i, check, &structure, &field_names) {
                structure.checks.push(c);
            }
        }
        (self.errs.len() == before).then_some(structure)
    }

    fn unknown_field(&mut self, f: &Spanned<String>, known: &[&str], structure: &str) {
        self.err(
            Diagnostic::at(
                f.span(),
                format!(
                    "structure `{structure}` has no field named `{}`",
                    f.get_ref()
                ),
            )
            .label("unknown field")
            .suggest(f.get_ref(), known.iter().copied()),
        );
    }

    /// Compiles one field; the second value is `Some(severity)` when it is `unique`.
    fn field(&mut self, fname: &str, raw: &Spanned<RawField>) -> Option<(Field, Option<Severity>)> {
        let before = self.errs.len();
        let f = raw.get_ref();
        let fname = fname.to_string();
        let entry = raw.span();
        let sev = self.severities(f.severity.as_ref());
        let ty = self.field_type(&fname, f);

        if let Some(ty) = &ty {
            self.check_applicable(f, ty, &fname);
        }
        let pattern = f
            .pattern
            .as_ref()
            .and_then(|p| match regex::Regex::new(p.get_ref()) {
                Ok(_) => Some((p.get_ref().clone(), sev.pattern)),
                Err(e) => {
                    self.err(
                        Diagnostic::at(
                            p.span(),
                            format!("the pattern of `{fname}` is not a valid regular expression"),
                        )
                        .label("invalid regex")
                        .help(one_line(&e.to_string())),
                    );
                    None
                }
            });
        let enum_rule = f.enum_values.as_ref().and_then(|values| {
            let mut out = Vec::new();
            for v in values.get_ref() {
                match v {
                    toml::Value::String(s) => out.push(s.clone()),
                    toml::Value::Integer(i) => out.push(i.to_string()),
                    toml::Value::Float(x) => out.push(x.to_string()),
                    toml::Value::Boolean(b) => out.push(b.to_string()),
                    _ => {
                        self.err(
                            Diagnostic::at(
                                values.span(),
                                format!(
                                    "the `enum` of `{fname}` must list strings, numbers or booleans"
                                ),
                            )
                            .label("unsupported value"),
                        );
                        return None;
                    }
                }
            }
            if out.is_empty() {
                self.err(
                    Diagnostic::at(values.span(), format!("the `enum` of `{fname}` is empty"))
                        .label("no value"),
                );
                return None;
            }
            Some(EnumRule {
                values: out,
                ignore_case: f.ignore_case.unwrap_or(false),
                severity: sev.enum_,
            })
        });
        if f.ignore_case.is_some() && f.enum_values.is_none() {
            self.err(Diagnostic::new(
                Some(entry.clone()),
                format!(
                    "`ignore_case` on `{fname}` applies to `enum`, which the field does not declare"
                ),
            ));
        }
        let (min, max) = match &ty {
            Some(ty) if ty.is_ordered() => (
                f.min
                    .as_ref()
                    .and_then(|b| self.bound(b, ty, &fname, "min")),
                f.max
                    .as_ref()
                    .and_then(|b| self.bound(b, ty, &fname, "max")),
            ),
            _ => (None, None),
        };
        if let (Some(a), Some(b), Some(ty)) = (&min, &max, &ty)
            && bound_order(&a.canonical, &b.canonical, ty) == Some(std::cmp::Ordering::Greater)
        {
            self.err(
                Diagnostic::at(
                    entry.clone(),
                    format!(
                        "`min` ({}) of `{fname}` is greater than its `max` ({})",
                        a.shown, b.shown
                    ),
                )
                .label("no value can pass"),
            );
        }
        let min_length = f
            .min_length
            .as_ref()
            .and_then(|l| self.length(l, "min_length"));
        let max_length = f
            .max_length
            .as_ref()
            .and_then(|l| self.length(l, "max_length"));
        if let (Some(a), Some(b)) = (min_length, max_length)
            && a > b
        {
            self.err(Diagnostic::at(
                entry.clone(),
                format!("`min_length` ({a}) of `{fname}` is greater than its `max_length` ({b})"),
            ));
        }
        if self.errs.len() != before {
            return None;
        }
        let column = f
            .column
            .as_ref()
            .map(|c| c.get_ref().clone())
            .unwrap_or_else(|| fname.clone());
        let span = f.column.as_ref().map(|c| c.span()).unwrap_or(entry);
        let field = Field {
            name: fname,
            column,
            span,
            ty: ty?,
            trim: f.trim.unwrap_or(false),
            type_severity: sev.ty,
            required: f.required.unwrap_or(false).then_some(sev.required),
            pattern,
            enum_rule,
            min,
            max,
            range_severity: sev.range,
            min_length,
            max_length,
            length_severity: sev.length,
        };
        Some((field, f.unique.unwrap_or(false).then_some(sev.unique)))
    }

    fn field_type(&mut self, fname: &str, f: &RawField) -> Option<FieldType> {
        let ty_name =
            f.ty.as_ref()
                .map(|t| t.get_ref().as_str())
                .unwrap_or("string");
        let decimal = f
            .decimal_separator
            .as_ref()
            .and_then(|d| self.separator(d, &['.', ','], "decimal_separator"))
            .unwrap_or('.');
        let thousands = f.thousands_separator.as_ref().and_then(|d| {
            self.separator(
                d,
                &['.', ',', ' ', '\u{a0}', '\u{202f}', '\'', '_'],
                "thousands_separator",
            )
        });
        if thousands == Some(decimal)
            && let Some(t) = &f.thousands_separator
        {
            self.err(
                Diagnostic::at(
                    t.span(),
                    format!("`{fname}` uses `{decimal}` both as decimal and thousands separator"),
                )
                .label("same as decimal_separator"),
            );
        }
        let formats = |default: &[&str]| -> Vec<String> {
            match f.format.as_ref().map(|f| f.get_ref()) {
                Some(toml::Value::String(s)) => vec![s.clone()],
                Some(toml::Value::Array(a)) if a.iter().all(|v| v.is_str()) => a
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect(),
                // Anything else is reported below as an empty list of formats.
                Some(_) => Vec::new(),
                None => default.iter().map(|s| s.to_string()).collect(),
            }
        };
        let ty = match ty_name {
            "string" => FieldType::String,
            "integer" => FieldType::Integer { thousands },
            "decimal" => {
                let scale = match &f.scale {
                    Some(s) if (0..=MAX_DECIMAL_SCALE).contains(s.get_ref()) => *s.get_ref() as u32,
                    Some(s) => {
                        self.err(
                            Diagnostic::at(
                                s.span(),
                                format!("`scale` must be between 0 and {MAX_DECIMAL_SCALE}"),
                            )
                            .label("out of range"),
                        );
                        DEFAULT_DECIMAL_SCALE
                    }
                    None => DEFAULT_DECIMAL_SCALE,
                };
                FieldType::Decimal {
                    scale,
                    decimal,
                    thousands,
                }
            }
            "number" => FieldType::Number { decimal, thousands },
            "boolean" => {
                let words = |v: &Option<Spanned<Vec<String>>>, default: &[&str]| -> Vec<String> {
                    match v {
                        Some(v) => v
                            .get_ref()
                            .iter()
                            .map(|s| s.trim().to_lowercase())
                            .collect(),
                        None => default.iter().map(|s| s.to_string()).collect(),
                    }
                };
                let t = words(&f.true_values, &["true", "yes", "y", "1", "t"]);
                let fl = words(&f.false_values, &["false", "no", "n", "0", "f"]);
                if let Some(both) = t.iter().find(|w| fl.contains(w)) {
                    self.err(Diagnostic::new(
                        f.true_values.as_ref().map(|v| v.span()),
                        format!("`{both}` is listed both as a true and a false value of `{fname}`"),
                    ));
                }
                FieldType::Boolean {
                    true_values: t,
                    false_values: fl,
                }
            }
            "date" => FieldType::Date {
                formats: formats(&["%Y-%m-%d"]),
            },
            "datetime" => FieldType::Datetime {
                formats: formats(&[
                    "%Y-%m-%dT%H:%M:%S",
                    "%Y-%m-%d %H:%M:%S",
                    "%Y-%m-%dT%H:%M:%S%.f",
                    "%Y-%m-%d %H:%M:%S%.f",
                ]),
            },
            "email" => FieldType::Email,
            "url" => FieldType::Url,
            "uuid" => FieldType::Uuid,
            other => {
                let span = f.ty.as_ref().map(|t| t.span());
                self.err(
                    Diagnostic::new(span, format!("unknown type `{other}` for field `{fname}`"))
                        .label("unknown type")
                        .suggest(other, TYPE_NAMES)
                        .help_if_none(format!("the types are: {}", TYPE_NAMES.join(", "))),
                );
                return None;
            }
        };
        if let (FieldType::Date { formats } | FieldType::Datetime { formats }, Some(fmt)) =
            (&ty, &f.format)
        {
            if formats.is_empty() {
                self.err(
                    Diagnostic::at(fmt.span(), "`format` must be a string or a list of strings")
                        .label("no format"),
                );
            }
            for format in formats {
                if let Err(why) = check_format(format) {
                    let help = match strftime_for(format) {
                        Some(s) => format!(
                            "did you mean \"{s}\"? Formats use strftime codes (%d day, %m month, %Y year, %H:%M:%S time)"
                        ),
                        None => {
                            "use chrono's strftime syntax, e.g. \"%d/%m/%Y\" or \"%Y-%m-%d %H:%M\""
                                .into()
                        }
                    };
                    self.err(
                        Diagnostic::at(
                            fmt.span(),
                            format!("`{format}` is not a valid date format: {why}"),
                        )
                        .label("invalid format")
                        .help(help),
                    );
                }
            }
        }
        Some(ty)
    }

    /// Type-specific options on a field of another type are mistakes, not silent no-ops.
    fn check_applicable(&mut self, f: &RawField, ty: &FieldType, fname: &str) {
        let numeric = matches!(
            ty,
            FieldType::Integer { .. } | FieldType::Decimal { .. } | FieldType::Number { .. }
        );
        let fractional = matches!(ty, FieldType::Decimal { .. } | FieldType::Number { .. });
        let temporal = matches!(ty, FieldType::Date { .. } | FieldType::Datetime { .. });
        let boolean = matches!(ty, FieldType::Boolean { .. });
        let decimal = matches!(ty, FieldType::Decimal { .. });
        let options: [(&str, Option<Range<usize>>, bool); 8] = [
            ("format", f.format.as_ref().map(|v| v.span()), temporal),
            (
                "decimal_separator",
                f.decimal_separator.as_ref().map(|v| v.span()),
                fractional,
            ),
            (
                "thousands_separator",
                f.thousands_separator.as_ref().map(|v| v.span()),
                numeric,
            ),
            ("scale", f.scale.as_ref().map(|v| v.span()), decimal),
            (
                "true_values",
                f.true_values.as_ref().map(|v| v.span()),
                boolean,
            ),
            (
                "false_values",
                f.false_values.as_ref().map(|v| v.span()),
                boolean,
            ),
            ("min", f.min.as_ref().map(|v| v.span()), ty.is_ordered()),
            ("max", f.max.as_ref().map(|v| v.span()), ty.is_ordered()),
        ];
        for (key, span, ok) in options {
            if let (Some(span), false) = (span, ok) {
                let help = match key {
                    "min" | "max" => "for text use `min_length` / `max_length`".to_string(),
                    _ => format!("remove `{key}` or change the type"),
                };
                self.err(
                    Diagnostic::at(
                        span,
                        format!(
                            "`{key}` does not apply to `{fname}`, a field of type `{}`",
                            ty.name()
                        ),
                    )
                    .label("not for this type")
                    .help(help),
                );
            }
        }
    }

    fn separator(&mut self, v: &Spanned<String>, allowed: &[char], key: &str) -> Option<char> {
        let mut chars = v.get_ref().chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) if allowed.contains(&c) => Some(c),
            _ => {
                let list: Vec<String> = allowed.iter().map(|c| format!("{c:?}")).collect();
                self.err(
                    Diagnostic::at(
                        v.span(),
                        format!("`{key}` must be one of {}", list.join(", ")),
                    )
                    .label("unsupported separator"),
                );
                None
            }
        }
    }

    fn length(&mut self, v: &Spanned<i64>, key: &str) -> Option<u64> {
        match u64::try_from(*v.get_ref()) {
            Ok(n) => Some(n),
            Err(_) => {
                self.err(
                    Diagnostic::at(v.span(), format!("`{key}` must be 0 or more"))
                        .label("negative"),
                );
                None
            }
        }
    }

    fn bound(
        &mut self,
        v: &Spanned<toml::Value>,
        ty: &FieldType,
        fname: &str,
        key: &str,
    ) -> Option<Bound> {
        let shown = match v.get_ref() {
            toml::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let canonical = match (ty, v.get_ref()) {
            (FieldType::Integer { .. }, toml::Value::Integer(i)) => Some(i.to_string()),
            (FieldType::Integer { .. }, toml::Value::String(s)) => {
                s.trim().parse::<i64>().ok().map(|i| i.to_string())
            }
            (FieldType::Decimal { .. } | FieldType::Number { .. }, toml::Value::Integer(i)) => {
                Some(i.to_string())
            }
            (FieldType::Decimal { .. } | FieldType::Number { .. }, toml::Value::Float(x))
                if x.is_finite() =>
            {
                Some(x.to_string())
            }
            (FieldType::Decimal { .. } | FieldType::Number { .. }, toml::Value::String(s)) => {
                let s = s.trim();
                is_plain_decimal(s).then(|| s.to_string())
            }
            (FieldType::Date { .. }, toml::Value::Datetime(d))
                if d.date.is_some() && d.time.is_none() =>
            {
                Some(d.to_string())
            }
            (FieldType::Date { .. }, toml::Value::String(s)) => {
                chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
                    .ok()
                    .map(|d| d.format("%Y-%m-%d").to_string())
            }
            (FieldType::Datetime { .. }, toml::Value::Datetime(d))
                if d.date.is_some() && d.time.is_some() && d.offset.is_none() =>
            {
                chrono::NaiveDateTime::parse_from_str(&d.to_string(), "%Y-%m-%dT%H:%M:%S%.f")
                    .ok()
                    .map(|d| d.format("%Y-%m-%dT%H:%M:%S%.f").to_string())
            }
            (FieldType::Datetime { .. }, toml::Value::String(s)) => {
                let s = s.trim().replacen(' ', "T", 1);
                chrono::NaiveDateTime::parse_from_str(&s, "%Y-%m-%dT%H:%M:%S%.f")
                    .ok()
                    .map(|d| d.format("%Y-%m-%dT%H:%M:%S%.f").to_string())
            }
            _ => None,
        };
        if canonical.is_none() {
            let expected = match ty {
                FieldType::Date { .. } => "a date written 2024-12-31",
                FieldType::Datetime { .. } => "a date-time written 2024-12-31T23:59:00",
                FieldType::Integer { .. } => "a whole number",
                _ => "a number (write exact decimals as strings, e.g. \"19.99\")",
            };
            self.err(
                Diagnostic::at(v.span(), format!("`{key}` of `{fname}` must be {expected}"))
                    .label("not a valid bound"),
            );
        }
        if let (Some(c), FieldType::Decimal { scale, .. }) = (&canonical, ty) {
            let places = c.split_once('.').map_or(0, |(_, frac)| frac.len());
            if places > *scale as usize {
                self.err(
                    Diagnostic::at(v.span(), format!("`{key}` of `{fname}` has {places} decimal places but the field keeps {scale}"))
                        .label("more places than `scale`")
                        .help(format!("raise `scale` to {places} or round the bound")),
                );
                return None;
            }
        }
        canonical.map(|canonical| Bound { canonical, shown })
    }

    fn severities(&mut self, raw: Option<&Spanned<toml::Value>>) -> RuleSeverities {
        let mut s = RuleSeverities::default();
        let Some(raw) = raw else { return s };
        match raw.get_ref() {
            toml::Value::String(v) => match self.severity_word(v, raw.span()) {
                Some(sev) => s = RuleSeverities::all(sev),
                None => return s,
            },
            toml::Value::Table(t) => {
                for (rule, v) in t {
                    let Some(word) = v.as_str() else {
                        self.err(Diagnostic::at(
                            raw.span(),
                            format!("the severity of `{rule}` must be \"error\" or \"warning\""),
                        ));
                        continue;
                    };
                    let Some(sev) = self.severity_word(word, raw.span()) else {
                        continue;
                    };
                    match rule.as_str() {
                        "type" => s.ty = sev,
                        "required" => s.required = sev,
                        "unique" => s.unique = sev,
                        "pattern" => s.pattern = sev,
                        "enum" => s.enum_ = sev,
                        "range" => s.range = sev,
                        "length" => s.length = sev,
                        other => self.err(
                            Diagnostic::at(raw.span(), format!("`{other}` is not a rule name"))
                                .suggest(other, RULE_NAMES)
                                .help_if_none(format!("the rules are: {}", RULE_NAMES.join(", "))),
                        ),
                    }
                }
            }
            _ => self.err(
                Diagnostic::at(
                    raw.span(),
                    "`severity` must be \"error\", \"warning\" or a table by rule",
                )
                .help("e.g. severity = { pattern = \"warning\" }"),
            ),
        }
        s
    }

    fn severity_word(&mut self, word: &str, span: Range<usize>) -> Option<Severity> {
        match word {
            "error" => Some(Severity::Error),
            "warning" | "warn" => Some(Severity::Warning),
            other => {
                self.err(
                    Diagnostic::at(span, format!("unknown severity `{other}`"))
                        .label("unknown severity")
                        .help("write \"error\" (the row is rejected) or \"warning\" (the row is kept)"),
                );
                None
            }
        }
    }

    fn check(
        &mut self,
        i: usize,
        raw: &Spanned<RawCheck>,
        structure: &Structure,
        field_names: &[&str],
    ) -> Option<Check> {
        let c: &RawCheck = raw.get_ref();
        let name = c
            .name
            .as_ref()
            .map(|n| n.get_ref().clone())
            .unwrap_or_else(|| format!("check {}", i + 1));
        let Some(rule) = &c.rule else {
            self.err(
                Diagnostic::at(raw.span(), format!("check `{name}` has no `rule`"))
                    .label("no rule")
                    .help("add e.g. rule = \"sale_price IS NULL OR sale_price <= price\""),
            );
            return None;
        };
        let severity = match &c.severity {
            Some(s) => self.severity_word(s.get_ref(), s.span())?,
            None => Severity::Error,
        };
        let field = match &c.field {
            Some(f) => match field_names.iter().position(|n| *n == f.get_ref()) {
                Some(i) => Some(i),
                None => {
                    self.unknown_field(f, field_names, &structure.name);
                    return None;
                }
            },
            None => None,
        };
        let expr = match parse_sql(rule.get_ref()) {
            Ok(e) => e,
            Err(e) => {
                self.err(
                    Diagnostic::at(
                        rule.span(),
                        format!("the rule of check `{name}` is not a valid SQL expression"),
                    )
                    .label("invalid SQL")
                    .help(e),
                );
                return None;
            }
        };
        let mut ok = true;
        for root in expr.clone().meta().root_names() {
            if !field_names.contains(&root.as_str()) {
                ok = false;
                self.err(
                    Diagnostic::at(
                        rule.span(),
                        format!(
                            "check `{name}` refers to `{root}`, which is not a field of `{}`",
                            structure.name
                        ),
                    )
                    .label("unknown name")
                    .suggest(root.as_str(), field_names.iter().copied())
                    .help_if_none(format!(
                        "declare it in `[structures.{}.fields]` to use it in a check",
                        structure.name
                    )),
                );
            }
        }
        // Without every field compiled there is no schema to type-check against.
        if !ok || structure.fields.len() != field_names.len() {
            return None;
        }
        // Type-check the predicate on an empty frame of the typed fields.
        let columns = structure
            .fields
            .iter()
            .map(|f| Series::new_empty(f.name.as_str().into(), &f.ty.dtype()).into())
            .collect();
        let outcome = crate::panics::contain(|| {
            DataFrame::new(0, columns)
                .and_then(|df| df.lazy().select([expr.clone().alias("check")]).collect())
        })
        .unwrap_or_else(|panic| Err(polars::prelude::PolarsError::ComputeError(panic.into())));
        match outcome {
            Ok(df) => {
                match df.columns().first().map(|c| c.dtype().clone()) {
                    Some(polars::prelude::DataType::Boolean) => {}
                    Some(other) => {
                        self.err(
                        Diagnostic::at(rule.span(), format!("the rule of check `{name}` gives a `{other}`, not true or false"))
                            .label("not a predicate")
                            .help("write a condition, e.g. `price >= 0`"),
                    );
                        return None;
                    }
                    None => return None,
                }
            }
            Err(e) => {
                self.err(
                    Diagnostic::at(
                        rule.span(),
                        format!(
                            "the rule of check `{name}` cannot be evaluated on the declared types"
                        ),
                    )
                    .label("type error")
                    .help(polars_message(&e)),
                );
                return None;
            }
        }
        let message = c
            .message
            .clone()
            .unwrap_or_else(|| format!("check `{name}` failed: {}", rule.get_ref()));
        let schema = super::arith::schema(
            structure
                .fields
                .iter()
                .map(|f| (f.name.as_str(), f.ty.dtype())),
        );
        Some(Check {
            name,
            rule: rule.get_ref().clone(),
            expr: super::arith::checked(expr, &schema),
            field,
            message,
            severity,
        })
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct RuleSeverities {
    ty: Severity,
    required: Severity,
    unique: Severity,
    pattern: Severity,
    enum_: Severity,
    range: Severity,
    length: Severity,
}

impl RuleSeverities {
    fn all(s: Severity) -> Self {
        RuleSeverities {
            ty: s,
            required: s,
            unique: s,
            pattern: s,
            enum_: s,
            range: s,
            length: s,
        }
    }
}

/// How two canonical bounds of `ty` compare (`None` when they cannot be compared).
fn bound_order(a: &str, b: &str, ty: &FieldType) -> Option<std::cmp::Ordering> {
    match ty {
        FieldType::Integer { .. } | FieldType::Decimal { .. } | FieldType::Number { .. } => {
            a.parse::<f64>().ok()?.partial_cmp(&b.parse::<f64>().ok()?)
        }
        // ISO dates and date-times compare as text.
        _ => Some(a.cmp(b)),
    }
}

/// `12`, `-3.50`, `+0.1`: the canonical decimal text the validator parses.
pub(crate) fn is_plain_decimal(s: &str) -> bool {
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    !int.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
        && !(s.contains('.') && frac.is_empty())
}

fn check_format(format: &str) -> Result<(), String> {
    use chrono::format::{Item, StrftimeItems};
    if format.is_empty() {
        return Err("it is empty".into());
    }
    if StrftimeItems::new(format).any(|i| matches!(i, Item::Error)) {
        return Err("it has an unknown `%` directive".into());
    }
    // Without a single code the format matches only its own text: every date would be rejected.
    if !StrftimeItems::new(format).any(|i| matches!(i, Item::Numeric(..) | Item::Fixed(_))) {
        return Err("it has no `%` code, so it matches no date".into());
    }
    Ok(())
}

/// The strftime format meant by a spreadsheet-style one (`dd/mm/yyyy` → `%d/%m/%Y`), when it
/// reads as one.
pub(super) fn strftime_for(format: &str) -> Option<String> {
    if format.contains('%') {
        return None;
    }
    let mut out = String::new();
    let mut rest = format;
    let mut any = false;
    let mut after_hour = false;
    while !rest.is_empty() {
        let lower = rest.to_ascii_lowercase();
        let (code, len) = if lower.starts_with("yyyy") {
            ("%Y", 4)
        } else if lower.starts_with("yy") {
            ("%y", 2)
        } else if lower.starts_with("dd") {
            ("%d", 2)
        } else if lower.starts_with("hh") {
            after_hour = true;
            ("%H", 2)
        } else if rest.starts_with("MM") || (lower.starts_with("mm") && !after_hour) {
            ("%m", 2)
        } else if lower.starts_with("mm") || lower.starts_with("mi") || lower.starts_with("nn") {
            ("%M", 2)
        } else if lower.starts_with("ss") {
            ("%S", 2)
        } else {
            let c = rest.chars().next()?;
            if c.is_ascii_alphabetic() {
                return None;
            }
            out.push(c);
            rest = &rest[c.len_utf8()..];
            continue;
        };
        any = true;
        out.push_str(code);
        rest = &rest[len..];
    }
    any.then_some(out)
}

/// A SQL expression of the mapping, parsed. The SQL engine's own panics on odd input (an
/// `INTERVAL` it cannot read) are contained and reported like its errors.
///
/// Parentheses nest at most [`MAX_SQL_NESTING`] deep and square brackets at most
/// [`MAX_SQL_BRACKETS`]: the SQL parser backtracks on a broken expression, twice the work for
/// each level of parentheses and four times for each of brackets (an unclosed
/// `SUBSTR(s, 2, SUBSTR(s, 2, …` twenty deep takes seconds, forty would never end).
pub fn parse_sql(text: &str) -> Result<polars::prelude::Expr, String> {
    let (parens, brackets) = nesting(text);
    if parens > MAX_SQL_NESTING {
        return Err(format!(
            "it nests parentheses {parens} deep, more than the {MAX_SQL_NESTING} an expression may; split it into columns, or close the parentheses it leaves open"
        ));
    }
    if brackets > MAX_SQL_BRACKETS {
        return Err(format!(
            "it nests square brackets {brackets} deep, more than the {MAX_SQL_BRACKETS} an expression may"
        ));
    }
    match crate::panics::contain(|| polars::sql::sql_expr(text)) {
        Ok(Ok(e)) => Ok(e),
        Ok(Err(e)) => Err(polars_message(&e)),
        Err(panic) => Err(one_line(&format!(
            "the SQL engine cannot read it: {}",
            panic.split(" (").next().unwrap_or(&panic)
        ))),
    }
}

/// The deepest a mapping's SQL expression may nest parentheses.
pub const MAX_SQL_NESTING: usize = 12;

/// The deepest a mapping's SQL expression may nest square brackets.
pub const MAX_SQL_BRACKETS: usize = 2;

/// How deep parentheses and square brackets nest in `text`, outside quoted strings and names.
fn nesting(text: &str) -> (usize, usize) {
    let (mut parens, mut brackets) = (0usize, 0usize);
    let (mut deepest_parens, mut deepest_brackets) = (0usize, 0usize);
    let mut quote: Option<char> = None;
    for c in text.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"' | '`') => quote = Some(c),
            (None, '(') => {
                parens += 1;
                deepest_parens = deepest_parens.max(parens);
            }
            (None, '[') => {
                brackets += 1;
                deepest_brackets = deepest_brackets.max(brackets);
            }
            (None, ')') => parens = parens.saturating_sub(1),
            (None, ']') => brackets = brackets.saturating_sub(1),
            _ => {}
        }
    }
    (deepest_parens, deepest_brackets)
}

pub(super) fn polars_message(e: &polars::prelude::PolarsError) -> String {
    one_line(&e.to_string())
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
