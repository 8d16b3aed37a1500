//! Disk and device commands through the real binary, judged by guestfish itself (same
//! script, same output, same resulting images), by qemu-img, and by QEMU's locks.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::qemu::{self, qemu_img, qemu_io};
use common::{
    Run, guestfish, guestfish_errors_as_rfish, mask_drive_letters, rfish, run_with_stdin,
};

fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// rfish in `dir` with `args`, reading `script`.
fn rfish_in(dir: &Path, args: &[&str], script: &str) -> Run {
    let mut cmd = rfish();
    cmd.current_dir(dir).args(args);
    run_with_stdin(cmd, script)
}

#[test]
fn device_commands_match_guestfish_output_and_resulting_images() {
    let Some(mut gf) = guestfish() else {
        return;
    };
    let dirs = [
        tempfile::tempdir().expect("tmp"),
        tempfile::tempdir().expect("tmp"),
    ];
    for d in &dirs {
        std::fs::write(d.path().join("a.raw"), qemu::pattern(8 << 20, 1)).expect("a.raw");
        let b = d.path().join("b.qcow2");
        qemu_img(&["create", "-f", "qcow2", p(&b), "8M"]);
        qemu_io("qcow2", &b, &["write -P 0x61 65536 100000"]);
        std::fs::write(d.path().join("up.bin"), qemu::pattern(100_000, 2)).expect("up.bin");
    }
    let script = "run\n\
        list-devices\n\
        blockdev-getsize64 /dev/sda\n\
        blockdev-getsize64 /dev/sdb\n\
        blockdev-getsz /dev/sdb\n\
        blockdev-getss /dev/sda\n\
        blockdev-getbsz /dev/sda\n\
        blockdev-getro /dev/sda\n\
        pwrite-device /dev/sda \"hello\\x01world\" 1000\n\
        pwrite-device /dev/sdb \"abc\" 8388606\n\
        pwrite-device /dev/sdb \"\" 0\n\
        pread-device /dev/sda 20 995\n\
        pread-device /dev/sdb 10 8388600\n\
        pread-device /dev/sdb 10 8388608\n\
        pread-device /dev/sdb 3000 65000 | md5sum\n\
        upload up.bin /dev/sdb\n\
        pread-device /dev/sdb 16 99990\n\
        -pread-device /dev/sda 5 -1\n\
        -pwrite-device /dev/sda \"x\" -1\n\
        -pread-device /dev/sda 4194304 0\n\
        -blockdev-getsize64 /dev/sda1\n\
        -upload /nonexistent /dev/sda\n\
        blockdev-flushbufs /dev/sdb\n\
        download /dev/sdb out.raw\n\
        upload -<<END /dev/sda\n\
        here is a document\n\
        END\n\
        pread-device /dev/sda 24 0\n";
    // (Here-documents come last: rfish counts their lines in later FILE:LINE prefixes,
    // guestfish does not.)
    let args = ["-a", "a.raw", "--format=qcow2", "-a", "b.qcow2"];
    gf.current_dir(dirs[0].path()).args(args);
    let want = run_with_stdin(gf, script);
    let got = rfish_in(dirs[1].path(), &args, script);
    assert_eq!(want.status, 0, "guestfish: {}", want.stderr);
    assert_eq!(got.stdout, want.stdout, "stdout");
    // Appliance-side messages name the kernel's device, and guestfish's appliance does not
    // always enumerate its disks in the order added: compare with drive letters masked.
    assert_eq!(
        mask_drive_letters(&got.stderr),
        mask_drive_letters(&guestfish_errors_as_rfish(&want.stderr)),
        "stderr"
    );
    assert_eq!(got.status, want.status);
    for (name, fmt) in [("a.raw", "raw"), ("b.qcow2", "qcow2"), ("out.raw", "raw")] {
        let (code, text) = qemu::compare(
            &dirs[0].path().join(name),
            fmt,
            &dirs[1].path().join(name),
            fmt,
        );
        assert_eq!(code, 0, "{name}: {text}");
    }
    qemu::assert_clean(&dirs[1].path().join("b.qcow2"));
}

