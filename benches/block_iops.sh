#!/usr/bin/env bash
# 4 KiB reads and writes at queue depth 1 through rfish's BlockDev (benches/block_iops.rs)
# beside `qemu-img bench` on copies of the same 2 GiB qcow2, in one run: IOPS and the
# ratio rfish/qemu-img (goal >= 0.8x). Offsets step by 1 MiB + 4 KiB, so reads hit both
# data and holes and writes allocate new clusters as well as overwrite old ones.
set -euo pipefail
cd "$(dirname "$0")/.."
images=$PWD/target/bench-images
testdata/bench-image.sh "$images"
cargo build --release --quiet --bench block_iops 2>/dev/null || true
bench=$(cargo bench --no-run --bench block_iops 2>&1 | sed -n 's/.*(\(.*block_iops-[^)]*\)).*/\1/p' | tail -1)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
count=${COUNT:-20000}
step=$((1048576 + 4096))

# IOPS from the wall time of the whole process (open, requests, final flush, close), the
# same measure for both: qemu-img bench's own figure leaves its final flush out.
iops() { # command...
  python3 - "$count" "$@" <<'PY'
import subprocess, sys, time
count, cmd = int(sys.argv[1]), sys.argv[2:]
t = time.perf_counter()
subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
print(f"{count / (time.perf_counter() - t):.0f}")
PY
}

qemu_iops() { # mode image
  local flag=()
  [ "$1" = write ] && flag=(-w --pattern=165)
  iops qemu-img bench -f qcow2 -c "$count" -d 1 -s 4096 -S "$step" "${flag[@]}" "$2"
}

for mode in read write; do
  for img in bench-2g.qcow2 bench-2g-zlib.qcow2; do
    cp --sparse=always "$images/$img" "$work/r.qcow2"
    cp --sparse=always "$images/$img" "$work/q.qcow2"
    ours=$(iops "$bench" "$work/r.qcow2" "$mode" "$count" "$step")
    theirs=$(qemu_iops "$mode" "$work/q.qcow2")
    if [ "$mode" = write ]; then
      qemu-img compare -f qcow2 -F qcow2 "$work/r.qcow2" "$work/q.qcow2" >/dev/null
      qemu-img check -f qcow2 "$work/r.qcow2" >/dev/null
    fi
    echo "$mode $img: rfish $ours IOPS, qemu-img bench $theirs IOPS, ratio $(python3 -c "print(f'{$ours/$theirs:.2f}')")x"
  done
done
