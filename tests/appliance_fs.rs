//! Filesystems rfish does not drive natively — XFS (RHEL's root, inside LVM), btrfs, vfat,
//! NTFS — mounted by the appliance's kernel and used through the same file commands.
//! Oracles: the same commands on an ext4 tree with the same content; `xfs_repair -n`,
//! `e2fsck -fn` and `qemu-img check` afterwards; guestfish reading the image rfish changed;
//! libselinux's `matchpathcon` for the labels.
//!
//! Skipped when this machine cannot boot the appliance, unless RFISH_REQUIRE_PEERS=1.

mod common;

use std::path::Path;
use std::process::Command;

use rexpect::session::spawn_command;

const PTY_TIMEOUT_MS: u64 = 600_000;

fn rhel_copy(dir: &Path) -> std::path::PathBuf {
    common::fixtures("debian-guest.sh");
    let fixtures = common::fixtures("rhel-guest.sh");
    let img = dir.join("rhelish.qcow2");
    std::fs::copy(fixtures.join("rhelish.qcow2"), &img).expect("copy fixture");
    img
}

/// What `matchpathcon` says `path` gets from the guest's file_contexts.
fn matchpathcon(file_contexts: &Path, path: &str) -> String {
    let out = common::run_tool(
        Command::new("matchpathcon")
            .arg("-n")
            .arg("-f")
            .arg(file_contexts)
            .arg(path),
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn the_customisation_session_on_a_rhel_guest_with_xfs_in_lvm() {
    if !common::appliance_possible() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tmp");
    let img = rhel_copy(tmp.path());
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rfish"));
    cmd.env("HOME", tmp.path())
        .env("TERM", "xterm")
        .env("NO_COLOR", "1")
        .env_remove("RFISH_PS1")
        .current_dir(tmp.path())
        .args(["-i", "-a", "rhelish.qcow2"]);
    let mut p = spawn_command(cmd, Some(PTY_TIMEOUT_MS)).expect("spawn rfish on a pty");
    p.exp_string("Operating system: Red Hat Enterprise Linux 8.1 (Ootpa)")
        .expect("inspection banner");
    p.exp_string("/dev/rhel/root mounted on /")
        .expect("root mounted");
    p.exp_string("/dev/sda1 mounted on /boot")
        .expect("boot mounted");
    p.exp_string("><fs> ").expect("prompt");
    let mut transcript = String::new();
    for line in [
        "write /lib/systemd/system/httpd.service \"[Unit]\\nDescription=httpd\\n[Service]\\nExecStart=/usr/sbin/httpd\\n[Install]\\nWantedBy=multi-user.target\\n\"",
        "command 'useradd alice'",
        "mkdir-p /var/www/html",
        "write /var/www/html/index.html 'hello'",
        "command 'systemctl enable httpd'",
        "selinux-relabel /etc/selinux/targeted/contexts/files/file_contexts /",
        "echo session-done",
    ] {
        p.send_line(line).expect("type");
        transcript.push_str(&p.exp_string("><fs> ").expect("prompt after a command"));
    }
    p.send_line("exit").expect("exit");
    let session = p.exp_eof().expect("rfish ends");

    // From outside rfish: the image, the XFS logical volume, /boot.
    common::qemu::assert_clean(&img);
    let root = tmp.path().join("root.xfs");
    let fc = tmp.path().join("file_contexts");
    rfish_ok(
        tmp.path(),
        &["--ro", "-a", "rhelish.qcow2"],
        &format!(
            "download /dev/rhel/root {}\nmount-ro /dev/rhel/root /\n\
             download /etc/selinux/targeted/contexts/files/file_contexts {}\n",
            root.display(),
            fc.display()
        ),
    );
    assert_checker_clean("xfs_repair", &["-n"], &root);
    let boot = common::partition_raw(&img, tmp.path(), 1);
    common::assert_fsck_clean(&boot);

    // guestfish reads what rfish (and the guest's own programs) wrote (it prints an
    // attribute's bytes as they are, without a newline: each is followed by an echo).
    let Some(mut gf) = common::guestfish() else {
        return;
    };
    let out = common::run_with_stdin(
        {
            gf.args(["--ro", "-i", "-a"]).arg(&img);
            gf
        },
        "cat /var/www/html/index.html\n\
         grep alice /etc/passwd\n\
         readlink /etc/systemd/system/multi-user.target.wants/httpd.service\n\
         lgetxattr /var/www/html/index.html security.selinux\necho\n\
         lgetxattr /etc/passwd security.selinux\necho\n\
         lgetxattr /etc security.selinux\necho\n",
    );
    let text = out.stdout.replace('\0', "");
    let label = |p: &str| matchpathcon(&fc, p);
    let want_www = label("/var/www/html/index.html");
    let want_passwd = label("/etc/passwd");
    let want_etc = label("/etc");
    assert!(want_www.contains("httpd_sys_content_t"), "{want_www}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines.first(),
        Some(&"hello"),
        "{text}\n{}\nrfish's session:\n{transcript}{session}",
        out.stderr
    );
    assert!(
        lines.get(1).is_some_and(|l| l.starts_with("alice:x:")),
        "{text}"
    );
    assert!(
        lines.get(2).is_some_and(|l| l.ends_with("/httpd.service")),
        "{text}"
    );
    assert_eq!(
        &lines[3..6],
        &[&want_www, &want_passwd, &want_etc],
        "{text}"
    );
}

/// `tool ARGS IMAGE` (a filesystem checker) finds nothing wrong.
fn assert_checker_clean(tool: &str, args: &[&str], image: &Path) {
    let out = Command::new(tool)
        .args(args)
        .arg(image)
        .output()
        .expect(tool);
    assert!(
        out.status.success(),
        "{tool} {}: {}{}",
        image.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A directory tree of plain files and directories every filesystem here can hold.
fn sample_tree(dir: &Path) {
    std::fs::create_dir_all(dir.join("docs/deep/er")).expect("mkdir");
    std::fs::write(dir.join("hello.txt"), "hello, world\n").expect("write");
    std::fs::write(dir.join("docs/readme"), "read me\n".repeat(1000)).expect("write");
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(dir.join("docs/deep/big.bin"), big).expect("write");
    std::fs::write(dir.join("docs/deep/er/empty"), "").expect("write");
    for i in 0..300 {
        std::fs::write(dir.join(format!("docs/f{i:03}")), format!("{i}\n")).expect("write");
    }
}

fn tool(cmd: &mut Command) {
    common::run_tool(cmd);
}

#[test]
fn read_commands_on_xfs_btrfs_vfat_and_ntfs_match_ext4() {
    if !common::appliance_possible() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tmp");
    let tree = tmp.path().join("tree");
    sample_tree(&tree);
    let img = |name: &str, mib: u64| {
        let p = tmp.path().join(name);
        let f = std::fs::File::create(&p).expect("create");
        f.set_len(mib << 20).expect("size");
        p
    };
    let ext4 = img("ext4.img", 64);
    tool(
        Command::new("mkfs.ext4")
            .args(["-q", "-d"])
            .arg(&tree)
            .arg(&ext4),
    );
    let xfs = img("xfs.img", 320);
    // mkfs.xfs's protofile populates without mounting.
    let proto = tmp.path().join("proto");
    std::fs::write(&proto, xfs_protofile(&tree)).expect("protofile");
    tool(
        Command::new("mkfs.xfs")
            .args(["-q", "-p"])
            .arg(&proto)
            .arg(&xfs),
    );
    let btrfs = img("btrfs.img", 128);
    tool(
        Command::new("mkfs.btrfs")
            .args(["-q", "--rootdir"])
            .arg(&tree)
            .arg(&btrfs),
    );
    let vfat = img("vfat.img", 64);
    tool(Command::new("mkfs.vfat").arg(&vfat));
    tool(
        Command::new("mcopy")
            .args(["-s", "-i"])
            .arg(&vfat)
            .arg(tree.join("hello.txt"))
            .arg(tree.join("docs"))
            .arg("::/"),
    );
    let ntfs = img("ntfs.img", 64);
    tool(Command::new("mkntfs").args(["-q", "-F", "-f"]).arg(&ntfs));

    let reads = "find /\ncat /hello.txt\nchecksum sha256 /docs/deep/big.bin\n\
                 checksum sha256 /docs/readme\nfilesize /docs/deep/big.bin\n\
                 is-dir /docs/deep/er\nis-file /docs/deep/er/empty\nls /docs/deep\n\
                 du /docs\nexists /nope\n";
    let mut script = String::new();
    for dev in ["/dev/sda", "/dev/sdb", "/dev/sdc", "/dev/sdd"] {
        script.push_str(&format!("mount-ro {dev} /\n{reads}echo ==\numount /\n"));
    }
    // NTFS (the kernel's ntfs3) is filled by rfish's own copy-in and upload, then read.
    script.push_str(&format!(
        "mount /dev/sde /\ncopy-in tree/docs /\nupload tree/hello.txt /hello.txt\n{reads}echo ==\n"
    ));
    let (out, err, status) = common::rfish_raw(
        tmp.path(),
        &[
            "-a",
            "ext4.img",
            "-a",
            "xfs.img",
            "-a",
            "btrfs.img",
            "-a",
            "vfat.img",
            "-a",
            "ntfs.img",
        ],
        &script,
    );
    assert_eq!(status, 0, "{err}");
    let out = String::from_utf8_lossy(&out);
    let parts: Vec<&str> = out.split("==\n").collect();
    assert_eq!(parts.len(), 6, "{out}\n{err}");
    // du counts allocated kibibytes (the one answer that depends on the filesystem), and
    // only ext4 has lost+found.
    let comparable = |s: &str| {
        let lines: Vec<&str> = s.lines().collect();
        lines
            .iter()
            .enumerate()
            .filter(|(i, l)| *i + 2 != lines.len() && **l != "/lost+found")
            .map(|(_, l)| *l)
            .collect::<Vec<_>>()
            .join("\n")
    };
    let want = comparable(parts[0]);
    assert!(want.contains("docs/deep/er/empty"), "{want}");
    assert!(want.contains("hello, world"), "{want}");
    for (name, part) in ["xfs", "btrfs", "vfat", "ntfs"].iter().zip(&parts[1..5]) {
        assert_eq!(comparable(part), want, "{name} differs from ext4\n{err}");
    }
    // After rfish wrote to it, ntfs-3g's checker finds the NTFS sound.
    assert_checker_clean("ntfsfix", &["-n"], &ntfs);
}

/// mkfs.xfs's protofile for `tree` (directories and regular files).
fn xfs_protofile(tree: &Path) -> String {
    fn walk(dir: &Path, depth: usize, out: &mut String) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .expect("readdir")
            .map(|e| e.expect("entry"))
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let name = e.file_name().to_string_lossy().into_owned();
            let pad = " ".repeat(depth);
            if e.file_type().expect("type").is_dir() {
                out.push_str(&format!("{pad}{name} d--755 0 0\n"));
                walk(&e.path(), depth + 1, out);
                out.push_str(&format!("{pad}$\n"));
            } else {
                out.push_str(&format!("{pad}{name} ---644 0 0 {}\n", e.path().display()));
            }
        }
    }
    let mut out = String::from("/dev/null\n0 0\nd--755 0 0\n");
    walk(tree, 1, &mut out);
    out.push_str("$\n");
    out
}

/// A raw XFS image of `mib` MiB holding `tree` (mkfs.xfs's protofile: no mounting).
fn xfs_image(dir: &Path, name: &str, mib: u64, tree: &Path) -> std::path::PathBuf {
    let img = dir.join(name);
    std::fs::File::create(&img)
        .expect("create")
        .set_len(mib << 20)
        .expect("size");
    let proto = dir.join(format!("{name}.proto"));
    std::fs::write(&proto, xfs_protofile(tree)).expect("protofile");
    tool(
        Command::new("mkfs.xfs")
            .args(["-q", "-p"])
            .arg(&proto)
            .arg(&img),
    );
    img
}

#[test]
fn a_refused_mount_and_a_dead_appliance_are_errors_not_hangs() {
    if !common::appliance_possible() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tmp");
    let tree = tmp.path().join("tree");
    sample_tree(&tree);
    xfs_image(tmp.path(), "x.img", 320, &tree);
    // The kernel refuses XFS as btrfs; the session goes on. Then QEMU is killed (the host
    // command's parent is rfish): the next listing fails at once, naming the cause, and a
    // new mount boots a new appliance.
    let script = "\
-mount-vfs ro btrfs /dev/sda /
mount-ro /dev/sda /
ls /docs/deep
!pkill -KILL -P $PPID qemu
-ls /docs
-cat /hello.txt
umount /
mount-ro /dev/sda /
cat /hello.txt
";
    let t0 = std::time::Instant::now();
    let (out, err, status) = common::rfish_raw(tmp.path(), &["-a", "x.img"], script);
    let out = String::from_utf8_lossy(&out);
    assert!(t0.elapsed() < std::time::Duration::from_secs(300));
    assert_eq!(status, 0, "{err}");
    assert_eq!(out, "big.bin\ner\nhello, world\n\n", "{err}");
    // The script's errors (not the KVM fallback notice of machines without working KVM).
    let errors: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("*stdin*") && l.contains("error"))
        .collect();
    assert_eq!(errors.len(), 3, "{err}");
    assert!(
        errors[0].contains("mount_vfs: /dev/sda: cannot mount it as btrfs: Invalid argument"),
        "{err}"
    );
    assert!(
        errors[1].contains("ls0: opendir: /docs:")
            && errors[1].contains("the appliance died unexpectedly: QEMU exited"),
        "{err}"
    );
    assert!(
        errors[2].contains("/hello.txt") && errors[2].contains("not running"),
        "{err}"
    );
}

/// rfish with `args` in `dir` on `script`, which must succeed: its standard output.
fn rfish_ok(dir: &Path, args: &[&str], script: &str) -> Vec<u8> {
    let (out, err, status) = common::rfish_raw(dir, args, script);
    assert_eq!(status, 0, "{err}");
    out
}

/// Whether this process may set up loop devices and mount (root on a normal machine);
/// when it may not, the test says it is skipped (a failure in CI, RFISH_REQUIRE_PEERS).
fn can_loop_mount() -> bool {
    let able = rustix::process::geteuid().is_root()
        && Command::new("losetup")
            .arg("-f")
            .output()
            .is_ok_and(|o| o.status.success());
    if !able {
        assert!(
            std::env::var_os("RFISH_REQUIRE_PEERS").is_none(),
            "needs root for a loop mount"
        );
        eprintln!("not root: skipped");
    }
    able
}

#[test]
fn an_xfs_with_a_dirty_log_mounts_norecovery_on_ro_and_recovers_on_rw() {
    if !common::appliance_possible() {
        return;
    }
    if !can_loop_mount() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tmp");
    let tree = tmp.path().join("tree");
    sample_tree(&tree);
    let img = xfs_image(tmp.path(), "dirty.img", 320, &tree);
    // A file written, then the filesystem shut down as if the machine had crashed: the
    // log holds what the disk does not.
    let mnt = tmp.path().join("mnt");
    std::fs::create_dir(&mnt).expect("mnt");
    tool(
        Command::new("mount")
            .args(["-o", "loop"])
            .arg(&img)
            .arg(&mnt),
    );
    std::fs::write(mnt.join("from-the-log"), "logged\n").expect("write");
    tool(&mut Command::new("sync"));
    let shut = Command::new("xfs_io")
        .args(["-x", "-c", "shutdown -f"])
        .arg(&mnt)
        .output()
        .expect("xfs_io");
    tool(Command::new("umount").arg(&mnt));
    assert!(shut.status.success(), "{shut:?}");
    let dirty = Command::new("xfs_repair")
        .arg("-n")
        .arg(&img)
        .output()
        .expect("xfs_repair");
    assert!(!dirty.status.success(), "the log should need replaying");

    // --ro: the drive cannot be written, so the log cannot be replayed: norecovery.
    let out = rfish_ok(
        tmp.path(),
        &["--ro", "-a", "dirty.img"],
        "mount-ro /dev/sda /\ncat /hello.txt\n",
    );
    assert_eq!(String::from_utf8_lossy(&out), "hello, world\n\n");
    // Read-write: the kernel replays the log; the logged file is there and the
    // filesystem is clean afterwards.
    let out = rfish_ok(
        tmp.path(),
        &["-a", "dirty.img"],
        "mount /dev/sda /\ncat /from-the-log\n",
    );
    assert_eq!(String::from_utf8_lossy(&out), "logged\n\n");
    assert_checker_clean("xfs_repair", &["-n"], &img);
}

#[test]
fn mkfs_xfs_btrfs_vfat_and_ntfs_make_filesystems_their_own_checkers_accept() {
    if !common::appliance_possible() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tmp");
    let img = tmp.path().join("disk.img");
    std::fs::File::create(&img)
        .expect("create")
        .set_len(700 << 20)
        .expect("size");
    // Made by the host's tools in the appliance, then written through the kernel's drivers.
    let script = "\
part-init /dev/sda gpt
part-add /dev/sda p 2048 720895
part-add /dev/sda p 720896 1000000
part-add /dev/sda p 1000001 1100000
part-add /dev/sda p 1100001 1300000
mkfs xfs /dev/sda1 label:data
mkfs btrfs /dev/sda2 label:pool
mkfs vfat /dev/sda3 label:EFI
mkfs ntfs /dev/sda4 label:win
list-filesystems
vfs-label /dev/sda1
vfs-label /dev/sda2
vfs-label /dev/sda3
mount /dev/sda1 /
mkdir /b
mkdir /e
mkdir /w
mount /dev/sda2 /b
mount /dev/sda3 /e
mount /dev/sda4 /w
write /b/hello 'from btrfs'
write /e/hello.txt 'from vfat'
write /w/hello 'from ntfs'
write /hello 'from xfs'
cat /b/hello
cat /e/hello.txt
cat /w/hello
cat /hello
";
    let (out, err, status) = common::rfish_raw(tmp.path(), &["-a", "disk.img"], script);
    assert_eq!(status, 0, "{err}");
    assert_eq!(
        String::from_utf8_lossy(&out),
        "/dev/sda1: xfs\n/dev/sda2: btrfs\n/dev/sda3: vfat\n/dev/sda4: ntfs\n\
         data\npool\nEFI\nfrom btrfs\nfrom vfat\nfrom ntfs\nfrom xfs\n"
    );
    let checks: [(usize, &str, &[&str]); 4] = [
        (1, "xfs_repair", &["-n"]),
        (2, "btrfs", &["check", "--readonly"]),
        (3, "fsck.vfat", &["-n"]),
        (4, "ntfsfix", &["-n"]),
    ];
    for (part, tool, args) in checks {
        let raw = common::partition_raw(&img, tmp.path(), part);
        let out = Command::new(tool)
            .args(args)
            .arg(&raw)
            .output()
            .expect(tool);
        assert!(
            out.status.success(),
            "{tool} on partition {part}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::remove_file(raw).expect("rm");
    }
}

#[test]
fn sync_puts_appliance_writes_in_the_image_while_the_session_runs() {
    if !common::appliance_possible() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tmp");
    let tree = tmp.path().join("tree");
    sample_tree(&tree);
    xfs_image(tmp.path(), "x.img", 320, &tree);
    // The copy is taken by a host command in the middle of the session, after sync: a
    // crash-consistent image whose log, replayed by the kernel, holds the write.
    rfish_ok(
        tmp.path(),
        &["-a", "x.img"],
        "mount /dev/sda /\nwrite /synced 'made durable by sync'\nsync\n!cp x.img copy.img\n\
         write /later 'not synced before the copy'\n",
    );
    let out = rfish_ok(
        tmp.path(),
        &["-a", "copy.img"],
        "mount /dev/sda /\ncat /synced\nexists /later\n",
    );
    assert_eq!(
        String::from_utf8_lossy(&out),
        "made durable by sync\nfalse\n"
    );
}

#[test]
fn xfs_info_xfs_repair_and_fsck_print_what_guestfish_printed() {
    if !common::appliance_possible() {
        return;
    }
    // Records made by guestfish 1.48 on testdata/disks.sh's gpt.qcow2 (XFS on sda1) and
    // mbr.img (ext4 on sda1, vfat on sda5), both added read-only.
    let dir = common::fixtures("disks.sh");
    for (name, image) in [("otherfs-xfs", "gpt.qcow2"), ("otherfs-mbr", "mbr.img")] {
        let script = common::record_script(name, image);
        let (out, err, status) = common::rfish_raw(&dir, &[], &script);
        common::assert_like_record(name, &out, &err, status);
    }
}

#[test]
fn btrfs_subvolumes_keep_their_files_apart() {
    if !common::appliance_possible() {
        return;
    }
    if !can_loop_mount() {
        return;
    }
    // A subvolume numbers its inodes afresh (its root is 256, like the top level's, and
    // its first file 257, like the top level's first file): rfish must not mix them up.
    let tmp = tempfile::tempdir().expect("tmp");
    let img = tmp.path().join("b.img");
    std::fs::File::create(&img)
        .expect("create")
        .set_len(200 << 20)
        .expect("size");
    tool(Command::new("mkfs.btrfs").arg("-q").arg(&img));
    let mnt = tmp.path().join("mnt");
    std::fs::create_dir(&mnt).expect("mnt");
    tool(
        Command::new("mount")
            .args(["-o", "loop"])
            .arg(&img)
            .arg(&mnt),
    );
    let made = Command::new("btrfs")
        .args(["subvolume", "create"])
        .arg(mnt.join("sv"))
        .output()
        .expect("btrfs");
    std::fs::write(mnt.join("top"), "top level\n").expect("write");
    std::fs::write(mnt.join("sv/inner"), "in the subvolume\n").expect("write");
    tool(Command::new("umount").arg(&mnt));
    assert!(made.status.success(), "{made:?}");
    let out = rfish_ok(
        tmp.path(),
        &["-a", "b.img"],
        "mount /dev/sda /\nfind /\ncat /top\ncat /sv/inner\nwrite /sv/new 'x'\nls /sv\nls /\n",
    );
    assert_eq!(
        String::from_utf8_lossy(&out),
        "/sv\n/sv/inner\n/top\ntop level\n\nin the subvolume\n\ninner\nnew\nsv\ntop\n"
    );
}

#[test]
fn xfs_admin_sets_what_xfs_db_then_reads() {
    if !common::appliance_possible() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tmp");
    let tree = tmp.path().join("tree");
    sample_tree(&tree);
    let img = xfs_image(tmp.path(), "x.img", 320, &tree);
    let (_, err, status) = common::rfish_raw(
        tmp.path(),
        &["-a", "x.img"],
        "xfs-admin /dev/sda label:backups uuid:12345678-1234-4234-8234-123456789abc\n\
         xfs-admin /dev/sda lazycounter:true\n-xfs-admin /dev/sda v2log:true\n\
         mount /dev/sda /\n-xfs-admin /dev/sda label:busy\n",
    );
    assert_eq!(status, 0, "{err}");
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("*stdin*")).collect();
    assert_eq!(errors.len(), 2, "{err}");
    assert!(errors[0].contains("v2log: not supported"), "{err}");
    assert!(errors[1].contains("mounted"), "{err}");
    let out = common::run_tool(
        Command::new("xfs_db")
            .args(["-r", "-c", "label", "-c", "uuid"])
            .arg(&img),
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "label = \"backups\"\nUUID = 12345678-1234-4234-8234-123456789abc\n"
    );
    assert_checker_clean("xfs_repair", &["-n"], &img);
}

#[test]
fn an_rpm_database_on_xfs_lists_what_guestfish_listed_on_ext4() {
    if !common::appliance_possible() {
        return;
    }
    // The RHEL 8 tree of testdata/rpm-guest.sh (a BerkeleyDB rpm database written by the
    // real rpm) on XFS instead of ext4: inspection goes through the appliance, and must
    // print what guestfish printed for the ext4 image (testdata/guestfish/rhel8-apps.*).
    let fx = common::fixtures("rpm-guest.sh");
    let tmp = tempfile::tempdir().expect("tmp");
    xfs_image(tmp.path(), "rhel8.img", 320, &fx.join("root8"));
    let script = common::record_script("rhel8-apps", "rhel8.img");
    let (out, err, status) = common::rfish_raw(tmp.path(), &[], &script);
    common::assert_like_record("rhel8-apps", &out, &err, status);
}
