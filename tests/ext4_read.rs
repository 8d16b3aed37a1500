//! The native ext2/3/4 reader judged by oracles nobody here wrote: the source tree
//! mke2fs -d copied in (content, modes, owners, times, xattrs via getfattr, symlink
//! targets), the independent ext4-view crate, debugfs (htree listing, dx_hash, the
//! journal replayed by e2fsck), and guestfish's recorded outputs for the read commands.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use rfish::fs::FileType;
use rfish::fs::vfs::Vfs;

use common::{fixtures, guestfish_errors_as_rfish, record, record_script};

fn fx() -> PathBuf {
    fixtures("ext4-fixtures.sh")
}

fn open(img: &Path) -> Vfs {
    common::open_ext4(img)
}

fn rfish_bytes(dir: &Path, script: &str) -> (Vec<u8>, String, i32) {
    common::rfish_raw(dir, &["--ro"], script)
}

/// `ll /` shows the appliance's own `/` as `..` (and counts it in `total`): blank out that
/// block's `total` and `..` lines and the nlink column width they change.
fn mask_ll_root(out: &[u8]) -> String {
    let text = String::from_utf8_lossy(out);
    let mut masked = String::new();
    let mut in_ll_root = false;
    for line in text.split_inclusive('\n') {
        if line.starts_with("### ") {
            in_ll_root = line == "### ll /\n";
        } else if in_ll_root {
            if line.starts_with("total ") || line.ends_with(" ..\n") {
                masked.push_str("(masked)\n");
                continue;
            }
            let squeezed: Vec<&str> = line.split(' ').filter(|w| !w.is_empty()).collect();
            masked.push_str(&squeezed.join(" "));
            if !line.ends_with('\n') || !masked.ends_with('\n') {
                masked.push('\n');
            }
            continue;
        }
        masked.push_str(line);
    }
    masked
}

#[test]
fn read_commands_print_what_guestfish_printed() {
    let dir = fx();
    let script = record_script("ext4-read", "ext4.img");
    let (out, err, status) = rfish_bytes(&dir, &script);
    let (want_out, want_err) = record("ext4-read");
    assert_eq!(status, 0, "rfish failed: {err}");
    assert_eq!(err, guestfish_errors_as_rfish(&want_err));
    let (got, want) = (mask_ll_root(&out), mask_ll_root(&want_out));
    common::assert_same_output(&got, &want);
}

/// getfattr's view of a host file's xattrs: name → value.
fn host_xattrs(path: &Path) -> BTreeMap<String, Vec<u8>> {
    let out = Command::new("getfattr")
        .args(["-h", "-d", "-m", "-", "-e", "hex", "--absolute-names"])
        .arg(path)
        .output()
        .expect("getfattr");
    let mut map = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if let Some((k, v)) = line.split_once('=') {
            let hex = v.trim_start_matches("0x");
            let bytes = (0..hex.len() / 2)
                .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("hex"))
                .collect();
            map.insert(k.to_string(), bytes);
        } else if !line.starts_with('#') && !line.is_empty() {
            map.insert(line.to_string(), Vec::new());
        }
    }
    map
}

fn host_walk(root: &Path, rel: &str, out: &mut Vec<String>) {
    let mut names: Vec<_> = std::fs::read_dir(root.join(rel.trim_start_matches('/')))
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
        .collect();
    names.sort();
    for n in names {
        let p = format!("{rel}/{n}");
        out.push(p.clone());
        let meta = std::fs::symlink_metadata(root.join(p.trim_start_matches('/'))).expect("lstat");
        if meta.is_dir() {
            host_walk(root, &p, out);
        }
    }
}

