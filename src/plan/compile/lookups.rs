//! `[lookups.NAME]` (`mappings/README.md` §10): reference tables read beside the input — their
//! file, key and reading options.

use std::path::Path;

use indexmap::IndexMap;
use toml::Spanned;

use super::Compiler;
use crate::plan::diagnostic::Diagnostic;
use crate::plan::raw::RawLookup;
use crate::plan::{Lookup, SourcePlan};

impl Compiler {
    pub(super) fn lookups(
        &mut self,
        raw: &IndexMap<String, Spanned<RawLookup>>,
        base: &Path,
    ) -> Vec<Lookup> {
        let mut out = Vec::new();
        for (name, l) in raw {
            let span = l.span();
            let l = l.get_ref();
            let path = match &l.path {
                Some(p) => Some(base.join(p.get_ref())),
                None => {
                    self.err(
                        Diagnostic::at(span.clone(), format!("lookup `{name}` has no `path`"))
                            .label("no file")
                            .help("add e.g. path = \"../samples/shop/brands.csv\" (relative to the mapping file)"),
                    );
                    None
                }
            };
            let key = match &l.key {
                Some(k) => self.string_list(k, "key"),
                None => {
                    self.err(
                        Diagnostic::at(span.clone(), format!("lookup `{name}` has no `key`"))
                            .label("no key")
                            .help("name the column rows are matched on: key = \"name\", or several: key = [\"region\", \"sku\"]"),
                    );
                    None
                }
            };
            let delimiter = l
                .delimiter
                .as_ref()
                .and_then(|d| self.byte_char(d, "delimiter"));
            let encoding = l.encoding.as_ref().and_then(|e| self.encoding(e));
            let sheet = l.sheet.as_ref().and_then(|v| self.sheet(v));
            let range = l.range.as_ref().and_then(|r| self.range(r));
            if let (Some(path), Some(key)) = (path, key) {
                // A lookup's header is its first row (of its range): no title-block detection.
                let header_row = Some(range.map_or(1, |r| u64::from(r.first_row)));
                out.push(Lookup {
                    name: name.clone(),
                    key,
                    ignore_case: l.ignore_case.unwrap_or(false),
                    trim: l.trim.unwrap_or(false),
                    source: SourcePlan {
                        delimiter,
                        encoding,
                        sheet,
                        range,
                        header_row,
                        header: Some(true),
                        ..SourcePlan::detect(path)
                    },
                    span,
                });
            }
        }
        out
    }
}
