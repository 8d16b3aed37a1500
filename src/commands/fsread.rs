//! Reading guest files: the helpers every file command uses (root check, path resolution
//! with guestfish's messages, streaming reads) and cat, read-file, read-lines, head, head-n,
//! tail, tail-n, download (of files), download-offset.

use std::io::Write;

use super::spec::{ArgKind, ArgSpec, CommandSpec, RetType, arg, declared as cmd};
use super::{CmdError, Ctx, Value};
use crate::fs::vfs::Node;
use crate::fs::{Errno, FileType, FsError};
use crate::session::Session;

/// Chunk size for streaming reads.
const CHUNK: usize = 1 << 20;
/// Files larger than this are copied with reads and writes overlapped.
const PIPELINE_FROM: u64 = 16 << 20;
/// Chunk size and depth of that pipeline.
const PIPELINE_CHUNK: usize = 4 << 20;
const PIPELINE_DEPTH: usize = 4;

/// guestfish's NEED_ROOT check: `FUNC: FUNC_stub: you must call 'mount' first...`.
pub(crate) fn need_root(s: &Session, func: &str) -> Result<(), CmdError> {
    if s.vfs.root().is_err() {
        return Err(CmdError::api(
            func,
            format!("{func}_stub: you must call 'mount' first to mount the root filesystem"),
        ));
    }
    Ok(())
}

/// A filesystem error about `path`: `FUNC: [WHAT: ]PATH: reason`.
pub(crate) fn path_error(func: &str, what: &str, path: &str, e: &FsError) -> CmdError {
    if what.is_empty() {
        CmdError::api(func, format!("{path}: {e}"))
    } else {
        CmdError::api(func, format!("{what}: {path}: {e}"))
    }
}

/// Resolve `path` (after the root check). `what` names the failing call in the message.
pub(crate) fn resolve(
    s: &Session,
    func: &str,
    what: &str,
    path: &str,
    follow: bool,
) -> Result<Node, CmdError> {
    need_root(s, func)?;
    s.vfs
        .resolve(path, follow)
        .map_err(|e| path_error(func, what, path, &e))
}

