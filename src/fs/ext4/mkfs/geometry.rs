//! The group geometry mke2fs (libext2fs' ext2fs_initialize) derives from the block
//! count: blocks and inodes per group (inode tables filled to whole blocks, a multiple of
//! 8 inodes), descriptor blocks, reserved GDT blocks for growing to 1024× the size, and a
//! last group too small for its own tables dropped from the end. Checked arithmetic
//! throughout: an impossible request is an error, never a wrapped number.

use super::MkfsError;
use super::params::{
    COMPAT_RESIZE_INODE, Features, INCOMPAT_64BIT, INCOMPAT_FLEX_BG, RO_COMPAT_SPARSE_SUPER,
};

/// What the layout needs to know.
#[derive(Debug, Clone)]
pub struct Request {
    /// Filesystem blocks wanted (the device's size in blocks, or `-b`/blockscount).
    pub blocks: u64,
    /// Block size in bytes (1024..=65536, a power of two).
    pub block_size: u32,
    /// Inode record size.
    pub inode_size: u16,
    /// Inodes wanted (before rounding to whole groups).
    pub inodes: u64,
    /// Percentage of blocks reserved for root.
    pub reserved_percent: f64,
    /// Blocks per group asked for (0: 8 × block size).
    pub blocks_per_group: u32,
    /// Features (resize_inode may be dropped by the layout).
    pub features: Features,
}

/// The decided geometry.
#[derive(Debug, Clone, PartialEq)]
pub struct Geometry {
    /// Block size in bytes.
    pub block_size: u32,
    /// Blocks in the filesystem.
    pub blocks: u64,
    /// 1 with 1 KiB blocks, else 0.
    pub first_data_block: u32,
    /// Blocks per group.
    pub blocks_per_group: u32,
    /// Groups.
    pub groups: u32,
    /// Inodes per group.
    pub inodes_per_group: u32,
    /// Inode table blocks per group.
    pub inode_table_blocks: u32,
    /// Inodes in the filesystem.
    pub inodes: u32,
    /// Inode record size.
    pub inode_size: u16,
    /// Group descriptor size (32, or 64 with 64bit).
    pub desc_size: u16,
    /// Blocks holding the group descriptors.
    pub desc_blocks: u32,
    /// Reserved GDT blocks after each descriptor copy.
    pub reserved_gdt: u32,
    /// Blocks reserved for root.
    pub reserved_blocks: u64,
    /// log2 of groups per flex group (0 without flex_bg).
    pub log_groups_per_flex: u8,
    /// Features as laid out.
    pub features: Features,
}

const FIRST_INO: u64 = 11;

fn err(msg: &str) -> MkfsError {
    MkfsError::Usage(msg.to_string())
}

impl Geometry {
    /// Lay out `req` as ext2fs_initialize does.
    pub fn compute(req: &Request) -> Result<Geometry, MkfsError> {
        let bs = req.block_size;
        if !(1024..=65536).contains(&bs) || !bs.is_power_of_two() {
            return Err(err("invalid block size"));
        }
        let isize = req.inode_size;
        if !isize.is_power_of_two() || isize < 128 || u32::from(isize) > bs {
            return Err(err("invalid inode size"));
        }
        let features = req.features;
        let first_data_block: u32 = if bs == 1024 { 1 } else { 0 };
        let max_bpg: u32 = 65528;
        let mut bpg = if req.blocks_per_group == 0 {
            bs * 8
        } else {
            req.blocks_per_group
        };
        if bpg > max_bpg || bpg > bs * 8 || bpg < 256 || bpg % 8 != 0 {
            if req.blocks_per_group != 0 {
                return Err(err("blocks per group count out of range"));
            }
            bpg = bpg.min(max_bpg);
        }
        let is64 = features.incompat(INCOMPAT_64BIT);
        if !is64 && req.blocks > u64::from(u32::MAX) {
            return Err(err(
                "too many blocks for a filesystem without the 64bit feature",
            ));
        }
        let desc_size: u16 = if is64 { 64 } else { 32 };
        let per_desc_block = u64::from(bs / u32::from(desc_size));
        let addr_per_block = u64::from(bs / 4);
        let mut blocks = req.blocks;
        let mut reserved_blocks = (req.reserved_percent * blocks as f64 / 100.0) as u64;
        let inodes_per_block = bs / u32::from(isize);
        loop {
            if blocks <= u64::from(first_data_block) {
                return Err(MkfsError::TooSmall);
            }
            let groups64 = (blocks - u64::from(first_data_block)).div_ceil(u64::from(bpg));
            let groups = u32::try_from(groups64).map_err(|_| err("too many groups"))?;
            let desc_blocks = groups64.div_ceil(per_desc_block);
            let mut inodes = req.inodes.max(FIRST_INO + 1);
            if inodes > u64::from(u32::MAX) {
                inodes = u64::from(u32::MAX);
            }
            let mut ipg = inodes.div_ceil(groups64);
            if ipg > u64::from(bs) * 8 {
                if bpg >= 256 + 8 {
                    bpg -= 8;
                    blocks = req.blocks;
                    continue;
                }
                return Err(MkfsError::TooManyInodes);
            }
            let max_ipg = (1u64 << 16) - u64::from(inodes_per_block);
            ipg = ipg.min(max_ipg);
            let (ipg, itable_blocks) = loop {
                let tb = (ipg * u64::from(isize)).div_ceil(u64::from(bs));
                let mut fitted = tb * u64::from(bs) / u64::from(isize);
                fitted = fitted.max(8) & !7;
                let tb = (fitted * u64::from(isize)).div_ceil(u64::from(bs));
                if fitted * groups64 > u64::from(u32::MAX) {
                    ipg -= 1;
                    continue;
                }
                break (fitted, tb);
            };
            let mut reserved_gdt = 0u64;
            if features.compat(COMPAT_RESIZE_INODE) {
                let max_blocks: u64 = if blocks < u64::from(u32::MAX) / 1024 {
                    blocks * 1024
                } else {
                    u64::from(u32::MAX)
                };
                let rsv_groups =
                    (max_blocks - u64::from(first_data_block)).div_ceil(u64::from(bpg));
                reserved_gdt = rsv_groups
                    .div_ceil(per_desc_block)
                    .saturating_sub(desc_blocks)
                    .min(addr_per_block);
            }
            if reserved_gdt + desc_blocks > u64::from(bpg) * 3 / 4 {
                // mke2fs would switch to meta_bg here.
                return Err(MkfsError::Unsupported(
                    "a filesystem this large for its block size needs meta_bg, which rfish cannot create yet".into(),
                ));
            }
            if 3 + itable_blocks + reserved_gdt + desc_blocks > u64::from(bpg) {
                return Err(MkfsError::TooManyInodes);
            }
            let geometry = Geometry {
                block_size: bs,
                blocks,
                first_data_block,
                blocks_per_group: bpg,
                groups,
                inodes_per_group: ipg as u32,
                inode_table_blocks: itable_blocks as u32,
                inodes: (ipg * groups64) as u32,
                inode_size: isize,
                desc_size,
                desc_blocks: desc_blocks as u32,
                reserved_gdt: reserved_gdt as u32,
                reserved_blocks,
                log_groups_per_flex: if features.incompat(INCOMPAT_FLEX_BG) {
                    4
                } else {
                    0
                },
                features,
            };
            // A last group too small for its tables is dropped.
            let mut overhead = 2 + itable_blocks;
            if geometry.has_super(groups - 1) {
                overhead += 1 + desc_blocks + reserved_gdt;
            }
            let rem = (blocks - u64::from(first_data_block)) % u64::from(bpg);
            if groups == 1 && rem != 0 && rem < overhead {
                return Err(MkfsError::TooSmall);
            }
            if rem != 0 && rem < overhead + 50 {
                let ratio = 100.0 * reserved_blocks as f64 / blocks as f64;
                blocks -= rem;
                reserved_blocks = (ratio * blocks as f64 / 100.0) as u64;
                continue;
            }
            if reserved_blocks > blocks / 2 {
                return Err(err("reserved blocks percentage too high"));
            }
            return Ok(geometry);
        }
    }

