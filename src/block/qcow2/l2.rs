//! L1 and L2 table entries (QEMU docs/interop/qcow2.rst, "Cluster mapping" and
//! "Extended L2 Entries"): decoding one guest cluster's descriptor, and building the
//! entries rfish writes.

use super::super::{BlockError, Result};

/// Bit 63: refcount is exactly one (write in place).
pub const COPIED: u64 = 1 << 63;
/// Bit 62: compressed cluster.
pub const COMPRESSED: u64 = 1 << 62;
/// Bit 0 of a standard descriptor (v3, no extended L2): reads as zeros.
pub const ZERO: u64 = 1;
/// Bits 9..=55: a cluster-aligned host offset.
pub const OFFSET_MASK: u64 = 0x00ff_ffff_ffff_fe00;
/// Subcluster bitmap: all 32 subclusters allocated.
pub const ALL_ALLOCATED: u64 = 0xffff_ffff;
/// Subcluster bitmap: all 32 subclusters read as zeros.
pub const ALL_ZERO: u64 = 0xffff_ffff << 32;

/// What one guest cluster maps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mapping {
    /// Not stored here: read the backing file (or zeros).
    Unallocated,
    /// Reads as zeros. `host` is a preallocated cluster still refcounted, or 0.
    Zero {
        /// Preallocated host offset (0: none).
        host: u64,
    },
    /// Stored uncompressed at `host`.
    Data {
        /// Host cluster offset.
        host: u64,
        /// Refcount is exactly one: writable in place.
        copied: bool,
        /// Extended L2 only: bits 0..31 allocated subclusters, 32..63 zero subclusters.
        /// `None` for ordinary L2 entries.
        subclusters: Option<u64>,
    },
    /// Stored compressed: `len` bytes at `host` (not cluster aligned).
    Compressed {
        /// First byte of the compressed data.
        host: u64,
        /// Bytes that may hold compressed data (up to the end of its last sector).
        len: u64,
    },
}

fn bad(detail: String) -> BlockError {
    BlockError::corrupt("L2 table", detail)
}

/// Decode an L2 entry (`bitmap`: the second word of an extended entry) for an image with
/// `cluster_bits` and `version`, in a file of `file_len` bytes.
pub fn decode(
    entry: u64,
    bitmap: Option<u64>,
    cluster_bits: u32,
    version: u32,
    file_len: u64,
) -> Result<Mapping> {
    let cluster_size = 1u64 << cluster_bits;
    if entry & COMPRESSED != 0 {
        let x = 62 - (cluster_bits - 8);
        let host = entry & ((1u64 << x) - 1);
        let sectors = ((entry & !(COPIED | COMPRESSED)) >> x) + 1;
        let len = sectors * 512 - (host & 511);
        if host < cluster_size || host >= file_len {
            return Err(bad(format!(
                "compressed cluster at host offset {host} is outside the file ({file_len} bytes)"
            )));
        }
        return Ok(Mapping::Compressed { host, len });
    }
    let host = entry & OFFSET_MASK;
    if entry & !(COPIED | OFFSET_MASK | ZERO) != 0 {
        return Err(bad(format!("reserved bits set in entry 0x{entry:016x}")));
    }
    if host % cluster_size != 0 {
        return Err(bad(format!(
            "host offset {host} is not aligned to a cluster"
        )));
    }
    if host != 0
        && (host < cluster_size
            || host.saturating_add(cluster_size) > file_len.div_ceil(cluster_size) * cluster_size)
    {
        return Err(bad(format!(
            "host offset {host} points into the header or past the end of the file ({file_len} bytes)"
        )));
    }
    if let Some(bits) = bitmap {
        if entry & ZERO != 0 {
            return Err(bad(format!("bit 0 set in extended entry 0x{entry:016x}")));
        }
        let alloc = bits & ALL_ALLOCATED;
        let zero = bits >> 32;
        if alloc & zero != 0 {
            return Err(bad(format!(
                "subcluster bitmap 0x{bits:016x} marks subclusters both allocated and zero"
            )));
        }
        if host == 0 {
            if alloc != 0 {
                return Err(bad(format!(
                    "subclusters allocated without a host cluster (bitmap 0x{bits:016x})"
                )));
            }
            return Ok(if zero == 0xffff_ffff {
                Mapping::Zero { host: 0 }
            } else if zero == 0 {
                Mapping::Unallocated
            } else {
                Mapping::Data {
                    host: 0,
                    copied: false,
                    subclusters: Some(bits),
                }
            });
        }
        return Ok(Mapping::Data {
            host,
            copied: entry & COPIED != 0,
            subclusters: Some(bits),
        });
    }
    if entry & ZERO != 0 {
        if version < 3 {
            return Err(bad(format!(
                "zero flag in a version 2 image (entry 0x{entry:016x})"
            )));
        }
        return Ok(Mapping::Zero { host });
    }
    if host == 0 {
        return Ok(Mapping::Unallocated);
    }
    Ok(Mapping::Data {
        host,
        copied: entry & COPIED != 0,
        subclusters: None,
    })
}

/// Decode an L1 entry: the L2 table's offset (0: none) and whether it is COPIED.
pub fn decode_l1(entry: u64, index: u64, cluster_size: u64, file_len: u64) -> Result<(u64, bool)> {
    let offset = entry & OFFSET_MASK;
    if entry & !(COPIED | OFFSET_MASK) != 0 {
        return Err(BlockError::corrupt(
            "L1 table",
            format!("reserved bits set in entry {index} (0x{entry:016x})"),
        ));
    }
    if offset != 0
        && (offset % cluster_size != 0
            || offset < cluster_size
            || offset + cluster_size > file_len.div_ceil(cluster_size) * cluster_size)
    {
        return Err(BlockError::corrupt(
            "L1 table",
            format!(
                "entry {index} points to an L2 table at {offset}, outside the file ({file_len} bytes) or unaligned"
            ),
        ));
    }
    Ok((offset, entry & COPIED != 0))
}
