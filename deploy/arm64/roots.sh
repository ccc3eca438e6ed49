#!/usr/bin/env bash
# Makes (once) every arm64 root filesystem the deploy tests use: a sysroot
# and a runtime root for each suite (rootfs.sh), all at the same time. On a
# cold cache a runtime root takes minutes of dpkg under qemu-user, which
# runs on one core, and a sysroot is mostly downloading: side by side they
# keep the machine busy instead of taking turns. On a warm cache this
# checks the cache keys and is done.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=deploy/arm64/binfmt.sh
. "$here/binfmt.sh"
ensure_binfmt_aarch64 # once, before the runtime roots would race to register it

pids=() names=()
for suite in trixie bookworm; do
  for kind in sysroot runtime; do
    # Each line of its progress is tagged with what it is for.
    ( DEB_SUITE=$suite bash "$here/rootfs.sh" "$kind" 2> >(sed -u "s/^/[$suite $kind] /" >&2) >/dev/null ) &
    pids+=($!) names+=("$suite $kind")
  done
done
failed=()
for i in "${!pids[@]}"; do
  wait "${pids[$i]}" || failed+=("${names[$i]}")
done
if [ ${#failed[@]} -gt 0 ]; then
  printf 'roots: the arm64 %s root filesystem was not made (its lines above say why)\n' "${failed[@]}" >&2
  exit 1
fi
