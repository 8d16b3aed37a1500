//! Remote control as scripts use it: `eval "$(rfish --listen)"`, then one
//! `rfish --remote CMD ...` per step, each printing its command's output and errors and
//! exiting with its status. Oracles: e2fsck and debugfs on the image the server wrote,
//! guestfish's outputs (recorded with guestfish 1.48's own --listen/--remote for the
//! quoting cases, and testdata/guestfish/events.* for event handlers), /proc for the
//! processes left behind, and the kernel's permission checks for another user.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::Run;

/// A `--listen` server for one test: its PID and the environment its clients need.
struct Server {
    pid: u32,
    /// XDG_RUNTIME_DIR: the test's own, so parallel tests never share sockets.
    runtime: PathBuf,
    /// The working directory of server and clients.
    dir: PathBuf,
}

/// A private runtime directory under `dir`.
fn runtime_dir(dir: &Path) -> PathBuf {
    let runtime = dir.join("run");
    std::fs::create_dir_all(&runtime).expect("runtime dir");
    std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    runtime
}

/// `rfish --listen ARGS` in `dir`, as `eval "$(rfish --listen)"` runs it: standard output
/// captured (and standard error: the server must not hold either open).
fn listen(dir: &Path, args: &[&str]) -> Server {
    let runtime = runtime_dir(dir);
    let out = common::rfish()
        .arg("--listen")
        .args(args)
        .current_dir(dir)
        .env("XDG_RUNTIME_DIR", &runtime)
        .stdin(Stdio::null())
        .output()
        .expect("rfish --listen");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "--listen: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pid = common::listen_pid(&stdout).unwrap_or_else(|| panic!("--listen printed {stdout:?}"));
    let server = Server {
        pid,
        runtime,
        dir: dir.to_path_buf(),
    };
    assert!(
        server.socket().exists(),
        "the socket exists when --listen returns"
    );
    server
}

impl Server {
    fn socket(&self) -> PathBuf {
        self.runtime.join(format!("rfish/socket-{}", self.pid))
    }

    /// `rfish --remote WORDS...` with `$GUESTFISH_PID` set.
    fn client(&self, words: &[&str]) -> Command {
        let mut cmd = common::rfish();
        cmd.arg("--remote")
            .args(words)
            .current_dir(&self.dir)
            .env("XDG_RUNTIME_DIR", &self.runtime)
            .env("GUESTFISH_PID", self.pid.to_string());
        cmd
    }

    /// `rfish --remote WORDS...`, standard input empty.
    fn remote(&self, words: &[&str]) -> Run {
        common::run_with_stdin(self.client(words), "")
    }

    /// `rfish --remote WORDS...`, which must succeed; its standard output.
    fn ok(&self, words: &[&str]) -> String {
        let run = self.remote(words);
        assert_eq!(
            (run.status, run.stderr.as_str()),
            (0, ""),
            "--remote {words:?}: {}",
            run.stdout
        );
        run.stdout
    }
}

/// The process's state letter from /proc (`None` once it is gone).
fn state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(") ")
        .and_then(|(_, rest)| rest.chars().next())
}

/// The PIDs whose parent is `pid`.
fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else {
            continue;
        };
        let ppid = stat
            .rsplit_once(") ")
            .and_then(|(_, rest)| rest.split(' ').nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(pid) {
            out.push(child);
        }
    }
    out
}

/// Wait until `pid` has exited (gone, or a zombie its new parent has not reaped yet).
fn assert_exits(pid: u32, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if matches!(state(pid), None | Some('Z')) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{what} (pid {pid}) is still running");
}

/// `path` in partition 1 of `img` as debugfs reads it, after `e2fsck -fn` found the
/// filesystem clean.
fn checked_file(img: &Path, dir: &Path, path: &str) -> String {
    let part = common::partition_raw(img, dir, 1);
    common::assert_fsck_clean(&part);
    let cat = common::run_tool(
        Command::new("debugfs")
            .args(["-R", &format!("cat {path}")])
            .arg(&part),
    );
    String::from_utf8_lossy(&cat.stdout).into_owned()
}

