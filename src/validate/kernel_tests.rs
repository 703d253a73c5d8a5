//! The hand-written kernels against the polars expressions they replace, on generated text.

use polars::prelude::{Column, DataFrame, Expr, IntoLazy, NamedFrom, Series, col};
use proptest::prelude::*;

use super::dates::Temporal;
use super::exprs;

/// Runs both expressions on one text column `c` and tells where they differ.
pub fn same(values: &[Option<String>], ours: Expr, theirs: Expr) -> Result<(), String> {
    let df = DataFrame::new(
        values.len(),
        vec![Column::from(Series::new("c".into(), values.to_vec()))],
    )
    .map_err(|e| e.to_string())?;
    let out = df
        .lazy()
        .select([ours.alias("ours"), theirs.alias("theirs")])
        .collect()
        .map_err(|e| e.to_string())?;
    let (a, b) = (
        out.column("ours").map_err(|e| e.to_string())?,
        out.column("theirs").map_err(|e| e.to_string())?,
    );
    if a.dtype() != b.dtype() {
        return Err(format!("types {} and {}", a.dtype(), b.dtype()));
    }
    for (i, v) in values.iter().enumerate() {
        let (x, y) = (
            a.get(i).map_err(|e| e.to_string())?,
            b.get(i).map_err(|e| e.to_string())?,
        );
        if x != y {
            return Err(format!("{v:?}: ours {x:?}, polars {y:?}"));
        }
    }
    Ok(())
}

/// Supported formats, tricky ones included: digits next to digits, signs, fractions, `%%`.
const FORMATS: &[&str] = &[
    "%d/%m/%Y",
    "%Y-%m-%d",
    "%Y%m%d",
    "%d%m%Y",
    "%m%Y%d",
    "%d.%m.%y",
    "%y%m%d",
    "%F",
    "%d %m %Y",
    "%%%d/%m/%Y%%",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S%.fZ",
    "%FT%T",
    "%d/%m/%Y %H:%M",
    "%Y%m%d%H%M%S",
    "%H:%M:%S %d/%m/%Y",
    "%Y-%m-%d %H:%M%.f",
    "%Y",
    "%m/%Y",
    "%d/%m/%Y %T",
    "%%F %d/%m/%Y",
];

/// Text close to `format`: its directives rendered with random values and widths, then maybe
/// one character replaced, inserted or removed.
fn near(format: &'static str) -> impl Strategy<Value = String> {
    (
        prop::collection::vec((0u32..3000, any::<u8>()), 8),
        prop::option::of((any::<prop::sample::Index>(), 0u8..3, junk_char())),
    )
        .prop_map(move |(parts, edit)| {
            let mut parts = parts.into_iter();
            let mut next = || parts.next().unwrap_or((0, 0));
            let mut out = String::new();
            let mut chars = format.chars();
            let num = |out: &mut String, (v, style): (u32, u8), modulo: u32| {
                let v = v % modulo;
                match style % 8 {
                    0 => out.push_str(&v.to_string()),
                    1 => out.push_str(&format!("{v:03}")),
                    _ => out.push_str(&format!("{v:02}")),
                }
            };
            let expand = |c: char| match c {
                'F' => "Y-m-d".to_string(),
                'T' => "H:M:S".to_string(),
                c => c.to_string(),
            };
            while let Some(ch) = chars.next() {
                if ch != '%' {
                    out.push(ch);
                    continue;
                }
                let Some(d) = chars.next() else { break };
                if d == '.' {
                    chars.next();
                    let (v, style) = next();
                    if style % 3 != 0 {
                        out.push('.');
                        let digits = format!("{:012}", u64::from(v) * 7_919_000_011);
                        out.push_str(&digits[..usize::from(style % 12)]);
                    }
                    continue;
                }
                for (k, d) in expand(d).chars().enumerate() {
                    if k % 2 == 1 {
                        out.push(d);
                        continue;
                    }
                    let p = next();
                    match d {
                        'Y' => {
                            match p.1 % 16 {
                                0 => out.push('+'),
                                1 => out.push('-'),
                                _ => {}
                            }
                            let y = if p.1 % 16 == 2 {
                                p.0 * 7
                            } else {
                                1900 + p.0 % 200
                            };
                            out.push_str(&format!("{:04}", y));
                        }
                        'y' => num(&mut out, p, 100),
                        'm' => num(&mut out, p, 14),
                        'd' => num(&mut out, p, 32),
                        'H' => num(&mut out, p, 25),
                        'M' | 'S' => num(&mut out, p, 61),
                        '%' => out.push('%'),
                        other => out.push(other),
                    }
                }
            }
            if let Some((at, op, c)) = edit {
                let mut v: Vec<char> = out.chars().collect();
                let i = at.index(v.len() + 1);
                match op {
                    0 if i < v.len() => v[i] = c,
                    1 => v.insert(i, c),
                    _ if i < v.len() => {
                        v.remove(i);
                    }
                    _ => {}
                }
                out = v.into_iter().collect();
            }
            out
        })
}

