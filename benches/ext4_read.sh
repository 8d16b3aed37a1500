#!/usr/bin/env bash
# Side-by-side: rfish's native ext4 reader against its peers on the same image, one run.
#   1. open + mount + `cat /etc/os-release`: rfish vs guestfish (which boots its appliance)
#   2. every file's sha256 below /: rfish (find + checksum in one session) vs debugfs
#      (`rdump / DIR`, then sha256sum over the dump)
# Prints mean times and the ratios. Needs hyperfine, guestfish, debugfs.
# Usage: benches/ext4_read.sh [IMAGE]   (default: the fixtures' ext4-4k.img)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q
rfish=$PWD/target/release/rfish
fx=$PWD/target/bench-ext4
testdata/ext4-fixtures.sh "$fx" >/dev/null
img=${1:-$fx/ext4-4k.img}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

mean() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"][0]["mean"])' "$1"; }

printf 'add %s readonly:true format:raw\nrun\nmount-ro /dev/sda /\ncat /etc/os-release\n' "$img" > "$work/cat.fish"
hyperfine -N -w 3 -r 30 --export-json "$work/r1.json" "$rfish -f $work/cat.fish" >/dev/null
start=$(date +%s.%N)
LIBGUESTFS_BACKEND=direct LIBGUESTFS_BACKEND_SETTINGS=force_tcg guestfish --ro -f "$work/cat.fish" >/dev/null
g1=$(python3 -c "import time; print(time.time() - $start)")
r1=$(mean "$work/r1.json")
python3 -c "print(f'cat /etc/os-release: rfish {$r1*1000:.1f} ms, guestfish {$g1:.1f} s, ratio {$g1/$r1:.0f}x')"

# Every regular file's checksum.
{
  printf 'add %s readonly:true format:raw\nrun\nmount-ro /dev/sda /\n' "$img"
  printf 'checksums-out sha256 / -\n'
} > "$work/sums.fish"
hyperfine -N -w 2 -r 10 --export-json "$work/r2.json" "$rfish -f $work/sums.fish" >/dev/null
cat > "$work/debugfs.sh" <<SH
rm -rf $work/dump && mkdir $work/dump
debugfs -R "rdump / $work/dump" $img >/dev/null 2>&1
cd $work/dump && find . -type f -print0 | xargs -0 sha256sum >/dev/null
SH
hyperfine -w 1 -r 5 --export-json "$work/r3.json" "bash $work/debugfs.sh" >/dev/null
r2=$(mean "$work/r2.json"); r3=$(mean "$work/r3.json")
python3 -c "print(f'sha256 of every file: rfish {$r2*1000:.1f} ms, debugfs rdump + sha256sum {$r3*1000:.1f} ms, ratio {$r3/$r2:.1f}x')"
