//! The files mke2fs creates: the root directory, lost+found (grown to 16 KiB, at least
//! two blocks), the resize inode (a double-indirect map of the reserved GDT blocks and
//! their backups) and the journal (extents from the middle of the filesystem, or a
//! classic block map from the start for ext3), each placed first-fit as libext2fs does.

use super::MkfsError;
use super::inode_rec::{FLAG_EXTENTS, InodeRec, extent_root};
use super::tables::Allocator;
use crate::bytes::{put16, put32};
use crate::fs::ext4::checksum::crc32c_raw;

/// Metadata blocks to write: (block number, contents).
pub type Blocks = Vec<(u64, Vec<u8>)>;

/// What the filesystem's checksums need.
#[derive(Debug, Clone, Copy)]
pub struct Csum {
    /// The checksum seed when metadata_csum is on.
    pub seed: Option<u32>,
    /// Directory entries carry a file type.
    pub filetype: bool,
    /// Files are mapped with extents.
    pub extents: bool,
}

fn dirent(block: &mut [u8], at: usize, ino: u32, rec_len: usize, name: &[u8], ftype: u8, c: Csum) {
    put32(block, at, ino);
    put16(block, at + 4, rec_len as u16);
    block[at + 6] = name.len() as u8;
    block[at + 7] = if c.filetype { ftype } else { 0 };
    block[at + 8..at + 8 + name.len()].copy_from_slice(name);
}

/// A directory block: `entries` (ino, name) packed, the last one taking the rest, and
/// the checksum tail under metadata_csum.
fn dir_block(bs: usize, dir_ino: u32, entries: &[(u32, &[u8])], c: Csum) -> Vec<u8> {
    let mut b = vec![0u8; bs];
    let end = if c.seed.is_some() { bs - 12 } else { bs };
    let mut at = 0;
    if entries.is_empty() {
        put16(&mut b, 4, end as u16);
    }
    for (i, (ino, name)) in entries.iter().enumerate() {
        let len = if i + 1 == entries.len() {
            end - at
        } else {
            (8 + name.len()).div_ceil(4) * 4
        };
        dirent(&mut b, at, *ino, len, name, 2, c);
        at += len;
    }
    if let Some(seed) = c.seed {
        put16(&mut b, end + 4, 12);
        b[end + 7] = 0xde;
        let s = crc32c_raw(seed, &dir_ino.to_le_bytes());
        let s = crc32c_raw(s, &0u32.to_le_bytes());
        let sum = crc32c_raw(s, &b[..end]);
        put32(&mut b, end + 8, sum);
    }
    b
}

/// Map `blocks` (in logical order) into the inode: extents (merged runs) or direct
/// pointers. Only used for short directories (at most 12 blocks).
fn map_small(rec: &mut InodeRec, blocks: &[u64], c: Csum) {
    if c.extents {
        let mut runs: Vec<(u32, u16, u64)> = Vec::new();
        for (l, &p) in blocks.iter().enumerate() {
            match runs.last_mut() {
                Some(r) if r.2 + u64::from(r.1) == p => r.1 += 1,
                _ => runs.push((l as u32, 1, p)),
            }
        }
        rec.set_flags(FLAG_EXTENTS);
        extent_root(rec.i_block(), &runs);
    } else {
        for (l, &p) in blocks.iter().enumerate() {
            put32(rec.i_block(), 4 * l, p as u32);
        }
    }
}

/// The root directory (inode 2) and lost+found (inode 11): their records and blocks.
pub fn root_and_lost_found(
    alloc: &mut Allocator<'_>,
    c: Csum,
    now: u32,
) -> Result<(Vec<InodeRec>, Blocks), MkfsError> {
    let geo = alloc.geo;
    let bs = geo.block_size as usize;
    let goal = geo.group_first(0);
    let root_blk = alloc.new_block(goal)?;
    let mut root = InodeRec::new(2, geo.inode_size, 0o040755, now);
    root.set_links(3);
    root.set_size(bs as u64);
    root.set_sectors(bs as u64 / 512);
    map_small(&mut root, &[root_blk], c);
    let mut out: Blocks = vec![(
        root_blk,
        dir_block(bs, 2, &[(2, b"."), (2, b".."), (11, b"lost+found")], c),
    )];

    // mke2fs grows lost+found until it holds 16 KiB and at least two blocks.
    let mut lpf_blocks = vec![alloc.new_block(goal)?];
    let mut size = 0usize;
    for _ in 1..12 {
        size += bs;
        if size >= 16 * 1024 && size >= 2 * bs {
            break;
        }
        let prev = *lpf_blocks.last().unwrap_or(&goal);
        lpf_blocks.push(alloc.new_block(prev + 1)?);
    }
    let mut lpf = InodeRec::new(11, geo.inode_size, 0o040700, now);
    lpf.set_links(2);
    lpf.set_size((lpf_blocks.len() * bs) as u64);
    lpf.set_sectors((lpf_blocks.len() * bs / 512) as u64);
    map_small(&mut lpf, &lpf_blocks, c);
    for (i, &b) in lpf_blocks.iter().enumerate() {
        let block = if i == 0 {
            dir_block(bs, 11, &[(11, b"."), (2, b"..")], c)
        } else {
            dir_block(bs, 11, &[], c)
        };
        out.push((b, block));
    }
    Ok((vec![root, lpf], out))
}

