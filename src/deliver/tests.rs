//! Deliveries, notifications and API reads against the fault-injecting test server
//! (`tests/util/http_server.rs`), real requests on 127.0.0.1. Backoffs and timeouts are short
//! so the whole file runs in a few seconds; timing bounds are loose on purpose.

#![expect(
    clippy::unwrap_used,
    reason = "tests: an unexpected value fails the test"
)]

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;
use tempfile::TempDir;

use super::http_server::{Reply, TestServer};
use super::{
    Backoff, DeliverError, Delivery, Endpoint, Journal, Method, Outgoing, Verdict, deliver,
    fetch_records, idempotency_key, idempotency_key_of_file, notify,
};

const SECRET: &str = "Bearer s3cr3t-T0KEN-value";

fn endpoint(server: &TestServer) -> Endpoint {
    Endpoint {
        headers: vec![
            ("Authorization".to_owned(), SECRET.to_owned()),
            ("X-Tenant".to_owned(), "acme".to_owned()),
        ],
        timeout: Duration::from_secs(2),
        max_retries: 3,
        backoff: Backoff {
            base: Duration::from_millis(10),
            cap: Duration::from_millis(40),
        },
        ..Endpoint::new(server.url("/import"))
    }
}

/// Batch files `1.json`, `2.json`, … in `dir`, keyed by target and number.
fn batches(dir: &Path, bodies: &[&str]) -> Vec<Outgoing> {
    bodies
        .iter()
        .enumerate()
        .map(|(i, body)| {
            let id = i as u64 + 1;
            let path = dir.join(format!("{id}.json"));
            std::fs::write(&path, body).unwrap();
            Outgoing {
                id,
                key: idempotency_key(&format!("customers/{id}"), body.as_bytes()),
                body: path,
                rows: 2,
            }
        })
        .collect()
}

struct Setup {
    dir: TempDir,
    journal: Journal,
}

fn setup() -> Setup {
    let dir = TempDir::new().unwrap();
    let journal = Journal::open(&dir.path().join("deliveries.journal")).unwrap();
    Setup { dir, journal }
}

/// `deliver`, with the ids `on_done` heard in the order it heard them.
fn run(
    endpoint: &Endpoint,
    batches: Vec<Outgoing>,
    journal: &mut Journal,
) -> (Result<Vec<Delivery>, DeliverError>, Vec<u64>) {
    let mut done = Vec::new();
    let result = deliver(endpoint, batches, journal, &mut |d| done.push(d.id));
    (result, done)
}

#[test]
fn a_batch_is_sent_once_with_its_key_headers_and_body() {
    let server = TestServer::with_script([Reply::status(201).body("{\"imported\": 2}")]);
    let mut s = setup();
    let sent = batches(s.dir.path(), &["[{\"id\":1},{\"id\":2}]"]);
    let key = sent[0].key.clone();
    let (result, done) = run(&endpoint(&server), sent, &mut s.journal);
    let deliveries = result.unwrap();
    assert_eq!(done, [1]);
    assert_eq!(deliveries.len(), 1);
    let d = &deliveries[0];
    assert_eq!(d.verdict, Verdict::Acknowledged { status: 201 });
    assert_eq!((d.id, d.rows, d.attempts), (1, 2, 1));
    assert_eq!(d.excerpt, "{\"imported\": 2}");
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!((r.method.as_str(), r.target.as_str()), ("POST", "/import"));
    assert_eq!(r.header("idempotency-key"), Some(key.as_str()));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("content-length"), Some("19"));
    assert_eq!(r.header("authorization"), Some(SECRET));
    assert_eq!(r.header("x-tenant"), Some("acme"));
    assert_eq!(r.body, b"[{\"id\":1},{\"id\":2}]");
    assert!(s.journal.is_acknowledged(&key));
}

