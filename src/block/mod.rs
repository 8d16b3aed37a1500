//! The block layer: rfish's own image I/O, the single owner of every image file
//! (../shared/design.md, invariants 1, 3, 4 and 5).
//!
//! Everything above it — partitions, filesystems, the appliance's NBD export — sees a
//! [`BlockDev`]: a flat array of bytes with a size. Implementations compose: [`raw::RawFile`]
//! and [`qcow2::Qcow2`] open image files, a qcow2 image reads unallocated clusters from its
//! backing [`BlockDev`], and [`overlay::MemOverlay`] keeps writes in memory on top of any
//! device.
//!
//! # Locking model
//! Every implementation is `Send + Sync` and takes `&self`: a device may be shared (in an
//! `Arc`) between the shell and the NBD export's thread. Each implementation documents what
//! its internal lock guards; none holds a lock while calling into another device's lock
//! except downwards (overlay → base, qcow2 → backing), so there are no lock cycles.

pub mod error;
pub mod format;
pub mod lock;
pub mod nbd;
pub mod overlay;
pub mod qcow2;
pub mod raw;

use std::sync::Arc;

pub use error::{BlockError, Result};
pub use format::{ImageFormat, ImageInfo, OpenOptions, image_info, open_image, probe_format};

/// How a range of a device is stored, for sparse-aware copies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allocation {
    /// Bytes are stored (or inherited from a backing file): read them.
    Data,
    /// The range reads as zeros without being stored: skip it.
    Zero,
}

/// A virtual disk: a fixed-size array of bytes.
///
/// Offsets and lengths are in bytes and need no alignment. Reads and writes must lie
/// within `size()`; [`check_range`] gives the error for those that do not.
pub trait BlockDev: Send + Sync {
    /// The device's size in bytes.
    fn size(&self) -> u64;

    /// Fill `buf` with the bytes at `offset`.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<()>;

    /// Store `buf` at `offset`.
    fn write_at(&self, buf: &[u8], offset: u64) -> Result<()>;

    /// Make every completed write durable (and, for formats with metadata caches, write
    /// the caches back in crash-safe order).
    fn flush(&self) -> Result<()>;

    /// Make `len` bytes at `offset` read as zeros, releasing storage where the format can.
    fn write_zeroes(&self, offset: u64, len: u64) -> Result<()> {
        check_range(offset, len, self.size())?;
        write_zero_bytes(self, offset, len)
    }

    /// Tell the device `len` bytes at `offset` are no longer needed. rfish's devices
    /// guarantee a discarded range reads back as zeros.
    fn discard(&self, offset: u64, len: u64) -> Result<()> {
        self.write_zeroes(offset, len)
    }

    /// How the bytes starting at `offset` are stored: returns the length (at least 1,
    /// at most `len`) of the run that shares one [`Allocation`], and which it is.
    fn block_status(&self, offset: u64, len: u64) -> Result<(u64, Allocation)> {
        check_range(offset, len, self.size())?;
        Ok((len, Allocation::Data))
    }

    /// Writes are refused.
    fn is_read_only(&self) -> bool;

    /// The format's name as `disk-format` prints it.
    fn format_name(&self) -> &'static str;
}

/// A shared handle on a device.
pub type Device = Arc<dyn BlockDev>;

/// Zero a range by writing zero bytes, a megabyte at a time (for devices that cannot
/// release storage).
pub fn write_zero_bytes<D: BlockDev + ?Sized>(dev: &D, offset: u64, len: u64) -> Result<()> {
    const CHUNK: u64 = 1 << 20;
    let zeros = vec![0u8; CHUNK.min(len) as usize];
    let mut done = 0;
    while done < len {
        let n = CHUNK.min(len - done);
        dev.write_at(&zeros[..n as usize], offset + done)?;
        done += n;
    }
    Ok(())
}

/// The error for a request that does not lie within a device of `size` bytes.
pub fn check_range(offset: u64, len: u64, size: u64) -> Result<()> {
    match offset.checked_add(len) {
        Some(end) if end <= size => Ok(()),
        _ => Err(BlockError::OutOfRange { offset, len, size }),
    }
}

