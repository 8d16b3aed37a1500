//! Host commands: `!cmd`, `<!cmd` and the `| cmd` that reads a command's output, all run
//! with `/bin/sh -c` and the environment changes made by `setenv`/`unsetenv`.

use std::io::{self, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ChildStdin, ExitStatus, Stdio};

use crate::hostenv;

/// Run `!cmd`. Fails (as guestfish's `system(3)` check) when the command exits non-zero or
/// dies of SIGINT or SIGQUIT.
pub fn run_bang(script: &[u8]) -> io::Result<bool> {
    io::stdout().flush()?;
    let status = hostenv::shell(script).status()?;
    Ok(system_succeeded(status))
}

fn system_succeeded(status: ExitStatus) -> bool {
    match status.signal() {
        Some(sig) => sig != libc_sigint() && sig != libc_sigquit(),
        None => status.code() == Some(0),
    }
}

const fn libc_sigint() -> i32 {
    nix::sys::signal::Signal::SIGINT as i32
}

const fn libc_sigquit() -> i32 {
    nix::sys::signal::Signal::SIGQUIT as i32
}

/// Run `<!cmd` and return its standard output and whether it exited with status 0.
pub fn run_capture(script: &[u8]) -> io::Result<(Vec<u8>, bool)> {
    io::stdout().flush()?;
    let output = hostenv::shell(script)
        .stdin(Stdio::inherit())
        .stderr(Stdio::inherit())
        .output()?;
    Ok((output.stdout, output.status.success()))
}

/// The host side of `command | host-cmd`: a shell reading what the command prints.
pub struct PipeSink {
    child: Child,
    stdin: Option<ChildStdin>,
    /// A write failed (usually EPIPE: the host command stopped reading).
    pub write_failed: bool,
}

impl PipeSink {
    /// Start `script` with its standard input connected to the returned sink.
    pub fn spawn(script: &[u8]) -> io::Result<PipeSink> {
        io::stdout().flush()?;
        let mut child = hostenv::shell(script).stdin(Stdio::piped()).spawn()?;
        let stdin = child.stdin.take();
        Ok(PipeSink {
            child,
            stdin,
            write_failed: false,
        })
    }

    /// The pipe's write end (for a `--remote` server to write to).
    pub fn fd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        use std::os::fd::AsFd;
        self.stdin.as_ref().map(|s| s.as_fd())
    }

    /// Close the pipe and wait for the host command; its exit status.
    pub fn finish(mut self) -> io::Result<ExitStatus> {
        drop(self.stdin.take());
        self.child.wait()
    }
}

impl Write for PipeSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let Some(stdin) = self.stdin.as_mut() else {
            return Ok(buf.len());
        };
        match stdin.write(buf) {
            Ok(n) => Ok(n),
            Err(e) => {
                // Like guestfish, a host command that stops reading is not the command's
                // failure; --pipe-error makes it one (checked by the caller).
                self.write_failed = true;
                self.stdin = None;
                if e.kind() == io::ErrorKind::BrokenPipe {
                    Ok(buf.len())
                } else {
                    Err(e)
                }
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.stdin.as_mut() {
            Some(stdin) => stdin.flush().or_else(|e| {
                if e.kind() == io::ErrorKind::BrokenPipe {
                    self.write_failed = true;
                    Ok(())
                } else {
                    Err(e)
                }
            }),
            None => Ok(()),
        }
    }
}
