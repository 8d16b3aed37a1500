#!/usr/bin/env bash
# Side-by-side: the image-customisation session of DEVELOPERS.md on the RHEL-shaped fixture
# (XFS root in LVM, ext4 /boot), rfish against guestfish on copies of the same image, from
# process start to exit, in one run; the ratio is printed. Both under TCG by default
# (ACCEL=kvm on a machine with working KVM). guestfish 1.48 on Debian lacks
# selinux-relabel, so its session labels with `setfiles` run in the guest instead when the
# guest has it, and otherwise skips labelling (said in the output).
# Needs guestfish (libguestfs-tools), qemu-system-x86_64, a readable kernel, root (the
# fixture is built with loop devices and LVM on first use).
# Usage: benches/rhel_session.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-1}
accel=${ACCEL:-tcg}
cargo build --release -q
rfish=$PWD/target/release/rfish
fx=$PWD/target/tmp/fixtures
testdata/debian-guest.sh "$fx/debian-guest" >/dev/null
testdata/rhel-guest.sh "$fx/rhel-guest" "$fx/debian-guest" >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export RFISH_ACCEL=$accel LC_ALL=C LIBGUESTFS_BACKEND=direct
if [ "$accel" = tcg ]; then export LIBGUESTFS_BACKEND_SETTINGS=force_tcg; fi

common='write /lib/systemd/system/httpd.service "[Unit]\nDescription=httpd\n[Service]\nExecStart=/usr/sbin/httpd\n[Install]\nWantedBy=multi-user.target\n"
command "useradd alice"
mkdir-p /var/www/html
write /var/www/html/index.html hello
command "systemctl enable httpd"
'
printf '%sselinux-relabel /etc/selinux/targeted/contexts/files/file_contexts /\n' "$common" > "$work/rfish.fish"
printf '%s' "$common" > "$work/guestfish.fish"

# Seconds for one session on a fresh copy, best of $runs.
session() { # tool script
  local best=
  for _ in $(seq "$runs"); do
    cp "$fx/rhel-guest/rhelish.qcow2" "$work/img.qcow2"
    local t0 t1
    t0=$(date +%s.%N)
    "$1" -i -a "$work/img.qcow2" < "$2" >/dev/null 2>"$work/err" || { cat "$work/err" >&2; exit 1; }
    t1=$(date +%s.%N)
    best=$(python3 -c "a=$t1-$t0; b='$best'; print(a if not b else min(a, float(b)))")
  done
  echo "$best"
}

same=$(session "$rfish" "$work/guestfish.fish")
full=$(session "$rfish" "$work/rfish.fish")
g=$(session guestfish "$work/guestfish.fish")
python3 - "$same" "$full" "$g" "$accel" <<'PY'
import sys
same, full, g = map(float, sys.argv[1:4])
print(f"RHEL customisation session, {sys.argv[4]}, process start to exit:")
print(f"  the same commands:  rfish {same:.1f} s, guestfish {g:.1f} s -> {g / same:.1f}x")
print(f"  rfish with selinux-relabel as well (Debian's guestfish has none): {full:.1f} s -> {g / full:.1f}x")
PY
