//! Extended attributes (Documentation/filesystems/ext4/attributes.rst): entries after a
//! magic number in the inode's spare space, or in a separate block with a 32-byte header
//! (crc32c-checked under metadata_csum). Names are stored without their namespace prefix
//! (an index instead); POSIX ACLs are stored in ext4's compact form and presented, as the
//! kernel presents them, in the generic xattr format.

use crate::bytes::{le16, le32};
use crate::fs::{FsError, FsResult};

use super::checksum::crc32c_raw;

/// The magic number before in-inode entries and at the start of an xattr block.
pub const MAGIC: u64 = 0xea02_0000;

/// One attribute as stored: the full name, and its value (or the inode holding it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawXattr {
    /// Full name with its namespace prefix (`user.foo`, `security.selinux`).
    pub name: Vec<u8>,
    /// The value, when stored inline.
    pub value: Vec<u8>,
    /// ea_inode: the inode holding the value, and its length.
    pub value_inode: Option<(u32, u32)>,
}

fn prefix(index: u8) -> Option<&'static str> {
    Some(match index {
        1 => "user.",
        2 => "system.posix_acl_access",
        3 => "system.posix_acl_default",
        4 => "trusted.",
        6 => "security.",
        7 => "system.",
        8 => "system.richacl",
        _ => return None,
    })
}

fn bad(where_: &str, detail: String) -> FsError {
    FsError::corrupt("ext4 extended attribute", format!("{where_}: {detail}"))
}

/// Parse the entries starting at `entries_at` of `area`; values are at `value_base +
/// value_offs` within `area`.
fn parse(
    area: &[u8],
    entries_at: usize,
    value_base: usize,
    where_: &str,
) -> FsResult<Vec<RawXattr>> {
    let mut out = Vec::new();
    let mut off = entries_at;
    loop {
        if off + 4 > area.len() {
            // The in-inode area may end without a terminator.
            break;
        }
        if le32(area, off) == 0 {
            break;
        }
        if off + 16 > area.len() {
            return Err(bad(where_, format!("entry at {off} runs past the end")));
        }
        let name_len = area[off] as usize;
        let index = area[off + 1];
        let value_offs = le16(area, off + 2) as usize;
        let value_inum = le32(area, off + 4) as u32;
        let value_size = le32(area, off + 8) as usize;
        let name_end = off + 16 + name_len;
        if name_end > area.len() {
            return Err(bad(
                where_,
                format!("name of entry at {off} runs past the end"),
            ));
        }
        let Some(pre) = prefix(index) else {
            return Err(bad(where_, format!("unknown name index {index}")));
        };
        let mut name = pre.as_bytes().to_vec();
        name.extend_from_slice(&area[off + 16..name_end]);
        let (value, value_inode) = if value_inum != 0 {
            (Vec::new(), Some((value_inum, value_size as u32)))
        } else {
            let start = value_base + value_offs;
            let end = start.checked_add(value_size).filter(|&e| e <= area.len());
            let Some(end) = end else {
                return Err(bad(
                    where_,
                    format!("value of {value_size} bytes at {value_offs} runs past the end"),
                ));
            };
            (area[start..end].to_vec(), None)
        };
        out.push(RawXattr {
            name,
            value,
            value_inode,
        });
        off = (name_end + 3) & !3;
    }
    Ok(out)
}

/// The attributes in an inode's spare space (after the extra fields).
pub fn in_inode(area: &[u8], ino: u32) -> FsResult<Vec<RawXattr>> {
    if area.len() < 4 || le32(area, 0) != MAGIC {
        return Ok(Vec::new());
    }
    parse(area, 4, 4, &format!("inode {ino}"))
}

/// The attributes in an xattr block `blk`.
pub fn in_block(block: &[u8], blk: u64, csum_seed: Option<u32>) -> FsResult<Vec<RawXattr>> {
    let where_ = format!("block {blk}");
    if le32(block, 0) != MAGIC {
        return Err(bad(&where_, "bad magic".into()));
    }
    if le32(block, 8) != 1 {
        return Err(bad(&where_, format!("h_blocks {}", le32(block, 8))));
    }
    if let Some(seed) = csum_seed {
        let mut copy = block.to_vec();
        copy[16..20].fill(0);
        let c = crc32c_raw(seed, &blk.to_le_bytes());
        let got = crc32c_raw(c, &copy);
        let stored = le32(block, 16) as u32;
        if stored != got {
            return Err(bad(
                &where_,
                format!("checksum 0x{stored:08x} does not match the contents (0x{got:08x})"),
            ));
        }
    }
    parse(block, 32, 0, &where_)
}

