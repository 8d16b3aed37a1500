//! What the agent does to the appliance itself: early mounts, kernel modules, finding the
//! disks and the control port, mounting the user's filesystems under /sysroot, networking,
//! unmounting and powering off.

use std::collections::HashSet;
use std::fs::File;
use std::path::Path;
use std::time::{Duration, Instant};

use nix::mount::{MntFlags, MsFlags};

use super::SYSROOT;
use crate::appliance::proto::{MountSpec, PORT_NAME};

/// What boot found.
pub struct Booted {
    /// The control port, open read-write.
    pub port: File,
    /// The kernel release.
    pub kernel: String,
    /// The module loader.
    pub modules: Modules,
}

/// The kernel modules of the initramfs, listed in /modules as `GROUP PATH` lines
/// (dependencies first), loaded a group at a time when first needed.
pub struct Modules {
    groups: Vec<(String, String)>,
    loaded: HashSet<String>,
}

impl Modules {
    fn read() -> Modules {
        let text = std::fs::read_to_string("/modules").unwrap_or_default();
        let groups = text
            .lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(g, p)| (g.to_string(), p.to_string()))
            .collect();
        Modules {
            groups,
            loaded: HashSet::new(),
        }
    }

    /// Load every module of `group` not loaded yet (a group nobody listed loads nothing:
    /// its code may be built into the kernel).
    pub fn load(&mut self, group: &str) -> Result<(), String> {
        let start = Instant::now();
        let r = self.load_group(group);
        // On the console (shown with -v): module loading is a large part of boot time.
        eprintln!(
            "rfish-agent: modules {group}: {} ms",
            start.elapsed().as_millis()
        );
        r
    }

    fn load_group(&mut self, group: &str) -> Result<(), String> {
        let paths: Vec<String> = self
            .groups
            .iter()
            .filter(|(g, _)| g == group)
            .map(|(_, p)| p.clone())
            .collect();
        for path in paths {
            if self.loaded.contains(&path) {
                continue;
            }
            let f = File::open(&path).map_err(|e| format!("{path}: {e}"))?;
            // The kernel decompresses .ko.xz/.ko.zst itself (CONFIG_MODULE_DECOMPRESS).
            let flags = if path.ends_with(".ko") {
                nix::kmod::ModuleInitFlags::empty()
            } else {
                nix::kmod::ModuleInitFlags::from_bits_retain(4)
            };
            match nix::kmod::finit_module(&f, c"", flags) {
                // ENODEV: hardware this module drives is absent (crc32c_intel without SSE4.2).
                Ok(()) | Err(nix::errno::Errno::EEXIST | nix::errno::Errno::ENODEV) => {}
                Err(e) => return Err(format!("loading {path}: {e}")),
            }
            self.loaded.insert(path);
        }
        Ok(())
    }
}

fn mount_fs(src: &str, target: &str, fstype: &str, data: Option<&str>) -> Result<(), String> {
    let _ = std::fs::create_dir_all(target);
    nix::mount::mount(Some(src), target, Some(fstype), MsFlags::empty(), data)
        .map_err(|e| format!("mount {fstype} on {target}: {e}"))
}

/// Wait until `ready` gives a value, or fail after `limit`.
fn wait_for<T>(limit: Duration, mut ready: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = ready() {
            return Some(v);
        }
        if start.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// `key=value` from the kernel command line.
fn cmdline_value(cmdline: &str, key: &str) -> Option<String> {
    cmdline
        .split_whitespace()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
        .map(str::to_string)
}

/// The SCSI disks the kernel has found (`sda`, `sdb`, ...).
fn scsi_disks() -> Vec<String> {
    std::fs::read_dir("/sys/block")
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("sd"))
                .collect()
        })
        .unwrap_or_default()
}

/// `sda` → its SCSI target (drive `i` of rfish is target `i`), from the `H:C:T:L` name
/// of /sys/block/sda/device.
fn scsi_target(disk: &str) -> Option<usize> {
    let link = std::fs::read_link(format!("/sys/block/{disk}/device")).ok()?;
    let hctl = link.file_name()?.to_string_lossy().into_owned();
    hctl.split(':').nth(2)?.parse().ok()
}

