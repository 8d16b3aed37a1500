//! Commands that run guest programs in the appliance — command, command-lines, sh,
//! sh-lines — and the appliance's settings and lifetime: get-/set-memsize, get-/set-smp,
//! get-/set-network, shutdown, and rfish's appliance-launch.
//!
//! Coherence with native writes (../shared/design.md, invariant 1): before a guest
//! program runs, rfish commits and flushes, and the agent mounts the user's filesystems
//! fresh under /sysroot; they stay mounted across consecutive guest commands. Before any
//! other command, the agent syncs, unmounts and drops its caches, and rfish reopens its
//! native filesystems, so each side sees everything the other wrote.

use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use super::events::Event;
use super::spec::{ArgKind, ArgSpec, CommandSpec, RetType, arg, declared};
use super::{Args, CmdError, Ctx, Value};
use crate::appliance::launch::{self, Appliance, Drive, Settings};
use crate::appliance::proto::{MountSpec, Request};
use crate::session::Session;

/// Commands that use the appliance with the guest filesystems mounted.
pub const GUEST_COMMANDS: &[&str] = &["command", "command-lines", "sh", "sh-lines"];

/// Whether command `name` runs with the guest filesystems left mounted in the appliance:
/// guest commands, and `time`/`not`, which run another command (whose own dispatch hands
/// the filesystems back if it needs them).
pub fn keeps_guest_mounts(name: &str) -> bool {
    GUEST_COMMANDS.contains(&name) || name == "time" || name == "not"
}

/// Set by Ctrl-C while a guest program runs; `IDLE` is set otherwise, when Ctrl-C ends
/// rfish as it always did.
struct Interrupt {
    cancel: Arc<AtomicBool>,
    idle: Arc<AtomicBool>,
}

fn interrupt() -> &'static Interrupt {
    static I: OnceLock<Interrupt> = OnceLock::new();
    I.get_or_init(|| {
        let cancel = Arc::new(AtomicBool::new(false));
        let idle = Arc::new(AtomicBool::new(true));
        let sig = signal_hook::consts::SIGINT;
        // Idle: terminate with the shell's status for SIGINT. Busy: ask for cancellation.
        let _ = signal_hook::flag::register_conditional_shutdown(sig, 130, idle.clone());
        let _ = signal_hook::flag::register(sig, cancel.clone());
        Interrupt { cancel, idle }
    })
}

/// The appliance's settings as the session has them.
fn settings(s: &Session) -> Result<Settings, String> {
    Ok(Settings {
        memsize: s.memsize.unwrap_or_else(launch::default_memsize),
        smp: s.smp.max(1),
        network: s.network,
        accel: match s.accel {
            Some(a) => a,
            None => launch::env_accel()?,
        },
        verbose: s.verbose > 0,
    })
}

/// The appliance's new console output: printed with -v, and raised as an `appliance`
/// event.
fn console_output(s: &Session, app: &mut Appliance) {
    if s.verbose == 0 && !s.events.wants(Event::Appliance) {
        return;
    }
    let news = app.console_news();
    if s.verbose > 0 {
        eprint!("{news}");
    }
    if !news.is_empty() {
        s.events.fire(Event::Appliance, Some(news.as_bytes()), &[]);
    }
}

/// Most logical volumes attached to the appliance as disks of their own.
const MAX_LV_DISKS: usize = 24;

