//! GPT partition tables (UEFI specification, chapter 5): the primary header at LBA 1 or,
//! when it or its entry array is damaged, the backup at the last LBA; logical block
//! sizes 512 and 4096. Headers and entry arrays are checked here (signature, CRCs, entry
//! size 128, at most [`MAX_ENTRIES`] entries, everything inside the disk) before the gpt
//! crate parses them: it asserts on entry sizes other than 128 and trusts counts.

use crate::block::{BlockDev, BlockError, Result};
use crate::bytes::{le32, le64};

use super::io::DevCursor;
use super::table::{GptInfo, PartEntry, PartKind, PartTable, TableKind};

/// More entries than any partitioning tool writes (128 is usual).
const MAX_ENTRIES: u64 = 4096;

const CRC32: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);

fn bad(detail: String) -> BlockError {
    BlockError::corrupt("GPT partition table", detail)
}

/// Is there a header with a valid signature and CRC at `lba`, whose entry array is valid
/// too? Returns a reason when not.
fn check_header(dev: &dyn BlockDev, lb: u64, lba: u64) -> std::result::Result<(), String> {
    let size = dev.size();
    let mut h = vec![0u8; lb as usize];
    if (lba + 1) * lb > size {
        return Err("the header lies beyond the end of the disk".into());
    }
    dev.read_at(&mut h, lba * lb).map_err(|e| e.to_string())?;
    if &h[..8] != b"EFI PART" {
        return Err("no signature".into());
    }
    let header_size = le32(&h, 12);
    if !(92..=lb).contains(&header_size) {
        return Err(format!("header size {header_size}"));
    }
    let mut copy = h[..header_size as usize].to_vec();
    copy[16..20].fill(0);
    if CRC32.checksum(&copy) as u64 != le32(&h, 16) {
        return Err("header CRC mismatch".into());
    }
    let entries_lba = le64(&h, 72);
    let count = le32(&h, 80);
    let entry_size = le32(&h, 84);
    if entry_size != 128 {
        return Err(format!(
            "partition entry size {entry_size} (rfish reads 128)"
        ));
    }
    if count > MAX_ENTRIES {
        return Err(format!("{count} partition entries (at most {MAX_ENTRIES})"));
    }
    let array_len = count * entry_size;
    let array_end = entries_lba
        .checked_mul(lb)
        .and_then(|s| s.checked_add(array_len))
        .filter(|&e| e <= size);
    if array_end.is_none() || entries_lba < 2 {
        return Err(format!(
            "the partition entries (LBA {entries_lba}) lie outside the disk"
        ));
    }
    let mut array = vec![0u8; array_len as usize];
    dev.read_at(&mut array, entries_lba * lb)
        .map_err(|e| e.to_string())?;
    if CRC32.checksum(&array) as u64 != le32(&h, 88) {
        return Err("partition entry array CRC mismatch".into());
    }
    Ok(())
}

/// Read a GPT (`None` when neither header is present at either block size).
pub fn read(dev: &dyn BlockDev) -> Result<Option<PartTable>> {
    let size = dev.size();
    for lb in [512u64, 4096] {
        if size < lb * 3 {
            continue;
        }
        let last = size / lb - 1;
        let primary = check_header(dev, lb, 1);
        let backup = check_header(dev, lb, last);
        let hide = match (&primary, &backup) {
            (Ok(()), _) => None,
            (Err(_), Ok(())) => Some((lb, 2 * lb)),
            (Err(p), Err(_)) if p == "no signature" => continue,
            (Err(p), Err(b)) => {
                return Err(bad(format!("primary header: {p}; backup header: {b}")));
            }
        };
        let block = if lb == 512 {
            gpt::disk::LogicalBlockSize::Lb512
        } else {
            gpt::disk::LogicalBlockSize::Lb4096
        };
        let mut cursor = DevCursor::new(dev);
        if let Some((start, end)) = hide {
            // The primary is damaged: hide it so the crate takes the backup.
            cursor = cursor.hiding(start, end);
        }
        let disk = gpt::GptConfig::new()
            .writable(false)
            .logical_block_size(block)
            .open_from_device(cursor)
            .map_err(|e| bad(format!("{e}")))?;
        let mut parts = Vec::new();
        for (&num, p) in disk.partitions() {
            if !p.is_used() {
                continue;
            }
            if p.last_lba < p.first_lba || p.last_lba > last {
                return Err(bad(format!(
                    "partition {num} (LBA {}-{}) is empty or extends beyond the disk",
                    p.first_lba, p.last_lba
                )));
            }
            parts.push(PartEntry {
                num,
                start: p.first_lba * lb,
                size: (p.last_lba - p.first_lba + 1) * lb,
                kind: PartKind::Gpt,
                mbr_id: None,
                bootable: false,
                gpt: Some(GptInfo {
                    type_guid: p
                        .part_type_guid
                        .guid
                        .as_hyphenated()
                        .to_string()
                        .to_uppercase(),
                    guid: p.part_guid.as_hyphenated().to_string().to_uppercase(),
                    name: p.name.clone(),
                    attributes: p.flags,
                }),
            });
        }
        return Ok(Some(PartTable {
            kind: TableKind::Gpt,
            sector_size: lb,
            disk_id: None,
            disk_guid: Some(disk.guid().as_hyphenated().to_string().to_uppercase()),
            parts,
        }));
    }
    Ok(None)
}
