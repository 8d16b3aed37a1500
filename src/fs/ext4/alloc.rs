//! Block and inode allocation (Documentation/filesystems/ext4/allocators.rst, bitmaps.rst,
//! group_descr.rst): bitmaps read and written through the running transaction,
//! BLOCK_UNINIT and INODE_UNINIT groups initialised on first use (their bitmaps computed
//! as mke2fs and the kernel lay them out), bitmap checksums, descriptor counters and
//! checksums. Inodes go near their parent (directories spread to the emptiest groups),
//! blocks near a goal, in the longest free run found first. Blocks freed by the running
//! transaction are never handed out again before it commits.

use crate::fs::{Errno, FsError, FsResult};

use super::checksum::crc32c_raw;
use super::fs::Ext4;
use super::group_desc::{self, GroupDesc};
use super::superblock::{INCOMPAT_META_BG, RO_COMPAT_GDT_CSUM, RO_COMPAT_METADATA_CSUM};

/// Descriptor flags.
const INODE_UNINIT: u16 = 1;
const BLOCK_UNINIT: u16 = 2;

fn corrupt(detail: String) -> FsError {
    FsError::corrupt("ext4 allocation", detail)
}

fn test_bit(map: &[u8], i: usize) -> bool {
    map[i / 8] & (1 << (i % 8)) != 0
}

fn set_bit(map: &mut [u8], i: usize, on: bool) {
    if on {
        map[i / 8] |= 1 << (i % 8);
    } else {
        map[i / 8] &= !(1 << (i % 8));
    }
}

impl Ext4 {
    fn csum_groups(&self) -> bool {
        self.sb.ro_compat & (RO_COMPAT_METADATA_CSUM | RO_COMPAT_GDT_CSUM) != 0
    }

    /// First block of group `g`.
    pub(super) fn group_first_block(&self, g: u32) -> u64 {
        u64::from(self.sb.first_data_block) + u64::from(g) * u64::from(self.sb.blocks_per_group)
    }

    /// Blocks in group `g` (the last group may be short).
    fn group_blocks(&self, g: u32) -> u64 {
        let first = self.group_first_block(g);
        (self.sb.blocks_count - first).min(u64::from(self.sb.blocks_per_group))
    }

    fn inode_table_blocks(&self) -> u64 {
        (u64::from(self.sb.inodes_per_group) * u64::from(self.sb.inode_size))
            .div_ceil(u64::from(self.sb.block_size))
    }

    /// Write descriptor `g` (counters, flags and checksum) through the transaction.
    pub(super) fn store_group(&self, g: u32, d: &GroupDesc) -> FsResult<()> {
        let at = group_desc::location(&self.sb, g);
        let mut raw = vec![0u8; usize::from(self.sb.desc_size)];
        self.device().read_at(&mut raw, at)?;
        group_desc::encode(&self.sb, g, &mut raw, d);
        self.device().write_at(&raw, at)?;
        self.groups.write().expect("groups")[g as usize] = *d;
        Ok(())
    }

    /// Patch the bitmap checksum fields of descriptor `g` (metadata_csum).
    fn store_bitmap_csum(&self, g: u32, block_bitmap: bool, bitmap: &[u8]) -> FsResult<()> {
        if self.sb.ro_compat & RO_COMPAT_METADATA_CSUM == 0 {
            return Ok(());
        }
        let sum = crc32c_raw(self.sb.csum_seed, bitmap);
        let at = group_desc::location(&self.sb, g);
        let mut raw = vec![0u8; usize::from(self.sb.desc_size)];
        self.device().read_at(&mut raw, at)?;
        let (lo, hi) = if block_bitmap {
            (0x18, 0x38)
        } else {
            (0x1a, 0x3a)
        };
        raw[lo..lo + 2].copy_from_slice(&(sum as u16).to_le_bytes());
        if raw.len() >= 0x3c {
            raw[hi..hi + 2].copy_from_slice(&((sum >> 16) as u16).to_le_bytes());
        }
        let d = self.group(g);
        group_desc::encode(&self.sb, g, &mut raw, &d);
        self.device().write_at(&raw, at)?;
        Ok(())
    }

    /// Group `g`'s block bitmap, computed when the group is still BLOCK_UNINIT.
    fn block_bitmap(&self, g: u32) -> FsResult<Vec<u8>> {
        let d = self.group(g);
        if self.csum_groups() && d.flags & BLOCK_UNINIT != 0 {
            return Ok(self.uninit_block_bitmap(g));
        }
        self.read_block(d.block_bitmap)
    }

