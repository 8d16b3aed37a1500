//! The rpm package database of rpm-based guests, read without librpm: the sqlite backend
//! (`rpmdb.sqlite`, RHEL 9 and Fedora ≥ 33) and the Berkeley DB hash backend (`Packages`,
//! RHEL ≤ 8), each holding one header blob per installed package. The fields and their
//! formatting are what libguestfs' daemon takes from librpm (daemon/rpm-c.c): NAME,
//! VERSION, RELEASE, ARCH, URL, SUMMARY and DESCRIPTION as `headerFormat` prints them
//! (`(none)` when missing) and EPOCH as a number; the list comes sorted by name with
//! equal names in reverse database order, as the daemon builds it.

pub mod bdb;
pub mod header;
pub mod sqlite;

use std::fmt;

use super::apps::App;
use header::{Header, tag};

/// Random access to a database file (a guest file, or bytes in memory).
pub trait ReadAt {
    /// The file's size in bytes.
    fn size(&self) -> u64;
    /// Fill `buf` from `offset`; an error when the file ends first.
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), DbError>;
}

fn read_slice(data: &[u8], offset: u64, buf: &mut [u8]) -> Result<(), DbError> {
    usize::try_from(offset)
        .ok()
        .and_then(|start| data.get(start..start.checked_add(buf.len())?))
        .map(|src| buf.copy_from_slice(src))
        .ok_or_else(|| DbError::Corrupt("read past the end of the file".into()))
}

impl ReadAt for &[u8] {
    fn size(&self) -> u64 {
        self.len() as u64
    }

    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), DbError> {
        read_slice(self, offset, buf)
    }
}

impl ReadAt for Vec<u8> {
    fn size(&self) -> u64 {
        self.len() as u64
    }

    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), DbError> {
        read_slice(self, offset, buf)
    }
}

/// Why a package database could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbError {
    /// The underlying file could not be read.
    Read(String),
    /// The database is damaged or not what it claims to be.
    Corrupt(String),
    /// A valid database using something rfish does not read.
    Unsupported(String),
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DbError::Read(s) | DbError::Corrupt(s) => f.write_str(s),
            DbError::Unsupported(s) => write!(f, "{s} is not supported"),
        }
    }
}

impl std::error::Error for DbError {}

/// Which backend a guest's database uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `rpmdb.sqlite` (+ `rpmdb.sqlite-wal`).
    Sqlite,
    /// Berkeley DB `Packages`.
    Bdb,
    /// rpm's own ndb format (`Packages.db`, SUSE).
    Ndb,
}

impl Backend {
    /// The database file's name in the rpm database directory.
    pub fn file_name(self) -> &'static str {
        match self {
            Backend::Sqlite => "rpmdb.sqlite",
            Backend::Bdb => "Packages",
            Backend::Ndb => "Packages.db",
        }
    }

    /// The backends in the order rfish looks for their files: the one the guest's rpm
    /// configuration names first (as librpm does), then the others.
    pub fn search_order(configured: Option<&str>) -> Vec<Backend> {
        let mut order = vec![Backend::Sqlite, Backend::Bdb, Backend::Ndb];
        let first = match configured {
            Some("bdb" | "bdb_ro") => Some(Backend::Bdb),
            Some("ndb") => Some(Backend::Ndb),
            Some("sqlite") => Some(Backend::Sqlite),
            _ => None,
        };
        if let Some(f) = first {
            order.retain(|&b| b != f);
            order.insert(0, f);
        }
        order
    }
}

/// The `%_db_backend` a set of rpm macro files names (the last definition wins).
pub fn configured_backend(macro_files: &[&[u8]]) -> Option<String> {
    let mut found = None;
    for text in macro_files {
        for line in text.split(|&b| b == b'\n') {
            let line = String::from_utf8_lossy(line);
            let mut words = line.split_whitespace();
            if words.next() == Some("%_db_backend") {
                if let Some(v) = words.next() {
                    found = Some(v.to_string());
                }
            }
        }
    }
    found
}

/// The header blobs of the Packages table of a sqlite rpmdb, in rowid order.
pub fn sqlite_headers(db: &dyn ReadAt, wal: Option<&dyn ReadAt>) -> Result<Vec<Vec<u8>>, DbError> {
    let db = sqlite::Database::open(db, wal)?;
    let root = db
        .table_root("Packages")?
        .ok_or_else(|| DbError::Corrupt("sqlite: no Packages table".into()))?;
    let mut out = Vec::new();
    db.scan_table(root, &mut |_, rec| {
        match sqlite::record::columns(rec)?.get(1) {
            Some(sqlite::record::Column::Blob(b)) => out.push(b.to_vec()),
            _ => {
                return Err(DbError::Corrupt(
                    "sqlite: Packages row without a blob".into(),
                ));
            }
        }
        Ok(())
    })?;
    Ok(out)
}

/// The header blobs of a Berkeley DB `Packages` file, in cursor order. Key 0 holds rpm's
/// instance counter, not a package, and is skipped as librpm does.
pub fn bdb_headers(db: &dyn ReadAt) -> Result<Vec<Vec<u8>>, DbError> {
    let db = bdb::HashDb::open(db)?;
    Ok(db
        .records()?
        .into_iter()
        .filter(|(key, _)| key.len() == 4 && key.iter().any(|&b| b != 0))
        .map(|(_, data)| data)
        .collect())
}

/// The applications of a list of header blobs (database order), sorted as the daemon
/// returns them.
pub fn applications(blobs: &[Vec<u8>]) -> Result<Vec<App>, DbError> {
    let mut apps = Vec::with_capacity(blobs.len());
    for blob in blobs.iter().rev() {
        let h = Header::parse(blob)?;
        apps.push(App {
            name: h.text(tag::NAME),
            epoch: h.number(tag::EPOCH),
            version: h.text(tag::VERSION),
            release: h.text(tag::RELEASE),
            arch: h.text(tag::ARCH),
            url: h.text(tag::URL),
            source: String::new(),
            summary: h.text(tag::SUMMARY),
            description: h.text(tag::DESCRIPTION),
        });
    }
    // Stable: equal names stay in reverse database order.
    apps.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
    Ok(apps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configured_backend_is_searched_first() {
        let macros: &[&[u8]] = &[b"%_dbpath /var/lib/rpm\n%_db_backend\tbdb\n"];
        let conf = configured_backend(macros);
        assert_eq!(conf.as_deref(), Some("bdb"));
        assert_eq!(
            Backend::search_order(conf.as_deref()),
            [Backend::Bdb, Backend::Sqlite, Backend::Ndb]
        );
        assert_eq!(Backend::search_order(None)[0], Backend::Sqlite);
    }

    #[test]
    fn slices_read_at_offsets() {
        let data: &[u8] = &[1, 2, 3, 4];
        let mut buf = [0u8; 2];
        data.read_exact_at(2, &mut buf).unwrap();
        assert_eq!(buf, [3, 4]);
        assert!(data.read_exact_at(3, &mut buf).is_err());
        assert!(data.read_exact_at(u64::MAX, &mut buf).is_err());
    }
}