/// A running appliance for `func`, booted now if needed (again if networking was turned
/// on since it booted, if the partition tables or logical volumes changed, or if it
/// died). rfish's own mounts in an appliance that is replaced are mounted again in the
/// new one.
pub(crate) fn ensure(s: &mut Session, func: &str) -> Result<(), CmdError> {
    s.open_drives(func)?;
    let layout = drive_layout(s);
    let extra = extra_devices(s, func)?;
    let link = s.link.clone();
    let stale = link.lock().app.as_ref().is_some_and(|a| {
        (s.network && !a.network)
            || a.layout != layout
            || extra.iter().any(|e| !a.extra.contains(e))
    });
    if stale {
        hand_back(s)?;
        s.vfs
            .commit_all()
            .map_err(|e| CmdError::api(func, e.to_string()))?;
        let old = link.lock().app.take();
        if let Some(a) = old {
            let _ = a.shutdown();
        }
    }
    if link.is_up() {
        return Ok(());
    }
    let mut drives: Vec<Drive> = s
        .open_drives
        .iter()
        .map(|d| Drive {
            dev: d.dev.clone(),
            read_only: d.dev.is_read_only(),
            serial: None,
        })
        .collect();
    for (i, name) in extra.iter().enumerate() {
        let d = s.device(func, name)?;
        drives.push(Drive {
            read_only: d.read_only || d.dev.is_read_only(),
            dev: d.dev,
            serial: Some(format!("lv{i}")),
        });
    }
    let settings = settings(s).map_err(|e| CmdError::api(func, e))?;
    let mut app = Appliance::launch(&drives, &settings).map_err(|e| CmdError::api(func, e))?;
    app.layout = layout;
    app.extra = extra.clone();
    console_output(s, &mut app);
    if s.verbose > 0 {
        eprintln!(
            "rfish: appliance up in {:.2} s ({}, kernel {})",
            app.boot_time.as_secs_f64(),
            app.accel,
            app.kernel
        );
    }
    let mut st = link.lock();
    st.epoch += 1;
    let attached = std::mem::take(&mut st.attached);
    for (id, mut a) in attached {
        a.spec.device = guest_device(&a.device, &extra);
        match app.call(&Request::Attach {
            id,
            spec: a.spec.clone(),
        }) {
            Ok(()) => {
                st.attached.insert(id, a);
            }
            Err(e) => eprintln!("rfish: {}: could not mount it again: {e}", a.device),
        }
    }
    st.app = Some(app);
    Ok(())
}

/// Mount `device` (rfish's name) of type `vfstype` in the appliance for rfish's file
/// commands, booting the appliance if needed. XFS on a read-only device is mounted with
/// norecovery (its log cannot be replayed), as guestfish does.
pub(crate) fn open_remote(
    s: &mut Session,
    func: &str,
    device: &str,
    vfstype: &str,
    rw: bool,
    read_only_dev: bool,
    options: &str,
) -> Result<Arc<dyn crate::fs::Filesystem>, CmdError> {
    s.vfs
        .commit_all()
        .map_err(|e| CmdError::api(func, e.to_string()))?;
    s.flush_drives().map_err(|e| CmdError::api(func, e))?;
    ensure(s, func)?;
    let extra = s
        .link
        .lock()
        .app
        .as_ref()
        .map(|a| a.extra.clone())
        .unwrap_or_default();
    let mut opts: Vec<&str> = options
        .split(',')
        .filter(|o| !o.is_empty() && *o != "ro" && *o != "rw")
        .collect();
    if vfstype == "xfs" && read_only_dev && !opts.contains(&"norecovery") {
        opts.push("norecovery");
    }
    let spec = MountSpec {
        device: guest_device(device, &extra),
        mountpoint: String::new(),
        vfstype: vfstype.to_string(),
        options: opts.join(","),
        read_only: !rw,
    };
    let id = s
        .link
        .attach(device, spec)
        .map_err(|e| CmdError::api(func, format!("{device}: {e}")))?;
    let fs = crate::appliance::remote::RemoteFs::new(s.link.clone(), id, vfstype, rw)
        .map_err(|e| CmdError::api(func, format!("{device}: {e}")))?;
    Ok(Arc::new(fs))
}

/// Every drive's partition table (what the guest kernel reads at boot; rfish's partition
/// commands change it, and a guest kernel that booted before must boot again).
fn drive_layout(s: &Session) -> Vec<Option<crate::part::PartTable>> {
    s.open_drives
        .iter()
        .map(|d| crate::part::read_table(d.dev.as_ref()).ok().flatten())
        .collect()
}

