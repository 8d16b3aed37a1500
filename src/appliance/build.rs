//! Building the appliance's boot files: the host kernel (`RFISH_KERNEL`, else the newest
//! readable `/boot/vmlinuz-*`) and an initramfs rfish writes itself — its agent as `/init`,
//! the kernel modules it needs (kept compressed: the kernel decompresses them, see
//! CONFIG_MODULE_DECOMPRESS) listed in load order in `/modules`, and the directories the
//! agent mounts on. Built initramfs files are cached under `$XDG_CACHE_HOME/rfish`, keyed
//! by kernel version and agent, written to a temporary name and renamed into place so
//! concurrent rfish processes never see a half-written file.

use std::path::{Path, PathBuf};

use super::cpio::Cpio;
use super::modules::{GROUPS, ModuleIndex};
use std::collections::BTreeMap;

/// A kernel to boot and its modules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kernel {
    /// The kernel image.
    pub image: PathBuf,
    /// Its release (`6.12.95+deb12-amd64`).
    pub version: String,
    /// `/lib/modules/<version>`.
    pub modules: PathBuf,
}

fn readable(p: &Path) -> bool {
    std::fs::File::open(p).is_ok()
}

/// Find the kernel: `RFISH_KERNEL` (with `RFISH_KERNEL_MODULES`, default
/// `/lib/modules/<version>`), else the newest readable `/boot/vmlinuz-*`.
pub fn find_kernel() -> Result<Kernel, String> {
    let for_image = |image: PathBuf| -> Kernel {
        let name = image
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let version = name.strip_prefix("vmlinuz-").unwrap_or(&name).to_string();
        let modules = std::env::var_os("RFISH_KERNEL_MODULES")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new("/lib/modules").join(&version));
        Kernel {
            image,
            version,
            modules,
        }
    };
    if let Some(k) = std::env::var_os("RFISH_KERNEL") {
        let image = PathBuf::from(k);
        if !readable(&image) {
            return Err(format!("RFISH_KERNEL={}: cannot be read", image.display()));
        }
        return Ok(for_image(image));
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/boot")
        .map_err(|e| format!("/boot: {e}"))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-"))
        })
        .collect();
    found.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
    let any = !found.is_empty();
    found
        .into_iter()
        .rev()
        .find(|p| readable(p))
        .map(for_image)
        .ok_or_else(|| {
            if any {
                "the kernels in /boot are not readable by this user (Debian and Ubuntu make \
                 them root-only): run `sudo chmod 0644 /boot/vmlinuz-*`, or set RFISH_KERNEL"
                    .to_string()
            } else {
                "no kernel in /boot: install one (apt install linux-image-amd64) or set \
                 RFISH_KERNEL"
                    .to_string()
            }
        })
}

/// Add `path`'s parent directories (once each) before the file itself.
fn add_parents(c: &mut Cpio, made: &mut std::collections::BTreeSet<String>, path: &str) {
    let mut at = String::new();
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    for part in &parts[..parts.len().saturating_sub(1)] {
        at.push('/');
        at.push_str(part);
        if made.insert(at.clone()) {
            c.dir(&at, 0o755);
        }
    }
}

/// What goes into the initramfs besides kernel modules: the agent (as /init) and host
/// files at appliance paths (the agent's shared libraries, ip(8) and its libraries).
#[derive(Debug, Clone, Default)]
pub struct Payload {
    /// The agent binary.
    pub agent: Vec<u8>,
    /// Appliance path → host file.
    pub files: BTreeMap<String, PathBuf>,
}

