#!/usr/bin/env bash
# One command for every test: installs what is needed, builds, and runs all tests, including
# the end-to-end ones against the real libvirtd and QEMU and the lab tests (several libvirtd
# hosts, BMCs and Open vSwitch on this machine); none of them may skip here.
#   scripts/test.sh                # as root
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/install-deps.sh"
"$top/scripts/build.sh"
export COREPIN_REQUIRE_LIBVIRT=1 COREPIN_LAB=1
cd "$top/build"
ctest --output-on-failure -j1 "$@"
