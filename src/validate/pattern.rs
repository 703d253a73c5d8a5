//! A field's `pattern`, matched without the regex engine when it is simple.
//!
//! Most patterns of a mapping are a sequence of characters and character classes with counts
//! (`^[A-Z]{3}-\d{4,}$`). On ASCII text such a pattern is a plain automaton: `\d` is `[0-9]`,
//! `\w` is `[0-9A-Za-z_]`, `\s` the six ASCII spaces, `.` anything but a line feed, whatever the
//! regex's Unicode rules say about other characters. Those patterns are compiled here to a list
//! of (class, least, most) steps and matched directly; a value with a non-ASCII character, and
//! any pattern using something else (groups, alternation, flags, anchors inside, Unicode
//! classes…), keep the `regex` crate, so results do not change.

use std::sync::OnceLock;

use polars::prelude::{Column, PolarsResult};

/// A set of ASCII characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Class([u64; 2]);

impl Class {
    const EMPTY: Class = Class([0; 2]);

    fn with(mut self, c: u8) -> Class {
        self.0[usize::from(c >> 6)] |= 1 << (c & 63);
        self
    }

    fn range(lo: u8, hi: u8) -> Class {
        (lo..=hi).fold(Class::EMPTY, Class::with)
    }

    fn union(self, o: Class) -> Class {
        Class([self.0[0] | o.0[0], self.0[1] | o.0[1]])
    }

    /// The ASCII characters not in the set.
    fn negate(self) -> Class {
        Class([!self.0[0], !self.0[1]])
    }

    fn disjoint(self, o: Class) -> bool {
        self.0[0] & o.0[0] == 0 && self.0[1] & o.0[1] == 0
    }

    #[inline]
    fn has(self, c: u8) -> bool {
        c < 128 && (self.0[usize::from(c >> 6)] >> (c & 63)) & 1 == 1
    }
}

/// `\d`, `\w`, `\s` (and their negations) restricted to ASCII.
fn perl(c: char) -> Option<Class> {
    let digit = Class::range(b'0', b'9');
    let class = match c.to_ascii_lowercase() {
        'd' => digit,
        'w' => digit
            .union(Class::range(b'a', b'z'))
            .union(Class::range(b'A', b'Z'))
            .with(b'_'),
        's' => Class::range(0x09, 0x0d).with(b' '),
        _ => return None,
    };
    Some(if c.is_ascii_uppercase() {
        class.negate()
    } else {
        class
    })
}

/// One step: between `least` and `most` characters of `class`.
#[derive(Debug, Clone, Copy)]
struct Step {
    class: Class,
    least: u32,
    most: u32,
    /// `class` as a table of the 128 ASCII characters, for the hot loop.
    table: [bool; 128],
}

impl Step {
    fn new(class: Class, least: u32, most: u32) -> Step {
        let mut table = [false; 128];
        for (c, t) in (0u8..).zip(table.iter_mut()) {
            *t = class.has(c);
        }
        Step {
            class,
            least,
            most,
            table,
        }
    }
}

/// Characters escaped to stand for themselves.
const META: &str = r"\.+*?()|[]{}^$#&-~";
/// Largest count taken in `{n,m}`, to keep matching cheap; larger counts keep the regex.
const MAX_COUNT: u32 = 100;

/// A simple pattern, compiled.
#[derive(Debug)]
pub struct Pattern {
    steps: Vec<Step>,
    /// The pattern starts with `^`, ends with `$`.
    anchored: (bool, bool),
    /// Taking each step's characters greedily is the only way to match (see [`Pattern::new`]).
    greedy: bool,
    /// The pattern itself, compiled by the regex crate on first need, for non-ASCII text.
    source: String,
    regex: OnceLock<Option<regex::Regex>>,
}

