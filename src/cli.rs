//! Command-line options (guestfish's, parsed with clap) and the start of a session: which
//! mode to run in (interactive, script, commands on the command line) and with what.

use std::ffi::OsString;
use std::io::{self, BufReader, IsTerminal};
use std::os::unix::ffi::OsStringExt;

use clap::{ArgAction, CommandFactory, FromArgMatches, Parser};

use crate::commands::{self, help};
use crate::session::{DriveSpec, Session};
use crate::shell::{self, Outcome, ScriptSource, Shell};

/// rfish's options: guestfish's, same letters and meanings.
#[derive(Debug, Parser)]
#[command(
    name = "rfish",
    about = "A guestfish-compatible shell for virtual machine disk images",
    disable_help_flag = true,
    disable_version_flag = true
)]
pub struct Options {
    /// Add a disk image (repeatable).
    #[arg(short = 'a', long = "add", value_name = "IMAGE", action = ArgAction::Append)]
    pub add: Vec<String>,

    /// Force the format of the -a options that follow (raw, qcow2); empty: probe.
    #[arg(long, value_name = "raw|qcow2", num_args = 0..=1, require_equals = true,
          default_missing_value = "", action = ArgAction::Append)]
    pub format: Vec<String>,

    /// Add the disks of a libvirt guest.
    #[arg(short = 'd', long = "domain", value_name = "GUEST", action = ArgAction::Append)]
    pub domain: Vec<String>,

    /// libvirt URI for -d.
    #[arg(short = 'c', long = "connect", value_name = "URI")]
    pub connect: Option<String>,

    /// Inspect the disks and mount the operating system's filesystems.
    #[arg(short = 'i', long = "inspector")]
    pub inspector: bool,

    /// Mount DEV on MOUNTPOINT (default /), with OPTS and FSTYPE.
    #[arg(short = 'm', long = "mount", value_name = "DEV[:MNT[:OPTS[:FSTYPE]]]",
          action = ArgAction::Append)]
    pub mount: Vec<String>,

    /// Create a prepared disk (test1.img, ...).
    #[arg(short = 'N', long = "new", value_name = "[FILE=]TYPE", action = ArgAction::Append)]
    pub new: Vec<String>,

    /// Open disks and mount filesystems read-only.
    #[arg(short = 'r', long = "ro")]
    pub ro: bool,

    /// With --ro: keep writes in memory (discarded at exit) instead of refusing them.
    #[arg(long = "overlay")]
    pub overlay: bool,

    /// Open disks read-write (the default; only checked against --ro).
    #[arg(short = 'w', long = "rw")]
    pub rw: bool,

    /// Read commands from FILE (usable as `#!/usr/bin/rfish -f`).
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<OsString>,

    /// Trace each command on standard error.
    #[arg(short = 'x')]
    pub trace: bool,

    /// Verbose messages (repeat for more).
    #[arg(short = 'v', long = "verbose", action = ArgAction::Count)]
    pub verbose: u8,

    /// Print the version and exit.
    #[arg(short = 'V', long = "version")]
    pub version: bool,

    /// Do not sync on exit (accepted; rfish writes through).
    #[arg(short = 'n', long = "no-sync")]
    pub no_sync: bool,

    /// Give `command` and `sh` network access.
    #[arg(long)]
    pub network: bool,

    /// rfish extra: the appliance's accelerator (auto: KVM when it works, else TCG).
    #[arg(long = "accel", value_name = "auto|kvm|tcg")]
    pub accel: Option<String>,

    /// rfish extra: boot the appliance with the drives and a shell on the serial console
    /// (/sysroot holds nothing mounted), for diagnosing guests.
    #[arg(long = "appliance-shell")]
    pub appliance_shell: bool,

    /// A failing `| host-cmd` makes the command fail.
    #[arg(long = "pipe-error")]
    pub pipe_error: bool,

    /// Show progress bars even when not interactive.
    #[arg(long = "progress-bars")]
    pub progress_bars: bool,

    /// Never show progress bars.
    #[arg(long = "no-progress-bars")]
    pub no_progress_bars: bool,

    /// Don't complete guest paths for host-side commands.
    #[arg(short = 'D', long = "no-dest-paths")]
    pub no_dest_paths: bool,

    /// Listen for --remote commands.
    #[arg(long)]
    pub listen: bool,

    /// Send the commands to a --listen rfish.
    #[arg(long, value_name = "PID", num_args = 0..=1, require_equals = true,
          default_missing_value = "")]
    pub remote: Option<String>,

    /// Print --listen's variable in csh syntax.
    #[arg(long)]
    pub csh: bool,

    /// Internal: this process is the --listen server itself.
    #[arg(long = "listen-server", hide = true)]
    pub listen_server: bool,

    /// Connect to a live guest.
    #[arg(long)]
    pub live: bool,

    /// Read LUKS passphrases from standard input.
    #[arg(long = "keys-from-stdin")]
    pub keys_from_stdin: bool,

    /// Echo LUKS passphrases as they are typed.
    #[arg(long = "echo-keys")]
    pub echo_keys: bool,

    /// LUKS key selector.
    #[arg(long = "key", value_name = "SELECTOR", action = ArgAction::Append)]
    pub key: Vec<String>,

    /// Accepted for compatibility; has no effect (as in guestfish).
    #[arg(long)]
    pub selinux: bool,

    /// rfish extra: export the first drive over NBD on this unix socket (like qemu-nbd,
    /// through rfish's block layer) until killed.
    #[arg(long = "nbd", value_name = "SOCKET")]
    pub nbd: Option<std::path::PathBuf>,

    /// rfish extra: at the end of the session relabel an SELinux guest (virt-customize's
    /// rule: /usr/sbin/load_policy and /etc/selinux/config exist), or touch /.autorelabel
    /// when that fails.
    #[arg(long = "selinux-relabel")]
    pub selinux_relabel: bool,

    /// List the commands, or show help on CMD.
    #[arg(short = 'h', long = "cmd-help", value_name = "CMD", num_args = 0..=1)]
    pub cmd_help: Option<Option<String>>,

    /// Print this help.
    #[arg(long = "help")]
    pub help: bool,

    /// Print the command table in Markdown (for README.md).
    #[arg(long = "list-markdown", hide = true)]
    pub list_markdown: bool,

    /// Commands to run, separated by a lone `:` (taken verbatim).
    #[arg(trailing_var_arg = true, value_name = "COMMAND")]
    pub commands: Vec<OsString>,
}

