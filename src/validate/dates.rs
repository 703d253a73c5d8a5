//! Dates and date-times read with a declared format, without polars' `strptime`.
//!
//! A temporal field's text is valid when it has the shape of the format (the regex of
//! [`super::exprs::format_regex`]) and polars' `str.to_date` / `str.to_datetime` (exact, not
//! strict) parse it. This module gives exactly that result in one pass, for formats made only of
//! numeric directives (`%Y %y %m %d %H %M %S`, `%F`, `%T`), the fraction `%.f`, `%%` and literal
//! text. Other formats (month names, `%j`, `%e`, flags, time zones…) keep the polars path.
//!
//! Exactness comes from doing what polars does, step by step: the shape is matched by a small
//! backtracking matcher equivalent to the regex; then polars' own fast parser (ported here, the
//! digits read in fixed widths) is tried; where it gives up, chrono parses the text, as polars
//! does, with the format's items compiled once instead of once per value. For the common formats
//! (each field once, its digits followed by a separator) all three read the same fields, so one
//! pass over the text decides almost every value; the step by step path takes the rest.
//!
//! Dates repeat (a few thousand days over years of rows): each field's kernel remembers what
//! the texts it read were worth ([`Memo`]), from one chunk to the next, and looks a repeated text
//! up instead of parsing it again.

use std::sync::{Arc, Mutex};

use chrono::format::{self, Item, ParseErrorKind, Parsed, StrftimeItems};
use chrono::{Datelike, NaiveDate, NaiveDateTime};
use polars::prelude::{
    Column, DataType, Int32Type, Int64Type, IntoColumn, PolarsResult, TimeUnit,
    datetime_to_timestamp_us,
};

/// One element of a format's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    /// Literal text, matched exactly.
    Text(String),
    /// The digits of a field: `min` to `max` ASCII digits, after an optional `+` or `-` for
    /// the four-digit year.
    Digits { field: Field, min: u8, max: u8 },
    /// Any text without a line feed (`.*?`, the shape of `%.f`).
    Any,
}

/// The field a run of digits gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    /// `%Y`, the only signed one.
    Year,
    /// `%y`, a year of 1970 to 2069.
    Year2,
    Month,
    Day,
    Hour,
    Minute,
    Second,
}

impl Field {
    /// The field of a one-letter directive (`Y` for `%Y`), if it is a run of digits.
    fn of(directive: char) -> Option<Field> {
        Some(match directive {
            'Y' => Field::Year,
            'y' => Field::Year2,
            'm' => Field::Month,
            'd' => Field::Day,
            'H' => Field::Hour,
            'M' => Field::Minute,
            'S' => Field::Second,
            _ => return None,
        })
    }
}

/// A supported format, compiled.
#[derive(Debug, Clone)]
pub struct Format {
    /// The format as declared.
    source: String,
    shape: Vec<Piece>,
    /// The steps of [`quick`], when it applies to this format.
    quick: Option<Vec<Step>>,
    /// The layout of the format's longest texts, when [`quick`] applies and they are short.
    fixed: Option<Fixed>,
    /// The steps of polars' fast parser for the format it parses with (`%F`, `%T`…
    /// expanded), when that parser takes it.
    fast: Option<Vec<Op>>,
    /// chrono's items for the format polars parses with.
    items: Vec<Item<'static>>,
}

/// What the value is read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Temporal {
    Date,
    /// A date-time in microseconds, without time zone.
    Datetime,
}

impl Format {
    /// Compiles `format` for `kind`, or `None` when the format keeps the polars path: another
    /// directive, or a format polars rejects or reads with a time zone.
    pub fn new(format: &str, kind: Temporal) -> Option<Format> {
        let compiled = compile_fmt(format)?;
        if kind == Temporal::Datetime && tz_aware(format) {
            return None;
        }
        let shape = pieces(format)?;
        // `compile_fmt` rewrites by plain text replacement (`%%F` becomes `%%Y-%m-%d`): the
        // shape must describe the text polars parses.
        if pieces(&compiled)? != shape {
            return None;
        }
        let items = StrftimeItems::new(&compiled).parse_to_owned().ok()?;
        let fast = if fast_parser_supported(compiled.as_bytes()) {
            Some(fast_ops(compiled.as_bytes())?)
        } else {
            None
        };
        let quick = quick_steps(&shape);
        let fixed = quick.as_deref().and_then(Fixed::new);
        Some(Format {
            source: format.to_string(),
            shape,
            quick,
            fixed,
            fast,
            items,
        })
    }