/// Host programs the appliance carries (as /sbin/NAME, with their libraries) when the host
/// has them: the mkfs tools for filesystems rfish does not make itself, and checkers.
pub const TOOLS: &[(&str, &[&str])] = &[
    ("mkfs.xfs", &["/usr/sbin/mkfs.xfs", "/sbin/mkfs.xfs"]),
    (
        "mkfs.btrfs",
        &[
            "/usr/sbin/mkfs.btrfs",
            "/usr/bin/mkfs.btrfs",
            "/sbin/mkfs.btrfs",
        ],
    ),
    ("mkfs.fat", &["/usr/sbin/mkfs.fat", "/sbin/mkfs.fat"]),
    (
        "mkntfs",
        &["/usr/sbin/mkntfs", "/sbin/mkntfs", "/usr/bin/mkntfs"],
    ),
    ("mkfs.exfat", &["/usr/sbin/mkfs.exfat", "/sbin/mkfs.exfat"]),
    ("xfs_repair", &["/usr/sbin/xfs_repair", "/sbin/xfs_repair"]),
    ("xfs_db", &["/usr/sbin/xfs_db", "/sbin/xfs_db"]),
    ("e2fsck", &["/usr/sbin/e2fsck", "/sbin/e2fsck"]),
    ("fsck.fat", &["/usr/sbin/fsck.fat", "/sbin/fsck.fat"]),
];

/// Where ip(8) may live on the host.
const IP_PATHS: &[&str] = &["/usr/bin/ip", "/bin/ip", "/usr/sbin/ip", "/sbin/ip"];

impl Payload {
    /// The agent at `agent` with the libraries it needs, and ip(8) (for --network) when
    /// the host has it.
    pub fn for_agent(agent: &Path) -> Result<Payload, String> {
        let bytes = std::fs::read(agent).map_err(|e| format!("{}: {e}", agent.display()))?;
        let bytes = super::libs::loadable_prefix(&bytes)
            .ok_or_else(|| format!("{}: not an x86-64 ELF program", agent.display()))?;
        let ip = IP_PATHS.iter().map(Path::new).find(|p| p.exists());
        let mut programs = vec![agent];
        programs.extend(ip);
        let (mut files, missing) = super::libs::closure(&programs);
        if !missing.is_empty() {
            return Err(format!(
                "{}: cannot find the shared libraries {} (rfish's appliance carries them)",
                agent.display(),
                missing.join(", ")
            ));
        }
        if let Some(ip) = ip {
            files.insert("/bin/ip".into(), ip.to_path_buf());
        }
        // Each tool with everything it needs, or not at all.
        for (name, paths) in TOOLS {
            let Some(tool) = paths.iter().map(Path::new).find(|p| p.exists()) else {
                continue;
            };
            let tool = tool.canonicalize().unwrap_or_else(|_| tool.to_path_buf());
            let (libs, missing) = super::libs::closure(&[tool.as_path()]);
            if missing.is_empty() {
                files.extend(libs);
                files.insert(format!("/sbin/{name}"), tool);
            }
        }
        Ok(Payload {
            agent: bytes,
            files,
        })
    }

    /// A checksum of everything that makes the archive: the agent and each file's
    /// name, size and modification time.
    fn id(&self) -> u32 {
        let mut id = crc32c::crc32c(&self.agent);
        // The module groups packed (a new group changes the archive, not the agent).
        for (group, modules) in super::modules::GROUPS {
            id = crc32c::crc32c_append(id, format!("{group} {}\n", modules.join(" ")).as_bytes());
        }
        for (to, from) in &self.files {
            let meta = std::fs::metadata(from).ok();
            let stamp = meta
                .as_ref()
                .and_then(|m| m.modified().ok())
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            let line = format!(
                "{to} {} {} {stamp}",
                from.display(),
                meta.map_or(0, |m| m.len())
            );
            id = crc32c::crc32c_append(id, line.as_bytes());
        }
        id
    }
}

