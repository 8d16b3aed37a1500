//! The smallest size an ext2/3/4 filesystem can be shrunk to, computed as `resize2fs -P`
//! estimates it (e2fsprogs' calculate_minimum_resize_size): enough groups for the inodes
//! in use, enough data blocks for the blocks in use after every group's metadata
//! overhead, a flex_bg's worth of inode-table slack, a partial last group, and a margin
//! for extent tree growth. libguestfs' vfs-minimum-size is this number of blocks times
//! the block size. Every step uses checked arithmetic: a superblock whose counts cannot
//! be consistent gives an error instead of a wrapped-around answer or a long loop.

use super::fs::Ext4;
use super::superblock::{INCOMPAT_EXTENTS, INCOMPAT_FLEX_BG, INCOMPAT_META_BG};
use crate::fs::error::{FsError, FsResult};

/// The filesystem geometry the estimate reads.
struct Geometry {
    blocks_count: u64,
    blocks_per_group: u64,
    first_data_block: u64,
    group_count: u64,
    inode_blocks_per_group: u64,
    /// Old-style descriptor blocks (with reserved GDT blocks), or s_first_meta_bg.
    old_desc_blocks: u64,
    descs_per_block: u64,
    meta_bg: bool,
    first_meta_bg: u64,
}

fn inconsistent(why: &str) -> FsError {
    FsError::corrupt("ext4 minimum size", why.to_string())
}

impl Geometry {
    /// Blocks of group metadata in `group` (calc_group_overhead): the inode table and
    /// both bitmaps, a superblock copy, and the descriptor blocks it carries.
    fn group_overhead(&self, fs: &Ext4, group: u64) -> u64 {
        let mut overhead = self.inode_blocks_per_group + 2;
        let has_super = u32::try_from(group).is_ok_and(|g| fs.sb.group_has_super(g));
        if has_super {
            overhead += 1;
        }
        let meta_group = group / self.descs_per_block;
        if !self.meta_bg || meta_group < self.first_meta_bg {
            if has_super {
                overhead += self.old_desc_blocks;
            }
        } else {
            let at = group % self.descs_per_block;
            if at == 0 || at == 1 || at == self.descs_per_block - 1 {
                overhead += 1;
            }
        }
        overhead
    }

    /// The groups needed once the flex_bg slack is added, capped at the groups there are.
    fn flex_round(&self, groups: u64, flexbg_size: Option<u64>) -> u64 {
        match flexbg_size {
            None => groups,
            Some(size) => (groups + size - (groups & (size - 1))).min(self.group_count),
        }
    }
}

