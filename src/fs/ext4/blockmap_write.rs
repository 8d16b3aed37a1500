//! Writing ext2/ext3 block maps (Documentation/filesystems/ext4/blockmap.rst). The map
//! of an inode being changed is read whole into the same run list extent trees use, and
//! written back position by position: each indirect block keeps its physical block while
//! it still maps something (so an append rewrites only the last indirect block), new
//! ones are allocated near the data, empty ones are freed, and a block whose pointers did
//! not change is not written again.

use std::collections::{BTreeMap, HashSet};

use crate::bytes::le32;
use crate::fs::{Errno, FsError, FsResult};

use super::extent::Run;
use super::extent_write::ExtentMap;
use super::fs::Ext4;
use super::inode_write::RawInode;

/// Where an indirect block sits in the tree: its level below i_block (1 = the single
/// indirect block, 2 = double, 3 = triple) and its path of entry indexes.
pub type IndirectKey = (u8, u8, u32, u32);

fn bad(ino: u32, detail: String) -> FsError {
    FsError::corrupt("ext4 block map", format!("inode {ino}: {detail}"))
}

struct Loader<'a> {
    fs: &'a Ext4,
    ino: u32,
    per_block: u64,
    seen: HashSet<u64>,
    map: ExtentMap,
}

impl Loader<'_> {
    fn check(&mut self, ptr: u64, indirect: bool) -> FsResult<()> {
        if ptr >= self.fs.sb.blocks_count || ptr < u64::from(self.fs.sb.first_data_block) {
            return Err(bad(
                self.ino,
                format!("block {ptr} lies outside the filesystem"),
            ));
        }
        if indirect && !self.seen.insert(ptr) {
            return Err(bad(
                self.ino,
                format!("indirect block {ptr} is referenced twice"),
            ));
        }
        Ok(())
    }

    fn data(&mut self, logical: u64, ptr: u64) -> FsResult<()> {
        if ptr == 0 {
            return Ok(());
        }
        self.check(ptr, false)?;
        if let Some(last) = self.map.runs.last_mut()
            && last.logical + last.len == logical
            && last.physical + last.len == ptr
        {
            last.len += 1;
            return Ok(());
        }
        self.map.runs.push(Run {
            logical,
            physical: ptr,
            len: 1,
            uninit: false,
        });
        Ok(())
    }

    /// Indirect block `ptr` of depth `level` at tree position `key`, mapping from `first`.
    fn indirect(&mut self, key: IndirectKey, level: u32, first: u64, ptr: u64) -> FsResult<()> {
        if ptr == 0 {
            return Ok(());
        }
        self.check(ptr, true)?;
        self.map.nodes.push(ptr);
        self.map.indirect.insert(key, ptr);
        let block = self.fs.read_block(ptr)?;
        let span = self.per_block.pow(level - 1);
        for i in 0..self.per_block {
            let child = le32(&block, (i * 4) as usize);
            let start = first + i * span;
            if level == 1 {
                self.data(start, child)?;
            } else {
                let key = child_key(key, i as u32);
                self.indirect(key, level - 1, start, child)?;
            }
        }
        Ok(())
    }
}

/// The key of entry `i` of the indirect block at `key`.
fn child_key(key: IndirectKey, i: u32) -> IndirectKey {
    let (root, depth, a, _) = key;
    match depth {
        0 => (root, 1, i, 0),
        _ => (root, 2, a, i),
    }
}

/// First logical block each i_block slot (12, 13, 14) maps, and the levels below it.
fn roots(per_block: u64) -> [(usize, u32, u64); 3] {
    let p = per_block;
    [(12, 1, 12), (13, 2, 12 + p), (14, 3, 12 + p + p * p)]
}

impl Ext4 {
    /// Read an inode's whole block map (every indirect block, not only those below the
    /// file size, so none is leaked when the map is rewritten).
    pub(super) fn load_block_map(&self, inode: &RawInode) -> FsResult<ExtentMap> {
        let per_block = u64::from(self.sb.block_size / 4);
        let mut loader = Loader {
            fs: self,
            ino: inode.ino,
            per_block,
            seen: HashSet::new(),
            map: ExtentMap::default(),
        };
        let iblock = inode.block().to_vec();
        for i in 0..12 {
            loader.data(i as u64, le32(&iblock, i * 4))?;
        }
        for (slot, level, first) in roots(per_block) {
            let ptr = le32(&iblock, slot * 4);
            loader.indirect((slot as u8, 0, 0, 0), level, first, ptr)?;
        }
        let mut map = loader.map;
        map.merge();
        Ok(map)
    }

