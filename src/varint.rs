//! LEB128 varints: the length prefixes of the spill files of grouped targets (`sink::group`)
//! and of XLSX workbooks (`sink::xlsx`), and of the records of `unique` keys
//! (`validate::unique`). One writer and one reader for all of them.

/// Appends `v` as a LEB128 varint.
pub fn put(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// How many bytes `v` takes as a LEB128 varint.
pub fn len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// Reads a LEB128 varint at the start of `bytes`: its value and its length in bytes.
pub fn read(bytes: &[u8]) -> (u64, usize) {
    let mut v = 0u64;
    for (i, &b) in bytes.iter().enumerate().take(10) {
        v |= u64::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            return (v, i + 1);
        }
    }
    (v, bytes.len().min(10))
}

/// Why a varint could not be read from a stream.
#[derive(Debug)]
pub enum StreamError {
    /// The stream ends inside it.
    Truncated,
    /// More than ten bytes: not a 64-bit varint, the stream is damaged.
    TooLong,
    Io(std::io::Error),
}

/// Reads a LEB128 varint byte by byte from `next` (`None` at the end of the stream). `None`
/// when the stream ends before its first byte, between two varints.
pub fn read_stream(
    mut next: impl FnMut() -> std::io::Result<Option<u8>>,
) -> Result<Option<u64>, StreamError> {
    let mut v = 0u64;
    for i in 0..10 {
        let Some(b) = next().map_err(StreamError::Io)? else {
            return if i == 0 {
                Ok(None)
            } else {
                Err(StreamError::Truncated)
            };
        };
        v |= u64::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            return Ok(Some(v));
        }
    }
    Err(StreamError::TooLong)
}

#[cfg(test)]
mod tests {
    #[test]
    fn varints_round_trip() {
        for v in [
            0,
            1,
            127,
            128,
            300,
            u64::from(u32::MAX),
            u64::MAX - 1,
            u64::MAX,
        ] {
            let mut out = vec![9];
            super::put(&mut out, v);
            out.push(7);
            let (read, n) = super::read(&out[1..]);
            assert_eq!((read, out[1 + n]), (v, 7), "{v}");
            assert_eq!(super::len(v), n, "{v}");
            let mut bytes = out[1..].iter().copied();
            let streamed = super::read_stream(|| Ok(bytes.next())).expect("whole");
            assert_eq!(streamed, Some(v), "{v}");
        }
        let mut none = std::iter::empty();
        assert!(matches!(super::read_stream(|| Ok(none.next())), Ok(None)));
        let mut cut = [0x80u8].into_iter();
        assert!(matches!(
            super::read_stream(|| Ok(cut.next())),
            Err(super::StreamError::Truncated)
        ));
        let mut long = std::iter::repeat(0xFFu8);
        assert!(matches!(
            super::read_stream(|| Ok(long.next())),
            Err(super::StreamError::TooLong)
        ));
    }
}
