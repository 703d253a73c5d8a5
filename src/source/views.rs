//! A chunk's text columns, built as views into the text the records were read from.
//!
//! A polars string column is an array of 16-byte views: a value of up to 12 bytes is held in
//! its view, a longer one is pointed at in a shared buffer. The reader keeps a chunk's text in
//! one block ([`Records::take_block`](super::records::Records::take_block)), so a value read in
//! place needs no copy: its view points into the block. A value `csv_core` had to assemble
//! (quoted, with doubled quotes or line breaks) is copied into a second buffer. Every column of
//! the chunk shares both buffers.
//!
//! Values are taken as `&str` only, so they are UTF-8 by their type, and each view is made from
//! the bytes it points at: a chunk checks only that every view lies within its buffer, and does
//! not read the text again (for 10 million short values, polars' check of every view against
//! its buffer and the UTF-8 check each cost a tenth of reading the file). That is the one
//! `unsafe` call of the crate.

use polars::prelude::{Column, IntoColumn, StringChunked};
use polars_arrow::array::{BinaryViewArray, Utf8ViewArray, View};
use polars_arrow::datatypes::ArrowDataType;
use polars_buffer::Buffer;

/// Index of the block in every column's buffers.
const BLOCK: u32 = 0;
/// Index of the buffer of copied values.
const COPIED: u32 = 1;

/// The views a chunk reserves room for at once (64 MiB of views).
const RESERVED_VIEWS: usize = 4 << 20;

/// The columns of one chunk while it is read.
pub(super) struct TextColumns {
    views: Vec<Vec<View>>,
    copied: Vec<u8>,
}

/// A value too large for a view: offsets and lengths are 32-bit.
#[derive(Debug)]
pub(super) struct TooLarge;

impl TextColumns {
    /// Columns for up to `rows` rows. Room for all of them is made at once only while the
    /// chunk's views stay within [`RESERVED_VIEWS`]: the columns of a very wide header grow as
    /// rows come instead (each reserving a chunk's worth of rows would touch a page of memory
    /// per column, 400 MB for 100,000 columns, for chunks that hold few rows).
    pub fn new(columns: usize, rows: usize) -> Self {
        let rows = rows.min(RESERVED_VIEWS / columns.max(1)).max(1);
        TextColumns {
            views: (0..columns).map(|_| Vec::with_capacity(rows)).collect(),
            copied: Vec::new(),
        }
    }

    /// Bytes copied so far.
    pub fn copied_len(&self) -> usize {
        self.copied.len()
    }

    /// The values of a record read in place: `line` split at `ends` (each field ends there and
    /// the next starts one delimiter byte later), `line` sitting at `offset` in the block. Each
    /// value is shown to its column's `see`.
    #[inline]
    pub fn push_line(
        &mut self,
        line: &str,
        ends: &[usize],
        offset: usize,
        mut see: impl FnMut(usize, &str),
    ) -> Result<(), TooLarge> {
        let at = offset
            .checked_add(line.len())
            .and_then(|end| u32::try_from(end).ok())
            .map(|_| offset as u32)
            .ok_or(TooLarge)?;
        let bytes = line.as_bytes();
        let mut start = 0;
        for (i, (views, &end)) in self.views.iter_mut().zip(ends).enumerate() {
            let value = &line[start..end];
            see(i, value);
            let len = end - start;
            let view = match bytes.get(start..start + View::MAX_INLINE_SIZE as usize) {
                Some(window) if len <= View::MAX_INLINE_SIZE as usize => inline(window, len),
                _ => View::new_from_bytes(value.as_bytes(), BLOCK, at + start as u32),
            };
            views.push(view);
            start = end + 1;
        }
        Ok(())
    }

    /// A value of column `column` held elsewhere: copied, unless its view holds it.
    #[inline]
    pub fn push_copied(&mut self, column: usize, value: &str) -> Result<(), TooLarge> {
        let offset = self.copied.len();
        if u32::try_from(offset + value.len()).is_err() {
            return Err(TooLarge);
        }
        if value.len() > View::MAX_INLINE_SIZE as usize {
            self.copied.extend_from_slice(value.as_bytes());
        }
        self.views[column].push(View::new_from_bytes(
            value.as_bytes(),
            COPIED,
            offset as u32,
        ));
        Ok(())
    }

