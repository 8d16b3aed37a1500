//! The qcow2 header and its extensions (QEMU docs/interop/qcow2.rst, sections "Header",
//! "Header extensions", "Feature name table").
//!
//! Everything here is validated against the file's length before any table is read:
//! cluster_bits in 9..=21, tables aligned and inside the file, sizes within QEMU's own
//! implementation limits (L1 ≤ 32 MiB, refcount table ≤ 8 MiB).

use super::super::{BlockError, Result};

/// "QFI\xfb".
pub const MAGIC: [u8; 4] = *b"QFI\xfb";

/// Incompatible feature bits.
pub const INCOMPAT_DIRTY: u64 = 1 << 0;
/// The corrupt bit: never write.
pub const INCOMPAT_CORRUPT: u64 = 1 << 1;
/// External data file.
pub const INCOMPAT_DATA_FILE: u64 = 1 << 2;
/// `compression_type` is meaningful.
pub const INCOMPAT_COMPRESSION: u64 = 1 << 3;
/// 128-bit L2 entries with subcluster bitmaps.
pub const INCOMPAT_EXTL2: u64 = 1 << 4;
const INCOMPAT_KNOWN: u64 =
    INCOMPAT_DIRTY | INCOMPAT_CORRUPT | INCOMPAT_DATA_FILE | INCOMPAT_COMPRESSION | INCOMPAT_EXTL2;

/// Compatible feature: lazy refcounts.
pub const COMPAT_LAZY_REFCOUNTS: u64 = 1 << 0;

/// Header extension types.
const EXT_END: u32 = 0;
const EXT_BACKING_FORMAT: u32 = 0xe279_2aca;
const EXT_FEATURE_NAMES: u32 = 0x6803_f857;
const EXT_BITMAPS: u32 = 0x2385_2875;
const EXT_CRYPTO: u32 = 0x0537_be77;
const EXT_DATA_FILE: u32 = 0x4441_5441;

/// Byte offsets of fields rfish rewrites in place.
pub const OFF_REFCOUNT_TABLE: u64 = 48;
/// `incompatible_features` (v3).
pub const OFF_INCOMPAT: u64 = 72;
/// `autoclear_features` (v3).
pub const OFF_AUTOCLEAR: u64 = 88;

/// QEMU's limits, which rfish shares so it never opens what QEMU would refuse.
const MAX_L1_BYTES: u64 = 32 << 20;
const MAX_REFTABLE_BYTES: u64 = 8 << 20;

/// Compression used by compressed clusters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Raw deflate (QEMU calls it zlib).
    Deflate,
    /// Zstandard frames.
    Zstd,
}

/// A parsed, validated qcow2 header.
#[derive(Debug, Clone)]
pub struct Header {
    /// 2 or 3.
    pub version: u32,
    /// log2 of the cluster size.
    pub cluster_bits: u32,
    /// Virtual disk size in bytes.
    pub size: u64,
    /// Entries in the active L1 table.
    pub l1_size: u64,
    /// Where the L1 table starts.
    pub l1_table_offset: u64,
    /// Where the refcount table starts.
    pub refcount_table_offset: u64,
    /// Clusters the refcount table occupies.
    pub refcount_table_clusters: u64,
    /// Internal snapshots.
    pub nb_snapshots: u32,
    /// Where the snapshot table starts.
    pub snapshots_offset: u64,
    /// Incompatible feature bits.
    pub incompatible: u64,
    /// Compatible feature bits.
    pub compatible: u64,
    /// Auto-clear feature bits.
    pub autoclear: u64,
    /// log2 of the refcount width in bits.
    pub refcount_order: u32,
    /// Bytes of the fixed header.
    pub header_length: u64,
    /// Compression of compressed clusters.
    pub compression: Compression,
    /// Backing file name, as stored.
    pub backing_file: Option<String>,
    /// Backing file format from the header extension.
    pub backing_format: Option<String>,
    /// A bitmaps extension is present (kept as is, never interpreted).
    pub has_bitmaps: bool,
    /// Names of features from the feature name table: (type, bit, name).
    pub feature_names: Vec<(u8, u8, String)>,
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn be64(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_be_bytes(x)
}

fn bad(detail: impl Into<String>) -> BlockError {
    BlockError::corrupt("qcow2 header", detail)
}

impl Header {
    /// Cluster size in bytes.
    pub fn cluster_size(&self) -> u64 {
        1 << self.cluster_bits
    }

