//! `rfish --remote`: send one command to a `--listen` server and wait for its status.
//! The command's output and errors reach this process's standard output and error from
//! the server directly ([`super::stdio`]).

use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::path::socket_path;
use super::wire::{Call, Message, VERSION};

/// Why a command could not be run remotely: the message rfish prints, one or more lines
/// without their final newline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteError(pub String);

/// How long to wait for a server to accept the connection and read the call. The command
/// itself may take as long as it takes.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// The server for `--remote=PID` (`pid` is `None` for plain `--remote`):
/// `$GUESTFISH_PID` when no PID is given, with guestfish's messages.
pub fn server_pid(pid: Option<&str>) -> Result<u32, RemoteError> {
    match pid.filter(|p| !p.is_empty()) {
        Some(p) => p
            .parse()
            .map_err(|_| RemoteError(format!("rfish: --remote=PID: PID was not a number: {p}"))),
        None => {
            let var = std::env::var("GUESTFISH_PID").unwrap_or_default();
            if var.is_empty() {
                return Err(RemoteError(
                    "rfish: remote: $GUESTFISH_PID must be set to the PID of the remote process"
                        .into(),
                ));
            }
            var.parse().map_err(|_| {
                RemoteError(format!(
                    "rfish: remote: $GUESTFISH_PID is not a process ID: {var}"
                ))
            })
        }
    }
}

/// Run `call` in server `pid` with `stdout` as its standard output (this process's
/// standard input and error go too). Returns the command's status: 0 or 1.
pub fn call(pid: u32, call: Call, stdout: BorrowedFd<'_>) -> Result<i32, RemoteError> {
    let not_running = || RemoteError("rfish: remote: looks like the server is not running".into());
    let server = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
        .ok_or_else(not_running)?;
    match rustix::process::test_kill_process(server) {
        Ok(()) => {}
        Err(rustix::io::Errno::PERM) => {
            return Err(RemoteError(format!(
                "rfish: remote: process {pid} is another user's: not a server of yours"
            )));
        }
        Err(_) => return Err(not_running()),
    }
    let path = socket_path(pid);
    let mut sock = UnixStream::connect(&path).map_err(|e| {
        RemoteError(format!(
            "{}: {}\nrfish: remote: looks like the server is not running",
            path.display(),
            crate::os_error_text(&e)
        ))
    })?;
    let lost =
        |e: &dyn std::fmt::Display| RemoteError(format!("rfish: remote: {}: {e}", path.display()));
    sock.set_write_timeout(Some(SEND_TIMEOUT))
        .map_err(|e| lost(&e))?;
    let _ = io::stdout().flush();
    let stdin = io::stdin();
    let stderr = io::stderr();
    let sent = super::stdio::send(&sock, [stdin.as_fd(), stdout, stderr.as_fd()])
        .and_then(|()| Message::Hello(VERSION.into()).send(&mut sock))
        .and_then(|()| Message::Call(call).send(&mut sock));
    if let Err(e) = sent {
        // A server that refuses this client says why before it closes the connection.
        return match Message::receive(&mut sock) {
            Ok(Message::Refused(why)) => Err(RemoteError(format!("rfish: remote: {why}"))),
            _ => Err(lost(&crate::os_error_text(&e))),
        };
    }
    wait_for_answer(&mut sock).map_err(|e| lost(&crate::os_error_text(&e)))?;
    match Message::receive(&mut sock) {
        Ok(Message::Reply(status)) => Ok(status),
        Ok(Message::Refused(why)) => Err(RemoteError(format!("rfish: remote: {why}"))),
        Ok(other) => Err(lost(&format!("unexpected answer {other:?}"))),
        Err(e) => Err(RemoteError(format!(
            "rfish: remote: the server closed the connection without answering ({e})"
        ))),
    }
}

/// Wait until the server answers. A first Ctrl-C asks the server to interrupt the
/// command (a guest program is cancelled; the command then fails as it would locally);
/// a second one ends this client at once.
fn wait_for_answer(sock: &mut UnixStream) -> io::Result<()> {
    use signal_hook::consts::SIGINT;
    let interrupted = Arc::new(AtomicBool::new(false));
    let asked = Arc::new(AtomicBool::new(false));
    let ids = [
        signal_hook::flag::register_conditional_shutdown(SIGINT, 130, asked.clone())?,
        signal_hook::flag::register(SIGINT, interrupted.clone())?,
    ];
    let result = loop {
        if super::readable_within(&*sock, 200) {
            break Ok(());
        }
        if interrupted.swap(false, Ordering::SeqCst) && !asked.load(Ordering::SeqCst) {
            eprintln!("rfish: interrupting the command in the server (Ctrl-C again to leave)");
            if let Err(e) = Message::Cancel.send(sock) {
                break Err(e);
            }
            asked.store(true, Ordering::SeqCst);
        }
    };
    for id in ids {
        signal_hook::low_level::unregister(id);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pids_come_from_the_option_or_the_environment() {
        assert_eq!(server_pid(Some("1234")), Ok(1234));
        assert_eq!(
            server_pid(Some("abc")),
            Err(RemoteError(
                "rfish: --remote=PID: PID was not a number: abc".into()
            ))
        );
    }
}
