//! Which kernel modules the appliance needs: the wanted names resolved through the
//! kernel's `modules.dep` (dependencies first, each once), leaving out what
//! `modules.builtin` says is built in. Module names compare with `-` and `_` alike, as
//! modprobe compares them.

use std::collections::{HashMap, HashSet};

/// The modules the appliance carries, in groups the agent loads when first needed: `boot`
/// at start (virtio transport, disks, console), `net` for --network, and one group per
/// filesystem type, loaded by its first mount (loading btrfs alone costs a second under
/// TCG: its RAID6 code benchmarks itself).
pub const GROUPS: &[(&str, &[&str])] = &[
    (
        "boot",
        &[
            "virtio_pci",
            "virtio_scsi",
            "sd_mod",
            "virtio_blk",
            "virtio_console",
            // ext4, XFS and btrfs checksum metadata with crc32c, which they ask the
            // crypto API for (there is no modprobe in the appliance to load it then).
            "crc32c_generic",
            "crc32c_intel",
        ],
    ),
    ("net", &["virtio_net"]),
    ("ext4", &["ext4"]),
    ("xfs", &["xfs"]),
    ("btrfs", &["btrfs"]),
    (
        "vfat",
        &[
            "vfat",
            "nls_cp437",
            "nls_iso8859_1",
            "nls_ascii",
            "nls_utf8",
        ],
    ),
    ("exfat", &["exfat", "nls_utf8"]),
    ("ntfs3", &["ntfs3", "nls_utf8"]),
    ("dm", &["dm_mod"]),
];

/// Every module of every group, in group order.
pub fn wanted() -> Vec<&'static str> {
    GROUPS.iter().flat_map(|(_, m)| m.iter().copied()).collect()
}

fn norm(name: &str) -> String {
    name.replace('-', "_")
}

/// `kernel/fs/ext4/ext4.ko.xz` → `ext4`.
pub fn module_name(path: &str) -> String {
    let file = path.rsplit('/').next().unwrap_or(path);
    let stem = file.split(".ko").next().unwrap_or(file);
    norm(stem)
}

/// A parsed modules.dep: module name → (path, dependency paths).
pub struct ModuleIndex {
    deps: HashMap<String, (String, Vec<String>)>,
    builtin: HashSet<String>,
}

impl ModuleIndex {
    /// Parse modules.dep and modules.builtin text.
    pub fn parse(dep: &str, builtin: &str) -> ModuleIndex {
        let mut deps = HashMap::new();
        for line in dep.lines() {
            let Some((path, rest)) = line.split_once(':') else {
                continue;
            };
            let list = rest.split_whitespace().map(str::to_string).collect();
            deps.insert(module_name(path), (path.to_string(), list));
        }
        let builtin = builtin.lines().map(module_name).collect();
        ModuleIndex { deps, builtin }
    }

    /// The module files to load for `wanted`, dependencies before their users, each once;
    /// names neither built in nor known are returned apart.
    pub fn resolve(&self, wanted: &[&str]) -> (Vec<String>, Vec<String>) {
        let mut order = Vec::new();
        let mut seen = HashSet::new();
        let mut missing = Vec::new();
        for w in wanted {
            let name = norm(w);
            if self.builtin.contains(&name) {
                continue;
            }
            let Some((path, deps)) = self.deps.get(&name) else {
                missing.push(name);
                continue;
            };
            // modules.dep lists every dependency, deepest last: load them reversed.
            for d in deps.iter().rev().chain(std::iter::once(path)) {
                if seen.insert(d.clone()) {
                    order.push(d.clone());
                }
            }
        }
        (order, missing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dependencies_come_first_and_builtins_are_skipped() {
        let idx = ModuleIndex::parse(
            "kernel/fs/ext4/ext4.ko.xz: kernel/lib/crc16.ko.xz kernel/fs/mbcache.ko.xz kernel/fs/jbd2/jbd2.ko.xz\n\
             kernel/fs/jbd2/jbd2.ko.xz:\nkernel/lib/crc16.ko.xz:\nkernel/fs/mbcache.ko.xz:\n\
             kernel/drivers/block/virtio_blk.ko.xz:\n",
            "kernel/drivers/virtio/virtio_pci.ko\nkernel/drivers/char/virtio_console.ko\n",
        );
        let (order, missing) = idx.resolve(&["virtio_pci", "virtio-blk", "ext4", "jbd2", "zzz"]);
        assert_eq!(
            order,
            [
                "kernel/drivers/block/virtio_blk.ko.xz",
                "kernel/fs/jbd2/jbd2.ko.xz",
                "kernel/fs/mbcache.ko.xz",
                "kernel/lib/crc16.ko.xz",
                "kernel/fs/ext4/ext4.ko.xz",
            ]
        );
        assert_eq!(missing, ["zzz"]);
    }
}
