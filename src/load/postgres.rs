//! PostgreSQL: a connection per server, a table per target, rows streamed with `COPY` and the
//! rows the database refuses isolated under savepoints.
//!
//! **How rows go in.** `insert` and `truncate` targets `COPY` each chunk's rows straight into
//! the table, inside the run's transaction (no other session sees them before the commit, and
//! a rolled-back run leaves no row). An `upsert` target copies them into a temporary staging
//! table (`LIKE` the target table) and moves them with `INSERT … SELECT … ON CONFLICT (key) DO
//! UPDATE`: the last row of a key in the chunk wins, as in the input's order. Values go as COPY
//! text: the canonical text of the projection (ISO dates, exact decimals, `true`/`false`),
//! `\N` for null, with backslash, tab, line feed and carriage return escaped.
//!
//! **A refused row.** Each attempt runs under a savepoint. When it fails for a row's data
//! (SQLSTATE class 22 or 23, or a trigger's `RAISE`), the savepoint is rolled back and the rows
//! are tried again in parts: when the error names its COPY line, the rows before it, that row
//! alone (refused only if it fails alone) and the rest in halves; when it does not (a foreign
//! key, checked at the end of the statement; an upsert's move), the rows in halves. One bad row
//! in a chunk costs about four statements; every row bad costs O(n log n) rows sent. Deferred
//! constraints are made immediate at the start, so that they are checked row by row too.

use std::io::Write;

use polars::prelude::DataType;
use postgres::Client;
use postgres::error::DbError;

use super::{LoadError, Refusal};
use crate::pg::{describe, qualified};
use crate::plan::{Binding, LoadMode, Server, Target, quote_ident};
use crate::project::TargetRows;
use crate::project::cells::{Cell, Cells};

/// One server's connection and the run's transaction on it.
pub struct Connection {
    client: Client,
    shown: String,
}

/// A target's table, checked, and how its rows go in.
pub struct Table {
    /// Index of its connection in the loader.
    pub connection: usize,
    pub target: String,
    /// The table's name as the mapping writes it.
    pub shown: String,
    /// `COPY … FROM STDIN`, into the table or its staging table.
    copy: String,
    /// An upsert: the staging table's name and the statement that moves its rows.
    upsert: Option<(String, String)>,
    /// Output column names, in the order the COPY lists them.
    columns: Vec<String>,
}

/// One chunk's rows for a table, as COPY text.
#[derive(Default)]
pub struct Batch {
    /// The rows' text, one line each.
    text: Vec<u8>,
    /// Where each row's line ends in `text`.
    ends: Vec<usize>,
    /// Each row's position in the chunk.
    pub positions: Vec<usize>,
}

/// An attempt's failure: for a row's data (possibly at a COPY line), or for anything else.
enum Failure {
    Data {
        line: Option<usize>,
        error: Box<DbError>,
    },
    Fatal(Box<LoadError>),
}

impl Connection {
    /// Connects to `server` (for target `target`, named in an error); a run begins its
    /// transaction, a dry run does not.
    pub fn open(server: &Server, target: &str, dry: bool) -> Result<Connection, LoadError> {
        let connect = |message: String| LoadError::Connect {
            target: target.to_string(),
            server: server.shown.clone(),
            message,
        };
        let client = crate::pg::connect(server).map_err(connect)?;
        let mut c = Connection {
            client,
            shown: server.shown.clone(),
        };
        if !dry {
            c.execute(
                "BEGIN; SET CONSTRAINTS ALL IMMEDIATE",
                "beginning the run's transaction",
            )?;
        }
        Ok(c)
    }

