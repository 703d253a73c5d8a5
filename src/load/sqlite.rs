//! SQLite tables: a database file built in the staging folder (`path`, committed with the other
//! outputs, so a failed or killed run leaves the previous database as it was), or an existing
//! database of the new system written in place (`database`, one transaction committed at the
//! run's commit point).
//!
//! Columns are typed from the plan: integers and booleans (0/1) as INTEGER, floating-point
//! numbers as REAL, decimals as their exact canonical text (SQLite's NUMERIC would round them
//! through a double), dates and date-times as ISO text (`2024-01-31`, what SQLite's date
//! functions read), text as TEXT. A table rowferry creates with a `key` has it as its primary
//! key; `upsert` replaces the row of a key already loaded. Rows go in one `INSERT` each: a row
//! the database refuses (a duplicate key, `NOT NULL`, `CHECK`, a foreign key of an existing
//! database — enforced — or a value an `INTEGER PRIMARY KEY` cannot hold) is refused alone, the
//! statement undone by SQLite, and becomes a `load-failed` reject. A staging file keeps its
//! rollback journal in memory: savepoints work, and nothing but the database is written.

use std::path::{Path, PathBuf};

use polars::prelude::DataType;
use rusqlite::types::Null;
use rusqlite::{Connection, ErrorCode};

use super::{LoadError, Refusal};
use crate::plan::{LoadMode, TableLoad, quote_ident as ident};
use crate::project::TargetRows;
use crate::project::cells::{Cell, Cells};

/// How a column is declared and how its values are bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqlType {
    Integer,
    Boolean,
    Real,
    Text,
}

impl SqlType {
    /// The type a column of `dtype` is declared with.
    pub fn of(dtype: &DataType) -> SqlType {
        match dtype {
            DataType::Boolean => SqlType::Boolean,
            d if d.is_integer() => SqlType::Integer,
            d if d.is_float() => SqlType::Real,
            _ => SqlType::Text,
        }
    }

    fn declared(self) -> &'static str {
        match self {
            SqlType::Integer | SqlType::Boolean => "INTEGER",
            SqlType::Real => "REAL",
            SqlType::Text => "TEXT",
        }
    }
}

/// A database file being written: one connection, one transaction.
pub struct Database {
    /// Relative to the output folder, for a file built in staging; `None` for an existing
    /// database written in place.
    pub rel: Option<PathBuf>,
    pub path: PathBuf,
    conn: Connection,
}

/// A table of a [`Database`]: its insert statement and its columns' types.
pub struct Table {
    /// Index of its database in the loader.
    pub database: usize,
    pub target: String,
    pub name: String,
    sql: String,
    types: Vec<SqlType>,
    names: Vec<String>,
}

