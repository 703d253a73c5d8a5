//! PostgreSQL targets on a real server (`scripts/with-postgres`): rows loaded with COPY in the
//! run's transaction, refused rows isolated as `load-failed` rejects, thresholds and failures
//! that leave the tables as they were, `validate` checking tables without writing, and the
//! URL's password written nowhere.

use crate::util::Job;
use crate::util::pg::Pg;

const PRODUCTS: &str = "sku,price,stock,created,active,label\n\
A1,12.50,3,31/01/2024,oui,Plain\n\
A2,0.10,0,29/02/2024,non,Tab\there\n\
A3,7.00,5,01/03/2024,oui,Back\\slash\n\
A4,1234567890123.99,,15/06/2024,oui,\n";

fn mapping(targets: &str, run: &str) -> String {
    format!(
        r#"[source]
path = "products.csv"
delimiter = ","
structure = "p"

[structures.p.fields]
sku     = {{ type = "string", required = true }}
price   = {{ type = "decimal", scale = 2, min = 0 }}
stock   = {{ type = "integer" }}
created = {{ type = "date", format = "%d/%m/%Y" }}
active  = {{ type = "boolean", true_values = ["oui"], false_values = ["non"] }}
label   = {{ type = "string" }}

[run]
{run}

{targets}"#
    )
}

fn job(pg: &Pg, targets: &str, run: &str) -> Job {
    Job::new()
        .mapping(mapping(targets, run))
        .input("products.csv", PRODUCTS)
        .env("DATABASE_URL", &pg.url)
}

#[test]
fn accepted_rows_are_copied_typed_into_an_existing_table() {
    let Some(mut pg) = Pg::schema("db_typed") else {
        return;
    };
    pg.execute(
        "CREATE TABLE db_typed.products (sku text PRIMARY KEY, price numeric(15,2), cents bigint, \
         stock integer, created date, active boolean, label text, note text DEFAULT 'none')",
    );
    let res = job(
        &pg,
        r#"[targets.db]
format = "postgres"
url = "${DATABASE_URL}"
table = "db_typed.products"
columns.sku = "sku"
columns.price = "price"
columns.cents = "CAST(price * 100 AS BIGINT)"
columns.stock = "stock"
columns.created = "created"
columns.active = "active"
columns.label = "label"
"#,
        "",
    )
    .run("run");
    assert_eq!(res.code, 0, "{}", res.stderr);
    assert_eq!(
        pg.rows("SELECT sku, price, cents, stock, created, active, label, note FROM db_typed.products ORDER BY sku"),
        vec![
            vec!["A1", "12.50", "1250", "3", "2024-01-31", "t", "Plain", "none"],
            vec!["A2", "0.10", "10", "0", "2024-02-29", "f", "Tab\there", "none"],
            vec!["A3", "7.00", "700", "5", "2024-03-01", "t", "Back\\slash", "none"],
            vec!["A4", "1234567890123.99", "123456789012399", "NULL", "2024-06-15", "t", "NULL", "none"],
        ],
        "exact decimals, dates, booleans, nulls, tabs and backslashes as they were"
    );
    let report = res.report();
    let target = &report["targets"][0];
    assert_eq!(target["format"], "postgres");
    assert_eq!(target["table"], "db_typed.products");
    assert_eq!(target["rows"], 4);
    assert_eq!(target["refused"], 0);
    assert!(
        target["path"]
            .as_str()
            .unwrap()
            .starts_with("postgresql://rowferry@127.0.0.1:"),
        "{target}"
    );
}