/// The resize inode (7): its double-indirect block lists the primary reserved GDT
/// blocks, each of which lists its copies in the backup groups.
pub fn resize_inode(alloc: &mut Allocator<'_>, now: u32) -> Result<(InodeRec, Blocks), MkfsError> {
    let geo = alloc.geo;
    let bs = geo.block_size as usize;
    let apb = (bs / 4) as u64;
    let sb_blk = u64::from(geo.first_data_block);
    let goal = sb_blk
        + u64::from(geo.desc_blocks)
        + u64::from(geo.reserved_gdt)
        + 2
        + u64::from(geo.inode_table_blocks);
    let dind_blk = alloc.new_block(goal)?;
    let mut dind = vec![0u8; bs];
    let backups: Vec<u32> = (1..geo.groups).filter(|&g| geo.has_super(g)).collect();
    let mut out: Blocks = Vec::new();
    for rsv in 0..u64::from(geo.reserved_gdt) {
        let gdt_blk = sb_blk + 1 + u64::from(geo.desc_blocks) + rsv;
        let slot = ((u64::from(geo.desc_blocks) + rsv) % apb) as usize;
        put32(&mut dind, 4 * slot, gdt_blk as u32);
        let mut ind = vec![0u8; bs];
        for (i, &g) in backups.iter().enumerate().take(bs / 4) {
            let copy = gdt_blk + u64::from(g) * u64::from(geo.blocks_per_group);
            put32(&mut ind, 4 * i, copy as u32);
        }
        out.push((gdt_blk, ind));
    }
    out.push((dind_blk, dind));
    let mut rec = InodeRec::new(7, geo.inode_size, 0o100600, now);
    rec.set_size((apb * apb + apb + 12) * bs as u64);
    let blocks = 1 + u64::from(geo.reserved_gdt) * (1 + backups.len() as u64);
    rec.set_sectors(blocks * bs as u64 / 512);
    put32(rec.i_block(), 4 * 13, dind_blk as u32);
    Ok((rec, out))
}

/// get_midpoint_journal_block: the first block of the emptiest group around the middle.
fn midpoint_goal(alloc: &Allocator<'_>) -> u64 {
    let geo = alloc.geo;
    let free = |g: u32| {
        let (s, e) = (geo.group_first(g), geo.group_last(g) + 1);
        (e - s) - alloc.used.count_in(s, e)
    };
    let mut group = geo.group_of((geo.blocks - u64::from(geo.first_data_block)) / 2);
    let log_flex = 1u32 << geo.log_groups_per_flex;
    let start;
    if geo.log_groups_per_flex != 0 && group > log_flex {
        group &= !(log_flex - 1);
        while group < geo.groups && free(group) == 0 {
            group += 1;
        }
        if group == geo.groups {
            group = 0;
        }
        start = group;
    } else {
        start = group.saturating_sub(1);
    }
    let end = if group + 1 < geo.groups {
        group + 1
    } else {
        group
    };
    let mut best = start;
    for g in start + 1..=end {
        if free(g) > free(best) {
            best = g;
        }
    }
    geo.group_first(best)
}

/// The journal superblock (jbd2 v2, nothing logged yet).
fn journal_superblock(bs: usize, blocks: u64, uuid: &[u8; 16]) -> Vec<u8> {
    let mut j = vec![0u8; bs];
    let be = |j: &mut Vec<u8>, at: usize, v: u32| j[at..at + 4].copy_from_slice(&v.to_be_bytes());
    be(&mut j, 0x00, 0xc03b_3998);
    be(&mut j, 0x04, 4);
    be(&mut j, 0x0c, bs as u32);
    be(&mut j, 0x10, blocks as u32);
    be(&mut j, 0x14, 1);
    be(&mut j, 0x18, 1);
    j[0x30..0x40].copy_from_slice(uuid);
    be(&mut j, 0x40, 1);
    j
}

