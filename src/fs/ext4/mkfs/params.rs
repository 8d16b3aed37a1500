//! What mke2fs decides before it lays anything out: the feature set (the `[fs_types]` of
//! Debian's /etc/mke2fs.conf for ext2, ext3 and ext4, then `-O` edits), the usage type
//! from the size (floppy < 3 MiB, small < 512 MiB, default, big ≥ 4 TiB, huge ≥ 16 TiB)
//! and from it the block size, inode size and bytes-per-inode ratio, and the journal size.

use super::MkfsError;

/// compat features.
pub const COMPAT_HAS_JOURNAL: u32 = 0x4;
/// compat: extended attributes.
pub const COMPAT_EXT_ATTR: u32 = 0x8;
/// compat: reserved GDT blocks for online resize.
pub const COMPAT_RESIZE_INODE: u32 = 0x10;
/// compat: hashed directories.
pub const COMPAT_DIR_INDEX: u32 = 0x20;
/// incompat: file type in directory entries.
pub const INCOMPAT_FILETYPE: u32 = 0x2;
/// incompat: extents.
pub const INCOMPAT_EXTENTS: u32 = 0x40;
/// incompat: 64-bit block numbers.
pub const INCOMPAT_64BIT: u32 = 0x80;
/// incompat: flexible block groups.
pub const INCOMPAT_FLEX_BG: u32 = 0x200;
/// incompat: checksum seed in the superblock.
pub const INCOMPAT_CSUM_SEED: u32 = 0x2000;
/// incompat: 3-level htrees and 4 GiB directories.
pub const INCOMPAT_LARGEDIR: u32 = 0x4000;
/// ro_compat: sparse superblock backups.
pub const RO_COMPAT_SPARSE_SUPER: u32 = 0x1;
/// ro_compat: files over 2 GiB.
pub const RO_COMPAT_LARGE_FILE: u32 = 0x2;
/// ro_compat: i_blocks in file-system blocks for huge files.
pub const RO_COMPAT_HUGE_FILE: u32 = 0x8;
/// ro_compat: uninit_bg (crc16 group descriptor checksums).
pub const RO_COMPAT_GDT_CSUM: u32 = 0x10;
/// ro_compat: more than 65000 subdirectories.
pub const RO_COMPAT_DIR_NLINK: u32 = 0x20;
/// ro_compat: large inodes' extra fields.
pub const RO_COMPAT_EXTRA_ISIZE: u32 = 0x40;
/// ro_compat: crc32c metadata checksums.
pub const RO_COMPAT_METADATA_CSUM: u32 = 0x400;

/// Which of the three feature words a feature lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Word {
    Compat,
    Incompat,
    RoCompat,
}