#[test]
fn a_large_body_is_streamed_whole() {
    let server = TestServer::start();
    let mut s = setup();
    let body = "[".to_owned() + &"{\"name\":\"Ann\"},".repeat(200_000) + "{}]";
    let (result, _) = run(
        &endpoint(&server),
        batches(s.dir.path(), &[&body]),
        &mut s.journal,
    );
    assert!(result.unwrap()[0].is_acknowledged());
    let r = &server.requests()[0];
    assert_eq!(r.body.len(), body.len());
    assert_eq!(r.body, body.as_bytes());
}

#[test]
fn put_and_ndjson_are_sent_as_configured() {
    let server = TestServer::start();
    let mut s = setup();
    let endpoint = Endpoint {
        method: Method::Put,
        content_type: "application/x-ndjson".to_owned(),
        ..endpoint(&server)
    };
    let (result, _) = run(
        &endpoint,
        batches(s.dir.path(), &["{\"a\":1}\n{\"a\":2}\n"]),
        &mut s.journal,
    );
    assert!(result.unwrap()[0].is_acknowledged());
    let r = &server.requests()[0];
    assert_eq!(r.method, "PUT");
    assert_eq!(r.header("content-type"), Some("application/x-ndjson"));
}

#[test]
fn a_429_waits_as_long_as_retry_after_says() {
    let server = TestServer::with_script([
        Reply::status(429).header("Retry-After", "1"),
        Reply::status(200),
    ]);
    let mut s = setup();
    let started = Instant::now();
    let (result, _) = run(
        &endpoint(&server),
        batches(s.dir.path(), &["[]"]),
        &mut s.journal,
    );
    let d = &result.unwrap()[0];
    assert_eq!(d.verdict, Verdict::Acknowledged { status: 200 });
    assert_eq!(d.attempts, 2);
    let requests = server.requests();
    let gap = requests[1].at - requests[0].at;
    // The backoff alone would be 5–10 ms.
    assert!(gap >= Duration::from_millis(900), "{gap:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(d.millis >= 900, "{}", d.millis);
}

#[test]
fn a_retry_after_beyond_the_limit_refuses_the_batch_at_once() {
    let server = TestServer::with_script([Reply::status(429).header("Retry-After", "86400")]);
    let mut s = setup();
    let (result, _) = run(
        &endpoint(&server),
        batches(s.dir.path(), &["[]"]),
        &mut s.journal,
    );
    let d = &result.unwrap()[0];
    let Verdict::Refused { status, reason } = &d.verdict else {
        panic!("{d:?}")
    };
    assert_eq!(*status, Some(429));
    assert!(
        reason.contains("86400 s") && reason.contains("resume"),
        "{reason}"
    );
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn a_500_is_retried_with_the_same_idempotency_key() {
    let server = TestServer::with_script([Reply::status(500).body("oops"), Reply::status(200)]);
    let mut s = setup();
    let sent = batches(s.dir.path(), &["[{\"id\":7}]"]);
    let key = sent[0].key.clone();
    let (result, _) = run(&endpoint(&server), sent, &mut s.journal);
    let d = &result.unwrap()[0];
    assert_eq!(d.verdict, Verdict::Acknowledged { status: 200 });
    assert_eq!(d.attempts, 2);
    let keys: Vec<_> = server
        .requests()
        .iter()
        .map(|r| r.header("idempotency-key").unwrap().to_owned())
        .collect();
    assert_eq!(keys, [key.clone(), key]);
    let bodies: Vec<_> = server.requests().into_iter().map(|r| r.body).collect();
    assert_eq!(bodies[0], bodies[1]);
}

#[test]
fn a_stall_past_the_timeout_is_retried() {
    let server =
        TestServer::with_script([Reply::Stall(Duration::from_secs(3)), Reply::status(200)]);
    let mut s = setup();
    let endpoint = Endpoint {
        timeout: Duration::from_millis(300),
        ..endpoint(&server)
    };
    let started = Instant::now();
    let (result, _) = run(&endpoint, batches(s.dir.path(), &["[]"]), &mut s.journal);
    let d = &result.unwrap()[0];
    assert_eq!(d.verdict, Verdict::Acknowledged { status: 200 });
    assert_eq!(d.attempts, 2);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_dropped_connection_is_retried() {
    let server = TestServer::with_script([Reply::Drop, Reply::status(202)]);
    let mut s = setup();
    let (result, _) = run(
        &endpoint(&server),
        batches(s.dir.path(), &["[]"]),
        &mut s.journal,
    );
    let d = &result.unwrap()[0];
    assert_eq!(d.verdict, Verdict::Acknowledged { status: 202 });
    assert_eq!(d.attempts, 2);
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn a_400_is_refused_without_a_retry_and_the_others_go_on() {
    let server = TestServer::start();
    server.push(Reply::status(400).body("{\"error\":\n  \"row 3: email is required\"}"));
    let mut s = setup();
    let endpoint = endpoint(&server);
    let (result, done) = run(
        &endpoint,
        batches(s.dir.path(), &["[1]", "[2]"]),
        &mut s.journal,
    );
    let deliveries = result.unwrap();
    assert_eq!(done, [1, 2]);
    let Verdict::Refused { status, reason } = &deliveries[0].verdict else {
        panic!("{deliveries:?}")
    };
    assert_eq!(*status, Some(400));
    assert!(
        reason.contains("400 (Bad Request)") && reason.contains("not retried"),
        "{reason}"
    );
    assert_eq!(deliveries[0].attempts, 1);
    assert_eq!(
        deliveries[0].excerpt,
        "{\"error\": \"row 3: email is required\"}"
    );
    assert_eq!(deliveries[1].verdict, Verdict::Acknowledged { status: 200 });
    assert_eq!(server.requests().len(), 2);
    assert!(!s.journal.is_acknowledged(&deliveries[0].key));
    assert!(s.journal.is_acknowledged(&deliveries[1].key));
}

#[test]
fn a_redirect_is_refused_not_followed() {
    let server = TestServer::with_script([Reply::status(301).header("Location", "/elsewhere")]);
    let mut s = setup();
    let (result, _) = run(
        &endpoint(&server),
        batches(s.dir.path(), &["[]"]),
        &mut s.journal,
    );
    let d = &result.unwrap()[0];
    let Verdict::Refused { status, reason } = &d.verdict else {
        panic!("{d:?}")
    };
    assert_eq!(*status, Some(301));
    assert!(reason.contains("redirect"), "{reason}");
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn retries_exhausted_refuse_the_batch_with_the_last_answer() {
    let server = TestServer::start();
    server.set_default(Reply::status(503).body("maintenance until 14:00"));
    let mut s = setup();
    let endpoint = Endpoint {
        max_retries: 2,
        ..endpoint(&server)
    };
    let (result, _) = run(&endpoint, batches(s.dir.path(), &["[]"]), &mut s.journal);
    let d = &result.unwrap()[0];
    assert_eq!(
        d.verdict,
        Verdict::Refused {
            status: Some(503),
            reason: "answered 503 (Service Unavailable), still after 3 attempts".to_owned()
        }
    );
    assert_eq!(d.attempts, 3);
    assert_eq!(d.excerpt, "maintenance until 14:00");
    assert_eq!(server.requests().len(), 3);
    assert!(s.journal.is_empty());
}

#[test]
fn no_server_at_all_is_refused_without_a_status() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut s = setup();
    let endpoint = Endpoint {
        url: format!("http://127.0.0.1:{port}/import?api_key=k3y-in-url"),
        max_retries: 1,
        ..endpoint(&TestServer::start())
    };
    let (result, _) = run(&endpoint, batches(s.dir.path(), &["[]"]), &mut s.journal);
    let d = &result.unwrap()[0];
    let Verdict::Refused { status, reason } = &d.verdict else {
        panic!("{d:?}")
    };
    assert_eq!(*status, None);
    assert!(reason.contains("still after 2 attempts"), "{reason}");
    assert!(
        !reason.contains("k3y") && !reason.contains("s3cr3t"),
        "{reason}"
    );
}

#[test]
fn https_goes_through_rustls_and_a_tls_failure_is_not_retried() {
    // A plain HTTP server answering a TLS hello: the handshake fails, and would fail again.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(4) {
            let mut stream = stream.unwrap();
            let _ = std::io::Write::write_all(&mut stream, b"HTTP/1.1 400 Bad Request\r\n\r\n");
        }
    });
    let server = TestServer::start();
    let mut s = setup();
    let endpoint = Endpoint {
        url: format!("https://127.0.0.1:{port}/import"),
        ..endpoint(&server)
    };
    let (result, _) = run(&endpoint, batches(s.dir.path(), &["[1]"]), &mut s.journal);
    let d = &result.unwrap()[0];
    let Verdict::Refused { status, reason } = &d.verdict else {
        panic!("{d:?}")
    };
    assert_eq!(*status, None);
    assert!(reason.contains("TLS"), "{reason}");
    assert_eq!(d.attempts, 1);
}

#[test]
fn requests_overlap_up_to_the_concurrency() {
    let server = TestServer::start();
    server.set_default(Reply::status(200).delay(Duration::from_millis(300)));
    let mut s = setup();
    let endpoint = Endpoint {
        concurrency: 4,
        ..endpoint(&server)
    };
    let started = Instant::now();
    let (result, done) = run(
        &endpoint,
        batches(s.dir.path(), &["[1]", "[2]", "[3]", "[4]"]),
        &mut s.journal,
    );
    let elapsed = started.elapsed();
    let deliveries = result.unwrap();
    // One at a time would take 1.2 s.
    assert!(elapsed < Duration::from_millis(1000), "{elapsed:?}");
    assert!(deliveries.iter().all(Delivery::is_acknowledged));
    // Batch order whatever the order they finished in.
    let ids: Vec<u64> = deliveries.iter().map(|d| d.id).collect();
    assert_eq!(ids, [1, 2, 3, 4]);
    let mut heard = done.clone();
    heard.sort_unstable();
    assert_eq!(heard, [1, 2, 3, 4]);
    assert_eq!(s.journal.len(), 4);
}

#[test]
fn the_rate_limit_spaces_requests_across_workers() {
    let server = TestServer::start();
    let mut s = setup();
    let endpoint = Endpoint {
        concurrency: 4,
        rate_limit: Some(10.0),
        ..endpoint(&server)
    };
    let (result, _) = run(
        &endpoint,
        batches(s.dir.path(), &["[1]", "[2]", "[3]", "[4]"]),
        &mut s.journal,
    );
    assert!(result.unwrap().iter().all(Delivery::is_acknowledged));
    let mut at: Vec<Instant> = server.requests().iter().map(|r| r.at).collect();
    at.sort_unstable();
    // Four requests at 10 per second: three intervals of 100 ms.
    let span = at[3] - at[0];
    assert!(span >= Duration::from_millis(250), "{span:?}");
}

#[test]
fn a_resumed_delivery_sends_nothing_already_acknowledged() {
    let server = TestServer::start();
    server.push(Reply::status(200));
    server.push(Reply::status(422).body("invalid"));
    let mut s = setup();
    let path = s.dir.path().join("deliveries.journal");
    let endpoint = endpoint(&server);
    let (first, _) = run(
        &endpoint,
        batches(s.dir.path(), &["[1]", "[2]"]),
        &mut s.journal,
    );
    let first = first.unwrap();
    assert!(first[0].is_acknowledged() && !first[1].is_acknowledged());
    assert_eq!(server.requests().len(), 2);

    // A new process: the journal read back from disk.
    let mut journal = Journal::open(&path).unwrap();
    assert_eq!(journal.len(), 1);
    let entry = journal.entry(&first[0].key).unwrap();
    assert_eq!((entry.id, entry.status), (1, 200));
    let (second, done) = run(
        &endpoint,
        batches(s.dir.path(), &["[1]", "[2]"]),
        &mut journal,
    );
    let second = second.unwrap();
    assert_eq!(second[0].verdict, Verdict::AlreadyAcknowledged);
    assert_eq!(second[0].attempts, 0);
    assert_eq!(second[1].verdict, Verdict::Acknowledged { status: 200 });
    assert_eq!(done, [1, 2]);
    let requests = server.requests();
    assert_eq!(requests.len(), 3);
    assert_eq!(requests[2].body, b"[2]");

    // And once everything is acknowledged, nothing at all is sent.
    let mut journal = Journal::open(&path).unwrap();
    let (third, _) = run(
        &endpoint,
        batches(s.dir.path(), &["[1]", "[2]"]),
        &mut journal,
    );
    assert!(
        third
            .unwrap()
            .iter()
            .all(|d| d.verdict == Verdict::AlreadyAcknowledged)
    );
    assert_eq!(server.requests().len(), 3);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("# rowferry delivery journal"), "{text}");
    assert_eq!(text.lines().count(), 3, "{text}");
    assert!(!text.contains("s3cr3t"));
}

