//! Starting the appliance and talking to it: QEMU run directly (no libvirt) with the
//! drives exported over NBD from rfish's block layer on private unix sockets, a
//! virtio-serial port for the control channel, the serial console captured to a log.
//! KVM is used when it works; a KVM that makes QEMU fail or never lets the agent say
//! hello falls back to TCG with a one-line notice.

use std::io::{ErrorKind, Read};
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::build::{self, Payload};
use super::fsproto::{FsAnswer, FsOp};
use super::proto::{self, PORT_NAME, Reply, Request};
use crate::block::Device;
use crate::block::nbd::NbdExport;

/// Which accelerator QEMU uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Accel {
    /// KVM when /dev/kvm opens and works, else TCG.
    #[default]
    Auto,
    /// KVM or fail.
    Kvm,
    /// Software emulation.
    Tcg,
}

impl Accel {
    /// `auto`, `kvm` or `tcg`.
    pub fn parse(s: &str) -> Result<Accel, String> {
        match s {
            "auto" | "" => Ok(Accel::Auto),
            "kvm" => Ok(Accel::Kvm),
            "tcg" => Ok(Accel::Tcg),
            other => Err(format!(
                "unknown accelerator '{other}' (use auto, kvm or tcg)"
            )),
        }
    }
}

/// How to start the appliance.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Guest memory in MiB.
    pub memsize: u32,
    /// Virtual CPUs.
    pub smp: u32,
    /// User-mode networking.
    pub network: bool,
    /// The accelerator choice.
    pub accel: Accel,
    /// Print the console log after boot.
    pub verbose: bool,
}

/// The default guest memory (MiB): `RFISH_MEMSIZE`, else 512.
pub fn default_memsize() -> u32 {
    std::env::var("RFISH_MEMSIZE")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|&m| m >= 128)
        .unwrap_or(512)
}

/// The accelerator from `RFISH_ACCEL` (auto when unset).
pub fn env_accel() -> Result<Accel, String> {
    Accel::parse(&std::env::var("RFISH_ACCEL").unwrap_or_default())
        .map_err(|e| format!("RFISH_ACCEL: {e}"))
}

/// A drive to give the appliance.
pub struct Drive {
    /// The device (already decoded by rfish's block layer: the guest sees raw bytes).
    pub dev: Device,
    /// Attach it read-only.
    pub read_only: bool,
    /// `None`: one of the user's drives, a SCSI disk (/dev/sda, ... in order). `Some`: a
    /// device rfish decodes itself (a logical volume), attached as a virtio disk with this
    /// serial; the agent names it /dev/rfish/SERIAL.
    pub serial: Option<String>,
}

/// A running appliance.
pub struct Appliance {
    child: Child,
    chan: Channel,
    exports: Vec<NbdExport>,
    dir: tempfile::TempDir,
    /// The guest kernel's release.
    pub kernel: String,
    /// `kvm` or `tcg`.
    pub accel: &'static str,
    /// Booted with networking.
    pub network: bool,
    /// The user's filesystems are mounted in the guest.
    pub mounted: bool,
    /// From QEMU's start to the agent's hello.
    pub boot_time: Duration,
    /// The devices attached as extra virtio disks, by rfish's name (`/dev/VG/LV`); the
    /// one at index i is /dev/rfish/lv{i} in the guest.
    pub extra: Vec<String>,
    /// How much of the console log -v has shown.
    console_seen: usize,
    /// The drives' partition tables when it booted (the guest kernel read them then; a
    /// change means a reboot).
    pub layout: Vec<Option<crate::part::PartTable>>,
}

impl std::fmt::Debug for Appliance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Appliance")
            .field("kernel", &self.kernel)
            .field("accel", &self.accel)
            .field("mounted", &self.mounted)
            .finish()
    }
}

fn find_in_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// QEMU: `RFISH_QEMU`, else qemu-system-x86_64 on PATH.
fn find_qemu() -> Result<PathBuf, String> {
    if let Some(q) = std::env::var_os("RFISH_QEMU") {
        let q = PathBuf::from(q);
        return if q.is_file() {
            Ok(q)
        } else {
            Err(format!("RFISH_QEMU={}: no such file", q.display()))
        };
    }
    find_in_path("qemu-system-x86_64").ok_or_else(|| {
        "qemu-system-x86_64 was not found: install QEMU (apt install qemu-system-x86, \
         dnf install qemu-kvm) or set RFISH_QEMU"
            .to_string()
    })
}

