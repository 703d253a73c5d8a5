//! Fuzzing targets: what one input of the fuzzing campaign exercises, and the invariants it must
//! keep. A target returns `Err` when an invariant breaks; a panic is a finding too (the driver
//! catches it). The campaign (`examples/fuzz.rs`, run by `fuzz/run.sh`) mutates seeds and calls
//! these; the test suite replays every input kept in `fuzz/regressions/` through them.
//!
//! Every target takes only bytes, so a finding is replayed from its file alone:
//!
//! - [`csv`]: the bytes are a CSV export read with every option left to detection (encoding,
//!   dialect, header). The rows read must be accounted for chunk by chunk, numbered in
//!   increasing order, and no more than the file's physical lines.
//! - [`csv_generated`]: the bytes are a recipe for a well-formed CSV (dialect, widths, fields
//!   with quotes, delimiters and line breaks in them); read with its dialect declared, every
//!   record must come back as written, and read with detection, every record must be accounted
//!   for.
//! - [`workbook`]: the first byte chooses a file extension, the rest is a workbook (or not).
//! - [`mapping`]: the bytes are a mapping file; one that compiles is bound to a header and,
//!   for one input in eight, validated against a small export.
//! - [`sql`]: the bytes are a SQL expression, evaluated over columns of every type holding
//!   edge values (64-bit limits, empty text, nulls, dates far from now); [`sql_plan`] puts it in
//!   a mapping's check, `when` and columns; [`sql_generated`] builds it from a grammar first.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::plan::{self, SourcePlan};
use crate::source::{ReadOptions, Source};

/// Inputs that got past the first gate (the file opened as an input, the mapping compiled, the
/// expression parsed): how deep the campaign reaches.
pub static DEEP: AtomicU64 = AtomicU64::new(0);

/// A scratch folder for one thread's inputs, in memory where the system has one.
fn scratch() -> PathBuf {
    let base = if Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let dir = base.join(format!(
        "rowferry-fuzz-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = std::fs::create_dir_all(&dir);
    dir
}

fn fail<T>(what: impl std::fmt::Display) -> Result<T, String> {
    Err(what.to_string())
}

/// Reads every row of `plan` and checks the accounting; returns the rows read and the accepted
/// rows' values when `keep` is set.
/// Rows read, and the accepted rows' values when kept; `None` when the input was refused.
type ReadAll = Option<(u64, Vec<Vec<String>>)>;

fn read_all(plan: &SourcePlan, keep: bool) -> Result<ReadAll, String> {
    let Ok(mut source) = Source::open(plan, &ReadOptions::default()) else {
        // A refused input is fine: it must only be refused with an error, not a crash.
        return Ok(None);
    };
    DEEP.fetch_add(1, Ordering::Relaxed);
    let info = source.info();
    // Rows are numbered from the header on; without a header, the first data row is it.
    let mut last = info.header_row - u64::from(!info.has_header && info.header_row > 0);
    let width = info.header.len();
    let mut read = 0;
    let mut values = Vec::new();
    loop {
        let chunk = match source.next_chunk(64) {
            Ok(Some(b)) => b,
            Ok(None) => break,
            Err(_) => return Ok(None),
        };
        if chunk.rows.len() != chunk.frame.height() || chunk.rows.len() != chunk.lines.len() {
            return fail("a chunk's rows, lines and frame disagree");
        }
        let mut numbers: Vec<u64> = chunk
            .rows
            .iter()
            .copied()
            .chain(chunk.rejects.iter().map(|r| r.issue.row))
            .collect();
        numbers.sort_unstable();
        for n in &numbers {
            if *n <= last {
                return fail(format!("row {n} comes after row {last}"));
            }
            last = *n;
        }
        for (row, line) in chunk.rows.iter().zip(&chunk.lines) {
            if line < row {
                return fail(format!("row {row} starts on line {line}"));
            }
        }
        read += chunk.rows_read();
        if keep {
            for i in 0..chunk.frame.height() {
                let mut rec = Vec::with_capacity(width);
                for c in 0..width {
                    let col = chunk
                        .frame
                        .column(&crate::source::column_name(c))
                        .map_err(|e| e.to_string())?;
                    let v = col.str().map_err(|e| e.to_string())?.get(i);
                    rec.push(v.unwrap_or("").to_string());
                }
                values.push(rec);
            }
        }
    }
    if source.finish().is_err() {
        return Ok(None);
    }
    Ok(Some((read, values)))
}

/// Physical lines: line feeds, CR LF pairs and lone carriage returns each end one.
fn physical_lines(bytes: &[u8]) -> u64 {
    let mut n = 1;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => n += 1,
            b'\r' if bytes.get(i + 1) != Some(&b'\n') => n += 1,
            _ => {}
        }
        i += 1;
    }
    n
}

