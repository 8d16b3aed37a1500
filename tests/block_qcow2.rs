//! The block layer against QEMU's own tools: images made by `qemu-img` read back byte for
//! byte as `qemu-img convert -O raw` sees them; images rfish writes pass `qemu-img check`
//! and `qemu-img compare`.

mod common;

use std::path::{Path, PathBuf};

use common::qemu::{self, qemu_img, qemu_io};
use rfish::block::{Allocation, BlockDev, Device, ImageFormat, OpenOptions, open_image};

fn open(path: &Path, read_only: bool) -> Device {
    open_image(
        path,
        &OpenOptions {
            format: None,
            read_only,
            lock: true,
        },
    )
    .unwrap_or_else(|e| panic!("open {}: {e}", path.display()))
}

/// Read a whole device in awkward, unaligned pieces.
fn read_all(dev: &dyn BlockDev) -> Vec<u8> {
    let size = dev.size() as usize;
    let mut out = vec![0u8; size];
    let mut at = 0usize;
    let steps = [1usize, 511, 4096, 65_537, 1 << 20, 3];
    let mut i = 0;
    while at < size {
        let n = steps[i % steps.len()].min(size - at);
        dev.read_at(&mut out[at..at + n], at as u64).expect("read");
        at += n;
        i += 1;
    }
    out
}