    /// The bitmap of a group no block of which was ever allocated: its own metadata (a
    /// superblock copy, descriptors, reserved descriptor blocks) and any group's bitmaps
    /// and inode table that lie inside it (flex_bg packs them), plus the bits past the
    /// end of a short last group.
    fn uninit_block_bitmap(&self, g: u32) -> Vec<u8> {
        let bs = self.sb.block_size as usize;
        let mut map = vec![0u8; bs];
        let first = self.group_first_block(g);
        let count = self.group_blocks(g);
        let mut mark = |b: u64| {
            if b >= first && b < first + count {
                set_bit(&mut map, (b - first) as usize, true);
            }
        };
        if self.sb.group_has_super(g) {
            let meta_bg = self.sb.incompat & INCOMPAT_META_BG != 0;
            let per_block = u64::from(self.sb.block_size / u32::from(self.sb.desc_size));
            let desc_blocks = u64::from(self.sb.group_count).div_ceil(per_block);
            let start = if first == 0 && bs == 1024 { 1 } else { first };
            mark(start);
            let meta_group = u64::from(g) / per_block;
            if !meta_bg || meta_group < u64::from(self.sb.first_meta_bg) {
                let reserved = u64::from(self.sb.reserved_gdt_blocks);
                let old = if meta_bg {
                    u64::from(self.sb.first_meta_bg)
                } else {
                    desc_blocks + reserved
                };
                for i in 0..old {
                    mark(start + 1 + i);
                }
            }
        }
        if self.sb.incompat & INCOMPAT_META_BG != 0 {
            let per_block = u64::from(self.sb.block_size / u32::from(self.sb.desc_size));
            let meta_group = u64::from(g) / per_block;
            let at = u64::from(g) % per_block;
            if meta_group >= u64::from(self.sb.first_meta_bg)
                && (at == 0 || at == 1 || at == per_block - 1)
            {
                mark(first + u64::from(self.sb.group_has_super(g)));
            }
        }
        let itb = self.inode_table_blocks();
        for d in self.groups.read().expect("groups").iter() {
            mark(d.block_bitmap);
            mark(d.inode_bitmap);
            for b in d.inode_table..d.inode_table + itb {
                mark(b);
            }
        }
        for i in count as usize..bs * 8 {
            set_bit(&mut map, i, true);
        }
        map
    }

    /// Store a group's block bitmap, clearing BLOCK_UNINIT.
    fn store_block_bitmap(&self, g: u32, map: &[u8], d: &mut GroupDesc) -> FsResult<()> {
        let bs = u64::from(self.sb.block_size);
        self.device().write_at(map, d.block_bitmap * bs)?;
        d.flags &= !BLOCK_UNINIT;
        self.store_group(g, d)?;
        let cpg = (self.sb.blocks_per_group as usize).div_ceil(8);
        self.store_bitmap_csum(g, true, &map[..cpg.min(map.len())])
    }

    fn inode_bitmap(&self, g: u32) -> FsResult<Vec<u8>> {
        let d = self.group(g);
        if self.csum_groups() && d.flags & INODE_UNINIT != 0 {
            let bs = self.sb.block_size as usize;
            let mut map = vec![0u8; bs];
            for i in self.sb.inodes_per_group as usize..bs * 8 {
                set_bit(&mut map, i, true);
            }
            return Ok(map);
        }
        self.read_block(d.inode_bitmap)
    }

    fn is_freed_in_txn(&self, start: u64, len: u64) -> bool {
        self.freed
            .lock()
            .expect("freed")
            .iter()
            .any(|&(s, l)| start < s + l && s < start + len)
    }

