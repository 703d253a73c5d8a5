//! `[notify]` (`mappings/README.md` §13): the webhook told how a run ended — its URL (checked
//! here, sent nothing: `check` posts nothing), when it posts (`on`), for which commands, and how
//! long to wait for it.
//!
//! A webhook's URL is its secret (Slack's path is a token): no diagnostic shows its value, only
//! what is wrong with it, and the mapping's own line (which usually holds `${VAR}`, not the
//! value).

use std::time::Duration;

use toml::Spanned;

use super::Compiler;
use crate::plan::diagnostic::Diagnostic;
use crate::plan::raw::RawNotify;
use crate::plan::{Notify, NotifyOn};

/// How long a webhook is waited for when `timeout` is not given.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest `timeout`: a notification must not hold a finished run for long.
const MAX_TIMEOUT: Duration = Duration::from_secs(600);

const ON: [&str; 3] = ["always", "failure", "rejects"];
const COMMANDS: [&str; 2] = ["run", "validate"];

impl Compiler {
    pub(super) fn notify(&mut self, raw: Option<&Spanned<RawNotify>>) -> Option<Notify> {
        let raw = raw?;
        let span = raw.span();
        let raw = raw.get_ref();
        let url = match &raw.url {
            Some(url) => self.webhook_url(url),
            None => {
                self.err(
                    Diagnostic::at(span, "`[notify]` has no `url`: the webhook to post to")
                        .label("no `url`")
                        .help("add `url = \"${SLACK_WEBHOOK_URL}\"` and set that variable"),
                );
                None
            }
        };
        let on = raw.on.as_ref().map_or(Some(NotifyOn::Always), |on| {
            let found = match on.get_ref().as_str() {
                "always" => Some(NotifyOn::Always),
                "failure" => Some(NotifyOn::Failure),
                "rejects" => Some(NotifyOn::Rejects),
                _ => None,
            };
            if found.is_none() {
                self.err(
                    Diagnostic::at(
                        on.span(),
                        format!(
                            "`on` is `always`, `failure` or `rejects`, not `{}`",
                            on.get_ref()
                        ),
                    )
                    .label("unknown choice")
                    .suggest(on.get_ref(), ON)
                    .help_if_none(
                        "`failure` posts when a run fails or a threshold stops it, `rejects` \
                         also when rows are rejected",
                    ),
                );
            }
            found
        });
        let commands = raw
            .commands
            .as_ref()
            .map_or(Some((true, false)), |c| self.notify_commands(c));
        let timeout = raw
            .timeout
            .as_ref()
            .map_or(Some(DEFAULT_TIMEOUT), |t| self.notify_timeout(t));
        let ((run, validate), on, timeout) = (commands?, on?, timeout?);
        Some(Notify {
            url: url?,
            on,
            run,
            validate,
            timeout,
        })
    }

    /// The webhook's URL, when it is one rowferry can post to.
    fn webhook_url(&mut self, url: &Spanned<String>) -> Option<String> {
        match url_problem(url.get_ref()) {
            None => Some(url.get_ref().clone()),
            Some(problem) => {
                self.err(
                    Diagnostic::at(
                        url.span(),
                        format!("`[notify] url` cannot be posted to: {problem}"),
                    )
                    .label("not a webhook URL")
                    .help(
                        "give the webhook's whole URL, `https://hooks.slack.com/services/…`, \
                         usually as `${SLACK_WEBHOOK_URL}`; its value is not shown here",
                    ),
                );
                None
            }
        }
    }