/// Parse the process's arguments and run rfish; returns the exit status.
pub fn main() -> i32 {
    let matches = match Options::command().try_get_matches() {
        Ok(m) => m,
        Err(e) => {
            let kind = e.kind();
            let _ = e.print();
            return match kind {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                _ => 1,
            };
        }
    };
    let options = match Options::from_arg_matches(&matches) {
        Ok(o) => o,
        Err(e) => {
            let _ = e.print();
            return 1;
        }
    };
    let drives = drives_in_order(&matches, &options);
    run(options, drives)
}

/// Pair each -a with the --format in force before it (guestfish's positional rule).
fn drives_in_order(matches: &clap::ArgMatches, options: &Options) -> Vec<(String, Option<String>)> {
    let add_at: Vec<usize> = matches
        .indices_of("add")
        .map(Iterator::collect)
        .unwrap_or_default();
    let format_at: Vec<usize> = matches
        .indices_of("format")
        .map(Iterator::collect)
        .unwrap_or_default();
    options
        .add
        .iter()
        .zip(add_at)
        .map(|(path, at)| {
            let format = format_at
                .iter()
                .zip(&options.format)
                .rfind(|(f_at, _)| **f_at < at)
                .map(|(_, f)| f.clone())
                .filter(|f| !f.is_empty());
            (path.clone(), format)
        })
        .collect()
}

/// Not yet available: say so clearly, with exit status 1.
fn not_yet(what: &str) -> i32 {
    eprintln!("rfish: {what} is not yet supported by this version of rfish");
    1
}

