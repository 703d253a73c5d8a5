//! A webhook told that a run ended: one `POST` of JSON, as Slack's incoming webhooks take it.
//! The caller reports a failure as a warning; a notification never fails a run.

use std::time::Duration;

use super::DeliverError;
use super::redact::{Secrets, excerpt, origin};
use super::send::{agent, check_url, failure, read_start};

/// Posts `payload` to `url` and returns the answer's status when it is a `2xx`. A webhook's
/// URL is its secret (Slack's path is a token), so errors show only its origin.
pub fn notify(
    url: &str,
    payload: &serde_json::Value,
    timeout: Duration,
) -> Result<u16, DeliverError> {
    let shown = origin(url);
    check_url(url).map_err(|problem| DeliverError::Endpoint {
        url: shown.clone(),
        problem,
    })?;
    let body = serde_json::to_vec(payload).map_err(|e| DeliverError::Request {
        url: shown.clone(),
        reason: format!("the payload could not be written as JSON ({e})"),
    })?;
    let response = agent(timeout, 1)
        .post(url)
        .header("Content-Type", "application/json")
        .send(&body[..]);
    let mut response = response.map_err(|e| DeliverError::Request {
        url: shown.clone(),
        reason: failure(&e, timeout).0,
    })?;
    let status = response.status().as_u16();
    if (200..300).contains(&status) {
        return Ok(status);
    }
    let text = read_start(&mut response);
    Err(DeliverError::Status {
        url: shown,
        status,
        excerpt: excerpt(&text, &Secrets::default()),
    })
}
