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
pub fn any(bytes: &[u8], may_hold: impl Fn(u64) -> u64, exact: impl Fn(u8) -> bool) -> bool {
    let mut words = bytes.chunks_exact(8);
    for w in &mut words {
        let mut b = [0u8; 8];
        b.copy_from_slice(w);
        if may_hold(u64::from_ne_bytes(b)) != 0 && w.iter().any(|&b| exact(b)) {
            return true;
        }
    }
    words.remainder().iter().any(|&b| exact(b))
}
