//! File metadata: stat, lstat, statns, lstatns, filesize, exists, is-file, is-dir,
//! is-symlink, is-chardev, is-blockdev, is-fifo, is-socket, readlink, readlinklist,
//! realpath, getxattrs, lgetxattrs, getxattr, lgetxattr, statvfs, case-sensitive-path.

use super::fsread::{need_root, path_error, resolve, try_resolve};
use super::output::Field;
use super::spec::{ArgKind, ArgSpec, Arity, CommandSpec, RetType, arg, declared as cmd};
use super::{Args, CmdError, Ctx, Value};
use crate::fs::{FileType, Stat};
use crate::session::Session;

static PATH: &[ArgSpec] = &[arg("path", ArgKind::Path)];

/// The device number guestfish's appliance gives a mounted device (`/dev/sda` is 8:0).
fn dev_number(device: &str) -> u64 {
    match crate::part::parse_device_name(device) {
        Some(d) => {
            let minor = d.drive as u64 * 16 + d.partition.unwrap_or(0) as u64;
            makedev(8, minor)
        }
        None => makedev(253, 0),
    }
}

/// glibc's `makedev`.
fn makedev(major: u64, minor: u64) -> u64 {
    ((major & 0xfff) << 8) | ((major & !0xfff) << 32) | (minor & 0xff) | ((minor & !0xff) << 12)
}

fn stat_of(s: &Session, func: &str, path: &str, follow: bool) -> Result<(Stat, u64), CmdError> {
    let node = resolve(s, func, "", path, follow)?;
    let st = s
        .vfs
        .stat(&node)
        .map_err(|e| path_error(func, "", path, &e))?;
    let dev = dev_number(&s.vfs.mount_of(&node).device);
    Ok((st, dev))
}

fn old_stat(st: &Stat, dev: u64) -> Value {
    let i = |n: u64| Field::Int(n as i64);
    Value::Struct(vec![
        ("dev", i(dev)),
        ("ino", i(st.ino)),
        ("mode", i(u64::from(st.mode))),
        ("nlink", i(st.nlink)),
        ("uid", i(u64::from(st.uid))),
        ("gid", i(u64::from(st.gid))),
        (
            "rdev",
            i(makedev(u64::from(st.rdev.0), u64::from(st.rdev.1))),
        ),
        ("size", i(st.size)),
        ("blksize", i(u64::from(st.blksize))),
        ("blocks", i(st.blocks)),
        ("atime", Field::Int(st.atime.sec)),
        ("mtime", Field::Int(st.mtime.sec)),
        ("ctime", Field::Int(st.ctime.sec)),
    ])
}

fn ns_stat(st: &Stat, dev: u64) -> Value {
    let i = |n: u64| Field::Int(n as i64);
    let mut f = vec![
        ("st_dev", i(dev)),
        ("st_ino", i(st.ino)),
        ("st_mode", i(u64::from(st.mode))),
        ("st_nlink", i(st.nlink)),
        ("st_uid", i(u64::from(st.uid))),
        ("st_gid", i(u64::from(st.gid))),
        (
            "st_rdev",
            i(makedev(u64::from(st.rdev.0), u64::from(st.rdev.1))),
        ),
        ("st_size", i(st.size)),
        ("st_blksize", i(u64::from(st.blksize))),
        ("st_blocks", i(st.blocks)),
        ("st_atime_sec", Field::Int(st.atime.sec)),
        ("st_atime_nsec", i(u64::from(st.atime.nsec))),
        ("st_mtime_sec", Field::Int(st.mtime.sec)),
        ("st_mtime_nsec", i(u64::from(st.mtime.nsec))),
        ("st_ctime_sec", Field::Int(st.ctime.sec)),
        ("st_ctime_nsec", i(u64::from(st.ctime.nsec))),
    ];
    for name in [
        "st_spare1",
        "st_spare2",
        "st_spare3",
        "st_spare4",
        "st_spare5",
        "st_spare6",
    ] {
        f.push((name, Field::Int(0)));
    }
    Value::Struct(f)
}

/// `stat`.
pub static STAT: CommandSpec = cmd(
    "stat",
    PATH,
    RetType::Struct,
    "get file information",
    "stat(2) of a file, following symbolic links (times in whole seconds; see statns).",
    &["stat /etc/passwd"],
    |ctx, args| {
        let (st, dev) = stat_of(ctx.session, "statns", &args.text(0), true)?;
        Ok(old_stat(&st, dev))
    },
);

