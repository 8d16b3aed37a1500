//! LVM2 volumes built by LVM's own tools (pvcreate, vgcreate, and vgcfgrestore of a
//! metadata file with two LVs, one in two segments — no device-mapper needed), read by
//! rfish: the LVs LVM reports, with the bytes of the physical extents `lvs` maps them to.

mod common;

use std::path::Path;
use std::process::Command;

use common::{rfish, run_with_stdin};

const LVM_CONFIG: &str = "devices { obtain_device_list_from_udev=0 use_devicesfile=0 } activation { udev_sync=0 udev_rules=0 }";

fn lvm(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .args(["--config", LVM_CONFIG])
        .output()
        .expect("lvm tool");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

const LVS: &str = "
	logical_volumes {
		lv1 {
			id = \"aaaaaa-bbbb-cccc-dddd-eeee-ffff-gggggg\"
			status = [\"READ\", \"WRITE\", \"VISIBLE\"]
			flags = []
			segment_count = 2
			segment1 {
				start_extent = 0
				extent_count = 8
				type = \"striped\"
				stripe_count = 1
				stripes = [\"pv0\", 0]
			}
			segment2 {
				start_extent = 8
				extent_count = 4
				type = \"striped\"
				stripe_count = 1
				stripes = [\"pv0\", 20]
			}
		}
		lv2 {
			id = \"aaaaaa-bbbb-cccc-dddd-eeee-ffff-hhhhhh\"
			status = [\"READ\", \"WRITE\", \"VISIBLE\"]
			flags = []
			segment_count = 1
			segment1 {
				start_extent = 0
				extent_count = 12
				type = \"striped\"
				stripe_count = 1
				stripes = [\"pv0\", 8]
			}
		}
	}
";

/// Build the disk; returns (PV byte offset of extent 0, lvs' (lv, first LV extent, PV
/// first extent, extent count) rows), or None without loop devices.
/// One `lvs` segment row: (LV, first LV extent, first PV extent, extents).
type SegmentRow = (String, u64, u64, u64);

fn build(dir: &Path) -> Option<(u64, Vec<SegmentRow>)> {
    let img = dir.join("lvm.img");
    std::fs::File::create(&img)
        .expect("create")
        .set_len(64 << 20)
        .expect("size");
    let mut cmd = Command::new("sfdisk");
    cmd.arg("-q").arg(&img);
    assert_eq!(
        run_with_stdin(cmd, "label: dos\nstart=2048, type=8e\n").status,
        0
    );
    let out = Command::new("losetup")
        .args(["-f", "--show", "-o", "1048576"])
        .arg(&img)
        .output()
        .ok()?;
    let dev = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() || dev.is_empty() {
        eprintln!("no loop device: LVM test skipped");
        return None;
    }
    let result = std::panic::catch_unwind(|| {
        lvm(&["pvcreate", "-q", &dev]);
        lvm(&["vgcreate", "-q", "-s", "1M", "testvg", &dev]);
        let backup = dir.join("vg.txt");
        lvm(&[
            "vgcfgbackup",
            "-q",
            "-f",
            backup.to_str().expect("utf-8"),
            "testvg",
        ]);
        let text = std::fs::read_to_string(&backup).expect("read backup");
        let pvs_at = text.find("physical_volumes").expect("pv section");
        let end = text[pvs_at..].find("\n\t}\n").expect("pv section end") + pvs_at + 4;
        std::fs::write(&backup, format!("{}{LVS}{}", &text[..end], &text[end..])).expect("write");
        let _ = Command::new("vgcfgrestore")
            .args([
                "-q",
                "-f",
                backup.to_str().expect("utf-8"),
                "testvg",
                "--config",
                LVM_CONFIG,
            ])
            .output();
        let pe_start: u64 = lvm(&[
            "pvs",
            "--noheadings",
            "--units",
            "b",
            "--nosuffix",
            "-o",
            "pe_start",
            &dev,
        ])
        .trim()
        .parse()
        .expect("pe_start");
        let rows = lvm(&[
            "lvs",
            "--noheadings",
            "-o",
            "lv_name,seg_start_pe,seg_pe_ranges",
            "testvg",
        ]);
        let map = rows
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                let range = f[2].rsplit(':').next().expect("range");
                let (a, b) = range.split_once('-').expect("a-b");
                let (a, b): (u64, u64) = (a.parse().expect("a"), b.parse().expect("b"));
                (f[0].to_string(), f[1].parse().expect("start"), a, b - a + 1)
            })
            .collect::<Vec<_>>();
        (pe_start, map)
    });
    Command::new("losetup").arg("-d").arg(&dev).status().ok();
    let (pe_start, map) = result.expect("LVM setup");
    Some((1048576 + pe_start, map))
}

#[test]
fn logical_volumes_are_the_extents_lvm_maps_them_to() {
    let dir = tempfile::tempdir().expect("tmp");
    let Some((pv_data, map)) = build(dir.path()) else {
        return;
    };
    assert_eq!(map.len(), 3, "{map:?}");
    let img = dir.path().join("lvm.img");
    let mut bytes = std::fs::read(&img).expect("read");
    const MIB: u64 = 1 << 20;
    // Every physical extent gets its own pattern; an ext4 filesystem goes onto lv2.
    for pe in 0..24u64 {
        let at = (pv_data + pe * MIB) as usize;
        for (i, b) in bytes[at..at + MIB as usize].iter_mut().enumerate() {
            *b = (pe as u8).wrapping_mul(31) ^ (i % 251) as u8;
        }
    }
    let fs = dir.path().join("fs.img");
    std::fs::File::create(&fs)
        .expect("fs")
        .set_len(12 * MIB)
        .expect("size");
    assert!(
        Command::new("mkfs.ext4")
            .args(["-q", "-L", "onlv"])
            .arg(&fs)
            .status()
            .expect("mkfs")
            .success()
    );
    let fs_bytes = std::fs::read(&fs).expect("read fs");
    let (_, _, lv2_pe, _) = map.iter().find(|m| m.0 == "lv2").expect("lv2").clone();
    let at = (pv_data + lv2_pe * MIB) as usize;
    bytes[at..at + fs_bytes.len()].copy_from_slice(&fs_bytes);
    std::fs::write(&img, &bytes).expect("write");

    let mut cmd = rfish();
    cmd.current_dir(dir.path()).args(["--ro", "-a", "lvm.img"]);
    let r = run_with_stdin(
        cmd,
        "pvs\nvgs\nlvs\nlist-filesystems\nvfs-type /dev/testvg/lv2\nvfs-label /dev/mapper/testvg-lv2\nis-lv /dev/testvg/lv1\nis-lv /dev/sda1\nblockdev-getsize64 /dev/testvg/lv1\ndownload /dev/testvg/lv1 lv1.bin\n",
    );
    assert_eq!(r.stderr, "");
    assert_eq!(
        r.stdout,
        "/dev/sda1\ntestvg\n/dev/testvg/lv1\n/dev/testvg/lv2\n/dev/testvg/lv1: unknown\n/dev/testvg/lv2: ext4\next4\nonlv\ntrue\nfalse\n12582912\n"
    );
    // guestfish (which activates the VG in its appliance) sees the same.
    if let Some(mut gf) = common::guestfish() {
        gf.current_dir(dir.path()).args(["--ro", "-a", "lvm.img"]);
        let want = run_with_stdin(
            gf,
            "run\npvs\nvgs\nlvs\nlist-filesystems\nvfs-type /dev/testvg/lv2\nvfs-label /dev/mapper/testvg-lv2\nis-lv /dev/testvg/lv1\nis-lv /dev/sda1\nblockdev-getsize64 /dev/testvg/lv1\n",
        );
        assert_eq!(r.stdout, want.stdout, "guestfish: {}", want.stderr);
    }
    let mut expected = vec![0u8; 12 * MIB as usize];
    for (lv, lv_start, pv_start, count) in &map {
        if lv != "lv1" {
            continue;
        }
        let from = (pv_data + pv_start * MIB) as usize;
        let to = (lv_start * MIB) as usize;
        let n = (count * MIB) as usize;
        expected[to..to + n].copy_from_slice(&bytes[from..from + n]);
    }
    let got = std::fs::read(dir.path().join("lv1.bin")).expect("lv1.bin");
    assert!(
        got == expected,
        "lv1 bytes differ from the extents lvs reports"
    );

    // A write through the LV lands in the physical extent it maps to.
    let mut cmd = rfish();
    cmd.current_dir(dir.path()).args(["-a", "lvm.img"]);
    let r = run_with_stdin(
        cmd,
        "pwrite-device /dev/testvg/lv1 \"through-lv\" 8388613\n",
    );
    assert_eq!((r.stdout.as_str(), r.stderr.as_str()), ("10\n", ""));
    let (_, _, pe, _) = map
        .iter()
        .find(|m| m.0 == "lv1" && m.1 == 8)
        .expect("segment 2")
        .clone();
    let after = std::fs::read(&img).expect("read");
    let at = (pv_data + pe * MIB + 5) as usize;
    assert_eq!(&after[at..at + 10], b"through-lv");

    // Hostile metadata: the metadata area's location points past its end.
    let mut bad = std::fs::read(&img).expect("read");
    let mda = 1048576 + 4096;
    assert_eq!(&bad[mda + 4..mda + 20], b" LVM2 x[5A%r0N*>");
    bad[mda + 40..mda + 48].copy_from_slice(&u64::MAX.to_le_bytes());
    std::fs::write(dir.path().join("bad.img"), &bad).expect("write");
    let mut cmd = rfish();
    cmd.current_dir(dir.path()).args(["--ro", "-a", "bad.img"]);
    let r = run_with_stdin(cmd, "lvs\n");
    assert_eq!(r.status, 1);
    assert!(
        r.stderr.contains("metadata location") && r.stderr.contains("outside its area"),
        "{}",
        r.stderr
    );
}
