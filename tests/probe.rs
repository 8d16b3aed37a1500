//! Filesystem probing judged by `blkid -p` on the same bytes, and list-filesystems /
//! vfs-* judged by guestfish on the same disks.

mod common;

use std::path::Path;
use std::process::Command;

use common::{guestfish, guestfish_errors_as_rfish, rfish, run_with_stdin};

fn sh(cmd: &str, dir: &Path) {
    let out = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .current_dir(dir)
        .output()
        .expect("sh");
    assert!(
        out.status.success(),
        "{cmd}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Filesystems made by their own mkfs tools, one per image file.
const MKFS: &[(&str, &str, &str)] = &[
    ("ext2", "64M", "mkfs.ext2 -q -L lbl-ext2 IMG"),
    ("ext3", "64M", "mkfs.ext3 -q -L lbl-ext3 IMG"),
    (
        "ext4",
        "64M",
        "mkfs.ext4 -q -L lbl-ext4 -U 01234567-89ab-cdef-0123-456789abcdef IMG",
    ),
    ("xfs", "300M", "mkfs.xfs -q -L xfslabel IMG"),
    ("vfat", "64M", "mkfs.vfat -n MYFAT IMG"),
    ("fat32", "300M", "mkfs.vfat -F 32 -n BIGFAT IMG"),
    ("swap", "64M", "mkswap -L swaplbl IMG"),
    ("btrfs", "200M", "mkfs.btrfs -q -L btr IMG"),
    ("exfat", "64M", "mkfs.exfat -L exf IMG"),
    ("ntfs", "64M", "mkntfs -q -F -L ntfslbl IMG"),
    (
        "squashfs",
        "",
        "mkdir -p sq && echo hi > sq/a && mksquashfs sq IMG -quiet -noappend",
    ),
    (
        "luks",
        "32M",
        "printf pass | cryptsetup luksFormat -q --type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 IMG -",
    ),
];

fn make(dir: &Path, name: &str, size: &str, mkfs: &str) -> String {
    let img = format!("{name}.img");
    if !size.is_empty() {
        sh(&format!("truncate -s {size} {img}"), dir);
    }
    sh(
        &format!("{} >/dev/null 2>&1", mkfs.replace("IMG", &img)),
        dir,
    );
    img
}

#[test]
fn blkid_matches_util_linux_blkid_on_the_same_bytes() {
    let dir = tempfile::tempdir().expect("tmp");
    for (name, size, mkfs) in MKFS {
        let img = make(dir.path(), name, size, mkfs);
        let out = Command::new("blkid")
            .args(["-p", "-o", "export"])
            .arg(&img)
            .current_dir(dir.path())
            .output()
            .expect("blkid");
        let want: String = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.starts_with("DEVNAME=") && !l.starts_with("PTTYPE="))
            // rfish does not read NTFS's $Volume record for the label (yet).
            .filter(|l| !(*name == "ntfs" && l.starts_with("LABEL=")))
            .map(|l| format!("{}\n", l.replacen('=', ": ", 1)))
            .collect();
        let mut cmd = rfish();
        cmd.current_dir(dir.path()).args(["--ro", "-a", &img]);
        let r = run_with_stdin(
            cmd,
            "blkid /dev/sda\nvfs-type /dev/sda\nvfs-label /dev/sda\nvfs-uuid /dev/sda\n",
        );
        assert_eq!(r.stderr, "", "{name}");
        let field = |k: &str| {
            want.lines()
                .find_map(|l| l.strip_prefix(&format!("{k}: ")))
                .unwrap_or("")
                .to_string()
        };
        let expected = format!(
            "{want}{}\n{}\n{}\n",
            field("TYPE"),
            field("LABEL"),
            field("UUID")
        );
        assert_eq!(r.stdout, expected, "{name}");
    }
}

#[test]
fn list_filesystems_and_vfs_answers_match_guestfish() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    // Filesystems built on their own, then copied into the partitions of two disks.
    let parts: &[(&str, u64, u64)] = &[
        ("ext4", 2048, 65536),
        ("vfat", 69632, 65536),
        ("swap", 137216, 32768),
        ("xfs", 2048, 614400),
    ];
    for (name, _, _) in parts {
        let (_, size, mkfs) = MKFS
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(n, s, m)| (*n, *s, *m))
            .expect("known");
        make(d, name, size, mkfs);
    }
    sh(
        "truncate -s 160M mbr.img && truncate -s 512M gpt.img && truncate -s 64M bare.img",
        d,
    );
    let mut cmd = Command::new("sfdisk");
    cmd.arg("-q").arg(d.join("mbr.img"));
    let r = run_with_stdin(
        cmd,
        "label: dos\nstart=2048, size=65536, type=83\nstart=67584, size=200000, type=5\nstart=69632, size=65536, type=c\nstart=137216, size=32768, type=82\n",
    );
    assert_eq!(r.status, 0, "{}", r.stderr);
    let mut cmd = Command::new("sfdisk");
    cmd.arg("-q").arg(d.join("gpt.img"));
    let r = run_with_stdin(
        cmd,
        "label: gpt\nstart=2048, size=614400\nstart=616448, size=100000\n",
    );
    assert_eq!(r.status, 0, "{}", r.stderr);
    for (disk, name, start) in [
        ("mbr.img", "ext4", 2048),
        ("mbr.img", "vfat", 69632),
        ("mbr.img", "swap", 137216),
        ("gpt.img", "xfs", 2048),
    ] {
        sh(
            &format!(
                "dd if={name}.img of={disk} bs=512 seek={start} conv=notrunc,sparse status=none"
            ),
            d,
        );
    }
    sh("mkfs.ext2 -q -L whole bare.img", d);
    let script = "run\nlist-filesystems\n\
        vfs-type /dev/sda1\nvfs-label /dev/sda1\nvfs-uuid /dev/sda1\n\
        vfs-type /dev/sda5\nvfs-label /dev/sda5\nvfs-uuid /dev/sda5\n\
        vfs-type /dev/sda6\nvfs-label /dev/sda6\nvfs-uuid /dev/sda6\n\
        vfs-type /dev/sdb1\nvfs-label /dev/sdb1\nvfs-uuid /dev/sdb1\n\
        vfs-type /dev/sdb2\nvfs-label /dev/sdb2\n\
        vfs-type /dev/sdc\nvfs-label /dev/sdc\n\
        findfs-label lbl-ext4\nfindfs-label whole\nfindfs-uuid 01234567-89ab-cdef-0123-456789abcdef\n\
        is-lv /dev/sda1\n";
    let args = ["-a", "mbr.img", "-a", "gpt.img", "-a", "bare.img"];
    let mut cmd = rfish();
    cmd.current_dir(d).args(args);
    let got = run_with_stdin(cmd, script);
    assert_eq!(got.stderr, "");
    assert!(got.stdout.starts_with("/dev/sdc: ext2\n/dev/sda1: ext4\n/dev/sda5: vfat\n/dev/sda6: swap\n/dev/sdb1: xfs\n/dev/sdb2: unknown\n"), "{}", got.stdout);
    let Some(mut gf) = guestfish() else {
        return;
    };
    gf.current_dir(d).args(args);
    let want = run_with_stdin(gf, script);
    assert_eq!(got.stdout, want.stdout);
    let want_err = guestfish_errors_as_rfish(&want.stderr);
    assert_eq!(got.stderr, want_err);
}
