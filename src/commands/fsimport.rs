//! Bringing host files into the guest: tar-in (unpack an archive into a guest directory,
//! as the appliance's `tar -xf` run by root does: owners, permissions and times kept,
//! existing files replaced, directories' attributes set after their contents, extended
//! attributes on request) and copy-in (host files and trees, the same way). Large imports
//! are committed in several journal transactions, each one a consistent filesystem.

use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};

use std::collections::HashMap;

use super::fswrite::{check_rw, mkdir_p, parent_of, unlink};
use super::spec::{ArgKind, Arity, CommandSpec, RetType, arg};
use super::untar::{Kind, Member, TarReader};
use super::{Args, CmdError, Ctx, Value};
use crate::fs::{FileType, FsError, NewNode, SetAttr, Timespec};
use crate::session::Session;

const S_IFREG: u32 = 0o100000;
const S_IFCHR: u32 = 0o020000;
const S_IFBLK: u32 = 0o060000;
const S_IFIFO: u32 = 0o010000;

/// Which extended attributes to restore.
#[derive(Debug, Clone, Copy, Default)]
struct XattrPolicy {
    xattrs: bool,
    selinux: bool,
    acls: bool,
}

impl XattrPolicy {
    fn wants(&self, name: &[u8]) -> bool {
        if name.starts_with(b"security.selinux") {
            self.selinux || self.xattrs
        } else if name.starts_with(b"system.") {
            false
        } else {
            self.xattrs
        }
    }
}

/// Writes members under one guest directory.
struct Extractor<'a> {
    s: &'a Session,
    base: String,
    policy: XattrPolicy,
    /// The guest's user and group names (read when the first named ACL entry needs them).
    ids: Option<(HashMap<String, u32>, HashMap<String, u32>)>,
    /// Directories whose attributes are set at the end (deepest last).
    dirs: Vec<(String, Member)>,
    /// File data on its way in.
    buf: Vec<u8>,
}

/// A member path made relative and safe: leading `/` and `./` dropped, `..` refused.
fn clean(path: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(path);
    let parts: Vec<&str> = text
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    if parts.contains(&"..") {
        return None;
    }
    Some(parts.join("/"))
}

fn owner(m: &Member) -> u32 {
    if m.uname == b"root" { 0 } else { m.uid }
}

