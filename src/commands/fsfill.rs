//! More file-changing commands, as guestfish's daemon does them (daemon/fill.c,
//! fallocate.c, file.c, mktemp.c, zero.c): fill, fill-pattern, fill-dir, fallocate,
//! fallocate64, pwrite, upload-offset, mkdtemp, mktemp, zero-free-space.

use super::fsread::{need_root, path_error};
use super::fswrite::{
    check_rw, make_dir, new_node, open_for_write, open_for_write_existing, parent_of,
};
use super::spec::{ArgKind, Arity, CommandSpec, RetType, arg, declared as cmd};
use super::{CmdError, Ctx, Value};
use crate::fs::{Errno, FsError};
use crate::session::Session;

/// How much fill and fill-pattern hand the filesystem at a time.
const CHUNK: usize = 1 << 20;

/// Write `len` bytes produced by `byte_at(offset)` from the start of `path` (created with
/// mode 0644 if missing, never truncated: open(O_WRONLY|O_CREAT)).
fn fill_with(
    ctx: &mut Ctx<'_>,
    func: &str,
    path: &str,
    len: u64,
    pattern: &[u8],
) -> Result<Value, CmdError> {
    let s = &*ctx.session;
    need_root(s, func)?;
    let node = open_for_write(s, path, false).map_err(|e| path_error(func, "open", path, &e))?;
    let fs = s.vfs.fs(&node);
    let mut chunk = Vec::with_capacity(CHUNK);
    while chunk.len() < CHUNK {
        chunk.extend_from_slice(pattern);
    }
    // Whole patterns per chunk, so every chunk starts at the pattern's first byte.
    chunk.truncate(CHUNK / pattern.len() * pattern.len());
    let mut at = 0u64;
    while at < len {
        let n = (len - at).min(chunk.len() as u64) as usize;
        fs.write(node.ino, at, &chunk[..n])
            .map_err(|e| path_error(func, "write", path, &e))?;
        at += n as u64;
        fs.checkpoint()
            .map_err(|e| path_error(func, "write", path, &e))?;
    }
    Ok(Value::Unit)
}

/// `fill`.
pub static FILL: CommandSpec = cmd(
    "fill",
    &[
        arg("c", ArgKind::Int),
        arg("len", ArgKind::Int),
        arg("path", ArgKind::Path),
    ],
    RetType::Err,
    "fill a file with octets",
    "Write LEN octets of value C (0..255) from the start of PATH, creating it if needed.",
    &["fill 0 1M /swapfile"],
    |ctx, args| {
        let (c, len) = (args.int(0), args.int(1));
        if !(0..=255).contains(&c) {
            return Err(CmdError::api(
                "fill",
                format!("{c}: byte number must be in range 0..255"),
            ));
        }
        if len < 0 {
            return Err(CmdError::api("fill", format!("{len}: length is < 0")));
        }
        fill_with(ctx, "fill", &args.text(2), len as u64, &[c as u8])
    },
);

/// `fill-pattern`.
pub static FILL_PATTERN: CommandSpec = cmd(
    "fill-pattern",
    &[
        arg("pattern", ArgKind::String),
        arg("len", ArgKind::Int),
        arg("path", ArgKind::Path),
    ],
    RetType::Err,
    "fill a file with a repeating pattern of bytes",
    "Write LEN bytes of PATTERN repeated (the last copy cut short) from the start of PATH.",
    &["fill-pattern abcdefgh 1000 /pattern"],
    |ctx, args| {
        let pattern = args.bytes(0).to_vec();
        let len = args.int(1);
        if pattern.is_empty() {
            return Err(CmdError::api(
                "fill_pattern",
                "pattern string must be non-empty",
            ));
        }
        if len < 0 {
            return Err(CmdError::api(
                "fill_pattern",
                format!("{len}: length is < 0"),
            ));
        }
        fill_with(ctx, "fill_pattern", &args.text(2), len as u64, &pattern)
    },
);

/// `fill-dir`.
pub static FILL_DIR: CommandSpec = cmd(
    "fill-dir",
    &[arg("dir", ArgKind::Path), arg("nr", ArgKind::Int)],
    RetType::Err,
    "fill a directory with empty files",
    "Create NR empty files named 00000000, 00000001, ... in DIR.",
    &["fill-dir /run 10"],
    |ctx, args| {
        let s = &*ctx.session;
        need_root(s, "fill_dir")?;
        let dir = args.text(0);
        for i in 0..args.int(1).max(0) {
            let name = format!("{}/{i:08}", dir.trim_end_matches('/'));
            open_for_write(s, &name, false)
                .map_err(|e| path_error("fill_dir", "create", &name, &e))?;
        }
        Ok(Value::Unit)
    },
);

