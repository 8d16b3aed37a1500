//! mkfs/mke2fs and `-N` prepared disks. Oracles: e2fsprogs' own mke2fs (the same device
//! formatted by both, with the same UUID and E2FSPROGS_FAKE_TIME, must be byte for byte
//! identical once debugfs sets the random directory hash seed alike), e2fsck, sfdisk, and
//! the Linux kernel (it mounts rfish's filesystems read-write, and what it writes rfish
//! reads back).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

const UUID: &str = "11111111-2222-3333-4444-555555555555";
const SEED: &str = "66666666-7777-8888-9999-aaaaaaaaaaaa";
const TIME: &str = "1700000000";

fn sparse(dir: &Path, name: &str, size: u64) -> PathBuf {
    let p = dir.join(name);
    std::fs::File::create(&p)
        .expect("create")
        .set_len(size)
        .expect("size");
    p
}

fn tool(cmd: &mut Command) -> String {
    String::from_utf8_lossy(&common::run_tool(cmd).stdout).into_owned()
}

fn fsck_clean(img: &Path) {
    common::assert_fsck_clean(img);
}

/// Set the fields mke2fs fills at random (hash seed) or by accounting (lifetime writes)
/// alike in the primary superblock.
fn normalise(img: &Path) {
    for req in [
        format!("ssv hash_seed {SEED}"),
        "ssv kbytes_written 0".into(),
    ] {
        tool(
            Command::new("debugfs")
                .arg("-w")
                .args(["-R", &req])
                .arg(img),
        );
    }
}

/// Compare two images block by block; backup superblocks may differ only in the hash
/// seed, lifetime writes and checksum, the primary only in debugfs's write time.
fn assert_identical(a: &Path, b: &Path, block_size: usize, what: &str) {
    use std::io::Read;
    let mut fa = std::fs::File::open(a).expect("a");
    let mut fb = std::fs::File::open(b).expect("b");
    let mut ba = vec![0u8; 1 << 20];
    let mut bb = vec![0u8; 1 << 20];
    let mut offset = 0u64;
    loop {
        let na = fa.read(&mut ba).expect("read");
        let nb = fb.read(&mut bb[..na.max(1)]).expect("read");
        assert_eq!(na, nb, "{what}: sizes differ");
        if na == 0 {
            break;
        }
        if ba[..na] != bb[..na] {
            for i in 0..na {
                if ba[i] != bb[i] {
                    let at = offset + i as u64;
                    let within = (at % block_size as u64) as usize;
                    // debugfs's normalising write stamps the primary superblock's
                    // write time (and so its checksum) with the clock.
                    let primary = (1024..2048).contains(&at)
                        && [0x30..0x34, 0x274..0x275, 0x3fc..0x400]
                            .iter()
                            .any(|r| r.contains(&((at - 1024) as usize)));
                    let allowed = primary
                        || at >= 4096
                            && ((0xec..0xfc).contains(&within)
                                || (0x178..0x180).contains(&within)
                                || (0x3fc..0x400).contains(&within));
                    assert!(
                        allowed,
                        "{what}: byte {at} (block {}, offset 0x{within:x}) differs: mke2fs {:#04x}, rfish {:#04x}",
                        at / block_size as u64,
                        ba[i],
                        bb[i]
                    );
                }
            }
        }
        offset += na as u64;
    }
}

#[test]
fn mke2fs_layouts_are_byte_for_byte_those_of_e2fsprogs() {
    let tmp = tempfile::tempdir().expect("tmp");
    let uuid = format!("uuid:{UUID}");
    // (size, block size for the comparison, mke2fs arguments, rfish optargs)
    let cases: &[(u64, usize, &[&str], &[&str])] = &[
        (64 << 20, 1024, &["-t", "ext4"], &["fstype:ext4"]),
        (1 << 30, 4096, &["-t", "ext4"], &["fstype:ext4"]),
        (300 << 20, 1024, &["-t", "ext3"], &["fstype:ext3"]),
        (300 << 20, 1024, &["-t", "ext2"], &["fstype:ext2"]),
        (2 << 20, 1024, &["-t", "ext4"], &["fstype:ext4"]),
        (
            900 << 20,
            2048,
            &[
                "-t",
                "ext4",
                "-O",
                "^has_journal",
                "-b",
                "2048",
                "-L",
                "data",
            ],
            &[
                "fstype:ext4",
                "hasjournal:false",
                "blocksize:2048",
                "label:data",
            ],
        ),
        (
            200 << 20,
            1024,
            &["-t", "ext4", "-N", "50000", "-m", "1"],
            &[
                "fstype:ext4",
                "numberofinodes:50000",
                "reservedblockspercentage:1",
            ],
        ),
        (
            700 << 20,
            1024,
            &["-t", "ext4", "-I", "128", "-b", "1024", "-J", "size=8"],
            &[
                "fstype:ext4",
                "inodesize:128",
                "blocksize:1024",
                "journalsize:8",
            ],
        ),
        (
            600 << 20,
            4096,
            &["-t", "ext4", "-O", "^flex_bg", "-T", "news"],
            &["fstype:ext4", "flexbg:false", "usagetype:news"],
        ),
    ];
    for (size, bs, theirs, ours) in cases {
        let what = format!("{theirs:?}");
        let a = sparse(tmp.path(), "mke2fs.img", *size);
        let b = sparse(tmp.path(), "rfish.img", *size);
        let mut m = Command::new("mke2fs");
        m.env("E2FSPROGS_FAKE_TIME", TIME)
            .args(["-q", "-F", "-U", UUID, "-E", &format!("hash_seed={SEED}")])
            .args(*theirs)
            .arg(&a);
        tool(&mut m);
        let mut r = common::rfish();
        r.env("E2FSPROGS_FAKE_TIME", TIME)
            .arg("-a")
            .arg(&b)
            .args(["--format=raw", "mke2fs", "/dev/sda", &uuid])
            .args(*ours);
        tool(&mut r);
        fsck_clean(&b);
        normalise(&a);
        normalise(&b);
        assert_identical(&a, &b, *bs, &what);
    }
}

