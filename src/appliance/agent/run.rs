//! Running guest programs: guestfish's `command` environment (chroot to the guest root with
//! /dev, /dev/pts, /proc and /sys bind-mounted, stdin /dev/null, a fixed environment,
//! umask 022), output streamed back as it is produced, cancellation by signal.

use std::ffi::OsString;
use std::io::Read;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::mount::{MntFlags, MsFlags};
use nix::sys::signal::Signal;
use nix::unistd::Pid;

use super::{Port, SYSROOT, send};
use crate::appliance::proto::{OUTPUT_CHUNK, Reply};

/// The first argument that makes the agent binary chroot and exec instead of serving.
pub const EXEC_FLAG: &str = "--exec-in-root";

/// How long a cancelled program has between SIGINT and SIGKILL.
const KILL_GRACE: Duration = Duration::from_secs(2);

/// The host's resolv.conf moved aside while a networked command runs.
const SAVED_RESOLV: &str = "/etc/resolv.conf.rfish-saved";

/// `--exec-in-root ROOT PROG ARGS...`: chroot, chdir /, umask 022, exec. Returns only on
/// failure, with the status a shell gives a program it cannot run.
pub fn exec_in_root(args: &[OsString]) -> i32 {
    let [root, prog, rest @ ..] = args else {
        eprintln!("usage: rfish-agent {EXEC_FLAG} ROOT PROGRAM [ARGS...]");
        return 2;
    };
    if let Err(e) = nix::unistd::chroot(root.as_os_str()).and_then(|()| nix::unistd::chdir("/")) {
        eprintln!("chroot {}: {e}", root.to_string_lossy());
        return 126;
    }
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
    let err = Command::new(prog).args(rest).exec();
    // strerror's text, as libguestfs prints it ("No such file or directory").
    let text = err.raw_os_error().map_or_else(
        || err.to_string(),
        |n| nix::errno::Errno::from_raw(n).desc().to_string(),
    );
    eprintln!("{}: {text}", prog.to_string_lossy());
    if err.kind() == std::io::ErrorKind::NotFound {
        127
    } else {
        126
    }
}

/// The program running now, if any (its PID is its process group), and the system
/// directories bind-mounted into the guest root (kept until the guest filesystems are
/// unmounted: binding and unbinding four mounts per command costs more than the command
/// under TCG).
#[derive(Default)]
pub struct Runner {
    running: Arc<Mutex<Option<u32>>>,
    binds: Mutex<Vec<String>>,
}

/// Bind-mount the appliance's /dev, /dev/pts, /proc and /sys into the guest root; the
/// ones that worked, to be unmounted afterwards (failures are ignored, as guestfish does).
fn bind_system_dirs() -> Vec<String> {
    let mut done = Vec::new();
    for d in ["/dev", "/dev/pts", "/proc", "/sys"] {
        let target = format!("{SYSROOT}{d}");
        let ok = std::path::Path::new(&target).is_dir()
            && nix::mount::mount(
                Some(d),
                target.as_str(),
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .is_ok();
        if ok {
            done.push(target);
        }
    }
    done
}

fn unbind(binds: &[String]) {
    for t in binds.iter().rev() {
        if nix::mount::umount2(t.as_str(), MntFlags::empty()).is_err() {
            let _ = nix::mount::umount2(t.as_str(), MntFlags::MNT_DETACH);
        }
    }
}

/// Put the appliance's resolv.conf in the guest for a networked command (the guest's own,
/// file or symlink, is moved aside and put back after).
fn resolv_in() -> Result<bool, String> {
    let guest = format!("{SYSROOT}/etc/resolv.conf");
    let saved = format!("{SYSROOT}{SAVED_RESOLV}");
    let had = std::fs::symlink_metadata(&guest).is_ok();
    if had {
        std::fs::rename(&guest, &saved).map_err(|e| format!("{guest}: {e}"))?;
    }
    std::fs::copy("/etc/resolv.conf", &guest).map_err(|e| format!("{guest}: {e}"))?;
    Ok(had)
}

fn resolv_out(had: bool) {
    let guest = format!("{SYSROOT}/etc/resolv.conf");
    let _ = std::fs::remove_file(&guest);
    if had {
        let _ = std::fs::rename(format!("{SYSROOT}{SAVED_RESOLV}"), &guest);
    }
}

/// Send what `r` produces as output chunks of `stream`.
fn forward(
    port: Port,
    mut r: impl Read + Send + 'static,
    stream: u8,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = vec![0u8; OUTPUT_CHUNK];
        loop {
            match r.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => send(
                    &port,
                    &Reply::Output {
                        stream,
                        data: buf[..n].to_vec(),
                    },
                ),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
    })
}

