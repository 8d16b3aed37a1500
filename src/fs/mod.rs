//! Filesystems behind one trait. `ext4` is rfish's native ext2/3/4 driver; [`vfs`] is the
//! mount table and guest path resolution every file command goes through. The trait carries
//! everything the read commands, the write side and SELinux labelling need (inode numbers,
//! every stat field, extended attributes), so other implementations (the appliance's remote
//! filesystems) slot in without touching the commands.

pub mod error;
pub mod ext4;
pub mod vfs;
pub mod xfs;

pub use error::{Errno, FsError, FsResult};

/// An inode number.
pub type Ino = u64;

/// Extended attributes: (full name, value) pairs.
pub type Xattrs = Vec<(Vec<u8>, Vec<u8>)>;

/// The type of a file, from its mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileType {
    /// S_IFREG.
    Regular,
    /// S_IFDIR.
    Directory,
    /// S_IFLNK.
    Symlink,
    /// S_IFCHR.
    CharDevice,
    /// S_IFBLK.
    BlockDevice,
    /// S_IFIFO.
    Fifo,
    /// S_IFSOCK.
    Socket,
    /// A mode with no valid type.
    Unknown,
}

impl FileType {
    /// The type bits of a mode.
    pub fn from_mode(mode: u32) -> FileType {
        match mode & 0o170000 {
            0o100000 => FileType::Regular,
            0o040000 => FileType::Directory,
            0o120000 => FileType::Symlink,
            0o020000 => FileType::CharDevice,
            0o060000 => FileType::BlockDevice,
            0o010000 => FileType::Fifo,
            0o140000 => FileType::Socket,
            _ => FileType::Unknown,
        }
    }
}

/// A time stamp: seconds since the epoch and nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, PartialOrd, Ord)]
pub struct Timespec {
    /// Seconds (may be negative).
    pub sec: i64,
    /// Nanoseconds, 0..1e9.
    pub nsec: u32,
}

impl Timespec {
    /// The current time.
    pub fn now() -> Timespec {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Timespec {
            sec: d.as_secs() as i64,
            nsec: d.subsec_nanos(),
        }
    }
}

/// Everything `stat(2)` reports, plus the creation time where the filesystem keeps one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    /// Inode number.
    pub ino: Ino,
    /// Type and permission bits.
    pub mode: u32,
    /// Hard links.
    pub nlink: u64,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Device number of a device file (Linux encoding: major, minor).
    pub rdev: (u32, u32),
    /// Size in bytes.
    pub size: u64,
    /// 512-byte units allocated.
    pub blocks: u64,
    /// Preferred I/O size (the block size).
    pub blksize: u32,
    /// Last access.
    pub atime: Timespec,
    /// Last modification.
    pub mtime: Timespec,
    /// Last status change.
    pub ctime: Timespec,
    /// Creation, when recorded.
    pub crtime: Option<Timespec>,
    /// Filesystem-specific inode flags (ext4's `chattr` flags).
    pub flags: u32,
}

impl Stat {
    /// The file type.
    pub fn file_type(&self) -> FileType {
        FileType::from_mode(self.mode)
    }
}

/// One directory entry (never `.` or `..`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// The name, as stored.
    pub name: Vec<u8>,
    /// Its inode.
    pub ino: Ino,
    /// Its type as the directory records it (may be Unknown without the filetype feature).
    pub kind: FileType,
}

/// What `statvfs(2)` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatVfs {
    /// Block size.
    pub bsize: u64,
    /// Fragment size.
    pub frsize: u64,
    /// Blocks in the filesystem (less the metadata overhead, as Linux reports it).
    pub blocks: u64,
    /// Free blocks.
    pub bfree: u64,
    /// Free blocks available to unprivileged users.
    pub bavail: u64,
    /// Inodes.
    pub files: u64,
    /// Free inodes.
    pub ffree: u64,
    /// Free inodes for unprivileged users.
    pub favail: u64,
    /// Filesystem id.
    pub fsid: u64,
    /// Mount flags.
    pub flag: u64,
    /// Longest name.
    pub namemax: u64,
}

/// What a new inode is made with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewNode {
    /// Type and permission bits (`S_IFREG | 0o644`, ...).
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// (major, minor) of a device node.
    pub rdev: (u32, u32),
}

/// Attribute changes; `None` leaves a field alone. ctime always becomes now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SetAttr {
    /// Permission bits (the type is kept).
    pub mode: Option<u32>,
    /// Owner.
    pub uid: Option<u32>,
    /// Group.
    pub gid: Option<u32>,
    /// Access time.
    pub atime: Option<Timespec>,
    /// Modification time.
    pub mtime: Option<Timespec>,
    /// Inode flags as chattr sets them (ext2's `i_flags`).
    pub flags: Option<u32>,
    /// The inode's generation number.
    pub generation: Option<u32>,
}

