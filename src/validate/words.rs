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
use polars_arrow::array::{Array, BooleanArray, View};
use polars_arrow::bitmap::{Bitmap, BitmapBuilder};
use polars_arrow::datatypes::ArrowDataType;

/// A set of words, compared byte for byte (after lower-casing when case is ignored).
#[derive(Debug, Clone)]
pub struct Words {
    /// Few words: those of each length, indexed by length, so that a value is compared with
    /// the one or two words of its length only.
    by_len: Vec<Vec<Box<[u8]>>>,
    /// Few words: those of at most [`View::MAX_INLINE_SIZE`] bytes as the view a value equal to
    /// them has (its length, then its bytes, zero-padded), so that a short value is compared
    /// with a word as one 128-bit number.
    short: Vec<u128>,
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
                short: Vec::new(),
                many: Some(all.into_iter().collect()),
            };
        }
        let short = all
            .iter()
            .filter(|w| w.len() <= View::MAX_INLINE_SIZE as usize)
            .map(|w| View::new_inline(w).as_u128())
            .collect();
        let mut by_len: Vec<Vec<Box<[u8]>>> = Vec::new();
        for w in all {
            if by_len.len() <= w.len() {
                by_len.resize(w.len() + 1, Vec::new());
            }
            by_len[w.len()].push(w);
        }
        Words {
            by_len,
            short,
            many: None,
        }
    }

    /// Whether the short value whose view is `view` is one of the words; for few words only.
    /// Every word is compared, without stopping at the first equal one: which word a value is
    /// follows the data, a branch on it is mispredicted.
    #[inline]
    fn holds_view(&self, view: u128) -> bool {
        self.short
            .iter()
            .fold(false, |found, w| found | (*w == view))
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

/// Each of the 12 value bytes of an inline view (above the 4-byte length) set to `b`.
const fn bytes(b: u8) -> u128 {
    let mut x = 0u128;
    let mut i = 4;
    while i < 16 {
        x |= (b as u128) << (8 * i);
        i += 1;
    }
    x
}

/// The view of a short value as the words' views are compared with it: lower-cased when
/// `ignore_case`; `None` when that cannot be done on the view (a byte outside ASCII).
#[inline]
fn compared_view(view: u128, ignore_case: bool) -> Option<u128> {
    if !ignore_case {
        return Some(view);
    }
    if view & bytes(0x80) != 0 {
        return None;
    }
    // ASCII bytes only, so adding below 0x80 to each never carries into the next: the top bit
    // of each sum says `b >= b'A'`, then `b > b'Z'`; a capital gets 0x20.
    let at_least_a = view.wrapping_add(bytes(0x80 - b'A'));
    let above_z = view.wrapping_add(bytes(0x80 - b'Z' - 1));
    Some(view | ((at_least_a & !above_z & bytes(0x80)) >> 2))
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
    let mut bits = BitmapBuilder::with_capacity(ca.len());
    let mut valid = BitmapBuilder::with_capacity(ca.len());
    let mut push = |out: Option<bool>| {
        valid.push(out.is_some());
        bits.push(out == Some(true));
    };
    // Array by array, view by view: a short value is decided from its view alone.
    let mut start = 0;
    for arr in ca.downcast_iter() {
        let validity = arr.validity();
        for (i, view) in arr.views().iter().enumerate() {
            if validity.is_some_and(|v| !v.get_bit(i)) {
                push(None);
                continue;
            }
            if !hashed
                && view.length <= View::MAX_INLINE_SIZE
                && let Some(v) = compared_view(view.as_u128(), ignore_case)
            {
                push(decide(sets.iter().position(|s| s.holds_view(v))));
                continue;
            }
            let v = arr.value(i);
            push(match v {
                _ if !ignore_case => first(v.as_bytes()),
                _ if !hashed && v.is_ascii() => first_ascii(v.as_bytes()),
                _ if lowercase_into(v, &mut buf) => first(&buf),
                _ => {
                    sigma.push(start + i);
                    None
                }
            });
        }
        start += arr.len();
    }
    let (mut bits, valid) = (bits.freeze(), valid.freeze());
    let mut valid = valid.make_mut();
    if !sigma.is_empty() {
        let mut set = bits.make_mut();
        let values: StringChunked = sigma.iter().map(|&i| ca.get(i)).collect();
        for (&i, lower) in sigma.iter().zip(values.to_lowercase().iter()) {
            let out = lower.and_then(|l| first(l.as_bytes()));
            valid.set(i, out.is_some());
            set.set(i, out == Some(true));
        }
        bits = set.freeze();
    }
    let valid: Bitmap = valid.freeze();
    let valid = (valid.unset_bits() > 0).then_some(valid);
    let arr = BooleanArray::new(ArrowDataType::Boolean, bits, valid);
    Ok(BooleanChunked::with_chunk(c.name().clone(), arr).into_column())
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
