//! Extent trees (Documentation/filesystems/ext4/ifork.rst): a 12-byte header, then index
//! entries (interior nodes) or extents (leaves); the root lives in `i_block`, deeper nodes in
//! blocks ending with a crc32c tail under metadata_csum. Each level's depth must be one less
//! than its parent's and no node may be reached twice, so a crafted tree cannot loop.

use std::collections::HashSet;

use crate::bytes::{le16, le32};
use crate::fs::{FsError, FsResult};

use super::checksum::crc32c_raw;
use super::fs::Ext4;
use super::inode::Inode;

/// A run of file blocks: `len` blocks from logical block `logical` stored at `physical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    /// First logical block.
    pub logical: u64,
    /// First physical block.
    pub physical: u64,
    /// Number of blocks.
    pub len: u64,
    /// Allocated but not written (reads as zeros).
    pub uninit: bool,
}

const MAGIC: u64 = 0xf30a;
/// The deepest tree ext4 builds.
const MAX_DEPTH: u64 = 5;

fn bad(ino: u32, detail: String) -> FsError {
    FsError::corrupt("ext4 extent tree", format!("inode {ino}: {detail}"))
}

/// Check an extent node's header (magic, entry count within the node, depth as its parent
/// implies); returns (entries, depth).
pub fn check_header(node: &[u8], ino: u32, expect_depth: Option<u64>) -> FsResult<(usize, u64)> {
    if le16(node, 0) != MAGIC {
        return Err(bad(ino, "bad extent header magic".into()));
    }
    let entries = le16(node, 2) as usize;
    let max = le16(node, 4) as usize;
    let depth = le16(node, 6);
    if 12 + max * 12 > node.len() || entries > max {
        return Err(bad(
            ino,
            format!(
                "header claims {entries} of {max} entries in a {}-byte node",
                node.len()
            ),
        ));
    }
    if depth > MAX_DEPTH || expect_depth.is_some_and(|d| d != depth) {
        return Err(bad(
            ino,
            format!("node depth {depth} is not what its parent implies"),
        ));
    }
    Ok((entries, depth))
}

/// Decode a leaf entry: (logical, physical, len, uninit).
pub fn decode_leaf(e: &[u8]) -> (u64, u64, u64, bool) {
    let raw_len = le16(e, 4);
    let (len, uninit) = if raw_len > 32768 {
        (raw_len - 32768, true)
    } else {
        (raw_len, false)
    };
    (le32(e, 0), le32(e, 8) | le16(e, 6) << 32, len, uninit)
}

/// Decode an index entry's child block.
pub fn decode_index(e: &[u8]) -> u64 {
    le32(e, 4) | le16(e, 8) << 32
}

/// Every extent of the inode, in logical order.
pub fn runs(fs: &Ext4, inode: &Inode) -> FsResult<Vec<Run>> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    walk(fs, inode, &inode.block, None, &mut seen, &mut out)?;
    for w in out.windows(2) {
        if w[0].logical + w[0].len > w[1].logical {
            return Err(bad(
                inode.ino,
                format!(
                    "extents at logical blocks {} and {} overlap or are out of order",
                    w[0].logical, w[1].logical
                ),
            ));
        }
    }
    Ok(out)
}

fn walk(
    fs: &Ext4,
    inode: &Inode,
    node: &[u8],
    expect_depth: Option<u64>,
    seen: &mut HashSet<u64>,
    out: &mut Vec<Run>,
) -> FsResult<()> {
    let ino = inode.ino;
    let (entries, depth) = check_header(node, ino, expect_depth)?;
    for i in 0..entries {
        let e = &node[12 + i * 12..24 + i * 12];
        if depth == 0 {
            let (logical, physical, len, uninit) = decode_leaf(e);
            if len == 0
                || physical
                    .checked_add(len)
                    .is_none_or(|end| end > fs.sb.blocks_count)
            {
                return Err(bad(
                    ino,
                    format!(
                        "extent of {len} blocks at block {physical} lies outside the filesystem"
                    ),
                ));
            }
            out.push(Run {
                logical,
                physical,
                len,
                uninit,
            });
        } else {
            let child = decode_index(e);
            if !seen.insert(child) {
                return Err(bad(
                    ino,
                    format!("extent block {child} is referenced twice"),
                ));
            }
            let block = fs.read_block(child)?;
            verify_tail(fs, inode, child, &block)?;
            walk(fs, inode, &block, Some(depth - 1), seen, out)?;
        }
    }
    Ok(())
}

fn verify_tail(fs: &Ext4, inode: &Inode, blk: u64, block: &[u8]) -> FsResult<()> {
    if !fs.metadata_csum() {
        return Ok(());
    }
    let max = le16(block, 4) as usize;
    let at = 12 + max * 12;
    if at + 4 > block.len() {
        return Err(bad(
            inode.ino,
            format!("extent block {blk} has no room for its checksum"),
        ));
    }
    let stored = le32(block, at) as u32;
    let got = crc32c_raw(inode.csum_seed, &block[..at]);
    if stored != got {
        return Err(bad(
            inode.ino,
            format!(
                "extent block {blk}: checksum 0x{stored:08x} does not match the contents (0x{got:08x})"
            ),
        ));
    }
    Ok(())
}
