//! Every mapping in `mappings/` runs against `samples/`, so the examples cannot rot; the shop
//! example's `run` end to end: every target checked against the input, byte-identical reruns.

use std::collections::{BTreeMap, BTreeSet};

use crate::util::tree::without_report;
use crate::util::{
    Job, Project, check_report_files, names, read_csv, repo, report_target, rowferry,
};

/// Runs `validate` on a shipped mapping, with the report in a scratch folder.
fn validate_example(mapping: &str) -> (crate::util::Run, Project) {
    let p = Project::new();
    let out = p.path().join("out");
    let run = rowferry(
        &repo(),
        &[
            "validate",
            mapping,
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ],
    );
    (run, p)
}

#[test]
fn every_mapping_passes_check() {
    // A mapping loading a PostgreSQL server runs against the test server; without one (outside
    // CI) it is only checked.
    let server = crate::util::pg::Pg::schema("examples").map(|pg| pg.url.clone());
    let mut n = 0;
    for entry in std::fs::read_dir(repo().join("mappings")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            n += 1;
            let needs_server = std::fs::read_to_string(&path)
                .unwrap()
                .contains("${DATABASE_URL}");
            if needs_server {
                // `check` reads no data and connects to nothing: any URL will do.
                let url = server
                    .as_deref()
                    .unwrap_or("postgresql://nobody@127.0.0.1:1/none");
                postgres_example(&path, url, server.is_some());
                continue;
            }
            let run = rowferry(&repo(), &["check", path.to_str().unwrap()]);
            assert_eq!(run.code, 0, "{}: {}", path.display(), run.stderr);
            let (run, _) = validate_example(path.to_str().unwrap());
            assert!(
                run.code == 0 || run.code == 1,
                "{} must validate its sample: {}",
                path.display(),
                run.stderr
            );
            let scratch = Project::new();
            let out = scratch.path().join("out");
            let run = rowferry(
                &repo(),
                &[
                    "run",
                    path.to_str().unwrap(),
                    "--out",
                    out.to_str().unwrap(),
                    "--quiet",
                ],
            );
            assert!(
                run.code == 0 || run.code == 1,
                "{} must run on its sample: {}",
                path.display(),
                run.stderr
            );
            assert_eq!(scratch.report()["conservation"]["holds"], true);
        }
    }
    assert!(n >= 1, "mappings/ holds the examples");
}

/// Checks a shipped mapping that loads tables on the server `url` and, with a `server`,
/// validates it and runs it twice: its tables are created, then loaded again the same (upserts
/// and a truncated table).
fn postgres_example(path: &std::path::Path, url: &str, server: bool) {
    let scratch = Project::new();
    let out = scratch.path().join("out");
    let mut counts = Vec::new();
    let commands: &[&str] = match server {
        true => &["check", "validate", "run", "run"],
        false => &["check"],
    };
    for &command in commands {
        let mut args = vec![command, path.to_str().unwrap()];
        if command != "check" {
            args.extend(["--out", out.to_str().unwrap(), "--quiet"]);
        }
        let status = std::process::Command::new(env!("CARGO_BIN_EXE_rowferry"))
            .args(&args)
            .current_dir(repo())
            .env("DATABASE_URL", url)
            .output()
            .unwrap();
        let code = status.status.code();
        let stderr = String::from_utf8_lossy(&status.stderr);
        if command == "check" {
            assert_eq!(code, Some(0), "{}: {stderr}", path.display());
            continue;
        }
        assert!(
            matches!(code, Some(0 | 1)),
            "{} {command}: {stderr}",
            path.display()
        );
        assert_eq!(scratch.report()["conservation"]["holds"], true);
        if command == "run" {
            let report = scratch.report();
            let loaded: Vec<u64> = report["targets"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["rows"].as_u64().unwrap())
                .collect();
            assert!(loaded.iter().all(|n| *n > 0), "{report}");
            counts.push(loaded);
        }
    }
    if server {
        assert_eq!(counts[0], counts[1], "a second run loads the same rows");
    }
}