impl Runner {
    /// Start `argv` in the guest root; its output and exit status are sent to `port` as
    /// they come. An error means nothing was started.
    pub fn start(&self, port: &Port, argv: Vec<Vec<u8>>, network: bool) -> Result<(), String> {
        self.start_in(port, argv, network, SYSROOT)
    }

    /// Start one of the appliance's own programs (outside the guest root).
    pub fn start_tool(&self, port: &Port, argv: Vec<Vec<u8>>) -> Result<(), String> {
        self.start_in(port, argv, false, "/")
    }

    fn start_in(
        &self,
        port: &Port,
        argv: Vec<Vec<u8>>,
        network: bool,
        root: &str,
    ) -> Result<(), String> {
        if argv.is_empty() {
            return Err("passed an empty list".into());
        }
        let mut running = self.running.lock().map_err(|_| "runner state poisoned")?;
        if running.is_some() {
            return Err("a command is already running".into());
        }
        if root == SYSROOT {
            let mut binds = self.binds.lock().map_err(|_| "bind state poisoned")?;
            if binds.is_empty() {
                *binds = bind_system_dirs();
            }
        }
        let resolv = if network { Some(resolv_in()?) } else { None };
        let exe = std::env::current_exe().unwrap_or_else(|_| "/init".into());
        let spawned = Command::new(exe)
            .arg(EXEC_FLAG)
            .arg(root)
            .args(argv.into_iter().map(OsString::from_vec))
            .env_clear()
            .env("PATH", "/sbin:/usr/sbin:/bin:/usr/bin")
            .env("LC_ALL", "C")
            .env("TERM", "dumb")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn();
        let mut child = match spawned {
            Ok(c) => c,
            Err(e) => {
                if let Some(had) = resolv {
                    resolv_out(had);
                }
                return Err(format!("starting the command: {e}"));
            }
        };
        *running = Some(child.id());
        let out = child.stdout.take().map(|o| forward(port.clone(), o, 1));
        let err = child.stderr.take().map(|e| forward(port.clone(), e, 2));
        let state = self.running.clone();
        let port = port.clone();
        std::thread::spawn(move || {
            for t in [out, err].into_iter().flatten() {
                let _ = t.join();
            }
            let code = match child.wait() {
                Ok(s) => s.code().unwrap_or_else(|| -s.signal().unwrap_or(0)),
                Err(_) => -1,
            };
            if let Some(had) = resolv {
                resolv_out(had);
            }
            if let Ok(mut r) = state.lock() {
                *r = None;
            }
            send(&port, &Reply::Exited(code));
        });
        Ok(())
    }

    /// Unmount the bind mounts (before the guest filesystems are unmounted).
    pub fn unbind(&self) {
        if let Ok(mut binds) = self.binds.lock() {
            unbind(&binds);
            binds.clear();
        }
    }

    /// Interrupt the running program's process group; kill it if it is still there after
    /// a grace period.
    pub fn cancel(&self) {
        let Some(pid) = self.running.lock().ok().and_then(|r| *r) else {
            return;
        };
        let group = Pid::from_raw(pid as i32);
        let _ = nix::sys::signal::killpg(group, Signal::SIGINT);
        let state = self.running.clone();
        std::thread::spawn(move || {
            std::thread::sleep(KILL_GRACE);
            if state.lock().ok().and_then(|r| *r) == Some(pid) {
                let _ = nix::sys::signal::killpg(group, Signal::SIGKILL);
            }
        });
    }
}
