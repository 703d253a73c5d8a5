//! Target paths against each other and against the output folder's own names.
//!
//! A target path is a template: literal text with `{field}` and `{batch}` placeholders. Two
//! targets must never be able to write the same file, nor one write a file where the other needs
//! a folder, whatever values the rows hold: the plan refuses such a pair before anything is read.
//! A placeholder stands for any non-empty file-name component (partition values never hold a
//! separator), so each path component is a glob with `*`, and two components can name the same
//! file when their globs share a string. Letters are compared without case, as a
//! case-insensitive disk would.

use std::collections::HashSet;

use super::{PathPart, PathTemplate};

/// One character of a path component, or a placeholder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    Char(char),
    Any,
}

/// The components of a template, each a glob.
fn components(t: &PathTemplate) -> Vec<Vec<Tok>> {
    let mut out = vec![Vec::new()];
    for part in &t.parts {
        match part {
            PathPart::Text(text) => {
                for c in text.chars() {
                    if c == '/' || c == '\\' {
                        out.push(Vec::new());
                    } else {
                        let last = out.len() - 1;
                        out[last].extend(c.to_lowercase().map(Tok::Char));
                    }
                }
            }
            PathPart::Field(_) | PathPart::Batch => {
                let last = out.len() - 1;
                out[last].push(Tok::Any);
            }
        }
    }
    out
}

/// Whether two globs match a common string.
fn meet(a: &[Tok], b: &[Tok]) -> bool {
    fn go(a: &[Tok], b: &[Tok], i: usize, j: usize, seen: &mut HashSet<(usize, usize)>) -> bool {
        if !seen.insert((i, j)) {
            return false;
        }
        match (a.get(i), b.get(j)) {
            (None, None) => true,
            (Some(Tok::Any), _) if go(a, b, i + 1, j, seen) => true,
            (_, Some(Tok::Any)) if go(a, b, i, j + 1, seen) => true,
            (Some(Tok::Any), Some(_)) if go(a, b, i, j + 1, seen) => true,
            (Some(_), Some(Tok::Any)) if go(a, b, i + 1, j, seen) => true,
            (Some(Tok::Char(x)), Some(Tok::Char(y))) => x == y && go(a, b, i + 1, j + 1, seen),
            _ => false,
        }
    }
    go(a, b, 0, 0, &mut HashSet::new())
}

/// How two targets' files could meet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overlap {
    /// Both could write the same file.
    SameFile,
    /// A file of the first is a folder the second writes into.
    FileIsFolder,
    /// A file of the second is a folder the first writes into.
    FolderIsFile,
}

/// Whether two target paths could ever name the same file, or a file and a folder.
pub fn overlap(a: &PathTemplate, b: &PathTemplate) -> Option<Overlap> {
    let (ca, cb) = (components(a), components(b));
    let n = ca.len().min(cb.len());
    if !ca.iter().zip(&cb).take(n).all(|(x, y)| meet(x, y)) {
        return None;
    }
    // A file that could be a folder only through a partition value (`{region}/x.csv` beside
    // `summary.csv`, which needs a region named `summary.csv`) fails loudly if it ever happens
    // (the file cannot be created); only literal paths are refused here.
    let literal = |c: &[Vec<Tok>]| c.iter().take(n).flatten().all(|t| *t != Tok::Any);
    match ca.len().cmp(&cb.len()) {
        std::cmp::Ordering::Equal => Some(Overlap::SameFile),
        _ if !(literal(&ca) && literal(&cb)) => None,
        std::cmp::Ordering::Less => Some(Overlap::FileIsFolder),
        std::cmp::Ordering::Greater => Some(Overlap::FolderIsFile),
    }
}

/// Why a path's literal text cannot name an output, if it cannot: the report's folder and the
/// names of the output folder's own bookkeeping are reserved, and a control character makes no
/// file name a user can type.
pub fn reserved(t: &PathTemplate) -> Option<String> {
    let comps = components(t);
    let literal = |c: &[Tok]| -> Option<String> {
        c.iter()
            .map(|t| match t {
                Tok::Char(c) => Some(*c),
                Tok::Any => None,
            })
            .collect()
    };
    if comps.first().and_then(|c| literal(c)).as_deref() == Some(super::REPORT_DIR) {
        return Some("`_report/` is where the run's report is written".into());
    }
    for c in &comps {
        let starts = c
            .iter()
            .take(".rowferry-".len())
            .map(|t| match t {
                Tok::Char(c) => *c,
                Tok::Any => '\u{0}',
            })
            .collect::<String>();
        if starts == ".rowferry-" {
            return Some(
                "names starting with `.rowferry-` belong to rowferry's own bookkeeping".into(),
            );
        }
    }
    let control = t.parts.iter().any(|p| match p {
        PathPart::Text(text) => text.chars().any(char::is_control),
        _ => false,
    });
    if control {
        return Some("it holds a control character (a line break, a tab…)".into());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(text: &str) -> PathTemplate {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(PathPart::Text(rest[..open].to_string()));
            }
            let close = open + rest[open..].find('}').expect("closed");
            let name = &rest[open + 1..close];
            parts.push(if name == "batch" {
                PathPart::Batch
            } else {
                PathPart::Field(name.into())
            });
            rest = &rest[close + 1..];
        }
        if !rest.is_empty() {
            parts.push(PathPart::Text(rest.to_string()));
        }
        PathTemplate {
            text: text.into(),
            parts,
        }
    }

    #[test]
    fn paths_that_can_name_the_same_file_overlap() {
        use Overlap::*;
        let cases = [
            ("p/Lyon.csv", "p/{city}.csv", Some(SameFile)),
            ("p/{city}.csv", "p/{region}.csv", Some(SameFile)),
            (
                "Catalog/products.csv",
                "catalog/Products.CSV",
                Some(SameFile),
            ),
            ("api/p-{batch}.json", "api/p-0001.json", Some(SameFile)),
            ("a/{x}-b.csv", "a/c-{y}.csv", Some(SameFile)),
            ("p/x.csv", "p/x.csv/all.csv", Some(FileIsFolder)),
            ("p/x.csv/all.csv", "P/x.csv", Some(FolderIsFile)),
            ("{w}/all.csv", "stock.csv", None),
            ("p/{x}.csv", "p/a.csv/b.csv", None),
            ("stock/{w}.csv", "stock/{w}.json", None),
            ("a/{x}.csv", "b/{x}.csv", None),
            ("catalog.csv", "pricing.csv", None),
            ("p/{x}-a.csv", "p/{y}-b.csv", None),
            ("api/p-{batch}.json", "api/q-{batch}.json", None),
        ];
        for (a, b, want) in cases {
            assert_eq!(overlap(&t(a), &t(b)), want, "{a} ~ {b}");
        }
    }

    #[test]
    fn report_and_bookkeeping_names_are_reserved() {
        for bad in [
            "_report/rejects.csv",
            "_REPORT/x.csv",
            ".rowferry-commit",
            ".rowferry-previous/x.csv",
            "a/.rowferry-staging/x.csv",
            "a\nb.csv",
        ] {
            assert!(reserved(&t(bad)).is_some(), "{bad}");
        }
        for good in ["report/x.csv", "a/_report/x.csv", "{x}/y.csv", ".rowferry"] {
            assert_eq!(reserved(&t(good)), None, "{good}");
        }
    }
}
