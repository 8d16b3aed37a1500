//! Writing extent trees. The tree of an inode being changed is read whole (its extents
//! and the blocks holding its nodes), the extent list is edited, and the tree is rebuilt
//! in the narrowest, shallowest shape that holds it — up to four extents in the inode,
//! else full leaf blocks under as few index levels as needed — reusing the inode's old
//! node blocks first. The result is always a tree e2fsck accepts and cannot make
//! narrower or shallower; the cost is linear in the number of extents, which merging
//! adjacent runs keeps small.

use std::collections::HashSet;

use crate::fs::{FsError, FsResult};

use super::checksum::crc32c_raw;
use super::extent::Run;
use super::fs::Ext4;
use super::inode_write::RawInode;

const MAGIC: u16 = 0xf30a;
/// Longest initialized extent.
const MAX_INIT: u64 = 32768;
/// Longest uninitialized extent.
const MAX_UNINIT: u64 = 32767;
/// Entries in the root node inside `i_block`.
const ROOT_ENTRIES: usize = 4;

fn bad(ino: u32, detail: String) -> FsError {
    FsError::corrupt("ext4 extent tree", format!("inode {ino}: {detail}"))
}

/// An empty tree root in `i_block`.
pub fn init_root(iblock: &mut [u8]) {
    iblock.fill(0);
    header(iblock, 0, ROOT_ENTRIES as u16, 0);
}

fn header(node: &mut [u8], entries: u16, max: u16, depth: u16) {
    node[0..2].copy_from_slice(&MAGIC.to_le_bytes());
    node[2..4].copy_from_slice(&entries.to_le_bytes());
    node[4..6].copy_from_slice(&max.to_le_bytes());
    node[6..8].copy_from_slice(&depth.to_le_bytes());
    node[8..12].fill(0);
}

/// An inode's tree, read for editing.
#[derive(Debug, Default)]
pub struct ExtentMap {
    /// The extents, in logical order.
    pub runs: Vec<Run>,
    /// The blocks holding the tree's nodes below the root (extent blocks, or a block
    /// map's indirect blocks).
    pub nodes: Vec<u64>,
    /// A block map's indirect blocks by their place in the tree (empty for extents).
    pub indirect: std::collections::BTreeMap<super::blockmap_write::IndirectKey, u64>,
}

impl ExtentMap {
    /// The run holding logical block `lblk`, if any.
    pub fn find(&self, lblk: u64) -> Option<Run> {
        let i = self.runs.partition_point(|r| r.logical + r.len <= lblk);
        self.runs.get(i).copied().filter(|r| r.logical <= lblk)
    }

    /// Insert a run that overlaps nothing, merging with contiguous neighbours.
    pub fn insert(&mut self, run: Run) {
        let i = self.runs.partition_point(|r| r.logical < run.logical);
        self.runs.insert(i, run);
        self.merge();
    }

    /// Merge runs that continue each other (same state, physically contiguous).
    pub fn merge(&mut self) {
        let mut out: Vec<Run> = Vec::with_capacity(self.runs.len());
        for r in self.runs.drain(..) {
            if let Some(last) = out.last_mut() {
                if last.uninit == r.uninit
                    && last.logical + last.len == r.logical
                    && last.physical + last.len == r.physical
                {
                    last.len += r.len;
                    continue;
                }
            }
            out.push(r);
        }
        self.runs = out;
    }

    /// Remove every block from logical block `from` on; returns the freed physical runs.
    pub fn truncate(&mut self, from: u64) -> Vec<(u64, u64)> {
        let mut freed = Vec::new();
        let mut kept = Vec::with_capacity(self.runs.len());
        for r in self.runs.drain(..) {
            if r.logical + r.len <= from {
                kept.push(r);
            } else if r.logical >= from {
                freed.push((r.physical, r.len));
            } else {
                let keep = from - r.logical;
                freed.push((r.physical + keep, r.len - keep));
                kept.push(Run { len: keep, ..r });
            }
        }
        self.runs = kept;
        freed
    }

