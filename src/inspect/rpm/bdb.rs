//! A read-only Berkeley DB hash database (db 4.x/5.x, as rpm ≤ 4.15 and RHEL 7/8 write
//! `/var/lib/rpm/Packages`). The metadata page (page 0) gives the page size, the byte
//! order (from the magic), the highest bucket and the `spares` table mapping buckets to
//! pages; each bucket is a chain of hash pages whose items alternate key, data. Items
//! are stored on the page (H_KEYDATA) or in a chain of overflow pages (H_OFFPAGE).
//! Every page is visited at most once and each length is checked against the page.

use std::collections::HashSet;

use super::{DbError, ReadAt};

const HASH_MAGIC: u32 = 0x0006_1561;
/// Page types (db_page.h).
const P_HASH_UNSORTED: u8 = 2;
const P_OVERFLOW: u8 = 7;
const P_HASHMETA: u8 = 8;
const P_HASH: u8 = 13;
/// Item types on hash pages.
const H_KEYDATA: u8 = 1;
const H_OFFPAGE: u8 = 3;
/// The generic page header before the item index.
const PAGE_HEADER: usize = 26;

fn corrupt(why: String) -> DbError {
    DbError::Corrupt(format!("Berkeley DB: {why}"))
}

/// An open hash database.
pub struct HashDb<'a> {
    file: &'a dyn ReadAt,
    big_endian: bool,
    page_size: usize,
    last_page: u32,
    max_bucket: u32,
    spares: [u32; 32],
}

/// One record: key and data bytes.
pub type Record = (Vec<u8>, Vec<u8>);

impl<'a> HashDb<'a> {
    /// Open `file`, reading and checking its metadata page.
    pub fn open(file: &'a dyn ReadAt) -> Result<Self, DbError> {
        let mut meta = [0u8; 512];
        if file.size() < meta.len() as u64 {
            return Err(corrupt("file shorter than its metadata page".into()));
        }
        file.read_exact_at(0, &mut meta)?;
        let le = u32::from_le_bytes([meta[12], meta[13], meta[14], meta[15]]);
        let big_endian = match le {
            HASH_MAGIC => false,
            _ if u32::from_be_bytes([meta[12], meta[13], meta[14], meta[15]]) == HASH_MAGIC => true,
            _ => return Err(corrupt("not a hash database (bad magic)".into())),
        };
        let word = |at: usize| {
            let b = [meta[at], meta[at + 1], meta[at + 2], meta[at + 3]];
            if big_endian {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            }
        };
        let page_size = word(20) as usize;
        if !(512..=65536).contains(&page_size) || !page_size.is_power_of_two() {
            return Err(corrupt(format!("page size {page_size}")));
        }
        if meta[25] != P_HASHMETA {
            return Err(corrupt(format!("page 0 has type {}", meta[25])));
        }
        if meta[24] != 0 {
            return Err(DbError::Unsupported("encrypted Berkeley DB".into()));
        }
        if meta[26] & 0x01 != 0 {
            return Err(DbError::Unsupported(
                "Berkeley DB with page checksums".into(),
            ));
        }
        let file_pages = file.size() / page_size as u64;
        let last_page = word(32);
        if u64::from(last_page) >= file_pages {
            return Err(corrupt(format!(
                "last page {last_page} past the end of the file ({file_pages} pages)"
            )));
        }
        let mut spares = [0u32; 32];
        for (i, s) in spares.iter_mut().enumerate() {
            *s = word(96 + 4 * i);
        }
        Ok(HashDb {
            file,
            big_endian,
            page_size,
            last_page,
            max_bucket: word(72),
            spares,
        })
    }

    fn u16_at(&self, b: &[u8], at: usize) -> usize {
        let v = [b[at], b[at + 1]];
        usize::from(if self.big_endian {
            u16::from_be_bytes(v)
        } else {
            u16::from_le_bytes(v)
        })
    }

    fn u32_at(&self, b: &[u8], at: usize) -> u32 {
        let v = [b[at], b[at + 1], b[at + 2], b[at + 3]];
        if self.big_endian {
            u32::from_be_bytes(v)
        } else {
            u32::from_le_bytes(v)
        }
    }

