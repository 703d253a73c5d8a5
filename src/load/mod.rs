//! The load stage: rows into tables on database servers (PostgreSQL), on the compute thread,
//! after the projection and before any file target sees the chunk — because what the database
//! refuses changes the report, as a check of the projection does.
//!
//! A run holds one connection and one transaction per server (every PostgreSQL target with the
//! same `url` shares it). [`Loader::start`] connects, checks every table against its target
//! (the table exists, or `create = true`; every output column is a column of the table, of a
//! type its values fit; a `NOT NULL` column without a default is written; an upsert's `key` is
//! a unique index), then begins the transaction, empties `truncate` tables and creates missing
//! `create` tables. A dry run ([`Loader::check`]) connects and checks, and writes nothing.
//!
//! [`Loader::load`] streams each chunk's rows with `COPY` (see `postgres.rs`). A row the
//! database refuses for its data — SQLSTATE class 22 (a value of the wrong type or out of
//! range), 23 (`NOT NULL`, `CHECK`, a foreign key, a unique key) or a trigger's `RAISE` — is
//! isolated under savepoints and becomes a **`load-failed`** reject with the database's reason;
//! the chunk's other rows load. A row refused by one table is rejected, so it must be in no
//! other table either: when it was loaded into another target of the chunk, the chunk is
//! rolled back to its savepoint and loaded again without it (rows are refused only once, so
//! this ends). Anything else the database says (a lost connection, a permission, a deadlock)
//! stops the run, and nothing is committed.
//!
//! [`Loader::commit`] commits each server's transaction at the run's commit point (see
//! `pipeline` and ARCHITECTURE.md for the order with the output folder's commit). Dropped
//! without a commit — a failed run, a stopped one, a kill — the transactions roll back: the
//! tables are as they were.
//!
//! Must not know: files, formats' bytes, rules.

mod postgres;

use crate::issue::{Code, Issue, Severity};
use crate::plan::{Binding, Plan};
use crate::project::Projected;
use crate::sink::TargetReport;

use postgres::{Connection, Refusal, Table};

/// What stops a load: the server, the table or the statement, never one row.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(
        "cannot connect to PostgreSQL at {server} (target `{target}`): {message}; check that the server is running and that `url` names it, with the right user, password and database"
    )]
    Connect {
        target: String,
        server: String,
        message: String,
    },
    #[error(
        "table `{table}` does not exist on {server} (target `{target}`); create it, or set `create = true` on the target to create it from the mapping's types"
    )]
    NoTable {
        target: String,
        table: String,
        server: String,
    },
    #[error(
        "table `{table}` on {server} does not fit target `{target}`: {}. Change the table, or the target's `columns`", .problems.join("; ")
    )]
    Columns {
        target: String,
        table: String,
        server: String,
        problems: Vec<String>,
    },
    #[error(
        "target `{target}` upserts into `{table}` on {server} by ({}), but the table has no primary key or unique index on exactly these columns; add one (CREATE UNIQUE INDEX ON {table} ({})), or change `key`", .key.join(", "), .key.join(", ")
    )]
    NoUniqueKey {
        target: String,
        table: String,
        server: String,
        key: Vec<String>,
    },
    #[error("PostgreSQL at {server} failed while {what}: {message}; nothing was committed to it")]
    Statement {
        server: String,
        what: String,
        message: String,
    },
}

/// The tables of a run on database servers, loaded in one transaction per server.
pub struct Loader {
    connections: Vec<Connection>,
    /// Per plan target: its table, when it is loaded by this stage.
    tables: Vec<Option<Table>>,
    /// Rows loaded and refused, per plan target.
    loaded: Vec<u64>,
    refused: Vec<u64>,
}

/// Rows of a chunk the databases refused: by position in the chunk, with their issue.
pub type Refused = Vec<(usize, Issue)>;

impl Loader {
    /// Connects to every server the plan loads, checks each table and begins the run's
    /// transactions. `None` when no target is on a server.
    pub fn start(plan: &Plan, binding: &Binding) -> Result<Option<Loader>, LoadError> {
        Self::open(plan, binding, false)
    }

    /// Connects and checks every table, as a run would, and writes nothing (`validate`).
    pub fn check(plan: &Plan, binding: &Binding) -> Result<(), LoadError> {
        Self::open(plan, binding, true).map(drop)
    }

    fn open(plan: &Plan, binding: &Binding, dry: bool) -> Result<Option<Loader>, LoadError> {
        if plan.targets.iter().all(|t| t.server().is_none()) {
            return Ok(None);
        }
        let mut connections: Vec<Connection> = Vec::new();
        let mut tables = Vec::with_capacity(plan.targets.len());
        for t in &plan.targets {
            let Some(server) = t.server() else {
                tables.push(None);
                continue;
            };
            let at = match connections.iter().position(|c| c.serves(server)) {
                Some(at) => at,
                None => {
                    connections.push(Connection::open(server, &t.name, dry)?);
                    connections.len() - 1
                }
            };
            let table = connections[at].prepare(t, binding, at, dry)?;
            tables.push(Some(table));
        }
        let n = plan.targets.len();
        Ok(Some(Loader {
            connections,
            tables,
            loaded: vec![0; n],
            refused: vec![0; n],
        }))
    }

