//! Making filesystems: mkfs (mkfs-opts), mkfs-b and mke2fs. ext2, ext3 and ext4 are made
//! natively (src/fs/ext4/mkfs), with mke2fs's options as guestfish's daemon passes them
//! (daemon/mkfs.c, daemon/ext2.c); xfs, btrfs, vfat, ntfs and exfat are made by the host's
//! own tools in the appliance.

use super::spec::{ArgKind, Arity, CommandSpec, RetType, arg};
use super::{Args, CmdError, Ctx, Value};
use crate::fs::ext4::mkfs::params::FsKind;
use crate::fs::ext4::mkfs::{self, MkfsError, MkfsOptions};
use crate::session::Session;

/// Refuse a device that is mounted, as mke2fs does.
fn check_not_mounted(s: &Session, name: &str) -> Result<(), String> {
    if s.mount_using(name, false).is_some() {
        return Err(format!(
            "{name} is mounted; will not make a filesystem here!"
        ));
    }
    Ok(())
}

fn parse_uuid(text: &str) -> Result<[u8; 16], String> {
    uuid::Uuid::parse_str(text)
        .map(|u| *u.as_bytes())
        .map_err(|_| format!("Invalid UUID format: {text}"))
}

/// The device a filesystem is to be made on: not mounted, not read-only (errors prefixed
/// with `prefix`, as guestfish puts it before the tool's message).
fn target(
    ctx: &mut Ctx<'_>,
    func: &str,
    device: &str,
    prefix: &str,
) -> Result<crate::session::DevRef, CmdError> {
    let d = ctx.session.device(func, device)?;
    let fail = |m: String| CmdError::api(func, format!("{prefix}{m}"));
    check_not_mounted(ctx.session, &d.name).map_err(fail)?;
    if d.read_only || d.dev.is_read_only() {
        return Err(fail("Read-only file system".to_string()));
    }
    Ok(d)
}

/// Make the filesystem; `prefix` is what guestfish puts before the tool's message.
fn run_mkfs(
    ctx: &mut Ctx<'_>,
    func: &str,
    device: &str,
    opts: &MkfsOptions,
    prefix: &str,
) -> Result<Value, CmdError> {
    let d = target(ctx, func, device, prefix)?;
    mkfs::make(d.dev.as_ref(), opts)
        .map_err(|e: MkfsError| CmdError::api(func, format!("{prefix}{e}")))?;
    Ok(Value::Unit)
}

fn other_type(func: &str, fstype: &str, device: &str) -> CmdError {
    CmdError::api(
        func,
        format!(
            "{fstype}: {device}: rfish makes ext2, ext3 and ext4 natively and xfs, btrfs, vfat, ntfs and exfat with the host's tools in its appliance; not {fstype}"
        ),
    )
}

/// The optargs of mkfs that apply to the appliance's tools.
#[derive(Default)]
struct OtherOpts {
    blocksize: Option<i64>,
    sectorsize: Option<i64>,
    label: Option<String>,
}

