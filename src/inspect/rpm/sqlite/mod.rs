//! A read-only SQLite database reader, as much as rpm's `rpmdb.sqlite` needs: the
//! 100-byte database header, table b-trees with overflow pages, the schema table, and
//! committed frames of a `-wal` file laid over the main file. Every page is visited at
//! most once per scan, page numbers are checked against the database size and payload
//! sizes against what the pages could hold, so a crafted file cannot loop or allocate
//! without bound.

pub mod btree;
pub mod record;
pub mod wal;

use std::collections::HashSet;

use super::{DbError, ReadAt};
use btree::TablePage;
use record::Column;
use wal::Wal;

const MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// Called with each row's id and payload during a table scan.
pub type RowVisitor<'f> = dyn FnMut(i64, &[u8]) -> Result<(), DbError> + 'f;

/// An open database.
pub struct Database<'a> {
    file: &'a dyn ReadAt,
    wal: Option<Wal<'a>>,
    page_size: usize,
    usable: usize,
    pages: u32,
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl<'a> Database<'a> {
    /// Open a database file, with its write-ahead log when there is one.
    pub fn open(file: &'a dyn ReadAt, wal: Option<&'a dyn ReadAt>) -> Result<Self, DbError> {
        let mut header = [0u8; 100];
        if file.size() < 100 {
            return Err(DbError::Corrupt(
                "sqlite: file shorter than its header".into(),
            ));
        }
        file.read_exact_at(0, &mut header)?;
        if &header[..16] != MAGIC {
            return Err(DbError::Corrupt("sqlite: not a SQLite 3 database".into()));
        }
        let page_size = match u16::from_be_bytes([header[16], header[17]]) {
            1 => 65536,
            n if n >= 512 && n.is_power_of_two() => usize::from(n),
            n => return Err(DbError::Corrupt(format!("sqlite: page size {n}"))),
        };
        let reserved = usize::from(header[20]);
        let usable = page_size - reserved;
        if usable < 480 {
            return Err(DbError::Corrupt(format!(
                "sqlite: {reserved} reserved bytes per page"
            )));
        }
        let file_pages = u32::try_from(file.size() / page_size as u64).unwrap_or(u32::MAX);
        let header_pages = be32(&header, 28);
        let mut pages = if header_pages != 0 && be32(&header, 24) == be32(&header, 92) {
            header_pages.min(file_pages)
        } else {
            file_pages
        };
        let wal = match wal {
            Some(w) => Wal::open(w, page_size)?,
            None => None,
        };
        if let Some(w) = &wal {
            pages = w.db_pages;
        }
        Ok(Database {
            file,
            wal,
            page_size,
            usable,
            pages,
        })
    }

    /// Read page `pgno` (1-based), from the WAL when it holds a newer copy.
    fn page(&self, pgno: u32) -> Result<Vec<u8>, DbError> {
        if pgno == 0 || pgno > self.pages {
            return Err(DbError::Corrupt(format!(
                "sqlite: page {pgno} outside the database ({} pages)",
                self.pages
            )));
        }
        let mut buf = vec![0u8; self.page_size];
        if let Some(w) = &self.wal {
            if w.read_page(pgno, &mut buf)? {
                return Ok(buf);
            }
        }
        self.file
            .read_exact_at(u64::from(pgno - 1) * self.page_size as u64, &mut buf)?;
        Ok(buf)
    }

    /// Call `row` with each (rowid, payload) of the table whose b-tree starts at `root`, in
    /// rowid order.
    pub fn scan_table(&self, root: u32, row: &mut RowVisitor<'_>) -> Result<(), DbError> {
        let mut visited = HashSet::new();
        let mut stack = vec![root];
        while let Some(pgno) = stack.pop() {
            if !visited.insert(pgno) {
                return Err(DbError::Corrupt(format!(
                    "sqlite: page {pgno} reached twice (a b-tree loop)"
                )));
            }
            let page = self.page(pgno)?;
            match btree::parse(&page, pgno, self.usable)? {
                TablePage::Interior(children) => stack.extend(children.iter().rev()),
                TablePage::Leaf(cells) => {
                    for cell in cells {
                        let payload = self.payload(&page, &cell, &mut visited)?;
                        row(cell.rowid, &payload)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// A leaf cell's whole payload, following its overflow chain.
    fn payload(
        &self,
        page: &[u8],
        cell: &btree::LeafCell,
        visited: &mut HashSet<u32>,
    ) -> Result<Vec<u8>, DbError> {
        let capacity = u64::from(self.pages) * self.usable as u64;
        if cell.payload_size > capacity {
            return Err(DbError::Corrupt(format!(
                "sqlite: a {}-byte row in a {capacity}-byte database",
                cell.payload_size
            )));
        }
        let size = cell.payload_size as usize;
        let mut out = Vec::with_capacity(size);
        out.extend_from_slice(&page[cell.local.clone()]);
        let mut next = cell.overflow;
        while out.len() < size {
            if !visited.insert(next) {
                return Err(DbError::Corrupt(format!(
                    "sqlite: overflow page {next} reached twice"
                )));
            }
            let overflow = self.page(next)?;
            next = be32(&overflow, 0);
            let take = (size - out.len()).min(self.usable - 4);
            out.extend_from_slice(&overflow[4..4 + take]);
        }
        Ok(out)
    }

    /// The root page of table `name`, from the schema table (page 1).
    pub fn table_root(&self, name: &str) -> Result<Option<u32>, DbError> {
        let mut found = None;
        self.scan_table(1, &mut |_, rec| {
            let cols = record::columns(rec)?;
            if let [
                Column::Text(b"table"),
                Column::Text(n),
                _,
                Column::Int(root),
                ..,
            ] = cols.as_slice()
            {
                if n.eq_ignore_ascii_case(name.as_bytes()) {
                    found = u32::try_from(*root).ok();
                }
            }
            Ok(())
        })?;
        Ok(found)
    }
}
