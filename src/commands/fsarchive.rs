//! Copying guest trees out: tar-out (GNU tar format, entries as `tar -C DIR -cf - .`
//! writes them: `./`, then each path in directory order, hard links once, symlinks never
//! followed) and copy-out (files and trees to a host directory, keeping modes and times;
//! guest symlinks become host symlinks, never followed on the host).

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::fslist::walk;
use super::fsread::{path_error, resolve, with_host_out};
use super::spec::{ArgKind, Arity, CommandSpec, RetType, arg};
use super::{Args, CmdError, Ctx, Value};
use crate::fs::vfs::{Node, Vfs};
use crate::fs::{FileType, Stat};

use crate::session::Session;

/// A Write that streams a guest file's bytes in chunks.
struct GuestReader<'a> {
    vfs: &'a Vfs,
    node: Node,
    pos: u64,
    size: u64,
}

impl std::io::Read for GuestReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pos >= self.size {
            return Ok(0);
        }
        let want = buf.len().min((self.size - self.pos) as usize);
        let n = self
            .vfs
            .fs(&self.node)
            .read(self.node.ino, self.pos, &mut buf[..want])
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// Options of tar-out.
struct TarOptions {
    numeric_owner: bool,
    xattrs: bool,
    excludes: Vec<Vec<u8>>,
}

fn excluded(opts: &TarOptions, rel: &[u8]) -> bool {
    let base = rel.rsplit(|&c| c == b'/').next().unwrap_or(rel);
    opts.excludes.iter().any(|pat| {
        let pat = pat.strip_prefix(b"./").unwrap_or(pat);
        super::fslist::glob_match(pat, rel) || super::fslist::glob_match(pat, base)
    })
}

/// Write DIR as a tar stream.
fn tar_tree(
    s: &Session,
    func: &str,
    dir: &str,
    opts: &TarOptions,
    out: &mut dyn Write,
) -> Result<(), CmdError> {
    use super::tarball::{Entry, Kind, TarWriter};
    let err = |e: crate::fs::FsError| path_error(func, "", dir, &e);
    let io = |e: std::io::Error| CmdError::api(func, format!("tar: {}", crate::os_error_text(&e)));
    let root = resolve(s, func, "", dir, true)?;
    let mut entries = vec![(Vec::new(), root.clone())];
    walk(&s.vfs, &root, b"", &mut entries).map_err(err)?;
    let mut tar = TarWriter::new(out);
    let mut links: HashMap<(usize, u64), Vec<u8>> = HashMap::new();
    for (rel, node) in entries {
        if !rel.is_empty() && excluded(opts, &rel[1..]) {
            continue;
        }
        let st = s.vfs.stat(&node).map_err(err)?;
        let ftype = st.file_type();
        let mut name = b".".to_vec();
        name.extend_from_slice(&rel);
        if ftype == FileType::Directory {
            name.push(b'/');
        }
        let mut kind = match ftype {
            FileType::Regular => Kind::File,
            FileType::Directory => Kind::Dir,
            FileType::Symlink => Kind::Symlink,
            FileType::CharDevice => Kind::Char,
            FileType::BlockDevice => Kind::Block,
            FileType::Fifo => Kind::Fifo,
            // tar skips sockets ("socket ignored").
            FileType::Socket | FileType::Unknown => continue,
        };
        let mut link = Vec::new();
        if ftype == FileType::Symlink {
            link = s.vfs.fs(&node).read_link(node.ino).map_err(err)?;
        } else if ftype != FileType::Directory && st.nlink > 1 {
            match links.get(&(node.mount, node.ino)) {
                Some(first) => {
                    kind = Kind::HardLink;
                    link = first.clone();
                }
                None => {
                    links.insert((node.mount, node.ino), name.clone());
                }
            }
        }
        // guestfish's appliance knows only root by name.
        let named = |id: u32| {
            if !opts.numeric_owner && id == 0 {
                "root"
            } else {
                ""
            }
        };
        let entry = Entry {
            name: &name,
            kind,
            mode: st.mode & 0o7777,
            uid: u64::from(st.uid),
            gid: u64::from(st.gid),
            uname: named(st.uid),
            gname: named(st.gid),
            size: st.size,
            mtime: st.mtime.sec,
            link: &link,
            dev: st.rdev,
        };
        if opts.xattrs {
            let x = s.vfs.fs(&node).xattrs(node.ino).map_err(err)?;
            if !x.is_empty() {
                let pax: Vec<(String, Vec<u8>)> = x
                    .into_iter()
                    .map(|(k, v)| (format!("SCHILY.xattr.{}", String::from_utf8_lossy(&k)), v))
                    .collect();
                tar.pax(&entry, &pax).map_err(io)?;
            }
        }
        if kind == Kind::File {
            let mut reader = GuestReader {
                vfs: &s.vfs,
                node: node.clone(),
                pos: 0,
                size: st.size,
            };
            tar.append(&entry, Some(&mut reader)).map_err(io)?;
        } else {
            tar.append(&entry, None).map_err(io)?;
        }
    }
    tar.finish().map(|_| ()).map_err(io)
}

