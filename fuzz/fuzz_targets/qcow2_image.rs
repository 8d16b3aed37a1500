//! Arbitrary bytes as a qcow2 image: opening, reading every byte, the allocation map, a
//! write, zeroing and a flush must end in data or an error — never a panic, a hang or an
//! unbounded allocation.
//! Run: RUSTC_BOOTSTRAP=1 cargo fuzz run qcow2_image -- -max_len=262144

#![no_main]

use std::io::Write;

use libfuzzer_sys::fuzz_target;
use rfish::block::{ImageFormat, OpenOptions, open_image};

fuzz_target!(|data: &[u8]| {
    let Ok(mut file) = tempfile::NamedTempFile::new_in("/dev/shm") else {
        return;
    };
    if file.write_all(data).is_err() {
        return;
    }
    let opts = OpenOptions {
        format: Some(ImageFormat::Qcow2),
        read_only: false,
        lock: false,
    };
    let Ok(dev) = open_image(file.path(), &opts) else {
        return;
    };
    let size = dev.size().min(1 << 22);
    let mut buf = vec![0u8; 65536];
    let mut at = 0;
    while at < size {
        let n = (size - at).min(buf.len() as u64) as usize;
        if dev.read_at(&mut buf[..n], at).is_err() {
            break;
        }
        at += n as u64;
    }
    let mut at = 0;
    for _ in 0..4096 {
        match dev.block_status(at, size.saturating_sub(at)) {
            Ok((n, _)) if at < size => at += n,
            _ => break,
        }
    }
    let _ = dev.write_at(&[1, 2, 3], size / 3);
    let _ = dev.write_zeroes(0, size.min(1 << 20));
    let _ = dev.flush();
});