/// Make an xfs, btrfs, vfat, ntfs or exfat filesystem with the host's own mkfs tool in the
/// appliance (the options guestfish's daemon passes: daemon/mkfs.c).
fn mkfs_other(
    ctx: &mut Ctx<'_>,
    func: &str,
    fstype: &str,
    device: &str,
    o: &OtherOpts,
) -> Result<Value, CmdError> {
    let prefix = format!("{fstype}: {device}: ");
    let d = target(ctx, func, device, &prefix)?;
    let fail = |m: String| CmdError::api(func, format!("{prefix}{m}"));
    let (tool, mut args): (&str, Vec<String>) = match fstype {
        "xfs" => ("mkfs.xfs", vec!["-f".into()]),
        "btrfs" => ("mkfs.btrfs", vec!["-f".into()]),
        "vfat" | "fat" | "msdos" => ("mkfs.fat", vec!["-I".into()]),
        "ntfs" => ("mkntfs", vec!["-Q".into(), "-F".into()]),
        "exfat" => ("mkfs.exfat", Vec::new()),
        _ => return Err(other_type(func, fstype, device)),
    };
    if fstype == "msdos" {
        args.extend(["-F".into(), "12".into()]);
    }
    if let Some(b) = o.blocksize {
        if b <= 0 {
            return Err(CmdError::api(func, "blocksize must be > 0"));
        }
        match tool {
            "mkfs.xfs" => args.extend(["-b".into(), format!("size={b}")]),
            "mkfs.fat" => args.extend(["-S".into(), b.to_string()]),
            "mkntfs" => args.extend(["-c".into(), b.to_string()]),
            _ => {
                return Err(fail(format!(
                    "blocksize: not supported for {fstype} (guestfish refuses it too)"
                )));
            }
        }
    }
    if let Some(s) = o.sectorsize {
        match tool {
            "mkfs.xfs" => args.extend(["-s".into(), format!("size={s}")]),
            "mkfs.btrfs" => args.extend(["-s".into(), s.to_string()]),
            _ => {}
        }
    }
    if let Some(label) = &o.label {
        let flag = if tool == "mkfs.fat" { "-n" } else { "-L" };
        args.extend([flag.into(), label.clone()]);
    }
    // guestfish's daemon: "FSTYPE: DEVICE: " and the tool's message.
    match super::guest::run_tool_status(ctx.session, func, tool, &args, &d.name)? {
        (0, _) => Ok(Value::Unit),
        (_, err) => Err(fail(super::guest::failure_text(&err))),
    }
}

fn mkfs_handler(ctx: &mut Ctx<'_>, args: &Args) -> Result<Value, CmdError> {
    let fstype = args.text(0);
    let device = args.text(1);
    let func = "mkfs";
    let Some(kind) = FsKind::parse(&fstype) else {
        let o = OtherOpts {
            blocksize: args.opt_int("blocksize"),
            sectorsize: args.opt_int("sectorsize"),
            label: args.opt_text("label"),
        };
        return mkfs_other(ctx, func, &fstype, &device, &o);
    };
    let mut opts = MkfsOptions::new(kind);
    if let Some(b) = args.opt_int("blocksize") {
        if b <= 0 {
            return Err(CmdError::api(func, "blocksize must be > 0"));
        }
        opts.block_size = Some(u32::try_from(b).unwrap_or(u32::MAX));
    }
    opts.features = args.opt_text("features");
    if let Some(i) = args.opt_int("inode") {
        opts.inode_size = Some(u16::try_from(i).map_err(|_| {
            CmdError::api(func, format!("{fstype}: {device}: invalid inode size {i}"))
        })?);
    }
    if let Some(label) = args.opt_text("label") {
        if label.len() > 16 {
            return Err(CmdError::api(
                func,
                format!("{label}: ext2 labels are limited to 16 bytes"),
            ));
        }
        opts.label = Some(label);
    }
    let prefix = format!("{fstype}: {device}: ");
    run_mkfs(ctx, func, &device, &opts, &prefix)
}

/// `mkfs`.
pub static MKFS: CommandSpec = CommandSpec {
    name: "mkfs",
    aliases: &["mkfs-opts"],
    args: &[
        arg("fstype", ArgKind::String),
        arg("device", ArgKind::Device),
    ],
    optargs: &[
        arg("blocksize", ArgKind::Int),
        arg("features", ArgKind::String),
        arg("inode", ArgKind::Int),
        arg("sectorsize", ArgKind::Int),
        arg("label", ArgKind::String),
    ],
    arity: Arity::Declared,
    free_synopsis: "",
    ret: RetType::Err,
    shortdesc: "make a filesystem",
    longdesc: "Make a filesystem of type FSTYPE on DEVICE. ext2, ext3 and ext4 are made by \
               rfish itself, laid out as mke2fs lays them out (Debian's mke2fs.conf \
               defaults): blocksize: is -b, features: is -O, inode: is -I (inode size), \
               label: is -L. The device is discarded (zeroed) first. xfs, btrfs, vfat \
               (fat, msdos), ntfs and exfat are made by the host's own mkfs.xfs, \
               mkfs.btrfs, mkfs.fat, mkntfs and mkfs.exfat, which rfish's appliance \
               carries when the host has them (with guestfish's options: -f, -I, -Q; \
               label:, blocksize: and sectorsize: passed on).",
    examples: &["mkfs ext4 /dev/sdb label:data"],
    handler: mkfs_handler,
};

