//! Every example in the command registry runs successfully through the real binary, and the
//! README's command list is the one the registry generates.

mod common;

use common::qemu::qemu_img;
use common::{rfish, run_with_stdin};
use rfish::commands::{ArgKind, registry};

/// The files examples name: disk.img (raw, MBR-partitioned, added as /dev/sda),
/// disk.qcow2 (GPT-partitioned, /dev/sdb), base.qcow2 and disk.raw.
fn example_dir() -> tempfile::TempDir {
    static TEMPLATE: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    let template = TEMPLATE.get_or_init(build_examples);
    let dir = tempfile::tempdir().expect("tempdir");
    for entry in std::fs::read_dir(template.path()).expect("read template") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).expect("copy fixture");
    }
    dir
}

fn build_examples() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let at = |name: &str| dir.path().join(name).to_str().expect("utf-8").to_string();
    qemu_img(&["create", "-f", "raw", &at("disk.img"), "16M"]);
    qemu_img(&["create", "-f", "raw", &at("gpt.raw"), "16M"]);
    for (img, table) in [
        (
            "disk.img",
            "label: dos\nstart=2048, size=8192, type=83, bootable\nstart=10240, size=8192, type=8e\n",
        ),
        (
            "gpt.raw",
            "label: gpt\nstart=2048, size=8192, name=\"boot\"\nstart=10240, size=8192\n",
        ),
    ] {
        let mut cmd = std::process::Command::new("sfdisk");
        cmd.arg("-q").arg(at(img));
        let r = run_with_stdin(cmd, table);
        assert_eq!(r.status, 0, "sfdisk: {}", r.stderr);
    }
    // Partition 1 of disk.img holds an ext4 filesystem with the files examples name.
    let script = r#"
        set -e
        mkdir -p tree/etc tree/bin tree/run tree/dev
        printf 'NAME="Example"\nID=example\n' > tree/etc/os-release
        echo example > tree/etc/hostname
        echo 'root:x:0:0:root:/root:/bin/sh' > tree/etc/passwd
        echo '/dev/sda1 / ext4 defaults 0 1' > tree/etc/fstab
        echo 'x=1' > tree/etc/example.conf
        mkdir -p tree/etc/selinux/targeted/contexts/files
        printf '/.*\tsystem_u:object_r:default_t:s0\n/etc(/.*)?\tsystem_u:object_r:etc_t:s0\n/etc/passwd\tsystem_u:object_r:passwd_file_t:s0\n' > tree/etc/selinux/targeted/contexts/files/file_contexts
        ln -s /usr/share/zoneinfo/UTC tree/etc/localtime
        cp /bin/true tree/bin/ls
        mkfifo tree/run/initctl
        python3 -c 'import socket; socket.socket(socket.AF_UNIX).bind("tree/run/socket")'
        mknod tree/dev/null c 1 3 && mknod tree/dev/sda b 8 0
        setfattr -n security.selinux -v system_u:object_r:passwd_file_t:s0 tree/etc/passwd
        setfattr -h -n security.selinux -v system_u:object_r:locale_t:s0 tree/etc/localtime
        truncate -s 4M fs.img && mkfs.ext4 -q -d tree fs.img
        dd if=fs.img of=disk.img bs=512 seek=2048 conv=notrunc status=none
        tar -cf etc.tar -C tree etc
        rm -rf tree fs.img
    "#;
    let out = std::process::Command::new("sh")
        .args(["-c", script])
        .current_dir(dir.path())
        .output()
        .expect("sh");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    qemu_img(&["convert", "-O", "qcow2", &at("gpt.raw"), &at("disk.qcow2")]);
    qemu_img(&["create", "-f", "qcow2", &at("base.qcow2"), "16M"]);
    std::fs::write(dir.path().join("disk.raw"), vec![7u8; 1 << 20]).expect("disk.raw");
    dir
}

#[test]
fn every_registry_example_runs() {
    // edit/vi/emacs examples run these stand-in editors (they append a line).
    let bin = tempfile::tempdir().expect("bin");
    for editor in ["vi", "emacs"] {
        let path = bin.path().join(editor);
        std::fs::write(&path, "#!/bin/sh\necho edited >> \"$1\"\n").expect("editor");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut count = 0;
    for spec in registry() {
        assert!(!spec.examples.is_empty(), "{} has no example", spec.name);
        // Guest programs run in the appliance, on a real guest: tests/guest_commands.rs
        // runs them on the Debian fixture (the example disk has no programs).
        // The example disk has no XFS, and the checkers run in the appliance:
        // tests/appliance_fs.rs runs those against guestfish's records.
        if rfish::commands::guest::GUEST_COMMANDS.contains(&spec.name)
            || [
                "appliance-launch",
                "xfs-info",
                "xfs-repair",
                "xfs-admin",
                "fsck",
            ]
            .contains(&spec.name)
        {
            continue;
        }
        for example in spec.examples {
            let dir = example_dir();
            let mut cmd = rfish();
            cmd.current_dir(dir.path())
                .env("PATH", &path)
                .env("EDITOR", "vi")
                .args(["-a", "disk.img", "-a", "disk.qcow2"]);
            // Commands on guest files run with partition 1 mounted on /.
            let guest_path = spec.args.iter().any(|a| a.kind == ArgKind::Path);
            // inspect-get-* and friends ask about what inspect-os found; listing
            // applications reads the mounted guest.
            let prefix = if spec.name.starts_with("inspect-list-applications") {
                "inspect-os\nmount-ro /dev/sda1 /\n"
            } else if spec.name.starts_with("inspect-") && spec.name != "inspect-os" {
                "inspect-os\n"
            } else if ["delete-event", "list-events"].contains(&spec.name) {
                "event closed close \"echo closed\"\n"
            } else if guest_path
                || [
                    "umount", "more", "copy-out", "tar-out", "df", "df-h", "tar-in", "copy-in",
                    "edit", "setfiles",
                ]
                .contains(&spec.name)
            {
                "mount /dev/sda1 /\n"
            } else {
                ""
            };
            let r = run_with_stdin(cmd, &format!("{prefix}{example}\n"));
            assert_eq!(r.status, 0, "example {example:?} failed: {}", r.stderr);
            count += 1;
        }
    }
    assert!(count >= registry().len() - rfish::commands::guest::GUEST_COMMANDS.len() - 5);
}

#[test]
fn readme_lists_every_command() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let begin = readme
        .find("<!-- commands:begin -->")
        .expect("commands:begin marker");
    let end = readme
        .find("<!-- commands:end -->")
        .expect("commands:end marker");
    let listed = &readme[begin..end];
    let generated = rfish::commands::help::markdown_table();
    assert!(
        listed.contains(&generated),
        "README.md's command table is stale; regenerate it with `rfish --list-markdown`:\n{generated}"
    );
}
