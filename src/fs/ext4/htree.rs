//! Hashed-index directories (Documentation/filesystems/ext4/directory.rst, "Hash Tree
//! Directories"): block 0 holds `.`, `..` and the dx root (hash version, depth, the first
//! count/limit/entries), interior blocks hold dx nodes, and leaves are ordinary directory
//! blocks. A lookup hashes the name and descends to the one leaf (plus the following leaves
//! on a hash collision) that can hold it.

use crate::bytes::{le16, le32};
use crate::fs::{FsError, FsResult};

use super::checksum::crc32c_raw;
use super::dirhash::{HashVersion, dx_hash};

/// The dx root's geometry.
#[derive(Debug, Clone, Copy)]
pub struct DxRoot {
    /// The hash algorithm.
    pub version: HashVersion,
    /// Levels of interior nodes below the root (0: the root points at leaves).
    pub levels: u8,
    /// Where count/limit/entries start in block 0.
    pub entries_at: usize,
}

fn bad(ino: u32, detail: String) -> FsError {
    FsError::corrupt(
        "ext4 htree index",
        format!("directory inode {ino}: {detail}"),
    )
}

/// Parse block 0 of an indexed directory.
pub fn root(block: &[u8], ino: u32, sb_unsigned: bool, largedir: bool) -> FsResult<DxRoot> {
    // "." is 12 bytes; ".." starts at 12 with an 8-byte header and a 4-byte name area.
    let info = 0x18;
    let version = block[info + 4];
    let info_len = block[info + 5] as usize;
    let levels = block[info + 6];
    let max_levels = if largedir { 3 } else { 2 };
    if info_len != 8 || levels >= max_levels {
        return Err(bad(
            ino,
            format!("dx root info length {info_len}, {levels} levels"),
        ));
    }
    let version = HashVersion::from_disk(version, sb_unsigned)
        .ok_or(FsError::Errno(crate::fs::Errno::NotSupported))?;
    Ok(DxRoot {
        version,
        levels,
        entries_at: info + info_len,
    })
}

/// The (hash, block) entries of a dx node whose count/limit start at `at`; entry 0's hash
/// is implicitly 0. Verifies the dx tail checksum under metadata_csum.
pub fn entries(
    block: &[u8],
    at: usize,
    ino: u32,
    csum_seed: Option<u32>,
) -> FsResult<Vec<(u32, u32)>> {
    let limit = le16(block, at) as usize;
    let count = le16(block, at + 2) as usize;
    let tail = if csum_seed.is_some() { 8 } else { 0 };
    if count == 0 || count > limit || at + limit * 8 + tail > block.len() {
        return Err(bad(
            ino,
            format!("dx node with count {count}, limit {limit}"),
        ));
    }
    if let Some(seed) = csum_seed {
        let t = at + limit * 8;
        let stored = le32(block, t + 4) as u32;
        // The entries in use, the tail's reserved word, then a zero in place of the
        // checksum.
        let c = crc32c_raw(seed, &block[..at + count * 8]);
        let c = crc32c_raw(c, &block[t..t + 4]);
        let got = crc32c_raw(c, &[0; 4]);
        if stored != got {
            return Err(bad(
                ino,
                format!(
                    "dx node checksum 0x{stored:08x} does not match the contents (0x{got:08x})"
                ),
            ));
        }
    }
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let e = at + i * 8;
        let hash = if i == 0 { 0 } else { le32(block, e) as u32 };
        out.push((hash, le32(block, e + 4) as u32));
    }
    Ok(out)
}

/// The hash of `name` for this directory.
pub fn hash(root: &DxRoot, name: &[u8], seed: [u32; 4]) -> u32 {
    dx_hash(name, root.version, seed)
}

/// The index of the entry covering `hash`: the last whose hash is not above it.
pub fn pick(entries: &[(u32, u32)], hash: u32) -> usize {
    entries
        .partition_point(|&(h, _)| h <= hash)
        .saturating_sub(1)
}
