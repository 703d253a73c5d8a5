//! The sentences written into `errors.csv`: each names the field, the rule and the value, and
//! says what a valid value looks like.

use crate::plan::{Field, FieldType, Structure};

/// Which rule a mask stands for, to word its message.
#[derive(Debug, Clone, Copy)]
pub enum RuleKind {
    Required,
    Type,
    Pattern,
    Enum,
    Min,
    Max,
    MinLength,
    MaxLength,
    Check(usize),
    /// A spreadsheet cell holding an error value (`#N/A`).
    CellError,
}

pub fn message(kind: &RuleKind, s: &Structure, field: Option<&Field>, value: &str) -> String {
    let Some(f) = field else {
        return match kind {
            RuleKind::Check(i) => s.checks[*i].message.clone(),
            _ => String::new(),
        };
    };
    let name = &f.name;
    match kind {
        RuleKind::Required => format!("`{name}` is required but the value is empty"),
        RuleKind::Type => format!("`{name}` must be {}, got `{value}`", expected(&f.ty)),
        RuleKind::Pattern => {
            let p = f.pattern.as_ref().map_or("", |(p, _)| p.as_str());
            format!("`{name}` must match the pattern `{p}`, got `{value}`")
        }
        RuleKind::Enum => {
            let (values, case) = match &f.enum_rule {
                Some(r) => (
                    r.values.join(", "),
                    if r.ignore_case { " (any case)" } else { "" },
                ),
                None => (String::new(), ""),
            };
            format!("`{name}` must be one of {values}{case}, got `{value}`")
        }
        RuleKind::Min => {
            let b = f.min.as_ref().map_or("", |b| b.shown.as_str());
            format!("`{name}` must be at least {b}, got `{value}`")
        }
        RuleKind::Max => {
            let b = f.max.as_ref().map_or("", |b| b.shown.as_str());
            format!("`{name}` must be at most {b}, got `{value}`")
        }
        RuleKind::MinLength | RuleKind::MaxLength => {
            let stripped = f.trim || f.ty.strips_space();
            let len = if stripped { value.trim() } else { value }.chars().count();
            let (word, n) = match kind {
                RuleKind::MinLength => ("at least", f.min_length.unwrap_or(0)),
                _ => ("at most", f.max_length.unwrap_or(0)),
            };
            format!("`{name}` must be {word} {n} characters long, got {len}")
        }
        RuleKind::Check(i) => s.checks[*i].message.clone(),
        RuleKind::CellError => format!(
            "`{name}` must be {}, but the cell holds the spreadsheet error `{value}`; fix the formula or the cell in the workbook",
            expected(&f.ty)
        ),
    }
}

/// What a valid value of `ty` looks like, e.g. "a date like 31/12/2024 (format `%d/%m/%Y`)".
fn expected(ty: &FieldType) -> String {
    match ty {
        FieldType::String => "text".into(),
        FieldType::Integer { thousands } => match thousands {
            Some(t) => format!("a whole number (thousands separator `{t}`)"),
            None => "a whole number".into(),
        },
        FieldType::Decimal {
            scale,
            decimal,
            thousands,
        } => {
            let mut s = format!("a decimal number with at most {scale} decimal places");
            s.push_str(&format!(" (decimal separator `{decimal}`"));
            if let Some(t) = thousands {
                s.push_str(&format!(", thousands separator `{t}`"));
            }
            s.push(')');
            s
        }
        FieldType::Number { decimal, .. } => format!("a number (decimal separator `{decimal}`)"),
        FieldType::Boolean {
            true_values,
            false_values,
        } => format!(
            "a boolean ({} or {})",
            true_values.join("/"),
            false_values.join("/")
        ),
        FieldType::Date { formats } => format!("a valid date {}", examples(formats, false)),
        FieldType::Datetime { formats } => format!("a valid date-time {}", examples(formats, true)),
        FieldType::Email => "an email address like name@example.com".into(),
        FieldType::Url => "a URL like https://example.com/page".into(),
        FieldType::Uuid => "a UUID like 123e4567-e89b-12d3-a456-426614174000".into(),
    }
}

fn examples(formats: &[String], time: bool) -> String {
    let sample = chrono::NaiveDate::from_ymd_opt(2024, 12, 31)
        .and_then(|d| d.and_hms_opt(23, 59, 0))
        .unwrap_or_default();
    let shown: Vec<String> = formats
        .iter()
        .map(|f| {
            let mut text = String::new();
            let rendered = if time {
                std::fmt::write(&mut text, format_args!("{}", sample.format(f)))
            } else {
                std::fmt::write(&mut text, format_args!("{}", sample.date().format(f)))
            };
            match rendered {
                Ok(()) => format!("like {text} (format `{f}`)"),
                Err(_) => format!("in format `{f}`"),
            }
        })
        .collect();
    shown.join(" or ")
}

pub fn duplicate(fields: &[&Field], values: &[&str], first: u64) -> String {
    if fields.len() == 1 {
        format!(
            "`{}` `{}` already appeared on row {first}; the first occurrence is kept",
            fields[0].name, values[0]
        )
    } else {
        let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
        format!(
            "the key ({}) = ({}) already appeared on row {first}; the first occurrence is kept",
            names.join(", "),
            values.join(", ")
        )
    }
}