/// `lstat`.
pub static LSTAT: CommandSpec = cmd(
    "lstat",
    PATH,
    RetType::Struct,
    "get file information for a symbolic link",
    "Like stat, but a symbolic link is described itself.",
    &["lstat /etc/localtime"],
    |ctx, args| {
        let (st, dev) = stat_of(ctx.session, "lstatns", &args.text(0), false)?;
        Ok(old_stat(&st, dev))
    },
);

/// `statns`.
pub static STATNS: CommandSpec = cmd(
    "statns",
    PATH,
    RetType::Struct,
    "get file information",
    "stat(2) of a file with nanosecond times, following symbolic links.",
    &["statns /etc/passwd"],
    |ctx, args| {
        let (st, dev) = stat_of(ctx.session, "statns", &args.text(0), true)?;
        Ok(ns_stat(&st, dev))
    },
);

/// `lstatns`.
pub static LSTATNS: CommandSpec = cmd(
    "lstatns",
    PATH,
    RetType::Struct,
    "get file information for a symbolic link",
    "Like statns, but a symbolic link is described itself.",
    &["lstatns /etc/localtime"],
    |ctx, args| {
        let (st, dev) = stat_of(ctx.session, "lstatns", &args.text(0), false)?;
        Ok(ns_stat(&st, dev))
    },
);

/// `filesize`.
pub static FILESIZE: CommandSpec = cmd(
    "filesize",
    &[arg("file", ArgKind::Path)],
    RetType::Int64,
    "return the size of the file in bytes",
    "The size of a file in bytes (following symbolic links).",
    &["filesize /etc/passwd"],
    |ctx, args| {
        let (st, _) = stat_of(ctx.session, "filesize", &args.text(0), true)?;
        Ok(Value::Int(st.size as i64))
    },
);

/// `exists`.
pub static EXISTS: CommandSpec = cmd(
    "exists",
    PATH,
    RetType::Bool,
    "test if file or directory exists",
    "true if the path exists (a dangling symbolic link exists).",
    &["exists /etc/fstab"],
    |ctx, args| {
        Ok(Value::Bool(
            try_resolve(ctx.session, "exists", &args.text(0), false)?.is_some(),
        ))
    },
);

fn is_kind(ctx: &mut Ctx<'_>, args: &Args, func: &str, kind: FileType) -> Result<Value, CmdError> {
    let follow = args.opt_bool("followsymlinks").unwrap_or(false);
    let s = &*ctx.session;
    let Some(node) = try_resolve(s, func, &args.text(0), follow)? else {
        return Ok(Value::Bool(false));
    };
    let st = s
        .vfs
        .stat(&node)
        .map_err(|e| path_error(func, "", &args.text(0), &e))?;
    Ok(Value::Bool(st.file_type() == kind))
}

macro_rules! is_cmd {
    ($static:ident, $name:literal, $func:literal, $kind:expr, $short:literal, $example:literal) => {
        #[doc = concat!("`", $name, "`.")]
        pub static $static: CommandSpec = CommandSpec {
            name: $name,
            aliases: &[],
            args: PATH,
            optargs: &[arg("followsymlinks", ArgKind::Bool)],
            arity: Arity::Declared,
            free_synopsis: "",
            ret: RetType::Bool,
            shortdesc: $short,
            longdesc: "true if the path exists and has this type; false otherwise (also when \
                       it does not exist). With followsymlinks:true a symbolic link is \
                       judged by what it points to.",
            examples: &[$example],
            handler: |ctx, args| is_kind(ctx, args, $func, $kind),
        };
    };
}

is_cmd!(
    IS_FILE,
    "is-file",
    "is_file",
    FileType::Regular,
    "test if a regular file",
    "is-file /etc/passwd"
);
is_cmd!(
    IS_DIR,
    "is-dir",
    "is_dir",
    FileType::Directory,
    "test if a directory",
    "is-dir /etc"
);
is_cmd!(
    IS_CHARDEV,
    "is-chardev",
    "is_chardev",
    FileType::CharDevice,
    "test if character device",
    "is-chardev /dev/null"
);
is_cmd!(
    IS_BLOCKDEV,
    "is-blockdev",
    "is_blockdev",
    FileType::BlockDevice,
    "test if block device",
    "is-blockdev /dev/sda"
);
is_cmd!(
    IS_FIFO,
    "is-fifo",
    "is_fifo",
    FileType::Fifo,
    "test if FIFO (named pipe)",
    "is-fifo /run/initctl"
);
is_cmd!(
    IS_SOCKET,
    "is-socket",
    "is_socket",
    FileType::Socket,
    "test if socket",
    "is-socket /run/socket"
);

