#!/usr/bin/env bash
# Side-by-side: relabelling the whole Debian fixture guest (~10k inodes) with rfish's
# native selinux-relabel (process start to exit, labels written through the journal)
# against the host's `setfiles -n -F -r ROOT SPEC ROOT` on the same tree unpacked in a
# directory (a dry run: setfiles' own matching and walking, nothing written), in one run,
# ratio printed.
# Needs hyperfine, setfiles (policycoreutils), selinux-policy-default, qemu-img; the
# Debian fixture (built on demand).
# Usage: benches/selinux_relabel.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q
rfish=$PWD/target/release/rfish
spec=/etc/selinux/default/contexts/files/file_contexts
fx=$PWD/target/tmp/fixtures/debian-guest
testdata/debian-guest.sh "$fx" >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mean() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"][0]["mean"])' "$1"; }

# A copy of the guest with the policy inside it.
cp "$fx/debian.qcow2" "$work/base.qcow2"
{
  printf 'run\nmount /dev/sda2 /\nmkdir-p /etc/selinux/default/contexts/files\n'
  for s in "" .homedirs .local .subs .subs_dist; do
    [ -e "$spec$s" ] && printf 'upload %s %s\n' "$spec$s" "$spec$s"
  done
} > "$work/prep.fish"
"$rfish" -a "$work/base.qcow2" -f "$work/prep.fish"
printf 'run\nmount /dev/sda2 /\nselinux-relabel %s / force:true\n' "$spec" > "$work/relabel.fish"
inodes=$(find "$fx/rootfs" -xdev | wc -l)

hyperfine -N -w 1 -r 10 --prepare "cp $work/base.qcow2 $work/d.qcow2" \
  --export-json "$work/r.json" "$rfish -a $work/d.qcow2 -f $work/relabel.fish" >/dev/null
hyperfine -N -w 1 -r 5 --export-json "$work/s.json" \
  "setfiles -n -F -r $fx/rootfs $spec $fx/rootfs" >/dev/null
r=$(mean "$work/r.json"); s=$(mean "$work/s.json")
python3 -c "print(f'relabel {$inodes} inodes: rfish {$r*1000:.0f} ms (labels written), setfiles -n {$s*1000:.0f} ms (dry run), ratio {$s/$r:.1f}x')"
