//! The state of one rfish session: what guestfish keeps in its handle and globals.

use std::path::Path;

use crate::block::{self, Device, ImageFormat, OpenOptions};
use crate::commands::CmdError;
use crate::part::{PartKind, Window, canonical_name, drive_name, parse_device_name, read_table};
use std::sync::Arc;

/// A drive named with `-a` (opened by the block layer once it exists).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriveSpec {
    /// The image file or URI as given.
    pub path: String,
    /// `--format=` in force when it was added (`None`: probe).
    pub format: Option<String>,
    /// Added under `--ro` or `readonly:true`: the file is opened read-only.
    pub read_only: bool,
    /// rfish extra: keep writes in memory on top of the (read-only) image.
    pub overlay: bool,
}

/// A drive opened by the block layer, as the guest sees it.
pub struct OpenDrive {
    /// `/dev/sda`, `/dev/sdb`, ...
    pub name: String,
    /// The device.
    pub dev: Device,
}

/// A device a command argument names: a drive or a partition of one.
pub struct DevRef {
    /// The canonical name (`/dev/sda1` for `/dev/vda1`).
    pub name: String,
    /// The device (a window onto the drive for a partition).
    pub dev: Device,
    /// Writes are refused (opened read-only, or `blockdev-setro`).
    pub read_only: bool,
}

impl std::fmt::Debug for OpenDrive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenDrive")
            .field("name", &self.name)
            .field("format", &self.dev.format_name())
            .field("size", &self.dev.size())
            .finish()
    }
}

/// Where the line being run came from, for `FILE:LINE:` error prefixes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// `*stdin*` or the `-f` file name.
    pub file: String,
    /// 1-based line number; 0 for commands given on the command line.
    pub line: usize,
}

/// Everything a session carries from one command to the next.
#[derive(Debug, Default)]
pub struct Session {
    /// Drives added so far.
    pub drives: Vec<DriveSpec>,
    /// `--ro`.
    pub read_only: bool,
    /// `-x`: trace each command on standard error.
    pub trace: bool,
    /// `-v`, repeatable.
    pub verbose: u8,
    /// `--network`.
    pub network: bool,
    /// `run`/`launch` has been issued.
    pub launched: bool,
    /// The drives opened so far, in the order added (opened at launch or first use).
    pub open_drives: Vec<OpenDrive>,
    /// Devices `blockdev-setro` was applied to (canonical names).
    pub read_only_devices: std::collections::BTreeSet<String>,
    /// `quit`/`exit`/`q` was run.
    pub quit: bool,
    /// Commands issued so far (guestfish's `command_num`: the first unknown command gets a
    /// longer hint).
    pub command_num: usize,
    /// Set in scripts: errors are prefixed with this location.
    pub location: Option<Location>,
    /// `--pipe-error`: a failing `| host-cmd` makes the command fail.
    pub pipe_error: bool,
    /// The mounted filesystems.
    pub vfs: crate::fs::vfs::Vfs,
    /// What the last `inspect-os` found, one entry per root.
    pub inspected: Vec<crate::inspect::OsInfo>,
    /// `--no-progress-bars`.
    pub no_progress_bars: bool,
    /// The appliance (booted by the first guest command or non-native mount), shared with
    /// the filesystems it serves.
    pub link: crate::appliance::link::Link,
    /// `set-memsize` (MiB; `None`: RFISH_MEMSIZE or 512).
    pub memsize: Option<u32>,
    /// `set-smp` (0 means 1).
    pub smp: u32,
    /// `--accel` (`None`: RFISH_ACCEL, else auto).
    pub accel: Option<crate::appliance::launch::Accel>,
    /// Handlers registered with `event`.
    pub events: crate::commands::events::Events,
}

impl Session {
    /// Open every added drive not opened yet (rfish opens drives when a command first
    /// needs them, so a forgotten `run` is not an error).
    pub fn open_drives(&mut self, func: &str) -> Result<(), CmdError> {
        while self.open_drives.len() < self.drives.len() {
            let index = self.open_drives.len();
            let spec = &self.drives[index];
            let dev = open_drive(spec).map_err(|e| CmdError::api(func, e))?;
            self.open_drives.push(OpenDrive {
                name: drive_name(index),
                dev,
            });
        }
        Ok(())
    }

