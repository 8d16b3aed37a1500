//! A GNU tar writer (the format `tar -cf` writes by default): 512-byte headers with octal
//! fields (base-256 when a number does not fit), `././@LongLink` records for names and link
//! targets over 100 bytes, PAX records for extended attributes, two zero blocks at the end
//! and the output padded to tar's 10240-byte records. Written here rather than with the tar
//! crate, which rewrites `./name` into `name` and so cannot reproduce `tar -C DIR .`.

use std::io::{self, Read, Write};

/// Entry types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A regular file.
    File,
    /// A hard link to an earlier entry.
    HardLink,
    /// A symbolic link.
    Symlink,
    /// A character device.
    Char,
    /// A block device.
    Block,
    /// A directory.
    Dir,
    /// A FIFO.
    Fifo,
}

impl Kind {
    fn flag(self) -> u8 {
        match self {
            Kind::File => b'0',
            Kind::HardLink => b'1',
            Kind::Symlink => b'2',
            Kind::Char => b'3',
            Kind::Block => b'4',
            Kind::Dir => b'5',
            Kind::Fifo => b'6',
        }
    }
}

/// The metadata of one entry.
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    /// Path as stored (`./etc/`, `./etc/hostname`).
    pub name: &'a [u8],
    /// Type.
    pub kind: Kind,
    /// Permission bits.
    pub mode: u32,
    /// Owner.
    pub uid: u64,
    /// Group.
    pub gid: u64,
    /// Owner name ("" for none).
    pub uname: &'a str,
    /// Group name.
    pub gname: &'a str,
    /// Content size (regular files).
    pub size: u64,
    /// Modification time.
    pub mtime: i64,
    /// Link target (symlinks, hard links).
    pub link: &'a [u8],
    /// Device numbers.
    pub dev: (u32, u32),
}

/// Write `n` into an octal field of `field.len()` bytes (NUL-terminated), or base-256
/// when it does not fit.
fn numeric(field: &mut [u8], n: u64) {
    let digits = field.len() - 1;
    if n < 1u64.checked_shl(3 * digits as u32).unwrap_or(u64::MAX) {
        let s = format!("{n:0digits$o}");
        field[..digits].copy_from_slice(s.as_bytes());
        field[digits] = 0;
    } else {
        field.fill(0);
        field[0] = 0x80;
        let bytes = n.to_be_bytes();
        let len = field.len();
        field[len - 8..].copy_from_slice(&bytes);
    }
}

/// A tar stream being written.
pub struct TarWriter<W: Write> {
    out: W,
    written: u64,
}

impl<W: Write> TarWriter<W> {
    /// A writer over `out`.
    pub fn new(out: W) -> Self {
        TarWriter { out, written: 0 }
    }

    fn put(&mut self, b: &[u8]) -> io::Result<()> {
        self.out.write_all(b)?;
        self.written += b.len() as u64;
        Ok(())
    }

    fn pad(&mut self, len: u64) -> io::Result<()> {
        let rem = (len % 512) as usize;
        if rem != 0 {
            self.put(&vec![0u8; 512 - rem])?;
        }
        Ok(())
    }

    fn header(
        &mut self,
        name: &[u8],
        flag: u8,
        e: &Entry<'_>,
        size: u64,
        link: &[u8],
    ) -> io::Result<()> {
        let mut h = [0u8; 512];
        let n = name.len().min(100);
        h[..n].copy_from_slice(&name[..n]);
        numeric(&mut h[100..108], u64::from(e.mode));
        numeric(&mut h[108..116], e.uid);
        numeric(&mut h[116..124], e.gid);
        numeric(&mut h[124..136], size);
        if e.mtime >= 0 {
            numeric(&mut h[136..148], e.mtime as u64);
        } else {
            // GNU tar stores times before 1970 in base-256 two's complement.
            h[136..140].fill(0xff);
            h[140..148].copy_from_slice(&e.mtime.to_be_bytes());
        }
        h[156] = flag;
        let l = link.len().min(100);
        h[157..157 + l].copy_from_slice(&link[..l]);
        h[257..263].copy_from_slice(b"ustar ");
        h[263..265].copy_from_slice(b" \0");
        let u = e.uname.len().min(31);
        h[265..265 + u].copy_from_slice(&e.uname.as_bytes()[..u]);
        let g = e.gname.len().min(31);
        h[297..297 + g].copy_from_slice(&e.gname.as_bytes()[..g]);
        if matches!(e.kind, Kind::Char | Kind::Block) && flag == e.kind.flag() {
            numeric(&mut h[329..337], u64::from(e.dev.0));
            numeric(&mut h[337..345], u64::from(e.dev.1));
        }
        h[148..156].fill(b' ');
        let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
        let s = format!("{sum:06o}\0 ");
        h[148..156].copy_from_slice(s.as_bytes());
        self.put(&h)
    }

