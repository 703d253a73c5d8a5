//! HTTP targets against a local test server (127.0.0.1, `tests/util/http_server.rs`): batches
//! sent only after the commit, with an `Idempotency-Key` each, through 429s, 500s and stalls; a
//! refused batch's rows rejected as `delivery-failed`, fixable and fed back; a kill -9 in the
//! middle of a delivery resumed with `--resume`, each batch acknowledged exactly once; the
//! token written nowhere.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::util::Job;
use crate::util::http_server::{Reply, TestServer};

const INPUT: &str = "sku,qty\nA1,1\nA2,2\nA3,3\nA4,4\nA5,5\n";

fn job(server: &TestServer, extra: &str) -> Job {
    Job::new()
        .mapping(format!(
            r#"[source]
path = "in.csv"
structure = "s"

[structures.s.fields]
sku = {{ type = "string", required = true }}
qty = {{ type = "integer" }}

[targets.api]
format = "http"
url = "{}"
headers = {{ Authorization = "Bearer ${{API_TOKEN}}", X-Crm = "${{CRM}}" }}
batch_size = 2
envelope = "items"
columns.sku = "sku"
columns.qty = "qty"
{extra}
"#,
            server.url("/import")
        ))
        .input("in.csv", INPUT)
        .env("API_TOKEN", "t0k3n-s3cret")
        .env("CRM", "crm-h3ader-s3cret")
}

/// The lines of `_report/deliveries.csv`, each as its columns.
fn deliveries(res: &crate::util::Outcome) -> Vec<BTreeMap<String, String>> {
    crate::util::read_csv(&res.path().join("out/_report/deliveries.csv"), b',')
}

#[test]
fn batches_are_sent_after_the_commit_once_each_with_their_keys() {
    let server = TestServer::start();
    server.set_default(Reply::status(201).body("{\"ok\":true}"));
    let job = job(&server, "");
    let res = job.run("run");
    assert_eq!(res.code, 0, "{}", res.stderr);
    let requests = server.requests();
    assert_eq!(requests.len(), 3, "5 rows in batches of 2");
    let bodies: Vec<serde_json::Value> = requests
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert_eq!(
        bodies[0],
        serde_json::json!({"items": [{"sku": "A1", "qty": 1}, {"sku": "A2", "qty": 2}]})
    );
    assert_eq!(
        bodies[2],
        serde_json::json!({"items": [{"sku": "A5", "qty": 5}]})
    );
    for r in &requests {
        assert_eq!(r.method, "POST");
        assert_eq!(r.path(), "/import");
        assert_eq!(r.header("authorization"), Some("Bearer t0k3n-s3cret"));
        assert_eq!(r.header("x-crm"), Some("crm-h3ader-s3cret"));
        assert_eq!(r.header("content-type"), Some("application/json"));
    }
    let keys: Vec<&str> = requests
        .iter()
        .map(|r| r.header("idempotency-key").unwrap())
        .collect();
    let lines = deliveries(&res);
    assert_eq!(lines.len(), 3);
    for (line, key) in lines.iter().zip(&keys) {
        assert_eq!(line["status"], "acknowledged");
        assert_eq!(line["http_status"], "201");
        assert_eq!(line["idempotency_key"], *key);
    }
    assert_eq!(
        (
            lines[0]["first_row"].as_str(),
            lines[0]["last_row"].as_str()
        ),
        ("2", "3")
    );
    assert_eq!(lines[2]["row_ranges"], "6");
    // The batch files are outputs like any other.
    assert!(res.exists("out/_outbox/api/batch-0001.json"));
    let report = res.report();
    assert_eq!(report["deliveries"][0]["acknowledged"], 3);
    assert_eq!(report["deliveries"][0]["rows_delivered"], 5);
    assert_eq!(report["targets"][0]["format"], "http");
    // The same run again: the same batches, already acknowledged, are not sent twice.
    let again = job.run("run");
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(server.requests().len(), 3);
    assert!(
        deliveries(&again)
            .iter()
            .all(|l| l["status"] == "acknowledged")
    );
    // The token is nowhere: not in the report, the outbox, the terminal.
    for out in [&res.stdout, &res.stderr, &again.stdout, &again.stderr] {
        assert!(!out.contains("t0k3n-s3cret"), "{out}");
    }
    for (name, bytes) in res.tree() {
        assert!(
            !String::from_utf8_lossy(&bytes).contains("t0k3n-s3cret"),
            "{name}"
        );
    }
}

