//! Partition tables made by sfdisk, read by rfish: the same partitions sfdisk lists, the
//! same answers as guestfish, and clear errors for damaged tables.

mod common;

use std::path::Path;
use std::process::Command;

use common::{guestfish, guestfish_errors_as_rfish, mask_drive_letters, rfish, run_with_stdin};

fn sfdisk(img: &Path, script: &str, extra: &[&str]) {
    let mut cmd = Command::new("sfdisk");
    cmd.arg("-q").args(extra).arg(img);
    let r = run_with_stdin(cmd, script);
    assert_eq!(r.status, 0, "sfdisk: {}", r.stderr);
}

/// `sfdisk --dump` lines as (number, start sector, size in sectors, rest of the line).
fn dump(target: &Path) -> Vec<(u32, u64, u64, String)> {
    let out = Command::new("sfdisk")
        .arg("--dump")
        .arg(target)
        .output()
        .expect("sfdisk --dump");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines()
        .filter(|l| l.contains(" : start="))
        .map(|l| {
            let (dev, rest) = l.split_once(" : ").expect("dump line");
            let digits = dev.trim_end().len()
                - dev
                    .trim_end()
                    .trim_end_matches(|c: char| c.is_ascii_digit())
                    .len();
            let num = &dev.trim_end()[dev.trim_end().len() - digits..];
            let field = |key: &str| {
                rest.split(", ")
                    .find_map(|f| f.trim().strip_prefix(key))
                    .map(str::trim)
                    .unwrap_or("")
                    .to_string()
            };
            (
                num.parse().expect("number"),
                field("start=").parse().expect("start"),
                field("size=").parse().expect("size"),
                rest.to_string(),
            )
        })
        .collect()
}

fn field(rest: &str, key: &str) -> String {
    rest.split(", ")
        .find_map(|f| f.trim().strip_prefix(key))
        .map(|v| v.trim().trim_matches('"').to_string())
        .unwrap_or_default()
}

fn rfish_on(dir: &Path, images: &[&str], script: &str) -> common::Run {
    let mut cmd = rfish();
    cmd.current_dir(dir);
    for i in images {
        cmd.args(["-a", i]);
    }
    run_with_stdin(cmd, script)
}

/// A 4096-byte-sector GPT, made by sfdisk on a loop device with 4 KiB sectors (root
/// only); returns what sfdisk dumps, or `None` where no loop device can be made.
fn make_gpt4k(img: &Path) -> Option<Vec<(u32, u64, u64, String)>> {
    let out = Command::new("losetup")
        .args(["-f", "--show", "-b", "4096"])
        .arg(img)
        .output()
        .ok()?;
    let dev = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() || dev.is_empty() {
        eprintln!("no loop device: 4096-byte-sector case skipped");
        return None;
    }
    let dev = Path::new(&dev).to_path_buf();
    let mut cmd = Command::new("sfdisk");
    cmd.arg("-q").arg(&dev);
    let r = run_with_stdin(
        cmd,
        "label: gpt\nstart=256, size=2048, name=\"four k\"\nstart=4096, size=4096\n",
    );
    let dumped = dump(&dev);
    Command::new("losetup").arg("-d").arg(&dev).status().ok();
    assert!(
        dumped.len() == 2,
        "sfdisk on {}: {}",
        dev.display(),
        r.stderr
    );
    Some(dumped)
}

