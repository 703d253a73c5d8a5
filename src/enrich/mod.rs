//! The enrich stage: builds the row the targets see and adds fields from lookup tables.
//!
//! `enrich` owns lookups: each `[lookups.NAME]` file is read once, its key normalised (`trim`,
//! `ignore_case`) and indexed in a hash table, then only read. Each chunk is joined against it
//! as a hash join — the lookup is the build side, built once for the whole run; the chunk is the
//! probe side, its key column(s) hashed in one pass, and the added columns gathered by the
//! matched row indexes in one vectorised `take`. A miss follows the step's `on_miss`: a
//! `lookup-miss` issue (rejecting the row), nulls, or declared defaults. A row whose key is null
//! is not looked up: `required` is the rule for missing values.
//!
//! A lookup's rows come from a CSV or workbook file (through `source`), a SQLite database
//! (here), or a server — a PostgreSQL query or an HTTP API's records (`remote.rs`); from then on
//! every lookup is the same: text columns indexed by key.

mod remote;

use std::path::PathBuf;

use foldhash::fast::FixedState;
use polars::prelude::{
    BooleanChunked, ChunkFull, ChunkTake, ChunkZip, Column, DataFrame, DataType, Expr, IdxCa,
    IdxSize, IntoColumn, IntoLazy, NULL, NewChunkedArray, PolarsError, StringChunked, col, lit,
    when,
};

use crate::issue::{Code, Issue, Severity};
use crate::keys::KeyIndex;
use crate::plan::{Binding, DatabaseRead, Diagnostic, Lookup, LookupRead, OnMiss, Plan, RowOrigin};
use crate::source::{Chunk, ReadOptions, Source, SourceError, column_name};

/// Lookups larger than this get no "did you mean" in `lookup-miss` messages (it would scan
/// every key for every miss).
const SUGGEST_MAX_KEYS: usize = 20_000;

/// Why enrichment could not run.
#[derive(Debug, thiserror::Error)]
pub enum EnrichError {
    #[error("cannot read lookup `{name}`: {source}")]
    Read {
        name: String,
        #[source]
        source: SourceError,
    },
    #[error(
        "cannot read lookup `{name}` from the SQLite database `{path}`: {message}; check the file, and the `table` or `query` of the lookup"
    )]
    Database {
        name: String,
        path: PathBuf,
        message: String,
    },
    #[error(
        "cannot connect to PostgreSQL at {server} for lookup `{name}`: {message}; check that the server is running and that the lookup's `url` names it, with the right user, password and database"
    )]
    Connect {
        name: String,
        server: String,
        message: String,
    },
    #[error(
        "cannot read lookup `{name}` from PostgreSQL at {server}: {message}; fix the lookup's `query` (or `table`)"
    )]
    Query {
        name: String,
        server: String,
        message: String,
    },
    #[error(
        "cannot read lookup `{name}` from its API ({url}): {problem} Nothing was read; check the API and the lookup's `url`, `headers` and `records`, then run again"
    )]
    Api {
        name: String,
        url: String,
        /// What the HTTP reader said (URLs masked, header values scrubbed), in a lookup's words.
        problem: String,
    },
    #[error(
        "lookup `{name}` (`{path}`) has a broken record at line {line}: {message}; fix the lookup file"
    )]
    Broken {
        name: String,
        path: PathBuf,
        line: u64,
        message: String,
    },
    #[error(
        "lookup `{name}` (`{place}`) has the key {key} on rows {first} and {second}; a key must name one row, so remove or merge the duplicate"
    )]
    DuplicateKey {
        name: String,
        /// The lookup's file, or its server's URL without secrets.
        place: String,
        key: String,
        first: u64,
        second: u64,
    },
    #[error(
        "lookup `{name}` (`{place}`) has an empty key on row {row}; every row of a lookup needs its key"
    )]
    EmptyKey {
        name: String,
        place: String,
        row: u64,
    },
    #[error(
        "lookup `{name}` (`{place}`) has more than 4 billion keys; split it into smaller lookups"
    )]
    TooManyKeys { name: String, place: String },
    #[error("{}", .0.iter().map(|d| d.message.clone()).collect::<Vec<_>>().join("; "))]
    Columns(Vec<Diagnostic>),
    #[error(
        "enriching the chunk starting at row {row} failed: {source}; {}", crate::broken_rows::advice(.source)
    )]
    Engine {
        row: u64,
        #[source]
        source: PolarsError,
    },
}

