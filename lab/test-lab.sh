#!/bin/bash
# End-to-end test of the lab (run as root; takes about half a minute):
# two hosts come up and answer over libvirt; the lab guest boots on h1 on h1's
# bridge and answers UDP to a client on the top-of-rack bridge; h1's BMC powers
# h1 off (its libvirtd and QEMU are gone) and on again (libvirtd answers); the lab
# goes down and leaves nothing behind.
#
#   lab/test-lab.sh            (uses COREPIN_LAB_DIR like lab/lab; builds the guest if needed)
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
LABCMD=$HERE/lab
GUEST_DIR=${LAB_GUEST_DIR:-$(cd "$HERE/.." && pwd)/build-lab/guest}
export COREPIN_LAB_DIR=${COREPIN_LAB_DIR:-/var/lib/corepin-lab}
PASS=0 FAIL=0

ok() { PASS=$((PASS + 1)); echo "ok - $*"; }
fail() { FAIL=$((FAIL + 1)); echo "FAIL - $*"; }
check() { local what=$1; shift; if "$@" >/dev/null; then ok "$what"; else fail "$what"; fi; }
ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
finish() {
  echo "$PASS passed, $FAIL failed"
  [ "$FAIL" = 0 ]
}

[ "$(id -u)" = 0 ] || { echo "test-lab: needs root"; exit 1; }
for t in virsh ipmitool ipmi_sim ovs-vsctl socat ethtool gcc cpio; do
  command -v "$t" >/dev/null || { echo "test-lab: missing $t (install lab/packages.txt)"; exit 1; }
done
if [ -e "$COREPIN_LAB_DIR/hosts" ]; then echo "test-lab: a lab is up already; run lab/lab down"; exit 1; fi

if [ ! -f "$GUEST_DIR/initrd.img" ] || [ "$HERE/guest/responder.c" -nt "$GUEST_DIR/initrd.img" ] ||
   [ "$HERE/guest/init" -nt "$GUEST_DIR/initrd.img" ]; then
  "$HERE/guest/build" "$GUEST_DIR" || { echo "test-lab: guest build failed"; exit 1; }
fi

# What the machine looks like before: compared after `lab down`.
snapshot() {
  echo "netns: $(ip netns list 2>/dev/null | awk '{print $1}' | sort | tr '\n' ' ')"
  echo "links: $(ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | sort | tr '\n' ' ')"
  echo "mounts: $(grep -c . /proc/self/mountinfo)"
  echo "lab-mounts: $(grep -c -e corepin-lab -e /run/netns/lab- /proc/self/mountinfo)"
}
BEFORE=$(snapshot)
MAIN_LIBVIRTD=$(cat /run/libvirtd.pid 2>/dev/null)

trap '"$LABCMD" down >/dev/null 2>&1' EXIT

# --- up ---------------------------------------------------------------------
T=$(date +%s%N)
if "$LABCMD" up 2 > /tmp/test-lab-up.$$ 2>&1; then ok "lab up 2 ($(ms_since "$T") ms)"; else
  fail "lab up 2"; cat /tmp/test-lab-up.$$; rm -f /tmp/test-lab-up.$$; finish; exit 1
fi
rm -f /tmp/test-lab-up.$$
STATUS=$("$LABCMD" status --json)
echo "$STATUS" | python3 -m json.tool > /dev/null 2>&1 && ok "status --json is JSON" || fail "status --json is JSON"
"$LABCMD" status

json() { "$LABCMD" status --json | python3 -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))" "$1"; }
for i in 1 2; do
  h=h$i
  uri=$(json "[x for x in d['hosts'] if x['name']=='$h'][0]['uri']")
  puri=$(json "[x for x in d['hosts'] if x['name']=='$h'][0]['proc_uri']")
  check "$h answers capabilities over $uri" \
    bash -c "virsh -c '$uri' capabilities | grep -q '<uuid>c07e0000-1ab0-4000-8000-00000000000$i</uuid>'"
  check "$h answers over its /proc/PID/root URI" virsh -q -c "$puri" version
  check "$h's hostname is $h" test "$(virsh -c "$uri" hostname)" = "$h"
done
if [ -n "$MAIN_LIBVIRTD" ] && [ -d "/proc/$MAIN_LIBVIRTD" ]; then
  check "the machine's own libvirtd still answers" virsh -q -c qemu:///system version
fi

# --- a guest on h1, a client on the ToR -------------------------------------
U1=$("$LABCMD" uri h1)
U2=$("$LABCMD" uri h2)
"$HERE/guest/domain-xml" --guest-dir "$GUEST_DIR" --name vm1 --role ACT --addr 198.18.0.10/24 \
  --bridge lab-h1 --tap h1-vm1 > /tmp/test-lab-vm1.$$.xml
"$LABCMD" client add c1 198.18.0.1/24 >/dev/null
T=$(date +%s%N)
check "vm1 created on h1" virsh -q -c "$U1" create /tmp/test-lab-vm1.$$.xml
rm -f /tmp/test-lab-vm1.$$.xml
ANSWER=
for _ in $(seq 600); do
  ANSWER=$(ip netns exec lab-c1 sh -c 'echo hello | socat -t 0.1 - UDP:198.18.0.10:7777' 2>/dev/null)
  [ -n "$ANSWER" ] && break
