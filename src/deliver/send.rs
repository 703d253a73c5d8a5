//! One batch sent until it is acknowledged or refused: the HTTP agent, an attempt, what an
//! answer or a failure means, backoff with jitter, `Retry-After`, and the rate limit every worker
//! shares.

use std::fs::File;
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Read};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use ureq::http::{HeaderName, HeaderValue};
use ureq::{Agent, SendBody};

use super::redact::{Secrets, excerpt};
use super::{Backoff, DeliverError, Delivery, Endpoint, Method, Outgoing, Verdict};

/// How much of an answer's body is read for its excerpt; the rest is left unread.
const ANSWER_READ: u64 = 64 * 1024;

/// The longest `Retry-After` waited for. A server asking for more (a daily quota, say) gets
/// the batch refused with that said, to be resumed later, rather than a run that hangs.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// Headers rowferry sets itself.
const OWN_HEADERS: [&str; 4] = [
    "content-type",
    "content-length",
    "idempotency-key",
    "transfer-encoding",
];

/// `http://` or `https://` and a host.
pub fn check_url(url: &str) -> Result<(), String> {
    let lower = url.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))
        .ok_or_else(|| "the URL must start with `https://` (or `http://`)".to_owned())?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host.is_empty() {
        return Err("the URL has no host".to_owned());
    }
    if url.parse::<ureq::http::Uri>().is_err() {
        return Err(
            "the URL is not valid (a space or another character that must be \
                    percent-encoded?)"
                .to_owned(),
        );
    }
    Ok(())
}

/// Names valid and not rowferry's own, values valid; a value is never quoted.
pub fn check_headers(headers: &[(String, String)]) -> Result<(), String> {
    for (name, value) in headers {
        if HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(format!(
                "the header name `{}` is not valid (letters, digits and `-` only)",
                name.escape_debug()
            ));
        }
        if OWN_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
            return Err(format!(
                "the header `{name}` is set by rowferry (the content type is its own setting); \
                 leave it out of the headers"
            ));
        }
        if HeaderValue::from_str(value).is_err() {
            return Err(format!(
                "the value of the header `{name}` is not a valid header value (a line break or \
                 another control character?); its value is not shown"
            ));
        }
    }
    Ok(())
}

/// The agent every request goes through: statuses are answers (not errors), redirects are not
/// followed (a `3xx` refuses the batch: a body, and its headers, are never sent on to an address
/// nobody configured), proxies come from the environment (ureq's default: `ALL_PROXY`,
/// `HTTPS_PROXY`, `HTTP_PROXY`, with `NO_PROXY`).
///
/// `timeout` bounds every wait rather than the whole exchange, so that a large body is never
/// cut for being large: looking the host up, connecting (TLS included), sending the request's
/// head, the server's answer once the body is sent, and any silence while the body is sent or
/// the answer read.
pub fn agent(timeout: Duration, pool: usize) -> Agent {
    let timeout = Some(timeout);
    Agent::config_builder()
        .http_status_as_error(false)
        .timeout_resolve(timeout)
        .timeout_connect(timeout)
        .timeout_send_request(timeout)
        .timeout_recv_response(timeout)
        .timeout_per_write(timeout)
        .timeout_per_read(timeout)
        .max_redirects(0)
        .user_agent(concat!("rowferry/", env!("CARGO_PKG_VERSION")))
        .max_idle_connections(pool.max(1))
        .max_idle_connections_per_host(pool.max(1))
        .build()
        .new_agent()
}

/// What one attempt gave.
enum Attempt {
    Answer {
        status: u16,
        retry_after: Option<Duration>,
        excerpt: String,
    },
    /// No answer: `retry` says whether another attempt may get one.
    Failed { reason: String, retry: bool },
}

pub struct Client<'a> {
    endpoint: &'a Endpoint,
    agent: Agent,
    secrets: Secrets,
    limiter: RateLimiter,
}

