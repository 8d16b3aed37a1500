//! ext2-family attributes: get-e2attrs/set-e2attrs (lsattr/chattr letters), the inode
//! generation, and the volume label and UUID (set-label, set-uuid, set-uuid-random and
//! the deprecated set-e2label, get-e2label, set-e2uuid, get-e2uuid). Messages follow
//! guestfish 1.48's daemon (daemon/ext2.c, labels.c, uuids.c).

use super::fsread::need_root;
use super::fswrite::check_rw;
use super::spec::{ArgKind, Arity, CommandSpec, RetType, arg, declared as cmd};
use super::{Args, CmdError, Ctx, Value};
use crate::fs::{FsError, SetAttr};

/// lsattr's letters (e2fsprogs lib/e2p/pf.c) and the flags they stand for.
const LETTERS: &[(u32, u8)] = &[
    (0x1, b's'),
    (0x2, b'u'),
    (0x8, b'S'),
    (0x10000, b'D'),
    (0x10, b'i'),
    (0x20, b'a'),
    (0x40, b'd'),
    (0x80, b'A'),
    (0x4, b'c'),
    (0x800, b'E'),
    (0x4000, b'j'),
    (0x1000, b'I'),
    (0x8000, b't'),
    (0x20000, b'T'),
    (0x80000, b'e'),
    (0x80_0000, b'C'),
    (0x200_0000, b'x'),
    (0x4000_0000, b'F'),
    (0x1000_0000, b'N'),
    (0x2000_0000, b'P'),
    (0x10_0000, b'V'),
    (0x400, b'm'),
];

/// The flags FS_IOC_GETFLAGS shows (the kernel's EXT4_FL_USER_VISIBLE).
const VISIBLE: u32 = 0x705b_dfff;

/// get-e2attrs' answer: the letters lsattr prints, dashes removed, sorted.
fn letters(flags: u32) -> String {
    let mut out: Vec<u8> = LETTERS
        .iter()
        .filter(|(f, _)| flags & VISIBLE & f != 0)
        .map(|&(_, c)| c)
        .collect();
    out.sort_unstable();
    String::from_utf8(out).unwrap_or_default()
}

fn node_of_path(
    ctx: &Ctx<'_>,
    func: &str,
    tool: &str,
    path: &str,
) -> Result<crate::fs::vfs::Node, CmdError> {
    need_root(ctx.session, func)?;
    ctx.session.vfs.resolve(path, false).map_err(|e| {
        // The daemon's tools run on /sysroot and say so.
        CmdError::api(
            func,
            format!("{tool}: {path}: {tool}: {e} while trying to stat /sysroot{path}"),
        )
    })
}

fn tool_error(func: &str, tool: &str, path: &str, e: &FsError) -> CmdError {
    CmdError::api(func, format!("{tool}: {path}: {e}"))
}

/// `get-e2attrs`.
pub static GET_E2ATTRS: CommandSpec = cmd(
    "get-e2attrs",
    &[arg("file", ArgKind::Path)],
    RetType::String,
    "get ext2 file attributes of a file",
    "The file's ext2 attributes as lsattr shows them, without dashes and sorted \
     (e for extents, i immutable, a append-only, ...).",
    &["get-e2attrs /etc/hostname"],
    |ctx, args| {
        let path = args.text(0);
        let node = node_of_path(ctx, "get_e2attrs", "lsattr", &path)?;
        let (flags, _) = ctx
            .session
            .vfs
            .fs(&node)
            .inode_flags(node.ino)
            .map_err(|e| tool_error("get_e2attrs", "lsattr", &path, &e))?;
        Ok(Value::String(letters(flags).into_bytes()))
    },
);