fn write(name: &str, bytes: &[u8]) -> Result<PathBuf, String> {
    let path = scratch().join(name);
    std::fs::write(&path, bytes).map_err(|e| format!("scratch file: {e}"))?;
    Ok(path)
}

/// Arbitrary bytes as a CSV export, every option detected.
pub fn csv(bytes: &[u8]) -> Result<(), String> {
    let path = write("in.csv", bytes)?;
    let mut plan = SourcePlan::detect(path);
    plan.max_field_bytes = 4096;
    if let Some((read, _)) = read_all(&plan, false)? {
        // Every row read starts on a line of its own (UTF-16 has fewer lines than bytes say,
        // never more).
        let lines = physical_lines(bytes);
        if read > lines {
            return fail(format!("{read} rows read from {lines} lines"));
        }
    }
    Ok(())
}

/// Choices drawn from the input bytes, zero once they run out.
struct Recipe<'a>(&'a [u8]);

impl Recipe<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }

    fn below(&mut self, n: u8) -> u8 {
        self.byte() % n.max(1)
    }
}

/// A well-formed CSV made from a recipe, and the records it holds.
fn generate(bytes: &[u8]) -> (Vec<u8>, u8, Vec<Vec<String>>) {
    let mut r = Recipe(bytes);
    let delimiter = [b',', b';', b'\t', b'|'][r.below(4) as usize];
    let crlf = r.below(2) == 1;
    let width = 1 + r.below(6) as usize;
    let rows = r.below(40) as usize;
    const PIECES: [&str; 16] = [
        "a",
        "Zoë",
        " padded ",
        "",
        "12,5",
        "line\nbreak",
        "cr\r\nlf",
        "\"quoted\"",
        "x;y",
        "tab\t",
        "pipe|",
        "=1+1",
        "€",
        "0042",
        "2024-01-31",
        "  ",
    ];
    let mut records = Vec::new();
    let mut header = Vec::new();
    for c in 0..width {
        header.push(format!("col{c}"));
    }
    records.push(header);
    for _ in 0..rows {
        let mut rec = Vec::new();
        for _ in 0..width {
            let mut v = String::new();
            for _ in 0..r.below(3) {
                v.push_str(PIECES[r.below(16) as usize]);
            }
            rec.push(v);
        }
        // A row whose fields are all blank is skipped, not read: keep one non-blank field.
        if rec.iter().all(|v| v.trim().is_empty()) {
            rec[0] = "k".into();
        }
        records.push(rec);
    }
    let mut out = Vec::new();
    let d = char::from(delimiter);
    for rec in &records {
        let fields: Vec<String> = rec
            .iter()
            .map(|v| {
                let needs = v.contains(d)
                    || v.contains(['"', '\n', '\r'])
                    || v.starts_with(' ')
                    || v.is_empty() && rec.len() == 1;
                if needs {
                    format!("\"{}\"", v.replace('"', "\"\""))
                } else {
                    v.clone()
                }
            })
            .collect();
        out.extend_from_slice(fields.join(&d.to_string()).as_bytes());
        out.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
    }
    (out, delimiter, records)
}

/// A well-formed CSV from a recipe: every record comes back as written.
pub fn csv_generated(bytes: &[u8]) -> Result<(), String> {
    let (text, delimiter, records) = generate(bytes);
    let path = write("gen.csv", &text)?;
    let mut plan = SourcePlan::detect(path.clone());
    plan.delimiter = Some(delimiter);
    plan.quote = Some(b'"');
    plan.header_row = Some(1);
    plan.header = Some(true);
    plan.encoding = Some(encoding_rs::UTF_8);
    let Some((read, values)) = read_all(&plan, true)? else {
        return fail("a well-formed CSV was refused");
    };
    let data = &records[1..];
    if read != data.len() as u64 || values != data {
        return fail(format!(
            "{} records written, {read} read, {} accepted, first difference {:?}",
            data.len(),
            values.len(),
            values.iter().zip(data).find(|(a, b)| a != b)
        ));
    }
    // Detected, the dialect may be guessed otherwise; every record is still accounted for.
    let plan = SourcePlan::detect(path);
    if let Some((read, _)) = read_all(&plan, false)?
        && read > physical_lines(&text)
    {
        return fail(format!("{read} rows read from a file of fewer lines"));
    }
    Ok(())
}

