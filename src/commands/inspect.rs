//! Inspection commands: inspect-os and the inspect-get-* family, and the -i option's
//! mounting (inspect_apps.rs lists applications) (src/inspect/ does the work).

use super::spec::{ArgKind, ArgSpec, CommandSpec, RetType, arg, declared as cmd};
use super::{Args, CmdError, Ctx, Value};
use crate::inspect::{Candidate, OsInfo};
use crate::session::Session;

/// Probe every filesystem device, with GPT names and GUIDs for PARTUUID=/PARTLABEL=.
fn candidates(s: &mut Session, func: &str) -> Result<Vec<Candidate>, CmdError> {
    let mut out = Vec::new();
    for (name, dev) in s.filesystem_devices(func)? {
        let probe = crate::part::probe::probe(dev.as_ref())
            .ok()
            .flatten()
            .map(|p| p.pairs)
            .unwrap_or_default();
        let gpt = crate::part::parse_device_name(&name).and_then(|d| {
            let num = d.partition?;
            let drive = s.open_drives.get(d.drive)?;
            let table = crate::part::read_table(drive.dev.as_ref()).ok()??;
            let g = table.get(num)?.gpt.clone()?;
            Some((g.guid, g.name))
        });
        out.push(Candidate {
            name,
            dev,
            probe,
            gpt,
        });
    }
    Ok(out)
}

/// Run inspection (unmounting everything first, as guestfish does) and remember the
/// result in the session.
pub fn inspect_os(s: &mut Session) -> Result<Vec<String>, CmdError> {
    s.vfs.umount_all();
    let c = candidates(s, "inspect_os")?;
    // Other root filesystem types are mounted read-only in the appliance while inspected.
    let mut open_other =
        |cand: &Candidate| match s.open_filesystem("inspect_os", &cand.name, false, "", None) {
            Ok((_, fs, _)) => Some(fs),
            Err(e) => {
                if let CmdError::Api(m) = e {
                    eprintln!("rfish: inspecting {}: {m}", cand.name);
                }
                None
            }
        };
    let found = crate::inspect::inspect(&c, &mut open_other);
    s.inspected = found;
    Ok(s.inspected.iter().map(|o| o.root.clone()).collect())
}

/// The inspection data of `root`.
pub(crate) fn root_info<'a>(
    s: &'a mut Session,
    func: &str,
    root: &str,
) -> Result<&'a OsInfo, CmdError> {
    // The argument must name a device first (guestfish checks that before anything).
    s.device(func, root)?;
    if s.inspected.is_empty() {
        return Err(CmdError::api(
            func,
            "no inspection data: call guestfs_inspect_os first",
        ));
    }
    s.inspected.iter().find(|o| o.root == root).ok_or_else(|| {
        CmdError::api(
            func,
            format!(
                "{root}: root device not found: only call this function with a root device previously returned by guestfs_inspect_os"
            ),
        )
    })
}

/// `inspect-os`.
pub static INSPECT_OS: CommandSpec = cmd(
    "inspect-os",
    &[],
    RetType::StringList,
    "inspect disk and return list of operating systems found",
    "Unmount everything, look at every filesystem for an operating system and print the \
     root filesystem of each one found (ext2/3/4 roots are inspected natively).",
    &["inspect-os"],
    |ctx, _args| {
        let roots = inspect_os(ctx.session)?;
        Ok(Value::StringList(
            roots.into_iter().map(String::into_bytes).collect(),
        ))
    },
);

/// `inspect-get-roots`.
pub static INSPECT_GET_ROOTS: CommandSpec = cmd(
    "inspect-get-roots",
    &[],
    RetType::StringList,
    "return list of operating systems found by last inspection",
    "The roots the last inspect-os found.",
    &["inspect-get-roots"],
    |ctx, _args| {
        Ok(Value::StringList(
            ctx.session
                .inspected
                .iter()
                .map(|o| o.root.clone().into_bytes())
                .collect(),
        ))
    },
);

static ROOT: &[ArgSpec] = &[arg("root", ArgKind::Device)];

fn get_string(
    ctx: &mut Ctx<'_>,
    args: &Args,
    func: &str,
    f: fn(&OsInfo) -> String,
) -> Result<Value, CmdError> {
    let o = root_info(ctx.session, func, &args.text(0))?;
    Ok(Value::String(f(o).into_bytes()))
}