    /// The columns, named by `name(i)`, over `block`, the text the offsets of
    /// [`TextColumns::push_line`] point into. An error means a view lies outside its buffer:
    /// a bug, never the data.
    pub fn finish(
        self,
        block: Vec<u8>,
        name: impl Fn(usize) -> String,
    ) -> Result<Vec<Column>, String> {
        let lens = [block.len(), self.copied.len()];
        let buffers: Buffer<Buffer<u8>> =
            vec![Buffer::from(block), Buffer::from(self.copied)].into();
        self.views
            .into_iter()
            .enumerate()
            .map(|(i, views)| {
                within(&views, lens)?;
                // SAFETY: `within` has just checked that every view held in a buffer lies within
                // it; and every view of `self` was made by `push_line` or `push_copied`, the only
                // code that makes views, each from a `&str` whose bytes are the ones it points at
                // in `block` or `copied`, which are the two buffers, in that order.
                #[expect(unsafe_code, reason = "the one call of `text`, its contract met here")]
                let text = unsafe { text(views.into(), &buffers) };
                Ok(StringChunked::with_chunk(name(i).into(), text).into_column())
            })
            .collect()
    }
}

/// Checks that every view held in a buffer lies within it, without reading the buffer: a view
/// is made from the bytes it points at ([`TextColumns::push_line`], [`TextColumns::push_copied`]),
/// so only where it points can be wrong, and only by a bug.
fn within(views: &[View], lens: [usize; 2]) -> Result<(), String> {
    let inline = View::MAX_INLINE_SIZE;
    let outside = views.iter().position(|v| {
        v.length > inline
            && lens
                .get(v.buffer_idx as usize)
                .is_none_or(|&len| v.offset as usize + v.length as usize > len)
    });
    match outside {
        None => Ok(()),
        Some(at) => Err(format!(
            "value {at} of a chunk points outside its buffer (a bug in the reader)"
        )),
    }
}

/// The view of a value of `len` bytes (at most 12) held in the view itself, from a window of
/// 12 bytes that starts with it: the bytes past the value are zeroed, as views require. The
/// same view as [`View::new_inline`], without a copy of variable length.
#[inline]
fn inline(window: &[u8], len: usize) -> View {
    let word = |i: usize| {
        let mut b = [0u8; 4];
        b.copy_from_slice(&window[i..i + 4]);
        u32::from_le_bytes(b)
    };
    let keep = KEEP.get(len).copied().unwrap_or([u32::MAX; 3]);
    View {
        length: len as u32,
        prefix: word(0) & keep[0],
        buffer_idx: word(4) & keep[1],
        offset: word(8) & keep[2],
    }
}

/// For each length up to 12, the bytes of each of the view's three words that belong to a value
/// of that length: looked up, not worked out for every value.
const KEEP: [[u32; 3]; 13] = {
    let mut keep = [[0u32; 3]; 13];
    let mut len: usize = 0;
    while len <= 12 {
        let mut word = 0;
        while word < 3 {
            let n = len.saturating_sub(4 * word);
            keep[len][word] = match n {
                0 => 0,
                1..=3 => (1u32 << (8 * n)) - 1,
                _ => u32::MAX,
            };
            word += 1;
        }
        len += 1;
    }
    keep
};

