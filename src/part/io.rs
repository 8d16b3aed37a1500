//! `std::io` views of a [`BlockDev`] for the partition-table crates, which read through
//! `Read + Seek` (and, for gpt, also want `Write`).

use std::io::{self, Read, Seek, SeekFrom, Write};

use crate::block::BlockDev;

/// A cursor over a device. Reads past the end fail (`UnexpectedEof`), as a file's would.
/// `hide` makes a byte range read as zeros (used to make the gpt crate fall back to the
/// backup header when rfish found the primary's partition array damaged).
pub struct DevCursor<'a> {
    dev: &'a dyn BlockDev,
    pos: u64,
    hide: Option<(u64, u64)>,
}

impl std::fmt::Debug for DevCursor<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DevCursor({} bytes at {})", self.dev.size(), self.pos)
    }
}

impl<'a> DevCursor<'a> {
    /// A cursor at offset 0.
    pub fn new(dev: &'a dyn BlockDev) -> DevCursor<'a> {
        DevCursor {
            dev,
            pos: 0,
            hide: None,
        }
    }

    /// Make `[start, end)` read as zeros.
    pub fn hiding(mut self, start: u64, end: u64) -> DevCursor<'a> {
        self.hide = Some((start, end));
        self
    }
}

fn to_io(e: crate::block::BlockError) -> io::Error {
    io::Error::other(e.to_string())
}

impl Read for DevCursor<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let size = self.dev.size();
        if self.pos >= size {
            return Ok(0);
        }
        let n = (buf.len() as u64).min(size - self.pos) as usize;
        self.dev.read_at(&mut buf[..n], self.pos).map_err(to_io)?;
        if let Some((start, end)) = self.hide {
            for (i, b) in buf[..n].iter_mut().enumerate() {
                let at = self.pos + i as u64;
                if at >= start && at < end {
                    *b = 0;
                }
            }
        }
        self.pos += n as u64;
        Ok(n)
    }
}

impl Write for DevCursor<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let size = self.dev.size();
        if self.pos >= size && !buf.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "write past the end of the device",
            ));
        }
        let n = (buf.len() as u64).min(size - self.pos) as usize;
        self.dev.write_at(&buf[..n], self.pos).map_err(to_io)?;
        self.pos += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.dev.flush().map_err(to_io)
    }
}

impl Seek for DevCursor<'_> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let size = self.dev.size() as i128;
        let target = match to {
            SeekFrom::Start(n) => i128::from(n),
            SeekFrom::End(d) => size + i128::from(d),
            SeekFrom::Current(d) => i128::from(self.pos) + i128::from(d),
        };
        if target < 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek before the start",
            ));
        }
        self.pos = u64::try_from(target).unwrap_or(u64::MAX);
        Ok(self.pos)
    }
}
