//! rfish's file operations on the filesystems the agent mounted for it ([`FsOp`]).
//!
//! Mount `id` lives at `/rfs/ID`, outside the guest root. Paths arrive relative to that
//! root and are opened with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV)`
//! from a descriptor of the root, so whatever the guest's files contain, an operation
//! reaches a file of that filesystem and never follows a link out of it; the last
//! component is acted on with the `*at` calls and `AT_SYMLINK_NOFOLLOW`.

use std::collections::HashMap;
use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::FileExt;

use rustix::fs::{self as rfs, AtFlags, Mode, OFlags, ResolveFlags, StatxFlags};
use rustix::io::Errno;

use crate::appliance::fsproto::{DATA_CHUNK, FsAnswer, FsOp, RemoteEntry};
use crate::fs::{NewNode, Stat, StatVfs, Timespec, Xattrs};

/// Where mount `id` is mounted in the appliance.
pub fn place(id: u32) -> String {
    format!("/rfs/{id}")
}

/// A failed operation: the errno and what was being done.
pub type Failure = (i32, String);

/// The agent's filesystems, by rfish's mount number: a descriptor of each root.
#[derive(Default)]
pub struct Files {
    roots: HashMap<u32, OwnedFd>,
    /// While a batch runs (writes and attribute changes only: no directory moves), the
    /// last parent directory opened, reused by the next operation in the same directory.
    batch_parent: std::cell::RefCell<Option<(u32, Vec<u8>, OwnedFd)>>,
    in_batch: std::cell::Cell<bool>,
    inos: std::cell::RefCell<InoMap>,
}

const RESOLVE: ResolveFlags = ResolveFlags::BENEATH
    .union(ResolveFlags::NO_SYMLINKS)
    .union(ResolveFlags::NO_MAGICLINKS)
    .union(ResolveFlags::NO_XDEV);

/// Reply budget for one directory batch (well under the frame cap).
const ENTRIES_BUDGET: usize = 4 << 20;

/// A path as the host sent it, checked: no empty, `.` or `..` components, no NUL.
fn checked(path: &[u8]) -> Result<&[u8], Failure> {
    let bad = path.contains(&0)
        || (!path.is_empty()
            && path
                .split(|&b| b == b'/')
                .any(|c| c.is_empty() || c == b"." || c == b".."));
    if bad {
        return Err((
            Errno::INVAL.raw_os_error(),
            format!("bad path {:?}", String::from_utf8_lossy(path)),
        ));
    }
    Ok(path)
}

/// `path`'s parent and last component (the root has neither).
fn split(path: &[u8]) -> Result<(&[u8], &[u8]), Failure> {
    let path = checked(path)?;
    if path.is_empty() {
        return Err((Errno::BUSY.raw_os_error(), "the root".into()));
    }
    Ok(match path.iter().rposition(|&b| b == b'/') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => (&b""[..], path),
    })
}

fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    let mut p = dir.to_vec();
    if !p.is_empty() {
        p.push(b'/');
    }
    p.extend_from_slice(name);
    p
}

fn fail(what: &str, path: &[u8], e: Errno) -> Failure {
    (
        e.raw_os_error(),
        format!("{what} {}: {e}", String::from_utf8_lossy(path)),
    )
}

fn time(t: rfs::StatxTimestamp) -> Timespec {
    Timespec {
        sec: t.tv_sec,
        nsec: t.tv_nsec.min(999_999_999),
    }
}

fn to_stat(x: &rfs::Statx) -> Stat {
    Stat {
        ino: x.stx_ino,
        mode: u32::from(x.stx_mode),
        nlink: u64::from(x.stx_nlink),
        uid: x.stx_uid,
        gid: x.stx_gid,
        rdev: (x.stx_rdev_major, x.stx_rdev_minor),
        size: x.stx_size,
        blocks: x.stx_blocks,
        blksize: x.stx_blksize,
        atime: time(x.stx_atime),
        mtime: time(x.stx_mtime),
        ctime: time(x.stx_ctime),
        crtime: (x.stx_mask & StatxFlags::BTIME.bits() != 0).then(|| time(x.stx_btime)),
        flags: 0,
    }
}

