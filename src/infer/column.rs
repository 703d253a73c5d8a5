//! One column's evidence while the file is read, and the field it makes: each value can only
//! rule candidate types out, so the order values come in does not matter.

use std::collections::BTreeSet;

use chrono::{NaiveDate, NaiveDateTime};

use super::{DISTINCT, quoted};

/// Date formats tried, day first before month first.
const DATES: [&str; 6] = [
    "%Y-%m-%d", "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%d-%m-%Y", "%Y/%m/%d",
];
const DATETIMES: [&str; 4] = [
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S",
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
];
/// Pairs of words read as true and false.
const WORDS: [(&str, &str); 6] = [
    ("true", "false"),
    ("yes", "no"),
    ("oui", "non"),
    ("y", "n"),
    ("t", "f"),
    ("vrai", "faux"),
];
/// Text with at most this many distinct values over at least [`ENUM_ROWS`] values is an enum.
const ENUM_VALUES: usize = 12;
const ENUM_ROWS: u64 = 20;

/// What one column's values have shown so far.
pub struct Column {
    values: u64,
    empty: u64,
    distinct: BTreeSet<String>,
    overflowed: bool,
    integer: bool,
    leading_zero: bool,
    decimal: bool,
    /// The decimal separator seen (`.` or `,`), and the most places after it.
    separator: Option<char>,
    scale: usize,
    dates: Vec<&'static str>,
    datetimes: Vec<&'static str>,
    /// Word pairs every value belongs to, and the spellings seen of each side.
    booleans: Vec<usize>,
    uuid: bool,
    email: bool,
    url: bool,
}

impl Default for Column {
    fn default() -> Self {
        Column {
            values: 0,
            empty: 0,
            distinct: BTreeSet::new(),
            overflowed: false,
            integer: true,
            leading_zero: false,
            decimal: true,
            separator: None,
            scale: 0,
            dates: DATES.to_vec(),
            datetimes: DATETIMES.to_vec(),
            booleans: (0..WORDS.len()).collect(),
            uuid: true,
            email: true,
            url: true,
        }
    }
}

impl Column {
    /// Takes one value into account (`""` for an empty cell).
    pub fn see(&mut self, value: &str) {
        self.values += 1;
        let v = value.trim();
        if v.is_empty() {
            self.empty += 1;
            return;
        }
        // Text is compared as it is (a string field is not trimmed): ` Lacoste` is its own value.
        if !self.overflowed && !self.distinct.contains(value) {
            if self.distinct.len() >= DISTINCT {
                self.overflowed = true;
                self.distinct.clear();
            } else {
                self.distinct.insert(value.to_string());
            }
        }
        let digits = v.strip_prefix('-').unwrap_or(v);
        let is_int =
            !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) && digits.len() <= 18;
        if is_int && digits.len() > 1 && digits.starts_with('0') {
            self.leading_zero = true;
        }
        self.integer &= is_int;
        if self.decimal {
            self.decimal = self.decimal_fits(digits);
        }
        let lower = v.to_ascii_lowercase();
        self.booleans
            .retain(|&k| lower == WORDS[k].0 || lower == WORDS[k].1);
        self.dates
            .retain(|f| NaiveDate::parse_from_str(v, f).is_ok());
        self.datetimes
            .retain(|f| NaiveDateTime::parse_from_str(v, f).is_ok());
        self.uuid &= is_uuid(v);
        self.email &= is_email(v);
        self.url &= v.starts_with("https://") || v.starts_with("http://");
    }

    /// Whether `digits` (the value without its sign) is a decimal number of the one separator.
    fn decimal_fits(&mut self, digits: &str) -> bool {
        let Some(at) = digits.find(['.', ',']) else {
            return !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
        };
        let sep = digits[at..].chars().next().unwrap_or('.');
        let (int, frac) = (&digits[..at], &digits[at + 1..]);
        let ok = !int.is_empty()
            && !frac.is_empty()
            && int.bytes().all(|b| b.is_ascii_digit())
            && frac.bytes().all(|b| b.is_ascii_digit())
            && frac.len() <= 12
            && self.separator.is_none_or(|s| s == sep);
        if ok {
            self.separator = Some(sep);
            self.scale = self.scale.max(frac.len());
        }
        ok
    }

    fn filled(&self) -> u64 {
        self.values - self.empty
    }

    /// The field's keys, as TOML: type and options, `required`, `unique`, `enum`.
    pub fn spec(&self, rows: u64) -> Vec<String> {
        let mut spec = Vec::new();
        let filled = self.filled();
        let mut text = false;
        if filled == 0 {
            text = true;
        } else if let Some(&k) = self.booleans.first() {
            let (t, f) = WORDS[k];
            spec.push("type = \"boolean\"".into());
            spec.push(format!("true_values = [{}]", quoted(t)));
            spec.push(format!("false_values = [{}]", quoted(f)));
        } else if self.integer && !self.leading_zero {
            spec.push("type = \"integer\"".into());
        } else if self.decimal && !self.leading_zero && self.separator.is_some() {
            spec.push("type = \"decimal\"".into());
            if self.separator == Some(',') {
                spec.push("decimal_separator = \",\"".into());
            }
            spec.push(format!("scale = {}", self.scale.max(1)));
        } else if let Some(f) = self.dates.first() {
            spec.push("type = \"date\"".into());
            spec.push(format!("format = {}", quoted(f)));
        } else if let Some(f) = self.datetimes.first() {
            spec.push("type = \"datetime\"".into());
            spec.push(format!("format = {}", quoted(f)));
        } else if self.uuid {
            spec.push("type = \"uuid\"".into());
        } else if self.email {
            spec.push("type = \"email\"".into());
        } else if self.url {
            spec.push("type = \"url\"".into());
        } else {
            text = true;
        }
        if text {
            spec.insert(0, "type = \"string\"".into());
        }
        if self.empty == 0 && rows > 0 {
            spec.push("required = true".into());
        }
        let all_distinct =
            !self.overflowed && self.distinct.len() as u64 == filled && filled == rows && rows > 1;
        let key_like = text || self.integer || self.uuid || self.email;
        if all_distinct && key_like {
            spec.push("unique = true".into());
        } else if text
            && !self.overflowed
            && filled >= ENUM_ROWS
            && (2..=ENUM_VALUES).contains(&self.distinct.len())
        {
            let values: Vec<String> = self.distinct.iter().map(|v| quoted(v)).collect();
            spec.push(format!("enum = [{}]", values.join(", ")));
        }
        spec
    }

    /// What the field was decided from: `0 empty of 1,000,000; 8 distinct`.
    pub fn evidence(&self) -> String {
        let distinct = match self.overflowed {
            true => format!("more than {DISTINCT} distinct"),
            false => format!("{} distinct", self.distinct.len()),
        };
        let mut s = format!("{} empty of {}; {distinct}", self.empty, self.values);
        if self.leading_zero && self.integer {
            s.push_str("; digits with leading zeros: kept as text");
        }
        if self.booleans.is_empty() && self.integer && !self.leading_zero {
            // nothing to add
        } else if self.dates.len() > 1 && self.dates.first() == Some(&"%d/%m/%Y") {
            s.push_str("; every date reads day first or month first: day first chosen");
        }
        s
    }
}