    /// Refcount width in bits.
    pub fn refcount_bits(&self) -> u32 {
        1 << self.refcount_order
    }

    /// Subclusters are in use.
    pub fn extended_l2(&self) -> bool {
        self.incompatible & INCOMPAT_EXTL2 != 0
    }

    /// Parse and validate the first cluster of an image (`buf` holds at least the first
    /// cluster, or the whole file if shorter), for a file of `file_len` bytes.
    pub fn parse(buf: &[u8], file_len: u64) -> Result<Header> {
        if buf.len() < 72 || buf[..4] != MAGIC {
            return Err(bad("not a qcow2 image (bad magic)"));
        }
        let version = be32(buf, 4);
        if version == 1 {
            return Err(BlockError::Unsupported(
                "qcow version 1 images (convert with qemu-img convert -O qcow2)".into(),
            ));
        }
        if version != 2 && version != 3 {
            return Err(bad(format!("version {version} (expected 2 or 3)")));
        }
        let cluster_bits = be32(buf, 20);
        if !(9..=21).contains(&cluster_bits) {
            return Err(bad(format!(
                "cluster_bits {cluster_bits} is outside 9..21 (512 B to 2 MiB clusters)"
            )));
        }
        let cluster_size = 1u64 << cluster_bits;
        if (buf.len() as u64) < cluster_size.min(file_len) {
            return Err(bad("header cluster not read in full"));
        }
        let mut h = Header {
            version,
            cluster_bits,
            size: be64(buf, 24),
            l1_size: u64::from(be32(buf, 36)),
            l1_table_offset: be64(buf, 40),
            refcount_table_offset: be64(buf, 48),
            refcount_table_clusters: u64::from(be32(buf, 56)),
            nb_snapshots: be32(buf, 60),
            snapshots_offset: be64(buf, 64),
            incompatible: 0,
            compatible: 0,
            autoclear: 0,
            refcount_order: 4,
            header_length: 72,
            compression: Compression::Deflate,
            backing_file: None,
            backing_format: None,
            has_bitmaps: false,
            feature_names: Vec::new(),
        };
        let crypt = be32(buf, 32);
        if version == 3 {
            if buf.len() < 104 {
                return Err(bad("version 3 header shorter than 104 bytes"));
            }
            h.incompatible = be64(buf, 72);
            h.compatible = be64(buf, 80);
            h.autoclear = be64(buf, 88);
            h.refcount_order = be32(buf, 96);
            h.header_length = u64::from(be32(buf, 100));
            if h.header_length < 104 || h.header_length % 8 != 0 {
                return Err(bad(format!(
                    "header_length {} (must be at least 104 and a multiple of 8)",
                    h.header_length
                )));
            }
            if h.header_length > cluster_size.min(buf.len() as u64) {
                return Err(bad(format!(
                    "header_length {} is larger than the first cluster",
                    h.header_length
                )));
            }
            if h.refcount_order > 6 {
                return Err(bad(format!(
                    "refcount_order {} (at most 6)",
                    h.refcount_order
                )));
            }
            if h.header_length > 104 && buf[104] != 0 {
                h.compression = match buf[104] {
                    1 => Compression::Zstd,
                    t => {
                        return Err(BlockError::Unsupported(format!(
                            "qcow2 compression_type {t}"
                        )));
                    }
                };
            }
            let has_type_bit = h.incompatible & INCOMPAT_COMPRESSION != 0;
            if has_type_bit != (h.compression != Compression::Deflate) {
                return Err(bad(
                    "compression_type disagrees with the compression type feature bit",
                ));
            }
        }
        h.read_extensions(buf)?;
        h.check_features()?;
        if crypt != 0 {
            return Err(BlockError::Unsupported(
                "encrypted qcow2 images (crypt_method is not 0)".into(),
            ));
        }
        if h.extended_l2() && cluster_bits < 14 {
            return Err(bad("extended L2 entries need clusters of at least 16 KiB"));
        }
        h.check_tables(file_len)?;
        Ok(h)
    }

