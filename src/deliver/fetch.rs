//! Records read from an HTTP API for a lookup: `GET` a page, take its records, follow its
//! `Link: <…>; rel="next"` header to the next page, until there is none.
//!
//! A page is a JSON array of objects; or a JSON object, with `records_pointer` (a JSON pointer,
//! `/data/items`) at the array inside it; or NDJSON, one object per line, told by its content
//! type (`application/x-ndjson`, `application/ndjson`, `application/jsonl`) or by its shape
//! (more than one JSON value). A page that is none of these stops the read with an error saying
//! which it was. There are no retries: a lookup that cannot be read stops the run before any
//! row is read, and running again is the retry.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::{Map, Value};

use super::DeliverError;
use super::redact::{Secrets, excerpt, mask_url};
use super::send::{agent, check_headers, check_url, failure, read_start};

/// Pages read at most: past this, a `next` link that never ends is a server's bug.
pub const MAX_PAGES: usize = 10_000;

/// The largest page read, after which the page is refused rather than cut.
const PAGE_LIMIT: u64 = 512 * 1024 * 1024;

const NDJSON_TYPES: [&str; 5] = [
    "application/x-ndjson",
    "application/ndjson",
    "application/jsonl",
    "application/x-jsonlines",
    "application/jsonlines",
];

/// Every record of every page, in order, starting at `url` and sending `headers` (secrets,
/// never shown) with each request.
pub fn fetch_records(
    url: &str,
    headers: &[(String, String)],
    records_pointer: Option<&str>,
    timeout: Duration,
) -> Result<Vec<Map<String, Value>>, DeliverError> {
    let endpoint_problem = |problem| DeliverError::Endpoint {
        url: mask_url(url),
        problem,
    };
    check_url(url).map_err(endpoint_problem)?;
    check_headers(headers).map_err(endpoint_problem)?;
    if let Some(pointer) = records_pointer
        && !(pointer.is_empty() || pointer.starts_with('/'))
    {
        return Err(endpoint_problem(format!(
            "`records_pointer` is `{pointer}`: a JSON pointer starts with `/` (like `/data/items`)"
        )));
    }
    let secrets = Secrets::new(headers);
    let agent = agent(timeout, 1);
    let has_accept = headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("accept"));
    let mut records = Vec::new();
    let mut seen = HashSet::new();
    let mut next = Some(url.to_owned());
    while let Some(page) = next.take() {
        if !seen.insert(page.clone()) {
            return Err(DeliverError::Paging {
                url: mask_url(url),
                problem: format!(
                    "the page `{}` was already read: the `next` links go round in a circle",
                    mask_url(&page)
                ),
            });
        }
        if seen.len() > MAX_PAGES {
            return Err(DeliverError::Paging {
                url: mask_url(url),
                problem: format!("it had more than {MAX_PAGES} pages"),
            });
        }
        let shown = mask_url(&page);
        let mut request = agent.get(&page);
        if !has_accept {
            request = request.header("Accept", "application/json, application/x-ndjson");
        }
        for (name, value) in headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let mut response = request.call().map_err(|e| DeliverError::Request {
            url: shown.clone(),
            reason: secrets.scrub(&failure(&e, timeout).0),
        })?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            return Err(DeliverError::Status {
                url: shown,
                status,
                excerpt: excerpt(&read_start(&mut response), &secrets),
            });
        }
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let links: Vec<String> = response
            .headers()
            .get_all("link")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_owned)
            .collect();
        let body = response
            .body_mut()
            .with_config()
            .limit(PAGE_LIMIT)
            .read_to_vec()
            .map_err(|e| DeliverError::Request {
                url: shown.clone(),
                reason: secrets.scrub(&format!(
                    "its answer could not be read whole ({})",
                    failure(&e, timeout).0
                )),
            })?;
        let page_records =
            parse_records(&body, content_type.as_deref(), records_pointer).map_err(|problem| {
                DeliverError::Records {
                    url: shown.clone(),
                    problem: secrets.scrub(&problem),
                }
            })?;
        records.extend(page_records);
        next = next_link(&links).map(|link| resolve(&page, &link));
    }
    Ok(records)
}