impl<'a> Client<'a> {
    pub fn new(endpoint: &'a Endpoint) -> Client<'a> {
        Client {
            endpoint,
            agent: agent(endpoint.timeout, endpoint.concurrency),
            secrets: Secrets::new(&endpoint.headers),
            limiter: RateLimiter::new(endpoint.rate_limit),
        }
    }

    /// Sends one batch until it is acknowledged or refused. `Ok(None)` when `stop` was raised
    /// (another batch stopped the delivery) before a verdict; `Err` when its body is unreadable.
    pub fn send(
        &self,
        batch: &Outgoing,
        stop: &AtomicBool,
    ) -> Result<Option<Delivery>, DeliverError> {
        let started = Instant::now();
        let mut attempts = 0;
        loop {
            if stop.load(Ordering::SeqCst) {
                return Ok(None);
            }
            self.limiter.wait();
            attempts += 1;
            let attempt = self.attempt(batch)?;
            let retries_left = attempts <= self.endpoint.max_retries;
            let (wait, last_excerpt, failure) = match attempt {
                Attempt::Answer {
                    status, excerpt, ..
                } if (200..300).contains(&status) => {
                    return Ok(Some(self.delivery(
                        batch,
                        Verdict::Acknowledged { status },
                        attempts,
                        started,
                        excerpt,
                    )));
                }
                Attempt::Answer {
                    status,
                    retry_after,
                    excerpt,
                } => {
                    if !retryable(status) {
                        let reason = format!(
                            "the server refused the batch with {status}{}; it was not retried \
                             (a 4xx other than 408 and 429 says the request itself is wrong)",
                            status_words(status)
                        );
                        let reason = if (300..400).contains(&status) {
                            format!(
                                "the server answered {status}, a redirect, which is not \
                                 followed: set the target's URL to the address it redirects to"
                            )
                        } else {
                            reason
                        };
                        let verdict = Verdict::Refused {
                            status: Some(status),
                            reason,
                        };
                        return Ok(Some(
                            self.delivery(batch, verdict, attempts, started, excerpt),
                        ));
                    }
                    if let Some(after) = retry_after
                        && after > MAX_RETRY_AFTER
                    {
                        let verdict = Verdict::Refused {
                            status: Some(status),
                            reason: format!(
                                "the server answered {status} and asked to wait {} s before \
                                 trying again, longer than rowferry waits ({} s): resume the \
                                 delivery later",
                                after.as_secs(),
                                MAX_RETRY_AFTER.as_secs()
                            ),
                        };
                        return Ok(Some(
                            self.delivery(batch, verdict, attempts, started, excerpt),
                        ));
                    }
                    let wait = retry_after.unwrap_or_else(|| self.backoff(attempts));
                    let failure = (
                        Some(status),
                        format!("answered {status}{}", status_words(status)),
                    );
                    (wait, excerpt, failure)
                }
                Attempt::Failed { reason, retry } => {
                    if !retry {
                        let verdict = Verdict::Refused {
                            status: None,
                            reason,
                        };
                        return Ok(Some(self.delivery(
                            batch,
                            verdict,
                            attempts,
                            started,
                            String::new(),
                        )));
                    }
                    (self.backoff(attempts), String::new(), (None, reason))
                }
            };
            if !retries_left {
                let (status, what) = failure;
                let tries = if attempts == 1 { "attempt" } else { "attempts" };
                let verdict = Verdict::Refused {
                    status,
                    reason: format!("{what}, still after {attempts} {tries}"),
                };
                return Ok(Some(self.delivery(
                    batch,
                    verdict,
                    attempts,
                    started,
                    last_excerpt,
                )));
            }
            if !sleep_unless_stopped(wait, stop) {
                return Ok(None);
            }
        }
    }

    fn delivery(
        &self,
        batch: &Outgoing,
        verdict: Verdict,
        attempts: u32,
        started: Instant,
        excerpt: String,
    ) -> Delivery {
        let verdict = match verdict {
            Verdict::Refused { status, reason } => Verdict::Refused {
                status,
                reason: self.secrets.scrub(&reason),
            },
            other => other,
        };
        Delivery {
            id: batch.id,
            key: batch.key.clone(),
            rows: batch.rows,
            verdict,
            attempts,
            millis: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            excerpt,
        }
    }

    /// One request. `Err` only when the body file cannot be read.
    fn attempt(&self, batch: &Outgoing) -> Result<Attempt, DeliverError> {
        let unreadable = |source| DeliverError::BodyUnreadable {
            id: batch.id,
            path: batch.body.clone(),
            source,
        };
        let file = File::open(&batch.body).map_err(unreadable)?;
        let length = file.metadata().map_err(unreadable)?.len();
        let mut body = WatchedFile {
            file,
            failure: None,
        };
        let endpoint = self.endpoint;
        let mut request = match endpoint.method {
            Method::Post => self.agent.post(&endpoint.url),
            Method::Put => self.agent.put(&endpoint.url),
            Method::Patch => self.agent.patch(&endpoint.url),
        };
        for (name, value) in &endpoint.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let result = request
            .header("Content-Type", endpoint.content_type.as_str())
            .header("Idempotency-Key", batch.key.as_str())
            .header("Content-Length", length.to_string())
            .send(SendBody::from_reader(&mut body));
        if let Some(source) = body.failure.take() {
            return Err(unreadable(source));
        }
        Ok(match result {
            Ok(mut response) => {
                let status = response.status().as_u16();
                let retry_after = response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| retry_after(v, SystemTime::now()));
                let read = read_start(&mut response);
                Attempt::Answer {
                    status,
                    retry_after,
                    excerpt: excerpt(&read, &self.secrets),
                }
            }
            Err(e) => {
                let (reason, retry) = failure(&e, endpoint.timeout);
                Attempt::Failed {
                    reason: self.secrets.scrub(&reason),
                    retry,
                }
            }
        })
    }

