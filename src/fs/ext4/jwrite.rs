//! Committing a transaction (Documentation/filesystems/ext4/journal.rst; the order is
//! ../shared/design.md invariant 4):
//!
//! 1. the superblock is marked `needs_recovery` in place and flushed, as the kernel does
//!    while it has a journal in use;
//! 2. the metadata blocks are logged from `s_first`: descriptor blocks whose tags name the
//!    final locations (escaping blocks that begin with the jbd2 magic; tag, descriptor and
//!    commit checksums as the journal's csum v2/v3 or v1 features ask), the block copies,
//!    and a commit block; flushed;
//! 3. the journal superblock gets `s_start` and the transaction's sequence; flushed — from
//!    here a crash replays the transaction;
//! 4. the blocks are written in place (the superblock last); flushed;
//! 5. the journal is marked empty again (`s_start = 0`, next sequence), flushed, and the
//!    superblock's `needs_recovery` cleared and flushed.
//!
//! A filesystem without a journal (ext2) gets the blocks in place directly: bitmaps and
//! descriptors first, the superblock last.

use std::collections::BTreeMap;

use crate::block::BlockDev;
use crate::bytes::be32;
use crate::fs::{FsError, FsResult};

use super::checksum::crc32c_raw;
use super::fs::Ext4;
use super::journal;

use super::journal::{COMPAT_CHECKSUM, INCOMPAT_64BIT, INCOMPAT_CSUM_V2, INCOMPAT_CSUM_V3};

const MAGIC: u32 = journal::MAGIC as u32;
const DESCRIPTOR: u32 = journal::DESCRIPTOR as u32;
const COMMIT: u32 = journal::COMMIT as u32;
const FLAG_ESCAPE: u32 = journal::FLAG_ESCAPE as u32;
const FLAG_SAME_UUID: u32 = journal::FLAG_SAME_UUID as u32;
const FLAG_LAST_TAG: u32 = journal::FLAG_LAST_TAG as u32;
/// incompat: recover (the journal may hold transactions to replay).
const INCOMPAT_RECOVER: u32 = 0x4;

fn bad(detail: String) -> FsError {
    FsError::corrupt("ext4 journal", detail)
}

fn put_be32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

/// The superblock block number and the superblock's offset within it.
fn superblock_location(fs: &Ext4) -> (u64, usize) {
    let bs = u64::from(fs.sb.block_size);
    (1024 / bs, (1024 % bs) as usize)
}

/// Set or clear `needs_recovery` in the on-disk superblock (directly, with its checksum).
fn set_recover_flag(fs: &Ext4, on: bool) -> FsResult<()> {
    let base = fs.txn().base();
    let mut raw = vec![0u8; 1024];
    base.read_at(&mut raw, 1024)?;
    let incompat = u32::from_le_bytes([raw[0x60], raw[0x61], raw[0x62], raw[0x63]]);
    let wanted = if on {
        incompat | INCOMPAT_RECOVER
    } else {
        incompat & !INCOMPAT_RECOVER
    };
    if wanted == incompat {
        return Ok(());
    }
    raw[0x60..0x64].copy_from_slice(&wanted.to_le_bytes());
    super::superblock::update_checksum(&mut raw);
    base.write_at(&raw, 1024)?;
    base.flush()?;
    Ok(())
}

/// Commit the pending blocks of `fs`.
pub fn commit(fs: &Ext4) -> FsResult<()> {
    let blocks = fs.txn().take();
    if blocks.is_empty() {
        return Ok(());
    }
    let result = if fs.has_journal() {
        commit_journaled(fs, &blocks)
    } else {
        write_in_place(fs, &blocks)
    };
    if result.is_err() {
        // Whatever reached the disk is consistent (or replayable); what did not is lost
        // with the transaction. The caller reloads its view.
        fs.invalidate_all();
    }
    result
}

/// Write `blocks` in place: everything but the superblock's block, a flush, then that
/// block and a flush.
fn write_in_place(fs: &Ext4, blocks: &BTreeMap<u64, Vec<u8>>) -> FsResult<()> {
    let base = fs.txn().base();
    let bs = u64::from(fs.sb.block_size);
    let (sb_block, _) = superblock_location(fs);
    for (&n, data) in blocks.iter().filter(|(n, _)| **n != sb_block) {
        base.write_at(data, n * bs)?;
    }
    base.flush()?;
    if let Some(data) = blocks.get(&sb_block) {
        base.write_at(data, sb_block * bs)?;
        base.flush()?;
    }
    Ok(())
}

