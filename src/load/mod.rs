//! The load stage: rows into database tables — PostgreSQL servers (`postgres.rs`) and SQLite
//! files (`sqlite.rs`: built in the staging folder, or an existing database written in place) —
//! on the compute thread, after the projection and before any file target sees the chunk,
//! because what a database refuses changes the report, as a check of the projection does.
//!
//! A run holds one connection and one transaction per database (every target with the same
//! server `url`, or the same SQLite file, shares it). [`Loader::start`] connects, checks every table against its target
//! (the table exists, or `create = true`; every output column is a column of the table, of a
//! type its values fit; a `NOT NULL` column without a default is written; an upsert's `key` is
//! a unique index), then begins the transaction, empties `truncate` tables and creates missing
//! `create` tables. A dry run ([`Loader::check`]) connects and checks, and writes nothing.
//!
//! [`Loader::load`] streams each chunk's rows with `COPY` (see `postgres.rs`). A row the
//! database refuses for its data — SQLSTATE class 22 (a value of the wrong type or out of
//! range), 23 (`NOT NULL`, `CHECK`, a foreign key, a unique key) or a trigger's `RAISE` — is
//! isolated (under savepoints; SQLite refuses one row's `INSERT` alone) and becomes a
//! **`load-failed`** reject with the database's reason;
//! the chunk's other rows load. A row refused by one table is rejected, so it must be in no
//! other table either: when it was loaded into another target of the chunk, the chunk is
//! rolled back to its savepoint and loaded again without it (rows are refused only once, so
//! this ends). Anything else the database says (a lost connection, a permission, a deadlock)
//! stops the run, and nothing is committed.
//!
//! [`Loader::finish_files`] commits the SQLite files built in staging (the folder's commit makes
//! them appear); [`Loader::commit`] commits the other databases' transactions at the run's
//! commit point (see
//! `pipeline` and ARCHITECTURE.md for the order with the output folder's commit). Dropped
//! without a commit — a failed run, a stopped one, a kill — the transactions roll back: the
//! tables are as they were.
//!
//! Must not know: files, formats' bytes, rules.

mod postgres;
mod sqlite;

pub use postgres::committed;

use std::path::{Path, PathBuf};

use crate::issue::{Code, Issue, Severity};
use crate::plan::{Binding, Plan, Target};
use crate::project::{Projected, TargetRows};

/// What stops a load: the database, the table or the statement, never one row.
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
        "target `{target}` writes into `{}`, which does not exist; `database` names an existing SQLite database (relative to the mapping file) — to build a new one in the output folder, use `path`", .path.display()
    )]
    NoDatabase { target: String, path: PathBuf },
    #[error(
        "table `{table}` does not exist in {server} (target `{target}`); create it, or set `create = true` on the target to create it from the mapping's types"
    )]
    NoTable {
        target: String,
        table: String,
        server: String,
    },
    #[error(
        "table `{table}` in {server} does not fit target `{target}`: {}. Change the table, or the target's `columns`", .problems.join("; ")
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
    #[error(
        "target `{target}`: its `key` names `{column}`, which is not one of its columns ({columns})"
    )]
    Key {
        target: String,
        column: String,
        columns: String,
    },
    #[error("PostgreSQL at {server} failed while {what}: {message}; nothing was committed to it")]
    Statement {
        server: String,
        what: String,
        message: String,
    },
    #[error(
        "cannot write the SQLite database `{}`: {message}; check that it is writable, not locked by another program, and that the disk is not full", .path.display()
    )]
    Sqlite { path: PathBuf, message: String },
}

/// Why a database refused a row: the sentence for `errors.csv` (the database's words and
/// code), and the output column it named, with the row's value there.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub message: String,
    pub column: Option<String>,
    pub value: Option<String>,
}

/// A database a run writes tables into.
enum Backend {
    Postgres(postgres::Connection),
    Sqlite(sqlite::Database),
}

/// A target's table, in the backend at the same index.
enum Table {
    Postgres(postgres::Table),
    Sqlite(sqlite::Table),
}

impl Table {
    fn backend(&self) -> usize {
        match self {
            Table::Postgres(t) => t.connection,
            Table::Sqlite(t) => t.database,
        }
    }

    fn name(&self) -> &str {
        match self {
            Table::Postgres(t) => &t.shown,
            Table::Sqlite(t) => &t.name,
        }
    }
}

impl Backend {
    fn savepoint(&mut self, name: &str) -> Result<(), LoadError> {
        match self {
            Backend::Postgres(c) => c.savepoint(name),
            Backend::Sqlite(d) => d.savepoint(name),
        }
    }

    fn rollback_to(&mut self, name: &str) -> Result<(), LoadError> {
        match self {
            Backend::Postgres(c) => c.rollback_to(name),
            Backend::Sqlite(d) => d.rollback_to(name),
        }
    }

