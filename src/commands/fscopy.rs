//! Copies inside the guest: cp (a file; a directory destination takes the source's name),
//! cp-r (recursively, links copied as links) and cp-a (recursively, keeping modes, owners,
//! times, extended attributes and hard links), as the daemon's `cp`, `cp -rP` and
//! `cp -a` do, with cp(1)'s messages.

use std::collections::HashMap;

use super::fswrite::{check_rw, parent_of, split_path, unlink};
use super::spec::{ArgKind, CommandSpec, RetType, arg, declared as cmd};
use super::{CmdError, Ctx, Value};
use crate::fs::vfs::Node;
use crate::fs::{Errno, FileType, FsError, NewNode, SetAttr, Stat};
use crate::session::Session;

const UMASK: u32 = 0o022;

#[derive(Clone, Copy)]
struct Mode {
    recursive: bool,
    archive: bool,
}

struct Copier<'a> {
    s: &'a Session,
    mode: Mode,
    /// cp -a: source (mount, inode) → the first copy's path, to keep hard links.
    links: HashMap<(usize, u64), String>,
}

fn type_bits(st: &Stat) -> u32 {
    st.mode & 0o170000
}

impl Copier<'_> {
    fn new_node(&self, st: &Stat) -> NewNode {
        if self.mode.archive {
            NewNode {
                mode: st.mode,
                uid: st.uid,
                gid: st.gid,
                rdev: st.rdev,
            }
        } else {
            NewNode {
                mode: type_bits(st) | (st.mode & 0o777 & !UMASK),
                uid: 0,
                gid: 0,
                rdev: st.rdev,
            }
        }
    }

    /// Copy node `src` (described by `st`) to the new path `dst`.
    fn copy(&mut self, src: &Node, st: &Stat, dst: &str, depth: usize) -> Result<(), FsError> {
        let s = self.s;
        let sfs = s.vfs.fs(src);
        if self.mode.archive && st.nlink > 1 && st.file_type() != FileType::Directory {
            if let Some(first) = self.links.get(&(src.mount, src.ino)) {
                let target = s.vfs.resolve(first, false)?;
                let (parent, name) = parent_of(s, dst)?;
                check_rw(s, &parent)?;
                return s.vfs.fs(&parent).link(target.ino, parent.ino, &name);
            }
            self.links.insert((src.mount, src.ino), dst.to_string());
        }
        if let Ok(existing) = s.vfs.resolve(dst, false) {
            let est = s.vfs.fs(&existing).stat(existing.ino)?;
            match (st.file_type(), est.file_type()) {
                (FileType::Directory, FileType::Directory) => {}
                (_, FileType::Directory) => return Err(Errno::IsDir.into()),
                (FileType::Directory, _) => return Err(Errno::NotDir.into()),
                _ => unlink(s, dst)?,
            }
        }
        let (parent, name) = parent_of(s, dst)?;
        check_rw(s, &parent)?;
        let dfs = s.vfs.fs(&parent);
        let node = self.new_node(st);
        let ino = match st.file_type() {
            FileType::Regular => {
                let ino = match dfs.lookup(parent.ino, &name)? {
                    Some(i) => i,
                    None => dfs.create(parent.ino, &name, &node)?,
                };
                let mut buf = vec![0u8; (st.size.min(8 << 20) as usize).max(1)];
                let mut at = 0u64;
                while at < st.size {
                    let n = sfs.read(src.ino, at, &mut buf)?;
                    if n == 0 {
                        break;
                    }
                    dfs.write(ino, at, &buf[..n])?;
                    at += n as u64;
                }
                ino
            }
            FileType::Directory => {
                let ino = match dfs.lookup(parent.ino, &name)? {
                    Some(i) => i,
                    None => dfs.mkdir(parent.ino, &name, &node)?,
                };
                if depth > crate::fs::vfs::MAX_WALK_DEPTH {
                    return Err(Errno::Loop.into());
                }
                for e in sfs.read_dir(src.ino)? {
                    let child = s.vfs.child(src, &e.name, e.ino)?;
                    let cst = s.vfs.fs(&child).stat(child.ino)?;
                    let cdst = format!(
                        "{}/{}",
                        dst.trim_end_matches('/'),
                        String::from_utf8_lossy(&e.name)
                    );
                    self.copy(&child, &cst, &cdst, depth + 1)?;
                }
                ino
            }
            FileType::Symlink => {
                let target = sfs.read_link(src.ino)?;
                dfs.symlink(parent.ino, &name, &target, &node)?
            }
            _ => dfs.create(parent.ino, &name, &node)?,
        };
        if self.mode.archive {
            for (k, v) in sfs.xattrs(src.ino)? {
                if k.starts_with(b"system.posix_acl") {
                    continue;
                }
                dfs.set_xattr(ino, &k, Some(&v))?;
            }
            let attr = SetAttr {
                mode: (st.file_type() != FileType::Symlink).then_some(st.mode & 0o7777),
                uid: Some(st.uid),
                gid: Some(st.gid),
                atime: Some(st.atime),
                mtime: Some(st.mtime),
                ..SetAttr::default()
            };
            dfs.set_attr(ino, &attr)?;
        }
        dfs.checkpoint()
    }
}