fn commit_journaled(fs: &Ext4, blocks: &BTreeMap<u64, Vec<u8>>) -> FsResult<()> {
    let log = journal::open_log(fs)?;
    if be32(&log.sb, 0x1c) != 0 {
        return Err(bad(
            "the journal is not empty: the filesystem needs recovery first".into(),
        ));
    }
    let bs = fs.sb.block_size as usize;
    let base = fs.txn().base();
    let v2 = log.incompat & INCOMPAT_CSUM_V2 != 0;
    let v3 = log.incompat & INCOMPAT_CSUM_V3 != 0;
    let csum = v2 || v3;
    let v1 = !csum && log.compat & COMPAT_CHECKSUM != 0;
    let wide = log.incompat & INCOMPAT_64BIT != 0;
    let tag_bytes = log.tag_bytes();
    let uuid: [u8; 16] = log.sb[0x30..0x40].try_into().expect("16 bytes");
    let seed = crc32c_raw(!0, &uuid);
    let seq = be32(&log.sb, 0x18) as u32;
    // Tags per descriptor block: header 12 bytes, the first tag carries the UUID, and a
    // checksummed journal keeps 4 bytes for the descriptor tail.
    let room = bs - 12 - if csum { 4 } else { 0 } - 16;
    let per_descriptor = room / tag_bytes;
    let list: Vec<(u64, &Vec<u8>)> = blocks.iter().map(|(&n, d)| (n, d)).collect();
    let descriptors = list.len().div_ceil(per_descriptor.max(1));
    let needed = (list.len() + descriptors + 1) as u64;
    if needed > log.maxlen - log.first {
        return Err(bad(format!(
            "a transaction of {} blocks does not fit in a journal of {} blocks",
            list.len(),
            log.maxlen - log.first
        )));
    }
    if !wide {
        if let Some((n, _)) = list.iter().find(|(n, _)| *n > u64::from(u32::MAX)) {
            return Err(bad(format!("block {n} needs a 64-bit journal")));
        }
    }

    set_recover_flag(fs, true)?;
    let mut pos = log.first;
    let write_log = |pos: u64, data: &[u8]| -> FsResult<()> {
        let phys = *log
            .map
            .get(pos as usize)
            .ok_or_else(|| bad(format!("journal block {pos} is not mapped")))?;
        base.write_at(data, phys * bs as u64)?;
        Ok(())
    };
    let mut v1_sum: u32 = !0;
    for chunk in list.chunks(per_descriptor.max(1)) {
        let mut desc = vec![0u8; bs];
        put_be32(&mut desc, 0, MAGIC);
        put_be32(&mut desc, 4, DESCRIPTOR);
        put_be32(&mut desc, 8, seq);
        let mut off = 12;
        let mut copies = Vec::with_capacity(chunk.len());
        for (i, (target, data)) in chunk.iter().enumerate() {
            let mut copy = (*data).clone();
            let mut flags = 0;
            if be32(&copy, 0) as u32 == MAGIC {
                copy[..4].fill(0);
                flags |= FLAG_ESCAPE;
            }
            if i > 0 {
                flags |= FLAG_SAME_UUID;
            }
            if i + 1 == chunk.len() {
                flags |= FLAG_LAST_TAG;
            }
            let block_sum = {
                let s = crc32c_raw(seed, &seq.to_be_bytes());
                crc32c_raw(s, &copy)
            };
            put_be32(&mut desc, off, *target as u32);
            if v3 {
                put_be32(&mut desc, off + 4, flags);
                put_be32(&mut desc, off + 8, (*target >> 32) as u32);
                put_be32(&mut desc, off + 12, block_sum);
            } else {
                let sum16 = if v2 { block_sum as u16 } else { 0 };
                desc[off + 4..off + 6].copy_from_slice(&sum16.to_be_bytes());
                desc[off + 6..off + 8].copy_from_slice(&(flags as u16).to_be_bytes());
                if wide {
                    put_be32(&mut desc, off + 8, (*target >> 32) as u32);
                }
            }
            off += tag_bytes;
            if i == 0 {
                desc[off..off + 16].copy_from_slice(&uuid);
                off += 16;
            }
            if v1 {
                v1_sum = crc32_be(v1_sum, &copy);
            }
            copies.push(copy);
        }
        if csum {
            let sum = crc32c_raw(seed, &desc);
            put_be32(&mut desc, bs - 4, sum);
        }
        write_log(pos, &desc)?;
        pos += 1;
        for copy in copies {
            write_log(pos, &copy)?;
            pos += 1;
        }
    }
    let mut commit = vec![0u8; bs];
    put_be32(&mut commit, 0, MAGIC);
    put_be32(&mut commit, 4, COMMIT);
    put_be32(&mut commit, 8, seq);
    let now = crate::fs::Timespec::now();
    commit[48..56].copy_from_slice(&(now.sec as u64).to_be_bytes());
    put_be32(&mut commit, 56, now.nsec);
    if csum {
        let sum = crc32c_raw(seed, &commit);
        put_be32(&mut commit, 16, sum);
    } else if v1 {
        commit[12] = 1; // JBD2_CRC32_CHKSUM
        commit[13] = 4;
        put_be32(&mut commit, 16, v1_sum);
    }
    write_log(pos, &commit)?;
    base.flush()?;

    // The transaction is durable once the journal superblock points at it.
    let mut jsb = log.sb.clone();
    put_be32(&mut jsb, 0x18, seq);
    put_be32(&mut jsb, 0x1c, log.first as u32);
    write_journal_superblock(&log, base.as_ref(), &mut jsb, csum, bs)?;
    base.flush()?;

    write_in_place(fs, blocks)?;

    put_be32(&mut jsb, 0x18, seq.wrapping_add(1));
    put_be32(&mut jsb, 0x1c, 0);
    write_journal_superblock(&log, base.as_ref(), &mut jsb, csum, bs)?;
    base.flush()?;
    set_recover_flag(fs, false)
}

