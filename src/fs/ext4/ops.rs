//! The file operations of a writable ext4 filesystem, as the kernel performs them: create,
//! mkdir, symlink, link, unlink, rmdir, rename, write, truncate, setattr — each leaving the
//! metadata consistent in the running transaction, so that any commit point is a valid
//! filesystem. Link counts follow the kernel's dir_nlink rules; new data blocks are
//! zero-filled around partial writes; freed inodes get their deletion time.

use crate::fs::{Errno, FileType, Filesystem, FsError, FsResult, Ino, NewNode, SetAttr, Timespec};

use super::extent::Run;
use super::extent_write::ExtentMap;
use super::fs::Ext4;
use super::inode::{FLAG_ENCRYPT, FLAG_EXTENTS, FLAG_INLINE_DATA};
use super::inode_write::RawInode;
use super::superblock::RO_COMPAT_BIGALLOC;

/// The most links an inode (or, without dir_nlink, a directory) may have.
const LINK_MAX: u16 = 65000;
/// ro_compat flags the writer keeps correct.
const RO_COMPAT_WRITABLE: u32 = 0x1 | 0x2 | 0x4 | 0x8 | 0x10 | 0x20 | 0x40 | 0x400;
/// ro_compat: dir_nlink.
const RO_COMPAT_DIR_NLINK: u32 = 0x20;

const S_IFMT: u16 = 0o170000;
const S_IFDIR: u16 = 0o040000;
const S_IFLNK: u16 = 0o120000;
const S_IFREG: u16 = 0o100000;

fn unsupported(what: &str) -> FsError {
    FsError::Block(crate::block::BlockError::Unsupported(what.to_string()))
}

/// i_flags: immutable (no change at all) and append-only (writes only at the end).
const FLAG_IMMUTABLE: u32 = 0x10;
const FLAG_APPEND: u32 = 0x20;

/// EPERM for an immutable or append-only inode, as the kernel refuses changes to them.
fn check_not_locked(inode: &RawInode) -> FsResult<()> {
    if inode.flags() & (FLAG_IMMUTABLE | FLAG_APPEND) != 0 {
        return Err(Errno::NotPermitted.into());
    }
    Ok(())
}

/// Flags chattr may change (the kernel's EXT4_FL_USER_MODIFIABLE; extents are handled
/// apart).
const USER_MODIFIABLE_FLAGS: u32 = 0x604b_c0ff & !FLAG_EXTENTS;

fn kind_of(mode: u16) -> FileType {
    FileType::from_mode(u32::from(mode))
}

impl Ext4 {
    /// May this filesystem be changed, and does rfish know how?
    fn check_writable(&self) -> FsResult<()> {
        if !self.writable() {
            return Err(Errno::ReadOnly.into());
        }
        if self.sb.ro_compat & 0x1000 != 0 {
            return Err(Errno::ReadOnly.into());
        }
        if self.sb.ro_compat & RO_COMPAT_BIGALLOC != 0 {
            return Err(unsupported("writing to ext4 with bigalloc"));
        }
        let unknown = self.sb.ro_compat & !RO_COMPAT_WRITABLE;
        if unknown != 0 {
            return Err(unsupported(&format!(
                "writing to ext4 with read-only-compatible features 0x{unknown:x} (quota, project, verity, ...)"
            )));
        }
        Ok(())
    }

    /// Does the inode map blocks (an extent tree or a block map), as opposed to fast
    /// symlinks, device nodes and inline data?
    pub(super) fn has_block_tree(&self, inode: &RawInode) -> bool {
        if inode.flags() & FLAG_INLINE_DATA != 0 {
            return false;
        }
        match inode.mode() & S_IFMT {
            S_IFREG | S_IFDIR => true,
            S_IFLNK => {
                let huge = self.sb.ro_compat & 0x8 != 0;
                let blocks = inode.blocks_512(huge, self.sb.block_size);
                let acl = if inode.file_acl() != 0 {
                    u64::from(self.sb.block_size / 512)
                } else {
                    0
                };
                inode.flags() & FLAG_EXTENTS != 0 || blocks > acl
            }
            _ => false,
        }
    }

    /// may_delete's rule: neither the entry's inode nor an append-only directory may
    /// lose it.
    fn check_deletable(parent: &RawInode, inode: &RawInode) -> FsResult<()> {
        check_not_locked(inode)?;
        if parent.flags() & FLAG_APPEND != 0 {
            return Err(Errno::NotPermitted.into());
        }
        Ok(())
    }