/// The minimum size in blocks.
pub fn minimum_blocks(fs: &Ext4) -> FsResult<u64> {
    let sb = &fs.sb;
    let block_size = u64::from(sb.block_size);
    let descs_per_block = block_size / u64::from(sb.desc_size.max(32));
    let group_count = u64::from(sb.group_count);
    let meta_bg = sb.incompat & INCOMPAT_META_BG != 0;
    let desc_blocks = group_count.div_ceil(descs_per_block);
    let g = Geometry {
        blocks_count: sb.blocks_count,
        blocks_per_group: u64::from(sb.blocks_per_group),
        first_data_block: u64::from(sb.first_data_block),
        group_count,
        inode_blocks_per_group: (u64::from(sb.inodes_per_group) * u64::from(sb.inode_size))
            .div_ceil(block_size),
        old_desc_blocks: if meta_bg {
            u64::from(sb.first_meta_bg)
        } else {
            desc_blocks + u64::from(sb.reserved_gdt_blocks)
        },
        descs_per_block,
        meta_bg,
        first_meta_bg: u64::from(sb.first_meta_bg),
    };
    let flexbg_size = (sb.incompat & INCOMPAT_FLEX_BG != 0).then(|| {
        let log = sb.raw.get(0x174).copied().unwrap_or(0).min(31);
        1u64 << log
    });
    let bpg = g.blocks_per_group;

    // Groups for the inodes in use.
    // resize2fs reads the superblock's count (kept equal to the descriptors' sum by
    // rfish's writer).
    let free_inodes = fs.superblock_free_inodes()?;
    let inode_count = sb
        .inodes_count
        .checked_sub(free_inodes)
        .ok_or_else(|| inconsistent("more free inodes than inodes"))?;
    let mut groups = u64::from(inode_count).div_ceil(u64::from(sb.inodes_per_group));
    if groups == 0 || groups > group_count {
        return Err(inconsistent("inode counts"));
    }

    // Blocks in use for data: everything but group metadata and free blocks.
    let mut data_needed = g.blocks_count;
    let descs = fs.group_descs();
    for (grp, desc) in descs.iter().enumerate() {
        data_needed = data_needed
            .checked_sub(g.group_overhead(fs, grp as u64))
            .and_then(|d| d.checked_sub(u64::from(desc.free_blocks)))
            .ok_or_else(|| inconsistent("free block counts exceed the filesystem"))?;
    }

    let mut flex_groups = g.flex_round(groups, flexbg_size);
    // Data blocks available in `groups` groups, and in the groups before the last one.
    let mut data_blocks = bpg * groups;
    let mut last_start: u64 = 0;
    for grp in 0..flex_groups {
        let overhead = g.group_overhead(fs, grp);
        if grp + 1 < groups {
            last_start += bpg.saturating_sub(overhead);
        }
        data_blocks = data_blocks.saturating_sub(overhead);
    }

    // More groups until the data fits.
    let blks_needed = data_needed;
    while blks_needed > data_blocks {
        let extra = (blks_needed - data_blocks).div_ceil(bpg);
        data_blocks += bpg * extra;
        let overhead = g.group_overhead(fs, groups - 1);
        last_start += bpg.saturating_sub(overhead);
        let mut grp = flex_groups;
        groups += extra;
        if groups > group_count.saturating_mul(2).max(2) {
            // More groups than twice the filesystem: it cannot shrink at all.
            return Ok(g.blocks_count);
        }
        match flexbg_size {
            None => flex_groups = groups,
            Some(_) if groups > flex_groups => flex_groups = g.flex_round(groups, flexbg_size),
            Some(_) => {}
        }
        while grp < flex_groups {
            let overhead = g.group_overhead(fs, grp);
            if grp + 1 < groups {
                last_start += bpg.saturating_sub(overhead);
            }
            data_blocks = data_blocks
                .checked_sub(overhead)
                .ok_or_else(|| inconsistent("group overhead exceeds the group"))?;
            grp += 1;
        }
    }

    // The last group: its metadata (a whole flex group's worth when it is in the first
    // flex group) plus the data that does not fit before it, at least 50 blocks.
    let mut grp = groups - 1;
    if let Some(size) = flexbg_size {
        if grp & !(size - 1) == 0 {
            grp &= !(size - 1);
        }
    }
    let mut overhead: u64 = (grp..flex_groups).map(|n| g.group_overhead(fs, n)).sum();
    overhead += if last_start < blks_needed {
        (blks_needed - last_start).max(50)
    } else {
        50
    };
    overhead += g.first_data_block;
    if sb.cluster_ratio > 1 {
        overhead += sb.cluster_ratio * 2;
    }
    let mut blks_needed = bpg * (groups - 1) + overhead;

    // Cover the end of the last group's inode table.
    let last = descs
        .get((groups - 1) as usize)
        .map(|d| d.inode_table + g.inode_blocks_per_group);
    match last {
        Some(end) => blks_needed = blks_needed.max(end),
        None => return Ok(g.blocks_count),
    }
    if blks_needed >= g.blocks_count {
        return Ok(g.blocks_count);
    }

    // Room for extent trees to grow while blocks move.
    if sb.incompat & INCOMPAT_EXTENTS != 0 {
        let exts_per_block = block_size / 12 - 1;
        let worst_case = data_needed
            .div_ceil(exts_per_block)
            .max(u64::from(inode_count));
        let safe_margin = ((g.blocks_count - blks_needed) / 500).min(worst_case);
        blks_needed += safe_margin;
    }
    Ok(blks_needed)
}