fn fallocate(ctx: &mut Ctx<'_>, func: &str, path: &str, len: i64) -> Result<Value, CmdError> {
    let s = &*ctx.session;
    need_root(s, func)?;
    let node = open_for_write(s, path, true).map_err(|e| path_error(func, "open", path, &e))?;
    if len != 0 {
        let len = u64::try_from(len)
            .map_err(|_| CmdError::api(func, format!("{path}: {}", Errno::Invalid.text())))?;
        s.vfs
            .fs(&node)
            .allocate(node.ino, 0, len)
            .map_err(|e| path_error(func, "", path, &e))?;
    }
    Ok(Value::Unit)
}

/// `fallocate64`.
pub static FALLOCATE64: CommandSpec = cmd(
    "fallocate64",
    &[arg("path", ArgKind::Path), arg("len", ArgKind::Int64)],
    RetType::Err,
    "preallocate a file in the guest filesystem",
    "Create (or empty) PATH and reserve LEN bytes of zeros for it: unwritten extents on \
     ext4, zeroed blocks on ext2/ext3.",
    &["fallocate64 /swapfile 1M"],
    |ctx, args| fallocate(ctx, "fallocate64", &args.text(0), args.int(1)),
);

/// `fallocate` (deprecated).
pub static FALLOCATE: CommandSpec = cmd(
    "fallocate",
    &[arg("path", ArgKind::Path), arg("len", ArgKind::Int)],
    RetType::Err,
    "preallocate a file in the guest filesystem",
    "The same as fallocate64 with a 32-bit length (deprecated).",
    &["fallocate /swapfile 1M"],
    |ctx, args| {
        if args.int(1) < 0 {
            return Err(CmdError::api("fallocate", "length < 0"));
        }
        fallocate(ctx, "fallocate", &args.text(0), args.int(1))
    },
);

fn pwrite_at(
    ctx: &mut Ctx<'_>,
    func: &str,
    path: &str,
    data: &[u8],
    offset: i64,
) -> Result<usize, CmdError> {
    let s = &*ctx.session;
    need_root(s, func)?;
    if offset < 0 {
        return Err(CmdError::api(func, "offset is negative"));
    }
    let node = open_for_write_existing(s, path).map_err(|e| path_error(func, "open", path, &e))?;
    s.vfs
        .fs(&node)
        .write(node.ino, offset as u64, data)
        .map_err(|e| path_error(func, "pwrite", path, &e))?;
    Ok(data.len())
}

/// `pwrite`.
pub static PWRITE: CommandSpec = cmd(
    "pwrite",
    &[
        arg("path", ArgKind::Path),
        arg("content", ArgKind::String),
        arg("offset", ArgKind::Int64),
    ],
    RetType::Int,
    "write to part of a file",
    "Write CONTENT into the existing file PATH at byte OFFSET (the file grows if needed); \
     prints the number of bytes written.",
    &["pwrite /etc/hostname \"Hi\" 0"],
    |ctx, args| {
        let data = args.bytes(1).to_vec();
        let n = pwrite_at(ctx, "pwrite", &args.text(0), &data, args.int(2))?;
        Ok(Value::Int(n as i64))
    },
);

/// `upload-offset`.
pub static UPLOAD_OFFSET: CommandSpec = cmd(
    "upload-offset",
    &[
        arg("filename", ArgKind::FileIn),
        arg("remotefilename", ArgKind::Path),
        arg("offset", ArgKind::Int64),
    ],
    RetType::Err,
    "upload a file from the local machine with offset",
    "Write a host file (- for standard input) into PATH from byte OFFSET, creating it if \
     needed and leaving the rest of the file as it was.",
    &["upload-offset /etc/hostname /etc/motd 2"],
    |ctx, args| {
        let (local, remote, offset) = (args.text(0), args.text(1), args.int(2));
        let func = "upload_offset";
        if offset < 0 {
            return Err(CmdError::api(func, "offset is negative"));
        }
        let data = std::fs::read(&local)
            .map_err(|e| CmdError::api("open", format!("{local}: {}", crate::os_error_text(&e))))?;
        let s = &*ctx.session;
        need_root(s, func)?;
        let node =
            open_for_write(s, &remote, false).map_err(|e| path_error(func, "", &remote, &e))?;
        s.vfs
            .fs(&node)
            .write(node.ino, offset as u64, &data)
            .map_err(|e| path_error(func, "", &remote, &e))?;
        Ok(Value::Unit)
    },
);

