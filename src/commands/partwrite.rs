//! Partition-table commands, write side: part-init, part-disk, part-add, part-del,
//! part-set-bootable, part-set-mbr-id, part-set-name, part-set-gpt-type,
//! part-set-gpt-guid, part-set-gpt-attributes, part-set-disk-guid. Arguments, defaults
//! and messages follow guestfish 1.48 (daemon/parted.c: the parted invocations it makes,
//! and what parted then writes).

use super::spec::{ArgKind, ArgSpec, CommandSpec, RetType, arg, declared, func_name as func};
use super::{Args, CmdError, Ctx, Value};
use crate::block::{BlockError, Device};
use crate::part::write::{self, LINUX_FS_GUID, gpt_type};
use crate::part::{PartKind, TableKind, parse_device_name, read_table};

/// The EFI system partition type: parted's "boot" flag on GPT.
const ESP_GUID: &str = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";

/// A declared command that prints nothing (all of these return RErr).
const fn cmd(
    name: &'static str,
    args: &'static [ArgSpec],
    shortdesc: &'static str,
    longdesc: &'static str,
    examples: &'static [&'static str],
    handler: super::spec::Handler,
) -> CommandSpec {
    declared(
        name,
        args,
        RetType::Err,
        shortdesc,
        longdesc,
        examples,
        handler,
    )
}

/// The writable whole device named by argument 0.
fn whole(ctx: &mut Ctx<'_>, cmd: &str, args: &Args) -> Result<(String, Device), CmdError> {
    let f = func(cmd);
    let name = args.text(0);
    let d = ctx.session.device(&f, &name)?;
    if parse_device_name(&name).and_then(|n| n.partition).is_some() {
        return Err(CmdError::api(&f, format!("{name}: not a whole device")));
    }
    if d.read_only {
        return Err(CmdError::api(
            &f,
            format!("{}: {}", d.name, BlockError::ReadOnly),
        ));
    }
    Ok((d.name, d.dev))
}

fn fail(cmd: &str, dev: &str) -> impl Fn(BlockError) -> CmdError {
    let f = func(cmd);
    let dev = dev.to_string();
    move |e| match e {
        BlockError::Unsupported(msg) => CmdError::api(&f, format!("{dev}: {msg}")),
        e => CmdError::api(&f, format!("{dev}: {e}")),
    }
}

fn parttype(cmd: &str, name: &str) -> Result<TableKind, CmdError> {
    match name {
        "msdos" | "mbr" => Ok(TableKind::Msdos),
        "gpt" | "efi" => Ok(TableKind::Gpt),
        "aix" | "amiga" | "rdb" | "bsd" | "dasd" | "dvh" | "mac" | "pc98" | "sun" => {
            Err(CmdError::api(
                &func(cmd),
                format!(
                    "partition table type \"{name}\" is not supported by rfish (use \"gpt\" or \"msdos\")"
                ),
            ))
        }
        _ => Err(CmdError::api(
            &func(cmd),
            "unknown partition type: common choices are \"gpt\" and \"msdos\"",
        )),
    }
}

/// The table kind of a device, or guestfish-like errors.
fn kind_of(cmd: &str, name: &str, dev: &Device) -> Result<TableKind, CmdError> {
    let t = read_table(dev.as_ref()).map_err(fail(cmd, name))?;
    t.map(|t| t.kind).ok_or_else(|| {
        CmdError::api(
            &func(cmd),
            format!("parted: {name}: Error: {name}: unrecognised disk label"),
        )
    })
}

fn partnum(cmd: &str, args: &Args) -> Result<u32, CmdError> {
    let n = args.int(1);
    u32::try_from(n)
        .ok()
        .filter(|&n| n >= 1)
        .ok_or_else(|| CmdError::api(&func(cmd), "partition number must be >= 1"))
}

/// The partition must exist (parted's message otherwise).
fn existing(cmd: &str, name: &str, dev: &Device, num: u32) -> Result<(), CmdError> {
    let t = read_table(dev.as_ref()).map_err(fail(cmd, name))?;
    if t.as_ref().and_then(|t| t.get(num)).is_none() {
        return Err(CmdError::api(
            &func(cmd),
            format!("parted: {name}: Error: Partition doesn't exist."),
        ));
    }
    Ok(())
}

static DEV_TYPE: &[ArgSpec] = &[
    arg("device", ArgKind::Device),
    arg("parttype", ArgKind::String),
];

