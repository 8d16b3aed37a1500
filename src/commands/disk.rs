//! Adding drives and host-side disk images: add-drive, add-ro, alloc, sparse, disk-create,
//! disk-format, disk-virtual-size, disk-has-backing-file and rfish's disk-snapshot-list.
//! Messages follow libguestfs 1.48 (lib/drives.c, lib/create.c, fish/alloc.c).

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::fish::free as fish;
use super::output::Field;
use super::spec::{ArgKind, CommandSpec, RetType, arg, declared};
use super::{Args, CmdError, Ctx, Value};
use crate::block::qcow2::create::{NewImage, create};
use crate::block::qcow2::{Qcow2, snapshot};
use crate::block::{BlockError, ImageFormat, image_info};
use crate::parse::value::parse_size;
use crate::session::DriveSpec;

/// A declared-arity command with aliases and optional arguments.
#[allow(clippy::too_many_arguments)] // one parameter per field of the struct it builds
const fn api(
    name: &'static str,
    aliases: &'static [&'static str],
    args: &'static [super::ArgSpec],
    optargs: &'static [super::ArgSpec],
    ret: RetType,
    shortdesc: &'static str,
    longdesc: &'static str,
    examples: &'static [&'static str],
    handler: super::spec::Handler,
) -> CommandSpec {
    CommandSpec {
        aliases,
        optargs,
        ..declared(name, args, ret, shortdesc, longdesc, examples, handler)
    }
}

/// `add-drive` / `add`.
pub static ADD_DRIVE: CommandSpec = api(
    "add-drive",
    &["add"],
    &[arg("filename", ArgKind::String)],
    &[
        arg("readonly", ArgKind::Bool),
        arg("format", ArgKind::String),
        arg("iface", ArgKind::String),
        arg("name", ArgKind::String),
        arg("label", ArgKind::String),
        arg("protocol", ArgKind::String),
        arg("server", ArgKind::StringList),
        arg("username", ArgKind::String),
        arg("secret", ArgKind::String),
        arg("cachemode", ArgKind::String),
        arg("discard", ArgKind::String),
        arg("copyonread", ArgKind::Bool),
        arg("blocksize", ArgKind::Int),
        arg("overlay", ArgKind::Bool),
    ],
    RetType::Err,
    "add an image to examine or modify",
    "Add a disk image (raw or qcow2, or a host block device). The first drive added is \
     /dev/sda, the next /dev/sdb, and so on. format: forces the format (otherwise it is \
     detected from the image's first bytes; give it for untrusted raw images). \
     readonly:true opens the file read-only: every write fails. rfish extra: overlay:true \
     opens it read-only but keeps writes in memory until rfish exits. Unlike guestfish, \
     drives can also be added after run.",
    &["add-drive disk.img readonly:true format:raw"],
    add_drive,
);

/// `add-ro` / `add-drive-ro`.
pub static ADD_RO: CommandSpec = api(
    "add-drive-ro",
    &["add-ro"],
    &[arg("filename", ArgKind::String)],
    &[],
    RetType::Err,
    "add a drive in snapshot mode (read-only)",
    "The same as add-drive FILENAME readonly:true.",
    &["add-ro disk.img"],
    add_drive_ro,
);

fn valid_label(label: &str) -> bool {
    (1..=20).contains(&label.len()) && label.bytes().all(|b| b.is_ascii_alphabetic())
}

fn add_drive(ctx: &mut Ctx<'_>, args: &Args) -> Result<Value, CmdError> {
    let path = args.text(0);
    if let Some(protocol) = args.opt_text("protocol").filter(|p| p != "file") {
        return Err(CmdError::api(
            "add_drive",
            format!(
                "protocol '{protocol}': remote storage is not supported by rfish yet (copy the image locally)"
            ),
        ));
    }
    if let Some(label) = args.opt_text("label")
        && !valid_label(&label)
    {
        return Err(CmdError::Api(
            "label parameter is empty, too long, or contains disallowed characters".into(),
        ));
    }
    if let Some(bs) = args.opt_int("blocksize")
        && bs != 512
        && bs != 4096
    {
        return Err(CmdError::Api(format!(
            "invalid value for blocksize parameter \u{2018}{bs}\u{2019}"
        )));
    }
    let format = args.opt_text("format");
    if let Some(f) = &format {
        ImageFormat::parse(f).map_err(|e| CmdError::api("add_drive", e))?;
    }
    if let Err(e) = File::open(&path) {
        return Err(CmdError::Api(format!(
            "{path}: {}",
            crate::os_error_text(&e)
        )));
    }
    let overlay = args.opt_bool("overlay").unwrap_or(false);
    ctx.session.drives.push(DriveSpec {
        path,
        format,
        read_only: args.opt_bool("readonly").unwrap_or(false) || overlay,
        overlay,
    });
    // Drives added after the others were opened are opened now (rfish can hot-add).
    if !ctx.session.open_drives.is_empty() || ctx.session.launched {
        if let Err(e) = ctx.session.open_drives("add_drive") {
            ctx.session.drives.pop();
            return Err(e);
        }
    }
    Ok(Value::Unit)
}

