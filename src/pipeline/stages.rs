//! The stages a validated chunk goes through on the driver's thread: enrich, route, project.
//! A library panic in them is contained and becomes the run's typed error. Must not know the
//! threads around them, nor what is written.

use crate::enrich::Enricher;
use crate::project::{Projected, Projector};
use crate::route::Router;
use crate::source::Chunk;
use crate::validate::Validated;

use super::RunError;

/// Lookups joined, targets chosen, target columns computed and checked.
pub(super) struct Stages {
    pub(super) enricher: Enricher,
    pub(super) router: Router,
    pub(super) projector: Projector,
}

/// A chunk through the stages: each target's rows, and the accepted rows routed or not.
pub(super) struct Passed {
    pub(super) projected: Projected,
    /// Accepted rows taken by at least one target (a row a target's check rejects is not).
    pub(super) routed: u64,
    /// Accepted rows no target takes.
    pub(super) unrouted: u64,
}

impl Stages {
    pub(super) fn new(enricher: Enricher, router: Router, projector: Projector) -> Self {
        Stages {
            enricher,
            router,
            projector,
        }
    }

    /// Enriches, routes and projects `chunk`, adding the rows rejected and the issues found to
    /// `validated`, whose issues end sorted by row, then by stage within a row.
    pub(super) fn through(
        &self,
        chunk: &Chunk,
        validated: &mut Validated,
    ) -> Result<Passed, RunError> {
        let stages = crate::panics::contain(|| -> Result<_, RunError> {
            let row = self
                .enricher
                .rows(chunk, &validated.typed, &mut validated.issues)?;
            validated.reject_errored(&chunk.rows);
            let routed =
                self.router
                    .route(&row, chunk, &mut validated.rejected, &mut validated.issues)?;
            // Every value is checked against its target, in a dry run too.
            let (projected, checked) = self.projector.project(
                &row,
                &routed.masks,
                (&chunk.rows, &chunk.lines),
                &mut validated.rejected,
                &mut validated.issues,
            )?;
            Ok((routed, projected, checked))
        })
        .map_err(|message| RunError::Internal {
            stage: "enriching, routing and projecting rows",
            message,
        })?;
        let (routed, projected, checked) = stages?;
        // Row order, then stage order within a row.
        validated.issues.sort_by_key(|i| i.row);
        Ok(Passed {
            projected,
            routed: routed.routed - checked.rejected,
            unrouted: routed.unrouted,
        })
    }
}