    /// Data blocks mapped.
    pub fn data_blocks(&self) -> u64 {
        self.runs.iter().map(|r| r.len).sum()
    }
}

impl Ext4 {
    fn node_seed(&self, inode: &RawInode) -> u32 {
        let s = crc32c_raw(self.sb.csum_seed, &inode.ino.to_le_bytes());
        crc32c_raw(s, &inode.generation().to_le_bytes())
    }

    /// Read inode's whole extent tree (or block map: the same runs).
    pub(super) fn load_extents(&self, inode: &RawInode) -> FsResult<ExtentMap> {
        if inode.flags() & super::inode::FLAG_INLINE_DATA != 0 {
            // Inline data has no map: callers convert it out first (uninline).
            return Err(crate::fs::Errno::NotSupported.into());
        }
        if inode.flags() & super::inode::FLAG_EXTENTS == 0 {
            return self.load_block_map(inode);
        }
        let mut map = ExtentMap::default();
        let mut seen = HashSet::new();
        self.load_node(inode, inode.block(), None, &mut seen, &mut map)?;
        for w in map.runs.windows(2) {
            if w[0].logical + w[0].len > w[1].logical {
                return Err(bad(inode.ino, "extents overlap".into()));
            }
        }
        Ok(map)
    }

    fn load_node(
        &self,
        inode: &RawInode,
        node: &[u8],
        expect_depth: Option<u64>,
        seen: &mut HashSet<u64>,
        map: &mut ExtentMap,
    ) -> FsResult<()> {
        let ino = inode.ino;
        let (entries, depth) = super::extent::check_header(node, ino, expect_depth)?;
        for i in 0..entries {
            let e = &node[12 + i * 12..24 + i * 12];
            if depth == 0 {
                let (logical, physical, len, uninit) = super::extent::decode_leaf(e);
                if len == 0 || physical + len > self.sb.blocks_count {
                    return Err(bad(
                        ino,
                        format!("extent at block {physical} is outside the filesystem"),
                    ));
                }
                map.runs.push(Run {
                    logical,
                    physical,
                    len,
                    uninit,
                });
            } else {
                let child = super::extent::decode_index(e);
                if !seen.insert(child) {
                    return Err(bad(
                        ino,
                        format!("extent block {child} is referenced twice"),
                    ));
                }
                map.nodes.push(child);
                let block = self.read_block(child)?;
                self.load_node(inode, &block, Some(depth - 1), seen, map)?;
            }
        }
        Ok(())
    }

