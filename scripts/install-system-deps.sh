#!/usr/bin/env bash
# Installs the system packages that shoal's multi-process transport and its tests need, where they
# are missing:
#   libnng-dev                   NNG (nng.h and libnng.so), which the native addon is built against
#   openmpi-bin, libopenmpi-dev  Open MPI's mpirun, for the launcher tests
#   iproute2                     ip netns, for the tests that run two hosts as network namespaces
#   chromium                     headless Chromium, for the test that looks at the benchmark report
#                                (test/bench-report.test.ts takes a screenshot of the page)
# The single-process runtime needs none of them.
#
# On Debian or Ubuntu as root it runs apt-get (with `apt-get update` first only when something is
# missing); as another user, or on another system, it changes nothing and prints what to install.
# Running it again does nothing. It exits non-zero only when apt-get itself failed.
#
#   bash scripts/install-system-deps.sh            (npm test runs it first: the `pretest` script)
set -euo pipefail

packages=(libnng-dev openmpi-bin libopenmpi-dev iproute2 chromium)

say() { printf 'shoal: %s\n' "$*"; }

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
  say "not a Debian-based system, so nothing was installed. For the multi-process transport install"
  say "  NNG 1.5 or later with its headers (libnng; https://nng.nanomsg.org), then run: npm rebuild"
  say "and for the launcher tests, Open MPI (mpirun); for the report test, Chromium. The single-process"
  say "runtime needs none of them."
  exit 0
fi

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  say "system packages present: ${packages[*]}"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  say "missing system packages: ${missing[*]} (needed by the multi-process transport and its tests,"
  say "  and Chromium by the benchmark report's rendering test)."
  say "  install them as root with: apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
  say "  then build the NNG addon with: npm rebuild   (the single-process runtime works without them)"
  exit 0
fi

say "installing ${missing[*]} with apt-get ..."
export DEBIAN_FRONTEND=noninteractive
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
if ! { apt-get update -q && apt-get install -y -q --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
  tail -n 20 "$log" >&2
  say "apt-get could not install ${missing[*]} (its last lines are above)." >&2
  exit 1
fi
say "installed ${missing[*]}"
