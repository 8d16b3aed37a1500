//! Listing guest directories: ls, ll, find, du, glob-expand — with guestfish's orders
//! (sorted byte-wise) and the appliance's `ls -la` format for ll.

use super::fsread::{path_error, resolve};
use super::spec::{ArgKind, ArgSpec, Arity, CommandSpec, RetType, arg, declared as cmd};
use super::{Args, CmdError, Ctx, Value};
use crate::fs::vfs::{Node, Vfs};
use crate::fs::{FileType, Stat};
use crate::session::Session;

static DIRECTORY: &[ArgSpec] = &[arg("directory", ArgKind::Path)];

/// The entries of a directory, sorted byte-wise, as (name, node-path).
fn entries(
    s: &Session,
    func: &str,
    what: &str,
    dir: &str,
) -> Result<(Node, Vec<crate::fs::DirEntry>), CmdError> {
    let node = resolve(s, func, what, dir, true)?;
    let mut list = s
        .vfs
        .fs(&node)
        .read_dir(node.ino)
        .map_err(|e| path_error(func, what, dir, &e))?;
    list.sort_by(|a, b| a.name.cmp(&b.name));
    Ok((node, list))
}

/// `ls`.
pub static LS: CommandSpec = cmd(
    "ls",
    DIRECTORY,
    RetType::StringList,
    "list the files in a directory",
    "The names in a directory, sorted, including dot files but not . and ..",
    &["ls /"],
    |ctx, args| {
        let (_, list) = entries(ctx.session, "ls0", "opendir", &args.text(0))?;
        Ok(Value::StringList(
            list.into_iter().map(|e| e.name).collect(),
        ))
    },
);

/// `ls0`.
pub static LS0: CommandSpec = cmd(
    "ls0",
    &[
        arg("dir", ArgKind::Path),
        arg("filenames", ArgKind::FileOut),
    ],
    RetType::Err,
    "get list of files in a directory",
    "Write the names in a directory, each followed by a NUL byte, to a host file (- for \
     standard output).",
    &["ls0 / names.bin"],
    |ctx, args| {
        let dir = args.text(0);
        let (_, list) = entries(ctx.session, "ls0", "opendir", &dir)?;
        let names: Vec<Vec<u8>> = list.into_iter().map(|e| e.name).collect();
        super::fsread::with_host_out(ctx, "ls0", &args.text(1), |_, out| {
            for n in &names {
                out.write_all(n)
                    .and_then(|_| out.write_all(b"\0"))
                    .map_err(|e| CmdError::api("ls0", crate::os_error_text(&e)))?;
            }
            Ok(())
        })?;
        Ok(Value::Unit)
    },
);

fn mode_string(st: &Stat) -> String {
    let m = st.mode;
    let kind = match st.file_type() {
        FileType::Directory => 'd',
        FileType::Symlink => 'l',
        FileType::CharDevice => 'c',
        FileType::BlockDevice => 'b',
        FileType::Fifo => 'p',
        FileType::Socket => 's',
        _ => '-',
    };
    let bit = |mask: u32, c: char| if m & mask != 0 { c } else { '-' };
    let special = |x: bool, set: char, exec_mask: u32| {
        let exec = m & exec_mask != 0;
        match (x, exec) {
            (true, true) => set,
            (true, false) => set.to_ascii_uppercase(),
            (false, true) => 'x',
            (false, false) => '-',
        }
    };
    let mut s = String::with_capacity(10);
    s.push(kind);
    s.push(bit(0o400, 'r'));
    s.push(bit(0o200, 'w'));
    s.push(special(m & 0o4000 != 0, 's', 0o100));
    s.push(bit(0o040, 'r'));
    s.push(bit(0o020, 'w'));
    s.push(special(m & 0o2000 != 0, 's', 0o010));
    s.push(bit(0o004, 'r'));
    s.push(bit(0o002, 'w'));
    s.push(special(m & 0o1000 != 0, 't', 0o001));
    s
}