#[test]
fn disk_create_errors_match_guestfish() {
    let dir = tempfile::tempdir().expect("tmp");
    qemu_img(&["create", "-f", "raw", p(&dir.path().join("base.img")), "1M"]);
    let script = "-disk-create x.img vmdk 1M\n\
        -disk-create x.img raw 0\n\
        -disk-create x.img raw -5\n\
        -disk-create x.qcow2 qcow2 1M backingfile:base.img\n\
        -disk-create x.qcow2 qcow2 1M compat:0.9\n\
        -disk-create x.qcow2 qcow2 1M clustersize:1000\n\
        -disk-create x.qcow2 qcow2 1M clustersize:4194304\n\
        -disk-create x.img raw 1M preallocation:metadata\n\
        -disk-create x.img raw 1M backingformat:raw\n\
        -disk-create x.img raw 1M compat:1.1\n\
        -disk-create x.img raw 1M clustersize:65536\n\
        -disk-create /nonexistent/x.img raw 1M\n\
        -disk-create\n\
        -alloc\n\
        -sparse x.img\n\
        -sparse x.img -1\n\
        -sparse x.img 1x\n\
        -sparse x.img 0\n\
        -add-drive base.img label:a-b\n\
        -add-drive /nonexistent\n";
    let got = rfish_in(dir.path(), &[], script);
    let Some(mut gf) = guestfish() else {
        return;
    };
    gf.current_dir(dir.path());
    let want = run_with_stdin(gf, script);
    assert_eq!(got.stderr, guestfish_errors_as_rfish(&want.stderr));
    assert_eq!(got.stdout, want.stdout);
}

#[test]
fn disk_create_makes_images_qemu_img_accepts() {
    let dir = tempfile::tempdir().expect("tmp");
    let script = "disk-create v3.qcow2 qcow2 100M\n\
        disk-create v2.qcow2 qcow2 10M compat:0.10 clustersize:512\n\
        disk-create big.qcow2 qcow2 1T clustersize:2097152\n\
        disk-create meta.qcow2 qcow2 3M preallocation:metadata\n\
        disk-create sparse.img raw 50M\n\
        disk-create full.img raw 2M preallocation:full\n\
        disk-create top.qcow2 qcow2 -1 backingfile:v3.qcow2\n\
        disk-format v3.qcow2\n\
        disk-format sparse.img\n\
        disk-virtual-size top.qcow2\n\
        disk-virtual-size big.qcow2\n\
        disk-has-backing-file top.qcow2\n\
        disk-has-backing-file v3.qcow2\n";
    let r = rfish_in(dir.path(), &[], script);
    assert_eq!(r.stderr, "");
    assert_eq!(
        r.stdout,
        "qcow2\nraw\n104857600\n1099511627776\ntrue\nfalse\n"
    );
    for img in [
        "v3.qcow2",
        "v2.qcow2",
        "big.qcow2",
        "meta.qcow2",
        "top.qcow2",
    ] {
        qemu::assert_clean(&dir.path().join(img));
    }
    let info = |img: &str| qemu_img(&["info", "--output=json", p(&dir.path().join(img))]);
    assert!(info("v2.qcow2").contains("\"compat\": \"0.10\""));
    assert!(info("v2.qcow2").contains("\"cluster-size\": 512"));
    assert!(info("v3.qcow2").contains("\"compat\": \"1.1\""));
    assert!(info("big.qcow2").contains("\"cluster-size\": 2097152"));
    let top = info("top.qcow2");
    assert!(
        top.contains("\"backing-filename\": \"v3.qcow2\"")
            && top.contains("\"backing-filename-format\": \"qcow2\""),
        "{top}"
    );
    assert!(info("meta.qcow2").contains("\"virtual-size\": 3145728"));
    let map = qemu_img(&["map", "--output=json", p(&dir.path().join("meta.qcow2"))]);
    assert!(
        map.contains("\"data\": true"),
        "metadata preallocation allocates: {map}"
    );
    assert_eq!(
        std::fs::metadata(dir.path().join("sparse.img"))
            .expect("stat")
            .len(),
        50 << 20
    );
    // The same commands in guestfish (its disk-create runs qemu-img) make the same disks.
    let Some(mut gf) = guestfish() else {
        return;
    };
    let theirs = tempfile::tempdir().expect("tmp");
    gf.current_dir(theirs.path());
    let want = run_with_stdin(gf, script);
    assert_eq!(want.stdout, r.stdout);
    for img in [
        "v3.qcow2",
        "v2.qcow2",
        "meta.qcow2",
        "top.qcow2",
        "sparse.img",
        "full.img",
    ] {
        let fmt = if img.ends_with("img") { "raw" } else { "qcow2" };
        let (code, text) = qemu::compare(&theirs.path().join(img), fmt, &dir.path().join(img), fmt);
        assert_eq!(code, 0, "{img}: {text}");
    }
}