    /// The device an argument names — a drive or a partition — with guestfish's errors
    /// (`FUNC_stub: NAME: No such file or directory` for what does not exist).
    pub fn device(&mut self, func: &str, name: &str) -> Result<DevRef, CmdError> {
        self.open_drives(func)?;
        let missing = || {
            CmdError::api(
                func,
                format!("{func}_stub: {name}: No such file or directory"),
            )
        };
        if let Some((vg_name, lv_name)) = crate::lvm::parse_lv_name(name) {
            let vgs = self.volume_groups(func)?;
            let vg = vgs.iter().find(|v| v.name == vg_name).ok_or_else(missing)?;
            let lv = vg
                .lvs
                .iter()
                .find(|l| l.name == lv_name)
                .ok_or_else(missing)?;
            let dev = vg.open_lv(lv).map_err(|e| CmdError::api(func, e))?;
            let canonical = format!("/dev/{vg_name}/{lv_name}");
            let read_only = crate::block::BlockDev::is_read_only(&dev)
                || self.read_only_devices.contains(&canonical);
            return Ok(DevRef {
                name: canonical,
                dev: crate::lvm::shared(dev),
                read_only,
            });
        }
        let parsed = parse_device_name(name).ok_or_else(missing)?;
        let drive = self.open_drives.get(parsed.drive).ok_or_else(missing)?;
        let canonical = canonical_name(parsed);
        let dev = match parsed.partition {
            None => drive.dev.clone(),
            Some(num) => {
                let table = read_table(drive.dev.as_ref())
                    .map_err(|e| CmdError::api(func, format!("{}: {e}", drive.name)))?;
                let part = table
                    .as_ref()
                    .and_then(|t| t.get(num))
                    .ok_or_else(missing)?;
                // Linux exposes an extended partition as its first 1 KiB only.
                let len = if part.kind == PartKind::Extended {
                    part.size.min(1024)
                } else {
                    part.size
                };
                let window = Window::new(drive.dev.clone(), part.start, len).ok_or_else(missing)?;
                Arc::new(window)
            }
        };
        let read_only = dev.is_read_only()
            || self.read_only_devices.contains(&canonical)
            || self.read_only_devices.contains(&drive.name);
        Ok(DevRef {
            name: canonical,
            dev,
            read_only,
        })
    }

    /// Every device that can hold a filesystem or a PV, as guestfish orders them: drives
    /// without a partition table, then partitions other than extended ones.
    pub fn fs_candidates(&mut self, func: &str) -> Result<Vec<(String, Device)>, CmdError> {
        self.open_drives(func)?;
        let mut whole = Vec::new();
        let mut parts_out = Vec::new();
        for d in &self.open_drives {
            let table = read_table(d.dev.as_ref())
                .map_err(|e| CmdError::api(func, format!("{}: {e}", d.name)))?;
            let Some(t) = table else {
                whole.push((d.name.clone(), d.dev.clone()));
                continue;
            };
            let mut parts = t.parts.clone();
            parts.sort_by_key(|p| p.num);
            for p in parts.iter().filter(|p| p.kind != PartKind::Extended) {
                if let Some(w) = Window::new(d.dev.clone(), p.start, p.size) {
                    parts_out.push((format!("{}{}", d.name, p.num), Arc::new(w) as Device));
                }
            }
        }
        whole.extend(parts_out);
        Ok(whole)
    }

    /// Every device that may hold a filesystem, in guestfish's order: drives without a
    /// partition table, partitions, then logical volumes.
    pub fn filesystem_devices(&mut self, func: &str) -> Result<Vec<(String, Device)>, CmdError> {
        let mut out = self.fs_candidates(func)?;
        for vg in self.volume_groups(func)? {
            for lv in &vg.lvs {
                if let Ok(dev) = vg.open_lv(lv) {
                    out.push((
                        format!("/dev/{}/{}", vg.name, lv.name),
                        crate::lvm::shared(dev),
                    ));
                }
            }
        }
        Ok(out)
    }

    /// The LVM volume groups on the drives.
    pub fn volume_groups(&mut self, func: &str) -> Result<Vec<crate::lvm::VolumeGroup>, CmdError> {
        let candidates = self.fs_candidates(func)?;
        crate::lvm::scan(&candidates).map_err(|e| CmdError::api(func, e))
    }

    /// A device and the filesystem type blkid would name on it (empty when none).
    pub fn device_fs_type(&mut self, func: &str, name: &str) -> Result<(DevRef, String), CmdError> {
        let d = self.device(func, name)?;
        let probed = crate::part::probe::probe(d.dev.as_ref())
            .map_err(|e| CmdError::api(func, format!("{}: {e}", d.name)))?;
        let kind = probed
            .as_ref()
            .and_then(|p| p.get("TYPE"))
            .unwrap_or("")
            .to_string();
        Ok((d, kind))
    }