/// A lookup, loaded and indexed.
pub struct LookupTable {
    pub name: String,
    /// Its file, or its server's URL without secrets ([`Lookup::location`]).
    pub location: String,
    /// Every column as optional text (empty → null), named by header.
    frame: DataFrame,
    header: Vec<String>,
    ignore_case: bool,
    trim: bool,
    /// Normalised keys; a key's id is its row in `frame` (a key is on one row only).
    keys: KeyIndex,
    /// Rows read (for the report).
    pub rows: u64,
}

/// Text where an empty value is null (an optional text field).
fn optional_text(c: Expr) -> Expr {
    when(c.clone().eq(lit("")))
        .then(lit(NULL).cast(DataType::String))
        .otherwise(c)
}

/// Appends one normalised key part to `key`, without allocating (ASCII lower-cased byte-wise).
#[inline]
fn push_normalised(value: &str, trim: bool, ignore_case: bool, key: &mut Vec<u8>) {
    let v = if trim { value.trim() } else { value };
    if !ignore_case {
        key.extend_from_slice(v.as_bytes());
    } else if v.is_ascii() {
        key.extend(v.bytes().map(|b| b.to_ascii_lowercase()));
    } else {
        let mut utf8 = [0u8; 4];
        for c in v.chars().flat_map(char::to_lowercase) {
            key.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
        }
    }
}

impl LookupTable {
    /// Reads and indexes the lookup `l`.
    pub fn load(l: &Lookup) -> Result<Self, EnrichError> {
        let (frame, header, row_numbers) = match &l.read {
            LookupRead::File => read_file(l)?,
            LookupRead::Sqlite(read) => read_database(l, read)?.into_frame()?,
            LookupRead::Postgres { server, read } => {
                remote::read_postgres(l, server, read)?.into_frame()?
            }
            LookupRead::Api(api) => remote::read_api(l, api)?.into_frame()?,
        };
        Self::index(l, frame, header, &row_numbers)
    }

    /// Indexes the rows of `frame` (text columns named by `header`) by their key.
    fn index(
        l: &Lookup,
        frame: DataFrame,
        header: Vec<String>,
        row_numbers: &[u64],
    ) -> Result<Self, EnrichError> {
        let key_cols: Vec<&StringChunked> =
            l.key
                .iter()
                .map(|k| {
                    frame.column(k).and_then(|c| c.str()).map_err(|_| {
                        EnrichError::Columns(vec![missing(l, k, &header, l.span.clone())])
                    })
                })
                .collect::<Result<_, _>>()?;
        let place = l.location();
        let mut table = LookupTable {
            name: l.name.clone(),
            location: place.clone(),
            header,
            ignore_case: l.ignore_case,
            trim: l.trim,
            keys: KeyIndex::new(),
            rows: frame.height() as u64,
            frame: DataFrame::empty(),
        };
        let mut key = Vec::new();
        for i in 0..table.rows as usize {
            let parts: Option<Vec<&str>> = key_cols.iter().map(|c| c.get(i)).collect();
            let row = row_numbers.get(i).copied().unwrap_or(0);
            let Some(parts) = parts else {
                return Err(EnrichError::EmptyKey {
                    name: l.name.clone(),
                    place,
                    row,
                });
            };
            table.key_bytes(&parts, &mut key);
            let (first, new) = table
                .keys
                .insert(&key)
                .map_err(|_| EnrichError::TooManyKeys {
                    name: l.name.clone(),
                    place: place.clone(),
                })?;
            if !new {
                return Err(EnrichError::DuplicateKey {
                    name: l.name.clone(),
                    place,
                    key: parts
                        .iter()
                        .map(|p| format!("`{p}`"))
                        .collect::<Vec<_>>()
                        .join(" + "),
                    first: row_numbers.get(first as usize).copied().unwrap_or(0),
                    second: row,
                });
            }
        }
        table.frame = frame;
        Ok(table)
    }