/// Feature names as e2fsprogs spells them: (name, word, bit, rfish can create it).
const FEATURES: &[(&str, Word, u32, bool)] = &[
    ("dir_prealloc", Word::Compat, 0x1, false),
    ("imagic_inodes", Word::Compat, 0x2, false),
    ("has_journal", Word::Compat, COMPAT_HAS_JOURNAL, true),
    ("ext_attr", Word::Compat, COMPAT_EXT_ATTR, true),
    ("resize_inode", Word::Compat, COMPAT_RESIZE_INODE, true),
    ("dir_index", Word::Compat, COMPAT_DIR_INDEX, true),
    ("sparse_super2", Word::Compat, 0x200, false),
    ("fast_commit", Word::Compat, 0x400, false),
    ("stable_inodes", Word::Compat, 0x800, false),
    ("orphan_file", Word::Compat, 0x1000, false),
    ("sparse_super", Word::RoCompat, RO_COMPAT_SPARSE_SUPER, true),
    ("large_file", Word::RoCompat, RO_COMPAT_LARGE_FILE, true),
    ("huge_file", Word::RoCompat, RO_COMPAT_HUGE_FILE, true),
    ("uninit_bg", Word::RoCompat, RO_COMPAT_GDT_CSUM, true),
    ("uninit_groups", Word::RoCompat, RO_COMPAT_GDT_CSUM, true),
    ("dir_nlink", Word::RoCompat, RO_COMPAT_DIR_NLINK, true),
    ("extra_isize", Word::RoCompat, RO_COMPAT_EXTRA_ISIZE, true),
    ("quota", Word::RoCompat, 0x100, false),
    ("bigalloc", Word::RoCompat, 0x200, false),
    (
        "metadata_csum",
        Word::RoCompat,
        RO_COMPAT_METADATA_CSUM,
        true,
    ),
    ("read-only", Word::RoCompat, 0x1000, false),
    ("project", Word::RoCompat, 0x2000, false),
    ("verity", Word::RoCompat, 0x8000, false),
    ("compression", Word::Incompat, 0x1, false),
    ("filetype", Word::Incompat, INCOMPAT_FILETYPE, true),
    ("needs_recovery", Word::Incompat, 0x4, false),
    ("journal_dev", Word::Incompat, 0x8, false),
    ("meta_bg", Word::Incompat, 0x10, false),
    ("extent", Word::Incompat, INCOMPAT_EXTENTS, true),
    ("extents", Word::Incompat, INCOMPAT_EXTENTS, true),
    ("64bit", Word::Incompat, INCOMPAT_64BIT, true),
    ("mmp", Word::Incompat, 0x100, false),
    ("flex_bg", Word::Incompat, INCOMPAT_FLEX_BG, true),
    ("ea_inode", Word::Incompat, 0x400, false),
    ("dirdata", Word::Incompat, 0x1000, false),
    (
        "metadata_csum_seed",
        Word::Incompat,
        INCOMPAT_CSUM_SEED,
        true,
    ),
    ("large_dir", Word::Incompat, INCOMPAT_LARGEDIR, true),
    ("inline_data", Word::Incompat, 0x8000, false),
    ("encrypt", Word::Incompat, 0x10000, false),
    ("casefold", Word::Incompat, 0x20000, false),
    ("fname_encoding", Word::Incompat, 0x20000, false),
];

/// The three feature words.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Features {
    /// s_feature_compat.
    pub compat: u32,
    /// s_feature_incompat.
    pub incompat: u32,
    /// s_feature_ro_compat.
    pub ro_compat: u32,
}

impl Features {
    fn word(&mut self, w: Word) -> &mut u32 {
        match w {
            Word::Compat => &mut self.compat,
            Word::Incompat => &mut self.incompat,
            Word::RoCompat => &mut self.ro_compat,
        }
    }

    /// Is compat feature `bit` on?
    pub fn compat(&self, bit: u32) -> bool {
        self.compat & bit != 0
    }

    /// Is incompat feature `bit` on?
    pub fn incompat(&self, bit: u32) -> bool {
        self.incompat & bit != 0
    }

    /// Is ro_compat feature `bit` on?
    pub fn ro_compat(&self, bit: u32) -> bool {
        self.ro_compat & bit != 0
    }

    /// Apply an `-O` list: `name`, `^name` (off), `none` (all off), comma or space separated.
    pub fn edit(&mut self, list: &str) -> Result<(), MkfsError> {
        for word in list
            .split([',', ' ', '\t'])
            .map(str::trim)
            .filter(|w| !w.is_empty())
        {
            if word == "none" || word == "clear" {
                *self = Features::default();
                continue;
            }
            let (on, name) = match word.strip_prefix('^').or_else(|| word.strip_prefix('-')) {
                Some(n) => (false, n),
                None => (true, word.strip_prefix('+').unwrap_or(word)),
            };
            let Some(&(_, w, bit, _)) = FEATURES.iter().find(|f| f.0 == name) else {
                return Err(MkfsError::Usage(format!(
                    "Invalid filesystem option set: {list}"
                )));
            };
            if on {
                *self.word(w) |= bit;
            } else {
                *self.word(w) &= !bit;
            }
        }
        Ok(())
    }

    /// The first feature set here that rfish cannot create.
    pub fn unsupported(&self) -> Option<&'static str> {
        FEATURES.iter().find_map(|&(name, w, bit, ok)| {
            let set = match w {
                Word::Compat => self.compat,
                Word::Incompat => self.incompat,
                Word::RoCompat => self.ro_compat,
            };
            (!ok && set & bit != 0).then_some(name)
        })
    }
}

/// The filesystem type asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsKind {
    /// ext2: no journal.
    Ext2,
    /// ext3: has_journal.
    Ext3,
    /// ext4: extents, flex_bg, metadata_csum, 64bit, ...
    Ext4,
}