    /// The server, its password masked.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// Checks target `t`'s table and, in a run, prepares it: created when missing and
    /// `create = true`, emptied for `truncate`, a staging table for `upsert`.
    pub fn prepare(
        &mut self,
        t: &Target,
        binding: &Binding,
        connection: usize,
        dry: bool,
    ) -> Result<Table, LoadError> {
        let Some(load) = &t.table else {
            return Err(self.statement("reading the mapping", "a target without a table"));
        };
        let qualified = qualified(&load.table);
        let (names, _) = crate::project::output_columns(t, binding);
        let types = crate::project::output_types(t, binding)
            .map_err(|e| self.statement("typing the target's columns", &e.to_string()))?;
        let existing = self.describe(&qualified)?;
        match existing {
            None if load.create => {
                if !dry {
                    let sql = create_table(&qualified, &names, &types, &load.key);
                    self.execute(&sql, &format!("creating table `{}`", load.table))?;
                }
            }
            None => {
                return Err(LoadError::NoTable {
                    target: t.name.clone(),
                    table: load.table.clone(),
                    server: self.shown.clone(),
                });
            }
            Some(columns) => {
                let problems = fit(&columns, &names, &types);
                if !problems.is_empty() {
                    return Err(LoadError::Columns {
                        target: t.name.clone(),
                        table: load.table.clone(),
                        server: self.shown.clone(),
                        problems,
                    });
                }
                if load.mode == LoadMode::Upsert && !self.unique_on(&qualified, &load.key)? {
                    return Err(LoadError::NoUniqueKey {
                        target: t.name.clone(),
                        table: load.table.clone(),
                        server: self.shown.clone(),
                        key: load.key.clone(),
                    });
                }
            }
        }
        let list: Vec<String> = names.iter().map(|n| quote_ident(n)).collect();
        let list = list.join(", ");
        let mut table = Table {
            connection,
            target: t.name.clone(),
            shown: load.table.clone(),
            copy: format!("COPY {qualified} ({list}) FROM STDIN"),
            upsert: None,
            columns: names.clone(),
        };
        if dry {
            return Ok(table);
        }
        if load.mode == LoadMode::Truncate {
            self.execute(
                &format!("TRUNCATE TABLE {qualified}"),
                &format!("emptying table `{}` (mode = \"truncate\")", load.table),
            )?;
        }
        if load.mode == LoadMode::Upsert {
            let stage = quote_ident(&format!("rowferry_stage_{connection}_{}", t.name));
            self.execute(
                &format!(
                    "CREATE TEMPORARY TABLE {stage} (LIKE {qualified} INCLUDING DEFAULTS, rowferry_seq bigint) ON COMMIT DROP"
                ),
                &format!("creating the staging table of `{}`", load.table),
            )?;
            let key: Vec<String> = load.key.iter().map(|k| quote_ident(k)).collect();
            let key = key.join(", ");
            let set: Vec<String> = names
                .iter()
                .filter(|n| !load.key.contains(n))
                .map(|n| format!("{0} = EXCLUDED.{0}", quote_ident(n)))
                .collect();
            let action = match set.is_empty() {
                true => "NOTHING".to_string(),
                false => format!("UPDATE SET {}", set.join(", ")),
            };
            let moves = format!(
                "INSERT INTO {qualified} ({list}) SELECT DISTINCT ON ({key}) {list} FROM {stage} ORDER BY {key}, rowferry_seq DESC ON CONFLICT ({key}) DO {action}"
            );
            table.copy = format!("COPY {stage} (rowferry_seq, {list}) FROM STDIN");
            table.upsert = Some((stage, moves));
        }
        Ok(table)
    }

    /// Loads `batch` into `table`, but the rows at `excluded` positions; returns the rows
    /// refused, by position in the chunk.
    pub fn load(
        &mut self,
        table: &Table,
        taken: (&TargetRows, &[usize]),
        excluded: &[bool],
    ) -> Result<Vec<(usize, Refusal)>, LoadError> {
        let mut refused = Vec::new();
        let batch = match table.upsert {
            // An upsert's rows go through its staging table: encoded first.
            Some(_) => {
                let batch = table.encode(taken, excluded);
                let rows: Vec<usize> = (0..batch.positions.len()).collect();
                self.isolate(table, &batch, &rows, &mut refused)?;
                batch
            }
            None => {
                self.savepoint("rowferry_rows")?;
                let (batch, first) = self.stream(table, taken, excluded);
                match first {
                    Ok(()) => self.release("rowferry_rows")?,
                    Err(Failure::Fatal(e)) => return Err(*e),
                    Err(Failure::Data { line, error }) => {
                        self.rollback_to("rowferry_rows")?;
                        self.release("rowferry_rows")?;
                        let rows: Vec<usize> = (0..batch.positions.len()).collect();
                        self.split(table, &batch, &rows, (line, &error), &mut refused)?;
                    }
                }
                batch
            }
        };
        Ok(refused
            .into_iter()
            .map(|(k, why)| (batch.positions[k], why))
            .collect())
    }

