//! Filesystem maintenance beyond ext2/3/4: `xfs-info` (read natively from the superblock),
//! `xfs-repair`, `xfs-admin` and `fsck` (the host's own tools, run in the appliance).

use super::output::Field;
use super::spec::{ArgKind, Arity, CommandSpec, RetType, arg};
use super::{Args, CmdError, Ctx, Value};
use crate::fs::xfs::superblock::{SbError, Superblock};

fn xfs_info(ctx: &mut Ctx<'_>, args: &Args) -> Result<Value, CmdError> {
    let func = "xfs_info";
    let what = args.text(0);
    // A path names the filesystem mounted there.
    let device = if what.starts_with("/dev/") {
        what.clone()
    } else {
        let node = ctx
            .session
            .vfs
            .resolve(&what, true)
            .map_err(|e| CmdError::api(func, format!("{what}: {e}")))?;
        ctx.session.vfs.mount_of(&node).device.clone()
    };
    let d = ctx.session.device(func, &device)?;
    let sb = Superblock::read(d.dev.as_ref()).map_err(|e| match e {
        SbError::BadMagic(_) => CmdError::api(
            func,
            format!(
                "xfs_info: {device} is not a valid XFS filesystem ({e})\nUse -F to force a read attempt."
            ),
        ),
        other => CmdError::api(func, format!("xfs_info: {device}: {other}")),
    })?;
    let int = |v: u64| Field::Int(v as i64);
    let internal_log = sb.logstart != 0;
    let realtime = sb.rblocks != 0;
    Ok(Value::Struct(vec![
        ("xfs_mntpoint", Field::Str(device.clone())),
        ("xfs_inodesize", int(sb.inodesize.into())),
        ("xfs_agcount", int(sb.agcount.into())),
        ("xfs_agsize", int(sb.agblocks.into())),
        ("xfs_sectsize", int(sb.sectsize.into())),
        ("xfs_attr", int(sb.attr_version().into())),
        ("xfs_blocksize", int(sb.block_size.into())),
        ("xfs_datablocks", int(sb.dblocks)),
        ("xfs_imaxpct", int(sb.imax_pct.into())),
        ("xfs_sunit", int(sb.unit.into())),
        ("xfs_swidth", int(sb.width.into())),
        ("xfs_dirversion", int(2)),
        ("xfs_dirblocksize", int(sb.dir_block_size())),
        ("xfs_cimode", int(sb.ascii_ci().into())),
        (
            "xfs_logname",
            Field::Str(if internal_log { "internal" } else { "external" }.into()),
        ),
        ("xfs_logblocksize", int(sb.block_size.into())),
        ("xfs_logblocks", int(sb.logblocks.into())),
        ("xfs_logversion", int(sb.log_version().into())),
        ("xfs_logsectsize", int(sb.log_sector_size().into())),
        // In blocks, as xfs_info prints it (a stored 1 means "unset").
        ("xfs_logsunit", int((sb.logsunit / sb.block_size).into())),
        ("xfs_lazycount", int(sb.lazy_count().into())),
        (
            "xfs_rtname",
            Field::Str(if realtime { "external" } else { "none" }.into()),
        ),
        // libguestfs cannot parse xfs_info's extsz= for "realtime =none" and leaves
        // the field at (uint32) -1.
        (
            "xfs_rtextsize",
            int(if realtime {
                u64::from(sb.rextsize) * u64::from(sb.block_size)
            } else {
                u64::from(u32::MAX)
            }),
        ),
        ("xfs_rtblocks", int(sb.rblocks)),
        ("xfs_rtextents", int(sb.rextents)),
    ]))
}

/// `xfs-info`.
pub static XFS_INFO: CommandSpec = CommandSpec {
    name: "xfs-info",
    aliases: &[],
    args: &[arg("pathordevice", ArgKind::String)],
    optargs: &[],
    arity: Arity::Declared,
    free_synopsis: "",
    ret: RetType::Struct,
    shortdesc: "get geometry of XFS filesystem",
    longdesc: "The geometry of the XFS filesystem on a device (or mounted at a path), as \
               xfs_info reports it, read by rfish from the superblock without mounting.",
    examples: &["xfs-info /dev/sda1"],
    handler: xfs_info,
};

