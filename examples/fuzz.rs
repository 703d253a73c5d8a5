//! The fuzzing campaign: mutates seeds and feeds them to the targets of `rowferry::fuzzing`,
//! for a fixed number of executions, on stable Rust. A panic or a broken invariant is a finding:
//! its input is written to `fuzz/findings/TARGET/` with the message beside it; once fixed, move
//! it to `fuzz/regressions/TARGET/`, which the test suite replays.
//!
//! ```text
//! cargo run --release --example fuzz -- TARGET [RUNS] [SEED]
//! cargo run --release --example fuzz -- replay DIR...
//! ```
//!
//! TARGET is one of `csv`, `csv-generated`, `workbook`, `mapping`, `sql`, `sql-plan`,
//! `sql-generated`. Seeds come
//! from `../shared/corpus/` where it exists, the repository's `samples/` and `mappings/`, and
//! inputs built here (workbooks of every cell kind, SQL over every type). `fuzz/run.sh` runs the
//! whole campaign. Mutations are blind (no coverage feedback): bit flips, bytes that matter to
//! CSV, XML and TOML, inserted, removed, repeated and spliced runs, and for zip-based
//! workbooks the same inside one of their XML parts, recompressed.

#[path = "../tests/sheets/writer.rs"]
mod writer;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use sha2::{Digest, Sha256};

use rowferry::fuzzing::TARGETS;

/// xorshift64*: small, fast, and the same sequence for the same seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// Byte strings that mean something to the readers.
const TOKENS: &[&[u8]] = &[
    b"\"",
    b"\"\"",
    b",",
    b";",
    b"\t",
    b"|",
    b"\r",
    b"\n",
    b"\r\n",
    b"\n\r",
    b"\0",
    b"\xEF\xBB\xBF",
    b"\xFF\xFE",
    b"\xFE\xFF",
    b"\xC3",
    b"\xA9",
    b"\xE2\x82\xAC",
    b"\xF0\x9F\x98\x80",
    b"\x80",
    b"=",
    b"-",
    b"+",
    b"@",
    b"#",
    b" ",
    b"0",
    b"-1",
    b"9223372036854775807",
    b"-9223372036854775808",
    b"1e400",
    b"NaN",
    b"31/12/9999",
    b"0000-00-00",
    b"1048576",
    b"16384",
    b"4294967296",
    b"<row r=\"4\">",
    b"<c r=\"XFD1048576\" t=\"s\"><v>0</v></c>",
    b"<v>",
    b"</v>",
    b"t=\"s\"",
    b"t=\"inlineStr\"",
    b"<is><t>",
    b"r=\"",
    b"spans=\"",
    b"table:number-rows-repeated=\"",
    b"table:number-columns-repeated=\"1000000\"",
    b"<table:table-row>",
    b"office:value-type=\"date\"",
    b"[source]",
    b"[structures.s.fields]",
    b"[targets.t]",
    b"[[enrich]]",
    b"[lookups.l]",
    b"[run]",
    b"type = \"date\"",
    b"format = \"%d/%m/%Y\"",
    b"unique = true",
    b"required = true",
    b"pattern = '(a+)+$'",
    b"when = \"",
    b"columns.\"a.b.c\" = \"x\"",
    b"group_by = [\"x\"]",
    b"batch_size = 1",
    b"path = \"{x}/{batch}.json\"",
    b"${HOME}",
    b"${X:-y}",
    b"CAST(",
    b" AS INTEGER)",
    b"TRY_CAST(",
    b"CASE WHEN ",
    b" THEN ",
    b" ELSE ",
    b" END",
    b"COALESCE(",
    b"(((((((((",
    b")))))))))",
    b" * ",
    b" + ",
    b" - ",
    b" / ",
    b" || ",
    b"'",
    b"''",
    b"NULL",
    b"LIKE",
    b"IN (1, 2)",
    b"SUBSTR(",
    b"LENGTH(",
    b"UPPER(",
    b"ABS(",
    b"ROUND(",
    b"i",
    b"d",
    b"f",
    b"s",
    b"b",
    b"dt",
    b"ts",
];

