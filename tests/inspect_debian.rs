//! A real Debian guest (debootstrap'd bookworm on GPT in qcow2, /boot and / on ext4, built
//! by testdata/debian-guest.sh): inspection and -i compared with guestfish run on the same
//! image, every file read back equal to the tree mke2fs copied in (content, mode, owner,
//! mtime, xattrs from getfattr, symlink targets), and `file` equal to the host's
//! `file -zSb` for every ELF binary and script.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use rfish::block::{self, BlockDev, OpenOptions};
use rfish::fs::FileType;
use rfish::fs::ext4::Ext4;
use rfish::fs::vfs::{Mount, Vfs};

use common::{fixtures, guestfish, guestfish_errors_as_rfish, record_script};

fn fx() -> PathBuf {
    fixtures("debian-guest.sh")
}

fn rfish_in(dir: &Path, args: &[&str], script: &str) -> (Vec<u8>, String, i32) {
    common::rfish_raw(dir, args, script)
}

/// The Debian guest changes with every Debian point release, so guestfish runs on the same
/// image in the test rather than from a record (one appliance boot: 30-60 s under TCG).
#[test]
fn inspection_and_file_commands_print_what_guestfish_prints() {
    let dir = fx();
    let script = record_script("debian-inspect", "debian.qcow2");
    let (out, err, status) = rfish_in(&dir, &["--ro"], &script);
    let Some(mut gf) = guestfish() else {
        return;
    };
    let mut child = gf
        .arg("--ro")
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn guestfish");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(script.as_bytes())
        .expect("write script");
    let want = child.wait_with_output().expect("guestfish");
    let want_err = String::from_utf8_lossy(&want.stderr);
    assert!(
        want.status.success(),
        "guestfish itself failed (no appliance?): {want_err}"
    );
    assert_eq!(err, guestfish_errors_as_rfish(&want_err));
    assert_eq!(status, 0, "{err}");
    let (got, want) = (
        String::from_utf8_lossy(&out),
        String::from_utf8_lossy(&want.stdout),
    );
    common::assert_same_output(&got, &want);
}

#[test]
fn dash_i_mounts_the_guest_and_dash_m_mounts_what_it_is_told() {
    let dir = fx();
    let (out, err, status) = rfish_in(
        &dir,
        &["--ro", "-i", "-a", "debian.qcow2"],
        "cat /etc/hostname\nmountpoints\nls /boot\n",
    );
    assert_eq!(status, 0, "{err}");
    let text = String::from_utf8_lossy(&out);
    assert!(
        text.starts_with("debian-fixture\n\n/dev/sda2: /\n/dev/sda1: /boot\n"),
        "{text}"
    );
    assert!(text.contains("vmlinuz-6.1.0-test"), "{text}");
    let (out, err, status) = rfish_in(
        &dir,
        &[
            "--ro",
            "-a",
            "debian.qcow2",
            "-m",
            "/dev/sda2",
            "-m",
            "/dev/sda1:/boot",
        ],
        "mounts\n",
    );
    assert_eq!(
        (status, String::from_utf8_lossy(&out).as_ref()),
        (0, "/dev/sda2\n/dev/sda1\n"),
        "{err}"
    );
    // -m of something that is not a filesystem fails like a failed mount.
    let (_, err, status) = rfish_in(&dir, &["--ro", "-a", "debian.qcow2", "-m", "/dev/sda"], "");
    assert_eq!(status, 1);
    assert!(err.contains("wrong fs type"), "{err}");
}

#[test]
fn dash_i_without_an_operating_system_explains_what_to_do() {
    let tmp = tempfile::tempdir().expect("tmp");
    let img = tmp.path().join("plain.img");
    std::fs::File::create(&img)
        .expect("create")
        .set_len(32 << 20)
        .expect("size");
    let mk = Command::new("mkfs.ext4")
        .args(["-q", "-F"])
        .arg(&img)
        .output()
        .expect("mkfs");
    assert!(mk.status.success());
    let (_, err, status) = rfish_in(tmp.path(), &["--ro", "-i", "-a", "plain.img"], "");
    assert_eq!(status, 1);
    assert!(err.starts_with("rfish: no operating system was found on this disk\n\nIf using guestfish \u{2018}-i\u{2019} option"), "{err}");
}