/// lstat of `name` in `dir` (the directory itself for an empty name), and the device
/// the file is on.
fn statx_dev(dir: impl AsFd, name: &[u8]) -> Result<(Stat, (u32, u32)), Errno> {
    let name: &[u8] = if name.is_empty() { b"." } else { name };
    rfs::statx(
        dir,
        name,
        AtFlags::SYMLINK_NOFOLLOW,
        StatxFlags::BASIC_STATS | StatxFlags::BTIME,
    )
    .map(|x| (to_stat(&x), (x.stx_dev_major, x.stx_dev_minor)))
}

fn statx_at(dir: impl AsFd, name: &[u8]) -> Result<Stat, Errno> {
    statx_dev(dir, name).map(|(s, _)| s)
}

/// Inode numbers given to files on another device than their mount's root (btrfs
/// subvolumes number their inodes afresh: every subvolume's root is 256), so that each
/// file of a mount has a number of its own. rfish forgets them when the appliance boots
/// again.
pub const SYNTHETIC_INO: u64 = 1 << 62;

/// The numbering of [`SYNTHETIC_INO`]s.
#[derive(Default)]
struct InoMap {
    root_dev: HashMap<u32, (u32, u32)>,
    synthetic: HashMap<(u32, (u32, u32), u64), u64>,
}

fn rfs_time(t: Option<Timespec>) -> rustix::fs::Timespec {
    match t {
        Some(t) => rustix::fs::Timespec {
            tv_sec: t.sec,
            tv_nsec: i64::from(t.nsec),
        },
        None => rustix::fs::Timespec {
            tv_sec: 0,
            tv_nsec: rfs::UTIME_OMIT,
        },
    }
}

impl Files {
    /// Remember the root of a freshly mounted filesystem.
    pub fn attach(&mut self, id: u32) -> Result<(), String> {
        let fd = rfs::open(
            place(id).as_str(),
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| format!("{}: {e}", place(id)))?;
        let (_, dev) = statx_dev(&fd, b"").map_err(|e| format!("{}: {e}", place(id)))?;
        self.inos.borrow_mut().root_dev.insert(id, dev);
        self.roots.insert(id, fd);
        Ok(())
    }

    /// lstat with an inode number unique within mount `id` (see [`SYNTHETIC_INO`]).
    fn stat_at(&self, id: u32, dir: impl AsFd, name: &[u8]) -> Result<Stat, Errno> {
        let (mut stat, dev) = statx_dev(dir, name)?;
        let mut map = self.inos.borrow_mut();
        if map.root_dev.get(&id) != Some(&dev) {
            let next = SYNTHETIC_INO + map.synthetic.len() as u64;
            stat.ino = *map.synthetic.entry((id, dev, stat.ino)).or_insert(next);
        }
        Ok(stat)
    }

    /// Forget mount `id` (before it is unmounted).
    pub fn detach(&mut self, id: u32) {
        self.roots.remove(&id);
        let mut map = self.inos.borrow_mut();
        map.root_dev.remove(&id);
        map.synthetic.retain(|k, _| k.0 != id);
    }

    /// The mounts rfish has.
    pub fn ids(&self) -> Vec<u32> {
        self.roots.keys().copied().collect()
    }

    fn root(&self, id: u32) -> Result<&OwnedFd, Failure> {
        self.roots.get(&id).ok_or_else(|| {
            (
                Errno::NODEV.raw_os_error(),
                format!("no filesystem {id} is mounted"),
            )
        })
    }

