//! `rfish --listen`: start a server that keeps a session (drives, mounts, appliance) and
//! runs the commands `rfish --remote` sends it, one connection at a time.
//!
//! The process started by the user does not serve: it starts rfish again in the
//! background (same options, plus an internal flag), waits until that server's socket
//! exists, prints `GUESTFISH_PID=PID; export GUESTFISH_PID` and exits. So when the
//! `eval "$(rfish --listen)"` returns, the server is ready (guestfish forks first and
//! creates its socket afterwards, a race its manual admits), and a failure to open the
//! disks or mount with -i/-m is reported, with status 1, by `rfish --listen` itself.
//!
//! While a command runs, the client's Ctrl-C (a `Cancel` message) or its death cancels the
//! guest program the command runs, if any.
//!
//! The server runs in its own process group (a Ctrl-C typed at the shell that started it
//! does not stop it), holds no descriptor of the command that started it, serves only its
//! own user (`SO_PEERCRED`, besides the private directory), and stops cleanly — appliance
//! shut down, `close` handlers run, socket removed — on `exit`/`quit`, on a command that
//! fails unless sent as `-cmd` (guestfish's rule), and on SIGTERM or SIGHUP.

use std::io::{self, BufRead, BufReader, Write};
use std::os::fd::AsFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::path::{check_length, ensure_socket_dir, socket_dir, socket_path};
use super::stdio::Idle;
use super::wire::{Message, VERSION};
use crate::commands::events::Event;
use crate::shell::{Outcome, Shell};

/// The internal option that makes rfish the server itself.
pub const SERVER_FLAG: &str = "--listen-server";

/// What the server prints on its standard output once its socket accepts connections.
const READY: &[u8] = b"rfish: listening\n";

/// How long the server waits for a connected client's next message (a client sends its
/// call as soon as it connects, and closes as soon as it has its reply; one that stalls
/// must not keep others waiting long).
const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);

/// `rfish --listen` (the user's process): start the server with the same arguments and
/// report its PID in sh syntax (csh's with `csh`). Returns the exit status.
pub fn start(csh: bool) -> i32 {
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("rfish: --listen: {}", crate::os_error_text(&e));
            return 1;
        }
    };
    let mut child = match Command::new(exe)
        .arg(SERVER_FLAG)
        .args(std::env::args_os().skip(1))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .process_group(0)
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("rfish: --listen: {}", crate::os_error_text(&e));
            return 1;
        }
    };
    // Whatever the server prints while it starts (-N help, say) is passed on, up to its
    // ready line.
    let mut out = BufReader::new(child.stdout.take().expect("piped"));
    let mut stdout = io::stdout().lock();
    let mut line = Vec::new();
    loop {
        line.clear();
        match out.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) if line == READY => {
                let pid = child.id();
                let _ = if csh {
                    writeln!(stdout, "setenv GUESTFISH_PID {pid}")
                } else {
                    writeln!(stdout, "GUESTFISH_PID={pid}; export GUESTFISH_PID")
                };
                let _ = stdout.flush();
                return 0;
            }
            Ok(_) => {
                let _ = stdout.write_all(&line);
            }
        }
    }
    let _ = stdout.flush();
    // The server ended before it was ready; it said why on standard error.
    match child.wait() {
        Ok(status) => status.code().filter(|&c| c != 0).unwrap_or(1),
        Err(_) => 1,
    }
}

/// What to do after a connection.
enum Next {
    Serve,
    Stop(i32),
}

