//! The native ext4 writer judged by e2fsprogs: a customisation session (files, appends,
//! uploads, truncation, symlinks fast and slow, hard links, ownership and modes, renames
//! across directories, recursive removal, hundreds of entries in one directory, device
//! nodes, FIFOs, times) on filesystems of several geometries; afterwards `e2fsck -fn`
//! finds nothing to fix and `debugfs rdump` extracts exactly the expected tree. A hashed
//! directory of 100 000 entries takes 3000 insertions and 1000 removals (leaf and index
//! splits) and stays valid. Read-only sessions and read-only mounts refuse every change
//! with EROFS and leave the image byte-identical. A crash after every write of a command
//! leaves a filesystem that journal replay makes consistent, holding the old or the new
//! state.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::Command;

fn run(cmd: &mut Command) -> std::process::Output {
    common::run_tool(cmd)
}

fn mkfs(dir: &Path, name: &str, mib: u64, opts: &[&str]) -> PathBuf {
    let img = dir.join(name);
    std::fs::File::create(&img)
        .expect("create")
        .set_len(mib << 20)
        .expect("size");
    let kind: &[&str] = if opts.contains(&"-t") {
        &[]
    } else {
        &["-t", "ext4"]
    };
    run(Command::new("mke2fs")
        .args(["-q", "-F"])
        .args(kind)
        .args(opts)
        .arg(&img));
    img
}

fn assert_fsck_clean(img: &Path) {
    common::assert_fsck_clean(img);
}

/// Run an rfish script on `img` (mounted read-write on /).
fn rfish_on(img: &Path, script: &str) -> (String, String, i32) {
    let dir = img.parent().expect("dir");
    let name = img
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    let (out, err, status) = common::rfish_raw(
        dir,
        &[],
        &format!("add {name} format:raw\nrun\nmount /dev/sda /\n{script}"),
    );
    (String::from_utf8_lossy(&out).into_owned(), err, status)
}

/// What a path should be after the scenario.
#[derive(Debug, Clone, PartialEq)]
enum Want {
    File {
        mode: u32,
        uid: u32,
        gid: u32,
        content: Vec<u8>,
    },
    Dir {
        mode: u32,
        uid: u32,
        gid: u32,
    },
    Link(String),
    Fifo(u32),
    CharDev(u32, u64),
}

