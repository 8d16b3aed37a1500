//! The state of one rfish session: what guestfish keeps in its handle and globals.

use std::path::Path;

use crate::block::{self, Device, ImageFormat, OpenOptions};
use crate::commands::CmdError;

/// A drive named with `-a` (opened by the block layer once it exists).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriveSpec {
    /// The image file or URI as given.
    pub path: String,
    /// `--format=` in force when it was added (`None`: probe).
    pub format: Option<String>,
    /// Added under `--ro` or `readonly:true`: the file is opened read-only.
    pub read_only: bool,
    /// rfish extra: keep writes in memory on top of the (read-only) image.
    pub overlay: bool,
}

/// A drive opened by the block layer, as the guest sees it.
pub struct OpenDrive {
    /// `/dev/sda`, `/dev/sdb`, ...
    pub name: String,
    /// The device.
    pub dev: Device,
    /// `blockdev-setro` was applied.
    pub set_ro: bool,
}

impl std::fmt::Debug for OpenDrive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenDrive")
            .field("name", &self.name)
            .field("format", &self.dev.format_name())
            .field("size", &self.dev.size())
            .field("set_ro", &self.set_ro)
            .finish()
    }
}

/// guestfish's device name for the drive at `index`: sda..sdz, sdaa, sdab, ...
pub fn drive_name(index: usize) -> String {
    let mut letters = Vec::new();
    let mut n = index + 1;
    while n > 0 {
        n -= 1;
        letters.push(b'a' + (n % 26) as u8);
        n /= 26;
    }
    letters.reverse();
    format!("/dev/sd{}", String::from_utf8_lossy(&letters))
}

/// The drive index a whole-device name refers to, accepting the guest-side spellings
/// `/dev/vdX`, `/dev/hdX` and `/dev/xvdX` as guestfish does.
pub fn drive_index(name: &str) -> Option<usize> {
    let letters = ["/dev/sd", "/dev/vd", "/dev/hd", "/dev/xvd"]
        .iter()
        .find_map(|p| name.strip_prefix(p))?;
    if letters.is_empty() || !letters.bytes().all(|b| b.is_ascii_lowercase()) {
        return None;
    }
    let mut n = 0usize;
    for b in letters.bytes() {
        n = n.checked_mul(26)?.checked_add(usize::from(b - b'a') + 1)?;
    }
    Some(n - 1)
}

/// Where the line being run came from, for `FILE:LINE:` error prefixes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// `*stdin*` or the `-f` file name.
    pub file: String,
    /// 1-based line number; 0 for commands given on the command line.
    pub line: usize,
}

/// Everything a session carries from one command to the next.
#[derive(Debug, Default)]
pub struct Session {
    /// Drives added so far.
    pub drives: Vec<DriveSpec>,
    /// `--ro`.
    pub read_only: bool,
    /// `-x`: trace each command on standard error.
    pub trace: bool,
    /// `-v`, repeatable.
    pub verbose: u8,
    /// `--network`.
    pub network: bool,
    /// `run`/`launch` has been issued.
    pub launched: bool,
    /// The drives opened so far, in the order added (opened at launch or first use).
    pub open_drives: Vec<OpenDrive>,
    /// `quit`/`exit`/`q` was run.
    pub quit: bool,
    /// Commands issued so far (guestfish's `command_num`: the first unknown command gets a
    /// longer hint).
    pub command_num: usize,
    /// Set in scripts: errors are prefixed with this location.
    pub location: Option<Location>,
    /// `--pipe-error`: a failing `| host-cmd` makes the command fail.
    pub pipe_error: bool,
}

impl Session {
    /// Open every added drive not opened yet (rfish opens drives when a command first
    /// needs them, so a forgotten `run` is not an error).
    pub fn open_drives(&mut self, func: &str) -> Result<(), CmdError> {
        while self.open_drives.len() < self.drives.len() {
            let index = self.open_drives.len();
            let spec = &self.drives[index];
            let dev = open_drive(spec).map_err(|e| CmdError::api(func, e))?;
            self.open_drives.push(OpenDrive {
                name: drive_name(index),
                dev,
                set_ro: false,
            });
        }
        Ok(())
    }

    /// The opened drive a whole-device argument names, with guestfish's error otherwise.
    pub fn drive(&mut self, func: &str, name: &str) -> Result<&mut OpenDrive, CmdError> {
        self.open_drives(func)?;
        match drive_index(name).and_then(|i| self.open_drives.get_mut(i)) {
            Some(d) => Ok(d),
            None => Err(CmdError::api(
                func,
                format!("{func}_stub: {name}: No such file or directory"),
            )),
        }
    }

    /// Flush every opened drive (write back metadata, make data durable).
    pub fn flush_drives(&self) -> Result<(), block::BlockError> {
        for d in &self.open_drives {
            d.dev.flush()?;
        }
        Ok(())
    }

    /// A fresh session, as `reopen` makes one: options carry over, drives and state do not.
    pub fn reopened(&self) -> Session {
        Session {
            read_only: self.read_only,
            trace: self.trace,
            verbose: self.verbose,
            network: self.network,
            location: self.location.clone(),
            pipe_error: self.pipe_error,
            command_num: self.command_num,
            ..Session::default()
        }
    }
}

/// Open one drive as its spec says.
fn open_drive(spec: &DriveSpec) -> Result<Device, block::BlockError> {
    let format = spec
        .format
        .as_deref()
        .map(ImageFormat::parse)
        .transpose()
        .map_err(|e| e.in_file(&spec.path))?;
    let read_only = spec.read_only || spec.overlay;
    let dev = block::open_image(
        Path::new(&spec.path),
        &OpenOptions {
            format,
            read_only,
            lock: true,
        },
    )?;
    Ok(if spec.overlay {
        std::sync::Arc::new(block::overlay::MemOverlay::new(dev))
    } else {
        dev
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drive_names_follow_linux_after_sdz() {
        assert_eq!(drive_name(0), "/dev/sda");
        assert_eq!(drive_name(25), "/dev/sdz");
        assert_eq!(drive_name(26), "/dev/sdaa");
        assert_eq!(drive_name(27), "/dev/sdab");
        assert_eq!(drive_name(26 + 26 * 26), "/dev/sdaaa");
        for i in [0, 1, 25, 26, 27, 700, 702, 5000] {
            assert_eq!(drive_index(&drive_name(i)), Some(i));
        }
        assert_eq!(drive_index("/dev/vdb"), Some(1));
        assert_eq!(drive_index("/dev/xvdc"), Some(2));
        assert_eq!(drive_index("/dev/sda1"), None);
        assert_eq!(drive_index("/dev/sd"), None);
        assert_eq!(drive_index("sda"), None);
    }
}