    /// The first try at a chunk's rows (but the `excluded` ones): sent in pieces as they are
    /// encoded, so that the server reads a piece while the next is encoded. Returns every row's
    /// line, for the tries that isolate a refused row, and how the try went.
    fn stream(
        &mut self,
        table: &Table,
        (t, positions): (&TargetRows, &[usize]),
        excluded: &[bool],
    ) -> (Batch, Result<(), Failure>) {
        const PIECE: usize = 256 * 1024;
        let what = format!("loading table `{}`", table.shown);
        let mut batch = Batch::default();
        let mut writer = match self.client.copy_in(table.copy.as_str()) {
            Ok(w) => Some(w),
            Err(e) => return (batch, Err(failure(&self.shown, e, &what))),
        };
        let cells: Vec<Cells> = t.columns.iter().map(|c| Cells::new(&c.values)).collect();
        let mut buf = Vec::new();
        let mut sent = 0;
        let mut cut = None;
        for (&i, &pos) in t.rows().iter().zip(positions) {
            if excluded.get(pos).copied().unwrap_or(false) {
                continue;
            }
            batch.push(&cells, i, pos, &mut buf);
            if batch.text.len() - sent >= PIECE {
                // A write that fails is the server's answer, which `finish` returns: the rest
                // is still encoded, for the tries that follow.
                if let Some(Err(e)) = writer.as_mut().map(|w| w.write_all(&batch.text[sent..])) {
                    cut = Some(e);
                    writer = None;
                }
                sent = batch.text.len();
            }
        }
        let Some(mut w) = writer else {
            let message = cut.map_or_else(String::new, |e| e.to_string());
            return (
                batch,
                Err(Failure::Fatal(Box::new(statement(
                    &self.shown,
                    &what,
                    &message,
                )))),
            );
        };
        let written = w.write_all(&batch.text[sent..]);
        let done = match (written, w.finish()) {
            (_, Err(e)) => Err(failure(&self.shown, e, &what)),
            (Err(e), Ok(_)) => Err(Failure::Fatal(Box::new(statement(
                &self.shown,
                &what,
                &e.to_string(),
            )))),
            (Ok(()), Ok(_)) => Ok(()),
        };
        (batch, done)
    }

    /// Loads `rows` (indices into `batch`), isolating the rows the database refuses.
    fn isolate(
        &mut self,
        table: &Table,
        batch: &Batch,
        rows: &[usize],
        refused: &mut Vec<(usize, Refusal)>,
    ) -> Result<(), LoadError> {
        if rows.is_empty() {
            return Ok(());
        }
        self.savepoint("rowferry_rows")?;
        let (line, error) = match self.attempt(table, batch, rows) {
            Ok(()) => return self.release("rowferry_rows"),
            Err(Failure::Fatal(e)) => return Err(*e),
            Err(Failure::Data { line, error }) => (line, error),
        };
        self.rollback_to("rowferry_rows")?;
        self.release("rowferry_rows")?;
        self.split(table, batch, rows, (line, &error), refused)
    }