    /// Does group `g` hold a superblock and descriptor copy?
    pub fn has_super(&self, g: u32) -> bool {
        if g <= 1 || !self.features.ro_compat(RO_COMPAT_SPARSE_SUPER) {
            return true;
        }
        [3u32, 5, 7].iter().any(|&base| {
            let mut p = base;
            while p < g {
                match p.checked_mul(base) {
                    Some(n) => p = n,
                    None => return false,
                }
            }
            p == g
        })
    }

    /// First block of group `g`.
    pub fn group_first(&self, g: u32) -> u64 {
        u64::from(self.first_data_block) + u64::from(g) * u64::from(self.blocks_per_group)
    }

    /// Last block of group `g`.
    pub fn group_last(&self, g: u32) -> u64 {
        if g + 1 == self.groups {
            self.blocks - 1
        } else {
            self.group_first(g) + u64::from(self.blocks_per_group) - 1
        }
    }

    /// Group holding block `b`.
    pub fn group_of(&self, b: u64) -> u32 {
        ((b.max(u64::from(self.first_data_block)) - u64::from(self.first_data_block))
            / u64::from(self.blocks_per_group)) as u32
    }

    /// Blocks at the start of group `g` taken by the superblock copy, descriptors and
    /// reserved GDT blocks (0 for a group without a copy).
    pub fn super_area(&self, g: u32) -> u64 {
        if !self.has_super(g) {
            return 0;
        }
        // With 1 KiB blocks group 0's area starts at block 1; block 0 is outside groups.
        1 + u64::from(self.desc_blocks) + u64::from(self.reserved_gdt)
    }

    /// Groups per flex group (1 without flex_bg).
    pub fn flex_size(&self) -> u32 {
        1 << self.log_groups_per_flex
    }
}

#[cfg(test)]
mod tests {
    use super::super::params::FsKind;
    use super::*;

    fn req(blocks: u64, bs: u32, inodes: u64) -> Request {
        Request {
            blocks,
            block_size: bs,
            inode_size: 256,
            inodes,
            reserved_percent: 5.0,
            blocks_per_group: 0,
            features: FsKind::Ext4.default_features(),
        }
    }

    #[test]
    fn matches_mke2fs_for_64m_and_1g() {
        // dumpe2fs of mke2fs -t ext4 on 64 MiB and 1 GiB files.
        let g = Geometry::compute(&req(65536, 1024, 16384)).unwrap();
        assert_eq!(
            (g.groups, g.inodes_per_group, g.inode_table_blocks),
            (8, 2048, 512)
        );
        assert_eq!(
            (g.reserved_gdt, g.desc_blocks, g.reserved_blocks),
            (256, 1, 3276)
        );
        let g = Geometry::compute(&req(262144, 4096, 65536)).unwrap();
        assert_eq!(
            (g.groups, g.inodes_per_group, g.reserved_gdt),
            (8, 8192, 127)
        );
    }

    #[test]
    fn a_tiny_last_group_is_dropped() {
        // 8192 + 100 blocks of 1 KiB: the second group cannot hold its tables.
        let g = Geometry::compute(&req(8193 + 100, 1024, 2048)).unwrap();
        assert_eq!(g.groups, 1);
        assert_eq!(g.blocks, 8193);
    }
}