    /// `commands`: a command name or a list of them; (`run`, `validate`).
    fn notify_commands(&mut self, value: &Spanned<toml::Value>) -> Option<(bool, bool)> {
        let names: Option<Vec<&str>> = match value.get_ref() {
            toml::Value::String(s) => Some(vec![s.as_str()]),
            toml::Value::Array(items) if !items.is_empty() => {
                items.iter().map(toml::Value::as_str).collect()
            }
            _ => None,
        };
        let Some(names) = names else {
            self.err(
                Diagnostic::at(
                    value.span(),
                    "`commands` must be a list of commands: `run`, `validate` or both",
                )
                .label("not a list of commands")
                .help("write `commands = [\"run\"]` or `commands = [\"run\", \"validate\"]`"),
            );
            return None;
        };
        let (mut run, mut validate, mut ok) = (false, false, true);
        for name in names {
            match name {
                "run" => run = true,
                "validate" => validate = true,
                other => {
                    ok = false;
                    self.err(
                        Diagnostic::at(
                            value.span(),
                            format!("`commands` lists `run` and `validate`, not `{other}`"),
                        )
                        .label("unknown command")
                        .suggest(other, COMMANDS)
                        .help_if_none("`check` posts nothing: it reads no data"),
                    );
                }
            }
        }
        ok.then_some((run, validate))
    }

    /// `timeout`: `"10s"`, `"500ms"`, `"1m"`.
    fn notify_timeout(&mut self, value: &Spanned<String>) -> Option<Duration> {
        match parse_duration(value.get_ref()) {
            Some(t) if !t.is_zero() && t <= MAX_TIMEOUT => Some(t),
            Some(_) => {
                self.err(
                    Diagnostic::at(
                        value.span(),
                        "`timeout` must be more than 0 and at most 10 minutes",
                    )
                    .label("out of range"),
                );
                None
            }
            None => {
                self.err(
                    Diagnostic::at(
                        value.span(),
                        format!(
                            "`timeout` is a whole number with a unit, `ms`, `s` or `m`, not `{}`",
                            value.get_ref()
                        ),
                    )
                    .label("not a duration")
                    .help("write `timeout = \"10s\"` or `timeout = \"500ms\"`"),
                );
                None
            }
        }
    }
}

/// What makes `url` unusable as a webhook, in words that never repeat its value (only its
/// scheme, which is no secret).
fn url_problem(url: &str) -> Option<String> {
    if url.trim().is_empty() {
        return Some("it is empty (an environment variable set to nothing?)".into());
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return Some("it does not start with `https://` (or `http://`)".into());
    };
    if !scheme.eq_ignore_ascii_case("https") && !scheme.eq_ignore_ascii_case("http") {
        let scheme: String = scheme.chars().take(12).collect();
        return Some(format!(
            "its scheme is `{}`, not `https` (or `http`)",
            scheme.escape_debug()
        ));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host.is_empty() {
        return Some("it has no host".into());
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Some("it holds a space or a control character (percent-encode it)".into());
    }
    None
}

/// `10s`, `500ms`, `2m` (surrounding spaces allowed); `None` when it is not one.
fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let digits = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(digits);
    let n: u64 = number.parse().ok()?;
    match unit.trim() {
        "ms" => Some(Duration::from_millis(n)),
        "s" => Some(Duration::from_secs(n)),
        "m" | "min" => n.checked_mul(60).map(Duration::from_secs),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Some(Duration::from_secs(10)));
        assert_eq!(parse_duration(" 500ms "), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("10"), None);
        assert_eq!(parse_duration("s"), None);
        assert_eq!(parse_duration("1.5s"), None);
        assert_eq!(parse_duration("-1s"), None);
        assert_eq!(parse_duration("99999999999999999999s"), None);
    }

    #[test]
    fn url_problems_never_repeat_the_url() {
        let secret = "T000/B000/XXXXsecret";
        for url in [
            format!("hooks.slack.com/services/{secret}"),
            format!("ftp://hooks.slack.com/services/{secret}"),
            format!("https:///services/{secret}"),
            format!("https://hooks.slack.com/services/{secret} x"),
        ] {
            let problem = url_problem(&url).expect("a problem");
            assert!(!problem.contains("secret"), "{problem}");
            assert!(!problem.contains("hooks"), "{problem}");
        }
        assert_eq!(url_problem("https://hooks.slack.com/services/T/B/x"), None);
        assert_eq!(url_problem("HTTP://127.0.0.1:8080/hook"), None);
        assert!(url_problem("").is_some());
    }
}
