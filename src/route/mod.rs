//! The route stage: which targets take each accepted row.
//!
//! `route` owns the targets' `when` predicates and the `unrouted` policy. Every predicate is a
//! polars expression evaluated over the whole chunk at once; a null result does not take the
//! row. A row goes to every target whose predicate holds (fan-out). An accepted row that no target
//! takes is *unrouted*: counted, warned about, or rejected, as `[run] unrouted` says. A row a
//! predicate cannot be evaluated for (a strict `CAST` past its range) is rejected as `unrouted`,
//! since where it goes cannot be told; the predicate is applied to the chunk's other rows.

use polars::prelude::{
    BooleanChunked, Column, DataFrame, Expr, IntoColumn, IntoLazy, NewChunkedArray, PolarsError,
    lit,
};

use crate::issue::{Code, Issue, Severity};
use crate::plan::{Plan, Unrouted};
use crate::source::Chunk;

/// A failure of the engine while routing: a value a `when` cannot compute, or a bug.
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    #[error(
        "routing the chunk starting at row {row} failed: {source}; {}", crate::broken_rows::advice(.source)
    )]
    Engine {
        row: u64,
        #[source]
        source: PolarsError,
    },
}

/// Where the rows of one chunk go.
#[derive(Debug)]
pub struct Routed {
    /// Per target: the frame rows it takes.
    pub masks: Vec<BooleanChunked>,
    /// Accepted rows taken by at least one target.
    pub routed: u64,
    /// Accepted rows taken by none (still accepted; `reject` turns them into rejects instead).
    pub unrouted: u64,
}

/// Evaluates every target's `when` over chunks.
pub struct Router {
    whens: Vec<Expr>,
    /// The targets' names, for the issues of rows a `when` cannot be evaluated for.
    names: Vec<String>,
    policy: Unrouted,
}

impl Router {
    pub fn new(plan: &Plan) -> Self {
        // Integer arithmetic in a `when` never wraps (see `plan::checked_arithmetic`): the
        // declared fields are the typed columns it can read.
        let schema = crate::plan::typed_schema(
            plan.structure
                .iter()
                .flat_map(|s| s.fields.iter())
                .map(|f| (f.name.as_str(), f.ty.dtype())),
        );
        Router {
            whens: plan
                .targets
                .iter()
                .map(|t| match &t.when {
                    Some(w) => crate::plan::checked_arithmetic(w.expr.clone(), &schema)
                        .fill_null(lit(false)),
                    None => lit(true),
                })
                .collect(),
            names: plan.targets.iter().map(|t| t.name.clone()).collect(),
            policy: plan.run.unrouted,
        }
    }

    /// Routes the accepted rows of a chunk. Rows the policy rejects are marked in `rejected`
    /// and get an `unrouted` issue, as do rows it warns about.
    pub fn route(
        &self,
        row: &DataFrame,
        chunk: &Chunk,
        rejected: &mut [bool],
        issues: &mut Vec<Issue>,
    ) -> Result<Routed, RouteError> {
        let engine = |source| RouteError::Engine {
            row: chunk.rows.first().copied().unwrap_or(0),
            source,
        };
        let n = row.height();
        if self.whens.is_empty() {
            return Ok(Routed {
                masks: Vec::new(),
                routed: 0,
                unrouted: 0,
            });
        }
        let exprs: Vec<Expr> = self
            .whens
            .iter()
            .enumerate()
            .map(|(i, w)| w.clone().alias(format!("w{i}")))
            .collect();
        let evaluated = match row.clone().lazy().select(exprs).collect() {
            Ok(evaluated) => evaluated.columns().to_vec(),
            Err(error) => self
                .around_broken_whens(row, chunk, rejected, issues)
                .ok_or_else(|| engine(error))?,
        };
        let accepted = BooleanChunked::from_slice(
            "accepted".into(),
            &rejected.iter().map(|r| !r).collect::<Vec<_>>(),
        );
        let mut masks = Vec::with_capacity(self.whens.len());
        for c in &evaluated {
            let m = c.bool().map_err(engine)?;
            // A literal predicate is a single value: broadcast it.
            let m = if m.len() == n {
                m.clone()
            } else {
                let v = m.get(0).unwrap_or(false);
                BooleanChunked::from_slice("w".into(), &vec![v; n])
            };
            masks.push(&m & &accepted);
        }
        let mut taken = vec![false; n];
        for m in &masks {
            for i in crate::mask::true_positions(m) {
                taken[i] = true;
            }
        }
        let mut routed = 0;
        let mut unrouted = 0;
        for i in 0..n {
            if rejected[i] {
                continue;
            }
            if taken[i] {
                routed += 1;
                continue;
            }
            let severity = match self.policy {
                Unrouted::Count => {
                    unrouted += 1;
                    continue;
                }
                Unrouted::Warn => {
                    unrouted += 1;
                    Severity::Warning
                }
                Unrouted::Reject => {
                    rejected[i] = true;
                    Severity::Error
                }
            };
            issues.push(Issue {
                row: chunk.rows[i],
                line: chunk.lines[i],
                code: Code::Unrouted,
                severity,
                field: String::new(),
                column: String::new(),
                value: String::new(),
                message: "no target takes this row: every target's `when` is false".into(),
            });
        }
        Ok(Routed {
            masks,
            routed,
            unrouted,
        })
    }

    /// The chunk's `when` values when some cannot be evaluated for a row (a strict `CAST` past
    /// its range): where such a row goes cannot be told, so it is rejected, saying why, and
    /// goes nowhere. `None` when no row explains the failure (the caller reports the engine's
    /// error).
    fn around_broken_whens(
        &self,
        row: &DataFrame,
        chunk: &Chunk,
        rejected: &mut [bool],
        issues: &mut Vec<Issue>,
    ) -> Option<Vec<Column>> {
        let mut columns = Vec::with_capacity(self.whens.len());
        let mut broken = false;
        for (when, name) in self.whens.iter().zip(&self.names) {
            if let Ok(evaluated) = row.clone().lazy().select([when.clone()]).collect() {
                columns.push(evaluated.columns().first()?.clone());
                continue;
            }
            let crate::broken_rows::Broken {
                rows: failing,
                values,
            } = crate::broken_rows::around_broken_rows(row, when)?;
            broken = true;
            for (i, reason) in failing {
                // An accepted row: a rejected one is routed nowhere anyway.
                if rejected[i] {
                    continue;
                }
                rejected[i] = true;
                issues.push(Issue {
                    row: chunk.rows[i],
                    line: chunk.lines[i],
                    code: Code::Unrouted,
                    severity: Severity::Error,
                    field: String::new(),
                    column: String::new(),
                    value: String::new(),
                    message: format!(
                        "the `when` of target `{name}` cannot be evaluated for this row \
                         ({reason}); cast to a wider type (BIGINT, DOUBLE) in it, or use \
                         TRY_CAST(…)"
                    ),
                });
            }
            columns.push(BooleanChunked::from_slice("w".into(), &values).into_column());
        }
        broken.then_some(columns)
    }
}
