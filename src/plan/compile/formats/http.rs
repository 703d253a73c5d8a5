//! HTTP targets (`format = "http"`): the target's batch files — JSON, or NDJSON with `body =
//! "ndjson"` — written like any JSON target's and committed, then sent to `url`, one request per
//! file. `method`, `headers` (values are secrets: never shown), `timeout`, `max_retries`,
//! `rate_limit` and `concurrency` say how. Without a `path` the files go to
//! `_outbox/NAME/batch-{batch}.json`; `batch_size` (records per request) defaults to 1,000.

use std::ops::Range;
use std::time::Duration;

use toml::Spanned;

use super::super::Compiler;
use crate::plan::diagnostic::Diagnostic;
use crate::plan::raw::RawTarget;
use crate::plan::{Format, Http, Secret};

/// Records per request when `batch_size` is not given.
pub const DEFAULT_BATCH: u64 = 1000;

impl Compiler {
    /// Whether `t` is sent to an API (`format = "http"`).
    pub(in crate::plan::compile) fn is_http(t: &RawTarget) -> bool {
        t.format
            .as_ref()
            .is_some_and(|f| f.get_ref().eq_ignore_ascii_case("http"))
    }

    /// An HTTP target's body format: JSON (default) or NDJSON.
    pub(in crate::plan::compile) fn http_body(&mut self, t: &RawTarget) -> Option<Format> {
        let Some(b) = &t.body else {
            return Some(Format::Json);
        };
        match b.get_ref().to_ascii_lowercase().as_str() {
            "json" => Some(Format::Json),
            "ndjson" | "jsonl" => Some(Format::Ndjson),
            other => {
                self.err(
                    Diagnostic::at(
                        b.span(),
                        format!("`body` is `json` or `ndjson`, not `{other}`"),
                    )
                    .label("unknown body")
                    .suggest(other, ["json", "ndjson"]),
                );
                None
            }
        }
    }

    /// The default path of an HTTP target's files.
    pub(in crate::plan::compile) fn http_path(name: &str, body: Option<Format>) -> String {
        let ext = match body {
            Some(Format::Ndjson) => "ndjson",
            _ => "json",
        };
        format!("_outbox/{name}/batch-{{batch}}.{ext}")
    }

    /// An HTTP target's endpoint; for another format, each HTTP key given is a problem.
    pub(in crate::plan::compile) fn http(
        &mut self,
        t: &RawTarget,
        name: &str,
        span: Range<usize>,
    ) -> Option<Http> {
        if !Self::is_http(t) {
            self.http_only(t);
            return None;
        }
        let Some(url) = &t.url else {
            self.err(
                Diagnostic::at(span, format!("HTTP target `{name}` has no `url`"))
                    .label("no API")
                    .help("add url = \"https://api.example.com/v1/import\" (a token goes in `headers`, e.g. headers = { Authorization = \"Bearer ${API_TOKEN}\" })"),
            );
            return None;
        };
        let shown = crate::deliver::mask_url(url.get_ref());
        if let Err(problem) = crate::deliver::check_url(url.get_ref()) {
            self.err(
                Diagnostic::at(
                    url.span(),
                    format!("`url` of target `{name}` cannot be used: {problem}"),
                )
                .label("not an http(s) URL")
                .help("write e.g. url = \"https://api.example.com/v1/import\""),
            );
        }
        let method = self.http_method(t);
        let headers = self.http_headers(t);
        let timeout = match &t.timeout {
            Some(d) => self.duration(d),
            None => Some(Duration::from_secs(30)),
        };
        let max_retries = self.count(t.max_retries.as_ref(), "max_retries", 0, 5);
        let concurrency = self.count(t.concurrency.as_ref(), "concurrency", 1, 1);
        let rate_limit = match &t.rate_limit {
            Some(r) if r.get_ref().is_finite() && *r.get_ref() > 0.0 => Some(Some(*r.get_ref())),
            Some(r) => {
                self.err(
                    Diagnostic::at(r.span(), "`rate_limit` is requests per second: more than 0")
                        .label("not a rate")
                        .help("e.g. rate_limit = 5, or leave it out for no limit"),
                );
                None
            }
            None => Some(None),
        };
        Some(Http {
            url: Secret::new(url.get_ref().clone()),
            shown,
            method: method?,
            headers: headers?,
            timeout: timeout?,
            max_retries: u32::try_from(max_retries?).ok()?,
            rate_limit: rate_limit?,
            concurrency: usize::try_from(concurrency?).ok()?,
        })
    }