fn run(options: Options, drives: Vec<(String, Option<String>)>) -> i32 {
    if options.help {
        print!("{}", usage_text());
        return 0;
    }
    if options.list_markdown {
        print!("{}", help::markdown_table());
        return 0;
    }
    if options.version {
        println!("rfish {}", env!("CARGO_PKG_VERSION"));
        return 0;
    }
    if let Some(cmd) = options.cmd_help {
        return cmd_help(cmd, &options.commands);
    }
    if options.ro && options.rw {
        eprintln!("rfish: cannot mix --ro and --rw options");
        return 1;
    }
    if let Some(why) = unsupported(&options) {
        return not_yet(why);
    }
    if let Some(code) = check_remote_options(&options) {
        return code;
    }
    if options.listen && !options.listen_server {
        return crate::remote::server::start(options.csh);
    }
    if let Some(pid) = &options.remote {
        return run_remote(options.commands, options.file, pid);
    }
    let interactive = options.file.is_none() && io::stdin().is_terminal();
    let colour = crate::colour::decide(io::stderr().is_terminal());

    let accel = match options
        .accel
        .as_deref()
        .map(crate::appliance::launch::Accel::parse)
    {
        None => None,
        Some(Ok(a)) => Some(a),
        Some(Err(e)) => {
            eprintln!("rfish: --accel: {e}");
            return 1;
        }
    };
    let mut session = Session {
        accel,
        read_only: options.ro,
        trace: options.trace,
        verbose: options.verbose,
        network: options.network,
        pipe_error: options.pipe_error,
        no_progress_bars: options.no_progress_bars,
        ..Session::default()
    };
    for (path, format) in drives {
        if let Err(e) = std::fs::File::open(&path) {
            eprintln!("rfish: access: {path}: {}", crate::os_error_text(&e));
            return 1;
        }
        session.drives.push(DriveSpec {
            path,
            format,
            read_only: options.ro,
            overlay: options.ro && options.overlay,
        });
    }
    if let Some(socket) = &options.nbd {
        return serve_nbd(&mut session, socket);
    }
    let mut prepared = Vec::new();
    for (n, spec) in options.new.iter().enumerate() {
        match prepared_disk(n + 1, spec) {
            Ok(Some((drive, layout))) => {
                prepared.push((session.drives.len(), layout));
                session.drives.push(drive);
            }
            Ok(None) => return 0,
            Err(code) => return code,
        }
    }
    if !options.new.is_empty() {
        // -N launches, as guestfish does.
        session.launched = true;
        if let Err(e) = session.open_drives("launch") {
            crate::commands::report(&session, &e);
            return 1;
        }
        for (index, layout) in &prepared {
            let drive = crate::part::drive_name(*index);
            if let Err(e) = crate::commands::prepared::apply(&mut session, &drive, layout) {
                crate::commands::report(&session, &e);
                return 1;
            }
        }
    }

    let mut banner = String::new();
    if options.inspector || !options.mount.is_empty() {
        match mount_at_start(&mut session, options.inspector, &options.mount) {
            Ok(b) => banner = b,
            Err(code) => return code,
        }
    }

    if options.listen_server {
        return crate::remote::server::serve(Shell::new(session, false));
    }
    if options.appliance_shell {
        let code = crate::commands::guest::shell_loop(&mut session);
        return crate::commands::guest::close_at_exit(&mut session, code);
    }
    let mut shell = Shell::new(session, interactive);
    shell.banner_extra = banner;
    let relabel = options.selinux_relabel;
    let mut code = run_shell(
        &mut shell,
        options.commands,
        options.file.as_deref(),
        interactive,
        colour,
    );
    // The guest's changes are synced and its filesystems handed back before the session
    // ends (and before --selinux-relabel reads them).
    code = crate::commands::guest::close_at_exit(&mut shell.session, code);
    if relabel {
        crate::commands::selinux::autorelabel(&shell.session);
    }
    shell
        .session
        .events
        .fire(crate::commands::events::Event::Close, None, &[]);
    code
}

/// `--nbd SOCKET`: serve the first drive until killed.
fn serve_nbd(session: &mut Session, socket: &std::path::Path) -> i32 {
    if let Err(e) = session.open_drives("nbd") {
        crate::commands::report(session, &e);
        return 1;
    }
    let Some(drive) = session.open_drives.first() else {
        eprintln!("rfish: --nbd needs a drive (-a IMAGE)");
        return 1;
    };
    match crate::block::nbd::NbdExport::start(drive.dev.clone(), socket) {
        Ok(_export) => loop {
            std::thread::park();
        },
        Err(e) => {
            eprintln!("rfish: {}: {}", socket.display(), crate::os_error_text(&e));
            1
        }
    }
}

