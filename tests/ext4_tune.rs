//! Attribute, label/UUID, preallocation, free-space and editor commands, judged by tools
//! nobody here wrote: lsattr/chattr through the kernel, debugfs, dumpe2fs, blkid,
//! e2fsck and qemu-img.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn tool(cmd: &mut Command) -> String {
    String::from_utf8_lossy(&common::run_tool(cmd).stdout).into_owned()
}

fn mkfs(dir: &Path, name: &str, opts: &[&str]) -> PathBuf {
    let img = dir.join(name);
    std::fs::File::create(&img)
        .expect("create")
        .set_len(64 << 20)
        .expect("size");
    tool(
        Command::new("mke2fs")
            .args(["-q", "-F"])
            .args(opts)
            .arg(&img),
    );
    img
}

fn fsck_clean(img: &Path) {
    common::assert_fsck_clean(img);
}

/// What `debugfs -R REQUEST` prints for `img`.
fn debugfs(img: &Path, request: &str) -> String {
    tool(Command::new("debugfs").args(["-R", request]).arg(img))
}

fn rfish(dir: &Path, img: &str, script: &str) -> (String, String) {
    let (out, err, status) =
        common::rfish_raw(dir, &["-a", img, "--format=raw"], &format!("run\n{script}"));
    assert_eq!(status, 0, "{script}: {err}");
    (String::from_utf8_lossy(&out).into_owned(), err)
}

/// Unmounts when dropped (also when an assertion fails while mounted).
struct Mounted(tempfile::TempDir);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}

/// Run `f` with `img` loop-mounted by the kernel (read-write); `None` when loop mounts
/// are not available here.
fn with_kernel<T>(img: &Path, f: impl FnOnce(&Path) -> T) -> Option<T> {
    let mnt = tempfile::tempdir().expect("mnt");
    let ok = Command::new("mount")
        .args(["-o", "loop"])
        .arg(img)
        .arg(mnt.path())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("loop mounts unavailable: kernel half skipped");
        return None;
    }
    let guard = Mounted(mnt);
    let r = f(guard.0.path());
    drop(guard);
    Some(r)
}

#[test]
fn e2attrs_agree_with_lsattr_and_chattr() {
    let tmp = tempfile::tempdir().expect("tmp");
    for opts in [&["-t", "ext4"][..], &["-t", "ext3"][..]] {
        let img = mkfs(tmp.path(), "a.img", opts);
        // rfish sets some flags; the kernel's lsattr must show exactly those.
        rfish(
            tmp.path(),
            "a.img",
            "mount /dev/sda /\nwrite /f x\nmkdir /d\nwrite /g y\nset-e2attrs /f aAdS\nset-e2attrs /d DT\n-set-e2generation /g 3000000000\n",
        );
        fsck_clean(&img);
        let Some(kernel) = with_kernel(&img, |m| {
            let flags = |p: &str| {
                let out = tool(Command::new("lsattr").arg("-d").arg(m.join(p)));
                let mut v: Vec<char> = out
                    .split(' ')
                    .next()
                    .unwrap_or("")
                    .chars()
                    .filter(|&c| c != '-')
                    .collect();
                v.sort_unstable();
                v.into_iter().collect::<String>()
            };
            let got = (flags("f"), flags("d"));
            let generation = tool(Command::new("lsattr").arg("-dv").arg(m.join("g")));
            // The kernel sets flags the other way round for rfish to read.
            tool(Command::new("chattr").arg("+dA").arg(m.join("g")));
            (
                got,
                generation
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .to_string(),
            )
        }) else {
            return;
        };
        let ((f, d), generation) = kernel;
        // With metadata_csum the kernel refuses to change generations, and so does rfish.
        let ext4 = opts.contains(&"ext4");
        assert_eq!(generation == "3000000000", !ext4, "{opts:?}: {generation}");
        let (out, _) = rfish(
            tmp.path(),
            "a.img",
            "mount /dev/sda /\nget-e2attrs /f\nget-e2attrs /d\nget-e2attrs /g\n",
        );
        let e = if opts.contains(&"ext4") { "e" } else { "" };
        let g_flags = {
            let mut v: Vec<char> = format!("Ad{e}").chars().collect();
            v.sort_unstable();
            v.into_iter().collect::<String>()
        };
        assert_eq!(out, format!("{f}\n{d}\n{g_flags}\n"), "{opts:?}");
        assert!(
            f.contains('a') && f.contains('S') && d.contains('T'),
            "{f} {d}"
        );
        fsck_clean(&img);
    }
}