    fn release(&mut self, name: &str) -> Result<(), LoadError> {
        match self {
            Backend::Postgres(c) => c.release(name),
            Backend::Sqlite(d) => d.release(name),
        }
    }

    /// Loads `rows` (at `positions` in the chunk) into `table`, but the `excluded` positions.
    fn load(
        &mut self,
        table: &Table,
        rows: &TargetRows,
        positions: &[usize],
        excluded: &[bool],
    ) -> Result<Vec<(usize, Refusal)>, LoadError> {
        match (self, table) {
            (Backend::Postgres(c), Table::Postgres(t)) => c.load(t, (rows, positions), excluded),
            (Backend::Sqlite(d), Table::Sqlite(t)) => d.load(t, rows, positions, excluded),
            _ => Ok(Vec::new()),
        }
    }
}

/// The tables of a run, loaded in one transaction per database.
pub struct Loader {
    backends: Vec<Option<Backend>>,
    /// Per plan target: its table, when it is loaded by this stage.
    tables: Vec<Option<Table>>,
    /// Rows loaded and refused, per plan target.
    loaded: Vec<u64>,
    refused: Vec<u64>,
    /// The SQLite files built in staging, once finished: per backend, its path relative to
    /// the output folder, size and SHA-256.
    files: Vec<Option<(PathBuf, u64, String)>>,
}

/// Rows of a chunk the databases refused: by position in the chunk, with their issue.
pub type Refused = Vec<(usize, Issue)>;

impl Loader {
    /// Opens every database the plan loads — SQLite files built in `staging`, existing SQLite
    /// files, servers — checks each table and begins the run's transactions. `None` when no
    /// target is a table.
    pub fn start(
        plan: &Plan,
        binding: &Binding,
        staging: &Path,
    ) -> Result<Option<Loader>, LoadError> {
        Self::open(plan, binding, Some(staging))
    }

    /// Connects and checks every table on a server or in an existing database, as a run would,
    /// and writes nothing (`validate`).
    pub fn check(plan: &Plan, binding: &Binding) -> Result<(), LoadError> {
        Self::open(plan, binding, None).map(drop)
    }

