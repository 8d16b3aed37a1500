//! The jbd2 journal (Documentation/filesystems/ext4/journal.rst), read side: when the
//! superblock says the journal needs recovery, committed transactions are replayed into an
//! in-memory overlay of the device, exactly as the kernel would replay them at mount, so a
//! `--ro` session sees the filesystem the guest would see — and the image is never written.
//!
//! Three passes over the log from `s_start`: find the last committed transaction, collect
//! revoke records, then copy each logged block (unescaped) unless a later-or-equal
//! transaction revoked it. Every journal position is bounded by `s_maxlen` and every pass
//! stops after at most `s_maxlen` blocks, so a crafted journal cannot loop.

use std::collections::HashMap;
use std::sync::Arc;

use crate::block::overlay::MemOverlay;
use crate::block::{BlockDev, Device};
use crate::bytes::{be32, le32};
use crate::fs::{FsError, FsResult};

use super::fs::Ext4;

/// jbd2 block header magic.
pub(crate) const MAGIC: u64 = 0xc03b_3998;
/// Block types.
pub(crate) const DESCRIPTOR: u64 = 1;
pub(crate) const COMMIT: u64 = 2;
const REVOKE: u64 = 5;
/// Journal features.
pub(crate) const COMPAT_CHECKSUM: u64 = 0x1;
pub(crate) const INCOMPAT_64BIT: u64 = 0x2;
pub(crate) const INCOMPAT_CSUM_V2: u64 = 0x8;
pub(crate) const INCOMPAT_CSUM_V3: u64 = 0x10;
/// Tag flags.
pub(crate) const FLAG_ESCAPE: u64 = 1;
pub(crate) const FLAG_SAME_UUID: u64 = 2;
pub(crate) const FLAG_LAST_TAG: u64 = 8;

fn bad(detail: String) -> FsError {
    FsError::corrupt("ext4 journal", detail)
}

/// The journal: its geometry and how its blocks map to filesystem blocks.
pub(crate) struct Log<'a> {
    fs: &'a Ext4,
    /// Physical block of each journal block.
    pub(crate) map: Vec<u64>,
    /// First block of the log area (`s_first`).
    pub(crate) first: u64,
    /// Journal length in blocks (`s_maxlen`, at most the inode's size).
    pub(crate) maxlen: u64,
    /// `s_feature_incompat` (0 for a version 1 superblock).
    pub(crate) incompat: u64,
    /// `s_feature_compat` (0 for a version 1 superblock).
    pub(crate) compat: u64,
    /// The journal superblock as read.
    pub(crate) sb: Vec<u8>,
    bs: usize,
}

impl Log<'_> {
    pub(crate) fn read(&self, jblk: u64) -> FsResult<Vec<u8>> {
        let phys = *self
            .map
            .get(jblk as usize)
            .ok_or_else(|| bad(format!("journal block {jblk} is not mapped")))?;
        self.fs.read_block(phys)
    }

    fn next(&self, pos: u64) -> u64 {
        if pos + 1 >= self.maxlen {
            self.first
        } else {
            pos + 1
        }
    }

    pub(crate) fn tag_bytes(&self) -> usize {
        let wide = self.incompat & INCOMPAT_64BIT != 0;
        if self.incompat & INCOMPAT_CSUM_V3 != 0 {
            // journal_block_tag3_t is 16 bytes with or without 64-bit block numbers.
            return 16;
        }
        let base = if self.incompat & INCOMPAT_CSUM_V2 != 0 {
            14
        } else {
            12
        };
        if wide { base } else { base - 4 }
    }

    /// The (filesystem block, escaped) tags of a descriptor block.
    fn tags(&self, block: &[u8]) -> FsResult<Vec<(u64, bool)>> {
        let csum = self.incompat & (INCOMPAT_CSUM_V2 | INCOMPAT_CSUM_V3) != 0;
        let end = if csum { self.bs - 4 } else { self.bs };
        let size = self.tag_bytes();
        let v3 = self.incompat & INCOMPAT_CSUM_V3 != 0;
        let mut off = 12;
        let mut out = Vec::new();
        while off + size <= end {
            let low = be32(block, off);
            let flags = if v3 {
                be32(block, off + 4)
            } else {
                crate::bytes::be16(block, off + 6)
            };
            let high = if self.incompat & INCOMPAT_64BIT != 0 {
                be32(block, off + 8)
            } else {
                0
            };
            out.push((low | high << 32, flags & FLAG_ESCAPE != 0));
            off += size;
            if flags & FLAG_SAME_UUID == 0 {
                off += 16;
            }
            if flags & FLAG_LAST_TAG != 0 {
                return Ok(out);
            }
        }
        Ok(out)
    }
}

