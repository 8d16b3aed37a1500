//! Moving inline_data inodes out to blocks before they change. A file's bytes (i_block
//! then the `system.data` attribute) go to a block of its own; a directory's entries go
//! to an ordinary directory block with `.` and `..`. The inode then maps blocks like any
//! other (extents where the filesystem has them), which e2fsck and the kernel accept on
//! inline_data filesystems: the kernel converts the same way once an inode outgrows
//! its inline space, and rfish simply converts on the first change.

use crate::fs::{Errno, FileType, FsResult};

use super::extent::Run;
use super::extent_write::ExtentMap;
use super::fs::Ext4;
use super::inode::{FLAG_EXTENTS, FLAG_INLINE_DATA};
use super::inode_write::RawInode;

const S_IFMT: u16 = 0o170000;
const S_IFDIR: u16 = 0o040000;

impl Ext4 {
    /// Convert `inode` (an inline_data file or directory) to a block-mapped one; the
    /// record is written. Does nothing to other inodes.
    pub(super) fn uninline(&self, inode: &mut RawInode) -> FsResult<()> {
        if inode.flags() & FLAG_INLINE_DATA == 0 {
            return Ok(());
        }
        let cached = self.inode(inode.ino)?;
        let is_dir = inode.mode() & S_IFMT == S_IFDIR;
        let (data, entries) = if is_dir {
            use crate::fs::Filesystem;
            let parent = self
                .read_dir_with_dots(u64::from(inode.ino))?
                .unwrap_or_default()
                .into_iter()
                .find(|e| e.name == b"..")
                .map_or(2, |e| e.ino as u32);
            let entries = self.read_dir(u64::from(inode.ino))?;
            (parent.to_le_bytes().to_vec(), entries)
        } else {
            let mut data = self.inline_data(&cached)?;
            data.truncate(inode.size() as usize);
            (data, Vec::new())
        };
        match self.xattr_change(inode, b"system.data", None) {
            Ok(()) => {}
            Err(e) if e.errno() == Some(Errno::NoData) => {}
            Err(e) => return Err(e),
        }
        inode.set_flags(inode.flags() & !FLAG_INLINE_DATA);
        if self.uses_extents() {
            inode.set_flags(inode.flags() | FLAG_EXTENTS);
            super::extent_write::init_root(inode.block_mut());
        } else {
            inode.block_mut().fill(0);
        }
        if is_dir {
            let parent = u32::from_le_bytes([data[0], data[1], data[2], data[3]]);
            inode.set_size(0);
            self.init_dir(inode, parent)?;
            for e in entries {
                let kind = if e.kind == FileType::Unknown {
                    self.stat_kind(e.ino)?
                } else {
                    e.kind
                };
                self.dir_add(inode, &e.name, e.ino as u32, kind)?;
            }
        } else if !data.is_empty() {
            let bs = u64::from(self.sb.block_size);
            let goal = self.group_first_block((inode.ino - 1) / self.sb.inodes_per_group);
            let (pblk, _) = self.alloc_blocks(goal, 1)?;
            let mut block = vec![0u8; bs as usize];
            block[..data.len()].copy_from_slice(&data);
            self.txn().write_data(&block, pblk * bs)?;
            let mut map = ExtentMap::default();
            map.insert(Run {
                logical: 0,
                physical: pblk,
                len: 1,
                uninit: false,
            });
            self.store_extents(inode, &mut map, goal)?;
            self.set_block_count(inode, &map)?;
        } else {
            self.set_block_count(inode, &ExtentMap::default())?;
        }
        self.write_raw_inode(inode)
    }

    /// The type of inode `ino` from its mode.
    fn stat_kind(&self, ino: u64) -> FsResult<FileType> {
        use crate::fs::Filesystem;
        Ok(self.stat(ino)?.file_type())
    }
}
