//! HTTP delivery: batch bodies a run has already committed, sent to an import API, each
//! acknowledged batch journalled so a resumed delivery sends exactly the batches not yet
//! acknowledged; and the two other conversations rowferry has with HTTP servers, a webhook
//! notification ([`notify`]) and records read from an API for a lookup ([`fetch_records`]).
//!
//! What this module owns:
//! - [`Endpoint`]: where and how to send (URL, method, secret headers, timeout, retries,
//!   backoff, rate limit, concurrency), checked before anything is sent.
//! - [`deliver`]: the engine. Batches whose [`idempotency_key`] is in the [`Journal`] are
//!   skipped; the others are sent by up to `concurrency` worker threads that share one rate
//!   limit. Timeouts, connection errors, `408`, `429` and `5xx` are retried with exponential
//!   backoff and jitter, honouring `Retry-After`; any other `4xx` (or a `3xx`) refuses a batch at
//!   once. A refused batch is a [`Verdict`], not an error: the other batches go on. Only what
//!   stops every batch (an unwritable journal, an unreadable body file, an unusable endpoint) is
//!   a [`DeliverError`].
//! - [`Journal`]: `deliveries.journal`, appended and synced on the calling thread only after the
//!   server's `2xx`.
//! - [`mask_url`]: a URL as it may be shown; [`origin`]: a webhook's, whose path is its secret.
//!
//! Why a batch is never sent twice nor lost: a batch enters the journal only after its `2xx`,
//! and the journal is synced before the batch is reported done. A kill between the `2xx` and
//! the sync leaves the batch unjournalled, so a resumed delivery sends it again: that window is
//! at-least-once, and it is closed by the `Idempotency-Key` header, the same on every retry and
//! every re-run because it is derived from the batch's content, which the import API uses to
//! recognise a batch it already has.
//!
//! Secrets: header values are never written to an error, a log, `Debug` output or a file; an
//! answer's excerpt and a failure's words are scrubbed of them, and URLs are shown through
//! [`mask_url`].
//!
//! Must not know: mappings, rows, formats (a body is a file of bytes with a content type), the
//! pipeline or the command line. HTTPS is rustls (no OpenSSL); `HTTPS_PROXY`, `HTTP_PROXY`,
//! `ALL_PROXY` and `NO_PROXY` are read from the environment.

mod error;
mod fetch;
mod journal;
mod notify;
mod redact;
mod send;

#[cfg(test)]
#[path = "../../tests/util/http_server.rs"]
mod http_server;
#[cfg(test)]
mod tests;

use std::fmt;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use sha2::{Digest, Sha256};

pub use error::DeliverError;
pub use fetch::{MAX_PAGES, fetch_records};
pub use journal::{Entry as JournalEntry, Journal};
pub use notify::notify;
pub use redact::{mask_url, origin};
pub use send::{check_headers, check_url};

/// The HTTP method a batch is sent with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Method {
    #[default]
    Post,
    Put,
    Patch,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How long to wait before retrying: `base`, doubled for each further retry, at most `cap`,
/// then jittered to between half and all of it so that workers do not retry in step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base: Duration::from_millis(500),
            cap: Duration::from_secs(30),
        }
    }
}

/// Where and how batches are sent. `Debug` shows the URL masked and no header value.
#[derive(Clone)]
pub struct Endpoint {
    pub url: String,
    pub method: Method,
    /// Sent with every request. The values are secrets (tokens, keys): never shown anywhere.
    /// `Content-Type`, `Content-Length` and `Idempotency-Key` are rowferry's to set.
    pub headers: Vec<(String, String)>,
    /// The bodies' `Content-Type`, e.g. `application/json` or `application/x-ndjson`.
    pub content_type: String,
    /// The longest wait at any step of an attempt: connecting, the server's answer after the
    /// body is sent, or a silence while the body is sent or the answer read. Not a bound on the
    /// whole attempt, so a large body that keeps moving is never cut.
    pub timeout: Duration,
    /// Retries after the first attempt (so at most `1 + max_retries` attempts).
    pub max_retries: u32,
    pub backoff: Backoff,
    /// Requests per second, every attempt of every worker counted; `None` for no limit.
    pub rate_limit: Option<f64>,
    /// Requests in flight at once (at least 1).
    pub concurrency: usize,
}

