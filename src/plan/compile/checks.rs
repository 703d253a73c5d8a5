//! `[[structures.NAME.checks]]` (`mappings/README.md` §7): cross-field rules, SQL predicates
//! over a structure's fields, parsed and type-checked on an empty frame of the declared types.

use polars::prelude::{DataFrame, Expr, IntoLazy, Series};
use toml::Spanned;

use super::{Compiler, parse_sql, polars_message};
use crate::issue::Severity;
use crate::plan::diagnostic::Diagnostic;
use crate::plan::raw::RawCheck;
use crate::plan::{Check, Structure};

impl Compiler {
    pub(super) fn check(
        &mut self,
        i: usize,
        raw: &Spanned<RawCheck>,
        structure: &Structure,
        field_names: &[&str],
    ) -> Option<Check> {
        let c: &RawCheck = raw.get_ref();
        let name = c
            .name
            .as_ref()
            .map(|n| n.get_ref().clone())
            .unwrap_or_else(|| format!("check {}", i + 1));
        let Some(rule) = &c.rule else {
            self.err(
                Diagnostic::at(raw.span(), format!("check `{name}` has no `rule`"))
                    .label("no rule")
                    .help("add e.g. rule = \"sale_price IS NULL OR sale_price <= price\""),
            );
            return None;
        };
        let severity = match &c.severity {
            Some(s) => self.severity_word(s.get_ref(), s.span())?,
            None => Severity::Error,
        };
        let field = match &c.field {
            Some(f) => match field_names.iter().position(|n| *n == f.get_ref()) {
                Some(i) => Some(i),
                None => {
                    self.unknown_field(f, field_names, &structure.name);
                    return None;
                }
            },
            None => None,
        };
        let expr = match parse_sql(rule.get_ref()) {
            Ok(e) => e,
            Err(e) => {
                self.err(
                    Diagnostic::at(
                        rule.span(),
                        format!("the rule of check `{name}` is not a valid SQL expression"),
                    )
                    .label("invalid SQL")
                    .help(e),
                );
                return None;
            }
        };
        let ok = self.check_names(&expr, rule, &name, structure, field_names);
        // Without every field compiled there is no schema to type-check against.
        if !ok || structure.fields.len() != field_names.len() {
            return None;
        }
        self.check_predicate(&expr, rule, &name, structure)?;
        let message = c
            .message
            .clone()
            .unwrap_or_else(|| format!("check `{name}` failed: {}", rule.get_ref()));
        let schema = crate::plan::arith::schema(
            structure
                .fields
                .iter()
                .map(|f| (f.name.as_str(), f.ty.dtype())),
        );
        Some(Check {
            name,
            rule: rule.get_ref().clone(),
            expr: crate::plan::arith::checked(expr, &schema),
            field,
            message,
            severity,
        })
    }

    /// Every name a check's rule uses must be a field of its structure.
    fn check_names(
        &mut self,
        expr: &Expr,
        rule: &Spanned<String>,
        name: &str,
        structure: &Structure,
        field_names: &[&str],
    ) -> bool {
        let mut ok = true;
        for root in expr.clone().meta().root_names() {
            if !field_names.contains(&root.as_str()) {
                ok = false;
                self.err(
                    Diagnostic::at(
                        rule.span(),
                        format!(
                            "check `{name}` refers to `{root}`, which is not a field of `{}`",
                            structure.name
                        ),
                    )
                    .label("unknown name")
                    .suggest(root.as_str(), field_names.iter().copied())
                    .help_if_none(format!(
                        "declare it in `[structures.{}.fields]` to use it in a check",
                        structure.name
                    )),
                );
            }
        }
        ok
    }

    /// Type-checks the predicate on an empty frame of the typed fields: it must give a boolean.
    fn check_predicate(
        &mut self,
        expr: &Expr,
        rule: &Spanned<String>,
        name: &str,
        structure: &Structure,
    ) -> Option<()> {
        let columns = structure
            .fields
            .iter()
            .map(|f| Series::new_empty(f.name.as_str().into(), &f.ty.dtype()).into())
            .collect();
        let outcome = crate::panics::contain(|| {
            DataFrame::new(0, columns)
                .and_then(|df| df.lazy().select([expr.clone().alias("check")]).collect())
        })
        .unwrap_or_else(|panic| Err(polars::prelude::PolarsError::ComputeError(panic.into())));
        match outcome {
            Ok(df) => {
                match df.columns().first().map(|c| c.dtype().clone()) {
                    Some(polars::prelude::DataType::Boolean) => {}
                    Some(other) => {
                        self.err(
                        Diagnostic::at(rule.span(), format!("the rule of check `{name}` gives a `{other}`, not true or false"))
                            .label("not a predicate")
                            .help("write a condition, e.g. `price >= 0`"),
                    );
                        return None;
                    }
                    None => return None,
                }
            }
            Err(e) => {
                self.err(
                    Diagnostic::at(
                        rule.span(),
                        format!(
                            "the rule of check `{name}` cannot be evaluated on the declared types"
                        ),
                    )
                    .label("type error")
                    .help(polars_message(&e)),
                );
                return None;
            }
        }
        Some(())
    }
}
