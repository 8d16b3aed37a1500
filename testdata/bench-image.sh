#!/usr/bin/env bash
# Build the benchmark image once and cache it: a 2 GiB qcow2 (64 KiB clusters) holding
# 300 MiB of incompressible data in 1 MiB islands spread over the disk, plus the same
# image compressed (zlib). Usage: testdata/bench-image.sh DIR  (prints nothing; the
# images are DIR/bench-2g.qcow2 and DIR/bench-2g-zlib.qcow2).
set -euo pipefail
dir=$1
mkdir -p "$dir"
img=$dir/bench-2g.qcow2
[ -f "$img" ] && [ -f "$dir/bench-2g-zlib.qcow2" ] && exit 0
raw=$dir/bench-2g.raw
rm -f "$raw"
truncate -s 2G "$raw"
python3 - "$raw" <<'PY'
import os, sys, random
random.seed(42)
with open(sys.argv[1], "r+b") as f:
    step = (2 << 30) // 300
    for i in range(300):
        f.seek(i * step - (i * step) % 65536)
        # half random, half text-like so the compressed variant compresses a little
        chunk = os.urandom(1 << 19) + bytes(random.choice(b"abcdefgh \n") for _ in range(1 << 19))
        f.write(chunk)
PY
qemu-img convert -O qcow2 "$raw" "$img.tmp" && mv "$img.tmp" "$img"
qemu-img convert -c -O qcow2 "$raw" "$dir/bench-2g-zlib.qcow2.tmp" && mv "$dir/bench-2g-zlib.qcow2.tmp" "$dir/bench-2g-zlib.qcow2"
rm -f "$raw"
