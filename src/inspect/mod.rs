//! Operating system inspection (../shared/guestfish-reference.md §4, libguestfs'
//! daemon/inspect*.ml): find the roots among the guest's filesystems, identify the
//! distribution from its release files, read the architecture from a system binary's ELF
//! header, the hostname, and the mountpoints from /etc/fstab with its device names
//! resolved to rfish's. Each candidate filesystem is opened in a private VFS, read-only;
//! the session's own mounts are left alone.

pub mod apps;
pub mod fstab;
pub mod release;
pub mod rpm;

use std::sync::Arc;

use crate::block::Device;
use crate::fs::vfs::{Mount, Vfs};
use crate::fs::{FileType, Filesystem};

/// What inspection found about one operating system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OsInfo {
    /// The root filesystem's device (`/dev/sda2`, `/dev/VG/LV`).
    pub root: String,
    /// `linux` (or `unknown`).
    pub os_type: String,
    /// `debian`, `fedora`, `rhel`, ... or `unknown`.
    pub distro: String,
    /// The product name, or `unknown`.
    pub product_name: String,
    /// Major version (0 when unknown).
    pub major: i64,
    /// Minor version.
    pub minor: i64,
    /// `x86_64`, `aarch64`, ... or `unknown`.
    pub arch: String,
    /// The hostname, or `unknown`.
    pub hostname: String,
    /// The fstab as libguestfs keeps it: (device, mountpoint) pairs.
    pub fstab: Vec<(String, String)>,
}

impl OsInfo {
    /// `deb`, `rpm`, `pacman`, `apk`, ... or `unknown`.
    pub fn package_format(&self) -> &'static str {
        match self.distro.as_str() {
            "debian" | "ubuntu" | "linuxmint" | "kalilinux" => "deb",
            "fedora" | "rhel" | "centos" | "scientificlinux" | "oraclelinux" | "redhat-based"
            | "opensuse" | "sles" | "suse-based" | "mageia" | "altlinux" | "openmandriva"
            | "rocky" | "circle" => "rpm",
            "archlinux" => "pacman",
            "alpinelinux" => "apk",
            "gentoo" => "ebuild",
            "voidlinux" => "xbps",
            _ => "unknown",
        }
    }

    /// `apt`, `dnf`, `yum`, `zypper`, ... or `unknown`.
    pub fn package_management(&self) -> &'static str {
        let m = self.major;
        match self.distro.as_str() {
            "debian" | "ubuntu" | "linuxmint" | "kalilinux" | "altlinux" => "apt",
            "fedora" if m >= 22 => "dnf",
            "fedora" => "yum",
            "rhel" | "centos" | "scientificlinux" | "oraclelinux" | "rocky" | "circle"
                if m >= 8 =>
            {
                "dnf"
            }
            "rhel" | "centos" | "scientificlinux" | "oraclelinux" if m >= 5 => "yum",
            "rhel" | "centos" | "scientificlinux" | "oraclelinux" => "up2date",
            "redhat-based" => "yum",
            "opensuse" | "sles" | "suse-based" => "zypper",
            "mageia" | "openmandriva" => "urpmi",
            "archlinux" => "pacman",
            "alpinelinux" => "apk",
            "gentoo" => "portage",
            "voidlinux" => "xbps",
            _ => "unknown",
        }
    }

    /// The libosinfo short id (`debian12`, `rhel8.1`, `ubuntu22.04`, ...) or `unknown`.
    pub fn osinfo(&self) -> String {
        let (m, n) = (self.major, self.minor);
        match self.distro.as_str() {
            "debian" if m >= 4 => format!("debian{m}"),
            "ubuntu" => format!("ubuntu{m}.{n:02}"),
            "fedora" => format!("fedora{m}"),
            "rhel" if m >= 7 => format!("rhel{m}.{n}"),
            "rhel" => format!("rhel{m}.{n}"),
            "centos" if m >= 8 => format!("centos{m}"),
            "centos" => format!("centos{m}.{n}"),
            "archlinux" => "archlinux".into(),
            "alpinelinux" => format!("alpinelinux{m}.{n}"),
            _ => "unknown".into(),
        }
    }

    /// (mountpoint, device) pairs: the fstab entries mounted on a path, or the root on
    /// `/` when there is no fstab.
    pub fn mountpoints(&self) -> Vec<(String, String)> {
        if self.fstab.is_empty() {
            return vec![("/".into(), self.root.clone())];
        }
        self.fstab
            .iter()
            .filter(|(_, mp)| mp.starts_with('/'))
            .map(|(dev, mp)| (mp.clone(), dev.clone()))
            .collect()
    }

    /// The filesystems this OS uses: every fstab device (the root alone without one).
    pub fn filesystems(&self) -> Vec<String> {
        if self.fstab.is_empty() {
            return vec![self.root.clone()];
        }
        self.fstab.iter().map(|(dev, _)| dev.clone()).collect()
    }
}

