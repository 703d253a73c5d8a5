//! `[targets.NAME]` (`mappings/README.md` §12), what depends on the target's format: the format
//! table (`format`, or told from the path's extension), the CSV/TSV options (`delimiter`,
//! `quote_style`, `line_ending`, `encoding`, `bom`, `null`, `header`), the text formats of dates
//! and decimals (target-wide and per column), the XLSX sheet name and number formats, and the
//! JSON `envelope`. Each option given to a format that does not use it is a problem.

use std::path::Path;

use toml::Spanned;

use super::Compiler;
use crate::plan::diagnostic::Diagnostic;
use crate::plan::raw::{RawColumnSpec, RawTarget};
use crate::plan::{ColumnFormat, CsvOptions, Format, QuoteStyle, TextOptions};

impl Compiler {
    pub(super) fn format(&mut self, t: &RawTarget, path: &Spanned<String>) -> Option<Format> {
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

    pub(super) fn csv_options(
        &mut self,
        t: &RawTarget,
        format: Option<Format>,
    ) -> Option<CsvOptions> {
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
    pub(super) fn column_format(
        &mut self,
        spec: &RawColumnSpec,
        format: Option<Format>,
    ) -> ColumnFormat {
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
    pub(super) fn text_options(&mut self, t: &RawTarget, format: Option<Format>) -> TextOptions {
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
    pub(super) fn target_sheet(
        &mut self,
        t: &RawTarget,
        name: &str,
        format: Option<Format>,
    ) -> String {
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

    /// JSON: `envelope = "records"` or `"data.items"`.
    pub(super) fn envelope(
        &mut self,
        t: &RawTarget,
        format: Option<Format>,
    ) -> Option<Vec<String>> {
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
