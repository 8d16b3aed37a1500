//! An in-memory copy-on-write overlay: writes land in memory, the device below is only
//! read. It backs `--ro --overlay` (experiment freely, nothing reaches the image).
//!
//! Locking: one mutex guards the map of modified chunks; reads of the base device happen
//! with it held, which keeps a chunk's first copy-up atomic.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use super::{Allocation, BlockDev, Device, Result, check_range};

const CHUNK: u64 = 64 * 1024;

/// Writes kept in memory on top of a read-only device.
pub struct MemOverlay {
    base: Device,
    chunks: Mutex<BTreeMap<u64, Box<[u8]>>>,
}

impl MemOverlay {
    /// Put an overlay on `base`.
    pub fn new(base: Device) -> MemOverlay {
        MemOverlay {
            base,
            chunks: Mutex::new(BTreeMap::new()),
        }
    }

    /// Bytes held in memory.
    pub fn memory_used(&self) -> u64 {
        let chunks = self.chunks.lock().unwrap_or_else(PoisonError::into_inner);
        chunks.len() as u64 * CHUNK
    }

    /// The byte range `[start, end)` of the device a chunk covers.
    fn chunk_span(&self, index: u64) -> (u64, u64) {
        let start = index * CHUNK;
        (start, (start + CHUNK).min(self.base.size()))
    }
}

/// Visit `[offset, offset+len)` chunk by chunk: (chunk index, offset in chunk, bytes, offset
/// in the request).
fn for_each_chunk(
    offset: u64,
    len: u64,
    mut f: impl FnMut(u64, usize, usize, usize) -> Result<()>,
) -> Result<()> {
    let mut done = 0;
    while done < len {
        let pos = offset + done;
        let index = pos / CHUNK;
        let within = pos % CHUNK;
        let n = (CHUNK - within).min(len - done);
        f(index, within as usize, n as usize, done as usize)?;
        done += n;
    }
    Ok(())
}

impl BlockDev for MemOverlay {
    fn size(&self) -> u64 {
        self.base.size()
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        check_range(offset, buf.len() as u64, self.size())?;
        let chunks = self.chunks.lock().unwrap_or_else(PoisonError::into_inner);
        for_each_chunk(offset, buf.len() as u64, |index, within, n, at| {
            let dst = &mut buf[at..at + n];
            match chunks.get(&index) {
                Some(data) => dst.copy_from_slice(&data[within..within + n]),
                None => self.base.read_at(dst, index * CHUNK + within as u64)?,
            }
            Ok(())
        })
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> Result<()> {
        check_range(offset, buf.len() as u64, self.size())?;
        let mut chunks = self.chunks.lock().unwrap_or_else(PoisonError::into_inner);
        for_each_chunk(offset, buf.len() as u64, |index, within, n, at| {
            let data = match chunks.entry(index) {
                std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::btree_map::Entry::Vacant(e) => {
                    let (start, end) = self.chunk_span(index);
                    let mut data = vec![0u8; (end - start) as usize].into_boxed_slice();
                    self.base.read_at(&mut data, start)?;
                    e.insert(data)
                }
            };
            data[within..within + n].copy_from_slice(&buf[at..at + n]);
            Ok(())
        })
    }

    fn flush(&self) -> Result<()> {
        Ok(())
    }

    fn block_status(&self, offset: u64, len: u64) -> Result<(u64, Allocation)> {
        check_range(offset, len, self.size())?;
        let index = offset / CHUNK;
        let to_chunk_end = ((index + 1) * CHUNK - offset).min(len);
        let chunks = self.chunks.lock().unwrap_or_else(PoisonError::into_inner);
        if chunks.contains_key(&index) {
            return Ok((to_chunk_end, Allocation::Data));
        }
        let (n, status) = self.base.block_status(offset, to_chunk_end)?;
        Ok((n, status))
    }

    fn is_read_only(&self) -> bool {
        false
    }

    fn format_name(&self) -> &'static str {
        self.base.format_name()
    }
}
