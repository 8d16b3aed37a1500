//! Guest commands through rfish's appliance (QEMU; TCG on machines without a working KVM,
//! so each test boots its appliance once and runs a whole session in it). The oracles:
//! guestfish's own output for the same commands (testdata/guestfish/appliance.*), the
//! guest's programs themselves (useradd, systemctl), and from outside rfish debugfs,
//! `e2fsck -fn` and `qemu-img check` on the image afterwards.
//!
//! Skipped when this machine has no QEMU or no readable kernel, unless
//! RFISH_REQUIRE_PEERS=1 (CI), where that is a failure.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn debian_image(dir: &Path) -> PathBuf {
    let fixtures = common::fixtures("debian-guest.sh");
    let img = dir.join("debian.qcow2");
    std::fs::copy(fixtures.join("debian.qcow2"), &img).expect("copy fixture");
    img
}

/// A private copy of the Debian guest (in a temporary directory) when this machine can
/// boot the appliance.
fn debian_guest() -> Option<(tempfile::TempDir, PathBuf)> {
    if !common::appliance_possible() {
        return None;
    }
    let tmp = tempfile::tempdir().expect("tmp");
    let img = debian_image(tmp.path());
    Some((tmp, img))
}

/// Start rfish in `dir` with `args` and `envs`, `script` fed to its standard input from
/// another thread; stdout and stderr are pipes.
fn start(dir: &Path, args: &[&str], envs: &[(&str, &str)], script: &str) -> std::process::Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rfish"))
        .args(args)
        .envs(envs.iter().copied())
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("rfish");
    let mut stdin = child.stdin.take().expect("stdin");
    let input = script.as_bytes().to_vec();
    std::thread::spawn(move || stdin.write_all(&input));
    child
}

/// `qemu-img check` finds nothing on `img` and `e2fsck -fn` nothing on its root
/// filesystem (partition 2), which is returned as a raw file.
fn assert_consistent(img: &Path, dir: &Path) -> PathBuf {
    let check = common::run_tool(Command::new("qemu-img").arg("check").arg(img));
    assert!(check.status.success());
    let root = common::partition_raw(img, dir, 2);
    common::assert_fsck_clean(&root);
    root
}

