//! Reading tar archives (POSIX ustar, GNU and PAX), for tar-in: headers with their
//! checksums, octal and base-256 numbers, GNU long names (`L`/`K`), PAX extended headers
//! (path, linkpath, size, times with nanoseconds, uid/gid, `SCHILY.xattr.*`, GNU tar's
//! `SCHILY.acl.*`), and the
//! member types tar-in restores. Every size read from the archive is bounded before use;
//! a damaged archive is an error, never a panic or a huge allocation.

use std::io::Read;

/// Largest GNU long name or PAX header accepted.
const MAX_META: u64 = 1 << 20;

/// What a member is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A regular file (its data follows).
    File,
    /// A directory.
    Dir,
    /// A symbolic link to this target.
    Symlink(Vec<u8>),
    /// A hard link to this earlier member.
    HardLink(Vec<u8>),
    /// A character device (major, minor).
    CharDev(u32, u32),
    /// A block device (major, minor).
    BlockDev(u32, u32),
    /// A FIFO.
    Fifo,
}

/// One member's header.
#[derive(Debug, Clone)]
pub struct Member {
    /// Its path as stored.
    pub path: Vec<u8>,
    /// Its type.
    pub kind: Kind,
    /// Permission bits (with setuid/setgid/sticky).
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Owner name (`root` maps to 0 whatever the number says).
    pub uname: Vec<u8>,
    /// Modification time (seconds, nanoseconds).
    pub mtime: (i64, u32),
    /// Data bytes that follow the header.
    pub size: u64,
    /// Extended attributes from PAX `SCHILY.xattr.` records.
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
    /// POSIX ACLs in text form from `SCHILY.acl.access`/`.default` (GNU tar --acls), by
    /// the attribute they become (`system.posix_acl_access`/`_default`).
    pub acls: Vec<(Vec<u8>, Vec<u8>)>,
}

/// A tar stream.
pub struct TarReader<R: Read> {
    input: R,
    /// Data bytes of the current member not read yet, plus its padding.
    remaining: u64,
    padding: u64,
}

fn bad(what: &str) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("damaged tar archive: {what}"),
    )
}

/// A numeric field: octal (space/NUL terminated) or GNU base-256.
fn number(field: &[u8]) -> std::io::Result<u64> {
    if field.first().is_some_and(|&b| b & 0x80 != 0) {
        let mut v: u64 = u64::from(field[0] & 0x7f);
        for &b in &field[1..] {
            v = v
                .checked_mul(256)
                .and_then(|v| v.checked_add(u64::from(b)))
                .ok_or_else(|| bad("number too large"))?;
        }
        return Ok(v);
    }
    let mut v: u64 = 0;
    for &b in field.iter().skip_while(|&&b| b == b' ') {
        match b {
            b'0'..=b'7' => {
                v = v
                    .checked_mul(8)
                    .and_then(|v| v.checked_add(u64::from(b - b'0')))
                    .ok_or_else(|| bad("number too large"))?;
            }
            0 | b' ' => break,
            _ => return Err(bad("bad octal number")),
        }
    }
    Ok(v)
}

fn cstr(field: &[u8]) -> Vec<u8> {
    let n = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    field[..n].to_vec()
}

impl<R: Read> TarReader<R> {
    /// Read an archive from `input`.
    pub fn new(input: R) -> Self {
        TarReader {
            input,
            remaining: 0,
            padding: 0,
        }
    }

    fn skip(&mut self, mut n: u64) -> std::io::Result<()> {
        let mut buf = [0u8; 8192];
        while n > 0 {
            let k = n.min(buf.len() as u64) as usize;
            self.input.read_exact(&mut buf[..k])?;
            n -= k as u64;
        }
        Ok(())
    }

    /// Read up to `buf.len()` bytes of the current member's data; 0 at its end.
    pub fn read_data(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.remaining == 0 {
            return Ok(0);
        }
        let k = (buf.len() as u64).min(self.remaining) as usize;
        self.input.read_exact(&mut buf[..k])?;
        self.remaining -= k as u64;
        Ok(k)
    }

    /// A whole metadata member's data (GNU long name, PAX header), bounded.
    fn meta(&mut self, size: u64) -> std::io::Result<Vec<u8>> {
        if size > MAX_META {
            return Err(bad("metadata member too large"));
        }
        let mut v = vec![0u8; size as usize];
        self.input.read_exact(&mut v)?;
        self.skip((512 - size % 512) % 512)?;
        Ok(v)
    }