/// A page's records, or what the page is instead.
fn parse_records(
    body: &[u8],
    content_type: Option<&str>,
    pointer: Option<&str>,
) -> Result<Vec<Map<String, Value>>, String> {
    let mime = content_type
        .and_then(|t| t.split(';').next())
        .map(|t| t.trim().to_ascii_lowercase());
    let by_type = mime.as_deref().is_some_and(|m| NDJSON_TYPES.contains(&m));
    if by_type {
        return ndjson(body, pointer);
    }
    let mut values = serde_json::Deserializer::from_slice(body).into_iter::<Value>();
    let first = match values.next() {
        None => return Err("the answer is empty".to_owned()),
        Some(Err(e)) => return Err(format!("it is not JSON ({e})")),
        Some(Ok(value)) => value,
    };
    if values.next().is_some() {
        return ndjson(body, pointer);
    }
    let target = match pointer.filter(|p| !p.is_empty()) {
        Some(pointer) => first
            .pointer(pointer)
            .ok_or_else(|| format!("`records_pointer` `{pointer}` points at nothing in it"))?,
        None => &first,
    };
    match target {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::Object(map) => Ok(map.clone()),
                other => Err(format!(
                    "item {} of the array is {}, not an object",
                    i + 1,
                    kind(other)
                )),
            })
            .collect(),
        Value::Object(map) if pointer.is_none() => {
            let arrays: Vec<String> = map
                .iter()
                .filter(|(_, v)| v.is_array())
                .map(|(k, _)| format!("`/{}`", k.replace('~', "~0").replace('/', "~1")))
                .collect();
            Err(if arrays.is_empty() {
                "the answer is one object; set `records_pointer` to the array of records in it"
                    .to_owned()
            } else {
                format!(
                    "the answer is one object; set `records_pointer` to the array of records in \
                     it (it has arrays at {})",
                    arrays.join(", ")
                )
            })
        }
        other => Err(match pointer {
            Some(pointer) => format!(
                "`records_pointer` `{pointer}` points at {}, not an array of objects",
                kind(other)
            ),
            None => format!("the answer is {}, not an array of objects", kind(other)),
        }),
    }
}

/// One object per line; blank lines are skipped.
fn ndjson(body: &[u8], pointer: Option<&str>) -> Result<Vec<Map<String, Value>>, String> {
    if pointer.is_some_and(|p| !p.is_empty()) {
        return Err(
            "the answer is NDJSON (one record per line), where `records_pointer` has no \
                    meaning: leave it out"
                .to_owned(),
        );
    }
    let mut records = Vec::new();
    for (n, line) in body.split(|&b| b == b'\n').enumerate() {
        let line = line.trim_ascii();
        if line.is_empty() {
            continue;
        }
        match serde_json::from_slice::<Value>(line) {
            Ok(Value::Object(map)) => records.push(map),
            Ok(other) => {
                return Err(format!(
                    "line {} of the NDJSON is {}, not an object",
                    n + 1,
                    kind(&other)
                ));
            }
            Err(e) => return Err(format!("line {} of the NDJSON is not JSON ({e})", n + 1)),
        }
    }
    Ok(records)
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The target of the first link with `rel="next"` (`rel` may hold several names).
fn next_link(values: &[String]) -> Option<String> {
    for value in values {
        let mut rest = value.as_str();
        while let Some(open) = rest.find('<') {
            let after = &rest[open + 1..];
            let close = after.find('>')?;
            let target = &after[..close];
            let tail = &after[close + 1..];
            let end = tail.find('<').unwrap_or(tail.len());
            let is_next = tail[..end].split([';', ',']).any(|param| {
                param.split_once('=').is_some_and(|(name, value)| {
                    name.trim().eq_ignore_ascii_case("rel")
                        && value
                            .trim()
                            .trim_matches('"')
                            .split_ascii_whitespace()
                            .any(|rel| rel.eq_ignore_ascii_case("next"))
                })
            });
            if is_next {
                return Some(target.trim().to_owned());
            }
            rest = &tail[end..];
        }
    }
    None
}

/// A link's target against the page it came from: absolute (`https://…`), scheme-relative
/// (`//host/…`), a path (`/…`), a query (`?…`) or relative to the page's folder. Dot segments
/// (`../`) are left for the server to resolve.
fn resolve(base: &str, link: &str) -> String {
    let scheme_len = link.find("://").filter(|&i| {
        i > 0
            && link[..i]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    });
    if scheme_len.is_some() {
        return link.to_owned();
    }
    let Some((scheme, rest)) = base.split_once("://") else {
        return link.to_owned();
    };
    if let Some(rest) = link.strip_prefix("//") {
        return format!("{scheme}://{rest}");
    }
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let path = &tail[..tail.find(['?', '#']).unwrap_or(tail.len())];
    if link.starts_with('/') {
        format!("{scheme}://{authority}{link}")
    } else if link.starts_with('?') {
        let path = if path.is_empty() { "/" } else { path };
        format!("{scheme}://{authority}{path}{link}")
    } else {
        let folder = path.rfind('/').map_or("/", |i| &path[..=i]);
        format!("{scheme}://{authority}{folder}{link}")
    }
}

#[cfg(test)]
#[expect(
    clippy::unwrap_used,
    reason = "tests: an unexpected value fails the test"
)]
mod tests {
    use super::{next_link, parse_records, resolve};

