//! Script mode through the real binary: exit statuses, `FILE:LINE:` prefixes, the `-`
//! prefix, `:`-separated command-line commands, `-f` and shebang scripts, here-documents,
//! `| host-cmd`, `!host-cmd` and `<!host-cmd`.

mod common;

use common::{rfish, rfish_args, rfish_script, run_with_stdin};

#[test]
fn a_script_runs_every_line_and_exits_zero() {
    let r = rfish_script("# comment\n\necho one\n  ECHO two\necho \"a\\tb\" 'c d'\n");
    assert_eq!(r.stdout, "one\ntwo\na\tb c d\n");
    assert_eq!(r.stderr, "");
    assert_eq!(r.status, 0);
}

#[test]
fn the_first_error_stops_a_script_with_status_1() {
    let r = rfish_script("echo before\nnosuch\necho after\n");
    assert_eq!(r.stdout, "before\n");
    assert_eq!(r.stderr, "nosuch: unknown command\n");
    assert_eq!(r.status, 1);
}

#[test]
fn a_dash_prefix_lets_the_script_go_on() {
    let r = rfish_script("-nosuch\n- echo \"unterminated\necho after\n");
    assert_eq!(r.stdout, "after\n");
    assert_eq!(
        r.stderr,
        "nosuch: unknown command\nDid you mean to open a disk image?  rfish -a disk.img\n\
         For a list of commands:             rfish -h\n\
         For complete documentation:         rfish --help\n\
         rfish: unterminated double quote\n"
    );
    assert_eq!(r.status, 0);
}

#[test]
fn parse_errors_stop_a_script() {
    let r = rfish_script("echo \"a\\qb\"\necho never\n");
    assert_eq!(r.stdout, "");
    assert_eq!(
        r.stderr,
        "rfish: invalid escape sequence in string (starting at offset 1)\n"
    );
    assert_eq!(r.status, 1);
}

#[test]
fn library_errors_carry_file_and_line() {
    let r = rfish_script("run\n\nrun\n");
    assert_eq!(
        r.stderr,
        "*stdin*:3: rfish: error: launch: the libguestfs handle has already been launched\n"
    );
    assert_eq!(r.status, 1);

    let dir = tempfile::tempdir().expect("tempdir");
    let script = dir.path().join("twice.fish");
    std::fs::write(&script, "launch\n# two\nlaunch\n").expect("write script");
    let r = rfish_args(&["-f", script.to_str().expect("utf-8")]);
    assert_eq!(
        r.stderr,
        format!(
            "{}:3: rfish: error: launch: the libguestfs handle has already been launched\n",
            script.display()
        )
    );
    assert_eq!(r.status, 1);
}

#[test]
fn usage_errors_print_guestfish_usage() {
    let r = rfish_script("version extra\n");
    assert_eq!(
        r.stderr,
        "error: incorrect number of arguments\nusage: version\n\
         type 'help version' for more help on version\n"
    );
    assert_eq!(r.status, 1);
}

#[test]
fn command_line_commands_are_separated_by_colons() {
    let r = rfish_args(&["echo", "a", "'b c'", ":", "echo", "|", "x", ":", "version"]);
    assert_eq!(
        r.stdout,
        "a 'b c'\n| x\nmajor: 0\nminor: 1\nrelease: 0\nextra: \n"
    );
    assert_eq!(r.status, 0);

    let r = rfish_args(&["--", "-nosuch", ":", "echo", "went on"]);
    assert_eq!(r.stdout, "went on\n");
    assert_eq!(r.status, 0);

    let r = rfish_args(&["nosuch", ":", "echo", "never"]);
    assert_eq!(r.stdout, "");
    assert!(
        r.stderr
            .starts_with("nosuch: unknown command\nDid you mean to open a disk image?")
    );
    assert_eq!(r.status, 1);

    let r = rfish_args(&["echo", "a", ":", ":", "echo", "b"]);
    assert_eq!(r.stdout, "a\n");
    assert_eq!(r.stderr, "rfish: empty command on command line\n");
    assert_eq!(r.status, 1);
}

#[test]
fn f_scripts_and_shebang_scripts_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let script = dir.path().join("hello");
    let body = format!("#!{} -f\necho from shebang\n", env!("CARGO_BIN_EXE_rfish"));
    std::fs::write(&script, body).expect("write script");
    let mut perms = std::fs::metadata(&script).expect("stat").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&script, perms).expect("chmod");

    // Another test thread may fork while our write descriptor is still open
    // in the child (until it execs), so exec can briefly fail with ETXTBSY.
    let out = (0..50)
        .find_map(|_| match std::process::Command::new(&script).output() {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy => {
                std::thread::sleep(std::time::Duration::from_millis(20));
                None
            }
            other => Some(other),
        })
        .expect("script stayed busy")
        .expect("run shebang script");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "from shebang\n");
    assert!(out.status.success());

    let r = rfish_args(&["-f", "/nonexistent/script"]);
    assert_eq!(r.stderr, "/nonexistent/script: No such file or directory\n");
    assert_eq!(r.status, 1);
}

#[test]
fn pipes_send_output_to_a_host_command() {
    let r = rfish_script("echo hello world | tr a-z A-Z\necho a|b\nversion | grep -c :\n");
    assert_eq!(r.stdout, "HELLO WORLD\na|b\n4\n");
    assert_eq!(r.status, 0);
}

#[test]
fn a_pipe_reader_that_stops_early_is_not_an_error() {
    let r = rfish_script("help -l | head -1\necho after\n");
    assert_eq!(r.stdout, "    Command              Description\nafter\n");
    assert_eq!(r.status, 0);
}