/// A block device's `MAJOR:MINOR` from sysfs.
fn dev_numbers(sys: &Path) -> Option<(u64, u64)> {
    let text = std::fs::read_to_string(sys.join("dev")).ok()?;
    let (major, minor) = text.trim().split_once(':')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// Make block device node `path` for `(major, minor)`.
fn block_node(path: &str, (major, minor): (u64, u64)) -> Result<(), String> {
    nix::sys::stat::mknod(
        path,
        nix::sys::stat::SFlag::S_IFBLK,
        nix::sys::stat::Mode::from_bits_truncate(0o660),
        nix::sys::stat::makedev(major, minor),
    )
    .map_err(|e| format!("mknod {path}: {e}"))
}

/// The disk's partitions: (partition number, sysfs directory).
fn partitions(disk: &str) -> Vec<(u32, std::path::PathBuf)> {
    let dir = format!("/sys/block/{disk}");
    std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let num = std::fs::read_to_string(e.path().join("partition")).ok()?;
            name.starts_with(disk)
                .then(|| Some((num.trim().parse().ok()?, e.path())))?
        })
        .collect()
}

/// Make /dev/sda name rfish's first drive, /dev/sdb its second, ...: the kernel probes
/// SCSI disks asynchronously, so its own names may come in another order. The /dev
/// nodes (disks and partitions) are recreated by SCSI target when they do.
fn name_disks_by_target() -> Result<(), String> {
    // Partitions appear just after their disk: wait until the picture holds still.
    let snapshot = || -> Vec<(String, usize)> {
        let mut v: Vec<(String, usize)> = scsi_disks()
            .into_iter()
            .map(|d| {
                let n = partitions(&d).len();
                (d, n)
            })
            .collect();
        v.sort();
        v
    };
    let mut last = snapshot();
    for _ in 0..20 {
        std::thread::sleep(Duration::from_millis(10));
        let now = snapshot();
        if now == last {
            break;
        }
        last = now;
    }
    let mut targets = Vec::new();
    for (disk, _) in &last {
        let target = scsi_target(disk).ok_or_else(|| format!("{disk}: no SCSI address"))?;
        targets.push((disk.clone(), crate::part::drive_name(target)));
    }
    if targets
        .iter()
        .all(|(disk, want)| *want == format!("/dev/{disk}"))
    {
        return Ok(());
    }
    let mut nodes = Vec::new();
    for (disk, want) in &targets {
        if let Some(n) = dev_numbers(Path::new(&format!("/sys/block/{disk}"))) {
            nodes.push((want.clone(), n));
        }
        for (num, sys) in partitions(disk) {
            if let Some(n) = dev_numbers(&sys) {
                nodes.push((format!("{want}{num}"), n));
            }
        }
    }
    // Out with every sd node, in with the ones named by target.
    for e in std::fs::read_dir("/dev").into_iter().flatten().flatten() {
        if e.file_name().to_string_lossy().starts_with("sd") {
            let _ = std::fs::remove_file(e.path());
        }
    }
    nodes.sort();
    nodes.dedup();
    for (name, numbers) in nodes {
        block_node(&name, numbers)?;
    }
    eprintln!("rfish-agent: disks renamed by SCSI target");
    Ok(())
}

/// Wait for the `count` virtio disks rfish attached for devices it decodes itself
/// (logical volumes) and give each a node named by its serial: /dev/rfish/SERIAL.
fn name_extra_disks(count: usize) -> Result<(), String> {
    let found = || -> Vec<(String, String)> {
        std::fs::read_dir("/sys/block")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let serial = std::fs::read_to_string(e.path().join("serial")).ok()?;
                name.starts_with("vd")
                    .then(|| (name, serial.trim().to_string()))
            })
            .collect()
    };
    let disks = wait_for(Duration::from_secs(60), || {
        let f = found();
        (f.len() >= count).then_some(f)
    })
    .ok_or_else(|| format!("{count} virtio disks expected, found {:?}", found()))?;
    std::fs::create_dir_all("/dev/rfish").map_err(|e| format!("/dev/rfish: {e}"))?;
    for (name, serial) in disks {
        if serial.is_empty() || serial.contains('/') || serial.starts_with('.') {
            continue;
        }
        let (major, minor) = dev_numbers(Path::new(&format!("/sys/block/{name}")))
            .ok_or_else(|| format!("{name}: no device numbers"))?;
        block_node(&format!("/dev/rfish/{serial}"), (major, minor))?;
    }
    Ok(())
}

/// The device node of the virtio-serial port named [`PORT_NAME`].
fn control_port() -> Option<String> {
    for e in std::fs::read_dir("/sys/class/virtio-ports").ok()?.flatten() {
        let name = std::fs::read_to_string(e.path().join("name")).unwrap_or_default();
        if name.trim_end() == PORT_NAME {
            return Some(format!("/dev/{}", e.file_name().to_string_lossy()));
        }
    }
    None
}