    /// Allocate up to `want` contiguous blocks, as close after `goal` as possible; returns
    /// (first block, count ≥ 1). ENOSPC when the filesystem is full.
    pub(super) fn alloc_blocks(&self, goal: u64, want: u64) -> FsResult<(u64, u64)> {
        let groups = self.sb.group_count;
        let goal = goal.clamp(
            u64::from(self.sb.first_data_block),
            self.sb.blocks_count.saturating_sub(1),
        );
        let goal_group = ((goal - u64::from(self.sb.first_data_block))
            / u64::from(self.sb.blocks_per_group)) as u32;
        let mut best: Option<(u32, u64, u64)> = None;
        for step in 0..groups {
            let g = (goal_group + step) % groups;
            let d = self.group(g);
            if d.free_blocks == 0 {
                continue;
            }
            let map = self.block_bitmap(g)?;
            let first = self.group_first_block(g);
            let count = self.group_blocks(g) as usize;
            let start_at = if g == goal_group {
                (goal - first) as usize
            } else {
                0
            };
            // Two passes: from the goal to the end of the group, then from its start.
            for (lo, hi) in [(start_at, count), (0, start_at)] {
                let mut i = lo;
                while i < hi {
                    if test_bit(&map, i) {
                        i += 1;
                        continue;
                    }
                    let mut j = i;
                    while j < hi && !test_bit(&map, j) && ((j - i) as u64) < want {
                        j += 1;
                    }
                    let (s, l) = (first + i as u64, (j - i) as u64);
                    if self.is_freed_in_txn(s, l) {
                        // Shrink to the part before the first freed block, or skip one.
                        let mut k = 0;
                        while k < l && !self.is_freed_in_txn(s + k, 1) {
                            k += 1;
                        }
                        if k == 0 {
                            i += 1;
                            continue;
                        }
                        if best.is_none_or(|(_, _, bl)| k > bl) {
                            best = Some((g, s, k));
                        }
                        i += k as usize;
                        continue;
                    }
                    if l >= want {
                        return self.take_blocks(g, s, l);
                    }
                    if best.is_none_or(|(_, _, bl)| l > bl) {
                        best = Some((g, s, l));
                    }
                    i = j;
                }
            }
            if let Some((bg, s, l)) = best {
                // A shorter run in the goal's neighbourhood beats searching every group.
                if step >= 1 || l * 4 >= want {
                    return self.take_blocks(bg, s, l);
                }
            }
        }
        match best {
            Some((g, s, l)) => self.take_blocks(g, s, l),
            None => Err(Errno::NoSpace.into()),
        }
    }

    /// Mark [start, start+len) of group `g` used.
    fn take_blocks(&self, g: u32, start: u64, len: u64) -> FsResult<(u64, u64)> {
        let mut map = self.block_bitmap(g)?;
        let first = self.group_first_block(g);
        for b in start..start + len {
            let i = (b - first) as usize;
            if test_bit(&map, i) {
                return Err(corrupt(format!("block {b} is already in use")));
            }
            set_bit(&mut map, i, true);
        }
        let mut d = self.group(g);
        d.free_blocks = d
            .free_blocks
            .checked_sub(len as u32)
            .ok_or_else(|| corrupt(format!("group {g}: free block count below zero")))?;
        self.store_block_bitmap(g, &map, &mut d)?;
        Ok((start, len))
    }

    /// Free [start, start+len) (which may span groups).
    pub(super) fn free_blocks(&self, start: u64, len: u64) -> FsResult<()> {
        let mut b = start;
        let end = start + len;
        while b < end {
            if b < u64::from(self.sb.first_data_block) || b >= self.sb.blocks_count {
                return Err(corrupt(format!("freeing block {b} outside the filesystem")));
            }
            let g = ((b - u64::from(self.sb.first_data_block))
                / u64::from(self.sb.blocks_per_group)) as u32;
            let first = self.group_first_block(g);
            let stop = end.min(first + self.group_blocks(g));
            let mut map = self.block_bitmap(g)?;
            for x in b..stop {
                let i = (x - first) as usize;
                if !test_bit(&map, i) {
                    return Err(corrupt(format!("block {x} is already free")));
                }
                set_bit(&mut map, i, false);
            }
            let mut d = self.group(g);
            d.free_blocks += (stop - b) as u32;
            self.store_block_bitmap(g, &map, &mut d)?;
            self.freed.lock().expect("freed").push((b, stop - b));
            b = stop;
        }
        Ok(())
    }