fn check_against_tree(img: &str) {
    let dir = fx();
    let tree = dir.join("tree");
    let vfs = open(&dir.join(img));
    // ext4-view reads neither inline_data filesystems nor inodes with pre-1970 times
    // (mke2fs -d wrapped 2049 to 1913): those are compared with the tree only.
    let view = ext4_view::Ext4::load_from_path(dir.join(img)).ok();
    let mut view_checked = 0;
    let mut paths = Vec::new();
    host_walk(&tree, "", &mut paths);
    assert!(paths.len() > 300, "the tree is populated");
    for p in &paths {
        let host = tree.join(p.trim_start_matches('/'));
        let meta = std::fs::symlink_metadata(&host).expect("lstat");
        let node = vfs
            .resolve(p, false)
            .unwrap_or_else(|e| panic!("{img}: {p}: {e}"));
        let fs = vfs.fs(&node);
        let st = fs.stat(node.ino).expect("stat");
        assert_eq!(st.mode, meta.mode(), "{img}: {p}: mode");
        assert_eq!(
            (st.uid, st.gid),
            (meta.uid(), meta.gid()),
            "{img}: {p}: owner"
        );
        // mke2fs -d stores 32-bit seconds only (no epoch bits), so 2049 reads back as 1913
        // here, in guestfish and in the kernel alike.
        assert_eq!(
            st.mtime.sec,
            i64::from(meta.mtime() as i32),
            "{img}: {p}: mtime"
        );
        assert_eq!(st.nlink, meta.nlink(), "{img}: {p}: nlink");
        let view = view
            .as_ref()
            .filter(|v| v.symlink_metadata(p.as_str()).is_ok());
        if let Some(v) = view {
            let vmeta = v.symlink_metadata(p.as_str()).expect("ext4-view metadata");
            assert_eq!(
                u32::from(vmeta.mode()),
                st.mode & 0o7777,
                "{img}: {p}: ext4-view mode"
            );
            assert_eq!(
                (vmeta.uid(), vmeta.gid()),
                (st.uid, st.gid),
                "{img}: {p}: ext4-view owner"
            );
            view_checked += 1;
        }
        match st.file_type() {
            FileType::Regular => {
                let want = std::fs::read(&host).expect("read host file");
                assert_eq!(st.size, want.len() as u64, "{img}: {p}: size");
                let mut got = vec![0u8; want.len()];
                let n = fs.read(node.ino, 0, &mut got).expect("read");
                assert_eq!(n, want.len(), "{img}: {p}: bytes read");
                assert!(got == want, "{img}: {p}: content differs");
                if let Some(v) = view {
                    match v.read(p.as_str()) {
                        Ok(data) => assert!(data == got, "{img}: {p}: ext4-view content"),
                        // ext4-view 1.0 reads a hole of an ext2/3 block map as block 0.
                        Err(e) => assert!(
                            p == "/sparse.bin" && !img.starts_with("ext4"),
                            "{img}: {p}: ext4-view: {e}"
                        ),
                    }
                }
            }
            FileType::Symlink => {
                let want = std::fs::read_link(&host).expect("readlink");
                let got = fs.read_link(node.ino).expect("read_link");
                assert_eq!(
                    got,
                    want.as_os_str().as_encoded_bytes(),
                    "{img}: {p}: target"
                );
                if let Some(v) = view {
                    let t = v.read_link(p.as_str()).expect("ext4-view read_link");
                    assert_eq!(t.as_ref(), got.as_slice(), "{img}: {p}: ext4-view target");
                }
            }
            FileType::CharDevice | FileType::BlockDevice => {
                let rdev = meta.rdev();
                let major = ((rdev >> 8) & 0xfff) | ((rdev >> 32) & !0xfff);
                let minor = (rdev & 0xff) | ((rdev >> 12) & !0xff);
                assert_eq!(st.rdev, (major as u32, minor as u32), "{img}: {p}: rdev");
            }
            _ => {}
        }
        let want_x = host_xattrs(&host);
        let got_x: BTreeMap<String, Vec<u8>> = fs
            .xattrs(node.ino)
            .expect("xattrs")
            .into_iter()
            .map(|(k, v)| (String::from_utf8(k).expect("utf-8 name"), v))
            .collect();
        assert_eq!(got_x, want_x, "{img}: {p}: xattrs");
    }
    if !img.starts_with("inline") {
        assert!(
            view_checked > 300,
            "{img}: ext4-view checked only {view_checked} files"
        );
    }
}

#[test]
fn ext4_files_equal_the_source_tree_and_ext4_view() {
    check_against_tree("ext4.img");
}

#[test]
fn ext4_4k_64bit_files_equal_the_source_tree() {
    check_against_tree("ext4-4k.img");
}

