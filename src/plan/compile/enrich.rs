//! `[[enrich]]` (`mappings/README.md` §11): steps that add a lookup's columns to each row —
//! which lookup, how a row matches its key (`match`), what it adds (`add`) and what happens on a
//! miss (`on_miss`, `default`).

use std::ops::Range;

use indexmap::IndexMap;
use toml::Spanned;

use super::{Compiler, Names, quoted_list};
use crate::plan::diagnostic::Diagnostic;
use crate::plan::raw::RawEnrich;
use crate::plan::{Enrich, Lookup, OnMiss};

impl Compiler {
    pub(super) fn enrich(
        &mut self,
        raw: &[Spanned<RawEnrich>],
        lookups: &[Lookup],
        names: &mut Names,
        fields: &[crate::plan::Field],
    ) -> Vec<Enrich> {
        // Fields' `exists_in` rules come first: they check declared fields, as read.
        let mut out = self.existence_rules(fields, lookups);
        for (i, e) in raw.iter().enumerate() {
            let span = e.span();
            let e = e.get_ref();
            let what = format!("enrich step {}", i + 1);
            let lookup = self.enrich_lookup(e, &span, &what, lookups);
            let (Some(li), Some(m), Some(add)) = (lookup, &e.match_, &e.add) else {
                if lookup.is_some() {
                    self.err(
                        Diagnostic::at(
                            span.clone(),
                            format!("{what} needs both `match` and `add`"),
                        )
                        .label("incomplete")
                        .help("e.g. match = { brand = \"name\" } and add = { brand_id = \"id\" }"),
                    );
                }
                continue;
            };
            let l = &lookups[li];
            // `match`: row field → key column; every key column exactly once.
            let (matches, ok) = self.enrich_matches(m, l, names);
            let (adds, ok) = self.enrich_adds(add, &what, names, ok);
            let on_miss = self.on_miss(e, &adds);
            if let (true, Some(on_miss)) = (ok, on_miss) {
                names.known.extend(adds.iter().map(|(f, _)| f.clone()));
                out.push(Enrich {
                    lookup: li,
                    matches: matches.into_iter().flatten().collect(),
                    adds,
                    on_miss,
                    span: m.span(),
                    existence: None,
                });
            }
        }
        out
    }

    /// `lookup = "NAME"`: the index of a declared lookup.
    /// Each field's `exists_in = "LOOKUP"`: a lookup of one key column, matched as an enrich
    /// step that adds nothing.
    fn existence_rules(
        &mut self,
        fields: &[crate::plan::Field],
        lookups: &[Lookup],
    ) -> Vec<Enrich> {
        let mut out = Vec::new();
        for f in fields {
            let Some((name, span, severity)) = &f.exists_in else {
                continue;
            };
            let Some(li) = lookups.iter().position(|l| &l.name == name) else {
                self.err(
                    Diagnostic::at(span.clone(), format!("there is no lookup `{name}`"))
                        .label("unknown lookup")
                        .suggest(name, lookups.iter().map(|l| l.name.as_str()))
                        .help_if_none("declare it in a `[lookups.NAME]` table"),
                );
                continue;
            };
            if lookups[li].key.len() != 1 {
                self.err(
                    Diagnostic::at(
                        span.clone(),
                        format!(
                            "lookup `{name}` has a key of {} columns; `exists_in` checks one field against a key of one column",
                            lookups[li].key.len()
                        ),
                    )
                    .label("key of several columns")
                    .help("use an [[enrich]] step with `match` on every key column and `on_miss = \"reject\"`"),
                );
                continue;
            }
            out.push(Enrich {
                lookup: li,
                matches: vec![f.name.clone()],
                adds: Vec::new(),
                on_miss: OnMiss::Reject,
                span: span.clone(),
                existence: Some(*severity),
            });
        }
        out
    }

    fn enrich_lookup(
        &mut self,
        e: &RawEnrich,
        span: &Range<usize>,
        what: &str,
        lookups: &[Lookup],
    ) -> Option<usize> {
        match &e.lookup {
            Some(l) => match lookups.iter().position(|x| &x.name == l.get_ref()) {
                Some(li) => Some(li),
                None => {
                    self.err(
                        Diagnostic::at(l.span(), format!("there is no lookup `{}`", l.get_ref()))
                            .label("unknown lookup")
                            .suggest(l.get_ref(), lookups.iter().map(|x| x.name.as_str()))
                            .help_if_none(if lookups.is_empty() {
                                "declare it in a `[lookups.NAME]` table".to_string()
                            } else {
                                format!(
                                    "the lookups are: {}",
                                    lookups
                                        .iter()
                                        .map(|x| x.name.as_str())
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                )
                            }),
                    );
                    None
                }
            },
            None => {
                self.err(
                    Diagnostic::at(span.clone(), format!("{what} names no `lookup`"))
                        .label("no lookup")
                        .help("add e.g. lookup = \"brands\""),
                );
                None
            }
        }
    }