/// The KVM fallback notice is not part of a command's errors.
fn errors(run: &Run) -> String {
    run.stderr
        .lines()
        .filter(|l| !l.starts_with("rfish: KVM does not work"))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn a_script_drives_one_server_from_image_creation_to_a_failing_command() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = listen(tmp.path(), &[]);
    let pid_option = format!("--remote={}", server.pid);
    assert_eq!(server.ok(&["alloc", "disk.img", "64M"]), "");
    assert_eq!(server.ok(&["run"]), "");
    assert_eq!(server.ok(&["part-disk", "/dev/sda", "mbr"]), "");
    assert_eq!(server.ok(&["--", "mkfs", "ext4", "/dev/sda1"]), "");
    assert_eq!(server.ok(&["mount", "/dev/sda1", "/"]), "");
    assert_eq!(server.ok(&["write", "/hello", "hello from a remote"]), "");
    assert_eq!(server.ok(&["mkdir-p", "/a/b"]), "");
    // Output reaches the client's standard output, also through a pipe.
    assert_eq!(server.ok(&["cat", "/hello"]), "hello from a remote\n");
    assert_eq!(server.ok(&["ls", "/"]), "a\nhello\nlost+found\n");
    // --remote=PID instead of $GUESTFISH_PID; and a command's own `-` arguments after --.
    let mut cmd = common::rfish();
    cmd.args([pid_option.as_str(), "--", "is-dir", "/a/b"])
        .current_dir(tmp.path())
        .env("XDG_RUNTIME_DIR", &server.runtime)
        .env_remove("GUESTFISH_PID");
    let run = common::run_with_stdin(cmd, "");
    assert_eq!(
        (run.status, run.stdout.as_str()),
        (0, "true\n"),
        "{}",
        run.stderr
    );
    // Several commands on one command line, as with a local rfish.
    assert_eq!(
        server.ok(&["echo", "one", ":", "filesize", "/hello"]),
        "one\n19\n"
    );
    // A failure a script lets pass with `-`: status 0, the message on the client's stderr,
    // the server still there.
    let run = server.remote(&["--", "-cat", "/nope"]);
    assert_eq!(run.status, 0);
    assert_eq!(
        errors(&run),
        "rfish: error: download: /nope: No such file or directory\n"
    );
    // A failure: status 1, guestfish's message on the client's standard error, and (as
    // with guestfish) the server stops, after syncing the image.
    let run = server.remote(&["cat", "/nope"]);
    assert_eq!(run.status, 1, "{run:?}");
    assert_eq!(run.stdout, "");
    assert_eq!(
        errors(&run),
        "rfish: error: download: /nope: No such file or directory\n"
    );
    assert_exits(server.pid, "the server after a failed command");
    assert!(!server.socket().exists(), "the socket is removed");
    let run = server.remote(&["cat", "/hello"]);
    assert_eq!(run.status, 1);
    assert!(
        run.stderr
            .ends_with("rfish: remote: looks like the server is not running\n"),
        "{}",
        run.stderr
    );
    assert_eq!(
        checked_file(&tmp.path().join("disk.img"), tmp.path(), "/hello"),
        "hello from a remote"
    );
}

#[test]
fn string_lists_are_split_as_guestfish_splits_them() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = listen(tmp.path(), &[]);
    // Each word reaches echo-daemon verbatim and is split as a StringList there. Expected
    // outputs: what guestfish 1.48 --remote echo-daemon printed for the same words.
    let cases = [
        ("' '", " "),
        ("\\'", "'"),
        ("'\\''", "'"),
        ("'\\' '", "' "),
        ("'\\'foo\\''", "'foo'"),
        ("foo' 'bar", "foo bar"),
        ("foo'  'bar", "foo  bar"),
        ("'foo' 'bar'", "foo bar"),
        ("a b\tc", "a b c"),
    ];
    for (word, want) in cases {
        assert_eq!(
            server.ok(&["echo-daemon", word]),
            format!("{want}\n"),
            "echo-daemon {word:?}"
        );
    }
    // Wrong number of arguments: guestfish's usage message, status 1, server stopped.
    let run = server.remote(&["echo-daemon", "a", "b"]);
    assert_eq!(run.status, 1);
    assert_eq!(
        run.stderr,
        "error: incorrect number of arguments\nusage: echo-daemon words\n\
         type 'help echo-daemon' for more help on echo-daemon\n"
    );
    assert_exits(server.pid, "the server");
}

