//! The table of every command rfish knows, and name lookup.

use super::{
    CommandSpec, blockdev, daemon, disk, edit, events, fish, fsarchive, fsattrs, fscopy, fsfill,
    fsimport, fslist, fsmeta, fsread, fssearch, fswrite, guest, help, inspect, inspect_apps, lvm,
    mkfs, mount, part, partwrite, probe, selinux, xfs,
};

/// Every command, in the order `help -l` lists them after `help` and `quit`.
static COMMANDS: &[&CommandSpec] = &[
    &help::HELP,
    &fish::QUIT,
    &fish::ECHO,
    &fish::LAUNCH,
    &fish::LCD,
    &fish::NOT,
    &fish::REOPEN,
    &fish::SETENV,
    &fish::SUPPORTED,
    &fish::TIME,
    &fish::UNSETENV,
    &fish::VERSION,
    &events::EVENT,
    &events::LIST_EVENTS,
    &events::DELETE_EVENT,
    &events::SET_TRACE,
    &events::GET_TRACE,
    &daemon::ECHO_DAEMON,
    &guest::COMMAND,
    &guest::COMMAND_LINES,
    &guest::SH,
    &guest::SH_LINES,
    &guest::SHUTDOWN,
    &guest::APPLIANCE_LAUNCH,
    &guest::GET_MEMSIZE,
    &guest::SET_MEMSIZE,
    &guest::GET_SMP,
    &guest::SET_SMP,
    &guest::GET_NETWORK,
    &guest::SET_NETWORK,
    &disk::ADD_DRIVE,
    &disk::ADD_RO,
    &disk::ALLOC,
    &disk::SPARSE,
    &disk::DISK_CREATE,
    &disk::DISK_FORMAT,
    &disk::DISK_HAS_BACKING_FILE,
    &disk::DISK_SNAPSHOT_LIST,
    &disk::DISK_VIRTUAL_SIZE,
    &blockdev::BLOCKDEV_FLUSHBUFS,
    &blockdev::BLOCKDEV_GETBSZ,
    &blockdev::BLOCKDEV_GETRO,
    &blockdev::BLOCKDEV_GETSIZE64,
    &blockdev::BLOCKDEV_GETSS,
    &blockdev::BLOCKDEV_GETSZ,
    &blockdev::BLOCKDEV_REREADPT,
    &blockdev::BLOCKDEV_SETRO,
    &blockdev::BLOCKDEV_SETRW,
    &blockdev::DOWNLOAD,
    &blockdev::LIST_DEVICES,
    &blockdev::PREAD_DEVICE,
    &blockdev::PWRITE_DEVICE,
    &blockdev::UPLOAD,
    &blockdev::ZERO_DEVICE,
    &part::CANONICAL_DEVICE_NAME,
    &part::DEVICE_INDEX,
    &part::IS_WHOLE_DEVICE,
    &part::LIST_PARTITIONS,
    &part::PART_GET_BOOTABLE,
    &part::PART_GET_DISK_GUID,
    &part::PART_GET_GPT_ATTRIBUTES,
    &part::PART_GET_GPT_GUID,
    &part::PART_GET_GPT_TYPE,
    &part::PART_GET_MBR_ID,
    &part::PART_GET_MBR_PART_TYPE,
    &part::PART_GET_NAME,
    &part::PART_GET_PARTTYPE,
    &part::PART_LIST,
    &part::PART_TO_DEV,
    &part::PART_TO_PARTNUM,
    &partwrite::PART_ADD,
    &partwrite::PART_DEL,
    &partwrite::PART_DISK,
    &partwrite::PART_EXPAND_GPT,
    &partwrite::PART_INIT,
    &partwrite::PART_RESIZE,
    &partwrite::PART_SET_BOOTABLE,
    &partwrite::PART_SET_DISK_GUID,
    &partwrite::PART_SET_GPT_ATTRIBUTES,
    &partwrite::PART_SET_GPT_GUID,
    &partwrite::PART_SET_GPT_TYPE,
    &partwrite::PART_SET_MBR_ID,
    &partwrite::PART_SET_NAME,
    &lvm::LVM_CANONICAL_LV_NAME,
    &lvm::LVS,
    &lvm::PVS,
    &lvm::VGS,
    &lvm::VG_ACTIVATE_ALL,
    &mount::MOUNT,
    &mount::MOUNT_RO,
    &mount::MOUNT_OPTIONS,
    &mount::MOUNT_VFS,
    &mount::UMOUNT,
    &mount::UMOUNT_ALL,
    &mount::MOUNTS,
    &mount::MOUNTPOINTS,
    &fsread::CAT,
    &fswrite::WRITE,
    &fswrite::WRITE_APPEND,
    &fswrite::TOUCH,
    &fswrite::MKDIR,
    &fswrite::MKDIR_MODE,
    &fswrite::MKDIR_P,
    &fswrite::RM,
    &fswrite::RM_F,
    &fswrite::RM_RF,
    &fswrite::RMDIR,
    &fswrite::CHMOD,
    &fswrite::CHOWN,
    &fswrite::LCHOWN,
    &fswrite::LN,
    &fswrite::LN_F,
    &fswrite::LN_S,
    &fswrite::LN_SF,
    &fswrite::MV,
    &fswrite::RENAME,
    &fswrite::TRUNCATE,
    &fswrite::TRUNCATE_SIZE,
    &fswrite::UTIMENS,
    &fswrite::MKFIFO,
    &fswrite::MKNOD,
    &fswrite::MKNOD_B,
    &fswrite::MKNOD_C,
    &fswrite::SETXATTR,
    &fscopy::CP,
    &fscopy::CP_R,
    &fscopy::CP_A,
    &fscopy::SYNC,
    &fsimport::TAR_IN,
    &fsimport::COPY_IN,
    &mkfs::MKFS,
    &mkfs::MKFS_B,
    &mkfs::MKE2FS,
    &xfs::XFS_INFO,
    &xfs::XFS_REPAIR,
    &xfs::XFS_ADMIN,
    &xfs::FSCK,
    &fsfill::FILL,
    &fsfill::FILL_PATTERN,
    &fsfill::FILL_DIR,
    &fsfill::FALLOCATE,
    &fsfill::FALLOCATE64,
    &fsfill::PWRITE,
    &fsfill::UPLOAD_OFFSET,
    &fsfill::MKDTEMP,
    &fsfill::MKTEMP,
    &fsfill::ZERO_FREE_SPACE,
    &blockdev::ZERO,
    &selinux::SELINUX_RELABEL,
    &selinux::SETFILES,
    &selinux::SELINUX_LABEL,
    &fsattrs::GET_E2ATTRS,
    &fsattrs::SET_E2ATTRS,
    &fsattrs::GET_E2GENERATION,
    &fsattrs::SET_E2GENERATION,
    &fsattrs::SET_LABEL,
    &fsattrs::SET_E2LABEL,
    &fsattrs::SET_UUID,
    &fsattrs::SET_UUID_RANDOM,
    &fsattrs::SET_E2UUID,
    &probe::GET_E2LABEL,
    &probe::GET_E2UUID,
    &edit::EDIT,
    &fswrite::LSETXATTR,
    &fswrite::REMOVEXATTR,
    &fswrite::LREMOVEXATTR,
    &fsread::READ_FILE,
    &fsread::READ_LINES,
    &fsread::HEAD,
    &fsread::HEAD_N,
    &fsread::TAIL,
    &fsread::TAIL_N,
    &fsread::DOWNLOAD_OFFSET,
    &fsread::MORE,
    &fslist::LS,
    &fslist::LS0,
    &fslist::LL,
    &fslist::LLZ,
    &fslist::FIND,
    &fslist::FIND0,
    &fslist::DU,
    &fslist::GLOB_EXPAND,
    &fsmeta::STAT,
    &fsmeta::LSTAT,
    &fsmeta::STATNS,
    &fsmeta::LSTATNS,
    &fsmeta::FILESIZE,
    &fsmeta::EXISTS,
    &fsmeta::IS_FILE,
    &fsmeta::IS_DIR,
    &fsmeta::IS_SYMLINK,
    &fsmeta::IS_CHARDEV,
    &fsmeta::IS_BLOCKDEV,
    &fsmeta::IS_FIFO,
    &fsmeta::IS_SOCKET,
    &fsmeta::READLINK,
    &fsmeta::READLINKLIST,
    &fsmeta::REALPATH,
    &fsmeta::GETXATTRS,
    &fsmeta::LGETXATTRS,
    &fsmeta::GETXATTR,
    &fsmeta::LGETXATTR,
    &fsmeta::STATVFS,
    &fsmeta::READDIR,
    &fsmeta::IS_ZERO,
    &fsmeta::IS_ZERO_DEVICE,
    &fsmeta::DF,
    &fsmeta::DF_H,
    &fsmeta::CASE_SENSITIVE_PATH,
    &fsarchive::TAR_OUT,
    &fsarchive::COPY_OUT,
    &fssearch::CHECKSUM,
    &fssearch::CHECKSUMS_OUT,
    &fssearch::CHECKSUM_DEVICE,
    &fssearch::FILE,
    &fssearch::GREP,
    &fssearch::EGREP,
    &fssearch::FGREP,
    &fssearch::GREPI,
    &fssearch::EGREPI,
    &fssearch::FGREPI,
    &fssearch::ZGREP,
    &fssearch::ZEGREP,
    &fssearch::ZFGREP,
    &fssearch::ZGREPI,
    &fssearch::ZEGREPI,
    &fssearch::ZFGREPI,
    &fssearch::WC_L,
    &fssearch::WC_W,
    &fssearch::WC_C,
    &fssearch::HEXDUMP,
    &fssearch::STRINGS,
    &fssearch::STRINGS_E,
    &inspect::INSPECT_OS,
    &inspect::INSPECT_GET_ROOTS,
    &inspect::INSPECT_GET_TYPE,
    &inspect::INSPECT_GET_DISTRO,
    &inspect::INSPECT_GET_PRODUCT_NAME,
    &inspect::INSPECT_GET_PRODUCT_VARIANT,
    &inspect::INSPECT_GET_MAJOR_VERSION,
    &inspect::INSPECT_GET_MINOR_VERSION,
    &inspect::INSPECT_GET_ARCH,
    &inspect::INSPECT_GET_HOSTNAME,
    &inspect::INSPECT_GET_PACKAGE_FORMAT,
    &inspect::INSPECT_GET_PACKAGE_MANAGEMENT,
    &inspect::INSPECT_GET_FORMAT,
    &inspect::INSPECT_GET_OSINFO,
    &inspect::INSPECT_GET_MOUNTPOINTS,
    &inspect::INSPECT_GET_FILESYSTEMS,
    &inspect::INSPECT_IS_LIVE,
    &inspect::INSPECT_IS_NETINST,
    &inspect::INSPECT_IS_MULTIPART,
    &inspect_apps::INSPECT_LIST_APPLICATIONS,
    &inspect_apps::INSPECT_LIST_APPLICATIONS2,
    &probe::BLKID,
    &probe::FINDFS_LABEL,
    &probe::FINDFS_UUID,
    &probe::IS_LV,
    &probe::LIST_FILESYSTEMS,
    &probe::VFS_LABEL,
    &probe::VFS_TYPE,
    &probe::VFS_UUID,
    &probe::VFS_MINIMUM_SIZE,
];

