//! `_report/report.html` in a real browser: headless Chromium renders the page a `validate`
//! wrote, and the rendered text must show the counts, the codes, the targets and the user's
//! values as text (a `<script>` value is shown, never run). Skipped without Chromium, except
//! under CI, where it must run (`.ci/run` installs the Debian package `chromium`).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::Job;

const MAPPING: &str = r#"[source]
path = "data.csv"
structure = "s"

[structures.s.fields]
n = { type = "integer" }
name = { required = true }

[targets.big]
path = "big.csv"
when = "n > 1"
columns.name = "name"

[targets.small]
path = "small.csv"
when = "n < 3"
columns.name = "name"

[run]
unrouted = "count"
"#;

const DATA: &str = "n,name\n1,a\n2,b\n<script>alert(1)</script>,c\n3,\n5,e\n";

/// The Chromium binary, or `None` (the test is skipped) outside CI.
fn chromium() -> Option<PathBuf> {
    for candidate in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] {
        if Path::new(candidate).exists() {
            return Some(PathBuf::from(candidate));
        }
    }
    if std::env::var_os("CI").is_some() {
        panic!(
            "chromium is not installed: under CI the browser test must run (`apt-get install -y chromium`, done by .ci/run)"
        );
    }
    eprintln!("skipped: no chromium (`apt-get install -y chromium` to run the browser test)");
    None
}

fn headless(chromium: &Path, profile: &Path) -> Command {
    let mut c = Command::new(chromium);
    c.args([
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-extensions",
        "--disable-dev-shm-usage",
        "--enable-logging=stderr",
        "--v=0",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    c
}

/// The page's text as rendered: the DOM after layout with its tags stripped, entities decoded.
fn rendered_text(dom: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in dom.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    let out = out
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn chromium_renders_the_report_offline() {
    let job = Job::new().mapping(MAPPING).input("data.csv", DATA);
    let run = job.run("validate");
    assert_eq!(run.code, 1, "a validate with rejects: {}", run.stderr);
    let page = job.out_dir().join("_report/report.html");
    let html = std::fs::read_to_string(&page).expect("validate writes report.html");
    assert!(!html.contains("<script>alert"), "the value is escaped");
    let Some(chromium) = chromium() else { return };

    let profile = tempfile::tempdir().expect("a profile folder");
    let url = format!("file://{}", page.display());
    let dump = headless(&chromium, profile.path())
        .arg("--dump-dom")
        .arg(&url)
        .output()
        .expect("chromium runs");
    let dom = String::from_utf8_lossy(&dump.stdout);
    let log = String::from_utf8_lossy(&dump.stderr);
    assert!(dump.status.success(), "chromium failed: {log}");
    for line in log.lines() {
        assert!(
            !line.contains("Uncaught") && !line.contains(":CONSOLE"),
            "the page logs to the console: {line}"
        );
    }
    let text = rendered_text(&dom);
    // 5 rows read: two rejected (a value that is not an integer, an empty name).
    for want in [
        "5 read = 0 skipped + 3 accepted + 2 rejected",
        "3 accepted = 3 routed + 0 unrouted",
        "type-mismatch",
        "required-missing",
        "big",
        "small",
        "<script>alert(1)</script>",
        "data.csv",
        "Every row is accounted for.",
    ] {
        assert!(text.contains(want), "`{want}` is not on the page: {text}");
    }
    // The value became text: the rendered DOM holds no script element the page did not have.
    assert!(!dom.contains("<script"), "a script element was rendered");

    let shot = profile.path().join("report.png");
    let out = headless(&chromium, profile.path())
        .arg(format!("--screenshot={}", shot.display()))
        .arg("--window-size=1200,2000")
        .arg(&url)
        .output()
        .expect("chromium runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let png = std::fs::read(&shot).expect("chromium wrote the screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    assert!(
        png.len() > 20_000,
        "a page with content: {} bytes",
        png.len()
    );
}