    fn key_bytes(&self, parts: &[&str], key: &mut Vec<u8>) {
        key.clear();
        for (i, p) in parts.iter().enumerate() {
            if i > 0 {
                key.push(0x1f);
            }
            push_normalised(p, self.trim, self.ignore_case, key);
        }
    }

    /// The row in `frame` of a normalised key (its id: every row adds its key).
    #[inline]
    fn find(&self, key: &[u8]) -> Option<IdxSize> {
        self.keys.find(key).map(|id| id as IdxSize)
    }

    /// The key closest to `value`, for a "did you mean" (small lookups only).
    fn closest(&self, value: &str, key_column: &str) -> Option<String> {
        if self.keys.len() > SUGGEST_MAX_KEYS {
            return None;
        }
        let mut wanted = Vec::new();
        push_normalised(value, true, true, &mut wanted);
        let wanted = String::from_utf8_lossy(&wanted).into_owned();
        let mut best: Option<(f64, usize)> = None;
        let mut buf = Vec::new();
        for (id, k) in self.keys.iter().enumerate() {
            let Ok(text) = std::str::from_utf8(k) else {
                continue;
            };
            buf.clear();
            push_normalised(text, true, true, &mut buf);
            let Ok(normalised) = std::str::from_utf8(&buf) else {
                continue;
            };
            let score = strsim::jaro_winkler(&wanted, normalised);
            if score >= 0.85 && best.is_none_or(|(b, _)| score > b) {
                best = Some((score, id));
            }
        }
        // The key as the lookup writes it (`Lacoste`), not as it is matched (`lacoste`): a
        // key's id is its row.
        let (_, id) = best?;
        let column = self.frame.column(key_column).ok()?.str().ok()?;
        column.get(id).map(str::to_string)
    }
}

/// A CSV or workbook lookup's rows: text columns named by its header, and each row's number.
fn read_file(l: &Lookup) -> Result<(DataFrame, Vec<String>, Vec<u64>), EnrichError> {
    let read = |source| EnrichError::Read {
        name: l.name.clone(),
        source,
    };
    let mut source = Source::open(&l.source, &ReadOptions { limit: None }).map_err(read)?;
    let header = source.info().header.clone();
    let mut frames = Vec::new();
    let mut row_numbers: Vec<u64> = Vec::new();
    while let Some(chunk) = source.next_chunk(crate::source::CHUNK_ROWS).map_err(read)? {
        if let Some(r) = chunk.rejects.first() {
            return Err(EnrichError::Broken {
                name: l.name.clone(),
                path: l.source.path.clone(),
                line: r.issue.line,
                message: r.issue.message.clone(),
            });
        }
        row_numbers.extend(&chunk.rows);
        frames.push(chunk.frame);
    }
    let mut frame = match frames.split_first() {
        Some((first, rest)) => {
            let mut f = first.clone();
            for other in rest {
                f.vstack_mut(other).map_err(|e| engine(0, e))?;
            }
            f
        }
        None => DataFrame::new(
            0,
            (0..header.len())
                .map(|i| Column::new_empty(column_name(i).into(), &DataType::String))
                .collect(),
        )
        .map_err(|e| engine(0, e))?,
    };
    frame.rechunk_mut();
    // Optional text: empty cells are null; columns named by header.
    let exprs: Vec<_> = (0..header.len())
        .map(|i| optional_text(col(column_name(i))).alias(header[i].as_str()))
        .collect();
    let frame = frame
        .lazy()
        .select(exprs)
        .collect()
        .map_err(|e| engine(0, e))?;
    Ok((frame, header, row_numbers))
}

/// A lookup's rows read from a database or an API: its column names and each column's values as
/// text (`None`: null), row 1 first.
struct TextColumns {
    header: Vec<String>,
    columns: Vec<Vec<Option<String>>>,
    rows: usize,
}

