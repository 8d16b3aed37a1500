//! Changing directories (Documentation/filesystems/ext4/directory.rst): inserting an entry
//! into the first gap that fits (splitting a live entry's slack, or reusing a deleted
//! slot), appending a block when none does, removing by merging an entry into its
//! predecessor; hashed (htree) directories insert into the leaf their index picks and
//! split a full leaf by hash, growing the index (a new index level under the root, or a
//! split index node) when it fills. Leaf blocks keep their checksum tail, index blocks
//! their dx tail. New directories get `.` and `..` in one block.

use crate::bytes::{le16, le32};
use crate::fs::{Errno, FileType, FsError, FsResult};

use super::checksum::crc32c_raw;
use super::dirhash::{HashVersion, dx_hash_pair};
use super::extent_write::ExtentMap;
use super::fs::Ext4;
use super::inode::FLAG_INDEX;
use super::inode_write::RawInode;

/// The file_type byte for a kind.
pub fn kind_byte(kind: FileType) -> u8 {
    match kind {
        FileType::Regular => 1,
        FileType::Directory => 2,
        FileType::CharDevice => 3,
        FileType::BlockDevice => 4,
        FileType::Fifo => 5,
        FileType::Socket => 6,
        FileType::Symlink => 7,
        FileType::Unknown => 0,
    }
}

/// Bytes an entry with a name of `len` bytes needs.
fn needed(len: usize) -> usize {
    (8 + len + 3) & !3
}

fn bad(ino: u32, detail: String) -> FsError {
    FsError::corrupt("ext4 directory", format!("directory inode {ino}: {detail}"))
}

/// One live entry of a leaf block, for splitting.
struct Entry {
    ino: u32,
    kind: u8,
    name: Vec<u8>,
    hash: (u32, u32),
}

impl Ext4 {
    fn dir_seed(&self, dir: &RawInode) -> u32 {
        let s = crc32c_raw(self.sb.csum_seed, &dir.ino.to_le_bytes());
        crc32c_raw(s, &dir.generation().to_le_bytes())
    }

    fn filetype(&self) -> bool {
        self.sb.incompat & super::superblock::INCOMPAT_FILETYPE != 0
    }

    /// Usable bytes of a leaf block (the checksum tail excluded).
    fn leaf_end(&self) -> usize {
        let bs = self.sb.block_size as usize;
        if self.metadata_csum() { bs - 12 } else { bs }
    }

    /// Write a leaf block, with its checksum tail.
    fn write_leaf(&self, dir: &RawInode, pblk: u64, block: &mut [u8]) -> FsResult<()> {
        if self.metadata_csum() {
            let t = block.len() - 12;
            block[t..t + 4].fill(0);
            block[t + 4..t + 6].copy_from_slice(&12u16.to_le_bytes());
            block[t + 6] = 0;
            block[t + 7] = 0xde;
            let sum = crc32c_raw(self.dir_seed(dir), &block[..t]);
            block[t + 8..t + 12].copy_from_slice(&sum.to_le_bytes());
        }
        self.device()
            .write_at(block, pblk * u64::from(self.sb.block_size))?;
        self.invalidate(dir.ino);
        Ok(())
    }

    /// Write an index block whose count/limit start at `at`, with its dx tail.
    fn write_dx(&self, dir: &RawInode, pblk: u64, block: &mut [u8], at: usize) -> FsResult<()> {
        if self.metadata_csum() {
            let limit = le16(block, at) as usize;
            let count = le16(block, at + 2) as usize;
            let t = at + limit * 8;
            block[t..t + 8].fill(0);
            let c = crc32c_raw(self.dir_seed(dir), &block[..at + count * 8]);
            let c = crc32c_raw(c, &block[t..t + 4]);
            let sum = crc32c_raw(c, &[0; 4]);
            block[t + 4..t + 8].copy_from_slice(&sum.to_le_bytes());
        }
        self.device()
            .write_at(block, pblk * u64::from(self.sb.block_size))?;
        self.invalidate(dir.ino);
        Ok(())
    }

