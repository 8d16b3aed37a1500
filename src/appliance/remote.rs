//! A filesystem the appliance's kernel drives (XFS, btrfs, vfat, NTFS, ...), behind the
//! same [`Filesystem`] trait as rfish's native ext4 driver, so every file command works on
//! it unchanged.
//!
//! Inodes are the guest kernel's inode numbers; rfish remembers a path (relative to the
//! filesystem's root) for each inode it has seen and names files to the agent by path.
//! Round trips are what cost, so: a directory listing comes with every entry's attributes in
//! one answer; attributes, lookups and listings are cached until something changes them
//! (rfish's own writes drop exactly what they change; a guest program drops everything);
//! reads fetch at least 1 MiB ahead; consecutive writes to one file are gathered into
//! 4 MiB requests.

use std::collections::HashMap;
use std::sync::Mutex;

use super::fsproto::{DATA_CHUNK, FsAnswer, FsOp};
use super::link::{Link, LinkError};
use crate::block::BlockError;
use crate::fs::{
    DirEntry, Errno, Filesystem, FsError, FsResult, Ino, NewNode, SetAttr, Stat, StatVfs, Xattrs,
};

/// The least a read fetches.
const READ_AHEAD: usize = 1 << 20;

/// Queued changes are sent when they reach this size.
const QUEUE_BYTES: usize = DATA_CHUNK as usize;

/// A filesystem mounted in the appliance.
pub struct RemoteFs {
    link: Link,
    id: u32,
    vfstype: String,
    writable: bool,
    root: Ino,
    cache: Mutex<Cache>,
}

#[derive(Default)]
struct Cache {
    epoch: u64,
    /// A path for each inode seen (kept across epochs: a path stays a good guess).
    paths: HashMap<Ino, Vec<u8>>,
    stats: HashMap<Ino, Stat>,
    dirs: HashMap<Ino, Vec<DirEntry>>,
    names: HashMap<(Ino, Vec<u8>), Ino>,
    /// Directories whose whole tree was fetched in this epoch (kept up to date since).
    prefetched: std::collections::HashSet<Ino>,
    /// Extended attributes, from directory listings or asked for.
    xattrs: HashMap<Ino, Xattrs>,
    /// Read-ahead: (inode, offset, bytes).
    window: Option<(Ino, u64, Vec<u8>)>,
    /// Changes not sent yet (writes, attributes, extended attributes), in order, and the
    /// data bytes they carry.
    queue: Vec<FsOp>,
    queued_bytes: usize,
}

impl Cache {
    fn forget(&mut self, ino: Ino) {
        self.stats.remove(&ino);
        self.xattrs.remove(&ino);
        if self.window.as_ref().is_some_and(|w| w.0 == ino) {
            self.window = None;
        }
    }

    fn forget_dir(&mut self, dir: Ino, name: &[u8]) {
        self.forget(dir);
        self.dirs.remove(&dir);
        if let Some(ino) = self.names.remove(&(dir, name.to_vec())) {
            self.forget(ino);
        }
    }

    fn learn(&mut self, path: Vec<u8>, dir: Option<Ino>, name: &[u8], stat: Stat) -> Ino {
        let ino = stat.ino;
        if let Some(d) = dir {
            self.names.insert((d, name.to_vec()), ino);
        }
        self.paths.insert(ino, path);
        self.stats.insert(ino, stat);
        ino
    }
}

fn link_error(e: LinkError) -> FsError {
    match e {
        LinkError::Errno(n, _) => FsError::Errno(Errno::from_linux(n)),
        LinkError::Appliance(m) => FsError::Block(BlockError::Io {
            context: "appliance".into(),
            source: std::io::Error::other(m),
        }),
    }
}

fn unexpected(a: FsAnswer) -> FsError {
    FsError::Block(BlockError::Io {
        context: "appliance".into(),
        source: std::io::Error::other(format!("unexpected answer from the agent: {a:?}")),
    })
}

/// A directory entry name must be one component.
fn check_name(name: &[u8]) -> FsResult<()> {
    if name.is_empty() || name == b"." || name == b".." || name.contains(&b'/') {
        return Err(Errno::Invalid.into());
    }
    if name.len() > 255 {
        return Err(Errno::NameTooLong.into());
    }
    Ok(())
}

fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    let mut p = dir.to_vec();
    if !p.is_empty() {
        p.push(b'/');
    }
    p.extend_from_slice(name);
    p
}

