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

# Bad requests: 4xx with a message, nothing changed.
code=$(curl -s -o "$work/body" -w '%{http_code}' -X POST -d '{"name":' "$COREPIN_URL/v1/vms")
[ "$code" == 400 ] && grep -q "not valid JSON" "$work/body" || fail "malformed JSON gave $code $(cat "$work/body")"
code=$(curl -s -o "$work/body" -w '%{http_code}' -X POST -d '{"name":"x","vcpus":1,"memory_mib":64,"policy":"pinned:0"}' "$COREPIN_URL/v1/vms")
[ "$code" == 422 ] && grep -q "pCPU 0 is housekeeping" "$work/body" || fail "pinned:0 gave $code $(cat "$work/body")"
code=$(curl -s -o "$work/body" -w '%{http_code}' -X POST -d '{"name":"y","uri":"qemu+unix:///system?socket=/nonexistent","housekeeping":"0"}' "$COREPIN_URL/v1/hosts")
[ "$code" == 422 ] && grep -q "nonexistent" "$work/body" || fail "unreachable URI gave $code $(cat "$work/body")"
[ "$("$cli" host list --json | grep -c '"name"')" == 1 ] || fail "bad host add changed the host list"
echo "ok: bad requests refused with 4xx and a reason"

"$cli" vm delete nat-pinned >/dev/null
created=()
[ ! -e /run/libvirt/qemu/nat-pinned.pid ] || fail "nat-pinned's QEMU still runs after delete"
"$cli" host remove local >/dev/null
echo "PASS: cli e2e"
