#!/bin/bash
# The switchover benchmark of issue 5, end to end in the lab (lab/README.md):
#
#   1. lab up 3 (hosts h1..h3, one Open vSwitch, a top-of-rack bridge), the lab guest built;
#   2. a corepind of its own (temporary database, a free loopback port, the lab's OVSDB as its
#      switch), the 3 lab hosts added (housekeeping 0, bridge lab-hN, offloads off, TCG,
#      label rack=rN), a 1+1 group of the lab guest in different racks whose service VLAN 100
#      follows the ACT, a client namespace on VLAN 100, the ACT's first answer awaited;
#   3. lab_switchover_bench: R planned switchovers under steady UDP traffic; it prints median,
#      p99 and worst of decision -> first answer from the new ACT, the switch step (the API's
#      elapsed_ms), the REST call, and packets lost per switchover, and a verdict (aim: the
#      switch step under 50 ms);
#   4. everything taken down (group, corepind, client, lab), also on failure or a signal.
#
#   sudo bench/lab_switchover.sh [lab_switchover_bench options, e.g. --rounds 50 --interval-ms 1]
#
# Environment:
#   BUILD=DIR      build tree (default build); the targets are built there unless SKIP_BUILD=1
#   GARP_MS=MS     the guest's gratuitous ARP period (default 10). ACT and SBY share one MAC,
#                  so after the switch moves the service VLAN only the ToR's MAC table still
#                  points at the old ACT's host: the new ACT's next gratuitous ARP (or the
#                  entry's ageing) fixes it. With the guest's default of 1000 ms the answer
#                  moves up to a second after the switch step; 10 ms keeps that wait small.
#   KEEP_LOGS=1    keep the work directory (corepind log, guest consoles) even on success
#   CLIENT_PORT=access|flows   how the client joins VLAN 100 (default access):
#                  access  `lab client add ... 100`: an access port tagged 100 on the ToR, as a
#                          real client would sit;
#                  flows   an untagged ToR port, put on VLAN 100 by OpenFlow rules on lab-tor
#                          (tag pushed on the way in, stripped on the way out): a client behind
#                          a VLAN-tagging switch. VM ports, uplinks and MAC learning are the
#                          same in both modes.
#   KIND=failover  the failover benchmark of issue 6 instead (bench/lab_failover.sh sets it):
#                  4 lab hosts with their BMCs, corepind with its host monitor (100 ms x 5), and
#                  lab_failover_bench, which powers the ACT's host off through its BMC each round
#                  and prints the timeline: detected, fenced, promoted, service restored,
#                  redundancy restored, packets lost (median and worst over >= 10 rounds).
#   KIND=move      the live-migration benchmark of issue 7 instead (bench/lab_move.sh sets it): 4
#                  lab hosts (a host is free besides the ACT's, the SBY's and the reserve's), and
#                  lab_move_bench, which moves the ACT live each round (placement picks the host)
#                  and prints the downtime the client sees, requests lost, the API call and the
#                  migration's took_ms (median, p99, worst over >= 10 rounds).
# Every host is added with migration_address 127.0.0.1: the lab's libvirtds and QEMUs share this
# machine's network namespace, so a live migration goes over loopback.
# Needs root, lab/packages.txt, curl, jq, socat. Refuses to run while a lab is already up.
set -uo pipefail

ROOT=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
LAB=$ROOT/lab/lab
GUEST_DIR=$BUILD/lab-guest
GARP_MS=${GARP_MS:-10}
CLIENT_PORT=${CLIENT_PORT:-access}
KIND=${KIND:-switchover}
case $KIND in
  switchover) HOSTS=3 BENCH_NAME=lab_switchover_bench COREPIND_EXTRA=() ;;
  failover) HOSTS=4 BENCH_NAME=lab_failover_bench COREPIND_EXTRA=(--probe-interval-ms 100 --probe-misses 5 --reconcile-interval 1) ;;
  move) HOSTS=4 BENCH_NAME=lab_move_bench COREPIND_EXTRA=() ;;
  *) echo "KIND=$KIND: expected switchover, failover or move" >&2; exit 2 ;;
esac

GROUP=bench                 # members bench-act1 and bench-sby1
CLIENT=cpbench              # netns lab-cpbench, ToR port lc-cpbench
CLIENT_ADDR=198.18.0.1/24
SERVICE_ADDR=198.18.0.10
SERVICE_PORT=7777
VLAN=100
MAC=52:54:00:c0:7e:42       # shared by ACT and SBY: they sit on different VLANs