impl Endpoint {
    /// An endpoint with the defaults: `POST`, no headers, `application/json`, 30 s timeout,
    /// 5 retries, backoff from 0.5 s to 30 s, no rate limit, one request at a time.
    pub fn new(url: impl Into<String>) -> Endpoint {
        Endpoint {
            url: url.into(),
            method: Method::Post,
            headers: Vec::new(),
            content_type: "application/json".to_owned(),
            timeout: Duration::from_secs(30),
            max_retries: 5,
            backoff: Backoff::default(),
            rate_limit: None,
            concurrency: 1,
        }
    }

    /// Every problem that would make each request fail, found before any is sent.
    pub fn check(&self) -> Result<(), DeliverError> {
        let fail = |problem: String| DeliverError::Endpoint {
            url: mask_url(&self.url),
            problem,
        };
        send::check_url(&self.url).map_err(fail)?;
        send::check_headers(&self.headers).map_err(fail)?;
        if ureq::http::HeaderValue::from_str(&self.content_type).is_err() {
            return Err(fail(format!(
                "the content type `{}` is not a valid header value",
                self.content_type.escape_debug()
            )));
        }
        if self.concurrency == 0 {
            return Err(fail(
                "`concurrency` is 0: at least one request must be in flight".into(),
            ));
        }
        if let Some(rate) = self.rate_limit
            && !(rate.is_finite() && rate > 0.0)
        {
            return Err(fail(format!(
                "`rate_limit` is {rate}: give a positive number of requests per second, or \
                 leave it out for no limit"
            )));
        }
        if self.timeout.is_zero() {
            return Err(fail("`timeout` is 0: give each attempt some time".into()));
        }
        Ok(())
    }
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<String> = self
            .headers
            .iter()
            .map(|(name, _)| format!("{name}: ***"))
            .collect();
        f.debug_struct("Endpoint")
            .field("url", &mask_url(&self.url))
            .field("method", &self.method)
            .field("headers", &headers)
            .field("content_type", &self.content_type)
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .field("backoff", &self.backoff)
            .field("rate_limit", &self.rate_limit)
            .field("concurrency", &self.concurrency)
            .finish()
    }
}

/// One batch to send. Its body is read from `body` when it is sent (and again on each retry):
/// bodies can be large, so none is held in memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outgoing {
    /// The batch number, as the report shows it.
    pub id: u64,
    /// The `Idempotency-Key` ([`idempotency_key`]); also the batch's name in the journal.
    pub key: String,
    pub body: PathBuf,
    pub rows: u64,
}

/// What became of a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The server answered this `2xx`; the batch is in the journal.
    Acknowledged { status: u16 },
    /// The journal already had the batch: it was not sent.
    AlreadyAcknowledged,
    /// The server refused the batch (`status`), or never answered it (`None`), after its
    /// retries; `reason` says what happened in words a user can act on.
    Refused { status: Option<u16>, reason: String },
}

/// The outcome of one batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    pub id: u64,
    pub key: String,
    pub rows: u64,
    pub verdict: Verdict,
    /// Requests made for the batch (0 when already acknowledged).
    pub attempts: u32,
    /// From the first attempt to the verdict, waits included.
    pub millis: u64,
    /// The start of the last answer's body, on one line (empty without an answer).
    pub excerpt: String,
}

impl Delivery {
    pub fn is_acknowledged(&self) -> bool {
        matches!(
            self.verdict,
            Verdict::Acknowledged { .. } | Verdict::AlreadyAcknowledged
        )
    }
}

/// The `Idempotency-Key` of a batch: the SHA-256 (lower-case hex) of `scope`, a zero byte and
/// the body. The same bytes give the same key on every retry and every re-run.
///
/// `scope` must tell apart batches that may hold the same bytes: give it the target's name and
/// the batch number (and the endpoint's URL), otherwise two identical batches would share a key
/// and the server would keep only one of them.
pub fn idempotency_key(scope: &str, body: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(scope.as_bytes());
    hasher.update([0]);
    hasher.update(body);
    crate::plan::hex(&hasher.finalize())
}

/// [`idempotency_key`] of a body file, read in pieces (bodies can be large).
pub fn idempotency_key_of_file(scope: &str, body: &Path) -> Result<String, DeliverError> {
    let unreadable = |source| DeliverError::KeyUnreadable {
        path: body.to_path_buf(),
        source,
    };
    let mut file = File::open(body).map_err(unreadable)?;
    let mut hasher = Sha256::new();
    hasher.update(scope.as_bytes());
    hasher.update([0]);
    let mut buffer = vec![0; 64 * 1024];
    loop {
        match file.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buffer[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(unreadable(e)),
        }
    }
    Ok(crate::plan::hex(&hasher.finalize()))
}

