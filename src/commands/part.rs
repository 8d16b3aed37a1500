//! Partition-table commands, read side: list-partitions, part-list, part-get-*,
//! part-to-dev, part-to-partnum, is-whole-device, canonical-device-name, device-index.
//! Output and messages follow guestfish 1.48 (daemon/parted.c, daemon/devsparts.c); where
//! guestfish answers GPT questions about an MBR disk with sgdisk's in-memory conversion
//! (random disk GUIDs, made-up types), rfish says the table is the wrong kind instead.

use super::output::Field;
use super::spec::{
    ArgKind, ArgSpec, CommandSpec, RetType, arg, declared as cmd, func_name as func,
};
use super::{Args, CmdError, Ctx, Value};
use crate::part::{
    PartEntry, PartKind, PartTable, TableKind, canonical_name, parse_device_name, read_table,
};

/// The EFI system partition type, which parted reports as the "boot" flag on GPT.
const ESP_GUID: &str = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";
/// GPT attribute bit 2, parted's "legacy_boot" flag (guestfish reports it as bootable).
const LEGACY_BIOS_BOOTABLE: u64 = 1 << 2;

static DEV: &[ArgSpec] = &[arg("device", ArgKind::Device)];
static DEV_PARTNUM: &[ArgSpec] = &[arg("device", ArgKind::Device), arg("partnum", ArgKind::Int)];
static PARTITION: &[ArgSpec] = &[arg("partition", ArgKind::Device)];

/// The partition table of the whole drive named by argument 0.
fn table(ctx: &mut Ctx<'_>, cmd: &str, args: &Args) -> Result<PartTable, CmdError> {
    let f = func(cmd);
    let name = args.text(0);
    let d = ctx.session.device(&f, &name)?;
    if parse_device_name(&name).and_then(|n| n.partition).is_some() {
        return Err(CmdError::api(&f, format!("{name}: not a whole device")));
    }
    read_table(d.dev.as_ref())
        .map_err(|e| CmdError::api(&f, format!("{}: {e}", d.name)))?
        .ok_or_else(|| CmdError::api(&f, format!("{}: unrecognised disk label", d.name)))
}

/// Partition `partnum` (argument 1) of the table of argument 0.
fn entry(ctx: &mut Ctx<'_>, cmd: &str, args: &Args) -> Result<(PartTable, PartEntry), CmdError> {
    let t = table(ctx, cmd, args)?;
    let num = args.int(1);
    let e = u32::try_from(num)
        .ok()
        .and_then(|n| t.get(n))
        .cloned()
        .ok_or_else(|| CmdError::api(&func(cmd), format!("partition number {num} not found")))?;
    Ok((t, e))
}

fn gpt_only(cmd: &str, t: &PartTable) -> Result<(), CmdError> {
    if t.kind != TableKind::Gpt {
        return Err(CmdError::api(
            &func(cmd),
            format!("{cmd} can only be used on GUID Partition Tables"),
        ));
    }
    Ok(())
}

fn msdos_only(cmd: &str, t: &PartTable) -> Result<(), CmdError> {
    if t.kind != TableKind::Msdos {
        return Err(CmdError::api(
            &func(cmd),
            format!("{cmd} can only be used on MBR Partition Tables"),
        ));
    }
    Ok(())
}

/// `list-partitions`.
pub static LIST_PARTITIONS: CommandSpec = cmd(
    "list-partitions",
    &[],
    RetType::StringList,
    "list the partitions",
    "List every partition of every drive (/dev/sda1, ...), extended partitions included.",
    &["list-partitions"],
    list_partitions,
);

fn list_partitions(ctx: &mut Ctx<'_>, _args: &Args) -> Result<Value, CmdError> {
    ctx.session.open_drives("list_partitions")?;
    let mut out = Vec::new();
    for d in &ctx.session.open_drives {
        let t = read_table(d.dev.as_ref())
            .map_err(|e| CmdError::api("list_partitions", format!("{}: {e}", d.name)))?;
        let mut nums: Vec<u32> = t
            .iter()
            .flat_map(|t| t.parts.iter().map(|p| p.num))
            .collect();
        nums.sort_unstable();
        out.extend(
            nums.into_iter()
                .map(|n| format!("{}{n}", d.name).into_bytes()),
        );
    }
    Ok(Value::StringList(out))
}

/// `part-list`.
pub static PART_LIST: CommandSpec = cmd(
    "part-list",
    DEV,
    RetType::StructList,
    "list partitions on a device",
    "List the partitions of a whole device: number, first byte, last byte and size in bytes.",
    &["part-list /dev/sda"],
    |ctx, args| {
        let t = table(ctx, "part-list", args)?;
        let mut parts = t.parts.clone();
        parts.sort_by_key(|p| p.num);
        Ok(Value::StructList(
            parts
                .iter()
                .map(|p| {
                    vec![
                        ("part_num", Field::Int(i64::from(p.num))),
                        ("part_start", Field::Int(p.start as i64)),
                        ("part_end", Field::Int((p.start + p.size) as i64 - 1)),
                        ("part_size", Field::Int(p.size as i64)),
                    ]
                })
                .collect(),
        ))
    },
);