/// `ls -l`'s date: `Mon dd HH:MM` within six months of now, else `Mon dd  YYYY` (UTC, as
/// in guestfish's appliance).
fn ls_date(t: i64, now: i64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (y, mo, d, h, mi, _) = civil(t);
    let six_months = 31_556_952 / 2;
    if t > now || now - t > six_months {
        format!("{} {d:>2}  {y}", MONTHS[mo as usize - 1])
    } else {
        format!("{} {d:>2} {h:02}:{mi:02}", MONTHS[mo as usize - 1])
    }
}

/// UTC calendar fields of a Unix time: (year, month, day, hour, minute, second).
pub(crate) fn civil(t: i64) -> (i64, u32, u32, u32, u32, u32) {
    let days = t.div_euclid(86400);
    let secs = t.rem_euclid(86400);
    // Howard Hinnant's days-from-civil inverse.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = if m <= 2 { y + 1 } else { y };
    (
        y,
        m,
        d,
        (secs / 3600) as u32,
        (secs % 3600 / 60) as u32,
        (secs % 60) as u32,
    )
}

struct LsRow {
    mode: String,
    acl: bool,
    /// The SELinux context (security.selinux without its NUL).
    context: Option<String>,
    nlink: String,
    uid: String,
    gid: String,
    size: Result<String, (String, String)>,
    date: String,
    name: Vec<u8>,
    target: Option<Vec<u8>>,
    blocks: u64,
}

fn ls_row(vfs: &Vfs, node: &Node, name: &[u8], now: i64) -> crate::fs::FsResult<LsRow> {
    let fs = vfs.fs(node);
    let st = fs.stat(node.ino)?;
    let xattrs = fs.xattrs(node.ino).unwrap_or_default();
    let acl = xattrs
        .iter()
        .any(|(n, v)| n == b"system.posix_acl_access" && v.len() > 4 + 3 * 8)
        || xattrs.iter().any(|(n, _)| n == b"system.posix_acl_default");
    let context = xattrs
        .iter()
        .find(|(n, _)| n == b"security.selinux")
        .map(|(_, v)| String::from_utf8_lossy(v.strip_suffix(b"\0").unwrap_or(v)).into_owned());
    let kind = st.file_type();
    let size = if matches!(kind, FileType::CharDevice | FileType::BlockDevice) {
        Err((st.rdev.0.to_string(), st.rdev.1.to_string()))
    } else {
        Ok(st.size.to_string())
    };
    let target = (kind == FileType::Symlink)
        .then(|| fs.read_link(node.ino))
        .transpose()?;
    Ok(LsRow {
        mode: mode_string(&st),
        acl,
        context,
        nlink: st.nlink.to_string(),
        uid: st.uid.to_string(),
        gid: st.gid.to_string(),
        size,
        date: ls_date(st.mtime.sec, now),
        name: name.to_vec(),
        target,
        blocks: st.blocks,
    })
}

