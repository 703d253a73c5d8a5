//! Lookups read from servers: a PostgreSQL query or table (`scripts/with-postgres`), and an HTTP
//! API's records (the test server of `util/http_server.rs`, on 127.0.0.1) — enriching real runs,
//! stopping them with errors that name the lookup and the server, and never showing a password,
//! a token or a header value.

use crate::util::Job;
use crate::util::http_server::{Reply, TestServer};
use crate::util::pg::Pg;

const DATA: &str = "sku,brand\n1,Acme\n2,Globex\n3,Initech\n";

/// A mapping enriching `data.csv` from lookup `brands` (`lookup` are its keys after `key`).
fn mapping(lookup: &str) -> String {
    format!(
        r#"[source]
path = "data.csv"

[lookups.brands]
key = "name"
{lookup}

[[enrich]]
lookup = "brands"
match = {{ brand = "name" }}
add = {{ brand_id = "id", country = "country" }}

[targets.out]
path = "out.csv"
"#
    )
}

/// Asserts that `secret` is in no stream of `runs` nor in any file of their folders (the
/// mapping, the inputs and the output folder, report included).
fn written_nowhere(secret: &str, runs: &[&crate::util::Outcome]) {
    for run in runs {
        assert!(!run.stdout.contains(secret), "stdout: {}", run.stdout);
        assert!(!run.stderr.contains(secret), "stderr: {}", run.stderr);
        for (name, bytes) in crate::util::tree::files(run.path()) {
            assert!(
                !String::from_utf8_lossy(&bytes).contains(secret),
                "{name} holds the secret"
            );
        }
    }
}

// ---- PostgreSQL ----

fn brands_table(pg: &mut Pg, table: &str) {
    pg.execute(&format!(
        "CREATE TABLE {table} (name text, id integer, country text, active boolean);
         INSERT INTO {table} VALUES ('Acme', 7, 'FR', true), ('Globex', 12, NULL, true),
                                    ('Initech', 3, 'US', false), ('Umbrella', 9, '', true)"
    ));
}

#[test]
fn a_postgresql_query_enriches_the_rows() {
    let Some(mut pg) = Pg::schema("lk_query") else {
        return;
    };
    brands_table(&mut pg, "lk_query.brands");
    let job = Job::new()
        .mapping(mapping(
            r#"url = "${DATABASE_URL}"
query = "SELECT name, id, country, active FROM lk_query.brands WHERE active""#,
        ))
        .input("data.csv", DATA)
        .env("DATABASE_URL", &pg.url);
    let res = job.run("run");
    assert_eq!(res.code, 1, "{}", res.stderr);
    assert_eq!(
        res.output("out.csv"),
        "sku,brand,brand_id,country\n1,Acme,7,FR\n2,Globex,12,\n",
        "integers as their text, NULL as null"
    );
    let errors = res.errors();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["code"], "lookup-miss");
    assert_eq!(errors[0]["value"], "Initech");
    assert!(
        errors[0]["message"].contains("`Initech` is not in lookup `brands`"),
        "{errors:?}"
    );
    let report = res.report();
    assert_eq!(report["lookups"][0]["name"], "brands");
    assert_eq!(report["lookups"][0]["rows"], 3);
    let shown = report["lookups"][0]["path"].as_str().unwrap();
    assert!(
        shown.starts_with("postgresql://rowferry@127.0.0.1:") && shown.ends_with("/postgres"),
        "{shown}"
    );
}

#[test]
fn a_postgresql_table_is_read_whole_by_its_quoted_name() {
    let Some(mut pg) = Pg::schema("lk_table") else {
        return;
    };
    brands_table(&mut pg, "lk_table.\"Brands\"");
    let job = Job::new()
        .mapping(mapping(
            r#"url = "${DATABASE_URL}"
table = "lk_table.Brands"
ignore_case = true"#,
        ))
        .input(
            "data.csv",
            "sku,brand\n1,ACME\n2,initech\n3,Umbrella\n4,Hooli\n",
        )
        .env("DATABASE_URL", &pg.url);
    let res = job.run("run");
    assert_eq!(res.code, 1, "{}", res.stderr);
    assert_eq!(
        res.output("out.csv"),
        "sku,brand,brand_id,country\n1,ACME,7,FR\n2,initech,3,US\n3,Umbrella,9,\n",
        "every row of the table, an empty text as null"
    );
    assert_eq!(
        res.error_codes(),
        vec![(5, "brand".to_string(), "lookup-miss".to_string())],
        "Hooli is in no row"
    );
    assert_eq!(res.report()["lookups"][0]["rows"], 4);
    // `validate` reads the lookup too.
    let res = job.run("validate");
    assert_eq!(res.code, 1, "{}", res.stderr);
    assert_eq!(res.report()["lookups"][0]["rows"], 4);
}