    fn put_entry(&self, block: &mut [u8], off: usize, ino: u32, rec: usize, name: &[u8], kind: u8) {
        block[off..off + 4].copy_from_slice(&ino.to_le_bytes());
        block[off + 4..off + 6].copy_from_slice(&(rec as u16).to_le_bytes());
        if self.filetype() {
            block[off + 6] = name.len() as u8;
            block[off + 7] = kind;
        } else {
            block[off + 6..off + 8].copy_from_slice(&(name.len() as u16).to_le_bytes());
        }
        block[off + 8..off + 8 + name.len()].copy_from_slice(name);
    }

    fn name_len_at(&self, block: &[u8], off: usize) -> usize {
        if self.filetype() {
            block[off + 6] as usize
        } else {
            le16(block, off + 6) as usize
        }
    }

    /// Try to place an entry in a leaf block; true when it fit.
    fn insert_in_leaf(&self, block: &mut [u8], name: &[u8], ino: u32, kind: u8) -> bool {
        let end = self.leaf_end();
        let want = needed(name.len());
        let mut off = 0;
        while off + 8 <= end {
            let rec = le16(block, off + 4) as usize;
            if rec < 8 || off + rec > end {
                return false;
            }
            let live = le32(block, off) != 0;
            let used = if live {
                needed(self.name_len_at(block, off))
            } else {
                0
            };
            if rec >= used + want {
                if live {
                    block[off + 4..off + 6].copy_from_slice(&(used as u16).to_le_bytes());
                    self.put_entry(block, off + used, ino, rec - used, name, kind);
                } else {
                    self.put_entry(block, off, ino, rec, name, kind);
                }
                return true;
            }
            off += rec;
        }
        false
    }

    /// An empty leaf block holding one entry.
    fn new_leaf(&self, name: &[u8], ino: u32, kind: u8) -> Vec<u8> {
        let mut block = vec![0u8; self.sb.block_size as usize];
        let end = self.leaf_end();
        self.put_entry(&mut block, 0, ino, end, name, kind);
        block
    }

    /// The physical block of directory block `lblk`.
    fn dir_block(&self, map: &ExtentMap, dir: &RawInode, lblk: u64) -> FsResult<u64> {
        map.find(lblk)
            .map(|r| r.physical + (lblk - r.logical))
            .ok_or_else(|| bad(dir.ino, format!("block {lblk} is a hole")))
    }

    /// Append a block to directory `dir` holding `content`; returns its logical number.
    fn append_dir_block(
        &self,
        dir: &mut RawInode,
        map: &mut ExtentMap,
        content: &mut [u8],
        leaf: bool,
    ) -> FsResult<(u64, u64)> {
        let bs = u64::from(self.sb.block_size);
        let lblk = dir.size() / bs;
        let goal = map
            .runs
            .last()
            .map(|r| r.physical + r.len)
            .unwrap_or_else(|| self.group_first_block((dir.ino - 1) / self.sb.inodes_per_group));
        let (pblk, _) = self.alloc_blocks(goal, 1)?;
        map.insert(super::extent::Run {
            logical: lblk,
            physical: pblk,
            len: 1,
            uninit: false,
        });
        self.store_extents(dir, map, goal)?;
        dir.set_size((lblk + 1) * bs);
        self.set_block_count(dir, map)?;
        if leaf {
            self.write_leaf(dir, pblk, content)?;
        }
        Ok((lblk, pblk))
    }

