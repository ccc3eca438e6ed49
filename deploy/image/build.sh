#!/usr/bin/env bash
# Turns a Raspberry Pi OS Lite (trixie or bookworm, arm64) image into a doorbell image:
#
#   deploy/image/build.sh [-grow SIZE] BASE.img OUT.img doorbell_VERSION_arm64.deb
#
# BASE may be a Raspberry Pi OS image (a partition table with a FAT boot
# partition and an ext4 root partition) or any arm64 Debian root file
# system image: partitioned the same way, or a bare ext4 file system. BASE is
# not changed. The recipe, run in the image's root through qemu-user:
#
#   - installs the doorbell package (apt fetches what it depends on and the
#     image lacks, from the image's own sources) and enables doorbell.service;
#   - names the host "doorbell" and has avahi announce doorbell.local and the
#     HTTPS service;
#   - keeps the journal in RAM (Storage=volatile), to spare the SD card;
#   - turns SSH off (the setup card can turn it on: ssh.enabled = true), and
#     disables Raspberry Pi OS's "ssh" file on the boot partition;
#   - leaves no keys behind: no SSH host keys, no doorbell data, an empty
#     machine-id and no random seed, so every device makes its own on first boot.
#
# Needs root, losetup, sfdisk, e2fsprogs, mtools and qemu-user-static
# (deploy/setup.sh installs them). The root partition is grown by -grow
# (default 1G) to make room for the package and its dependencies.
set -euo pipefail
grow=1G
if [ "${1:-}" = -grow ]; then
  grow=${2:?-grow needs a size, e.g. 1G}
  shift 2