/// getfattr's dump of a whole tree: path → (name → value).
fn host_xattrs(root: &Path) -> BTreeMap<String, BTreeMap<String, Vec<u8>>> {
    let out = Command::new("getfattr")
        .args(["-R", "-h", "-d", "-m", "-", "-e", "hex", "--absolute-names"])
        .arg(root)
        .output()
        .expect("getfattr");
    let prefix = root.to_str().expect("utf-8 root").to_string();
    let mut map: BTreeMap<String, BTreeMap<String, Vec<u8>>> = BTreeMap::new();
    let mut current = String::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if let Some(p) = line.strip_prefix("# file: ") {
            current = p.strip_prefix(&prefix).unwrap_or(p).to_string();
        } else if let Some((k, v)) = line.split_once('=') {
            let hex = v.trim_start_matches("0x");
            let bytes = (0..hex.len() / 2)
                .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("hex"))
                .collect();
            map.entry(current.clone())
                .or_default()
                .insert(k.to_string(), bytes);
        }
    }
    map
}

fn open_partition(img: &Path, part: u32) -> Arc<Ext4> {
    let dev = block::open_image(
        img,
        &OpenOptions {
            format: None,
            read_only: true,
            lock: false,
        },
    )
    .expect("open image");
    let table = rfish::part::read_table(dev.as_ref())
        .expect("table")
        .expect("GPT");
    let p = table.get(part).expect("partition");
    let window = rfish::part::Window::new(dev.clone(), p.start, p.size).expect("window");
    Arc::new(Ext4::open(Arc::new(window)).expect("ext4"))
}

fn compare_tree(vfs: &Vfs, tree: &Path, skip_boot: bool) -> usize {
    let xattrs = host_xattrs(tree);
    let mut count = 0;
    let mut stack = vec![String::new()];
    while let Some(rel) = stack.pop() {
        let host_dir = tree.join(rel.trim_start_matches('/'));
        for entry in std::fs::read_dir(&host_dir).expect("read_dir") {
            let entry = entry.expect("entry");
            let name = entry.file_name().into_string().expect("utf-8 name");
            let p = format!("{rel}/{name}");
            // /boot is a mountpoint: its contents (and times) are the boot filesystem's.
            if skip_boot && p.starts_with("/boot") || name == ".debootstrap-done" {
                continue;
            }
            let host = entry.path();
            let meta = std::fs::symlink_metadata(&host).expect("lstat");
            let node = vfs
                .resolve(&p, false)
                .unwrap_or_else(|e| panic!("{p}: {e}"));
            let fs = vfs.fs(&node);
            let st = fs.stat(node.ino).expect("stat");
            assert_eq!(st.mode, meta.mode(), "{p}: mode");
            assert_eq!((st.uid, st.gid), (meta.uid(), meta.gid()), "{p}: owner");
            assert_eq!(st.mtime.sec, meta.mtime(), "{p}: mtime");
            match st.file_type() {
                FileType::Regular => {
                    let want = std::fs::read(&host).expect("read");
                    let mut got = vec![0u8; want.len()];
                    assert_eq!(
                        fs.read(node.ino, 0, &mut got).expect("read"),
                        want.len(),
                        "{p}"
                    );
                    assert!(got == want, "{p}: content differs");
                }
                FileType::Symlink => {
                    let want = std::fs::read_link(&host).expect("readlink");
                    assert_eq!(
                        fs.read_link(node.ino).expect("read_link"),
                        want.as_os_str().as_encoded_bytes(),
                        "{p}"
                    );
                }
                FileType::Directory => stack.push(p.clone()),
                _ => {}
            }
            let got_x: BTreeMap<String, Vec<u8>> = fs
                .xattrs(node.ino)
                .expect("xattrs")
                .into_iter()
                .map(|(k, v)| (String::from_utf8(k).expect("name"), v))
                .collect();
            assert_eq!(
                got_x,
                xattrs.get(&p).cloned().unwrap_or_default(),
                "{p}: xattrs"
            );
            count += 1;
        }
    }
    count
}

#[test]
fn every_file_of_the_debian_guest_equals_the_source_tree() {
    let dir = fx();
    let img = dir.join("debian.qcow2");
    let mut vfs = Vfs::default();
    for (part, mp) in [(2, "/"), (1, "/boot")] {
        vfs.mount(Mount {
            device: format!("/dev/sda{part}"),
            mountpoint: mp.into(),
            fs: open_partition(&img, part),
            read_only: true,
            options: String::new(),
        })
        .expect("mount");
    }
    let n = compare_tree(&vfs, &dir.join("rootfs"), true);
    assert!(n > 5000, "compared {n} files");
    // /boot: the tree's boot directory plus the fake kernel the script adds.
    let boot = vfs
        .resolve("/boot/vmlinuz-6.1.0-test", false)
        .expect("kernel");
    let mut buf = vec![0u8; 12];
    vfs.fs(&boot).read(boot.ino, 0, &mut buf).expect("read");
    assert_eq!(buf, b"fake kernel\n");
}

