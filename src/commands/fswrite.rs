//! File-changing commands on mounted filesystems: write, write-append, touch, mkdir,
//! mkdir-mode, mkdir-p, rm, rm-f, rm-rf, rmdir, chmod, chown, lchown, ln, ln-f, ln-s,
//! ln-sf, mv, rename, truncate, truncate-size, utimens, mkfifo, mknod, mknod-b, mknod-c.
//! Each does what guestfish's daemon does with the same system calls (umask 022, owner
//! root) and reports errors in its words; each command is one transaction (committed by
//! the dispatcher when it succeeds).

use super::fsread::{need_root, path_error};
use super::spec::{ArgKind, ArgSpec, CommandSpec, RetType, arg, declared as cmd};
use super::{Args, CmdError, Ctx, Value};
use crate::fs::vfs::Node;
use crate::fs::{Errno, FileType, FsError, NewNode, SetAttr, Timespec};
use crate::session::Session;

/// The daemon's umask.
const UMASK: u32 = 0o022;
const S_IFREG: u32 = 0o100000;
const S_IFCHR: u32 = 0o020000;
const S_IFBLK: u32 = 0o060000;
const S_IFIFO: u32 = 0o010000;

static PATH: &[ArgSpec] = &[arg("path", ArgKind::Path)];

/// Split a guest path into its directory and last component (trailing slashes dropped).
pub(crate) fn split_path(path: &str) -> (String, Vec<u8>) {
    let trimmed = path.trim_end_matches('/');
    match trimmed.rfind('/') {
        Some(0) => ("/".into(), trimmed.as_bytes()[1..].to_vec()),
        Some(i) => (trimmed[..i].into(), trimmed.as_bytes()[i + 1..].to_vec()),
        None => ("/".into(), trimmed.as_bytes().to_vec()),
    }
}

/// The directory that holds `path`'s last component, checked writable, and the name.
pub(crate) fn parent_of(s: &Session, path: &str) -> Result<(Node, Vec<u8>), FsError> {
    let (dir, name) = split_path(path);
    let parent = s.vfs.resolve(&dir, true)?;
    if s.vfs.fs(&parent).stat(parent.ino)?.file_type() != FileType::Directory {
        return Err(Errno::NotDir.into());
    }
    Ok((parent, name))
}

pub(crate) fn check_rw(s: &Session, node: &Node) -> Result<(), FsError> {
    if s.vfs.mount_of(node).read_only || !s.vfs.fs(node).writable() {
        return Err(Errno::ReadOnly.into());
    }
    Ok(())
}

pub(crate) fn node_of(parent: &Node, name: &[u8], ino: u64) -> Node {
    let base = if parent.path == "/" {
        ""
    } else {
        parent.path.as_str()
    };
    Node {
        mount: parent.mount,
        ino,
        path: format!("{base}/{}", String::from_utf8_lossy(name)),
    }
}

pub(crate) fn new_node(mode: u32) -> NewNode {
    NewNode {
        mode,
        uid: 0,
        gid: 0,
        rdev: (0, 0),
    }
}

/// Open `path` for writing as open(O_WRONLY|O_CREAT[|O_TRUNC], 0666) does: the node of an
/// existing regular file (through symlinks), or a new empty one.
pub(crate) fn open_for_write(s: &Session, path: &str, truncate: bool) -> Result<Node, FsError> {
    match s.vfs.resolve(path, true) {
        Ok(node) => {
            let fs = s.vfs.fs(&node);
            match fs.stat(node.ino)?.file_type() {
                FileType::Directory => return Err(Errno::IsDir.into()),
                FileType::Regular => {}
                _ => return Err(Errno::Invalid.into()),
            }
            check_rw(s, &node)?;
            if truncate {
                fs.truncate(node.ino, 0)?;
            }
            Ok(node)
        }
        Err(e) if e.errno() == Some(Errno::NotFound) => {
            let (parent, name) = parent_of(s, path)?;
            check_rw(s, &parent)?;
            let fs = s.vfs.fs(&parent);
            let ino = fs.create(parent.ino, &name, &new_node(S_IFREG | (0o666 & !UMASK)))?;
            Ok(node_of(&parent, &name, ino))
        }
        Err(e) => Err(e),
    }
}

fn write_content(
    ctx: &mut Ctx<'_>,
    func: &str,
    args: &Args,
    append: bool,
) -> Result<Value, CmdError> {
    let s = &*ctx.session;
    need_root(s, func)?;
    let path = args.text(0);
    let data = args.bytes(1);
    let err = |e: FsError| path_error(func, "open", &path, &e);
    let node = open_for_write(s, &path, !append).map_err(err)?;
    let fs = s.vfs.fs(&node);
    let offset = if append {
        fs.stat(node.ino).map_err(err)?.size
    } else {
        0
    };
    fs.write(node.ino, offset, data)
        .map_err(|e| CmdError::api(func, format!("write: {e}")))?;
    Ok(Value::Unit)
}

