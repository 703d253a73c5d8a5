//! CSV and TSV targets: `delimiter`, `quote_style`, `line_ending`, `encoding`, `bom`, `null`,
//! `header`.

use super::super::Compiler;
use crate::plan::diagnostic::Diagnostic;
use crate::plan::raw::RawTarget;
use crate::plan::{CsvOptions, Format, QuoteStyle};

impl Compiler {
    /// A CSV or TSV target's options; each given to another format is a problem.
    pub(in crate::plan::compile) fn csv_options(
        &mut self,
        t: &RawTarget,
        format: Option<Format>,
    ) -> Option<CsvOptions> {
        if format.is_some() && !matches!(format, Some(Format::Csv | Format::Tsv)) {
            self.csv_only(t);
        }
        let delimiter = match (&t.delimiter, format) {
            (Some(d), _) => self.byte_char(d, "delimiter")?,
            (None, Some(Format::Tsv)) => b'\t',
            _ => b',',
        };
        let quote_style = self.quote_style(t)?;
        let crlf = self.line_ending(t)?;
        let encoding = self.output_encoding(t)?;
        let bom = self.bom(t, encoding)?;
        let null = self.null(t, delimiter)?;
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

    /// The options only CSV and TSV read, given to a target of another format.
    fn csv_only(&mut self, t: &RawTarget) {
        let csv_only = [
            ("delimiter", t.delimiter.as_ref().map(|d| d.span())),
            ("quote_style", t.quote_style.as_ref().map(|d| d.span())),
            ("line_ending", t.line_ending.as_ref().map(|d| d.span())),
            ("encoding", t.encoding.as_ref().map(|d| d.span())),
            ("null", t.null.as_ref().map(|d| d.span())),
        ];
        self.refuse_keys(
            &csv_only,
            |key| format!("`{key}` applies to CSV and TSV targets only"),
            "not used by this format",
            None,
        );
    }

    fn quote_style(&mut self, t: &RawTarget) -> Option<QuoteStyle> {
        Some(
            match t.quote_style.as_ref().map(|q| (q, q.get_ref().as_str())) {
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
            },
        )
    }

    /// `line_ending`: whether records end in CRLF.
    fn line_ending(&mut self, t: &RawTarget) -> Option<bool> {
        Some(
            match t
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
            },
        )
    }

    /// `encoding`, which must be one encoding_rs can write.
    fn output_encoding(&mut self, t: &RawTarget) -> Option<&'static encoding_rs::Encoding> {
        let Some(e) = &t.encoding else {
            return Some(encoding_rs::UTF_8);
        };
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
        Some(found)
    }

    /// `bom`: by default only UTF-16 has one (Excel reads UTF-16 only with it).
    fn bom(&mut self, t: &RawTarget, encoding: &'static encoding_rs::Encoding) -> Option<bool> {
        let utf16 = encoding == encoding_rs::UTF_16LE || encoding == encoding_rs::UTF_16BE;
        match t.bom {
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
                None
            }
            Some(b) => Some(b),
            None => Some(utf16),
        }
    }

    /// `null`: the text of a null, which must be writable as a field.
    fn null(&mut self, t: &RawTarget, delimiter: u8) -> Option<String> {
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
        Some(null)
    }
}
