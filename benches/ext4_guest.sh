#!/usr/bin/env bash
# Side-by-side on a real Debian guest (testdata/debian-guest.sh), one run, ratios printed:
#   1. `-i` + `cat /etc/os-release`, process start to exit: rfish vs guestfish
#   2. every file below / checksummed (sha256): rfish's find + checksums-out vs debugfs
#      `rdump / DIR` + sha256sum, on the same raw root partition
#   3. download of a 1 GiB file from an ext4 filesystem in qcow2: rfish vs qemu-img convert
#      of a 1 GiB qcow2 image holding the same bytes
# Needs: hyperfine, guestfish, debugfs, qemu-img; root and network (debootstrap) once.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q
rfish=$PWD/target/release/rfish
fx=$PWD/target/bench-debian
testdata/debian-guest.sh "$fx" >/dev/null
work=$PWD/target/bench-work
mkdir -p "$work"
mean() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"][0]["mean"])' "$1"; }
ratio() { python3 -c "import sys; a,b=float(sys.argv[1]),float(sys.argv[2]); print(f'{sys.argv[3]}: rfish {a*1000:.1f} ms, {sys.argv[4]} {b*1000:.1f} ms, ratio {b/a:.1f}x')" "$@"; }

# 1. -i cat /etc/os-release
hyperfine -N -w 3 -r 20 --export-json "$work/i.json" \
  "$rfish --ro -i -a $fx/debian.qcow2 cat /etc/os-release" >/dev/null
start=$(date +%s.%N)
LIBGUESTFS_BACKEND=direct LIBGUESTFS_BACKEND_SETTINGS=force_tcg \
  guestfish --ro -i -a "$fx/debian.qcow2" cat /etc/os-release >/dev/null
g=$(python3 -c "import time; print(time.time() - $start)")
ratio "$(mean "$work/i.json")" "$g" "-i cat /etc/os-release" "guestfish"

# 2. every file's sha256 on the raw root partition
if [ ! -f "$work/root.img" ]; then
  qemu-img convert -O raw "$fx/debian.qcow2" "$work/disk.raw"
  start=$(sfdisk -d "$work/disk.raw" | awk -F'[=,]' '/name="root"/{print $2+0}')
  size=$(sfdisk -d "$work/disk.raw" | awk -F'[=,]' '/name="root"/{print $4+0}')
  dd if="$work/disk.raw" of="$work/root.img" bs=512 skip="$start" count="$size" status=none
  rm -f "$work/disk.raw"
fi
printf 'add %s readonly:true format:raw\nrun\nmount-ro /dev/sda /\nchecksums-out sha256 / -\n' "$work/root.img" > "$work/sums.fish"
hyperfine -N -w 1 -r 5 --export-json "$work/sums.json" "$rfish -f $work/sums.fish" >/dev/null
cat > "$work/debugfs.sh" <<SH
rm -rf $work/dump && mkdir $work/dump
debugfs -R "rdump / $work/dump" $work/root.img >/dev/null 2>&1
cd $work/dump && find . -type f -print0 | xargs -0 sha256sum >/dev/null
SH
hyperfine -w 1 -r 3 --export-json "$work/debugfs.json" "bash $work/debugfs.sh" >/dev/null
ratio "$(mean "$work/sums.json")" "$(mean "$work/debugfs.json")" "sha256 of every file" "debugfs rdump + sha256sum"

# 3. 1 GiB download
if [ ! -f "$work/big-fs.qcow2" ]; then
  rm -rf "$work/bigtree" && mkdir "$work/bigtree"
  head -c 1G /dev/urandom > "$work/bigtree/big"
  truncate -s 1200M "$work/big-fs.raw"
  mkfs.ext4 -q -F -d "$work/bigtree" "$work/big-fs.raw"
  qemu-img convert -O qcow2 "$work/big-fs.raw" "$work/big-fs.qcow2"
  qemu-img convert -f raw -O qcow2 "$work/bigtree/big" "$work/big.qcow2"
  rm -rf "$work/bigtree" "$work/big-fs.raw"
fi
# Each run writes a fresh file (truncating a 1 GiB file costs more than writing one), with
# dirty pages flushed first.
fresh="sh -c 'rm -f $work/out.bin $work/out2.bin; sync'"
hyperfine -N -w 2 -r 15 --prepare "$fresh" --export-json "$work/dl.json" \
  "$rfish --ro -a $work/big-fs.qcow2 -m /dev/sda download /big $work/out.bin" >/dev/null
hyperfine -N -w 2 -r 15 --prepare "$fresh" --export-json "$work/qi.json" \
  "qemu-img convert -f qcow2 -O raw $work/big.qcow2 $work/out2.bin" >/dev/null
ratio "$(mean "$work/dl.json")" "$(mean "$work/qi.json")" "1 GiB download" "qemu-img convert"
rm -f "$work/out.bin" "$work/out2.bin"