/// `write`.
pub static WRITE: CommandSpec = cmd(
    "write",
    &[arg("path", ArgKind::Path), arg("content", ArgKind::String)],
    RetType::Err,
    "create a new file",
    "Write CONTENT to the file PATH, creating it (mode 0644) or replacing what it held.",
    &["write /etc/motd 'Welcome\\n'"],
    |ctx, args| write_content(ctx, "internal_write", args, false),
);

/// `write-append`.
pub static WRITE_APPEND: CommandSpec = cmd(
    "write-append",
    &[arg("path", ArgKind::Path), arg("content", ArgKind::String)],
    RetType::Err,
    "append content to end of file",
    "Append CONTENT to the end of PATH, creating it (mode 0644) when it does not exist.",
    &["write-append /etc/motd 'one more line\\n'"],
    |ctx, args| write_content(ctx, "internal_write_append", args, true),
);

/// `touch`.
pub static TOUCH: CommandSpec = cmd(
    "touch",
    PATH,
    RetType::Err,
    "update file timestamps or create a new file",
    "Create an empty regular file (mode 0644), or set an existing one's times to now. \
     Only regular files can be touched.",
    &["touch /forcefsck"],
    |ctx, args| {
        let s = &*ctx.session;
        need_root(s, "touch")?;
        let path = args.text(0);
        match s.vfs.resolve(&path, false) {
            Ok(node) => {
                let fs = s.vfs.fs(&node);
                let st = fs
                    .stat(node.ino)
                    .map_err(|e| path_error("touch", "lstat", &path, &e))?;
                if st.file_type() != FileType::Regular {
                    return Err(CmdError::api(
                        "touch",
                        format!("{path}: touch can only be used on a regular files"),
                    ));
                }
                check_rw(s, &node).map_err(|e| path_error("touch", "open", &path, &e))?;
                let now = Timespec::now();
                fs.set_attr(
                    node.ino,
                    &SetAttr {
                        atime: Some(now),
                        mtime: Some(now),
                        ..SetAttr::default()
                    },
                )
                .map_err(|e| path_error("touch", "futimens", &path, &e))?;
            }
            Err(e) if e.errno() == Some(Errno::NotFound) => {
                open_for_write(s, &path, false)
                    .map_err(|e| path_error("touch", "open", &path, &e))?;
            }
            Err(e) => return Err(path_error("touch", "lstat", &path, &e)),
        }
        Ok(Value::Unit)
    },
);

/// Create a directory with `mode` (umask applied).
pub(crate) fn make_dir(s: &Session, path: &str, mode: u32) -> Result<(), FsError> {
    let (parent, name) = parent_of(s, path)?;
    if name.is_empty() {
        return Err(Errno::Exists.into());
    }
    let fs = s.vfs.fs(&parent);
    if fs.lookup(parent.ino, &name)?.is_some() {
        return Err(Errno::Exists.into());
    }
    check_rw(s, &parent)?;
    fs.mkdir(parent.ino, &name, &new_node(mode & !UMASK & 0o7777))?;
    Ok(())
}

/// `mkdir`.
pub static MKDIR: CommandSpec = cmd(
    "mkdir",
    PATH,
    RetType::Err,
    "create a directory",
    "Create a directory (mode 0755). Its parent must exist.",
    &["mkdir /srv"],
    |ctx, args| {
        need_root(ctx.session, "mkdir")?;
        let path = args.text(0);
        make_dir(ctx.session, &path, 0o777).map_err(|e| path_error("mkdir", "", &path, &e))?;
        Ok(Value::Unit)
    },
);

/// `mkdir-mode`.
pub static MKDIR_MODE: CommandSpec = cmd(
    "mkdir-mode",
    &[arg("path", ArgKind::Path), arg("mode", ArgKind::Int)],
    RetType::Err,
    "create a directory with a particular mode",
    "Create a directory with MODE (the umask, 022, still applies).",
    &["mkdir-mode /private 0700"],
    |ctx, args| {
        need_root(ctx.session, "mkdir_mode")?;
        let path = args.text(0);
        let mode = args.int(1);
        if mode < 0 {
            return Err(CmdError::api(
                "mkdir_mode",
                format!("{path}: mode is negative"),
            ));
        }
        make_dir(ctx.session, &path, mode as u32)
            .map_err(|e| path_error("mkdir_mode", "", &path, &e))?;
        Ok(Value::Unit)
    },
);

