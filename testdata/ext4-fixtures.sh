#!/usr/bin/env bash
# Build the ext2/3/4 read-side fixtures in DIR (once; DIR/done marks a finished build):
#   tree/          a source tree with every file type, hard links, xattrs (user, trusted,
#                  security), a POSIX ACL, short/long/dangling/looping symlinks, sparse and
#                  large files, deep directories; every time stamp fixed (with nanoseconds)
#   ext4.img       mkfs.ext4 -d tree (mke2fs' defaults for 64 MiB: 1 KiB blocks,
#                  metadata_csum, extents, flex_bg)
#   ext4-4k.img    4 KiB blocks, 64bit
#   ext3.img       ext3 (block maps, htree, journal)
#   ext2.img       ext2 (block maps, no journal)
#   inline.img     ext4 with inline_data (small files and directories inside the inode)
#   bigdir.img     ext4 with a 100000-entry htree directory /many (hard links to /t0, /t1)
#   dirty.img      ext4 whose journal needs recovery: a committed transaction (written by
#                  debugfs' journal commands) rewrites a file's data block
#   revoke.img     the same with three transactions, the last revoking the first's block
#   bigalloc.img   ext4 with bigalloc (16 KiB clusters)
# Everything is deterministic: fixed UUIDs, hash seeds and E2FSPROGS_FAKE_TIME.
# Usage: testdata/ext4-fixtures.sh DIR
set -euo pipefail
dir=$1
mkdir -p "$dir"
cd "$dir"
[ -f done ] && exit 0
export E2FSPROGS_FAKE_TIME=1700000000
uuid=6a1b2c3d-4e5f-4061-8273-9485a6b7c8d9
seed=0f1e2d3c-4b5a-4968-8776-655443322110
rm -rf tree && mkdir tree && cd tree
mkdir -p etc/sub/deeper/deepest bin usr/bin var/empty dir-with-many home/user/.config
printf 'NAME="Test"\nID=test\nVERSION_ID="1.0"\nPRETTY_NAME="Test Linux 1.0"\n' > etc/os-release
printf 'hello world\n' > hello.txt
printf 'no newline' > nonl.txt
: > empty
printf 'line %s\n' $(seq 1 100) > lines.txt
printf 'alpha\nbeta\ngamma\nAlpha beta\n' > etc/sub/words
printf '#!/bin/sh\necho hi\n' > bin/script.sh && chmod 755 bin/script.sh
python3 - <<'PY'
import random
r = random.Random(42)
open("random.bin", "wb").write(bytes(r.getrandbits(8) for _ in range(1 << 20)))
# A sparse file: 8 MiB with data at 0, 3 MiB and the end.
with open("sparse.bin", "wb") as f:
    f.write(b"start")
    f.seek(3 << 20); f.write(b"middle" * 1000)
    f.truncate(8 << 20)
    f.seek((8 << 20) - 3); f.write(b"end")
# Names with spaces, quotes, UTF-8 and a 255-byte name.
open("name with spaces", "w").write("spaces\n")
open("quote'and\"dq", "w").write("q\n")
open("caf\u00e9.txt", "w").write("utf8\n")
open("n" * 255, "w").write("long name\n")
for i in range(300):
    open(f"dir-with-many/file-{i:04d}", "w").write(f"{i}\n")
PY
ln hello.txt hardlink.txt
ln -s hello.txt link-rel
ln -s /etc/os-release link-abs
ln -s "$(printf 'x%.0s' $(seq 1 100))/target-of-a-long-symlink" link-long
ln -s nowhere link-dangling
ln -s loop-b loop-a && ln -s loop-a loop-b
ln -s ../../.. etc/sub/up3
ln -s ../../../../../../../etc etc/sub/deeper/escape
ln -s sub etc/sub-link
mkfifo fifo
mknod chardev c 1 3 && mknod blockdev b 8 1 && mknod bigdev c 300 70000
python3 -c 'import socket; s=socket.socket(socket.AF_UNIX); s.bind("sock")'
setfattr -n user.comment -v 'a comment' hello.txt
setfattr -n user.empty hello.txt
setfattr -n trusted.secret -v 0x00ff10 hello.txt
setfattr -n security.selinux -v 'system_u:object_r:etc_t:s0' etc/os-release
setfattr -n user.big -v "$(printf 'v%.0s' $(seq 1 900))" random.bin
setfacl -m u:1000:rw,g:100:r lines.txt
chown 1000:100 home/user home/user/.config && chown 1000:1000 lines.txt
chmod 700 home/user && chmod 4755 bin/script.sh && chmod 1777 var/empty && chmod 2750 usr/bin
find . -exec touch -h -d '@1600000000.123456789' {} +
touch -h -d '@1234567890.5' hello.txt
touch -h -d '@2500000000' lines.txt
cd ..
common=(-q -F -U "$uuid" -E "hash_seed=$seed,lazy_itable_init=0" -d tree)
# mke2fs -d stamps each inode's ctime with the real time, and reading the tree moves its
# atimes: pin both (inodes found by walking the new filesystem with debugfs) so the image
# is the same on every build.
pin_ctimes() {
  python3 - "$1" <<'PY'
import subprocess, sys
img = sys.argv[1]
def ls(path):
    out = subprocess.run(["debugfs", "-R", f'ls -p "{path}"', img], capture_output=True, text=True).stdout
    for line in out.splitlines():
        f = line.split("/")
        if len(f) >= 7 and f[1].isdigit() and f[5] not in (".", ".."):
            yield int(f[1]), int(f[2], 8), f[5]
inos, todo = {2}, ["/"]
while todo:
    d = todo.pop()
    for ino, mode, name in ls(d):
        inos.add(ino)
        if mode & 0o170000 == 0o040000 and name != "lost+found":
            todo.append(d.rstrip("/") + "/" + name)
cmds = "".join(f"sif <{i}> ctime 1600000000\nsif <{i}> atime 1600000000\n" for i in sorted(inos))
subprocess.run(["debugfs", "-w", "-f", "-", img], input=cmds, capture_output=True, text=True, check=True)
PY
}
mk() { local img=$1 size=$2; shift 2; rm -f "$img"; truncate -s "$size" "$img"; "$@" "$img"; pin_ctimes "$img"; }
mk ext4.img 64M mkfs.ext4 "${common[@]}" -L fixture
mk ext4-4k.img 64M mkfs.ext4 "${common[@]}" -b 4096 -O 64bit -L fourk
mk ext3.img 64M mkfs.ext3 "${common[@]}" -L ext3fix
mk ext2.img 64M mkfs.ext2 "${common[@]}" -L ext2fix
mk inline.img 64M mkfs.ext4 "${common[@]}" -O inline_data -L inline
# A directory of 100000 names, hard links to two files (a file has at most 65000 links).
# The kernel builds it (mke2fs -d inserts names in quadratic time); without loop mounts
# (not root) a 5000-name directory made by mke2fs -d stands in.
rm -rf big && mkdir -p big/many && printf 'even\n' > big/t0 && printf 'odd\n' > big/t1
rm -f bigdir.img && truncate -s 128M bigdir.img
mkfs.ext4 -q -F -U "$uuid" -E "hash_seed=$seed" -L bigdir bigdir.img
names() {
  python3 -c '
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    os.link(f"{root}/t{i % 2}", f"{root}/many/entry-{i:06d}-{i * 7919 % 100003:06d}")
' "$@"
}
mkdir -p mnt
if mount -o loop bigdir.img mnt 2>/dev/null; then
  cp big/t0 big/t1 mnt/ && mkdir mnt/many && names mnt 100000
  umount mnt