/// The scenario's script and the tree it must leave.
fn scenario(dir: &Path) -> (String, BTreeMap<String, Want>) {
    let big: Vec<u8> = (0..5_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(dir.join("big.bin"), &big).expect("big");
    let slow_target = "/a/very/long/target/path/that/is/longer/than/sixty/bytes/for/a/slow/symlink";
    let mut s = String::new();
    let mut want = BTreeMap::new();
    let file = |mode, uid, gid, content: &[u8]| Want::File {
        mode,
        uid,
        gid,
        content: content.to_vec(),
    };
    let d = |mode, uid, gid| Want::Dir { mode, uid, gid };
    s += "mkdir /etc\nwrite /etc/hostname \"rfish-test\\n\"\nwrite-append /etc/hostname \"second\\n\"\n";
    want.insert("/etc".into(), d(0o755, 0, 0));
    want.insert(
        "/etc/hostname".into(),
        file(0o644, 0, 0, b"rfish-test\nsecond\n"),
    );
    s += "mkdir-p /home/alice/.ssh\nwrite /home/alice/.ssh/authorized_keys \"ssh-ed25519 AAAA test\\n\"\n";
    s += "chmod 0600 /home/alice/.ssh/authorized_keys\nchmod 0700 /home/alice/.ssh\n";
    s += "chown 1000 1000 /home/alice\nchown 1000 1000 /home/alice/.ssh\nchown 1000 100 /home/alice/.ssh/authorized_keys\n";
    want.insert("/home".into(), d(0o755, 0, 0));
    want.insert("/home/alice".into(), d(0o755, 1000, 1000));
    want.insert("/home/alice/.ssh".into(), d(0o700, 1000, 1000));
    want.insert(
        "/home/alice/.ssh/authorized_keys".into(),
        file(0o600, 1000, 100, b"ssh-ed25519 AAAA test\n"),
    );
    s += "mkdir /data\nupload big.bin /data/big.bin\nupload big.bin /data/big2.bin\ntruncate-size /data/big2.bin 3000001\n";
    s += "truncate-size /data/sparse 10M\n";
    want.insert("/data".into(), d(0o755, 0, 0));
    want.insert("/data/big.bin".into(), file(0o644, 0, 0, &big));
    want.insert(
        "/data/big2.bin".into(),
        file(0o644, 0, 0, &big[..3_000_001]),
    );
    s += "touch /data/sparse\n";
    s = s.replace(
        "truncate-size /data/sparse 10M\ntouch /data/sparse\n",
        "touch /data/sparse\ntruncate-size /data/sparse 10M\n",
    );
    want.insert(
        "/data/sparse".into(),
        file(0o644, 0, 0, &vec![0u8; 10 << 20]),
    );
    s += &format!(
        "ln-s /etc/hostname /etc/hostname.link\nln-s {slow_target} /slow.link\nln /etc/hostname /etc/hostname.hard\n"
    );
    want.insert(
        "/etc/hostname.link".into(),
        Want::Link("/etc/hostname".into()),
    );
    want.insert("/slow.link".into(), Want::Link(slow_target.into()));
    s += "mkdir-p /tree/a/b/c\nwrite /tree/a/b/c/f x\nwrite /tree/a/g y\nln-s f /tree/a/b/c/l\nrm-rf /tree\n";
    s += "mkdir /many\n";
    for i in 0..400 {
        s += &format!("touch /many/a-file-with-a-longer-name-{i:04}\n");
    }
    for i in (0..400).step_by(4) {
        s += &format!("rm /many/a-file-with-a-longer-name-{i:04}\n");
    }
    want.insert("/many".into(), d(0o755, 0, 0));
    for i in (0..400).filter(|i| i % 4 != 0) {
        want.insert(
            format!("/many/a-file-with-a-longer-name-{i:04}"),
            file(0o644, 0, 0, b""),
        );
    }
    s += "mkdir /moved\nwrite /moved/inner inner\nmkdir /moved/sub\nmv /moved /home/\n";
    s += "rename /etc/hostname.hard /home/hostname.hard\nwrite-append /home/hostname.hard \"third\\n\"\n";
    want.insert("/home/moved".into(), d(0o755, 0, 0));
    want.insert("/home/moved/inner".into(), file(0o644, 0, 0, b"inner"));
    want.insert("/home/moved/sub".into(), d(0o755, 0, 0));
    // The hard link shares the data: both names show the appended line.
    want.insert(
        "/etc/hostname".into(),
        file(0o644, 0, 0, b"rfish-test\nsecond\nthird\n"),
    );
    want.insert(
        "/home/hostname.hard".into(),
        file(0o644, 0, 0, b"rfish-test\nsecond\nthird\n"),
    );
    s += "mkfifo 0644 /fifo\nmknod-c 0666 1 3 /null\ntouch /empty\nutimens /empty 1000000000 5 1000000001 7\n";
    want.insert("/fifo".into(), Want::Fifo(0o644));
    want.insert("/null".into(), Want::CharDev(0o644, 0x103));
    want.insert("/empty".into(), file(0o644, 0, 0, b""));
    s += "write /data/big.bin replaced\n";
    s += "setxattr user.note \"hello world\" 11 /etc/hostname\n";
    s += "setxattr security.selinux system_u:object_r:etc_t:s0 26 /etc\n";
    s += &format!("setxattr user.big {} 300 /empty\n", "x".repeat(300));
    s += "setxattr user.gone x 1 /empty\nremovexattr user.gone /empty\n";
    s += "lsetxattr security.selinux system_u:object_r:etc_t:s0 26 /slow.link\n";
    want.insert("/data/big.bin".into(), file(0o644, 0, 0, b"replaced"));
    s += "cp /etc/hostname /etc/hostname.copy\ncp-a /home /home.bak\ncp-r /home/moved /moved2\n";
    want.insert(
        "/etc/hostname.copy".into(),
        file(0o644, 0, 0, b"rfish-test\nsecond\nthird\n"),
    );
    let home: Vec<(String, Want)> = want
        .iter()
        .filter(|(k, _)| k.starts_with("/home"))
        .map(|(k, v)| (k.replacen("/home", "/home.bak", 1), v.clone()))
        .collect();
    want.extend(home);
    want.insert("/moved2".into(), d(0o755, 0, 0));
    want.insert("/moved2/inner".into(), file(0o644, 0, 0, b"inner"));
    want.insert("/moved2/sub".into(), d(0o755, 0, 0));
    (s, want)
}

/// Extract the filesystem with `debugfs rdump` and describe every path.
fn dump(img: &Path) -> (tempfile::TempDir, BTreeMap<String, Want>) {
    let out = tempfile::tempdir().expect("tmp");
    run(Command::new("debugfs")
        .arg("-R")
        .arg(format!("rdump / {}", out.path().display()))
        .arg(img));
    let mut got = BTreeMap::new();
    let root = out.path().to_path_buf();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read dump") {
            let entry = entry.expect("entry");
            let path = entry.path();
            let rel = format!("/{}", path.strip_prefix(&root).expect("prefix").display());
            if rel.starts_with("/lost+found") {
                continue;
            }
            let md = std::fs::symlink_metadata(&path).expect("lstat");
            let ft = md.file_type();
            let mode = md.mode() & 0o7777;
            let w = if ft.is_symlink() {
                Want::Link(
                    std::fs::read_link(&path)
                        .expect("readlink")
                        .display()
                        .to_string(),
                )
            } else if ft.is_dir() {
                stack.push(path.clone());
                Want::Dir {
                    mode,
                    uid: md.uid(),
                    gid: md.gid(),
                }
            } else if ft.is_fifo() {
                Want::Fifo(mode)
            } else if ft.is_char_device() {
                Want::CharDev(mode, md.rdev())
            } else {
                Want::File {
                    mode,
                    uid: md.uid(),
                    gid: md.gid(),
                    content: std::fs::read(&path).expect("read"),
                }
            };
            got.insert(rel, w);
        }
    }
    (out, got)
}

