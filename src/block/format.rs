//! Opening an image file as the right [`BlockDev`]: format detection by magic (unless the
//! user named the format), QEMU-compatible locking, and backing chains (relative names
//! resolved against the overlay's directory, loops and absurd depths refused).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::lock::lock_image;
use super::qcow2::Qcow2;
use super::raw::{RawFile, pread_zero_fill};
use super::{BlockError, Device, Result};

/// Formats rfish opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    /// Bytes as they are.
    Raw,
    /// QEMU copy-on-write v2/v3.
    Qcow2,
}

impl ImageFormat {
    /// Parse a `format:` / `--format` value.
    pub fn parse(name: &str) -> Result<ImageFormat> {
        match name {
            "raw" => Ok(ImageFormat::Raw),
            "qcow2" => Ok(ImageFormat::Qcow2),
            other => Err(BlockError::Unsupported(format!(
                "image format '{other}' (rfish opens raw and qcow2; convert with 'qemu-img convert -O qcow2')"
            ))),
        }
    }
}

/// Longest backing chain followed.
const MAX_CHAIN: usize = 64;

/// How to open an image.
#[derive(Debug, Clone, Copy)]
pub struct OpenOptions {
    /// The format, or `None` to detect it from the magic.
    pub format: Option<ImageFormat>,
    /// Open the file read-only; every write fails.
    pub read_only: bool,
    /// Take QEMU-compatible locks.
    pub lock: bool,
}

/// The format a file's first bytes announce, with qemu-img's names ("raw" when nothing
/// is recognised).
pub fn probe_format(file: &File) -> Result<&'static str> {
    let mut head = [0u8; 512];
    pread_zero_fill(file, &mut head, 0).map_err(|e| BlockError::io("read image", e))?;
    let be32 = |o: usize| u32::from_be_bytes([head[o], head[o + 1], head[o + 2], head[o + 3]]);
    Ok(match &head {
        h if h.starts_with(b"QFI\xfb") => {
            if be32(4) == 1 {
                "qcow"
            } else {
                "qcow2"
            }
        }
        h if h.starts_with(b"QED\0") => "qed",
        h if h.starts_with(b"KDMV") || h.starts_with(b"# Disk DescriptorFile") => "vmdk",
        h if h[64..68] == [0x7f, 0x10, 0xda, 0xbe] => "vdi",
        h if h.starts_with(b"vhdxfile") => "vhdx",
        h if h.starts_with(b"conectix") => "vpc",
        h if h.starts_with(b"LUKS\xba\xbe") => "luks",
        _ => "raw",
    })
}

/// Open `path` as a block device.
pub fn open_image(path: &Path, opts: &OpenOptions) -> Result<Device> {
    open_chain(path, opts, &mut Vec::new())
}

fn open_chain(path: &Path, opts: &OpenOptions, seen: &mut Vec<PathBuf>) -> Result<Device> {
    let name = path.display().to_string();
    open_one(path, &name, opts, seen).map_err(|e| e.in_file(&name))
}

fn open_one(
    path: &Path,
    name: &str,
    opts: &OpenOptions,
    seen: &mut Vec<PathBuf>,
) -> Result<Device> {
    let name = name.to_string();
    if seen.len() >= MAX_CHAIN {
        return Err(BlockError::Unsupported(format!(
            "backing chain deeper than {MAX_CHAIN} images"
        )));
    }
    let canonical = std::fs::canonicalize(path).map_err(|e| BlockError::io(name.clone(), e))?;
    if seen.contains(&canonical) {
        return Err(BlockError::corrupt(
            "backing chain",
            "the image is its own backing file (loop)".to_string(),
        ));
    }
    seen.push(canonical);
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(!opts.read_only)
        .open(path)
        .map_err(|e| BlockError::io(name.clone(), e))?;
    if opts.lock {
        lock_image(&file, &name, !opts.read_only)?;
    }
    let format = match opts.format {
        Some(f) => f,
        None => match probe_format(&file)? {
            "qcow2" => ImageFormat::Qcow2,
            // A LUKS header at byte 0 is a disk encrypted as a whole: its bytes are
            // the device (rfish reports crypto_LUKS on it rather than decrypting).
            "raw" | "luks" => ImageFormat::Raw,
            other => {
                return Err(BlockError::Unsupported(format!(
                    "image format '{other}' (rfish opens raw and qcow2; convert with 'qemu-img convert -O qcow2')"
                )));
            }
        },
    };
    Ok(match format {
        ImageFormat::Raw => Arc::new(RawFile::new(file, opts.read_only)?),
        ImageFormat::Qcow2 => {
            let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
            let q = Qcow2::open(file, &name, opts.read_only, |h| {
                let Some(backing) = &h.backing_file else {
                    return Ok(None);
                };
                if backing.starts_with("json:") || backing.contains("://") {
                    return Err(BlockError::Unsupported(format!(
                        "backing file '{backing}' is not a local file"
                    )));
                }
                let format = h
                    .backing_format
                    .as_deref()
                    .map(ImageFormat::parse)
                    .transpose()?;
                let backing_path = dir.join(backing);
                let backing_opts = OpenOptions {
                    format,
                    read_only: true,
                    lock: opts.lock,
                };
                open_chain(&backing_path, &backing_opts, seen)
                    .map(Some)
                    .map_err(|e| BlockError::InFile {
                        file: format!("{name}: backing file"),
                        source: Box::new(e),
                    })
            })?;
            Arc::new(q)
        }
    })
}

/// What `disk-format`, `disk-virtual-size` and `disk-has-backing-file` report about an
/// image file, read from its header alone (the backing chain is not opened).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
    /// qemu-img's format name.
    pub format: &'static str,
    /// Virtual size in bytes.
    pub virtual_size: u64,
    /// Backing file named in the header.
    pub backing_file: Option<String>,
    /// Backing file format named in the header.
    pub backing_format: Option<String>,
}

/// Read an image file's header.
pub fn image_info(path: &Path) -> Result<ImageInfo> {
    let name = path.display().to_string();
    let file = File::open(path).map_err(|e| BlockError::io(name.clone(), e))?;
    let format = probe_format(&file)?;
    if format != "qcow2" {
        return Ok(ImageInfo {
            format,
            virtual_size: super::raw::file_size(&file)?,
            backing_file: None,
            backing_format: None,
        });
    }
    let q = Qcow2::open(file, &name, true, |_| Ok(None)).map_err(|e| e.in_file(&name))?;
    let h = q.header();
    Ok(ImageInfo {
        format,
        virtual_size: h.size,
        backing_file: h.backing_file.clone(),
        backing_format: h.backing_format.clone(),
    })
}
