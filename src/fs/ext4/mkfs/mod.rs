//! mke2fs, natively: ext2, ext3 and ext4 laid out as e2fsprogs 1.47 lays them out with
//! Debian's /etc/mke2fs.conf, so `dumpe2fs` of rfish's filesystem and of mke2fs's on the
//! same device match group for group. The device is zeroed first (mke2fs discards it),
//! which makes every inode table zeroed (ITABLE_ZEROED) at no cost on sparse images.

pub mod files;
pub mod geometry;
pub mod inode_rec;
pub mod params;
pub mod superblock_new;
pub mod tables;
pub mod used;

use std::collections::BTreeMap;
use std::fmt;

use crate::block::{BlockDev, BlockError};
use crate::fs::ext4::group_desc::{self, GroupDesc};
use crate::fs::ext4::superblock::Superblock;

use files::Csum;
use geometry::{Geometry, Request};
use inode_rec::InodeRec;
use params::{
    COMPAT_HAS_JOURNAL, COMPAT_RESIZE_INODE, FsKind, INCOMPAT_EXTENTS, INCOMPAT_FILETYPE,
    RO_COMPAT_GDT_CSUM, RO_COMPAT_METADATA_CSUM,
};
use superblock_new::SuperInfo;

/// Why a filesystem could not be made.
#[derive(Debug)]
pub enum MkfsError {
    /// A bad option (mke2fs's message).
    Usage(String),
    /// Something rfish cannot create yet.
    Unsupported(String),
    /// The device is too small.
    TooSmall,
    /// More inodes than the groups can hold.
    TooManyInodes,
    /// The device failed.
    Io(BlockError),
}

impl fmt::Display for MkfsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MkfsError::Usage(m) | MkfsError::Unsupported(m) => f.write_str(m),
            MkfsError::TooSmall => f.write_str("Filesystem too small"),
            MkfsError::TooManyInodes => f.write_str("Too many inodes for the filesystem size"),
            MkfsError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for MkfsError {}

impl From<BlockError> for MkfsError {
    fn from(e: BlockError) -> Self {
        MkfsError::Io(e)
    }
}

/// mke2fs's options that rfish honours.
#[derive(Debug, Clone)]
pub struct MkfsOptions {
    /// ext2, ext3 or ext4.
    pub kind: FsKind,
    /// `-b`.
    pub block_size: Option<u32>,
    /// `-I`.
    pub inode_size: Option<u16>,
    /// `-i`.
    pub bytes_per_inode: Option<u64>,
    /// `-N`.
    pub inodes: Option<u64>,
    /// The blocks-count argument.
    pub blocks: Option<u64>,
    /// `-g`.
    pub blocks_per_group: Option<u32>,
    /// `-O`.
    pub features: Option<String>,
    /// `-L`.
    pub label: Option<String>,
    /// `-M`.
    pub last_mounted: Option<String>,
    /// `-U`.
    pub uuid: Option<[u8; 16]>,
    /// `-m`.
    pub reserved_percent: Option<f64>,
    /// `-J size=` in MiB.
    pub journal_mib: Option<u64>,
    /// `-T`.
    pub usage_type: Option<String>,
    /// Creation time (E2FSPROGS_FAKE_TIME, as mke2fs honours it).
    pub now: Option<u32>,
    /// Directory hash seed (mke2fs `-E hash_seed=`).
    pub hash_seed: Option<[u8; 16]>,
}

impl MkfsOptions {
    /// Defaults for `kind`.
    pub fn new(kind: FsKind) -> MkfsOptions {
        MkfsOptions {
            kind,
            block_size: None,
            inode_size: None,
            bytes_per_inode: None,
            inodes: None,
            blocks: None,
            blocks_per_group: None,
            features: None,
            label: None,
            last_mounted: None,
            uuid: None,
            reserved_percent: None,
            journal_mib: None,
            usage_type: None,
            now: None,
            hash_seed: None,
        }
    }
}

fn random_uuid() -> [u8; 16] {
    *uuid::Uuid::new_v4().as_bytes()
}

