#!/usr/bin/env bash
# Builds the device's programs for one architecture, for the Debian package:
#
#   deploy/build.sh amd64|arm64 OUTDIR
#
# doorbelld uses cgo and OpenCV, doorbell-encoder cgo and libx264. For arm64 it is cross-compiled with
# Debian's aarch64-linux-gnu gcc against an arm64 Debian sysroot of the
# suite DEB_SUITE (deploy/arm64/rootfs.sh sysroot): trixie by default
# (OpenCV 4.10, as current Raspberry Pi OS ships), or bookworm (OpenCV 4.6,
# Raspberry Pi OS Legacy); for amd64 it is built natively. Both link with
# lld, --as-needed and --gc-sections, so they depend only on the OpenCV
# modules they use (core and imgproc: gocv's unused imgcodecs wrappers are
# dropped, and with them libopencv_imgcodecs, which GNU ld would keep), and
# are stripped (-s -w; panics still print their stack traces).
# doorbell (the household CLI) and doorbell-setup are pure Go and static.
# LDFLAGS (Go -ldflags, for the version) and GOFLAGS (gocv's build tags,
# set by the Makefile) are taken from the environment.
set -euo pipefail
arch=${1:-}
out=${2:-}
if [ -z "$out" ] || { [ "$arch" != amd64 ] && [ "$arch" != arm64 ]; }; then
  echo "usage: $0 amd64|arm64 OUTDIR" >&2
  exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/.."
export PATH=/usr/local/go/bin:$PATH
ldflags="${LDFLAGS:-} -s -w"
mkdir -p "$out"
start=$(date +%s%N)

export GOOS=linux GOARCH=$arch
if [ "$arch" = arm64 ] && [ "$(uname -m)" != aarch64 ]; then
  for tool in aarch64-linux-gnu-gcc aarch64-linux-gnu-g++ pkg-config ld.lld; do
    command -v "$tool" >/dev/null || { echo "build: $tool is missing; run deploy/setup.sh" >&2; exit 1; }
  done
  sysroot=$("$here/arm64/rootfs.sh" sysroot)
  export CC="aarch64-linux-gnu-gcc --sysroot=$sysroot"
  export CXX="aarch64-linux-gnu-g++ --sysroot=$sysroot"
  export PKG_CONFIG_SYSROOT_DIR=$sysroot
  export PKG_CONFIG_LIBDIR=$sysroot/usr/lib/aarch64-linux-gnu/pkgconfig:$sysroot/usr/share/pkgconfig
  export PKG_CONFIG_PATH=
  # The suite's own libstdc++ (trixie's is newer than this cross gcc's, and
  # its OpenCV needs the newer symbols), before the cross compiler's.
  stdcxx=$(dirname "$(ls "$sysroot"/usr/lib/gcc/aarch64-linux-gnu/*/libstdc++.so | tail -1)")
  # The cross gcc looks for lld under the target's name.
  lldbin=$(mktemp -d)
  trap 'rm -rf "$lldbin"' EXIT
  ln -s "$(command -v ld.lld)" "$lldbin/aarch64-linux-gnu-ld.lld"
  export PATH=$lldbin:$PATH
  export CGO_LDFLAGS="-Wl,--as-needed -L$stdcxx -Wl,-rpath-link,$sysroot/usr/lib/aarch64-linux-gnu -Wl,-rpath-link,$sysroot/lib/aarch64-linux-gnu"
elif [ "$arch" = amd64 ] && [ "$(uname -m)" != x86_64 ]; then
  echo "build: building amd64 on $(uname -m) is not supported; build it on an amd64 machine" >&2
  exit 1
else
  export CGO_LDFLAGS="-Wl,--as-needed"
fi
# lld and --gc-sections for doorbelld's final link only (see the Makefile).
CGO_ENABLED=1 go build -trimpath -ldflags "$ldflags -extldflags '-fuse-ld=lld -Wl,--gc-sections'" -o "$out/doorbelld" ./cmd/doorbelld
# The live view's encoder: cgo against libx264 alone (libx264-dev in the sysroot).
CGO_ENABLED=1 go build -trimpath -ldflags "$ldflags" -o "$out/doorbell-encoder" ./cmd/doorbell-encoder
CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$out/doorbell" ./cmd/doorbell
CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$out/doorbell-setup" ./cmd/doorbell-setup
echo "build: linux/$arch doorbelld, doorbell-encoder, doorbell and doorbell-setup in $out ($(( ($(date +%s%N) - start) / 1000000 )) ms)" >&2