impl TextColumns {
    /// The frame of text columns named by the header, the header, and each row's number.
    fn into_frame(self) -> Result<(DataFrame, Vec<String>, Vec<u64>), EnrichError> {
        let frame = DataFrame::new(
            self.rows,
            self.header
                .iter()
                .zip(self.columns)
                .map(|(name, values)| Column::new(name.as_str().into(), values))
                .collect(),
        )
        .map_err(|e| engine(0, e))?;
        Ok((frame, self.header, (1..=self.rows as u64).collect()))
    }
}

/// A SQLite lookup's rows: the table's or the query's columns as text (integers and reals in
/// their decimal text, empty text as null).
fn read_database(l: &Lookup, read: &DatabaseRead) -> Result<TextColumns, EnrichError> {
    let fail = |message: String| EnrichError::Database {
        name: l.name.clone(),
        path: l.source.path.clone(),
        message,
    };
    let flags =
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = rusqlite::Connection::open_with_flags(&l.source.path, flags)
        .map_err(|e| fail(e.to_string()))?;
    let sql = match read {
        DatabaseRead::Table(t) => format!("SELECT * FROM {}", crate::plan::quote_ident(t)),
        DatabaseRead::Query(q) => q.clone(),
    };
    let mut stmt = conn.prepare(&sql).map_err(|e| fail(e.to_string()))?;
    let header: Vec<String> = stmt.column_names().into_iter().map(String::from).collect();
    let mut columns: Vec<Vec<Option<String>>> = vec![Vec::new(); header.len()];
    let mut rows = stmt.query([]).map_err(|e| fail(e.to_string()))?;
    let mut n: u64 = 0;
    while let Some(row) = rows.next().map_err(|e| fail(e.to_string()))? {
        n += 1;
        for (i, column) in columns.iter_mut().enumerate() {
            use rusqlite::types::ValueRef;
            let value = row.get_ref(i).map_err(|e| fail(e.to_string()))?;
            column.push(match value {
                ValueRef::Null => None,
                ValueRef::Integer(v) => Some(v.to_string()),
                ValueRef::Real(v) => Some(v.to_string()),
                ValueRef::Text(t) => {
                    let text = std::str::from_utf8(t).map_err(|_| {
                        fail(format!("row {n}, column `{}` is not UTF-8 text", header[i]))
                    })?;
                    (!text.is_empty()).then(|| text.to_string())
                }
                ValueRef::Blob(_) => {
                    return Err(fail(format!(
                        "row {n}, column `{}` is a blob, which cannot be a lookup value; select it as text (CAST(x AS TEXT)) or leave it out",
                        header[i]
                    )));
                }
            });
        }
    }
    Ok(TextColumns {
        header,
        columns,
        rows: n as usize,
    })
}

fn missing(
    l: &Lookup,
    column: &str,
    header: &[String],
    span: std::ops::Range<usize>,
) -> Diagnostic {
    Diagnostic::at(
        span,
        format!(
            "lookup `{}` has no column `{column}` (`{}`)",
            l.name,
            l.location()
        ),
    )
    .label("no such column")
    .suggest(column, header.iter().map(String::as_str))
    .help_if_none(match header.is_empty() {
        // An API lookup's columns are its records' fields: no record, no column.
        true => "it has no column at all: did it read no row?".to_string(),
        false => format!("its columns are: {}", header.join(", ")),
    })
}

fn engine(row: u64, source: PolarsError) -> EnrichError {
    EnrichError::Engine { row, source }
}

/// Builds each chunk's row and joins the lookups into it.
pub struct Enricher {
    binding: Binding,
    tables: Vec<LookupTable>,
    plan: Plan,
}

