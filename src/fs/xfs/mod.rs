//! XFS: what rfish reads natively (the superblock, for `xfs-info` and probing). Files on
//! XFS are read and written by the appliance's kernel (`crate::appliance::remote`).

pub mod superblock;