#[test]
fn pipe_error_makes_a_failing_pipe_fail() {
    let mut cmd = rfish();
    cmd.arg("--pipe-error");
    let r = run_with_stdin(cmd, "echo x | false\necho never\n");
    // Depending on timing the reader is gone before the write (EPIPE) or after it (exit 1):
    // either way the command fails.
    assert!(
        r.stderr
            .starts_with("*stdin*:1: rfish: error: pipe command failed")
            || r.stderr
                .starts_with("*stdin*:1: rfish: error: echo: write to pipe failed"),
        "{}",
        r.stderr
    );
    assert_eq!(r.stdout, "");
    assert_eq!(r.status, 1);
}

#[test]
fn bang_runs_a_host_command_and_fails_on_nonzero_exit() {
    let r = rfish_script("!echo host\n!exit 3\necho never\n");
    assert_eq!(r.stdout, "host\n");
    assert_eq!(r.status, 1);
    let r = rfish_script("-!exit 3\necho went on\n");
    assert_eq!(r.stdout, "went on\n");
    assert_eq!(r.status, 0);
}

#[test]
fn inline_runs_each_output_line_as_a_command() {
    let r = rfish_script("<!printf 'echo one\\necho two\\n'\necho three\n");
    assert_eq!(r.stdout, "one\ntwo\nthree\n");
    assert_eq!(r.status, 0);
    let r = rfish_script("<!printf 'echo one\\nnosuch\\necho two\\n'\necho three\n");
    assert_eq!(r.stdout, "one\n");
    assert_eq!(r.status, 1);
}

#[test]
fn setenv_reaches_host_commands() {
    let r = rfish_script(
        "setenv RFISH_T hello\n!echo $RFISH_T\nunsetenv RFISH_T\n!echo \"[$RFISH_T]\"\n",
    );
    assert_eq!(r.stdout, "hello\n[]\n");
    assert_eq!(r.status, 0);
}

#[test]
fn lcd_changes_the_directory_of_host_commands() {
    let dir = tempfile::tempdir().expect("tempdir");
    let script = format!("lcd {}\n!pwd\n", dir.path().display());
    let r = rfish_script(&script);
    let want = dir.path().canonicalize().expect("canonical");
    assert_eq!(r.stdout.trim_end(), want.to_str().expect("utf-8"));
}

#[test]
fn tilde_expands_bare_words_only() {
    let mut cmd = rfish();
    cmd.env("HOME", "/home/tester");
    let r = run_with_stdin(cmd, "echo ~ ~/x \"~\" '~/y' a~\n");
    assert_eq!(r.stdout, "/home/tester /home/tester/x ~ ~/y a~\n");
}

#[test]
fn tilde_follows_setenv_home() {
    let r = rfish_script("setenv HOME /srv/h\necho ~/x\n");
    assert_eq!(r.stdout, "/srv/h/x\n");
}

#[test]
fn time_and_not_wrap_other_commands() {
    let r = rfish_script("time echo x\nnot nosuch\n");
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines[0], "x");
    assert!(
        lines[1].starts_with("elapsed time: 0.") && lines[1].ends_with(" seconds"),
        "{}",
        lines[1]
    );
    assert_eq!(r.status, 0, "not of a failure succeeds");
    let r = rfish_script("not echo x\necho never\n");
    assert_eq!(r.stdout, "x\n");
    assert_eq!(r.status, 1, "not of a success fails");
}

#[test]
fn quit_stops_reading() {
    let r = rfish_script("echo a\nquit\necho never\n");
    assert_eq!(r.stdout, "a\n");
    assert_eq!(r.status, 0);
}

#[test]
fn options_for_later_layers_fail_clearly() {
    let r = rfish_args(&["-d", "guest", "echo", "x"]);
    assert_eq!(
        r.stderr,
        "rfish: -d/-c (libvirt guests) is not yet supported by this version of rfish\n"
    );
    assert_eq!(r.status, 1);
    // -i with nothing to inspect finds no operating system.
    let r = rfish_args(&["-i", "echo", "x"]);
    assert!(
        r.stderr
            .starts_with("rfish: no operating system was found on this disk\n"),
        "{}",
        r.stderr
    );
    assert_eq!(r.status, 1);
    let r = rfish_args(&["--ro", "--rw", "echo"]);
    assert_eq!(r.status, 1);
    let r = rfish_args(&["-a", "/nonexistent.img", "echo"]);
    assert_eq!(
        r.stderr,
        "rfish: access: /nonexistent.img: No such file or directory\n"
    );
    assert_eq!(r.status, 1);
}

#[test]
fn version_and_help_options() {
    let r = rfish_args(&["-V"]);
    assert_eq!(r.stdout, format!("rfish {}\n", env!("CARGO_PKG_VERSION")));
    let r = rfish_args(&["--help"]);
    assert!(r.stdout.starts_with("rfish: guest filesystem shell\n"));
    let r = rfish_args(&["-h", "nosuch"]);
    assert_eq!(
        r.stderr,
        "nosuch: command not known: use -h to list all commands\n"
    );
    assert_eq!(r.status, 1);
    let r = rfish_args(&["--bogus"]);
    assert_eq!(r.status, 1);
}

#[test]
fn trace_prints_each_library_call() {
    // As guestfish -x: the shell's own commands (echo) are not library calls, so are not
    // traced. (guestfish also traces each call's result, `get_memsize = 1280`; rfish does
    // not.)
    let r = rfish_args(&[
        "-x",
        "echo",
        "hi",
        ":",
        "set-memsize",
        "600",
        ":",
        "get-memsize",
    ]);
    assert_eq!(r.stdout, "hi\n600\n");
    assert_eq!(
        r.stderr,
        "libguestfs: trace: set_memsize \"600\"\nlibguestfs: trace: get_memsize\n"
    );
}
