//! Crash safety (../shared/design.md, invariant 4): rfish is killed with SIGKILL at
//! assorted moments of a write workload; every image left behind must pass
//! `qemu-img check` without corruption (leaked clusters are allowed), and every write
//! rfish reported as done must be in it.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::qemu::{self, qemu_img};
use common::rfish;

const SLOT: u64 = 4096;

/// Printable, distinct content for write number `i`.
fn slot_data(i: usize) -> Vec<u8> {
    qemu::pattern(SLOT as usize, i as u64 + 1)
        .into_iter()
        .map(|b| b'a' + b % 26)
        .collect()
}

fn run_and_kill(img: &Path, slots: &[u64], kill_after: Duration) -> usize {
    let mut child = rfish()
        .args(["-a"])
        .arg(img)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn rfish");
    let mut stdin = child.stdin.take().expect("stdin");
    let script: Vec<u8> = slots
        .iter()
        .enumerate()
        .flat_map(|(i, &slot)| {
            let mut line = b"pwrite-device /dev/sda \"".to_vec();
            line.extend(slot_data(i));
            line.extend(format!("\" {}\n", slot * SLOT).into_bytes());
            line
        })
        .collect();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&script);
    });
    let done = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&done);
    let stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if line.is_err() {
                break;
            }
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });
    std::thread::sleep(kill_after);
    let reported = done.load(Ordering::SeqCst);
    child.kill().expect("kill");
    child.wait().expect("wait");
    let _ = writer.join();
    let _ = reader.join();
    reported
}

#[test]
fn killing_rfish_mid_write_never_corrupts_the_image() {
    let dir = tempfile::tempdir().expect("tmp");
    let base = dir.path().join("base.qcow2");
    let raw = dir.path().join("base.raw");
    qemu::islands_raw(&raw, 32 << 20, 3);
    qemu_img(&[
        "convert",
        "-c",
        "-O",
        "qcow2",
        raw.to_str().expect("utf-8"),
        base.to_str().expect("utf-8"),
    ]);
    let configs: &[(&str, &[&str])] = &[
        // Tiny clusters: new L2 tables, refcount blocks and refcount table growth all the time.
        ("512", &["-o", "cluster_size=512", "IMG", "32M"]),
        ("v2", &["-o", "compat=0.10", "IMG", "32M"]),
        ("backing", &["-b", "base.qcow2", "-F", "qcow2", "IMG"]),
    ];
    let delays = [40u64, 150, 400, 900];
    let slots_total = (32 << 20) / SLOT;
    let mut mid_workload = 0;
    for (name, opts) in configs {
        for (round, &delay) in delays.iter().enumerate() {
            let img = dir.path().join(format!("{name}-{round}.qcow2"));
            let mut args = vec!["create", "-f", "qcow2"];
            for o in *opts {
                args.push(if *o == "IMG" {
                    img.to_str().expect("utf-8")
                } else {
                    o
                });
            }
            qemu_img(&args);
            // Distinct slots in a scattered order.
            let slots: Vec<u64> = (0..1500u64)
                .map(|i| (i * 7919 + round as u64 * 104_729) % slots_total)
                .collect();
            let reported = run_and_kill(&img, &slots, Duration::from_millis(delay));
            eprintln!(
                "{name} round {round}: killed after {reported} of {} writes",
                slots.len()
            );
            if reported > 0 && reported < slots.len() {
                mid_workload += 1;
            }
            let (code, text) = qemu::check(&img);
            assert!(
                code == 0 || code == 3,
                "{name} round {round}: corruption after kill at {delay} ms ({reported} writes reported):\n{text}"
            );
            let bytes = qemu::to_raw_bytes(&img, dir.path());
            for (i, &slot) in slots.iter().enumerate().take(reported) {
                let at = (slot * SLOT) as usize;
                assert!(
                    bytes[at..at + SLOT as usize] == slot_data(i)[..],
                    "{name} round {round}: reported write {i} is missing"
                );
            }
        }
    }
    // The test means something only if the kills landed in the middle of the work.
    assert!(
        mid_workload >= configs.len() * delays.len() / 2,
        "only {mid_workload} kills landed mid-workload"
    );
}

