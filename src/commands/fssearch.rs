//! Looking inside guest files: checksum, checksums-out, file, the grep family, wc-l,
//! wc-w, wc-c, hexdump, strings, strings-e — with the output of the tools guestfish's
//! appliance runs (md5sum & co., cksum, file -zSb, grep, wc, hexdump -C, strings).

use md5::Digest;

use super::fslist::walk;
use super::fsread::{copy_file, open_file, path_error, read_all, resolve, with_host_out};
use super::spec::{ArgKind, ArgSpec, Arity, CommandSpec, RetType, arg, declared as cmd};
use super::{Args, CmdError, Ctx, Value};
use crate::fs::{FileType, Stat};
use crate::session::Session;

/// A running digest of one of guestfish's checksum types.
enum Hasher {
    Md5(md5::Md5),
    Sha1(sha1::Sha1),
    Sha224(sha2::Sha224),
    Sha256(sha2::Sha256),
    Sha384(sha2::Sha384),
    Sha512(sha2::Sha512),
    Crc(crc::Digest<'static, u32>, u64),
}

const CKSUM: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_CKSUM);

impl Hasher {
    fn new(kind: &str) -> Option<Hasher> {
        Some(match kind {
            "md5" => Hasher::Md5(md5::Md5::new()),
            "sha1" => Hasher::Sha1(sha1::Sha1::new()),
            "sha224" => Hasher::Sha224(sha2::Sha224::new()),
            "sha256" => Hasher::Sha256(sha2::Sha256::new()),
            "sha384" => Hasher::Sha384(sha2::Sha384::new()),
            "sha512" => Hasher::Sha512(sha2::Sha512::new()),
            "crc" => Hasher::Crc(CKSUM.digest(), 0),
            _ => return None,
        })
    }

    fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Md5(h) => h.update(data),
            Hasher::Sha1(h) => h.update(data),
            Hasher::Sha224(h) => h.update(data),
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha384(h) => h.update(data),
            Hasher::Sha512(h) => h.update(data),
            Hasher::Crc(d, len) => {
                d.update(data);
                *len += data.len() as u64;
            }
        }
    }

    /// Hex digest; for crc, POSIX cksum's decimal CRC (the length is folded in).
    fn finish(self) -> String {
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        match self {
            Hasher::Md5(h) => hex(&h.finalize()),
            Hasher::Sha1(h) => hex(&h.finalize()),
            Hasher::Sha224(h) => hex(&h.finalize()),
            Hasher::Sha256(h) => hex(&h.finalize()),
            Hasher::Sha384(h) => hex(&h.finalize()),
            Hasher::Sha512(h) => hex(&h.finalize()),
            Hasher::Crc(mut d, mut len) => {
                while len > 0 {
                    d.update(&[(len & 0xff) as u8]);
                    len >>= 8;
                }
                d.finalize().to_string()
            }
        }
    }
}

/// A Write sink that feeds a hasher.
struct HashSink(Hasher);

impl std::io::Write for HashSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn hasher(func: &str, kind: &str) -> Result<Hasher, CmdError> {
    Hasher::new(kind).ok_or_else(|| {
        CmdError::api(
            func,
            "unknown checksum type, expecting crc|md5|sha1|sha224|sha256|sha384|sha512",
        )
    })
}

fn checksum_file(s: &Session, func: &str, kind: &str, path: &str) -> Result<String, CmdError> {
    let h = hasher(func, kind)?;
    let (node, size) = open_file(s, func, path)?;
    let mut sink = HashSink(h);
    copy_file(s, func, path, &node, 0, size, &mut sink)?;
    Ok(sink.0.finish())
}