/// `is-symlink`.
pub static IS_SYMLINK: CommandSpec = cmd(
    "is-symlink",
    PATH,
    RetType::Bool,
    "test if symbolic link",
    "true if the path is a symbolic link.",
    &["is-symlink /etc/localtime"],
    |ctx, args| is_kind(ctx, args, "is_symlink", FileType::Symlink),
);

fn read_link(s: &Session, func: &str, path: &str) -> Result<Vec<u8>, CmdError> {
    let node = resolve(s, func, "readlink", path, false)?;
    s.vfs
        .fs(&node)
        .read_link(node.ino)
        .map_err(|e| path_error(func, "readlink", path, &e))
}

/// `readlink`.
pub static READLINK: CommandSpec = cmd(
    "readlink",
    PATH,
    RetType::String,
    "read the target of a symbolic link",
    "The target of a symbolic link, as stored.",
    &["readlink /etc/localtime"],
    |ctx, args| {
        Ok(Value::String(read_link(
            ctx.session,
            "readlink",
            &args.text(0),
        )?))
    },
);

/// `readlinklist`.
pub static READLINKLIST: CommandSpec = cmd(
    "readlinklist",
    &[
        arg("path", ArgKind::Path),
        arg("names", ArgKind::StringList),
    ],
    RetType::StringList,
    "readlink on multiple files",
    "readlink of each name in directory PATH; a name that is not a symbolic link gives an \
     empty string.",
    &["readlinklist /etc 'localtime mtab'"],
    |ctx, args| {
        let dir = args.text(0);
        let mut out = Vec::new();
        for name in args.list(1) {
            let p = format!(
                "{}/{}",
                dir.trim_end_matches('/'),
                String::from_utf8_lossy(name)
            );
            out.push(read_link(ctx.session, "readlinklist", &p).unwrap_or_default());
        }
        Ok(Value::StringList(out))
    },
);

/// `realpath`.
pub static REALPATH: CommandSpec = cmd(
    "realpath",
    PATH,
    RetType::String,
    "canonicalized absolute pathname",
    "The canonical path: every symbolic link resolved (inside the guest) and . and .. \
     removed.",
    &["realpath /etc/../etc/hostname"],
    |ctx, args| {
        let node = resolve(ctx.session, "realpath", "realpath", &args.text(0), true)?;
        Ok(Value::String(node.path.into_bytes()))
    },
);

fn xattr_list(
    s: &Session,
    func: &str,
    path: &str,
    follow: bool,
) -> Result<crate::fs::Xattrs, CmdError> {
    let what = if follow { "listxattr" } else { "llistxattr" };
    let node = resolve(s, func, what, path, follow)?;
    let mut x = s
        .vfs
        .fs(&node)
        .xattrs(node.ino)
        .map_err(|e| path_error(func, what, path, &e))?;
    x.sort();
    Ok(x)
}

fn xattrs_value(x: crate::fs::Xattrs) -> Value {
    Value::StructList(
        x.into_iter()
            .map(|(n, v)| {
                vec![
                    (
                        "attrname",
                        Field::Str(String::from_utf8_lossy(&n).into_owned()),
                    ),
                    ("attrval", Field::Buffer(v)),
                ]
            })
            .collect(),
    )
}

/// `getxattrs`.
pub static GETXATTRS: CommandSpec = cmd(
    "getxattrs",
    PATH,
    RetType::StructList,
    "list extended attributes of a file or directory",
    "Every extended attribute (all namespaces) with its value, following symbolic links.",
    &["getxattrs /etc/passwd"],
    |ctx, args| {
        Ok(xattrs_value(xattr_list(
            ctx.session,
            "getxattrs",
            &args.text(0),
            true,
        )?))
    },
);

/// `lgetxattrs`.
pub static LGETXATTRS: CommandSpec = cmd(
    "lgetxattrs",
    PATH,
    RetType::StructList,
    "list extended attributes of a file or directory",
    "Like getxattrs, but a symbolic link's own attributes.",
    &["lgetxattrs /etc/localtime"],
    |ctx, args| {
        Ok(xattrs_value(xattr_list(
            ctx.session,
            "lgetxattrs",
            &args.text(0),
            false,
        )?))
    },
);

