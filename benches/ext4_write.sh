#!/usr/bin/env bash
# Side-by-side: rfish's native ext4 writer against its peers on the same fresh image, one
# run each, ratios printed.
#   1. upload of a 1 GiB file: rfish `upload` vs debugfs `write` (both into a new 4 GiB
#      ext4 image made by mke2fs)
#   2. tar-in of the Debian fixture root (~7800 files): rfish `tar-in` vs debugfs writing
#      the same tree (`mke2fs -d` is e2fsprogs' own bulk writer; debugfs has no tar)
#   3. the typical edit sequence (write a file, mkdir-p a home, chmod, ln-s): rfish vs
#      guestfish, process start to exit (guestfish boots its appliance under TCG here)
# Needs hyperfine, debugfs, mke2fs, guestfish, tar; the Debian fixture (built on demand).
# Usage: benches/ext4_write.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q
rfish=$PWD/target/release/rfish
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mean() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"][0]["mean"])' "$1"; }
fresh() { rm -f "$work/$1"; truncate -s "$2" "$work/$1"; mke2fs -q -F -t ext4 "$work/$1"; }

head -c 1G /dev/urandom > "$work/big.bin"
cat > "$work/up.fish" <<EOF
add $work/up.img format:raw
run
mount /dev/sda /
upload $work/big.bin /big.bin
EOF
hyperfine -N -w 1 -r 5 --prepare "bash -c 'rm -f $work/up.img; truncate -s 4G $work/up.img; mke2fs -q -F -t ext4 $work/up.img'" \
  --export-json "$work/u1.json" "$rfish -f $work/up.fish" >/dev/null
hyperfine -w 1 -r 5 --prepare "bash -c 'rm -f $work/up.img; truncate -s 4G $work/up.img; mke2fs -q -F -t ext4 $work/up.img'" \
  --export-json "$work/u2.json" "debugfs -w -R 'write $work/big.bin /big.bin' $work/up.img" >/dev/null
u1=$(mean "$work/u1.json"); u2=$(mean "$work/u2.json")
python3 -c "print(f'upload 1 GiB: rfish {$u1:.2f} s, debugfs write {$u2:.2f} s, ratio {$u2/$u1:.1f}x')"

root=$(testdata/debian-guest.sh "$PWD/target/tmp/fixtures/debian-guest" >/dev/null; echo "$PWD/target/tmp/fixtures/debian-guest/root")
tar --xattrs -cf "$work/root.tar" -C "$root" .
printf 'add %s format:raw\nrun\nmount /dev/sda /\ntar-in %s / xattrs:true\n' "$work/t.img" "$work/root.tar" > "$work/tar.fish"
hyperfine -N -w 1 -r 5 --prepare "bash -c 'rm -f $work/t.img; truncate -s 2G $work/t.img; mke2fs -q -F -t ext4 $work/t.img'" \
  --export-json "$work/t1.json" "$rfish -f $work/tar.fish" >/dev/null
hyperfine -w 1 -r 5 --prepare "rm -f $work/t2.img" \
  --export-json "$work/t2.json" "bash -c 'truncate -s 2G $work/t2.img; mke2fs -q -F -t ext4 -d $root $work/t2.img'" >/dev/null
t1=$(mean "$work/t1.json"); t2=$(mean "$work/t2.json")
python3 -c "print(f'tar-in Debian root: rfish {$t1:.2f} s, mke2fs -d (incl. mkfs) {$t2:.2f} s, ratio {$t2/$t1:.1f}x')"

fresh e.img 256M
cat > "$work/edit.fish" <<EOF
add $work/e.img format:raw
run
mount /dev/sda /
write /etc.motd "hello"
mkdir-p /home/alice/.ssh
chmod 0700 /home/alice/.ssh
ln-sf /etc.motd /motd
EOF
hyperfine -N -w 2 -r 20 --export-json "$work/e1.json" "$rfish -f $work/edit.fish" >/dev/null
start=$(date +%s.%N)
LIBGUESTFS_BACKEND=direct LIBGUESTFS_BACKEND_SETTINGS=force_tcg guestfish -f "$work/edit.fish" >/dev/null
g=$(python3 -c "import time; print(time.time() - $start)")
e1=$(mean "$work/e1.json")
python3 -c "print(f'edit sequence: rfish {$e1*1000:.1f} ms, guestfish {$g:.1f} s, ratio {$g/$e1:.0f}x')"

# fuse2fs: the same upload and tar-in through e2fsprogs' FUSE driver.
mkdir -p "$work/mnt"
echo "fuse2fs $work/up.img $work/mnt -o fakeroot && cp $work/big.bin $work/mnt/big.bin && umount $work/mnt" > "$work/fuse-up.sh"
hyperfine -w 1 -r 3 --prepare "bash -c 'rm -f $work/up.img; truncate -s 4G $work/up.img; mke2fs -q -F -t ext4 $work/up.img'" \
  --export-json "$work/u3.json" "bash $work/fuse-up.sh" >/dev/null
u3=$(mean "$work/u3.json")
python3 -c "print(f'upload 1 GiB: rfish {$u1:.2f} s, fuse2fs {$u3:.2f} s, ratio {$u3/$u1:.1f}x')"
echo "fuse2fs $work/t.img $work/mnt -o fakeroot && tar --xattrs -xf $work/root.tar -C $work/mnt && umount $work/mnt" > "$work/fuse-tar.sh"
hyperfine -w 1 -r 3 --prepare "bash -c 'rm -f $work/t.img; truncate -s 2G $work/t.img; mke2fs -q -F -t ext4 $work/t.img'" \
  --export-json "$work/t3.json" "bash $work/fuse-tar.sh" >/dev/null
t3=$(mean "$work/t3.json")
python3 -c "print(f'tar-in Debian root: rfish {$t1:.2f} s, fuse2fs + tar {$t3:.2f} s, ratio {$t3/$t1:.1f}x')"

# mkfs of a 20 GiB sparse image: rfish's native mke2fs against e2fsprogs'.
printf 'add %s format:raw\nrun\nmke2fs /dev/sda fstype:ext4\n' "$work/m.img" > "$work/mkfs.fish"
hyperfine -N -w 1 -r 10 --prepare "bash -c 'rm -f $work/m.img; truncate -s 20G $work/m.img'" \
  --export-json "$work/m1.json" "$rfish -f $work/mkfs.fish" >/dev/null
hyperfine -N -w 1 -r 10 --prepare "bash -c 'rm -f $work/m.img; truncate -s 20G $work/m.img'" \
  --export-json "$work/m2.json" "mke2fs -q -F -t ext4 $work/m.img" >/dev/null
m1=$(mean "$work/m1.json"); m2=$(mean "$work/m2.json")
python3 -c "print(f'mkfs ext4 20 GiB: rfish {$m1*1000:.1f} ms, mke2fs {$m2*1000:.1f} ms, ratio {$m2/$m1:.2f}x')"
