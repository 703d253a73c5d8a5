//! Sniffing: what a CSV file does not declare, told from its first lines.
//!
//! This module owns the guesses made before any row is read — the line break, the quote
//! character, the delimiter, the line of the header below a title block, and whether there is
//! a header at all — each from the first records of the text as [`Records`] reads them, so
//! a guess and the reading that follows it agree on lines and quoting. Guesses are
//! conservative: a file that gives no clear sign is read as a comma file with a header on its
//! first line.

use super::records::{Dialect, Event, Records};

/// How much text the guesses look at.
pub(super) const HEAD_BYTES: usize = 64 * 1024;

/// How many records the guesses look at.
const SAMPLE_RECORDS: usize = 50;

/// The delimiters tried, in order of preference when the evidence ties.
const DELIMITERS: [u8; 4] = [b',', b';', b'\t', b'|'];

/// One record of the head of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Sample {
    /// The physical line where it starts.
    pub line: u64,
    pub fields: Vec<String>,
}

/// `\r` for files whose lines end with a lone `\r` (classic Mac), else `\n`.
pub(super) fn newline(head: &[u8]) -> u8 {
    if head.contains(&b'\r') && !head.contains(&b'\n') {
        b'\r'
    } else {
        b'\n'
    }
}

/// The quote character: `'` only when some field is wholly quoted with it and none with `"`,
/// since an apostrophe is common in text and a double quote rarely is a field's edge.
pub(super) fn quote(head: &[u8], newline: u8, delimiter: Option<u8>) -> u8 {
    let delimiters = match &delimiter {
        Some(d) => std::slice::from_ref(d),
        None => &DELIMITERS[..],
    };
    let single = quoted_fields(head, b'\'', newline, delimiters);
    if single > 0 && quoted_fields(head, b'"', newline, delimiters) == 0 {
        b'\''
    } else {
        b'"'
    }
}

/// Fields of one line wholly enclosed in `quote`: the quote opens at the start of the line or
/// right after a delimiter, and the next one closes at the end of the line or right before a
/// delimiter.
fn quoted_fields(head: &[u8], quote: u8, newline: u8, delimiters: &[u8]) -> usize {
    let mut count = 0;
    // Lines and quotes are found with `memchr`: the head is up to a megabyte of text, read
    // before any row, and most of its lines hold no quote.
    let mut start = 0;
    while start <= head.len() {
        let end = memchr::memchr(newline, &head[start..]).map_or(head.len(), |at| start + at);
        let line = &head[start..end];
        start = end + 1;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let mut i = 0;
        while let Some(at) = memchr::memchr(quote, &line[i..]) {
            i += at;
            let opens = i == 0 || delimiters.contains(&line[i - 1]);
            if !opens {
                i += 1;
                continue;
            }
            let Some(close) = memchr::memchr(quote, &line[i + 1..]) else {
                break;
            };
            let after = i + 1 + close + 1;
            if after == line.len() || delimiters.contains(&line[after]) {
                count += 1;
            }
            i = after;
            if i >= line.len() {
                break;
            }
        }
    }
    count
}

/// The delimiter whose field counts agree across the most records (more fields breaking the
/// tie): a delimiter that is also used inside values (a decimal comma, a comma in a company
/// name) gives counts that vary from line to line. `,` when no candidate splits anything.
pub(super) fn delimiter(head: &[u8], complete: bool, dialect: Dialect) -> u8 {
    let mut best = (0, 0, b',');
    for delimiter in DELIMITERS {
        let counts: Vec<usize> = samples(
            head,
            complete,
            Dialect {
                delimiter,
                ..dialect
            },
        )
        .iter()
        .map(|s| s.fields.len())
        .filter(|&n| n > 1)
        .collect();
        let Some((width, agreeing)) = mode(&counts) else {
            continue;
        };
        if (agreeing, width) > (best.0, best.1) {
            best = (agreeing, width, delimiter);
        }
    }
    best.2
}

/// The most frequent value (the largest among equally frequent ones) and its frequency.
fn mode(values: &[usize]) -> Option<(usize, usize)> {
    let mut best: Option<(usize, usize)> = None;
    for &v in values {
        let n = values.iter().filter(|&&w| w == v).count();
        if best.is_none_or(|(bv, bn)| (n, v) > (bn, bv)) {
            best = Some((v, n));
        }
    }
    best
}

