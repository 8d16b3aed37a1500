#!/usr/bin/env bash
# Build a set of small partitioned disks with real filesystems (made by their own mkfs
# tools), cached in DIR: mbr.img (ext4; extended with vfat and swap), gpt.qcow2 (xfs and
# an empty partition, as qcow2), bare.img (ext2 on the whole disk), btrfs.img.
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
rm -f ext4.img vfat.img swap.img xfs.img
touch done