fn is_uuid(v: &str) -> bool {
    let parts: Vec<&str> = v.split('-').collect();
    parts.len() == 5
        && [8, 4, 4, 4, 12]
            .iter()
            .zip(&parts)
            .all(|(n, p)| p.len() == *n && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn is_email(v: &str) -> bool {
    let Some((local, domain)) = v.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !v.contains(char::is_whitespace)
        && !domain.contains('@')
}

#[cfg(test)]
mod tests {
    use super::Column;

    fn spec(values: &[&str]) -> Vec<String> {
        let mut c = Column::default();
        for v in values {
            c.see(v);
        }
        c.spec(values.len() as u64)
    }

    #[test]
    fn the_narrowest_type_every_value_fits() {
        assert_eq!(spec(&["1", "-2", "30"])[0], "type = \"integer\"");
        assert_eq!(
            spec(&["007", "12"])[0],
            "type = \"string\"",
            "a leading zero keeps text"
        );
        assert_eq!(
            spec(&["12,50", "3", "0,125"])[..3],
            [
                "type = \"decimal\"",
                "decimal_separator = \",\"",
                "scale = 3"
            ]
        );
        assert_eq!(
            spec(&["1.5", "2,5"])[0],
            "type = \"string\"",
            "two separators"
        );
        assert_eq!(
            spec(&["31/01/2024", "29/02/2024"])[1],
            "format = \"%d/%m/%Y\""
        );
        assert_eq!(
            spec(&["01/31/2024", "02/29/2024"])[1],
            "format = \"%m/%d/%Y\""
        );
        assert_eq!(spec(&["oui", "NON", "non"])[0], "type = \"boolean\"");
        assert_eq!(spec(&["a@b.fr", "c@d.com"])[0], "type = \"email\"");
        assert_eq!(spec(&["", ""])[0], "type = \"string\"");
        assert_eq!(
            spec(&["x", ""]),
            ["type = \"string\""],
            "an empty value: not required"
        );
    }

    #[test]
    fn keys_and_small_sets() {
        assert!(spec(&["a", "b", "c"]).contains(&"unique = true".to_string()));
        let colours: Vec<&str> = ["red", "blue"].iter().cycle().take(40).copied().collect();
        assert_eq!(
            spec(&colours).last().map(String::as_str),
            Some("enum = [\"blue\", \"red\"]")
        );
    }
}
