//! The native ext2/3/4 filesystem: opening (superblock, descriptors, features), reading
//! inodes, file data, directories, symlinks and extended attributes through small caches,
//! behind the [`Filesystem`] trait.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, RwLock};

use crate::block::{BlockDev, Device};
use crate::bytes::le32;
use crate::fs::{
    DirEntry, Errno, FileType, Filesystem, FsError, FsResult, Ino, NewNode, SetAttr, Stat, StatVfs,
};

use super::dir::{self, RawEntry};
use super::extent::{self, Run};
use super::group_desc::{self, GroupDesc};
use super::htree;
use super::inode::{self, Inode, InodeContext};
use super::superblock::{self as sbm, Superblock};
use super::txn::TxnDev;
use super::{blockmap, journal, xattr};

/// compat: dir_index.
const COMPAT_DIR_INDEX: u32 = 0x20;
/// incompat features rfish reads.
const INCOMPAT_KNOWN: u32 = 0x2
    | 0x4
    | 0x10
    | 0x40
    | 0x80
    | 0x100
    | 0x200
    | 0x400
    | 0x2000
    | 0x4000
    | 0x8000
    | 0x10000
    | 0x20000;
/// incompat: largedir (3-level htree).
const INCOMPAT_LARGEDIR: u32 = 0x4000;
/// incompat: casefold.
const INCOMPAT_CASEFOLD: u32 = 0x20000;
/// s_flags: directory hashes use unsigned chars.
const FLAGS_UNSIGNED_HASH: u64 = 0x2;

/// A bounded map: when full, it is emptied (cheap, and enough for lookups that repeat).
struct SmallCache<K, V> {
    map: HashMap<K, V>,
    cap: usize,
}

impl<K: Eq + Hash, V: Clone> SmallCache<K, V> {
    fn new(cap: usize) -> Self {
        SmallCache {
            map: HashMap::new(),
            cap,
        }
    }
    fn get(&self, k: &K) -> Option<V> {
        self.map.get(k).cloned()
    }
    fn put(&mut self, k: K, v: V) {
        if self.map.len() >= self.cap {
            self.map.clear();
        }
        self.map.insert(k, v);
    }
}

/// A directory's entries with a name index.
struct Listing {
    /// The entries without `.` and `..`, in readdir order.
    entries: Vec<DirEntry>,
    /// `.` and `..` with their indexes in the complete readdir order.
    dots: Vec<(usize, DirEntry)>,
    by_name: HashMap<Vec<u8>, usize>,
}

/// An opened ext2/3/4 filesystem.
pub struct Ext4 {
    dev: Device,
    /// The superblock as it was read (geometry; the free counts are the descriptors').
    pub sb: Superblock,
    /// The group descriptors, kept current by the writer.
    pub(super) groups: RwLock<Vec<GroupDesc>>,
    pub(super) hash_seed: [u32; 4],
    pub(super) unsigned_hash: bool,
    type_name: &'static str,
    inodes: Mutex<SmallCache<u32, Arc<Inode>>>,
    runs: Mutex<SmallCache<u32, Arc<Vec<Run>>>>,
    dirs: Mutex<SmallCache<u32, Arc<Listing>>>,
    /// The running transaction, for a filesystem opened read-write.
    txn: Option<Arc<TxnDev>>,
    /// Blocks freed by the running transaction: not reused before it commits.
    pub(super) freed: Mutex<Vec<(u64, u64)>>,
    /// A quarter of the journal, in blocks (computed on first use).
    journal_quarter: std::sync::OnceLock<u64>,
}

impl std::fmt::Debug for Ext4 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ext4")
            .field("type", &self.type_name)
            .field("blocks", &self.sb.blocks_count)
            .finish()
    }
}

/// Which name blkid gives a filesystem with these features.
fn type_name(sb: &Superblock) -> &'static str {
    // Features ext3 understands: filetype, recover, meta_bg / sparse_super, large_file,
    // btree_dir.
    let ext3_incompat = 0x2 | 0x4 | 0x10;
    let ext3_ro = 0x1 | 0x2 | 0x4;
    if sb.incompat & !ext3_incompat != 0 || sb.ro_compat & !ext3_ro != 0 {
        "ext4"
    } else if sb.compat & sbm::COMPAT_HAS_JOURNAL != 0 {
        "ext3"
    } else {
        "ext2"
    }
}

