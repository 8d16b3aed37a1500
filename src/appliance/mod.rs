//! The appliance: a minimal Linux guest rfish boots (only) for what needs a running guest
//! kernel — `command`, `sh` and friends. rfish writes its initramfs itself (the agent, the
//! kernel modules, a few host programs), starts QEMU directly with the drives exported over
//! NBD from rfish's own block layer, and speaks a small framed protocol with the agent over
//! a virtio-serial port.

pub mod agent;
pub mod build;
pub mod cpio;
pub mod fsproto;
pub mod kofile;
pub mod launch;
pub mod libs;
pub mod link;
pub mod modules;
pub mod proto;
pub mod remote;
