//! `[notify]`: one `POST` to a webhook when a run ends, against a server the test starts on
//! 127.0.0.1 — what it says, when it is sent, and that a failed notification changes nothing
//! and shows the webhook only by its origin.

use serde_json::Value;

use crate::util::http_server::{Recorded, Reply, TestServer};
use crate::util::{Job, Outcome};

/// The webhook's path, which is its secret, as Slack's is.
const PATH: &str = "/services/T0NOTIFY/B0NOTIFY/s3cretW3bhookT0ken";
const SECRET: &str = "s3cretW3bhookT0ken";

/// Three rows (and a blank line) into two targets; `-2` is a warning, not a reject.
const CLEAN: &str = "sku,qty,country\nA,1,FR\nB,-2,DE\n\nC,3,FR\n";
/// `x` is not an integer: row 3 is rejected.
const ONE_REJECT: &str = "sku,qty,country\nA,1,FR\nB,x,DE\nC,3,FR\n";

fn mapping(notify: &str) -> String {
    format!(
        r#"[source]
path = "data.csv"
structure = "s"

[structures.s.fields]
sku = {{ type = "string", required = true }}
qty = {{ type = "integer", min = 0, severity = {{ range = "warning" }} }}
country = {{ type = "string" }}

[targets.fr]
path = "fr.csv"
when = "country = 'FR'"

[targets.all]
path = "all.csv"

[notify]
url = "${{SLACK_WEBHOOK_URL}}"
{notify}
"#
    )
}

/// A job posting to `server`'s secret path.
fn job(server: &TestServer, notify: &str, data: &str) -> Job {
    Job::new()
        .mapping(mapping(notify))
        .input("data.csv", data)
        .env("SLACK_WEBHOOK_URL", &server.url(PATH))
}

/// The one request the webhook received, and its JSON body.
fn only_post(server: &TestServer) -> (Recorded, Value) {
    let requests = server.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    let request = requests.into_iter().next().unwrap();
    let body = serde_json::from_slice(&request.body).expect("the body is JSON");
    (request, body)
}

/// The webhook's secret is in no output file and in neither stream.
fn assert_secret_nowhere(res: &Outcome) {
    assert!(!res.stdout.contains(SECRET), "{}", res.stdout);
    assert!(!res.stderr.contains(SECRET), "{}", res.stderr);
    for (path, bytes) in res.dir.tree() {
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(SECRET), "{path} holds the webhook's path");
        assert!(
            !text.contains("T0NOTIFY"),
            "{path} holds the webhook's path"
        );
    }
}

fn text(body: &Value) -> &str {
    body["text"].as_str().expect("a text")
}

#[test]
fn a_clean_run_posts_once_with_its_counts_targets_issues_and_report() {
    let server = TestServer::start();
    let job = job(&server, "", CLEAN).loud();
    let res = job.run("run");
    assert_eq!(res.code, 0, "{}", res.stderr);
    assert_eq!(res.stderr, "");
    let (request, body) = only_post(&server);
    assert_eq!(request.method, "POST");
    assert_eq!(request.path(), PATH);
    assert_eq!(request.header("content-type"), Some("application/json"));

    let report_dir = res.out_dir().join("_report");
    let text = text(&body);
    assert!(
        text.starts_with("*rowferry run* `mapping`: clean"),
        "{text}"
    );
    assert!(
        text.contains("Rows: 4 read = 1 skipped + 3 accepted + 0 rejected"),
        "{text}"
    );
    assert!(
        text.contains("Targets: `fr` 2 rows, `all` 3 rows"),
        "{text}"
    );
    assert!(
        text.contains("Top issues: `out-of-range` 1 warning"),
        "{text}"
    );
    assert!(
        text.contains(&format!("Report: {}", report_dir.display())),
        "{text}"
    );

    let fields = &body["rowferry"];
    assert_eq!(fields["command"], "run");
    assert_eq!(fields["mapping"], "mapping");
    assert_eq!(fields["outcome"], "clean");
    assert_eq!(fields["exit_code"], 0);
    assert_eq!(fields["reason"], Value::Null);
    assert_eq!(
        fields["rows"],
        serde_json::json!({"read": 4, "skipped": 1, "accepted": 3, "rejected": 0, "routed": 3, "unrouted": 0})
    );
    assert_eq!(fields["conservation"]["holds"], true);
    assert_eq!(
        fields["targets"],
        serde_json::json!([
            {"name": "fr", "rows": 2, "written": true},
            {"name": "all", "rows": 3, "written": true}
        ])
    );
    assert_eq!(
        fields["issues"],
        serde_json::json!([{"code": "out-of-range", "errors": 0, "warnings": 1}])
    );
    assert_eq!(fields["report"], report_dir.display().to_string());
    // The same counts as the report's.
    assert_eq!(fields["rows"]["read"], res.report()["rows"]["read"]);

    // The summary says where it was posted, by origin only.
    let origin = format!("http://127.0.0.1:{}/…", server.port());
    assert!(
        res.stdout.contains(&format!("notified {origin} (200)")),
        "{}",
        res.stdout
    );
    assert_secret_nowhere(&res);
}