#[test]
fn a_bad_query_stops_the_run_naming_the_lookup_and_the_sqlstate() {
    let Some(mut pg) = Pg::schema("lk_bad") else {
        return;
    };
    brands_table(&mut pg, "lk_bad.brands");
    let url = pg.url.clone();
    let job = |query: &str| {
        Job::new()
            .mapping(mapping(&format!(
                "url = \"${{DATABASE_URL}}\"\nquery = \"{query}\""
            )))
            .input("data.csv", DATA)
            .env("DATABASE_URL", &url)
    };
    let res = job("SELECT name, id FROM lk_bad.nowhere").run("run");
    assert_eq!(res.code, 2, "{}", res.stderr);
    assert!(
        res.stderr.contains(
            "cannot read lookup `brands` from PostgreSQL at postgresql://rowferry@127.0.0.1:"
        ) && res
            .stderr
            .contains("relation \"lk_bad.nowhere\" does not exist (SQLSTATE 42P01)"),
        "{}",
        res.stderr
    );
    assert!(!res.exists("out/out.csv"));

    // The query runs in a read-only transaction: nothing is changed.
    let res = job("DELETE FROM lk_bad.brands RETURNING name, id, country").run("run");
    assert_eq!(res.code, 2, "{}", res.stderr);
    assert!(res.stderr.contains("SQLSTATE 25006"), "{}", res.stderr);
    assert_eq!(pg.rows("SELECT count(*) FROM lk_bad.brands"), [["4"]]);
    // One statement only: a second one is refused before anything runs.
    let res = job("SELECT name, id FROM lk_bad.brands; DROP TABLE lk_bad.brands").run("run");
    assert_eq!(res.code, 2, "{}", res.stderr);
    assert!(res.stderr.contains("SQLSTATE 42601"), "{}", res.stderr);
    assert_eq!(pg.rows("SELECT count(*) FROM lk_bad.brands"), [["4"]]);
    // Two columns of one name cannot both be columns of the lookup.
    let res = job("SELECT name, id, id FROM lk_bad.brands").run("run");
    assert_eq!(res.code, 2, "{}", res.stderr);
    assert!(
        res.stderr
            .contains("two columns named `id`; name them apart with AS"),
        "{}",
        res.stderr
    );
}

#[test]
fn null_and_duplicate_postgresql_keys_stop_the_run_as_in_any_lookup() {
    let Some(mut pg) = Pg::schema("lk_keys") else {
        return;
    };
    brands_table(&mut pg, "lk_keys.brands");
    pg.execute("INSERT INTO lk_keys.brands VALUES ('ACME', 1, 'DE', true), (NULL, 2, 'IT', true)");
    let job = |query: &str, options: &str| {
        Job::new()
            .mapping(mapping(&format!(
                "url = \"${{DATABASE_URL}}\"\nquery = \"{query}\"\n{options}"
            )))
            .input("data.csv", DATA)
            .env("DATABASE_URL", &pg.url)
    };
    let res = job(
        "SELECT name, id, country FROM lk_keys.brands WHERE name IS NOT NULL ORDER BY id",
        "ignore_case = true",
    )
    .run("run");
    assert_eq!(res.code, 2, "{}", res.stderr);
    assert!(
        res.stderr.contains("lookup `brands` (`postgresql://")
            && res
                .stderr
                .contains("has the key `Acme` on rows 1 and 3; a key must name one row"),
        "{}",
        res.stderr
    );
    let res = job(
        "SELECT name, id, country FROM lk_keys.brands ORDER BY id",
        "",
    )
    .run("run");
    assert_eq!(res.code, 2, "{}", res.stderr);
    assert!(
        res.stderr.contains("has an empty key on row 2"),
        "{}",
        res.stderr
    );
}