    /// A directory's record, checked to be a writable directory.
    fn dir_for_change(&self, dir: Ino) -> FsResult<RawInode> {
        let d = self.read_raw_inode(Self::ino32(dir)?)?;
        if d.mode() & S_IFMT != S_IFDIR {
            return Err(Errno::NotDir.into());
        }
        if d.flags() & FLAG_IMMUTABLE != 0 {
            return Err(Errno::NotPermitted.into());
        }
        if d.flags() & FLAG_ENCRYPT != 0 {
            return Err(Errno::NoKey.into());
        }
        let mut d = d;
        self.uninline(&mut d)?;
        Ok(d)
    }

    fn check_name(name: &[u8]) -> FsResult<()> {
        if name.is_empty()
            || name == b"."
            || name == b".."
            || name.contains(&b'/')
            || name.contains(&0)
        {
            return Err(Errno::Invalid.into());
        }
        if name.len() > 255 {
            return Err(Errno::NameTooLong.into());
        }
        Ok(())
    }

    fn touch_dir(&self, dir: &mut RawInode, now: Timespec) -> FsResult<()> {
        dir.set_mtime(now);
        dir.set_ctime(now);
        self.write_raw_inode(dir)
    }

    /// One more link on a directory (dir_nlink: past the limit it reads 1).
    fn inc_dir_links(&self, dir: &mut RawInode) -> FsResult<()> {
        let n = dir.links();
        if n == 1 {
            return Ok(());
        }
        if n + 1 >= LINK_MAX {
            if self.sb.ro_compat & RO_COMPAT_DIR_NLINK == 0 {
                return Err(Errno::TooManyLinks.into());
            }
            dir.set_links(1);
        } else {
            dir.set_links(n + 1);
        }
        Ok(())
    }

    fn dec_dir_links(dir: &mut RawInode) {
        let n = dir.links();
        if n > 2 {
            dir.set_links(n - 1);
        }
    }

    fn new_node(
        &self,
        dir: Ino,
        name: &[u8],
        node: &NewNode,
        fill: &mut dyn FnMut(&Ext4, &mut RawInode, &mut RawInode) -> FsResult<()>,
    ) -> FsResult<Ino> {
        self.check_writable()?;
        Self::check_name(name)?;
        let mut parent = self.dir_for_change(dir)?;
        if self.lookup(dir, name)?.is_some() {
            return Err(Errno::Exists.into());
        }
        let mode = node.mode as u16;
        let is_dir = mode & S_IFMT == S_IFDIR;
        let ino = self.alloc_inode(parent.ino, is_dir)?;
        let now = Timespec::now();
        let mut inode = self.new_raw_inode(ino, mode, node.uid, node.gid, now);
        fill(self, &mut inode, &mut parent)?;
        self.write_raw_inode(&mut inode)?;
        self.dir_add(&mut parent, name, ino, kind_of(mode))?;
        self.touch_dir(&mut parent, now)?;
        Ok(u64::from(ino))
    }

    pub(super) fn op_create(&self, dir: Ino, name: &[u8], node: &NewNode) -> FsResult<Ino> {
        let mode = node.mode as u16;
        if mode & S_IFMT == S_IFDIR || mode & S_IFMT == S_IFLNK {
            return Err(Errno::Invalid.into());
        }
        let rdev = node.rdev;
        self.new_node(dir, name, node, &mut |_, inode, _| {
            if matches!(mode & S_IFMT, 0o020000 | 0o060000) {
                let (major, minor) = rdev;
                let b = inode.block_mut();
                b.fill(0);
                if major < 256 && minor < 256 {
                    b[0..4].copy_from_slice(&((major << 8) | minor).to_le_bytes());
                } else {
                    let v = (minor & 0xff) | (major << 8) | ((minor & !0xff) << 12);
                    b[4..8].copy_from_slice(&v.to_le_bytes());
                }
            }
            Ok(())
        })
    }

    pub(super) fn op_mkdir(&self, dir: Ino, name: &[u8], node: &NewNode) -> FsResult<Ino> {
        let node = NewNode {
            mode: (node.mode & 0o7777) | u32::from(S_IFDIR),
            ..*node
        };
        self.new_node(dir, name, &node, &mut |fs, inode, parent| {
            inode.set_links(2);
            fs.init_dir(inode, parent.ino)?;
            fs.inc_dir_links(parent)
        })
    }

