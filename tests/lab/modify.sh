#!/usr/bin/env bash
# In the lab: changing the allocation of running VMs (issue 7: re-pin, resize, move) and moving a
# VM that keeps crashing (issue 6, item 1), with the ACT serving. Four lab hosts (racks r1..r4, one allocatable pCPU
# each), the 1+1 group fw (service on VLAN 100):
#   - drift: the ACT's vCPU thread pinned by hand (virsh vcpupin) onto the housekeeping pCPU: the
#     reconcile raises alarm.pinning-drift naming it; `corepin vm repin fw-a --auto` re-pins it
#     live (same QEMU, thread affinity back in /proc) and the alarm is cleared;
#   - a dry run changes nothing and names the host a move would take; moves onto the SBY's host
#     or onto the host that holds the healing reserve are refused with the reason, nothing changed;
#   - the ACT live-migrates there: it answers after (and its uptime kept growing: no reboot),
#     its vCPU runs on the target's pCPU (libvirt and /proc), no copy is left on the source, and
#     its new port is the only one on the service VLAN; the reserve still covers any failure;
#   - the ACT moves back cold: it boots again (uptime from zero) on the chosen host, pinned;
#   - the SBY's QEMU killed again and again: restarted in place 3 times, then moved to another
#     host (alarm raised, then cleared), pinned there;
#   - a standalone VM resized (memory, vCPU policy): restarted (a new QEMU) with its new memory
#     and pinning verified; a resize that cannot fit is refused and the VM left running as it was.
# Needs root and lab/packages.txt. Exit 77 (skipped) unless COREPIN_LAB=1.
#   tests/lab/modify.sh BUILD_DIR
set -euo pipefail
source "$(dirname "$0")/lib.sh" "$@"
client=cpmove
extra_cleanup() {
  [ -n "$daemon" ] && { "$cli" group delete fw; "$cli" vm delete solo; } >/dev/null 2>&1
  [ "$lab_ours" = 1 ] && "$lab" client del "$client" >/dev/null 2>&1
}

lab_up 4
"$top/lab/guest/build" "$work/guest" >/dev/null || fail "guest build"
start_corepind --switch "ovsdb:$ovsdb" --reconcile-interval 1
add_lab_hosts 4
create_fw_group "52:54:00:c0:7e:13"
expect_answer fw-a 90
verified fw-a
verified fw-b
ha=$(host_of fw-a) hb=$(host_of fw-b)

# 0. Drift, and its repair by a live re-pin.
vcpu_affinity() {  # VM HOST: the Cpus_allowed_list of its vCPU 0 thread ("CPU 0/TCG"), from /proc
  local pid t; pid=$(qemu_pid "$1" "$2")
  for t in /proc/"$pid"/task/*; do
    [ "$(cat "$t/comm" 2>/dev/null)" == "CPU 0/TCG" ] && { sed -n 's/^Cpus_allowed_list:\s*//p' "$t/status"; return; }
  done
}
pid_before=$(qemu_pid fw-a "$ha")
[ "$(vcpu_affinity fw-a "$ha")" == 1 ] || fail "fw-a's vCPU thread may run on $(vcpu_affinity fw-a "$ha"), not 1"
virsh -c "$(uri_of "$ha")" vcpupin fw-a 0 0 --live >/dev/null || fail "virsh vcpupin"
[ "$(vcpu_affinity fw-a "$ha")" == 0 ] || fail "virsh vcpupin did not move the thread"
msg=$(wait_event alarm.pinning-drift fw-a 15)
echo "$msg" | grep -q "vCPU 0" || fail "the drift alarm does not name vCPU 0: $msg"
"$cli" vm repin fw-a --auto >/dev/null || fail "repin --auto"
[ "$(vcpu_affinity fw-a "$ha")" == 1 ] || fail "after the re-pin fw-a's vCPU thread may run on $(vcpu_affinity fw-a "$ha")"
[ "$(qemu_pid fw-a "$ha")" == "$pid_before" ] || fail "the re-pin restarted fw-a's QEMU"
"$cli" alarms --json | jq -e '[.[] | select(.kind == "alarm.pinning-drift")] | length == 0' >/dev/null || fail "drift alarm still active"
verified fw-a
expect_answer fw-a 5
echo "ok: drift on fw-a (vCPU 0 -> pCPU 0 by hand) alarmed: $msg; re-pinned live to 1, same QEMU $pid_before"
# The responder's uptime in ms ("fw-a ACT up:12345"), or nothing.
uptime_of() { ip netns exec "lab-$client" sh -c "echo up | socat -t 0.5 - UDP:198.18.0.10:7777" 2>/dev/null | sed -n "s/^$1 .* up:\([0-9]*\)$/\1/p"; }
reserve_host() { "$cli" whatif fail "$ha" --json | jq -r '.moves[] | select(.vm == "fw-a") | .to'; }