#[test]
fn event_handlers_behave_as_guestfishs() {
    // The recorded guestfish session (no appliance needed), run by a local rfish.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/guestfish");
    let script = std::fs::read_to_string(dir.join("events.cmds")).expect("events.cmds");
    let mut cmd = common::rfish();
    cmd.env("SHELL", "/bin/sh");
    let run = common::run_with_stdin(cmd, &script);
    let (want_out, want_err) = common::record("events");
    assert_eq!(run.status, 0, "{}", run.stderr);
    common::assert_same_output(&run.stdout, &String::from_utf8_lossy(&want_out));
    assert_eq!(run.stderr, want_err);
}

#[test]
fn close_handlers_print_on_the_client_that_stops_the_server() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = listen(tmp.path(), &[]);
    assert_eq!(
        server.ok(&["event", "bye", "close", "echo \"closed: $EVENT $#\""]),
        ""
    );
    assert_eq!(server.ok(&["event", "bye", "close", "echo second >&2"]), "");
    assert_eq!(
        server.ok(&["event", "calls", "enter", "echo \"call $1\""]),
        ""
    );
    assert_eq!(
        server.ok(&["event", "gone", "launch_done", "echo never"]),
        ""
    );
    assert_eq!(
        server.ok(&["list-events"]),
        "\"bye\" (0): close: echo \"closed: $EVENT $#\"\n\
         \"bye\" (1): close: echo second >&2\n\
         \"gone\" (3): launch_done: echo never\n\
         \"calls\" (2): enter: echo \"call $1\"\n"
    );
    assert_eq!(server.ok(&["delete-event", "gone"]), "");
    // An enter handler's output comes before the command's, on the same client.
    assert_eq!(server.ok(&["echo-daemon", "x"]), "call echo_daemon\nx\n");
    assert_eq!(server.ok(&["run"]), "call launch\n");
    // With traces on, trace lines go to the trace handlers instead of standard error.
    assert_eq!(server.ok(&["event", "t", "trace", "echo \"T: $1\""]), "");
    assert_eq!(server.ok(&["set-trace", "true"]), "call set_trace\n");
    assert_eq!(
        server.ok(&["echo-daemon", "x"]),
        "call echo_daemon\nT: echo_daemon \"x\"\nx\n"
    );
    assert_eq!(server.ok(&["delete-event", "t"]), "");
    let run = server.remote(&["--", "-delete-event", "gone"]);
    assert_eq!(
        (run.status, run.stderr.as_str()),
        (0, "delete-event: gone: no such event handler\n")
    );
    // `quit`: the close handlers run before the reply, writing to this client.
    let run = server.remote(&["quit"]);
    assert_eq!(run.status, 0);
    assert_eq!(run.stdout, "closed: close 0\n");
    assert_eq!(run.stderr, "second\n");
    assert_exits(server.pid, "the server after quit");
    assert!(!server.socket().exists());
}

#[test]
fn the_appliance_stops_with_the_server_and_command_substitution_returns() {
    if !common::appliance_possible() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let img = tmp.path().join("disk.img");
    common::run_tool(
        Command::new("qemu-img")
            .args(["create", "-f", "qcow2"])
            .arg(&img)
            .arg("64M"),
    );
    let server = listen(tmp.path(), &["-a", "disk.img"]);
    assert_eq!(
        server.ok(&["event", "q", "subprocess_quit,close", "echo \"$EVENT\""]),
        ""
    );
    // The appliance boots inside a command whose output a shell captures: the capture
    // ends with the command (guestfish's `a=$(guestfish --remote run)` hangs, RHBZ#592910,
    // because its appliance keeps the pipe open). run_with_stdin reads stdout to its end.
    let run = server.remote(&["appliance-launch"]);
    assert_eq!(
        (run.status, errors(&run).as_str()),
        (0, ""),
        "{}",
        run.stderr
    );
    let qemus: Vec<u32> = children(server.pid)
        .into_iter()
        .filter(|c| {
            std::fs::read_to_string(format!("/proc/{c}/comm"))
                .is_ok_and(|comm| comm.starts_with("qemu"))
        })
        .collect();
    assert_eq!(qemus.len(), 1, "one QEMU runs under the server");
    let run = server.remote(&["exit"]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "subprocess_quit\nclose\n");
    assert_exits(server.pid, "the server after exit");
    assert_exits(qemus[0], "the appliance's QEMU");
    common::qemu::assert_clean(&img);
}

