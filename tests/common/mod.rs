//! Helpers shared by the integration tests: run the real `rfish` binary (and, where the
//! test compares, the real `guestfish`) and capture what a user would see.

#![allow(dead_code)]

pub mod qemu;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// What a run printed and how it ended.
#[derive(Debug)]
pub struct Run {
    pub stdout: String,
    pub stderr: String,
    pub status: i32,
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Run {
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
            status: o.status.code().unwrap_or(-1),
        }
    }
}

/// The rfish binary built for this test run, with a clean, colourless environment.
pub fn rfish() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rfish"));
    cmd.env("NO_COLOR", "1").env("LC_ALL", "C");
    cmd
}

/// Run `cmd` with `stdin` as its standard input.
pub fn run_with_stdin(mut cmd: Command, stdin: &str) -> Run {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin.as_bytes()).expect("write stdin");
    drop(input);
    child.wait_with_output().expect("wait").into()
}

/// rfish reading a script on standard input.
pub fn rfish_script(script: &str) -> Run {
    run_with_stdin(rfish(), script)
}

/// rfish with commands on its command line (standard input empty).
pub fn rfish_args(args: &[&str]) -> Run {
    let mut cmd = rfish();
    cmd.args(args);
    run_with_stdin(cmd, "")
}

/// The real guestfish, set up to never need a VM for fish-only commands. `None` when it is
/// not installed, unless RFISH_REQUIRE_PEERS=1 (set by the CI script), which makes a
/// missing peer a failure rather than a skip.
pub fn guestfish() -> Option<Command> {
    let found = Path::new("/usr/bin/guestfish").exists();
    if !found {
        assert!(
            std::env::var_os("RFISH_REQUIRE_PEERS").is_none(),
            "guestfish is required (RFISH_REQUIRE_PEERS is set): apt-get install libguestfs-tools"
        );
        eprintln!("guestfish not installed: comparison skipped");
        return None;
    }
    let mut cmd = Command::new("/usr/bin/guestfish");
    cmd.env("LC_ALL", "C")
        .env("LIBGUESTFS_BACKEND", "direct")
        .env("LIBGUESTFS_BACKEND_SETTINGS", "force_tcg");
    Some(cmd)
}

/// Replace guestfish's name in its messages so they can be compared with rfish's (rfish has
/// no manual page: its hint points at `rfish --help` instead of `man guestfish`).
pub fn as_rfish(text: &str) -> String {
    text.replace("man guestfish", "rfish --help")
        .replace("guestfish", "rfish")
}

