//! SELinux labelling against libselinux itself: Debian's selinux-policy-default
//! file_contexts (~5000 specs) loaded by rfish must label every path of the Debian fixture
//! guest, and a list of tricky paths, exactly as `matchpathcon -f` does; `selinux-relabel`
//! on the guest must leave every inode with matchpathcon's label (read back with debugfs)
//! and e2fsck clean; bad spec files are refused with their file and line.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use rfish::selinux::spec::FileKind;

const POLICY: &str = "/etc/selinux/default/contexts/files/file_contexts";

/// The host's Debian policy, or `None` (with a note) when it is not installed and peers
/// are not required.
fn policy() -> Option<PathBuf> {
    let p = PathBuf::from(POLICY);
    if p.exists() && which("matchpathcon") {
        return Some(p);
    }
    assert!(
        std::env::var_os("RFISH_REQUIRE_PEERS").is_none(),
        "selinux-policy-default and selinux-utils (matchpathcon) are required"
    );
    eprintln!("no selinux-policy-default/matchpathcon here: skipped");
    None
}

fn which(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn host_read(p: &str) -> Option<Vec<u8>> {
    std::fs::read(p).ok()
}

fn mode_name(k: FileKind) -> &'static str {
    match k {
        FileKind::Regular => "file",
        FileKind::Directory => "dir",
        FileKind::CharDevice => "char",
        FileKind::BlockDevice => "block",
        FileKind::Socket => "socket",
        FileKind::Fifo => "pipe",
        FileKind::Symlink => "lnk",
    }
}

/// matchpathcon's answers for `paths` of one kind: path -> context (`<<none>>` kept).
fn matchpathcon(kind: FileKind, paths: &[String]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for chunk in paths.chunks(500) {
        let o = Command::new("matchpathcon")
            .args(["-f", POLICY, "-m", mode_name(kind)])
            .args(chunk)
            .output()
            .expect("matchpathcon");
        for line in String::from_utf8_lossy(&o.stdout).lines() {
            if let Some((p, c)) = line.split_once('\t') {
                out.insert(p.trim().to_string(), c.trim().to_string());
            }
        }
    }
    out
}

fn kind_of(meta: &std::fs::Metadata) -> FileKind {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_symlink() {
        FileKind::Symlink
    } else if t.is_dir() {
        FileKind::Directory
    } else if t.is_char_device() {
        FileKind::CharDevice
    } else if t.is_block_device() {
        FileKind::BlockDevice
    } else if t.is_socket() {
        FileKind::Socket
    } else if t.is_fifo() {
        FileKind::Fifo
    } else {
        FileKind::Regular
    }
}

fn walk(root: &Path, rel: &str, out: &mut Vec<(String, FileKind)>) {
    let Ok(entries) = std::fs::read_dir(root.join(rel.trim_start_matches('/'))) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let p = if rel == "/" {
            format!("/{name}")
        } else {
            format!("{rel}/{name}")
        };
        let Ok(meta) = std::fs::symlink_metadata(e.path()) else {
            continue;
        };
        let k = kind_of(&meta);
        out.push((p.clone(), k));
        if k == FileKind::Directory {
            walk(root, &p, out);
        }
    }
}

#[test]
fn every_pattern_of_the_debian_policy_translates() {
    let Some(_) = policy() else { return };
    let (labeler, bad) = rfish::selinux::load(POLICY, &host_read).expect("load");
    assert!(bad.is_empty(), "untranslatable patterns: {bad:?}");
    assert!(labeler.len() > 3000, "{} specs", labeler.len());
}