/// The first records of `head`, without blank and comment lines. A record cut by the end of
/// the head is left out.
pub(super) fn samples(head: &[u8], complete: bool, dialect: Dialect) -> Vec<Sample> {
    let mut records = Records::new(head, Vec::new(), dialect, head.len() as u64 + 1);
    let mut out = Vec::new();
    while out.len() < SAMPLE_RECORDS {
        match records.next() {
            Ok(Event::Record { line, .. }) => out.push(Sample {
                line,
                fields: records
                    .record()
                    .iter()
                    .map(|f| String::from_utf8_lossy(f).into_owned())
                    .collect(),
            }),
            Ok(Event::Skipped { .. }) => {}
            // A runaway quote in the whole file: reading goes on at its next line, as it will
            // when the file is read.
            Ok(Event::Unclosed { .. }) if complete => {}
            // The end of a cut head, maybe inside a quoted value: what came before stands.
            Ok(Event::Unclosed { .. }) => return out,
            // Reading from memory does not fail.
            Ok(Event::End) | Err(_) => {
                if !complete {
                    out.pop();
                }
                return out;
            }
        }
    }
    out
}

/// The line of the header (or of the first record, without a header) below a title block.
///
/// With the header names the mapping expects, the first record holding all of them (or the
/// one holding most, if that is at least half). Otherwise, the first record of two fields or
/// more that the records after it agree with: title lines are usually one field wide.
/// `None` when nothing tells: the header is then the first record.
pub(super) fn header_line(samples: &[Sample], expected: &[String]) -> Option<u64> {
    if !expected.is_empty() {
        let rows = samples
            .iter()
            .map(|s| s.fields.iter().map(String::as_str).collect());
        if let Some((i, found)) = super::most_expected_names(rows, expected)
            && found > 0
            && found * 2 >= expected.len()
        {
            return Some(samples[i].line);
        }
    }
    let candidate = samples.iter().enumerate().find(|(i, s)| {
        let rest = &samples[i + 1..];
        let agreeing = rest.iter().filter(|r| same_width(s, r)).count();
        s.fields.len() > 1 && !rest.is_empty() && agreeing * 10 >= rest.len() * 9
    });
    // Title lines are much narrower than the header (a title, a date, a shop's name: one or
    // two fields). Lines as wide as a table above the candidate are the real header and rows,
    // followed by ragged rows: when in doubt, the header is the first line, and the ragged
    // rows are rejected, never the first ones lost.
    candidate
        .filter(|(i, s)| {
            let narrow = (s.fields.len() / 2).max(1);
            samples[..*i].iter().all(|t| t.fields.len() <= narrow)
        })
        .map(|(_, s)| s.line)
}

/// Two records have the same number of columns, a trailing empty field (a delimiter at the
/// end of the line) aside.
fn same_width(a: &Sample, b: &Sample) -> bool {
    fn width(s: &Sample) -> usize {
        match s.fields.split_last() {
            Some((last, rest)) if !rest.is_empty() && last.trim().is_empty() => rest.len(),
            _ => s.fields.len(),
        }
    }
    a.fields.len() == b.fields.len() || width(a) == width(b)
}

/// Whether the first record (of `samples`, which start at the header line) is data rather
/// than a header: every value in it is a number or a date, and so are the values below it in
/// every column, and it holds none of the expected header names. Anything less is a header:
/// reading a header as data rejects one row, reading data as a header loses the columns.
pub(super) fn first_record_is_data(samples: &[Sample], expected: &[String]) -> bool {
    let Some((first, rest)) = samples.split_first() else {
        return false;
    };
    if rest.is_empty()
        || first
            .fields
            .iter()
            .any(|f| expected.iter().any(|e| e.trim() == f.trim()))
        || !first.fields.iter().all(|f| number_or_date(f))
    {
        return false;
    }
    (0..first.fields.len()).all(|i| {
        rest.iter()
            .filter_map(|s| s.fields.get(i))
            .filter(|v| !v.trim().is_empty())
            .all(|v| number_or_date(v))
    })
}