    /// The value of `text`, as polars gives it: days since 1970 for dates, microseconds since
    /// 1970 for date-times.
    pub fn parse(&self, text: &str, kind: Temporal) -> Option<i64> {
        if let Some(fixed) = &self.fixed
            && let Some(v) = fixed.fields(text.as_bytes())
        {
            return civil_value(v, kind);
        }
        if let Some(steps) = &self.quick
            && let Some(decided) = quick(steps, text.as_bytes(), kind)
        {
            return decided;
        }
        if !shape_matches(&self.shape, text.as_bytes()) {
            return None;
        }
        if let Some(ops) = &self.fast
            && let Some(dt) = fast_parse(text.as_bytes(), ops)
        {
            return Some(match kind {
                Temporal::Date => date_value(dt.date()),
                Temporal::Datetime => datetime_to_timestamp_us(dt),
            });
        }
        let mut parsed = Parsed::new();
        format::parse(&mut parsed, text, self.items.iter()).ok()?;
        match kind {
            Temporal::Date => parsed.to_naive_date().ok().map(date_value),
            Temporal::Datetime => match parsed.to_naive_datetime_with_offset(0) {
                Ok(dt) => Some(datetime_to_timestamp_us(dt)),
                // Not enough fields for a date-time: polars reads the date, at midnight.
                Err(e) if e.kind() == ParseErrorKind::NotEnough => parsed
                    .to_naive_date()
                    .ok()
                    .and_then(|d| d.and_hms_opt(0, 0, 0))
                    .map(datetime_to_timestamp_us),
                Err(_) => None,
            },
        }
    }
}

/// One step of [`quick`].
#[derive(Debug, Clone, Copy)]
enum Step {
    /// A byte of literal text.
    Byte(u8),
    /// `min` to `max` digits into slot `slot` (year, month, day, hour, minute, second).
    Digits {
        slot: u8,
        min: u8,
        max: u8,
        field: Field,
    },
}

/// The common case in one pass: with every digit run taken whole and each field given once,
/// the shape, polars' fast parser and chrono all read the same fields, so checking the shape
/// and the fields' ranges is the whole answer (a leap second, `:60`, is the next second's first
/// microsecond, as polars counts it). `None` leaves a signed year to the full path.
fn quick(steps: &[Step], text: &[u8], kind: Temporal) -> Option<Option<i64>> {
    let mut at = 0;
    // Year, month, day, hour, minute, second; absent time fields are 0.
    let mut v = [0u32; 6];
    for step in steps {
        match *step {
            Step::Byte(b) => {
                if text.get(at) != Some(&b) {
                    return Some(None);
                }
                at += 1;
            }
            Step::Digits {
                slot,
                min,
                max,
                field,
            } => {
                let start = at;
                let mut n = 0u32;
                while at - start < usize::from(max)
                    && let Some(&b) = text.get(at)
                    && b.is_ascii_digit()
                {
                    n = n * 10 + u32::from(b - b'0');
                    at += 1;
                }
                if at - start < usize::from(min) {
                    return match text.get(start) {
                        Some(b'+' | b'-') if field == Field::Year => None,
                        _ => Some(None),
                    };
                }
                if field == Field::Year2 {
                    n += if n < 70 { 2000 } else { 1900 };
                }
                v[usize::from(slot)] = n;
            }
        }
    }
    if at != text.len() {
        return Some(None);
    }
    Some(civil_value(v, kind))
}

/// The value of the fields year, month, day, hour, minute and second, `None` when one is out of
/// range.
#[inline]
fn civil_value(v: [u32; 6], kind: Temporal) -> Option<i64> {
    let [year, month, day, hour, minute, second] = v;
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day)?;
    Some(match kind {
        Temporal::Date => days,
        Temporal::Datetime => {
            let seconds = i64::from(hour * 3600 + minute * 60 + second);
            (days * 86_400 + seconds) * 1_000_000
        }
    })
}