    /// Open `path` beneath the root, never through a symbolic link.
    fn open(&self, id: u32, path: &[u8], flags: OFlags, mode: Mode) -> Result<OwnedFd, Failure> {
        let path = checked(path)?;
        let p: &[u8] = if path.is_empty() { b"." } else { path };
        rfs::openat2(self.root(id)?, p, flags | OFlags::CLOEXEC, mode, RESOLVE)
            .map_err(|e| fail("open", path, e))
    }

    /// The parent directory of `path` (opened for `*at` calls) and its last component.
    fn parent<'p>(&self, id: u32, path: &'p [u8]) -> Result<(OwnedFd, &'p [u8]), Failure> {
        let (dir, name) = split(path)?;
        if self.in_batch.get()
            && let Some((cid, cdir, fd)) = self.batch_parent.borrow().as_ref()
            && *cid == id
            && cdir == dir
            && let Ok(dup) = fd.try_clone()
        {
            return Ok((dup, name));
        }
        let fd = self.open(id, dir, OFlags::PATH | OFlags::DIRECTORY, Mode::empty())?;
        if self.in_batch.get()
            && let Ok(dup) = fd.try_clone()
        {
            *self.batch_parent.borrow_mut() = Some((id, dir.to_vec(), dup));
        }
        Ok((fd, name))
    }

    /// A /proc path naming `path` without following it, for the xattr calls (which take
    /// no directory descriptor): the parent's descriptor link, then the name.
    fn proc_path(&self, id: u32, path: &[u8]) -> Result<(OwnedFd, CString), Failure> {
        let (fd, name): (OwnedFd, Vec<u8>) = if path.is_empty() {
            let fd = self.open(id, b"", OFlags::PATH | OFlags::DIRECTORY, Mode::empty())?;
            (fd, b".".to_vec())
        } else {
            let (fd, name) = self.parent(id, path)?;
            (fd, name.to_vec())
        };
        let mut p = format!("/proc/self/fd/{}/", fd.as_raw_fd()).into_bytes();
        p.extend_from_slice(&name);
        let c = CString::new(p).map_err(|_| (Errno::INVAL.raw_os_error(), "NUL in path".into()))?;
        Ok((fd, c))
    }

    /// Perform one operation.
    pub fn perform(&self, id: u32, op: FsOp) -> Result<FsAnswer, Failure> {
        match op {
            FsOp::Lstat(p) => {
                let p = checked(&p)?;
                if p.is_empty() {
                    return self
                        .stat_at(id, self.root(id)?, b"")
                        .map(FsAnswer::Stat)
                        .map_err(|e| fail("lstat", p, e));
                }
                let (dir, name) = self.parent(id, p)?;
                self.stat_at(id, &dir, name)
                    .map(FsAnswer::Stat)
                    .map_err(|e| fail("lstat", p, e))
            }
            FsOp::ReadDir { path, start } => self.read_dir(id, &path, start),
            FsOp::ReadTree { path, start } => self.read_tree(id, &path, start),
            FsOp::Read { path, offset, len } => {
                let fd = self.open(id, &path, OFlags::RDONLY, Mode::empty())?;
                let file = std::fs::File::from(fd);
                let mut buf = vec![0u8; len.min(DATA_CHUNK) as usize];
                let mut got = 0;
                while got < buf.len() {
                    match file.read_at(&mut buf[got..], offset + got as u64) {
                        Ok(0) => break,
                        Ok(n) => got += n,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            return Err((
                                e.raw_os_error().unwrap_or(5),
                                format!("read {}: {e}", String::from_utf8_lossy(&path)),
                            ));
                        }
                    }
                }
                buf.truncate(got);
                Ok(FsAnswer::Data(buf))
            }
            FsOp::ReadLink(p) => {
                let (dir, name) = self.parent(id, &p)?;
                rfs::readlinkat(&dir, name, Vec::new())
                    .map(|t| FsAnswer::Data(t.into_bytes()))
                    .map_err(|e| fail("readlink", &p, e))
            }
            FsOp::Xattrs(p) => self.xattrs(id, &p),
            FsOp::StatVfs => {
                let v = rfs::fstatvfs(self.root(id)?).map_err(|e| fail("statvfs", b"", e))?;
                Ok(FsAnswer::StatVfs(StatVfs {
                    bsize: v.f_bsize,
                    frsize: v.f_frsize,
                    blocks: v.f_blocks,
                    bfree: v.f_bfree,
                    bavail: v.f_bavail,
                    files: v.f_files,
                    ffree: v.f_ffree,
                    favail: v.f_favail,
                    fsid: v.f_fsid,
                    flag: v.f_flag.bits(),
                    namemax: v.f_namemax,
                }))
            }
            FsOp::Create(p, node) => self.create(id, &p, &node),
            FsOp::Mkdir(p, node) => {
                let (dir, name) = self.parent(id, &p)?;
                rfs::mkdirat(&dir, name, Mode::from_raw_mode(0o700))
                    .map_err(|e| fail("mkdir", &p, e))?;
                own(&dir, name, &node, true).map_err(|e| fail("mkdir", &p, e))?;
                self.stat_at(id, &dir, name)
                    .map(FsAnswer::Stat)
                    .map_err(|e| fail("lstat", &p, e))
            }
            FsOp::Symlink(p, target, node) => {
                let (dir, name) = self.parent(id, &p)?;
                rfs::symlinkat(target.as_slice(), &dir, name)
                    .map_err(|e| fail("symlink", &p, e))?;
                own(&dir, name, &node, false).map_err(|e| fail("symlink", &p, e))?;
                self.stat_at(id, &dir, name)
                    .map(FsAnswer::Stat)
                    .map_err(|e| fail("lstat", &p, e))
            }
            FsOp::Link(from, to) => {
                let (fdir, fname) = self.parent(id, &from)?;
                let (tdir, tname) = self.parent(id, &to)?;
                rfs::linkat(&fdir, fname, &tdir, tname, AtFlags::empty())
                    .map(|()| FsAnswer::Done)
                    .map_err(|e| fail("link", &to, e))
            }
            FsOp::Unlink(p) => {
                let (dir, name) = self.parent(id, &p)?;
                rfs::unlinkat(&dir, name, AtFlags::empty())
                    .map(|()| FsAnswer::Done)
                    .map_err(|e| fail("unlink", &p, e))
            }
            FsOp::Rmdir(p) => {
                let (dir, name) = self.parent(id, &p)?;
                rfs::unlinkat(&dir, name, AtFlags::REMOVEDIR)
                    .map(|()| FsAnswer::Done)
                    .map_err(|e| fail("rmdir", &p, e))
            }
            FsOp::Rename(from, to) => {
                let (fdir, fname) = self.parent(id, &from)?;
                let (tdir, tname) = self.parent(id, &to)?;
                rfs::renameat(&fdir, fname, &tdir, tname)
                    .map(|()| FsAnswer::Done)
                    .map_err(|e| fail("rename", &from, e))
            }
            FsOp::Write { path, offset, data } => {
                let fd = self.open(id, &path, OFlags::WRONLY, Mode::empty())?;
                std::fs::File::from(fd)
                    .write_all_at(&data, offset)
                    .map(|()| FsAnswer::Done)
                    .map_err(|e| {
                        (
                            e.raw_os_error().unwrap_or(5),
                            format!("write {}: {e}", String::from_utf8_lossy(&path)),
                        )
                    })
            }
            FsOp::Truncate(p, size) => {
                let fd = self.open(id, &p, OFlags::WRONLY, Mode::empty())?;
                rfs::ftruncate(&fd, size)
                    .map(|()| FsAnswer::Done)
                    .map_err(|e| fail("truncate", &p, e))
            }
            FsOp::SetAttr(p, a) => self.set_attr(id, &p, &a),
            FsOp::InodeFlags(p) => {
                let fd = self.open(id, &p, OFlags::RDONLY | OFlags::NONBLOCK, Mode::empty())?;
                rfs::ioctl_getflags(&fd)
                    .map(|f| FsAnswer::Flags(f.bits()))
                    .map_err(|e| fail("get flags", &p, e))
            }
            FsOp::Allocate(p, offset, len) => {
                let fd = self.open(id, &p, OFlags::WRONLY, Mode::empty())?;
                rfs::fallocate(&fd, rfs::FallocateFlags::empty(), offset, len)
                    .map(|()| FsAnswer::Done)
                    .map_err(|e| fail("fallocate", &p, e))
            }
            FsOp::SetXattr(p, name, value) => {
                let (_keep, path) = self.proc_path(id, &p)?;
                let r = match &value {
                    Some(v) => rfs::lsetxattr(&path, name.as_slice(), v, rfs::XattrFlags::empty()),
                    None => rfs::lremovexattr(&path, name.as_slice()),
                };
                r.map(|()| FsAnswer::Done)
                    .map_err(|e| fail("setxattr", &p, e))
            }
            FsOp::Sync => {
                // syncfs needs a descriptor opened for reading (not O_PATH).
                let fd = self.open(id, b"", OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty())?;
                rfs::syncfs(&fd)
                    .map(|()| FsAnswer::Done)
                    .map_err(|e| fail("syncfs", b"", e))
            }
            FsOp::Batch(ops) => {
                // Only operations that leave the directory tree as it is may share parents.
                let shares = ops.iter().all(|op| {
                    matches!(
                        op,
                        FsOp::Write { .. } | FsOp::SetAttr(..) | FsOp::SetXattr(..)
                    )
                });
                self.in_batch.set(shares);
                let mut result = Ok(FsAnswer::Done);
                for op in ops {
                    if matches!(op, FsOp::Batch(_)) {
                        result = Err((Errno::INVAL.raw_os_error(), "a batch in a batch".into()));
                        break;
                    }
                    if let Err(e) = self.perform(id, op) {
                        result = Err(e);
                        break;
                    }
                }
                self.in_batch.set(false);
                self.batch_parent.borrow_mut().take();
                result
            }
        }
    }

    fn read_dir(&self, id: u32, path: &[u8], start: u32) -> Result<FsAnswer, Failure> {
        let (fd, names) = self.names(id, path)?;
        let mut out = Vec::new();
        let mut used = 0;
        for (i, name) in names.into_iter().enumerate().skip(start as usize) {
            if used > ENTRIES_BUDGET {
                return Ok(FsAnswer::Entries(out, Some(i as u32)));
            }
            if let Some(e) = entry(self, id, &fd, &name, name.clone())? {
                used += e.1;
                out.push(e.0);
            }
        }
        Ok(FsAnswer::Entries(out, None))
    }

    /// The names in directory `path`, in readdir order.
    fn names(&self, id: u32, path: &[u8]) -> Result<(OwnedFd, Vec<Vec<u8>>), Failure> {
        let fd = self.open(id, path, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty())?;
        let dir = rfs::Dir::read_from(&fd).map_err(|e| fail("opendir", path, e))?;
        let mut names = Vec::new();
        for ent in dir {
            let ent = ent.map_err(|e| fail("readdir", path, e))?;
            let name = ent.file_name().to_bytes();
            if name != b"." && name != b".." {
                names.push(name.to_vec());
            }
        }
        Ok((fd, names))
    }

    /// One page of the depth-first walk below `path` (the walk is done again up to
    /// `start` for each page: pages are large, trees rarely need more than a few).
    fn read_tree(&self, id: u32, path: &[u8], start: u32) -> Result<FsAnswer, Failure> {
        let mut out = Vec::new();
        let mut index = 0u32;
        let mut used = 0usize;
        // (relative directory, its remaining names), innermost last.
        let mut stack: Vec<(Vec<u8>, std::vec::IntoIter<Vec<u8>>, OwnedFd)> = Vec::new();
        let (fd, names) = self.names(id, path)?;
        stack.push((Vec::new(), names.into_iter(), fd));
        while let Some((rel, names, fd)) = stack.last_mut() {
            let Some(name) = names.next() else {
                stack.pop();
                continue;
            };
            if used > ENTRIES_BUDGET {
                return Ok(FsAnswer::Entries(out, Some(index)));
            }
            let rel_name = join(rel, &name);
            // Entries of earlier pages are only walked through: their type is enough.
            let is_dir = if index >= start {
                let Some((e, size)) = entry(self, id, &*fd, &name, rel_name.clone())? else {
                    continue;
                };
                let is_dir = e.stat.file_type() == crate::fs::FileType::Directory;
                used += size;
                out.push(e);
                is_dir
            } else {
                match statx_at(&*fd, &name) {
                    Ok(st) => st.file_type() == crate::fs::FileType::Directory,
                    Err(Errno::NOENT) => continue,
                    Err(e) => return Err(fail("lstat", &rel_name, e)),
                }
            };
            index += 1;
            if is_dir {
                let (fd, names) = self.names(id, &join(path, &rel_name))?;
                stack.push((rel_name, names.into_iter(), fd));
            }
        }
        Ok(FsAnswer::Entries(out, None))
    }

    fn xattrs(&self, id: u32, p: &[u8]) -> Result<FsAnswer, Failure> {
        let (_keep, path) = self.proc_path(id, p)?;
        xattrs_of(&path)
            .map(FsAnswer::Xattrs)
            .map_err(|e| fail("listxattr", p, e))
    }

    fn create(&self, id: u32, p: &[u8], node: &NewNode) -> Result<FsAnswer, Failure> {
        let (dir, name) = self.parent(id, p)?;
        let kind = rfs::FileType::from_raw_mode(node.mode);
        let perm = Mode::from_raw_mode(0o600);
        let made = if kind == rfs::FileType::RegularFile {
            rfs::openat(
                &dir,
                name,
                OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                perm,
            )
            .map(drop)
        } else {
            let dev = rfs::makedev(node.rdev.0, node.rdev.1);
            rfs::mknodat(&dir, name, kind, perm, dev)
        };
        made.map_err(|e| fail("create", p, e))?;
        own(&dir, name, node, true).map_err(|e| fail("create", p, e))?;
        self.stat_at(id, &dir, name)
            .map(FsAnswer::Stat)
            .map_err(|e| fail("lstat", p, e))
    }

    fn set_attr(&self, id: u32, p: &[u8], a: &crate::fs::SetAttr) -> Result<FsAnswer, Failure> {
        if a.generation.is_some() {
            return Err((
                Errno::OPNOTSUPP.raw_os_error(),
                "setting the generation".into(),
            ));
        }
        let (dir, name): (OwnedFd, Vec<u8>) = if p.is_empty() {
            let fd = self.open(id, b"", OFlags::PATH | OFlags::DIRECTORY, Mode::empty())?;
            (fd, b".".to_vec())
        } else {
            let (fd, n) = self.parent(id, p)?;
            (fd, n.to_vec())
        };
        let name = name.as_slice();
        if a.uid.is_some() || a.gid.is_some() {
            rfs::chownat(
                &dir,
                name,
                a.uid.map(rfs::Uid::from_raw),
                a.gid.map(rfs::Gid::from_raw),
                AtFlags::SYMLINK_NOFOLLOW,
            )
            .map_err(|e| fail("chown", p, e))?;
        }
        if let Some(mode) = a.mode {
            let st = statx_at(&dir, name).map_err(|e| fail("lstat", p, e))?;
            // Linux has no mode for symbolic links: chmod would follow the link.
            if st.file_type() != crate::fs::FileType::Symlink {
                rfs::chmodat(
                    &dir,
                    name,
                    Mode::from_raw_mode(mode & 0o7777),
                    AtFlags::empty(),
                )
                .map_err(|e| fail("chmod", p, e))?;
            }
        }
        if a.atime.is_some() || a.mtime.is_some() {
            let times = rfs::Timestamps {
                last_access: rfs_time(a.atime),
                last_modification: rfs_time(a.mtime),
            };
            rfs::utimensat(&dir, name, &times, AtFlags::SYMLINK_NOFOLLOW)
                .map_err(|e| fail("utimensat", p, e))?;
        }
        if let Some(flags) = a.flags {
            let fd = self.open(id, p, OFlags::RDONLY | OFlags::NONBLOCK, Mode::empty())?;
            rfs::ioctl_setflags(&fd, rfs::IFlags::from_bits_retain(flags))
                .map_err(|e| fail("set flags", p, e))?;
        }
        Ok(FsAnswer::Done)
    }
}