/// The `(row, line, field, code)` of every issue a shipped example must find.
fn expected_issues(name: &str) -> BTreeSet<(u64, u64, String, String)> {
    std::fs::read_to_string(repo().join("tests/data").join(name))
        .unwrap()
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let c: Vec<&str> = l.split('\t').collect();
            (
                c[0].parse().unwrap(),
                c[1].parse().unwrap(),
                c[2].to_string(),
                c[3].to_string(),
            )
        })
        .collect()
}

fn found_issues(p: &Project) -> BTreeSet<(u64, u64, String, String)> {
    p.errors()
        .into_iter()
        .map(|e| {
            (
                e["row"].parse().unwrap(),
                e["line"].parse().unwrap(),
                e["field"].clone(),
                e["code"].clone(),
            )
        })
        .collect()
}

/// `shop-products.toml` finds exactly the defects seeded in the sample, row by row.
#[test]
fn shop_products_finds_exactly_the_seeded_defects() {
    let (run, p) = validate_example("mappings/shop-products.toml");
    assert_eq!(run.code, 1, "{}", run.stderr);
    let expected = expected_issues("shop-products.expected-issues.tsv");
    assert_eq!(found_issues(&p), expected);

    // rejects.csv holds those rows with their original values, in the source dialect.
    let original = csv::ReaderBuilder::new()
        .delimiter(b';')
        .flexible(true)
        .from_path(repo().join("samples/shop/products.csv"))
        .unwrap()
        .into_records()
        .map(|r| r.unwrap())
        .filter(|r| r.iter().any(|f| !f.is_empty()))
        .map(|r| {
            let line = r.position().unwrap().line();
            (line, r.iter().map(str::to_string).collect::<Vec<_>>())
        })
        .collect::<std::collections::BTreeMap<u64, Vec<String>>>();
    let rejects = read_csv(&p.path().join("out/_report/rejects.csv"), b';');
    assert_eq!(rejects.len(), expected.len());
    let header: Vec<&str> = "SKU;Nom du produit;Marque;Couleur;Prix TTC;Prix soldé;Stock;Entrepôt;Date de création;Email fournisseur;Actif"
        .split(';')
        .collect();
    for r in &rejects {
        let line: u64 = r["_line"].parse().unwrap();
        let fields = &original[&line];
        if fields.len() == header.len() {
            for (h, v) in header.iter().zip(fields) {
                assert_eq!(&r[*h], v, "line {line}, column {h}");
            }
        } else {
            assert_eq!(r["_errors"], "ragged-row");
            assert_eq!(r["SKU"], fields[0]);
        }
    }

    let report = p.report();
    assert_eq!(report["rows"]["read"], 302);
    assert_eq!(report["rows"]["skipped"], 2);
    assert_eq!(report["rows"]["accepted"], 282);
    assert_eq!(report["rows"]["rejected"], 18);
    assert_eq!(report["issues"]["by_code"]["type-mismatch"]["errors"], 5);
}