impl RemoteFs {
    /// The filesystem of rfish's appliance mount `id`.
    pub fn new(link: Link, id: u32, vfstype: &str, writable: bool) -> FsResult<RemoteFs> {
        let mut fs = RemoteFs {
            link,
            id,
            vfstype: vfstype.to_string(),
            writable,
            root: 0,
            cache: Mutex::new(Cache::default()),
        };
        let stat = match fs.call(FsOp::Lstat(Vec::new()))? {
            FsAnswer::Stat(s) => s,
            other => return Err(unexpected(other)),
        };
        fs.root = stat.ino;
        fs.lock().learn(Vec::new(), None, b"", stat);
        Ok(fs)
    }

    fn call(&self, op: FsOp) -> FsResult<FsAnswer> {
        self.link.fs(self.id, op).map_err(link_error)
    }

    /// The cache, emptied first if guest programs ran since it was filled.
    fn lock(&self) -> std::sync::MutexGuard<'_, Cache> {
        let epoch = self.link.epoch();
        let mut c = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if c.epoch != epoch {
            // Numbers the agent made up (btrfs subvolumes) may mean other files after
            // the appliance booted again.
            let mut paths = std::mem::take(&mut c.paths);
            paths.retain(|ino, _| *ino < crate::appliance::agent::SYNTHETIC_INO);
            let queue = std::mem::take(&mut c.queue);
            *c = Cache {
                epoch,
                paths,
                queued_bytes: c.queued_bytes,
                queue,
                ..Cache::default()
            };
        }
        c
    }

    fn path(&self, c: &Cache, ino: Ino) -> FsResult<Vec<u8>> {
        c.paths.get(&ino).cloned().ok_or(Errno::NotFound.into())
    }

    /// Send the queued changes (one request).
    fn flush(&self, c: &mut Cache) -> FsResult<()> {
        let mut queue = std::mem::take(&mut c.queue);
        c.queued_bytes = 0;
        match queue.len() {
            0 => Ok(()),
            1 => self.call(queue.remove(0)).map(drop),
            _ => self.call(FsOp::Batch(queue)).map(drop),
        }
    }

    /// Queue a change to `ino` (sent with the next operation that needs an answer, at
    /// commit, or when the queue is big).
    fn defer(&self, c: &mut Cache, op: FsOp, bytes: usize) -> FsResult<()> {
        c.queue.push(op);
        c.queued_bytes += bytes + 64;
        if c.queued_bytes >= QUEUE_BYTES {
            self.flush(c)?;
        }
        Ok(())
    }

    fn stat_path(&self, path: Vec<u8>) -> FsResult<Stat> {
        match self.call(FsOp::Lstat(path))? {
            FsAnswer::Stat(s) => Ok(s),
            other => Err(unexpected(other)),
        }
    }

    /// Every entry of a paged listing (`op(start)` asks for the page at `start`).
    fn pages(
        &self,
        op: impl Fn(u32) -> FsOp,
        mut each: impl FnMut(super::fsproto::RemoteEntry),
    ) -> FsResult<()> {
        let mut start = 0;
        loop {
            let (batch, next) = match self.call(op(start))? {
                FsAnswer::Entries(b, n) => (b, n),
                other => return Err(unexpected(other)),
            };
            batch.into_iter().for_each(&mut each);
            match next {
                Some(n) if n > start => start = n,
                _ => return Ok(()),
            }
        }
    }

    /// A creating operation in `dir`: the new inode.
    fn make(&self, dir: Ino, name: &[u8], op: impl FnOnce(Vec<u8>) -> FsOp) -> FsResult<Ino> {
        check_name(name)?;
        let mut c = self.lock();
        self.flush(&mut c)?;
        let path = join(&self.path(&c, dir)?, name);
        let answer = self.call(op(path.clone()));
        c.forget_dir(dir, name);
        match answer? {
            FsAnswer::Stat(s) => Ok(c.learn(path, Some(dir), name, s)),
            other => Err(unexpected(other)),
        }
    }

    /// A change to `ino` that needs no answer: queued.
    fn change_later(&self, ino: Ino, op: impl FnOnce(Vec<u8>) -> FsOp) -> FsResult<()> {
        let mut c = self.lock();
        let path = self.path(&c, ino)?;
        c.forget(ino);
        self.defer(&mut c, op(path), 0)
    }

    /// An operation changing inode `ino`'s contents or attributes.
    fn change(&self, ino: Ino, op: impl FnOnce(Vec<u8>) -> FsOp) -> FsResult<()> {
        let mut c = self.lock();
        self.flush(&mut c)?;
        let path = self.path(&c, ino)?;
        let r = self.call(op(path));
        c.forget(ino);
        r.map(drop)
    }
}

