//! Writes `samples/crm/contacts.xlsx`: the rows of `samples/crm/contacts.csv` as a workbook with
//! typed cells, as a CRM's spreadsheet export would hold them.
//!
//! - Annual Revenue: numbers (a value that is not a plain number, `1,250,000.00`, stays text);
//! - Created At: date-time cells (`yyyy-mm-dd hh:mm:ss`; `17/04/2023`, not a date-time, stays
//!   text);
//! - Last Activity: date cells shown as `dd/mm/yyyy`, to prove the display format does not
//!   matter;
//! - everything else, Opt-in included, text.
//!
//! Each record keeps its line of the CSV as its sheet row, so the blank line stays a blank row
//! and row numbers match between the two files. The short record (12 fields) simply has no
//! Opt-in cell.
//!
//! Run: `cargo run --example make_contacts_xlsx`

#[path = "../tests/sheets/writer.rs"]
mod writer;

use writer::{Book, Cell, Sheet, serial, text};

fn main() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let csv = std::fs::read_to_string(root.join("samples/crm/contacts.csv"))
        .expect("samples/crm/contacts.csv reads");
    let mut sheet = Sheet::new("Contacts");
    let mut header: Vec<String> = Vec::new();
    // No value of this file spans lines, so each line is one record on its own sheet row.
    for (i, line) in csv.lines().enumerate() {
        let row = i as u32 + 1;
        if line.is_empty() {
            continue;
        }
        let record = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(line.as_bytes())
            .records()
            .next()
            .expect("a record")
            .expect("a valid record");
        if header.is_empty() {
            header = record.iter().map(str::to_string).collect();
            sheet = sheet.row(row, 1, header.iter().map(|h| text(h)).collect());
            continue;
        }
        let cells: Vec<Cell> = record
            .iter()
            .enumerate()
            .map(|(i, v)| cell(header[i].as_str(), v))
            .collect();
        sheet = sheet.row(row, 1, cells);
    }
    let out = root.join("samples/crm/contacts.xlsx");
    Book::new(vec![sheet]).write(&out);
    println!("wrote {}", out.display());
}

/// The typed cell for value `v` of column `column`.
fn cell(column: &str, v: &str) -> Cell {
    match column {
        "Annual Revenue" if !v.is_empty() => v.parse::<f64>().map_or(text(v), Cell::Number),
        "Created At" => datetime(v).map_or(text(v), Cell::DateTime),
        "Last Activity" if !v.is_empty() => date(v).map_or(text(v), Cell::Date),
        _ => text(v),
    }
}

fn datetime(v: &str) -> Option<f64> {
    let t = chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%d %H:%M:%S").ok()?;
    use chrono::{Datelike, Timelike};
    Some(serial(
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
    ))
}

fn date(v: &str) -> Option<f64> {
    let d = chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d").ok()?;
    use chrono::Datelike;
    Some(serial(d.year(), d.month(), d.day(), 0, 0, 0))
}