#[test]
fn a_large_filesystems_journal_and_groups_match_mke2fs() {
    // 130 GiB: 1040 groups in 65 flex groups, a 1 GiB journal whose nine extents need a
    // leaf block. Compared through dumpe2fs and debugfs rather than byte by byte.
    let tmp = tempfile::tempdir().expect("tmp");
    let a = sparse(tmp.path(), "a.img", 130 << 30);
    let b = sparse(tmp.path(), "b.img", 130 << 30);
    tool(
        Command::new("mke2fs")
            .env("E2FSPROGS_FAKE_TIME", TIME)
            .args(["-q", "-F", "-t", "ext4", "-U", UUID])
            .args(["-E", &format!("hash_seed={SEED}")])
            .arg(&a),
    );
    tool(
        common::rfish()
            .env("E2FSPROGS_FAKE_TIME", TIME)
            .arg("-a")
            .arg(&b)
            .args(["--format=raw", "mkfs", "ext4", "/dev/sda"]),
    );
    let dump = |img: &Path| {
        tool(Command::new("dumpe2fs").arg(img))
            .lines()
            .filter(|l| {
                !["UUID", "Hash Seed", "Lifetime", "Checksum:"]
                    .iter()
                    .any(|k| l.contains(k))
            })
            .map(|l| {
                // Checksums cover the UUID-seeded metadata: mask their values.
                let mut words: Vec<&str> = l.split(' ').collect();
                for i in 1..words.len() {
                    if words[i - 1] == "csum" {
                        words[i] = "-";
                    }
                }
                words.join(" ")
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let (da, db) = (dump(&a), dump(&b));
    assert!(da.lines().count() > 5000);
    assert!(da == db, "dumpe2fs differs");
    let journal = |img: &Path| {
        let text = tool(Command::new("debugfs").args(["-R", "stat <8>"]).arg(img));
        text[text.find("EXTENTS:").expect("extents")..].to_string()
    };
    assert_eq!(journal(&a), journal(&b));
    assert!(journal(&b).contains("(ETB0)"));
    fsck_clean(&b);
}

/// The bytes of partition `n` of `img`, as sfdisk reports it, copied to a file.
fn partition(img: &Path, n: usize, out: &Path) -> (u64, u64) {
    let json = tool(Command::new("sfdisk").arg("-J").arg(img));
    let numbers = |key: &str| -> Vec<u64> {
        json.split(key)
            .skip(1)
            .map(|s| {
                s.trim_start()
                    .split(',')
                    .next()
                    .unwrap()
                    .trim()
                    .parse()
                    .unwrap()
            })
            .collect()
    };
    let (starts, sizes) = (numbers("\"start\":"), numbers("\"size\":"));
    let (start, size) = (starts[n - 1], sizes[n - 1]);
    tool(Command::new("dd").args([
        format!("if={}", img.display()),
        format!("of={}", out.display()),
        "bs=512".into(),
        format!("skip={start}"),
        format!("count={size}"),
        "conv=sparse".into(),
        "status=none".into(),
    ]));
    (start, size)
}

#[test]
fn prepared_disks_are_partitioned_and_formatted() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (out, err, status) = common::rfish_raw(
        tmp.path(),
        &["-N", "fs", "-m", "/dev/sda1"],
        "write /hello hi\ncat /hello\nvfs-type /dev/sda1\n",
    );
    assert_eq!(status, 0, "{err}");
    assert_eq!(String::from_utf8_lossy(&out), "hi\next2\n");
    let img = tmp.path().join("test1.img");
    assert_eq!(std::fs::metadata(&img).expect("img").len(), 1 << 30);
    let p1 = tmp.path().join("p1");
    // guestfish's part-disk leaves 128 sectors at each end.
    assert_eq!(partition(&img, 1, &p1), (128, (1 << 21) - 256 + 1));
    fsck_clean(&p1);

    let (out, err, status) = common::rfish_raw(
        tmp.path(),
        &["-N", "br.img=bootroot:ext4:ext3:512M:64M:gpt"],
        "list-filesystems\npart-get-parttype /dev/sda\n",
    );
    assert_eq!(status, 0, "{err}");
    assert_eq!(
        String::from_utf8_lossy(&out),
        "/dev/sda1: ext4\n/dev/sda2: ext3\ngpt\n"
    );
    let img = tmp.path().join("br.img");
    let (p1, p2) = (tmp.path().join("b1"), tmp.path().join("b2"));
    assert_eq!(partition(&img, 1, &p1), (64, 131072));
    let total = (512u64 << 20) / 512;
    assert_eq!(
        partition(&img, 2, &p2),
        (64 + 131072, total - 64 - (64 + 131072) + 1)
    );
    fsck_clean(&p1);
    fsck_clean(&p2);

    let (_, err, status) = common::rfish_raw(tmp.path(), &["-N", "lvfs"], "");
    assert_eq!(status, 1);
    assert!(err.contains("LVM"), "{err}");
    let (out, _, status) = common::rfish_raw(tmp.path(), &["-N", "help"], "");
    assert_eq!(status, 0);
    assert!(String::from_utf8_lossy(&out).contains("rfish -N bootroot"));
}

#[test]
fn the_kernel_mounts_what_rfish_made_and_rfish_reads_what_the_kernel_wrote() {
    let tmp = tempfile::tempdir().expect("tmp");
    for (kind, features) in [
        ("ext4", ""),
        ("ext3", ""),
        ("ext2", ""),
        ("ext4", "features:^metadata_csum,uninit_bg,^64bit"),
    ] {
        let img = sparse(tmp.path(), &format!("{kind}.img"), 256 << 20);
        let (_, err, status) = common::rfish_raw(
            tmp.path(),
            &["-a", &format!("{kind}.img"), "--format=raw"],
            &format!(
                "mkfs {kind} /dev/sda label:k{kind} {features}\nmount /dev/sda /\nmkdir-p /etc/app\nwrite /etc/app/conf from-rfish\n"
            ),
        );
        assert_eq!(status, 0, "{kind}: {err}");
        let mnt = tempfile::tempdir().expect("mnt");
        let mounted = Command::new("mount")
            .args(["-o", "loop"])
            .arg(&img)
            .arg(mnt.path())
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            eprintln!("skipping the kernel half: loop mounts are not available");
            return;
        }
        let conf = std::fs::read_to_string(mnt.path().join("etc/app/conf"));
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let wrote = std::fs::write(mnt.path().join("big"), &data)
            .and_then(|()| std::fs::create_dir_all(mnt.path().join("d/e")))
            .and_then(|()| std::os::unix::fs::symlink("/etc/app/conf", mnt.path().join("d/e/l")));
        let _ = Command::new("umount").arg(mnt.path()).status();
        eprintln!("{kind} {features}: the kernel read and wrote it");
        assert_eq!(conf.expect("kernel read"), "from-rfish", "{kind}");
        wrote.expect("kernel write");
        fsck_clean(&img);
        let (out, err, status) = common::rfish_raw(
            tmp.path(),
            &[
                "-a",
                &format!("{kind}.img"),
                "--format=raw",
                "-m",
                "/dev/sda",
            ],
            "checksum md5 /big\nreadlink /d/e/l\nvfs-label /dev/sda\n",
        );
        assert_eq!(status, 0, "{kind}: {err}");
        let md5: String = {
            use md5::Digest;
            md5::Md5::digest(&data)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect()
        };
        assert_eq!(
            String::from_utf8_lossy(&out),
            format!("{md5}\n/etc/app/conf\nk{kind}\n"),
            "{kind}"
        );
    }
}

#[test]
fn mkfs_refuses_what_it_cannot_or_must_not_do() {
    let tmp = tempfile::tempdir().expect("tmp");
    sparse(tmp.path(), "d.img", 64 << 20);
    let run = |script: &str| {
        common::rfish_raw(
            tmp.path(),
            &["-a", "d.img", "--format=raw"],
            &format!("run\n{script}"),
        )
    };
    let (_, err, status) = run("mkfs ext4 /dev/sda\nmount /dev/sda /\nmkfs ext2 /dev/sda\n");
    assert_eq!(status, 1);
    assert!(
        err.contains("mkfs: ext2: /dev/sda: /dev/sda is mounted; will not make a filesystem here!"),
        "{err}"
    );
    let (_, err, _) = run("mkfs ext4 /dev/sda label:seventeen-chars-x\n");
    assert!(
        err.contains("mkfs: seventeen-chars-x: ext2 labels are limited to 16 bytes"),
        "{err}"
    );
    let (_, err, _) = run("mkfs ext4 /dev/sda features:inline_data\n");
    assert!(err.contains("inline_data"), "{err}");
    let (_, err, _) = run("mkfs xfs /dev/sda\n");
    assert!(err.contains("mkfs: xfs: /dev/sda:"), "{err}");
    let (_, err, _) = run("mkfs ext4 /dev/sdz\n");
    assert!(err.contains("No such file or directory"), "{err}");
    let (_, err, _) = run("mke2fs /dev/sda blocksize:3000\n");
    assert!(err.contains("invalid block size"), "{err}");
}
