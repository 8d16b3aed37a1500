//! `-N [FILE=]TYPE[:PARAMS]`: guestfish's prepared disks (fish/prep*.c): a blank disk, a
//! partitioned disk, a disk with a filesystem, or boot + root filesystems. The file is
//! created sparse, then partitioned and formatted natively once the drive is open.

use super::CmdError;
use crate::fs::ext4::mkfs::params::FsKind;
use crate::fs::ext4::mkfs::{self, MkfsOptions};
use crate::part::{PartKind, TableKind, write};
use crate::session::Session;

/// What to build on a prepared disk once it is open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// Blank.
    Disk,
    /// One partition over the disk (part-disk).
    Part {
        /// Partition table.
        table: TableKind,
    },
    /// One partition holding a filesystem.
    Fs {
        /// Partition table.
        table: TableKind,
        /// Filesystem type.
        fstype: String,
    },
    /// Boot partition of `boot_bytes` from sector 64, root after it up to 64 sectors
    /// from the end.
    BootRoot {
        /// Partition table.
        table: TableKind,
        /// Boot filesystem type.
        bootfs: String,
        /// Root filesystem type.
        rootfs: String,
        /// Size of the boot partition.
        boot_bytes: u64,
    },
}

/// A parsed `-N` argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    /// The image file to create.
    pub file: String,
    /// Its size in bytes.
    pub size: u64,
    /// What goes on it.
    pub layout: Layout,
}

/// `-N help`'s text.
pub const HELP: &str = "List of available prepared disk images:\n\n\
rfish -N disk     - create a blank disk\n\n  \
Create a blank disk, size 1G (by default).\n\n  \
The default size can be changed by supplying an optional parameter.\n\n  \
Optional parameters:\n    -N disk:<size>\n      <size> the size of the disk image (default: 1G)\n\n\
rfish -N part     - create a partitioned disk\n\n  \
Create a disk with a single partition. By default the size of the disk\n  \
is 1G (the available space in the partition will be a tiny bit smaller)\n  \
and the partition table will be MBR (old DOS-style).\n\n  \
These defaults can be changed by supplying optional parameters.\n\n  \
Optional parameters:\n    -N part:<size>:<partition>\n      \
<size> the size of the disk image (default: 1G)\n      \
<partition> partition table type (default: mbr)\n\n\
rfish -N fs       - create a filesystem\n\n  \
Create a disk with a single partition, with the partition containing an\n  \
empty filesystem. This defaults to creating a 1G disk (the available\n  \
space in the filesystem will be a tiny bit smaller) with an MBR (old\n  \
DOS-style) partition table and an ext2 filesystem.\n\n  \
These defaults can be changed by supplying optional parameters.\n\n  \
Optional parameters:\n    -N fs:<filesystem>:<size>:<partition>\n      \
<filesystem> the type of filesystem to use (default: ext2)\n      \
<size> the size of the disk image (default: 1G)\n      \
<partition> partition table type (default: mbr)\n\n\
rfish -N bootroot - create a boot and root filesystem\n\n  \
Create a disk with two partitions, for boot and root filesystem. Format\n  \
the two filesystems independently. There are several optional parameters\n  \
which control the exact layout and filesystem types.\n\n  \
Optional parameters:\n    -N bootroot:<bootfs>:<rootfs>:<size>:<bootsize>:<partition>\n      \
<bootfs> the type of filesystem to use for boot (default: ext2)\n      \
<rootfs> the type of filesystem to use for root (default: ext2)\n      \
<size> the size of the disk image (default: 1G)\n      \
<bootsize> the size of the boot filesystem (default: 128M)\n      \
<partition> partition table type (default: mbr)\n\n\
(lv, lvfs and bootrootlv need LVM writing, which rfish does not have yet.)\n\n\
Prepared disk images are written to file \"test1.img\" in the local\n\
directory.  (\"test2.img\" etc if -N option is given multiple times).\n\
You can override the name by providing a filename before the type, eg:\n\n  \
rfish -N blank.img=fs\n";

fn size_param(kind: &str, what: &str, text: Option<&str>, default: u64) -> Result<u64, String> {
    match text.filter(|s| !s.is_empty()) {
        None => Ok(default),
        Some(t) => match crate::parse::value::parse_size(t.as_bytes()) {
            Ok(s) if s > 0 => Ok(s),
            _ => Err(format!("-N {kind}: invalid {what}: {t}")),
        },
    }
}

fn table_param(kind: &str, text: Option<&str>) -> Result<TableKind, String> {
    match text.filter(|s| !s.is_empty()).unwrap_or("mbr") {
        "mbr" | "msdos" => Ok(TableKind::Msdos),
        "gpt" | "efi" => Ok(TableKind::Gpt),
        other => Err(format!("-N {kind}: unknown partition type: {other}")),
    }
}

fn fs_param(text: Option<&str>) -> String {
    text.filter(|s| !s.is_empty()).unwrap_or("ext2").to_string()
}

