//! Integration tests: the real binary on real files. One binary, modules by theme.

#![allow(clippy::unwrap_used)]

mod util;

mod check;
mod cli;
mod commit;
mod corpus;
mod csv_defects;
mod csv_inputs;
mod enrich;
mod examples;
mod formats;
mod fuzz_replay;
mod hardening;
mod html;
mod http;
mod infer;
mod lookups_remote;
mod notify;
mod outputs;
mod overrides;
mod partitions;
mod payloads;
mod postgres;
mod preview;
mod properties;
mod report;
mod route;
mod rules;
mod schema;
mod sheets;
mod source;
mod sqlite;
mod table_schema;
mod targets;
mod terminal;
mod typed_cells;
mod validate;
