//! File operations rfish asks of the agent on a filesystem the appliance mounted for it
//! (the remote side of [`crate::appliance::remote::RemoteFs`]), and their answers.
//!
//! Files are named by a path relative to the filesystem's root: components separated by
//! `/`, none empty, `.` or `..`; the empty path is the root. The agent resolves every path
//! beneath the root without following symbolic links, so a path names one file of that
//! filesystem and nothing else. Encoded with the codec of [`super::proto`].

use super::proto::{Dec, Enc, ProtoError};
use crate::fs::{NewNode, SetAttr, Stat, StatVfs, Timespec, Xattrs};

/// The most file bytes one Read or Write carries (frames stay well under the cap).
pub const DATA_CHUNK: u32 = 4 << 20;

/// A file operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FsOp {
    /// lstat.
    Lstat(Vec<u8>),
    /// The entries of a directory from index `start`, each with its lstat; the answer says
    /// where the next batch starts.
    ReadDir {
        /// The directory.
        path: Vec<u8>,
        /// First entry wanted.
        start: u32,
    },
    /// Up to `len` bytes at `offset`.
    Read {
        /// The file.
        path: Vec<u8>,
        /// Where.
        offset: u64,
        /// How many (at most [`DATA_CHUNK`]).
        len: u32,
    },
    /// readlink.
    ReadLink(Vec<u8>),
    /// Every extended attribute.
    Xattrs(Vec<u8>),
    /// statvfs of the filesystem.
    StatVfs,
    /// Make a file, FIFO, socket or device node (answer: its lstat).
    Create(Vec<u8>, NewNode),
    /// Make a directory (answer: its lstat).
    Mkdir(Vec<u8>, NewNode),
    /// Make a symbolic link owned by `node.uid`/`node.gid` (answer: its lstat).
    Symlink(Vec<u8>, Vec<u8>, NewNode),
    /// Hard link: existing path, new path.
    Link(Vec<u8>, Vec<u8>),
    /// unlink.
    Unlink(Vec<u8>),
    /// rmdir.
    Rmdir(Vec<u8>),
    /// rename: from, to.
    Rename(Vec<u8>, Vec<u8>),
    /// pwrite.
    Write {
        /// The file.
        path: Vec<u8>,
        /// Where.
        offset: u64,
        /// What (at most [`DATA_CHUNK`] bytes).
        data: Vec<u8>,
    },
    /// truncate.
    Truncate(Vec<u8>, u64),
    /// chmod/chown/utimensat/chattr.
    SetAttr(Vec<u8>, SetAttr),
    /// lsattr flags.
    InodeFlags(Vec<u8>),
    /// posix_fallocate: path, offset, length.
    Allocate(Vec<u8>, u64, u64),
    /// Set (`Some`) or remove (`None`) an extended attribute.
    SetXattr(Vec<u8>, Vec<u8>, Option<Vec<u8>>),
    /// syncfs.
    Sync,
    /// Every file below a directory, depth first (each directory's entries in readdir
    /// order, a directory before its contents), paged like ReadDir; names are paths
    /// relative to `path`.
    ReadTree {
        /// The directory.
        path: Vec<u8>,
        /// First entry wanted.
        start: u32,
    },
    /// Several operations in order, stopping at the first failure (no batches inside).
    Batch(Vec<FsOp>),
}

/// One directory entry with its attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteEntry {
    /// The name.
    pub name: Vec<u8>,
    /// Its lstat.
    pub stat: Stat,
    /// Its extended attributes (`None` where the filesystem has none).
    pub xattrs: Option<Xattrs>,
}

/// A successful answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FsAnswer {
    /// Done.
    Done,
    /// Attributes.
    Stat(Stat),
    /// A batch of directory entries, and where the next batch starts (`None`: finished).
    Entries(Vec<RemoteEntry>, Option<u32>),
    /// Bytes (file data, a link target).
    Data(Vec<u8>),
    /// Extended attributes.
    Xattrs(Xattrs),
    /// Filesystem statistics.
    StatVfs(StatVfs),
    /// lsattr flags.
    Flags(u32),
}

fn enc_time(e: &mut Enc, t: Timespec) {
    e.u64(t.sec as u64).u32(t.nsec);
}

