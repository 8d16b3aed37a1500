//! The ext2/3/4 superblock (Documentation/filesystems/ext4/super.rst): 1024 bytes at byte
//! 1024 of the filesystem. Parsed into checked values: block size 1 KiB–64 KiB, group
//! geometry consistent with the block count, descriptor size 32 or 32..=1024 with 64bit,
//! inode size a power of two from 128 to the block size, and the crc32c of the
//! superblock itself when metadata_csum is on.

use crate::block::{BlockDev, BlockError, Result};
use crate::bytes::{le16, le32};

use super::checksum::crc32c_raw;

/// compat: has_journal.
pub const COMPAT_HAS_JOURNAL: u32 = 0x4;
/// compat: sparse_super2 (superblock backups only in the groups s_backup_bgs names).
pub const COMPAT_SPARSE_SUPER2: u32 = 0x200;
/// incompat: filetype in directory entries.
pub const INCOMPAT_FILETYPE: u32 = 0x2;
/// incompat: journal needs recovery.
pub const INCOMPAT_RECOVER: u32 = 0x4;
/// incompat: meta_bg group descriptor placement.
pub const INCOMPAT_META_BG: u32 = 0x10;
/// incompat: extents.
pub const INCOMPAT_EXTENTS: u32 = 0x40;
/// incompat: 64-bit block numbers.
pub const INCOMPAT_64BIT: u32 = 0x80;
/// incompat: flexible block groups.
pub const INCOMPAT_FLEX_BG: u32 = 0x200;
/// incompat: checksum seed stored in the superblock.
pub const INCOMPAT_CSUM_SEED: u32 = 0x2000;
/// ro_compat: sparse superblock backups.
pub const RO_COMPAT_SPARSE_SUPER: u32 = 0x1;
/// ro_compat: group descriptor crc16 (uninit_bg).
pub const RO_COMPAT_GDT_CSUM: u32 = 0x10;
/// ro_compat: bigalloc (allocation in clusters of blocks).
pub const RO_COMPAT_BIGALLOC: u32 = 0x200;
/// ro_compat: crc32c metadata checksums.
pub const RO_COMPAT_METADATA_CSUM: u32 = 0x400;

/// A validated superblock.
#[derive(Debug, Clone)]
pub struct Superblock {
    /// The raw 1024 bytes.
    pub raw: Vec<u8>,
    /// Inodes in the filesystem.
    pub inodes_count: u32,
    /// Blocks in the filesystem.
    pub blocks_count: u64,
    /// Free blocks.
    pub free_blocks: u64,
    /// Free inodes.
    pub free_inodes: u32,
    /// First data block (1 with 1 KiB blocks, else 0).
    pub first_data_block: u32,
    /// Block size in bytes.
    pub block_size: u32,
    /// Blocks per group.
    pub blocks_per_group: u32,
    /// Inodes per group.
    pub inodes_per_group: u32,
    /// Inode record size.
    pub inode_size: u16,
    /// First non-reserved inode.
    pub first_ino: u32,
    /// Revision level (0 or 1).
    pub rev_level: u32,
    /// Feature flags.
    pub compat: u32,
    /// Incompatible features.
    pub incompat: u32,
    /// Read-only compatible features.
    pub ro_compat: u32,
    /// Filesystem UUID.
    pub uuid: [u8; 16],
    /// Volume label.
    pub volume_name: String,
    /// Group descriptor size.
    pub desc_size: u16,
    /// First meta_bg group.
    pub first_meta_bg: u32,
    /// Reserved GDT blocks after each descriptor table copy.
    pub reserved_gdt_blocks: u16,
    /// Seed for metadata checksums.
    pub csum_seed: u32,
    /// Number of block groups.
    pub group_count: u32,
    /// Blocks per allocation cluster (bigalloc; 1 without).
    pub cluster_ratio: u64,
}

fn bad(detail: String) -> BlockError {
    BlockError::corrupt("ext4 superblock", detail)
}

impl Superblock {
    /// Read and validate the superblock of the filesystem on `dev`.
    pub fn read(dev: &dyn BlockDev) -> Result<Superblock> {
        if dev.size() < 2048 {
            return Err(bad(
                "the device is too small for an ext2/3/4 filesystem".into()
            ));
        }
        let mut raw = vec![0u8; 1024];
        dev.read_at(&mut raw, 1024)?;
        Self::parse(raw, dev.size())
    }