fn now_secs() -> u32 {
    if let Some(t) = std::env::var("E2FSPROGS_FAKE_TIME")
        .ok()
        .and_then(|v| v.trim().parse::<u32>().ok())
    {
        return t;
    }
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as u32)
}

/// Decide the geometry for a device of `dev_bytes` bytes.
pub fn plan(opts: &MkfsOptions, dev_bytes: u64) -> Result<(Geometry, Option<u64>), MkfsError> {
    let provisional_bs = u64::from(opts.block_size.unwrap_or(1024));
    let bytes = opts
        .blocks
        .map_or(dev_bytes, |b| b.saturating_mul(provisional_bs));
    let usage = opts
        .usage_type
        .clone()
        .unwrap_or_else(|| params::usage_type_for(bytes).to_string());
    let (usage_bs, usage_ratio) = params::usage_type(&usage)?;
    let bs = opts.block_size.unwrap_or(usage_bs);
    if !(1024..=65536).contains(&bs) || !bs.is_power_of_two() {
        return Err(MkfsError::Usage(format!("invalid block size - {bs}")));
    }
    let dev_blocks = dev_bytes / u64::from(bs);
    let blocks = match opts.blocks {
        Some(b) if b > dev_blocks => {
            return Err(MkfsError::Usage(
                "Filesystem larger than apparent device size.".into(),
            ));
        }
        Some(b) => b,
        None => dev_blocks,
    };
    let ratio = opts
        .bytes_per_inode
        .unwrap_or(usage_ratio)
        .max(u64::from(bs));
    let mut features = opts.kind.default_features();
    if let Some(list) = &opts.features {
        features.edit(list)?;
    }
    if features.ro_compat(RO_COMPAT_METADATA_CSUM) {
        features.ro_compat &= !RO_COMPAT_GDT_CSUM;
    }
    if blocks > u64::from(u32::MAX) {
        features.compat &= !COMPAT_RESIZE_INODE;
    }
    // mke2fs keeps extra_isize even with 128-byte inodes (they have no extra fields).
    let inode_size = opts.inode_size.unwrap_or(256);
    if let Some(name) = features.unsupported() {
        return Err(MkfsError::Unsupported(format!(
            "rfish cannot create filesystems with the {name} feature yet"
        )));
    }
    let inodes = opts
        .inodes
        .unwrap_or_else(|| (u128::from(blocks) * u128::from(bs) / u128::from(ratio)) as u64);
    let mut geo = Geometry::compute(&Request {
        blocks,
        block_size: bs,
        inode_size,
        inodes,
        reserved_percent: opts.reserved_percent.unwrap_or(5.0),
        blocks_per_group: opts.blocks_per_group.unwrap_or(0),
        features,
    })?;
    let mut journal = None;
    if geo.features.compat(COMPAT_HAS_JOURNAL) {
        journal = match opts.journal_mib {
            Some(mib) => {
                let j = mib * (1 << 20) / u64::from(bs);
                if !(1024..=10_240_000).contains(&j) || j > geo.blocks / 2 {
                    return Err(MkfsError::Usage(format!(
                        "The total requested journal size is {j} blocks; it must be\nbetween 1024 and 10240000 blocks and at most half the filesystem.  Aborting."
                    )));
                }
                Some(j)
            }
            None => params::default_journal_blocks(geo.blocks),
        };
        if journal.is_none() {
            geo.features.compat &= !COMPAT_HAS_JOURNAL;
        }
    }
    Ok((geo, journal))
}