/// Sends `batches` to `endpoint` and returns one [`Delivery`] per batch, in the order given.
///
/// Batches whose key `journal` already has are not sent ([`Verdict::AlreadyAcknowledged`]).
/// The others are sent by up to `endpoint.concurrency` threads; each `2xx` is recorded in
/// `journal` (and synced) on this thread before `on_done` hears of the batch. `on_done` is
/// called once per batch, in the order batches finish, on this thread.
///
/// A refused batch is a [`Verdict::Refused`] and the others go on. `Err` is for what stops all
/// of them: an unusable endpoint or duplicate keys (found before anything is sent), an
/// unreadable body file or an unwritable journal (the batches in flight are finished and
/// journalled first, none is started after).
pub fn deliver(
    endpoint: &Endpoint,
    batches: Vec<Outgoing>,
    journal: &mut Journal,
    on_done: &mut dyn FnMut(&Delivery),
) -> Result<Vec<Delivery>, DeliverError> {
    endpoint.check()?;
    check_keys(&batches)?;
    let mut outcomes: Vec<Option<Delivery>> = vec![None; batches.len()];
    let mut pending = Vec::new();
    for (slot, batch) in batches.into_iter().enumerate() {
        if journal.is_acknowledged(&batch.key) {
            let delivery = Delivery {
                id: batch.id,
                key: batch.key,
                rows: batch.rows,
                verdict: Verdict::AlreadyAcknowledged,
                attempts: 0,
                millis: 0,
                excerpt: String::new(),
            };
            on_done(&delivery);
            outcomes[slot] = Some(delivery);
        } else {
            pending.push((slot, batch));
        }
    }
    if !pending.is_empty() {
        send_all(endpoint, &pending, journal, on_done, &mut outcomes)?;
    }
    Ok(outcomes.into_iter().flatten().collect())
}

/// Two batches with one key would be one batch to the server (and to the journal).
fn check_keys(batches: &[Outgoing]) -> Result<(), DeliverError> {
    let mut seen = std::collections::HashMap::with_capacity(batches.len());
    for batch in batches {
        if let Some(first) = seen.insert(batch.key.as_str(), batch.id) {
            return Err(DeliverError::DuplicateKey {
                key: batch.key.clone(),
                first,
                second: batch.id,
            });
        }
    }
    Ok(())
}

/// The worker threads and, on this thread, the journal.
fn send_all(
    endpoint: &Endpoint,
    pending: &[(usize, Outgoing)],
    journal: &mut Journal,
    on_done: &mut dyn FnMut(&Delivery),
    outcomes: &mut [Option<Delivery>],
) -> Result<(), DeliverError> {
    let client = send::Client::new(endpoint);
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let workers = endpoint.concurrency.min(pending.len());
    let mut fatal: Option<DeliverError> = None;
    std::thread::scope(|scope| {
        let (done_tx, done_rx) = mpsc::channel();
        for _ in 0..workers {
            let done_tx = done_tx.clone();
            let (client, next, stop) = (&client, &next, &stop);
            scope.spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let Some((slot, batch)) = pending.get(next.fetch_add(1, Ordering::SeqCst))
                    else {
                        break;
                    };
                    let outcome = client.send(batch, stop);
                    if done_tx.send((*slot, outcome)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(done_tx);
        for (slot, outcome) in done_rx {
            match outcome {
                Ok(Some(delivery)) => {
                    // A 2xx is journalled even after another batch stopped the delivery: the
                    // server has it, and a resumed delivery must know.
                    if matches!(delivery.verdict, Verdict::Acknowledged { .. })
                        && let Err(e) = journal.record(&delivery)
                    {
                        stop.store(true, Ordering::SeqCst);
                        fatal.get_or_insert(e);
                    }
                    if fatal.is_none() {
                        on_done(&delivery);
                    }
                    outcomes[slot] = Some(delivery);
                }
                Ok(None) => {}
                Err(e) => {
                    stop.store(true, Ordering::SeqCst);
                    fatal.get_or_insert(e);
                }
            }
        }
    });
    match fatal {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
