//! The shapes of the text types (`email`, `url`, `uuid`), checked by hand.
//!
//! Each type's shape is a regex, which stays the definition (and the tests' oracle); the
//! functions here give exactly its answer without running a regex engine per value. The regex's
//! `\s` is Unicode `White_Space`, which is `char::is_whitespace`; its `(?i)` folds `s` with `ſ`
//! (U+017F) too.

use polars::prelude::{Column, PolarsResult};

use crate::plan::FieldType;

/// `^[^@\s]+@[^@\s]+\.[^@\s.]+$`: one `@` with text before it, a `.` in what follows with text
/// on both sides of the last one, no white space anywhere.
pub fn is_email(text: &str) -> bool {
    let b = text.as_bytes();
    // One pass: the only `@`, the last `.`, no white space. Eight bytes at a time while they
    // are printable ASCII, which holds neither white space nor a character starting it.
    let (mut at, mut dot) = (None, None);
    let mut i = 0;
    while let Some(&word) = b.get(i..).and_then(|rest| rest.first_chunk::<8>()) {
        let w = u64::from_le_bytes(word);
        if w & HIGH != 0 || below(w, 0x21) != 0 {
            if !(i..i + 8).all(|k| email_byte(b, k, &mut at, &mut dot)) {
                return false;
            }
        } else {
            let ats = zeros(w ^ (ONES * u64::from(b'@')));
            if ats != 0 {
                if at.is_some() || ats.count_ones() > 1 {
                    return false;
                }
                at = Some(i + ats.trailing_zeros() as usize / 8);
            }
            let dots = zeros(w ^ (ONES * u64::from(b'.')));
            if dots != 0 {
                dot = Some(i + (63 - dots.leading_zeros() as usize) / 8);
            }
        }
        i += 8;
    }
    if !(i..b.len()).all(|k| email_byte(b, k, &mut at, &mut dot)) {
        return false;
    }
    match (at, dot) {
        (Some(at), Some(dot)) => at > 0 && dot > at + 1 && dot + 1 < b.len(),
        _ => false,
    }
}

/// Byte `i` of a candidate email: notes an `@` or a `.`; `false` when it is a second `@` or
/// starts white space.
#[inline]
fn email_byte(b: &[u8], i: usize, at: &mut Option<usize>, dot: &mut Option<usize>) -> bool {
    match CLASS[usize::from(b[i])] {
        PLAIN => true,
        AT if at.is_some() => false,
        AT => {
            *at = Some(i);
            true
        }
        DOT => {
            *dot = Some(i);
            true
        }
        _ => !space_at(b, i),
    }
}

/// One in each byte, and the top bit of each byte.
const ONES: u64 = u64::from_ne_bytes([1; 8]);
const HIGH: u64 = ONES * 0x80;

/// The top bit of each byte of `w` that is zero, and of no other (exact: no borrow crosses
/// bytes).
#[inline]
fn zeros(w: u64) -> u64 {
    let low = ONES * 0x7f;
    !(((w & low) + low) | w) & HIGH
}

/// The top bit of each ASCII byte of `w` below `n` (at most 0x80): `b + (0x80 - n)` reaches the
/// top bit exactly when `b >= n`, and an ASCII byte plus at most 0x80 stays in its byte.
#[inline]
fn below(w: u64, n: u8) -> u64 {
    let low = ONES * 0x7f;
    !((w & low) + ONES * u64::from(0x80 - n)) & !w & HIGH
}

/// Byte classes, so that a plain byte costs one table look-up.
const PLAIN: u8 = 0;
const AT: u8 = 1;
const DOT: u8 = 2;
/// ASCII white space, or the first byte of a character that may be white space.
const SPACE: u8 = 3;

const CLASS: [u8; 256] = {
    let mut class = [PLAIN; 256];
    class[b'@' as usize] = AT;
    class[b'.' as usize] = DOT;
    let mut c = 0x09;
    while c <= 0x0d {
        class[c] = SPACE;
        c += 1;
    }
    class[b' ' as usize] = SPACE;
    class[0xc2] = SPACE;
    class[0xe1] = SPACE;
    class[0xe2] = SPACE;
    class[0xe3] = SPACE;
    class
};

/// `(?i)^(https?|ftp)://[^\s/?#]+[^\s]*$`: the scheme in any case, `://`, then text without
/// white space that does not start with `/`, `?` or `#`.
pub fn is_url(text: &str) -> bool {
    let rest = ["https", "http", "ftp"]
        .iter()
        .find_map(|scheme| after_scheme(text, scheme));
    rest.is_some_and(|rest| {
        rest.chars()
            .next()
            .is_some_and(|c| !matches!(c, '/' | '?' | '#'))
            && !has_space(rest)
    })
}

/// The text after `scheme` (in any case) and `://`.
fn after_scheme<'a>(text: &'a str, scheme: &str) -> Option<&'a str> {
    let mut chars = text.chars();
    for letter in scheme.chars() {
        if !chars.next().is_some_and(|c| folds_to(c, letter)) {
            return None;
        }
    }
    chars.as_str().strip_prefix("://")
}