/// The texts of a [`quick`] format in which every digit run has its longest length
/// (`31/12/2025` for `%d/%m/%Y`): each field sits at a fixed place, so such a text is read by
/// place, without stepping through the format. [`quick`] reads these texts the same way: it
/// takes every run whole, and a run cannot be longer.
#[derive(Debug, Clone)]
struct Fixed {
    /// The length of these texts.
    len: usize,
    /// The format's literal bytes, with their places.
    literals: Vec<(usize, u8)>,
    /// Each field's slot in [`quick`]'s fields, where its digits start and how many there are.
    runs: Vec<(usize, usize, usize)>,
    /// `%y`: a two-digit year.
    year2: bool,
}

impl Fixed {
    fn new(steps: &[Step]) -> Option<Fixed> {
        let mut fixed = Fixed {
            len: 0,
            literals: Vec::new(),
            runs: Vec::new(),
            year2: false,
        };
        for step in steps {
            match *step {
                Step::Byte(b) => {
                    fixed.literals.push((fixed.len, b));
                    fixed.len += 1;
                }
                Step::Digits {
                    slot, max, field, ..
                } => {
                    let width = usize::from(max);
                    fixed.runs.push((usize::from(slot), fixed.len, width));
                    fixed.len += width;
                    fixed.year2 |= field == Field::Year2;
                }
            }
        }
        // Slots are below 6 (`quick_steps`), and runs of at most 4 digits cannot overflow.
        fixed
            .runs
            .iter()
            .all(|&(slot, _, width)| slot < 6 && width <= 4)
            .then_some(fixed)
    }

    /// The fields of `text` when it has this layout, `None` when it has not (it may still be a
    /// valid date, with a shorter run: [`quick`] decides).
    #[inline]
    fn fields(&self, text: &[u8]) -> Option<[u32; 6]> {
        if text.len() != self.len {
            return None;
        }
        for &(at, b) in &self.literals {
            if text.get(at) != Some(&b) {
                return None;
            }
        }
        let mut v = [0u32; 6];
        for &(slot, start, width) in &self.runs {
            let mut n = 0;
            for &b in text.get(start..start + width)? {
                let digit = b.wrapping_sub(b'0');
                if digit > 9 {
                    return None;
                }
                n = n * 10 + u32::from(digit);
            }
            *v.get_mut(slot)? = n;
        }
        if self.year2 {
            v[0] += if v[0] < 70 { 2000 } else { 1900 };
        }
        Some(v)
    }
}