/// Resolve `path`, or `None` when it (or a parent) does not exist.
pub(crate) fn try_resolve(
    s: &Session,
    func: &str,
    path: &str,
    follow: bool,
) -> Result<Option<Node>, CmdError> {
    need_root(s, func)?;
    match s.vfs.resolve(path, follow) {
        Ok(n) => Ok(Some(n)),
        Err(e)
            if matches!(
                e.errno(),
                Some(Errno::NotFound | Errno::NotDir | Errno::Loop)
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(path_error(func, "", path, &e)),
    }
}

/// Resolve a regular file to read, as guestfish's download does (`is a directory` for
/// directories).
pub(crate) fn open_file(s: &Session, func: &str, path: &str) -> Result<(Node, u64), CmdError> {
    let node = resolve(s, func, "", path, true)?;
    let st = s
        .vfs
        .stat(&node)
        .map_err(|e| path_error(func, "", path, &e))?;
    if st.file_type() == FileType::Directory {
        return Err(CmdError::api(func, format!("{path}: is a directory")));
    }
    Ok((node, st.size))
}

/// Stream `len` bytes from `offset` of a file to `out`.
pub(crate) fn copy_file(
    s: &Session,
    func: &str,
    path: &str,
    node: &Node,
    offset: u64,
    len: u64,
    out: &mut dyn Write,
) -> Result<(), CmdError> {
    let fs = s.vfs.fs(node);
    let end = offset.saturating_add(len);
    let read_err = |e: FsError| path_error(func, "", path, &e);
    let write_err =
        |e: std::io::Error| CmdError::api(func, format!("write: {}", crate::os_error_text(&e)));
    if len <= PIPELINE_FROM {
        let mut buf = vec![0u8; CHUNK.min(len as usize).max(1)];
        let mut pos = offset;
        while pos < end {
            let want = ((end - pos) as usize).min(buf.len());
            let n = fs.read(node.ino, pos, &mut buf[..want]).map_err(read_err)?;
            if n == 0 {
                break;
            }
            out.write_all(&buf[..n]).map_err(write_err)?;
            pos += n as u64;
        }
        return Ok(());
    }
    // Large files: one thread reads the next chunks while this one writes, as qemu-img
    // overlaps its reads and writes. Buffers go round between the two.
    let (full_tx, full_rx) =
        std::sync::mpsc::sync_channel::<Result<(Vec<u8>, usize, usize), FsError>>(PIPELINE_DEPTH);
    let (empty_tx, empty_rx) = std::sync::mpsc::channel::<Vec<u8>>();
    for _ in 0..PIPELINE_DEPTH + 1 {
        let _ = empty_tx.send(vec![0u8; PIPELINE_CHUNK + 4096]);
    }
    // Page-aligned windows of the buffers: the kernel copies to and from aligned user
    // memory faster.
    let aligned = |buf: &[u8]| (4096 - buf.as_ptr() as usize % 4096) % 4096;
    std::thread::scope(|scope| {
        scope.spawn(move || {
            let mut pos = offset;
            while pos < end {
                let Ok(mut buf) = empty_rx.recv() else { return };
                let at = aligned(&buf);
                let want = ((end - pos) as usize).min(PIPELINE_CHUNK);
                match fs.read(node.ino, pos, &mut buf[at..at + want]) {
                    Ok(0) => return,
                    Ok(n) => {
                        pos += n as u64;
                        if full_tx.send(Ok((buf, at, n))).is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        let _ = full_tx.send(Err(e));
                        return;
                    }
                }
            }
        });
        // Dropping the receivers on an early return stops the reader.
        for chunk in full_rx {
            let (buf, at, n) = chunk.map_err(read_err)?;
            out.write_all(&buf[at..at + n]).map_err(write_err)?;
            let _ = empty_tx.send(buf);
        }
        Ok(())
    })
}

/// Files larger than this are not read into memory (cat streams; download has no limit).
const READ_ALL_LIMIT: u64 = 1 << 30;

/// The whole content of a file (following symlinks).
pub(crate) fn read_all(s: &Session, func: &str, path: &str) -> Result<Vec<u8>, CmdError> {
    let (node, size) = open_file(s, func, path)?;
    if size > READ_ALL_LIMIT {
        return Err(CmdError::api(
            func,
            format!("{path}: file is too large to read into memory ({size} bytes): use download"),
        ));
    }
    let mut out = Vec::with_capacity(size.min(64 << 20) as usize);
    copy_file(s, func, path, &node, 0, size, &mut out)?;
    Ok(out)
}

/// Split file content into lines as guestfish's read-lines does: on `\n`, without a final
/// empty line, with a `\r` before the `\n` kept.
pub(crate) fn lines(data: &[u8]) -> Vec<Vec<u8>> {
    if data.is_empty() {
        return Vec::new();
    }
    let body = data.strip_suffix(b"\n").unwrap_or(data);
    body.split(|&c| c == b'\n').map(<[u8]>::to_vec).collect()
}

static PATH: &[ArgSpec] = &[arg("path", ArgKind::Path)];

/// `cat`.
pub static CAT: CommandSpec = cmd(
    "cat",
    PATH,
    RetType::String,
    "list the contents of a file",
    "Print the contents of a guest file (followed by a newline, as guestfish prints \
     strings). Use download PATH - for binary-exact output.",
    &["cat /etc/os-release"],
    |ctx, args| {
        Ok(Value::String(read_all(
            ctx.session,
            "download",
            &args.text(0),
        )?))
    },
);

/// `read-file`.
pub static READ_FILE: CommandSpec = cmd(
    "read-file",
    PATH,
    RetType::BufferOut,
    "read a file",
    "The whole content of a file, exactly (nothing is added).",
    &["read-file /etc/hostname"],
    |ctx, args| {
        Ok(Value::Buffer(read_all(
            ctx.session,
            "download",
            &args.text(0),
        )?))
    },
);

/// `read-lines`.
pub static READ_LINES: CommandSpec = cmd(
    "read-lines",
    PATH,
    RetType::StringList,
    "read file as lines",
    "The file split into lines (without their newline characters).",
    &["read-lines /etc/fstab"],
    |ctx, args| {
        Ok(Value::StringList(lines(&read_all(
            ctx.session,
            "download",
            &args.text(0),
        )?)))
    },
);

/// head-n semantics: N ≥ 0 first N lines; N < 0 all but the last -N.
fn head_lines(all: Vec<Vec<u8>>, n: i64) -> Vec<Vec<u8>> {
    let len = all.len() as i64;
    let keep = if n >= 0 { n.min(len) } else { (len + n).max(0) };
    all.into_iter().take(keep as usize).collect()
}

/// tail-n semantics: N > 0 last N lines; N ≤ 0 from line 1-N on (`tail -n +K`, K = 1-N).
fn tail_lines(all: Vec<Vec<u8>>, n: i64) -> Vec<Vec<u8>> {
    let len = all.len() as i64;
    if n == 0 {
        return Vec::new();
    }
    let skip = if n > 0 {
        (len - n).max(0)
    } else {
        (-n - 1).clamp(0, len)
    };
    all.into_iter().skip(skip as usize).collect()
}

fn head_tail(
    ctx: &mut Ctx<'_>,
    func: &str,
    path: &str,
    n: i64,
    head: bool,
) -> Result<Value, CmdError> {
    let data = read_all(ctx.session, func, path)?;
    let all = lines(&data);
    Ok(Value::StringList(if head {
        head_lines(all, n)
    } else {
        tail_lines(all, n)
    }))
}

static N_PATH: &[ArgSpec] = &[arg("nrlines", ArgKind::Int), arg("path", ArgKind::Path)];

/// `head`.
pub static HEAD: CommandSpec = cmd(
    "head",
    PATH,
    RetType::StringList,
    "return first 10 lines of a file",
    "The first 10 lines of a file.",
    &["head /etc/passwd"],
    |ctx, args| head_tail(ctx, "head", &args.text(0), 10, true),
);

/// `head-n`.
pub static HEAD_N: CommandSpec = cmd(
    "head-n",
    N_PATH,
    RetType::StringList,
    "return first N lines of a file",
    "The first N lines of a file; a negative N gives all but the last -N lines; 0 gives \
     nothing.",
    &["head-n 3 /etc/passwd"],
    |ctx, args| head_tail(ctx, "head_n", &args.text(1), args.int(0), true),
);

/// `tail`.
pub static TAIL: CommandSpec = cmd(
    "tail",
    PATH,
    RetType::StringList,
    "return last 10 lines of a file",
    "The last 10 lines of a file.",
    &["tail /etc/passwd"],
    |ctx, args| head_tail(ctx, "tail", &args.text(0), 10, false),
);

/// `tail-n`.
pub static TAIL_N: CommandSpec = cmd(
    "tail-n",
    N_PATH,
    RetType::StringList,
    "return last N lines of a file",
    "The last N lines of a file; a negative N gives the lines from line -N on (like \
     tail -n +N); 0 gives nothing.",
    &["tail-n 3 /etc/passwd"],
    |ctx, args| head_tail(ctx, "tail_n", &args.text(1), args.int(0), false),
);

/// Open a host output file (`-` arrives as /dev/stdout) or use the command's output.
pub(crate) fn with_host_out(
    ctx: &mut Ctx<'_>,
    func: &str,
    local: &str,
    body: impl FnOnce(&Session, &mut dyn Write) -> Result<(), CmdError>,
) -> Result<(), CmdError> {
    if local == "/dev/stdout" || local == "-" {
        return body(ctx.session, ctx.out);
    }
    let mut f = std::fs::File::create(local)
        .map_err(|e| CmdError::api(func, format!("{local}: {}", crate::os_error_text(&e))))?;
    body(ctx.session, &mut f)?;
    f.flush()
        .map_err(|e| CmdError::api(func, format!("{local}: {}", crate::os_error_text(&e))))
}

/// `download` of a guest file (devices are handled in blockdev.rs).
pub fn download_file(ctx: &mut Ctx<'_>, remote: &str, local: &str) -> Result<Value, CmdError> {
    let (node, size) = open_file(ctx.session, "download", remote)?;
    with_host_out(ctx, "download", local, |s, out| {
        copy_file(s, "download", remote, &node, 0, size, out)
    })?;
    Ok(Value::Unit)
}

/// `download-offset`.
pub static DOWNLOAD_OFFSET: CommandSpec = cmd(
    "download-offset",
    &[
        arg("remotefilename", ArgKind::Path),
        arg("filename", ArgKind::FileOut),
        arg("offset", ArgKind::Int64),
        arg("size", ArgKind::Int64),
    ],
    RetType::Err,
    "download a file to the local machine with offset and size",
    "Copy SIZE bytes from OFFSET of a guest file to a host file (- for standard output).",
    &["download-offset /etc/os-release - 0 16"],
    |ctx, args| {
        let remote = args.text(0);
        let local = args.text(1);
        let (offset, size) = (args.int(2), args.int(3));
        if offset < 0 {
            return Err(CmdError::api("download_offset", "offset is negative"));
        }
        if size < 0 {
            return Err(CmdError::api("download_offset", "size is negative"));
        }
        let (node, fsize) = open_file(ctx.session, "download_offset", &remote)?;
        let offset = offset as u64;
        let len = (size as u64).min(fsize.saturating_sub(offset));
        with_host_out(ctx, "download_offset", &local, |s, out| {
            copy_file(s, "download_offset", &remote, &node, offset, len, out)
        })?;
        Ok(Value::Unit)
    },
);

/// `more` / `less`.
pub static MORE: CommandSpec = super::fish::free(
    "more",
    &["less"],
    "filename",
    "view a file",
    "Show a guest file in $PAGER (more when unset); the alternate name less always uses \
     less. The file is copied to a private temporary file first.",
    &["more /etc/hostname"],
    more,
);

fn more(ctx: &mut Ctx<'_>, args: &super::Args) -> Result<Value, CmdError> {
    let name = args.invoked_as.clone().unwrap_or_else(|| "more".into());
    if args.positional.len() != 1 {
        return Err(CmdError::Fish(format!(
            "use '{name} filename' to page a file\n"
        )));
    }
    let path = args.text(0);
    let data = read_all(ctx.session, "download", &path)?;
    let mut tmp = tempfile::NamedTempFile::new()
        .map_err(|e| CmdError::api("more", crate::os_error_text(&e)))?;
    tmp.write_all(&data)
        .map_err(|e| CmdError::api("more", crate::os_error_text(&e)))?;
    let pager = if name == "less" {
        "less".to_string()
    } else {
        crate::hostenv::get("PAGER")
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_else(|| "more".into())
    };
    ctx.out.flush().ok();
    let status = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(format!("{pager} \"$1\""))
        .arg("sh")
        .arg(tmp.path())
        .status()
        .map_err(|e| CmdError::api("more", crate::os_error_text(&e)))?;
    if !status.success() {
        return Err(CmdError::Silent);
    }
    Ok(Value::Unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(v: &[&str]) -> Vec<Vec<u8>> {
        v.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    #[test]
    fn head_and_tail_count_like_guestfish() {
        let all = l(&["1", "2", "3", "4", "5"]);
        assert_eq!(head_lines(all.clone(), 2), l(&["1", "2"]));
        assert_eq!(head_lines(all.clone(), -3), l(&["1", "2"]));
        assert_eq!(head_lines(all.clone(), 0), l(&[]));
        assert_eq!(tail_lines(all.clone(), 2), l(&["4", "5"]));
        assert_eq!(tail_lines(all.clone(), -3), l(&["3", "4", "5"]));
        assert_eq!(tail_lines(all, 9), l(&["1", "2", "3", "4", "5"]));
        assert_eq!(lines(b"a\nb"), l(&["a", "b"]));
        assert_eq!(lines(b"a\n\n"), l(&["a", ""]));
    }
}
