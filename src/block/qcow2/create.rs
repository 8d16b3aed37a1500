//! Creating new qcow2 images (what `qemu-img create -f qcow2` writes): header in cluster
//! 0, then the refcount table, the refcount blocks that count the metadata, and a zeroed
//! L1 table; data clusters are allocated on first write.

use std::fs::File;
use std::os::unix::fs::FileExt;

use super::header::NewHeader;
use super::refcount;
use crate::block::{BlockError, Result};

/// Options for a new qcow2 image.
#[derive(Debug, Clone)]
pub struct NewImage {
    /// 2 (compat 0.10) or 3 (compat 1.1).
    pub version: u32,
    /// log2 of the cluster size (9..=21).
    pub cluster_bits: u32,
    /// Virtual size in bytes.
    pub size: u64,
    /// Backing file name to record.
    pub backing_file: Option<String>,
    /// Backing file format to record.
    pub backing_format: Option<String>,
}

/// Write a new, empty qcow2 image into `file` (truncated first).
pub fn create(file: &File, img: &NewImage) -> Result<()> {
    let io = |e| BlockError::io("write new qcow2 image", e);
    let cs = 1u64 << img.cluster_bits;
    let l2_entries = cs / 8;
    let l1_size = img.size.div_ceil(l2_entries * cs);
    if l1_size * 8 > 32 << 20 {
        return Err(BlockError::Unsupported(format!(
            "a virtual size of {} bytes needs an L1 table over 32 MiB; use a larger cluster size",
            img.size
        )));
    }
    let l1_clusters = (l1_size * 8).div_ceil(cs).max(1);
    let order = 4;
    let per = refcount::entries_per_block(cs, order);
    // Solve for the refcount table and blocks that count themselves.
    let mut blocks = 1u64;
    let mut rt_clusters = 1u64;
    loop {
        let meta = 1 + rt_clusters + blocks + l1_clusters;
        let need_blocks = meta.div_ceil(per);
        let need_rt = (need_blocks * 8).div_ceil(cs);
        if need_blocks == blocks && need_rt == rt_clusters {
            break;
        }
        blocks = need_blocks;
        rt_clusters = need_rt;
    }
    let rt_offset = cs;
    let blocks_offset = rt_offset + rt_clusters * cs;
    let l1_offset = blocks_offset + blocks * cs;
    let meta = 1 + rt_clusters + blocks + l1_clusters;

    file.set_len(0).map_err(io)?;
    let mut first = vec![0u8; cs as usize];
    NewHeader {
        version: img.version,
        cluster_bits: img.cluster_bits,
        size: img.size,
        l1_size,
        l1_table_offset: l1_offset,
        refcount_table_offset: rt_offset,
        refcount_table_clusters: rt_clusters,
        backing_file: img.backing_file.as_deref(),
        backing_format: img.backing_format.as_deref(),
    }
    .write(&mut first)?;
    file.write_all_at(&first, 0).map_err(io)?;
    let table: Vec<u8> = (0..blocks)
        .flat_map(|b| (blocks_offset + b * cs).to_be_bytes())
        .collect();
    file.write_all_at(&table, rt_offset).map_err(io)?;
    for b in 0..blocks {
        let mut block = vec![0u8; cs as usize];
        for c in b * per..((b + 1) * per).min(meta) {
            refcount::set(&mut block, order, (c - b * per) as usize, 1)?;
        }
        file.write_all_at(&block, blocks_offset + b * cs)
            .map_err(io)?;
    }
    file.set_len(l1_offset + l1_clusters * cs).map_err(io)?;
    file.sync_all().map_err(io)?;
    Ok(())
}
