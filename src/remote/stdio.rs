//! Passing standard input, output and error over the socket: the client sends its three
//! descriptors (`SCM_RIGHTS`, with one byte of data) and the server runs the command with
//! them as its own descriptors 0, 1 and 2. So a command's output, its error messages,
//! `-` files, host commands it runs and event scripts all reach the client directly, with
//! nothing copied through the server.

use std::io::{self, IoSlice, IoSliceMut, Write};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags, recvmsg, sendmsg,
};

/// Send `fds` (standard input, output and error, in that order) over `socket`.
pub fn send(socket: impl AsFd, fds: [BorrowedFd<'_>; 3]) -> io::Result<()> {
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(3))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !control.push(SendAncillaryMessage::ScmRights(&fds)) {
        return Err(io::Error::other("no room for the descriptors"));
    }
    let sent = sendmsg(
        socket,
        &[IoSlice::new(&[0])],
        &mut control,
        SendFlags::NOSIGNAL,
    )?;
    if sent != 1 {
        return Err(io::Error::other("the descriptors were not sent"));
    }
    Ok(())
}

/// Receive the three descriptors [`send`] sent (close-on-exec until installed).
pub fn receive(socket: impl AsFd) -> io::Result<[OwnedFd; 3]> {
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(3))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let mut byte = [0u8; 1];
    let got = recvmsg(
        socket,
        &mut [IoSliceMut::new(&mut byte)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC,
    )?;
    let mut fds = Vec::new();
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(received) = message {
            fds.extend(received);
        }
    }
    if got.bytes != 1 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the client sent nothing",
        ));
    }
    <[OwnedFd; 3]>::try_from(fds).map_err(|fds| {
        io::Error::other(format!(
            "the client sent {} descriptors instead of 3",
            fds.len()
        ))
    })
}

/// The server's own descriptors 0, 1 and 2 between commands: /dev/null. It holds nothing
/// of the process that started it, so `$(rfish --listen 2>&1)` returns, and a terminal
/// closed later is not written to.
pub struct Idle {
    null: OwnedFd,
}

impl Idle {
    /// Make standard input, output and error /dev/null now.
    pub fn new() -> io::Result<Idle> {
        let null: OwnedFd = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/null")?
            .into();
        let idle = Idle { null };
        idle.restore()?;
        Ok(idle)
    }

    /// Make `fds` the process's standard input, output and error.
    pub fn install(&self, fds: &[OwnedFd; 3]) -> io::Result<()> {
        flush();
        rustix::stdio::dup2_stdin(&fds[0])?;
        rustix::stdio::dup2_stdout(&fds[1])?;
        rustix::stdio::dup2_stderr(&fds[2])?;
        Ok(())
    }

    /// Back to the idle descriptors.
    pub fn restore(&self) -> io::Result<()> {
        flush();
        rustix::stdio::dup2_stdin(&self.null)?;
        rustix::stdio::dup2_stdout(&self.null)?;
        rustix::stdio::dup2_stderr(&self.null)?;
        Ok(())
    }
}

/// Write out what Rust's standard streams hold before their descriptors change.
fn flush() {
    let _ = io::stdout().flush();
    let _ = io::stderr().flush();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::unix::net::UnixStream;

    #[test]
    fn three_descriptors_cross_a_socket() {
        let (a, b) = UnixStream::pair().expect("pair");
        let (mut r0, w0) = std::io::pipe().expect("pipe");
        let (mut r1, w1) = std::io::pipe().expect("pipe");
        let (mut r2, w2) = std::io::pipe().expect("pipe");
        send(&a, [w0.as_fd(), w1.as_fd(), w2.as_fd()]).expect("sent");
        drop((w0, w1, w2));
        let fds = receive(&b).expect("received");
        for (i, fd) in fds.into_iter().enumerate() {
            let mut f = std::fs::File::from(fd);
            f.write_all(format!("fd{i}").as_bytes()).expect("write");
        }
        for (i, r) in [&mut r0, &mut r1, &mut r2].into_iter().enumerate() {
            let mut s = String::new();
            r.read_to_string(&mut s).expect("read");
            assert_eq!(s, format!("fd{i}"));
        }
    }

    #[test]
    fn a_message_without_descriptors_is_refused() {
        let (mut a, b) = UnixStream::pair().expect("pair");
        a.write_all(&[0]).expect("byte");
        assert!(receive(&b).is_err());
        drop(a);
        assert!(receive(&b).is_err(), "end of stream");
    }
}
