#!/usr/bin/env bash
# In the lab: corepind's host monitor (issue 6, item 1). Two lab hosts with their BMCs; h1 is
# powered off through its BMC (ipmitool, as an operator or a fault would): corepind must
# suspect it within 2 s of the power-off with a host.suspected event that reports the BMC's
# "power off"; h2 stays unsuspected. Powered on again, h1 answers again (host.answering).
# Needs root and lab/packages.txt. Exit 77 (skipped) unless COREPIN_LAB=1.
#   tests/lab/host_monitor.sh BUILD_DIR
set -euo pipefail
source "$(dirname "$0")/lib.sh" "$@"

lab_up 2
start_corepind --probe-interval-ms 100 --probe-misses 5
bmc_uri() {  # ipmi://USER:PASS@ADDR:PORT of lab host $1 (1-based)
  echo "$status" | jq -r ".hosts[$(($1 - 1))].bmc | \"ipmi://\(.user):\(.password)@\(.address):\(.port)?cipher=3\""
}
for i in 1 2; do
  "$cli" host add "h$i" --uri "$(echo "$status" | jq -r ".hosts[$((i - 1))].uri")" --housekeeping 0 \
    --bmc "$(bmc_uri "$i")" >/dev/null || fail "host add h$i"
done
"$cli" host power h1 | grep -q "power on" || fail "h1's BMC does not report power on"
sleep 1
"$cli" events --json | jq -e '[.[] | select(.kind == "host.suspected")] | length == 0' >/dev/null || fail "a host is suspected while all are up"

bmc=$(echo "$status" | jq -r '.hosts[0].bmc')
off_at=$(date +%s%N)
ipmitool -I lanplus -C 3 -H "$(echo "$bmc" | jq -r .address)" -p "$(echo "$bmc" | jq -r .port)" \
  -U "$(echo "$bmc" | jq -r .user)" -P "$(echo "$bmc" | jq -r .password)" chassis power off >/dev/null || fail "power off h1"
seen=""
for _ in $(seq 50); do
  seen=$("$cli" events --json | jq -r '[.[] | select(.kind == "host.suspected" and .subject == "h1")][0].message // empty')
  [ -n "$seen" ] && break
  sleep 0.1
done
took_ms=$((($(date +%s%N) - off_at) / 1000000))
[ -n "$seen" ] || fail "h1 powered off, but not suspected within 5 s"
echo "$seen" | grep -q "power off" || fail "the suspicion does not carry the BMC's power off: $seen"
[ "$took_ms" -le 2000 ] || fail "h1 suspected only $took_ms ms after the power-off (aim: within 1 s, limit 2 s)"
echo "ok: h1 suspected ${took_ms} ms after its power-off: $seen"
"$cli" events --json | jq -e '[.[] | select(.kind == "host.suspected" and .subject == "h2")] | length == 0' >/dev/null ||
  fail "h2 is suspected too"

"$lab" power h1 on >/dev/null || fail "power on h1"
for _ in $(seq 50); do
  "$cli" events --json | jq -e '[.[] | select(.kind == "host.answering" and .subject == "h1")] | length == 1' >/dev/null && break
  sleep 0.2
done
"$cli" events --json | jq -e '[.[] | select(.kind == "host.answering" and .subject == "h1")] | length == 1' >/dev/null ||
  fail "h1 powered on again, but not answering within 10 s"
echo "ok: h1 answers again after power-on"

finish_lab
echo "PASS: lab host monitor"
