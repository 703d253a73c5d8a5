//! Values from outside the mapping file: `${VAR}` substitution and `--set KEY=VALUE` overrides.
//!
//! This module owns both rewrites of the parsed TOML tree, done before it is deserialized:
//! environment variables are expanded in every string value (never in keys), then each `--set`
//! replaces or adds one value. Every problem is a [`Diagnostic`] pointing at the value it is
//! about in the mapping file, and all of them are reported together. What was applied is
//! returned as [`Applied`] so that the run report can echo it.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;

use toml::Spanned;
use toml::de::{DeArray, DeTable, DeValue};

use super::diagnostic::Diagnostic;

const SET_FORM: &str = "expected KEY=VALUE, e.g. `lookups.brands.path=brands.csv`";

/// One `--set KEY=VALUE` from the command line.
#[derive(Debug, Clone, PartialEq)]
pub struct SetArg {
    pub key: Vec<String>,
    pub value: String,
}

impl SetArg {
    /// The argument as the user would write it: `a.b.c=VALUE`, with dotted segments quoted.
    pub fn text(&self) -> String {
        format!("{}={}", dotted(&self.key), self.value)
    }
}

/// `value` as the report may echo it: `***` for a variable whose name says it is a secret
/// (a token, a key, a password…), and a URL's password masked (`postgresql://app:***@db/x`).
pub fn concealed(name: &str, value: &str) -> String {
    const WORDS: [&str; 9] = [
        "KEY",
        "APIKEY",
        "AUTH",
        "TOKEN",
        "SECRET",
        "PASSWORD",
        "PASSWD",
        "CREDENTIAL",
        "CREDENTIALS",
    ];
    const ENDINGS: [&str; 4] = ["PASSWORD", "TOKEN", "SECRET", "APIKEY"];
    let upper = name.to_ascii_uppercase();
    let secret_name = upper
        .split(|c: char| !c.is_ascii_alphanumeric())
        .any(|word| WORDS.contains(&word) || ENDINGS.iter().any(|e| word.ends_with(e)));
    if secret_name && !value.is_empty() {
        return "***".into();
    }
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    // Each `scheme://user:password@` in the value.
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        let authority_end = tail.find(['/', '?', '#', ' ']).unwrap_or(tail.len());
        let authority = &tail[..authority_end];
        match authority.rfind('@') {
            Some(userinfo_end) => {
                let userinfo = &authority[..userinfo_end];
                match userinfo.find(':') {
                    Some(colon) => {
                        out.push_str(&userinfo[..colon]);
                        out.push_str(":***");
                    }
                    None => out.push_str(userinfo),
                }
                out.push_str(&authority[userinfo_end..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[authority_end..];
    }
    out.push_str(rest);
    // A URL's secret query parameters (`?token=…`, `&api_key=…`) too.
    if !out.contains(char::is_whitespace) && out.contains("://") {
        return crate::deliver::mask_url(&out);
    }
    out
}

/// What was applied, echoed in the run report.
#[derive(Debug, Clone, Default, serde::Serialize, PartialEq)]
pub struct Applied {
    /// Each variable used and the value substituted (its default when the default was used).
    pub variables: BTreeMap<String, String>,
    /// Each `--set`, as [`SetArg::text`], in the order applied.
    pub sets: Vec<String>,
}

/// Parses `lookups.brands.path=FILE`: the key is a dotted path whose segments may be quoted
/// (`columns."product.sku"=sku`); the value is everything after the first `=` and may be empty.
pub fn parse_set(arg: &str) -> Result<SetArg, String> {
    let mut key = Vec::new();
    let mut rest = arg;
    loop {
        let (segment, after) = match rest.trim_start().strip_prefix('"') {
            Some(quoted) => {
                let Some(end) = quoted.find('"') else {
                    return Err(format!(
                        "`{arg}` has an unclosed `\"` in its key; {SET_FORM}"
                    ));
                };
                (&quoted[..end], quoted[end + 1..].trim_start())
            }
            None => {
                let end = rest.find(['.', '=']).unwrap_or(rest.len());
                (rest[..end].trim(), &rest[end..])
            }
        };
        if segment.is_empty() {
            return Err(format!("`{arg}` has an empty key or key part; {SET_FORM}"));
        }
        key.push(segment.to_string());
        if let Some(next) = after.strip_prefix('.') {
            rest = next;
        } else if let Some(value) = after.strip_prefix('=') {
            let value = value.to_string();
            return Ok(SetArg { key, value });
        } else if after.is_empty() {
            return Err(format!("`{arg}` has no `=`; {SET_FORM}"));
        } else {
            return Err(format!(
                "`{arg}`: a quoted key part must be followed by `.` or `=`; {SET_FORM}"
            ));
        }
    }
}

/// Expands `${VAR}` in every string value of `doc`, then applies `sets` in order.
///
/// `env` looks a variable up (`std::env::var` in production). `cwd` resolves a relative value
/// set on a `path` key: command-line paths are relative to where the command runs.
///
/// `sets` must outlive `doc`: a set value that is TOML (`10`, `0.5`, `[1, 2]`) is parsed with
/// [`DeValue::parse`] and stays borrowed from the argument, since toml offers no other way to
/// build an integer or a float `DeValue`.
pub fn apply<'i>(
    doc: &mut Spanned<DeTable<'i>>,
    env: &dyn Fn(&str) -> Option<String>,
    sets: &'i [SetArg],
    cwd: &Path,
) -> (Applied, Vec<Diagnostic>) {
    let mut expander = Expander {
        env,
        variables: BTreeMap::new(),
        diagnostics: Vec::new(),
        secret: false,
    };
    for (key, value) in doc.get_mut().iter_mut() {
        if key.get_ref() == "notify"
            && let DeValue::Table(table) = value.get_mut()
        {
            // A webhook's URL is its secret, whatever its variable is called.
            for (key, value) in table.iter_mut() {
                expander.secret = key.get_ref() == "url";
                expander.walk(value);
            }
            expander.secret = false;
            continue;
        }
        if matches!(key.get_ref().as_ref(), "targets" | "lookups")
            && let DeValue::Table(entries) = value.get_mut()
        {
            // An HTTP target's or an API lookup's headers carry its tokens, whatever their
            // variables are called.
            for (_, entry) in entries.iter_mut() {
                let DeValue::Table(keys) = entry.get_mut() else {
                    expander.walk(entry);
                    continue;
                };
                for (key, value) in keys.iter_mut() {
                    expander.secret = key.get_ref() == "headers";
                    expander.walk(value);
                }
                expander.secret = false;
            }
            continue;
        }
        expander.walk(value);
    }
    let mut applied = Applied {
        variables: expander.variables,
        sets: Vec::new(),
    };
    let mut diagnostics = expander.diagnostics;
    for set in sets {
        match apply_set(doc, set, cwd) {
            Ok(()) if webhook_key(&set.key) || header_key(&set.key) => {
                applied.sets.push(format!("{}=***", dotted(&set.key)));
            }
            Ok(()) => applied.sets.push(concealed(&set.text(), &set.text())),
            Err(d) => diagnostics.push(d),
        }
    }
    (applied, diagnostics)
}

/// `[notify] url` (or the whole `[notify]` table), set with `--set`: a webhook's URL, whose
/// path is its secret.
fn webhook_key(key: &[String]) -> bool {
    match key {
        [table] => table == "notify",
        [table, key] => table == "notify" && key == "url",
        _ => false,
    }
}

/// A header of an HTTP target or an API lookup (`targets.NAME.headers.X`, or its whole
/// `headers` table), set with `--set`: its value is a token.
fn header_key(key: &[String]) -> bool {
    matches!(key, [table, _, headers, ..] if (table == "targets" || table == "lookups") && headers == "headers")
}

struct Expander<'e> {
    env: &'e dyn Fn(&str) -> Option<String>,
    variables: BTreeMap<String, String>,
    diagnostics: Vec<Diagnostic>,
    /// The value being expanded is a secret (a webhook's URL): its variables are echoed as
    /// `***`, whatever their names.
    secret: bool,
}

impl Expander<'_> {
    fn walk(&mut self, value: &mut Spanned<DeValue<'_>>) {
        let span = value.span();
        match value.get_mut() {
            DeValue::String(s) if s.contains('$') => *s = Cow::Owned(self.expand(s, &span)),
            DeValue::Array(items) => items.iter_mut().for_each(|item| self.walk(item)),
            DeValue::Table(table) => table.iter_mut().for_each(|(_, v)| self.walk(v)),
            _ => {}
        }
    }

    /// `s` with every `${NAME}`, `${NAME:-default}` and `$${` replaced; problems are reported at
    /// `span` and leave the reference out.
    fn expand(&mut self, s: &str, span: &Range<usize>) -> String {
        let mut out = String::with_capacity(s.len());
        let mut rest = s;
        while let Some(dollar) = rest.find('$') {
            out.push_str(&rest[..dollar]);
            let after = &rest[dollar + 1..];
            if let Some(tail) = after.strip_prefix("${") {
                out.push_str("${");
                rest = tail;
                continue;
            }
            let Some(body) = after.strip_prefix('{') else {
                out.push('$');
                rest = after;
                continue;
            };
            let Some(end) = body.find('}') else {
                self.diagnostics.push(
                    Diagnostic::at(span.clone(), "unclosed `${` in this value")
                        .label("no `}` after `${`")
                        .help("close it with `}`, or write `$${` for a literal `${`"),
                );
                return out;
            };
            rest = &body[end + 1..];
            let reference = &body[..end];
            let (name, default) = match reference.split_once(":-") {
                Some((name, default)) => (name, Some(default)),
                None => (reference, None),
            };
            if !is_name(name) {
                self.diagnostics.push(
                    Diagnostic::at(
                        span.clone(),
                        format!("`${{{reference}}}` is not a valid variable reference"),
                    )
                    .label("invalid variable name")
                    .help(
                        "write `${NAME}` or `${NAME:-default}`, NAME being letters, digits and \
                         `_`, not starting with a digit",
                    ),
                );
                continue;
            }
            let set = (self.env)(name).filter(|v| default.is_none() || !v.is_empty());
            let Some(value) = set.or_else(|| default.map(str::to_string)) else {
                self.diagnostics.push(
                    Diagnostic::at(
                        span.clone(),
                        format!("environment variable `{name}` is not set"),
                    )
                    .label("used here")
                    .help(format!("set it, or give a default: `${{{name}:-value}}`")),
                );
                continue;
            };
            out.push_str(&value);
            let shown = if self.secret {
                "***".to_string()
            } else {
                concealed(name, &value)
            };
            // A variable used in a secret value too stays concealed.
            if self.variables.get(name).is_none_or(|v| v != "***") {
                self.variables.insert(name.to_string(), shown);
            }
        }
        out.push_str(rest);
        out
    }
}

