//! rowferry: one-shot data migrations and CSV transformation from one declarative mapping file.
//!
//! The crate is laid out as the pipeline a user configures (see `DESIGN.md` §2):
//!
//! ```text
//! mapping.toml ─▶ plan ─▶ source ─▶ validate ─▶ enrich ─▶ route ─▶ project ─▶ sink ─▶ report
//! ```
//!
//! - [`plan`] turns the mapping file into an immutable, fully checked [`plan::Plan`]; it reads no
//!   data.
//! - [`source`] reads the export into chunks of raw text columns with provenance.
//! - [`validate`] types and checks each chunk with vectorised polars expressions.
//! - [`enrich`] builds the row the targets see and joins lookup tables into it.
//! - [`route`] decides which targets take each accepted row.
//! - [`project`] computes each target's columns as text and rejects a row a target cannot hold.
//! - [`sink`] writes each target's files into a staging folder, which [`commit`] moves into the
//!   output folder atomically (a lock, a manifest of what rowferry wrote, a journal).
//! - [`report`] writes `rejects.csv`, `errors.csv`, `report.json` and the terminal summary.
//! - [`deliver`] sends committed batch files to an HTTP import API, journalling each
//!   acknowledged batch so a resumed delivery sends only the rest.
//! - [`pipeline`] drives the stages; [`cli`] is the command line; [`notify`] tells a webhook
//!   how a run ended (`[notify]`), after the pipeline.
//!
//! Shared by the stages: [`broken_rows`] finds the rows an expression cannot be evaluated for
//! (and tells a data failure from a bug), [`panics`] contains the panics of the libraries that
//! read what a user wrote, [`issue`] is what any stage says about a row. `fuzzing` holds the
//! targets of the fuzzing campaign (`fuzz/README.md`).
//!
//! A bad row is data, not an `Err`: it becomes an [`issue::Issue`] and the run goes on. `Err` is
//! kept for what stops a run (an unreadable mapping or input, a failed write).

pub mod broken_rows;
pub mod cli;
pub mod commit;
pub mod deliver;
pub mod enrich;
#[doc(hidden)]
pub mod fuzzing;
pub mod infer;
pub mod issue;
mod keys;
pub mod load;
mod mask;
pub mod notify;
pub mod panics;
pub mod pg;
pub mod pipeline;
pub mod plan;
pub mod project;
pub mod report;
pub mod route;
pub mod sink;
pub mod source;
pub mod style;
pub mod validate;
mod varint;
