//! SQLite targets: typed tables in a database file, built in staging and committed with the
//! other outputs; read back with SQLite itself.

use rusqlite::Connection;

use crate::util::Job;

const PRODUCTS: &str = "sku,price,stock,created,active,label\n\
A1,12.50,3,31/01/2024,oui,Plain\n\
A2,0.10,0,29/02/2024,non,Quote \"x\"\n\
A3,-1,5,01/03/2024,oui,Negative\n\
A4,1234567890123.99,,15/06/2024,oui,\n";

fn mapping(targets: &str) -> String {
    format!(
        r#"[source]
path = "products.csv"
structure = "p"

[structures.p.fields]
sku     = {{ type = "string", required = true }}
price   = {{ type = "decimal", scale = 2, min = 0 }}
stock   = {{ type = "integer" }}
created = {{ type = "date", format = "%d/%m/%Y" }}
active  = {{ type = "boolean", true_values = ["oui"], false_values = ["non"] }}
label   = {{ type = "string" }}

[run]
max_error_rate = 0.5

{targets}"#
    )
}

fn open(path: &std::path::Path) -> Connection {
    Connection::open(path).unwrap()
}

/// Each row of `sql` as its values' text and SQLite type, `NULL` for a null.
fn rows(db: &Connection, sql: &str) -> Vec<Vec<String>> {
    let mut stmt = db.prepare(sql).unwrap();
    let n = stmt.column_count();
    stmt.query_map([], |r| {
        Ok((0..n)
            .map(|i| {
                use rusqlite::types::ValueRef;
                match r.get_ref(i).unwrap() {
                    ValueRef::Null => "NULL".to_string(),
                    ValueRef::Integer(v) => format!("{v}:int"),
                    ValueRef::Real(v) => format!("{v}:real"),
                    ValueRef::Text(t) => format!("{}:text", String::from_utf8_lossy(t)),
                    ValueRef::Blob(_) => "blob".to_string(),
                }
            })
            .collect())
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

#[test]
fn accepted_rows_are_loaded_typed_and_rejected_rows_are_not() {
    let job = Job::new()
        .mapping(mapping(
            r#"[targets.products]
path = "shop.db"
columns.sku = "sku"
columns.price = "price"
columns.cents = "CAST(price * 100 AS BIGINT)"
columns.third = "CAST(price AS DOUBLE) / 4"
columns.stock = "stock"
columns.created = "created"
columns.active = "active"
columns.label = "label"
"#,
        ))
        .input("products.csv", PRODUCTS);
    let res = job.run("run");
    assert_eq!(res.code, 1, "{}", res.stderr);
    assert_eq!(
        res.error_codes(),
        vec![(4, "price".to_string(), "out-of-range".to_string())],
        "A3 is rejected"
    );
    let db = open(&res.out_dir().join("shop.db"));
    assert_eq!(
        rows(&db, "SELECT * FROM products ORDER BY rowid"),
        vec![
            vec![
                "A1:text",
                "12.50:text",
                "1250:int",
                "3.125:real",
                "3:int",
                "2024-01-31:text",
                "1:int",
                "Plain:text"
            ],
            vec![
                "A2:text",
                "0.10:text",
                "10:int",
                "0.025:real",
                "0:int",
                "2024-02-29:text",
                "0:int",
                "Quote \"x\":text"
            ],
            vec![
                "A4:text",
                "1234567890123.99:text",
                "123456789012399:int",
                "308641972530.9975:real",
                "NULL",
                "2024-06-15:text",
                "1:int",
                "NULL"
            ],
        ],
        "decimals exact as text, cents and stock integers, dates ISO, booleans 0/1, nulls NULL"
    );
    let declared: String = db
        .query_row(
            "SELECT sql FROM sqlite_master WHERE name = 'products'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        declared,
        r#"CREATE TABLE "products" ("sku" TEXT, "price" TEXT, "cents" INTEGER, "third" REAL, "stock" INTEGER, "created" TEXT, "active" INTEGER, "label" TEXT)"#
    );
    // The report says what was loaded where.
    let report = res.report();
    let target = &report["targets"][0];
    assert_eq!(target["format"], "sqlite");
    assert_eq!(target["table"], "products");
    assert_eq!(target["rows"], 3);
    assert_eq!(target["files"][0]["path"], "shop.db");
    assert_eq!(target["files"][0]["table"], "products");
    let bytes = std::fs::read(res.out_dir().join("shop.db")).unwrap();
    assert_eq!(target["files"][0]["bytes"], bytes.len() as u64);
}

#[test]
fn targets_share_a_database_and_upserts_keep_the_last_row_of_a_key() {
    let job = Job::new()
        .mapping(mapping(
            r#"[targets.in_stock]
path = "db/shop.sqlite"
table = "stock"
when = "stock > 0"
key = ["sku"]
columns.sku = "sku"
columns.qty = "stock"

[targets.flags]
path = "db/shop.sqlite"
table = "flags"
mode = "upsert"
key = ["active"]
columns.active = "active"
columns.last_sku = "sku"

[targets.empty]
path = "db/shop.sqlite"
when = "sku = 'none'"
columns.sku = "sku"
"#,
        ))
        .input("products.csv", PRODUCTS);
    let res = job.run("run");
    assert_eq!(res.code, 1, "{}", res.stderr);
    let db = open(&res.out_dir().join("db/shop.sqlite"));
    assert_eq!(
        rows(&db, "SELECT sku, qty FROM stock ORDER BY rowid"),
        vec![vec!["A1:text", "3:int"]]
    );
    assert_eq!(
        rows(&db, "SELECT active, last_sku FROM flags ORDER BY active"),
        vec![vec!["0:int", "A2:text"], vec!["1:int", "A4:text"]],
        "the last row of each key wins"
    );
    assert_eq!(
        rows(&db, "SELECT count(*) FROM empty"),
        vec![vec!["0:int"]],
        "a target no row goes to still has its table"
    );
    assert_eq!(
        res.targets().keys().cloned().collect::<Vec<_>>(),
        vec!["db/shop.sqlite".to_string()],
        "one database file, nothing beside it"
    );
}

#[test]
fn a_key_loaded_twice_is_a_load_failed_reject_in_no_other_target() {
    let targets = r#"[targets.products]
path = "shop.db"
key = ["sku"]
columns.sku = "sku"
columns.stock = "stock"

[targets.copy]
path = "copy.csv"
columns.sku = "sku"
columns.label = "label"
"#;
    let job = Job::new().mapping(mapping(targets)).input(
        "products.csv",
        format!("{PRODUCTS}A1,1.00,9,01/01/2024,oui,Again\n"),
    );
    let res = job.run("run");
    assert_eq!(res.code, 1, "{}", res.stderr);
    assert_eq!(
        res.error_codes(),
        vec![
            (4, "price".to_string(), "out-of-range".to_string()),
            (6, "sku".to_string(), "load-failed".to_string())
        ]
    );
    let errors = res.errors();
    let failed = errors.iter().find(|e| e["code"] == "load-failed").unwrap();
    assert_eq!(failed["value"], "A1");
    assert!(
        failed["message"].contains("SQLite refused the row for table `products` (target `products`): UNIQUE constraint failed: products.sku"),
        "{failed:?}"
    );
    let db = open(&res.out_dir().join("shop.db"));
    assert_eq!(
        rows(&db, "SELECT sku, stock FROM products ORDER BY rowid"),
        vec![
            vec!["A1:text", "3:int"],
            vec!["A2:text", "0:int"],
            vec!["A4:text", "NULL"]
        ],
        "the first row of the key stays"
    );
    assert!(
        !res.read("out/copy.csv").contains("Again"),
        "a row the database refused is in no other target"
    );
    assert!(res.read("out/_report/rejects.csv").contains("Again"));
    assert_eq!(res.report()["targets"][0]["refused"], 1);
}

#[test]
fn an_existing_database_is_written_in_place_only_when_the_run_commits() {
    let job = Job::new()
        .mapping(mapping(
            r#"[targets.products]
database = "app/app.db"
table = "products"
mode = "upsert"
key = ["sku"]
columns.sku = "sku"
columns.stock = "stock"
"#,
        ))
        .input("products.csv", PRODUCTS);
    std::fs::create_dir_all(job.path().join("app")).unwrap();
    let app = job.path().join("app/app.db");
    {
        let db = Connection::open(&app).unwrap();
        db.execute_batch(
            "CREATE TABLE products (sku TEXT PRIMARY KEY, stock INTEGER, note TEXT DEFAULT 'kept');
             INSERT INTO products (sku, stock) VALUES ('A1', 100), ('Z9', 1);",
        )
        .unwrap();
    }
    // A threshold stops the run: the database is as it was.
    let stopped = job.run_with("run", &["--set", "run.max_errors=0"]);
    assert_eq!(stopped.code, 2, "{}", stopped.stderr);
    assert_eq!(
        rows(&open(&app), "SELECT sku, stock FROM products ORDER BY sku"),
        vec![vec!["A1:text", "100:int"], vec!["Z9:text", "1:int"]]
    );
    let res = job.run("run");
    assert_eq!(res.code, 1, "{}", res.stderr);
    assert_eq!(
        rows(
            &open(&app),
            "SELECT sku, stock, note FROM products ORDER BY sku"
        ),
        vec![
            vec!["A1:text", "3:int", "kept:text"],
            vec!["A2:text", "0:int", "kept:text"],
            vec!["A4:text", "NULL", "kept:text"],
            vec!["Z9:text", "1:int", "kept:text"]
        ]
    );
    assert!(
        !res.exists("out/app.db"),
        "nothing is copied into the output folder"
    );
    let target = &res.report()["targets"][0];
    assert_eq!(target["rows"], 3);
    assert!(
        target["path"].as_str().unwrap().ends_with("app/app.db"),
        "{target}"
    );
    // A missing table or file is named before any row is read.
    let missing = Job::new()
        .mapping(mapping(
            "[targets.t]\ndatabase = \"nowhere.db\"\ncolumns.sku = \"sku\"\n",
        ))
        .input("products.csv", PRODUCTS)
        .run("validate");
    assert_eq!(missing.code, 2);
    assert!(
        missing.stderr.contains("which does not exist"),
        "{}",
        missing.stderr
    );
}

#[test]
fn validate_loads_nothing() {
    let job = Job::new()
        .mapping(mapping(
            "[targets.products]\npath = \"shop.db\"\ncolumns.sku = \"sku\"\n",
        ))
        .input("products.csv", PRODUCTS);
    let res = job.run("validate");
    assert_eq!(res.code, 1, "{}", res.stderr);
    assert!(!job.exists("out/shop.db"));
}

#[test]
fn database_keys_are_checked_before_any_row_is_read() {
    let job = Job::new()
        .mapping(mapping(
            r#"[targets.split]
path = "db/{warehouse}.db"
columns.sku = "sku"

[targets.up]
path = "a.db"
mode = "upsert"
columns.sku = "sku"

[targets.merge]
path = "b.db"
mode = "merge"
key = ["sku", "nope", "sku"]
columns.sku = "sku"

[targets.dates]
path = "c.sqlite3"
date_format = "%d/%m/%Y"
columns.d = { value = "created", format = "%Y" }

[targets.csv]
path = "t.csv"
table = "t"
key = ["sku"]

[targets.first]
path = "e.db"
table = "t"
columns.sku = "sku"

[targets.again]
path = "e.db"
table = "T"
columns.sku = "sku"

[targets.reserved]
format = "sqlite"
path = "d.data"
table = "sqlite_stat"
columns.sku = "sku"
"#,
        ))
        .input("products.csv", PRODUCTS);
    let res = job.run("check");
    assert_eq!(res.code, 2, "{}", res.stderr);
    for expected in [
        "the path of SQLite target `split` names one database file: it cannot hold `{…}`",
        "`mode = \"upsert\"` of target `up` needs a `key`",
        "`mode` is `insert` or `upsert`, not `merge`",
        "`nope` is not a column of target `merge`",
        "`sku` is listed twice",
        "`date_format` applies to CSV and JSON targets",
        "`format` applies to CSV and JSON targets",
        "`table` applies to database targets only",
        "`key` applies to database targets only",
        "targets `first` and `again` load the same table `T` of `e.db`",
        "`sqlite_stat` cannot be a table name",
    ] {
        assert!(
            res.stderr.contains(expected),
            "missing {expected:?} in\n{}",
            res.stderr
        );
    }
}

/// A reference database of the new system: brands with integer ids, one inactive.
fn reference_db(path: &std::path::Path) {
    let db = Connection::open(path).unwrap();
    db.execute_batch(
        "CREATE TABLE brands (name TEXT, id INTEGER, active INTEGER, rate REAL);
         INSERT INTO brands VALUES ('Acme', 7, 1, 0.5), ('Globex', 12, 0, NULL), ('Initech', 30, 1, 2);",
    )
    .unwrap();
}

fn lookup_mapping(read: &str) -> String {
    format!(
        r#"[source]
path = "data.csv"

[lookups.brands]
path = "ref/brands.db"
key = "name"
{read}

[[enrich]]
lookup = "brands"
match = {{ brand = "name" }}
add = {{ brand_id = "id", rate = "rate" }}

[targets.out]
path = "out.csv"
"#
    )
}

#[test]
fn lookups_read_a_table_or_a_query_of_a_sqlite_database() {
    let job = Job::new()
        .mapping(lookup_mapping(r#"table = "brands""#))
        .input("data.csv", "sku,brand\n1,Acme\n2,Globex\n3,Nope\n");
    std::fs::create_dir_all(job.path().join("ref")).unwrap();
    reference_db(&job.path().join("ref/brands.db"));
    let res = job.run("run");
    assert_eq!(res.code, 1, "{}", res.stderr);
    assert_eq!(
        res.output("out.csv"),
        "sku,brand,brand_id,rate\n1,Acme,7,0.5\n2,Globex,12,\n"
    );
    assert_eq!(
        res.error_codes(),
        vec![(4, "brand".to_string(), "lookup-miss".to_string())]
    );

    job.write(
        "mapping.toml",
        lookup_mapping(r#"query = "SELECT name, id, rate FROM brands WHERE active = 1""#),
    );
    let res = job.run("run");
    assert_eq!(res.code, 1, "{}", res.stderr);
    assert_eq!(
        res.output("out.csv"),
        "sku,brand,brand_id,rate\n1,Acme,7,0.5\n"
    );
    assert_eq!(res.error_codes().len(), 2, "Globex is inactive now");

    job.write(
        "mapping.toml",
        lookup_mapping(r#"query = "SELECT name, id FROM nowhere""#),
    );
    let res = job.run("run");
    assert_eq!(res.code, 2, "{}", res.stderr);
    assert!(
        res.stderr
            .contains("cannot read lookup `brands` from the SQLite database")
            && res.stderr.contains("no such table: nowhere"),
        "{}",
        res.stderr
    );
}

#[test]
fn database_lookup_keys_are_checked_before_any_row_is_read() {
    let job = Job::new()
        .mapping(
            r#"[source]
path = "data.csv"

[lookups.neither]
path = "ref.db"
key = "name"

[lookups.both]
path = "ref.sqlite"
key = "name"
table = "brands"
query = "SELECT 1"

[lookups.csv]
path = "brands.csv"
key = "name"
table = "brands"

[lookups.delimited]
path = "ref.sqlite3"
key = "name"
table = "brands"
delimiter = ";"

[targets.out]
path = "out.csv"
"#,
        )
        .input("data.csv", "sku\n1\n");
    let res = job.run("check");
    assert_eq!(res.code, 2, "{}", res.stderr);
    for expected in [
        "lookup `neither` reads a SQLite database: name its `table` or its `query`",
        "lookup `both` has both a `table` and a `query`",
        "`table` applies to lookups in a SQLite database",
        "`delimiter` does not apply to a lookup in a SQLite database",
    ] {
        assert!(
            res.stderr.contains(expected),
            "missing {expected:?} in\n{}",
            res.stderr
        );
    }
}
