//! Throughput and peak memory of `rowferry validate` and `rowferry run` on a generated export,
//! next to a bare `csv`-crate read of the same file measured in the same run.
//!
//! `cargo bench` (release build), or `cargo bench --bench throughput -- --rows 3000000` for
//! another size (a bare `cargo bench -- --rows N` hands the flag to the unit-test harness too,
//! which refuses it). The export has the columns of `samples/shop/products.csv` (`;`, decimal
//! commas, dd/mm/yyyy) with about 1 % defective rows, and goes through the shipped
//! `mappings/shop-products.toml`:
//! validation, two lookups, and five targets (a CSV, a filtered CSV with exact cents, one CSV
//! per warehouse, JSON batches of 100 nested records, a SQLite table).
//! `validate` also reads a Windows-1252 and a UTF-16LE copy of the export (no `encoding`
//! declared: detected and transcoded while streaming), to price them against UTF-8. MB/s are
//! always counted on the UTF-8 file, so the figures compare rows per second.
//! More runs price the heavier target formats on the same rows: `run xlsx` writes every
//! field to one typed XLSX workbook (the shipped mapping with its targets replaced), `run
//! sqlite` loads them into one SQLite table, next to `run csv` writing them as CSV and the
//! `sqlite3` shell's `.import` of that CSV (its baseline, when `sqlite3` is installed); `run
//! postgres` loads them into a PostgreSQL table against `psql \copy` of that CSV (when a server
//! is given: `scripts/with-postgres cargo bench`), and
//! `run grouped json` reads a generated export of order lines — as many rows, about five lines
//! per order, orders scattered across the file — into nested JSON order payloads
//! (`group_by = ["order_id"]`, batches of 1,000 orders). Its baseline is a bare read of that file.
//! Each measurement is the best of three runs. Peak RSS and CPU time come from rowferry's own
//! `report.json` (`resources`): CPU time in the kernel tells a slower file system or machine (see
//! `rowferry` below) from slower code.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const RUNS: usize = 3;

