//! Hostile images (../shared/design.md, invariant 3): each crafted header or table gives a
//! clear error naming the structure and field — no panic, no hang, no huge allocation,
//! and the image file is never modified.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::qemu::{qemu_img, qemu_io};
use common::rfish;

/// A valid v3 image with some data, 64 KiB clusters: header at 0, refcount table at
/// 64 KiB, refcount block at 128 KiB, L1 at 192 KiB, first L2 table after it.
fn good_image(path: &Path) {
    qemu_img(&[
        "create",
        "-f",
        "qcow2",
        path.to_str().expect("utf-8"),
        "16M",
    ]);
    qemu_io("qcow2", path, &["write -P 0x42 0 4096"]);
}

fn be_u64(bytes: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

/// Patch `bytes` at `at`.
fn patch(img: &mut [u8], at: usize, bytes: &[u8]) {
    img[at..at + bytes.len()].copy_from_slice(bytes);
}

/// Open the image read-write and read from it; return (status, stderr).
fn try_image(dir: &Path, name: &str) -> (i32, String) {
    let mut cmd = rfish();
    cmd.current_dir(dir).args(["-a", name]);
    let start = Instant::now();
    let r = common::run_with_stdin(
        cmd,
        "pread-device /dev/sda 4096 0 | wc -c\npwrite-device /dev/sda x 1000000\n",
    );
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "{name}: took too long"
    );
    (r.status, r.stderr)
}

#[test]
fn crafted_headers_and_tables_give_clear_errors() {
    let dir = tempfile::tempdir().expect("tmp");
    let good = dir.path().join("good.qcow2");
    good_image(&good);
    let pristine = std::fs::read(&good).expect("read");
    let l1_offset = be_u64(&pristine, 40) as usize;
    let l2_offset = (be_u64(&pristine, l1_offset) & 0x00ff_ffff_ffff_fe00) as usize;
    let file_len = pristine.len() as u64;

    type Craft = Box<dyn Fn(&mut Vec<u8>)>;
    let cases: Vec<(&str, Craft, &str)> = vec![
        ("bad-magic", Box::new(|i| patch(i, 0, b"QFI\0")), ""),
        (
            "version",
            Box::new(|i| patch(i, 4, &7u32.to_be_bytes())),
            "version 7",
        ),
        (
            "version1",
            Box::new(|i| patch(i, 4, &1u32.to_be_bytes())),
            "image format 'qcow'",
        ),
        (
            "cluster-bits-big",
            Box::new(|i| patch(i, 20, &30u32.to_be_bytes())),
            "cluster_bits 30",
        ),
        (
            "cluster-bits-small",
            Box::new(|i| patch(i, 20, &8u32.to_be_bytes())),
            "cluster_bits 8",
        ),
        (
            "encrypted",
            Box::new(|i| patch(i, 32, &2u32.to_be_bytes())),
            "encrypted",
        ),
        (
            "l1-size-huge",
            Box::new(|i| patch(i, 36, &u32::MAX.to_be_bytes())),
            "l1_size",
        ),
        (
            "l1-size-small",
            Box::new(|i| patch(i, 24, &(1u64 << 50).to_be_bytes())),
            "l1_size",
        ),
        (
            "size-absurd",
            Box::new(|i| patch(i, 24, &u64::MAX.to_be_bytes())),
            "size",
        ),
        (
            "l1-beyond-eof",
            Box::new(move |i| patch(i, 40, &(file_len * 16).to_be_bytes())),
            "L1 table",
        ),
        (
            "l1-unaligned",
            Box::new(|i| patch(i, 40, &777u64.to_be_bytes())),
            "l1_table_offset",
        ),
        (
            "reftable-beyond-eof",
            Box::new(move |i| patch(i, 48, &(file_len * 16).to_be_bytes())),
            "refcount table",
        ),
        (
            "reftable-huge",
            Box::new(|i| patch(i, 56, &0x00ff_ffffu32.to_be_bytes())),
            "refcount_table_clusters",
        ),
        (
            "snapshots-absurd",
            Box::new(|i| patch(i, 60, &u32::MAX.to_be_bytes())),
            "nb_snapshots",
        ),
        (
            "unknown-incompat",
            Box::new(|i| patch(i, 72, &(1u64 << 40).to_be_bytes())),
            "incompatible features",
        ),
        (
            "refcount-order",
            Box::new(|i| patch(i, 96, &7u32.to_be_bytes())),
            "refcount_order 7",
        ),
        (
            "header-length",
            Box::new(|i| patch(i, 100, &7u32.to_be_bytes())),
            "header_length",
        ),
        (
            "backing-name",
            Box::new(|i| {
                patch(i, 8, &65_530u64.to_be_bytes());
                patch(i, 16, &1000u32.to_be_bytes());
            }),
            "backing_file_offset",
        ),
        (
            "backing-missing",
            Box::new(|i| {
                patch(i, 8, &2048u64.to_be_bytes());
                patch(i, 16, &9u32.to_be_bytes());
                patch(i, 2048, b"nonexists");
            }),
            "nonexists",
        ),
        (
            "extension-overrun",
            Box::new(|i| {
                patch(i, 112, &0x1234_5678u32.to_be_bytes());
                patch(i, 116, &u32::MAX.to_be_bytes());
            }),
            "header extension",
        ),
        (
            "l1-into-header",
            Box::new(move |i| {
                patch(
                    i,
                    l1_offset,
                    &(0x8000_0000_0000_0000u64 | 512).to_be_bytes(),
                )
            }),
            "L1 table",
        ),
        (
            "l1-past-eof",
            Box::new(move |i| {
                patch(
                    i,
                    l1_offset,
                    &(0x8000_0000_0000_0000u64 | (file_len * 64)).to_be_bytes(),
                )
            }),
            "L1 table",
        ),
        (
            "l2-past-eof",
            Box::new(move |i| {
                patch(
                    i,
                    l2_offset,
                    &(0x8000_0000_0000_0000u64 | (file_len * 64)).to_be_bytes(),
                )
            }),
            "L2 table",
        ),
        (
            "l2-unaligned",
            Box::new(move |i| {
                patch(
                    i,
                    l2_offset,
                    &(0x8000_0000_0000_0000u64 | 0x30200).to_be_bytes(),
                )
            }),
            "L2 table",
        ),
        (
            "l2-reserved-bits",
            Box::new(move |i| {
                patch(
                    i,
                    l2_offset,
                    &(0x8000_0000_0000_0000u64 | (1 << 58) | 0x40000).to_be_bytes(),
                )
            }),
            "reserved bits",
        ),
        (
            "compressed-past-eof",
            Box::new(move |i| {
                patch(
                    i,
                    l2_offset,
                    &(0x4000_0000_0000_0000u64 | (file_len * 8)).to_be_bytes(),
                )
            }),
            "compressed cluster",
        ),
        (
            "compressed-garbage",
            Box::new(move |i| {
                patch(
                    i,
                    l2_offset,
                    &(0x4000_0000_0000_0000u64 | 0x30000).to_be_bytes(),
                )
            }),
            "compressed cluster",
        ),
    ];
    for (name, craft, needle) in cases {
        let file = format!("{name}.qcow2");
        let mut bytes = pristine.clone();
        craft(&mut bytes);
        let path = dir.path().join(&file);
        std::fs::write(&path, &bytes).expect("write crafted image");
        let (status, stderr) = try_image(dir.path(), &file);
        eprintln!("{name}: {}", stderr.trim_end());
        assert!(!stderr.contains("panicked"), "{name}: panic: {stderr}");
        if name == "bad-magic" {
            // Not qcow2 at all: it is read as a raw image, which is not an error.
            continue;
        }
        assert_eq!(status, 1, "{name}: should fail: {stderr}");
        assert!(
            stderr.contains(needle),
            "{name}: error does not name {needle:?}: {stderr}"
        );
        assert!(
            std::fs::read(&path).expect("read") == bytes,
            "{name}: the image was modified"
        );
    }
}