    /// `base · 2^(retry − 1)`, at most `cap`, jittered to between half and all of it.
    fn backoff(&self, attempts: u32) -> Duration {
        let Backoff { base, cap } = self.endpoint.backoff;
        let doubled = base.saturating_mul(1 << attempts.saturating_sub(1).min(20));
        jitter(doubled.min(cap))
    }
}

/// The body file, remembering a read error so that it is told apart from the network's.
struct WatchedFile {
    file: File,
    failure: Option<io::Error>,
}

impl Read for WatchedFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.file.read(buf).inspect_err(|e| {
            if e.kind() != io::ErrorKind::Interrupted {
                self.failure = Some(io::Error::new(e.kind(), e.to_string()));
            }
        })
    }
}

/// The start of an answer's body, for its excerpt. An answer cut short still has its status,
/// which is what counts, so a failure to read it is not one.
pub fn read_start(response: &mut ureq::http::Response<ureq::Body>) -> Vec<u8> {
    let mut read = Vec::new();
    let _ = response
        .body_mut()
        .as_reader()
        .take(ANSWER_READ)
        .read_to_end(&mut read);
    read
}

/// `408`, `429` and `5xx` may go through on another try; anything else will not.
fn retryable(status: u16) -> bool {
    status == 408 || status == 429 || (500..600).contains(&status)
}

fn status_words(status: u16) -> String {
    ureq::http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .map(|r| format!(" ({r})"))
        .unwrap_or_default()
}

/// A request that got no answer, in words, and whether another attempt may get one. The
/// words are ureq's description of what failed, never the request's headers or URL.
pub fn failure(error: &ureq::Error, timeout: Duration) -> (String, bool) {
    use ureq::Error as E;
    match error {
        E::Timeout(_) => (
            format!("no answer within the timeout ({} ms)", timeout.as_millis()),
            true,
        ),
        E::Io(e) => {
            let what = match e.kind() {
                io::ErrorKind::ConnectionRefused => "the connection was refused".to_owned(),
                io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionAborted
                | io::ErrorKind::UnexpectedEof
                | io::ErrorKind::BrokenPipe => {
                    "the connection was closed without an answer".to_owned()
                }
                // rustls reports a failed handshake (a certificate refused, a server that does
                // not speak TLS on that port) as invalid data; another try fails the same way.
                io::ErrorKind::InvalidData => {
                    return (format!("the secure connection (TLS) failed: {e}"), false);
                }
                io::ErrorKind::TimedOut => {
                    format!("no answer within the timeout ({} ms)", timeout.as_millis())
                }
                _ => format!("a network error ({e})"),
            };
            (what, true)
        }
        E::HostNotFound => ("the host name was not found".to_owned(), true),
        E::ConnectionFailed => ("the connection failed".to_owned(), true),
        E::Protocol(e) => (
            format!("the answer was not valid HTTP ({e}); the connection may have been cut"),
            true,
        ),
        E::Tls(e) => (format!("TLS failed ({e})"), false),
        E::Rustls(e) => (format!("TLS failed ({e})"), false),
        E::Pem(_) => (
            "TLS failed (a certificate could not be read)".to_owned(),
            false,
        ),
        E::InvalidProxyUrl => (
            "the proxy set in HTTPS_PROXY, HTTP_PROXY or ALL_PROXY is not a valid URL".to_owned(),
            false,
        ),
        E::BadUri(_) | E::Http(_) => ("the request could not be built".to_owned(), false),
        other => (other.to_string(), false),
    }
}