/// `12`, `-3.5`, `1 250,00`, `2024-03-12`, `12/03/2024 10:30`: digits with signs and
/// separators only.
fn number_or_date(value: &str) -> bool {
    let v = value.trim();
    v.bytes().any(|b| b.is_ascii_digit())
        && v.bytes()
            .all(|b| b.is_ascii_digit() || b"+-.,:/ ".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dialect(delimiter: u8) -> Dialect {
        Dialect {
            delimiter,
            quote: b'"',
            escape: None,
            comment: None,
            newline: b'\n',
        }
    }

    fn sniff(head: &[u8]) -> u8 {
        delimiter(head, true, dialect(b','))
    }

    #[test]
    fn consistent_field_counts_beat_raw_frequency() {
        // Decimal commas outnumber the semicolons on every data line.
        assert_eq!(sniff(b"a;b;c\n1,5;2,25;3,125\n4,5;5,5;6,5\n"), b';');
        assert_eq!(sniff(b"\"a;b\",c,d\n1,2,3\n"), b',');
        assert_eq!(sniff(b"a\tb\tc\nx, y\t1\t2\n"), b'\t');
        assert_eq!(sniff(b"a|b\nx|1\n"), b'|');
        assert_eq!(sniff(b"single\nline\n"), b',');
        // One line: the most fields.
        assert_eq!(sniff(b"a;b;c,d"), b';');
    }

    /// The byte-by-byte count `quoted_fields` replaced.
    fn quoted_fields_bytewise(head: &[u8], quote: u8, newline: u8, delimiters: &[u8]) -> usize {
        let mut count = 0;
        for line in head.split(|&b| b == newline) {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let mut i = 0;
            while i < line.len() {
                let opens = line[i] == quote && (i == 0 || delimiters.contains(&line[i - 1]));
                if !opens {
                    i += 1;
                    continue;
                }
                let Some(close) = line[i + 1..].iter().position(|&b| b == quote) else {
                    break;
                };
                let after = i + 1 + close + 1;
                if after == line.len() || delimiters.contains(&line[after]) {
                    count += 1;
                }
                i = after;
            }
        }
        count
    }

    proptest::proptest! {
        #[test]
        fn quoted_fields_counts_as_byte_by_byte(head in "[a'\";,\r\n]{0,40}") {
            for quote in [b'\'', b'"'] {
                for delimiters in [&b";"[..], &b",;"[..]] {
                    proptest::prop_assert_eq!(
                        quoted_fields(head.as_bytes(), quote, b'\n', delimiters),
                        quoted_fields_bytewise(head.as_bytes(), quote, b'\n', delimiters)
                    );
                }
            }
        }
    }

    #[test]
    fn single_quotes_only_when_they_enclose_fields() {
        assert_eq!(quote(b"'a;b';c\n'x';y\n", b'\n', None), b'\'');
        assert_eq!(quote(b"name,note\nO'Brien,l'ete\n", b'\n', None), b'"');
        assert_eq!(quote(b"'a','b'\n\"c\",d\n", b'\n', None), b'"');
    }

    fn sample(line: u64, fields: &[&str]) -> Sample {
        Sample {
            line,
            fields: fields.iter().map(|f| f.to_string()).collect(),
        }
    }

    #[test]
    fn the_header_below_a_title_block() {
        let head = b"Export CRM du 12/03/2024\nBoutique, Paris\n\nid;name;qty\n1;a;2\n2;b;3\n";
        let s = samples(head, true, dialect(b';'));
        assert_eq!(header_line(&s, &[]), Some(4));
        assert_eq!(header_line(&s, &["name".into(), "qty".into()]), Some(4));
        // Most of the expected names are enough; none is not.
        assert_eq!(header_line(&s, &["name".into(), "price".into()]), Some(4));
        let plain = samples(b"a,b\n1,2\n3,4\n", true, dialect(b','));
        assert_eq!(header_line(&plain, &["x".into(), "y".into()]), Some(1));
        // A header wider than every row below it is still the header.
        let wide = samples(b"a,b,c,d\n1,2,3\n4,5,6\n", true, dialect(b','));
        assert_eq!(header_line(&wide, &[]), None);
        // A trailing delimiter on the data lines only.
        let trailing = samples(b"a,b,c\n1,2,3,\n4,5,6,\n", true, dialect(b','));
        assert_eq!(header_line(&trailing, &[]), Some(1));
        // A header and a row, then rows with one delimiter too many: no title block.
        let mut ragged = b"id,name,address\n1,Alice,Paris\n".to_vec();
        for i in 0..10 {
            ragged.extend_from_slice(format!("{i},Bob,1, rue X\n").as_bytes());
        }
        let ragged = samples(&ragged, true, dialect(b','));
        assert_eq!(header_line(&ragged, &[]), None);
    }

    #[test]
    fn a_header_unless_the_first_record_is_clearly_data() {
        let data = [
            sample(1, &["1", "2024-03-12"]),
            sample(2, &["2", "2024-03-13"]),
        ];
        assert!(first_record_is_data(&data, &[]));
        assert!(!first_record_is_data(&data, &["1".into()]));
        assert!(
            !first_record_is_data(&data[..1], &[]),
            "one record tells nothing"
        );
        let header = [sample(1, &["id", "2024"]), sample(2, &["1", "2"])];
        assert!(!first_record_is_data(&header, &[]));
        let years = [sample(1, &["2023", "2024"]), sample(2, &["north", "12"])];
        assert!(!first_record_is_data(&years, &[]));
    }
}