/// A filesystem rfish can read (and, for implementations that support it, write).
/// Writing methods change the running transaction; [`Filesystem::commit`] makes them
/// durable, [`Filesystem::rollback`] forgets them. Read-only filesystems keep the
/// defaults, which fail with EROFS.
pub trait Filesystem: Send + Sync {
    /// The VFS type name (`ext4`, `ext3`, `ext2`, ...).
    fn type_name(&self) -> &str;
    /// The root directory's inode.
    fn root(&self) -> Ino;
    /// Look `name` up in directory `dir`.
    fn lookup(&self, dir: Ino, name: &[u8]) -> FsResult<Option<Ino>>;
    /// The attributes of an inode.
    fn stat(&self, ino: Ino) -> FsResult<Stat>;
    /// Every entry of a directory except `.` and `..`, in the order readdir(3) returns
    /// them.
    fn read_dir(&self, dir: Ino) -> FsResult<Vec<DirEntry>>;
    /// Every entry as readdir(3) returns them, `.` and `..` included where the filesystem
    /// puts them and with its inode numbers; `None` when the filesystem has no such order
    /// (callers then put `.` and `..` first).
    fn read_dir_with_dots(&self, _dir: Ino) -> FsResult<Option<Vec<DirEntry>>> {
        Ok(None)
    }
    /// Read file bytes at `offset` into `buf`; returns the count (0 at end of file).
    fn read(&self, ino: Ino, offset: u64, buf: &mut [u8]) -> FsResult<usize>;
    /// The target of a symbolic link.
    fn read_link(&self, ino: Ino) -> FsResult<Vec<u8>>;
    /// Every extended attribute of an inode as the kernel's listxattr/getxattr present
    /// them (full names with namespace prefix; POSIX ACLs in the xattr format).
    fn xattrs(&self, ino: Ino) -> FsResult<Xattrs>;
    /// Filesystem statistics.
    fn statvfs(&self) -> FsResult<StatVfs>;

    /// Can this filesystem be written?
    fn writable(&self) -> bool {
        false
    }
    /// Create a regular file, FIFO, socket or device node `name` in `dir`.
    fn create(&self, _dir: Ino, _name: &[u8], _node: &NewNode) -> FsResult<Ino> {
        Err(Errno::ReadOnly.into())
    }
    /// Create directory `name` in `dir`.
    fn mkdir(&self, _dir: Ino, _name: &[u8], _node: &NewNode) -> FsResult<Ino> {
        Err(Errno::ReadOnly.into())
    }
    /// Create symbolic link `name` → `target` in `dir`.
    fn symlink(&self, _dir: Ino, _name: &[u8], _target: &[u8], _node: &NewNode) -> FsResult<Ino> {
        Err(Errno::ReadOnly.into())
    }
    /// Add a hard link `name` in `dir` to `ino`.
    fn link(&self, _ino: Ino, _dir: Ino, _name: &[u8]) -> FsResult<()> {
        Err(Errno::ReadOnly.into())
    }
    /// Remove the non-directory `name` from `dir`.
    fn unlink(&self, _dir: Ino, _name: &[u8]) -> FsResult<()> {
        Err(Errno::ReadOnly.into())
    }
    /// Remove the empty directory `name` from `dir`.
    fn rmdir(&self, _dir: Ino, _name: &[u8]) -> FsResult<()> {
        Err(Errno::ReadOnly.into())
    }
    /// Rename `from_dir/from` to `to_dir/to`, replacing a compatible target.
    fn rename(&self, _from_dir: Ino, _from: &[u8], _to_dir: Ino, _to: &[u8]) -> FsResult<()> {
        Err(Errno::ReadOnly.into())
    }
    /// Write `data` at `offset` of a regular file (growing it as needed).
    fn write(&self, _ino: Ino, _offset: u64, _data: &[u8]) -> FsResult<()> {
        Err(Errno::ReadOnly.into())
    }
    /// Set a regular file's size (freeing or adding a hole past the end).
    fn truncate(&self, _ino: Ino, _size: u64) -> FsResult<()> {
        Err(Errno::ReadOnly.into())
    }
    /// Change attributes.
    fn set_attr(&self, _ino: Ino, _attr: &SetAttr) -> FsResult<()> {
        Err(Errno::ReadOnly.into())
    }
    /// The inode's flags (ext2's `i_flags`, as lsattr shows them) and generation.
    fn inode_flags(&self, _ino: Ino) -> FsResult<(u32, u32)> {
        Err(Errno::NotSupported.into())
    }

    /// Reserve blocks for `[offset, offset + len)` of a regular file (reading as zeros),
    /// growing its size to cover them, as posix_fallocate does.
    fn allocate(&self, _ino: Ino, _offset: u64, _len: u64) -> FsResult<()> {
        Err(Errno::ReadOnly.into())
    }

    /// Make every free block read as zeros (zero-free-space).
    fn zero_free_space(&self) -> FsResult<()> {
        Err(Errno::ReadOnly.into())
    }
    /// Set extended attribute `name` (full name with its namespace) to `value`, or remove
    /// it (`None`: ENODATA when missing).
    fn set_xattr(&self, _ino: Ino, _name: &[u8], _value: Option<&[u8]>) -> FsResult<()> {
        Err(Errno::ReadOnly.into())
    }
    /// Commit now if the running transaction grew large (long imports stay within the
    /// journal; each commit is a consistent filesystem).
    fn checkpoint(&self) -> FsResult<()> {
        Ok(())
    }
    /// Make every change since the last commit durable.
    fn commit(&self) -> FsResult<()> {
        Ok(())
    }
    /// Forget every change since the last commit.
    fn rollback(&self) {}
    /// Make everything written so far reach the device (`sync`): for filesystems another
    /// kernel caches (the appliance's), its own caches too. Commits are enough natively.
    fn sync(&self) -> FsResult<()> {
        self.commit()
    }
    /// About to walk the tree below directory `dir`: a filesystem for which each listing is
    /// a round trip may fetch it all now.
    fn prefetch_tree(&self, _dir: Ino) -> FsResult<()> {
        Ok(())
    }
    /// rfish's number for this filesystem's mount in the appliance, when the appliance's
    /// kernel drives it.
    fn appliance_mount(&self) -> Option<u32> {
        None
    }
}
