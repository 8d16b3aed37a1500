//! The inode record (Documentation/filesystems/ext4/inodes.rst): 128 bytes plus
//! `i_extra_isize` bytes of extra fields (nanosecond and pre-1970/post-2038 times, creation
//! time, checksum high half), then in-inode extended attributes up to `s_inode_size`.

use crate::bytes::{le16, le32};
use crate::fs::{FsError, FsResult, Timespec};

use super::checksum::crc32c_raw;

/// Inode flag: the file uses extents.
pub const FLAG_EXTENTS: u32 = 0x0008_0000;
/// Inode flag: hashed-index directory.
pub const FLAG_INDEX: u32 = 0x0000_1000;
/// Inode flag: i_blocks counts filesystem blocks, not sectors (huge_file).
pub const FLAG_HUGE_FILE: u32 = 0x0004_0000;
/// Inode flag: data stored in the inode (inline_data).
pub const FLAG_INLINE_DATA: u32 = 0x1000_0000;
/// Inode flag: encrypted.
pub const FLAG_ENCRYPT: u32 = 0x0000_0800;
/// Inode flag: casefolded directory.
pub const FLAG_CASEFOLD: u32 = 0x4000_0000;
/// Inode flag: the inode holds a large extended attribute value (ea_inode).
pub const FLAG_EA_INODE: u32 = 0x0020_0000;

/// ro_compat: huge_file.
const RO_COMPAT_HUGE_FILE: u32 = 0x8;

/// A parsed inode.
#[derive(Debug, Clone)]
pub struct Inode {
    /// Its number.
    pub ino: u32,
    /// Type and permissions.
    pub mode: u16,
    /// Owner (with the high 16 bits).
    pub uid: u32,
    /// Group (with the high 16 bits).
    pub gid: u32,
    /// Size in bytes.
    pub size: u64,
    /// Access time.
    pub atime: Timespec,
    /// Change time.
    pub ctime: Timespec,
    /// Modification time.
    pub mtime: Timespec,
    /// Creation time, when the inode has room for it.
    pub crtime: Option<Timespec>,
    /// Deletion time (non-zero: the inode is free).
    pub dtime: u32,
    /// Hard links.
    pub links: u16,
    /// Allocated 512-byte units.
    pub blocks_512: u64,
    /// Inode flags.
    pub flags: u32,
    /// `i_block`: block map, extent tree root, inline data or a fast symlink.
    pub block: [u8; 60],
    /// File version for NFS (used in checksums).
    pub generation: u32,
    /// The extended attribute block, or 0.
    pub file_acl: u64,
    /// The bytes after the extra fields: in-inode extended attributes.
    pub xattr_area: Vec<u8>,
    /// The seed of this inode's metadata checksums (extent, directory, xattr blocks).
    pub csum_seed: u32,
}

/// The geometry an inode is parsed with.
pub struct InodeContext {
    /// `s_inode_size`.
    pub inode_size: usize,
    /// Filesystem block size.
    pub block_size: u32,
    /// metadata_csum is on.
    pub metadata_csum: bool,
    /// The filesystem's checksum seed.
    pub fs_seed: u32,
    /// ro_compat flags.
    pub ro_compat: u32,
}

fn time(raw: u64, extra: Option<u64>) -> Timespec {
    let base = i64::from(raw as u32 as i32);
    match extra {
        None => Timespec { sec: base, nsec: 0 },
        Some(e) => {
            let epoch = (e & 3) as i64;
            let nsec = (e >> 2) as u32;
            Timespec {
                sec: base + (epoch << 32),
                nsec: nsec.min(999_999_999),
            }
        }
    }
}

impl Inode {
    /// Parse inode `ino` from its `ctx.inode_size` bytes, verifying its checksum.
    pub fn parse(ino: u32, raw: &[u8], ctx: &InodeContext) -> FsResult<Inode> {
        let b = raw;
        let bad = |d: String| FsError::corrupt("ext4 inode", format!("inode {ino}: {d}"));
        let extra_isize = if ctx.inode_size > 128 {
            le16(b, 0x80) as usize
        } else {
            0
        };
        if ctx.inode_size > 128 && (128 + extra_isize > ctx.inode_size || extra_isize % 4 != 0) {
            return Err(bad(format!("i_extra_isize {extra_isize}")));
        }
        let has = |off: usize| 128 + extra_isize >= off + 4;
        let generation = le32(b, 0x64) as u32;
        let csum_seed = {
            let s = crc32c_raw(ctx.fs_seed, &ino.to_le_bytes());
            crc32c_raw(s, &generation.to_le_bytes())
        };
        if ctx.metadata_csum && raw.iter().any(|&x| x != 0) {
            let hi = ctx.inode_size > 128 && has(0x82);
            let mut copy = raw.to_vec();
            copy[0x7c] = 0;
            copy[0x7d] = 0;
            if hi {
                copy[0x82] = 0;
                copy[0x83] = 0;
            }
            let got = crc32c_raw(csum_seed, &copy);
            let mut stored = le16(b, 0x7c) as u32;
            let got = if hi {
                stored |= (le16(b, 0x82) as u32) << 16;
                got
            } else {
                got & 0xffff
            };
            if stored != got {
                return Err(bad(format!(
                    "checksum 0x{stored:08x} does not match the contents (0x{got:08x})"
                )));
            }
        }
        let flags = le32(b, 0x20) as u32;
        let mut blocks_512 = le32(b, 0x1c);
        if ctx.ro_compat & RO_COMPAT_HUGE_FILE != 0 {
            blocks_512 |= le16(b, 0x74) << 32;
            if flags & FLAG_HUGE_FILE != 0 {
                blocks_512 = blocks_512.saturating_mul(u64::from(ctx.block_size / 512));
            }
        }
        let mut block = [0u8; 60];
        block.copy_from_slice(&b[0x28..0x64]);
        let extra = |off: usize| has(off).then(|| le32(b, off));
        Ok(Inode {
            ino,
            mode: le16(b, 0) as u16,
            uid: le16(b, 2) as u32 | (le16(b, 0x78) as u32) << 16,
            gid: le16(b, 0x18) as u32 | (le16(b, 0x7a) as u32) << 16,
            size: le32(b, 4) | le32(b, 0x6c) << 32,
            atime: time(le32(b, 0x8), extra(0x8c)),
            ctime: time(le32(b, 0xc), extra(0x84)),
            mtime: time(le32(b, 0x10), extra(0x88)),
            crtime: has(0x90).then(|| time(le32(b, 0x90), extra(0x94))),
            dtime: le32(b, 0x14) as u32,
            links: le16(b, 0x1a) as u16,
            blocks_512,
            flags,
            block,
            generation,
            file_acl: le32(b, 0x68) | le16(b, 0x76) << 32,
            xattr_area: raw[(128 + extra_isize).min(raw.len())..].to_vec(),
            csum_seed,
        })
    }

    /// The file type bits.
    pub fn kind(&self) -> crate::fs::FileType {
        crate::fs::FileType::from_mode(u32::from(self.mode))
    }

    /// Device number of a character or block device: (major, minor), from either the old
    /// 16-bit or the new 32-bit encoding in `i_block`.
    pub fn rdev(&self) -> (u32, u32) {
        let old = le32(&self.block, 0) as u32;
        if old != 0 {
            return ((old >> 8) & 0xff, old & 0xff);
        }
        let new = le32(&self.block, 4) as u32;
        ((new & 0xfff00) >> 8, (new & 0xff) | ((new >> 12) & 0xfff00))
    }
}
