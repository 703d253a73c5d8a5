//! Output columns as the writer reads them, row by row.
//!
//! A projected column ([`Values`]) is either text or, for integers, decimals, dates and booleans
//! written in their canonical form, the typed values themselves: their text (see
//! [`super::text::text`], which stays the reference) is written straight into the output
//! buffer when the row is, instead of being built as a string column on the compute thread
//! and read back on the writer's. [`Cells`] is one column ready for access by row: no chunk
//! lookup per value, and no copy of a column that came in several chunks.

use polars::prelude::{
    BooleanChunked, ChunkFilter, ChunkedArray, Int32Chunked, Int64Chunked, Int128Type,
    PolarsDataType, PolarsNumericType, PolarsResult, StringChunked, StringChunkedBuilder,
    StringType,
};

type Int128Chunked = ChunkedArray<Int128Type>;

use polars_arrow::array::{Array, BooleanArray, PrimitiveArray};

/// A projected column's values.
#[derive(Clone)]
pub enum Values {
    /// Canonical (or formatted) text.
    Text(StringChunked),
    Int(Int64Chunked),
    /// Unscaled values at `scale`; `trim` drops trailing fraction zeros (the default scale).
    Decimal {
        values: Int128Chunked,
        scale: usize,
        trim: bool,
    },
    /// Days since 1970-01-01.
    Date(Int32Chunked),
    Bool(BooleanChunked),
}

impl Values {
    /// The text, when the column is text.
    pub fn as_text(&self) -> Option<&StringChunked> {
        match self {
            Values::Text(t) => Some(t),
            _ => None,
        }
    }

    /// The column as text (typed values written in their canonical form).
    pub fn to_text(&self) -> StringChunked {
        if let Values::Text(t) = self {
            return t.clone();
        }
        let name = match self {
            Values::Text(t) => t.name().clone(),
            Values::Int(c) => c.name().clone(),
            Values::Decimal { values, .. } => values.name().clone(),
            Values::Date(c) => c.name().clone(),
            Values::Bool(c) => c.name().clone(),
        };
        let cells = Cells::new(self);
        let n = self.len();
        let mut text = StringChunkedBuilder::new(name, n);
        let mut buf = Vec::with_capacity(48);
        for i in 0..n {
            buf.clear();
            match cells.text(i, &mut buf) {
                Some(Cell::Text(v)) => text.append_value(v),
                Some(Cell::Written) => {
                    text.append_value(std::str::from_utf8(&buf).unwrap_or_default())
                }
                None => text.append_null(),
            }
        }
        text.finish()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn len(&self) -> usize {
        match self {
            Values::Text(t) => t.len(),
            Values::Int(c) => c.len(),
            Values::Decimal { values, .. } => values.len(),
            Values::Date(c) => c.len(),
            Values::Bool(c) => c.len(),
        }
    }

    /// The values `keep` selects.
    pub fn filter(&self, keep: &BooleanChunked) -> PolarsResult<Values> {
        Ok(match self {
            Values::Text(t) => Values::Text(t.filter(keep)?),
            Values::Int(c) => Values::Int(c.filter(keep)?),
            Values::Decimal {
                values,
                scale,
                trim,
            } => Values::Decimal {
                values: values.filter(keep)?,
                scale: *scale,
                trim: *trim,
            },
            Values::Date(c) => Values::Date(c.filter(keep)?),
            Values::Bool(c) => Values::Bool(c.filter(keep)?),
        })
    }
}

type StrArray = <StringType as PolarsDataType>::Array;

/// A text column's chunks, read by row.
pub struct TextArray {
    chunks: Vec<StrArray>,
    /// The row each chunk starts at.
    starts: Vec<usize>,
    /// The chunk the last value was read from: rows are read mostly in order.
    last: std::cell::Cell<usize>,
}

impl TextArray {
    pub fn from_text(c: &StringChunked) -> Self {
        let chunks: Vec<StrArray> = c.downcast_iter().cloned().collect();
        let mut starts = Vec::with_capacity(chunks.len());
        let mut at = 0;
        for a in &chunks {
            starts.push(at);
            at += a.len();
        }
        TextArray {
            chunks,
            starts,
            last: std::cell::Cell::new(0),
        }
    }