/// mkdir -p as the daemon's recursive_mkdir: Ok, an error, or "not a directory".
pub(crate) fn mkdir_p(s: &Session, path: &str, depth: usize) -> Result<(), Option<FsError>> {
    match make_dir(s, path, 0o777) {
        Ok(()) => Ok(()),
        Err(e) if e.errno() == Some(Errno::Exists) => match s.vfs.resolve(path, false) {
            Ok(node) => {
                let st = s.vfs.fs(&node).stat(node.ino).map_err(Some)?;
                if st.file_type() == FileType::Directory {
                    Ok(())
                } else {
                    Err(None)
                }
            }
            Err(e) => Err(Some(e)),
        },
        Err(e) if e.errno() == Some(Errno::NotFound) && depth < 4096 => {
            let (dir, _) = split_path(path);
            if dir == path || path == "/" {
                return Err(Some(e));
            }
            mkdir_p(s, &dir, depth + 1)?;
            make_dir(s, path, 0o777).or_else(|e| {
                if e.errno() == Some(Errno::Exists) {
                    Ok(())
                } else {
                    Err(Some(e))
                }
            })
        }
        Err(e) => Err(Some(e)),
    }
}

/// `mkdir-p`.
pub static MKDIR_P: CommandSpec = cmd(
    "mkdir-p",
    PATH,
    RetType::Err,
    "create a directory and parents",
    "Create a directory and any missing parents (mode 0755); existing directories are fine.",
    &["mkdir-p /home/alice/.ssh"],
    |ctx, args| {
        need_root(ctx.session, "mkdir_p")?;
        let path = args.text(0);
        match mkdir_p(ctx.session, &path, 0) {
            Ok(()) => Ok(Value::Unit),
            Err(Some(e)) => Err(path_error("mkdir_p", "", &path, &e)),
            Err(None) => Err(CmdError::api(
                "mkdir_p",
                format!("{path}: a path element was not a directory"),
            )),
        }
    },
);

/// unlink(2) of `path`.
pub(crate) fn unlink(s: &Session, path: &str) -> Result<(), FsError> {
    let (parent, name) = parent_of(s, path)?;
    let fs = s.vfs.fs(&parent);
    let ino = fs.lookup(parent.ino, &name)?.ok_or(Errno::NotFound)?;
    if fs.stat(ino)?.file_type() == FileType::Directory {
        return Err(Errno::IsDir.into());
    }
    check_rw(s, &parent)?;
    fs.unlink(parent.ino, &name)
}

/// `rm`.
pub static RM: CommandSpec = cmd(
    "rm",
    PATH,
    RetType::Err,
    "remove a file",
    "Remove a file or symbolic link (not a directory: see rmdir, rm-rf).",
    &["rm /etc/example.conf"],
    |ctx, args| {
        need_root(ctx.session, "rm")?;
        let path = args.text(0);
        unlink(ctx.session, &path).map_err(|e| path_error("rm", "", &path, &e))?;
        Ok(Value::Unit)
    },
);

/// `rm-f`.
pub static RM_F: CommandSpec = cmd(
    "rm-f",
    PATH,
    RetType::Err,
    "remove a file ignoring errors",
    "Remove a file; a file that does not exist is not an error.",
    &["rm-f /var/lib/dbus/machine-id"],
    |ctx, args| {
        need_root(ctx.session, "rm_f")?;
        let path = args.text(0);
        match unlink(ctx.session, &path) {
            Err(e) if e.errno() != Some(Errno::NotFound) => Err(path_error("rm_f", "", &path, &e)),
            _ => Ok(Value::Unit),
        }
    },
);

/// rmdir(2) of `path`.
fn rmdir(s: &Session, path: &str) -> Result<(), FsError> {
    let (parent, name) = parent_of(s, path)?;
    if name.is_empty() {
        return Err(Errno::Busy.into());
    }
    let fs = s.vfs.fs(&parent);
    let ino = fs.lookup(parent.ino, &name)?.ok_or(Errno::NotFound)?;
    let child = node_of(&parent, &name, ino);
    if s.vfs.mount_at(&child.path).is_some() {
        return Err(Errno::Busy.into());
    }
    if fs.stat(ino)?.file_type() != FileType::Directory {
        return Err(Errno::NotDir.into());
    }
    check_rw(s, &parent)?;
    fs.rmdir(parent.ino, &name)
}

