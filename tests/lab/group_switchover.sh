#!/usr/bin/env bash
# In the lab, as a newcomer would do it: three lab hosts (racks r1..r3) added to corepind by
# URI, an ACT/SBY group of the lab guest deployed across two of them with the service on
# VLAN 100 (the third holds the healing reserve), a client on the top-of-rack bridge in
# VLAN 100 sending UDP to the service address. Checks that
#   - the answer comes from the ACT, and only the ACT's port is on VLAN 100 in OVS;
#   - after `corepin group switchover` the answer comes from the former SBY;
#   - a tag changed by hand is put back by corepind at once (it follows the switch), with an event;
#   - each member's vCPU thread is pinned as corepin says (/proc through the host's anchor);
#   - after `group delete` and `lab down` nothing is left.
# Needs root and lab/packages.txt. Exit 77 (skipped) unless COREPIN_LAB=1.
#   tests/lab/group_switchover.sh BUILD_DIR
set -euo pipefail
source "$(dirname "$0")/lib.sh" "$@"
client=cpgrp
extra_cleanup() {
  [ -n "$daemon" ] && "$cli" group delete fw >/dev/null 2>&1
  [ "$lab_ours" = 1 ] && "$lab" client del "$client" >/dev/null 2>&1
}

lab_up 3
"$top/lab/guest/build" "$work/guest" >/dev/null || fail "guest build"
start_corepind --switch "ovsdb:$ovsdb"
add_lab_hosts 3
create_fw_group "52:54:00:c0:7e:10"

# The VM port on the service VLAN (corepin names VM ports cp...; the client's ToR port is lc-...).
act_port() { vsctl --bare --columns=name find port tag=100 | grep '^cp' || true; }

expect_answer fw-a 90
[ "$(act_port | wc -l)" == 1 ] || fail "not exactly one port on VLAN 100: $(act_port)"

# Pinning of each member in /proc, through its host's anchor.
for vm in fw-a fw-b; do
  "$cli" vm show "$vm" --json | jq -e '.pinning_verified == true' >/dev/null || fail "$vm pinning not verified"
done
echo "ok: both members' pinning verified in libvirt and /proc"

"$cli" group switchover fw >/dev/null || fail "switchover"
expect_answer fw-b 10
"$cli" group show fw --json | jq -e '.members[] | select(.vm == "fw-b") | .role == "act"' >/dev/null || fail "fw-b is not ACT"

# By hand: the ACT's port leaves VLAN 100. corepind follows the switch (OVSDB monitor) and
# puts it back at once, with an event that names the port.
p=$(act_port)
vsctl set port "$p" tag=7
for _ in $(seq 50); do [ "$(vsctl get port "$p" tag)" == 100 ] && break; sleep 0.1; done
[ "$(vsctl get port "$p" tag)" == 100 ] || fail "tag not restored on $p"
"$cli" events --json | jq -e --arg p "$p" '[.[] | select(.kind == "reconcile.switch-port-by-hand" and .subject == $p)] | length >= 1' \
  >/dev/null || fail "no event for the hand-changed port $p"
echo "ok: hand-changed tag on $p put back"
expect_answer fw-b 10

"$cli" group delete fw >/dev/null || fail "group delete"
[ -z "$(act_port)" ] || fail "a port is still on VLAN 100 after delete"
"$lab" client del "$client" >/dev/null
finish_lab
echo "PASS: lab group switchover"