fn debugfs(fs: &Path, request: &str) -> String {
    let out = common::run_tool(Command::new("debugfs").args(["-R", request]).arg(fs));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn guest_commands_print_what_guestfish_printed() {
    let Some((tmp, _img)) = debian_guest() else {
        return;
    };
    // The record (testdata/guestfish/appliance.*) was made by guestfish 1.48 on the
    // Debian fixture; its default memory size is 1280 MiB, rfish's 512.
    let script = common::record_script_rw("appliance", "debian.qcow2");
    let o = start(tmp.path(), &[], &[("RFISH_MEMSIZE", "1280")], &script)
        .wait_with_output()
        .expect("wait");
    let (out, err, status) = (
        o.stdout,
        String::from_utf8_lossy(&o.stderr).into_owned(),
        o.status.code(),
    );
    // A broken KVM (this kind of machine) adds its one-line fallback notice, which the
    // comparison leaves aside.
    common::assert_like_record("appliance", &out, &err, status.unwrap_or(-1));
}

#[test]
fn the_customisation_session_leaves_a_consistent_guest() {
    let Some((tmp, img)) = debian_guest() else {
        return;
    };
    // nginx is not in the minimal Debian fixture: its unit file is written natively,
    // then enabled by the guest's own systemctl.
    let script = "\
mount /dev/sda2 /
mount /dev/sda1 /boot
mkdir-p /var/www/html
write /lib/systemd/system/nginx.service \"[Unit]\\nDescription=nginx\\n[Service]\\nExecStart=/usr/sbin/nginx\\n[Install]\\nWantedBy=multi-user.target\\n\"
command 'useradd -m -s /bin/bash lixiaohui'
write /var/www/html/index.html 'hello'
command 'systemctl enable nginx'
sh 'test -f /boot/vmlinuz-6.1.0-test && echo boot-mounted'
grep lixiaohui /etc/passwd
is-dir /home/lixiaohui
readlink /etc/systemd/system/multi-user.target.wants/nginx.service
cat /var/www/html/index.html
";
    let (out, err, status) = common::rfish_raw(tmp.path(), &["-a", "debian.qcow2"], script);
    let out = String::from_utf8_lossy(&out);
    assert_eq!(status, 0, "{err}");
    assert!(out.contains("boot-mounted"), "{out}");
    assert!(
        out.contains("lixiaohui:x:1000:1000::/home/lixiaohui:/bin/bash"),
        "{out}"
    );
    assert!(out.contains("true\n"), "{out}");
    assert!(
        out.contains("/lib/systemd/system/nginx.service\n")
            || out.contains("/usr/lib/systemd/system/nginx.service\n"),
        "{out}"
    );
    assert!(out.ends_with("hello\n"), "{out}");
    // From outside rfish.
    let root = assert_consistent(&img, tmp.path());
    assert!(debugfs(&root, "cat /etc/passwd").contains("lixiaohui:x:1000"));
    assert!(debugfs(&root, "cat /etc/shadow").contains("lixiaohui:"));
    assert_eq!(debugfs(&root, "cat /var/www/html/index.html"), "hello");
    let stat = debugfs(&root, "stat /home/lixiaohui");
    assert!(
        stat.contains("User:  1000") && stat.contains("Type: directory"),
        "{stat}"
    );
    let link = debugfs(
        &root,
        "stat /etc/systemd/system/multi-user.target.wants/nginx.service",
    );
    assert!(
        link.contains("Type: symlink") && link.contains("/nginx.service"),
        "{link}"
    );
    let boot = common::partition_raw(&img, tmp.path(), 1);
    common::assert_fsck_clean(&boot);
}

#[test]
fn native_and_guest_writes_see_each_other() {
    let Some((tmp, img)) = debian_guest() else {
        return;
    };
    let mut script = String::from("mount /dev/sda2 /\n");
    for round in 0..4 {
        // Native write → the guest reads it and appends → native reads both; a native
        // rewrite (new size, new blocks) → the guest sees its size; a native delete of
        // the guest's directory → the guest sees it gone.
        let size = 1000 + 70_000 * round;
        script.push_str(&format!(
            "write /round \"native {round}\\n\"\n\
             sh 'cat /round; echo guest {round} >> /round; mkdir -p /gdir{round}'\n\
             cat /round\n\
             is-dir /gdir{round}\n\
             fill 97 {size} /round\n\
             sh 'wc -c < /round; tr -d a < /round | wc -c'\n\
             rm-rf /gdir{round}\n\
             sh 'test -e /gdir{round} && echo stale || echo gone'\n"
        ));
    }
    // A partition table rfish writes while the appliance runs reaches the guest kernel
    // (the appliance boots again).
    // The guest's /dev/sdb is rfish's second drive, whatever order the kernel probed
    // the disks in.
    script.push_str("sh 'blockdev --getsize64 /dev/sdb /dev/sda'\n");
    script.push_str("sh 'ls /dev/sdb*'\npart-disk /dev/sdb mbr\nsh 'ls /dev/sdb*'\n");
    // A program a guest command leaves running does not keep rfish from its filesystems.
    script.push_str(
        "sh 'sleep 1000 >/dev/null 2>&1 &'\ntouch /after-daemon\nsh 'ls /after-daemon'\n",
    );
    std::fs::File::create(tmp.path().join("blank.img"))
        .and_then(|f| f.set_len(16 << 20))
        .expect("blank disk");
    let (out, err, status) = common::rfish_raw(
        tmp.path(),
        &["-a", "debian.qcow2", "-a", "blank.img"],
        &script,
    );
    assert_eq!(status, 0, "{err}");
    let mut want = String::new();
    for round in 0..4 {
        let size = 1000 + 70_000 * round;
        want.push_str(&format!(
            "native {round}\n\nnative {round}\nguest {round}\n\ntrue\n{size}\n0\n\ngone\n\n"
        ));
    }
    want.push_str(&format!("{}\n{}\n\n", 16 << 20, 1700u64 << 20));
    want.push_str("/dev/sdb\n\n/dev/sdb\n/dev/sdb1\n\n\n/after-daemon\n\n");
    common::assert_same_output(&String::from_utf8_lossy(&out), &want);
    assert_consistent(&img, tmp.path());
}

/// Read rfish's stderr until a line containing `marker` (or time out).
fn wait_for_line(lines: &mut impl Iterator<Item = String>, marker: &str, seen: &mut String) {
    for line in lines.by_ref() {
        seen.push_str(&line);
        seen.push('\n');
        if line.contains(marker) {
            return;
        }
    }
    panic!("no {marker:?} in:\n{seen}");
}

#[test]
fn hung_commands_are_cancelled_and_a_dead_appliance_is_reported() {
    let Some((tmp, img)) = debian_guest() else {
        return;
    };
    // Each sleeper first says so on stderr through a failing marker command, so the test
    // knows when the guest program runs.
    let script = "\
mount /dev/sda2 /
command true
echo started-1 | sh -c 'cat >&2'
-sh 'touch /before-cancel; sleep 600'
sh 'echo alive after cancel'
echo started-2 | sh -c 'cat >&2'
-sh 'sleep 600'
cat /etc/hostname
write /after-death 'native still works'
cat /after-death
";
    let mut child = start(tmp.path(), &["-a", "debian.qcow2"], &[], script);
    let pid = child.id();
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines().map_while(Result::ok);
    let mut seen = String::new();
    let start = Instant::now();
    wait_for_line(&mut lines, "started-1", &mut seen);
    std::thread::sleep(Duration::from_secs(3));
    // Ctrl-C as the terminal sends it (to rfish; QEMU has its own process group).
    common::run_tool(Command::new("kill").args(["-INT", &pid.to_string()]));
    wait_for_line(&mut lines, "started-2", &mut seen);
    std::thread::sleep(Duration::from_secs(3));
    let qemu = common::run_tool(Command::new("pgrep").args(["-P", &pid.to_string()]));
    let qemu_pid = String::from_utf8_lossy(&qemu.stdout).trim().to_string();
    assert!(!qemu_pid.is_empty(), "no QEMU child");
    common::run_tool(Command::new("kill").args(["-KILL", &qemu_pid]));
    for line in lines {
        seen.push_str(&line);
        seen.push('\n');
    }
    let out = child.wait_with_output().expect("wait");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(start.elapsed() < Duration::from_secs(300));
    assert!(
        seen.contains("rfish: error: sh: operation cancelled by user"),
        "{seen}"
    );
    assert!(
        seen.contains("rfish: error: sh: the appliance died unexpectedly: QEMU exited"),
        "{seen}"
    );
    assert_eq!(
        stdout,
        // `command true` prints its empty output and a newline, as guestfish does.
        "\nalive after cancel\n\ndebian-fixture\n\nnative still works\n",
        "{seen}"
    );
    assert_eq!(out.status.code(), Some(0), "{seen}");
    let root = assert_consistent(&img, tmp.path());
    // The cancelled command ran (its first half reached the disk before the hand-back).
    assert!(debugfs(&root, "stat /before-cancel").contains("Type: regular"));
}

#[test]
fn missing_pieces_are_explained_with_the_fix() {
    let tmp = tempfile::tempdir().expect("tmp");
    let raw = tmp.path().join("disk.img");
    common::run_tool(
        Command::new("sh")
            .arg("-c")
            .arg("truncate -s 8M disk.img && mkfs.ext4 -q disk.img")
            .current_dir(tmp.path()),
    );
    let run = |envs: &[(&str, &str)]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rfish"));
        cmd.args(["-a"])
            .arg(&raw)
            .args(["-m", "/dev/sda", "command", "true"]);
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("rfish");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (status, err) = run(&[("RFISH_QEMU", "/nonexistent/qemu")]);
    assert_eq!(status, Some(1));
    assert_eq!(
        err,
        "rfish: error: command: RFISH_QEMU=/nonexistent/qemu: no such file\n"
    );
    let (status, err) = run(&[("PATH", "/nonexistent")]);
    assert_eq!(status, Some(1));
    assert!(
        err.contains("qemu-system-x86_64 was not found: install QEMU (apt install qemu-system-x86"),
        "{err}"
    );
    let (status, err) = run(&[("RFISH_KERNEL", "/nonexistent/vmlinuz")]);
    assert_eq!(status, Some(1));
    assert!(
        err.contains("RFISH_KERNEL=/nonexistent/vmlinuz: cannot be read"),
        "{err}"
    );
    let (status, err) = run(&[("RFISH_ACCEL", "fast")]);
    assert_eq!(status, Some(1));
    assert!(
        err.contains("RFISH_ACCEL: unknown accelerator 'fast'"),
        "{err}"
    );
    // No root mounted: guestfish's daemon message, without booting anything.
    let out = Command::new(env!("CARGO_BIN_EXE_rfish"))
        .arg("-a")
        .arg(&raw)
        .args(["command", "true"])
        .output()
        .expect("rfish");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "rfish: error: command: do_command: you must call 'mount' first to mount the root filesystem\n"
    );
}

