//! The native ext2/3/4 driver, one on-disk structure per file (the kernel's
//! Documentation/filesystems/ext4/ is the reference): `superblock`, `group_desc`.
//! Every value read from the image is checked before use; checksums (metadata_csum's
//! crc32c, the older gdt_csum crc16) are verified.

pub mod checksum;
pub mod group_desc;
pub mod superblock;