WORK=$(mktemp -d /tmp/lab_switchover.XXXXXX)
LAB_OURS=0 COREPIND_PID='' BENCH_PID='' API='' STATE_DIR='' FAILED=1

log() { echo "lab_switchover: $*" >&2; }
die() { log "$*"; exit 1; }

# --- taking everything down ------------------------------------------------------------------

# Runs once, at exit (normal, failure or signal): each step is skipped if it never happened.
cleanup() {
  trap - EXIT INT TERM HUP
  [ -n "$BENCH_PID" ] && kill "$BENCH_PID" 2>/dev/null && wait "$BENCH_PID" 2>/dev/null
  if [ "$FAILED" = 1 ] && [ -n "$STATE_DIR" ]; then
    # The guests' consoles live in the lab's state dir, which lab down removes.
    cp "$STATE_DIR"/h*/log/qemu/*.console "$WORK/" 2>/dev/null
  fi
  if [ -n "$COREPIND_PID" ]; then
    if [ -n "$API" ]; then
      log "deleting group $GROUP"
      curl -s -m 60 -X DELETE "$API/v1/groups/$GROUP" >"$WORK/delete-group.json" 2>&1
    fi
    log "stopping corepind (pid $COREPIND_PID)"
    kill "$COREPIND_PID" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$COREPIND_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$COREPIND_PID" 2>/dev/null
    wait "$COREPIND_PID" 2>/dev/null
  fi
  if [ "$LAB_OURS" = 1 ]; then
    "$LAB" client del "$CLIENT" >/dev/null 2>&1
    log "taking the lab down"
    "$LAB" down >"$WORK/lab-down.log" 2>&1 || { log "lab down failed:"; cat "$WORK/lab-down.log" >&2; }
  fi
  if [ "$FAILED" = 1 ] || [ -n "${KEEP_LOGS:-}" ]; then
    log "logs kept in $WORK (corepind.log, guest consoles)"
    [ "$FAILED" = 1 ] && [ -f "$WORK/corepind.log" ] && { log "last lines of corepind.log:"; tail -n 15 "$WORK/corepind.log" >&2; }
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM HUP

# --- helpers ---------------------------------------------------------------------------------

# api METHOD PATH [BODY]: the JSON answer on stdout; fails (naming the call) unless 2xx.
api() {
  local out code
  out=$(curl -s -m 120 -o "$WORK/answer.json" -w '%{http_code}' -X "$1" -H 'Content-Type: application/json' \
    ${3:+--data "$3"} "$API$2") || { log "$1 $2: corepind did not answer"; return 1; }
  code=$out
  if [ "${code:0:1}" != 2 ]; then
    log "$1 $2 -> $code: $(jq -r '.error // .' "$WORK/answer.json" 2>/dev/null || cat "$WORK/answer.json")"
    return 1
  fi
  cat "$WORK/answer.json"
}

free_port() {
  local p
  for _ in $(seq 50); do
    p=$((20000 + RANDOM % 10000))
    ss -Hltn "sport = :$p" | grep -q . || { echo "$p"; return; }
  done
  return 1
}

# wait_until SECONDS COMMAND...: retries COMMAND every 0.2 s.
wait_until() {
  local deadline=$((SECONDS + $1)); shift
  until "$@"; do [ $SECONDS -lt $deadline ] || return 1; sleep 0.2; done
}

# The client on VLAN 100 without a tagged port (CLIENT_PORT=flows, see above): its ToR port is a
# trunk; OpenFlow on lab-tor tags what the client sends and untags what is for it. Frames from
# the hosts arrive on lab-tor tagged (the uplinks are trunks), so they match dl_vlan=100.
client_on_vlan_by_flows() {
  local port=lc-$CLIENT mac of=(ovs-ofctl --timeout=10)
  mac=$(ip netns exec "lab-$CLIENT" cat /sys/class/net/eth0/address) || return 1
  export OVS_RUNDIR  # ovs-ofctl finds lab-tor's management socket there
  OVS_RUNDIR=$(dirname "${OVSDB#unix:}")
  "${of[@]}" add-flow lab-tor "priority=300,in_port=$port,actions=mod_vlan_vid:$VLAN,NORMAL" &&
    "${of[@]}" add-flow lab-tor "priority=200,dl_vlan=$VLAN,dl_dst=$mac,actions=strip_vlan,output:$port" &&
    # Broadcasts (ARP, the guests' gratuitous ARPs): an untagged copy for the client, and the
    # usual flooding (which also hands the client a tagged copy its kernel ignores).
    "${of[@]}" add-flow lab-tor "priority=200,dl_vlan=$VLAN,dl_dst=ff:ff:ff:ff:ff:ff,actions=strip_vlan,output:$port,mod_vlan_vid:$VLAN,NORMAL"
}

ask_service() { # one UDP request from the client namespace; the answer (empty after 0.3 s)
  ip netns exec "lab-$CLIENT" sh -c "echo hello | socat -t 0.3 - UDP:$SERVICE_ADDR:$SERVICE_PORT" 2>/dev/null
}
answers_from() { [ "$(ask_service | cut -d' ' -f1)" = "$1" ]; } # NAME

# Builds the lab guest unless it is there and newer than its sources (as lab_e2e_test does).
build_guest() {
  if [ -f "$GUEST_DIR/manifest" ] && [ -f "$GUEST_DIR/initrd.img" ] &&
     ! find "$ROOT/lab/guest" -newer "$GUEST_DIR/manifest" | grep -q .; then
    return 0
  fi
  log "building the lab guest into $GUEST_DIR"
  "$ROOT/lab/guest/build" "$GUEST_DIR" >"$WORK/guest-build.log" 2>&1 || { cat "$WORK/guest-build.log" >&2; return 1; }
}

# --- 1. build, lab, guest --------------------------------------------------------------------

[ "$(id -u)" = 0 ] || die "needs root (the lab, network namespaces)"
case $CLIENT_PORT in access | flows) ;; *) die "CLIENT_PORT=$CLIENT_PORT: expected access or flows" ;; esac
for tool in curl jq socat ss; do command -v $tool >/dev/null || die "$tool is missing"; done

if [ -z "${SKIP_BUILD:-}" ]; then
  log "building corepind, corepin and $BENCH_NAME in $BUILD"
  if ! { [ -f "$BUILD/CMakeCache.txt" ] || cmake -S "$ROOT" -B "$BUILD"; } >"$WORK/build.log" 2>&1 ||
     ! make -C "$BUILD" -j2 "$BENCH_NAME" corepind corepin >>"$WORK/build.log" 2>&1; then
    tail -n 30 "$WORK/build.log" >&2
    die "build failed (log: $WORK/build.log)"
  fi
fi
COREPIND=$BUILD/src/daemon/corepind
BENCH=$BUILD/bench/$BENCH_NAME
for b in "$COREPIND" "$BENCH"; do [ -x "$b" ] || die "$b is missing; build it: make -C $BUILD $BENCH_NAME corepind"; done

[ "$("$LAB" status --json | jq -r .up)" = false ] ||
  die "a lab is already up (someone else's: left alone); run this when it is down ($LAB down)"
LAB_OURS=1  # from here on, a half-up lab is ours to take down
log "lab up $HOSTS"
if ! "$LAB" up "$HOSTS" >"$WORK/lab-up.log" 2>&1; then
  # Someone else's lab came up meanwhile: not ours to take down.
  grep -q -e 'already up' -e 'run: lab down' "$WORK/lab-up.log" && LAB_OURS=0
  cat "$WORK/lab-up.log" >&2
  die "lab up $HOSTS failed"
fi
"$LAB" status --json >"$WORK/lab.json"
STATE_DIR=$(jq -r .state_dir "$WORK/lab.json")
OVSDB=$(jq -r .ovsdb "$WORK/lab.json")
build_guest || die "lab/guest/build failed"
KERNEL=$GUEST_DIR/vmlinux
[ -f "$KERNEL" ] || KERNEL=$GUEST_DIR/vmlinuz

# --- 2. corepind, hosts, group, client -------------------------------------------------------

PORT=$(free_port) || die "no free loopback port"
API=http://127.0.0.1:$PORT
log "corepind on $API, switch ovsdb:$OVSDB"
"$COREPIND" --db "$WORK/corepin.db" --listen "127.0.0.1:$PORT" --switch "ovsdb:$OVSDB" --failures-tolerated 1 \
  "${COREPIND_EXTRA[@]}" >"$WORK/corepind.log" 2>&1 &
COREPIND_PID=$!
wait_until 15 curl -sf -m 1 -o /dev/null "$API/v1/health" || die "corepind did not come up"

for h in $(jq -r '.hosts[].name' "$WORK/lab.json"); do
  uri=$(jq -r --arg h "$h" '.hosts[] | select(.name == $h) | .uri' "$WORK/lab.json")
  bmc=""
  [ "$KIND" = failover ] &&
    bmc=$(jq -r --arg h "$h" '.hosts[] | select(.name == $h) | .bmc | "ipmi://\(.user):\(.password)@\(.address):\(.port)?cipher=3"' "$WORK/lab.json")
  body=$(jq -nc --arg h "$h" --arg uri "$uri" --arg rack "r${h#h}" --arg bmc "$bmc" \
    '{name: $h, uri: $uri, housekeeping: "0", bridge: "lab-\($h)", disable_offload: true, domain_type: "qemu",
      labels: {rack: $rack}, migration_address: "127.0.0.1"} + (if $bmc == "" then {} else {bmc: $bmc} end)')
  api POST /v1/hosts "$body" >/dev/null || die "adding host $h failed"
done

cmdline="console=ttyS0 quiet panic=-1 corepin.name={name} corepin.role={role} corepin.addr=$SERVICE_ADDR/24"
cmdline+=" corepin.port=$SERVICE_PORT corepin.garp_ms=$GARP_MS"
group=$(jq -nc --arg g "$GROUP" --arg kernel "$KERNEL" --arg initrd "$GUEST_DIR/initrd.img" --arg cmdline "$cmdline" \
  --arg mac "$MAC" --argjson vlan "$VLAN" \
  '{name: $g, act: 1, sby: 1, domains: ["rack"], service: {vlan: $vlan},
    vm: {vcpus: 1, memory_mib: 128, image: {kernel: $kernel, initrd: $initrd, cmdline: $cmdline},
         interfaces: [{name: "svc", mac: $mac}]}}')
log "creating group $GROUP (1+1, domains rack, service VLAN $VLAN)"
api POST /v1/groups "$group" >"$WORK/group.json" || die "creating group $GROUP failed"
jq -r '.members[] | "lab_switchover:   \(.vm) \(.role) on \(.host)"' "$WORK/group.json" >&2

if [ "$CLIENT_PORT" = access ]; then
  "$LAB" client add "$CLIENT" "$CLIENT_ADDR" "$VLAN" >/dev/null || die "lab client add failed"
else
  log "client on VLAN $VLAN by OpenFlow rules on lab-tor (CLIENT_PORT=flows)"
  "$LAB" client add "$CLIENT" "$CLIENT_ADDR" >/dev/null || die "lab client add failed"
  client_on_vlan_by_flows || die "adding the client's flows on lab-tor failed"
fi

# Both guests must be serving before the first switchover, or round 1 would time a boot. The
# SBY cannot be asked (its port is parked), so read each guest's console.
for m in $(jq -r '.members[] | "\(.host)/\(.vm)"' "$WORK/group.json"); do
  console=$STATE_DIR/${m%/*}/log/qemu/${m#*/}.console
  wait_until 90 grep -q 'answering UDP' "$console" || die "guest ${m#*/} on ${m%/*} did not start its responder in 90 s ($console)"