    /// Add `name` → `ino` to directory `dir` (the record is edited in memory; the caller
    /// writes it). The name must not exist yet.
    pub(super) fn dir_add(
        &self,
        dir: &mut RawInode,
        name: &[u8],
        ino: u32,
        kind: FileType,
    ) -> FsResult<()> {
        if dir.flags() & super::inode::FLAG_INLINE_DATA != 0 {
            return Err(Errno::NotSupported.into());
        }
        let kind = kind_byte(kind);
        let mut map = self.load_extents(dir)?;
        if dir.flags() & FLAG_INDEX != 0 && self.sb.compat & 0x20 != 0 {
            return self.dx_add(dir, &mut map, name, ino, kind);
        }
        let bs = u64::from(self.sb.block_size);
        let nblocks = dir.size() / bs;
        for lblk in 0..nblocks {
            let pblk = self.dir_block(&map, dir, lblk)?;
            let mut block = self.read_block(pblk)?;
            if self.insert_in_leaf(&mut block, name, ino, kind) {
                return self.write_leaf(dir, pblk, &mut block);
            }
        }
        // A full one-block directory becomes indexed, as Linux does (make_indexed_dir).
        if nblocks == 1
            && self.sb.compat & 0x20 != 0
            && dir.flags() & super::inode::FLAG_ENCRYPT == 0
        {
            self.make_indexed(dir, &mut map)?;
            return self.dx_add(dir, &mut map, name, ino, kind);
        }
        let mut block = self.new_leaf(name, ino, kind);
        self.append_dir_block(dir, &mut map, &mut block, true)?;
        Ok(())
    }

    /// Turn a one-block directory into an indexed one: its entries, sorted by hash, split
    /// over two new leaf blocks; block 0 becomes the dx root (`.`, `..`, hash version,
    /// no index levels) pointing at them.
    fn make_indexed(&self, dir: &mut RawInode, map: &mut ExtentMap) -> FsResult<()> {
        let bs = self.sb.block_size as usize;
        let root_pblk = self.dir_block(map, dir, 0)?;
        let block = self.read_block(root_pblk)?;
        let version_byte = self.sb.raw[0xfc];
        let version = HashVersion::from_disk(version_byte, self.unsigned_hash)
            .ok_or(FsError::Errno(Errno::NotSupported))?;
        let parent = le32(&block, 12) as u32;
        let mut entries: Vec<Entry> = self
            .leaf_entries(dir, &block, version)?
            .into_iter()
            .filter(|e| e.name != b"." && e.name != b"..")
            .collect();
        let (split, split_hash, continued) = split_by_hash(&mut entries);
        let (low, high) = entries.split_at(split);
        let mut low_block = self.leaf_from(low);
        let mut high_block = self.leaf_from(high);
        let (l1, _) = self.append_dir_block(dir, map, &mut low_block, true)?;
        let (l2, _) = self.append_dir_block(dir, map, &mut high_block, true)?;
        // The dx root: `.` (12 bytes), `..` spanning the rest, then the root info and
        // the index.
        let mut root = vec![0u8; bs];
        self.put_entry(&mut root, 0, dir.ino, 12, b".", 2);
        self.put_entry(&mut root, 12, parent, bs - 12, b"..", 2);
        let info = 0x18;
        root[info..info + 4].fill(0);
        root[info + 4] = version_byte;
        root[info + 5] = 8;
        root[info + 6] = 0;
        root[info + 7] = 0;
        let at = info + 8;
        let tail = if self.metadata_csum() { 8 } else { 0 };
        let limit = (bs - at - tail) / 8;
        root[at..at + 2].copy_from_slice(&(limit as u16).to_le_bytes());
        root[at + 2..at + 4].copy_from_slice(&2u16.to_le_bytes());
        root[at + 4..at + 8].copy_from_slice(&(l1 as u32).to_le_bytes());
        root[at + 8..at + 12].copy_from_slice(&(split_hash | u32::from(continued)).to_le_bytes());
        root[at + 12..at + 16].copy_from_slice(&(l2 as u32).to_le_bytes());
        dir.set_flags(dir.flags() | FLAG_INDEX);
        self.write_dx(dir, root_pblk, &mut root, at)
    }

    /// Remove `name` from directory `dir`; returns the inode it named. An indexed
    /// directory is searched in the leaf its index picks first.
    pub(super) fn dir_remove(&self, dir: &mut RawInode, name: &[u8]) -> FsResult<u32> {
        if dir.flags() & super::inode::FLAG_INLINE_DATA != 0 {
            return Err(Errno::NotSupported.into());
        }
        let map = self.load_extents(dir)?;
        let bs = u64::from(self.sb.block_size);
        let indexed = dir.flags() & FLAG_INDEX != 0 && self.sb.compat & 0x20 != 0;
        if indexed {
            if let Ok(leaf) = self.dx_leaf_for(dir, &map, name) {
                if let Some(ino) = self.remove_in_block(dir, &map, leaf, name)? {
                    return Ok(ino);
                }
            }
        }
        for lblk in 0..dir.size() / bs {
            if indexed && lblk == 0 {
                continue;
            }
            if let Some(ino) = self.remove_in_block(dir, &map, lblk, name)? {
                return Ok(ino);
            }
        }
        Err(Errno::NotFound.into())
    }