/// `rmdir`.
pub static RMDIR: CommandSpec = cmd(
    "rmdir",
    PATH,
    RetType::Err,
    "remove a directory",
    "Remove an empty directory.",
    &["rmdir /lost+found"],
    |ctx, args| {
        need_root(ctx.session, "rmdir")?;
        let path = args.text(0);
        rmdir(ctx.session, &path).map_err(|e| path_error("rmdir", "", &path, &e))?;
        Ok(Value::Unit)
    },
);

/// Remove `path` and everything below it (rm -rf: missing is fine).
fn remove_tree(s: &Session, path: &str, depth: usize) -> Result<(), FsError> {
    let node = match s.vfs.resolve(path, false) {
        Ok(n) => n,
        Err(e) if matches!(e.errno(), Some(Errno::NotFound | Errno::NotDir)) => return Ok(()),
        Err(e) => return Err(e),
    };
    let fs = s.vfs.fs(&node);
    if fs.stat(node.ino)?.file_type() != FileType::Directory {
        return unlink(s, path);
    }
    if depth > crate::fs::vfs::MAX_WALK_DEPTH {
        return Err(Errno::Loop.into());
    }
    for e in fs.read_dir(node.ino)? {
        let child = format!(
            "{}/{}",
            path.trim_end_matches('/'),
            String::from_utf8_lossy(&e.name)
        );
        remove_tree(s, &child, depth + 1)?;
    }
    rmdir(s, path)
}

/// `rm-rf`.
pub static RM_RF: CommandSpec = cmd(
    "rm-rf",
    PATH,
    RetType::Err,
    "remove a file or directory recursively",
    "Remove a file, or a directory and everything in it; nothing there is not an error.",
    &["rm-rf /var/cache/apt/archives"],
    |ctx, args| {
        need_root(ctx.session, "rm_rf")?;
        let path = args.text(0);
        if path == "/" {
            return Err(CmdError::api("rm_rf", "cannot remove root directory"));
        }
        remove_tree(ctx.session, &path, 0).map_err(|e| path_error("rm_rf", "", &path, &e))?;
        Ok(Value::Unit)
    },
);

fn set_attr(s: &Session, path: &str, follow: bool, attr: &SetAttr) -> Result<(), FsError> {
    let node = s.vfs.resolve(path, follow)?;
    check_rw(s, &node)?;
    s.vfs.fs(&node).set_attr(node.ino, attr)
}

/// `chmod`.
pub static CHMOD: CommandSpec = cmd(
    "chmod",
    &[arg("mode", ArgKind::Int), arg("path", ArgKind::Path)],
    RetType::Err,
    "change file mode",
    "Set the permission bits of PATH (following symlinks) to MODE; give it in octal \
     (0755), as the number is read like C reads it.",
    &["chmod 0600 /etc/passwd"],
    |ctx, args| {
        need_root(ctx.session, "chmod")?;
        let mode = args.int(0);
        let path = args.text(1);
        if mode < 0 {
            return Err(CmdError::api("chmod", format!("{path}: mode is negative")));
        }
        let attr = SetAttr {
            mode: Some(mode as u32),
            ..SetAttr::default()
        };
        set_attr(ctx.session, &path, true, &attr)
            .map_err(|e| CmdError::api("chmod", format!("{path}: 0{mode:o}: {e}")))?;
        Ok(Value::Unit)
    },
);

fn chown(ctx: &mut Ctx<'_>, args: &Args, func: &str, follow: bool) -> Result<Value, CmdError> {
    need_root(ctx.session, func)?;
    let (owner, group) = (args.int(0), args.int(1));
    let path = args.text(2);
    let attr = SetAttr {
        uid: (owner != -1).then_some(owner as u32),
        gid: (group != -1).then_some(group as u32),
        ..SetAttr::default()
    };
    set_attr(ctx.session, &path, follow, &attr)
        .map_err(|e| CmdError::api(func, format!("{path}: {owner}.{group}: {e}")))?;
    Ok(Value::Unit)
}

static CHOWN_ARGS: &[ArgSpec] = &[
    arg("owner", ArgKind::Int),
    arg("group", ArgKind::Int),
    arg("path", ArgKind::Path),
];

/// `chown`.
pub static CHOWN: CommandSpec = cmd(
    "chown",
    CHOWN_ARGS,
    RetType::Err,
    "change file owner and group",
    "Set the numeric owner and group of PATH (following symlinks); -1 keeps one.",
    &["chown 1000 1000 /etc/hostname"],
    |ctx, args| chown(ctx, args, "chown", true),
);

/// `lchown`.
pub static LCHOWN: CommandSpec = cmd(
    "lchown",
    CHOWN_ARGS,
    RetType::Err,
    "change file owner and group",
    "As chown, but a symbolic link itself is changed, not what it points to.",
    &["lchown 1000 1000 /etc/localtime"],
    |ctx, args| chown(ctx, args, "lchown", false),
);