/// `part-get-parttype`.
pub static PART_GET_PARTTYPE: CommandSpec = cmd(
    "part-get-parttype",
    DEV,
    RetType::String,
    "get the partition table type",
    "Print msdos or gpt.",
    &["part-get-parttype /dev/sda"],
    |ctx, args| {
        Ok(Value::String(
            table(ctx, "part-get-parttype", args)?.kind.name().into(),
        ))
    },
);

/// `part-get-bootable`.
pub static PART_GET_BOOTABLE: CommandSpec = cmd(
    "part-get-bootable",
    DEV_PARTNUM,
    RetType::Bool,
    "return true if a partition is bootable",
    "The MBR active flag; on GPT, whether the partition is an EFI system partition or has \
     the legacy BIOS bootable attribute (parted's boot and legacy_boot flags).",
    &["part-get-bootable /dev/sda 1"],
    |ctx, args| {
        let (_, e) = entry(ctx, "part-get-bootable", args)?;
        Ok(Value::Bool(match &e.gpt {
            Some(g) => g.type_guid == ESP_GUID || g.attributes & LEGACY_BIOS_BOOTABLE != 0,
            None => e.bootable,
        }))
    },
);

/// `part-get-mbr-id`.
pub static PART_GET_MBR_ID: CommandSpec = cmd(
    "part-get-mbr-id",
    DEV_PARTNUM,
    RetType::IntHex,
    "get the MBR type byte (ID byte) from a partition",
    "The partition's MBR type byte, printed in hexadecimal (0x83 Linux, 0x8e LVM, ...).",
    &["part-get-mbr-id /dev/sda 1"],
    |ctx, args| {
        let (t, e) = entry(ctx, "part-get-mbr-id", args)?;
        msdos_only("part-get-mbr-id", &t)?;
        Ok(Value::Int(i64::from(e.mbr_id.unwrap_or(0))))
    },
);

/// `part-get-mbr-part-type`.
pub static PART_GET_MBR_PART_TYPE: CommandSpec = cmd(
    "part-get-mbr-part-type",
    DEV_PARTNUM,
    RetType::String,
    "get the MBR partition type",
    "primary, extended or logical (GPT partitions are primary).",
    &["part-get-mbr-part-type /dev/sda 1"],
    |ctx, args| {
        let (_, e) = entry(ctx, "part-get-mbr-part-type", args)?;
        let kind = match e.kind {
            PartKind::Primary | PartKind::Gpt => "primary",
            PartKind::Extended => "extended",
            PartKind::Logical => "logical",
        };
        Ok(Value::String(kind.into()))
    },
);

fn gpt_field(
    ctx: &mut Ctx<'_>,
    cmd: &str,
    args: &Args,
    pick: fn(&crate::part::table::GptInfo) -> Value,
) -> Result<Value, CmdError> {
    let (t, e) = entry(ctx, cmd, args)?;
    gpt_only(cmd, &t)?;
    Ok(e.gpt.as_ref().map_or(Value::Unit, pick))
}

/// `part-get-name`.
pub static PART_GET_NAME: CommandSpec = cmd(
    "part-get-name",
    DEV_PARTNUM,
    RetType::String,
    "get partition name",
    "The partition's name (GPT only).",
    &["part-get-name /dev/sdb 1"],
    |ctx, args| {
        gpt_field(ctx, "part-get-name", args, |g| {
            Value::String(g.name.clone().into_bytes())
        })
    },
);

/// `part-get-gpt-type`.
pub static PART_GET_GPT_TYPE: CommandSpec = cmd(
    "part-get-gpt-type",
    DEV_PARTNUM,
    RetType::String,
    "get the type GUID of a GPT partition",
    "The partition type GUID, upper case.",
    &["part-get-gpt-type /dev/sdb 1"],
    |ctx, args| {
        gpt_field(ctx, "part-get-gpt-type", args, |g| {
            Value::String(g.type_guid.clone().into_bytes())
        })
    },
);

/// `part-get-gpt-guid`.
pub static PART_GET_GPT_GUID: CommandSpec = cmd(
    "part-get-gpt-guid",
    DEV_PARTNUM,
    RetType::String,
    "get the GUID of a GPT partition",
    "The partition's unique GUID, upper case.",
    &["part-get-gpt-guid /dev/sdb 1"],
    |ctx, args| {
        gpt_field(ctx, "part-get-gpt-guid", args, |g| {
            Value::String(g.guid.clone().into_bytes())
        })
    },
);