#[test]
fn ext3_files_equal_the_source_tree() {
    check_against_tree("ext3.img");
}

#[test]
fn ext2_files_equal_the_source_tree() {
    check_against_tree("ext2.img");
}

#[test]
fn inline_data_files_equal_the_source_tree() {
    check_against_tree("inline.img");
}

#[test]
fn htree_lookups_find_every_name_debugfs_lists() {
    let dir = fx();
    let img = dir.join("bigdir.img");
    let out = Command::new("debugfs")
        .args(["-R", "ls -p /many"])
        .arg(&img)
        .output()
        .expect("debugfs");
    let mut want: Vec<(String, u64)> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('/').collect();
            (f.len() >= 7 && f[1] != "0" && !f[5].is_empty() && f[5] != "." && f[5] != "..")
                .then(|| (f[5].to_string(), f[1].parse().expect("ino")))
        })
        .collect();
    want.sort();
    assert!(want.len() >= 5000, "debugfs listed {} names", want.len());
    // Lookups through the hash index (a fresh filesystem: no listing is cached).
    let vfs = open(&img);
    let many = vfs.resolve("/many", true).expect("/many");
    let fs = vfs.fs(&many);
    for (name, ino) in &want {
        assert_eq!(
            fs.lookup(many.ino, name.as_bytes()).expect("lookup"),
            Some(*ino),
            "lookup {name}"
        );
    }
    assert_eq!(fs.lookup(many.ino, b"entry-nope").expect("lookup"), None);
    let mut listed: Vec<(String, u64)> = fs
        .read_dir(many.ino)
        .expect("read_dir")
        .into_iter()
        .map(|e| (String::from_utf8(e.name).expect("utf-8"), e.ino))
        .collect();
    listed.sort();
    assert_eq!(listed, want);
}

#[test]
fn directory_hashes_equal_debugfs_dx_hash() {
    use rfish::fs::ext4::dirhash::{HashVersion, dx_hash};
    let dir = fx();
    let seed_text = "0f1e2d3c-4b5a-4968-8776-655443322110";
    let hex: String = seed_text.chars().filter(|c| *c != '-').collect();
    let bytes: Vec<u8> = (0..16)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("hex"))
        .collect();
    let seed: [u32; 4] = std::array::from_fn(|i| {
        u32::from_le_bytes([
            bytes[4 * i],
            bytes[4 * i + 1],
            bytes[4 * i + 2],
            bytes[4 * i + 3],
        ])
    });
    let names = [
        "a",
        "hello.txt",
        "entry-000001-007919",
        "caf\u{e9}-\u{fc}ml\u{e4}ut",
        &"x".repeat(70),
    ];
    // debugfs takes the version number: 0-2 signed, 3-5 unsigned.
    for (alg_name, v) in [
        ("1", HashVersion::HalfMd4 { unsigned: false }),
        ("2", HashVersion::Tea { unsigned: false }),
        ("0", HashVersion::Legacy { unsigned: false }),
        ("4", HashVersion::HalfMd4 { unsigned: true }),
        ("5", HashVersion::Tea { unsigned: true }),
        ("3", HashVersion::Legacy { unsigned: true }),
    ] {
        for name in names {
            let out = Command::new("debugfs")
                .args([
                    "-R",
                    &format!("dx_hash -h {alg_name} -s {seed_text} {name}"),
                ])
                .arg(dir.join("ext4.img"))
                .output()
                .expect("debugfs");
            let text = String::from_utf8_lossy(&out.stdout);
            let want = text
                .split("Hash of ")
                .nth(1)
                .and_then(|t| t.split(" is 0x").nth(1))
                .and_then(|t| t.split_whitespace().next())
                .map(|h| u32::from_str_radix(h, 16).expect("hex hash"))
                .unwrap_or_else(|| panic!("debugfs dx_hash output: {text}"));
            assert_eq!(dx_hash(name.as_bytes(), v, seed), want, "{alg_name} {name}");
        }
    }
}

