//! Payload targets as their readers see them: typed XLSX workbooks read back with calamine and
//! their XML parts, and grouped JSON records built from unsorted rows — byte-exact, on real runs,
//! with every row accounted for.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::Path;

use calamine::{Data, Reader, Xlsx, open_workbook};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::util::{Job, Outcome, read_csv};

fn run(p: &Job, extra: &[&str]) -> Outcome {
    p.run_with("run", extra)
}

/// Every row accounted for, per target too, and every listed file is on disk with the size and
/// SHA-256 the report gives.
fn assert_accounted(p: &Job, out: &str) -> Value {
    let report: Value = serde_json::from_str(&p.read(&format!("{out}/_report/report.json")))
        .expect("report.json is JSON");
    let n = |k: &str| report["rows"][k].as_u64().unwrap();
    assert_eq!(
        n("read"),
        n("skipped") + n("accepted") + n("rejected"),
        "{}",
        report["rows"]
    );
    assert_eq!(
        n("accepted"),
        n("routed") + n("unrouted"),
        "{}",
        report["rows"]
    );
    assert_eq!(report["conservation"]["holds"], true);
    for t in report["targets"].as_array().unwrap() {
        let files = t["files"].as_array().unwrap();
        let listed: u64 = files.iter().map(|f| f["rows"].as_u64().unwrap()).sum();
        assert_eq!(t["rows"], listed, "target {}", t["name"]);
        for f in files {
            let bytes = std::fs::read(p.path().join(out).join(f["path"].as_str().unwrap()))
                .unwrap_or_else(|e| panic!("{}: {e}", f["path"]));
            assert_eq!(f["bytes"], bytes.len() as u64, "{}", f["path"]);
            assert_eq!(
                f["sha256"].as_str().unwrap(),
                format!("{:x}", Sha256::digest(&bytes)),
                "{}",
                f["path"]
            );
        }
    }
    report
}

/// `(path, rows, records)` of every file of target `name`.
fn listed(report: &Value, name: &str) -> Vec<(String, u64, u64)> {
    let t = report["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no target {name}"));
    t["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_string(),
                f["rows"].as_u64().unwrap(),
                f["records"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// Names of the files in a folder, sorted.
fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| !name.starts_with(".rowferry-"))
        .collect();
    names.sort();
    names
}

/// Every file under `dir`, by relative path, with its bytes.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out.retain(|name, _| !name.starts_with(".rowferry-"));
    out
}

// ---------------------------------------------------------------------------------------------
// XLSX
// ---------------------------------------------------------------------------------------------