    /// A GNU long-name ('L') or long-link ('K') record.
    fn long(&mut self, flag: u8, value: &[u8], e: &Entry<'_>) -> io::Result<()> {
        let mut data = value.to_vec();
        data.push(0);
        let meta = Entry {
            mode: 0,
            uid: 0,
            gid: 0,
            uname: "root",
            gname: "root",
            mtime: 0,
            ..e.clone()
        };
        self.header(b"././@LongLink", flag, &meta, data.len() as u64, b"")?;
        self.put(&data)?;
        self.pad(data.len() as u64)
    }

    /// PAX extended-attribute records for the next entry.
    pub fn pax(&mut self, e: &Entry<'_>, records: &[(String, Vec<u8>)]) -> io::Result<()> {
        let mut data = Vec::new();
        for (k, v) in records {
            // "LEN KEY=VALUE\n", where LEN counts itself.
            let body = k.len() + v.len() + 3;
            let mut len = body + body.to_string().len();
            if len.to_string().len() != body.to_string().len() {
                len = body + len.to_string().len();
            }
            data.extend_from_slice(format!("{len} {k}=").as_bytes());
            data.extend_from_slice(v);
            data.push(b'\n');
        }
        let base = e.name.strip_suffix(b"/").unwrap_or(e.name);
        let file = base.rsplit(|&c| c == b'/').next().unwrap_or(base);
        let mut name = b"./PaxHeaders/".to_vec();
        name.extend_from_slice(file);
        let meta = Entry {
            uid: 0,
            gid: 0,
            uname: "",
            gname: "",
            ..e.clone()
        };
        self.header(&name, b'x', &meta, data.len() as u64, b"")?;
        self.put(&data)?;
        self.pad(data.len() as u64)
    }

    /// Append an entry; `data` supplies a regular file's `e.size` bytes.
    pub fn append(&mut self, e: &Entry<'_>, data: Option<&mut dyn Read>) -> io::Result<()> {
        if e.name.len() > 100 {
            self.long(b'L', e.name, e)?;
        }
        if e.link.len() > 100 {
            self.long(b'K', e.link, e)?;
        }
        let size = if e.kind == Kind::File { e.size } else { 0 };
        self.header(e.name, e.kind.flag(), e, size, e.link)?;
        if let Some(r) = data
            && size > 0
        {
            let copied = io::copy(&mut r.take(size), &mut WriteCount(self))?;
            if copied != size {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "file shrank while being archived",
                ));
            }
            self.pad(size)?;
        }
        Ok(())
    }

    /// End the archive: two zero blocks, padded to a 10240-byte record.
    pub fn finish(mut self) -> io::Result<W> {
        self.put(&[0u8; 1024])?;
        let rem = (self.written % 10240) as usize;
        if rem != 0 {
            self.put(&vec![0u8; 10240 - rem])?;
        }
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Counts bytes written through a TarWriter.
struct WriteCount<'a, W: Write>(&'a mut TarWriter<W>);

impl<W: Write> Write for WriteCount<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.put(buf)?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_fit_or_go_base256() {
        let mut f = [0u8; 12];
        numeric(&mut f, 12);
        assert_eq!(&f, b"00000000014\0");
        numeric(&mut f, 1 << 40);
        assert_eq!(f[0], 0x80);
        assert_eq!(
            u64::from_be_bytes(f[4..].try_into().expect("8 bytes")),
            1 << 40
        );
    }
}
