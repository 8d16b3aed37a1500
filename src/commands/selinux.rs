//! SELinux labelling commands: selinux-relabel and setfiles (setfiles' behaviour, done
//! natively: the guest's file_contexts matched as libselinux matches it, security.selinux
//! written through the filesystem's write side), and rfish's selinux-label (what
//! matchpathcon would answer).

use std::collections::HashSet;

use super::fsread::{need_root, read_all};
use super::fswrite::check_rw;
use super::spec::{ArgKind, Arity, CommandSpec, RetType, arg};
use super::{Args, CmdError, Ctx, Value};
use crate::fs::{Errno, FileType, FsError};
use crate::selinux::matcher::Labeler;
use crate::selinux::spec::FileKind;
use crate::session::Session;

/// Directories the daemon always excludes (`setfiles -e`).
const EXCLUDED: &[&str] = &["/dev", "/proc", "/selinux", "/sys"];

fn kind_of(t: FileType) -> Option<FileKind> {
    Some(match t {
        FileType::Regular => FileKind::Regular,
        FileType::Directory => FileKind::Directory,
        FileType::CharDevice => FileKind::CharDevice,
        FileType::BlockDevice => FileKind::BlockDevice,
        FileType::Socket => FileKind::Socket,
        FileType::Fifo => FileKind::Fifo,
        FileType::Symlink => FileKind::Symlink,
        _ => return None,
    })
}

/// A guest file's content, `None` when it does not exist.
fn read_guest(s: &Session, path: &str) -> Option<Vec<u8>> {
    s.vfs.resolve(path, true).ok()?;
    read_all(s, "setfiles", path).ok()
}

/// Load the policy `specfile` names, refusing patterns rfish cannot translate.
fn load(s: &Session, func: &str, specfile: &str) -> Result<Labeler, CmdError> {
    let (labeler, bad) = crate::selinux::load(specfile, &|p| read_guest(s, p))
        .map_err(|e| CmdError::api(func, format!("setfiles: {e}")))?;
    if let Some(b) = bad.first() {
        return Err(CmdError::api(
            func,
            format!(
                "setfiles: {specfile}: line {}: rfish cannot translate the regular expression {}: {}",
                b.line, b.pattern, b.message
            ),
        ));
    }
    Ok(labeler)
}

