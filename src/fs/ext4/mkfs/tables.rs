//! Where each group's block bitmap, inode bitmap and inode table go, placed as
//! libext2fs' ext2fs_allocate_group_table does: in the group itself after its superblock
//! copy, or with flex_bg packed per flex group (all block bitmaps, then all inode bitmaps,
//! then all inode tables, starting in the flex group's first group).

use super::MkfsError;
use super::geometry::Geometry;
use super::used::UsedBlocks;

/// One group's table locations.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupTables {
    /// Block bitmap block.
    pub block_bitmap: u64,
    /// Inode bitmap block.
    pub inode_bitmap: u64,
    /// First inode table block.
    pub inode_table: u64,
}

/// Allocation state while laying out: used blocks and the groups whose BLOCK_UNINIT an
/// allocation cleared.
pub struct Allocator<'a> {
    /// The geometry.
    pub geo: &'a Geometry,
    /// Used blocks.
    pub used: UsedBlocks,
    /// Groups an allocation (not their own superblock area) landed in.
    pub touched: Vec<bool>,
}

impl<'a> Allocator<'a> {
    /// Start with every group's superblock copy, descriptors and reserved GDT blocks used
    /// (and block 0 of a 1 KiB filesystem).
    pub fn new(geo: &'a Geometry) -> Allocator<'a> {
        let mut used = UsedBlocks::default();
        if geo.first_data_block == 1 {
            used.mark(0, 1);
        }
        for g in 0..geo.groups {
            used.mark(geo.group_first(g), geo.super_area(g));
        }
        Allocator {
            geo,
            used,
            touched: vec![false; geo.groups as usize],
        }
    }

    /// Take `[start, start + len)` (an allocation: clears BLOCK_UNINIT where it lands).
    pub fn take(&mut self, start: u64, len: u64) {
        self.used.mark(start, len);
        if len > 0 {
            for g in self.geo.group_of(start)..=self.geo.group_of(start + len - 1) {
                self.touched[g as usize] = true;
            }
        }
    }

    /// ext2fs_new_block2: the first free block at or after `goal`, taken.
    pub fn new_block(&mut self, goal: u64) -> Result<u64, MkfsError> {
        let first = u64::from(self.geo.first_data_block);
        let goal = if goal < first || goal >= self.geo.blocks {
            first
        } else {
            goal
        };
        let b = self
            .used
            .first_free(goal, first, self.geo.blocks)
            .ok_or(MkfsError::TooSmall)?;
        self.take(b, 1);
        Ok(b)
    }

    fn free_run(&self, start: u64, finish: u64, num: u64) -> Option<u64> {
        let first = u64::from(self.geo.first_data_block);
        self.used
            .first_free_run(start.max(first), finish, num, self.geo.blocks)
    }

    /// flexbg_offset: where the tables of `rem` groups of `elem` blocks each should start.
    fn flexbg_offset(&self, group: u32, prev: u64, rem: u32, elem: u64) -> u64 {
        let geo = self.geo;
        let flex = geo.flex_size();
        let flexbg = group / flex;
        let size = (u64::from(rem) * elem).min(u64::from(geo.blocks_per_group) / 4);
        if prev != 0 && prev < geo.blocks {
            if let Some(b) = self.free_run(prev, prev + size, elem) {
                return b;
            }
        }
        let start = geo.group_first(flex * flexbg);
        let last_grp = (group | (flex - 1)).min(geo.groups - 1);
        let last = geo.group_last(last_grp);
        self.free_run(start, last, size)
            .or_else(|| self.free_run(start, last, elem))
            .or_else(|| self.free_run(0, last, elem))
            .unwrap_or(0)
    }

    /// Place every group's tables.
    pub fn allocate_tables(&mut self) -> Result<Vec<GroupTables>, MkfsError> {
        let geo = self.geo;
        let mut out: Vec<GroupTables> = Vec::with_capacity(geo.groups as usize);
        let flex = geo.log_groups_per_flex != 0;
        let itable = u64::from(geo.inode_table_blocks);
        for g in 0..geo.groups {
            let group_blk = geo.group_first(g);
            let mut last_blk = geo.group_last(g);
            let mut start_blk = group_blk;
            let (mut last_grp, mut rem, mut table_offset) = (g, 1, 0u64);
            if flex {
                let size = geo.flex_size();
                last_grp = (g | (size - 1)).min(geo.groups - 1);
                rem = last_grp - g + 1;
                table_offset = u64::from(size);
                let mut prev = 0;
                if g % size != 0 {
                    prev = out[g as usize - 1].block_bitmap + 1;
                } else if last_grp == geo.groups - 1 {
                    // The last flex group keeps its tables contiguous.
                    table_offset = u64::from(last_grp & (size - 1));
                    table_offset = if table_offset == 0 {
                        u64::from(size)
                    } else {
                        table_offset + 1
                    };
                }
                start_blk = self.flexbg_offset(g, prev, rem, 1);
                last_blk = geo.group_last(last_grp);
            }
            let bb = self
                .free_run(start_blk, last_blk, 1)
                .or_else(|| self.free_run(group_blk, last_blk, 1))
                .ok_or(MkfsError::TooSmall)?;
            self.place(bb, 1, flex);

            if flex {
                let prev = if g % geo.flex_size() != 0 {
                    out[g as usize - 1].inode_bitmap + 1
                } else {
                    bb + table_offset
                };
                start_blk = self.flexbg_offset(g, prev, rem, 1);
                last_blk = geo.group_last(last_grp);
            }
            let ib = self
                .free_run(start_blk, last_blk, 1)
                .or_else(|| self.free_run(group_blk, last_blk, 1))
                .ok_or(MkfsError::TooSmall)?;
            self.place(ib, 1, flex);

            let mut table_start = group_blk;
            if flex {
                let prev = if g % geo.flex_size() != 0 {
                    out[g as usize - 1].inode_table + itable
                } else {
                    ib + table_offset
                };
                table_start = self.flexbg_offset(g, prev, rem, itable);
                last_blk = geo.group_last(last_grp);
            }
            let it = self
                .free_run(table_start, last_blk, itable)
                .ok_or(MkfsError::TooSmall)?;
            self.place(it, itable, flex);
            out.push(GroupTables {
                block_bitmap: bb,
                inode_bitmap: ib,
                inode_table: it,
            });
        }
        Ok(out)
    }

    fn place(&mut self, start: u64, len: u64, flex: bool) {
        if flex {
            self.take(start, len);
        } else {
            self.used.mark(start, len);
        }
    }
}
