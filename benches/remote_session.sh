#!/usr/bin/env bash
# Side-by-side: a script driving one long-lived shell with --listen/--remote (the
# sequence issue 10 names: alloc, run, part-disk, mkfs, mount, write, cat, then N more
# `cat` calls and exit), rfish against guestfish, in one run; prints both times and the
# ratio, for the whole script and per --remote call after the set-up. guestfish under TCG
# by default (ACCEL=kvm on a machine with working KVM).
# Needs guestfish (libguestfs-tools) and qemu-system-x86_64 for guestfish's appliance.
# Usage: benches/remote_session.sh [CALLS]
set -euo pipefail
cd "$(dirname "$0")/.."
calls=${1:-50}
cargo build --release -q
rfish=$PWD/target/release/rfish
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export LC_ALL=C LIBGUESTFS_BACKEND=direct
if [ "${ACCEL:-tcg}" = tcg ]; then export LIBGUESTFS_BACKEND_SETTINGS=force_tcg; fi
now() { date +%s.%N; }

# Prints: set-up seconds, seconds for $calls calls, total seconds.
script() { # tool
  local tool=$1 t0 t1 t2
  rm -f "$work/disk.img"
  cd "$work"
  t0=$(now)
  eval "$("$tool" --listen)"
  "$tool" --remote alloc disk.img 64M
  "$tool" --remote run
  "$tool" --remote part-disk /dev/sda mbr
  "$tool" --remote mkfs ext4 /dev/sda1
  "$tool" --remote mount /dev/sda1 /
  "$tool" --remote write /hello "hello, world"
  [ "$("$tool" --remote cat /hello)" = "hello, world" ]
  t1=$(now)
  for _ in $(seq "$calls"); do "$tool" --remote cat /hello >/dev/null; done
  t2=$(now)
  "$tool" --remote exit
  e2fsck -fn "$work/disk.img" >/dev/null 2>&1 || true
  cd - >/dev/null
  python3 -c "print($t1-$t0, $t2-$t1, $(now)-$t0)"
}

read -r rs rc rt < <(script "$rfish")
read -r gs gc gt < <(script guestfish)
python3 - "$rs" "$rc" "$rt" "$gs" "$gc" "$gt" "$calls" <<'PY'
import sys
rs, rc, rt, gs, gc, gt = map(float, sys.argv[1:7])
n = int(sys.argv[7])
print(f"--listen/--remote script ({n} extra calls), process start to exit:")
print(f"  set-up (listen .. cat): rfish {rs:.2f} s, guestfish {gs:.2f} s -> {gs / rs:.1f}x")
print(f"  per --remote cat:       rfish {rc / n * 1000:.1f} ms, guestfish {gc / n * 1000:.1f} ms -> {gc / rc:.1f}x")
print(f"  whole script:           rfish {rt:.2f} s, guestfish {gt:.2f} s -> {gt / rt:.1f}x")
PY

# Instructions one `rfish --remote cat` client executes (callgrind; the server's side not
# included), which unlike wall time does not depend on how busy the machine is.
if command -v valgrind >/dev/null 2>&1; then
  cd "$work"
  rm -f disk.img
  eval "$("$rfish" --listen -N disk.img=fs:ext4 -m /dev/sda1)"
  "$rfish" --remote write /hello "hello, world"
  valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" \
    "$rfish" --remote cat /hello >/dev/null 2>"$work/cg.log"
  "$rfish" --remote exit
  echo "  one --remote cat client: $(grep -E '^summary:' "$work/cg.out" | awk '{print $2}') instructions (callgrind)"
fi
