//! Filesystems. `ext4` is rfish's native ext2/3/4 driver (read side first); the
//! Filesystem trait and the VFS arrive with it (issue 5).

pub mod ext4;
