#!/bin/sh
# mmdebstrap hook (see rootfs.sh): "install ROOT" puts a dpkg-deb in the
# arm64 chroot's /usr/local/bin, first on dpkg's PATH, that runs this
# machine's own dpkg-deb (the same Debian 12 version) natively, with this
# machine's libraries mounted read-only; "remove ROOT" takes it away again.
# Nothing of it stays in the root filesystem.
set -eu
root=$2
host=$root/.doorbell-host-dpkg-deb
case "$1" in
install)
  if ! dpkg-deb --version | head -1 | grep -q "version 1\.21\." || [ ! -e /usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 ]; then
    echo "native-dpkg-deb: this machine's dpkg-deb is not Debian 12's amd64 one; the chroot's own (emulated) is used" >&2
    exit 0
  fi
  mkdir -p "$host/lib" "$root/usr/local/bin"
  mount --bind /usr/lib/x86_64-linux-gnu "$host/lib"
  mount -o remount,bind,ro "$host/lib"
  cp "$(command -v dpkg-deb)" "$host/dpkg-deb"
  printf '#!/bin/sh\nexec /.doorbell-host-dpkg-deb/lib/ld-linux-x86-64.so.2 --library-path /.doorbell-host-dpkg-deb/lib /.doorbell-host-dpkg-deb/dpkg-deb "$@"\n' > "$root/usr/local/bin/dpkg-deb"
  chmod 755 "$root/usr/local/bin/dpkg-deb"
  ;;
remove)
  rm -f "$root/usr/local/bin/dpkg-deb"
  if [ -d "$host" ]; then
    umount "$host/lib"
    rm -rf "$host"
  fi
  ;;
esac