    /// Open the filesystem on a device for mounting: (canonical device name, filesystem,
    /// device is read-only). rfish drives ext2/3/4 natively; any other type blkid names
    /// (or `vfstype` asks for) is mounted in the appliance, with `options`.
    pub fn open_filesystem(
        &mut self,
        func: &str,
        name: &str,
        want_rw: bool,
        options: &str,
        vfstype: Option<&str>,
    ) -> Result<(String, Arc<dyn crate::fs::Filesystem>, bool), CmdError> {
        let (d, probed) = self.device_fs_type(func, name)?;
        let kind = vfstype.unwrap_or(&probed).to_string();
        let rw = want_rw && !d.read_only && !d.dev.is_read_only();
        let native = matches!(probed.as_str(), "ext2" | "ext3" | "ext4");
        match kind.as_str() {
            "ext2" | "ext3" | "ext4" if native => {
                let fs = if rw {
                    crate::fs::ext4::Ext4::open_rw(d.dev.clone())
                } else {
                    crate::fs::ext4::Ext4::open(d.dev.clone())
                }
                .map_err(|e| CmdError::api(func, format!("{}: {e}", d.name)))?;
                Ok((d.name, Arc::new(fs), !rw))
            }
            "" | "swap" | "LVM2_member" | "crypto_LUKS" | "linux_raid_member" => {
                Err(CmdError::api(
                    func,
                    format!(
                        "{}: wrong fs type, bad option, bad superblock on {}, missing codepage or helper program, or other error.",
                        d.name, d.name
                    ),
                ))
            }
            _ => {
                let read_only_dev = d.read_only || d.dev.is_read_only();
                let fs = crate::commands::guest::open_remote(
                    self,
                    func,
                    &d.name,
                    &kind,
                    rw,
                    read_only_dev,
                    options,
                )?;
                Ok((d.name, fs, !rw))
            }
        }
    }

    /// The mount of the device with canonical name `device` (`/dev/sda1`), or with
    /// `whole_disk` of any partition of it too.
    pub fn mount_using(&self, device: &str, whole_disk: bool) -> Option<&crate::fs::vfs::Mount> {
        self.vfs.mounts().iter().find(|m| {
            let name =
                parse_device_name(&m.device).map_or_else(|| m.device.clone(), canonical_name);
            name == device || (whole_disk && name.starts_with(device))
        })
    }

    /// Reopen every mounted filesystem from its device (after the appliance wrote to them,
    /// rfish's caches are stale), keeping the mount table as it is.
    pub fn reopen_filesystems(&mut self, func: &str) -> Result<(), CmdError> {
        let mounts = self.vfs.mounts().to_vec();
        for (i, m) in mounts.iter().enumerate() {
            // The appliance's own mounts stay as they are (their caches follow the link's
            // epoch).
            if m.fs.appliance_mount().is_some() {
                continue;
            }
            let (_, fs, _) = self.open_filesystem(func, &m.device, !m.read_only, "", None)?;
            self.vfs.set_fs(i, fs);
        }
        Ok(())
    }

    /// Flush every opened drive (write back metadata, make data durable).
    pub fn flush_drives(&self) -> Result<(), block::BlockError> {
        for d in &self.open_drives {
            d.dev.flush()?;
        }
        Ok(())
    }

    /// A fresh session, as `reopen` makes one: options carry over, drives and state do not.
    pub fn reopened(&self) -> Session {
        Session {
            read_only: self.read_only,
            trace: self.trace,
            verbose: self.verbose,
            network: self.network,
            location: self.location.clone(),
            pipe_error: self.pipe_error,
            command_num: self.command_num,
            memsize: self.memsize,
            smp: self.smp,
            accel: self.accel,
            events: self.events.clone(),
            ..Session::default()
        }
    }
}

/// Open one drive as its spec says.
fn open_drive(spec: &DriveSpec) -> Result<Device, block::BlockError> {
    let format = spec
        .format
        .as_deref()
        .map(ImageFormat::parse)
        .transpose()
        .map_err(|e| e.in_file(&spec.path))?;
    let read_only = spec.read_only || spec.overlay;
    let dev = block::open_image(
        Path::new(&spec.path),
        &OpenOptions {
            format,
            read_only,
            lock: true,
        },
    )?;
    Ok(if spec.overlay {
        std::sync::Arc::new(block::overlay::MemOverlay::new(dev))
    } else {
        dev
    })
}
