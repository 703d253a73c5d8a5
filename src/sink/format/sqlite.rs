//! SQLite targets: a database file with one table per target, built in the staging folder and
//! committed with the other outputs (a failed or killed run leaves the previous database as it
//! was).
//!
//! Columns are typed from the plan: integers and booleans (0/1) as INTEGER, floating-point
//! numbers as REAL, decimals as their exact canonical text (SQLite's NUMERIC would round them
//! through a double), dates and date-times as ISO text (`2024-01-31`, what SQLite's date
//! functions read), text as TEXT. A table with a `key` has it as its primary key; `upsert`
//! replaces the row of a key already loaded, `insert` lets the database refuse it. The staging
//! file is written without a rollback journal, in one transaction: the commit protocol, not
//! SQLite, makes the file appear whole or not at all.

use std::path::{Path, PathBuf};

use polars::prelude::DataType;
use rusqlite::Connection;
use rusqlite::types::Null;

use super::super::SinkError;
use crate::plan::{LoadMode, TableLoad};
use crate::project::cells::{Cell, Cells};
use crate::project::text::TextColumn;

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
    /// Relative to the output folder.
    pub rel: PathBuf,
    path: PathBuf,
    conn: Connection,
}

/// A table of a [`Database`]: its insert statement and its columns' types.
pub struct Table {
    pub name: String,
    sql: String,
    types: Vec<SqlType>,
    /// The key columns' places, for the message of a refused row.
    key: Vec<usize>,
    names: Vec<String>,
}

impl Database {
    /// Creates the database file `rel` under `root` (the staging folder) and starts its
    /// transaction.
    pub fn create(root: &Path, rel: &Path) -> Result<Database, SinkError> {
        let path = root.join(rel);
        let io = |source| SinkError::Write {
            path: path.clone(),
            source,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        let conn = Connection::open(&path).map_err(|e| database_error(&path, e))?;
        // A staging file: nothing to roll back to, and the commit protocol makes it durable.
        conn.execute_batch(
            "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA locking_mode = EXCLUSIVE; BEGIN",
        )
        .map_err(|e| database_error(&path, e))?;
        Ok(Database {
            rel: rel.to_path_buf(),
            path,
            conn,
        })
    }

    /// Creates target `load`'s table with columns `names` of types `types`.
    pub fn create_table(
        &self,
        target: &str,
        load: &TableLoad,
        names: &[String],
        types: &[SqlType],
    ) -> Result<Table, SinkError> {
        let mut key = Vec::with_capacity(load.key.len());
        for k in &load.key {
            let Some(at) = names.iter().position(|n| n == k) else {
                return Err(SinkError::Key {
                    target: target.to_string(),
                    column: k.clone(),
                    columns: names.join(", "),
                });
            };
            key.push(at);
        }
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
            .map_err(|e| database_error(&self.path, e))?;
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
        Ok(Table {
            name: load.table.clone(),
            sql,
            types: types.to_vec(),
            key,
            names: names.to_vec(),
        })
    }

    /// Loads rows `rows` of `columns` into `table`, in order.
    pub fn insert(
        &self,
        target: &str,
        table: &Table,
        columns: &[TextColumn],
        rows: &[usize],
    ) -> Result<(), SinkError> {
        let mut stmt = self
            .conn
            .prepare_cached(&table.sql)
            .map_err(|e| database_error(&self.path, e))?;
        let cells: Vec<Cells> = columns.iter().map(|c| Cells::new(&c.values)).collect();
        let mut buf = Vec::new();
        for &i in rows {
            for (c, (cell, &ty)) in cells.iter().zip(&table.types).enumerate() {
                bind(&mut stmt, c + 1, cell, i, ty, &mut buf)
                    .map_err(|e| database_error(&self.path, e))?;
            }
            if let Err(e) = stmt.raw_execute() {
                let key: Vec<String> = table
                    .key
                    .iter()
                    .map(|&k| {
                        let mut buf = Vec::new();
                        let value = match cells.get(k).and_then(|c| c.text(i, &mut buf)) {
                            None => "null".to_string(),
                            Some(Cell::Text(s)) => s.to_string(),
                            Some(Cell::Written) => String::from_utf8_lossy(&buf).into_owned(),
                        };
                        format!("{} = {value}", table.names[k])
                    })
                    .collect();
                return Err(SinkError::Refused {
                    target: target.to_string(),
                    table: table.name.clone(),
                    path: self.path.clone(),
                    key: key.join(", "),
                    message: e.to_string(),
                });
            }
        }
        Ok(())
    }

    /// Commits the transaction and closes the file.
    pub fn finish(self) -> Result<PathBuf, SinkError> {
        self.conn
            .execute_batch("COMMIT")
            .map_err(|e| database_error(&self.path, e))?;
        self.conn
            .close()
            .map_err(|(_, e)| database_error(&self.path, e))?;
        Ok(self.path)
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

use crate::plan::quote_ident as ident;

fn database_error(path: &Path, source: rusqlite::Error) -> SinkError {
    SinkError::Database {
        path: path.to_path_buf(),
        source,
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
