//! A small blkid: which filesystem (or other content) a device holds, with its label,
//! UUID and version, read from the on-disk signatures. Values and key order follow
//! `blkid -p -o export` (util-linux 2.38), which the tests compare against.
//!
//! Every read is of a few fixed offsets near the start of the device; nothing here
//! allocates in proportion to what the device claims.

use crate::block::{BlockDev, Result};
use crate::bytes::{be16, le16, le32, uuid_string as uuid};

/// What a device holds: `blkid -p -o export` pairs, in blkid's order (TYPE always set).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Probe {
    /// KEY=VALUE pairs.
    pub pairs: Vec<(&'static str, String)>,
}

impl Probe {
    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    }

    /// TYPE.
    pub fn fstype(&self) -> &str {
        self.get("TYPE").unwrap_or("")
    }
}

/// Reads that return zeros past the end of the device.
struct Bytes<'a> {
    dev: &'a dyn BlockDev,
}

impl Bytes<'_> {
    fn read(&self, offset: u64, len: usize) -> Result<Vec<u8>> {
        let mut buf = vec![0u8; len];
        let size = self.dev.size();
        if offset < size {
            let n = (size - offset).min(len as u64) as usize;
            self.dev.read_at(&mut buf[..n], offset)?;
        }
        Ok(buf)
    }
}

/// A NUL-padded (or space-padded) label; `None` when empty.
fn label(b: &[u8]) -> Option<String> {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    let s = String::from_utf8_lossy(&b[..end]).trim_end().to_string();
    (!s.is_empty()).then_some(s)
}