fn add_drive_ro(ctx: &mut Ctx<'_>, args: &Args) -> Result<Value, CmdError> {
    let ro = Args {
        invoked_as: None,
        positional: args.positional.clone(),
        optional: vec![("readonly", super::ArgValue::Bool(true))],
    };
    add_drive(ctx, &ro)
}

/// `alloc`.
pub static ALLOC: CommandSpec = fish(
    "alloc",
    &["allocate"],
    "filename size",
    "allocate and add a disk file",
    "Create a raw disk image of SIZE bytes (suffixes k, M, G, ...), filled with zeros \
     and allocated on the host, then add it as the next drive.",
    &["alloc new.img 100M"],
    alloc,
);

/// `sparse`.
pub static SPARSE: CommandSpec = fish(
    "sparse",
    &[],
    "filename size",
    "create a sparse disk image and add",
    "Create a sparse raw disk image of SIZE bytes, which takes no host space until \
     written, then add it as the next drive.",
    &["sparse new.img 10G"],
    sparse,
);

fn alloc(ctx: &mut Ctx<'_>, args: &Args) -> Result<Value, CmdError> {
    alloc_or_sparse(
        ctx,
        args,
        "alloc",
        "use 'alloc file size' to create an image\n",
    )
}

fn sparse(ctx: &mut Ctx<'_>, args: &Args) -> Result<Value, CmdError> {
    alloc_or_sparse(
        ctx,
        args,
        "sparse",
        "use 'sparse file size' to create a sparse image\n",
    )
}

fn alloc_or_sparse(
    ctx: &mut Ctx<'_>,
    args: &Args,
    cmd: &str,
    usage: &str,
) -> Result<Value, CmdError> {
    if args.positional.len() != 2 {
        return Err(CmdError::Fish(usage.into()));
    }
    let path = args.text(0);
    let size = parse_size(args.bytes(1)).map_err(|code| {
        CmdError::Fish(format!(
            "parse_size: invalid integer parameter (xstrtoull returned {code})\n"
        ))
    })?;
    if size == 0 {
        return Err(CmdError::Api(format!("invalid size: {size}")));
    }
    let prealloc = if cmd == "alloc" { "full" } else { "sparse" };
    create_raw(&path, size, prealloc)?;
    let add = Args {
        invoked_as: None,
        positional: vec![super::ArgValue::Bytes(path.into_bytes())],
        optional: vec![("format", super::ArgValue::Bytes(b"raw".to_vec()))],
    };
    add_drive(ctx, &add)
}

/// Create (or truncate) a raw image of `size` bytes; `prealloc` "full" allocates it.
pub(crate) fn create_raw(path: &str, size: u64, prealloc: &str) -> Result<(), CmdError> {
    let fail = |e: std::io::Error| {
        CmdError::Api(format!(
            "cannot create raw file: {path}: {}",
            crate::os_error_text(&e)
        ))
    };
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .map_err(fail)?;
    if prealloc == "full" {
        // Allocate on the host: fallocate where it works, else write the zeros.
        let ok = nix::fcntl::fallocate(&file, nix::fcntl::FallocateFlags::empty(), 0, size as i64)
            .is_ok();
        if !ok {
            let zeros = vec![0u8; 1 << 20];
            let mut at = 0;
            while at < size {
                let n = (size - at).min(zeros.len() as u64);
                file.write_all_at(&zeros[..n as usize], at).map_err(fail)?;
                at += n;
            }
        }
    }
    file.set_len(size).map_err(fail)?;
    Ok(())
}