impl Enricher {
    /// Loads every lookup the plan declares and checks the columns the steps use.
    pub fn new(plan: &Plan, binding: &Binding) -> Result<Self, EnrichError> {
        let tables: Vec<LookupTable> = plan
            .lookups
            .iter()
            .map(LookupTable::load)
            .collect::<Result<_, _>>()?;
        let mut problems = Vec::new();
        for e in &plan.enrich {
            let t = &tables[e.lookup];
            let l = &plan.lookups[e.lookup];
            for (_, column) in &e.adds {
                if !t.header.contains(column) {
                    problems.push(missing(l, column, &t.header, e.span.clone()));
                }
            }
        }
        if !problems.is_empty() {
            return Err(EnrichError::Columns(problems));
        }
        Ok(Enricher {
            binding: binding.clone(),
            tables,
            plan: plan.clone(),
        })
    }

    /// Rows per lookup, for the report: its name, its file or its server's URL without
    /// secrets, and its rows.
    pub fn lookup_rows(&self) -> Vec<(String, String, u64)> {
        self.tables
            .iter()
            .map(|t| (t.name.clone(), t.location.clone(), t.rows))
            .collect()
    }

    /// The row of every frame row of `chunk`: declared fields from `typed`, other columns as
    /// optional text, then the enriched fields. Lookup misses under `reject` are pushed to
    /// `issues`.
    pub fn rows(
        &self,
        chunk: &Chunk,
        typed: &DataFrame,
        issues: &mut Vec<Issue>,
    ) -> Result<DataFrame, EnrichError> {
        let first_row = chunk.rows.first().copied().unwrap_or(0);
        let n = chunk.rows.len();
        let mut columns: Vec<Column> = Vec::with_capacity(self.binding.row.len());
        let mut texts = Vec::new();
        for f in &self.binding.row {
            match f.origin {
                RowOrigin::Field(_) => columns.push(
                    typed
                        .column(&f.name)
                        .map_err(|e| engine(first_row, e))?
                        .clone(),
                ),
                RowOrigin::Column(ci) => {
                    let c = col(column_name(ci));
                    let blank = chunk.shapes.get(ci).is_none_or(|s| s.blank);
                    texts.push(if blank { optional_text(c) } else { c }.alias(f.name.as_str()));
                }
                RowOrigin::Enriched { .. } => {}
            }
        }
        if !texts.is_empty() {
            let extra = chunk
                .frame
                .clone()
                .lazy()
                .select(texts)
                .collect()
                .map_err(|e| engine(first_row, e))?;
            columns.extend(extra.columns().iter().cloned());
        }
        // Keep the binding's order: fields, then columns (enriched fields follow).
        let mut row = DataFrame::new(n, columns).map_err(|e| engine(first_row, e))?;
        for e in &self.plan.enrich {
            let added = self.join(e, &row, chunk, issues)?;
            for c in added {
                row.with_column(c).map_err(|e| engine(first_row, e))?;
            }
        }
        Ok(row)
    }

