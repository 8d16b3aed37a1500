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
