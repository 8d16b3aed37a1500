//! tune2fs-style superblock edits on a device: the volume label and the UUID, written to
//! the primary superblock and every backup. A new UUID keeps all metadata checksums
//! valid the way the kernel allows: with metadata_csum the old checksum seed is stored
//! (metadata_csum_seed), with uninit_bg the group descriptors' crc16 are recomputed.

use crate::block::BlockDev;
use crate::fs::{FsError, FsResult};

use super::group_desc;
use super::superblock::{
    INCOMPAT_CSUM_SEED, INCOMPAT_META_BG, INCOMPAT_RECOVER, RO_COMPAT_GDT_CSUM,
    RO_COMPAT_METADATA_CSUM, Superblock, update_checksum,
};

fn refuse(msg: &str) -> FsError {
    FsError::corrupt("ext4 superblock", msg.to_string())
}

/// Write `raw` (the primary superblock) as the primary and every backup copy.
fn write_all_copies(dev: &dyn BlockDev, sb: &Superblock, raw: &[u8]) -> FsResult<()> {
    dev.write_at(raw, 1024)?;
    let bs = u64::from(sb.block_size);
    for g in 1..sb.group_count {
        if !sb.group_has_super(g) {
            continue;
        }
        let first = u64::from(sb.first_data_block) + u64::from(g) * u64::from(sb.blocks_per_group);
        let mut copy = raw.to_vec();
        copy[0x5a..0x5c].copy_from_slice(&(g as u16).to_le_bytes());
        update_checksum(&mut copy);
        dev.write_at(&copy, first * bs)?;
    }
    Ok(())
}

fn read(dev: &dyn BlockDev) -> FsResult<Superblock> {
    let sb = Superblock::read(dev)?;
    if sb.incompat & INCOMPAT_RECOVER != 0 {
        return Err(refuse(
            "the journal needs recovery: mount the filesystem read-write once first",
        ));
    }
    Ok(sb)
}

/// Set the volume label (at most 16 bytes).
pub fn set_label(dev: &dyn BlockDev, label: &[u8]) -> FsResult<()> {
    let sb = read(dev)?;
    let mut raw = sb.raw.clone();
    raw[0x78..0x88].fill(0);
    raw[0x78..0x78 + label.len().min(16)].copy_from_slice(&label[..label.len().min(16)]);
    update_checksum(&mut raw);
    write_all_copies(dev, &sb, &raw)?;
    dev.flush()?;
    Ok(())
}

/// Set the filesystem UUID.
pub fn set_uuid(dev: &dyn BlockDev, uuid: [u8; 16]) -> FsResult<()> {
    let sb = read(dev)?;
    let mut raw = sb.raw.clone();
    if sb.ro_compat & RO_COMPAT_METADATA_CSUM != 0 && sb.incompat & INCOMPAT_CSUM_SEED == 0 {
        // Every checksum was seeded from the old UUID: keep that seed.
        let incompat = sb.incompat | INCOMPAT_CSUM_SEED;
        raw[0x60..0x64].copy_from_slice(&incompat.to_le_bytes());
        raw[0x270..0x274].copy_from_slice(&sb.csum_seed.to_le_bytes());
    }
    raw[0x68..0x78].copy_from_slice(&uuid);
    update_checksum(&mut raw);
    let gdt_crc16 =
        sb.ro_compat & RO_COMPAT_GDT_CSUM != 0 && sb.ro_compat & RO_COMPAT_METADATA_CSUM == 0;
    if gdt_crc16 {
        if sb.incompat & INCOMPAT_META_BG != 0 {
            return Err(refuse(
                "changing the UUID of a meta_bg filesystem with uninit_bg is not supported",
            ));
        }
        // The descriptors' crc16 covers the UUID: recompute them, primary and backups.
        let new_sb = Superblock::parse(raw.clone(), dev.size())?;
        let descs = group_desc::read_all(dev, &sb)?;
        let size = usize::from(sb.desc_size);
        let bs = u64::from(sb.block_size);
        let table_len = (sb.group_count as usize * size).div_ceil(bs as usize) * bs as usize;
        let mut table = vec![0u8; table_len];
        let start = group_desc::location(&sb, 0);
        dev.read_at(&mut table, start)?;
        for (g, d) in descs.iter().enumerate() {
            let at = g * size;
            group_desc::encode(&new_sb, g as u32, &mut table[at..at + size], d);
        }
        for g in 0..sb.group_count {
            if !sb.group_has_super(g) {
                continue;
            }
            let first =
                u64::from(sb.first_data_block) + u64::from(g) * u64::from(sb.blocks_per_group);
            let at = if g == 0 { start } else { (first + 1) * bs };
            dev.write_at(&table, at)?;
        }
    }
    write_all_copies(dev, &sb, &raw)?;
    dev.flush()?;
    Ok(())
}