/// Make `linkname` a symbolic link to `target`, or a hard link to it.
fn make_link(
    s: &Session,
    target: &str,
    linkname: &str,
    symbolic: bool,
    force: bool,
) -> Result<(), FsError> {
    let (parent, name) = parent_of(s, linkname)?;
    let fs = s.vfs.fs(&parent);
    if fs.lookup(parent.ino, &name)?.is_some() {
        if !force {
            return Err(Errno::Exists.into());
        }
        unlink(s, linkname)?;
    }
    check_rw(s, &parent)?;
    if symbolic {
        fs.symlink(parent.ino, &name, target.as_bytes(), &new_node(0o777))?;
        return Ok(());
    }
    let src = s.vfs.resolve(target, false)?;
    if src.mount != parent.mount {
        return Err(Errno::CrossDevice.into());
    }
    fs.link(src.ino, parent.ino, &name)
}

fn ln(
    ctx: &mut Ctx<'_>,
    args: &Args,
    func: &str,
    symbolic: bool,
    force: bool,
) -> Result<Value, CmdError> {
    need_root(ctx.session, func)?;
    let target = args.text(0);
    let linkname = args.text(1);
    make_link(ctx.session, &target, &linkname, symbolic, force).map_err(|e| {
        if !symbolic && !force {
            // The daemon calls link(2) itself.
            return CmdError::api(func, format!("link: {target}: {linkname}: {e}"));
        }
        // Otherwise it runs ln(1) and reports what ln printed.
        let flags = match (symbolic, force) {
            (true, true) => "-sf",
            (true, false) => "-s",
            _ => "-f",
        };
        let what = if symbolic { "symbolic link" } else { "hard link" };
        let shown = if symbolic {
            String::new()
        } else {
            format!(" => '/sysroot{target}'")
        };
        CmdError::api(
            func,
            format!(
                "ln {flags}: {target}: {linkname}: ln: failed to create {what} '/sysroot{linkname}'{shown}: {e}"
            ),
        )
    })?;
    Ok(Value::Unit)
}

static LN_ARGS: &[ArgSpec] = &[
    arg("target", ArgKind::String),
    arg("linkname", ArgKind::Path),
];

/// `ln`.
pub static LN: CommandSpec = cmd(
    "ln",
    LN_ARGS,
    RetType::Err,
    "create a hard link",
    "Make LINKNAME a hard link to TARGET (a file on the same filesystem).",
    &["ln /etc/hostname /etc/hostname.link"],
    |ctx, args| ln(ctx, args, "ln", false, false),
);

/// `ln-f`.
pub static LN_F: CommandSpec = cmd(
    "ln-f",
    LN_ARGS,
    RetType::Err,
    "create a hard link",
    "As ln, replacing LINKNAME if it exists.",
    &["ln-f /etc/hostname /etc/passwd"],
    |ctx, args| ln(ctx, args, "ln_f", false, true),
);

/// `ln-s`.
pub static LN_S: CommandSpec = cmd(
    "ln-s",
    LN_ARGS,
    RetType::Err,
    "create a symbolic link",
    "Make LINKNAME a symbolic link to TARGET (stored as given, resolved in the guest).",
    &["ln-s /usr/share/zoneinfo/UTC /etc/localtime.utc"],
    |ctx, args| ln(ctx, args, "ln_s", true, false),
);

/// `ln-sf`.
pub static LN_SF: CommandSpec = cmd(
    "ln-sf",
    LN_ARGS,
    RetType::Err,
    "create a symbolic link",
    "As ln-s, replacing LINKNAME if it exists.",
    &["ln-sf /usr/share/zoneinfo/UTC /etc/localtime"],
    |ctx, args| ln(ctx, args, "ln_sf", true, true),
);

/// rename(2).
fn rename(s: &Session, from: &str, to: &str) -> Result<(), FsError> {
    let (fp, fname) = parent_of(s, from)?;
    let (tp, tname) = parent_of(s, to)?;
    let fs = s.vfs.fs(&fp);
    fs.lookup(fp.ino, &fname)?.ok_or(Errno::NotFound)?;
    if fp.mount != tp.mount {
        return Err(Errno::CrossDevice.into());
    }
    check_rw(s, &fp)?;
    fs.rename(fp.ino, &fname, tp.ino, &tname)
}