#[test]
fn labels_equal_matchpathcon_for_the_debian_guest_and_tricky_paths() {
    let Some(_) = policy() else { return };
    let (labeler, _) = rfish::selinux::load(POLICY, &host_read).expect("load");
    let fixture = common::fixtures("debian-guest.sh");
    let mut paths = Vec::new();
    walk(&fixture.join("root"), "/", &mut paths);
    assert!(paths.len() > 5000, "{} paths", paths.len());
    let tricky: &[(&str, FileKind)] = &[
        ("/", FileKind::Directory),
        ("/home/alice", FileKind::Directory),
        ("/home/alice/.ssh/authorized_keys", FileKind::Regular),
        ("/root/.bashrc", FileKind::Regular),
        ("/var/www/html/index.html", FileKind::Regular),
        ("/usr/sbin/nginx", FileKind::Regular),
        ("/usr/sbin/sshd", FileKind::Regular),
        ("/etc/passwd", FileKind::Regular),
        ("/etc/shadow", FileKind::Regular),
        ("/etc//ssh/sshd_config", FileKind::Regular),
        ("/etc/ssh/", FileKind::Directory),
        ("/dev/null", FileKind::CharDevice),
        ("/dev/sda1", FileKind::BlockDevice),
        ("/dev/log", FileKind::Socket),
        ("/run/initctl", FileKind::Fifo),
        ("/lib64/ld-linux-x86-64.so.2", FileKind::Symlink),
        ("/usr/lib/x86_64-linux-gnu/libc.so.6", FileKind::Regular),
        ("/var/lib/mysql", FileKind::Directory),
        ("/tmp/.X11-unix", FileKind::Directory),
        ("/proc/1/status", FileKind::Regular),
        ("/sys/kernel", FileKind::Directory),
        ("/opt/app/bin/run", FileKind::Regular),
        ("/srv/data", FileKind::Directory),
        ("/var/log/audit/audit.log", FileKind::Regular),
        ("/boot/vmlinuz-6.1.0", FileKind::Regular),
        ("/lost+found", FileKind::Directory),
    ];
    paths.extend(tricky.iter().map(|(p, k)| (p.to_string(), *k)));
    let mut by_kind: BTreeMap<&'static str, (FileKind, Vec<String>)> = BTreeMap::new();
    for (p, k) in &paths {
        by_kind
            .entry(mode_name(*k))
            .or_insert((*k, Vec::new()))
            .1
            .push(p.clone());
    }
    let mut compared = 0;
    let mut differences = Vec::new();
    for (kind, list) in by_kind.values() {
        let theirs = matchpathcon(*kind, list);
        for p in list {
            // matchpathcon prints the path as given.
            let Some(want) = theirs.get(p) else { continue };
            let got = labeler.lookup(p, Some(*kind)).unwrap_or("<<none>>");
            compared += 1;
            if got != want {
                differences.push(format!(
                    "{p} ({}): rfish {got}, matchpathcon {want}",
                    mode_name(*kind)
                ));
            }
        }
    }
    assert!(compared > 5000, "compared {compared}");
    assert!(
        differences.is_empty(),
        "{} of {compared} differ, first: {:?}",
        differences.len(),
        &differences[..differences.len().min(10)]
    );
}