/// The views over `buffers` as text, without polars checking them again.
///
/// # Safety
///
/// Every view longer than [`View::MAX_INLINE_SIZE`] must lie within the buffer it names
/// ([`within`] checks it), and every view must have been made from a `&str` whose bytes are
/// the ones it points at (or holds inline), so that each value is UTF-8 and each prefix matches
/// its bytes. [`TextColumns::push_line`] and [`TextColumns::push_copied`] make views that way.
/// Guarded by the unit tests below (`values_in_the_block_and_copied_ones_read_back`,
/// `inline_views_are_the_views_polars_makes`), by the reader's property tests against
/// `csv_core` (`source::records`, `source::csv`), whose chunks all pass through here, and in
/// debug builds by a full check of every chunk.
#[expect(
    unsafe_code,
    reason = "checking 10 million short values against their buffers and as UTF-8 again cost \
              as much as reading the file"
)]
unsafe fn text(views: Buffer<View>, buffers: &Buffer<Buffer<u8>>) -> Utf8ViewArray {
    // Debug builds (the tests) check the claim below in full on every chunk.
    debug_assert!(
        BinaryViewArray::try_new(
            ArrowDataType::BinaryView,
            views.clone(),
            buffers.clone(),
            None
        )
        .is_ok_and(|bytes| bytes.validate_utf8().is_ok()),
        "a view does not match its buffer, or holds bytes that are not UTF-8"
    );
    // SAFETY: the caller's contract (see `# Safety`).
    unsafe {
        Utf8ViewArray::new_unchecked_unknown_md(
            ArrowDataType::Utf8View,
            views,
            buffers.clone(),
            None,
            None,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_in_the_block_and_copied_ones_read_back() {
        let block = b"short,a value longer than twelve bytes\n".to_vec();
        let mut columns = TextColumns::new(2, 4);
        let line = std::str::from_utf8(&block[..38]).expect("UTF-8");
        columns
            .push_line(line, &[5, 38], 0, |_, _| {})
            .expect("small");
        columns
            .push_copied(0, "copied and long enough")
            .expect("small");
        columns.push_copied(1, "tiny").expect("small");
        let out = columns.finish(block, |i| format!("#{i}")).expect("UTF-8");
        let values = |c: &Column| -> Vec<String> {
            c.str()
                .expect("text")
                .iter()
                .map(|v| v.unwrap_or("<null>").to_string())
                .collect()
        };
        assert_eq!(values(&out[0]), ["short", "copied and long enough"]);
        assert_eq!(
            values(&out[1]),
            ["a value longer than twelve bytes", "tiny"]
        );
        assert_eq!(out[1].name().as_str(), "#1");
    }

    #[test]
    fn inline_views_are_the_views_polars_makes() {
        let text = b"abcdefghijklmnop";
        for len in 0..=12 {
            assert_eq!(
                inline(&text[..12], len).as_u128(),
                View::new_inline(&text[..len]).as_u128(),
                "{len} bytes"
            );
        }
    }

    #[test]
    fn a_line_splits_into_its_columns() {
        let block = b"head\nfirst;a value longer than twelve bytes;;twelve bytes\n".to_vec();
        let line = std::str::from_utf8(&block[5..58]).expect("UTF-8");
        let ends = [5, 38, 39, 52];
        let mut columns = TextColumns::new(4, 1);
        let mut seen = Vec::new();
        columns
            .push_line(line, &ends, 5, |i, v| seen.push((i, v.to_string())))
            .expect("small");
        let out = columns.finish(block, |i| format!("#{i}")).expect("UTF-8");
        let got: Vec<String> = out
            .iter()
            .map(|c| {
                c.str()
                    .expect("text")
                    .get(0)
                    .unwrap_or("<null>")
                    .to_string()
            })
            .collect();
        assert_eq!(
            got,
            [
                "first",
                "a value longer than twelve bytes",
                "",
                "twelve bytes"
            ]
        );
        assert_eq!(seen.len(), 4);
        assert_eq!(seen[3], (3, "twelve bytes".to_string()));
    }

    #[test]
    fn a_view_past_its_buffer_is_refused() {
        let block = b"a value longer than twelve bytes".to_vec();
        let mut columns = TextColumns::new(1, 1);
        let line = "a value longer than twelve bytes";
        columns
            .push_line(line, &[line.len()], 4, |_, _| {})
            .expect("small");
        assert!(columns.finish(block, |i| format!("#{i}")).is_err());
    }
}