/// `mkfs-b` (deprecated).
pub static MKFS_B: CommandSpec = CommandSpec {
    name: "mkfs-b",
    aliases: &[],
    args: &[
        arg("fstype", ArgKind::String),
        arg("blocksize", ArgKind::Int),
        arg("device", ArgKind::Device),
    ],
    optargs: &[],
    arity: Arity::Declared,
    free_synopsis: "",
    ret: RetType::Err,
    shortdesc: "make a filesystem with block size",
    longdesc: "The same as mkfs with blocksize: (deprecated).",
    examples: &["mkfs-b ext2 1024 /dev/sdb"],
    handler: |ctx, args| {
        let fstype = args.text(0);
        let device = args.text(2);
        let Some(kind) = FsKind::parse(&fstype) else {
            let o = OtherOpts {
                blocksize: Some(args.int(1)),
                ..OtherOpts::default()
            };
            return mkfs_other(ctx, "mkfs_b", &fstype, &device, &o);
        };
        let mut opts = MkfsOptions::new(kind);
        opts.block_size = Some(u32::try_from(args.int(1).max(0)).unwrap_or(0));
        let prefix = format!("{fstype}: {device}: ");
        run_mkfs(ctx, "mkfs_b", &device, &opts, &prefix)
    },
};

/// mke2fs's boolean optargs and the feature each one turns on or off.
const FEATURE_FLAGS: &[(&str, &str)] = &[
    ("extent", "extent"),
    ("filetype", "filetype"),
    ("flexbg", "flex_bg"),
    ("hasjournal", "has_journal"),
    ("largefile", "large_file"),
    ("resizeinode", "resize_inode"),
    ("sparsesuper", "sparse_super"),
    ("uninitbg", "uninit_bg"),
];

/// mke2fs optargs rfish does not implement.
const UNSUPPORTED: &[&str] = &[
    "fragsize",
    "numberofgroups",
    "stridesize",
    "stripewidth",
    "maxonlineresize",
    "mmpupdateinterval",
    "journaldevice",
    "creatoros",
    "writesbandgrouponly",
    "testfs",
    "quotatype",
    "journaldev",
    "quota",
];

fn mke2fs_handler(ctx: &mut Ctx<'_>, args: &Args) -> Result<Value, CmdError> {
    let device = args.text(0);
    let func = "mke2fs";
    let bad = |m: String| CmdError::api(func, format!("{device}: {m}"));
    for name in UNSUPPORTED {
        if args.opt(name).is_some() {
            return Err(bad(format!("rfish does not support the {name} option yet")));
        }
    }
    let kind = match args.opt_text("fstype") {
        Some(t) => FsKind::parse(&t)
            .ok_or_else(|| bad(format!("rfish makes ext2, ext3 and ext4, not {t}")))?,
        None => FsKind::Ext2,
    };
    let mut opts = MkfsOptions::new(kind);
    let positive = |name: &str| -> Result<Option<u64>, CmdError> {
        match args.opt_int(name) {
            Some(n) if n < 0 => Err(CmdError::api(func, format!("{name} must be >= 0"))),
            Some(n) => Ok(Some(n as u64)),
            None => Ok(None),
        }
    };
    opts.blocks = positive("blockscount")?;
    opts.block_size = positive("blocksize")?.map(|b| u32::try_from(b).unwrap_or(0));
    opts.blocks_per_group = positive("blockspergroup")?.map(|b| u32::try_from(b).unwrap_or(0));
    opts.bytes_per_inode = positive("bytesperinode")?;
    opts.inode_size = positive("inodesize")?.map(|b| u16::try_from(b).unwrap_or(0));
    opts.journal_mib = positive("journalsize")?;
    opts.inodes = positive("numberofinodes")?;
    if let Some(p) = args.opt_int("reservedblockspercentage") {
        if !(0..=50).contains(&p) {
            return Err(bad(format!("invalid reserved blocks percent - {p}")));
        }
        opts.reserved_percent = Some(p as f64);
    }
    opts.label = args.opt_text("label");
    opts.last_mounted = args.opt_text("lastmounteddir");
    opts.usage_type = args.opt_text("usagetype");
    if let Some(u) = args.opt_text("uuid") {
        opts.uuid = Some(parse_uuid(&u).map_err(&bad)?);
    }
    let mut features = Vec::new();
    for (opt, feature) in FEATURE_FLAGS {
        match args.opt_bool(opt) {
            Some(true) => features.push(feature.to_string()),
            Some(false) => features.push(format!("^{feature}")),
            None => {}
        }
    }
    if !features.is_empty() {
        opts.features = Some(features.join(","));
    }
    let prefix = format!("{device}: ");
    run_mkfs(ctx, func, &device, &opts, &prefix)
}