/// Applies one to eight mutations (to three on text that must still parse to go deep).
fn mutate(rng: &mut Rng, data: &mut Vec<u8>, others: &[Vec<u8>]) {
    let text = std::str::from_utf8(data).is_ok();
    for _ in 0..1 + rng.below(if text { 3 } else { 8 }) {
        let len = data.len();
        match rng.below(10) {
            0 if len > 0 => {
                let i = rng.below(len);
                data[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                data[i] = rng.next() as u8;
            }
            2 | 3 => {
                let t = TOKENS[rng.below(TOKENS.len())];
                let i = rng.below(len + 1);
                data.splice(i..i, t.iter().copied());
            }
            4 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(64));
                data.drain(i..i + n);
            }
            5 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(256));
                let run: Vec<u8> = data[i..i + n].to_vec();
                let times = 1 + rng.below(16);
                for _ in 0..times {
                    data.splice(i..i, run.iter().copied());
                }
            }
            6 if !others.is_empty() => {
                let other = &others[rng.below(others.len())];
                if !other.is_empty() {
                    let a = rng.below(other.len());
                    let n = 1 + rng.below((other.len() - a).min(512));
                    let i = rng.below(len + 1);
                    data.splice(i..i, other[a..a + n].iter().copied());
                }
            }
            7 if len > 0 => data.truncate(rng.below(len)),
            8 if len > 0 => {
                // Overwrite a run with a token.
                let t = TOKENS[rng.below(TOKENS.len())];
                let i = rng.below(len);
                let end = (i + t.len()).min(len);
                data.splice(i..end, t.iter().copied());
            }
            _ => {
                let i = rng.below(len + 1);
                let n = 1 + rng.below(8);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                data.splice(i..i, bytes);
            }
        }
    }
    data.truncate(256 * 1024);
}

/// A zip-based workbook with one of its XML parts mutated, recompressed; `None` when the bytes
/// are no zip.
fn mutate_zip(rng: &mut Rng, book: &[u8], others: &[Vec<u8>]) -> Option<Vec<u8>> {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(book)).ok()?;
    let mut parts = Vec::new();
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).ok()?;
        let mut data = Vec::new();
        f.read_to_end(&mut data).ok()?;
        parts.push((f.name().ok()?.to_string(), data));
    }
    let xml: Vec<usize> = (0..parts.len())
        .filter(|&i| parts[i].0.ends_with(".xml"))
        .collect();
    if xml.is_empty() {
        return None;
    }
    // Worksheets and shared strings hold the rows: mutate them most.
    let pick = xml
        .iter()
        .copied()
        .find(|&i| parts[i].0.contains("sheet") || parts[i].0.contains("content") && rng.chance(70))
        .filter(|_| rng.chance(60))
        .unwrap_or_else(|| xml[rng.below(xml.len())]);
    mutate(rng, &mut parts[pick].1, others);
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in &parts {
        out.start_file(name.as_str(), options).ok()?;
        out.write_all(data).ok()?;
    }
    Some(out.finish().ok()?.into_inner())
}

/// Files under `dir` (recursively) whose names end in one of `exts`.
fn files(dir: &Path, exts: &[&str], out: &mut Vec<Vec<u8>>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            files(&p, exts, out);
        } else if p
            .extension()
            .is_some_and(|e| exts.iter().any(|x| e.eq_ignore_ascii_case(x)))
            && let Ok(bytes) = std::fs::read(&p)
            && bytes.len() <= 4 << 20
        {
            out.push(bytes);
        }
    }
}

/// An ODS workbook with a few kinds of cells.
fn ods() -> Vec<u8> {
    let content = r#"<?xml version="1.0" encoding="UTF-8"?>
<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2"><office:body><office:spreadsheet><table:table table:name="Sheet1"><table:table-row><table:table-cell office:value-type="string"><text:p>sku</text:p></table:table-cell><table:table-cell office:value-type="string"><text:p>price</text:p></table:table-cell><table:table-cell office:value-type="string"><text:p>day</text:p></table:table-cell></table:table-row><table:table-row table:number-rows-repeated="3"><table:table-cell office:value-type="string"><text:p>A-1</text:p></table:table-cell><table:table-cell office:value-type="float" office:value="12.5"><text:p>12.5</text:p></table:table-cell><table:table-cell office:value-type="date" office:date-value="2024-01-31"><text:p>31/01/2024</text:p></table:table-cell></table:table-row><table:table-row><table:table-cell table:number-columns-repeated="2"/><table:table-cell office:value-type="boolean" office:boolean-value="true"><text:p>TRUE</text:p></table:table-cell></table:table-row></table:table></office:spreadsheet></office:body></office:document-content>"#;
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let _ = out.start_file("mimetype", stored);
    let _ = out.write_all(b"application/vnd.oasis.opendocument.spreadsheet");
    let _ = out.start_file("content.xml", stored);
    let _ = out.write_all(content.as_bytes());
    out.finish().map(|c| c.into_inner()).unwrap_or_default()
}

