//! MBR (msdos) partition tables: four primary slots, and logical partitions in the chain
//! of extended boot records (EBRs) inside an extended partition, numbered 5, 6, ... in
//! chain order, as Linux numbers them.
//!
//! The chain is walked and bounded here first (signature, each EBR inside the extended
//! partition and after the previous one, at most [`MAX_LOGICAL`] of them), then mbrman
//! parses the table.

use crate::block::{BlockDev, BlockError, Result};
use crate::bytes::le32;

use super::io::DevCursor;
use super::table::{PartEntry, PartKind, PartTable, TableKind};

/// Linux stops at 256 partitions per disk; rfish refuses longer chains.
const MAX_LOGICAL: usize = 252;

fn bad(detail: String) -> BlockError {
    BlockError::corrupt("MBR partition table", detail)
}

/// Extended partition type bytes (DOS, Win95 LBA, Linux).
pub fn is_extended(sys: u8) -> bool {
    matches!(sys, 0x05 | 0x0f | 0x85)
}

/// Does sector 0 hold an MBR signature?
pub fn has_signature(sector0: &[u8]) -> bool {
    sector0.len() >= 512 && sector0[510] == 0x55 && sector0[511] == 0xaa
}

/// Walk the EBR chain of an extended partition at `ext_start` (sectors) of `ext_len`
/// sectors, checking it before any parser follows it.
fn check_chain(dev: &dyn BlockDev, ext_start: u64, ext_len: u64) -> Result<()> {
    let mut rel = 0u64;
    let mut count = 0usize;
    let mut sector = [0u8; 512];
    loop {
        if rel >= ext_len {
            return Err(bad(format!(
                "an EBR at sector {} lies outside the extended partition",
                ext_start + rel
            )));
        }
        dev.read_at(&mut sector, (ext_start + rel) * 512)?;
        if !has_signature(&sector) {
            if rel == 0 {
                return Ok(()); // an empty extended partition needs no EBR
            }
            return Err(bad(format!(
                "the EBR at sector {} has no signature",
                ext_start + rel
            )));
        }
        count += 1;
        if count > MAX_LOGICAL {
            return Err(bad(format!(
                "more than {MAX_LOGICAL} logical partitions (an EBR loop?)"
            )));
        }
        let next = le32(&sector, 446 + 16 + 8);
        if next == 0 {
            return Ok(());
        }
        if next <= rel {
            return Err(bad(format!(
                "the EBR chain goes backwards at sector {} (a loop)",
                ext_start + rel
            )));
        }
        rel = next;
    }
}

/// Read an MBR partition table (`None` if sector 0 has no MBR signature).
pub fn read(dev: &dyn BlockDev) -> Result<Option<PartTable>> {
    let size_sectors = dev.size() / 512;
    if size_sectors == 0 {
        return Ok(None);
    }
    let mut sector0 = [0u8; 512];
    dev.read_at(&mut sector0, 0)?;
    if !has_signature(&sector0) {
        return Ok(None);
    }
    for slot in 0..4 {
        let e = &sector0[446 + slot * 16..446 + slot * 16 + 16];
        if is_extended(e[4]) {
            check_chain(dev, le32(e, 8), le32(e, 12))?;
        }
    }
    let mbr =
        mbrman::MBR::read_from(&mut DevCursor::new(dev), 512).map_err(|e| bad(format!("{e}")))?;
    let mut parts = Vec::new();
    for (i, e) in mbr.header.iter() {
        if e.is_unused() {
            continue;
        }
        let kind = if is_extended(e.sys) {
            PartKind::Extended
        } else {
            PartKind::Primary
        };
        parts.push(PartEntry::mbr(i as u32, e, kind));
    }
    let mut num = 5;
    for l in &mbr.logical_partitions {
        if l.partition.sectors == 0 {
            continue;
        }
        parts.push(PartEntry::mbr(num, &l.partition, PartKind::Logical));
        num += 1;
    }
    let extended = parts.iter().find(|p| p.kind == PartKind::Extended).cloned();
    for p in &parts {
        if let (PartKind::Logical, Some(ext)) = (p.kind, &extended)
            && (p.start < ext.start || p.start + p.size > ext.start + ext.size)
        {
            return Err(bad(format!(
                "logical partition {} lies outside the extended partition",
                p.num
            )));
        }
        if p.end_sector() > size_sectors {
            return Err(bad(format!(
                "partition {} (sectors {}-{}) extends beyond the end of the disk ({size_sectors} sectors)",
                p.num,
                p.start / 512,
                p.end_sector() - 1
            )));
        }
    }
    Ok(Some(PartTable {
        kind: TableKind::Msdos,
        sector_size: 512,
        disk_id: Some(u32::from_le_bytes(mbr.header.disk_signature)),
        disk_guid: None,
        parts,
    }))
}