#[test]
fn relabelling_the_debian_guest_gives_every_inode_matchpathcons_label() {
    let Some(_) = policy() else { return };
    let fixture = common::fixtures("debian-guest.sh");
    let tmp = tempfile::tempdir().expect("tmp");
    let img = tmp.path().join("d.qcow2");
    std::fs::copy(fixture.join("debian.qcow2"), &img).expect("copy");
    // The policy and its companions (.homedirs, .subs_dist, ...) go into the guest.
    let mut script =
        String::from("run\nmount /dev/sda2 /\nmkdir-p /etc/selinux/default/contexts/files\n");
    for suffix in ["", ".homedirs", ".local", ".subs", ".subs_dist"] {
        let host = format!("{POLICY}{suffix}");
        if Path::new(&host).exists() {
            script.push_str(&format!("upload {host} {host}\n"));
        }
    }
    script.push_str(
        "setxattr security.selinux staff_u:object_r:user_home_t:s0:c1 35 /etc/hostname\n\
         selinux-relabel /etc/selinux/default/contexts/files/file_contexts /\n",
    );
    let (_, err, status) = common::rfish_raw(tmp.path(), &["-a", "d.qcow2"], &script);
    assert_eq!(status, 0, "{err}");
    let raw = tmp.path().join("root.raw");
    common::run_tool(
        Command::new("qemu-img")
            .args(["convert", "-O", "raw"])
            .arg(&img)
            .arg(tmp.path().join("d.raw")),
    );
    // Partition 2 as its own image for debugfs and e2fsck.
    let json = String::from_utf8_lossy(
        &common::run_tool(
            Command::new("sfdisk")
                .arg("-J")
                .arg(tmp.path().join("d.raw")),
        )
        .stdout,
    )
    .into_owned();
    let start: u64 = json
        .split("\"start\":")
        .nth(2)
        .and_then(|s| s.trim_start().split(',').next())
        .and_then(|s| s.trim().parse().ok())
        .expect("partition 2 start");
    common::run_tool(Command::new("dd").args([
        format!("if={}", tmp.path().join("d.raw").display()),
        format!("of={}", raw.display()),
        "bs=512".into(),
        format!("skip={start}"),
        "conv=sparse".into(),
        "status=none".into(),
    ]));
    common::assert_fsck_clean(&raw);
    // Every inode of the tree (bar /boot, another filesystem) against matchpathcon.
    let mut paths = Vec::new();
    walk(&fixture.join("rootfs"), "/", &mut paths);
    let mut by_kind: BTreeMap<&'static str, (FileKind, Vec<String>)> = BTreeMap::new();
    for (p, k) in &paths {
        // The daemon's setfiles -e excludes these directories and what is in them.
        if ["/dev", "/proc", "/sys", "/selinux"]
            .iter()
            .any(|e| p == e || p.starts_with(&format!("{e}/")))
        {
            continue;
        }
        by_kind
            .entry(mode_name(*k))
            .or_insert((*k, Vec::new()))
            .1
            .push(p.clone());
    }
    let mut checked = 0;
    for (kind, list) in by_kind.values() {
        let want = matchpathcon(*kind, list);
        let sample: Vec<&String> = list.iter().collect();
        let mut script = String::new();
        for p in &sample {
            script.push_str(&format!("ea_get -V {p} security.selinux\n"));
        }
        let cmds = tmp.path().join("cmds");
        std::fs::write(&cmds, &script).expect("cmds");
        let out = common::run_tool(Command::new("debugfs").arg("-f").arg(&cmds).arg(&raw));
        // debugfs echoes each command ("debugfs: ea_get -V PATH security.selinux") before
        // its output; a missing attribute prints nothing on stdout.
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let mut got: BTreeMap<String, String> = BTreeMap::new();
        let mut current: Option<String> = None;
        for line in text.lines() {
            if let Some(cmd) = line.strip_prefix("debugfs: ea_get -V ") {
                current = cmd.strip_suffix(" security.selinux").map(str::to_string);
            } else if let Some(p) = current.take() {
                got.insert(
                    p,
                    line.trim_end_matches('\0')
                        .trim_end_matches("\\000")
                        .to_string(),
                );
            }
        }
        for p in &sample {
            let Some(w) = want.get(*p) else { continue };
            if p.as_str() == "/etc/hostname" {
                continue; // labelled beforehand: checked below
            }
            if w == "<<none>>" {
                assert!(!got.contains_key(*p), "{p} should stay unlabelled");
                continue;
            }
            assert_eq!(got.get(*p), Some(w), "{p}");
            checked += 1;
        }
    }
    assert!(checked > 5000, "checked {checked}");
    // Without force an existing label keeps its user and range: only the type changed.
    let hostname = common::run_tool(
        Command::new("debugfs")
            .args(["-R", "ea_get -V /etc/hostname security.selinux"])
            .arg(&raw),
    );
    let text = String::from_utf8_lossy(&hostname.stdout);
    let want = matchpathcon(FileKind::Regular, &["/etc/hostname".to_string()]);
    let want_type = want["/etc/hostname"]
        .split(':')
        .nth(2)
        .expect("type")
        .to_string();
    assert!(
        text.starts_with(&format!("staff_u:object_r:{want_type}:s0:c1")),
        "{text}"
    );
}