    /// The leaf block an indexed directory's index picks for `name`.
    fn dx_leaf_for(&self, dir: &RawInode, map: &ExtentMap, name: &[u8]) -> FsResult<u64> {
        let root = self.read_block(self.dir_block(map, dir, 0)?)?;
        let largedir = self.sb.incompat & 0x4000 != 0;
        let info = super::htree::root(&root, dir.ino, self.unsigned_hash, largedir)?;
        let hash = self.hash_of(dir, info.version, name);
        let seed = self.metadata_csum().then(|| self.dir_seed(dir));
        let mut block = root;
        let mut at = info.entries_at;
        let mut lblk = 0;
        for level in 0..=info.levels {
            let entries = super::htree::entries(&block, at, dir.ino, seed)?;
            lblk = u64::from(entries[super::htree::pick(&entries, hash.0)].1);
            if level < info.levels {
                block = self.read_block(self.dir_block(map, dir, lblk)?)?;
                at = 8;
            }
        }
        Ok(lblk)
    }

    /// Remove `name` from leaf block `lblk` if it is there.
    fn remove_in_block(
        &self,
        dir: &RawInode,
        map: &ExtentMap,
        lblk: u64,
        name: &[u8],
    ) -> FsResult<Option<u32>> {
        let bs = u64::from(self.sb.block_size);
        let end = self.leaf_end();
        let pblk = self.dir_block(map, dir, lblk)?;
        let mut block = self.read_block(pblk)?;
        if dir.flags() & FLAG_INDEX != 0 && le32(&block, 0) == 0 && le16(&block, 4) == bs {
            return Ok(None); // an index node
        }
        let mut prev: Option<usize> = None;
        let mut off = 0;
        while off + 8 <= end {
            let rec = le16(&block, off + 4) as usize;
            if rec < 8 || off + rec > end {
                return Err(bad(dir.ino, format!("block {lblk}: rec_len {rec}")));
            }
            let e_ino = le32(&block, off) as u32;
            let nl = self.name_len_at(&block, off);
            if e_ino != 0 && block.get(off + 8..off + 8 + nl) == Some(name) {
                match prev {
                    Some(p) => {
                        let prec = le16(&block, p + 4) as usize;
                        block[p + 4..p + 6].copy_from_slice(&((prec + rec) as u16).to_le_bytes());
                    }
                    None => block[off..off + 4].fill(0),
                }
                self.write_leaf(dir, pblk, &mut block)?;
                return Ok(Some(e_ino));
            }
            prev = Some(off);
            off += rec;
        }
        Ok(None)
    }

    /// Point the existing entry `name` of `dir` at `ino` (rename over, `..` moves).
    pub(super) fn dir_retarget(
        &self,
        dir: &RawInode,
        name: &[u8],
        ino: u32,
        kind: FileType,
    ) -> FsResult<()> {
        let map = self.load_extents(dir)?;
        let bs = u64::from(self.sb.block_size);
        let end = self.leaf_end();
        for lblk in 0..dir.size() / bs {
            let pblk = self.dir_block(&map, dir, lblk)?;
            let mut block = self.read_block(pblk)?;
            let mut off = 0;
            while off + 8 <= end {
                let rec = le16(&block, off + 4) as usize;
                if rec < 8 || off + rec > end {
                    break;
                }
                let nl = self.name_len_at(&block, off);
                if le32(&block, off) != 0 && block.get(off + 8..off + 8 + nl) == Some(name) {
                    block[off..off + 4].copy_from_slice(&ino.to_le_bytes());
                    if self.filetype() {
                        block[off + 7] = kind_byte(kind);
                    }
                    if dir.flags() & FLAG_INDEX != 0 && lblk == 0 {
                        // `..` of an indexed directory lives in the dx root block.
                        return self.write_dx(dir, pblk, &mut block, 0x20);
                    }
                    return self.write_leaf(dir, pblk, &mut block);
                }
                off += rec;
            }
        }
        Err(Errno::NotFound.into())
    }