    pub(super) fn op_symlink(
        &self,
        dir: Ino,
        name: &[u8],
        target: &[u8],
        node: &NewNode,
    ) -> FsResult<Ino> {
        if target.is_empty() || target.len() >= self.sb.block_size as usize {
            return Err(Errno::NameTooLong.into());
        }
        let node = NewNode {
            mode: 0o777 | u32::from(S_IFLNK),
            ..*node
        };
        let target = target.to_vec();
        self.new_node(dir, name, &node, &mut |fs, inode, _| {
            inode.set_size(target.len() as u64);
            if target.len() < 60 {
                // A fast symlink: the target in i_block, no extent tree.
                inode.set_flags(inode.flags() & !FLAG_EXTENTS);
                let b = inode.block_mut();
                b.fill(0);
                b[..target.len()].copy_from_slice(&target);
                return Ok(());
            }
            let mut block = vec![0u8; fs.sb.block_size as usize];
            block[..target.len()].copy_from_slice(&target);
            let mut map = ExtentMap::default();
            let goal = fs.group_first_block((inode.ino - 1) / fs.sb.inodes_per_group);
            let (pblk, _) = fs.alloc_blocks(goal, 1)?;
            fs.txn()
                .write_data(&block, pblk * u64::from(fs.sb.block_size))?;
            map.insert(Run {
                logical: 0,
                physical: pblk,
                len: 1,
                uninit: false,
            });
            fs.store_extents(inode, &mut map, goal)?;
            fs.set_block_count(inode, &map)
        })
    }

    pub(super) fn op_link(&self, ino: Ino, dir: Ino, name: &[u8]) -> FsResult<()> {
        self.check_writable()?;
        Self::check_name(name)?;
        let mut parent = self.dir_for_change(dir)?;
        if self.lookup(dir, name)?.is_some() {
            return Err(Errno::Exists.into());
        }
        let mut inode = self.read_raw_inode(Self::ino32(ino)?)?;
        if inode.mode() & S_IFMT == S_IFDIR {
            return Err(Errno::NotPermitted.into());
        }
        if inode.links() >= LINK_MAX {
            return Err(Errno::TooManyLinks.into());
        }
        check_not_locked(&inode)?;
        let now = Timespec::now();
        inode.set_links(inode.links() + 1);
        inode.set_ctime(now);
        self.write_raw_inode(&mut inode)?;
        self.dir_add(&mut parent, name, inode.ino, kind_of(inode.mode()))?;
        self.touch_dir(&mut parent, now)
    }

    /// Drop one link of `inode`; free it (blocks, xattr block, inode) at zero.
    fn drop_link(&self, inode: &mut RawInode, now: Timespec) -> FsResult<()> {
        let is_dir = inode.mode() & S_IFMT == S_IFDIR;
        let links = if is_dir {
            0
        } else {
            inode.links().saturating_sub(1)
        };
        inode.set_links(links);
        inode.set_ctime(now);
        if links > 0 {
            return self.write_raw_inode(inode);
        }
        if self.has_block_tree(inode) {
            let mut map = self.load_extents(inode)?;
            for (start, len) in map.truncate(0) {
                self.free_blocks(start, len)?;
            }
            for b in std::mem::take(&mut map.nodes) {
                self.free_blocks(b, 1)?;
            }
            if inode.flags() & FLAG_EXTENTS != 0 {
                super::extent_write::init_root(inode.block_mut());
            } else {
                inode.block_mut().fill(0);
            }
        } else if inode.mode() & S_IFMT == S_IFLNK
            || matches!(
                inode.mode() & S_IFMT,
                0o020000 | 0o060000 | 0o010000 | 0o140000
            )
        {
            // Fast symlinks and special files own no blocks.
        } else if inode.flags() & FLAG_INLINE_DATA != 0 {
            // Inline data lives in the inode itself.
        } else {
            return Err(unsupported("freeing block-mapped files"));
        }
        if inode.file_acl() != 0 {
            self.release_xattr_ref(inode.file_acl())?;
            inode.set_file_acl(0);
        }
        inode.set_size(0);
        let huge = self.sb.ro_compat & 0x8 != 0;
        inode.set_blocks_512(0, huge, self.sb.block_size);
        inode.set_dtime(now.sec as u32);
        self.write_raw_inode(inode)?;
        self.free_inode(inode.ino, is_dir)
    }