#[test]
fn on_failure_is_silent_on_a_clean_run_and_posts_when_a_threshold_stops_the_run() {
    let server = TestServer::start();
    let job = job(&server, "on = \"failure\"", CLEAN).args(["--set", "run.max_errors=0"]);
    let res = job.run("run");
    assert_eq!(res.code, 0, "{}", res.stderr);
    assert!(server.requests().is_empty());

    job.write("data.csv", ONE_REJECT);
    let res = job.run("run");
    assert_eq!(res.code, 2, "{}", res.stderr);
    let (_, body) = only_post(&server);
    let fields = &body["rowferry"];
    assert_eq!(fields["outcome"], "stopped");
    assert_eq!(fields["exit_code"], 2);
    let reason = fields["reason"].as_str().unwrap();
    assert!(reason.contains("`max_errors = 0`"), "{reason}");
    assert_eq!(res.report()["stop_reason"], reason);
    assert_eq!(fields["targets"][0]["written"], false);
    let text = text(&body);
    assert!(text.contains("stopped by a threshold: 1 rejected rows exceed `max_errors = 0`"));
    assert!(text.contains("no target was written"), "{text}");
    assert!(text.contains("Targets (not written):"), "{text}");
    assert!(
        text.contains("Top issues: `type-mismatch` 1 error"),
        "{text}"
    );
    assert_secret_nowhere(&res);
}

#[test]
fn on_rejects_posts_when_a_row_is_rejected_and_not_on_warnings_alone() {
    let server = TestServer::start();
    let job = job(&server, "on = \"rejects\"", CLEAN);
    let res = job.run("run");
    assert_eq!(res.code, 0, "{}", res.stderr);
    assert!(server.requests().is_empty(), "a warning is no reject");

    job.write("data.csv", ONE_REJECT);
    let res = job.run("run");
    assert_eq!(res.code, 1, "{}", res.stderr);
    let (_, body) = only_post(&server);
    let fields = &body["rowferry"];
    assert_eq!(fields["outcome"], "rejects");
    assert_eq!(fields["exit_code"], 1);
    assert_eq!(fields["rows"]["rejected"], 1);
    assert_eq!(fields["issues"][0]["code"], "type-mismatch");
    assert_eq!(fields["issues"][0]["errors"], 1);
    assert_eq!(
        fields["targets"][1],
        serde_json::json!({"name": "all", "rows": 2, "written": true})
    );
    let text = text(&body);
    assert!(
        text.contains("completed with rejects: 1 row rejected, the rest written"),
        "{text}"
    );
    assert!(
        text.contains("Rows: 3 read = 0 skipped + 2 accepted + 1 rejected"),
        "{text}"
    );
}

