//! Remote control: `rfish --listen` keeps a session in a background server, and
//! `rfish --remote CMD ARGS...` runs one command in it (guestfish's remote control, so
//! scripts written for `guestfish --listen`/`--remote` run unchanged).
//!
//! - [`path`]: where the server's socket lives (a private directory per user).
//! - [`wire`]: the messages on the socket.
//! - [`stdio`]: the client's standard input, output and error passed to the server, which
//!   runs each command with them as its own.
//! - [`server`]: starting the server (`--listen`) and serving commands.
//! - [`client`]: sending one command (`--remote`).

pub mod client;
pub mod path;
pub mod server;
pub mod stdio;
pub mod wire;

/// Whether `fd` has something to read (or its end) within `ms` milliseconds; a signal
/// arriving meanwhile ends the wait early with `false`.
pub(crate) fn readable_within(fd: impl std::os::fd::AsFd, ms: u32) -> bool {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    let mut fds = [PollFd::new(&fd, PollFlags::IN)];
    let timeout = Timespec {
        tv_sec: i64::from(ms / 1000),
        tv_nsec: i64::from(ms % 1000) * 1_000_000,
    };
    matches!(poll(&mut fds, Some(&timeout)), Ok(n) if n > 0)
}
