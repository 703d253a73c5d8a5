//! A minimal XLSX writer for test fixtures: shared strings, numbers, booleans, error cells,
//! formulas with cached values, dates through number formats, hidden sheets and the 1904 date
//! system. It writes the few parts a workbook needs, as Excel lays them out, so the reader is
//! tested on the same structures real files have. Also used by `examples/make_contacts_xlsx.rs`.

#![allow(dead_code)]

use std::io::Write;
use std::path::Path;

/// A cell's value and how it is formatted.
#[derive(Debug, Clone)]
pub enum Cell {
    Text(String),
    Number(f64),
    Bool(bool),
    /// An error value such as `#N/A`, with the formula that produced it.
    Error(&'static str),
    /// A formula and its cached numeric result.
    Formula(&'static str, f64),
    /// A date serial shown as `dd/mm/yyyy`.
    Date(f64),
    /// A date serial shown as `yyyy-mm-dd hh:mm:ss`.
    DateTime(f64),
    /// A time-of-day serial shown as `hh:mm`.
    Time(f64),
    /// A number shown as a percentage (`0%`).
    Percent(f64),
    /// Text written in the cell itself (`t="inlineStr"`), not in the shared strings.
    Inline(String),
}

pub fn text(s: &str) -> Cell {
    Cell::Text(s.to_string())
}

/// Cell styles (indexes into `cellXfs` below).
const STYLE_DATE: u32 = 1;
const STYLE_DATETIME: u32 = 2;
const STYLE_TIME: u32 = 3;
const STYLE_PERCENT: u32 = 4;

/// One sheet: rows by 1-based sheet row, cells by 1-based column.
#[derive(Debug, Clone, Default)]
pub struct Sheet {
    pub name: String,
    pub hidden: bool,
    pub rows: Vec<(u32, Vec<(u32, Cell)>)>,
}

impl Sheet {
    pub fn new(name: &str) -> Self {
        Sheet {
            name: name.to_string(),
            ..Sheet::default()
        }
    }

    /// Adds row `row` with cells from column `first_col` on.
    pub fn row(mut self, row: u32, first_col: u32, cells: Vec<Cell>) -> Self {
        let cells = cells
            .into_iter()
            .enumerate()
            .map(|(i, c)| (first_col + i as u32, c))
            .collect();
        self.rows.push((row, cells));
        self
    }

    pub fn hidden(mut self) -> Self {
        self.hidden = true;
        self
    }
}

/// A workbook to write.
#[derive(Debug, Clone, Default)]
pub struct Book {
    pub sheets: Vec<Sheet>,
    pub date1904: bool,
}

impl Book {
    pub fn new(sheets: Vec<Sheet>) -> Self {
        Book {
            sheets,
            date1904: false,
        }
    }

    pub fn write(&self, path: &Path) {
        let file = std::fs::File::create(path).expect("create the workbook file");
        let mut zip = zip::ZipWriter::new(file);
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        let mut strings: Vec<String> = Vec::new();
        let sheets: Vec<String> = self
            .sheets
            .iter()
            .map(|s| sheet_xml(s, &mut strings))
            .collect();
        let mut part = |name: &str, body: &str| {
            zip.start_file(name, options).expect("start a zip entry");
            zip.write_all(body.as_bytes()).expect("write a zip entry");
        };
        part("[Content_Types].xml", &content_types(self.sheets.len()));
        part("_rels/.rels", RELS);
        part("xl/workbook.xml", &self.workbook_xml());
        part(
            "xl/_rels/workbook.xml.rels",
            &workbook_rels(self.sheets.len()),
        );
        part("xl/styles.xml", STYLES);
        part("xl/sharedStrings.xml", &shared_strings(&strings));
        for (i, xml) in sheets.iter().enumerate() {
            part(&format!("xl/worksheets/sheet{}.xml", i + 1), xml);
        }
        zip.finish().expect("finish the zip archive");
    }

    fn workbook_xml(&self) -> String {
        let mut s = String::from(
            r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">"#,
        );
        if self.date1904 {
            s.push_str(r#"<workbookPr date1904="1"/>"#);
        }
        s.push_str("<sheets>");
        for (i, sheet) in self.sheets.iter().enumerate() {
            s.push_str(&format!(
                r#"<sheet name="{}" sheetId="{}"{} r:id="rId{}"/>"#,
                escape(&sheet.name),
                i + 1,
                if sheet.hidden {
                    r#" state="hidden""#
                } else {
                    ""
                },
                i + 1
            ));
        }
        s.push_str("</sheets></workbook>");
        s
    }
}

fn sheet_xml(sheet: &Sheet, strings: &mut Vec<String>) -> String {
    // The used range, as Excel declares it (`A1` for an empty sheet).
    let rows = sheet.rows.iter().map(|(r, _)| *r);
    let cols = sheet
        .rows
        .iter()
        .flat_map(|(_, c)| c.iter().map(|(col, _)| *col));
    let dimension = match (
        rows.clone().min(),
        rows.max(),
        cols.clone().min(),
        cols.max(),
    ) {
        (Some(r0), Some(r1), Some(c0), Some(c1)) => {
            format!("{}{r0}:{}{r1}", letters(c0), letters(c1))
        }
        _ => "A1".to_string(),
    };
    let mut s = format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><dimension ref="{dimension}"/><sheetData>"#
    );
    for (row, cells) in &sheet.rows {
        s.push_str(&format!(r#"<row r="{row}">"#));
        for (col, cell) in cells {
            let r = format!("{}{row}", letters(*col));
            let c = match cell {
                Cell::Text(t) => {
                    let i = strings.iter().position(|x| x == t).unwrap_or_else(|| {
                        strings.push(t.clone());
                        strings.len() - 1
                    });
                    format!(r#"<c r="{r}" t="s"><v>{i}</v></c>"#)
                }
                Cell::Number(n) => format!(r#"<c r="{r}"><v>{n}</v></c>"#),
                Cell::Bool(b) => format!(r#"<c r="{r}" t="b"><v>{}</v></c>"#, u8::from(*b)),
                Cell::Error(e) => {
                    format!(r#"<c r="{r}" t="e"><f>NA()</f><v>{}</v></c>"#, escape(e))
                }
                Cell::Formula(f, v) => format!(r#"<c r="{r}"><f>{}</f><v>{v}</v></c>"#, escape(f)),
                Cell::Date(v) => format!(r#"<c r="{r}" s="{STYLE_DATE}"><v>{v}</v></c>"#),
                Cell::DateTime(v) => format!(r#"<c r="{r}" s="{STYLE_DATETIME}"><v>{v}</v></c>"#),
                Cell::Time(v) => format!(r#"<c r="{r}" s="{STYLE_TIME}"><v>{v}</v></c>"#),
                Cell::Percent(v) => format!(r#"<c r="{r}" s="{STYLE_PERCENT}"><v>{v}</v></c>"#),
                Cell::Inline(t) => {
                    format!(
                        r#"<c r="{r}" t="inlineStr"><is><t>{}</t></is></c>"#,
                        escape(t)
                    )
                }
            };
            s.push_str(&c);
        }
        s.push_str("</row>");
    }
    s.push_str("</sheetData></worksheet>");
    s
}

fn shared_strings(strings: &[String]) -> String {
    let mut s = format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="{0}" uniqueCount="{0}">"#,
        strings.len()
    );
    for t in strings {
        s.push_str(&format!(
            r#"<si><t xml:space="preserve">{}</t></si>"#,
            escape(t)
        ));
    }
    s.push_str("</sst>");
    s
}

fn content_types(sheets: usize) -> String {
    let mut s = String::from(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/><Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>"#,
    );
    for i in 1..=sheets {
        s.push_str(&format!(
            r#"<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>"#
        ));
    }
    s.push_str("</Types>");
    s
}

fn workbook_rels(sheets: usize) -> String {
    let mut s = String::from(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">"#,
    );
    for i in 1..=sheets {
        s.push_str(&format!(
            r#"<Relationship Id="rId{i}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet{i}.xml"/>"#
        ));
    }
    let n = sheets + 1;
    s.push_str(&format!(
        r#"<Relationship Id="rId{n}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/><Relationship Id="rId{}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>"#,
        n + 1
    ));
    s
}

const RELS: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#;

/// Style 0: General; 1: `dd/mm/yyyy`; 2: `yyyy-mm-dd hh:mm:ss`; 3: `hh:mm` (built-in 20);
/// 4: `0%` (built-in 9).
const STYLES: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><numFmts count="2"><numFmt numFmtId="164" formatCode="dd/mm/yyyy"/><numFmt numFmtId="165" formatCode="yyyy\-mm\-dd\ hh:mm:ss"/></numFmts><fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts><fills count="1"><fill><patternFill patternType="none"/></fill></fills><borders count="1"><border/></borders><cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs><cellXfs count="5"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/><xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/><xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/><xf numFmtId="20" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/><xf numFmtId="9" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs></styleSheet>"#;

fn letters(mut n: u32) -> String {
    let mut out = Vec::new();
    while n > 0 {
        out.push(b'A' + ((n - 1) % 26) as u8);
        n = (n - 1) / 26;
    }
    out.reverse();
    String::from_utf8(out).expect("ASCII letters")
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The serial of a date and time in the 1900 date system (days since 1899-12-30).
pub fn serial(y: i32, m: u32, d: u32, h: u32, mi: u32, s: u32) -> f64 {
    let epoch = chrono::NaiveDate::from_ymd_opt(1899, 12, 30).expect("the epoch");
    let date = chrono::NaiveDate::from_ymd_opt(y, m, d).expect("a valid date");
    (date - epoch).num_days() as f64 + f64::from(h * 3600 + mi * 60 + s) / 86_400.0
}
