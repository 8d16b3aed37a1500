//! The NBD export (`rfish --nbd SOCKET -a IMAGE`), judged by QEMU's own NBD client: a
//! qemu-io workload through the export must leave the qcow2 image byte for byte equal
//! (`qemu-img compare`) to a raw image that got the same workload from QEMU directly, and
//! `qemu-img check` clean; read-only exports refuse writes; protocol garbage from one
//! client does not stop the server.

mod common;

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command};

struct Export {
    child: Child,
    uri: String,
}

impl Export {
    fn start(dir: &Path, args: &[&str]) -> Export {
        let sock = dir.join("nbd.sock");
        let child = Command::new(env!("CARGO_BIN_EXE_rfish"))
            .arg("--nbd")
            .arg(&sock)
            .args(args)
            .current_dir(dir)
            .spawn()
            .expect("rfish --nbd");
        for _ in 0..200 {
            if sock.exists() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(sock.exists(), "the export did not start");
        Export {
            child,
            uri: format!("nbd+unix:///?socket={}", sock.display()),
        }
    }
}

impl Drop for Export {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn qemu_io(target: &[&str], cmds: &[String]) -> String {
    let mut c = Command::new("qemu-io");
    c.args(target);
    for cmd in cmds {
        c.args(["-c", cmd]);
    }
    let out = common::run_tool(&mut c);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A workload of patterned writes, zero writes and discards across the disk.
fn workload() -> Vec<String> {
    let mut cmds = Vec::new();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..60 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let offset = (x % (60 << 20)) & !511;
        let len = ((x >> 32) % (512 << 10)).max(512) & !511;
        cmds.push(match i % 5 {
            3 => format!("write -z {offset} {len}"),
            4 => format!("discard {offset} {len}"),
            _ => format!("write -P {} {offset} {len}", i + 1),
        });
    }
    cmds.push("flush".into());
    cmds
}

#[test]
fn a_qemu_io_workload_through_the_export_equals_qemu_on_a_raw_image() {
    let tmp = tempfile::tempdir().expect("tmp");
    let qcow = tmp.path().join("a.qcow2");
    let raw = tmp.path().join("b.raw");
    common::run_tool(
        Command::new("qemu-img")
            .args(["create", "-q", "-f", "qcow2"])
            .arg(&qcow)
            .arg("64M"),
    );
    common::run_tool(
        Command::new("qemu-img")
            .args(["create", "-q", "-f", "raw"])
            .arg(&raw)
            .arg("64M"),
    );
    let cmds = workload();
    {
        let export = Export::start(tmp.path(), &["-a", "a.qcow2"]);
        qemu_io(&["-f", "raw", &export.uri], &cmds);
        let info =
            common::run_tool(Command::new("qemu-img").args(["info", "--output=json", &export.uri]));
        assert!(String::from_utf8_lossy(&info.stdout).contains("\"virtual-size\": 67108864"));
    }
    qemu_io(&["-f", "raw", raw.to_str().expect("utf-8")], &cmds);
    common::run_tool(Command::new("qemu-img").arg("check").arg(&qcow));
    common::run_tool(
        Command::new("qemu-img")
            .args(["compare", "-f", "qcow2", "-F", "raw"])
            .arg(&qcow)
            .arg(&raw),
    );
}

#[test]
fn read_only_exports_refuse_writes_and_garbage_does_not_stop_the_server() {
    let tmp = tempfile::tempdir().expect("tmp");
    let img = tmp.path().join("r.qcow2");
    common::run_tool(
        Command::new("qemu-img")
            .args(["create", "-q", "-f", "qcow2"])
            .arg(&img)
            .arg("16M"),
    );
    common::run_tool(
        Command::new("qemu-io")
            .args(["-f", "qcow2"])
            .arg(&img)
            .args(["-c", "write -P 7 0 1M"]),
    );
    let export = Export::start(tmp.path(), &["--ro", "-a", "r.qcow2"]);
    // A client that sends nonsense after the greeting.
    {
        let mut s =
            std::os::unix::net::UnixStream::connect(tmp.path().join("nbd.sock")).expect("connect");
        let mut greeting = [0u8; 18];
        s.read_exact(&mut greeting).expect("greeting");
        assert_eq!(&greeting[..8], b"NBDMAGIC");
        s.write_all(&[0, 0, 0, 3]).expect("flags");
        s.write_all(b"this is not an option header at all")
            .expect("garbage");
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest);
    }
    let out = Command::new("qemu-io")
        .args(["-f", "raw", &export.uri, "-c", "write -P 1 0 4k"])
        .output()
        .expect("qemu-io");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    // qemu sees the read-only flag and refuses to open the export for writing.
    assert!(
        text.contains("Operation not permitted") || text.contains("Permission denied"),
        "{text}"
    );
    let read = qemu_io(
        &["-f", "raw", "-r", &export.uri],
        &["read -P 7 0 1M".into()],
    );
    assert!(read.contains("read 1048576/1048576"), "{read}");
}

#[test]
fn libnbd_clients_agree_nbdinfo_and_nbdcopy() {
    let have = |t: &str| Command::new(t).arg("--version").output().is_ok();
    if !have("nbdinfo") || !have("nbdcopy") {
        assert!(
            std::env::var_os("RFISH_REQUIRE_PEERS").is_none(),
            "nbdinfo/nbdcopy (libnbd-bin) missing"
        );
        eprintln!("no libnbd-bin here: skipped");
        return;
    }
    let tmp = tempfile::tempdir().expect("tmp");
    let raw = tmp.path().join("src.raw");
    common::qemu::islands_raw(&raw, 24 << 20, 7);
    common::run_tool(
        Command::new("qemu-img")
            .args(["convert", "-O", "qcow2", "-c"])
            .arg(&raw)
            .arg(tmp.path().join("src.qcow2")),
    );
    let export = Export::start(tmp.path(), &["-a", "src.qcow2"]);
    let info = common::run_tool(Command::new("nbdinfo").args(["--json", &export.uri]));
    let json = String::from_utf8_lossy(&info.stdout);
    assert!(
        json.contains(&format!("\"export-size\": {}", 24 << 20)),
        "{json}"
    );
    for flag in ["can_flush", "can_trim", "can_zero"] {
        assert!(
            json.contains(&format!("\"{flag}\": true")),
            "{flag}: {json}"
        );
    }
    // A whole-image copy through libnbd equals the source bytes.
    let copy = tmp.path().join("copy.raw");
    common::run_tool(Command::new("nbdcopy").arg(&export.uri).arg(&copy));
    assert_eq!(
        std::fs::read(&copy).expect("copy"),
        std::fs::read(&raw).expect("src")
    );
    // And back: writes (and zeroes) through nbdcopy land in the qcow2 intact.
    let other = tmp.path().join("other.raw");
    common::qemu::islands_raw(&other, 24 << 20, 99);
    common::run_tool(Command::new("nbdcopy").arg(&other).arg(&export.uri));
    drop(export);
    common::run_tool(
        Command::new("qemu-img")
            .arg("check")
            .arg(tmp.path().join("src.qcow2")),
    );
    common::run_tool(
        Command::new("qemu-img")
            .args(["compare", "-f", "qcow2", "-F", "raw"])
            .arg(tmp.path().join("src.qcow2"))
            .arg(&other),
    );
}