done
act=$(jq -r '.members[] | select(.role | ascii_downcase == "act") | .vm' "$WORK/group.json")
log "waiting for $act's answer on $SERVICE_ADDR:$SERVICE_PORT"
wait_until 60 answers_from "$act" ||
  die "no answer from $act within 60 s (last: \"$(ask_service)\")"
log "$act answers: \"$(ask_service)\""

# --- 3. the benchmark ------------------------------------------------------------------------

# In the background so that a signal reaches the trap at once, not after the program ends.
bench_args=()
[ "$KIND" = failover ] && bench_args=(--lab "$LAB" --lab-status "$WORK/lab.json")
[ "$KIND" = move ] && bench_args=(--lab-status "$WORK/lab.json")  # virsh: QEMU's own figures
"$BENCH" --api "$API" --group "$GROUP" --netns "lab-$CLIENT" --target "$SERVICE_ADDR:$SERVICE_PORT" \
  --json "$WORK/result.json" "${bench_args[@]}" "$@" &
BENCH_PID=$!
wait "$BENCH_PID"
rc=$?
BENCH_PID=
case $rc in
  0 | 3) FAILED=0 ;;  # 3: measured, the aim missed; still a complete run
  *) die "$BENCH_NAME failed (exit $rc)" ;;
esac
[ -n "${KEEP_LOGS:-}" ] && log "per-round JSON: $WORK/result.json"
exit "$rc"
