//! Whole-device commands: list-devices, blockdev-*, pread-device, pwrite-device,
//! zero-device, and download/upload of a device. They run against rfish's own block
//! layer; the outputs and messages are libguestfs 1.48's (daemon/blockdev.c,
//! daemon/file.c, daemon/zero.c, daemon/upload.c).

use std::fs::File;
use std::io::Read;

use super::spec::{
    ArgKind, ArgSpec, Arity, CommandSpec, RetType, arg, declared, func_name as func,
};
use super::{Args, CmdError, Ctx, Value};
use crate::block::{Allocation, BlockError, copy_sparse, copy_to_stream};
use crate::session::DevRef;

/// guestfish's protocol limit on one message (GUESTFS_MESSAGE_MAX), which bounds
/// pread-device.
const MESSAGE_MAX: i64 = 4 << 20;

/// The one argument of most device commands.
static DEVICE_ARG: &[ArgSpec] = &[arg("device", ArgKind::Device)];

const fn dev_cmd(
    name: &'static str,
    ret: RetType,
    shortdesc: &'static str,
    longdesc: &'static str,
    handler: super::spec::Handler,
) -> CommandSpec {
    declared(name, DEVICE_ARG, ret, shortdesc, longdesc, &[], handler)
}

/// The device named by argument 0, opened.
fn drive(ctx: &mut Ctx<'_>, cmd: &str, args: &Args) -> Result<DevRef, CmdError> {
    let name = args.text(0);
    ctx.session.device(&func(cmd), &name)
}

fn dev_error(cmd: &str, dev: &str, e: BlockError) -> CmdError {
    CmdError::api(&func(cmd), format!("{dev}: {e}"))
}

fn writable(cmd: &str, d: DevRef) -> Result<DevRef, CmdError> {
    if d.read_only {
        return Err(dev_error(cmd, &d.name, BlockError::ReadOnly));
    }
    Ok(d)
}

/// `list-devices`.
pub static LIST_DEVICES: CommandSpec = CommandSpec {
    args: &[],
    examples: &["list-devices"],
    ..dev_cmd(
        "list-devices",
        RetType::StringList,
        "list the block devices",
        "List every drive, /dev/sda, /dev/sdb, ..., in the order they were added.",
        list_devices,
    )
};

fn list_devices(ctx: &mut Ctx<'_>, _args: &Args) -> Result<Value, CmdError> {
    ctx.session.open_drives("list_devices")?;
    Ok(Value::StringList(
        ctx.session
            .open_drives
            .iter()
            .map(|d| d.name.clone().into_bytes())
            .collect(),
    ))
}

/// `blockdev-getsize64`.
pub static BLOCKDEV_GETSIZE64: CommandSpec = CommandSpec {
    examples: &["blockdev-getsize64 /dev/sda"],
    ..dev_cmd(
        "blockdev-getsize64",
        RetType::Int64,
        "get total size of device in bytes",
        "The size of the device in bytes.",
        |ctx, args| {
            Ok(Value::Int(
                drive(ctx, "blockdev-getsize64", args)?.dev.size() as i64,
            ))
        },
    )
};

/// `blockdev-getsz`.
pub static BLOCKDEV_GETSZ: CommandSpec = CommandSpec {
    examples: &["blockdev-getsz /dev/sda"],
    ..dev_cmd(
        "blockdev-getsz",
        RetType::Int64,
        "get total size of device in 512-byte sectors",
        "The size of the device in 512-byte sectors, whatever the device's sector size.",
        |ctx, args| {
            Ok(Value::Int(
                (drive(ctx, "blockdev-getsz", args)?.dev.size() / 512) as i64,
            ))
        },
    )
};

/// `blockdev-getss`.
pub static BLOCKDEV_GETSS: CommandSpec = CommandSpec {
    examples: &["blockdev-getss /dev/sda"],
    ..dev_cmd(
        "blockdev-getss",
        RetType::Int,
        "get sectorsize of block device",
        "The device's logical sector size: 512.",
        |ctx, args| {
            drive(ctx, "blockdev-getss", args)?;
            Ok(Value::Int(512))
        },
    )
};