    pub(super) fn op_unlink(&self, dir: Ino, name: &[u8]) -> FsResult<()> {
        self.check_writable()?;
        let mut parent = self.dir_for_change(dir)?;
        let ino = self.lookup(dir, name)?.ok_or(Errno::NotFound)?;
        let mut inode = self.read_raw_inode(Self::ino32(ino)?)?;
        if inode.mode() & S_IFMT == S_IFDIR {
            return Err(Errno::IsDir.into());
        }
        Self::check_deletable(&parent, &inode)?;
        let now = Timespec::now();
        let stored = self.stored_name(dir, name)?;
        self.dir_remove(&mut parent, &stored)?;
        self.touch_dir(&mut parent, now)?;
        self.drop_link(&mut inode, now)
    }

    /// The name as the directory stores it (casefolded directories match other
    /// spellings).
    fn stored_name(&self, dir: Ino, name: &[u8]) -> FsResult<Vec<u8>> {
        let d = self.read_raw_inode(Self::ino32(dir)?)?;
        let casefolded =
            d.flags() & super::inode::FLAG_CASEFOLD != 0 && self.sb.incompat & 0x20000 != 0;
        if !casefolded {
            return Ok(name.to_vec());
        }
        let want = self.lookup(dir, name)?.ok_or(Errno::NotFound)?;
        if self.read_dir(dir)?.iter().any(|e| e.name == name) {
            return Ok(name.to_vec());
        }
        self.read_dir(dir)?
            .into_iter()
            .find(|e| e.ino == want)
            .map(|e| e.name)
            .ok_or_else(|| Errno::NotFound.into())
    }

    pub(super) fn op_rmdir(&self, dir: Ino, name: &[u8]) -> FsResult<()> {
        self.check_writable()?;
        if name == b"." {
            return Err(Errno::Invalid.into());
        }
        if name == b".." {
            return Err(Errno::NotEmpty.into());
        }
        let mut parent = self.dir_for_change(dir)?;
        let ino = self.lookup(dir, name)?.ok_or(Errno::NotFound)?;
        let mut inode = self.read_raw_inode(Self::ino32(ino)?)?;
        if inode.mode() & S_IFMT != S_IFDIR {
            return Err(Errno::NotDir.into());
        }
        if !self.dir_is_empty(inode.ino)? {
            return Err(Errno::NotEmpty.into());
        }
        Self::check_deletable(&parent, &inode)?;
        let now = Timespec::now();
        let stored = self.stored_name(dir, name)?;
        self.dir_remove(&mut parent, &stored)?;
        Self::dec_dir_links(&mut parent);
        self.touch_dir(&mut parent, now)?;
        self.drop_link(&mut inode, now)
    }

    /// Is `ancestor` on the path from `dir` up to the root?
    fn is_ancestor(&self, ancestor: u32, dir: u32) -> FsResult<bool> {
        let mut cur = dir;
        for _ in 0..4096 {
            if cur == ancestor {
                return Ok(true);
            }
            if cur == 2 {
                return Ok(false);
            }
            let up = self
                .read_dir_with_dots(u64::from(cur))?
                .unwrap_or_default()
                .into_iter()
                .find(|e| e.name == b"..")
                .ok_or(Errno::NotFound)?;
            cur = Self::ino32(up.ino)?;
        }
        Err(FsError::corrupt(
            "ext4 directory",
            "`..` chain does not reach the root",
        ))
    }

