#!/usr/bin/env bash
# The Debian package as an operator meets it: built with cpack, installed with dpkg, the
# installed corepind run from a config file against a fixture host and the real libvirtd (one
# pinned VM, checked in /proc), a bad config file refused with its line, the unit file verified,
# and the package removed and purged cleanly. Needs root and libvirtd on qemu:///system.
#   tests/package/package_test.sh BUILD_DIR
set -euo pipefail
build=$(cd "${1:?usage: package_test.sh BUILD_DIR}" && pwd)
work=$(mktemp -d /tmp/corepin-package.XXXXXX)
port=$((20000 + RANDOM % 20000))
export COREPIN_URL="http://127.0.0.1:$port"
daemon="" vm=pkg-e2e installed=0 had_state=0
[ -d /var/lib/corepin ] && had_state=1
fail() { echo "FAIL: $*" >&2; [ -f "$work/corepind.log" ] && tail -20 "$work/corepind.log" >&2; exit 1; }
cleanup() {
  if [ -n "$daemon" ]; then /usr/bin/corepin vm delete "$vm" >/dev/null 2>&1 || true; kill "$daemon" 2>/dev/null; wait "$daemon" 2>/dev/null || true; fi
  if [ "$installed" = 1 ]; then dpkg --purge corepin >/dev/null 2>&1 || true; fi
  [ "$had_state" = 1 ] || rm -rf /var/lib/corepin  # the package keeps the state; this test made it
  rm -rf "$work"
}
trap cleanup EXIT

dpkg -s corepin >/dev/null 2>&1 && fail "a corepin package is already installed here; this test installs and removes its own"
(cd "$build" && cpack -G DEB -B "$work/deb" >"$work/cpack.log" 2>&1) || { cat "$work/cpack.log" >&2; fail "cpack"; }
deb=$(ls "$work"/deb/corepin_*.deb) || fail "no .deb made"
info=$(dpkg-deb -I "$deb")  # not piped into grep -q: with pipefail its early exit would fail the pipe
[[ "$info" =~ Depends:[^$'\n']*libvirt ]] || fail "the package declares no libvirt dependency: $info"
dpkg -i "$deb" >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log" >&2; fail "dpkg -i"; }
installed=1
for f in /usr/sbin/corepind /usr/bin/corepin /etc/corepin/corepind.conf /lib/systemd/system/corepind.service \
         /usr/share/bash-completion/completions/corepin /usr/share/man/man1/corepin.1.gz /usr/share/man/man8/corepind.8.gz; do
  [ -e "$f" ] || fail "$f is not installed"
done
[ "$(stat -c %a /var/lib/corepin)" == 700 ] || fail "/var/lib/corepin is $(stat -c %a /var/lib/corepin), not 700"
# Every complaint counts, except that man(1) itself is not installed to check Documentation=.
systemd-analyze verify /lib/systemd/system/corepind.service >"$work/verify.log" 2>&1 || true
if grep -v "Command 'man " "$work/verify.log" | grep .; then fail "systemd-analyze verify: $(cat "$work/verify.log")"; fi
echo "ok: installed; unit verified"

# The installed corepind, from a config file (as the unit runs it), its state in the work dir.
sed -e "s|^listen:.*|listen: 127.0.0.1:$port|" -e "s|^db:.*|db: $work/state/corepin.db|" -e "s|^probe-interval-ms:.*|probe-interval-ms: 0|" \
  /etc/corepin/corepind.conf >"$work/corepind.conf"
echo "allow-simulated-hosts: true" >>"$work/corepind.conf"
printf 'listen: 127.0.0.1:%s\nfailures-tolerated: lots\n' "$port" >"$work/bad.conf"
if /usr/sbin/corepind --config "$work/bad.conf" >"$work/bad.log" 2>&1; then fail "a bad config file was taken"; fi
grep -q "failures-tolerated lots.*line 2" "$work/bad.log" || fail "bad config refused without its line: $(cat "$work/bad.log")"
/usr/sbin/corepind --config "$work/corepind.conf" >>"$work/corepind.log" 2>&1 &
daemon=$!
for _ in $(seq 100); do curl -sf "$COREPIN_URL/v1/health" >/dev/null && break; sleep 0.1; done
curl -sf "$COREPIN_URL/v1/health" >/dev/null || fail "the installed corepind does not answer"
grep -q "config $work/corepind.conf" "$work/corepind.log" || fail "corepind does not say which config it read"
/usr/bin/corepin host add fx --uri "fixture:2s32c-smt2#pkg" --housekeeping 0,64 --label rack=r1 >/dev/null || fail "fixture host add"
/usr/bin/corepin host add local --uri qemu:///system --housekeeping 0 >/dev/null || fail "local host add"
cat >"$work/vm.yaml" <<YAML
name: $vm
vcpus: 1
memory_mib: 64
host: local
YAML
/usr/bin/corepin vm create -f "$work/vm.yaml" >/dev/null || fail "vm create on local"
pid=$(cat "/run/libvirt/qemu/$vm.pid")
allowed=$(for t in /proc/"$pid"/task/*; do
  if [[ "$(cat "$t/comm")" =~ ^CPU\ 0/ ]]; then awk '/^Cpus_allowed_list:/ {print $2}' "$t/status"; fi; done)
[ "$allowed" == 1 ] || fail "vCPU 0 of $vm may run on '$allowed', not 1"
/usr/bin/corepin vm delete "$vm" >/dev/null
/usr/bin/corepin host remove local >/dev/null
echo "ok: the installed corepind ran from its config file; $vm pinned to pCPU 1 in /proc"
kill "$daemon"; wait "$daemon" 2>/dev/null || true
daemon=""

dpkg -r corepin >"$work/dpkg.log" 2>&1 || fail "dpkg -r: $(cat "$work/dpkg.log")"
[ ! -e /usr/sbin/corepind ] && [ ! -e /lib/systemd/system/corepind.service ] || fail "files left after dpkg -r"
[ -e /etc/corepin/corepind.conf ] || fail "dpkg -r removed the conffile (only purge should)"
dpkg --purge corepin >"$work/dpkg.log" 2>&1 || fail "dpkg --purge: $(cat "$work/dpkg.log")"
installed=0
[ ! -e /etc/corepin ] || fail "/etc/corepin left after purge"
echo "PASS: package"