/// The devices the guest kernel cannot name itself: logical volumes (the appliance has no
/// device-mapper setup; rfish decodes them and attaches each as a disk). Every volume of
/// the session's volume groups is attached (up to [`MAX_LV_DISKS`]), so mounting one later
/// needs no new boot; mounted ones come first.
fn extra_devices(s: &mut Session, func: &str) -> Result<Vec<String>, CmdError> {
    let mut out: Vec<String> = Vec::new();
    let mounted = s.vfs.mounts().iter().map(|m| m.device.clone());
    let attached: Vec<String> = s
        .link
        .lock()
        .attached
        .values()
        .map(|a| a.device.clone())
        .collect();
    for d in mounted.chain(attached) {
        if crate::part::parse_device_name(&d).is_none() && !out.contains(&d) {
            out.push(d);
        }
    }
    for vg in s.volume_groups(func)? {
        for lv in &vg.lvs {
            let name = format!("/dev/{}/{}", vg.name, lv.name);
            if out.len() < MAX_LV_DISKS && !out.contains(&name) {
                out.push(name);
            }
        }
    }
    Ok(out)
}

/// The guest kernel's name for a device rfish names `device`.
fn guest_device(device: &str, extra: &[String]) -> String {
    match crate::part::parse_device_name(device) {
        Some(p) => crate::part::canonical_name(p),
        None => {
            let i = extra.iter().position(|e| e == device).unwrap_or(usize::MAX);
            format!("/dev/rfish/lv{i}")
        }
    }
}

/// Mount the session's filesystems in the appliance (if they are not already): native
/// ones from their devices, the appliance's own mounts bound from where they are.
fn mount_in_guest(s: &mut Session, func: &str) -> Result<(), CmdError> {
    let link = s.link.clone();
    if link.lock().app.as_ref().is_some_and(|a| a.mounted) {
        return Ok(());
    }
    s.vfs
        .commit_all()
        .map_err(|e| CmdError::api(func, e.to_string()))?;
    s.flush_drives().map_err(|e| CmdError::api(func, e))?;
    let extra = link
        .lock()
        .app
        .as_ref()
        .map(|a| a.extra.clone())
        .unwrap_or_default();
    let mut specs = Vec::new();
    for m in s.vfs.mounts().to_vec() {
        if let Some(id) = m.fs.appliance_mount() {
            specs.push(MountSpec {
                device: crate::appliance::agent::remote_place(id),
                mountpoint: m.mountpoint.clone(),
                vfstype: "bind".into(),
                options: String::new(),
                read_only: m.read_only,
            });
            continue;
        }
        let (_, vfstype) = s.device_fs_type(func, &m.device)?;
        let options = m
            .options
            .split(',')
            .filter(|o| !o.is_empty() && *o != "ro" && *o != "rw")
            .collect::<Vec<_>>()
            .join(",");
        specs.push(MountSpec {
            device: guest_device(&m.device, &extra),
            mountpoint: m.mountpoint.clone(),
            vfstype,
            options,
            read_only: m.read_only,
        });
    }
    let mut st = link.lock();
    let app = st.app.as_mut().expect("ensured");
    for spec in &specs {
        if let Err(e) = app.call(&Request::Mount(spec.clone())) {
            let _ = app.call(&Request::UmountAll);
            return Err(CmdError::api(func, e));
        }
    }
    app.mounted = true;
    Ok(())
}

/// Give the filesystems back to rfish after guest commands: the agent syncs, unmounts
/// the guest root and drops its caches; rfish reopens its native filesystems (their
/// caches would be stale) and its appliance mounts forget what they cached. Does nothing
/// when the appliance has nothing mounted.
pub fn hand_back(s: &mut Session) -> Result<(), CmdError> {
    let link = s.link.clone();
    let result = {
        let mut st = link.lock();
        let Some(app) = st.app.as_mut() else {
            return Ok(());
        };
        if !app.mounted {
            return Ok(());
        }
        app.mounted = false;
        let r = app.call(&Request::UmountAll);
        st.epoch += 1;
        r
    };
    let reopened = s.reopen_filesystems("command");
    result.map_err(|e| CmdError::api("command", e))?;
    reopened
}