/// Crash tests: with `RFISH_CRASH_AFTER_WRITES=N` (read once into `limit` when an image
/// is opened) the process aborts before write N+1; `writes` counts them.
pub fn crash_point(writes: &std::sync::atomic::AtomicU64, limit: Option<u64>) {
    if let Some(limit) = limit {
        if writes.fetch_add(1, std::sync::atomic::Ordering::SeqCst) >= limit {
            std::process::abort();
        }
    }
}

/// The `RFISH_CRASH_AFTER_WRITES` setting.
pub fn crash_limit() -> Option<u64> {
    std::env::var("RFISH_CRASH_AFTER_WRITES")
        .ok()
        .and_then(|v| v.parse().ok())
}

/// Copy a whole device into an empty regular file, reading only allocated ranges and leaving
/// holes for zero runs (so the copy stays sparse). Two worker threads each take 8 MiB
/// pieces of the device in turn, so reads (and qcow2 decompression) overlap. Returns the
/// bytes copied.
pub fn copy_sparse(dev: &dyn BlockDev, out: &mut std::fs::File) -> Result<u64> {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Mutex, PoisonError};
    const PIECE: u64 = 8 << 20;
    let size = dev.size();
    // Size the file first (all holes): writes inside it are cheaper than writes that keep
    // moving its end. No truncation to 0 here: on ext4 that makes close() flush all the
    // data (auto_da_alloc), which costs more than the copy.
    let len = out
        .metadata()
        .map_err(|e| BlockError::io("stat output", e))?
        .len();
    if len != 0 {
        return Err(BlockError::io(
            "copy into output",
            std::io::Error::other("the output file must be empty"),
        ));
    }
    out.set_len(size)
        .map_err(|e| BlockError::io("size output", e))?;
    let next = AtomicU64::new(0);
    let failed: Mutex<Option<BlockError>> = Mutex::new(None);
    let out: &std::fs::File = out;
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 4));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                let mut buf = vec![0u8; COPY_CHUNK.min(size) as usize];
                loop {
                    let start = next.fetch_add(PIECE, Ordering::SeqCst);
                    if start >= size
                        || failed
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .is_some()
                    {
                        return;
                    }
                    let end = (start + PIECE).min(size);
                    if let Err(e) = copy_piece(dev, out, &mut buf, start, end) {
                        failed
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .get_or_insert(e);
                        return;
                    }
                }
            });
        }
    });
    if let Some(e) = failed.into_inner().unwrap_or_else(PoisonError::into_inner) {
        return Err(e);
    }
    Ok(size)
}

/// Copy the allocated parts of `[start, end)` to the same offsets of `out`.
fn copy_piece(
    dev: &dyn BlockDev,
    out: &std::fs::File,
    buf: &mut [u8],
    start: u64,
    end: u64,
) -> Result<()> {
    use std::os::unix::fs::FileExt;
    let mut offset = start;
    while offset < end {
        let (run, status) = dev.block_status(offset, end - offset)?;
        let run = run.clamp(1, end - offset);
        if status == Allocation::Data {
            let mut done = 0;
            while done < run {
                let n = (buf.len() as u64).min(run - done) as usize;
                dev.read_at(&mut buf[..n], offset + done)?;
                out.write_all_at(&buf[..n], offset + done)
                    .map_err(|e| BlockError::io("write output", e))?;
                done += n as u64;
            }
        }
        offset += run;
    }
    Ok(())
}

/// Copy a whole device to a stream (a pipe, standard output): zero runs are written as
/// zeros without reading the device.
pub fn copy_to_stream(dev: &dyn BlockDev, out: &mut dyn std::io::Write) -> Result<u64> {
    let size = dev.size();
    let mut buf = vec![0u8; COPY_CHUNK.min(size) as usize];
    let mut offset = 0;
    while offset < size {
        let (run, status) = dev.block_status(offset, (size - offset).min(1 << 30))?;
        let run = run.clamp(1, size - offset);
        let mut done = 0;
        while done < run {
            let n = COPY_CHUNK.min(run - done) as usize;
            if status == Allocation::Zero {
                buf[..n].fill(0);
            } else {
                dev.read_at(&mut buf[..n], offset + done)?;
            }
            out.write_all(&buf[..n])
                .map_err(|e| BlockError::io("write output", e))?;
            done += n as u64;
        }
        offset += run;
    }
    Ok(size)
}

/// Bytes moved per read in whole-device copies.
const COPY_CHUNK: u64 = 2 << 20;
