//! `min_length` and `max_length`: whether a text's length in characters is out of bounds,
//! counting characters only when the byte length does not tell.
//!
//! A UTF-8 character takes one to four bytes, so a text of `b` bytes has between `⌈b/4⌉` and `b`
//! characters: a title of 40 bytes is within `max_length = 120` without being read.

use polars::prelude::{Column, PolarsResult};

/// The rule's side: the text fails below `Least(n)` or above `Most(n)` characters.
#[derive(Debug, Clone, Copy)]
pub enum Length {
    Least(u32),
    Most(u32),
}

impl Length {
    /// Whether `text` has too few or too many characters.
    pub fn fails(self, text: &str) -> bool {
        let bytes = text.len() as u64;
        let (fewest, most) = (bytes.div_ceil(4), bytes);
        let chars = || text.chars().count() as u64;
        match self {
            Length::Least(n) => {
                let n = u64::from(n);
                most < n || (fewest < n && chars() < n)
            }
            Length::Most(n) => {
                let n = u64::from(n);
                fewest > n || (most > n && chars() > n)
            }
        }
    }
}

/// `expr.map(...)` arguments: the column function telling which values fail `length` (null
/// where the value is null).
pub fn column(length: Length) -> impl Fn(Column) -> PolarsResult<Column> {
    move |c: Column| super::column::test_text(&c, |v| length.fails(v))
}