/// The appliance's `ls -la DIR` (`ls -laZ` with `contexts`) — numeric owners: guestfish's
/// appliance has no passwd entries for the guest's users.
pub(crate) fn ls_la(
    s: &Session,
    func: &str,
    dir: &str,
    contexts: bool,
) -> Result<Vec<u8>, CmdError> {
    let (node, list) = entries(s, func, "", dir)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let err = |e: crate::fs::FsError| path_error(func, "", dir, &e);
    let parent = s
        .vfs
        .resolve(&format!("{}/..", node.path), true)
        .map_err(err)?;
    let mut rows = vec![
        ls_row(&s.vfs, &node, b".", now).map_err(err)?,
        ls_row(&s.vfs, &parent, b"..", now).map_err(err)?,
    ];
    for e in &list {
        let c = s.vfs.child(&node, &e.name, e.ino).map_err(err)?;
        rows.push(ls_row(&s.vfs, &c, &e.name, now).map_err(err)?);
    }
    let w = |f: &dyn Fn(&LsRow) -> usize| rows.iter().map(f).max().unwrap_or(0);
    // ls marks a file with an ACL '+', one with only a security context '.'; when any row
    // is marked, the others get a space.
    let any_mark = rows.iter().any(|r| r.acl || r.context.is_some());
    let ctx_w = w(&|r| r.context.as_ref().map_or(1, String::len));
    let nlink_w = w(&|r| r.nlink.len());
    let uid_w = w(&|r| r.uid.len());
    let gid_w = w(&|r| r.gid.len());
    let major_w = w(&|r| r.size.as_ref().err().map_or(0, |(a, _)| a.len()));
    let minor_w = w(&|r| r.size.as_ref().err().map_or(0, |(_, b)| b.len()));
    let dev_w = if major_w > 0 {
        major_w + 2 + minor_w
    } else {
        0
    };
    let size_w = w(&|r| r.size.as_ref().map_or(0, |s| s.len())).max(dev_w);
    let total: u64 = rows.iter().map(|r| r.blocks.div_ceil(2)).sum();
    let mut out = format!("total {total}\n").into_bytes();
    for r in &rows {
        let size = match &r.size {
            Ok(s) => format!("{s:>size_w$}"),
            Err((a, b)) => format!(
                "{:>w$}",
                format!("{a:>major_w$}, {b:>minor_w$}"),
                w = size_w
            ),
        };
        let acl = match (any_mark, r.acl, r.context.is_some()) {
            (false, _, _) => "",
            (true, true, _) => "+",
            (true, false, true) => ".",
            (true, false, false) => " ",
        };
        let context = if contexts {
            format!(" {:<ctx_w$}", r.context.as_deref().unwrap_or("?"))
        } else {
            String::new()
        };
        out.extend_from_slice(
            format!(
                "{}{acl} {:>nlink_w$} {:>uid_w$} {:>gid_w$}{context} {size} {} ",
                r.mode, r.nlink, r.uid, r.gid, r.date
            )
            .as_bytes(),
        );
        out.extend_from_slice(&r.name);
        if let Some(t) = &r.target {
            out.extend_from_slice(b" -> ");
            out.extend_from_slice(t);
        }
        out.push(b'\n');
    }
    Ok(out)
}

/// `ll`.
pub static LL: CommandSpec = cmd(
    "ll",
    DIRECTORY,
    RetType::String,
    "list the files in a directory (long format)",
    "The directory as ls -la prints it, with numeric owners and UTC times.",
    &["ll /"],
    |ctx, args| {
        Ok(Value::String(ls_la(
            ctx.session,
            "ll",
            &args.text(0),
            false,
        )?))
    },
);

/// `llz`.
pub static LLZ: CommandSpec = cmd(
    "llz",
    DIRECTORY,
    RetType::String,
    "list the files in a directory (long format with SELinux contexts)",
    "The directory as ls -laZ prints it: ll plus each file's SELinux context (? for none).",
    &["llz /"],
    |ctx, args| {
        Ok(Value::String(ls_la(
            ctx.session,
            "llz",
            &args.text(0),
            true,
        )?))
    },
);

/// Every path below `node`, relative to it (see [`Vfs::walk`]).
pub(crate) fn walk(
    vfs: &Vfs,
    node: &Node,
    prefix: &[u8],
    out: &mut Vec<(Vec<u8>, Node)>,
) -> crate::fs::FsResult<()> {
    out.extend(vfs.walk(node, prefix)?);
    Ok(())
}

fn find_paths(s: &Session, func: &str, dir: &str) -> Result<Vec<Vec<u8>>, CmdError> {
    let node = resolve(s, func, "", dir, true)?;
    let mut out = Vec::new();
    walk(&s.vfs, &node, b"", &mut out).map_err(|e| path_error(func, "", dir, &e))?;
    let mut paths: Vec<Vec<u8>> = out.into_iter().map(|(p, _)| p).collect();
    paths.sort();
    Ok(paths)
}