/// Make the filesystem on `dev`.
pub fn make(dev: &dyn BlockDev, opts: &MkfsOptions) -> Result<Geometry, MkfsError> {
    if let Some(label) = &opts.label
        && label.len() > 16
    {
        return Err(MkfsError::Usage(format!(
            "{label}: ext2 labels are limited to 16 bytes"
        )));
    }
    let (geo, journal_blocks) = plan(opts, dev.size())?;
    let now = opts.now.unwrap_or_else(now_secs);
    let uuid = opts.uuid.unwrap_or_else(random_uuid);
    let hash_seed = opts.hash_seed.unwrap_or_else(random_uuid);
    let f = geo.features;
    let metadata_csum = f.ro_compat(RO_COMPAT_METADATA_CSUM);
    let csum_groups = metadata_csum || f.ro_compat(RO_COMPAT_GDT_CSUM);
    // With metadata_csum_seed the same value is also stored in the superblock.
    let seed = metadata_csum.then(|| crate::fs::ext4::checksum::crc32c_raw(!0, &uuid));
    let c = Csum {
        seed,
        filetype: f.incompat(INCOMPAT_FILETYPE),
        extents: f.incompat(INCOMPAT_EXTENTS),
    };

    let mut alloc = tables::Allocator::new(&geo);
    let tables = alloc.allocate_tables()?;
    let mut overhead = alloc.used.count_in(0, geo.blocks);
    let (mut inodes, mut blocks) = files::root_and_lost_found(&mut alloc, c, now)?;
    if f.compat(COMPAT_RESIZE_INODE) {
        let (rec, b) = files::resize_inode(&mut alloc, now)?;
        inodes.push(rec);
        blocks.extend(b);
    }
    let mut journal_backup = None;
    if let Some(jb) = journal_blocks {
        let (rec, b, data) = files::journal(&mut alloc, c, jb, &uuid, now)?;
        overhead += data;
        let mut i_block = [0u8; 60];
        i_block.copy_from_slice(&rec.raw[0x28..0x64]);
        journal_backup = Some((i_block, jb * u64::from(geo.block_size)));
        inodes.push(rec);
        blocks.extend(b);
    }
    // The bad-blocks inode carries times only; reserved inodes 3..=10 are empty.
    let mut bad = InodeRec::zeroed(1, geo.inode_size);
    bad.set_times(now);
    inodes.push(bad);
    for ino in [3u32, 4, 5, 6, 9, 10] {
        inodes.push(InodeRec::zeroed(ino, geo.inode_size));
    }
    if journal_blocks.is_none() {
        inodes.push(InodeRec::zeroed(8, geo.inode_size));
    }
    if !f.compat(COMPAT_RESIZE_INODE) {
        inodes.push(InodeRec::zeroed(7, geo.inode_size));
    }

    // Group descriptors.
    let ipg = geo.inodes_per_group;
    let mut descs = Vec::with_capacity(geo.groups as usize);
    let mut free_blocks_total = 0u64;
    let mut free_inodes_total = 0u64;
    for g in 0..geo.groups {
        let (start, end) = (geo.group_first(g), geo.group_last(g) + 1);
        let free = (end - start) - alloc.used.count_in(start, end);
        let first_ino = g * ipg + 1;
        let used_inodes = 11u32.saturating_sub(first_ino - 1).min(ipg);
        let dirs = [2u32, 11].iter().filter(|&&i| (i - 1) / ipg == g).count() as u32;
        let mut flags = 0u16;
        if csum_groups {
            if used_inodes == 0 {
                flags |= 1; // INODE_UNINIT
            }
            if g + 1 != geo.groups && !alloc.touched[g as usize] {
                flags |= 2; // BLOCK_UNINIT
            }
        }
        // mke2fs records zeroed inode tables even without group checksums.
        flags |= 4; // ITABLE_ZEROED
        free_blocks_total += free;
        free_inodes_total += u64::from(ipg - used_inodes);
        descs.push(GroupDesc {
            block_bitmap: tables[g as usize].block_bitmap,
            inode_bitmap: tables[g as usize].inode_bitmap,
            inode_table: tables[g as usize].inode_table,
            free_blocks: free as u32,
            free_inodes: ipg - used_inodes,
            used_dirs: dirs,
            flags,
            itable_unused: if csum_groups { ipg - used_inodes } else { 0 },
            checksum: 0,
        });
    }

    let info = SuperInfo {
        uuid,
        hash_seed,
        label: opts.label.clone().unwrap_or_default().into_bytes(),
        last_mounted: opts.last_mounted.clone().unwrap_or_default().into_bytes(),
        now,
        free_blocks: free_blocks_total,
        free_inodes: free_inodes_total as u32,
        journal_backup,
        overhead,
        kbytes_written: 0,
    };
    let primary = superblock_new::encode(&geo, &info, 0);
    let sb = Superblock::parse(primary.clone(), dev.size())?;

    // Bitmaps and descriptors.
    let bs = geo.block_size as usize;
    let mut out: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
    let mut gdt = vec![0u8; geo.desc_blocks as usize * bs];
    let dsz = usize::from(geo.desc_size);
    for g in 0..geo.groups {
        let d = &descs[g as usize];
        let raw = &mut gdt[g as usize * dsz..(g as usize + 1) * dsz];
        if d.flags & 2 == 0 {
            let bitmap = block_bitmap(&geo, &alloc.used, g);
            if let Some(seed) = seed {
                let sum = crate::fs::ext4::checksum::crc32c_raw(
                    seed,
                    &bitmap[..geo.blocks_per_group as usize / 8],
                );
                raw[0x18..0x1a].copy_from_slice(&(sum as u16).to_le_bytes());
                if dsz >= 64 {
                    raw[0x38..0x3a].copy_from_slice(&((sum >> 16) as u16).to_le_bytes());
                }
            }
            out.insert(d.block_bitmap, bitmap);
        }
        if d.flags & 1 == 0 {
            let mut bitmap = vec![0xffu8; bs];
            bitmap[..ipg as usize / 8].fill(0);
            let used = 11u32.saturating_sub(g * ipg).min(ipg);
            for i in 0..used as usize {
                bitmap[i / 8] |= 1 << (i % 8);
            }
            if let Some(seed) = seed {
                let sum = crate::fs::ext4::checksum::crc32c_raw(seed, &bitmap[..ipg as usize / 8]);
                raw[0x1a..0x1c].copy_from_slice(&(sum as u16).to_le_bytes());
                if dsz >= 64 {
                    raw[0x3a..0x3c].copy_from_slice(&((sum >> 16) as u16).to_le_bytes());
                }
            }
            out.insert(d.inode_bitmap, bitmap);
        }
        group_desc::encode(&sb, g, raw, d);
    }
    for (b, data) in blocks {
        out.insert(b, data);
    }

    // Write: zero the device, then superblocks, descriptors, bitmaps, files, inodes.
    dev.write_zeroes(0, dev.size())?;
    let bs64 = u64::from(geo.block_size);
    for g in 0..geo.groups {
        if !geo.has_super(g) {
            continue;
        }
        let first = geo.group_first(g);
        if g == 0 {
            dev.write_at(&primary, 1024)?;
        } else {
            dev.write_at(&superblock_new::encode(&geo, &info, g), first * bs64)?;
        }
        dev.write_at(&gdt, (first + 1) * bs64)?;
    }
    for (b, data) in &out {
        dev.write_at(data, b * bs64)?;
    }
    for mut rec in inodes {
        rec.seal(seed);
        let g = (rec.ino - 1) / ipg;
        let index = u64::from((rec.ino - 1) % ipg);
        let at = descs[g as usize].inode_table * bs64 + index * u64::from(geo.inode_size);
        dev.write_at(&rec.raw, at)?;
    }
    dev.flush()?;
    Ok(geo)
}

/// Group `g`'s block bitmap: its used blocks, and the bits past the group's end set.
fn block_bitmap(geo: &Geometry, used: &used::UsedBlocks, g: u32) -> Vec<u8> {
    let bs = geo.block_size as usize;
    let mut bitmap = vec![0u8; bs];
    let start = geo.group_first(g);
    let end = geo.group_last(g) + 1;
    let set = |bitmap: &mut [u8], i: u64| bitmap[(i / 8) as usize] |= 1 << (i % 8);
    for (s, e) in used.ranges_in(start, end) {
        for b in s..e {
            set(&mut bitmap, b - start);
        }
    }
    for i in (end - start)..(bs as u64 * 8) {
        set(&mut bitmap, i);
    }
    bitmap
}
