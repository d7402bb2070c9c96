# Shared by the lab tests (sourced): skip unless COREPIN_LAB=1, a work dir, a corepind of the
# test's own on a free loopback port, the lab brought up and always taken down.
#   source lib.sh BUILD_DIR;  lab_up N;  start_corepind [corepind options]
# A test may define extra_cleanup() (run first, while corepind still serves). KEEP_WORK=1 keeps
# the work dir (corepind.log, guest consoles) for a look after.
build=$(cd "${1:?usage: $(basename "$0") BUILD_DIR}" && pwd)
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
if [ "${COREPIN_LAB:-}" != 1 ]; then echo "skipped: set COREPIN_LAB=1 to run the lab test"; exit 77; fi
lab="$top/lab/lab"
cli="$build/src/cli/corepin"
work=$(mktemp -d /tmp/corepin-lab-test.XXXXXX)
chmod 755 "$work"  # QEMU (user libvirt-qemu) reads guest kernels from here
port=$((20000 + RANDOM % 20000))
export COREPIN_URL="http://127.0.0.1:$port"
daemon=""
lab_ours=0

fail() { echo "FAIL: $*" >&2; [ -f "$work/corepind.log" ] && tail -20 "$work/corepind.log" >&2; exit 1; }
cleanup() {
  set +e
  declare -F extra_cleanup >/dev/null && extra_cleanup
  [ -n "$daemon" ] && kill "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null
  [ "$lab_ours" = 1 ] && "$lab" down >/dev/null 2>&1
  if [ -n "${KEEP_WORK:-}" ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Brings up N lab hosts (refusing to touch someone else's lab); sets $status (lab status JSON).
lab_up() {
  "$lab" status --json | jq -e '.up' >/dev/null 2>&1 && fail "a lab is already up (not this test's); take it down with lab/lab down"
  lab_ours=1
  "$lab" up "$1" >/dev/null || fail "lab up $1"
  status=$("$lab" status --json)
  ovsdb=$(echo "$status" | jq -r .ovsdb)
}
vsctl() { ovs-vsctl --db="$ovsdb" "$@"; }  # the lab's switch

start_corepind() {
  "$build/src/daemon/corepind" --db "$work/corepin.db" --listen "127.0.0.1:$port" "$@" >>"$work/corepind.log" 2>&1 &
  daemon=$!
  for _ in $(seq 100); do curl -sf "$COREPIN_URL/v1/health" >/dev/null && return 0; sleep 0.1; done
  fail "corepind did not answer on $COREPIN_URL"
}

# Stops corepind and takes the lab down, checking that nothing of it is left.
finish_lab() {
  kill "$daemon"; wait "$daemon" 2>/dev/null || true; daemon=""
  "$lab" down >/dev/null || fail "lab down"
  lab_ours=0
  [ ! -e /run/netns/corepin-lab ] || fail "the lab's network namespace is left behind"
}

# --- The lab guest as a service (tests that deploy the 1+1 group fw and a client set $client) ---

# The BMC of lab host N (1-based): bmc_field N address|port|user|password, and its fence URI.
bmc_field() { echo "$status" | jq -r ".hosts[$(($1 - 1))].bmc.$2"; }
bmc_uri() { echo "ipmi://$(bmc_field "$1" user):$(bmc_field "$1" password)@$(bmc_field "$1" address):$(bmc_field "$1" port)?cipher=3"; }
# Powers lab host N (1-based) off through its BMC, as an operator's ipmitool would.
power_off() {
  ipmitool -I lanplus -C 3 -H "$(bmc_field "$1" address)" -p "$(bmc_field "$1" port)" -U "$(bmc_field "$1" user)" \
    -P "$(bmc_field "$1" password)" chassis power off >/dev/null || fail "power off h$1"
}
# Adds lab hosts h1..hN (racks r1..rN, bridge lab-hN, TCG, live migrations over the lab's
# loopback: its hosts share one network namespace); with "--bmc" after N, each with its BMC.
add_lab_hosts() {
  local bmc=()
  for i in $(seq "$1"); do
    [ "${2:-}" == --bmc ] && bmc=(--bmc "$(bmc_uri "$i")")
    "$cli" host add "h$i" --uri "$(echo "$status" | jq -r ".hosts[$((i - 1))].uri")" --housekeeping 0 --bridge "lab-h$i" \
      --disable-offload --domain-type qemu --label "rack=r$i" --migration-address 127.0.0.1 "${bmc[@]}" >/dev/null ||
      fail "host add h$i"
  done
}
# A lab guest VM spec's image (YAML lines at indent $1), answering as NAME ($2, may be {name}).
guest_image() {
  local pad; pad=$(printf '%*s' "$1" '')
  printf '%simage:\n%s  kernel: %s\n%s  initrd: %s\n%s  cmdline: "console=ttyS0 quiet panic=-1 corepin.name=%s corepin.role={role} corepin.addr=198.18.0.10/24 corepin.port=7777 corepin.garp_ms=50"\n' \
    "$pad" "$pad" "$work/guest/vmlinux" "$pad" "$work/guest/initrd.img" "$pad" "$2"
}
# Creates the 1+1 group fw (fw-a ACT, fw-b SBY, racks apart) serving 198.18.0.10:7777 on VLAN
# 100, MAC $1, vCPU policy $2 (default dedicated), and the client $client on VLAN 100.
create_fw_group() {
  { echo "name: fw"; echo "members: [{name: fw-a, role: act}, {name: fw-b, role: sby}]"; echo "domains: [rack]"
    echo "vm:"; echo "  vcpus: 1"; echo "  policy: ${2:-dedicated}"; echo "  memory_mib: 128"; guest_image 2 '{name}'
    echo "  interfaces: [{name: svc, mac: \"$1\"}]"; echo "service: {vlan: 100}"; } >"$work/fw.yaml"
  "$cli" group create -f "$work/fw.yaml" >/dev/null || fail "group create"
  "$lab" client add "$client" 198.18.0.100/24 100 >/dev/null || fail "client add"
}
# One UDP request from the client; the answer ("NAME ROLE"), or nothing after 0.3 s.
ask() { ip netns exec "lab-$client" sh -c "echo ping | socat -t 0.3 - UDP:198.18.0.10:7777" 2>/dev/null || true; }
# Waits up to $2 seconds for an answer from VM $1.
expect_answer() {
  local deadline=$((SECONDS + $2)) got=""
  while [ $SECONDS -lt $deadline ]; do
    got=$(ask)
    case "$got" in "$1 "*) echo "ok: answer \"$got\""; return 0 ;; esac
    sleep 0.1
  done
  fail "expected an answer from $1, last got \"$got\""
}
events() { "$cli" events --limit 1000 --json; }
# The id of the last event of kind $1 about $2, and the time (unix ms) of the first one.
event_id() { events | jq -r --arg k "$1" --arg s "$2" '[.[] | select(.kind == $k and .subject == $s)] | last | .id // empty'; }
event_ms() { events | jq -r --arg k "$1" --arg s "$2" '[.[] | select(.kind == $k and .subject == $s)] | first | .unix_ms // empty'; }
# How many VM ports carry the service VLAN 100 (one: the ACT's).
service_ports() { vsctl --bare --columns=name find port tag=100 | grep '^cp' | wc -l; }
host_of() { "$cli" vm show "$1" --json | jq -r .host; }
hidx() { echo "${1#h}"; }  # h3 -> 3
uri_of() { echo "$status" | jq -r ".hosts[$(($(hidx "$1") - 1))].uri"; }  # lab host h3's libvirt URI
domains_on() { virsh -c "$(uri_of "$1")" list --all --name | grep -c . || true; }  # how many domains lab host h3 has
# Fails unless VM $1 runs with its pinning verified (libvirt and /proc through the host's namespace).
verified() { "$cli" vm show "$1" --json | jq -e '.pinning_verified == true and .state == "running"' >/dev/null || fail "$1 not running with verified pinning: $("$cli" vm show "$1" --json | jq -c '{state, host, pinning_verified, differences}')"; }
qemu_pid() {  # VM HOST: the QEMU pid of VM on lab host HOST (through the host's anchor)
  local a; a=$(echo "$status" | jq -r ".hosts[$(($(hidx "$2") - 1))].pids.anchor")
  cat "/proc/$a/root/run/libvirt/qemu/$1.pid" 2>/dev/null || true
}
# Waits up to $3 seconds for an event of kind $1 about $2; prints its message.
wait_event() {
  local deadline=$((SECONDS + $3)) m=""
  while [ $SECONDS -lt $deadline ]; do
    m=$(events | jq -r --arg k "$1" --arg s "$2" '[.[] | select(.kind == $k and .subject == $s)] | last | .message // empty')
    [ -n "$m" ] && { echo "$m"; return 0; }
    sleep 0.1
  done
  fail "no $1 event for $2 within $3 s"
}