/// `[A-Za-z_][A-Za-z0-9_]*`.
fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn apply_set<'i>(
    doc: &mut Spanned<DeTable<'i>>,
    set: &'i SetArg,
    cwd: &Path,
) -> Result<(), Diagnostic> {
    let value = set_value(set, cwd)?;
    let root_span = doc.span();
    match set.key.as_slice() {
        [] => Err(Diagnostic::new(
            None,
            format!("`--set {}` has an empty key; {SET_FORM}", set.text()),
        )),
        [only] => {
            put_in_table(doc.get_mut(), root_span, only, value);
            Ok(())
        }
        [first, .., _] => {
            let mut current = child(doc.get_mut(), root_span, first);
            for depth in 1..set.key.len() - 1 {
                current = step(current, set, depth)?;
            }
            put(current, set, value)
        }
    }
}

/// The value of `set`: TOML when it parses as a value, else the text itself; a relative string
/// on a `path` key of an input (source, lookup) is joined onto `cwd`. A target's path stays
/// relative: it is relative to the output folder.
fn set_value<'i>(set: &'i SetArg, cwd: &Path) -> Result<DeValue<'i>, Diagnostic> {
    let value = match DeValue::parse(&set.value) {
        Ok(v) => v.into_inner(),
        Err(_) => DeValue::String(Cow::Borrowed(&set.value)),
    };
    match value {
        DeValue::String(s)
            if set.key.last().is_some_and(|k| k == "path")
                && set.key.first().is_none_or(|k| k != "targets")
                && !s.is_empty()
                && Path::new(s.as_ref()).is_relative() =>
        {
            match cwd.join(s.as_ref()).into_os_string().into_string() {
                Ok(joined) => Ok(DeValue::String(Cow::Owned(joined))),
                Err(_) => Err(Diagnostic::new(
                    None,
                    format!(
                        "cannot apply `--set {}`: the working directory `{}` is not valid UTF-8",
                        set.text(),
                        cwd.display()
                    ),
                )
                .help("give an absolute path instead")),
            }
        }
        other => Ok(other),
    }
}