fn set_e2attrs(ctx: &mut Ctx<'_>, args: &Args) -> Result<Value, CmdError> {
    let func = "set_e2attrs";
    let path = args.text(0);
    let attrs = args.bytes(1).to_vec();
    let clear = args.opt_bool("clear").unwrap_or(false);
    if attrs.is_empty() {
        return Ok(Value::Unit);
    }
    let mut seen = Vec::new();
    let mut mask = 0u32;
    for &c in &attrs {
        if matches!(c, b'R' | b'V' | b'f' | b'v') {
            return Err(CmdError::api(
                func,
                format!("bad file attribute '{}'", c as char),
            ));
        }
        if !c.is_ascii_alphabetic() {
            return Err(CmdError::api(
                func,
                format!("unknown file attribute '{}'", c as char),
            ));
        }
        if seen.contains(&c) {
            return Err(CmdError::api(
                func,
                format!("duplicate file attribute '{}'", c as char),
            ));
        }
        seen.push(c);
        let Some(&(flag, _)) = LETTERS.iter().find(|(_, l)| *l == c) else {
            return Err(CmdError::api(
                func,
                format!("chattr: {path}: bad attribute '{}'", c as char),
            ));
        };
        mask |= flag;
    }
    let node = node_of_path(ctx, func, "chattr", &path)?;
    let s = &*ctx.session;
    check_rw(s, &node).map_err(|e| tool_error(func, "chattr", &path, &e))?;
    let fs = s.vfs.fs(&node);
    let (old, _) = fs
        .inode_flags(node.ino)
        .map_err(|e| tool_error(func, "chattr", &path, &e))?;
    let wanted = if clear { old & !mask } else { old | mask };
    fs.set_attr(
        node.ino,
        &SetAttr {
            flags: Some(wanted),
            ..SetAttr::default()
        },
    )
    .map_err(|e| {
        CmdError::api(
            func,
            format!("chattr: {path}: chattr: {e} while setting flags on /sysroot{path}"),
        )
    })?;
    Ok(Value::Unit)
}

/// `set-e2attrs`.
pub static SET_E2ATTRS: CommandSpec = CommandSpec {
    name: "set-e2attrs",
    aliases: &[],
    args: &[arg("file", ArgKind::Path), arg("attrs", ArgKind::String)],
    optargs: &[arg("clear", ArgKind::Bool)],
    arity: Arity::Declared,
    free_synopsis: "",
    ret: RetType::Err,
    shortdesc: "set ext2 file attributes of a file",
    longdesc: "Add the ext2 attributes ATTRS (chattr letters, such as i for immutable or a \
               for append-only) to FILE, or remove them with clear:true. As with the \
               kernel, only user-changeable attributes change and extents cannot be \
               turned off.",
    examples: &["set-e2attrs /etc/hostname i"],
    handler: set_e2attrs,
};

/// `get-e2generation`.
pub static GET_E2GENERATION: CommandSpec = cmd(
    "get-e2generation",
    &[arg("file", ArgKind::Path)],
    RetType::Int64,
    "get ext2 file generation of a file",
    "The inode's generation number (lsattr -v).",
    &["get-e2generation /etc/hostname"],
    |ctx, args| {
        let path = args.text(0);
        let node = node_of_path(ctx, "get_e2generation", "lsattr", &path)?;
        let (_, generation) = ctx
            .session
            .vfs
            .fs(&node)
            .inode_flags(node.ino)
            .map_err(|e| tool_error("get_e2generation", "lsattr", &path, &e))?;
        Ok(Value::Int(i64::from(generation)))
    },
);

/// `set-e2generation`.
pub static SET_E2GENERATION: CommandSpec = cmd(
    "set-e2generation",
    &[
        arg("file", ArgKind::Path),
        arg("generation", ArgKind::Int64),
    ],
    RetType::Err,
    "set ext2 file generation of a file",
    "Set the inode's generation number (chattr -v; kept modulo 2^32). As the kernel does, \
     rfish refuses on filesystems with metadata_csum (Inappropriate ioctl for device).",
    &["-set-e2generation /etc/hostname 12345"],
    |ctx, args| {
        let func = "set_e2generation";
        let path = args.text(0);
        let node = node_of_path(ctx, func, "chattr", &path)?;
        let s = &*ctx.session;
        check_rw(s, &node).map_err(|e| tool_error(func, "chattr", &path, &e))?;
        s.vfs
            .fs(&node)
            .set_attr(
                node.ino,
                &SetAttr {
                    generation: Some(args.int(1) as u32),
                    ..SetAttr::default()
                },
            )
            .map_err(|e| {
                CmdError::api(
                    func,
                    format!("chattr: {path}: chattr: {e} while setting version on /sysroot{path}"),
                )
            })?;
        Ok(Value::Unit)
    },
);

/// The device's ext filesystem, checked: not a read-only drive, and (for `unmounted`)
/// not mounted.
fn ext_device(
    ctx: &mut Ctx<'_>,
    func: &str,
    device: &str,
    what: &str,
) -> Result<crate::session::DevRef, CmdError> {
    let (d, kind) = ctx.session.device_fs_type(func, device)?;
    if !matches!(kind.as_str(), "ext2" | "ext3" | "ext4") {
        let kind = if kind.is_empty() { "unknown" } else { &kind };
        return Err(CmdError::api(
            func,
            format!("don't know how to set the {what} for '{kind}' filesystems"),
        ));
    }
    if d.read_only || d.dev.is_read_only() {
        return Err(CmdError::api(
            func,
            format!("{}: Read-only file system", d.name),
        ));
    }
    Ok(d)
}

