#!/usr/bin/env bash
# `list-filesystems` on a 5-disk session (MBR with ext4/vfat/swap, GPT-in-qcow2 with xfs,
# an unpartitioned ext2 disk, btrfs, LVM with an ext4 LV), from start to output: rfish beside guestfish
# (launch + list-filesystems, TCG here) on the same images, in one run, as a ratio.
# Needs: hyperfine, guestfish. Disks are built once by testdata/disks.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
rfish=$PWD/target/release/rfish
disks=$PWD/target/bench-disks
testdata/disks.sh "$disks"
export LC_ALL=C LIBGUESTFS_BACKEND=direct LIBGUESTFS_BACKEND_SETTINGS=force_tcg
args="--ro -a $disks/mbr.img -a $disks/gpt.qcow2 -a $disks/bare.img -a $disks/btrfs.img"
[ -f "$disks/lvm.img" ] && args="$args -a $disks/lvm.img"
diff <($rfish $args run : list-filesystems) <(guestfish $args run : list-filesystems)
json=$(mktemp)
trap 'rm -f "$json"' EXIT
hyperfine -N --warmup 1 --runs "${RUNS:-3}" --export-json "$json" \
  "$rfish $args run : list-filesystems" "guestfish $args run : list-filesystems" >/dev/null 2>&1
ndisks=$(grep -o -- '-a ' <<< "$args" | wc -l)
python3 - "$json" "$ndisks" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
rf = next(x for x in r if "rfish" in x["command"])
gf = next(x for x in r if "guestfish" in x["command"])
print(f"list-filesystems, {sys.argv[2]} disks: rfish median {rf['median']*1e3:.2f} ms, "
      f"guestfish median {gf['median']*1e3:.0f} ms, ratio {gf['median']/rf['median']:.0f}x")
PY
