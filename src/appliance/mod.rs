//! The appliance (issue 8, in progress): what rfish needs to boot a minimal Linux guest for
//! `command`/`sh` — the initramfs it writes itself and the kernel modules it carries.

pub mod build;
pub mod cpio;
pub mod modules;