/// `find`.
pub static FIND: CommandSpec = cmd(
    "find",
    DIRECTORY,
    RetType::StringList,
    "find all files and directories",
    "Every file and directory below DIRECTORY, recursively, as sorted paths relative to it \
     (each starting with /). Symbolic links are listed, not followed.",
    &["find /etc"],
    |ctx, args| {
        Ok(Value::StringList(find_paths(
            ctx.session,
            "find",
            &args.text(0),
        )?))
    },
);

/// `find0`.
pub static FIND0: CommandSpec = cmd(
    "find0",
    &[
        arg("directory", ArgKind::Path),
        arg("files", ArgKind::FileOut),
    ],
    RetType::Err,
    "find all files and directories, returning NUL-separated list",
    "Like find, but the paths (without the leading /) are written to a host file (- for \
     standard output), each followed by a NUL byte.",
    &["find0 /etc files.bin"],
    |ctx, args| {
        let paths = find_paths(ctx.session, "find0", &args.text(0))?;
        super::fsread::with_host_out(ctx, "find0", &args.text(1), |_, out| {
            for p in &paths {
                out.write_all(&p[1..])
                    .and_then(|_| out.write_all(b"\0"))
                    .map_err(|e| CmdError::api("find0", crate::os_error_text(&e)))?;
            }
            Ok(())
        })?;
        Ok(Value::Unit)
    },
);

/// `du`.
pub static DU: CommandSpec = cmd(
    "du",
    &[arg("path", ArgKind::Path)],
    RetType::Int64,
    "estimate file space usage",
    "The space a file or tree uses, in KiB, as du -s counts it (hard links once).",
    &["du /etc"],
    |ctx, args| {
        let s = &*ctx.session;
        let path = args.text(0);
        let node = resolve(s, "du", "", &path, true)?;
        let err = |e: crate::fs::FsError| path_error("du", "", &path, &e);
        let st = s.vfs.stat(&node).map_err(err)?;
        let mut total = st.blocks;
        if st.file_type() == FileType::Directory {
            let mut all = Vec::new();
            walk(&s.vfs, &node, b"", &mut all).map_err(err)?;
            let mut seen = std::collections::HashSet::new();
            for (_, n) in all {
                let st = s.vfs.stat(&n).map_err(err)?;
                if st.nlink > 1
                    && st.file_type() != FileType::Directory
                    && !seen.insert((n.mount, n.ino))
                {
                    continue;
                }
                total += st.blocks;
            }
        }
        Ok(Value::Int(total.div_ceil(2) as i64))
    },
);

/// Does `name` match the shell pattern `pat` (`*`, `?`, `[...]`, `\\` escapes; a leading
/// `.` must be matched explicitly)?
pub(crate) fn glob_match(pat: &[u8], name: &[u8]) -> bool {
    if name.first() == Some(&b'.') && pat.first() != Some(&b'.') {
        return false;
    }
    fn class(pat: &[u8], c: u8) -> Option<(bool, usize)> {
        // pat starts after '['; returns (matched, bytes consumed including ']').
        let mut i = 0;
        let negate = matches!(pat.first(), Some(b'!') | Some(b'^'));
        if negate {
            i += 1;
        }
        let mut matched = false;
        let mut first = true;
        while i < pat.len() {
            if pat[i] == b']' && !first {
                return Some((matched != negate, i + 1));
            }
            first = false;
            let lo = pat[i];
            if i + 2 < pat.len() && pat[i + 1] == b'-' && pat[i + 2] != b']' {
                if lo <= c && c <= pat[i + 2] {
                    matched = true;
                }
                i += 3;
            } else {
                if lo == c {
                    matched = true;
                }
                i += 1;
            }
        }
        None
    }
    fn m(p: &[u8], n: &[u8]) -> bool {
        match p.first() {
            None => n.is_empty(),
            Some(b'*') => (0..=n.len()).any(|k| m(&p[1..], &n[k..])),
            Some(b'?') => !n.is_empty() && m(&p[1..], &n[1..]),
            Some(b'[') if !n.is_empty() => match class(&p[1..], n[0]) {
                Some((true, used)) => m(&p[1 + used..], &n[1..]),
                Some((false, _)) => false,
                None => n[0] == b'[' && m(&p[1..], &n[1..]),
            },
            Some(b'\\') if p.len() > 1 => n.first() == Some(&p[1]) && m(&p[2..], &n[1..]),
            Some(&c) => n.first() == Some(&c) && m(&p[1..], &n[1..]),
        }
    }
    m(pat, name)
}