fn cp(ctx: &mut Ctx<'_>, func: &str, src: &str, dest: &str, mode: Mode) -> Result<Value, CmdError> {
    super::fsread::need_root(ctx.session, func)?;
    let s = &*ctx.session;
    let cp_err = |msg: String| CmdError::api(func, format!("cp: {msg}"));
    let follow = !mode.recursive && !mode.archive;
    let node = s
        .vfs
        .resolve(src, follow)
        .map_err(|e| cp_err(format!("cannot stat '/sysroot{src}': {e}")))?;
    let st = s
        .vfs
        .fs(&node)
        .stat(node.ino)
        .map_err(|e| cp_err(format!("cannot stat '/sysroot{src}': {e}")))?;
    if st.file_type() == FileType::Directory && !mode.recursive {
        return Err(cp_err(format!(
            "-r not specified; omitting directory '/sysroot{src}'"
        )));
    }
    // A directory destination takes the source's name.
    let into_dir = s
        .vfs
        .resolve(dest, true)
        .ok()
        .and_then(|n| s.vfs.fs(&n).stat(n.ino).ok())
        .is_some_and(|d| d.file_type() == FileType::Directory);
    let target = if into_dir {
        let (_, name) = split_path(src);
        format!(
            "{}/{}",
            dest.trim_end_matches('/'),
            String::from_utf8_lossy(&name)
        )
    } else {
        dest.to_string()
    };
    let mut c = Copier {
        s,
        mode,
        links: HashMap::new(),
    };
    c.copy(&node, &st, &target, 0).map_err(|e| {
        cp_err(format!(
            "cannot create regular file '/sysroot{target}': {e}"
        ))
    })?;
    Ok(Value::Unit)
}

/// `cp`.
pub static CP: CommandSpec = cmd(
    "cp",
    &[arg("src", ArgKind::Path), arg("dest", ArgKind::Path)],
    RetType::Err,
    "copy a file",
    "Copy the file SRC to DEST (into DEST when it is a directory); the copy gets mode \
     0644-style permissions (umask 022) and root as owner, as plain cp run by root does.",
    &["cp /etc/hostname /etc/hostname.orig"],
    |ctx, args| {
        cp(
            ctx,
            "cp",
            &args.text(0),
            &args.text(1),
            Mode {
                recursive: false,
                archive: false,
            },
        )
    },
);

/// `cp-r`.
pub static CP_R: CommandSpec = cmd(
    "cp-r",
    &[arg("src", ArgKind::Path), arg("dest", ArgKind::Path)],
    RetType::Err,
    "copy a file or directory recursively",
    "Copy SRC and everything below it to DEST; symbolic links are copied as links.",
    &["cp-r /etc /etc.copy"],
    |ctx, args| {
        cp(
            ctx,
            "cp_r",
            &args.text(0),
            &args.text(1),
            Mode {
                recursive: true,
                archive: false,
            },
        )
    },
);

/// `cp-a`.
pub static CP_A: CommandSpec = cmd(
    "cp-a",
    &[arg("src", ArgKind::Path), arg("dest", ArgKind::Path)],
    RetType::Err,
    "copy a file or directory recursively",
    "Copy SRC and everything below it to DEST keeping modes, owners, times, extended \
     attributes, symbolic links and hard links (cp -a).",
    &["cp-a /etc /etc.orig"],
    |ctx, args| {
        cp(
            ctx,
            "cp_a",
            &args.text(0),
            &args.text(1),
            Mode {
                recursive: true,
                archive: true,
            },
        )
    },
);

/// `sync`.
pub static SYNC: CommandSpec = cmd(
    "sync",
    &[],
    RetType::Err,
    "sync disks, writes are flushed through to the disk image",
    "Make every change durable. rfish commits each command's changes (through the \
     filesystem's journal) and flushes the image when the command ends, so for native \
     filesystems this only flushes the drives once more; filesystems mounted in the \
     appliance are synced there first (their changes otherwise reach the image at \
     umount or exit).",
    &["sync"],
    |ctx, _args| {
        ctx.session
            .vfs
            .commit_all()
            .map_err(|e| CmdError::api("sync", e.to_string()))?;
        for m in ctx.session.vfs.mounts() {
            if !m.read_only {
                m.fs.sync()
                    .map_err(|e| CmdError::api("sync", e.to_string()))?;
            }
        }
        for d in &ctx.session.open_drives {
            d.dev
                .flush()
                .map_err(|e| CmdError::api("sync", format!("{}: {e}", d.name)))?;
        }
        Ok(Value::Unit)
    },
);