/// Open the journal of `fs`: map its blocks and read its superblock.
pub(crate) fn open_log(fs: &Ext4) -> FsResult<Log<'_>> {
    let jino = le32(&fs.sb.raw, 0xe0) as u32;
    if jino == 0 {
        return Err(FsError::Block(crate::block::BlockError::Unsupported(
            "ext4 with an external journal device".into(),
        )));
    }
    let inode = fs.inode(jino)?;
    let bs = fs.sb.block_size as usize;
    let nblocks = inode.size / bs as u64;
    if nblocks > fs.sb.blocks_count {
        return Err(bad(format!("journal inode of {} bytes", inode.size)));
    }
    let mut map = Vec::with_capacity(nblocks as usize);
    for run in fs.runs_of(&inode)?.iter() {
        for i in 0..run.len {
            if map.len() as u64 != run.logical + i {
                return Err(bad("the journal inode has holes".into()));
            }
            map.push(run.physical + i);
        }
    }
    let mut log = Log {
        fs,
        map,
        first: 0,
        maxlen: 0,
        incompat: 0,
        compat: 0,
        sb: Vec::new(),
        bs,
    };
    let sb = log.read(0)?;
    if be32(&sb, 0) != MAGIC || !matches!(be32(&sb, 4), 3 | 4) {
        return Err(bad("bad journal superblock magic".into()));
    }
    if be32(&sb, 12) as usize != bs {
        return Err(bad(format!("journal block size {}", be32(&sb, 12))));
    }
    log.maxlen = be32(&sb, 0x10).min(log.map.len() as u64);
    log.first = be32(&sb, 0x14);
    if log.first == 0 || log.first >= log.maxlen {
        return Err(bad(format!("s_first {} outside the journal", log.first)));
    }
    if be32(&sb, 4) == 4 {
        log.compat = be32(&sb, 0x24);
        log.incompat = be32(&sb, 0x28);
    }
    log.sb = sb;
    Ok(log)
}

/// Replay the journal of `fs` into an overlay of its device; the overlay is returned.
pub fn replay_in_memory(fs: &Ext4) -> FsResult<Device> {
    let overlay = Arc::new(MemOverlay::new(fs.device().clone()));
    for (block, data) in replay_writes(fs)? {
        overlay.write_at(&data, block * u64::from(fs.sb.block_size))?;
    }
    Ok(overlay)
}

/// The writes that replaying the journal of `fs` makes, in order: (filesystem block,
/// content). Empty when the log is empty.
pub(crate) fn replay_writes(fs: &Ext4) -> FsResult<Vec<(u64, Vec<u8>)>> {
    let log = open_log(fs)?;
    let bs = log.bs;
    let sb = &log.sb;
    let start = be32(sb, 0x1c);
    let mut writes = Vec::new();
    if start == 0 {
        return Ok(writes);
    }
    if start >= log.maxlen {
        return Err(bad(format!("s_start {start} outside the journal")));
    }
    let first_seq = be32(sb, 0x18) as u32;

    // Pass 1: find the end of the committed log; pass 2: revokes; pass 3: replay.
    let mut revoked: HashMap<u64, u32> = HashMap::new();
    let end_seq = scan(&log, start, first_seq, |seq, kind, block| {
        if kind == REVOKE {
            let used = (be32(block, 12) as usize).min(bs);
            let rec = if log.incompat & INCOMPAT_64BIT != 0 {
                8
            } else {
                4
            };
            let mut off = 16;
            while off + rec <= used {
                let b = if rec == 8 {
                    be32(block, off) << 32 | be32(block, off + 4)
                } else {
                    be32(block, off)
                };
                let e = revoked.entry(b).or_insert(seq);
                if seq.wrapping_sub(*e) < 1 << 31 {
                    *e = seq;
                }
                off += rec;
            }
        }
        Ok(())
    })?;
    let mut pos = start;
    let mut seq = first_seq;
    let mut steps = 0;
    while seq != end_seq {
        steps += 1;
        if steps > log.maxlen {
            return Err(bad("the log does not end".into()));
        }
        let block = log.read(pos)?;
        pos = log.next(pos);
        if be32(&block, 0) != MAGIC || be32(&block, 8) as u32 != seq {
            break;
        }
        match be32(&block, 4) {
            DESCRIPTOR => {
                for (target, escaped) in log.tags(&block)? {
                    let mut data = log.read(pos)?;
                    pos = log.next(pos);
                    let revoked_here = revoked
                        .get(&target)
                        .is_some_and(|&r| r.wrapping_sub(seq) < 1 << 31);
                    if revoked_here {
                        continue;
                    }
                    if escaped {
                        data[..4].copy_from_slice(&(MAGIC as u32).to_be_bytes());
                    }
                    if target >= fs.sb.blocks_count {
                        return Err(bad(format!(
                            "logged block {target} lies outside the filesystem"
                        )));
                    }
                    writes.push((target, data));
                }
            }
            COMMIT => seq = seq.wrapping_add(1),
            _ => {}
        }
    }
    Ok(writes)
}

/// Walk committed transactions from `start`, calling `visit(seq, blocktype, block)` for
/// each metadata block; returns the sequence number after the last committed transaction.
fn scan(
    log: &Log<'_>,
    start: u64,
    first_seq: u32,
    mut visit: impl FnMut(u32, u64, &[u8]) -> FsResult<()>,
) -> FsResult<u32> {
    let mut pos = start;
    let mut seq = first_seq;
    let mut pending: Vec<(u64, Vec<u8>)> = Vec::new();
    let mut steps = 0;
    loop {
        steps += 1;
        if steps > log.maxlen {
            return Ok(seq);
        }
        let block = log.read(pos)?;
        pos = log.next(pos);
        if be32(&block, 0) != MAGIC || be32(&block, 8) as u32 != seq {
            return Ok(seq);
        }
        match be32(&block, 4) {
            DESCRIPTOR => {
                let n = log.tags(&block)?.len() as u64;
                for _ in 0..n {
                    pos = log.next(pos);
                }
                steps += n;
            }
            COMMIT => {
                for (kind, b) in pending.drain(..) {
                    visit(seq, kind, &b)?;
                }
                seq = seq.wrapping_add(1);
            }
            REVOKE => pending.push((REVOKE, block)),
            _ => return Ok(seq),
        }
    }
}