fn main() {
    let rows = arg("--rows").unwrap_or(1_000_000);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench");
    std::fs::create_dir_all(&dir).expect("bench folder");
    let input = dir.join(format!("products-{rows}.csv"));
    if !input.exists() {
        eprintln!("generating {rows} rows into {}", input.display());
        generate(&input, rows).expect("generate the export");
    }
    let size = std::fs::metadata(&input).expect("input size").len();
    let mb = size as f64 / 1e6;
    println!("input     {rows} rows, {mb:.1} MB ({})", input.display());

    let (base, records) = best(|| bare_read(&input));
    let base_mbs = mb / base.as_secs_f64();
    println!(
        "baseline  bare csv read        {:>7.3} s {:>7.1} MB/s {:>6.2} M rows/s  ({records} records)",
        base.as_secs_f64(),
        base_mbs,
        rows as f64 / base.as_secs_f64() / 1e6
    );

    let legacy = dir.join(format!("products-{rows}-1252.csv"));
    if !legacy.exists() {
        eprintln!("transcoding into {}", legacy.display());
        to_windows_1252(&input, &legacy).expect("transcode the export");
    }
    let utf16 = dir.join(format!("products-{rows}-utf16.csv"));
    if !utf16.exists() {
        eprintln!("transcoding into {}", utf16.display());
        to_utf16le(&input, &utf16).expect("transcode the export");
    }

    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mapping = repo.join("mappings/shop-products.toml");
    let xlsx = dir.join("bench-xlsx.toml");
    std::fs::write(&xlsx, xlsx_mapping(&mapping, repo)).expect("write the XLSX mapping");
    let out = dir.join("out");
    // Left by a bench that was stopped (removing them may slow the first runs a little).
    if out.exists() {
        std::fs::remove_dir_all(&out).expect("remove earlier outputs");
    }
    let api = ["--set", "targets.api.batch_size=1000"];
    for (command, mapping, input, label, sets) in [
        ("validate", &mapping, &input, "validate", &api[..]),
        (
            "validate",
            &mapping,
            &legacy,
            "validate windows-1252",
            &api[..],
        ),
        ("validate", &mapping, &utf16, "validate utf-16le", &api[..]),
        ("run", &mapping, &input, "run", &api[..]),
        ("run", &xlsx, &input, "run xlsx", &[][..]),
    ] {
        let (t, cost) = best_timed(|| rowferry(command, mapping, input, &out, sets));
        line(label, t, rows, mb, base_mbs, cost);
    }

    // A SQLite target against the sqlite3 shell importing the same rows, finished, as CSV.
    let sqlite = dir.join("bench-sqlite.toml");
    std::fs::write(&sqlite, one_target(&mapping, repo, "path = \"review.db\""))
        .expect("write the SQLite mapping");
    let (t_sqlite, cost) = best_timed(|| rowferry("run", &sqlite, &input, &out, &[]));
    line("run sqlite", t_sqlite, rows, mb, base_mbs, cost);
    let csv = dir.join("bench-csv.toml");
    std::fs::write(&csv, one_target(&mapping, repo, "path = \"review.csv\""))
        .expect("write the CSV mapping");
    let (t_csv, cost) = best_timed(|| rowferry("run", &csv, &input, &out, &[]));
    line("run csv (same rows)", t_csv, rows, mb, base_mbs, cost);
    let finished = dir.join("review.csv");
    let status = Command::new(env!("CARGO_BIN_EXE_rowferry"))
        .args(["run", &csv.display().to_string(), "--input"])
        .arg(&input)
        .arg("--out")
        .arg(dir.join("finished"))
        .arg("--quiet")
        .status()
        .expect("run rowferry");
    assert!(matches!(status.code(), Some(0 | 1)));
    std::fs::rename(dir.join("finished/review.csv"), &finished).expect("the finished CSV");
    std::fs::remove_dir_all(dir.join("finished")).expect("remove the finished run");
    let imported = best_timed(|| match sqlite_import(&finished, &dir) {
        Some(t) => (t, true),
        None => (Duration::MAX, false),
    });
    match imported {
        (t, true) => println!(
            "sqlite3   .import of that CSV    {:>7.3} s  (run sqlite is x{:.2} of it; run csv + .import would be x{:.2})",
            t.as_secs_f64(),
            t_sqlite.as_secs_f64() / t.as_secs_f64(),
            (t_csv + t).as_secs_f64() / t.as_secs_f64()
        ),
        (_, false) => println!("sqlite3   not installed: no .import baseline"),
    }
    postgres(
        &mapping,
        repo,
        &input,
        &finished,
        &dir,
        (rows, mb, base_mbs),
    );

    let lines = dir.join(format!("order-lines-{rows}.csv"));
    if !lines.exists() {
        eprintln!("generating {rows} order lines into {}", lines.display());
        generate_order_lines(&lines, rows).expect("generate the order lines");
    }
    let lines_mb = std::fs::metadata(&lines).expect("input size").len() as f64 / 1e6;
    let (lines_base, _) = best(|| bare_read_with(&lines, b','));
    let lines_base_mbs = lines_mb / lines_base.as_secs_f64();
    println!(
        "baseline  bare read, order lines {:>5.3} s {:>7.1} MB/s {:>6.2} M rows/s",
        lines_base.as_secs_f64(),
        lines_base_mbs,
        rows as f64 / lines_base.as_secs_f64() / 1e6
    );
    let grouped = dir.join("bench-grouped.toml");
    std::fs::write(&grouped, GROUPED_MAPPING).expect("write the grouped mapping");
    let (t, cost) = best_timed(|| rowferry("run", &grouped, &lines, &out, &[]));
    line("run grouped json", t, rows, lines_mb, lines_base_mbs, cost);
    std::fs::remove_dir_all(&out).expect("remove the outputs");
}