/// `checksum`.
pub static CHECKSUM: CommandSpec = cmd(
    "checksum",
    &[arg("csumtype", ArgKind::String), arg("path", ArgKind::Path)],
    RetType::String,
    "compute MD5, SHAx or CRC checksum of file",
    "The checksum of a file's content: md5, sha1, sha224, sha256, sha384, sha512 (hex, as \
     the *sum tools print it) or crc (POSIX cksum's CRC, in decimal).",
    &["checksum sha256 /etc/passwd"],
    |ctx, args| {
        let kind = args.text(0);
        hasher("checksum", &kind)?;
        Ok(Value::String(
            checksum_file(ctx.session, "checksum", &kind, &args.text(1))?.into_bytes(),
        ))
    },
);

/// `checksums-out`.
pub static CHECKSUMS_OUT: CommandSpec = cmd(
    "checksums-out",
    &[
        arg("csumtype", ArgKind::String),
        arg("directory", ArgKind::Path),
        arg("sumsfile", ArgKind::FileOut),
    ],
    RetType::Err,
    "compute MD5, SHAx or CRC checksum of files in a directory",
    "Checksum every regular file below DIRECTORY and write the lines (`SUM  ./PATH`, as \
     sha256sum prints them; for crc, `CRC SIZE ./PATH` as cksum does) to a host file (- for \
     standard output), in the order find visits them.",
    &["checksums-out sha256 /etc sums.txt"],
    |ctx, args| {
        let kind = args.text(0);
        let dir = args.text(1);
        hasher("checksums_out", &kind)?;
        let s = &*ctx.session;
        let node = resolve(s, "checksums_out", "", &dir, true)?;
        let mut all = Vec::new();
        walk(&s.vfs, &node, b"", &mut all)
            .map_err(|e| path_error("checksums_out", "", &dir, &e))?;
        let mut lines = Vec::new();
        for (rel, n) in all {
            let st = s
                .vfs
                .stat(&n)
                .map_err(|e| path_error("checksums_out", "", &dir, &e))?;
            if st.file_type() != FileType::Regular {
                continue;
            }
            let mut sink = HashSink(hasher("checksums_out", &kind)?);
            let p = String::from_utf8_lossy(&rel).into_owned();
            copy_file(s, "checksums_out", &p, &n, 0, st.size, &mut sink)?;
            let sum = sink.0.finish();
            let mut line = if kind == "crc" {
                format!("{sum} {} .", st.size).into_bytes()
            } else {
                format!("{sum}  .").into_bytes()
            };
            line.extend_from_slice(&rel);
            line.push(b'\n');
            lines.push(line);
        }
        with_host_out(ctx, "checksums_out", &args.text(2), |_, out| {
            for l in &lines {
                out.write_all(l)
                    .map_err(|e| CmdError::api("checksums_out", crate::os_error_text(&e)))?;
            }
            Ok(())
        })?;
        Ok(Value::Unit)
    },
);

/// What `file -zSb` says about a regular file's content (the kinds a Linux root holds).
pub(crate) fn describe(data: &[u8], st: &Stat) -> String {
    let mut prefix = String::new();
    for (bit, word) in [
        (0o4000, "setuid "),
        (0o2000, "setgid "),
        (0o1000, "sticky "),
    ] {
        if st.mode & bit != 0 {
            prefix.push_str(word);
        }
    }
    let body = if data.is_empty() {
        "empty".to_string()
    } else if data.starts_with(b"\x7fELF") {
        super::elf::describe(data)
    } else if data.starts_with(b"\x1f\x8b") {
        gzip(data, st)
    } else if data.starts_with(b"TZif") && data.len() >= 44 {
        tzif(data)
    } else if data.starts_with(b"\xfd7zXZ\0") {
        "XZ compressed data, checksum CRC64".into()
    } else if data.starts_with(b"\x28\xb5\x2f\xfd") {
        "Zstandard compressed data".into()
    } else if data.starts_with(b"BZh") {
        "bzip2 compressed data".into()
    } else if let Some((text, notes)) = text_kind(data) {
        // libmagic says "executable" of every #! script, whatever its mode.
        let exec = " executable";
        let notes: String = notes.iter().map(|n| format!(", {n}")).collect();
        match script(data).as_deref() {
            // libmagic has its own entry for Perl, "executable" included.
            Some("Perl") => "Perl script text executable".into(),
            Some(interp) => format!("{interp} script, {text}{exec}{notes}"),
            None if is_troff(data) => format!("troff or preprocessor input, {text}{notes}"),
            None => format!("{text}{notes}"),
        }
    } else {
        "data".into()
    };
    format!("{prefix}{body}")
}