#[test]
fn a_run_that_fails_with_an_error_posts_the_error_on_failure() {
    let server = TestServer::start();
    // The plan is valid; the run fails when it opens the input.
    let job = job(&server, "on = \"failure\"", CLEAN).args(["--set", "source.path=gone.csv"]);
    let res = job.run("run");
    assert_eq!(res.code, 2, "{}", res.stderr);
    assert!(res.stderr.contains("gone.csv"), "{}", res.stderr);
    let (_, body) = only_post(&server);
    let fields = &body["rowferry"];
    assert_eq!(fields["outcome"], "failed");
    assert_eq!(fields["exit_code"], 2);
    assert_eq!(fields["rows"], Value::Null);
    assert_eq!(fields["report"], Value::Null);
    assert_eq!(fields["targets"], serde_json::json!([]));
    let reason = fields["reason"].as_str().unwrap();
    assert!(reason.contains("gone.csv"), "{reason}");
    assert!(!reason.contains('\n'), "{reason}");
    assert!(
        res.stderr.contains(reason.trim_end_matches('.')),
        "{reason}\n{}",
        res.stderr
    );
    let text = text(&body);
    assert!(
        text.starts_with("*rowferry run* `mapping`: failed: "),
        "{text}"
    );
    assert!(text.contains("Nothing was written"), "{text}");
    assert!(!res.exists("out/_report/report.json"));
}

#[test]
fn a_mapping_error_posts_nothing() {
    // Without a plan there is no webhook to tell: the error is on stderr as always.
    let server = TestServer::start();
    let job = job(&server, "on = \"always\"\nfoo = 1", CLEAN);
    let res = job.run("run");
    assert_eq!(res.code, 2);
    assert!(
        res.stderr.contains("unknown key `foo` in `[notify]`"),
        "{}",
        res.stderr
    );
    assert!(server.requests().is_empty());
}

#[test]
fn a_webhook_answering_500_changes_neither_the_exit_code_nor_the_outputs() {
    let good = TestServer::start();
    let job = job(&good, "", ONE_REJECT);
    let reference = job.run("run");
    assert_eq!(reference.code, 1, "{}", reference.stderr);
    assert_eq!(reference.stderr, "");
    let targets = job.targets();
    let report = job.report();

    let failing = TestServer::start();
    failing.set_default(Reply::status(500).body("no_service"));
    let mut command = job.command("run");
    command.env("SLACK_WEBHOOK_URL", failing.url(PATH));
    let res = job.output(&mut command);
    assert_eq!(res.code, 1, "{}", res.stderr);
    assert_eq!(failing.requests().len(), 1, "one attempt, no retry");
    assert_eq!(res.stdout, "");
    assert_eq!(
        res.stderr,
        format!(
            "warning: the `[notify]` webhook was not told how the run ended: \
             `http://127.0.0.1:{}/…` answered 500: no_service. The run's outputs and exit code \
             are unchanged\n",
            failing.port()
        )
    );
    assert_eq!(job.targets(), targets);
    let again = job.report();
    for key in [
        "rows",
        "conservation",
        "issues",
        "targets",
        "overrides",
        "status",
    ] {
        assert_eq!(again[key], report[key], "{key}");
    }
    assert_secret_nowhere(&res);
}

#[test]
fn a_closed_port_is_a_warning_and_the_run_still_succeeds() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}{PATH}");
    let job = Job::new()
        .mapping(mapping("timeout = \"2s\""))
        .input("data.csv", CLEAN)
        .env("SLACK_WEBHOOK_URL", &url);
    let res = job.run("run");
    assert_eq!(res.code, 0, "{}", res.stderr);
    assert_eq!(
        res.output("all.csv"),
        "sku,qty,country\nA,1,FR\nB,-2,DE\nC,3,FR\n"
    );
    assert_eq!(res.report()["status"], "completed");
    let warning = format!(
        "warning: the `[notify]` webhook was not told how the run ended: the request to \
         `http://127.0.0.1:{port}/…` failed: "
    );
    assert!(res.stderr.starts_with(&warning), "{}", res.stderr);
    assert_eq!(res.stderr.lines().count(), 1, "{}", res.stderr);
    assert_secret_nowhere(&res);
}