/// A filesystem candidate: its device name, the device, and what probing says.
pub struct Candidate {
    /// Device name.
    pub name: String,
    /// The device.
    pub dev: Device,
    /// blkid-style probe pairs.
    pub probe: Vec<(&'static str, String)>,
    /// GPT unique GUID and name, for PARTUUID= / PARTLABEL=.
    pub gpt: Option<(String, String)>,
}

impl Candidate {
    /// A probe value (`TYPE`, `UUID`, ...).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.probe
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// A read-only view of one filesystem mounted on `/`.
pub(crate) fn private_vfs(device: &str, fs: Arc<dyn Filesystem>) -> Vfs {
    let mut vfs = Vfs::default();
    // Mounting on "/" of an empty table cannot fail.
    let _ = vfs.mount(Mount {
        device: device.to_string(),
        mountpoint: "/".into(),
        fs,
        read_only: true,
        options: "ro".into(),
    });
    vfs
}

/// Follow symlinks: the type of what `path` names, if it exists.
pub(crate) fn kind(vfs: &Vfs, path: &str, follow: bool) -> Option<FileType> {
    let n = vfs.resolve(path, follow).ok()?;
    vfs.stat(&n).ok().map(|s| s.file_type())
}

/// A small file's content (at most 1 MiB), if it is a regular file.
pub(crate) fn small_file(vfs: &Vfs, path: &str) -> Option<Vec<u8>> {
    let n = vfs.resolve(path, true).ok()?;
    let st = vfs.stat(&n).ok()?;
    if st.file_type() != FileType::Regular || st.size > 1 << 20 {
        return None;
    }
    let mut buf = vec![0u8; st.size as usize];
    let got = vfs.fs(&n).read(n.ino, 0, &mut buf).ok()?;
    buf.truncate(got);
    Some(buf)
}

/// libguestfs' Linux root test: /etc is a directory, /bin is a directory or a link to
/// usr/bin, and /etc/fstab or /etc/hosts exists.
fn is_linux_root(vfs: &Vfs) -> bool {
    let bin_ok = kind(vfs, "/bin", false) == Some(FileType::Directory)
        || (kind(vfs, "/bin", false) == Some(FileType::Symlink)
            && vfs
                .resolve("/bin", false)
                .ok()
                .and_then(|n| vfs.fs(&n).read_link(n.ino).ok())
                .is_some_and(|t| t == b"usr/bin" || t == b"/usr/bin"));
    kind(vfs, "/etc", true) == Some(FileType::Directory)
        && bin_ok
        && (kind(vfs, "/etc/fstab", true).is_some() || kind(vfs, "/etc/hosts", true).is_some())
}

/// The architecture of the first of /bin/{bash,ls,echo,rm,sh} that is an ELF file.
fn architecture(vfs: &Vfs) -> String {
    for bin in ["/bin/bash", "/bin/ls", "/bin/echo", "/bin/rm", "/bin/sh"] {
        if kind(vfs, bin, true) != Some(FileType::Regular) {
            continue;
        }
        let Ok(n) = vfs.resolve(bin, true) else {
            continue;
        };
        let mut head = [0u8; 20];
        if vfs.fs(&n).read(n.ino, 0, &mut head).ok() != Some(20) || &head[..4] != b"\x7fELF" {
            continue;
        }
        let le = head[5] != 2;
        let machine = if le {
            u16::from_le_bytes([head[18], head[19]])
        } else {
            u16::from_be_bytes([head[18], head[19]])
        };
        let wide = head[4] == 2;
        return match machine {
            3 => "i386",
            0x3e => "x86_64",
            0xb7 => "aarch64",
            0x28 => "arm",
            0x15 if le => "ppc64le",
            0x15 => "ppc64",
            0x14 => "ppc",
            0x16 if wide => "s390x",
            0x16 => "s390",
            0xf3 if wide => "riscv64",
            0xf3 => "riscv32",
            0x08 => "mips",
            0x2b => "sparc64",
            _ => "unknown",
        }
        .to_string();
    }
    "unknown".into()
}

/// The first line of /etc/HOSTNAME or /etc/hostname, else HOSTNAME= in
/// /etc/sysconfig/network.
fn hostname(vfs: &Vfs) -> String {
    for f in ["/etc/HOSTNAME", "/etc/hostname"] {
        if let Some(data) = small_file(vfs, f) {
            let first = String::from_utf8_lossy(&data)
                .lines()
                .next()
                .unwrap_or("")
                .to_string();
            if !first.is_empty() {
                return first;
            }
        }
    }
    if let Some(data) = small_file(vfs, "/etc/sysconfig/network") {
        for line in String::from_utf8_lossy(&data).lines() {
            if let Some(v) = line.strip_prefix("HOSTNAME=") {
                return release::unquote(v);
            }
        }
    }
    "unknown".into()
}

/// Filesystem types a Linux root is looked for on.
pub const ROOT_TYPES: &[&str] = &["ext2", "ext3", "ext4", "xfs", "btrfs"];

/// Inspect the candidates: every Linux root found, in candidate order. ext2/3/4 are read
/// natively; `open_other` opens the other [`ROOT_TYPES`] read-only (through the appliance).
pub fn inspect(
    candidates: &[Candidate],
    open_other: &mut dyn FnMut(&Candidate) -> Option<Arc<dyn Filesystem>>,
) -> Vec<OsInfo> {
    let mut out = Vec::new();
    for c in candidates {
        let fs: Arc<dyn Filesystem> = match c.get("TYPE") {
            Some("ext2" | "ext3" | "ext4") => match crate::fs::ext4::Ext4::open(c.dev.clone()) {
                Ok(fs) => Arc::new(fs),
                Err(_) => continue,
            },
            Some(t) if ROOT_TYPES.contains(&t) => match open_other(c) {
                Some(fs) => fs,
                None => continue,
            },
            _ => continue,
        };
        let vfs = private_vfs(&c.name, fs);
        if !is_linux_root(&vfs) {
            continue;
        }
        let rel = release::detect(&vfs);
        let fstab = fstab::entries(&vfs, &c.name, candidates);
        out.push(OsInfo {
            root: c.name.clone(),
            os_type: "linux".into(),
            distro: rel.distro.unwrap_or_else(|| "unknown".into()),
            product_name: rel.product_name.unwrap_or_else(|| "unknown".into()),
            major: rel.version.map_or(0, |v| v.0),
            minor: rel.version.map_or(0, |v| v.1),
            arch: architecture(&vfs),
            hostname: hostname(&vfs),
            fstab,
        });
    }
    out
}
