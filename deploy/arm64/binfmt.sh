# Sourced by the arm64 scripts: makes arm64 programs run on this machine
# through qemu-user, also inside a chroot (binfmt_misc with the F flag, so
# the emulator need not exist inside the root filesystem).
ensure_binfmt_aarch64() {
  local dir=/proc/sys/fs/binfmt_misc conf=/usr/lib/binfmt.d/qemu-aarch64.conf
  if [ "$(uname -m)" = aarch64 ]; then
    return 0
  fi
  if [ -e "$dir/qemu-aarch64" ]; then
    if grep -q '^flags: .*F' "$dir/qemu-aarch64" && grep -q enabled "$dir/qemu-aarch64"; then
      return 0
    fi
    echo "binfmt: qemu-aarch64 is registered without the F flag; run: echo -1 > $dir/qemu-aarch64, then try again" >&2
    return 1
  fi
  if [ ! -f "$conf" ]; then
    echo "binfmt: $conf is missing; install qemu-user-static (deploy/setup.sh does)" >&2
    return 1
  fi
  if [ ! -e "$dir/register" ] && ! mount -t binfmt_misc binfmt_misc "$dir" 2>/dev/null; then
    echo "binfmt: binfmt_misc is not mounted on $dir and cannot be (no permission?); run this as root on the host, or mount it: mount -t binfmt_misc binfmt_misc $dir" >&2
    return 1
  fi
  if [ -e "$dir/qemu-aarch64" ]; then
    return 0
  fi
  if ! grep -v '^#' "$conf" > "$dir/register" 2>/dev/null && [ ! -e "$dir/qemu-aarch64" ]; then # (another script may have registered it meanwhile)
    echo "binfmt: cannot register qemu-aarch64 with binfmt_misc; run: systemctl restart systemd-binfmt" >&2
    return 1
  fi
  echo "binfmt: registered qemu-aarch64 for arm64 programs" >&2
}