fn sheet_names(path: &Path) -> Vec<String> {
    let wb: Xlsx<_> = open_workbook(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    wb.sheet_names()
}

/// The rows of a sheet (header first), every cell as calamine reads it.
fn sheet(path: &Path, name: &str) -> Vec<Vec<Data>> {
    let mut wb: Xlsx<_> = open_workbook(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let range = wb.worksheet_range(name).expect("the sheet");
    assert_eq!(range.start(), Some((0, 0)), "the header is in A1");
    range.rows().map(<[Data]>::to_vec).collect()
}

/// A part of the workbook's zip container, as text.
fn part(path: &Path, name: &str) -> String {
    let mut zip = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).expect("a zip");
    let mut s = String::new();
    zip.by_name(name)
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .read_to_string(&mut s)
        .unwrap();
    s
}

fn text(s: &str) -> Data {
    Data::String(s.to_string())
}

/// A date cell's `(y, m, d, h, min, s, ms)`.
fn when(d: &Data) -> (u16, u8, u8, u8, u8, u8, u16) {
    match d {
        Data::DateTime(dt) => {
            assert!(dt.is_datetime(), "{d:?}");
            dt.to_ymd_hms_milli()
        }
        other => panic!("not a date cell: {other:?}"),
    }
}

/// The number format of a cell (`r="D2"`) in sheet XML, through its style in `styles.xml`.
fn number_format(sheet_xml: &str, styles: &str, cell: &str) -> String {
    let cell_re = regex::Regex::new(&format!(r#"<c r="{cell}"(?: s="(\d+)")?"#)).unwrap();
    let style: usize = cell_re
        .captures(sheet_xml)
        .unwrap_or_else(|| panic!("no cell {cell}"))
        .get(1)
        .map_or(0, |m| m.as_str().parse().unwrap());
    let xfs = styles
        .split("<cellXfs")
        .nth(1)
        .and_then(|s| s.split("</cellXfs>").next())
        .expect("cellXfs");
    let xf = xfs.split("<xf ").nth(style + 1).expect("the cell's style");
    let id: u32 = regex::Regex::new(r#"numFmtId="(\d+)""#)
        .unwrap()
        .captures(xf)
        .unwrap()[1]
        .parse()
        .unwrap();
    match id {
        0 => "General".into(),
        4 => "#,##0.00".into(),
        14 => "m/d/yyyy".into(),
        _ => regex::Regex::new(&format!(r#"<numFmt numFmtId="{id}" formatCode="([^"]*)""#))
            .unwrap()
            .captures(styles)
            .unwrap_or_else(|| panic!("no numFmt {id}"))[1]
            .replace("&quot;", "\""),
    }
}

/// Whether the font of a cell's style is bold.
fn bold(sheet_xml: &str, styles: &str, cell: &str) -> bool {
    let style: usize = regex::Regex::new(&format!(r#"<c r="{cell}" s="(\d+)""#))
        .unwrap()
        .captures(sheet_xml)
        .map_or(0, |c| c[1].parse().unwrap());
    let xfs = styles.split("<cellXfs").nth(1).unwrap();
    let xf = xfs.split("<xf ").nth(style + 1).unwrap();
    let font: usize = regex::Regex::new(r#"fontId="(\d+)""#)
        .unwrap()
        .captures(xf)
        .unwrap()[1]
        .parse()
        .unwrap();
    let fonts = styles.split("<fonts").nth(1).unwrap();
    let font = fonts.split("<font>").nth(font + 1).unwrap();
    font.contains("<b/>")
}

const TYPED: &str = "id,amount,ratio,day,at,paid,note,code\n\
1,1234.50,0.125,2024-01-31,2024-01-31T10:30:00,true,=1+1,007\n\
2,-7.25,,2023-12-01,2023-12-01T00:00:00.250,false,@SUM(A1:A2),\n\
3,,2.5e3,,,,+33 6 12 34 56 78,x\n\
4,0.10,-0.5,1999-12-31,,true,\"=HYPERLINK(\"\"http://evil\"\")\",+A1\n";

const TYPED_FIELDS: &str = r#"[source]
path = "data.csv"
structure = "t"

[structures.t.fields]
id     = { type = "integer" }
amount = { type = "decimal", scale = 2 }
ratio  = { type = "number" }
day    = { type = "date" }
at     = { type = "datetime" }
paid   = { type = "boolean" }
note   = { type = "string" }
code   = { type = "string" }
"#;

/// Numbers, dates, booleans and text land in typed cells; text that starts like a formula is a
/// string, never a formula; the header is bold, frozen and filterable; column formats reach the
/// cells' styles.
#[test]
fn xlsx_cells_keep_their_types_and_text_is_never_a_formula() {
    let p = Job::new().file("data.csv", TYPED).file(
        "mapping.toml",
        format!(
            r##"{TYPED_FIELDS}
[targets.review]
path = "review/lines.xlsx"
sheet = "Order lines"
columns.id     = "id"
columns.amount = {{ value = "amount", format = "#,##0.00" }}
columns.ratio  = "ratio"
columns.day    = {{ value = "day", format = "dd/mm/yyyy" }}
columns.at     = "at"
columns.paid   = "paid"
columns.note   = "note"
columns.code   = "code"
columns.cents  = "CAST(amount * 100 AS INTEGER)"
"##
        ),
    );
    let r = run(&p, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // XLSX is not at formula risk: no warning at all.
    assert!(p.errors().is_empty(), "{:?}", p.errors());
    let path = p.path().join("out/review/lines.xlsx");
    assert_eq!(sheet_names(&path), ["Order lines"]);
    let rows = sheet(&path, "Order lines");
    assert_eq!(rows.len(), 5);
    let header: Vec<Data> = [
        "id", "amount", "ratio", "day", "at", "paid", "note", "code", "cents",
    ]
    .iter()
    .map(|h| text(h))
    .collect();
    assert_eq!(rows[0], header);

    use Data::{Bool, Empty, Float};
    // Row 2: every kind of cell.
    assert_eq!(rows[1][0], Float(1.0));
    assert_eq!(rows[1][1], Float(1234.5));
    assert_eq!(rows[1][2], Float(0.125));
    assert_eq!(when(&rows[1][3]), (2024, 1, 31, 0, 0, 0, 0));
    assert_eq!(when(&rows[1][4]), (2024, 1, 31, 10, 30, 0, 0));
    assert_eq!(rows[1][5], Bool(true));
    assert_eq!(rows[1][6], text("=1+1"));
    assert_eq!(
        rows[1][7],
        text("007"),
        "text that looks like a number stays text"
    );
    assert_eq!(rows[1][8], Float(123450.0));
    // Row 3: milliseconds kept, nulls are empty cells.
    assert_eq!(rows[2][1], Float(-7.25));
    assert_eq!(rows[2][2], Empty);
    assert_eq!(when(&rows[2][3]), (2023, 12, 1, 0, 0, 0, 0));
    assert_eq!(when(&rows[2][4]), (2023, 12, 1, 0, 0, 0, 250));
    assert_eq!(rows[2][5], Bool(false));
    assert_eq!(rows[2][6], text("@SUM(A1:A2)"));
    assert_eq!(rows[2][7], Empty);
    assert_eq!(rows[2][8], Float(-725.0));
    // Row 4: a number in exponent form, and a row of nulls around text.
    assert_eq!(
        rows[3],
        [
            Float(3.0),
            Empty,
            Float(2500.0),
            Empty,
            Empty,
            Empty,
            text("+33 6 12 34 56 78"),
            text("x"),
            Empty,
        ]
    );
    // Row 5: a formula injection stays the text it was.
    assert_eq!(rows[4][1], Float(0.1));
    assert_eq!(rows[4][2], Float(-0.5));
    assert_eq!(when(&rows[4][3]), (1999, 12, 31, 0, 0, 0, 0));
    assert_eq!(rows[4][6], text("=HYPERLINK(\"http://evil\")"));
    assert_eq!(rows[4][7], text("+A1"));

    let xml = part(&path, "xl/worksheets/sheet1.xml");
    let styles = part(&path, "xl/styles.xml");
    assert!(!xml.contains("<f>") && !xml.contains("<f "), "{xml}");
    assert!(
        xml.contains(
            r#"<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>"#
        ),
        "{xml}"
    );
    assert!(xml.contains(r#"<autoFilter ref="A1:I5"/>"#), "{xml}");
    for c in ["A1", "E1", "I1"] {
        assert!(bold(&xml, &styles, c), "{c} is bold");
    }
    assert!(!bold(&xml, &styles, "A2"));
    assert!(!bold(&xml, &styles, "G2"));
    assert_eq!(number_format(&xml, &styles, "D2"), "dd/mm/yyyy");
    assert_eq!(number_format(&xml, &styles, "D5"), "dd/mm/yyyy");
    assert_eq!(number_format(&xml, &styles, "B2"), "#,##0.00");
    assert_eq!(number_format(&xml, &styles, "E2"), "yyyy-mm-dd hh:mm:ss");
    assert_eq!(number_format(&xml, &styles, "C2"), "General");
    assert!(part(&path, "xl/workbook.xml").contains(r#"<sheet name="Order lines" sheetId="1""#));

    let report = assert_accounted(&p, "out");
    assert_eq!(report["rows"]["accepted"], 4);
    assert_eq!(report["targets"][0]["format"], "xlsx");
    assert_eq!(
        report["targets"][0]["files"][0]["sheets"],
        serde_json::json!(["Order lines"])
    );
    assert_eq!(
        listed(&report, "review"),
        [("review/lines.xlsx".to_string(), 4, 4)]
    );
}

/// `batch_size` rolls an XLSX target into numbered workbooks of exactly that many rows; each
/// has its own header and sheet, and an empty batched target still has its first workbook.
#[test]
fn xlsx_batches_roll_into_numbered_workbooks() {
    let mut data = String::from("id,name\n");
    for i in 1..=7 {
        data.push_str(&format!("{i},n{i}\n"));
    }
    let p = Job::new().input("data.csv", &data).file(
        "mapping.toml",
        r#"[source]
path = "data.csv"

[targets.lines]
path = "lines/part-{batch}.xlsx"
batch_size = 3
columns.id = "CAST(id AS INTEGER)"
columns.name = "name"

[targets.none]
path = "none/part-{batch}.xlsx"
batch_size = 3
when = "id = '99'"
"#,
    );
    let r = run(&p, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        file_names(&p.path().join("out/lines")),
        ["part-0001.xlsx", "part-0002.xlsx", "part-0003.xlsx"]
    );
    let mut ids = Vec::new();
    for (file, n) in [("part-0001", 3), ("part-0002", 3), ("part-0003", 1)] {
        let path = p.path().join(format!("out/lines/{file}.xlsx"));
        assert_eq!(
            sheet_names(&path),
            ["lines"],
            "the target's name by default"
        );
        let rows = sheet(&path, "lines");
        assert_eq!(rows[0], [text("id"), text("name")], "{file}");
        assert_eq!(rows.len(), n + 1, "{file}");
        for row in &rows[1..] {
            let Data::Float(id) = row[0] else {
                panic!("{row:?}")
            };
            assert_eq!(row[1], text(&format!("n{id}")));
            ids.push(id as u64);
        }
    }
    assert_eq!(
        ids,
        (1..=7).collect::<Vec<u64>>(),
        "input order across files"
    );
    // No row, still one (empty) workbook: header only.
    assert_eq!(file_names(&p.path().join("out/none")), ["part-0001.xlsx"]);
    let empty = sheet(&p.path().join("out/none/part-0001.xlsx"), "none");
    assert_eq!(empty, [[text("id"), text("name")]]);

    let report = assert_accounted(&p, "out");
    assert_eq!(
        listed(&report, "lines"),
        [
            ("lines/part-0001.xlsx".to_string(), 3, 3),
            ("lines/part-0002.xlsx".to_string(), 3, 3),
            ("lines/part-0003.xlsx".to_string(), 1, 1),
        ]
    );
    assert_eq!(
        listed(&report, "none"),
        [("none/part-0001.xlsx".to_string(), 0, 0)]
    );
    assert_eq!(report["rows"]["routed"], 7);
}

/// Regions with hostile names, many of them interleaved, under `max_open_files = 2`: workbooks
/// are spilled, closed and reopened all along, yet every row is in its region's workbook, in
/// input order, and runs give byte-identical workbooks whatever the cap.
#[test]
fn xlsx_partitions_under_two_open_files_keep_every_row_in_order() {
    let regions = [
        "Sud",
        "Nord/Est",
        "..",
        "CON",
        "",
        "Île-de-France",
        "SUD",
        "Ouest",
        "Est",
        "Centre",
        "Bretagne",
        "Corse",
    ];
    let mut data = String::from("id,region,qty\n");
    let mut expected: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    let mut seed: u64 = 42;
    for id in 1..=480u64 {
        // A fixed pseudo-random order, so regions interleave without pattern; the first row of
        // `Sud` comes before the first of `SUD`.
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let r = if id <= regions.len() as u64 {
            regions[id as usize - 1]
        } else {
            regions[(seed >> 33) as usize % regions.len()]
        };
        data.push_str(&format!("{id},\"{r}\",{}\n", id % 7));
        expected.entry(r).or_default().push(id);
    }
    let p = Job::new().file("data.csv", &data).file(
        "mapping.toml",
        r#"[run]
max_open_files = 2

[source]
path = "data.csv"
structure = "line"

[structures.line.fields]
id     = { type = "integer", required = true }
region = { type = "string" }
qty    = { type = "integer" }

[targets.by_region]
path = "regions/{region}.xlsx"
sheet = "Lines"
columns.id = "id"
columns.region = "region"
columns.qty = "qty"

[targets.all]
path = "all.csv"
columns.id = "id"
"#,
    );
    let r = run(&p, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let dir = p.path().join("out/regions");
    let names = file_names(&dir);
    let collided: Vec<&String> = names.iter().filter(|n| n.starts_with("SUD~")).collect();
    assert_eq!(collided.len(), 1, "{names:?}");
    assert!(
        regex::Regex::new(r"^SUD~[0-9a-f]{8}\.xlsx$")
            .unwrap()
            .is_match(collided[0]),
        "{names:?}"
    );
    let file_of = |region: &str| -> String {
        match region {
            "Nord/Est" => "Nord_Est.xlsx".into(),
            ".." => "__.xlsx".into(),
            "CON" => "_CON.xlsx".into(),
            "" => "_empty.xlsx".into(),
            "SUD" => collided[0].clone(),
            r => format!("{r}.xlsx"),
        }
    };
    let mut want: Vec<String> = regions.iter().map(|r| file_of(r)).collect();
    want.sort();
    assert_eq!(names, want, "one workbook per region, nothing else");

    for (region, ids) in &expected {
        let path = dir.join(file_of(region));
        assert_eq!(sheet_names(&path), ["Lines"]);
        let rows = sheet(&path, "Lines");
        assert_eq!(rows[0], [text("id"), text("region"), text("qty")]);
        let got: Vec<u64> = rows[1..]
            .iter()
            .map(|row| {
                let cell = if region.is_empty() {
                    Data::Empty
                } else {
                    text(region)
                };
                assert_eq!(row[1], cell, "{region:?}");
                match row[0] {
                    Data::Float(id) => {
                        assert_eq!(row[2], Data::Float((id as u64 % 7) as f64));
                        id as u64
                    }
                    ref other => panic!("{other:?}"),
                }
            })
            .collect();
        assert_eq!(&got, ids, "{region:?}: its rows, in input order");
    }
    let report = assert_accounted(&p, "out");
    assert_eq!(report["rows"]["routed"], 480);
    let files = listed(&report, "by_region");
    assert_eq!(files.len(), regions.len());
    for (path, rows, records) in &files {
        let name = path.strip_prefix("regions/").unwrap();
        let region = regions.iter().find(|r| file_of(r) == name).unwrap();
        assert_eq!(*rows, expected[region].len() as u64, "{path}");
        assert_eq!(records, rows);
    }
    for f in report["targets"][0]["files"].as_array().unwrap() {
        assert_eq!(f["sheets"], serde_json::json!(["Lines"]));
    }
    assert_eq!(p.read("out/all.csv").lines().count(), 481);

    // Deterministic: again under the same cap, and with no cap to speak of.
    let first = tree(&dir);
    for cap in ["2", "64"] {
        let out = format!("again-{cap}");
        let r = p.exec(&[
            "run",
            "mapping.toml",
            "--out",
            &out,
            "--quiet",
            "--set",
            &format!("run.max_open_files={cap}"),
        ]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let again = tree(&p.path().join(&out).join("regions"));
        assert_eq!(
            first.keys().collect::<Vec<_>>(),
            again.keys().collect::<Vec<_>>()
        );
        for (name, bytes) in &first {
            assert!(
                &again[name] == bytes,
                "{name} differs with max_open_files = {cap}"
            );
        }
    }
}

/// Text longer than an XLSX cell holds (32,767 UTF-16 units) is an `unencodable` reject: the
/// row is in `rejects.csv` and in no target. The limit counts UTF-16 units, not bytes or chars.
#[test]
fn xlsx_text_longer_than_a_cell_is_an_unencodable_reject() {
    let fits = "é".repeat(32_767); // 65,534 bytes, 32,767 units: fits
    let emoji = "😀".repeat(16_384); // 16,384 chars, 32,768 units: does not
    let long = "x".repeat(32_768);
    let data = format!("id,text\n1,short\n2,{fits}\n3,{emoji}\n4,{long}\n5,=1+1\n");
    let p = Job::new().file("data.csv", &data).file(
        "mapping.toml",
        r#"[source]
path = "data.csv"

[targets.book]
path = "book.xlsx"

[targets.ids]
path = "ids.csv"
columns.id = "id"
"#,
    );
    let r = run(&p, &[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let rows = sheet(&p.path().join("out/book.xlsx"), "book");
    assert_eq!(
        rows,
        [
            [text("id"), text("text")],
            [text("1"), text("short")],
            [text("2"), text(&fits)],
            [text("5"), text("=1+1")],
        ]
    );
    assert_eq!(
        p.read("out/ids.csv"),
        "id\n1\n2\n5\n",
        "rejected for one, in none"
    );
    let errors = p.errors();
    assert_eq!(errors.len(), 2, "{errors:?}");
    for (e, (row, units)) in errors.iter().zip([(4, 32_768), (5, 32_768)]) {
        assert_eq!(e["code"], "unencodable");
        assert_eq!(e["stage"], "sink");
        assert_eq!(e["severity"], "error");
        assert_eq!(e["field"], "text");
        assert_eq!(e["row"], row.to_string());
        assert!(
            e["message"].contains(&format!("target `book`: {units} characters")),
            "{}",
            e["message"]
        );
    }
    let rejects = read_csv(&p.path().join("out/_report/rejects.csv"), b',');
    assert_eq!(rejects.len(), 2);
    assert_eq!(rejects[0]["id"], "3");
    assert_eq!(rejects[0]["text"], emoji, "copied as read");
    assert_eq!(rejects[0]["_errors"], "text: unencodable");
    assert_eq!(rejects[1]["_errors"], "text: unencodable");
    assert_eq!(rejects[1]["id"], "4");
    assert_eq!(rejects[1]["text"], long);
    let report = assert_accounted(&p, "out");
    assert_eq!(report["rows"]["read"], 5);
    assert_eq!(report["rows"]["accepted"], 3);
    assert_eq!(report["rows"]["rejected"], 2);
    assert_eq!(report["rows"]["routed"], 3);
    assert_eq!(listed(&report, "book"), [("book.xlsx".to_string(), 3, 3)]);
    assert_eq!(report["issues"]["by_code"]["unencodable"]["errors"], 2);
}

// ---------------------------------------------------------------------------------------------
// Grouped JSON
// ---------------------------------------------------------------------------------------------

/// Order lines as an old shop exports them: not sorted by order. `O-2` has no line (a row of
/// nulls in every item column), `O-1` has a line in another region, `O-3`'s later rows carry
/// other customer values (record-level values come from a group's first row).
const LINES: &str = "order_id,line,customer,email,region,sku,qty,price,currency\n\
O-3,1,Zoë Dupré,zoe@example.fr,Nord,SKU-1,2,3.50,EUR\n\
O-1,1,Ann,ann@example.com,Sud,SKU-2,1,10,EUR\n\
O-3,2,IGNORED,other@example.fr,Nord,SKU-3,5,0.25,EUR\n\
O-2,,\"Bob \"\"B\"\"\",bob@example.com,Sud,,,,\n\
O-1,2,Ann,ann@example.com,Sud,SKU-4,3,1.1,USD\n\
O-4,1,Chloé,,Nord/Est,SKU-5,1,99.99,EUR\n\
O-3,3,Zoë Dupré,zoe@example.fr,Nord,SKU-6,1,12,EUR\n\
O-5,1,Dan,dan@example.com,Nord/Est,SKU-7,4,0.05,EUR\n\
O-1,3,Ann,ann@example.com,Nord,SKU-8,1,2,EUR\n\
O-6,1,Eve,eve@example.com,Sud,SKU-9,1,5,EUR\n";

fn lines_project(targets: &str) -> Job {
    Job::new().input("data.csv", LINES).file(
        "mapping.toml",
        format!(
            r#"[source]
path = "data.csv"
structure = "line"

[structures.line.fields]
order_id = {{ type = "string", required = true }}
line     = {{ type = "integer", min = 1 }}
customer = {{ type = "string" }}
email    = {{ type = "email" }}
region   = {{ type = "string" }}
sku      = {{ type = "string" }}
qty      = {{ type = "integer" }}
price    = {{ type = "decimal", scale = 2 }}
currency = {{ type = "string" }}

{targets}
"#
        ),
    )
}

/// One record per order from unsorted lines, in order of first appearance, with nested
/// record-level and item columns, under a dotted envelope, in batches of 2 records (not rows).
#[test]
fn grouped_json_from_unsorted_lines_byte_exact() {
    let p = lines_project(
        r#"[targets.api]
path = "api/orders-{batch}.json"
group_by = ["order_id"]
batch_size = 2
envelope = "data.orders"
columns.id                       = "order_id"
columns."customer.name"          = "customer"
columns."customer.contact.email" = "email"
columns."lines[].line"           = "line"
columns."lines[].sku"            = "sku"
columns."lines[].qty"            = "qty"
columns."lines[].price.amount"   = "price"
columns."lines[].price.currency" = "currency"
"#,
    );
    let r = run(&p, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        file_names(&p.path().join("out/api")),
        ["orders-0001.json", "orders-0002.json", "orders-0003.json"]
    );
    let o3 = concat!(
        r#"{"id":"O-3","customer":{"name":"Zoë Dupré","contact":{"email":"zoe@example.fr"}},"lines":["#,
        r#"{"line":1,"sku":"SKU-1","qty":2,"price":{"amount":3.50,"currency":"EUR"}},"#,
        r#"{"line":2,"sku":"SKU-3","qty":5,"price":{"amount":0.25,"currency":"EUR"}},"#,
        r#"{"line":3,"sku":"SKU-6","qty":1,"price":{"amount":12.00,"currency":"EUR"}}]}"#
    );
    let o1 = concat!(
        r#"{"id":"O-1","customer":{"name":"Ann","contact":{"email":"ann@example.com"}},"lines":["#,
        r#"{"line":1,"sku":"SKU-2","qty":1,"price":{"amount":10.00,"currency":"EUR"}},"#,
        r#"{"line":2,"sku":"SKU-4","qty":3,"price":{"amount":1.10,"currency":"USD"}},"#,
        r#"{"line":3,"sku":"SKU-8","qty":1,"price":{"amount":2.00,"currency":"EUR"}}]}"#
    );
    let o2 = r#"{"id":"O-2","customer":{"name":"Bob \"B\"","contact":{"email":"bob@example.com"}},"lines":[]}"#;
    let o4 = concat!(
        r#"{"id":"O-4","customer":{"name":"Chloé","contact":{"email":null}},"lines":["#,
        r#"{"line":1,"sku":"SKU-5","qty":1,"price":{"amount":99.99,"currency":"EUR"}}]}"#
    );
    let o5 = concat!(
        r#"{"id":"O-5","customer":{"name":"Dan","contact":{"email":"dan@example.com"}},"lines":["#,
        r#"{"line":1,"sku":"SKU-7","qty":4,"price":{"amount":0.05,"currency":"EUR"}}]}"#
    );
    let o6 = concat!(
        r#"{"id":"O-6","customer":{"name":"Eve","contact":{"email":"eve@example.com"}},"lines":["#,
        r#"{"line":1,"sku":"SKU-9","qty":1,"price":{"amount":5.00,"currency":"EUR"}}]}"#
    );
    let expected = [
        format!("{{\"data\":{{\"orders\":[\n{o3},\n{o1}\n]}}}}\n"),
        format!("{{\"data\":{{\"orders\":[\n{o2},\n{o4}\n]}}}}\n"),
        format!("{{\"data\":{{\"orders\":[\n{o5},\n{o6}\n]}}}}\n"),
    ];
    for (i, want) in expected.iter().enumerate() {
        let name = format!("out/api/orders-{:04}.json", i + 1);
        let got = p.read(&name);
        assert_eq!(&got, want, "{name}");
        serde_json::from_str::<Value>(&got).expect("valid JSON");
    }
    let report = assert_accounted(&p, "out");
    assert_eq!(report["rows"]["routed"], 10);
    assert_eq!(
        listed(&report, "api"),
        [
            ("api/orders-0001.json".to_string(), 6, 2),
            ("api/orders-0002.json".to_string(), 2, 2),
            ("api/orders-0003.json".to_string(), 2, 2),
        ],
        "rows are input rows, records are orders"
    );
    assert!(!p.path().join("out/.rowferry-spill").exists());
    assert!(!p.path().join("out/.rowferry-staging").exists());
}

/// NDJSON records grouped per order within `{region}` files: the partition is part of the key,
/// so an order with lines in two regions is one record in each.
#[test]
fn grouped_ndjson_in_region_partitions() {
    let p = lines_project(
        r#"[targets.feed]
path = "feed/{region}.ndjson"
group_by = ["order_id"]
columns.id = "order_id"
columns.customer = "customer"
columns."lines[].sku" = "sku"
columns."lines[].qty" = "qty"

[targets.flat]
path = "flat.ndjson"
group_by = ["order_id"]
when = "region = 'Sud'"
columns.id = "order_id"
columns."lines[].sku" = "sku"
"#,
    );
    let r = run(&p, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        file_names(&p.path().join("out/feed")),
        ["Nord.ndjson", "Nord_Est.ndjson", "Sud.ndjson"]
    );
    assert_eq!(
        p.read("out/feed/Nord.ndjson"),
        concat!(
            r#"{"id":"O-3","customer":"Zoë Dupré","lines":[{"sku":"SKU-1","qty":2},{"sku":"SKU-3","qty":5},{"sku":"SKU-6","qty":1}]}"#,
            "\n",
            r#"{"id":"O-1","customer":"Ann","lines":[{"sku":"SKU-8","qty":1}]}"#,
            "\n"
        )
    );
    assert_eq!(
        p.read("out/feed/Sud.ndjson"),
        concat!(
            r#"{"id":"O-1","customer":"Ann","lines":[{"sku":"SKU-2","qty":1},{"sku":"SKU-4","qty":3}]}"#,
            "\n",
            r#"{"id":"O-2","customer":"Bob \"B\"","lines":[]}"#,
            "\n",
            r#"{"id":"O-6","customer":"Eve","lines":[{"sku":"SKU-9","qty":1}]}"#,
            "\n"
        )
    );
    assert_eq!(
        p.read("out/feed/Nord_Est.ndjson"),
        concat!(
            r#"{"id":"O-4","customer":"Chloé","lines":[{"sku":"SKU-5","qty":1}]}"#,
            "\n",
            r#"{"id":"O-5","customer":"Dan","lines":[{"sku":"SKU-7","qty":4}]}"#,
            "\n"
        )
    );
    assert_eq!(
        p.read("out/flat.ndjson"),
        concat!(
            r#"{"id":"O-1","lines":[{"sku":"SKU-2"},{"sku":"SKU-4"}]}"#,
            "\n",
            r#"{"id":"O-2","lines":[]}"#,
            "\n",
            r#"{"id":"O-6","lines":[{"sku":"SKU-9"}]}"#,
            "\n"
        )
    );
    let report = assert_accounted(&p, "out");
    assert_eq!(
        listed(&report, "feed"),
        [
            ("feed/Nord.ndjson".to_string(), 4, 2),
            ("feed/Sud.ndjson".to_string(), 4, 3),
            ("feed/Nord_Est.ndjson".to_string(), 2, 2),
        ]
    );
    assert_eq!(listed(&report, "flat"), [("flat.ndjson".to_string(), 4, 3)]);
}

/// A cheap deterministic generator for big inputs.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// Past `[run] group_memory_mb` rows spill to sorted files and are merged back: the output is
/// byte-identical to a run that holds everything in memory, across more than one chunk of
/// input, and no spill file is left behind.
#[test]
fn grouped_spills_give_byte_identical_payloads() {
    const ROWS: u64 = 70_000;
    const KEYS: u64 = 20_000;
    let mut rng = Lcg(7);
    let mut data = String::from("order_id,region,sku,qty,price\n");
    let mut lines_of: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut first_seen: Vec<String> = Vec::new();
    for i in 0..ROWS {
        let k = rng.next(KEYS);
        let key = format!("K{k:05}");
        let sku = format!("SKU-{i:06}");
        data.push_str(&format!(
            "{key},R{},{sku},{},{}.{:02}\n",
            k % 3,
            i % 9 + 1,
            i % 1000,
            i % 100
        ));
        let lines = lines_of.entry(key.clone()).or_default();
        if lines.is_empty() {
            first_seen.push(key);
        }
        lines.push(sku);
    }
    // The rows alone are twice the 1 MiB budget (shared by two targets): it must spill.
    assert!(data.len() > 2_000_000, "{}", data.len());
    let p = Job::new().file("data.csv", &data).file(
        "mapping.toml",
        r#"[source]
path = "data.csv"
structure = "line"

[structures.line.fields]
order_id = { type = "string", required = true }
region   = { type = "string" }
sku      = { type = "string" }
qty      = { type = "integer" }
price    = { type = "decimal", scale = 2 }

[targets.api]
path = "api/orders-{batch}.json"
group_by = ["order_id"]
batch_size = 5000
envelope = "orders"
columns.id = "order_id"
columns."lines[].sku" = "sku"
columns."lines[].qty" = "qty"
columns."lines[].price.amount" = "price"

[targets.feed]
path = "feed/{region}.ndjson"
group_by = ["order_id"]
columns.id = "order_id"
columns."lines[].sku" = "sku"
"#,
    );
    let r = p.exec(&["run", "mapping.toml", "--out", "memory", "--quiet"]);
    assert_eq!(r.code, 0, "{}", r.stderr);

    // The spilling run, watched: its spill folder must show up while it works.
    let spill = p.path().join("spilled/.rowferry-staging/.rowferry-spill");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_rowferry"))
        .args([
            "run",
            "mapping.toml",
            "--out",
            "spilled",
            "--quiet",
            "--set",
            "run.group_memory_mb=1",
        ])
        .current_dir(p.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut seen = false;
    let status = loop {
        seen |= spill.is_dir();
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    };
    assert_eq!(status.code(), Some(0));
    assert!(seen, "rows were spilled under a 1 MiB budget");

    let memory = tree(&p.path().join("memory"));
    let spilled = tree(&p.path().join("spilled"));
    let payloads = |t: &BTreeMap<String, Vec<u8>>| -> Vec<String> {
        t.keys()
            .filter(|k| !k.starts_with("_report"))
            .cloned()
            .collect()
    };
    assert_eq!(payloads(&memory), payloads(&spilled));
    assert_eq!(payloads(&memory).len(), 4 + 3, "{:?}", payloads(&memory));
    for name in payloads(&memory) {
        assert!(
            memory[&name] == spilled[&name],
            "{name} differs after spilling"
        );
    }
    for out in ["memory", "spilled"] {
        let names = file_names(&p.path().join(out));
        assert_eq!(
            names,
            ["_report", "api", "feed"],
            "{out}: nothing else left"
        );
        let report = assert_accounted(&p, out);
        assert_eq!(report["rows"]["routed"], ROWS);
    }

    // The records are the groups computed here, in order of first appearance.
    let mut records = Vec::new();
    for name in payloads(&memory).iter().filter(|n| n.starts_with("api")) {
        let v: Value = serde_json::from_slice(&memory[name]).unwrap();
        let orders = v["orders"].as_array().unwrap();
        assert!(
            orders.len() == 5000 || name.ends_with("0004.json"),
            "{name}"
        );
        records.extend(orders.iter().cloned());
    }
    assert_eq!(records.len(), first_seen.len());
    for (record, key) in records.iter().zip(&first_seen) {
        assert_eq!(record["id"], key.as_str());
        let skus: Vec<&str> = record["lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["sku"].as_str().unwrap())
            .collect();
        assert_eq!(skus, lines_of[key], "{key}");
    }
}

/// Grouping options in the wrong place are mapping errors, found by `check`.
#[test]
fn grouping_mistakes_are_plan_errors() {
    let cases = [
        (
            "path = \"a.csv\"\ngroup_by = [\"order_id\"]",
            "`group_by` applies to JSON and NDJSON targets only",
        ),
        (
            "path = \"a.xlsx\"\ngroup_by = [\"order_id\"]",
            "`group_by` applies to JSON and NDJSON targets only",
        ),
        (
            "path = \"a.ndjson\"\ngroup_by = [\"order_id\"]\nenvelope = \"orders\"",
            "`envelope` applies to JSON targets only",
        ),
        (
            "path = \"a.json\"\ncolumns.id = \"order_id\"\ncolumns.\"lines[].sku\" = \"sku\"",
            "column `lines[].sku` gathers a group's rows, but the target has no `group_by`",
        ),
        (
            "path = \"a.json\"\ngroup_by = [\"order_id\"]\ncolumns.lines = \"sku\"\ncolumns.\"lines[].sku\" = \"sku\"",
            "column `lines[].sku` makes `lines` an array, but `lines` is a value there",
        ),
        (
            "path = \"a.json\"\ngroup_by = [\"order_id\"]\nenvelope = \"data..items\"",
            "`data..items` is not an object path",
        ),
        (
            "path = \"a.json\"\ngroup_by = []",
            "`group_by` of target `t` is empty",
        ),
    ];
    for (target, expected) in cases {
        let p = lines_project(&format!("[targets.t]\n{target}\n"));
        let r = p.run("check");
        assert_eq!(r.code, 2, "{target}: {}", r.stdout);
        let all = format!("{}{}", r.stdout, r.stderr);
        assert!(all.contains(expected), "{target}: {all}");
        assert!(
            all.contains("mapping.toml:"),
            "{target}: points at the key: {all}"
        );
    }
}
