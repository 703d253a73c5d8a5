//! `rowferry check`: every problem of a mapping, at once, with its place.

use crate::util::{Job, Outcome, at};

fn check(mapping: &str) -> Outcome {
    Job::new().mapping(mapping).run("check")
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

fn check_path(path: &str) -> Outcome {
    Job::new().exec(&["check", path])
}

#[test]
fn a_missing_column_points_at_the_field() {
    let p = Job::new()
        .mapping(
            "[source]\npath = \"data.csv\"\nstructure = \"s\"\n[structures.s.fields]\nprice = { column = \"Prix\" }\nsku = {}\n",
        )
        .input("data.csv", "Prix TTC,sku\n1,a\n");
    let run = p.run("validate");
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
    assert!(!p.exists("out/_report"), "nothing is written");
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

#[test]
fn unknown_names_are_reported_with_their_place_and_a_suggestion() {
    let mapping = r#"[source]
path = "data.csv"
delimiter = ","
structure = "s"

[structures.s.fields]
stock = { type = "integer" }
warehouse = {}

[lookups.w]
path = "w.csv"
key = "name"

[[enrich]]
lookup = "w"
match = { warehous = "name" }
add = { city = "city" }

[targets.t]
path = "t/{wharehouse}.csv"
when = "stok > 0"
columns.qty = "stocks"
columns.c = "citty"
columns.x = "extra"
"#;
    let p = Job::new()
        .mapping(mapping)
        .file("w.csv", "name,city\nA,Lyon\n")
        .file("data.csv", "stock,warehouse,extra\n1,A,e\n");
    let res = p.run("run");
    assert_eq!(res.code, 2);
    for (name, suggestion, place) in [
        ("warehous", "warehouse", "\"name\" }"),
        ("wharehouse", "warehouse", "\"t/{wharehouse}.csv\""),
        ("stok", "stock", "\"stok > 0\""),
        ("stocks", "stock", "\"stocks\""),
        ("citty", "city", "\"citty\""),
    ] {
        assert!(
            res.stderr
                .contains(&format!("`{name}` is neither a field nor a column")),
            "{name}: {}",
            res.stderr
        );
        assert!(
            res.stderr
                .contains(&format!("did you mean `{suggestion}`?")),
            "{name}: {}",
            res.stderr
        );
        assert!(
            res.stderr.contains(&at(mapping, place)),
            "{name} at {}: {}",
            at(mapping, place),
            res.stderr
        );
    }
    // `extra` is an input column: not an error.
    assert!(!res.stderr.contains("`extra`"), "{}", res.stderr);
    assert!(res.stderr.contains("has 5 problems"), "{}", res.stderr);
    assert!(!p.exists("out"));

    // `check` cannot know the input's columns: it accepts and notes them.
    let res = p.run("check");
    assert_eq!(res.code, 0, "{}", res.stderr);
    let note = res
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("note"))
        .unwrap_or_else(|| panic!("no note line: {}", res.stdout));
    for name in ["warehous", "wharehouse", "stok", "stocks", "citty", "extra"] {
        assert!(note.contains(&format!("`{name}`")), "{name}: {note}");
    }
}

#[test]
fn target_problems_are_all_reported_at_once() {
    let mapping = r#"[source]
path = "data.csv"

[targets.a]
path = "a.csv"
batch_size = 10

[targets.b]
path = "b-{batch}.csv"

[targets.c]
path = "../c.csv"

[targets.d]
path = "d.xml"

[targets.e]
path = "e.out"
format = "jsn"

[targets.f]
path = "f.json"
columns.a = "k"
columns."a.b" = "k"

[targets.g]
path = "g/../../g.csv"
"#;
    let p = Job::new().mapping(mapping).file("data.csv", "k\n1\n");
    let expected = [
        (
            "`batch_size` rolls the target into numbered files: put `{batch}` in its path",
            "10\n",
        ),
        (
            "`{batch}` numbers files rolled by `batch_size`, which is not set",
            "\"b-{batch}.csv\"",
        ),
        (
            "target path `../c.csv` has an empty, `.` or `..` folder",
            "\"../c.csv\"",
        ),
        (
            "cannot tell the format of `d.xml` from its extension",
            "\"d.xml\"",
        ),
        ("`jsn` is not a target format", "\"jsn\""),
        (
            "column `a` is a value, but `a.b` makes it an object",
            "\"k\"\ncolumns.\"a.b\"",
        ),
        (
            "target path `g/../../g.csv` has an empty, `.` or `..` folder",
            "\"g/../../g.csv\"",
        ),
    ];
    for cmd in ["run", "check"] {
        let res = if cmd == "run" {
            p.run("run")
        } else {
            p.run("check")
        };
        assert_eq!(res.code, 2, "{cmd}");
        for (message, place) in expected {
            assert!(
                res.stderr.contains(message),
                "{cmd} `{message}`: {}",
                res.stderr
            );
            assert!(
                res.stderr.contains(&at(mapping, place)),
                "{cmd} `{message}` at {}: {}",
                at(mapping, place),
                res.stderr
            );
        }
        assert!(
            res.stderr.contains("e.g. path = \"a-{batch}.csv\""),
            "{}",
            res.stderr
        );
        assert!(
            res.stderr.contains("did you mean `json`?"),
            "{}",
            res.stderr
        );
        assert!(
            res.stderr.contains("has 7 problems"),
            "{cmd}: {}",
            res.stderr
        );
    }
    assert!(!p.exists("out"));
}

#[test]
fn a_bare_word_compared_in_when_is_taken_for_a_missing_quote() {
    let res = Job::new()
        .mapping("[source]\npath = \"c.csv\"\n[targets.fr]\npath = \"fr.csv\"\nwhen = \"country = FR\"\n")
        .input("c.csv", "sku,country\nA,FR\n")
        .run("validate");
    assert_eq!(res.code, 2);
    assert!(
        res.stderr.contains("did you mean `'FR'`?"),
        "{}",
        res.stderr
    );
}

#[test]
fn an_unknown_key_from_set_is_blamed_on_set() {
    let res = Job::new()
        .mapping("[source]\npath = \"c.csv\"\n[targets.fr]\npath = \"fr.csv\"\n")
        .input("c.csv", "sku\nA\n")
        .run_with("check", &["--set", "targets.fr.pathh=x.csv"]);
    assert_eq!(res.code, 2);
    assert!(
        res.stderr
            .contains("it comes from `--set targets.fr.pathh=x.csv`, not from the mapping file")
            && res.stderr.contains("did you mean `path`?"),
        "{}",
        res.stderr
    );
}

#[test]
fn a_data_file_given_as_the_mapping_points_to_infer() {
    let job = Job::new().input("customers.csv", "id,name\n1,Ada\n");
    for cmd in ["run", "check"] {
        let res = job.exec(&[cmd, "customers.csv"]);
        assert_eq!(res.code, 2);
        assert!(
            res.stderr
                .contains("`customers.csv` is a data file, not a mapping")
                && res
                    .stderr
                    .contains("rowferry infer customers.csv --out mapping.toml"),
            "{}",
            res.stderr
        );
    }
}

#[test]
fn values_of_the_wrong_type_are_all_reported_at_once() {
    let res = Job::new()
        .mapping(
            r#"[source]
path = "c.csv"
structure = "s"
[structures.s.fields]
sku = { required = "yes" }
country = { enum = ["FR"], ignore_case = "true" }
[targets.t]
path = "t.csv"
batch_size = "ten"
formt = "csv"
"#,
        )
        .input("c.csv", "sku,country\nA,FR\n")
        .run("check");
    assert_eq!(res.code, 2);
    for expected in [
        "invalid type: string \"yes\", expected a boolean",
        "invalid type: string \"true\", expected a boolean",
        "invalid type: string \"ten\", expected a whole number",
        "unknown key `formt`",
        "write true or false, without quotes",
        "has 4 problems",
    ] {
        assert!(res.stderr.contains(expected), "{expected}: {}", res.stderr);
    }
}