    /// Give a new directory its first block with `.` and `..`.
    pub(super) fn init_dir(&self, dir: &mut RawInode, parent: u32) -> FsResult<()> {
        let mut map = ExtentMap::default();
        let mut block = vec![0u8; self.sb.block_size as usize];
        let end = self.leaf_end();
        self.put_entry(&mut block, 0, dir.ino, 12, b".", 2);
        self.put_entry(&mut block, 12, parent, end - 12, b"..", 2);
        self.append_dir_block(dir, &mut map, &mut block, true)?;
        self.set_block_count(dir, &map)
    }

    /// Set i_blocks from the tree's data and node blocks (plus an xattr block).
    pub(super) fn set_block_count(&self, inode: &mut RawInode, map: &ExtentMap) -> FsResult<()> {
        let blocks = map.data_blocks() + map.nodes.len() as u64 + u64::from(inode.file_acl() != 0);
        let huge = self.sb.ro_compat & 0x8 != 0;
        inode.set_blocks_512(
            blocks * u64::from(self.sb.block_size / 512),
            huge,
            self.sb.block_size,
        );
        Ok(())
    }

    /// The live entries of a directory other than `.` and `..`: is it empty?
    pub(super) fn dir_is_empty(&self, ino: u32) -> FsResult<bool> {
        use crate::fs::Filesystem;
        Ok(self.read_dir(u64::from(ino))?.is_empty())
    }

    fn hash_of(&self, dir: &RawInode, version: HashVersion, name: &[u8]) -> (u32, u32) {
        let casefolded =
            dir.flags() & super::inode::FLAG_CASEFOLD != 0 && self.sb.incompat & 0x20000 != 0;
        if casefolded {
            dx_hash_pair(&super::casefold::hash_input(name), version, self.hash_seed)
        } else {
            dx_hash_pair(name, version, self.hash_seed)
        }
    }

    /// Insert into an indexed directory.
    fn dx_add(
        &self,
        dir: &mut RawInode,
        map: &mut ExtentMap,
        name: &[u8],
        ino: u32,
        kind: u8,
    ) -> FsResult<()> {
        let root_pblk = self.dir_block(map, dir, 0)?;
        let mut root = self.read_block(root_pblk)?;
        let largedir = self.sb.incompat & 0x4000 != 0;
        let info = super::htree::root(&root, dir.ino, self.unsigned_hash, largedir)?;
        let hash = self.hash_of(dir, info.version, name);
        let csum = self.metadata_csum();
        let seed = csum.then(|| self.dir_seed(dir));
        // Descend: the path of (logical block, entries offset, index picked).
        let mut path: Vec<(u64, usize, usize)> = Vec::new();
        let mut lblk = 0u64;
        let mut at = info.entries_at;
        let mut block = root.clone();
        for level in 0..=info.levels {
            let entries = super::htree::entries(&block, at, dir.ino, seed)?;
            let i = super::htree::pick(&entries, hash.0);
            path.push((lblk, at, i));
            let child = u64::from(entries[i].1);
            if level < info.levels {
                lblk = child;
                block = self.read_block(self.dir_block(map, dir, child)?)?;
                at = 8;
            } else {
                lblk = child;
            }
        }
        let leaf_lblk = lblk;
        let leaf_pblk = self.dir_block(map, dir, leaf_lblk)?;
        let mut leaf = self.read_block(leaf_pblk)?;
        if self.insert_in_leaf(&mut leaf, name, ino, kind) {
            return self.write_leaf(dir, leaf_pblk, &mut leaf);
        }
        // Split the leaf by hash: the upper half moves to a new block.
        let mut entries = self.leaf_entries(dir, &leaf, info.version)?;
        let (split, split_hash, continued) = split_by_hash(&mut entries);
        let (low, high) = entries.split_at(split);
        let mut low_block = self.leaf_from(low);
        let mut high_block = self.leaf_from(high);
        let placed = if hash.0 >= split_hash {
            self.insert_in_leaf(&mut high_block, name, ino, kind)
        } else {
            self.insert_in_leaf(&mut low_block, name, ino, kind)
        };
        if !placed {
            return Err(bad(
                dir.ino,
                "an entry does not fit a freshly split leaf".into(),
            ));
        }
        self.write_leaf(dir, leaf_pblk, &mut low_block)?;
        let (new_lblk, _) = self.append_dir_block(dir, map, &mut high_block, true)?;
        let index_hash = split_hash | u32::from(continued);
        self.dx_insert(
            dir,
            map,
            &mut root,
            root_pblk,
            info.levels,
            &path,
            index_hash,
            new_lblk,
        )
    }