    /// Write `map` back as the inode's block map (the record is only edited in memory).
    pub(super) fn store_block_map(
        &self,
        inode: &mut RawInode,
        map: &mut ExtentMap,
        goal: u64,
    ) -> FsResult<()> {
        let per_block = u64::from(self.sb.block_size / 4);
        let max = 12 + per_block + per_block * per_block + per_block.pow(3);
        if let Some(last) = map.runs.last()
            && last.logical + last.len > max
        {
            return Err(Errno::TooBig.into());
        }
        if map.runs.iter().any(|r| r.physical + r.len > 1 << 32) {
            return Err(FsError::corrupt(
                "ext4 block map",
                "a block above 2^32 cannot be block-mapped".to_string(),
            ));
        }
        let mut writer = Writer {
            fs: self,
            runs: &map.runs,
            per_block,
            goal,
            old: std::mem::take(&mut map.indirect),
            new: BTreeMap::new(),
        };
        let mut iblock = [0u8; 60];
        for l in 0..12u64 {
            let p = writer.pointer(l);
            iblock[l as usize * 4..l as usize * 4 + 4].copy_from_slice(&p.to_le_bytes());
        }
        for (slot, level, first) in roots(per_block) {
            let p = writer.node((slot as u8, 0, 0, 0), level, first)?;
            iblock[slot * 4..slot * 4 + 4].copy_from_slice(&(p as u32).to_le_bytes());
        }
        let Writer { old, new, .. } = writer;
        for (key, block) in old {
            if !new.contains_key(&key) {
                self.free_blocks(block, 1)?;
            }
        }
        inode.block_mut().copy_from_slice(&iblock);
        map.nodes = new.values().copied().collect();
        map.indirect = new;
        self.invalidate(inode.ino);
        Ok(())
    }
}

struct Writer<'a> {
    fs: &'a Ext4,
    runs: &'a [Run],
    per_block: u64,
    goal: u64,
    old: BTreeMap<IndirectKey, u64>,
    new: BTreeMap<IndirectKey, u64>,
}

impl Writer<'_> {
    /// The physical block of logical block `l` (0 for a hole).
    fn pointer(&self, l: u64) -> u32 {
        let i = self.runs.partition_point(|r| r.logical + r.len <= l);
        match self.runs.get(i) {
            Some(r) if r.logical <= l => (r.physical + (l - r.logical)) as u32,
            _ => 0,
        }
    }

    /// Is anything mapped in logical blocks `[lo, hi)`?
    fn mapped(&self, lo: u64, hi: u64) -> bool {
        let i = self.runs.partition_point(|r| r.logical + r.len <= lo);
        self.runs.get(i).is_some_and(|r| r.logical < hi)
    }

    /// Write the indirect block at `key` (depth `level`) mapping from `first`; returns its
    /// block, or 0 when nothing below it is mapped.
    fn node(&mut self, key: IndirectKey, level: u32, first: u64) -> FsResult<u64> {
        let span = self.per_block.pow(level - 1);
        if !self.mapped(first, first + span * self.per_block) {
            return Ok(0);
        }
        let mut content = vec![0u8; self.fs.sb.block_size as usize];
        for i in 0..self.per_block {
            let start = first + i * span;
            let p = if level == 1 {
                u64::from(self.pointer(start))
            } else {
                self.node(child_key(key, i as u32), level - 1, start)?
            };
            content[i as usize * 4..i as usize * 4 + 4].copy_from_slice(&(p as u32).to_le_bytes());
        }
        let bs = u64::from(self.fs.sb.block_size);
        let block = match self.old.get(&key) {
            Some(&b) => {
                let before = self.fs.read_block(b)?;
                if before[..] != content[..] {
                    self.fs.device().write_at(&content, b * bs)?;
                }
                b
            }
            None => {
                let goal = match self.pointer(first) {
                    0 => self.goal,
                    p => u64::from(p).saturating_sub(1),
                };
                let (b, _) = self.fs.alloc_blocks(goal, 1)?;
                self.fs.device().write_at(&content, b * bs)?;
                b
            }
        };
        self.new.insert(key, block);
        Ok(block)
    }
}
