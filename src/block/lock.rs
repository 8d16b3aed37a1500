//! Image locking compatible with QEMU's (block/file-posix.c): open-file-description
//! (OFD) byte-range locks on the image file.
//!
//! QEMU expresses its block permissions as single-byte read locks: holding byte
//! `100 + p` means "I use permission p", holding byte `200 + p` means "I do not let
//! others have permission p". Permissions: 0 consistent read, 1 write, 2 write
//! unchanged, 3 resize. (Observed with `qemu-io` on QEMU 10 in /proc/locks: a
//! read-write user holds 100, 101, 103, 201, 203; a read-only one 100, 201, 203.)
//!
//! rfish takes exactly what qemu-io takes for the same access, after checking that no
//! other process holds a conflicting byte, so a running VM and rfish refuse each other
//! the same way two QEMUs do. The locks live as long as the file description.

use std::fs::File;
use std::os::fd::AsFd;

use nix::fcntl::{FcntlArg, fcntl};
use nix::libc;

use super::{BlockError, Result};

const PERM_BASE: i64 = 100;
const SHARED_BASE: i64 = 200;
const PERM_CONSISTENT_READ: i64 = 0;
const PERM_WRITE: i64 = 1;
const PERM_RESIZE: i64 = 3;

const PERM_NAMES: [&str; 5] = [
    "consistent read",
    "write",
    "write unchanged",
    "resize",
    "graph modification",
];

fn flock(kind: i32, byte: i64) -> libc::flock {
    libc::flock {
        l_type: kind as libc::c_short,
        l_whence: libc::SEEK_SET as libc::c_short,
        l_start: byte,
        l_len: 1,
        l_pid: 0,
    }
}

/// Is `byte` locked by another open file description?
fn held_by_other(file: &File, byte: i64) -> Result<bool> {
    let mut fl = flock(libc::F_WRLCK, byte);
    fcntl(file.as_fd(), FcntlArg::F_OFD_GETLK(&mut fl))
        .map_err(|e| BlockError::io("test image lock", e.into()))?;
    Ok(i32::from(fl.l_type) != libc::F_UNLCK)
}

fn take(file: &File, byte: i64) -> Result<()> {
    let fl = flock(libc::F_RDLCK, byte);
    fcntl(file.as_fd(), FcntlArg::F_OFD_SETLK(&fl))
        .map(|_| ())
        .map_err(|e| BlockError::io("lock image", e.into()))
}

/// Take QEMU-compatible locks on an image rfish is about to use; `write` for a
/// read-write open. Fails with [`BlockError::Locked`] when another process (a running
/// VM, `qemu-img`, another rfish) uses the image in a conflicting way.
pub fn lock_image(file: &File, path: &str, write: bool) -> Result<()> {
    let mut used = vec![PERM_CONSISTENT_READ];
    if write {
        used.extend([PERM_WRITE, PERM_RESIZE]);
    }
    let unshared = [PERM_WRITE, PERM_RESIZE];
    for &p in &used {
        if held_by_other(file, SHARED_BASE + p)? {
            return Err(locked(path, p, write));
        }
    }
    for &p in &unshared {
        if held_by_other(file, PERM_BASE + p)? {
            return Err(locked(path, p, write));
        }
    }
    for &p in &used {
        take(file, PERM_BASE + p)?;
    }
    for &p in &unshared {
        take(file, SHARED_BASE + p)?;
    }
    Ok(())
}

fn locked(path: &str, perm: i64, write: bool) -> BlockError {
    let name = PERM_NAMES[perm as usize];
    let (how, fix) = if write {
        ("\"write\"", "stop the VM first")
    } else {
        ("shared \"write\"", "stop the VM first")
    };
    BlockError::Locked(format!(
        "{path}: Failed to get {how} lock: another process ({name}) is using the image, \
         probably a running virtual machine; {fix}"
    ))
}