    /// `match`: the row field for each key column of the lookup; `false` when one is wrong.
    fn enrich_matches(
        &mut self,
        m: &Spanned<IndexMap<String, Spanned<String>>>,
        l: &Lookup,
        names: &mut Names,
    ) -> (Vec<Option<String>>, bool) {
        let mut matches: Vec<Option<String>> = vec![None; l.key.len()];
        let mut ok = true;
        for (field, column) in m.get_ref() {
            match l.key.iter().position(|k| k == column.get_ref()) {
                Some(ki) => {
                    names.resolve(field, column.span());
                    matches[ki] = Some(field.clone());
                }
                None => {
                    ok = false;
                    self.err(
                        Diagnostic::at(
                            column.span(),
                            format!(
                                "`{}` is not a key column of lookup `{}` (its key is {})",
                                column.get_ref(),
                                l.name,
                                quoted_list(&l.key)
                            ),
                        )
                        .label("not a key column")
                        .suggest(column.get_ref(), l.key.iter().map(String::as_str)),
                    );
                }
            }
        }
        let missing: Vec<String> = l
            .key
            .iter()
            .zip(&matches)
            .filter(|(_, m)| m.is_none())
            .map(|(k, _)| k.clone())
            .collect();
        if ok && !missing.is_empty() {
            ok = false;
            self.err(
                Diagnostic::at(
                    m.span(),
                    format!(
                        "`match` must give a row field for every key column of lookup `{}`; {} missing",
                        l.name,
                        quoted_list(&missing)
                    ),
                )
                .label("incomplete key"),
            );
        }
        (matches, ok)
    }

    /// `add`: new fields and the lookup columns they take; `false` when one is wrong.
    fn enrich_adds(
        &mut self,
        add: &Spanned<IndexMap<String, Spanned<String>>>,
        what: &str,
        names: &Names,
        mut ok: bool,
    ) -> (Vec<(String, String)>, bool) {
        let mut adds = Vec::new();
        for (field, column) in add.get_ref() {
            if names.known.contains(field) {
                ok = false;
                self.err(
                    Diagnostic::at(
                        column.span(),
                        format!("`{field}` is already a field; an enrich step adds new fields"),
                    )
                    .label("name taken")
                    .help(format!("pick another name, e.g. `{field}_id`")),
                );
                continue;
            }
            adds.push((field.clone(), column.get_ref().clone()));
        }
        if adds.is_empty() && ok {
            ok = false;
            self.err(Diagnostic::at(add.span(), format!("{what} adds no field")).label("empty"));
        }
        (adds, ok)
    }

    fn on_miss(&mut self, e: &RawEnrich, adds: &[(String, String)]) -> Option<OnMiss> {
        let word = e.on_miss.as_ref();
        let policy = match word.map(|w| w.get_ref().as_str()) {
            None | Some("reject") => OnMiss::Reject,
            Some("null") => OnMiss::Null,
            Some("default") => {
                let Some(defaults) = &e.default else {
                    self.err(
                        Diagnostic::at(
                            word.map(|w| w.span()).unwrap_or_default(),
                            "`on_miss = \"default\"` needs a `default` value for each added field",
                        )
                        .label("no default given")
                        .help(format!(
                            "add default = {{ {} }}",
                            adds.iter()
                                .map(|(f, _)| format!("{f} = \"…\""))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )),
                    );
                    return None;
                };
                let mut values = Vec::new();
                for (field, _) in adds {
                    match defaults.get_ref().get(field) {
                        Some(v) => values.push(v.get_ref().clone()),
                        None => {
                            self.err(
                                Diagnostic::at(
                                    defaults.span(),
                                    format!(
                                        "`default` gives no value for the added field `{field}`"
                                    ),
                                )
                                .label("incomplete"),
                            );
                            return None;
                        }
                    }
                }
                for (field, v) in defaults.get_ref() {
                    if !adds.iter().any(|(f, _)| f == field) {
                        self.err(
                            Diagnostic::at(
                                v.span(),
                                format!("`{field}` is not a field this step adds"),
                            )
                            .label("not added")
                            .suggest(field, adds.iter().map(|(f, _)| f.as_str())),
                        );
                        return None;
                    }
                }
                OnMiss::Default(values)
            }
            Some(other) => {
                let w = word?;
                self.err(
                    Diagnostic::at(
                        w.span(),
                        format!("`on_miss` is `reject`, `null` or `default`, not `{other}`"),
                    )
                    .label("unknown policy")
                    .suggest(other, ["reject", "null", "default"]),
                );
                return None;
            }
        };
        if e.default.is_some() && !matches!(policy, OnMiss::Default(_)) {
            self.err(
                Diagnostic::at(
                    e.default.as_ref().map(|d| d.span()).unwrap_or_default(),
                    "`default` is used only with `on_miss = \"default\"`",
                )
                .label("never used")
                .help("add on_miss = \"default\", or remove `default`"),
            );
            return None;
        }
        Some(policy)
    }
}
