//! file_contexts lines (selinux: file_contexts(5)): `regex [type] context`, the type one
//! of `--` `-d` `-c` `-b` `-s` `-p` `-l`, the context `<<none>>` for "leave unlabelled",
//! `#` comments and blank lines. Errors name the file and line.

use std::fmt;

/// The kind of file a spec applies to (`None` in [`Spec::kind`]: every kind).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileKind {
    /// `--`
    Regular,
    /// `-d`
    Directory,
    /// `-c`
    CharDevice,
    /// `-b`
    BlockDevice,
    /// `-s`
    Socket,
    /// `-p`
    Fifo,
    /// `-l`
    Symlink,
}

impl FileKind {
    /// The kind a type flag names.
    pub fn from_flag(flag: &str) -> Option<FileKind> {
        Some(match flag {
            "--" => FileKind::Regular,
            "-d" => FileKind::Directory,
            "-c" => FileKind::CharDevice,
            "-b" => FileKind::BlockDevice,
            "-s" => FileKind::Socket,
            "-p" => FileKind::Fifo,
            "-l" => FileKind::Symlink,
            _ => return None,
        })
    }

    /// matchpathcon's `-m` names.
    pub fn from_name(name: &str) -> Option<FileKind> {
        Some(match name {
            "file" => FileKind::Regular,
            "dir" => FileKind::Directory,
            "char" => FileKind::CharDevice,
            "block" => FileKind::BlockDevice,
            "socket" => FileKind::Socket,
            "pipe" => FileKind::Fifo,
            "lnk" => FileKind::Symlink,
            _ => return None,
        })
    }
}

/// One line of a spec file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    /// The regular expression as written.
    pub regex: String,
    /// The kind filter.
    pub kind: Option<FileKind>,
    /// The context, or `None` for `<<none>>`.
    pub context: Option<String>,
    /// Which file it came from (0 = file_contexts, then .homedirs, then .local).
    pub file: usize,
    /// Its line number.
    pub line: usize,
}

/// A malformed spec file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    /// File name.
    pub file: String,
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

impl std::error::Error for SpecError {}

/// Parse a whole spec file (`name` is used in errors; `file` is its precedence index).
pub fn parse(name: &str, file: usize, text: &[u8]) -> Result<Vec<Spec>, SpecError> {
    let text = String::from_utf8_lossy(text);
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let err = |message: String| SpecError {
            file: name.to_string(),
            line: i + 1,
            message,
        };
        let words: Vec<&str> = line.split_whitespace().collect();
        let (regex, kind, context) = match words.as_slice() {
            [regex, context] => (*regex, None, *context),
            [regex, flag, context] => {
                let kind = FileKind::from_flag(flag)
                    .ok_or_else(|| err(format!("invalid file type \"{flag}\"")))?;
                (*regex, Some(kind), *context)
            }
            [_] => return Err(err("missing context".into())),
            _ => return Err(err(format!("too many fields: {line}"))),
        };
        let context = if context == "<<none>>" {
            None
        } else {
            if context.split(':').count() < 3 {
                return Err(err(format!("invalid context \"{context}\"")));
            }
            Some(context.to_string())
        };
        out.push(Spec {
            regex: regex.to_string(),
            kind,
            context,
            file,
            line: i + 1,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_types_none_and_errors() {
        let specs = parse(
            "fc",
            0,
            b"# comment\n\n/etc(/.*)?\tsystem_u:object_r:etc_t:s0\n/dev/null -c system_u:object_r:null_device_t:s0\n/proc <<none>>\n",
        )
        .unwrap();
        assert_eq!(specs.len(), 3);
        assert_eq!(specs[1].kind, Some(FileKind::CharDevice));
        assert_eq!(specs[2].context, None);
        assert_eq!(specs[0].line, 3);
        let e = parse("fc", 0, b"/a -q system_u:object_r:x_t:s0\n").unwrap_err();
        assert_eq!(e.to_string(), "fc:1: invalid file type \"-q\"");
        assert!(parse("fc", 0, b"/a\n").is_err());
        assert!(parse("fc", 0, b"/a notacontext\n").is_err());
    }
}