/// Bring the appliance up to the point where it can say hello.
pub fn boot() -> Result<Booted, String> {
    mount_fs("devtmpfs", "/dev", "devtmpfs", None)?;
    mount_fs("proc", "/proc", "proc", None)?;
    mount_fs("sysfs", "/sys", "sysfs", None)?;
    mount_fs(
        "devpts",
        "/dev/pts",
        "devpts",
        Some("gid=5,mode=620,ptmxmode=666"),
    )?;
    let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
    let mut modules = Modules::read();
    modules.load("boot")?;
    let disks: usize = cmdline_value(&cmdline, "rfish.disks")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if wait_for(Duration::from_secs(60), || {
        (scsi_disks().len() >= disks).then_some(())
    })
    .is_none()
    {
        return Err(format!(
            "{disks} disks expected, the kernel found {:?}",
            scsi_disks()
        ));
    }
    name_disks_by_target()?;
    let extra: usize = cmdline_value(&cmdline, "rfish.extra")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if extra > 0 {
        name_extra_disks(extra)?;
    }
    let port = wait_for(Duration::from_secs(60), control_port)
        .ok_or_else(|| format!("no virtio-serial port named {PORT_NAME}"))?;
    let dev = wait_for(Duration::from_secs(10), || {
        File::options().read(true).write(true).open(&port).ok()
    })
    .ok_or_else(|| format!("{port}: cannot be opened"))?;
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim_end()
        .to_string();
    Ok(Booted {
        port: dev,
        kernel,
        modules,
    })
}

/// The module group a filesystem type needs.
fn fs_group(vfstype: &str) -> &str {
    match vfstype {
        "ext2" | "ext3" => "ext4",
        other => other,
    }
}

/// Mount one of the user's filesystems under /sysroot.
pub fn mount(modules: &mut Modules, m: &MountSpec) -> Result<(), String> {
    let target = format!(
        "{SYSROOT}{}",
        if m.mountpoint == "/" {
            ""
        } else {
            &m.mountpoint
        }
    );
    mount_on(modules, m, &target)
}

/// The kernel's name for a filesystem type blkid names (`ntfs` is the ntfs3 driver).
fn kernel_type(vfstype: &str) -> &str {
    match vfstype {
        "ntfs" => "ntfs3",
        other => other,
    }
}

/// Mount `m.device` on `target` (an existing directory). Type `bind` bind-mounts the
/// directory `m.device` (one of rfish's own mounts, shown to guest programs).
pub fn mount_on(modules: &mut Modules, m: &MountSpec, target: &str) -> Result<(), String> {
    if !Path::new(target).is_dir() {
        return Err(format!("{target}: mount point is not a directory"));
    }
    if m.vfstype == "bind" {
        nix::mount::mount(
            Some(m.device.as_str()),
            target,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|e| format!("bind {} on {target}: {e}", m.device))?;
        if m.read_only {
            nix::mount::mount(
                None::<&str>,
                target,
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
                None::<&str>,
            )
            .map_err(|e| format!("remount {target} read-only: {e}"))?;
        }
        return Ok(());
    }
    let vfstype = kernel_type(&m.vfstype);
    modules.load(fs_group(vfstype))?;
    let flags = if m.read_only {
        MsFlags::MS_RDONLY
    } else {
        MsFlags::empty()
    };
    // Partition nodes appear when the kernel has read the partition table.
    if wait_for(Duration::from_secs(10), || {
        Path::new(&m.device).exists().then_some(())
    })
    .is_none()
    {
        return Err(format!("{}: no such device in the appliance", m.device));
    }
    let data = (!m.options.is_empty()).then_some(m.options.as_str());
    let start = Instant::now();
    let r = nix::mount::mount(Some(m.device.as_str()), target, Some(vfstype), flags, data).map_err(
        |e| {
            format!(
                "cannot mount it as {vfstype}: {} (rfish -v shows the kernel's messages)",
                e.desc()
            )
        },
    );
    eprintln!(
        "rfish-agent: mount {} on {target}: {} ms",
        m.device,
        start.elapsed().as_millis()
    );
    r
}

/// Forget the disks' cached blocks (rfish may have written them natively since): sync,
/// then drop each disk's page cache. Only the block devices' own caches go — the files
/// and metadata of filesystems mounted for rfish (which rfish never reads natively) stay
/// cached, so guest programs and file operations on them do not start cold again.
pub fn drop_caches() {
    nix::unistd::sync();
    let mut nodes: Vec<std::path::PathBuf> = Vec::new();
    for dir in ["/dev", "/dev/rfish"] {
        let Ok(list) = std::fs::read_dir(dir) else {
            continue;
        };
        for e in list.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if dir == "/dev/rfish" || name.starts_with("sd") || name.starts_with("vd") {
                nodes.push(e.path());
            }
        }
    }
    for node in nodes {
        if let Ok(f) = std::fs::File::open(&node) {
            let _ = rustix::fs::fadvise(&f, 0, None, rustix::fs::Advice::DontNeed);
        }
    }
}

