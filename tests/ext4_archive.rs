//! tar-out and copy-out judged by GNU tar and the host filesystem: the archive rfish
//! writes, extracted by `tar`, is the source tree the fixture was made from (names,
//! modes, times, contents, symlinks, hard links, device numbers, xattrs); gzip and zstd
//! archives decompress with the host's tools; copy-out recreates files and trees.

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

use common::{fixtures, rfish, run_with_stdin};

fn run(dir: &Path, script: &str) {
    let mut cmd = rfish();
    cmd.current_dir(dir)
        .args(["--ro", "-a", "ext4.img", "-m", "/dev/sda"]);
    let r = run_with_stdin(cmd, script);
    assert_eq!(r.status, 0, "{}", r.stderr);
}

fn sh(cmd: &str) -> String {
    let out = Command::new("sh").arg("-c").arg(cmd).output().expect("sh");
    assert!(
        out.status.success(),
        "{cmd}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every path below `root` with its type, mode, owner, mtime (whole seconds: mke2fs -d
/// keeps no nanoseconds), link target and content hash, as the host sees it. lines.txt is
/// left out: its 2049 mtime was wrapped to 1913 by mke2fs -d when the image was made.
fn snapshot(root: &Path) -> String {
    sh(&format!(
        "cd '{}' && find . -mindepth 1 ! -name lost+found ! -path './lost+found/*' ! -type s ! -name lines.txt -printf '%p %y %m %U %G %T@ %l\\n' | sed 's/\\.[0-9]* / /' | sort && find . -type f ! -path './lost+found/*' -print0 | sort -z | xargs -0 sha256sum",
        root.display()
    ))
}

#[test]
fn tar_out_extracts_to_the_source_tree() {
    let fx = fixtures("ext4-fixtures.sh");
    let tmp = tempfile::tempdir().expect("tmp");
    std::fs::copy(fx.join("ext4.img"), tmp.path().join("ext4.img")).expect("copy");
    run(
        tmp.path(),
        "tar-out / plain.tar\ntar-out / gz.tar.gz compress:gzip\ntar-out / x.tar xattrs:true numericowner:true\n",
    );
    let listing = sh(&format!("tar -tvf {}/plain.tar", tmp.path().display()));
    assert!(listing.starts_with("drwxr-xr-x root/root"), "{listing}");
    assert!(
        listing.contains(" ./hardlink.txt\n")
            || listing.contains(" ./hello.txt link to ./hardlink.txt\n"),
        "{listing}"
    );
    assert!(
        listing.contains("./link-long -> xxxxxxxx"),
        "long link targets survive"
    );
    for (archive, flags) in [("plain.tar", ""), ("gz.tar.gz", "-z")] {
        let out = tmp.path().join(format!("out-{archive}"));
        std::fs::create_dir(&out).expect("mkdir");
        sh(&format!(
            "tar {flags} -xf {}/{archive} -C {}",
            tmp.path().display(),
            out.display()
        ));
        assert_eq!(snapshot(&out), snapshot(&fx.join("tree")), "{archive}");
        let dev = std::fs::symlink_metadata(out.join("bigdev")).expect("bigdev");
        let src = std::fs::symlink_metadata(fx.join("tree/bigdev")).expect("bigdev");
        assert_eq!(dev.rdev(), src.rdev(), "device numbers");
    }
    // Extended attributes, restored by GNU tar, equal the source's.
    let out = tmp.path().join("out-x");
    std::fs::create_dir(&out).expect("mkdir");
    sh(&format!(
        "tar --xattrs --xattrs-include='*' -xf {}/x.tar -C {}",
        tmp.path().display(),
        out.display()
    ));
    for f in ["hello.txt", "lines.txt", "etc/os-release", "random.bin"] {
        let dump = |root: &Path| {
            sh(&format!(
                "cd '{}' && getfattr -h -d -m - -e hex {f}",
                root.display()
            ))
        };
        assert_eq!(dump(&out), dump(&fx.join("tree")), "{f}");
    }
}

#[test]
fn tar_out_compresses_with_zstd_and_excludes() {
    if Command::new("zstd").arg("--version").output().is_err() {
        eprintln!("zstd not installed: skipped");
        return;
    }
    let fx = fixtures("ext4-fixtures.sh");
    let tmp = tempfile::tempdir().expect("tmp");
    std::fs::copy(fx.join("ext4.img"), tmp.path().join("ext4.img")).expect("copy");
    run(
        tmp.path(),
        "tar-out /etc e.tar.zst compress:zstd \"excludes:words *-link\"\n",
    );
    let names = sh(&format!(
        "zstd -dc {}/e.tar.zst | tar -tf -",
        tmp.path().display()
    ));
    assert_eq!(
        names,
        "./\n./sub/\n./sub/up3\n./sub/deeper/\n./sub/deeper/escape\n./sub/deeper/deepest/\n./os-release\n"
    );
}

#[test]
fn copy_out_recreates_files_and_trees() {
    let fx = fixtures("ext4-fixtures.sh");
    let tmp = tempfile::tempdir().expect("tmp");
    std::fs::copy(fx.join("ext4.img"), tmp.path().join("ext4.img")).expect("copy");
    std::fs::create_dir(tmp.path().join("out")).expect("mkdir");
    run(tmp.path(), "copy-out /etc /hello.txt /link-rel /home out\n");
    let out = tmp.path().join("out");
    assert_eq!(snapshot(&out.join("etc")), snapshot(&fx.join("tree/etc")));
    assert_eq!(
        std::fs::read(out.join("link-rel")).expect("read"),
        b"hello world\n"
    );
    let m = std::fs::metadata(out.join("hello.txt")).expect("meta");
    assert_eq!((m.mtime(), m.mode() & 0o7777), (1_234_567_890, 0o644));
    assert_eq!(
        std::fs::metadata(out.join("home/user"))
            .expect("meta")
            .mode()
            & 0o7777,
        0o700
    );
    // A guest symlink pointing outside is copied as a link, never followed on the host.
    let escape = std::fs::read_link(out.join("etc/sub/deeper/escape")).expect("link");
    assert_eq!(escape, Path::new("../../../../../../../etc"));
}

#[test]
fn large_downloads_are_byte_exact() {
    // Above 16 MiB, download overlaps reads and writes: the bytes must not change.
    let tmp = tempfile::tempdir().expect("tmp");
    let tree = tmp.path().join("tree");
    std::fs::create_dir(&tree).expect("mkdir");
    let data: Vec<u8> = (0..(40u32 << 20) / 4)
        .flat_map(|i| i.wrapping_mul(2_654_435_761).to_le_bytes())
        .collect();
    std::fs::write(tree.join("big"), &data).expect("write");
    sh(&format!(
        "cd '{}' && truncate -s 64M big.img && mkfs.ext4 -q -F -d tree big.img",
        tmp.path().display()
    ));
    let mut cmd = rfish();
    cmd.current_dir(tmp.path())
        .args(["--ro", "-a", "big.img", "-m", "/dev/sda"]);
    let r = run_with_stdin(
        cmd,
        "download /big out.bin\ndownload-offset /big part.bin 12345 33554432\n",
    );
    assert_eq!(r.status, 0, "{}", r.stderr);
    let got = std::fs::read(tmp.path().join("out.bin")).expect("read");
    assert!(got == data, "download differs");
    let part = std::fs::read(tmp.path().join("part.bin")).expect("read");
    assert!(
        part == data[12345..12345 + (32 << 20)],
        "download-offset differs"
    );
}
