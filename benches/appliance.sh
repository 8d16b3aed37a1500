#!/usr/bin/env bash
# Side-by-side: guest commands through the appliance, rfish against guestfish on the same
# copy of the Debian fixture, in one run, ratios printed.
#   1. the first `command true` from process start (`-i`, appliance boot included),
#   2. each further `command true` in the same session (200 of them timed between two
#      host-clock readings inside the session; 10 for guestfish).
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
# Further commands timed inside one session, between two host-clock readings (`!cmd`
# runs on the host), so boot-time noise stays out of the per-command figure.
timed() { # N
  printf 'command true\n!date +%%s.%%N\n'
  script "$1"
  printf '!date +%%s.%%N\n'
}
timed 200 > "$work/many.fish"
timed 10 > "$work/ten.fish"
per_command() { # SHELL SCRIPT N -> ms per command
  "$@" | python3 -c '
import sys
stamps = [float(l) for l in sys.stdin if l.strip().replace(".", "").isdigit()]
print((stamps[-1] - stamps[0]) / int(sys.argv[1]) * 1000)' "$n"
}

# Warm caches (rfish's initramfs, guestfish's appliance) outside the measurement.
"$rfish" -a "$work/d.qcow2" -i -f "$work/one.fish" >/dev/null 2>&1
guestfish -a "$work/d.qcow2" -i -f "$work/one.fish" >/dev/null 2>&1

r1=$(best "$rfish -a $work/d.qcow2 -i -f $work/one.fish" "$runs")
g1=$(best "guestfish -a $work/d.qcow2 -i -f $work/one.fish" "$runs")
n=200 each_r=$(per_command "$rfish" -a "$work/d.qcow2" -i -f "$work/many.fish")
n=10 each_g=$(per_command guestfish -a "$work/d.qcow2" -i -f "$work/ten.fish")
python3 - "$r1" "$g1" "$each_r" "$each_g" "$accel" <<'PY'
import sys
r1, g1, each_r, each_g = map(float, sys.argv[1:5])
accel = sys.argv[5]
print(f"first command true from process start ({accel}): rfish {r1:.2f} s, guestfish {g1:.2f} s, ratio {g1 / r1:.1f}x")
print(f"each further command true: rfish {each_r:.1f} ms, guestfish {each_g:.1f} ms, ratio {each_g / max(each_r, 0.001):.1f}x")
PY