/// Letters mkstemp picks from.
const TEMP_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// `template` with its trailing XXXXXX replaced by random letters (None: no XXXXXX).
fn fill_template(template: &str, suffix_len: usize) -> Option<String> {
    let stem_len = template.len().checked_sub(suffix_len)?;
    let stem = &template[..stem_len];
    if !stem.ends_with("XXXXXX") {
        return None;
    }
    let random = uuid::Uuid::new_v4();
    let letters: String = random.as_bytes()[..6]
        .iter()
        .map(|b| TEMP_CHARS[usize::from(*b) % TEMP_CHARS.len()] as char)
        .collect();
    Some(format!(
        "{}{letters}{}",
        &stem[..stem_len - 6],
        &template[stem_len..]
    ))
}

/// Create a uniquely named node from `template` (retrying names that exist).
fn make_temp(
    s: &Session,
    func: &str,
    template: &str,
    suffix_len: usize,
    create: &dyn Fn(&Session, &str) -> Result<(), FsError>,
) -> Result<String, CmdError> {
    for _ in 0..100 {
        let Some(name) = fill_template(template, suffix_len) else {
            return Err(CmdError::api(
                func,
                format!("{template}: {}", Errno::Invalid.text()),
            ));
        };
        match create(s, &name) {
            Ok(()) => return Ok(name),
            Err(e) if e.errno() == Some(Errno::Exists) => continue,
            Err(e) => return Err(path_error(func, "", template, &e)),
        }
    }
    Err(CmdError::api(
        func,
        format!("{template}: {}", Errno::Exists.text()),
    ))
}

/// `mkdtemp`.
pub static MKDTEMP: CommandSpec = cmd(
    "mkdtemp",
    &[arg("tmpl", ArgKind::Path)],
    RetType::String,
    "create a temporary directory",
    "Create a directory (mode 0700) named after TMPL, whose last six characters must be \
     XXXXXX and are replaced by random letters; prints its name.",
    &["mkdtemp /run/tmpXXXXXX"],
    |ctx, args| {
        let s = &*ctx.session;
        need_root(s, "mkdtemp")?;
        let name = make_temp(s, "mkdtemp", &args.text(0), 0, &|s, name| {
            make_dir(s, name, 0o700)
        })?;
        Ok(Value::String(name.into_bytes()))
    },
);

/// `mktemp`.
pub static MKTEMP: CommandSpec = CommandSpec {
    name: "mktemp",
    aliases: &[],
    args: &[arg("tmpl", ArgKind::Path)],
    optargs: &[arg("suffix", ArgKind::String)],
    arity: Arity::Declared,
    free_synopsis: "",
    ret: RetType::String,
    shortdesc: "create a temporary file",
    longdesc: "Create an empty file (mode 0600) named after TMPL (ending in XXXXXX, \
               replaced by random letters) followed by suffix:; prints its name.",
    examples: &["mktemp /run/tmpXXXXXX suffix:.conf"],
    handler: |ctx, args| {
        let s = &*ctx.session;
        need_root(s, "mktemp")?;
        let mut template = args.text(0);
        let mut suffix_len = 0;
        if let Some(suffix) = args.opt_text("suffix") {
            if !template.ends_with('X') {
                return Err(CmdError::api(
                    "mktemp",
                    format!("template {template} must end in X"),
                ));
            }
            suffix_len = suffix.len();
            template.push_str(&suffix);
        }
        let name = make_temp(s, "mktemp", &template, suffix_len, &|s, name| {
            let (parent, leaf) = parent_of(s, name)?;
            check_rw(s, &parent)?;
            let fs = s.vfs.fs(&parent);
            if fs.lookup(parent.ino, &leaf)?.is_some() {
                return Err(Errno::Exists.into());
            }
            fs.create(parent.ino, &leaf, &new_node(0o100600))?;
            Ok(())
        })?;
        Ok(Value::String(name.into_bytes()))
    },
};

/// `zero-free-space`.
pub static ZERO_FREE_SPACE: CommandSpec = cmd(
    "zero-free-space",
    &[arg("directory", ArgKind::Path)],
    RetType::Err,
    "zero free space in a filesystem",
    "Make every free block of the filesystem holding DIRECTORY read as zeros. rfish \
     walks the free-block bitmaps and releases the blocks in the image (holes, qcow2 zero \
     clusters) instead of filling the filesystem with a file of zeros.",
    &["zero-free-space /"],
    |ctx, args| {
        let s = &*ctx.session;
        let dir = args.text(0);
        need_root(s, "zero_free_space")?;
        let node = s
            .vfs
            .resolve(&dir, true)
            .map_err(|e| path_error("zero_free_space", "", &dir, &e))?;
        check_rw(s, &node).map_err(|e| path_error("zero_free_space", "", &dir, &e))?;
        s.vfs
            .fs(&node)
            .zero_free_space()
            .map_err(|e| path_error("zero_free_space", "", &dir, &e))?;
        Ok(Value::Unit)
    },
);