/// `mke2fs`.
pub static MKE2FS: CommandSpec = CommandSpec {
    name: "mke2fs",
    aliases: &[],
    args: &[arg("device", ArgKind::Device)],
    optargs: &[
        arg("blockscount", ArgKind::Int64),
        arg("blocksize", ArgKind::Int64),
        arg("fragsize", ArgKind::Int64),
        arg("blockspergroup", ArgKind::Int64),
        arg("numberofgroups", ArgKind::Int64),
        arg("bytesperinode", ArgKind::Int64),
        arg("inodesize", ArgKind::Int64),
        arg("journalsize", ArgKind::Int64),
        arg("numberofinodes", ArgKind::Int64),
        arg("stridesize", ArgKind::Int64),
        arg("stripewidth", ArgKind::Int64),
        arg("maxonlineresize", ArgKind::Int64),
        arg("reservedblockspercentage", ArgKind::Int),
        arg("mmpupdateinterval", ArgKind::Int),
        arg("journaldevice", ArgKind::String),
        arg("label", ArgKind::String),
        arg("lastmounteddir", ArgKind::String),
        arg("creatoros", ArgKind::String),
        arg("fstype", ArgKind::String),
        arg("usagetype", ArgKind::String),
        arg("uuid", ArgKind::String),
        arg("forcecreate", ArgKind::Bool),
        arg("writesbandgrouponly", ArgKind::Bool),
        arg("lazyitableinit", ArgKind::Bool),
        arg("lazyjournalinit", ArgKind::Bool),
        arg("testfs", ArgKind::Bool),
        arg("discard", ArgKind::Bool),
        arg("quotatype", ArgKind::Bool),
        arg("extent", ArgKind::Bool),
        arg("filetype", ArgKind::Bool),
        arg("flexbg", ArgKind::Bool),
        arg("hasjournal", ArgKind::Bool),
        arg("journaldev", ArgKind::Bool),
        arg("largefile", ArgKind::Bool),
        arg("quota", ArgKind::Bool),
        arg("resizeinode", ArgKind::Bool),
        arg("sparsesuper", ArgKind::Bool),
        arg("uninitbg", ArgKind::Bool),
    ],
    arity: Arity::Declared,
    free_synopsis: "",
    ret: RetType::Err,
    shortdesc: "create an ext2/ext3/ext4 filesystem on device",
    longdesc: "mke2fs with its common options: fstype: (default ext2), blockscount:, \
               blocksize:, blockspergroup:, bytesperinode:, inodesize:, journalsize: \
               (MiB), numberofinodes:, reservedblockspercentage:, label:, lastmounteddir:, \
               usagetype:, uuid:, and the feature switches extent:, filetype:, flexbg:, \
               hasjournal:, largefile:, resizeinode:, sparsesuper:, uninitbg:. \
               E2FSPROGS_FAKE_TIME fixes the creation time, as for mke2fs.",
    examples: &["mke2fs /dev/sdb fstype:ext4 label:data"],
    handler: mke2fs_handler,
};
