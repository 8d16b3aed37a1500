//! Filesystem probing commands: vfs-type, vfs-label, vfs-uuid, blkid, list-filesystems,
//! findfs-uuid, findfs-label, is-lv. Answers come from rfish's own signature reader
//! (src/part/probe.rs), which follows `blkid -p`.

use super::spec::{ArgKind, ArgSpec, CommandSpec, RetType, arg, declared as cmd};
use super::{Args, CmdError, Ctx, Value};
use crate::block::Device;
use crate::part::probe::{Probe, probe};

static MOUNTABLE: &[ArgSpec] = &[arg("mountable", ArgKind::Device)];

/// Probe the device named by argument 0.
fn probed(ctx: &mut Ctx<'_>, func: &str, args: &Args) -> Result<Option<Probe>, CmdError> {
    let d = ctx.session.device(func, &args.text(0))?;
    probe(d.dev.as_ref()).map_err(|e| CmdError::api(func, format!("{}: {e}", d.name)))
}

fn key(ctx: &mut Ctx<'_>, func: &str, args: &Args, key: &str) -> Result<Value, CmdError> {
    let p = probed(ctx, func, args)?;
    let v = p.as_ref().and_then(|p| p.get(key)).unwrap_or("");
    Ok(Value::String(v.as_bytes().to_vec()))
}

/// `vfs-type`.
pub static VFS_TYPE: CommandSpec = cmd(
    "vfs-type",
    MOUNTABLE,
    RetType::String,
    "get the Linux VFS type corresponding to a mounted device",
    "The filesystem type on a device as blkid names it (ext4, xfs, vfat, swap, \
     LVM2_member, crypto_LUKS, ...); empty when nothing is recognised.",
    &["vfs-type /dev/sda1"],
    |ctx, args| key(ctx, "vfs_type", args, "TYPE"),
);

/// `vfs-label`.
pub static VFS_LABEL: CommandSpec = cmd(
    "vfs-label",
    MOUNTABLE,
    RetType::String,
    "get the filesystem label",
    "The filesystem's label, or an empty line.",
    &["vfs-label /dev/sda1"],
    |ctx, args| key(ctx, "vfs_label", args, "LABEL"),
);

/// `vfs-uuid`.
pub static VFS_UUID: CommandSpec = cmd(
    "vfs-uuid",
    MOUNTABLE,
    RetType::String,
    "get the filesystem UUID",
    "The filesystem's UUID, or an empty line.",
    &["vfs-uuid /dev/sda1"],
    |ctx, args| key(ctx, "vfs_uuid", args, "UUID"),
);

/// `get-e2label` (deprecated).
pub static GET_E2LABEL: CommandSpec = cmd(
    "get-e2label",
    &[arg("device", ArgKind::Device)],
    RetType::String,
    "get the ext2/3/4 filesystem label",
    "The same as vfs-label (deprecated).",
    &["get-e2label /dev/sda1"],
    |ctx, args| key(ctx, "get_e2label", args, "LABEL"),
);

/// `get-e2uuid` (deprecated).
pub static GET_E2UUID: CommandSpec = cmd(
    "get-e2uuid",
    &[arg("device", ArgKind::Device)],
    RetType::String,
    "get the ext2/3/4 filesystem UUID",
    "The same as vfs-uuid (deprecated).",
    &["get-e2uuid /dev/sda1"],
    |ctx, args| key(ctx, "get_e2uuid", args, "UUID"),
);

/// `vfs-minimum-size`.
pub static VFS_MINIMUM_SIZE: CommandSpec = cmd(
    "vfs-minimum-size",
    MOUNTABLE,
    RetType::Int64,
    "get minimum filesystem size",
    "The smallest size in bytes the filesystem could be shrunk to. For ext2/3/4 this is \
     resize2fs -P's estimate (computed natively, the filesystem need not be mounted) times \
     the block size.",
    &["vfs-minimum-size /dev/sda1"],
    |ctx, args| {
        let func = "vfs_minimum_size";
        let (d, kind) = ctx.session.device_fs_type(func, &args.text(0))?;
        match kind.as_str() {
            "ext2" | "ext3" | "ext4" => {
                let err = |e: crate::fs::FsError| CmdError::api(func, format!("{}: {e}", d.name));
                let fs = crate::fs::ext4::Ext4::open(d.dev.clone()).map_err(err)?;
                let blocks = crate::fs::ext4::min_size::minimum_blocks(&fs).map_err(err)?;
                Ok(Value::Int((blocks * u64::from(fs.sb.block_size)) as i64))
            }
            "ntfs" | "btrfs" | "xfs" => Err(CmdError::api(
                func,
                format!(
                    "{}: {kind} is not supported yet: rfish reads ext2, ext3 and ext4 natively, and other filesystems will be measured through its appliance",
                    d.name
                ),
            )),
            other => Err(CmdError::api(
                func,
                format!("don't know how to get minimum size of '{other}' filesystems"),
            )),
        }
    },
);

