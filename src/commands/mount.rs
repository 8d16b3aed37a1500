//! The mount table commands: mount, mount-ro, mount-options, mount-vfs, umount, umount-all,
//! mounts, mountpoints. ext2/3/4 are mounted natively; the table is the VFS every file
//! command resolves paths through.

use super::spec::{ArgKind, ArgSpec, Arity, CommandSpec, RetType, arg, declared as cmd};
use super::{CmdError, Ctx, Value};
use crate::fs::vfs::{Mount, MountError};

static MOUNT_ARGS: &[ArgSpec] = &[
    arg("mountable", ArgKind::Device),
    arg("mountpoint", ArgKind::String),
];

/// Mount `device` on `mountpoint` with `options`.
pub(crate) fn mount_device(
    ctx: &mut Ctx<'_>,
    func: &str,
    device: &str,
    mountpoint: &str,
    options: &str,
    vfstype: Option<&str>,
    force_ro: bool,
) -> Result<Value, CmdError> {
    let ro_opt = options.split(',').any(|o| o == "ro");
    let (name, fs, dev_ro) = ctx.session.open_filesystem(
        func,
        device,
        !(force_ro || ro_opt || ctx.session.read_only),
        options,
        vfstype,
    )?;
    let m = Mount {
        device: name,
        mountpoint: mountpoint.to_string(),
        fs,
        read_only: force_ro || ro_opt || dev_ro,
        options: options.to_string(),
    };
    let sysroot = format!(
        "/sysroot{}",
        if mountpoint == "/" { "" } else { mountpoint }
    );
    ctx.session.vfs.mount(m).map_err(|e| match e {
        MountError::RootFirst | MountError::Target(_) => CmdError::api(
            func,
            format!("mount: {mountpoint}: mount point is not a directory"),
        ),
        // guestfish's appliance reports mount(8)'s failure.
        MountError::Busy => CmdError::api(
            func,
            format!(
                "mount exited with status 32: mount: {sysroot}: {device} already mounted on {sysroot}.\n       dmesg(1) may have more information after failed mount system call."
            ),
        ),
    })?;
    Ok(Value::Unit)
}

/// `mount`.
pub static MOUNT: CommandSpec = cmd(
    "mount",
    MOUNT_ARGS,
    RetType::Err,
    "mount a guest disk at a position in the filesystem",
    "Mount a guest disk at a position in the filesystem. / must be mounted first; every \
     other mountpoint must be a directory that exists. ext2, ext3 and ext4 are read and \
     written natively; any other filesystem (XFS, btrfs, vfat, NTFS, ...) is mounted by \
     the kernel of rfish's appliance, which boots for it, and every file command works on \
     it the same way. A read-only drive (--ro) gives a read-only mount.",
    &["mount /dev/sda1 /"],
    |ctx, args| mount_device(ctx, "mount", &args.text(0), &args.text(1), "", None, false),
);

/// `mount-ro`.
pub static MOUNT_RO: CommandSpec = cmd(
    "mount-ro",
    MOUNT_ARGS,
    RetType::Err,
    "mount a guest disk, read-only",
    "The same as mount, but the filesystem is mounted read-only.",
    &["mount-ro /dev/sda1 /"],
    |ctx, args| {
        mount_device(
            ctx,
            "mount_ro",
            &args.text(0),
            &args.text(1),
            "ro",
            None,
            true,
        )
    },
);

/// `mount-options`.
pub static MOUNT_OPTIONS: CommandSpec = cmd(
    "mount-options",
    &[
        arg("options", ArgKind::String),
        arg("mountable", ArgKind::Device),
        arg("mountpoint", ArgKind::String),
    ],
    RetType::Err,
    "mount a guest disk with mount options",
    "The same as mount, with a comma-separated list of mount options; ro makes the mount \
     read-only.",
    &["mount-options ro /dev/sda1 /"],
    |ctx, args| {
        let opts = args.text(0);
        mount_device(
            ctx,
            "mount_options",
            &args.text(1),
            &args.text(2),
            &opts,
            None,
            false,
        )
    },
);