/// rfish's in-memory replay must give the files e2fsck's replay gives, and leave the image
/// untouched.
fn replayed_like_e2fsck(img: &str, files: &[&str]) -> Vec<Vec<u8>> {
    let dir = fx();
    let path = dir.join(img);
    let before = std::fs::read(&path).expect("read image");
    let tmp = tempfile::tempdir().expect("tempdir");
    let copy = tmp.path().join("replayed.img");
    std::fs::copy(&path, &copy).expect("copy");
    let _ = Command::new("e2fsck")
        .args(["-fy"])
        .arg(&copy)
        .output()
        .expect("e2fsck");
    let mut script = format!("add {img} readonly:true format:raw\nrun\nmount-ro /dev/sda /\n");
    let mut wants = Vec::new();
    for f in files {
        script.push_str(&format!("download {f} -\n"));
        let want = Command::new("debugfs")
            .args(["-R", &format!("cat {f}")])
            .arg(&copy)
            .output()
            .expect("debugfs")
            .stdout;
        wants.push(want);
    }
    let (out, err, status) = rfish_bytes(&dir, &script);
    assert_eq!(status, 0, "{err}");
    assert_eq!(out, wants.concat(), "{img}");
    assert_eq!(
        std::fs::read(&path).expect("read image"),
        before,
        "the image is untouched"
    );
    wants
}

#[test]
fn a_journal_needing_recovery_is_replayed_in_memory_like_e2fsck() {
    let wants = replayed_like_e2fsck("dirty.img", &["/hello.txt"]);
    assert_eq!(
        wants[0], b"replayed fro",
        "the fixture's journal rewrites /hello.txt (12 bytes long)"
    );
}

#[test]
fn revoked_blocks_are_not_replayed() {
    let wants = replayed_like_e2fsck("revoke.img", &["/etc/sub/words", "/nonl.txt"]);
    assert_eq!(
        wants[0], b"alpha\nbeta\ngamma\nAlpha beta\n",
        "the revoked block stays old"
    );
    assert_eq!(wants[1], b"kept!!!!\n\0", "the other block is replayed");
}

#[test]
fn bigalloc_files_equal_the_source_tree() {
    check_against_tree("bigalloc.img");
}

#[test]
fn encrypted_files_say_the_key_is_missing() {
    // Mark a file and a directory encrypted (debugfs keeps the checksums right).
    let t = patched("ext4.img", |img| {
        debugfs_w(img, "sif /hello.txt flags 0x80800");
        debugfs_w(img, "sif /etc flags 0x80800");
    });
    expect_error(t.path(), "cat /hello.txt", "Required key not available");
    expect_error(t.path(), "ls /etc", "Required key not available");
}

/// Patch bytes of a copy of `img` and return the copy's directory.
fn patched(img: &str, patch: impl FnOnce(&Path)) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::copy(fx().join(img), tmp.path().join("bad.img")).expect("copy");
    patch(&tmp.path().join("bad.img"));
    tmp
}

fn debugfs_w(img: &Path, cmd: &str) {
    let out = Command::new("debugfs")
        .args(["-w", "-R", cmd])
        .arg(img)
        .output()
        .expect("debugfs");
    assert!(out.status.success());
}