/// The journal inode (8) of `blocks` blocks, its mapping blocks and its superblock.
/// Returns the record, blocks to write, and the data blocks taken.
pub fn journal(
    alloc: &mut Allocator<'_>,
    c: Csum,
    blocks: u64,
    uuid: &[u8; 16],
    now: u32,
) -> Result<(InodeRec, Blocks, u64), MkfsError> {
    let geo = alloc.geo;
    let bs = geo.block_size as usize;
    let mut rec = InodeRec::new(8, geo.inode_size, 0o100600, now);
    // The journal gets no creation time of its own beyond what a new inode has.
    rec.set_size(blocks * bs as u64);
    let mut out: Blocks = Vec::new();
    let first_data;
    let mut mapping_blocks = 0u64;
    if c.extents {
        let mut goal = midpoint_goal(alloc);
        let mut runs: Vec<(u32, u16, u64)> = Vec::new();
        let mut left = blocks;
        let mut lblk = 0u64;
        while left > 0 {
            let b = alloc
                .used
                .first_free(goal, u64::from(geo.first_data_block), geo.blocks)
                .ok_or(MkfsError::TooSmall)?;
            let len = alloc.used.free_run_len(b, geo.blocks).min(left).min(32768);
            alloc.take(b, len);
            runs.push((lblk as u32, len as u16, b));
            lblk += len;
            left -= len;
            goal = b + len;
        }
        first_data = runs[0].2;
        rec.set_flags(FLAG_EXTENTS);
        if runs.len() <= 4 {
            extent_root(rec.i_block(), &runs);
        } else {
            // libext2fs tries to put the index block just before the first extent.
            let leaf_blk = alloc.new_block(first_data.saturating_sub(1))?;
            mapping_blocks = 1;
            let max = (bs - 12) / 12;
            if runs.len() > max {
                return Err(MkfsError::Unsupported(
                    "a journal this fragmented needs a deeper extent tree".into(),
                ));
            }
            let mut leaf = vec![0u8; bs];
            extent_root(&mut leaf[..12 + 12 * runs.len()], &runs);
            put16(&mut leaf, 4, max as u16);
            if let Some(seed) = c.seed {
                let s = crc32c_raw(seed, &8u32.to_le_bytes());
                let s = crc32c_raw(s, &0u32.to_le_bytes());
                let end = 12 + 12 * max;
                let sum = crc32c_raw(s, &leaf[..end]);
                put32(&mut leaf, end, sum);
            }
            out.push((leaf_blk, leaf));
            // The root keeps the leaf entries it held before the split (as libext2fs
            // leaves them) behind its one index entry.
            let ib = rec.i_block();
            extent_root(ib, &runs[..4]);
            put16(ib, 0, 0xf30a);
            put16(ib, 2, 1);
            put16(ib, 4, 4);
            put16(ib, 6, 1);
            put32(ib, 12, 0);
            put32(ib, 16, leaf_blk as u32);
            put16(ib, 20, (leaf_blk >> 32) as u16);
            put16(ib, 22, 0);
        }
    } else {
        let (first, meta) = block_mapped(alloc, &mut rec, blocks)?;
        first_data = first;
        mapping_blocks = meta.len() as u64;
        out.extend(meta);
    }
    rec.set_sectors((blocks + mapping_blocks) * bs as u64 / 512);
    out.push((first_data, journal_superblock(bs, blocks, uuid)));
    Ok((rec, out, blocks))
}

/// A block-mapped file of `blocks` blocks allocated in order from the start of the
/// filesystem (each data or mapping block right after the previous one, as
/// ext2fs_bmap2 allocates). Returns the first data block and the mapping blocks.
fn block_mapped(
    alloc: &mut Allocator<'_>,
    rec: &mut InodeRec,
    blocks: u64,
) -> Result<(u64, Blocks), MkfsError> {
    let geo = alloc.geo;
    let bs = geo.block_size as usize;
    let apb = (bs / 4) as u64;
    if blocks > 12 + apb + apb * apb {
        return Err(MkfsError::Unsupported(
            "a block-mapped journal this large needs a triple-indirect block".into(),
        ));
    }
    let mut prev = geo.group_first(0);
    let mut next = |alloc: &mut Allocator<'_>| -> Result<u64, MkfsError> {
        let b = alloc.new_block(prev)?;
        prev = b + 1;
        Ok(b)
    };
    let mut first = 0;
    let mut ind: Option<(u64, Vec<u8>)> = None;
    let mut dind: Option<(u64, Vec<u8>)> = None;
    let mut out: Blocks = Vec::new();
    for l in 0..blocks {
        if l < 12 {
            let b = next(alloc)?;
            if l == 0 {
                first = b;
            }
            put32(rec.i_block(), 4 * l as usize, b as u32);
            continue;
        }
        let rel = l - 12;
        if rel < apb {
            if rel == 0 {
                let b = next(alloc)?;
                put32(rec.i_block(), 4 * 12, b as u32);
                ind = Some((b, vec![0u8; bs]));
            }
        } else {
            let rel2 = rel - apb;
            if rel2 == 0 {
                let b = next(alloc)?;
                put32(rec.i_block(), 4 * 13, b as u32);
                dind = Some((b, vec![0u8; bs]));
            }
            if rel2 % apb == 0 {
                if let Some(done) = ind.take() {
                    out.push(done);
                }
                let b = next(alloc)?;
                if let Some((_, d)) = dind.as_mut() {
                    put32(d, 4 * (rel2 / apb) as usize, b as u32);
                }
                ind = Some((b, vec![0u8; bs]));
            }
        }
        let b = next(alloc)?;
        let slot = if rel < apb { rel } else { (rel - apb) % apb };
        if let Some((_, i)) = ind.as_mut() {
            put32(i, 4 * slot as usize, b as u32);
        }
    }
    out.extend(ind);
    out.extend(dind);
    Ok((first, out))
}
