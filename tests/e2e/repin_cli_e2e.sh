#!/usr/bin/env bash
# End to end through corepind and the CLI: a VM's threads moved behind corepin's back (virsh,
# as an operator would), then `corepin vm repin` (explicit and --auto) moves each of them back
# live, checked in /proc with the QEMU pid unchanged; refusals with their reason that change
# nothing; corepind --repair-drift repairing drift at a reconcile; `corepin vm resize` up and
# down. This machine has one allocatable pCPU (1): see src/controller/controller_repin_e2e_test.cc.
#   tests/e2e/repin_cli_e2e.sh BUILD_DIR
set -euo pipefail
source "$(dirname "$0")/lib.sh" "${1:?usage: repin_cli_e2e.sh BUILD_DIR}"

vm=rp-cli-e2e
drift() {  # moves every vCPU of $vm to pCPU 0 and its emulator threads to pCPU 1, live only
  local n=$1
  for ((i = 0; i < n; i++)); do virsh -q -c qemu:///system vcpupin "$vm" "$i" 0 --live >/dev/null; done
  virsh -q -c qemu:///system emulatorpin "$vm" 1 --live >/dev/null
}

start_daemon
"$cli" host add local --uri qemu:///system --housekeeping 0 >/dev/null
"$cli" vm create -f "$top/examples/group.yaml" --name "$vm" >/dev/null || fail "create $vm"
created+=("$vm")
intended=$'emulator 0\nvcpu 0 1\nvcpu 1 1'
expect_affinity "$vm" "$intended"
pid=$(qemu_pid "$vm")

# Explicit re-pin: every thread moves back from where virsh put it; no restart.
drift 2
expect_affinity "$vm" $'emulator 1\nvcpu 0 0\nvcpu 1 0'
out=$("$cli" vm repin "$vm" --vcpu 0=1 --vcpu 1=1 --emulator 0) || fail "repin: $out"
echo "$out"
echo "$out" | grep -q "verified (intended = actual)" || fail "repin not verified: $out"
echo "$out" | grep -Eq '^  0 +1 +1 +0 +1 +1$' || fail "repin output lacks vCPU 0 moved from 0 to 1: $out"
expect_affinity "$vm" "$intended"
[ "$(qemu_pid "$vm")" == "$pid" ] || fail "QEMU was restarted by the re-pin"

# --auto does the same.
drift 2
"$cli" vm repin "$vm" --auto >/dev/null || fail "repin --auto"
expect_affinity "$vm" "$intended"
[ "$(qemu_pid "$vm")" == "$pid" ] || fail "QEMU was restarted by repin --auto"

# Refusals: a reason, exit 1, nothing moved.
if out=$("$cli" vm repin "$vm" --vcpu 0=0 --vcpu 1=0 2>&1); then fail "repin to housekeeping accepted"; fi
echo "$out" | grep -q "pCPU 0 is housekeeping" || fail "refusal without the reason: $out"
if out=$("$cli" vm repin "$vm" --vcpu 0=1 2>&1); then fail "half a group moved"; fi
echo "$out" | grep -q "move together: name vCPUs 1 too" || fail "refusal without the reason: $out"
if out=$("$cli" vm repin "$vm" --vcpu 0 2>&1); then fail "--vcpu 0 accepted"; fi
echo "$out" | grep -q "expected VCPU=PCPU" || fail "bad --vcpu without the reason: $out"
code=$(curl -s -o "$work/body" -w '%{http_code}' -X POST -H 'Content-Type: application/json' -d '{}' "$COREPIN_URL/v1/vms/$vm/repin")
[ "$code" == 400 ] && grep -q "nothing to re-pin" "$work/body" || fail "empty repin gave $code $(cat "$work/body")"
code=$(curl -s -o "$work/body" -w '%{http_code}' -X POST -H 'Content-Type: application/json' -d '{"vcpus":{"0":7,"1":7}}' "$COREPIN_URL/v1/vms/$vm/repin")
[ "$code" == 422 ] && grep -q '"rejections"' "$work/body" && grep -q "pCPU 7 does not exist" "$work/body" ||
  fail "repin to pCPU 7 gave $code $(cat "$work/body")"
expect_affinity "$vm" "$intended"
echo "ok: refusals with a reason, nothing moved"

# Drift: an alarm without --repair-drift, a live repair with it.
drift 2
"$cli" reconcile --json | grep -q '"kind": "pinning-drift"' || fail "no pinning-drift in the reconcile"
"$cli" events --limit 1000 | grep -q "alarm.pinning-drift" || fail "no alarm.pinning-drift event"
expect_affinity "$vm" $'emulator 1\nvcpu 0 0\nvcpu 1 0'
stop_daemon TERM
start_daemon --repair-drift --reconcile-interval 0  # Start's reconcile repairs it
"$cli" events --limit 1000 | grep -q "vm.drift-repaired" || fail "no vm.drift-repaired event"
expect_affinity "$vm" "$intended"
[ "$(qemu_pid "$vm")" == "$pid" ] || fail "QEMU was restarted by the drift repair"
drift 2
"$cli" reconcile --json | grep -q '"kind": "drift-repaired"' || fail "reconcile did not repair"
expect_affinity "$vm" "$intended"
echo "ok: drift alarmed, then repaired live"

# Resize down and up (the domain restarts), and one that cannot fit (nothing stopped).
"$cli" vm resize "$vm" --vcpus 1 --policy dedicated --memory 64 >/dev/null || fail "resize down"
expect_affinity "$vm" $'emulator 0\nvcpu 0 1'
pid=$(qemu_pid "$vm")
if out=$("$cli" vm resize "$vm" --vcpus 2 2>&1); then fail "2 dedicated vCPUs accepted on 1 pCPU"; fi
echo "$out" | grep -q "host local node0: 1 free pCPU, needs 2" || fail "resize refusal without the reason: $out"
[ "$(qemu_pid "$vm")" == "$pid" ] || fail "a refused resize restarted the VM"
"$cli" vm resize "$vm" --vcpus 2 --policy group:light --memory 128 >/dev/null || fail "resize up"
expect_affinity "$vm" "$intended"
"$cli" vm show "$vm" --json | grep -q '"pinning_verified": true' || fail "$vm not verified after the resize"
echo "PASS: repin cli e2e"