/// `file -z` on gzip data: what the uncompressed content is, then the gzip header's
/// description in parentheses.
fn gzip(data: &[u8], st: &Stat) -> String {
    let mut outer = String::from("gzip compressed data");
    if data.len() >= 10 {
        let flags = data[3];
        if flags & 0x08 != 0 {
            // FNAME follows the 10-byte header (after FEXTRA when present).
            let mut at = 10;
            if flags & 0x04 != 0 && data.len() >= 12 {
                at += 2 + usize::from(u16::from_le_bytes([data[10], data[11]]));
            }
            if let Some(rest) = data.get(at..) {
                let name = rest.split(|&c| c == 0).next().unwrap_or(b"");
                outer.push_str(&format!(", was \"{}\"", String::from_utf8_lossy(name)));
            }
        }
        let mtime = u32::from_le_bytes([data[4], data[5], data[6], data[7]]);
        if mtime != 0 {
            let (y, mo, d, h, mi, sec) = super::fslist::civil(i64::from(mtime));
            const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
            const MONTHS: [&str; 12] = [
                "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
            ];
            let wd = DAYS[(i64::from(mtime) / 86400 % 7) as usize];
            outer.push_str(&format!(
                ", last modified: {wd} {} {d:2} {h:02}:{mi:02}:{sec:02} {y}",
                MONTHS[mo as usize - 1]
            ));
        }
        match data[8] {
            2 => outer.push_str(", max compression"),
            4 => outer.push_str(", max speed"),
            _ => {}
        }
        let os = match data[9] {
            0 => "FAT filesystem (MS-DOS, OS/2, NT)",
            3 => "Unix",
            7 => "Macintosh",
            11 => "NTFS filesystem (NT)",
            _ => "",
        };
        if !os.is_empty() {
            outer.push_str(&format!(", from {os}"));
        }
    }
    // The content, decompressed as far as libmagic looks (1 MiB).
    let mut inner = Vec::new();
    let decoder = flate2::read::MultiGzDecoder::new(data);
    let _ = std::io::Read::read_to_end(&mut std::io::Read::take(decoder, 1 << 20), &mut inner);
    let plain = Stat {
        mode: st.mode & !0o7777,
        ..st.clone()
    };
    format!("{} ({outer})", describe(&inner, &plain))
}

/// Compiled time zone data (tzfile(5)): version and the counts of the version-1 header.
fn tzif(data: &[u8]) -> String {
    let count = |i: usize| {
        u32::from_be_bytes([
            data[20 + 4 * i],
            data[21 + 4 * i],
            data[22 + 4 * i],
            data[23 + 4 * i],
        ])
    };
    let (isut, isstd, leap, time, types, chars) =
        (count(0), count(1), count(2), count(3), count(4), count(5));
    let n = |v: u32, one: &str, many: &str| match v {
        0 => format!("no {many}"),
        1 => format!("1 {one}"),
        v => format!("{v} {many}"),
    };
    // Version 1 data present: "fat"; version 2+ files with an empty v1 block are "slim".
    let fat = time + types + chars + leap + isut + isstd > 0;
    let version = match data[4] {
        0 => "version 1".to_string(),
        v => format!("version {}", v as char),
    };
    format!(
        "timezone data ({}), {version}, {}, {}, {}, {}, {}, {}",
        if fat { "fat" } else { "slim" },
        n(isut, "gmt time flag", "gmt time flags"),
        n(isstd, "std time flag", "std time flags"),
        n(leap, "leap second", "leap seconds"),
        n(time, "transition time", "transition times"),
        n(types, "local time type", "local time types"),
        n(chars, "abbreviation char", "abbreviation chars"),
    )
}