fn junk_char() -> impl Strategy<Value = char> {
    prop::sample::select(vec![
        '0', '1', '2', '9', '/', '-', '+', ':', '.', ' ', 'T', 'Z', '%', 'x', 'é', '٣', '\n', '\t',
        '\u{a0}',
    ])
}

fn junk() -> impl Strategy<Value = String> {
    prop::collection::vec(junk_char(), 0..14).prop_map(|v| v.into_iter().collect())
}

fn column_of(format: &'static str) -> impl Strategy<Value = Vec<Option<String>>> {
    prop::collection::vec(
        prop_oneof![
            6 => near(format).prop_map(Some),
            2 => junk().prop_map(Some),
            1 => Just(None),
        ],
        1..80,
    )
}

fn check(values: &[Option<String>], formats: &[&str], kind: Temporal) -> Result<(), String> {
    let formats: Vec<String> = formats.iter().map(|f| f.to_string()).collect();
    let theirs = exprs::first_of(
        formats
            .iter()
            .map(|f| exprs::polars_temporal(col("c"), f, kind))
            .collect(),
    );
    same(
        values,
        exprs::temporal(col("c"), &formats, kind, &super::dates::Memo::default()),
        theirs,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn dates_read_as_polars_reads_them(
        (format, values) in prop::sample::select(FORMATS).prop_flat_map(|f| (Just(f), column_of(f)))
    ) {
        prop_assert_eq!(check(&values, &[format], Temporal::Date), Ok(()), "{}", format);
    }

    #[test]
    fn datetimes_read_as_polars_reads_them(
        (format, values) in prop::sample::select(FORMATS).prop_flat_map(|f| (Just(f), column_of(f)))
    ) {
        prop_assert_eq!(check(&values, &[format], Temporal::Datetime), Ok(()), "{}", format);
    }

    #[test]
    fn the_first_format_that_reads_wins(
        (a, b, values) in (prop::sample::select(FORMATS), prop::sample::select(FORMATS))
            .prop_flat_map(|(a, b)| {
                let values = (column_of(a), column_of(b))
                    .prop_map(|(mut x, y)| { x.extend(y); x });
                (Just(a), Just(b), values)
            })
    ) {
        for kind in [Temporal::Date, Temporal::Datetime] {
            prop_assert_eq!(check(&values, &[a, b], kind), Ok(()), "{} {}", a, b);
            // One format polars keeps, one the kernel reads.
            prop_assert_eq!(check(&values, &["%d %B %Y", a], kind), Ok(()), "{}", a);
        }
    }
}

#[test]
fn date_edge_cases_read_as_polars_reads_them() {
    let values: Vec<Option<String>> = [
        "29/02/2024",
        "29/02/1900",
        "29/02/2000",
        "31/02/2024",
        "31/04/2024",
        "1/3/24",
        "1/3/2024",
        "01/03/0000",
        "00/01/2024",
        "01/00/2024",
        "01/13/2024",
        "01/03/+2024",
        "01/03/-2024",
        "+2024",
        " 01/03/2024",
        "01/03/2024 ",
        "01 /03/2024",
        "01/03/2024\n",
        "01/03/20245",
        "01/03/١٢٣٤",
        "０1/03/2024",
        "",
        " ",
        "2024-03-01",
        "01/03/2024/",
        "1/1/1",
    ]
    .iter()
    .map(|s| Some(s.to_string()))
    .chain([None])
    .collect();
    for format in ["%d/%m/%Y", "%Y-%m-%d", "%d%m%Y", "%Y%m%d"] {
        assert_eq!(
            check(&values, &[format], Temporal::Date),
            Ok(()),
            "{format}"
        );
        assert_eq!(
            check(&values, &[format], Temporal::Datetime),
            Ok(()),
            "{format}"
        );
    }
    let times: Vec<Option<String>> = [
        "2024-03-01T10:20:30",
        "2024-03-01 10:20:30",
        "2024-03-01 10:20:30.5",
        "2024-03-01 10:20:30.123456789123",
        "2024-03-01 23:59:60",
        "2024-12-31 23:59:60.5",
        "2024-03-01 24:00:00",
        "2024-03-01 10:60:00",
        "2024-03-01 1:2:3",
        "2024-03-01 10:20:30.",
        "2024-03-01 10:20:30.x",
        "-2024-03-01 10:20:30",
        "+2024-03-01 10:20:30",
        "2024-03-01 10:20",
        "2024-03-01",
    ]
    .iter()
    .map(|s| Some(s.to_string()))
    .collect();
    let defaults = [
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
    ];
    assert_eq!(check(&times, &defaults, Temporal::Datetime), Ok(()));
    for f in defaults {
        assert_eq!(check(&times, &[f], Temporal::Datetime), Ok(()), "{f}");
        assert_eq!(check(&times, &[f], Temporal::Date), Ok(()), "{f}");
    }
}

/// Words whose lower case is tricky: non-ASCII, `İ` (two characters), and `Σ`, final or not,
/// after more or fewer than 16 ASCII bytes (where polars' ASCII scan stops).
const WORDS: &[&str] = &[
    "Rouge",
    "bleu",
    "ÉCRU",
    "écru",
    "İstanbul",
    "ΟΔΟΣ",
    "οδοσ",
    "ΣΑ",
    "abcdefghijklmnopΣ",
    "abcdefghijklmnopς",
    "abcdefghijklmnopσ",
    "ABCDEFGHIJKLMNOPQΣ a",
    "aΣ",
    "oui",
    "NON",
    "ẞ",
    "ß",
    "K",
    "k",
    // ASCII around the capitals (`@` before `A`, `[` after `Z`, `` ` `` before `a`), and words
    // at and past the 12 bytes a view holds.
    "@AZ[`az{",
    "Paris-Nord12",
    "Paris-Nord123",
];

/// A word of [`WORDS`] with its letters' case changed at random, or junk.
fn wordish() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => (prop::sample::select(WORDS), any::<u64>()).prop_map(|(w, bits)| {
            w.chars()
                .enumerate()
                .map(|(i, c)| {
                    if bits >> (i % 64) & 1 == 1 {
                        c.to_uppercase().collect::<String>()
                    } else {
                        c.to_lowercase().collect::<String>()
                    }
                })
                .collect()
        }),
        1 => prop::collection::vec(
            prop::sample::select(vec!['a', 'B', 'Σ', 'σ', 'ς', 'É', ' ', '.', 'İ', 'i', '\u{307}']),
            0..20,
        )
        .prop_map(|v| v.into_iter().collect()),
    ]
}