/// Every extended attribute of the file `path` names (a /proc path, not followed), with
/// a first try into small buffers (most files have one short label or none).
fn xattrs_of(path: &CString) -> Result<Xattrs, Errno> {
    let mut list = vec![0u8; 1024];
    let n = match rfs::llistxattr(path, &mut list[..]) {
        Ok(n) => n,
        Err(Errno::RANGE) => {
            list = vec![0u8; rfs::llistxattr_query(path)?];
            rfs::llistxattr(path, &mut list[..])?
        }
        Err(e) => return Err(e),
    };
    list.truncate(n);
    let mut out = Vec::new();
    for name in list.split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let mut value = vec![0u8; 256];
        let got = match rfs::lgetxattr(path, name, &mut value[..]) {
            Ok(n) => Ok(n),
            Err(Errno::RANGE) => rfs::lgetxattr_query(path, name).and_then(|size| {
                value = vec![0u8; size];
                rfs::lgetxattr(path, name, &mut value[..])
            }),
            Err(e) => Err(e),
        };
        match got {
            Ok(n) => {
                value.truncate(n);
                out.push((name.to_vec(), value));
            }
            Err(Errno::NODATA) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// `name` in directory `dir` as a listing entry named `shown` (its lstat and extended
/// attributes) and its encoded size; `None` when it went away since readdir (skipped, as
/// readdir would have).
fn entry(
    files: &Files,
    id: u32,
    dir: &OwnedFd,
    name: &[u8],
    shown: Vec<u8>,
) -> Result<Option<(RemoteEntry, usize)>, Failure> {
    let stat = match files.stat_at(id, dir, name) {
        Ok(s) => s,
        Err(Errno::NOENT) => return Ok(None),
        Err(e) => return Err(fail("lstat", &shown, e)),
    };
    let xattrs = at_path(dir, name).and_then(|p| xattrs_of(&p).ok());
    let size = shown.len()
        + 102
        + xattrs.as_ref().map_or(0, |x| {
            x.iter().map(|(n, v)| 8 + n.len() + v.len()).sum::<usize>()
        });
    Ok(Some((
        RemoteEntry {
            name: shown,
            stat,
            xattrs,
        },
        size,
    )))
}

/// The /proc path of `name` in the directory open as `dir`.
fn at_path(dir: &OwnedFd, name: &[u8]) -> Option<CString> {
    let mut p = format!("/proc/self/fd/{}/", dir.as_raw_fd()).into_bytes();
    p.extend_from_slice(name);
    CString::new(p).ok()
}

/// Give a new node its owner, then its exact permission bits (chown clears set-id bits;
/// the umask does not apply).
fn own(dir: &OwnedFd, name: &[u8], node: &NewNode, chmod: bool) -> Result<(), Errno> {
    rfs::chownat(
        dir,
        name,
        Some(rfs::Uid::from_raw(node.uid)),
        Some(rfs::Gid::from_raw(node.gid)),
        AtFlags::SYMLINK_NOFOLLOW,
    )?;
    if chmod {
        rfs::chmodat(
            dir,
            name,
            Mode::from_raw_mode(node.mode & 0o7777),
            AtFlags::empty(),
        )?;
    }
    Ok(())
}