impl Ext4 {
    /// Open the filesystem on `dev`: validate the superblock and descriptors, and replay a
    /// journal that needs recovery into memory (the device is never written).
    pub fn open(dev: Device) -> FsResult<Ext4> {
        let fs = Ext4::load(dev)?;
        if fs.sb.incompat & sbm::INCOMPAT_RECOVER == 0 {
            return Ok(fs);
        }
        // The overlay holds the replayed blocks; its superblock still says "needs
        // recovery", which is harmless for reading and is never written back.
        Ext4::load(journal::replay_in_memory(&fs)?)
    }

    /// Open the filesystem on `dev` for reading and writing. A journal that needs
    /// recovery is replayed onto the device first (as the kernel does at mount).
    pub fn open_rw(dev: Device) -> FsResult<Ext4> {
        let fs = Ext4::load_rw(dev.clone())?;
        if fs.sb.incompat & sbm::INCOMPAT_RECOVER == 0 {
            return Ok(fs);
        }
        super::jwrite::recover(&fs)?;
        Ext4::load_rw(dev)
    }

    fn load_rw(dev: Device) -> FsResult<Ext4> {
        let sb = Superblock::read(dev.as_ref())?;
        let txn = Arc::new(TxnDev::new(dev, sb.block_size));
        let mut fs = Ext4::load(txn.clone())?;
        fs.txn = Some(txn);
        Ok(fs)
    }

    /// Read the superblock and descriptors of `dev` and check its features.
    fn load(dev: Device) -> FsResult<Ext4> {
        let sb = Superblock::read(dev.as_ref())?;
        let unknown = sb.incompat & !INCOMPAT_KNOWN;
        if unknown & 0x8 != 0 {
            return Err(FsError::Block(crate::block::BlockError::Unsupported(
                "ext4 with an external journal device".into(),
            )));
        }
        if unknown != 0 {
            return Err(FsError::Block(crate::block::BlockError::Unsupported(
                format!("ext4 incompatible features 0x{unknown:x}"),
            )));
        }
        let groups = group_desc::read_all(dev.as_ref(), &sb)?;
        let hash_seed = std::array::from_fn(|i| le32(&sb.raw, 0xec + i * 4) as u32);
        let unsigned_hash = le32(&sb.raw, 0x160) & FLAGS_UNSIGNED_HASH != 0;
        Ok(Ext4 {
            dev,
            type_name: type_name(&sb),
            sb,
            groups: RwLock::new(groups),
            hash_seed,
            unsigned_hash,
            inodes: Mutex::new(SmallCache::new(4096)),
            runs: Mutex::new(SmallCache::new(1024)),
            dirs: Mutex::new(SmallCache::new(256)),
            txn: None,
            freed: Mutex::new(Vec::new()),
            journal_quarter: std::sync::OnceLock::new(),
        })
    }

    /// The group descriptors, current.
    pub fn group_descs(&self) -> Vec<GroupDesc> {
        self.groups.read().expect("groups").clone()
    }

    /// Group `g`'s descriptor.
    pub(super) fn group(&self, g: u32) -> GroupDesc {
        self.groups.read().expect("groups")[g as usize]
    }

    /// The running transaction; only for a filesystem opened with [`Ext4::open_rw`].
    pub(super) fn txn(&self) -> &TxnDev {
        self.txn.as_deref().expect("ext4 opened read-write")
    }

    /// How many pending blocks a transaction may reach before an import commits it.
    pub(super) fn transaction_limit(&self) -> u64 {
        *self.journal_quarter.get_or_init(|| {
            if !self.has_journal() {
                return 4096;
            }
            match journal::open_log(self) {
                Ok(log) => ((log.maxlen - log.first) / 4).max(16),
                Err(_) => 256,
            }
        })
    }

    /// Opened read-write (with a transaction layer).
    pub(super) fn has_txn(&self) -> bool {
        self.txn.is_some()
    }

    /// Opened read-write on a writable device.
    pub fn writable(&self) -> bool {
        self.txn.as_ref().is_some_and(|t| !t.is_read_only())
    }

    /// The filesystem has an internal journal.
    pub(super) fn has_journal(&self) -> bool {
        self.sb.compat & sbm::COMPAT_HAS_JOURNAL != 0 && le32(&self.sb.raw, 0xe0) != 0
    }

    /// Forget every cached inode, block map and listing.
    pub(super) fn invalidate_all(&self) {
        *self.inodes.lock().expect("inode cache") = SmallCache::new(4096);
        *self.runs.lock().expect("run cache") = SmallCache::new(1024);
        *self.dirs.lock().expect("dir cache") = SmallCache::new(256);
    }

