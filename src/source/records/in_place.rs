//! The fast path: a record on one line without a quote is read where it is in the buffer, its
//! fields cut at the delimiters found 64 bytes at a time by a classifier ([`marks`]); it is
//! property-tested against `csv_core` in `records/mod.rs`.

use super::quotes::Last;
use super::{Event, Records};
use std::io::Read;

/// Where the delimiters, quotes and line breaks are in `buf[at..at + len]` (at most
/// [`BLOCK`] bytes): bit `i` of `bits` for byte `at + i`. Empty (`len == 0`) whenever the
/// buffer's text moves or grows, or the dialect changes.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Marks {
    pub(super) at: usize,
    pub(super) len: usize,
    pub(super) bits: u64,
}

/// The bytes classified at once by the fast path.
pub(super) const BLOCK: usize = 64;

impl<R: Read> Records<R> {
    /// Reads the record ahead in place if it is one whole line without a quote, no longer than
    /// `max_field`: split at the delimiters, it has the fields `csv_core` would give it.
    /// `None` leaves everything as it was, for `csv_core`.
    ///
    /// One pass finds the delimiters, the quotes and the line break: the text is classified
    /// [`BLOCK`] bytes at a time into [`Marks`], and each mark is looked at in turn.
    pub(super) fn read_in_place(&mut self, line: u64) -> std::io::Result<Option<Event>> {
        let d = self.dialect;
        // Bytes a plain split would get wrong: they are left to `csv_core`. A `\r` quote
        // would be taken for part of a CRLF line break.
        if matches!(d.delimiter, b'\r' | b'\n')
            || d.delimiter == d.quote
            || d.quote == d.newline
            || d.quote == b'\r'
        {
            return Ok(None);
        }
        let mut start = self.pos;
        // Where the scan is: every byte of `buf[start..at]` is classified and looked at.
        let mut at = start;
        let mut nends = 0;
        let newline_at = 'scan: loop {
            if at >= self.marks.at + self.marks.len || at < self.marks.at {
                if at == self.len {
                    if self.len - start > self.max_field {
                        return Ok(None);
                    }
                    if !self.fill()? {
                        // The last line, without a line break.
                        return Ok(None);
                    }
                    // The text may have moved to the front of the buffer.
                    at = self.pos + (at - start);
                    start = self.pos;
                    continue;
                }
                self.marks = self.classify(at);
            }
            let Marks {
                at: base,
                len,
                bits,
            } = self.marks;
            // Room for a field end at every byte of the block.
            if self.ends.len() < nends + BLOCK {
                let room = (nends + BLOCK).max(self.ends.len() * 2);
                self.ends.resize(room, 0);
            }
            let ends = &mut self.ends[nends..nends + BLOCK];
            let mut found = 0;
            let mut bits = bits & (u64::MAX << (at - base));
            while bits != 0 {
                let i = base + bits.trailing_zeros() as usize;
                let b = self.buf[i];
                if b == d.newline {
                    nends += found;
                    break 'scan i;
                }
                if b == b'\r' {
                    // Part of a CRLF break, or a lone CR: a line break of its own, which the
                    // record reader handles (quoted, it is text).
                    let crs = self.buf[i..self.len]
                        .iter()
                        .take_while(|&&c| c == b'\r')
                        .count();
                    if i + crs >= self.len || self.buf[i + crs] != b'\n' {
                        return Ok(None);
                    }
                    bits &= bits - 1;
                    continue;
                }
                if b != d.delimiter {
                    // A quote.
                    return Ok(None);
                }
                ends[found] = i - start;
                found += 1;
                bits &= bits - 1;
            }
            nends += found;
            at = base + len;
        };
        let mut end = newline_at;
        if d.newline == b'\n' {
            while end > start && self.buf[end - 1] == b'\r' {
                end -= 1;
            }
        }
        let body = end - start;
        if body > self.max_field {
            return Ok(None);
        }
        if nends == self.ends.len() {
            self.ends.resize(nends * 2 + 1, 0);
        }
        self.ends[nends] = body;
        self.nends = nends + 1;
        self.nout = 0;
        self.in_place = Some((start, body));
        self.last = Some(Last {
            start,
            first_end: newline_at + 1 - start,
            end: newline_at + 1,
            line,
        });
        self.pos = newline_at + 1;
        self.line += 1;
        Ok(Some(Event::Record { line, lines: 1 }))
    }

    /// The marks of the text from `at` (which is before `len`), up to [`BLOCK`] bytes of it.
    pub(super) fn classify(&self, at: usize) -> Marks {
        let d = self.dialect;
        let len = (self.len - at).min(BLOCK);
        let bits = match self.buf.get(at..at + BLOCK).and_then(|w| w.try_into().ok()) {
            // Bytes past the text are classified too, and their marks dropped.
            Some(window) => marks(window, d.delimiter, d.quote, d.newline, b'\r'),
            None => {
                let mut block = [0; BLOCK];
                block[..len].copy_from_slice(&self.buf[at..at + len]);
                marks(&block, d.delimiter, d.quote, d.newline, b'\r')
            }
        };
        let bits = if len == BLOCK {
            bits
        } else {
            bits & ((1 << len) - 1)
        };
        Marks { at, len, bits }
    }
}

/// Bit `i` set where `block[i]` is `a`, `b`, `c` or `e`. Written so that the comparisons compile to
/// vector instructions on any x86-64 (SSE2): each byte gives 0 or 1, and each eight of those
/// are gathered into eight bits by one multiplication (byte `i` of the product's top byte is
/// the sum of the bits shifted to `56 + i`, no two of which meet).
#[inline]
pub(super) fn marks(block: &[u8; BLOCK], a: u8, b: u8, c: u8, e: u8) -> u64 {
    let hit: [u8; BLOCK] = std::array::from_fn(|i| {
        let x = block[i];
        u8::from(x == a) | u8::from(x == b) | u8::from(x == c) | u8::from(x == e)
    });
    let mut bits = 0;
    for (k, eight) in hit.chunks_exact(8).enumerate() {
        let mut word = [0; 8];
        word.copy_from_slice(eight);
        bits |= (u64::from_le_bytes(word).wrapping_mul(0x0102_0408_1020_4080) >> 56) << (8 * k);
    }
    bits
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The marks of a block are the bytes a byte-by-byte look finds.
        #[test]
        fn marks_are_the_bytes_looked_for(
            block in proptest::array::uniform32(proptest::sample::select(b"a,;\"\r\n\0\xFF".to_vec())),
            more in proptest::array::uniform32(proptest::sample::select(b"a,;\"\r\n\0\xFF".to_vec())),
            delimiter in proptest::sample::select(vec![b',', b';', 0]),
        ) {
            let mut whole = [0; BLOCK];
            whole[..32].copy_from_slice(&block);
            whole[32..].copy_from_slice(&more);
            let expected = whole.iter().enumerate().fold(0u64, |bits, (i, &b)| {
                bits | u64::from(b == delimiter || b == b'"' || b == b'\n') << i
            });
            proptest::prop_assert_eq!(marks(&whole, delimiter, b'"', b'\n', b'\n'), expected);
        }
    }
}