#[test]
fn a_stopped_server_and_bad_pids_get_clear_errors() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let runtime = runtime_dir(tmp.path());
    let client = |args: &[&str], pid: Option<&str>| -> Run {
        let mut cmd = common::rfish();
        cmd.args(args).env("XDG_RUNTIME_DIR", &runtime);
        match pid {
            Some(p) => cmd.env("GUESTFISH_PID", p),
            None => cmd.env_remove("GUESTFISH_PID"),
        };
        common::run_with_stdin(cmd, "")
    };
    let run = client(&["--remote", "echo", "hi"], None);
    assert_eq!(
        (run.status, run.stderr.as_str()),
        (
            1,
            "rfish: remote: $GUESTFISH_PID must be set to the PID of the remote process\n"
        )
    );
    let run = client(&["--remote=abc", "echo", "hi"], None);
    assert_eq!(
        (run.status, run.stderr.as_str()),
        (1, "rfish: --remote=PID: PID was not a number: abc\n")
    );
    // A live process that is no server: this test itself.
    let me = std::process::id().to_string();
    let run = client(&["--remote", "echo", "hi"], Some(&me));
    assert_eq!(run.status, 1);
    assert_eq!(
        run.stderr,
        format!(
            "{}/rfish/socket-{me}: No such file or directory\n\
             rfish: remote: looks like the server is not running\n",
            runtime.display()
        )
    );
    // guestfish's refusals of --listen with other things to do.
    let run = client(&["--listen", "echo", "hi"], None);
    assert_eq!(
        (run.status, run.stderr.as_str()),
        (
            1,
            "rfish: extra parameters on the command line with --listen flag\n"
        )
    );
    let run = client(&["--listen", "--remote", "echo"], None);
    assert_eq!(
        (run.status, run.stderr.as_str()),
        (
            1,
            "rfish: cannot use --listen and --remote options at the same time\n"
        )
    );
    // A server that cannot start (a missing disk) says why; --listen fails.
    let run = client(&["--listen", "-a", "/nonexistent.img", "-i"], None);
    assert_eq!(run.status, 1);
    assert_eq!(run.stdout, "");
    assert!(run.stderr.contains("/nonexistent.img"), "{}", run.stderr);
}

/// Run `args` as user nobody (uid and gid 65534).
fn as_nobody(exe: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new("setpriv");
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(exe)
        .args(args)
        .env("NO_COLOR", "1")
        .env("LC_ALL", "C");
    cmd
}

