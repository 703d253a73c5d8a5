//! CSV and TSV targets: `delimiter`, `quote_style`, `line_ending`, `encoding`, `bom`, `null`,
//! `header`.

use super::super::Compiler;
use crate::plan::diagnostic::Diagnostic;
use crate::plan::raw::RawTarget;
use crate::plan::{CsvOptions, Format, QuoteStyle};

impl Compiler {
    pub(in crate::plan::compile) fn csv_options(
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
}