/// Convert an ext4 compact POSIX ACL to the kernel's xattr format (version 2, 8-byte
/// entries: tag, perm, id).
pub fn acl_to_xattr(disk: &[u8]) -> FsResult<Vec<u8>> {
    let bad_acl = || bad("POSIX ACL", "malformed".into());
    if disk.len() < 4 || le32(disk, 0) != 1 {
        return Err(bad_acl());
    }
    let mut out = 2u32.to_le_bytes().to_vec();
    let mut off = 4;
    while off < disk.len() {
        if off + 4 > disk.len() {
            return Err(bad_acl());
        }
        let tag = le16(disk, off) as u16;
        let perm = le16(disk, off + 2) as u16;
        // USER (2) and GROUP (8) carry an id; USER_OBJ, GROUP_OBJ, MASK, OTHER do not.
        let (id, len) = if tag == 2 || tag == 8 {
            if off + 8 > disk.len() {
                return Err(bad_acl());
            }
            (le32(disk, off + 4) as u32, 8)
        } else {
            (u32::MAX, 4)
        };
        out.extend_from_slice(&tag.to_le_bytes());
        out.extend_from_slice(&perm.to_le_bytes());
        out.extend_from_slice(&id.to_le_bytes());
        off += len;
    }
    Ok(out)
}

/// POSIX ACL entry tags (linux/posix_acl.h).
pub const ACL_USER_OBJ: u16 = 0x01;
/// A named user.
pub const ACL_USER: u16 = 0x02;
/// The owning group.
pub const ACL_GROUP_OBJ: u16 = 0x04;
/// A named group.
pub const ACL_GROUP: u16 = 0x08;
/// The mask.
pub const ACL_MASK: u16 = 0x10;
/// Everyone else.
pub const ACL_OTHER: u16 = 0x20;

/// Parse the kernel's xattr format of a POSIX ACL (version 2, then (tag, perm, id)
/// entries) into its entries, checked as the kernel checks them (known tags, perm bits
/// 0..=7, one USER_OBJ/GROUP_OBJ/OTHER, a MASK when named entries exist).
pub fn acl_entries(api: &[u8]) -> FsResult<Vec<(u16, u16, u32)>> {
    let invalid = || FsError::from(crate::fs::Errno::Invalid);
    if api.len() < 4 || (api.len() - 4) % 8 != 0 || le32(api, 0) != 2 {
        return Err(invalid());
    }
    let entries: Vec<(u16, u16, u32)> = api[4..]
        .chunks(8)
        .map(|e| (le16(e, 0) as u16, le16(e, 2) as u16, le32(e, 4) as u32))
        .collect();
    let count = |t: u16| entries.iter().filter(|e| e.0 == t).count();
    let named = count(ACL_USER) + count(ACL_GROUP);
    if entries.iter().any(|e| {
        e.1 > 7
            || ![
                ACL_USER_OBJ,
                ACL_USER,
                ACL_GROUP_OBJ,
                ACL_GROUP,
                ACL_MASK,
                ACL_OTHER,
            ]
            .contains(&e.0)
    }) || (!entries.is_empty()
        && (count(ACL_USER_OBJ) != 1
            || count(ACL_GROUP_OBJ) != 1
            || count(ACL_OTHER) != 1
            || count(ACL_MASK) > 1
            || (named > 0 && count(ACL_MASK) != 1)))
    {
        return Err(invalid());
    }
    Ok(entries)
}

/// ext4's compact on-disk form of ACL entries (version 1; ids only for named entries).
pub fn acl_to_disk(entries: &[(u16, u16, u32)]) -> Vec<u8> {
    let mut out = 1u32.to_le_bytes().to_vec();
    for &(tag, perm, id) in entries {
        out.extend_from_slice(&tag.to_le_bytes());
        out.extend_from_slice(&perm.to_le_bytes());
        if tag == ACL_USER || tag == ACL_GROUP {
            out.extend_from_slice(&id.to_le_bytes());
        }
    }
    out
}

/// Recompute an xattr block's checksum (metadata_csum): crc32c over the block number and
/// the block with the checksum field zeroed.
pub fn set_block_checksum(block: &mut [u8], blk: u64, fs_seed: u32) {
    block[16..20].fill(0);
    let c = crc32c_raw(fs_seed, &blk.to_le_bytes());
    let sum = crc32c_raw(c, block);
    block[16..20].copy_from_slice(&sum.to_le_bytes());
}
