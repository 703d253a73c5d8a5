//! The text forms of dates, date-times and decimals: `date_format`, `datetime_format`,
//! `decimal_separator` (target-wide) and `columns.X = { value, format, decimal_separator }`.
//! CSV and JSON write them as text; an XLSX column's `format` is a number format.

use toml::Spanned;

use super::super::Compiler;
use crate::plan::diagnostic::Diagnostic;
use crate::plan::raw::{RawColumnSpec, RawTarget};
use crate::plan::{ColumnFormat, Format, TextOptions};

impl Compiler {
    /// `columns.X = { value, format, decimal_separator }`.
    pub(in crate::plan::compile) fn column_format(
        &mut self,
        spec: &RawColumnSpec,
        format: Option<Format>,
    ) -> ColumnFormat {
        let mut cf = ColumnFormat::default();
        if format.is_some_and(Format::is_database) {
            for (key, v) in [
                ("format", &spec.format),
                ("decimal_separator", &spec.decimal_separator),
            ] {
                if let Some(v) = v {
                    self.database_stores_values(v.span(), key);
                }
            }
            return cf;
        }
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
    pub(in crate::plan::compile) fn text_options(
        &mut self,
        t: &RawTarget,
        format: Option<Format>,
    ) -> TextOptions {
        let mut o = TextOptions::default();
        for (key, v) in [
            ("date_format", &t.date_format),
            ("datetime_format", &t.datetime_format),
            ("decimal_separator", &t.decimal_separator),
        ] {
            let Some(v) = v else { continue };
            if format.is_some_and(Format::is_database) {
                self.database_stores_values(v.span(), key);
                continue;
            }
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

    /// A text form given to a SQLite target, which stores values, not their text.
    fn database_stores_values(&mut self, span: std::ops::Range<usize>, key: &str) {
        self.err(
            Diagnostic::at(span, format!("`{key}` applies to CSV and JSON targets"))
                .label("not used by database targets")
                .help("a database target stores numbers as numbers and dates as dates (ISO text 2024-01-31 in SQLite), which SQL date functions read; format them in a view or a query"),
        );
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
}