fn xfs_repair(ctx: &mut Ctx<'_>, args: &Args) -> Result<Value, CmdError> {
    let func = "xfs_repair";
    let device = args.text(0);
    let d = ctx.session.device(func, &device)?;
    let mut opts: Vec<String> = Vec::new();
    let flag = |name: &str, f: &str, opts: &mut Vec<String>| {
        if args.opt_bool(name) == Some(true) {
            opts.push(f.into());
        }
    };
    flag("forcelogzero", "-L", &mut opts);
    flag("nomodify", "-n", &mut opts);
    flag("noprefetch", "-P", &mut opts);
    if args.opt_bool("forcegeometry") == Some(true) {
        opts.extend(["-o".into(), "force_geometry".into()]);
    }
    for (name, flag) in [("maxmem", "-m")] {
        if let Some(v) = args.opt_int(name) {
            opts.extend([flag.into(), v.to_string()]);
        }
    }
    for (name, key) in [
        ("ihashsize", "ihash"),
        ("bhashsize", "bhash"),
        ("agstride", "ag_stride"),
    ] {
        if let Some(v) = args.opt_int(name) {
            opts.extend(["-o".into(), format!("{key}={v}")]);
        }
    }
    if args.opt_text("logdev").is_some() || args.opt_text("rtdev").is_some() {
        return Err(CmdError::api(
            func,
            "logdev:, rtdev: external log and realtime devices are not supported by rfish",
        ));
    }
    if args.opt_bool("nomodify") != Some(true) && (d.read_only || d.dev.is_read_only()) {
        return Err(CmdError::api(
            func,
            format!("{device}: Read-only file system (use nomodify:true)"),
        ));
    }
    let (code, _) = super::guest::run_tool_status(ctx.session, func, "xfs_repair", &opts, &d.name)?;
    Ok(Value::Int(code.into()))
}

/// `xfs-repair`.
pub static XFS_REPAIR: CommandSpec = CommandSpec {
    name: "xfs-repair",
    aliases: &[],
    args: &[arg("device", ArgKind::Device)],
    optargs: &[
        arg("forcelogzero", ArgKind::Bool),
        arg("nomodify", ArgKind::Bool),
        arg("noprefetch", ArgKind::Bool),
        arg("forcegeometry", ArgKind::Bool),
        arg("maxmem", ArgKind::Int64),
        arg("ihashsize", ArgKind::Int64),
        arg("bhashsize", ArgKind::Int64),
        arg("agstride", ArgKind::Int64),
        arg("logdev", ArgKind::String),
        arg("rtdev", ArgKind::String),
    ],
    arity: Arity::Declared,
    free_synopsis: "",
    ret: RetType::Int,
    shortdesc: "repair an XFS filesystem",
    longdesc: "Run the host's xfs_repair on the device in rfish's appliance and print its \
               exit status: 0 when the filesystem is sound (or was repaired), 1 when \
               nomodify:true found something to repair. forcelogzero: is -L, nomodify: \
               -n, noprefetch: -P, forcegeometry:, ihashsize:, bhashsize:, agstride: are \
               -o options, maxmem: is -m.",
    examples: &["xfs-repair /dev/sda1 nomodify:true"],
    handler: xfs_repair,
};

fn xfs_admin(ctx: &mut Ctx<'_>, args: &Args) -> Result<Value, CmdError> {
    let func = "xfs_admin";
    let device = args.text(0);
    let d = ctx.session.device(func, &device)?;
    if ctx.session.mount_using(&d.name, false).is_some() {
        return Err(CmdError::api(
            func,
            format!("{device}: the filesystem is mounted (xfs_admin works on unmounted ones)"),
        ));
    }
    if d.read_only || d.dev.is_read_only() {
        return Err(CmdError::api(
            func,
            format!("{device}: Read-only file system"),
        ));
    }
    for unsupported in ["extunwritten", "imgfile", "v2log", "projid32bit"] {
        if args.opt_bool(unsupported).is_some() || args.opt_text(unsupported).is_some() {
            return Err(CmdError::api(
                func,
                format!("{unsupported}: not supported by rfish (a v5 XFS always has it)"),
            ));
        }
    }
    // What xfs_admin does: xfs_db in expert mode for the label and UUID, xfs_repair for
    // the lazy counters.
    let mut db: Vec<String> = Vec::new();
    if let Some(label) = args.opt_text("label") {
        db.extend(["-c".into(), format!("label {label}")]);
    }
    if let Some(uuid) = args.opt_text("uuid") {
        db.extend(["-c".into(), format!("uuid {uuid}")]);
    }
    let run = |ctx: &mut Ctx<'_>, tool: &str, opts: Vec<String>| -> Result<(), CmdError> {
        let (code, err) = super::guest::run_tool_status(ctx.session, func, tool, &opts, &d.name)?;
        // xfs_db reports a refused label or UUID on stderr with status 0.
        if code != 0 || (tool == "xfs_db" && !err.is_empty()) {
            return Err(CmdError::api(
                func,
                format!("{device}: {}", super::guest::failure_text(&err)),
            ));
        }
        Ok(())
    };
    if !db.is_empty() {
        let mut opts = vec!["-x".into(), "-p".into(), "xfs_admin".into()];
        opts.extend(db);
        run(ctx, "xfs_db", opts)?;
    }
    if let Some(lazy) = args.opt_bool("lazycounter") {
        run(
            ctx,
            "xfs_repair",
            vec!["-c".into(), format!("lazycount={}", u8::from(lazy))],
        )?;
    }
    Ok(Value::Unit)
}