    pub(super) fn op_rename(
        &self,
        from_dir: Ino,
        from: &[u8],
        to_dir: Ino,
        to: &[u8],
    ) -> FsResult<()> {
        self.check_writable()?;
        Self::check_name(to)?;
        let src = self.lookup(from_dir, from)?.ok_or(Errno::NotFound)?;
        let mut src_inode = self.read_raw_inode(Self::ino32(src)?)?;
        let src_is_dir = src_inode.mode() & S_IFMT == S_IFDIR;
        Self::check_deletable(&self.dir_for_change(from_dir)?, &src_inode)?;
        self.dir_for_change(to_dir)?;
        if src_is_dir
            && from_dir != to_dir
            && self.is_ancestor(src_inode.ino, Self::ino32(to_dir)?)?
        {
            return Err(Errno::Invalid.into());
        }
        if src_is_dir && from_dir != to_dir {
            // Its `..` changes: an inline directory moves out to a block first.
            self.uninline(&mut src_inode)?;
        }
        let now = Timespec::now();
        if let Some(dst) = self.lookup(to_dir, to)? {
            if dst == src {
                return Ok(());
            }
            let dst_inode = self.read_raw_inode(Self::ino32(dst)?)?;
            let dst_is_dir = dst_inode.mode() & S_IFMT == S_IFDIR;
            match (src_is_dir, dst_is_dir) {
                (true, false) => return Err(Errno::NotDir.into()),
                (false, true) => return Err(Errno::IsDir.into()),
                (true, true) => self.op_rmdir(to_dir, to)?,
                (false, false) => self.op_unlink(to_dir, to)?,
            }
        }
        let mut from_parent = self.dir_for_change(from_dir)?;
        let stored = self.stored_name(from_dir, from)?;
        self.dir_remove(&mut from_parent, &stored)?;
        if from_dir == to_dir {
            self.dir_add(
                &mut from_parent,
                to,
                src_inode.ino,
                kind_of(src_inode.mode()),
            )?;
            self.touch_dir(&mut from_parent, now)?;
        } else {
            if src_is_dir {
                Self::dec_dir_links(&mut from_parent);
            }
            self.touch_dir(&mut from_parent, now)?;
            let mut to_parent = self.dir_for_change(to_dir)?;
            self.dir_add(&mut to_parent, to, src_inode.ino, kind_of(src_inode.mode()))?;
            if src_is_dir {
                self.inc_dir_links(&mut to_parent)?;
                self.dir_retarget(&src_inode, b"..", to_parent.ino, FileType::Directory)?;
            }
            self.touch_dir(&mut to_parent, now)?;
        }
        src_inode = self.read_raw_inode(src_inode.ino)?;
        src_inode.set_ctime(now);
        self.write_raw_inode(&mut src_inode)
    }

    fn file_for_change(&self, ino: Ino) -> FsResult<RawInode> {
        let inode = self.read_raw_inode(Self::ino32(ino)?)?;
        match inode.mode() & S_IFMT {
            S_IFREG => {}
            S_IFDIR => return Err(Errno::IsDir.into()),
            _ => return Err(Errno::Invalid.into()),
        }
        if inode.flags() & FLAG_ENCRYPT != 0 {
            return Err(Errno::NoKey.into());
        }
        let mut inode = inode;
        self.uninline(&mut inode)?;
        Ok(inode)
    }

    pub(super) fn op_write(&self, ino: Ino, offset: u64, data: &[u8]) -> FsResult<()> {
        self.check_writable()?;
        let mut inode = self.file_for_change(ino)?;
        // Append-only files take writes at their end only (as O_APPEND opens).
        if inode.flags() & FLAG_IMMUTABLE != 0
            || inode.flags() & FLAG_APPEND != 0 && offset < inode.size()
        {
            return Err(Errno::NotPermitted.into());
        }
        if data.is_empty() {
            return Ok(());
        }
        let bs = u64::from(self.sb.block_size);
        let end = offset
            .checked_add(data.len() as u64)
            .filter(|&e| e.div_ceil(bs) <= 1 << 32)
            .ok_or(Errno::TooBig)?;
        let first = offset / bs;
        let last = (end - 1) / bs;
        let mut map = self.load_extents(&inode)?;
        let mut fresh: Vec<(u64, u64)> = Vec::new(); // (lblk, count) of new or converted blocks
        let mut l = first;
        let mut changed = false;
        while l <= last {
            match map.find(l) {
                Some(r) if !r.uninit => l = r.logical + r.len,
                Some(r) => {
                    // Unwritten blocks in the range become written (zeros around the data).
                    let stop = (r.logical + r.len).min(last + 1);
                    map.set_init(l, stop - l);
                    fresh.push((l, stop - l));
                    changed = true;
                    l = stop;
                }
                None => {
                    let (pblk, n) = self.alloc_hole(&inode, &map, l, last)?;
                    map.insert(Run {
                        logical: l,
                        physical: pblk,
                        len: n,
                        uninit: false,
                    });
                    fresh.push((l, n));
                    changed = true;
                    l += n;
                }
            }
        }
        // Write the data: whole new blocks carry zeros around the data; partial writes to
        // existing blocks read the block first.
        let mut l = first;
        while l <= last {
            let r = map
                .find(l)
                .ok_or_else(|| FsError::corrupt("ext4 extent tree", "block vanished"))?;
            let run_end = (r.logical + r.len).min(last + 1);
            let pstart = r.physical + (l - r.logical);
            let lo = (l * bs).max(offset);
            let hi = (run_end * bs).min(end);
            let head = lo - l * bs;
            let tail = run_end * bs - hi;
            let is_fresh = |b: u64| fresh.iter().any(|&(s, n)| b >= s && b < s + n);
            let mut buf = vec![0u8; ((run_end - l) * bs) as usize];
            if head > 0 && !is_fresh(l) {
                self.device()
                    .read_at(&mut buf[..bs as usize], pstart * bs)?;
            }
            if tail > 0 && !is_fresh(run_end - 1) {
                let at = buf.len() - bs as usize;
                self.device()
                    .read_at(&mut buf[at..], (pstart + (run_end - 1 - l)) * bs)?;
            }
            let src = &data[(lo - offset) as usize..(hi - offset) as usize];
            buf[head as usize..head as usize + src.len()].copy_from_slice(src);
            self.txn().write_data(&buf, pstart * bs)?;
            l = run_end;
        }
        let now = Timespec::now();
        self.store_grown(&mut inode, &mut map, changed, first, end)?;
        inode.set_mtime(now);
        inode.set_ctime(now);
        self.write_raw_inode(&mut inode)
    }

