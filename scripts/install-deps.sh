#!/usr/bin/env bash
# Installs corepin's Debian packages and makes sure libvirtd answers on qemu:///system.
# Idempotent; run as root. Used by scripts/run.sh and scripts/test.sh.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)

mapfile -t pkgs < <(cat "$top"/scripts/packages.txt $(find "$top/lab" "$top/src" -name packages.txt 2>/dev/null) |
                    sed 's/#.*//' | tr -s ' \t' '\n' | grep -v '^$' | sort -u)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# QEMU runs as libvirt-qemu: let the kvm group use /dev/kvm.
if [ -e /dev/kvm ]; then chgrp kvm /dev/kvm && chmod 660 /dev/kvm; fi

# A small pool of 2M hugepages for VMs with page_size 2M (and their end-to-end test). libvirt
# finds hugetlbfs mounts when it starts, so this comes before libvirtd.
hugepages=${COREPIN_HUGEPAGES_2M:-64}
pool=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
if [ -w "$pool" ] && [ "$(cat "$pool")" -lt "$hugepages" ]; then echo "$hugepages" > "$pool" || true; fi
if ! grep -q '^hugetlbfs /dev/hugepages ' /proc/mounts; then
  mkdir -p /dev/hugepages && mount -t hugetlbfs hugetlbfs /dev/hugepages || true
  echo "install-deps: mounted hugetlbfs on /dev/hugepages; a libvirtd already running sees it after a restart"
fi

# libvirtd: systemd starts it on a normal Debian host; on machines without systemd, start it here.
if ! virsh -c qemu:///system version >/dev/null 2>&1; then
  pgrep -x virtlogd >/dev/null || virtlogd -d
  pgrep -x libvirtd >/dev/null || libvirtd -d
  for _ in $(seq 50); do virsh -c qemu:///system version >/dev/null 2>&1 && break; sleep 0.2; done
fi
virsh -c qemu:///system version >/dev/null || { echo "install-deps: libvirtd does not answer on qemu:///system" >&2; exit 1; }
echo "install-deps: packages present, libvirtd answers on qemu:///system"