/// Shut the appliance down (at the end of the session, `shutdown`, `reopen`).
pub fn close(s: &mut Session) -> Result<(), CmdError> {
    hand_back(s)?;
    let committed = s.vfs.commit_all();
    let app = s.link.lock().app.take();
    let r = match app {
        Some(a) => {
            let r = a.shutdown().map_err(|e| CmdError::api("shutdown", e));
            s.events.fire(Event::SubprocessQuit, None, &[]);
            r
        }
        None => Ok(()),
    };
    committed.map_err(|e| CmdError::api("shutdown", e.to_string()))?;
    r
}

/// [`close`] at the end of a session: a failure is reported, and turns `code` (the
/// session's exit status) into 1.
pub fn close_at_exit(s: &mut Session, code: i32) -> i32 {
    match close(s) {
        Ok(()) => code,
        Err(e) => {
            super::report(s, &e);
            1
        }
    }
}

/// Run `tool` (one of the host programs the appliance carries, see
/// [`crate::appliance::build::TOOLS`]) with `args`, then `device` as the appliance names
/// it: the exit status and standard error. Only a missing tool or a failed appliance is
/// an error.
pub(crate) fn run_tool_status(
    s: &mut Session,
    func: &str,
    tool: &str,
    args: &[String],
    device: &str,
) -> Result<(i32, Vec<u8>), CmdError> {
    hand_back(s)?;
    s.vfs
        .commit_all()
        .map_err(|e| CmdError::api(func, e.to_string()))?;
    s.flush_drives().map_err(|e| CmdError::api(func, e))?;
    ensure(s, func)?;
    let link = s.link.clone();
    let mut st = link.lock();
    let app = st.app.as_mut().expect("ensured");
    let mut argv = vec![format!("/sbin/{tool}").into_bytes()];
    argv.extend(args.iter().map(|a| a.as_bytes().to_vec()));
    argv.push(guest_device(device, &app.extra).into_bytes());
    let mut err = Vec::new();
    let cancel = std::sync::atomic::AtomicBool::new(false);
    let result = app.run_tool(argv, &cancel, |stream, data| {
        if stream == 2 {
            err.extend_from_slice(data);
        }
    });
    match result {
        Ok(127) => Err(CmdError::api(
            func,
            format!(
                "{tool} is not on this machine: rfish's appliance carries the host's own {tool} (install the package that has it)"
            ),
        )),
        Ok(code) => Ok((code, err)),
        Err(e) => {
            st.app = None;
            Err(CmdError::api(func, e))
        }
    }
}

/// libguestfs's error text for a failed program: its stderr without the last newline.
pub(crate) fn failure_text(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    text.strip_suffix('\n').unwrap_or(&text).to_string()
}

/// Cancel the guest program running now, as Ctrl-C does (for a `--remote` client's
/// Ctrl-C, which reaches its server as a message). Nothing happens when none runs.
pub fn cancel_guest_program() {
    let int = interrupt();
    if !int.idle.load(Ordering::SeqCst) {
        int.cancel.store(true, Ordering::SeqCst);
    }
}

/// Run `argv` in the appliance with Ctrl-C cancelling it (rather than ending rfish):
/// (the exit status or the appliance's failure, whether Ctrl-C was pressed).
fn run_interruptible(
    app: &mut Appliance,
    argv: Vec<Vec<u8>>,
    network: bool,
    sink: impl FnMut(u8, &[u8]),
) -> (Result<i32, String>, bool) {
    let int = interrupt();
    int.cancel.store(false, Ordering::SeqCst);
    int.idle.store(false, Ordering::SeqCst);
    let result = app.run(argv, network, &int.cancel, sink);
    int.idle.store(true, Ordering::SeqCst);
    (result, int.cancel.swap(false, Ordering::SeqCst))
}

