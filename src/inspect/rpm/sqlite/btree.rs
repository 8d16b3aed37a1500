//! A SQLite b-tree page (fileformat2.html §1.6): an 8- or 12-byte page header (100 bytes
//! further in on page 1), a cell pointer array and cells. Only table b-trees are read:
//! interior cells are (left child, rowid), leaf cells (payload size, rowid, payload with
//! an overflow page number when it spills).

use super::record::varint;
use crate::inspect::rpm::DbError;

/// Interior table b-tree page.
const INTERIOR_TABLE: u8 = 0x05;
/// Leaf table b-tree page.
const LEAF_TABLE: u8 = 0x0d;

/// A table b-tree page's cells.
pub enum TablePage {
    /// Child pages in key order (the right-most pointer last).
    Interior(Vec<u32>),
    /// Leaf cells: rowid, the local part of the payload, the whole payload size, and the
    /// first overflow page (0 when none).
    Leaf(Vec<LeafCell>),
}

/// One leaf cell.
pub struct LeafCell {
    /// The row's id.
    pub rowid: i64,
    /// Total payload size.
    pub payload_size: u64,
    /// Byte range of the local payload within the page.
    pub local: std::ops::Range<usize>,
    /// First overflow page, 0 when the payload is all local.
    pub overflow: u32,
}

fn corrupt(pgno: u32, why: &str) -> DbError {
    DbError::Corrupt(format!("sqlite page {pgno}: {why}"))
}

/// How many bytes of a `payload`-byte table leaf payload stay on the page, for `usable`
/// bytes per page (fileformat2.html "Cell Payload Overflow Pages").
pub fn local_payload(payload: u64, usable: usize) -> usize {
    let u = usable as u64;
    let x = u - 35;
    if payload <= x {
        return payload as usize;
    }
    let m = ((u - 12) * 32 / 255) - 23;
    let k = m + ((payload - m) % (u - 4));
    if k <= x { k as usize } else { m as usize }
}

/// Parse table page `pgno` (its bytes in `page`, `usable` of them usable).
pub fn parse(page: &[u8], pgno: u32, usable: usize) -> Result<TablePage, DbError> {
    let start = if pgno == 1 { 100 } else { 0 };
    let u16_at = |at: usize| -> Result<usize, DbError> {
        page.get(at..at + 2)
            .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
            .ok_or_else(|| corrupt(pgno, "header past the page"))
    };
    let kind = *page.get(start).ok_or_else(|| corrupt(pgno, "empty page"))?;
    let header_len = match kind {
        INTERIOR_TABLE => 12,
        LEAF_TABLE => 8,
        other => {
            return Err(corrupt(
                pgno,
                &format!("not a table b-tree page (type {other:#x})"),
            ));
        }
    };
    let cells = u16_at(start + 3)?;
    let pointers = start + header_len;
    if pointers + 2 * cells > usable {
        return Err(corrupt(pgno, &format!("{cells} cells do not fit")));
    }
    let cell_at = |i: usize| -> Result<usize, DbError> {
        let at = u16_at(pointers + 2 * i)?;
        if at < pointers + 2 * cells || at >= usable {
            return Err(corrupt(pgno, "cell pointer outside the content area"));
        }
        Ok(at)
    };
    let be32 = |at: usize| -> Result<u32, DbError> {
        page.get(at..at + 4)
            .filter(|_| at + 4 <= usable)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
            .ok_or_else(|| corrupt(pgno, "cell runs past the page"))
    };
    let cell_varint = |at: usize| -> Result<(u64, usize), DbError> {
        varint(&page[..usable], at).ok_or_else(|| corrupt(pgno, "cell runs past the page"))
    };
    if kind == INTERIOR_TABLE {
        let mut children = Vec::with_capacity(cells + 1);
        for i in 0..cells {
            children.push(be32(cell_at(i)?)?);
        }
        children.push(be32(start + 8)?);
        return Ok(TablePage::Interior(children));
    }
    let mut out = Vec::with_capacity(cells);
    for i in 0..cells {
        let mut at = cell_at(i)?;
        let (payload_size, n) = cell_varint(at)?;
        at += n;
        let (rowid, n) = cell_varint(at)?;
        at += n;
        let local = local_payload(payload_size, usable);
        let end = at + local;
        let overflow = if (local as u64) < payload_size {
            be32(end)?
        } else {
            0
        };
        if end > usable {
            return Err(corrupt(pgno, "payload runs past the page"));
        }
        out.push(LeafCell {
            rowid: rowid as i64,
            payload_size,
            local: at..end,
            overflow,
        });
    }
    Ok(TablePage::Leaf(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_payload_follows_the_file_format() {
        // 4096-byte pages: X = 4061, M = 489. Up to X bytes stay local; above, K =
        // M + (P - M) % 4092 when K <= X, else M.
        assert_eq!(local_payload(4061, 4096), 4061);
        assert_eq!(local_payload(4062, 4096), 489);
        assert_eq!(local_payload(5000, 4096), 908);
        assert_eq!(local_payload(8184 + 489, 4096), 489);
    }

    #[test]
    fn hostile_pages_are_errors() {
        let mut page = vec![0u8; 512];
        assert!(parse(&page, 2, 512).is_err());
        page[0] = LEAF_TABLE;
        page[3..5].copy_from_slice(&300u16.to_be_bytes());
        assert!(parse(&page, 2, 512).is_err());
        page[3..5].copy_from_slice(&1u16.to_be_bytes());
        page[8..10].copy_from_slice(&510u16.to_be_bytes());
        page[510] = 0x7f; // payload size 127 from byte 510: runs past the page
        page[511] = 0x01;
        assert!(parse(&page, 2, 512).is_err());
    }
}
