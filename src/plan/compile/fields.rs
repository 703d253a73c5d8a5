//! Fields (`mappings/README.md` §5): `[structures.NAME.fields]` entries, their column, their
//! type and its options (separators, `scale`, boolean words, date formats). The rules a field
//! may carry are compiled in [`super::rules`].

use std::ops::Range;

use toml::Spanned;

use super::Compiler;
use crate::issue::Severity;
use crate::plan::diagnostic::Diagnostic;
use crate::plan::raw::RawField;
use crate::plan::{DEFAULT_DECIMAL_SCALE, Field, FieldType, TYPE_NAMES};

const MAX_DECIMAL_SCALE: i64 = 18;

impl Compiler {
    /// Compiles one field; the second value is `Some(severity)` when it is `unique`.
    pub(super) fn field(
        &mut self,
        fname: &str,
        raw: &Spanned<RawField>,
    ) -> Option<(Field, Option<Severity>)> {
        let before = self.errs.len();
        let f = raw.get_ref();
        let fname = fname.to_string();
        let entry = raw.span();
        let sev = self.severities(f.severity.as_ref());
        let ty = self.field_type(&fname, f);

        if let Some(ty) = &ty {
            self.check_applicable(f, ty, &fname);
        }
        let pattern = self.pattern_rule(f, &fname, sev.pattern);
        let enum_rule = self.enum_rule(f, &fname, sev.enum_);
        if f.ignore_case.is_some() && f.enum_values.is_none() {
            self.err(Diagnostic::new(
                Some(entry.clone()),
                format!(
                    "`ignore_case` on `{fname}` applies to `enum`, which the field does not declare"
                ),
            ));
        }
        let (min, max) = self.bounds(f, ty.as_ref(), &fname, &entry);
        let (min_length, max_length) = self.lengths(f, &fname, &entry);
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
            exists_in: f
                .exists_in
                .as_ref()
                .map(|l| (l.get_ref().clone(), l.span(), sev.exists_in)),
        };
        Some((field, f.unique.unwrap_or(false).then_some(sev.unique)))
    }

    fn field_type(&mut self, fname: &str, f: &RawField) -> Option<FieldType> {
        let ty_name =
            f.ty.as_ref()
                .map(|t| t.get_ref().as_str())
                .unwrap_or("string");
        let (decimal, thousands) = self.separators(fname, f);
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
            "decimal" => FieldType::Decimal {
                scale: self.decimal_scale(f),
                decimal,
                thousands,
            },
            "number" => FieldType::Number { decimal, thousands },
            "boolean" => self.boolean_type(fname, f),
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
        self.date_formats(&ty, f);
        Some(ty)
    }

    /// `decimal_separator` (`.` by default) and `thousands_separator`, which must differ.
    fn separators(&mut self, fname: &str, f: &RawField) -> (char, Option<char>) {
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
        (decimal, thousands)
    }

    /// `scale` of a decimal: the places it keeps.
    fn decimal_scale(&mut self, f: &RawField) -> u32 {
        match &f.scale {
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
        }
    }

    /// A boolean's `true_values` and `false_values`, which must not share a word.
    fn boolean_type(&mut self, fname: &str, f: &RawField) -> FieldType {
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

    /// A date or date-time's `format`: strftime patterns, with a hint for spreadsheet ones.
    fn date_formats(&mut self, ty: &FieldType, f: &RawField) {
        if let (FieldType::Date { formats } | FieldType::Datetime { formats }, Some(fmt)) =
            (ty, &f.format)
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