fn line(label: &str, t: Duration, rows: usize, mb: f64, base_mbs: f64, cost: Cost) {
    let mbs = mb / t.as_secs_f64();
    println!(
        "rowferry  {label:<21} {:>7.3} s {:>7.1} MB/s {:>6.2} M rows/s  {:.0} % of baseline, peak RSS {:.0} MB, CPU {:.2} s user + {:.2} s system",
        t.as_secs_f64(),
        mbs,
        rows as f64 / t.as_secs_f64() / 1e6,
        100.0 * mbs / base_mbs,
        cost.rss as f64 / 1e6,
        cost.user.as_secs_f64(),
        cost.system.as_secs_f64(),
    );
}

/// The shipped mapping with its targets replaced by one XLSX workbook of every typed field,
/// its lookup paths made absolute (the mapping is written next to the generated input).
fn xlsx_mapping(shipped: &Path, repo: &Path) -> String {
    one_target(
        shipped,
        repo,
        "path = \"review/products.xlsx\"\nsheet = \"Products\"",
    )
}

/// The shipped mapping with its targets replaced by one target of every typed field, written
/// at `place` (its path and options), its lookup paths made absolute.
fn one_target(shipped: &Path, repo: &Path, place: &str) -> String {
    let text = std::fs::read_to_string(shipped).expect("the shipped mapping");
    let head = text
        .split("\n[targets.")
        .next()
        .expect("a mapping before its targets");
    let head = head.replace("\"../samples/", &format!("\"{}/samples/", repo.display()));
    format!(
        "{head}\n[targets.review]\n{place}\n\
columns.sku = \"sku\"\ncolumns.title = \"title\"\ncolumns.brand = \"brand\"\n\
columns.brand_id = \"brand_id\"\ncolumns.color = \"color_code\"\ncolumns.price = \"price\"\n\
columns.sale_price = \"sale_price\"\ncolumns.stock = \"stock\"\ncolumns.warehouse = \"warehouse\"\n\
columns.created = \"created\"\ncolumns.active = \"active\"\n\n[run]\nmax_error_rate = 0.25\n"
    )
}

/// A PostgreSQL target against `psql \copy` of the same rows, finished, as CSV into a table of
/// the same types: when `ROWFERRY_BENCH_DATABASE_URL` (or the tests' `ROWFERRY_TEST_DATABASE_URL`,
/// as `scripts/with-postgres cargo bench` sets it) names a server.
fn postgres(
    shipped: &Path,
    repo: &Path,
    input: &Path,
    finished: &Path,
    dir: &Path,
    (rows, mb, base_mbs): (usize, f64, f64),
) {
    let Some(url) = std::env::var("ROWFERRY_BENCH_DATABASE_URL")
        .or_else(|_| std::env::var("ROWFERRY_TEST_DATABASE_URL"))
        .ok()
    else {
        println!("postgres  no server (scripts/with-postgres cargo bench): no PostgreSQL lines");
        return;
    };
    let psql = |sql: &str| {
        Command::new("psql")
            .args(["-q", "-v", "ON_ERROR_STOP=1", &url, "-c", sql])
            .status()
            .is_ok_and(|s| s.success())
    };
    if !psql("DROP TABLE IF EXISTS bench_review, bench_copy") {
        println!("postgres  psql cannot reach the server: no PostgreSQL lines");
        return;
    }
    let mapping = dir.join("bench-postgres.toml");
    let place = format!(
        "format = \"postgres\"\nurl = \"{url}\"\ntable = \"bench_review\"\nmode = \"truncate\"\ncreate = true"
    );
    std::fs::write(&mapping, one_target(shipped, repo, &place)).expect("write the mapping");
    let out = dir.join("out");
    let (t_pg, cost) = best_timed(|| rowferry("run", &mapping, input, &out, &[]));
    line("run postgres", t_pg, rows, mb, base_mbs, cost);
    // The same table's types, loaded by psql from the CSV the CSV target wrote.
    assert!(psql("CREATE TABLE bench_copy (LIKE bench_review)"));
    let copy = format!(
        "\\copy bench_copy FROM '{}' WITH (FORMAT csv, HEADER true)",
        finished.display()
    );
    let (t_copy, ok) = best_timed(|| {
        psql("TRUNCATE bench_copy");
        let start = Instant::now();
        let ok = psql(&copy);
        (start.elapsed(), ok)
    });
    assert!(ok, "psql \\copy failed");
    println!(
        "psql      \\copy of that CSV       {:>7.3} s  (run postgres is x{:.2} of it)",
        t_copy.as_secs_f64(),
        t_pg.as_secs_f64() / t_copy.as_secs_f64()
    );
    psql("DROP TABLE IF EXISTS bench_review, bench_copy");
}