#[test]
fn the_postgresql_password_is_written_nowhere() {
    let Some(mut pg) = Pg::schema("lk_secret") else {
        return;
    };
    brands_table(&mut pg, "lk_secret.brands");
    // The test server trusts every connection: the password is sent and ignored.
    let url = pg.url.replace("rowferry@", "rowferry:S3cret@");
    let job = |url: &str| {
        Job::new()
            .mapping(mapping(
                r#"url = "${DATABASE_URL}"
query = "SELECT name, id, country FROM lk_secret.brands""#,
            ))
            .input("data.csv", DATA)
            .env("DATABASE_URL", url)
            .loud()
    };
    let ok = job(&url).run("run");
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    assert_eq!(
        ok.output("out.csv"),
        "sku,brand,brand_id,country\n1,Acme,7,FR\n2,Globex,12,\n3,Initech,3,US\n"
    );
    let report = ok.output("_report/report.json");
    assert!(
        report.contains("postgresql://rowferry:***@127.0.0.1:"),
        "{report}"
    );
    let validated = job(&url).run("validate");
    assert_eq!(validated.code, 0, "{}", validated.stderr);

    // `check` connects to nothing: a closed port is no problem there; it shows the URL masked.
    let (head, _) = url.rsplit_once(':').unwrap();
    let closed = format!("{head}:1/postgres");
    let checked = job(&closed).run("check");
    assert_eq!(checked.code, 0, "{}", checked.stderr);
    assert!(
        checked
            .stdout
            .contains("lookup     `brands`: postgresql://rowferry:***@127.0.0.1:1/postgres"),
        "{}",
        checked.stdout
    );
    // A run cannot connect: the error names the lookup and the server, without the password.
    let refused = job(&closed).run("run");
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused.stderr.contains(
            "cannot connect to PostgreSQL at postgresql://rowferry:***@127.0.0.1:1/postgres for lookup `brands`"
        ),
        "{}",
        refused.stderr
    );
    written_nowhere("S3cret", &[&ok, &validated, &checked, &refused]);
}

// ---- HTTP APIs ----

/// The lookup `brands` read from `url` with these more keys.
fn api_job(url: &str, options: &str) -> Job {
    Job::new()
        .mapping(mapping(&format!("url = \"{url}\"\n{options}")))
        .input("data.csv", DATA)
}

#[test]
fn an_api_answering_a_json_array_enriches_the_rows() {
    let server = TestServer::start();
    server.route(
        "/brands",
        [Reply::json(
            r#"[{"name": "Acme", "id": 7, "country": "FR", "tags": ["a", "b"]},
                {"name": "Globex", "id": 12.5, "country": null, "meta": {"since": 1999}},
                {"name": "Initech", "id": true}]"#,
        )],
    );
    let job = Job::new()
        .mapping(
            mapping(&format!("url = \"{}\"", server.url("/brands"))).replace(
                "add = { brand_id = \"id\", country = \"country\" }",
                "add = { brand_id = \"id\", country = \"country\", tags = \"tags\", meta = \"meta\" }",
            ),
        )
        .input("data.csv", DATA);
    let res = job.run("run");
    assert_eq!(res.code, 0, "{}", res.stderr);
    assert_eq!(
        res.output("out.csv"),
        "sku,brand,brand_id,country,tags,meta\n\
         1,Acme,7,FR,\"[\"\"a\"\",\"\"b\"\"]\",\n\
         2,Globex,12.5,,,\"{\"\"since\"\":1999}\"\n\
         3,Initech,true,,,\n",
        "numbers and booleans as their JSON text, nested values as compact JSON, null and \
         absent fields as null"
    );
    let report = res.report();
    assert_eq!(report["lookups"][0]["rows"], 3);
    assert_eq!(report["lookups"][0]["path"], server.url("/brands"));
    let requests = server.requests();
    assert_eq!(requests.len(), 1, "read once");
    assert_eq!(requests[0].method, "GET");
}

#[test]
fn an_api_lookup_follows_its_pages_and_its_records_pointer() {
    let server = TestServer::start();
    let first = server.serve_pages(
        &[
            r#"{"data": {"items": [{"name": "Acme", "id": "A1"}]}, "total": 2}"#,
            r#"{"data": {"items": [{"name": "Globex", "id": "G2", "country": "US"}]}}"#,
        ],
        false,
    );
    let res = api_job(&first, "records = \"/data/items\"\ntimeout = \"5s\"").run("run");
    assert_eq!(res.code, 1, "{}", res.stderr);
    assert_eq!(
        res.output("out.csv"),
        "sku,brand,brand_id,country\n1,Acme,A1,\n2,Globex,G2,US\n",
        "the columns are every record's fields"
    );
    assert_eq!(
        res.error_codes(),
        vec![(4, "brand".to_string(), "lookup-miss".to_string())]
    );
    assert_eq!(res.report()["lookups"][0]["rows"], 2);
    let paths: Vec<String> = server.requests().iter().map(|r| r.target.clone()).collect();
    assert_eq!(paths, ["/pages/1", "/pages/2"]);
}

#[test]
fn an_api_lookup_reads_ndjson() {
    let server = TestServer::start();
    server.route(
        "/brands.ndjson",
        [Reply::status(200)
            .header("Content-Type", "application/x-ndjson")
            .body(
                "{\"name\":\"Acme\",\"id\":1}\n\n{\"name\":\"Globex\",\"id\":2}\n{\"name\":\"Initech\",\"id\":3,\"country\":\"US\"}\n",
            )],
    );
    let res = api_job(&server.url("/brands.ndjson"), "").run("run");
    assert_eq!(res.code, 0, "{}", res.stderr);
    assert_eq!(
        res.output("out.csv"),
        "sku,brand,brand_id,country\n1,Acme,1,\n2,Globex,2,\n3,Initech,3,US\n"
    );
}

