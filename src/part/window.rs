//! A partition (or any byte range) of a device as a device of its own, bounds-checked:
//! nothing reaches the parent outside the window.

use crate::block::{Allocation, BlockDev, Device, Result, check_range};

/// `len` bytes of `parent` starting at `start`.
pub struct Window {
    parent: Device,
    start: u64,
    len: u64,
}

impl Window {
    /// A window; `None` if it does not lie within the parent.
    pub fn new(parent: Device, start: u64, len: u64) -> Option<Window> {
        let end = start.checked_add(len)?;
        (end <= parent.size()).then_some(Window { parent, start, len })
    }
}

impl BlockDev for Window {
    fn size(&self) -> u64 {
        self.len
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        check_range(offset, buf.len() as u64, self.len)?;
        self.parent.read_at(buf, self.start + offset)
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> Result<()> {
        check_range(offset, buf.len() as u64, self.len)?;
        self.parent.write_at(buf, self.start + offset)
    }

    fn flush(&self) -> Result<()> {
        self.parent.flush()
    }

    fn write_zeroes(&self, offset: u64, len: u64) -> Result<()> {
        check_range(offset, len, self.len)?;
        self.parent.write_zeroes(self.start + offset, len)
    }

    fn discard(&self, offset: u64, len: u64) -> Result<()> {
        check_range(offset, len, self.len)?;
        self.parent.discard(self.start + offset, len)
    }

    fn block_status(&self, offset: u64, len: u64) -> Result<(u64, Allocation)> {
        check_range(offset, len, self.len)?;
        self.parent.block_status(self.start + offset, len)
    }

    fn is_read_only(&self) -> bool {
        self.parent.is_read_only()
    }

    fn format_name(&self) -> &'static str {
        self.parent.format_name()
    }
}