#[test]
fn a_broken_kvm_is_reported_or_falls_back() {
    if !common::appliance_possible() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tmp");
    let raw = tmp.path().join("disk.img");
    common::run_tool(
        Command::new("sh")
            .arg("-c")
            .arg("truncate -s 8M disk.img && mkfs.ext4 -q disk.img")
            .current_dir(tmp.path()),
    );
    let kvm_works = std::fs::File::options()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_ok();
    let out = Command::new(env!("CARGO_BIN_EXE_rfish"))
        .env("RFISH_ACCEL", "kvm")
        .env("RFISH_KVM_TIMEOUT", "30")
        .arg("-a")
        .arg(&raw)
        .args(["-m", "/dev/sda", "appliance-launch"])
        .output()
        .expect("rfish");
    let err = String::from_utf8_lossy(&out.stderr);
    if out.status.success() {
        // A machine whose KVM works.
        assert!(kvm_works);
    } else {
        // This kind of machine: QEMU aborts with -cpu host, or the guest hangs.
        assert!(
            err.starts_with(
                "rfish: error: appliance_launch: the appliance did not start with kvm: "
            ),
            "{err}"
        );
    }
}

#[test]
fn network_and_the_appliance_shell() {
    let Some((tmp, img)) = debian_guest() else {
        return;
    };
    let before = common::rfish_raw(
        tmp.path(),
        &["-a", "debian.qcow2", "-m", "/dev/sda2"],
        "cat /etc/resolv.conf\n",
    );
    // With --network the guest has QEMU's user-mode network: an address, a default route
    // through 10.0.2.2 and the appliance's resolv.conf in place of its own.
    let (out, err, status) = common::rfish_raw(
        tmp.path(),
        &[
            "--network",
            "--appliance-shell",
            "-a",
            "debian.qcow2",
            "-m",
            "/dev/sda2",
        ],
        "cat /etc/resolv.conf\n\
         awk '$2 == \"00000000\" { print $1, $3 }' /proc/net/route\n\
         exit 3\n\
         echo still here >&2\n",
    );
    assert_eq!(status, 0, "{err}");
    assert_eq!(
        String::from_utf8_lossy(&out),
        "nameserver 10.0.2.3\neth0 0202000A\n"
    );
    assert!(err.contains("[exit status 3]\nstill here\n"), "{err}");
    // The guest's own resolv.conf is back.
    let after = common::rfish_raw(
        tmp.path(),
        &["-a", "debian.qcow2", "-m", "/dev/sda2"],
        "cat /etc/resolv.conf\n",
    );
    assert_eq!(before.2, 0, "{}", before.1);
    assert_eq!(after.0, before.0);
    common::assert_fsck_clean(&common::partition_raw(&img, tmp.path(), 2));
}