/// Walks from `current` (reached by `set.key[..depth]`) into `set.key[depth]`.
fn step<'a, 'i>(
    current: &'a mut Spanned<DeValue<'i>>,
    set: &SetArg,
    depth: usize,
) -> Result<&'a mut Spanned<DeValue<'i>>, Diagnostic> {
    let span = current.span();
    match current.get_mut() {
        DeValue::Table(table) => Ok(child(table, span, &set.key[depth])),
        DeValue::Array(items) => element(items, span, set, depth),
        other => Err(not_a_table(other, span, set, depth)),
    }
}

/// Replaces or adds `set.key[last]` in `current` (reached by the rest of the key).
fn put<'i>(
    current: &mut Spanned<DeValue<'i>>,
    set: &SetArg,
    value: DeValue<'i>,
) -> Result<(), Diagnostic> {
    let depth = set.key.len() - 1;
    let span = current.span();
    match current.get_mut() {
        DeValue::Table(table) => put_in_table(table, span, &set.key[depth], value),
        DeValue::Array(items) => {
            let old = element(items, span, set, depth)?;
            *old = respan(value, &old.span());
        }
        other => return Err(not_a_table(other, span, set, depth)),
    }
    Ok(())
}

/// The value under `key`, created as an empty table (spanning its parent) when missing.
fn child<'a, 'i>(
    table: &'a mut DeTable<'i>,
    span: Range<usize>,
    key: &str,
) -> &'a mut Spanned<DeValue<'i>> {
    let key = Spanned::new(span.clone(), Cow::Owned(key.to_string()));
    table
        .entry(key)
        .or_insert_with(|| Spanned::new(span, DeValue::Table(DeTable::new())))
}

fn put_in_table<'i>(table: &mut DeTable<'i>, span: Range<usize>, key: &str, value: DeValue<'i>) {
    match table.get_mut(key) {
        Some(old) => *old = respan(value, &old.span()),
        None => {
            let value = respan(value, &span);
            table.insert(Spanned::new(span, Cow::Owned(key.to_string())), value);
        }
    }
}