    /// Forget what is cached about inode `ino`.
    pub(super) fn invalidate(&self, ino: u32) {
        self.inodes.lock().expect("inode cache").map.remove(&ino);
        self.runs.lock().expect("run cache").map.remove(&ino);
        self.dirs.lock().expect("dir cache").map.remove(&ino);
    }

    /// `s_free_inodes_count` as the superblock on the device says now.
    pub fn superblock_free_inodes(&self) -> FsResult<u32> {
        let mut raw = [0u8; 4];
        self.dev.read_at(&mut raw, 1024 + 0x10)?;
        Ok(u32::from_le_bytes(raw))
    }

    /// Free inodes, from the descriptors.
    pub fn free_inodes(&self) -> u64 {
        let g = self.groups.read().expect("groups");
        g.iter().map(|d| u64::from(d.free_inodes)).sum()
    }

    /// The device the filesystem is read from.
    pub fn device(&self) -> &Device {
        &self.dev
    }

    /// metadata_csum is on.
    pub fn metadata_csum(&self) -> bool {
        self.sb.ro_compat & sbm::RO_COMPAT_METADATA_CSUM != 0
    }

    fn block_size(&self) -> usize {
        self.sb.block_size as usize
    }

    /// Read filesystem block `n`.
    pub fn read_block(&self, n: u64) -> FsResult<Vec<u8>> {
        if n >= self.sb.blocks_count {
            return Err(FsError::corrupt(
                "ext4 block reference",
                format!("block {n} lies outside the filesystem"),
            ));
        }
        let mut buf = vec![0u8; self.block_size()];
        self.dev
            .read_at(&mut buf, n * u64::from(self.sb.block_size))?;
        Ok(buf)
    }

    /// Inode `ino`, from the cache or the inode table.
    pub fn inode(&self, ino: u32) -> FsResult<Arc<Inode>> {
        if let Some(i) = self.inodes.lock().expect("inode cache").get(&ino) {
            return Ok(i);
        }
        if ino == 0 || ino > self.sb.inodes_count {
            return Err(FsError::corrupt(
                "ext4 inode",
                format!("inode number {ino} is outside 1..={}", self.sb.inodes_count),
            ));
        }
        let ipg = self.sb.inodes_per_group;
        let group = (ino - 1) / ipg;
        let index = (ino - 1) % ipg;
        let gd = self.group(group);
        let csum =
            self.sb.ro_compat & (sbm::RO_COMPAT_METADATA_CSUM | sbm::RO_COMPAT_GDT_CSUM) != 0;
        if csum && (gd.flags & 1 != 0 || index >= ipg.saturating_sub(gd.itable_unused)) {
            return Err(FsError::corrupt(
                "ext4 inode",
                format!("inode {ino} lies in the unused part of group {group}'s inode table"),
            ));
        }
        let isize = usize::from(self.sb.inode_size);
        let offset =
            gd.inode_table * u64::from(self.sb.block_size) + u64::from(index) * isize as u64;
        if offset + isize as u64 > self.sb.blocks_count * u64::from(self.sb.block_size) {
            return Err(FsError::corrupt(
                "ext4 inode",
                format!("inode {ino} lies outside the filesystem"),
            ));
        }
        let mut raw = vec![0u8; isize];
        self.dev.read_at(&mut raw, offset)?;
        let ctx = InodeContext {
            inode_size: isize,
            block_size: self.sb.block_size,
            metadata_csum: self.metadata_csum(),
            fs_seed: self.sb.csum_seed,
            ro_compat: self.sb.ro_compat,
        };
        let inode = Arc::new(Inode::parse(ino, &raw, &ctx)?);
        self.inodes
            .lock()
            .expect("inode cache")
            .put(ino, inode.clone());
        Ok(inode)
    }

    pub(super) fn ino32(ino: Ino) -> FsResult<u32> {
        u32::try_from(ino).map_err(|_| FsError::Errno(Errno::Invalid))
    }

    /// The block runs of a file, directory or slow symlink.
    pub fn runs_of(&self, inode: &Inode) -> FsResult<Arc<Vec<Run>>> {
        if let Some(r) = self.runs.lock().expect("run cache").get(&inode.ino) {
            return Ok(r);
        }
        let runs = if inode.flags & inode::FLAG_EXTENTS != 0 {
            extent::runs(self, inode)?
        } else {
            blockmap::runs(self, inode)?
        };
        let runs = Arc::new(runs);
        self.runs
            .lock()
            .expect("run cache")
            .put(inode.ino, runs.clone());
        Ok(runs)
    }

