#!/usr/bin/env bash
# Builds the doorbell Debian package from built binaries:
#
#   deploy/deb/build.sh ARCH BINDIR OUTDIR VERSION
#
# ARCH is amd64 or arm64; BINDIR holds doorbelld, doorbell-encoder,
# doorbell and doorbell-setup for it. Writes OUTDIR/doorbell_VERSION_ARCH.deb with
# dpkg-deb. Depends is computed by dpkg-shlibdeps from Debian's symbols
# files: the host's for amd64, the arm64 runtime root filesystem's
# (deploy/arm64/rootfs.sh runtime) for arm64.
set -euo pipefail
arch=${1:?usage: $0 ARCH BINDIR OUTDIR VERSION}
bindir=${2:?usage: $0 ARCH BINDIR OUTDIR VERSION}
outdir=${3:?usage: $0 ARCH BINDIR OUTDIR VERSION}
version=${4:?usage: $0 ARCH BINDIR OUTDIR VERSION}
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
case "$arch" in
  amd64) triplet=x86_64-linux-gnu ;;
  arm64) triplet=aarch64-linux-gnu ;;
  *) echo "deb: unknown architecture $arch; use amd64 or arm64" >&2; exit 2 ;;
esac
for f in doorbelld doorbell-encoder doorbell doorbell-setup; do
  [ -x "$bindir/$f" ] || { echo "deb: $bindir/$f is missing; build it first (make build-arm64 / make deb)" >&2; exit 1; }
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pkg=$work/debian/doorbell
install -d -m 0755 "$pkg/DEBIAN" "$pkg/usr/bin" "$pkg/usr/lib/doorbell" "$pkg/lib/systemd/system" \
  "$pkg/etc/doorbell" "$pkg/usr/share/doc/doorbell"
install -m 0755 "$bindir/doorbelld" "$bindir/doorbell" "$pkg/usr/bin/"
# Programs doorbelld runs, not for people: the setup service, and the live
# view's encoder (found there by doorbelld, stream.X264Program).
install -m 0755 "$bindir/doorbell-setup" "$bindir/doorbell-encoder" "$pkg/usr/lib/doorbell/"
install -m 0644 "$top/deploy/doorbell.service" "$top/deploy/doorbell-setup.service" "$pkg/lib/systemd/system/"
# The example config, as the device's: frames from the Raspberry Pi camera
# instead of the synthetic test scene, and the chime relay and status LED on
# the pins of the README's wiring diagram. A conffile: dpkg keeps the
# owner's changes on upgrades.
"$here/device-config.sh" < "$top/deploy/doorbell.example.toml" > "$pkg/etc/doorbell/doorbell.toml"
chmod 0644 "$pkg/etc/doorbell/doorbell.toml"
echo /etc/doorbell/doorbell.toml > "$pkg/DEBIAN/conffiles"
install -m 0755 "$here/postinst" "$here/prerm" "$here/postrm" "$pkg/DEBIAN/"
install -m 0644 "$here/copyright" "$pkg/usr/share/doc/doorbell/copyright"
install -m 0644 "$top/README.md" "$pkg/usr/share/doc/doorbell/README.md"
# The suite it is built for: arm64 against DEB_SUITE's sysroot (trixie by
# default), amd64 natively, for this machine's.
suite=${DEB_SUITE:-trixie}
[ "$arch" = arm64 ] || suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-unknown}")
printf 'doorbell (%s) %s; urgency=medium\n\n  * Built from %s.\n\n -- Doorbell developers <doorbell@localhost>  %s\n' \
  "$version" "$suite" "${COMMIT:-unknown}" "$(date -R -d "@${SOURCE_DATE_EPOCH:-$(date +%s)}")" | gzip -9n > "$pkg/usr/share/doc/doorbell/changelog.Debian.gz"

# Depends: the shared libraries doorbelld and doorbell-encoder link against
# (OpenCV's core and imgproc, libx264), by dpkg-shlibdeps.
mkdir -p "$work/debian"
printf 'Source: doorbell\n\nPackage: doorbell\nArchitecture: %s\n' "$arch" > "$work/debian/control"
if [ "$arch" = arm64 ] && [ "$(dpkg --print-architecture)" != arm64 ]; then
  # Cross: dpkg-shlibdeps looks the libraries up in the arm64 runtime
  # root's library directories and asks that root's dpkg database which
  # packages own them, through dpkg-query-in-root (no mount: this also works
  # in a chroot and unprivileged).
  runtime=$("$top/deploy/arm64/rootfs.sh" runtime)
  mkdir -p "$work/bin"
  ln -s "$here/dpkg-query-in-root" "$work/bin/dpkg-query"
  deps=$(cd "$work" && PATH="$work/bin:$PATH" DPKG_QUERY_ROOT="$runtime" \
    DEB_HOST_ARCH=arm64 DEB_HOST_MULTIARCH=$triplet DEB_HOST_GNU_TYPE=$triplet \
    dpkg-shlibdeps -O --admindir="$runtime/var/lib/dpkg" -l"$runtime/lib/$triplet" -l"$runtime/usr/lib/$triplet" \
    -e"$pkg/usr/bin/doorbelld" -e"$pkg/usr/lib/doorbell/doorbell-encoder")
else
  deps=$(cd "$work" && dpkg-shlibdeps -O -e"$pkg/usr/bin/doorbelld" -e"$pkg/usr/lib/doorbell/doorbell-encoder")
fi
deps=${deps#shlibs:Depends=}
[ -n "$deps" ] || { echo "deb: dpkg-shlibdeps found no dependencies" >&2; exit 1; }

size=$(du -sk --exclude=DEBIAN "$pkg" | cut -f1)
cat > "$pkg/DEBIAN/control" <<EOF
Package: doorbell
Version: $version
Architecture: $arch
Maintainer: Doorbell developers <doorbell@localhost>
Installed-Size: $size
Depends: $deps, adduser, ffmpeg, alsa-utils, espeak-ng
Recommends: avahi-daemon, rpicam-apps-lite | rpicam-apps
Suggests: age
Section: video
Priority: optional
Description: privacy-first video doorbell
 Firmware for a video doorbell on a Raspberry Pi with a camera module and a
 push button. It detects motion in chosen zones, streams live video to the
 household's phones over WebRTC, and records clips that are sealed on the
 device to the household members' age keys: the device keeps no footage it
 can read itself, and talks to no vendor cloud.
 .
 doorbelld is the daemon (systemd service doorbell.service); doorbell is
 the household's command-line tool.
EOF
# md5sums, as dpkg-deb does not make them.
(cd "$pkg" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 md5sum) > "$pkg/DEBIAN/md5sums"
chmod 0644 "$pkg/DEBIAN/control" "$pkg/DEBIAN/conffiles" "$pkg/DEBIAN/md5sums"

mkdir -p "$outdir"
out="$outdir/doorbell_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$pkg" "$out" >/dev/null
echo "$out"
