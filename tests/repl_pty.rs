//! The interactive shell through a real pseudo-terminal: banner and prompt, Tab completion,
//! history recall (and its file), Ctrl-C abandoning a line, errors that do not exit, Ctrl-D.

mod common;

use std::process::Command;

use rexpect::session::{PtySession, spawn_command};

const TIMEOUT_MS: u64 = 10_000;

fn start(home: &std::path::Path) -> PtySession {
    start_in(home, std::path::Path::new("."), &[])
}

/// rfish for a pty: HOME (for its history) in `home`, a known terminal, no colour.
fn pty_command(home: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rfish"));
    cmd.env("HOME", home)
        .env("TERM", "xterm")
        .env("NO_COLOR", "1")
        .env_remove("RFISH_PS1");
    cmd
}

/// rfish on a pty with `args`, in `dir`, past its banner and first prompt.
fn start_in(home: &std::path::Path, dir: &std::path::Path, args: &[&str]) -> PtySession {
    let mut cmd = pty_command(home);
    cmd.current_dir(dir).args(args);
    let mut p = spawn_command(cmd, Some(TIMEOUT_MS)).expect("spawn rfish on a pty");
    p.exp_string("Welcome to rfish").expect("banner");
    p.exp_string("><fs> ").expect("prompt");
    p
}

#[test]
fn tab_completes_a_command_name() {
    let home = tempfile::tempdir().expect("home");
    let mut p = start(home.path());
    p.send("vers").expect("type");
    p.send("\t").expect("tab");
    p.send_line("").expect("enter");
    p.exp_string("major: 0")
        .expect("version ran after completion");
    p.exp_string("><fs> ").expect("prompt again");
    p.send_control('d').expect("ctrl-d");
    p.exp_eof().expect("exits on ctrl-d");
}

#[test]
fn history_recalls_a_line_and_is_saved() {
    let home = tempfile::tempdir().expect("home");
    let mut p = start(home.path());
    p.send_line("echo hist-marker-1").expect("type");
    p.exp_string("hist-marker-1\r\n").expect("echo output");
    p.exp_string("><fs> ").expect("prompt");
    // Up arrow, then Enter: the previous line runs again.
    p.send("\x1b[A").expect("up");
    p.send_line("").expect("enter");
    p.exp_string("hist-marker-1\r\n")
        .expect("recalled line ran");
    p.exp_string("><fs> ").expect("prompt");
    p.send_line("quit").expect("quit");
    p.exp_eof().expect("exit");
    let history = std::fs::read_to_string(home.path().join(".rfish")).expect("history file");
    assert!(history.contains("echo hist-marker-1"), "{history}");
}

#[test]
fn ctrl_c_abandons_the_line_and_keeps_the_shell() {
    let home = tempfile::tempdir().expect("home");
    let mut p = start(home.path());
    p.send("echo abandoned-line").expect("type");
    p.send_control('c').expect("ctrl-c");
    p.exp_string("><fs> ").expect("new prompt after ctrl-c");
    p.send_line("echo still-alive").expect("type");
    let before = p.exp_string("still-alive\r\n").expect("shell still runs");
    assert!(
        !before.contains("abandoned-line\r\n"),
        "the abandoned line did not run: {before:?}"
    );
    p.send_line("exit").expect("exit");
    p.exp_eof().expect("exit");
}

#[test]
fn errors_do_not_end_an_interactive_session() {
    let home = tempfile::tempdir().expect("home");
    let mut p = start(home.path());
    p.send_line("nosuch").expect("type");
    p.exp_string("nosuch: unknown command")
        .expect("error shown");
    p.send_line("echo \"unterminated").expect("type");
    p.exp_string("rfish: unterminated double quote")
        .expect("parse error shown");
    p.exp_string("^").expect("caret under the problem");
    p.send_line("echo survived").expect("type");
    p.exp_string("survived\r\n").expect("still running");
    p.send_control('d').expect("ctrl-d");
    p.exp_eof().expect("exit");
    let status = p.process.wait().expect("wait");
    assert!(
        matches!(status, rexpect::process::wait::WaitStatus::Exited(_, 0)),
        "interactive sessions exit 0: {status:?}"
    );
}