/// `blkid`.
pub static BLKID: CommandSpec = cmd(
    "blkid",
    &[arg("device", ArgKind::Device)],
    RetType::Hashtable,
    "print block device attributes",
    "What blkid -p reports for the device's contents: TYPE, LABEL, UUID, VERSION, \
     BLOCK_SIZE, USAGE, ... as KEY: VALUE lines.",
    &["blkid /dev/sda1"],
    |ctx, args| {
        let p = probed(ctx, "blkid", args)?;
        Ok(Value::Hashtable(
            p.map(|p| {
                p.pairs
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect()
            })
            .unwrap_or_default(),
        ))
    },
);

fn candidates(ctx: &mut Ctx<'_>, func: &str) -> Result<Vec<(String, Device)>, CmdError> {
    ctx.session.filesystem_devices(func)
}

/// `list-filesystems`.
pub static LIST_FILESYSTEMS: CommandSpec = cmd(
    "list-filesystems",
    &[],
    RetType::Hashtable,
    "list filesystems",
    "Every drive without a partition table and every partition (not extended ones), with \
     the filesystem it holds or unknown. LVM physical volumes are left out, as guestfish \
     does.",
    &["list-filesystems"],
    |ctx, _args| {
        let mut out = Vec::new();
        for (name, dev) in candidates(ctx, "list_filesystems")? {
            let p = probe(dev.as_ref())
                .map_err(|e| CmdError::api("list_filesystems", format!("{name}: {e}")))?;
            let t = p
                .as_ref()
                .map(|p| p.fstype().to_string())
                .unwrap_or_default();
            if t.starts_with("LVM2_") || t == "linux_raid_member" {
                continue;
            }
            out.push((name, if t.is_empty() { "unknown".into() } else { t }));
        }
        Ok(Value::Hashtable(out))
    },
);

fn findfs(ctx: &mut Ctx<'_>, func: &str, key: &str, value: &str) -> Result<Value, CmdError> {
    for (name, dev) in candidates(ctx, func)? {
        let p = probe(dev.as_ref()).map_err(|e| CmdError::api(func, format!("{name}: {e}")))?;
        if p.as_ref().and_then(|p| p.get(key)) == Some(value) {
            return Ok(Value::String(name.into_bytes()));
        }
    }
    Err(CmdError::api(
        func,
        format!("unable to resolve '{key}={value}'"),
    ))
}

/// `findfs-uuid`.
pub static FINDFS_UUID: CommandSpec = cmd(
    "findfs-uuid",
    &[arg("uuid", ArgKind::String)],
    RetType::String,
    "find a filesystem by UUID",
    "The device holding the filesystem with this UUID.",
    &["-findfs-uuid 01234567-89ab-cdef-0123-456789abcdef"],
    |ctx, args| findfs(ctx, "findfs_uuid", "UUID", &args.text(0)),
);

/// `findfs-label`.
pub static FINDFS_LABEL: CommandSpec = cmd(
    "findfs-label",
    &[arg("label", ArgKind::String)],
    RetType::String,
    "find a filesystem by label",
    "The device holding the filesystem with this label.",
    &["-findfs-label root"],
    |ctx, args| findfs(ctx, "findfs_label", "LABEL", &args.text(0)),
);

/// `is-lv`.
pub static IS_LV: CommandSpec = cmd(
    "is-lv",
    MOUNTABLE,
    RetType::Bool,
    "test if mountable is a logical volume",
    "true for an LVM logical volume (/dev/VG/LV or /dev/mapper/VG-LV).",
    &["is-lv /dev/sda1"],
    |ctx, args| {
        let name = args.text(0);
        let d = ctx.session.device("is_lv", &name)?;
        Ok(Value::Bool(crate::lvm::parse_lv_name(&d.name).is_some()))
    },
);