/// The agent binary: `RFISH_AGENT`, else `rfish-agent` next to the running program.
fn find_agent() -> Result<PathBuf, String> {
    if let Some(a) = std::env::var_os("RFISH_AGENT") {
        return Ok(PathBuf::from(a));
    }
    let exe = std::env::current_exe().map_err(|e| format!("locating rfish: {e}"))?;
    let agent = exe.with_file_name("rfish-agent");
    if agent.is_file() {
        Ok(agent)
    } else {
        Err(format!(
            "{}: not found (it is installed with rfish; or set RFISH_AGENT)",
            agent.display()
        ))
    }
}

/// Whether /dev/kvm can be opened for use.
fn kvm_present() -> bool {
    std::fs::File::options()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_ok()
}

/// How long to wait for the agent's hello.
fn hello_timeout(accel: &str) -> Duration {
    let var = if accel == "kvm" {
        "RFISH_KVM_TIMEOUT"
    } else {
        "RFISH_LAUNCH_TIMEOUT"
    };
    let default = if accel == "kvm" { 20 } else { 300 };
    Duration::from_secs(
        std::env::var(var)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default),
    )
}

/// The last `n` lines of a text file.
fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read(path).unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

impl Appliance {
    /// Boot the appliance with `drives` (they appear as /dev/sda, /dev/sdb, ... in order).
    pub fn launch(drives: &[Drive], settings: &Settings) -> Result<Appliance, String> {
        let qemu = find_qemu()?;
        let kernel = build::find_kernel()?;
        let agent = find_agent()?;
        let payload = Payload::for_agent(&agent)?;
        let initrd = build::cached_initramfs(&build::cache_dir(), &kernel, &payload)?;
        let dir = tempfile::Builder::new()
            .prefix("rfish-appliance-")
            .tempdir()
            .map_err(|e| format!("creating a private directory: {e}"))?;
        let mut exports = Vec::new();
        for (i, d) in drives.iter().enumerate() {
            let sock = dir.path().join(format!("nbd{i}.sock"));
            exports.push(
                NbdExport::start(d.dev.clone(), &sock)
                    .map_err(|e| format!("{}: {e}", sock.display()))?,
            );
        }
        let accels: Vec<&'static str> = match settings.accel {
            Accel::Kvm => vec!["kvm"],
            Accel::Tcg => vec!["tcg"],
            Accel::Auto if kvm_present() => vec!["kvm", "tcg"],
            Accel::Auto => vec!["tcg"],
        };
        let mut last_error = String::new();
        for (n, accel) in accels.iter().enumerate() {
            let ctl = dir.path().join("control.sock");
            let _ = std::fs::remove_file(&ctl);
            let listener =
                UnixListener::bind(&ctl).map_err(|e| format!("{}: {e}", ctl.display()))?;
            let log = dir.path().join("console.log");
            let err = dir.path().join("qemu.err");
            let mut cmd = Command::new(&qemu);
            qemu_args(
                &mut cmd,
                accel,
                &kernel.image,
                &initrd,
                &ctl,
                &log,
                drives,
                settings,
            );
            let stderr =
                std::fs::File::create(&err).map_err(|e| format!("{}: {e}", err.display()))?;
            // Its own process group: a Ctrl-C on the terminal reaches rfish, not QEMU.
            cmd.stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(stderr)
                .process_group(0);
            let start = Instant::now();
            let mut child = cmd
                .spawn()
                .map_err(|e| format!("{}: {e}", qemu.display()))?;
            let limit = hello_timeout(accel);
            let deadline = start + limit;
            let booted = wait_connect(&mut child, &listener, deadline).and_then(|conn| {
                // Short read timeouts let the reader poll for Ctrl-C and QEMU's death.
                let _ = conn.set_read_timeout(Some(Duration::from_millis(100)));
                let mut chan = Channel {
                    conn,
                    pending: Vec::new(),
                    buf: vec![0u8; 64 << 10],
                };
                let kernel = hello(&mut child, &mut chan, deadline, limit)?;
                Ok((chan, kernel))
            });
            match booted {
                Ok((chan, kernel_release)) => {
                    return Ok(Appliance {
                        child,
                        chan,
                        exports,
                        dir,
                        kernel: kernel_release,
                        accel,
                        network: settings.network,
                        mounted: false,
                        boot_time: start.elapsed(),
                        layout: Vec::new(),
                        extra: Vec::new(),
                        console_seen: 0,
                    });
                }
                Err(what) => {
                    let _ = child.kill();
                    let status = child.wait().map(|s| s.to_string()).unwrap_or_default();
                    let mut e = format!("the appliance did not start with {accel}: {what}");
                    let qemu_err = tail(&err, 5);
                    if !qemu_err.is_empty() {
                        e.push_str(&format!("\nQEMU ({status}): {qemu_err}"));
                    }
                    let console = tail(&log, 10);
                    if !console.is_empty() {
                        e.push_str(&format!("\nconsole:\n{console}"));
                    }
                    if n + 1 < accels.len() {
                        let reason = qemu_err
                            .lines()
                            .find(|l| !l.is_empty())
                            .unwrap_or(&what)
                            .to_string();
                        eprintln!(
                            "rfish: KVM does not work on this machine ({reason}); using TCG, \
                             which is slower (set RFISH_ACCEL=tcg to skip the attempt)"
                        );
                    }
                    last_error = e;
                }
            }
        }
        Err(last_error)
    }

    /// Send `req` and wait for its Ok or Error.
    pub fn call(&mut self, req: &Request) -> Result<(), String> {
        self.send(req)?;
        loop {
            match self.next_reply(&AtomicBool::new(false))? {
                Reply::Ok => return Ok(()),
                Reply::Error(m) => return Err(m),
                Reply::Log(_) => {}
                other => return Err(format!("unexpected answer from the agent: {other:?}")),
            }
        }
    }

    /// Perform file operation `op` on rfish's mount `id`: the answer, or the errno
    /// (`Ok(Err(..))`); `Err` when the appliance failed.
    pub fn fs(&mut self, id: u32, op: FsOp) -> Result<Result<FsAnswer, (i32, String)>, String> {
        self.send(&Request::Fs { id, op })?;
        loop {
            match self.next_reply(&AtomicBool::new(false))? {
                Reply::Fs(a) => return Ok(Ok(a)),
                Reply::Errno { errno, message } => return Ok(Err((errno, message))),
                Reply::Log(_) => {}
                other => return Err(format!("unexpected answer from the agent: {other:?}")),
            }
        }
    }

    /// Run `argv` in the guest: `sink` gets each output chunk (1 stdout, 2 stderr) as it
    /// comes; the exit status (minus the signal) is returned. Setting `cancel` interrupts
    /// the program.
    pub fn run(
        &mut self,
        argv: Vec<Vec<u8>>,
        network: bool,
        cancel: &AtomicBool,
        sink: impl FnMut(u8, &[u8]),
    ) -> Result<i32, String> {
        self.run_request(&Request::Run { argv, network }, cancel, sink)
    }

    /// Run one of the appliance's own programs ([`Request::Tool`]) like [`Appliance::run`].
    pub fn run_tool(
        &mut self,
        argv: Vec<Vec<u8>>,
        cancel: &AtomicBool,
        sink: impl FnMut(u8, &[u8]),
    ) -> Result<i32, String> {
        self.run_request(&Request::Tool { argv }, cancel, sink)
    }

    fn run_request(
        &mut self,
        req: &Request,
        cancel: &AtomicBool,
        mut sink: impl FnMut(u8, &[u8]),
    ) -> Result<i32, String> {
        self.send(req)?;
        loop {
            match self.next_reply(cancel)? {
                Reply::Output { stream, data } => sink(stream, &data),
                Reply::Exited(code) => return Ok(code),
                Reply::Error(m) => return Err(m),
                Reply::Log(_) => {}
                other => return Err(format!("unexpected answer from the agent: {other:?}")),
            }
        }
    }

    fn send(&mut self, req: &Request) -> Result<(), String> {
        self.chan.send(req).map_err(|e| self.died(&e.to_string()))
    }

    /// The error for a channel that failed: the appliance's exit and the console's end.
    fn died(&mut self, what: &str) -> String {
        // A broken channel usually means QEMU is exiting: give it a moment, to say how.
        let mut status = None;
        for _ in 0..100 {
            if let Ok(Some(s)) = self.child.try_wait() {
                status = Some(format!("QEMU exited ({s})"));
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let status = status.unwrap_or_else(|| what.to_string());
        let console = tail(&self.dir.path().join("console.log"), 10);
        format!("the appliance died unexpectedly: {status}\n{console}")
            .trim_end()
            .to_string()
    }

    fn next_reply(&mut self, cancel: &AtomicBool) -> Result<Reply, String> {
        match self.chan.next_reply(&mut self.child, cancel, None) {
            Ok(r) => Ok(r),
            Err(Failure::Dead(m)) => Err(self.died(&m)),
            Err(Failure::Timeout) => Err(self.died("timeout")),
        }
    }

    /// What the serial console printed since the last call (or since boot).
    pub fn console_news(&mut self) -> String {
        let all = std::fs::read(self.dir.path().join("console.log")).unwrap_or_default();
        let from = self.console_seen.min(all.len());
        self.console_seen = all.len();
        String::from_utf8_lossy(&all[from..]).into_owned()
    }

    /// Unmount, power off and wait for QEMU (killing it if it does not stop in time).
    pub fn shutdown(mut self) -> Result<(), String> {
        self.stop()
    }

    fn stop(&mut self) -> Result<(), String> {
        if let Ok(Some(_)) = self.child.try_wait() {
            return Ok(());
        }
        // The agent unmounts (syncing) and answers, then powers off; neither may hang
        // rfish's exit.
        let deadline = Instant::now() + Duration::from_secs(30);
        let result = match self.send(&Request::Shutdown) {
            Err(e) => Err(e),
            Ok(()) => loop {
                match self
                    .chan
                    .next_reply(&mut self.child, &AtomicBool::new(false), Some(deadline))
                {
                    Ok(Reply::Ok) => break Ok(()),
                    Ok(Reply::Error(m)) => break Err(m),
                    Ok(_) => {}
                    Err(Failure::Dead(m)) => break Err(self.died(&m)),
                    Err(Failure::Timeout) => break Err("the agent did not answer".into()),
                }
            },
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                self.exports.clear();
                return result;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.exports.clear();
        result.and(Err(
            "the appliance did not power off; QEMU was killed".into()
        ))
    }
}

impl Drop for Appliance {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// QEMU's command line.
#[allow(clippy::too_many_arguments)]
fn qemu_args(
    cmd: &mut Command,
    accel: &str,
    kernel: &Path,
    initrd: &Path,
    ctl: &Path,
    log: &Path,
    drives: &[Drive],
    s: &Settings,
) {
    let mut append = format!(
        "console=ttyS0 panic=-1 8250.nr_uarts=1 no_timer_check cryptomgr.notests \
         tsc=reliable rfish.disks={} rfish.extra={}",
        drives.iter().filter(|d| d.serial.is_none()).count(),
        drives.iter().filter(|d| d.serial.is_some()).count()
    );
    if !s.verbose {
        append.push_str(" quiet");
    }
    cmd.args([
        "-no-user-config",
        "-nodefaults",
        "-display",
        "none",
        "-no-reboot",
    ])
    .args(["-machine", &format!("q35,accel={accel}")])
    .args(["-cpu", if accel == "kvm" { "host" } else { "max" }])
    .args(["-m", &s.memsize.to_string()])
    .args(["-smp", &s.smp.to_string()])
    .arg("-kernel")
    .arg(kernel)
    .arg("-initrd")
    .arg(initrd)
    .args(["-append", &append])
    .arg("-serial")
    .arg(format!("file:{}", log.display()))
    .args(["-device", "virtio-scsi-pci,id=scsi0"]);
    for (i, d) in drives.iter().enumerate() {
        let sock = ctl.with_file_name(format!("nbd{i}.sock"));
        cmd.arg("-blockdev").arg(format!(
            "driver=nbd,node-name=disk{i},server.type=unix,server.path={},read-only={},cache.direct=off",
            sock.display(),
            if d.read_only { "on" } else { "off" }
        ));
        let device = match &d.serial {
            None => format!("scsi-hd,drive=disk{i},bus=scsi0.0,channel=0,scsi-id={i},lun=0"),
            Some(serial) => format!("virtio-blk-pci,drive=disk{i},serial={serial}"),
        };
        cmd.args(["-device", &device]);
    }
    cmd.arg("-chardev")
        .arg(format!("socket,id=control,path={}", ctl.display()))
        .args(["-device", "virtio-serial-pci"])
        .args([
            "-device",
            &format!("virtserialport,chardev=control,name={PORT_NAME}"),
        ]);
    if s.network {
        cmd.args([
            "-netdev",
            "user,id=net0",
            "-device",
            "virtio-net-pci,netdev=net0",
        ]);
    }
}

/// Wait for QEMU to connect to the control socket.
fn wait_connect(
    child: &mut Child,
    listener: &UnixListener,
    deadline: Instant,
) -> Result<UnixStream, String> {
    let _ = listener.set_nonblocking(true);
    loop {
        match listener.accept() {
            Ok((c, _)) => {
                let _ = c.set_nonblocking(false);
                return Ok(c);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                if let Ok(Some(s)) = child.try_wait() {
                    return Err(format!("QEMU exited ({s})"));
                }
                if Instant::now() > deadline {
                    return Err("QEMU never connected to the control socket".into());
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// The control channel's host end: frames are assembled from whatever arrives, so a
/// read timeout (used to poll for cancellation and QEMU's death) never loses bytes.
struct Channel {
    conn: UnixStream,
    pending: Vec<u8>,
    /// The read buffer, reused for every read.
    buf: Vec<u8>,
}

/// Why no reply came.
enum Failure {
    /// The channel broke or QEMU exited (the detail).
    Dead(String),
    /// The deadline passed.
    Timeout,
}

impl Channel {
    fn send(&mut self, req: &Request) -> std::io::Result<()> {
        proto::write_frame(&mut self.conn, &req.encode())
    }

    fn next_reply(
        &mut self,
        child: &mut Child,
        cancel: &AtomicBool,
        deadline: Option<Instant>,
    ) -> Result<Reply, Failure> {
        let mut cancelled = false;
        loop {
            if self.pending.len() >= 4 {
                let len = u32::from_be_bytes([
                    self.pending[0],
                    self.pending[1],
                    self.pending[2],
                    self.pending[3],
                ]) as usize;
                if len == 0 || len > proto::MAX_FRAME {
                    return Err(Failure::Dead(format!("a frame of {len} bytes")));
                }
                if self.pending.len() >= 4 + len {
                    let body: Vec<u8> = self.pending.drain(..4 + len).skip(4).collect();
                    return Reply::decode(&body).map_err(|e| Failure::Dead(e.to_string()));
                }
            }
            if !cancelled && cancel.load(Ordering::SeqCst) {
                cancelled = true;
                self.send(&Request::Cancel)
                    .map_err(|e| Failure::Dead(e.to_string()))?;
            }
            match self.conn.read(&mut self.buf) {
                Ok(0) => {
                    // Usually QEMU is exiting: give it a moment, to say how it ended.
                    for _ in 0..100 {
                        if let Ok(Some(s)) = child.try_wait() {
                            return Err(Failure::Dead(format!("QEMU exited ({s})")));
                        }
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    return Err(Failure::Dead("the control channel closed".into()));
                }
                Ok(n) => self.pending.extend_from_slice(&self.buf[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    if let Ok(Some(s)) = child.try_wait() {
                        return Err(Failure::Dead(format!("QEMU exited ({s})")));
                    }
                    if deadline.is_some_and(|d| Instant::now() > d) {
                        return Err(Failure::Timeout);
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(Failure::Dead(e.to_string())),
            }
        }
    }
}

/// Wait for the agent's hello: the guest kernel's release.
fn hello(
    child: &mut Child,
    chan: &mut Channel,
    deadline: Instant,
    limit: Duration,
) -> Result<String, String> {
    match chan.next_reply(child, &AtomicBool::new(false), Some(deadline)) {
        Ok(Reply::Hello { version, kernel }) if version == proto::VERSION => Ok(kernel),
        Ok(Reply::Hello { version, .. }) => Err(format!(
            "the agent speaks protocol {version}, rfish {}",
            proto::VERSION
        )),
        Ok(other) => Err(format!("unexpected first message {other:?}")),
        Err(Failure::Dead(m)) => Err(m),
        Err(Failure::Timeout) => Err(format!(
            "no hello from the agent within {} s",
            limit.as_secs()
        )),
    }
}