/// Run the commands from the command line, the -f file, the terminal or standard input.
fn run_shell(
    shell: &mut Shell,
    commands: Vec<OsString>,
    file: Option<&std::ffi::OsStr>,
    interactive: bool,
    colour: bool,
) -> i32 {
    if !commands.is_empty() {
        return run_command_line(shell, commands);
    }
    if let Some(file) = file {
        let reader = match std::fs::File::open(file) {
            Ok(f) => BufReader::new(f),
            Err(e) => {
                eprintln!("{}: {}", file.to_string_lossy(), crate::os_error_text(&e));
                return 1;
            }
        };
        shell.input_name = Some(file.to_string_lossy().into_owned());
        return status(shell.run_source(&mut ScriptSource::new(reader)));
    }
    if interactive {
        return match shell::repl::run(shell, colour) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("rfish: {e:#}");
                1
            }
        };
    }
    shell.input_name = Some("*stdin*".into());
    let stdin = io::stdin().lock();
    status(shell.run_source(&mut ScriptSource::new(stdin)))
}

/// What guestfish prints (with its name) when -i finds no OS or several.
fn no_os_message(multi: bool) -> String {
    let (what, tools) = if multi {
        (
            "multi-boot operating systems are not supported",
            "If using other virt tools, multi-boot operating systems won\u{2019}t work\n",
        )
    } else {
        (
            "no operating system was found on this disk",
            "If using other virt tools, this disk image won\u{2019}t work\n",
        )
    };
    format!(
        "rfish: {what}\n\n\
         If using guestfish \u{2018}-i\u{2019} option, remove this option and instead\n\
         use the commands \u{2018}run\u{2019} followed by \u{2018}list-filesystems\u{2019}.\n\
         You can then mount filesystems you want by hand using the\n\
         \u{2018}mount\u{2019} or \u{2018}mount-ro\u{2019} command.\n\n\
         If using guestmount \u{2018}-i\u{2019}, remove this option and choose the\n\
         filesystem(s) you want to see by manually adding \u{2018}-m\u{2019} option(s).\n\
         Use \u{2018}virt-filesystems\u{2019} to see what filesystems are available.\n\n\
         {tools}\
         with these tools.  Use the guestfish equivalent commands\n\
         (see the virt tool manual page).\n"
    )
}

/// -i and -m: launch, then inspect and mount the guest's filesystems (-i), or mount the
/// given ones (-m). Returns the -i banner for interactive sessions, or the exit status.
fn mount_at_start(session: &mut Session, inspect: bool, mounts: &[String]) -> Result<String, i32> {
    use crate::commands::{Ctx, inspect as insp, mount, report};
    session.launched = true;
    if let Err(e) = session.open_drives("launch") {
        report(session, &e);
        return Err(1);
    }
    let mut stdout = io::stdout();
    let mut ctx = Ctx {
        session,
        out: &mut stdout,
    };
    let mut banner = String::new();
    if inspect {
        let roots = match insp::inspect_os(ctx.session) {
            Ok(r) => r,
            Err(e) => {
                report(ctx.session, &e);
                return Err(1);
            }
        };
        if roots.len() != 1 {
            eprint!("{}", no_os_message(roots.len() > 1));
            return Err(1);
        }
        match insp::mount_root(&mut ctx, &roots[0]) {
            Ok(true) => {}
            Ok(false) => return Err(1),
            Err(e) => {
                report(ctx.session, &e);
                return Err(1);
            }
        }
        banner = insp::banner(ctx.session, &roots[0]);
    }
    for spec in mounts {
        // DEV[:MOUNTPOINT[:OPTIONS[:FSTYPE]]]
        let mut parts = spec.splitn(4, ':');
        let dev = parts.next().unwrap_or("");
        let mp = parts.next().filter(|m| !m.is_empty()).unwrap_or("/");
        let opts = parts.next().unwrap_or("");
        let ro = ctx.session.read_only;
        let func = if ro { "mount_ro" } else { "mount" };
        let opts = match (ro, opts.is_empty()) {
            (true, true) => "ro".to_string(),
            (true, false) => format!("ro,{opts}"),
            (false, _) => opts.to_string(),
        };
        if let Err(e) = mount::mount_device(&mut ctx, func, dev, mp, &opts, None, ro) {
            report(ctx.session, &e);
            return Err(1);
        }
    }
    Ok(banner)
}

fn status(result: Result<(), shell::Exit>) -> i32 {
    match result {
        Ok(()) => 0,
        Err(shell::Exit(code)) => code,
    }
}