/// `crm-contacts.toml` finds the defects seeded in the CRM export (samples/crm/README.md) and
/// the contacts of the owner who left, and splits the rest by owner.
#[test]
fn crm_contacts_finds_the_seeded_defects_and_splits_by_owner() {
    let (run, p) = validate_example("mappings/crm-contacts.toml");
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(
        found_issues(&p),
        expected_issues("crm-contacts.expected-issues.tsv")
    );
    let report = p.report();
    assert_eq!(report["rows"]["read"], 161);
    assert_eq!(report["rows"]["skipped"], 1);
    assert_eq!(report["rows"]["rejected"], 17);
    assert_eq!(report["rows"]["accepted"], 143);
    assert_eq!(report["issues"]["by_code"]["lookup-miss"]["errors"], 9);

    let out = Project::new();
    let dir = out.path().join("out");
    let run = rowferry(
        &repo(),
        &[
            "run",
            "mappings/crm-contacts.toml",
            "--out",
            dir.to_str().unwrap(),
            "--quiet",
        ],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    // Valid rows per owner, from samples/crm/README.md, under the new CRM's user ids.
    for (user, rows) in [
        ("u_8a0798", 43),
        ("u_eb3e26", 31),
        ("u_fc810c", 30),
        ("u_71d3be", 21),
        ("u_bc1844", 18),
    ] {
        let contacts = read_csv(&dir.join(format!("contacts/{user}.csv")), b',');
        assert_eq!(contacts.len(), rows, "{user}");
    }
    let files: Vec<_> = std::fs::read_dir(dir.join("contacts")).unwrap().collect();
    assert_eq!(files.len(), 5, "one file per owner still in the CRM");
}

/// One order line of `samples/orders/order-lines.csv`, as read here with the `csv` crate.
struct OrderLine {
    row: u64,
    order: String,
    line: u32,
    date: String,
    customer: String,
    email: String,
    city: String,
    region: String,
    sku: String,
    product: String,
    qty: u64,
    price: String,
    note: String,
}

impl OrderLine {
    /// The price in cents, from its two-decimal text.
    fn cents(&self) -> u64 {
        let (units, cents) = self.price.split_once('.').unwrap();
        units.parse::<u64>().unwrap() * 100 + cents.parse::<u64>().unwrap()
    }
}

fn cents_text(cents: u64, separator: char) -> String {
    format!("{}{separator}{:02}", cents / 100, cents % 100)
}

/// `orders-export.toml` is the acceptance scenario of typed workbooks, grouped JSON, legacy CSV
/// and hostile partitions on one unsorted export: it finds exactly the seeded issues
/// (samples/orders/README.md), and every accepted line is in every file it belongs to, the JSON
/// orders being the groups computed here from the input.
#[test]
fn orders_export_writes_every_accepted_line_to_every_system() {
    let (run, p) = validate_example("mappings/orders-export.toml");
    assert_eq!(run.code, 1, "{}", run.stderr);
    let expected = expected_issues("orders-export.expected-issues.tsv");
    assert_eq!(found_issues(&p), expected);

    let scratch = Project::new();
    let out = scratch.path().join("out");
    let run = rowferry(
        &repo(),
        &[
            "run",
            "mappings/orders-export.toml",
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(
        found_issues(&scratch),
        expected,
        "run finds what validate found"
    );

    // The input, read independently; rows whose issues include an error are rejected.
    let rejected: BTreeSet<u64> = expected
        .iter()
        .filter(|(_, _, _, code)| code != "formula-risk")
        .map(|(row, _, _, _)| *row)
        .collect();
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(repo().join("samples/orders/order-lines.csv"))
        .unwrap();
    let mut accepted: Vec<OrderLine> = Vec::new();
    let mut records = 0;
    for rec in reader.records() {
        let rec = rec.unwrap();
        records += 1;
        let row = rec.position().unwrap().line();
        if rejected.contains(&row) {
            continue;
        }
        assert_eq!(rec.len(), 12, "row {row}");
        accepted.push(OrderLine {
            row,
            order: rec[0].to_string(),
            line: rec[1].parse().unwrap(),
            date: rec[2].to_string(),
            customer: rec[3].to_string(),
            email: rec[4].to_string(),
            city: rec[5].to_string(),
            region: rec[6].to_string(),
            sku: rec[7].to_string(),
            product: rec[8].to_string(),
            qty: rec[9].parse().unwrap(),
            price: rec[10].to_string(),
            note: rec[11].to_string(),
        });
    }
    assert_eq!(records, 192);
    assert_eq!(accepted.len(), 177);

    let report = scratch.report();
    assert_eq!(report["rows"]["read"], 193);
    assert_eq!(report["rows"]["skipped"], 1);
    assert_eq!(report["rows"]["accepted"], 177);
    assert_eq!(report["rows"]["rejected"], 15);
    assert_eq!(report["rows"]["routed"], 177);
    assert_eq!(report["rows"]["unrouted"], 0);
    assert_eq!(report["conservation"]["holds"], true);
    assert_eq!(report["issues"]["by_code"]["unencodable"]["errors"], 10);
    assert_eq!(report["issues"]["by_code"]["formula-risk"]["warnings"], 8);
    assert_eq!(report["issues"]["by_code"]["formula-risk"]["errors"], 0);
    for t in report["targets"].as_array().unwrap() {
        assert_eq!(t["rows"], 177, "{}", t["name"]);
    }

    // Exactly these files: the regions' names made safe, `Sud` told apart from `SUD`.
    let mut files: Vec<String> = Vec::new();
    for dir in ["_report", "api", "legacy", "regions", "review"] {
        for e in std::fs::read_dir(out.join(dir)).unwrap() {
            files.push(format!(
                "{dir}/{}",
                e.unwrap().file_name().to_string_lossy()
            ));
        }
    }
    files.sort();
    let mut top: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| !name.starts_with(".rowferry-"))
        .collect();
    top.sort();
    assert_eq!(top, ["_report", "api", "legacy", "regions", "review"]);
    let sud = files
        .iter()
        .find(|f| f.starts_with("regions/Sud~"))
        .expect("Sud, second to appear, has a tagged name")
        .clone();
    assert!(
        regex::Regex::new(r"^regions/Sud~[0-9a-f]{8}\.csv$")
            .unwrap()
            .is_match(&sud),
        "{sud}"
    );
    let mut want: Vec<String> = [
        "_report/errors.csv",
        "_report/rejects.csv",
        "_report/report.html",
        "_report/report.json",
        "api/orders-0001.json",
        "api/orders-0002.json",
        "api/orders-0003.json",
        "legacy/orders.csv",
        "regions/Export.csv",
        "regions/Nord_Est.csv",
        "regions/Ouest.csv",
        "regions/SUD.csv",
        "regions/_CON.csv",
        "regions/__.csv",
        "regions/_empty.csv",
        "regions/Île-de-France.csv",
        "review/orders.xlsx",
        &sud,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    want.sort();
    assert_eq!(files, want);

    // rejects.csv: the 15 rejected rows, as read.
    let rejects = read_csv(&out.join("_report/rejects.csv"), b',');
    let reject_rows: BTreeSet<u64> = rejects.iter().map(|r| r["_row"].parse().unwrap()).collect();
    assert_eq!(reject_rows, rejected);
    for r in &rejects {
        if r["_row"] == "38" {
            assert_eq!(r["Customer"], "Ōtani Haruka");
            assert_eq!(r["City"], "Ōsaka");
            assert_eq!(r["_errors"], "CLIENT: unencodable; VILLE: unencodable");
        }
    }

    // The workbook: every accepted line, in input order, in typed cells.
    use calamine::{Data, Reader, Xlsx, open_workbook};
    let book = out.join("review/orders.xlsx");
    let mut wb: Xlsx<_> = open_workbook(&book).unwrap();
    assert_eq!(wb.sheet_names(), ["Order lines"]);
    let sheet = wb.worksheet_range("Order lines").unwrap();
    let cells: Vec<Vec<Data>> = sheet.rows().map(<[Data]>::to_vec).collect();
    let text = |s: &str| {
        if s.is_empty() {
            Data::Empty
        } else {
            Data::String(s.to_string())
        }
    };
    let header: Vec<Data> = [
        "Order",
        "Line",
        "Ordered on",
        "Customer",
        "Email",
        "City",
        "Region",
        "SKU",
        "Product",
        "Qty",
        "Unit price",
        "Line total",
        "Note",
    ]
    .iter()
    .map(|h| text(h))
    .collect();
    assert_eq!(cells[0], header);
    assert_eq!(cells.len(), 1 + accepted.len());
    for (l, row) in accepted.iter().zip(&cells[1..]) {
        let Data::DateTime(day) = &row[2] else {
            panic!("row {}: {:?} is not a date", l.row, row[2])
        };
        let (y, m, d, ..) = day.to_ymd_hms_milli();
        assert_eq!(format!("{y:04}-{m:02}-{d:02}"), l.date, "row {}", l.row);
        let price: f64 = l.price.parse().unwrap();
        let total: f64 = cents_text(l.qty * l.cents(), '.').parse().unwrap();
        let want = vec![
            text(&l.order),
            Data::Float(f64::from(l.line)),
            row[2].clone(),
            text(&l.customer),
            text(&l.email),
            text(&l.city),
            text(&l.region),
            text(&l.sku),
            text(&l.product),
            Data::Float(l.qty as f64),
            Data::Float(price),
            Data::Float(total),
            text(&l.note),
        ];
        assert_eq!(row, &want, "row {}", l.row);
    }
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&book).unwrap()).unwrap();
    let mut xml = String::new();
    std::io::Read::read_to_string(
        &mut zip.by_name("xl/worksheets/sheet1.xml").unwrap(),
        &mut xml,
    )
    .unwrap();
    assert!(
        !xml.contains("<f>") && !xml.contains("<f "),
        "no formula cell"
    );
    assert!(xml.contains(r#"state="frozen""#) && xml.contains(r#"<autoFilter ref="A1:M178"/>"#));
    let mut styles = String::new();
    std::io::Read::read_to_string(&mut zip.by_name("xl/styles.xml").unwrap(), &mut styles).unwrap();
    assert!(styles.contains(r#"formatCode="dd/mm/yyyy""#), "{styles}");

    // The legacy file: Windows-1252, `;`, CRLF, dd/mm/yyyy, decimal commas — every accepted
    // line, in input order.
    let bytes = std::fs::read(out.join("legacy/orders.csv")).unwrap();
    let (legacy, _, malformed) = encoding_rs::WINDOWS_1252.decode(&bytes);
    assert!(!malformed);
    assert!(bytes.windows(2).filter(|w| w == b"\r\n").count() == 178);
    assert!(!legacy.replace("\r\n", "").contains('\n'), "CRLF only");
    assert!(
        bytes.contains(&0xD7) && bytes.contains(&0x80),
        "× and € in Windows-1252"
    );
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(b';')
        .from_reader(legacy.as_bytes());
    assert_eq!(
        reader.headers().unwrap(),
        vec![
            "NUM_CDE",
            "LIGNE",
            "DATE_CDE",
            "CLIENT",
            "VILLE",
            "REF",
            "DESIGNATION",
            "QTE",
            "PU",
            "REMARQUE"
        ]
    );
    let legacy_rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(legacy_rows.len(), accepted.len());
    for (l, r) in accepted.iter().zip(&legacy_rows) {
        let (y, rest) = l.date.split_at(4);
        let date = format!("{}/{}/{y}", &rest[4..6], &rest[1..3]);
        let want = [
            l.order.clone(),
            l.line.to_string(),
            date,
            l.customer.clone(),
            l.city.clone(),
            l.sku.clone(),
            l.product.clone(),
            l.qty.to_string(),
            cents_text(l.cents(), ','),
            l.note.clone(),
        ];
        assert_eq!(r.iter().collect::<Vec<_>>(), want, "row {}", l.row);
    }

    // The JSON import: the orders grouped here, in order of first appearance, 20 per file.
    let mut groups: Vec<(String, Vec<&OrderLine>)> = Vec::new();
    for l in &accepted {
        match groups.iter_mut().find(|(o, _)| *o == l.order) {
            Some((_, lines)) => lines.push(l),
            None => groups.push((l.order.clone(), vec![l])),
        }
    }
    assert_eq!(groups.len(), 58);
    let mut orders: Vec<serde_json::Value> = Vec::new();
    for (file, n) in [("0001", 20), ("0002", 20), ("0003", 18)] {
        let text = std::fs::read_to_string(out.join(format!("api/orders-{file}.json"))).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let batch = v["orders"].as_array().unwrap();
        assert_eq!(batch.len(), n, "{file}");
        orders.extend(batch.iter().cloned());
    }
    assert_eq!(orders.len(), groups.len());
    let null_if_empty = |s: &str| {
        if s.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::Value::from(s)
        }
    };
    for (o, (id, lines)) in orders.iter().zip(&groups) {
        let first = lines[0];
        let items: Vec<serde_json::Value> = lines
            .iter()
            .map(|l| {
                serde_json::json!({
                    "line": l.line,
                    "sku": l.sku,
                    "name": l.product,
                    "quantity": l.qty,
                    "unit_price": { "amount": l.price.parse::<f64>().unwrap(), "currency": "EUR" },
                    "note": null_if_empty(&l.note),
                })
            })
            .collect();
        let want = serde_json::json!({
            "id": id,
            "ordered_on": first.date,
            "customer": { "name": first.customer, "email": first.email, "city": first.city },
            "region": null_if_empty(&first.region),
            "lines": items,
        });
        assert_eq!(o, &want, "order {id}");
    }
    let first_file = std::fs::read_to_string(out.join("api/orders-0001.json")).unwrap();
    assert!(first_file.starts_with("{\"orders\":[\n{\"id\":\"ORD-10037\","));
    assert!(first_file.contains("\"amount\":12.90,"), "exact decimals");

    // One file per region, its lines in input order.
    for (file, region) in [
        ("Export.csv", "Export"),
        ("Nord_Est.csv", "Nord/Est"),
        ("Ouest.csv", "Ouest"),
        ("SUD.csv", "SUD"),
        ("_CON.csv", "CON"),
        ("__.csv", ".."),
        ("_empty.csv", ""),
        ("Île-de-France.csv", "Île-de-France"),
        (sud.strip_prefix("regions/").unwrap(), "Sud"),
    ] {
        let got: Vec<(String, String, String)> = read_csv(&out.join("regions").join(file), b',')
            .into_iter()
            .map(|r| (r["order_id"].clone(), r["line"].clone(), r["note"].clone()))
            .collect();
        let want: Vec<(String, String, String)> = accepted
            .iter()
            .filter(|l| l.region == region)
            .map(|l| (l.order.clone(), l.line.to_string(), l.note.clone()))
            .collect();
        assert!(!want.is_empty());
        assert_eq!(got, want, "{file}");
    }

    // The orders whose names Windows-1252 cannot hold are in no target.
    for order in ["ORD-10014", "ORD-10034"] {
        assert!(!accepted.iter().any(|l| l.order == order));
        assert!(!legacy.contains(order) && !first_file.contains(order));
    }
    // Formula-like notes are warned about, once per CSV target, and written unchanged.
    let warnings: Vec<(u64, String)> = scratch
        .warning_codes()
        .into_iter()
        .map(|(row, field, code)| {
            assert_eq!(code, "formula-risk");
            (row, field)
        })
        .collect();
    let mut want = Vec::new();
    for row in [25, 49, 72, 77] {
        want.push((row, "REMARQUE".to_string()));
        want.push((row, "note".to_string()));
    }
    let mut got = warnings;
    got.sort();
    assert_eq!(got, want);
    assert!(legacy.contains(";=1+1\r\n"));
    assert!(legacy.contains(";@livreur: sonner deux fois\r\n"));
}

/// `12,5` / `13,00` / `7` → cents, exactly.
fn cents(text: &str) -> i64 {
    let t = text.trim();
    let (whole, frac) = t.split_once(',').unwrap_or((t, ""));
    let neg = whole.starts_with('-');
    let whole: i64 = whole.trim_start_matches(['-', '+']).parse().unwrap();
    let frac: i64 = match frac.len() {
        0 => 0,
        1 => frac.parse::<i64>().unwrap() * 10,
        2 => frac.parse().unwrap(),
        _ => panic!("`{text}` has more than 2 decimals"),
    };
    let v = whole * 100 + frac;
    if neg { -v } else { v }
}

/// The shop example run from the repository root, its outputs in a scratch folder's `out`.
fn shop() -> Job {
    Job::shipped("mappings/shop-products.toml")
}

/// The source records of `samples/shop/products.csv`, by SKU (the first record with it: a later
/// one is a `duplicate-key` reject).
fn shop_source() -> BTreeMap<String, csv::StringRecord> {
    let mut r = csv::ReaderBuilder::new()
        .delimiter(b';')
        .flexible(true)
        .from_path(repo().join("samples/shop/products.csv"))
        .unwrap();
    let mut by_sku = BTreeMap::new();
    for rec in r.records() {
        let rec = rec.unwrap();
        by_sku.entry(rec[0].to_string()).or_insert(rec);
    }
    by_sku
}

#[test]
fn shop_example_writes_catalog_pricing_stock_api_and_database() {
    let p = shop();
    let out = p.out_dir();
    let res = p.run("run");
    assert_eq!(res.code, 1, "{}", res.stderr);
    let r = p.report();
    assert_eq!(r["command"], "run");
    assert_eq!(r["status"], "completed");
    assert_eq!(r["rows"]["accepted"], 282);
    assert_eq!(r["conservation"]["holds"], true);
    assert_eq!(
        r["rows"]["routed"].as_u64().unwrap() + r["rows"]["unrouted"].as_u64().unwrap(),
        282
    );
    let lookups: Vec<(String, u64)> = r["lookups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["name"].as_str().unwrap().to_string(),
                l["rows"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        lookups,
        vec![("brands".to_string(), 11), ("colors".to_string(), 8)]
    );

    let source = shop_source();
    // catalog: every accepted row, in input order.
    let catalog = read_csv(&out.join("catalog/products.csv"), b',');
    assert_eq!(catalog.len(), 282);
    assert_eq!(
        p.read("out/catalog/products.csv").lines().next(),
        Some("id,title,brand_id,color,created,active")
    );
    let brands: BTreeMap<String, String> = read_csv(&repo().join("samples/shop/brands.csv"), b';')
        .into_iter()
        .map(|b| (b["name"].to_lowercase(), b["id"].clone()))
        .collect();
    let ids: Vec<String> = catalog.iter().map(|c| c["id"].clone()).collect();
    for c in &catalog {
        let src = &source[&c["id"]];
        assert_eq!(
            c["brand_id"],
            brands[&src[2].trim().to_lowercase()],
            "{c:?}"
        );
        let created = &c["created"];
        assert!(
            created.is_empty() || {
                let b = created.as_bytes();
                b.len() == 10 && b[4] == b'-' && b[7] == b'-'
            },
            "ISO date: {created}"
        );
        assert!(
            ["true", "false", ""].contains(&c["active"].as_str()),
            "{c:?}"
        );
    }
    assert_eq!(
        ids.iter().collect::<BTreeSet<_>>().len(),
        282,
        "ids are unique"
    );

    // stock: one file per warehouse, only rows with stock > 0, in input order.
    let mut expected: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for id in &ids {
        let src = &source[id];
        let stock = src[6].trim();
        if !stock.is_empty() && stock.parse::<i64>().unwrap() > 0 {
            expected
                .entry(src[7].to_string())
                .or_default()
                .push((id.clone(), stock.parse::<i64>().unwrap().to_string()));
        }
    }
    let files: BTreeSet<String> = std::fs::read_dir(out.join("stock"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let wanted: BTreeSet<String> = expected.keys().map(|w| format!("{w}.csv")).collect();
    assert_eq!(files, wanted);
    assert_eq!(files.len(), 4);
    for (w, rows) in &expected {
        let got: Vec<(String, String)> = read_csv(&out.join(format!("stock/{w}.csv")), b';')
            .into_iter()
            .map(|r| (r["sku"].clone(), r["qty"].clone()))
            .collect();
        assert_eq!(&got, rows, "stock/{w}.csv");
    }
    assert_eq!(
        report_target(&r, "stock")["rows"],
        expected.values().map(Vec::len).sum::<usize>() as u64
    );

    // pricing: active rows only, exact cents.
    let mut expected = Vec::new();
    for id in &ids {
        let src = &source[id];
        if src[10].trim().eq_ignore_ascii_case("oui") {
            let sale = src[5].trim();
            expected.push(vec![
                id.clone(),
                cents(&src[4]).to_string(),
                if sale.is_empty() {
                    String::new()
                } else {
                    cents(sale).to_string()
                },
                "EUR".to_string(),
            ]);
        }
    }
    let pricing: Vec<Vec<String>> = read_csv(&out.join("pricing/prices.csv"), b',')
        .into_iter()
        .map(|r| {
            vec![
                r["sku"].clone(),
                r["price_cents"].clone(),
                r["sale_price_cents"].clone(),
                r["currency"].clone(),
            ]
        })
        .collect();
    assert_eq!(pricing, expected);

    // api: JSON arrays of 100 records, nested, ISO dates, in input order.
    let api = ["0001", "0002", "0003"];
    let mut skus = Vec::new();
    for (i, b) in api.iter().enumerate() {
        let raw = p.read(&format!("out/api/products-{b}.json"));
        let v: serde_json::Value = serde_json::from_str(&raw).expect("a JSON document");
        let records = v.as_array().expect("a JSON array");
        assert_eq!(records.len(), if i < 2 { 100 } else { 82 });
        assert!(raw.starts_with("[\n{") && raw.ends_with("}\n]\n"));
        assert_eq!(raw.lines().count(), records.len() + 2, "one record a line");
        for rec in records {
            let product = &rec["product"];
            skus.push(product["sku"].as_str().unwrap().to_string());
            assert!(product["price"]["amount"].is_number(), "{rec}");
            assert_eq!(product["price"]["currency"], "EUR");
            assert!(product["active"].is_boolean() || product["active"].is_null());
            let created = product["created"].as_str().unwrap_or("2000-01-01");
            assert!(
                created.len() == 10 && created.as_bytes()[4] == b'-',
                "{created}"
            );
        }
    }
    assert_eq!(skus, ids);
    assert!(
        p.read("out/api/products-0001.json")
            .contains(r#"{"product":{"sku":"TSH-8602","title":"T-shirt manches courtes en coton bio","brand_id":"BR-003","price":{"amount":13.00,"currency":"EUR"},"created":"2025-01-31","active":true}}"#)
    );
    assert!(!out.join("api/products-0004.json").exists());
    // database: every accepted product, in input order, typed.
    let db = rusqlite::Connection::open(out.join("shop.db")).unwrap();
    let loaded: Vec<(String, String, i64, Option<String>)> = db
        .prepare("SELECT sku, price, price_cents, created FROM products ORDER BY rowid")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(loaded.iter().map(|l| l.0.clone()).collect::<Vec<_>>(), ids);
    assert_eq!(
        loaded[0],
        (
            "TSH-8602".to_string(),
            "13.00".to_string(),
            1300,
            Some("2025-01-31".to_string())
        )
    );
    for (sku, price, cents, _) in &loaded {
        assert_eq!(
            price.replace('.', "").parse::<i64>().unwrap(),
            *cents,
            "{sku}"
        );
    }
    check_report_files(out);
}

#[test]
fn shop_example_second_run_is_byte_identical() {
    let p = shop();
    let out = p.out_dir();
    assert_eq!(p.run("run").code, 1);
    let first = p.tree();
    let first_report = p.report();
    assert_eq!(p.run("run").code, 1);
    let second = p.tree();
    assert_eq!(names(&first), names(&second));
    assert_eq!(without_report(first), without_report(second));
    // Every file's hash in the report is the hash of the file, and both runs agree.
    assert_eq!(first_report["targets"], p.report()["targets"]);
    check_report_files(out);
    assert!(!out.join(".rowferry-staging").exists());
}

/// Targets shared among several writer threads (the default with more than one core) are
/// written exactly as one writer writes them: a cap of three open files leaves one writer.
#[test]
fn targets_written_by_several_writers_match_one_writer() {
    // Small batches, so that the JSON target rolls many files while the others are written.
    let batches = ["--set", "targets.api.batch_size=7"];
    let one = shop().args(batches).args(["--set", "run.max_open_files=3"]);
    let r = one.run("run");
    assert_eq!(r.code, 1, "{}", r.stderr);
    let many = shop().args(batches);
    let r = many.run("run");
    assert_eq!(r.code, 1, "{}", r.stderr);
    let (a, b) = (without_report(one.tree()), without_report(many.tree()));
    assert!(
        a.keys().filter(|k| k.starts_with("api/")).count() > 30,
        "{:?}",
        a.keys()
    );
    assert_eq!(names(&a), names(&b));
    assert_eq!(a, b);
    assert_eq!(one.report()["targets"], many.report()["targets"]);
    check_report_files(one.out_dir());
    check_report_files(many.out_dir());
}

/// The README's example of a broken mapping is what `check` prints for that typo, verbatim.
#[test]
fn the_readme_typo_example_is_what_check_prints() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let start = readme
        .find("```console\nerror: unknown key `tpye`")
        .expect("the README shows a typo");
    let block = &readme[start + "```console\n".len()..];
    let block = &block[..block.find("```").unwrap()];
    let scratch = Project::new();
    std::fs::create_dir_all(scratch.path().join("mappings")).unwrap();
    std::os::unix::fs::symlink(repo().join("samples"), scratch.path().join("samples")).unwrap();
    let shipped = std::fs::read_to_string(repo().join("mappings/shop-products.toml")).unwrap();
    let typo = shipped.replacen(
        "{ column = \"SKU\", type =",
        "{ column = \"SKU\", tpye =",
        1,
    );
    assert_ne!(typo, shipped);
    std::fs::write(scratch.path().join("mappings/shop-products.toml"), typo).unwrap();
    let run = rowferry(scratch.path(), &["check", "mappings/shop-products.toml"]);
    assert_eq!(run.code, 2);
    assert_eq!(run.stderr, block);
}