/// `rename`.
pub static RENAME: CommandSpec = cmd(
    "rename",
    &[arg("oldpath", ArgKind::Path), arg("newpath", ArgKind::Path)],
    RetType::Err,
    "rename a file on the same filesystem",
    "Rename OLDPATH to NEWPATH (replacing a file, or an empty directory, already there).",
    &["rename /etc/hostname /etc/hostname.orig"],
    |ctx, args| {
        need_root(ctx.session, "rename")?;
        let (from, to) = (args.text(0), args.text(1));
        rename(ctx.session, &from, &to)
            .map_err(|e| CmdError::api("rename", format!("rename: {from}: {to}: {e}")))?;
        Ok(Value::Unit)
    },
);

/// `mv`.
pub static MV: CommandSpec = cmd(
    "mv",
    &[arg("src", ArgKind::Path), arg("dest", ArgKind::Path)],
    RetType::Err,
    "move a file",
    "Move SRC to DEST; into DEST when DEST is a directory.",
    &["mv /etc/example.conf /run/"],
    |ctx, args| {
        need_root(ctx.session, "mv")?;
        let (src, dest) = (args.text(0), args.text(1));
        let s = &*ctx.session;
        let target = match s.vfs.resolve(&dest, true) {
            Ok(n)
                if s.vfs
                    .fs(&n)
                    .stat(n.ino)
                    .is_ok_and(|st| st.file_type() == FileType::Directory) =>
            {
                let (_, name) = split_path(&src);
                format!(
                    "{}/{}",
                    dest.trim_end_matches('/'),
                    String::from_utf8_lossy(&name)
                )
            }
            _ => dest.clone(),
        };
        rename(s, &src, &target).map_err(|e| {
            let msg = if e.errno() == Some(Errno::NotFound) && s.vfs.resolve(&src, false).is_err() {
                format!("mv: cannot stat '/sysroot{src}': {e}")
            } else {
                format!("mv: cannot move '/sysroot{src}' to '/sysroot{target}': {e}")
            };
            CmdError::api("mv", msg)
        })?;
        Ok(Value::Unit)
    },
);

fn truncate_to(ctx: &mut Ctx<'_>, func: &str, path: &str, size: i64) -> Result<Value, CmdError> {
    need_root(ctx.session, func)?;
    let s = &*ctx.session;
    // The daemon opens the file, then ftruncates it.
    let node = open_for_write_existing(s, path).map_err(|e| path_error(func, "open", path, &e))?;
    if size < 0 {
        return Err(path_error(func, "ftruncate", path, &Errno::Invalid.into()));
    }
    s.vfs
        .fs(&node)
        .truncate(node.ino, size as u64)
        .map_err(|e| path_error(func, "ftruncate", path, &e))?;
    Ok(Value::Unit)
}

/// open(O_WRONLY) of an existing regular file (through symlinks), checked writable.
pub(crate) fn open_for_write_existing(s: &Session, path: &str) -> Result<Node, FsError> {
    let node = s.vfs.resolve(path, true)?;
    match s.vfs.fs(&node).stat(node.ino)?.file_type() {
        FileType::Directory => return Err(Errno::IsDir.into()),
        FileType::Regular => {}
        _ => return Err(Errno::Invalid.into()),
    }
    check_rw(s, &node)?;
    Ok(node)
}

/// `truncate`.
pub static TRUNCATE: CommandSpec = cmd(
    "truncate",
    PATH,
    RetType::Err,
    "truncate a file to zero size",
    "Make a file empty.",
    &["truncate /etc/example.conf"],
    |ctx, args| truncate_to(ctx, "truncate", &args.text(0), 0),
);

/// `truncate-size`.
pub static TRUNCATE_SIZE: CommandSpec = cmd(
    "truncate-size",
    &[arg("path", ArgKind::Path), arg("size", ArgKind::Int64)],
    RetType::Err,
    "truncate a file to a particular size",
    "Set a file's size: shorter drops the end, longer adds a hole (reads as zeros).",
    &["truncate-size /etc/example.conf 1M"],
    |ctx, args| {
        let size = args.int(1);
        truncate_to(ctx, "truncate_size", &args.text(0), size)
    },
);

/// `utimens`.
pub static UTIMENS: CommandSpec = cmd(
    "utimens",
    &[
        arg("path", ArgKind::Path),
        arg("atsecs", ArgKind::Int64),
        arg("atnsecs", ArgKind::Int64),
        arg("mtsecs", ArgKind::Int64),
        arg("mtnsecs", ArgKind::Int64),
    ],
    RetType::Err,
    "set timestamp of a file with nanosecond precision",
    "Set PATH's access and modification times (seconds and nanoseconds since the epoch; \
     a nanoseconds value of -1 means now, -2 leaves the time alone).",
    &["utimens /etc/hostname 0 0 1700000000 0"],
    |ctx, args| {
        need_root(ctx.session, "utimens")?;
        let path = args.text(0);
        let now = Timespec::now();
        let time = |secs: i64, nsecs: i64| match nsecs {
            -1 => Some(now),
            -2 => None,
            n => Some(Timespec {
                sec: secs,
                nsec: n.clamp(0, 999_999_999) as u32,
            }),
        };
        let attr = SetAttr {
            atime: time(args.int(1), args.int(2)),
            mtime: time(args.int(3), args.int(4)),
            ..SetAttr::default()
        };
        set_attr(ctx.session, &path, true, &attr)
            .map_err(|e| CmdError::api("utimens", format!("utimensat: {path}: {e}")))?;
        Ok(Value::Unit)
    },
);