/// guestfish's checks of --listen and --remote against the other options, plus rfish's
/// refusal of options that would apply to the --remote client instead of the server.
fn check_remote_options(o: &Options) -> Option<i32> {
    let error = |msg: &str| {
        eprintln!("rfish: {msg}");
        Some(1)
    };
    if o.listen && o.remote.is_some() {
        return error("cannot use --listen and --remote options at the same time");
    }
    if o.listen && !o.commands.is_empty() {
        return error("extra parameters on the command line with --listen flag");
    }
    if o.listen && o.file.is_some() {
        return error("cannot use --listen and --file options at the same time");
    }
    if o.remote.is_some()
        && (!o.add.is_empty() || !o.new.is_empty() || !o.mount.is_empty() || o.inspector)
    {
        return error(
            "-a, -N, -m and -i cannot be used with --remote: they would apply to this \
             process, not to the server (send the add, mount or inspect-os commands \
             instead)",
        );
    }
    None
}

/// `--remote[=PID]`: run the commands (from the command line, -f, the terminal or
/// standard input) in the server.
fn run_remote(commands: Vec<OsString>, file: Option<OsString>, pid: &str) -> i32 {
    let server = match crate::remote::client::server_pid(Some(pid)) {
        Ok(p) => p,
        Err(crate::remote::client::RemoteError(msg)) => {
            eprintln!("{msg}");
            return 1;
        }
    };
    let interactive = file.is_none() && io::stdin().is_terminal();
    let colour = crate::colour::decide(io::stderr().is_terminal());
    let mut shell = Shell::new(Session::default(), interactive);
    shell.remote = Some(server);
    run_shell(&mut shell, commands, file.as_deref(), interactive, colour)
}

/// Options whose layers do not exist yet.
fn unsupported(o: &Options) -> Option<&'static str> {
    if !o.domain.is_empty() || o.connect.is_some() {
        Some("-d/-c (libvirt guests)")
    } else if o.live {
        Some("--live")
    } else if o.keys_from_stdin || !o.key.is_empty() {
        Some("--key/--keys-from-stdin (LUKS)")
    } else {
        None
    }
}

/// `-N [FILE=]TYPE[:OPTIONS]`: create a prepared disk's file (its partitions and
/// filesystems are made once it is open), or print the list for `-N help` (`Ok(None)`).
fn prepared_disk(
    n: usize,
    spec: &str,
) -> Result<Option<(DriveSpec, crate::commands::prepared::Prepared)>, i32> {
    if spec == "help" || spec == "list" {
        print!("{}", crate::commands::prepared::HELP);
        return Ok(None);
    }
    let prepared = crate::commands::prepared::parse(n, spec).map_err(|e| {
        eprintln!("rfish: {e}");
        1
    })?;
    if let Err(e) = crate::commands::disk::create_raw(&prepared.file, prepared.size, "sparse") {
        crate::commands::report(&Session::default(), &e);
        return Err(1);
    }
    Ok(Some((
        DriveSpec {
            path: prepared.file.clone(),
            format: Some("raw".into()),
            read_only: false,
            overlay: false,
        },
        prepared,
    )))
}

/// `rfish -h` lists the commands; `rfish -h CMD` (or `-h` followed by a word) shows one.
fn cmd_help(cmd: Option<String>, rest: &[OsString]) -> i32 {
    let cmd = cmd.or_else(|| {
        rest.first()
            .map(|w| w.to_string_lossy().into_owned())
            .filter(|w| !w.starts_with('-'))
    });
    match cmd {
        None => {
            print!("{}", help::command_list());
            0
        }
        Some(name) => match help::command_help(&name) {
            Ok(text) => {
                print!("{text}");
                0
            }
            Err(e) => {
                commands::report(&Session::default(), &e);
                1
            }
        },
    }
}

/// `rfish cmd args : cmd args`: each command's words verbatim; `-cmd` ignores its error.
fn run_command_line(shell: &mut Shell, words: Vec<OsString>) -> i32 {
    let words: Vec<Vec<u8>> = words.into_iter().map(OsStringExt::into_vec).collect();
    for group in words.split(|w| w == b":") {
        let Some((name, args)) = group.split_first() else {
            eprintln!("rfish: empty command on command line");
            return 1;
        };
        let (name, ignore) = match name.strip_prefix(b"-") {
            Some(rest) => (rest, true),
            None => (name.as_slice(), false),
        };
        let name = String::from_utf8_lossy(name).into_owned();
        if shell.issue(&name, args, None, !ignore) == Outcome::Failed && !ignore {
            return 1;
        }
        if shell.session.quit {
            break;
        }
    }
    0
}