impl Extractor<'_> {
    fn guest_path(&self, rel: &str) -> String {
        let base = self.base.trim_end_matches('/');
        if rel.is_empty() {
            self.base.clone()
        } else {
            format!("{base}/{rel}")
        }
    }

    /// Create or replace one member; `data` yields a file's content.
    fn put(
        &mut self,
        m: &Member,
        data: &mut dyn FnMut(&mut [u8]) -> std::io::Result<usize>,
    ) -> Result<(), String> {
        let Some(rel) = clean(&m.path) else {
            return Ok(()); // GNU tar skips members whose names climb out
        };
        let path = self.guest_path(&rel);
        let s = self.s;
        let fail = |e: FsError| format!("{path}: {e}");
        if !rel.is_empty() {
            let (parent, _) = super::fswrite::split_path(&path);
            if s.vfs.resolve(&parent, true).is_err() {
                mkdir_p(s, &parent, 0).map_err(|e| match e {
                    Some(e) => format!("{parent}: {e}"),
                    None => format!("{parent}: a path element was not a directory"),
                })?;
            }
        }
        let existing = s.vfs.resolve(&path, false).ok();
        let existing_kind = existing
            .as_ref()
            .and_then(|n| s.vfs.fs(n).stat(n.ino).ok())
            .map(|st| st.file_type());
        if let Kind::Dir = m.kind {
            if existing_kind != Some(FileType::Directory) {
                if existing.is_some() {
                    unlink(s, &path).map_err(fail)?;
                }
                let (parent, name) = parent_of(s, &path).map_err(fail)?;
                check_rw(s, &parent).map_err(fail)?;
                let node = NewNode {
                    mode: m.mode,
                    uid: owner(m),
                    gid: m.gid,
                    rdev: (0, 0),
                };
                s.vfs
                    .fs(&parent)
                    .mkdir(parent.ino, &name, &node)
                    .map_err(fail)?;
            }
            self.dirs.push((path, m.clone()));
            return Ok(());
        }
        if rel.is_empty() {
            return Ok(());
        }
        if let Some(k) = existing_kind {
            if k == FileType::Directory {
                return Err(format!("{path}: Cannot open: Is a directory"));
            }
            unlink(s, &path).map_err(fail)?;
        }
        let (parent, name) = parent_of(s, &path).map_err(fail)?;
        check_rw(s, &parent).map_err(fail)?;
        let fs = s.vfs.fs(&parent);
        let node = |kind: u32, rdev| NewNode {
            mode: kind | m.mode,
            uid: owner(m),
            gid: m.gid,
            rdev,
        };
        let ino = match &m.kind {
            Kind::File => {
                let ino = fs
                    .create(parent.ino, &name, &node(S_IFREG, (0, 0)))
                    .map_err(fail)?;
                // One buffer for the whole import, as large as the biggest file needs.
                let want = (m.size.min(4 << 20) as usize).max(1);
                if self.buf.len() < want {
                    self.buf.resize(want, 0);
                }
                let buf = &mut self.buf[..want];
                let mut at = 0u64;
                loop {
                    let mut filled = 0;
                    while filled < buf.len() {
                        let n = data(&mut buf[filled..]).map_err(|e| format!("{path}: {e}"))?;
                        if n == 0 {
                            break;
                        }
                        filled += n;
                    }
                    if filled == 0 {
                        break;
                    }
                    fs.write(ino, at, &buf[..filled]).map_err(fail)?;
                    at += filled as u64;
                }
                Some(ino)
            }
            Kind::Symlink(target) => {
                let ino = fs
                    .symlink(parent.ino, &name, target, &node(0o120000, (0, 0)))
                    .map_err(fail)?;
                fs.set_attr(
                    ino,
                    &SetAttr {
                        uid: Some(owner(m)),
                        gid: Some(m.gid),
                        ..SetAttr::default()
                    },
                )
                .map_err(fail)?;
                Some(ino)
            }
            Kind::HardLink(target) => {
                let Some(trel) = clean(target) else {
                    return Ok(());
                };
                let tpath = self.guest_path(&trel);
                let t = s
                    .vfs
                    .resolve(&tpath, false)
                    .map_err(|e| format!("{path}: Cannot hard link to '{trel}': {e}"))?;
                fs.link(t.ino, parent.ino, &name).map_err(fail)?;
                None
            }
            Kind::CharDev(a, b) => Some(
                fs.create(parent.ino, &name, &node(S_IFCHR, (*a, *b)))
                    .map_err(fail)?,
            ),
            Kind::BlockDev(a, b) => Some(
                fs.create(parent.ino, &name, &node(S_IFBLK, (*a, *b)))
                    .map_err(fail)?,
            ),
            Kind::Fifo => Some(
                fs.create(parent.ino, &name, &node(S_IFIFO, (0, 0)))
                    .map_err(fail)?,
            ),
            Kind::Dir => unreachable!("handled above"),
        };
        if let Some(ino) = ino {
            self.finish(fs, ino, m).map_err(fail)?;
        }
        // Keep transactions within the journal on big imports.
        fs.checkpoint().map_err(fail)?;
        Ok(())
    }

    /// Extended attributes and times of a new inode.
    fn finish(
        &mut self,
        fs: &dyn crate::fs::Filesystem,
        ino: u64,
        m: &Member,
    ) -> Result<(), FsError> {
        for (k, v) in &m.xattrs {
            if self.policy.wants(k) {
                fs.set_xattr(ino, k, Some(v))?;
            }
        }
        if self.policy.acls {
            for (name, text) in &m.acls {
                let (users, groups) = self.ids.get_or_insert_with(|| {
                    let read =
                        |p: &str| super::fsread::read_all(self.s, "tar_in", p).unwrap_or_default();
                    (
                        super::acltext::id_map(&read("/etc/passwd")),
                        super::acltext::id_map(&read("/etc/group")),
                    )
                });
                // As tar does, an ACL that cannot be expressed here is skipped.
                if let Ok(value) = super::acltext::to_xattr(text, users, groups) {
                    fs.set_xattr(ino, name, Some(&value))?;
                }
            }
        }
        let t = Timespec {
            sec: m.mtime.0,
            nsec: m.mtime.1,
        };
        fs.set_attr(
            ino,
            &SetAttr {
                atime: Some(t),
                mtime: Some(t),
                ..SetAttr::default()
            },
        )
    }

    /// Set the directories' owners, modes, attributes and times, deepest first.
    fn close(mut self) -> Result<(), String> {
        self.dirs
            .sort_by_key(|(p, _)| std::cmp::Reverse(p.matches('/').count()));
        for (path, m) in std::mem::take(&mut self.dirs) {
            let node = self
                .s
                .vfs
                .resolve(&path, false)
                .map_err(|e| format!("{path}: {e}"))?;
            let fs = self.s.vfs.fs(&node);
            let attr = SetAttr {
                mode: Some(m.mode),
                uid: Some(owner(&m)),
                gid: Some(m.gid),
                ..SetAttr::default()
            };
            fs.set_attr(node.ino, &attr)
                .map_err(|e| format!("{path}: {e}"))?;
            self.finish(fs, node.ino, &m)
                .map_err(|e| format!("{path}: {e}"))?;
        }
        Ok(())
    }
}