/// libmagic's troff test: the text starts with a comment (`.\"`, `'\"`, `'.\"`, `\"`,
/// `''`) or one of its first 20 lines is a two-character request (`.TH `).
fn is_troff(data: &[u8]) -> bool {
    // search/1 at offset 0: the comment must be the very first bytes.
    let head = data;
    let starts = [&b".\\\""[..], b"'\\\"", b"'.\\\"", b"\\\"", b"''"];
    if starts.iter().any(|p| head.starts_with(p)) {
        return true;
    }
    data.split(|&c| c == b'\n').take(20).any(|l| {
        l.len() >= 4
            && l[0] == b'.'
            && l[1].is_ascii_alphanumeric()
            && l[2].is_ascii_alphanumeric()
            && (l[3] == b' ' || l[3] == b'\t')
    })
}

/// The script kind libmagic names from a `#!` line: its own entries for the common
/// interpreters, else "a INTERPRETER-LINE".
fn script(data: &[u8]) -> Option<String> {
    let first = data.strip_prefix(b"#!")?;
    let line = first.split(|&c| c == b'\n').next().unwrap_or(b"");
    let line = String::from_utf8_lossy(line);
    let mut words = line.split_whitespace();
    let mut prog = words.next()?.rsplit('/').next()?.to_string();
    if prog == "env" {
        prog = words.next()?.to_string();
    }
    Some(match prog.as_str() {
        "sh" => "POSIX shell".into(),
        "bash" => "Bourne-Again shell".into(),
        "zsh" => "Paul Falstad's zsh".into(),
        "tcsh" => "Tenex C shell".into(),
        "perl" => "Perl".into(),
        "ruby" => "Ruby".into(),
        p if p.starts_with("python") => "Python".into(),
        _ => format!("a {}", line.trim()),
    })
}

/// "ASCII text" or "Unicode text, UTF-8 text", and libmagic's notes on line length and
/// terminators.
fn text_kind(data: &[u8]) -> Option<(&'static str, Vec<String>)> {
    // libmagic judges text on the first 64 KiB.
    let data = &data[..data.len().min(65536)];
    // libmagic's text bytes: printable ASCII and \a \b \t \n \v \f \r ESC.
    let ascii = data
        .iter()
        .all(|&c| matches!(c, 7..=13 | 0x1b) || (0x20..0x7f).contains(&c));
    let kind = if ascii {
        "ASCII text"
    } else if !data.contains(&0)
        // Valid UTF-8, allowing a sequence cut at the 64 KiB boundary.
        && std::str::from_utf8(data).map_or_else(|e| e.error_len().is_none(), |_| true)
    {
        "Unicode text, UTF-8 text"
    } else {
        return None;
    };
    let mut notes = Vec::new();
    // Line lengths count characters (code points in UTF-8 text), as libmagic does.
    let longest = data
        .split(|&c| c == b'\n')
        .map(|l| l.iter().filter(|&&b| b & 0xc0 != 0x80).count())
        .max()
        .unwrap_or(0);
    if longest > 300 {
        notes.push(format!("with very long lines ({longest})"));
    }
    // Line terminators as libmagic names them: nothing for LF alone, else each kind seen.
    let (mut crlf, mut cr, mut lf) = (0, 0, 0);
    for (i, &c) in data.iter().enumerate() {
        match c {
            b'\r' if data.get(i + 1) == Some(&b'\n') => crlf += 1,
            b'\r' => cr += 1,
            b'\n' if i > 0 && data[i - 1] == b'\r' => {}
            b'\n' => lf += 1,
            _ => {}
        }
    }
    if crlf + cr > 0 {
        let kinds: Vec<&str> = [(crlf, "CRLF"), (cr, "CR"), (lf, "LF")]
            .iter()
            .filter(|(n, _)| *n > 0)
            .map(|(_, k)| *k)
            .collect();
        notes.push(format!("with {} line terminators", kinds.join(", ")));
    } else if lf == 0 {
        notes.push("with no line terminators".into());
    }
    if data.contains(&0x1b) {
        notes.push("with escape sequences".into());
    }
    if data.contains(&0x08) {
        notes.push("with overstriking".into());
    }
    Some((kind, notes))
}