    /// Write `map` back as the inode's tree (the inode record itself is only edited in
    /// memory: the caller writes it). Node blocks no longer needed are freed; new ones are
    /// allocated near `goal`.
    pub(super) fn store_extents(
        &self,
        inode: &mut RawInode,
        map: &mut ExtentMap,
        goal: u64,
    ) -> FsResult<()> {
        if inode.flags() & super::inode::FLAG_EXTENTS == 0 {
            return self.store_block_map(inode, map, goal);
        }
        // Split runs into extents of legal length.
        let mut extents: Vec<Run> = Vec::with_capacity(map.runs.len());
        for r in &map.runs {
            let limit = if r.uninit { MAX_UNINIT } else { MAX_INIT };
            let mut done = 0;
            while done < r.len {
                let n = (r.len - done).min(limit);
                extents.push(Run {
                    logical: r.logical + done,
                    physical: r.physical + done,
                    len: n,
                    uninit: r.uninit,
                });
                done += n;
            }
        }
        if let Some(last) = extents.last() {
            if last.logical + last.len > 1 << 32 {
                return Err(crate::fs::Errno::TooBig.into());
            }
        }
        let bs = self.sb.block_size as usize;
        let per_block = (bs - 12) / 12;
        // Level 0: the leaves' entries; each level up indexes the one below.
        let mut levels: Vec<Vec<[u8; 12]>> = vec![extents.iter().map(encode_extent).collect()];
        let mut firsts: Vec<Vec<u64>> = vec![extents.iter().map(|e| e.logical).collect()];
        let mut old_nodes: Vec<u64> = std::mem::take(&mut map.nodes);
        let mut new_nodes: Vec<u64> = Vec::new();
        loop {
            let current = levels.last().expect("a level");
            if current.len() <= ROOT_ENTRIES {
                break;
            }
            let depth = (levels.len() - 1) as u16;
            let chunks: Vec<(Vec<[u8; 12]>, u64)> = current
                .chunks(per_block)
                .zip(firsts.last().expect("firsts").chunks(per_block))
                .map(|(c, f)| (c.to_vec(), f[0]))
                .collect();
            let mut index = Vec::with_capacity(chunks.len());
            let mut index_firsts = Vec::with_capacity(chunks.len());
            for (entries, first_logical) in chunks {
                let block = match old_nodes.pop() {
                    Some(b) => b,
                    None => self.alloc_blocks(goal, 1)?.0,
                };
                new_nodes.push(block);
                let mut node = vec![0u8; bs];
                header(&mut node, entries.len() as u16, per_block as u16, depth);
                for (i, e) in entries.iter().enumerate() {
                    node[12 + i * 12..24 + i * 12].copy_from_slice(e);
                }
                if self.metadata_csum() {
                    let at = 12 + per_block * 12;
                    let sum = crc32c_raw(self.node_seed(inode), &node[..at]);
                    node[at..at + 4].copy_from_slice(&sum.to_le_bytes());
                }
                self.device()
                    .write_at(&node, block * self.sb.block_size as u64)?;
                index.push(encode_index(first_logical, block));
                index_firsts.push(first_logical);
            }
            levels.push(index);
            firsts.push(index_firsts);
        }
        for b in old_nodes {
            self.free_blocks(b, 1)?;
        }
        let root = levels.last().expect("root level");
        let depth = (levels.len() - 1) as u16;
        let iblock = inode.block_mut();
        iblock.fill(0);
        header(iblock, root.len() as u16, ROOT_ENTRIES as u16, depth);
        for (i, e) in root.iter().enumerate() {
            iblock[12 + i * 12..24 + i * 12].copy_from_slice(e);
        }
        map.runs = extents;
        map.merge();
        map.nodes = new_nodes;
        self.invalidate(inode.ino);
        Ok(())
    }
}

fn encode_extent(r: &Run) -> [u8; 12] {
    let mut e = [0u8; 12];
    e[0..4].copy_from_slice(&(r.logical as u32).to_le_bytes());
    let len = if r.uninit { r.len + MAX_INIT } else { r.len };
    e[4..6].copy_from_slice(&(len as u16).to_le_bytes());
    e[6..8].copy_from_slice(&((r.physical >> 32) as u16).to_le_bytes());
    e[8..12].copy_from_slice(&(r.physical as u32).to_le_bytes());
    e
}

fn encode_index(logical: u64, block: u64) -> [u8; 12] {
    let mut e = [0u8; 12];
    e[0..4].copy_from_slice(&(logical as u32).to_le_bytes());
    e[4..8].copy_from_slice(&(block as u32).to_le_bytes());
    e[8..10].copy_from_slice(&((block >> 32) as u16).to_le_bytes());
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(logical: u64, physical: u64, len: u64) -> Run {
        Run {
            logical,
            physical,
            len,
            uninit: false,
        }
    }

    #[test]
    fn runs_merge_and_truncate() {
        let mut m = ExtentMap::default();
        m.insert(run(0, 100, 2));
        m.insert(run(2, 102, 3));
        m.insert(run(10, 500, 4));
        assert_eq!(m.runs, vec![run(0, 100, 5), run(10, 500, 4)]);
        assert_eq!(m.find(12), Some(run(10, 500, 4)));
        assert_eq!(m.find(7), None);
        let freed = m.truncate(3);
        assert_eq!(freed, vec![(103, 2), (500, 4)]);
        assert_eq!(m.runs, vec![run(0, 100, 3)]);
        assert_eq!(m.data_blocks(), 3);
    }
}