fn make_disks(dir: &Path) {
    let mbr = dir.join("mbr.img");
    let gpt = dir.join("gpt.img");
    let gpt4k = dir.join("gpt4k.img");
    for (img, size) in [(&mbr, 64u64 << 20), (&gpt, 64 << 20), (&gpt4k, 64 << 20)] {
        std::fs::File::create(img)
            .expect("create")
            .set_len(size)
            .expect("size");
    }
    sfdisk(
        &mbr,
        "label: dos\nlabel-id: 0x12345678\n\
         start=2048, size=8192, type=83, bootable\n\
         start=10240, size=8192, type=7\n\
         start=18432, size=8192, type=c\n\
         start=26624, size=100000, type=5\n\
         start=28672, size=10000, type=83\n\
         start=40960, size=10000, type=82\n\
         start=53248, size=20000, type=8e\n",
        &[],
    );
    let mut gpt_script =
        String::from("label: gpt\nlabel-id: 0D4E0B1E-4F0C-4B5B-9C55-5C1F1E0F3A11\n");
    gpt_script.push_str("start=2048, size=20480, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name=\"EFI System\", uuid=11111111-2222-3333-4444-555555555555\n");
    gpt_script.push_str("start=22528, size=40960, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name=\"root fs\", attrs=\"LegacyBIOSBootable\"\n");
    gpt_script.push_str(
        "start=63488, size=20480, type=0657FD6D-A4AB-43C4-84E5-0933C84B4F4F, name=\"swap\"\n",
    );
    sfdisk(&gpt, &gpt_script, &[]);
    let _ = gpt4k;
}

#[test]
fn partitions_are_what_sfdisk_says() {
    let dir = tempfile::tempdir().expect("tmp");
    make_disks(dir.path());
    let four_k = make_gpt4k(&dir.path().join("gpt4k.img"));
    for (img, ss) in [("mbr.img", 512u64), ("gpt.img", 512), ("gpt4k.img", 4096)] {
        let want = if img == "gpt4k.img" {
            match &four_k {
                Some(d) => d.clone(),
                None => continue,
            }
        } else {
            dump(&dir.path().join(img))
        };
        assert!(!want.is_empty());
        let mut script = String::from("part-list /dev/sda\npart-get-parttype /dev/sda\n");
        for (n, ..) in &want {
            script.push_str(&format!("part-get-mbr-part-type /dev/sda {n}\n"));
            if img == "mbr.img" {
                script.push_str(&format!(
                    "part-get-mbr-id /dev/sda {n}\npart-get-bootable /dev/sda {n}\n"
                ));
            } else {
                script.push_str(&format!(
                    "part-get-gpt-type /dev/sda {n}\npart-get-gpt-guid /dev/sda {n}\npart-get-name /dev/sda {n}\n"
                ));
            }
        }
        let r = rfish_on(dir.path(), &[img], &script);
        assert_eq!(r.stderr, "", "{img}");
        let mut expected = String::new();
        for (i, (n, start, size, _)) in want.iter().enumerate() {
            expected.push_str(&format!(
                "[{i}] = {{\n  part_num: {n}\n  part_start: {}\n  part_end: {}\n  part_size: {}\n}}\n",
                start * ss,
                (start + size) * ss - 1,
                size * ss
            ));
        }
        expected.push_str(if img == "mbr.img" { "msdos\n" } else { "gpt\n" });
        for (n, _, _, rest) in &want {
            let t = field(rest, "type=");
            let kind = match (img, *n, t.as_str()) {
                ("mbr.img", 5.., _) => "logical",
                ("mbr.img", _, "5") => "extended",
                _ => "primary",
            };
            expected.push_str(&format!("{kind}\n"));
            if img == "mbr.img" {
                expected.push_str(&format!("0x{t}\n{}\n", rest.contains("bootable")));
            } else {
                expected.push_str(&format!(
                    "{t}\n{}\n{}\n",
                    field(rest, "uuid="),
                    field(rest, "name=")
                ));
            }
        }
        assert_eq!(r.stdout, expected, "{img}");
    }
    let r = rfish_on(
        dir.path(),
        &["mbr.img", "gpt.img"],
        "list-partitions\nblockdev-getsize64 /dev/sda4\nblockdev-getsize64 /dev/sda5\nblockdev-getsize64 /dev/vdb3\n",
    );
    assert_eq!(
        r.stdout,
        "/dev/sda1\n/dev/sda2\n/dev/sda3\n/dev/sda4\n/dev/sda5\n/dev/sda6\n/dev/sda7\n/dev/sdb1\n/dev/sdb2\n/dev/sdb3\n1024\n5120000\n10485760\n"
    );
}