#[test]
fn read_only_drives_refuse_writes_and_overlays_keep_them_in_memory() {
    let dir = tempfile::tempdir().expect("tmp");
    let img = dir.path().join("d.qcow2");
    qemu_img(&["create", "-f", "qcow2", p(&img), "4M"]);
    let before = std::fs::read(&img).expect("read");
    let r = rfish_in(
        dir.path(),
        &["--ro", "-a", "d.qcow2"],
        "blockdev-getro /dev/sda\npwrite-device /dev/sda hi 0\n",
    );
    assert_eq!(r.stdout, "true\n");
    assert_eq!(
        r.stderr,
        "*stdin*:2: rfish: error: pwrite_device: /dev/sda: Read-only file system\n"
    );
    assert_eq!(r.status, 1);
    let r = rfish_in(
        dir.path(),
        &["--ro", "--overlay", "-a", "d.qcow2"],
        "blockdev-getro /dev/sda\npwrite-device /dev/sda hi 0\npread-device /dev/sda 2 0\nzero-device /dev/sda\npread-device /dev/sda 2 0 | od -An -c\n",
    );
    assert_eq!(r.stdout, "false\n2\nhi  \\0  \\0\n", "{}", r.stderr);
    let r = rfish_in(
        dir.path(),
        &[],
        "add d.qcow2 readonly:true\n-zero-device /dev/sda\nblockdev-setro /dev/sda\nblockdev-getro /dev/sda\n",
    );
    assert!(
        r.stderr
            .contains("zero_device: /dev/sda: Read-only file system"),
        "{}",
        r.stderr
    );
    assert_eq!(r.stdout, "true\n");
    let r = rfish_in(
        dir.path(),
        &["-a", "d.qcow2"],
        "blockdev-setro /dev/sda\n-pwrite-device /dev/sda x 0\nblockdev-setrw /dev/sda\nblockdev-getro /dev/sda\n",
    );
    assert!(
        r.stderr
            .contains("pwrite_device: /dev/sda: Read-only file system")
    );
    assert_eq!(r.stdout, "false\n");
    assert!(
        std::fs::read(&img).expect("read") == before,
        "the image changed"
    );
}

#[test]
fn drives_can_be_added_after_first_use_and_minus_n_creates_a_disk() {
    let dir = tempfile::tempdir().expect("tmp");
    let r = rfish_in(
        dir.path(),
        &["-N", "disk:10M"],
        "list-devices\nsparse extra.img 1M\nlist-devices\nblockdev-getsize64 /dev/sdb\nalloc more.img 64k\nblockdev-getsize64 /dev/sdc\n",
    );
    assert_eq!(r.stderr, "");
    assert_eq!(r.stdout, "/dev/sda\n/dev/sda\n/dev/sdb\n1048576\n65536\n");
    assert_eq!(
        std::fs::metadata(dir.path().join("test1.img"))
            .expect("test1.img")
            .len(),
        10 << 20
    );
    let r = rfish_in(dir.path(), &["-N", "lv"], "");
    assert_eq!(r.status, 1);
    assert!(r.stderr.contains("-N lv needs LVM writing"), "{}", r.stderr);
}

