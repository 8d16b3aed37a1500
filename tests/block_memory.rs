//! Memory stays bounded on huge sparse images: a 1 PiB qcow2 is created, written and read
//! by rfish processes whose peak resident memory (getrusage of the waited-for children;
//! this test binary starts no other children) stays small.

mod common;

use common::rfish;
use nix::sys::resource::{UsageWho, getrusage};

#[test]
fn a_petabyte_image_is_handled_in_a_few_megabytes() {
    let dir = tempfile::tempdir().expect("tmp");
    let run = |args: &[&str], script: &str| {
        let mut cmd = rfish();
        cmd.current_dir(dir.path()).args(args);
        common::run_with_stdin(cmd, script)
    };
    let r = run(&[], "disk-create huge.qcow2 qcow2 1P\n");
    assert_eq!(r.stderr, "");
    let r = run(
        &["-a", "huge.qcow2"],
        "pwrite-device /dev/sda hello 562949953421312\nblockdev-getsize64 /dev/sda\n",
    );
    assert_eq!(
        (r.stdout.as_str(), r.stderr.as_str()),
        ("5\n1125899906842624\n", "")
    );
    let r = run(
        &["--ro", "-a", "huge.qcow2"],
        "pread-device /dev/sda 5 562949953421312\necho\npread-device /dev/sda 5 1125899906842619 | od -An -c\n",
    );
    assert_eq!(
        r.stdout, "hello\n  \\0  \\0  \\0  \\0  \\0\n",
        "{}",
        r.stderr
    );
    let usage = getrusage(UsageWho::RUSAGE_CHILDREN).expect("getrusage");
    let peak_kib = usage.max_rss();
    assert!(peak_kib < 24 * 1024, "peak RSS {peak_kib} KiB");
    eprintln!("peak RSS of rfish on a 1 PiB image: {peak_kib} KiB");
}
