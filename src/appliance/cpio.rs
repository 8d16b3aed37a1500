//! The initramfs archive format (Documentation/driver-api/early-userspace/buffer-format.rst):
//! cpio "newc" — for each member a 110-byte ASCII header (magic `070701`, thirteen 8-digit
//! hex fields), the NUL-terminated name, padding to 4 bytes, the data, padding to 4 bytes —
//! ended by the member `TRAILER!!!`.

/// A cpio newc archive being written in memory.
#[derive(Debug, Default)]
pub struct Cpio {
    out: Vec<u8>,
    next_ino: u32,
}

const S_IFREG: u32 = 0o100000;
const S_IFDIR: u32 = 0o040000;
const S_IFLNK: u32 = 0o120000;
const S_IFCHR: u32 = 0o020000;

fn pad4(out: &mut Vec<u8>) {
    while out.len() % 4 != 0 {
        out.push(0);
    }
}

impl Cpio {
    /// An empty archive.
    pub fn new() -> Cpio {
        Cpio {
            out: Vec::new(),
            next_ino: 1,
        }
    }

    fn member(&mut self, name: &str, mode: u32, rdev: (u32, u32), data: &[u8]) {
        let name = name.trim_start_matches('/');
        let ino = self.next_ino;
        self.next_ino += 1;
        let fields: [u32; 13] = [
            ino,
            mode,
            0,
            0,
            if mode & S_IFDIR != 0 { 2 } else { 1 },
            0,
            data.len() as u32,
            0,
            0,
            rdev.0,
            rdev.1,
            name.len() as u32 + 1,
            0,
        ];
        self.out.extend_from_slice(b"070701");
        for f in fields {
            self.out.extend_from_slice(format!("{f:08X}").as_bytes());
        }
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(0);
        pad4(&mut self.out);
        self.out.extend_from_slice(data);
        pad4(&mut self.out);
    }

    /// A directory (parents must be added first).
    pub fn dir(&mut self, path: &str, perm: u32) {
        self.member(path, S_IFDIR | (perm & 0o7777), (0, 0), &[]);
    }

    /// A regular file.
    pub fn file(&mut self, path: &str, perm: u32, data: &[u8]) {
        self.member(path, S_IFREG | (perm & 0o7777), (0, 0), data);
    }

    /// A symbolic link.
    pub fn symlink(&mut self, path: &str, target: &str) {
        self.member(path, S_IFLNK | 0o777, (0, 0), target.as_bytes());
    }

    /// A character device.
    pub fn char_device(&mut self, path: &str, perm: u32, major: u32, minor: u32) {
        self.member(path, S_IFCHR | (perm & 0o7777), (major, minor), &[]);
    }

    /// The archive, closed with its trailer.
    pub fn finish(mut self) -> Vec<u8> {
        self.member("TRAILER!!!", 0, (0, 0), &[]);
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_newc() {
        let mut c = Cpio::new();
        c.file("/init", 0o755, b"#!/bin/sh\n");
        let out = c.finish();
        assert_eq!(&out[..6], b"070701");
        assert_eq!(&out[6 + 8..6 + 16], b"000081ED");
        assert_eq!(out.len() % 4, 0);
        assert!(out.windows(10).any(|w| w == b"TRAILER!!!"));
    }
}
