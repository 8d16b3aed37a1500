//! An NBD server (the NBD protocol's fixed-newstyle handshake and simple replies) exporting
//! any [`BlockDev`] on a unix socket, so QEMU — the appliance, qemu-io, qemu-img — reads
//! and writes the image through rfish's own block layer (rfish stays the image's only
//! owner). Options: EXPORT_NAME, GO, INFO, LIST, ABORT (others are answered "unsupported");
//! commands: READ, WRITE (with FUA), FLUSH, TRIM, WRITE_ZEROES, DISC. Every request is
//! bounds-checked and capped at 32 MiB; a bad request gets an errno reply, a broken stream
//! ends the connection, neither ends the server.

use std::io::{self, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use super::{BlockDev, BlockError, Device};

const NBDMAGIC: u64 = 0x4e42_444d_4147_4943;
const IHAVEOPT: u64 = 0x4948_4156_454f_5054;
const REPLY_MAGIC: u64 = 0x0003_e889_0455_65a9;
const REQUEST_MAGIC: u32 = 0x2560_9513;
const SIMPLE_REPLY_MAGIC: u32 = 0x6744_6698;

const FLAG_FIXED_NEWSTYLE: u16 = 1;
const FLAG_NO_ZEROES: u16 = 2;

const OPT_EXPORT_NAME: u32 = 1;
const OPT_ABORT: u32 = 2;
const OPT_LIST: u32 = 3;
const OPT_INFO: u32 = 6;
const OPT_GO: u32 = 7;

const REP_ACK: u32 = 1;
const REP_SERVER: u32 = 2;
const REP_INFO: u32 = 3;
const REP_ERR_UNSUP: u32 = 0x8000_0001;
const REP_ERR_INVALID: u32 = 0x8000_0003;

const INFO_EXPORT: u16 = 0;
const INFO_BLOCK_SIZE: u16 = 3;

const TF_HAS_FLAGS: u16 = 1 << 0;
const TF_READ_ONLY: u16 = 1 << 1;
const TF_SEND_FLUSH: u16 = 1 << 2;
const TF_SEND_FUA: u16 = 1 << 3;
const TF_SEND_TRIM: u16 = 1 << 5;
const TF_SEND_WRITE_ZEROES: u16 = 1 << 6;

const CMD_READ: u16 = 0;
const CMD_WRITE: u16 = 1;
const CMD_DISC: u16 = 2;
const CMD_FLUSH: u16 = 3;
const CMD_TRIM: u16 = 4;
const CMD_WRITE_ZEROES: u16 = 6;
const CMD_FLAG_FUA: u16 = 1;

const EPERM: u32 = 1;
const EIO: u32 = 5;
const EINVAL: u32 = 22;
const ENOSPC: u32 = 28;

/// The largest request served (larger ones get EINVAL, their payload skipped).
pub const MAX_REQUEST: u32 = 32 << 20;
/// Option payloads larger than this end the connection.
const MAX_OPTION: u32 = 64 << 10;

fn read_u16(r: &mut impl Read) -> io::Result<u16> {
    let mut b = [0u8; 2];
    r.read_exact(&mut b)?;
    Ok(u16::from_be_bytes(b))
}

fn read_u32(r: &mut impl Read) -> io::Result<u32> {
    let mut b = [0u8; 4];
    r.read_exact(&mut b)?;
    Ok(u32::from_be_bytes(b))
}

fn read_u64(r: &mut impl Read) -> io::Result<u64> {
    let mut b = [0u8; 8];
    r.read_exact(&mut b)?;
    Ok(u64::from_be_bytes(b))
}

fn option_reply(w: &mut impl Write, option: u32, kind: u32, data: &[u8]) -> io::Result<()> {
    let mut out = Vec::with_capacity(20 + data.len());
    out.extend_from_slice(&REPLY_MAGIC.to_be_bytes());
    out.extend_from_slice(&option.to_be_bytes());
    out.extend_from_slice(&kind.to_be_bytes());
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(data);
    w.write_all(&out)
}

fn transmission_flags(dev: &dyn BlockDev) -> u16 {
    let mut f = TF_HAS_FLAGS | TF_SEND_FLUSH | TF_SEND_FUA;
    if dev.is_read_only() {
        f |= TF_READ_ONLY;
    } else {
        f |= TF_SEND_TRIM | TF_SEND_WRITE_ZEROES;
    }
    f
}

/// The errno an NBD reply carries for a block-layer error.
fn errno(e: &BlockError) -> u32 {
    match e {
        BlockError::ReadOnly => EPERM,
        BlockError::OutOfRange { .. } => EINVAL,
        BlockError::Io { source, .. } if source.raw_os_error() == Some(28) => ENOSPC,
        _ => EIO,
    }
}

/// Serve one client until it disconnects (Ok) or breaks the protocol (Err).
pub fn serve_client(dev: &dyn BlockDev, stream: &mut UnixStream) -> io::Result<()> {
    let mut hello = Vec::with_capacity(18);
    hello.extend_from_slice(&NBDMAGIC.to_be_bytes());
    hello.extend_from_slice(&IHAVEOPT.to_be_bytes());
    hello.extend_from_slice(&(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES).to_be_bytes());
    stream.write_all(&hello)?;
    let client_flags = read_u32(stream)?;
    let no_zeroes = client_flags & u32::from(FLAG_NO_ZEROES) != 0;
    let size = dev.size();
    let tflags = transmission_flags(dev);
    // Option haggling.
    loop {
        if read_u64(stream)? != IHAVEOPT {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "bad option magic",
            ));
        }
        let option = read_u32(stream)?;
        let len = read_u32(stream)?;
        if len > MAX_OPTION {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "option too long",
            ));
        }
        let mut data = vec![0u8; len as usize];
        stream.read_exact(&mut data)?;
        match option {
            OPT_EXPORT_NAME => {
                let mut out = size.to_be_bytes().to_vec();
                out.extend_from_slice(&tflags.to_be_bytes());
                if !no_zeroes {
                    out.extend_from_slice(&[0u8; 124]);
                }
                stream.write_all(&out)?;
                break;
            }
            OPT_ABORT => {
                option_reply(stream, option, REP_ACK, &[])?;
                return Ok(());
            }
            OPT_LIST => {
                if len != 0 {
                    option_reply(stream, option, REP_ERR_INVALID, &[])?;
                    continue;
                }
                option_reply(stream, option, REP_SERVER, &0u32.to_be_bytes())?;
                option_reply(stream, option, REP_ACK, &[])?;
            }
            OPT_INFO | OPT_GO => {
                // name length, name, number of info requests, requests: only checked.
                let name_len = data
                    .get(..4)
                    .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
                let well_formed = name_len.is_some_and(|n| {
                    let n = n as usize;
                    data.len() >= 6 + n && {
                        let count = u16::from_be_bytes([data[4 + n], data[5 + n]]) as usize;
                        data.len() == 6 + n + 2 * count
                    }
                });
                if !well_formed {
                    option_reply(stream, option, REP_ERR_INVALID, &[])?;
                    continue;
                }
                let mut export = INFO_EXPORT.to_be_bytes().to_vec();
                export.extend_from_slice(&size.to_be_bytes());
                export.extend_from_slice(&tflags.to_be_bytes());
                option_reply(stream, option, REP_INFO, &export)?;
                let mut sizes = INFO_BLOCK_SIZE.to_be_bytes().to_vec();
                for v in [1u32, 4096, MAX_REQUEST] {
                    sizes.extend_from_slice(&v.to_be_bytes());
                }
                option_reply(stream, option, REP_INFO, &sizes)?;
                option_reply(stream, option, REP_ACK, &[])?;
                if option == OPT_GO {
                    break;
                }
            }
            _ => option_reply(stream, option, REP_ERR_UNSUP, &[])?,
        }
    }
    transmission(dev, stream)
}

