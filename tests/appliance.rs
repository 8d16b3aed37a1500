//! Appliance groundwork, against the host's own tools: initramfs archives written by rfish
//! are read back by GNU cpio (types, sizes, contents), and the kernel modules resolved
//! from the host kernel's modules.dep load in an order modinfo agrees with.

mod common;

use std::process::Command;

use rfish::appliance::cpio::Cpio;
use rfish::appliance::modules::{ModuleIndex, module_name, wanted};

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
    let (order, missing) = idx.resolve(&wanted());
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

#[test]
fn the_initramfs_holds_the_agent_and_the_modules_in_load_order() {
    let kernel = match rfish::appliance::build::find_kernel() {
        Ok(k) => k,
        Err(e) => {
            eprintln!("no kernel here ({e}): skipped");
            return;
        }
    };
    if !kernel.modules.join("modules.dep").exists() {
        eprintln!("no modules for {}: skipped", kernel.version);
        return;
    }
    let agent = b"\x7fELF not really an agent".to_vec();
    let payload = rfish::appliance::build::Payload {
        agent: agent.clone(),
        ..Default::default()
    };
    let tmp = tempfile::tempdir().expect("tmp");
    // SAFETY-free: the cache location comes from the environment of the child below.
    let out = Command::new(env!("CARGO_BIN_EXE_rfish"))
        .arg("--version")
        .output();
    assert!(out.is_ok());
    let (archive, missing) =
        rfish::appliance::build::initramfs(&kernel, &payload).expect("initramfs");
    eprintln!("{} bytes, modules not found: {missing:?}", archive.len());
    let path = tmp.path().join("initrd");
    std::fs::write(&path, &archive).expect("write");
    let list = common::run_tool(
        Command::new("cpio")
            .args(["-it", "--quiet", "-F"])
            .arg(&path),
    );
    let names: Vec<String> = String::from_utf8_lossy(&list.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    assert!(names.contains(&"init".to_string()), "{names:?}");
    assert!(names.contains(&"dev/console".to_string()));
    let ext4 = names
        .iter()
        .find(|n| n.ends_with("/ext4.ko") || n.contains("/ext4.ko."))
        .expect("ext4 module (or built in)");
    // Every file's parent directory comes before it (the kernel's unpacker needs that).
    for (i, n) in names.iter().enumerate() {
        if let Some((parent, _)) = n.rsplit_once('/') {
            assert!(
                names[..i].contains(&parent.to_string()),
                "{n} before its directory"
            );
        }
    }
    let x = tmp.path().join("x");
    std::fs::create_dir(&x).expect("dir");
    common::run_tool(
        Command::new("cpio")
            .args(["-idm", "--quiet", "--no-absolute-filenames", "-F"])
            .arg(&path)
            .current_dir(&x),
    );
    assert_eq!(std::fs::read(x.join("init")).expect("init"), agent);
    let order = std::fs::read_to_string(x.join("modules")).expect("modules");
    assert!(order.lines().any(|l| l == format!("ext4 /{ext4}")));
    // The module is packed decompressed (and unsigned where the kernel does not insist),
    // so the appliance's kernel neither inflates nor verifies it at every boot: modinfo
    // reads the same module, the bytes are the host module's, decompressed, cut before
    // the signature.
    let packed_path = x.join(ext4);
    let packed = std::fs::read(&packed_path).expect("module");
    assert!(packed.starts_with(b"\x7fELF"), "{ext4} is not decompressed");
    let rel = ext4
        .split_once(&format!("lib/modules/{}/", kernel.version))
        .map_or(ext4.as_str(), |(_, r)| r);
    let host = std::fs::read_dir(kernel.modules.join(rel).parent().expect("dir"))
        .expect("host dir")
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("ext4.ko"))
        })
        .expect("host ext4 module");
    let modinfo = |path: &std::path::Path, field: &str| {
        let o = common::run_tool(Command::new("modinfo").args(["-F", field]).arg(path));
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    assert_eq!(modinfo(&packed_path, "name"), "ext4");
    assert_eq!(
        modinfo(&packed_path, "vermagic"),
        modinfo(&host, "vermagic")
    );
    assert_eq!(modinfo(&packed_path, "depends"), modinfo(&host, "depends"));
    let plain = if host.to_string_lossy().ends_with(".xz") {
        common::run_tool(Command::new("xz").arg("-dc").arg(&host)).stdout
    } else {
        std::fs::read(&host).expect("host module")
    };
    assert!(plain.starts_with(&packed));
    let signed = !modinfo(&host, "sig_id").is_empty();
    if signed && !rfish::appliance::kofile::signatures_enforced(&kernel.version) {
        assert!(modinfo(&packed_path, "sig_id").is_empty());
        assert!(packed.len() < plain.len());
    } else {
        assert_eq!(packed, plain);
    }
}