/// The initramfs for `kernel` with `payload`: (archive, modules not found). /modules lists
/// `GROUP PATH` lines, dependencies before their users.
pub fn initramfs(kernel: &Kernel, payload: &Payload) -> Result<(Vec<u8>, Vec<String>), String> {
    let read = |name: &str| std::fs::read_to_string(kernel.modules.join(name));
    let dep = read("modules.dep").map_err(|e| {
        format!(
            "{}: {e} (the modules of kernel {} are needed)",
            kernel.modules.join("modules.dep").display(),
            kernel.version
        )
    })?;
    let idx = ModuleIndex::parse(&dep, &read("modules.builtin").unwrap_or_default());
    let mut c = Cpio::new();
    let mut made = std::collections::BTreeSet::new();
    for d in ["/dev", "/proc", "/sys", "/sysroot", "/tmp", "/run", "/etc"] {
        made.insert(d.to_string());
        c.dir(d, 0o755);
    }
    c.char_device("/dev/console", 0o600, 5, 1);
    c.file("/init", 0o755, &payload.agent);
    for (to, from) in &payload.files {
        let data = std::fs::read(from).map_err(|e| format!("{}: {e}", from.display()))?;
        add_parents(&mut c, &mut made, to);
        c.file(to, 0o755, &data);
    }
    let mut list = String::new();
    let mut missing = Vec::new();
    let strip = !super::kofile::signatures_enforced(&kernel.version);
    let mut packed = std::collections::BTreeMap::new();
    for (group, names) in GROUPS {
        let (order, not_found) = idx.resolve(names);
        missing.extend(not_found);
        for rel in &order {
            if !packed.contains_key(rel) {
                let host = kernel.modules.join(rel);
                let data = std::fs::read(&host).map_err(|e| format!("{}: {e}", host.display()))?;
                let (mut data, rel_out) = match super::kofile::decompress(&host, &data) {
                    Some(plain) => (
                        plain,
                        rel[..rel.find(".ko").map_or(rel.len(), |i| i + 3)].to_string(),
                    ),
                    None => (data, rel.clone()),
                };
                if strip && rel_out.ends_with(".ko") {
                    super::kofile::strip_signature(&mut data);
                }
                let path = format!("/lib/modules/{}/{rel_out}", kernel.version);
                add_parents(&mut c, &mut made, &path);
                c.file(&path, 0o644, &data);
                packed.insert(rel.clone(), path);
            }
            list.push_str(&format!("{group} {}\n", packed[rel]));
        }
    }
    c.file("/modules", 0o644, list.as_bytes());
    Ok((c.finish(), missing))
}

/// rfish's cache directory: `$XDG_CACHE_HOME/rfish`, else `~/.cache/rfish`.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("rfish")
}

/// The initramfs for `kernel` and `agent` in cache directory `dir`, built when missing.
/// The file is written under a temporary name and renamed into place, so concurrent
/// builders never expose a partial file (the last rename wins; all are identical).
pub fn cached_initramfs(dir: &Path, kernel: &Kernel, payload: &Payload) -> Result<PathBuf, String> {
    let agent_id = payload.id();
    let path = dir.join(format!(
        "initramfs-{}-{}-{agent_id:08x}.cpio",
        kernel.version,
        env!("CARGO_PKG_VERSION")
    ));
    if let Ok(f) = std::fs::File::options().append(true).open(&path) {
        // Mark it used, for pruning.
        let _ = f.set_modified(std::time::SystemTime::now());
        return Ok(path);
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let (archive, _) = initramfs(kernel, payload)?;
    let mut tmp =
        tempfile::NamedTempFile::new_in(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    use std::io::Write;
    tmp.write_all(&archive)
        .map_err(|e| format!("{}: {e}", tmp.path().display()))?;
    tmp.persist(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    prune(dir, KEEP_INITRAMFS, std::time::Duration::from_secs(3600));
    Ok(path)
}

/// How many initramfs files the cache keeps (each rfish build and kernel makes one).
pub const KEEP_INITRAMFS: usize = 3;

/// Delete all but the `keep` most recently used initramfs files in `dir`, sparing any
/// used within `grace` (another rfish may be about to boot it).
pub fn prune(dir: &Path, keep: usize, grace: std::time::Duration) {
    let now = std::time::SystemTime::now();
    let mut files: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.starts_with("initramfs-") && n.ends_with(".cpio")
        })
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    files.sort_by_key(|f| std::cmp::Reverse(f.0));
    for (used, path) in files.into_iter().skip(keep) {
        if now.duration_since(used).is_ok_and(|age| age > grace) {
            let _ = std::fs::remove_file(path);
        }
    }
}