impl Drop for RemoteFs {
    fn drop(&mut self) {
        let mut c = self.lock();
        let _ = self.flush(&mut c);
        drop(c);
        let _ = self.link.detach(self.id);
    }
}

impl Filesystem for RemoteFs {
    fn type_name(&self) -> &str {
        &self.vfstype
    }

    fn root(&self) -> Ino {
        self.root
    }

    fn lookup(&self, dir: Ino, name: &[u8]) -> FsResult<Option<Ino>> {
        if check_name(name).is_err() {
            return Ok(None);
        }
        let mut c = self.lock();
        if let Some(&ino) = c.names.get(&(dir, name.to_vec())) {
            return Ok(Some(ino));
        }
        if let Some(list) = c.dirs.get(&dir) {
            return Ok(list.iter().find(|e| e.name == name).map(|e| e.ino));
        }
        self.flush(&mut c)?;
        let path = join(&self.path(&c, dir)?, name);
        match self.stat_path(path.clone()) {
            Ok(s) => Ok(Some(c.learn(path, Some(dir), name, s))),
            Err(FsError::Errno(Errno::NotFound)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn stat(&self, ino: Ino) -> FsResult<Stat> {
        let mut c = self.lock();
        if let Some(s) = c.stats.get(&ino) {
            return Ok(s.clone());
        }
        self.flush(&mut c)?;
        let s = self.stat_path(self.path(&c, ino)?)?;
        if s.ino != ino {
            // The path now names another file (a guest program moved things).
            return Err(Errno::NotFound.into());
        }
        c.stats.insert(ino, s.clone());
        Ok(s)
    }

    fn read_dir(&self, dir: Ino) -> FsResult<Vec<DirEntry>> {
        let mut c = self.lock();
        if let Some(list) = c.dirs.get(&dir) {
            return Ok(list.clone());
        }
        self.flush(&mut c)?;
        let path = self.path(&c, dir)?;
        let mut out = Vec::new();
        self.pages(
            |start| FsOp::ReadDir {
                path: path.clone(),
                start,
            },
            |e| {
                let kind = e.stat.file_type();
                let ino = c.learn(join(&path, &e.name), Some(dir), &e.name, e.stat);
                c.xattrs.insert(ino, e.xattrs.unwrap_or_default());
                out.push(DirEntry {
                    name: e.name,
                    ino,
                    kind,
                });
            },
        )?;
        c.dirs.insert(dir, out.clone());
        Ok(out)
    }

    fn read(&self, ino: Ino, offset: u64, buf: &mut [u8]) -> FsResult<usize> {
        let mut c = self.lock();
        if !c.queue.is_empty() {
            self.flush(&mut c)?;
        }
        if let Some((wino, woff, data)) = &c.window
            && *wino == ino
            && offset >= *woff
            && (offset - woff) < data.len() as u64
        {
            let from = (offset - woff) as usize;
            let n = buf.len().min(data.len() - from);
            buf[..n].copy_from_slice(&data[from..from + n]);
            return Ok(n);
        }
        let path = self.path(&c, ino)?;
        let len = buf.len().max(READ_AHEAD).min(DATA_CHUNK as usize) as u32;
        let data = match self.call(FsOp::Read { path, offset, len })? {
            FsAnswer::Data(d) => d,
            other => return Err(unexpected(other)),
        };
        let n = buf.len().min(data.len());
        buf[..n].copy_from_slice(&data[..n]);
        c.window = Some((ino, offset, data));
        Ok(n)
    }

    fn read_link(&self, ino: Ino) -> FsResult<Vec<u8>> {
        let path = self.path(&self.lock(), ino)?;
        match self.call(FsOp::ReadLink(path))? {
            FsAnswer::Data(d) => Ok(d),
            other => Err(unexpected(other)),
        }
    }

    fn xattrs(&self, ino: Ino) -> FsResult<Xattrs> {
        let mut c = self.lock();
        if let Some(x) = c.xattrs.get(&ino) {
            return Ok(x.clone());
        }
        self.flush(&mut c)?;
        let path = self.path(&c, ino)?;
        let x = match self.call(FsOp::Xattrs(path)) {
            Ok(FsAnswer::Xattrs(x)) => x,
            // Filesystems without extended attributes (vfat) have none.
            Err(FsError::Errno(Errno::NotSupported)) => Vec::new(),
            Ok(other) => return Err(unexpected(other)),
            Err(e) => return Err(e),
        };
        c.xattrs.insert(ino, x.clone());
        Ok(x)
    }

    fn statvfs(&self) -> FsResult<StatVfs> {
        let mut c = self.lock();
        self.flush(&mut c)?;
        match self.call(FsOp::StatVfs)? {
            FsAnswer::StatVfs(v) => Ok(v),
            other => Err(unexpected(other)),
        }
    }

    fn writable(&self) -> bool {
        self.writable
    }

    fn create(&self, dir: Ino, name: &[u8], node: &NewNode) -> FsResult<Ino> {
        self.make(dir, name, |p| FsOp::Create(p, *node))
    }

    fn mkdir(&self, dir: Ino, name: &[u8], node: &NewNode) -> FsResult<Ino> {
        self.make(dir, name, |p| FsOp::Mkdir(p, *node))
    }

    fn symlink(&self, dir: Ino, name: &[u8], target: &[u8], node: &NewNode) -> FsResult<Ino> {
        self.make(dir, name, |p| FsOp::Symlink(p, target.to_vec(), *node))
    }

    fn link(&self, ino: Ino, dir: Ino, name: &[u8]) -> FsResult<()> {
        check_name(name)?;
        let mut c = self.lock();
        self.flush(&mut c)?;
        let from = self.path(&c, ino)?;
        let to = join(&self.path(&c, dir)?, name);
        let r = self.call(FsOp::Link(from, to));
        c.forget_dir(dir, name);
        c.forget(ino);
        r.map(drop)
    }

    fn unlink(&self, dir: Ino, name: &[u8]) -> FsResult<()> {
        self.remove(dir, name, FsOp::Unlink)
    }

    fn rmdir(&self, dir: Ino, name: &[u8]) -> FsResult<()> {
        self.remove(dir, name, FsOp::Rmdir)
    }

    fn rename(&self, from_dir: Ino, from: &[u8], to_dir: Ino, to: &[u8]) -> FsResult<()> {
        check_name(from)?;
        check_name(to)?;
        let mut c = self.lock();
        self.flush(&mut c)?;
        let old = join(&self.path(&c, from_dir)?, from);
        let new = join(&self.path(&c, to_dir)?, to);
        let r = self.call(FsOp::Rename(old.clone(), new.clone()));
        let moved = c.names.get(&(from_dir, from.to_vec())).copied();
        c.forget_dir(from_dir, from);
        c.forget_dir(to_dir, to);
        r?;
        // Paths at or under the old name move with it; a replaced target is gone.
        let mut prefix = old.clone();
        prefix.push(b'/');
        c.paths.retain(|_, p| *p != new);
        for p in c.paths.values_mut() {
            if *p == old {
                *p = new.clone();
            } else if p.starts_with(&prefix) {
                let mut q = new.clone();
                q.extend_from_slice(&p[old.len()..]);
                *p = q;
            }
        }
        if let Some(ino) = moved {
            c.forget(ino);
        }
        Ok(())
    }

    fn write(&self, ino: Ino, offset: u64, data: &[u8]) -> FsResult<()> {
        let mut c = self.lock();
        let path = self.path(&c, ino)?;
        c.forget(ino);
        // Join a queued write that this one continues.
        if let Some(FsOp::Write {
            path: qpath,
            offset: qoff,
            data: qdata,
        }) = c.queue.last_mut()
            && *qpath == path
            && *qoff + qdata.len() as u64 == offset
            && qdata.len() + data.len() <= DATA_CHUNK as usize
        {
            qdata.extend_from_slice(data);
            c.queued_bytes += data.len();
            if c.queued_bytes >= QUEUE_BYTES {
                self.flush(&mut c)?;
            }
            return Ok(());
        }
        for (i, chunk) in data.chunks(DATA_CHUNK as usize).enumerate() {
            let op = FsOp::Write {
                path: path.clone(),
                offset: offset + (i * DATA_CHUNK as usize) as u64,
                data: chunk.to_vec(),
            };
            self.defer(&mut c, op, chunk.len())?;
        }
        Ok(())
    }

    fn truncate(&self, ino: Ino, size: u64) -> FsResult<()> {
        self.change(ino, |p| FsOp::Truncate(p, size))
    }

    fn set_attr(&self, ino: Ino, attr: &SetAttr) -> FsResult<()> {
        self.change_later(ino, |p| FsOp::SetAttr(p, *attr))
    }

    fn inode_flags(&self, ino: Ino) -> FsResult<(u32, u32)> {
        let mut c = self.lock();
        self.flush(&mut c)?;
        let path = self.path(&c, ino)?;
        match self.call(FsOp::InodeFlags(path))? {
            FsAnswer::Flags(f) => Ok((f, 0)),
            other => Err(unexpected(other)),
        }
    }

    fn allocate(&self, ino: Ino, offset: u64, len: u64) -> FsResult<()> {
        self.change(ino, |p| FsOp::Allocate(p, offset, len))
    }

    fn set_xattr(&self, ino: Ino, name: &[u8], value: Option<&[u8]>) -> FsResult<()> {
        let mut c = self.lock();
        let path = self.path(&c, ino)?;
        // Keep what is cached right (the change is queued), so relabelling a tree costs
        // one request per queue-full.
        if value.is_none()
            && c.xattrs
                .get(&ino)
                .is_some_and(|x| !x.iter().any(|(n, _)| n == name))
        {
            return Err(Errno::NoData.into());
        }
        let cached = c.xattrs.remove(&ino);
        c.forget(ino);
        if let Some(mut x) = cached {
            x.retain(|(n, _)| n != name);
            if let Some(v) = value {
                x.push((name.to_vec(), v.to_vec()));
            }
            c.xattrs.insert(ino, x);
        }
        let op = FsOp::SetXattr(path, name.to_vec(), value.map(<[u8]>::to_vec));
        self.defer(&mut c, op, value.map_or(0, <[u8]>::len) + name.len())
    }

    fn commit(&self) -> FsResult<()> {
        let mut c = self.lock();
        self.flush(&mut c)
    }

    fn prefetch_tree(&self, dir: Ino) -> FsResult<()> {
        let mut c = self.lock();
        if c.prefetched.contains(&dir) {
            return Ok(());
        }
        self.flush(&mut c)?;
        let base = self.path(&c, dir)?;
        let mut by_path: HashMap<Vec<u8>, Ino> = HashMap::new();
        by_path.insert(Vec::new(), dir);
        let mut lists: HashMap<Ino, Vec<DirEntry>> = HashMap::new();
        lists.insert(dir, Vec::new());
        self.pages(
            |start| FsOp::ReadTree {
                path: base.clone(),
                start,
            },
            |e| {
                let (parent_rel, name) = match e.name.iter().rposition(|&b| b == b'/') {
                    Some(i) => (e.name[..i].to_vec(), e.name[i + 1..].to_vec()),
                    None => (Vec::new(), e.name.clone()),
                };
                let Some(&parent) = by_path.get(&parent_rel) else {
                    return;
                };
                let kind = e.stat.file_type();
                let ino = c.learn(join(&base, &e.name), Some(parent), &name, e.stat);
                c.xattrs.insert(ino, e.xattrs.unwrap_or_default());
                if kind == crate::fs::FileType::Directory {
                    by_path.insert(e.name.clone(), ino);
                    lists.insert(ino, Vec::new());
                }
                if let Some(l) = lists.get_mut(&parent) {
                    l.push(DirEntry { name, ino, kind });
                }
            },
        )?;
        c.dirs.extend(lists);
        c.prefetched.insert(dir);
        Ok(())
    }

    fn sync(&self) -> FsResult<()> {
        let mut c = self.lock();
        self.flush(&mut c)?;
        self.call(FsOp::Sync).map(drop)
    }

    fn appliance_mount(&self) -> Option<u32> {
        Some(self.id)
    }

    fn rollback(&self) {
        // The guest kernel applied every change already; send what is gathered, as the
        // kernel would have had it.
        let mut c = self.lock();
        let _ = self.flush(&mut c);
    }
}

impl RemoteFs {
    fn remove(&self, dir: Ino, name: &[u8], op: fn(Vec<u8>) -> FsOp) -> FsResult<()> {
        check_name(name)?;
        let mut c = self.lock();
        self.flush(&mut c)?;
        let path = join(&self.path(&c, dir)?, name);
        let r = self.call(op(path.clone()));
        c.forget_dir(dir, name);
        r?;
        let mut prefix = path.clone();
        prefix.push(b'/');
        c.paths.retain(|_, p| *p != path && !p.starts_with(&prefix));
        Ok(())
    }
}
