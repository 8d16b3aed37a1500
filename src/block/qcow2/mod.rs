//! qcow2 images, read and write, following QEMU's docs/interop/qcow2.rst.
//!
//! # Layout of this module
//! `header` (fixed header, extensions, features), `l2` (L1/L2 entry encoding),
//! `refcount` (refcount block entries), `compress` (deflate and zstd clusters),
//! `cache` (bounded metadata cache), `snapshot` (the snapshot table), `create` (new
//! images), `repair` (rebuilding refcounts of a dirty image); this file ties them into a
//! [`BlockDev`].
//!
//! # Locking model
//! - `state` (a mutex) guards all mutable metadata: the caches, the in-memory refcount
//!   table, the allocation cursor and the clusters waiting to be freed. It is held only
//!   for lookups and metadata changes.
//! - `io` (a reader-writer lock) orders data I/O: reads hold it shared, so several
//!   threads read (and decompress) in parallel; writes, zeroing and flush hold it
//!   exclusively, so a read never sees a cluster being replaced or freed.
//! - `decompressed` (a mutex) guards the small cache of decompressed clusters.
//!
//! Order: `io`, then `state`, then `decompressed`; the backing device's own locks are
//! only ever taken below these (downwards), so there are no cycles.
//!
//! # Crash safety (../shared/design.md, invariant 4)
//! Metadata changes stay in the caches until [`BlockDev::flush`] (or a dirty table is
//! evicted), which writes them in dependency order with `fdatasync` between steps:
//! 1. refcount blocks, then refcount table entries that point to new blocks;
//! 2. L2 tables (after data: new data clusters were written before their entries changed);
//! 3. L1 entries;
//! 4. only then are clusters that lost their last reference freed (refcount decrements),
//!    so no table on disk ever points to a free cluster.
//!
//! A process killed at any instant leaves at worst leaked clusters, never a reference to a
//! free or foreign cluster.

mod cache;
mod compress;
pub mod create;
pub mod header;
mod l2;
mod refcount;
mod repair;
pub mod snapshot;

use std::collections::BTreeSet;
use std::collections::VecDeque;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

use self::cache::TableCache;
use self::header::{Header, INCOMPAT_CORRUPT, INCOMPAT_DIRTY};
use self::l2::Mapping;
use super::raw::pread_zero_fill;
use super::{Allocation, BlockDev, BlockError, Device, Result, check_range};

pub use self::header::Compression;

/// Budget for each metadata cache, in bytes (a 2 GiB image with 64 KiB clusters needs
/// four L2 tables in all).
const L2_CACHE_BYTES: u64 = 4 << 20;
const REFBLOCK_CACHE_BYTES: u64 = 1 << 20;
const L1_CACHE_BYTES: u64 = 1 << 20;

/// An open qcow2 image.
pub struct Qcow2 {
    file: File,
    name: String,
    read_only: bool,
    backing: Option<Device>,
    header: Header,
    state: Mutex<State>,
    /// Readers share it, writers (and flush) hold it alone: reads do their data I/O and
    /// decompression without `state`'s lock, in parallel, yet never see a cluster that a
    /// concurrent write is replacing.
    io: RwLock<()>,
    /// Recently decompressed clusters by descriptor offset (small reads of a compressed
    /// cluster decompress it once).
    decompressed: Mutex<VecDeque<(u64, Arc<Vec<u8>>)>>,
    /// The image file's physical length: bytes at or past it read as zeros.
    phys_end: std::sync::atomic::AtomicU64,
    /// Test hook: abort the process after this many writes (see [`Qcow2::pwrite`]).
    crash_after: Option<u64>,
    writes: std::sync::atomic::AtomicU64,
}

/// Which metadata cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Which {
    L1,
    L2,
    Refblock,
}

struct State {
    /// Current end of the image file (grows as clusters are allocated).
    file_len: u64,
    l1: TableCache,
    l2: TableCache,
    refblocks: TableCache,
    reftable: Vec<u64>,
    reftable_offset: u64,
    reftable_dirty: BTreeSet<usize>,
    /// Host clusters (first, count) whose reference was dropped; freed after the tables
    /// that dropped them are on disk.
    pending_free: Vec<(u64, u64)>,
    /// No free cluster below this index.
    cursor: u64,
    /// Data written since the last fdatasync.
    data_written: bool,
    /// First-write checks done.
    writable: bool,
    incompatible: u64,
}

fn io(context: &'static str) -> impl FnOnce(std::io::Error) -> BlockError {
    move |e| BlockError::io(context, e)
}