/// Parse `-N` argument number `n` (1-based).
pub fn parse(n: usize, spec: &str) -> Result<Prepared, String> {
    let (file, rest) = match spec.split_once('=') {
        Some((f, r)) => (f.to_string(), r),
        None => (format!("test{n}.img"), spec),
    };
    let mut parts = rest.split(':');
    let kind = parts.next().unwrap_or("");
    let p: Vec<&str> = parts.collect();
    let get = |i: usize| p.get(i).copied();
    const GIB: u64 = 1 << 30;
    let (size, layout) = match kind {
        "disk" => (size_param(kind, "size", get(0), GIB)?, Layout::Disk),
        "part" => (
            size_param(kind, "size", get(0), GIB)?,
            Layout::Part {
                table: table_param(kind, get(1))?,
            },
        ),
        "fs" => (
            size_param(kind, "size", get(1), GIB)?,
            Layout::Fs {
                fstype: fs_param(get(0)),
                table: table_param(kind, get(2))?,
            },
        ),
        "bootroot" => (
            size_param(kind, "size", get(2), GIB)?,
            Layout::BootRoot {
                bootfs: fs_param(get(0)),
                rootfs: fs_param(get(1)),
                boot_bytes: size_param(kind, "bootsize", get(3), 128 << 20)?,
                table: table_param(kind, get(4))?,
            },
        ),
        "lv" | "lvfs" | "bootrootlv" => {
            return Err(format!(
                "-N {kind} needs LVM writing, which is not yet supported by this version of rfish"
            ));
        }
        other => {
            return Err(format!(
                "-N {other}: unknown type: use -N help to list the prepared disk types"
            ));
        }
    };
    for fs in match &layout {
        Layout::Fs { fstype, .. } => vec![fstype.as_str()],
        Layout::BootRoot { bootfs, rootfs, .. } => vec![bootfs.as_str(), rootfs.as_str()],
        _ => vec![],
    } {
        if FsKind::parse(fs).is_none() {
            return Err(format!(
                "-N {kind}: rfish makes ext2, ext3 and ext4 filesystems; {fs} needs the appliance, which rfish does not have yet"
            ));
        }
    }
    Ok(Prepared { file, size, layout })
}

fn make_fs(s: &mut Session, device: &str, fstype: &str) -> Result<(), CmdError> {
    let kind = FsKind::parse(fstype).unwrap_or(FsKind::Ext2);
    let d = s.device("mkfs", device)?;
    mkfs::make(d.dev.as_ref(), &MkfsOptions::new(kind))
        .map(drop)
        .map_err(|e| CmdError::api("mkfs", format!("{fstype}: {device}: {e}")))
}

/// Build `p.layout` on drive `drive` (`/dev/sda`, ...) of the opened session.
pub fn apply(s: &mut Session, drive: &str, p: &Prepared) -> Result<(), CmdError> {
    let dev = s.device("launch", drive)?.dev;
    let fail = |func: &'static str| {
        move |e: crate::block::BlockError| CmdError::api(func, format!("{drive}: {e}"))
    };
    let total = (dev.size() / 512) as i64;
    match &p.layout {
        Layout::Disk => {}
        Layout::Part { table } | Layout::Fs { table, .. } => {
            write::init(dev.as_ref(), *table).map_err(fail("part_disk"))?;
            write::add(dev.as_ref(), part_kind(*table), 128, total - 128)
                .map_err(fail("part_disk"))?;
            if let Layout::Fs { fstype, .. } = &p.layout {
                make_fs(s, &format!("{drive}1"), fstype)?;
            }
        }
        Layout::BootRoot {
            table,
            bootfs,
            rootfs,
            boot_bytes,
        } => {
            let sectors = (boot_bytes / 512) as i64;
            write::init(dev.as_ref(), *table).map_err(fail("part_init"))?;
            write::add(dev.as_ref(), part_kind(*table), 64, 64 + sectors - 1)
                .map_err(fail("part_add"))?;
            write::add(dev.as_ref(), part_kind(*table), 64 + sectors, -64)
                .map_err(fail("part_add"))?;
            make_fs(s, &format!("{drive}1"), bootfs)?;
            make_fs(s, &format!("{drive}2"), rootfs)?;
        }
    }
    Ok(())
}

/// part-add's `p` (a primary partition, or the next GPT entry).
fn part_kind(_t: TableKind) -> PartKind {
    PartKind::Primary
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_default_as_guestfish() {
        let p = parse(1, "fs").unwrap();
        assert_eq!(p.file, "test1.img");
        assert_eq!(p.size, 1 << 30);
        assert_eq!(
            p.layout,
            Layout::Fs {
                table: TableKind::Msdos,
                fstype: "ext2".into()
            }
        );
        let p = parse(2, "x.img=bootroot:ext4:ext3:200M::gpt").unwrap();
        assert_eq!(p.file, "x.img");
        assert_eq!(p.size, 200 << 20);
        assert!(matches!(p.layout, Layout::BootRoot { boot_bytes, .. } if boot_bytes == 128 << 20));
        assert!(parse(1, "fs:vfat").is_err());
        assert!(parse(1, "lvfs").is_err());
        assert!(parse(1, "fs:ext4:0").is_err());
    }
}