/// Run `argv` in the guest root: its standard output, or an error carrying its stderr.
fn run_in_guest(ctx: &mut Ctx<'_>, func: &str, argv: Vec<Vec<u8>>) -> Result<Vec<u8>, CmdError> {
    let s = &mut *ctx.session;
    if s.vfs.mount_at("/").is_none() {
        return Err(CmdError::api(
            func,
            "do_command: you must call 'mount' first to mount the root filesystem",
        ));
    }
    if argv.is_empty() {
        return Err(CmdError::api(func, "passed an empty list"));
    }
    ensure(s, func)?;
    mount_in_guest(s, func)?;
    let network = s.network;
    let link = s.link.clone();
    let mut st = link.lock();
    let app = st.app.as_mut().expect("ensured");
    let mut out = Vec::new();
    let mut err = Vec::new();
    let (result, cancelled) = run_interruptible(app, argv, network, |stream, data| {
        if stream == 1 {
            out.extend_from_slice(data);
        } else {
            err.extend_from_slice(data);
        }
    });
    console_output(s, app);
    match result {
        Ok(0) => Ok(out),
        Ok(_) if cancelled => Err(CmdError::api(func, "operation cancelled by user")),
        Ok(_) => Err(CmdError::api(func, failure_text(&err))),
        Err(e) => {
            // The appliance is gone: forget it (the next guest command boots a new one),
            // and reload rfish's view of whatever the guest wrote before dying.
            if let Some(a) = st.app.take() {
                drop(a);
            }
            drop(st);
            let _ = s.reopen_filesystems(func);
            Err(CmdError::api(func, e))
        }
    }
}

/// `rfish --appliance-shell`: read command lines from standard input and run each with
/// the guest's /bin/sh in the appliance (the filesystems mounted with -m/-i), output
/// shown as it is produced; an exit status other than 0 is printed. Returns rfish's exit
/// status.
pub fn shell_loop(s: &mut Session) -> i32 {
    use std::io::{BufRead, IsTerminal, Write};
    if s.vfs.mount_at("/").is_none() {
        eprintln!("rfish: --appliance-shell needs the guest mounted: add -i or -m DEVICE");
        return 1;
    }
    if let Err(e) = ensure(s, "appliance_shell").and_then(|()| mount_in_guest(s, "appliance_shell"))
    {
        super::report(s, &e);
        return 1;
    }
    let interactive = std::io::stdin().is_terminal();
    let link = s.link.clone();
    let mut st = link.lock();
    let app = st.app.as_mut().expect("ensured");
    if interactive {
        eprintln!(
            "rfish appliance: kernel {} ({}); the guest is mounted on /. Ctrl-D ends.",
            app.kernel, app.accel
        );
    }
    let mut stdin = std::io::stdin().lock();
    loop {
        if interactive {
            eprint!("appliance# ");
        }
        let mut line = String::new();
        match stdin.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let line = line.trim_end_matches('\n');
        if line.trim().is_empty() {
            continue;
        }
        let (r, _) = run_interruptible(app, sh_argv(line.as_bytes()), s.network, |stream, data| {
            if stream == 1 {
                let _ = std::io::stdout().write_all(data);
                let _ = std::io::stdout().flush();
            } else {
                let _ = std::io::stderr().write_all(data);
            }
        });
        match r {
            Ok(0) => {}
            Ok(code) => eprintln!("[exit status {code}]"),
            Err(e) => {
                eprintln!("rfish: {e}");
                return 1;
            }
        }
    }
    0
}