    fn read_extensions(&mut self, buf: &[u8]) -> Result<()> {
        let backing_offset = be64(buf, 8);
        let backing_size = u64::from(be32(buf, 16));
        let limit = buf.len().min(1usize << self.cluster_bits);
        let mut at = self.header_length as usize;
        loop {
            if at + 8 > limit {
                break; // no end marker before the cluster's end: tolerate, as QEMU does
            }
            let kind = be32(buf, at);
            let len = be32(buf, at + 4) as usize;
            if kind == EXT_END {
                break;
            }
            let data_at = at + 8;
            let Some(data_end) = data_at.checked_add(len).filter(|&e| e <= limit) else {
                return Err(bad(format!(
                    "header extension 0x{kind:08x} at byte {at} runs past the first cluster"
                )));
            };
            let data = &buf[data_at..data_end];
            match kind {
                EXT_BACKING_FORMAT => {
                    self.backing_format = Some(String::from_utf8_lossy(data).into_owned())
                }
                EXT_FEATURE_NAMES => {
                    for entry in data.chunks_exact(48) {
                        let name_end = entry[2..].iter().position(|&b| b == 0).unwrap_or(46);
                        let name = String::from_utf8_lossy(&entry[2..2 + name_end]).into_owned();
                        self.feature_names.push((entry[0], entry[1], name));
                    }
                }
                EXT_BITMAPS => self.has_bitmaps = true,
                EXT_CRYPTO => {}
                EXT_DATA_FILE => {}
                _ => {}
            }
            at = data_end.div_ceil(8) * 8;
        }
        if backing_offset != 0 {
            if backing_size > 1023 {
                return Err(bad(format!(
                    "backing_file_size {backing_size} (at most 1023)"
                )));
            }
            let start = usize::try_from(backing_offset).unwrap_or(usize::MAX);
            let end = start.saturating_add(backing_size as usize);
            if end > limit {
                return Err(bad(format!(
                    "backing_file_offset {backing_offset} puts the name outside the first cluster"
                )));
            }
            let name = String::from_utf8_lossy(&buf[start..end]).into_owned();
            if !name.is_empty() {
                self.backing_file = Some(name);
            }
        }
        Ok(())
    }

    /// The name of feature `bit` of `kind` (0 incompatible, 1 compatible, 2 autoclear).
    fn feature_name(&self, kind: u8, bit: u32) -> String {
        self.feature_names
            .iter()
            .find(|(k, b, _)| *k == kind && u32::from(*b) == bit)
            .map(|(_, _, n)| n.clone())
            .unwrap_or_else(|| format!("unknown feature bit {bit}"))
    }

    fn check_features(&self) -> Result<()> {
        let unknown = self.incompatible & !INCOMPAT_KNOWN;
        if unknown != 0 {
            let names: Vec<String> = (0..64)
                .filter(|b| unknown & (1 << b) != 0)
                .map(|b| self.feature_name(0, b))
                .collect();
            return Err(BlockError::Unsupported(format!(
                "qcow2 incompatible features: {}",
                names.join(", ")
            )));
        }
        if self.incompatible & INCOMPAT_DATA_FILE != 0 {
            return Err(BlockError::Unsupported(
                "qcow2 images with an external data file".into(),
            ));
        }
        Ok(())
    }

