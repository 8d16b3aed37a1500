//! Refcount block entries (QEMU docs/interop/qcow2.rst, "Host cluster management"):
//! packed big-endian integers of `1 << refcount_order` bits; sub-byte widths count from
//! the least significant bit of each byte.

use super::super::{BlockError, Result};

/// Entries of `bits` width in one refcount block of `cluster_size` bytes.
pub fn entries_per_block(cluster_size: u64, order: u32) -> u64 {
    (cluster_size * 8) >> order
}

/// The largest refcount a `1 << order`-bit entry holds.
pub fn max_refcount(order: u32) -> u64 {
    let bits = 1u32 << order;
    if bits == 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    }
}

/// Entry `index` of a refcount block.
pub fn get(block: &[u8], order: u32, index: usize) -> u64 {
    match order {
        0..=2 => {
            let bits = 1usize << order;
            let per_byte = 8 / bits;
            let byte = block[index / per_byte];
            let shift = (index % per_byte) * bits;
            u64::from((byte >> shift) & ((1u16 << bits) - 1) as u8)
        }
        _ => {
            let width = 1usize << (order - 3);
            let at = index * width;
            block[at..at + width]
                .iter()
                .fold(0u64, |acc, &b| (acc << 8) | u64::from(b))
        }
    }
}

/// Set entry `index` of a refcount block to `value`.
pub fn set(block: &mut [u8], order: u32, index: usize, value: u64) -> Result<()> {
    if value > max_refcount(order) {
        return Err(BlockError::Unsupported(format!(
            "refcount {value} overflows a {}-bit refcount",
            1u32 << order
        )));
    }
    match order {
        0..=2 => {
            let bits = 1usize << order;
            let per_byte = 8 / bits;
            let mask = ((1u16 << bits) - 1) as u8;
            let shift = (index % per_byte) * bits;
            let byte = &mut block[index / per_byte];
            *byte = (*byte & !(mask << shift)) | ((value as u8 & mask) << shift);
        }
        _ => {
            let width = 1usize << (order - 3);
            let at = index * width;
            let bytes = value.to_be_bytes();
            block[at..at + width].copy_from_slice(&bytes[8 - width..]);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_width_round_trips_without_touching_neighbours() {
        for order in 0..=6u32 {
            let mut block = vec![0u8; 512];
            let n = entries_per_block(512, order) as usize;
            let max = max_refcount(order);
            for i in 0..n {
                set(&mut block, order, i, (i as u64 * 7 + 1) & max).unwrap();
            }
            for i in 0..n {
                assert_eq!(
                    get(&block, order, i),
                    (i as u64 * 7 + 1) & max,
                    "order {order} index {i}"
                );
            }
            assert!(set(&mut block, order, 0, max).is_ok());
            if order < 6 {
                assert!(set(&mut block, order, 0, max + 1).is_err());
            }
        }
    }

    #[test]
    fn sub_byte_entries_start_at_the_least_significant_bit() {
        let mut block = vec![0u8; 1];
        set(&mut block, 0, 0, 1).unwrap();
        assert_eq!(block[0], 0b0000_0001);
        set(&mut block, 1, 1, 3).unwrap();
        assert_eq!(block[0], 0b0000_1101);
        assert_eq!(get(&[0x10], 2, 1), 1);
    }
}
