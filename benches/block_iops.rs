//! 4 KiB requests through rfish's `BlockDev`, at the offsets `qemu-img bench -S STEP`
//! uses (offset += STEP, modulo the image size), one at a time (queue depth 1).
//! Prints "OPS ops/s". Driven by benches/block_iops.sh, which runs `qemu-img bench` on the
//! same image in the same run and prints the ratio.
//!
//! Usage: cargo bench --bench block_iops -- IMAGE read|write COUNT STEP

use std::path::Path;
use std::time::Instant;

use rfish::block::{OpenOptions, open_image};

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    if args.len() != 4 {
        eprintln!("usage: block_iops IMAGE read|write COUNT STEP");
        std::process::exit(2);
    }
    let write = args[1] == "write";
    let count: u64 = args[2].parse().expect("COUNT");
    let step: u64 = args[3].parse().expect("STEP");
    let dev = open_image(
        Path::new(&args[0]),
        &OpenOptions {
            format: None,
            read_only: !write,
            lock: true,
        },
    )
    .expect("open image");
    let size = dev.size();
    let mut buf = vec![0xa5u8; 4096];
    let mut offset = 0u64;
    let start = Instant::now();
    for _ in 0..count {
        if write {
            dev.write_at(&buf, offset).expect("write");
        } else {
            dev.read_at(&mut buf, offset).expect("read");
        }
        offset = (offset + step) % size;
    }
    dev.flush().expect("flush");
    let secs = start.elapsed().as_secs_f64();
    println!("{:.0} ops/s", count as f64 / secs);
}
