//! Block group descriptors (Documentation/filesystems/ext4/group_descr.rst): 32 bytes, or
//! `s_desc_size` with 64bit; after the superblock's block, or spread over meta groups with
//! meta_bg. Checked with crc32c (metadata_csum) or crc16 (gdt_csum), and every location
//! checked against the filesystem's size.

use crate::block::{BlockDev, BlockError, Result};
use crate::bytes::{le16, le32};

use super::checksum::{crc16, crc32c_raw};
use super::superblock::{
    INCOMPAT_64BIT, INCOMPAT_META_BG, RO_COMPAT_GDT_CSUM, RO_COMPAT_METADATA_CSUM, Superblock,
};

/// One group's descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupDesc {
    /// Block bitmap location.
    pub block_bitmap: u64,
    /// Inode bitmap location.
    pub inode_bitmap: u64,
    /// First block of the inode table.
    pub inode_table: u64,
    /// Free blocks in the group.
    pub free_blocks: u32,
    /// Free inodes in the group.
    pub free_inodes: u32,
    /// Directories in the group.
    pub used_dirs: u32,
    /// INODE_UNINIT (1), BLOCK_UNINIT (2), INODE_ZEROED (4).
    pub flags: u16,
    /// Unused inodes at the end of the inode table.
    pub itable_unused: u32,
    /// The stored checksum.
    pub checksum: u16,
}

fn bad(detail: String) -> BlockError {
    BlockError::corrupt("ext4 group descriptor", detail)
}

/// Byte offset of group `g`'s descriptor.
pub fn location(sb: &Superblock, g: u32) -> u64 {
    let bs = u64::from(sb.block_size);
    let per_block = u64::from(sb.block_size / u32::from(sb.desc_size));
    let g64 = u64::from(g);
    let meta_group = g64 / per_block;
    if sb.incompat & INCOMPAT_META_BG != 0 && meta_group >= u64::from(sb.first_meta_bg) {
        // The first group of each meta group holds its descriptors (after a superblock
        // backup when that group has one).
        let first = meta_group * per_block;
        let base = u64::from(sb.first_data_block) + first * u64::from(sb.blocks_per_group);
        let skip = u64::from(sb.group_has_super(first as u32));
        return (base + skip) * bs + (g64 % per_block) * u64::from(sb.desc_size);
    }
    (u64::from(sb.first_data_block) + 1) * bs + g64 * u64::from(sb.desc_size)
}

/// Read and check every group descriptor.
pub fn read_all(dev: &dyn BlockDev, sb: &Superblock) -> Result<Vec<GroupDesc>> {
    let size = usize::from(sb.desc_size);
    let mut out = Vec::with_capacity(sb.group_count.min(1 << 16) as usize);
    let mut raw = vec![0u8; size];
    let fs_bytes = sb.blocks_count * u64::from(sb.block_size);
    for g in 0..sb.group_count {
        let at = location(sb, g);
        if at + size as u64 > fs_bytes {
            return Err(bad(format!(
                "descriptor of group {g} lies past the end of the filesystem"
            )));
        }
        dev.read_at(&mut raw, at)?;
        let d = parse(sb, &raw);
        verify(sb, g, &raw, d.checksum)?;
        for (what, block) in [
            ("block bitmap", d.block_bitmap),
            ("inode bitmap", d.inode_bitmap),
            ("inode table", d.inode_table),
        ] {
            if block >= sb.blocks_count || block < u64::from(sb.first_data_block) {
                return Err(bad(format!(
                    "group {g}: {what} at block {block} is outside the filesystem"
                )));
            }
        }
        out.push(d);
    }
    Ok(out)
}

fn parse(sb: &Superblock, b: &[u8]) -> GroupDesc {
    let wide = sb.incompat & INCOMPAT_64BIT != 0 && b.len() >= 64;
    let hi32 = |at: usize| if wide { le32(b, at) << 32 } else { 0 };
    let hi16 = |at: usize| if wide { (le16(b, at) << 16) as u32 } else { 0 };
    GroupDesc {
        block_bitmap: le32(b, 0) | hi32(32),
        inode_bitmap: le32(b, 4) | hi32(36),
        inode_table: le32(b, 8) | hi32(40),
        free_blocks: le16(b, 12) as u32 | hi16(44),
        free_inodes: le16(b, 14) as u32 | hi16(46),
        used_dirs: le16(b, 16) as u32 | hi16(48),
        flags: le16(b, 18) as u16,
        itable_unused: le16(b, 28) as u32 | hi16(50),
        checksum: le16(b, 30) as u16,
    }
}

fn verify(sb: &Superblock, g: u32, raw: &[u8], stored: u16) -> Result<()> {
    if sb.ro_compat & (RO_COMPAT_METADATA_CSUM | RO_COMPAT_GDT_CSUM) == 0 {
        return Ok(());
    }
    let want = checksum(sb, g, raw);
    if want != stored {
        return Err(bad(format!(
            "group {g}: checksum 0x{stored:04x} does not match the contents (0x{want:04x})"
        )));
    }
    Ok(())
}

/// Write `d` into the raw descriptor `raw` of group `g` and recompute its checksum.
pub fn encode(sb: &Superblock, g: u32, raw: &mut [u8], d: &GroupDesc) {
    let wide = sb.incompat & INCOMPAT_64BIT != 0 && raw.len() >= 64;
    let put16 = |raw: &mut [u8], at: usize, v: u32| {
        raw[at..at + 2].copy_from_slice(&(v as u16).to_le_bytes())
    };
    let put32 = |raw: &mut [u8], at: usize, v: u64| {
        raw[at..at + 4].copy_from_slice(&(v as u32).to_le_bytes())
    };
    put32(raw, 0, d.block_bitmap);
    put32(raw, 4, d.inode_bitmap);
    put32(raw, 8, d.inode_table);
    put16(raw, 12, d.free_blocks);
    put16(raw, 14, d.free_inodes);
    put16(raw, 16, d.used_dirs);
    put16(raw, 18, u32::from(d.flags));
    put16(raw, 28, d.itable_unused);
    if wide {
        put32(raw, 32, d.block_bitmap >> 32);
        put32(raw, 36, d.inode_bitmap >> 32);
        put32(raw, 40, d.inode_table >> 32);
        put16(raw, 44, d.free_blocks >> 16);
        put16(raw, 46, d.free_inodes >> 16);
        put16(raw, 48, d.used_dirs >> 16);
        put16(raw, 50, d.itable_unused >> 16);
    }
    let sum = checksum(sb, g, raw);
    raw[30..32].copy_from_slice(&sum.to_le_bytes());
}

/// The checksum a raw descriptor should carry (0 without gdt_csum/metadata_csum).
pub fn checksum(sb: &Superblock, g: u32, raw: &[u8]) -> u16 {
    let mut copy = raw.to_vec();
    copy[30] = 0;
    copy[31] = 0;
    if sb.ro_compat & RO_COMPAT_METADATA_CSUM != 0 {
        let c = crc32c_raw(sb.csum_seed, &g.to_le_bytes());
        (crc32c_raw(c, &copy) & 0xffff) as u16
    } else if sb.ro_compat & RO_COMPAT_GDT_CSUM != 0 {
        crc16(&[&sb.uuid, &g.to_le_bytes(), &copy[..30], &copy[32..]])
    } else {
        0
    }
}