fn has_magic(c: &[u8]) -> bool {
    c.iter().any(|b| matches!(b, b'*' | b'?' | b'['))
}

/// `glob-expand`.
pub static GLOB_EXPAND: CommandSpec = CommandSpec {
    name: "glob-expand",
    aliases: &["glob-expand-opts"],
    args: &[arg("pattern", ArgKind::Path)],
    optargs: &[arg("directoryslash", ArgKind::Bool)],
    arity: Arity::Declared,
    free_synopsis: "",
    ret: RetType::StringList,
    shortdesc: "expand a wildcard path",
    longdesc: "The guest paths matching a shell wildcard pattern (*, ?, [...]), sorted; \
               directories get a trailing / unless directoryslash:false. No match gives an \
               empty list.",
    examples: &["glob-expand /etc/*.conf"],
    handler: glob_expand,
};

fn glob_expand(ctx: &mut Ctx<'_>, args: &Args) -> Result<Value, CmdError> {
    let s = &*ctx.session;
    super::fsread::need_root(s, "glob_expand")?;
    let pattern = args.bytes(0).to_vec();
    let slash = args.opt_bool("directoryslash").unwrap_or(true);
    let comps: Vec<&[u8]> = pattern
        .split(|&c| c == b'/')
        .filter(|c| !c.is_empty())
        .collect();
    let mut current: Vec<Vec<u8>> = vec![Vec::new()];
    for comp in &comps {
        let mut next = Vec::new();
        for base in &current {
            let dir = if base.is_empty() {
                "/".to_string()
            } else {
                String::from_utf8_lossy(base).into_owned()
            };
            if !has_magic(comp) {
                let mut p = base.clone();
                p.push(b'/');
                p.extend_from_slice(comp);
                if s.vfs.resolve(&String::from_utf8_lossy(&p), false).is_ok() {
                    next.push(p);
                }
                continue;
            }
            let Ok(node) = s.vfs.resolve(&dir, true) else {
                continue;
            };
            let Ok(list) = s.vfs.fs(&node).read_dir(node.ino) else {
                continue;
            };
            for e in list {
                if glob_match(comp, &e.name) {
                    let mut p = base.clone();
                    p.push(b'/');
                    p.extend_from_slice(&e.name);
                    next.push(p);
                }
            }
        }
        current = next;
    }
    if comps.is_empty() {
        current = vec![b"/".to_vec()];
    }
    let mut out: Vec<Vec<u8>> = Vec::new();
    for mut p in current {
        let is_dir = s
            .vfs
            .resolve(&String::from_utf8_lossy(&p), true)
            .and_then(|n| s.vfs.stat(&n))
            .map(|st| st.file_type() == FileType::Directory)
            .unwrap_or(false);
        if slash && is_dir && !p.ends_with(b"/") {
            p.push(b'/');
        }
        out.push(p);
    }
    out.sort();
    Ok(Value::StringList(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_globs() {
        assert_eq!(civil(0), (1970, 1, 1, 0, 0, 0));
        assert_eq!(civil(1_600_000_000), (2020, 9, 13, 12, 26, 40));
        assert_eq!(civil(-1_794_967_296), (1913, 2, 13, 21, 58, 24));
        assert_eq!(ls_date(1_600_000_000, 1_795_000_000), "Sep 13  2020");
        assert_eq!(ls_date(1_794_999_000, 1_795_000_000), "Nov 18 10:50");
        assert!(glob_match(b"*.txt", b"a.txt"));
        assert!(!glob_match(b"*.txt", b".a.txt"));
        assert!(glob_match(b"[a-c]?", b"bx"));
        assert!(!glob_match(b"[!a-c]?", b"bx"));
    }
}