    /// The data of an inline_data inode: i_block, then the `system.data` attribute.
    pub(super) fn inline_data(&self, inode: &Inode) -> FsResult<Vec<u8>> {
        let mut data = inode.block.to_vec();
        for x in xattr::in_inode(&inode.xattr_area, inode.ino)? {
            if x.name == b"system.data" {
                data.extend_from_slice(&x.value);
            }
        }
        Ok(data)
    }

    /// Read the inode's bytes at `offset` (file semantics: holes read as zeros, nothing
    /// past the size).
    fn read_data(&self, inode: &Inode, offset: u64, buf: &mut [u8]) -> FsResult<usize> {
        if offset >= inode.size || buf.is_empty() {
            return Ok(0);
        }
        let want = (inode.size - offset).min(buf.len() as u64) as usize;
        let buf = &mut buf[..want];
        if inode.flags & inode::FLAG_INLINE_DATA != 0 {
            let data = self.inline_data(inode)?;
            if inode.size > data.len() as u64 {
                return Err(FsError::corrupt(
                    "ext4 inline data",
                    format!(
                        "inode {}: i_size {} exceeds its inline data ({} bytes)",
                        inode.ino,
                        inode.size,
                        data.len()
                    ),
                ));
            }
            // offset < i_size <= data.len(), and want <= i_size - offset.
            let start = offset as usize;
            buf.copy_from_slice(&data[start..start + want]);
            return Ok(want);
        }
        let runs = self.runs_of(inode)?;
        let bs = u64::from(self.sb.block_size);
        let mut done = 0usize;
        while done < want {
            let pos = offset + done as u64;
            let lblk = pos / bs;
            let in_block = pos % bs;
            let idx = runs.partition_point(|r| r.logical + r.len <= lblk);
            let (len, source) = match runs.get(idx) {
                Some(r) if r.logical <= lblk => {
                    let span = (r.logical + r.len - lblk) * bs - in_block;
                    let phys = (r.physical + (lblk - r.logical)) * bs + in_block;
                    (span, (!r.uninit).then_some(phys))
                }
                Some(r) => ((r.logical - lblk) * bs - in_block, None),
                None => (u64::MAX, None),
            };
            let n = len.min((want - done) as u64) as usize;
            let chunk = &mut buf[done..done + n];
            match source {
                Some(phys) => self.dev.read_at(chunk, phys)?,
                None => chunk.fill(0),
            }
            done += n;
        }
        Ok(want)
    }

    fn check_not_encrypted(&self, inode: &Inode) -> FsResult<()> {
        if inode.flags & inode::FLAG_ENCRYPT != 0 {
            return Err(Errno::NoKey.into());
        }
        Ok(())
    }

    /// Every raw entry of a directory (`.`/`..` included when stored).
    fn raw_entries(&self, inode: &Inode) -> FsResult<Vec<RawEntry>> {
        let filetype = self.sb.incompat & sbm::INCOMPAT_FILETYPE != 0;
        let bs = self.block_size();
        let mut out = Vec::new();
        if inode.flags & inode::FLAG_INLINE_DATA != 0 {
            let data = self.inline_data(inode)?;
            let parent = le32(&data, 0) as u32;
            out.push(RawEntry {
                ino: parent,
                name: b"..".to_vec(),
                kind: FileType::Directory,
            });
            let first = &data[4..60];
            dir::parse_entries(first, 0, filetype, bs, inode.ino, &mut out)?;
            if data.len() > 60 {
                dir::parse_entries(&data[60..], 0, filetype, bs, inode.ino, &mut out)?;
            }
            return Ok(out);
        }
        let nblocks = inode.size / bs as u64;
        if nblocks > self.sb.blocks_count {
            return Err(FsError::corrupt(
                "ext4 directory",
                format!(
                    "directory inode {} is larger than the filesystem",
                    inode.ino
                ),
            ));
        }
        let indexed = inode.flags & inode::FLAG_INDEX != 0;
        let mut block = vec![0u8; bs];
        for b in 0..nblocks {
            self.read_data(inode, b * bs as u64, &mut block)?;
            let dx_node =
                indexed && (b == 0 || (le32(&block, 0) == 0 && dir_rec_len(&block, bs) == bs));
            if dx_node && b != 0 {
                continue;
            }
            if self.metadata_csum() && !dx_node {
                dir::verify_tail(&block, inode.csum_seed, inode.ino, b)?;
            }
            dir::parse_entries(&block, 0, filetype, bs, inode.ino, &mut out)?;
        }
        Ok(out)
    }