/// `file`.
pub static FILE: CommandSpec = cmd(
    "file",
    &[arg("path", ArgKind::Path)],
    RetType::String,
    "determine file type",
    "What kind of file this is: for regular files what file -zSb says of the content (ASCII \
     text, ELF ..., POSIX shell script ..., gzip compressed data, data, empty); otherwise \
     directory, symbolic link, character device, block device, FIFO or socket.",
    &["file /bin/ls"],
    |ctx, args| {
        let s = &*ctx.session;
        let path = args.text(0);
        let node = resolve(s, "file", "lstat", &path, false)?;
        let st = s
            .vfs
            .stat(&node)
            .map_err(|e| path_error("file", "lstat", &path, &e))?;
        let text = match st.file_type() {
            FileType::Regular => {
                // libmagic looks at the first 1 MiB; an ELF file's section headers sit at
                // its end, so only ELF files are read further (up to 64 MiB).
                let fs = s.vfs.fs(&node);
                let read = |len: u64| {
                    let mut buf = vec![0u8; st.size.min(len) as usize];
                    let n = fs
                        .read(node.ino, 0, &mut buf)
                        .map_err(|e| path_error("file", "", &path, &e))?;
                    buf.truncate(n);
                    Ok::<_, CmdError>(buf)
                };
                let mut head = read(1 << 20)?;
                if head.starts_with(b"\x7fELF") && st.size > head.len() as u64 {
                    head = read(64 << 20)?;
                }
                describe(&head, &st)
            }
            FileType::Directory => "directory".into(),
            FileType::Symlink => "symbolic link".into(),
            FileType::CharDevice => "character device".into(),
            FileType::BlockDevice => "block device".into(),
            FileType::Fifo => "FIFO".into(),
            FileType::Socket => "socket".into(),
            FileType::Unknown => "unknown".into(),
        };
        Ok(Value::String(text.into_bytes()))
    },
);

/// A POSIX basic regular expression in the syntax of the regex crate.
fn bre_to_ere(re: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < re.len() {
        let c = re[i];
        if c == b'\\' && i + 1 < re.len() {
            let n = re[i + 1];
            match n {
                b'(' | b')' | b'{' | b'}' | b'|' | b'+' | b'?' => out.push(n),
                b'<' | b'>' => out.extend_from_slice(b"\\b"),
                _ => out.extend_from_slice(&[b'\\', n]),
            }
            i += 2;
            continue;
        }
        match c {
            b'(' | b')' | b'{' | b'}' | b'|' | b'+' | b'?' => out.extend_from_slice(&[b'\\', c]),
            _ => out.push(c),
        }
        i += 1;
    }
    out
}

fn ere_fixup(re: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < re.len() {
        if re[i] == b'\\' && i + 1 < re.len() && matches!(re[i + 1], b'<' | b'>') {
            out.extend_from_slice(b"\\b");
            i += 2;
        } else {
            out.push(re[i]);
            i += 1;
        }
    }
    out
}