/// Element `set.key[depth]` of an array reached by `set.key[..depth]`.
fn element<'a, 'i>(
    items: &'a mut DeArray<'i>,
    span: Range<usize>,
    set: &SetArg,
    depth: usize,
) -> Result<&'a mut Spanned<DeValue<'i>>, Diagnostic> {
    let len = items.len();
    let here = dotted(&set.key[..depth]);
    let Ok(index) = set.key[depth].parse::<usize>() else {
        let what = format!("`{here}` is an array: index it with a number, like `{here}.0`");
        return Err(set_error(span, set, what));
    };
    items.get_mut(index).ok_or_else(|| {
        let entries = if len == 1 { "entry" } else { "entries" };
        let wanted = dotted(&set.key[..=depth]);
        let what = format!("`{here}` has {len} {entries}, so there is no `{wanted}`");
        set_error(span, set, what)
    })
}

fn not_a_table(value: &DeValue<'_>, span: Range<usize>, set: &SetArg, depth: usize) -> Diagnostic {
    let ty = value.type_str();
    let article = if matches!(ty, "integer" | "array") {
        "an"
    } else {
        "a"
    };
    let what = format!(
        "`{}` is {article} {ty}, not a table",
        dotted(&set.key[..depth])
    );
    set_error(span, set, what)
}

fn set_error(span: Range<usize>, set: &SetArg, what: String) -> Diagnostic {
    Diagnostic::at(span, format!("cannot apply `--set {}`: {what}", set.text()))
        .label("this value is in the way")
        .help(format!(
            "check the key `{}` against the mapping",
            dotted(&set.key)
        ))
}

/// `value` with every span in it, keys included, set to `span`: parsed from the command line,
/// its own spans would point at unrelated places of the mapping file.
fn respan<'i>(value: DeValue<'i>, span: &Range<usize>) -> Spanned<DeValue<'i>> {
    let value = match value {
        DeValue::Array(items) => DeValue::Array(
            items
                .into_iter()
                .map(|v| respan(v.into_inner(), span))
                .collect(),
        ),
        DeValue::Table(table) => DeValue::Table(
            table
                .into_iter()
                .map(|(k, v)| {
                    let k = Spanned::new(span.clone(), k.into_inner());
                    (k, respan(v.into_inner(), span))
                })
                .collect(),
        ),
        other => other,
    };
    Spanned::new(span.clone(), value)
}

