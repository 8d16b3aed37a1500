//! What a disk's partition table says, independent of its format: the entries guestfish's
//! part-* commands report, in bytes.

use crate::block::{BlockDev, Result};

/// The table format, as `part-get-parttype` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableKind {
    /// MBR.
    Msdos,
    /// GUID partition table.
    Gpt,
}

impl TableKind {
    /// `msdos` or `gpt`.
    pub fn name(self) -> &'static str {
        match self {
            TableKind::Msdos => "msdos",
            TableKind::Gpt => "gpt",
        }
    }
}

/// MBR partition kinds (`part-get-mbr-part-type`); GPT partitions report `primary`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartKind {
    /// An MBR primary slot.
    Primary,
    /// The MBR extended partition.
    Extended,
    /// A partition inside the extended one.
    Logical,
    /// A GPT entry.
    Gpt,
}

/// GPT-only fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GptInfo {
    /// Partition type GUID, upper case.
    pub type_guid: String,
    /// Unique partition GUID, upper case.
    pub guid: String,
    /// Name (UTF-16 in the table).
    pub name: String,
    /// Attribute bits.
    pub attributes: u64,
}

/// One partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartEntry {
    /// Linux's partition number (`/dev/sdaN`).
    pub num: u32,
    /// First byte.
    pub start: u64,
    /// Length in bytes.
    pub size: u64,
    /// Primary, extended, logical or GPT.
    pub kind: PartKind,
    /// MBR type byte.
    pub mbr_id: Option<u8>,
    /// MBR active flag.
    pub bootable: bool,
    /// GPT fields.
    pub gpt: Option<GptInfo>,
}

impl PartEntry {
    /// An entry from an mbrman partition record.
    pub fn mbr(num: u32, e: &mbrman::MBRPartitionEntry, kind: PartKind) -> PartEntry {
        PartEntry {
            num,
            start: u64::from(e.starting_lba) * 512,
            size: u64::from(e.sectors) * 512,
            kind,
            mbr_id: Some(e.sys),
            bootable: e.boot == 0x80,
            gpt: None,
        }
    }

    /// The first 512-byte sector after the partition.
    pub fn end_sector(&self) -> u64 {
        (self.start + self.size).div_ceil(512)
    }
}

/// A disk's partition table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartTable {
    /// msdos or gpt.
    pub kind: TableKind,
    /// Bytes per logical block of the table (GPT may use 4096).
    pub sector_size: u64,
    /// MBR disk signature.
    pub disk_id: Option<u32>,
    /// GPT disk GUID, upper case.
    pub disk_guid: Option<String>,
    /// Partitions by number.
    pub parts: Vec<PartEntry>,
}

impl PartTable {
    /// The partition numbered `num`.
    pub fn get(&self, num: u32) -> Option<&PartEntry> {
        self.parts.iter().find(|p| p.num == num)
    }
}

/// Read a device's partition table, GPT first when the MBR is protective (type 0xee,
/// also in a hybrid MBR) or absent, as Linux does. `None`: no table.
pub fn read_table(dev: &dyn BlockDev) -> Result<Option<PartTable>> {
    let table = read_any(dev)?;
    if let Some(t) = &table {
        t.check_overlaps()?;
    }
    Ok(table)
}

impl PartTable {
    /// Partitions (other than the extended partition, which contains the logical ones)
    /// must not share bytes.
    fn check_overlaps(&self) -> Result<()> {
        let mut spans: Vec<&PartEntry> = self
            .parts
            .iter()
            .filter(|p| p.kind != PartKind::Extended)
            .collect();
        spans.sort_by_key(|p| p.start);
        for pair in spans.windows(2) {
            if pair[0].start + pair[0].size > pair[1].start {
                return Err(crate::block::BlockError::corrupt(
                    "partition table",
                    format!("partitions {} and {} overlap", pair[0].num, pair[1].num),
                ));
            }
        }
        Ok(())
    }
}

fn read_any(dev: &dyn BlockDev) -> Result<Option<PartTable>> {
    if dev.size() < 512 {
        return Ok(None);
    }
    let mut sector0 = [0u8; 512];
    dev.read_at(&mut sector0, 0)?;
    // Linux's test: a boot indicator other than 0x00/0x80 means this is no MBR (for
    // example the boot sector of a filesystem made on the whole disk).
    let has_mbr = super::mbr::has_signature(&sector0)
        && (0..4).all(|i| matches!(sector0[446 + i * 16], 0x00 | 0x80));
    let protective = has_mbr && (0..4).any(|i| sector0[446 + i * 16 + 4] == 0xee);
    if protective || !has_mbr {
        if let Some(t) = super::gpt::read(dev)? {
            return Ok(Some(t));
        }
        if !has_mbr {
            return Ok(None);
        }
    }
    super::mbr::read(dev)
}
