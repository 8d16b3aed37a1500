//! Arbitrary bytes as an ext2/3/4 filesystem: opening (with journal replay), walking the
//! whole tree, reading every file, link and attribute must end in data or an error —
//! never a panic, a hang or an unbounded allocation. Seed it with small mkfs.ext4 -d
//! images for coverage.
//! Run: RUSTC_BOOTSTRAP=1 cargo fuzz run ext4_image -- -max_len=1048576

#![no_main]

use std::io::Write;
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use rfish::block::{ImageFormat, OpenOptions, open_image};
use rfish::fs::ext4::Ext4;
use rfish::fs::vfs::{Mount, Vfs};
use rfish::fs::{FileType, Filesystem};

fuzz_target!(|data: &[u8]| {
    let Ok(mut file) = tempfile::NamedTempFile::new_in("/dev/shm") else {
        return;
    };
    if file.write_all(data).is_err() {
        return;
    }
    let opts = OpenOptions {
        format: Some(ImageFormat::Raw),
        read_only: true,
        lock: false,
    };
    let Ok(dev) = open_image(file.path(), &opts) else {
        return;
    };
    let Ok(fs) = Ext4::open(dev) else {
        return;
    };
    let _ = fs.statvfs();
    let fs: Arc<dyn Filesystem> = Arc::new(fs);
    let mut vfs = Vfs::default();
    if vfs
        .mount(Mount {
            device: "/dev/sda".into(),
            mountpoint: "/".into(),
            fs,
            read_only: true,
            options: String::new(),
        })
        .is_err()
    {
        return;
    }
    let Ok(root) = vfs.root() else { return };
    let Ok(all) = vfs.walk(&root, b"") else { return };
    let mut buf = vec![0u8; 65536];
    for (rel, node) in all.iter().take(4096) {
        let fs = vfs.fs(node);
        let Ok(st) = fs.stat(node.ino) else { continue };
        let _ = fs.xattrs(node.ino);
        match st.file_type() {
            FileType::Regular => {
                let _ = fs.read(node.ino, 0, &mut buf);
            }
            FileType::Symlink => {
                let _ = fs.read_link(node.ino);
                let _ = vfs.resolve(&String::from_utf8_lossy(rel), true);
            }
            _ => {}
        }
    }
});
