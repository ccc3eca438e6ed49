#!/bin/sh
# Prints a Debian package version for a git version (git describe):
# v1.2.3 → 1.2.3, v1.2.3-4-gabc → 1.2.3+4+gabc, a bare commit such as
# 274b5e4-dirty (no tag yet) → 0~git274b5e4+dirty.
v=${1:-dev}
if printf '%s\n' "$v" | grep -Eq '^[0-9a-f]{7,40}(-dirty)?$'; then
  v="0~git$v"
else
  case "$v" in
    v[0-9]*) v=${v#v} ;;
    [0-9]*) ;;
    *) v="0~git$v" ;;
  esac
fi
printf '%s\n' "$v" | tr -c 'A-Za-z0-9.~+\n' '+'