fn grep(
    ctx: &mut Ctx<'_>,
    args: &Args,
    func: &str,
    flags: (bool, bool, bool, bool),
) -> Result<Value, CmdError> {
    let (extended, fixed, insensitive, compressed) = flags;
    let compressed = args.opt_bool("compressed").unwrap_or(compressed);
    let extended = args.opt_bool("extended").unwrap_or(extended);
    let fixed = args.opt_bool("fixed").unwrap_or(fixed);
    let insensitive = args.opt_bool("insensitive").unwrap_or(insensitive);
    if extended && fixed {
        return Err(CmdError::api(
            func,
            "can't use 'extended' and 'fixed' flags at the same time",
        ));
    }
    let pattern = args.bytes(0);
    let re = if fixed {
        regex::escape(&String::from_utf8_lossy(pattern)).into_bytes()
    } else if extended {
        ere_fixup(pattern)
    } else {
        bre_to_ere(pattern)
    };
    let re = regex::bytes::RegexBuilder::new(&String::from_utf8_lossy(&re))
        .case_insensitive(insensitive)
        .unicode(false)
        .build()
        .map_err(|e| CmdError::api(func, format!("grep: invalid regular expression: {e}")))?;
    let mut data = read_all(ctx.session, func, &args.text(1))?;
    if compressed && data.starts_with(b"\x1f\x8b") {
        // zgrep: gzip data is searched uncompressed; anything else as it is.
        let mut plain = Vec::new();
        std::io::Read::read_to_end(
            &mut flate2::read::MultiGzDecoder::new(&data[..]),
            &mut plain,
        )
        .map_err(|e| CmdError::api(func, format!("gzip: {}", crate::os_error_text(&e))))?;
        data = plain;
    }
    Ok(Value::StringList(
        super::fsread::lines(&data)
            .into_iter()
            .filter(|l| re.is_match(l))
            .collect(),
    ))
}

static GREP_ARGS: &[ArgSpec] = &[arg("regex", ArgKind::String), arg("path", ArgKind::Path)];
static FGREP_ARGS: &[ArgSpec] = &[arg("pattern", ArgKind::String), arg("path", ArgKind::Path)];

/// `grep`.
pub static GREP: CommandSpec = CommandSpec {
    name: "grep",
    aliases: &["grep-opts"],
    args: GREP_ARGS,
    optargs: &[
        arg("extended", ArgKind::Bool),
        arg("fixed", ArgKind::Bool),
        arg("insensitive", ArgKind::Bool),
        arg("compressed", ArgKind::Bool),
    ],
    arity: Arity::Declared,
    free_synopsis: "",
    ret: RetType::StringList,
    shortdesc: "return lines matching a pattern",
    longdesc: "The lines of a file matching a regular expression (basic, or extended:true; \
               fixed:true for a plain string; insensitive:true ignores case). No match gives \
               an empty list.",
    examples: &["grep root /etc/passwd"],
    handler: |ctx, args| grep(ctx, args, "grep", (false, false, false, false)),
};

macro_rules! grep_variant {
    ($static:ident, $name:literal, $args:expr, $e:expr, $f:expr, $i:expr, $z:expr, $desc:literal) => {
        #[doc = concat!("`", $name, "`.")]
        pub static $static: CommandSpec = cmd(
            $name,
            $args,
            RetType::StringList,
            $desc,
            "Like grep with the corresponding flags (the z forms search gzip files \
             uncompressed, as zgrep does).",
            &[concat!($name, " root /etc/passwd")],
            |ctx, args| grep(ctx, args, $name, ($e, $f, $i, $z)),
        );
    };
}

grep_variant!(
    EGREP,
    "egrep",
    GREP_ARGS,
    true,
    false,
    false,
    false,
    "return lines matching a pattern"
);
grep_variant!(
    FGREP,
    "fgrep",
    FGREP_ARGS,
    false,
    true,
    false,
    false,
    "return lines matching a pattern"
);
grep_variant!(
    GREPI,
    "grepi",
    GREP_ARGS,
    false,
    false,
    true,
    false,
    "return lines matching a pattern"
);
grep_variant!(
    EGREPI,
    "egrepi",
    GREP_ARGS,
    true,
    false,
    true,
    false,
    "return lines matching a pattern"
);
grep_variant!(
    FGREPI,
    "fgrepi",
    FGREP_ARGS,
    false,
    true,
    true,
    false,
    "return lines matching a pattern"
);