    /// A run with `staging`; a dry run without.
    fn open(
        plan: &Plan,
        binding: &Binding,
        staging: Option<&Path>,
    ) -> Result<Option<Loader>, LoadError> {
        if plan.targets.iter().all(|t| !t.is_loaded()) {
            return Ok(None);
        }
        let dry = staging.is_none();
        let mut backends: Vec<Option<Backend>> = Vec::new();
        let mut keys: Vec<String> = Vec::new();
        let mut tables = Vec::with_capacity(plan.targets.len());
        for t in &plan.targets {
            let Some(load) = &t.table else {
                tables.push(None);
                continue;
            };
            let key = database_key(t);
            let at = match keys.iter().position(|k| *k == key) {
                Some(at) => at,
                None => {
                    let backend = match (t.server(), t.existing_database(), staging) {
                        (Some(server), _, _) => Some(Backend::Postgres(
                            postgres::Connection::open(server, &t.name, dry)?,
                        )),
                        (None, Some(path), _) => {
                            Some(Backend::Sqlite(sqlite::Database::open(path, &t.name, dry)?))
                        }
                        (None, None, Some(root)) => Some(Backend::Sqlite(
                            sqlite::Database::create(root, Path::new(&t.path.text))?,
                        )),
                        // A database the run builds: nothing to check in a dry run.
                        (None, None, None) => None,
                    };
                    backends.push(backend);
                    keys.push(key);
                    backends.len() - 1
                }
            };
            let table = match backends[at].as_mut() {
                Some(Backend::Postgres(c)) => {
                    Some(Table::Postgres(c.prepare(t, binding, at, dry)?))
                }
                Some(Backend::Sqlite(d)) => {
                    let (names, _) = crate::project::output_columns(t, binding);
                    let types: Vec<sqlite::SqlType> = crate::project::output_types(t, binding)
                        .map_err(|e| LoadError::Sqlite {
                            path: d.path.clone(),
                            message: format!("typing the columns of target `{}`: {e}", t.name),
                        })?
                        .iter()
                        .map(sqlite::SqlType::of)
                        .collect();
                    Some(Table::Sqlite(d.prepare(
                        (&t.name, at),
                        load,
                        (&names, &types),
                        dry,
                    )?))
                }
                None => None,
            };
            tables.push(table);
        }
        let n = plan.targets.len();
        Ok(Some(Loader {
            files: (0..backends.len()).map(|_| None).collect(),
            backends,
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
        // A row refused by one table must be in no other: with several targets, the chunk can be
        // loaded again without it.
        let shared = mine.len() > 1;
        let mut refused: Vec<(usize, usize, Refusal)> = Vec::new();
        let mut excluded = vec![false; rows.len()];
        loop {
            if shared {
                for b in self.backends.iter_mut().flatten() {
                    b.savepoint("rowferry_chunk")?;
                }
            }
            let mut new = Vec::new();
            for &ti in &mine {
                let (Some(table), Some(taken)) = (&self.tables[ti], &projected.targets[ti]) else {
                    continue;
                };
                let Some(backend) = self.backends[table.backend()].as_mut() else {
                    continue;
                };
                let positions = &projected.positions[ti];
                for (pos, why) in backend.load(table, taken, positions, &excluded)? {
                    new.push((ti, pos, why));
                }
            }
            let again = shared
                && new.iter().any(|(ti, pos, _)| {
                    mine.iter()
                        .any(|other| other != ti && projected.positions[*other].contains(pos))
                });
            for (_, pos, _) in &new {
                excluded[*pos] = true;
            }
            refused.extend(new);
            if again {
                for b in self.backends.iter_mut().flatten() {
                    b.rollback_to("rowferry_chunk")?;
                }
                continue;
            }
            if shared {
                for b in self.backends.iter_mut().flatten() {
                    b.release("rowferry_chunk")?;
                }
            }
            break;
        }
        for &ti in &mine {
            let kept = projected.positions[ti]
                .iter()
                .filter(|p| !excluded[**p])
                .count();
            self.loaded[ti] += kept as u64;
            projected.targets[ti] = None;
        }
        let mut issues = Vec::with_capacity(refused.len());
        for (ti, pos, why) in refused {
            self.refused[ti] += 1;
            issues.push((
                pos,
                Issue {
                    row: rows.get(pos).copied().unwrap_or_default(),
                    line: lines.get(pos).copied().unwrap_or_default(),
                    code: Code::LoadFailed,
                    severity: Severity::Error,
                    field: why.column.unwrap_or_default(),
                    column: String::new(),
                    value: why.value.unwrap_or_default(),
                    message: why.message,
                },
            ));
        }
        // One row refused by two tables is one reject with two issues.
        issues.sort_by_key(|(pos, _)| *pos);
        Ok(issues)
    }

    /// Commits and closes the SQLite files built in staging, and measures them for the
    /// report: the folder's commit is what makes them appear.
    pub fn finish_files(&mut self) -> Result<(), LoadError> {
        for (b, file) in self.backends.iter_mut().zip(&mut self.files) {
            if !matches!(b, Some(Backend::Sqlite(d)) if d.rel.is_some()) {
                continue;
            }
            let Some(Backend::Sqlite(d)) = b.take() else {
                continue;
            };
            let rel = d.rel.clone().unwrap_or_default();
            let path = d.commit()?;
            let f = crate::source::fingerprint(&path).map_err(|e| LoadError::Sqlite {
                path: path.clone(),
                message: e.to_string(),
            })?;
            *file = Some((rel, f.bytes, f.sha256));
        }
        Ok(())
    }

    /// Each server's transaction, as (server shown, transaction id): what the output folder's
    /// journal lists while the databases commit.
    pub fn transactions(&mut self) -> Result<Vec<(String, String)>, LoadError> {
        let mut out = Vec::new();
        for b in self.backends.iter_mut().flatten() {
            if let Backend::Postgres(c) = b {
                out.push((c.shown().to_string(), c.transaction()?));
            }
        }
        Ok(out)
    }

    /// Commits every other database's transaction (servers, existing SQLite files), one after
    /// the other: when one refuses, the ones before it have committed, and the error says which.
    pub fn commit(self) -> Result<(), LoadError> {
        let mut committed: Vec<String> = Vec::new();
        for b in self.backends.into_iter().flatten() {
            let (shown, done) = match b {
                Backend::Postgres(c) => (c.shown().to_string(), c.commit()),
                Backend::Sqlite(d) => (d.path.display().to_string(), d.commit().map(drop)),
            };
            if let Err(e) = done {
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
                            "{message}; the tables of {} were committed before it",
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

    /// What each target this stage loaded did, by plan target (`None` for the others).
    pub fn loaded(&self, plan: &Plan) -> Vec<Option<Loaded>> {
        plan.targets
            .iter()
            .enumerate()
            .map(|(ti, _)| {
                let table = self.tables[ti].as_ref()?;
                Some(Loaded {
                    table: table.name().to_string(),
                    rows: self.loaded[ti],
                    refused: self.refused[ti],
                    file: self.files.get(table.backend()).cloned().flatten(),
                })
            })
            .collect()
    }
}

/// What a target's table received.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub table: String,
    pub rows: u64,
    /// Rows the database refused (`load-failed`).
    pub refused: u64,
    /// A SQLite file built in staging: its path relative to the output folder, size and
    /// SHA-256.
    pub file: Option<(PathBuf, u64, String)>,
}

/// Which database a target's table is in: its server, its existing file, or the file it builds.
fn database_key(t: &Target) -> String {
    match (t.server(), t.existing_database()) {
        (Some(s), _) => format!("postgres {}", s.url.expose()),
        (None, Some(path)) => format!("sqlite {}", path.display()),
        (None, None) => format!("staging {}", t.path.text),
    }
}
