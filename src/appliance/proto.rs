//! The control protocol between rfish and its agent, spoken over the appliance's
//! virtio-serial port.
//!
//! Every message is a frame: a 4-byte big-endian body length, then the body — one kind byte
//! and the kind's fields. Integers are big-endian; byte strings are a 4-byte length and the
//! bytes; lists are a 4-byte count and the items. A frame longer than [`MAX_FRAME`] or a
//! field running past its frame is an error, never an allocation of the claimed size: the
//! agent runs guest programs and its answers are as untrusted as image bytes.

use std::io::{self, Read, Write};

use super::fsproto::{FsAnswer, FsOp};

/// The protocol version the agent announces in its hello; rfish refuses any other.
pub const VERSION: u32 = 1;

/// The name of the virtio-serial port that carries the protocol.
pub const PORT_NAME: &str = "org.rfish.control";

/// The largest frame body either side accepts.
pub const MAX_FRAME: usize = 8 << 20;

/// The largest output chunk the agent sends at a time.
pub const OUTPUT_CHUNK: usize = 64 << 10;

/// A filesystem to mount in the appliance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountSpec {
    /// The device as the guest kernel names it (`/dev/sda1`).
    pub device: String,
    /// Where, relative to the guest root (`/`, `/boot`).
    pub mountpoint: String,
    /// The filesystem type (`ext4`).
    pub vfstype: String,
    /// Extra mount options (`-o`), without `ro`/`rw`.
    pub options: String,
    /// Mount read-only.
    pub read_only: bool,
}

/// What rfish asks of the agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Mount a filesystem under the guest root (parents first).
    Mount(MountSpec),
    /// Sync, unmount everything under the guest root and drop the kernel's caches.
    UmountAll,
    /// Run a program in the guest root; the agent answers with [`Reply::Output`] chunks
    /// and one [`Reply::Exited`].
    Run {
        /// The program and its arguments.
        argv: Vec<Vec<u8>>,
        /// Give it the network (and the appliance's resolv.conf).
        network: bool,
    },
    /// Interrupt the running program: SIGINT to its process group, SIGKILL if it lingers.
    Cancel,
    /// Unmount everything and power off.
    Shutdown,
    /// Mount a filesystem for rfish's own file operations at the agent's private place
    /// for mount `id` (the spec's mountpoint is ignored).
    Attach {
        /// rfish's number for the mount.
        id: u32,
        /// What to mount.
        spec: MountSpec,
    },
    /// Sync and unmount mount `id`.
    Detach {
        /// rfish's number for the mount.
        id: u32,
    },
    /// Run one of the appliance's own programs (a host tool it carries, such as
    /// mkfs.xfs) outside the guest root; answered like [`Request::Run`].
    Tool {
        /// The program (an absolute path in the appliance) and its arguments.
        argv: Vec<Vec<u8>>,
    },
    /// A file operation on mount `id`: answered by [`Reply::Fs`] or [`Reply::Errno`].
    Fs {
        /// rfish's number for the mount.
        id: u32,
        /// The operation.
        op: FsOp,
    },
}

/// What the agent answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// The first message: the agent is up.
    Hello {
        /// [`VERSION`].
        version: u32,
        /// The appliance kernel's release.
        kernel: String,
    },
    /// The request succeeded.
    Ok,
    /// The request failed.
    Error(String),
    /// Output of the running program (`stream` 1: stdout, 2: stderr).
    Output {
        /// 1 or 2.
        stream: u8,
        /// The bytes.
        data: Vec<u8>,
    },
    /// The program ended: its exit status, or minus the signal that killed it.
    Exited(i32),
    /// A diagnostic line from the agent (shown with `-v`).
    Log(String),
    /// A file operation succeeded.
    Fs(FsAnswer),
    /// A file operation failed with the kernel's errno.
    Errno {
        /// The Linux errno.
        errno: i32,
        /// What failed.
        message: String,
    },
}

/// A protocol violation or transport failure.
#[derive(Debug)]
pub enum ProtoError {
    /// Reading or writing the channel failed (EOF included).
    Io(io::Error),
    /// The peer sent something malformed.
    Malformed(String),
}

impl std::fmt::Display for ProtoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProtoError::Io(e) => write!(f, "{e}"),
            ProtoError::Malformed(m) => write!(f, "malformed message: {m}"),
        }
    }
}

impl std::error::Error for ProtoError {}

