//! Linear directory blocks (Documentation/filesystems/ext4/directory.rst): variable-length
//! entries (inode, rec_len, name_len, file_type, name) chained by `rec_len`, with a 12-byte
//! checksum tail under metadata_csum. Every `rec_len` is checked to be non-zero, aligned,
//! large enough for its name and inside the block, so a crafted block cannot loop.

use crate::bytes::{le16, le32};
use crate::fs::{FileType, FsError, FsResult};

use super::checksum::crc32c_raw;

/// One raw entry in a directory block (deleted entries, `.` and `..` included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEntry {
    /// Inode (0: unused slot).
    pub ino: u32,
    /// The name.
    pub name: Vec<u8>,
    /// The recorded type.
    pub kind: FileType,
}

/// The file_type byte of an entry.
pub fn kind_from_byte(b: u8) -> FileType {
    match b {
        1 => FileType::Regular,
        2 => FileType::Directory,
        3 => FileType::CharDevice,
        4 => FileType::BlockDevice,
        5 => FileType::Fifo,
        6 => FileType::Socket,
        7 => FileType::Symlink,
        _ => FileType::Unknown,
    }
}

/// The on-disk rec_len, decoded for 64 KiB blocks.
fn rec_len(raw: u64, block_size: usize) -> usize {
    if block_size >= 65536 && (raw == 0 || raw == 65535) {
        65536
    } else {
        raw as usize
    }
}

/// Does `block` end with a metadata_csum tail (a fake entry: inode 0, rec_len 12,
/// file_type 0xde)?
pub fn has_tail(block: &[u8]) -> bool {
    let t = block.len() - 12;
    le32(block, t) == 0 && le16(block, t + 4) == 12 && block[t + 6] == 0 && block[t + 7] == 0xde
}

/// Verify the checksum tail of a leaf block (when there is one).
pub fn verify_tail(block: &[u8], seed: u32, ino: u32, blk: u64) -> FsResult<()> {
    if !has_tail(block) {
        return Ok(());
    }
    let t = block.len() - 12;
    let stored = le32(block, t + 8) as u32;
    let got = crc32c_raw(seed, &block[..t]);
    if stored != got {
        return Err(FsError::corrupt(
            "ext4 directory block",
            format!(
                "directory inode {ino}, block {blk}: checksum 0x{stored:08x} does not match the contents (0x{got:08x})"
            ),
        ));
    }
    Ok(())
}

/// Parse the entries of `data` (a directory block, or an inline-data area) starting at
/// byte `start`. `filetype`: the filesystem records types (else name_len has 16 bits).
pub fn parse_entries(
    data: &[u8],
    start: usize,
    filetype: bool,
    block_size: usize,
    ino: u32,
    out: &mut Vec<RawEntry>,
) -> FsResult<()> {
    let bad = |off: usize, what: String| {
        FsError::corrupt(
            "ext4 directory entry",
            format!("directory inode {ino}, offset {off}: {what}"),
        )
    };
    let mut off = start;
    while off + 8 <= data.len() {
        let entry_ino = le32(data, off) as u32;
        let len = rec_len(le16(data, off + 4), block_size);
        let (name_len, kind) = if filetype {
            (data[off + 6] as usize, kind_from_byte(data[off + 7]))
        } else {
            (le16(data, off + 6) as usize, FileType::Unknown)
        };
        if len < 8 || len % 4 != 0 || off + len > data.len() {
            return Err(bad(off, format!("rec_len {len}")));
        }
        if 8 + name_len > len {
            return Err(bad(
                off,
                format!("name_len {name_len} does not fit rec_len {len}"),
            ));
        }
        if entry_ino != 0 {
            out.push(RawEntry {
                ino: entry_ino,
                name: data[off + 8..off + 8 + name_len].to_vec(),
                kind,
            });
        }
        off += len;
    }
    Ok(())
}