    #[inline]
    pub fn get(&self, i: usize) -> Option<&str> {
        // Most columns are one array: no chunk to find.
        if let [a] = self.chunks.as_slice() {
            return a.get(i);
        }
        let k = self.last.get();
        if let (Some(a), Some(&start)) = (self.chunks.get(k), self.starts.get(k))
            && i >= start
            && i - start < a.len()
        {
            return a.get(i - start);
        }
        let k = self.starts.partition_point(|&s| s <= i).checked_sub(1)?;
        let a = self.chunks.get(k)?;
        let j = i - self.starts[k];
        self.last.set(k);
        if j < a.len() { a.get(j) } else { None }
    }
}

/// One column, ready for access by row.
pub enum Cells {
    Text(TextArray),
    Int(PrimitiveArray<i64>),
    Decimal {
        values: PrimitiveArray<i128>,
        scale: usize,
        trim: bool,
    },
    Date {
        days: PrimitiveArray<i32>,
        /// The text of the dates seen, by day modulo its size: dates repeat.
        seen: Vec<std::cell::Cell<(i32, [u8; 10])>>,
    },
    Bool(BooleanArray),
}

/// Dates remembered per date column: eleven years of distinct days.
const SEEN: usize = 4096;

/// A value's text: borrowed from the column, or written to the buffer given.
pub enum Cell<'a> {
    Text(&'a str),
    Written,
}

/// A typed column as one array (a copy of the values only when it came in several chunks).
fn single<T: PolarsNumericType>(c: &ChunkedArray<T>) -> PrimitiveArray<T::Native> {
    let c = c.rechunk();
    c.downcast_iter()
        .next()
        .cloned()
        .unwrap_or_else(|| PrimitiveArray::from_vec(Vec::new()))
}

impl Cells {
    pub fn new(v: &Values) -> Self {
        match v {
            Values::Text(t) => Cells::Text(TextArray::from_text(t)),
            Values::Int(c) => Cells::Int(single(c)),
            Values::Decimal {
                values,
                scale,
                trim,
            } => Cells::Decimal {
                values: single(values),
                scale: *scale,
                trim: *trim,
            },
            Values::Date(c) => Cells::Date {
                days: single(c),
                // Each slot starts with a day that belongs to another slot: none matches
                // before it is filled.
                seen: (0..SEEN)
                    .map(|k| std::cell::Cell::new((k as i32 + 1, [0; 10])))
                    .collect(),
            },
            Values::Bool(c) => {
                let c = c.rechunk();
                Cells::Bool(
                    c.downcast_iter()
                        .next()
                        .cloned()
                        .unwrap_or_else(|| BooleanArray::from_slice([])),
                )
            }
        }
    }

    /// Row `i` as an integer, when the column holds integers or booleans (1, 0) and the value
    /// is not null.
    #[inline]
    pub fn integer(&self, i: usize) -> Option<i64> {
        match self {
            Cells::Int(a) => valid(a, i),
            Cells::Bool(a) if i < a.len() && a.is_valid(i) => Some(i64::from(a.value(i))),
            _ => None,
        }
    }

    /// Row `i`'s text as an owned string, empty for null (for a message or a preview, not
    /// for the writers' hot loops).
    pub fn string(&self, i: usize) -> String {
        let mut buf = Vec::new();
        match self.text(i, &mut buf) {
            None => String::new(),
            Some(Cell::Text(s)) => s.to_string(),
            Some(Cell::Written) => String::from_utf8_lossy(&buf).into_owned(),
        }
    }

    /// Row `i`'s text: `None` for null; a typed value is appended to `out`.
    #[inline]
    pub fn text<'a>(&'a self, i: usize, out: &mut Vec<u8>) -> Option<Cell<'a>> {
        match self {
            Cells::Text(a) => a.get(i).map(Cell::Text),
            Cells::Int(a) => {
                let v = valid(a, i)?;
                out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
                Some(Cell::Written)
            }
            Cells::Decimal {
                values,
                scale,
                trim,
            } => {
                let v = valid(values, i)?;
                decimal(v, *scale, *trim, out);
                Some(Cell::Written)
            }
            Cells::Date { days, seen } => {
                let v = valid(days, i)?;
                match seen.get(v.rem_euclid(SEEN as i32) as usize) {
                    Some(slot) if slot.get().0 == v => out.extend_from_slice(&slot.get().1),
                    Some(slot) => {
                        let start = out.len();
                        date(v, out);
                        // Only the common form (years 0 to 9999) is remembered.
                        if let Ok(text) = <[u8; 10]>::try_from(&out[start..]) {
                            slot.set((v, text));
                        }
                    }
                    None => date(v, out),
                }
                Some(Cell::Written)
            }
            Cells::Bool(a) => {
                if i >= a.len() || !a.is_valid(i) {
                    return None;
                }
                out.extend_from_slice(if a.value(i) { b"true" } else { b"false" });
                Some(Cell::Written)
            }
        }
    }
}