#[test]
fn file_describes_the_guest_like_the_hosts_file() {
    let dir = fx();
    let root = dir.join("rootfs");
    let listing = Command::new("find")
        .args([".", "-type", "f", "!", "-name", ".debootstrap-done"])
        .current_dir(&root)
        .output()
        .expect("find");
    let mut paths: Vec<String> = String::from_utf8_lossy(&listing.stdout)
        .lines()
        .map(|p| p.trim_start_matches("./").to_string())
        .filter(|p| !p.starts_with("boot/"))
        .collect();
    paths.sort();
    let host = Command::new("xargs")
        .args(["-d", "\\n", "file", "-zSb", "-N"])
        .current_dir(&root)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin
                .take()
                .expect("stdin")
                .write_all(paths.join("\n").as_bytes())?;
            c.wait_with_output()
        })
        .expect("file");
    let want: Vec<String> = String::from_utf8_lossy(&host.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    let script: String = paths.iter().map(|p| format!("file /{p}\n")).collect();
    let (out, err, status) = rfish_in(&dir, &["--ro", "-i", "-a", "debian.qcow2"], &script);
    assert_eq!(status, 0, "{err}");
    let got: Vec<String> = String::from_utf8_lossy(&out)
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(got.len(), want.len());
    let mut claimed = 0;
    let mut same = 0;
    for ((p, g), w) in paths.iter().zip(&got).zip(&want) {
        same += usize::from(g == w);
        // What rfish claims to describe exactly: ELF binaries, scripts, text (plain and
        // troff), gzip-compressed files, time zone data, empty files. libmagic's many
        // other formats (message catalogs, .deb archives, ...) print "data" here.
        // (For gzip files, file -z describes the content first.)
        // Scripts only when they start with #! (libmagic also guesses from content).
        let hashbang = std::fs::read(root.join(p)).is_ok_and(|d| d.starts_with(b"#!"));
        let kind = [
            "ELF",
            "ASCII text",
            "Unicode text",
            "troff",
            "timezone data",
            "empty",
        ]
        .iter()
        .any(|k| w.starts_with(k))
            || hashbang
                && [
                    "POSIX shell script",
                    "Bourne-Again shell script",
                    "Perl script",
                    "Python script",
                    "a /",
                ]
                .iter()
                .any(|k| w.starts_with(k));
        if kind {
            assert_eq!(g, w, "file /{p}");
            claimed += 1;
        }
    }
    assert!(claimed > 4000, "compared {claimed}");
    assert!(
        same * 10 >= got.len() * 8,
        "only {same} of {} files described as file(1) does",
        got.len()
    );
}

#[test]
fn debian_partitions_read_through_ext4_view_equal_rfish() {
    struct Reader(Arc<dyn BlockDev>);
    impl ext4_view::Ext4Read for Reader {
        fn read(
            &mut self,
            start: u64,
            dst: &mut [u8],
        ) -> Result<(), Box<dyn std::error::Error + Send + Sync + 'static>> {
            self.0.read_at(dst, start).map_err(|e| Box::new(e) as _)
        }
    }
    let dir = fx();
    let img = dir.join("debian.qcow2");
    let dev = block::open_image(
        &img,
        &OpenOptions {
            format: None,
            read_only: true,
            lock: false,
        },
    )
    .expect("open");
    let table = rfish::part::read_table(dev.as_ref())
        .expect("table")
        .expect("GPT");
    let p = table.get(2).expect("partition 2");
    let window: Arc<dyn BlockDev> =
        Arc::new(rfish::part::Window::new(dev.clone(), p.start, p.size).expect("window"));
    let view = ext4_view::Ext4::load(Box::new(Reader(window))).expect("ext4-view");
    let ours = open_partition(&img, 2);
    let vfs = {
        let mut v = Vfs::default();
        v.mount(Mount {
            device: "/dev/sda2".into(),
            mountpoint: "/".into(),
            fs: ours,
            read_only: true,
            options: String::new(),
        })
        .expect("mount");
        v
    };
    let mut checked = 0;
    for dir_path in ["/usr/bin", "/etc", "/usr/lib/x86_64-linux-gnu"] {
        let node = vfs.resolve(dir_path, true).expect("dir");
        for e in vfs.fs(&node).read_dir(node.ino).expect("read_dir") {
            let p = format!("{dir_path}/{}", String::from_utf8_lossy(&e.name));
            let n = vfs.resolve(&p, false).expect("resolve");
            let st = vfs.stat(&n).expect("stat");
            if st.file_type() != FileType::Regular {
                continue;
            }
            let mut ours = vec![0u8; st.size as usize];
            vfs.fs(&n).read(n.ino, 0, &mut ours).expect("read");
            let theirs = view.read(p.as_str()).expect("ext4-view read");
            assert!(ours == theirs, "{p}: ext4-view reads other bytes");
            checked += 1;
        }
    }
    assert!(checked > 300, "checked {checked}");
}