#[test]
fn refused_rows_are_load_failed_rejects_and_reach_no_other_target() {
    let Some(mut pg) = Pg::schema("db_refused") else {
        return;
    };
    pg.execute(
        "CREATE TABLE db_refused.brands (name text PRIMARY KEY);
         INSERT INTO db_refused.brands VALUES ('Plain'), ('Tab\there');
         CREATE TABLE db_refused.products (
             sku text PRIMARY KEY,
             price numeric(15,2) CONSTRAINT price_below_1000 CHECK (price < 1000),
             stock integer NOT NULL,
             label text REFERENCES db_refused.brands (name))",
    );
    let res = job(
        &pg,
        r#"[targets.db]
format = "postgres"
url = "${DATABASE_URL}"
table = "db_refused.products"
columns.sku = "sku"
columns.price = "price"
columns.stock = "stock"
columns.label = "label"

[targets.copy]
path = "copy.csv"
columns.sku = "sku"
"#,
        "max_error_rate = 1",
    )
    .run("run");
    assert_eq!(res.code, 1, "{}", res.stderr);
    // A3's label is no brand (a foreign key, checked at the statement's end), A4's price breaks
    // the CHECK and its stock the NOT NULL: each is isolated, the others load.
    assert_eq!(
        pg.rows("SELECT sku FROM db_refused.products ORDER BY sku"),
        vec![vec!["A1"], vec!["A2"]]
    );
    let errors = res.errors();
    let failed: Vec<(&str, &str)> = errors
        .iter()
        .map(|e| (e["row"].as_str(), e["code"].as_str()))
        .collect();
    assert_eq!(failed, vec![("4", "load-failed"), ("5", "load-failed")]);
    let a3 = &errors[0]["message"];
    assert!(
        a3.contains("SQLSTATE 23503") && a3.contains("products_label_fkey"),
        "the database's reason, its SQLSTATE and constraint: {a3}"
    );
    assert_eq!(errors[0]["field"], "label");
    assert_eq!(errors[0]["value"], "Back\\slash");
    let a4 = &errors[1]["message"];
    assert!(a4.contains("SQLSTATE 23"), "{a4}");
    // A refused row is a reject: in rejects.csv, in no other target, and counted once.
    assert_eq!(res.read("out/copy.csv"), "sku\nA1\nA2\n");
    let rejects = res.read("out/_report/rejects.csv");
    assert!(
        rejects.contains("A3,7.00") && rejects.contains("A4,"),
        "{rejects}"
    );
    let report = res.report();
    assert_eq!(report["rows"]["read"], 4);
    assert_eq!(report["rows"]["rejected"], 2);
    assert_eq!(report["rows"]["accepted"], 2);
    assert_eq!(report["targets"][0]["rows"], 2);
    assert_eq!(report["targets"][0]["refused"], 2);
}

#[test]
fn a_row_refused_by_one_table_is_taken_out_of_the_other_tables() {
    let Some(mut pg) = Pg::schema("db_shared") else {
        return;
    };
    pg.execute(
        "CREATE TABLE db_shared.a (sku text);
         CREATE TABLE db_shared.b (sku text, stock integer CHECK (stock > 0))",
    );
    let res = job(
        &pg,
        r#"[targets.a]
format = "postgres"
url = "${DATABASE_URL}"
table = "db_shared.a"
columns.sku = "sku"

[targets.b]
format = "postgres"
url = "${DATABASE_URL}"
table = "db_shared.b"
columns.sku = "sku"
columns.stock = "COALESCE(stock, 1)"
"#,
        "max_error_rate = 1",
    )
    .run("run");
    assert_eq!(res.code, 1, "{}", res.stderr);
    assert_eq!(
        pg.rows("SELECT sku FROM db_shared.a ORDER BY sku"),
        vec![vec!["A1"], vec!["A3"], vec!["A4"]],
        "A2 (stock 0) was refused by b, so it is in neither table"
    );
    assert_eq!(
        pg.rows("SELECT sku FROM db_shared.b ORDER BY sku"),
        vec![vec!["A1"], vec!["A3"], vec!["A4"]]
    );
    // A CHECK names no column: the issue is the row's.
    assert_eq!(
        res.error_codes(),
        vec![(3, String::new(), "load-failed".into())]
    );
}

#[test]
fn a_stopped_run_and_a_failed_run_leave_the_table_as_it_was() {
    let Some(mut pg) = Pg::schema("db_stopped") else {
        return;
    };
    pg.execute(
        "CREATE TABLE db_stopped.products (sku text, stock integer CHECK (stock > 0));
         INSERT INTO db_stopped.products VALUES ('OLD', 9)",
    );
    let targets = r#"[targets.db]
format = "postgres"
url = "${DATABASE_URL}"
table = "db_stopped.products"
mode = "truncate"
columns.sku = "sku"
columns.stock = "COALESCE(stock, 1)"
"#;
    // A2's stock 0 is refused: one reject in four rows is past the threshold.
    let res = job(&pg, targets, "max_errors = 0").run("run");
    assert_eq!(res.code, 2, "{}", res.stderr);
    assert!(!res.report()["stop_reason"].is_null());
    assert_eq!(
        pg.rows("SELECT sku, stock FROM db_stopped.products"),
        vec![vec!["OLD", "9"]],
        "neither emptied nor loaded"
    );
    // With the threshold raised, the run commits: the table is emptied and loaded.
    let res = job(&pg, targets, "max_errors = 1").run("run");
    assert_eq!(res.code, 1, "{}", res.stderr);
    assert_eq!(
        pg.rows("SELECT sku FROM db_stopped.products ORDER BY sku"),
        vec![vec!["A1"], vec!["A3"], vec!["A4"]]
    );
}

