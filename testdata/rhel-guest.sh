#!/usr/bin/env bash
# Build a RHEL-shaped guest once in DIR (DIR/done marks a finished build), laid out as Red
# Hat Enterprise Linux and CentOS images (osp-small.qcow2 among them) are:
#   rhelish.qcow2  GPT disk: partition 1 = /boot (ext4, 128 MiB), partition 2 = an LVM PV
#                  holding VG "rhel" with LV "root" (XFS, 1.5 GiB) = / and LV "home"
#                  (ext4, 64 MiB) = /home, holding /home/alice/hello.
# The userland is the Debian fixture's (testdata/debian-guest.sh: real useradd, systemctl,
# sh), branded as RHEL 8.1: /etc/os-release, /etc/redhat-release "Red Hat Enterprise Linux
# release 8.1 (Ootpa)", /etc/fstab with /dev/mapper/rhel-root and UUID=, /etc/hostname,
# and the targeted SELinux layout (/etc/selinux/config SELINUXTYPE=targeted, the host
# policy's file_contexts as contexts/files/file_contexts).
# The XFS is filled through a loop mount of its image file (tar, owners and xattrs kept);
# the LVM metadata is written by the real pvcreate/vgcreate/lvcreate on a loop device over
# the partition, and the XFS image copied to where lvs says the LV's extents are (the LV
# is never activated: no device-mapper needed).
# Needs root, losetup, lvm2, xfsprogs, e2fsprogs, sfdisk, qemu-img, the Debian fixture.
# Usage: testdata/rhel-guest.sh DIR [DEBIAN_FIXTURE_DIR (default: DIR/../debian-guest)]
set -euo pipefail
dir=$1
mkdir -p "$dir"
debian=$(cd "${2:-$dir/../debian-guest}" && pwd)
[ -f "$debian/done" ] || { echo "build the Debian fixture first (testdata/debian-guest.sh)" >&2; exit 1; }
mkdir -p "$dir"
cd "$dir"
# The version of this recipe: a fixture built by an older one is built again.
[ "$(cat done 2>/dev/null)" = 2 ] && exit 0
boot_uuid=22222222-3333-4444-8555-666666666666
root_uuid=77777777-8888-4999-aaaa-bbbbbbbbbbbb
cleanup() {
  mountpoint -q mnt 2>/dev/null && umount mnt
  [ -n "${loop:-}" ] && losetup -d "$loop" 2>/dev/null
  true
}
trap cleanup EXIT

# --- the tree ------------------------------------------------------------------------------
rm -rf tree bootfs mnt && mkdir tree bootfs mnt
tar -C "$debian/rootfs" -cf - . | tar -C tree -xf -
printf 'Red Hat Enterprise Linux release 8.1 (Ootpa)\n' > tree/etc/redhat-release
# Debian's /etc/os-release is a symlink into /usr/lib: replace the link, not its target.
rm -f tree/etc/os-release tree/usr/lib/os-release
cat > tree/etc/os-release <<'OS'
NAME="Red Hat Enterprise Linux"
VERSION="8.1 (Ootpa)"
ID="rhel"
ID_LIKE="fedora"
VERSION_ID="8.1"
PLATFORM_ID="platform:el8"
PRETTY_NAME="Red Hat Enterprise Linux 8.1 (Ootpa)"
ANSI_COLOR="0;31"
CPE_NAME="cpe:/o:redhat:enterprise_linux:8.1:GA"
OS
rm -f tree/etc/debian_version
echo rhel-fixture > tree/etc/hostname
printf '/dev/mapper/rhel-root / xfs defaults 0 0\nUUID=%s /boot ext4 defaults 1 2\n/dev/mapper/rhel-home /home ext4 defaults 1 2\n' \
  "$boot_uuid" > tree/etc/fstab
