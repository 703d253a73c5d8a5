//! `[source]` (`mappings/README.md` §3): which file to read and how — its path, format,
//! CSV dialect, encoding, header, sheet and range, and the size limits of a field and a part.
//!
//! The single-option readers here (`byte_char`, `encoding`, `sheet`, `range`) are shared with
//! `[lookups.NAME]` and with CSV targets.

use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::Spanned;

use super::Compiler;
use crate::plan::diagnostic::Diagnostic;
use crate::plan::raw::RawSource;
use crate::plan::{
    CellRange, DEFAULT_MAX_FIELD_BYTES, DEFAULT_MAX_PART_BYTES, HeaderNames, InputFormat, SheetRef,
    SourcePlan,
};

impl Compiler {
    pub(super) fn source(
        &mut self,
        raw: Option<&Spanned<RawSource>>,
        base: &Path,
        input: Option<&Path>,
    ) -> Option<SourcePlan> {
        let span = raw.map(|r| r.span());
        let empty = RawSource::default();
        let s = raw.map(|r| r.get_ref()).unwrap_or(&empty);
        let path = self.source_path(s, span.clone(), base, input);
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
        let header_row = self.header_row(s);
        let header_names = self.header_names(s);
        let format = s.format.as_ref().and_then(|f| self.input_format(f));
        let sheet = s.sheet.as_ref().and_then(|v| self.sheet(v));
        let range = s.range.as_ref().and_then(|r| self.range(r));
        let max_field_bytes = self.size_limit(
            s.max_field_bytes.as_ref(),
            "max_field_bytes",
            DEFAULT_MAX_FIELD_BYTES,
        );
        let max_part_bytes = self.size_limit(
            s.max_part_bytes.as_ref(),
            "max_part_bytes",
            DEFAULT_MAX_PART_BYTES,
        );
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

    /// The input file: `--input`, else `path` relative to the mapping file.
    fn source_path(
        &mut self,
        s: &RawSource,
        span: Option<Range<usize>>,
        base: &Path,
        input: Option<&Path>,
    ) -> Option<PathBuf> {
        match (input, &s.path) {
            (Some(input), _) => Some(input.to_path_buf()),
            (None, Some(p)) => Some(base.join(p.get_ref())),
            (None, None) => {
                self.err(
                    Diagnostic::new(span, "the mapping names no input file")
                        .help("set `path` in `[source]` (relative to the mapping file), or pass `--input FILE`"),
                );
                None
            }
        }
    }

    /// `header_row = N`: the line of the header record.
    fn header_row(&mut self, s: &RawSource) -> Option<u64> {
        match &s.header_row {
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
        }
    }

    /// `header_names = "strict"` or `"rename"`.
    fn header_names(&mut self, s: &RawSource) -> HeaderNames {
        match &s.header_names {
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
        }
    }

    /// `format = "csv"`, `"xlsx"`…: the input's format, when not told from the file.
    fn input_format(&mut self, f: &Spanned<String>) -> Option<InputFormat> {
        match f.get_ref().as_str() {
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
        }
    }

    /// `max_field_bytes` and `max_part_bytes`: a size of 1 or more, `default` when not given.
    fn size_limit(&mut self, m: Option<&Spanned<i64>>, key: &str, default: u64) -> u64 {
        match m {
            None => default,
            Some(m) if *m.get_ref() >= 1 => *m.get_ref() as u64,
            Some(m) => {
                self.err(
                    Diagnostic::at(m.span(), format!("`{key}` must be 1 or more"))
                        .label("not a size"),
                );
                default
            }
        }
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
}
