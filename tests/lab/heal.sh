#!/usr/bin/env bash
# In the lab: failure detection, fencing and auto-healing (issue 6). Four lab hosts with BMCs
# (racks r1..r4), a 1+1 group of the lab guest with its service on VLAN 100 and a client on the
# top-of-rack bridge asking the service all along. In order:
#   1. QEMU of the SBY killed: restarted in place, pinning verified (libvirt and /proc).
#   2. The ACT's host powered off through its BMC: suspected, fenced (BMC confirms off), the SBY
#      promoted (it answers), the lost ACT recreated as SBY on exactly the host and pCPUs the
#      what-if named beforehand (verified in /proc), redundancy restored; the failed host stays
#      failed when powered on, until `corepin host return`.
#   3. The new ACT's host frozen (its libvirtd SIGSTOPped, its VMs keep running and answering):
#      fenced before the SBY is promoted; the frozen ACT's QEMU is gone when the promotion is
#      recorded; never two ports on VLAN 100.
#   4. corepind killed in the middle of a healing (after the promotion, before the recreate):
#      restarted, it resumes and finishes; every VM has exactly one domain in the lab.
# Needs root and lab/packages.txt. Exit 77 (skipped) unless COREPIN_LAB=1.
#   tests/lab/heal.sh BUILD_DIR
set -euo pipefail
source "$(dirname "$0")/lib.sh" "$@"
client=cpheal
extra_cleanup() {
  for i in 1 2 3 4; do
    p=$(echo "${status:-{\}}" | jq -r ".hosts[$((i - 1))].pids.libvirtd // empty" 2>/dev/null)
    [ -n "$p" ] && kill -CONT "$p" 2>/dev/null
  done
  [ -n "$daemon" ] && "$cli" group delete fw >/dev/null 2>&1
  [ "$lab_ours" = 1 ] && "$lab" client del "$client" >/dev/null 2>&1
}

lab_up 4
"$top/lab/guest/build" "$work/guest" >/dev/null || fail "guest build"
corepind_args=(--switch "ovsdb:$ovsdb" --probe-interval-ms 100 --probe-misses 5 --reconcile-interval 1)
start_corepind "${corepind_args[@]}"
add_lab_hosts 4 --bmc
create_fw_group "52:54:00:c0:7e:11"
# What-if before a failure: the host and vCPU pCPUs the reserve holds for VM $1 if host $2 fails.
planned_target() { "$cli" whatif fail "$2" --json | jq -c --arg v "$1" '.moves[] | select(.vm == $v) | {to, vcpu_pcpus}'; }
actual_place() { "$cli" vm show "$1" --json | jq -c '{to: .host, vcpu_pcpus: [.vcpus[].pcpu]}'; }

expect_answer fw-a 90
verified fw-a
verified fw-b

# 1. The SBY's QEMU killed: restarted in place.
hb=$(host_of fw-b)
old=$(qemu_pid fw-b "$hb")
[ -n "$old" ] || fail "no QEMU pid for fw-b on $hb"
kill -9 "$old"
wait_event vm.restarted fw-b 30 >/dev/null
new=$(qemu_pid fw-b "$hb")
[ -n "$new" ] && [ "$new" != "$old" ] || fail "fw-b's QEMU was not restarted ($old -> $new)"
verified fw-b
echo "ok: fw-b's QEMU killed ($old) and restarted in place ($new), pinning verified"

# 2. The ACT's host powered off through its BMC.
ha=$(host_of fw-a)
want=$(planned_target fw-a "$ha")
[ -n "$want" ] || fail "the what-if names no target for fw-a if $ha fails"
off_at=$(date +%s%3N)
power_off "$(hidx "$ha")"
expect_answer fw-b 10
served_ms=$(($(date +%s%3N) - off_at))
events | jq -r --argjson t0 "$off_at" '.[] | select(.unix_ms >= $t0) | "  +\(.unix_ms - $t0) ms \(.kind) \(.subject)"' | head -12
wait_event heal.done "$ha" 60 >/dev/null
[ "$(actual_place fw-a)" == "$want" ] || fail "fw-a healed to $(actual_place fw-a), the reserve held $want"
verified fw-a
"$cli" group show fw --json | jq -e '.members[] | select(.vm == "fw-b") | .role == "act"' >/dev/null || fail "fw-b is not ACT"
"$cli" group show fw --json | jq -e '.members[] | select(.vm == "fw-a") | .role == "sby"' >/dev/null || fail "fw-a is not SBY"
[ "$(service_ports)" == 1 ] || fail "not exactly one VM port on VLAN 100"
fenced=$(event_id host.fenced "$ha") promoted=$(event_id heal.promoted "$ha")
[ -n "$fenced" ] && [ "$fenced" -lt "$promoted" ] || fail "promotion ($promoted) not after the fence ($fenced)"
"$cli" healings --json | jq -e --arg h "$ha" '[.[] | select(.detail.hosts == [$h])] | last | .step == "done" and .detail.redundancy == "restored"' \
  >/dev/null || fail "the healing of $ha is not done with redundancy restored: $("$cli" healings)"