#[test]
fn a_customisation_session_leaves_e2fsck_clean_and_the_expected_tree() {
    let tmp = tempfile::tempdir().expect("tmp");
    let variants: &[(&str, u64, &[&str])] = &[
        ("ext4-4k", 64, &["-b", "4096"]),
        ("ext4-1k", 64, &["-b", "1024"]),
        ("gdt-csum", 64, &["-O", "^metadata_csum,uninit_bg"]),
        ("no-journal", 64, &["-O", "^has_journal"]),
        ("32bit", 64, &["-O", "^64bit"]),
        ("no-flex-bg", 64, &["-O", "^flex_bg", "-b", "1024"]),
        (
            "meta-bg",
            64,
            &["-O", "meta_bg,^resize_inode", "-b", "1024"],
        ),
        // Block-mapped files: double-indirect maps with 1 KiB blocks.
        ("ext3-1k", 64, &["-t", "ext3", "-b", "1024"]),
        ("ext2", 64, &["-t", "ext2"]),
    ];
    let (script, want) = scenario(tmp.path());
    for (name, mib, opts) in variants {
        let img = mkfs(tmp.path(), &format!("{name}.img"), *mib, opts);
        let (_, err, status) = rfish_on(&img, &script);
        assert_eq!(status, 0, "{name}: {err}");
        assert_fsck_clean(&img);
        let (_keep, got) = dump(&img);
        for (path, w) in &want {
            if let Want::Fifo(_) | Want::CharDev(..) = w {
                // rdump skips special files: debugfs's stat describes them.
                let st = run(Command::new("debugfs")
                    .args(["-R", &format!("stat {path}")])
                    .arg(&img));
                let text = String::from_utf8_lossy(&st.stdout);
                let expect = match w {
                    Want::Fifo(m) => format!("Type: FIFO    Mode:  {m:04o}"),
                    Want::CharDev(m, _) => format!("Type: character special    Mode:  {m:04o}"),
                    _ => unreachable!(),
                };
                assert!(text.contains(&expect), "{name}: {path}: {text}");
                if let Want::CharDev(_, dev) = w {
                    let mm = format!(
                        "Device major/minor number: {:02x}:{:02x}",
                        dev >> 8,
                        dev & 0xff
                    );
                    assert!(text.contains(&mm), "{name}: {path}: {text}");
                }
                continue;
            }
            let g = got
                .get(path)
                .unwrap_or_else(|| panic!("{name}: {path} missing"));
            if let (Want::File { content: a, .. }, Want::File { content: b, .. }) = (w, g) {
                assert!(
                    a == b,
                    "{name}: {path}: content differs ({} vs {} bytes)",
                    b.len(),
                    a.len()
                );
            }
            assert_eq!(g, w, "{name}: {path}");
        }
        let extra: Vec<&String> = got.keys().filter(|k| !want.contains_key(*k)).collect();
        assert!(extra.is_empty(), "{name}: unexpected {extra:?}");
        // Extended attributes, as debugfs lists them.
        for (path, expect) in [
            ("/home/hostname.hard", "user.note (11) = \"hello world\""),
            (
                "/etc",
                "security.selinux (26) = \"system_u:object_r:etc_t:s0\"",
            ),
            ("/empty", "user.big (300)"),
            ("/slow.link", "security.selinux (26)"),
        ] {
            let ea = run(Command::new("debugfs")
                .args(["-R", &format!("ea_list {path}")])
                .arg(&img));
            let text = String::from_utf8_lossy(&ea.stdout);
            assert!(text.contains(expect), "{name}: {path}: {text}");
            assert!(!text.contains("user.gone"), "{name}: {path}: {text}");
        }
        // The dump's times: utimens set them with nanoseconds.
        let stat = run(Command::new("debugfs")
            .args(["-R", "stat /empty"])
            .arg(&img));
        let text = String::from_utf8_lossy(&stat.stdout);
        assert!(
            text.contains("mtime: 0x3b9aca01:0000001c"),
            "{name}: {text}"
        );
    }
}