macro_rules! getter {
    ($static:ident, $name:literal, $func:literal, $short:literal, $long:literal, $f:expr) => {
        #[doc = concat!("`", $name, "`.")]
        pub static $static: CommandSpec = cmd(
            $name,
            ROOT,
            RetType::String,
            $short,
            $long,
            &[concat!($name, " /dev/sda1")],
            |ctx, args| get_string(ctx, args, $func, $f),
        );
    };
}

getter!(
    INSPECT_GET_TYPE,
    "inspect-get-type",
    "inspect_get_type",
    "get type of inspected operating system",
    "linux (or unknown).",
    |o| o.os_type.clone()
);
getter!(
    INSPECT_GET_DISTRO,
    "inspect-get-distro",
    "inspect_get_distro",
    "get distro of inspected operating system",
    "debian, ubuntu, fedora, rhel, centos, archlinux, ... or unknown.",
    |o| o.distro.clone()
);
getter!(
    INSPECT_GET_PRODUCT_NAME,
    "inspect-get-product-name",
    "inspect_get_product_name",
    "get product name of inspected operating system",
    "The product name from the release files (PRETTY_NAME, the first line of a release file) or unknown.",
    |o| o.product_name.clone()
);
getter!(
    INSPECT_GET_PRODUCT_VARIANT,
    "inspect-get-product-variant",
    "inspect_get_product_variant",
    "get product variant of inspected operating system",
    "unknown for Linux guests.",
    |_| "unknown".into()
);
getter!(
    INSPECT_GET_ARCH,
    "inspect-get-arch",
    "inspect_get_arch",
    "get architecture of inspected operating system",
    "From the ELF header of /bin/bash (or ls, echo, rm, sh): x86_64, i386, aarch64, ... or unknown.",
    |o| o.arch.clone()
);
getter!(
    INSPECT_GET_HOSTNAME,
    "inspect-get-hostname",
    "inspect_get_hostname",
    "get hostname of the operating system",
    "From /etc/HOSTNAME, /etc/hostname or /etc/sysconfig/network.",
    |o| o.hostname.clone()
);
getter!(
    INSPECT_GET_PACKAGE_FORMAT,
    "inspect-get-package-format",
    "inspect_get_package_format",
    "get package format used by the operating system",
    "deb, rpm, pacman, apk, ... or unknown.",
    |o| o.package_format().into()
);
getter!(
    INSPECT_GET_PACKAGE_MANAGEMENT,
    "inspect-get-package-management",
    "inspect_get_package_management",
    "get package management tool used by the operating system",
    "apt, dnf, yum, zypper, ... or unknown.",
    |o| o.package_management().into()
);
getter!(
    INSPECT_GET_FORMAT,
    "inspect-get-format",
    "inspect_get_format",
    "get format of inspected operating system",
    "installed (rfish does not detect install media).",
    |_| "installed".into()
);
getter!(
    INSPECT_GET_OSINFO,
    "inspect-get-osinfo",
    "inspect_get_osinfo",
    "get a possible osinfo short ID corresponding to this operating system",
    "The libosinfo short id (debian12, rhel8.1, ubuntu22.04, ...) or unknown.",
    |o| o.osinfo()
);

fn get_int(
    ctx: &mut Ctx<'_>,
    args: &Args,
    func: &str,
    f: fn(&OsInfo) -> i64,
) -> Result<Value, CmdError> {
    let o = root_info(ctx.session, func, &args.text(0))?;
    Ok(Value::Int(f(o)))
}

/// `inspect-get-major-version`.
pub static INSPECT_GET_MAJOR_VERSION: CommandSpec = cmd(
    "inspect-get-major-version",
    ROOT,
    RetType::Int,
    "get major version of inspected operating system",
    "The major version (0 when unknown).",
    &["inspect-get-major-version /dev/sda1"],
    |ctx, args| get_int(ctx, args, "inspect_get_major_version", |o| o.major),
);

/// `inspect-get-minor-version`.
pub static INSPECT_GET_MINOR_VERSION: CommandSpec = cmd(
    "inspect-get-minor-version",
    ROOT,
    RetType::Int,
    "get minor version of inspected operating system",
    "The minor version (0 when unknown).",
    &["inspect-get-minor-version /dev/sda1"],
    |ctx, args| get_int(ctx, args, "inspect_get_minor_version", |o| o.minor),
);