fn dec_time(d: &mut Dec<'_>) -> Result<Timespec, ProtoError> {
    let sec = d.u64()? as i64;
    let nsec = d.u32()?;
    if nsec >= 1_000_000_000 {
        return Err(ProtoError::Malformed(format!("{nsec} nanoseconds")));
    }
    Ok(Timespec { sec, nsec })
}

fn enc_opt_time(e: &mut Enc, t: Option<Timespec>) {
    match t {
        Some(t) => {
            e.u8(1);
            enc_time(e, t);
        }
        None => {
            e.u8(0);
        }
    }
}

fn dec_opt_time(d: &mut Dec<'_>) -> Result<Option<Timespec>, ProtoError> {
    Ok(if d.bool()? { Some(dec_time(d)?) } else { None })
}

fn enc_opt_u32(e: &mut Enc, v: Option<u32>) {
    match v {
        Some(v) => e.u8(1).u32(v),
        None => e.u8(0),
    };
}

fn dec_opt_u32(d: &mut Dec<'_>) -> Result<Option<u32>, ProtoError> {
    Ok(if d.bool()? { Some(d.u32()?) } else { None })
}

fn enc_stat(e: &mut Enc, s: &Stat) {
    e.u64(s.ino)
        .u32(s.mode)
        .u64(s.nlink)
        .u32(s.uid)
        .u32(s.gid)
        .u32(s.rdev.0)
        .u32(s.rdev.1)
        .u64(s.size)
        .u64(s.blocks)
        .u32(s.blksize);
    enc_time(e, s.atime);
    enc_time(e, s.mtime);
    enc_time(e, s.ctime);
    enc_opt_time(e, s.crtime);
    e.u32(s.flags);
}

fn dec_stat(d: &mut Dec<'_>) -> Result<Stat, ProtoError> {
    Ok(Stat {
        ino: d.u64()?,
        mode: d.u32()?,
        nlink: d.u64()?,
        uid: d.u32()?,
        gid: d.u32()?,
        rdev: (d.u32()?, d.u32()?),
        size: d.u64()?,
        blocks: d.u64()?,
        blksize: d.u32()?,
        atime: dec_time(d)?,
        mtime: dec_time(d)?,
        ctime: dec_time(d)?,
        crtime: dec_opt_time(d)?,
        flags: d.u32()?,
    })
}

fn enc_node(e: &mut Enc, n: &NewNode) {
    e.u32(n.mode)
        .u32(n.uid)
        .u32(n.gid)
        .u32(n.rdev.0)
        .u32(n.rdev.1);
}

fn dec_node(d: &mut Dec<'_>) -> Result<NewNode, ProtoError> {
    Ok(NewNode {
        mode: d.u32()?,
        uid: d.u32()?,
        gid: d.u32()?,
        rdev: (d.u32()?, d.u32()?),
    })
}

/// A count read from the frame, bounded by what the rest of the frame could hold (each
/// item takes at least `min_item` bytes): never an allocation of a hostile size.
fn dec_count(d: &mut Dec<'_>, min_item: usize) -> Result<usize, ProtoError> {
    let n = d.u32()? as usize;
    if n > (d.body.len() - d.at) / min_item.max(1) {
        return Err(ProtoError::Malformed(format!("{n} items")));
    }
    Ok(n)
}

fn enc_xattrs(e: &mut Enc, list: &Xattrs) {
    e.u32(list.len() as u32);
    for (n, v) in list {
        e.bytes(n).bytes(v);
    }
}

fn dec_xattrs(d: &mut Dec<'_>) -> Result<Xattrs, ProtoError> {
    let n = dec_count(d, 8)?;
    let mut list = Vec::with_capacity(n);
    for _ in 0..n {
        list.push((d.bytes()?, d.bytes()?));
    }
    Ok(list)
}