rm -rf homefs && mkdir -p homefs/alice && echo "hello from the home LV" > homefs/alice/hello
mkdir -p tree/etc/selinux/targeted/contexts/files
printf 'SELINUX=enforcing\nSELINUXTYPE=targeted\n' > tree/etc/selinux/config
spec=/etc/selinux/default/contexts/files/file_contexts
for s in "" .homedirs .local .subs .subs_dist; do
  [ -e "$spec$s" ] && cp "$spec$s" "tree/etc/selinux/targeted/contexts/files/file_contexts$s"
done
cp -a "$debian/root/boot/." bootfs/ 2>/dev/null || true
echo "fake kernel" > bootfs/vmlinuz-4.18.0-147.el8.x86_64

# --- the filesystems -------------------------------------------------------------------------
rm -f boot.img root.xfs
truncate -s 128M boot.img
mkfs.ext4 -q -F -U "$boot_uuid" -L boot -d bootfs boot.img
rm -f home.img && truncate -s 64M home.img
mkfs.ext4 -q -F -L home -d homefs home.img
truncate -s 1536M root.xfs
mkfs.xfs -q -f -m uuid="$root_uuid" -L root root.xfs
mount -o loop root.xfs mnt
tar -C tree --xattrs --numeric-owner -cf - . | tar -C mnt --xattrs --numeric-owner -xf -
umount mnt

# --- the disk: GPT, /boot, and an LVM PV with the LV's extents filled -------------------------
rm -f disk.raw && truncate -s 1800M disk.raw
printf 'label: gpt\nstart=2048, size=262144, name="boot"\nstart=264192, type=E6D6D379-F507-44C2-A23C-238F2A3DF928, name="lvm"\n' |
  sfdisk -q disk.raw
dd if=boot.img of=disk.raw bs=1M seek=1 conv=notrunc,sparse status=none
pv_offset=$((264192 * 512))
pv_size=$(($(stat -c %s disk.raw) - pv_offset - 33 * 512))
loop=$(losetup -f --show -o "$pv_offset" --sizelimit "$pv_size" disk.raw)
lvm_cfg='devices { filter=["a|^/dev/loop|","r|.*|"] } activation { udev_sync=0 udev_rules=0 } global { activation=0 } backup { backup=0 archive=0 }'
lvm() { command lvm "$@" --config "$lvm_cfg" 2>&1 | grep -v 'leaked on' || true; }
lvm pvcreate -q -y --uuid 0000A0-AAAA-AAAA-AAAA-AAAA-AAAA-000001 --norestorefile "$loop" >/dev/null
lvm vgcreate -q rhel "$loop" >/dev/null
lvm lvcreate -q --driverloaded n -an -Zn -n root -L 1536M rhel >/dev/null
lvm lvcreate -q --driverloaded n -an -Zn -n home -L 64M rhel >/dev/null
pe_start=$(command lvm pvs --config "$lvm_cfg" --noheadings --units b --nosuffix -o pe_start "$loop" 2>/dev/null | tr -d ' ')
extent=$(command lvm vgs --config "$lvm_cfg" --noheadings --units b --nosuffix -o vg_extent_size rhel 2>/dev/null | tr -d ' ')
first_extent() { # LV
  local ranges
  ranges=$(command lvm lvs --config "$lvm_cfg" --noheadings -o seg_pe_ranges "rhel/$1" 2>/dev/null | tr -d ' ')
  ranges=${ranges#*:}
  echo "${ranges%-*}"
}
root_pe=$(first_extent root) home_pe=$(first_extent home)
[ -n "$pe_start" ] && [ -n "$extent" ] && [ -n "$root_pe" ] && [ -n "$home_pe" ] ||
  { echo "lvm did not say where the LVs are" >&2; exit 1; }
losetup -d "$loop"; loop=
for lv in "root.xfs $root_pe" "home.img $home_pe"; do
  set -- $lv
  dd if="$1" of=disk.raw bs=1M conv=notrunc,sparse status=none \
    oflag=seek_bytes seek=$((pv_offset + pe_start + $2 * extent))
done
qemu-img convert -O qcow2 disk.raw rhelish.qcow2
rm -rf tree bootfs homefs mnt disk.raw boot.img root.xfs home.img
echo 2 > done