    /// After `rows` failed together (at COPY line `line`, when the error names one): the row
    /// alone is refused; more rows are tried again in parts.
    fn split(
        &mut self,
        table: &Table,
        batch: &Batch,
        rows: &[usize],
        (line, error): (Option<usize>, &DbError),
        refused: &mut Vec<(usize, Refusal)>,
    ) -> Result<(), LoadError> {
        match (line, error) {
            (_, error) if rows.len() == 1 => {
                refused.push((rows[0], refusal(table, batch, rows[0], error)));
                Ok(())
            }
            (Some(l), _) if l < rows.len() => {
                self.isolate(table, batch, &rows[..l], refused)?;
                self.isolate(table, batch, &rows[l..=l], refused)?;
                let rest = &rows[l + 1..];
                let (a, b) = rest.split_at(rest.len() / 2);
                self.isolate(table, batch, a, refused)?;
                self.isolate(table, batch, b, refused)
            }
            _ => {
                let (a, b) = rows.split_at(rows.len() / 2);
                self.isolate(table, batch, a, refused)?;
                self.isolate(table, batch, b, refused)
            }
        }
    }

    /// One try: the rows copied (and, for an upsert, moved).
    fn attempt(&mut self, table: &Table, batch: &Batch, rows: &[usize]) -> Result<(), Failure> {
        let upsert = table.upsert.as_ref();
        if let Some((stage, _)) = upsert {
            self.client
                .batch_execute(&format!("DELETE FROM {stage}"))
                .map_err(|e| failure(&self.shown, e, "emptying a staging table"))?;
        }
        let mut data = Vec::with_capacity(rows.len() * 64);
        for &k in rows {
            if upsert.is_some() {
                data.extend_from_slice(itoa::Buffer::new().format(k).as_bytes());
                data.push(b'\t');
            }
            data.extend_from_slice(batch.line(k));
        }
        let what = format!("loading table `{}`", table.shown);
        let mut w = match self.client.copy_in(table.copy.as_str()) {
            Ok(w) => w,
            Err(e) => return Err(failure(&self.shown, e, &what)),
        };
        // A write that fails is the server's answer, which `finish` returns.
        let written = w.write_all(&data);
        match (written, w.finish()) {
            (_, Err(e)) => return Err(failure(&self.shown, e, &what)),
            (Err(e), Ok(_)) => {
                return Err(Failure::Fatal(Box::new(
                    self.statement(&what, &e.to_string()),
                )));
            }
            (Ok(()), Ok(_)) => {}
        }
        if let Some((_, moves)) = upsert {
            self.client.batch_execute(moves).map_err(|e| {
                failure(&self.shown, e, &format!("upserting into `{}`", table.shown))
            })?;
        }
        Ok(())
    }

    pub fn savepoint(&mut self, name: &str) -> Result<(), LoadError> {
        self.execute(&format!("SAVEPOINT {name}"), "setting a savepoint")
    }

    pub fn rollback_to(&mut self, name: &str) -> Result<(), LoadError> {
        self.execute(
            &format!("ROLLBACK TO SAVEPOINT {name}"),
            "rolling back to a savepoint",
        )
    }

    pub fn release(&mut self, name: &str) -> Result<(), LoadError> {
        self.execute(
            &format!("RELEASE SAVEPOINT {name}"),
            "releasing a savepoint",
        )
    }

    /// The run's transaction id, for the output folder's journal (`txid_current`).
    pub fn transaction(&mut self) -> Result<String, LoadError> {
        let row = self
            .client
            .query_one("SELECT txid_current()::text", &[])
            .map_err(|e| self.statement("reading the transaction's id", &describe(&e)))?;
        Ok(row.get(0))
    }

    /// Commits the run's transaction.
    pub fn commit(mut self) -> Result<(), LoadError> {
        self.execute("COMMIT", "committing the run's transaction")
    }

    fn execute(&mut self, sql: &str, what: &str) -> Result<(), LoadError> {
        self.client
            .batch_execute(sql)
            .map_err(|e| self.statement(what, &describe(&e)))
    }

    fn statement(&self, what: &str, message: &str) -> LoadError {
        statement(&self.shown, what, message)
    }