impl From<io::Error> for ProtoError {
    fn from(e: io::Error) -> Self {
        ProtoError::Io(e)
    }
}

/// A frame body being written.
pub(crate) struct Enc(pub(crate) Vec<u8>);

impl Enc {
    pub(crate) fn new(kind: u8) -> Enc {
        Enc(vec![kind])
    }
    pub(crate) fn u8(&mut self, v: u8) -> &mut Enc {
        self.0.push(v);
        self
    }
    pub(crate) fn u32(&mut self, v: u32) -> &mut Enc {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub(crate) fn u64(&mut self, v: u64) -> &mut Enc {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub(crate) fn bytes(&mut self, b: &[u8]) -> &mut Enc {
        self.u32(b.len() as u32);
        self.0.extend_from_slice(b);
        self
    }
}

/// A frame body being read; every read is bounded by the body.
pub(crate) struct Dec<'a> {
    pub(crate) body: &'a [u8],
    pub(crate) at: usize,
}

impl<'a> Dec<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ProtoError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.body.len())
            .ok_or_else(|| ProtoError::Malformed(format!("field of {n} bytes past the frame")))?;
        let s = &self.body[self.at..end];
        self.at = end;
        Ok(s)
    }
    pub(crate) fn u8(&mut self) -> Result<u8, ProtoError> {
        Ok(self.take(1)?[0])
    }
    pub(crate) fn u64(&mut self) -> Result<u64, ProtoError> {
        let b = self.take(8)?;
        Ok(u64::from_be_bytes([
            b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
        ]))
    }
    pub(crate) fn u32(&mut self) -> Result<u32, ProtoError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    pub(crate) fn bytes(&mut self) -> Result<Vec<u8>, ProtoError> {
        let n = self.u32()? as usize;
        Ok(self.take(n)?.to_vec())
    }
    pub(crate) fn string(&mut self) -> Result<String, ProtoError> {
        String::from_utf8(self.bytes()?).map_err(|_| ProtoError::Malformed("not UTF-8".into()))
    }
    pub(crate) fn bool(&mut self) -> Result<bool, ProtoError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            b => Err(ProtoError::Malformed(format!("boolean {b}"))),
        }
    }
    pub(crate) fn end(&self) -> Result<(), ProtoError> {
        if self.at == self.body.len() {
            Ok(())
        } else {
            Err(ProtoError::Malformed(format!(
                "{} bytes after the message",
                self.body.len() - self.at
            )))
        }
    }
}

fn enc_spec(e: &mut Enc, m: &MountSpec) {
    e.bytes(m.device.as_bytes())
        .bytes(m.mountpoint.as_bytes())
        .bytes(m.vfstype.as_bytes())
        .bytes(m.options.as_bytes())
        .u8(m.read_only.into());
}

fn dec_spec(d: &mut Dec<'_>) -> Result<MountSpec, ProtoError> {
    Ok(MountSpec {
        device: d.string()?,
        mountpoint: d.string()?,
        vfstype: d.string()?,
        options: d.string()?,
        read_only: d.bool()?,
    })
}

fn enc_argv(e: &mut Enc, argv: &[Vec<u8>]) {
    e.u32(argv.len() as u32);
    for a in argv {
        e.bytes(a);
    }
}

fn dec_argv(d: &mut Dec<'_>) -> Result<Vec<Vec<u8>>, ProtoError> {
    let n = d.u32()? as usize;
    // Each item takes at least its 4-byte length: bound the count by the frame.
    if n > (d.body.len() - d.at) / 4 {
        return Err(ProtoError::Malformed(format!("{n} arguments")));
    }
    let mut argv = Vec::with_capacity(n);
    for _ in 0..n {
        argv.push(d.bytes()?);
    }
    Ok(argv)
}

