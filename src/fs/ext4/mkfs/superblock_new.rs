//! The superblock of a new filesystem (Documentation/filesystems/ext4/super.rst), filled
//! in field by field as mke2fs does for Debian's defaults: clean, errors=continue, no
//! periodic check, default mount options user_xattr and acl, half_md4 directory hashes
//! with a signed-char hash flag, the journal inode's block map backed up.

use super::geometry::Geometry;
use super::params::{
    COMPAT_HAS_JOURNAL, INCOMPAT_64BIT, INCOMPAT_CSUM_SEED, RO_COMPAT_METADATA_CSUM,
};
use crate::bytes::{put16, put32};
use crate::fs::ext4::checksum::crc32c_raw;

/// What the superblock records beyond the geometry.
#[derive(Debug, Clone)]
pub struct SuperInfo {
    /// Filesystem UUID.
    pub uuid: [u8; 16],
    /// Directory hash seed.
    pub hash_seed: [u8; 16],
    /// Volume label (at most 16 bytes).
    pub label: Vec<u8>,
    /// Last mounted directory.
    pub last_mounted: Vec<u8>,
    /// Creation time.
    pub now: u32,
    /// Free blocks.
    pub free_blocks: u64,
    /// Free inodes.
    pub free_inodes: u32,
    /// The journal inode's i_block and size (when there is a journal).
    pub journal_backup: Option<([u8; 60], u64)>,
    /// Metadata blocks (for s_overhead_clusters; 0 leaves it unset).
    pub overhead: u64,
    /// Kilobytes written while making the filesystem.
    pub kbytes_written: u64,
}

/// The 1024 superblock bytes of group `group` (0 for the primary copy).
pub fn encode(geo: &Geometry, info: &SuperInfo, group: u32) -> Vec<u8> {
    let f = &geo.features;
    let mut b = vec![0u8; 1024];
    put32(&mut b, 0x00, geo.inodes);
    put32(&mut b, 0x04, geo.blocks as u32);
    put32(&mut b, 0x08, geo.reserved_blocks as u32);
    put32(&mut b, 0x0c, info.free_blocks as u32);
    put32(&mut b, 0x10, info.free_inodes);
    put32(&mut b, 0x14, geo.first_data_block);
    let log = geo.block_size.trailing_zeros() - 10;
    put32(&mut b, 0x18, log);
    put32(&mut b, 0x1c, log);
    put32(&mut b, 0x20, geo.blocks_per_group);
    put32(&mut b, 0x24, geo.blocks_per_group);
    put32(&mut b, 0x28, geo.inodes_per_group);
    put32(&mut b, 0x30, info.now);
    put16(&mut b, 0x36, 0xffff);
    put16(&mut b, 0x38, 0xef53);
    // Backups are written as libext2fs flushes them: state "not clean".
    put16(&mut b, 0x3a, u16::from(group == 0));
    put16(&mut b, 0x3c, 1);
    put32(&mut b, 0x40, info.now);
    put32(&mut b, 0x4c, 1);
    put32(&mut b, 0x54, 11);
    put16(&mut b, 0x58, geo.inode_size);
    put16(&mut b, 0x5a, group as u16);
    put32(&mut b, 0x5c, f.compat);
    put32(&mut b, 0x60, f.incompat);
    put32(&mut b, 0x64, f.ro_compat);
    b[0x68..0x78].copy_from_slice(&info.uuid);
    let label = &info.label[..info.label.len().min(16)];
    b[0x78..0x78 + label.len()].copy_from_slice(label);
    let lm = &info.last_mounted[..info.last_mounted.len().min(63)];
    b[0x88..0x88 + lm.len()].copy_from_slice(lm);
    put16(&mut b, 0xce, geo.reserved_gdt as u16);
    if f.compat(COMPAT_HAS_JOURNAL) {
        put32(&mut b, 0xe0, 8);
    }
    b[0xec..0xfc].copy_from_slice(&info.hash_seed);
    b[0xfc] = 1; // half_md4
    if f.incompat(INCOMPAT_64BIT) {
        put16(&mut b, 0xfe, geo.desc_size);
    }
    put32(&mut b, 0x100, 0x000c); // user_xattr, acl
    put32(&mut b, 0x108, info.now);
    if let Some((i_block, size)) = &info.journal_backup {
        b[0xfd] = 1; // EXT3_JNL_BACKUP_BLOCKS
        b[0x10c..0x148].copy_from_slice(i_block);
        put32(&mut b, 0x148, (size >> 32) as u32);
        put32(&mut b, 0x14c, *size as u32);
    }
    if f.incompat(INCOMPAT_64BIT) {
        put32(&mut b, 0x150, (geo.blocks >> 32) as u32);
        put32(&mut b, 0x154, (geo.reserved_blocks >> 32) as u32);
        put32(&mut b, 0x158, (info.free_blocks >> 32) as u32);
    }
    if geo.inode_size > 128 {
        put16(&mut b, 0x15c, 32);
        put16(&mut b, 0x15e, 32);
    }
    put32(&mut b, 0x160, 0x1); // signed directory hash (x86's char)
    b[0x174] = geo.log_groups_per_flex;
    if f.ro_compat(RO_COMPAT_METADATA_CSUM) {
        b[0x175] = 1; // crc32c
    }
    b[0x178..0x180].copy_from_slice(&info.kbytes_written.to_le_bytes());
    put32(&mut b, 0x248, info.overhead as u32);
    if f.incompat(INCOMPAT_CSUM_SEED) {
        put32(&mut b, 0x270, crc32c_raw(!0, &info.uuid));
    }
    crate::fs::ext4::superblock::update_checksum(&mut b);
    b
}