/// Every Zero run block_status reports really reads as zeros, and the runs tile the device.
fn check_block_status(dev: &dyn BlockDev, bytes: &[u8]) {
    let size = dev.size();
    let mut at = 0;
    while at < size {
        let (n, status) = dev.block_status(at, size - at).expect("block_status");
        assert!(n > 0 && at + n <= size, "run of {n} at {at}");
        if status == Allocation::Zero {
            assert!(
                bytes[at as usize..(at + n) as usize]
                    .iter()
                    .all(|&b| b == 0),
                "zero run at {at}+{n} holds data"
            );
        }
        at += n;
    }
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

#[test]
fn qemu_made_images_read_back_identical_to_qemu_img_convert() {
    let dir = tmp();
    let raw = dir.path().join("source.raw");
    qemu::islands_raw(&raw, 12 << 20, 7);
    let variants: &[(&str, &[&str])] = &[
        ("v2-64k", &["-o", "compat=0.10"]),
        ("v3-512", &["-o", "cluster_size=512"]),
        ("v3-64k", &[]),
        ("v3-2m", &["-o", "cluster_size=2M"]),
        ("zlib", &["-c"]),
        ("zlib-512", &["-c", "-o", "cluster_size=512"]),
        ("zstd", &["-c", "-o", "compression_type=zstd"]),
        ("extl2", &["-o", "extended_l2=on,cluster_size=64k"]),
        ("refcount1", &["-o", "refcount_bits=1"]),
        ("refcount64", &["-o", "refcount_bits=64"]),
        ("prealloc", &["-o", "preallocation=metadata"]),
    ];
    for (name, opts) in variants {
        let img = dir.path().join(format!("{name}.qcow2"));
        let mut args = vec!["convert", "-O", "qcow2"];
        args.extend_from_slice(opts);
        args.extend([p(&raw), p(&img)]);
        qemu_img(&args);
        let expected = qemu::to_raw_bytes(&img, dir.path());
        let dev = open(&img, true);
        assert_eq!(dev.size() as usize, expected.len(), "{name}: size");
        let got = read_all(dev.as_ref());
        assert!(
            got == expected,
            "{name}: bytes differ from qemu-img convert"
        );
        check_block_status(dev.as_ref(), &expected);
    }
}

#[test]
fn subclusters_and_zero_clusters_written_by_qemu_io_read_correctly() {
    let dir = tmp();
    let base = dir.path().join("base.raw");
    std::fs::write(&base, qemu::pattern(4 << 20, 3)).expect("write base");
    let img = dir.path().join("sub.qcow2");
    qemu_img(&[
        "create",
        "-f",
        "qcow2",
        "-o",
        "extended_l2=on,cluster_size=64k",
        "-b",
        p(&base),
        "-F",
        "raw",
        p(&img),
    ]);
    qemu_io(
        "qcow2",
        &img,
        &[
            "write -P 0x11 4096 2048",
            "write -z 65536 8192",
            "write -P 0x22 200000 70000",
            "write -z -u 1048576 131072",
            "discard 2097152 65536",
        ],
    );
    let expected = qemu::to_raw_bytes(&img, dir.path());
    let dev = open(&img, true);
    assert!(read_all(dev.as_ref()) == expected);
    check_block_status(dev.as_ref(), &expected);

    let v3 = dir.path().join("zero.qcow2");
    qemu_img(&["create", "-f", "qcow2", "-b", p(&base), "-F", "raw", p(&v3)]);
    qemu_io(
        "qcow2",
        &v3,
        &[
            "write -z 0 131072",
            "write -z -u 262144 65536",
            "write -P 0x33 65536 512",
        ],
    );
    let expected = qemu::to_raw_bytes(&v3, dir.path());
    let dev = open(&v3, true);
    assert!(read_all(dev.as_ref()) == expected);
    check_block_status(dev.as_ref(), &expected);
}

/// base.raw ← mid.qcow2 (v2) ← top.qcow2 (v3), relative backing names, each layer
/// overwriting part of the one below.
fn chain(dir: &Path) -> PathBuf {
    let base = dir.join("base.raw");
    std::fs::write(&base, qemu::pattern(6 << 20, 11)).expect("write base");
    let sub = dir.join("sub");
    std::fs::create_dir(&sub).expect("mkdir");
    let mid = sub.join("mid.qcow2");
    qemu_img(&[
        "create",
        "-f",
        "qcow2",
        "-o",
        "compat=0.10",
        "-b",
        "../base.raw",
        "-F",
        "raw",
        p(&mid),
    ]);
    qemu_io(
        "qcow2",
        &mid,
        &["write -P 0xaa 100000 300000", "write -P 0xbb 5000000 1000"],
    );
    let top = dir.join("top.qcow2");
    qemu_img(&[
        "create",
        "-f",
        "qcow2",
        "-b",
        "sub/mid.qcow2",
        "-F",
        "qcow2",
        p(&top),
        "8M",
    ]);
    qemu_io(
        "qcow2",
        &top,
        &[
            "write -P 0xcc 250000 100000",
            "write -z 4194304 65536",
            "write -P 0xdd 7000000 4096",
        ],
    );
    top
}

#[test]
fn backing_chains_of_depth_three_read_like_qemu() {
    let dir = tmp();
    let top = chain(dir.path());
    let expected = qemu::to_raw_bytes(&top, dir.path());
    let dev = open(&top, true);
    assert_eq!(dev.size(), 8 << 20);
    assert!(read_all(dev.as_ref()) == expected);
    check_block_status(dev.as_ref(), &expected);
}

#[test]
fn a_backing_file_loop_is_refused() {
    let dir = tmp();
    let a = dir.path().join("a.qcow2");
    let b = dir.path().join("b.qcow2");
    qemu_img(&["create", "-f", "qcow2", p(&a), "1M"]);
    qemu_img(&[
        "create",
        "-f",
        "qcow2",
        "-b",
        "a.qcow2",
        "-F",
        "qcow2",
        p(&b),
    ]);
    // Point a at b behind qemu-img's back: a loop.
    qemu_img(&[
        "rebase",
        "-u",
        "-f",
        "qcow2",
        "-b",
        "b.qcow2",
        "-F",
        "qcow2",
        p(&a),
    ]);
    let err = open_image(
        &b,
        &OpenOptions {
            format: None,
            read_only: true,
            lock: false,
        },
    )
    .err()
    .expect("loop must fail")
    .to_string();
    assert!(err.contains("loop"), "{err}");
}

/// Writes through rfish: a sequence of operations applied to rfish's device and to a
/// plain byte vector; afterwards qemu-img must agree with the vector and find the image
/// clean.
#[derive(Debug, Clone)]
enum Op {
    Write { at: u64, len: usize, seed: u64 },
    Zero { at: u64, len: u64 },
    Discard { at: u64, len: u64 },
    Flush,
}

fn apply(dev: &dyn BlockDev, model: &mut [u8], op: &Op) {
    match *op {
        Op::Write { at, len, seed } => {
            let data = qemu::pattern(len, seed);
            dev.write_at(&data, at).expect("write");
            model[at as usize..at as usize + len].copy_from_slice(&data);
        }
        Op::Zero { at, len } => {
            dev.write_zeroes(at, len).expect("write_zeroes");
            model[at as usize..(at + len) as usize].fill(0);
        }
        Op::Discard { at, len } => {
            dev.discard(at, len).expect("discard");
            model[at as usize..(at + len) as usize].fill(0);
        }
        Op::Flush => dev.flush().expect("flush"),
    }
}

fn verify(img: &Path, model: &[u8], dir: &Path, what: &str) {
    let model_path = dir.join("model.raw");
    std::fs::write(&model_path, model).expect("write model");
    let (code, text) = qemu::compare(&model_path, "raw", img, "qcow2");
    assert_eq!(code, 0, "{what}: qemu-img compare: {text}");
    let (code, text) = qemu::check(img);
    assert_eq!(code, 0, "{what}: qemu-img check: {text}");
}

mod model {
    use super::*;
    use proptest::prelude::*;

    const SIZE: u64 = 3 << 20;

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0..SIZE, 1usize..200_000, any::<u64>()).prop_map(|(at, len, seed)| {
                let len = len.min((SIZE - at) as usize).max(1);
                Op::Write { at: at.min(SIZE - len as u64), len, seed }
            }),
            1 => (0..SIZE, 1u64..400_000).prop_map(|(at, len)| Op::Zero { at, len: len.min(SIZE - at) }),
            1 => (0..SIZE / 65536).prop_map(|c| Op::Discard { at: c * 65536, len: 65536 }),
            1 => Just(Op::Flush),
        ]
    }

    /// (name, qemu-img create options, has a backing file)
    const KINDS: &[(&str, &str, bool)] = &[
        ("v3", "", false),
        ("v2", "compat=0.10", false),
        ("v3-512", "cluster_size=512", false),
        ("v3-refcount1", "refcount_bits=1,cluster_size=4096", false),
        ("extl2-backing", "extended_l2=on,cluster_size=32k", true),
        ("v2-backing", "compat=0.10", true),
        ("v3-backing", "", true),
    ];

    proptest! {
        #![proptest_config(ProptestConfig { cases: 14, .. ProptestConfig::default() })]
        #[test]
        fn random_writes_match_a_model_and_pass_qemu_img_check(
            kind in 0..KINDS.len(),
            ops in proptest::collection::vec(op(), 1..40),
        ) {
            let (name, opts, backing) = KINDS[kind];
            let dir = tmp();
            let img = dir.path().join("img.qcow2");
            let mut model = vec![0u8; SIZE as usize];
            let mut args = vec!["create", "-f", "qcow2"];
            if !opts.is_empty() { args.extend(["-o", opts]); }
            let base = dir.path().join("base.qcow2");
            if backing {
                let raw = dir.path().join("base.raw");
                qemu::islands_raw(&raw, SIZE as usize, 5);
                qemu_img(&["convert", "-c", "-O", "qcow2", p(&raw), p(&base)]);
                model = std::fs::read(&raw).expect("read base");
                args.extend(["-b", "base.qcow2", "-F", "qcow2"]);
            }
            let size = SIZE.to_string();
            args.push(p(&img));
            if !backing { args.push(&size); }
            qemu_img(&args);
            {
                let dev = open(&img, false);
                for op in &ops {
                    apply(dev.as_ref(), &mut model, op);
                }
                dev.flush().expect("final flush");
            }
            verify(&img, &model, dir.path(), name);
            // And rfish reads back what it wrote after reopening.
            let dev = open(&img, true);
            prop_assert!(read_all(dev.as_ref()) == model);
        }
    }
}