    fn listing(&self, inode: &Inode) -> FsResult<Arc<Listing>> {
        if let Some(l) = self.dirs.lock().expect("dir cache").get(&inode.ino) {
            return Ok(l);
        }
        let mut all: Vec<DirEntry> = Vec::new();
        if inode.flags & inode::FLAG_INLINE_DATA != 0 {
            // Inline directories store only the parent; readdir makes up `.`.
            all.push(DirEntry {
                name: b".".to_vec(),
                ino: Ino::from(inode.ino),
                kind: FileType::Directory,
            });
        }
        all.extend(self.raw_entries(inode)?.into_iter().map(|e| DirEntry {
            name: e.name,
            ino: Ino::from(e.ino),
            kind: e.kind,
        }));
        self.sort_like_readdir(inode, &mut all);
        let is_dot = |e: &DirEntry| e.name == b"." || e.name == b"..";
        let dots = all
            .iter()
            .enumerate()
            .filter(|(_, e)| is_dot(e))
            .map(|(i, e)| (i, e.clone()))
            .collect();
        all.retain(|e| !is_dot(e));
        let entries = all;
        let by_name = entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.name.clone(), i))
            .collect();
        let l = Arc::new(Listing {
            entries,
            dots,
            by_name,
        });
        self.dirs
            .lock()
            .expect("dir cache")
            .put(inode.ino, l.clone());
        Ok(l)
    }

    /// Linux returns the entries of a directory it treats as indexed (dir_index on, and
    /// the directory indexed, one block long or inline) in (hash, minor hash) order;
    /// guestfish's unsorted outputs (checksums-out, tar-out, readdir) follow that order.
    /// An indexed directory gives `.` and `..` first (the kernel files them under hashes
    /// 0 and 2); a one-block or inline directory hashes them like any other name.
    fn sort_like_readdir(&self, inode: &Inode, entries: &mut [DirEntry]) {
        if self.sb.compat & COMPAT_DIR_INDEX == 0 {
            return;
        }
        let bs = u64::from(self.sb.block_size);
        let indexed = inode.flags & inode::FLAG_INDEX != 0;
        let inline = inode.flags & inode::FLAG_INLINE_DATA != 0;
        if !(indexed || inline || inode.size / bs == 1) {
            return;
        }
        let mut version = self.sb.raw[0xfc];
        if indexed {
            let mut block = vec![0u8; self.block_size()];
            if self.read_data(inode, 0, &mut block).is_ok() {
                version = block[0x1c];
            }
        }
        let Some(v) = super::dirhash::HashVersion::from_disk(version, self.unsigned_hash) else {
            return;
        };
        let casefolded = self.casefolded(inode);
        entries.sort_by_cached_key(|e| {
            let name = if casefolded {
                super::casefold::hash_input(&e.name)
            } else {
                std::borrow::Cow::Borrowed(e.name.as_slice())
            };
            let dot_rank = match (indexed, e.name.as_slice()) {
                (true, b".") => 0,
                (true, b"..") => 1,
                (true, _) => 2,
                (false, _) => 0,
            };
            (
                dot_rank,
                super::dirhash::dx_hash_pair(&name, v, self.hash_seed),
            )
        });
    }

    /// A directory whose names compare and hash casefolded.
    fn casefolded(&self, inode: &Inode) -> bool {
        inode.flags & inode::FLAG_CASEFOLD != 0 && self.sb.incompat & INCOMPAT_CASEFOLD != 0
    }

    /// Look a name up through the hash index.
    fn htree_lookup(&self, inode: &Inode, name: &[u8]) -> FsResult<Option<u32>> {
        let bs = self.block_size();
        let mut block = vec![0u8; bs];
        self.read_data(inode, 0, &mut block)?;
        let largedir = self.sb.incompat & INCOMPAT_LARGEDIR != 0;
        let root = htree::root(&block, inode.ino, self.unsigned_hash, largedir)?;
        let hash = htree::hash(&root, name, self.hash_seed);
        let seed = self.metadata_csum().then_some(inode.csum_seed);
        let entries = htree::entries(&block, root.entries_at, inode.ino, seed)?;
        let mut budget = 64u32;
        self.dx_search(inode, &entries, root.levels, hash, name, &mut budget)
    }

    fn dx_search(
        &self,
        inode: &Inode,
        entries: &[(u32, u32)],
        levels: u8,
        hash: u32,
        name: &[u8],
        budget: &mut u32,
    ) -> FsResult<Option<u32>> {
        let bs = self.block_size();
        let filetype = self.sb.incompat & sbm::INCOMPAT_FILETYPE != 0;
        let seed = self.metadata_csum().then_some(inode.csum_seed);
        let mut i = htree::pick(entries, hash);
        loop {
            *budget = budget.checked_sub(1).ok_or_else(|| {
                FsError::corrupt("ext4 htree index", "too many blocks share one hash")
            })?;
            let lblk = u64::from(entries[i].1);
            let mut block = vec![0u8; bs];
            if lblk * bs as u64 >= inode.size {
                return Err(FsError::corrupt(
                    "ext4 htree index",
                    format!(
                        "directory inode {}: index points past the end (block {lblk})",
                        inode.ino
                    ),
                ));
            }
            self.read_data(inode, lblk * bs as u64, &mut block)?;
            let found = if levels > 0 {
                let child = htree::entries(&block, 8, inode.ino, seed)?;
                self.dx_search(inode, &child, levels - 1, hash, name, budget)?
            } else {
                if let Some(s) = seed {
                    dir::verify_tail(&block, s, inode.ino, lblk)?;
                }
                let mut out = Vec::new();
                dir::parse_entries(&block, 0, filetype, bs, inode.ino, &mut out)?;
                out.into_iter().find(|e| e.name == name).map(|e| e.ino)
            };
            if found.is_some() {
                return Ok(found);
            }
            // A hash collision may continue in the next block (its hash has bit 0 set).
            match entries.get(i + 1) {
                Some(&(h, _)) if h & !1 == hash => i += 1,
                _ => return Ok(None),
            }
        }
    }
}

