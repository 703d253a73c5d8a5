//! Diagnostics about a mapping file: a message, the span it is about, a hint.
//!
//! Rendered like a compiler error (`--> file:line:col`, the source line, a caret) with
//! `annotate-snippets`, so that a user fixes every problem of a mapping in one round trip.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};

/// One problem in a mapping file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub message: String,
    /// Byte range in the mapping file, when the problem has a place.
    pub span: Option<Range<usize>>,
    /// A short label under the caret.
    pub label: String,
    /// How to fix it ("did you mean …?").
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn new(span: Option<Range<usize>>, message: impl Into<String>) -> Self {
        Diagnostic {
            message: message.into(),
            span,
            label: String::new(),
            help: None,
        }
    }

    pub fn at(span: Range<usize>, message: impl Into<String>) -> Self {
        Self::new(Some(span), message)
    }

    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Adds "did you mean `x`?" when a candidate is close to `wrong`.
    /// Adds `help` only when no suggestion (or other help) was given.
    pub fn help_if_none(self, help: impl Into<String>) -> Self {
        if self.help.is_some() {
            self
        } else {
            self.help(help)
        }
    }

    pub fn suggest<'a>(self, wrong: &str, candidates: impl IntoIterator<Item = &'a str>) -> Self {
        match did_you_mean(wrong, candidates) {
            Some(best) => self.help(format!("did you mean `{best}`?")),
            None => self,
        }
    }
}

/// The closest candidate to `wrong`, if any is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    wrong: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let wrong_lower = wrong.to_lowercase();
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(&wrong_lower, &c.to_lowercase()), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// Every problem found in one mapping file, with the text needed to render them.
#[derive(Debug, Clone)]
pub struct Diagnostics {
    pub path: PathBuf,
    pub text: String,
    pub items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn new(path: &Path, text: &str, items: Vec<Diagnostic>) -> Self {
        Diagnostics {
            path: path.to_path_buf(),
            text: text.to_string(),
            items,
        }
    }
}

impl fmt::Display for Diagnostics {
    /// Plain text: what goes into messages, files and notifications.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f, Renderer::plain())
    }
}

impl Diagnostics {
    /// The text for a terminal: coloured when `styled` (see [`crate::style`]).
    pub fn render(&self, styled: bool) -> String {
        let renderer = if styled {
            Renderer::styled()
        } else {
            Renderer::plain()
        };
        let mut text = String::new();
        let _ = self.write(&mut text, renderer);
        text
    }

    fn write(&self, f: &mut impl fmt::Write, renderer: Renderer) -> fmt::Result {
        let path = self.path.display().to_string();
        for d in &self.items {
            let title = Level::ERROR.primary_title(d.message.as_str());
            let group = match &d.span {
                Some(span) => {
                    let span = span.start.min(self.text.len())..span.end.min(self.text.len());
                    title.element(
                        Snippet::source(self.text.as_str())
                            .path(path.as_str())
                            .annotation(AnnotationKind::Primary.span(span).label(d.label.as_str())),
                    )
                }
                None => title.element(Level::NOTE.message(format!("in {path}"))),
            };
            let mut report: Vec<Group<'_>> = vec![group];
            if let Some(help) = &d.help {
                report.push(Group::with_title(
                    Level::HELP.secondary_title(help.as_str()),
                ));
            }
            writeln!(f, "{}", renderer.render(&report))?;
        }
        let n = self.items.len();
        write!(
            f,
            "error: `{path}` has {n} problem{}; nothing was read or written",
            if n == 1 { "" } else { "s" }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(
            did_you_mean("tpye", ["type", "column", "required"]),
            Some("type")
        );
        assert_eq!(did_you_mean("zzz", ["type", "column"]), None);
    }
}