fi
if [ $# -ne 3 ]; then
  echo "usage: $0 [-grow SIZE] BASE.img OUT.img doorbell_VERSION_arm64.deb" >&2
  exit 2
fi
base=$1 out=$2 deb=$3
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=deploy/arm64/binfmt.sh
. "$here/../arm64/binfmt.sh"
say() { echo "image: $*" >&2; }
die() { say "$*"; exit 1; }

[ "$(id -u)" = 0 ] || die "needs root (loop devices, mount, chroot)"
[ -f "$base" ] || die "$base: no such image file; download Raspberry Pi OS Lite (arm64; trixie, or bookworm for a DEB_SUITE=bookworm package) and unpack it (xz -d)"
[ -f "$deb" ] || die "$deb: no such package; build it with make deb"
[ "$(dpkg-deb -f "$deb" Architecture)" = arm64 ] || die "$deb is not an arm64 package"
for tool in losetup sfdisk e2fsck resize2fs mdel; do
  command -v "$tool" >/dev/null || die "$tool is missing; run deploy/setup.sh"
done
ensure_binfmt_aarch64 || die "cannot run arm64 programs here (binfmt_misc); see above"

work=$(mktemp -d)
root=$work/root
loops=()
mounts=()
cleanup() {
  local i
  for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do umount -l "${mounts[i]}" 2>/dev/null || true; done
  for l in "${loops[@]}"; do losetup -d "$l" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

say "copying $base to $out"
tmpout="$out.tmp"
cp --sparse=always "$base" "$tmpout"

# Find the root (and boot) file systems.
boot_offset=
if sfdisk -d "$tmpout" >/dev/null 2>&1; then
  # The last Linux partition is the root; a FAT partition is the boot one.
  read -r root_start root_size root_num < <(sfdisk -d "$tmpout" | awk -F'[ :,=]+' '
    /^[^ ]+ : start=/ { n++; for (i = 1; i < NF; i++) { if ($i == "start") s = $(i+1); if ($i == "size") z = $(i+1); if ($i == "type") t = $(i+1) }
      if (t == "83" || tolower(t) == "0fc63daf-8483-4772-8e79-3d69d8477de4") { rs = s; rz = z; rn = n }
      if (t == "c" || t == "b" || t == "e" || tolower(t) == "ebd0a0a2-b9e5-4433-87c0-68b6b72699c7") { bs = s } }
    END { print rs, rz, rn; print bs > "/dev/stderr" }' 2> "$work/boot")
  boot_start=$(cat "$work/boot")
  [ -n "$root_start" ] || die "$base has a partition table but no Linux partition"
  [ "$root_num" = "$(sfdisk -d "$tmpout" | grep -c '^[^ ]* : start=')" ] || die "$base: the root partition is not the last one, so it cannot be grown"
  [ -n "$boot_start" ] && boot_offset=$((boot_start * 512))
  # Grow the image and its last partition.
  truncate -s "+$grow" "$tmpout"
  echo ", +" | sfdisk --no-reread --no-tell-kernel -q -N "$root_num" "$tmpout" >/dev/null
  read -r root_start root_size < <(sfdisk -d "$tmpout" | awk -F'[ :,=]+' -v n="$root_num" '
    /^[^ ]+ : start=/ { k++; if (k == n) { for (i = 1; i < NF; i++) { if ($i == "start") s = $(i+1); if ($i == "size") z = $(i+1) }; print s, z } }')
  root_loop=$(losetup --find --show --offset $((root_start * 512)) --sizelimit $((root_size * 512)) "$tmpout")
else
  truncate -s "+$grow" "$tmpout"
  root_loop=$(losetup --find --show "$tmpout")
fi
loops+=("$root_loop")
e2fsck -pf "$root_loop" >/dev/null || [ $? -le 1 ] || die "the root file system of $base has errors (e2fsck)"
resize2fs "$root_loop" >/dev/null 2>&1 || die "cannot grow the root file system"

mkdir -p "$root"
mount "$root_loop" "$root"
mounts+=("$root")
[ -x "$root/usr/bin/dpkg" ] || die "$base holds no Debian root file system (no /usr/bin/dpkg)"
[ "$(chroot "$root" dpkg --print-architecture)" = arm64 ] || die "$base is not an arm64 system"
for fs in proc sys dev dev/pts; do
  mkdir -p "$root/$fs"
  mount --bind "/$fs" "$root/$fs"
  mounts+=("$root/$fs")
done
mount -t tmpfs tmpfs "$root/run"
mounts+=("$root/run")
mount -t tmpfs tmpfs "$root/tmp"
mounts+=("$root/tmp")

# No service starts inside the chroot; apt may reach the network.
printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"
resolv_backup=
if [ -e "$root/etc/resolv.conf" ] || [ -L "$root/etc/resolv.conf" ]; then
  resolv_backup=$work/resolv.conf
  cp -a "$root/etc/resolv.conf" "$resolv_backup"
fi
rm -f "$root/etc/resolv.conf"
cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive LC_ALL=C "$@"; }

say "installing $(basename "$deb") and avahi-daemon"
cp "$deb" "$root/tmp/doorbell.deb"
missing=$(dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed 's/(.*//; s/|.*//; s/ //g' | while read -r p; do
  [ -z "$p" ] || in_root dpkg-query -W -f='${db:Status-Status}\n' "$p" 2>/dev/null | grep -qx installed || echo "$p"; done)
if ! in_root dpkg-query -W -f='${db:Status-Status}\n' avahi-daemon 2>/dev/null | grep -qx installed; then
  missing="$missing avahi-daemon"
fi
if [ -n "$(echo "$missing" | tr -d ' \n')" ]; then
  say "fetching what the image lacks: $(echo $missing)"
  in_root apt-get update -qq
  in_root apt-get install -y -qq --no-install-recommends /tmp/doorbell.deb avahi-daemon >/dev/null
else
  in_root dpkg -i /tmp/doorbell.deb >/dev/null
fi
in_root apt-get clean

say "configuring the service, mDNS, the journal and SSH"
systemctl --root="$root" enable doorbell.service avahi-daemon.service >/dev/null 2>&1 || die "cannot enable doorbell.service"
echo doorbell > "$root/etc/hostname"
if grep -q '^127\.0\.1\.1' "$root/etc/hosts"; then
  sed -i 's/^127\.0\.1\.1.*/127.0.1.1\tdoorbell/' "$root/etc/hosts"
else
  printf '127.0.1.1\tdoorbell\n' >> "$root/etc/hosts"
fi
install -D -m 0644 "$here/avahi-doorbell.service" "$root/etc/avahi/services/doorbell.service"
install -D -m 0644 "$here/journald-volatile.conf" "$root/etc/systemd/journald.conf.d/doorbell.conf"
rm -rf "$root/var/log/journal"
# SSH: off; only the setup card turns it on (and makes host keys then).
for unit in ssh.service ssh.socket; do
  if [ -e "$root/lib/systemd/system/$unit" ]; then
    systemctl --root="$root" disable "$unit" >/dev/null 2>&1
  fi
done
# Raspberry Pi OS turns SSH on when a file named ssh is on the boot partition.
if [ -e "$root/lib/systemd/system/sshswitch.service" ]; then
  systemctl --root="$root" mask sshswitch.service >/dev/null 2>&1
fi
if [ -n "$boot_offset" ]; then
  for f in ssh ssh.txt; do
    mdel -i "$tmpout@@$boot_offset" "::$f" >/dev/null 2>&1 || true
  done
fi

say "removing keys and per-device state"
rm -f "$root"/etc/ssh/ssh_host_*
if [ -d "$root/var/lib/doorbell" ]; then
  find "$root/var/lib/doorbell" -mindepth 1 -delete
fi
: > "$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id" "$root/var/lib/systemd/random-seed" "$root/usr/sbin/policy-rc.d"
rm -f "$root/etc/resolv.conf"
[ -z "$resolv_backup" ] || cp -a "$resolv_backup" "$root/etc/resolv.conf"
rm -rf "$root/var/cache/apt/archives/"*.deb "$root/root/.bash_history"

for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do umount "${mounts[i]}"; done
mounts=()
e2fsck -fy "$root_loop" >/dev/null 2>&1 || [ $? -le 1 ] || die "the new root file system has errors (e2fsck)"
losetup -d "$root_loop"
loops=()
mv "$tmpout" "$out"
say "done: $out (write it to an SD card, then put a setup card on its boot partition: doorbell setup-card)"
