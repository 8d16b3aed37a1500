//! ext4 superblocks and group descriptors read by rfish's driver, judged by `dumpe2fs`
//! (e2fsprogs) on filesystems made by mkfs with assorted features.

use std::path::Path;
use std::process::Command;

use rfish::block::{Device, OpenOptions, open_image};
use rfish::fs::ext4::group_desc::read_all;
use rfish::fs::ext4::superblock::Superblock;

fn mkfs(dir: &Path, name: &str, size: &str, args: &[&str]) -> std::path::PathBuf {
    let img = dir.join(name);
    Command::new("truncate")
        .args(["-s", size])
        .arg(&img)
        .status()
        .expect("truncate");
    let st = Command::new(args[0])
        .args(&args[1..])
        .arg(&img)
        .status()
        .expect("mkfs");
    assert!(st.success(), "{args:?}");
    img
}

fn dumpe2fs(img: &Path) -> String {
    let out = Command::new("dumpe2fs")
        .arg(img)
        .output()
        .expect("dumpe2fs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn header(text: &str, key: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .map(|v| v.trim().to_string())
        .unwrap_or_default()
}

fn open(img: &Path) -> Device {
    open_image(
        img,
        &OpenOptions {
            format: None,
            read_only: true,
            lock: false,
        },
    )
    .expect("open")
}

#[test]
fn superblocks_and_group_descriptors_match_dumpe2fs() {
    let dir = tempfile::tempdir().expect("tmp");
    let variants: &[(&str, &str, &[&str])] = &[
        ("ext2-1k", "16M", &["mkfs.ext2", "-q", "-b", "1024"]),
        ("ext3", "64M", &["mkfs.ext3", "-q"]),
        ("ext4", "300M", &["mkfs.ext4", "-q", "-L", "root"]),
        (
            "ext4-gdtcsum",
            "64M",
            &["mkfs.ext4", "-q", "-O", "^metadata_csum,uninit_bg"],
        ),
        (
            "ext4-metabg",
            "64M",
            &["mkfs.ext4", "-q", "-O", "meta_bg,^resize_inode"],
        ),
        (
            "ext4-1k-64bit",
            "64M",
            &["mkfs.ext4", "-q", "-b", "1024", "-O", "64bit"],
        ),
        (
            "ext4-csumseed",
            "64M",
            &["mkfs.ext4", "-q", "-O", "metadata_csum_seed"],
        ),
    ];
    for (name, size, args) in variants {
        let img = mkfs(dir.path(), name, size, args);
        let text = dumpe2fs(&img);
        let dev = open(&img);
        let sb = Superblock::read(dev.as_ref()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            sb.blocks_count.to_string(),
            header(&text, "Block count"),
            "{name}"
        );
        assert_eq!(
            sb.inodes_count.to_string(),
            header(&text, "Inode count"),
            "{name}"
        );
        assert_eq!(
            sb.block_size.to_string(),
            header(&text, "Block size"),
            "{name}"
        );
        assert_eq!(
            sb.inode_size.to_string(),
            header(&text, "Inode size"),
            "{name}"
        );
        assert_eq!(
            sb.blocks_per_group.to_string(),
            header(&text, "Blocks per group"),
            "{name}"
        );
        assert_eq!(
            sb.inodes_per_group.to_string(),
            header(&text, "Inodes per group"),
            "{name}"
        );
        assert_eq!(sb.uuid_string(), header(&text, "Filesystem UUID"), "{name}");
        let label = header(&text, "Filesystem volume name");
        assert_eq!(
            if sb.volume_name.is_empty() {
                "<none>".to_string()
            } else {
                sb.volume_name.clone()
            },
            label,
            "{name}"
        );
        let gds = read_all(dev.as_ref(), &sb).unwrap_or_else(|e| panic!("{name}: {e}"));
        let groups: Vec<&str> = text
            .split("\nGroup ")
            .skip(1)
            .filter(|g| g.starts_with(|c: char| c.is_ascii_digit()))
            .collect();
        assert_eq!(gds.len(), groups.len(), "{name}: group count");
        for (g, (d, block)) in gds.iter().zip(groups).enumerate() {
            let at = |key: &str| {
                block
                    .lines()
                    .find_map(|l| l.trim().strip_prefix(key))
                    .and_then(|v| v.split(|c: char| !c.is_ascii_digit()).next())
                    .unwrap_or("")
                    .to_string()
            };
            assert_eq!(
                d.block_bitmap.to_string(),
                at("Block bitmap at "),
                "{name} group {g}"
            );
            assert_eq!(
                d.inode_bitmap.to_string(),
                at("Inode bitmap at "),
                "{name} group {g}"
            );
            assert_eq!(
                d.inode_table.to_string(),
                at("Inode table at "),
                "{name} group {g}"
            );
            let free = block
                .lines()
                .find(|l| l.contains("free blocks,"))
                .expect("free line");
            assert!(
                free.trim().starts_with(&format!(
                    "{} free blocks, {} free inodes, {} directories",
                    d.free_blocks, d.free_inodes, d.used_dirs
                )),
                "{name} group {g}: {free}"
            );
        }
    }
}

#[test]
fn damaged_superblocks_and_descriptors_are_clear_errors() {
    let dir = tempfile::tempdir().expect("tmp");
    let img = mkfs(
        dir.path(),
        "e.img",
        "64M",
        &["mkfs.ext4", "-q", "-b", "4096"],
    );
    let good = std::fs::read(&img).expect("read");
    let cases: &[(&str, usize, &[u8], &str)] = &[
        ("csum", 1024 + 100, &[0x55], "checksum"),
        ("log-block", 1024 + 24, &[9, 0, 0, 0], "s_log_block_size"),
        (
            "blocks",
            1024 + 4,
            &[0xff, 0xff, 0xff, 0x7f],
            "larger than the device",
        ),
        ("gd-csum", 4096 + 3, &[0x99], "group 0: checksum"),
    ];
    for (name, at, bytes, needle) in cases {
        let mut b = good.clone();
        b[*at..*at + bytes.len()].copy_from_slice(bytes);
        let path = dir.path().join(format!("{name}.img"));
        std::fs::write(&path, &b).expect("write");
        let dev: Device = open(&path);
        let err = Superblock::read(dev.as_ref())
            .and_then(|sb| read_all(dev.as_ref(), &sb).map(|_| ()))
            .err()
            .unwrap_or_else(|| panic!("{name}: no error"))
            .to_string();
        assert!(err.contains(needle), "{name}: {err}");
    }
}