# 1. Dry run and refusals: nothing changes.
dry=$("$cli" vm move fw-a --dry-run --json) || fail "dry run: $dry"
hf=$(echo "$dry" | jq -r .to)
hr=$(reserve_host)
[ -n "$hf" ] && [ "$hf" != "$ha" ] && [ "$hf" != "$hb" ] && [ "$hf" != "$hr" ] || fail "dry run chose $hf (fw-a on $ha, fw-b on $hb, reserve on $hr)"
[ "$(host_of fw-a)" == "$ha" ] || fail "the dry run moved fw-a"
out=$("$cli" vm move fw-a --to "$hb" 2>&1) && fail "a move onto the SBY's host was accepted: $out"
echo "$out" | grep -q "fw-b\|anti-affinity" || fail "refusal onto $hb does not say why: $out"
out2=$("$cli" vm move fw-a --to "$hr" 2>&1) && fail "a move onto the reserve's pCPU was accepted: $out2"
echo "$out2" | grep -qi "reserve" || fail "refusal onto $hr does not name the reserve: $out2"
[ "$(host_of fw-a)" == "$ha" ] && verified fw-a
events | jq -e '[.[] | select(.kind == "vm.move.started")] | length == 0' >/dev/null || fail "a refused move left an event"
echo "ok: dry run -> $hf; refused onto $hb: $(echo "$out" | head -1)"

# 2. Live migration of the ACT, serving.
up_before=$(uptime_of fw-a)
[ -n "$up_before" ] || fail "fw-a does not tell its uptime"
"$cli" vm move fw-a --to "$hf" >"$work/move.txt" 2>&1 || fail "live move: $(cat "$work/move.txt")"
cat "$work/move.txt"
expect_answer fw-a 5
up_after=$(uptime_of fw-a)
[ -n "$up_after" ] && [ "$up_after" -gt "$up_before" ] || fail "fw-a's uptime went from $up_before to $up_after ms: it rebooted"
[ "$(host_of fw-a)" == "$hf" ] || fail "fw-a is on $(host_of fw-a), not $hf"
verified fw-a
want=$(echo "$dry" | jq -c '.assignment.vcpu_pcpus')
got=$("$cli" vm show fw-a --json | jq -c '[.vcpus[].pcpu]')
[ "$want" == "$got" ] || fail "fw-a's vCPUs are on $got, the dry run said $want"
[ -n "$(qemu_pid fw-a "$hf")" ] || fail "no QEMU of fw-a on $hf"
[ "$(domains_on "$ha")" == 0 ] || fail "a copy of fw-a is left on $ha"
port=$("$cli" vm links fw-a --json | jq -r '.interfaces[0].port')
[ "$(vsctl --bare --columns=name find port tag=100 | grep '^cp')" == "$port" ] || fail "VLAN 100 ports: $(vsctl --bare --columns=name,tag find port tag=100)"
events | jq -e '[.[] | select(.kind == "alarm.reserve-degraded")] | length == 0' >/dev/null || fail "the reserve degraded"
"$cli" whatif fail "$hf" --json | jq -e '.moves[] | select(.vm == "fw-a")' >/dev/null || fail "no healing target for fw-a on $hf"
echo "ok: fw-a live-migrated $ha -> $hf on pCPUs $got, uptime $up_before -> $up_after ms, port $port alone on VLAN 100"