/// Sync and unmount `target`.
pub fn umount_one(target: &str) -> Result<(), String> {
    nix::unistd::sync();
    nix::mount::umount2(target, MntFlags::empty()).map_err(|e| format!("umount {target}: {e}"))
}

/// Mountpoints at or under `prefix` in /proc/mounts, deepest first.
pub fn mounts_under(prefix: &str) -> Vec<String> {
    let text = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    let mut list: Vec<String> = text
        .lines()
        .filter_map(|l| l.split(' ').nth(1))
        .map(unescape_mount_path)
        .filter(|p| p == prefix || p.starts_with(&format!("{prefix}/")))
        .collect();
    // Later mounts may sit on earlier ones: unmount in reverse order of mounting.
    list.reverse();
    list
}

/// /proc/mounts writes space, tab, newline and backslash as octal escapes (`\\040`).
fn unescape_mount_path(p: &str) -> String {
    let b = p.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        if b[i] == b'\\'
            && let Some(d) = octal
        {
            out.push((d[0] - b'0') << 6 | (d[1] - b'0') << 3 | (d[2] - b'0'));
            i += 4;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Kill what guest programs left running (daemons, `cmd &`): they would keep the guest
/// filesystems busy. Every process but the agent and the kernel's threads (children of
/// kthreadd, PID 2) goes; the orphans the agent inherited are reaped.
fn kill_strays() {
    use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
    let mut killed = 0;
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
        // "PID (COMM) STATE PPID ...": COMM may hold spaces and parentheses.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<i32>().ok());
        if pid > 2 && ppid.is_some_and(|p| p != 2) && pid != std::process::id() as i32 {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
            killed += 1;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    while killed > 0 && Instant::now() < deadline {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => std::thread::sleep(Duration::from_millis(5)),
            Ok(_) => killed -= 1,
            Err(_) => break,
        }
    }
}

/// Sync, unmount everything under /sysroot, and drop the page cache so the next mount
/// reads what rfish wrote in between.
pub fn umount_all() -> Result<(), String> {
    kill_strays();
    nix::unistd::sync();
    let mut failed = Vec::new();
    for mp in mounts_under(SYSROOT) {
        if let Err(e) = nix::mount::umount2(mp.as_str(), MntFlags::empty()) {
            failed.push(format!("umount {mp}: {e}"));
            let _ = nix::mount::umount2(mp.as_str(), MntFlags::MNT_DETACH);
        }
    }
    drop_caches();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(failed.join("; "))
    }
}

/// Bring up the network (once): QEMU's user-mode network is 10.0.2.0/24 with the gateway
/// at .2 and DNS at .3; the appliance's /etc/resolv.conf points there.
pub fn network_up(modules: &mut Modules) -> Result<(), String> {
    if Path::new("/etc/resolv.conf").exists() {
        return Ok(());
    }
    modules.load("net")?;
    let iface = wait_for(Duration::from_secs(30), || {
        std::fs::read_dir("/sys/class/net")
            .ok()?
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .find(|n| n != "lo")
    })
    .ok_or("no network interface appeared")?;
    let ip = |args: &[&str]| -> Result<(), String> {
        let out = std::process::Command::new("/bin/ip")
            .args(args)
            .output()
            .map_err(|e| format!("/bin/ip: {e} (rfish packs the host's ip(8) for --network)"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "ip {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim_end()
            ))
        }
    };
    ip(&["link", "set", "lo", "up"])?;
    ip(&["link", "set", &iface, "up"])?;
    ip(&["addr", "add", "10.0.2.15/24", "dev", &iface])?;
    ip(&["route", "add", "default", "via", "10.0.2.2"])?;
    std::fs::create_dir_all("/etc").map_err(|e| format!("/etc: {e}"))?;
    std::fs::write("/etc/resolv.conf", "nameserver 10.0.2.3\n")
        .map_err(|e| format!("/etc/resolv.conf: {e}"))
}

/// Power the appliance off (QEMU exits); never returns.
pub fn power_off() -> ! {
    nix::unistd::sync();
    let _ = nix::sys::reboot::reboot(nix::sys::reboot::RebootMode::RB_POWER_OFF);
    // Only reached if reboot(2) failed: PID 1 exiting panics the kernel, and QEMU
    // (-no-reboot, panic=-1) exits too.
    std::process::exit(1)
}