/// `(?i)^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`.
pub fn is_uuid(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// Whether `c` matches ASCII letter `letter` under the regex's case-insensitive matching.
fn folds_to(c: char, letter: char) -> bool {
    c.to_ascii_lowercase() == letter || (letter == 's' && c == 'ſ')
}

/// Whether `text` has a `White_Space` character.
fn has_space(text: &str) -> bool {
    let b = text.as_bytes();
    (0..b.len()).any(|i| CLASS[usize::from(b[i])] == SPACE && space_at(b, i))
}

/// Whether a `White_Space` character starts at byte `i` of UTF-8 text `b`: ASCII tab to
/// carriage return and space, then U+0085, U+00A0, U+1680, U+2000 to U+200A, U+2028, U+2029,
/// U+202F, U+205F and U+3000, told by their bytes.
#[inline]
fn space_at(b: &[u8], i: usize) -> bool {
    let c = b[i];
    if c < 0x80 {
        return c == b' ' || (0x09..=0x0d).contains(&c);
    }
    let next = |k: usize| b.get(i + k).copied();
    match c {
        0xc2 => matches!(next(1), Some(0x85 | 0xa0)),
        0xe1 => next(1) == Some(0x9a) && next(2) == Some(0x80),
        0xe2 => match next(1) {
            Some(0x80) => matches!(next(2), Some(0x80..=0x8a | 0xa8 | 0xa9 | 0xaf)),
            Some(0x81) => next(2) == Some(0x9f),
            _ => false,
        },
        0xe3 => next(1) == Some(0x80) && next(2) == Some(0x80),
        _ => false,
    }
}

/// The shape check of a text type, `None` for other types.
pub fn check(ty: &FieldType) -> Option<fn(&str) -> bool> {
    match ty {
        FieldType::Email => Some(is_email),
        FieldType::Url => Some(is_url),
        FieldType::Uuid => Some(is_uuid),
        _ => None,
    }
}

/// `expr.map(...)` arguments: the column function telling which values have the shape (null
/// where the value is null).
pub fn column(check: fn(&str) -> bool) -> impl Fn(Column) -> PolarsResult<Column> {
    move |c: Column| super::column::test_text(&c, check)
}

#[cfg(test)]
pub mod tests {
    use super::*;

    pub const EMAIL: &str = r"^[^@\s]+@[^@\s]+\.[^@\s.]+$";
    pub const URL: &str = r"(?i)^(https?|ftp)://[^\s/?#]+[^\s]*$";
    pub const UUID: &str = r"(?i)^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$";

    fn regex(re: &str) -> regex::Regex {
        regex::Regex::new(re).expect("a valid regex")
    }

    #[test]
    fn white_space_is_the_regex_white_space() {
        let re = regex(r"^\s$");
        for c in (0..=0x10ffff).filter_map(char::from_u32) {
            let mut buf = [0; 4];
            let s = c.encode_utf8(&mut buf);
            assert_eq!(has_space(s), re.is_match(s), "{:?}", c);
            assert_eq!(has_space(&format!("é{s}x")), re.is_match(s), "{:?}", c);
        }
    }

    #[test]
    fn case_folds_are_the_regex_folds() {
        for letter in ['h', 't', 'p', 's', 'f'] {
            let re = regex(&format!("(?i)^{letter}$"));
            for c in (0..=0x10ffff).filter_map(char::from_u32) {
                let mut buf = [0; 4];
                let s = c.encode_utf8(&mut buf);
                assert_eq!(folds_to(c, letter), re.is_match(s), "{letter} {c:?}");
            }
        }
        let hex = regex("(?i)^[0-9a-f]$");
        for c in (0..=0x10ffff).filter_map(char::from_u32) {
            let mut buf = [0; 4];
            assert_eq!(
                c.is_ascii_hexdigit(),
                hex.is_match(c.encode_utf8(&mut buf)),
                "{c:?}"
            );
        }
    }

    #[test]
    fn hand_picked_values_agree_with_the_regexes() {
        let cases = [
            (EMAIL, is_email as fn(&str) -> bool),
            (URL, is_url),
            (UUID, is_uuid),
        ];
        let values = [
            "contact@aigle.fr",
            "contact@célio.fr",
            "a@b.c",
            "a@b.",
            "a@.c",
            "@b.c",
            "a@b",
            "a@@b.c",
            "a@b@c.d",
            "a b@c.d",
            "a@b.c\u{a0}",
            "a@b.c.d",
            "a@b..c",
            "a.b@c",
            "http://x",
            "https://x/y?z",
            "HTTPS://X",
            "httpſ://x",
            "ftp://x",
            "FtP://x",
            "http:///x",
            "http://?x",
            "http://#",
            "http://",
            "http:// x",
            "http://x y",
            "httpss://x",
            "htp://x",
            "ftps://x",
            "123e4567-e89b-12d3-a456-426614174000",
            "123E4567-E89B-12D3-A456-426614174000",
            "123e4567-e89b-12d3-a456-42661417400",
            "123e4567-e89b-12d3-a456-4266141740000",
            "123e4567e89b-12d3-a456-4266141740000",
            "123g4567-e89b-12d3-a456-426614174000",
            "",
        ];
        for (re, check) in cases {
            let r = regex(re);
            for v in values {
                assert_eq!(check(v), r.is_match(v), "{re} {v:?}");
            }
        }
    }
}