impl Database {
    /// Creates the database file `rel` under `root` (the staging folder) and starts its
    /// transaction.
    pub fn create(root: &Path, rel: &Path) -> Result<Database, LoadError> {
        let path = root.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| LoadError::Sqlite {
                path: path.clone(),
                message: e.to_string(),
            })?;
        }
        let conn = Connection::open(&path).map_err(|e| failed(&path, &e))?;
        // A staging file: the commit protocol makes it durable; the journal, in memory, is
        // for the savepoints.
        conn.execute_batch(
            "PRAGMA journal_mode = MEMORY; PRAGMA synchronous = OFF; PRAGMA locking_mode = EXCLUSIVE; BEGIN",
        )
        .map_err(|e| failed(&path, &e))?;
        Ok(Database {
            rel: Some(rel.to_path_buf()),
            path,
            conn,
        })
    }

    /// Opens the existing database `path` (for target `target`); a run begins its transaction,
    /// taking the database's write lock at once, a dry run only reads.
    pub fn open(path: &Path, target: &str, dry: bool) -> Result<Database, LoadError> {
        if !path.is_file() {
            return Err(LoadError::NoDatabase {
                target: target.to_string(),
                path: path.to_path_buf(),
            });
        }
        let flags = match dry {
            true => rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
            false => rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE,
        };
        let conn = Connection::open_with_flags(path, flags).map_err(|e| failed(path, &e))?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(|e| failed(path, &e))?;
        conn.execute_batch("PRAGMA foreign_keys = ON")
            .map_err(|e| failed(path, &e))?;
        if !dry {
            conn.execute_batch("BEGIN IMMEDIATE")
                .map_err(|e| failed(path, &e))?;
        }
        Ok(Database {
            rel: None,
            path: path.to_path_buf(),
            conn,
        })
    }

    /// Target `target`'s table `load`, with columns `names` of types `types`: created in a
    /// staging file (and in an existing database with `create = true`, when missing); checked
    /// in an existing one. A dry run checks only.
    pub fn prepare(
        &self,
        (target, database): (&str, usize),
        load: &TableLoad,
        (names, types): (&[String], &[SqlType]),
        dry: bool,
    ) -> Result<Table, LoadError> {
        for k in &load.key {
            if !names.contains(k) {
                return Err(LoadError::Key {
                    target: target.to_string(),
                    column: k.clone(),
                    columns: names.join(", "),
                });
            }
        }
        let existing = match self.rel {
            Some(_) => None,
            None => self.columns(&load.table)?,
        };
        match existing {
            Some(columns) => {
                let problems = fit(&columns, names);
                if !problems.is_empty() {
                    return Err(LoadError::Columns {
                        target: target.to_string(),
                        table: load.table.clone(),
                        server: self.path.display().to_string(),
                        problems,
                    });
                }
            }
            None if self.rel.is_none() && !load.create => {
                return Err(LoadError::NoTable {
                    target: target.to_string(),
                    table: load.table.clone(),
                    server: self.path.display().to_string(),
                });
            }
            None if dry => {}
            None => self.create_table(load, names, types)?,
        }
        let sql = insert(load, names);
        if !dry || self.columns(&load.table)?.is_some() {
            // An upsert whose key matches no unique index fails here, before any row.
            self.conn
                .prepare_cached(&sql)
                .map_err(|e| LoadError::Sqlite {
                    path: self.path.clone(),
                    message: format!("table `{}` of target `{target}`: {e}", load.table),
                })?;
        }
        Ok(Table {
            database,
            target: target.to_string(),
            name: load.table.clone(),
            sql,
            types: types.to_vec(),
            names: names.to_vec(),
        })
    }

    fn create_table(
        &self,
        load: &TableLoad,
        names: &[String],
        types: &[SqlType],
    ) -> Result<(), LoadError> {
        let mut create = format!("CREATE TABLE {} (", ident(&load.table));
        for (i, (n, t)) in names.iter().zip(types).enumerate() {
            if i > 0 {
                create.push_str(", ");
            }
            create.push_str(&ident(n));
            create.push(' ');
            create.push_str(t.declared());
        }
        if !load.key.is_empty() {
            let key: Vec<String> = load.key.iter().map(|k| ident(k)).collect();
            create.push_str(&format!(", PRIMARY KEY ({})", key.join(", ")));
        }
        create.push(')');
        self.conn
            .execute_batch(&create)
            .map_err(|e| failed(&self.path, &e))
    }

    /// An existing table's columns: name, and whether it must be written (`NOT NULL` without a
    /// default); `None` when there is no such table.
    fn columns(&self, table: &str) -> Result<Option<Vec<(String, bool)>>, LoadError> {
        let sql = format!("PRAGMA table_info({})", ident(table));
        let mut stmt = self
            .conn
            .prepare(&sql)
            .map_err(|e| failed(&self.path, &e))?;
        let rows = stmt
            .query_map([], |r| {
                let name: String = r.get(1)?;
                let not_null: bool = r.get(3)?;
                let default: Option<String> = r.get(4)?;
                let pk: i64 = r.get(5)?;
                Ok((name, not_null && default.is_none() && pk == 0))
            })
            .map_err(|e| failed(&self.path, &e))?;
        let columns = rows
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| failed(&self.path, &e))?;
        Ok((!columns.is_empty()).then_some(columns))
    }

    /// Loads the rows of `t` (at `positions` in the chunk) into `table`, but those at
    /// `excluded` positions, in order; returns the rows refused, by position in the chunk.
    pub fn load(
        &self,
        table: &Table,
        t: &TargetRows,
        positions: &[usize],
        excluded: &[bool],
    ) -> Result<Vec<(usize, Refusal)>, LoadError> {
        let mut stmt = self
            .conn
            .prepare_cached(&table.sql)
            .map_err(|e| failed(&self.path, &e))?;
        let cells: Vec<Cells> = t.columns.iter().map(|c| Cells::new(&c.values)).collect();
        let mut buf = Vec::new();
        let mut refused = Vec::new();
        for (&i, &pos) in t.rows().iter().zip(positions) {
            if excluded.get(pos).copied().unwrap_or(false) {
                continue;
            }
            for (c, (cell, &ty)) in cells.iter().zip(&table.types).enumerate() {
                bind(&mut stmt, c + 1, cell, i, ty, &mut buf)
                    .map_err(|e| failed(&self.path, &e))?;
            }
            if let Err(e) = stmt.raw_execute() {
                if !row_level(&e) {
                    return Err(failed(&self.path, &e));
                }
                refused.push((pos, self.refusal(table, &cells, i, &e)));
            }
        }
        Ok(refused)
    }

    /// Why the database refused row `i`, with the column (and its value) it named.
    fn refusal(&self, table: &Table, cells: &[Cells], i: usize, e: &rusqlite::Error) -> Refusal {
        let text = e.to_string();
        // "UNIQUE constraint failed: products.sku", "NOT NULL constraint failed: t.qty".
        let column = text
            .rsplit_once(": ")
            .map(|(_, names)| names)
            .filter(|names| !names.contains(','))
            .and_then(|name| name.rsplit_once('.').map(|(_, c)| c.to_string()))
            .filter(|c| table.names.contains(c));
        let value = column.as_ref().and_then(|c| {
            let at = table.names.iter().position(|n| n == c)?;
            Some(cells.get(at)?.string(i))
        });
        let code = match e {
            rusqlite::Error::SqliteFailure(f, _) => format!(" [SQLite {}]", f.extended_code),
            _ => String::new(),
        };
        Refusal {
            message: format!(
                "SQLite refused the row for table `{}` (target `{}`): {text}{code}",
                table.name, table.target
            ),
            column,
            value,
        }
    }

    pub fn savepoint(&self, name: &str) -> Result<(), LoadError> {
        self.execute(&format!("SAVEPOINT {name}"))
    }

    pub fn rollback_to(&self, name: &str) -> Result<(), LoadError> {
        self.execute(&format!("ROLLBACK TO {name}"))
    }

    pub fn release(&self, name: &str) -> Result<(), LoadError> {
        self.execute(&format!("RELEASE {name}"))
    }

    fn execute(&self, sql: &str) -> Result<(), LoadError> {
        self.conn
            .execute_batch(sql)
            .map_err(|e| failed(&self.path, &e))
    }

    /// Commits the transaction and closes the file.
    pub fn commit(self) -> Result<PathBuf, LoadError> {
        self.conn
            .execute_batch("COMMIT")
            .map_err(|e| failed(&self.path, &e))?;
        self.conn.close().map_err(|(_, e)| failed(&self.path, &e))?;
        Ok(self.path)
    }
}