    /// One enrich step over a chunk: probe, gather, apply `on_miss`.
    fn join(
        &self,
        e: &crate::plan::Enrich,
        row: &DataFrame,
        chunk: &Chunk,
        issues: &mut Vec<Issue>,
    ) -> Result<Vec<Column>, EnrichError> {
        let first_row = chunk.rows.first().copied().unwrap_or(0);
        let t = &self.tables[e.lookup];
        let n = row.height();
        // The key as text: typed fields in their canonical form (`01` read as integer is `1`).
        let keys: Vec<StringChunked> = e
            .matches
            .iter()
            .map(|m| {
                row.column(m)
                    .and_then(|c| c.cast(&DataType::String))
                    .and_then(|c| c.str().cloned())
            })
            .collect::<Result<_, _>>()
            .map_err(|err| engine(first_row, err))?;
        // A key of one value is read straight from its array. A short one (12 bytes or less)
        // is held whole in its 16-byte view: a chunk's rows repeat few of them, so each
        // distinct view is looked up once.
        let single = match keys.as_slice() {
            [one] => one.rechunk().downcast_iter().next().cloned(),
            _ => None,
        };
        let mut memo: hashbrown::HashMap<u128, Option<IdxSize>, FixedState> =
            hashbrown::HashMap::with_hasher(FixedState::default());
        let mut iters: Vec<_> = keys.iter().map(|k| k.iter()).collect();
        let mut idx: Vec<Option<IdxSize>> = Vec::with_capacity(n);
        let mut missed: Vec<bool> = Vec::with_capacity(n);
        let mut key = Vec::new();
        for i in 0..n {
            key.clear();
            // `None`: a part of the key is null, so nothing is looked up.
            let found = match &single {
                Some(a) => match (a.get(i), a.views().get(i)) {
                    (Some(v), Some(view)) if view.length <= 12 => {
                        Some(*memo.entry(view.as_u128()).or_insert_with(|| {
                            push_normalised(v, t.trim, t.ignore_case, &mut key);
                            t.find(&key)
                        }))
                    }
                    (Some(v), _) => {
                        push_normalised(v, t.trim, t.ignore_case, &mut key);
                        Some(t.find(&key))
                    }
                    (None, _) => None,
                },
                None => {
                    let mut null = false;
                    for (k, it) in iters.iter_mut().enumerate() {
                        match it.next().flatten() {
                            Some(v) if !null => {
                                if k > 0 {
                                    key.push(0x1f);
                                }
                                push_normalised(v, t.trim, t.ignore_case, &mut key);
                            }
                            _ => null = true,
                        }
                    }
                    (!null).then(|| t.find(&key))
                }
            };
            let Some(found) = found else {
                // A null key is not looked up: `on_miss = "default"` gives it the default.
                idx.push(None);
                missed.push(matches!(e.on_miss, OnMiss::Default(_)));
                continue;
            };
            idx.push(found);
            missed.push(found.is_none());
            if found.is_none() && e.on_miss == OnMiss::Reject {
                let present: Vec<&str> = keys.iter().map(|k| k.get(i).unwrap_or("")).collect();
                issues.push(self.miss_issue(e, t, chunk, i, &present));
            }
        }
        let idx = IdxCa::from_slice_options("idx".into(), &idx);
        let missed = BooleanChunked::from_slice("missed".into(), &missed);
        let mut out = Vec::new();
        for (ai, (name, column)) in e.adds.iter().enumerate() {
            let source = t
                .frame
                .column(column)
                .and_then(|c| c.str().cloned())
                .map_err(|err| engine(first_row, err))?;
            let mut taken = source.take(&idx).map_err(|err| engine(first_row, err))?;
            if let OnMiss::Default(values) = &e.on_miss {
                let default = StringChunked::full("default".into(), &values[ai], n);
                taken = default
                    .zip_with(&missed, &taken)
                    .map_err(|err| engine(first_row, err))?;
            }
            taken.rename(name.as_str().into());
            out.push(taken.into_column());
        }
        Ok(out)
    }

    fn miss_issue(
        &self,
        e: &crate::plan::Enrich,
        t: &LookupTable,
        chunk: &Chunk,
        i: usize,
        values: &[&str],
    ) -> Issue {
        let field = e.matches.first().cloned().unwrap_or_default();
        let column = self
            .plan
            .structure
            .as_ref()
            .and_then(|s| s.fields.iter().find(|f| f.name == field))
            .map(|f| f.column.clone())
            .unwrap_or_else(|| field.clone());
        let l = &self.plan.lookups[e.lookup];
        let shown = values
            .iter()
            .map(|v| format!("`{v}`"))
            .collect::<Vec<_>>()
            .join(" + ");
        let mut message = format!(
            "{shown} is not in lookup `{}` (key {})",
            t.name,
            l.key
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(" + ")
        );
        if values.len() == 1
            && let Some(close) = l.key.first().and_then(|k| t.closest(values[0], k))
        {
            message.push_str(&format!("; did you mean `{close}`?"));
        }
        Issue {
            row: chunk.rows[i],
            line: chunk.lines[i],
            code: match e.existence {
                Some(_) => Code::NotInLookup,
                None => Code::LookupMiss,
            },
            severity: e.existence.unwrap_or(Severity::Error),
            field,
            column,
            value: values.join(" | "),
            message,
        }
    }
}
