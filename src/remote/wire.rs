//! The messages between `rfish --remote` and `rfish --listen`, framed as the appliance
//! protocol frames its own ([`crate::appliance::proto`]: a 4-byte length, a kind byte, then
//! big-endian fields). Before the first frame the client sends one byte carrying its
//! standard input, output and error ([`super::stdio`]).
//!
//! A connection is: `Hello`, then any number of `Call`s, each answered by a `Reply` (while
//! a call runs the client may send `Cancel`); or a single `Refused` from the server when
//! it will not serve this client.

use std::io::{Read, Write};

use crate::appliance::proto::{Dec, Enc, ProtoError, read_frame, write_frame};

/// Client and server must be the same version of rfish: a command's meaning (and the
/// wire) may change between versions.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

const HELLO: u8 = 1;
const CALL: u8 = 2;
const REPLY: u8 = 3;
const REFUSED: u8 = 4;
const CANCEL: u8 = 5;

/// Most arguments in a call (guestfish's own line limit is 64 words; command lines can
/// be longer).
pub const MAX_ARGS: usize = 4096;

/// A message on the remote-control socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// The client's version ([`VERSION`]).
    Hello(String),
    /// Run one command.
    Call(Call),
    /// The command's exit status: 0 when it succeeded, 1 when it failed (its error has
    /// been written to the client's standard error).
    Reply(i32),
    /// The server will not serve this client, and why.
    Refused(String),
    /// The client's user pressed Ctrl-C: interrupt the running command (a guest program).
    Cancel,
}

/// One command to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// The command name as typed (`-` prefix removed).
    pub name: Vec<u8>,
    /// Its arguments, verbatim.
    pub args: Vec<Vec<u8>>,
    /// A failure stops the server (guestfish's rule, except for `-cmd`).
    pub exit_on_error: bool,
    /// Colour the error messages (the client's standard error is a terminal).
    pub colour: bool,
}

impl Message {
    /// The frame body.
    pub fn encode(&self) -> Vec<u8> {
        let mut e;
        match self {
            Message::Hello(version) => {
                e = Enc::new(HELLO);
                e.bytes(version.as_bytes());
            }
            Message::Call(call) => {
                e = Enc::new(CALL);
                e.bytes(&call.name).u32(call.args.len() as u32);
                for a in &call.args {
                    e.bytes(a);
                }
                e.u8(call.exit_on_error.into()).u8(call.colour.into());
            }
            Message::Reply(status) => {
                e = Enc::new(REPLY);
                e.u32(*status as u32);
            }
            Message::Refused(why) => {
                e = Enc::new(REFUSED);
                e.bytes(why.as_bytes());
            }
            Message::Cancel => e = Enc::new(CANCEL),
        }
        e.0
    }

    /// Decode a frame body; anything malformed is an error, never a large allocation.
    pub fn decode(body: &[u8]) -> Result<Message, ProtoError> {
        let mut d = Dec { body, at: 0 };
        let message = match d.u8()? {
            HELLO => Message::Hello(d.string()?),
            CALL => {
                let name = d.bytes()?;
                let n = d.u32()? as usize;
                if n > MAX_ARGS {
                    return Err(ProtoError::Malformed(format!("{n} arguments")));
                }
                let mut args = Vec::with_capacity(n);
                for _ in 0..n {
                    args.push(d.bytes()?);
                }
                let exit_on_error = d.bool()?;
                let colour = d.bool()?;
                Message::Call(Call {
                    name,
                    args,
                    exit_on_error,
                    colour,
                })
            }
            REPLY => Message::Reply(d.u32()? as i32),
            REFUSED => Message::Refused(d.string()?),
            CANCEL => Message::Cancel,
            kind => return Err(ProtoError::Malformed(format!("message kind {kind}"))),
        };
        d.end()?;
        Ok(message)
    }

    /// Send this message as one frame.
    pub fn send(&self, w: &mut impl Write) -> std::io::Result<()> {
        write_frame(w, &self.encode())
    }

    /// Read the next message.
    pub fn receive(r: &mut impl Read) -> Result<Message, ProtoError> {
        Message::decode(&read_frame(r)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        let messages = [
            Message::Hello(VERSION.into()),
            Message::Call(Call {
                name: b"write".to_vec(),
                args: vec![b"/a".to_vec(), b"".to_vec(), vec![0xff, 0, b'\'']],
                exit_on_error: true,
                colour: false,
            }),
            Message::Reply(0),
            Message::Reply(1),
            Message::Refused("uid 0 is not the server's".into()),
            Message::Cancel,
        ];
        for m in messages {
            assert_eq!(Message::decode(&m.encode()).expect("decodes"), m);
            let mut frame = Vec::new();
            m.send(&mut frame).expect("written");
            assert_eq!(Message::receive(&mut &frame[..]).expect("read"), m);
        }
    }

    #[test]
    fn hostile_messages_are_refused() {
        // A call claiming more arguments than allowed, or than its frame holds.
        let mut e = Enc::new(CALL);
        e.bytes(b"echo").u32(u32::MAX);
        assert!(Message::decode(&e.0).is_err());
        let mut e = Enc::new(CALL);
        e.bytes(b"echo").u32(3).bytes(b"one");
        assert!(Message::decode(&e.0).is_err());
        // Trailing bytes, unknown kinds, bad booleans, an empty frame.
        let mut body = Message::Reply(0).encode();
        body.push(0);
        assert!(Message::decode(&body).is_err());
        assert!(Message::decode(&[99]).is_err());
        let mut e = Enc::new(CALL);
        e.bytes(b"echo").u32(0).u8(2).u8(0);
        assert!(Message::decode(&e.0).is_err());
        assert!(Message::decode(&[]).is_err());
    }
}