fn get_one(ctx: &mut Ctx<'_>, args: &Args, func: &str, follow: bool) -> Result<Value, CmdError> {
    let name = args.bytes(1).to_vec();
    let x = xattr_list(ctx.session, func, &args.text(0), follow)?;
    x.into_iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| Value::Buffer(v))
        .ok_or_else(|| CmdError::api(func, format!("{func}: No data available")))
}

static PATH_NAME: &[ArgSpec] = &[arg("path", ArgKind::Path), arg("name", ArgKind::String)];

/// `getxattr`.
pub static GETXATTR: CommandSpec = cmd(
    "getxattr",
    PATH_NAME,
    RetType::BufferOut,
    "get a single extended attribute",
    "The value of one extended attribute, exactly (nothing is added).",
    &["getxattr /etc/passwd security.selinux"],
    |ctx, args| get_one(ctx, args, "getxattr", true),
);

/// `lgetxattr`.
pub static LGETXATTR: CommandSpec = cmd(
    "lgetxattr",
    PATH_NAME,
    RetType::BufferOut,
    "get a single extended attribute",
    "Like getxattr, but of a symbolic link itself.",
    &["lgetxattr /etc/localtime security.selinux"],
    |ctx, args| get_one(ctx, args, "lgetxattr", false),
);

/// `statvfs`.
pub static STATVFS: CommandSpec = cmd(
    "statvfs",
    &[arg("path", ArgKind::Path)],
    RetType::Struct,
    "get file system statistics",
    "statvfs(2) of the filesystem holding PATH, as Linux reports it.",
    &["statvfs /"],
    |ctx, args| {
        let s = &*ctx.session;
        let path = args.text(0);
        let node = resolve(s, "statvfs", "", &path, true)?;
        let m = s.vfs.mount_of(&node);
        let v =
            m.fs.statvfs()
                .map_err(|e| path_error("statvfs", "", &path, &e))?;
        // ST_RELATIME, plus ST_RDONLY for read-only mounts.
        let flag = 4096 | u64::from(m.read_only);
        let i = |n: u64| Field::Int(n as i64);
        Ok(Value::Struct(vec![
            ("bsize", i(v.bsize)),
            ("frsize", i(v.frsize)),
            ("blocks", i(v.blocks)),
            ("bfree", i(v.bfree)),
            ("bavail", i(v.bavail)),
            ("files", i(v.files)),
            ("ffree", i(v.ffree)),
            ("favail", i(v.favail)),
            ("fsid", i(v.fsid)),
            ("flag", i(flag)),
            ("namemax", i(v.namemax)),
        ]))
    },
);

/// `case-sensitive-path`.
pub static CASE_SENSITIVE_PATH: CommandSpec = cmd(
    "case-sensitive-path",
    PATH,
    RetType::String,
    "return true path on case-insensitive filesystem",
    "The path with each existing component spelt as in the guest (matched without regard to \
     case); components after the first that does not exist are kept as given.",
    &["case-sensitive-path /ETC/OS-RELEASE"],
    |ctx, args| {
        let s = &*ctx.session;
        need_root(s, "case_sensitive_path")?;
        let path = args.bytes(0).to_vec();
        let mut out: Vec<u8> = Vec::new();
        let mut missing = false;
        for comp in path.split(|&c| c == b'/').filter(|c| !c.is_empty()) {
            out.push(b'/');
            if missing {
                out.extend_from_slice(comp);
                continue;
            }
            let dir = if out.len() == 1 {
                "/".to_string()
            } else {
                String::from_utf8_lossy(&out[..out.len() - 1]).into_owned()
            };
            let found = s.vfs.resolve(&dir, true).ok().and_then(|n| {
                s.vfs.fs(&n).read_dir(n.ino).ok().and_then(|list| {
                    list.into_iter()
                        .map(|e| e.name)
                        .find(|n| n.eq_ignore_ascii_case(comp))
                })
            });
            match found {
                Some(name) => out.extend_from_slice(&name),
                None => {
                    missing = true;
                    out.extend_from_slice(comp);
                }
            }
        }
        if out.is_empty() {
            out.push(b'/');
        }
        Ok(Value::String(out))
    },
);

/// One `df` row: (device, 1K-blocks, used, available, mountpoint).
type DfRow = (String, u64, u64, u64, String);