/// The `sqlite3` shell's `.import` of `csv` (with its header) into a new database: the
/// baseline of a SQLite target. `None` when the shell is not installed.
fn sqlite_import(csv: &Path, dir: &Path) -> Option<Duration> {
    let db = dir.join("import.db");
    let _ = std::fs::remove_file(&db);
    let start = Instant::now();
    let status = Command::new("sqlite3")
        .arg(&db)
        .arg(".mode csv")
        .arg(format!(".import {} review", csv.display()))
        .status()
        .ok()?;
    let t = start.elapsed();
    let _ = std::fs::remove_file(&db);
    status.success().then_some(t)
}

/// Order lines to nested order payloads.
const GROUPED_MAPPING: &str = r#"[source]
path = "order-lines.csv"
structure = "line"

[structures.line.fields]
order_id = { type = "string", required = true }
line_no  = { type = "integer", required = true }
customer = { type = "email" }
sku      = { type = "string", required = true }
qty      = { type = "integer", min = 1 }
price    = { type = "decimal", scale = 2 }
ordered  = { type = "date" }

[targets.orders]
path = "api/orders-{batch}.json"
group_by = ["order_id"]
batch_size = 1000
envelope = "orders"
columns.id                     = "order_id"
columns."customer.email"       = "customer"
columns.ordered                = "ordered"
columns."lines[].line"         = "line_no"
columns."lines[].sku"          = "sku"
columns."lines[].qty"          = "qty"
columns."lines[].price.amount" = "price"
"#;

/// `rows` order lines, about five per order, each order's lines scattered over the file.
fn generate_order_lines(path: &Path, rows: usize) -> std::io::Result<()> {
    let mut w = BufWriter::with_capacity(1 << 20, File::create(path)?);
    writeln!(w, "order_id,line_no,customer,sku,qty,price,ordered")?;
    let orders = (rows / 5).max(1) as u64;
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for i in 0..rows as u64 {
        let r = next();
        // A multiplicative permutation scatters consecutive lines over all orders.
        let order = (i.wrapping_mul(2_654_435_761)) % orders;
        writeln!(
            w,
            "ORD-{order:08},{},client{}@example.com,SKU-{:05},{},{}.{:02},2024-{:02}-{:02}",
            1 + i / orders,
            order % 50_000,
            r % 20_000,
            1 + (r >> 20) % 9,
            1 + (r >> 24) % 400,
            (r >> 32) % 100,
            1 + order % 12,
            1 + order % 28,
        )?;
    }
    w.flush()
}

/// The same export in Windows-1252 (every character of the generator is in it).
fn to_windows_1252(from: &Path, to: &Path) -> std::io::Result<()> {
    let text = std::fs::read_to_string(from)?;
    let (bytes, _, unmappable) = encoding_rs::WINDOWS_1252.encode(&text);
    assert!(!unmappable, "the generated export is not all Windows-1252");
    std::fs::write(to, bytes)
}

