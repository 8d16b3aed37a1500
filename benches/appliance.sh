#!/usr/bin/env bash
# Side-by-side: guest commands through the appliance, rfish against guestfish on the same
# copy of the Debian fixture, in one run, ratios printed.
#   1. the first `command true` from process start (`-i`, appliance boot included),
#   2. each further `command true` in the same session (N commands minus one, over N-1).
# Both under TCG by default (ACCEL=kvm to compare on a machine with working KVM).
# Needs guestfish (libguestfs-tools), qemu-system-x86_64, a readable kernel, the Debian
# fixture (built on demand).
# Usage: benches/appliance.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
accel=${ACCEL:-tcg}
cargo build --release -q
rfish=$PWD/target/release/rfish
fx=$PWD/target/tmp/fixtures/debian-guest
testdata/debian-guest.sh "$fx" >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$fx/debian.qcow2" "$work/d.qcow2"
export RFISH_ACCEL=$accel LC_ALL=C LIBGUESTFS_BACKEND=direct
if [ "$accel" = tcg ]; then export LIBGUESTFS_BACKEND_SETTINGS=force_tcg; fi

# Seconds taken by a command (its output discarded), best of $2 runs.
best() {
  local cmd=$1 n=$2 best=
  for _ in $(seq "$n"); do
    local t0 t1
    t0=$(date +%s.%N)
    bash -c "$cmd" >/dev/null 2>&1 || { echo "failed: $cmd" >&2; exit 1; }
    t1=$(date +%s.%N)
    best=$(python3 -c "a=$t1-$t0; b='$best'; print(a if not b else min(a, float(b)))")
  done
  echo "$best"
}

script() { # N command-true lines
  printf 'command true\n%.0s' $(seq "$1")
}
script 1 > "$work/one.fish"
script 51 > "$work/many.fish"
script 11 > "$work/ten.fish"

# Warm caches (rfish's initramfs, guestfish's appliance) outside the measurement.
"$rfish" -a "$work/d.qcow2" -i -f "$work/one.fish" >/dev/null 2>&1
guestfish -a "$work/d.qcow2" -i -f "$work/one.fish" >/dev/null 2>&1

r1=$(best "$rfish -a $work/d.qcow2 -i -f $work/one.fish" "$runs")
g1=$(best "guestfish -a $work/d.qcow2 -i -f $work/one.fish" "$runs")
r51=$(best "$rfish -a $work/d.qcow2 -i -f $work/many.fish" "$runs")
g11=$(best "guestfish -a $work/d.qcow2 -i -f $work/ten.fish" 1)
python3 - "$r1" "$g1" "$r51" "$g11" "$accel" <<'PY'
import sys
r1, g1, r51, g11 = map(float, sys.argv[1:5])
accel = sys.argv[5]
each_r = (r51 - r1) / 50 * 1000
each_g = (g11 - g1) / 10 * 1000
print(f"first command true from process start ({accel}): rfish {r1:.2f} s, guestfish {g1:.2f} s, ratio {g1 / r1:.1f}x")
print(f"each further command true: rfish {each_r:.1f} ms, guestfish {each_g:.1f} ms, ratio {each_g / max(each_r, 0.001):.1f}x")
PY