#[test]
fn writing_to_a_compressed_cluster_rewrites_it_uncompressed() {
    let dir = tmp();
    let raw = dir.path().join("src.raw");
    qemu::islands_raw(&raw, 4 << 20, 9);
    for opts in [&["-c"][..], &["-c", "-o", "compression_type=zstd"][..]] {
        let img = dir.path().join("c.qcow2");
        let mut args = vec!["convert", "-O", "qcow2"];
        args.extend_from_slice(opts);
        args.extend([p(&raw), p(&img)]);
        qemu_img(&args);
        let mut model = std::fs::read(&raw).expect("read raw");
        {
            let dev = open(&img, false);
            apply(
                dev.as_ref(),
                &mut model,
                &Op::Write {
                    at: 4096 + 100,
                    len: 10,
                    seed: 1,
                },
            );
            apply(
                dev.as_ref(),
                &mut model,
                &Op::Write {
                    at: 1_200_000,
                    len: 200_000,
                    seed: 2,
                },
            );
            apply(
                dev.as_ref(),
                &mut model,
                &Op::Zero {
                    at: 65536 * 20,
                    len: 65536 * 3,
                },
            );
        }
        verify(&img, &model, dir.path(), "compressed");
    }
}

#[test]
fn images_with_snapshots_are_read_but_never_written() {
    let dir = tmp();
    let img = dir.path().join("snap.qcow2");
    qemu_img(&["create", "-f", "qcow2", p(&img), "4M"]);
    qemu_io("qcow2", &img, &["write -P 0x41 0 65536"]);
    qemu_img(&["snapshot", "-c", "first", p(&img)]);
    qemu_io("qcow2", &img, &["write -P 0x42 0 4096"]);
    let expected = qemu::to_raw_bytes(&img, dir.path());
    let before = std::fs::read(&img).expect("read image");
    let dev = open(&img, false);
    assert!(read_all(dev.as_ref()) == expected);
    let err = dev
        .write_at(b"x", 0)
        .expect_err("write must be refused")
        .to_string();
    assert!(err.contains("snapshots"), "{err}");
    drop(dev);
    assert!(
        std::fs::read(&img).expect("read image") == before,
        "image changed"
    );
    qemu::assert_clean(&img);
}