fn get_bool_false(ctx: &mut Ctx<'_>, args: &Args, func: &str) -> Result<Value, CmdError> {
    root_info(ctx.session, func, &args.text(0))?;
    Ok(Value::Bool(false))
}

/// `inspect-is-live`.
pub static INSPECT_IS_LIVE: CommandSpec = cmd(
    "inspect-is-live",
    ROOT,
    RetType::Bool,
    "get live flag for install disk",
    "false (install media are not detected).",
    &["inspect-is-live /dev/sda1"],
    |ctx, args| get_bool_false(ctx, args, "inspect_is_live"),
);

/// `inspect-is-netinst`.
pub static INSPECT_IS_NETINST: CommandSpec = cmd(
    "inspect-is-netinst",
    ROOT,
    RetType::Bool,
    "get netinst (network installer) flag for install disk",
    "false (install media are not detected).",
    &["inspect-is-netinst /dev/sda1"],
    |ctx, args| get_bool_false(ctx, args, "inspect_is_netinst"),
);

/// `inspect-is-multipart`.
pub static INSPECT_IS_MULTIPART: CommandSpec = cmd(
    "inspect-is-multipart",
    ROOT,
    RetType::Bool,
    "get multipart flag for install disk",
    "false (install media are not detected).",
    &["inspect-is-multipart /dev/sda1"],
    |ctx, args| get_bool_false(ctx, args, "inspect_is_multipart"),
);

/// `inspect-get-mountpoints`.
pub static INSPECT_GET_MOUNTPOINTS: CommandSpec = cmd(
    "inspect-get-mountpoints",
    ROOT,
    RetType::Hashtable,
    "get mountpoints of inspected operating system",
    "MOUNTPOINT: DEVICE pairs from the guest's /etc/fstab (devices resolved to rfish's \
     names), in file order.",
    &["inspect-get-mountpoints /dev/sda1"],
    |ctx, args| {
        let o = root_info(ctx.session, "inspect_get_mountpoints", &args.text(0))?;
        Ok(Value::Hashtable(o.mountpoints()))
    },
);

/// `inspect-get-filesystems`.
pub static INSPECT_GET_FILESYSTEMS: CommandSpec = cmd(
    "inspect-get-filesystems",
    ROOT,
    RetType::StringList,
    "get filesystems associated with inspected operating system",
    "The root and every filesystem its fstab names.",
    &["inspect-get-filesystems /dev/sda1"],
    |ctx, args| {
        let o = root_info(ctx.session, "inspect_get_filesystems", &args.text(0))?;
        Ok(Value::StringList(
            o.filesystems()
                .into_iter()
                .map(String::into_bytes)
                .collect(),
        ))
    },
);

/// Mount an inspected root's filesystems shortest mountpoint first (guestfish's -i).
/// Returns false when `/` could not be mounted.
pub fn mount_root(ctx: &mut Ctx<'_>, root: &str) -> Result<bool, CmdError> {
    let o = root_info(ctx.session, "inspect_get_mountpoints", root)?.clone();
    let _ = &o;
    let mut mps = o.mountpoints();
    mps.sort_by_key(|(mp, _)| mp.len());
    let ro = ctx.session.read_only;
    let mut errors = 0;
    for (mp, dev) in &mps {
        let (func, opts) = if ro {
            ("mount_ro", "ro")
        } else {
            ("mount", "")
        };
        let r = super::mount::mount_device(ctx, func, dev, mp, opts, None, ro);
        if let Err(e) = r {
            super::report(ctx.session, &e);
            if mp == "/" {
                return Ok(false);
            }
            errors += 1;
        }
    }
    if errors > 0 {
        eprintln!("rfish: some filesystems could not be mounted (ignored)");
    }
    Ok(true)
}

/// The -i banner: `Operating system: NAME` and `DEV mounted on MP` lines.
pub fn banner(s: &Session, root: &str) -> String {
    let Some(o) = s.inspected.iter().find(|o| o.root == root) else {
        return String::new();
    };
    let mut out = String::new();
    if o.product_name != "unknown" {
        out.push_str(&format!("Operating system: {}\n", o.product_name));
    }
    let mut mps = o.mountpoints();
    mps.sort_by_key(|(mp, _)| mp.to_ascii_lowercase());
    for (mp, dev) in mps {
        out.push_str(&format!("{dev} mounted on {mp}\n"));
    }
    out
}