fn word_column() -> impl Strategy<Value = Vec<Option<String>>> {
    prop::collection::vec(prop::option::weighted(0.9, wordish()), 1..60)
}

fn word_list(values: &[String]) -> Expr {
    polars::prelude::lit(Series::new("".into(), values)).implode(false)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn enum_membership_is_polars_membership(
        values in word_column(),
        set in prop::collection::vec(prop::sample::select(WORDS), 1..6),
        many in any::<bool>(),
    ) {
        let mut set: Vec<String> = set.iter().map(|s| s.to_string()).collect();
        if many {
            set.extend((0..20).map(|i| format!("filler {i}")));
        }
        for ignore_case in [true, false] {
            let words: Vec<String> = if ignore_case {
                set.iter().map(|v| v.to_lowercase()).collect()
            } else {
                set.clone()
            };
            let text = if ignore_case { col("c").str().to_lowercase() } else { col("c") };
            let theirs = text.is_in(word_list(&words), false).not();
            let ours = col("c").map(
                super::words::outside_column(super::words::Words::new(&words), ignore_case),
                super::parse::output(polars::prelude::DataType::Boolean),
            );
            prop_assert_eq!(same(&values, ours, theirs), Ok(()));
        }
    }

    #[test]
    fn booleans_read_as_polars_reads_them(
        values in word_column(),
        truthy in prop::collection::vec(prop::sample::select(WORDS), 1..4),
        falsy in prop::collection::vec(prop::sample::select(WORDS), 1..4),
    ) {
        let lower = |v: &[&str]| -> Vec<String> { v.iter().map(|s| s.trim().to_lowercase()).collect() };
        let (t, f) = (lower(&truthy), lower(&falsy));
        let lowered = col("c").str().to_lowercase();
        let theirs = polars::prelude::when(lowered.clone().is_in(word_list(&t), false))
            .then(polars::prelude::lit(true))
            .when(lowered.is_in(word_list(&f), false))
            .then(polars::prelude::lit(false))
            .otherwise(polars::prelude::lit(polars::prelude::NULL).cast(polars::prelude::DataType::Boolean));
        let ty = crate::plan::FieldType::Boolean { true_values: t, false_values: f };
        prop_assert_eq!(same(&values, exprs::parse(col("c"), &ty, &super::dates::Memo::default()), theirs), Ok(()));
    }
}

