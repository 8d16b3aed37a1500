//! Oracles from QEMU: build images with `qemu-img`/`qemu-io`, judge rfish's with
//! `qemu-img check` and `qemu-img compare`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Run a QEMU tool; panic with its output if it fails.
pub fn run(tool: &str, args: &[&str]) -> String {
    let out = Command::new(tool)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {tool}: {e}"));
    assert!(
        out.status.success(),
        "{tool} {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `qemu-img ARGS`.
pub fn qemu_img(args: &[&str]) -> String {
    run("qemu-img", args)
}

/// `qemu-io -c CMD ...` on an image of `format`.
pub fn qemu_io(format: &str, image: &Path, cmds: &[&str]) {
    let mut args = vec!["-f", format];
    for c in cmds {
        args.push("-c");
        args.push(c);
    }
    let img = image.to_str().expect("utf-8 path");
    args.push(img);
    run("qemu-io", &args);
}

/// `qemu-img check` result: (exit status, output). 0 clean, 2 corruption, 3 leaks only.
pub fn check(image: &Path) -> (i32, String) {
    let out = Command::new("qemu-img")
        .args(["check", "-f", "qcow2"])
        .arg(image)
        .output()
        .expect("run qemu-img check");
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Assert `qemu-img check` finds neither corruption nor leaks.
pub fn assert_clean(image: &Path) {
    let (code, text) = check(image);
    assert_eq!(code, 0, "qemu-img check {}:\n{text}", image.display());
}

/// `qemu-img compare` of two images (formats probed... explicitly given).
pub fn compare(a: &Path, a_fmt: &str, b: &Path, b_fmt: &str) -> (i32, String) {
    let out = Command::new("qemu-img")
        .args(["compare", "-f", a_fmt, "-F", b_fmt])
        .arg(a)
        .arg(b)
        .output()
        .expect("run qemu-img compare");
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// The guest-visible bytes of an image, by `qemu-img convert -O raw`.
pub fn to_raw_bytes(image: &Path, dir: &Path) -> Vec<u8> {
    let out: PathBuf = dir.join(format!(
        "{}.raw-oracle",
        image.file_name().expect("name").to_string_lossy()
    ));
    qemu_img(&[
        "convert",
        "-O",
        "raw",
        image.to_str().expect("utf-8"),
        out.to_str().expect("utf-8"),
    ]);
    let bytes = std::fs::read(&out).expect("read converted image");
    std::fs::remove_file(&out).ok();
    bytes
}

/// A deterministic pseudo-random byte stream (xorshift), so failures reproduce.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// A raw image of `size` bytes with data islands of assorted sizes (some compressible,
/// some random) and holes between them.
pub fn islands_raw(path: &Path, size: usize, seed: u64) {
    let mut img = vec![0u8; size];
    let noise = pattern(size, seed);
    let mut at = 4096usize;
    let mut i = 0usize;
    while at < size {
        let len = [512usize, 4096, 65536 + 512, 300_000, 7][i % 5].min(size - at);
        if i % 3 == 0 {
            img[at..at + len].copy_from_slice(&noise[at..at + len]);
        } else {
            for (k, b) in img[at..at + len].iter_mut().enumerate() {
                *b = (k % 251) as u8 ^ (i as u8);
            }
        }
        at += len + [100_000usize, 1 << 20, 3_000, 65_536][i % 4];
        i += 1;
    }
    std::fs::write(path, img).expect("write raw image");
}