    #[test]
    fn next_links_are_found_among_others() {
        let links = |v: &str| next_link(&[v.to_owned()]);
        assert_eq!(
            links(
                r#"<https://a.test/p?page=1>; rel="prev", <https://a.test/p?page=3>; rel="next""#
            ),
            Some("https://a.test/p?page=3".to_owned())
        );
        assert_eq!(links("</p2>; rel=next"), Some("/p2".to_owned()));
        assert_eq!(
            links(r#"<https://a.test/x,y>; rel="next last""#),
            Some("https://a.test/x,y".to_owned())
        );
        assert_eq!(links(r#"<https://a.test/last>; rel="last""#), None);
        assert_eq!(next_link(&[]), None);
    }

    #[test]
    fn links_resolve_against_their_page() {
        let base = "https://a.test/v1/items?page=1";
        assert_eq!(resolve(base, "https://b.test/x"), "https://b.test/x");
        assert_eq!(resolve(base, "//c.test/y"), "https://c.test/y");
        assert_eq!(resolve(base, "/v2/items"), "https://a.test/v2/items");
        assert_eq!(resolve(base, "?page=2"), "https://a.test/v1/items?page=2");
        assert_eq!(
            resolve(base, "more?page=2"),
            "https://a.test/v1/more?page=2"
        );
        assert_eq!(resolve("https://a.test", "?p=2"), "https://a.test/?p=2");
    }

    #[test]
    fn pages_that_are_not_records_say_what_they_are() {
        let err = |body: &str, pointer: Option<&str>| {
            parse_records(body.as_bytes(), Some("application/json"), pointer).unwrap_err()
        };
        assert!(err(r#"{"data": [], "meta": {}}"#, None).contains("arrays at `/data`"));
        assert!(err(r#"[1]"#, None).contains("item 1 of the array is a number"));
        assert!(err(r#"{"a": 1}"#, Some("/b")).contains("points at nothing"));
        assert!(err(r#"{"a": 1}"#, Some("/a")).contains("points at a number"));
        assert!(err("", None).contains("empty"));
        assert!(err("{nope", None).contains("not JSON"));
        assert!(err("{\"a\":1}\n[2]\n", None).contains("line 2 of the NDJSON is an array"));
        assert_eq!(
            parse_records(b"", Some("application/x-ndjson; charset=utf-8"), None).unwrap(),
            Vec::<serde_json::Map<String, serde_json::Value>>::new()
        );
        assert_eq!(
            parse_records(br#"{"a": [{"b": 1}]}"#, None, Some("/a"))
                .unwrap()
                .len(),
            1
        );
    }
}
