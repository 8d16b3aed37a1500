//! ext2/ext3 block maps (Documentation/filesystems/ext4/blockmap.rst): twelve direct
//! pointers, then single, double and triple indirect blocks of 32-bit pointers. Zero is a
//! hole. Only the blocks below the file size are walked and no indirect block may be
//! reached twice, so a crafted map cannot make rfish loop or read forever.

use std::collections::HashSet;

use crate::bytes::le32;
use crate::fs::{FsError, FsResult};

use super::extent::Run;
use super::fs::Ext4;
use super::inode::Inode;

fn bad(ino: u32, detail: String) -> FsError {
    FsError::corrupt("ext4 block map", format!("inode {ino}: {detail}"))
}

struct Walker<'a> {
    fs: &'a Ext4,
    ino: u32,
    /// Logical blocks below the end of file.
    limit: u64,
    per_block: u64,
    seen: HashSet<u64>,
    out: Vec<Run>,
}

impl Walker<'_> {
    fn data(&mut self, logical: u64, ptr: u64) -> FsResult<()> {
        if ptr == 0 || logical >= self.limit {
            return Ok(());
        }
        if ptr >= self.fs.sb.blocks_count {
            return Err(bad(
                self.ino,
                format!("block {ptr} lies outside the filesystem"),
            ));
        }
        if let Some(last) = self.out.last_mut()
            && last.logical + last.len == logical
            && last.physical + last.len == ptr
        {
            last.len += 1;
            return Ok(());
        }
        self.out.push(Run {
            logical,
            physical: ptr,
            len: 1,
            uninit: false,
        });
        Ok(())
    }

    /// An indirect block at `level` (1 = single) covering logical blocks from `first`.
    fn indirect(&mut self, level: u32, first: u64, ptr: u64) -> FsResult<()> {
        if ptr == 0 || first >= self.limit {
            return Ok(());
        }
        if ptr >= self.fs.sb.blocks_count {
            return Err(bad(
                self.ino,
                format!("indirect block {ptr} lies outside the filesystem"),
            ));
        }
        if !self.seen.insert(ptr) {
            return Err(bad(
                self.ino,
                format!("indirect block {ptr} is referenced twice"),
            ));
        }
        let block = self.fs.read_block(ptr)?;
        let span = self.per_block.pow(level - 1);
        for i in 0..self.per_block {
            let child = le32(&block, (i * 4) as usize);
            let start = first + i * span;
            if start >= self.limit {
                break;
            }
            if level == 1 {
                self.data(start, child)?;
            } else {
                self.indirect(level - 1, start, child)?;
            }
        }
        Ok(())
    }
}

/// Every mapped run of the inode's block map, in logical order.
pub fn runs(fs: &Ext4, inode: &Inode) -> FsResult<Vec<Run>> {
    let bs = u64::from(fs.sb.block_size);
    let mut w = Walker {
        fs,
        ino: inode.ino,
        limit: inode.size.div_ceil(bs),
        per_block: bs / 4,
        seen: HashSet::new(),
        out: Vec::new(),
    };
    let ptr = |i: usize| le32(&inode.block, i * 4);
    for i in 0..12 {
        w.data(i as u64, ptr(i))?;
    }
    let p = w.per_block;
    w.indirect(1, 12, ptr(12))?;
    w.indirect(2, 12 + p, ptr(13))?;
    w.indirect(3, 12 + p + p * p, ptr(14))?;
    Ok(w.out)
}