/// `rfish --help`.
pub fn usage_text() -> String {
    let mut s = String::from(
        "rfish: guest filesystem shell\n\
         rfish lets you edit virtual machine filesystems, guestfish-compatibly, without\n\
         booting a virtual machine for file-level work.\n\
         Usage:\n  rfish [--options] cmd [: cmd : cmd ...]\n\
         Options:\n",
    );
    let rows = [
        ("-h|--cmd-help", "List available commands"),
        ("-h|--cmd-help cmd", "Display detailed help on 'cmd'"),
        ("-a|--add image", "Add image"),
        ("-f|--file file", "Read commands from file"),
        ("--format[=raw|..]", "Force disk format for -a option"),
        ("--csh", "Make --listen csh-compatible"),
        ("-i|--inspector", "Automatically mount filesystems"),
        ("--listen", "Listen for remote commands"),
        (
            "-m|--mount dev[:mnt[:opts[:fstype]]]",
            "Mount dev on mnt (if omitted, /)",
        ),
        ("-n|--no-sync", "Don't autosync"),
        (
            "--nbd SOCKET",
            "Export the first drive over NBD on SOCKET (like qemu-nbd)",
        ),
        ("-N|--new type", "Create prepared disk (test1.img, ...)"),
        ("--network", "Enable network for 'command' and 'sh'"),
        (
            "--accel auto|kvm|tcg",
            "Appliance accelerator (default auto)",
        ),
        (
            "--appliance-shell",
            "Boot the appliance and run a shell in it (diagnosis)",
        ),
        ("--pipe-error", "Fail a command whose '| host-cmd' fails"),
        (
            "--progress-bars",
            "Enable progress bars even when not interactive",
        ),
        ("--no-progress-bars", "Disable progress bars"),
        ("--remote[=pid]", "Send commands to remote rfish"),
        ("-r|--ro", "Mount read-only"),
        (
            "--selinux-relabel",
            "Relabel an SELinux guest at exit (or touch /.autorelabel)",
        ),
        ("--overlay", "With --ro: keep writes in memory"),
        ("-v|--verbose", "Verbose messages"),
        ("-V|--version", "Display version and exit"),
        ("-w|--rw", "Mount read-write"),
        ("-x", "Echo each command before executing it"),
    ];
    for (opt, what) in rows {
        s.push_str(&format!("  {opt:<20} {what}\n"));
    }
    s.push_str(
        "\nTo examine a disk image, ISO, hard disk, filesystem etc:\n  \
         rfish [--ro|--rw] -i -a /path/to/disk.img\n\n\
         --ro recommended to avoid any writes to the disk image.\n\n\
         Environment: RFISH_PS1 sets the prompt; NO_COLOR turns colour off.\n",
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drives(args: &[&str]) -> Vec<(String, Option<String>)> {
        let argv = std::iter::once("rfish").chain(args.iter().copied());
        let matches = Options::command()
            .try_get_matches_from(argv)
            .expect("valid options");
        let options = Options::from_arg_matches(&matches).expect("options");
        drives_in_order(&matches, &options)
    }

    #[test]
    fn format_applies_to_the_drives_after_it() {
        assert_eq!(
            drives(&[
                "-a",
                "a.img",
                "--format=raw",
                "-a",
                "b.img",
                "-a",
                "c.img",
                "--format",
                "-a",
                "d.qcow2",
                "--format=qcow2",
                "-a",
                "e"
            ]),
            vec![
                ("a.img".to_string(), None),
                ("b.img".to_string(), Some("raw".to_string())),
                ("c.img".to_string(), Some("raw".to_string())),
                ("d.qcow2".to_string(), None),
                ("e".to_string(), Some("qcow2".to_string())),
            ]
        );
    }

    #[test]
    fn commands_after_the_options_are_taken_verbatim() {
        let matches = Options::command()
            .try_get_matches_from(["rfish", "-x", "echo", "-a", "--ro", ":", "version"])
            .expect("valid");
        let options = Options::from_arg_matches(&matches).expect("options");
        assert!(options.trace && !options.ro);
        assert_eq!(options.commands, ["echo", "-a", "--ro", ":", "version"]);
    }
}