#[test]
fn a_dirty_image_gets_its_refcounts_repaired_before_the_first_write() {
    let dir = tmp();
    let img = dir.path().join("lazy.qcow2");
    qemu_img(&[
        "create",
        "-f",
        "qcow2",
        "-o",
        "lazy_refcounts=on",
        p(&img),
        "8M",
    ]);
    // qemu-io's abort leaves the dirty bit set and refcounts stale, like a crashed VM.
    let _ = std::process::Command::new("qemu-io")
        .args([
            "-f",
            "qcow2",
            "-c",
            "write -P 0x55 0 1M",
            "-c",
            "abort",
            p(&img),
        ])
        .output();
    let (code, _) = qemu::check(&img);
    assert_ne!(code, 0, "fixture should need repair");
    let mut model = vec![0u8; 8 << 20];
    model[..1 << 20].fill(0x55);
    {
        let dev = open(&img, false);
        assert!(read_all(dev.as_ref()) == model, "read before repair");
        apply(
            dev.as_ref(),
            &mut model,
            &Op::Write {
                at: 3 << 20,
                len: 70_000,
                seed: 4,
            },
        );
    }
    verify(&img, &model, dir.path(), "repaired");
}

#[test]
fn read_only_devices_refuse_writes_and_leave_the_file_untouched() {
    let dir = tmp();
    let img = dir.path().join("ro.qcow2");
    qemu_img(&["create", "-f", "qcow2", p(&img), "1M"]);
    let before = std::fs::read(&img).expect("read");
    let dev = open(&img, true);
    assert!(dev.write_at(b"x", 0).is_err());
    assert!(dev.write_zeroes(0, 512).is_err());
    dev.flush().expect("flush of a read-only device is a no-op");
    drop(dev);
    assert!(std::fs::read(&img).expect("read") == before);
}