impl FsKind {
    /// `ext2`, `ext3` or `ext4`.
    pub fn parse(name: &str) -> Option<FsKind> {
        match name {
            "ext2" => Some(FsKind::Ext2),
            "ext3" => Some(FsKind::Ext3),
            "ext4" => Some(FsKind::Ext4),
            _ => None,
        }
    }

    /// mke2fs.conf's `base_features` plus the type's `features`.
    pub fn default_features(self) -> Features {
        let mut f = Features {
            compat: COMPAT_EXT_ATTR | COMPAT_RESIZE_INODE | COMPAT_DIR_INDEX,
            incompat: INCOMPAT_FILETYPE,
            ro_compat: RO_COMPAT_SPARSE_SUPER | RO_COMPAT_LARGE_FILE,
        };
        if self != FsKind::Ext2 {
            f.compat |= COMPAT_HAS_JOURNAL;
        }
        if self == FsKind::Ext4 {
            f.incompat |= INCOMPAT_EXTENTS | INCOMPAT_FLEX_BG | INCOMPAT_64BIT;
            f.ro_compat |= RO_COMPAT_HUGE_FILE
                | RO_COMPAT_METADATA_CSUM
                | RO_COMPAT_DIR_NLINK
                | RO_COMPAT_EXTRA_ISIZE;
        }
        f
    }
}

/// mke2fs.conf's usage types: (name, block size or 0 for the default, bytes per inode).
const USAGE_TYPES: &[(&str, u32, u64)] = &[
    ("floppy", 1024, 8192),
    ("small", 1024, 4096),
    ("default", 4096, 16384),
    ("big", 4096, 32768),
    ("huge", 4096, 65536),
    ("news", 4096, 4096),
    ("largefile", 4096, 1048576),
    ("largefile4", 4096, 4194304),
];

/// The usage type mke2fs picks from the size in bytes.
pub fn usage_type_for(bytes: u64) -> &'static str {
    const MIB: u64 = 1 << 20;
    if bytes < 3 * MIB {
        "floppy"
    } else if bytes < 512 * MIB {
        "small"
    } else if bytes < 4 << 40 {
        "default"
    } else if bytes < 16 << 40 {
        "big"
    } else {
        "huge"
    }
}

/// Block size and bytes per inode of a usage type.
pub fn usage_type(name: &str) -> Result<(u32, u64), MkfsError> {
    USAGE_TYPES
        .iter()
        .find(|t| t.0 == name)
        .map(|t| (t.1, t.2))
        .ok_or_else(|| MkfsError::Usage(format!("invalid usage type: {name}")))
}

/// ext2fs_default_journal_size: the journal's blocks for a filesystem of `blocks` blocks,
/// `None` when it is too small for one (under 2048 blocks).
pub fn default_journal_blocks(blocks: u64) -> Option<u64> {
    Some(match blocks {
        0..2048 => return None,
        2048..32768 => 1024,
        32768..262144 => 4096,
        262144..524288 => 8192,
        524288..4194304 => 16384,
        4194304..8388608 => 32768,
        8388608..16777216 => 65536,
        16777216..33554432 => 131072,
        _ => 262144,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feature_edits_follow_mke2fs_names() {
        let mut f = FsKind::Ext4.default_features();
        f.edit("^has_journal,^metadata_csum uninit_bg").unwrap();
        assert!(!f.compat(COMPAT_HAS_JOURNAL));
        assert!(!f.ro_compat(RO_COMPAT_METADATA_CSUM));
        assert!(f.ro_compat(RO_COMPAT_GDT_CSUM));
        assert!(f.edit("warp_drive").is_err());
        f.edit("inline_data").unwrap();
        assert_eq!(f.unsupported(), Some("inline_data"));
    }

    #[test]
    fn usage_types_and_journal_sizes_follow_mke2fs_conf() {
        assert_eq!(usage_type_for(2 << 20), "floppy");
        assert_eq!(usage_type_for(64 << 20), "small");
        assert_eq!(usage_type_for(1 << 30), "default");
        assert_eq!(default_journal_blocks(2047), None);
        assert_eq!(default_journal_blocks(65536), Some(4096));
        assert_eq!(default_journal_blocks(262144), Some(8192));
    }
}