/// `blockdev-getbsz`.
pub static BLOCKDEV_GETBSZ: CommandSpec = CommandSpec {
    examples: &["blockdev-getbsz /dev/sda"],
    ..dev_cmd(
        "blockdev-getbsz",
        RetType::Int,
        "get blocksize of block device",
        "The kernel's block size for the device, as guestfish reports it: 4096.",
        |ctx, args| {
            drive(ctx, "blockdev-getbsz", args)?;
            Ok(Value::Int(4096))
        },
    )
};

/// `blockdev-getro`.
pub static BLOCKDEV_GETRO: CommandSpec = CommandSpec {
    examples: &["blockdev-getro /dev/sda"],
    ..dev_cmd(
        "blockdev-getro",
        RetType::Bool,
        "is block device set to read-only",
        "true if writes to the device are refused: it was added read-only (--ro, \
     readonly:true) or blockdev-setro was used. Drives with an in-memory overlay are \
     writable.",
        |ctx, args| {
            let d = drive(ctx, "blockdev-getro", args)?;
            Ok(Value::Bool(d.read_only))
        },
    )
};

/// `blockdev-setro`.
pub static BLOCKDEV_SETRO: CommandSpec = CommandSpec {
    examples: &["blockdev-setro /dev/sda"],
    ..dev_cmd(
        "blockdev-setro",
        RetType::Err,
        "set block device to read-only",
        "Refuse writes to the device from now on (until blockdev-setrw).",
        |ctx, args| {
            let name = drive(ctx, "blockdev-setro", args)?.name;
            ctx.session.read_only_devices.insert(name);
            Ok(Value::Unit)
        },
    )
};

/// `blockdev-setrw`.
pub static BLOCKDEV_SETRW: CommandSpec = CommandSpec {
    examples: &["blockdev-setrw /dev/sda"],
    ..dev_cmd(
        "blockdev-setrw",
        RetType::Err,
        "set block device to read-write",
        "Undo blockdev-setro. A drive added read-only stays read-only.",
        |ctx, args| {
            let name = drive(ctx, "blockdev-setrw", args)?.name;
            ctx.session.read_only_devices.remove(&name);
            Ok(Value::Unit)
        },
    )
};

/// `blockdev-flushbufs`.
pub static BLOCKDEV_FLUSHBUFS: CommandSpec = CommandSpec {
    examples: &["blockdev-flushbufs /dev/sda"],
    ..dev_cmd(
        "blockdev-flushbufs",
        RetType::Err,
        "flush device buffers",
        "Write back cached metadata and make all writes to the device durable.",
        |ctx, args| {
            let d = drive(ctx, "blockdev-flushbufs", args)?;
            d.dev
                .flush()
                .map_err(|e| dev_error("blockdev-flushbufs", &d.name, e))?;
            Ok(Value::Unit)
        },
    )
};

/// `blockdev-rereadpt`.
pub static BLOCKDEV_REREADPT: CommandSpec = CommandSpec {
    examples: &["blockdev-rereadpt /dev/sda"],
    ..dev_cmd(
        "blockdev-rereadpt",
        RetType::Err,
        "reread partition table",
        "Accepted for compatibility: rfish reads partition tables afresh whenever it needs them.",
        |ctx, args| {
            drive(ctx, "blockdev-rereadpt", args)?;
            Ok(Value::Unit)
        },
    )
};

/// `pread-device`.
pub static PREAD_DEVICE: CommandSpec = CommandSpec {
    args: &[
        arg("device", ArgKind::Device),
        arg("count", ArgKind::Int),
        arg("offset", ArgKind::Int64),
    ],
    examples: &["pread-device /dev/sda 512 0 | od -c | head"],
    ..dev_cmd(
        "pread-device",
        RetType::BufferOut,
        "read part of a device",
        "Read COUNT bytes from the device starting at OFFSET. Fewer bytes (or none) come \
         back when the range runs past the end of the device. COUNT is limited to under \
         4 MiB, as in guestfish.",
        pread_device,
    )
};

fn pread_device(ctx: &mut Ctx<'_>, args: &Args) -> Result<Value, CmdError> {
    let (count, offset) = (args.int(1), args.int(2));
    let f = "pread_device";
    let d = drive(ctx, "pread-device", args)?;
    if count < 0 {
        return Err(CmdError::api(f, "count is negative"));
    }
    if offset < 0 {
        return Err(CmdError::api(f, "offset is negative"));
    }
    if count >= MESSAGE_MAX {
        return Err(CmdError::api(
            f,
            format!(
                "{}: count is too large for the protocol, use smaller reads",
                d.name
            ),
        ));
    }
    let size = d.dev.size();
    let n = (count as u64).min(size.saturating_sub(offset as u64));
    let mut buf = vec![0u8; n as usize];
    if n > 0 {
        d.dev
            .read_at(&mut buf, offset as u64)
            .map_err(|e| dev_error("pread-device", &d.name, e))?;
    }
    Ok(Value::Buffer(buf))
}