grep_variant!(
    ZGREP,
    "zgrep",
    GREP_ARGS,
    false,
    false,
    false,
    true,
    "return lines matching a pattern"
);
grep_variant!(
    ZEGREP,
    "zegrep",
    GREP_ARGS,
    true,
    false,
    false,
    true,
    "return lines matching a pattern"
);
grep_variant!(
    ZFGREP,
    "zfgrep",
    FGREP_ARGS,
    false,
    true,
    false,
    true,
    "return lines matching a pattern"
);
grep_variant!(
    ZGREPI,
    "zgrepi",
    GREP_ARGS,
    false,
    false,
    true,
    true,
    "return lines matching a pattern"
);
grep_variant!(
    ZEGREPI,
    "zegrepi",
    GREP_ARGS,
    true,
    false,
    true,
    true,
    "return lines matching a pattern"
);
grep_variant!(
    ZFGREPI,
    "zfgrepi",
    FGREP_ARGS,
    false,
    true,
    true,
    true,
    "return lines matching a pattern"
);

fn count(
    ctx: &mut Ctx<'_>,
    args: &Args,
    func: &str,
    f: fn(&[u8]) -> usize,
) -> Result<Value, CmdError> {
    let data = read_all(ctx.session, func, &args.text(0))?;
    Ok(Value::Int(f(&data) as i64))
}

static PATH: &[ArgSpec] = &[arg("path", ArgKind::Path)];

/// `wc-l`.
pub static WC_L: CommandSpec = cmd(
    "wc-l",
    PATH,
    RetType::Int,
    "count lines in a file",
    "The number of newline characters in a file, as wc -l counts.",
    &["wc-l /etc/passwd"],
    |ctx, args| {
        count(ctx, args, "wc_l", |d| {
            d.iter().filter(|&&c| c == b'\n').count()
        })
    },
);

/// `wc-w`.
pub static WC_W: CommandSpec = cmd(
    "wc-w",
    PATH,
    RetType::Int,
    "count words in a file",
    "The number of whitespace-separated words in a file, as wc -w counts.",
    &["wc-w /etc/passwd"],
    |ctx, args| {
        count(ctx, args, "wc_w", |d| {
            d.split(|c| c.is_ascii_whitespace() || *c == 0x0b)
                .filter(|w| !w.is_empty())
                .count()
        })
    },
);

/// `wc-c`.
pub static WC_C: CommandSpec = cmd(
    "wc-c",
    PATH,
    RetType::Int,
    "count characters in a file",
    "The number of bytes in a file, as wc -c counts.",
    &["wc-c /etc/passwd"],
    |ctx, args| count(ctx, args, "wc_c", <[u8]>::len),
);

/// `hexdump -C` of `data`.
pub(crate) fn hexdump(data: &[u8]) -> Vec<u8> {
    let mut out = String::new();
    let mut prev: Option<&[u8]> = None;
    let mut starred = false;
    for (i, line) in data.chunks(16).enumerate() {
        if line.len() == 16 && prev == Some(line) {
            if !starred {
                out.push_str("*\n");
                starred = true;
            }
            continue;
        }
        starred = false;
        prev = Some(line);
        out.push_str(&format!("{:08x}  ", i * 16));
        for j in 0..16 {
            match line.get(j) {
                Some(b) => out.push_str(&format!("{b:02x} ")),
                None => out.push_str("   "),
            }
            if j == 7 {
                out.push(' ');
            }
        }
        out.push_str(" |");
        for &b in line {
            out.push(if (0x20..0x7f).contains(&b) {
                b as char
            } else {
                '.'
            });
        }
        out.push_str("|\n");
    }
    if !data.is_empty() {
        out.push_str(&format!("{:08x}\n", data.len()));
    }
    out.into_bytes()
}

/// `hexdump`.
pub static HEXDUMP: CommandSpec = cmd(
    "hexdump",
    PATH,
    RetType::String,
    "dump a file in hexadecimal",
    "The file as hexdump -C prints it.",
    &["hexdump /etc/hostname"],
    |ctx, args| {
        Ok(Value::String(hexdump(&read_all(
            ctx.session,
            "hexdump",
            &args.text(0),
        )?)))
    },
);

