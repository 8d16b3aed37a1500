#!/usr/bin/env bash
# Build a set of small partitioned disks with real filesystems (made by their own mkfs
# tools), cached in DIR: mbr.img (ext4; extended with vfat and swap), gpt.qcow2 (xfs and
# an empty partition, as qcow2), bare.img (ext2 on the whole disk), btrfs.img, and
# lvm.img (an MBR partition holding an LVM PV with two LVs, one with ext4: built with
# pvcreate/vgcreate/vgcfgrestore on a loop device, so root only; skipped otherwise).
# Usage: testdata/disks.sh DIR
set -euo pipefail
dir=$1
mkdir -p "$dir"
cd "$dir"
[ -f done ] && exit 0
truncate -s 32M ext4.img && mkfs.ext4 -q -L root ext4.img
truncate -s 32M vfat.img && mkfs.vfat -n BOOT vfat.img >/dev/null
truncate -s 16M swap.img && mkswap -L swap swap.img >/dev/null 2>&1
truncate -s 300M xfs.img && mkfs.xfs -q -L data xfs.img
truncate -s 128M mbr.img
printf 'label: dos\nstart=2048, size=65536, type=83\nstart=67584, size=120000, type=5\nstart=69632, size=65536, type=c\nstart=137216, size=32768, type=82\n' | sfdisk -q mbr.img
dd if=ext4.img of=mbr.img bs=512 seek=2048 conv=notrunc,sparse status=none
dd if=vfat.img of=mbr.img bs=512 seek=69632 conv=notrunc,sparse status=none
dd if=swap.img of=mbr.img bs=512 seek=137216 conv=notrunc,sparse status=none
truncate -s 512M gpt.img
printf 'label: gpt\nstart=2048, size=614400\nstart=616448, size=100000\n' | sfdisk -q gpt.img
dd if=xfs.img of=gpt.img bs=512 seek=2048 conv=notrunc,sparse status=none
qemu-img convert -O qcow2 gpt.img gpt.qcow2 && rm gpt.img
truncate -s 32M bare.img && mkfs.ext2 -q -L whole bare.img
truncate -s 200M btrfs.img && mkfs.btrfs -q -L btr btrfs.img
# LVM: metadata written by LVM's own tools (no device-mapper needed), data copied in.
truncate -s 64M lvm.img
printf 'label: dos\nstart=2048, type=8e\n' | sfdisk -q lvm.img
if loop=$(losetup -f --show -o 1048576 lvm.img 2>/dev/null); then
  cfg='devices { obtain_device_list_from_udev=0 use_devicesfile=0 } activation { udev_sync=0 udev_rules=0 }'
  { pvcreate -q --config "$cfg" "$loop" && vgcreate -q --config "$cfg" -s 1M benchvg "$loop" \
    && vgcfgbackup -q --config "$cfg" -f vg.txt benchvg; } >/dev/null 2>&1
  python3 - <<'PY'
s = open("vg.txt").read()
lv = lambda name, pe, n: f"""
\t\t{name} {{
\t\t\tid = "aaaaaa-bbbb-cccc-dddd-eeee-ffff-{name:0>6}"
\t\t\tstatus = ["READ", "WRITE", "VISIBLE"]
\t\t\tflags = []
\t\t\tsegment_count = 1
\t\t\tsegment1 {{
\t\t\t\tstart_extent = 0
\t\t\t\textent_count = {n}
\t\t\t\ttype = "striped"
\t\t\t\tstripe_count = 1
\t\t\t\tstripes = ["pv0", {pe}]
\t\t\t}}
\t\t}}"""
at = s.index("\n\t}\n", s.index("physical_volumes")) + 4
s = s[:at] + "\n\tlogical_volumes {" + lv("root", 0, 24) + lv("home", 24, 16) + "\n\t}\n" + s[at:]
open("vg.txt", "w").write(s)
PY
  vgcfgrestore -q --config "$cfg" -f vg.txt benchvg >/dev/null 2>&1 || true
  pe_start=$(pvs --noheadings --units b --nosuffix -o pe_start --config "$cfg" "$loop" 2>/dev/null | tr -d ' ')
  losetup -d "$loop"
  truncate -s 24M lvroot.img && mkfs.ext4 -q -L lvroot lvroot.img
  dd if=lvroot.img of=lvm.img bs=1M seek=$(( (1048576 + pe_start) / 1048576 )) conv=notrunc status=none
  rm -f lvroot.img vg.txt
else
  rm -f lvm.img
fi
rm -f ext4.img vfat.img swap.img xfs.img
touch done