#[test]
fn partitions_are_windows_onto_their_drive() {
    let dir = tempfile::tempdir().expect("tmp");
    make_disks(dir.path());
    let r = rfish_on(
        dir.path(),
        &["gpt.img"],
        "pwrite-device /dev/sda2 \"inside\" 0\n-pwrite-device /dev/sda2 \"xy\" 20971519\npread-device /dev/sda 6 11534336\n",
    );
    assert_eq!(r.stdout, "6\n1\ninside", "{}", r.stderr);
    // The one byte that fit is the partition's last; the next partition is untouched.
    let bytes = std::fs::read(dir.path().join("gpt.img")).expect("read");
    assert_eq!(bytes[11534336 + 20971519], b'x');
    assert_eq!(bytes[11534336 + 20971520], 0);
}

#[test]
fn read_commands_answer_like_guestfish() {
    let dir = tempfile::tempdir().expect("tmp");
    make_disks(dir.path());
    let script = "run\nlist-devices\nlist-partitions\npart-list /dev/sda\npart-list /dev/sdb\n\
        part-get-parttype /dev/sda\npart-get-parttype /dev/sdb\n\
        part-get-bootable /dev/sda 1\npart-get-bootable /dev/sda 2\npart-get-bootable /dev/sdb 1\npart-get-bootable /dev/sdb 2\n\
        part-get-mbr-id /dev/sda 1\npart-get-mbr-id /dev/sda 3\npart-get-mbr-id /dev/sda 4\npart-get-mbr-id /dev/sda 7\n\
        part-get-mbr-part-type /dev/sda 1\npart-get-mbr-part-type /dev/sda 4\npart-get-mbr-part-type /dev/sda 5\npart-get-mbr-part-type /dev/sdb 1\n\
        -part-get-name /dev/sda 1\npart-get-name /dev/sdb 1\npart-get-name /dev/sdb 2\n\
        part-get-gpt-type /dev/sdb 1\npart-get-gpt-guid /dev/sdb 1\npart-get-gpt-attributes /dev/sdb 2\npart-get-gpt-attributes /dev/sdb 1\n\
        part-get-disk-guid /dev/sdb\n\
        part-to-dev /dev/sda5\npart-to-dev /dev/sdb3\npart-to-partnum /dev/sda5\n-part-to-partnum /dev/sda\n-part-to-dev /dev/sda\n\
        is-whole-device /dev/sda\nis-whole-device /dev/sda1\n\
        canonical-device-name /dev/vda2\ncanonical-device-name /dev/hdb\ncanonical-device-name /dev/xvda1\ncanonical-device-name /dev/mapper/foo\n\
        device-index /dev/sdb\n-device-index /dev/sdb1\n-part-list /dev/sda9\n-part-get-name /dev/sdb 9\n-part-get-bootable /dev/sda 9\n\
        -part-to-partnum /dev/sda9\nblockdev-getsize64 /dev/sda5\nblockdev-getsize64 /dev/sda4\nblockdev-getsize64 /dev/sdb3\n\
        pread-device /dev/sda4 16 0 | od -An -tx1\n";
    let got = rfish_on(dir.path(), &["mbr.img", "gpt.img"], script);
    let Some(mut gf) = guestfish() else {
        return;
    };
    gf.current_dir(dir.path())
        .args(["-a", "mbr.img", "-a", "gpt.img"]);
    let want = run_with_stdin(gf, script);
    assert_eq!(got.stdout, want.stdout);
    let want_err = guestfish_errors_as_rfish(&want.stderr);
    assert_eq!(
        mask_drive_letters(&got.stderr),
        mask_drive_letters(&want_err)
    );
    assert_eq!(got.status, 0);
}

const CRC32: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);