/// The server: bind the socket, say so, then run commands until told to stop. Returns the
/// exit status.
pub fn serve(mut shell: Shell) -> i32 {
    let dir = socket_dir();
    let path = socket_path(std::process::id());
    if let Err(e) = ensure_socket_dir(&dir).and_then(|()| check_length(&path)) {
        eprintln!("rfish: {e}");
        return end(&mut shell, 1);
    }
    let _ = std::fs::remove_file(&path);
    let listener = match UnixListener::bind(&path) {
        Ok(l) => l,
        Err(e) => {
            eprintln!(
                "rfish: bind: {}: {}",
                path.display(),
                crate::os_error_text(&e)
            );
            return end(&mut shell, 1);
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGHUP] {
        let _ = signal_hook::flag::register(signal, stop.clone());
    }
    {
        let mut stdout = io::stdout().lock();
        let _ = stdout.write_all(READY);
        let _ = stdout.flush();
    }
    let idle = match Idle::new() {
        Ok(i) => i,
        Err(e) => {
            eprintln!("rfish: --listen: {}", crate::os_error_text(&e));
            let _ = std::fs::remove_file(&path);
            return end(&mut shell, 1);
        }
    };
    let code = loop {
        if stop.load(Ordering::SeqCst) {
            break end(&mut shell, 0);
        }
        // Half a second at most, so that a signal is noticed soon.
        if !super::readable_within(&listener, 500) {
            continue;
        }
        let Ok((stream, _)) = listener.accept() else {
            continue;
        };
        if let Next::Stop(code) = connection(&mut shell, stream, &idle) {
            break code;
        }
    };
    let _ = std::fs::remove_file(&path);
    code
}

/// Serve one client: check who it is, take its standard streams, then run its calls.
fn connection(shell: &mut Shell, mut stream: UnixStream, idle: &Idle) -> Next {
    let me = rustix::process::geteuid();
    match rustix::net::sockopt::socket_peercred(&stream) {
        Ok(cred) if cred.uid == me => {}
        Ok(cred) => {
            let _ = Message::Refused(format!(
                "the server of user {} does not serve user {}",
                me.as_raw(),
                cred.uid.as_raw()
            ))
            .send(&mut stream);
            return Next::Serve;
        }
        Err(_) => return Next::Serve,
    }
    if stream.set_read_timeout(Some(CLIENT_TIMEOUT)).is_err() {
        return Next::Serve;
    }
    let Ok(fds) = super::stdio::receive(stream.as_fd()) else {
        return Next::Serve;
    };
    match Message::receive(&mut stream) {
        Ok(Message::Hello(v)) if v == VERSION => {}
        Ok(Message::Hello(v)) => {
            let _ = Message::Refused(format!(
                "protocol error: version mismatch, server version \u{2018}{VERSION}\u{2019} \
                 does not match client version \u{2018}{v}\u{2019}.  The two versions must \
                 match exactly."
            ))
            .send(&mut stream);
            return Next::Serve;
        }
        _ => return Next::Serve,
    }
    while let Ok(Message::Call(call)) = Message::receive(&mut stream) {
        colored::control::set_override(call.colour);
        if idle.install(&fds).is_err() {
            return Next::Serve;
        }
        let name = String::from_utf8_lossy(&call.name).into_owned();
        let watcher = CancelWatcher::start(&stream);
        let failed = shell.issue(&name, &call.args, None, false) == Outcome::Failed;
        drop(watcher);
        if stream.set_read_timeout(Some(CLIENT_TIMEOUT)).is_err() {
            return Next::Serve;
        }
        let mut status = i32::from(failed);
        let stopping = shell.session.quit || (failed && call.exit_on_error);
        if stopping {
            // The client sees what the session's end prints (close handlers).
            status = end(shell, status);
        }
        let _ = idle.restore();
        let _ = Message::Reply(status).send(&mut stream);
        if stopping {
            return Next::Stop(status);
        }
    }
    Next::Serve
}

/// While a call runs: a client's `Cancel` (its Ctrl-C), or the client going away,
/// cancels the guest program the command runs, if any.
struct CancelWatcher {
    /// Written to (or dropped) to stop the watching thread at once.
    wake: UnixStream,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl CancelWatcher {
    fn start(stream: &UnixStream) -> Option<CancelWatcher> {
        use rustix::event::{PollFd, PollFlags, poll};
        let mut watched = stream.try_clone().ok()?;
        let (wake, woken) = UnixStream::pair().ok()?;
        let thread = std::thread::spawn(move || {
            loop {
                let mut fds = [
                    PollFd::new(&watched, PollFlags::IN),
                    PollFd::new(&woken, PollFlags::IN),
                ];
                if poll(&mut fds, None).is_err() {
                    continue;
                }
                if !fds[1].revents().is_empty() {
                    return;
                }
                if fds[0].revents().is_empty() {
                    continue;
                }
                // The client sends nothing else while it waits for its reply.
                match Message::receive(&mut watched) {
                    Ok(Message::Cancel) => crate::commands::guest::cancel_guest_program(),
                    Ok(_) => {}
                    Err(_) => {
                        crate::commands::guest::cancel_guest_program();
                        return;
                    }
                }
            }
        });
        Some(CancelWatcher {
            wake,
            thread: Some(thread),
        })
    }
}

impl Drop for CancelWatcher {
    fn drop(&mut self) {
        let _ = self.wake.write_all(&[0]);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// End the session: sync and hand back the guest's filesystems, shut the appliance down,
/// run the `close` handlers. Returns `code`, or 1 if closing failed.
fn end(shell: &mut Shell, code: i32) -> i32 {
    let code = crate::commands::guest::close_at_exit(&mut shell.session, code);
    shell.session.events.fire(Event::Close, None, &[]);
    code
}
