//! The native ext2/3/4 driver, one on-disk structure per file (the kernel's
//! Documentation/filesystems/ext4/ is the reference): `superblock`, `group_desc`, `inode`,
//! `extent` (extent trees), `blockmap` (ext2/3 indirect blocks), `dir` (linear directory
//! blocks), `htree` + `dirhash` (hashed directory indexes), `xattr`, `journal` (jbd2 replay
//! into memory). Every value read from the image is checked before use; checksums
//! (metadata_csum's crc32c, the older gdt_csum crc16) are verified.

pub mod alloc;
pub mod blockmap;
pub mod blockmap_write;
pub mod casefold;
pub mod checksum;
pub mod dir;
pub mod dir_write;
pub mod dirhash;
pub mod extent;
pub mod extent_write;
pub mod fs;
pub mod group_desc;
pub mod htree;
pub mod inline_write;
pub mod inode;
pub mod inode_write;
pub mod journal;
pub mod jwrite;
pub mod min_size;
pub mod mkfs;
pub mod ops;
pub mod superblock;
pub mod tune;
pub mod txn;
pub mod unicode_12_1;
pub mod xattr;
pub mod xattr_write;

pub use fs::Ext4;