/// libguestfs's split_lines: lines ended by newlines; a last line may lack its newline;
/// nothing after the last newline is no line.
fn split_lines(out: &[u8]) -> Vec<Vec<u8>> {
    let mut lines = Vec::new();
    let mut rest = out;
    while !rest.is_empty() {
        match rest.iter().position(|&b| b == b'\n') {
            Some(i) => {
                lines.push(rest[..i].to_vec());
                rest = &rest[i + 1..];
            }
            None => {
                lines.push(rest.to_vec());
                rest = &[];
            }
        }
    }
    lines
}

static ARGUMENTS: &[ArgSpec] = &[arg("arguments", ArgKind::StringList)];
static SH_COMMAND: &[ArgSpec] = &[arg("command", ArgKind::String)];

fn sh_argv(cmd: &[u8]) -> Vec<Vec<u8>> {
    vec![b"/bin/sh".to_vec(), b"-c".to_vec(), cmd.to_vec()]
}

/// `command`.
pub static COMMAND: CommandSpec = declared(
    "command",
    ARGUMENTS,
    RetType::String,
    "run a command from the guest filesystem",
    "Run a program from the guest filesystem, chrooted into the mounted guest (/ must be \
     mounted), with /dev, /dev/pts, /proc and /sys bind-mounted, standard input from \
     /dev/null, PATH=/sbin:/usr/sbin:/bin:/usr/bin, LC_ALL=C, TERM=dumb and umask 022. \
     Its standard output is printed; a non-zero exit status is an error carrying its \
     standard error. The first guest command boots rfish's appliance (a minimal Linux \
     guest; KVM when it works, else TCG), which then stays up for the session. With \
     --network (or set-network true) the guest has user-mode networking and a \
     resolv.conf. Ctrl-C interrupts the program (SIGINT, then SIGKILL).",
    &["command 'useradd alice'"],
    |ctx, args| run_in_guest(ctx, "command", args.list(0).to_vec()).map(Value::String),
);

/// `command-lines`.
pub static COMMAND_LINES: CommandSpec = declared(
    "command-lines",
    ARGUMENTS,
    RetType::StringList,
    "run a command, returning lines",
    "The same as command, but the output is split into lines.",
    &["command-lines 'ls /etc'"],
    |ctx, args| {
        run_in_guest(ctx, "command_lines", args.list(0).to_vec())
            .map(|o| Value::StringList(split_lines(&o)))
    },
);

/// `sh`.
pub static SH: CommandSpec = declared(
    "sh",
    SH_COMMAND,
    RetType::String,
    "run a command via the shell",
    "Run a command line with the guest's /bin/sh -c, in the environment command describes.",
    &["sh 'systemctl enable sshd && echo done'"],
    |ctx, args| run_in_guest(ctx, "sh", sh_argv(args.bytes(0))).map(Value::String),
);

/// `sh-lines`.
pub static SH_LINES: CommandSpec = declared(
    "sh-lines",
    SH_COMMAND,
    RetType::StringList,
    "run a command via the shell returning lines",
    "The same as sh, but the output is split into lines.",
    &["sh-lines 'ls /etc | head'"],
    |ctx, args| {
        run_in_guest(ctx, "sh_lines", sh_argv(args.bytes(0)))
            .map(|o| Value::StringList(split_lines(&o)))
    },
);

/// `shutdown`.
pub static SHUTDOWN: CommandSpec = declared(
    "shutdown",
    &[],
    RetType::Err,
    "shutdown the hypervisor",
    "Unmount the guest filesystems in the appliance and power it off (nothing to do when \
     it is not running). rfish's own filesystems stay mounted; the next guest command \
     boots the appliance again.",
    &["shutdown"],
    |ctx, _| close(ctx.session).map(|()| Value::Unit),
);

/// `appliance-launch` (rfish extra).
pub static APPLIANCE_LAUNCH: CommandSpec = declared(
    "appliance-launch",
    &[],
    RetType::Err,
    "boot rfish's appliance now",
    "Boot the appliance now rather than at the first guest command (launch/run do not \
     boot it: most sessions never need it). Prints nothing; -v shows the boot time and the \
     console log.",
    &["appliance-launch"],
    |ctx, _| ensure(ctx.session, "appliance_launch").map(|()| Value::Unit),
);