#[test]
fn the_customisation_session_on_qcow2_leaves_qemu_img_check_and_e2fsck_clean() {
    // The same session through the qcow2 driver: qemu-img check finds no errors or leaks,
    // and the converted filesystem holds the expected tree.
    let tmp = tempfile::tempdir().expect("tmp");
    let (script, want) = scenario(tmp.path());
    for (name, opts) in [("ext4", &["-b", "4096"][..]), ("ext3", &["-t", "ext3"][..])] {
        let raw = mkfs(tmp.path(), &format!("{name}.raw"), 64, opts);
        let qcow = tmp.path().join(format!("{name}.qcow2"));
        run(Command::new("qemu-img")
            .args(["convert", "-O", "qcow2"])
            .arg(&raw)
            .arg(&qcow));
        let (_, err, status) = common::rfish_raw(
            tmp.path(),
            &[],
            &format!("add {name}.qcow2 format:qcow2\nrun\nmount /dev/sda /\n{script}"),
        );
        assert_eq!(status, 0, "{name}: {err}");
        let check = run(Command::new("qemu-img").arg("check").arg(&qcow));
        let text = String::from_utf8_lossy(&check.stdout);
        assert!(text.contains("No errors were found"), "{name}: {text}");
        assert!(!text.contains("leaked"), "{name}: {text}");
        run(Command::new("qemu-img")
            .args(["convert", "-O", "raw"])
            .arg(&qcow)
            .arg(&raw));
        assert_fsck_clean(&raw);
        let (_keep, got) = dump(&raw);
        for (path, w) in &want {
            if let Want::File { .. } | Want::Dir { .. } | Want::Link(_) = w {
                assert_eq!(got.get(path), Some(w), "{name}: {path}");
            }
        }
    }
}