/// Days since 1970-01-01 of a valid date of years 0 to 9999 (proleptic Gregorian), `None` for
/// a day the month does not have.
fn days_from_civil(year: u32, month: u32, day: u32) -> Option<i64> {
    let leap = year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
    let length = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if day == 0 || day > length {
        return None;
    }
    // Howard Hinnant's `days_from_civil`, on years shifted to start in March.
    let (y, m, d) = (i64::from(year), i64::from(month), i64::from(day));
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

/// The steps of [`quick`] for a shape, when it is exact for it: every digit run taken whole,
/// no `%.f`, one year, month and day, at most one of each time field.
fn quick_steps(shape: &[Piece]) -> Option<Vec<Step>> {
    let mut count = [0u8; 6];
    let mut steps = Vec::new();
    for (i, piece) in shape.iter().enumerate() {
        match piece {
            Piece::Text(t) => steps.extend(t.bytes().map(Step::Byte)),
            Piece::Any => return None,
            &Piece::Digits { field, min, max } => {
                if !whole(shape, i) {
                    return None;
                }
                let slot = match field {
                    Field::Year | Field::Year2 => 0,
                    Field::Month => 1,
                    Field::Day => 2,
                    Field::Hour => 3,
                    Field::Minute => 4,
                    Field::Second => 5,
                };
                count[usize::from(slot)] += 1;
                steps.push(Step::Digits {
                    slot,
                    min,
                    max,
                    field,
                });
            }
        }
    }
    (count[..3].iter().all(|&c| c == 1) && count[3..].iter().all(|&c| c <= 1)).then_some(steps)
}

/// Days since 1970-01-01 (polars' `naive_date_to_date`, which divides the milliseconds of
/// midnight by those of a day).
fn date_value(d: NaiveDate) -> i64 {
    /// Days from 0001-01-01 (day 1) to 1970-01-01.
    const EPOCH_DAYS_FROM_CE: i64 = 719_163;
    i64::from(d.num_days_from_ce()) - EPOCH_DAYS_FROM_CE
}

/// `expr.map(...)` arguments: the column function reading text with the first of `formats`
/// that parses it (all of them supported), as `kind`. Texts seen before, in this chunk or an
/// earlier one, are looked up instead of parsed again (see [`Seen`]).
pub fn column(
    formats: Vec<Format>,
    kind: Temporal,
    memo: Memo,
) -> impl Fn(Column) -> PolarsResult<Column> {
    move |c: Column| {
        // Chunks come one at a time: the lock is never waited for.
        let mut memo = memo
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // What a text reads as depends on the formats: a memo kept for others starts again.
        let key: Vec<&str> = formats.iter().map(|f| f.source.as_str()).collect();
        if memo.formats != key || memo.kind != Some(kind) {
            *memo = Remembered {
                formats: key.iter().map(|k| k.to_string()).collect(),
                kind: Some(kind),
                seen: Seen::new(),
            };
        }
        let seen = &mut memo.seen;
        let mut value = |v: &str| seen.value(v, |v| formats.iter().find_map(|f| f.parse(v, kind)));
        Ok(match kind {
            Temporal::Date => super::column::parse_text::<Int32Type>(&c, |v| {
                value(v).and_then(|d| i32::try_from(d).ok())
            })?
            .into_date()
            .into_column(),
            Temporal::Datetime => super::column::parse_text::<Int64Type>(&c, value)?
                .into_datetime(TimeUnit::Microseconds, None)
                .into_column(),
        })
    }
}

/// What a field's date kernel has read, kept from one chunk to the next (a chunk's expressions,
/// the kernel among them, are built anew for each chunk): the formats and kind it read with, and
/// the texts it read.
#[derive(Clone, Default)]
pub struct Memo(Arc<Mutex<Remembered>>);

#[derive(Default)]
struct Remembered {
    formats: Vec<String>,
    kind: Option<Temporal>,
    seen: Seen,
}

/// The value of texts read lately, by text: a column of dates repeats a few thousand days over
/// years of rows, and a lookup costs a tenth of a parse. Direct-mapped, a slot a text of at most
/// [`SEEN_BYTES`] bytes (longer ones are always parsed); a text replaces the one in its slot.
struct Seen {
    slots: Vec<SeenSlot>,
}

#[derive(Clone, Copy)]
struct SeenSlot {
    /// The text's bytes, as [`seen_key`] words them.
    key: [u64; 3],
    /// Its length; `u8::MAX` for an empty slot.
    len: u8,
    value: Option<i64>,
}

/// A text of at most [`SEEN_BYTES`] bytes as three words, which with its length tell it apart
/// from any other: its first eight bytes, its next eight, and its last eight (overlapping the
/// others in a text shorter than 24 bytes). Texts shorter than 8 bytes are zero-padded.
#[inline]
fn seen_key(bytes: &[u8]) -> Option<[u64; 3]> {
    let word = |w: &[u8; 8]| u64::from_le_bytes(*w);
    match bytes.len() {
        0..8 => {
            let mut padded = [0u8; 8];
            padded.get_mut(..bytes.len())?.copy_from_slice(bytes);
            Some([word(&padded), 0, 0])
        }
        8..=16 => Some([word(bytes.first_chunk()?), word(bytes.last_chunk()?), 0]),
        17..=SEEN_BYTES => Some([
            word(bytes.first_chunk()?),
            word(bytes.get(8..)?.first_chunk()?),
            word(bytes.last_chunk()?),
        ]),
        _ => None,
    }
}

/// Texts remembered per column.
const SEEN_SLOTS: usize = 16384;
/// The longest text remembered: a date-time with seconds and a fraction fits.
const SEEN_BYTES: usize = 24;

impl Default for Seen {
    /// A memo that remembers nothing (until it is made for formats).
    fn default() -> Self {
        Seen { slots: Vec::new() }
    }
}

impl Seen {
    fn new() -> Self {
        let empty = SeenSlot {
            key: [0; 3],
            len: u8::MAX,
            value: None,
        };
        Seen {
            slots: vec![empty; SEEN_SLOTS],
        }
    }

    /// The value of `text`: remembered, or `parse(text)`, then remembered.
    #[inline]
    fn value(&mut self, text: &str, parse: impl FnOnce(&str) -> Option<i64>) -> Option<i64> {
        let bytes = text.as_bytes();
        let Some(key) = seen_key(bytes) else {
            return parse(text);
        };
        let len = bytes.len() as u8;
        let hash = (key[0] ^ key[1].rotate_left(21) ^ key[2].rotate_left(42) ^ u64::from(len))
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let at = (hash >> (64 - SEEN_SLOTS.trailing_zeros())) as usize;
        if let Some(slot) = self.slots.get(at)
            && slot.len == len
            && slot.key == key
        {
            return slot.value;
        }
        let value = parse(text);
        if let Some(slot) = self.slots.get_mut(at) {
            *slot = SeenSlot { key, len, value };
        }
        value
    }
}

/// The output type of [`column`].
pub fn dtype(kind: Temporal) -> DataType {
    match kind {
        Temporal::Date => DataType::Date,
        Temporal::Datetime => DataType::Datetime(TimeUnit::Microseconds, None),
    }
}

/// The pieces of a format's shape, `None` when it has a directive this module does not take.
/// Adjacent literal characters are merged: matching them one by one or at once is the same.
fn pieces(format: &str) -> Option<Vec<Piece>> {
    let mut out: Vec<Piece> = Vec::new();
    let text = |out: &mut Vec<Piece>, s: &str| match out.last_mut() {
        Some(Piece::Text(t)) => t.push_str(s),
        _ => out.push(Piece::Text(s.to_string())),
    };
    let digits = |field: Field| {
        let (min, max) = match field {
            Field::Year => (4, 4),
            Field::Year2 => (2, 2),
            _ => (1, 2),
        };
        Piece::Digits { field, min, max }
    };
    let mut chars = format.chars();
    while let Some(ch) = chars.next() {
        if ch != '%' {
            let mut buf = [0; 4];
            text(&mut out, ch.encode_utf8(&mut buf));
            continue;
        }
        let directive = chars.next()?;
        if let Some(field) = Field::of(directive) {
            out.push(digits(field));
            continue;
        }
        match directive {
            'F' => {
                out.push(digits(Field::Year));
                text(&mut out, "-");
                out.push(digits(Field::Month));
                text(&mut out, "-");
                out.push(digits(Field::Day));
            }
            'T' => {
                out.push(digits(Field::Hour));
                text(&mut out, ":");
                out.push(digits(Field::Minute));
                text(&mut out, ":");
                out.push(digits(Field::Second));
            }
            '%' => text(&mut out, "%"),
            '.' if chars.next()? == 'f' => out.push(Piece::Any),
            _ => return None,
        }
    }
    Some(out)
}

/// Whether `text` matches the shape: the regex `^…$` of the pieces, every way of splitting the
/// text tried as the regex engine would. A digit run followed by the end or by text that does not
/// start with a digit can only be taken whole, so the common formats never backtrack.
fn shape_matches(shape: &[Piece], text: &[u8]) -> bool {
    let mut t = text;
    for (i, piece) in shape.iter().enumerate() {
        match piece {
            Piece::Text(s) => match t.strip_prefix(s.as_bytes()) {
                Some(after) => t = after,
                None => return false,
            },
            &Piece::Digits { field, min, max } => {
                if field == Field::Year && matches!(t.first(), Some(b'+' | b'-')) {
                    t = &t[1..];
                }
                let run = digit_run(t, usize::from(max));
                if run < usize::from(min) {
                    return false;
                }
                if !whole(shape, i) {
                    let rest = &shape[i + 1..];
                    return (usize::from(min)..=run)
                        .rev()
                        .any(|n| shape_matches(rest, &t[n..]));
                }
                t = &t[run..];
            }
            Piece::Any => {
                // A split inside a UTF-8 sequence never matches: the next piece starts with an
                // ASCII digit, a sign, a character's first byte or the end of the text.
                let line = memchr::memchr(b'\n', t).unwrap_or(t.len());
                let rest = &shape[i + 1..];
                return (0..=line).any(|n| shape_matches(rest, &t[n..]));
            }
        }
    }
    t.is_empty()
}

/// Whether the digit run of piece `i` can only be taken whole: the end or text not starting
/// with a digit follows it.
fn whole(shape: &[Piece], i: usize) -> bool {
    match shape.get(i + 1) {
        None => true,
        Some(Piece::Text(s)) => !s.as_bytes().first().is_some_and(u8::is_ascii_digit),
        Some(_) => false,
    }
}

/// How many ASCII digits `text` starts with, at most `max`.
fn digit_run(text: &[u8], max: usize) -> usize {
    text.iter()
        .take(max)
        .take_while(|b| b.is_ascii_digit())
        .count()
}

/// polars' `compile_fmt`: its checks (an error, which keeps the polars path) and its rewrites.
fn compile_fmt(fmt: &str) -> Option<String> {
    let hour = has_directive(fmt, b"HkIl");
    let minute = has_directive(fmt, b"M");
    let second = has_directive(fmt, b"S");
    let twelve = has_directive(fmt, b"Il");
    let meridiem = has_directive(fmt, b"pP");
    if (hour ^ minute) || (second && !hour) || (twelve ^ meridiem) {
        return None;
    }
    Some(
        fmt.replace("%D", "%m/%d/%y")
            .replace("%R", "%H:%M")
            .replace("%T", "%H:%M:%S")
            .replace("%X", "%H:%M:%S")
            .replace("%F", "%Y-%m-%d"),
    )
}

/// Whether the regex `%[_-]?[<letters>]` matches somewhere in `fmt`.
fn has_directive(fmt: &str, letters: &[u8]) -> bool {
    let b = fmt.as_bytes();
    (0..b.len()).any(|i| {
        b[i] == b'%'
            && match b.get(i + 1) {
                Some(c) if letters.contains(c) => true,
                Some(b'_' | b'-') => b.get(i + 2).is_some_and(|c| letters.contains(c)),
                _ => false,
            }
    })
}

/// Whether polars reads a date-time format as time-zone aware (its `TZ_AWARE_RE`).
fn tz_aware(fmt: &str) -> bool {
    ["%z", "%:z", "%::z", "%:::z", "%#z"]
        .iter()
        .any(|d| fmt.contains(d))
        || fmt == "%+"
}

/// polars' `fast_parser_supported`.
fn fast_parser_supported(fmt: &[u8]) -> bool {
    let mut iter = fmt.iter();
    while let Some(&val) = iter.next() {
        if val == b'%' {
            match iter.next() {
                Some(b'Y' | b'y' | b'd' | b'm' | b'b' | b'B' | b'H' | b'M' | b'S') => {}
                Some(b'9' | b'6' | b'3') => {
                    if iter.next().is_some_and(|c| *c != b'f') {
                        return false;
                    }
                }
                _ => return false,
            }
        }
    }
    true
}

/// One step of polars' fast parser.
#[derive(Debug, Clone, Copy)]
enum Op {
    /// A literal byte of the format.
    Byte(u8),
    Field(Field),
}

/// The steps of a format polars' fast parser takes, `None` for a directive [`pieces`] refuses.
fn fast_ops(fmt: &[u8]) -> Option<Vec<Op>> {
    let mut ops = Vec::new();
    let mut f = fmt.iter();
    while let Some(&b) = f.next() {
        if b != b'%' {
            ops.push(Op::Byte(b));
            continue;
        }
        ops.push(Op::Field(Field::of(char::from(*f.next()?))?));
    }
    Some(ops)
}

/// `width` bytes at `offset` read as one integer, as polars' `update_and_parse` does with
/// `atoi_simd::parse_prefix` (a leading `-` only for the signed year): every byte must be used.
fn fixed(val: &[u8], offset: usize, width: usize, signed: bool) -> Option<(i64, usize)> {
    let bytes = val.get(offset..offset + width)?;
    let (neg, digits) = match bytes.first() {
        Some(b'-') if signed => (true, &bytes[1..]),
        _ => (false, bytes),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let v = digits
        .iter()
        .fold(0i64, |v, b| v * 10 + i64::from(b - b'0'));
    Some((if neg { -v } else { v }, offset + width))
}

/// polars' fast parser (`StrpTimeState::parse`) for the directives [`pieces`] takes; `None`
/// where polars falls back to chrono.
fn fast_parse(val: &[u8], ops: &[Op]) -> Option<NaiveDateTime> {
    let mut offset = 0;
    let negative =
        val.first() == Some(&b'-') && matches!(ops.first(), Some(Op::Field(Field::Year)));
    if negative {
        offset = 1;
    }
    let (mut year, mut month, mut day) = (1i64, 1i64, 1i64);
    let (mut hour, mut min, mut sec) = (0i64, 0i64, 0i64);
    for op in ops {
        match *op {
            Op::Byte(b) => {
                if val.get(offset) != Some(&b) {
                    return None;
                }
                offset += 1;
            }
            Op::Field(Field::Year) => {
                (year, offset) = fixed(val, offset, 4, true)?;
                if negative {
                    year = -year;
                }
            }
            Op::Field(Field::Month) => {
                (month, offset) = fixed(val, offset, 2, false)?;
                if month > 12 {
                    return None;
                }
            }
            Op::Field(Field::Day) => (day, offset) = fixed(val, offset, 2, false)?,
            Op::Field(Field::Hour) => (hour, offset) = fixed(val, offset, 2, false)?,
            Op::Field(Field::Minute) => (min, offset) = fixed(val, offset, 2, false)?,
            Op::Field(Field::Second) => (sec, offset) = fixed(val, offset, 2, false)?,
            Op::Field(Field::Year2) => {
                // `parse_prefix::<i32>` on two bytes: one digit is enough, or `-` and a digit.
                let bytes = val.get(offset..offset + 2)?;
                let decade = match bytes {
                    [b'-', d] if d.is_ascii_digit() => -i64::from(d - b'0'),
                    [a, b] if a.is_ascii_digit() && b.is_ascii_digit() => {
                        i64::from(a - b'0') * 10 + i64::from(b - b'0')
                    }
                    [a, _] if a.is_ascii_digit() => i64::from(a - b'0'),
                    _ => return None,
                };
                year = if decade < 70 {
                    2000 + decade
                } else {
                    1900 + decade
                };
                offset += 2;
            }
        }
    }
    if offset != val.len() {
        return None;
    }
    let u = |v: i64| u32::try_from(v).ok();
    NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, u(month)?, u(day)?)?.and_hms_nano_opt(
        u(hour)?,
        u(min)?,
        u(sec)?,
        0,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use polars::prelude::{NewChunkedArray, StringChunked};

    /// Texts of every length the memo keys differently (0–7 padded, 8–16 and 17–24 in
    /// overlapping words, longer not remembered), differing in any one byte, and more of them
    /// than it has slots: each reads as it does without the memo, the first time and again.
    #[test]
    fn the_memo_gives_what_a_parse_gives() {
        let mut texts: Vec<String> = Vec::new();
        for len in 0..=30 {
            let base: String = "2024-01-02T03:04:05.123456789"
                .chars()
                .cycle()
                .take(len)
                .collect();
            texts.push(base.clone());
            for at in 0..len {
                let mut b = base.clone().into_bytes();
                b[at] = b'9';
                texts.push(String::from_utf8(b).expect("ASCII"));
            }
        }
        for day in 0..(2 * SEEN_SLOTS) {
            texts.push(format!(
                "{:02}/{:02}/{}",
                1 + day % 28,
                1 + day / 28 % 12,
                1900 + day / 336
            ));
        }
        let parse = |t: &str| {
            (t.len() as i64) * 1000
                + t.bytes().map(i64::from).sum::<i64>()
                + t.bytes()
                    .enumerate()
                    .map(|(i, b)| (i as i64 + 1) * i64::from(b))
                    .sum::<i64>()
        };
        let mut seen = Seen::new();
        for round in 0..2 {
            for t in &texts {
                let mut parsed = false;
                let got = seen.value(t, |t| {
                    parsed = true;
                    Some(parse(t))
                });
                assert_eq!(got, Some(parse(t)), "round {round}: {t:?}");
                if round == 0 && t.len() > SEEN_BYTES {
                    assert!(
                        parsed,
                        "a text longer than {SEEN_BYTES} bytes is always parsed"
                    );
                }
            }
        }
        // Right after it is read, a text is remembered.
        seen.value("31/12/2025", |_| Some(7));
        assert_eq!(seen.value("31/12/2025", |_| None), Some(7));
    }

    /// A field's memo is kept from chunk to chunk, and starts again for other formats: the same
    /// text reads as another day under `%m/%d/%Y`.
    #[test]
    fn a_memo_is_kept_for_its_formats_only() {
        let memo = Memo::default();
        let read = |format: &str, text: &str| {
            let f = Format::new(format, Temporal::Date).expect("supported");
            let kernel = column(vec![f], Temporal::Date, memo.clone());
            let c = StringChunked::from_slice("c".into(), &[text]).into_column();
            let out = kernel(c).expect("kernel");
            out.date().expect("dates").physical().get(0)
        };
        let day = |y, m, d| {
            let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch");
            NaiveDate::from_ymd_opt(y, m, d).map(|x| (x - epoch).num_days() as i32)
        };
        assert_eq!(read("%d/%m/%Y", "01/02/2024"), day(2024, 2, 1));
        assert_eq!(
            read("%d/%m/%Y", "01/02/2024"),
            day(2024, 2, 1),
            "the next chunk"
        );
        assert_eq!(
            read("%m/%d/%Y", "01/02/2024"),
            day(2024, 1, 2),
            "other formats"
        );
        assert_eq!(read("%d/%m/%Y", "01/02/2024"), day(2024, 2, 1), "and back");
        assert!(memo.0.lock().is_ok_and(|m| m.formats == ["%d/%m/%Y"]));
    }

    fn date(f: &str, s: &str) -> Option<NaiveDate> {
        let f = Format::new(f, Temporal::Date).expect("a supported format");
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch");
        f.parse(s, Temporal::Date)
            .map(|d| epoch + chrono::Duration::days(d))
    }

    fn ymd(y: i32, m: u32, d: u32) -> Option<NaiveDate> {
        NaiveDate::from_ymd_opt(y, m, d)
    }

    #[test]
    fn day_month_year() {
        let f = "%d/%m/%Y";
        assert_eq!(date(f, "02/05/2025"), ymd(2025, 5, 2));
        assert_eq!(date(f, "2/5/2025"), ymd(2025, 5, 2));
        assert_eq!(date(f, "29/02/2024"), ymd(2024, 2, 29));
        for bad in [
            "31/02/2024",
            "29/02/1900",
            "1/3/24",
            "01/13/2024",
            "00/01/2024",
            " 01/03/2024",
            "01/03/2024 ",
            "01/03/2024x",
            "001/03/2024",
            "01/03/٢٠٢٤",
            "",
        ] {
            assert_eq!(date(f, bad), None, "{bad:?}");
        }
        assert_eq!(date(f, "01/03/+2024"), ymd(2024, 3, 1));
        assert_eq!(date(f, "01/03/-2024"), ymd(-2024, 3, 1));
        assert_eq!(date(f, "29/02/2000"), ymd(2000, 2, 29));
        assert_eq!(date(f, "01/01/0000"), ymd(0, 1, 1));
    }

    #[test]
    fn unsupported_formats_keep_polars() {
        for f in [
            "%d %B %Y",
            "%e/%m/%Y",
            "%-d/%m/%Y",
            "%j",
            "%Y-%m-%d %z",
            "%%F",
            "%D",
            "%d/%m/%Y %H",
        ] {
            assert!(Format::new(f, Temporal::Date).is_none(), "{f}");
        }
        assert!(Format::new("%Y-%m-%dT%H:%M:%S%z", Temporal::Datetime).is_none());
        assert!(Format::new("%d/%m/%Y %%", Temporal::Date).is_some());
    }

    #[test]
    fn civil_days_are_chrono_days() {
        for year in 0..=9999 {
            for month in 0..=13 {
                for day in [0, 1, 15, 28, 29, 30, 31, 32] {
                    let chrono = NaiveDate::from_ymd_opt(year as i32, month, day).map(date_value);
                    assert_eq!(
                        days_from_civil(year, month, day),
                        chrono,
                        "{year}-{month}-{day}"
                    );
                }
            }
        }
    }

    #[test]
    fn shapes() {
        let s = pieces("%Y%m%d").expect("supported");
        assert!(shape_matches(&s, b"2024031"));
        assert!(shape_matches(&s, b"+20240301"));
        assert!(!shape_matches(&s, b"20240"));
        let s = pieces("%H:%M:%S%.f").expect("supported");
        assert!(shape_matches(&s, b"1:2:3anything"));
        assert!(!shape_matches(&s, b"1:2:3a\nb"));
    }
}
