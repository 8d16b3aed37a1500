//! Randomly damaged qcow2 images (bytes of the header and metadata overwritten) never
//! make the block layer panic, hang or allocate without bound: every outcome is data or
//! a clear error. A property test that runs in CI, alongside the crafted cases of
//! block_hostile.rs.

mod common;

use std::path::Path;
use std::sync::OnceLock;

use common::qemu::{self, qemu_img, qemu_io};
use proptest::prelude::*;
use rfish::block::{OpenOptions, open_image};

/// Seed images (built once): small clusters so metadata is dense; one with compressed
/// clusters, one with subclusters and a backing file, one v2.
fn seeds() -> &'static Vec<Vec<u8>> {
    static SEEDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tmp");
        let d = dir.path();
        let at = |n: &str| d.join(n).to_str().expect("utf-8").to_string();
        qemu::islands_raw(&d.join("src.raw"), 1 << 20, 4);
        qemu_img(&[
            "convert",
            "-c",
            "-O",
            "qcow2",
            "-o",
            "cluster_size=4096",
            &at("src.raw"),
            &at("zlib.qcow2"),
        ]);
        qemu_img(&[
            "create",
            "-f",
            "qcow2",
            "-o",
            "extended_l2=on,cluster_size=16k",
            "-b",
            "src.raw",
            "-F",
            "raw",
            &at("ext.qcow2"),
        ]);
        qemu_io(
            "qcow2",
            &d.join("ext.qcow2"),
            &["write -P 1 5000 3000", "write -z 100000 40000"],
        );
        qemu_img(&[
            "create",
            "-f",
            "qcow2",
            "-o",
            "compat=0.10,cluster_size=1024",
            &at("v2.qcow2"),
            "1M",
        ]);
        qemu_io("qcow2", &d.join("v2.qcow2"), &["write -P 2 0 300000"]);
        ["zlib.qcow2", "ext.qcow2", "v2.qcow2"]
            .iter()
            .map(|n| std::fs::read(d.join(n)).expect("read seed"))
            .collect()
    })
}

fn exercise(path: &Path) {
    let Ok(dev) = open_image(
        path,
        &OpenOptions {
            format: None,
            read_only: false,
            lock: false,
        },
    ) else {
        return;
    };
    let size = dev.size().min(4 << 20);
    let mut buf = vec![0u8; 65536];
    let mut at = 0;
    while at < size {
        let n = (size - at).min(buf.len() as u64) as usize;
        if dev.read_at(&mut buf[..n], at).is_err() {
            break;
        }
        at += n as u64;
    }
    let mut at = 0;
    for _ in 0..10_000 {
        if at >= size {
            break;
        }
        match dev.block_status(at, size - at) {
            Ok((n, _)) => at += n,
            Err(_) => break,
        }
    }
    let _ = dev.write_at(b"fuzz", 12_345);
    let _ = dev.write_zeroes(0, size.min(200_000));
    let _ = dev.flush();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, .. ProptestConfig::default() })]
    #[test]
    fn damaged_images_never_panic(
        seed in 0..3usize,
        edits in proptest::collection::vec((0..1usize << 16, any::<u8>(), 0..4u8), 1..12),
    ) {
        let mut bytes = seeds()[seed].clone();
        for (pos, value, mode) in edits {
            // Aim most edits at the header and the tables that follow it.
            let pos = if mode == 0 { pos % bytes.len() } else { pos % bytes.len().min(8192) };
            bytes[pos] = match mode {
                1 => value,
                2 => bytes[pos] ^ (1 << (value % 8)),
                _ => 0xff,
            };
        }
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(dir.path().join("src.raw"), vec![7u8; 1 << 20]).expect("backing");
        let img = dir.path().join("fuzz.qcow2");
        std::fs::write(&img, &bytes).expect("write");
        exercise(&img);
    }
}
