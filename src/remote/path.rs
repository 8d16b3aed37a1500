//! Where a server's socket is: `$XDG_RUNTIME_DIR/rfish/socket-PID` when
//! `XDG_RUNTIME_DIR` is set (the per-user runtime directory), else
//! `$TMPDIR/.rfish-EUID/socket-PID` (`/tmp` without `TMPDIR`), as guestfish uses
//! `/tmp/.guestfish-EUID/socket-PID`. The directory is the user's alone (mode 0700);
//! rfish refuses to use one that is not.

use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The longest path a unix socket address holds (`sun_path`, with its NUL).
const SUN_PATH_MAX: usize = 107;

/// The directory for this user's sockets.
pub fn socket_dir() -> PathBuf {
    if let Some(runtime) = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
    {
        return runtime.join("rfish");
    }
    let tmp = std::env::var_os("TMPDIR")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    tmp.join(format!(".rfish-{}", rustix::process::geteuid().as_raw()))
}

/// The socket of server `pid`.
pub fn socket_path(pid: u32) -> PathBuf {
    socket_dir().join(format!("socket-{pid}"))
}

/// Create the socket directory if needed, and check it is a directory of this user's with
/// mode 0700 (so no other user can reach the sockets in it, or replace them).
pub fn ensure_socket_dir(dir: &Path) -> Result<(), String> {
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(format!("{}: {}", dir.display(), crate::os_error_text(&e))),
    }
    let meta = std::fs::symlink_metadata(dir)
        .map_err(|e| format!("{}: {}", dir.display(), crate::os_error_text(&e)))?;
    if !meta.is_dir()
        || meta.permissions().mode() & 0o777 != 0o700
        || meta.uid() != rustix::process::geteuid().as_raw()
    {
        return Err(format!(
            "\u{2018}{}\u{2019} is not a directory or has insecure owner or permissions",
            dir.display()
        ));
    }
    Ok(())
}

/// Refuse socket paths the kernel cannot bind.
pub fn check_length(path: &Path) -> Result<(), String> {
    if path.as_os_str().len() > SUN_PATH_MAX {
        return Err(format!(
            "{}: the socket path is too long (set XDG_RUNTIME_DIR or TMPDIR to a shorter \
             directory)",
            path.display()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_directory_must_be_private() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("sockets");
        ensure_socket_dir(&dir).expect("created");
        assert_eq!(
            std::fs::metadata(&dir)
                .expect("exists")
                .permissions()
                .mode()
                & 0o777,
            0o700
        );
        ensure_socket_dir(&dir).expect("an existing private directory is fine");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        assert!(ensure_socket_dir(&dir).is_err());
        // A symlink to a private directory is refused too: it could be redirected.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&dir, &link).expect("symlink");
        assert!(ensure_socket_dir(&link).is_err());
        let file = tmp.path().join("file");
        std::fs::write(&file, b"").expect("file");
        assert!(ensure_socket_dir(&file).is_err());
        assert!(check_length(&dir.join("socket-1")).is_ok());
        assert!(check_length(&dir.join("x".repeat(120))).is_err());
    }
}