/// Rewrite the CRC of the GPT header at byte `at` (92-byte header).
fn fix_header_crc(img: &mut [u8], at: usize) {
    img[at + 16..at + 20].fill(0);
    let crc = CRC32.checksum(&img[at..at + 92]);
    img[at + 16..at + 20].copy_from_slice(&crc.to_le_bytes());
}

#[test]
fn damaged_tables_give_clear_errors_and_a_damaged_primary_gpt_falls_back_to_the_backup() {
    let dir = tempfile::tempdir().expect("tmp");
    make_disks(dir.path());
    let mbr = std::fs::read(dir.path().join("mbr.img")).expect("read");
    let gpt = std::fs::read(dir.path().join("gpt.img")).expect("read");
    let good = rfish_on(dir.path(), &["gpt.img"], "part-list /dev/sda\n");

    type Craft = Box<dyn Fn(&mut Vec<u8>)>;
    let cases: Vec<(&str, &Vec<u8>, Craft, &str)> = vec![
        (
            "gpt-count",
            &gpt,
            Box::new(|i| {
                i[512 + 80..512 + 84].copy_from_slice(&u32::MAX.to_le_bytes());
                fix_header_crc(i, 512);
                let last = i.len() - 512;
                i[last + 80..last + 84].copy_from_slice(&u32::MAX.to_le_bytes());
                fix_header_crc(i, last);
            }),
            "partition entries",
        ),
        (
            "gpt-entry-size",
            &gpt,
            Box::new(|i| {
                i[512 + 84..512 + 88].copy_from_slice(&256u32.to_le_bytes());
                fix_header_crc(i, 512);
                let last = i.len() - 512;
                i[last + 84..last + 88].copy_from_slice(&256u32.to_le_bytes());
                fix_header_crc(i, last);
            }),
            "entry size 256",
        ),
        (
            "mbr-beyond-disk",
            &mbr,
            Box::new(|i| {
                i[446 + 16 + 12..446 + 16 + 16].copy_from_slice(&0x0100_0000u32.to_le_bytes());
            }),
            "beyond the end of the disk",
        ),
        (
            "mbr-overlap",
            &mbr,
            Box::new(|i| {
                // Partition 2 starts inside partition 1.
                i[446 + 16 + 8..446 + 16 + 12].copy_from_slice(&4096u32.to_le_bytes());
            }),
            "overlap",
        ),
        (
            "ebr-loop",
            &mbr,
            Box::new(|i| {
                // The second EBR's "next" points back at the first.
                let second_ebr = 40960 - 2048;
                let at = second_ebr * 512 + 446 + 16 + 8;
                i[at..at + 4].copy_from_slice(&0u32.to_le_bytes());
                i[at..at + 4].copy_from_slice(&1u32.to_le_bytes());
            }),
            "EBR",
        ),
    ];
    for (name, base, craft, needle) in cases {
        let mut bytes = base.clone();
        craft(&mut bytes);
        let file = format!("{name}.img");
        std::fs::write(dir.path().join(&file), &bytes).expect("write");
        let r = rfish_on(
            dir.path(),
            &[&file],
            "part-list /dev/sda\nlist-partitions\n",
        );
        assert!(!r.stderr.contains("panicked"), "{name}: {}", r.stderr);
        assert_eq!(r.status, 1, "{name}: {}", r.stdout);
        assert!(r.stderr.contains(needle), "{name}: {}", r.stderr);
        eprintln!("{name}: {}", r.stderr.trim_end());
    }

    // A damaged primary entry array: the backup header and array are used instead.
    let mut bytes = gpt.clone();
    bytes[1024 + 200] ^= 0xff;
    std::fs::write(dir.path().join("primary-bad.img"), &bytes).expect("write");
    let r = rfish_on(dir.path(), &["primary-bad.img"], "part-list /dev/sda\n");
    assert_eq!(
        (r.stdout.as_str(), r.stderr.as_str()),
        (good.stdout.as_str(), "")
    );
}
