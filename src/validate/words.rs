//! Whether a text is one of a few words (`enum` values, `true_values`, `false_values`), without
//! building a lower-cased copy of the column.
//!
//! Case-insensitive membership used to be `str.to_lowercase()` then `is_in`: a whole new string
//! column per rule. Here an ASCII value is compared with the words of its length ignoring ASCII
//! case, and any other is lower-cased into one reused buffer, then looked up. The lower-casing is
//! polars' own, so results do not change: ASCII bytes one by one, any other character by
//! `char::to_lowercase`, except `Σ`, whose lower case depends on its neighbours and on where
//! polars' chunked ASCII scan stopped; the few values holding one are lower-cased by polars
//! itself. Case-sensitive `enum` rules use the same lookup, without lower-casing.

use foldhash::fast::FixedState;
use hashbrown::HashSet;
use polars::prelude::{
    BooleanChunked, Column, IntoColumn, PolarsResult, StringChunked, StringNameSpaceImpl,
};

/// A set of words, compared byte for byte (after lower-casing when case is ignored).
#[derive(Debug, Clone)]
pub struct Words {
    /// Few words: those of each length, indexed by length, so that a value is compared with
    /// the one or two words of its length only.
    by_len: Vec<Vec<Box<[u8]>>>,
    many: Option<HashSet<Box<[u8]>, FixedState>>,
}

/// Above this many words, or words this long, a hash set.
const FEW: usize = 16;
const SHORT: usize = 64;

impl Words {
    /// The set of `words`, taken as given: the caller lower-cases them when case is ignored.
    pub fn new<S: AsRef<str>>(words: &[S]) -> Words {
        let all: Vec<Box<[u8]>> = words.iter().map(|w| w.as_ref().as_bytes().into()).collect();
        if all.len() > FEW || all.iter().any(|w| w.len() > SHORT) {
            return Words {
                by_len: Vec::new(),
                many: Some(all.into_iter().collect()),
            };
        }
        let mut by_len: Vec<Vec<Box<[u8]>>> = Vec::new();
        for w in all {
            if by_len.len() <= w.len() {
                by_len.resize(w.len() + 1, Vec::new());
            }
            by_len[w.len()].push(w);
        }
        Words { by_len, many: None }
    }

    #[inline]
    fn contains(&self, text: &[u8]) -> bool {
        match &self.many {
            Some(set) => set.contains(text),
            None => self
                .by_len
                .get(text.len())
                .is_some_and(|ws| ws.iter().any(|w| **w == *text)),
        }
    }

    /// Whether the lower case of ASCII `text` is one of the words, without writing it: the
    /// words, lower-cased, have no ASCII capital, so comparing both sides lower-cased is the
    /// same. `None` for a hashed set, which needs the lower-cased text.
    #[inline]
    fn contains_ascii_ignoring_case(&self, text: &[u8]) -> Option<bool> {
        match &self.many {
            Some(_) => None,
            None => Some(
                self.by_len
                    .get(text.len())
                    .is_some_and(|ws| ws.iter().any(|w| w.eq_ignore_ascii_case(text))),
            ),
        }
    }
}

/// Lower-cases `text` into `buf` as polars' `str.to_lowercase` does; `false` (and `buf`
/// unspecified) for a text with a `Σ`, which only polars lower-cases exactly.
fn lowercase_into(text: &str, buf: &mut Vec<u8>) -> bool {
    buf.clear();
    if text.is_ascii() {
        buf.extend(text.bytes().map(|b| b.to_ascii_lowercase()));
        return true;
    }
    let mut utf8 = [0; 4];
    for c in text.chars() {
        if c == 'Σ' {
            return false;
        }
        for l in c.to_lowercase() {
            buf.extend_from_slice(l.encode_utf8(&mut utf8).as_bytes());
        }
    }
    true
}

/// For each value: null when the value is null, else `decide(k)` where `k` is the index of the
/// first of `sets` holding the value (lower-cased first when `ignore_case`), `None` if none does.
fn classify(
    c: &Column,
    sets: &[Words],
    ignore_case: bool,
    decide: impl Fn(Option<usize>) -> Option<bool>,
) -> PolarsResult<Column> {
    let ca = c.str()?;
    let first = |text: &[u8]| decide(sets.iter().position(|s| s.contains(text)));
    let hashed = sets.iter().any(|s| s.many.is_some());
    let first_ascii = |text: &[u8]| {
        decide(
            sets.iter()
                .position(|s| s.contains_ascii_ignoring_case(text) == Some(true)),
        )
    };
    let mut buf = Vec::new();
    let mut sigma = Vec::new();
    let mut out: Vec<Option<bool>> = Vec::with_capacity(ca.len());
    // Array by array: the chunked array's own iterator costs more than the lookup.
    for arr in ca.downcast_iter() {
        for v in arr.iter() {
            out.push(match v {
                None => None,
                Some(v) if !ignore_case => first(v.as_bytes()),
                Some(v) if !hashed && v.is_ascii() => first_ascii(v.as_bytes()),
                Some(v) if lowercase_into(v, &mut buf) => first(&buf),
                Some(_) => {
                    sigma.push(out.len());
                    None
                }
            });
        }
    }
    if !sigma.is_empty() {
        let values: StringChunked = sigma.iter().map(|&i| ca.get(i)).collect();
        for (&i, lower) in sigma.iter().zip(values.to_lowercase().iter()) {
            out[i] = lower.and_then(|l| first(l.as_bytes()));
        }
    }
    let out: BooleanChunked = out.into_iter().collect();
    Ok(out.with_name(c.name().clone()).into_column())
}

/// `expr.map(...)` arguments: the column function telling, for an `enum` rule, which values are
/// outside `values` (null where the value is null).
pub fn outside_column(values: Words, ignore_case: bool) -> impl Fn(Column) -> PolarsResult<Column> {
    move |c: Column| {
        classify(&c, std::slice::from_ref(&values), ignore_case, |k| {
            Some(k.is_none())
        })
    }
}

/// `expr.map(...)` arguments: the column function reading a boolean from its words, ignoring
/// case: true, false, or null when the value is null or neither.
pub fn boolean_column(truthy: Words, falsy: Words) -> impl Fn(Column) -> PolarsResult<Column> {
    let sets = [truthy, falsy];
    move |c: Column| classify(&c, &sets, true, |k| k.map(|k| k == 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowercases_as_polars_or_says_it_cannot() {
        let mut buf = Vec::new();
        assert!(lowercase_into("BLANC", &mut buf));
        assert_eq!(buf, b"blanc");
        assert!(lowercase_into("ÉCRU İ", &mut buf));
        assert_eq!(buf, "écru i\u{307}".as_bytes());
        assert!(!lowercase_into("ΟΔΟΣ", &mut buf));
    }

    #[test]
    fn many_words_are_hashed() {
        let words: Vec<String> = (0..40).map(|i| format!("w{i}")).collect();
        let set = Words::new(&words);
        assert!(set.many.is_some());
        assert!(Words::new(&["a", "bc", "de"]).many.is_none());
        assert!(Words::new(&["bc"]).contains(b"bc"));
        assert!(!Words::new(&["bc"]).contains(b"bcd"));
        assert!(set.contains(b"w39"));
        assert!(!set.contains(b"w40"));
    }
}
