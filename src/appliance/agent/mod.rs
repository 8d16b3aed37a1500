//! The agent: PID 1 of rfish's appliance (the `rfish-agent` binary, packed as `/init`).
//!
//! It mounts /dev, /proc and /sys, loads the boot modules, waits for the disks and the
//! control port, says hello, then serves [`Request`]s until it is told to power off or the
//! channel closes. Guest programs run chrooted in /sysroot through a second instance of the
//! agent binary (`--exec-in-root`), which chroots, sets the umask and execs the program —
//! so no code runs between fork and exec.

mod boot;
mod files;
mod run;

use std::fs::File;
use std::sync::{Arc, Mutex};

use super::proto::{self, ProtoError, Reply, Request};

/// The guest root under which the user's filesystems are mounted.
pub const SYSROOT: &str = "/sysroot";

pub use files::SYNTHETIC_INO;

/// Where the agent mounts rfish's own mount `id` (outside the guest root).
pub fn remote_place(id: u32) -> String {
    files::place(id)
}

/// The agent's entry point.
pub fn main() -> i32 {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == run::EXEC_FLAG) {
        return run::exec_in_root(&args[2..]);
    }
    if std::process::id() != 1 {
        eprintln!("rfish-agent: this is the init of rfish's appliance; it runs as PID 1 only");
        return 2;
    }
    if let Err(e) = serve() {
        eprintln!("rfish-agent: {e}");
    }
    boot::power_off()
}

/// The channel to rfish, shared by the request loop and the output forwarders.
pub(crate) type Port = Arc<Mutex<File>>;

/// Send one reply (errors are the host's problem: it notices the closed channel).
pub(crate) fn send(port: &Port, reply: &Reply) {
    if let Ok(mut f) = port.lock() {
        let _ = proto::write_frame(&mut *f, &reply.encode());
    }
}

fn serve() -> Result<(), String> {
    let boot = boot::boot()?;
    let mut reader = boot.port.try_clone().map_err(|e| format!("port: {e}"))?;
    let port: Port = Arc::new(Mutex::new(boot.port));
    send(
        &port,
        &Reply::Hello {
            version: proto::VERSION,
            kernel: boot.kernel,
        },
    );
    let mut modules = boot.modules;
    let runner = run::Runner::default();
    let mut files = files::Files::default();
    loop {
        let body = match proto::read_frame(&mut reader) {
            Ok(b) => b,
            Err(ProtoError::Io(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                return Err("the host closed the channel".into());
            }
            Err(e) => return Err(format!("channel: {e}")),
        };
        let req = match Request::decode(&body) {
            Ok(r) => r,
            Err(e) => {
                send(&port, &Reply::Error(e.to_string()));
                continue;
            }
        };
        let answer = |r: Result<(), String>| match r {
            Ok(()) => Reply::Ok,
            Err(m) => Reply::Error(m),
        };
        match req {
            Request::Mount(m) => send(&port, &answer(boot::mount(&mut modules, &m))),
            Request::UmountAll => {
                runner.unbind();
                send(&port, &answer(boot::umount_all()));
            }
            Request::Run { argv, network } => {
                if network && let Err(e) = boot::network_up(&mut modules) {
                    send(&port, &Reply::Error(e));
                    continue;
                }
                if let Err(e) = runner.start(&port, argv, network) {
                    send(&port, &Reply::Error(e));
                }
            }
            Request::Tool { argv } => {
                // rfish may have written the disks natively since the kernel cached them.
                boot::drop_caches();
                if let Err(e) = runner.start_tool(&port, argv) {
                    send(&port, &Reply::Error(e));
                }
            }
            Request::Cancel => runner.cancel(),
            Request::Shutdown => {
                runner.cancel();
                runner.unbind();
                let mut r = boot::umount_all();
                for id in files.ids() {
                    files.detach(id);
                    r = r.and(boot::umount_one(&files::place(id)));
                }
                send(&port, &answer(r));
                return Ok(());
            }
            Request::Attach { id, spec } => {
                let place = files::place(id);
                boot::drop_caches();
                let r = std::fs::create_dir_all(&place)
                    .map_err(|e| format!("{place}: {e}"))
                    .and_then(|()| boot::mount_on(&mut modules, &spec, &place))
                    .and_then(|()| {
                        files.attach(id).inspect_err(|_| {
                            let _ = boot::umount_one(&place);
                        })
                    });
                send(&port, &answer(r));
            }
            Request::Detach { id } => {
                files.detach(id);
                send(&port, &answer(boot::umount_one(&files::place(id))));
            }
            Request::Fs { id, op } => {
                let reply = match files.perform(id, op) {
                    Ok(a) => Reply::Fs(a),
                    Err((errno, message)) => Reply::Errno { errno, message },
                };
                send(&port, &reply);
            }
        }
    }
}