    fn http_method(&mut self, t: &RawTarget) -> Option<String> {
        let Some(m) = &t.method else {
            return Some("POST".into());
        };
        let upper = m.get_ref().to_ascii_uppercase();
        if ["POST", "PUT", "PATCH"].contains(&upper.as_str()) {
            return Some(upper);
        }
        self.err(
            Diagnostic::at(
                m.span(),
                format!("`method` is POST, PUT or PATCH, not `{}`", m.get_ref()),
            )
            .label("unknown method")
            .suggest(m.get_ref(), ["POST", "PUT", "PATCH"]),
        );
        None
    }

    /// `headers`: names checked here, values kept secret (a problem never shows one).
    fn http_headers(&mut self, t: &RawTarget) -> Option<Vec<(String, Secret)>> {
        let Some(h) = &t.headers else {
            return Some(Vec::new());
        };
        let pairs: Vec<(String, String)> = h
            .get_ref()
            .iter()
            .map(|(k, v)| (k.clone(), v.get_ref().clone()))
            .collect();
        if let Err(problem) = crate::deliver::check_headers(&pairs) {
            self.err(
                Diagnostic::at(h.span(), format!("`headers` cannot be sent: {problem}"))
                    .label("bad header")
                    .help("write e.g. headers = { Authorization = \"Bearer ${API_TOKEN}\" }"),
            );
            return None;
        }
        Some(
            pairs
                .into_iter()
                .map(|(k, v)| (k, Secret::new(v)))
                .collect(),
        )
    }

    /// A whole number `key` at least `min` (default `default`).
    fn count(
        &mut self,
        v: Option<&Spanned<i64>>,
        key: &str,
        min: i64,
        default: i64,
    ) -> Option<i64> {
        let Some(v) = v else {
            return Some(default);
        };
        if *v.get_ref() >= min && *v.get_ref() <= 10_000 {
            return Some(*v.get_ref());
        }
        self.err(
            Diagnostic::at(
                v.span(),
                format!("`{key}` is a whole number from {min} to 10000"),
            )
            .label("out of range"),
        );
        None
    }

    /// `"30s"`, `"500ms"`, `"2m"`: a duration above zero (an HTTP target's or an API lookup's
    /// `timeout`).
    pub(in crate::plan::compile) fn duration(&mut self, d: &Spanned<String>) -> Option<Duration> {
        let text = d.get_ref().trim();
        let split = text
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        let value: Option<f64> = number.parse().ok();
        let seconds = match (value, unit.trim()) {
            (Some(v), "ms") => Some(v / 1000.0),
            (Some(v), "s" | "") => Some(v),
            (Some(v), "m" | "min") => Some(v * 60.0),
            _ => None,
        };
        match seconds {
            Some(s) if s > 0.0 && s <= 3600.0 => Some(Duration::from_secs_f64(s)),
            _ => {
                self.err(
                    Diagnostic::at(d.span(), format!("`{text}` is not a duration"))
                        .label("not a duration")
                        .help("write e.g. \"30s\", \"500ms\" or \"2m\" (at most an hour)"),
                );
                None
            }
        }
    }

    /// The keys only HTTP targets read, given to another target.
    fn http_only(&mut self, t: &RawTarget) {
        let spans = [
            ("method", t.method.as_ref().map(|v| v.span())),
            ("headers", t.headers.as_ref().map(|v| v.span())),
            ("body", t.body.as_ref().map(|v| v.span())),
            ("timeout", t.timeout.as_ref().map(|v| v.span())),
            ("max_retries", t.max_retries.as_ref().map(|v| v.span())),
            ("rate_limit", t.rate_limit.as_ref().map(|v| v.span())),
            ("concurrency", t.concurrency.as_ref().map(|v| v.span())),
        ];
        self.refuse_keys(
            &spans,
            |key| format!("`{key}` applies to HTTP targets only"),
            "not used by this format",
            Some("an HTTP target sets format = \"http\" and a `url`"),
        );
    }
}