#[inline]
fn valid<T: polars_arrow::types::NativeType>(a: &PrimitiveArray<T>, i: usize) -> Option<T> {
    if i < a.len() && a.is_valid(i) {
        Some(a.value(i))
    } else {
        None
    }
}

/// A decimal's text from its unscaled value (see `text::decimal_text`).
pub fn decimal(v: i128, scale: usize, trim: bool, out: &mut Vec<u8>) {
    let mut digits = itoa::Buffer::new();
    // 64-bit digits are several times quicker to write than 128-bit ones, and most values fit.
    let d = match u64::try_from(v.unsigned_abs()) {
        Ok(small) => digits.format(small).as_bytes(),
        Err(_) => digits.format(v.unsigned_abs()).as_bytes(),
    };
    if v < 0 {
        out.push(b'-');
    }
    if scale == 0 {
        out.extend_from_slice(d);
        return;
    }
    let whole = d.len().saturating_sub(scale);
    let mut frac = &d[whole..];
    if trim {
        while let [rest @ .., b'0'] = frac {
            frac = rest;
        }
    }
    if whole == 0 {
        out.push(b'0');
        let zeros = scale - d.len();
        if frac.is_empty() {
            return;
        }
        out.push(b'.');
        out.extend(std::iter::repeat_n(b'0', zeros));
    } else {
        out.extend_from_slice(&d[..whole]);
        if frac.is_empty() {
            return;
        }
        out.push(b'.');
    }
    out.extend_from_slice(frac);
}

/// `days` since 1970-01-01 as `YYYY-MM-DD` (the civil-from-days algorithm), without going
/// through a format string for every value; years outside 0..=9999 as chrono writes them.
pub fn date(days: i32, out: &mut Vec<u8>) {
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    if (0..=9999).contains(&y) {
        let digit = |v: i64| b'0' + (v % 10) as u8;
        out.extend_from_slice(&[
            digit(y / 1000),
            digit(y / 100),
            digit(y / 10),
            digit(y),
            b'-',
            digit(m / 10),
            digit(m),
            b'-',
            digit(d / 10),
            digit(d),
        ]);
        return;
    }
    use std::io::Write;
    // As chrono writes years outside 0..=9999: signed, at least four digits.
    let _ = if y < 0 {
        write!(out, "-{:04}-{m:02}-{d:02}", -y)
    } else {
        write!(out, "+{y}-{m:02}-{d:02}")
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use polars::prelude::NewChunkedArray;

    /// Remembered dates are the dates: days that share a slot (4096 apart) replace each other,
    /// and years outside 0..=9999 are written each time.
    #[test]
    fn dates_are_written_the_same_from_memory() {
        let slot = SEEN as i32;
        let days: Vec<Option<i32>> = [
            0,
            slot,
            0,
            -1,
            slot - 1,
            -1,
            2 * slot,
            0,
            -800_000,
            -800_000,
            3_000_000,
            3_000_000,
            slot,
        ]
        .into_iter()
        .map(Some)
        .chain([None])
        .collect();
        let column = Int32Chunked::from_slice_options("d".into(), &days);
        let cells = Cells::new(&Values::Date(column));
        for (i, day) in days.iter().enumerate() {
            let mut out = Vec::new();
            let written = cells.text(i, &mut out);
            let Some(day) = day else {
                assert!(written.is_none(), "a null is no text");
                continue;
            };
            let mut expected = Vec::new();
            date(*day, &mut expected);
            assert_eq!(
                String::from_utf8_lossy(&out),
                String::from_utf8_lossy(&expected),
                "row {i}: day {day}"
            );
        }
    }
}