/// guestfish's standard error as rfish would print it: library errors renamed, guestfish's
/// name replaced, and its warnings (which depend on the appliance's mood) dropped.
pub fn guestfish_errors_as_rfish(text: &str) -> String {
    as_rfish(&text.replace("libguestfs: error: ", "rfish: error: "))
        .lines()
        .filter(|l| !l.contains("libguestfs: warning:") && !l.contains("rfish: warning:"))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// `/dev/sdX` with the drive letter replaced by `?`. Appliance-side messages name the
/// guest kernel's device, and guestfish's appliance does not always enumerate its disks in
/// the order they were added, so comparisons of messages mask the letter.
pub fn mask_drive_letters(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("/dev/sd") {
        let at = i + "/dev/sd".len();
        out.push_str(&rest[..at]);
        let mut chars = rest[at..].chars();
        if chars.next().is_some() {
            out.push('?');
        }
        rest = chars.as_str();
    }
    out.push_str(rest);
    out
}

/// Build (once per target directory, under a lock shared by all test binaries) the
/// fixtures a testdata script makes, and return their directory.
pub fn fixtures(script: &str) -> std::path::PathBuf {
    let name = Path::new(script)
        .file_stem()
        .expect("script name")
        .to_string_lossy()
        .into_owned();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("fixtures")
        .join(&name);
    std::fs::create_dir_all(&dir).expect("fixture dir");
    let script_path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(script);
    let lock = dir.with_extension("lock");
    let out = Command::new("flock")
        .arg(&lock)
        .arg(&script_path)
        .arg(&dir)
        .output()
        .expect("run fixture script");
    assert!(
        out.status.success(),
        "{script} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}

/// The script `testdata/record-guestfish.sh` feeds guestfish for NAME, so rfish can run
/// the very same lines (line numbers in error messages match).
pub fn record_script(name: &str, image: &str) -> String {
    let cmds = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/guestfish")
            .join(format!("{name}.cmds")),
    )
    .expect("read .cmds");
    let format = if image.ends_with(".qcow2") {
        "qcow2"
    } else {
        "raw"
    };
    let mut s = format!("add {image} readonly:true format:{format}\nrun\n");
    for line in cmds.lines().filter(|l| !l.is_empty()) {
        let marker = format!("### {}", line.replace('"', "\\\""));
        s.push_str(&format!(
            "echo \"{marker}\"\necho \"{marker}\" | cat 1>&2\n{line}\n"
        ));
    }
    s
}

/// [`record_script`] for a record made with the disk read-write (`record-guestfish.sh ...
/// rw`).
pub fn record_script_rw(name: &str, image: &str) -> String {
    record_script(name, image).replacen(" readonly:true", "", 1)
}

/// guestfish's recorded (stdout, stderr) for NAME.
pub fn record(name: &str) -> (Vec<u8>, String) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/guestfish");
    let out = std::fs::read(dir.join(format!("{name}.out"))).expect("read .out");
    let err = std::fs::read_to_string(dir.join(format!("{name}.err"))).expect("read .err");
    (out, err)
}

/// rfish's run of `record_script(name, ..)` printed what guestfish recorded for NAME: the
/// same standard output, the same errors (the one-line notice of machines whose KVM does
/// not work aside), status 0.
pub fn assert_like_record(name: &str, out: &[u8], err: &str, status: i32) {
    let (want_out, want_err) = record(name);
    let err: String = err
        .lines()
        .filter(|l| !l.starts_with("rfish: KVM does not work"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(err, guestfish_errors_as_rfish(&want_err), "{name}");
    assert_eq!(status, 0, "{name}: {err}");
    assert_same_output(
        &String::from_utf8_lossy(out),
        &String::from_utf8_lossy(&want_out),
    );
}

/// Run rfish with `args` in `dir` on `script` as standard input; returns the raw standard
/// output (it may hold binary data), standard error and the exit status. The script is fed
/// from another thread: a long script's output would otherwise fill the stdout pipe while
/// this thread is still writing stdin.
pub fn rfish_raw(dir: &Path, args: &[&str], script: &str) -> (Vec<u8>, String, i32) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rfish"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn rfish");
    let mut stdin = child.stdin.take().expect("stdin");
    let input = script.as_bytes().to_vec();
    let feeder = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().expect("wait");
    feeder.join().expect("feeder").expect("write script");
    (
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code().unwrap_or(-1),
    )
}

/// Fail with the first differing line when rfish's standard output is not guestfish's.
pub fn assert_same_output(got: &str, want: &str) {
    if got != want {
        let first = got
            .lines()
            .zip(want.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(0);
        panic!(
            "stdout differs from guestfish's at line {}:\n  rfish:     {:?}\n  guestfish: {:?}",
            first + 1,
            got.lines().nth(first),
            want.lines().nth(first)
        );
    }
}

/// A small deterministic generator (xorshift), so a failing hostile-input case can be
/// replayed.
pub struct Rng(pub u64);

impl Rng {
    /// The next value.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Run a tool that must succeed; its output (the failure message shows both streams).
#[allow(dead_code)]
pub fn run_tool(cmd: &mut Command) -> std::process::Output {
    let out = cmd.output().expect("run tool");
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `e2fsck -fn` finds nothing on `img` (exit status 0).
#[allow(dead_code)]
pub fn assert_fsck_clean(img: &Path) {
    let out = Command::new("e2fsck")
        .arg("-fn")
        .arg(img)
        .output()
        .expect("e2fsck");
    assert_eq!(
        out.status.code(),
        Some(0),
        "e2fsck -fn {}:\n{}{}",
        img.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A raw ext2/3/4 image opened read-only by rfish's own reader and mounted on `/`.
#[allow(dead_code)]
pub fn open_ext4(img: &Path) -> rfish::fs::vfs::Vfs {
    use rfish::block::{self, OpenOptions};
    let dev = block::open_image(
        img,
        &OpenOptions {
            format: Some(block::ImageFormat::Raw),
            read_only: true,
            lock: false,
        },
    )
    .expect("open image");
    let fs = rfish::fs::ext4::Ext4::open(dev).expect("open ext4");
    let mut vfs = rfish::fs::vfs::Vfs::default();
    vfs.mount(rfish::fs::vfs::Mount {
        device: "/dev/sda".into(),
        mountpoint: "/".into(),
        fs: std::sync::Arc::new(fs),
        read_only: true,
        options: String::new(),
    })
    .expect("mount");
    vfs
}

/// The server PID `rfish --listen` printed (`GUESTFISH_PID=PID; export GUESTFISH_PID`).
pub fn listen_pid(stdout: &str) -> Option<u32> {
    stdout
        .strip_prefix("GUESTFISH_PID=")?
        .strip_suffix("; export GUESTFISH_PID\n")?
        .parse()
        .ok()
}

/// Whether this machine can boot the appliance (else the reason).
pub fn appliance_possible() -> bool {
    let qemu = Command::new("qemu-system-x86_64")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let kernel = rfish::appliance::build::find_kernel().is_ok();
    if qemu && kernel {
        return true;
    }
    let why = format!("no appliance possible here (qemu: {qemu}, kernel: {kernel})");
    assert!(std::env::var_os("RFISH_REQUIRE_PEERS").is_none(), "{why}");
    eprintln!("{why}: skipped");
    false
}

/// A partition of a qcow2 image as a raw file (for debugfs and e2fsck).
pub fn partition_raw(img: &Path, dir: &Path, part: usize) -> std::path::PathBuf {
    let raw = dir.join("disk.raw");
    run_tool(
        Command::new("qemu-img")
            .args(["convert", "-O", "raw"])
            .arg(img)
            .arg(&raw),
    );
    let dump = run_tool(Command::new("sfdisk").arg("--json").arg(&raw));
    let text = String::from_utf8_lossy(&dump.stdout);
    // "start": N, "size": M of partition `part` (1-based), in sfdisk's JSON order.
    let nums = |key: &str| -> Vec<u64> {
        text.match_indices(key)
            .map(|(i, _)| {
                text[i + key.len()..]
                    .trim_start_matches([':', ' '])
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect::<String>()
                    .parse()
                    .expect("number")
            })
            .collect()
    };
    let (start, size) = (nums("\"start\"")[part - 1], nums("\"size\"")[part - 1]);
    let out = dir.join(format!("part{part}.raw"));
    run_tool(
        Command::new("dd")
            .arg(format!("if={}", raw.display()))
            .arg(format!("of={}", out.display()))
            .args(["bs=512", "status=none", "conv=sparse"])
            .arg(format!("skip={start}"))
            .arg(format!("count={size}")),
    );
    std::fs::remove_file(&raw).expect("rm raw");
    out
}