fn simple_reply(w: &mut impl Write, error: u32, handle: u64, data: &[u8]) -> io::Result<()> {
    let mut out = Vec::with_capacity(16 + data.len());
    out.extend_from_slice(&SIMPLE_REPLY_MAGIC.to_be_bytes());
    out.extend_from_slice(&error.to_be_bytes());
    out.extend_from_slice(&handle.to_be_bytes());
    out.extend_from_slice(data);
    w.write_all(&out)
}

/// Run a change (write, trim, zero) that is in range, flushing after it for FUA; the
/// errno to reply (0 for success).
fn changed(
    dev: &dyn BlockDev,
    flags: u16,
    in_range: bool,
    op: impl FnOnce() -> super::Result<()>,
) -> u32 {
    if !in_range {
        return EINVAL;
    }
    let done = op().and_then(|()| {
        if flags & CMD_FLAG_FUA != 0 {
            dev.flush()
        } else {
            Ok(())
        }
    });
    done.err().map_or(0, |e| errno(&e))
}

fn transmission(dev: &dyn BlockDev, stream: &mut UnixStream) -> io::Result<()> {
    let size = dev.size();
    let mut buf = Vec::new();
    loop {
        let magic = match read_u32(stream) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e),
        };
        if magic != REQUEST_MAGIC {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "bad request magic",
            ));
        }
        let flags = read_u16(stream)?;
        let kind = read_u16(stream)?;
        let handle = read_u64(stream)?;
        let offset = read_u64(stream)?;
        let len = read_u32(stream)?;
        let in_range = u64::from(len) <= size && offset <= size - u64::from(len);
        match kind {
            CMD_READ => {
                if len > MAX_REQUEST || !in_range {
                    simple_reply(stream, EINVAL, handle, &[])?;
                    continue;
                }
                buf.resize(len as usize, 0);
                match dev.read_at(&mut buf, offset) {
                    Ok(()) => simple_reply(stream, 0, handle, &buf)?,
                    Err(e) => simple_reply(stream, errno(&e), handle, &[])?,
                }
            }
            CMD_WRITE => {
                if len > MAX_REQUEST {
                    // Skip the payload to stay in step with the stream.
                    io::copy(&mut stream.take(u64::from(len)), &mut io::sink())?;
                    simple_reply(stream, EINVAL, handle, &[])?;
                    continue;
                }
                buf.resize(len as usize, 0);
                stream.read_exact(&mut buf)?;
                let e = changed(dev, flags, in_range, || dev.write_at(&buf, offset));
                simple_reply(stream, e, handle, &[])?;
            }
            CMD_DISC => {
                let _ = dev.flush();
                return Ok(());
            }
            CMD_FLUSH => {
                let e = dev.flush().err().map_or(0, |e| errno(&e));
                simple_reply(stream, e, handle, &[])?;
            }
            CMD_TRIM | CMD_WRITE_ZEROES => {
                let e = changed(dev, flags, in_range, || {
                    if kind == CMD_TRIM {
                        dev.discard(offset, u64::from(len))
                    } else {
                        dev.write_zeroes(offset, u64::from(len))
                    }
                });
                simple_reply(stream, e, handle, &[])?;
            }
            _ => simple_reply(stream, EINVAL, handle, &[])?,
        }
    }
}

/// An export running on its own thread. Dropping it stops the thread (after the client
/// being served, if any, has gone) and removes the socket.
pub struct NbdExport {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl NbdExport {
    /// Export `dev` on a new unix socket at `path` (clients are served one at a time, in
    /// order, until the export is dropped).
    pub fn start(dev: Device, path: &Path) -> io::Result<NbdExport> {
        let listener = UnixListener::bind(path)?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::Builder::new()
            .name("nbd-export".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    if stopped.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(mut stream) = stream else { continue };
                    let _ = serve_client(dev.as_ref(), &mut stream);
                    // Whatever the client did, its writes are durable once it is gone.
                    let _ = dev.flush();
                }
            })?;
        Ok(NbdExport {
            path: path.to_path_buf(),
            stop,
            thread: Some(thread),
        })
    }

    /// The socket's path (for `nbd+unix:///?socket=PATH`).
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for NbdExport {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag; it then drops its device reference.
        let woke = std::os::unix::net::UnixStream::connect(&self.path).is_ok();
        let _ = std::fs::remove_file(&self.path);
        if woke && let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
