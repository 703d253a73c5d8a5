//! `rowferry check`: every problem of a mapping, at once, with its place.

use crate::util::Project;

fn check(mapping: &str) -> crate::util::Run {
    let p = Project::new();
    p.file("mapping.toml", mapping);
    p.run(&["check", "mapping.toml"])
}

#[test]
fn a_valid_mapping_passes_without_reading_data() {
    // The input does not exist: `check` must not read it.
    let run = check(
        "[source]\npath = \"missing.csv\"\nstructure = \"s\"\n[structures.s.fields]\na = { type = \"integer\", min = 0 }\n",
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("is valid"), "{}", run.stdout);
}

#[test]
fn reports_every_problem_with_line_numbers_and_suggestions() {
    let mapping = r#"[source]
path = "data.csv"
structure = "product"
delimter = ";"

[structures.product.fields]
sku   = { tpye = "string", required = true }
price = { type = "decimel" }
stock = { type = "integer", pattern = "([a-z" }
qty   = { type = "string", min = 3 }

[[structures.product.checks]]
name = "positive"
rule = "stok > 0"

[[structures.product.checks]]
name = "broken"
rule = "price >>> 1"

[run]
max_error_rate = 5
"#;
    let run = check(mapping);
    assert_eq!(run.code, 2, "{}", run.stdout);
    let err = &run.stderr;
    let expect = [
        (
            "unknown key `delimter`",
            "mapping.toml:4:1",
            Some("did you mean `delimiter`?"),
        ),
        (
            "unknown key `tpye`",
            "mapping.toml:7:11",
            Some("did you mean `type`?"),
        ),
        (
            "unknown type `decimel`",
            "mapping.toml:8:18",
            Some("did you mean `decimal`?"),
        ),
        ("not a valid regular expression", "mapping.toml:9:39", None),
        (
            "`min` does not apply to `qty`",
            "mapping.toml:10:34",
            Some("min_length"),
        ),
        (
            "refers to `stok`",
            "mapping.toml:14:8",
            Some("did you mean `stock`?"),
        ),
        (
            "check `broken` is not a valid SQL expression",
            "mapping.toml:18:8",
            None,
        ),
        (
            "`max_error_rate` is a share of rows",
            "mapping.toml:21:18",
            None,
        ),
    ];
    for (message, place, help) in expect {
        let at = err
            .find(message)
            .unwrap_or_else(|| panic!("missing `{message}` in:\n{err}"));
        let rest = &err[at..];
        let next = rest[1..].find("\nerror").map_or(rest.len(), |i| i + 1);
        let block = &rest[..next];
        assert!(
            block.contains(place),
            "`{message}` should point at {place}:\n{block}"
        );
        if let Some(help) = help {
            assert!(
                block.contains(help),
                "`{message}` should suggest {help}:\n{block}"
            );
        }
    }
    assert!(err.contains("has 8 problems"), "{err}");
}

#[test]
fn toml_syntax_error_points_at_the_place() {
    let run = check("[source]\npath = \"a.csv\n");
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("mapping.toml:2:"), "{}", run.stderr);
}

#[test]
fn unknown_structure_and_unused_structure() {
    let run = check(
        "[source]\npath = \"a.csv\"\nstructure = \"prodcut\"\n[structures.product.fields]\na = {}\n",
    );
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("no structure named `prodcut`"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("did you mean `product`?"),
        "{}",
        run.stderr
    );

    let run = check("[source]\npath = \"a.csv\"\n[structures.product.fields]\na = {}\n");
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("add `structure = \"product\"`"),
        "{}",
        run.stderr
    );
}

#[test]
fn checks_must_be_predicates_over_known_types() {
    let run = check(
        "[source]\npath = \"a.csv\"\nstructure = \"s\"\n[structures.s.fields]\na = { type = \"integer\" }\n\
         [[structures.s.checks]]\nname = \"sum\"\nrule = \"a + 1\"\n",
    );
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("not true or false"), "{}", run.stderr);
}

#[test]
fn bounds_must_fit_the_field() {
    let run = check(
        "[source]\npath = \"a.csv\"\nstructure = \"s\"\n[structures.s.fields]\n\
         a = { type = \"integer\", min = 10, max = 1 }\n\
         b = { type = \"decimal\", scale = 2, min = \"0.005\" }\n\
         c = { type = \"date\", format = 5 }\n",
    );
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("`min` (10) of `a` is greater than its `max` (1)"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("has 3 decimal places but the field keeps 2"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("`format` must be a string or a list of strings"),
        "{}",
        run.stderr
    );
}

#[test]
fn missing_mapping_file() {
    let run = check_path("nope.toml");
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("cannot read the mapping file `nope.toml`"),
        "{}",
        run.stderr
    );
}

fn check_path(path: &str) -> crate::util::Run {
    let p = Project::new();
    p.run(&["check", path])
}

#[test]
fn a_missing_column_points_at_the_field() {
    let p = Project::new();
    p.file(
        "mapping.toml",
        "[source]\npath = \"data.csv\"\nstructure = \"s\"\n[structures.s.fields]\nprice = { column = \"Prix\" }\nsku = {}\n",
    )
    .file("data.csv", "Prix TTC,sku\n1,a\n");
    let run = p.validate();
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("column `Prix` of field `price` is not in the header"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("mapping.toml:5:"), "{}", run.stderr);
    assert!(
        run.stderr.contains("did you mean `Prix TTC`?"),
        "{}",
        run.stderr
    );
    assert!(!p.path().join("out/_report").exists(), "nothing is written");
}

#[test]
fn source_options_are_checked_with_their_places() {
    let run = check(
        "[source]\npath = \"a.xlsx\"\nencoding = \"windows-1225\"\nrange = \"F15:A5\"\nsheet = 0\nheader_names = \"renam\"\nformat = \"xslx\"\n\n[lookups.l]\npath = \"l.csv\"\nkey = \"k\"\nencoding = \"l9\"\n",
    );
    assert_eq!(run.code, 2, "{}", run.stdout);
    let err = &run.stderr;
    for (message, place) in [
        (
            "`windows-1225` is not an encoding label",
            "mapping.toml:3:12",
        ),
        ("`F15:A5` is not a cell range", "mapping.toml:4:9"),
        (
            "`sheet` is a sheet name or a 1-based position",
            "mapping.toml:5:9",
        ),
        (
            "`header_names` is `strict` or `rename`",
            "mapping.toml:6:16",
        ),
        ("unknown input format `xslx`", "mapping.toml:7:10"),
    ] {
        let at = err
            .find(message)
            .unwrap_or_else(|| panic!("no `{message}` in\n{err}"));
        assert!(
            err[at..].contains(place),
            "{message} not at {place}:\n{err}"
        );
    }
    assert!(err.contains("did you mean `windows-1252`?"), "{err}");
    assert!(err.contains("did you mean `rename`?"), "{err}");
    assert!(err.contains("did you mean `xlsx`?"), "{err}");
    // `l9` is a WHATWG label (ISO-8859-15): accepted.
    assert!(!err.contains("l9"), "{err}");
}
