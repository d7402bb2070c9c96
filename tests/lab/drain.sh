#!/usr/bin/env bash
# In the lab: draining a host for maintenance (issue 7, item 4) with traffic flowing. Three lab
# hosts (racks r1..r3; one allocatable pCPU each), a 1+1 group of the lab guest with its service
# on VLAN 100 and two standalone VMs beside its ACT, all light (group:light: their vCPUs share
# one pCPU). `corepin host drain` on the
# ACT's host:
#   - shows a progress bar and ends done; the host is drained;
#   - the group switched over first: the former SBY answers, and the service never goes to a
#     stopped VM (answers resume at once);
#   - every VM left the host by live migration and runs with verified pinning (libvirt and
#     /proc) where the dry run said; a drain of a drained host is refused; undrain returns it.
# Needs root and lab/packages.txt. Exit 77 (skipped) unless COREPIN_LAB=1.
#   tests/lab/drain.sh BUILD_DIR
set -euo pipefail
source "$(dirname "$0")/lib.sh" "$@"
client=cpdrain
extra_cleanup() {
  [ -n "$daemon" ] && { "$cli" group delete fw; "$cli" vm delete light-1; "$cli" vm delete light-2; } >/dev/null 2>&1
  [ "$lab_ours" = 1 ] && "$lab" client del "$client" >/dev/null 2>&1
}

lab_up 3
"$top/lab/guest/build" "$work/guest" >/dev/null || fail "guest build"
start_corepind --switch "ovsdb:$ovsdb" --reconcile-interval 1
add_lab_hosts 3
create_fw_group "52:54:00:c0:7e:12" group:light
ha=$("$cli" vm show fw-a --json | jq -r .host)
for n in 1 2; do
  { echo "name: light-$n"; echo "vcpus: 1"; echo "policy: group:light"; echo "memory_mib: 128"; guest_image 0 "light-$n"; } \
    >"$work/light-$n.yaml"
  "$cli" vm create -f "$work/light-$n.yaml" --host "$ha" >/dev/null || fail "vm create light-$n on $ha"
done
expect_answer fw-a 90

dry=$("$cli" host drain "$ha" --dry-run --json) || fail "dry run"
echo "$dry" | jq -e '.plan.moves | length == 3' >/dev/null || fail "the dry run does not move 3 VMs: $dry"
"$cli" host show "$ha" --json | jq -e '.state == "active"' >/dev/null || fail "the dry run changed the host"
"$cli" host drain "$ha" --dry-run
# The drain, with its progress (a line per change: stderr is not a terminal here).
"$cli" host drain "$ha" 2>"$work/progress.txt" >"$work/drain.txt" || fail "drain: $(cat "$work/drain.txt" "$work/progress.txt")"
cat "$work/progress.txt" "$work/drain.txt"
grep -q '^\[##############################\] 3/3  done' "$work/progress.txt" || fail "no full progress bar"
"$cli" host show "$ha" --json | jq -e '.state == "drained" and .vms == 0' >/dev/null 2>&1 ||
  "$cli" host list --json | jq -e --arg h "$ha" '.[] | select(.name == $h) | .state == "drained" and .vms == 0' >/dev/null ||
  fail "$ha is not drained and empty"
expect_answer fw-b 5
for vm in fw-a light-1 light-2; do
  v=$("$cli" vm show "$vm" --json)
  want=$(echo "$dry" | jq -c --arg v "$vm" '.plan.moves[] | select(.vm == $v) | {to, p: .assignment.vcpu_pcpus}')
  got=$(echo "$v" | jq -c '{to: .host, p: [.vcpus[].pcpu]}')
  [ "$want" == "$got" ] || fail "$vm is at $got, the dry run said $want"
  echo "$v" | jq -e '.pinning_verified == true and .state == "running"' >/dev/null || fail "$vm not verified: $(echo "$v" | jq -c .differences)"
done
"$cli" events --limit 1000 --json | jq -e '[.[] | select(.kind == "drain.switchover")] | length == 1' >/dev/null ||
  fail "no switchover before the moves"
out=$("$cli" host drain "$ha" 2>&1) && fail "a drained host drained again: $out"
[ "$("$cli" events --limit 1000 --json | jq '[.[] | select(.kind == "drain.moved" and (.message | startswith("live from")))] | length')" == 3 ] ||
  fail "not every VM was live-migrated: $("$cli" events --limit 1000 --json | jq -c '[.[] | select(.kind == "drain.moved") | .message]')"
echo "ok: $ha drained (3 VMs live-migrated where the dry run said, pinning verified, fw-b serving); again: $out"
"$cli" host undrain "$ha" >/dev/null || fail "undrain"
"$cli" host show "$ha" --json | jq -e '.state == "active"' >/dev/null || fail "$ha not active after undrain"
echo "ok: $ha undrained"

"$cli" group delete fw >/dev/null
"$cli" vm delete light-1 >/dev/null
"$cli" vm delete light-2 >/dev/null
"$lab" client del "$client" >/dev/null
finish_lab
echo "PASS: lab drain"
