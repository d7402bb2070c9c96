#!/usr/bin/env bash
# In the lab: two hosts failing a moment apart (issue 6, "two hosts failing at once": a rack
# losing power, a top-of-rack switch dying). Four lab hosts with BMCs (racks r1..r4), the 1+1
# group fw with traffic; the ACT's host is powered off, then the SBY's host 200 ms later:
#   - one healing covers both: the second host joins it (heal.joined) instead of being healed
#     after, so the first healing never promotes the SBY on the already dead second host;
#   - both hosts are fenced through their BMCs before anything starts elsewhere;
#   - with no member left running (alarm.group-down), both VMs are recreated on the two live
#     hosts with their pinning verified (libvirt and /proc), fw-a as ACT: the service answers
#     again, from fw-a; one port on the service VLAN; one domain per VM on the live hosts;
#     the group-down alarm is cleared.
# Needs root and lab/packages.txt. Exit 77 (skipped) unless COREPIN_LAB=1.
#   tests/lab/heal_two.sh BUILD_DIR
set -euo pipefail
source "$(dirname "$0")/lib.sh" "$@"
client=cpheal2
extra_cleanup() {
  [ -n "$daemon" ] && "$cli" group delete fw >/dev/null 2>&1
  [ "$lab_ours" = 1 ] && "$lab" client del "$client" >/dev/null 2>&1
}

lab_up 4
"$top/lab/guest/build" "$work/guest" >/dev/null || fail "guest build"
start_corepind --switch "ovsdb:$ovsdb" --probe-interval-ms 100 --probe-misses 5 --reconcile-interval 1
add_lab_hosts 4 --bmc
create_fw_group "52:54:00:c0:7e:14"
expect_answer fw-a 90
verified fw-a
verified fw-b
ha=$(host_of fw-a) hb=$(host_of fw-b)

off_at=$(date +%s%3N)
power_off "$(hidx "$ha")"
sleep 0.2
power_off "$(hidx "$hb")"
echo "ok: $ha (fw-a, ACT) and $hb (fw-b, SBY) powered off 200 ms apart"
expect_answer fw-a 60
served_ms=$(($(date +%s%3N) - off_at))
wait_event heal.joined "$hb" 10 >/dev/null
events | jq -r --argjson t0 "$off_at" '.[] | select(.unix_ms >= $t0) | "  +\(.unix_ms - $t0) ms \(.kind) \(.subject)"' | head -20
for _ in $(seq 100); do
  "$cli" healings --json | jq -e '.[-1].step == "done"' >/dev/null && break
  sleep 0.1
done

heal=$("$cli" healings --json)
[ "$(echo "$heal" | jq length)" == 1 ] || fail "$(echo "$heal" | jq length) healings, not one: $(echo "$heal" | jq -c '[.[] | {name, step, hosts: .detail.hosts}]')"
echo "$heal" | jq -e --arg a "$ha" --arg b "$hb" '.[0].step == "done" and .[0].detail.hosts == [$a, $b] and (.[0].detail.joined | has($b))' >/dev/null ||
  fail "the healing does not cover $ha and $hb with $hb joined: $(echo "$heal" | jq -c '.[0] | {step, hosts: .detail.hosts, joined: .detail.joined}')"
[ "$(events | jq '[.[] | select(.kind == "heal.started")] | length')" == 1 ] || fail "more than one healing started"
for h in "$ha" "$hb"; do
  [ -n "$(event_id host.fenced "$h")" ] || fail "$h was not fenced"
  [ "$(event_id host.fenced "$h")" -lt "$(event_id heal.planned "$ha, $hb")" ] || fail "$h fenced after the plan"
done
! events | jq -r '.[] | select(.kind == "heal.promoted") | .message' | grep -q "fw-b is ACT" || fail "fw-b on dead $hb was promoted"
na=$(host_of fw-a) nb=$(host_of fw-b)
for n in "$na" "$nb"; do [ "$n" != "$ha" ] && [ "$n" != "$hb" ] || fail "a VM was placed on a dead host: fw-a $na, fw-b $nb"; done
[ "$na" != "$nb" ] || fail "fw-a and fw-b both on $na"
verified fw-a
verified fw-b
"$cli" group show fw --json | jq -e '[.members[] | select(.role == "act") | .vm] == ["fw-a"]' >/dev/null || fail "fw-a is not the one ACT"
[ "$(service_ports)" == 1 ] || fail "not exactly one VM port on VLAN 100"
for vm in fw-a fw-b; do
  n=0
  for h in h1 h2 h3 h4; do
    [ "$h" == "$ha" ] || [ "$h" == "$hb" ] && continue
    virsh -c "$(uri_of "$h")" dominfo "$vm" >/dev/null 2>&1 && n=$((n + 1))
  done
  [ "$n" == 1 ] || fail "$vm has $n domains on the live hosts"
done
events | jq -e '[.[] | select(.kind == "alarm.group-down" and .subject == "fw")] | length == 1' >/dev/null || fail "no alarm.group-down for fw"
"$cli" alarms --json | jq -e '[.[] | select(.kind == "alarm.group-down")] | length == 0' >/dev/null || fail "alarm.group-down still active"
echo "ok: one healing for $ha and $hb ($hb joined); fw-a ACT on $na and fw-b SBY on $nb, pinned; fw-a served ${served_ms} ms after the first power-off"
"$cli" healings