/// `disk-create`.
pub static DISK_CREATE: CommandSpec = api(
    "disk-create",
    &[],
    &[
        arg("filename", ArgKind::String),
        arg("format", ArgKind::String),
        arg("size", ArgKind::Int64),
    ],
    &[
        arg("backingfile", ArgKind::String),
        arg("backingformat", ArgKind::String),
        arg("preallocation", ArgKind::String),
        arg("compat", ArgKind::String),
        arg("clustersize", ArgKind::Int),
    ],
    RetType::Err,
    "create a blank disk image",
    "Create a blank raw or qcow2 image of SIZE bytes (-1 with backingfile: the backing \
     file's size). preallocation: off|sparse|full (raw), off|sparse|metadata|full (qcow2); \
     compat: 0.10 (version 2) or 1.1 (version 3, the default); clustersize: a power of two \
     from 512 to 2097152. rfish writes the image itself, without qemu-img.",
    &[
        "disk-create new.qcow2 qcow2 1G",
        "disk-create top.qcow2 qcow2 -1 backingfile:base.qcow2",
    ],
    disk_create,
);

fn disk_create(_ctx: &mut Ctx<'_>, args: &Args) -> Result<Value, CmdError> {
    let path = args.text(0);
    let format = args.text(1);
    let size = args.int(2);
    let backing = args.opt_text("backingfile");
    let backing_format = args.opt_text("backingformat");
    let prealloc = args.opt_text("preallocation");
    let compat = args.opt_text("compat");
    let cluster = args.opt_int("clustersize");
    let invalid = |what: &str, v: &str| {
        CmdError::Api(format!(
            "invalid value for {what} parameter \u{2018}{v}\u{2019}"
        ))
    };
    if format != "raw" && format != "qcow2" {
        return Err(CmdError::Api(format!(
            "unsupported format \u{2018}{format}\u{2019}"
        )));
    }
    if backing.is_some() {
        if size != -1 {
            return Err(CmdError::Api(
                "if using a backing file, size must be passed as -1".into(),
            ));
        }
    } else if size <= 0 {
        return Err(CmdError::Api(format!("invalid size: {size}")));
    }
    if format == "raw" {
        for (name, given) in [
            ("backingfile", backing.is_some()),
            ("backingformat", backing_format.is_some()),
            ("compat", compat.is_some()),
            ("clustersize", cluster.is_some()),
        ] {
            if given {
                return Err(CmdError::Api(format!(
                    "{name} parameter cannot be used with raw format"
                )));
            }
        }
        let prealloc = prealloc.unwrap_or_else(|| "sparse".into());
        let mode = match prealloc.as_str() {
            "off" | "sparse" => "sparse",
            "full" => "full",
            other => return Err(invalid("preallocation", other)),
        };
        create_raw(&path, size as u64, mode)?;
        return Ok(Value::Unit);
    }
    let prealloc = prealloc.unwrap_or_else(|| "off".into());
    if !["off", "sparse", "metadata", "full"].contains(&prealloc.as_str()) {
        return Err(invalid("preallocation", &prealloc));
    }
    let version = match compat.as_deref() {
        None | Some("1.1") => 3,
        Some("0.10") => 2,
        Some(other) => return Err(invalid("compat", other)),
    };
    let cluster_bits = match cluster {
        None => 16,
        Some(c) if (512..=2 << 20).contains(&c) && (c as u64).is_power_of_two() => {
            (c as u64).trailing_zeros()
        }
        Some(c) => return Err(invalid("clustersize", &c.to_string())),
    };
    let mut virtual_size = size as u64;
    let mut stored_format = backing_format.clone();
    if let Some(b) = &backing {
        if let Some(f) = &backing_format {
            ImageFormat::parse(f).map_err(|e| CmdError::api("disk_create", e))?;
        }
        // Relative names are relative to the new image's directory, as QEMU resolves them.
        let dir = Path::new(&path)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let info = image_info(&dir.join(b))
            .map_err(|e| CmdError::api("disk_create", format!("backing file: {e}")))?;
        virtual_size = info.virtual_size;
        stored_format.get_or_insert_with(|| info.format.to_string());
    }
    let fail = |e: BlockError| CmdError::Api(format!("cannot create qcow2 file: {path}: {e}"));
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .map_err(|e| fail(BlockError::io("open", e)))?;
    create(
        &file,
        &NewImage {
            version,
            cluster_bits,
            size: virtual_size,
            backing_file: backing,
            backing_format: stored_format,
        },
    )
    .map_err(fail)?;
    if prealloc == "metadata" || prealloc == "full" {
        preallocate(file, &path).map_err(fail)?;
    }
    Ok(Value::Unit)
}