#[test]
fn a_hashed_directory_takes_thousands_of_changes() {
    let fx = common::fixtures("ext4-fixtures.sh");
    let tmp = tempfile::tempdir().expect("tmp");
    let img = tmp.path().join("bigdir.img");
    std::fs::copy(fx.join("bigdir.img"), &img).expect("copy");
    let before = run(Command::new("debugfs").args(["-R", "ls /many"]).arg(&img));
    let mut names: std::collections::BTreeSet<String> = String::from_utf8_lossy(&before.stdout)
        .split_whitespace()
        .filter(|w| w.starts_with("entry-"))
        .map(str::to_string)
        .collect();
    assert!(names.len() > 90_000, "{}", names.len());
    let mut script = String::new();
    for i in 0..3000 {
        let n = format!("added-entry-with-a-much-longer-name-to-fill-leaves-{i:05}");
        script += &format!("touch /many/{n}\n");
        names.insert(n);
    }
    for i in (0..3000).step_by(3) {
        let n = format!("added-entry-with-a-much-longer-name-to-fill-leaves-{i:05}");
        script += &format!("rm /many/{n}\n");
        names.remove(&n);
    }
    let (_, err, status) = rfish_on(&img, &script);
    assert_eq!(status, 0, "{err}");
    assert_fsck_clean(&img);
    let after = run(Command::new("debugfs").args(["-R", "ls /many"]).arg(&img));
    let got: std::collections::BTreeSet<String> = String::from_utf8_lossy(&after.stdout)
        .split_whitespace()
        .filter(|w| w.starts_with("entry-") || w.starts_with("added-"))
        .map(str::to_string)
        .collect();
    assert_eq!(got.len(), names.len());
    assert!(got == names);
    // rfish itself finds every name through the index.
    let (out, err, status) = rfish_on(
        &img,
        "is-file /many/added-entry-with-a-much-longer-name-to-fill-leaves-02999\nis-file /many/added-entry-with-a-much-longer-name-to-fill-leaves-00000\n",
    );
    assert_eq!(status, 0, "{err}");
    assert_eq!(out, "true\nfalse\n");
}

#[test]
fn read_only_sessions_and_mounts_refuse_changes() {
    let tmp = tempfile::tempdir().expect("tmp");
    let img = mkfs(tmp.path(), "ro.img", 16, &[]);
    let before = std::fs::read(&img).expect("read");
    let (_, err, status) = common::rfish_raw(
        tmp.path(),
        &["--ro"],
        "add ro.img format:raw\nrun\nmount /dev/sda /\nwrite /x hello\n",
    );
    assert_eq!(status, 1);
    assert_eq!(
        err,
        "*stdin*:4: rfish: error: internal_write: open: /x: Read-only file system\n"
    );
    let (_, err, status) = common::rfish_raw(
        tmp.path(),
        &[],
        "add ro.img format:raw\nrun\nmount-ro /dev/sda /\n-mkdir /d\n-rm-rf /lost+found\n-touch /t\nchmod 0700 /\n",
    );
    assert_eq!(status, 1);
    assert_eq!(
        err,
        "*stdin*:4: rfish: error: mkdir: /d: Read-only file system\n\
         *stdin*:5: rfish: error: rm_rf: /lost+found: Read-only file system\n\
         *stdin*:6: rfish: error: touch: open: /t: Read-only file system\n\
         *stdin*:7: rfish: error: chmod: /: 0700: Read-only file system\n"
    );
    assert!(
        std::fs::read(&img).expect("read") == before,
        "the image changed"
    );
}

#[test]
fn failed_commands_change_nothing() {
    let tmp = tempfile::tempdir().expect("tmp");
    let img = mkfs(tmp.path(), "fail.img", 16, &[]);
    let (_, err, status) = rfish_on(
        &img,
        "mkdir /d\n-mkdir /d\n-rmdir /nothere\n-rm /d\n-mkdir /x/y\n-write /d hello\n-rename /nothere /y\nwrite /d/f hi\n-rmdir /d\n",
    );
    assert_eq!(status, 0, "{err}");
    assert_eq!(
        err,
        "*stdin*:5: rfish: error: mkdir: /d: File exists\n\
         *stdin*:6: rfish: error: rmdir: /nothere: No such file or directory\n\
         *stdin*:7: rfish: error: rm: /d: Is a directory\n\
         *stdin*:8: rfish: error: mkdir: /x/y: No such file or directory\n\
         *stdin*:9: rfish: error: internal_write: open: /d: Is a directory\n\
         *stdin*:10: rfish: error: rename: rename: /nothere: /y: No such file or directory\n\
         *stdin*:12: rfish: error: rmdir: /d: Directory not empty\n"
    );
    assert_fsck_clean(&img);
}