echo "ok: $ha powered off; fw-b served ${served_ms} ms after; fw-a recreated at $want (the reserved pCPUs); redundancy restored"
"$cli" healings

# The failed host comes back on: not used until returned.
"$lab" power "$ha" on >/dev/null || fail "power on $ha"
sleep 2
"$cli" host show "$ha" --json | jq -e '.state == "failed"' >/dev/null || fail "$ha is used again without being returned"
"$cli" host return "$ha" >/dev/null || fail "host return $ha"
"$cli" host show "$ha" --json | jq -e '.state == "active" and .connected' >/dev/null || fail "$ha not active after return"
echo "ok: $ha stayed failed after power-on until returned"
status=$("$lab" status --json)

# 3. Freeze the ACT's host: its libvirtd stopped, its VMs keep running.
hb=$(host_of fw-b)
act_qemu=$(qemu_pid fw-b "$hb")
lv=$(echo "$status" | jq -r ".hosts[$(($(hidx "$hb") - 1))].pids.libvirtd")
kill -STOP "$lv"
expect_answer fw-b 2  # the frozen host's ACT still serves
wait_event heal.promoted "$hb" 20 >/dev/null
state=$(ps -o stat= -p "$act_qemu" || true)
case "$state" in "" | Z*) ;; *) fail "the frozen host's ACT ($act_qemu, state $state) still runs after the promotion" ;; esac
fenced=$(event_id host.fenced "$hb") promoted=$(event_id heal.promoted "$hb")
[ -n "$fenced" ] && [ "$fenced" -lt "$promoted" ] || fail "frozen $hb: promotion ($promoted) not after the fence ($fenced)"
expect_answer fw-a 10
wait_event heal.done "$hb" 60 >/dev/null
verified fw-b
[ "$(service_ports)" == 1 ] || fail "not exactly one VM port on VLAN 100"
echo "ok: frozen $hb fenced (event $fenced) before fw-a was promoted (event $promoted); its ACT was gone by then"
"$lab" power "$hb" on >/dev/null
"$cli" host return "$hb" >/dev/null || fail "host return $hb"
status=$("$lab" status --json)

# 4. corepind killed in the middle of a healing: it stops itself right after the promotion
# (COREPIN_CRASH_POINT), before recreating; started again, it resumes.
kill "$daemon"; wait "$daemon" 2>/dev/null || true; daemon=""
COREPIN_CRASH_POINT=heal.promoted start_corepind "${corepind_args[@]}"
ha=$(host_of fw-a)
want=$(planned_target fw-a "$ha")
power_off "$(hidx "$ha")"
for _ in $(seq 100); do kill -0 "$daemon" 2>/dev/null || break; sleep 0.1; done
rc=0; wait "$daemon" || rc=$?; daemon=""
[ "$rc" == 86 ] || fail "corepind did not stop at the crash point (exit $rc)"
start_corepind "${corepind_args[@]}"
wait_event heal.done "$ha" 60 >/dev/null
[ "$(actual_place fw-a)" == "$want" ] || fail "after the resume fw-a is at $(actual_place fw-a), the reserve held $want"
verified fw-a
verified fw-b
events | jq -e '[.[] | select(.kind == "heal.resumed")] | length >= 1' >/dev/null || fail "no heal.resumed event"
# Exactly one domain per VM across the lab hosts that run.
for vm in fw-a fw-b; do
  n=0
  for i in 1 2 3 4; do
    [ "h$i" == "$ha" ] && continue
    virsh -c "$(echo "$status" | jq -r ".hosts[$((i - 1))].uri")" dominfo "$vm" >/dev/null 2>&1 && n=$((n + 1))
  done
  [ "$n" == 1 ] || fail "$vm has $n domains in the lab"
done
expect_answer fw-b 5
echo "ok: corepind killed after the promotion resumed the healing of $ha: fw-a at $want, one domain per VM"
"$cli" healings

"$cli" group delete fw >/dev/null || fail "group delete"
"$lab" client del "$client" >/dev/null
finish_lab
echo "PASS: lab healing"