fn mknod_at(
    ctx: &mut Ctx<'_>,
    func: &str,
    mode: i64,
    major: i64,
    minor: i64,
    path: &str,
    kind: u32,
) -> Result<Value, CmdError> {
    need_root(ctx.session, func)?;
    let s = &*ctx.session;
    let run = || -> Result<(), FsError> {
        let (parent, name) = parent_of(s, path)?;
        let fs = s.vfs.fs(&parent);
        if fs.lookup(parent.ino, &name)?.is_some() {
            return Err(Errno::Exists.into());
        }
        check_rw(s, &parent)?;
        let node = NewNode {
            mode: kind | (mode as u32 & 0o7777 & !UMASK),
            uid: 0,
            gid: 0,
            rdev: (major as u32, minor as u32),
        };
        fs.create(parent.ino, &name, &node)?;
        Ok(())
    };
    run().map_err(|e| CmdError::api(func, format!("{path}: {e}")))?;
    Ok(Value::Unit)
}

/// `mkfifo`.
pub static MKFIFO: CommandSpec = cmd(
    "mkfifo",
    &[arg("mode", ArgKind::Int), arg("path", ArgKind::Path)],
    RetType::Err,
    "make FIFO (named pipe)",
    "Create a named pipe with MODE (umask 022 applies).",
    &["mkfifo 0600 /run/fifo"],
    |ctx, args| {
        let (mode, path) = (args.int(0), args.text(1));
        mknod_at(ctx, "mkfifo", mode, 0, 0, &path, S_IFIFO)
    },
);

static MKNOD_DEV_ARGS: &[ArgSpec] = &[
    arg("mode", ArgKind::Int),
    arg("devmajor", ArgKind::Int),
    arg("devminor", ArgKind::Int),
    arg("path", ArgKind::Path),
];

/// `mknod-b`.
pub static MKNOD_B: CommandSpec = cmd(
    "mknod-b",
    MKNOD_DEV_ARGS,
    RetType::Err,
    "make block device node",
    "Create a block device node with MODE, DEVMAJOR and DEVMINOR.",
    &["mknod-b 0660 8 1 /dev/sda1"],
    |ctx, args| {
        let path = args.text(3);
        mknod_at(
            ctx,
            "mknod_b",
            args.int(0),
            args.int(1),
            args.int(2),
            &path,
            S_IFBLK,
        )
    },
);

/// `mknod-c`.
pub static MKNOD_C: CommandSpec = cmd(
    "mknod-c",
    MKNOD_DEV_ARGS,
    RetType::Err,
    "make char device node",
    "Create a character device node with MODE, DEVMAJOR and DEVMINOR.",
    &["mknod-c 0666 1 5 /dev/zero"],
    |ctx, args| {
        let path = args.text(3);
        mknod_at(
            ctx,
            "mknod_c",
            args.int(0),
            args.int(1),
            args.int(2),
            &path,
            S_IFCHR,
        )
    },
);

/// `mknod`.
pub static MKNOD: CommandSpec = cmd(
    "mknod",
    MKNOD_DEV_ARGS,
    RetType::Err,
    "make block, character or FIFO devices",
    "Create a device node or FIFO: the type comes from MODE's S_IFMT bits (S_IFBLK, \
     S_IFCHR, S_IFIFO, S_IFSOCK, S_IFREG), as mknod(2) takes it.",
    &["mknod 020666 1 8 /dev/random"],
    |ctx, args| {
        let mode = args.int(0);
        let path = args.text(3);
        let kind = (mode as u32) & 0o170000;
        let kind = if kind == 0 { S_IFREG } else { kind };
        mknod_at(ctx, "mknod", mode, args.int(1), args.int(2), &path, kind)
    },
);