impl Request {
    /// The frame body.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Request::Mount(m) => {
                let mut e = Enc::new(1);
                enc_spec(&mut e, m);
                e.0
            }
            Request::UmountAll => vec![2],
            Request::Run { argv, network } => {
                let mut e = Enc::new(3);
                enc_argv(&mut e, argv);
                e.u8((*network).into());
                e.0
            }
            Request::Cancel => vec![4],
            Request::Shutdown => vec![5],
            Request::Attach { id, spec } => {
                let mut e = Enc::new(6);
                e.u32(*id);
                enc_spec(&mut e, spec);
                e.0
            }
            Request::Detach { id } => {
                let mut e = Enc::new(7);
                e.u32(*id);
                e.0
            }
            Request::Tool { argv } => {
                let mut e = Enc::new(9);
                enc_argv(&mut e, argv);
                e.0
            }
            Request::Fs { id, op } => {
                let mut e = Enc::new(8);
                e.u32(*id);
                op.encode_into(&mut e);
                e.0
            }
        }
    }

    /// Parse a frame body.
    pub fn decode(body: &[u8]) -> Result<Request, ProtoError> {
        let mut d = Dec { body, at: 0 };
        let req = match d.u8()? {
            1 => Request::Mount(dec_spec(&mut d)?),
            2 => Request::UmountAll,
            3 => Request::Run {
                argv: dec_argv(&mut d)?,
                network: d.bool()?,
            },
            4 => Request::Cancel,
            5 => Request::Shutdown,
            6 => Request::Attach {
                id: d.u32()?,
                spec: dec_spec(&mut d)?,
            },
            7 => Request::Detach { id: d.u32()? },
            9 => Request::Tool {
                argv: dec_argv(&mut d)?,
            },
            8 => Request::Fs {
                id: d.u32()?,
                op: FsOp::decode_from(&mut d)?,
            },
            k => return Err(ProtoError::Malformed(format!("request kind {k}"))),
        };
        d.end()?;
        Ok(req)
    }
}

impl Reply {
    /// The frame body.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Reply::Hello { version, kernel } => {
                let mut e = Enc::new(0x80);
                e.u32(*version).bytes(kernel.as_bytes());
                e.0
            }
            Reply::Ok => vec![0x81],
            Reply::Error(m) => {
                let mut e = Enc::new(0x82);
                e.bytes(m.as_bytes());
                e.0
            }
            Reply::Output { stream, data } => {
                let mut e = Enc::new(0x83);
                e.u8(*stream).bytes(data);
                e.0
            }
            Reply::Exited(code) => {
                let mut e = Enc::new(0x84);
                e.u32(*code as u32);
                e.0
            }
            Reply::Log(m) => {
                let mut e = Enc::new(0x85);
                e.bytes(m.as_bytes());
                e.0
            }
            Reply::Fs(a) => {
                let mut e = Enc::new(0x86);
                a.encode_into(&mut e);
                e.0
            }
            Reply::Errno { errno, message } => {
                let mut e = Enc::new(0x87);
                e.u32(*errno as u32).bytes(message.as_bytes());
                e.0
            }
        }
    }

    /// Parse a frame body.
    pub fn decode(body: &[u8]) -> Result<Reply, ProtoError> {
        let mut d = Dec { body, at: 0 };
        let reply = match d.u8()? {
            0x80 => Reply::Hello {
                version: d.u32()?,
                kernel: d.string()?,
            },
            0x81 => Reply::Ok,
            0x82 => Reply::Error(String::from_utf8_lossy(&d.bytes()?).into_owned()),
            0x83 => {
                let stream = d.u8()?;
                if stream != 1 && stream != 2 {
                    return Err(ProtoError::Malformed(format!("output stream {stream}")));
                }
                Reply::Output {
                    stream,
                    data: d.bytes()?,
                }
            }
            0x84 => Reply::Exited(d.u32()? as i32),
            0x85 => Reply::Log(String::from_utf8_lossy(&d.bytes()?).into_owned()),
            0x86 => Reply::Fs(FsAnswer::decode_from(&mut d)?),
            0x87 => Reply::Errno {
                errno: d.u32()? as i32,
                message: String::from_utf8_lossy(&d.bytes()?).into_owned(),
            },
            k => return Err(ProtoError::Malformed(format!("reply kind {k:#x}"))),
        };
        d.end()?;
        Ok(reply)
    }
}

/// Write one frame (length and body in a single write, so frames from several threads
/// sharing a locked writer never interleave).
pub fn write_frame(w: &mut impl Write, body: &[u8]) -> io::Result<()> {
    let mut frame = Vec::with_capacity(4 + body.len());
    frame.extend_from_slice(&(body.len() as u32).to_be_bytes());
    frame.extend_from_slice(body);
    w.write_all(&frame)?;
    w.flush()
}