/// The customizable types next to the spec file (`contexts/customizable_types`).
fn customizable_types(s: &Session, specfile: &str) -> HashSet<String> {
    let contexts = specfile
        .rsplit_once('/')
        .and_then(|(files, _)| files.rsplit_once('/'))
        .map(|(c, _)| c.to_string())
        .unwrap_or_default();
    read_guest(s, &format!("{contexts}/customizable_types"))
        .map(|t| {
            String::from_utf8_lossy(&t)
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn excluded(path: &str) -> bool {
    EXCLUDED
        .iter()
        .any(|e| path == *e || path.starts_with(&format!("{e}/")))
}

/// Relabel `paths` as setfiles does; returns how many inodes changed.
fn relabel(
    s: &Session,
    func: &str,
    specfile: &str,
    paths: &[String],
    force: bool,
) -> Result<usize, CmdError> {
    need_root(s, func)?;
    let labeler = load(s, func, specfile)?;
    let custom = customizable_types(s, specfile);
    let mut done: HashSet<(usize, u64)> = HashSet::new();
    let mut changed = 0;
    let mut first_error: Option<CmdError> = None;
    for top in paths {
        let node = s
            .vfs
            .resolve(top, false)
            .map_err(|e| CmdError::api(func, format!("setfiles: {top}: {e}")))?;
        check_rw(s, &node).map_err(|e| CmdError::api(func, format!("setfiles: {top}: {e}")))?;
        let mut nodes = vec![node.clone()];
        if s.vfs.stat(&node).map(|st| st.file_type()).ok() == Some(FileType::Directory) {
            let below = s
                .vfs
                .walk(&node, b"")
                .map_err(|e| CmdError::api(func, format!("setfiles: {top}: {e}")))?;
            // setfiles stays on the filesystems it was pointed at.
            nodes.extend(
                below
                    .into_iter()
                    .map(|(_, n)| n)
                    .filter(|n| n.mount == node.mount),
            );
        }
        // A progress bar on a terminal for big trees (hidden when stderr is not one).
        let bar = (nodes.len() > 5000 && !s.no_progress_bars).then(|| {
            indicatif::ProgressBar::with_draw_target(
                Some(nodes.len() as u64),
                indicatif::ProgressDrawTarget::stderr(),
            )
        });
        for n in nodes {
            if let Some(b) = &bar {
                b.inc(1);
            }
            if excluded(&n.path) || !done.insert((n.mount, n.ino)) {
                continue;
            }
            match label_one(s, &labeler, &custom, &n, force) {
                Ok(true) => {
                    changed += 1;
                    // Keep each transaction within the journal on big trees.
                    if changed % 256 == 0 {
                        s.vfs
                            .fs(&n)
                            .checkpoint()
                            .map_err(|e| CmdError::api(func, format!("setfiles: {e}")))?;
                    }
                }
                Ok(false) => {}
                Err(e) => {
                    first_error.get_or_insert_with(|| {
                        CmdError::api(func, format!("setfiles: {}: {e}", n.path))
                    });
                }
            }
        }
        if let Some(b) = bar {
            b.finish_and_clear();
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(changed),
    }
}

/// Label one inode; true when its label changed.
fn label_one(
    s: &Session,
    labeler: &Labeler,
    custom: &HashSet<String>,
    n: &crate::fs::vfs::Node,
    force: bool,
) -> Result<bool, FsError> {
    let fs = s.vfs.fs(n);
    let st = fs.stat(n.ino)?;
    let Some(want) = labeler.lookup(&n.path, kind_of(st.file_type())) else {
        return Ok(false);
    };
    let old = fs
        .xattrs(n.ino)?
        .into_iter()
        .find(|(k, _)| k == b"security.selinux")
        .map(|(_, v)| {
            let end = v.iter().position(|&b| b == 0).unwrap_or(v.len());
            String::from_utf8_lossy(&v[..end]).into_owned()
        });
    let new = match &old {
        Some(o) if !force => {
            if crate::selinux::context_type(o).is_some_and(|t| custom.contains(t)) {
                return Ok(false);
            }
            crate::selinux::with_type_of(o, want)
        }
        _ => want.to_string(),
    };
    if old.as_deref() == Some(new.as_str()) {
        return Ok(false);
    }
    let mut value = new.into_bytes();
    value.push(0);
    fs.set_xattr(n.ino, b"security.selinux", Some(&value))?;
    Ok(true)
}

/// `selinux-relabel`.
pub static SELINUX_RELABEL: CommandSpec = CommandSpec {
    name: "selinux-relabel",
    aliases: &[],
    args: &[arg("specfile", ArgKind::String), arg("path", ArgKind::Path)],
    optargs: &[arg("force", ArgKind::Bool)],
    arity: Arity::Declared,
    free_synopsis: "",
    ret: RetType::Err,
    shortdesc: "relabel parts of the filesystem",
    longdesc: "Set the SELinux labels under PATH from the guest's file_contexts SPECFILE, as \
               setfiles does, natively and in well under a second: without force:true only \
               the type of an existing label changes (and customizable types are left \
               alone); with it the whole context is replaced. Other mounted filesystems, \
               /dev, /proc, /sys and /selinux are not entered.",
    examples: &["selinux-relabel /etc/selinux/targeted/contexts/files/file_contexts /"],
    handler: |ctx, args| {
        let paths = [args.text(1)];
        relabel(
            ctx.session,
            "selinux_relabel",
            &args.text(0),
            &paths,
            args.opt_bool("force").unwrap_or(false),
        )?;
        Ok(Value::Unit)
    },
};

/// `setfiles`.
pub static SETFILES: CommandSpec = CommandSpec {
    name: "setfiles",
    aliases: &[],
    args: &[
        arg("specfile", ArgKind::String),
        arg("paths", ArgKind::StringList),
    ],
    optargs: &[arg("force", ArgKind::Bool)],
    arity: Arity::Declared,
    free_synopsis: "",
    ret: RetType::Err,
    shortdesc: "relabel parts of the filesystem",
    longdesc: "selinux-relabel for several paths at once (each a tree to label).",
    examples: &["setfiles /etc/selinux/targeted/contexts/files/file_contexts '/etc /run'"],
    handler: setfiles,
};

fn setfiles(ctx: &mut Ctx<'_>, args: &Args) -> Result<Value, CmdError> {
    let paths: Vec<String> = args
        .list(1)
        .iter()
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect();
    if paths.is_empty() {
        return Err(CmdError::api("setfiles", "paths parameter is empty"));
    }
    relabel(
        ctx.session,
        "setfiles",
        &args.text(0),
        &paths,
        args.opt_bool("force").unwrap_or(false),
    )?;
    Ok(Value::Unit)
}

/// The guest's file_contexts: `/etc/selinux/<SELINUXTYPE>/contexts/files/file_contexts`.
fn guest_specfile(s: &Session) -> String {
    let kind = read_guest(s, "/etc/selinux/config")
        .and_then(|c| {
            String::from_utf8_lossy(&c).lines().find_map(|l| {
                l.trim()
                    .strip_prefix("SELINUXTYPE=")
                    .map(|v| v.trim().trim_matches('"').to_string())
            })
        })
        .unwrap_or_else(|| "targeted".into());
    format!("/etc/selinux/{kind}/contexts/files/file_contexts")
}

/// `selinux-label`.
pub static SELINUX_LABEL: CommandSpec = CommandSpec {
    name: "selinux-label",
    aliases: &[],
    args: &[arg("path", ArgKind::Path)],
    optargs: &[
        arg("specfile", ArgKind::String),
        arg("mode", ArgKind::String),
    ],
    arity: Arity::Declared,
    free_synopsis: "",
    ret: RetType::String,
    shortdesc: "the SELinux context the policy gives a path",
    longdesc: "rfish extra, like matchpathcon: the context the guest's file_contexts (the \
               policy /etc/selinux/config names, or specfile:) assigns to PATH, <<none>> \
               when it assigns none. The file type comes from the file when it exists, else \
               from mode: (file, dir, lnk, char, block, pipe, socket; default: any).",
    examples: &["selinux-label /etc/passwd"],
    handler: selinux_label,
};

fn selinux_label(ctx: &mut Ctx<'_>, args: &Args) -> Result<Value, CmdError> {
    let s = &*ctx.session;
    let func = "selinux_label";
    need_root(s, func)?;
    let path = args.text(0);
    let specfile = args
        .opt_text("specfile")
        .unwrap_or_else(|| guest_specfile(s));
    let labeler = load(s, func, &specfile)?;
    let kind = match args.opt_text("mode") {
        Some(m) => Some(
            FileKind::from_name(&m)
                .ok_or_else(|| CmdError::api(func, format!("{m}: {}", Errno::Invalid.text())))?,
        ),
        None => s
            .vfs
            .resolve(&path, false)
            .ok()
            .and_then(|n| s.vfs.stat(&n).ok())
            .and_then(|st| kind_of(st.file_type())),
    };
    let label = labeler.lookup(&path, kind).unwrap_or("<<none>>");
    Ok(Value::String(label.as_bytes().to_vec()))
}

/// Why the automatic relabel did not happen.
fn try_autorelabel(s: &Session) -> Result<bool, String> {
    if s.vfs.root().is_err() {
        return Ok(false);
    }
    let exists = |p: &str| s.vfs.resolve(p, false).is_ok();
    if !exists("/usr/sbin/load_policy") || !exists("/etc/selinux/config") {
        return Ok(false);
    }
    let config = read_guest(s, "/etc/selinux/config").unwrap_or_default();
    let config = String::from_utf8_lossy(&config);
    let value = |key: &str| {
        config.lines().find_map(|l| {
            l.trim()
                .strip_prefix(key)
                .and_then(|v| v.strip_prefix('='))
                .map(|v| v.trim().trim_matches('"').to_string())
        })
    };
    if value("SELINUX").as_deref() == Some("disabled") {
        return Err("SELinux is disabled in /etc/selinux/config".into());
    }
    let specfile = guest_specfile(s);
    if !exists(&specfile) {
        return Err(format!("{specfile}: No such file or directory"));
    }
    // setfiles does not cross filesystems: label every writable mountpoint.
    let mountpoints: Vec<String> = s
        .vfs
        .mounts()
        .iter()
        .filter(|m| !m.read_only && m.fs.writable())
        .map(|m| m.mountpoint.clone())
        .collect();
    relabel(s, "selinux_relabel", &specfile, &mountpoints, false).map_err(|e| match e {
        CmdError::Fish(m) | CmdError::WrongArgs(m) | CmdError::Api(m) => m,
        CmdError::Silent => String::new(),
    })?;
    Ok(true)
}

/// `--selinux-relabel`: relabel an SELinux guest at the end of the session as
/// virt-customize does; when that fails, `/.autorelabel` makes the guest relabel itself
/// at its next boot (and a successful relabel removes a stale one).
pub fn autorelabel(s: &Session) {
    let outcome = try_autorelabel(s);
    let result = match &outcome {
        Ok(false) => Ok(()),
        Ok(true) => match super::fswrite::unlink(s, "/.autorelabel") {
            Err(e) if e.errno() == Some(Errno::NotFound) => Ok(()),
            other => other,
        },
        Err(why) => {
            eprintln!(
                "rfish: warning: SELinux relabelling failed ({why}); the guest will relabel at its next boot"
            );
            super::fswrite::open_for_write(s, "/.autorelabel", false).map(drop)
        }
    };
    let committed = result.and_then(|()| s.vfs.commit_all());
    if let Err(e) = committed {
        s.vfs.rollback_all();
        eprintln!("rfish: warning: SELinux relabelling: {e}");
    }
}
