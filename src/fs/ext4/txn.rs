//! The running transaction of a writable ext2/3/4 filesystem: a device layer that keeps
//! every metadata block written since the last commit in memory, in front of the real
//! device. The driver reads through it, so it always sees its own pending changes; the
//! commit (jwrite.rs) journals these blocks, writes them in place and empties the layer;
//! a failed command drops them instead, leaving the filesystem as it was.
//!
//! File data does not go through the layer: new data lands directly in blocks that no
//! committed metadata references yet (the kernel's data=ordered), so a crash before the
//! commit leaves only unreferenced blocks behind.

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::block::{Allocation, BlockDev, BlockError, Device, Result};

/// Pending metadata blocks over a device.
pub struct TxnDev {
    base: Device,
    block_size: u64,
    pending: Mutex<BTreeMap<u64, Vec<u8>>>,
}

impl TxnDev {
    /// A layer over `base` for blocks of `block_size` bytes.
    pub fn new(base: Device, block_size: u32) -> TxnDev {
        TxnDev {
            base,
            block_size: u64::from(block_size),
            pending: Mutex::new(BTreeMap::new()),
        }
    }

    /// The device underneath.
    pub fn base(&self) -> &Device {
        &self.base
    }

    /// Number of pending blocks.
    pub fn pending_blocks(&self) -> usize {
        self.pending.lock().expect("txn").len()
    }

    /// Take every pending block (block number → content), leaving the layer empty.
    pub fn take(&self) -> BTreeMap<u64, Vec<u8>> {
        std::mem::take(&mut *self.pending.lock().expect("txn"))
    }

    /// Forget every pending block.
    pub fn discard(&self) {
        self.pending.lock().expect("txn").clear();
    }

    /// Is block `n` pending?
    pub fn is_pending(&self, n: u64) -> bool {
        self.pending.lock().expect("txn").contains_key(&n)
    }

    /// Write file data straight to the device (not journaled). A pending copy of the same
    /// block, which would only exist for a block that was metadata earlier in this
    /// transaction, is updated too so reads stay coherent.
    pub fn write_data(&self, buf: &[u8], offset: u64) -> Result<()> {
        self.base.write_at(buf, offset)?;
        let mut pending = self.pending.lock().expect("txn");
        if pending.is_empty() {
            return Ok(());
        }
        self.patch(&mut pending, buf, offset, false)
    }

    /// Zero file data straight on the device (holes or zero clusters where the format
    /// can), keeping any pending copy of those blocks coherent.
    pub fn zero_data(&self, offset: u64, len: u64) -> Result<()> {
        self.base.write_zeroes(offset, len)?;
        let mut pending = self.pending.lock().expect("txn");
        let bs = self.block_size;
        let (first, end) = (offset / bs, (offset + len).div_ceil(bs));
        let hit: Vec<u64> = pending.range(first..end).map(|(&b, _)| b).collect();
        for b in hit {
            let lo = (b * bs).max(offset);
            let hi = ((b + 1) * bs).min(offset + len);
            if let Some(block) = pending.get_mut(&b) {
                block[(lo - b * bs) as usize..(hi - b * bs) as usize].fill(0);
            }
        }
        Ok(())
    }

    /// Copy `buf` at byte `offset` into pending blocks (reading the rest of each block
    /// from the device when `create` and the block is not pending yet).
    fn patch(
        &self,
        pending: &mut BTreeMap<u64, Vec<u8>>,
        buf: &[u8],
        offset: u64,
        create: bool,
    ) -> Result<()> {
        let bs = self.block_size;
        let mut done = 0usize;
        while done < buf.len() {
            let at = offset + done as u64;
            let block = at / bs;
            let within = (at % bs) as usize;
            let n = (bs as usize - within).min(buf.len() - done);
            let content = match pending.entry(block) {
                std::collections::btree_map::Entry::Occupied(o) => o.into_mut(),
                std::collections::btree_map::Entry::Vacant(v) => {
                    if !create {
                        done += n;
                        continue;
                    }
                    let mut content = vec![0u8; bs as usize];
                    self.base.read_at(&mut content, block * bs)?;
                    v.insert(content)
                }
            };
            content[within..within + n].copy_from_slice(&buf[done..done + n]);
            done += n;
        }
        Ok(())
    }
}