/// `a.b."c.d"`: key segments joined with dots, quoted when they would not read back as one.
fn dotted(key: &[String]) -> String {
    let quoted: Vec<String> = key
        .iter()
        .map(|s| {
            if s.is_empty() || s.contains(['.', '=', '"']) || s.trim() != s {
                format!("\"{s}\"")
            } else {
                s.clone()
            }
        })
        .collect();
    quoted.join(".")
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use serde::Deserialize;

    use super::*;

    fn doc(text: &str) -> Spanned<DeTable<'_>> {
        DeTable::parse(text).expect("valid TOML")
    }

    fn env(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    fn cwd() -> PathBuf {
        PathBuf::from("/home/me/run")
    }

    fn sets(args: &[&str]) -> Vec<SetArg> {
        args.iter()
            .map(|a| parse_set(a).expect("valid --set"))
            .collect()
    }

    /// Expands with `vars` and applies `sets`.
    fn run<'i>(
        text: &'i str,
        vars: &'static [(&'static str, &'static str)],
        sets: &'i [SetArg],
    ) -> (Spanned<DeTable<'i>>, Applied, Vec<Diagnostic>) {
        let mut d = doc(text);
        let (applied, diags) = apply(&mut d, &env(vars), sets, &cwd());
        (d, applied, diags)
    }

    /// The value at a dotted path (numbers index arrays).
    fn at<'a, 'i>(doc: &'a Spanned<DeTable<'i>>, path: &str) -> &'a Spanned<DeValue<'i>> {
        let mut parts = path.split('.');
        let first = parts.next().expect("a path");
        let mut v = doc.get_ref().get(first).expect("present");
        for part in parts {
            v = match part.parse::<usize>() {
                Ok(i) => v.get_ref().get(i),
                Err(_) => v.get_ref().get(part),
            }
            .unwrap_or_else(|| panic!("`{path}` present"));
        }
        v
    }

    fn str_at<'a>(doc: &'a Spanned<DeTable<'_>>, path: &str) -> &'a str {
        at(doc, path).get_ref().as_str().expect("a string")
    }

    fn span_of(text: &str, needle: &str) -> Range<usize> {
        let start = text.find(needle).expect("needle in text");
        start..start + needle.len()
    }

    // --- substitution ---

    #[test]
    fn substitutes_a_set_variable() {
        let text = "[source]\npath = \"${DIR}/in.csv\"\n";
        let (d, applied, diags) = run(text, &[("DIR", "/data")], &[]);
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(str_at(&d, "source.path"), "/data/in.csv");
        assert_eq!(
            applied.variables,
            BTreeMap::from([("DIR".to_string(), "/data".to_string())])
        );
        assert!(applied.sets.is_empty());
    }

    #[test]
    fn default_applies_when_unset_or_empty() {
        let text =
            "a = \"${UNSET:-x}\"\nb = \"${EMPTY:-y}\"\nc = \"${SET:-z}\"\nd = \"${EMPTY}\"\n";
        let (d, applied, diags) = run(text, &[("EMPTY", ""), ("SET", "v")], &[]);
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(str_at(&d, "a"), "x");
        assert_eq!(str_at(&d, "b"), "y");
        assert_eq!(str_at(&d, "c"), "v");
        // Without `:-`, a variable set to "" is set.
        assert_eq!(str_at(&d, "d"), "");
        assert_eq!(applied.variables["UNSET"], "x");
        assert_eq!(applied.variables["SET"], "v");
        assert_eq!(applied.variables["EMPTY"], "");
    }

    #[test]
    fn default_may_be_empty_or_hold_any_character_but_a_brace() {
        let text = "a = \"<${UNSET:-}>\"\nb = \"${UNSET:-a:b-c d=$/x}\"\n";
        let (d, applied, diags) = run(text, &[], &[]);
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(str_at(&d, "a"), "<>");
        assert_eq!(str_at(&d, "b"), "a:b-c d=$/x");
        assert_eq!(applied.variables["UNSET"], "a:b-c d=$/x");
    }

    #[test]
    fn unset_variable_is_reported_at_the_value() {
        let text = "[source]\npath = \"${MISSING}/in.csv\"\n";
        let (_, applied, diags) = run(text, &[], &[]);
        assert_eq!(diags.len(), 1);
        assert_eq!(
            diags[0].message,
            "environment variable `MISSING` is not set"
        );
        assert_eq!(diags[0].span, Some(span_of(text, "\"${MISSING}/in.csv\"")));
        assert_eq!(
            diags[0].help.as_deref(),
            Some("set it, or give a default: `${MISSING:-value}`")
        );
        assert!(applied.variables.is_empty());
    }

    #[test]
    fn escape_and_lone_dollars_are_kept() {
        let text = "a = \"$${HOME} costs $5 $\"\nb = \"$$x\"\n";
        let (d, applied, diags) = run(text, &[("HOME", "/root")], &[]);
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(str_at(&d, "a"), "${HOME} costs $5 $");
        assert_eq!(str_at(&d, "b"), "$$x");
        assert!(applied.variables.is_empty());
    }

    #[test]
    fn substitutes_in_arrays_inline_tables_and_arrays_of_tables() {
        let text = r#"
list = ["${A}", 1, ["${B}"]]
inline = { x = "${A}", y = { z = "${B}" } }

[[enrich]]
path = "${A}.csv"

[[enrich]]
path = "${B}.csv"
"#;
        let (d, _, diags) = run(text, &[("A", "a"), ("B", "b")], &[]);
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(str_at(&d, "list.0"), "a");
        assert_eq!(
            at(&d, "list.1").get_ref().as_integer().map(|i| i.as_str()),
            Some("1")
        );
        assert_eq!(str_at(&d, "list.2.0"), "b");
        assert_eq!(str_at(&d, "inline.x"), "a");
        assert_eq!(str_at(&d, "inline.y.z"), "b");
        assert_eq!(str_at(&d, "enrich.0.path"), "a.csv");
        assert_eq!(str_at(&d, "enrich.1.path"), "b.csv");
    }

    #[test]
    fn keys_are_never_substituted() {
        let text = "\"${A}\" = \"${A}\"\n[t]\n\"${A}\" = 1\n";
        let (d, _, diags) = run(text, &[("A", "a")], &[]);
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(str_at(&d, "${A}"), "a");
        assert!(d.get_ref().get("a").is_none());
        assert!(at(&d, "t").get_ref().get("${A}").is_some());
    }

    #[test]
    fn every_problem_is_reported_together() {
        let text = "a = \"${ONE}\"\nb = \"${1BAD}\"\nc = \"x ${OPEN\"\nd = \"${TWO} ${THREE}\"\n";
        let (_, _, diags) = run(text, &[], &[]);
        let got: Vec<(&str, Option<Range<usize>>)> = diags
            .iter()
            .map(|d| (d.message.as_str(), d.span.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "environment variable `ONE` is not set",
                    Some(span_of(text, "\"${ONE}\""))
                ),
                (
                    "`${1BAD}` is not a valid variable reference",
                    Some(span_of(text, "\"${1BAD}\""))
                ),
                (
                    "unclosed `${` in this value",
                    Some(span_of(text, "\"x ${OPEN\""))
                ),
                (
                    "environment variable `TWO` is not set",
                    Some(span_of(text, "\"${TWO} ${THREE}\""))
                ),
                (
                    "environment variable `THREE` is not set",
                    Some(span_of(text, "\"${TWO} ${THREE}\""))
                ),
            ]
        );
    }

    #[test]
    fn invalid_names_are_reported() {
        for bad in ["${}", "${A-B}", "${A:B}", "${ A}", "${:-x}"] {
            let text = format!("a = \"{bad}\"\n");
            let (_, _, diags) = run(&text, &[("A", "a")], &[]);
            assert_eq!(diags.len(), 1, "{bad}: {diags:?}");
            assert!(
                diags[0]
                    .message
                    .ends_with("is not a valid variable reference"),
                "{bad}: {}",
                diags[0].message
            );
        }
    }

    // --- parse_set ---

    #[test]
    fn parses_a_plain_set() {
        let s = parse_set("lookups.brands.path=brands.csv").expect("valid");
        assert_eq!(s.key, ["lookups", "brands", "path"]);
        assert_eq!(s.value, "brands.csv");
        assert_eq!(s.text(), "lookups.brands.path=brands.csv");
    }

    #[test]
    fn value_is_everything_after_the_first_equals_and_may_be_empty() {
        let s = parse_set("a.b=x=y").expect("valid");
        assert_eq!(s.key, ["a", "b"]);
        assert_eq!(s.value, "x=y");
        let s = parse_set("a=").expect("valid");
        assert_eq!(s.key, ["a"]);
        assert_eq!(s.value, "");
    }

    #[test]
    fn parses_a_quoted_segment() {
        let s = parse_set("targets.api.columns.\"product.sku\"=sku").expect("valid");
        assert_eq!(s.key, ["targets", "api", "columns", "product.sku"]);
        assert_eq!(s.value, "sku");
        assert_eq!(s.text(), "targets.api.columns.\"product.sku\"=sku");
        let s = parse_set("\"a=b\".c=1").expect("valid");
        assert_eq!(s.key, ["a=b", "c"]);
    }

    #[test]
    fn rejects_malformed_sets() {
        let missing = parse_set("source.delimiter").expect_err("no =");
        assert!(missing.contains("has no `=`"), "{missing}");
        assert!(missing.contains("KEY=VALUE"), "{missing}");
        for bad in ["=1", "a..b=1", ".a=1", "a.=1", "\"\".a=1"] {
            let e = parse_set(bad).expect_err(bad);
            assert!(e.contains("empty key"), "{bad}: {e}");
        }
        assert!(
            parse_set("\"a.b=1")
                .expect_err("unclosed")
                .contains("unclosed")
        );
        assert!(
            parse_set("\"a\"b=1")
                .expect_err("junk")
                .contains("quoted key part")
        );
    }

    // --- sets ---

    #[test]
    fn set_replaces_a_value_keeping_its_span() {
        let text = "[source]\ndelimiter = \",\"\n";
        let s = sets(&["source.delimiter=;"]);
        let (d, applied, diags) = run(text, &[], &s);
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(str_at(&d, "source.delimiter"), ";");
        assert_eq!(at(&d, "source.delimiter").span(), span_of(text, "\",\""));
        assert_eq!(applied.sets, ["source.delimiter=;"]);
    }

    #[test]
    fn set_creates_missing_tables_spanning_the_parent() {
        let text = "[source]\npath = \"in.csv\"\n";
        let s = sets(&["run.limits.max_errors=10", "source.quote='"]);
        let (d, _, diags) = run(text, &[], &s);
        assert!(diags.is_empty(), "{diags:?}");
        let max = at(&d, "run.limits.max_errors");
        assert_eq!(max.get_ref().as_integer().map(|i| i.as_str()), Some("10"));
        assert_eq!(max.span(), d.span());
        assert_eq!(at(&d, "run").span(), d.span());
        let source = at(&d, "source").span();
        assert_eq!(at(&d, "source.quote").span(), source);
        assert_eq!(str_at(&d, "source.quote"), "'");
    }

    #[test]
    fn set_values_are_typed_when_they_are_toml() {
        let text = "";
        let s = sets(&[
            "i=10",
            "f=0.5",
            "b=true",
            "s=\"quoted\"",
            "a=[1, 2]",
            "t={ a = 1 }",
        ]);
        let (d, _, diags) = run(text, &[], &s);
        assert!(diags.is_empty(), "{diags:?}");
        assert!(at(&d, "i").get_ref().is_integer());
        assert_eq!(
            at(&d, "f").get_ref().as_float().map(|f| f.as_str()),
            Some("0.5")
        );
        assert_eq!(at(&d, "b").get_ref().as_bool(), Some(true));
        assert_eq!(str_at(&d, "s"), "quoted");
        assert_eq!(at(&d, "a").get_ref().as_array().map(|a| a.len()), Some(2));
        assert!(at(&d, "t.a").get_ref().is_integer());
        // Spans inside a parsed value point at the value it replaces, not into the argument.
        assert_eq!(at(&d, "t.a").span(), d.span());
    }

    #[test]
    fn set_values_fall_back_to_strings() {
        let s = sets(&["a=;", "b=../x.csv", "c=Rouge", "d=", "e=[1, 2", "f=${HOME}"]);
        let (d, applied, diags) = run("", &[("HOME", "/root")], &s);
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(str_at(&d, "a"), ";");
        assert_eq!(str_at(&d, "b"), "../x.csv");
        assert_eq!(str_at(&d, "c"), "Rouge");
        assert_eq!(str_at(&d, "d"), "");
        assert_eq!(str_at(&d, "e"), "[1, 2");
        // Sets are literal: no substitution in them.
        assert_eq!(str_at(&d, "f"), "${HOME}");
        assert!(applied.variables.is_empty());
    }

    #[test]
    fn set_path_is_resolved_against_the_working_directory() {
        let text = "[lookups.brands]\npath = \"brands.csv\"\n";
        let s = sets(&[
            "lookups.brands.path=../other/brands.csv",
            "source.path=\"in.csv\"",
            "sink.path=/abs/out.csv",
            "sink.name=rel.csv",
        ]);
        let (d, _, diags) = run(text, &[], &s);
        assert!(diags.is_empty(), "{diags:?}");
        let expect = |p: &str| cwd().join(p).to_string_lossy().into_owned();
        assert_eq!(
            str_at(&d, "lookups.brands.path"),
            expect("../other/brands.csv")
        );
        assert_eq!(str_at(&d, "source.path"), expect("in.csv"));
        assert_eq!(str_at(&d, "sink.path"), "/abs/out.csv");
        assert_eq!(str_at(&d, "sink.name"), "rel.csv");
    }

    #[test]
    fn set_indexes_arrays_of_tables() {
        let text = "[[enrich]]\non_miss = \"error\"\n\n[[enrich]]\non_miss = \"error\"\n";
        let s = sets(&["enrich.1.on_miss=null", "enrich.0.extra.x=1"]);
        let (d, applied, diags) = run(text, &[], &s);
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(str_at(&d, "enrich.0.on_miss"), "error");
        assert_eq!(str_at(&d, "enrich.1.on_miss"), "null");
        assert!(at(&d, "enrich.0.extra.x").get_ref().is_integer());
        assert_eq!(
            applied.sets,
            ["enrich.1.on_miss=null", "enrich.0.extra.x=1"]
        );
    }

    #[test]
    fn set_replaces_an_array_element() {
        let s = sets(&["list.1=9"]);
        let (d, _, diags) = run("list = [1, 2, 3]\n", &[], &s);
        assert!(diags.is_empty(), "{diags:?}");
        let n = at(&d, "list.1").get_ref().as_integer().map(|i| i.as_str());
        assert_eq!(n, Some("9"));
    }

    #[test]
    fn set_cannot_walk_into_a_non_table() {
        let text = "[source]\npath = \"in.csv\"\n\n[[enrich]]\nx = 1\n";
        let s = sets(&[
            "source.path.x=1",
            "enrich.2.x=1",
            "enrich.name=1",
            "source.delimiter=;",
        ]);
        let (d, applied, diags) = run(text, &[], &s);
        let got: Vec<(&str, Option<Range<usize>>)> = diags
            .iter()
            .map(|d| (d.message.as_str(), d.span.clone()))
            .collect();
        let enrich = at(&d, "enrich").span();
        assert_eq!(
            got,
            vec![
                (
                    "cannot apply `--set source.path.x=1`: `source.path` is a string, not a table",
                    Some(span_of(text, "\"in.csv\""))
                ),
                (
                    "cannot apply `--set enrich.2.x=1`: `enrich` has 1 entry, so there is no \
                     `enrich.2`",
                    Some(enrich.clone())
                ),
                (
                    "cannot apply `--set enrich.name=1`: `enrich` is an array: index it with a \
                     number, like `enrich.0`",
                    Some(enrich)
                ),
            ]
        );
        // The failed sets changed nothing; the others still applied.
        assert_eq!(str_at(&d, "source.path"), "in.csv");
        assert_eq!(str_at(&d, "source.delimiter"), ";");
        assert_eq!(applied.sets, ["source.delimiter=;"]);
    }

    #[test]
    fn set_errors_come_after_substitution_errors() {
        let s = sets(&["a.b=1"]);
        let (_, _, diags) = run("a = \"${NOPE}\"\n", &[], &s);
        assert_eq!(diags.len(), 2);
        assert!(diags[0].message.contains("`NOPE`"));
        assert!(diags[1].message.contains("`a` is a string"));
    }

    #[test]
    fn set_error_names_what_is_there() {
        let s = sets(&["n.x=1", "list.x.y=1"]);
        let (_, _, diags) = run("n = 3\nlist = [[1]]\n", &[], &s);
        assert_eq!(diags.len(), 2);
        assert!(diags[0].message.ends_with("`n` is an integer, not a table"));
        assert!(
            diags[1]
                .message
                .ends_with("`list` is an array: index it with a number, like `list.0`")
        );
    }

    #[test]
    fn sets_apply_in_order() {
        let s = sets(&["a=1", "a=2"]);
        let (d, applied, _) = run("", &[], &s);
        let n = at(&d, "a").get_ref().as_integer().map(|i| i.as_str());
        assert_eq!(n, Some("2"));
        assert_eq!(applied.sets, ["a=1", "a=2"]);
    }

    #[test]
    fn round_trips_through_the_deserializer() {
        #[derive(Debug, Deserialize, PartialEq)]
        struct Mapping {
            source: Source,
            run: Run,
            enrich: Vec<Enrich>,
        }
        #[derive(Debug, Deserialize, PartialEq)]
        struct Source {
            path: String,
            delimiter: String,
        }
        #[derive(Debug, Deserialize, PartialEq)]
        struct Run {
            max_errors: u64,
            max_error_rate: f64,
        }
        #[derive(Debug, Deserialize, PartialEq)]
        struct Enrich {
            path: String,
            on_miss: String,
        }

        let text = r#"
[source]
path = "${DATA:-/srv}/in.csv"
delimiter = ","

[run]
max_errors = 5

[[enrich]]
path = "/srv/brands.csv"
on_miss = "error"
"#;
        let s = sets(&[
            "source.delimiter=;",
            "run.max_errors=10",
            "run.max_error_rate=0.5",
            "enrich.0.path=b.csv",
            "enrich.0.on_miss=null",
        ]);
        let (d, applied, diags) = run(text, &[], &s);
        assert!(diags.is_empty(), "{diags:?}");
        let mapping = Mapping::deserialize(toml::de::Deserializer::from(d)).expect("deserializes");
        assert_eq!(
            mapping,
            Mapping {
                source: Source {
                    path: "/srv/in.csv".into(),
                    delimiter: ";".into(),
                },
                run: Run {
                    max_errors: 10,
                    max_error_rate: 0.5,
                },
                enrich: vec![Enrich {
                    path: cwd().join("b.csv").to_string_lossy().into_owned(),
                    on_miss: "null".into(),
                }],
            }
        );
        assert_eq!(applied.variables["DATA"], "/srv");
        assert_eq!(applied.sets.len(), 5);
    }

    #[test]
    fn headers_set_on_the_command_line_are_concealed() {
        let s = sets(&[
            "lookups.brands.headers.X-Api=abc123",
            "targets.api.headers={ Authorization = \"Bearer abc123\" }",
            "lookups.brands.url=https://api.test/b?page=2",
        ]);
        let text = "[lookups.brands]\n[targets.api]\n";
        let (_, applied, diags) = run(text, &[], &s);
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(
            applied.sets,
            [
                "lookups.brands.headers.X-Api=***",
                "targets.api.headers=***",
                "lookups.brands.url=https://api.test/b?page=2"
            ]
        );
    }

    #[test]
    fn secrets_are_concealed_in_what_the_report_echoes() {
        use super::concealed;
        assert_eq!(
            concealed("DATABASE_URL", "postgresql://app:s3cret@db:5432/shop"),
            "postgresql://app:***@db:5432/shop"
        );
        assert_eq!(
            concealed("X", "a postgres://u:p@h/x and https://h/y"),
            "a postgres://u:***@h/x and https://h/y"
        );
        assert_eq!(concealed("DIR", "/srv/data"), "/srv/data");
        assert_eq!(concealed("API_TOKEN", "abc"), "***");
        assert_eq!(concealed("STRIPE_SECRET_KEY", "sk_live"), "***");
        assert_eq!(concealed("PGPASSWORD", "x"), "***");
        assert_eq!(concealed("MONKEY", "banana"), "banana");
        assert_eq!(
            concealed("API_URL", "https://api.example.com/v1?token=abc&page=2"),
            "https://api.example.com/v1?token=***&page=2"
        );
        assert_eq!(
            concealed(
                "targets.db.url=postgresql://u:p@h/d",
                "targets.db.url=postgresql://u:p@h/d"
            ),
            "targets.db.url=postgresql://u:***@h/d"
        );
    }

    #[test]
    fn a_webhook_url_is_concealed_whatever_its_variable_is_called() {
        let text =
            "[notify]\nurl = \"${HOOK}\"\non = \"${ON}\"\n[source]\npath = \"${HOOK}.csv\"\n";
        let set = sets(&[
            "notify.url=https://hooks.example/s3cret",
            "notify.on=always",
        ]);
        let vars = &[
            ("HOOK", "https://hooks.slack.com/services/T/B/secret"),
            ("ON", "failure"),
        ];
        let (_, applied, errs) = run(text, vars, &set);
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(applied.variables["HOOK"], "***");
        assert_eq!(applied.variables["ON"], "failure");
        assert_eq!(applied.sets, ["notify.url=***", "notify.on=always"]);
        let echoed = serde_json::to_string(&applied).expect("serializes");
        assert!(!echoed.contains("secret"), "{echoed}");
        assert!(!echoed.contains("s3cret"), "{echoed}");
    }

    #[test]
    fn applied_serializes_deterministically() {
        let applied = Applied {
            variables: BTreeMap::from([
                ("B".to_string(), "2".to_string()),
                ("A".to_string(), "1".to_string()),
            ]),
            sets: vec!["x=1".to_string()],
        };
        assert_eq!(
            serde_json::to_string(&applied).expect("serializes"),
            r#"{"variables":{"A":"1","B":"2"},"sets":["x=1"]}"#
        );
    }
}