/// Open the tarball, decompressing as `compress` says.
fn open_tarball(
    func: &str,
    local: &str,
    compress: Option<&str>,
) -> Result<Box<dyn Read>, CmdError> {
    let file = std::fs::File::open(local)
        .map_err(|e| CmdError::api(func, format!("{local}: {}", crate::os_error_text(&e))))?;
    let tool: &[&str] = match compress {
        None | Some("") => return Ok(Box::new(std::io::BufReader::new(file))),
        Some("gzip") => {
            return Ok(Box::new(flate2::read::MultiGzDecoder::new(
                std::io::BufReader::new(file),
            )));
        }
        Some("zstd") => {
            let d = ruzstd::decoding::StreamingDecoder::new(std::io::BufReader::new(file))
                .map_err(|e| CmdError::api(func, format!("{local}: zstd: {e}")))?;
            return Ok(Box::new(d));
        }
        Some(kind) => super::fsarchive::host_tool(func, kind, true)?,
    };
    let child = std::process::Command::new(tool[0])
        .args(&tool[1..])
        .stdin(file)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| {
            CmdError::api(
                func,
                format!(
                    "{}: {} (install it to use this compression)",
                    tool[0],
                    crate::os_error_text(&e)
                ),
            )
        })?;
    Ok(Box::new(child.stdout.expect("piped stdout")))
}

fn tar_in(ctx: &mut Ctx<'_>, args: &Args) -> Result<Value, CmdError> {
    let func = "tar_in";
    super::fsread::need_root(ctx.session, func)?;
    let (local, dir) = (args.text(0), args.text(1));
    let s = &*ctx.session;
    let node = s
        .vfs
        .resolve(&dir, true)
        .map_err(|e| super::fsread::path_error(func, "", &dir, &e))?;
    if s.vfs.fs(&node).stat(node.ino).map(|st| st.file_type()).ok() != Some(FileType::Directory) {
        return Err(CmdError::api(func, format!("{dir}: Not a directory")));
    }
    let input = open_tarball(func, &local, args.opt_text("compress").as_deref())?;
    let policy = XattrPolicy {
        xattrs: args.opt_bool("xattrs").unwrap_or(false),
        selinux: args.opt_bool("selinux").unwrap_or(false),
        acls: args.opt_bool("acls").unwrap_or(false),
    };
    let mut ex = Extractor {
        s,
        base: node.path.clone(),
        policy,
        ids: None,
        dirs: Vec::new(),
        buf: Vec::new(),
    };
    let mut tar = TarReader::new(input);
    let fail = |e: String| CmdError::api(func, format!("tar subcommand failed: {e}"));
    loop {
        let member = tar.next_member().map_err(|e| fail(e.to_string()))?;
        let Some(m) = member else { break };
        let mut data = |buf: &mut [u8]| tar.read_data(buf);
        ex.put(&m, &mut data).map_err(fail)?;
    }
    ex.close().map_err(fail)?;
    Ok(Value::Unit)
}

/// `tar-in`.
pub static TAR_IN: CommandSpec = CommandSpec {
    name: "tar-in",
    aliases: &["tar-in-opts"],
    args: &[
        arg("tarfile", ArgKind::FileIn),
        arg("directory", ArgKind::String),
    ],
    optargs: &[
        arg("compress", ArgKind::String),
        arg("xattrs", ArgKind::Bool),
        arg("selinux", ArgKind::Bool),
        arg("acls", ArgKind::Bool),
    ],
    arity: Arity::Declared,
    free_synopsis: "",
    ret: RetType::Err,
    shortdesc: "unpack tarfile to directory",
    longdesc: "Unpack a tar archive (ustar, GNU or PAX) from a host file (- for standard input) \
               into a guest directory, as root's tar does: owners, permissions and times \
               kept, existing files replaced. compress: gzip or zstd (native), or xz, bzip2, \
               lzop, lzma, compress through the host's tool. xattrs:true restores extended \
               attributes, selinux:true the SELinux labels.",
    examples: &["tar-in etc.tar /"],
    handler: tar_in,
};