impl Pattern {
    /// Compiles `pattern`, or `None` when it is not simple.
    pub fn new(pattern: &str) -> Option<Pattern> {
        let mut chars = pattern.chars().peekable();
        let start = chars.next_if_eq(&'^').is_some();
        let mut steps = Vec::new();
        let mut end = false;
        while let Some(c) = chars.next() {
            if end {
                return None;
            }
            let class = match c {
                '$' => {
                    end = true;
                    continue;
                }
                '.' => Class::EMPTY.with(b'\n').negate(),
                '[' => class(&mut chars)?,
                '\\' => {
                    let e = chars.next()?;
                    match e {
                        'n' => Class::EMPTY.with(b'\n'),
                        't' => Class::EMPTY.with(b'\t'),
                        'r' => Class::EMPTY.with(b'\r'),
                        e if META.contains(e) => Class::EMPTY.with(e as u8),
                        e => perl(e)?,
                    }
                }
                c if c.is_ascii() && !c.is_ascii_control() && !META.contains(c) => {
                    Class::EMPTY.with(c as u8)
                }
                // `-`, `&`, `~` and `#` only mean something in classes or with flags.
                '-' | '&' | '~' | '#' => Class::EMPTY.with(c as u8),
                _ => return None,
            };
            let (least, most) = match chars.peek() {
                Some('?') => (0, 1),
                Some('*') => (0, u32::MAX),
                Some('+') => (1, u32::MAX),
                Some('{') => {
                    chars.next();
                    let counts = counts(&mut chars)?;
                    steps.push(Step::new(class, counts.0, counts.1));
                    lazy_then_no_quantifier(&mut chars)?;
                    continue;
                }
                _ => {
                    steps.push(Step::new(class, 1, 1));
                    continue;
                }
            };
            chars.next();
            steps.push(Step::new(class, least, most));
            lazy_then_no_quantifier(&mut chars)?;
        }
        // Greedy is exact when, past each step whose count may vary, no character it takes
        // could start what follows: the next steps up to the first that must take one.
        let greedy = start
            && end
            && steps.iter().enumerate().all(|(i, s)| {
                s.least == s.most || {
                    let mut follow = Class::EMPTY;
                    for next in &steps[i + 1..] {
                        follow = follow.union(next.class);
                        if next.least > 0 {
                            break;
                        }
                    }
                    s.class.disjoint(follow)
                }
            });
        Some(Pattern {
            steps,
            anchored: (start, end),
            greedy,
            source: pattern.to_string(),
            regex: OnceLock::new(),
        })
    }

    /// Whether `text` matches, as `regex::Regex::is_match` says. `scratch` is reused between
    /// calls.
    pub fn is_match(&self, text: &str, scratch: &mut Scratch) -> bool {
        if !text.is_ascii() {
            let re = self
                .regex
                .get_or_init(|| regex::Regex::new(&self.source).ok());
            return re.as_ref().is_some_and(|re| re.is_match(text));
        }
        let b = text.as_bytes();
        let n = b.len();
        // The text is ASCII: `c & 127` is `c`, and spares a bounds check.
        let has = |s: &Step, c: u8| s.table[usize::from(c & 127)];
        if self.greedy {
            let mut at: usize = 0;
            for s in &self.steps {
                let start = at;
                let limit =
                    usize::try_from(s.most).map_or(n, |most| n.min(start.saturating_add(most)));
                while at < limit && has(s, b[at]) {
                    at += 1;
                }
                if at - start < s.least as usize {
                    return false;
                }
            }
            return at == n;
        }
        // Every position each step can end at.
        let Scratch(reach, next) = scratch;
        reach.clear();
        reach.resize(n + 1, !self.anchored.0);
        reach[0] = true;
        for s in &self.steps {
            next.clear();
            next.resize(n + 1, false);
            for p in (0..=n).filter(|&p| reach[p]) {
                let mut k = 0u64;
                let mut q = p;
                loop {
                    if k >= u64::from(s.least) {
                        next[q] = true;
                    }
                    if k >= u64::from(s.most) || q == n || !has(s, b[q]) {
                        break;
                    }
                    k += 1;
                    q += 1;
                }
            }
            std::mem::swap(reach, next);
        }
        if self.anchored.1 {
            reach[n]
        } else {
            reach.contains(&true)
        }
    }
}

/// The positions reachable before and after a step, kept between values.
#[derive(Debug, Default)]
pub struct Scratch(Vec<bool>, Vec<bool>);

/// After a quantifier: an optional `?` (lazy, the same for a yes-or-no match), and no second
/// quantifier.
fn lazy_then_no_quantifier(chars: &mut std::iter::Peekable<std::str::Chars>) -> Option<()> {
    chars.next_if_eq(&'?');
    match chars.peek() {
        Some('?' | '*' | '+' | '{') => None,
        _ => Some(()),
    }
}

/// `n}`, `n,}` or `n,m}` after a `{`.
fn counts(chars: &mut std::iter::Peekable<std::str::Chars>) -> Option<(u32, u32)> {
    let number = |chars: &mut std::iter::Peekable<std::str::Chars>| {
        let mut n: Option<u32> = None;
        while let Some(d) = chars.next_if(char::is_ascii_digit) {
            n = Some(n.unwrap_or(0) * 10 + d.to_digit(10)?);
            if n > Some(MAX_COUNT) {
                return None;
            }
        }
        n
    };
    let least = number(chars)?;
    let most = if chars.next_if_eq(&',').is_some() {
        if chars.peek() == Some(&'}') {
            u32::MAX
        } else {
            number(chars)?
        }
    } else {
        least
    };
    (chars.next()? == '}' && least <= most).then_some((least, most))
}