#[test]
fn a_stopped_run_sends_nothing() {
    let server = TestServer::start();
    let res = job(&server, "")
        .input("in.csv", "sku,qty\nA1,1\n,2\nA3,x\n")
        .run_with("run", &["--set", "run.max_errors=0"]);
    assert_eq!(res.code, 2, "{}", res.stderr);
    assert!(server.requests().is_empty());
}

#[test]
fn retries_go_through_429s_500s_and_stalls_with_the_same_key() {
    let server = TestServer::start();
    server.push(Reply::status(429).header("Retry-After", "1"));
    server.push(Reply::status(503));
    server.push(Reply::Stall(Duration::from_secs(3)));
    server.set_default(Reply::status(200));
    let started = Instant::now();
    let res = job(&server, "timeout = \"1s\"\nmax_retries = 5")
        .input("in.csv", "sku,qty\nA1,1\n")
        .run("run");
    assert_eq!(res.code, 0, "{}", res.stderr);
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "Retry-After and the stall waited"
    );
    let requests = server.requests();
    assert_eq!(requests.len(), 4);
    let key = requests[0].header("idempotency-key").unwrap();
    assert!(
        requests
            .iter()
            .all(|r| r.header("idempotency-key") == Some(key))
    );
    let lines = deliveries(&res);
    assert_eq!(lines[0]["attempts"], "4");
    assert_eq!(lines[0]["status"], "acknowledged");
}

#[test]
fn a_refused_batch_rejects_its_rows_as_delivery_failed_to_be_fed_back() {
    let server = TestServer::start();
    server.push(Reply::status(201));
    server.push(Reply::status(422).body("{\"error\":\"sku A3 is unknown\"}"));
    server.set_default(Reply::status(201));
    let res = job(&server, "").loud().run("run");
    assert_eq!(res.code, 1, "{}", res.stderr);
    assert_eq!(
        server.requests().len(),
        3,
        "a 422 is not retried; the other batches go on"
    );
    let lines = deliveries(&res);
    let statuses: Vec<&str> = lines.iter().map(|l| l["status"].as_str()).collect();
    assert_eq!(statuses, vec!["acknowledged", "refused", "acknowledged"]);
    assert_eq!(lines[1]["http_status"], "422");
    assert!(lines[1]["response_excerpt"].contains("sku A3 is unknown"));
    // Rows 4 and 5 (A3, A4) are rejects, as read, ready to be fixed and fed back.
    let errors = res.errors();
    let failed: Vec<(&str, &str, &str)> = errors
        .iter()
        .map(|e| (e["row"].as_str(), e["code"].as_str(), e["value"].as_str()))
        .collect();
    assert_eq!(
        failed,
        vec![
            ("4", "delivery-failed", "422"),
            ("5", "delivery-failed", "422")
        ]
    );
    assert!(
        errors[0]["message"].contains("sku A3 is unknown"),
        "{:?}",
        errors[0]
    );
    let rejects = res.read("out/_report/rejects.csv");
    assert!(
        rejects.starts_with("sku,qty,_row,_line,_errors\n"),
        "{rejects}"
    );
    assert!(
        rejects.contains("A3,3,4,4,") && rejects.contains("A4,4,5,5,"),
        "{rejects}\n{}",
        res.read("out/_report/errors.csv")
    );
    let report = res.report();
    assert_eq!(report["rows"]["rejected"], 2);
    assert_eq!(report["rows"]["accepted"], 3);
    assert_eq!(report["conservation"]["holds"], true);
    assert_eq!(report["targets"][0]["rows"], 3);
    assert_eq!(report["deliveries"][0]["refused"], 1);
    // report.html is rewritten with report.json: the amended counts, the deliveries.
    let html = res.read("out/_report/report.html");
    assert!(html.contains(">2</span> rejected"), "{html}");
    assert!(html.contains("<code>delivery-failed</code>"), "{html}");
    assert!(html.contains("<h2>Deliveries</h2>"), "{html}");
    assert!(
        !res.exists("out/.rowferry-report.tmp"),
        "no temporary file left"
    );
    assert!(
        res.stdout.contains("1 refused (2 rows delivery-failed)"),
        "{}",
        res.stdout
    );
}