impl FsOp {
    /// Append the operation's encoding.
    pub(crate) fn encode_into(&self, e: &mut Enc) {
        match self {
            FsOp::Lstat(p) => {
                e.u8(1).bytes(p);
            }
            FsOp::ReadDir { path, start } => {
                e.u8(2).bytes(path).u32(*start);
            }
            FsOp::Read { path, offset, len } => {
                e.u8(3).bytes(path).u64(*offset).u32(*len);
            }
            FsOp::ReadLink(p) => {
                e.u8(4).bytes(p);
            }
            FsOp::Xattrs(p) => {
                e.u8(5).bytes(p);
            }
            FsOp::StatVfs => {
                e.u8(6);
            }
            FsOp::Create(p, n) => {
                e.u8(7).bytes(p);
                enc_node(e, n);
            }
            FsOp::Mkdir(p, n) => {
                e.u8(8).bytes(p);
                enc_node(e, n);
            }
            FsOp::Symlink(p, t, n) => {
                e.u8(9).bytes(p).bytes(t);
                enc_node(e, n);
            }
            FsOp::Link(a, b) => {
                e.u8(10).bytes(a).bytes(b);
            }
            FsOp::Unlink(p) => {
                e.u8(11).bytes(p);
            }
            FsOp::Rmdir(p) => {
                e.u8(12).bytes(p);
            }
            FsOp::Rename(a, b) => {
                e.u8(13).bytes(a).bytes(b);
            }
            FsOp::Write { path, offset, data } => {
                e.u8(14).bytes(path).u64(*offset).bytes(data);
            }
            FsOp::Truncate(p, size) => {
                e.u8(15).bytes(p).u64(*size);
            }
            FsOp::SetAttr(p, a) => {
                e.u8(16).bytes(p);
                enc_opt_u32(e, a.mode);
                enc_opt_u32(e, a.uid);
                enc_opt_u32(e, a.gid);
                enc_opt_time(e, a.atime);
                enc_opt_time(e, a.mtime);
                enc_opt_u32(e, a.flags);
                enc_opt_u32(e, a.generation);
            }
            FsOp::InodeFlags(p) => {
                e.u8(17).bytes(p);
            }
            FsOp::Allocate(p, off, len) => {
                e.u8(18).bytes(p).u64(*off).u64(*len);
            }
            FsOp::SetXattr(p, name, value) => {
                e.u8(19).bytes(p).bytes(name);
                match value {
                    Some(v) => e.u8(1).bytes(v),
                    None => e.u8(0),
                };
            }
            FsOp::Sync => {
                e.u8(20);
            }
            FsOp::ReadTree { path, start } => {
                e.u8(22).bytes(path).u32(*start);
            }
            FsOp::Batch(ops) => {
                e.u8(21).u32(ops.len() as u32);
                for op in ops {
                    op.encode_into(e);
                }
            }
        }
    }

    /// Read an operation.
    pub(crate) fn decode_from(d: &mut Dec<'_>) -> Result<FsOp, ProtoError> {
        Ok(match d.u8()? {
            1 => FsOp::Lstat(d.bytes()?),
            2 => FsOp::ReadDir {
                path: d.bytes()?,
                start: d.u32()?,
            },
            3 => FsOp::Read {
                path: d.bytes()?,
                offset: d.u64()?,
                len: d.u32()?,
            },
            4 => FsOp::ReadLink(d.bytes()?),
            5 => FsOp::Xattrs(d.bytes()?),
            6 => FsOp::StatVfs,
            7 => FsOp::Create(d.bytes()?, dec_node(d)?),
            8 => FsOp::Mkdir(d.bytes()?, dec_node(d)?),
            9 => FsOp::Symlink(d.bytes()?, d.bytes()?, dec_node(d)?),
            10 => FsOp::Link(d.bytes()?, d.bytes()?),
            11 => FsOp::Unlink(d.bytes()?),
            12 => FsOp::Rmdir(d.bytes()?),
            13 => FsOp::Rename(d.bytes()?, d.bytes()?),
            14 => FsOp::Write {
                path: d.bytes()?,
                offset: d.u64()?,
                data: d.bytes()?,
            },
            15 => FsOp::Truncate(d.bytes()?, d.u64()?),
            16 => FsOp::SetAttr(
                d.bytes()?,
                SetAttr {
                    mode: dec_opt_u32(d)?,
                    uid: dec_opt_u32(d)?,
                    gid: dec_opt_u32(d)?,
                    atime: dec_opt_time(d)?,
                    mtime: dec_opt_time(d)?,
                    flags: dec_opt_u32(d)?,
                    generation: dec_opt_u32(d)?,
                },
            ),
            17 => FsOp::InodeFlags(d.bytes()?),
            18 => FsOp::Allocate(d.bytes()?, d.u64()?, d.u64()?),
            19 => {
                let p = d.bytes()?;
                let name = d.bytes()?;
                let value = if d.bool()? { Some(d.bytes()?) } else { None };
                FsOp::SetXattr(p, name, value)
            }
            20 => FsOp::Sync,
            21 => {
                let n = dec_count(d, 1)?;
                let mut ops = Vec::with_capacity(n);
                for _ in 0..n {
                    match FsOp::decode_from(d)? {
                        FsOp::Batch(_) => {
                            return Err(ProtoError::Malformed("a batch in a batch".into()));
                        }
                        op => ops.push(op),
                    }
                }
                FsOp::Batch(ops)
            }
            22 => FsOp::ReadTree {
                path: d.bytes()?,
                start: d.u32()?,
            },
            k => return Err(ProtoError::Malformed(format!("file operation {k}"))),
        })
    }
}