impl Qcow2 {
    /// Open a qcow2 image from `file` (already locked by the caller). `name` is used in
    /// messages; `backing` is the opened backing device, if the header names one.
    pub fn open(
        file: File,
        name: &str,
        read_only: bool,
        open_backing: impl FnOnce(&Header) -> Result<Option<Device>>,
    ) -> Result<Qcow2> {
        let file_len = file.metadata().map_err(io("stat image"))?.len();
        let mut first = vec![0u8; (2 << 20).min(file_len) as usize];
        pread_zero_fill(&file, &mut first, 0).map_err(io("read qcow2 header"))?;
        let probe_cluster = if first.len() >= 24 {
            u32::from_be_bytes([first[20], first[21], first[22], first[23]])
        } else {
            9
        };
        if (9..=21).contains(&probe_cluster) {
            first.truncate((1usize << probe_cluster).min(first.len()));
        }
        let header = Header::parse(&first, file_len)?;
        let cs = header.cluster_size();
        let mut reftable_bytes = vec![0u8; (header.refcount_table_clusters * cs) as usize];
        pread_zero_fill(&file, &mut reftable_bytes, header.refcount_table_offset)
            .map_err(io("read qcow2 refcount table"))?;
        let reftable: Vec<u64> = reftable_bytes
            .chunks_exact(8)
            .map(|c| u64::from_be_bytes(c.try_into().unwrap_or([0; 8])))
            .collect();
        for (i, &e) in reftable.iter().enumerate() {
            let off = e & l2::OFFSET_MASK;
            if e & !l2::OFFSET_MASK != 0
                || (off != 0 && (off % cs != 0 || off + cs > file_len.div_ceil(cs) * cs))
            {
                return Err(BlockError::corrupt(
                    "refcount table",
                    format!("entry {i} (0x{e:016x}) is unaligned or beyond the end of the file"),
                ));
            }
        }
        let backing = open_backing(&header)?;
        let tables = |budget: u64| (budget / cs).max(4) as usize;
        let state = State {
            file_len,
            l1: TableCache::new(tables(L1_CACHE_BYTES)),
            l2: TableCache::new(tables(L2_CACHE_BYTES)),
            refblocks: TableCache::new(tables(REFBLOCK_CACHE_BYTES)),
            reftable,
            reftable_offset: header.refcount_table_offset,
            reftable_dirty: BTreeSet::new(),
            pending_free: Vec::new(),
            cursor: 0,
            data_written: false,
            writable: false,
            incompatible: header.incompatible,
        };
        Ok(Qcow2 {
            file,
            name: name.to_string(),
            read_only,
            backing,
            header,
            state: Mutex::new(state),
            io: RwLock::new(()),
            decompressed: Mutex::new(VecDeque::new()),
            crash_after: super::crash_limit(),
            writes: std::sync::atomic::AtomicU64::new(0),
            phys_end: std::sync::atomic::AtomicU64::new(file_len),
        })
    }

    /// The parsed header, as opened.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The backing device, if any.
    pub fn backing(&self) -> Option<&Device> {
        self.backing.as_ref()
    }