/// The host command that compresses (or, with `decompress`, expands) a tar-out/tar-in
/// `compress:` kind that no crate here handles.
pub(crate) fn host_tool(
    func: &str,
    kind: &str,
    decompress: bool,
) -> Result<&'static [&'static str], CmdError> {
    const TOOLS: &[(&str, &[&str], &[&str])] = &[
        ("zstd", &["zstd", "-q", "-c"], &["zstd", "-q", "-dc"]),
        ("xz", &["xz", "-c"], &["xz", "-dc"]),
        ("bzip2", &["bzip2", "-c"], &["bzip2", "-dc"]),
        ("lzop", &["lzop", "-c"], &["lzop", "-dc"]),
        (
            "lzma",
            &["xz", "--format=lzma", "-c"],
            &["xz", "--format=lzma", "-dc"],
        ),
        ("compress", &["compress", "-c"], &["gzip", "-dc"]),
    ];
    TOOLS
        .iter()
        .find(|(k, _, _)| *k == kind)
        .map(|(_, c, d)| if decompress { *d } else { *c })
        .ok_or_else(|| CmdError::api(func, format!("unknown compression type: {kind}")))
}

/// Compress through a host tool (what guestfish's appliance runs), for the formats no
/// crate here writes.
fn via_host_tool(
    func: &str,
    tool: &[&str],
    data: &[u8],
    out: &mut dyn Write,
) -> Result<(), CmdError> {
    let mut child = std::process::Command::new(tool[0])
        .args(&tool[1..])
        .stdin(std::process::Stdio::piped())
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
    let mut stdin = child.stdin.take().expect("piped stdin");
    let owned = data.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&owned));
    let mut stdout = child.stdout.take().expect("piped stdout");
    std::io::copy(&mut stdout, out).map_err(|e| CmdError::api(func, crate::os_error_text(&e)))?;
    let _ = writer.join();
    let status = child
        .wait()
        .map_err(|e| CmdError::api(func, crate::os_error_text(&e)))?;
    if !status.success() {
        return Err(CmdError::api(func, format!("{} failed", tool[0])));
    }
    Ok(())
}

fn tar_out(ctx: &mut Ctx<'_>, args: &Args) -> Result<Value, CmdError> {
    let func = "tar_out";
    let dir = args.text(0);
    let local = args.text(1);
    let opts = TarOptions {
        numeric_owner: args.opt_bool("numericowner").unwrap_or(false),
        xattrs: args.opt_bool("xattrs").unwrap_or(false),
        excludes: match args.opt("excludes") {
            Some(super::ArgValue::List(l)) => l.clone(),
            _ => Vec::new(),
        },
    };
    let compress = args.opt_text("compress");
    with_host_out(ctx, func, &local, |s, out| match compress.as_deref() {
        None | Some("") => tar_tree(s, func, &dir, &opts, out),
        Some("gzip") => {
            let mut gz = flate2::write::GzEncoder::new(out, flate2::Compression::default());
            tar_tree(s, func, &dir, &opts, &mut gz)?;
            gz.finish()
                .map(|_| ())
                .map_err(|e| CmdError::api(func, crate::os_error_text(&e)))
        }
        Some(kind) => {
            let tool = host_tool(func, kind, false)?;
            let mut tarball = Vec::new();
            tar_tree(s, func, &dir, &opts, &mut tarball)?;
            via_host_tool(func, tool, &tarball, out)
        }
    })?;
    Ok(Value::Unit)
}

/// `tar-out`.
pub static TAR_OUT: CommandSpec = CommandSpec {
    name: "tar-out",
    aliases: &["tar-out-opts"],
    args: &[
        arg("directory", ArgKind::String),
        arg("tarfile", ArgKind::FileOut),
    ],
    optargs: &[
        arg("compress", ArgKind::String),
        arg("numericowner", ArgKind::Bool),
        arg("excludes", ArgKind::StringList),
        arg("xattrs", ArgKind::Bool),
        arg("selinux", ArgKind::Bool),
        arg("acls", ArgKind::Bool),
    ],
    arity: Arity::Declared,
    free_synopsis: "",
    ret: RetType::Err,
    shortdesc: "pack directory into tarfile",
    longdesc: "Write the guest directory as a tar archive (GNU format) to a host file, - for \
               standard output. compress: gzip (native), or zstd, xz, bzip2, lzop, lzma, \
               compress through the host's tool. numericowner:true leaves out owner names; \
               excludes: skips paths matching the wildcards; xattrs:true stores extended \
               attributes (as GNU tar's SCHILY.xattr records).",
    examples: &["tar-out /etc etc.tar"],
    handler: tar_out,
};