    /// Validate 1024 superblock bytes for a device of `dev_size` bytes.
    pub fn parse(raw: Vec<u8>, dev_size: u64) -> Result<Superblock> {
        let b = &raw;
        if le16(b, 56) != 0xef53 {
            return Err(bad("bad magic (not ext2/3/4)".into()));
        }
        let log_block = le32(b, 24);
        if log_block > 6 {
            return Err(bad(format!(
                "s_log_block_size {log_block} (block size above 64 KiB)"
            )));
        }
        let block_size = 1024u32 << log_block;
        let incompat = le32(b, 96) as u32;
        let ro_compat = le32(b, 100) as u32;
        let mut blocks_count = le32(b, 4);
        let mut free_blocks = le32(b, 12);
        let is64 = incompat & INCOMPAT_64BIT != 0;
        if is64 {
            blocks_count |= le32(b, 336) << 32;
            free_blocks |= le32(b, 344) << 32;
        }
        let rev_level = le32(b, 76) as u32;
        let (inode_size, first_ino) = if rev_level == 0 {
            (128, 11)
        } else {
            (le16(b, 88) as u16, le32(b, 84) as u32)
        };
        if !inode_size.is_power_of_two() || inode_size < 128 || u32::from(inode_size) > block_size {
            return Err(bad(format!("s_inode_size {inode_size}")));
        }
        let desc_size = if is64 { le16(b, 254) as u16 } else { 32 };
        if is64 && !(32..=1024).contains(&desc_size) || !desc_size.is_power_of_two() {
            return Err(bad(format!("s_desc_size {desc_size}")));
        }
        let blocks_per_group = le32(b, 32) as u32;
        let inodes_per_group = le32(b, 40) as u32;
        // With bigalloc a group's bitmap bit stands for a cluster of 2^n blocks.
        let cluster_ratio = if ro_compat & RO_COMPAT_BIGALLOC != 0 {
            let log_cluster = le32(b, 0x1c);
            if log_cluster < log_block || log_cluster - log_block > 16 {
                return Err(bad(format!("s_log_cluster_size {log_cluster}")));
            }
            1u64 << (log_cluster - log_block)
        } else {
            1
        };
        if blocks_per_group == 0
            || u64::from(blocks_per_group) > u64::from(block_size) * 8 * cluster_ratio
        {
            return Err(bad(format!("s_blocks_per_group {blocks_per_group}")));
        }
        if inodes_per_group == 0 || inodes_per_group > block_size * 8 {
            return Err(bad(format!("s_inodes_per_group {inodes_per_group}")));
        }
        let first_data_block = le32(b, 20) as u32;
        if u64::from(first_data_block) >= blocks_count {
            return Err(bad(format!("s_first_data_block {first_data_block}")));
        }
        if blocks_count
            .checked_mul(u64::from(block_size))
            .is_none_or(|bytes| bytes > dev_size)
        {
            return Err(bad(format!(
                "s_blocks_count {blocks_count} of {block_size} bytes is larger than the device ({dev_size} bytes)"
            )));
        }
        let group_count =
            (blocks_count - u64::from(first_data_block)).div_ceil(u64::from(blocks_per_group));
        let inodes_count = le32(b, 0) as u32;
        if group_count == 0
            || group_count > u64::from(u32::MAX)
            || u64::from(inodes_count) != group_count * u64::from(inodes_per_group)
        {
            return Err(bad(format!(
                "s_inodes_count {inodes_count} disagrees with {group_count} groups of {inodes_per_group} inodes"
            )));
        }
        let mut uuid = [0u8; 16];
        uuid.copy_from_slice(&b[104..120]);
        let end = b[120..136].iter().position(|&c| c == 0).unwrap_or(16);
        let volume_name = String::from_utf8_lossy(&b[120..120 + end]).into_owned();
        let csum_seed = if incompat & INCOMPAT_CSUM_SEED != 0 {
            le32(b, 0x270) as u32
        } else {
            crc32c_raw(!0, &uuid)
        };
        if ro_compat & RO_COMPAT_METADATA_CSUM != 0 {
            let want = le32(b, 1020) as u32;
            let got = crc32c_raw(!0, &b[..1020]);
            if want != got {
                return Err(bad(format!(
                    "checksum 0x{want:08x} does not match the contents (0x{got:08x})"
                )));
            }
        }
        Ok(Superblock {
            inodes_count,
            blocks_count,
            free_blocks,
            free_inodes: le32(b, 16) as u32,
            first_data_block,
            block_size,
            blocks_per_group,
            inodes_per_group,
            inode_size,
            first_ino,
            rev_level,
            compat: le32(b, 92) as u32,
            incompat,
            ro_compat,
            uuid,
            volume_name,
            desc_size,
            first_meta_bg: le32(b, 260) as u32,
            reserved_gdt_blocks: le16(b, 206) as u16,
            csum_seed,
            group_count: group_count as u32,
            cluster_ratio,
            raw,
        })
    }

    /// Does group `g` hold a superblock backup (sparse_super: 0, 1, powers of 3, 5, 7;
    /// sparse_super2: 0 and the two groups the superblock names)?
    pub fn group_has_super(&self, g: u32) -> bool {
        if g == 0 {
            return true;
        }
        if self.compat & COMPAT_SPARSE_SUPER2 != 0 {
            return g == le32(&self.raw, 0x24c) as u32 || g == le32(&self.raw, 0x250) as u32;
        }
        if g <= 1 || self.ro_compat & RO_COMPAT_SPARSE_SUPER == 0 {
            return true;
        }
        [3u32, 5, 7].iter().any(|&base| {
            let mut p = base;
            while p < g {
                p = match p.checked_mul(base) {
                    Some(n) => n,
                    None => return false,
                };
            }
            p == g
        })
    }

    /// The UUID as 8-4-4-4-12 lower-case hex.
    pub fn uuid_string(&self) -> String {
        crate::bytes::uuid_string(&self.uuid)
    }
}

/// Recompute the checksum of a raw 1024-byte superblock (metadata_csum: crc32c of the
/// first 1020 bytes, stored in the last four).
pub fn update_checksum(raw: &mut [u8]) {
    if le32(raw, 0x64) as u32 & RO_COMPAT_METADATA_CSUM != 0 {
        let sum = crc32c_raw(!0, &raw[..0x3fc]);
        raw[0x3fc..0x400].copy_from_slice(&sum.to_le_bytes());
    }
}
