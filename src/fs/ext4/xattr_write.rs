//! Writing extended attributes (Documentation/filesystems/ext4/attributes.rst). An
//! inode's attributes are read whole, changed, and laid out again as the kernel places
//! them: in the inode's spare space first, the rest in one attribute block (entries sorted,
//! values packed from the block's end, entry and block hashes as e2fsck computes them,
//! crc32c under metadata_csum). A block shared by several inodes (refcount > 1) is never
//! changed in place: the inode gets its own copy and the shared block one reference less.
//! Values kept in separate inodes (ea_inode) and POSIX ACLs (stored in ext4's own format)
//! are refused rather than rewritten wrongly.

use crate::bytes::{le16, le32};
use crate::fs::{Errno, FsError, FsResult};

use super::fs::Ext4;
use super::inode_write::RawInode;
use super::xattr::{self, MAGIC, RawXattr};

/// Name prefixes and their on-disk indexes, longest first so `system.posix_acl_access`
/// wins over `system.`.
const PREFIXES: &[(&str, u8)] = &[
    ("system.posix_acl_access", 2),
    ("system.posix_acl_default", 3),
    ("system.richacl", 8),
    ("user.", 1),
    ("trusted.", 4),
    ("security.", 6),
    ("system.", 7),
];

fn unsupported(what: &str) -> FsError {
    FsError::Block(crate::block::BlockError::Unsupported(what.to_string()))
}

/// The (index, suffix) a full attribute name is stored as; ENOTSUP for unknown namespaces.
pub fn split_name(name: &[u8]) -> FsResult<(u8, &[u8])> {
    for (p, idx) in PREFIXES {
        if let Some(rest) = name.strip_prefix(p.as_bytes()) {
            if (*idx == 2 || *idx == 3 || *idx == 8) && !rest.is_empty() {
                continue;
            }
            return Ok((*idx, rest));
        }
    }
    Err(Errno::NotSupported.into())
}

/// An attribute ready to be laid out.
struct Entry {
    index: u8,
    suffix: Vec<u8>,
    value: Vec<u8>,
}

impl Entry {
    /// Bytes of its entry record (16 + name, padded to 4).
    fn entry_size(&self) -> usize {
        (16 + self.suffix.len() + 3) & !3
    }

    /// Bytes of its value (padded to 4).
    fn value_size(&self) -> usize {
        (self.value.len() + 3) & !3
    }

    /// ext4_xattr_hash_entry: the name (unsigned bytes) then the padded value words.
    fn hash(&self) -> u32 {
        let mut hash: u32 = 0;
        for &c in &self.suffix {
            hash = (hash << 5) ^ (hash >> 27) ^ u32::from(c);
        }
        let mut padded = self.value.clone();
        padded.resize(self.value_size(), 0);
        for w in padded.chunks_exact(4) {
            let v = u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
            hash = (hash << 16) ^ (hash >> 16) ^ v;
        }
        hash
    }
}

/// Write `entries` as an entry table at `area[table..]` with values packed down from
/// `area.len()`; value offsets are relative to `base`. False when they do not fit.
fn lay_out(area: &mut [u8], table: usize, base: usize, entries: &[&Entry]) -> bool {
    let need: usize = entries
        .iter()
        .map(|e| e.entry_size() + e.value_size())
        .sum::<usize>()
        + 4;
    if table + need > area.len() {
        return false;
    }
    area[table..].fill(0);
    let mut off = table;
    let mut value_end = area.len();
    for e in entries {
        value_end -= e.value_size();
        area[value_end..value_end + e.value.len()].copy_from_slice(&e.value);
        area[off] = e.suffix.len() as u8;
        area[off + 1] = e.index;
        let offs = if e.value.is_empty() {
            0
        } else {
            value_end - base
        };
        area[off + 2..off + 4].copy_from_slice(&(offs as u16).to_le_bytes());
        area[off + 4..off + 8].fill(0);
        area[off + 8..off + 12].copy_from_slice(&(e.value.len() as u32).to_le_bytes());
        area[off + 12..off + 16].copy_from_slice(&e.hash().to_le_bytes());
        area[off + 16..off + 16 + e.suffix.len()].copy_from_slice(&e.suffix);
        off += e.entry_size();
    }
    true
}