#[test]
fn another_user_cannot_use_the_socket() {
    if !rustix::process::geteuid().is_root()
        || Command::new("setpriv").arg("--version").output().is_err()
    {
        eprintln!("needs root and setpriv to run a second user: skipped");
        return;
    }
    // Everything user nobody runs must be reachable by it: the binary and a runtime
    // directory of its own.
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let exe = tmp.path().join("rfish");
    if std::fs::hard_link(env!("CARGO_BIN_EXE_rfish"), &exe).is_err() {
        std::fs::copy(env!("CARGO_BIN_EXE_rfish"), &exe).expect("copy rfish");
    }
    let nobody_run = tmp.path().join("nobody-run");
    std::fs::create_dir(&nobody_run).expect("mkdir");
    std::fs::set_permissions(&nobody_run, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    std::os::unix::fs::chown(&nobody_run, Some(65534), Some(65534)).expect("chown");

    // nobody's server; root connects (root passes the directory's permissions) and is
    // refused by the peer-credentials check.
    let out = as_nobody(&exe, &["--listen"])
        .current_dir(tmp.path())
        .env("XDG_RUNTIME_DIR", &nobody_run)
        .output()
        .expect("listen as nobody");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pid = common::listen_pid(&stdout).expect("pid");
    let mut root_client = common::rfish();
    root_client
        .args(["--remote", "echo-daemon", "root"])
        .env("XDG_RUNTIME_DIR", &nobody_run)
        .env("GUESTFISH_PID", pid.to_string());
    let run = common::run_with_stdin(root_client, "");
    assert_eq!(
        (run.status, run.stdout.as_str(), run.stderr.as_str()),
        (
            1,
            "",
            "rfish: remote: the server of user 65534 does not serve user 0\n"
        )
    );
    // nobody itself is served, and stops its server.
    let nobody_client = |words: &[&str]| {
        let mut args = vec!["--remote"];
        args.extend_from_slice(words);
        let out = as_nobody(&exe, &args)
            .env("XDG_RUNTIME_DIR", &nobody_run)
            .env("GUESTFISH_PID", pid.to_string())
            .stdin(Stdio::null())
            .output()
            .expect("client as nobody");
        Run::from(out)
    };
    let run = nobody_client(&["echo-daemon", "nobody"]);
    assert_eq!(
        (run.status, run.stdout.as_str()),
        (0, "nobody\n"),
        "{}",
        run.stderr
    );

    // root's server is out of nobody's reach: another user's process.
    let server = listen(tmp.path(), &[]);
    let out = as_nobody(&exe, &["--remote", "echo-daemon", "x"])
        .env("XDG_RUNTIME_DIR", &server.runtime)
        .env("GUESTFISH_PID", server.pid.to_string())
        .stdin(Stdio::null())
        .output()
        .expect("client as nobody");
    let run = Run::from(out);
    assert_eq!(run.status, 1);
    assert_eq!(
        run.stderr,
        format!(
            "rfish: remote: process {} is another user's: not a server of yours\n",
            server.pid
        )
    );
    assert_eq!(server.ok(&["echo-daemon", "still here"]), "still here\n");
    assert_eq!(server.ok(&["exit"]), "");
    assert_exits(server.pid, "root's server");
    let run = nobody_client(&["exit"]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert_exits(pid, "nobody's server");
}

#[test]
fn scripts_pipes_and_standard_input_reach_the_server() {
    let tmp = tempfile::tempdir().expect("tempdir");
    // Options given with --listen apply to the server: a prepared disk, mounted.
    let server = listen(tmp.path(), &["-N", "fs:ext4", "-m", "/dev/sda1"]);
    // A command-line `-` is the client's standard input.
    let run = common::run_with_stdin(
        server.client(&["upload", "-", "/from-stdin"]),
        "piped into a remote upload\n",
    );
    assert_eq!((run.status, run.stderr.as_str()), (0, ""));
    // A script on the client's standard input: each line runs in the server; `| cmd`
    // runs on the client's side; a here-document is read by the client; `-` lets a
    // failure pass without stopping the server.
    let script = "\
        cat /from-stdin\n\
        upload -<<END /heredoc\n\
        line one\n\
        END\n\
        cat /heredoc | tr a-z A-Z\n\
        -cat /missing\n\
        ls /\n";
    let run = common::run_with_stdin(server.client(&[]), script);
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        "piped into a remote upload\n\nLINE ONE\n\nfrom-stdin\nheredoc\nlost+found\n"
    );
    assert_eq!(
        run.stderr,
        "rfish: error: download: /missing: No such file or directory\n"
    );
    // In a script a failure without `-` ends the script with status 1 (and the server).
    let run = common::run_with_stdin(server.client(&[]), "cat /missing\necho not reached\n");
    assert_eq!((run.status, run.stdout.as_str()), (1, ""));
    assert_exits(server.pid, "the server");
    assert_eq!(
        checked_file(&tmp.path().join("test1.img"), tmp.path(), "/heredoc"),
        "line one\n"
    );
}

#[test]
fn csh_syntax_and_a_terminated_server() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let runtime = runtime_dir(tmp.path());
    let out = common::rfish()
        .args(["--listen", "--csh"])
        .env("XDG_RUNTIME_DIR", &runtime)
        .stdin(Stdio::null())
        .output()
        .expect("listen");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let pid: u32 = stdout
        .strip_prefix("setenv GUESTFISH_PID ")
        .and_then(|p| p.strip_suffix('\n'))
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("--listen --csh printed {stdout:?}"));
    let server = Server {
        pid,
        runtime,
        dir: tmp.path().to_path_buf(),
    };
    let marker = tmp.path().join("closed");
    let script = format!("touch {}", marker.display());
    assert_eq!(server.ok(&["event", "", "close", &script]), "");
    // SIGTERM: the session ends as with `exit` (close handlers run, socket removed).
    common::run_tool(Command::new("kill").args(["-TERM", &pid.to_string()]));
    assert_exits(pid, "the server after SIGTERM");
    assert!(marker.exists(), "the close handler ran");
    assert!(!server.socket().exists(), "the socket is removed");
}