fn dir_rec_len(block: &[u8], bs: usize) -> usize {
    let raw = crate::bytes::le16(block, 4) as usize;
    if bs >= 65536 && (raw == 0 || raw == 65535) {
        65536
    } else {
        raw
    }
}

impl Filesystem for Ext4 {
    fn type_name(&self) -> &str {
        self.type_name
    }

    fn root(&self) -> Ino {
        2
    }

    fn lookup(&self, dir: Ino, name: &[u8]) -> FsResult<Option<Ino>> {
        let inode = self.inode(Self::ino32(dir)?)?;
        if inode.kind() != FileType::Directory {
            return Err(Errno::NotDir.into());
        }
        if name.len() > 255 {
            return Err(Errno::NameTooLong.into());
        }
        self.check_not_encrypted(&inode)?;
        if self.casefolded(&inode) {
            let l = self.listing(&inode)?;
            if let Some(&i) = l.by_name.get(name) {
                return Ok(Some(l.entries[i].ino));
            }
            // Not UTF-8: only the exact bytes match, and they did not.
            let Some(want) = super::casefold::fold(name) else {
                return Ok(None);
            };
            return Ok(l
                .entries
                .iter()
                .find(|e| super::casefold::fold(&e.name).as_ref() == Some(&want))
                .map(|e| e.ino));
        }
        if let Some(l) = self.dirs.lock().expect("dir cache").get(&inode.ino) {
            return Ok(l.by_name.get(name).map(|&i| l.entries[i].ino));
        }
        let indexed = inode.flags & inode::FLAG_INDEX != 0
            && inode.flags & inode::FLAG_INLINE_DATA == 0
            && self.sb.compat & COMPAT_DIR_INDEX != 0;
        if indexed {
            return Ok(self.htree_lookup(&inode, name)?.map(Ino::from));
        }
        let l = self.listing(&inode)?;
        Ok(l.by_name.get(name).map(|&i| l.entries[i].ino))
    }

    fn stat(&self, ino: Ino) -> FsResult<Stat> {
        let i = self.inode(Self::ino32(ino)?)?;
        let kind = i.kind();
        let rdev = if matches!(kind, FileType::CharDevice | FileType::BlockDevice) {
            i.rdev()
        } else {
            (0, 0)
        };
        Ok(Stat {
            ino,
            mode: u32::from(i.mode),
            nlink: u64::from(i.links),
            uid: i.uid,
            gid: i.gid,
            rdev,
            size: i.size,
            blocks: i.blocks_512,
            blksize: self.sb.block_size,
            atime: i.atime,
            mtime: i.mtime,
            ctime: i.ctime,
            crtime: i.crtime,
            flags: i.flags,
        })
    }

    fn read_dir(&self, dir: Ino) -> FsResult<Vec<DirEntry>> {
        let inode = self.inode(Self::ino32(dir)?)?;
        if inode.kind() != FileType::Directory {
            return Err(Errno::NotDir.into());
        }
        self.check_not_encrypted(&inode)?;
        Ok(self.listing(&inode)?.entries.clone())
    }

    fn writable(&self) -> bool {
        Ext4::writable(self)
    }

    fn create(&self, dir: Ino, name: &[u8], node: &NewNode) -> FsResult<Ino> {
        self.op_create(dir, name, node)
    }