/// `part-init`.
pub static PART_INIT: CommandSpec = cmd(
    "part-init",
    DEV_TYPE,
    "create an empty partition table",
    "Write an empty partition table: msdos (alias mbr) or gpt (alias efi). Everything on \
     the old table is forgotten; the data stays where it was.",
    &["part-init /dev/sda gpt"],
    |ctx, args| {
        let kind = parttype("part-init", &args.text(1))?;
        let (name, dev) = whole(ctx, "part-init", args)?;
        write::init(dev.as_ref(), kind).map_err(fail("part-init", &name))?;
        Ok(Value::Unit)
    },
);

/// `part-disk`.
pub static PART_DISK: CommandSpec = cmd(
    "part-disk",
    DEV_TYPE,
    "partition whole disk with a single primary partition",
    "part-init, then one primary partition over the whole disk, leaving 128 sectors free \
     at each end (where guestfish's parted puts it). On GPT the partition is named p1.",
    &["part-disk /dev/sda mbr"],
    |ctx, args| {
        let kind = parttype("part-disk", &args.text(1))?;
        let (name, dev) = whole(ctx, "part-disk", args)?;
        let total = (dev.size() / 512) as i64;
        let f = fail("part-disk", &name);
        write::init(dev.as_ref(), kind).map_err(&f)?;
        write::add(dev.as_ref(), PartKind::Primary, 128, total - 128).map_err(&f)?;
        if kind == TableKind::Gpt {
            write::modify_gpt_entry(dev.as_ref(), 1, |p| {
                p.name = "p1".into();
                Ok(())
            })
            .map_err(&f)?;
        }
        Ok(Value::Unit)
    },
);

/// `part-add`.
pub static PART_ADD: CommandSpec = cmd(
    "part-add",
    &[
        arg("device", ArgKind::Device),
        arg("prlogex", ArgKind::String),
        arg("startsect", ArgKind::Int64),
        arg("endsect", ArgKind::Int64),
    ],
    "add a partition to the device",
    "Add a primary (p), logical (l) or extended (e) partition from STARTSECT to ENDSECT \
     inclusive, in 512-byte sectors, exactly where asked; a negative ENDSECT counts from \
     the end of the disk (-1 is the last sector). New partitions have type 0x83 (MBR) or \
     Linux filesystem (GPT, named after PRLOGEX as parted names them).",
    &["part-add /dev/sda p 20480 -2048"],
    |ctx, args| {
        let kind = match args.text(1).as_str() {
            "p" | "primary" => PartKind::Primary,
            "l" | "logical" => PartKind::Logical,
            "e" | "extended" => PartKind::Extended,
            other => {
                return Err(CmdError::api(
                    "part_add",
                    format!(
                        "unknown partition type: {other}: this should be \"primary\", \"logical\" or \"extended\""
                    ),
                ));
            }
        };
        let (start, end) = (args.int(2), args.int(3));
        if start < 0 {
            return Err(CmdError::api("part_add", "startsect cannot be negative"));
        }
        let (name, dev) = whole(ctx, "part-add", args)?;
        kind_of("part-add", &name, &dev)?;
        write::add(dev.as_ref(), kind, start, end).map_err(fail("part-add", &name))?;
        Ok(Value::Unit)
    },
);

static DEV_NUM: &[ArgSpec] = &[arg("device", ArgKind::Device), arg("partnum", ArgKind::Int)];

/// `part-del`.
pub static PART_DEL: CommandSpec = cmd(
    "part-del",
    DEV_NUM,
    "delete a partition",
    "Delete partition PARTNUM. Other partitions keep their numbers (logical partitions \
     after a deleted one move down, as on Linux).",
    &["part-del /dev/sda 2"],
    |ctx, args| {
        let num = partnum("part-del", args)?;
        let (name, dev) = whole(ctx, "part-del", args)?;
        existing("part-del", &name, &dev, num)?;
        write::delete(dev.as_ref(), num).map_err(fail("part-del", &name))?;
        Ok(Value::Unit)
    },
);

/// `part-set-bootable`.
pub static PART_SET_BOOTABLE: CommandSpec = cmd(
    "part-set-bootable",
    &[
        arg("device", ArgKind::Device),
        arg("partnum", ArgKind::Int),
        arg("bootable", ArgKind::Bool),
    ],
    "make a partition bootable",
    "Set or clear the MBR active flag. On GPT, as parted's boot flag does, make the \
     partition an EFI system partition (or a Linux filesystem partition again).",
    &["part-set-bootable /dev/sda 1 true"],
    |ctx, args| {
        let num = partnum("part-set-bootable", args)?;
        let on = args.bool(2);
        let (name, dev) = whole(ctx, "part-set-bootable", args)?;
        let kind = kind_of("part-set-bootable", &name, &dev)?;
        existing("part-set-bootable", &name, &dev, num)?;
        let f = fail("part-set-bootable", &name);
        match kind {
            TableKind::Msdos => write::modify_mbr_entry(dev.as_ref(), num, |e| {
                e.boot = if on { 0x80 } else { 0 };
                Ok(())
            }),
            TableKind::Gpt => write::modify_gpt_entry(dev.as_ref(), num, |p| {
                p.part_type_guid = gpt_type(if on { ESP_GUID } else { LINUX_FS_GUID })?;
                Ok(())
            }),
        }
        .map_err(f)?;
        Ok(Value::Unit)
    },
);