/// The extension a workbook input is written under, chosen by its first byte.
pub const WORKBOOK_EXTENSIONS: [&str; 6] = ["xlsx", "xls", "ods", "xlsb", "xlsm", "xlsx"];

/// A workbook (or anything under a workbook's name): read whole, rows accounted for.
pub fn workbook(bytes: &[u8]) -> Result<(), String> {
    let Some((first, rest)) = bytes.split_first() else {
        return Ok(());
    };
    let ext = WORKBOOK_EXTENSIONS[*first as usize % WORKBOOK_EXTENSIONS.len()];
    let path = write(&format!("in.{ext}"), rest)?;
    let plan = SourcePlan::detect(path);
    read_all(&plan, false)?;
    Ok(())
}

/// Values the mapping target's export cycles through, column by column.
const EDGE_VALUES: [&str; 14] = [
    "A-1",
    "12,50",
    "",
    "31/01/2024",
    "2024-01-31",
    "-1",
    "9223372036854775807",
    "x@y.fr",
    "true",
    "  ",
    "=1+1",
    "Zoë",
    "1e400",
    "2024-02-30T25:00:00",
];

/// The repository's samples, copied once into the scratch folder so a shipped mapping's
/// relative lookups resolve there.
fn samples() -> PathBuf {
    static ONCE: std::sync::Once = std::sync::Once::new();
    let dir = scratch().join("repo");
    ONCE.call_once(|| {
        let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
        for sub in ["shop", "crm", "orders"] {
            let to = dir.join("samples").join(sub);
            let _ = std::fs::create_dir_all(&to);
            if let Ok(entries) = std::fs::read_dir(from.join(sub)) {
                for e in entries.flatten() {
                    let _ = std::fs::copy(e.path(), to.join(e.file_name()));
                }
            }
        }
        let _ = std::fs::create_dir_all(dir.join("mappings"));
    });
    dir
}

/// A mapping file: compiled, bound to the header it expects, and for one input in four
/// validated or run against a small export of edge values.
pub fn mapping(bytes: &[u8]) -> Result<(), String> {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Ok(());
    };
    let repo = samples();
    let path = repo.join("mappings").join("fuzz.toml");
    let Ok(plan) = plan::parse(&path, text, None, &[]) else {
        return Ok(());
    };
    DEEP.fetch_add(1, Ordering::Relaxed);
    let mut header: Vec<String> = Vec::new();
    let columns = plan
        .structure
        .iter()
        .flat_map(|s| s.fields.iter().map(|f| f.column.clone()))
        .chain(plan.deferred.iter().map(|(n, _)| n.clone()));
    for c in columns {
        if !header.contains(&c) {
            header.push(c);
        }
    }
    let Ok(binding) = plan::bind(&plan, Some(&header)) else {
        return Ok(());
    };
    // A lookup on a server would be read over the network: the fuzzer connects to nothing.
    if plan.lookups.iter().any(plan::Lookup::is_remote) {
        return Ok(());
    }
    let _ = crate::enrich::Enricher::new(&plan, &binding);
    let _ = crate::route::Router::new(&plan);
    let _ = crate::project::Projector::new(&plan, &binding, true);
    let sum = bytes.iter().fold(0u8, |a, b| a.wrapping_add(*b));
    if sum % 4 != 0 || header.is_empty() {
        return Ok(());
    }
    std::fs::write(&path, text).map_err(|e| e.to_string())?;
    let delimiter = char::from(plan.source.delimiter.unwrap_or(b','));
    let quote = |v: &str| format!("\"{}\"", v.replace('"', "\"\""));
    let mut csv = header
        .iter()
        .map(|h| quote(h))
        .collect::<Vec<_>>()
        .join(&delimiter.to_string());
    csv.push('\n');
    for r in 0..6 {
        let row: Vec<String> = (0..header.len())
            .map(|c| quote(EDGE_VALUES[(r * 5 + c) % EDGE_VALUES.len()]))
            .collect();
        csv.push_str(&row.join(&delimiter.to_string()));
        csv.push('\n');
    }
    let input = write("mapping-input.csv", csv.as_bytes())?;
    let options = crate::pipeline::RunOptions {
        input: Some(input),
        out: Some(repo.join("out")),
        limit: None,
        quiet: true,
        sets: Vec::new(),
    };
    // A failed run is fine; a run that completes must account for every row.
    let result = if sum % 8 == 0 {
        crate::pipeline::run(&path, &options)
    } else {
        crate::pipeline::validate(&path, &options)
    };
    if let Ok(result) = result
        && !result.report.conservation.holds
    {
        return fail("a completed run does not account for every row");
    }
    Ok(())
}