    fn mkdir(&self, dir: Ino, name: &[u8], node: &NewNode) -> FsResult<Ino> {
        self.op_mkdir(dir, name, node)
    }

    fn symlink(&self, dir: Ino, name: &[u8], target: &[u8], node: &NewNode) -> FsResult<Ino> {
        self.op_symlink(dir, name, target, node)
    }

    fn link(&self, ino: Ino, dir: Ino, name: &[u8]) -> FsResult<()> {
        self.op_link(ino, dir, name)
    }

    fn unlink(&self, dir: Ino, name: &[u8]) -> FsResult<()> {
        self.op_unlink(dir, name)
    }

    fn rmdir(&self, dir: Ino, name: &[u8]) -> FsResult<()> {
        self.op_rmdir(dir, name)
    }

    fn rename(&self, from_dir: Ino, from: &[u8], to_dir: Ino, to: &[u8]) -> FsResult<()> {
        self.op_rename(from_dir, from, to_dir, to)
    }

    fn write(&self, ino: Ino, offset: u64, data: &[u8]) -> FsResult<()> {
        self.op_write(ino, offset, data)
    }

    fn truncate(&self, ino: Ino, size: u64) -> FsResult<()> {
        self.op_truncate(ino, size)
    }

    fn set_attr(&self, ino: Ino, attr: &SetAttr) -> FsResult<()> {
        self.op_set_attr(ino, attr)
    }

    fn set_xattr(&self, ino: Ino, name: &[u8], value: Option<&[u8]>) -> FsResult<()> {
        self.op_set_xattr(ino, name, value)
    }

    fn inode_flags(&self, ino: Ino) -> FsResult<(u32, u32)> {
        let inode = self.read_raw_inode(Self::ino32(ino)?)?;
        Ok((inode.flags(), inode.generation()))
    }

    fn allocate(&self, ino: Ino, offset: u64, len: u64) -> FsResult<()> {
        self.op_allocate(ino, offset, len)
    }

    fn zero_free_space(&self) -> FsResult<()> {
        self.op_zero_free_space()
    }

    fn checkpoint(&self) -> FsResult<()> {
        if self.has_txn() && self.txn().pending_blocks() as u64 > self.transaction_limit() {
            self.op_commit()?;
        }
        Ok(())
    }

    fn commit(&self) -> FsResult<()> {
        self.op_commit()
    }

    fn rollback(&self) {
        self.op_rollback()
    }

    fn read_dir_with_dots(&self, dir: Ino) -> FsResult<Option<Vec<DirEntry>>> {
        let inode = self.inode(Self::ino32(dir)?)?;
        if inode.kind() != FileType::Directory {
            return Err(Errno::NotDir.into());
        }
        self.check_not_encrypted(&inode)?;
        let listing = self.listing(&inode)?;
        let mut all = listing.entries.clone();
        for (at, dot) in &listing.dots {
            all.insert((*at).min(all.len()), dot.clone());
        }
        Ok(Some(all))
    }

    fn read(&self, ino: Ino, offset: u64, buf: &mut [u8]) -> FsResult<usize> {
        let inode = self.inode(Self::ino32(ino)?)?;
        if inode.kind() == FileType::Directory {
            return Err(Errno::IsDir.into());
        }
        self.check_not_encrypted(&inode)?;
        self.read_data(&inode, offset, buf)
    }

    fn read_link(&self, ino: Ino) -> FsResult<Vec<u8>> {
        let inode = self.inode(Self::ino32(ino)?)?;
        if inode.kind() != FileType::Symlink {
            return Err(Errno::Invalid.into());
        }
        self.check_not_encrypted(&inode)?;
        if inode.size > 4096 {
            return Err(FsError::corrupt(
                "ext4 symlink",
                format!("inode {}: target of {} bytes", inode.ino, inode.size),
            ));
        }
        let ea_blocks = if inode.file_acl != 0 {
            u64::from(self.sb.block_size / 512)
        } else {
            0
        };
        let fast = inode.flags & inode::FLAG_INLINE_DATA == 0
            && inode.blocks_512.saturating_sub(ea_blocks) == 0;
        if fast {
            if inode.size > 60 {
                return Err(FsError::corrupt(
                    "ext4 symlink",
                    format!("inode {}: fast symlink of {} bytes", inode.ino, inode.size),
                ));
            }
            return Ok(inode.block[..inode.size as usize].to_vec());
        }
        let mut buf = vec![0u8; inode.size as usize];
        let n = self.read_data(&inode, 0, &mut buf)?;
        buf.truncate(n);
        Ok(buf)
    }