# 3. Cold, back to wherever placement says: the guest boots again.
"$cli" vm move fw-a --cold --json >"$work/cold.json" || fail "cold move: $(cat "$work/cold.json")"
hc=$(host_of fw-a)
[ "$hc" != "$hf" ] && [ "$hc" != "$hb" ] || fail "cold move went to $hc"
expect_answer fw-a 90
up_cold=$(uptime_of fw-a)
[ -n "$up_cold" ] && [ "$up_cold" -lt "$up_after" ] || fail "after a cold move fw-a's uptime is $up_cold ms (was $up_after): no reboot?"
verified fw-a
[ "$(domains_on "$hf")" == 0 ] || fail "a copy of fw-a is left on $hf"
echo "ok: fw-a moved cold $hf -> $hc (booted again: uptime $up_cold ms)"

# 4. The SBY crash-loops: 3 restarts in place, then moved elsewhere.
hb=$(host_of fw-b)
restarts() { events | jq '[.[] | select(.kind == "vm.restarted" and .subject == "fw-b")] | length'; }
for n in 1 2 3 4; do
  pid=$(qemu_pid fw-b "$hb")
  [ -n "$pid" ] || fail "no QEMU of fw-b on $hb before kill $n"
  kill -9 "$pid"
  [ "$n" == 4 ] && break
  # Each restart done (and verified) before the next kill: a QEMU killed while it starts is a
  # failed start, not a crash.
  for _ in $(seq 150); do [ "$(restarts)" == "$n" ] && break; sleep 0.1; done
  [ "$(restarts)" == "$n" ] || fail "fw-b not restarted in place after kill $n"
  verified fw-b
done
wait_event vm.moved fw-b 60 >/dev/null
hn=$(host_of fw-b)
[ "$hn" != "$hb" ] && [ "$hn" != "$hc" ] || fail "crash-looping fw-b went to $hn (was $hb, fw-a on $hc)"
verified fw-b
events | jq -e '[.[] | select(.kind == "vm.restarted" and .subject == "fw-b")] | length == 3' >/dev/null || fail "not 3 restarts in place"
"$cli" alarms --json | jq -e '[.[] | select(.kind == "alarm.vm-crash-loop")] | length == 0' >/dev/null || fail "crash-loop alarm still active"
events | jq -e '[.[] | select(.kind == "alarm.vm-crash-loop" and .subject == "fw-b")] | length == 1' >/dev/null || fail "no crash-loop alarm raised"
expect_answer fw-a 5
echo "ok: fw-b crash-looped on $hb: 3 restarts in place, then moved to $hn, pinned; alarm raised and cleared"

# 5. Resize a standalone VM: stopped, re-fitted, started with the new spec.
{ echo "name: solo"; echo "vcpus: 1"; echo "policy: dedicated"; echo "memory_mib: 128"; guest_image 0 solo; } >"$work/solo.yaml"
"$cli" vm create -f "$work/solo.yaml" >/dev/null || fail "vm create solo"
hs=$(host_of solo)
pid=$(qemu_pid solo "$hs")
out=$("$cli" vm resize solo --vcpus 2 2>&1) && fail "a resize to 2 dedicated vCPUs fitted on a host with 1 pCPU: $out"
[ "$(qemu_pid solo "$hs")" == "$pid" ] || fail "a refused resize restarted solo"
"$cli" vm resize solo --memory 192 --policy group:light >/dev/null || fail "resize solo"
v=$("$cli" vm show solo --json)
echo "$v" | jq -e '.spec.memory_mib == 192 and .vcpus[0].policy == "group:light"' >/dev/null || fail "solo not resized: $(echo "$v" | jq -c .spec)"
verified solo
[ "$(virsh -c "$(uri_of "$hs")" dominfo solo | awk '/^Max memory/ {print $3}')" == $((192 * 1024)) ] || fail "libvirt does not give solo 192 MiB"
new=$(qemu_pid solo "$hs")
[ -n "$new" ] && [ "$new" != "$pid" ] || fail "solo's QEMU was not restarted by the resize ($pid -> $new)"
echo "ok: solo resized on $hs (128 -> 192 MiB, dedicated -> group:light), new QEMU $new, pinning verified; 2 vCPUs refused: $(echo "$out" | head -1)"