/// Text close to an email, a URL or a UUID, and junk made of the characters that matter.
fn shapeish() -> impl Strategy<Value = String> {
    let chars = |v: Vec<char>, n: usize| {
        prop::collection::vec(prop::sample::select(v), 0..n)
            .prop_map(|v| v.into_iter().collect::<String>())
    };
    let junk = vec![
        'a', 'B', '1', 'f', 'F', 's', 'ſ', '@', '.', '-', '/', '?', '#', ':', ' ', '\t', '\n', 'é',
        '\u{a0}', '\u{2028}', '\u{85}',
    ];
    let schemes = vec![
        "http://",
        "https://",
        "ftp://",
        "HTTP://",
        "hTtPs://",
        "httpſ://",
        "FTP://",
        "htp://",
        "ftps://",
        "http:/",
        "https:",
        "",
    ];
    let hex = vec!['0', '9', 'a', 'f', 'A', 'F', 'g', '-', ' '];
    prop_oneof![
        (
            chars(junk.clone(), 6),
            chars(junk.clone(), 6),
            chars(junk.clone(), 4)
        )
            .prop_map(|(a, b, c)| format!("{a}@{b}.{c}")),
        (prop::sample::select(schemes), chars(junk.clone(), 10))
            .prop_map(|(s, t)| format!("{s}{t}")),
        (
            chars(hex.clone(), 9),
            chars(hex.clone(), 5),
            chars(hex.clone(), 5),
            chars(hex, 14)
        )
            .prop_map(|(a, b, c, d)| format!("{a}-{b}-{c}-{d}")),
        chars(junk, 14),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn shapes_are_the_regexes(values in prop::collection::vec(prop::option::weighted(0.95, shapeish()), 1..40)) {
        use super::shapes::tests::{EMAIL, URL, UUID};
        use crate::plan::FieldType;
        for (ty, re) in [(FieldType::Email, EMAIL), (FieldType::Url, URL), (FieldType::Uuid, UUID)] {
            let check = super::shapes::check(&ty).expect("a text type");
            let ours = col("c").map(
                super::shapes::column(check),
                super::parse::output(polars::prelude::DataType::Boolean),
            );
            let theirs = col("c").str().contains(polars::prelude::lit(re), true);
            prop_assert_eq!(same(&values, ours, theirs), Ok(()), "{}", re);
        }
    }
}

/// A random pattern made of the pieces simple patterns use, and some they do not.
fn patternish() -> impl Strategy<Value = String> {
    let atom = prop::sample::select(vec![
        "a",
        "b",
        "A",
        "0",
        "-",
        "_",
        " ",
        "/",
        "&",
        "~",
        "#",
        r"\.",
        r"\-",
        r"\$",
        r"\n",
        ".",
        r"\d",
        r"\w",
        r"\s",
        r"\D",
        r"\W",
        r"\S",
        "[a-z]",
        "[A-Z0-9]",
        "[^a-c]",
        r"[\w.]",
        r"[\d\-]",
        "[-a]",
        "[_a-]",
        r"[^\s]",
        "[a-a]",
        "[]a]",
        "(a|b)",
        r"\p{L}",
        "é",
        "[[:alpha:]]",
    ]);
    let quantifier = prop::sample::select(vec![
        "", "", "", "?", "*", "+", "{2}", "{1,3}", "{2,}", "{0}", "*?", "+?", "{0,1}?", "{,2}",
    ]);
    (
        any::<bool>(),
        prop::collection::vec((atom, quantifier), 0..6),
        any::<bool>(),
    )
        .prop_map(|(start, atoms, end)| {
            let mut p = String::new();
            if start {
                p.push('^');
            }
            for (a, q) in atoms {
                p.push_str(a);
                p.push_str(q);
            }
            if end {
                p.push('$');
            }
            p
        })
}

fn patterned_text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(vec![
            'a', 'b', 'c', 'A', 'Z', '0', '9', '-', '_', '.', ' ', '/', '\n', '\t', '\r', '\x0b',
            '\x0c', '\x7f', '$', '&', '~', '#', ']', 'é', '٣',
        ]),
        0..10,
    )
    .prop_map(|v| v.into_iter().collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn simple_patterns_match_as_the_regex(
        pattern in patternish(),
        texts in prop::collection::vec(patterned_text(), 1..30),
    ) {
        let (Some(ours), Ok(re)) = (super::pattern::Pattern::new(&pattern), regex::Regex::new(&pattern)) else {
            return Ok(());
        };
        let mut scratch = super::pattern::Scratch::default();
        for t in &texts {
            prop_assert_eq!(ours.is_match(t, &mut scratch), re.is_match(t), "{:?} on {:?}", pattern, t);
        }
    }
}