/// `mount-vfs`.
pub static MOUNT_VFS: CommandSpec = cmd(
    "mount-vfs",
    &[
        arg("options", ArgKind::String),
        arg("vfstype", ArgKind::String),
        arg("mountable", ArgKind::Device),
        arg("mountpoint", ArgKind::String),
    ],
    RetType::Err,
    "mount a guest disk with mount options and vfstype",
    "The same as mount-options, naming the filesystem type: ext2, ext3 or ext4 on an \
     ext2/3/4 filesystem use the native driver; any other type is mounted by the \
     appliance's kernel.",
    &["mount-vfs ro ext4 /dev/sda1 /"],
    |ctx, args| {
        let vfstype = args.text(1);
        let device = args.text(2);
        let opts = args.text(0);
        mount_device(
            ctx,
            "mount_vfs",
            &device,
            &args.text(3),
            &opts,
            Some(&vfstype),
            false,
        )
    },
);

/// `umount`.
pub static UMOUNT: CommandSpec = CommandSpec {
    name: "umount",
    aliases: &["unmount"],
    args: &[arg("pathordevice", ArgKind::String)],
    optargs: &[
        arg("force", ArgKind::Bool),
        arg("lazyunmount", ArgKind::Bool),
    ],
    arity: Arity::Declared,
    free_synopsis: "",
    ret: RetType::Err,
    shortdesc: "unmount a filesystem",
    longdesc: "Unmount the filesystem mounted at a mountpoint, or from a device. Filesystems \
               mounted below it must be unmounted first.",
    examples: &["umount /"],
    handler: |ctx, args| {
        let what = args.text(0);
        ctx.session.vfs.umount(&what).map_err(|e| {
            let reason = match e.errno() {
                Some(crate::fs::Errno::Busy) => "target is busy.",
                _ => "no mount point specified.",
            };
            CmdError::api(
                "umount",
                format!("{what}: umount: /sysroot{what}: {reason}"),
            )
        })?;
        ctx.session
            .flush_drives()
            .map_err(|e| CmdError::api("umount", e))?;
        Ok(Value::Unit)
    },
};

/// `umount-all`.
pub static UMOUNT_ALL: CommandSpec = CommandSpec {
    name: "umount-all",
    aliases: &["unmount-all"],
    args: &[],
    optargs: &[],
    arity: Arity::Declared,
    free_synopsis: "",
    ret: RetType::Err,
    shortdesc: "unmount all filesystems",
    longdesc: "Unmount every mounted filesystem, deepest first.",
    examples: &["umount-all"],
    handler: |ctx, _args| {
        ctx.session.vfs.umount_all();
        ctx.session
            .flush_drives()
            .map_err(|e| CmdError::api("umount_all", e))?;
        Ok(Value::Unit)
    },
};

/// `mounts`.
pub static MOUNTS: CommandSpec = cmd(
    "mounts",
    &[],
    RetType::StringList,
    "show mounted filesystems",
    "The devices of the mounted filesystems, in the order they were mounted.",
    &["mounts"],
    |ctx, _args| {
        Ok(Value::StringList(
            ctx.session
                .vfs
                .mounts()
                .iter()
                .map(|m| m.device.clone().into_bytes())
                .collect(),
        ))
    },
);

/// `mountpoints`.
pub static MOUNTPOINTS: CommandSpec = cmd(
    "mountpoints",
    &[],
    RetType::Hashtable,
    "show mountpoints",
    "Each mounted device and where it is mounted, as DEVICE: MOUNTPOINT lines.",
    &["mountpoints"],
    |ctx, _args| {
        Ok(Value::Hashtable(
            ctx.session
                .vfs
                .mounts()
                .iter()
                .map(|m| (m.device.clone(), m.mountpoint.clone()))
                .collect(),
        ))
    },
);
