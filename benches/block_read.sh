#!/usr/bin/env bash
# Whole-device sequential read, sparse-aware: `rfish download /dev/sda FILE` beside
# `qemu-img convert -O raw` of the same 2 GiB qcow2 (300 MiB of data) in one run, as a
# throughput ratio (goal >= 1.0x qemu-img), for plain and zlib-compressed clusters; and
# rfish's peak memory above its own baseline (goal < 32 MiB).
# Needs: hyperfine, qemu-img, GNU time. Images are built once by testdata/bench-image.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
rfish=$PWD/target/release/rfish
images=$PWD/target/bench-images
testdata/bench-image.sh "$images"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
runs=${RUNS:-10}

for img in bench-2g.qcow2 bench-2g-zlib.qcow2; do
  json=$out/$img.json
  hyperfine --warmup 2 --runs "$runs" -N --export-json "$json" \
    --prepare "rm -f $out/a.raw $out/b.raw" \
    "$rfish --ro -a $images/$img download /dev/sda $out/a.raw" \
    "qemu-img convert -O raw $images/$img $out/b.raw" >/dev/null 2>&1
  "$rfish" --ro -a "$images/$img" download /dev/sda "$out/a.raw"
  qemu-img convert -O raw "$images/$img" "$out/b.raw"
  cmp "$out/a.raw" "$out/b.raw"
  python3 - "$json" "$img" <<'PY'
import json, sys
res = json.load(open(sys.argv[1]))["results"]
rf = next(r for r in res if "rfish" in r["command"])
qi = next(r for r in res if "qemu-img" in r["command"])
print(f"{sys.argv[2]}: rfish download median {rf['median']*1e3:7.1f} ms, "
      f"qemu-img convert median {qi['median']*1e3:7.1f} ms, "
      f"throughput ratio rfish/qemu-img {qi['median']/rf['median']:.2f}x")
PY
done

base=$(/usr/bin/time -f %M "$rfish" echo 2>&1 >/dev/null | tail -1)
for img in bench-2g.qcow2 bench-2g-zlib.qcow2; do
  rm -f "$out/a.raw"
  peak=$(/usr/bin/time -f %M "$rfish" --ro -a "$images/$img" download /dev/sda "$out/a.raw" 2>&1 | tail -1)
  echo "$img: peak RSS ${peak} KiB, baseline ${base} KiB, above baseline $(( (peak - base) / 1024 )) MiB"
done