fn inode_of(img: &Path, path: &str) -> u64 {
    let out = Command::new("debugfs")
        .args(["-R", &format!("stat {path}")])
        .arg(img)
        .output()
        .expect("debugfs");
    let text = String::from_utf8_lossy(&out.stdout);
    text.split("Inode: ")
        .nth(1)
        .and_then(|t| t.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("inode number")
}

fn expect_error(dir: &Path, cmd: &str, needle: &str) {
    let (_, err, status) = rfish_bytes(
        dir,
        &format!("add bad.img readonly:true format:raw\nrun\nmount-ro /dev/sda /\n{cmd}\n"),
    );
    assert_eq!(status, 1, "{cmd}: {err}");
    assert!(err.contains(needle), "{cmd}: {err:?} lacks {needle:?}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn hostile_images_give_clear_errors() {
    // A directory entry with rec_len 0 (ext2: no checksums to trip first).
    let t = patched("ext2.img", |img| {
        let out = Command::new("debugfs")
            .args(["-R", "blocks /etc"])
            .arg(img)
            .output()
            .expect("debugfs");
        let blk: u64 = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .next()
            .expect("block")
            .parse()
            .expect("number");
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(img)
            .expect("open");
        use std::io::{Seek, SeekFrom};
        // ext2.img has 1 KiB blocks; the first entry's rec_len is at byte 4.
        f.seek(SeekFrom::Start(blk * 1024 + 4)).expect("seek");
        f.write_all(&[0, 0]).expect("write");
    });
    expect_error(t.path(), "ls /etc", "rec_len 0");
    // An extent pointing past the end of the filesystem (debugfs keeps checksums right).
    let t = patched("ext4.img", |img| {
        debugfs_w(img, "sif /random.bin block[5] 0x7fffffff");
    });
    expect_error(t.path(), "cat /random.bin", "outside the filesystem");
    // A damaged inode (its checksum no longer matches).
    let t = patched("ext4.img", |img| {
        let ino = inode_of(img, "/hello.txt");
        let out = Command::new("debugfs")
            .args(["-R", &format!("imap <{ino}>")])
            .arg(img)
            .output()
            .expect("debugfs");
        let text = String::from_utf8_lossy(&out.stdout);
        let blk: u64 = text
            .split("located at block ")
            .nth(1)
            .and_then(|t| t.split(',').next())
            .and_then(|n| n.parse().ok())
            .expect("block");
        let off: u64 = text
            .split("offset 0x")
            .nth(1)
            .and_then(|t| t.split_whitespace().next())
            .and_then(|n| u64::from_str_radix(n, 16).ok())
            .expect("offset");
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(img)
            .expect("open");
        use std::io::{Seek, SeekFrom};
        f.seek(SeekFrom::Start(blk * 1024 + off + 4)).expect("seek");
        f.write_all(&[0x55]).expect("write");
    });
    expect_error(t.path(), "cat /hello.txt", "does not match");
    // Symlink loops and escapes stay inside the guest.
    let dir = fx();
    let (out, err, _) = rfish_bytes(
        &dir,
        "add ext4.img readonly:true format:raw\nrun\nmount-ro /dev/sda /\nrealpath /etc/sub/deeper/escape/../..\n-cat /loop-a\n",
    );
    assert_eq!(String::from_utf8_lossy(&out), "/\n");
    assert!(err.contains("Too many levels of symbolic links"), "{err}");
}

/// The numeric columns of a df line (size, used, available, use%).
fn df_numbers(line: &str) -> Vec<String> {
    line.split_whitespace()
        .skip(1)
        .take(4)
        .map(str::to_string)
        .collect()
}

#[test]
fn df_and_statvfs_agree_with_the_kernel() {
    // Oracle: the kernel's statfs of the same image mounted read-only through a loop
    // device, as GNU df prints it. Needs root; skipped elsewhere.
    let dir = fx();
    for (i, img) in ["ext4.img", "ext4-4k.img", "ext3.img", "ext2.img"]
        .iter()
        .enumerate()
    {
        let mnt = tempfile::tempdir().expect("mnt");
        // noload: never replay a journal (ext2 has none, and its driver refuses the option).
        let opts = if *img == "ext2.img" {
            "loop,ro"
        } else {
            "loop,ro,noload"
        };
        let mounted = Command::new("mount")
            .args(["-o", opts])
            .arg(dir.join(img))
            .arg(mnt.path())
            .output()
            .is_ok_and(|o| o.status.success());
        if !mounted {
            assert_eq!(i, 0, "{img} did not mount although the others did");
            eprintln!("cannot loop-mount {img} (not root?): skipped");
            return;
        }
        let host = |flag: &str| {
            let out = Command::new("df")
                .arg(flag)
                .arg(mnt.path())
                .output()
                .expect("df");
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .nth(1)
                .unwrap_or("")
                .to_string()
        };
        let (k, h) = (host("-k"), host("-h"));
        let _ = Command::new("umount").arg(mnt.path()).status();
        let (out, err, status) = rfish_bytes(
            &dir,
            &format!("add {img} readonly:true format:raw\nrun\nmount-ro /dev/sda /\ndf\ndf-h\n"),
        );
        assert_eq!(status, 0, "{err}");
        let text = String::from_utf8_lossy(&out);
        let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("/dev/sda")).collect();
        assert_eq!(df_numbers(lines[0]), df_numbers(&k), "{img}: df");
        assert_eq!(df_numbers(lines[1]), df_numbers(&h), "{img}: df -h");
    }
}

#[test]
fn checksum_device_equals_the_host_tools() {
    let dir = fx();
    for (kind, tool) in [("md5", "md5sum"), ("sha256", "sha256sum"), ("crc", "cksum")] {
        let want = Command::new(tool)
            .arg(dir.join("ext2.img"))
            .output()
            .expect(tool)
            .stdout;
        let want = String::from_utf8_lossy(&want)
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_string();
        let (out, err, status) = rfish_bytes(
            &dir,
            &format!(
                "add ext2.img readonly:true format:raw\nrun\nchecksum-device {kind} /dev/sda\n"
            ),
        );
        assert_eq!(status, 0, "{err}");
        assert_eq!(String::from_utf8_lossy(&out).trim(), want, "{kind}");
    }
}

/// Loop-mount `img` read-only (no journal replay) on a fresh directory; `None` when this
/// machine cannot (not root).
fn kernel_mount(img: &Path) -> Option<tempfile::TempDir> {
    let mnt = tempfile::tempdir().expect("mnt");
    let ext2 = img.ends_with("ext2.img");
    let opts = if ext2 { "loop,ro" } else { "loop,ro,noload" };
    let mounted = Command::new("mount")
        .args(["-o", opts])
        .arg(img)
        .arg(mnt.path())
        .output()
        .is_ok_and(|o| o.status.success());
    mounted.then_some(mnt)
}

#[test]
fn readdir_order_and_inodes_are_the_kernels() {
    // Oracle: the kernel's readdir of the same image (`ls -fai`: unsorted, `.` and `..`
    // included, d_ino). Linux hashes `.` and `..` like other names in one-block and
    // inline directories, and lists them first in indexed ones.
    let dir = fx();
    let images = [
        "ext4.img",
        "ext4-4k.img",
        "ext3.img",
        "ext2.img",
        "inline.img",
        "bigalloc.img",
        "bigdir.img",
    ];
    for (i, img) in images.iter().enumerate() {
        let Some(mnt) = kernel_mount(&dir.join(img)) else {
            assert_eq!(i, 0, "{img} did not mount although the others did");
            eprintln!("cannot loop-mount {img} (not root?): skipped");
            return;
        };
        let find = Command::new("find")
            .arg(mnt.path())
            .args(["-type", "d"])
            .output()
            .expect("find");
        let root = mnt.path().to_string_lossy().into_owned();
        let mut dirs: Vec<String> = String::from_utf8_lossy(&find.stdout)
            .lines()
            .map(|l| {
                let rel = &l[root.len()..];
                if rel.is_empty() {
                    "/".into()
                } else {
                    rel.to_string()
                }
            })
            .collect();
        dirs.sort();
        let mut want = String::new();
        for d in &dirs {
            let ls = Command::new("ls")
                .arg("-fai")
                .arg(format!("{root}{d}"))
                .output()
                .expect("ls");
            want.push_str(&format!("### {d}\n"));
            for line in String::from_utf8_lossy(&ls.stdout).lines() {
                let (ino, name) = line.trim_start().split_once(' ').expect("ino name");
                // ls stats `..` of a mount's root: the host's directory, not d_ino.
                let ino = if d == "/" && name == ".." { "2" } else { ino };
                want.push_str(&format!("{ino} {name}\n"));
            }
        }
        let _ = Command::new("umount").arg(mnt.path()).status();
        let mut script = format!("add {img} readonly:true format:raw\nrun\nmount-ro /dev/sda /\n");
        for d in &dirs {
            let quoted = d.replace('\\', "\\\\").replace('"', "\\\"");
            script.push_str(&format!("echo \"### {quoted}\"\nreaddir \"{quoted}\"\n"));
        }
        let (out, err, status) = rfish_bytes(&dir, &script);
        assert_eq!(status, 0, "{img}: {err}");
        let mut got = String::new();
        let mut ino = String::new();
        for line in String::from_utf8_lossy(&out).lines() {
            if line.starts_with("### ") {
                got.push_str(line);
                got.push('\n');
            } else if let Some(v) = line.strip_prefix("  ino: ") {
                ino = v.to_string();
            } else if let Some(v) = line.strip_prefix("  name: ") {
                got.push_str(&format!("{ino} {v}\n"));
            }
        }
        common::assert_same_output(&got, &want);
        eprintln!("{img}: {} directories in the kernel's order", dirs.len());
    }
}

#[test]
fn casefolded_names_hash_as_e2fsprogs_hashes_them() {
    // Oracle: `debugfs dx_hash -c -e utf8` (e2fsprogs' copy of the kernel's utf8 nfdicf
    // tables). A name's casefolded hash decides where it lives in a casefolded htree
    // directory and where readdir returns it; equal folds give equal hashes.
    use rfish::fs::ext4::casefold::hash_input;
    use rfish::fs::ext4::dirhash::{HashVersion, dx_hash_pair};
    let dir = fx();
    let seed_text = "0f1e2d3c-4b5a-4968-8776-655443322110";
    let hex: String = seed_text.chars().filter(|c| *c != '-').collect();
    let seed: [u32; 4] = std::array::from_fn(|i| {
        u32::from_str_radix(&hex[8 * i..8 * i + 8], 16)
            .expect("hex")
            .swap_bytes()
    });
    let mut names: Vec<String> = [
        "Hello",
        "HELLO",
        "Straße",
        "STRASSE",
        "ẞig",
        "ﬁle",
        "ﬃx",
        "Café",
        "Cafe\u{301}",
        "A\u{301}\u{323}",
        "İstanbul",
        "ΣΊΣΥΦΟΣ",
        "σίσυφος",
        "Ǆemal",
        "\u{212A}elvin",
        "\u{212B}ngström",
        "ＦＵＬＬ",
        "한글",
        "ᏣᎳᎩ",
        "𐐀𐐨",
        "եւ",
        "և",
        "Hello\u{1FAE0}",
        "X\u{50000}",
        "Ⱟ",
        "e\u{50000}\u{301}",
        "a\u{301}\u{323}",
        "ΐ",
        "ῼ",
        "ǅ",
        "ﬅ",
        "각",
        "\u{1100}\u{1161}\u{11A8}",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // Every assigned letter of the scripts with case (Latin, Greek, Cyrillic, Armenian,
    // Georgian, Cherokee, Latin/Greek extended, letterlike symbols, fullwidth, Deseret).
    for range in [
        0xc0..0x250u32,
        0x370..0x530,
        0x531..0x590,
        0x10a0..0x1100,
        0x13a0..0x13fe,
        0x1e00..0x2000,
        0x2100..0x2150,
        0x2160..0x2190,
        0x24b6..0x24ea,
        0x2c00..0x2c60,
        0xa640..0xa6a0,
        0xab70..0xabc0,
        0xfb00..0xfb18,
        0xff21..0xff5b,
        0x10400..0x10450,
    ] {
        for cp in range {
            if let Some(c) = char::from_u32(cp) {
                if c.is_alphabetic() && !c.is_whitespace() {
                    names.push(format!("n{c}"));
                }
            }
        }
    }
    let hashes = debugfs_casefold_hashes(&dir.join("ext4.img"), &names);
    assert_eq!(hashes.len(), names.len(), "debugfs answered every name");
    let v = HashVersion::HalfMd4 { unsigned: false };
    let mut differ = Vec::new();
    for (name, want) in names.iter().zip(&hashes) {
        let got = dx_hash_pair(&hash_input(name.as_bytes()), v, seed);
        if got != *want {
            differ.push(name.clone());
        }
    }
    eprintln!("{} names, {} differ: {differ:?}", names.len(), differ.len());
    assert!(differ.is_empty(), "casefolded hashes differ for {differ:?}");
}

#[test]
fn the_unicode_12_1_table_is_perls() {
    // Oracle: Perl's Unicode Character Database (\p{In=12.1}).
    let out = Command::new("perl")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/unicode-12.1-ranges.pl"))
        .output()
        .expect("perl");
    assert!(out.status.success());
    let want: Vec<(u32, u32)> = String::from_utf8_lossy(&out.stdout)
        .split("),")
        .filter_map(|cell| {
            let (a, b) = cell.trim().trim_start_matches('(').split_once(", ")?;
            let hex = |t: &str| u32::from_str_radix(t.trim_start_matches("0x"), 16).expect("hex");
            Some((hex(a), hex(b)))
        })
        .collect();
    assert!(want.len() > 600);
    assert_eq!(rfish::fs::ext4::unicode_12_1::ASSIGNED, want.as_slice());
}

/// debugfs's casefolded (hash, minor hash) of each name, for the fixtures' hash seed.
fn debugfs_casefold_hashes(img: &Path, names: &[String]) -> Vec<(u32, u32)> {
    let seed = "0f1e2d3c-4b5a-4968-8776-655443322110";
    let tmp = tempfile::tempdir().expect("tmp");
    let cmds = tmp.path().join("cmds");
    let script: String = names
        .iter()
        .map(|n| format!("dx_hash -c -e utf8 -h half_md4 -s {seed} {n}\n"))
        .collect();
    std::fs::write(&cmds, script).expect("write cmds");
    let out = Command::new("debugfs")
        .arg("-f")
        .arg(&cmds)
        .arg(img)
        .output()
        .expect("debugfs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with("Hash of "))
        .map(|l| {
            let hex = |key: &str| {
                let at = l.rfind(key).expect("key") + key.len();
                let h: String = l[at..]
                    .chars()
                    .take_while(char::is_ascii_hexdigit)
                    .collect();
                u32::from_str_radix(&h, 16).expect("hex")
            };
            (hex(" is 0x"), hex("(minor 0x"))
        })
        .collect()
}

#[test]
fn casefolded_directories_list_and_look_up_like_linux() {
    let dir = fx();
    let script = "add casefold.img readonly:true format:raw\nrun\nmount-ro /dev/sda /\n\
        echo \"### /cf\"\nreaddir /cf\necho \"### /cfbig\"\nreaddir /cfbig\necho \"### end\"\n\
        cat /cf/STRASSE\ncat /cf/strasse\ncat /cf/Straße\ncat /cf/CAFÉ\ncat /cf/cafe\u{301}\n\
        cat /cf/σίσυφος\ncat /cf/FILE\ncat /cfbig/ENTRY-7-ärger\nis-dir /cf/SUB\n\
        is-file /cf/nothere\nis-file /cf/strase\n";
    let (out, err, status) = rfish_bytes(&dir, script);
    assert_eq!(status, 0, "{err}");
    let text = String::from_utf8_lossy(&out);
    let (listings, lookups) = text.split_once("### end\n").expect("marker");
    assert_eq!(
        lookups,
        // cat prints a string result with a newline of its own, as guestfish does.
        "strasse\n\nstrasse\n\nstrasse\n\ncafe\n\ncafe\n\nhello\n\nhello\n\nhello\n\ntrue\nfalse\nfalse\n"
    );
    // Readdir order: the one-block /cf hashes every name (`.` and `..` too) casefolded;
    // the indexed /cfbig lists `.` and `..` first, then by casefolded hash.
    let mut sections = listings.split("### ").filter(|s| !s.is_empty());
    for (path, indexed) in [("/cf", false), ("/cfbig", true)] {
        let section = sections.next().expect("section");
        assert!(section.starts_with(path));
        let names: Vec<String> = section
            .lines()
            .filter_map(|l| l.strip_prefix("  name: "))
            .map(str::to_string)
            .collect();
        let hashes = debugfs_casefold_hashes(&dir.join("casefold.img"), &names);
        assert_eq!(hashes.len(), names.len());
        let mut want: Vec<(usize, (u32, u32), String)> = names
            .iter()
            .zip(&hashes)
            .map(|(n, h)| {
                let rank = match (indexed, n.as_str()) {
                    (true, ".") => 0,
                    (true, "..") => 1,
                    (true, _) => 2,
                    (false, _) => 0,
                };
                (rank, *h, n.clone())
            })
            .collect();
        want.sort();
        let want: Vec<String> = want.into_iter().map(|(_, _, n)| n).collect();
        assert_eq!(names, want, "{path}");
        assert!(names.len() >= if indexed { 402 } else { 8 });
    }
}