    /// Allocate an inode: in the parent's group for files, in the emptiest group for
    /// directories (the kernel's Orlov allocator in spirit).
    pub(super) fn alloc_inode(&self, parent: u32, directory: bool) -> FsResult<u32> {
        let ipg = self.sb.inodes_per_group;
        let groups = self.sb.group_count;
        let parent_group = (parent.max(1) - 1) / ipg;
        let order: Vec<u32> = if directory {
            let descs = self.group_descs();
            let mut v: Vec<u32> = (0..groups)
                .filter(|&g| descs[g as usize].free_inodes > 0)
                .collect();
            v.sort_by_key(|&g| {
                let d = &descs[g as usize];
                (std::cmp::Reverse(d.free_inodes.min(d.free_blocks)), g)
            });
            v
        } else {
            (0..groups).map(|s| (parent_group + s) % groups).collect()
        };
        let first_ino = self.sb.first_ino.max(11);
        for g in order {
            let mut d = self.group(g);
            if d.free_inodes == 0 {
                continue;
            }
            let mut map = self.inode_bitmap(g)?;
            let Some(i) = (0..ipg as usize).find(|&i| {
                let ino = g * ipg + i as u32 + 1;
                ino >= first_ino && !test_bit(&map, i)
            }) else {
                continue;
            };
            set_bit(&mut map, i, true);
            let bs = u64::from(self.sb.block_size);
            self.device().write_at(&map, d.inode_bitmap * bs)?;
            d.flags &= !INODE_UNINIT;
            d.free_inodes -= 1;
            if directory {
                d.used_dirs += 1;
            }
            if self.csum_groups() {
                let used_end = ipg - d.itable_unused;
                if i as u32 >= used_end {
                    d.itable_unused = ipg - (i as u32 + 1);
                }
            }
            self.store_group(g, &d)?;
            self.store_bitmap_csum(g, false, &map[..(ipg as usize).div_ceil(8)])?;
            return Ok(g * ipg + i as u32 + 1);
        }
        Err(Errno::NoSpace.into())
    }

    /// Free inode `ino`.
    pub(super) fn free_inode(&self, ino: u32, directory: bool) -> FsResult<()> {
        let ipg = self.sb.inodes_per_group;
        let g = (ino - 1) / ipg;
        let i = ((ino - 1) % ipg) as usize;
        let mut map = self.inode_bitmap(g)?;
        if !test_bit(&map, i) {
            return Err(corrupt(format!("inode {ino} is already free")));
        }
        set_bit(&mut map, i, false);
        let mut d = self.group(g);
        let bs = u64::from(self.sb.block_size);
        self.device().write_at(&map, d.inode_bitmap * bs)?;
        d.free_inodes += 1;
        if directory {
            d.used_dirs = d.used_dirs.saturating_sub(1);
        }
        self.store_group(g, &d)?;
        self.store_bitmap_csum(g, false, &map[..(ipg as usize).div_ceil(8)])
    }

    /// Bring the superblock's free counts (and write time) up to date through the
    /// transaction.
    /// Group `g`'s free blocks as `(first block, count)` runs.
    pub(super) fn free_runs(&self, g: u32) -> FsResult<Vec<(u64, u64)>> {
        let map = self.block_bitmap(g)?;
        let first = self.group_first_block(g);
        let count = self.group_blocks(g) / self.sb.cluster_ratio;
        let mut out: Vec<(u64, u64)> = Vec::new();
        for i in 0..count as usize {
            if test_bit(&map, i) {
                continue;
            }
            let b = first + i as u64 * self.sb.cluster_ratio;
            match out.last_mut() {
                Some((s, n)) if *s + *n == b => *n += self.sb.cluster_ratio,
                _ => out.push((b, self.sb.cluster_ratio)),
            }
        }
        Ok(out)
    }

    pub(super) fn store_superblock_counts(&self) -> FsResult<()> {
        let descs = self.group_descs();
        let free_blocks: u64 =
            descs.iter().map(|d| u64::from(d.free_blocks)).sum::<u64>() * self.sb.cluster_ratio;
        let free_inodes: u64 = descs.iter().map(|d| u64::from(d.free_inodes)).sum();
        let mut raw = vec![0u8; 1024];
        self.device().read_at(&mut raw, 1024)?;
        raw[0x0c..0x10].copy_from_slice(&(free_blocks as u32).to_le_bytes());
        raw[0x158..0x15c].copy_from_slice(&((free_blocks >> 32) as u32).to_le_bytes());
        raw[0x10..0x14].copy_from_slice(&(free_inodes as u32).to_le_bytes());
        let now = crate::fs::Timespec::now().sec;
        raw[0x30..0x34].copy_from_slice(&(now as u32).to_le_bytes());
        raw[0x274] = ((now >> 32) & 0xff) as u8;
        super::superblock::update_checksum(&mut raw);
        self.device().write_at(&raw, 1024)?;
        Ok(())
    }
}
