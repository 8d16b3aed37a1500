//! rpm-based guests (testdata/rpm-guest.sh: databases written by the real rpm 4.18):
//! inspect-list-applications2 compared with guestfish's record on the sqlite (RHEL 9) and
//! Berkeley DB hash (RHEL 8) guests; the package list, in database order, compared with
//! what librpm itself (`rpm -qa --dbpath`) returns for the same database files, including
//! a transaction committed only in the sqlite write-ahead log; and thousands of damaged
//! copies of both databases, which must give data or an error, never a panic or a hang.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use rfish::inspect::rpm;

use common::Rng;
use common::{fixtures, guestfish_errors_as_rfish, record, record_script};

fn fx() -> PathBuf {
    fixtures("rpm-guest.sh")
}

fn same_as_guestfish(name: &str, image: &str) {
    let dir = fx();
    let script = record_script(name, image);
    let (out, err, status) = common::rfish_raw(&dir, &[], &script);
    let (want_out, want_err) = record(name);
    assert_eq!(err, guestfish_errors_as_rfish(&want_err));
    assert_eq!(status, 0, "rfish failed: {err}");
    common::assert_same_output(
        &String::from_utf8_lossy(&out),
        &String::from_utf8_lossy(&want_out),
    );
}

#[test]
fn berkeley_db_guest_lists_what_guestfish_lists() {
    same_as_guestfish("rhel8-apps", "rhel8.img");
}

/// guestfish's appliance cannot open an rpm sqlite database on a read-only mount
/// ("internal_list_rpm_applications: rpmtsInitIterator"), so the sqlite records were made
/// with the disk read-write (`record-guestfish.sh ... rw`); rfish reads the read-only disk.
#[test]
fn sqlite_guest_lists_what_guestfish_lists() {
    same_as_guestfish("rhel9-apps", "rhel9.img");
}

#[test]
fn sqlite_guest_with_a_write_ahead_log_lists_what_guestfish_lists() {
    same_as_guestfish("rhel9wal-apps", "rhel9wal.img");
}

/// The fields rfish shows, one line per package, as `rpm -qa --qf` prints them.
const QUERY_FORMAT: &str = "%{NAME}|%{EPOCHNUM}|%{VERSION}|%{RELEASE}|%{ARCH}|%{URL}|%{SUMMARY}\\n";