    /// The table's columns, `None` when it does not exist.
    fn describe(&mut self, qualified: &str) -> Result<Option<Vec<Column>>, LoadError> {
        let exists = self
            .client
            .query_one("SELECT to_regclass($1)::oid IS NOT NULL", &[&qualified])
            .map_err(|e| self.statement("looking the table up", &describe(&e)))?;
        if !exists.get::<_, bool>(0) {
            return Ok(None);
        }
        let rows = self
            .client
            .query(
                "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), t.typcategory::text, \
                 a.attnotnull AND NOT a.atthasdef AND a.attidentity = '' AND a.attgenerated = '' \
                 FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid \
                 WHERE a.attrelid = to_regclass($1)::oid AND a.attnum > 0 AND NOT a.attisdropped \
                 ORDER BY a.attnum",
                &[&qualified],
            )
            .map_err(|e| self.statement("reading the table's columns", &describe(&e)))?;
        Ok(Some(
            rows.iter()
                .map(|r| Column {
                    name: r.get(0),
                    declared: r.get(1),
                    category: r.get(2),
                    required: r.get(3),
                })
                .collect(),
        ))
    }

    /// Whether the table has a unique index on exactly `key`'s columns.
    fn unique_on(&mut self, qualified: &str, key: &[String]) -> Result<bool, LoadError> {
        let row = self
            .client
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_index i \
                 WHERE i.indrelid = to_regclass($1)::oid AND i.indisunique AND i.indpred IS NULL \
                 AND (SELECT array_agg(a.attname::text ORDER BY a.attname::text) \
                      FROM unnest(i.indkey) k JOIN pg_attribute a \
                      ON a.attrelid = i.indrelid AND a.attnum = k) \
                   = (SELECT array_agg(x ORDER BY x) FROM unnest($2::text[]) x))",
                &[&qualified, &key],
            )
            .map_err(|e| self.statement("reading the table's unique indexes", &describe(&e)))?;
        Ok(row.get(0))
    }
}

impl Table {
    /// `t`'s rows as COPY text (but those at `excluded` positions); `positions` are their
    /// places in the chunk.
    pub fn encode(&self, (t, positions): (&TargetRows, &[usize]), excluded: &[bool]) -> Batch {
        let cells: Vec<Cells> = t.columns.iter().map(|c| Cells::new(&c.values)).collect();
        let mut batch = Batch::default();
        let mut buf = Vec::new();
        for (&i, &pos) in t.rows().iter().zip(positions) {
            if !excluded.get(pos).copied().unwrap_or(false) {
                batch.push(&cells, i, pos, &mut buf);
            }
        }
        batch
    }
}

impl Batch {
    /// Adds row `i` of `cells`, at `pos` in the chunk.
    fn push(&mut self, cells: &[Cells], i: usize, pos: usize, buf: &mut Vec<u8>) {
        for (c, cell) in cells.iter().enumerate() {
            if c > 0 {
                self.text.push(b'\t');
            }
            buf.clear();
            match cell.text(i, buf) {
                None => self.text.extend_from_slice(b"\\N"),
                Some(Cell::Text(s)) => escape(s.as_bytes(), &mut self.text),
                Some(Cell::Written) => escape(buf, &mut self.text),
            }
        }
        self.text.push(b'\n');
        self.ends.push(self.text.len());
        self.positions.push(pos);
    }

    /// Row `k`'s line, with its line feed.
    fn line(&self, k: usize) -> &[u8] {
        let start = if k == 0 { 0 } else { self.ends[k - 1] };
        &self.text[start..self.ends[k]]
    }
}

/// A column of an existing table.
struct Column {
    name: String,
    /// As `format_type` writes it: `numeric(12,2)`, `character varying(40)`.
    declared: String,
    /// `pg_type.typcategory`: N numeric, S string, B boolean, D date/time, U user, E enum…
    category: String,
    /// `NOT NULL` without a default, an identity or a generated value.
    required: bool,
}