/// A SQL expression over columns of every type, evaluated on edge values.
pub fn sql(bytes: &[u8]) -> Result<(), String> {
    use polars::prelude::{DataFrame, DataType, IntoLazy, NamedFrom, Series, TimeUnit};
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Ok(());
    };
    // As the plan reads it: the SQL engine's own panics are contained there.
    let Ok(expr) = plan::parse_sql(text) else {
        return Ok(());
    };
    DEEP.fetch_add(1, Ordering::Relaxed);
    let columns: [(&str, DataType); 7] = [
        ("i", DataType::Int64),
        ("d", DataType::Decimal(38, 2)),
        ("f", DataType::Float64),
        ("s", DataType::String),
        ("b", DataType::Boolean),
        ("dt", DataType::Date),
        ("ts", DataType::Datetime(TimeUnit::Microseconds, None)),
    ];
    let schema = plan::typed_schema(columns.iter().map(|(n, t)| (*n, t.clone())));
    let expr = plan::checked_arithmetic(expr, &schema);
    let n = 5;
    let frame = (|| {
        let i = Series::new(
            "i".into(),
            [Some(i64::MIN), Some(-1), Some(0), Some(i64::MAX), None],
        );
        let f = Series::new(
            "f".into(),
            [f64::MIN, -0.0, f64::NAN, f64::INFINITY, 1e-300],
        );
        let s = Series::new(
            "s".into(),
            [Some(""), Some("Zoë"), Some(" 1 "), Some("\u{0}"), None],
        );
        let b = Series::new(
            "b".into(),
            [Some(true), Some(false), None, Some(true), None],
        );
        let dt =
            Series::new("dt".into(), [i32::MIN, -1, 0, 19_000, i32::MAX]).cast(&DataType::Date)?;
        let ts = Series::new("ts".into(), [i64::MIN, -1, 0, 1, i64::MAX])
            .cast(&DataType::Datetime(TimeUnit::Microseconds, None))?;
        let d = Series::new(
            "d".into(),
            [
                "-999999999999999999999999999999999999.99",
                "0",
                "0.01",
                "12.50",
                "1",
            ],
        )
        .cast(&DataType::Decimal(38, 2))?;
        DataFrame::new(
            n,
            vec![
                i.into(),
                d.into(),
                f.into(),
                s.into(),
                b.into(),
                dt.into(),
                ts.into(),
            ],
        )
    })()
    .map_err(|e| format!("the test frame: {e}"))?;
    // As a run evaluates it: a panic of the engine on a chunk is contained and stops the run
    // with an error, so it is no crash; what is left to find is a panic outside the engine.
    let _ = crate::panics::contain(|| frame.lazy().select([expr.alias("v")]).collect());
    Ok(())
}

/// A fuzzing target: `Err` says which invariant broke.
pub type Target = fn(&[u8]) -> Result<(), String>;

/// The fuzzing targets by name.
pub const TARGETS: [(&str, Target); 7] = [
    ("csv", csv),
    ("csv-generated", csv_generated),
    ("workbook", workbook),
    ("mapping", mapping),
    ("sql", sql),
    ("sql-plan", sql_plan),
    ("sql-generated", sql_generated),
];