#[test]
fn upserts_replace_rows_by_key_and_create_makes_a_missing_table() {
    let Some(mut pg) = Pg::schema("db_upsert") else {
        return;
    };
    pg.execute(
        "CREATE TABLE db_upsert.stock (sku text PRIMARY KEY, qty integer, seen text DEFAULT 'old');
         INSERT INTO db_upsert.stock VALUES ('A1', 100, 'old'), ('Z9', 1, 'old')",
    );
    let input = "sku,price,stock,created,active,label\n\
A1,1.00,3,01/01/2024,oui,x\n\
A2,1.00,4,01/01/2024,oui,x\n\
A2,1.00,5,01/01/2024,oui,x\n";
    let res = Job::new()
        .mapping(mapping(
            r#"[targets.stock]
format = "postgres"
url = "${DATABASE_URL}"
table = "db_upsert.stock"
mode = "upsert"
key = ["sku"]
columns.sku = "sku"
columns.qty = "stock"

[targets.created]
format = "postgres"
url = "${DATABASE_URL}"
table = "db_upsert.fresh"
create = true
key = ["sku", "stock"]
columns.sku = "sku"
columns.stock = "stock"
columns.price = "price"
columns.created = "created"
columns.active = "active"
"#,
            "",
        ))
        .input("products.csv", input)
        .env("DATABASE_URL", &pg.url)
        .run("run");
    assert_eq!(res.code, 0, "{}", res.stderr);
    assert_eq!(
        pg.rows("SELECT sku, qty, seen FROM db_upsert.stock ORDER BY sku"),
        vec![
            vec!["A1", "3", "old"],
            vec!["A2", "5", "old"],
            vec!["Z9", "1", "old"]
        ],
        "A1 replaced, A2 inserted then replaced by its last row, Z9 untouched"
    );
    assert_eq!(
        pg.rows(
            "SELECT column_name, data_type FROM information_schema.columns \
             WHERE table_schema = 'db_upsert' AND table_name = 'fresh' ORDER BY ordinal_position"
        ),
        vec![
            vec!["sku", "text"],
            vec!["stock", "bigint"],
            vec!["price", "numeric"],
            vec!["created", "date"],
            vec!["active", "boolean"]
        ]
    );
    assert_eq!(
        pg.rows("SELECT count(*) FROM db_upsert.fresh"),
        vec![vec!["3"]]
    );
}

#[test]
fn validate_checks_the_table_and_writes_nothing() {
    let Some(mut pg) = Pg::schema("db_validate") else {
        return;
    };
    pg.execute(
        "CREATE TABLE db_validate.products (sku text, \"Price\" numeric, active integer, \
         code text NOT NULL, stock integer);
         INSERT INTO db_validate.products VALUES ('OLD', 1, 1, 'x', 1)",
    );
    let targets = r#"[targets.db]
format = "postgres"
url = "${DATABASE_URL}"
table = "db_validate.products"
mode = "truncate"
columns.sku = "sku"
columns.price = "price"
columns.active = "active"
"#;
    let res = job(&pg, targets, "").run("validate");
    assert_eq!(res.code, 2, "{}", res.stderr);
    for expected in [
        "it has no column `price` (the table has `Price`",
        "column `active` is `integer`, which cannot hold the target's booleans",
        "column `code` is NOT NULL without a default, and the target does not write it",
    ] {
        assert!(res.stderr.contains(expected), "{expected}: {}", res.stderr);
    }
    // The same check stops a run before anything is loaded.
    let res = job(&pg, targets, "").run("run");
    assert_eq!(res.code, 2, "{}", res.stderr);
    assert!(
        res.stderr.contains("it has no column `price`"),
        "{}",
        res.stderr
    );
    assert_eq!(
        pg.rows("SELECT sku FROM db_validate.products"),
        vec![vec!["OLD"]]
    );

    // A table that fits: validate passes and still writes nothing.
    pg.execute("CREATE TABLE db_validate.ok (sku text, stock integer)");
    let res = job(
        &pg,
        r#"[targets.db]
format = "postgres"
url = "${DATABASE_URL}"
table = "db_validate.ok"
columns.sku = "sku"
columns.stock = "stock"
"#,
        "",
    )
    .run("validate");
    assert_eq!(res.code, 0, "{}", res.stderr);
    assert_eq!(
        pg.rows("SELECT count(*) FROM db_validate.ok"),
        vec![vec!["0"]]
    );
    // A missing table is named, with the way to create it.
    let res = job(
        &pg,
        r#"[targets.db]
format = "postgres"
url = "${DATABASE_URL}"
table = "db_validate.missing"
columns.sku = "sku"
"#,
        "",
    )
    .run("validate");
    assert_eq!(res.code, 2);
    assert!(
        res.stderr
            .contains("table `db_validate.missing` does not exist")
            && res.stderr.contains("create = true"),
        "{}",
        res.stderr
    );
}