/// `pwrite-device`.
pub static PWRITE_DEVICE: CommandSpec = CommandSpec {
    args: &[
        arg("device", ArgKind::Device),
        arg("content", ArgKind::String),
        arg("offset", ArgKind::Int64),
    ],
    examples: &["pwrite-device /dev/sda \"\\x55\\xaa\" 510"],
    ..dev_cmd(
        "pwrite-device",
        RetType::Int,
        "write to part of a device",
        "Write CONTENT to the device at OFFSET and print the number of bytes written, \
         which is less than asked when the write runs past the end of the device.",
        pwrite_device,
    )
};

fn pwrite_device(ctx: &mut Ctx<'_>, args: &Args) -> Result<Value, CmdError> {
    let content = args.bytes(1).to_vec();
    let offset = args.int(2);
    let d = drive(ctx, "pwrite-device", args)?;
    if offset < 0 {
        return Err(CmdError::api("pwrite_device", "offset is negative"));
    }
    let d = writable("pwrite-device", d)?;
    let size = d.dev.size();
    let offset = offset as u64;
    if offset >= size && !content.is_empty() {
        return Err(CmdError::api(
            "pwrite_device",
            format!("{}: No space left on device", d.name),
        ));
    }
    let n = (content.len() as u64).min(size.saturating_sub(offset));
    let fail = |e| dev_error("pwrite-device", &d.name, e);
    d.dev
        .write_at(&content[..n as usize], offset)
        .map_err(fail)?;
    d.dev.flush().map_err(fail)?;
    Ok(Value::Int(n as i64))
}

/// `zero-device`.
pub static ZERO_DEVICE: CommandSpec = CommandSpec {
    examples: &["zero-device /dev/sdb"],
    ..dev_cmd(
        "zero-device",
        RetType::Err,
        "write zeroes to an entire device",
        "Make the whole device read as zeros. rfish releases the space where the format \
         allows (qcow2 zero clusters, holes in raw files) instead of writing the zeros.",
        zero_device,
    )
};

fn zero_device(ctx: &mut Ctx<'_>, args: &Args) -> Result<Value, CmdError> {
    let d = writable("zero-device", drive(ctx, "zero-device", args)?)?;
    let fail = |e| dev_error("zero-device", &d.name, e);
    d.dev.write_zeroes(0, d.dev.size()).map_err(fail)?;
    d.dev.flush().map_err(fail)?;
    Ok(Value::Unit)
}

/// `zero`.
pub static ZERO: CommandSpec = CommandSpec {
    examples: &["zero /dev/sdb"],
    ..dev_cmd(
        "zero",
        RetType::Err,
        "write zeroes to the device",
        "Zero the first 128 KiB of the device (32 blocks of 4 KiB, skipping those already \
         zero), enough to make partition tables and filesystem signatures unreadable but \
         not to wipe the data. A mounted filesystem's device is refused.",
        zero,
    )
};

fn zero(ctx: &mut Ctx<'_>, args: &Args) -> Result<Value, CmdError> {
    let d = writable("zero", drive(ctx, "zero", args)?)?;
    if let Some(m) = ctx.session.mount_using(&d.name, true) {
        return Err(CmdError::api(
            "zero",
            format!("{}: device is in use (mounted on {})", d.name, m.mountpoint),
        ));
    }
    let fail = |e| dev_error("zero", &d.name, e);
    let size = d.dev.size();
    let mut buf = vec![0u8; 4096];
    for i in 0..32u64 {
        let at = i * 4096;
        if at >= size {
            break;
        }
        let n = (size - at).min(4096);
        d.dev.read_at(&mut buf[..n as usize], at).map_err(fail)?;
        if buf[..n as usize].iter().any(|&b| b != 0) {
            d.dev.write_zeroes(at, n).map_err(fail)?;
        }
    }
    d.dev.flush().map_err(fail)?;
    Ok(Value::Unit)
}

