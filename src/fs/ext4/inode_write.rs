//! Writing inode records: the raw bytes are read from the inode table (through the
//! transaction), edited field by field — so fields rfish does not interpret (project id,
//! version, OS-dependent bytes) survive — and written back with their checksum. New
//! inodes get the record the kernel would make: extra fields (`s_want_extra_isize`),
//! nanosecond times with creation time, a fresh generation, an empty extent tree.

use crate::bytes::{le16, le32};
use crate::bytes::{put16, put32};
use crate::fs::{FsError, FsResult, Timespec};

use super::fs::Ext4;
use super::inode::{FLAG_EXTENTS, FLAG_HUGE_FILE};

/// An inode record being edited.
#[derive(Debug, Clone)]
pub struct RawInode {
    /// Inode number.
    pub ino: u32,
    /// The `s_inode_size` bytes.
    pub raw: Vec<u8>,
}

/// The 32-bit seconds and the extra word (epoch bits and nanoseconds) of a time.
fn encode_time(t: Timespec) -> (u32, u32) {
    let epoch = ((t.sec - i64::from(t.sec as i32)) >> 32) as u32 & 3;
    (t.sec as i32 as u32, (t.nsec << 2) | epoch)
}

impl RawInode {
    fn extra_isize(&self) -> usize {
        if self.raw.len() > 128 {
            le16(&self.raw, 0x80) as usize
        } else {
            0
        }
    }

    fn has(&self, off: usize) -> bool {
        128 + self.extra_isize() >= off + 4
    }

    /// Mode (type and permissions).
    pub fn mode(&self) -> u16 {
        le16(&self.raw, 0) as u16
    }

    /// Set the mode.
    pub fn set_mode(&mut self, mode: u16) {
        put16(&mut self.raw, 0, mode);
    }

    /// Set owner and group.
    pub fn set_owner(&mut self, uid: u32, gid: u32) {
        put16(&mut self.raw, 2, uid as u16);
        put16(&mut self.raw, 0x78, (uid >> 16) as u16);
        put16(&mut self.raw, 0x18, gid as u16);
        put16(&mut self.raw, 0x7a, (gid >> 16) as u16);
    }

    /// Size in bytes.
    pub fn size(&self) -> u64 {
        le32(&self.raw, 4) | le32(&self.raw, 0x6c) << 32
    }

    /// Set the size.
    pub fn set_size(&mut self, size: u64) {
        put32(&mut self.raw, 4, size as u32);
        put32(&mut self.raw, 0x6c, (size >> 32) as u32);
    }

    /// Link count.
    pub fn links(&self) -> u16 {
        le16(&self.raw, 0x1a) as u16
    }

    /// Set the link count.
    pub fn set_links(&mut self, n: u16) {
        put16(&mut self.raw, 0x1a, n);
    }

    /// Inode flags.
    pub fn flags(&self) -> u32 {
        le32(&self.raw, 0x20) as u32
    }

    /// Set the inode flags.
    pub fn set_flags(&mut self, f: u32) {
        put32(&mut self.raw, 0x20, f);
    }

    /// `i_block` (60 bytes).
    pub fn block(&self) -> &[u8] {
        &self.raw[0x28..0x64]
    }

    /// Mutable `i_block`.
    pub fn block_mut(&mut self) -> &mut [u8] {
        &mut self.raw[0x28..0x64]
    }

    /// The extended attribute block.
    pub fn file_acl(&self) -> u64 {
        le32(&self.raw, 0x68) | le16(&self.raw, 0x76) << 32
    }

    /// Set the extended attribute block.
    pub fn set_file_acl(&mut self, b: u64) {
        put32(&mut self.raw, 0x68, b as u32);
        put16(&mut self.raw, 0x76, (b >> 32) as u16);
    }

    /// Set i_blocks from a count of 512-byte units (huge_file encodings as needed).
    pub fn set_blocks_512(&mut self, n: u64, huge_file: bool, block_size: u32) {
        let mut flags = self.flags() & !FLAG_HUGE_FILE;
        let value = if n < 1 << 48 || !huge_file {
            n
        } else {
            flags |= FLAG_HUGE_FILE;
            n / u64::from(block_size / 512)
        };
        put32(&mut self.raw, 0x1c, value as u32);
        if huge_file {
            put16(&mut self.raw, 0x74, (value >> 32) as u16);
        }
        self.set_flags(flags);
    }

    /// i_blocks in 512-byte units.
    pub fn blocks_512(&self, huge_file: bool, block_size: u32) -> u64 {
        let mut n = le32(&self.raw, 0x1c);
        if huge_file {
            n |= le16(&self.raw, 0x74) << 32;
            if self.flags() & FLAG_HUGE_FILE != 0 {
                n *= u64::from(block_size / 512);
            }
        }
        n
    }

    /// Set the access time.
    pub fn set_atime(&mut self, t: Timespec) {
        self.set_time(0x8, 0x8c, t);
    }

    /// Set the change time.
    pub fn set_ctime(&mut self, t: Timespec) {
        self.set_time(0xc, 0x84, t);
    }