    /// The live entries of a leaf with their hashes.
    fn leaf_entries(
        &self,
        dir: &RawInode,
        block: &[u8],
        version: HashVersion,
    ) -> FsResult<Vec<Entry>> {
        let end = self.leaf_end();
        let mut out = Vec::new();
        let mut off = 0;
        while off + 8 <= end {
            let rec = le16(block, off + 4) as usize;
            if rec < 8 || off + rec > end {
                return Err(bad(dir.ino, format!("rec_len {rec}")));
            }
            let e_ino = le32(block, off) as u32;
            if e_ino != 0 {
                let nl = self.name_len_at(block, off);
                let name = block[off + 8..off + 8 + nl].to_vec();
                out.push(Entry {
                    ino: e_ino,
                    kind: if self.filetype() { block[off + 7] } else { 0 },
                    hash: self.hash_of(dir, version, &name),
                    name,
                });
            }
            off += rec;
        }
        Ok(out)
    }

    /// A leaf block holding `entries` packed from the start.
    fn leaf_from(&self, entries: &[Entry]) -> Vec<u8> {
        let mut block = vec![0u8; self.sb.block_size as usize];
        let end = self.leaf_end();
        let mut off = 0;
        for (i, e) in entries.iter().enumerate() {
            let rec = if i + 1 == entries.len() {
                end - off
            } else {
                needed(e.name.len())
            };
            self.put_entry(&mut block, off, e.ino, rec, &e.name, e.kind);
            off += rec;
        }
        if entries.is_empty() {
            block[4..6].copy_from_slice(&(end as u16).to_le_bytes());
        }
        block
    }