    fn xattrs(&self, ino: Ino) -> FsResult<crate::fs::Xattrs> {
        let inode = self.inode(Self::ino32(ino)?)?;
        let mut raw = xattr::in_inode(&inode.xattr_area, inode.ino)?;
        if inode.file_acl != 0 {
            let block = self.read_block(inode.file_acl)?;
            let seed = self.metadata_csum().then_some(self.sb.csum_seed);
            raw.extend(xattr::in_block(&block, inode.file_acl, seed)?);
        }
        let mut out = Vec::new();
        for x in raw {
            if x.name == b"system.data" {
                continue;
            }
            let mut value = match x.value_inode {
                None => x.value,
                Some((vino, len)) => {
                    let vi = self.inode(vino)?;
                    let mut buf = vec![0u8; len.min(65536) as usize];
                    let n = self.read_data(&vi, 0, &mut buf)?;
                    buf.truncate(n);
                    buf
                }
            };
            if x.name.starts_with(b"system.posix_acl_") {
                value = xattr::acl_to_xattr(&value)?;
            }
            out.push((x.name, value));
        }
        Ok(out)
    }

    fn statvfs(&self) -> FsResult<StatVfs> {
        let sb = &self.sb;
        let overhead = self.overhead()?;
        let reserved = le32(&sb.raw, 8)
            | if sb.incompat & sbm::INCOMPAT_64BIT != 0 {
                le32(&sb.raw, 0x150) << 32
            } else {
                0
            };
        let groups = self.group_descs();
        let free: u64 = groups.iter().map(|g| u64::from(g.free_blocks)).sum();
        // Linux keeps 2% of the blocks (at most 4096) back for delayed allocation on
        // filesystems with extents.
        let resv = if sb.incompat & sbm::INCOMPAT_EXTENTS != 0 {
            (sb.blocks_count / 50).min(4096)
        } else {
            0
        };
        let ffree: u64 = groups.iter().map(|g| u64::from(g.free_inodes)).sum();
        let u = &sb.uuid;
        let w = |i: usize| u64::from(u32::from_le_bytes([u[i], u[i + 1], u[i + 2], u[i + 3]]));
        Ok(StatVfs {
            bsize: u64::from(sb.block_size),
            frsize: u64::from(sb.block_size),
            blocks: sb.blocks_count.saturating_sub(overhead),
            bfree: free,
            bavail: free.saturating_sub(reserved + resv),
            files: u64::from(sb.inodes_count),
            ffree,
            favail: ffree,
            fsid: (w(0) ^ w(8)) | (w(4) ^ w(12)) << 32,
            flag: 0,
            namemax: 255,
        })
    }
}

impl Ext4 {
    /// Blocks Linux does not count in statfs' f_blocks: the superblock copies, descriptor
    /// tables, bitmaps, inode tables and the journal.
    fn overhead(&self) -> FsResult<u64> {
        let sb = &self.sb;
        let stored = le32(&sb.raw, 0x248);
        let mut total = u64::from(sb.first_data_block);
        if stored != 0 {
            return Ok(stored);
        }
        let bs = u64::from(sb.block_size);
        let itb = (u64::from(sb.inodes_per_group) * u64::from(sb.inode_size)).div_ceil(bs);
        let per_block = bs / u64::from(sb.desc_size);
        let gdt_blocks = u64::from(sb.group_count).div_ceil(per_block);
        let meta_bg = sb.incompat & sbm::INCOMPAT_META_BG != 0;
        for g in 0..sb.group_count {
            total += 2 + itb;
            if meta_bg {
                let first_meta = u64::from(sb.first_meta_bg);
                let mg = u64::from(g) / per_block;
                let idx = u64::from(g) % per_block;
                if mg < first_meta {
                    if sb.group_has_super(g) {
                        total += 1 + first_meta + u64::from(sb.reserved_gdt_blocks);
                    }
                } else {
                    if sb.group_has_super(g) {
                        total += 1;
                    }
                    let last = (per_block - 1).min(u64::from(sb.group_count) - 1 - mg * per_block);
                    if idx == 0 || idx == 1 || idx == last {
                        total += 1;
                    }
                }
            } else if sb.group_has_super(g) {
                total += 1 + gdt_blocks + u64::from(sb.reserved_gdt_blocks);
            }
        }
        if sb.compat & sbm::COMPAT_HAS_JOURNAL != 0 {
            let jino = le32(&sb.raw, 0xe0) as u32;
            if jino != 0 {
                let j = self.inode(jino)?;
                total += j.size / bs;
            }
        }
        Ok(total)
    }
}