#[test]
fn a_crash_at_any_write_leaves_a_recoverable_filesystem() {
    // Oracle: `e2fsck -E journal_only` replays the journal and repairs nothing else;
    // afterwards e2fsck -fn must find nothing, and the file is either absent (old state)
    // or complete (new state).
    for opts in [&["-b", "1024"][..], &["-t", "ext3", "-b", "1024"][..]] {
        crash_sweep(opts);
    }
}

fn crash_sweep(opts: &[&str]) {
    let tmp = tempfile::tempdir().expect("tmp");
    let base = mkfs(tmp.path(), "base.img", 16, opts);
    let prep = "mkdir /d\nwrite /d/old keep\n";
    let (_, err, status) = rfish_on(&base, prep);
    assert_eq!(status, 0, "{err}");
    let command = "mkdir-p /d/e/f\n";
    let content: String = "0123456789".repeat(500);
    let second = format!("write /d/e/f/new {content}\n");
    let mut crashed = 0;
    let mut outcomes = std::collections::BTreeSet::new();
    for n in 0..200u64 {
        let img = tmp.path().join("crash.img");
        std::fs::copy(&base, &img).expect("copy");
        let out = Command::new(env!("CARGO_BIN_EXE_rfish"))
            .current_dir(tmp.path())
            .env("RFISH_CRASH_AFTER_WRITES", n.to_string())
            .arg("-a")
            .arg("crash.img")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write;
                c.stdin
                    .take()
                    .expect("stdin")
                    .write_all(format!("run\nmount /dev/sda /\n{command}{second}").as_bytes())?;
                c.wait()
            })
            .expect("rfish");
        if out.success() {
            break;
        }
        crashed += 1;
        let _ = Command::new("e2fsck")
            .args(["-E", "journal_only", "-y"])
            .arg(&img)
            .output()
            .expect("e2fsck");
        assert_fsck_clean(&img);
        let (_, got) = dump(&img);
        assert_eq!(
            got.get("/d/old"),
            Some(&Want::File {
                mode: 0o644,
                uid: 0,
                gid: 0,
                content: b"keep".to_vec()
            })
        );
        let state = match got.get("/d/e/f/new") {
            None => "absent",
            Some(Want::File { content: c, .. }) if c == content.as_bytes() => "complete",
            Some(Want::File { content: c, .. }) if c.is_empty() => "empty",
            Some(other) => panic!("write {n}: /d/e/f/new is {other:?}"),
        };
        outcomes.insert(state);
    }
    assert!(crashed > 10, "{opts:?}: only {crashed} crash points");
    eprintln!("{opts:?}: {crashed} crash points, outcomes {outcomes:?}");
}

/// Run the recorded commands NAME on a blank 16 MiB ext4 image (with `host.txt` beside
/// it) and compare with what guestfish printed; e2fsck must stay clean.
fn compare_with_record(name: &str) {
    let tmp = tempfile::tempdir().expect("tmp");
    mkfs(tmp.path(), "blank.img", 16, &[]);
    std::fs::write(tmp.path().join("host.txt"), "hostdata\n").expect("host.txt");
    let script = common::record_script_rw(name, "blank.img");
    let (out, err, status) = common::rfish_raw(tmp.path(), &[], &script);
    let (want_out, want_err) = common::record(name);
    assert_eq!(err, common::guestfish_errors_as_rfish(&want_err));
    assert_eq!(status, 0, "{err}");
    common::assert_same_output(
        &String::from_utf8_lossy(&out),
        &String::from_utf8_lossy(&want_out),
    );
    assert_fsck_clean(&tmp.path().join("blank.img"));
}

#[test]
fn file_changing_commands_print_what_guestfish_printed() {
    // The record (testdata/guestfish/ext4-write.*) was made on a blank mke2fs ext4 image.
    compare_with_record("ext4-write");
}