/// Set a host path's mode and times (not following a symlink).
fn finish_host(path: &Path, st: &Stat) -> std::io::Result<()> {
    use nix::sys::stat::{UtimensatFlags, utimensat};
    use nix::sys::time::TimeSpec;
    if st.file_type() != FileType::Symlink {
        std::fs::set_permissions(
            path,
            std::os::unix::fs::PermissionsExt::from_mode(st.mode & 0o7777),
        )?;
    }
    let ts = |t: crate::fs::Timespec| TimeSpec::new(t.sec, i64::from(t.nsec));
    utimensat(
        nix::fcntl::AT_FDCWD,
        path,
        &ts(st.atime),
        &ts(st.mtime),
        UtimensatFlags::NoFollowSymlink,
    )
    .map_err(std::io::Error::from)
}

/// Copy one guest node (recursively) to host path `dest`. `ancestors` are the directories
/// being copied above it (a crafted image may link a directory below itself).
fn copy_node(
    s: &Session,
    func: &str,
    node: &Node,
    dest: &Path,
    ancestors: &mut Vec<(usize, u64)>,
) -> Result<(), CmdError> {
    let host_err = |e: std::io::Error| {
        CmdError::api(
            func,
            format!("{}: {}", dest.display(), crate::os_error_text(&e)),
        )
    };
    let guest_err = |e: crate::fs::FsError| path_error(func, "", &node.path, &e);
    let st = s.vfs.stat(node).map_err(guest_err)?;
    match st.file_type() {
        FileType::Directory => {
            match std::fs::create_dir(dest) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dest.is_dir() => {}
                Err(e) => return Err(host_err(e)),
            }
            if ancestors.contains(&(node.mount, node.ino)) || ancestors.len() >= 2048 {
                return Err(CmdError::api(
                    func,
                    format!("{}: directory loop", node.path),
                ));
            }
            ancestors.push((node.mount, node.ino));
            for e in s.vfs.fs(node).read_dir(node.ino).map_err(guest_err)? {
                let child = s.vfs.child(node, &e.name, e.ino).map_err(guest_err)?;
                let name = std::ffi::OsStr::from_bytes(&e.name);
                copy_node(s, func, &child, &dest.join(name), ancestors)?;
            }
            ancestors.pop();
        }
        FileType::Regular => {
            let mut f = std::fs::File::create(dest).map_err(host_err)?;
            super::fsread::copy_file(s, func, &node.path, node, 0, st.size, &mut f)?;
        }
        FileType::Symlink => {
            let target = s.vfs.fs(node).read_link(node.ino).map_err(guest_err)?;
            let _ = std::fs::remove_file(dest);
            std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(&target), dest)
                .map_err(host_err)?;
        }
        // Device nodes, FIFOs and sockets are not recreated on the host.
        _ => return Ok(()),
    }
    finish_host(dest, &st).map_err(host_err)
}

use std::os::unix::ffi::OsStrExt;

/// `copy-out`.
pub static COPY_OUT: CommandSpec = CommandSpec {
    name: "copy-out",
    aliases: &[],
    args: &[],
    optargs: &[],
    arity: Arity::Free,
    free_synopsis: "remote [remote ...] localdir",
    ret: RetType::Err,
    shortdesc: "copy remote files or directories out of an image",
    longdesc: "Copy guest files or directories (recursively) into an existing host directory, \
               keeping modes and times. Guest symbolic links are copied as links and never \
               followed on the host; device files, FIFOs and sockets are skipped.",
    examples: &["copy-out /etc/hostname /etc/os-release ."],
    handler: |ctx, args| {
        let words = args.words();
        if words.len() < 2 {
            return Err(CmdError::Fish(
                "use 'copy-out remote [remote ...] localdir' to copy files out of the image\n"
                    .into(),
            ));
        }
        let (remotes, local) = words.split_at(words.len() - 1);
        let local = PathBuf::from(std::ffi::OsStr::from_bytes(local[0]));
        if !local.is_dir() {
            return Err(CmdError::Fish(format!(
                "copy-out: target '{}' is not a directory\n",
                local.display()
            )));
        }
        for r in remotes {
            let remote = String::from_utf8_lossy(r).into_owned();
            let node = resolve(ctx.session, "copy_out", "", &remote, true)?;
            // The name as given (a symlink is copied as what it points to, under its own
            // name, as guestfish does); `/` copies the root's contents.
            let base = remote
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .unwrap_or("");
            let dest = if base.is_empty() {
                local.clone()
            } else {
                local.join(base)
            };
            copy_node(ctx.session, "copy_out", &node, &dest, &mut Vec::new())?;
        }
        Ok(Value::Unit)
    },
};
