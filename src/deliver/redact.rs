//! Secrets kept out of what is shown: URLs masked, header values scrubbed from words and
//! excerpts, answers cut to one short line.

/// A URL as it may be shown: the password of its user information and the values of its query
/// (and fragment) parameters whose names look secret (`token`, `key`, `apikey`, `api_key`,
/// `secret`, `password`, `signature`, `sig`, `access_token`, `auth`, and names ending in
/// `token`, `key`, `secret`, `password` or `signature`) become `***`.
pub fn mask_url(url: &str) -> String {
    let (head, fragment) = match url.split_once('#') {
        Some((head, fragment)) => (head, Some(fragment)),
        None => (url, None),
    };
    let (base, query) = match head.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (head, None),
    };
    let mut out = mask_userinfo(base);
    if let Some(query) = query {
        out.push('?');
        out.push_str(&mask_pairs(query));
    }
    if let Some(fragment) = fragment {
        out.push('#');
        out.push_str(&mask_pairs(fragment));
    }
    out
}

/// `scheme://host[:port]` and `/…` when there is more: how a webhook is shown, because its
/// path is often its secret (Slack's `/services/T…/B…/…`).
pub fn origin(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "…".to_owned();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let more = if end < rest.len() { "/…" } else { "" };
    format!("{scheme}://{host}{more}")
}

fn mask_userinfo(base: &str) -> String {
    let Some((scheme, rest)) = base.split_once("://") else {
        return base.to_owned();
    };
    let end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}{path}"),
            None => base.to_owned(),
        },
        None => base.to_owned(),
    }
}

fn mask_pairs(pairs: &str) -> String {
    pairs
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, value)) if looks_secret(name) && !value.is_empty() => {
                format!("{name}=***")
            }
            _ => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Lower-cased, with `-`, `_`, `.` and percent-escapes of them left out: `api_key`, `api-key`,
/// `apiKey` and `X-Api-Key` all end in `apikey`.
fn looks_secret(name: &str) -> bool {
    let name = name
        .to_ascii_lowercase()
        .replace("%5f", "")
        .replace("%2d", "");
    let name: String = name.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    const EXACT: [&str; 8] = [
        "sig",
        "auth",
        "authorization",
        "pwd",
        "passwd",
        "credential",
        "credentials",
        "xamzcredential",
    ];
    const SUFFIXES: [&str; 5] = ["token", "key", "secret", "password", "signature"];
    EXACT.contains(&name.as_str()) || SUFFIXES.iter().any(|s| name.ends_with(s))
}

/// The header values of an endpoint, to scrub from any text shown. Values shorter than three
/// characters are left alone: they are no secret, and scrubbing them would garble the text.
#[derive(Clone, Default)]
pub struct Secrets {
    values: Vec<String>,
}

impl Secrets {
    pub fn new(headers: &[(String, String)]) -> Secrets {
        let mut values: Vec<String> = headers
            .iter()
            .map(|(_, value)| value.trim().to_owned())
            .filter(|value| value.chars().count() >= 3)
            .collect();
        // Longest first, so a value holding another is scrubbed whole.
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        // An `Authorization: Bearer TOKEN` value is scrubbed as a whole and as its token alone.
        let parts: Vec<String> = values
            .iter()
            .filter_map(|v| v.split_once(' ').map(|(_, token)| token.trim().to_owned()))
            .filter(|token| token.chars().count() >= 3)
            .collect();
        values.extend(parts);
        Secrets { values }
    }

    pub fn scrub(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for value in &self.values {
            if text.contains(value.as_str()) {
                text = text.replace(value.as_str(), "***");
            }
        }
        text
    }
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secrets({} values)", self.values.len())
    }
}

/// How many characters of an answer an excerpt keeps.
pub const EXCERPT_CHARS: usize = 300;

