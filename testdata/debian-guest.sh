#!/usr/bin/env bash
# Build a realistic Debian guest once in DIR (DIR/done marks a finished build):
#   root/          `debootstrap --variant=minbase bookworm` with systemd-sysv and passwd
#   debian.qcow2   GPT disk: partition 1 = /boot (ext4, 128 MiB), partition 2 = / (ext4,
#                  1.5 GiB), both made by mkfs.ext4 -d from root/; /etc/fstab names them by
#                  UUID=, /etc/hostname is "debian-fixture".
# Needs root (debootstrap, device nodes) and network access to deb.debian.org (or
# DEBIAN_MIRROR).
# Usage: testdata/debian-guest.sh DIR
set -euo pipefail
dir=$1
mkdir -p "$dir"
cd "$dir"
[ -f done ] && exit 0
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
if [ ! -f root/.debootstrap-done ]; then
  rm -rf root
  debootstrap --variant=minbase --include=systemd-sysv,passwd bookworm root "$mirror" >debootstrap.log 2>&1 \
    || { tail -20 debootstrap.log >&2; exit 1; }
  touch root/.debootstrap-done
fi
rm -f root/.debootstrap-done.keep
boot_uuid=11111111-2222-4333-8444-555555555555
root_uuid=66666666-7777-4888-9999-aaaaaaaaaaaa
echo debian-fixture > root/etc/hostname
printf 'UUID=%s / ext4 errors=remount-ro 0 1\nUUID=%s /boot ext4 defaults 0 2\n/dev/vdb1 none swap sw 0 0\n' \
  "$root_uuid" "$boot_uuid" > root/etc/fstab
mkdir -p bootfs && rm -rf bootfs/* && cp -a root/boot/. bootfs/ && echo "fake kernel" > bootfs/vmlinuz-6.1.0-test
rm -rf rootfs && mkdir rootfs && tar -C root --exclude=./boot/* --exclude=./.debootstrap-done -cf - . | tar -C rootfs -xf -
rm -f boot.img root.img && truncate -s 128M boot.img && truncate -s 1536M root.img
mkfs.ext4 -q -F -U "$boot_uuid" -L boot -d bootfs boot.img
mkfs.ext4 -q -F -U "$root_uuid" -L root -d rootfs root.img
rm -rf bootfs
truncate -s 1700M disk.raw
printf 'label: gpt\nstart=2048, size=262144, name="boot"\nstart=264192, size=3145728, name="root"\n' | sfdisk -q disk.raw
dd if=boot.img of=disk.raw bs=1M seek=1 conv=notrunc,sparse status=none
dd if=root.img of=disk.raw bs=512 seek=264192 conv=notrunc,sparse status=none
qemu-img convert -O qcow2 disk.raw debian.qcow2
rm -f disk.raw boot.img root.img
touch done
