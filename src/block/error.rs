//! The block layer's typed error: what went wrong, and in which on-disk structure.

use std::fmt;
use std::io;

/// Why a block-layer operation failed.
#[derive(Debug)]
pub enum BlockError {
    /// The host refused an I/O call.
    Io {
        /// What rfish was doing ("read qcow2 L2 table", "open", ...).
        context: String,
        /// The host's error.
        source: io::Error,
    },
    /// The image's bytes contradict the format: a hostile or damaged image.
    Corrupt {
        /// The structure that is wrong ("qcow2 header", "L2 table", ...).
        structure: &'static str,
        /// What is wrong with it, naming the field.
        detail: String,
    },
    /// A valid image using something rfish does not implement.
    Unsupported(String),
    /// A write to a device opened read-only.
    ReadOnly,
    /// A request outside the device.
    OutOfRange {
        /// First byte asked for.
        offset: u64,
        /// Bytes asked for.
        len: u64,
        /// The device's size.
        size: u64,
    },
    /// Another process holds the image (QEMU's image locking).
    Locked(String),
    /// An error while opening one image file of a chain, naming the file.
    InFile {
        /// The image file.
        file: String,
        /// What went wrong in it.
        source: Box<BlockError>,
    },
}

impl BlockError {
    /// An I/O error with what rfish was doing.
    pub fn io(context: impl Into<String>, source: io::Error) -> BlockError {
        BlockError::Io {
            context: context.into(),
            source,
        }
    }

    /// Name the image file an open error came from (I/O and lock errors already do).
    pub fn in_file(self, file: &str) -> BlockError {
        match self {
            e @ (BlockError::Io { .. } | BlockError::Locked(_) | BlockError::InFile { .. }) => e,
            e => BlockError::InFile {
                file: file.to_string(),
                source: Box::new(e),
            },
        }
    }

    /// A corrupt-structure error.
    pub fn corrupt(structure: &'static str, detail: impl Into<String>) -> BlockError {
        BlockError::Corrupt {
            structure,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for BlockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlockError::Io { context, source } => {
                write!(f, "{context}: {}", crate::os_error_text(source))
            }
            BlockError::Corrupt { structure, detail } => {
                write!(f, "corrupt image: {structure}: {detail}")
            }
            BlockError::Unsupported(what) => write!(f, "unsupported: {what}"),
            BlockError::ReadOnly => write!(f, "Read-only file system"),
            BlockError::OutOfRange { offset, len, size } => write!(
                f,
                "request of {len} bytes at offset {offset} is beyond the end of the device ({size} bytes)"
            ),
            BlockError::Locked(what) => write!(f, "{what}"),
            BlockError::InFile { file, source } => write!(f, "{file}: {source}"),
        }
    }
}

impl std::error::Error for BlockError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BlockError::Io { source, .. } => Some(source),
            BlockError::InFile { source, .. } => Some(source.as_ref()),
            _ => None,
        }
    }
}

/// Shorthand for block-layer results.
pub type Result<T> = std::result::Result<T, BlockError>;
