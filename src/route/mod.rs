//! The route stage: which targets take each accepted row.
//!
//! `route` owns the targets' `when` predicates and the `unrouted` policy. Every predicate is a
//! polars expression evaluated over the whole chunk at once; a null result does not take the
//! row. A row goes to every target whose predicate holds (fan-out). An accepted row that no target
//! takes is *unrouted*: counted, warned about, or rejected, as `[run] unrouted` says.

use polars::prelude::{
    BooleanChunked, DataFrame, Expr, IntoLazy, NewChunkedArray, PolarsError, lit,
};

use crate::issue::{Code, Issue, Severity};
use crate::plan::{Plan, Unrouted};
use crate::source::Batch;

/// A failure of the engine while routing: a value a `when` cannot compute, or a bug.
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    #[error(
        "routing the chunk starting at row {row} failed: {source}; {}", crate::engine::advice(.source)
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
    policy: Unrouted,
}

impl Router {
    pub fn new(plan: &Plan) -> Self {
        Router {
            whens: plan
                .targets
                .iter()
                .map(|t| match &t.when {
                    Some(w) => w.expr.clone().fill_null(lit(false)),
                    None => lit(true),
                })
                .collect(),
            policy: plan.run.unrouted,
        }
    }

    /// Routes the accepted rows of a chunk. Rows the policy rejects are marked in `rejected`
    /// and get an `unrouted` issue, as do rows it warns about.
    pub fn route(
        &self,
        row: &DataFrame,
        batch: &Batch,
        rejected: &mut [bool],
        issues: &mut Vec<Issue>,
    ) -> Result<Routed, RouteError> {
        let engine = |source| RouteError::Engine {
            row: batch.rows.first().copied().unwrap_or(0),
            source,
        };
        let n = row.height();
        let accepted = BooleanChunked::from_slice(
            "accepted".into(),
            &rejected.iter().map(|r| !r).collect::<Vec<_>>(),
        );
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
        let evaluated = row.clone().lazy().select(exprs).collect().map_err(engine)?;
        let mut masks = Vec::with_capacity(self.whens.len());
        for c in evaluated.columns() {
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
                row: batch.rows[i],
                line: batch.lines[i],
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
}