#[test]
fn bad_spec_files_name_file_and_line_and_write_nothing() {
    let tmp = tempfile::tempdir().expect("tmp");
    let img = tmp.path().join("b.img");
    std::fs::File::create(&img)
        .expect("create")
        .set_len(32 << 20)
        .expect("size");
    common::run_tool(Command::new("mke2fs").args(["-q", "-t", "ext4"]).arg(&img));
    for (spec, want) in [
        (
            "/a(b system_u:object_r:a_t:s0\\n",
            "/fc: line 1: rfish cannot translate",
        ),
        (
            "/a -q system_u:object_r:a_t:s0\\n",
            "/fc:1: invalid file type \"-q\"",
        ),
        (
            "/ok system_u:object_r:a_t:s0\\n/a\\n",
            "/fc:2: missing context",
        ),
    ] {
        let (_, err, status) = common::rfish_raw(
            tmp.path(),
            &["-a", "b.img", "--format=raw", "-m", "/dev/sda"],
            &format!("write /fc \"{spec}\"\nwrite /f x\nselinux-relabel /fc /\n"),
        );
        assert_eq!(status, 1, "{spec}");
        assert!(err.contains(want), "{spec}: {err}");
        let ea = common::run_tool(Command::new("debugfs").args(["-R", "ea_list /f"]).arg(&img));
        assert!(
            !String::from_utf8_lossy(&ea.stdout).contains("selinux"),
            "nothing written"
        );
    }
}

#[test]
fn selinux_relabel_at_session_end_follows_virt_customize() {
    let tmp = tempfile::tempdir().expect("tmp");
    let img = tmp.path().join("g.img");
    std::fs::File::create(&img)
        .expect("create")
        .set_len(64 << 20)
        .expect("size");
    common::run_tool(Command::new("mke2fs").args(["-q", "-t", "ext4"]).arg(&img));
    let guest = |args: &[&str], script: &str| {
        let mut all = vec!["-a", "g.img", "--format=raw", "-m", "/dev/sda"];
        all.extend_from_slice(args);
        let (out, err, status) = common::rfish_raw(tmp.path(), &all, script);
        assert_eq!(status, 0, "{err}");
        (String::from_utf8_lossy(&out).into_owned(), err)
    };
    guest(
        &[],
        "mkdir-p /usr/sbin\nwrite /usr/sbin/load_policy x\n\
         mkdir-p /etc/selinux/targeted/contexts/files\n\
         write /etc/selinux/config \"SELINUX=enforcing\\nSELINUXTYPE=targeted\\n\"\n\
         write /etc/selinux/targeted/contexts/files/file_contexts \"/.* system_u:object_r:default_t:s0\\n/etc(/.*)? system_u:object_r:etc_t:s0\\n\"\n\
         write /etc/selinux/targeted/contexts/customizable_types \"\"\n\
         touch /.autorelabel\n\
         write /etc/old x\nsetxattr security.selinux staff_u:object_r:user_home_t:s0 32 /etc/old\n",
    );
    // Relabelled at the end (without force: the old label keeps its user), stale
    // /.autorelabel removed.
    let (_, err) = guest(&["--selinux-relabel"], "write /etc/motd hi\n");
    assert!(err.is_empty(), "{err}");
    let (out, _) = guest(
        &[],
        "lgetxattr /etc/motd security.selinux\necho\nlgetxattr /etc/old security.selinux\necho\nexists /.autorelabel\n",
    );
    assert_eq!(
        out.replace('\0', ""),
        "system_u:object_r:etc_t:s0\nstaff_u:object_r:etc_t:s0\nfalse\n"
    );
    // With force the whole context is replaced.
    guest(
        &[],
        "selinux-relabel /etc/selinux/targeted/contexts/files/file_contexts /etc force:true\n",
    );
    let (out, _) = guest(&[], "lgetxattr /etc/old security.selinux\n");
    assert_eq!(out.replace('\0', ""), "system_u:object_r:etc_t:s0");
    // A guest that cannot be relabelled gets /.autorelabel instead.
    guest(&[], "write /etc/selinux/config \"SELINUX=disabled\\n\"\n");
    let (_, err) = guest(&["--selinux-relabel"], "write /etc/motd2 hi\n");
    assert!(err.contains("relabelling failed"), "{err}");
    let (out, _) = guest(&[], "exists /.autorelabel\n");
    assert_eq!(out, "true\n");
    common::assert_fsck_clean(&img);
}
