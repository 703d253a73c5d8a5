//! A chunk's text columns, built as views into the text the records were read from.
//!
//! A polars string column is an array of 16-byte views: a value of up to 12 bytes is held in
//! its view, a longer one is pointed at in a shared buffer. The reader keeps a chunk's text in
//! one block ([`Records::take_block`](super::records::Records::take_block)), so a value read in
//! place needs no copy: its view points into the block. A value `csv_core` had to assemble
//! (quoted, with doubled quotes or line breaks) is copied into a second buffer. Every column of
//! the chunk shares both buffers.
//!
//! Values are taken as `&str` only, so they are UTF-8 by their type: the arrays check that
//! every view lies within its buffer and matches it, but do not check the text again (for
//! 10 million short values that check cost as much as reading the file). That is the one
//! `unsafe` call of the crate.

use polars::prelude::{Column, IntoColumn, StringChunked};
use polars_arrow::array::{BinaryViewArray, View};
use polars_arrow::datatypes::ArrowDataType;
use polars_buffer::Buffer;

/// Index of the block in every column's buffers.
const BLOCK: u32 = 0;
/// Index of the buffer of copied values.
const COPIED: u32 = 1;

/// The columns of one chunk while it is read.
pub(super) struct TextColumns {
    views: Vec<Vec<View>>,
    copied: Vec<u8>,
}

/// A value too large for a view: offsets and lengths are 32-bit.
#[derive(Debug)]
pub(super) struct TooLarge;

impl TextColumns {
    pub fn new(columns: usize, rows: usize) -> Self {
        TextColumns {
            views: (0..columns).map(|_| Vec::with_capacity(rows)).collect(),
            copied: Vec::new(),
        }
    }

    /// Bytes copied so far.
    pub fn copied_len(&self) -> usize {
        self.copied.len()
    }

    /// A value of column `column` that sits at `offset` in the block.
    #[inline]
    pub fn push_in_block(
        &mut self,
        column: usize,
        value: &str,
        offset: usize,
    ) -> Result<(), TooLarge> {
        let end = offset.checked_add(value.len()).ok_or(TooLarge)?;
        if u32::try_from(end).is_err() {
            return Err(TooLarge);
        }
        self.views[column].push(View::new_from_bytes(value.as_bytes(), BLOCK, offset as u32));
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
    /// [`TextColumns::push_in_block`] point into. An error means a view does not match its
    /// buffer: a bug, never the data.
    pub fn finish(
        self,
        block: Vec<u8>,
        name: impl Fn(usize) -> String,
    ) -> Result<Vec<Column>, String> {
        let buffers: Buffer<Buffer<u8>> =
            vec![Buffer::from(block), Buffer::from(self.copied)].into();
        self.views
            .into_iter()
            .enumerate()
            .map(|(i, views)| {
                // Every view within its buffer and matching it, or an error.
                let bytes = BinaryViewArray::try_new(
                    ArrowDataType::BinaryView,
                    views.into(),
                    buffers.clone(),
                    None,
                )
                .map_err(|e| e.to_string())?;
                Ok(StringChunked::with_chunk(name(i).into(), text(&bytes)).into_column())
            })
            .collect()
    }
}

/// The views as text.
#[allow(unsafe_code)]
fn text(bytes: &BinaryViewArray) -> polars_arrow::array::Utf8ViewArray {
    // Debug builds (the tests) check the claim below on every chunk.
    debug_assert!(
        bytes.validate_utf8().is_ok(),
        "a view holds bytes that are not UTF-8"
    );
    // SAFETY: the views were checked against their buffers, and each was made from a `&str`
    // (`push_in_block`, `push_copied`) whose bytes are the ones it points at, so every value is
    // UTF-8.
    unsafe { bytes.to_utf8view_unchecked() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_in_the_block_and_copied_ones_read_back() {
        let block = b"short,a value longer than twelve bytes\n".to_vec();
        let mut columns = TextColumns::new(2, 4);
        let text = std::str::from_utf8(&block).expect("UTF-8");
        columns.push_in_block(0, &text[..5], 0).expect("small");
        columns.push_in_block(1, &text[6..38], 6).expect("small");
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
    fn a_view_past_its_buffer_is_refused() {
        let block = b"a value longer than twelve bytes".to_vec();
        let mut columns = TextColumns::new(1, 1);
        columns
            .push_in_block(0, "a value longer than twelve bytes", 4)
            .expect("small");
        assert!(columns.finish(block, |i| format!("#{i}")).is_err());
    }
}