/// A SQL expression where a mapping puts one: a check, a `when` and a target column, compiled
/// and type-checked as `check` does.
pub fn sql_plan(bytes: &[u8]) -> Result<(), String> {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Ok(());
    };
    let expr = toml::Value::String(text.to_string()).to_string();
    let predicate = toml::Value::String(format!("({text}) IS NOT NULL")).to_string();
    let text = format!(
        "[source]\npath = \"x.csv\"\nstructure = \"s\"\n\n[structures.s.fields]\ni = {{ type = \"integer\" }}\nd = {{ type = \"decimal\", scale = 2, decimal_separator = \",\" }}\nf = {{ type = \"number\" }}\ns = {{}}\nb = {{ type = \"boolean\" }}\ndt = {{ type = \"date\", format = \"%d/%m/%Y\" }}\nts = {{ type = \"datetime\" }}\n\n[[structures.s.checks]]\nname = \"c\"\nrule = {predicate}\n\n[targets.t]\npath = \"t.csv\"\nwhen = {predicate}\ncolumns.v = {expr}\n\n[targets.j]\npath = \"{{s}}/j.json\"\ncolumns.\"a.v\" = {expr}\n"
    );
    mapping(text.as_bytes())
}

/// A SQL expression built from a recipe by a grammar of the expressions mappings use, so that
/// every input parses: evaluated as [`sql`] does, and one input in four compiled and run as
/// [`sql_plan`] does.
pub fn sql_generated(bytes: &[u8]) -> Result<(), String> {
    let mut r = Recipe(bytes);
    let text = expression(&mut r, 0);
    sql(text.as_bytes())?;
    if bytes.first().is_some_and(|b| b % 4 == 0) {
        sql_plan(text.as_bytes())?;
    }
    Ok(())
}

fn expression(r: &mut Recipe<'_>, depth: u8) -> String {
    const COLUMNS: [&str; 7] = ["i", "d", "f", "s", "b", "dt", "ts"];
    const LITERALS: [&str; 16] = [
        "0",
        "1",
        "-1",
        "2",
        "100",
        "9223372036854775807",
        "-9223372036854775808",
        "12.50",
        "0.001",
        "'x'",
        "''",
        "'2024-01-31'",
        "NULL",
        "TRUE",
        "1e308",
        "'Zoë'",
    ];
    const BINARY: [&str; 14] = [
        "+", "-", "*", "/", "%", "||", "=", "<>", "<", ">=", "AND", "OR", "LIKE", "NOT LIKE",
    ];
    const TYPES: [&str; 9] = [
        "INTEGER",
        "BIGINT",
        "SMALLINT",
        "DOUBLE",
        "DECIMAL(10,2)",
        "VARCHAR",
        "DATE",
        "BOOLEAN",
        "TIMESTAMP",
    ];
    const UNARY_FNS: [&str; 7] = ["ABS", "UPPER", "LOWER", "LENGTH", "TRIM", "SIGN", "FLOOR"];
    if depth >= 5 {
        return if r.below(2) == 0 {
            COLUMNS[r.below(7) as usize].to_string()
        } else {
            LITERALS[r.below(16) as usize].to_string()
        };
    }
    let d = depth + 1;
    match r.below(14) {
        0 | 1 => COLUMNS[r.below(7) as usize].to_string(),
        2 => LITERALS[r.below(16) as usize].to_string(),
        3..=5 => {
            let (a, op, b) = (
                expression(r, d),
                BINARY[r.below(14) as usize],
                expression(r, d),
            );
            format!("({a} {op} {b})")
        }
        6 => format!("{}({})", UNARY_FNS[r.below(7) as usize], expression(r, d)),
        7 => {
            let cast = if r.below(2) == 0 { "CAST" } else { "TRY_CAST" };
            format!(
                "{cast}({} AS {})",
                expression(r, d),
                TYPES[r.below(9) as usize]
            )
        }
        8 => format!(
            "CASE WHEN {} THEN {} ELSE {} END",
            expression(r, d),
            expression(r, d),
            expression(r, d)
        ),
        9 => format!("COALESCE({}, {})", expression(r, d), expression(r, d)),
        10 => format!(
            "SUBSTR({}, {}, {})",
            expression(r, d),
            expression(r, d),
            expression(r, d)
        ),
        11 => format!("ROUND({}, {})", expression(r, d), r.below(5)),
        12 => format!("({} IS NULL)", expression(r, d)),
        _ => format!(
            "({} IN ({}, {}))",
            expression(r, d),
            expression(r, d),
            expression(r, d)
        ),
    }
}