    /// After blocks were added (`changed`) from logical block `first`: store the map and
    /// block count, and grow the size to `end`.
    fn store_grown(
        &self,
        inode: &mut RawInode,
        map: &mut ExtentMap,
        changed: bool,
        first: u64,
        end: u64,
    ) -> FsResult<()> {
        if changed {
            let goal = self.goal_for(inode, map, first);
            self.store_extents(inode, map, goal)?;
            self.set_block_count(inode, map)?;
        }
        if end > inode.size() {
            inode.set_size(end);
        }
        Ok(())
    }

    /// Blocks for the hole starting at logical block `l` (up to the next mapped block or
    /// `last`): (first physical block, count), near the data before it.
    fn alloc_hole(
        &self,
        inode: &RawInode,
        map: &ExtentMap,
        l: u64,
        last: u64,
    ) -> FsResult<(u64, u64)> {
        let next = map
            .runs
            .iter()
            .find(|r| r.logical > l)
            .map_or(last + 1, |r| r.logical.min(last + 1));
        let goal = self.goal_for(inode, map, l);
        self.alloc_blocks(goal, next - l)
    }

    /// Where to look for blocks for logical block `l` of an inode: right after the
    /// physical block of the logical block before it, else the inode's group.
    fn goal_for(&self, inode: &RawInode, map: &ExtentMap, l: u64) -> u64 {
        map.runs
            .iter()
            .rev()
            .find(|r| r.logical < l)
            .map(|r| r.physical + (l - r.logical).min(r.len))
            .unwrap_or_else(|| self.group_first_block((inode.ino - 1) / self.sb.inodes_per_group))
    }

    pub(super) fn op_truncate(&self, ino: Ino, size: u64) -> FsResult<()> {
        self.check_writable()?;
        let mut inode = self.file_for_change(ino)?;
        check_not_locked(&inode)?;
        let bs = u64::from(self.sb.block_size);
        if size.div_ceil(bs) > 1 << 32 {
            return Err(Errno::TooBig.into());
        }
        let now = Timespec::now();
        if size < inode.size() {
            let mut map = self.load_extents(&inode)?;
            let keep = size.div_ceil(bs);
            let freed = map.truncate(keep);
            for (start, len) in freed {
                self.free_blocks(start, len)?;
            }
            if size % bs != 0 {
                // Zero the tail of the new last block, as the kernel does.
                if let Some(r) = map.find(size / bs).filter(|r| !r.uninit) {
                    let p = r.physical + (size / bs - r.logical);
                    let mut block = vec![0u8; bs as usize];
                    self.device().read_at(&mut block, p * bs)?;
                    block[(size % bs) as usize..].fill(0);
                    self.txn().write_data(&block, p * bs)?;
                }
            }
            let goal = self.goal_for(&inode, &map, 0);
            self.store_extents(&mut inode, &mut map, goal)?;
            self.set_block_count(&mut inode, &map)?;
        }
        inode.set_size(size);
        inode.set_mtime(now);
        inode.set_ctime(now);
        self.write_raw_inode(&mut inode)
    }

