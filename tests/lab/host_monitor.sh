#!/usr/bin/env bash
# In the lab: corepind's host monitor (issue 6, item 1). Two lab hosts with their BMCs; h1 is
# powered off through its BMC (ipmitool, as an operator or a fault would): corepind must
# suspect it within 2 s of the power-off with a host.suspected event that reports the BMC's
# "power off"; h2 stays unsuspected. Powered on again, h1 answers again (host.answering).
# Needs root and lab/packages.txt. Exit 77 (skipped) unless COREPIN_LAB=1.
#   tests/lab/host_monitor.sh BUILD_DIR
set -euo pipefail
build=$(cd "${1:?usage: host_monitor.sh BUILD_DIR}" && pwd)
top=$(cd "$(dirname "$0")/../.." && pwd)
if [ "${COREPIN_LAB:-}" != 1 ]; then echo "skipped: set COREPIN_LAB=1 to run the lab test"; exit 77; fi
lab="$top/lab/lab"
cli="$build/src/cli/corepin"
work=$(mktemp -d /tmp/corepin-lab-monitor.XXXXXX)
port=$((20000 + RANDOM % 20000))
export COREPIN_URL="http://127.0.0.1:$port"
daemon=""
lab_ours=0

fail() { echo "FAIL: $*" >&2; [ -f "$work/corepind.log" ] && tail -20 "$work/corepind.log" >&2; exit 1; }
cleanup() {
  set +e
  [ -n "$daemon" ] && kill "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null
  [ "$lab_ours" = 1 ] && "$lab" down >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$lab" status --json | jq -e '.up' >/dev/null 2>&1 && fail "a lab is already up (not this test's); take it down with lab/lab down"
lab_ours=1
"$lab" up 2 >/dev/null || fail "lab up 2"
status=$("$lab" status --json)
"$build/src/daemon/corepind" --db "$work/corepin.db" --listen "127.0.0.1:$port" --probe-interval-ms 100 --probe-misses 5 \
  >>"$work/corepind.log" 2>&1 &
daemon=$!
for _ in $(seq 100); do curl -sf "$COREPIN_URL/v1/health" >/dev/null && break; sleep 0.1; done
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

kill "$daemon"; wait "$daemon" 2>/dev/null || true; daemon=""
"$lab" down >/dev/null || fail "lab down"
lab_ours=0
echo "PASS: lab host monitor"