    /// The next member, or `None` at the end of the archive.
    pub fn next_member(&mut self) -> std::io::Result<Option<Member>> {
        self.skip(self.remaining + self.padding)?;
        self.remaining = 0;
        self.padding = 0;
        let mut long_name: Option<Vec<u8>> = None;
        let mut long_link: Option<Vec<u8>> = None;
        let mut pax: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        loop {
            let mut h = [0u8; 512];
            match self.input.read_exact(&mut h) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
                Err(e) => return Err(e),
            }
            if h.iter().all(|&b| b == 0) {
                return Ok(None);
            }
            let stored = number(&h[148..156])?;
            let sum: u64 = h
                .iter()
                .enumerate()
                .map(|(i, &b)| {
                    if (148..156).contains(&i) {
                        32
                    } else {
                        u64::from(b)
                    }
                })
                .sum();
            if stored != sum {
                return Err(bad("header checksum mismatch"));
            }
            let size = number(&h[124..136])?;
            let typeflag = h[156];
            match typeflag {
                b'L' => {
                    long_name = Some(cstr(&self.meta(size)?));
                    continue;
                }
                b'K' => {
                    long_link = Some(cstr(&self.meta(size)?));
                    continue;
                }
                b'x' => {
                    pax = parse_pax(&self.meta(size)?)?;
                    continue;
                }
                b'g' => {
                    self.meta(size)?;
                    continue;
                }
                _ => {}
            }
            let ustar = &h[257..262] == b"ustar";
            let mut path = cstr(&h[0..100]);
            if ustar && h[345] != 0 && &h[257..263] == b"ustar\0" {
                let mut p = cstr(&h[345..500]);
                p.push(b'/');
                p.extend_from_slice(&path);
                path = p;
            }
            let mut link = cstr(&h[157..257]);
            if let Some(n) = long_name.take() {
                path = n;
            }
            if let Some(l) = long_link.take() {
                link = l;
            }
            let mut m = Member {
                path,
                kind: Kind::File,
                mode: number(&h[100..108])? as u32 & 0o7777,
                uid: number(&h[108..116])? as u32,
                gid: number(&h[116..124])? as u32,
                uname: cstr(&h[265..297]),
                mtime: (number(&h[136..148])? as i64, 0),
                size,
                xattrs: Vec::new(),
                acls: Vec::new(),
            };
            let dev = || -> std::io::Result<(u32, u32)> {
                Ok((number(&h[329..337])? as u32, number(&h[337..345])? as u32))
            };
            for (k, v) in pax.drain(..) {
                let text = String::from_utf8_lossy(&v).into_owned();
                match k.as_slice() {
                    b"path" => m.path = v,
                    b"linkpath" => link = v,
                    b"size" => m.size = text.parse().map_err(|_| bad("PAX size"))?,
                    b"uid" => m.uid = text.parse().map_err(|_| bad("PAX uid"))?,
                    b"gid" => m.gid = text.parse().map_err(|_| bad("PAX gid"))?,
                    b"uname" => m.uname = v,
                    b"mtime" => m.mtime = parse_time(&text)?,
                    _ if k.starts_with(b"SCHILY.xattr.") => {
                        m.xattrs.push((k[b"SCHILY.xattr.".len()..].to_vec(), v));
                    }
                    b"SCHILY.acl.access" => m.acls.push((b"system.posix_acl_access".to_vec(), v)),
                    b"SCHILY.acl.default" => {
                        m.acls.push((b"system.posix_acl_default".to_vec(), v));
                    }
                    _ => {}
                }
            }
            m.kind = match typeflag {
                b'0' | 0 | b'7' => Kind::File,
                b'1' => Kind::HardLink(link),
                b'2' => Kind::Symlink(link),
                b'3' => {
                    let (a, b) = dev()?;
                    Kind::CharDev(a, b)
                }
                b'4' => {
                    let (a, b) = dev()?;
                    Kind::BlockDev(a, b)
                }
                b'5' => Kind::Dir,
                b'6' => Kind::Fifo,
                other => {
                    return Err(bad(&format!(
                        "member type '{}' is not supported",
                        other as char
                    )));
                }
            };
            let data = if matches!(m.kind, Kind::File) {
                m.size
            } else {
                0
            };
            self.remaining = data;
            self.padding = (512 - data % 512) % 512;
            if !matches!(m.kind, Kind::File) && m.size > 0 {
                // Non-file members may still carry data in odd archives: skip it.
                self.remaining = 0;
                self.padding = m.size.div_ceil(512) * 512;
            }
            return Ok(Some(m));
        }
    }
}

/// PAX records: "LEN key=value\n".
fn parse_pax(data: &[u8]) -> std::io::Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < data.len() {
        let sp = data[at..]
            .iter()
            .position(|&b| b == b' ')
            .ok_or_else(|| bad("PAX record"))?;
        let len: usize = std::str::from_utf8(&data[at..at + sp])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("PAX record length"))?;
        if len < sp + 2 || at + len > data.len() {
            return Err(bad("PAX record length"));
        }
        let rec = &data[at + sp + 1..at + len - 1];
        let eq = rec
            .iter()
            .position(|&b| b == b'=')
            .ok_or_else(|| bad("PAX record"))?;
        out.push((rec[..eq].to_vec(), rec[eq + 1..].to_vec()));
        at += len;
    }
    Ok(out)
}

/// A PAX time "SECONDS[.FRACTION]".
fn parse_time(text: &str) -> std::io::Result<(i64, u32)> {
    let (s, frac) = text.split_once('.').unwrap_or((text, ""));
    let sec: i64 = s.parse().map_err(|_| bad("PAX time"))?;
    let mut digits: String = frac.chars().take(9).collect();
    while digits.len() < 9 {
        digits.push('0');
    }
    let nsec: u32 = if frac.is_empty() {
        0
    } else {
        digits.parse().map_err(|_| bad("PAX time"))?
    };
    Ok((sec, nsec))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_octal_and_base256() {
        assert_eq!(number(b"0000644\0").unwrap(), 0o644);
        assert_eq!(number(b"  755 \0").unwrap(), 0o755);
        assert_eq!(
            number(&[0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]).unwrap(),
            256
        );
        assert!(number(b"12x").is_err());
    }

    #[test]
    fn pax_records_and_times() {
        let recs = parse_pax(b"12 path=abc\n26 SCHILY.xattr.user.a=xy\n").unwrap();
        assert_eq!(recs[0], (b"path".to_vec(), b"abc".to_vec()));
        assert_eq!(recs[1], (b"SCHILY.xattr.user.a".to_vec(), b"xy".to_vec()));
        assert_eq!(parse_time("12.5").unwrap(), (12, 500_000_000));
        assert!(parse_pax(b"99 path=x\n").is_err());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let junk = vec![0x41u8; 2048];
        let mut r = TarReader::new(&junk[..]);
        assert!(r.next_member().is_err());
        let empty: &[u8] = &[];
        assert!(TarReader::new(empty).next_member().unwrap().is_none());
    }
}