#[test]
fn download_of_a_device_is_sparse_and_equals_qemu_img_convert() {
    let dir = tempfile::tempdir().expect("tmp");
    let img = dir.path().join("s.qcow2");
    qemu_img(&["create", "-f", "qcow2", p(&img), "512M"]);
    qemu_io(
        "qcow2",
        &img,
        &["write -P 0x5a 1M 64k", "write -P 0x33 300M 1M"],
    );
    let r = rfish_in(
        dir.path(),
        &["--ro", "-a", "s.qcow2"],
        "download /dev/sda out.raw\ndownload /dev/sda - | md5sum\n",
    );
    assert_eq!(r.stderr, "");
    let out = dir.path().join("out.raw");
    let (code, text) = qemu::compare(&img, "qcow2", &out, "raw");
    assert_eq!(code, 0, "{text}");
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(&out).expect("stat");
    assert_eq!(meta.len(), 512 << 20);
    assert!(
        meta.blocks() * 512 < 8 << 20,
        "download is not sparse: {} blocks",
        meta.blocks()
    );
    let md5 = Command::new("md5sum").arg(&out).output().expect("md5sum");
    let want = String::from_utf8_lossy(&md5.stdout);
    assert_eq!(
        r.stdout.split_whitespace().next(),
        want.split_whitespace().next()
    );
}

/// Wait until some process holds an OFD lock on `path` (per /proc/locks).
fn wait_for_lock(path: &Path) {
    use std::os::unix::fs::MetadataExt;
    let ino = std::fs::metadata(path).expect("stat").ino();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let locks = std::fs::read_to_string("/proc/locks").unwrap_or_default();
        if locks
            .lines()
            .any(|l| l.contains("OFDLCK") && l.contains(&format!(":{ino} ")))
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("no lock appeared on {}", path.display());
}

fn qemu_io_holding(img: &Path, read_only: bool) -> std::process::Child {
    let mut cmd = Command::new("qemu-io");
    if read_only {
        cmd.arg("-r");
    }
    let child = cmd
        .args(["-f", "qcow2", "-c", "sleep 60000"])
        .arg(img)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn qemu-io");
    wait_for_lock(img);
    child
}

#[test]
fn images_in_use_by_qemu_are_refused_and_qemu_is_refused_ours() {
    let dir = tempfile::tempdir().expect("tmp");
    let img = dir.path().join("vm.qcow2");
    qemu_img(&["create", "-f", "qcow2", p(&img), "4M"]);

    // A running writer (a VM): rfish refuses read-write and read-only access.
    let mut vm = qemu_io_holding(&img, false);
    for args in [&["-a", "vm.qcow2"][..], &["--ro", "-a", "vm.qcow2"][..]] {
        let r = rfish_in(dir.path(), args, "blockdev-getsize64 /dev/sda\n");
        assert_eq!(r.status, 1, "{args:?}");
        assert!(
            r.stderr.contains("Failed to get") && r.stderr.contains("lock"),
            "{}",
            r.stderr
        );
    }
    vm.kill().ok();
    vm.wait().ok();

    // A read-only user: rfish --ro shares it, rfish read-write does not.
    let mut reader = qemu_io_holding(&img, true);
    let r = rfish_in(
        dir.path(),
        &["--ro", "-a", "vm.qcow2"],
        "blockdev-getsize64 /dev/sda\n",
    );
    assert_eq!(
        (r.status, r.stdout.as_str()),
        (0, "4194304\n"),
        "{}",
        r.stderr
    );
    let r = rfish_in(
        dir.path(),
        &["-a", "vm.qcow2"],
        "blockdev-getsize64 /dev/sda\n",
    );
    assert_eq!(r.status, 1);
    reader.kill().ok();
    reader.wait().ok();

    // rfish editing the image: QEMU refuses to open it.
    let mut ours = rfish();
    ours.current_dir(dir.path())
        .args(["-a", "vm.qcow2"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = ours.spawn().expect("spawn rfish");
    let mut stdin = child.stdin.take().expect("stdin");
    writeln!(stdin, "blockdev-getsize64 /dev/sda").expect("write");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read");
    assert_eq!(line, "4194304\n");
    let out = Command::new("qemu-io")
        .args(["-f", "qcow2", "-c", "read 0 512"])
        .arg(&img)
        .output()
        .expect("qemu-io");
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("Failed to get") && text.contains("lock"),
        "qemu-io opened an image rfish holds: {text}"
    );
    drop(stdin);
    assert!(child.wait().expect("wait").success());
}