#[test]
fn a_torn_last_journal_line_is_ignored_and_cut_off() {
    let server = TestServer::start();
    let s = setup();
    let path = s.dir.path().join("deliveries.journal");
    let sent = batches(s.dir.path(), &["[1]", "[2]"]);
    let whole = format!("# header\n{} 1 200 1700000000000\n", sent[0].key);
    // A kill in the middle of appending batch 2's line.
    let torn = format!("{whole}{} 2 2", &sent[1].key);
    std::fs::write(&path, &torn).unwrap();
    let mut journal = Journal::open(&path).unwrap();
    assert_eq!(journal.len(), 1);
    assert!(journal.torn_bytes() > 0);
    assert!(!journal.is_acknowledged(&sent[1].key));

    let (result, _) = run(&endpoint(&server), sent.clone(), &mut journal);
    let deliveries = result.unwrap();
    assert_eq!(deliveries[0].verdict, Verdict::AlreadyAcknowledged);
    assert_eq!(deliveries[1].verdict, Verdict::Acknowledged { status: 200 });
    assert_eq!(server.requests().len(), 1);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with(&whole), "{text}");
    assert_eq!(text.lines().count(), 3, "{text}");
    let reopened = Journal::open(&path).unwrap();
    assert_eq!((reopened.len(), reopened.torn_bytes()), (2, 0));
}