#[test]
fn an_api_error_stops_the_run_naming_the_lookup_and_the_masked_url() {
    let server = TestServer::start();
    server.route(
        "/brands?api_key=K3yK3y",
        [Reply::status(500).body("database on fire")],
    );
    let url = server.url("/brands?api_key=K3yK3y");
    let res = api_job(&url, "").run("run");
    assert_eq!(res.code, 2, "{}", res.stderr);
    let masked = server.url("/brands?api_key=***");
    assert!(
        res.stderr.contains(&format!(
            "cannot read lookup `brands` from its API ({masked})"
        )) && res.stderr.contains("answered 500: database on fire"),
        "{}",
        res.stderr
    );
    assert!(!res.exists("out/out.csv"));
    assert_eq!(
        server.requests().len(),
        1,
        "no retry: running again is the retry"
    );

    // A page that is not records says what it is.
    server.route("/one", [Reply::json(r#"{"data": [], "meta": {}}"#)]);
    let res = api_job(&server.url("/one"), "").run("run");
    assert_eq!(res.code, 2, "{}", res.stderr);
    assert!(
        res.stderr.contains("cannot read lookup `brands`")
            && res
                .stderr
                .contains("set `records` to the array of records in it"),
        "{}",
        res.stderr
    );
    written_nowhere("K3yK3y", &[&res]);
}

#[test]
fn an_api_header_token_is_written_nowhere() {
    let server = TestServer::start();
    // The server echoes the token in its error: it is scrubbed from the excerpt shown.
    server.route(
        "/private",
        [Reply::json(
            r#"[{"name": "Acme", "id": 7, "country": null}]"#,
        )],
    );
    server.route("/denied", [Reply::status(401).body("bad token T0k3nT0k3n")]);
    let job = |path: &str| {
        api_job(
            &server.url(path),
            "headers = { Authorization = \"Bearer ${API_TOKEN}\", Accept = \"application/json\" }",
        )
        .env("API_TOKEN", "T0k3nT0k3n")
        .input("data.csv", "sku,brand\n1,Acme\n")
        .loud()
    };
    let ok = job("/private").run("run");
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    assert_eq!(
        ok.output("out.csv"),
        "sku,brand,brand_id,country\n1,Acme,7,\n"
    );
    let sent = &server.requests()[0];
    assert_eq!(sent.header("authorization"), Some("Bearer T0k3nT0k3n"));
    assert_eq!(sent.header("accept"), Some("application/json"));
    let denied = job("/denied").run("run");
    assert_eq!(denied.code, 2, "{}", denied.stderr);
    assert!(
        denied.stderr.contains("answered 401: bad token ***"),
        "{}",
        denied.stderr
    );
    let checked = job("/private").run("check");
    assert_eq!(checked.code, 0, "{}", checked.stderr);
    assert_eq!(server.requests().len(), 2, "`check` reads no API");
    written_nowhere("T0k3nT0k3n", &[&ok, &denied, &checked]);
}

#[test]
fn keys_a_lookup_does_not_read_are_mapping_errors() {
    let res = Job::new()
        .mapping(
            r#"[source]
path = "data.csv"

[lookups.pg]
url = "postgresql://db.example.com/shop"
key = "name"
query = "SELECT name, id FROM brands"
records = "/data"
sheet = 2

[lookups.api]
url = "https://api.example.com/brands"
key = "name"
query = "SELECT 1"
delimiter = ";"

[lookups.file]
path = "brands.csv"
key = "name"
headers = { Authorization = "Bearer x" }

[lookups.both]
path = "brands.csv"
url = "https://api.example.com/brands"
key = "name"
"#,
        )
        .input("data.csv", "sku\n1\n")
        .file("brands.csv", "name,id\n")
        .run("check");
    assert_eq!(res.code, 2, "{}", res.stderr);
    for expected in [
        "`records` does not apply to a lookup on a PostgreSQL server",
        "`sheet` does not apply to a lookup on a PostgreSQL server",
        "`query` applies to lookups in a database, not to one read from an API",
        "`delimiter` does not apply to a lookup read from an API",
        "`headers` applies to lookups read from an API",
        "lookup `both` has both a `path` and a `url`",
    ] {
        assert!(
            res.stderr.contains(expected),
            "missing {expected:?} in\n{}",
            res.stderr
        );
    }
}