    /// Insert index entry (hash → lblk) after the entry the descent picked, in the
    /// deepest index node; grow the index when that node is full.
    #[allow(clippy::too_many_arguments)]
    fn dx_insert(
        &self,
        dir: &mut RawInode,
        map: &mut ExtentMap,
        root: &mut [u8],
        root_pblk: u64,
        levels: u8,
        path: &[(u64, usize, usize)],
        hash: u32,
        lblk: u64,
    ) -> FsResult<()> {
        let bs = self.sb.block_size as usize;
        let tail = if self.metadata_csum() { 8 } else { 0 };
        let (node_lblk, at, picked) = *path.last().expect("a path");
        let is_root = path.len() == 1;
        let node_pblk = if is_root {
            root_pblk
        } else {
            self.dir_block(map, dir, node_lblk)?
        };
        let mut node = if is_root {
            root.to_vec()
        } else {
            self.read_block(node_pblk)?
        };
        let limit = le16(&node, at) as usize;
        let count = le16(&node, at + 2) as usize;
        if count < limit {
            insert_index(&mut node, at, picked + 1, hash, lblk as u32);
            return self.write_dx(dir, node_pblk, &mut node, at);
        }
        let max_levels = if self.sb.incompat & 0x4000 != 0 { 3 } else { 2 };
        if is_root {
            if levels + 1 >= max_levels {
                return Err(Errno::NoSpace.into());
            }
            // A new level: the root's entries move to a new index node; the root points
            // at it alone.
            let node_limit = (bs - 8 - tail) / 8;
            let mut child = vec![0u8; bs];
            child[4..6].copy_from_slice(&(bs as u16).to_le_bytes());
            child[8..10].copy_from_slice(&(node_limit as u16).to_le_bytes());
            child[10..12].copy_from_slice(&(count as u16).to_le_bytes());
            child[12..8 + count * 8].copy_from_slice(&node[at + 4..at + count * 8]);
            insert_index(&mut child, 8, picked + 1, hash, lblk as u32);
            let (child_lblk, child_pblk) = {
                let mut placeholder = vec![0u8; bs];
                self.append_dir_block(dir, map, &mut placeholder, false)?
            };
            self.write_dx(dir, child_pblk, &mut child, 8)?;
            node[at + 2..at + 4].copy_from_slice(&1u16.to_le_bytes());
            node[at + 4..at + 8].copy_from_slice(&(child_lblk as u32).to_le_bytes());
            node[info_levels_at()] = levels + 1;
            self.write_dx(dir, root_pblk, &mut node, at)?;
            root.copy_from_slice(&node);
            return Ok(());
        }
        // Split a full index node: its upper half moves to a new node, indexed in the
        // parent by the first hash it holds.
        let half = count / 2;
        let mut upper = vec![0u8; bs];
        upper[4..6].copy_from_slice(&(bs as u16).to_le_bytes());
        let node_limit = (bs - 8 - tail) / 8;
        upper[8..10].copy_from_slice(&(node_limit as u16).to_le_bytes());
        let moved = count - half;
        upper[10..12].copy_from_slice(&(moved as u16).to_le_bytes());
        // Entry 0 of the new node keeps its block; its hash lives in the parent.
        let first_hash = le32(&node, at + half * 8) as u32;
        upper[12..8 + moved * 8].copy_from_slice(&node[at + half * 8 + 4..at + count * 8]);
        node[at + 2..at + 4].copy_from_slice(&(half as u16).to_le_bytes());
        node[at + half * 8..at + count * 8].fill(0);
        if picked < half {
            insert_index(&mut node, at, picked + 1, hash, lblk as u32);
        } else {
            insert_index(&mut upper, 8, picked + 1 - half, hash, lblk as u32);
        }
        let (upper_lblk, upper_pblk) = {
            let mut placeholder = vec![0u8; bs];
            self.append_dir_block(dir, map, &mut placeholder, false)?
        };
        self.write_dx(dir, node_pblk, &mut node, at)?;
        self.write_dx(dir, upper_pblk, &mut upper, 8)?;
        self.dx_insert(
            dir,
            map,
            root,
            root_pblk,
            levels,
            &path[..path.len() - 1],
            first_hash,
            upper_lblk,
        )
    }
}

/// Sort a full leaf's entries by hash and choose where the upper half starts: (index,
/// its hash, whether that hash continues from the lower half — the index entry's
/// collision bit). Equal hashes are kept together when possible.
fn split_by_hash(entries: &mut [Entry]) -> (usize, u32, bool) {
    entries.sort_by_key(|e| e.hash);
    let mut split = entries.len() / 2;
    while split > 0 && split < entries.len() && entries[split].hash.0 == entries[split - 1].hash.0 {
        split += 1;
    }
    if split == entries.len() {
        split = entries.len() / 2;
    }
    let hash = entries.get(split).map_or(0, |e| e.hash.0);
    let continued = split > 0 && split < entries.len() && entries[split - 1].hash.0 == hash;
    (split, hash, continued)
}

/// Offset of the dx root's `indirect_levels` byte.
fn info_levels_at() -> usize {
    0x18 + 6
}

/// Insert (hash, block) at position `i` of the index whose count/limit start at `at`.
fn insert_index(node: &mut [u8], at: usize, i: usize, hash: u32, block: u32) {
    let count = le16(node, at + 2) as usize;
    let start = at + i * 8;
    let end = at + count * 8;
    node.copy_within(start..end, start + 8);
    node[start..start + 4].copy_from_slice(&hash.to_le_bytes());
    node[start + 4..start + 8].copy_from_slice(&block.to_le_bytes());
    node[at + 2..at + 4].copy_from_slice(&((count + 1) as u16).to_le_bytes());
}