/// Run `script` on `img` with rfish told to stop before write `limit`; the image must
/// pass `qemu-img check` (leaks allowed) and, if the run completed, without leaks.
/// Returns whether it completed.
fn stopped_run_is_consistent(dir: &Path, img: &Path, limit: u64, script: &str) -> bool {
    let mut cmd = rfish();
    cmd.current_dir(dir)
        .env("RFISH_CRASH_AFTER_WRITES", limit.to_string())
        .args(["-a"])
        .arg(img);
    let r = common::run_with_stdin(cmd, script);
    let (code, text) = qemu::check(img);
    assert!(
        code == 0 || code == 3,
        "stopped before write {limit}: corruption:\n{text}"
    );
    if r.status == 0 {
        assert_eq!(code, 0, "a completed run leaks: {text}");
    }
    r.status == 0
}

/// Stop rfish at every single write of a workload in turn (the RFISH_CRASH_AFTER_WRITES
/// hook aborts the process there): new L2 tables, new refcount blocks, refcount table
/// growth, copy-on-write from a compressed backing file, zero clusters freeing data.
#[test]
fn stopping_at_every_write_point_never_corrupts_the_image() {
    let dir = tempfile::tempdir().expect("tmp");
    let raw = dir.path().join("base.raw");
    qemu::islands_raw(&raw, 2 << 20, 9);
    let base = dir.path().join("base.qcow2");
    qemu_img(&[
        "convert",
        "-c",
        "-O",
        "qcow2",
        "-o",
        "cluster_size=512",
        raw.to_str().expect("utf-8"),
        base.to_str().expect("utf-8"),
    ]);
    let mut script = String::new();
    let mut model = std::fs::read(&raw).expect("read base");
    let line = |script: &mut String, model: &mut Vec<u8>, i: usize, at: u64| {
        let data = slot_data(i);
        script.push_str(&format!(
            "pwrite-device /dev/sda \"{}\" {at}\n",
            String::from_utf8_lossy(&data[..1500])
        ));
        model[at as usize..at as usize + 1500].copy_from_slice(&data[..1500]);
    };
    for i in 0..6 {
        line(
            &mut script,
            &mut model,
            i,
            (i as u64 * 347_911) % ((2 << 20) - 2000),
        );
    }
    script.push_str("zero-device /dev/sda\n");
    model.fill(0);
    for i in 6..10 {
        line(
            &mut script,
            &mut model,
            i,
            (i as u64 * 211_013) % ((2 << 20) - 2000),
        );
    }
    let mut completed = false;
    for limit in 0..5000 {
        let img = dir.path().join("top.qcow2");
        qemu_img(&[
            "create",
            "-f",
            "qcow2",
            "-o",
            "cluster_size=512",
            "-b",
            "base.qcow2",
            "-F",
            "qcow2",
            img.to_str().expect("utf-8"),
        ]);
        if stopped_run_is_consistent(dir.path(), &img, limit, &script) {
            let model_path = dir.path().join("model.raw");
            std::fs::write(&model_path, &model).expect("write model");
            let (code, text) = qemu::compare(&model_path, "raw", &img, "qcow2");
            assert_eq!(code, 0, "{text}");
            eprintln!("workload complete after {limit} write points");
            completed = true;
            break;
        }
    }
    assert!(completed, "the workload never completed");
}

/// The same with the refcount table growing (64-bit refcounts and 512-byte clusters make
/// its first cluster cover only 2 MiB of file), stopping at every 29th write point.
#[test]
fn stopping_during_refcount_table_growth_never_corrupts_the_image() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = qemu::pattern(3 << 20, 17);
    std::fs::write(dir.path().join("in.bin"), &data).expect("write input");
    let mut completed = false;
    for limit in (0..100_000).step_by(29) {
        let img = dir.path().join("grow.qcow2");
        qemu_img(&[
            "create",
            "-f",
            "qcow2",
            "-o",
            "cluster_size=512,refcount_bits=64",
            img.to_str().expect("utf-8"),
            "4M",
        ]);
        if stopped_run_is_consistent(dir.path(), &img, limit, "upload in.bin /dev/sda\n") {
            let bytes = qemu::to_raw_bytes(&img, dir.path());
            assert!(bytes[..data.len()] == data[..] && bytes[data.len()..].iter().all(|&b| b == 0));
            let info = qemu_img(&["info", "--output=json", img.to_str().expect("utf-8")]);
            assert!(info.contains("\"refcount-bits\": 64"), "{info}");
            completed = true;
            break;
        }
    }
    assert!(completed, "the workload never completed");
}