static MEMSIZE: &[ArgSpec] = &[arg("memsize", ArgKind::Int)];
static SMP: &[ArgSpec] = &[arg("smp", ArgKind::Int)];
static NETWORK: &[ArgSpec] = &[arg("network", ArgKind::Bool)];

fn set_memsize(ctx: &mut Ctx<'_>, args: &Args) -> Result<Value, CmdError> {
    let m = args.int(0);
    if !(128..=1 << 20).contains(&m) {
        return Err(CmdError::api(
            "set_memsize",
            format!("{m}: the appliance needs between 128 and 1048576 MiB"),
        ));
    }
    ctx.session.memsize = Some(m as u32);
    Ok(Value::Unit)
}

/// `set-memsize`.
pub static SET_MEMSIZE: CommandSpec = declared(
    "set-memsize",
    MEMSIZE,
    RetType::Err,
    "set memory allocated to the hypervisor",
    "Set the appliance's memory in megabytes (default 512, or RFISH_MEMSIZE); it applies \
     from the next appliance boot.",
    &["set-memsize 1024"],
    set_memsize,
);

/// `get-memsize`.
pub static GET_MEMSIZE: CommandSpec = declared(
    "get-memsize",
    &[],
    RetType::Int,
    "get memory allocated to the hypervisor",
    "The appliance's memory in megabytes.",
    &["get-memsize"],
    |ctx, _| {
        Ok(Value::Int(i64::from(
            ctx.session.memsize.unwrap_or_else(launch::default_memsize),
        )))
    },
);

/// `set-smp`.
pub static SET_SMP: CommandSpec = declared(
    "set-smp",
    SMP,
    RetType::Err,
    "set number of virtual CPUs in appliance",
    "Set the appliance's virtual CPUs (default 1); it applies from the next appliance boot.",
    &["set-smp 2"],
    |ctx, args| {
        let n = args.int(0);
        if !(1..=255).contains(&n) {
            return Err(CmdError::api("set_smp", format!("{n}: between 1 and 255")));
        }
        ctx.session.smp = n as u32;
        Ok(Value::Unit)
    },
);

/// `get-smp`.
pub static GET_SMP: CommandSpec = declared(
    "get-smp",
    &[],
    RetType::Int,
    "get number of virtual CPUs in appliance",
    "The appliance's virtual CPUs.",
    &["get-smp"],
    |ctx, _| Ok(Value::Int(i64::from(ctx.session.smp.max(1)))),
);

/// `set-network`.
pub static SET_NETWORK: CommandSpec = declared(
    "set-network",
    NETWORK,
    RetType::Err,
    "set enable network flag",
    "Give guest commands user-mode networking (as --network does). Turning it on after \
     the appliance booted reboots the appliance at the next guest command.",
    &["set-network true"],
    |ctx, args| {
        ctx.session.network = args.bool(0);
        Ok(Value::Unit)
    },
);

/// `get-network`.
pub static GET_NETWORK: CommandSpec = declared(
    "get-network",
    &[],
    RetType::Bool,
    "get enable network flag",
    "Whether guest commands get networking.",
    &["get-network"],
    |ctx, _| Ok(Value::Bool(ctx.session.network)),
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_splits_like_libguestfs() {
        assert_eq!(split_lines(b""), Vec::<Vec<u8>>::new());
        assert_eq!(split_lines(b"\n"), vec![Vec::<u8>::new()]);
        assert_eq!(
            split_lines(b"a\n\nb\n"),
            vec![b"a".to_vec(), b"".to_vec(), b"b".to_vec()]
        );
        assert_eq!(split_lines(b"a\nb"), vec![b"a".to_vec(), b"b".to_vec()]);
        assert_eq!(failure_text(b"first\nsecond\n"), "first\nsecond");
        assert_eq!(failure_text(b""), "");
    }
}
