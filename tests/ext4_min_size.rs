//! vfs-minimum-size on ext2/3/4 equals what guestfish's daemon computes from
//! `resize2fs -P -f` (the estimate in blocks times the block size from dumpe2fs), for
//! filesystems of every geometry mke2fs makes: 1 KiB and 4 KiB blocks, flex_bg sizes,
//! meta_bg, sparse_super2, no resize inode, 64bit with many groups, bigalloc, ext2/ext3,
//! small and huge inode tables, empty, populated and nearly full. And a superblock whose
//! counts cannot be true gives an error, not a number.

mod common;

use std::path::Path;
use std::process::Command;

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run tool");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// resize2fs's estimate in bytes, as libguestfs' ext_minimum_size computes it.
fn resize2fs_minimum(img: &Path) -> i64 {
    let est = run(Command::new("resize2fs").args(["-P", "-f"]).arg(img));
    let blocks: i64 = est
        .lines()
        .find_map(|l| l.strip_prefix("Estimated minimum size of the filesystem: "))
        .expect("estimate line")
        .trim()
        .parse()
        .expect("number");
    let dump = run(Command::new("dumpe2fs").arg("-h").arg(img));
    let bs: i64 = dump
        .lines()
        .find_map(|l| l.strip_prefix("Block size:"))
        .expect("block size")
        .trim()
        .parse()
        .expect("number");
    blocks * bs
}

/// A sparse file of `bytes`.
fn blank(path: &Path, bytes: u64) {
    std::fs::File::create(path)
        .expect("create image")
        .set_len(bytes)
        .expect("size image");
}

fn rfish_minimum(dir: &Path, img: &str) -> (String, String, i32) {
    let (out, err, status) = common::rfish_raw(
        dir,
        &[],
        &format!("add {img} readonly:true format:raw\nrun\nvfs-minimum-size /dev/sda\n"),
    );
    (String::from_utf8_lossy(&out).into_owned(), err, status)
}

/// A source tree with some data: `files` files of `size` bytes each.
fn tree(dir: &Path, files: usize, size: usize) -> std::path::PathBuf {
    let root = dir.join(format!("tree-{files}-{size}"));
    if !root.exists() {
        std::fs::create_dir_all(root.join("sub")).unwrap();
        for i in 0..files {
            let data: Vec<u8> = (0..size).map(|b| (b * 7 + i) as u8).collect();
            std::fs::write(root.join("sub").join(format!("f{i}")), data).unwrap();
        }
    }
    root
}

#[test]
fn ext_minimum_size_is_resize2fs_estimate() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let small = tree(dir, 200, 3000);
    let big = tree(dir, 30, 1 << 20);
    // (name, size in MiB, mke2fs arguments, tree to copy in)
    let cases: &[(&str, u64, &[&str], Option<&Path>)] = &[
        ("ext4-4k-empty", 64, &["-t", "ext4", "-b", "4096"], None),
        (
            "ext4-1k-data",
            64,
            &["-t", "ext4", "-b", "1024"],
            Some(&small),
        ),
        ("ext4-nearly-full", 40, &["-t", "ext4"], Some(&big)),
        (
            "ext4-1k-nearly-full",
            40,
            &["-t", "ext4", "-b", "1024"],
            Some(&big),
        ),
        ("ext4-flex4", 300, &["-t", "ext4", "-G", "4"], Some(&small)),
        ("ext4-flex64", 2048, &["-t", "ext4", "-G", "64"], Some(&big)),
        (
            "ext4-no-flex",
            600,
            &["-t", "ext4", "-O", "^flex_bg"],
            Some(&small),
        ),
        (
            "ext4-meta-bg",
            1024,
            &["-t", "ext4", "-O", "meta_bg,^resize_inode"],
            Some(&big),
        ),
        (
            "ext4-sparse-super2",
            1024,
            &["-t", "ext4", "-O", "sparse_super2"],
            Some(&small),
        ),
        (
            "ext4-no-resize-inode",
            512,
            &["-t", "ext4", "-O", "^resize_inode"],
            None,
        ),
        (
            "ext4-64bit-many-groups",
            20480,
            &["-t", "ext4", "-O", "64bit"],
            Some(&big),
        ),
        (
            "ext4-bigalloc",
            512,
            &["-t", "ext4", "-O", "bigalloc", "-C", "65536"],
            Some(&big),
        ),
        (
            "ext4-many-inodes",
            256,
            &["-t", "ext4", "-N", "60000"],
            Some(&small),
        ),
        (
            "ext4-inode128",
            256,
            &["-t", "ext4", "-I", "128"],
            Some(&small),
        ),
        ("ext3", 300, &["-t", "ext3"], Some(&small)),
        ("ext2-1k", 100, &["-t", "ext2", "-b", "1024"], Some(&big)),
    ];
    let mut checked = 0;
    for (name, mib, opts, src) in cases {
        let img = dir.join(format!("{name}.img"));
        blank(&img, mib << 20);
        let mut mkfs = Command::new("mke2fs");
        mkfs.args(["-q", "-F"]).args(*opts);
        if let Some(src) = src {
            mkfs.arg("-d").arg(src);
        }
        run(mkfs.arg(&img));
        let want = resize2fs_minimum(&img);
        let (out, err, status) = rfish_minimum(dir, &format!("{name}.img"));
        assert_eq!(status, 0, "{name}: {err}");
        assert_eq!(out, format!("{want}\n"), "{name}");
        checked += 1;
    }
    assert_eq!(checked, cases.len());
}

#[test]
fn impossible_counts_are_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let img = tmp.path().join("bad.img");
    blank(&img, 32 << 20);
    run(Command::new("mke2fs")
        .args(["-q", "-F", "-t", "ext4"])
        .arg(&img));
    // More free inodes than inodes (checksums updated by debugfs).
    run(Command::new("debugfs")
        .args(["-w", "-R", "ssv free_inodes_count 4000000000"])
        .arg(&img));
    let (out, err, status) = rfish_minimum(tmp.path(), "bad.img");
    assert_eq!(status, 1, "{out}");
    assert!(
        err.contains("vfs_minimum_size: /dev/sda:") && err.contains("inode"),
        "{err}"
    );
}

#[test]
fn other_filesystems_get_guestfish_messages() {
    let tmp = tempfile::tempdir().unwrap();
    let img = tmp.path().join("fat.img");
    blank(&img, 8 << 20);
    run(Command::new("mkfs.vfat").arg(&img));
    let (_, err, status) = rfish_minimum(tmp.path(), "fat.img");
    assert_eq!(status, 1);
    assert_eq!(
        err,
        "*stdin*:3: rfish: error: vfs_minimum_size: don't know how to get minimum size of 'vfat' filesystems\n"
    );
}