impl Ext4 {
    /// Every attribute of `inode` as stored (names with prefixes, raw values).
    fn raw_xattrs(&self, inode: &RawInode) -> FsResult<Vec<RawXattr>> {
        let extra = if inode.raw.len() > 128 {
            le16(&inode.raw, 0x80) as usize
        } else {
            0
        };
        let area = &inode.raw[(128 + extra).min(inode.raw.len())..];
        let mut all = xattr::in_inode(area, inode.ino)?;
        if inode.file_acl() != 0 {
            let block = self.read_block(inode.file_acl())?;
            let seed = self.metadata_csum().then_some(self.sb.csum_seed);
            all.extend(xattr::in_block(&block, inode.file_acl(), seed)?);
        }
        Ok(all)
    }

    /// Set (`Some`) or remove (`None`) attribute `name` of `inode` (edited in memory; the
    /// caller writes the record). Removing a missing attribute is ENODATA.
    pub(super) fn xattr_change(
        &self,
        inode: &mut RawInode,
        name: &[u8],
        value: Option<&[u8]>,
    ) -> FsResult<()> {
        let (index, _) = split_name(name)?;
        if index == 8 {
            return Err(unsupported("writing rich ACLs"));
        }
        let mut all = self.raw_xattrs(inode)?;
        if all.iter().any(|x| x.value_inode.is_some()) {
            return Err(unsupported(
                "changing attributes of an inode with ea_inode values",
            ));
        }
        let existed = all.iter().any(|x| x.name == name);
        all.retain(|x| x.name != name);
        match value {
            Some(v) => all.push(RawXattr {
                name: name.to_vec(),
                value: v.to_vec(),
                value_inode: None,
            }),
            None if !existed => return Err(Errno::NoData.into()),
            None => {}
        }
        let mut entries = Vec::with_capacity(all.len());
        for x in &all {
            let (index, suffix) = split_name(&x.name)?;
            entries.push(Entry {
                index,
                suffix: suffix.to_vec(),
                value: x.value.clone(),
            });
        }
        self.store_xattrs(inode, entries)
    }

    /// Lay `entries` out in the inode and (for what does not fit) one block.
    fn store_xattrs(&self, inode: &mut RawInode, mut entries: Vec<Entry>) -> FsResult<()> {
        let bs = self.sb.block_size as usize;
        // In-inode space: after the extra fields, a 4-byte magic, then the table.
        let extra = if inode.raw.len() > 128 {
            le16(&inode.raw, 0x80) as usize
        } else {
            0
        };
        let start = 128 + extra;
        // system.data (inline data) must stay in the inode: it goes first.
        entries.sort_by_key(|e| !(e.index == 7 && e.suffix == b"data"));
        let mut in_inode: Vec<&Entry> = Vec::new();
        let mut rest: Vec<&Entry> = Vec::new();
        if inode.raw.len() >= start + 8 {
            let room = inode.raw.len() - start - 4;
            let mut used = 4; // the terminator
            for e in &entries {
                let n = e.entry_size() + e.value_size();
                if rest.is_empty() && used + n <= room {
                    in_inode.push(e);
                    used += n;
                } else {
                    rest.push(e);
                }
            }
        } else {
            rest = entries.iter().collect();
        }
        if inode.raw.len() >= start + 4 {
            let area = &mut inode.raw[start..];
            if in_inode.is_empty() {
                area.fill(0);
            } else {
                area[..4].copy_from_slice(&(MAGIC as u32).to_le_bytes());
                if !lay_out(area, 4, 4, &in_inode) {
                    return Err(Errno::NoSpace.into());
                }
            }
        }
        // The block part.
        let old = inode.file_acl();
        if rest.is_empty() {
            if old != 0 {
                self.release_xattr_ref(old)?;
                inode.set_file_acl(0);
                self.recount_blocks(inode)?;
            }
            return Ok(());
        }
        rest.sort_by(|a, b| {
            (a.index, a.suffix.len(), &a.suffix).cmp(&(b.index, b.suffix.len(), &b.suffix))
        });
        let mut block = vec![0u8; bs];
        block[0..4].copy_from_slice(&(MAGIC as u32).to_le_bytes());
        block[4..8].copy_from_slice(&1u32.to_le_bytes());
        block[8..12].copy_from_slice(&1u32.to_le_bytes());
        if !lay_out(&mut block, 32, 0, &rest) {
            return Err(Errno::NoSpace.into());
        }
        let mut h: u32 = 0;
        for e in &rest {
            h = (h << 16) ^ (h >> 16) ^ e.hash();
        }
        block[12..16].copy_from_slice(&h.to_le_bytes());
        // A block of our own is rewritten in place; a shared one is copied.
        let target = if old != 0 && self.xattr_refcount(old)? == 1 {
            old
        } else {
            if old != 0 {
                self.release_xattr_ref(old)?;
            }
            let goal = self.group_first_block((inode.ino - 1) / self.sb.inodes_per_group);
            self.alloc_blocks(goal, 1)?.0
        };
        if self.metadata_csum() {
            xattr::set_block_checksum(&mut block, target, self.sb.csum_seed);
        }
        self.device().write_at(&block, target * bs as u64)?;
        if target != old {
            inode.set_file_acl(target);
            self.recount_blocks(inode)?;
        }
        Ok(())
    }