/// The `df` rows of the mounted filesystems.
fn df_rows(s: &Session, func: &str) -> Result<Vec<DfRow>, CmdError> {
    need_root(s, func)?;
    let mut rows = Vec::new();
    for m in s.vfs.mounts() {
        let v =
            m.fs.statvfs()
                .map_err(|e| CmdError::api(func, format!("{}: {e}", m.device)))?;
        let k = |n: u64| n.saturating_mul(v.frsize) / 1024;
        let used = v.blocks.saturating_sub(v.bfree);
        rows.push((
            m.device.clone(),
            k(v.blocks),
            k(used),
            k(v.bavail),
            m.mountpoint.clone(),
        ));
    }
    Ok(rows)
}

/// GNU df's Use%: used / (used + available), rounded up.
fn use_percent(used: u64, avail: u64) -> String {
    let total = used + avail;
    if total == 0 {
        return "-".into();
    }
    format!("{}%", (used * 100).div_ceil(total))
}

/// GNU df -h's sizes: powers of 1024, one decimal below 10, rounded up.
fn human(kib: u64) -> String {
    let mut v = kib as f64 * 1024.0;
    let units = ["", "K", "M", "G", "T", "P", "E"];
    let mut u = 0;
    while v >= 1024.0 && u < units.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        return format!("{}", v as u64);
    }
    if v < 10.0 {
        let r = (v * 10.0).ceil() / 10.0;
        if r < 10.0 {
            return format!("{r:.1}{}", units[u]);
        }
    }
    format!("{}{}", v.ceil() as u64, units[u])
}

fn df_table(header: [&str; 6], rows: Vec<[String; 6]>) -> Vec<u8> {
    let mut widths = header.map(str::len);
    widths[0] = widths[0].max(14);
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.len());
        }
    }
    let mut out = String::new();
    let line = |cells: [&str; 6], out: &mut String| {
        out.push_str(&format!(
            "{:<w0$} {:>w1$} {:>w2$} {:>w3$} {:>w4$} {}\n",
            cells[0],
            cells[1],
            cells[2],
            cells[3],
            cells[4],
            cells[5],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3],
            w4 = widths[4],
        ));
    };
    line(header, &mut out);
    for r in &rows {
        line(
            [&r[0], &r[1], &r[2], &r[3], &r[4], &r[5]].map(String::as_str),
            &mut out,
        );
    }
    out.into_bytes()
}

/// `df`.
pub static DF: CommandSpec = cmd(
    "df",
    &[],
    RetType::String,
    "report file system disk space usage",
    "Space on each mounted guest filesystem, as df prints it (1K blocks). guestfish also \
     lists its appliance's own filesystems; rfish has none, so only the guest's appear, \
     under their guest mountpoints.",
    &["df"],
    |ctx, _args| {
        let rows = df_rows(ctx.session, "df")?
            .into_iter()
            .map(|(d, b, u, a, m)| {
                [
                    d,
                    b.to_string(),
                    u.to_string(),
                    a.to_string(),
                    use_percent(u, a),
                    m,
                ]
            })
            .collect();
        Ok(Value::String(df_table(
            [
                "Filesystem",
                "1K-blocks",
                "Used",
                "Available",
                "Use%",
                "Mounted on",
            ],
            rows,
        )))
    },
);

/// `df-h`.
pub static DF_H: CommandSpec = cmd(
    "df-h",
    &[],
    RetType::String,
    "report file system disk space usage (human readable)",
    "Like df, with sizes as df -h prints them.",
    &["df-h"],
    |ctx, _args| {
        let rows = df_rows(ctx.session, "df_h")?
            .into_iter()
            .map(|(d, b, u, a, m)| [d, human(b), human(u), human(a), use_percent(u, a), m])
            .collect();
        Ok(Value::String(df_table(
            ["Filesystem", "Size", "Used", "Avail", "Use%", "Mounted on"],
            rows,
        )))
    },
);

