//! A bounded cache of cluster-sized metadata tables (L1 pieces, L2 tables, refcount
//! blocks), keyed by their offset in the image file, evicting the least recently used.
//!
//! The cache never writes anything itself: the owner decides when a dirty table may
//! reach the disk (crash-safe ordering lives in `super`), so eviction is two steps:
//! [`TableCache::victim`] names the table, the owner writes it if dirty, then
//! [`TableCache::remove`]s it.

use std::collections::HashMap;

/// One cached table.
#[derive(Debug)]
pub struct Table {
    /// The table's bytes, as on disk (big-endian entries).
    pub data: Vec<u8>,
    /// Changed since it was read or last written.
    pub dirty: bool,
    used: u64,
}

/// Tables by file offset.
#[derive(Debug)]
pub struct TableCache {
    capacity: usize,
    tables: HashMap<u64, Table>,
    clock: u64,
}

impl TableCache {
    /// A cache holding at most `capacity` tables (at least 1).
    pub fn new(capacity: usize) -> TableCache {
        TableCache {
            capacity: capacity.max(1),
            tables: HashMap::new(),
            clock: 0,
        }
    }

    /// The table at `offset`, marked as just used.
    pub fn get_mut(&mut self, offset: u64) -> Option<&mut Table> {
        self.clock += 1;
        let clock = self.clock;
        let table = self.tables.get_mut(&offset)?;
        table.used = clock;
        Some(table)
    }

    /// Is the table at `offset` cached?
    pub fn contains(&self, offset: u64) -> bool {
        self.tables.contains_key(&offset)
    }

    /// Add a table; the owner has made room with [`Self::victim`] first.
    pub fn insert(&mut self, offset: u64, data: Vec<u8>, dirty: bool) {
        self.clock += 1;
        self.tables.insert(
            offset,
            Table {
                data,
                dirty,
                used: self.clock,
            },
        );
    }

    /// When full, the least recently used table's offset and whether it is dirty.
    pub fn victim(&self) -> Option<(u64, bool)> {
        if self.tables.len() < self.capacity {
            return None;
        }
        self.tables
            .iter()
            .min_by_key(|(_, t)| t.used)
            .map(|(&off, t)| (off, t.dirty))
    }

    /// Drop a table from the cache.
    pub fn remove(&mut self, offset: u64) -> Option<Table> {
        self.tables.remove(&offset)
    }

    /// Offsets of the dirty tables, ascending (so write-back is sequential).
    pub fn dirty_offsets(&self) -> Vec<u64> {
        let mut v: Vec<u64> = self
            .tables
            .iter()
            .filter(|(_, t)| t.dirty)
            .map(|(&o, _)| o)
            .collect();
        v.sort_unstable();
        v
    }
}