/// An XLSX workbook with every kind of cell the writer knows.
fn xlsx() -> Vec<u8> {
    use writer::{Book, Cell, Sheet, text};
    let dir = std::env::temp_dir().join(format!("rowferry-fuzz-seed-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join("seed.xlsx");
    Book::new(vec![
        Sheet::new("Data")
            .row(
                1,
                1,
                vec![text("sku"), text("price"), text("day"), text("ok")],
            )
            .row(
                2,
                1,
                vec![
                    text("A-1"),
                    Cell::Number(12.5),
                    Cell::Date(45322.0),
                    Cell::Bool(true),
                ],
            )
            .row(4, 2, vec![Cell::Error("#N/A"), Cell::Formula("1+1", 2.0)])
            .row(5, 1, vec![Cell::DateTime(45322.5), Cell::Percent(0.5)]),
        Sheet::new("Hidden").hidden(),
    ])
    .write(&path);
    let bytes = std::fs::read(&path).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    bytes
}

/// The seeds of a target.
fn seeds(target: &str, repo: &Path) -> Vec<Vec<u8>> {
    let corpus = repo.join("../shared/corpus");
    let mut out = Vec::new();
    match target {
        "csv" => {
            files(&corpus, &["csv", "tsv", "txt"], &mut out);
            files(&repo.join("samples"), &["csv"], &mut out);
        }
        "csv-generated" | "sql-generated" => {
            for i in 0..64u8 {
                out.push(
                    (0..64)
                        .map(|k| i.wrapping_mul(31).wrapping_add(k))
                        .collect(),
                );
            }
        }
        "workbook" => {
            let mut books = Vec::new();
            files(&corpus, &["xlsx", "xlsm", "xls", "ods", "xlsb"], &mut books);
            files(&repo.join("samples"), &["xlsx"], &mut books);
            books.push(xlsx());
            books.push(ods());
            for b in books {
                // The first byte chooses the extension (`rowferry::fuzzing::workbook`).
                let ext = if b.starts_with(b"PK") && b.windows(8).any(|w| w == b"opendocu") {
                    2
                } else {
                    0
                };
                let mut v = vec![ext];
                v.extend_from_slice(&b);
                out.push(v);
            }
        }
        "mapping" => {
            files(&repo.join("mappings"), &["toml"], &mut out);
            out.push(b"[source]\npath = \"in.csv\"\n".to_vec());
        }
        "sql" | "sql-plan" => {
            for s in [
                "i * 2 + 1",
                "CAST(d * 100 AS INTEGER)",
                "CASE WHEN b THEN s ELSE UPPER(s) END",
                "COALESCE(s, 'x') || SUBSTR(s, 2, 3)",
                "LENGTH(s) > 2 AND i IN (1, 2)",
                "TRY_CAST(s AS BIGINT) - i",
                "dt > '2024-01-01' OR ts IS NULL",
                "ABS(f) / (i - i)",
                "ROUND(d, 1) >= 0",
                "s LIKE '%ë%'",
                "CASE WHEN i > 3 THEN UPPER(s) ELSE s || '!' END",
                "dt + INTERVAL '1 day'",
                "COALESCE(d, 0) - i * 3",
                "SUBSTR(s, 2, 5) LIKE 'a%'",
            ] {
                out.push(s.as_bytes().to_vec());
            }
        }
        _ => {}
    }
    if out.is_empty() {
        out.push(Vec::new());
    }
    out
}

/// How long one input may run before it is taken for a hang.
const HANG_SECONDS: u64 = 10;

/// The message of the last panic on this thread, caught by the hook.
fn quiet_panics() -> Arc<Mutex<String>> {
    let last = Arc::new(Mutex::new(String::new()));
    let keep = last.clone();
    panic::set_hook(Box::new(move |info| {
        if let Ok(mut l) = keep.lock() {
            *l = info.to_string();
        }
    }));
    last
}

/// Runs one input; `Some(message)` for a finding.
fn one(f: fn(&[u8]) -> Result<(), String>, input: &[u8], last: &Mutex<String>) -> Option<String> {
    match panic::catch_unwind(AssertUnwindSafe(|| f(input))) {
        Ok(Ok(())) => None,
        Ok(Err(broken)) => Some(format!("invariant: {broken}")),
        Err(_) => Some(format!(
            "panic: {}",
            last.lock().map(|l| l.clone()).unwrap_or_default()
        )),
    }
}

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let last = quiet_panics();
    if args.first().map(String::as_str) == Some("replay") {
        let mut failed = 0;
        for dir in &args[1..] {
            let dir = Path::new(dir);
            let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let Some((_, f)) = TARGETS.iter().find(|(n, _)| *n == name) else {
                eprintln!("{}: not a target's folder", dir.display());
                return std::process::ExitCode::from(2);
            };
            let mut inputs = Vec::new();
            files(dir, &["bin"], &mut inputs);
            for input in &inputs {
                if let Some(m) = one(*f, input, &last) {
                    failed += 1;
                    eprintln!("{name}: {m}");
                }
            }
            println!("{name}: {} inputs replayed", inputs.len());
        }
        return std::process::ExitCode::from(u8::from(failed > 0));
    }
    let Some(target) = args.first() else {
        eprintln!("usage: fuzz TARGET [RUNS] [SEED] | fuzz replay DIR...");
        return std::process::ExitCode::from(2);
    };
    let Some((_, f)) = TARGETS.iter().find(|(n, _)| n == target) else {
        eprintln!("unknown target `{target}`");
        return std::process::ExitCode::from(2);
    };
    let runs: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let seed: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(0x5EED);
    let mut rng = Rng(seed | 1);
    let seeds = seeds(target, &repo);
    let findings_dir = repo.join("fuzz/findings").join(target);
    let mut found: BTreeMap<String, usize> = BTreeMap::new();
    let started = Instant::now();
    let mut report_at = 1;
    // A watchdog: an input that runs for more than `HANG_SECONDS` is a finding too (a hang),
    // written out before the campaign stops.
    let current: Arc<Mutex<(u64, Vec<u8>)>> = Arc::new(Mutex::new((0, Vec::new())));
    {
        let current = current.clone();
        let findings_dir = findings_dir.clone();
        let target = target.clone();
        std::thread::spawn(move || {
            let mut seen = (0, Instant::now());
            loop {
                std::thread::sleep(std::time::Duration::from_millis(500));
                let Ok(now) = current.lock() else { return };
                if now.0 != seen.0 {
                    seen = (now.0, Instant::now());
                } else if seen.1.elapsed().as_secs() >= HANG_SECONDS {
                    let hash = rowferry::plan::hex(&Sha256::digest(&now.1)[..8]);
                    let _ = std::fs::create_dir_all(&findings_dir);
                    let _ = std::fs::write(findings_dir.join(format!("{hash}.bin")), &now.1);
                    let message = format!("hang: run {} took over {HANG_SECONDS} s", now.0);
                    let _ = std::fs::write(findings_dir.join(format!("{hash}.txt")), &message);
                    eprintln!("{target}: {message}; input in fuzz/findings/{target}/{hash}.bin");
                    std::process::exit(3);
                }
            }
        });
    }
    for run in 1..=runs {
        let base = &seeds[rng.below(seeds.len())];
        let mut input = base.clone();
        let zipped = target == "workbook" && input.len() > 1 && rng.chance(60);
        if zipped {
            match mutate_zip(&mut rng, &input[1..], &seeds) {
                Some(book) => {
                    let ext = input[0];
                    input = vec![ext];
                    input.extend(book);
                }
                None => mutate(&mut rng, &mut input, &seeds),
            }
        } else if !(target == "csv-generated" && rng.chance(10)) {
            mutate(&mut rng, &mut input, &seeds);
        }
        if target == "workbook" && rng.chance(10) && !input.is_empty() {
            input[0] = rng.next() as u8;
        }
        if let Ok(mut now) = current.lock() {
            *now = (run, input.clone());
        }
        if let Some(message) = one(*f, &input, &last) {
            let key: String = message
                .lines()
                .next()
                .unwrap_or("")
                .chars()
                .take(160)
                .collect();
            let count = found.entry(key).or_default();
            *count += 1;
            if *count <= 3 {
                let hash = rowferry::plan::hex(&Sha256::digest(&input)[..8]);
                let _ = std::fs::create_dir_all(&findings_dir);
                let _ = std::fs::write(findings_dir.join(format!("{hash}.bin")), &input);
                let _ = std::fs::write(findings_dir.join(format!("{hash}.txt")), &message);
                eprintln!("finding after {run} runs: {message}");
            }
        }
        if run == report_at || run == runs {
            let secs = started.elapsed().as_secs_f64();
            println!(
                "{target}: {run} executions in {secs:.0} s ({:.0}/s), {:.0} % past the first gate, {} findings ({} distinct)",
                run as f64 / secs.max(1e-9),
                rowferry::fuzzing::DEEP.load(std::sync::atomic::Ordering::Relaxed) as f64 * 100.0
                    / run as f64,
                found.values().sum::<usize>(),
                found.len()
            );
            report_at *= 4;
        }
    }
    for (message, n) in &found {
        println!("  {n:>6} × {message}");
    }
    std::process::ExitCode::from(u8::from(!found.is_empty()))
}