/// `part-get-gpt-attributes`.
pub static PART_GET_GPT_ATTRIBUTES: CommandSpec = cmd(
    "part-get-gpt-attributes",
    DEV_PARTNUM,
    RetType::Int64,
    "get the attribute flags of a GPT partition",
    "The partition's 64 attribute bits as a number (4: legacy BIOS bootable).",
    &["part-get-gpt-attributes /dev/sdb 1"],
    |ctx, args| {
        gpt_field(ctx, "part-get-gpt-attributes", args, |g| {
            Value::Int(g.attributes as i64)
        })
    },
);

/// `part-get-disk-guid`.
pub static PART_GET_DISK_GUID: CommandSpec = cmd(
    "part-get-disk-guid",
    DEV,
    RetType::String,
    "get the GUID of a GPT-partitioned disk",
    "The disk GUID of a GPT disk, upper case.",
    &["part-get-disk-guid /dev/sdb"],
    |ctx, args| {
        let t = table(ctx, "part-get-disk-guid", args)?;
        gpt_only("part-get-disk-guid", &t)?;
        Ok(Value::String(t.disk_guid.unwrap_or_default().into_bytes()))
    },
);

fn partition_arg(
    ctx: &mut Ctx<'_>,
    cmd: &str,
    args: &Args,
) -> Result<crate::part::DeviceName, CmdError> {
    let f = func(cmd);
    let name = args.text(0);
    let parsed = parse_device_name(&name);
    if let Some(p) = parsed
        && p.partition.is_none()
    {
        return Err(CmdError::api(&f, "device name is not a partition"));
    }
    ctx.session.device(&f, &name)?;
    parsed.ok_or_else(|| CmdError::api(&f, format!("{f}_stub: {name}: No such file or directory")))
}

/// `part-to-dev`.
pub static PART_TO_DEV: CommandSpec = cmd(
    "part-to-dev",
    PARTITION,
    RetType::String,
    "convert partition name to device name",
    "The whole device a partition is on: /dev/sda for /dev/sda5.",
    &["part-to-dev /dev/sda1"],
    |ctx, args| {
        let p = partition_arg(ctx, "part-to-dev", args)?;
        let whole = crate::part::DeviceName {
            partition: None,
            ..p
        };
        Ok(Value::String(canonical_name(whole).into_bytes()))
    },
);

/// `part-to-partnum`.
pub static PART_TO_PARTNUM: CommandSpec = cmd(
    "part-to-partnum",
    PARTITION,
    RetType::Int,
    "convert partition name to partition number",
    "The partition's number: 5 for /dev/sda5.",
    &["part-to-partnum /dev/sda1"],
    |ctx, args| {
        let p = partition_arg(ctx, "part-to-partnum", args)?;
        Ok(Value::Int(i64::from(p.partition.unwrap_or(0))))
    },
);

/// `is-whole-device`.
pub static IS_WHOLE_DEVICE: CommandSpec = cmd(
    "is-whole-device",
    DEV,
    RetType::Bool,
    "test if a device is a whole device",
    "true for a drive, false for a partition.",
    &["is-whole-device /dev/sda"],
    |ctx, args| {
        let d = ctx.session.device("is_whole_device", &args.text(0))?;
        let whole = parse_device_name(&d.name).is_some_and(|n| n.partition.is_none());
        Ok(Value::Bool(whole))
    },
);

/// `canonical-device-name`.
pub static CANONICAL_DEVICE_NAME: CommandSpec = cmd(
    "canonical-device-name",
    &[arg("device", ArgKind::String)],
    RetType::String,
    "return canonical device name",
    "The /dev/sd* spelling of a guest-side name (/dev/vda2 → /dev/sda2, /dev/hdb → \
     /dev/sdb, /dev/xvda1 → /dev/sda1); other names come back unchanged.",
    &["canonical-device-name /dev/vda2"],
    |_ctx, args| {
        let name = args.text(0);
        let canonical = parse_device_name(&name).map_or(name, canonical_name);
        Ok(Value::String(canonical.into_bytes()))
    },
);

/// `device-index`.
pub static DEVICE_INDEX: CommandSpec = cmd(
    "device-index",
    DEV,
    RetType::Int,
    "convert device to index",
    "The position of a drive in list-devices, counting from 0.",
    &["device-index /dev/sda"],
    |ctx, args| {
        let name = args.text(0);
        ctx.session.open_drives("device_index")?;
        match parse_device_name(&name) {
            Some(d) if d.partition.is_none() && d.drive < ctx.session.open_drives.len() => {
                Ok(Value::Int(d.drive as i64))
            }
            _ => Err(CmdError::Api(format!("{name}: device not found"))),
        }
    },
);