/// The start of an answer's body on one line: UTF-8 read lossily, every run of whitespace or
/// control characters one space, at most [`EXCERPT_CHARS`] characters (`…` when cut), scrubbed.
pub fn excerpt(body: &[u8], secrets: &Secrets) -> String {
    let text = String::from_utf8_lossy(body);
    let mut line = String::with_capacity(EXCERPT_CHARS.min(text.len()));
    let mut space = false;
    for c in text.chars() {
        if c.is_whitespace() || c.is_control() {
            space = !line.is_empty();
            continue;
        }
        if space {
            line.push(' ');
            space = false;
        }
        line.push(c);
        // Scrubbing may shorten it; cut after, with room for a secret that straddles the cut.
        if line.len() > EXCERPT_CHARS * 8 {
            break;
        }
    }
    let line = secrets.scrub(&line);
    if line.chars().count() > EXCERPT_CHARS {
        let mut cut: String = line.chars().take(EXCERPT_CHARS).collect();
        cut.push('…');
        cut
    } else {
        line
    }
}

#[cfg(test)]
mod tests {
    use super::{Secrets, excerpt, mask_url, origin};

    #[test]
    fn passwords_in_user_information_are_masked() {
        assert_eq!(
            mask_url("https://ann:hunter2@api.example.com/import"),
            "https://ann:***@api.example.com/import"
        );
        assert_eq!(
            mask_url("https://ann:p%40ss@api.example.com:8443"),
            "https://ann:***@api.example.com:8443"
        );
        // A user alone is shown; an `@` in the path is not user information.
        assert_eq!(
            mask_url("https://ann@api.example.com/a@b"),
            "https://ann@api.example.com/a@b"
        );
    }

    #[test]
    fn secret_looking_query_values_are_masked() {
        assert_eq!(
            mask_url("https://x.test/in?token=abc&page=2&api_key=k1&apiKey=k2&X-Api-Key=k3"),
            "https://x.test/in?token=***&page=2&api_key=***&apiKey=***&X-Api-Key=***"
        );
        assert_eq!(
            mask_url(
                "https://x.test/?sig=s&signature=s&access_token=t&auth=a&secret=s&password=p&key=k&apikey=q"
            ),
            "https://x.test/?sig=***&signature=***&access_token=***&auth=***&secret=***&password=***&key=***&apikey=***"
        );
        assert_eq!(
            mask_url("https://x.test/cb#access_token=t&state=ok"),
            "https://x.test/cb#access_token=***&state=ok"
        );
        // Names that only contain a secret word, empty values and bare flags stay.
        assert_eq!(
            mask_url("https://x.test/?tokens_left=3&keyword=a&token=&auth"),
            "https://x.test/?tokens_left=3&keyword=a&token=&auth"
        );
        assert_eq!(mask_url("not a url"), "not a url");
    }

    #[test]
    fn webhooks_are_shown_by_origin() {
        assert_eq!(
            origin("https://hooks.slack.com/services/T0/B0/XXXX"),
            "https://hooks.slack.com/…"
        );
        assert_eq!(origin("http://u:p@127.0.0.1:9000"), "http://127.0.0.1:9000");
    }

    #[test]
    fn excerpts_are_one_short_scrubbed_line() {
        let secrets = Secrets::new(&[
            ("Authorization".into(), "Bearer s3cr3t-token".into()),
            ("X-Short".into(), "ab".into()),
        ]);
        assert_eq!(
            excerpt(
                b"{\n  \"error\":\t\"bad\",\r\n \"echo\": \"s3cr3t-token\" }\n",
                &secrets
            ),
            "{ \"error\": \"bad\", \"echo\": \"***\" }"
        );
        let long = "é".repeat(1000);
        let cut = excerpt(long.as_bytes(), &secrets);
        assert_eq!(cut.chars().count(), 301);
        assert!(cut.ends_with('…'));
        assert_eq!(excerpt(b"\xff\xfeok", &secrets), "\u{fffd}\u{fffd}ok");
        assert_eq!(format!("{secrets:?}"), "Secrets(2 values)");
    }
}