#[test]
fn labels_and_uuids_change_with_every_checksum_kept() {
    let tmp = tempfile::tempdir().expect("tmp");
    let uuid = "01234567-89ab-cdef-0123-456789abcdef";
    for opts in [
        &["-t", "ext4"][..],
        &["-t", "ext4", "-O", "^metadata_csum,uninit_bg"][..],
        &["-t", "ext2"][..],
    ] {
        let img = mkfs(tmp.path(), "u.img", opts);
        let (out, _) = rfish(
            tmp.path(),
            "u.img",
            &format!(
                "set-label /dev/sda fresh-label\nset-uuid /dev/sda {uuid}\nvfs-uuid /dev/sda\nvfs-label /dev/sda\n"
            ),
        );
        assert_eq!(out, format!("{uuid}\nfresh-label\n"));
        fsck_clean(&img);
        let blkid = tool(Command::new("blkid").args(["-p", "-o", "export"]).arg(&img));
        assert!(blkid.contains(&format!("UUID={uuid}")), "{blkid}");
        assert!(blkid.contains("LABEL=fresh-label"), "{blkid}");
        // Every backup superblock agrees (dumpe2fs -o superblock=N reads a backup).
        let backup = tool(
            Command::new("dumpe2fs")
                .args(["-h", "-o", "superblock=8193", "-o", "blocksize=1024"])
                .arg(&img),
        );
        assert!(backup.contains(uuid), "{opts:?}: {backup}");
        assert!(backup.contains("fresh-label"), "{opts:?}: {backup}");
        if with_kernel(&img, |m| std::fs::write(m.join("k"), b"kernel")).is_some() {
            fsck_clean(&img);
        }
    }
}

