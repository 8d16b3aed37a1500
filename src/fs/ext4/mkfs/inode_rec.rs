//! New inode records (Documentation/filesystems/ext4/inodes.rst) as mke2fs writes them:
//! the reserved inodes, the root and lost+found directories, the resize and journal
//! inodes; with the crc32c of metadata_csum.

use crate::bytes::{put16, put32};

/// An inode record being filled in.
#[derive(Debug, Clone)]
pub struct InodeRec {
    /// Inode number.
    pub ino: u32,
    /// The record (`s_inode_size` bytes).
    pub raw: Vec<u8>,
}

/// ext4's EXTENTS_FL.
pub const FLAG_EXTENTS: u32 = 0x80000;

impl InodeRec {
    /// An all-zero record.
    pub fn zeroed(ino: u32, inode_size: u16) -> InodeRec {
        InodeRec {
            ino,
            raw: vec![0; usize::from(inode_size)],
        }
    }

    /// A record as ext2fs_write_new_inode leaves it: mode, one link, all times `now`,
    /// `i_extra_isize` 32 in large inodes (with the creation time).
    pub fn new(ino: u32, inode_size: u16, mode: u16, now: u32) -> InodeRec {
        let mut r = InodeRec::zeroed(ino, inode_size);
        put16(&mut r.raw, 0x00, mode);
        put16(&mut r.raw, 0x1a, 1);
        r.set_times(now);
        if inode_size > 128 {
            put16(&mut r.raw, 0x80, 32);
            put32(&mut r.raw, 0x90, now);
        }
        r
    }

    /// atime, ctime and mtime.
    pub fn set_times(&mut self, now: u32) {
        for at in [0x08, 0x0c, 0x10] {
            put32(&mut self.raw, at, now);
        }
    }

    /// i_size (both halves).
    pub fn set_size(&mut self, size: u64) {
        put32(&mut self.raw, 0x04, size as u32);
        put32(&mut self.raw, 0x6c, (size >> 32) as u32);
    }

    /// i_links_count.
    pub fn set_links(&mut self, n: u16) {
        put16(&mut self.raw, 0x1a, n);
    }

    /// i_blocks in 512-byte sectors.
    pub fn set_sectors(&mut self, n: u64) {
        put32(&mut self.raw, 0x1c, n as u32);
        put16(&mut self.raw, 0x74, (n >> 32) as u16);
    }

    /// i_flags.
    pub fn set_flags(&mut self, f: u32) {
        put32(&mut self.raw, 0x20, f);
    }

    /// The 60 bytes of i_block.
    pub fn i_block(&mut self) -> &mut [u8] {
        &mut self.raw[0x28..0x64]
    }

    /// Store the crc32c (lower 16 bits, and the upper ones when the extra fields hold
    /// them) computed with the filesystem's checksum seed.
    pub fn seal(&mut self, csum_seed: Option<u32>) {
        if let Some(seed) = csum_seed {
            crate::fs::ext4::checksum::seal_inode(&mut self.raw, seed, self.ino);
        }
    }
}

/// An extent tree root in i_block holding up to four leaf extents `(logical, len, start)`.
pub fn extent_root(i_block: &mut [u8], extents: &[(u32, u16, u64)]) {
    put16(i_block, 0, 0xf30a);
    put16(i_block, 2, extents.len() as u16);
    put16(i_block, 4, 4);
    put16(i_block, 6, 0);
    for (i, &(lblk, len, start)) in extents.iter().enumerate() {
        let at = 12 + 12 * i;
        put32(i_block, at, lblk);
        put16(i_block, at + 4, len);
        put16(i_block, at + 6, (start >> 32) as u16);
        put32(i_block, at + 8, start as u32);
    }
}