done
BOOT_MS=$(ms_since "$T")
check "client on the ToR gets \"vm1 ACT\" from vm1 (first answer $BOOT_MS ms after create)" test "$ANSWER" = "vm1 ACT"
check "seq requests are echoed" test "$(ip netns exec lab-c1 sh -c 'echo seq:7 | socat -t 1 - UDP:198.18.0.10:7777')" = "vm1 ACT seq:7"
check "vm1's tap h1-vm1 is a port of lab-h1" \
  bash -c "ovs-vsctl --db=unix:$COREPIN_LAB_DIR/ovs/run/db.sock port-to-br h1-vm1 | grep -qx lab-h1"

H1_LIBVIRTD=$(json "[x for x in d['hosts'] if x['name']=='h1'][0]['pids']['libvirtd']")
H1_VIRTLOGD=$(json "[x for x in d['hosts'] if x['name']=='h1'][0]['pids']['virtlogd']")
H1_QEMU=$(json "' '.join(map(str, [x for x in d['hosts'] if x['name']=='h1'][0]['pids']['qemu']))")
H2_LIBVIRTD=$(json "[x for x in d['hosts'] if x['name']=='h2'][0]['pids']['libvirtd']")
check "h1 has one QEMU ($H1_QEMU)" test "$(echo "$H1_QEMU" | wc -w)" = 1

# --- the BMC ----------------------------------------------------------------
BMC_PORT=$(json "[x for x in d['hosts'] if x['name']=='h1'][0]['bmc']['port']")
BMC_USER=$(json "[x for x in d['hosts'] if x['name']=='h1'][0]['bmc']['user']")
BMC_PASS=$(json "[x for x in d['hosts'] if x['name']=='h1'][0]['bmc']['password']")
IPMI=(ipmitool -I lanplus -C 3 -H 127.0.0.1 -p "$BMC_PORT" -U "$BMC_USER" -P "$BMC_PASS")
check "h1's BMC says power is on" bash -c "${IPMI[*]} chassis power status | grep -q 'is on'"

gone() { local p; for p in "$@"; do [ -d "/proc/$p" ] && ! grep -q '^State:.*Z' "/proc/$p/status" 2>/dev/null && return 1; done; return 0; }
T=$(date +%s%N)
"${IPMI[@]}" chassis power off >/dev/null
OFF_RETURN_MS=$(ms_since "$T")
for _ in $(seq 500); do gone $H1_LIBVIRTD $H1_VIRTLOGD $H1_QEMU && break; sleep 0.01; done
OFF_GONE_MS=$(ms_since "$T")
check "BMC power off: h1's libvirtd, virtlogd and QEMU are gone ($OFF_GONE_MS ms; ipmitool returned after $OFF_RETURN_MS ms)" \
  gone $H1_LIBVIRTD $H1_VIRTLOGD $H1_QEMU
check "h1's BMC says power is off" bash -c "${IPMI[*]} chassis power status | grep -q 'is off'"
check "h1's libvirt does not answer" bash -c "! virsh -q -c '$U1' version >/dev/null 2>&1"
check "vm1 no longer answers" \
  test -z "$(ip netns exec lab-c1 sh -c 'echo hello | socat -t 0.5 - UDP:198.18.0.10:7777' 2>/dev/null)"
check "h2's libvirtd lives on" bash -c "[ -d /proc/$H2_LIBVIRTD ] && virsh -q -c '$U2' version >/dev/null"

T=$(date +%s%N)
"${IPMI[@]}" chassis power on >/dev/null
for _ in $(seq 300); do virsh -q -c "$U1" version >/dev/null 2>&1 && break; sleep 0.05; done
ON_MS=$(ms_since "$T")
check "BMC power on: h1's libvirtd answers again ($ON_MS ms)" virsh -q -c "$U1" version
check "h1's BMC says power is on again" bash -c "${IPMI[*]} chassis power status | grep -q 'is on'"
check "h1 came back without VMs (a fresh boot)" test -z "$(virsh -q -c "$U1" list --all --name)"

# --- down -------------------------------------------------------------------
ALL_PIDS="$(json "' '.join(str(p) for p in [d['ovsdb_server_pid'], d['ovs_vswitchd_pid']] + [x['bmc']['pid'] for x in d['hosts']] + [v for x in d['hosts'] for k, v in x['pids'].items() if k != 'qemu' and v])") $H1_QEMU"
T=$(date +%s%N)
check "lab down" "$LABCMD" down
echo "# lab down took $(ms_since "$T") ms"
trap - EXIT
check "no lab process is left ($ALL_PIDS)" gone $ALL_PIDS
check "no process in any corepin-lab cgroup" bash -c "! ls -d /sys/fs/cgroup/unified/corepin-lab /sys/fs/cgroup/corepin-lab 2>/dev/null | grep -q ."
AFTER=$(snapshot)
check "netns, links and mounts are as before" test "$BEFORE" = "$AFTER"
[ "$BEFORE" = "$AFTER" ] || diff <(echo "$BEFORE") <(echo "$AFTER")
check "no OVS bridge or socket is left" test ! -e "$COREPIN_LAB_DIR"
if [ -n "$MAIN_LIBVIRTD" ] && [ -d "/proc/$MAIN_LIBVIRTD" ]; then
  check "the machine's own libvirtd still answers" virsh -q -c qemu:///system version
fi
echo "# timings: guest boot (create -> first UDP answer) ${BOOT_MS} ms; BMC power off -> processes gone ${OFF_GONE_MS} ms; BMC power on -> libvirtd answers ${ON_MS} ms"
finish