#[test]
fn a_sparse_petabyte_image_opens_in_bounded_memory() {
    let dir = tmp();
    let img = dir.path().join("huge.qcow2");
    qemu_img(&["create", "-f", "qcow2", p(&img), "1P"]);
    qemu_io("qcow2", &img, &["write -P 0x7 562949953421312 4096"]);
    let dev = open(&img, true);
    assert_eq!(dev.size(), 1 << 50);
    let mut buf = vec![0u8; 8192];
    dev.read_at(&mut buf, (1 << 49) - 4096).expect("read");
    assert!(buf[..4096].iter().all(|&b| b == 0) && buf[4096..].iter().all(|&b| b == 7));
    // The whole device's allocation map comes back in a handful of runs.
    let mut runs = 0;
    let mut at = 0;
    while at < dev.size() {
        let (n, _) = dev.block_status(at, dev.size() - at).expect("status");
        at += n;
        runs += 1;
        assert!(runs < 100, "too many runs");
    }
}

#[test]
fn rfish_reads_raw_when_told_even_if_the_bytes_say_qcow2() {
    let dir = tmp();
    let img = dir.path().join("looks.qcow2");
    qemu_img(&["create", "-f", "qcow2", p(&img), "1M"]);
    let dev = open_image(
        &img,
        &OpenOptions {
            format: Some(ImageFormat::Raw),
            read_only: true,
            lock: true,
        },
    )
    .expect("open");
    assert_eq!(dev.format_name(), "raw");
    assert_eq!(dev.size(), std::fs::metadata(&img).expect("stat").len());
}

#[test]
fn threads_sharing_one_image_see_a_consistent_disk() {
    let dir = tmp();
    let img = dir.path().join("mt.qcow2");
    let base = dir.path().join("base.raw");
    qemu::islands_raw(&base, 8 << 20, 21);
    qemu_img(&[
        "create",
        "-f",
        "qcow2",
        "-o",
        "cluster_size=4096",
        "-b",
        "base.raw",
        "-F",
        "raw",
        p(&img),
    ]);
    let mut model = std::fs::read(&base).expect("read base");
    let dev = open(&img, false);
    // Four writers on disjoint stripes and four readers checking untouched bytes.
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let dev = dev.clone();
            s.spawn(move || {
                for i in 0..200u64 {
                    let at = (i * 4 + t) * 10_000;
                    dev.write_at(&qemu::pattern(5000, at), at).expect("write");
                }
            });
        }
        for _ in 0..4 {
            let dev = dev.clone();
            let base = &model;
            s.spawn(move || {
                let mut buf = vec![0u8; 4000];
                for i in 0..200u64 {
                    // Bytes 5000..9000 of every 10 000 are never written.
                    let at = i * 10_000 + 5000;
                    dev.read_at(&mut buf, at).expect("read");
                    assert!(buf == base[at as usize..at as usize + 4000], "read at {at}");
                }
            });
        }
    });
    dev.flush().expect("flush");
    drop(dev);
    for n in 0..800u64 {
        let at = n * 10_000;
        model[at as usize..at as usize + 5000].copy_from_slice(&qemu::pattern(5000, at));
    }
    verify(&img, &model, dir.path(), "threads");
}