impl FsAnswer {
    /// Append the answer's encoding.
    pub(crate) fn encode_into(&self, e: &mut Enc) {
        match self {
            FsAnswer::Done => {
                e.u8(1);
            }
            FsAnswer::Stat(s) => {
                e.u8(2);
                enc_stat(e, s);
            }
            FsAnswer::Entries(list, next) => {
                e.u8(3).u32(list.len() as u32);
                for ent in list {
                    e.bytes(&ent.name);
                    enc_stat(e, &ent.stat);
                    match &ent.xattrs {
                        Some(x) => {
                            e.u8(1);
                            enc_xattrs(e, x);
                        }
                        None => {
                            e.u8(0);
                        }
                    }
                }
                enc_opt_u32(e, *next);
            }
            FsAnswer::Data(b) => {
                e.u8(4).bytes(b);
            }
            FsAnswer::Xattrs(list) => {
                e.u8(5);
                enc_xattrs(e, list);
            }
            FsAnswer::StatVfs(v) => {
                e.u8(6)
                    .u64(v.bsize)
                    .u64(v.frsize)
                    .u64(v.blocks)
                    .u64(v.bfree)
                    .u64(v.bavail)
                    .u64(v.files)
                    .u64(v.ffree)
                    .u64(v.favail)
                    .u64(v.fsid)
                    .u64(v.flag)
                    .u64(v.namemax);
            }
            FsAnswer::Flags(f) => {
                e.u8(7).u32(*f);
            }
        }
    }

    /// Read an answer.
    pub(crate) fn decode_from(d: &mut Dec<'_>) -> Result<FsAnswer, ProtoError> {
        Ok(match d.u8()? {
            1 => FsAnswer::Done,
            2 => FsAnswer::Stat(dec_stat(d)?),
            3 => {
                // A name's length, the smallest encoded stat (97 bytes), a flag.
                let n = dec_count(d, 4 + 97 + 1)?;
                let mut list = Vec::with_capacity(n);
                for _ in 0..n {
                    list.push(RemoteEntry {
                        name: d.bytes()?,
                        stat: dec_stat(d)?,
                        xattrs: if d.bool()? {
                            Some(dec_xattrs(d)?)
                        } else {
                            None
                        },
                    });
                }
                FsAnswer::Entries(list, dec_opt_u32(d)?)
            }
            4 => FsAnswer::Data(d.bytes()?),
            5 => FsAnswer::Xattrs(dec_xattrs(d)?),
            6 => FsAnswer::StatVfs(StatVfs {
                bsize: d.u64()?,
                frsize: d.u64()?,
                blocks: d.u64()?,
                bfree: d.u64()?,
                bavail: d.u64()?,
                files: d.u64()?,
                ffree: d.u64()?,
                favail: d.u64()?,
                fsid: d.u64()?,
                flag: d.u64()?,
                namemax: d.u64()?,
            }),
            7 => FsAnswer::Flags(d.u32()?),
            k => return Err(ProtoError::Malformed(format!("file answer {k}"))),
        })
    }
}
