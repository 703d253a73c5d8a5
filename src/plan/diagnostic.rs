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

    /// `line:col` (1-based) of a byte offset in the mapping text.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        line_col(&self.text, offset)
    }
}

/// `line:col` (1-based, columns in characters) of a byte offset in `text`.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..floor_char_boundary(text, offset)];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

fn floor_char_boundary(text: &str, mut i: usize) -> usize {
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path.display().to_string();
        let renderer = Renderer::plain();
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
    fn line_col_counts_lines_and_characters() {
        let text = "a = 1\nnom = \"é\"\nx";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 6), (2, 1));
        let x = text.find('x').unwrap_or_default();
        assert_eq!(line_col(text, x), (3, 1));
    }

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(
            did_you_mean("tpye", ["type", "column", "required"]),
            Some("type")
        );
        assert_eq!(did_you_mean("zzz", ["type", "column"]), None);
    }
}
