//! `[structures.NAME]` (`mappings/README.md` §4): the structure `[source]` names, its fields
//! (compiled in [`super::fields`]), its `unique` keys and its checks ([`super::checks`]).
//!
//! Every declared structure is compiled, so problems in one not used yet are reported too.

use toml::Spanned;

use super::Compiler;
use crate::issue::Severity;
use crate::plan::diagnostic::Diagnostic;
use crate::plan::raw::{RawMapping, RawStructure};
use crate::plan::{Structure, UniqueKey};

impl Compiler {
    /// Resolves `[source] structure` and compiles that structure. `Some(None)`: no structure.
    pub(super) fn structure_ref(
        &mut self,
        raw: &RawMapping,
        base: &std::path::Path,
    ) -> Option<Option<Structure>> {
        let wanted = raw
            .source
            .as_ref()
            .and_then(|s| s.get_ref().structure.as_ref());
        let names: Vec<&str> = raw.structures.keys().map(String::as_str).collect();
        let Some(wanted) = wanted else {
            if let Some((first, s)) = raw.structures.first() {
                self.err(
                    Diagnostic::at(
                        s.span(),
                        format!(
                            "structure `{first}` is declared but `[source] structure` does not name it, so no row would be checked"
                        ),
                    )
                    .label("never used")
                    .help(format!("add `structure = \"{first}\"` to `[source]`")),
                );
                return None;
            }
            return Some(None);
        };
        // Every structure is compiled, so problems in one not used yet are reported too.
        let mut chosen = None;
        let mut found = false;
        for (name, s) in &raw.structures {
            let compiled = self.structure(name, s.get_ref(), base);
            if name == wanted.get_ref() {
                found = true;
                chosen = compiled;
            }
        }
        if !found {
            self.err(
                Diagnostic::at(
                    wanted.span(),
                    format!("there is no structure named `{}`", wanted.get_ref()),
                )
                .label("unknown structure")
                .suggest(wanted.get_ref(), names.iter().copied())
                .help_if_none(format!(
                    "declare it as `[structures.{}.fields]`",
                    wanted.get_ref()
                )),
            );
            return None;
        }
        chosen.map(Some)
    }

    pub(super) fn structure(
        &mut self,
        name: &str,
        raw: &RawStructure,
        base: &std::path::Path,
    ) -> Option<Structure> {
        let before = self.errs.len();
        // A Table Schema's fields first; the mapping's own add to them or replace them.
        let imported = match &raw.table_schema {
            Some(path) => self.table_schema(path, base)?,
            None => Default::default(),
        };
        let mut declared: indexmap::IndexMap<String, &Spanned<crate::plan::raw::RawField>> =
            imported
                .fields
                .iter()
                .map(|(n, f)| (n.clone(), f))
                .collect();
        for (fname, f) in &raw.fields {
            declared.insert(fname.clone(), f);
        }
        let mut fields = Vec::new();
        let mut unique = Vec::new();
        for (fname, f) in &declared {
            if let Some((field, is_unique)) = self.field(fname, f) {
                if let Some(sev) = is_unique {
                    unique.push(UniqueKey {
                        fields: vec![fields.len()],
                        severity: sev,
                    });
                }
                fields.push(field);
            }
        }
        if declared.is_empty() {
            self.err(Diagnostic::new(
                None,
                format!("structure `{name}` declares no field; add `[structures.{name}.fields]`"),
            ));
        }
        let field_names: Vec<&str> = declared.keys().map(String::as_str).collect();
        for key in raw.unique.iter().chain(&imported.unique) {
            let mut idx = Vec::new();
            for f in key.get_ref() {
                match field_names.iter().position(|n| *n == f.get_ref()) {
                    Some(i) => idx.push(i),
                    None => self.unknown_field(f, &field_names, name),
                }
            }
            if key.get_ref().is_empty() {
                self.err(
                    Diagnostic::at(key.span(), "a `unique` key needs at least one field")
                        .label("empty key"),
                );
            } else if idx.len() == key.get_ref().len() {
                unique.push(UniqueKey {
                    fields: idx,
                    severity: Severity::Error,
                });
            }
        }
        let mut structure = Structure {
            name: name.to_string(),
            fields,
            checks: Vec::new(),
            unique,
        };
        for (i, check) in raw.checks.iter().enumerate() {
            if let Some(c) = self.check(i, check, &structure, &field_names) {
                structure.checks.push(c);
            }
        }
        (self.errs.len() == before).then_some(structure)
    }

    pub(super) fn unknown_field(&mut self, f: &Spanned<String>, known: &[&str], structure: &str) {
        self.err(
            Diagnostic::at(
                f.span(),
                format!(
                    "structure `{structure}` has no field named `{}`",
                    f.get_ref()
                ),
            )
            .label("unknown field")
            .suggest(f.get_ref(), known.iter().copied()),
        );
    }
}