#[test]
fn ctrl_c_interrupts_a_host_command_but_not_the_shell() {
    let home = tempfile::tempdir().expect("home");
    let mut p = start(home.path());
    p.send_line("!sleep 30").expect("type");
    std::thread::sleep(std::time::Duration::from_millis(500));
    p.send_control('c').expect("ctrl-c");
    p.exp_string("><fs> ")
        .expect("prompt back long before 30 s");
    p.send_line("echo after-interrupt").expect("type");
    p.exp_string("after-interrupt\r\n")
        .expect("shell still runs");
    p.send_line("quit").expect("quit");
    p.exp_eof().expect("exit");
}

#[test]
fn tab_completes_guest_paths_from_the_mounted_filesystem() {
    let fx = common::fixtures("ext4-fixtures.sh");
    let home = tempfile::tempdir().expect("home");
    let mut p = start_in(
        home.path(),
        &fx,
        &["--ro", "-a", "ext4.img", "-m", "/dev/sda"],
    );
    // A directory completes with its slash, a file with a space, then the line runs.
    p.send("cat /et").expect("type");
    p.send("\t").expect("tab");
    p.send("os-r").expect("type");
    p.send("\t").expect("tab");
    p.send_line("").expect("enter");
    p.exp_string("PRETTY_NAME=\"Test Linux 1.0\"")
        .expect("the completed path was read");
    p.exp_string("><fs> ").expect("prompt again");
    p.send_line("quit").expect("quit");
    p.exp_eof().expect("exit");
}

#[test]
fn lines_typed_ahead_are_all_run() {
    // Pasting several lines (or typing while a command runs) must not lose any: each is
    // run in turn, as GNU readline's guestfish does.
    let home = tempfile::tempdir().expect("home");
    let mut p = start(home.path());
    p.send("echo first-line\necho second-line\necho third-line\n")
        .expect("type ahead");
    p.exp_string("first-line\r\n").expect("first");
    p.exp_string("second-line\r\n").expect("second");
    p.exp_string("third-line\r\n").expect("third");
    p.send_line("exit").expect("exit");
    p.exp_eof().expect("rfish ends");
}

#[test]
fn an_interactive_remote_shell_runs_each_line_in_the_server() {
    let home = tempfile::tempdir().expect("home");
    let runtime = home.path().join("run");
    std::fs::create_dir(&runtime).expect("runtime dir");
    let out = common::rfish()
        .arg("--listen")
        .env("XDG_RUNTIME_DIR", &runtime)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("rfish --listen");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let pid = common::listen_pid(&stdout).expect("pid").to_string();
    let mut cmd = pty_command(home.path());
    cmd.env("XDG_RUNTIME_DIR", &runtime)
        .env("GUESTFISH_PID", &pid)
        .arg("--remote");
    let mut p = spawn_command(cmd, Some(TIMEOUT_MS)).expect("spawn rfish on a pty");
    p.exp_string("><fs> ").expect("prompt");
    p.send_line("event bye close 'echo bye from the server'")
        .expect("type");
    p.exp_string("><fs> ").expect("prompt");
    // The server's output reaches this terminal.
    p.send_line("echo-daemon \"'over the' socket\"")
        .expect("type");
    p.exp_string("over the socket\r\n").expect("output");
    p.exp_string("><fs> ").expect("prompt");
    // Interactively a failure is reported and neither shell nor server ends.
    p.send_line("cat /nope").expect("type");
    p.exp_string("rfish: error: ").expect("error");
    p.exp_string("><fs> ").expect("prompt");
    p.send_line("echo-daemon still-here").expect("type");
    p.exp_string("still-here\r\n").expect("server still serves");
    p.exp_string("><fs> ").expect("prompt");
    // `exit` stops the server (its close handler prints here) and this shell.
    p.send_line("exit").expect("type");
    p.exp_string("bye from the server").expect("close handler");
    p.exp_eof().expect("the client ends with the server");
    let socket = runtime.join(format!("rfish/socket-{pid}"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while socket.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(!socket.exists(), "the server removed its socket");
}