/// librpm's answer for the database files in `files` (copied to a private directory, as
/// rpm wants to create its lock file next to them), in database order.
fn librpm_lines(files: &[PathBuf], backend: &str) -> Vec<String> {
    let tmp = tempfile::tempdir().expect("tempdir");
    for f in files {
        std::fs::copy(f, tmp.path().join(f.file_name().expect("name"))).expect("copy db");
    }
    let out = Command::new("rpm")
        .arg("--dbpath")
        .arg(tmp.path())
        .args(["--define", &format!("_db_backend {backend}")])
        .args(["-qa", "--qf", QUERY_FORMAT])
        .output()
        .expect("run rpm (apt install rpm)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .map(str::to_string)
        .collect()
}

/// rfish's reading of the same files, in database order.
fn rfish_lines(blobs: &[Vec<u8>]) -> Vec<String> {
    // applications() returns the daemon's order (reverse database order, stably sorted by
    // name); undo nothing: format each blob on its own instead.
    blobs
        .iter()
        .map(|b| {
            let apps = rpm::applications(std::slice::from_ref(b)).expect("header");
            let a = &apps[0];
            format!(
                "{}|{}|{}|{}|{}|{}|{}",
                a.name, a.epoch, a.version, a.release, a.arch, a.url, a.summary
            )
        })
        .collect()
}

#[test]
fn sqlite_database_reads_as_librpm_reads_it() {
    let db = fx().join("rpmdb/rpmdb.sqlite");
    let bytes = std::fs::read(&db).expect("read db");
    let blobs = rpm::sqlite_headers(&bytes, None).expect("sqlite");
    assert_eq!(blobs.len(), 255);
    assert_eq!(rfish_lines(&blobs), librpm_lines(&[db], "sqlite"));
}

#[test]
fn sqlite_write_ahead_log_transactions_are_seen() {
    let dir = fx().join("rpmdb-wal");
    let (db, wal) = (dir.join("rpmdb.sqlite"), dir.join("rpmdb.sqlite-wal"));
    let (db_bytes, wal_bytes) = (std::fs::read(&db).unwrap(), std::fs::read(&wal).unwrap());
    let blobs = rpm::sqlite_headers(&db_bytes, Some(&wal_bytes)).expect("sqlite");
    let lines = rfish_lines(&blobs);
    assert!(
        lines.iter().any(|l| l.starts_with("wal-only|")),
        "{lines:?}"
    );
    assert_eq!(lines, librpm_lines(&[db, wal], "sqlite"));
    // Without the log, the checkpointed state: the kernel update, no wal-only.
    let old = rfish_lines(&rpm::sqlite_headers(&db_bytes, None).unwrap());
    assert!(old.iter().any(|l| l.contains("|193.el8|")));
    assert!(!old.iter().any(|l| l.starts_with("wal-only|")));
    // A torn last frame (a crash mid-write) drops that transaction, not the database.
    let torn = &wal_bytes[..wal_bytes.len() - 100];
    let blobs = rpm::sqlite_headers(&db_bytes, Some(&torn)).expect("torn wal");
    assert_eq!(rfish_lines(&blobs), old);
}

#[test]
fn berkeley_db_reads_as_librpm_reads_it() {
    let db = fx().join("Packages");
    let bytes = std::fs::read(&db).expect("read db");
    let blobs = rpm::bdb_headers(&bytes).expect("bdb");
    assert_eq!(blobs.len(), 255);
    assert_eq!(rfish_lines(&blobs), librpm_lines(&[db], "bdb_ro"));
}

#[test]
fn the_wal_guest_shows_the_committed_transaction() {
    let (out, err, status) = common::rfish_raw(
        &fx(),
        &["--ro", "-a", "rhel9wal.img", "-i"],
        "inspect-list-applications2 /dev/sda\n",
    );
    assert_eq!(status, 0, "{err}");
    let text = String::from_utf8_lossy(&out);
    assert!(text.contains("app2_name: wal-only\n"), "{text}");
    assert!(!text.contains("app2_release: 193.el8\n"));
}

#[test]
fn a_guest_without_a_database_gets_a_clear_error() {
    let dir = fx();
    let tmp = tempfile::tempdir().unwrap();
    // The RHEL 8 tree without its database, as a fresh image.
    let root = tmp.path().join("root");
    let status = Command::new("cp")
        .arg("-a")
        .arg(dir.join("root8"))
        .arg(&root)
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::remove_file(root.join("var/lib/rpm/Packages")).unwrap();
    let img = tmp.path().join("nodb.img");
    std::fs::File::create(&img)
        .unwrap()
        .set_len(32 << 20)
        .unwrap();
    let status = Command::new("mkfs.ext4")
        .args(["-q", "-F", "-d"])
        .arg(&root)
        .arg(&img)
        .status()
        .unwrap();
    assert!(status.success());
    let (_, err, status) = common::rfish_raw(
        tmp.path(),
        &["--ro", "-a", "nodb.img", "-i"],
        "inspect-list-applications2 /dev/sda\n",
    );
    assert_eq!(status, 1);
    assert_eq!(
        err,
        "*stdin*:1: rfish: error: inspect_list_applications2: no rpm database found (looked for \
         rpmdb.sqlite, Packages and Packages.db in /var/lib/rpm and /usr/lib/sysimage/rpm)\n"
    );
}

/// Damage `original` in `cases` ways (1-8 random bytes each, half of them in the first
/// pages where the headers and the b-tree roots are) and parse each copy fully.
fn damage(original: &[u8], cases: u64, parse: &dyn Fn(&[u8]) -> bool) -> (u64, u64) {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut ok, mut refused) = (0, 0);
    let mut copy = original.to_vec();
    for case in 0..cases {
        copy.copy_from_slice(original);
        let edits = 1 + rng.next() % 8;
        for _ in 0..edits {
            let span = if rng.next() % 2 == 0 {
                original.len().min(16384)
            } else {
                original.len()
            };
            let at = (rng.next() % span as u64) as usize;
            copy[at] = rng.next() as u8;
        }
        let started = Instant::now();
        if parse(&copy) {
            ok += 1;
        } else {
            refused += 1;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "case {case} took {:?}",
            started.elapsed()
        );
    }
    (ok, refused)
}

fn full_parse(blobs: Result<Vec<Vec<u8>>, rpm::DbError>) -> bool {
    match blobs {
        Ok(b) => rpm::applications(&b).is_ok(),
        Err(_) => false,
    }
}

#[test]
fn damaged_databases_give_data_or_errors() {
    let dir = fx();
    let read = |p: &Path| std::fs::read(p).expect("read db");
    let sqlite = read(&dir.join("rpmdb/rpmdb.sqlite"));
    let (ok, refused) = damage(&sqlite, 1500, &|b| {
        full_parse(rpm::sqlite_headers(&b, None))
    });
    eprintln!("sqlite: {ok} parsed, {refused} refused");
    assert!(refused > 0 && ok > 0);
    let wal = read(&dir.join("rpmdb-wal/rpmdb.sqlite-wal"));
    let wal_db = read(&dir.join("rpmdb-wal/rpmdb.sqlite"));
    let (ok, refused) = damage(&wal, 300, &|w| {
        full_parse(rpm::sqlite_headers(&wal_db, Some(&w)))
    });
    eprintln!("sqlite wal: {ok} parsed, {refused} refused");
    let bdb = read(&dir.join("Packages"));
    let (ok, refused) = damage(&bdb, 1500, &|b| full_parse(rpm::bdb_headers(&b)));
    eprintln!("bdb: {ok} parsed, {refused} refused");
    assert!(refused > 0 && ok > 0);
    // Truncations at every page boundary and a few odd sizes.
    for len in (0..sqlite.len()).step_by(4096).chain([1, 99, 100, 4097]) {
        let _ = full_parse(rpm::sqlite_headers(&&sqlite[..len], None));
    }
    for len in (0..bdb.len()).step_by(4096).chain([1, 511, 512, 4097]) {
        let _ = full_parse(rpm::bdb_headers(&&bdb[..len]));
    }
}
