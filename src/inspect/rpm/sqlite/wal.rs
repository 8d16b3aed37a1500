//! SQLite's write-ahead log (fileformat2.html §4): a 32-byte header, then frames of a
//! 24-byte header and one page. A frame counts when its salts match the header's and the
//! running checksum (over the header and every frame so far) matches; the pages of the
//! frames up to the last valid commit frame are the newest versions. rpm keeps its
//! database in WAL mode, so an image taken from a running guest can hold committed
//! transactions that are only in `rpmdb.sqlite-wal`.

use std::collections::HashMap;

use crate::inspect::rpm::{DbError, ReadAt};

const MAGIC_LE: u32 = 0x377f_0682;
const MAGIC_BE: u32 = 0x377f_0683;
const HEADER: u64 = 32;
const FRAME_HEADER: u64 = 24;

/// The committed pages of a WAL file.
pub struct Wal<'a> {
    file: &'a dyn ReadAt,
    /// Page number → offset of that page's newest committed copy in the WAL.
    pages: HashMap<u32, u64>,
    /// The database size in pages after the last commit.
    pub db_pages: u32,
}

/// The running checksum of a WAL: pairs of 32-bit words in the WAL's byte order.
fn checksum(data: &[u8], big_endian: bool, mut s: (u32, u32)) -> (u32, u32) {
    for pair in data.chunks_exact(8) {
        let word = |b: &[u8]| {
            let b = [b[0], b[1], b[2], b[3]];
            if big_endian {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            }
        };
        s.0 = s.0.wrapping_add(word(&pair[..4])).wrapping_add(s.1);
        s.1 = s.1.wrapping_add(word(&pair[4..])).wrapping_add(s.0);
    }
    s
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl<'a> Wal<'a> {
    /// Index the committed frames of `file` for a database of `page_size`. `None` when
    /// the WAL is empty, for another page size, or has no valid commit.
    pub fn open(file: &'a dyn ReadAt, page_size: usize) -> Result<Option<Wal<'a>>, DbError> {
        let size = file.size();
        if size < HEADER {
            return Ok(None);
        }
        let mut header = [0u8; HEADER as usize];
        file.read_exact_at(0, &mut header)?;
        let big_endian = match be32(&header, 0) {
            MAGIC_LE => false,
            MAGIC_BE => true,
            _ => return Ok(None),
        };
        if be32(&header, 8) as usize != page_size {
            return Ok(None);
        }
        let mut sum = checksum(&header[..24], big_endian, (0, 0));
        if sum != (be32(&header, 24), be32(&header, 28)) {
            return Ok(None);
        }
        let salts = (be32(&header, 16), be32(&header, 20));
        let mut committed = HashMap::new();
        let mut pending = HashMap::new();
        let mut db_pages = 0;
        let mut frame = vec![0u8; FRAME_HEADER as usize + page_size];
        let mut at = HEADER;
        while at + frame.len() as u64 <= size {
            file.read_exact_at(at, &mut frame)?;
            let pgno = be32(&frame, 0);
            let commit = be32(&frame, 4);
            if (be32(&frame, 8), be32(&frame, 12)) != salts || pgno == 0 {
                break;
            }
            sum = checksum(&frame[..8], big_endian, sum);
            sum = checksum(&frame[FRAME_HEADER as usize..], big_endian, sum);
            if sum != (be32(&frame, 16), be32(&frame, 20)) {
                break;
            }
            pending.insert(pgno, at + FRAME_HEADER);
            if commit != 0 {
                committed.extend(pending.drain());
                db_pages = commit;
            }
            at += frame.len() as u64;
        }
        if db_pages == 0 {
            return Ok(None);
        }
        Ok(Some(Wal {
            file,
            pages: committed,
            db_pages,
        }))
    }

    /// Read page `pgno` from the WAL into `buf` if the WAL holds a committed copy.
    pub fn read_page(&self, pgno: u32, buf: &mut [u8]) -> Result<bool, DbError> {
        match self.pages.get(&pgno) {
            Some(&at) => {
                self.file.read_exact_at(at, buf)?;
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_is_the_documented_fibonacci_sum() {
        // Two words: s0 = 1 + 0, s1 = 2 + 1.
        let data = [1, 0, 0, 0, 2, 0, 0, 0];
        assert_eq!(checksum(&data, false, (0, 0)), (1, 3));
        assert_eq!(
            checksum(&data, true, (0, 0)),
            (1 << 24, (2 << 24) + (1 << 24))
        );
    }

    #[test]
    fn garbage_is_no_wal() {
        let junk = vec![0x5au8; 4096];
        assert!(Wal::open(&junk, 1024).unwrap().is_none());
        assert!(Wal::open(&Vec::new(), 1024).unwrap().is_none());
    }
}
