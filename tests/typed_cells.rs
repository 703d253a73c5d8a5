//! Typed spreadsheet cells through validation: a cell is read as what it is, whatever the
//! field's declared text format, and an error cell is a `type-mismatch` naming the error.

use polars::prelude::{Column, DataFrame, IntoColumn, NamedFrom, Series};
use rowferry::issue::Code;
use rowferry::plan;
use rowferry::source::{CellKind, Chunk, ColumnShape, column_name, kind_column_name};
use rowferry::validate::Validator;

const MAPPING: &str = r#"
[source]
path = "data.xlsx"
structure = "s"

[structures.s.fields]
day    = { column = "Day", type = "date", format = "%d/%m/%Y" }
at     = { column = "At", type = "datetime", format = "%d/%m/%Y %H:%M" }
price  = { column = "Price", type = "decimal", scale = 2, decimal_separator = ",", min = 0 }
qty    = { column = "Qty", type = "integer", thousands_separator = " " }
ok     = { column = "Ok", type = "boolean", true_values = ["oui"], false_values = ["non"] }
code   = { column = "Code", type = "string", required = true, pattern = '^\d+$' }
"#;

/// One column of cells: canonical text and kind.
fn cells(i: usize, values: &[(&str, CellKind)]) -> [Column; 2] {
    let text: Vec<&str> = values.iter().map(|v| v.0).collect();
    let kind: Vec<u32> = values.iter().map(|v| v.1 as u32).collect();
    [
        Series::new(column_name(i).into(), text).into_column(),
        Series::new(kind_column_name(i).into(), kind).into_column(),
    ]
}

#[test]
fn typed_cells_satisfy_typed_fields_whatever_the_declared_format() {
    use CellKind::*;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.toml");
    std::fs::write(&path, MAPPING).unwrap();
    let plan = plan::load(&path, None, &[]).unwrap();
    let header: Vec<String> = ["Day", "At", "Price", "Qty", "Ok", "Code"]
        .map(String::from)
        .to_vec();
    let columns: Vec<Column> = [
        cells(
            0,
            &[
                ("2024-03-01", Date),
                ("01/03/2024", Text),
                ("2024-03-01 00:00:00", DateTime),
                ("2024-03-01 10:30:00", DateTime),
                ("#N/A", Error),
            ],
        ),
        cells(
            1,
            &[
                ("2024-03-01 10:30:00", DateTime),
                ("01/03/2024 10:30", Text),
                ("2024-03-01", Date),
                ("2024-03-01 10:30:00.250", DateTime),
                ("", Text),
            ],
        ),
        cells(
            2,
            &[
                ("0.29", Number),
                ("0,29", Text),
                ("12", Number),
                ("0.295", Number),
                ("-1", Number),
            ],
        ),
        cells(
            3,
            &[
                ("12", Number),
                ("1 234", Text),
                ("2.5", Number),
                ("7", Number),
                ("#DIV/0!", Error),
            ],
        ),
        cells(
            4,
            &[
                ("true", Boolean),
                ("oui", Text),
                ("false", Boolean),
                ("true", Text),
                ("", Text),
            ],
        ),
        cells(
            5,
            &[
                ("007", Text),
                ("12", Number),
                ("#REF!", Error),
                ("1", Text),
                ("2", Text),
            ],
        ),
    ]
    .into_iter()
    .flatten()
    .collect();
    let n = 5;
    let chunk = Chunk {
        frame: DataFrame::new(n, columns).unwrap(),
        rows: vec![2, 3, 4, 5, 6],
        lines: vec![2, 3, 4, 5, 6],
        rejects: Vec::new(),
        skipped: 0,
        shapes: vec![
            ColumnShape {
                padded: true,
                blank: true
            };
            6
        ],
    };
    let mut validator = Validator::new(plan.structure.clone(), &header, true);
    let v = validator.validate(&chunk).unwrap();
    let found: Vec<(u64, &str, Code, &str)> = v
        .issues
        .iter()
        .map(|i| (i.row, i.field.as_str(), i.code, i.value.as_str()))
        .collect();
    assert_eq!(
        found,
        vec![
            // A date-time cell with a time of day is not a date.
            (4, "qty", Code::TypeMismatch, "2.5"),
            (4, "code", Code::TypeMismatch, "#REF!"),
            (5, "day", Code::TypeMismatch, "2024-03-01 10:30:00"),
            (5, "price", Code::TypeMismatch, "0.295"),
            (5, "ok", Code::TypeMismatch, "true"),
            (6, "day", Code::TypeMismatch, "#N/A"),
            (6, "price", Code::OutOfRange, "-1"),
            (6, "qty", Code::TypeMismatch, "#DIV/0!"),
        ],
        "{:#?}",
        v.issues
    );
    let error = v.issues.iter().find(|i| i.value == "#N/A").unwrap();
    assert!(
        error.message.contains("spreadsheet error `#N/A`"),
        "{}",
        error.message
    );
    // An error cell is reported once: not also as a missing required value.
    assert!(!v.issues.iter().any(|i| i.code == Code::RequiredMissing));

    let text = |name: &str| -> Vec<Option<String>> {
        let c = v
            .typed
            .column(name)
            .unwrap()
            .cast(&polars::prelude::DataType::String)
            .unwrap();
        c.str()
            .unwrap()
            .iter()
            .map(|s| s.map(str::to_string))
            .collect()
    };
    let some = |v: &[&str]| -> Vec<Option<String>> {
        v.iter()
            .map(|s| (!s.is_empty()).then(|| s.to_string()))
            .collect()
    };
    assert_eq!(
        text("day"),
        some(&["2024-03-01", "2024-03-01", "2024-03-01", "", ""])
    );
    assert_eq!(
        text("at"),
        some(&[
            "2024-03-01 10:30:00.000000",
            "2024-03-01 10:30:00.000000",
            "2024-03-01 00:00:00.000000",
            "2024-03-01 10:30:00.250000",
            ""
        ])
    );
    assert_eq!(text("price"), some(&["0.29", "0.29", "12.00", "", "-1.00"]));
    assert_eq!(text("qty"), some(&["12", "1234", "", "7", ""]));
    assert_eq!(text("ok"), some(&["true", "true", "false", "", ""]));
    assert_eq!(text("code"), some(&["007", "12", "", "1", "2"]));
}