    /// Whether target `ti` is loaded by this stage (not written by a writer thread).
    pub fn loads(&self, ti: usize) -> bool {
        self.tables.get(ti).is_some_and(Option::is_some)
    }

    /// Loads the rows of `projected` its database targets take, and takes them out of it: the
    /// writer threads never see them. Returns the rows refused, by position in the chunk, with
    /// their `load-failed` issue (`rows` and `lines` are the chunk's row numbers and lines).
    pub fn load(
        &mut self,
        projected: &mut Projected,
        (rows, lines): (&[u64], &[u64]),
    ) -> Result<Refused, LoadError> {
        let mine: Vec<usize> = (0..self.tables.len())
            .filter(|&ti| self.loads(ti) && projected.targets[ti].is_some())
            .collect();
        if mine.is_empty() {
            return Ok(Vec::new());
        }
        let batches: Vec<(usize, postgres::Batch)> = mine
            .iter()
            .filter_map(|&ti| {
                let t = projected.targets[ti].as_ref()?;
                let table = self.tables[ti].as_ref()?;
                Some((ti, table.encode(t, &projected.positions[ti])))
            })
            .collect();
        // A row refused by one table must be in no other: with several targets, the chunk can be
        // loaded again without it.
        let shared = batches.len() > 1;
        let mut refused: Vec<(usize, usize, Refusal)> = Vec::new();
        let mut excluded = vec![false; rows.len()];
        loop {
            if shared {
                for c in &mut self.connections {
                    c.savepoint("rowferry_chunk")?;
                }
            }
            let mut new = Vec::new();
            for (ti, batch) in &batches {
                let Some(table) = self.tables[*ti].as_ref() else {
                    continue;
                };
                let c = &mut self.connections[table.connection];
                for (pos, why) in c.load(table, batch, &excluded)? {
                    new.push((*ti, pos, why));
                }
            }
            let again = shared
                && new.iter().any(|(ti, pos, _)| {
                    batches
                        .iter()
                        .any(|(other, b)| other != ti && b.positions.contains(pos))
                });
            for (_, pos, _) in &new {
                excluded[*pos] = true;
            }
            refused.extend(new);
            if again {
                for c in &mut self.connections {
                    c.rollback_to("rowferry_chunk")?;
                }
                continue;
            }
            if shared {
                for c in &mut self.connections {
                    c.release("rowferry_chunk")?;
                }
            }
            break;
        }
        for (ti, batch) in &batches {
            let kept = batch.positions.iter().filter(|p| !excluded[**p]).count();
            self.loaded[*ti] += kept as u64;
            projected.targets[*ti] = None;
        }
        let mut issues = Vec::with_capacity(refused.len());
        for (ti, pos, why) in refused {
            self.refused[ti] += 1;
            let table = self.tables[ti].as_ref();
            issues.push((
                pos,
                Issue {
                    row: rows.get(pos).copied().unwrap_or_default(),
                    line: lines.get(pos).copied().unwrap_or_default(),
                    code: Code::LoadFailed,
                    severity: Severity::Error,
                    field: why.column.clone().unwrap_or_default(),
                    column: String::new(),
                    value: why.value.clone().unwrap_or_default(),
                    message: table.map_or_else(|| why.message.clone(), |t| t.message(&why)),
                },
            ));
        }
        issues.sort_by_key(|(pos, _)| *pos);
        // One row refused by two tables is one reject with two issues.
        Ok(issues)
    }

    /// Commits every server's transaction: the run's tables become visible at once on each.
    /// Servers commit one after the other: when one refuses, the ones before it have committed,
    /// and the error says which.
    pub fn commit(self) -> Result<(), LoadError> {
        let mut committed: Vec<String> = Vec::new();
        for c in self.connections {
            let shown = c.shown().to_string();
            if let Err(e) = c.commit() {
                return Err(match (e, committed.is_empty()) {
                    (e, true) => e,
                    (
                        LoadError::Statement {
                            server,
                            what,
                            message,
                        },
                        false,
                    ) => LoadError::Statement {
                        server,
                        what,
                        message: format!(
                            "{message}; the tables on {} were committed before it",
                            committed.join(", ")
                        ),
                    },
                    (e, false) => e,
                });
            }
            committed.push(shown);
        }
        Ok(())
    }

    /// The report of each target this stage loaded, by plan target (`None` for the others).
    pub fn reports(&self, plan: &Plan) -> Vec<Option<TargetReport>> {
        plan.targets
            .iter()
            .enumerate()
            .map(|(ti, t)| {
                let table = self.tables[ti].as_ref()?;
                Some(TargetReport {
                    name: t.name.clone(),
                    path: t.location().to_string(),
                    format: t.format.name().to_string(),
                    table: Some(table.shown.clone()),
                    rows: self.loaded[ti],
                    refused: Some(self.refused[ti]),
                    files: Vec::new(),
                })
            })
            .collect()
    }
}