fn set_xattr_cmd(
    ctx: &mut Ctx<'_>,
    func: &str,
    name: &[u8],
    value: Option<&[u8]>,
    path: &str,
    follow: bool,
) -> Result<Value, CmdError> {
    need_root(ctx.session, func)?;
    let s = &*ctx.session;
    let what = if value.is_some() {
        "setxattr"
    } else {
        "removexattr"
    };
    if value.is_some_and(|v| v.len() > 65536) {
        return Err(CmdError::api(func, "extended attribute is too large"));
    }
    let run = || -> Result<(), FsError> {
        let node = s.vfs.resolve(path, follow)?;
        check_rw(s, &node)?;
        s.vfs.fs(&node).set_xattr(node.ino, name, value)
    };
    run().map_err(|e| CmdError::api(func, format!("{what}: {e}")))?;
    Ok(Value::Unit)
}

static SETXATTR_ARGS: &[ArgSpec] = &[
    arg("xattr", ArgKind::String),
    arg("val", ArgKind::String),
    arg("vallen", ArgKind::Int),
    arg("path", ArgKind::Path),
];

fn setxattr(ctx: &mut Ctx<'_>, args: &Args, func: &str, follow: bool) -> Result<Value, CmdError> {
    let name = args.bytes(0).to_vec();
    let val = args.bytes(1);
    let len = usize::try_from(args.int(2)).unwrap_or(0).min(val.len());
    let value = val[..len].to_vec();
    let path = args.text(3);
    set_xattr_cmd(ctx, func, &name, Some(&value), &path, follow)
}

/// `setxattr`.
pub static SETXATTR: CommandSpec = cmd(
    "setxattr",
    SETXATTR_ARGS,
    RetType::Err,
    "set extended attribute of a file or directory",
    "Set extended attribute XATTR of PATH (following symlinks) to the first VALLEN bytes \
     of VAL. Attributes live in the inode while they fit, else in an attribute block.",
    &["setxattr user.comment hello 5 /etc/hostname"],
    |ctx, args| setxattr(ctx, args, "setxattr", true),
);

/// `lsetxattr`.
pub static LSETXATTR: CommandSpec = cmd(
    "lsetxattr",
    SETXATTR_ARGS,
    RetType::Err,
    "set extended attribute of a file or directory",
    "As setxattr, but a symbolic link itself is changed.",
    &["lsetxattr security.selinux system_u:object_r:etc_t:s0 26 /etc/localtime"],
    |ctx, args| setxattr(ctx, args, "lsetxattr", false),
);

static REMOVEXATTR_ARGS: &[ArgSpec] = &[arg("xattr", ArgKind::String), arg("path", ArgKind::Path)];

/// `removexattr`.
pub static REMOVEXATTR: CommandSpec = cmd(
    "removexattr",
    REMOVEXATTR_ARGS,
    RetType::Err,
    "remove extended attribute of a file or directory",
    "Remove extended attribute XATTR of PATH (following symlinks).",
    &["removexattr security.selinux /etc/passwd"],
    |ctx, args| {
        let (name, path) = (args.bytes(0).to_vec(), args.text(1));
        set_xattr_cmd(ctx, "removexattr", &name, None, &path, true)
    },
);

/// `lremovexattr`.
pub static LREMOVEXATTR: CommandSpec = cmd(
    "lremovexattr",
    REMOVEXATTR_ARGS,
    RetType::Err,
    "remove extended attribute of a file or directory",
    "As removexattr, but a symbolic link itself is changed.",
    &["lremovexattr security.selinux /etc/localtime"],
    |ctx, args| {
        let (name, path) = (args.bytes(0).to_vec(), args.text(1));
        set_xattr_cmd(ctx, "lremovexattr", &name, None, &path, false)
    },
);

/// Write the host file `local` to guest file `remote` (upload's file case).
pub fn upload_file(ctx: &mut Ctx<'_>, local: &str, remote: &str) -> Result<Value, CmdError> {
    use std::io::Read;
    let s = &*ctx.session;
    need_root(s, "upload")?;
    let mut input = std::fs::File::open(local)
        .map_err(|e| CmdError::api("open", format!("{local}: {}", crate::os_error_text(&e))))?;
    let node = open_for_write(s, remote, true).map_err(|e| path_error("upload", "", remote, &e))?;
    let fs = s.vfs.fs(&node);
    let mut buf = vec![0u8; 8 << 20];
    let mut at = 0u64;
    loop {
        let mut filled = 0;
        while filled < buf.len() {
            match input.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(CmdError::api(
                        "upload",
                        format!("{local}: {}", crate::os_error_text(&e)),
                    ));
                }
            }
        }
        if filled == 0 {
            break;
        }
        fs.write(node.ino, at, &buf[..filled])
            .map_err(|e| path_error("upload", "", remote, &e))?;
        at += filled as u64;
        if filled < buf.len() {
            break;
        }
    }
    Ok(Value::Unit)
}