#[test]
fn the_password_is_written_nowhere() {
    let Some(mut pg) = Pg::schema("db_secret") else {
        return;
    };
    pg.execute("CREATE TABLE db_secret.products (sku text)");
    // The test server trusts every connection: the password is sent and ignored.
    let url = pg.url.replace("rowferry@", "rowferry:Sup3rS3cret@");
    let targets = r#"[targets.db]
format = "postgres"
url = "${DATABASE_URL}"
table = "db_secret.products"
columns.sku = "sku"
"#;
    let res = Job::new()
        .mapping(mapping(targets, ""))
        .input("products.csv", PRODUCTS)
        .env("DATABASE_URL", &url)
        .run("run");
    assert_eq!(res.code, 0, "{}", res.stderr);
    let report = res.read("out/_report/report.json");
    assert!(report.contains("rowferry:***@127.0.0.1"), "{report}");
    // A server that does not answer: the error names it, without the password.
    let closed = url.rsplit_once(':').map(|(a, _)| a).unwrap().to_string();
    let closed = format!("{}:1/postgres", closed);
    let failed = Job::new()
        .mapping(mapping(targets, ""))
        .input("products.csv", PRODUCTS)
        .env("DATABASE_URL", &closed)
        .run("run");
    assert_eq!(failed.code, 2);
    assert!(
        failed.stderr.contains(
            "cannot connect to PostgreSQL at postgresql://rowferry:***@127.0.0.1:1/postgres"
        ),
        "{}",
        failed.stderr
    );
    for out in [&res.stdout, &res.stderr, &failed.stdout, &failed.stderr] {
        assert!(!out.contains("Sup3rS3cret"), "{out}");
    }
    for (name, bytes) in res.tree().into_iter().chain(failed.tree()) {
        assert!(
            !String::from_utf8_lossy(&bytes).contains("Sup3rS3cret"),
            "{name}"
        );
    }
}

/// A job loading `input` (`sku,qty`) into `table` (emptied first) and copying it to `copy.csv`.
fn emptied_and_copied(pg: &Pg, table: &str, input: &str) -> Job {
    Job::new()
        .mapping(format!(
            r#"[source]
path = "in.csv"

[targets.db]
format = "postgres"
url = "${{DATABASE_URL}}"
table = "{table}"
mode = "truncate"
columns.sku = "sku"
columns.qty = "CAST(qty AS INTEGER)"

[targets.copy]
path = "copy.csv"
"#
        ))
        .input("in.csv", input)
        .env("DATABASE_URL", &pg.url)
}

#[test]
fn a_killed_run_leaves_the_table_as_it_was() {
    let Some(mut pg) = Pg::schema("db_killed") else {
        return;
    };
    // A trigger slows each row down, so that the run is killed in the middle of its COPY.
    pg.execute(
        "CREATE TABLE db_killed.products (sku text, qty integer);
         INSERT INTO db_killed.products VALUES ('OLD', 1);
         CREATE FUNCTION db_killed.slow() RETURNS trigger AS $$
         BEGIN PERFORM pg_sleep(0.002); RETURN NEW; END $$ LANGUAGE plpgsql;
         CREATE TRIGGER slow BEFORE INSERT ON db_killed.products
         FOR EACH ROW EXECUTE FUNCTION db_killed.slow()",
    );
    let input: String = std::iter::once("sku,qty\n".to_string())
        .chain((1..=5000).map(|i| format!("S{i},{i}\n")))
        .collect();
    let job = emptied_and_copied(&pg, "db_killed.products", &input);
    let mut child = job.command("run").spawn().unwrap();
    let copying = "SELECT count(*) FROM pg_stat_activity \
                   WHERE application_name = 'rowferry' AND query LIKE 'COPY%' AND state = 'active'";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while pg.rows(copying) == vec![vec!["0"]] && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_ne!(pg.rows(copying), vec![vec!["0"]], "the run was loading");
    std::thread::sleep(std::time::Duration::from_millis(200));
    child.kill().unwrap();
    child.wait().unwrap();
    // The server ends the dead connection's transaction.
    let gone = "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'rowferry'";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while pg.rows(gone) != vec![vec!["0"]] && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(
        pg.rows("SELECT sku, qty FROM db_killed.products"),
        vec![vec!["OLD", "1"]],
        "neither emptied nor loaded"
    );
    assert!(!job.exists("out/copy.csv"), "no file committed either");
    // The folder is not left locked: the next run loads everything.
    pg.execute("DROP TRIGGER slow ON db_killed.products");
    let res = job.run("run");
    assert_eq!(res.code, 0, "{}", res.stderr);
    assert_eq!(
        pg.rows("SELECT count(*) FROM db_killed.products"),
        vec![vec!["5000"]]
    );
}