#[test]
fn more_file_commands_print_what_guestfish_printed() {
    // fill, fill-pattern, fill-dir, fallocate, pwrite, upload-offset, mkdtemp/mktemp
    // errors, e2attrs, generation and labels (testdata/guestfish/ext4-write2.*).
    compare_with_record("ext4-write2");
}

/// Mount `img` read-only through the kernel (loop device, no journal replay); `None`
/// when this machine cannot.
fn kernel_mount(img: &Path) -> Option<tempfile::TempDir> {
    let mnt = tempfile::tempdir().expect("mnt");
    Command::new("mount")
        .args(["-o", "loop,ro,noload"])
        .arg(img)
        .arg(mnt.path())
        .status()
        .is_ok_and(|s| s.success())
        .then_some(mnt)
}

/// Every entry under `a` and `b` has the same type, mode, owner, size, content, symlink
/// target and (but for directories, whose times tar sets last) nanosecond mtime.
fn assert_same_tree(a: &Path, b: &Path) -> usize {
    use std::os::unix::fs::PermissionsExt;
    let mut count = 0;
    let mut stack = vec![a.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read_dir") {
            let p = entry.expect("entry").path();
            let rel = p.strip_prefix(a).expect("prefix");
            let q = b.join(rel);
            let (ma, mb) = (
                std::fs::symlink_metadata(&p).expect("lstat a"),
                std::fs::symlink_metadata(&q)
                    .unwrap_or_else(|_| panic!("{} missing", rel.display())),
            );
            let what = rel.display();
            assert_eq!(
                ma.permissions().mode(),
                mb.permissions().mode(),
                "{what}: mode"
            );
            assert_eq!((ma.uid(), ma.gid()), (mb.uid(), mb.gid()), "{what}: owner");
            assert_eq!(ma.rdev(), mb.rdev(), "{what}: rdev");
            let ft = ma.file_type();
            if ft.is_symlink() {
                assert_eq!(
                    std::fs::read_link(&p).unwrap(),
                    std::fs::read_link(&q).unwrap(),
                    "{what}"
                );
            } else {
                assert_eq!(
                    (ma.mtime(), ma.mtime_nsec()),
                    (mb.mtime(), mb.mtime_nsec()),
                    "{what}: mtime"
                );
            }
            if ft.is_file() {
                assert!(
                    std::fs::read(&p).unwrap() == std::fs::read(&q).unwrap(),
                    "{what}: content"
                );
            }
            if ft.is_dir() {
                stack.push(p.clone());
            }
            count += 1;
        }
    }
    count
}