#[test]
fn an_image_marked_corrupt_is_read_but_never_written() {
    let dir = tempfile::tempdir().expect("tmp");
    let img = dir.path().join("c.qcow2");
    good_image(&img);
    let mut bytes = std::fs::read(&img).expect("read");
    patch(&mut bytes, 72, &2u64.to_be_bytes());
    std::fs::write(&img, &bytes).expect("write");
    let (status, stderr) = try_image(dir.path(), "c.qcow2");
    assert_eq!(status, 1);
    assert!(stderr.contains("marked corrupt"), "{stderr}");
    assert!(std::fs::read(&img).expect("read") == bytes);
}

#[test]
fn backing_chains_that_are_too_deep_are_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    qemu_img(&[
        "create",
        "-f",
        "qcow2",
        dir.path().join("0.qcow2").to_str().expect("utf-8"),
        "1M",
    ]);
    for i in 1..=70 {
        let name = dir.path().join(format!("{i}.qcow2"));
        let backing = format!("{}.qcow2", i - 1);
        qemu_img(&[
            "create",
            "-f",
            "qcow2",
            "-u",
            "-b",
            &backing,
            "-F",
            "qcow2",
            name.to_str().expect("utf-8"),
            "1M",
        ]);
    }
    let (status, stderr) = try_image(dir.path(), "70.qcow2");
    assert_eq!(status, 1);
    assert!(stderr.contains("backing chain deeper than 64"), "{stderr}");
}
