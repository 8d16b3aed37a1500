//! SQLite's record format (fileformat2.html §2.1): a varint header size, one varint
//! serial type per column, then the column values. rfish needs text, integers and blobs.

use crate::inspect::rpm::DbError;

/// Read a SQLite varint (1-9 bytes, big-endian, 7 bits per byte and 8 in the ninth) at
/// `at`, returning the value and its length.
pub fn varint(b: &[u8], at: usize) -> Option<(u64, usize)> {
    let mut value: u64 = 0;
    for i in 0..9 {
        let byte = *b.get(at + i)?;
        if i == 8 {
            return Some(((value << 8) | u64::from(byte), 9));
        }
        value = (value << 7) | u64::from(byte & 0x7f);
        if byte & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

/// One column value, borrowing from the record.
#[derive(Debug, Clone, PartialEq)]
pub enum Column<'a> {
    /// NULL (also an INTEGER PRIMARY KEY column, whose value is the rowid).
    Null,
    /// An integer (serial types 1-6, 8, 9).
    Int(i64),
    /// A float (kept as its bits; rfish never needs its value).
    Float(u64),
    /// A blob.
    Blob(&'a [u8]),
    /// Text (in the database's encoding; rpm's is UTF-8).
    Text(&'a [u8]),
}

/// Decode every column of a record.
pub fn columns(rec: &[u8]) -> Result<Vec<Column<'_>>, DbError> {
    let bad = || DbError::Corrupt("sqlite record: malformed header".into());
    let (header_len, mut at) = varint(rec, 0).ok_or_else(bad)?;
    let header_len = usize::try_from(header_len).map_err(|_| bad())?;
    if header_len > rec.len() || header_len < at {
        return Err(bad());
    }
    let mut body = header_len;
    let mut out = Vec::new();
    while at < header_len {
        let (serial, n) = varint(rec, at).ok_or_else(bad)?;
        at += n;
        let size = match serial {
            0 | 8 | 9 => 0,
            1..=4 => serial as usize,
            5 => 6,
            6 | 7 => 8,
            10 | 11 => return Err(bad()),
            n => ((n - 12) / 2) as usize,
        };
        let value = body
            .checked_add(size)
            .and_then(|end| rec.get(body..end))
            .ok_or_else(|| DbError::Corrupt("sqlite record: column past the end".into()))?;
        body += size;
        let int = || {
            let mut v: i64 = if value[0] & 0x80 != 0 { -1 } else { 0 };
            for &b in value {
                v = (v << 8) | i64::from(b);
            }
            v
        };
        out.push(match serial {
            0 => Column::Null,
            1..=6 => Column::Int(int()),
            7 => Column::Float(u64::from_be_bytes(value.try_into().map_err(|_| bad())?)),
            8 => Column::Int(0),
            9 => Column::Int(1),
            n if n % 2 == 0 => Column::Blob(value),
            _ => Column::Text(value),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_of_every_length() {
        assert_eq!(varint(&[0x05], 0), Some((5, 1)));
        assert_eq!(varint(&[0x81, 0x00], 0), Some((128, 2)));
        assert_eq!(varint(&[0xff; 9], 0), Some((u64::MAX, 9)));
        assert_eq!(varint(&[0x81], 0), None);
    }

    #[test]
    fn columns_of_a_schema_row() {
        // header: len 6, text(5) "table", text(1) "P", int8 2, NULL, blob(2)
        let rec = [
            6, 23, 15, 1, 0, 16, b't', b'a', b'b', b'l', b'e', b'P', 0xfe, 0xaa, 0xbb,
        ];
        let cols = columns(&rec).unwrap();
        assert_eq!(
            cols,
            vec![
                Column::Text(b"table"),
                Column::Text(b"P"),
                Column::Int(-2),
                Column::Null,
                Column::Blob(&[0xaa, 0xbb]),
            ]
        );
        assert!(columns(&[6, 23, 15, 1, 0, 16, b't']).is_err());
        assert!(columns(&[0x7f]).is_err());
    }
}
