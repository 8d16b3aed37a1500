#!/usr/bin/env bash
# Build small RHEL-shaped guests whose rpm databases were written by the real rpm
# (librpm 4.18) once in DIR (DIR/done marks a finished build):
#   rpms/          ~260 packages built by rpmbuild from generated specs: a bulk spec with
#                  250 subpackages, two kernels (same name, two versions), an epoch, a package
#                  without URL, a UTF-8 summary, a 12 KiB description (overflow pages)
#   rpmdb/         the sqlite database `rpm -i --justdb` made of them in three transactions
#                  (RHEL 9's backend)
#   rhel9.img      ext4 filesystem image, whole disk: /etc/redhat-release 9.2,
#                  /var/lib/rpm/rpmdb.sqlite
#   rhel9wal.img   the same with one more transaction (kernel-4.18.0-193 out, wal-only in)
#                  committed only in /var/lib/rpm/rpmdb.sqlite-wal
#   rhel8.img      the packages of rpmdb/ in a BerkeleyDB hash /var/lib/rpm/Packages (RHEL
#                  8's backend), loaded by db5.3_load from the sqlite blobs, with rpm's
#                  key-0 counter record; /etc/redhat-release 8.1 (Ootpa)
# Each carries /usr/lib/rpm/macros naming the database (and the rpmrc without which
# librpm loads no macros), /bin/ls (the host's ELF) and an fstab.
# Needs rpm, rpmbuild, sqlite3, db5.3_load, mkfs.ext4.
# Usage: testdata/rpm-guest.sh DIR
set -euo pipefail
dir=$1
mkdir -p "$dir"
cd "$dir"
dir=$(pwd)
[ -f done ] && exit 0
rm -rf specs top rpms rpmdb rpmdb-wal scratch root8 root9 root9wal ./*.img
mkdir -p specs top rpms rpmdb

# --- specs -----------------------------------------------------------------------------
{
  printf 'Name: bulk\nVersion: 1.0\nRelease: 1.el8\nSummary: bulk base\nLicense: MIT\n'
  printf 'URL: https://example.org/bulk\n%%description\nBulk base package.\n%%files\n'
  for i in $(seq -w 1 250); do
    printf '%%package -n pkg-%s\nSummary: test package number %s\n' "$i" "$i"
    printf '%%description -n pkg-%s\nPackage %s of the bulk set.\nSecond line of %s.\n' "$i" "$i" "$i"
    printf '%%files -n pkg-%s\n' "$i"
  done
} > specs/bulk.spec
kernel_spec() {
  printf 'Name: kernel\nVersion: 4.18.0\nRelease: %s\nSummary: The Linux kernel\n' "$1"
  printf 'License: GPLv2\nURL: https://www.kernel.org/\n%%description\nThe kernel meta package.\n%%files\n'
}
kernel_spec 147.el8 > specs/kernel-147.spec
kernel_spec 193.el8 > specs/kernel-193.spec
printf 'Name: wal-only\nVersion: 1\nRelease: 1\nSummary: only in the write-ahead log\nLicense: MIT\n%%description\nCommitted, not checkpointed.\n%%files\n' > specs/wal-only.spec
printf 'Name: shadow-utils\nEpoch: 2\nVersion: 4.6\nRelease: 8.el8\nSummary: Utilities for managing accounts and shadow password files\nLicense: BSD\n%%description\nNo URL tag in this one.\n%%files\n' > specs/shadow.spec
printf 'Name: unicode-names\nVersion: 0.1\nRelease: 1\nSummary: Zeichensätze für Übersetzungen — ünïcödé\nLicense: MIT\nURL: https://example.org/ü\nBuildArch: noarch\n%%description\nÄÖÜ äöü ß.\n%%files\n' > specs/unicode.spec
{
  printf 'Name: long-description\nVersion: 3.14\nRelease: 15.el8\nSummary: A package whose header spans pages\nLicense: MIT\nURL: https://example.org/long\n%%description\n'
  for i in $(seq 1 200); do printf 'Line %03d of a very long description that makes the header big.\n' "$i"; done
  printf '%%files\n'
} > specs/long.spec
for spec in specs/*.spec; do
  rpmbuild --define "_topdir $dir/top" -bb "$spec" >rpmbuild.log 2>&1 || { tail -20 rpmbuild.log >&2; exit 1; }
done
find top/RPMS -name '*.rpm' -exec mv {} rpms/ \;

# --- the sqlite database (what rpm itself writes) ---------------------------------------
db() { rpm --dbpath "$1" --define '_db_backend sqlite' "${@:2}" 2>/dev/null; }
db "$dir/rpmdb" --initdb
justdb=(--justdb --nodeps --noscripts --ignorearch --ignoreos --nosignature --nodigest)
# Three transactions, as a guest's life makes them: the install, a kernel update, and a
# removal (so the database has a freed row). Each one's order of rows is rpm's own.
db "$dir/rpmdb" -i "${justdb[@]}" $(ls rpms/*.rpm | grep -v -e kernel-4.18.0-193 -e wal-only)
db "$dir/rpmdb" -i "${justdb[@]}" rpms/kernel-4.18.0-193*.rpm
db "$dir/rpmdb" -e --justdb --nodeps --noscripts pkg-100
rm -f rpmdb/rpmdb.sqlite-shm rpmdb/rpmdb.sqlite-wal

# --- a live-guest copy: one more committed transaction only in rpmdb.sqlite-wal ---------
# wal-only's header (as rpm installs it, from a scratch database) is inserted and
# kernel-4.18.0-193 deleted by sqlite in WAL mode, and the process exits without a
# checkpoint, as a guest powered off (or snapshotted) with rpm's changes not yet
# checkpointed leaves it.
mkdir -p scratch rpmdb-wal
db "$dir/scratch" --initdb
db "$dir/scratch" -i "${justdb[@]}" rpms/wal-only-*.rpm
cp rpmdb/rpmdb.sqlite rpmdb-wal/
python3 - "$dir/rpmdb-wal/rpmdb.sqlite" "$dir/scratch/rpmdb.sqlite" <<'PY'
import os, sqlite3, sys
con = sqlite3.connect(sys.argv[1], isolation_level=None)
con.execute("pragma wal_autocheckpoint=0")
assert con.execute("pragma journal_mode").fetchone()[0] == "wal"
blob = sqlite3.connect(sys.argv[2]).execute("select blob from Packages").fetchone()[0]
con.execute("begin")
con.execute("delete from Packages where hnum = (select max(hnum) from Packages)")
con.execute("insert into Packages(blob) values (?)", (blob,))
con.execute("commit")
os._exit(0)
PY
rm -f rpmdb-wal/rpmdb.sqlite-shm
[ -s rpmdb-wal/rpmdb.sqlite-wal ] || { echo "no WAL was left behind" >&2; exit 1; }

# --- the BerkeleyDB hash database (RHEL 8): key = instance (u32, host order), data = blob --
{
  printf 'VERSION=3\nformat=bytevalue\ntype=hash\ndb_pagesize=4096\nHEADER=END\n'
  le32() { printf '%02x%02x%02x%02x' $(($1 & 255)) $((($1 >> 8) & 255)) $((($1 >> 16) & 255)) $((($1 >> 24) & 255)); }
  max=$(sqlite3 rpmdb/rpmdb.sqlite 'select max(hnum) from Packages')
  printf ' %s\n %s\n' "$(le32 0)" "$(le32 $((max + 1)))"
  sqlite3 rpmdb/rpmdb.sqlite 'select hnum, hex(blob) from Packages order by hnum' |
    while IFS='|' read -r hnum blob; do
      printf ' %s\n %s\n' "$(le32 "$hnum")" "${blob,,}"
    done
  printf 'DATA=END\n'
} > packages.dump
rm -f Packages && db5.3_load -f packages.dump Packages

# --- the two guests ----------------------------------------------------------------------
make_root() { # ROOT MAJOR MINOR CODENAME
  local root=$1
  mkdir -p "$root"/etc "$root"/bin "$root"/usr/lib/rpm "$root"/var/lib/rpm "$root"/usr/bin
  printf 'Red Hat Enterprise Linux release %s.%s (%s)\n' "$2" "$3" "$4" > "$root"/etc/redhat-release
  printf 'NAME="Red Hat Enterprise Linux"\nVERSION="%s.%s (%s)"\nID="rhel"\nID_LIKE="fedora"\nVERSION_ID="%s.%s"\nPRETTY_NAME="Red Hat Enterprise Linux %s.%s (%s)"\n' \
    "$2" "$3" "$4" "$2" "$3" "$2" "$3" "$4" > "$root"/etc/os-release
  echo "rhel$2-fixture" > "$root"/etc/hostname
  printf '/dev/sda / ext4 defaults 0 1\n' > "$root"/etc/fstab
  cp /bin/ls "$root"/bin/ls
  cp /bin/ls "$root"/usr/bin/ls
  # librpm loads no macros at all without an rpmrc.
  cp /usr/lib/rpm/rpmrc "$root"/usr/lib/rpm/rpmrc
}
make_root root8 8 1 Ootpa
printf '%%_dbpath\t\t%%{_var}/lib/rpm\n%%_db_backend\tbdb\n%%_var\t\t/var\n' > root8/usr/lib/rpm/macros
cp Packages root8/var/lib/rpm/Packages
make_root root9 9 2 Plow
printf '%%_dbpath\t\t%%{_var}/lib/rpm\n%%_db_backend\tsqlite\n%%_var\t\t/var\n' > root9/usr/lib/rpm/macros
cp rpmdb/rpmdb.sqlite root9/var/lib/rpm/rpmdb.sqlite
cp -a root9 root9wal
cp rpmdb-wal/rpmdb.sqlite rpmdb-wal/rpmdb.sqlite-wal root9wal/var/lib/rpm/
for v in 8 9 9wal; do
  truncate -s 64M rhel$v.img
  mkfs.ext4 -q -F -d root$v rhel$v.img
done
touch done