/// The same export in UTF-16LE with a BOM, as Excel's "Unicode text" writes it.
fn to_utf16le(from: &Path, to: &Path) -> std::io::Result<()> {
    let text = std::fs::read_to_string(from)?;
    let mut bytes = vec![0xFF, 0xFE];
    bytes.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    std::fs::write(to, bytes)
}

fn arg(name: &str) -> Option<usize> {
    let args: Vec<String> = std::env::args().collect();
    let i = args.iter().position(|a| a == name)?;
    args.get(i + 1)?.replace('_', "").parse().ok()
}

/// Runs `f` three times and keeps the fastest run (and what it returned).
fn best<T>(mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best: Option<(Duration, T)> = None;
    for _ in 0..RUNS {
        let start = Instant::now();
        let value = f();
        let elapsed = start.elapsed();
        if best.as_ref().is_none_or(|(b, _)| elapsed < *b) {
            best = Some((elapsed, value));
        }
    }
    best.expect("at least one run")
}

/// Like [`best`] for functions that time themselves (leaving their set-up out).
/// Truncates every file under `dir` to nothing, keeping the files.
fn empty_files(dir: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            empty_files(&entry.path())?;
        } else {
            File::options().write(true).open(entry.path())?.set_len(0)?;
        }
    }
    Ok(())
}

fn best_timed<T>(mut f: impl FnMut() -> (Duration, T)) -> (Duration, T) {
    let mut best: Option<(Duration, T)> = None;
    for _ in 0..RUNS {
        let (elapsed, value) = f();
        if best.as_ref().is_none_or(|(b, _)| elapsed < *b) {
            best = Some((elapsed, value));
        }
    }
    best.expect("at least one run")
}

/// The baseline: every record read into one reused `ByteRecord`, nothing else.
fn bare_read(path: &Path) -> u64 {
    bare_read_with(path, b';')
}

fn bare_read_with(path: &Path, delimiter: u8) -> u64 {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .from_path(path)
        .expect("open the export");
    let mut record = csv::ByteRecord::new();
    let mut n = 0;
    while reader.read_byte_record(&mut record).expect("read") {
        n += 1;
    }
    n
}

/// One `rowferry validate` or `rowferry run` into a new output folder under `outs` (a one-shot
/// migration writes into a fresh folder); returns its time and cost. For the shipped mapping the
/// JSON target is rolled every 1,000 records (`--set`), a payload size an import API takes for a
/// million rows; the shipped 100 would create 10,000 files.
///
/// Output folders are removed only when the bench ends, not between runs: on ext4 without a
/// journal, a new file is not given the inode of one deleted in the last minute (five, while its
/// inode table is unwritten), and each such inode is looked at and passed over, so a run that
/// creates a thousand files right after the last run's thousand were deleted spends up to half a
/// second in the kernel for it, more with every run. That cost is the file system's, and it
/// would drift with the order of the runs.
///
/// A run's files are emptied once it is measured (their inodes stay): the page cache that held
/// them is free for the next run. Kept, every run's output took memory the machine had not
/// used yet, and on a virtual machine whose host hands memory over on first touch, copying into
/// such pages made the kernel's share of a run grow from 0.2 s to more than 1 s (measured:
/// `copy_folio_from_iter_atomic`), a cost of the host, not of the code measured.
fn rowferry(
    command: &str,
    mapping: &Path,
    input: &Path,
    outs: &Path,
    sets: &[&str],
) -> (Duration, Cost) {
    static RUN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = RUN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let out = &outs.join(format!("run-{n}"));
    let start = Instant::now();
    let status = Command::new(env!("CARGO_BIN_EXE_rowferry"))
        .arg(command)
        .arg(mapping)
        .arg("--input")
        .arg(input)
        .arg("--out")
        .arg(out)
        .args(sets)
        .arg("--quiet")
        .status()
        .expect("run rowferry");
    let elapsed = start.elapsed();
    assert!(
        matches!(status.code(), Some(0 | 1)),
        "rowferry {command} failed: {status}"
    );
    let report = std::fs::read_to_string(out.join("_report/report.json")).expect("report.json");
    empty_files(out).expect("empty the run's files");
    let report: serde_json::Value = serde_json::from_str(&report).expect("report.json is JSON");
    let r = &report["resources"];
    let ms = |key: &str| Duration::from_millis(r[key].as_u64().unwrap_or(0));
    (
        elapsed,
        Cost {
            rss: r["peak_rss_bytes"].as_u64().unwrap_or(0),
            user: ms("cpu_user_ms"),
            system: ms("cpu_system_ms"),
        },
    )
}

