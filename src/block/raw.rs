//! Raw images: plain files, sparse files and host block devices, byte for byte.
//!
//! Allocation maps come from `SEEK_DATA`/`SEEK_HOLE`; zeroing punches holes where the
//! host filesystem can. Locking: none needed — `pread`/`pwrite` on one descriptor are
//! safe from several threads, and the size is fixed when the image is opened.

use std::fs::File;
use std::os::unix::fs::FileExt;

use nix::fcntl::{FallocateFlags, fallocate};
use nix::unistd::{Whence, lseek};

use super::{Allocation, BlockDev, BlockError, Result, check_range, write_zero_bytes};

/// A raw image file or block device.
#[derive(Debug)]
pub struct RawFile {
    file: File,
    size: u64,
    read_only: bool,
    /// `RFISH_CRASH_AFTER_WRITES=N`: abort before write N+1 (crash tests).
    crash_after: Option<u64>,
    writes: std::sync::atomic::AtomicU64,
}

impl RawFile {
    /// Wrap an open file; its size is taken now (files are not resized by rfish).
    pub fn new(file: File, read_only: bool) -> Result<RawFile> {
        let size = file_size(&file)?;
        Ok(RawFile {
            file,
            size,
            read_only,
            crash_after: super::crash_limit(),
            writes: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// The underlying file (for locking).
    pub fn file(&self) -> &File {
        &self.file
    }
}

/// The size of a regular file or block device.
pub fn file_size(file: &File) -> Result<u64> {
    let meta = file
        .metadata()
        .map_err(|e| BlockError::io("stat image", e))?;
    if meta.is_file() {
        return Ok(meta.len());
    }
    let end = lseek(file, 0, Whence::SeekEnd)
        .map_err(|e| BlockError::io("find the size of the device", e.into()))?;
    u64::try_from(end).map_err(|_| BlockError::Unsupported("device with a negative size".into()))
}

/// Read exactly `buf.len()` bytes at `offset`; bytes past the end of the file read as zeros.
pub fn pread_zero_fill(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => {
                buf[done..].fill(0);
                return Ok(());
            }
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

impl BlockDev for RawFile {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        check_range(offset, buf.len() as u64, self.size)?;
        pread_zero_fill(&self.file, buf, offset).map_err(|e| BlockError::io("read image", e))
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> Result<()> {
        if self.read_only {
            return Err(BlockError::ReadOnly);
        }
        check_range(offset, buf.len() as u64, self.size)?;
        super::crash_point(&self.writes, self.crash_after);
        self.file
            .write_all_at(buf, offset)
            .map_err(|e| BlockError::io("write image", e))
    }

    fn flush(&self) -> Result<()> {
        if self.read_only {
            return Ok(());
        }
        self.file
            .sync_data()
            .map_err(|e| BlockError::io("flush image", e))
    }

    fn write_zeroes(&self, offset: u64, len: u64) -> Result<()> {
        if self.read_only {
            return Err(BlockError::ReadOnly);
        }
        check_range(offset, len, self.size)?;
        if len == 0 {
            return Ok(());
        }
        let punched = match (i64::try_from(offset), i64::try_from(len)) {
            (Ok(o), Ok(l)) => fallocate(
                &self.file,
                FallocateFlags::FALLOC_FL_PUNCH_HOLE | FallocateFlags::FALLOC_FL_KEEP_SIZE,
                o,
                l,
            )
            .is_ok(),
            _ => false,
        };
        if punched {
            return Ok(());
        }
        // Block devices and filesystems without hole punching: write the zeros.
        write_zero_bytes(self, offset, len)
    }

    fn block_status(&self, offset: u64, len: u64) -> Result<(u64, Allocation)> {
        check_range(offset, len, self.size)?;
        let end = offset + len;
        let Ok(start) = i64::try_from(offset) else {
            return Ok((len, Allocation::Data));
        };
        // Where is the next data at or after offset? ENXIO: none (all hole to EOF).
        match lseek(&self.file, start, Whence::SeekData) {
            Ok(data) => {
                let data = data as u64;
                if data > offset {
                    return Ok(((data - offset).min(len), Allocation::Zero));
                }
                let hole = match lseek(&self.file, start, Whence::SeekHole) {
                    Ok(h) => h as u64,
                    Err(_) => end,
                };
                Ok((hole.clamp(offset + 1, end) - offset, Allocation::Data))
            }
            Err(nix::errno::Errno::ENXIO) => Ok((len, Allocation::Zero)),
            // No SEEK_DATA here (some filesystems, block devices): all data.
            Err(_) => Ok((len, Allocation::Data)),
        }
    }

    fn is_read_only(&self) -> bool {
        self.read_only
    }

    fn format_name(&self) -> &'static str {
        "raw"
    }
}
