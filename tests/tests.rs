//! Integration tests: the real binary on real files. One binary, modules by theme.

#![allow(clippy::unwrap_used)]

mod util;

mod check;
mod commit;
mod corpus;
mod csv_defects;
mod csv_inputs;
mod examples;
mod fuzz_replay;
mod hardening;
mod payloads;
mod properties;
mod rules;
mod run;
mod sheets;
mod source;
mod targets;
mod typed_cells;
mod validate;
