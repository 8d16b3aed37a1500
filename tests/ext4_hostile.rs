//! Damaged ext2/3/4 images: thousands of random byte changes in the metadata area of real
//! filesystems (superblock, descriptors, bitmaps, inode tables, directories, extent and
//! indirect blocks, xattr blocks), each followed by a full walk that reads every file,
//! link and attribute. Every case must end in data or an error — never a panic, a hang or
//! a runaway allocation. Corruption is applied in memory (an overlay), so cases are cheap.

mod common;

use common::Rng;

use std::sync::Arc;
use std::time::{Duration, Instant};

use rfish::block::overlay::MemOverlay;
use rfish::block::{self, BlockDev, Device, OpenOptions};
use rfish::fs::ext4::Ext4;
use rfish::fs::vfs::{Mount, Vfs};
use rfish::fs::{FileType, Filesystem};

/// How far a damaged image got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Reached {
    /// Refused at open (superblock, descriptors, journal).
    Refused,
    /// Opened, but the walk met damage.
    WalkFailed,
    /// Walked completely (reads of single files may still have failed).
    Walked,
}

/// Open, walk and read everything; any error is fine, returning is what counts.
fn exercise(dev: Device) -> Reached {
    let Ok(fs) = Ext4::open(dev) else {
        return Reached::Refused;
    };
    let _ = fs.statvfs();
    let _ = rfish::fs::ext4::min_size::minimum_blocks(&fs);
    let mut vfs = Vfs::default();
    let fs: Arc<dyn Filesystem> = Arc::new(fs);
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
        return Reached::Refused;
    }
    let Ok(root) = vfs.root() else {
        return Reached::Refused;
    };
    let Ok(all) = vfs.walk(&root, b"") else {
        return Reached::WalkFailed;
    };
    let mut buf = vec![0u8; 1 << 20];
    for (rel, node) in all.iter().take(20_000) {
        let fs = vfs.fs(node);
        let Ok(st) = fs.stat(node.ino) else { continue };
        let _ = fs.xattrs(node.ino);
        match st.file_type() {
            FileType::Regular => {
                let _ = fs.read(node.ino, 0, &mut buf);
                let _ = fs.read(node.ino, st.size.saturating_sub(100), &mut buf[..100]);
            }
            FileType::Symlink => {
                let _ = fs.read_link(node.ino);
                let _ = vfs.resolve(&String::from_utf8_lossy(rel), true);
            }
            _ => {}
        }
    }
    Reached::Walked
}

fn fuzz(image: &str, cases: u64, seed: u64) {
    let fx = common::fixtures("ext4-fixtures.sh");
    let base = block::open_image(
        &fx.join(image),
        &OpenOptions {
            format: Some(block::ImageFormat::Raw),
            read_only: true,
            lock: false,
        },
    )
    .expect("open");
    // The metadata lives in the first 2 MiB (descriptors, bitmaps, the first inode
    // tables, the root directories) of these images; half the changes go to the first
    // 600 KiB, where the inode table and directories of the fixture tree sit.
    let span = base.size().min(2 << 20);
    let mut rng = Rng(seed);
    let mut reached = std::collections::HashMap::new();
    for case in 0..cases {
        let overlay = MemOverlay::new(base.clone());
        let changes = 1 + rng.next() % 16;
        for _ in 0..changes {
            let at = if rng.next() % 2 == 0 {
                rng.next() % (600 << 10)
            } else {
                rng.next() % span
            };
            let byte = [rng.next() as u8];
            overlay.write_at(&byte, at).expect("overlay write");
        }
        let start = Instant::now();
        let result =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| exercise(Arc::new(overlay))));
        let Ok(r) = result else {
            panic!("{image}: case {case} (seed {seed}) panicked");
        };
        *reached.entry(r).or_insert(0u64) += 1;
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{image}: case {case} (seed {seed}) took {:?}",
            start.elapsed()
        );
    }
    // The damage must reach the parsers, not only the superblock checks.
    let walked = reached.get(&Reached::Walked).copied().unwrap_or(0);
    eprintln!("{image}: {reached:?}");
    assert!(
        walked * 4 >= cases,
        "{image}: only {walked} of {cases} cases got past open"
    );
}

#[test]
fn damaged_ext2_images_never_panic_or_hang() {
    fuzz("ext2.img", 1000, 0x9e37_79b9_7f4a_7c15);
}

#[test]
fn damaged_ext4_images_never_panic_or_hang() {
    fuzz("ext4.img", 200, 0x2545_f491_4f6c_dd1d);
}

#[test]
fn damaged_inline_data_images_never_panic_or_hang() {
    fuzz("inline.img", 200, 0x1234_5678_9abc_def1);
}

#[test]
fn damaged_ext3_images_never_panic_or_hang() {
    fuzz("ext3.img", 200, 0x0bad_cafe_dead_beef);
}

#[test]
fn damaged_casefold_images_never_panic_or_hang() {
    fuzz("casefold.img", 200, 0x0c0f_fee0_1234_5678);
}
