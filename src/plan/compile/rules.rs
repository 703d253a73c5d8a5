//! Rules (`mappings/README.md` §6): a field's `pattern`, `enum`, `min`/`max` bounds,
//! `min_length`/`max_length` and the `severity` of each rule.

use std::ops::Range;

use toml::Spanned;

use super::{Compiler, one_line};
use crate::issue::Severity;
use crate::plan::diagnostic::Diagnostic;
use crate::plan::raw::RawField;
use crate::plan::{Bound, EnumRule, FieldType};

const RULE_NAMES: [&str; 8] = [
    "type",
    "required",
    "unique",
    "pattern",
    "enum",
    "range",
    "length",
    "exists_in",
];

impl Compiler {
    /// `pattern = "…"`: a regular expression the value must match.
    pub(super) fn pattern_rule(
        &mut self,
        f: &RawField,
        fname: &str,
        severity: Severity,
    ) -> Option<(String, Severity)> {
        f.pattern
            .as_ref()
            .and_then(|p| match regex::Regex::new(p.get_ref()) {
                Ok(_) => Some((p.get_ref().clone(), severity)),
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
            })
    }

    /// `enum = [...]`: the values allowed, compared as text.
    pub(super) fn enum_rule(
        &mut self,
        f: &RawField,
        fname: &str,
        severity: Severity,
    ) -> Option<EnumRule> {
        f.enum_values.as_ref().and_then(|values| {
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
                severity,
            })
        })
    }

    /// `min` and `max` of an ordered type, and that `min` is not above `max`.
    pub(super) fn bounds(
        &mut self,
        f: &RawField,
        ty: Option<&FieldType>,
        fname: &str,
        entry: &Range<usize>,
    ) -> (Option<Bound>, Option<Bound>) {
        let (min, max) = match ty {
            Some(ty) if ty.is_ordered() => (
                f.min.as_ref().and_then(|b| self.bound(b, ty, fname, "min")),
                f.max.as_ref().and_then(|b| self.bound(b, ty, fname, "max")),
            ),
            _ => (None, None),
        };
        if let (Some(a), Some(b), Some(ty)) = (&min, &max, ty)
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
        (min, max)
    }

    /// `min_length` and `max_length`, and that the first is not above the second.
    pub(super) fn lengths(
        &mut self,
        f: &RawField,
        fname: &str,
        entry: &Range<usize>,
    ) -> (Option<u64>, Option<u64>) {
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
        (min_length, max_length)
    }

    pub(super) fn length(&mut self, v: &Spanned<i64>, key: &str) -> Option<u64> {
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

    pub(super) fn bound(
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

    pub(super) fn severities(&mut self, raw: Option<&Spanned<toml::Value>>) -> RuleSeverities {
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
                        "exists_in" => s.exists_in = sev,
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

    pub(super) fn severity_word(&mut self, word: &str, span: Range<usize>) -> Option<Severity> {
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
}

#[derive(Debug, Clone, Copy, Default)]
pub(super) struct RuleSeverities {
    pub(super) ty: Severity,
    pub(super) required: Severity,
    pub(super) unique: Severity,
    pub(super) pattern: Severity,
    pub(super) enum_: Severity,
    pub(super) range: Severity,
    pub(super) length: Severity,
    pub(super) exists_in: Severity,
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
            exists_in: s,
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
