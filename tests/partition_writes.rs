//! Partition tables written by rfish: the same part-* script (tests/partition_writes.fish)
//! run by guestfish and by rfish on blank disks gives the same output and messages, the
//! same tables (`sfdisk --dump`, random GUIDs and disk IDs aside), and tables that
//! `sfdisk --verify` and `sgdisk -v` accept.

mod common;

use std::path::Path;
use std::process::Command;

use common::{guestfish, guestfish_errors_as_rfish, mask_drive_letters, rfish, run_with_stdin};

const SCRIPT: &str = include_str!("partition_writes.fish");

fn blank_disks(dir: &Path) -> Vec<String> {
    (1..=4)
        .map(|i| {
            let name = format!("d{i}.img");
            std::fs::File::create(dir.join(&name))
                .expect("create")
                .set_len(64 << 20)
                .expect("size");
            name
        })
        .collect()
}

/// `sfdisk --dump` without what is random (disk IDs, partition GUIDs) or names the file.
fn dump(path: &Path) -> String {
    let out = Command::new("sfdisk")
        .arg("--dump")
        .arg(path)
        .output()
        .expect("sfdisk");
    let name = path.to_str().expect("utf-8");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with("label-id:") && !l.starts_with("device:"))
        .map(|l| {
            let l = l.replace(name, "DISK");
            let kept: Vec<&str> = l
                .split(", ")
                .filter(|f| !f.trim_start().starts_with("uuid="))
                .collect();
            format!("{}\n", kept.join(", "))
        })
        .collect()
}

fn run(dir: &Path, mut cmd: Command) -> common::Run {
    cmd.current_dir(dir);
    for d in blank_disks(dir) {
        cmd.args(["-a", &d]);
    }
    run_with_stdin(cmd, SCRIPT)
}

#[test]
fn tables_written_by_rfish_are_what_parted_writes_for_guestfish() {
    let ours = tempfile::tempdir().expect("tmp");
    let got = run(ours.path(), rfish());
    assert_eq!(got.status, 0, "{}", got.stderr);
    for i in 1..=4 {
        let img = ours.path().join(format!("d{i}.img"));
        let verify = Command::new("sfdisk")
            .arg("--verify")
            .arg(&img)
            .output()
            .expect("sfdisk --verify");
        assert!(
            verify.status.success(),
            "sfdisk --verify d{i}: {}",
            String::from_utf8_lossy(&verify.stdout)
        );
        let sg = Command::new("sgdisk")
            .arg("-v")
            .arg(&img)
            .output()
            .expect("sgdisk -v");
        let text = String::from_utf8_lossy(&sg.stdout);
        assert!(text.contains("No problems found"), "sgdisk -v d{i}: {text}");
    }
    let Some(gf) = guestfish() else {
        return;
    };
    let theirs = tempfile::tempdir().expect("tmp");
    let want = run(theirs.path(), gf);
    assert_eq!(got.stdout, want.stdout);
    let want_err = guestfish_errors_as_rfish(&want.stderr);
    assert_eq!(
        mask_drive_letters(&got.stderr.replace("*stdin*", "x")),
        mask_drive_letters(&want_err.replace("*stdin*", "x"))
    );
    for i in 1..=4 {
        let name = format!("d{i}.img");
        assert_eq!(
            dump(&ours.path().join(&name)),
            dump(&theirs.path().join(&name)),
            "{name}"
        );
    }
}

#[test]
fn a_grown_gpt_disk_is_expanded_and_partitions_resized() {
    let dir = tempfile::tempdir().expect("tmp");
    let img = dir.path().join("g.img");
    std::fs::File::create(&img)
        .expect("create")
        .set_len(32 << 20)
        .expect("size");
    let mut cmd = Command::new("sfdisk");
    cmd.arg("-q").arg(&img);
    let r = run_with_stdin(
        cmd,
        "label: gpt\nstart=2048, size=20000, name=\"a\"\nstart=30000, size=10000, name=\"b\"\n",
    );
    assert_eq!(r.status, 0, "{}", r.stderr);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&img)
        .expect("open")
        .set_len(64 << 20)
        .expect("grow");
    let mut cmd = rfish();
    cmd.arg("-a").arg(&img);
    let r = run_with_stdin(
        cmd,
        "part-expand-gpt /dev/sda\npart-resize /dev/sda 2 -34\n-part-resize /dev/sda 1 40000\npart-resize /dev/sda 1 29999\n",
    );
    assert!(
        r.stderr
            .contains("part_resize: /dev/sda: the partition would overlap the next one"),
        "{}",
        r.stderr
    );
    let sg = Command::new("sgdisk")
        .arg("-v")
        .arg(&img)
        .output()
        .expect("sgdisk");
    assert!(String::from_utf8_lossy(&sg.stdout).contains("No problems found"));
    let d = dump(&img);
    assert!(d.contains("last-lba: 131038"), "{d}");
    assert!(
        d.contains("DISK1 : start=        2048, size=       27952"),
        "{d}"
    );
    assert!(
        d.contains("DISK2 : start=       30000, size=      101039"),
        "{d}"
    );
}
