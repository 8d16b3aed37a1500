//! The RHEL-shaped fixture (testdata/rhel-guest.sh) is what it claims to be, judged by the
//! tools that own each layer: sfdisk for the GPT, LVM's own metadata as rfish reads it
//! (lvs, vfs-type), `xfs_repair -n` on the logical volume's bytes and `e2fsck -fn` on /boot.
//! (Mounting its XFS root — inspection, guest commands — is the appliance's filesystem
//! work.)

mod common;

use std::process::Command;

#[test]
fn the_rhel_shaped_guest_has_lvm_xfs_and_an_ext4_boot() {
    common::fixtures("debian-guest.sh");
    let dir = common::fixtures("rhel-guest.sh");
    let tmp = tempfile::tempdir().expect("tmp");
    let (out, err, status) = common::rfish_raw(
        &dir,
        &["--ro", "-a", "rhelish.qcow2"],
        &format!(
            "lvs\nlist-filesystems\nvfs-uuid /dev/rhel/root\nvfs-label /dev/sda1\n\
             download /dev/rhel/root {root}\ndownload /dev/sda1 {boot}\n",
            root = tmp.path().join("root.xfs").display(),
            boot = tmp.path().join("boot.ext4").display()
        ),
    );
    assert_eq!(status, 0, "{err}");
    assert_eq!(
        String::from_utf8_lossy(&out),
        "/dev/rhel/home\n/dev/rhel/root\n/dev/sda1: ext4\n/dev/rhel/home: ext4\n\
         /dev/rhel/root: xfs\n77777777-8888-4999-aaaa-bbbbbbbbbbbb\nboot\n"
    );
    let repair = Command::new("xfs_repair")
        .arg("-n")
        .arg(tmp.path().join("root.xfs"))
        .output()
        .expect("xfs_repair");
    assert!(
        repair.status.success(),
        "{}",
        String::from_utf8_lossy(&repair.stderr)
    );
    common::assert_fsck_clean(&tmp.path().join("boot.ext4"));
}
