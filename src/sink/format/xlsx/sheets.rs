//! Sheet names: what Excel refuses in a name (checked by the plan before any data is read), and
//! the names of a target's sheets when its rows overflow one.

use super::MAX_SHEET_NAME;

// ---------------------------------------------------------------------------------------------

/// Why `name` cannot be an Excel sheet name, if it cannot; a name longer than 31 characters is
/// fine (it is shortened). For the plan to check a mapping before any data is read.
pub fn sheet_name_problem(name: &str) -> Option<&'static str> {
    if name.trim().is_empty() {
        Some("it is blank")
    } else if name.contains(['[', ']', ':', '*', '?', '/', '\\']) {
        Some("it contains one of [ ] : * ? / \\")
    } else if name.starts_with('\'') || name.ends_with('\'') {
        Some("it starts or ends with an apostrophe")
    } else if name.eq_ignore_ascii_case("history") {
        Some("Excel reserves `History`")
    } else if name.chars().any(char::is_control) {
        Some("it contains a control character")
    } else {
        None
    }
}

/// `name` cut to at most `max` UTF-16 code units, without a trailing apostrophe or space.
pub(super) fn shorten(name: &str, max: usize) -> &str {
    let mut units = 0;
    let mut end = 0;
    for (i, c) in name.char_indices() {
        units += c.len_utf16();
        if units > max {
            break;
        }
        end = i + c.len_utf8();
    }
    name[..end].trim_end_matches(['\'', ' '])
}

/// The names of `count` sheets: `base`, `base (2)`, `base (3)`…, each within 31 characters and
/// distinct from the others (Excel compares them case-insensitively).
pub(super) fn sheet_names(base: &str, count: u64) -> Vec<String> {
    let mut names: Vec<String> = vec![shorten(base, MAX_SHEET_NAME).to_string()];
    let mut n: u64 = 1;
    while (names.len() as u64) < count {
        n += 1;
        let suffix = format!(" ({n})");
        let name = format!("{}{suffix}", shorten(base, MAX_SHEET_NAME - suffix.len()));
        if !names
            .iter()
            .any(|m| m.to_lowercase() == name.to_lowercase())
        {
            names.push(name);
        }
    }
    names
}