/// The insert (or upsert) statement of `load`'s table.
fn insert(load: &TableLoad, names: &[String]) -> String {
    let columns: Vec<String> = names.iter().map(|n| ident(n)).collect();
    let params: Vec<String> = (1..=names.len()).map(|i| format!("?{i}")).collect();
    let mut sql = format!(
        "INSERT INTO {} ({}) VALUES ({})",
        ident(&load.table),
        columns.join(", "),
        params.join(", ")
    );
    if load.mode == LoadMode::Upsert {
        let keys: Vec<String> = load.key.iter().map(|k| ident(k)).collect();
        let set: Vec<String> = names
            .iter()
            .filter(|n| !load.key.contains(n))
            .map(|n| format!("{0} = excluded.{0}", ident(n)))
            .collect();
        sql.push_str(&format!(" ON CONFLICT ({}) DO ", keys.join(", ")));
        if set.is_empty() {
            sql.push_str("NOTHING");
        } else {
            sql.push_str(&format!("UPDATE SET {}", set.join(", ")));
        }
    }
    sql
}

/// What keeps `names` from going into a table of `columns` (name, must be written), in words.
fn fit(columns: &[(String, bool)], names: &[String]) -> Vec<String> {
    let mut problems: Vec<String> = names
        .iter()
        .filter(|n| !columns.iter().any(|(c, _)| c == *n))
        .map(|n| format!("it has no column `{n}`"))
        .collect();
    for (c, required) in columns {
        if *required && !names.contains(c) {
            problems.push(format!(
                "column `{c}` is NOT NULL without a default, and the target does not write it"
            ));
        }
    }
    problems
}