/// `part-set-mbr-id`.
pub static PART_SET_MBR_ID: CommandSpec = cmd(
    "part-set-mbr-id",
    &[
        arg("device", ArgKind::Device),
        arg("partnum", ArgKind::Int),
        arg("idbyte", ArgKind::Int),
    ],
    "set the MBR type byte (ID byte) of a partition",
    "Set the partition's MBR type byte (0x83 Linux, 0x8e LVM, 0x82 swap, 0x0c FAT32, ...).",
    &["part-set-mbr-id /dev/sda 1 0x8e"],
    |ctx, args| {
        let num = partnum("part-set-mbr-id", args)?;
        let id = u8::try_from(args.int(2))
            .map_err(|_| CmdError::api("part_set_mbr_id", "idbyte must be between 0 and 255"))?;
        let (name, dev) = whole(ctx, "part-set-mbr-id", args)?;
        if kind_of("part-set-mbr-id", &name, &dev)? != TableKind::Msdos {
            return Err(CmdError::api(
                "part_set_mbr_id",
                "part-set-mbr-id can only be used on MBR Partition Tables",
            ));
        }
        existing("part-set-mbr-id", &name, &dev, num)?;
        write::modify_mbr_entry(dev.as_ref(), num, |e| {
            e.sys = id;
            Ok(())
        })
        .map_err(fail("part-set-mbr-id", &name))?;
        Ok(Value::Unit)
    },
);

/// Run `change` on GPT entry argument 1 of GPT device argument 0.
fn gpt_entry(
    ctx: &mut Ctx<'_>,
    cmd: &str,
    args: &Args,
    change: impl FnOnce(&mut gpt::partition::Partition) -> Result<(), BlockError>,
) -> Result<Value, CmdError> {
    let num = partnum(cmd, args)?;
    let (name, dev) = whole(ctx, cmd, args)?;
    if kind_of(cmd, &name, &dev)? != TableKind::Gpt {
        return Err(CmdError::api(
            &func(cmd),
            format!("{cmd} can only be used on GUID Partition Tables"),
        ));
    }
    existing(cmd, &name, &dev, num)?;
    write::modify_gpt_entry(dev.as_ref(), num, change).map_err(fail(cmd, &name))?;
    Ok(Value::Unit)
}

fn parse_guid(cmd: &str, text: &str) -> Result<uuid::Uuid, CmdError> {
    text.parse()
        .map_err(|_| CmdError::api(&func(cmd), format!("{text}: not a valid GUID")))
}

/// `part-set-name`.
pub static PART_SET_NAME: CommandSpec = cmd(
    "part-set-name",
    &[
        arg("device", ArgKind::Device),
        arg("partnum", ArgKind::Int),
        arg("name", ArgKind::String),
    ],
    "set partition name",
    "Set the partition's name (GPT only; at most 36 UTF-16 code units).",
    &["part-set-name /dev/sdb 1 boot"],
    |ctx, args| {
        let label = args.text(2);
        let num = partnum("part-set-name", args)?;
        let (name, dev) = whole(ctx, "part-set-name", args)?;
        if kind_of("part-set-name", &name, &dev)? == TableKind::Msdos {
            return Err(CmdError::api(
                "part_set_name",
                format!("parted: {name}: Error: msdos disk labels do not support partition name."),
            ));
        }
        if label.encode_utf16().count() > 36 {
            return Err(CmdError::api(
                "part_set_name",
                "the name is longer than 36 UTF-16 units",
            ));
        }
        let _ = num;
        gpt_entry(ctx, "part-set-name", args, |p| {
            p.name = label;
            Ok(())
        })
    },
);

/// `part-set-gpt-type`.
pub static PART_SET_GPT_TYPE: CommandSpec = cmd(
    "part-set-gpt-type",
    &[
        arg("device", ArgKind::Device),
        arg("partnum", ArgKind::Int),
        arg("guid", ArgKind::String),
    ],
    "set the type GUID of a GPT partition",
    "Set the partition type GUID.",
    &["part-set-gpt-type /dev/sdb 1 C12A7328-F81F-11D2-BA4B-00A0C93EC93B"],
    |ctx, args| {
        let g = parse_guid("part-set-gpt-type", &args.text(2))?;
        gpt_entry(ctx, "part-set-gpt-type", args, move |p| {
            p.part_type_guid = gpt::partition_types::Type::from(g);
            Ok(())
        })
    },
);