/// What keeps `names` (of `types`) from going into `columns`, in words.
fn fit(columns: &[Column], names: &[String], types: &[DataType]) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, ty) in names.iter().zip(types) {
        match columns.iter().find(|c| &c.name == name) {
            None => {
                let near = columns
                    .iter()
                    .find(|c| c.name.eq_ignore_ascii_case(name))
                    .map(|c| format!(" (the table has `{}`: names are case-sensitive)", c.name))
                    .unwrap_or_default();
                problems.push(format!("it has no column `{name}`{near}"));
            }
            Some(c) if !accepts(&c.category, ty) => problems.push(format!(
                "column `{name}` is `{}`, which cannot hold the target's {}",
                c.declared,
                kind(ty)
            )),
            Some(_) => {}
        }
    }
    for c in columns.iter().filter(|c| c.required) {
        if !names.contains(&c.name) {
            problems.push(format!(
                "column `{}` is NOT NULL without a default, and the target does not write it",
                c.name
            ));
        }
    }
    problems
}

/// Whether a column of category `category` takes the text of values of type `ty`. Text may
/// go anywhere: the database refuses, row by row, what it cannot read.
fn accepts(category: &str, ty: &DataType) -> bool {
    let allowed: &[&str] = match ty {
        DataType::Boolean => &["B", "S"],
        t if t.is_primitive_numeric() || matches!(t, DataType::Decimal(..)) => &["N", "S"],
        DataType::Date | DataType::Datetime(..) => &["D", "S"],
        _ => return true,
    };
    allowed.contains(&category)
}

/// What values of `ty` are, in a sentence.
fn kind(ty: &DataType) -> &'static str {
    match ty {
        DataType::Boolean => "booleans",
        DataType::Date => "dates",
        DataType::Datetime(..) => "date-times",
        t if t.is_primitive_numeric() || matches!(t, DataType::Decimal(..)) => "numbers",
        _ => "text",
    }
}

/// `CREATE TABLE` for `create = true`: the plan's types, the key as primary key.
fn create_table(qualified: &str, names: &[String], types: &[DataType], key: &[String]) -> String {
    let mut columns: Vec<String> = names
        .iter()
        .zip(types)
        .map(|(n, t)| format!("{} {}", quote_ident(n), declared(t)))
        .collect();
    if !key.is_empty() {
        let key: Vec<String> = key.iter().map(|k| quote_ident(k)).collect();
        columns.push(format!("PRIMARY KEY ({})", key.join(", ")));
    }
    format!("CREATE TABLE {qualified} ({})", columns.join(", "))
}

/// The PostgreSQL type a column of `ty` is created with.
fn declared(ty: &DataType) -> &'static str {
    match ty {
        DataType::Boolean => "boolean",
        DataType::Int8 | DataType::Int16 | DataType::UInt8 => "smallint",
        DataType::Int32 | DataType::UInt16 => "integer",
        DataType::Int64 | DataType::UInt32 => "bigint",
        t if t.is_integer() => "numeric",
        DataType::Float32 => "real",
        t if t.is_float() => "double precision",
        DataType::Decimal(..) => "numeric",
        DataType::Date => "date",
        DataType::Datetime(..) => "timestamp",
        _ => "text",
    }
}

/// COPY text: backslash, tab, line feed and carriage return escaped.
fn escape(s: &[u8], out: &mut Vec<u8>) {
    if !s.iter().any(|b| matches!(b, b'\\' | b'\t' | b'\n' | b'\r')) {
        out.extend_from_slice(s);
        return;
    }
    for &b in s {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            _ => out.push(b),
        }
    }
}

/// What stops the run on the server `shown` while `what`.
fn statement(shown: &str, what: &str, message: &str) -> LoadError {
    LoadError::Statement {
        server: shown.to_string(),
        what: what.to_string(),
        message: message.to_string(),
    }
}

/// An attempt's error on the server `shown`: a row's data, or what stops the run.
fn failure(shown: &str, e: postgres::Error, what: &str) -> Failure {
    match e.as_db_error() {
        Some(db) if row_level(db) => Failure::Data {
            line: copy_line(db),
            error: Box::new(db.clone()),
        },
        _ => Failure::Fatal(Box::new(statement(shown, what, &describe(&e)))),
    }
}

/// Whether `db` refuses a row for its data, not the statement for something else.
fn row_level(db: &DbError) -> bool {
    let code = db.code().code();
    code.starts_with("22") || code.starts_with("23") || code == "P0001"
}

