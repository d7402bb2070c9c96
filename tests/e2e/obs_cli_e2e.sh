#!/usr/bin/env bash
# End to end for observability, through corepind and the CLI against the real libvirtd:
# `corepin events -f` (text and --json) follows the stream and resumes across a corepind
# restart without losing or repeating an event; `corepin top --once` shows the host, its core
# map and a pinned VM with its vCPU on its pCPU; /metrics has the vCPU's CPU time labelled with
# that pCPU; `corepin alarms` and a refused `alarm clear`. Needs root and libvirtd on qemu:///system.
#   tests/e2e/obs_cli_e2e.sh BUILD_DIR
set -euo pipefail
build=$(cd "${1:?usage: obs_cli_e2e.sh BUILD_DIR}" && pwd)
cli="$build/src/cli/corepin"
daemon_bin="$build/src/daemon/corepind"
work=$(mktemp -d /tmp/corepin-obs-e2e.XXXXXX)
port=$((20000 + RANDOM % 20000))
export COREPIN_URL="http://127.0.0.1:$port" COREPIN_FIXTURE_STATE_DIR="$work/fixture-hosts"
vm=obs-cli-e2e
daemon="" followers=()

fail() { echo "FAIL: $*" >&2; exit 1; }
start_daemon() {
  "$daemon_bin" --db "$work/corepin.db" --listen "127.0.0.1:$port" --probe-interval-ms 0 --allow-simulated-hosts >>"$work/corepind.log" 2>&1 &
  daemon=$!
  for _ in $(seq 100); do curl -sf "$COREPIN_URL/v1/health" >/dev/null && return 0; sleep 0.1; done
  cat "$work/corepind.log" >&2
  fail "corepind did not answer on $COREPIN_URL"
}
cleanup() {
  "$cli" vm delete "$vm" >/dev/null 2>&1 || true
  for pid in "${followers[@]}"; do kill "$pid" 2>/dev/null || true; done
  [ -n "$daemon" ] && kill "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
# Waits (up to 20 s) until FILE has a line matching PATTERN.
wait_for() {
  for _ in $(seq 200); do grep -q -- "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  fail "$1 has no line matching '$2':
$(cat "$1")"
}

start_daemon
# Followers from event 0, so that none of the events below can slip in before they connect.
"$cli" events -f --after 0 >"$work/follow.txt" 2>"$work/follow.err" & followers+=($!)
"$cli" events -f --after 0 --json >"$work/follow.json" 2>/dev/null & followers+=($!)

"$cli" host add local --uri qemu:///system --housekeeping 0 >/dev/null
printf 'name: %s\nvcpus: 1\npolicy: "pinned:1"\nmemory_mib: 64\n' "$vm" >"$work/vm.yaml"
"$cli" vm create -f "$work/vm.yaml" >/dev/null || fail "create $vm"
wait_for "$work/follow.txt" "  vm.created  $vm  on local"
wait_for "$work/follow.json" "\"kind\":\"vm.created\""
python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1])]' "$work/follow.json" || fail "--json lines are not JSON objects"
echo "ok: events -f printed vm.created (text and --json)"

# corepind restarts: the followers reconnect from the last id they saw.
kill -TERM "$daemon"; wait "$daemon" 2>/dev/null || true
start_daemon
"$cli" host add spare --uri "fixture:2s32c-smt2#obs-spare" --housekeeping 0,64 >/dev/null
wait_for "$work/follow.txt" "  host.added  spare  "
wait_for "$work/follow.json" "\"subject\":\"spare\""
grep -q "reconnecting from event" "$work/follow.err" || fail "no reconnect note: $(cat "$work/follow.err")"
ids=$(python3 -c 'import json,sys; print(" ".join(str(json.loads(l)["id"]) for l in open(sys.argv[1])))' "$work/follow.json")
expected=$(curl -sf "$COREPIN_URL/v1/events?after=0&limit=1000" | python3 -c 'import json,sys; print(" ".join(str(e["id"]) for e in json.load(sys.stdin)))')
[ "$ids" == "$expected" ] || fail "followed ids '$ids', stored '$expected' (lost or repeated across the restart)"
echo "ok: events -f resumed across a corepind restart: ids $ids"

out=$("$cli" top --once)
echo "$out" | grep -q "^  local " || fail "top shows no host local:
$out"
echo "$out" | grep -q "node0 Ha" || fail "top's core map does not show pCPU 1 taken by the VM (key a):
$out"
echo "$out" | grep -Eq "^  a +$vm +local +- +- +running +verified +[0-9]+% +0@1 [0-9]+%" || fail "top's VM row is not as expected:
$out"
echo "$out" | grep -q "host.added  spare" || fail "top shows no recent events:
$out"
echo "ok: top --once: $(echo "$out" | grep "^  a ")"

metrics=$(curl -sf "$COREPIN_URL/metrics")
line=$(echo "$metrics" | grep "^corepin_vcpu_cpu_seconds_total{vm=\"$vm\",vcpu=\"0\",pcpu=\"1\"} ") || fail "no vCPU CPU time on pCPU 1:
$metrics"
echo "$metrics" | grep -q "^corepin_vm_pinning_verified{vm=\"$vm\"} 1$" || fail "pinning not verified in /metrics"
echo "ok: /metrics: $line"

[ "$("$cli" alarms)" == "no active alarms" ] || fail "alarms: $("$cli" alarms)"
if out=$("$cli" alarm clear alarm.vm-crash-loop "$vm" 2>&1); then fail "clearing an alarm that is not active succeeded"; fi
echo "$out" | grep -q "no active alarm alarm.vm-crash-loop" || fail "refusal without the reason: $out"
echo "ok: alarms, and a refused alarm clear: $out"

"$cli" vm delete "$vm" >/dev/null
echo "PASS: observability cli e2e"
