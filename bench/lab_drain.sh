#!/bin/bash
# The drain benchmark of issue 7 in the lab: a host with 10 VMs of the lab guest (light: their
# vCPUs share the host's pCPU, group:light) drained with `corepin host drain`, 3 rounds (the
# drained host is undrained, then the host with the most VMs is drained next). Prints per round
# the drain's total time and, per VM, its move time, then the median and worst over all moves:
#   MODE=live (the default)  each VM live-migrates; its downtime is the pause QEMU measured
#                            (virsh domjobinfo --completed on the target), printed beside;
#   MODE=cold                each VM is stopped on the source and started on the target: its
#                            move time is its downtime.
#
#   sudo bench/lab_drain.sh            (BUILD=DIR, default build; VMS=10 ROUNDS=3 MODE=live)
set -euo pipefail
ROOT=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
LAB=$ROOT/lab/lab
CLI=$BUILD/src/cli/corepin
VMS=${VMS:-10} ROUNDS=${ROUNDS:-3} MODE=${MODE:-live}
WORK=$(mktemp -d /tmp/lab_drain.XXXXXX)
chmod 755 "$WORK"
PORT=$((20000 + RANDOM % 20000))
export COREPIN_URL=http://127.0.0.1:$PORT
DAEMON="" LAB_OURS=0
cleanup() {
  set +e
  if [ -n "$DAEMON" ]; then
    for i in $(seq "$VMS"); do "$CLI" vm delete "d$i" >/dev/null 2>&1; done
    kill "$DAEMON"; wait "$DAEMON" 2>/dev/null
  fi
  [ "$LAB_OURS" = 1 ] && "$LAB" down >/dev/null 2>&1
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$("$LAB" status --json | jq -r .up)" = false ] || { echo "a lab is already up (not ours)" >&2; exit 1; }
LAB_OURS=1
"$LAB" up 3 >/dev/null
status=$("$LAB" status --json)
"$ROOT/lab/guest/build" "$WORK/guest" >/dev/null
"$BUILD/src/daemon/corepind" --db "$WORK/corepin.db" --listen "127.0.0.1:$PORT" >"$WORK/corepind.log" 2>&1 &
DAEMON=$!
for _ in $(seq 100); do curl -sf "$COREPIN_URL/v1/health" >/dev/null && break; sleep 0.1; done
for i in 1 2 3; do
  "$CLI" host add "h$i" --uri "$(echo "$status" | jq -r ".hosts[$((i - 1))].uri")" --housekeeping 0 --domain-type qemu --group-member-limit 16 \
    --migration-address 127.0.0.1 >/dev/null
done
for i in $(seq "$VMS"); do
  cat >"$WORK/d$i.yaml" <<YAML
name: d$i
vcpus: 1
policy: group:light
memory_mib: 96
image:
  kernel: $WORK/guest/vmlinux
  initrd: $WORK/guest/initrd.img
  cmdline: "console=ttyS0 quiet panic=-1 corepin.name=d$i"
YAML
  "$CLI" vm create -f "$WORK/d$i.yaml" --host h1 >/dev/null
done
echo "lab_drain: $VMS VMs on h1 (group:light), $ROUNDS rounds, $MODE"
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
worst() { sort -n | tail -1; }
cold=(); [ "$MODE" = cold ] && cold=(--cold)
host=h1
moves=() downs=()
for r in $(seq "$ROUNDS"); do
  before=$("$CLI" events --limit 1000 --json | jq '[.[].id] | max')
  t0=$(date +%s%N)
  "$CLI" host drain "$host" "${cold[@]}" >"$WORK/drain-$r.txt" 2>&1 || { cat "$WORK/drain-$r.txt"; exit 1; }
  total=$((($(date +%s%N) - t0) / 1000000))
  # "d3 h2 812": each VM moved, its target and its move time.
  mapfile -t moved < <("$CLI" events --limit 1000 --after "$before" --json |
    jq -r '.[] | select(.kind == "drain.moved") | .subject + " " + (.message | capture("to (?<to>h[0-9]+) .* in (?<ms>[0-9]+) ms") | .to + " " + .ms)')
  these=() down=()
  for line in "${moved[@]}"; do
    read -r vm to ms <<<"$line"
    these+=("$ms")
    if [ "$MODE" = live ]; then
      uri=$(echo "$status" | jq -r ".hosts[$((${to#h} - 1))].uri")
      d=$(virsh -c "$uri" domjobinfo "$vm" --completed 2>/dev/null | awk '/^Total downtime:/ {print $3}')
      [ -n "$d" ] && down+=("$d")
    fi
  done
  moves+=("${these[@]}"); downs+=("${down[@]}")
  line="round $r: drained $host (${#these[@]} VMs) in $total ms; per VM move ms: median $(printf '%s\n' "${these[@]}" | median), worst $(printf '%s\n' "${these[@]}" | worst)"
  [ "${#down[@]}" -gt 0 ] && line+="; QEMU downtime ms: median $(printf '%s\n' "${down[@]}" | median), worst $(printf '%s\n' "${down[@]}" | worst)"
  echo "$line"
  "$CLI" host undrain "$host" >/dev/null
  host=$("$CLI" host list --json | jq -r 'max_by(.vms) | .name')
done
if [ "$MODE" = live ]; then
  echo "over ${#moves[@]} live moves: move time median $(printf '%s\n' "${moves[@]}" | median) ms, worst $(printf '%s\n' "${moves[@]}" | worst) ms; guest downtime (QEMU, ${#downs[@]} read) median $(printf '%s\n' "${downs[@]}" | median) ms, worst $(printf '%s\n' "${downs[@]}" | worst) ms"
else
  echo "over ${#moves[@]} cold moves: per-VM downtime median $(printf '%s\n' "${moves[@]}" | median) ms, worst $(printf '%s\n' "${moves[@]}" | worst) ms"
fi