impl BlockDev for TxnDev {
    fn size(&self) -> u64 {
        self.base.size()
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        let bs = self.block_size;
        {
            let pending = self.pending.lock().expect("txn");
            if pending.is_empty() || buf.is_empty() {
                drop(pending);
                return self.base.read_at(buf, offset);
            }
            let first = offset / bs;
            let last = (offset + buf.len() as u64 - 1) / bs;
            // Entirely pending (the common case for metadata being changed): no device read.
            if (first..=last).all(|b| pending.contains_key(&b)) {
                crate::block::check_range(offset, buf.len() as u64, self.size())?;
                for (&block, content) in pending.range(first..=last) {
                    let start = (block * bs).max(offset);
                    let end = ((block + 1) * bs).min(offset + buf.len() as u64);
                    let src = &content[(start - block * bs) as usize..(end - block * bs) as usize];
                    buf[(start - offset) as usize..(end - offset) as usize].copy_from_slice(src);
                }
                return Ok(());
            }
        }
        self.base.read_at(buf, offset)?;
        let pending = self.pending.lock().expect("txn");
        let first = offset / bs;
        let last = (offset + buf.len() as u64 - 1) / bs;
        for (&block, content) in pending.range(first..=last) {
            let start = (block * bs).max(offset);
            let end = ((block + 1) * bs).min(offset + buf.len() as u64);
            let src = &content[(start - block * bs) as usize..(end - block * bs) as usize];
            buf[(start - offset) as usize..(end - offset) as usize].copy_from_slice(src);
        }
        Ok(())
    }

    /// Metadata writes: kept pending until the commit.
    fn write_at(&self, buf: &[u8], offset: u64) -> Result<()> {
        if self.base.is_read_only() {
            return Err(BlockError::ReadOnly);
        }
        crate::block::check_range(offset, buf.len() as u64, self.size())?;
        let mut pending = self.pending.lock().expect("txn");
        self.patch(&mut pending, buf, offset, true)
    }

    fn flush(&self) -> Result<()> {
        Ok(())
    }

    fn block_status(&self, offset: u64, len: u64) -> Result<(u64, Allocation)> {
        self.base.block_status(offset, len)
    }

    fn is_read_only(&self) -> bool {
        self.base.is_read_only()
    }

    fn format_name(&self) -> &'static str {
        self.base.format_name()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::overlay::MemOverlay;
    use std::sync::Arc;

    fn zeros(len: u64) -> Device {
        struct Zero(u64);
        impl BlockDev for Zero {
            fn size(&self) -> u64 {
                self.0
            }
            fn read_at(&self, buf: &mut [u8], _offset: u64) -> Result<()> {
                buf.fill(0);
                Ok(())
            }
            fn write_at(&self, _buf: &[u8], _offset: u64) -> Result<()> {
                Err(BlockError::ReadOnly)
            }
            fn flush(&self) -> Result<()> {
                Ok(())
            }
            fn is_read_only(&self) -> bool {
                false
            }
            fn format_name(&self) -> &'static str {
                "zero"
            }
        }
        Arc::new(MemOverlay::new(Arc::new(Zero(len))))
    }

    #[test]
    fn pending_blocks_shadow_the_device_until_taken() {
        let dev = zeros(16 * 1024);
        let t = TxnDev::new(dev.clone(), 1024);
        t.write_at(&[7u8; 10], 1020).unwrap(); // spans blocks 0 and 1
        let mut buf = [0u8; 16];
        t.read_at(&mut buf, 1016).unwrap();
        assert_eq!(buf, [0, 0, 0, 0, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 0, 0]);
        dev.read_at(&mut buf, 1016).unwrap();
        assert_eq!(buf, [0; 16], "nothing reached the device");
        assert_eq!(t.pending_blocks(), 2);
        // Data writes go through, and refresh a pending copy.
        t.write_data(&[9u8; 2], 1024).unwrap();
        t.read_at(&mut buf, 1016).unwrap();
        assert_eq!(&buf[8..12], &[9, 9, 7, 7]);
        let taken = t.take();
        assert_eq!(taken.keys().copied().collect::<Vec<_>>(), vec![0, 1]);
        t.read_at(&mut buf, 1016).unwrap();
        assert_eq!(&buf[8..12], &[9, 9, 0, 0]);
    }
}