/// Runs of at least 4 printable characters, as `strings -a -e ENCODING` finds them.
pub(crate) fn strings(data: &[u8], encoding: &str) -> Result<Vec<Vec<u8>>, String> {
    let (width, big, high) = match encoding {
        "s" => (1, false, false),
        "S" => (1, false, true),
        "b" => (2, true, false),
        "l" => (2, false, false),
        "B" => (4, true, false),
        "L" => (4, false, false),
        other => return Err(format!("{other}: invalid encoding")),
    };
    let printable =
        |c: u32| c == 9 || (0x20..0x7f).contains(&c) || (high && (0x80..=0xff).contains(&c));
    let mut out = Vec::new();
    let mut cur = Vec::new();
    for ch in data.chunks_exact(width) {
        let c = match (width, big) {
            (1, _) => u32::from(ch[0]),
            (2, true) => u32::from(u16::from_be_bytes([ch[0], ch[1]])),
            (2, false) => u32::from(u16::from_le_bytes([ch[0], ch[1]])),
            (_, true) => u32::from_be_bytes([ch[0], ch[1], ch[2], ch[3]]),
            (_, false) => u32::from_le_bytes([ch[0], ch[1], ch[2], ch[3]]),
        };
        if printable(c) {
            cur.push(c as u8);
        } else {
            if cur.len() >= 4 {
                out.push(std::mem::take(&mut cur));
            }
            cur.clear();
        }
    }
    if cur.len() >= 4 {
        out.push(cur);
    }
    Ok(out)
}

/// `strings`.
pub static STRINGS: CommandSpec = cmd(
    "strings",
    PATH,
    RetType::StringList,
    "print the printable strings in a file",
    "Every run of at least 4 printable characters in the file (strings -a -e S).",
    &["strings /bin/ls"],
    |ctx, args| {
        let data = read_all(ctx.session, "strings", &args.text(0))?;
        Ok(Value::StringList(
            strings(&data, "S").map_err(|e| CmdError::api("strings", e))?,
        ))
    },
);

/// `strings-e`.
pub static STRINGS_E: CommandSpec = cmd(
    "strings-e",
    &[arg("encoding", ArgKind::String), arg("path", ArgKind::Path)],
    RetType::StringList,
    "print the printable strings in a file",
    "Like strings, with the character encoding of strings -e: s (7-bit), S (8-bit), b/l \
     (16-bit big/little endian), B/L (32-bit).",
    &["strings-e l /bin/ls"],
    |ctx, args| {
        let data = read_all(ctx.session, "strings_e", &args.text(1))?;
        Ok(Value::StringList(
            strings(&data, &args.text(0)).map_err(|e| CmdError::api("strings_e", e))?,
        ))
    },
);

/// `checksum-device`.
pub static CHECKSUM_DEVICE: CommandSpec = cmd(
    "checksum-device",
    &[
        arg("csumtype", ArgKind::String),
        arg("device", ArgKind::Device),
    ],
    RetType::String,
    "compute MD5, SHAx or CRC checksum of the contents of a device",
    "The checksum of every byte of a device, as checksum computes it for a file.",
    &["checksum-device md5 /dev/sda1"],
    |ctx, args| {
        let kind = args.text(0);
        let mut h = hasher("checksum_device", &kind)?;
        let d = ctx.session.device("checksum_device", &args.text(1))?;
        let size = d.dev.size();
        let mut buf = vec![0u8; 1 << 20];
        let mut pos = 0;
        while pos < size {
            let n = ((size - pos) as usize).min(buf.len());
            d.dev
                .read_at(&mut buf[..n], pos)
                .map_err(|e| CmdError::api("checksum_device", format!("{}: {e}", d.name)))?;
            h.update(&buf[..n]);
            pos += n as u64;
        }
        Ok(Value::String(h.finish().into_bytes()))
    },
);