/// `download`.
pub static DOWNLOAD: CommandSpec = CommandSpec {
    name: "download",
    aliases: &[],
    args: &[
        arg("remotefilename", ArgKind::String),
        arg("filename", ArgKind::FileOut),
    ],
    optargs: &[],
    arity: Arity::Declared,
    free_synopsis: "",
    ret: RetType::Err,
    shortdesc: "download a file to the local machine",
    longdesc: "Copy a device (for example /dev/sda) to a host file, or to standard output \
               with -. Unallocated ranges are skipped, so a regular output file stays sparse.",
    examples: &["download /dev/sda disk.raw"],
    handler: download,
};

fn not_a_device(cmd: &str, path: &str) -> CmdError {
    CmdError::api(cmd, format!("{path}: No such file or directory"))
}

fn download(ctx: &mut Ctx<'_>, args: &Args) -> Result<Value, CmdError> {
    let remote = args.text(0);
    let local = args.text(1);
    if !remote.starts_with("/dev/") {
        return super::fsread::download_file(ctx, &remote, &local);
    }
    let to_stdout = local == "/dev/stdout";
    let dev = ctx.session.device("download", &remote)?.dev;
    let fail = |e| dev_error("download", &remote, e);
    if to_stdout {
        copy_to_stream(dev.as_ref(), ctx.out).map_err(fail)?;
        return Ok(Value::Unit);
    }
    let mut out = File::create(&local)
        .map_err(|e| CmdError::api("download", format!("{local}: {}", crate::os_error_text(&e))))?;
    let regular = out.metadata().map(|m| m.is_file()).unwrap_or(false);
    if regular {
        copy_sparse(dev.as_ref(), &mut out).map_err(fail)?;
    } else {
        copy_to_stream(dev.as_ref(), &mut out).map_err(fail)?;
    }
    Ok(Value::Unit)
}

/// `upload`.
pub static UPLOAD: CommandSpec = CommandSpec {
    name: "upload",
    aliases: &[],
    args: &[
        arg("filename", ArgKind::FileIn),
        arg("remotefilename", ArgKind::String),
    ],
    optargs: &[],
    arity: Arity::Declared,
    free_synopsis: "",
    ret: RetType::Err,
    shortdesc: "upload a file from the local machine",
    longdesc: "Copy a host file (or standard input with -) onto a device, from its first \
               byte. Runs of zeros in the input become zeroed ranges (sparse) on the device.",
    examples: &["upload disk.raw /dev/sda"],
    handler: upload,
};

fn upload(ctx: &mut Ctx<'_>, args: &Args) -> Result<Value, CmdError> {
    let local = args.text(0);
    let remote = args.text(1);
    if !remote.starts_with("/dev/") {
        if !remote.starts_with('/') {
            return Err(not_a_device("upload", &remote));
        }
        return super::fswrite::upload_file(ctx, &local, &remote);
    }
    let mut input = File::open(&local)
        .map_err(|e| CmdError::api("open", format!("{local}: {}", crate::os_error_text(&e))))?;
    let d = ctx.session.device("upload", &remote)?;
    let d = writable("upload", d)?;
    let fail = |e| dev_error("upload", &remote, e);
    let size = d.dev.size();
    let mut buf = vec![0u8; 1 << 20];
    let mut at = 0u64;
    loop {
        let n = read_full(&mut input, &mut buf).map_err(|e| {
            CmdError::api("upload", format!("{local}: {}", crate::os_error_text(&e)))
        })?;
        if n == 0 {
            break;
        }
        if at + n as u64 > size {
            return Err(CmdError::api(
                "upload",
                format!("{remote}: No space left on device"),
            ));
        }
        let chunk = &buf[..n];
        if chunk.iter().all(|&b| b == 0) {
            let (run, status) = d.dev.block_status(at, n as u64).map_err(fail)?;
            if status != Allocation::Zero || run < n as u64 {
                d.dev.write_zeroes(at, n as u64).map_err(fail)?;
            }
        } else {
            d.dev.write_at(chunk, at).map_err(fail)?;
        }
        at += n as u64;
    }
    d.dev.flush().map_err(fail)?;
    Ok(Value::Unit)
}

/// Read until `buf` is full or the input ends.
fn read_full(input: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match input.read(&mut buf[done..]) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}
