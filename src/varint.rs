//! LEB128 varints: the length prefixes of the spill files of grouped targets (`sink::group`)
//! and of the records of `unique` keys (`validate::unique`).

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
        }
    }
}