/// A class after its `[`: characters, ranges, `\d`-like classes and escapes, maybe negated,
/// a `-` first or last standing for itself; `None` for anything else (nested classes, set
/// operations such as `--` or `&&`).
fn class(chars: &mut std::iter::Peekable<std::str::Chars>) -> Option<Class> {
    let plain = |c: char| c.is_ascii() && !c.is_ascii_control() && !"[]\\^-&~".contains(c);
    let negated = chars.next_if_eq(&'^').is_some();
    let mut set = Class::EMPTY;
    let mut first = true;
    loop {
        let c = chars.next()?;
        if c == ']' && !first {
            break;
        }
        let lo = match c {
            '\\' => {
                let e = chars.next()?;
                if let Some(p) = perl(e) {
                    set = set.union(p);
                    first = false;
                    continue;
                }
                match e {
                    'n' => b'\n',
                    't' => b'\t',
                    'r' => b'\r',
                    e if META.contains(e) => e as u8,
                    _ => return None,
                }
            }
            '-' if (first && chars.peek() != Some(&'-')) || chars.peek() == Some(&']') => {
                first = false;
                set = set.with(b'-');
                continue;
            }
            c if plain(c) => c as u8,
            _ => return None,
        };
        first = false;
        // `lo-` then `]` is `lo` and a literal `-`, left for the next turn.
        let mut ahead = chars.clone();
        if ahead.next() == Some('-') && ahead.peek() != Some(&']') {
            chars.next();
            let hi = match chars.next()? {
                '\\' => match chars.next()? {
                    e if META.contains(e) => e as u8,
                    _ => return None,
                },
                c if plain(c) => c as u8,
                _ => return None,
            };
            if hi < lo {
                return None;
            }
            set = set.union(Class::range(lo, hi));
        } else {
            set = set.with(lo);
        }
    }
    Some(if negated { set.negate() } else { set })
}

/// `expr.map(...)` arguments: the column function telling which values match `pattern` (null
/// where the value is null).
pub fn column(pattern: Pattern) -> impl Fn(Column) -> PolarsResult<Column> {
    move |c: Column| {
        let mut scratch = Scratch::default();
        super::column::test_text(&c, |v| pattern.is_match(v, &mut scratch))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simple_patterns_compile_others_keep_the_regex() {
        for p in [
            r"^[A-Z]{3}-\d{4,}$",
            r"^\d+$",
            r"[a-z]",
            r"^[\w.-]+$",
            r"^a?b*c+d{2}e{1,3}f{2,}$",
            r"^[^0-9]$",
            r"^\.\$\{$",
            r"^[A-Z]{2}\d{2}[A-Z0-9]{1,30}$",
        ] {
            assert!(Pattern::new(p).is_some(), "{p}");
        }
        for p in [
            r"^(a|b)$",
            r"(?i)^abc$",
            r"^\p{L}+$",
            r"^é$",
            r"^a$b",
            r"^[[:alpha:]]$",
            r"^[a&&b]$",
            r"^a**$",
            r"^\bword$",
            r"^a{1000}$",
            r"^[a--b]$",
        ] {
            assert!(Pattern::new(p).is_none(), "{p}");
        }
        assert!(Pattern::new(r"^[A-Z]{3}-\d{4,}$").is_some_and(|p| p.greedy));
        assert!(Pattern::new(r"^\d*\d$").is_some_and(|p| !p.greedy));
    }

    #[test]
    fn every_ascii_character_is_classed_as_the_regex_does() {
        let mut scratch = Scratch::default();
        for atom in [
            ".",
            r"\d",
            r"\w",
            r"\s",
            r"\D",
            r"\W",
            r"\S",
            r"[\s]",
            r"[^\w]",
            "[a-z]",
            "[^A-Z0-9]",
            r"\n",
            r"\t",
            r"\r",
            r"\.",
            r"\$",
            r"\#",
            r"\&",
            r"\~",
            r"\-",
            "-",
            "&",
            "~",
            "#",
            " ",
            "[-a]",
            "[a-]",
            r"[\w.-]",
            r"[\-\]]",
        ] {
            let pattern = format!("^{atom}$");
            let ours = Pattern::new(&pattern).expect("simple");
            let re = regex::Regex::new(&pattern).expect("a valid regex");
            for c in 0u8..128 {
                let text = char::from(c).to_string();
                assert_eq!(
                    ours.is_match(&text, &mut scratch),
                    re.is_match(&text),
                    "{pattern} on {c:#x}"
                );
            }
        }
    }

    #[test]
    fn matches_as_the_regex_does() {
        let mut scratch = Scratch::default();
        let p = Pattern::new(r"^[A-Z]{3}-\d{4,}$").expect("simple");
        for (text, expected) in [
            ("TSH-0000000", true),
            ("TSH-000", false),
            ("tsh-0000", false),
            ("TSH-0000x", false),
            ("TSH-٠١٢٣", true),
            ("TSH-0000\n", false),
        ] {
            assert_eq!(p.is_match(text, &mut scratch), expected, "{text:?}");
        }
    }
}