/// `xfs-admin`.
pub static XFS_ADMIN: CommandSpec = CommandSpec {
    name: "xfs-admin",
    aliases: &[],
    args: &[arg("device", ArgKind::Device)],
    optargs: &[
        arg("extunwritten", ArgKind::Bool),
        arg("imgfile", ArgKind::Bool),
        arg("v2log", ArgKind::Bool),
        arg("projid32bit", ArgKind::Bool),
        arg("lazycounter", ArgKind::Bool),
        arg("label", ArgKind::String),
        arg("uuid", ArgKind::String),
    ],
    arity: Arity::Declared,
    free_synopsis: "",
    ret: RetType::Err,
    shortdesc: "change parameters of an XFS filesystem",
    longdesc: "Change the label (label:), the UUID (uuid:, or generate, or nil) or the \
               lazy superblock counters (lazycounter:) of an unmounted XFS filesystem, as \
               xfs_admin does: the host's xfs_db and xfs_repair run in rfish's appliance. \
               extunwritten:, imgfile:, v2log: and projid32bit: concern old (v4) \
               filesystems and are refused.",
    examples: &["xfs-admin /dev/sda1 label:data"],
    handler: xfs_admin,
};

fn fsck(ctx: &mut Ctx<'_>, args: &Args) -> Result<Value, CmdError> {
    let func = "fsck";
    let fstype = args.text(0);
    let device = args.text(1);
    let d = ctx.session.device(func, &device)?;
    let read_only = d.read_only || d.dev.is_read_only();
    // fsck -a: the checker for the type, preening; on a read-only drive, checking only.
    let (tool, opts): (&str, Vec<String>) = match fstype.as_str() {
        // fsck.xfs and fsck.btrfs check nothing at boot: they succeed.
        "xfs" | "btrfs" => return Ok(Value::Int(0)),
        "ext2" | "ext3" | "ext4" => ("e2fsck", vec![if read_only { "-n" } else { "-p" }.into()]),
        "vfat" | "fat" | "msdos" => ("fsck.fat", vec![if read_only { "-n" } else { "-a" }.into()]),
        // The fsck wrapper's "operational error" when no checker exists.
        _ => return Ok(Value::Int(8)),
    };
    let (code, _) = super::guest::run_tool_status(ctx.session, func, tool, &opts, &d.name)?;
    Ok(Value::Int(code.into()))
}

/// `fsck`.
pub static FSCK: CommandSpec = CommandSpec {
    name: "fsck",
    aliases: &[],
    args: &[
        arg("fstype", ArgKind::String),
        arg("device", ArgKind::Device),
    ],
    optargs: &[],
    arity: Arity::Declared,
    free_synopsis: "",
    ret: RetType::IntHex,
    shortdesc: "run the filesystem checker",
    longdesc: "Check the filesystem of type FSTYPE on the device as fsck -a does and print \
               fsck's status (0: clean, 1: errors corrected, 4: errors left, 8: \
               operational error; bits combined, printed in hex). The host's e2fsck and \
               fsck.fat run in rfish's appliance (checking only, on a read-only drive); \
               xfs and btrfs have nothing to check at this level (xfs-repair does), as their \
               fsck helpers say.",
    examples: &["fsck ext4 /dev/sda1"],
    handler: fsck,
};
