#!/bin/bash
# compare-agents.sh [RUNS]: the measurement behind the fence driver's choice of ipmitool over
# Pacemaker's fence_ipmilan (README.md). Starts its own ipmi_sim on a free loopback port (never
# the lab's), whose chassis_control flips a state file at once, and times, RUNS times each
# (default 9), median and worst in ms:
#   ipmitool status            ipmitool -I lanplus -C 3 ... -E chassis power status
#   ipmitool off+confirm       ... chassis power off, then ... status until it reads off
#   fence_ipmilan status       options on stdin: action=status ip= ipport= username= password=
#                              lanplus=1 cipher=3
#   fence_ipmilan off          action=off, power_wait=0 (the agent confirms with its own status reads)
#   fence_ipmilan off default  action=off with the agent's default power_wait (2 s)
# Needs openipmi, ipmitool and fence-agents (packages.txt). The ipmi_sim stops at the end.
set -euo pipefail
RUNS=${1:-9}
for t in ipmi_sim ipmitool fence_ipmilan python3; do
  command -v "$t" >/dev/null || { echo "missing $t: apt-get install \$(grep -v '^#' src/driver/fence/packages.txt)" >&2; exit 1; }
done
D=$(mktemp -d /tmp/corepin-compare-XXXXXX)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; rm -rf "$D"; }
trap cleanup EXIT
PORT=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
PASS=compare-pw
echo 1 > "$D/power"
cat > "$D/chassis" <<EOF
#!/bin/sh
case "\$1 \$2" in
  "get power") echo "power:\$(cat $D/power)" ;;
  "set power") echo "\$3" > $D/power ;;
  "get "*) echo "\$2:0" ;;
esac
EOF
chmod +x "$D/chassis"
cat > "$D/lan.conf" <<EOF
name "corepin-compare"
set_working_mc 0x20
  startlan 1
    addr 127.0.0.1 $PORT
    priv_limit admin
    allowed_auths_callback none md2 md5 straight
    allowed_auths_user none md2 md5 straight
    allowed_auths_operator none md2 md5 straight
    allowed_auths_admin none md2 md5 straight
    guid c07e1ab0000000000000000000fe0002
  endlan
  chassis_control "$D/chassis"
  user 2 true "admin" "$PASS" admin 10 none md2 md5 straight
EOF
printf 'mc_setbmc 0x20\nmc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02\nmc_enable 0x20\n' > "$D/sim.emu"
mkdir "$D/state"
ipmi_sim -n -p -c "$D/lan.conf" -f "$D/sim.emu" -s "$D/state" </dev/null >"$D/ipmi_sim.out" 2>&1 &
PID=$!

export IPMI_PASSWORD=$PASS
ipmi() { ipmitool -I lanplus -C 3 -H 127.0.0.1 -p "$PORT" -U admin -E -N 1 -R 1 chassis power "$@"; }
for _ in $(seq 50); do ipmi status >/dev/null 2>&1 && break; sleep 0.1; done
ipmi status >/dev/null

agent() { # ACTION [EXTRA-OPTION]
  printf 'action=%s\nip=127.0.0.1\nipport=%s\nusername=admin\npassword=%s\nlanplus=1\ncipher=3\n%s\n' \
    "$1" "$PORT" "$PASS" "${2:-}" | fence_ipmilan 2>/dev/null
}
off_confirm() { ipmi off >/dev/null && until ipmi status | grep -q 'is off'; do :; done; }

now() { date +%s%N; }
measure() { # NAME COMMAND... (power set on before each run)
  local name=$1; shift
  local times=()
  for _ in $(seq "$RUNS"); do
    echo 1 > "$D/power"
    local t0; t0=$(now)
    "$@" >/dev/null || true
    times+=($(( ($(now) - t0) / 1000000 )))
  done
  printf '%-26s median %5d ms  worst %5d ms  (n=%d)\n' "$name" \
    "$(printf '%s\n' "${times[@]}" | sort -n | sed -n "$(( (RUNS + 1) / 2 ))p")" \
    "$(printf '%s\n' "${times[@]}" | sort -n | tail -1)" "$RUNS"
}
measure "ipmitool status" ipmi status
measure "ipmitool off+confirm" off_confirm
measure "fence_ipmilan status" agent status
measure "fence_ipmilan off" agent off power_wait=0
measure "fence_ipmilan off default" agent off
