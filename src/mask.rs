//! The rows a boolean mask selects, read from its bits a word at a time rather than value by
//! value. Validation, routing and projection walk their masks this way.

use polars::prelude::{BooleanChunked, NewChunkedArray};

/// The positions where `mask` is true (and not null), in order.
pub fn true_positions(mask: &BooleanChunked) -> Vec<usize> {
    let mut out = Vec::new();
    let mut base = 0;
    for arr in mask.downcast_iter() {
        let bits = match arr.validity() {
            Some(valid) if valid.unset_bits() > 0 => arr.values() & valid,
            _ => arr.values().clone(),
        };
        out.extend(bits.true_idx_iter().map(|i| base + i));
        base += arr.len();
    }
    out
}

/// A mask of `len` values, true at `positions` (each below `len`) and false elsewhere.
pub fn from_positions(len: usize, positions: &[usize]) -> BooleanChunked {
    let mut bits = vec![false; len];
    for &p in positions {
        if let Some(b) = bits.get_mut(p) {
            *b = true;
        }
    }
    BooleanChunked::from_slice("mask".into(), &bits)
}

#[cfg(test)]
mod tests {
    use polars::prelude::{BooleanChunked, ChunkedArray, NewChunkedArray};
    use proptest::prelude::*;

    use super::{from_positions, true_positions};

    proptest! {
        #[test]
        fn positions_are_those_of_the_true_values(
            parts in proptest::collection::vec(
                proptest::collection::vec(proptest::option::of(any::<bool>()), 0..150),
                1..4,
            ),
        ) {
            let mut mask: BooleanChunked = ChunkedArray::from_slice_options("m".into(), &parts[0]);
            for part in &parts[1..] {
                mask.append(&ChunkedArray::from_slice_options("m".into(), part))
                    .expect("masks of one type append");
            }
            let expected: Vec<usize> = parts
                .concat()
                .iter()
                .enumerate()
                .filter(|(_, v)| **v == Some(true))
                .map(|(i, _)| i)
                .collect();
            prop_assert_eq!(true_positions(&mask), expected.clone());
            prop_assert_eq!(true_positions(&from_positions(mask.len(), &expected)), expected);
        }
    }
}