#[test]
fn logical_volumes_are_mounted_in_the_appliance() {
    let Some((tmp, _img)) = debian_guest() else {
        return;
    };
    // The RHEL-shaped guest's ext4 home LV, mounted under the Debian root: rfish decodes
    // the LV and attaches it to the appliance as a disk of its own.
    let rhel = common::fixtures("rhel-guest.sh");
    std::fs::copy(rhel.join("rhelish.qcow2"), tmp.path().join("rhel.qcow2")).expect("copy");
    let home = tmp.path().join("home.ext4");
    let script = format!(
        "mount /dev/sda2 /\nmount /dev/rhel/home /mnt\n\
         sh 'cat /mnt/alice/hello; echo written by the guest > /mnt/alice/guest'\n\
         cat /mnt/alice/guest\numount /mnt\ndownload /dev/rhel/home {}\n",
        home.display()
    );
    let (out, err, status) = common::rfish_raw(
        tmp.path(),
        &["-a", "debian.qcow2", "-a", "rhel.qcow2"],
        &script,
    );
    assert_eq!(status, 0, "{err}");
    assert_eq!(
        String::from_utf8_lossy(&out),
        "hello from the home LV\n\nwritten by the guest\n\n"
    );
    common::assert_fsck_clean(&home);
    assert_eq!(debugfs(&home, "cat /alice/guest"), "written by the guest\n");
    let check = common::run_tool(
        Command::new("qemu-img")
            .arg("check")
            .arg(tmp.path().join("rhel.qcow2")),
    );
    assert!(check.status.success());
}
