#!/usr/bin/env bash
# In the lab: corepind's host monitor and fencing decisions (issue 6, items 1-2). Two lab hosts:
# h1 with its BMC, h2 without one.
#   - h1 powered off through its BMC (ipmitool, as an operator or a fault would): suspected
#     within 2 s of the power-off, fenced (the BMC confirms off), the healing done (nothing ran
#     there), h1 failed; powered on again it stays failed (not used) until `host return`.
#   - h2 frozen (libvirtd SIGSTOPped): suspected, but it has no BMC, so corepind cannot make
#     sure it is off: the healing stops with an alarm saying so and changes nothing; the
#     operator's `host fenced` is refused while it answers; thawed, it answers again and the
#     stopped healing is called off.
# Needs root and lab/packages.txt. Exit 77 (skipped) unless COREPIN_LAB=1.
#   tests/lab/host_monitor.sh BUILD_DIR
set -euo pipefail
source "$(dirname "$0")/lib.sh" "$@"
lv2=""
extra_cleanup() { [ -n "$lv2" ] && kill -CONT "$lv2" 2>/dev/null; }

lab_up 2
start_corepind --probe-interval-ms 100 --probe-misses 5
bmc=$(echo "$status" | jq -r '.hosts[0].bmc')
"$cli" host add h1 --uri "$(echo "$status" | jq -r '.hosts[0].uri')" --housekeeping 0 --bmc "$(bmc_uri 1)" >/dev/null || fail "host add h1"
"$cli" host add h2 --uri "$(echo "$status" | jq -r '.hosts[1].uri')" --housekeeping 0 >/dev/null || fail "host add h2"
"$cli" host power h1 | grep -q "power on" || fail "h1's BMC does not report power on"
sleep 1
off_at=$(date +%s%N)
ipmitool -I lanplus -C 3 -H "$(echo "$bmc" | jq -r .address)" -p "$(echo "$bmc" | jq -r .port)" \
  -U "$(echo "$bmc" | jq -r .user)" -P "$(echo "$bmc" | jq -r .password)" chassis power off >/dev/null || fail "power off h1"
seen=$(wait_event host.suspected h1 5)
took_ms=$((($(date +%s%N) - off_at) / 1000000))
[ "$took_ms" -le 2000 ] || fail "h1 suspected only $took_ms ms after the power-off (aim: within 1 s, limit 2 s)"
echo "ok: h1 suspected ${took_ms} ms after its power-off: $seen"
fenced=$(wait_event host.fenced h1 10)
echo "$fenced" | grep -q "confirmed" || fail "the fence is not confirmed: $fenced"
wait_event heal.done h1 10 >/dev/null
"$cli" host show h1 --json | jq -e '.state == "failed"' >/dev/null || fail "h1 is not failed after its healing"
echo "ok: h1 fenced ($fenced) and failed"

"$lab" power h1 on >/dev/null || fail "power on h1"
sleep 2
"$cli" host show h1 --json | jq -e '.state == "failed"' >/dev/null || fail "h1 is used again without being returned"
events | jq -e '[.[] | select(.kind == "host.answering" and .subject == "h1")] | length == 0' >/dev/null ||
  fail "a failed host is still monitored"
"$cli" host return h1 >/dev/null || fail "host return h1"
"$cli" host show h1 --json | jq -e '.state == "active" and .connected' >/dev/null || fail "h1 not active after return"
echo "ok: h1 stayed failed after power-on until returned"

# h2 has no BMC: frozen, it is suspected but never healed automatically.
status=$("$lab" status --json)
lv2=$(echo "$status" | jq -r '.hosts[1].pids.libvirtd')
kill -STOP "$lv2"
wait_event host.suspected h2 5 | grep -q "no BMC" || fail "h2's suspicion does not say it has no BMC"
alarm=$(wait_event alarm.fence-impossible h2 5)
echo "$alarm" | grep -q "corepin host fenced h2" || fail "the alarm does not say what to do: $alarm"
"$cli" healings --json | jq -e '[.[] | select(.detail.hosts == ["h2"])] | last | .step == "stopped"' >/dev/null ||
  fail "h2's healing did not stop"
"$cli" host show h2 --json | jq -e '.state == "active"' >/dev/null || fail "h2 changed state without a fence"
echo "ok: h2 (no BMC) suspected; healing stopped with: $alarm"
kill -CONT "$lv2"; lv2=""
wait_event host.answering h2 10 >/dev/null
wait_event heal.cancelled h2 5 >/dev/null
"$cli" alarms --json | jq -e '[.[] | select(.subject == "h2")] | length == 0' >/dev/null || fail "h2's alarm is still active: $("$cli" alarms)"
out=$("$cli" host fenced h2 2>&1) && fail "host fenced accepted for a host that answers: $out"
echo "$out" | grep -q "answers" || fail "host fenced refused without saying why: $out"
echo "ok: h2 thawed, answers again, its stopped healing called off; 'host fenced h2' refused: $out"

finish_lab
echo "PASS: lab host monitor"