/// Allocate every cluster of a new qcow2 image (its contents stay zero).
fn preallocate(file: File, path: &str) -> Result<(), BlockError> {
    use crate::block::BlockDev;
    let q = Qcow2::open(file, path, false, |_| Ok(None))?;
    crate::block::write_zero_bytes(&q, 0, q.size())?;
    q.flush()
}

fn info(func: &str, args: &Args) -> Result<crate::block::ImageInfo, CmdError> {
    image_info(Path::new(&args.text(0))).map_err(|e| CmdError::api(func, e))
}

/// `disk-format`.
pub static DISK_FORMAT: CommandSpec = api(
    "disk-format",
    &[],
    &[arg("filename", ArgKind::String)],
    &[],
    RetType::String,
    "detect the disk format of a disk image",
    "Print the format of a disk image as qemu-img names it (raw, qcow2, vmdk, ...), \
     detected from its first bytes.",
    &["disk-format disk.img"],
    disk_format,
);

fn disk_format(_ctx: &mut Ctx<'_>, args: &Args) -> Result<Value, CmdError> {
    Ok(Value::String(
        info("disk_format", args)?.format.as_bytes().to_vec(),
    ))
}

/// `disk-virtual-size`.
pub static DISK_VIRTUAL_SIZE: CommandSpec = api(
    "disk-virtual-size",
    &[],
    &[arg("filename", ArgKind::String)],
    &[],
    RetType::Int64,
    "return virtual size of a disk",
    "Print the size of the disk the guest sees, in bytes.",
    &["disk-virtual-size disk.qcow2"],
    disk_virtual_size,
);

fn disk_virtual_size(_ctx: &mut Ctx<'_>, args: &Args) -> Result<Value, CmdError> {
    let size = info("disk_virtual_size", args)?.virtual_size;
    Ok(Value::Int(size as i64))
}

/// `disk-has-backing-file`.
pub static DISK_HAS_BACKING_FILE: CommandSpec = api(
    "disk-has-backing-file",
    &[],
    &[arg("filename", ArgKind::String)],
    &[],
    RetType::Bool,
    "return whether disk has a backing file",
    "true if the image is a qcow2 overlay on a backing file.",
    &["disk-has-backing-file disk.qcow2"],
    disk_has_backing_file,
);

fn disk_has_backing_file(_ctx: &mut Ctx<'_>, args: &Args) -> Result<Value, CmdError> {
    Ok(Value::Bool(
        info("disk_has_backing_file", args)?.backing_file.is_some(),
    ))
}

/// `disk-snapshot-list` (rfish extra).
pub static DISK_SNAPSHOT_LIST: CommandSpec = api(
    "disk-snapshot-list",
    &[],
    &[arg("filename", ArgKind::String)],
    &[],
    RetType::StructList,
    "list the internal snapshots of a qcow2 image",
    "rfish extra. List a qcow2 image's internal snapshots (qemu-img snapshot -l): id, name, \
     saved VM state size, creation time and VM clock. rfish reads such images but refuses \
     to write them.",
    &["disk-snapshot-list disk.qcow2"],
    disk_snapshot_list,
);

fn disk_snapshot_list(_ctx: &mut Ctx<'_>, args: &Args) -> Result<Value, CmdError> {
    let func = "disk_snapshot_list";
    let path = args.text(0);
    let err = |e: BlockError| CmdError::api(func, e);
    let file = File::open(&path).map_err(|e| err(BlockError::io(path.clone(), e)))?;
    if crate::block::probe_format(&file).map_err(err)? != "qcow2" {
        return Ok(Value::StructList(Vec::new()));
    }
    let len = file
        .metadata()
        .map_err(|e| err(BlockError::io(path.clone(), e)))?
        .len();
    let q = Qcow2::open(file, &path, true, |_| Ok(None)).map_err(err)?;
    let snaps = snapshot::read_snapshots(q.file(), q.header(), len).map_err(err)?;
    Ok(Value::StructList(
        snaps
            .into_iter()
            .map(|s| {
                vec![
                    ("id", Field::Str(s.id)),
                    ("name", Field::Str(s.name)),
                    ("vm_state_size", Field::Int(s.vm_state_size as i64)),
                    ("date_sec", Field::Int(i64::from(s.date_sec))),
                    ("date_nsec", Field::Int(i64::from(s.date_nsec))),
                    ("vm_clock_nsec", Field::Int(s.vm_clock_nsec as i64)),
                ]
            })
            .collect(),
    ))
}
