//! Appliance groundwork, against the host's own tools: initramfs archives written by rfish
//! are read back by GNU cpio (types, sizes, contents), and the kernel modules resolved
//! from the host kernel's modules.dep load in an order modinfo agrees with.

mod common;

use std::process::Command;

use rfish::appliance::cpio::Cpio;
use rfish::appliance::modules::{ModuleIndex, WANTED, module_name};

#[test]
fn gnu_cpio_reads_the_initramfs_rfish_writes() {
    let mut c = Cpio::new();
    c.dir("/bin", 0o755);
    c.dir("/dev", 0o755);
    c.file("/init", 0o755, b"#!/bin/sh\nexec /bin/agent\n");
    let big: Vec<u8> = (0..100_003u32).map(|i| (i % 251) as u8).collect();
    c.file("/bin/agent", 0o755, &big);
    c.symlink("/bin/sh", "agent");
    c.char_device("/dev/console", 0o600, 5, 1);
    let archive = c.finish();
    let tmp = tempfile::tempdir().expect("tmp");
    let path = tmp.path().join("initrd.cpio");
    std::fs::write(&path, &archive).expect("write");
    let list = common::run_tool(
        Command::new("cpio")
            .args(["-itv", "--quiet", "-F"])
            .arg(&path),
    );
    let text = String::from_utf8_lossy(&list.stdout);
    for want in [
        "drwxr-xr-x",
        "-rwxr-xr-x   1 root     root       100003",
        "lrwxrwxrwx",
        "bin/sh -> agent",
        "crw-------",
    ] {
        assert!(text.contains(want), "{want}:\n{text}");
    }
    let out = tmp.path().join("x");
    std::fs::create_dir(&out).expect("dir");
    common::run_tool(
        Command::new("cpio")
            .args(["-idm", "--quiet", "--no-absolute-filenames", "-F"])
            .arg(&path)
            .current_dir(&out),
    );
    assert_eq!(std::fs::read(out.join("bin/agent")).expect("agent"), big);
    assert_eq!(
        std::fs::read_link(out.join("bin/sh"))
            .expect("link")
            .to_string_lossy(),
        "agent"
    );
}

#[test]
fn appliance_modules_load_after_their_dependencies_as_modinfo_says() {
    let Some(dir) = std::fs::read_dir("/lib/modules")
        .ok()
        .and_then(|d| d.flatten().map(|e| e.path()).max())
    else {
        eprintln!("no /lib/modules here: skipped");
        return;
    };
    let dep = std::fs::read_to_string(dir.join("modules.dep")).expect("modules.dep");
    let builtin = std::fs::read_to_string(dir.join("modules.builtin")).unwrap_or_default();
    let idx = ModuleIndex::parse(&dep, &builtin);
    let (order, missing) = idx.resolve(WANTED);
    assert!(!order.is_empty());
    eprintln!(
        "{} modules to load; not available: {missing:?}",
        order.len()
    );
    let position = |name: &str| order.iter().position(|p| module_name(p) == name);
    for (i, path) in order.iter().enumerate() {
        assert!(dir.join(path).exists(), "{path}");
        let info = common::run_tool(
            Command::new("modinfo")
                .args(["-F", "depends"])
                .arg(dir.join(path)),
        );
        for d in String::from_utf8_lossy(&info.stdout)
            .trim()
            .split(',')
            .filter(|d| !d.is_empty())
        {
            let d = d.replace('-', "_");
            if let Some(j) = position(&d) {
                assert!(j < i, "{path} needs {d}, loaded later");
            }
        }
    }
}