/// Read one frame body; a length over [`MAX_FRAME`] is refused before anything is
/// allocated.
pub fn read_frame(r: &mut impl Read) -> Result<Vec<u8>, ProtoError> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len)?;
    let len = u32::from_be_bytes(len) as usize;
    if len == 0 || len > MAX_FRAME {
        return Err(ProtoError::Malformed(format!("frame of {len} bytes")));
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body)?;
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_replies_round_trip() {
        let reqs = [
            Request::Mount(MountSpec {
                device: "/dev/sda1".into(),
                mountpoint: "/boot".into(),
                vfstype: "ext4".into(),
                options: "noatime".into(),
                read_only: true,
            }),
            Request::UmountAll,
            Request::Run {
                argv: vec![b"sh".to_vec(), b"-c".to_vec(), b"echo \xff".to_vec()],
                network: true,
            },
            Request::Cancel,
            Request::Shutdown,
            Request::Attach {
                id: 3,
                spec: MountSpec {
                    device: "/dev/rfish/lv0".into(),
                    mountpoint: String::new(),
                    vfstype: "xfs".into(),
                    options: "norecovery".into(),
                    read_only: true,
                },
            },
            Request::Detach { id: 3 },
            Request::Tool {
                argv: vec![b"/sbin/mkfs.xfs".to_vec(), b"-f".to_vec()],
            },
            Request::Fs {
                id: 1,
                op: FsOp::Batch(vec![
                    FsOp::Write {
                        path: b"a/b".to_vec(),
                        offset: 7,
                        data: vec![1, 2, 3],
                    },
                    FsOp::SetXattr(b"a".to_vec(), b"security.selinux".to_vec(), None),
                    FsOp::SetAttr(
                        b"".to_vec(),
                        crate::fs::SetAttr {
                            mode: Some(0o755),
                            mtime: Some(crate::fs::Timespec { sec: -5, nsec: 9 }),
                            ..Default::default()
                        },
                    ),
                ]),
            },
            Request::Fs {
                id: 2,
                op: FsOp::ReadTree {
                    path: b"etc".to_vec(),
                    start: 9,
                },
            },
        ];
        for r in reqs {
            assert_eq!(Request::decode(&r.encode()).expect("decode"), r);
        }
        let replies = [
            Reply::Hello {
                version: VERSION,
                kernel: "6.12".into(),
            },
            Reply::Ok,
            Reply::Error("no".into()),
            Reply::Output {
                stream: 2,
                data: vec![0, 1, 2],
            },
            Reply::Exited(-9),
            Reply::Log("x".into()),
            Reply::Errno {
                errno: 2,
                message: "lstat x: No such file".into(),
            },
            Reply::Fs(FsAnswer::Xattrs(vec![(b"user.a".to_vec(), vec![0, 1])])),
            Reply::Fs(FsAnswer::Flags(0x80000)),
        ];
        for r in replies {
            assert_eq!(Reply::decode(&r.encode()).expect("decode"), r);
        }
    }

    #[test]
    fn hostile_frames_are_errors_without_big_allocations() {
        let mut huge: &[u8] = &[0xff, 0xff, 0xff, 0xff];
        assert!(read_frame(&mut huge).is_err());
        let mut empty: &[u8] = &[0, 0, 0, 0];
        assert!(read_frame(&mut empty).is_err());
        // Claimed lengths past the frame, absurd counts, trailing bytes, unknown kinds.
        for body in [
            &[0x83, 1, 0xff, 0xff, 0xff, 0xff][..],
            &[3, 0xff, 0xff, 0xff, 0xff, 0],
            &[0x81, 0],
            &[0x99],
            &[0x83, 7, 0, 0, 0, 0],
            &[1, 0, 0, 0, 1],
        ] {
            assert!(
                Reply::decode(body).is_err() && Request::decode(body).is_err(),
                "{body:?}"
            );
        }
        // A batch inside a batch, and an entry count past the frame.
        let nested = Request::Fs {
            id: 0,
            op: FsOp::Batch(vec![FsOp::Batch(Vec::new())]),
        };
        assert!(Request::decode(&nested.encode()).is_err());
        assert!(Reply::decode(&[0x86, 3, 0x7f, 0xff, 0xff, 0xff]).is_err());
        let mut w = Vec::new();
        write_frame(&mut w, &Reply::Exited(3).encode()).expect("write");
        assert_eq!(
            Reply::decode(&read_frame(&mut &w[..]).expect("frame")).expect("decode"),
            Reply::Exited(3)
        );
    }
}
