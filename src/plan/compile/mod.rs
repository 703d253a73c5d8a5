//! Raw mapping → [`Plan`]: defaults, name resolution, regexes and SQL, all problems at once.
//!
//! Every check here pushes a [`Diagnostic`] and carries on, so one run of `rowferry check`
//! lists every problem of a mapping. Only a TOML syntax error stops early, since nothing after it
//! can be read.
//!
//! One file per section of `mappings/README.md`: [`source`] (§3 `[source]`), [`structures`]
//! (§4 `[structures.NAME]`), [`fields`] (§5 fields and their types), [`rules`] (§6 rules),
//! [`checks`] (§7 `[[structures.NAME.checks]]`), [`run`] (§8 `[run]`), [`lookups`]
//! (§10 `[lookups.NAME]`), [`enrich`] (§11 `[[enrich]]`), [`targets`] (§12 `[targets.NAME]`,
//! the part common to every format), [`formats`] (§12, the format table and what one format
//! reads) and [`notify`] (§13 `[notify]`).
//! This file holds the entry point, the [`Compiler`] every section adds its problems to, the
//! helpers they share, and [`parse_sql`], which every SQL expression goes through.
//!
//! Names are resolved against the declared fields and the fields added by earlier `enrich`
//! steps; any other name may be a column of the input, which only its header can tell, so it is
//! recorded as *deferred* ([`Names`]) and resolved by [`super::bind`] when the run starts.

mod checks;
mod enrich;
mod formats;
pub use formats::sheet_name_problem;
mod fields;
mod lookups;
mod notify;
mod rules;
mod run;
mod source;
mod structures;
mod table_schema;
mod targets;

use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use toml::Spanned;

use super::diagnostic::Diagnostic;
use super::keys;
use super::overrides::SetArg;
use super::raw::RawMapping;
use super::{Diagnostics, MappingFile, Plan};

/// An unknown key a `--set` put there is the `--set`'s: said so, rather than blamed on a line
/// of the mapping.
fn from_set(d: Diagnostic, path: &[keys::Segment], sets: &[SetArg]) -> Diagnostic {
    let dotted: Vec<&str> = path
        .iter()
        .filter_map(|s| match s {
            keys::Segment::Key(k) => Some(k.as_str()),
            _ => None,
        })
        .collect();
    let Some(set) = sets
        .iter()
        .find(|s| s.key.len() >= dotted.len() && s.key.iter().zip(&dotted).all(|(a, b)| a == b))
    else {
        return d;
    };
    let mut from = Diagnostic::new(
        None,
        format!(
            "{} — it comes from `--set {}`, not from the mapping file",
            d.message,
            set.text()
        ),
    );
    if let Some(help) = d.help {
        from = from.help(help);
    }
    from
}

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

    // A value of the wrong type (`required = "yes"`) stops serde at the first one: each is
    // reported, taken out, and the mapping read again, so every problem is reported at once.
    let mut ignored: Vec<Vec<keys::Segment>> = Vec::new();
    let mut wrong = Vec::new();
    let raw = loop {
        ignored.clear();
        let raw: Result<RawMapping, toml::de::Error> =
            serde_ignored::deserialize(toml::de::Deserializer::from(doc.clone()), |p| {
                ignored.push(keys::segments(&p))
            });
        match raw {
            Ok(raw) => break Some(raw),
            Err(e) => {
                wrong.push(toml_error(&e));
                let removed = e
                    .span()
                    .is_some_and(|span| remove_value(doc.get_mut(), &span));
                if !removed || wrong.len() >= 100 {
                    break None;
                }
            }
        }
    };
    for path in &ignored {
        errs.push(from_set(keys::unknown_key(&doc, path), path, sets));
    }
    errs.extend(wrong);
    let Some(raw) = raw else {
        return Err(fail(errs));
    };

    let base = path.parent().unwrap_or(Path::new("")).to_path_buf();
    let mut c = Compiler { errs };
    let structure = c.structure_ref(&raw, &base);
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
    let fields = match &structure {
        Some(Some(s)) => s.fields.as_slice(),
        _ => &[],
    };
    let enrich = c.enrich(&raw.enrich, &lookups, &mut names, fields);
    let targets = c.targets(&raw.targets, &mut names, &base);
    let notify = c.notify(raw.notify.as_ref());
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
        notify,
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

/// Takes the value at `span` out of `table` (at any depth); whether one was there.
fn remove_value(table: &mut toml::de::DeTable<'_>, span: &Range<usize>) -> bool {
    use toml::de::DeValue;
    let inside =
        |v: &toml::Spanned<DeValue<'_>>| v.span().start <= span.start && span.end <= v.span().end;
    let key = table.iter().find_map(|(k, v)| {
        let scalar = !matches!(v.get_ref(), DeValue::Table(_) | DeValue::Array(_));
        (v.span() == *span || (scalar && inside(v))).then(|| k.clone())
    });
    if let Some(key) = key {
        table.remove(&key);
        return true;
    }
    // Tables are searched whatever their span: an implicit one (`[a.b.c]`) spans its header only.
    for (_, v) in table.iter_mut() {
        let found = match v.get_mut() {
            DeValue::Table(t) => remove_value(t, span),
            DeValue::Array(a) => a.iter_mut().any(|item| match item.get_mut() {
                DeValue::Table(t) => remove_value(t, span),
                _ => false,
            }),
            _ => false,
        };
        if found {
            return true;
        }
    }
    false
}

fn toml_error(e: &toml::de::Error) -> Diagnostic {
    let message = e.message().trim().to_string();
    let message = if message.is_empty() {
        "the mapping is not valid TOML".to_string()
    } else {
        message
    };
    // Serde's words, with the fix a person needs.
    let help = if message.contains("expected a boolean") {
        Some("write true or false, without quotes")
    } else if message.contains("expected i64") || message.contains("expected u64") {
        Some("write a whole number, without quotes")
    } else if message.contains("expected f64") {
        Some("write a number, without quotes")
    } else {
        None
    };
    let message = message
        .replace("expected i64", "expected a whole number")
        .replace("expected u64", "expected a whole number")
        .replace("expected f64", "expected a number");
    match help {
        Some(help) => Diagnostic::new(e.span(), message).help(help),
        None => Diagnostic::new(e.span(), message),
    }
}

/// Names a row has at plan time, and the ones left to the input header.
struct Names {
    known: Vec<String>,
    deferred: Vec<(String, Range<usize>)>,
}

impl Names {
    fn resolve(&mut self, name: &str, span: Range<usize>) {
        if !self.known.iter().any(|k| k == name) && !self.deferred.iter().any(|(d, _)| d == name) {
            self.deferred.push((name.to_string(), span));
        }
    }
}

/// The compile step's state: every problem found so far, in the order found.
struct Compiler {
    errs: Vec<Diagnostic>,
}

impl Compiler {
    fn err(&mut self, d: Diagnostic) {
        self.errs.push(d);
    }

    /// Each key of `keys` that is given (`Some` span) is a problem where it does not apply:
    /// `why(key)` says so, `label` under it, and `help` when there is one.
    fn refuse_keys(
        &mut self,
        keys: &[(&str, Option<std::ops::Range<usize>>)],
        why: impl Fn(&str) -> String,
        label: &str,
        help: Option<&str>,
    ) {
        for (key, span) in keys {
            if let Some(span) = span {
                let mut d = Diagnostic::at(span.clone(), why(key)).label(label);
                if let Some(help) = help {
                    d = d.help(help);
                }
                self.err(d);
            }
        }
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
}

fn quoted_list(items: &[String]) -> String {
    items
        .iter()
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ")
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
