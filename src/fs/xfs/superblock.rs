//! The XFS superblock (the first sector of allocation group 0; fields big-endian, offsets
//! from xfs_format.h's `struct xfs_dsb`), and the geometry `xfs_info` reports from it.

use std::fmt;

use crate::block::BlockDev;

/// "XFSB".
pub const MAGIC: u32 = 0x5846_5342;

/// sb_versionnum: the filesystem was made case-insensitive (ASCII) — the "borg" bit.
const VERSION_BORGBIT: u16 = 0x4000;
/// sb_versionnum: extended attributes present.
const VERSION_ATTRBIT: u16 = 0x0010;
/// sb_versionnum: version 2 log.
const VERSION_LOGV2BIT: u16 = 0x0400;
/// sb_versionnum: the low bits are the version number.
const VERSION_NUMBITS: u16 = 0x000f;
/// sb_features2: lazy superblock counters.
const VERSION2_LAZYSBCOUNTBIT: u32 = 0x0002;
/// sb_features2: version 2 attributes.
const VERSION2_ATTR2BIT: u32 = 0x0008;

/// Why a device holds no XFS rfish can describe.
#[derive(Debug)]
pub enum SbError {
    /// The first four bytes are not "XFSB" (the value found).
    BadMagic(u32),
    /// The device could not be read.
    Read(String),
    /// A field is out of range (hostile or damaged).
    Corrupt(&'static str),
}

impl fmt::Display for SbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SbError::BadMagic(m) => write!(f, "unexpected SB magic number 0x{m:08x}"),
            SbError::Read(e) => f.write_str(e),
            SbError::Corrupt(field) => write!(f, "bad superblock field {field}"),
        }
    }
}

/// The superblock fields xfs_info reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Superblock {
    /// Filesystem block size in bytes.
    pub block_size: u32,
    /// Data blocks.
    pub dblocks: u64,
    /// Realtime blocks.
    pub rblocks: u64,
    /// Realtime extents.
    pub rextents: u64,
    /// First block of an internal log (0: external).
    pub logstart: u64,
    /// Realtime extent size in blocks.
    pub rextsize: u32,
    /// Blocks per allocation group.
    pub agblocks: u32,
    /// Allocation groups.
    pub agcount: u32,
    /// Log blocks.
    pub logblocks: u32,
    /// Version number and feature bits.
    pub versionnum: u16,
    /// Sector size.
    pub sectsize: u16,
    /// Inode size.
    pub inodesize: u16,
    /// Percentage of space inodes may take.
    pub imax_pct: u8,
    /// Stripe unit (blocks).
    pub unit: u32,
    /// Stripe width (blocks).
    pub width: u32,
    /// log2 of directory blocks per filesystem block.
    pub dirblklog: u8,
    /// Log sector size (0: the sector size).
    pub logsectsize: u16,
    /// Log stripe unit (bytes).
    pub logsunit: u32,
    /// More feature bits.
    pub features2: u32,
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn be64(b: &[u8], at: usize) -> u64 {
    u64::from_be_bytes([
        b[at],
        b[at + 1],
        b[at + 2],
        b[at + 3],
        b[at + 4],
        b[at + 5],
        b[at + 6],
        b[at + 7],
    ])
}

impl Superblock {
    /// Read the superblock at the start of `dev`.
    pub fn read(dev: &dyn BlockDev) -> Result<Superblock, SbError> {
        let mut b = [0u8; 512];
        if dev.size() < b.len() as u64 {
            return Err(SbError::BadMagic(0));
        }
        dev.read_at(&mut b, 0)
            .map_err(|e| SbError::Read(e.to_string()))?;
        Superblock::parse(&b)
    }

    /// Parse the first 512 bytes of an XFS.
    pub fn parse(b: &[u8; 512]) -> Result<Superblock, SbError> {
        let magic = be32(b, 0);
        if magic != MAGIC {
            return Err(SbError::BadMagic(magic));
        }
        let sb = Superblock {
            block_size: be32(b, 4),
            dblocks: be64(b, 8),
            rblocks: be64(b, 16),
            rextents: be64(b, 24),
            logstart: be64(b, 48),
            rextsize: be32(b, 80),
            agblocks: be32(b, 84),
            agcount: be32(b, 88),
            logblocks: be32(b, 96),
            versionnum: be16(b, 100),
            sectsize: be16(b, 102),
            inodesize: be16(b, 104),
            imax_pct: b[127],
            unit: be32(b, 184),
            width: be32(b, 188),
            dirblklog: b[192],
            logsectsize: be16(b, 194),
            logsunit: be32(b, 196),
            features2: be32(b, 200),
        };
        // The kernel's own limits: 512 B to 64 KiB blocks, directory blocks to 64 KiB.
        if !(512..=65536).contains(&sb.block_size) || !sb.block_size.is_power_of_two() {
            return Err(SbError::Corrupt("sb_blocksize"));
        }
        if u64::from(sb.block_size) << sb.dirblklog.min(16) > 65536 || sb.dirblklog > 16 {
            return Err(SbError::Corrupt("sb_dirblklog"));
        }
        Ok(sb)
    }

    /// A version 5 (CRC-enabled) filesystem.
    pub fn is_v5(&self) -> bool {
        self.versionnum & VERSION_NUMBITS == 5
    }

    /// xfs_info's `attr=` (0, 1 or 2).
    pub fn attr_version(&self) -> u32 {
        if self.is_v5() || self.features2 & VERSION2_ATTR2BIT != 0 {
            2
        } else if self.versionnum & VERSION_ATTRBIT != 0 {
            1
        } else {
            0
        }
    }

    /// Directory block size in bytes.
    pub fn dir_block_size(&self) -> u64 {
        u64::from(self.block_size) << self.dirblklog
    }

    /// xfs_info's `ascii-ci=`.
    pub fn ascii_ci(&self) -> bool {
        self.versionnum & VERSION_BORGBIT != 0
    }

    /// xfs_info's log `version=`.
    pub fn log_version(&self) -> u32 {
        if self.is_v5() || self.versionnum & VERSION_LOGV2BIT != 0 {
            2
        } else {
            1
        }
    }

    /// Log sector size in bytes.
    pub fn log_sector_size(&self) -> u32 {
        if self.logsectsize == 0 {
            512
        } else {
            u32::from(self.logsectsize)
        }
    }

    /// xfs_info's `lazy-count=`.
    pub fn lazy_count(&self) -> bool {
        self.is_v5() || self.features2 & VERSION2_LAZYSBCOUNTBIT != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_superblocks_are_refused() {
        let mut b = [0u8; 512];
        assert!(matches!(Superblock::parse(&b), Err(SbError::BadMagic(0))));
        b[..4].copy_from_slice(b"XFSB");
        b[4..8].copy_from_slice(&3000u32.to_be_bytes());
        assert!(matches!(
            Superblock::parse(&b),
            Err(SbError::Corrupt("sb_blocksize"))
        ));
        b[4..8].copy_from_slice(&4096u32.to_be_bytes());
        b[192] = 200;
        assert!(matches!(
            Superblock::parse(&b),
            Err(SbError::Corrupt("sb_dirblklog"))
        ));
        b[192] = 0;
        assert!(Superblock::parse(&b).is_ok());
    }
}