/// `readdir`.
pub static READDIR: CommandSpec = cmd(
    "readdir",
    &[arg("dir", ArgKind::Path)],
    RetType::StructList,
    "read directories entries",
    "Every entry of a directory, . and .. included, in the order the filesystem returns \
     them: inode number, type (b block device, c character device, d directory, f FIFO, \
     l symbolic link, r regular file, s socket, u unknown) and name.",
    &["readdir /etc"],
    |ctx, args| {
        let s = &*ctx.session;
        let dir = args.text(0);
        let node = resolve(s, "readdir", "opendir", &dir, true)?;
        let err = |e: crate::fs::FsError| path_error("readdir", "opendir", &dir, &e);
        let fs = s.vfs.fs(&node);
        let list = match fs.read_dir_with_dots(node.ino).map_err(err)? {
            Some(all) => all,
            None => {
                let parent = s
                    .vfs
                    .resolve(&format!("{}/..", node.path), true)
                    .map_err(err)?;
                let dot = |name: &[u8], ino| crate::fs::DirEntry {
                    name: name.to_vec(),
                    ino,
                    kind: FileType::Directory,
                };
                let mut all = vec![dot(b".", node.ino), dot(b"..", parent.ino)];
                all.extend(fs.read_dir(node.ino).map_err(err)?);
                all
            }
        };
        let letter = |k: FileType| match k {
            FileType::BlockDevice => "b",
            FileType::CharDevice => "c",
            FileType::Directory => "d",
            FileType::Fifo => "f",
            FileType::Symlink => "l",
            FileType::Regular => "r",
            FileType::Socket => "s",
            FileType::Unknown => "u",
        };
        let entry = |ino: u64, kind: FileType, name: &[u8]| {
            vec![
                ("ino", Field::Int(ino as i64)),
                ("ftyp", Field::Str(letter(kind).into())),
                (
                    "name",
                    Field::Str(String::from_utf8_lossy(name).into_owned()),
                ),
            ]
        };
        let mut out = Vec::with_capacity(list.len());
        for e in list {
            let kind = match e.kind {
                FileType::Unknown => fs
                    .stat(e.ino)
                    .map(|st| st.file_type())
                    .unwrap_or(FileType::Unknown),
                k => k,
            };
            out.push(entry(e.ino, kind, &e.name));
        }
        Ok(Value::StructList(out))
    },
);

/// Reads bytes at an offset into a buffer, returning the count.
type ReadAt<'a> = dyn FnMut(u64, &mut [u8]) -> Result<usize, CmdError> + 'a;

/// Does a reader hold only zero bytes?
fn all_zero(read: &mut ReadAt<'_>, size: u64) -> Result<bool, CmdError> {
    let mut buf = vec![0u8; 1 << 20];
    let mut pos = 0;
    while pos < size {
        let want = ((size - pos) as usize).min(buf.len());
        let n = read(pos, &mut buf[..want])?;
        if n == 0 {
            break;
        }
        if buf[..n].iter().any(|&b| b != 0) {
            return Ok(false);
        }
        pos += n as u64;
    }
    Ok(true)
}

/// `is-zero`.
pub static IS_ZERO: CommandSpec = cmd(
    "is-zero",
    &[arg("path", ArgKind::Path)],
    RetType::Bool,
    "test if a file contains all zero bytes",
    "true if the file is empty or holds only zero bytes.",
    &["is-zero /etc/hostname"],
    |ctx, args| {
        let s = &*ctx.session;
        let path = args.text(0);
        let (node, size) = super::fsread::open_file(s, "is_zero", &path)?;
        let fs = s.vfs.fs(&node);
        let mut read = |pos: u64, buf: &mut [u8]| {
            fs.read(node.ino, pos, buf)
                .map_err(|e| path_error("is_zero", "", &path, &e))
        };
        Ok(Value::Bool(all_zero(&mut read, size)?))
    },
);

/// `is-zero-device`.
pub static IS_ZERO_DEVICE: CommandSpec = cmd(
    "is-zero-device",
    &[arg("device", ArgKind::Device)],
    RetType::Bool,
    "test if a device contains all zero bytes",
    "true if every byte of the device is zero (unallocated ranges are not read).",
    &["is-zero-device /dev/sda2"],
    |ctx, args| {
        let d = ctx.session.device("is_zero_device", &args.text(0))?;
        let size = d.dev.size();
        let name = d.name.clone();
        let dev = d.dev;
        let mut pos = 0;
        let mut buf = vec![0u8; 1 << 20];
        while pos < size {
            let (run, kind) = dev
                .block_status(pos, size - pos)
                .map_err(|e| CmdError::api("is_zero_device", format!("{name}: {e}")))?;
            let run = run.max(1).min(size - pos);
            if kind == crate::block::Allocation::Data {
                let mut at = pos;
                while at < pos + run {
                    let n = ((pos + run - at) as usize).min(buf.len());
                    dev.read_at(&mut buf[..n], at)
                        .map_err(|e| CmdError::api("is_zero_device", format!("{name}: {e}")))?;
                    if buf[..n].iter().any(|&b| b != 0) {
                        return Ok(Value::Bool(false));
                    }
                    at += n as u64;
                }
            }
            pos += run;
        }
        Ok(Value::Bool(true))
    },
);