    pub(super) fn op_set_attr(&self, ino: Ino, attr: &SetAttr) -> FsResult<()> {
        self.check_writable()?;
        let mut inode = self.read_raw_inode(Self::ino32(ino)?)?;
        let plain = attr.mode.is_some()
            || attr.uid.is_some()
            || attr.gid.is_some()
            || attr.atime.is_some()
            || attr.mtime.is_some();
        if plain {
            check_not_locked(&inode)?;
        }
        if attr.generation.is_some() && self.metadata_csum() {
            // The kernel refuses EXT4_IOC_SETVERSION when metadata_csum is on.
            return Err(Errno::NotTty.into());
        }
        if let Some(mode) = attr.mode {
            inode.set_mode((inode.mode() & S_IFMT) | (mode as u16 & 0o7777));
        }
        if attr.uid.is_some() || attr.gid.is_some() {
            let cur = self.inode(inode.ino)?;
            inode.set_owner(attr.uid.unwrap_or(cur.uid), attr.gid.unwrap_or(cur.gid));
        }
        if let Some(t) = attr.atime {
            inode.set_atime(t);
        }
        if let Some(t) = attr.mtime {
            inode.set_mtime(t);
        }
        if let Some(flags) = attr.flags {
            inode.set_flags(self.chattr_flags(&inode, flags)?);
        }
        if let Some(g) = attr.generation {
            inode.set_generation(g);
        }
        inode.set_ctime(Timespec::now());
        self.write_raw_inode(&mut inode)
    }

    /// The flags FS_IOC_SETFLAGS would leave: only user-modifiable flags change (and of
    /// those only the ones the file type may carry); extents stay on, and rfish does not
    /// migrate a block-mapped file to extents.
    fn chattr_flags(&self, inode: &RawInode, wanted: u32) -> FsResult<u32> {
        let old = inode.flags();
        let type_mask = match inode.mode() & S_IFMT {
            S_IFDIR => !0,
            // DIRSYNC, TOPDIR, CASEFOLD, PROJINHERIT belong to directories.
            S_IFREG => !(0x10000 | 0x20000 | 0x4000_0000 | 0x2000_0000),
            // NODUMP, NOATIME, PROJINHERIT.
            _ => 0x40 | 0x80 | 0x2000_0000,
        };
        let modifiable = USER_MODIFIABLE_FLAGS & type_mask;
        let new = (wanted & modifiable) | (old & !modifiable);
        // Clearing extents is ignored (chattr -e leaves the file as it is).
        if old & FLAG_EXTENTS == 0 && wanted & FLAG_EXTENTS != 0 {
            return Err(unsupported("converting a block-mapped file to extents"));
        }
        Ok(new)
    }

    /// posix_fallocate: blocks for the holes of `[offset, offset + len)` — unwritten
    /// extents where the filesystem has extents, zeroed blocks in a block map — and the
    /// size grown to cover the range.
    pub(super) fn op_allocate(&self, ino: Ino, offset: u64, len: u64) -> FsResult<()> {
        self.check_writable()?;
        let mut inode = self.file_for_change(ino)?;
        check_not_locked(&inode)?;
        let end = offset.checked_add(len).ok_or(Errno::TooBig)?;
        if len == 0 {
            return Err(Errno::Invalid.into());
        }
        let bs = u64::from(self.sb.block_size);
        if end.div_ceil(bs) > 1 << 32 {
            return Err(Errno::TooBig.into());
        }
        let extents = inode.flags() & FLAG_EXTENTS != 0;
        let mut map = self.load_extents(&inode)?;
        let (first, last) = (offset / bs, (end - 1) / bs);
        let mut l = first;
        let mut changed = false;
        while l <= last {
            if let Some(r) = map.find(l) {
                l = r.logical + r.len;
                continue;
            }
            let (pblk, n) = self.alloc_hole(&inode, &map, l, last)?;
            if !extents {
                // A block map cannot say "unwritten": the blocks are zeroed.
                self.txn().zero_data(pblk * bs, n * bs)?;
            }
            map.insert(Run {
                logical: l,
                physical: pblk,
                len: n,
                uninit: extents,
            });
            changed = true;
            l += n;
        }
        self.store_grown(&mut inode, &mut map, changed, first, end)?;
        inode.set_ctime(Timespec::now());
        self.write_raw_inode(&mut inode)
    }

    /// Zero every free block of the filesystem (holes or zero clusters where the image
    /// format allows, so the image also shrinks when it is converted).
    pub(super) fn op_zero_free_space(&self) -> FsResult<()> {
        self.check_writable()?;
        let bs = u64::from(self.sb.block_size);
        for g in 0..self.sb.group_count {
            for (start, len) in self.free_runs(g)? {
                self.txn().zero_data(start * bs, len * bs)?;
            }
        }
        Ok(())
    }