/// The COPY line an error names (`COPY t, line 3, column x: …`), as an index from 0.
fn copy_line(db: &DbError) -> Option<usize> {
    let context = db.where_()?;
    let at = context.find("line ")? + "line ".len();
    let digits: String = context[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse::<usize>().ok()?.checked_sub(1)
}

/// The COPY column an error names (`…, column price: "abc"`).
fn copy_column(db: &DbError) -> Option<String> {
    let context = db.where_()?;
    let at = context.find(", column ")? + ", column ".len();
    let rest = &context[at..];
    let end = rest.find(':').unwrap_or(rest.len());
    Some(rest[..end].to_string())
}

/// The one column of a key a unique or foreign key error's detail names (`Key (sku)=(A1)
/// already exists.`).
fn key_column(db: &DbError) -> Option<String> {
    let detail = db.detail()?;
    let rest = detail.strip_prefix("Key (")?;
    let name = &rest[..rest.find(")=(")?];
    (!name.contains(", ")).then(|| name.trim_matches('"').to_string())
}

/// Why row `k` of `batch` was refused, with the column and value the database named.
fn refusal(table: &Table, batch: &Batch, k: usize, db: &DbError) -> Refusal {
    let column = db
        .column()
        .map(str::to_string)
        .or_else(|| copy_column(db))
        .or_else(|| key_column(db))
        .filter(|c| table.columns.contains(c));
    let value = column.as_ref().and_then(|c| {
        let at = table.columns.iter().position(|n| n == c)?;
        let line = batch.line(k);
        let line = &line[..line.len().saturating_sub(1)];
        let field = line.split(|b| *b == b'\t').nth(at)?;
        Some(unescape(field))
    });
    let mut message = format!(
        "PostgreSQL refused the row for table `{}` (target `{}`): {}",
        table.shown,
        table.target,
        db.message()
    );
    if let Some(detail) = db.detail() {
        message.push_str(&format!(" ({detail})"));
    }
    message.push_str(&format!(" [SQLSTATE {}", db.code().code()));
    if let Some(c) = db.constraint() {
        message.push_str(&format!(", constraint {c}"));
    }
    message.push(']');
    Refusal {
        message,
        column,
        value,
    }
}

/// A COPY text field as the value it stands for (`\N` as empty).
fn unescape(field: &[u8]) -> String {
    if field == b"\\N" {
        return String::new();
    }
    let mut out = Vec::with_capacity(field.len());
    let mut it = field.iter();
    while let Some(&b) = it.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        match it.next() {
            Some(b't') => out.push(b'\t'),
            Some(b'n') => out.push(b'\n'),
            Some(b'r') => out.push(b'\r'),
            Some(&other) => out.push(other),
            None => {}
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether transaction `id` on `server` committed (`txid_status`), for a run that was killed
/// while committing: `Err` in words when the server cannot tell.
pub fn committed(server: &Server, id: &str) -> Result<bool, String> {
    let mut client = crate::pg::connect(server)?;
    let id: i64 = id
        .parse()
        .map_err(|_| format!("`{id}` is not a transaction id"))?;
    let row = client
        .query_one("SELECT txid_status($1)", &[&id])
        .map_err(|e| describe(&e))?;
    match row.get::<_, Option<String>>(0).as_deref() {
        Some("committed") => Ok(true),
        Some("aborted") => Ok(false),
        Some(other) => Err(format!("the transaction is {other}")),
        None => Err("the server no longer knows the transaction".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::{escape, unescape};

    #[test]
    fn copy_text_round_trips_through_its_escapes() {
        for s in ["plain", "a\tb", "line\nbreak\r", "back\\slash", "", "\\N"] {
            let mut out = Vec::new();
            escape(s.as_bytes(), &mut out);
            assert!(!out.contains(&b'\t') && !out.contains(&b'\n'));
            if s != "\\N" {
                assert_eq!(unescape(&out), s);
            }
        }
        let mut out = Vec::new();
        escape(b"\\N", &mut out);
        assert_eq!(out, b"\\\\N", "a value `\\N` is not a null");
    }
}
