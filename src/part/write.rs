//! Changing partition tables, as guestfish's part-* commands do through parted: MBR
//! through mbrman, GPT through the gpt crate's header and entry writers. GPT entries keep
//! their slot (partition number) across deletions, as parted keeps them.
//!
//! Every change is checked against the disk's size and the other partitions before
//! anything is written; a write is a whole new table (MBR sector and EBRs, or both GPT
//! headers and entry arrays) followed by a flush.

use std::collections::BTreeMap;

use crate::block::{BlockDev, BlockError, Result};

use super::io::DevCursor;
use super::table::{PartKind, TableKind, read_table};

/// GPT "Linux filesystem data", parted's type for new partitions.
pub const LINUX_FS_GUID: &str = "0FC63DAF-8483-4772-8E79-3D69D8477DE4";
/// Entries in a new GPT.
const GPT_ENTRIES: u32 = 128;

fn invalid(msg: impl Into<String>) -> BlockError {
    BlockError::Unsupported(msg.into())
}

fn io_err(what: &str, e: impl std::fmt::Display) -> BlockError {
    BlockError::io(what.to_string(), std::io::Error::other(e.to_string()))
}

fn random_u32() -> u32 {
    let b = *uuid::Uuid::new_v4().as_bytes();
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// Sectors of 512 bytes on the device.
fn sectors(dev: &dyn BlockDev) -> u64 {
    dev.size() / 512
}

/// Zero a sector if it holds a GPT header (so an old GPT does not shadow a new MBR).
fn wipe_gpt_header(dev: &dyn BlockDev, lba: u64) -> Result<()> {
    if (lba + 1) * 512 > dev.size() {
        return Ok(());
    }
    let mut s = [0u8; 512];
    dev.read_at(&mut s, lba * 512)?;
    if &s[..8] == b"EFI PART" {
        dev.write_at(&[0u8; 512], lba * 512)?;
    }
    Ok(())
}

/// `part-init`: an empty table of `kind`.
pub fn init(dev: &dyn BlockDev, kind: TableKind) -> Result<()> {
    match kind {
        TableKind::Msdos => {
            if sectors(dev) < 2 {
                return Err(invalid("the device is too small for a partition table"));
            }
            let mut cur = DevCursor::new(dev);
            let mut mbr = mbrman::MBR::new_from(&mut cur, 512, random_u32().to_le_bytes())
                .map_err(|e| io_err("create MBR", e))?;
            // Keep any boot code already in the first 440 bytes, as parted does.
            let mut sector0 = [0u8; 512];
            dev.read_at(&mut sector0, 0)?;
            mbr.header.bootstrap_code.copy_from_slice(&sector0[..440]);
            mbr.write_into(&mut cur)
                .map_err(|e| io_err("write MBR", e))?;
            wipe_gpt_header(dev, 1)?;
            wipe_gpt_header(dev, sectors(dev) - 1)?;
        }
        TableKind::Gpt => {
            write_gpt(dev, uuid::Uuid::new_v4(), GPT_ENTRIES, &BTreeMap::new())?;
        }
    }
    dev.flush()
}

/// Write a complete GPT: protective MBR, both entry arrays (each partition in slot
/// `number - 1`), both headers.
fn write_gpt(
    dev: &dyn BlockDev,
    guid: uuid::Uuid,
    entries: u32,
    parts: &BTreeMap<u32, gpt::partition::Partition>,
) -> Result<()> {
    let lb = gpt::disk::LogicalBlockSize::Lb512;
    let total = sectors(dev);
    if total < 2 * (2 + u64::from(entries) / 4) + 2 {
        return Err(invalid("the device is too small for a GPT"));
    }
    let last = total - 1;
    let mut cur = DevCursor::new(dev);
    let pmbr = gpt::mbr::ProtectiveMBR::with_lb_size(u32::try_from(last).unwrap_or(u32::MAX));
    pmbr.overwrite_lba0(&mut cur)
        .map_err(|e| io_err("write protective MBR", e))?;
    let mut primary = gpt::header::HeaderBuilder::new()
        .disk_guid(guid)
        .backup_lba(last)
        .num_parts(entries)
        .primary(true)
        .build(lb)
        .map_err(|e| io_err("build GPT header", e))?;
    let mut backup = gpt::header::HeaderBuilder::from_header(&primary)
        .primary(false)
        .build(lb)
        .map_err(|e| io_err("build GPT header", e))?;
    for h in [&primary, &backup] {
        gpt::partition::Partition::write_zero_entries_to_device(
            &mut cur,
            0,
            u64::from(entries),
            h.part_start,
            lb,
            128,
        )
        .map_err(|e| io_err("write GPT entries", e))?;
        for (&num, p) in parts {
            if num == 0 || num > entries {
                return Err(invalid(format!(
                    "partition number {num} does not fit the table"
                )));
            }
            p.write_to_device(&mut cur, u64::from(num - 1), h.part_start, lb, 128)
                .map_err(|e| io_err("write GPT entry", e))?;
        }
    }
    primary
        .write_primary(&mut cur, lb)
        .map_err(|e| io_err("write GPT header", e))?;
    backup
        .write_backup(&mut cur, lb)
        .map_err(|e| io_err("write GPT header", e))?;
    Ok(())
}

/// The GPT of a device as the crate reads it: disk GUID, entry count, entries by number.
fn read_gpt(
    dev: &dyn BlockDev,
) -> Result<(uuid::Uuid, u32, BTreeMap<u32, gpt::partition::Partition>)> {
    let t = read_table(dev)?.ok_or_else(|| invalid("no partition table"))?;
    if t.kind != TableKind::Gpt || t.sector_size != 512 {
        return Err(invalid("not a 512-byte-sector GUID partition table"));
    }
    let disk = gpt::GptConfig::new()
        .writable(false)
        .open_from_device(DevCursor::new(dev))
        .map_err(|e| io_err("read GPT", e))?;
    let entries = disk.header().num_parts;
    let parts = disk
        .partitions()
        .iter()
        .filter(|(_, p)| p.is_used())
        .map(|(&n, p)| (n, p.clone()))
        .collect();
    Ok((*disk.guid(), entries, parts))
}

/// Apply `change` to the GPT entries of the device and write the table back.
pub fn modify_gpt(
    dev: &dyn BlockDev,
    change: impl FnOnce(&mut uuid::Uuid, &mut BTreeMap<u32, gpt::partition::Partition>) -> Result<()>,
) -> Result<()> {
    let (mut guid, entries, mut parts) = read_gpt(dev)?;
    change(&mut guid, &mut parts)?;
    write_gpt(dev, guid, entries, &parts)?;
    dev.flush()
}

/// Apply `change` to the MBR of the device and write it back.
pub fn modify_mbr(
    dev: &dyn BlockDev,
    change: impl FnOnce(&mut mbrman::MBR) -> Result<()>,
) -> Result<()> {
    let t = read_table(dev)?.ok_or_else(|| invalid("no partition table"))?;
    if t.kind != TableKind::Msdos {
        return Err(invalid("not an MBR partition table"));
    }
    let mut cur = DevCursor::new(dev);
    let mut mbr = mbrman::MBR::read_from(&mut cur, 512).map_err(|e| io_err("read MBR", e))?;
    change(&mut mbr)?;
    mbr.write_into(&mut cur)
        .map_err(|e| io_err("write MBR", e))?;
    dev.flush()
}

/// `part-add`: a new partition of `kind` from sector `start` to `end` inclusive (a negative
/// `end` counts back from the end of the disk, -1 being the last sector).
pub fn add(dev: &dyn BlockDev, kind: PartKind, start: i64, end: i64) -> Result<()> {
    let total = sectors(dev) as i64;
    let end = if end < 0 { total + end } else { end };
    if start < 0 {
        return Err(invalid("startsect cannot be negative"));
    }
    if end < start || end >= total {
        return Err(invalid(format!(
            "the partition (sectors {start}-{end}) does not fit on the disk ({total} sectors)"
        )));
    }
    let (start, end) = (start as u64, end as u64);
    let table =
        read_table(dev)?.ok_or_else(|| invalid("no partition table (use part-init first)"))?;
    let overlaps = |kinds: &[PartKind]| {
        table.parts.iter().any(|p| {
            kinds.contains(&p.kind) && p.start / 512 <= end && start < (p.start + p.size) / 512
        })
    };
    match table.kind {
        TableKind::Gpt => {
            if kind != PartKind::Primary {
                return Err(invalid("GPT has only primary partitions"));
            }
            if overlaps(&[PartKind::Gpt]) {
                return Err(invalid("the new partition overlaps an existing one"));
            }
            modify_gpt(dev, |_, parts| {
                let num = (1..=GPT_ENTRIES)
                    .find(|n| !parts.contains_key(n))
                    .ok_or_else(|| invalid("the partition table is full"))?;
                let first_usable = 34;
                if start < first_usable || end > sectors(dev) - 34 {
                    return Err(invalid(format!(
                        "sectors {start}-{end} are outside the usable area of the GPT"
                    )));
                }
                parts.insert(
                    num,
                    gpt::partition::Partition {
                        part_type_guid: gpt_type(LINUX_FS_GUID)?,
                        part_guid: uuid::Uuid::new_v4(),
                        first_lba: start,
                        last_lba: end,
                        flags: 0,
                        name: "primary".into(),
                    },
                );
                Ok(())
            })
        }
        TableKind::Msdos => {
            let len = u32::try_from(end - start + 1)
                .map_err(|_| invalid("partition too large for MBR"))?;
            let start32 =
                u32::try_from(start).map_err(|_| invalid("start beyond 2 TiB for MBR"))?;
            if start == 0 {
                return Err(invalid("sector 0 holds the MBR"));
            }
            match kind {
                PartKind::Primary | PartKind::Extended => {
                    if overlaps(&[PartKind::Primary, PartKind::Extended]) {
                        return Err(invalid("the new partition overlaps an existing one"));
                    }
                    if kind == PartKind::Extended
                        && table.parts.iter().any(|p| p.kind == PartKind::Extended)
                    {
                        return Err(invalid("there is already an extended partition"));
                    }
                    modify_mbr(dev, |mbr| {
                        let slot = (1..=4)
                            .find(|&i| mbr.header.get(i).is_some_and(|e| e.is_unused()))
                            .ok_or_else(|| invalid("all four primary slots are in use"))?;
                        let e = mbr.header.get_mut(slot).ok_or_else(|| invalid("no slot"))?;
                        *e = mbrman::MBRPartitionEntry {
                            boot: 0,
                            first_chs: mbrman::CHS::empty(),
                            sys: if kind == PartKind::Extended {
                                0x0f
                            } else {
                                0x83
                            },
                            last_chs: mbrman::CHS::empty(),
                            starting_lba: start32,
                            sectors: len,
                        };
                        Ok(())
                    })
                }
                PartKind::Logical | PartKind::Gpt => {
                    let ext = table
                        .parts
                        .iter()
                        .find(|p| p.kind == PartKind::Extended)
                        .ok_or_else(|| {
                            invalid("there is no extended partition for a logical one")
                        })?;
                    let (ext_start, ext_end) = (ext.start / 512, (ext.start + ext.size) / 512);
                    // The EBR sits in the sector before the partition, inside the extended one.
                    if start < ext_start + 1 || end >= ext_end {
                        return Err(invalid(
                            "the logical partition must lie inside the extended partition, after its first sector",
                        ));
                    }
                    if overlaps(&[PartKind::Logical]) {
                        return Err(invalid("the new partition overlaps an existing one"));
                    }
                    modify_mbr(dev, |mbr| {
                        let ebr = start32 - 1;
                        let l = mbrman::LogicalPartition {
                            partition: mbrman::MBRPartitionEntry {
                                boot: 0,
                                first_chs: mbrman::CHS::empty(),
                                sys: 0x83,
                                last_chs: mbrman::CHS::empty(),
                                starting_lba: start32,
                                sectors: len,
                            },
                            absolute_ebr_lba: ebr,
                            ebr_sectors: Some(len + 1),
                            ebr_first_chs: mbrman::CHS::empty(),
                            ebr_last_chs: Some(mbrman::CHS::empty()),
                            bootstrap_code: [0; 446],
                        };
                        mbr.logical_partitions.push(l);
                        mbr.logical_partitions
                            .sort_by_key(|l| l.partition.starting_lba);
                        Ok(())
                    })
                }
            }
        }
    }
}

/// Parse a GPT type GUID.
pub fn gpt_type(guid: &str) -> Result<gpt::partition_types::Type> {
    let g: uuid::Uuid = guid
        .parse()
        .map_err(|_| invalid(format!("{guid}: not a GUID")))?;
    Ok(gpt::partition_types::Type::from(g))
}

/// `part-del`.
pub fn delete(dev: &dyn BlockDev, num: u32) -> Result<()> {
    let table = read_table(dev)?.ok_or_else(|| invalid("no partition table"))?;
    let part = table
        .get(num)
        .ok_or_else(|| invalid(format!("partition number {num} not found")))?
        .clone();
    match table.kind {
        TableKind::Gpt => modify_gpt(dev, |_, parts| {
            parts.remove(&num);
            Ok(())
        }),
        TableKind::Msdos => modify_mbr(dev, |mbr| {
            match part.kind {
                PartKind::Logical => {
                    let start = (part.start / 512) as u32;
                    mbr.logical_partitions
                        .retain(|l| l.partition.starting_lba != start);
                }
                PartKind::Extended if table.parts.iter().any(|p| p.kind == PartKind::Logical) => {
                    return Err(invalid(
                        "the extended partition still holds logical partitions",
                    ));
                }
                _ => {
                    if let Some(e) = mbr.header.get_mut(num as usize) {
                        *e = mbrman::MBRPartitionEntry::empty();
                    }
                }
            }
            Ok(())
        }),
    }
}

/// Change one MBR entry (`num` may be primary or logical).
pub fn modify_mbr_entry(
    dev: &dyn BlockDev,
    num: u32,
    change: impl FnOnce(&mut mbrman::MBRPartitionEntry) -> Result<()>,
) -> Result<()> {
    modify_mbr(dev, |mbr| {
        let entry = if num <= 4 {
            mbr.header.get_mut(num as usize).filter(|e| e.is_used())
        } else {
            mbr.logical_partitions
                .iter_mut()
                .filter(|l| l.partition.sectors > 0)
                .nth((num - 5) as usize)
                .map(|l| &mut l.partition)
        };
        let e = entry.ok_or_else(|| invalid(format!("partition number {num} not found")))?;
        change(e)
    })
}

/// Change one GPT entry.
pub fn modify_gpt_entry(
    dev: &dyn BlockDev,
    num: u32,
    change: impl FnOnce(&mut gpt::partition::Partition) -> Result<()>,
) -> Result<()> {
    modify_gpt(dev, |_, parts| {
        let p = parts
            .get_mut(&num)
            .ok_or_else(|| invalid(format!("partition number {num} not found")))?;
        change(p)
    })
}

/// `part-resize`: move partition `num`'s end to sector `end` (negative: from the end of
/// the disk), keeping its start.
pub fn resize(dev: &dyn BlockDev, num: u32, end: i64) -> Result<()> {
    let total = sectors(dev) as i64;
    let end = if end < 0 { total + end } else { end };
    let table = read_table(dev)?.ok_or_else(|| invalid("no partition table"))?;
    let part = table
        .get(num)
        .ok_or_else(|| invalid(format!("partition number {num} not found")))?
        .clone();
    let start = (part.start / 512) as i64;
    if end < start || end >= total {
        return Err(invalid(format!(
            "end sector {end} is outside the disk or before the partition's start"
        )));
    }
    let end = end as u64;
    // The new extent must not run into any other partition of the same level.
    let clash = table.parts.iter().any(|p| {
        p.num != num
            && (p.kind == PartKind::Logical) == (part.kind == PartKind::Logical)
            && p.kind != PartKind::Extended
            && part.kind != PartKind::Extended
            && p.start / 512 > start as u64
            && p.start / 512 <= end
    });
    if clash {
        return Err(invalid("the partition would overlap the next one"));
    }
    match table.kind {
        TableKind::Gpt => {
            if end > sectors(dev) - 34 {
                return Err(invalid("the partition would run into the backup GPT"));
            }
            modify_gpt_entry(dev, num, |p| {
                p.last_lba = end;
                Ok(())
            })
        }
        TableKind::Msdos => {
            if part.kind == PartKind::Logical {
                return Err(invalid(
                    "resizing logical partitions is not supported by rfish yet",
                ));
            }
            let len = u32::try_from(end - start as u64 + 1)
                .map_err(|_| invalid("partition too large for MBR"))?;
            modify_mbr_entry(dev, num, |e| {
                e.sectors = len;
                Ok(())
            })
        }
    }
}

/// `part-expand-gpt`: after the disk grew, move the backup GPT to its new end and let
/// the usable area reach it.
pub fn expand_gpt(dev: &dyn BlockDev) -> Result<()> {
    modify_gpt(dev, |_, _| Ok(()))
}