    fn page(&self, pgno: u32, visited: &mut HashSet<u32>) -> Result<Vec<u8>, DbError> {
        if pgno == 0 || pgno > self.last_page {
            return Err(corrupt(format!("page {pgno} outside the database")));
        }
        if !visited.insert(pgno) {
            return Err(corrupt(format!("page {pgno} reached twice (a loop)")));
        }
        let mut buf = vec![0u8; self.page_size];
        self.file
            .read_exact_at(u64::from(pgno) * self.page_size as u64, &mut buf)?;
        Ok(buf)
    }

    /// The first page of `bucket`: bucket + spares[ceil(log2(bucket + 1))].
    fn bucket_page(&self, bucket: u32) -> Result<u32, DbError> {
        let log = (u64::from(bucket) + 1).next_power_of_two().trailing_zeros() as usize;
        self.spares
            .get(log)
            .and_then(|s| bucket.checked_add(*s))
            .ok_or_else(|| corrupt(format!("bucket {bucket} has no page")))
    }

    /// Every record, bucket by bucket (the order a Berkeley DB cursor returns them).
    pub fn records(&self) -> Result<Vec<Record>, DbError> {
        if self.max_bucket > self.last_page {
            return Err(corrupt(format!(
                "{} buckets in {} pages",
                u64::from(self.max_bucket) + 1,
                self.last_page
            )));
        }
        let mut visited = HashSet::new();
        let mut out = Vec::new();
        for bucket in 0..=self.max_bucket {
            let mut pgno = self.bucket_page(bucket)?;
            while pgno != 0 {
                let page = self.page(pgno, &mut visited)?;
                let kind = page[25];
                if kind != P_HASH && kind != P_HASH_UNSORTED {
                    return Err(corrupt(format!("page {pgno} has type {kind}, not hash")));
                }
                let items = self.items(&page, pgno, &mut visited)?;
                let mut items = items.into_iter();
                while let (Some(k), Some(d)) = (items.next(), items.next()) {
                    out.push((k, d));
                }
                pgno = self.u32_at(&page, 16);
            }
        }
        Ok(out)
    }

    /// The items of one hash page, in index order.
    fn items(
        &self,
        page: &[u8],
        pgno: u32,
        visited: &mut HashSet<u32>,
    ) -> Result<Vec<Vec<u8>>, DbError> {
        let entries = self.u16_at(page, 20);
        if PAGE_HEADER + 2 * entries > self.page_size {
            return Err(corrupt(format!(
                "page {pgno}: {entries} entries do not fit"
            )));
        }
        let mut out = Vec::with_capacity(entries);
        let mut end = self.page_size;
        for i in 0..entries {
            let at = self.u16_at(page, PAGE_HEADER + 2 * i);
            if at < PAGE_HEADER + 2 * entries || at >= end {
                return Err(corrupt(format!("page {pgno}: item {i} out of place")));
            }
            let item = &page[at..end];
            end = at;
            match item[0] {
                H_KEYDATA => out.push(item[1..].to_vec()),
                H_OFFPAGE if item.len() >= 12 => {
                    let first = self.u32_at(item, 4);
                    let total = self.u32_at(item, 8) as usize;
                    out.push(self.overflow(first, total, visited)?);
                }
                other => {
                    return Err(DbError::Unsupported(format!(
                        "Berkeley DB: page {pgno}: item type {other} (duplicates)"
                    )));
                }
            }
        }
        Ok(out)
    }

    /// `total` bytes from a chain of overflow pages starting at `first`.
    fn overflow(
        &self,
        first: u32,
        total: usize,
        visited: &mut HashSet<u32>,
    ) -> Result<Vec<u8>, DbError> {
        let capacity = u64::from(self.last_page) * self.page_size as u64;
        if total as u64 > capacity {
            return Err(corrupt(format!(
                "a {total}-byte item in a {capacity}-byte file"
            )));
        }
        let mut out = Vec::with_capacity(total);
        let mut pgno = first;
        while out.len() < total {
            let page = self.page(pgno, visited)?;
            if page[25] != P_OVERFLOW {
                return Err(corrupt(format!("page {pgno} is not an overflow page")));
            }
            let len = self.u16_at(&page, 22);
            if len > self.page_size - PAGE_HEADER || len > total - out.len() {
                return Err(corrupt(format!("overflow page {pgno} holds {len} bytes")));
            }
            out.extend_from_slice(&page[PAGE_HEADER..PAGE_HEADER + len]);
            pgno = self.u32_at(&page, 16);
            if len == 0 || (pgno == 0 && out.len() < total) {
                return Err(corrupt(format!("overflow chain ends early at page {pgno}")));
            }
        }
        Ok(out)
    }
}