#[test]
fn a_kill_while_committing_is_finished_or_undone_as_the_server_says() {
    let Some(mut pg) = Pg::schema("db_commit") else {
        return;
    };
    pg.execute(
        "CREATE TABLE db_commit.products (sku text, qty integer);
         INSERT INTO db_commit.products VALUES ('OLD', 1)",
    );
    let job = emptied_and_copied(&pg, "db_commit.products", "sku,qty\nA1,1\nA2,2\n");
    // Killed once the journal is written, before the database commits (step 3): the table
    // rolled back, and the next start undoes the commit.
    let mut killed = job.command("run");
    killed.env("ROWFERRY_FAULT", "commit:3:kill");
    let res = job.output(&mut killed);
    assert_ne!(res.code, 0);
    assert!(job.exists("out/.rowferry-commit"), "the journal is left");
    assert_eq!(
        pg.rows("SELECT sku FROM db_commit.products"),
        vec![vec!["OLD"]]
    );
    let after = job.run("validate");
    assert_eq!(after.code, 0, "{}", after.stderr);
    assert!(!job.exists("out/.rowferry-commit"));
    assert!(
        !job.exists("out/copy.csv"),
        "undone: the database did not commit"
    );
    // Killed once the database has committed, before the journal says so (step 4): the next
    // start asks the server, which says it committed, and finishes the moves.
    let mut killed = job.command("run");
    killed.env("ROWFERRY_FAULT", "commit:4:kill");
    let res = job.output(&mut killed);
    assert_ne!(res.code, 0);
    assert_eq!(
        pg.rows("SELECT sku FROM db_commit.products ORDER BY sku"),
        vec![vec!["A1"], vec!["A2"]]
    );
    assert!(!job.exists("out/copy.csv"));
    let after = job.run("validate");
    assert_eq!(after.code, 0, "{}", after.stderr);
    assert_eq!(
        job.read("out/copy.csv"),
        "sku,qty\nA1,1\nA2,2\n",
        "finished"
    );
}

#[test]
fn a_row_refused_while_its_chunk_is_still_being_sent_is_isolated() {
    let Some(mut pg) = Pg::schema("db_stream") else {
        return;
    };
    pg.execute("CREATE TABLE db_stream.lines (sku text, qty integer CHECK (qty > 0), note text)");
    // Chunks of about 1.5 MB of COPY text, sent in pieces: the server refuses row 12 while the
    // client is still sending the rest of its chunk.
    let note = "x".repeat(80);
    let input: String = std::iter::once("sku,qty,note\n".to_string())
        .chain((1..=30_000).map(|i| {
            let qty = match i {
                11 => 0,
                25_000 => -1,
                _ => i,
            };
            format!("S{i},{qty},{note}\n")
        }))
        .collect();
    let res = Job::new()
        .mapping(
            r#"[source]
path = "in.csv"

[run]
max_error_rate = 0.5

[targets.db]
format = "postgres"
url = "${DATABASE_URL}"
table = "db_stream.lines"
columns.sku = "sku"
columns.qty = "CAST(qty AS INTEGER)"
columns.note = "note"
"#,
        )
        .input("in.csv", input)
        .env("DATABASE_URL", &pg.url)
        .run("run");
    assert_eq!(res.code, 1, "{}", res.stderr);
    let failed: Vec<(u64, String)> = res
        .error_codes()
        .into_iter()
        .map(|(row, _, code)| (row, code))
        .collect();
    assert_eq!(
        failed,
        vec![(12, "load-failed".into()), (25_001, "load-failed".into())]
    );
    assert_eq!(
        pg.rows("SELECT count(*) FROM db_stream.lines"),
        vec![vec!["29998"]]
    );
}