fn push(p: &mut Vec<(&'static str, String)>, key: &'static str, value: Option<String>) {
    if let Some(v) = value {
        p.push((key, v));
    }
}

/// Probe a device. `None`: nothing recognised.
pub fn probe(dev: &dyn BlockDev) -> Result<Option<Probe>> {
    let r = Bytes { dev };
    let probes: [fn(&Bytes<'_>) -> Found; 12] = [
        luks, lvm2, xfs, ext, btrfs, squashfs, swap, iso9660, exfat, ntfs, vfat, zfs,
    ];
    for f in probes {
        if let Some(pairs) = f(&r)? {
            return Ok(Some(Probe { pairs }));
        }
    }
    Ok(None)
}

type Found = Result<Option<Vec<(&'static str, String)>>>;

fn ext(r: &Bytes<'_>) -> Found {
    let sb = r.read(1024, 1024)?;
    if le16(&sb, 56) != 0xef53 {
        return Ok(None);
    }
    let compat = le32(&sb, 92);
    let incompat = le32(&sb, 96);
    let ro_compat = le32(&sb, 100);
    if incompat & 0x8 != 0 {
        return Ok(Some(vec![
            ("TYPE", "jbd".into()),
            ("USAGE", "other".into()),
        ]));
    }
    // util-linux's rules: ext2/ext3 only when no feature beyond their supported sets.
    const EXT2_RO: u64 = 0x1 | 0x2 | 0x4;
    const EXT2_INCOMPAT: u64 = 0x2 | 0x10;
    const EXT3_INCOMPAT: u64 = 0x2 | 0x4 | 0x10;
    let journal = compat & 0x4 != 0;
    let kind = if journal && incompat & !EXT3_INCOMPAT == 0 && ro_compat & !EXT2_RO == 0 {
        "ext3"
    } else if !journal && incompat & !EXT2_INCOMPAT == 0 && ro_compat & !EXT2_RO == 0 {
        "ext2"
    } else {
        "ext4"
    };
    let mut p = Vec::new();
    push(&mut p, "LABEL", label(&sb[120..136]));
    p.push(("UUID", uuid(&sb[104..120])));
    if kind == "ext3" {
        p.push(("SEC_TYPE", "ext2".into()));
    }
    p.push(("VERSION", format!("{}.{}", le32(&sb, 76), le16(&sb, 62))));
    let log = le32(&sb, 24).min(6);
    p.push(("BLOCK_SIZE", (1024u64 << log).to_string()));
    p.push(("TYPE", kind.into()));
    p.push(("USAGE", "filesystem".into()));
    Ok(Some(p))
}

fn xfs(r: &Bytes<'_>) -> Found {
    let sb = r.read(0, 512)?;
    if &sb[..4] != b"XFSB" {
        return Ok(None);
    }
    let mut p = Vec::new();
    push(&mut p, "LABEL", label(&sb[108..120]));
    p.push(("UUID", uuid(&sb[32..48])));
    p.push(("BLOCK_SIZE", be16(&sb, 102).to_string()));
    p.push(("TYPE", "xfs".into()));
    p.push(("USAGE", "filesystem".into()));
    Ok(Some(p))
}

fn btrfs(r: &Bytes<'_>) -> Found {
    let sb = r.read(0x10000, 0x1000)?;
    if &sb[0x40..0x48] != b"_BHRfS_M" {
        return Ok(None);
    }
    let mut p = Vec::new();
    push(&mut p, "LABEL", label(&sb[0x12b..0x22b]));
    p.push(("UUID", uuid(&sb[0x20..0x30])));
    p.push(("UUID_SUB", uuid(&sb[0xc9 + 0x42..0xc9 + 0x52])));
    p.push(("BLOCK_SIZE", le32(&sb, 0x90).to_string()));
    p.push(("TYPE", "btrfs".into()));
    p.push(("USAGE", "filesystem".into()));
    Ok(Some(p))
}

fn swap(r: &Bytes<'_>) -> Found {
    for page in [4096u64, 8192, 16384, 65536] {
        let magic = r.read(page - 10, 10)?;
        if magic != b"SWAPSPACE2" {
            continue;
        }
        let h = r.read(1024, 512)?;
        let mut p = Vec::new();
        push(&mut p, "LABEL", label(&h[28..44]));
        if h[12..28].iter().any(|&b| b != 0) {
            p.push(("UUID", uuid(&h[12..28])));
        }
        p.push(("VERSION", le32(&h, 0).to_string()));
        p.push(("TYPE", "swap".into()));
        p.push(("USAGE", "other".into()));
        return Ok(Some(p));
    }
    Ok(None)
}

fn luks(r: &Bytes<'_>) -> Found {
    let h = r.read(0, 512)?;
    if &h[..6] != b"LUKS\xba\xbe" {
        return Ok(None);
    }
    let mut p = vec![("VERSION", be16(&h, 6).to_string())];
    push(&mut p, "UUID", label(&h[168..208]));
    p.push(("TYPE", "crypto_LUKS".into()));
    p.push(("USAGE", "crypto".into()));
    Ok(Some(p))
}

fn lvm2(r: &Bytes<'_>) -> Found {
    for sector in 0..4u64 {
        let s = r.read(sector * 512, 512)?;
        if &s[..8] != b"LABELONE" || &s[24..32] != b"LVM2 001" {
            continue;
        }
        let at = le32(&s, 20) as usize;
        if at + 32 > 512 {
            return Ok(None);
        }
        let id = String::from_utf8_lossy(&s[at..at + 32]).into_owned();
        let mut p = Vec::new();
        if id.len() == 32 {
            let cuts = [6, 4, 4, 4, 4, 4, 6];
            let mut parts = Vec::new();
            let mut i = 0;
            for c in cuts {
                parts.push(&id[i..i + c]);
                i += c;
            }
            p.push(("UUID", parts.join("-")));
        }
        p.push(("VERSION", "LVM2 001".into()));
        p.push(("TYPE", "LVM2_member".into()));
        p.push(("USAGE", "raid".into()));
        return Ok(Some(p));
    }
    Ok(None)
}

fn squashfs(r: &Bytes<'_>) -> Found {
    let h = r.read(0, 64)?;
    if &h[..4] != b"hsqs" {
        return Ok(None);
    }
    Ok(Some(vec![
        ("VERSION", format!("{}.{}", le16(&h, 28), le16(&h, 30))),
        ("TYPE", "squashfs".into()),
        ("USAGE", "filesystem".into()),
    ]))
}

fn iso9660(r: &Bytes<'_>) -> Found {
    let pvd = r.read(32768, 2048)?;
    if &pvd[1..6] != b"CD001" {
        return Ok(None);
    }
    let mut p = Vec::new();
    push(&mut p, "LABEL", label(&pvd[40..72]));
    p.push(("BLOCK_SIZE", "2048".into()));
    p.push(("TYPE", "iso9660".into()));
    p.push(("USAGE", "filesystem".into()));
    Ok(Some(p))
}

fn serial(v: u64) -> String {
    format!("{:04X}-{:04X}", v >> 16, v & 0xffff)
}

fn exfat(r: &Bytes<'_>) -> Found {
    let b = r.read(0, 512)?;
    if &b[3..11] != b"EXFAT   " {
        return Ok(None);
    }
    let sector_shift = u32::from(b[108]).min(12);
    let cluster_shift = u32::from(b[109]).min(25 - sector_shift.min(25));
    let heap = le32(&b, 88) << sector_shift;
    let root = le32(&b, 96);
    let mut p = Vec::new();
    if root >= 2 {
        let cluster = 1u64 << (sector_shift + cluster_shift);
        let dir = r.read(heap + (root - 2) * cluster, cluster.min(64 * 1024) as usize)?;
        let found = dir.chunks_exact(32).find(|e| e[0] == 0x83).map(|e| {
            let n = usize::from(e[1]).min(11);
            let units: Vec<u16> = (0..n)
                .map(|i| u16::from_le_bytes([e[2 + 2 * i], e[3 + 2 * i]]))
                .collect();
            String::from_utf16_lossy(&units)
        });
        push(&mut p, "LABEL", found.filter(|s| !s.is_empty()));
    }
    p.push(("UUID", serial(le32(&b, 100))));
    p.push(("VERSION", format!("{}.{}", b[105], b[104])));
    p.push(("BLOCK_SIZE", (1u64 << sector_shift).to_string()));
    p.push(("TYPE", "exfat".into()));
    p.push(("USAGE", "filesystem".into()));
    Ok(Some(p))
}

fn ntfs(r: &Bytes<'_>) -> Found {
    let b = r.read(0, 512)?;
    if &b[3..11] != b"NTFS    " {
        return Ok(None);
    }
    Ok(Some(vec![
        ("BLOCK_SIZE", le16(&b, 11).to_string()),
        (
            "UUID",
            format!("{:016X}", le32(&b, 0x48) | (le32(&b, 0x4c) << 32)),
        ),
        ("TYPE", "ntfs".into()),
        ("USAGE", "filesystem".into()),
    ]))
}

fn vfat(r: &Bytes<'_>) -> Found {
    let b = r.read(0, 512)?;
    if b[510] != 0x55 || b[511] != 0xaa {
        return Ok(None);
    }
    let (version, label_at, serial_at) = if &b[82..87] == b"FAT32" {
        ("FAT32", 71, 67)
    } else if &b[54..59] == b"FAT16" {
        ("FAT16", 43, 39)
    } else if &b[54..59] == b"FAT12" {
        ("FAT12", 43, 39)
    } else {
        return Ok(None);
    };
    let bytes_per_sector = le16(&b, 11);
    if !matches!(bytes_per_sector, 512 | 1024 | 2048 | 4096) {
        return Ok(None);
    }
    let mut p = Vec::new();
    if version != "FAT32" {
        p.push(("SEC_TYPE", "msdos".into()));
    }
    let boot_label = label(&b[label_at..label_at + 11]).filter(|l| l != "NO NAME");
    push(&mut p, "LABEL_FATBOOT", boot_label.clone());
    push(&mut p, "LABEL", boot_label);
    p.push(("UUID", serial(le32(&b, serial_at))));
    p.push(("VERSION", version.into()));
    p.push(("BLOCK_SIZE", bytes_per_sector.to_string()));
    p.push(("TYPE", "vfat".into()));
    p.push(("USAGE", "filesystem".into()));
    Ok(Some(p))
}

/// ZFS pool member: uberblocks (magic 0x00bab10c, either byte order) in the ring at
/// 128 KiB of the first vdev label. Only the type is reported.
fn zfs(r: &Bytes<'_>) -> Found {
    let ring = r.read(128 * 1024, 128 * 1024)?;
    let magic = 0x00ba_b10c_u64;
    let found = ring
        .chunks_exact(1024)
        .filter(|u| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&u[..8]);
            u64::from_le_bytes(b) == magic || u64::from_be_bytes(b) == magic
        })
        .count();
    if found < 2 {
        return Ok(None);
    }
    Ok(Some(vec![
        ("TYPE", "zfs_member".into()),
        ("USAGE", "filesystem".into()),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::overlay::MemOverlay;

    struct Zeros;
    impl BlockDev for Zeros {
        fn size(&self) -> u64 {
            1 << 20
        }
        fn read_at(&self, buf: &mut [u8], _: u64) -> Result<()> {
            buf.fill(0);
            Ok(())
        }
        fn write_at(&self, _: &[u8], _: u64) -> Result<()> {
            Ok(())
        }
        fn flush(&self) -> Result<()> {
            Ok(())
        }
        fn is_read_only(&self) -> bool {
            false
        }
        fn format_name(&self) -> &'static str {
            "raw"
        }
    }

    #[test]
    fn zfs_uberblocks_are_recognised_and_blank_devices_are_not() {
        let dev = MemOverlay::new(std::sync::Arc::new(Zeros));
        assert_eq!(probe(&dev).unwrap(), None);
        for i in 0..4u64 {
            dev.write_at(&0x00ba_b10c_u64.to_le_bytes(), 128 * 1024 + i * 1024)
                .unwrap();
        }
        assert_eq!(probe(&dev).unwrap().unwrap().fstype(), "zfs_member");
    }
}