/// `part-set-gpt-guid`.
pub static PART_SET_GPT_GUID: CommandSpec = cmd(
    "part-set-gpt-guid",
    &[
        arg("device", ArgKind::Device),
        arg("partnum", ArgKind::Int),
        arg("guid", ArgKind::String),
    ],
    "set the GUID of a GPT partition",
    "Set the partition's unique GUID.",
    &["part-set-gpt-guid /dev/sdb 1 01234567-89AB-CDEF-0123-456789ABCDEF"],
    |ctx, args| {
        let g = parse_guid("part-set-gpt-guid", &args.text(2))?;
        gpt_entry(ctx, "part-set-gpt-guid", args, move |p| {
            p.part_guid = g;
            Ok(())
        })
    },
);

/// `part-set-gpt-attributes`.
pub static PART_SET_GPT_ATTRIBUTES: CommandSpec = cmd(
    "part-set-gpt-attributes",
    &[
        arg("device", ArgKind::Device),
        arg("partnum", ArgKind::Int),
        arg("attributes", ArgKind::Int64),
    ],
    "set the attribute flags of a GPT partition",
    "Set the partition's 64 attribute bits (4: legacy BIOS bootable).",
    &["part-set-gpt-attributes /dev/sdb 1 4"],
    |ctx, args| {
        let a = args.int(2) as u64;
        gpt_entry(ctx, "part-set-gpt-attributes", args, move |p| {
            p.flags = a;
            Ok(())
        })
    },
);

/// `part-set-disk-guid`.
pub static PART_SET_DISK_GUID: CommandSpec = cmd(
    "part-set-disk-guid",
    &[arg("device", ArgKind::Device), arg("guid", ArgKind::String)],
    "set the GUID of a GPT-partitioned disk",
    "Set the disk GUID of a GPT disk.",
    &["part-set-disk-guid /dev/sdb 01234567-89AB-CDEF-0123-456789ABCDEF"],
    |ctx, args| {
        let g = parse_guid("part-set-disk-guid", &args.text(1))?;
        let (name, dev) = whole(ctx, "part-set-disk-guid", args)?;
        if kind_of("part-set-disk-guid", &name, &dev)? != TableKind::Gpt {
            return Err(CmdError::api(
                "part_set_disk_guid",
                "part-set-disk-guid can only be used on GUID Partition Tables",
            ));
        }
        write::modify_gpt(dev.as_ref(), |guid, _| {
            *guid = g;
            Ok(())
        })
        .map_err(fail("part-set-disk-guid", &name))?;
        Ok(Value::Unit)
    },
);

/// `part-resize`.
pub static PART_RESIZE: CommandSpec = cmd(
    "part-resize",
    &[
        arg("device", ArgKind::Device),
        arg("partnum", ArgKind::Int),
        arg("endsect", ArgKind::Int64),
    ],
    "resize a partition",
    "Move the end of partition PARTNUM to ENDSECT (inclusive; negative counts from the end \
     of the disk), keeping its start. The filesystem inside is not resized.",
    &["part-resize /dev/sda 2 30000"],
    |ctx, args| {
        let num = partnum("part-resize", args)?;
        let end = args.int(2);
        let (name, dev) = whole(ctx, "part-resize", args)?;
        kind_of("part-resize", &name, &dev)?;
        existing("part-resize", &name, &dev, num)?;
        write::resize(dev.as_ref(), num, end).map_err(fail("part-resize", &name))?;
        Ok(Value::Unit)
    },
);

/// `part-expand-gpt`.
pub static PART_EXPAND_GPT: CommandSpec = cmd(
    "part-expand-gpt",
    &[arg("device", ArgKind::Device)],
    "move backup GPT header to the end of the disk",
    "After the disk image grew, move the backup GPT header and entries to the new end of \
     the disk (sgdisk -e), so the new space can be partitioned.",
    &["part-expand-gpt /dev/sdb"],
    |ctx, args| {
        let (name, dev) = whole(ctx, "part-expand-gpt", args)?;
        if kind_of("part-expand-gpt", &name, &dev)? != TableKind::Gpt {
            return Err(CmdError::api(
                "part_expand_gpt",
                format!("{name}: not a GPT disk"),
            ));
        }
        write::expand_gpt(dev.as_ref()).map_err(fail("part-expand-gpt", &name))?;
        Ok(Value::Unit)
    },
);