#[test]
fn preallocation_fill_and_free_space_zeroing() {
    let tmp = tempfile::tempdir().expect("tmp");
    // A qcow2 image: zero-free-space must give clusters back.
    let raw = mkfs(tmp.path(), "z.raw", &["-t", "ext4", "-b", "4096"]);
    let qcow = tmp.path().join("z.qcow2");
    tool(
        Command::new("qemu-img")
            .args(["convert", "-O", "qcow2"])
            .arg(&raw)
            .arg(&qcow),
    );
    let noise: Vec<u8> = (0..(8u32 << 20))
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    std::fs::write(tmp.path().join("noise"), &noise).expect("noise");
    let script = "mount /dev/sda /\nfallocate64 /pre 3M\nfill 7 100000 /filled\nupload noise /noise\nrm /noise\n";
    let (_, err, status) =
        common::rfish_raw(tmp.path(), &["-a", "z.qcow2"], &format!("run\n{script}"));
    assert_eq!(status, 0, "{err}");
    let used = |img: &Path| -> u64 {
        let map = tool(
            Command::new("qemu-img")
                .args(["map", "--output=json"])
                .arg(img),
        );
        map.split('{')
            .filter(|e| e.contains("\"data\": true") && !e.contains("\"zero\": true"))
            .map(|e| {
                let l = e.split("\"length\": ").nth(1).unwrap_or("0");
                l.split(|c: char| !c.is_ascii_digit())
                    .next()
                    .unwrap_or("0")
                    .parse::<u64>()
                    .unwrap_or(0)
            })
            .sum()
    };
    let before = used(&qcow);
    let (_, err, status) = common::rfish_raw(
        tmp.path(),
        &["-a", "z.qcow2"],
        "run\nmount /dev/sda /\nzero-free-space /\n",
    );
    assert_eq!(status, 0, "{err}");
    let after = used(&qcow);
    assert!(
        after + (7 << 20) < before,
        "zero-free-space released too little: {before} -> {after} bytes of data"
    );
    tool(Command::new("qemu-img").args(["check"]).arg(&qcow));
    tool(
        Command::new("qemu-img")
            .args(["convert", "-O", "raw"])
            .arg(&qcow)
            .arg(&raw),
    );
    fsck_clean(&raw);
    // The preallocated file is one unwritten extent of 3 MiB reading as zeros.
    let stat = tool(Command::new("debugfs").args(["-R", "stat /pre"]).arg(&raw));
    assert!(stat.contains("Size: 3145728"), "{stat}");
    assert!(stat.contains("[u]"), "{stat}");
    let dump = tool(
        Command::new("debugfs")
            .args(["-R", "cat /filled"])
            .arg(&raw),
    );
    assert_eq!(dump.len(), 100000);
    assert!(dump.bytes().all(|b| b == 7));
    // ext2: preallocated blocks are written as zeros.
    let ext2 = mkfs(tmp.path(), "p.img", &["-t", "ext2"]);
    let (out, _) = rfish(
        tmp.path(),
        "p.img",
        "mount /dev/sda /\nfallocate64 /pre 300000\nchecksum md5 /pre\n",
    );
    let zeros_md5 = {
        use md5::Digest;
        md5::Md5::digest(vec![0u8; 300000])
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    assert_eq!(out, format!("{zeros_md5}\n"));
    fsck_clean(&ext2);
}

#[test]
fn edit_replaces_the_file_and_keeps_its_attributes() {
    let tmp = tempfile::tempdir().expect("tmp");
    let img = mkfs(tmp.path(), "e.img", &["-t", "ext4"]);
    let editor = tmp.path().join("ed.sh");
    std::fs::write(
        &editor,
        "#!/bin/sh\nsed -i 's/PermitRootLogin yes/PermitRootLogin no/' \"$1\"\n",
    )
    .expect("editor");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&editor, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let (_, err, status) = common::rfish_raw(
        tmp.path(),
        &["-a", "e.img", "--format=raw"],
        &format!(
            "run\nmount /dev/sda /\nmkdir /etc\nwrite /etc/sshd_config \"Port 22\\nPermitRootLogin yes\\n\"\n\
             chmod 0600 /etc/sshd_config\nchown 0 4 /etc/sshd_config\n\
             setxattr security.selinux system_u:object_r:etc_t:s0 26 /etc/sshd_config\n\
             ln-s sshd_config /etc/link\nsetenv EDITOR {}\nedit /etc/link\n",
            editor.display()
        ),
    );
    assert_eq!(status, 0, "{err}");
    fsck_clean(&img);
    let cat = tool(
        Command::new("debugfs")
            .args(["-R", "cat /etc/sshd_config"])
            .arg(&img),
    );
    assert_eq!(cat, "Port 22\nPermitRootLogin no\n");
    let stat = tool(
        Command::new("debugfs")
            .args(["-R", "stat /etc/sshd_config"])
            .arg(&img),
    );
    assert!(stat.contains("Mode:  0600"), "{stat}");
    assert!(stat.contains("Group:     4"), "{stat}");
    let ea = tool(
        Command::new("debugfs")
            .args(["-R", "ea_list /etc/sshd_config"])
            .arg(&img),
    );
    assert!(
        ea.contains("security.selinux (26) = \"system_u:object_r:etc_t:s0\""),
        "{ea}"
    );
    let ls = tool(Command::new("debugfs").args(["-R", "ls -l /etc"]).arg(&img));
    assert_eq!(ls.matches("sshd_config").count(), 1, "{ls}");
    // An editor that changes nothing leaves the inode alone.
    let (out, err, status) = common::rfish_raw(
        tmp.path(),
        &["-a", "e.img", "--format=raw"],
        "run\nmount /dev/sda /\nstat /etc/sshd_config\nsetenv EDITOR true\nedit /etc/sshd_config\nstat /etc/sshd_config\n",
    );
    assert_eq!(status, 0, "{err}");
    let out = String::from_utf8_lossy(&out);
    let inos: Vec<&str> = out.lines().filter(|l| l.starts_with("ino:")).collect();
    assert_eq!(inos.len(), 2);
    assert_eq!(inos[0], inos[1]);
}

#[test]
fn immutable_and_append_only_files_refuse_what_the_kernel_refuses() {
    let tmp = tempfile::tempdir().expect("tmp");
    let img = mkfs(tmp.path(), "i.img", &["-t", "ext4"]);
    let (_, err, status) = common::rfish_raw(
        tmp.path(),
        &["-a", "i.img", "--format=raw"],
        "run\nmount /dev/sda /\nwrite /imm data\nwrite /app log\nmkdir /d\nwrite /d/x x\n\
         set-e2attrs /imm i\nset-e2attrs /app a\nset-e2attrs /d i\n\
         -write /imm new\n-rm /imm\n-chmod 0600 /imm\n-mv /imm /moved\n-ln /imm /hard\n\
         -setxattr user.k v 1 /imm\n-truncate /imm\n\
         -write /app new\nwrite-append /app +more\n-rm /app\n\
         -rm /d/x\n-touch /d/y\n",
    );
    assert_eq!(status, 0, "{err}");
    let refusals = err.matches("Operation not permitted").count();
    assert_eq!(refusals, 11, "{err}");
    fsck_clean(&img);
    let cat = |p: &str| debugfs(&img, &format!("cat {p}"));
    assert_eq!(cat("/imm"), "data");
    assert_eq!(cat("/app"), "log+more");
    assert_eq!(cat("/d/x"), "x");
    // The kernel agrees: the same changes fail there.
    with_kernel(&img, |m| {
        assert!(std::fs::write(m.join("imm"), b"k").is_err());
        assert!(std::fs::remove_file(m.join("imm")).is_err());
        assert!(std::fs::remove_file(m.join("app")).is_err());
        assert!(std::fs::write(m.join("d/y"), b"k").is_err());
    });
}

#[test]
fn inline_data_files_and_directories_move_out_when_changed() {
    let tmp = tempfile::tempdir().expect("tmp");
    let tree = tmp.path().join("tree");
    for d in ["d", "e", "keep"] {
        std::fs::create_dir_all(tree.join(d)).expect("dir");
    }
    std::fs::write(tree.join("d/s"), "small\n").expect("file");
    std::fs::write(tree.join("t"), "tiny\n").expect("file");
    std::fs::write(tree.join("keep/k"), "kept inline\n").expect("file");
    for i in 0..3 {
        std::fs::write(tree.join(format!("e/f{i}")), "x\n").expect("file");
    }
    let img = tmp.path().join("i.img");
    std::fs::File::create(&img)
        .expect("create")
        .set_len(32 << 20)
        .expect("size");
    tool(
        Command::new("mke2fs")
            .args(["-q", "-F", "-t", "ext4", "-O", "inline_data", "-d"])
            .arg(&tree)
            .arg(&img),
    );
    let flags = |p: &str| {
        let stat = tool(
            Command::new("debugfs")
                .args(["-R", &format!("stat {p}")])
                .arg(&img),
        );
        stat.contains("Flags: 0x10000000")
    };
    assert!(
        flags("/d/s") && flags("/e") && flags("/t"),
        "the fixture is inline"
    );
    let (_, err) = rfish(
        tmp.path(),
        "i.img",
        "mount /dev/sda /\nwrite-append /d/s more\nwrite /t replaced\nmkdir /e/sub\nwrite /e/g new\n\
         rm /e/f1\nmv /d /e/sub/d2\ntruncate-size /keep/k 4\nsetxattr user.a b 1 /keep\n",
    );
    assert!(err.is_empty(), "{err}");
    fsck_clean(&img);
    let cat = |p: &str| debugfs(&img, &format!("cat {p}"));
    assert_eq!(cat("/e/sub/d2/s"), "small\nmore");
    assert_eq!(cat("/t"), "replaced");
    assert_eq!(cat("/e/g"), "new");
    assert_eq!(cat("/keep/k"), "kept");
    let ls = tool(Command::new("debugfs").args(["-R", "ls /e"]).arg(&img));
    assert!(
        ls.contains("f0") && ls.contains("f2") && !ls.contains("f1"),
        "{ls}"
    );
    assert!(
        !flags("/e") && !flags("/t") && !flags("/e/sub/d2"),
        "moved out of the inode"
    );
    with_kernel(&img, |m| {
        assert_eq!(
            std::fs::read_to_string(m.join("e/sub/d2/s")).expect("read"),
            "small\nmore"
        );
        let mut names: Vec<String> = std::fs::read_dir(m.join("e"))
            .expect("readdir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["f0", "f2", "g", "sub"]);
    });
}

#[test]
fn posix_acls_are_stored_as_the_kernel_stores_them() {
    use rfish::fs::Filesystem;
    let tmp = tempfile::tempdir().expect("tmp");
    let img = mkfs(tmp.path(), "acl.img", &["-t", "ext4"]);
    rfish(
        tmp.path(),
        "acl.img",
        "mount /dev/sda /\nwrite /f x\nwrite /plain y\nmkdir /d\n",
    );
    // user::rw-, user:1000:r--, group::r--, mask::r--, other::--- in the xattr format.
    let entry = |tag: u16, perm: u16, id: u32| {
        let mut e = tag.to_le_bytes().to_vec();
        e.extend_from_slice(&perm.to_le_bytes());
        e.extend_from_slice(&id.to_le_bytes());
        e
    };
    let mut acl = 2u32.to_le_bytes().to_vec();
    for (tag, perm, id) in [
        (1, 6, !0),
        (2, 4, 1000),
        (4, 4, !0),
        (0x10, 4, !0),
        (0x20, 0, !0),
    ] {
        acl.extend(entry(tag, perm, id));
    }
    let mut plain = 2u32.to_le_bytes().to_vec();
    for (tag, perm) in [(1u16, 7u16), (4, 5), (0x20, 1)] {
        plain.extend(entry(tag, perm, !0));
    }
    {
        let dev = rfish::block::open_image(
            &img,
            &rfish::block::OpenOptions {
                format: Some(rfish::block::ImageFormat::Raw),
                read_only: false,
                lock: false,
            },
        )
        .expect("open");
        let fs = rfish::fs::ext4::Ext4::open_rw(dev).expect("ext4");
        let root = fs.root();
        let f = fs.lookup(root, b"f").expect("lookup").expect("f");
        let p = fs.lookup(root, b"plain").expect("lookup").expect("plain");
        let d = fs.lookup(root, b"d").expect("lookup").expect("d");
        fs.set_xattr(f, b"system.posix_acl_access", Some(&acl))
            .expect("acl");
        fs.set_xattr(p, b"system.posix_acl_access", Some(&plain))
            .expect("plain acl");
        fs.set_xattr(d, b"system.posix_acl_default", Some(&acl))
            .expect("default acl");
        assert!(
            fs.set_xattr(f, b"system.posix_acl_default", Some(&acl))
                .is_err()
        );
        assert!(
            fs.set_xattr(f, b"system.posix_acl_access", Some(&acl[..10]))
                .is_err()
        );
        fs.commit().expect("commit");
    }
    fsck_clean(&img);
    // rfish reads back what it stored, in the xattr format.
    let (out, _) = rfish(
        tmp.path(),
        "acl.img",
        "mount-ro /dev/sda /\nlgetxattrs /plain\nstat /plain\n",
    );
    assert!(
        !out.contains("posix_acl"),
        "an ACL the mode expresses is not kept: {out}"
    );
    assert!(
        out.contains("mode: 33257"),
        "0751 from the plain ACL: {out}"
    );
    with_kernel(&img, |m| {
        let get = |p: &str| tool(Command::new("getfacl").args(["-n", "-p"]).arg(m.join(p)));
        let f = get("f");
        assert!(
            f.contains("user:1000:r--") && f.contains("mask::r--") && f.contains("other::---"),
            "{f}"
        );
        let d = get("d");
        assert!(d.contains("default:user:1000:r--"), "{d}");
    });
}

#[test]
fn tar_in_restores_gnu_tar_acls() {
    let tmp = tempfile::tempdir().expect("tmp");
    let src = tmp.path().join("src");
    std::fs::create_dir_all(src.join("d")).expect("dir");
    std::fs::write(src.join("f"), "x").expect("file");
    let acl_ok = Command::new("setfacl")
        .args(["-m", "u:4321:r,g:4322:rw"])
        .arg(src.join("f"))
        .status()
        .is_ok_and(|s| s.success())
        && Command::new("setfacl")
            .args(["-d", "-m", "u:4321:rx"])
            .arg(src.join("d"))
            .status()
            .is_ok_and(|s| s.success());
    if !acl_ok {
        eprintln!("setfacl unavailable here: skipped");
        return;
    }
    tool(
        Command::new("tar")
            .args(["--acls", "-cf"])
            .arg(tmp.path().join("a.tar"))
            .arg("-C")
            .arg(&src)
            .arg("."),
    );
    let img = mkfs(tmp.path(), "t.img", &["-t", "ext4"]);
    rfish(
        tmp.path(),
        "t.img",
        "mount /dev/sda /\nmkdir /with\nmkdir /without\ntar-in a.tar /with acls:true\ntar-in a.tar /without\n",
    );
    fsck_clean(&img);
    with_kernel(&img, |m| {
        let get = |p: &str| tool(Command::new("getfacl").args(["-n", "-p"]).arg(m.join(p)));
        let f = get("with/f");
        assert!(
            f.contains("user:4321:r--") && f.contains("group:4322:rw-"),
            "{f}"
        );
        let d = get("with/d");
        assert!(d.contains("default:user:4321:r-x"), "{d}");
        assert!(
            !get("without/f").contains("4321"),
            "acls:false restores none"
        );
    });
}