fn set_label(ctx: &mut Ctx<'_>, func: &str, device: &str, label: &str) -> Result<Value, CmdError> {
    let d = ext_device(ctx, func, device, "label")?;
    if label.len() > 16 {
        return Err(CmdError::api(
            func,
            format!("{label}: ext2/3/4 labels are limited to 16 bytes"),
        ));
    }
    crate::fs::ext4::tune::set_label(d.dev.as_ref(), label.as_bytes())
        .map_err(|e| CmdError::api(func, format!("e2label: {e}")))?;
    Ok(Value::Unit)
}

/// `set-label`.
pub static SET_LABEL: CommandSpec = cmd(
    "set-label",
    &[
        arg("mountable", ArgKind::Device),
        arg("label", ArgKind::String),
    ],
    RetType::Err,
    "set filesystem label",
    "Set the label of an ext2/3/4 filesystem (16 bytes at most), in the superblock and \
     its backups.",
    &["set-label /dev/sda1 root"],
    |ctx, args| set_label(ctx, "set_label", &args.text(0), &args.text(1)),
);

/// `set-e2label` (deprecated).
pub static SET_E2LABEL: CommandSpec = cmd(
    "set-e2label",
    &[
        arg("device", ArgKind::Device),
        arg("label", ArgKind::String),
    ],
    RetType::Err,
    "set the ext2/3/4 filesystem label",
    "The same as set-label (deprecated).",
    &["set-e2label /dev/sda1 root"],
    |ctx, args| set_label(ctx, "set_e2label", &args.text(0), &args.text(1)),
);

fn set_uuid(ctx: &mut Ctx<'_>, func: &str, device: &str, uuid: &str) -> Result<Value, CmdError> {
    let d = ext_device(ctx, func, device, "UUID")?;
    let bytes = match uuid {
        "random" | "time" => *uuid::Uuid::new_v4().as_bytes(),
        "clear" => [0u8; 16],
        text => *uuid::Uuid::parse_str(text)
            .map_err(|_| CmdError::api(func, "tune2fs: Invalid UUID format"))?
            .as_bytes(),
    };
    if ctx.session.mount_using(&d.name, false).is_some() {
        return Err(CmdError::api(
            func,
            "tune2fs: The UUID may only be changed when the filesystem is unmounted.",
        ));
    }
    crate::fs::ext4::tune::set_uuid(d.dev.as_ref(), bytes)
        .map_err(|e| CmdError::api(func, format!("tune2fs: {e}")))?;
    Ok(Value::Unit)
}

/// `set-uuid`.
pub static SET_UUID: CommandSpec = cmd(
    "set-uuid",
    &[arg("device", ArgKind::Device), arg("uuid", ArgKind::String)],
    RetType::Err,
    "set the filesystem UUID",
    "Set the UUID of an unmounted ext2/3/4 filesystem. With metadata_csum the old \
     checksum seed is kept (metadata_csum_seed), so no other block changes.",
    &["set-uuid /dev/sda1 01234567-89ab-cdef-0123-456789abcdef"],
    |ctx, args| set_uuid(ctx, "set_uuid", &args.text(0), &args.text(1)),
);

/// `set-uuid-random`.
pub static SET_UUID_RANDOM: CommandSpec = cmd(
    "set-uuid-random",
    &[arg("device", ArgKind::Device)],
    RetType::Err,
    "set a random UUID for the filesystem",
    "Give an unmounted ext2/3/4 filesystem a new random UUID.",
    &["set-uuid-random /dev/sda1"],
    |ctx, args| set_uuid(ctx, "set_uuid_random", &args.text(0), "random"),
);

/// `set-e2uuid` (deprecated).
pub static SET_E2UUID: CommandSpec = cmd(
    "set-e2uuid",
    &[arg("device", ArgKind::Device), arg("uuid", ArgKind::String)],
    RetType::Err,
    "set the ext2/3/4 filesystem UUID",
    "The same as set-uuid, also accepting tune2fs's clear, random and time (deprecated).",
    &["set-e2uuid /dev/sda1 random"],
    |ctx, args| set_uuid(ctx, "set_e2uuid", &args.text(0), &args.text(1)),
);