#[test]
fn a_webhook_set_on_the_command_line_is_concealed_too() {
    let server = TestServer::start();
    let job = Job::new()
        .mapping(mapping("").replace("url = \"${SLACK_WEBHOOK_URL}\"\n", ""))
        .input("data.csv", CLEAN)
        .args(["--set", &format!("notify.url={}", server.url(PATH))]);
    let res = job.run("run");
    assert_eq!(res.code, 0, "{}", res.stderr);
    assert_eq!(server.requests().len(), 1);
    assert_eq!(res.report()["overrides"]["sets"][0], "notify.url=***");
    assert_secret_nowhere(&res);
}

#[test]
fn validate_posts_only_when_the_mapping_asks() {
    let server = TestServer::start();
    let job = job(&server, "", ONE_REJECT);
    let res = job.run("validate");
    assert_eq!(res.code, 1, "{}", res.stderr);
    let res = job.run_with("run", &["--dry-run"]);
    assert_eq!(res.code, 1, "{}", res.stderr);
    assert!(
        server.requests().is_empty(),
        "`commands` is `[\"run\"]` by default"
    );

    let job = job.file(
        "mapping.toml",
        mapping("commands = [\"run\", \"validate\"]"),
    );
    let res = job.run("validate");
    assert_eq!(res.code, 1, "{}", res.stderr);
    let (_, body) = only_post(&server);
    assert_eq!(body["rowferry"]["command"], "validate");
    assert_eq!(body["rowferry"]["outcome"], "rejects");
    assert_eq!(body["rowferry"]["targets"][0]["written"], false);
    assert!(
        text(&body)
            .starts_with("*rowferry validate* `mapping`: completed with rejects: 1 row rejected\n")
    );
    assert!(text(&body).contains("Targets (not written): `fr` 2 rows, `all` 2 rows"));
}

#[test]
fn check_validates_notify_without_posting() {
    let server = TestServer::start();
    let job = job(&server, "on = \"rejects\"\ntimeout = \"1500ms\"", CLEAN);
    let res = job.run("check");
    assert_eq!(res.code, 0, "{}", res.stderr);
    let line = format!(
        "  notify     http://127.0.0.1:{}/… when a `run` fails, is stopped or rejects rows (timeout 1500 ms)",
        server.port()
    );
    assert!(res.stdout.contains(&line), "{}", res.stdout);
    assert!(!res.stdout.contains(SECRET));
    assert!(server.requests().is_empty());
}

#[test]
fn check_reports_a_bad_on_a_url_that_is_not_http_and_a_bad_timeout_together() {
    let job = Job::new()
        .mapping(mapping(
            "on = \"failures\"\ntimeout = \"10\"\ncommands = [\"run\", \"chek\"]\nurls = \"x\"",
        ))
        .env(
            "SLACK_WEBHOOK_URL",
            "ftp://hooks.example/services/T0NOTIFY/s3cretW3bhookT0ken",
        );
    let res = job.run("check");
    assert_eq!(res.code, 2, "{}", res.stdout);
    let err = &res.stderr;
    for expected in [
        "`[notify] url` cannot be posted to: its scheme is `ftp`, not `https` (or `http`)",
        "`on` is `always`, `failure` or `rejects`, not `failures`",
        "did you mean `failure`?",
        "`timeout` is a whole number with a unit, `ms`, `s` or `m`, not `10`",
        "`commands` lists `run` and `validate`, not `chek`",
        "unknown key `urls` in `[notify]`",
        "did you mean `url`?",
        "has 5 problems",
    ] {
        assert!(err.contains(expected), "{expected}\n{err}");
    }
    assert!(!err.contains(SECRET), "{err}");
    assert!(!err.contains("hooks.example"), "{err}");
}

#[test]
fn check_requires_a_url() {
    let res = Job::new()
        .mapping(mapping("").replace("url = \"${SLACK_WEBHOOK_URL}\"\n", ""))
        .run("check");
    assert_eq!(res.code, 2, "{}", res.stdout);
    assert!(
        res.stderr
            .contains("`[notify]` has no `url`: the webhook to post to"),
        "{}",
        res.stderr
    );
}