#[test]
fn a_damaged_journal_line_is_an_error_not_a_guess() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("deliveries.journal");
    std::fs::write(&path, "# header\nabc 1 200 5\nnot a record\nabd 2 200 6\n").unwrap();
    let err = Journal::open(&path).unwrap_err().to_string();
    assert!(
        err.contains("line 3") && err.contains("deliveries.journal"),
        "{err}"
    );
}

#[test]
fn an_unwritable_journal_stops_the_delivery() {
    let server = TestServer::start();
    let dir = TempDir::new().unwrap();
    let mut journal = Journal::open(&dir.path().join("missing/deliveries.journal")).unwrap();
    let endpoint = Endpoint {
        concurrency: 1,
        ..endpoint(&server)
    };
    let (result, done) = run(
        &endpoint,
        batches(dir.path(), &["[1]", "[2]", "[3]"]),
        &mut journal,
    );
    let err = result.unwrap_err();
    assert!(matches!(err, DeliverError::JournalWrite { .. }), "{err}");
    assert!(err.to_string().contains("resume"), "{err}");
    assert!(done.is_empty());
    // The first acknowledgement could not be journalled: no further batch was started.
    assert!(server.requests().len() < 3);
}

#[test]
fn an_unreadable_body_stops_the_delivery() {
    let server = TestServer::start();
    let mut s = setup();
    let mut sent = batches(s.dir.path(), &["[1]"]);
    sent[0].body = s.dir.path().join("gone.json");
    let (result, _) = run(&endpoint(&server), sent, &mut s.journal);
    let err = result.unwrap_err();
    assert!(
        matches!(err, DeliverError::BodyUnreadable { id: 1, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("gone.json"));
    assert!(server.requests().is_empty());
}

#[test]
fn duplicate_keys_and_bad_endpoints_stop_before_anything_is_sent() {
    let server = TestServer::start();
    let mut s = setup();
    let mut sent = batches(s.dir.path(), &["[1]", "[2]"]);
    sent[1].key = sent[0].key.clone();
    let (result, _) = run(&endpoint(&server), sent, &mut s.journal);
    assert!(matches!(
        result.unwrap_err(),
        DeliverError::DuplicateKey {
            first: 1,
            second: 2,
            ..
        }
    ));
    for bad in [
        Endpoint {
            concurrency: 0,
            ..endpoint(&server)
        },
        Endpoint {
            rate_limit: Some(0.0),
            ..endpoint(&server)
        },
        Endpoint {
            headers: vec![("Idempotency-Key".into(), "mine".into())],
            ..endpoint(&server)
        },
        Endpoint::new("ftp://127.0.0.1/x"),
    ] {
        let (result, _) = run(&bad, batches(s.dir.path(), &["[1]"]), &mut s.journal);
        assert!(
            matches!(result, Err(DeliverError::Endpoint { .. })),
            "{bad:?}"
        );
    }
    assert!(server.requests().is_empty());
}

#[test]
fn header_values_never_show() {
    let server = TestServer::start();
    // The server echoes the token back in its refusal.
    server.push(Reply::status(401).body(format!("invalid token {SECRET}")));
    let mut s = setup();
    let endpoint = Endpoint {
        url: server.url("/import?token=url-s3cr3t&page=1"),
        ..endpoint(&server)
    };
    let debug = format!("{endpoint:?}");
    assert!(!debug.contains("s3cr3t"), "{debug}");
    assert!(
        debug.contains("Authorization: ***") && debug.contains("token=***"),
        "{debug}"
    );

    let (result, _) = run(&endpoint, batches(s.dir.path(), &["[1]"]), &mut s.journal);
    let d = &result.unwrap()[0];
    let shown = format!("{d:?}");
    assert!(!shown.contains("s3cr3t"), "{shown}");
    assert!(d.excerpt.contains("invalid token ***"), "{}", d.excerpt);

    let bad = Endpoint {
        headers: vec![("X-Key".into(), "s3cr3t\nvalue".into())],
        ..endpoint.clone()
    };
    let err = bad.check().unwrap_err();
    for text in [err.to_string(), format!("{err:?}")] {
        assert!(!text.contains("s3cr3t") && text.contains("X-Key"), "{text}");
    }

    let headers = vec![("Authorization".to_owned(), SECRET.to_owned())];
    server.push(Reply::status(403).body(format!("no: {SECRET}")));
    let err = fetch_records(
        &server.url("/records"),
        &headers,
        None,
        Duration::from_secs(2),
    )
    .unwrap_err();
    for text in [err.to_string(), format!("{err:?}")] {
        assert!(!text.contains("s3cr3t") && text.contains("403"), "{text}");
    }
}

#[test]
fn idempotency_keys_are_stable_and_scoped() {
    let a = idempotency_key("customers/1", b"[1]");
    assert_eq!(a, idempotency_key("customers/1", b"[1]"));
    assert_eq!(a.len(), 64);
    assert_ne!(a, idempotency_key("customers/2", b"[1]"));
    assert_ne!(a, idempotency_key("customers/1", b"[2]"));
    // The zero byte keeps scope and body apart.
    assert_ne!(idempotency_key("ab", b"c"), idempotency_key("a", b"bc"));
    // sha256 of "s\0b".
    assert_eq!(
        idempotency_key("s", b"b"),
        "6b75b146daff034d6126c349ec69b65b52bbfeee17b29ab0550eeea11e259980"
    );
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("big.json");
    let body = "x".repeat(200_000);
    std::fs::write(&path, &body).unwrap();
    assert_eq!(
        idempotency_key_of_file("t/1", &path).unwrap(),
        idempotency_key("t/1", body.as_bytes())
    );
}

#[test]
fn records_are_read_from_an_array_a_pointer_or_ndjson() {
    let server = TestServer::start();
    server.route("/array", [Reply::json(r#"[{"id": 1}, {"id": 2}]"#)]);
    server.route(
        "/wrapped",
        [Reply::json(
            r#"{"meta": {}, "data": {"items": [{"id": 3}]}}"#,
        )],
    );
    server.route(
        "/ndjson",
        [Reply::status(200)
            .header("Content-Type", "application/x-ndjson")
            .body("{\"id\": 4}\n\n{\"id\": 5}\n")],
    );
    server.route("/shaped", [Reply::json("{\"id\": 6}\r\n{\"id\": 7}\r\n")]);
    let headers = vec![("X-Api-Key".to_owned(), "k-123".to_owned())];
    let ids = |path: &str, pointer: Option<&str>| -> Vec<i64> {
        fetch_records(&server.url(path), &headers, pointer, Duration::from_secs(2))
            .unwrap()
            .iter()
            .map(|r| r["id"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(ids("/array", None), [1, 2]);
    assert_eq!(ids("/wrapped", Some("/data/items")), [3]);
    assert_eq!(ids("/ndjson", None), [4, 5]);
    assert_eq!(ids("/shaped", None), [6, 7]);
    let requests = server.requests();
    assert!(requests.iter().all(|r| r.method == "GET"));
    assert!(
        requests
            .iter()
            .all(|r| r.header("x-api-key") == Some("k-123"))
    );

    let err = fetch_records(
        &server.url("/wrapped"),
        &headers,
        None,
        Duration::from_secs(2),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("`/data`") || err.contains("records_pointer"),
        "{err}"
    );
}

#[test]
fn records_follow_next_links_across_pages() {
    let server = TestServer::start();
    let pages = [r#"[{"n": 1}, {"n": 2}]"#, r#"[{"n": 3}]"#, r#"[{"n": 4}]"#];
    for absolute in [true, false] {
        let first = server.serve_pages(&pages, absolute);
        let records = fetch_records(&first, &[], None, Duration::from_secs(2)).unwrap();
        let n: Vec<i64> = records.iter().map(|r| r["n"].as_i64().unwrap()).collect();
        assert_eq!(n, [1, 2, 3, 4], "absolute links: {absolute}");
    }
    let targets: Vec<String> = server.requests().into_iter().map(|r| r.target).collect();
    assert_eq!(targets[..3], ["/pages/1", "/pages/2", "/pages/3"]);

    // A `next` link back to a page already read stops with an error, not a loop.
    server.route(
        "/loop",
        [Reply::json("[]").header("Link", "</loop>; rel=\"next\"")],
    );
    let err = fetch_records(&server.url("/loop"), &[], None, Duration::from_secs(2)).unwrap_err();
    assert!(matches!(err, DeliverError::Paging { .. }), "{err}");
    assert!(err.to_string().contains("circle"), "{err}");
}

#[test]
fn a_notification_posts_json_and_reports_a_refusal() {
    let server = TestServer::start();
    let payload = json!({"text": "rowferry: 1,204 rows delivered, 3 refused"});
    let status = notify(
        &server.url("/services/T0/B0/hook"),
        &payload,
        Duration::from_secs(2),
    )
    .unwrap();
    assert_eq!(status, 200);
    let r = &server.requests()[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.header("content-type"), Some("application/json"));
    let sent: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(sent, payload);

    server.push(Reply::status(404).body("no_service"));
    let err = notify(
        &server.url("/services/T0/B0/hook"),
        &payload,
        Duration::from_secs(2),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("404") && err.contains("no_service"), "{err}");
    assert!(
        !err.contains("/services"),
        "a webhook's path is its secret: {err}"
    );
}