    /// The image file (for locking and snapshot listing).
    pub fn file(&self) -> &File {
        &self.file
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn cs(&self) -> u64 {
        self.header.cluster_size()
    }

    /// Guest clusters per L2 table.
    fn l2_entries(&self) -> u64 {
        self.cs() / if self.header.extended_l2() { 16 } else { 8 }
    }

    fn refblock_entries(&self) -> u64 {
        refcount::entries_per_block(self.cs(), self.header.refcount_order)
    }

    // ----- metadata caches -----------------------------------------------------------

    fn cache(st: &mut State, which: Which) -> &mut TableCache {
        match which {
            Which::L1 => &mut st.l1,
            Which::L2 => &mut st.l2,
            Which::Refblock => &mut st.refblocks,
        }
    }

    /// Bytes of the table at `offset` that belong to it (L1 pieces may be short).
    fn table_len(&self, which: Which, offset: u64) -> usize {
        let cs = self.cs();
        if which == Which::L1 {
            let end = self.header.l1_table_offset + self.header.l1_size * 8;
            return (end - offset).min(cs) as usize;
        }
        cs as usize
    }

    /// Make sure the table at `offset` is cached, evicting (and writing back) another.
    fn ensure(&self, st: &mut State, which: Which, offset: u64) -> Result<()> {
        if Self::cache(st, which).contains(offset) {
            return Ok(());
        }
        if let Some((victim, dirty)) = Self::cache(st, which).victim() {
            if dirty {
                match which {
                    // Writing a refcount block early only ever makes a leak, never a
                    // dangling reference: increments may reach the disk at any time.
                    Which::Refblock => self.write_table(st, Which::Refblock, victim)?,
                    _ => self.flush_metadata(st)?,
                }
            }
            Self::cache(st, which).remove(victim);
        }
        let mut data = vec![0u8; self.table_len(which, offset)];
        pread_zero_fill(&self.file, &mut data, offset).map_err(io("read qcow2 metadata"))?;
        Self::cache(st, which).insert(offset, data, false);
        Ok(())
    }

    fn write_table(&self, st: &mut State, which: Which, offset: u64) -> Result<()> {
        if let Some(t) = Self::cache(st, which).get_mut(offset) {
            self.pwrite(&t.data, offset)
                .map_err(io("write qcow2 metadata"))?;
            t.dirty = false;
        }
        Ok(())
    }

    fn read_u64(&self, st: &mut State, which: Which, offset: u64, at: usize) -> Result<u64> {
        self.ensure(st, which, offset)?;
        let t = Self::cache(st, which)
            .get_mut(offset)
            .ok_or_else(|| BlockError::corrupt("qcow2 cache", "table vanished"))?;
        let mut b = [0u8; 8];
        b.copy_from_slice(&t.data[at..at + 8]);
        Ok(u64::from_be_bytes(b))
    }

    fn write_u64(
        &self,
        st: &mut State,
        which: Which,
        offset: u64,
        at: usize,
        v: u64,
    ) -> Result<()> {
        self.ensure(st, which, offset)?;
        let t = Self::cache(st, which)
            .get_mut(offset)
            .ok_or_else(|| BlockError::corrupt("qcow2 cache", "table vanished"))?;
        t.data[at..at + 8].copy_from_slice(&v.to_be_bytes());
        t.dirty = true;
        Ok(())
    }

    // ----- L1 / L2 -------------------------------------------------------------------

    fn l1_location(&self, index: u64) -> (u64, usize) {
        let cs = self.cs();
        let byte = index * 8;
        (
            self.header.l1_table_offset + byte / cs * cs,
            (byte % cs) as usize,
        )
    }

    /// The L2 table for L1 `index`: (offset or 0, COPIED).
    fn l1_get(&self, st: &mut State, index: u64) -> Result<(u64, bool)> {
        if index >= self.header.l1_size {
            return Ok((0, false));
        }
        let (piece, at) = self.l1_location(index);
        let e = self.read_u64(st, Which::L1, piece, at)?;
        l2::decode_l1(e, index, self.cs(), st.file_len)
    }

    fn l1_set(&self, st: &mut State, index: u64, entry: u64) -> Result<()> {
        let (piece, at) = self.l1_location(index);
        self.write_u64(st, Which::L1, piece, at, entry)
    }

    /// Raw L2 entry (and subcluster bitmap) `index` of the table at `table`.
    fn l2_get(&self, st: &mut State, table: u64, index: u64) -> Result<(u64, Option<u64>)> {
        if self.header.extended_l2() {
            let at = (index * 16) as usize;
            let e = self.read_u64(st, Which::L2, table, at)?;
            let b = self.read_u64(st, Which::L2, table, at + 8)?;
            Ok((e, Some(b)))
        } else {
            Ok((
                self.read_u64(st, Which::L2, table, (index * 8) as usize)?,
                None,
            ))
        }
    }

    fn l2_set(
        &self,
        st: &mut State,
        table: u64,
        index: u64,
        entry: u64,
        bitmap: Option<u64>,
    ) -> Result<()> {
        if self.header.extended_l2() {
            let at = (index * 16) as usize;
            self.write_u64(st, Which::L2, table, at, entry)?;
            self.write_u64(st, Which::L2, table, at + 8, bitmap.unwrap_or(0))
        } else {
            self.write_u64(st, Which::L2, table, (index * 8) as usize, entry)
        }
    }

    /// What guest cluster `gc` maps to.
    fn lookup(&self, st: &mut State, gc: u64) -> Result<Mapping> {
        let (table, _) = self.l1_get(st, gc / self.l2_entries())?;
        if table == 0 {
            return Ok(Mapping::Unallocated);
        }
        let (e, bitmap) = self.l2_get(st, table, gc % self.l2_entries())?;
        l2::decode(
            e,
            bitmap,
            self.header.cluster_bits,
            self.header.version,
            st.file_len,
        )
    }

    // ----- reading -------------------------------------------------------------------

    fn read_backing(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        let Some(backing) = &self.backing else {
            buf.fill(0);
            return Ok(());
        };
        let bsize = backing.size();
        let inside = bsize.saturating_sub(offset).min(buf.len() as u64) as usize;
        if inside > 0 {
            backing.read_at(&mut buf[..inside], offset)?;
        }
        buf[inside..].fill(0);
        Ok(())
    }

    /// Decompressed clusters kept for small reads.
    const DECOMPRESSED_KEPT: usize = 8;

    fn read_compressed(&self, host: u64, len: u64, file_len: u64) -> Result<Arc<Vec<u8>>> {
        {
            let cache = self
                .decompressed
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some((_, data)) = cache.iter().find(|(h, _)| *h == host) {
                return Ok(Arc::clone(data));
            }
        }
        let cs = self.cs();
        // A compressed cluster never needs more than a cluster plus a sector of input.
        let len = len.min(cs + 512).min(file_len.saturating_sub(host));
        let mut input = vec![0u8; len as usize];
        pread_zero_fill(&self.file, &mut input, host).map_err(io("read compressed cluster"))?;
        let mut out = vec![0u8; cs as usize];
        compress::decompress(self.header.compression, &input, &mut out)?;
        let out = Arc::new(out);
        let mut cache = self
            .decompressed
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        cache.push_front((host, Arc::clone(&out)));
        cache.truncate(Self::DECOMPRESSED_KEPT);
        Ok(out)
    }

    fn forget_decompressed(&self) {
        self.decompressed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// Read `buf.len()` bytes at byte `within` of guest cluster `gc`, mapped by `m`.
    fn read_mapped(
        &self,
        file_len: u64,
        gc: u64,
        m: Mapping,
        within: u64,
        buf: &mut [u8],
    ) -> Result<()> {
        let cs = self.cs();
        let guest = gc * cs + within;
        match m {
            Mapping::Unallocated => self.read_backing(buf, guest),
            Mapping::Zero { .. } => {
                buf.fill(0);
                Ok(())
            }
            Mapping::Data {
                host,
                subclusters: None,
                ..
            } => pread_zero_fill(&self.file, buf, host + within).map_err(io("read qcow2 data")),
            Mapping::Data {
                host,
                subclusters: Some(bits),
                ..
            } => {
                let sub = cs / 32;
                let mut done = 0u64;
                let len = buf.len() as u64;
                while done < len {
                    let pos = within + done;
                    let s = pos / sub;
                    let n = (sub - pos % sub).min(len - done);
                    let dst = &mut buf[done as usize..(done + n) as usize];
                    if bits & (1 << s) != 0 {
                        pread_zero_fill(&self.file, dst, host + pos)
                            .map_err(io("read qcow2 data"))?;
                    } else if bits & (1 << (s + 32)) != 0 {
                        dst.fill(0);
                    } else {
                        self.read_backing(dst, gc * cs + pos)?;
                    }
                    done += n;
                }
                Ok(())
            }
            Mapping::Compressed { host, len } => {
                let data = self.read_compressed(host, len, file_len)?;
                buf.copy_from_slice(&data[within as usize..within as usize + buf.len()]);
                Ok(())
            }
        }
    }

    /// Read with the `io` lock held for reading: metadata lookups take `state` briefly,
    /// data I/O and decompression run without it.
    fn read_shared(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        let cs = self.cs();
        let len = buf.len() as u64;
        let mut done = 0u64;
        while done < len {
            let pos = offset + done;
            let gc = pos / cs;
            let within = pos % cs;
            let (m, n, file_len) = {
                let mut st = self.lock();
                let m = self.lookup(&mut st, gc)?;
                let mut n = (cs - within).min(len - done);
                // Coalesce physically contiguous plain clusters into one read.
                if let Mapping::Data {
                    host,
                    subclusters: None,
                    ..
                } = m
                {
                    let mut next = gc + 1;
                    while done + n < len {
                        match self.lookup(&mut st, next)? {
                            Mapping::Data {
                                host: h,
                                subclusters: None,
                                ..
                            } if h == host + (next - gc) * cs => {
                                n += cs.min(len - done - n);
                                next += 1;
                            }
                            _ => break,
                        }
                    }
                }
                (m, n, st.file_len)
            };
            let dst = &mut buf[done as usize..(done + n) as usize];
            match m {
                Mapping::Data {
                    host,
                    subclusters: None,
                    ..
                } => pread_zero_fill(&self.file, dst, host + within)
                    .map_err(io("read qcow2 data"))?,
                _ => self.read_mapped(file_len, gc, m, within, dst)?,
            }
            done += n;
        }
        Ok(())
    }

    // ----- refcounts and allocation ----------------------------------------------------

    fn refcount(&self, st: &mut State, cluster: u64) -> Result<u64> {
        let per = self.refblock_entries();
        let t = (cluster / per) as usize;
        let block = st.reftable.get(t).copied().unwrap_or(0) & l2::OFFSET_MASK;
        if block == 0 {
            return Ok(0);
        }
        self.ensure(st, Which::Refblock, block)?;
        let order = self.header.refcount_order;
        let t = Self::cache(st, Which::Refblock)
            .get_mut(block)
            .ok_or_else(|| BlockError::corrupt("qcow2 cache", "refcount block vanished"))?;
        Ok(refcount::get(&t.data, order, (cluster % per) as usize))
    }

    fn set_refcount(&self, st: &mut State, cluster: u64, value: u64) -> Result<()> {
        let per = self.refblock_entries();
        let t = (cluster / per) as usize;
        let block = st.reftable.get(t).copied().unwrap_or(0) & l2::OFFSET_MASK;
        if block == 0 {
            return Err(BlockError::corrupt(
                "refcount table",
                format!("no refcount block for cluster {cluster}"),
            ));
        }
        self.ensure(st, Which::Refblock, block)?;
        let order = self.header.refcount_order;
        let t = Self::cache(st, Which::Refblock)
            .get_mut(block)
            .ok_or_else(|| BlockError::corrupt("qcow2 cache", "refcount block vanished"))?;
        refcount::set(&mut t.data, order, (cluster % per) as usize, value)?;
        t.dirty = true;
        Ok(())
    }

    /// First run of `n` free clusters at or after the cursor.
    fn find_free(&self, st: &mut State, n: u64) -> Result<u64> {
        let per = self.refblock_entries();
        let mut start = st.cursor.max(1);
        'search: loop {
            if start
                .checked_mul(self.cs())
                .is_none_or(|b| b > l2::OFFSET_MASK)
            {
                return Err(BlockError::Unsupported(
                    "image file would exceed 64 PiB".into(),
                ));
            }
            for i in 0..n {
                let c = start + i;
                let t = (c / per) as usize;
                if st.reftable.get(t).copied().unwrap_or(0) == 0 {
                    continue; // no block: every cluster it would cover is free
                }
                if self.refcount(st, c)? != 0 {
                    start = c + 1;
                    continue 'search;
                }
            }
            return Ok(start);
        }
    }

    /// Allocate `n` contiguous clusters with refcount 1; returns the host offset.
    fn alloc(&self, st: &mut State, n: u64) -> Result<u64> {
        let per = self.refblock_entries();
        loop {
            let start = self.find_free(st, n)?;
            let mut created = false;
            for t in start / per..=(start + n - 1) / per {
                if st.reftable.get(t as usize).copied().unwrap_or(0) == 0 {
                    self.create_refblock(st, t)?;
                    created = true;
                }
            }
            if created {
                continue; // the new block took a cluster: search again
            }
            for c in start..start + n {
                self.set_refcount(st, c, 1)?;
            }
            if n == 1 {
                // Everything from the cursor up to `start` is in use.
                st.cursor = start + 1;
            }
            let end = (start + n) * self.cs();
            st.file_len = st.file_len.max(end);
            return Ok(start * self.cs());
        }
    }

    /// Create refcount block number `t`, placed inside the range it covers (all free,
    /// since it had no block), preferably at or beyond the end of the file.
    fn create_refblock(&self, st: &mut State, t: u64) -> Result<()> {
        let per = self.refblock_entries();
        let cs = self.cs();
        if t as usize >= st.reftable.len() {
            self.grow_reftable(st, t + 1)?;
            if st.reftable.get(t as usize).copied().unwrap_or(0) != 0 {
                return Ok(());
            }
        }
        let first = t * per;
        let eof_cluster = st.file_len.div_ceil(cs);
        let at = if eof_cluster > first && eof_cluster < first + per {
            eof_cluster
        } else {
            first.max(1)
        };
        let mut data = vec![0u8; cs as usize];
        refcount::set(
            &mut data,
            self.header.refcount_order,
            (at - first) as usize,
            1,
        )?;
        let offset = at * cs;
        if let Some((victim, dirty)) = st.refblocks.victim() {
            if dirty {
                self.write_table(st, Which::Refblock, victim)?;
            }
            st.refblocks.remove(victim);
        }
        st.refblocks.insert(offset, data, true);
        st.reftable[t as usize] = offset;
        st.reftable_dirty.insert(t as usize);
        st.file_len = st.file_len.max(offset + cs);
        Ok(())
    }

    /// Grow the refcount table to at least `min_len` entries: a new, larger table and the
    /// refcount blocks describing it go past everything the old table covers; the header
    /// switches to it in one write, then the old table's clusters are freed.
    fn grow_reftable(&self, st: &mut State, min_len: u64) -> Result<()> {
        let cs = self.cs();
        let per = self.refblock_entries();
        let old_len = st.reftable.len() as u64;
        let base = (old_len * per).max(st.file_len.div_ceil(cs));
        let mut new_len = min_len.max(old_len + old_len / 2 + 1);
        let (clusters, blocks) = loop {
            let clusters = (new_len * 8).div_ceil(cs);
            let mut blocks = 1;
            while (base + clusters + blocks - 1) / per - base / per + 1 > blocks {
                blocks += 1;
            }
            let last_t = (base + clusters + blocks - 1) / per;
            if last_t < new_len {
                break (clusters, blocks);
            }
            new_len = last_t + 1;
        };
        if clusters * cs > 8 << 20 {
            return Err(BlockError::Unsupported(
                "refcount table beyond 8 MiB".into(),
            ));
        }
        // Blocks already dirty must be on disk before a table that points to them.
        self.write_dirty(st, Which::Refblock)?;
        self.sync()?;
        let mut table = st.reftable.clone();
        table.resize((clusters * cs / 8) as usize, 0);
        let used = base..base + clusters + blocks;
        let first_t = base / per;
        for (i, t) in (first_t..first_t + blocks).enumerate() {
            let at = base + clusters + i as u64;
            let mut data = vec![0u8; cs as usize];
            for c in used.clone().filter(|c| c / per == t) {
                refcount::set(&mut data, self.header.refcount_order, (c % per) as usize, 1)?;
            }
            self.pwrite(&data, at * cs)
                .map_err(io("write refcount block"))?;
            table[t as usize] = at * cs;
        }
        let bytes: Vec<u8> = table.iter().flat_map(|e| e.to_be_bytes()).collect();
        self.pwrite(&bytes, base * cs)
            .map_err(io("write refcount table"))?;
        self.sync()?;
        let mut field = [0u8; 12];
        field[..8].copy_from_slice(&(base * cs).to_be_bytes());
        field[8..].copy_from_slice(&(clusters as u32).to_be_bytes());
        self.pwrite(&field, header::OFF_REFCOUNT_TABLE)
            .map_err(io("write qcow2 header"))?;
        self.sync()?;
        let old_offset = st.reftable_offset;
        let old_clusters = (old_len * 8).div_ceil(cs);
        st.reftable = table;
        st.reftable_offset = base * cs;
        st.reftable_dirty.clear();
        st.file_len = st.file_len.max((base + clusters + blocks) * cs);
        for c in old_offset / cs..old_offset / cs + old_clusters {
            self.set_refcount(st, c, 0)?;
        }
        st.cursor = st.cursor.min(old_offset / cs);
        Ok(())
    }

    /// Drop one reference to each host cluster of a mapping that is being replaced.
    fn release(&self, st: &mut State, m: Mapping) {
        let cs = self.cs();
        match m {
            Mapping::Data { host, .. } | Mapping::Zero { host } if host != 0 => {
                st.pending_free.push((host / cs, 1));
            }
            Mapping::Compressed { host, len } => {
                let first = host / cs;
                let last = (host + len - 1) / cs;
                st.pending_free.push((first, last - first + 1));
            }
            _ => {}
        }
    }

    // ----- write-back ------------------------------------------------------------------

    /// Every write to the image file goes through here, so crash tests can stop the
    /// process at any chosen write (`RFISH_CRASH_AFTER_WRITES=N` aborts before write N+1;
    /// read once when the image is opened).
    fn pwrite(&self, buf: &[u8], offset: u64) -> std::io::Result<()> {
        super::crash_point(&self.writes, self.crash_after);
        self.file.write_all_at(buf, offset)?;
        self.phys_end.fetch_max(
            offset + buf.len() as u64,
            std::sync::atomic::Ordering::SeqCst,
        );
        Ok(())
    }

    fn sync(&self) -> Result<()> {
        self.file.sync_data().map_err(io("flush qcow2 image"))
    }

    /// Write every dirty table of one cache; true if anything was written.
    fn write_dirty(&self, st: &mut State, which: Which) -> Result<bool> {
        let dirty = Self::cache(st, which).dirty_offsets();
        for &off in &dirty {
            self.write_table(st, which, off)?;
        }
        Ok(!dirty.is_empty())
    }

    /// Write all cached metadata back in crash-safe order (see the module comment).
    fn flush_metadata(&self, st: &mut State) -> Result<()> {
        if self.read_only || !st.writable {
            return Ok(());
        }
        let mut unsynced = st.data_written;
        if self.write_dirty(st, Which::Refblock)? {
            unsynced = true;
        }
        if !st.reftable_dirty.is_empty() {
            self.sync()?;
            for &t in &st.reftable_dirty {
                self.pwrite(
                    &st.reftable[t].to_be_bytes(),
                    st.reftable_offset + t as u64 * 8,
                )
                .map_err(io("write refcount table"))?;
            }
            st.reftable_dirty.clear();
            unsynced = true;
        }
        if !st.l2.dirty_offsets().is_empty() {
            if unsynced {
                self.sync()?;
            }
            self.write_dirty(st, Which::L2)?;
            unsynced = true;
        }
        if !st.l1.dirty_offsets().is_empty() {
            if unsynced {
                self.sync()?;
            }
            self.write_dirty(st, Which::L1)?;
            unsynced = true;
        }
        if unsynced {
            self.sync()?;
        }
        st.data_written = false;
        if !st.pending_free.is_empty() {
            let frees = std::mem::take(&mut st.pending_free);
            for (first, count) in frees {
                for c in first..first + count {
                    let r = self.refcount(st, c)?;
                    if r == 0 {
                        return Err(BlockError::corrupt(
                            "refcount block",
                            format!("freeing cluster {c}, whose refcount is already 0"),
                        ));
                    }
                    self.set_refcount(st, c, r - 1)?;
                    if r == 1 {
                        st.cursor = st.cursor.min(c);
                    }
                }
            }
            self.write_dirty(st, Which::Refblock)?;
            self.sync()?;
        }
        Ok(())
    }

    /// Checks before the first write of a session.
    fn prepare_write(&self, st: &mut State) -> Result<()> {
        if st.writable {
            return Ok(());
        }
        if self.read_only {
            return Err(BlockError::ReadOnly);
        }
        if st.incompatible & INCOMPAT_CORRUPT != 0 {
            return Err(BlockError::Unsupported(format!(
                "{}: the image is marked corrupt; writes are refused (repair it with 'qemu-img check -r all')",
                self.name
            )));
        }
        if self.header.nb_snapshots > 0 {
            return Err(BlockError::Unsupported(format!(
                "{}: writing to an image with internal snapshots (see disk-snapshot-list; delete them with 'qemu-img snapshot -d', or add the image read-only)",
                self.name
            )));
        }
        if st.incompatible & INCOMPAT_DIRTY != 0 {
            repair::rebuild_refcounts(self, st)?;
            st.incompatible &= !INCOMPAT_DIRTY;
            self.pwrite(&st.incompatible.to_be_bytes(), header::OFF_INCOMPAT)
                .map_err(io("write qcow2 header"))?;
            self.sync()?;
        }
        if self.header.version >= 3 && self.header.autoclear != 0 {
            // Bitmaps (and any unknown auto-clear feature) are not kept up to date by rfish:
            // the specification requires clearing their bits before the first write.
            self.pwrite(&0u64.to_be_bytes(), header::OFF_AUTOCLEAR)
                .map_err(io("write qcow2 header"))?;
            self.sync()?;
        }
        st.writable = true;
        Ok(())
    }

    /// The L2 table that maps guest cluster `gc`, created (or made writable) if needed.
    fn l2_for_write(&self, st: &mut State, gc: u64) -> Result<u64> {
        let l1_index = gc / self.l2_entries();
        let (table, copied) = self.l1_get(st, l1_index)?;
        if table == 0 {
            let table = self.alloc(st, 1)?;
            if let Some((victim, dirty)) = st.l2.victim() {
                if dirty {
                    self.flush_metadata(st)?;
                }
                st.l2.remove(victim);
            }
            st.l2.insert(table, vec![0u8; self.cs() as usize], true);
            self.l1_set(st, l1_index, table | l2::COPIED)?;
            return Ok(table);
        }
        if !copied {
            if self.refcount(st, table / self.cs())? != 1 {
                return Err(BlockError::Unsupported(format!(
                    "{}: L2 table {table} is shared (snapshot data); repair with 'qemu-img check -r all'",
                    self.name
                )));
            }
            self.l1_set(st, l1_index, table | l2::COPIED)?;
        }
        Ok(table)
    }

    /// Write `data` at byte `within` of guest cluster `gc`.
    fn write_cluster(&self, st: &mut State, gc: u64, within: u64, data: &[u8]) -> Result<()> {
        let cs = self.cs();
        let table = self.l2_for_write(st, gc)?;
        let index = gc % self.l2_entries();
        let (entry, bitmap) = self.l2_get(st, table, index)?;
        let m = l2::decode(
            entry,
            bitmap,
            self.header.cluster_bits,
            self.header.version,
            st.file_len,
        )?;
        if let Mapping::Data {
            host,
            copied,
            subclusters,
        } = m
            && host != 0
            && subclusters.is_none_or(|b| b & l2::ALL_ALLOCATED == l2::ALL_ALLOCATED)
        {
            let in_place = copied || self.refcount(st, host / cs)? == 1;
            if in_place {
                if !copied {
                    self.l2_set(st, table, index, entry | l2::COPIED, bitmap)?;
                }
                self.pwrite(data, host + within)
                    .map_err(io("write qcow2 data"))?;
                st.data_written = true;
                return Ok(());
            }
        }
        let host = self.alloc(st, 1)?;
        let reads_as_zero = match m {
            Mapping::Zero { .. } => true,
            Mapping::Unallocated => self.backing.is_none(),
            _ => false,
        };
        let past_end = host >= self.phys_end.load(std::sync::atomic::Ordering::SeqCst);
        if reads_as_zero && past_end {
            // A fresh cluster past the file's end is a hole: only the new bytes need
            // writing, the rest already reads as zeros.
            self.pwrite(data, host + within)
                .map_err(io("write qcow2 data"))?;
        } else {
            // Copy on write: the cluster's current contents with the new bytes.
            let mut buf = vec![0u8; cs as usize];
            if within != 0 || data.len() as u64 != cs {
                self.read_mapped(st.file_len, gc, m, 0, &mut buf)?;
            }
            buf[within as usize..within as usize + data.len()].copy_from_slice(data);
            self.pwrite(&buf, host).map_err(io("write qcow2 data"))?;
        }
        st.data_written = true;
        let bitmap = self.header.extended_l2().then_some(l2::ALL_ALLOCATED);
        self.l2_set(st, table, index, host | l2::COPIED, bitmap)?;
        self.release(st, m);
        Ok(())
    }

    /// Make whole guest cluster `gc` read as zeros.
    fn zero_cluster(&self, st: &mut State, gc: u64) -> Result<()> {
        let cs = self.cs();
        let l1_index = gc / self.l2_entries();
        let (table, _) = self.l1_get(st, l1_index)?;
        let has_backing = self.backing.is_some();
        if table == 0 && !has_backing {
            return Ok(()); // unallocated without a backing file already reads as zeros
        }
        let m = if table == 0 {
            Mapping::Unallocated
        } else {
            self.lookup(st, gc)?
        };
        match m {
            Mapping::Zero { host: 0 } => return Ok(()),
            Mapping::Unallocated if !has_backing => return Ok(()),
            _ => {}
        }
        if self.header.version < 3 && has_backing {
            // Version 2 cannot say "zero" over a backing file: store the zeros.
            return self.write_cluster(st, gc, 0, &vec![0u8; cs as usize]);
        }
        let table = self.l2_for_write(st, gc)?;
        let index = gc % self.l2_entries();
        let (entry, bitmap) = match (self.header.extended_l2(), self.header.version >= 3) {
            (true, _) => (0, Some(l2::ALL_ZERO)),
            (false, true) => (l2::ZERO, None),
            (false, false) => (0, None),
        };
        self.l2_set(st, table, index, entry, bitmap)?;
        self.release(st, m);
        Ok(())
    }

    /// Allocation status of guest cluster `gc` (Unallocated means "ask the backing file").
    fn classify(&self, st: &mut State, gc: u64) -> Result<Option<Allocation>> {
        Ok(match self.lookup(st, gc)? {
            Mapping::Unallocated => None,
            Mapping::Zero { .. } => Some(Allocation::Zero),
            _ => Some(Allocation::Data),
        })
    }
}

impl BlockDev for Qcow2 {
    fn size(&self) -> u64 {
        self.header.size
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        check_range(offset, buf.len() as u64, self.size())?;
        let _io = self.io.read().unwrap_or_else(PoisonError::into_inner);
        self.read_shared(buf, offset)
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> Result<()> {
        check_range(offset, buf.len() as u64, self.size())?;
        let _io = self.io.write().unwrap_or_else(PoisonError::into_inner);
        let mut st = self.lock();
        self.prepare_write(&mut st)?;
        self.forget_decompressed();
        let cs = self.cs();
        let mut done = 0u64;
        let len = buf.len() as u64;
        while done < len {
            let pos = offset + done;
            let n = (cs - pos % cs).min(len - done);
            self.write_cluster(
                &mut st,
                pos / cs,
                pos % cs,
                &buf[done as usize..(done + n) as usize],
            )?;
            done += n;
        }
        Ok(())
    }

    fn flush(&self) -> Result<()> {
        let _io = self.io.write().unwrap_or_else(PoisonError::into_inner);
        let mut st = self.lock();
        self.flush_metadata(&mut st)
    }

    fn write_zeroes(&self, offset: u64, len: u64) -> Result<()> {
        check_range(offset, len, self.size())?;
        let _io = self.io.write().unwrap_or_else(PoisonError::into_inner);
        let mut st = self.lock();
        self.prepare_write(&mut st)?;
        self.forget_decompressed();
        let cs = self.cs();
        let end = offset + len;
        let mut pos = offset;
        while pos < end {
            let gc = pos / cs;
            let cluster_end = ((gc + 1) * cs).min(self.size());
            let n = cluster_end.min(end) - pos;
            if pos % cs == 0 && pos + n == cluster_end {
                // A whole cluster (the last one may be short of a full cluster).
                if n == cs || cluster_end == self.size() {
                    self.zero_cluster(&mut st, gc)?;
                    pos += n;
                    continue;
                }
            }
            self.write_cluster(&mut st, gc, pos % cs, &vec![0u8; n as usize])?;
            pos += n;
        }
        Ok(())
    }

    fn block_status(&self, offset: u64, len: u64) -> Result<(u64, Allocation)> {
        check_range(offset, len, self.size())?;
        let mut st = self.lock();
        let cs = self.cs();
        let end = offset + len;
        let first = self.classify(&mut st, offset / cs)?;
        let mut run_end = ((offset / cs) + 1) * cs;
        while run_end < end {
            let gc = run_end / cs;
            // Whole L2 ranges without a table are one unallocated run.
            let (table, _) = self.l1_get(&mut st, gc / self.l2_entries())?;
            if table == 0 && first.is_none() && gc % self.l2_entries() == 0 {
                run_end += self.l2_entries() * cs;
                continue;
            }
            if self.classify(&mut st, gc)? != first {
                break;
            }
            run_end += cs;
        }
        let run_end = run_end.min(end);
        match first {
            Some(a) => Ok((run_end - offset, a)),
            None => match &self.backing {
                Some(b) if offset < b.size() => {
                    let upto = run_end.min(b.size());
                    b.block_status(offset, upto - offset)
                }
                _ => Ok((run_end - offset, Allocation::Zero)),
            },
        }
    }

    fn is_read_only(&self) -> bool {
        self.read_only
    }

    fn format_name(&self) -> &'static str {
        "qcow2"
    }
}

impl Drop for Qcow2 {
    fn drop(&mut self) {
        let st = self.state.get_mut().unwrap_or_else(PoisonError::into_inner);
        let mut st = std::mem::replace(st, empty_state());
        // Errors at close have nowhere to go; flush explicitly to see them.
        let _ = self.flush_metadata(&mut st);
    }
}

fn empty_state() -> State {
    State {
        file_len: 0,
        l1: TableCache::new(1),
        l2: TableCache::new(1),
        refblocks: TableCache::new(1),
        reftable: Vec::new(),
        reftable_offset: 0,
        reftable_dirty: BTreeSet::new(),
        pending_free: Vec::new(),
        cursor: 0,
        data_written: false,
        writable: false,
        incompatible: 0,
    }
}