fn write_journal_superblock(
    log: &journal::Log<'_>,
    base: &dyn BlockDev,
    jsb: &mut [u8],
    csum: bool,
    bs: usize,
) -> FsResult<()> {
    if csum {
        jsb[0xfc..0x100].fill(0);
        let sum = crc32c_raw(!0, &jsb[..1024]);
        put_be32(jsb, 0xfc, sum);
    }
    let phys = log.map[0];
    base.write_at(&jsb[..bs], phys * bs as u64)?;
    Ok(())
}

/// Linux's crc32_be (polynomial 0x04c11db7, most significant bit first, no final xor):
/// the jbd2 v1 commit checksum.
fn crc32_be(mut crc: u32, data: &[u8]) -> u32 {
    for &b in data {
        crc ^= u32::from(b) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ 0x04c1_1db7
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// Replay a journal that needs recovery onto the device itself (the first write of a
/// read-write session), then empty the journal and clear `needs_recovery`.
pub fn recover(fs: &Ext4) -> FsResult<()> {
    let writes = journal::replay_writes(fs)?;
    let base = fs.txn().base();
    let bs = u64::from(fs.sb.block_size);
    for (n, data) in &writes {
        base.write_at(data, n * bs)?;
    }
    base.flush()?;
    let log = journal::open_log(fs)?;
    let csum = log.incompat & (INCOMPAT_CSUM_V2 | INCOMPAT_CSUM_V3) != 0;
    let mut jsb = log.sb.clone();
    if be32(&jsb, 0x1c) != 0 {
        // Past every replayed transaction: the sequence after the last one in the log is
        // not needed, any larger value works; keep it simple and monotonic.
        let seq = be32(&jsb, 0x18) as u32;
        put_be32(&mut jsb, 0x18, seq.wrapping_add(writes.len() as u32 + 1));
        put_be32(&mut jsb, 0x1c, 0);
        write_journal_superblock(&log, base.as_ref(), &mut jsb, csum, bs as usize)?;
        base.flush()?;
    }
    set_recover_flag(fs, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_be_is_mpeg2_without_the_final_xor() {
        // CRC-32/MPEG-2 check value for "123456789".
        assert_eq!(crc32_be(!0, b"123456789"), 0x0376_e6e7);
    }
}
