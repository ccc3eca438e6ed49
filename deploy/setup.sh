#!/usr/bin/env bash
# Installs what building, testing and running the doorbell needs, and only
# what is missing: with everything present it takes well under 2 seconds.
# Run as root on Debian 12 (bookworm) or 13 (trixie).
set -euo pipefail

# The host's Debian packages, and why. Every one is named here: apt runs
# with --no-install-recommends, so nothing may arrive as a Recommends of
# another (mmdebstrap's arch-test once did not, and every deploy test
# failed on a fresh machine). The device's packages are another list:
# deploy/arm64/runtime.packages.
packages=(
  make git ca-certificates  # the build itself, go mod download over HTTPS
  gcc g++ pkg-config   # cgo and gocv
  binutils             # readelf: the tests check doorbelld's NEEDED libraries and symbols
  libopencv-dev        # OpenCV 4.6 (core and imgproc are used)
  lld                  # links doorbelld with --gc-sections, so it does not NEED libopencv_imgcodecs (Makefile, deploy/build.sh)
  opencv-doc           # real test footage (vtest.avi)
  libx264-dev          # doorbell-encoder, the live view's H.264 encoder, links libx264 alone (cgo)
  ffmpeg               # the hardware H.264 encoder, file and USB camera decoding, audio, and test clips (ffprobe too)
  chromium             # headless browser tests of the phone page
  libnss3-tools        # certutil: the household root in a test Chromium's NSS database
  age                  # the real age tool, to decrypt clips in tests
  mosquitto            # a real MQTT broker for tests
  motion               # Debian's motion detector, the peer make bench-peers measures against
  pebble               # the ACME test server and pebble-challtestsrv, for the [http.acme] tests
  procps               # ps and /proc tools the tests use to watch processes
  espeak-ng            # the built-in spoken quick replies (en, de), made on the device and in tests
  alsa-utils           # arecord and aplay: the doorbell's microphone and speaker, with short ALSA buffers
  libopus-dev          # libopus through cgo (gopkg.in/hraban/opus.v2, tag nolibopusfile): the daemon encodes and decodes the sound's Opus
  nodejs npm           # npm ci of web/typage's lockfile and its esbuild: TestTypageBundleMatches rebuilds web/static/age.js and compares (Debian 12's node 18 makes it byte for byte)
  # deploy/: arm64 builds, Debian packages, the unit and the SD-card image.
  mmdebstrap                                   # the arm64 Debian sysroot and root filesystems
  arch-test                                    # mmdebstrap: checks this machine can run arm64 (a Recommends, so named)
  gpgv debian-archive-keyring                  # mmdebstrap: verifies the Debian mirror's Release files
  gcc-aarch64-linux-gnu g++-aarch64-linux-gnu  # cross-compiling doorbelld (cgo) for arm64
  qemu-user-static                             # running arm64 programs in tests, and in the image recipe
  dpkg-dev                                     # dpkg-shlibdeps: the package's Depends
  systemd                                      # systemd-analyze verify and security; the unit under a real systemd
  util-linux mount bsdutils                    # unshare, nsenter, losetup, mount (overlay, loop), script
  fdisk e2fsprogs mtools                       # the image recipe: partitions, ext4, the FAT boot partition
  dosfstools                                   # the image test's FAT boot partition
  xz-utils                                     # the image recipe reads .img.xz base images
  # recorder/powercut: real power cuts under the recorder, in a virtual machine.
  qemu-system-x86                              # the machine (TCG), killed at random moments
  busybox-static                               # the guest's /init and tools
)
STATICCHECK_VERSION=v0.8.2

missing=()
for p in "${packages[@]}"; do
  # NodeSource's nodejs Provides (and Conflicts with) npm: its npm will do.
  [ "$p" = npm ] && command -v npm >/dev/null && continue
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [ "$status" = installed ] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup: missing Debian packages: ${missing[*]}; run this as root (sudo make ...) or install them with apt-get" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v go >/dev/null 2>&1; then
  if [ -x /usr/local/go/bin/go ]; then
    export PATH=/usr/local/go/bin:$PATH
  else
    echo "setup: no Go toolchain found; install Go 1.26 or newer to /usr/local/go (see README)" >&2
    exit 1
  fi
fi

cd "$(dirname "$0")/.."
# The mosquitto package starts a broker on port 1883; tests start their own
# on free loopback ports, so the system one is left as the package set it up.
go mod download
mkdir -p bin
if ! [ -x bin/staticcheck ] || ! bin/staticcheck -version 2>/dev/null | grep -q "${STATICCHECK_VERSION#v}"; then
  echo "setup: installing staticcheck $STATICCHECK_VERSION" >&2
  GOBIN="$PWD/bin" go install "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION"
fi