#[test]
fn simple_patterns_are_what_polars_contains_says() {
    let values: Vec<Option<String>> = [
        "TSH-0000000",
        "TSH-00",
        "tsh-1234",
        "TSH-٠١٢٣٤",
        "",
        "ABC-12345\n",
    ]
    .iter()
    .map(|s| Some(s.to_string()))
    .chain([None])
    .collect();
    for pattern in [r"^[A-Z]{3}-\d{4,}$", r"\d{3}", r"^[a-z]*-"] {
        let p = super::pattern::Pattern::new(pattern).expect("simple");
        let ours = col("c").map(
            super::pattern::column(p),
            super::parse::output(polars::prelude::DataType::Boolean),
        );
        let theirs = col("c").str().contains(polars::prelude::lit(pattern), true);
        assert_eq!(same(&values, ours, theirs), Ok(()), "{pattern}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn lengths_are_polars_lengths(
        values in prop::collection::vec(
            prop::option::weighted(0.95, prop::collection::vec(
                prop::sample::select(vec!['a', ' ', 'é', '€', '𝄞', '\n']),
                0..16,
            ).prop_map(|v| v.into_iter().collect::<String>())),
            1..40,
        ),
        n in 0u32..20,
    ) {
        use super::length::Length;
        let kernel = |rule| col("c").map(
            super::length::column(rule),
            super::parse::output(polars::prelude::DataType::Boolean),
        );
        let chars = || col("c").str().len_chars();
        prop_assert_eq!(same(&values, kernel(Length::Least(n)), chars().lt(polars::prelude::lit(n))), Ok(()));
        prop_assert_eq!(same(&values, kernel(Length::Most(n)), chars().gt(polars::prelude::lit(n))), Ok(()));
    }
}
