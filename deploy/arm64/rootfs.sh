#!/usr/bin/env bash
# Makes (once) and prints the path of an arm64 Debian root filesystem, of
# the suite DEB_SUITE: trixie (Debian 13, current Raspberry Pi OS; the
# default) or bookworm (Debian 12, Raspberry Pi OS Legacy):
#
#   deploy/arm64/rootfs.sh sysroot   headers and libraries for cross-compiling
#                                    (extracted only: no emulation needed)
#   deploy/arm64/rootfs.sh runtime   an installed system to run the arm64
#                                    build in under qemu-user emulation
#
# The package lists are deploy/arm64/{sysroot,runtime}.packages; a line
# "SUITE: package" is for that suite only. A root filesystem is cached in $DOORBELL_CACHE (default /var/cache/doorbell) under
# a name with the hash of its list, so it is made again only when the list
# changes; older ones are removed. Needs root, mmdebstrap and, for the
# runtime, qemu-user-static (deploy/setup.sh installs them). Only Debian's
# mirror is used.
set -euo pipefail

kind=${1:-}
case "$kind" in
  sysroot) variant=extract ;;
  runtime) variant=apt ;;
  *) echo "usage: $0 sysroot|runtime" >&2; exit 2 ;;
esac
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=deploy/arm64/binfmt.sh
. "$here/binfmt.sh"

cache=${DOORBELL_CACHE:-/var/cache/doorbell}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
security_mirror=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
suite=${DEB_SUITE:-trixie}
case "$suite" in
  trixie|bookworm) ;;
  *) echo "rootfs: DEB_SUITE=$suite is not supported; use trixie (Debian 13, the default) or bookworm (Debian 12)" >&2; exit 2 ;;
esac
list="$here/$kind.packages"
packages=$(sed -e 's/#.*//' -e 's/[[:space:]]//g' "$list" | grep -v '^$' |
  sed -n -e "s/^$suite://p" -e '/:/!p' | sort -u | paste -sd, -)
# Bump recipe when the way the root filesystem is made changes.
recipe=6
hash=$( { echo "$recipe $suite $variant $mirror $security_mirror"; echo "$packages"; } | sha256sum | cut -c1-12)
dest="$cache/arm64-$suite-$kind-$hash"

if [ "$kind" = runtime ]; then
  # Running its programs needs qemu-user through binfmt_misc, which a
  # reboot forgets.
  ensure_binfmt_aarch64
fi
if [ -f "$dest/.doorbell-complete" ]; then
  echo "$dest"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "rootfs: making the arm64 $kind root filesystem needs root (mmdebstrap, chroot); run as root" >&2
  exit 1
fi
for tool in mmdebstrap; do
  command -v "$tool" >/dev/null || { echo "rootfs: $tool is missing; run deploy/setup.sh" >&2; exit 1; }
done
mkdir -p "$cache"
exec 9>"$cache/.arm64-$suite-$kind.lock"
flock 9
if [ -f "$dest/.doorbell-complete" ]; then # made by someone else meanwhile
  echo "$dest"
  exit 0
fi
start=$(date +%s)
echo "rootfs: making the arm64 $suite $kind root filesystem in $dest (once; packages: $packages)" >&2
tmp="$dest.tmp"
"$here/native-dpkg-deb.sh" remove "$tmp" 2>/dev/null || true
rm -rf --one-file-system "$tmp"
opts=(--variant="$variant" --architectures=arm64 --include="$packages" --format=directory)
if [ "$kind" = runtime ]; then
  # Faster under emulation: no documentation, no man-db triggers, and dpkg
  # without fsync (the directory is made again if the machine crashes).
  opts+=(--dpkgopt='path-exclude=/usr/share/man/*'
         --dpkgopt='path-exclude=/usr/share/doc/*'
         --dpkgopt='path-include=/usr/share/doc/*/copyright'
         --dpkgopt='path-exclude=/usr/share/locale/*'
         --dpkgopt='force-unsafe-io'
         # …only while it is made: the system itself keeps dpkg's defaults.
         --customize-hook='rm -f "$1"/etc/dpkg/dpkg.cfg.d/99mmdebstrap')
  # Merge /usr from the start, as Debian's installer does, instead
  # of converting the system afterwards.
  opts+=(--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr)
  if [ "$(uname -m)" = x86_64 ] && [ -z "${DOORBELL_ROOTFS_EMULATED_DPKG_DEB:-}" ]; then
    # Most of the time under emulation goes into dpkg-deb decompressing the
    # packages. This machine's own dpkg-deb (Debian 12's, which reads
    # Debian 13's packages too) does it natively: from the first package on, a wrapper that runs it
    # is first on dpkg's PATH in the chroot, and removed at the end.
    # DOORBELL_ROOTFS_EMULATED_DPKG_DEB=1 turns this off.
    local_path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
    export PATH=$local_path
    opts+=(--aptopt="DPkg::Path \"$local_path\""
           --extract-hook="$here/native-dpkg-deb.sh install \"\$1\""
           --customize-hook="$here/native-dpkg-deb.sh remove \"\$1\""
           --customize-hook='rm -f "$1"/etc/apt/apt.conf.d/99mmdebstrap')
  fi
fi
if ! mmdebstrap --quiet "${opts[@]}" "$suite" "$tmp" \
    "deb $mirror $suite main" \
    "deb $mirror $suite-updates main" \
    "deb $security_mirror $suite-security main" >&2; then
  echo "rootfs: mmdebstrap failed (see above); is deb.debian.org reachable?" >&2
  "$here/native-dpkg-deb.sh" remove "$tmp" 2>/dev/null || true
  rm -rf --one-file-system "$tmp"
  exit 1
fi
if [ "$kind" = sysroot ]; then
  # Nothing is configured in an extracted system, so the links that
  # update-alternatives would make for BLAS and LAPACK (which OpenCV needs)
  # are made here, to Debian's reference implementations.
  for lib in blas/libblas.so.3 lapack/liblapack.so.3; do
    ln -sfn "$lib" "$tmp/usr/lib/aarch64-linux-gnu/$(basename "$lib")"
  done
  # trixie's packages ship only /usr (merged /usr), and its linker scripts
  # (libc.so, libm.so) name /lib/aarch64-linux-gnu: the links an installed
  # system has.
  for d in bin sbin lib; do
    [ -e "$tmp/$d" ] || ln -s "usr/$d" "$tmp/$d"
  done
fi
touch "$tmp/.doorbell-complete"
mv "$tmp" "$dest"
ln -sfn "$(basename "$dest")" "$cache/arm64-$suite-$kind"
for old in "$cache"/arm64-"$suite"-"$kind"-*; do
  [ "$old" = "$dest" ] || [ ! -d "$old" ] || rm -rf --one-file-system "$old"
done
echo "rootfs: arm64 $suite $kind root filesystem ready in $(( $(date +%s) - start )) s" >&2
echo "$dest"