    /// Set the modification time.
    pub fn set_mtime(&mut self, t: Timespec) {
        self.set_time(0x10, 0x88, t);
    }

    /// Set the creation time (only where the record has room).
    pub fn set_crtime(&mut self, t: Timespec) {
        if self.has(0x90) {
            self.set_time(0x90, 0x94, t);
        }
    }

    fn set_time(&mut self, base: usize, extra: usize, t: Timespec) {
        let (sec, ex) = encode_time(t);
        put32(&mut self.raw, base, sec);
        if self.has(extra) {
            put32(&mut self.raw, extra, ex);
        }
    }

    /// Set the deletion time.
    pub fn set_dtime(&mut self, t: u32) {
        put32(&mut self.raw, 0x14, t);
    }

    /// Set i_generation.
    pub fn set_generation(&mut self, g: u32) {
        put32(&mut self.raw, 0x64, g);
    }

    /// The generation number.
    pub fn generation(&self) -> u32 {
        le32(&self.raw, 0x64) as u32
    }
}

impl Ext4 {
    fn inode_offset(&self, ino: u32) -> FsResult<u64> {
        if ino == 0 || ino > self.sb.inodes_count {
            return Err(FsError::corrupt(
                "ext4 inode",
                format!("inode number {ino} is outside 1..={}", self.sb.inodes_count),
            ));
        }
        let ipg = self.sb.inodes_per_group;
        let d = self.group((ino - 1) / ipg);
        Ok(d.inode_table * u64::from(self.sb.block_size)
            + u64::from((ino - 1) % ipg) * u64::from(self.sb.inode_size))
    }

    /// Read inode `ino`'s record for editing.
    pub(super) fn read_raw_inode(&self, ino: u32) -> FsResult<RawInode> {
        let mut raw = vec![0u8; usize::from(self.sb.inode_size)];
        self.device().read_at(&mut raw, self.inode_offset(ino)?)?;
        Ok(RawInode { ino, raw })
    }

    /// Write an edited record back (with its checksum) and forget what was cached about it.
    pub(super) fn write_raw_inode(&self, inode: &mut RawInode) -> FsResult<()> {
        if self.metadata_csum() {
            super::checksum::seal_inode(&mut inode.raw, self.sb.csum_seed, inode.ino);
        }
        self.device()
            .write_at(&inode.raw, self.inode_offset(inode.ino)?)?;
        self.invalidate(inode.ino);
        Ok(())
    }

    /// A fresh record for a newly allocated inode: mode, owner, all times `now`, one
    /// link, an empty extent tree when the filesystem uses extents.
    pub(super) fn new_raw_inode(
        &self,
        ino: u32,
        mode: u16,
        uid: u32,
        gid: u32,
        now: Timespec,
    ) -> RawInode {
        let isize = usize::from(self.sb.inode_size);
        let mut inode = RawInode {
            ino,
            raw: vec![0u8; isize],
        };
        if isize > 128 {
            let want = le16(&self.sb.raw, 0x15c) as usize;
            let extra = if want >= 32 && 128 + want <= isize {
                want
            } else {
                32.min(isize - 128)
            };
            put16(&mut inode.raw, 0x80, extra as u16);
        }
        inode.set_mode(mode);
        inode.set_owner(uid, gid);
        inode.set_links(1);
        inode.set_atime(now);
        inode.set_ctime(now);
        inode.set_mtime(now);
        inode.set_crtime(now);
        put32(&mut inode.raw, 0x64, rand_u32());
        if self.uses_extents() && !is_device_like(mode) {
            inode.set_flags(FLAG_EXTENTS);
            super::extent_write::init_root(inode.block_mut());
        }
        inode
    }

    /// The filesystem maps new files with extents.
    pub(super) fn uses_extents(&self) -> bool {
        self.sb.incompat & super::superblock::INCOMPAT_EXTENTS != 0
    }
}

/// Device nodes, FIFOs and sockets keep `i_block` for the device number (or nothing).
fn is_device_like(mode: u16) -> bool {
    matches!(mode & 0o170000, 0o020000 | 0o060000 | 0o010000 | 0o140000)
}

/// A random 32-bit number (inode generations).
fn rand_u32() -> u32 {
    let b = uuid::Uuid::new_v4();
    let v = b.as_bytes();
    u32::from_le_bytes([v[0], v[1], v[2], v[3]])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_encode_epoch_bits_and_nanoseconds() {
        assert_eq!(encode_time(Timespec { sec: 0, nsec: 5 }), (0, 20));
        assert_eq!(encode_time(Timespec { sec: -1, nsec: 0 }), (u32::MAX, 0));
        // 2040: past 2038, epoch bit 1.
        let t = Timespec {
            sec: 2_208_988_800,
            nsec: 1,
        };
        let (sec, extra) = encode_time(t);
        assert_eq!(extra & 3, 1);
        assert_eq!(i64::from(sec as i32) + (1 << 32), t.sec);
    }
}
