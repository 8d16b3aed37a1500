//! LVM commands, read side: pvs, vgs, lvs, lvm-canonical-lv-name, vg-activate-all.
//! rfish reads LVM metadata itself (src/lvm/); there is nothing to activate.

use super::spec::{ArgKind, CommandSpec, RetType, arg, declared as cmd};
use super::{Args, CmdError, Value};

/// `pvs`.
pub static PVS: CommandSpec = cmd(
    "pvs",
    &[],
    RetType::StringList,
    "list the LVM physical volumes (PVs)",
    "The devices that are LVM physical volumes of a volume group.",
    &["pvs"],
    |ctx, _args: &Args| {
        let mut out = Vec::new();
        for vg in ctx.session.volume_groups("pvs")? {
            out.extend(vg.found.iter().map(|pv| pv.name.clone().into_bytes()));
        }
        Ok(Value::StringList(out))
    },
);

/// `vgs`.
pub static VGS: CommandSpec = cmd(
    "vgs",
    &[],
    RetType::StringList,
    "list the LVM volume groups (VGs)",
    "The names of the volume groups found on the drives.",
    &["vgs"],
    |ctx, _args| {
        let vgs = ctx.session.volume_groups("vgs")?;
        Ok(Value::StringList(
            vgs.into_iter().map(|v| v.name.into_bytes()).collect(),
        ))
    },
);

/// `lvs`.
pub static LVS: CommandSpec = cmd(
    "lvs",
    &[],
    RetType::StringList,
    "list the LVM logical volumes (LVs)",
    "Every visible logical volume as /dev/VG/LV. Thin pools, snapshots, RAID and cache \
     volumes are listed too, but opening them says they are not supported natively.",
    &["lvs"],
    |ctx, _args| {
        let mut out = Vec::new();
        for vg in ctx.session.volume_groups("lvs")? {
            out.extend(
                vg.lvs
                    .iter()
                    .map(|lv| format!("/dev/{}/{}", vg.name, lv.name).into_bytes()),
            );
        }
        Ok(Value::StringList(out))
    },
);

/// `lvm-canonical-lv-name`.
pub static LVM_CANONICAL_LV_NAME: CommandSpec = cmd(
    "lvm-canonical-lv-name",
    &[arg("lvname", ArgKind::Device)],
    RetType::String,
    "get canonical name of an LV",
    "/dev/VG/LV for /dev/mapper/VG-LV (or /dev/VG/LV itself).",
    &["-lvm-canonical-lv-name /dev/mapper/vg-root"],
    |ctx, args| {
        let name = args.text(0);
        if crate::lvm::parse_lv_name(&name).is_none() {
            return Err(CmdError::api(
                "lvm_canonical_lv_name",
                format!("{name}: not a logical volume"),
            ));
        }
        let d = ctx.session.device("lvm_canonical_lv_name", &name)?;
        Ok(Value::String(d.name.into_bytes()))
    },
);

/// `vg-activate-all`.
pub static VG_ACTIVATE_ALL: CommandSpec = cmd(
    "vg-activate-all",
    &[arg("activate", ArgKind::Bool)],
    RetType::Err,
    "activate or deactivate all volume groups",
    "Accepted for compatibility: rfish reads logical volumes without activating them.",
    &["vg-activate-all true"],
    |_ctx, _args| Ok(Value::Unit),
);