#[test]
fn concurrent_builders_share_one_cached_initramfs() {
    let Ok(kernel) = rfish::appliance::build::find_kernel() else {
        eprintln!("no kernel here: skipped");
        return;
    };
    if !kernel.modules.join("modules.dep").exists() {
        return;
    }
    let cache = tempfile::tempdir().expect("cache");
    let agent = rfish::appliance::build::Payload {
        agent: b"agent v1".to_vec(),
        ..Default::default()
    };
    let paths: Vec<std::path::PathBuf> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    rfish::appliance::build::cached_initramfs(cache.path(), &kernel, &agent)
                        .expect("build")
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    assert!(paths.windows(2).all(|w| w[0] == w[1]));
    let files: Vec<_> = std::fs::read_dir(cache.path())
        .expect("dir")
        .flatten()
        .collect();
    assert_eq!(files.len(), 1, "temporary files left behind");
    let (fresh, _) = rfish::appliance::build::initramfs(&kernel, &agent).expect("build");
    assert_eq!(std::fs::read(&paths[0]).expect("cached"), fresh);
    // Another agent gets its own file.
    let other = rfish::appliance::build::cached_initramfs(
        cache.path(),
        &kernel,
        &rfish::appliance::build::Payload {
            agent: b"agent v2".to_vec(),
            ..Default::default()
        },
    )
    .expect("build");
    assert_ne!(other, paths[0]);
}

#[test]
fn the_agent_ships_with_what_ldd_says_it_needs_and_runs_cut_short() {
    let agent = std::path::Path::new(env!("CARGO_BIN_EXE_rfish-agent"));
    let (files, missing) = rfish::appliance::libs::closure(&[agent]);
    assert!(missing.is_empty(), "{missing:?}");
    // ldd's resolution (through the real dynamic loader) names the same files.
    let ldd = common::run_tool(Command::new("ldd").arg(agent));
    let text = String::from_utf8_lossy(&ldd.stdout);
    let mut want: Vec<String> = text
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            match l.split_once(" => ") {
                Some((_, rest)) => rest.split_whitespace().next().map(str::to_string),
                None => l
                    .split_whitespace()
                    .next()
                    .filter(|p| p.starts_with('/'))
                    .map(str::to_string),
            }
        })
        .collect();
    want.sort();
    let canonical = |p: &str| std::fs::canonicalize(p).expect("exists");
    let got: Vec<std::path::PathBuf> = files
        .values()
        .map(|p| canonical(&p.to_string_lossy()))
        .collect();
    for w in &want {
        assert!(got.contains(&canonical(w)), "{w} missing from {files:?}");
    }
    assert_eq!(files.len(), want.len(), "{files:?} vs {want:?}");
    // Cut after its last loadable segment (no section headers, no DWARF), the agent
    // still loads and runs: outside the appliance it says it is PID 1's program.
    let bytes = std::fs::read(agent).expect("agent");
    let cut = rfish::appliance::libs::loadable_prefix(&bytes).expect("ELF");
    assert!(cut.len() <= bytes.len());
    let tmp = tempfile::tempdir().expect("tmp");
    let path = tmp.path().join("agent");
    std::fs::write(&path, &cut).expect("write");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let out = Command::new(&path).output().expect("run the cut agent");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("runs as PID 1 only"));
    // readelf agrees there is nothing but segments left.
    let re = Command::new("readelf")
        .args(["-S", "-l"])
        .arg(&path)
        .output();
    if let Ok(re) = re {
        let t = String::from_utf8_lossy(&re.stdout);
        assert!(t.contains("There are no sections in this file"), "{t}");
    }
}

#[test]
fn the_cache_keeps_the_recently_used_initramfs_files_only() {
    let cache = tempfile::tempdir().expect("cache");
    let hour = std::time::Duration::from_secs(3600);
    let now = std::time::SystemTime::now();
    // Five builds, used 5, 4, 3, 2 hours and 1 minute ago, and an unrelated file.
    for (i, age) in [5 * 3600, 4 * 3600, 3 * 3600, 2 * 3600, 60]
        .iter()
        .enumerate()
    {
        let p = cache.path().join(format!("initramfs-k-0.1.0-{i:08x}.cpio"));
        let f = std::fs::File::create(&p).expect("file");
        f.set_modified(now - std::time::Duration::from_secs(*age))
            .expect("mtime");
    }
    std::fs::write(cache.path().join("other.txt"), "x").expect("other");
    rfish::appliance::build::prune(cache.path(), 2, hour);
    let mut left: Vec<String> = std::fs::read_dir(cache.path())
        .expect("dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(
        left,
        [
            "initramfs-k-0.1.0-00000003.cpio",
            "initramfs-k-0.1.0-00000004.cpio",
            "other.txt"
        ]
    );
    // Within the grace period nothing goes, however many there are.
    rfish::appliance::build::prune(cache.path(), 0, 3 * hour);
    assert_eq!(std::fs::read_dir(cache.path()).expect("dir").count(), 3);
}