/// What rfish adds to guestfish: whole commands (`"name"`) and optional arguments
/// (`"name optarg"`). Comparisons with guestfish leave these out; help marks them.
pub static RFISH_EXTRAS: &[&str] = &[
    "disk-snapshot-list",
    "add-drive overlay",
    "selinux-label",
    "setfiles",
    "appliance-launch",
];

/// The shell's own commands (guestfish's fish commands), which are not library calls and
/// raise no `enter` event.
static FISH_COMMANDS: &[&str] = &[
    "help",
    "quit",
    "echo",
    "lcd",
    "not",
    "reopen",
    "setenv",
    "unsetenv",
    "supported",
    "time",
    "event",
    "list-events",
    "delete-event",
    "glob",
    "alloc",
    "sparse",
    "edit",
    "more",
    "display",
    "hexedit",
    "man",
];

/// Whether `name` (a canonical command name) is one of the shell's own commands.
pub fn is_fish_command(name: &str) -> bool {
    FISH_COMMANDS.contains(&name)
}

/// All commands.
pub fn registry() -> &'static [&'static CommandSpec] {
    COMMANDS
}

/// Find a command by any of its names: case-insensitive, `_` the same as `-`.
pub fn lookup(name: &str) -> Option<&'static CommandSpec> {
    let wanted = normalise(name);
    COMMANDS
        .iter()
        .copied()
        .find(|spec| spec.names().any(|n| n == wanted))
}