else
  names big 5000
  mkfs.ext4 -q -F -U "$uuid" -E "hash_seed=$seed" -L bigdir -d big bigdir.img
fi
rmdir mnt
rm -rf big
# A journal needing recovery: log a new copy of hello.txt's data block and commit it.
cp ext4.img dirty.img
blk=$(debugfs -R 'blocks /hello.txt' dirty.img 2>/dev/null | tr -d ' \n')
python3 -c "
import sys
bs = 4096
sys.stdout.buffer.write(b'replayed from the journal\n'.ljust(bs, b'\0'))
" > journal-block.bin
debugfs -w -R "journal_open" dirty.img >/dev/null 2>&1 || true
debugfs -w -f - dirty.img >/dev/null 2>&1 <<DBG
jo
jw -b $blk journal-block.bin
jc
DBG
rm -f journal-block.bin
# Three committed transactions: two log data blocks of /etc/sub/words and /nonl.txt, the
# third revokes the first block, so recovery must apply only the second.
cp ext4.img revoke.img
words=$(debugfs -R 'blocks /etc/sub/words' revoke.img 2>/dev/null | tr -d ' \n')
nonl=$(debugfs -R 'blocks /nonl.txt' revoke.img 2>/dev/null | tr -d ' \n')
python3 -c "import sys; sys.stdout.buffer.write(b'revoked!\n'.ljust(1024, b'\0'))" > revoked.bin
python3 -c "import sys; sys.stdout.buffer.write(b'kept!!!!\n'.ljust(1024, b'\0'))" > kept.bin
debugfs -w -f - revoke.img >/dev/null 2>&1 <<DBG
jo
jw -b $words revoked.bin
jw -b $nonl kept.bin
jw -r $words
jc
DBG
rm -f revoked.bin kept.bin
# casefold (utf8-12.1): /cf holds a few names in one block, /cfbig 400 in an htree that
# e2fsck -D built with casefolded hashes. Names are written by debugfs into directories
# flagged casefold (+F); the host kernel may lack casefold support, e2fsprogs does not.
rm -f casefold.img && truncate -s 16M casefold.img
mkfs.ext4 -q -F -U "$uuid" -E "hash_seed=$seed,encoding=utf8" -O casefold -L casefold casefold.img
printf 'strasse\n' > cf-a.txt; printf 'cafe\n' > cf-b.txt; printf 'hello\n' > cf-c.txt
{
  echo "mkdir cf"; echo "sif cf flags 0x40080000"
  echo "mkdir cfbig"; echo "sif cfbig flags 0x40080000"
  echo "write cf-a.txt cf/Straße"; echo "write cf-b.txt cf/Café"; echo "write cf-c.txt cf/HELLO"
  echo "write cf-c.txt cf/ΣΊΣΥΦΟΣ"; echo "write cf-c.txt cf/ﬁle"; echo "mkdir cf/Sub"
  for i in $(seq 1 400); do echo "write cf-c.txt cfbig/Entry-$i-Ärger"; done
} > cf.cmds
debugfs -w -f cf.cmds casefold.img >/dev/null 2>&1
e2fsck -fyD casefold.img >/dev/null 2>&1 || true
rm -f cf-a.txt cf-b.txt cf-c.txt cf.cmds
# bigalloc: 16 KiB clusters of 4 KiB blocks.
mk bigalloc.img 64M mkfs.ext4 "${common[@]}" -b 4096 -O bigalloc -C 16384 -L bigalloc
touch done