#[test]
fn a_kill_during_delivery_is_resumed_sending_each_batch_once() {
    let server = TestServer::start();
    server.set_default(Reply::status(201).delay(Duration::from_millis(300)));
    let input: String = std::iter::once("sku,qty\n".to_string())
        .chain((1..=16).map(|i| format!("S{i},{i}\n")))
        .collect();
    let job = job(&server, "").input("in.csv", input);
    let mut child = job.command("run").spawn().unwrap();
    // Kill -9 once a few batches are in.
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.requests().len() < 3 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let sent_before = server.requests().len();
    assert!(
        (3..8).contains(&sent_before),
        "{sent_before} requests before the kill"
    );
    let journal =
        std::fs::read_to_string(job.path().join("out/.rowferry-deliveries")).unwrap_or_default();
    let acknowledged: Vec<String> = server
        .requests()
        .iter()
        .map(|r| r.header("idempotency-key").unwrap().to_string())
        .filter(|k| journal.contains(k.as_str()))
        .collect();
    let res = job.run_with("run", &["--resume"]);
    assert_eq!(res.code, 0, "{}", res.stderr);
    let lines = crate::util::read_csv(&job.path().join("out/_report/deliveries.csv"), b',');
    assert_eq!(lines.len(), 8);
    assert!(
        lines.iter().all(|l| l["status"] == "acknowledged"),
        "{lines:?}"
    );
    let mut sends: BTreeMap<String, usize> = BTreeMap::new();
    for r in server.requests() {
        *sends
            .entry(r.header("idempotency-key").unwrap().into())
            .or_default() += 1;
    }
    assert_eq!(sends.len(), 8, "every batch was sent");
    for key in &acknowledged {
        assert_eq!(
            sends[key], 1,
            "a batch acknowledged before the kill is not sent again"
        );
    }
    // Only the batch in flight at the kill may go twice, with the same key.
    assert!(sends.values().filter(|n| **n > 1).count() <= 1, "{sends:?}");
    // Nothing more to send: resuming again sends nothing.
    let before = server.requests().len();
    assert_eq!(job.run_with("run", &["--resume"]).code, 0);
    assert_eq!(server.requests().len(), before);
}

#[test]
fn http_keys_are_checked_before_anything_is_read() {
    let server = TestServer::start();
    let res = job(
        &server,
        "method = \"GET\"\ntimeout = \"soon\"\nconcurrency = 0",
    )
    .run("check");
    assert_eq!(res.code, 2);
    for expected in [
        "`method` is POST, PUT or PATCH, not `GET`",
        "`soon` is not a duration",
        "`concurrency` is a whole number from 1 to 10000",
    ] {
        assert!(res.stderr.contains(expected), "{expected}: {}", res.stderr);
    }
    let res = Job::new()
        .mapping("[source]\npath = \"in.csv\"\n[targets.t]\npath = \"t.csv\"\nmethod = \"PUT\"\n")
        .input("in.csv", INPUT)
        .run("check");
    assert!(
        res.stderr.contains("`method` applies to HTTP targets only"),
        "{}",
        res.stderr
    );
    let res = job(&server, "").exec(&["run", "mapping.toml", "--resume", "--out", "elsewhere"]);
    assert_eq!(res.code, 2);
    assert!(
        res.stderr.contains("there is nothing to resume"),
        "{}",
        res.stderr
    );
}

#[test]
fn grouped_records_are_sent_and_a_refused_group_rejects_its_rows() {
    let server = TestServer::start();
    server.push(Reply::status(400).body("order 7 is closed"));
    server.set_default(Reply::status(201));
    let res = job(
        &server,
        "group_by = [\"sku\"]\ncolumns.\"lines[].qty\" = \"qty\"",
    )
    .input("in.csv", "sku,qty\nA,1\nB,2\nA,3\nC,4\nB,5\n")
    .run("run");
    assert_eq!(res.code, 1, "{}", res.stderr);
    let bodies: Vec<serde_json::Value> = server
        .requests()
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert_eq!(bodies.len(), 2, "3 groups in batches of 2");
    assert_eq!(
        bodies[0]["items"][0],
        serde_json::json!({"sku": "A", "qty": 1, "lines": [{"qty": 1}, {"qty": 3}]})
    );
    // The first batch (groups A and B: rows 2, 3, 4 and 6) was refused.
    let lines = deliveries(&res);
    assert_eq!(lines[0]["status"], "refused");
    assert_eq!(lines[0]["row_ranges"], "2-4 6");
    let rows: Vec<String> = res.errors().iter().map(|e| e["row"].clone()).collect();
    assert_eq!(rows, vec!["2", "3", "4", "6"]);
    assert_eq!(res.report()["rows"]["rejected"], 4);
    assert_eq!(res.report()["conservation"]["holds"], true);
}