fn normalise(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c == '_' {
                '-'
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

/// The known command name nearest to `name`, if one is close enough to be a likely typo.
pub fn suggest(name: &str) -> Option<&'static str> {
    let wanted = normalise(name);
    let limit = match wanted.chars().count() {
        0..=2 => 0,
        3..=6 => 1,
        _ => 2,
    };
    COMMANDS
        .iter()
        .flat_map(|spec| spec.names())
        .map(|n| (edit_distance(&wanted, n), n))
        .filter(|&(d, _)| d <= limit)
        .min_by_key(|&(d, _)| d)
        .map(|(_, n)| n)
}

/// Optimal-string-alignment distance (Levenshtein plus adjacent transpositions), on bytes.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    // d[i][j]: distance between a[..i] and b[..j].
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_ignores_case_and_underscores() {
        assert_eq!(lookup("ECHO").map(|s| s.name), Some("echo"));
        assert_eq!(normalise("Head_N"), "head-n");
        assert_eq!(lookup("run").map(|s| s.name), Some("launch"));
        assert_eq!(lookup("q").map(|s| s.name), Some("quit"));
        assert!(lookup("nosuch").is_none());
    }

    #[test]
    fn names_are_unique_and_canonical() {
        let mut names: Vec<&str> = COMMANDS.iter().flat_map(|s| s.names()).collect();
        for n in &names {
            assert_eq!(*n, normalise(n), "names are lower case with dashes");
        }
        let count = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), count, "a name is declared twice");
    }

    #[test]
    fn typos_get_a_suggestion() {
        assert_eq!(suggest("ecoh"), Some("echo"));
        assert_eq!(suggest("versoin"), Some("version"));
        assert_eq!(suggest("xyzzy"), None);
    }
}