#[test]
fn tar_in_and_copy_in_of_a_debian_root_equal_the_tree() {
    // Oracle: GNU tar makes the archive; the Linux kernel (loop mount) reads the result.
    let fx = common::fixtures("debian-guest.sh");
    let root = fx.join("root");
    let tmp = tempfile::tempdir().expect("tmp");
    let tarball = tmp.path().join("root.tar");
    run(Command::new("tar")
        .args(["--xattrs", "-cf"])
        .arg(&tarball)
        .arg("-C")
        .arg(&root)
        .arg("."));
    let img = mkfs(tmp.path(), "deb.img", 1024, &[]);
    let (_, err, status) = rfish_on(
        &img,
        &format!(
            "tar-in {} / xattrs:true\nmkdir /copied\ncopy-in {} /copied\n",
            tarball.display(),
            root.join("etc").display()
        ),
    );
    assert_eq!(status, 0, "{err}");
    assert_fsck_clean(&img);
    let Some(mnt) = kernel_mount(&img) else {
        eprintln!("cannot loop-mount (not root?): tree comparison skipped");
        return;
    };
    let result = std::panic::catch_unwind(|| {
        let n = assert_same_tree(&root, mnt.path());
        let m = assert_same_tree(&root.join("etc"), &mnt.path().join("copied/etc"));
        // Extended attributes, as getfattr sees them through the kernel.
        let attrs = |dir: &Path| {
            let out = Command::new("getfattr")
                .args(["-R", "-d", "-m", "-", "-h", "."])
                .current_dir(dir)
                .output()
                .expect("getfattr");
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        assert_eq!(attrs(&root.join("usr")), attrs(&mnt.path().join("usr")));
        (n, m)
    });
    let _ = Command::new("umount").arg(mnt.path()).status();
    let (n, m) = result.expect("trees differ");
    assert!(n > 5000 && m > 100, "{n} {m}");
}

#[test]
fn compressed_tarballs_unpack_like_gnu_tar_packed_them() {
    let tmp = tempfile::tempdir().expect("tmp");
    let src = tmp.path().join("src");
    std::fs::create_dir_all(src.join("a/b")).expect("mkdir");
    std::fs::write(src.join("a/b/file"), vec![7u8; 200_000]).expect("write");
    std::fs::write(src.join("a/x.sh"), "#!/bin/sh\n").expect("write");
    run(Command::new("chmod")
        .args(["0750", "a/x.sh"])
        .current_dir(&src));
    run(Command::new("ln")
        .args(["-s", "b/file", "a/link"])
        .current_dir(&src));
    run(Command::new("ln")
        .args(["a/b/file", "a/hard"])
        .current_dir(&src));
    run(Command::new("chown")
        .args(["-R", "1234:5678", "a/b"])
        .current_dir(&src));
    let img = mkfs(tmp.path(), "c.img", 64, &[]);
    let mut script = String::new();
    for (kind, flag) in [
        ("gzip", "-z"),
        ("zstd", "--zstd"),
        ("xz", "-J"),
        ("bzip2", "-j"),
    ] {
        let ball = tmp.path().join(format!("t.{kind}"));
        run(Command::new("tar")
            .args(["--format=posix", flag, "-cf"])
            .arg(&ball)
            .arg("-C")
            .arg(&src)
            .arg("a"));
        script += &format!(
            "mkdir /{kind}\ntar-in {} /{kind} compress:{kind}\n",
            ball.display()
        );
    }
    let (_, err, status) = rfish_on(&img, &script);
    assert_eq!(status, 0, "{err}");
    assert_fsck_clean(&img);
    let Some(mnt) = kernel_mount(&img) else {
        eprintln!("cannot loop-mount (not root?): tree comparison skipped");
        return;
    };
    let result = std::panic::catch_unwind(|| {
        for kind in ["gzip", "zstd", "xz", "bzip2"] {
            assert_eq!(
                assert_same_tree(&src.join("a"), &mnt.path().join(kind).join("a")),
                5,
                "{kind}"
            );
            let hard = std::fs::metadata(mnt.path().join(kind).join("a/hard")).expect("hard");
            assert_eq!(hard.nlink(), 2, "{kind}: hard link");
        }
    });
    let _ = Command::new("umount").arg(mnt.path()).status();
    result.expect("trees differ");
}

#[test]
fn full_filesystems_say_enospc_and_stay_clean() {
    // Out of blocks: the upload fails whole (the command is one transaction) and the
    // filesystem is as before; out of inodes: creation fails with ENOSPC as open(2) does.
    let tmp = tempfile::tempdir().expect("tmp");
    let img = mkfs(tmp.path(), "full.img", 8, &["-N", "64"]);
    std::fs::write(tmp.path().join("big"), vec![0x5au8; 20 << 20]).expect("big");
    let (out, err, status) = rfish_on(&img, "-upload big /big\nwrite /small hello\nls /\n");
    assert_eq!(status, 0, "{err}");
    assert_eq!(
        err,
        "*stdin*:4: rfish: error: upload: /big: No space left on device\n"
    );
    assert_eq!(out, "lost+found\nsmall\n");
    assert_fsck_clean(&img);
    let script: String = (0..80).map(|i| format!("-touch /f{i}\n")).collect();
    let (_, err, status) = rfish_on(&img, &script);
    assert_eq!(status, 0, "{err}");
    let failures: Vec<&str> = err.lines().collect();
    // 64 inodes: 1-11 reserved (lost+found is 11), /small, and 52 new files.
    assert_eq!(failures.len(), 80 - 52, "{err}");
    assert!(
        failures[0].ends_with("rfish: error: touch: open: /f52: No space left on device"),
        "{err}"
    );
    assert_fsck_clean(&img);
}