    pub(super) fn op_set_xattr(&self, ino: Ino, name: &[u8], value: Option<&[u8]>) -> FsResult<()> {
        self.check_writable()?;
        let mut inode = self.read_raw_inode(Self::ino32(ino)?)?;
        if inode.flags() & FLAG_ENCRYPT != 0 {
            return Err(Errno::NoKey.into());
        }
        check_not_locked(&inode)?;
        if name == b"system.posix_acl_access" || name == b"system.posix_acl_default" {
            self.set_acl(&mut inode, name, value)?;
        } else {
            self.xattr_change(&mut inode, name, value)?;
        }
        inode.set_ctime(Timespec::now());
        self.write_raw_inode(&mut inode)
    }

    /// setxattr of a POSIX ACL as the kernel does it: the xattr format is checked and
    /// stored in ext4's compact form; an access ACL also sets the permission bits, and one
    /// the bits alone express is not stored at all; default ACLs belong to directories.
    fn set_acl(&self, inode: &mut RawInode, name: &[u8], value: Option<&[u8]>) -> FsResult<()> {
        use super::xattr::{
            ACL_GROUP_OBJ, ACL_MASK, ACL_OTHER, ACL_USER_OBJ, acl_entries, acl_to_disk,
        };
        let access = name == b"system.posix_acl_access";
        let entries = match value {
            Some(v) => acl_entries(v)?,
            None => Vec::new(),
        };
        let is_dir = inode.mode() & S_IFMT == S_IFDIR;
        if !access && !is_dir {
            return if entries.is_empty() {
                Ok(())
            } else {
                Err(Errno::Access.into())
            };
        }
        let remove = |fs: &Self, inode: &mut RawInode| match fs.xattr_change(inode, name, None) {
            Err(e) if e.errno() == Some(Errno::NoData) && value.is_some() => Ok(()),
            other => other,
        };
        if entries.is_empty() {
            return remove(self, inode);
        }
        if !access {
            return self.xattr_change(inode, name, Some(&acl_to_disk(&entries)));
        }
        let perm = |tag: u16| entries.iter().find(|e| e.0 == tag).map(|e| e.1);
        let group = perm(ACL_MASK).or(perm(ACL_GROUP_OBJ)).unwrap_or(0);
        let bits =
            (perm(ACL_USER_OBJ).unwrap_or(0) << 6) | (group << 3) | perm(ACL_OTHER).unwrap_or(0);
        inode.set_mode((inode.mode() & !0o777) | bits);
        if entries.len() == 3 {
            // Equivalent to the mode: the kernel keeps no ACL.
            remove(self, inode)
        } else {
            self.xattr_change(inode, name, Some(&acl_to_disk(&entries)))
        }
    }

    /// Commit the running transaction (superblock counters first).
    pub(super) fn op_commit(&self) -> FsResult<()> {
        if !self.has_txn() {
            return Ok(());
        }
        if self.txn().pending_blocks() == 0 {
            return Ok(());
        }
        self.store_superblock_counts()?;
        let r = super::jwrite::commit(self);
        self.freed.lock().expect("freed").clear();
        if r.is_err() {
            self.reload_groups();
        }
        r
    }

    /// Forget the running transaction.
    pub(super) fn op_rollback(&self) {
        if !self.has_txn() {
            return;
        }
        self.txn().discard();
        self.freed.lock().expect("freed").clear();
        self.invalidate_all();
        self.reload_groups();
    }

    fn reload_groups(&self) {
        if let Ok(groups) = super::group_desc::read_all(self.device().as_ref(), &self.sb) {
            *self.groups.write().expect("groups") = groups;
        }
    }
}

impl ExtentMap {
    /// Mark `count` blocks from logical `from` written (splitting unwritten runs).
    pub fn set_init(&mut self, from: u64, count: u64) {
        let mut out = Vec::with_capacity(self.runs.len() + 2);
        for r in self.runs.drain(..) {
            let (s, e) = (r.logical, r.logical + r.len);
            let (a, b) = (from.max(s), (from + count).min(e));
            if !r.uninit || a >= b {
                out.push(r);
                continue;
            }
            if s < a {
                out.push(Run { len: a - s, ..r });
            }
            out.push(Run {
                logical: a,
                physical: r.physical + (a - s),
                len: b - a,
                uninit: false,
            });
            if b < e {
                out.push(Run {
                    logical: b,
                    physical: r.physical + (b - s),
                    len: e - b,
                    uninit: true,
                });
            }
        }
        self.runs = out;
        self.merge();
    }
}
