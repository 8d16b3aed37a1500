//! The filesystem layer's typed error: an errno a user recognises (as guestfish prints the
//! appliance's `strerror`), or a block-layer error naming the damaged structure.

use std::fmt;

use crate::block::BlockError;

/// The POSIX errors file operations report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Errno {
    /// ENOENT.
    NotFound,
    /// ENOTDIR.
    NotDir,
    /// EISDIR.
    IsDir,
    /// ELOOP.
    Loop,
    /// ENAMETOOLONG.
    NameTooLong,
    /// EINVAL.
    Invalid,
    /// ENODATA (no such extended attribute).
    NoData,
    /// ENOKEY: the file is encrypted and rfish has no key.
    NoKey,
    /// EROFS.
    ReadOnly,
    /// EBUSY.
    Busy,
    /// ENOTSUP.
    NotSupported,
    /// ENOSPC.
    NoSpace,
    /// EEXIST.
    Exists,
    /// ENOTEMPTY.
    NotEmpty,
    /// EMLINK.
    TooManyLinks,
    /// EXDEV.
    CrossDevice,
    /// EPERM.
    NotPermitted,
    /// EFBIG.
    TooBig,
    /// ENOTTY (an ioctl the filesystem refuses).
    NotTty,
    /// EACCES.
    Access,
    /// EIO (and any error rfish has no name for).
    Io,
}

impl Errno {
    /// The C library's `strerror` text.
    pub fn text(self) -> &'static str {
        match self {
            Errno::NotFound => "No such file or directory",
            Errno::NotDir => "Not a directory",
            Errno::IsDir => "Is a directory",
            Errno::Loop => "Too many levels of symbolic links",
            Errno::NameTooLong => "File name too long",
            Errno::Invalid => "Invalid argument",
            Errno::NoData => "No data available",
            Errno::NoKey => "Required key not available",
            Errno::ReadOnly => "Read-only file system",
            Errno::Busy => "Device or resource busy",
            Errno::NotSupported => "Operation not supported",
            Errno::NoSpace => "No space left on device",
            Errno::NotTty => "Inappropriate ioctl for device",
            Errno::Access => "Permission denied",
            Errno::Exists => "File exists",
            Errno::NotEmpty => "Directory not empty",
            Errno::TooManyLinks => "Too many links",
            Errno::CrossDevice => "Invalid cross-device link",
            Errno::NotPermitted => "Operation not permitted",
            Errno::TooBig => "File too large",
            Errno::Io => "Input/output error",
        }
    }

    /// The error for a Linux errno number (one rfish has no variant for is EIO).
    pub fn from_linux(n: i32) -> Errno {
        match n {
            1 => Errno::NotPermitted,
            2 => Errno::NotFound,
            13 => Errno::Access,
            16 => Errno::Busy,
            17 => Errno::Exists,
            18 => Errno::CrossDevice,
            20 => Errno::NotDir,
            21 => Errno::IsDir,
            22 => Errno::Invalid,
            25 => Errno::NotTty,
            27 => Errno::TooBig,
            28 => Errno::NoSpace,
            30 => Errno::ReadOnly,
            31 => Errno::TooManyLinks,
            36 => Errno::NameTooLong,
            39 => Errno::NotEmpty,
            40 => Errno::Loop,
            61 => Errno::NoData,
            95 => Errno::NotSupported,
            126 => Errno::NoKey,
            _ => Errno::Io,
        }
    }
}

/// Why a filesystem operation failed.
#[derive(Debug)]
pub enum FsError {
    /// A POSIX error.
    Errno(Errno),
    /// The device failed, or the filesystem's bytes are corrupt.
    Block(BlockError),
}

impl FsError {
    /// A corrupt on-disk structure.
    pub fn corrupt(structure: &'static str, detail: impl Into<String>) -> FsError {
        FsError::Block(BlockError::corrupt(structure, detail))
    }

    /// The errno, if this is one.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            FsError::Errno(e) => Some(*e),
            FsError::Block(_) => None,
        }
    }
}

impl From<Errno> for FsError {
    fn from(e: Errno) -> FsError {
        FsError::Errno(e)
    }
}

impl From<BlockError> for FsError {
    fn from(e: BlockError) -> FsError {
        FsError::Block(e)
    }
}

impl fmt::Display for FsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FsError::Errno(e) => f.write_str(e.text()),
            FsError::Block(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for FsError {}

/// Results of filesystem operations.
pub type FsResult<T> = std::result::Result<T, FsError>;
