#!/usr/bin/env bash
# End to end, as a newcomer would do it: corepind on this machine with a fresh SQLite file,
# this machine added as a host, one VM per vCPU policy created from the example files with the
# CLI, each checked in /proc (every "CPU n/KVM" thread and every emulator thread), a refusal
# with its reason, a restart and a kill -9 of corepind that lose nothing, bad requests that
# change nothing, and a clean delete. Needs root and libvirtd on qemu:///system.
#   tests/e2e/cli_e2e.sh BUILD_DIR
set -euo pipefail
source "$(dirname "$0")/lib.sh" "${1:?usage: cli_e2e.sh BUILD_DIR}"

start_daemon
"$cli" host add local --uri qemu:///system --housekeeping 0 >/dev/null
"$cli" host list | grep -q local || fail "host list does not show local"

declare -A expected=(
  [fw-dedicated]=$'emulator 0\nvcpu 0 1'
  [ctl-group]=$'emulator 0\nvcpu 0 1\nvcpu 1 1'
  [nat-pinned]=$'emulator 0\nvcpu 0 1'
)
for example in dedicated group pinned; do
  vm=$(awk '/^name:/ {print $2}' "$top/examples/$example.yaml")
  "$cli" vm create -f "$top/examples/$example.yaml" >/dev/null || fail "create $vm"
  created+=("$vm")
  expect_affinity "$vm" "${expected[$vm]}"
  "$cli" vm show "$vm" --json | grep -q '"pinning_verified": true' || fail "$vm: corepin does not report its pinning verified"
  "$cli" host show local | grep -q "$vm\|light" || fail "core map does not show $vm"
  # Only one allocatable pCPU: the next VM must be refused with the reason, and nothing changes.
  if out=$("$cli" vm create -f "$top/examples/dedicated.yaml" --name extra 2>&1); then fail "extra VM was accepted"; fi
  echo "$out" | grep -q "host local node0: 0 free pCPUs, needs 1" || fail "refusal without the reason: $out"
  [ "$("$cli" vm list --json | grep -c '"name"')" == 1 ] || fail "refused create changed the VM list"
  if [ "$example" != pinned ]; then
    "$cli" vm delete "$vm" >/dev/null
    created=()
    [ ! -e "/run/libvirt/qemu/$vm.pid" ] || fail "$vm's QEMU still runs after delete"
  fi
done

# Restart (SIGTERM) and crash (SIGKILL) of corepind lose nothing; reconcile finds no difference.
for sig in TERM KILL; do
  stop_daemon "$sig"
  start_daemon
  "$cli" vm show nat-pinned --json | grep -q '"pinning_verified": true' || fail "after SIG$sig: nat-pinned not verified"
  "$cli" reconcile --json | grep -q '"differences": \[\]' || fail "after SIG$sig: reconcile found differences"
  echo "ok: corepind SIG$sig and restart lost nothing"
done
expect_affinity nat-pinned "${expected[nat-pinned]}"

# Lost state: a 0-byte state file is refused; started empty on purpose (--init) while nat-pinned
# runs, adding the host again holds it out of placement (its pCPUs may be taken) until adopted.
stop_daemon TERM
: > "$work/corepin.db"
rm -f "$work/corepin.db-wal" "$work/corepin.db-shm"
if "$daemon_bin" --db "$work/corepin.db" --listen "127.0.0.1:$port" >"$work/refused.log" 2>&1; then fail "a 0-byte state was taken"; fi
grep -q "0 bytes" "$work/refused.log" && grep -q -- "--init" "$work/refused.log" || fail "0-byte state refused without the reason: $(cat "$work/refused.log")"
start_daemon --init
"$cli" host add local --uri qemu:///system --housekeeping 0 >/dev/null
view=$("$cli" host show local --json)  # captured: grep -q on a pipe could end the writer early
[[ "$view" == *'"nat-pinned"'* ]] || fail "the unknown domain is not in the host view"
alarms=$("$cli" alarms)
[[ "$alarms" == *alarm.unknown-domain* ]] || fail "no alarm for the unknown domain: $alarms"
if "$cli" vm create -f "$top/examples/dedicated.yaml" >/dev/null 2>&1; then created+=(fw-dedicated); fail "a VM was placed beside an unknown domain"; fi
"$cli" vm adopt nat-pinned --host local >/dev/null || fail "adopt nat-pinned"
"$cli" vm show nat-pinned --json | grep -q '"pinning_verified": true' || fail "adopted nat-pinned not verified"
expect_affinity nat-pinned "${expected[nat-pinned]}"
[ "$(stat -c %a "$work/corepin.db")" == 600 ] || fail "state file is $(stat -c %a "$work/corepin.db"), not 600"
[ "$(stat -c %a "$work/secrets.key")" == 600 ] || fail "key file is not 600"
echo "ok: lost state refused; an unknown domain held its host until adopted"

# Bad requests: 4xx with a message, nothing changed.
code=$(curl -s -o "$work/body" -w '%{http_code}' -X POST -H 'Content-Type: application/json' -d '{"name":' "$COREPIN_URL/v1/vms")
[ "$code" == 400 ] && grep -q "not valid JSON" "$work/body" || fail "malformed JSON gave $code $(cat "$work/body")"
code=$(curl -s -o "$work/body" -w '%{http_code}' -X POST -H 'Content-Type: application/json' -d '{"name":"x","vcpus":1,"memory_mib":64,"policy":"pinned:0"}' "$COREPIN_URL/v1/vms")
[ "$code" == 422 ] && grep -q "pCPU 0 is housekeeping" "$work/body" || fail "pinned:0 gave $code $(cat "$work/body")"
code=$(curl -s -o "$work/body" -w '%{http_code}' -X POST -H 'Content-Type: application/json' -d '{"name":"y","uri":"qemu+unix:///system?socket=/nonexistent/libvirt-sock","housekeeping":"0"}' "$COREPIN_URL/v1/hosts")
[ "$code" == 422 ] && grep -q "nonexistent" "$work/body" || fail "unreachable URI gave $code $(cat "$work/body")"
[ "$("$cli" host list --json | grep -c '"name"')" == 1 ] || fail "bad host add changed the host list"
# A host URI that would run a program is refused before libvirt sees it.
code=$(curl -s -o "$work/body" -w '%{http_code}' -X POST -H 'Content-Type: application/json' -d '{"name":"z","uri":"qemu+ext:///system?command='"$work"'/prog","housekeeping":"0"}' "$COREPIN_URL/v1/hosts")
[ "$code" == 422 ] && grep -q "refused" "$work/body" || fail "ext URI gave $code $(cat "$work/body")"
# An HTML form cannot drive corepind.
code=$(curl -s -o "$work/body" -w '%{http_code}' -X POST -d 'x=1' "$COREPIN_URL/v1/hosts/local/drain")
[ "$code" == 415 ] || fail "a form POST gave $code $(cat "$work/body")"
[ "$("$cli" host list --json | grep -c '"name"')" == 1 ] || fail "bad host add changed the host list"
echo "ok: bad requests refused with 4xx and a reason"

"$cli" vm delete nat-pinned >/dev/null
created=()
[ ! -e /run/libvirt/qemu/nat-pinned.pid ] || fail "nat-pinned's QEMU still runs after delete"
"$cli" host remove local >/dev/null
echo "PASS: cli e2e"