    fn xattr_refcount(&self, block: u64) -> FsResult<u32> {
        let data = self.read_block(block)?;
        Ok(le32(&data, 4) as u32)
    }

    /// Drop one reference to an attribute block, freeing it at zero.
    pub(super) fn release_xattr_ref(&self, block: u64) -> FsResult<()> {
        let mut data = self.read_block(block)?;
        let refs = le32(&data, 4) as u32;
        if refs <= 1 {
            return self.free_blocks(block, 1);
        }
        data[4..8].copy_from_slice(&(refs - 1).to_le_bytes());
        if self.metadata_csum() {
            xattr::set_block_checksum(&mut data, block, self.sb.csum_seed);
        }
        self.device()
            .write_at(&data, block * u64::from(self.sb.block_size))?;
        Ok(())
    }

    /// i_blocks from the inode's data and tree blocks plus its attribute block.
    fn recount_blocks(&self, inode: &mut RawInode) -> FsResult<()> {
        let fast_or_special = !self.has_block_tree(inode);
        if fast_or_special {
            let blocks = u64::from(inode.file_acl() != 0);
            let huge = self.sb.ro_compat & 0x8 != 0;
            inode.set_blocks_512(
                blocks * u64::from(self.sb.block_size / 512),
                huge,
                self.sb.block_size,
            );
            return Ok(());
        }
        let map = self.load_extents(inode)?;
        self.set_block_count(inode, &map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_into_index_and_suffix() {
        assert_eq!(
            split_name(b"security.selinux").unwrap(),
            (6, &b"selinux"[..])
        );
        assert_eq!(split_name(b"user.x").unwrap(), (1, &b"x"[..]));
        assert_eq!(
            split_name(b"system.posix_acl_access").unwrap(),
            (2, &b""[..])
        );
        assert_eq!(
            split_name(b"system.posix_acl_accessX").unwrap(),
            (7, &b"posix_acl_accessX"[..])
        );
        assert!(split_name(b"bogus.x").is_err());
    }

    #[test]
    fn the_entry_hash_is_ext4s() {
        // Name "a", value "b" (padded): h = 'a' = 0x61; then (0x61 << 16) ^ 0 ^ 0x62.
        let e = Entry {
            index: 1,
            suffix: b"a".to_vec(),
            value: b"b".to_vec(),
        };
        assert_eq!(e.hash(), (0x61 << 16) ^ 0x62);
    }
}