#[test]
fn ctrl_c_in_the_client_cancels_the_guest_program_in_the_server() {
    if !common::appliance_possible() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let fixtures = common::fixtures("debian-guest.sh");
    std::fs::copy(
        fixtures.join("debian.qcow2"),
        tmp.path().join("debian.qcow2"),
    )
    .expect("copy fixture");
    let server = listen(tmp.path(), &["-i", "-a", "debian.qcow2"]);
    let run = server.remote(&["appliance-launch"]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    // A long guest program, sent with `-` so that its failure leaves the server running.
    let long_command = |server: &Server| {
        server
            .client(&["--", "-command", "sleep 600"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("client")
    };
    // Ctrl-C (SIGINT) in the client: the program is cancelled, the client reports it.
    let client = long_command(&server);
    std::thread::sleep(Duration::from_secs(3));
    common::run_tool(Command::new("kill").args(["-INT", &client.id().to_string()]));
    let started = Instant::now();
    let out = client.wait_with_output().expect("client");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "the client waited for the whole program"
    );
    let run = Run::from(out);
    assert_eq!(run.status, 0);
    assert!(
        errors(&run).ends_with("rfish: error: command: operation cancelled by user\n"),
        "{}",
        run.stderr
    );
    assert_eq!(
        server.ok(&["echo-daemon", "after ctrl-c"]),
        "after ctrl-c\n"
    );
    // A client killed outright: the server notices its end and cancels the program too,
    // so the next client is served at once.
    let mut client = long_command(&server);
    std::thread::sleep(Duration::from_secs(3));
    client.kill().expect("kill client");
    let _ = client.wait();
    let started = Instant::now();
    assert_eq!(server.ok(&["echo-daemon", "after kill"]), "after kill\n");
    assert!(started.elapsed() < Duration::from_secs(60));
    assert_eq!(server.ok(&["exit"]), "");
    assert_exits(server.pid, "the server");
}

#[test]
fn malformed_connections_do_not_stop_the_server() {
    use std::io::Write;
    use std::os::unix::net::UnixStream;
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = listen(tmp.path(), &[]);
    // Bytes without descriptors; nothing at all; descriptors then a frame claiming 4 GiB.
    let mut s = UnixStream::connect(server.socket()).expect("connect");
    s.write_all(b"garbage that is not a message")
        .expect("write");
    drop(s);
    drop(UnixStream::connect(server.socket()).expect("connect"));
    let s = UnixStream::connect(server.socket()).expect("connect");
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    use std::os::fd::AsFd;
    rfish::remote::stdio::send(&s, [stdin.as_fd(), stdout.as_fd(), stderr.as_fd()])
        .expect("send descriptors");
    (&s).write_all(&[0xff, 0xff, 0xff, 0xff, 1]).expect("write");
    drop(s);
    // The server still serves, and stops as asked.
    assert_eq!(
        server.ok(&["echo-daemon", "still serving"]),
        "still serving\n"
    );
    assert_eq!(server.ok(&["exit"]), "");
    assert_exits(server.pid, "the server");
}