/// `Retry-After` as seconds or an HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`), from `now`; a
/// date in the past is no wait. `None` when it is neither.
pub fn retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let when = SystemTime::from(when.with_timezone(&chrono::Utc));
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Between half and all of `wait`, at random: retries of many workers do not fall in step.
fn jitter(wait: Duration) -> Duration {
    // A fresh std hasher key is random enough for spreading retries; no RNG crate needed.
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    let fraction = 0.5 + (random % 1_000_000) as f64 / 2_000_000.0;
    wait.mul_f64(fraction)
}

/// Sleeps `wait` in short steps; `false` when `stop` was raised meanwhile.
fn sleep_unless_stopped(wait: Duration, stop: &AtomicBool) -> bool {
    let until = Instant::now() + wait;
    loop {
        if stop.load(Ordering::SeqCst) {
            return false;
        }
        let now = Instant::now();
        if now >= until {
            return true;
        }
        std::thread::sleep((until - now).min(Duration::from_millis(50)));
    }
}

/// Requests per second across every worker: each attempt takes the next free slot.
pub struct RateLimiter {
    interval: Option<Duration>,
    next: Mutex<Option<Instant>>,
}

impl RateLimiter {
    pub fn new(rate: Option<f64>) -> RateLimiter {
        RateLimiter {
            interval: rate
                .filter(|r| r.is_finite() && *r > 0.0)
                .map(|r| Duration::from_secs_f64(1.0 / r)),
            next: Mutex::new(None),
        }
    }

    /// Waits for this worker's slot.
    pub fn wait(&self) {
        let Some(interval) = self.interval else {
            return;
        };
        let slot = {
            let mut next = self
                .next
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let now = Instant::now();
            let slot = next.map_or(now, |n| n.max(now));
            *next = Some(slot + interval);
            slot
        };
        let now = Instant::now();
        if slot > now {
            std::thread::sleep(slot - now);
        }
    }
}

#[cfg(test)]
#[expect(
    clippy::unwrap_used,
    reason = "tests: an unexpected value fails the test"
)]
mod tests {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use super::{check_headers, check_url, jitter, retry_after};

    #[test]
    fn retry_after_is_seconds_or_an_http_date() {
        let now = UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            retry_after("Sun, 06 Nov 1994 08:50:07 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after("soon", now), None);
        assert_eq!(retry_after("-3", SystemTime::now()), None);
    }

    #[test]
    fn jitter_stays_between_half_and_all() {
        for _ in 0..200 {
            let j = jitter(Duration::from_millis(1000));
            assert!(
                j >= Duration::from_millis(500) && j <= Duration::from_millis(1000),
                "{j:?}"
            );
        }
    }

    #[test]
    fn urls_and_headers_are_checked_without_showing_values() {
        assert!(check_url("https://api.example.com/import").is_ok());
        assert!(check_url("ftp://x").is_err());
        assert!(check_url("https:///path").is_err());
        assert!(check_url("https://x.test/a b").is_err());
        let err = check_headers(&[("X-Key".into(), "line\nbreak-SECRET".into())]).unwrap_err();
        assert!(err.contains("X-Key") && !err.contains("SECRET"), "{err}");
        assert!(check_headers(&[("Bad Name".into(), "v".into())]).is_err());
        assert!(check_headers(&[("idempotency-key".into(), "v".into())]).is_err());
    }
}