    fn check_tables(&self, file_len: u64) -> Result<()> {
        let cs = self.cluster_size();
        let aligned = |v: u64| v % cs == 0;
        // L1 must be able to map the whole virtual disk.
        let l2_entries = cs / if self.extended_l2() { 16 } else { 8 };
        let bytes_per_l1 = l2_entries * cs;
        let needed_l1 = self.size.div_ceil(bytes_per_l1);
        if self.size > (1u64 << 62) {
            return Err(bad(format!("size {} is beyond 2^62 bytes", self.size)));
        }
        if self.l1_size < needed_l1 {
            return Err(bad(format!(
                "l1_size {} cannot map the virtual size {} (needs {needed_l1})",
                self.l1_size, self.size
            )));
        }
        if self.l1_size * 8 > MAX_L1_BYTES {
            return Err(bad(format!(
                "l1_size {} is larger than 32 MiB of table",
                self.l1_size
            )));
        }
        if self.l1_size > 0 {
            if !aligned(self.l1_table_offset) || self.l1_table_offset == 0 {
                return Err(bad(format!(
                    "l1_table_offset {} is not a cluster boundary",
                    self.l1_table_offset
                )));
            }
            if self.l1_table_offset + self.l1_size * 8 > file_len {
                return Err(bad(format!(
                    "L1 table (l1_table_offset {}, l1_size {}) lies beyond the end of the file ({file_len} bytes)",
                    self.l1_table_offset, self.l1_size
                )));
            }
        }
        if !aligned(self.refcount_table_offset) || self.refcount_table_offset == 0 {
            return Err(bad(format!(
                "refcount_table_offset {} is not a cluster boundary",
                self.refcount_table_offset
            )));
        }
        let reftable_bytes = self.refcount_table_clusters * cs;
        if self.refcount_table_clusters == 0 || reftable_bytes > MAX_REFTABLE_BYTES {
            return Err(bad(format!(
                "refcount_table_clusters {} (must be 1 to 8 MiB of table)",
                self.refcount_table_clusters
            )));
        }
        if self.refcount_table_offset + reftable_bytes > file_len {
            return Err(bad(format!(
                "refcount table (refcount_table_offset {}) lies beyond the end of the file ({file_len} bytes)",
                self.refcount_table_offset
            )));
        }
        if self.nb_snapshots > 65536 {
            return Err(bad(format!(
                "nb_snapshots {} (at most 65536)",
                self.nb_snapshots
            )));
        }
        if self.nb_snapshots > 0
            && (!aligned(self.snapshots_offset) || self.snapshots_offset >= file_len)
        {
            return Err(bad(format!(
                "snapshots_offset {} is not a cluster boundary inside the file",
                self.snapshots_offset
            )));
        }
        Ok(())
    }
}

/// A fresh qcow2 image's first bytes, as [`super::create`] lays them out.
pub struct NewHeader<'a> {
    /// 2 or 3.
    pub version: u32,
    /// log2 cluster size.
    pub cluster_bits: u32,
    /// Virtual size.
    pub size: u64,
    /// L1 entries.
    pub l1_size: u64,
    /// L1 offset.
    pub l1_table_offset: u64,
    /// Refcount table offset.
    pub refcount_table_offset: u64,
    /// Refcount table clusters.
    pub refcount_table_clusters: u64,
    /// Backing file name.
    pub backing_file: Option<&'a str>,
    /// Backing format.
    pub backing_format: Option<&'a str>,
}

impl NewHeader<'_> {
    /// Serialize into the first cluster (`buf` is one cluster, zeroed).
    pub fn write(&self, buf: &mut [u8]) -> Result<()> {
        let put32 =
            |b: &mut [u8], at: usize, v: u32| b[at..at + 4].copy_from_slice(&v.to_be_bytes());
        let put64 =
            |b: &mut [u8], at: usize, v: u64| b[at..at + 8].copy_from_slice(&v.to_be_bytes());
        buf[..4].copy_from_slice(&MAGIC);
        put32(buf, 4, self.version);
        put32(buf, 20, self.cluster_bits);
        put64(buf, 24, self.size);
        put32(buf, 36, self.l1_size as u32);
        put64(buf, 40, self.l1_table_offset);
        put64(buf, 48, self.refcount_table_offset);
        put32(buf, 56, self.refcount_table_clusters as u32);
        let mut at = 72;
        if self.version == 3 {
            put32(buf, 96, 4);
            put32(buf, 100, 112);
            at = 112;
        }
        if let Some(fmt) = self.backing_format {
            put32(buf, at, EXT_BACKING_FORMAT);
            put32(buf, at + 4, fmt.len() as u32);
            buf[at + 8..at + 8 + fmt.len()].copy_from_slice(fmt.as_bytes());
            at += 8 + fmt.len().div_ceil(8) * 8;
        }
        // End-of-extensions marker: 8 zero bytes, already there.
        at += 8;
        if let Some(name) = self.backing_file {
            if name.len() > 1023 || at + name.len() > buf.len() {
                return Err(BlockError::Unsupported(format!(
                    "backing file name of {} bytes",
                    name.len()
                )));
            }
            put64(buf, 8, at as u64);
            put32(buf, 16, name.len() as u32);
            buf[at..at + name.len()].copy_from_slice(name.as_bytes());
        }
        Ok(())
    }
}