/// What one run cost besides its time: peak memory, and CPU time in the process and in the
/// kernel (files read, written and created: the share that moves with the file system's state,
/// such as inodes of outputs deleted a moment before, which a new file is not given at once).
struct Cost {
    rss: u64,
    user: Duration,
    system: Duration,
}

/// A deterministic export like the sample, with about 1 % defective rows.
fn generate(path: &Path, rows: usize) -> std::io::Result<()> {
    const PRODUCTS: [&str; 8] = [
        "T-shirt manches courtes en coton bio",
        "Pull marin en laine mérinos",
        "Veste matelassée légère",
        "Pantalon chino coupe droite",
        "Sac cabas en toile de coton",
        "Ceinture en cuir végétal",
        "Écharpe en laine et cachemire",
        "Chaussures en cuir « Édition limitée »",
    ];
    const BRANDS: [&str; 6] = [
        "Armor-Lux",
        "Saint James",
        "Petit Bateau",
        "Aigle",
        "Veja",
        "Célio",
    ];
    const COLORS: [&str; 9] = [
        "Rouge", "Bleu", "vert", "Noir", "BLANC", "Gris", "Beige", "Marine", "",
    ];
    const WAREHOUSES: [&str; 4] = ["Lyon", "Paris-Nord", "Marseille", "Lille"];
    let mut w = BufWriter::with_capacity(1 << 20, File::create(path)?);
    writeln!(
        w,
        "SKU;Nom du produit;Marque;Couleur;Prix TTC;Prix soldé;Stock;Entrepôt;Date de création;Email fournisseur;Actif"
    )?;
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for i in 0..rows {
        let r = next();
        let defect = r % 100 == 0;
        let cents = 500 + (r >> 8) % 50_000;
        let price = if defect && (r >> 3) % 2 == 0 {
            "12,5,0".to_string()
        } else {
            format!("{},{:02}", cents / 100, cents % 100)
        };
        let sale = if (r >> 20) % 10 < 3 {
            let s = cents * 8 / 10;
            format!("{},{:02}", s / 100, s % 100)
        } else {
            String::new()
        };
        let stock: i64 = if defect && (r >> 3) % 2 == 1 {
            -2
        } else {
            ((r >> 30) % 400) as i64
        };
        let brand = BRANDS[((r >> 12) % BRANDS.len() as u64) as usize];
        writeln!(
            w,
            "{}-{:07};{} - {};{};{};{};{};{};{};{:02}/{:02}/{};contact@{}.fr;{}",
            ["TSH", "PUL", "VES", "PAN", "SAC", "CEI", "ECH", "CHA"][i % 8],
            i,
            PRODUCTS[((r >> 4) % PRODUCTS.len() as u64) as usize],
            if (r >> 40) % 2 == 0 { "Femme" } else { "Homme" },
            brand,
            COLORS[((r >> 16) % COLORS.len() as u64) as usize],
            price,
            sale,
            stock,
            WAREHOUSES[((r >> 24) % 4) as usize],
            1 + (r >> 33) % 28,
            1 + (r >> 37) % 12,
            2019 + (r >> 41) % 7,
            brand.to_lowercase().replace(' ', "-"),
            if (r >> 45) % 5 == 0 { "non" } else { "oui" },
        )?;
    }
    w.flush()
}
