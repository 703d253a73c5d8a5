//! Where a partition file is named: a target's path template rendered for one partition's
//! values and batch, each value sanitised into one safe file-name component.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::plan::{PathPart, Target};

/// The relative path of a target file.
pub(super) fn render(
    t: &Target,
    key: &[Option<String>],
    batch: u64,
    suffix: Option<&str>,
) -> PathBuf {
    let mut s = String::new();
    let mut k = 0;
    for part in &t.path.parts {
        match part {
            PathPart::Text(text) => s.push_str(text),
            PathPart::Field(_) => {
                s.push_str(&sanitise(key.get(k).and_then(|v| v.as_deref())));
                if let Some(suffix) = suffix {
                    s.push('~');
                    s.push_str(suffix);
                }
                k += 1;
            }
            PathPart::Batch => s.push_str(&format!("{batch:04}")),
        }
    }
    // A value never names the report's folder (`{region}/x.csv` with region `_report`).
    let first = s.split(['/', '\\']).next().unwrap_or("");
    if first.eq_ignore_ascii_case(crate::plan::REPORT_DIR) {
        s.insert(0, '_');
    }
    PathBuf::from(s)
}

/// A partition value as one safe file-name component: no separators, no `.`/`..`, no control
/// or reserved characters, no leading dot (hidden file), no Windows device name (`CON`, `nul.txt`,
/// `COM1` → `_CON`…), bounded length. An empty or null value is `_empty`.
pub fn sanitise(value: Option<&str>) -> String {
    let v = value.unwrap_or("").trim();
    if v.is_empty() {
        return "_empty".into();
    }
    let mut out: String = v
        .chars()
        .map(|c| match c {
            '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|' => '_',
            c if c.is_control() || invisible(c) => '_',
            c => c,
        })
        .collect();
    if out.starts_with('.') {
        out.replace_range(0..1, "_");
    }
    if out.ends_with('.') || out.ends_with(' ') {
        out.pop();
        out.push('_');
    }
    // Windows device names, with or without an extension, name no file there.
    let stem = out
        .split('.')
        .next()
        .unwrap_or("")
        .trim_end()
        .to_ascii_uppercase();
    let reserved = matches!(
        stem.as_str(),
        "CON" | "PRN" | "AUX" | "NUL" | "CONIN$" | "CONOUT$"
    ) || stem
        .strip_prefix("COM")
        .or_else(|| stem.strip_prefix("LPT"))
        .is_some_and(|n| {
            let mut n = n.chars();
            // Windows reserves the superscript digits too (`COM¹`).
            n.next()
                .is_some_and(|d| d.is_ascii_digit() || matches!(d, '¹' | '²' | '³'))
                && n.next().is_none()
        });
    if reserved {
        out.insert(0, '_');
    }
    const MAX: usize = 100;
    if out.len() > MAX {
        let mut end = MAX;
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
    }
    out
}

/// Characters that change how a name is shown without showing themselves: bidirectional
/// overrides (`U+202E` makes `gpj.exe` read `exe.jpg`), zero-width characters, the soft hyphen
/// and other format characters.
fn invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{061C}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{2028}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{E0000}'..='\u{E007F}'
    )
}

/// A short, stable tag that tells apart values that sanitise to the same name.
pub(super) fn disambiguator(key: &[Option<String>]) -> String {
    let mut h = Sha256::new();
    for v in key {
        h.update(v.as_deref().unwrap_or("\u{0}").as_bytes());
        h.update([0x1f]);
    }
    crate::plan::hex(&h.finalize()[..4])
}

pub(super) fn fold(p: &Path) -> String {
    slash(p).to_lowercase()
}

/// `p` with `/` separators, as the report writes paths.
pub fn slash(p: &Path) -> String {
    p.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::sanitise;

    #[test]
    fn partition_values_become_safe_names() {
        let cases = [
            (None, "_empty"),
            (Some(""), "_empty"),
            (Some("  "), "_empty"),
            (Some(".."), "__"),
            (Some("."), "_"),
            (Some("../etc/passwd"), "_._etc_passwd"),
            (Some("a/b\\c"), "a_b_c"),
            (Some("C:"), "C_"),
            (Some(".hidden"), "_hidden"),
            (Some("tab\there"), "tab_here"),
            (Some("line\nbreak\u{0}"), "line_break_"),
            (Some("CON"), "_CON"),
            (Some("nul.txt"), "_nul.txt"),
            (Some("Com1"), "_Com1"),
            (Some("LPT9.csv"), "_LPT9.csv"),
            (Some("COM¹"), "_COM¹"),
            (Some("lpt³.txt"), "_lpt³.txt"),
            (Some("COM10"), "COM10"),
            (Some("invoice\u{202E}fdp.exe"), "invoice_fdp.exe"),
            (Some("a\u{200B}b"), "a_b"),
            (Some("COMPANY"), "COMPANY"),
            (Some("Nord-Est"), "Nord-Est"),
            (Some("trailing."), "trailing_"),
            (Some("Île-de-France"), "Île-de-France"),
        ];
        for (value, expected) in cases {
            assert_eq!(sanitise(value), expected, "{value:?}");
        }
        let long = "é".repeat(80);
        let s = sanitise(Some(&long));
        assert!(s.len() <= 100 && s.chars().all(|c| c == 'é'));
    }
}
