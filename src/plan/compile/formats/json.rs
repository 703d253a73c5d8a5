//! JSON and NDJSON targets: `envelope` (JSON only), `group_by`, and the nesting of dotted and
//! `[]` column names into objects and arrays.

use std::ops::Range;

use super::super::Compiler;
use super::super::Names;
use crate::plan::Format;
use crate::plan::diagnostic::Diagnostic;
use crate::plan::raw::RawTarget;
use indexmap::IndexMap;

/// The deepest a dotted column name may nest JSON objects: deeper is no import format, and the
/// writers must not recurse without bound.
const MAX_NESTING: usize = 32;

impl Compiler {
    /// JSON: `envelope = "records"` or `"data.items"`.
    pub(in crate::plan::compile) fn envelope(
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

    /// JSON and NDJSON: `group_by` fields.
    pub(in crate::plan::compile) fn group_by(
        &mut self,
        t: &RawTarget,
        name: &str,
        format: Option<Format>,
        names: &mut Names,
    ) -> Vec<String> {
        let Some(g) = &t.group_by else {
            return Vec::new();
        };
        if format.is_some() && !matches!(format, Some(Format::Json | Format::Ndjson)) {
            self.err(
                Diagnostic::at(
                    g.span(),
                    "`group_by` applies to JSON and NDJSON targets only",
                )
                .label("not used by this format")
                .help("group rows into one record per key in a .json or .ndjson target"),
            );
            return Vec::new();
        }
        if g.get_ref().is_empty() {
            self.err(
                Diagnostic::at(g.span(), format!("`group_by` of target `{name}` is empty"))
                    .label("no field")
                    .help("write e.g. group_by = [\"order_id\"]"),
            );
        }
        let mut out: Vec<String> = Vec::new();
        for f in g.get_ref() {
            if out.contains(f.get_ref()) {
                self.err(
                    Diagnostic::at(f.span(), format!("`{}` is listed twice", f.get_ref()))
                        .label("repeated"),
                );
                continue;
            }
            names.resolve(f.get_ref(), f.span());
            out.push(f.get_ref().clone());
        }
        out
    }

    /// `name[].x` columns gather a group's rows: they need `group_by` in a JSON target.
    pub(in crate::plan::compile) fn no_arrays(&mut self, columns: &IndexMap<String, Range<usize>>) {
        for (name, span) in columns {
            if name.contains("[]") {
                self.err(
                    Diagnostic::at(
                        span.clone(),
                        format!(
                            "column `{name}` is an array item, which only grouped JSON targets have"
                        ),
                    )
                    .label("array column")
                    .help("write a .json or .ndjson target with group_by = [\"...\"]"),
                );
            }
        }
    }

    /// Dotted JSON column names build nested objects: `a.b` and `a` cannot both be values.
    /// `name[].x` columns (grouped targets only) are the items of array `name`.
    /// Dotted column names nest JSON objects, at most [`MAX_NESTING`] levels deep.
    pub(in crate::plan::compile) fn nesting(
        &mut self,
        columns: &IndexMap<String, Range<usize>>,
        grouped: bool,
    ) {
        let names: Vec<&String> = columns.keys().collect();
        for (name, span) in columns {
            let depth = name.split('.').count();
            if depth > MAX_NESTING {
                self.err(
                    Diagnostic::at(
                        span.clone(),
                        format!(
                            "column `{}…` nests {depth} levels deep; JSON targets nest at most {MAX_NESTING}",
                            name.chars().take(40).collect::<String>()
                        ),
                    )
                    .label("too deep")
                    .help("use fewer dots in the column name (each dot opens a JSON object)"),
                );
                continue;
            }
            if name.contains("[]") {
                let ok = match name.split_once("[]") {
                    Some((array, item)) => {
                        !array.is_empty()
                            && !array.split('.').any(str::is_empty)
                            && item.strip_prefix('.').is_some_and(|i| {
                                !i.is_empty()
                                    && !i.contains("[]")
                                    && !i.split('.').any(str::is_empty)
                            })
                    }
                    None => false,
                };
                if !ok {
                    self.err(
                        Diagnostic::at(span.clone(), format!("column `{name}` is not an array item"))
                            .label("bad array column")
                            .help("write `array[].field`, e.g. `lines[].sku` or `lines[].price.amount` (one level of arrays)"),
                    );
                } else if let Some(clash) = name.split_once("[]").and_then(|(array, _)| {
                    names.iter().find(|n| {
                        !n.contains("[]")
                            && (n.as_str() == array || n.starts_with(&format!("{array}.")))
                    })
                }) {
                    self.err(
                        Diagnostic::at(span.clone(), format!("column `{name}` makes `{}` an array, but `{clash}` is a value there", name.split_once("[]").map(|(a, _)| a).unwrap_or_default()))
                            .label("array and value at once")
                            .help("rename one of the two columns"),
                    );
                } else if !grouped {
                    self.err(
                        Diagnostic::at(
                            span.clone(),
                            format!("column `{name}` gathers a group's rows, but the target has no `group_by`"),
                        )
                        .label("array column without group_by")
                        .help("add e.g. group_by = [\"order_id\"]"),
                    );
                }
                continue;
            }
            if name.split('.').any(str::is_empty) {
                self.err(
                    Diagnostic::at(
                        span.clone(),
                        format!("column `{name}` has an empty part between dots"),
                    )
                    .label("bad nested name"),
                );
                continue;
            }
            if let Some(child) = names.iter().find(|n| n.starts_with(&format!("{name}."))) {
                self.err(
                    Diagnostic::at(
                        span.clone(),
                        format!("column `{name}` is a value, but `{child}` makes it an object"),
                    )
                    .label("value and object at once")
                    .help(format!("rename `{name}`, e.g. to `{name}.value`")),
                );
            }
        }
    }
}
