//! An rpm header blob as rpm stores it in its package database (the on-disk header
//! without the 8-byte magic): `il` and `dl` (big-endian u32), `il` index entries of 16
//! bytes (tag, type, offset, count) and `dl` bytes of data. Installed headers begin with
//! the immutable region (tag 63) and may carry "dribble" entries after it; a tag that
//! appears twice takes its last value, as rpm's import does.

use super::DbError;

/// RPM's own limits (hdrchkTags / hdrchkData): a header with more index entries or data
/// is refused rather than allocated.
const MAX_ENTRIES: usize = 0xffff;
const MAX_DATA: usize = 0x0fff_ffff;

/// Tags rfish reads (rpmtag.h).
pub mod tag {
    /// RPMTAG_NAME.
    pub const NAME: u32 = 1000;
    /// RPMTAG_VERSION.
    pub const VERSION: u32 = 1001;
    /// RPMTAG_RELEASE.
    pub const RELEASE: u32 = 1002;
    /// RPMTAG_EPOCH.
    pub const EPOCH: u32 = 1003;
    /// RPMTAG_SUMMARY.
    pub const SUMMARY: u32 = 1004;
    /// RPMTAG_DESCRIPTION.
    pub const DESCRIPTION: u32 = 1005;
    /// RPMTAG_URL.
    pub const URL: u32 = 1020;
    /// RPMTAG_ARCH.
    pub const ARCH: u32 = 1022;
}

/// Entry data types (rpmtag.h `rpmTagType`).
const TYPE_INT32: u32 = 4;
const TYPE_STRING: u32 = 6;
const TYPE_STRING_ARRAY: u32 = 8;
const TYPE_I18NSTRING: u32 = 9;

/// One index entry.
#[derive(Debug, Clone, Copy)]
struct Entry {
    tag: u32,
    kind: u32,
    offset: usize,
    count: usize,
}

/// A parsed header: the entries and the data they point into.
#[derive(Debug)]
pub struct Header<'a> {
    entries: Vec<Entry>,
    data: &'a [u8],
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl<'a> Header<'a> {
    /// Parse a header blob, checking every entry lies inside the data area.
    pub fn parse(blob: &'a [u8]) -> Result<Header<'a>, DbError> {
        let bad = |why: &str| DbError::Corrupt(format!("rpm header: {why}"));
        if blob.len() < 8 {
            return Err(bad("shorter than its 8-byte preamble"));
        }
        let il = be32(blob, 0) as usize;
        let dl = be32(blob, 4) as usize;
        if il == 0 || il > MAX_ENTRIES || dl > MAX_DATA {
            return Err(bad(&format!("{il} entries with {dl} bytes of data")));
        }
        let data_at = 8 + il * 16;
        let end = data_at
            .checked_add(dl)
            .filter(|&e| e <= blob.len())
            .ok_or_else(|| bad("entries and data run past the end of the blob"))?;
        let data = &blob[data_at..end];
        let mut entries = Vec::with_capacity(il);
        for i in 0..il {
            let at = 8 + i * 16;
            let entry = Entry {
                tag: be32(blob, at),
                kind: be32(blob, at + 4),
                offset: be32(blob, at + 8) as usize,
                count: be32(blob, at + 12) as usize,
            };
            if entry.offset > dl {
                return Err(bad(&format!("tag {} points past the data", entry.tag)));
            }
            entries.push(entry);
        }
        Ok(Header { entries, data })
    }

    fn entry(&self, tag: u32) -> Option<Entry> {
        self.entries.iter().rev().find(|e| e.tag == tag).copied()
    }

    /// The NUL-terminated string at `offset` of the data.
    fn string_at(&self, offset: usize) -> Option<&'a [u8]> {
        let rest = self.data.get(offset..)?;
        let len = rest.iter().position(|&b| b == 0)?;
        Some(&rest[..len])
    }

    /// A string tag as `headerFormat("%{TAG}")` prints it: the string, the first (C locale)
    /// translation of an i18n string, the first element of an array, and `(none)` for a
    /// missing tag.
    pub fn text(&self, tag: u32) -> String {
        let value = self.entry(tag).and_then(|e| match e.kind {
            TYPE_STRING | TYPE_I18NSTRING | TYPE_STRING_ARRAY if e.count > 0 => {
                self.string_at(e.offset)
            }
            _ => None,
        });
        match value {
            Some(v) => String::from_utf8_lossy(v).into_owned(),
            None => "(none)".to_string(),
        }
    }

    /// An INT32 tag's first value, 0 when missing (`headerGetNumber`).
    pub fn number(&self, tag: u32) -> i64 {
        let Some(e) = self.entry(tag) else { return 0 };
        if e.kind != TYPE_INT32 || e.count == 0 {
            return 0;
        }
        match self.data.get(e.offset..e.offset + 4) {
            Some(b) => i64::from(be32(b, 0) as i32),
            None => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Build a header from (tag, type, count, data) entries.
    fn blob(entries: &[(u32, u32, u32, &[u8])]) -> Vec<u8> {
        let mut index = Vec::new();
        let mut data = Vec::new();
        for (tag, kind, count, bytes) in entries {
            for v in [*tag, *kind, data.len() as u32, *count] {
                index.extend_from_slice(&v.to_be_bytes());
            }
            data.extend_from_slice(bytes);
        }
        let mut out = Vec::new();
        out.extend_from_slice(&(entries.len() as u32).to_be_bytes());
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        out.extend(index);
        out.extend(data);
        out
    }

    #[test]
    fn strings_numbers_and_missing_tags() {
        let b = blob(&[
            (tag::NAME, TYPE_STRING, 1, b"bash\0"),
            (tag::SUMMARY, TYPE_I18NSTRING, 2, b"The shell\0Die Shell\0"),
            (tag::EPOCH, TYPE_INT32, 1, &7u32.to_be_bytes()),
            (tag::NAME, TYPE_STRING, 1, b"dribble\0"),
        ]);
        let h = Header::parse(&b).unwrap();
        assert_eq!(h.text(tag::NAME), "dribble");
        assert_eq!(h.text(tag::SUMMARY), "The shell");
        assert_eq!(h.text(tag::URL), "(none)");
        assert_eq!(h.number(tag::EPOCH), 7);
        assert_eq!(h.number(tag::VERSION), 0);
    }

    #[test]
    fn hostile_headers_are_refused_or_harmless() {
        assert!(Header::parse(&[0, 0, 0]).is_err());
        assert!(Header::parse(&[0xff; 8]).is_err());
        let mut b = blob(&[(tag::NAME, TYPE_STRING, 1, b"x\0")]);
        b.truncate(b.len() - 1);
        assert!(Header::parse(&b).is_err());
        // An unterminated string and a number past the end read as missing.
        let b = blob(&[
            (tag::NAME, TYPE_STRING, 1, b"abc"),
            (tag::EPOCH, TYPE_INT32, 1, b"\x01"),
        ]);
        let h = Header::parse(&b).unwrap();
        assert_eq!(h.text(tag::NAME), "(none)");
        assert_eq!(h.number(tag::EPOCH), 0);
    }
}