/// Whether SQLite refused a row for its data: a constraint, or a value an `INTEGER PRIMARY KEY`
/// cannot hold.
fn row_level(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::ConstraintViolation | ErrorCode::TypeMismatch)
    )
}

fn failed(path: &Path, e: &rusqlite::Error) -> LoadError {
    LoadError::Sqlite {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Binds row `i` of `cell` as parameter `at`, as a value of type `ty`.
fn bind(
    stmt: &mut rusqlite::CachedStatement<'_>,
    at: usize,
    cell: &Cells,
    i: usize,
    ty: SqlType,
    buf: &mut Vec<u8>,
) -> rusqlite::Result<()> {
    if let Some(v) = cell.integer(i) {
        return stmt.raw_bind_parameter(at, v);
    }
    buf.clear();
    let text = match cell.text(i, buf) {
        None => return stmt.raw_bind_parameter(at, Null),
        Some(Cell::Text(s)) => s,
        Some(Cell::Written) => std::str::from_utf8(buf).unwrap_or_default(),
    };
    match ty {
        SqlType::Integer => match text.parse::<i64>() {
            Ok(v) => stmt.raw_bind_parameter(at, v),
            Err(_) => stmt.raw_bind_parameter(at, text),
        },
        SqlType::Boolean => match text {
            "true" => stmt.raw_bind_parameter(at, 1i64),
            "false" => stmt.raw_bind_parameter(at, 0i64),
            _ => stmt.raw_bind_parameter(at, text),
        },
        SqlType::Real => match text.parse::<f64>() {
            Ok(v) if v.is_finite() => stmt.raw_bind_parameter(at, v),
            _ => stmt.raw_bind_parameter(at, text),
        },
        SqlType::Text => stmt.raw_bind_parameter(at, text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted_whatever_they_hold() {
        assert_eq!(ident("sku"), "\"sku\"");
        assert_eq!(ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(ident("drop table x; --"), "\"drop table x; --\"");
    }

    #[test]
    fn column_types_follow_the_plan() {
        assert_eq!(SqlType::of(&DataType::Int64), SqlType::Integer);
        assert_eq!(SqlType::of(&DataType::UInt8), SqlType::Integer);
        assert_eq!(SqlType::of(&DataType::Boolean), SqlType::Boolean);
        assert_eq!(SqlType::of(&DataType::Float64), SqlType::Real);
        assert_eq!(SqlType::of(&DataType::Date), SqlType::Text);
        assert_eq!(SqlType::of(&DataType::String), SqlType::Text);
        assert_eq!(
            SqlType::of(&DataType::Decimal(38, 2)),
            SqlType::Text,
            "decimals stay exact"
        );
    }
}