/// A member describing host file `path`.
fn host_member(path: &std::path::Path, name: &[u8]) -> std::io::Result<Option<Member>> {
    let md = std::fs::symlink_metadata(path)?;
    let ft = md.file_type();
    let kind = if ft.is_dir() {
        Kind::Dir
    } else if ft.is_symlink() {
        Kind::Symlink(std::fs::read_link(path)?.as_os_str().as_bytes().to_vec())
    } else if ft.is_file() {
        Kind::File
    } else if ft.is_fifo() {
        Kind::Fifo
    } else if ft.is_char_device() || ft.is_block_device() {
        let rdev = md.rdev();
        let (major, minor) = (
            ((rdev >> 8) & 0xfff) as u32,
            ((rdev & 0xff) | ((rdev >> 12) & 0xfff00)) as u32,
        );
        if ft.is_char_device() {
            Kind::CharDev(major, minor)
        } else {
            Kind::BlockDev(major, minor)
        }
    } else {
        return Ok(None); // sockets are not copied
    };
    Ok(Some(Member {
        path: name.to_vec(),
        kind,
        mode: md.mode() & 0o7777,
        uid: md.uid(),
        gid: md.gid(),
        uname: Vec::new(),
        mtime: (md.mtime(), md.mtime_nsec() as u32),
        size: md.len(),
        xattrs: Vec::new(),
        acls: Vec::new(),
    }))
}

/// Copy host `path` (as `name` under the extractor's base), recursively.
fn copy_host(
    ex: &mut Extractor<'_>,
    path: &std::path::Path,
    name: &[u8],
    depth: usize,
) -> Result<(), String> {
    let show = |e: std::io::Error| format!("{}: {}", path.display(), crate::os_error_text(&e));
    let Some(m) = host_member(path, name).map_err(show)? else {
        return Ok(());
    };
    if let Kind::File = m.kind {
        let mut f = std::fs::File::open(path).map_err(show)?;
        let mut data = |buf: &mut [u8]| f.read(buf);
        return ex.put(&m, &mut data);
    }
    let mut nothing = |_: &mut [u8]| Ok(0);
    ex.put(&m, &mut nothing)?;
    if let Kind::Dir = m.kind {
        if depth > crate::fs::vfs::MAX_WALK_DEPTH {
            return Err(format!("{}: too deep", path.display()));
        }
        let mut children: Vec<_> = std::fs::read_dir(path)
            .map_err(show)?
            .collect::<Result<_, _>>()
            .map_err(show)?;
        children.sort_by_key(|e| e.file_name());
        for c in children {
            let mut child_name = name.to_vec();
            child_name.push(b'/');
            child_name.extend_from_slice(c.file_name().as_bytes());
            copy_host(ex, &c.path(), &child_name, depth + 1)?;
        }
    }
    Ok(())
}

/// `copy-in`.
pub static COPY_IN: CommandSpec = CommandSpec {
    name: "copy-in",
    aliases: &[],
    args: &[],
    optargs: &[],
    arity: Arity::Free,
    free_synopsis: "local [local ...] /remotedir",
    ret: RetType::Err,
    shortdesc: "copy local files or directories into an image",
    longdesc: "Copy host files or directories (recursively) into an existing guest directory, \
               keeping modes, owners and times; symbolic links are copied as links, sockets \
               skipped.",
    examples: &["copy-in /etc/hostname /etc"],
    handler: |ctx, args| {
        let words = args.words();
        if words.len() < 2 {
            return Err(CmdError::Fish(
                "use 'copy-in local [local ...] /remotedir' to copy files into the image\n".into(),
            ));
        }
        let (locals, remote) = words.split_at(words.len() - 1);
        let remote = String::from_utf8_lossy(remote[0]).into_owned();
        super::fsread::need_root(ctx.session, "copy_in")?;
        let s = &*ctx.session;
        let is_dir = s
            .vfs
            .resolve(&remote, true)
            .ok()
            .and_then(|n| s.vfs.fs(&n).stat(n.ino).ok())
            .is_some_and(|st| st.file_type() == FileType::Directory);
        if !is_dir {
            return Err(CmdError::Fish(format!(
                "copy-in: target '{remote}' is not a directory\n"
            )));
        }
        let node = s
            .vfs
            .resolve(&remote, true)
            .map_err(|e| super::fsread::path_error("copy_in", "", &remote, &e))?;
        let mut ex = Extractor {
            s,
            base: node.path.clone(),
            policy: XattrPolicy::default(),
            ids: None,
            dirs: Vec::new(),
            buf: Vec::new(),
        };
        for l in locals {
            let local = std::path::PathBuf::from(std::ffi::OsStr::from_bytes(l));
            if std::fs::symlink_metadata(&local).is_err() {
                return Err(CmdError::Fish(format!(
                    "copy-in: {}: No such file or directory\n",
                    local.display()
                )));
            }
            let name = local
                .file_name()
                .map(|n| n.as_bytes().to_vec())
                .unwrap_or_else(|| b".".to_vec());
            copy_host(&mut ex, &local, &name, 0)
                .map_err(|e| CmdError::api("tar_in", format!("tar subcommand failed: {e}")))?;
        }
        ex.close()
            .map_err(|e| CmdError::api("tar_in", format!("tar subcommand failed: {e}")))?;
        Ok(Value::Unit)
    },
};
