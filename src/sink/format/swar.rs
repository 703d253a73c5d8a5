//! Byte scans eight bytes at a time, for the sinks' per-value checks: a word that cannot hold
//! a byte of interest is passed over, and only a word that may is looked at byte by byte.

/// `b` in every byte of a word.
pub const fn splat(b: u8) -> u64 {
    u64::from_ne_bytes([b; 8])
}

/// Non-zero when some byte of `x` is below `n` (`n` at most 128); zero otherwise.
pub const fn below(x: u64, n: u8) -> u64 {
    x.wrapping_sub(splat(1).wrapping_mul(n as u64)) & !x & splat(0x80)
}

/// Non-zero when some byte of `x` is `b`; zero otherwise.
pub const fn has(x: u64, b: u8) -> u64 {
    below(x ^ splat(b), 1)
}

/// Whether some byte of `bytes` is one `exact` accepts. `may_hold(word)` must be non-zero for
/// every word holding such a byte (it may be non-zero for others too).
///
/// The last bytes are read as one word too: the final eight bytes (overlapping the words
/// before), or for a value shorter than a word, its bytes loaded in overlapping pieces. Every
/// byte of such a word is a byte of `bytes`, so it cannot hold a byte of interest that `bytes`
/// does not.
#[inline(always)]
pub fn any(bytes: &[u8], may_hold: impl Fn(u64) -> u64, exact: impl Fn(u8) -> bool) -> bool {
    let n = bytes.len();
    if n < 8 {
        return n > 0 && may_hold(short_word(bytes)) != 0 && bytes.iter().any(|&b| exact(b));
    }
    let mut words = bytes.chunks_exact(8);
    for w in &mut words {
        if may_hold(word(w)) != 0 && w.iter().any(|&b| exact(b)) {
            return true;
        }
    }
    if words.remainder().is_empty() {
        return false;
    }
    let last = &bytes[n - 8..];
    may_hold(word(last)) != 0 && last.iter().any(|&b| exact(b))
}

#[inline(always)]
fn word(w: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&w[..8]);
    u64::from_ne_bytes(b)
}

/// The bytes of a value of 1 to 7 bytes as one word, made of overlapping loads of its first and
/// last bytes (each byte of the word is one of the value's).
#[inline(always)]
fn short_word(bytes: &[u8]) -> u64 {
    let n = bytes.len();
    if n >= 4 {
        let lo = u32::from_ne_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        let hi = u32::from_ne_bytes([bytes[n - 4], bytes[n - 3], bytes[n - 2], bytes[n - 1]]);
        u64::from(lo) | (u64::from(hi) << 32)
    } else if n >= 2 {
        let lo = u16::from_ne_bytes([bytes[0], bytes[1]]);
        let hi = u16::from_ne_bytes([bytes[n - 2], bytes[n - 1]]);
        let half = u32::from(lo) | (u32::from(hi) << 16);
        u64::from(half) | (u64::from(half) << 32)
    } else {
        splat(bytes[0])
    }
}

#[cfg(test)]
mod tests {
    use super::{any, below, has};
    use proptest::prelude::{Just, prop_assert_eq, prop_oneof, proptest};

    proptest! {
        /// The word-at-a-time scan finds what a byte-by-byte one finds, for the sinks' checks.
        #[test]
        fn any_matches_a_byte_by_byte_scan(
            bytes in proptest::collection::vec(
                prop_oneof![
                    Just(b'a'), Just(b'Z'), Just(b'0'), Just(b','), Just(b';'), Just(b'"'),
                    Just(b'\\'), Just(b'\n'), Just(b'\r'), Just(0u8), Just(0x1f), Just(0x0d),
                    Just(0xc3), Just(0xa9), Just(0x7f), Just(0xff), Just(b' '), Just(b'\t'),
                ],
                0..40,
            ),
            delimiter in prop_oneof![Just(b','), Just(b';'), Just(b'\t'), Just(b'|')],
        ) {
            let csv = |b: u8| b == delimiter || b == b'"' || b == b'\r' || b == b'\n';
            prop_assert_eq!(
                any(&bytes, |x| has(x, delimiter) | has(x, b'"') | below(x, 0x0E), csv),
                bytes.iter().any(|&b| csv(b))
            );
            let json = |b: u8| b < 0x20 || b == b'"' || b == b'\\';
            prop_assert_eq!(
                any(&bytes, |x| below(x, 0x20) | has(x, b'"') | has(x, b'\\'), json),
                bytes.iter().any(|&b| json(b))
            );
        }
    }
}
